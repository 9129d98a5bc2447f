/*
 * The daemon: a listener, links to the other daemons of the hosts file
 * with heartbeats, client requests and the event stream, all on one
 * libevent loop that never waits on compute.
 */
#ifndef AGENTD_DAEMON_H
#define AGENTD_DAEMON_H

#include <sys/socket.h>

#include <stdint.h>

#include "agentd/auth.h"
#include "agentd/sandbox.h"

#define DAEMON_DEFAULT_PORT	7070
#define DAEMON_DOWN_AFTER_MS	3000
#define DAEMON_HEARTBEAT_MS	1000
/* Connection limits (docs/protocol.md, "Limits") by default: far above
 * what a cluster or its tests use. */
#define DAEMON_MAX_CONNS	1024	/* and at most half of RLIMIT_NOFILE */
#define DAEMON_MAX_UNAUTH	64	/* and at most half of max_conns */
#define DAEMON_MAX_PER_SOURCE	256
#define DAEMON_IDLE_MS		(300 * 1000)
#define DAEMON_STALL_MS		(30 * 1000)

struct daemon_config {
	struct sockaddr_storage	 listen;
	socklen_t		 listen_len;
	char			 listen_text[80];
	char			 name[64];	/* "" to take it from hosts */
	int			 have_key;
	int			 plaintext;	/* --encrypt off */
	unsigned char		 key[AUTH_KEY_SIZE];	/* the node key */
	const char		*key_path;	/* hidden from workers */
	/* --client-key: keys with fewer rights, for clients alone */
	struct auth_key		*client_keys;
	size_t			 nclient_keys;
	struct sandbox_config	 sandbox;	/* how workers are confined */
	const char		*hosts_path;	/* NULL: a cluster of one */
	const char		*state_dir;
	int			 down_after_ms;
	uint64_t		 commit_mem;	/* bytes of commits held */
	uint64_t		 cache_mem;	/* bytes of the data cache;
						 * 0: a quarter of memory */
	/* Accepted connections: in all, not yet authenticated, and from
	 * one address; 0 for the defaults above. */
	int			 max_conns;
	int			 max_unauth;
	int			 max_per_source;
	/* A client's silence, and its replies unread, that close it (ms;
	 * 0: never). */
	int			 idle_ms;
	int			 stall_ms;
	/* agentd --join: a member's address, "" for none */
	char			 join_text[80];
	struct sockaddr_storage	 join;
	socklen_t		 join_len;
};

struct daemon;

/* Binds, loads the hosts file and sets up signals; NULL with cause. */
struct daemon	*daemon_new(const struct daemon_config *, char **cause);
/* Runs until SIGTERM or SIGINT; returns the exit status. */
int		 daemon_run(struct daemon *);
void		 daemon_free(struct daemon *);

#endif
