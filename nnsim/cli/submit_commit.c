/*
 * Sessions' commits: where each session's last commit is held (its
 * "committed" events), the session started again from there when its host
 * dies or its agent fails, and commits dropped once nobody needs them
 * (docs/elastic.md).
 */
#include <stdio.h>
#include <string.h>

#include "agentd/client.h"
#include "base/clock.h"
#include "cli/submit-internal.h"

/* Asks host to drop agent's commit; a host that is gone has dropped it. */
static void
submit_drop_at(struct submit *sb, const char *agent, const char *host)
{
	char *ignored = NULL;
	json_t *rep;

	rep = submit_ask(sb, json_pack("{s:s, s:s, s:s}", "op",
	    "commit-drop", "agent", agent, "host", host), NULL, 0, NULL, NULL,
	    &ignored);
	json_decref(rep);
	free(ignored);
}

void
submit_drop_commit(struct submit *sb, int i)
{
	struct sess *s = &sb->s[i];
	json_t *h;
	size_t k;

	json_array_foreach(s->commit_hosts, k, h)
		submit_drop_at(sb, s->commit, json_string_value(h));
	json_decref(s->commit_hosts);
	s->commit_hosts = NULL;
	s->commit[0] = '\0';
}

static int
submit_has_host(json_t *hosts, const char *host)
{
	json_t *h;
	size_t k;

	json_array_foreach(hosts, k, h)
		if (strcmp(json_string_value(h), host) == 0)
			return 1;
	return 0;
}

/*
 * Session i committed: the new commit replaces the last, whose holders
 * drop it (those that hold the new one replaced it already).
 */
int
submit_ev_committed(struct submit *sb, int i, json_t *ev, char **cause)
{
	struct sess *s = &sb->s[i];
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	json_t *hosts = json_object_get(ev, "hosts"), *note, *h, *m;
	size_t k;
	int rc;

	if (agent == NULL || !json_is_array(hosts) ||
	    json_array_size(hosts) == 0)
		return 0;
	json_array_foreach(s->commit_hosts, k, h) {
		if (strcmp(s->commit, agent) != 0 ||
		    !submit_has_host(hosts, json_string_value(h)))
			submit_drop_at(sb, s->commit, json_string_value(h));
	}
	json_decref(s->commit_hosts);
	s->commit_hosts = json_incref(hosts);
	snprintf(s->commit, sizeof s->commit, "%s", agent);
	note = json_object_get(ev, "note");
	s->commit_epochs = (int)json_integer_value(json_object_get(note,
	    "epochs_done"));
	/* Data mode: a rebuild waits for it (submit_rebuild.c). */
	s->commit_step = json_integer_value(json_object_get(note, "step"));
	s->commit_asked = 0;
	s->commits++;
	s->commit_ms += (double)json_integer_value(json_object_get(ev, "ms"));
	if (!json_is_true(json_object_get(ev, "delta"))) {
		s->commits_full++;
		s->commit_full_ms += (double)json_integer_value(
		    json_object_get(ev, "ms"));
	}
	/* A session's restore point and its cost, for people and for make
	 * bench; a partition's commits are the rebuild's business. */
	if (sb->data)
		return 0;
	m = json_pack("{s:s, s:i, s:s, s:O?, s:i, s:O?, s:O?, s:b, s:O}",
	    "event", "committed", "session", i, "agent", agent, "host",
	    json_object_get(ev, "host"), "epochs_done", s->commit_epochs,
	    "bytes", json_object_get(ev, "bytes"), "ms", json_object_get(ev,
	    "ms"), "delta", json_is_true(json_object_get(ev, "delta")),
	    "holders", hosts);
	if (m == NULL)
		return nn_fail(cause, "out of memory for a committed line");
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	return rc;
}

/* A commit that could not be kept: said once per session, with why. */
int
submit_ev_commit_failed(struct submit *sb, int i, json_t *ev, char **cause)
{
	const char *why = json_string_value(json_object_get(ev, "reason"));
	json_t *m;
	int rc;

	/* A rebuild goes on with the others' commits. */
	sb->s[i].commit_asked = 0;
	if (sb->s[i].commit_warned)
		return 0;
	/* On screen once a job: on one host, every session says the same. */
	if (!sb->commit_warned)
		submit_say(sb, i, "cannot commit: %s", why != NULL ? why : "?");
	sb->commit_warned = sb->s[i].commit_warned = 1;
	m = json_pack("{s:s, s:i, s:O, s:O, s:s}", "event", "commit-failed",
	    "session", i, "agent", json_object_get(ev, "agent"), "host",
	    json_object_get(ev, "host"), "reason", why != NULL ? why : "?");
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	return rc;
}

int
submit_resume(struct submit *sb, int i, const char *why, char *lost,
    size_t lost_len, char **cause)
{
	struct sess *s = &sb->s[i];
	char old[96], from[64], *refusal = NULL, tried[192] = "";
	const char *host;
	json_t *m, *h;
	size_t k, n;
	int refused, rc;
	double t0;

	if (s->commit[0] == '\0')
		return 0;
	t0 = nn_clock_s();
	snprintf(old, sizeof old, "%s", s->agent);
	json_array_foreach(s->commit_hosts, k, h) {
		host = json_string_value(h);
		/* Only the hosts up now (the dead one is no longer listed). */
		if (json_object_get(sb->hosts, host) == NULL)
			continue;
		refused = 0;
		if (submit_spawn(sb, i, host, s->commit, &refused,
		    &refusal) != 0) {
			if (!refused) {
				*cause = refusal;
				return -1;
			}
			n = strlen(tried);
			snprintf(tried + n, sizeof tried - n, "%s%s", n > 0 ?
			    "; " : "", refusal);
			free(refusal);
			refusal = NULL;
			continue;
		}
		snprintf(from, sizeof from, "%s", host);
		/* Whole epochs that ended after the commit are redone. */
		m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i, "
		    "s:i, s:i}", "event", "resumed", "session", i, "agent",
		    s->agent, "from", old, "host", from, "reason", why,
		    "commit", s->commit, "epochs_done", s->commit_epochs,
		    "epochs_redone", s->done_epochs > s->commit_epochs ?
		    s->done_epochs - s->commit_epochs : 0, "retry", s->retries,
		    "retries", sb->job.retries);
		rc = nn_metrics_write(sb->metrics, m, cause);
		json_decref(m);
		/* Timed to its first progress (submit_ev_progress). */
		s->lost_at = t0;
		submit_say(sb, i, "%s; resuming from its commit after epoch %d, "
		    "held on %s (retry %d of %d)", why, s->commit_epochs, from,
		    s->retries, sb->job.retries);
		return rc == 0 ? 1 : -1;
	}
	snprintf(lost, lost_len, "no host that held its commit is up%s%s%s",
	    tried[0] != '\0' ? " (" : "", tried, tried[0] != '\0' ? ")" : "");
	/* Those hosts are gone: the commit with them. */
	json_decref(s->commit_hosts);
	s->commit_hosts = NULL;
	s->commit[0] = '\0';
	return 0;
}
