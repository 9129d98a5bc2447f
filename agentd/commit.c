/*
 * Commits: an agent's packed state (agent_commit) kept in the memory of
 * other hosts, so that its owner can resume it there when the agent's host
 * dies (docs/elastic.md). The agent's daemon sends each commit to the next
 * live hosts after it in the hosts file; they keep the last one per agent
 * (commitstore) and start the agent from it on a spawn that names it.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "agentd/agent.h"
#include "agentd/bigbuf.h"
#include "base/clock.h"
#include "agentd/commitstore.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "agentd/state.h"
#include "base/alloc.h"

/* One commit on its way to its holders. */
struct commit_round {
	char		 agent[96];
	char		 series[96];	/* the worker's run, or "" */
	json_int_t	 seq;		/* the worker's number for it */
	int		 delta;		/* without the static sections */
	int		 again;		/* a holder lacked the delta's base */
	json_t		*note;
	json_t		*hosts;		/* those that hold it */
	char		 errors[512];	/* why the others do not */
	int		 waiting;
	uint64_t	 bytes;
	json_int_t	 step;
	uint64_t	 started_ms;
};

static void
commit_failed(struct daemon *d, const char *agent, const char *why)
{
	log_warn("agent %s: commit failed: %s", agent, why);
	daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:s}", "event",
	    "commit-failed", "agent", agent, "host", d->cfg.name, "reason",
	    why));
}

/* Whether host is among the holders of agent's run series. */
static int
commit_has_base(struct daemon *d, const char *agent, const char *series,
    const char *host)
{
	json_t *b = json_object_get(d->commit_bases, agent), *h;
	size_t i;

	if (b == NULL || series[0] == '\0' || json_string_value(
	    json_object_get(b, "series")) == NULL || strcmp(json_string_value(
	    json_object_get(b, "series")), series) != 0)
		return 0;
	json_array_foreach(json_object_get(b, "hosts"), i, h) {
		if (strcmp(json_string_value(h), host) == 0)
			return 1;
	}
	return 0;
}

/* Tells the agent's worker how its commit went (worker.c). */
static void
commit_tell_worker(struct daemon *d, struct commit_round *c, int bases)
{
	json_t *m;

	/* Its cost here spaces the agent's next commit. */
	m = json_pack("{s:s, s:I, s:I, s:b, s:b}", "op", "committed", "ms",
	    (json_int_t)(clock_ms() - c->started_ms), "seq", c->seq, "bases",
	    bases, "again", c->again);
	runner_send(d->runner, c->agent, m);
	json_decref(m);
}

static void
commit_round_free(struct commit_round *c)
{
	json_decref(c->note);
	json_decref(c->hosts);
	free(c);
}

static void
commit_put_done(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct commit_round *c = arg;
	const char *host = str_field(rep, "host"), *error;
	size_t n = strlen(c->errors);
	int all;

	(void)f;
	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    host != NULL)
		json_array_append_new(c->hosts, json_string(host));
	else {
		error = rep == NULL ? "the host went away" :
		    str_field(rep, "error") != NULL ? str_field(rep, "error") :
		    "refused";
		if (rep != NULL && json_is_false(json_object_get(rep, "base")))
			c->again = 1;
		snprintf(c->errors + n, sizeof c->errors - n, "%s%s",
		    n > 0 ? "; " : "", error);
	}
	if (--c->waiting > 0)
		return;
	json_object_del(d->commits_busy, c->agent);
	all = c->errors[0] == '\0';
	/* The holders of this run's static sections: those of a full commit,
	 * less those that failed a delta since. */
	if (c->series[0] != '\0' && json_array_size(c->hosts) > 0)
		json_object_set_new(d->commit_bases, c->agent, json_pack("{s:s, "
		    "s:O}", "series", c->series, "hosts", c->hosts));
	else if (c->series[0] != '\0')
		json_object_del(d->commit_bases, c->agent);
	commit_tell_worker(d, c, all && c->series[0] != '\0');
	if (json_array_size(c->hosts) > 0) {
		log_debug("agent %s: committed %llu bytes%s (step %lld) in %llu "
		    "ms", c->agent, (unsigned long long)c->bytes, c->delta ?
		    " without its static sections" : "", (long long)c->step,
		    (unsigned long long)(clock_ms() - c->started_ms));
		daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:O, s:O, "
		    "s:I, s:I, s:I, s:b}", "event", "committed", "agent",
		    c->agent, "host", d->cfg.name, "hosts", c->hosts, "note",
		    c->note, "bytes", (json_int_t)c->bytes, "step", c->step,
		    "ms", (json_int_t)(clock_ms() - c->started_ms), "delta",
		    c->delta));
	} else if (c->again)
		log_info("agent %s: a holder lacks this run's full commit; a "
		    "full one follows", c->agent);
	else
		commit_failed(d, c->agent, c->errors);
	commit_round_free(c);
}

