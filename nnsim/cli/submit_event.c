/*
 * The daemon's events about nnsim submit's agents, through a table of named
 * handlers: epochs' metrics, moves, progress, logs, and the end of each.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/client.h"
#include "base/clock.h"
#include "base/table.h"
#include "cli/submit-internal.h"
#include "dist/session.h"

/*
 * An event's handler, as tmux describes a command. An event the agent's
 * state or a missing host rules out is ignored.
 */
struct submit_event_entry {
	const char	*name;
	int		 running;	/* only while the agent runs */
	int		 has_host;	/* only with the event's host */
	int		(*fn)(struct submit *, int, json_t *, char **);
};

/* A string field of an event, or NULL. */
static const char *
submit_ev_str(json_t *ev, const char *key)
{
	return json_string_value(json_object_get(ev, key));
}

static int
submit_find(struct submit *sb, const char *agent)
{
	int i;

	for (i = 0; agent != NULL && i < sb->n; i++) {
		if (strcmp(sb->s[i].agent, agent) == 0)
			return i;
	}
	return -1;
}

/* Fetches and checks a finished session's result: 0, or 1 when its
 * training diverged (the result's "diverged" says where). */
static int
submit_result(struct submit *sb, int i, char **cause)
{
	struct sess *s = &sb->s[i];
	unsigned char *buf = NULL;
	uint64_t len = 0;
	json_t *rep, *v;
	char *what = NULL, *ack_cause = NULL;
	int rc = -1;

	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op", "result",
	    "agent", s->agent, "host", s->host), NULL, 0, &buf, &len, cause);
	if (rep == NULL)
		return -1;
	what = xasprintf("%s %d (agent %s on %s): no result", submit_kind(sb),
	    i, s->agent, s->host);
	if (client_reply_ok(rep, what, cause) != 0)
		goto out;
	s->params = xreallocarray(NULL, submit_nparams(sb, i) > 0 ?
	    submit_nparams(sb, i) : 1, sizeof (float));
	if (nn_session_result_parse(buf, (size_t)len, s->params,
	    submit_nparams(sb, i),
	    &s->result, cause) != 0)
		goto out;
	/* Training diverged: a result, but no model (submit_diverged). */
	if (json_is_string(json_object_get(s->result, "diverged"))) {
		rc = 1;
		goto ack;
	}
	v = json_object_get(json_object_get(s->result, "final"),
	    sb->job.select);
	if (!json_is_number(v)) {
		nn_fail(cause, "session %d: its result has no %s", i,
		    sb->job.select);
		goto out;
	}
	s->score = json_number_value(v);
	rc = 0;
ack:
	/* Parsed and kept: the daemon may delete it now. A lost ack costs
	 * only the disk until the daemon expires it. */
	json_decref(rep);
	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op",
	    "result-ack", "agent", s->agent, "host", s->host), NULL, 0, NULL,
	    NULL, &ack_cause);
	free(ack_cause);
out:
	free(what);
	free(buf);
	json_decref(rep);
	return rc;
}

/* 1 when epoch was written already, else marks it written. */
static int
submit_seen(struct sess *s, int epoch)
{
	size_t e = epoch > 0 ? (size_t)epoch : 0, n;

	if (e < s->nseen && s->seen[e])
		return 1;
	if (e >= s->nseen) {
		n = e + 64;
		s->seen = xreallocarray(s->seen, n, 1);
		memset(s->seen + s->nseen, 0, n - s->nseen);
		s->nseen = n;
	}
	s->seen[e] = 1;
	if (epoch > s->done_epochs)
		s->done_epochs = epoch;
	return 0;
}

/*
 * The epochs a finished session's result holds that no event brought (they
 * ended while we lost our daemon and followed no other): written now, so
 * that each epoch is in the metrics once.
 */
