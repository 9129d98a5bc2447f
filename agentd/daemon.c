/* The daemon's event loop: listener, peers, heartbeats, requests, events. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "agentd/agent.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/conn.h"
#include "agentd/daemon.h"
#include "base/file.h"
#include "agentd/hosts.h"
#include "agentd/log.h"
#include "agentd/outbox.h"
#include "agentd/runner.h"

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

struct daemon {
	struct daemon_config	 cfg;
	struct event_base	*base;
	struct evconnlistener	*listener;
	struct event		*tick;
	struct event		*sig_term, *sig_int, *sig_hup, *sig_chld;
	struct codestore	*code;
	struct runner		*runner;
	unsigned long		 next_agent;	/* ids are NAME.N */
	unsigned long		 next_serial;
	struct pending		*pending;
	struct arrival		*arrivals;
	json_t			*where;		/* agent -> host, for routing */
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
};

#define DAEMON_LOG_LINES	200	/* kept per agent */
#define DAEMON_LOG_AGENTS	1000	/* agents whose lines are kept */

static const struct conn_ops daemon_conn_ops;
struct link;
static void	daemon_peer_agent(struct daemon *, struct link *,
		    struct frame *);
static void	pending_fail_link(struct daemon *, unsigned long);
static void	daemon_route(struct daemon *, const char *, const char *,
		    uint64_t, const char *, const void *, uint64_t);
static int	daemon_route_on(struct daemon *, const char *, const char *,
		    uint64_t, const char *, const void *, uint64_t);
static void	daemon_originate(struct daemon *, const char *, const char *,
		    uint64_t, const void *, uint64_t);
static int	daemon_has_route(struct daemon *, const char *);
static int	daemon_keep(struct daemon *, const char *, const char *,
		    uint64_t, const void *, uint64_t, char **);
static outbox_fn daemon_resend, daemon_give_up;
static void	agent_host(struct daemon *, const char *, char *, size_t);
struct arrival;
static void	arrival_answer(struct daemon *, struct arrival *,
		    const char *);
static void	arrival_free(struct arrival *);
static void	daemon_agent_event(struct daemon *, json_t *);
static void	daemon_clone_remote(struct daemon *, const char *,
		    const char *, const unsigned char *, uint64_t);
static void	op_accept(struct daemon *, struct link *, json_t *,
		    struct frame *);
static void	op_code_get(struct daemon *, struct link *, json_t *,
		    struct frame *);
static int	peer_find(struct daemon *, const char *);
static const char *daemon_pick_away(struct daemon *, long *);
static void	daemon_migrate(struct daemon *, const char *agent,
		    const char *host, json_t *meta);

/* What this host has, as sent in heartbeats and host lists. */
static json_t *
daemon_host_info(struct daemon *d)
{
	double load[1] = { 0 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	/* A daemon pinned with taskset offers the cores it may use. */
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		cores = CPU_COUNT(&set);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	struct dirent *e;
	DIR *dev;
	int gpus = 0;

	if (getloadavg(load, 1) != 1)
		load[0] = 0;
	if ((dev = opendir("/dev")) != NULL) {
		while ((e = readdir(dev)) != NULL)
			if (strncmp(e->d_name, "nvidia", 6) == 0 &&
			    e->d_name[6] >= '0' && e->d_name[6] <= '9')
				gpus++;
		closedir(dev);
	}
	return json_pack("{s:s, s:s, s:i, s:I, s:f, s:i, s:i, s:b}",
	    "name", d->cfg.name, "address", d->cfg.listen_text,
	    "cores", (int)(cores > 0 ? cores : 1),
	    "mem_bytes", (json_int_t)pages * psize, "load", load[0],
	    "gpus", gpus, "agents", d->runner != NULL ?
	    runner_count(d->runner) : 0, "draining", d->draining);
}

/* The home of an agent is the daemon that made it: "h1.7" -> "h1". */
static int
agent_home(const char *agent, char *home, size_t len)
{
	const char *dot = agent != NULL ? strrchr(agent, '.') : NULL;

	if (dot == NULL || (size_t)(dot - agent) >= len)
		return -1;
	snprintf(home, len, "%.*s", (int)(dot - agent), agent);
	return 0;
}

/* The home keeps each of its agents' last log lines, for "logs". */
static void
daemon_keep_log(struct daemon *d, json_t *ev)
{
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	const char *event = json_string_value(json_object_get(ev, "event"));
	char home[64];
	json_t *lines, *old;
	json_int_t seq;

	if (event == NULL || strcmp(event, "log") != 0 ||
	    agent_home(agent, home, sizeof home) != 0 ||
	    strcmp(home, d->cfg.name) != 0)
		return;
	if ((lines = json_object_get(d->logs, agent)) == NULL) {
		if (json_array_size(d->log_order) >= DAEMON_LOG_AGENTS) {
			old = json_array_get(d->log_order, 0);
			json_object_del(d->logs, json_string_value(old));
			json_array_remove(d->log_order, 0);
		}
		lines = json_array();
		json_object_set_new(d->logs, agent, lines);
		json_array_append_new(d->log_order, json_string(agent));
	}
	/* Numbered from 1, so a follower knows what is new after the
	 * oldest lines have gone. */
	seq = json_integer_value(json_object_get(json_array_get(lines,
	    json_array_size(lines) - 1), "seq")) + 1;
	if (json_array_size(lines) >= DAEMON_LOG_LINES)
		json_array_remove(lines, 0);
	json_array_append_new(lines, json_pack("{s:I, s:I, s:O, s:O, s:O}",
	    "seq", seq, "time_ms", (json_int_t)clock_ms(), "host",
	    json_object_get(ev, "host"), "level", json_object_get(ev,
	    "level"), "text", json_object_get(ev, "text")));
}

static void
daemon_event(struct daemon *d, json_t *ev)
{
	struct link *l;

	daemon_keep_log(d, ev);
	for (l = d->links; l != NULL; l = l->next)
		if (l->subscribed && conn_is_ready(l->conn))
			conn_send(l->conn, FRAME_EVENT, ev, NULL, 0);
	json_decref(ev);
}

static void
peer_set_up(struct daemon *d, struct peer *p, int up, const char *why)
{
	if (p->up == up)
		return;
	p->up = up;
	if (up) {
		log_info("host %s (%s) up", p->name, p->address);
		/* What it missed goes at the next tick, not after backoff. */
		outbox_retry_now(d->outbox);
	} else
		log_warn("host %s (%s) down: %s", p->name, p->address, why);
	daemon_event(d, json_pack("{s:s, s:s, s:s}", "event",
	    up ? "host-up" : "host-down", "host", p->name, "reason",
	    up ? "" : why));
}

static struct link *
link_add(struct daemon *d, struct conn *c, int peer)
{
	struct link *l = xcalloc(1, sizeof *l);

	l->d = d;
	l->conn = c;
	l->peer = peer;
	l->serial = ++d->next_serial;
	l->next = d->links;
	if (d->links != NULL)
		d->links->prev = l;
	d->links = l;
	conn_set_arg(c, l);
	return l;
}

static void
link_remove(struct daemon *d, struct link *l)
{
	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		d->links = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	conn_free(l->conn);
	json_decref(l->send_seq);
	free(l);
}

static struct conn_config
daemon_conn_config(struct daemon *d)
{
	static const unsigned char zero[AUTH_KEY_SIZE];
	struct conn_config cc = {
		.base = d->base,
		.name = d->cfg.name,
		.key = d->cfg.have_key ? d->cfg.key : zero,
		.role = CONN_PEER,
		.ops = &daemon_conn_ops,
	};

	return cc;
}

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

static void
daemon_accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct daemon *d = arg;
	struct conn_config cc = daemon_conn_config(d);
	struct conn *c;

	(void)lst;
	/* Without a key the only proof of trust is being on this host. */
	if (!d->cfg.have_key && !is_loopback(sa)) {
		log_warn("refusing a non-loopback connection: no --key set");
		evutil_closesocket(fd);
		return;
	}
	c = conn_accept(&cc, fd, sa, (socklen_t)len);
	link_add(d, c, -1);
}

static int
peer_find(struct daemon *d, const char *name)
{
	int i;

	for (i = 0; i < d->npeers; i++)
		if (strcmp(d->peers[i].name, name) == 0)
			return i;
	return -1;
}

static struct link *
link_by_serial(struct daemon *d, unsigned long serial)
{
	struct link *l;

	for (l = d->links; l != NULL; l = l->next)
		if (l->serial == serial)
			return l;
	return NULL;
}

