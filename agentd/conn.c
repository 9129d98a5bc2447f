/*
 * Connections. A peer gets nothing processed until the handshake is done:
 * before that the only frames accepted are HELLO and AUTH, in order, and a
 * wrong proof closes the connection.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/buffer.h>

#include <openssl/crypto.h>

#include "agentd/auth.h"
#include "agentd/bigbuf.h"
#include "agentd/conn.h"
#include "agentd/log.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/crypto.h"

#define HANDSHAKE_TIMEOUT_S	5
#define CONN_MAX_READ		(4 << 20)
/* Before the handshake a stranger gets reads of this size: HELLO and AUTH
 * fit (FRAME_HANDSHAKE_META). */
#define CONN_HANDSHAKE_READ	FRAME_HANDSHAKE_META
/* Frames handled per turn of the loop: a client that sends thousands of
 * requests at once cannot keep the others waiting for answers. */
#define CONN_TURN_FRAMES	64
/* A streamed payload is produced this much at a time, and kept at most
 * CONN_STREAM_AHEAD ahead of the socket: each piece is MAC'd and sent
 * while it is still in cache. */
#define CONN_STREAM_PIECE	(2 << 20)
#define CONN_STREAM_AHEAD	(6 << 20)

enum conn_state {
	CONN_WAIT_HELLO,	/* acceptor: waiting for the connector's HELLO */
	CONN_WAIT_REPLY,	/* connector: waiting for the acceptor's HELLO */
	CONN_WAIT_AUTH,		/* acceptor: waiting for AUTH */
	CONN_REFUSED,		/* acceptor: said why, waits for the close */
	CONN_READY,
	CONN_CLOSED,
};

/* A frame held back while a streamed one goes out. */
struct conn_later {
	int			 type;
	json_t			*meta;
	struct evbuffer		*payload;	/* NULL: a stream */
	uint64_t		 len;
	struct conn_source	 src;
	struct conn_later	*next;
};

struct conn {
	struct conn_config	 cfg;
	struct bufferevent	*bev;
	struct event		*reader;	/* our own large reads */
	struct frame_reader	*in;		/* what they fill */
	uint64_t		 last_read_ms;	/* bytes last came in */
	uint64_t		 last_write_ms;	/* output last drained */
	uint64_t		 queue_max;	/* output that stops our reading */
	int			 paused;	/* not reading: output is full */
	int			 budget;	/* frames left this turn; 0: any */
	int			 more;		/* whole frames may wait: the turn
						 * ended first */
	struct event		*turn;		/* their next turn */
	int			 connected;	/* TCP is up */
	int			 pair;		/* a socketpair: a worker */
	struct event		*timer;
	enum conn_state		 state;
	enum conn_role		 peer_role;
	const unsigned char	*key;		/* the one its HELLO named */
	enum auth_role		 key_role;
	char			 refusal[192];	/* conn_refuse's, or a why of
						 * our own making; or "" */
	char			 name[64];
	char			 label[96];
	unsigned char		 nonce[AUTH_NONCE_SIZE];	/* ours */
	unsigned char		 their[AUTH_NONCE_SIZE];
	struct frame_key	 rx;
	struct frame_key	 tx;
	int			 depth;		/* inside our callbacks */
	int			 free_pending;
	struct frame_stream	*stream;	/* a frame going out in pieces */
	struct conn_source	 src;		/* its payload */
	struct evbuffer		*piece;
	struct conn_later	*later, **later_tail;
};

/* Lines a stranger can make us write, once a second at most. */
static struct log_rate conn_stranger_rate, conn_refused_rate;

static const char *role_names[] = {
	[CONN_PEER] = "peer",
	[CONN_CLIENT] = "client",
	[CONN_WORKER] = "worker",
};

const char *
conn_role_name(enum conn_role r)
{
	return (size_t)r < sizeof role_names / sizeof role_names[0] ?
	    role_names[r] : "?";
}

static int
role_parse(const char *s, enum conn_role *r)
{
	size_t i;

	for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
		if (strcmp(role_names[i], s) == 0) {
			*r = (enum conn_role)i;
			return 0;
		}
	}
	return -1;
}

static void conn_read_cb(struct bufferevent *, void *);
static void conn_raw_read_cb(evutil_socket_t, short, void *);
static void conn_write_cb(struct bufferevent *, void *);

