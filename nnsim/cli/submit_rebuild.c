/*
 * Data mode's recovery: a partition lost with its host is rebuilt on a live
 * host from a live peer's state (its weights, optimizer and place in the
 * schedule, all the same in every partition at a step boundary) and its
 * own shard, which the submitter holds. The ring closes again over the
 * same ranks and the lost partition redoes the step it was in; the others
 * lose nothing (docs/elastic.md).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agentd/client.h"
#include "agentd/state.h"
#include "base/clock.h"
#include "cli/submit-internal.h"
#include "dist/session.h"

/* How long the live partitions have to commit. */
#define REBUILD_WAIT_S	30.0

/* Partition i is gone: queued to be rebuilt. A copy that lives on (its
 * host came back) must leave. */
static void
submit_lose_partition(struct submit *sb, int i, const char *why)
{
	struct sess *s = &sb->s[i];
	char *ignored = NULL;
	json_t *rep;

	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op", "kill",
	    "agent", s->agent, "at", s->host), NULL, 0, NULL, NULL, &ignored);
	json_decref(rep);
	free(ignored);
	s->state = S_QUEUED;
	sb->running--;
	sb->queued++;
	s->lost_at = nn_clock_s();
	snprintf(s->lost_reason, sizeof s->lost_reason, "%s", why);
	submit_say(sb, i, "%s; rebuilding it from a live partition", why);
	if (sb->rebuild_at == 0)
		sb->rebuild_at = nn_clock_s();
}

/* Every live partition commits; the earliest step is rebuilt from. 0, or
 * -1 when none is left (lost: what was lost, for the message). */
static int
submit_ask_commits(struct submit *sb, const char *lost, char **cause)
{
	struct sess *s;
	char *msg, mac[NN_RING_MAC_HEX];
	json_t *rep;
	int i, live = 0;

	for (i = 0; i < sb->n; i++) {
		s = &sb->s[i];
		if (s->state != S_RUNNING)
			continue;
		live++;
		if (s->commit_asked)
			continue;
		nn_ring_control_mac(sb->secret, ++sb->control, "commit", mac);
		msg = xasprintf("{\"commit\":true,\"version\":%lld,"
		    "\"mac\":\"%s\"}", sb->control, mac);
		rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op", "send",
		    "agent", s->agent, "at", s->host), msg, strlen(msg), NULL,
		    NULL, cause);
		free(msg);
		if (rep == NULL)
			return -1;
		json_decref(rep);
		s->commit_asked = 1;
	}
	if (live == 0)
		return nn_fail(cause, "%s: nothing is left to rebuild from",
		    lost);
	return 0;
}

int
submit_lose_partitions(struct submit *sb, const char *host, const char *why,
    char **cause)
{
	char lost[128];
	int i;

	for (i = 0; i < sb->n; i++)
		if (sb->s[i].state == S_RUNNING && strcmp(sb->s[i].host,
		    host) == 0)
			submit_lose_partition(sb, i, why);
	snprintf(lost, sizeof lost, "host %s went down with the last "
	    "partitions of the job", host);
	return submit_ask_commits(sb, lost, cause);
}

int
submit_partition_failed(struct submit *sb, int i, const char *why,
    char **cause)
{
	struct sess *s = &sb->s[i];
	char lost[128], *again;

	if (s->retries >= sb->job.retries) {
		s->state = S_FAILED;
		sb->running--;
		return nn_fail(cause, "partition %d (data-parallel, agent %s) "
		    "%s; failed for good after %d rebuilds (parallel.retries)",
		    i, s->agent, why, s->retries);
	}
	s->retries++;
	again = xasprintf("%s (rebuild %d of %d)", why, s->retries,
	    sb->job.retries);
	submit_lose_partition(sb, i, again);
	free(again);
	snprintf(lost, sizeof lost, "partition %d failed with no other one "
	    "running", i);
	return submit_ask_commits(sb, lost, cause);
}

/* The state of rank k: the peer's (st) weights and trainer, our shard.
 * Without peer, all but those: the host that holds the peer's commit
 * adds them (spawn's keep), so they do not travel through us. */
