/*
 * nnsim submit's scheduling: agents placed by free cores, queued sessions
 * spawned as cores free up, sessions moved off crowded hosts, and the loop
 * that follows the job's events until no agent runs.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/client.h"
#include "agentd/state.h"
#include "base/clock.h"
#include "cli/datacache.h"
#include "cli/submit-internal.h"
#include "dist/session.h"

static volatile sig_atomic_t submit_stop;

static void
submit_signal(int sig)
{
	(void)sig;
	submit_stop = 1;
}

void
submit_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = submit_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * The state an agent starts from: a session (agents/session.c), or a
 * partition with its shard, and the test set for partition 0 alone
 * (agents/partition.c).
 */
static unsigned char *
submit_state(struct submit *sb, int i, size_t *len, char **cause)
{
	struct agent_state *st = agent_state_new();
	struct nn_data *shard = NULL;
	unsigned char *buf = NULL;
	char hex[NN_RING_SECRET_HEX];
	json_t *extra = NULL;
	int rc;

	if (sb->data) {
		nn_ring_secret_hex(sb->secret, hex);
		extra = json_pack("{s:i, s:i, s:I, s:s, s:b, s:i, s:b}", "rank",
		    i, "size", sb->n, "total", (json_int_t)sb->prep.train->n,
		    "secret", hex, "deterministic", sb->job.deterministic,
		    "step", 0, "encrypt", sb->encrypt);
		if (i == 0 && sb->prep.val != NULL)
			json_object_set_new(extra, "val_n",
			    json_integer((json_int_t)sb->prep.val->n));
		shard = nn_data_shard(sb->prep.train, i, sb->n);
		rc = nn_session_state(st, i, sb->job.roots[0], shard,
		    i == 0 ? sb->prep.test : NULL, extra);
		if (rc == 0 && i == 0)
			rc = nn_session_add_val(st, sb->prep.val);
		json_decref(extra);
	} else {
		/* How the session commits (agents/session.c). */
		extra = json_pack("{s:{s:i, s:i, s:i}}", "commit", "replicas",
		    sb->job.replicas, "epochs", sb->job.commit_epochs,
		    "seconds", sb->job.commit_seconds);
		if (sb->prep.val != NULL)
			json_object_set_new(extra, "val_n",
			    json_integer((json_int_t)sb->prep.val->n));
		rc = nn_session_state(st, i, sb->job.roots[i], sb->prep.train,
		    sb->prep.test, extra);
		if (rc == 0)
			rc = nn_session_add_val(st, sb->prep.val);
		json_decref(extra);
	}
	if (rc != 0) {
		nn_fail(cause, "%s %d: cannot pack its state: %s",
		    submit_kind(sb), i,
		    agent_state_cause(st) != NULL ? agent_state_cause(st) :
		    "JSON");
		goto out;
	}
	*len = agent_state_encoded_size(st);
	buf = xmalloc(*len);
	agent_state_encode(st, buf);
out:
	/* The state refers to the shard's rows until it is encoded. */
	agent_state_free(st);
	nn_data_free(shard);
	return buf;
}

/* Free cores per host that takes agents, from the daemon's host list
 * (possibly none). */
int
submit_hosts(struct submit *sb, char **cause)
{
	json_t *rep, *h;
	const char *st, *name, *addr;
	size_t i;
	int slots;

	rep = submit_ask(sb, json_pack("{s:s}", "op", "hosts"), NULL, 0,
	    NULL, NULL, cause);
	if (rep == NULL)
		return -1;
	json_decref(sb->hosts);
	sb->hosts = json_object();
	if (sb->addrs == NULL)
		sb->addrs = json_object();
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		st = json_string_value(json_object_get(h, "state"));
		name = json_string_value(json_object_get(h, "name"));
		addr = json_string_value(json_object_get(h, "address"));
		/* Where to turn if our daemon goes (submit_follow.c). */
		if (name != NULL && addr != NULL)
			json_object_set_new(sb->addrs, name, json_string(addr));
		if (name != NULL && st != NULL && strcmp(st, "self") == 0)
			snprintf(sb->self, sizeof sb->self, "%s", name);
		/* A daemon we lost may look up a moment longer elsewhere. */
		if (name != NULL && json_is_number(json_object_get(sb->gone,
		    name)) && nn_clock_s() - json_number_value(
		    json_object_get(sb->gone, name)) < SUBMIT_GONE_S)
			continue;
		if (name == NULL || st == NULL || (strcmp(st, "up") != 0 &&
		    strcmp(st, "self") != 0) ||
		    json_is_true(json_object_get(h, "draining")))
			continue;
		slots = (int)json_integer_value(json_object_get(h, "cores"));
		slots -= (int)json_integer_value(json_object_get(h, "agents"));
		json_object_set_new(sb->hosts, name, json_integer(slots));
	}
	json_decref(rep);
	return 0;
}