static int
submit_missed_epochs(struct submit *sb, int i, char **cause)
{
	struct sess *s = &sb->s[i];
	json_t *e, *m;
	size_t k;
	int rc = 0;

	json_array_foreach(json_object_get(s->result, "epochs"), k, e) {
		if (rc != 0 || !json_is_integer(json_object_get(e, "epoch")) ||
		    submit_seen(s, (int)json_integer_value(json_object_get(e,
		    "epoch"))))
			continue;
		m = json_deep_copy(e);
		json_object_set_new(m, "agent", json_string(s->agent));
		json_object_set_new(m, "host", json_string(s->host));
		json_object_set_new(m, "from_result", json_true());
		if (sb->data)
			json_object_del(m, "session");
		rc = nn_metrics_write(sb->metrics, m, cause);
		json_decref(m);
	}
	return rc;
}

/* Data mode: a partition's own figures of an epoch (m, taken), kept until
 * rank 0 reports that epoch. */
static int
submit_backup(struct submit *sb, json_t *m)
{
	char key[24];
	int e = (int)json_integer_value(json_object_get(m, "epoch"));

	snprintf(key, sizeof key, "%d", e);
	if (sb->backups == NULL)
		sb->backups = json_object();
	if (e < 1 || (e < (int)sb->s[0].nseen && sb->s[0].seen[e]) ||
	    json_object_get(sb->backups, key) != NULL)
		json_decref(m);
	else
		json_object_set_new(sb->backups, key, m);
	return 0;
}

/*
 * Data mode: the epochs before epoch that rank 0 never reported (it was
 * lost first) are written from another partition's figures, in order, so
 * that every epoch is in the metrics once; backups up to epoch go.
 */
static int
submit_backups_before(struct submit *sb, int epoch, char **cause)
{
	const char *k;
	char key[24];
	json_t *m, *v;
	int e, next, rc = 0;

	/* The earliest kept epoch up to epoch, one at a time. */
	while (sb->backups != NULL) {
		next = INT_MAX;
		json_object_foreach(sb->backups, k, v) {
			(void)v;
			e = atoi(k);
			if (e <= epoch && e < next)
				next = e;
		}
		if (next == INT_MAX)
			break;
		e = next;
		snprintf(key, sizeof key, "%d", e);
		m = json_object_get(sb->backups, key);
		if (rc == 0 && e < epoch && !submit_seen(&sb->s[0], e)) {
			json_object_set_new(m, "from_partition", json_object_get(
			    m, "backup") != NULL ? json_incref(json_object_get(m,
			    "backup")) : json_null());
			json_object_del(m, "backup");
			rc = nn_metrics_write(sb->metrics, m, cause);
		}
		json_object_del(sb->backups, key);
	}
	return rc;
}

/* An epoch ended: a metrics line, and a line for people off a terminal. */
static int
submit_ev_metrics(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *host = submit_ev_str(ev, "host");
	json_t *m, *v;

	/* A rebuilt partition's first step: the ring is whole again. */
	if (json_is_integer(json_object_get(json_object_get(ev, "metrics"),
	    "rebuilt_step_done")))
		return submit_recovered(sb, i, json_object_get(json_object_get(
		    ev, "metrics"), "rebuilt_step_done"), cause);
	m = json_deep_copy(json_object_get(ev, "metrics"));
	json_object_set_new(m, "agent", json_string(submit_ev_str(ev,
	    "agent")));
	json_object_set_new(m, "host", json_string(host != NULL ? host :
	    "?"));
	if (sb->data)
		json_object_del(m, "session");
	/* Another partition's figures wait in case rank 0's never come. */
	if (sb->data && json_object_get(m, "backup") != NULL)
		return submit_backup(sb, m);
	/* A session resumed or started again redoes epochs it reported:
	 * each epoch is written once. */
	sb->s[i].epoch = (int)json_integer_value(json_object_get(m, "epoch"));
	if (sb->data && submit_backups_before(sb, sb->s[i].epoch, cause) != 0) {
		json_decref(m);
		return -1;
	}
	if (submit_seen(&sb->s[i], sb->s[i].epoch)) {
		json_decref(m);
		return 0;
	}
	if (nn_metrics_write(sb->metrics, m, cause) != 0) {
		json_decref(m);
		return -1;
	}
	sb->s[i].loss = json_number_value(json_object_get(m, "loss"));
	sb->s[i].live_loss = sb->s[i].loss;
	v = json_object_get(m, "test_accuracy");
	/* On a terminal the table shows epochs; lines are for logs. */
	if (sb->tty)
		;
	else if (json_is_number(v))
		submit_say(sb, i, "epoch %d loss %.6f test_accuracy %.4f",
		    sb->s[i].epoch, sb->s[i].loss, json_number_value(v));
	else
		submit_say(sb, i, "epoch %d loss %.6f", sb->s[i].epoch,
		    sb->s[i].loss);
	json_decref(m);
	return 0;
}