static void
conn_start_reading(struct conn *c)
{
	if (c->reader != NULL)
		return;
	c->reader = event_new(c->cfg.base, bufferevent_getfd(c->bev),
	    EV_READ | EV_PERSIST, conn_raw_read_cb, c);
	event_add(c->reader, NULL);
}

/* Small frames (a move's replies, go, acks) must not wait for Nagle. */
static void
conn_nodelay(int fd)
{
	int one = 1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
static void conn_event_cb(struct bufferevent *, short, void *);

/* Notes write progress: output drained, or queued where none waited. */
static void
conn_out_cb(struct evbuffer *b, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *c = arg;

	(void)b;
	if (info->n_deleted > 0 || (info->orig_size == 0 && info->n_added > 0))
		c->last_write_ms = clock_ms();
}

static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_close(arg, "handshake timed out");
}

static struct conn *
conn_new(const struct conn_config *cfg, struct bufferevent *bev,
    const char *label)
{
	static const unsigned char zero[FRAME_KEY_SIZE];
	struct conn *c = xcalloc(1, sizeof *c);
	struct timeval tv = { HANDSHAKE_TIMEOUT_S, 0 };

	c->cfg = *cfg;
	c->key = cfg->key;
	c->key_role = AUTH_NODE;
	c->bev = bev;
	c->in = frame_reader_new(1);
	c->connected = 1;
	snprintf(c->label, sizeof c->label, "%s", label);
	frame_key_init(&c->rx, zero);
	frame_key_init(&c->tx, zero);
	crypto_random(c->nonce, sizeof c->nonce);
	c->timer = evtimer_new(cfg->base, conn_timeout_cb, c);
	evtimer_add(c->timer, &tv);
	c->later_tail = &c->later;
	bufferevent_setcb(bev, NULL, conn_write_cb, conn_event_cb, c);
	c->last_write_ms = clock_ms();
	evbuffer_add_cb(bufferevent_get_output(bev), conn_out_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, CONN_STREAM_AHEAD / 2, 0);
	bufferevent_set_max_single_write(bev, CONN_MAX_READ);
	/*
	 * Reads are ours: libevent 2.1 reads at most 4 KiB a call, which
	 * made a 256 MB state tens of thousands of wakeups.
	 */
	bufferevent_enable(bev, EV_WRITE);
	bufferevent_disable(bev, EV_READ);
	if (bufferevent_getfd(bev) >= 0)
		conn_start_reading(c);
	return c;
}

static void
format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else
		snprintf(buf, len, "local");
}

/*
 * Whether frames after the handshake are enciphered: the cluster's
 * setting, except on a worker's socketpair, which never leaves the host.
 */
static int
conn_encrypts(const struct conn *c)
{
	return c->cfg.encrypt && !c->pair;
}

static int
conn_send_hello(struct conn *c, const unsigned char *proof)
{
	char hex[2 * AUTH_NONCE_SIZE + 1];
	json_t *m = json_object();
	int rc;

	json_object_set_new(m, "name", json_string(c->cfg.name));
	json_object_set_new(m, "role",
	    json_string(conn_role_name(c->cfg.role)));
	crypto_hex(c->nonce, sizeof c->nonce, hex);
	json_object_set_new(m, "nonce", json_string(hex));
	/* Clients follow it; a daemon that differs refuses us. */
	json_object_set_new(m, "encrypt", json_boolean(conn_encrypts(c)));
	if (proof != NULL) {
		crypto_hex(proof, AUTH_KEY_SIZE, hex);
		json_object_set_new(m, "proof", json_string(hex));
	} else {
		/* The connector says which key it proves. */
		auth_key_id(c->key, hex);
		json_object_set_new(m, "key", json_string(hex));
	}
	rc = conn_send(c, FRAME_HELLO, m, NULL, 0);
	json_decref(m);
	return rc;
}

struct conn *
conn_accept(const struct conn_config *cfg, int fd, const struct sockaddr *sa,
    socklen_t len)
{
	struct bufferevent *bev;
	struct conn *c;
	char addr[80], label[96];

	(void)len;
	evutil_make_socket_nonblocking(fd);
	conn_nodelay(fd);
	bev = bufferevent_socket_new(cfg->base, fd, BEV_OPT_CLOSE_ON_FREE);
	format_addr(sa, addr, sizeof addr);
	snprintf(label, sizeof label, "connection %s", addr);
	c = conn_new(cfg, bev, label);
	c->state = CONN_WAIT_HELLO;
	return c;
}