/* Forgets the bases of agents no longer here. */
static void
commit_bases_tidy(struct daemon *d)
{
	const char *agent;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(d->commit_bases, tmp, agent, v) {
		if (runner_code(d->runner, agent) == NULL)
			json_object_del(d->commit_bases, agent);
	}
}

/*
 * commit {replicas, note, step, series, seq[, static]} from agent's worker
 * with its packed state: to the next replicas live hosts after this one in
 * the hosts file. With static, the state lacks the sections so named,
 * which each holder has from this run's (series') full commit; when one
 * of the hosts does not, nothing is sent and the worker commits in full.
 * One commit of an agent at a time: a later one while it travels is
 * dropped (the agent commits again at its next interval).
 */
void
worker_request_commit(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	json_int_t want = json_integer_value(json_object_get(meta,
	    "replicas"));
	const char *code = runner_code(d->runner, agent);
	const char *job = runner_job(d->runner, agent);
	const char *series = str_field(meta, "series");
	json_t *kept = json_object_get(meta, "static");
	struct commit_round *c;
	struct peer *to[AGENT_COMMIT_REPLICAS_MAX];
	struct peer *p;
	struct conn_source src;
	uint64_t srclen;
	json_t *req, *note = json_object_get(meta, "note");
	int i, k, n = 0;

	if (str_field(meta, "error") != NULL) {
		commit_failed(d, agent, str_field(meta, "error"));
		return;
	}
	if (json_object_get(d->commits_busy, agent) != NULL) {
		log_info("agent %s: a commit is still on its way; this one is "
		    "skipped", agent);
		return;
	}
	commit_bases_tidy(d);
	if (want < 1 || want > AGENT_COMMIT_REPLICAS_MAX)
		want = 1;
	c = xcalloc(1, sizeof *c);
	snprintf(c->agent, sizeof c->agent, "%s", agent);
	snprintf(c->series, sizeof c->series, "%s", series != NULL ? series :
	    "");
	c->seq = json_integer_value(json_object_get(meta, "seq"));
	c->delta = json_is_array(kept);
	c->note = json_is_object(note) ? json_incref(note) : json_object();
	c->hosts = json_array();
	c->bytes = len;
	c->step = json_integer_value(json_object_get(meta, "step"));
	c->started_ms = clock_ms();
	for (k = 0; k < d->npeers && n < want; k++) {
		/* The hosts after this one, in the hosts file's order. */
		i = (d->self_index + k) % d->npeers;
		p = &d->peers[i];
		if (!p->up || link_of_peer(d, p->name) == NULL ||
		    json_is_true(json_object_get(p->info, "draining")))
			continue;
		if (c->delta && !commit_has_base(d, agent, c->series,
		    p->name)) {
			log_info("agent %s: host %s lacks this run's full "
			    "commit; the agent commits in full", agent,
			    p->name);
			c->again = 1;
			commit_tell_worker(d, c, 0);
			commit_round_free(c);
			return;
		}
		to[n++] = p;
	}
	for (k = 0; k < n; k++) {
		req = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O, s:s}", "op",
		    "commit-put", "agent", agent, "code", code != NULL ? code :
		    "", "job", job != NULL ? job : "", "step", c->step,
		    "note", c->note, "series", c->series);
		if (c->delta)
			json_object_set(req, "static", kept);
		if (json_is_array(json_object_get(meta, "partial")))
			json_object_set(req, "partial", json_object_get(meta,
			    "partial"));
		c->waiting++;
		/* Read from the worker's memory, the sections it kept sent
		 * from our mapping of them; or sent from the worker's frame,
		 * uncopied, when it is the pool's: a copy would fault in
		 * fresh pages each time. */
		if (payload == NULL && runner_commit_source(d->runner, agent,
		    &src, &srclen) == 0)
			peer_request_stream(d, link_of_peer(d, to[k]->name),
			    req, &src, srclen, commit_put_done, c);
		else if (payload == NULL) {
			/* Cannot be: the runner holds it during this call. */
			json_decref(req);
			c->waiting--;
		} else if (bigbuf_hold((void *)(uintptr_t)payload) == 0)
			peer_request_owned(d, link_of_peer(d, to[k]->name), req,
			    (void *)(uintptr_t)payload, len, commit_put_done,
			    c);
		else
			peer_request(d, link_of_peer(d, to[k]->name), req,
			    payload, len, commit_put_done, c);
	}
	if (c->waiting == 0) {
		commit_failed(d, agent, "no other host is up to hold it");
		commit_round_free(c);
		return;
	}
	json_object_set_new(d->commits_busy, agent, json_true());
}