static struct link *
link_of_peer(struct daemon *d, const char *host)
{
	struct link *l;
	int i = peer_find(d, host);

	if (i < 0 || d->peers[i].conn == NULL ||
	    !conn_is_ready(d->peers[i].conn))
		return NULL;
	for (l = d->links; l != NULL; l = l->next)
		if (l->conn == d->peers[i].conn)
			return l;
	return NULL;
}

/* Waits for the reply to a request on l: cb gets it, or NULL if l dies.
 * Puts the request's id into meta. */
static void
pending_add(struct daemon *d, struct link *l, json_t *meta,
    peer_reply_fn *cb, void *arg)
{
	struct pending *p = xcalloc(1, sizeof *p);

	p->link = l->serial;
	p->id = l->next_id++;
	p->cb = cb;
	p->arg = arg;
	p->next = d->pending;
	d->pending = p;
	json_object_set_new(meta, "id", json_integer(p->id));
}

/* Sends a request on l and calls cb with its reply (NULL if l dies). */
static void
peer_request(struct daemon *d, struct link *l, json_t *meta,
    const void *payload, uint64_t len, peer_reply_fn *cb, void *arg)
{
	pending_add(d, l, meta, cb, arg);
	conn_send(l->conn, FRAME_REQUEST, meta, payload, len);
	json_decref(meta);
}

/* peer_request that hands payload (malloc'd) over, sent uncopied. */
static void
peer_request_owned(struct daemon *d, struct link *l, json_t *meta,
    void *payload, uint64_t len, peer_reply_fn *cb, void *arg)
{
	pending_add(d, l, meta, cb, arg);
	conn_send_owned(l->conn, FRAME_REQUEST, meta, payload, len);
	json_decref(meta);
}

/* peer_request whose payload (len bytes) comes from src as it is sent. */
static void
peer_request_stream(struct daemon *d, struct link *l, json_t *meta,
    const struct conn_source *src, uint64_t len, peer_reply_fn *cb,
    void *arg)
{
	pending_add(d, l, meta, cb, arg);
	conn_send_stream(l->conn, FRAME_REQUEST, meta, len, src);
	json_decref(meta);
}

static void
pending_fail_link(struct daemon *d, unsigned long serial)
{
	struct pending **pp = &d->pending, *p;

	while ((p = *pp) != NULL) {
		if (p->link != serial) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->cb(d, NULL, NULL, p->arg);
		free(p);
		pp = &d->pending;
	}
}

static void
pending_reply(struct daemon *d, struct link *l, struct frame *f)
{
	struct pending **pp, *p;
	json_t *id = json_object_get(f->meta, "id");

	for (pp = &d->pending; (p = *pp) != NULL; pp = &p->next) {
		if (p->link == l->serial && json_is_integer(id) &&
		    json_integer_value(id) == p->id) {
			*pp = p->next;
			p->cb(d, f->meta, f, p->arg);
			free(p);
			return;
		}
	}
}

static void
daemon_ready(struct conn *c, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	struct peer *p;
	json_t *info;
	int i;

	log_info("%s: authenticated", conn_label(c));
	if (conn_peer_role(c) != CONN_PEER)
		return;
	if ((i = peer_find(d, conn_name(c))) < 0) {
		log_warn("%s: not in the hosts file; closing", conn_label(c));
		conn_close(c, "unknown peer");
		return;
	}
	p = &d->peers[i];
	if (p->conn != NULL && p->conn != c) {
		/* Keep one link per pair: the newest wins. */
		conn_close(p->conn, "replaced by a newer connection");
	}
	l->peer = i;
	p->conn = c;
	p->last_seen = clock_ms();
	peer_set_up(d, p, 1, NULL);
	info = daemon_host_info(d);
	conn_send(c, FRAME_PING, info, NULL, 0);
	json_decref(info);
}

static void
daemon_closed(struct conn *c, const char *why, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	struct peer *p;

	if (l->peer >= 0) {
		p = &d->peers[l->peer];
		if (p->conn == c) {
			p->conn = NULL;
			peer_set_up(d, p, 0, why);
		}
	}
	/* A frame cut short: its prepared worker has nothing to wait for. */
	if (l->arriving != NULL && runner_unprepare(d->runner, l->arriving))
		log_info("%s: closed in the middle of an arriving agent; "
		    "stopped the worker prepared for it", conn_label(c));
	log_debug("%s: closed: %s", conn_label(c), why);
	pending_fail_link(d, l->serial);
	link_remove(d, l);
}

static void
reply(struct conn *c, json_t *id, int ok, const char *error, json_t *extra)
{
	json_t *m = extra != NULL ? extra : json_object();

	json_object_set(m, "id", id);
	json_object_set_new(m, "ok", json_boolean(ok));
	if (error != NULL)
		json_object_set_new(m, "error", json_string(error));
	conn_send(c, FRAME_REPLY, m, NULL, 0);
	json_decref(m);
}

static json_t *
daemon_hosts_json(struct daemon *d)
{
	json_t *a = json_array(), *h;
	uint64_t t = clock_ms();
	int i;

	h = daemon_host_info(d);
	json_object_set_new(h, "state", json_string("self"));
	json_array_append_new(a, h);
	for (i = 0; i < d->npeers; i++) {
		struct peer *p = &d->peers[i];

		h = p->info != NULL ? json_deep_copy(p->info) : json_object();
		json_object_set_new(h, "name", json_string(p->name));
		json_object_set_new(h, "address", json_string(p->address));
		json_object_set_new(h, "state",
		    json_string(p->up ? "up" : "down"));
		if (p->last_seen > 0)
			json_object_set_new(h, "last_seen_ms",
			    json_integer((json_int_t)(t - p->last_seen)));
		json_array_append_new(a, h);
	}
	return json_pack("{s:o}", "hosts", a);
}

static const char *
str_field(json_t *m, const char *key)
{
	return json_string_value(json_object_get(m, key));
}

/* The host with the most free cores (cores less agents), here first. */
static const char *
daemon_pick_host(struct daemon *d)
{
	json_t *info = daemon_host_info(d);
	const char *away;
	long here, free_away;

	here = (long)json_integer_value(json_object_get(info, "cores")) -
	    runner_count(d->runner);
	json_decref(info);
	away = daemon_pick_away(d, &free_away);
	if (away != NULL && (d->draining || free_away > here))
		return away;
	return d->cfg.name;
}

/* A reply to relay to the client that asked, if it is still there. */
struct relay {
	unsigned long	 link;
	json_t		*id;
	char		 agent[96];
	char		 host[64];
};

static void
relay_reply(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct relay *r = arg;
	struct link *l = link_by_serial(d, r->link);
	json_t *m;

	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    r->agent[0] != '\0')
		json_object_set_new(d->where, r->agent, json_string(r->host));
	if (l != NULL) {
		if (rep == NULL)
			reply(l->conn, r->id, 0, "the host went away", NULL);
		else {
			m = json_deep_copy(rep);
			json_object_set(m, "id", r->id);
			/* A payload (a result) goes back with its answer. */
			conn_send(l->conn, FRAME_REPLY, m, f != NULL ?
			    f->payload : NULL, f != NULL ? f->payload_len : 0);
			json_decref(m);
		}
	}
	json_decref(r->id);
	free(r);
}