struct conn *
conn_connect(const struct conn_config *cfg, const struct sockaddr *sa,
    socklen_t len, char **cause)
{
	struct bufferevent *bev;
	struct conn *c;
	char addr[80], label[96];

	format_addr(sa, addr, sizeof addr);
	bev = bufferevent_socket_new(cfg->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bufferevent_socket_connect(bev, sa, (int)len) != 0) {
		nn_fail(cause, "%s: cannot connect: %s", addr, strerror(errno));
		bufferevent_free(bev);
		return NULL;
	}
	snprintf(label, sizeof label, "%s", addr);
	c = conn_new(cfg, bev, label);
	c->connected = 0;
	conn_start_reading(c);
	c->state = CONN_WAIT_REPLY;
	conn_send_hello(c, NULL);
	return c;
}

struct conn *
conn_pair(const struct conn_config *cfg, int fd, int connector,
    const char *label)
{
	struct bufferevent *bev;
	struct conn *c;

	evutil_make_socket_nonblocking(fd);
	bev = bufferevent_socket_new(cfg->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c = conn_new(cfg, bev, label);
	c->pair = 1;
	if (connector) {
		c->state = CONN_WAIT_REPLY;
		conn_send_hello(c, NULL);
	} else
		c->state = CONN_WAIT_HELLO;
	return c;
}

/* Holds a frame back until the stream before it is out. */
static struct conn_later *
conn_later_add(struct conn *c, int type, json_t *meta)
{
	struct conn_later *l = xcalloc(1, sizeof *l);

	l->type = type;
	l->meta = meta != NULL ? json_deep_copy(meta) : NULL;
	*c->later_tail = l;
	c->later_tail = &l->next;
	return l;
}

static void	conn_free_payload(const void *, size_t, void *);

/* Holds back a frame with a payload: copied, or (owned) referenced and
 * given back to bigbuf_free once sent. */
static void
conn_later_frame(struct conn *c, int type, json_t *meta, const void *payload,
    uint64_t len, int owned)
{
	struct conn_later *l = conn_later_add(c, type, meta);
	int rc = 0;

	l->payload = evbuffer_new();
	if (len == 0) {
		if (owned)
			bigbuf_free((void *)payload);
	} else if (owned)
		rc = evbuffer_add_reference(l->payload, payload, (size_t)len,
		    conn_free_payload, NULL);
	else
		rc = evbuffer_add(l->payload, payload, (size_t)len);
	if (rc != 0)
		fatal("out of memory holding a frame back");
}

int
conn_send(struct conn *c, int type, json_t *meta, const void *payload,
    uint64_t len)
{
	char *cause = NULL;

	if (c->state == CONN_CLOSED)
		return -1;
	if (c->stream != NULL) {
		conn_later_frame(c, type, meta, payload, len, 0);
		return 0;
	}
	if (frame_write(bufferevent_get_output(c->bev), &c->tx, type, meta,
	    payload, len, &cause) != 0) {
		log_error("%s: cannot send: %s", c->label, cause);
		free(cause);
		return -1;
	}
	return 0;
}

static void
conn_free_payload(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	bigbuf_free((void *)data);
}

int
conn_send_owned(struct conn *c, int type, json_t *meta, void *payload,
    uint64_t len)
{
	char *cause = NULL;

	if (c->state == CONN_CLOSED) {
		bigbuf_free(payload);
		return -1;
	}
	if (c->stream != NULL) {
		conn_later_frame(c, type, meta, payload, len, 1);
		return 0;
	}
	if (frame_write_ref(bufferevent_get_output(c->bev), &c->tx, type, meta,
	    payload, len, conn_free_payload, NULL, &cause) != 0) {
		log_error("%s: cannot send: %s", c->label, cause);
		free(cause);
		bigbuf_free(payload);
		return -1;
	}
	return 0;
}

static void	conn_pump(struct conn *);
static void	conn_release(struct conn *);

/* Starts a streamed frame now; -1 (the source ended) if it is refused. */
static int
conn_stream_start(struct conn *c, int type, json_t *meta, uint64_t len,
    const struct conn_source *src)
{
	char *cause = NULL;

	c->stream = frame_stream_begin(bufferevent_get_output(c->bev),
	    &c->tx, type, meta, len, &cause);
	if (c->stream == NULL) {
		log_error("%s: cannot send: %s", c->label, cause);
		free(cause);
		src->end(src->arg, 0);
		return -1;
	}
	c->src = *src;
	if (c->piece == NULL)
		c->piece = evbuffer_new();
	return 0;
}

/* Sends what was held back, up to the next stream, which starts. */
static void
conn_flush_later(struct conn *c)
{
	struct conn_later *l;
	char *cause = NULL;

	while (c->stream == NULL && (l = c->later) != NULL) {
		if ((c->later = l->next) == NULL)
			c->later_tail = &c->later;
		if (l->payload == NULL)
			conn_stream_start(c, l->type, l->meta, l->len, &l->src);
		else if (frame_write_buffer(bufferevent_get_output(c->bev),
		    &c->tx, l->type, l->meta, l->payload, &cause) != 0) {
			log_error("%s: cannot send: %s", c->label, cause);
			free(cause);
			cause = NULL;
		}
		if (l->payload != NULL)
			evbuffer_free(l->payload);
		json_decref(l->meta);
		free(l);
	}
}

/* Ends the stream and everything held back: the connection is going. */
static void
conn_drop_out(struct conn *c)
{
	struct conn_later *l;

	if (c->stream != NULL) {
		frame_stream_free(c->stream);
		c->stream = NULL;
		c->src.end(c->src.arg, 0);
	}
	while ((l = c->later) != NULL) {
		c->later = l->next;
		if (l->payload == NULL)
			l->src.end(l->src.arg, 0);
		else
			evbuffer_free(l->payload);
		json_decref(l->meta);
		free(l);
	}
	c->later_tail = &c->later;
	if (c->piece != NULL)
		evbuffer_drain(c->piece, evbuffer_get_length(c->piece));
}

int
conn_send_stream(struct conn *c, int type, json_t *meta, uint64_t len,
    const struct conn_source *src)
{
	struct conn_later *l;

	if (c->state == CONN_CLOSED) {
		src->end(src->arg, 0);
		return -1;
	}
	if (c->stream != NULL) {
		l = conn_later_add(c, type, meta);
		l->len = len;
		l->src = *src;
		return 0;
	}
	if (conn_stream_start(c, type, meta, len, src) != 0)
		return -1;
	c->depth++;
	conn_pump(c);
	c->depth--;
	if (c->free_pending && c->depth == 0) {
		conn_release(c);
		return -1;
	}
	return 0;
}

/*
 * Adds pieces of the streamed payload while the socket has little queued.
 * A source that fails cuts the frame short: the connection closes.
 */
static void
conn_pump(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint64_t left;
	int64_t n;
	char *cause = NULL;

	while (c->stream != NULL && c->state != CONN_CLOSED &&
	    evbuffer_get_length(out) < CONN_STREAM_AHEAD) {
		left = frame_stream_left(c->stream);
		if (left > CONN_STREAM_PIECE)
			left = CONN_STREAM_PIECE;
		n = c->src.next(c->src.arg, c->piece, (size_t)left, c->stream,
		    &cause);
		if (n > 0 && ((uint64_t)n > left ||
		    evbuffer_get_length(c->piece) != (size_t)n))
			fatal("conn: a stream source gave %lld bytes, not %zu",
			    (long long)n, evbuffer_get_length(c->piece));
		if (n <= 0) {
			log_error("%s: %s; the frame being sent cannot be "
			    "finished, closing", c->label, cause != NULL ?
			    cause : "its source ended early");
			conn_close(c, cause != NULL ? cause :
			    "a stream's source ended early");
			free(cause);
			return;
		}
		if (frame_stream_put(c->stream, out, c->piece) != 0)
			fatal("conn: a stream source MAC'd other bytes than "
			    "it gave");
		if (frame_stream_left(c->stream) == 0) {
			frame_stream_free(c->stream);
			c->stream = NULL;
			c->src.end(c->src.arg, 1);
			conn_flush_later(c);
		}
	}
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->paused && c->state != CONN_CLOSED && conn_queued(c) <=
	    c->queue_max / 2) {
		/* Its replies are going: its requests may come again. */
		c->paused = 0;
		if (c->reader != NULL)
			event_add(c->reader, NULL);
		c->depth++;
		conn_read_cb(c->bev, c);
		c->depth--;
	}
	if (c->stream == NULL || c->state == CONN_CLOSED) {
		if (c->free_pending && c->depth == 0)
			conn_release(c);
		return;
	}
	c->depth++;
	conn_pump(c);
	c->depth--;
	if (c->free_pending && c->depth == 0)
		conn_release(c);
}

