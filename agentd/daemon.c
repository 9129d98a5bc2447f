/* The daemon's lifecycle (new, run, free), ticks, signals, events and the
 * log lines it keeps for the agents it made. */
#include <sys/stat.h>

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/commitstore.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/outbox.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/file.h"

/* The home keeps each of its agents' last log lines, for "logs". */
static void
daemon_keep_log(struct daemon *d, json_t *ev)
{
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	const char *event = json_string_value(json_object_get(ev, "event"));
	char home[64];
	json_t *lines, *old;
	json_int_t seq;

	if (event == NULL || strcmp(event, "log") != 0 ||
	    agent_home(agent, home, sizeof home) != 0 ||
	    strcmp(home, d->cfg.name) != 0)
		return;
	if ((lines = json_object_get(d->logs, agent)) == NULL) {
		if (json_array_size(d->log_order) >= DAEMON_LOG_AGENTS) {
			old = json_array_get(d->log_order, 0);
			json_object_del(d->logs, json_string_value(old));
			json_array_remove(d->log_order, 0);
		}
		lines = json_array();
		json_object_set_new(d->logs, agent, lines);
		json_array_append_new(d->log_order, json_string(agent));
	}
	/* Numbered from 1, so a follower knows what is new after the
	 * oldest lines have gone. */
	seq = json_integer_value(json_object_get(json_array_get(lines,
	    json_array_size(lines) - 1), "seq")) + 1;
	if (json_array_size(lines) >= DAEMON_LOG_LINES)
		json_array_remove(lines, 0);
	json_array_append_new(lines, json_pack("{s:I, s:I, s:O, s:O, s:O}",
	    "seq", seq, "time_ms", (json_int_t)clock_ms(), "host",
	    json_object_get(ev, "host"), "level", json_object_get(ev,
	    "level"), "text", json_object_get(ev, "text")));
}

/* The home records where each of its agents finished, for "result". */
static void
daemon_keep_finish(struct daemon *d, json_t *ev)
{
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	const char *host = json_string_value(json_object_get(ev, "host"));
	char home[64];
	json_t *old;

	if (host == NULL || agent_home(agent, home, sizeof home) != 0 ||
	    strcmp(home, d->cfg.name) != 0)
		return;
	if (json_object_get(d->finished_at, agent) == NULL) {
		if (json_array_size(d->finished_order) >= DAEMON_LOG_AGENTS) {
			old = json_array_get(d->finished_order, 0);
			json_object_del(d->finished_at,
			    json_string_value(old));
			json_array_remove(d->finished_order, 0);
		}
		json_array_append_new(d->finished_order, json_string(agent));
	}
	json_object_set_new(d->finished_at, agent, json_string(host));
}

/* An event: kept for "logs", pruned from the directory when an agent
 * ended, and sent to subscribers. Takes the reference. */
void
daemon_event(struct daemon *d, json_t *ev)
{
	const char *event = json_string_value(json_object_get(ev, "event"));
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	struct link *l;

	daemon_keep_log(d, ev);
	/* Here or relayed to its home: the agent ended where it was. */
	if (event != NULL && agent != NULL && (strcmp(event, "finished") == 0 ||
	    strcmp(event, "failed") == 0))
		directory_ended(d->where, agent, json_string_value(
		    json_object_get(ev, "host")));
	if (event != NULL && agent != NULL && strcmp(event, "finished") == 0)
		daemon_keep_finish(d, ev);
	for (l = d->links; l != NULL; l = l->next)
		if (l->subscribed && conn_is_ready(l->conn))
			conn_send(l->conn, FRAME_EVENT, ev, NULL, 0);
	json_decref(ev);
}

