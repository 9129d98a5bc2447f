/*
 * New agents: a client's spawn (here, on a named host, or where the most
 * cores are free), an agent's own (agent_spawn), and the wait for a new
 * agent's start that both may ask for, so that a start that fails is
 * answered with its reason.
 */
#include <string.h>

#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "base/alloc.h"

/* Told once the agent started (error NULL) or failed to (error set);
 * takes arg. */
typedef void start_done_fn(struct daemon *, void *arg, const char *agent,
    const char *error);

struct start_wait {
	char			 agent[96];
	start_done_fn		*fn;
	void			*arg;
	struct start_wait	*next;
};

static void
start_wait_add(struct daemon *d, const char *agent, start_done_fn *fn,
    void *arg)
{
	struct start_wait *w = xcalloc(1, sizeof *w);

	snprintf(w->agent, sizeof w->agent, "%s", agent);
	w->fn = fn;
	w->arg = arg;
	w->next = d->start_waits;
	d->start_waits = w;
}

void
spawn_event(struct daemon *d, const char *event, const char *agent,
    json_t *ev)
{
	struct start_wait **p, *w;
	int started = strcmp(event, "started") == 0;

	if (!started && strcmp(event, "failed") != 0)
		return;
	for (p = &d->start_waits; (w = *p) != NULL; p = &w->next) {
		if (strcmp(w->agent, agent) != 0)
			continue;
		*p = w->next;
		w->fn(d, w->arg, agent, started ? NULL : str_field(ev,
		    "reason") != NULL ? str_field(ev, "reason") : "failed");
		free(w);
		return;
	}
}

void
spawn_free_waits(struct daemon *d)
{
	struct start_wait *w;

	while ((w = d->start_waits) != NULL) {
		d->start_waits = w->next;
		w->fn(d, w->arg, w->agent, "the daemon stopped");
		free(w);
	}
}

/* The host with the most free cores (cores less agents), here first. */
const char *
daemon_pick_host(struct daemon *d)
{
	json_t *info = daemon_host_info(d);
	const char *away;
	long here, free_away;

	here = (long)json_integer_value(json_object_get(info, "cores")) -
	    runner_count(d->runner);
	json_decref(info);
	away = daemon_pick_away(d, NULL, &free_away);
	if (away != NULL && (d->draining || free_away > here))
		return away;
	return d->cfg.name;
}

/*
 * Starts agent aid here from code with args (JSON text), or unpacked from
 * owned (len bytes, an encoded state, taken), in job, within limits (NULL:
 * the host's). 0, or -1 with cause.
 */
static int
spawn_start(struct daemon *d, const char *aid, const char *code,
    const char *args, const char *job, json_t *limits, unsigned char *owned,
    uint64_t len, char **cause)
{
	char path[1024];
	json_t *host;
	struct runner_spawn sp;
	int rc;

	if (d->draining) {
		bigbuf_free(owned);
		return nn_fail(cause, "this host is draining: it takes no new "
		    "agents");
	}
	host = daemon_host_info(d);
	sp = (struct runner_spawn){ .id = aid, .code_sha = code,
	    .code_path = codestore_path(d->code, code, path, sizeof path),
	    .args = args, .owned = owned, .owned_len = len, .host = host,
	    .limits = limits };
	if ((rc = runner_start(d->runner, &sp, cause)) == 0) {
		runner_set_job(d->runner, aid, job);
		directory_set(d->where, aid, d->cfg.name);
	}
	json_decref(host);
	return rc;
}

/* A client waiting for the answer to its spawn. */
struct spawn_reply {
	unsigned long	 link;
	json_t		*id;
};

static void
spawn_reply_started(struct daemon *d, void *arg, const char *agent,
    const char *error)
{
	struct spawn_reply *r = arg;
	struct link *l = link_by_serial(d, r->link);
	char *why;

	if (l != NULL && error != NULL) {
		why = xasprintf("agent %s failed to start: %s", agent, error);
		reply(l->conn, r->id, 0, why, NULL);
		free(why);
	} else if (l != NULL)
		reply(l->conn, r->id, 1, NULL, json_pack("{s:s, s:s}",
		    "agent", agent, "host", d->cfg.name));
	json_decref(r->id);
	free(r);
}

struct spawn_wait {
	unsigned long	 link;
	json_t		*id;
	json_t		*meta;
	unsigned char	*state;		/* the initial state, or NULL */
	uint64_t	 state_len;
};

static void	spawn_here(struct daemon *d, struct link *l, json_t *id,
    json_t *meta, unsigned char **state, uint64_t len);

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
 * With "wait", the answer waits for the agent's start.
 */
