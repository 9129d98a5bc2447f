/*
 * A blocking client of agentd for command-line tools (agentctl, and later
 * nnsim submit and the console): connect, authenticate, send requests and
 * wait for their replies, and read events.
 */
#ifndef AGENTD_CLIENT_H
#define AGENTD_CLIENT_H

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
/*
 * Sends req (an object with "op"; an "id" is added) and waits for its
 * reply, keeping events that arrive meanwhile. Returns the reply (new
 * reference) or NULL with cause; a reply with "ok": false is returned too.
 */
json_t		*client_request(struct client *, json_t *req, char **cause);
/* The next event, waiting up to timeout_ms (-1: forever); NULL on timeout
 * (cause NULL) or error (cause set). */
json_t		*client_event(struct client *, int timeout_ms, char **cause);

#endif
