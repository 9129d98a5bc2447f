/*
 * Private to the daemon's files (daemon.c, peer.c, directory.c, request.c,
 * route.c, move.c): the daemon's state and what one file calls in another.
 */
#ifndef AGENTD_DAEMON_INTERNAL_H
#define AGENTD_DAEMON_INTERNAL_H

#include <sys/socket.h>

#include <stdint.h>

#include <event2/util.h>
#include <jansson.h>

#include "agentd/conn.h"
#include "agentd/daemon.h"
#include "agentd/directory.h"

#define TICK_MS			250
#define RECONNECT_MS		1000

/* Another daemon of the hosts file. */
struct peer {
	char			 name[64];
	char			 address[80];
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
	struct conn		*conn;
	int			 up;
	uint64_t		 last_seen;	/* ms */
	uint64_t		 next_connect;	/* ms */
	json_t			*info;		/* its last heartbeat */
	int			 joined;	/* by a join, not the file */
};

/* Every open connection, whatever its role. */
struct link {
	struct daemon	*d;
	struct conn	*conn;
	unsigned long	 serial;	/* never reused, for late replies */
	int		 peer;		/* index into peers, or -1 */
	int		 subscribed;	/* gets events */
	json_t		*send_seq;	/* a client's next number, by receiver */
	json_int_t	 next_id;	/* our requests on this link */
	void		*arriving;	/* a large frame's buffer, mapped by a
					 * prepared worker until it is whole */
	int		 inbound;	/* accepted, not dialled */
	struct sockaddr_storage from;	/* where an inbound one came from */
	uint64_t	 since;		/* ms: when it was accepted */
	struct link	*prev, *next;
};

struct daemon;
typedef void peer_reply_fn(struct daemon *, json_t *reply, struct frame *,
    void *arg);

/* A request we sent to a peer and wait on. */
struct pending {
	unsigned long	 link;		/* serial of the link it went on */
	json_int_t	 id;
	peer_reply_fn	*cb;
	void		*arg;
	struct pending	*next;
};

/* An arriving agent the destination accepts (phase 1 of a move). */
struct arrival {
	char		 agent[96];
	char		 code[65];
	unsigned long	 link;		/* the source's link */
	json_t		*reply_id;
	json_t		*meta;
	unsigned char	*state;
	uint64_t	 len;
	int		 started;	/* the worker was launched */
	struct arrival	*next;
};

struct start_wait;

struct daemon {
	struct daemon_config	 cfg;
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*accept_retry;	/* the listener rests */
	int			 accept_delay_ms;	/* how long, now */
	struct event		*tick;
	struct event		*sig_term, *sig_int, *sig_hup, *sig_chld;
	struct codestore	*code;
	struct runner		*runner;
	struct sandbox		*sandbox;
	unsigned long		 next_agent;	/* ids are NAME.N */
	unsigned long		 next_serial;
	struct pending		*pending;
	struct arrival		*arrivals;
	struct start_wait	*start_waits;	/* spawns answered on start */
	struct directory	*where;		/* agent -> host, for routing */
	struct outbox		*outbox;	/* messages not yet acknowledged */
	char			*state_dir;
	struct peer		*peers;
	int			 npeers;
	struct link		*links;
	uint64_t		 last_heartbeat;
	int			 heartbeat_ms;	/* a third of down_after_ms, <= 1 s */
	uint64_t		 last_info;	/* ms: info made, housekeeping */
	json_t			*info;		/* what the heartbeats carry */
	int			 exit_status;
	int			 draining;	/* takes no agents, sheds its own */
	json_t			*logs;		/* agent made here -> its lines */
	json_t			*log_order;	/* those agents, oldest first */
	json_t			*finished_at;	/* agent made here -> where it
						 * finished, for "result" */
	json_t			*finished_order;	/* oldest first */
	uint64_t		 last_expire;	/* ms: results expired */
	struct commitstore	*commits;	/* other hosts' agents' commits */
	json_t			*commits_busy;	/* agent -> true: one travels */
	/* agent -> {series, hosts}: the hosts that hold that run's static
	 * sections, so that its later commits may leave them out */
	json_t			*commit_bases;
	int			 self_index;	/* ours in the hosts file */
	struct hosts		*inventory;	/* the hosts file's, or empty */
	json_t			*joined;	/* [{name, address}]: joins */
	unsigned long		 join_link;	/* serial of our --join link */
	uint64_t		 join_next;	/* ms: next --join attempt */
	int			 join_done;	/* our --join was answered */
	int			 join_failures;	/* attempts that failed */
	/* data.c: the data cache (docs/data-cache.md) */
	struct datacache	*cache;		/* the blocks here */
	json_t			*data_sets;	/* name -> manifest */
	json_t			*data_removed;	/* name -> when (unix s) */
	json_t			*data_inv;	/* host -> {version, blocks} */
	json_t			*data_asking;	/* host -> true: inventory */
	json_t			*data_uses;	/* agent -> [{set, table,
						 * part}] it maps here */
	json_t			*data_pinned;	/* sha -> true: in use */
	json_t			*data_repairing;	/* sha -> host */
	struct data_fetch	*data_fetches;
	uint64_t		 data_received;	/* block bytes from clients */
	uint64_t		 data_fetched;	/* from peers, for agents */
	uint64_t		 data_next_tick;	/* ms */
};