static void
conn_release(struct conn *c)
{
	conn_drop_out(c);
	if (c->piece != NULL)
		evbuffer_free(c->piece);
	if (c->reader != NULL)
		event_free(c->reader);
	frame_reader_free(c->in);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->turn != NULL)
		event_free(c->turn);
	if (c->bev != NULL) {
		/* The buffer may outlive us inside libevent. */
		evbuffer_remove_cb(bufferevent_get_output(c->bev), conn_out_cb,
		    c);
		bufferevent_free(c->bev);
	}
	free(c);
}

void
conn_close(struct conn *c, const char *why)
{
	if (c->state == CONN_CLOSED)
		return;
	/* A peer that hangs up mid-handshake usually lacks our key; one
	 * we never reached is just down. A worker that does has died, which
	 * its exit status tells. */
	if (!c->connected)
		log_debug("%s: cannot connect: %s", c->label, why);
	else if (c->state == CONN_REFUSED || c->refusal[0] != '\0')
		log_debug("%s: refused: %s", c->label, why);
	else if (c->state != CONN_READY && c->pair)
		log_debug("%s: closed during the handshake: %s", c->label,
		    why);
	else if (c->state != CONN_READY)
		log_rated(&conn_stranger_rate, LOG_WARN, "%s: authentication "
		    "failed: %s during the handshake (does it hold the "
		    "cluster key?)", c->label, why);
	c->state = CONN_CLOSED;
	conn_drop_out(c);
	evtimer_del(c->timer);
	if (c->turn != NULL)
		evtimer_del(c->turn);
	if (c->reader != NULL)
		event_del(c->reader);
	bufferevent_disable(c->bev, EV_READ);
	c->depth++;
	if (c->cfg.ops->closed != NULL)
		c->cfg.ops->closed(c, why, c->cfg.arg);
	c->depth--;
	if (c->free_pending && c->depth == 0)
		conn_release(c);
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->depth > 0) {
		c->free_pending = 1;
		return;
	}
	conn_release(c);
}