/* Passes a request on to host and the answer back to the client. */
static void
daemon_forward(struct daemon *d, struct link *l, json_t *id, const char *host,
    json_t *meta, const void *payload, uint64_t len, const char *agent)
{
	struct relay *r;
	struct link *to = link_of_peer(d, host);

	if (to == NULL) {
		reply(l->conn, id, 0, peer_find(d, host) < 0 ?
		    "no such host" : "that host is down", NULL);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->link = l->serial;
	r->id = json_incref(id);
	snprintf(r->agent, sizeof r->agent, "%s", agent != NULL ? agent : "");
	snprintf(r->host, sizeof r->host, "%s", host);
	meta = json_deep_copy(meta);
	json_object_del(meta, "id");
	peer_request(d, to, meta, payload, len, relay_reply, r);
}

static void	op_result(struct daemon *, struct link *, json_t *,
		    struct frame *);

struct spawn_wait {
	unsigned long	 link;
	json_t		*id;
	json_t		*meta;
	unsigned char	*state;		/* the initial state, or NULL */
	uint64_t	 state_len;
};

static void	spawn_here(struct daemon *, struct link *, json_t *,
		    json_t *, unsigned char **, uint64_t);

static void
spawn_code(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct spawn_wait *w = arg;
	struct link *l = link_by_serial(d, w->link);
	char *cause = NULL;

	if (l != NULL) {
		if (rep == NULL || !json_is_true(json_object_get(rep, "ok")))
			reply(l->conn, w->id, 0, "cannot fetch the code", NULL);
		else if (codestore_put(d->code, f->payload,
		    (size_t)f->payload_len, str_field(w->meta, "code"), NULL,
		    &cause) != 0) {
			reply(l->conn, w->id, 0, cause, NULL);
			free(cause);
		} else
			spawn_here(d, l, w->id, w->meta, &w->state,
			    w->state_len);
	}
	json_decref(w->id);
	json_decref(w->meta);
	bigbuf_free(w->state);
	free(w);
}

/*
 * Starts the agent on this host; meta has code, args and maybe agent. With
 * a state (*state, len bytes, an encoded agent state) the agent is
 * unpacked from it rather than started from args: a job ships its data
 * that way. A state it keeps is taken (*state set to NULL), uncopied.
 */
static void
spawn_here(struct daemon *d, struct link *l, json_t *id, json_t *meta,
    unsigned char **state, uint64_t len)
{
	unsigned char *owned;
	const char *code = str_field(meta, "code"), *given;
	json_t *args = json_object_get(meta, "args"), *host;
	char path[1024], aid[96], *cause = NULL, *text;
	struct spawn_wait *w;
	struct runner_spawn sp;

	if (d->draining) {
		reply(l->conn, id, 0, "this host is draining: it takes no new "
		    "agents", NULL);
		return;
	}
	if (!codestore_has(d->code, code)) {
		if (conn_peer_role(l->conn) == CONN_PEER) {
			/* Fetched once from the daemon that asked. */
			w = xcalloc(1, sizeof *w);
			w->link = l->serial;
			w->id = json_incref(id);
			w->meta = json_incref(meta);
			if (len > 0) {
				w->state = *state;
				*state = NULL;
				w->state_len = len;
			}
			peer_request(d, l, json_pack("{s:s, s:s}", "op",
			    "code-get", "sha256", code), NULL, 0, spawn_code, w);
			return;
		}
		reply(l->conn, id, 0, "spawn: no such code here (send it "
		    "with code-put first)", NULL);
		return;
	}
	given = str_field(meta, "agent");
	if (given != NULL && conn_peer_role(l->conn) == CONN_PEER)
		snprintf(aid, sizeof aid, "%s", given);
	else
		snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name,
		    ++d->next_agent);
	text = json_is_string(args) ? xstrdup(json_string_value(args)) :
	    json_dumps(args != NULL ? args : json_object(), JSON_COMPACT);
	host = daemon_host_info(d);
	owned = len > 0 ? *state : NULL;
	if (len > 0)
		*state = NULL;
	sp = (struct runner_spawn){ .id = aid, .code_sha = code,
	    .code_path = codestore_path(d->code, code, path, sizeof path),
	    .args = text, .owned = owned, .owned_len = len, .host = host };
	if (runner_start(d->runner, &sp, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
	} else {
		runner_set_job(d->runner, aid, str_field(meta, "job"));
		json_object_set_new(d->where, aid, json_string(d->cfg.name));
		reply(l->conn, id, 1, NULL, json_pack("{s:s, s:s}", "agent",
		    aid, "host", d->cfg.name));
	}
	json_decref(host);
	free(text);
}

/*
 * spawn {code, args, host}: here, on the named host, or where the most
 * cores are free ("host": "auto"). The id is made here, so this daemon
 * stays the agent's home and its clients get the agent's events.
 */
static void
op_spawn(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *code = str_field(f->meta, "code");
	const char *host = str_field(f->meta, "host");
	char aid[96];
	json_t *m;

	if (code == NULL || !codestore_valid(code)) {
		reply(l->conn, id, 0, "spawn: code must be a SHA-256 in hex",
		    NULL);
		return;
	}
	if (host == NULL || host[0] == '\0' ||
	    conn_peer_role(l->conn) == CONN_PEER)
		host = d->cfg.name;
	else if (strcmp(host, "auto") == 0)
		host = daemon_pick_host(d);
	if (strcmp(host, d->cfg.name) == 0) {
		spawn_here(d, l, id, f->meta, &f->payload, f->payload_len);
		return;
	}
	if (!codestore_has(d->code, code)) {
		reply(l->conn, id, 0, "spawn: no such code here (send it "
		    "with code-put first)", NULL);
		return;
	}
	snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name, ++d->next_agent);
	m = json_deep_copy(f->meta);
	json_object_set_new(m, "agent", json_string(aid));
	daemon_forward(d, l, id, host, m, f->payload, f->payload_len, aid);
	json_decref(m);
}