/* 1 when a host with slots free cores and bytes of the agent's data
 * beats the best so far (free cores first, then data, then cores). */
static int
submit_better(json_int_t slots, json_int_t bytes, json_int_t best_slots,
    json_int_t best_bytes)
{
	if ((slots > 0) != (best_slots > 0))
		return slots > 0;
	if (slots > 0 && bytes != best_bytes)
		return bytes > best_bytes;
	return slots > best_slots;
}

const char *
submit_pick(struct submit *sb, int i, int all)
{
	const char *key, *best = NULL;
	json_int_t slots, bytes, best_slots = 0, best_bytes = 0;
	json_t *v, *held = NULL;

	/* A partition maps its own part when the set is cut as the job. */
	if (i >= 0 && sb->set_manifest != NULL)
		held = datacache_held(sb->set_manifest, sb->set_holders,
		    sb->data && (int)json_array_size(json_object_get(
		    json_object_get(json_object_get(sb->set_manifest,
		    "tables"), "train"), "parts")) == sb->n ? i : -1);
	json_object_foreach(sb->hosts, key, v) {
		slots = json_integer_value(v);
		bytes = json_integer_value(json_object_get(held, key));
		if (slots <= 0 && !all)
			continue;
		if (best == NULL || submit_better(slots, bytes, best_slots,
		    best_bytes)) {
			best = key;
			best_slots = slots;
			best_bytes = bytes;
		}
	}
	json_decref(held);
	return best;
}

int
submit_spawn(struct submit *sb, int i, const char *host, const char *commit,
    int *refused, char **cause)
{
	unsigned char *state = NULL;
	size_t len = 0;

	if (commit == NULL && (state = submit_state(sb, i, &len, cause)) ==
	    NULL)
		return -1;
	return submit_spawn_state(sb, i, host, commit, state, len, NULL,
	    refused, cause);
}

int
submit_spawn_state(struct submit *sb, int i, const char *host,
    const char *commit, unsigned char *state, size_t len, json_t *keep,
    int *refused, char **cause)
{
	json_t *rep, *req;
	const char *id;
	char *what;
	int rc = -1;

	/* The job's id goes with each agent: the console groups by it. */
	req = json_pack("{s:s, s:s, s:s, s:s}", "op", "spawn", "code",
	    sb->code, "host", host, "job", sb->id);
	if (commit != NULL)
		json_object_set_new(req, "commit", json_string(commit));
	if (keep != NULL)
		json_object_set(req, "keep", keep);
	if (sb->job.limits != NULL)
		json_object_set(req, "limits", sb->job.limits);
	/* The console shows it as recovering until its first step. */
	if (sb->s[i].recovery[0] != '\0')
		json_object_set_new(req, "recovery",
		    json_string(sb->s[i].recovery));
	rep = submit_ask(sb, req, state, len, NULL, NULL, cause);
	free(state);
	if (rep == NULL)
		return -1;
	what = xasprintf("%s %d: spawn on %s failed", submit_kind(sb), i,
	    host);
	if (client_reply_ok(rep, what, cause) != 0) {
		if (refused != NULL)
			*refused = 1;
		goto out;
	}
	if ((id = json_string_value(json_object_get(rep, "agent"))) == NULL) {
		nn_fail(cause, "%s: the reply names no agent", what);
		goto out;
	}
	snprintf(sb->s[i].agent, sizeof sb->s[i].agent, "%s", id);
	snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s", host);
	sb->s[i].recovery[0] = '\0';
	sb->s[i].state = S_RUNNING;
	sb->running++;
	sb->queued--;
	if (json_object_get(sb->hosts, host) != NULL)
		json_object_set_new(sb->hosts, host, json_integer(
		    json_integer_value(json_object_get(sb->hosts, host)) - 1));
	rc = 0;
out:
	free(what);
	json_decref(rep);
	return rc;
}

