/*
 * The handshake (agentd/auth.h) as a stranger drives it: a daemon's
 * connection (conn_pair, the public way in: the acceptor's side or the
 * connector's) or the blocking client (client_attach), over a socketpair
 * whose other end plays the peer with the fuzzed frames.
 *
 * Byte 0, bits 0-1: 0 or 3 acceptor, 1 connector, 2 client. Then records:
 *   u8 type, u8 flags, u16 length (little-endian), length bytes
 * flags bit 0: the bytes go as they are (before the handshake ends only);
 * otherwise they are the meta of a frame of type 1 + type % 8 with the
 * right tag and seq. Bit 1: when the meta is a JSON object, its "proof" is
 * set to the one the other side expects (and "nonce" kept for it), so the
 * fuzzer gets past authentication and on to the session keys. Once the
 * connection is up the frames use them.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agentd/auth.h"
#include "agentd/client.h"
#include "agentd/conn.h"
#include "agentd/frame.h"
#include "agentd/log.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "fuzz.h"

enum fuzz_mode {
	FUZZ_ACCEPTOR,		/* conn waits for our HELLO, then AUTH */
	FUZZ_CONNECTOR,		/* conn sent HELLO, waits for ours */
	FUZZ_CLIENT,		/* client_attach, blocking */
};

static const unsigned char fuzz_key[AUTH_KEY_SIZE] = {
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
	0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};

/* The peer we play. */
struct fuzz_peer {
	enum fuzz_mode	 mode;
	int		 fd;
	struct evbuffer	*in;		/* what the conn sent us */
	struct frame_key rx, tx;
	unsigned char	 ours[AUTH_NONCE_SIZE];		/* our last nonce */
	unsigned char	 theirs[AUTH_NONCE_SIZE];	/* the conn's */
	int		 have_ours, have_theirs;
	int		 up;		/* session keys in use */
	int		 closed;
};

static void
fuzz_conn_frame(struct conn *c, struct frame *f, void *arg)
{
	(void)c;
	(void)arg;
	frame_free(f);
}

static void
fuzz_conn_closed(struct conn *c, const char *why, void *arg)
{
	struct fuzz_peer *p = arg;

	(void)c;
	(void)why;
	p->closed = 1;
}

static const struct conn_ops fuzz_ops = {
	.frame = fuzz_conn_frame,
	.closed = fuzz_conn_closed,
};

/* Reads what the conn sent; keeps the nonce of its HELLO. */
static void
fuzz_peer_read(struct fuzz_peer *p)
{
	unsigned char buf[4096];
	struct frame *f;
	const char *nonce;
	char *cause = NULL;
	ssize_t n;

	while ((n = read(p->fd, buf, sizeof buf)) > 0)
		evbuffer_add(p->in, buf, (size_t)n);
	while (!p->up && frame_read_max(p->in, &p->rx, 0, &f, &cause) == 1) {
		nonce = json_string_value(json_object_get(f->meta, "nonce"));
		if (f->type == FRAME_HELLO && nonce != NULL &&
		    crypto_unhex(nonce, p->theirs, sizeof p->theirs) == 0)
			p->have_theirs = 1;
		frame_free(f);
	}
	free(cause);
	evbuffer_drain(p->in, evbuffer_get_length(p->in));
}

/*
 * The proof the conn expects in meta (conn.c, conn_handshake): from the
 * acceptor, HMAC(K, "agentd-A" Nc Na) in its HELLO; from the connector,
 * HMAC(K, "agentd-C" Na Nc) in AUTH. Our nonce is meta's, if valid.
 */
static void
fuzz_peer_prove(struct fuzz_peer *p, json_t *meta, int type)
{
	unsigned char proof[AUTH_KEY_SIZE];
	char hex[2 * AUTH_KEY_SIZE + 1];
	const char *nonce;

	nonce = json_string_value(json_object_get(meta, "nonce"));
	if (type == FRAME_HELLO && nonce != NULL &&
	    crypto_unhex(nonce, p->ours, sizeof p->ours) == 0)
		p->have_ours = 1;
	if (!p->have_ours || !p->have_theirs)
		return;
	if (p->mode == FUZZ_ACCEPTOR)
		auth_derive(fuzz_key, "agentd-C", p->theirs, p->ours, proof);
	else
		auth_derive(fuzz_key, "agentd-A", p->theirs, p->ours, proof);
	crypto_hex(proof, sizeof proof, hex);
	json_object_set_new(meta, "proof", json_string(hex));
}

/* Switches to the session keys (auth.h): S from connector to acceptor. */
static void
fuzz_peer_up(struct fuzz_peer *p)
{
	unsigned char s[AUTH_KEY_SIZE], r[AUTH_KEY_SIZE];
	const unsigned char *nc, *na;

	nc = p->mode == FUZZ_ACCEPTOR ? p->ours : p->theirs;
	na = p->mode == FUZZ_ACCEPTOR ? p->theirs : p->ours;
	auth_derive(fuzz_key, "agentd-S", nc, na, s);
	auth_derive(fuzz_key, "agentd-R", nc, na, r);
	frame_key_init(&p->tx, p->mode == FUZZ_ACCEPTOR ? s : r);
	frame_key_init(&p->rx, p->mode == FUZZ_ACCEPTOR ? r : s);
	p->up = 1;
}