static void
op_code_put(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	char sha[CODESTORE_HEX], *cause = NULL;

	if (codestore_put(d->code, f->payload, (size_t)f->payload_len,
	    str_field(f->meta, "sha256"), sha, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	log_info("%s: stored code %s (%llu bytes)", conn_label(l->conn), sha,
	    (unsigned long long)f->payload_len);
	reply(l->conn, id, 1, NULL, json_pack("{s:s}", "sha256", sha));
}

/* suspend, resume, kill, migrate and clone of a local agent. */
static void
op_control(struct daemon *d, struct link *l, json_t *id, const char *op,
    struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char *cause = NULL;

	if (agent == NULL) {
		reply(l->conn, id, 0, "missing agent", NULL);
		return;
	}
	if (!runner_has(d->runner, agent) &&
	    conn_peer_role(l->conn) != CONN_PEER) {
		char host[64];

		agent_host(d, agent, host, sizeof host);
		if (host[0] != '\0' && strcmp(host, d->cfg.name) != 0) {
			daemon_forward(d, l, id, host, f->meta, NULL, 0,
			    NULL);
			return;
		}
	}
	if (runner_control(d->runner, agent, strcmp(op, "kill") == 0 ?
	    "stop" : op, str_field(f->meta, "host"), &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	reply(l->conn, id, 1, NULL, NULL);
}

/* An agent's last log lines, kept by its home daemon. */
static void
op_logs(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char home[64];
	json_t *lines;

	if (agent == NULL || agent_home(agent, home, sizeof home) != 0) {
		reply(l->conn, id, 0, "logs needs an agent id (HOST.N)", NULL);
		return;
	}
	if (strcmp(home, d->cfg.name) != 0) {
		daemon_forward(d, l, id, home, f->meta, NULL, 0, NULL);
		return;
	}
	lines = json_object_get(d->logs, agent);
	reply(l->conn, id, 1, NULL, json_pack("{s:O}", "lines",
	    lines != NULL ? lines : json_array()));
}

/*
 * The best other host for an agent leaving this one: up, not draining,
 * most free cores (in *free_cores when not NULL). NULL when there is none.
 */
static const char *
daemon_pick_away(struct daemon *d, long *free_cores)
{
	const char *best = NULL;
	long free_best = 0, f;
	int i;

	for (i = 0; i < d->npeers; i++) {
		if (!d->peers[i].up || d->peers[i].info == NULL ||
		    json_is_true(json_object_get(d->peers[i].info,
		    "draining")))
			continue;
		f = (long)json_integer_value(json_object_get(d->peers[i].info,
		    "cores")) - (long)json_integer_value(json_object_get(
		    d->peers[i].info, "agents"));
		if (best == NULL || f > free_best) {
			free_best = f;
			best = d->peers[i].name;
		}
	}
	if (free_cores != NULL)
		*free_cores = free_best;
	return best;
}

/* A draining host asks each of its agents to move; again each tick. */
static int
daemon_shed(struct daemon *d)
{
	json_t *list = runner_list(d->runner), *a;
	const char *to, *state;
	char *cause = NULL;
	size_t i;
	int asked = 0;

	json_array_foreach(list, i, a) {
		state = str_field(a, "state");
		if (state == NULL || strcmp(state, "running") != 0 ||
		    (to = daemon_pick_away(d, NULL)) == NULL)
			continue;
		if (runner_control(d->runner, str_field(a, "id"), "migrate", to,
		    &cause) == 0)
			asked++;
		free(cause);
		cause = NULL;
	}
	json_decref(list);
	return asked;
}

/* drain: the host takes no new agents and moves its own away. */
static void
op_drain(struct daemon *d, struct link *l, json_t *id, struct frame *f,
    int drain)
{
	const char *host = str_field(f->meta, "host");

	if (host == NULL) {
		reply(l->conn, id, 0, "drain needs a host", NULL);
		return;
	}
	if (strcmp(host, d->cfg.name) != 0) {
		daemon_forward(d, l, id, host, f->meta, NULL, 0, NULL);
		return;
	}
	if (drain && !d->draining)
		log_info("draining: no new agents; moving %d away",
		    runner_count(d->runner));
	else if (!drain && d->draining)
		log_info("undrained: taking agents again");
	d->draining = drain;
	/* The others learn it at the next tick. */
	d->last_heartbeat = d->last_info = 0;
	reply(l->conn, id, 1, NULL, json_pack("{s:s, s:b, s:i, s:i}", "host",
	    d->cfg.name, "draining", drain, "agents",
	    runner_count(d->runner), "moving", drain ? daemon_shed(d) : 0));
}

/* A client's request; malformed ones close the connection. */
static void
daemon_request(struct daemon *d, struct link *l, struct frame *f)
{
	json_t *id = json_object_get(f->meta, "id");
	const char *op = json_string_value(json_object_get(f->meta, "op"));

	if (!json_is_integer(id) || op == NULL) {
		log_warn("%s: request needs an integer id and a string op; "
		    "closing", conn_label(l->conn));
		conn_close(l->conn, "malformed request");
		return;
	}
	if (strcmp(op, "ping") == 0)
		reply(l->conn, id, 1, NULL, NULL);
	else if (strcmp(op, "hosts") == 0)
		reply(l->conn, id, 1, NULL, daemon_hosts_json(d));
	else if (strcmp(op, "subscribe") == 0) {
		l->subscribed = 1;
		reply(l->conn, id, 1, NULL, NULL);
	} else if (strcmp(op, "agents") == 0 && str_field(f->meta, "host") !=
	    NULL && strcmp(str_field(f->meta, "host"), d->cfg.name) != 0)
		daemon_forward(d, l, id, str_field(f->meta, "host"), f->meta,
		    NULL, 0, NULL);
	else if (strcmp(op, "agents") == 0)
		reply(l->conn, id, 1, NULL, json_pack("{s:o}", "agents",
		    runner_list(d->runner)));
	else if (strcmp(op, "code-has") == 0)
		reply(l->conn, id, 1, NULL, json_pack("{s:b}", "has",
		    str_field(f->meta, "sha256") != NULL &&
		    codestore_has(d->code, str_field(f->meta, "sha256"))));
	else if (strcmp(op, "code-put") == 0)
		op_code_put(d, l, id, f);
	else if (strcmp(op, "code-stats") == 0)
		reply(l->conn, id, 1, NULL, json_pack("{s:I}", "received",
		    (json_int_t)codestore_received(d->code)));
	else if (strcmp(op, "spawn") == 0)
		op_spawn(d, l, id, f);
	else if (strcmp(op, "result") == 0)
		op_result(d, l, id, f);
	else if (strcmp(op, "send") == 0) {
		const char *to = str_field(f->meta, "agent");
		char from[128], *cause = NULL;
		uint64_t seq;

		/* A client is a sender like an agent: a numbered stream to
		 * each receiver. */
		snprintf(from, sizeof from, "client:%s@%s#%lu",
		    conn_name(l->conn), d->cfg.name, l->serial);
		if (l->send_seq == NULL)
			l->send_seq = json_object();
		seq = to != NULL ? (uint64_t)json_integer_value(
		    json_object_get(l->send_seq, to)) : 0;
		if (to == NULL)
			reply(l->conn, id, 0, "missing agent", NULL);
		else if (runner_deliver(d->runner, to, from, seq, f->payload,
		    f->payload_len) == 0 || (daemon_has_route(d, to) &&
		    daemon_keep(d, to, from, seq, f->payload, f->payload_len,
		    &cause) == 0)) {
			json_object_set_new(l->send_seq, to,
			    json_integer((json_int_t)seq + 1));
			reply(l->conn, id, 1, NULL, NULL);
		} else {
			reply(l->conn, id, 0, cause != NULL ? cause :
			    "no route to that agent", NULL);
			free(cause);
		}
	} else if (strcmp(op, "agent-accept") == 0 &&
	    conn_peer_role(l->conn) == CONN_PEER)
		op_accept(d, l, id, f);
	else if (strcmp(op, "code-get") == 0 &&
	    conn_peer_role(l->conn) == CONN_PEER)
		op_code_get(d, l, id, f);
	else if (strcmp(op, "where") == 0) {
		char host[64];

		if (str_field(f->meta, "agent") == NULL)
			reply(l->conn, id, 0, "missing agent", NULL);
		else {
			agent_host(d, str_field(f->meta, "agent"), host,
			    sizeof host);
			if (runner_has(d->runner, str_field(f->meta, "agent")))
				snprintf(host, sizeof host, "%s", d->cfg.name);
			reply(l->conn, id, 1, NULL, json_pack("{s:s}", "host",
			    host));
		}
	} else if (strcmp(op, "kill") == 0 || strcmp(op, "suspend") == 0 ||
	    strcmp(op, "resume") == 0 || strcmp(op, "migrate") == 0 ||
	    strcmp(op, "clone") == 0)
		op_control(d, l, id, op, f);
	else if (strcmp(op, "logs") == 0)
		op_logs(d, l, id, f);
	else if (strcmp(op, "drain") == 0 || strcmp(op, "undrain") == 0)
		op_drain(d, l, id, f, strcmp(op, "drain") == 0);
	else
		reply(l->conn, id, 0, "unknown op", NULL);
}

static void
daemon_frame(struct conn *c, struct frame *f, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	struct peer *p;
	void *arrived = l->arriving;

	/* Whole: op_accept takes or stops the worker prepared for it (the
	 * code is here, so it does so before it returns). */
	l->arriving = NULL;
	if (l->peer >= 0) {
		p = &d->peers[l->peer];
		p->last_seen = clock_ms();
		if (f->type == FRAME_PING) {
			json_decref(p->info);
			p->info = json_incref(f->meta);
		}
	}
	switch (f->type) {
	case FRAME_REQUEST:
		daemon_request(d, l, f);
		break;
	case FRAME_PING:
		/* A peer that pings more often than we do (a shorter
		 * --down-after) hears from us as often. */
		conn_send(c, FRAME_PONG, NULL, NULL, 0);
		break;
	case FRAME_REPLY:
		pending_reply(d, l, f);
		break;
	case FRAME_AGENT:
		if (conn_peer_role(c) != CONN_PEER) {
			conn_close(c, "agent frames come from daemons only");
			break;
		}
		daemon_peer_agent(d, l, f);
		break;
	case FRAME_EVENT:
		/* A peer relays events of agents made here. */
		if (conn_peer_role(c) == CONN_PEER)
			daemon_event(d, json_incref(f->meta));
		break;
	case FRAME_PONG:
		break;
	default:
		log_warn("%s: unexpected %s frame; closing", conn_label(c),
		    frame_type_name(f->type));
		conn_close(c, "unexpected frame");
		break;
	}
	/* A backstop: nothing waits for a state that nothing took. */
	if (arrived != NULL && runner_unprepare(d->runner, arrived) > 0)
		log_warn("%s: a worker prepared for an arriving agent was "
		    "not taken; stopped it", conn_label(c));
	frame_free(f);
}

/*
 * A large frame has begun on a link. An agent arriving with code we hold
 * gets its worker now, mapping the state while the rest of it comes: the
 * start no longer waits for the transfer. Only a hint, as nothing in meta
 * is checked yet: op_accept decides once the frame has passed its MAC.
 */
static void
daemon_arriving(struct conn *c, int type, json_t *meta, void *payload,
    uint64_t len, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	const char *op = str_field(meta, "op");
	const char *agent = str_field(meta, "agent");
	const char *code = str_field(meta, "code");

	(void)c;
	if (type != FRAME_REQUEST || l->peer < 0 || op == NULL ||
	    strcmp(op, "agent-accept") != 0 || agent == NULL ||
	    code == NULL || !codestore_valid(code) ||
	    !codestore_has(d->code, code) || d->draining ||
	    runner_has(d->runner, agent))
		return;
	if (runner_prepare(d->runner, payload, len) == 0)
		l->arriving = payload;
}

static const struct conn_ops daemon_conn_ops = {
	.frame = daemon_frame,
	.arriving = daemon_arriving,
	.ready = daemon_ready,
	.closed = daemon_closed,
};

/* Heartbeats out, silence detected, links to lower names kept open. */
static void
daemon_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct conn_config cc = daemon_conn_config(d);
	struct peer *p;
	uint64_t t = clock_ms(), seen;
	char *cause = NULL, why[64];
	int i, beat = t - d->last_heartbeat >= (uint64_t)d->heartbeat_ms;

	(void)fd;
	(void)what;
	if (d->info == NULL || t - d->last_info >= DAEMON_HEARTBEAT_MS) {
		d->last_info = t;
		json_decref(d->info);
		d->info = daemon_host_info(d);
		bigbuf_trim(0);
		/* Agents that could not leave yet (no host, or busy). */
		if (d->draining)
			(void)daemon_shed(d);
	}
	if (beat)
		d->last_heartbeat = t;
	for (i = 0; i < d->npeers; i++) {
		p = &d->peers[i];
		if (p->conn != NULL && conn_is_ready(p->conn)) {
			/* A large frame on a slow link takes longer than
			 * down_after_ms, and the peer's pings wait behind it:
			 * its bytes arriving show it is there. */
			seen = conn_last_read_ms(p->conn);
			if (seen < p->last_seen)
				seen = p->last_seen;
			if (t - seen > (uint64_t)d->cfg.down_after_ms) {
				snprintf(why, sizeof why, "no heartbeat or "
				    "data for %.1f s", (t - seen) / 1000.0);
				conn_close(p->conn, why);
				continue;
			}
			if (beat)
				conn_send(p->conn, FRAME_PING, d->info, NULL,
				    0);
		}
		/* The smaller name dials, so each pair has one link. */
		if (p->conn == NULL && strcmp(d->cfg.name, p->name) < 0 &&
		    t >= p->next_connect) {
			p->next_connect = t + RECONNECT_MS;
			p->conn = conn_connect(&cc, (struct sockaddr *)&p->sa,
			    p->salen, &cause);
			if (p->conn == NULL) {
				log_debug("host %s: %s", p->name, cause);
				free(cause);
				cause = NULL;
				continue;
			}
			link_add(d, p->conn, i);
		}
	}
	outbox_due(d->outbox, t, daemon_resend, daemon_give_up, d);
}

static void
daemon_free_peers(struct daemon *d)
{
	int i;

	for (i = 0; i < d->npeers; i++)
		json_decref(d->peers[i].info);
	free(d->peers);
	d->peers = NULL;
	d->npeers = 0;
}

/* (Re)reads the hosts file; keeps links to hosts that stay. */
static int
daemon_load_hosts(struct daemon *d, char **cause)
{
	struct hosts *h;
	const struct host_entry *e;
	struct peer *old = d->peers, *p;
	struct link *l;
	int nold = d->npeers, i, j, self = -1;

	if (d->cfg.hosts_path == NULL) {
		if (d->cfg.name[0] == '\0')
			snprintf(d->cfg.name, sizeof d->cfg.name, "local");
		return 0;
	}
	if ((h = hosts_load(d->cfg.hosts_path, cause)) == NULL)
		return -1;
	for (i = 0; i < hosts_count(h); i++) {
		e = hosts_get(h, i);
		if (d->cfg.name[0] != '\0' ? strcmp(e->name, d->cfg.name) == 0 :
		    strcmp(e->address, d->cfg.listen_text) == 0)
			self = i;
	}
	if (self < 0 && d->cfg.name[0] == '\0') {
		hosts_free(h);
		return nn_fail(cause, "%s: no host has address %s (give "
		    "--name)", d->cfg.hosts_path, d->cfg.listen_text);
	}
	if (d->cfg.name[0] == '\0')
		snprintf(d->cfg.name, sizeof d->cfg.name, "%s",
		    hosts_get(h, self)->name);
	d->peers = xcalloc((size_t)hosts_count(h), sizeof *d->peers);
	d->npeers = 0;
	for (i = 0; i < hosts_count(h); i++) {
		if (i == self)
			continue;
		e = hosts_get(h, i);
		p = &d->peers[d->npeers++];
		snprintf(p->name, sizeof p->name, "%s", e->name);
		snprintf(p->address, sizeof p->address, "%s", e->address);
		memcpy(&p->sa, &e->sa, sizeof p->sa);
		p->salen = e->salen;
		for (j = 0; j < nold; j++) {
			if (strcmp(old[j].name, p->name) == 0) {
				p->conn = old[j].conn;
				p->up = old[j].up;
				p->last_seen = old[j].last_seen;
				p->info = old[j].info;
				old[j].info = NULL;
				old[j].conn = NULL;
			}
		}
	}
	/* Links re-point at the new table; hosts that left are dropped. */
	for (l = d->links; l != NULL; l = l->next) {
		if (l->peer < 0)
			continue;
		j = l->peer;
		l->peer = peer_find(d, old[j].name);
	}
	for (j = 0; j < nold; j++) {
		json_decref(old[j].info);
		if (old[j].conn != NULL)
			conn_close(old[j].conn, "host left the hosts file");
	}
	free(old);
	hosts_free(h);
	return 0;
}

static void
daemon_runner_event(void *arg, json_t *ev)
{
	struct daemon *d = arg;
	const char *event = str_field(ev, "event");
	const char *agent = str_field(ev, "agent");
	struct arrival *a;

	/* An arriving agent unpacked (or failed to): answer phase 1. */
	for (a = d->arrivals; a != NULL && agent != NULL; a = a->next) {
		if (!a->started || strcmp(a->agent, agent) != 0)
			continue;
		if (strcmp(event, "arrived") == 0)
			arrival_answer(d, a, NULL);
		else if (strcmp(event, "failed") == 0)
			arrival_answer(d, a, str_field(ev, "reason"));
		break;
	}
	daemon_agent_event(d, ev);
}

/* An agent's event: to our subscribers, and to its home daemon (where it
 * was made), which tells its owner. Takes the reference. */
static void
daemon_agent_event(struct daemon *d, json_t *ev)
{
	const char *agent = str_field(ev, "agent"), *home;
	struct link *l;
	char host[64];

	if (agent != NULL && (home = strrchr(agent, '.')) != NULL &&
	    (size_t)(home - agent) < sizeof host) {
		snprintf(host, sizeof host, "%.*s", (int)(home - agent), agent);
		if (strcmp(host, d->cfg.name) != 0 &&
		    (l = link_of_peer(d, host)) != NULL)
			conn_send(l->conn, FRAME_EVENT, ev, NULL, 0);
	}
	daemon_event(d, ev);
}

/* An agent id is safe as a file name: HOME.N with HOME a host name. */
static int
daemon_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || id[0] == '.' || strlen(id) > 95)
		return 0;
	for (i = 0; id[i] != '\0'; i++) {
		if (!isalnum((unsigned char)id[i]) && strchr("._-", id[i]) ==
		    NULL)
			return 0;
	}
	return 1;
}

/* The file that holds a finished agent's result. */
static void
daemon_result_path(struct daemon *d, const char *agent, char *path,
    size_t size)
{
	snprintf(path, size, "%s/results/%s", d->state_dir, agent);
}

/*
 * Keeps a finished agent's result on disk until its owner fetches it:
 * it may be large, and the owner may come back later.
 */
static void
daemon_result_store(struct daemon *d, const char *agent,
    const unsigned char *data, uint64_t len)
{
	char path[1200], dir[1100];
	size_t off = 0;
	ssize_t n;
	int fd;

	if (!daemon_id_ok(agent))
		return;
	snprintf(dir, sizeof dir, "%s/results", d->state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("%s: %s", dir, strerror(errno));
		return;
	}
	daemon_result_path(d, agent, path, sizeof path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		log_error("%s: %s", path, strerror(errno));
		return;
	}
	while (off < len) {
		if ((n = write(fd, data + off, (size_t)len - off)) < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: %s", path, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (off < len)
		unlink(path);
	else
		log_info("agent %s: result of %llu bytes kept for its owner",
		    agent, (unsigned long long)len);
}

/*
 * result {agent, host}: the result a finished agent left (agent_result),
 * sent once and then deleted. host is where it finished (the finished
 * event says); other hosts pass the request on.
 */
static void
op_result(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const char *host = str_field(f->meta, "host");
	char path[1200], *cause = NULL, *data;
	size_t len;
	json_t *m;

	if (!daemon_id_ok(agent)) {
		reply(l->conn, id, 0, "result: agent must be an agent id",
		    NULL);
		return;
	}
	if (host != NULL && strcmp(host, d->cfg.name) != 0 &&
	    conn_peer_role(l->conn) != CONN_PEER) {
		daemon_forward(d, l, id, host, f->meta, NULL, 0, NULL);
		return;
	}
	daemon_result_path(d, agent, path, sizeof path);
	if ((data = nn_read_file(path, AGENT_RESULT_MAX, &len, &cause)) ==
	    NULL) {
		free(cause);
		reply(l->conn, id, 0, "no result of that agent here", NULL);
		return;
	}
	unlink(path);
	m = json_pack("{s:O, s:b, s:s}", "id", id, "ok", 1, "agent", agent);
	conn_send_owned(l->conn, FRAME_REPLY, m, data, len);
	json_decref(m);
}

/* What a worker asks of the daemon: messages, spawns, clones, moves. */
static void
daemon_runner_request(void *arg, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	struct daemon *d = arg;
	const char *op = str_field(meta, "op"), *to, *host, *code;
	char aid[96], path[1024], *cause = NULL;
	json_t *info, *q;
	struct runner_spawn sp;

	if (strcmp(op, "send") == 0) {
		to = str_field(meta, "to");
		if (to != NULL)
			daemon_originate(d, to, agent, runner_next_out(
			    d->runner, agent, to), payload, len);
	} else if (strcmp(op, "clone") == 0 &&
	    (host = str_field(meta, "host")) != NULL && host[0] != '\0' &&
	    strcmp(host, d->cfg.name) != 0) {
		daemon_clone_remote(d, agent, host, payload, len);
	} else if (strcmp(op, "clone") == 0) {
		code = runner_code(d->runner, agent);
		snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name,
		    ++d->next_agent);
		info = daemon_host_info(d);
		sp = (struct runner_spawn){ .id = aid, .code_sha = code,
		    .state = payload, .len = len, .host = info };
		if (code != NULL)
			sp.code_path = codestore_path(d->code, code, path,
			    sizeof path);
		if (code == NULL || runner_start(d->runner, &sp, &cause) != 0) {
			log_warn("agent %s: clone failed: %s", agent,
			    cause != NULL ? cause : "unknown code");
			free(cause);
		} else
			daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}",
			    "event", "cloned", "agent", agent, "clone", aid,
			    "host", d->cfg.name));
		json_decref(info);
	} else if (strcmp(op, "done") == 0) {
		daemon_result_store(d, agent, payload, len);
	} else if (strcmp(op, "moving") == 0) {
		host = str_field(meta, "host");
		/* A move to where it already is costs nothing. */
		if (host == NULL || strcmp(host, d->cfg.name) == 0) {
			q = runner_move_done(d->runner, agent, 0);
			json_decref(q);
			return;
		}
		daemon_migrate(d, agent, host, meta);
	} else
		log_warn("agent %s: %s is not supported yet", agent, op);
}