/* Reads the HELLO fields every HELLO has. */
static int
hello_fields(struct conn *c, json_t *m, const char **why)
{
	const char *name, *role, *nonce;

	name = json_string_value(json_object_get(m, "name"));
	role = json_string_value(json_object_get(m, "role"));
	nonce = json_string_value(json_object_get(m, "nonce"));
	if (name == NULL || role == NULL || nonce == NULL) {
		*why = "HELLO needs string name, role and nonce";
		return -1;
	}
	if (strlen(name) < 1 || strlen(name) >= sizeof c->name) {
		*why = "HELLO name must be 1 to 63 bytes";
		return -1;
	}
	if (role_parse(role, &c->peer_role) != 0) {
		*why = "HELLO role must be peer, client or worker";
		return -1;
	}
	if (crypto_unhex(nonce, c->their, sizeof c->their) != 0) {
		*why = "HELLO nonce must be 64 hex digits";
		return -1;
	}
	/* Only daemons say it (clients follow ours): they must agree. */
	if (json_is_boolean(json_object_get(m, "encrypt")) &&
	    json_is_true(json_object_get(m, "encrypt")) != conn_encrypts(c)) {
		snprintf(c->refusal, sizeof c->refusal, "peer %s: frame "
		    "encryption is %s there and %s here (agentd --encrypt "
		    "must be the same on every daemon)", name,
		    conn_encrypts(c) ? "off" : "on",
		    conn_encrypts(c) ? "on" : "off");
		*why = c->refusal;
		return -1;
	}
	snprintf(c->name, sizeof c->name, "%s", name);
	return 0;
}

static int
proof_matches(json_t *m, const unsigned char *expected)
{
	unsigned char got[AUTH_KEY_SIZE];
	const char *s = json_string_value(json_object_get(m, "proof"));

	return s != NULL && crypto_unhex(s, got, sizeof got) == 0 &&
	    crypto_equal(got, expected, sizeof got);
}