/* Heartbeats out, silence detected, links to lower names kept open. */
void
daemon_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct conn_config cc = daemon_conn_config(d);
	struct peer *p;
	uint64_t t = clock_ms(), seen;
	char *cause = NULL, why[64];
	int i, beat = t - d->last_heartbeat >= (uint64_t)d->heartbeat_ms;

	(void)fd;
	(void)what;
	if (d->info == NULL || t - d->last_info >= DAEMON_HEARTBEAT_MS) {
		d->last_info = t;
		json_decref(d->info);
		d->info = daemon_host_info(d);
		bigbuf_trim(0);
		/* Agents that could not leave yet (no host, or busy). */
		if (d->draining)
			(void)daemon_shed(d);
		if (t - d->last_expire >= 60 * 1000) {
			d->last_expire = t;
			daemon_result_expire(d);
			if (commitstore_expire(d->commits, time(NULL)) > 0)
				log_info("commits unrefreshed for %d h are "
				    "dropped", COMMITSTORE_KEEP_S / 3600);
		}
	}
	if (beat)
		d->last_heartbeat = t;
	for (i = 0; i < d->npeers; i++) {
		p = &d->peers[i];
		if (p->conn != NULL && conn_is_ready(p->conn)) {
			/* A large frame on a slow link takes longer than
			 * down_after_ms, and the peer's pings wait behind it:
			 * its bytes arriving show it is there. */
			seen = conn_last_read_ms(p->conn);
			if (seen < p->last_seen)
				seen = p->last_seen;
			if (t - seen > (uint64_t)d->cfg.down_after_ms) {
				snprintf(why, sizeof why, "no heartbeat or "
				    "data for %.1f s", (t - seen) / 1000.0);
				conn_close(p->conn, why);
				continue;
			}
			if (beat)
				conn_send(p->conn, FRAME_PING, d->info, NULL,
				    0);
		}
		/* The smaller name dials, so each pair has one link. */
		if (p->conn == NULL && strcmp(d->cfg.name, p->name) < 0 &&
		    t >= p->next_connect) {
			p->next_connect = t + RECONNECT_MS;
			p->conn = conn_connect(&cc, (struct sockaddr *)&p->sa,
			    p->salen, &cause);
			if (p->conn == NULL) {
				log_debug("host %s: %s", p->name, cause);
				free(cause);
				cause = NULL;
				continue;
			}
			link_add(d, p->conn, i);
		}
	}
	members_join_tick(d, t);
	data_tick(d, t);
	limits_tick(d, t);
	outbox_due(d->outbox, t, daemon_resend, daemon_give_up, d);
}

static void
daemon_runner_event(void *arg, json_t *ev)
{
	struct daemon *d = arg;
	const char *event = str_field(ev, "event");
	const char *agent = str_field(ev, "agent");
	struct arrival *a;

	if (event != NULL && agent != NULL)
		spawn_event(d, event, agent, ev);
	/* An arriving agent unpacked (or failed to): answer phase 1. */
	for (a = d->arrivals; a != NULL && agent != NULL; a = a->next) {
		if (!a->started || strcmp(a->agent, agent) != 0)
			continue;
		if (strcmp(event, "arrived") == 0)
			arrival_answer(d, a, NULL);
		else if (strcmp(event, "failed") == 0)
			arrival_answer(d, a, str_field(ev, "reason"));
		break;
	}
	daemon_agent_event(d, ev);
}

/* An agent's event: to our subscribers, and to its home daemon (where it
 * was made), which tells its owner. Takes the reference. */
void
daemon_agent_event(struct daemon *d, json_t *ev)
{
	const char *agent = str_field(ev, "agent"), *home;
	struct link *l;
	char host[64];

	if (agent != NULL && (home = strrchr(agent, '.')) != NULL &&
	    (size_t)(home - agent) < sizeof host) {
		snprintf(host, sizeof host, "%.*s", (int)(home - agent), agent);
		if (strcmp(host, d->cfg.name) != 0 &&
		    (l = link_of_peer(d, host)) != NULL)
			conn_send(l->conn, FRAME_EVENT, ev, NULL, 0);
	}
	daemon_event(d, ev);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval flush = { 0, 300 * 1000 };
	char *cause = NULL;

	(void)what;
	if (sig == SIGCHLD) {
		runner_reap(d->runner);
		return;
	}
	if (sig == SIGHUP) {
		if (d->cfg.hosts_path == NULL)
			log_info("SIGHUP: no hosts file to reload");
		else if (daemon_load_hosts(d, &cause) != 0) {
			log_error("reload: %s (keeping the old hosts)", cause);
			free(cause);
		} else
			log_info("reloaded %s: %d other hosts",
			    d->cfg.hosts_path, d->npeers);
		return;
	}
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	/* Agents stop first, and their owners hear of it before we go. */
	runner_stop_all(d->runner, "stopped: its daemon shut down");
	event_base_loopexit(d->base, &flush);
}

