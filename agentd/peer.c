/* The daemon's links to the other daemons: connecting, heartbeats, host
 * information, and the frames a link carries. */
#include <dirent.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "agentd/codestore.h"
#include "agentd/commitstore.h"
#include "agentd/conn.h"
#include "agentd/datacache.h"
#include "agentd/daemon-internal.h"
#include "agentd/hosts.h"
#include "agentd/log.h"
#include "agentd/outbox.h"
#include "agentd/peercred.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/clock.h"

static const struct conn_ops daemon_conn_ops;

/* What this host has, as sent in heartbeats and host lists. */
json_t *
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
	return json_pack("{s:s, s:s, s:i, s:I, s:f, s:i, s:i, s:b, s:I, s:I, "
	    "s:o}",
	    "name", d->cfg.name, "address", d->cfg.listen_text,
	    "cores", (int)(cores > 0 ? cores : 1),
	    "mem_bytes", (json_int_t)pages * psize, "load", load[0],
	    "gpus", gpus, "agents", d->runner != NULL ?
	    runner_count(d->runner) : 0, "draining", d->draining,
	    "commit_bytes", (json_int_t)(d->commits != NULL ?
	    commitstore_bytes(d->commits) : 0), "cache_bytes", (json_int_t)
	    (d->cache != NULL ? datacache_used(d->cache) : 0), "cache",
	    d->cache != NULL ? data_host_info(d) : json_object());
}

/*
 * The agents here whose home daemon is down: it cannot tell the others
 * where they are any more, so this daemon does (a "moved" to every peer),
 * and messages to them find their way (a rebuilt partition's to its
 * predecessor, say). Again whenever a host goes or comes.
 */
static void
daemon_announce_orphans(struct daemon *d)
{
	json_t *list = runner_list(d->runner), *a, *m;
	const char *id;
	char home[64];
	struct link *l;
	size_t i;

	json_array_foreach(list, i, a) {
		id = str_field(a, "id");
		if (id == NULL || agent_home(id, home, sizeof home) != 0 ||
		    strcmp(home, d->cfg.name) == 0 ||
		    link_of_peer(d, home) != NULL)
			continue;
		m = json_pack("{s:s, s:s, s:s}", "op", "moved", "agent", id,
		    "host", d->cfg.name);
		for (l = d->links; l != NULL; l = l->next)
			if (l->peer >= 0 && conn_is_ready(l->conn))
				conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
	}
	json_decref(list);
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
	} else {
		log_warn("host %s (%s) down: %s", p->name, p->address, why);
		data_peer_down(d, p->name);
	}
	daemon_event(d, json_pack("{s:s, s:s, s:s}", "event",
	    up ? "host-up" : "host-down", "host", p->name, "reason",
	    up ? "" : why));
	daemon_announce_orphans(d);
}

struct link *
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