struct clone_wait {
	char	agent[96];
	char	clone[96];
	char	host[64];
};

static void
clone_accepted(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct clone_wait *w = arg;
	struct link *l = link_of_peer(d, w->host);
	json_t *m;

	(void)f;
	if (rep == NULL || !json_is_true(json_object_get(rep, "ok")) ||
	    l == NULL) {
		log_warn("agent %s: clone to %s failed: %s", w->agent, w->host,
		    rep != NULL && str_field(rep, "error") != NULL ?
		    str_field(rep, "error") : "the host went away");
	} else {
		m = json_pack("{s:s, s:s}", "op", "go", "agent", w->clone);
		conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
		json_object_set_new(d->where, w->clone, json_string(w->host));
		daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}", "event",
		    "cloned", "agent", w->agent, "clone", w->clone, "host",
		    w->host));
	}
	free(w);
}

/* A clone elsewhere is a move that leaves the original running. */
static void
daemon_clone_remote(struct daemon *d, const char *agent, const char *host,
    const unsigned char *state, uint64_t len)
{
	struct clone_wait *w;
	struct link *l = link_of_peer(d, host);
	json_t *req;

	if (l == NULL) {
		log_warn("agent %s: cannot clone to %s: no such host or down",
		    agent, host);
		return;
	}
	w = xcalloc(1, sizeof *w);
	snprintf(w->agent, sizeof w->agent, "%s", agent);
	snprintf(w->clone, sizeof w->clone, "%s.%lu", d->cfg.name,
	    ++d->next_agent);
	snprintf(w->host, sizeof w->host, "%s", host);
	req = json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:{}, s:{}, s:[]}}",
	    "op", "agent-accept", "agent", w->clone, "code",
	    runner_code(d->runner, agent), "type", runner_type(d->runner,
	    agent), "step", 0, "delivery", "next", "out", "pending");
	peer_request(d, l, req, state, len, clone_accepted, w);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval flush = { 0, 300 * 1000 };
	char *cause = NULL;

	(void)what;
	if (sig == SIGCHLD) {
		runner_reap(d->runner);
		return;
	}
	if (sig == SIGHUP) {
		if (daemon_load_hosts(d, &cause) != 0) {
			log_error("reload: %s (keeping the old hosts)", cause);
			free(cause);
		} else
			log_info("reloaded %s: %d other hosts",
			    d->cfg.hosts_path, d->npeers);
		return;
	}
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Agents stop first, and their owners hear of it before we go. */
	runner_stop_all(d->runner, "stopped: its daemon shut down");
	event_base_loopexit(d->base, &flush);
}