int
submit_fill(struct submit *sb, char **cause)
{
	const char *host;
	char name[64];
	int i, refused;

	for (i = 0; i < sb->n; i++) {
		/* A lost partition is rebuilt, never started afresh. */
		if (sb->s[i].state != S_QUEUED || (sb->data &&
		    sb->s[i].agent[0] != '\0'))
			continue;
		host = submit_pick(sb, i, sb->data);
		if (host == NULL && sb->running > 0)
			break;
		if (host == NULL)
			host = json_object_iter_key(json_object_iter(
			    sb->hosts));
		/* No host takes agents now: balancing fills in later. */
		if (host == NULL)
			break;
		refused = 0;
		snprintf(name, sizeof name, "%s", host);
		if (submit_spawn(sb, i, name, NULL, &refused, cause) == 0)
			continue;
		if (!refused)
			return -1;
		/* That host cannot take it now (it went down a moment ago,
		 * or drains): not this round; the next look sees it again.
		 * If none ever does, the last reason is the job's. */
		snprintf(sb->refusal, sizeof sb->refusal, "%s", *cause);
		free(*cause);
		*cause = NULL;
		json_object_del(sb->hosts, name);
		i--;
	}
	return 0;
}

/* Asks agent i to move to host; a refused move is tried again later. */
static int
submit_move(struct submit *sb, int i, const char *to, const char *why,
    char **cause)
{
	json_t *rep;

	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s, s:s}", "op",
	    "migrate", "agent", sb->s[i].agent, "host", to, "at",
	    sb->s[i].host), NULL, 0, NULL, NULL, cause);
	if (rep == NULL)
		return -1;
	if (client_reply_ok(rep, "migrate", NULL) == 0) {
		sb->s[i].moving = 1;
		submit_say(sb, i, "moving to %s: %s", to, why);
	}
	json_decref(rep);
	return 0;
}

/*
 * Data mode: a partition moves from the busiest host that holds one to
 * the host with the most free cores while that one has two more (a host
 * that joined or came back, say). The partitions stay the same, so the
 * arithmetic does not change. One that someone else moved stays.
 */
static int
submit_balance_data(struct submit *sb, char **cause)
{
	const char *key, *best = NULL;
	json_int_t most = 0, least = 0, f;
	json_t *v;
	char *why;
	int i, pick = -1, rc;

	json_object_foreach(sb->hosts, key, v) {
		if (best == NULL || json_integer_value(v) > most) {
			best = key;
			most = json_integer_value(v);
		}
	}
	/* One move at a time, and host figures a heartbeat newer than it. */
	if (nn_clock_s() - sb->data_moved < SUBMIT_DATA_MOVE_S)
		return 0;
	for (i = 0; i < sb->n; i++)
		if (sb->s[i].moving)
			return 0;
	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING || sb->s[i].pinned ||
		    submit_orphan(sb, sb->s[i].agent) ||
		    (v = json_object_get(sb->hosts, sb->s[i].host)) == NULL)
			continue;
		f = json_integer_value(v);
		if (pick < 0 || f < least) {
			pick = i;
			least = f;
		}
	}
	if (best == NULL || pick < 0 || most - least < 2)
		return 0;
	why = xasprintf("%s has %lld free cores, %s %lld", best,
	    (long long)most, sb->s[pick].host, (long long)least);
	rc = submit_move(sb, pick, best, why, cause);
	free(why);
	sb->data_moved = nn_clock_s();
	return rc;
}

