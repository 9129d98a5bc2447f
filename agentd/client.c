/* The client end of the handshake, over a blocking socket with poll. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <openssl/crypto.h>

#include "agentd/auth.h"
#include "agentd/client.h"
#include "agentd/frame.h"
#include "agentd/hosts.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/crypto.h"

struct client {
	int		 fd;
	char		 addr[80];
	struct frame_reader *in;
	struct evbuffer	*out;
	struct frame_key rx;
	struct frame_key tx;
	json_int_t	 next_id;
	int		 ready;		/* handshake done: payloads allowed */
	json_t		*events;	/* arrived while waiting for a reply */
};

static int
client_flush(struct client *c, char **cause)
{
	while (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_write(c->out, c->fd) < 0 && errno != EINTR)
			return nn_fail(cause, "%s: %s", c->addr,
			    strerror(errno));
	}
	return 0;
}

static int
client_send(struct client *c, int type, json_t *meta, char **cause)
{
	if (frame_write(c->out, &c->tx, type, meta, NULL, 0, cause) != 0)
		return -1;
	return client_flush(c, cause);
}

#define CLIENT_READ	(4 << 20)

/* One large read into c->in: bytes read, 0 at EOF, -1 on error. */
static int
client_fill(struct client *c)
{
	ssize_t n = frame_reader_fill(c->in, c->fd, CLIENT_READ);

	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}

/* Next frame before the deadline (ms, -1: none); 0 on timeout. */
static int
client_read(struct client *c, long deadline, struct frame **f, char **cause)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	char *why = NULL;
	int r, wait;

	for (;;) {
		/* Before the handshake whoever answers may not make us
		 * allocate a payload: handshake frames have none. */
		if ((r = frame_reader_next(c->in, &c->rx, c->ready ?
		    FRAME_MAX_PAYLOAD : 0, f, &why)) != 0) {
			if (r > 0)
				return 1;
			nn_fail(cause, "%s: %s", c->addr, why);
			free(why);
			return -1;
		}
		/* A deadline already past still polls once, without waiting. */
		wait = deadline < 0 ? -1 : (int)(deadline - (long)clock_ms());
		if (deadline >= 0 && wait < 0)
			wait = 0;
		if ((r = poll(&pfd, 1, wait)) < 0 && errno != EINTR)
			return nn_fail(cause, "%s: poll: %s", c->addr,
			    strerror(errno));
		if (r == 0)
			return 0;
		if (r < 0)
			continue;
		/* Not evbuffer_read: libevent 2.1 reads 4 KiB a call. */
		r = client_fill(c);
		if (r == 0)
			return nn_fail(cause, "%s: the daemon closed the "
			    "connection", c->addr);
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			return nn_fail(cause, "%s: %s", c->addr,
			    strerror(errno));
	}
}

/* The connector's handshake; with_id, the HELLO names the key by its id
 * (without one the daemon takes it for its node key). */
static int
client_handshake(struct client *c, const unsigned char *key, int with_id,
    const char *name, const char *role, char **cause)
{
	unsigned char nc[AUTH_NONCE_SIZE], na[AUTH_NONCE_SIZE], p[32], s[32];
	char hex[65];
	struct frame *f = NULL;
	const char *proof, *nonce, *refused;
	json_t *m;
	int rc = -1, r, enc;

	crypto_random(nc, sizeof nc);
	crypto_hex(nc, sizeof nc, hex);
	m = json_pack("{s:s, s:s, s:s}", "name", name, "role", role,
	    "nonce", hex);
	if (with_id) {
		auth_key_id(key, hex);
		json_object_set_new(m, "key", json_string(hex));
	}
	r = client_send(c, FRAME_HELLO, m, cause);
	json_decref(m);
	if (r != 0)
		goto out;
	r = client_read(c, (long)clock_ms() + CLIENT_TIMEOUT_MS, &f, cause);
	if (r <= 0) {
		if (r == 0)
			nn_fail(cause, "%s: no answer to HELLO", c->addr);
		goto out;
	}
	/* A daemon that will not serve us says why in place of a proof. */
	refused = json_string_value(json_object_get(f->meta, "refused"));
	if (f->type == FRAME_HELLO && refused != NULL) {
		nn_fail(cause, "%s refused us: %s", c->addr, refused);
		goto out;
	}
	nonce = json_string_value(json_object_get(f->meta, "nonce"));
	proof = json_string_value(json_object_get(f->meta, "proof"));
	if (f->type != FRAME_HELLO || nonce == NULL || proof == NULL ||
	    crypto_unhex(nonce, na, sizeof na) != 0 ||
	    crypto_unhex(proof, p, sizeof p) != 0) {
		nn_fail(cause, "%s: bad HELLO from the daemon", c->addr);
		goto out;
	}
	/* The daemon's proof covers its encryption setting: a HELLO whose
	 * "encrypt" was changed on the way fails here. Absent is on. */
	enc = !json_is_false(json_object_get(f->meta, "encrypt"));
	auth_derive(key, auth_proof_label(enc), nc, na, s);
	if (!crypto_equal(p, s, sizeof s)) {
		/* Keyless, we proved with the zero key: the daemon has one.
		 * With a key, a daemon without it refuses us by its id. */
		if (!with_id)
			nn_fail(cause, "%s: this daemon requires a key "
			    "(--key)", c->addr);
		else
			nn_fail(cause, "%s: the daemon does not hold our key "
			    "(authentication failed)", c->addr);
		goto out;
	}
	auth_derive(key, "agentd-C", na, nc, p);
	crypto_hex(p, sizeof p, hex);
	m = json_pack("{s:s}", "proof", hex);
	r = client_send(c, FRAME_AUTH, m, cause);
	json_decref(m);
	if (r != 0)
		goto out;
	auth_derive(key, "agentd-S", nc, na, s);
	frame_key_init(&c->tx, s);
	auth_derive(key, "agentd-R", nc, na, s);
	frame_key_init(&c->rx, s);
	/* Encryption is the cluster's setting: we follow the daemon's. */
	c->tx.encrypt = c->rx.encrypt = enc;
	OPENSSL_cleanse(s, sizeof s);
	c->ready = 1;
	rc = 0;
out:
	frame_free(f);
	return rc;
}