/*
 * The state folder by default: /var/lib/agentd/NAME for root, else
 * $XDG_STATE_HOME/agentd/NAME ($HOME/.local/state when unset), never a
 * predictable path in a folder others may write. Parents that are missing
 * are made 0700; the folder itself is made or checked by codestore_new.
 */
static char *
daemon_default_state(const char *name, char **cause)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *top, *dir;

	if (geteuid() == 0)
		top = xstrdup("/var/lib/agentd");
	else if (xdg != NULL && xdg[0] == '/')
		top = xasprintf("%s/agentd", xdg);
	else if (home != NULL && home[0] == '/')
		top = xasprintf("%s/.local/state/agentd", home);
	else {
		nn_fail(cause, "--state: no default without HOME; give one");
		return NULL;
	}
	if (nn_mkdirs(top, cause) != 0) {
		free(top);
		return NULL;
	}
	dir = xasprintf("%s/%s", top, name);
	free(top);
	return dir;
}

struct daemon *
daemon_new(const struct daemon_config *cfg, char **cause)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	struct timeval tick = { 0, 0 };
	struct sandbox_config sbc;
	char *why = NULL;

	d->cfg = *cfg;
	if (d->cfg.down_after_ms <= 0)
		d->cfg.down_after_ms = DAEMON_DOWN_AFTER_MS;
	/* Three heartbeats fit in the silence that marks a host down, so
	 * one late ping does not; the tick checks as often. */
	d->heartbeat_ms = d->cfg.down_after_ms / 3;
	if (d->heartbeat_ms > DAEMON_HEARTBEAT_MS)
		d->heartbeat_ms = DAEMON_HEARTBEAT_MS;
	tick.tv_usec = (d->heartbeat_ms < TICK_MS ? d->heartbeat_ms :
	    TICK_MS) * 1000;
	d->base = event_base_new();
	d->where = directory_new(DIRECTORY_MAX);
	d->outbox = outbox_new();
	d->logs = json_object();
	d->log_order = json_array();
	d->finished_at = json_object();
	d->finished_order = json_array();
	/* Commits may take a quarter of the memory unless told. */
	if (d->cfg.commit_mem == 0)
		d->cfg.commit_mem = (uint64_t)sysconf(_SC_PHYS_PAGES) *
		    (uint64_t)sysconf(_SC_PAGESIZE) / 4;
	d->commits = commitstore_new(d->cfg.commit_mem);
	d->commits_busy = json_object();
	d->commit_bases = json_object();
	data_init(d, NULL);
	if (daemon_load_hosts(d, cause) != 0)
		goto fail;
	/* The default needs the name, which the hosts file may give. */
	if (cfg->state_dir == NULL) {
		if ((d->state_dir = daemon_default_state(d->cfg.name,
		    cause)) == NULL)
			goto fail;
	} else
		d->state_dir = xstrdup(cfg->state_dir);
	/* codestore_new creates or checks it: ours alone, mode 0700. */
	if ((d->code = codestore_new(d->state_dir, &why)) == NULL) {
		nn_fail(cause, "--state %s", why);
		free(why);
		goto fail;
	}
	/* Workers never read the key, nor the store they load from. */
	sbc = d->cfg.sandbox;
	sbc.hide[SANDBOX_HIDE_MAX - 2] = d->cfg.key_path;
	sbc.hide[SANDBOX_HIDE_MAX - 1] = d->state_dir;
	if ((d->sandbox = sandbox_new(&sbc, cause)) == NULL)
		goto fail;
	d->runner = runner_new(d->base, d->cfg.name, d->sandbox,
	    daemon_runner_event, daemon_runner_request, d);
	d->listener = evconnlistener_new_bind(d->base, daemon_accept_cb, d,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    64, (struct sockaddr *)&cfg->listen, (int)cfg->listen_len);
	if (d->listener == NULL) {
		nn_fail(cause, "cannot listen on %s: %s", cfg->listen_text,
		    strerror(errno));
		goto fail;
	}
	limits_init(d);
	d->tick = event_new(d->base, -1, EV_PERSIST, daemon_tick_cb, d);
	event_add(d->tick, &tick);
	d->sig_term = evsignal_new(d->base, SIGTERM, daemon_signal_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, daemon_signal_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, daemon_signal_cb, d);
	d->sig_chld = evsignal_new(d->base, SIGCHLD, daemon_signal_cb, d);
	event_add(d->sig_chld, NULL);
	event_add(d->sig_term, NULL);
	event_add(d->sig_int, NULL);
	event_add(d->sig_hup, NULL);
	return d;