#define DAEMON_LOG_LINES	200	/* kept per agent */
#define DAEMON_LOG_AGENTS	1000	/* agents whose lines are kept */

/* peer.c: links to the other daemons, heartbeats, host information */
json_t *daemon_host_info(struct daemon *d);
struct link *link_add(struct daemon *d, struct conn *c, int peer);
struct conn_config	daemon_conn_config(struct daemon *d);
void	daemon_accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg);
int	peer_find(struct daemon *d, const char *name);
struct link *link_by_serial(struct daemon *d, unsigned long serial);
struct link *link_of_peer(struct daemon *d, const char *host);
void	peer_request(struct daemon *d, struct link *l, json_t *meta,
    const void *payload, uint64_t len, peer_reply_fn *cb, void *arg);
void	peer_request_owned(struct daemon *d, struct link *l, json_t *meta,
    void *payload, uint64_t len, peer_reply_fn *cb, void *arg);
void	peer_request_stream(struct daemon *d, struct link *l, json_t *meta,
    const struct conn_source *src, uint64_t len, peer_reply_fn *cb, void *arg);
json_t *daemon_hosts_json(struct daemon *d);
void	daemon_free_peers(struct daemon *d);
int	daemon_load_hosts(struct daemon *d, char **cause);
void	peer_link_up(struct daemon *d, struct link *l);
/* members.c: the hosts file's hosts and those that joined. */
void	members_link_up(struct daemon *d, struct link *l);
int	members_join_ready(struct daemon *d, struct link *l);
void	members_join_closed(struct daemon *d, struct link *l, const char *why);
void	members_join_tick(struct daemon *d, uint64_t now);
void	op_join(struct daemon *d, struct link *l, json_t *id,
	    struct frame *f);

/* directory.c: where agents are */
int	agent_home(const char *agent, char *home, size_t len);
void	agent_host(struct daemon *d, const char *agent, char *host, size_t len);

/* request.c: client requests */
void	reply(struct conn *c, json_t *id, int ok, const char *error,
    json_t *extra);
const char *str_field(json_t *m, const char *key);
void	daemon_forward(struct daemon *d, struct link *l, json_t *id,
    const char *host, json_t *meta, const void *payload, uint64_t len,
    const char *agent);
void	daemon_request(struct daemon *d, struct link *l, struct frame *f);
/* A request's handler; flags REQUEST_PEER: honoured only from a peer. */
typedef void request_fn(struct daemon *, struct link *, json_t *id,
    struct frame *);
#define REQUEST_PEER	0x1
void	daemon_result_store(struct daemon *d, const char *agent,
    const unsigned char *data, uint64_t len);
/* How long an unacknowledged result is kept. */
#define DAEMON_RESULT_KEEP_S	(24 * 3600)
void	daemon_result_expire(struct daemon *d);
/* 1 when id is an agent id (HOME.N), safe as a file name. */
int	daemon_id_ok(const char *id);

