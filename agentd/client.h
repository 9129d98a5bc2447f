/*
 * A blocking client of agentd for command-line tools (agentctl, and later
 * nnsim submit and the console): connect, authenticate, send requests and
 * wait for their replies, and read events.
 */
#ifndef AGENTD_CLIENT_H
#define AGENTD_CLIENT_H

#include <stdint.h>

#include <jansson.h>

#define CLIENT_TIMEOUT_MS	10000

struct client;

/*
 * Connects to addr ("127.0.0.1:7070") as a client named name, proving the
 * key in keyfile (NULL: the all-zero key, loopback only). NULL with cause.
 */
struct client	*client_connect(const char *addr, const char *keyfile,
		     const char *name, char **cause);
void		 client_free(struct client *);
/* 1 when the daemon enciphers frames (its --encrypt, in its HELLO). */
int		 client_encrypts(const struct client *);
/*
 * Sends req (an object with "op"; an "id" is added) and waits for its
 * reply, keeping events that arrive meanwhile. Returns the reply (new
 * reference) or NULL with cause; a reply with "ok": false is returned too.
 */
json_t		*client_request(struct client *, json_t *req, char **cause);
/* The same with a raw payload (code, messages). */
json_t		*client_request_payload(struct client *, json_t *req,
		     const void *payload, uint64_t len, char **cause);
/* The same, handing over the reply's payload (caller frees; NULL when
 * empty) when out is not NULL. */
json_t		*client_request_reply(struct client *, json_t *req,
		     const void *payload, uint64_t len, unsigned char **out,
		     uint64_t *out_len, char **cause);
/*
 * 1 when the daemon has closed the connection (it closes a client silent
 * for its --idle-timeout), else 0: a client that sat idle can reconnect
 * before a request rather than wonder whether it ran.
 */
int		 client_closed(struct client *);
/* The next event, waiting up to timeout_ms (-1: forever); NULL on timeout
 * (cause NULL) or error (cause set). */
json_t		*client_event(struct client *, int timeout_ms, char **cause);

/* The first host of the inventory that answers (agentd/hosts.h). */
struct hosts;
struct client	*client_connect_any(struct hosts *, const char *keyfile,
		     const char *name, const char **addr, char **cause);
/*
 * 0 when a reply says "ok": true; else -1 with cause "WHAT: ERROR", the
 * reply's "error" ("refused" when it has none).
 */
int		 client_reply_ok(json_t *reply, const char *what,
		     char **cause);

/* A column of a table of replies' rows, as the command-line tools print. */
enum client_column_kind {
	CLIENT_COLUMN_TEXT,
	CLIENT_COLUMN_TEXT_OR_DASH,	/* "-" when empty */
	CLIENT_COLUMN_INT,
	CLIENT_COLUMN_MB,		/* bytes, shown in MiB */
	CLIENT_COLUMN_LOAD,		/* two decimals */
	CLIENT_COLUMN_PERCENT,		/* a fraction, shown in % */
	CLIENT_COLUMN_YES_NO,		/* a boolean */
};

struct client_column {
	const char		*title;
	const char		*key;		/* in each row */
	int			 width;		/* printf's: < 0 aligns left */
	enum client_column_kind	 kind;
};

/* A title line, then a line per object of the array rows. */
void		 client_print_table(json_t *rows,
		     const struct client_column *, size_t ncols);

/*
 * Runs the connector's handshake on an open socket (a worker's end of its
 * socketpair) with role "worker"; the client then owns fd.
 */
struct client	*client_attach(int fd, const unsigned char *key,
		     const char *name, const char *role, char **cause);
/* Raw frames, for the worker runtime. */
int		 client_send_frame(struct client *, int type, json_t *meta,
		     const void *payload, uint64_t len, char **cause);
/* The same without copying payload; it is sent before this returns. */
int		 client_send_frame_ref(struct client *, int type, json_t *meta,
		     const void *payload, uint64_t len, char **cause);
/* The same with all of payload (an evbuffer, emptied), whose chains may
 * refer to memory elsewhere: sent before this returns. */
struct evbuffer;
int		 client_send_frame_buffer(struct client *, int type,
		     json_t *meta, struct evbuffer *payload, char **cause);
/* 1 and a frame, 0 on timeout (timeout_ms; -1 waits), -1 with cause. */
struct frame;
int		 client_read_frame(struct client *, int timeout_ms,
		     struct frame **, char **cause);

#endif