static unsigned char *
submit_rebuilt_state(struct submit *sb, int k, const struct agent_state *peer,
    json_t *pj, size_t *len, char **cause)
{
	struct agent_state *st = agent_state_new();
	struct nn_data *shard = NULL;
	unsigned char *buf = NULL;
	char hex[NN_RING_SECRET_HEX];
	const void *params, *trainer;
	size_t plen, tlen;
	json_t *extra, *ids = json_array();
	int i;

	params = agent_state_get(peer, "params", &plen);
	trainer = agent_state_get(peer, "trainer", &tlen);
	if (peer != NULL && (params == NULL || trainer == NULL)) {
		nn_fail(cause, "partition %d: the peer's commit has no weights "
		    "or trainer", k);
		goto out;
	}
	for (i = 0; i < sb->n; i++)
		json_array_append_new(ids, json_string(sb->s[i].agent));
	nn_ring_secret_hex(sb->secret, hex);
	/* Our orders so far are not to be replayed to it. */
	extra = json_pack("{s:i, s:i, s:I, s:s, s:b, s:O, s:o, s:b, s:I}",
	    "rank", k, "size", sb->n, "total", (json_int_t)sb->prep.train->n,
	    "secret", hex, "deterministic", sb->job.deterministic, "step",
	    json_object_get(pj, "step"), "members", ids, "adopt", 1, "control",
	    (json_int_t)sb->control);
	json_object_set_new(extra, "encrypt", json_boolean(sb->encrypt));
	ids = NULL;
	if (k == 0 && sb->prep.val != NULL)
		json_object_set_new(extra, "val_n",
		    json_integer((json_int_t)sb->prep.val->n));
	shard = nn_data_shard(sb->prep.train, k, sb->n);
	if (nn_session_state(st, k, sb->job.roots[0], shard, k == 0 ?
	    sb->prep.test : NULL, extra) != 0 || (k == 0 &&
	    nn_session_add_val(st, sb->prep.val) != 0) || (peer != NULL &&
	    (agent_state_add_ref(st, "params", params, plen) != 0 ||
	    agent_state_add_ref(st, "trainer", trainer, tlen) != 0))) {
		json_decref(extra);
		nn_fail(cause, "partition %d: cannot pack its state: %s", k,
		    agent_state_cause(st) != NULL ? agent_state_cause(st) :
		    "JSON");
		goto out;
	}
	json_decref(extra);
	*len = agent_state_encoded_size(st);
	buf = xmalloc(*len);
	agent_state_encode(st, buf);
out:
	json_decref(ids);
	agent_state_free(st);
	nn_data_free(shard);
	return buf;
}

/*
 * The JSON of partition j's commit (*pj) from the first up host that holds
 * it, with a free core (holder): the rebuilt partitions start there from
 * the commit's weights. 0; 1 when no such host gives it; -1 with cause
 * when the daemon is lost.
 */
static int
submit_commit_json(struct submit *sb, int j, char *holder, size_t size,
    json_t **pj, char **cause)
{
	struct sess *s = &sb->s[j];
	const char *host;
	json_t *rep, *h;
	size_t k;
	char *why = NULL;

	json_array_foreach(s->commit_hosts, k, h) {
		host = json_string_value(h);
		if (json_integer_value(json_object_get(sb->hosts, host)) < 1)
			continue;
		rep = submit_ask(sb, json_pack("{s:s, s:s, s:s, s:b}", "op",
		    "commit-get", "agent", s->commit, "host", host, "sections",
		    0), NULL, 0, NULL, NULL, cause);
		if (rep == NULL)
			return -1;
		/* json_is_object is a macro: it would load twice. */
		if (client_reply_ok(rep, "commit-get", &why) == 0)
			*pj = json_loads(json_string_value(json_object_get(rep,
			    "json")), 0, NULL);
		if (json_is_object(*pj)) {
			snprintf(holder, size, "%s", host);
			json_decref(rep);
			return 0;
		}
		json_decref(*pj);
		*pj = NULL;
		free(why);
		why = NULL;
		json_decref(rep);
	}
	return 1;
}

/* Fetches partition j's commit: its decoded state (over *blob) and JSON. */
static struct agent_state *
submit_fetch_commit(struct submit *sb, int j, unsigned char **blob,
    json_t **pj, char **cause)
{
	struct sess *s = &sb->s[j];
	struct agent_state *st = NULL;
	uint64_t len = 0;
	json_t *rep, *h;
	size_t k;
	char *why = NULL;

	json_array_foreach(s->commit_hosts, k, h) {
		rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op",
		    "commit-get", "agent", s->commit, "host",
		    json_string_value(h)), NULL, 0, blob, &len, cause);
		if (rep == NULL)
			return NULL;
		if (client_reply_ok(rep, "commit-get", &why) == 0 &&
		    agent_state_decode(*blob, (size_t)len, &st, &why) == 0) {
			json_decref(rep);
			*pj = json_loads(agent_state_json(st), 0, NULL);
			if (json_is_object(*pj))
				return st;
			json_decref(*pj);
			*pj = NULL;
			agent_state_free(st);
			st = NULL;
		}
		json_decref(rep);
		free(why);
		why = NULL;
		free(*blob);
		*blob = NULL;
	}
	nn_fail(cause, "partition %d: no host that held its commit gave it",
	    j);
	return NULL;
}

/*
 * Starts lost partition i again from partition j's commit: on holder, from
 * the commit there and our shard (only the shard travels), or, when there
 * is no holder or it refuses, from the whole commit fetched here (*peer,
 * over *blob) on the host with the most free cores.
 */