int
client_encrypts(const struct client *c)
{
	return c->tx.encrypt;
}

struct client *
client_connect(const char *addr, const char *keyfile, const char *name,
    char **cause)
{
	static const unsigned char zero[AUTH_KEY_SIZE];
	unsigned char key[AUTH_KEY_SIZE];
	struct sockaddr_storage sa;
	struct client *c;
	socklen_t len;

	if (hosts_parse_addr(addr, &sa, &len, cause) != 0)
		return NULL;
	if (keyfile != NULL && auth_key_load(keyfile, key, cause) != 0)
		return NULL;
	c = xcalloc(1, sizeof *c);
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	c->in = frame_reader_new(0);
	c->out = evbuffer_new();
	c->events = json_array();
	frame_key_init(&c->rx, zero);
	frame_key_init(&c->tx, zero);
	c->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof (int));
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, len) != 0) {
		nn_fail(cause, "%s: cannot connect: %s", addr, strerror(errno));
		goto fail;
	}
	if (client_handshake(c, keyfile != NULL ? key : zero, keyfile != NULL,
	    name, "client", cause) != 0)
		goto fail;
	return c;
fail:
	client_free(c);
	return NULL;
}

/*
 * The first host of the inventory that answers, with its address (borrowed
 * from h) in *addr. NULL with the last host's failure as cause ("none" for
 * an empty inventory) and that host in *addr ("?" for none).
 */
struct client *
client_connect_any(struct hosts *h, const char *keyfile, const char *name,
    const char **addr, char **cause)
{
	struct client *c;
	char *why = NULL;
	int i;

	*addr = "?";
	for (i = 0; i < hosts_count(h); i++) {
		free(why);
		why = NULL;
		*addr = hosts_get(h, i)->address;
		if ((c = client_connect(*addr, keyfile, name, &why)) != NULL)
			return c;
	}
	if (cause != NULL)
		*cause = why != NULL ? why : xstrdup("none");
	else
		free(why);
	return NULL;
}

struct client *
client_attach(int fd, const unsigned char *key, const char *name,
    const char *role, char **cause)
{
	static const unsigned char zero[AUTH_KEY_SIZE];
	struct client *c = xcalloc(1, sizeof *c);

	snprintf(c->addr, sizeof c->addr, "agentd");
	c->fd = fd;
	c->in = frame_reader_new(0);
	c->out = evbuffer_new();
	c->events = json_array();
	/* Handshake frames always use the zero key (frame.h). */
	frame_key_init(&c->rx, zero);
	frame_key_init(&c->tx, zero);
	if (client_handshake(c, key, 0, name, role, cause) != 0) {
		client_free(c);
		return NULL;
	}
	return c;
}

int
client_send_frame(struct client *c, int type, json_t *meta,
    const void *payload, uint64_t len, char **cause)
{
	if (frame_write(c->out, &c->tx, type, meta, payload, len, cause) != 0)
		return -1;
	return client_flush(c, cause);
}

int
client_send_frame_ref(struct client *c, int type, json_t *meta,
    const void *payload, uint64_t len, char **cause)
{
	/* Flushed before returning, so the caller may free payload then. */
	if (frame_write_ref(c->out, &c->tx, type, meta, payload, len, NULL,
	    NULL, cause) != 0)
		return -1;
	return client_flush(c, cause);
}

int
client_send_frame_buffer(struct client *c, int type, json_t *meta,
    struct evbuffer *payload, char **cause)
{
	if (frame_write_buffer(c->out, &c->tx, type, meta, payload,
	    cause) != 0)
		return -1;
	return client_flush(c, cause);
}