/*
 * Load balancing, once a second while sessions run: queued sessions go to
 * freed cores; with none queued, a session on a host with more agents than
 * cores (other jobs count too) moves to a host with a core free. Data
 * mode: submit_balance_data, but not while a lost partition is rebuilt.
 */
static int
submit_balance(struct submit *sb, char **cause)
{
	const char *key, *to = NULL;
	char why[128];
	json_t *v;
	int i;

	if (nn_clock_s() - sb->balanced < 1.0 || (sb->data &&
	    sb->rebuild_at > 0))
		return 0;
	sb->balanced = nn_clock_s();
	if (submit_hosts(sb, cause) != 0)
		return -1;
	/* Every host draining or briefly down: look again later. */
	if (json_object_size(sb->hosts) == 0)
		return 0;
	if (sb->data)
		return submit_balance_data(sb, cause);
	if (submit_fill(sb, cause) != 0)
		return -1;
	json_object_foreach(sb->hosts, key, v)
		if (json_integer_value(v) >= 1)
			to = key;
	for (i = 0; to != NULL && i < sb->n; i++) {
		/* An orphan stays where a follower hears it. */
		if (sb->s[i].state != S_RUNNING || sb->s[i].moving ||
		    submit_orphan(sb, sb->s[i].agent) ||
		    json_integer_value(json_object_get(sb->hosts,
		    sb->s[i].host)) >= 0)
			continue;
		snprintf(why, sizeof why, "%s has more agents than cores",
		    sb->s[i].host);
		return submit_move(sb, i, to, why, cause);
	}
	return 0;
}

/* Tells every partition who the others are: the ring forms (again, when a
 * lost one was rebuilt). */
int
submit_members(struct submit *sb, char **cause)
{
	json_t *ids = json_array(), *msg, *rep;
	char *text = NULL, *what, mac[NN_RING_MAC_HEX];
	int i, rc = -1;

	for (i = 0; i < sb->n; i++)
		json_array_append_new(ids, json_string(sb->s[i].agent));
	/* Signed with the job's secret: only we may repoint the ring. */
	text = json_dumps(ids, JSON_COMPACT | JSON_ENCODE_ANY);
	nn_ring_control_mac(sb->secret, ++sb->control, text, mac);
	free(text);
	msg = json_pack("{s:o, s:I, s:s}", "members", ids, "version",
	    (json_int_t)sb->control, "mac", mac);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	for (i = 0; text != NULL && i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING)
			continue;
		rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op", "send",
		    "agent", sb->s[i].agent, "at", sb->s[i].host), text,
		    strlen(text), NULL, NULL, cause);
		if (rep == NULL)
			goto out;
		what = xasprintf("partition %d (agent %s): cannot tell it the "
		    "ring", i, sb->s[i].agent);
		rc = client_reply_ok(rep, what, cause);
		free(what);
		json_decref(rep);
		if (rc != 0)
			goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

void
submit_kill_all(struct submit *sb)
{
	char *cause = NULL;
	json_t *rep;
	int i;

	for (i = 0; i < sb->n; i++) {
		submit_drop_commit(sb, i);
		if (sb->s[i].state != S_RUNNING)
			continue;
		rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op",
		    "kill", "agent", sb->s[i].agent, "at", sb->s[i].host), NULL,
		    0, NULL, NULL, &cause);
		json_decref(rep);
		free(cause);
		cause = NULL;
	}
}

/* One turn of the loop: the next event (up to 200 ms), balancing, table. */
static int
submit_step(struct submit *sb, char **cause)
{
	json_t *ev;
	char *why;
	int rc;

	if (submit_stop)
		return nn_fail(cause, "interrupted; the job's agents were "
		    "stopped");
	ev = client_event(sb->cl, 200, cause);
	if (ev == NULL && *cause != NULL)
		sb->lost = 1;
	rc = ev != NULL ? submit_event(sb, ev, sb->self, cause) : 0;
	json_decref(ev);
	if (rc == 0 && !sb->lost)
		rc = submit_follow_events(sb, cause);
	if (rc == 0 && !sb->lost)
		rc = submit_balance(sb, cause);
	/* Our daemon is gone: another host takes over, and the job goes on. */
	if (sb->lost) {
		why = *cause;
		*cause = NULL;
		rc = submit_reconnect(sb, why != NULL ? why : "no answer",
		    cause);
		free(why);
	}
	if (rc != 0)
		return -1;
	submit_draw(sb, 0);
	return 0;
}

