/* The daemon's moves (in four phases), arrivals, clones, draining, and what
 * workers ask of it. */
#include <string.h>

#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/table.h"

static void	daemon_clone_remote(struct daemon *d, const char *agent,
    const char *host, uint64_t step, const unsigned char *state,
    uint64_t len);
static void	daemon_migrate(struct daemon *d, const char *agent,
    const char *host, json_t *meta);

/*
 * The best other host for agent (NULL: any) leaving this one: up, not
 * draining, most free cores (in *free_cores when not NULL), and among
 * those the one that holds most of the data the agent maps
 * (docs/data-cache.md, "Placement"). NULL when there is none.
 */
const char *
daemon_pick_away(struct daemon *d, const char *agent, long *free_cores)
{
	json_t *uses = agent != NULL ? data_agent_uses(d, agent) : NULL;
	const char *best = NULL;
	long free_best = 0, f;
	size_t held_best = 0, held;
	int i;

	for (i = 0; i < d->npeers; i++) {
		if (!d->peers[i].up || d->peers[i].info == NULL ||
		    json_is_true(json_object_get(d->peers[i].info,
		    "draining")))
			continue;
		f = (long)json_integer_value(json_object_get(d->peers[i].info,
		    "cores")) - (long)json_integer_value(json_object_get(
		    d->peers[i].info, "agents"));
		held = uses != NULL ? data_blocks_held(d, d->peers[i].name,
		    uses) : 0;
		if (best == NULL || f > free_best || (f == free_best &&
		    held > held_best)) {
			free_best = f;
			held_best = held;
			best = d->peers[i].name;
		}
	}
	if (free_cores != NULL)
		*free_cores = free_best;
	return best;
}

/* A draining host asks each of its agents to move; again each tick. */
int
daemon_shed(struct daemon *d)
{
	json_t *list = runner_list(d->runner), *a, *rep;
	const char *to, *state;
	char *cause = NULL;
	size_t i;
	int asked = 0;

	json_array_foreach(list, i, a) {
		state = str_field(a, "state");
		if (state == NULL || strcmp(state, "running") != 0 ||
		    (to = daemon_pick_away(d, str_field(a, "id"), NULL)) ==
		    NULL)
			continue;
		if (runner_order(d->runner, str_field(a, "id"), "migrate", to,
		    &rep, &cause) == 0)
			asked++;
		json_decref(rep);
		free(cause);
		cause = NULL;
	}
	json_decref(list);
	return asked;
}

/* drain (or, drain 0, undrain): the host takes no new agents and moves
 * its own away. */
void
daemon_drain(struct daemon *d, struct link *l, json_t *id, struct frame *f,
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

/* A worker's request: the agent asking, its meta and payload. */
typedef void worker_request_fn(struct daemon *, const char *agent,
    json_t *meta, const unsigned char *payload, uint64_t len);

/* A message from the agent, numbered here. */
static void
worker_request_send(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	const char *to = str_field(meta, "to");

	if (to != NULL)
		daemon_originate(d, to, agent, runner_next_out(d->runner,
		    agent, to), payload, len);
}

/* A clone could not be made: its owner hears why. */
static void
clone_failed(struct daemon *d, const char *agent, const char *host,
    const char *why)
{
	log_warn("agent %s: clone to %s failed: %s", agent, host, why);
	daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event",
	    "clone-failed", "agent", agent, "host", d->cfg.name, "to", host,
	    "reason", why));
}

/*
 * A copy of the agent from its packed state, with its step count: on the
 * host asked for, or with none, on the other host with the most free
 * cores (here when no other is up).
 */
