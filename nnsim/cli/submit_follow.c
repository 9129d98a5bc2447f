/*
 * When the daemon nnsim submit talks to dies: another host of the cluster
 * takes over, the lost host's sessions resume elsewhere, and the agents
 * whose home it was (their events went through it) are followed on the
 * hosts where they run (docs/elastic.md).
 */
#include <stdio.h>
#include <string.h>

#include "agentd/client.h"
#include "base/clock.h"
#include "cli/submit-internal.h"

int
submit_orphan(const struct submit *sb, const char *agent)
{
	const char *dot = agent != NULL ? strrchr(agent, '.') : NULL;
	char home[64];

	if (dot == NULL || sb->gone == NULL || (size_t)(dot - agent) >=
	    sizeof home)
		return 0;
	snprintf(home, sizeof home, "%.*s", (int)(dot - agent), agent);
	return json_object_get(sb->gone, home) != NULL;
}

void
submit_follow_free(struct submit *sb)
{
	int i;

	for (i = 0; i < sb->nfollow; i++)
		client_free(sb->follow[i].cl);
	sb->nfollow = 0;
}

/* A client of addr that gets its events, or NULL with cause. */
static struct client *
submit_subscribe(struct submit *sb, const char *addr, char **cause)
{
	struct client *cl;
	json_t *req, *rep;
	int rc;

	if ((cl = client_connect(addr, sb->keyfile, "nnsim-submit",
	    cause)) == NULL)
		return NULL;
	req = json_pack("{s:s}", "op", "subscribe");
	rep = client_request(cl, req, cause);
	json_decref(req);
	rc = rep != NULL ? client_reply_ok(rep, "subscribe", cause) : -1;
	json_decref(rep);
	if (rc != 0) {
		client_free(cl);
		return NULL;
	}
	return cl;
}

int
submit_follow_events(struct submit *sb, char **cause)
{
	char *why = NULL;
	json_t *ev;
	int i, rc = 0;

	for (i = 0; rc == 0 && i < sb->nfollow; i++) {
		while (rc == 0 && (ev = client_event(sb->follow[i].cl, 0,
		    &why)) != NULL) {
			rc = submit_event(sb, ev, sb->follow[i].host, cause);
			json_decref(ev);
		}
		/* Its host went down: our daemon says so (host-down). */
		if (why != NULL) {
			free(why);
			why = NULL;
			client_free(sb->follow[i].cl);
			sb->follow[i] = sb->follow[--sb->nfollow];
			i--;
		}
	}
	return rc;
}

/* Follows every up host but ours (and those already followed). */
static void
submit_follow_all(struct submit *sb)
{
	const char *name, *addr;
	char *why = NULL;
	json_t *v;
	int i, have;

	json_object_foreach(sb->hosts, name, v) {
		(void)v;
		addr = json_string_value(json_object_get(sb->addrs, name));
		if (strcmp(name, sb->self) == 0 || addr == NULL ||
		    sb->nfollow == SUBMIT_FOLLOW_MAX)
			continue;
		for (i = have = 0; i < sb->nfollow; i++)
			have |= strcmp(sb->follow[i].host, name) == 0;
		if (have)
			continue;
		if ((sb->follow[sb->nfollow].cl = submit_subscribe(sb, addr,
		    &why)) == NULL) {
			free(why);
			why = NULL;
			continue;
		}
		snprintf(sb->follow[sb->nfollow].host,
		    sizeof sb->follow[sb->nfollow].host, "%s", name);
		sb->nfollow++;
	}
}

/*
 * What the gap may have hidden: a session whose agent ended while no
 * daemon told us. One still listed where it ran goes on; one that left a
 * result finished; the others failed and start again.
 */