/* Appends one record's bytes or frame to out. */
static void
fuzz_peer_record(struct fuzz_peer *p, int type, int flags,
    const uint8_t *b, size_t n, struct evbuffer *out)
{
	json_t *meta = NULL;
	char *text = NULL;

	if ((flags & 1) && !p->up) {
		evbuffer_add(out, b, n);
		return;
	}
	type = 1 + type % FRAME_TYPE_MAX;
	if ((flags & 2) && (meta = json_loadb((const char *)b, n, 0,
	    NULL)) != NULL && json_is_object(meta)) {
		fuzz_peer_prove(p, meta, type);
		text = json_dumps(meta, JSON_COMPACT);
	}
	if (text != NULL)
		fuzz_frame_put(out, p->tx.key, type, p->tx.seq, text,
		    strlen(text), NULL, 0);
	else
		fuzz_frame_put(out, p->tx.key, type, p->tx.seq, b, n, NULL, 0);
	p->tx.seq++;
	free(text);
	json_decref(meta);
}

/* Sends out to the conn and lets it run; stops when it closes. */
static void
fuzz_peer_send(struct fuzz_peer *p, struct event_base *base,
    struct conn *c, struct evbuffer *out)
{
	int i;

	if (evbuffer_write(out, p->fd) < 0 && errno != EAGAIN)
		p->closed = 1;
	evbuffer_drain(out, evbuffer_get_length(out));
	for (i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	fuzz_peer_read(p);
	if (!p->up && conn_is_ready(c))
		fuzz_peer_up(p);
}

/* Walks the records; calls send after each when base is not NULL. */
static void
fuzz_records(struct fuzz_peer *p, const uint8_t *data, size_t size,
    struct event_base *base, struct conn *c, struct evbuffer *out)
{
	size_t n;

	while (size >= 4 && !p->closed) {
		n = (size_t)data[2] | (size_t)data[3] << 8;
		if (n > size - 4)
			n = size - 4;
		fuzz_peer_record(p, data[0], data[1], data + 4, n, out);
		data += 4 + n;
		size -= 4 + n;
		if (base != NULL)
			fuzz_peer_send(p, base, c, out);
	}
}

/* A daemon's conn on one end of the socketpair. */
static void
fuzz_conn(struct fuzz_peer *p, int fd, const uint8_t *data, size_t size)
{
	struct event_base *base;
	struct conn_config cfg;
	struct evbuffer *out = evbuffer_new();
	struct conn *c;
	int i;

	if ((base = event_base_new()) == NULL)
		abort();
	memset(&cfg, 0, sizeof cfg);
	cfg.base = base;
	cfg.name = "fuzz";
	cfg.key = fuzz_key;
	cfg.role = CONN_PEER;
	cfg.ops = &fuzz_ops;
	cfg.arg = p;
	c = conn_pair(&cfg, fd, p->mode == FUZZ_CONNECTOR, "fuzz");
	for (i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	fuzz_peer_read(p);
	fuzz_records(p, data, size, base, c, out);
	/* Our end closing is the last thing the conn sees. */
	shutdown(p->fd, SHUT_WR);
	for (i = 0; i < 3 && !p->closed; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	conn_free(c);
	event_base_free(base);
	evbuffer_free(out);
}

/*
 * The blocking client: everything is written before it starts (its
 * nonce is not known then, so no proof can be right), then our end
 * closes, so that it never waits for its timeout.
 */
static void
fuzz_client(struct fuzz_peer *p, int fd, const uint8_t *data, size_t size)
{
	struct evbuffer *out = evbuffer_new();
	struct client *c;
	struct frame *f;
	char *cause = NULL;

	fuzz_records(p, data, size, NULL, NULL, out);
	/* What the socket buffer cannot hold is dropped. */
	while (evbuffer_get_length(out) > 0)
		if (evbuffer_write(out, p->fd) < 0)
			break;
	shutdown(p->fd, SHUT_WR);
	c = client_attach(fd, fuzz_key, "fuzz", "worker", &cause);
	if (c != NULL) {
		/* Only a forged proof gets here. */
		while (client_read_frame(c, 0, &f, &cause) == 1)
			frame_free(f);
		client_free(c);
	}
	/* client_attach closed fd when it failed. */
	free(cause);
	evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct fuzz_peer p;
	int sv[2];

	if (size < 1 || size > 65536)
		return -1;
	if (!once) {
		log_init("fuzz", -1);	/* no log lines at millions a run */
		once = 1;
	}
	memset(&p, 0, sizeof p);
	p.mode = (data[0] & 3) == 3 ? FUZZ_ACCEPTOR :
	    (enum fuzz_mode)(data[0] & 3);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	p.fd = sv[1];
	p.in = evbuffer_new();
	frame_key_init(&p.rx, NULL);
	frame_key_init(&p.tx, NULL);
	/* Never blocks: what does not fit is dropped (the client's case). */
	fcntl(p.fd, F_SETFL, O_NONBLOCK);
	if (p.mode == FUZZ_CLIENT)
		fuzz_client(&p, sv[0], data + 1, size - 1);
	else
		fuzz_conn(&p, sv[0], data + 1, size - 1);
	close(p.fd);
	evbuffer_free(p.in);
	return 0;
}