static void
worker_request_clone(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	const char *host = str_field(meta, "host"), *code;
	char aid[96], path[1024], *cause = NULL;
	struct runner_spawn sp;
	json_t *info;

	if (str_field(meta, "error") != NULL) {
		clone_failed(d, agent, host != NULL && host[0] != '\0' ? host :
		    d->cfg.name, str_field(meta, "error"));
		return;
	}
	if (host == NULL || host[0] == '\0')
		host = daemon_pick_away(d, agent, NULL);
	if (host != NULL && strcmp(host, d->cfg.name) != 0) {
		daemon_clone_remote(d, agent, host, (uint64_t)
		    json_integer_value(json_object_get(meta, "step")),
		    payload, len);
		return;
	}
	code = runner_code(d->runner, agent);
	snprintf(aid, sizeof aid, "%s.%lu", d->cfg.name, ++d->next_agent);
	info = daemon_host_info(d);
	sp = (struct runner_spawn){ .id = aid, .code_sha = code,
	    .state = payload, .len = len, .host = info,
	    .step = (uint64_t)json_integer_value(json_object_get(meta,
	    "step")), .progress = runner_progress(d->runner, agent),
	    .limits = runner_limits(d->runner, agent) };
	if (code != NULL)
		sp.code_path = codestore_path(d->code, code, path, sizeof path);
	if (code == NULL || runner_start(d->runner, &sp, &cause) != 0) {
		clone_failed(d, agent, d->cfg.name, cause != NULL ? cause :
		    "unknown code");
		free(cause);
	} else {
		runner_set_job(d->runner, aid, runner_job(d->runner, agent));
		directory_set(d->where, aid, d->cfg.name);
		daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}",
		    "event", "cloned", "agent", agent, "clone", aid, "host",
		    d->cfg.name));
	}
	json_decref(info);
}

/* The agent finished with a result, kept for its owner. */
static void
worker_request_done(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	(void)meta;
	daemon_result_store(d, agent, payload, len);
}

/* The agent is packed and wants to go to meta's host. */
static void
worker_request_moving(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	const char *host = str_field(meta, "host");

	(void)payload;
	(void)len;
	/* A move to where it already is costs nothing. */
	if (host == NULL || strcmp(host, d->cfg.name) == 0) {
		json_decref(runner_move_done(d->runner, agent, 0));
		return;
	}
	daemon_migrate(d, agent, host, meta);
}

/* What a worker asks of the daemon (runner.c passes them on), by name. */
static const struct worker_request_entry {
	const char		*name;
	worker_request_fn	*fn;
} worker_requests[] = {
	{ "clone", worker_request_clone },
	{ "commit", worker_request_commit },
	{ "data-map", worker_request_data_map },
	{ "done", worker_request_done },
	{ "moving", worker_request_moving },
	{ "send", worker_request_send },
	{ "spawn", worker_request_spawn },
};

/* What a worker asks of the daemon: messages, spawns, clones, moves. */
void
daemon_runner_request(void *arg, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	struct daemon *d = arg;
	const char *op = str_field(meta, "op");
	const struct worker_request_entry *e;

	if ((e = TABLE_FIND(worker_requests, op)) != NULL) {
		e->fn(d, agent, meta, payload, len);
		return;
	}
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
		clone_failed(d, w->agent, w->host, rep != NULL &&
		    str_field(rep, "error") != NULL ? str_field(rep, "error") :
		    "the host went away");
	} else {
		m = json_pack("{s:s, s:s}", "op", "go", "agent", w->clone);
		conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
		directory_set(d->where, w->clone, w->host);
		daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}", "event",
		    "cloned", "agent", w->agent, "clone", w->clone, "host",
		    w->host));
	}
	free(w);
}