static int
submit_rebuild_one(struct submit *sb, int i, int j, const char *holder,
    struct agent_state **peer, unsigned char **blob, json_t **pj,
    const char **via, char **cause)
{
	json_t *keep = json_pack("[s, s]", "params", "trainer");
	unsigned char *state;
	const char *host;
	size_t len;
	int refused = 0, rc = -1;

	if (holder[0] != '\0' && *peer == NULL) {
		if ((state = submit_rebuilt_state(sb, i, NULL, *pj, &len,
		    cause)) == NULL)
			goto out;
		*via = "holder";
		if (submit_spawn_state(sb, i, holder, sb->s[j].commit, state,
		    len, keep, &refused, cause) == 0) {
			rc = 0;
			goto out;
		}
		if (!refused)
			goto out;
		submit_note(sb, "partition %d: %s; fetching the commit to "
		    "start it elsewhere", i, *cause);
		free(*cause);
		*cause = NULL;
	}
	if (*peer == NULL) {
		json_decref(*pj);
		*pj = NULL;
		if ((*peer = submit_fetch_commit(sb, j, blob, pj, cause)) ==
		    NULL)
			goto out;
	}
	if ((host = submit_pick(sb, i, 1)) == NULL) {
		nn_fail(cause, "partition %d: no host is up to rebuild it on",
		    i);
		goto out;
	}
	if ((state = submit_rebuilt_state(sb, i, *peer, *pj, &len, cause)) ==
	    NULL)
		goto out;
	*via = "fetched";
	rc = submit_spawn_state(sb, i, host, NULL, state, len, NULL, NULL,
	    cause);
out:
	json_decref(keep);
	return rc;
}

int
submit_rebuild_turn(struct submit *sb, char **cause)
{
	struct agent_state *peer = NULL;
	unsigned char *blob = NULL;
	char old[96], holder[64] = "", *what;
	const char *via = NULL;
	json_t *pj = NULL, *m;
	int i, j = -1, waiting = 0, rc = -1;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING)
			continue;
		if (sb->s[i].commit_asked)
			waiting++;
		else if (sb->s[i].commit[0] != '\0' && (j < 0 ||
		    sb->s[i].commit_step < sb->s[j].commit_step))
			j = i;
	}
	if (waiting > 0 && nn_clock_s() - sb->rebuild_at < REBUILD_WAIT_S)
		return 0;
	if (j < 0)
		return nn_fail(cause, "no live partition committed its state "
		    "within %.0f s: the lost partitions cannot be rebuilt",
		    REBUILD_WAIT_S);
	if (submit_hosts(sb, cause) != 0)
		goto out;
	/* The commit's JSON only, when a holder can start them. */
	switch (submit_commit_json(sb, j, holder, sizeof holder, &pj, cause)) {
	case -1:
		goto out;
	case 1:
		holder[0] = '\0';
		if ((peer = submit_fetch_commit(sb, j, &blob, &pj, cause)) ==
		    NULL)
			goto out;
		break;
	}
	if (!json_is_integer(json_object_get(pj, "step"))) {
		nn_fail(cause, "partition %d: its commit names no step", j);
		goto out;
	}
	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_QUEUED)
			continue;
		snprintf(old, sizeof old, "%s", sb->s[i].agent);
		snprintf(sb->s[i].recovery, sizeof sb->s[i].recovery,
		    "rebuilt: %s", sb->s[i].lost_reason);
		if (submit_rebuild_one(sb, i, j, holder, &peer, &blob, &pj,
		    &via, cause) != 0)
			goto out;
		m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:O, s:f, "
		    "s:i, s:s}", "event", "rebuilt", "partition", i, "agent",
		    sb->s[i].agent, "from", old, "host", sb->s[i].host,
		    "reason", sb->s[i].lost_reason, "replica_of", j, "step",
		    json_object_get(pj, "step"), "rebuild_s", nn_clock_s() -
		    sb->rebuild_at, "steps_redone", 1, "via", via);
		rc = nn_metrics_write(sb->metrics, m, cause);
		json_decref(m);
		if (rc != 0)
			goto out;
		rc = -1;
		what = xasprintf("rebuilt on %s from partition %d's state at "
		    "step %lld (%.2f s after the loss)", sb->s[i].host, j,
		    (long long)json_integer_value(json_object_get(pj, "step")),
		    nn_clock_s() - sb->rebuild_at);
		submit_say(sb, i, "%s", what);
		free(what);
	}
	/* The ring closes again over the same ranks. */
	if (submit_members(sb, cause) != 0)
		goto out;
	for (i = 0; i < sb->n; i++)
		if (sb->s[i].state == S_RUNNING && !sb->s[i].commit_asked)
			submit_drop_commit(sb, i);
	sb->rebuild_at = 0;
	rc = 0;
out:
	agent_state_free(peer);
	free(blob);
	json_decref(pj);
	return rc;
}

int
submit_recovered(struct submit *sb, int i, json_t *step, char **cause)
{
	double stall = nn_clock_s() - sb->s[i].lost_at;
	json_t *m;
	int rc;

	m = json_pack("{s:s, s:i, s:s, s:s, s:O, s:f}", "event", "recovered",
	    "partition", i, "agent", sb->s[i].agent, "host", sb->s[i].host,
	    "step", step, "stall_s", stall);
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	submit_say(sb, i, "training again: step %lld done %.2f s after the "
	    "loss was seen", (long long)json_integer_value(step), stall);
	return rc;
}