int
client_read_frame(struct client *c, int timeout_ms, struct frame **f,
    char **cause)
{
	return client_read(c, timeout_ms < 0 ? -1 :
	    (long)clock_ms() + timeout_ms, f, cause);
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	frame_reader_free(c->in);
	evbuffer_free(c->out);
	json_decref(c->events);
	free(c);
}

json_t *
client_request(struct client *c, json_t *req, char **cause)
{
	return client_request_payload(c, req, NULL, 0, cause);
}

json_t *
client_request_payload(struct client *c, json_t *req, const void *payload,
    uint64_t len, char **cause)
{
	return client_request_reply(c, req, payload, len, NULL, NULL, cause);
}

json_t *
client_request_reply(struct client *c, json_t *req, const void *payload,
    uint64_t len, unsigned char **out, uint64_t *out_len, char **cause)
{
	struct frame *f = NULL;
	json_int_t id = c->next_id++;
	long deadline = (long)clock_ms() + CLIENT_TIMEOUT_MS;
	json_t *reply;
	int r;

	json_object_set_new(req, "id", json_integer(id));
	if (client_send_frame(c, FRAME_REQUEST, req, payload, len, cause) != 0)
		return NULL;
	for (;;) {
		if ((r = client_read(c, deadline, &f, cause)) <= 0) {
			if (r == 0)
				nn_fail(cause, "%s: no reply in %d s", c->addr,
				    CLIENT_TIMEOUT_MS / 1000);
			return NULL;
		}
		if (f->type == FRAME_REPLY && json_integer_value(
		    json_object_get(f->meta, "id")) == id) {
			reply = json_incref(f->meta);
			if (out != NULL) {
				*out = f->payload;
				*out_len = f->payload_len;
				f->payload = NULL;
			}
			frame_free(f);
			return reply;
		}
		if (f->type == FRAME_EVENT)
			json_array_append(c->events, f->meta);
		frame_free(f);
	}
}

int
client_closed(struct client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

json_t *
client_event(struct client *c, int timeout_ms, char **cause)
{
	struct frame *f = NULL;
	long deadline = timeout_ms < 0 ? -1 : (long)clock_ms() + timeout_ms;
	json_t *ev;
	int r;

	*cause = NULL;
	if (json_array_size(c->events) > 0) {
		ev = json_incref(json_array_get(c->events, 0));
		json_array_remove(c->events, 0);
		return ev;
	}
	for (;;) {
		if ((r = client_read(c, deadline, &f, cause)) <= 0)
			return NULL;
		if (f->type == FRAME_EVENT) {
			ev = json_incref(f->meta);
			frame_free(f);
			return ev;
		}
		frame_free(f);
	}
}

int
client_reply_ok(json_t *reply, const char *what, char **cause)
{
	const char *error;

	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	error = json_string_value(json_object_get(reply, "error"));
	return nn_fail(cause, "%s: %s", what, error != NULL ? error :
	    "refused");
}

/* One cell of a table: the row's value of the column's key. */
static void
client_print_cell(json_t *row, const struct client_column *col)
{
	json_t *v = json_object_get(row, col->key);
	const char *s;

	switch (col->kind) {
	case CLIENT_COLUMN_TEXT:
	case CLIENT_COLUMN_TEXT_OR_DASH:
		if ((s = json_string_value(v)) == NULL)
			s = "";
		if (col->kind == CLIENT_COLUMN_TEXT_OR_DASH && s[0] == '\0')
			s = "-";
		printf("%*s", col->width, s);
		break;
	case CLIENT_COLUMN_INT:
		printf("%*lld", col->width, json_integer_value(v));
		break;
	case CLIENT_COLUMN_MB:
		printf("%*lld", col->width, json_integer_value(v) / (1 << 20));
		break;
	case CLIENT_COLUMN_LOAD:
		printf("%*.2f", col->width, json_number_value(v));
		break;
	case CLIENT_COLUMN_PERCENT:
		/* The sign takes the last place of the width. */
		printf("%*.1f%%", col->width - 1, 100 * json_number_value(v));
		break;
	case CLIENT_COLUMN_YES_NO:
		printf("%*s", col->width, json_is_true(v) ? "yes" : "no");
		break;
	}
}

void
client_print_table(json_t *rows, const struct client_column *cols,
    size_t ncols)
{
	json_t *row;
	size_t i, j;

	for (j = 0; j < ncols; j++)
		printf("%s%*s", j > 0 ? " " : "", cols[j].width,
		    cols[j].title);
	putchar('\n');
	json_array_foreach(rows, i, row) {
		for (j = 0; j < ncols; j++) {
			if (j > 0)
				putchar(' ');
			client_print_cell(row, &cols[j]);
		}
		putchar('\n');
	}
}