struct conn_config
daemon_conn_config(struct daemon *d)
{
	static const unsigned char zero[AUTH_KEY_SIZE];
	struct conn_config cc = {
		.base = d->base,
		.name = d->cfg.name,
		.key = d->cfg.have_key ? d->cfg.key : zero,
		.client_keys = d->cfg.client_keys,
		.nclient_keys = d->cfg.nclient_keys,
		.role = CONN_PEER,
		.encrypt = !d->cfg.plaintext,
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

/* Refusals of other users are logged at most this often. */
#define KEYLESS_LOG_MS	10000

/*
 * Keyless, a connection is served only when the process at its other end
 * runs as our euid: a loopback address alone says nothing about who. NULL,
 * or why not (static), which its HELLO is answered with.
 */
static const char *
daemon_keyless_refusal(int fd, const char *addr)
{
	static char why[96];
	static uint64_t last_log;
	static unsigned long quiet;
	char *cause = NULL, uidtext[32], more[64];
	uid_t uid;
	uint64_t now;

	if (peercred_tcp_uid(fd, &uid, &cause) == 0 && uid == geteuid())
		return NULL;
	snprintf(why, sizeof why, "keyless daemon accepts only its own user "
	    "(uid %lu)", (unsigned long)geteuid());
	now = clock_ms();
	if (last_log == 0 || now - last_log >= KEYLESS_LOG_MS) {
		if (cause != NULL)
			snprintf(uidtext, sizeof uidtext, "unknown");
		else
			snprintf(uidtext, sizeof uidtext, "%lu",
			    (unsigned long)uid);
		snprintf(more, sizeof more, " (%lu more since the last such "
		    "line)", quiet);
		log_warn("refusing %s: uid %s%s%s, and a keyless daemon "
		    "serves its own user alone (uid %lu)%s", addr, uidtext,
		    cause != NULL ? ": " : "", cause != NULL ? cause : "",
		    (unsigned long)geteuid(), quiet > 0 ? more : "");
		last_log = now;
		quiet = 0;
	} else
		quiet++;
	free(cause);
	return why;
}

/* Strangers knocking on a keyless daemon, said once a second at most. */
static struct log_rate peer_remote_rate;

void
daemon_accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct daemon *d = arg;
	struct conn_config cc = daemon_conn_config(d);
	struct conn *c;
	const char *why;
	char addr[80];

	(void)lst;
	/* Without a key the only proof of trust is being on this host. */
	if (!d->cfg.have_key && !is_loopback(sa)) {
		log_rated(&peer_remote_rate, LOG_WARN, "refusing %s: not a "
		    "loopback address, and a keyless daemon serves this host "
		    "alone (--key)", hosts_format_addr(sa, addr, sizeof addr));
		evutil_closesocket(fd);
		return;
	}
	if (limits_admit(d, sa, (socklen_t)len) != 0) {
		evutil_closesocket(fd);
		return;
	}
	c = conn_accept(&cc, fd, sa, (socklen_t)len);
	if (!d->cfg.have_key && (why = daemon_keyless_refusal(fd,
	    hosts_format_addr(sa, addr, sizeof addr))) != NULL)
		conn_refuse(c, why);
	limits_accepted(d, link_add(d, c, -1), sa, (socklen_t)len);
}

int
peer_find(struct daemon *d, const char *name)
{
	int i;

	for (i = 0; i < d->npeers; i++)
		if (strcmp(d->peers[i].name, name) == 0)
			return i;
	return -1;
}

struct link *
link_by_serial(struct daemon *d, unsigned long serial)
{
	struct link *l;

	for (l = d->links; l != NULL; l = l->next)
		if (l->serial == serial)
			return l;
	return NULL;
}

struct link *
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
void
peer_request(struct daemon *d, struct link *l, json_t *meta,
    const void *payload, uint64_t len, peer_reply_fn *cb, void *arg)
{
	pending_add(d, l, meta, cb, arg);
	conn_send(l->conn, FRAME_REQUEST, meta, payload, len);
	json_decref(meta);
}

/* peer_request that hands payload (malloc'd) over, sent uncopied. */
void
peer_request_owned(struct daemon *d, struct link *l, json_t *meta,
    void *payload, uint64_t len, peer_reply_fn *cb, void *arg)
{
	pending_add(d, l, meta, cb, arg);
	conn_send_owned(l->conn, FRAME_REQUEST, meta, payload, len);
	json_decref(meta);
}

/* peer_request whose payload (len bytes) comes from src as it is sent. */
void
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

/* l, authenticated, is the link to a member: the newest of a pair wins. */
void
peer_link_up(struct daemon *d, struct link *l)
{
	struct conn *c = l->conn;
	struct peer *p;
	json_t *info;
	int i;

	if ((i = peer_find(d, conn_name(c))) < 0)
		return;
	p = &d->peers[i];
	l->peer = i;
	/* A member's states start their workers while they arrive. */
	conn_set_trusted(c, 1);
	if (p->conn != NULL && p->conn != c)
		conn_close(p->conn, "replaced by a newer connection");
	p->conn = c;
	p->last_seen = clock_ms();
	peer_set_up(d, p, 1, NULL);
	info = daemon_host_info(d);
	conn_send(c, FRAME_PING, info, NULL, 0);
	json_decref(info);
	members_link_up(d, l);
	data_link_up(d, l);
}

static void
daemon_ready(struct conn *c, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;

	log_info("%s: authenticated", conn_label(c));
	limits_link_ready(d, l);
	if (members_join_ready(d, l) || conn_peer_role(c) != CONN_PEER)
		return;
	if (peer_find(d, conn_name(c)) < 0) {
		/* Not a member (yet): it may join, or a join passed on to us
		 * makes it one and this its link (docs/elastic.md). */
		log_info("%s: not a member yet; it may only join",
		    conn_label(c));
		return;
	}
	peer_link_up(d, l);
}

static void
daemon_closed(struct conn *c, const char *why, void *arg)
{
	struct link *l = arg;
	struct daemon *d = l->d;
	struct peer *p;

	members_join_closed(d, l, why);
	if (l->peer >= 0) {
		p = &d->peers[l->peer];
		if (p->conn == c) {
			p->conn = NULL;
			peer_set_up(d, p, 0, why);
			/* Its go can no longer come: an agent held for it
			 * carries on there. */
			runner_abandon(d->runner, p->name);
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

json_t *
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
		if (p->joined)
			json_object_set_new(h, "joined", json_true());
		if (p->last_seen > 0)
			json_object_set_new(h, "last_seen_ms",
			    json_integer((json_int_t)(t - p->last_seen)));
		json_array_append_new(a, h);
	}
	return json_pack("{s:o}", "hosts", a);
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
			data_peer_info(d, l->peer);
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
		if (conn_peer_role(c) != CONN_PEER || l->peer < 0) {
			conn_close(c, "agent frames come from members only");
			break;
		}
		daemon_peer_agent(d, l, f);
		break;
	case FRAME_EVENT:
		/* A peer relays events of agents made here. */
		if (conn_peer_role(c) == CONN_PEER && l->peer >= 0)
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