/*
 * commit-put {agent, code, job, step, note, series[, static]} from a peer:
 * kept here. With static, it lacks those sections, which the full commit
 * of the same series held here supplies.
 */
void
op_commit_put(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const char *code = str_field(f->meta, "code");
	const char *series = str_field(f->meta, "series");
	const char *had;
	json_t *kept = json_object_get(f->meta, "static");
	char *cause = NULL;
	json_t *meta;
	void *data;
	uint64_t len = f->payload_len;
	int rc;

	if (!daemon_id_ok(agent) || code == NULL || len == 0) {
		reply(l->conn, id, 0, "commit-put: needs an agent id, its code "
		    "and a state", NULL);
		return;
	}
	if (kept != NULL && (!json_is_array(kept) || series == NULL)) {
		reply(l->conn, id, 0, "commit-put: static must be a list of "
		    "section names, with the series", NULL);
		return;
	}
	if (kept != NULL && ((had = commitstore_series(d->commits, agent)) ==
	    NULL || strcmp(had, series) != 0)) {
		reply(l->conn, id, 0, "no full commit of this run here",
		    json_pack("{s:s, s:b}", "host", d->cfg.name, "base", 0));
		return;
	}
	meta = json_pack("{s:s, s:O, s:O, s:O, s:s, s:s}", "code", code, "job",
	    json_object_get(f->meta, "job"), "step", json_object_get(f->meta,
	    "step"), "note", json_object_get(f->meta, "note"), "from",
	    conn_label(l->conn), "series", series != NULL ? series : "");
	/* Without these sections (agent_commit_changing): a spawn from it
	 * must bring them. */
	if (json_is_array(json_object_get(f->meta, "partial")))
		json_object_set(meta, "partial", json_object_get(f->meta,
		    "partial"));
	data = f->payload;
	f->payload = NULL;
	f->payload_len = 0;
	rc = kept != NULL ? commitstore_put_delta(d->commits, agent, meta, data,
	    len, kept, time(NULL), &cause) : commitstore_put(d->commits, agent,
	    meta, data, len, time(NULL), &cause);
	if (rc != 0) {
		log_warn("agent %s: commit of %llu bytes refused: %s", agent,
		    (unsigned long long)len, cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	log_debug("agent %s: holding its commit of %llu bytes%s", agent,
	    (unsigned long long)len, kept != NULL ? " (a delta)" : "");
	reply(l->conn, id, 1, NULL, json_pack("{s:s}", "host", d->cfg.name));
}

/* A request that names another host is answered there. 1 if passed on. */
static int
commit_route(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *host = str_field(f->meta, "host");

	if (host == NULL || host[0] == '\0' || strcmp(host, d->cfg.name) == 0 ||
	    conn_peer_role(l->conn) == CONN_PEER)
		return 0;
	daemon_forward(d, l, id, host, f->meta, NULL, 0, NULL);
	return 1;
}

/* commit-drop {agent, host}: the owner no longer needs that commit. */
void
op_commit_drop(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	int dropped;

	if (!daemon_id_ok(agent)) {
		reply(l->conn, id, 0, "commit-drop: agent must be an agent id",
		    NULL);
		return;
	}
	if (commit_route(d, l, id, f))
		return;
	dropped = commitstore_drop(d->commits, agent) == 0;
	if (dropped)
		log_debug("agent %s: its commit is dropped", agent);
	reply(l->conn, id, 1, NULL, json_pack("{s:s, s:b}", "host",
	    d->cfg.name, "dropped", dropped));
}

/* commit-get {agent, host, sections}: the commit itself, as the reply's
 * payload (a lost partition is rebuilt from a peer's); with sections
 * false, only its JSON, as the reply's json. */
void
op_commit_get(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	struct agent_state *st = NULL;
	const void *data;
	json_t *meta = NULL, *m;
	char *cause = NULL;
	uint64_t len;

	if (!daemon_id_ok(agent)) {
		reply(l->conn, id, 0, "commit-get: agent must be an agent id",
		    NULL);
		return;
	}
	if (commit_route(d, l, id, f))
		return;
	if ((data = commitstore_get(d->commits, agent, &meta, &len)) == NULL) {
		m = json_pack("{s:s, s:s}", "host", d->cfg.name, "agent",
		    agent);
		reply(l->conn, id, 0, "no commit of that agent here", m);
		return;
	}
	m = json_pack("{s:O, s:b, s:s, s:s, s:O}", "id", id, "ok", 1, "agent",
	    agent, "host", d->cfg.name, "meta", meta);
	if (json_is_false(json_object_get(f->meta, "sections"))) {
		if (agent_state_decode(data, (size_t)len, &st, &cause) != 0) {
			json_decref(m);
			reply(l->conn, id, 0, cause, NULL);
			free(cause);
			return;
		}
		json_object_set_new(m, "json", json_string(
		    agent_state_json(st) != NULL ? agent_state_json(st) :
		    "{}"));
		agent_state_free(st);
		data = NULL;
		len = 0;
	}
	conn_send(l->conn, FRAME_REPLY, m, data, len);
	json_decref(m);
}

/* commits {host}: the commits a host holds, and its limit. */
void
op_commits(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	if (commit_route(d, l, id, f))
		return;
	reply(l->conn, id, 1, NULL, json_pack("{s:s, s:I, s:I, s:o}", "host",
	    d->cfg.name, "bytes", (json_int_t)commitstore_bytes(d->commits),
	    "limit", (json_int_t)commitstore_limit(d->commits), "commits",
	    commitstore_list(d->commits, time(NULL))));
}

/*
 * The state to start an agent from: a copy of agent's commit here, which
 * must be of code; or, with overlay (an encoded state), overlay with the
 * commit's sections named in keep added, so that only what differs
 * travels (a lost partition is rebuilt from a peer's weights and its own
 * shard). NULL with cause when there is none or they do not fit.
 */
unsigned char *
commit_state(struct daemon *d, const char *agent, const char *code,
    const unsigned char *overlay, uint64_t overlay_len, json_t *keep,
    uint64_t *len, char **cause)
{
	const void *data;
	const char *had;
	unsigned char *copy;
	json_t *meta = NULL;
	size_t n = 0;
	char *why = NULL;

	if (!daemon_id_ok(agent)) {
		nn_fail(cause, "spawn: commit must be an agent id");
		return NULL;
	}
	if ((data = commitstore_get(d->commits, agent, &meta, len)) == NULL) {
		nn_fail(cause, "host %s holds no commit of agent %s",
		    d->cfg.name, agent);
		return NULL;
	}
	had = str_field(meta, "code");
	if (had == NULL || code == NULL || strcmp(had, code) != 0) {
		nn_fail(cause, "the commit of agent %s on %s is of code %s, "
		    "not %s", agent, d->cfg.name, had != NULL ? had : "?",
		    code != NULL ? code : "?");
		return NULL;
	}
	if ((overlay == NULL || overlay_len == 0) &&
	    json_is_array(json_object_get(meta, "partial"))) {
		nn_fail(cause, "the commit of agent %s on %s lacks its static "
		    "sections: a spawn from it must bring them", agent,
		    d->cfg.name);
		return NULL;
	}
	if (overlay != NULL && overlay_len > 0) {
		if (!json_is_array(keep) || json_array_size(keep) == 0) {
			nn_fail(cause, "spawn: a state with commit needs keep, "
			    "the names of the commit's sections to add");
			return NULL;
		}
		copy = agent_state_merge(data, (size_t)*len, overlay,
		    (size_t)overlay_len, keep, bigbuf_alloc, &n, &why);
		if (copy == NULL) {
			nn_fail(cause, "spawn: the state and the commit of "
			    "agent %s on %s: %s", agent, d->cfg.name, why);
			free(why);
			return NULL;
		}
		*len = n;
		return copy;
	}
	copy = bigbuf_alloc((size_t)*len);
	memcpy(copy, data, (size_t)*len);
	return copy;
}
