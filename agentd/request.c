/* The daemon's client requests, one table entry each. */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentd/agent.h"
#include "agentd/auth.h"
#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/file.h"
#include "base/table.h"

static void	op_result(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);
static void	op_result_ack(struct daemon *d, struct link *l, json_t *id,
    struct frame *f);

void
reply(struct conn *c, json_t *id, int ok, const char *error, json_t *extra)
{
	json_t *m = extra != NULL ? extra : json_object();

	json_object_set(m, "id", id);
	json_object_set_new(m, "ok", json_boolean(ok));
	if (error != NULL)
		json_object_set_new(m, "error", json_string(error));
	conn_send(c, FRAME_REPLY, m, NULL, 0);
	json_decref(m);
}

const char *
str_field(json_t *m, const char *key)
{
	return json_string_value(json_object_get(m, key));
}

/* A reply to relay to the client that asked, if it is still there. */
struct relay {
	unsigned long	 link;
	json_t		*id;
	char		 agent[96];
	char		 host[64];
};

static void
relay_reply(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct relay *r = arg;
	struct link *l = link_by_serial(d, r->link);
	json_t *m;

	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    r->agent[0] != '\0')
		directory_set(d->where, r->agent, r->host);
	if (l != NULL) {
		if (rep == NULL)
			reply(l->conn, r->id, 0, "the host went away", NULL);
		else {
			m = json_deep_copy(rep);
			json_object_set(m, "id", r->id);
			/* A payload (a result) goes back with its answer. */
			conn_send(l->conn, FRAME_REPLY, m, f != NULL ?
			    f->payload : NULL, f != NULL ? f->payload_len : 0);
			json_decref(m);
		}
	}
	json_decref(r->id);
	free(r);
}