struct daemon *
daemon_new(const struct daemon_config *cfg, char **cause)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	struct timeval tick = { 0, 0 };

	d->cfg = *cfg;
	if (d->cfg.down_after_ms <= 0)
		d->cfg.down_after_ms = DAEMON_DOWN_AFTER_MS;
	/* Three heartbeats fit in the silence that marks a host down, so
	 * one late ping does not; the tick checks as often. */
	d->heartbeat_ms = d->cfg.down_after_ms / 3;
	if (d->heartbeat_ms > DAEMON_HEARTBEAT_MS)
		d->heartbeat_ms = DAEMON_HEARTBEAT_MS;
	tick.tv_usec = (d->heartbeat_ms < TICK_MS ? d->heartbeat_ms :
	    TICK_MS) * 1000;
	d->base = event_base_new();
	d->where = json_object();
	d->outbox = outbox_new();
	d->logs = json_object();
	d->log_order = json_array();
	if (daemon_load_hosts(d, cause) != 0)
		goto fail;
	/* The default needs the name, which the hosts file may give. */
	if (cfg->state_dir == NULL)
		d->state_dir = xasprintf("/var/tmp/agentd-%s", d->cfg.name);
	else
		d->state_dir = xstrdup(cfg->state_dir);
	if (mkdir(d->state_dir, 0700) != 0 && errno != EEXIST) {
		nn_fail(cause, "--state %s: %s", d->state_dir,
		    strerror(errno));
		goto fail;
	}
	if ((d->code = codestore_new(d->state_dir, cause)) == NULL)
		goto fail;
	d->runner = runner_new(d->base, d->cfg.name, daemon_runner_event,
	    daemon_runner_request, d);
	d->listener = evconnlistener_new_bind(d->base, daemon_accept_cb, d,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    64, (struct sockaddr *)&cfg->listen, (int)cfg->listen_len);
	if (d->listener == NULL) {
		nn_fail(cause, "cannot listen on %s: %s", cfg->listen_text,
		    strerror(errno));
		goto fail;
	}
	d->tick = event_new(d->base, -1, EV_PERSIST, daemon_tick_cb, d);
	event_add(d->tick, &tick);
	d->sig_term = evsignal_new(d->base, SIGTERM, daemon_signal_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, daemon_signal_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, daemon_signal_cb, d);
	d->sig_chld = evsignal_new(d->base, SIGCHLD, daemon_signal_cb, d);
	event_add(d->sig_chld, NULL);
	event_add(d->sig_term, NULL);
	event_add(d->sig_int, NULL);
	event_add(d->sig_hup, NULL);
	return d;
fail:
	daemon_free(d);
	return NULL;
}

int
daemon_run(struct daemon *d)
{
	log_info("%s listening on %s (%s), %d other hosts", d->cfg.name,
	    d->cfg.listen_text, d->cfg.have_key ? "cluster key" :
	    "no key: loopback connections only", d->npeers);
	event_base_dispatch(d->base);
	return d->exit_status;
}