static void
conn_established(struct conn *c, const unsigned char *nc,
    const unsigned char *na)
{
	unsigned char s[AUTH_KEY_SIZE], r[AUTH_KEY_SIZE];

	/* S keys connector-to-acceptor frames, R the other way. */
	auth_derive(c->key, "agentd-S", nc, na, s);
	auth_derive(c->key, "agentd-R", nc, na, r);
	frame_key_init(&c->rx, c->state == CONN_WAIT_REPLY ? r : s);
	frame_key_init(&c->tx, c->state == CONN_WAIT_REPLY ? s : r);
	c->rx.encrypt = c->tx.encrypt = conn_encrypts(c);
	OPENSSL_cleanse(s, sizeof s);
	OPENSSL_cleanse(r, sizeof r);
	c->state = CONN_READY;
	evtimer_del(c->timer);
	/* A client key's holder is named as such in every line about it. */
	snprintf(c->label + strlen(c->label), sizeof c->label -
	    strlen(c->label), " (%s %s%s%s)", conn_role_name(c->peer_role),
	    c->name, c->key_role != AUTH_NODE ? ", key " : "",
	    c->key_role != AUTH_NODE ? auth_role_name(c->key_role) : "");
	if (c->cfg.ops->ready != NULL)
		c->cfg.ops->ready(c, c->cfg.arg);
}

void
conn_refuse(struct conn *c, const char *why)
{
	snprintf(c->refusal, sizeof c->refusal, "%s", why);
}

/*
 * Answers a HELLO with why instead of a proof. The connection stays until
 * the client, having read it, closes (or the handshake times out): closed
 * at once with its HELLO unread, it would be reset and the answer lost.
 */
static void
conn_send_refusal(struct conn *c, const char *why)
{
	json_t *m;

	if (why != c->refusal)
		snprintf(c->refusal, sizeof c->refusal, "%s", why);
	m = json_pack("{s:s, s:s, s:s}", "name", c->cfg.name, "role",
	    conn_role_name(c->cfg.role), "refused", c->refusal);
	conn_send(c, FRAME_HELLO, m, NULL, 0);
	json_decref(m);
	c->state = CONN_REFUSED;
}

/*
 * The key a connector's HELLO names (none: the node key). -1 with why when
 * we hold none with that id, or a client key's holder says it is a daemon
 * or a worker: those are the node key's.
 */
static int
conn_pick_key(struct conn *c, json_t *m, const char **why)
{
	json_t *v = json_object_get(m, "key");
	const char *id = json_string_value(v);
	char node[AUTH_KEY_ID_LEN + 1];
	size_t i;

	if (v == NULL)
		return 0;
	if (id == NULL) {
		*why = "HELLO key must be a key id";
		return -1;
	}
	auth_key_id(c->cfg.key, node);
	if (strcmp(id, node) == 0)
		return 0;
	for (i = 0; i < c->cfg.nclient_keys; i++) {
		if (strcmp(id, c->cfg.client_keys[i].id) != 0)
			continue;
		if (c->peer_role != CONN_CLIENT) {
			*why = "a client key cannot be a daemon's key (only "
			    "the node key, --key, joins the cluster)";
			return -1;
		}
		c->key = c->cfg.client_keys[i].key;
		c->key_role = c->cfg.client_keys[i].role;
		return 0;
	}
	/* A keyless daemon's node key is all zeros (no key was loaded). */
	for (i = 0; i < AUTH_KEY_SIZE && c->cfg.key[i] == 0; i++)
		;
	if (i == AUTH_KEY_SIZE)
		*why = "this daemon runs without a key (drop --key, or start "
		    "it with --key)";
	else
		*why = "authentication failed: this daemon holds no key with "
		    "that id (wrong --key?)";
	return -1;
}