static int
submit_ev_moved(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *to = submit_ev_str(ev, "to"), *from;
	json_t *m;
	int rc;

	if (to == NULL)
		to = submit_ev_str(ev, "host");
	submit_say(sb, i, "moved to %s", to);
	snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s", to);
	/* Moved by someone else (a client, a drain): not undone. */
	if (!sb->s[i].moving)
		sb->s[i].pinned = 1;
	sb->s[i].moving = 0;
	from = submit_ev_str(ev, "from");
	m = json_pack("{s:s, s:s, s:s, s:s}", "event", "moved", "agent",
	    submit_ev_str(ev, "agent"), "from", from != NULL ? from : "?",
	    "host", sb->s[i].host);
	json_object_set_new(m, sb->data ? "partition" : "session",
	    json_integer(i));
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	return rc;
}

static int
submit_ev_move_failed(struct submit *sb, int i, json_t *ev, char **cause)
{
	(void)cause;
	sb->s[i].moving = 0;
	submit_say(sb, i, "move to %s failed: %s", submit_ev_str(ev, "to"),
	    submit_ev_str(ev, "reason"));
	return 0;
}

/*
 * Training diverged: the same run would diverge again, so no retry. A
 * data job fails with the reason; a sweep goes on without the session.
 */
static int
submit_diverged(struct submit *sb, int i, char **cause)
{
	struct sess *s = &sb->s[i];
	const char *why = json_string_value(json_object_get(s->result,
	    "diverged"));
	json_t *m;
	int r;

	submit_drop_commit(sb, i);
	if (sb->data)
		return nn_fail(cause, "%s", why);
	s->state = S_FAILED;
	sb->failures++;
	snprintf(s->reason, sizeof s->reason, "%s", why);
	submit_say(sb, i, "failed: %s", why);
	m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "event",
	    "session-failed", "session", i, "agent", s->agent, "host",
	    s->host, "reason", why, "retry", s->retries, "retries",
	    sb->job.retries);
	r = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	if (r != 0)
		return -1;
	json_object_set_new(sb->hosts, s->host, json_integer(
	    json_integer_value(json_object_get(sb->hosts, s->host)) + 1));
	return submit_fill(sb, cause);
}

/* The result of a session (or partition 0) is fetched; its core is free. */
static int
submit_ev_finished(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *host = submit_ev_str(ev, "host");
	int r;

	if (host != NULL)
		snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s", host);
	sb->s[i].state = S_DONE;
	sb->running--;
	/* A data job's model is partition 0's replica. */
	if (sb->data && i > 0) {
		submit_say(sb, i, "done");
		return 0;
	}
	if ((r = submit_result(sb, i, cause)) == 1)
		return submit_diverged(sb, i, cause);
	if (r != 0 || submit_missed_epochs(sb, i, cause) != 0 ||
	    (sb->data && submit_backups_before(sb, INT_MAX - 1, cause) != 0))
		return -1;
	submit_drop_commit(sb, i);
	submit_say(sb, i, "done, %s %.6g", sb->job.select, sb->s[i].score);
	if (sb->data)
		return 0;
	json_object_set_new(sb->hosts, sb->s[i].host, json_integer(
	    json_integer_value(json_object_get(sb->hosts, sb->s[i].host)) +
	    1));
	return submit_fill(sb, cause);
}