/* Passes a request on to host and the answer back to the client. */
void
daemon_forward(struct daemon *d, struct link *l, json_t *id, const char *host,
    json_t *meta, const void *payload, uint64_t len, const char *agent)
{
	struct relay *r;
	struct link *to = link_of_peer(d, host);

	if (to == NULL) {
		reply(l->conn, id, 0, peer_find(d, host) < 0 ?
		    "no such host" : "that host is down", NULL);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->link = l->serial;
	r->id = json_incref(id);
	snprintf(r->agent, sizeof r->agent, "%s", agent != NULL ? agent : "");
	snprintf(r->host, sizeof r->host, "%s", host);
	meta = json_deep_copy(meta);
	json_object_del(meta, "id");
	peer_request(d, to, meta, payload, len, relay_reply, r);
}

static void
op_code_put(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	char sha[CODESTORE_HEX], *cause = NULL;
	json_t *want = json_object_get(f->meta, "sha256");

	/* Absent, the hash is the content's; given, it is checked. */
	if (want != NULL && (!json_is_string(want) ||
	    !codestore_valid(json_string_value(want)))) {
		reply(l->conn, id, 0, "code-put: sha256 must be 64 lowercase "
		    "hex digits", NULL);
		return;
	}
	if (codestore_put(d->code, f->payload, (size_t)f->payload_len,
	    str_field(f->meta, "sha256"), sha, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	log_info("%s: stored code %s (%llu bytes)", conn_label(l->conn), sha,
	    (unsigned long long)f->payload_len);
	reply(l->conn, id, 1, NULL, json_pack("{s:s}", "sha256", sha));
}

/* How often an order may be passed on between daemons. */
#define CONTROL_HOPS_MAX	4

/*
 * suspend, resume, kill, migrate and clone: applied, told to the agent for
 * its next step, queued or refused, as agentd/lifecycle.c's table says;
 * the reply's outcome says which. Passed on to the agent's host.
 */
static void
op_control(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	const char *op = str_field(f->meta, "op");
	const char *host = str_field(f->meta, "host");
	json_int_t hops = json_integer_value(json_object_get(f->meta, "hops"));
	char *cause = NULL;
	json_t *extra;

	if (agent == NULL) {
		reply(l->conn, id, 0, "missing agent", NULL);
		return;
	}
	/*
	 * Passed on to where the agent is; a daemon whose directory is
	 * behind a move passes it on again, a few hops at most. An agent
	 * held here (arrived, not yet let go) is still its source's: the
	 * source queues the order with the others it took while the agent
	 * moved, or, having let go, passes it back behind its go, so that
	 * orders apply in the order they were given (tests/model finds them
	 * out of order when both ends queue).
	 */
	if ((!runner_has(d->runner, agent) ||
	    runner_held_from(d->runner, agent) != NULL) &&
	    hops < CONTROL_HOPS_MAX) {
		char where[64];
		json_t *m;

		if (runner_held_from(d->runner, agent) != NULL)
			snprintf(where, sizeof where, "%s",
			    runner_held_from(d->runner, agent));
		else
			agent_host(d, agent, where, sizeof where);
		/* The client saw it at "at", and where we would send it is
		 * down (its home died, say): "at" it is. */
		if (str_field(f->meta, "at") != NULL &&
		    strlen(str_field(f->meta, "at")) < sizeof where &&
		    strcmp(where, d->cfg.name) != 0 &&
		    link_of_peer(d, where) == NULL)
			snprintf(where, sizeof where, "%s", str_field(f->meta,
			    "at"));
		if (where[0] != '\0' && strcmp(where, d->cfg.name) != 0) {
			m = json_deep_copy(f->meta);
			json_object_set_new(m, "hops", json_integer(hops + 1));
			daemon_forward(d, l, id, where, m, NULL, 0, NULL);
			json_decref(m);
			return;
		}
	}
	/* A move with no host goes where the most cores are free. */
	if (strcmp(op, "migrate") == 0 && (host == NULL || host[0] == '\0') &&
	    runner_has(d->runner, agent) &&
	    (host = daemon_pick_away(d, agent, NULL)) == NULL) {
		reply(l->conn, id, 0, "migrate: no other host is up to take "
		    "the agent", NULL);
		return;
	}
	if (runner_order(d->runner, agent, op, host, &extra, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	reply(l->conn, id, 1, NULL, extra);
}

/* An agent's last log lines, kept by its home daemon. */
static void
op_logs(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char home[64], why[320], *end;
	unsigned long n;
	json_t *lines;

	if (agent == NULL || agent_home(agent, home, sizeof home) != 0) {
		reply(l->conn, id, 0, "logs needs an agent id (HOST.N)", NULL);
		return;
	}
	if (strcmp(home, d->cfg.name) != 0) {
		daemon_forward(d, l, id, home, f->meta, NULL, 0, NULL);
		return;
	}
	/* Ids count up from HOST.1: one past them was never made here, and
	 * an empty answer would read as an agent that logged nothing. An
	 * agent of our last run that still logs, or that one of the hosts
	 * knows of, is not unknown. */
	lines = json_object_get(d->logs, agent);
	n = strtoul(agent + strlen(home) + 1, &end, 10);
	if (lines == NULL && directory_get(d->where, agent) == NULL &&
	    (*end != '\0' || n == 0 || n > d->next_agent)) {
		snprintf(why, sizeof why, "logs: no agent %.64s (%s made %s.1 "
		    "to %s.%lu)", agent, home, home, home, d->next_agent);
		reply(l->conn, id, 0, why, NULL);
		return;
	}
	reply(l->conn, id, 1, NULL, json_pack("{s:O}", "lines",
	    lines != NULL ? lines : json_array()));
}

static void
op_ping(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	(void)d;
	(void)f;
	reply(l->conn, id, 1, NULL, NULL);
}

static void
op_hosts(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	(void)f;
	reply(l->conn, id, 1, NULL, daemon_hosts_json(d));
}

/* The link gets every event from now on. */
static void
op_subscribe(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	(void)d;
	(void)f;
	l->subscribed = 1;
	reply(l->conn, id, 1, NULL, NULL);
}

/* The agents here, or on the named host. */
static void
op_agents(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *host = str_field(f->meta, "host");

	if (host != NULL && strcmp(host, d->cfg.name) != 0)
		daemon_forward(d, l, id, host, f->meta, NULL, 0, NULL);
	else
		reply(l->conn, id, 1, NULL, json_pack("{s:o}", "agents",
		    runner_list(d->runner)));
}

static void
op_code_has(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");

	reply(l->conn, id, 1, NULL, json_pack("{s:b}", "has", sha != NULL &&
	    codestore_has(d->code, sha)));
}

static void
op_code_stats(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	(void)f;
	reply(l->conn, id, 1, NULL, json_pack("{s:I}", "received",
	    (json_int_t)codestore_received(d->code)));
}

/* A client's message to an agent. A client is a sender like an agent: a
 * numbered stream to each receiver. */
static void
op_send(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *to = str_field(f->meta, "agent");
	const char *at = str_field(f->meta, "at");
	char from[128], *cause = NULL;
	uint64_t seq;

	snprintf(from, sizeof from, "client:%s@%s#%lu", conn_name(l->conn),
	    d->cfg.name, l->serial);
	/* The client saw it at "at", and we know no live way to it (its
	 * home died, say): "at" it is. */
	if (to != NULL && at != NULL && strlen(at) < 64 &&
	    !runner_has(d->runner, to) && !daemon_has_route(d, to) &&
	    link_of_peer(d, at) != NULL)
		directory_set(d->where, to, at);
	if (l->send_seq == NULL)
		l->send_seq = json_object();
	seq = to != NULL ? (uint64_t)json_integer_value(
	    json_object_get(l->send_seq, to)) : 0;
	if (to == NULL)
		reply(l->conn, id, 0, "missing agent", NULL);
	else if (runner_deliver(d->runner, to, from, seq, f->payload,
	    f->payload_len) == 0 || (daemon_has_route(d, to) &&
	    daemon_keep(d, to, from, seq, f->payload, f->payload_len,
	    &cause) == 0)) {
		json_object_set_new(l->send_seq, to,
		    json_integer((json_int_t)seq + 1));
		reply(l->conn, id, 1, NULL, NULL);
	} else {
		reply(l->conn, id, 0, cause != NULL ? cause :
		    "no route to that agent", NULL);
		free(cause);
	}
}

/* The host an agent is on, as far as this daemon knows. */
static void
op_where(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char host[64];

	if (agent == NULL) {
		reply(l->conn, id, 0, "missing agent", NULL);
		return;
	}
	agent_host(d, agent, host, sizeof host);
	if (runner_has(d->runner, agent))
		snprintf(host, sizeof host, "%s", d->cfg.name);
	reply(l->conn, id, 1, NULL, json_pack("{s:s}", "host", host));
}

static void
op_drain(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	daemon_drain(d, l, id, f, 1);
}

static void
op_undrain(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	daemon_drain(d, l, id, f, 0);
}

/*
 * Every request a daemon takes (docs/protocol.md), by name, with the
 * lowest key role that may make it (docs/security.md): a read key only
 * looks, a run key runs agents of code already stored, and shipping code,
 * draining and what daemons ask each other need the node key.
 */
static const struct request_entry {
	const char	*name;
	request_fn	*fn;
	int		 flags;
	enum auth_role	 role;
} requests[] = {
	{ "agent-accept", op_accept, REQUEST_PEER, AUTH_NODE },
	{ "agents", op_agents, 0, AUTH_READ },
	{ "clone", op_control, 0, AUTH_RUN },
	{ "code-get", op_code_get, REQUEST_PEER, AUTH_NODE },
	{ "commit-drop", op_commit_drop, 0, AUTH_RUN },
	{ "commit-get", op_commit_get, 0, AUTH_RUN },
	{ "commit-put", op_commit_put, REQUEST_PEER, AUTH_NODE },
	{ "commits", op_commits, 0, AUTH_READ },
	{ "code-has", op_code_has, 0, AUTH_READ },
	{ "code-put", op_code_put, 0, AUTH_NODE },
	{ "code-stats", op_code_stats, 0, AUTH_READ },
	{ "data-block-fetch", op_data_block_fetch, REQUEST_PEER, AUTH_NODE },
	{ "data-block-get", op_data_block_get, 0, AUTH_RUN },
	{ "data-block-put", op_data_block_put, 0, AUTH_RUN },
	{ "data-block-store", op_data_block_store, REQUEST_PEER, AUTH_NODE },
	{ "data-drop", op_data_drop, 0, AUTH_RUN },
	{ "data-has", op_data_has, 0, AUTH_READ },
	{ "data-inventory", op_data_inventory, REQUEST_PEER, AUTH_NODE },
	{ "data-manifests", op_data_manifests, REQUEST_PEER, AUTH_NODE },
	{ "data-rm", op_data_rm, 0, AUTH_RUN },
	{ "data-set", op_data_set, 0, AUTH_READ },
	{ "data-set-drop", op_data_set_drop, REQUEST_PEER, AUTH_NODE },
	{ "data-set-put", op_data_set_put, 0, AUTH_RUN },
	{ "data-set-store", op_data_set_store, REQUEST_PEER, AUTH_NODE },
	{ "data-sets", op_data_sets, 0, AUTH_READ },
	{ "drain", op_drain, 0, AUTH_NODE },
	{ "hosts", op_hosts, 0, AUTH_READ },
	{ "join", op_join, 0, AUTH_NODE },
	{ "kill", op_control, 0, AUTH_RUN },
	{ "logs", op_logs, 0, AUTH_READ },
	{ "migrate", op_control, 0, AUTH_RUN },
	{ "ping", op_ping, 0, AUTH_READ },
	{ "result", op_result, 0, AUTH_READ },
	{ "result-ack", op_result_ack, 0, AUTH_RUN },
	{ "resume", op_control, 0, AUTH_RUN },
	{ "send", op_send, 0, AUTH_RUN },
	{ "spawn", op_spawn, 0, AUTH_RUN },
	{ "subscribe", op_subscribe, 0, AUTH_READ },
	{ "suspend", op_control, 0, AUTH_RUN },
	{ "undrain", op_undrain, 0, AUTH_NODE },
	{ "where", op_where, 0, AUTH_READ },
};

/* A client's request; malformed ones close the connection. An op that is
 * not in the table, or not for this caller, is refused. */
void
daemon_request(struct daemon *d, struct link *l, struct frame *f)
{
	json_t *id = json_object_get(f->meta, "id");
	const char *op = json_string_value(json_object_get(f->meta, "op"));
	const struct request_entry *e;
	char *cause = NULL;

	if (!json_is_integer(id) || op == NULL) {
		log_warn("%s: request needs an integer id and a string op; "
		    "closing", conn_label(l->conn));
		conn_close(l->conn, "malformed request");
		return;
	}
	e = TABLE_FIND(requests, op);
	if (e == NULL || ((e->flags & REQUEST_PEER) &&
	    (conn_peer_role(l->conn) != CONN_PEER || l->peer < 0))) {
		reply(l->conn, id, 0, "unknown op", NULL);
		return;
	}
	/* Refused, the connection stays: the key may still do less. */
	if (auth_role_check(conn_key_role(l->conn), e->role, op,
	    &cause) != 0) {
		log_info("%s: refused %s: %s", conn_label(l->conn), op, cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	e->fn(d, l, id, f);
}

/* An agent id is safe as a file name: HOME.N with HOME a host name. */
int
daemon_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || id[0] == '.' || strlen(id) > 95)
		return 0;
	for (i = 0; id[i] != '\0'; i++) {
		if (!isalnum((unsigned char)id[i]) && strchr("._-", id[i]) ==
		    NULL)
			return 0;
	}
	return 1;
}

/* The file that holds a finished agent's result. */
static void
daemon_result_path(struct daemon *d, const char *agent, char *path,
    size_t size)
{
	snprintf(path, size, "%s/results/%s", d->state_dir, agent);
}

/*
 * Keeps a finished agent's result on disk until its owner fetches it:
 * it may be large, and the owner may come back later.
 */
void
daemon_result_store(struct daemon *d, const char *agent,
    const unsigned char *data, uint64_t len)
{
	char path[1200], dir[1100];
	size_t off = 0;
	ssize_t n;
	int fd;

	if (!daemon_id_ok(agent))
		return;
	snprintf(dir, sizeof dir, "%s/results", d->state_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("%s: %s", dir, strerror(errno));
		return;
	}
	daemon_result_path(d, agent, path, sizeof path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		log_error("%s: %s", path, strerror(errno));
		return;
	}
	while (off < len) {
		if ((n = write(fd, data + off, (size_t)len - off)) < 0) {
			if (errno == EINTR)
				continue;
			log_error("%s: %s", path, strerror(errno));
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (off < len)
		unlink(path);
	else
		log_info("agent %s: result of %llu bytes kept for its owner",
		    agent, (unsigned long long)len);
}

/*
 * Where a result is: the host the request names, or, with none, where the
 * agent finished as its home recorded it (the home answers for its own
 * agents). 1 when the request was passed on, else 0 with host set.
 */
static int
result_route(struct daemon *d, struct link *l, json_t *id, struct frame *f,
    const char *agent, char *host, size_t len)
{
	const char *given = str_field(f->meta, "host");
	char home[64];
	int name_it = 0;
	json_t *m;

	if (given != NULL && given[0] != '\0')
		snprintf(host, len, "%s", given);
	else if (agent_home(agent, home, sizeof home) == 0 &&
	    strcmp(home, d->cfg.name) != 0)
		snprintf(host, len, "%s", home);	/* it knows where */
	else {
		snprintf(host, len, "%s", str_field(d->finished_at, agent) !=
		    NULL ? str_field(d->finished_at, agent) : d->cfg.name);
		name_it = 1;
	}
	if (strcmp(host, d->cfg.name) == 0)
		return 0;
	/* A peer names the host it passes a request to: answered there. */
	if (conn_peer_role(l->conn) == CONN_PEER && given != NULL &&
	    given[0] != '\0')
		return 0;
	m = json_deep_copy(f->meta);
	if (name_it)
		json_object_set_new(m, "host", json_string(host));
	daemon_forward(d, l, id, host, m, NULL, 0, NULL);
	json_decref(m);
	return 1;
}

/*
 * result {agent, host}: the result a finished agent left (agent_result),
 * as the reply's payload. It stays until its owner acknowledges it
 * (result-ack) or DAEMON_RESULT_KEEP_S pass. host is where it finished
 * (the finished event says); without it the agent's home finds it.
 */
static void
op_result(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char path[1200], host[64], *cause = NULL, *data;
	size_t len;
	json_t *m;

	if (!daemon_id_ok(agent)) {
		reply(l->conn, id, 0, "result: agent must be an agent id",
		    NULL);
		return;
	}
	if (result_route(d, l, id, f, agent, host, sizeof host))
		return;
	daemon_result_path(d, agent, path, sizeof path);
	if ((data = nn_read_file(path, AGENT_RESULT_MAX, &len, &cause)) ==
	    NULL) {
		free(cause);
		reply(l->conn, id, 0, "no result of that agent here", NULL);
		return;
	}
	m = json_pack("{s:O, s:b, s:s, s:s}", "id", id, "ok", 1, "agent",
	    agent, "host", d->cfg.name);
	conn_send_owned(l->conn, FRAME_REPLY, m, data, len);
	json_decref(m);
}

/* result-ack {agent, host}: the owner has the result; it is deleted. */
static void
op_result_ack(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *agent = str_field(f->meta, "agent");
	char path[1200], host[64];

	if (!daemon_id_ok(agent)) {
		reply(l->conn, id, 0, "result-ack: agent must be an agent id",
		    NULL);
		return;
	}
	if (result_route(d, l, id, f, agent, host, sizeof host))
		return;
	daemon_result_path(d, agent, path, sizeof path);
	if (unlink(path) != 0) {
		reply(l->conn, id, 0, "no result of that agent here", NULL);
		return;
	}
	log_info("agent %s: result fetched and acknowledged", agent);
	reply(l->conn, id, 1, NULL, NULL);
}

/* Results nobody acknowledged go after DAEMON_RESULT_KEEP_S. */
void
daemon_result_expire(struct daemon *d)
{
	char dir[1100], path[1400];
	struct dirent *e;
	struct stat sb;
	time_t now = time(NULL);
	DIR *dp;

	snprintf(dir, sizeof dir, "%s/results", d->state_dir);
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((e = readdir(dp)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    now - sb.st_mtime > DAEMON_RESULT_KEEP_S &&
		    unlink(path) == 0)
			log_info("agent %s: its result was not fetched within "
			    "%d h and is deleted", e->d_name,
			    DAEMON_RESULT_KEEP_S / 3600);
	}
	closedir(dp);
}