/* One handshake frame; returns -1 with why to close. */
static int
conn_handshake(struct conn *c, struct frame *f, const char **why)
{
	unsigned char proof[AUTH_KEY_SIZE];
	char hex[2 * AUTH_KEY_SIZE + 1];
	json_t *m;

	switch (c->state) {
	case CONN_WAIT_HELLO:
		if (f->type != FRAME_HELLO || hello_fields(c, f->meta,
		    why) != 0) {
			if (f->type != FRAME_HELLO)
				*why = "expected HELLO";
			return -1;
		}
		if (c->refusal[0] != '\0') {
			conn_send_refusal(c, c->refusal);
			return 0;
		}
		if (conn_pick_key(c, f->meta, why) != 0) {
			log_warn("%s: %s; refused", c->label, *why);
			conn_send_refusal(c, *why);
			return 0;
		}
		auth_derive(c->key, auth_proof_label(conn_encrypts(c)),
		    c->their, c->nonce, proof);
		conn_send_hello(c, proof);
		c->state = CONN_WAIT_AUTH;
		return 0;
	case CONN_WAIT_REPLY:
		if (f->type == FRAME_HELLO && json_is_string(json_object_get(
		    f->meta, "refused"))) {
			snprintf(c->refusal, sizeof c->refusal, "refused us: "
			    "%s", json_string_value(json_object_get(f->meta,
			    "refused")));
			*why = c->refusal;
			return -1;
		}
		if (f->type != FRAME_HELLO || hello_fields(c, f->meta,
		    why) != 0) {
			if (f->type != FRAME_HELLO)
				*why = "expected HELLO";
			return -1;
		}
		/* Ours, not the flag it sent: a peer differing is refused. */
		auth_derive(c->key, auth_proof_label(conn_encrypts(c)),
		    c->nonce, c->their, proof);
		if (!proof_matches(f->meta, proof)) {
			*why = "authentication failed (wrong key?)";
			return -1;
		}
		auth_derive(c->key, "agentd-C", c->their, c->nonce, proof);
		crypto_hex(proof, sizeof proof, hex);
		m = json_pack("{s:s}", "proof", hex);
		conn_send(c, FRAME_AUTH, m, NULL, 0);
		json_decref(m);
		conn_established(c, c->nonce, c->their);
		return 0;
	case CONN_WAIT_AUTH:
		if (f->type != FRAME_AUTH) {
			*why = "expected AUTH";
			return -1;
		}
		auth_derive(c->key, "agentd-C", c->nonce, c->their, proof);
		if (!proof_matches(f->meta, proof)) {
			*why = "authentication failed (wrong key?)";
			return -1;
		}
		conn_established(c, c->their, c->nonce);
		return 0;
	default:
		*why = "unexpected frame";
		return -1;
	}
}