/* A partition is rebuilt from a live one, a session started again, while
 * they have retries left; then a data job fails, a sweep goes on without
 * the session. */
static int
submit_ev_failed(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *host = submit_ev_str(ev, "host");
	const char *reason = submit_ev_str(ev, "reason");
	char *why;
	int rc;

	why = xasprintf("failed on %s: %s", host != NULL ? host : "?",
	    reason != NULL ? reason : "no reason given");
	rc = sb->data ? submit_partition_failed(sb, i, why, cause) :
	    submit_retry(sb, i, why, cause);
	free(why);
	return rc;
}

/*
 * A host went down (the daemons saw it silent for --down-after, or we lost
 * it as our daemon): a metrics line names it and our agents there; its
 * sessions resume elsewhere (submit_retry) and its partitions are rebuilt
 * (submit_rebuild.c).
 */
static int
submit_host_down(struct submit *sb, json_t *ev, char **cause)
{
	const char *host = submit_ev_str(ev, "host");
	const char *reason = submit_ev_str(ev, "reason");
	json_t *ids = json_array(), *m;
	char *why;
	int i, n = 0, rc = 0;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING ||
		    strcmp(sb->s[i].host, host) != 0)
			continue;
		json_array_append_new(ids, json_string(sb->s[i].agent));
		n++;
	}
	m = json_pack("{s:s, s:s, s:s, s:o}", "event", "host-down", "host",
	    host, "reason", reason != NULL ? reason : "", "agents", ids);
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	submit_note(sb, "host %s went down (%s): %d of this job's agents were "
	    "on it", host, reason != NULL && reason[0] != '\0' ? reason :
	    "no reason given", n);
	if (n == 0 || rc != 0)
		goto out;
	if (sb->data) {
		why = xasprintf("its host %s went down", host);
		rc = submit_hosts(sb, cause);
		if (rc == 0)
			rc = submit_lose_partitions(sb, host, why, cause);
		free(why);
		goto out;
	}
	why = xasprintf("its host %s went down", host);
	/* Where they may go now: the dead host is no longer listed. */
	rc = submit_hosts(sb, cause);
	for (i = 0; rc == 0 && i < sb->n; i++)
		if (sb->s[i].state == S_RUNNING &&
		    strcmp(sb->s[i].host, host) == 0)
			rc = submit_retry(sb, i, why, cause);
	free(why);
	if (rc == 0)
		rc = submit_fill(sb, cause);
out:
	return rc;
}

/* A host came up (it joined or came back): a metrics line; the next look
 * at the hosts puts it to work. */
static int
submit_host_up(struct submit *sb, json_t *ev, char **cause)
{
	json_t *m;
	int rc;

	m = json_pack("{s:s, s:s}", "event", "host-up", "host",
	    submit_ev_str(ev, "host"));
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	submit_note(sb, "host %s is up: it takes agents", submit_ev_str(ev,
	    "host"));
	sb->balanced = 0;
	return rc;
}

/* A host joined the cluster (agentd --join): a metrics line; its link
 * coming up is the host-up that puts it to work. */
static int
submit_host_joined(struct submit *sb, json_t *ev, char **cause)
{
	const char *host = submit_ev_str(ev, "host");
	const char *address = submit_ev_str(ev, "address");
	json_t *m;
	int rc;

	m = json_pack("{s:s, s:s, s:s}", "event", "host-joined", "host",
	    host != NULL ? host : "?", "address", address != NULL ? address :
	    "?");
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	submit_note(sb, "host %s joined the cluster (%s)", host != NULL ?
	    host : "?", address != NULL ? address : "?");
	return rc;
}