/* A clone elsewhere is a move that leaves the original running. */
static void
daemon_clone_remote(struct daemon *d, const char *agent, const char *host,
    uint64_t step, const unsigned char *state, uint64_t len)
{
	struct clone_wait *w;
	struct link *l = link_of_peer(d, host);
	json_t *req;

	if (l == NULL) {
		clone_failed(d, agent, host, peer_find(d, host) < 0 ?
		    "no such host" : "the host is down");
		return;
	}
	w = xcalloc(1, sizeof *w);
	snprintf(w->agent, sizeof w->agent, "%s", agent);
	snprintf(w->clone, sizeof w->clone, "%s.%lu", d->cfg.name,
	    ++d->next_agent);
	snprintf(w->host, sizeof w->host, "%s", host);
	req = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:{s:{}, s:{}, "
	    "s:[]}, s:O*}", "op", "agent-accept", "agent", w->clone, "code",
	    runner_code(d->runner, agent), "type", runner_type(d->runner,
	    agent), "step", (json_int_t)step,
	    "progress", runner_progress(d->runner, agent), "job",
	    runner_job(d->runner, agent), "delivery", "next", "out",
	    "pending", "limits", runner_limits(d->runner, agent));
	peer_request(d, l, req, state, len, clone_accepted, w);
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
	directory_set(d->where, mv->agent, mv->host);
	carry = runner_move_done(d->runner, mv->agent, 1);
	/* Phase 3: what waited here goes on, ahead of the go. */
	json_array_foreach(json_object_get(carry, "pending"), i, m) {
		const char *hex = str_field(m, "data");
		size_t n = hex != NULL ? strlen(hex) / 2 : 0;

		data = xmalloc(n + 1);
		/* Held here, so this daemon answers for them now. */
		if (hex != NULL && crypto_unhex(hex, (unsigned char *)data,
		    n) == 0 && str_field(m, "from") != NULL)
			daemon_originate(d, mv->agent, str_field(m, "from"),
			    (uint64_t)json_integer_value(json_object_get(m,
			    "seq")), data, n);
		free(data);
	}
	/* The orders it could not take while moving apply where it lands. */
	m = json_pack("{s:s, s:s, s:O}", "op", "go", "agent", mv->agent,
	    "orders", json_object_get(carry, "orders"));
	json_decref(carry);
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
	req = json_pack("{s:s, s:s, s:s, s:s, s:O, s:o, s:s, s:b, s:f, s:O*, "
	    "s:O*}", "op", "agent-accept", "agent", agent, "code",
	    runner_code(d->runner, agent), "type", runner_type(d->runner,
	    agent), "step", json_object_get(meta, "step"), "delivery",
	    runner_delivery(d->runner, agent), "job", runner_job(d->runner,
	    agent), "suspended", runner_packed_suspended(d->runner, agent),
	    "progress", runner_progress(d->runner, agent), "limits",
	    runner_limits(d->runner, agent), "data", data_agent_uses(d,
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

void
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

void
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
	struct link *from = link_by_serial(d, a->link);
	struct runner_spawn sp = { .id = a->agent, .code_sha = a->code,
	    .code_path = codestore_path(d->code, a->code, path, sizeof path),
	    .owned = a->state, .owned_len = a->len,
	    .step = (uint64_t)json_integer_value(json_object_get(a->meta,
	    "step")), .host = info,
	    .progress = json_number_value(json_object_get(a->meta,
	    "progress")),
	    .suspended = json_is_true(json_object_get(a->meta, "suspended")),
	    .held_from = from != NULL && from->peer >= 0 ?
	    d->peers[from->peer].name : NULL,
	    .delivery = json_object_get(a->meta, "delivery"),
	    .limits = json_object_get(a->meta, "limits") };

	a->state = NULL;	/* the runner's now */
	if (runner_start(d->runner, &sp, &cause) != 0) {
		arrival_answer(d, a, cause);
		free(cause);
	} else {
		a->started = 1;
		runner_set_job(d->runner, a->agent, str_field(a->meta, "job"));
		directory_set(d->where, a->agent, d->cfg.name);
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
void
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
	/* Its rows come while its state does (docs/data-cache.md). */
	if (json_is_array(json_object_get(f->meta, "data"))) {
		data_agent_arrived(d, agent, json_object_get(f->meta, "data"));
		data_prefetch(d, json_object_get(f->meta, "data"));
	}
	if (codestore_has(d->code, code)) {
		arrival_start(d, a);
		return;
	}
	/* Code travels once per host: fetched from the sender, verified. */
	req = json_pack("{s:s, s:s}", "op", "code-get", "sha256", code);
	peer_request(d, l, req, NULL, 0, arrival_code, a);
}

void
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