/* Tells the owner that a large frame has begun (conn_ops.arriving). */
static void
conn_announce(struct conn *c)
{
	const char *text;
	void *payload;
	uint64_t len;
	json_t *meta;
	int type;

	if (c->cfg.ops->arriving == NULL || c->state != CONN_READY ||
	    !frame_reader_started(c->in, &type, &text, &payload, &len))
		return;
	if ((meta = json_loads(text, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return;
	if (json_is_object(meta))
		c->cfg.ops->arriving(c, type, meta, payload, len, c->cfg.arg);
	json_decref(meta);
}

static void
conn_turn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	conn_raw_read_cb(bufferevent_getfd(c->bev), EV_READ, c);
}

/*
 * The frames left in c->in wait for the next turn of the loop, after the
 * other connections: a timer, as an event made active now would run
 * again before the loop polls the others.
 */
static void
conn_next_turn(struct conn *c)
{
	static const struct timeval now = { 0, 0 };

	c->more = 1;
	if (c->turn == NULL)
		c->turn = evtimer_new(c->cfg.base, conn_turn_cb, c);
	evtimer_add(c->turn, &now);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	struct frame *f;
	const char *why = NULL;
	char *cause = NULL;
	int r;

	c->depth++;
	while (c->state != CONN_CLOSED) {
		/* Replies it does not read stop us reading its requests. */
		if (c->queue_max > 0 && conn_queued(c) > c->queue_max) {
			if (!c->paused && c->reader != NULL)
				event_del(c->reader);
			c->paused = 1;
			break;
		}
		/* Before AUTH a stranger may not make us buffer a payload. */
		r = frame_reader_next(c->in, &c->rx,
		    c->state == CONN_READY ? FRAME_MAX_PAYLOAD : 0, &f, &cause);
		if (r == 0) {
			c->more = 0;
			conn_announce(c);
			break;
		}
		if (r < 0) {
			if (c->state == CONN_READY)
				log_warn("%s: %s; closing", c->label, cause);
			else
				log_rated(&conn_refused_rate, LOG_WARN,
				    "%s: %s; closing", c->label, cause);
			conn_close(c, cause);
			break;
		}
		if (c->state != CONN_READY) {
			if (conn_handshake(c, f, &why) != 0) {
				log_rated(&conn_refused_rate, LOG_WARN,
				    "%s: %s; closing", c->label, why);
				conn_close(c, why);
			}
			frame_free(f);
			continue;
		}
		c->cfg.ops->frame(c, f, c->cfg.arg);
		if (c->budget > 0 && --c->budget == 0) {
			conn_next_turn(c);
			break;
		}
	}
	free(cause);
	c->depth--;
	if (c->free_pending && c->depth == 0)
		conn_release(c);
}

/*
 * Up to max_rounds large reads into c->in. *why is set at the end of the
 * stream (or an error); stops early when the socket has nothing more.
 */
static size_t
conn_fill(struct conn *c, int fd, int max_rounds, const char **why)
{
	size_t total = 0;
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < max_rounds; rounds++) {
		n = frame_reader_fill(c->in, fd, c->state == CONN_READY ?
		    CONN_MAX_READ : CONN_HANDSHAKE_READ);
		if (n <= 0) {
			if (n == 0)
				*why = "connection closed";
			else if (errno != EAGAIN && errno != EINTR)
				*why = strerror(errno);
			break;
		}
		/* Reads are sized by what is coming (frame.h): a short one
		 * does not mean the socket is empty. */
		total += (size_t)n;
	}
	if (total > 0)
		c->last_read_ms = clock_ms();
	return total;
}

static void
conn_raw_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	const char *why = NULL;
	size_t n;
	int rounds;

	(void)what;
	/* A few large reads, each followed by the frames it completed: a
	 * large payload's header is seen early, and the rest of it read
	 * straight into its buffer. */
	c->depth++;
	for (rounds = 0; rounds < 16 && why == NULL &&
	    c->state != CONN_CLOSED && !c->paused; rounds++) {
		/* Nothing more is read while frames read already wait. */
		n = c->more ? 0 : conn_fill(c, fd, 1, &why);
		c->budget = CONN_TURN_FRAMES;
		conn_read_cb(c->bev, c);
		c->budget = 0;
		if (c->more || n < CONN_MAX_READ)
			break;
	}
	if (why != NULL && c->state != CONN_CLOSED)
		conn_close(c, why);
	c->depth--;
	if (c->free_pending && c->depth == 0)
		conn_release(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->connected = 1;
		conn_nodelay(bufferevent_getfd(bev));
		return;
	}
	c->depth++;
	/* A write that failed because the peer is gone (a worker that
	 * exited with a message on its way) must not lose what the peer
	 * sent before: its last frames say how it ended. */
	if (c->state == CONN_READY && bufferevent_getfd(bev) >= 0) {
		const char *why = NULL;
		int err = EVUTIL_SOCKET_ERROR(), rounds;

		for (rounds = 0; rounds < 64 && why == NULL &&
		    c->state != CONN_CLOSED; rounds++) {
			uint64_t had = frame_reader_pending(c->in);

			conn_fill(c, bufferevent_getfd(bev), 16, &why);
			if (frame_reader_pending(c->in) == had)
				break;
			conn_read_cb(bev, c);
		}
		EVUTIL_SET_SOCKET_ERROR(err);
	}
	if (what & BEV_EVENT_EOF)
		conn_close(c, "connection closed");
	else if (what & BEV_EVENT_ERROR)
		conn_close(c, strerror(EVUTIL_SOCKET_ERROR()));
	c->depth--;
	if (c->free_pending && c->depth == 0)
		conn_release(c);
}

uint64_t
conn_last_read_ms(const struct conn *c)
{
	return c->last_read_ms;
}

uint64_t
conn_last_write_ms(const struct conn *c)
{
	return c->last_write_ms;
}

uint64_t
conn_queued(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
conn_set_trusted(struct conn *c, int trusted)
{
	frame_reader_trust(c->in, trusted);
}

void
conn_set_queue_max(struct conn *c, uint64_t max)
{
	c->queue_max = max;
}

int
conn_is_ready(const struct conn *c)
{
	return c->state == CONN_READY;
}

const char *
conn_name(const struct conn *c)
{
	return c->name;
}

enum conn_role
conn_peer_role(const struct conn *c)
{
	return c->peer_role;
}

enum auth_role
conn_key_role(const struct conn *c)
{
	return c->key_role;
}

const char *
conn_label(const struct conn *c)
{
	return c->label;
}

void
conn_set_label(struct conn *c, const char *label)
{
	snprintf(c->label, sizeof c->label, "%s", label);
}

void
conn_set_arg(struct conn *c, void *arg)
{
	c->cfg.arg = arg;
}