/* Events about hosts, not agents. */
static const struct submit_host_event_entry {
	const char	*name;
	int		(*fn)(struct submit *, json_t *, char **);
} submit_host_events[] = {
	{ "host-down", submit_host_down },
	{ "host-joined", submit_host_joined },
	{ "host-up", submit_host_up },
};

/* A progress event's status: live figures for the table. */
static int
submit_ev_progress(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *text = submit_ev_str(ev, "status");
	json_t *st, *v, *m;
	int rc;

	/* A resumed session's first report: it trains again. */
	if (!sb->data && sb->s[i].lost_at > 0) {
		m = json_pack("{s:s, s:i, s:s, s:s, s:f}", "event", "recovered",
		    "session", i, "agent", sb->s[i].agent, "host",
		    sb->s[i].host, "stall_s", nn_clock_s() - sb->s[i].lost_at);
		sb->s[i].lost_at = 0;
		rc = nn_metrics_write(sb->metrics, m, cause);
		json_decref(m);
		if (rc != 0)
			return -1;
	}
	if (text == NULL || (st = json_loads(text, 0, NULL)) == NULL)
		return 0;
	if (json_is_integer(v = json_object_get(st, "epoch")))
		sb->s[i].epoch = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(st, "step")))
		sb->s[i].step = json_integer_value(v);
	if (json_is_number(v = json_object_get(st, "loss")))
		sb->s[i].live_loss = json_number_value(v);
	if (json_is_number(v = json_object_get(st, "samples_per_s")))
		sb->s[i].sps = json_number_value(v);
	json_decref(st);
	return 0;
}

/* An agent's errors and warnings are shown (levels 0 and 1). */
static int
submit_ev_log(struct submit *sb, int i, json_t *ev, char **cause)
{
	(void)cause;
	if (json_integer_value(json_object_get(ev, "level")) <= 1 &&
	    !sb->quiet)
		submit_say(sb, i, "%s", submit_ev_str(ev, "text"));
	return 0;
}

static const struct submit_event_entry submit_events[] = {
	{ "committed", 1, 0, submit_ev_committed },
	{ "commit-failed", 1, 0, submit_ev_commit_failed },
	{ "metrics", 0, 0, submit_ev_metrics },
	{ "moved", 0, 1, submit_ev_moved },
	{ "move-failed", 0, 0, submit_ev_move_failed },
	{ "finished", 1, 0, submit_ev_finished },
	{ "failed", 1, 0, submit_ev_failed },
	{ "progress", 0, 0, submit_ev_progress },
	{ "log", 0, 0, submit_ev_log },
};

int
submit_event(struct submit *sb, json_t *ev, const char *via, char **cause)
{
	const struct submit_event_entry *e;
	const struct submit_host_event_entry *h;
	const char *name = submit_ev_str(ev, "event");
	const char *agent = submit_ev_str(ev, "agent");
	const char *host = submit_ev_str(ev, "host");
	int i = submit_find(sb, agent);

	/* Each event once: an agent's from its home (our daemon), or, when
	 * we lost its home, from the daemon where it happened. */
	if (agent != NULL && submit_orphan(sb, agent)) {
		if (host == NULL || strcmp(host, via) != 0)
			return 0;
	} else if (strcmp(via, sb->self) != 0)
		return 0;

	if (agent == NULL && host != NULL && name != NULL &&
	    (h = TABLE_FIND(submit_host_events, name)) != NULL)
		return h->fn(sb, ev, cause);
	if (i < 0 || (e = TABLE_FIND(submit_events, name)) == NULL)
		return 0;
	if ((e->running && sb->s[i].state != S_RUNNING) ||
	    (e->has_host && submit_ev_str(ev, "host") == NULL))
		return 0;
	return e->fn(sb, i, ev, cause);
}