static void
spawn_here(struct daemon *d, struct link *l, json_t *id, json_t *meta,
    unsigned char **state, uint64_t len)
{
	unsigned char *owned;
	const char *code = str_field(meta, "code"), *given;
	json_t *args = json_object_get(meta, "args");
	char aid[96], *cause = NULL, *text;
	struct spawn_wait *w;
	struct spawn_reply *r;

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
	owned = len > 0 ? *state : NULL;
	if (len > 0)
		*state = NULL;
	if (spawn_start(d, aid, code, text, str_field(meta, "job"),
	    json_object_get(meta, "limits"), owned, len, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		free(text);
		return;
	}
	runner_set_recovery(d->runner, aid, str_field(meta, "recovery"));
	if (json_is_true(json_object_get(meta, "wait"))) {
		r = xcalloc(1, sizeof *r);
		r->link = l->serial;
		r->id = json_incref(id);
		start_wait_add(d, aid, spawn_reply_started, r);
	} else
		reply(l->conn, id, 1, NULL, json_pack("{s:s, s:s}", "agent",
		    aid, "host", d->cfg.name));
	free(text);
}

/*
 * spawn {code, args, host, wait, commit}: here, on the named host, or where
 * the most cores are free ("host": "auto"). The id is made here, so this
 * daemon stays the agent's home and its clients get the agent's events.
 * With commit (an agent id), the agent starts from that agent's commit,
 * which the host named must hold (docs/elastic.md); with a state as well,
 * from that state and the commit's sections named in keep.
 */
void
op_spawn(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *code = str_field(f->meta, "code");
	const char *host = str_field(f->meta, "host");
	const char *commit = str_field(f->meta, "commit");
	unsigned char *state;
	char aid[96], *cause = NULL;
	uint64_t len;
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
	if (strcmp(host, d->cfg.name) == 0 && commit != NULL) {
		/* Resumed from the commit this host holds. */
		if ((state = commit_state(d, commit, code, f->payload,
		    f->payload_len, json_object_get(f->meta, "keep"), &len,
		    &cause)) == NULL) {
			reply(l->conn, id, 0, cause, NULL);
			free(cause);
			return;
		}
		spawn_here(d, l, id, f->meta, &state, len);
		bigbuf_free(state);
		return;
	}
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

/* An agent's own spawn (agent_spawn), answered to its worker. */
struct agent_spawn {
	char		 spawner[96];
	json_int_t	 seq;
	char		 agent[96];	/* the new one */
	char		 host[64];
};

static void
agent_spawn_answer(struct daemon *d, struct agent_spawn *s,
    const char *error)
{
	json_t *m;

	if (error != NULL) {
		log_info("agent %s: its spawn of %s on %s failed: %s",
		    s->spawner, s->agent, s->host, error);
		m = json_pack("{s:s, s:I, s:s}", "op", "spawned", "seq", s->seq,
		    "error", error);
	} else {
		log_info("agent %s spawned %s on %s", s->spawner, s->agent,
		    s->host);
		m = json_pack("{s:s, s:I, s:s, s:s}", "op", "spawned", "seq",
		    s->seq, "agent", s->agent, "host", s->host);
	}
	/* A spawner that ended meanwhile has nobody to tell. */
	runner_send(d->runner, s->spawner, m);
	json_decref(m);
	free(s);
}

static void
agent_spawn_started(struct daemon *d, void *arg, const char *agent,
    const char *error)
{
	(void)agent;
	agent_spawn_answer(d, arg, error);
}

static void
agent_spawn_replied(struct daemon *d, json_t *rep, struct frame *f,
    void *arg)
{
	struct agent_spawn *s = arg;

	(void)f;
	if (rep == NULL)
		agent_spawn_answer(d, s, "the host went away");
	else if (!json_is_true(json_object_get(rep, "ok")))
		agent_spawn_answer(d, s, str_field(rep, "error") != NULL ?
		    str_field(rep, "error") : "refused");
	else {
		directory_set(d->where, s->agent, s->host);
		agent_spawn_answer(d, s, NULL);
	}
}

/*
 * spawn {code, host, args, seq} from agent's worker: the new agent's id is
 * made here, and the answer ("spawned", with the same seq) waits for its
 * start, here or on the host asked for (the scheduler's pick for none).
 */
void
worker_request_spawn(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	const char *code = str_field(meta, "code"), *host;
	const char *args = str_field(meta, "args");
	struct agent_spawn *s = xcalloc(1, sizeof *s);
	char *cause = NULL;
	struct link *l;
	json_t *req;

	(void)payload;
	(void)len;
	snprintf(s->spawner, sizeof s->spawner, "%s", agent);
	s->seq = json_integer_value(json_object_get(meta, "seq"));
	if ((host = str_field(meta, "host")) == NULL || host[0] == '\0')
		host = daemon_pick_host(d);
	snprintf(s->host, sizeof s->host, "%s", host);
	if (code == NULL || !codestore_valid(code)) {
		agent_spawn_answer(d, s, "code must be a SHA-256 in hex");
		return;
	}
	if (!codestore_has(d->code, code)) {
		cause = xasprintf("host %s stores no code %s (store it with "
		    "code-put first)", d->cfg.name, code);
		agent_spawn_answer(d, s, cause);
		free(cause);
		return;
	}
	snprintf(s->agent, sizeof s->agent, "%s.%lu", d->cfg.name,
	    ++d->next_agent);
	if (strcmp(host, d->cfg.name) == 0) {
		if (spawn_start(d, s->agent, code, args != NULL ? args : "{}",
		    runner_job(d->runner, agent), runner_limits(d->runner,
		    agent), NULL, 0, &cause) != 0) {
			agent_spawn_answer(d, s, cause);
			free(cause);
		} else
			start_wait_add(d, s->agent, agent_spawn_started, s);
		return;
	}
	if ((l = link_of_peer(d, host)) == NULL) {
		agent_spawn_answer(d, s, peer_find(d, host) < 0 ?
		    "no such host" : "that host is down");
		return;
	}
	/* An agent's agents live within its limits. */
	req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:O*}", "op", "spawn",
	    "code", code, "args", args != NULL ? args : "{}", "agent",
	    s->agent, "job", runner_job(d->runner, agent), "wait", 1,
	    "limits", runner_limits(d->runner, agent));
	peer_request(d, l, req, NULL, 0, agent_spawn_replied, s);
}