static int
submit_settle(struct submit *sb, char **cause)
{
	struct sess *s;
	json_t *rep, *a;
	size_t k;
	int i, found, rc = 0;

	for (i = 0; rc == 0 && i < sb->n; i++) {
		s = &sb->s[i];
		/* Finished, but its result was not fetched before the loss. */
		if (s->state == S_DONE && s->result == NULL &&
		    (!sb->data || i == 0)) {
			s->state = S_RUNNING;
			sb->running++;
		}
		if (s->state != S_RUNNING)
			continue;
		rep = submit_ask(sb, json_pack("{s:s, s:s}", "op", "agents",
		    "host", s->host), NULL, 0, NULL, NULL, cause);
		if (rep == NULL)
			return -1;
		found = 0;
		json_array_foreach(json_object_get(rep, "agents"), k, a)
			found |= json_is_string(json_object_get(a, "id")) &&
			    strcmp(json_string_value(json_object_get(a, "id")),
			    s->agent) == 0;
		json_decref(rep);
		if (found)
			continue;
		/* Its finished event is the one we missed, or it failed. */
		rep = json_pack("{s:s, s:s, s:s}", "event", "finished",
		    "agent", s->agent, "host", s->host);
		rc = submit_event(sb, rep, submit_orphan(sb, s->agent) ?
		    s->host : sb->self, cause);
		json_decref(rep);
		if (rc != 0 && !sb->lost) {
			/* No result: it did not finish; it failed. */
			free(*cause);
			*cause = NULL;
			s->state = S_RUNNING;
			sb->running++;
			rc = submit_retry(sb, i, "its agent ended while we lost "
			    "our daemon, with no result", cause);
		}
	}
	return rc;
}

int
submit_reconnect(struct submit *sb, const char *why, char **cause)
{
	char lost[64], *err = NULL, tried[512] = "";
	const char *name, *addr;
	json_t *v, *m;
	size_t n;
	int rc;

	snprintf(lost, sizeof lost, "%s", sb->self);
	client_free(sb->cl);
	sb->cl = NULL;
	if (sb->gone == NULL)
		sb->gone = json_object();
	json_object_set_new(sb->gone, lost, json_real(nn_clock_s()));
	json_object_foreach(sb->addrs, name, v) {
		addr = json_string_value(v);
		if (json_object_get(sb->gone, name) != NULL)
			continue;
		if ((sb->cl = submit_subscribe(sb, addr, &err)) != NULL) {
			snprintf(sb->addr_buf, sizeof sb->addr_buf, "%s", addr);
			sb->addr = sb->addr_buf;
			snprintf(sb->self, sizeof sb->self, "%s", name);
			break;
		}
		n = strlen(tried);
		snprintf(tried + n, sizeof tried - n, "; %s (%s): %s", name,
		    addr, err);
		free(err);
		err = NULL;
	}
	if (sb->cl == NULL)
		return nn_fail(cause, "lost the daemon on %s (%s), and no other "
		    "host answers%s", lost, why, tried);
	sb->lost = 0;
	/* Its followers may include our new daemon: read from it once. */
	submit_follow_free(sb);
	/* The table was drawn by the lost connection's loop: redraw below. */
	if (sb->tty)
		sb->drawn = 0;
	submit_note(sb, "lost the daemon on %s (%s); carrying on with %s",
	    lost, why, sb->self);
	m = json_pack("{s:s, s:s, s:s, s:s}", "event", "reconnected", "lost",
	    lost, "host", sb->self, "reason", why);
	rc = nn_metrics_write(sb->metrics, m, cause);
	json_decref(m);
	if (rc != 0)
		return -1;
	/* The resumed sessions start from here: it needs the code. */
	if (submit_ship_code(sb, cause) != 0 || submit_hosts(sb, cause) != 0)
		return -1;
	submit_follow_all(sb);
	/* Its agents died with it; its orphans elsewhere go on. */
	m = json_pack("{s:s, s:s, s:s}", "event", "host-down", "host", lost,
	    "reason", "we lost it as our daemon");
	rc = submit_event(sb, m, sb->self, cause);
	json_decref(m);
	return rc != 0 ? -1 : submit_settle(sb, cause);
}