/* spawn.c: new agents */
void	op_spawn(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
const char *daemon_pick_host(struct daemon *d);
/* A runner event (started, failed) answers the spawns that wait for it. */
void	spawn_event(struct daemon *d, const char *event, const char *agent,
    json_t *ev);
void	spawn_free_waits(struct daemon *d);
void	worker_request_spawn(struct daemon *d, const char *agent,
    json_t *meta, const unsigned char *payload, uint64_t len);

/* commit.c: agents' commits held for other hosts */
void	worker_request_commit(struct daemon *d, const char *agent,
    json_t *meta, const unsigned char *payload, uint64_t len);
void	op_commit_put(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
void	op_commit_drop(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
void	op_commits(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
void	op_commit_get(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
unsigned char *commit_state(struct daemon *d, const char *agent,
    const char *code, const unsigned char *overlay, uint64_t overlay_len,
    json_t *keep, uint64_t *len, char **cause);

/* route.c: message routing */
int	daemon_has_route(struct daemon *d, const char *agent);
int	daemon_keep(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const void *data, uint64_t len, char **cause);
void	daemon_originate(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const void *data, uint64_t len);
int	daemon_resend(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries);
int	daemon_give_up(void *arg, const char *to, const char *from,
    uint64_t seq, const void *data, size_t len, int tries);
void	daemon_peer_agent(struct daemon *d, struct link *l, struct frame *f);

/* move.c: moves, arrivals, clones, draining */
const char *daemon_pick_away(struct daemon *d, const char *agent,
    long *free_cores);
int	daemon_shed(struct daemon *d);
void	daemon_drain(struct daemon *d, struct link *l, json_t *id,
    struct frame *f, int drain);
void	daemon_runner_request(void *arg, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len);
void	arrival_free(struct arrival *a);
void	arrival_answer(struct daemon *d, struct arrival *a, const char *error);
void	op_accept(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
void	op_code_get(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);

/* data.c: the data cache (docs/data-cache.md) */
int	data_init(struct daemon *d, char **cause);
void	data_free(struct daemon *d);
/* The heartbeat's "cache" object (new reference). */
json_t *data_host_info(struct daemon *d);
/* A peer's heartbeat came: learn what it holds if that changed. */
void	data_peer_info(struct daemon *d, int peer);
void	data_peer_down(struct daemon *d, const char *host);
/* A peer's link is up: merge its manifests. */
void	data_link_up(struct daemon *d, struct link *l);
void	data_tick(struct daemon *d, uint64_t now);
/* How many blocks of the parts in uses host holds, as far as we know. */
size_t	data_blocks_held(struct daemon *d, const char *host, json_t *uses);
/* The parts an agent maps here (borrowed, or NULL), for its move. */
json_t *data_agent_uses(struct daemon *d, const char *agent);
/* An arriving agent maps uses: fetch what is missing, remember them. */
void	data_prefetch(struct daemon *d, json_t *uses);
void	data_agent_arrived(struct daemon *d, const char *agent, json_t *uses);
void	data_prefetched(struct daemon *d, const char *sha, const char *error,
	    void *arg);
void	worker_request_data_map(struct daemon *d, const char *agent,
	    json_t *meta, const unsigned char *payload, uint64_t len);
void	op_data_block_fetch(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_block_get(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_block_put(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_block_store(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_drop(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_has(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_inventory(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_manifests(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_rm(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_set(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_set_drop(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_set_put(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_set_store(struct daemon *, struct link *, json_t *,
	    struct frame *);
void	op_data_sets(struct daemon *, struct link *, json_t *,
	    struct frame *);

/* limits.c: what one peer may take (docs/protocol.md, "Limits") */
/* Output to a client past which its requests wait (conn_set_queue_max). */
#define LIMITS_CLIENT_QUEUE	((uint64_t)16 << 20)
/* Sets the defaults of the caps and the listener's backoff. */
void	limits_init(struct daemon *d);
void	limits_free(struct daemon *d);
/* 0 when a connection from sa may be accepted, maybe after dropping an
 * unauthenticated one; -1 (logged) when it is refused. */
int	limits_admit(struct daemon *d, const struct sockaddr *sa,
	    socklen_t len);
/* l was accepted from sa. */
void	limits_accepted(struct daemon *d, struct link *l,
	    const struct sockaddr *sa, socklen_t len);
/* l authenticated: a client's replies may only queue so far. */
void	limits_link_ready(struct daemon *d, struct link *l);
/* Closes the clients that are idle or do not read; flushes rated logs. */
void	limits_tick(struct daemon *d, uint64_t now);

/* daemon.c: lifecycle, events, log keeping */
void	daemon_event(struct daemon *d, json_t *ev);
void	daemon_tick_cb(evutil_socket_t fd, short what, void *arg);
void	daemon_agent_event(struct daemon *d, json_t *ev);

#endif