void
daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	/* Agents are stopped, and their owners told, before links close.
	 * The runner outlives the links: closing one fails the moves that
	 * wait on it, and those look their agents up. */
	runner_clear(d->runner);
	while (d->links != NULL)
		conn_close(d->links->conn, "daemon shutting down");
	codestore_free(d->code);
	while (d->pending != NULL) {
		struct pending *p = d->pending;

		d->pending = p->next;
		free(p);
	}
	while (d->arrivals != NULL) {
		struct arrival *a = d->arrivals;

		d->arrivals = a->next;
		arrival_free(a);
	}
	json_decref(d->where);
	json_decref(d->info);
	if (outbox_count(d->outbox, NULL) > 0)
		log_info("%zu messages not yet acknowledged are dropped",
		    outbox_count(d->outbox, NULL));
	outbox_free(d->outbox);
	json_decref(d->logs);
	json_decref(d->log_order);
	free(d->state_dir);
	daemon_free_peers(d);
	runner_free(d->runner);
	bigbuf_trim(1);
	if (d->listener != NULL)
		evconnlistener_free(d->listener);
	if (d->tick != NULL)
		event_free(d->tick);
	if (d->sig_term != NULL) {
		event_free(d->sig_term);
		event_free(d->sig_int);
		event_free(d->sig_hup);
		event_free(d->sig_chld);
	}
	event_base_free(d->base);
	free(d);
}

/* The host an agent is on, as far as we know: where it was last seen, or
 * the daemon that made it (ids are HOME.N). */
static void
agent_host(struct daemon *d, const char *agent, char *host, size_t len)
{
	const char *w = json_string_value(json_object_get(d->where, agent));
	const char *dot = strrchr(agent, '.');

	if (w != NULL)
		snprintf(host, len, "%s", w);
	else if (dot != NULL && (size_t)(dot - agent) < len)
		snprintf(host, len, "%.*s", (int)(dot - agent), agent);
	else
		host[0] = '\0';
}

/* Tells the daemon that answers for a message that it arrived. */
static void
daemon_ack(struct daemon *d, const char *origin, const char *to,
    const char *from, uint64_t seq)
{
	struct link *l;
	json_t *m;

	if (origin == NULL)
		return;
	if (strcmp(origin, d->cfg.name) == 0) {
		(void)outbox_ack(d->outbox, to, from, seq);
		return;
	}
	/* Lost with the link: the origin sends it again, and we answer the
	 * copy. */
	if ((l = link_of_peer(d, origin)) == NULL)
		return;
	m = json_pack("{s:s, s:s, s:s, s:I}", "op", "msg-ack", "agent", to,
	    "from", from, "seq", (json_int_t)seq);
	conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
}

/* The link to the host agent is on now (named in host), or NULL. */
static struct link *
daemon_route_link(struct daemon *d, const char *agent, char *host,
    size_t len)
{
	agent_host(d, agent, host, len);
	if (host[0] == '\0' || strcmp(host, d->cfg.name) == 0)
		return NULL;
	return link_of_peer(d, host);
}

/* Whether a message to agent can leave for the host it is on now. */
static int
daemon_has_route(struct daemon *d, const char *agent)
{
	char host[64];

	return daemon_route_link(d, agent, host, sizeof host) != NULL;
}

/*
 * Passes message seq from sender to agent on to the host the agent is on,
 * naming origin, the daemon that answers for it. -1: no route now.
 */
static int
daemon_route_on(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const char *origin, const void *data, uint64_t len)
{
	char host[64];
	struct link *l;
	json_t *m;

	if ((l = daemon_route_link(d, to, host, sizeof host)) == NULL) {
		log_debug("message %s#%llu to %s: no route now (host %s)",
		    from, (unsigned long long)seq, to, host[0] != '\0' ?
		    host : "?");
		return -1;
	}
	m = json_pack("{s:s, s:s, s:s, s:I}", "op", "msg", "agent", to, "from",
	    from, "seq", (json_int_t)seq);
	if (origin != NULL)
		json_object_set_new(m, "origin", json_string(origin));
	conn_send(l->conn, FRAME_AGENT, m, data, len);
	json_decref(m);
	return 0;
}

/*
 * A message that arrived from a peer: delivered (and acknowledged) here if
 * the agent runs here, else passed on. Numbers make delivery exactly-once
 * and ordered however the routes change while the agent moves; the origin
 * sends again what a broken link lost.
 */
static void
daemon_route(struct daemon *d, const char *to, const char *from, uint64_t seq,
    const char *origin, const void *data, uint64_t len)
{
	if (runner_deliver(d->runner, to, from, seq, data, len) == 0)
		daemon_ack(d, origin, to, from, seq);
	else
		(void)daemon_route_on(d, to, from, seq, origin, data, len);
}

/*
 * Keeps a message this daemon answers for until the receiving daemon
 * acknowledges it, and sends it; daemon_tick_cb sends it again until
 * then. -1 when the outbox is full.
 */
static int
daemon_keep(struct daemon *d, const char *to, const char *from, uint64_t seq,
    const void *data, uint64_t len, char **cause)
{
	if (outbox_add(d->outbox, to, from, seq, data, (size_t)len, clock_ms(),
	    cause) != 0)
		return -1;
	(void)daemon_route_on(d, to, from, seq, d->cfg.name, data, len);
	return 0;
}

/* A message this daemon answers for (numbered here, or held here for an
 * agent that left): delivered here, or kept and sent. */
static void
daemon_originate(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const void *data, uint64_t len)
{
	char *cause = NULL;

	if (runner_deliver(d->runner, to, from, seq, data, len) == 0 ||
	    daemon_keep(d, to, from, seq, data, len, &cause) == 0)
		return;
	log_error("message %s#%llu to %s lost: %s", from,
	    (unsigned long long)seq, to, cause);
	free(cause);
}

/* Another try for a message not yet acknowledged. */
static int
daemon_resend(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	struct daemon *d = arg;

	/* The agent came back here. */
	if (runner_deliver(d->runner, to, from, seq, data, len) == 0)
		return 1;
	log_debug("message %s#%llu to %s: not acknowledged after %d tries, "
	    "sent again", from, (unsigned long long)seq, to, tries);
	(void)daemon_route_on(d, to, from, seq, d->cfg.name, data, len);
	return 0;
}

static int
daemon_give_up(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	(void)arg;
	(void)data;
	(void)len;
	log_warn("message %s#%llu to %s: not acknowledged in %d s (%d tries), "
	    "dropped", from, (unsigned long long)seq, to,
	    OUTBOX_GIVEUP_MS / 1000, tries);
	return 1;
}

/* What the other daemons say about agents: messages, moves, go. */
static void
daemon_peer_agent(struct daemon *d, struct link *l, struct frame *f)
{
	const char *op = str_field(f->meta, "op");
	const char *agent = str_field(f->meta, "agent");
	const char *from = str_field(f->meta, "from"), *host;
	char *cause = NULL;

	(void)l;
	if (op == NULL || agent == NULL)
		return;
	if (strcmp(op, "msg") == 0 && from != NULL)
		daemon_route(d, agent, from, (uint64_t)json_integer_value(
		    json_object_get(f->meta, "seq")), str_field(f->meta,
		    "origin"), f->payload, f->payload_len);
	else if (strcmp(op, "msg-ack") == 0 && from != NULL)
		(void)outbox_ack(d->outbox, agent, from,
		    (uint64_t)json_integer_value(json_object_get(f->meta,
		    "seq")));
	else if (strcmp(op, "moved") == 0 &&
	    (host = str_field(f->meta, "host")) != NULL) {
		if (!runner_has(d->runner, agent))
			json_object_set_new(d->where, agent, json_string(host));
	} else if (strcmp(op, "go") == 0) {
		/* Phase 4 at the source is done: this copy is the agent. */
		if (runner_control(d->runner, agent, "go", NULL, &cause) != 0) {
			log_warn("agent %s: go: %s", agent, cause);
			free(cause);
		}
	}
}

struct move {
	char	agent[96];
	char	host[64];
};

static void
move_abort(struct daemon *d, struct move *mv, const char *why)
{
	/* An agent whose worker died meanwhile (or that shutdown stopped)
	 * was reported then. */
	if (!runner_has(d->runner, mv->agent)) {
		log_info("agent %s: move to %s ended: %s; the agent had "
		    "already stopped", mv->agent, mv->host, why);
		return;
	}
	log_warn("agent %s: move to %s failed: %s; it carries on here",
	    mv->agent, mv->host, why);
	json_decref(runner_move_done(d->runner, mv->agent, 0));
	daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event",
	    "move-failed", "agent", mv->agent, "host", d->cfg.name, "to",
	    mv->host, "reason", why));
}

