/*
 * Commits: an agent's packed state (agent_commit) kept in the memory of
 * other hosts, so that its owner can resume it there when the agent's host
 * dies (docs/elastic.md). The agent's daemon sends each commit to the next
 * live hosts after it in the hosts file; they keep the last one per agent
 * (commitstore) and start the agent from it on a spawn that names it.
 */
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
#include "base/alloc.h"

/* One commit on its way to its holders. */
struct commit_round {
	char		 agent[96];
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

static void
commit_put_done(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct commit_round *c = arg;
	const char *host = str_field(rep, "host"), *error;
	size_t n = strlen(c->errors);
	json_t *m;

	(void)f;
	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    host != NULL)
		json_array_append_new(c->hosts, json_string(host));
	else {
		error = rep == NULL ? "the host went away" :
		    str_field(rep, "error") != NULL ? str_field(rep, "error") :
		    "refused";
		snprintf(c->errors + n, sizeof c->errors - n, "%s%s",
		    n > 0 ? "; " : "", error);
	}
	if (--c->waiting > 0)
		return;
	json_object_del(d->commits_busy, c->agent);
	/* Its cost here spaces the agent's next commit (worker.c). */
	m = json_pack("{s:s, s:I}", "op", "committed", "ms",
	    (json_int_t)(clock_ms() - c->started_ms));
	runner_send(d->runner, c->agent, m);
	json_decref(m);
	if (json_array_size(c->hosts) > 0) {
		log_debug("agent %s: committed %llu bytes (step %lld) in %llu "
		    "ms", c->agent, (unsigned long long)c->bytes,
		    (long long)c->step, (unsigned long long)(clock_ms() -
		    c->started_ms));
		daemon_agent_event(d, json_pack("{s:s, s:s, s:s, s:O, s:O, "
		    "s:I, s:I, s:I}", "event", "committed", "agent", c->agent,
		    "host", d->cfg.name, "hosts", c->hosts, "note", c->note,
		    "bytes", (json_int_t)c->bytes, "step", c->step, "ms",
		    (json_int_t)(clock_ms() - c->started_ms)));
	} else
		commit_failed(d, c->agent, c->errors);
	json_decref(c->note);
	json_decref(c->hosts);
	free(c);
}

/*
 * commit {replicas, note, step} from agent's worker with its packed state:
 * to the next replicas live hosts after this one in the hosts file. One
 * commit of an agent at a time: a later one while it travels is dropped
 * (the agent commits again at its next interval).
 */
void
worker_request_commit(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	json_int_t want = json_integer_value(json_object_get(meta,
	    "replicas"));
	const char *code = runner_code(d->runner, agent);
	const char *job = runner_job(d->runner, agent);
	struct commit_round *c;
	struct peer *p;
	struct link *l;
	json_t *req, *note = json_object_get(meta, "note");
	int i, k;

	if (str_field(meta, "error") != NULL) {
		commit_failed(d, agent, str_field(meta, "error"));
		return;
	}
	if (json_object_get(d->commits_busy, agent) != NULL) {
		log_info("agent %s: a commit is still on its way; this one is "
		    "skipped", agent);
		return;
	}
	if (want < 1 || want > AGENT_COMMIT_REPLICAS_MAX)
		want = 1;
	c = xcalloc(1, sizeof *c);
	snprintf(c->agent, sizeof c->agent, "%s", agent);
	c->note = json_is_object(note) ? json_incref(note) : json_object();
	c->hosts = json_array();
	c->bytes = len;
	c->step = json_integer_value(json_object_get(meta, "step"));
	c->started_ms = clock_ms();
	for (k = 0; k < d->npeers && c->waiting < want; k++) {
		/* The hosts after this one, in the hosts file's order. */
		i = (d->self_index + k) % d->npeers;
		p = &d->peers[i];
		if (!p->up || (l = link_of_peer(d, p->name)) == NULL ||
		    json_is_true(json_object_get(p->info, "draining")))
			continue;
		req = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O}", "op",
		    "commit-put", "agent", agent, "code", code != NULL ? code :
		    "", "job", job != NULL ? job : "", "step", c->step,
		    "note", c->note);
		c->waiting++;
		peer_request(d, l, req, payload, len, commit_put_done, c);
	}
	if (c->waiting == 0) {
		commit_failed(d, agent, "no other host is up to hold it");
		json_decref(c->note);
		json_decref(c->hosts);
		free(c);
		return;
	}
	json_object_set_new(d->commits_busy, agent, json_true());
}

/* commit-put {agent, code, job, step, note} from a peer: kept here. */
void
op_commit_put(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const char *code = str_field(f->meta, "code");
	char *cause = NULL;
	json_t *meta;
	void *data;
	uint64_t len = f->payload_len;

	if (!daemon_id_ok(agent) || code == NULL || len == 0) {
		reply(l->conn, id, 0, "commit-put: needs an agent id, its code "
		    "and a state", NULL);
		return;
	}
	meta = json_pack("{s:s, s:O, s:O, s:O, s:s}", "code", code, "job",
	    json_object_get(f->meta, "job"), "step", json_object_get(f->meta,
	    "step"), "note", json_object_get(f->meta, "note"), "from",
	    conn_label(l->conn));
	data = f->payload;
	f->payload = NULL;
	f->payload_len = 0;
	if (commitstore_put(d->commits, agent, meta, data, len, time(NULL),
	    &cause) != 0) {
		log_warn("agent %s: commit of %llu bytes refused: %s", agent,
		    (unsigned long long)len, cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	log_debug("agent %s: holding its commit of %llu bytes", agent,
	    (unsigned long long)len);
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

/* commit-get {agent, host}: the commit itself, as the reply's payload
 * (a lost partition is rebuilt from a peer's). */
void
op_commit_get(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const void *data;
	json_t *meta = NULL, *m;
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
 * must be of code. NULL with cause when there is none.
 */
unsigned char *
commit_state(struct daemon *d, const char *agent, const char *code,
    uint64_t *len, char **cause)
{
	const void *data;
	const char *had;
	unsigned char *copy;
	json_t *meta = NULL;

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
	copy = bigbuf_alloc((size_t)*len);
	memcpy(copy, data, (size_t)*len);
	return copy;
}