fail:
	daemon_free(d);
	return NULL;
}

int
daemon_run(struct daemon *d)
{
	char keys[96];

	if (d->cfg.have_key)
		snprintf(keys, sizeof keys, "node key, %zu client key%s",
		    d->cfg.nclient_keys, d->cfg.nclient_keys == 1 ? "" : "s");
	else
		snprintf(keys, sizeof keys, "no key: loopback connections "
		    "only, from uid %lu", (unsigned long)geteuid());
	log_info("%s listening on %s (%s), %d other hosts%s", d->cfg.name,
	    d->cfg.listen_text, keys, d->npeers, d->cfg.plaintext ?
	    "; frames in clear (--encrypt off)" : "");
	log_info("limits: %d connections, %d unauthenticated, %d from one "
	    "address; clients idle %d s, replies unread %d s (0: never)",
	    d->cfg.max_conns, d->cfg.max_unauth, d->cfg.max_per_source,
	    d->cfg.idle_ms / 1000, d->cfg.stall_ms / 1000);
	event_base_dispatch(d->base);
	return d->exit_status;
}

void
daemon_free(struct daemon *d)
{
	if (d == NULL)
		return;
	/* Agents are stopped, and their owners told, before links close.
	 * The runner outlives the links: closing one fails the moves that
	 * wait on it, and those look their agents up. */
	runner_clear(d->runner);
	spawn_free_waits(d);
	while (d->links != NULL)
		conn_close(d->links->conn, "daemon shutting down");
	if (d->cache != NULL)
		data_free(d);
	codestore_free(d->code);
	while (d->pending != NULL) {
		struct pending *p = d->pending;

		d->pending = p->next;
		free(p);
	}
	while (d->arrivals != NULL) {
		struct arrival *a = d->arrivals;

		d->arrivals = a->next;
		arrival_free(a);
	}
	directory_free(d->where);
	json_decref(d->info);
	if (outbox_count(d->outbox, NULL) > 0)
		log_info("%zu messages not yet acknowledged are dropped",
		    outbox_count(d->outbox, NULL));
	outbox_free(d->outbox);
	json_decref(d->logs);
	json_decref(d->log_order);
	json_decref(d->finished_at);
	json_decref(d->finished_order);
	commitstore_free(d->commits);
	json_decref(d->commits_busy);
	json_decref(d->commit_bases);
	free(d->state_dir);
	daemon_free_peers(d);
	runner_free(d->runner);
	sandbox_free(d->sandbox);
	bigbuf_trim(1);
	limits_free(d);
	if (d->listener != NULL)
		evconnlistener_free(d->listener);
	if (d->tick != NULL)
		event_free(d->tick);
	if (d->sig_term != NULL) {
		event_free(d->sig_term);
		event_free(d->sig_int);
		event_free(d->sig_hup);
		event_free(d->sig_chld);
	}
	event_base_free(d->base);
	free(d);
}
