/* The daemon's event loop: listener, peers, heartbeats, requests, events. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "alloc.h"
#include "codestore.h"
#include "conn.h"
#include "daemon.h"
#include "hosts.h"
#include "log.h"
#include "runner.h"

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
	int		 peer;		/* index into peers, or -1 */
	int		 subscribed;	/* gets events */
	struct link	*prev, *next;
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
	struct peer		*peers;
	int			 npeers;
	struct link		*links;
	uint64_t		 last_heartbeat;
	int			 exit_status;
};

static const struct conn_ops daemon_conn_ops;
static void	daemon_migrate(struct daemon *, const char *agent,
		    const char *host, json_t *meta, const unsigned char *state,
		    uint64_t len);

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What this host has, as sent in heartbeats and host lists. */
static json_t *
daemon_host_info(struct daemon *d)
{
	double load[1] = { 0 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
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
	return json_pack("{s:s, s:s, s:i, s:I, s:f, s:i, s:i}",
	    "name", d->cfg.name, "address", d->cfg.listen_text,
	    "cores", (int)(cores > 0 ? cores : 1),
	    "mem_bytes", (json_int_t)pages * psize, "load", load[0],
	    "gpus", gpus, "agents", d->runner != NULL ?
	    runner_count(d->runner) : 0);
}

static void
daemon_event(struct daemon *d, json_t *ev)
{
	struct link *l;

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
	if (up)
		log_info("host %s (%s) up", p->name, p->address);
	else
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
	p->last_seen = now_ms();
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
	log_debug("%s: closed: %s", conn_label(c), why);
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
	uint64_t t = now_ms();
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

/* Spawns an agent here from stored code; the reply names it. */
static void
op_spawn(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *code = str_field(f->meta, "code");
	json_t *args = json_object_get(f->meta, "args"), *host;
	char path[1024], aid[96], *cause = NULL, *text;

	if (code == NULL || !codestore_valid(code)) {
		reply(l->conn, id, 0, "spawn: code must be a SHA-256 in hex",
		    NULL);
		return;
	}
	if (!codestore_has(d->code, code)) {
		reply(l->conn, id, 0, "spawn: no such code here (send it "
		    "with code-put first)", NULL);
		return;
	}
	snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name, ++d->next_agent);
	text = json_is_string(args) ? xstrdup(json_string_value(args)) :
	    json_dumps(args != NULL ? args : json_object(), JSON_COMPACT);
	host = daemon_host_info(d);
	if (runner_start(d->runner, aid, code, codestore_path(d->code, code,
	    path, sizeof path), text, NULL, 0, 0, host, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
	} else
		reply(l->conn, id, 1, NULL, json_pack("{s:s, s:s}", "agent",
		    aid, "host", d->cfg.name));
	json_decref(host);
	free(text);
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
	if (runner_control(d->runner, agent, strcmp(op, "kill") == 0 ?
	    "stop" : op, str_field(f->meta, "host"), &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	reply(l->conn, id, 1, NULL, NULL);
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
	} else if (strcmp(op, "agents") == 0)
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
	else if (strcmp(op, "send") == 0) {
		if (str_field(f->meta, "agent") == NULL ||
		    runner_deliver(d->runner, str_field(f->meta, "agent"),
		    conn_name(l->conn), f->payload, f->payload_len) != 0)
			reply(l->conn, id, 0, "no such agent here", NULL);
		else
			reply(l->conn, id, 1, NULL, NULL);
	} else if (strcmp(op, "kill") == 0 || strcmp(op, "suspend") == 0 ||
	    strcmp(op, "resume") == 0 || strcmp(op, "migrate") == 0 ||
	    strcmp(op, "clone") == 0)
		op_control(d, l, id, op, f);
	else
		reply(l->conn, id, 0, "unknown op", NULL);
}

static void
daemon_frame(struct conn *c, struct frame *f, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	struct peer *p;

	if (l->peer >= 0) {
		p = &d->peers[l->peer];
		p->last_seen = now_ms();
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
		if (l->peer < 0)
			conn_send(c, FRAME_PONG, NULL, NULL, 0);
		break;
	case FRAME_PONG:
	case FRAME_REPLY:
	case FRAME_EVENT:
		break;
	default:
		log_warn("%s: unexpected %s frame; closing", conn_label(c),
		    frame_type_name(f->type));
		conn_close(c, "unexpected frame");
		break;
	}
	frame_free(f);
}

static const struct conn_ops daemon_conn_ops = {
	.frame = daemon_frame,
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
	uint64_t t = now_ms();
	char *cause = NULL, why[64];
	json_t *info = NULL;
	int i, beat = t - d->last_heartbeat >= DAEMON_HEARTBEAT_MS;

	(void)fd;
	(void)what;
	if (beat) {
		d->last_heartbeat = t;
		info = daemon_host_info(d);
	}
	for (i = 0; i < d->npeers; i++) {
		p = &d->peers[i];
		if (p->conn != NULL && conn_is_ready(p->conn)) {
			if (t - p->last_seen > (uint64_t)d->cfg.down_after_ms) {
				snprintf(why, sizeof why, "no heartbeat for "
				    "%.1f s", (t - p->last_seen) / 1000.0);
				conn_close(p->conn, why);
				continue;
			}
			if (beat)
				conn_send(p->conn, FRAME_PING, info, NULL, 0);
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
	json_decref(info);
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
	daemon_event(arg, ev);
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

	if (strcmp(op, "send") == 0) {
		to = str_field(meta, "to");
		if (to == NULL || runner_deliver(d->runner, to, agent, payload,
		    len) != 0)
			log_warn("agent %s: message to unknown agent %s",
			    agent, to != NULL ? to : "?");
	} else if (strcmp(op, "clone") == 0) {
		code = runner_code(d->runner, agent);
		snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name,
		    ++d->next_agent);
		info = daemon_host_info(d);
		if (code == NULL || runner_start(d->runner, aid, code,
		    codestore_path(d->code, code, path, sizeof path), NULL,
		    payload, len, 0, info, &cause) != 0) {
			log_warn("agent %s: clone failed: %s", agent,
			    cause != NULL ? cause : "unknown code");
			free(cause);
		} else
			daemon_event(d, json_pack("{s:s, s:s, s:s, s:s}",
			    "event", "cloned", "agent", agent, "clone", aid,
			    "host", d->cfg.name));
		json_decref(info);
	} else if (strcmp(op, "moving") == 0) {
		host = str_field(meta, "host");
		/* A move to where it already is costs nothing. */
		if (host == NULL || strcmp(host, d->cfg.name) == 0) {
			q = runner_move_done(d->runner, agent, 0);
			json_decref(q);
			return;
		}
		daemon_migrate(d, agent, host, meta, payload, len);
	} else
		log_warn("agent %s: %s is not supported yet", agent, op);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
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
	event_base_loopexit(d->base, NULL);
}

struct daemon *
daemon_new(const struct daemon_config *cfg, char **cause)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	struct timeval tick = { 0, TICK_MS * 1000 };

	d->cfg = *cfg;
	if (d->cfg.down_after_ms <= 0)
		d->cfg.down_after_ms = DAEMON_DOWN_AFTER_MS;
	d->base = event_base_new();
	if (daemon_load_hosts(d, cause) != 0)
		goto fail;
	if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		nn_fail(cause, "--state %s: %s", cfg->state_dir,
		    strerror(errno));
		goto fail;
	}
	if ((d->code = codestore_new(cfg->state_dir, cause)) == NULL)
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
	/* Agents are stopped, and their owners told, before links close. */
	runner_free(d->runner);
	d->runner = NULL;
	while (d->links != NULL)
		conn_close(d->links->conn, "daemon shutting down");
	codestore_free(d->code);
	daemon_free_peers(d);
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

/* Moves between daemons come next; until then the agent stays. */
static void
daemon_migrate(struct daemon *d, const char *agent, const char *host,
    json_t *meta, const unsigned char *state, uint64_t len)
{
	json_t *q;

	(void)meta;
	(void)state;
	(void)len;
	log_warn("agent %s: cannot move to %s yet; it stays here", agent, host);
	q = runner_move_done(d->runner, agent, 0);
	json_decref(q);
}