/* Phase 1 answered: commit (switch, forward, go, drop) or abort. */
static void
move_accepted(struct daemon *d, json_t *reply, struct frame *f, void *arg)
{
	struct move *mv = arg;
	struct link *l, *p;
	json_t *carry, *m;
	size_t i;
	char *data;

	(void)f;
	if (reply == NULL || !json_is_true(json_object_get(reply, "ok")) ||
	    (l = link_of_peer(d, mv->host)) == NULL) {
		move_abort(d, mv, reply == NULL ? "the destination went away" :
		    json_string_value(json_object_get(reply, "error")) != NULL ?
		    json_string_value(json_object_get(reply, "error")) :
		    "the destination is gone");
		free(mv);
		return;
	}
	log_debug("agent %s: accepted by %s", mv->agent, mv->host);
	/* Phase 2: the directory switches. */
	json_object_set_new(d->where, mv->agent, json_string(mv->host));
	carry = runner_move_done(d->runner, mv->agent, 1);
	/* Phase 3: what waited here goes on, ahead of the go. */
	json_array_foreach(json_object_get(carry, "pending"), i, m) {
		const char *hex = str_field(m, "data");
		size_t n = hex != NULL ? strlen(hex) / 2 : 0;

		data = xmalloc(n + 1);
		/* Held here, so this daemon answers for them now. */
		if (hex != NULL && auth_unhex(hex, (unsigned char *)data,
		    n) == 0 && str_field(m, "from") != NULL)
			daemon_originate(d, mv->agent, str_field(m, "from"),
			    (uint64_t)json_integer_value(json_object_get(m,
			    "seq")), data, n);
		free(data);
	}
	json_decref(carry);
	m = json_pack("{s:s, s:s}", "op", "go", "agent", mv->agent);
	conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
	/* Everyone learns the new place; the source copy is already gone. */
	m = json_pack("{s:s, s:s, s:s}", "op", "moved", "agent", mv->agent,
	    "host", mv->host);
	for (p = d->links; p != NULL; p = p->next)
		if (p->peer >= 0 && p != l && conn_is_ready(p->conn))
			conn_send(p->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
	log_info("agent %s moved to %s", mv->agent, mv->host);
	daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}", "event", "moved",
	    "agent", mv->agent, "from", d->cfg.name, "host", mv->host));
	free(mv);
}

/*
 * The worker packed itself to go to host: phase 1 at the destination. The
 * packed state is taken from the runner and sent without a copy.
 */
static void
daemon_migrate(struct daemon *d, const char *agent, const char *host,
    json_t *meta)
{
	struct move *mv = xcalloc(1, sizeof *mv);
	struct conn_source src;
	struct link *l;
	json_t *req;
	void *state;
	uint64_t len = 0;

	snprintf(mv->agent, sizeof mv->agent, "%s", agent);
	snprintf(mv->host, sizeof mv->host, "%s", host);
	if ((l = link_of_peer(d, host)) == NULL) {
		move_abort(d, mv, peer_find(d, host) < 0 ? "no such host" :
		    "the host is down");
		free(mv);
		return;
	}
	req = json_pack("{s:s, s:s, s:s, s:s, s:O, s:o, s:s}", "op",
	    "agent-accept", "agent", agent, "code",
	    runner_code(d->runner, agent), "type", runner_type(d->runner,
	    agent), "step", json_object_get(meta, "step"), "delivery",
	    runner_delivery(d->runner, agent), "job", runner_job(d->runner,
	    agent));
	log_debug("agent %s: agent-accept to %s", agent, host);
	/* A large state is read, MAC'd and sent a slice at a time. */
	if (runner_take_stream(d->runner, agent, &src, &len) == 0) {
		peer_request_stream(d, l, req, &src, len, move_accepted, mv);
		return;
	}
	state = runner_take_state(d->runner, agent, &len);
	peer_request_owned(d, l, req, state, len, move_accepted, mv);
}

static void
arrival_free(struct arrival *a)
{
	json_decref(a->reply_id);
	json_decref(a->meta);
	bigbuf_free(a->state);
	free(a);
}

static void
arrival_remove(struct daemon *d, struct arrival *a)
{
	struct arrival **pp;

	for (pp = &d->arrivals; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	arrival_free(a);
}

static void
arrival_answer(struct daemon *d, struct arrival *a, const char *error)
{
	struct link *l = link_by_serial(d, a->link);

	if (error != NULL)
		runner_unprepare(d->runner, a->state);
	if (l != NULL)
		reply(l->conn, a->reply_id, error == NULL, error, NULL);
	arrival_remove(d, a);
}

/* Launches the arriving agent, held until the source says go. */
static void
arrival_start(struct daemon *d, struct arrival *a)
{
	char path[1024], *cause = NULL;
	json_t *info = daemon_host_info(d);
	struct runner_spawn sp = { .id = a->agent, .code_sha = a->code,
	    .code_path = codestore_path(d->code, a->code, path, sizeof path),
	    .owned = a->state, .owned_len = a->len,
	    .step = (uint64_t)json_integer_value(json_object_get(a->meta,
	    "step")), .host = info,
	    .delivery = json_object_get(a->meta, "delivery") };

	a->state = NULL;	/* the runner's now */
	if (runner_start(d->runner, &sp, &cause) != 0) {
		arrival_answer(d, a, cause);
		free(cause);
	} else {
		a->started = 1;
		runner_set_job(d->runner, a->agent, str_field(a->meta, "job"));
		json_object_set_new(d->where, a->agent,
		    json_string(d->cfg.name));
	}
	json_decref(info);
}

static void
arrival_code(struct daemon *d, json_t *reply, struct frame *f, void *arg)
{
	struct arrival *a = arg;
	char *cause = NULL;

	if (reply == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		arrival_answer(d, a, "cannot fetch the agent's code");
		return;
	}
	if (codestore_put(d->code, f->payload, (size_t)f->payload_len,
	    a->code, NULL, &cause) != 0) {
		arrival_answer(d, a, cause);
		free(cause);
		return;
	}
	log_info("fetched code %s (%llu bytes) for agent %s", a->code,
	    (unsigned long long)f->payload_len, a->agent);
	arrival_start(d, a);
}

/* Phase 1 at the destination: take the state, create, do not start. */
static void
op_accept(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const char *code = str_field(f->meta, "code");
	const char *refused = NULL;
	struct arrival *a;
	json_t *req;

	if (agent == NULL || code == NULL || !codestore_valid(code) ||
	    strlen(agent) >= sizeof a->agent ||
	    !json_is_object(json_object_get(f->meta, "delivery")))
		refused = "agent-accept needs agent, code and delivery";
	else if (runner_has(d->runner, agent))
		refused = "the agent already runs here";
	else if (d->draining)
		refused = "the host is draining";
	if (refused != NULL) {
		/* No worker waits for what is not taken. */
		runner_unprepare(d->runner, f->payload);
		reply(l->conn, id, 0, refused, NULL);
		return;
	}
	log_debug("agent %s: arriving, %llu bytes", agent,
	    (unsigned long long)f->payload_len);
	a = xcalloc(1, sizeof *a);
	snprintf(a->agent, sizeof a->agent, "%s", agent);
	snprintf(a->code, sizeof a->code, "%s", code);
	a->link = l->serial;
	a->reply_id = json_incref(id);
	a->meta = json_incref(f->meta);
	a->state = f->payload;
	a->len = f->payload_len;
	f->payload = NULL;
	a->next = d->arrivals;
	d->arrivals = a;
	if (codestore_has(d->code, code)) {
		arrival_start(d, a);
		return;
	}
	/* Code travels once per host: fetched from the sender, verified. */
	req = json_pack("{s:s, s:s}", "op", "code-get", "sha256", code);
	peer_request(d, l, req, NULL, 0, arrival_code, a);
}

static void
op_code_get(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");
	char path[1024], got[CODESTORE_HEX], *cause = NULL;
	void *buf = NULL;
	size_t len;

	if (sha == NULL || !codestore_has(d->code, sha) ||
	    codestore_read_file(codestore_path(d->code, sha, path,
	    sizeof path), &buf, &len, got, &cause) != 0) {
		reply(l->conn, id, 0, "no such code here", NULL);
		free(cause);
		return;
	}
	id = json_pack("{s:O, s:b}", "id", id, "ok", 1);
	conn_send(l->conn, FRAME_REPLY, id, buf, len);
	json_decref(id);
	free(buf);
}