int
submit_retry(struct submit *sb, int i, const char *why, char **cause)
{
	struct sess *s = &sb->s[i];
	char *ignored = NULL, lost[256] = "";
	json_t *m, *rep;
	int again = s->retries < sb->job.retries, r;

	/* A copy that lives on (its host came back) must not finish too. */
	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op",
	    "kill", "agent", s->agent, "at", s->host), NULL, 0, NULL, NULL, &ignored);
	json_decref(rep);
	free(ignored);
	sb->running--;
	if (!again) {
		s->state = S_FAILED;
		sb->failures++;
		snprintf(s->reason, sizeof s->reason, "%s", why);
		submit_say(sb, i, "%s; failed for good after %d retries", why,
		    s->retries);
		submit_drop_commit(sb, i);
		m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "event",
		    "session-failed", "session", i, "agent", s->agent, "host",
		    s->host, "reason", why, "retry", s->retries, "retries",
		    sb->job.retries);
		r = nn_metrics_write(sb->metrics, m, cause);
		json_decref(m);
		return r;
	}
	s->retries++;
	s->state = S_QUEUED;
	sb->queued++;
	snprintf(s->recovery, sizeof s->recovery, "%s (retry %d of %d)", why,
	    s->retries, sb->job.retries);
	if ((r = submit_resume(sb, i, why, lost, sizeof lost, cause)) != 0)
		return r < 0 ? -1 : 0;
	/* No commit to resume from: from the start, when a core is free. */
	m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i}", "event",
	    "retried", "session", i, "agent", s->agent, "host", s->host,
	    "reason", why, "from", "start", "retry", s->retries, "retries",
	    sb->job.retries);
	if (lost[0] != '\0')
		json_object_set_new(m, "commit", json_string(lost));
	r = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	submit_say(sb, i, "%s; starting it again from the start%s%s (retry "
	    "%d of %d)", why, lost[0] != '\0' ? ": " : "", lost, s->retries,
	    sb->job.retries);
	return r;
}

/* How long queued sessions may wait with no host to run on. */
#define SUBMIT_NO_HOST_S	30.0

int
submit_run(struct submit *sb, char **cause)
{
	double idle = 0;
	int i;

	sb->tty = isatty(STDOUT_FILENO) && getenv("NNSIM_NO_LIVE") == NULL;
	sb->s = xcalloc((size_t)sb->n, sizeof *sb->s);
	for (i = 0; i < sb->n; i++)
		sb->s[i].score = NAN;
	sb->queued = sb->n;
	submit_announce(sb);
	if (submit_fill(sb, cause) != 0 ||
	    (sb->data && submit_members(sb, cause) != 0))
		return -1;
	/* Sessions that start again wait for a core, but not for ever. */
	while (sb->running > 0 || sb->queued > 0) {
		if (submit_step(sb, cause) != 0 ||
		    (sb->rebuild_at > 0 && submit_rebuild_turn(sb, cause) != 0))
			return -1;
		if (sb->running > 0 || idle == 0)
			idle = sb->running > 0 ? 0 : nn_clock_s();
		else if (nn_clock_s() - idle > SUBMIT_NO_HOST_S)
			return nn_fail(cause, "%d %s waiting to start, and "
			    "no host has taken one for %.0f s%s%s", sb->queued,
			    sb->queued == 1 ? "session is" : "sessions are",
			    SUBMIT_NO_HOST_S, sb->refusal[0] != '\0' ?
			    "; the last refusal: " : "", sb->refusal);
	}
	submit_draw(sb, 1);
	sb->drawn = 0;
	return 0;
}
