/*
 * One authenticated connection: a bufferevent, the handshake of auth.h, and
 * frames in and out. Whoever owns the connection gets each frame after the
 * handshake and one close callback.
 */
#ifndef AGENTD_CONN_H
#define AGENTD_CONN_H

#include <sys/socket.h>

#include <event2/event.h>
#include <jansson.h>

#include "agentd/auth.h"
#include "agentd/frame.h"

enum conn_role {
	CONN_PEER,	/* another daemon */
	CONN_CLIENT,	/* nnsim, the console, agentctl */
	CONN_WORKER,	/* an agent's worker process */
};

struct conn;

struct conn_ops {
	/* A frame after the handshake; the callee owns f. */
	void	(*frame)(struct conn *, struct frame *f, void *arg);
	/* The handshake completed. */
	void	(*ready)(struct conn *, void *arg);
	/*
	 * Optional: a large frame has begun, its payload still arriving
	 * into payload (len bytes; the frame will own it). Nothing in meta
	 * (borrowed) has been checked yet: a hint to get ready, no more.
	 */
	void	(*arriving)(struct conn *, int type, json_t *meta,
		    void *payload, uint64_t len, void *arg);
	/* The connection is gone; why says what happened (borrowed). */
	void	(*closed)(struct conn *, const char *why, void *arg);
};

struct conn_config {
	struct event_base	*base;
	const char		*name;		/* ours, sent in HELLO */
	const unsigned char	*key;		/* AUTH_KEY_SIZE bytes */
	/* An acceptor's client keys, which a HELLO may name instead. */
	const struct auth_key	*client_keys;
	size_t			 nclient_keys;
	enum conn_role		 role;		/* ours, sent in HELLO */
	int			 encrypt;	/* frames enciphered (HELLO) */
	const struct conn_ops	*ops;
	void			*arg;
};

/* Wraps an accepted socket; the peer speaks first. */
struct conn	*conn_accept(const struct conn_config *, int fd,
		     const struct sockaddr *, socklen_t);
/* Connects to sa and starts the handshake. NULL with cause on failure. */
struct conn	*conn_connect(const struct conn_config *,
		     const struct sockaddr *, socklen_t, char **cause);
/* Wraps one end of a socketpair; connector says who speaks first. */
struct conn	*conn_pair(const struct conn_config *, int fd, int connector,
		     const char *label);
/* Sends a frame; meta is borrowed. Returns 0 or -1 (connection closing). */
int		 conn_send(struct conn *, int type, json_t *meta,
		     const void *payload, uint64_t len);
/*
 * conn_send that takes payload (malloc'd) and frees it once sent, without
 * copying it: for agent states of hundreds of megabytes.
 */
int		 conn_send_owned(struct conn *, int type, json_t *meta,
		     void *payload, uint64_t len);
/*
 * Where a streamed payload's bytes come from (conn_send_stream). next
 * appends the next bytes, at most max and at least 1, to out, by copy or
 * by reference, feeds the same bytes in order to frame_stream_mac(mac,
 * ...), and returns how many, or -1 with cause. end is called once, ok 1
 * when every byte was taken, 0 when the connection went first; the conn
 * calls neither after it. What out refers to must stay unchanged until it
 * has been sent.
 */
struct conn_source {
	int64_t	(*next)(void *arg, struct evbuffer *out, size_t max,
		    struct frame_stream *mac, char **cause);
	void	(*end)(void *arg, int ok);
	void	 *arg;
};
/*
 * Sends a frame of len payload bytes taken from src piece by piece as the
 * socket drains, each MAC'd while it is in cache, so that reading a large
 * state, its MAC and its transfer overlap. Frames sent meanwhile wait
 * behind it. A source that fails closes the connection: the frame cannot
 * be finished. Returns 0, or -1 (src ended) when the connection is closed.
 */
int		 conn_send_stream(struct conn *, int type, json_t *meta,
		     uint64_t len, const struct conn_source *src);
/*
 * An accepted connection that will not be served: its HELLO is answered
 * with why (copied), which the client shows, and nothing else is taken.
 */
void		 conn_refuse(struct conn *, const char *why);
/* Closes now; calls the closed callback once with why. */
void		 conn_close(struct conn *, const char *why);
/* Frees a closed connection; call from outside its own callbacks. */
void		 conn_free(struct conn *);

int		 conn_is_ready(const struct conn *);
/* When bytes last came in (CLOCK_MONOTONIC ms), part of a frame or not;
 * 0 before any. */
uint64_t	 conn_last_read_ms(const struct conn *);
/* When its output last drained, or was queued where none waited (ms). */
uint64_t	 conn_last_write_ms(const struct conn *);
/* Bytes queued for it and not yet written to the socket. */
uint64_t	 conn_queued(const struct conn *);
/*
 * Stops reading its frames while more than max bytes (0: no limit) wait to
 * go out to it, until half have gone: a client that sends requests and
 * never reads the replies cannot make them pile up.
 */
void		 conn_set_queue_max(struct conn *, uint64_t max);
/* Believes the payload lengths it claims: for another daemon of the
 * cluster (frame_reader_trust). */
void		 conn_set_trusted(struct conn *, int trusted);
/* The far side's name from its HELLO, or "" before it. */
const char	*conn_name(const struct conn *);
enum conn_role	 conn_peer_role(const struct conn *);
/* What the far side's key lets it do (AUTH_NODE for the node key). */
enum auth_role	 conn_key_role(const struct conn *);
/* "client 127.0.0.1:40112" style label for log lines. */
const char	*conn_label(const struct conn *);
void		 conn_set_arg(struct conn *, void *arg);
void		 conn_set_label(struct conn *, const char *label);
const char	*conn_role_name(enum conn_role);

#endif
