/* agentctl: a command-line client of agentd. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/client.h"
#include "agentd/codestore.h"
#include "agentd/frame.h"
#include "agentd/version.h"
#include "base/alloc.h"
#include "base/table.h"

#define EXIT_FAILED	1
#define EXIT_USAGE	2

/* watch --all: at most this many hosts, each read in turns this long. */
#define CTL_WATCH_MAX		256
#define CTL_WATCH_TURN_MS	50

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentctl [--connect ADDR:PORT] [--key FILE] [--json] "
	    "COMMAND\n"
	    "       agentctl --version\n"
	    "\n"
	    "commands:\n"
	    "  hosts              list the hosts the daemon knows, with state\n"
	    "  ping               check that the daemon answers\n"
	    "  watch [--all] [SECONDS]  print events as they come (default:\n"
	    "                     until interrupted): this daemon's host's and\n"
	    "                     those of the agents it made, wherever they\n"
	    "                     run; --all: every host up now, each event\n"
	    "                     once\n"
	    "  agents             list the agents on the daemon's host\n"
	    "  commits [HOST]     list the commits a host (default: the\n"
	    "                     daemon's) holds for agents elsewhere\n"
	    "                     (docs/elastic.md)\n"
	    "  spawn FILE.so [ARGS [LIMITS]]  upload the agent's code unless\n"
	    "                     the daemon has it, start it with ARGS (JSON),\n"
	    "                     print its id once it started (exit 1 with the\n"
	    "                     reason when its start failed). LIMITS: its\n"
	    "                     worker's, {\"memory_mib\": N, \"files\": N,\n"
	    "                     \"cpu_seconds\": N, \"syscalls\": [NAME]}\n"
	    "                     (docs/security.md)\n"
	    "  logs AGENT         the agent's last log lines, kept by the\n"
	    "                     daemon that made it (exit 1 for an agent\n"
	    "                     it never made)\n"
	    "  kill|suspend|resume AGENT\n"
	    "                     order an agent; prints whether the order was\n"
	    "                     applied, goes to the agent at its next step,\n"
	    "                     or waits for its move to end\n"
	    "  migrate AGENT [HOST]  move an agent between two of its steps\n"
	    "                     (no HOST: where the most cores are free)\n"
	    "  clone AGENT [HOST]  start a copy of an agent (no HOST: on\n"
	    "                     another host when one is up)\n"
	    "  send AGENT TEXT... send each TEXT as a message to an agent, in\n"
	    "                     order (one connection is one sender)\n"
	    "  result AGENT [-o FILE]  write a finished agent's result to FILE\n"
	    "                     (default stdout), then let the daemon delete\n"
	    "                     it\n"
	    "  request OP [JSON]  send any request (docs/protocol.md) and print\n"
	    "                     the reply\n"
	    "\n"
	    "options:\n"
	    "  --connect ADDR:PORT  the daemon (default 127.0.0.1:7070)\n"
	    "  --key FILE           the key we hold: the node key (every\n"
	    "                       right) or a client key the daemon takes\n"
	    "                       with --client-key, read (hosts, agents,\n"
	    "                       logs, result...) or run (and spawn, kill,\n"
	    "                       suspend, resume, migrate, clone, send for\n"
	    "                       code already stored; never uploads code).\n"
	    "                       Without it the daemon must be keyless, and\n"
	    "                       it serves only processes of its own user\n"
	    "                       (uid): others are told \"keyless daemon\n"
	    "                       accepts only its own user\" (exit 1).\n"
	    "                       docs/security.md\n"
	    "  --json               print replies as JSON\n"
	    "  -h, --help           show this help\n"
	    "\n"
	    "Exit status: 0 success, 1 failure (unreachable daemon, refused\n"
	    "connection or request, a request above our key's role), 2 bad\n"
	    "usage.\n");
}

static const struct client_column ctl_host_columns[] = {
	{ "HOST", "name", -16, CLIENT_COLUMN_TEXT },
	{ "ADDRESS", "address", -22, CLIENT_COLUMN_TEXT },
	{ "STATE", "state", -5, CLIENT_COLUMN_TEXT },
	{ "CORES", "cores", 5, CLIENT_COLUMN_INT },
	{ "MEM_MB", "mem_bytes", 8, CLIENT_COLUMN_MB },
	{ "LOAD", "load", 5, CLIENT_COLUMN_LOAD },
	{ "AGENTS", "agents", 6, CLIENT_COLUMN_INT },
	{ "COMMIT_MB", "commit_bytes", 9, CLIENT_COLUMN_MB },
	{ "CACHE_MB", "cache_bytes", 8, CLIENT_COLUMN_MB },
};

static const struct client_column ctl_commit_columns[] = {
	{ "AGENT", "agent", -14, CLIENT_COLUMN_TEXT },
	{ "JOB", "job", -10, CLIENT_COLUMN_TEXT_OR_DASH },
	{ "STEP", "step", 10, CLIENT_COLUMN_INT },
	{ "MB", "bytes", 8, CLIENT_COLUMN_MB },
	{ "AGE_S", "age_s", 6, CLIENT_COLUMN_INT },
};

static const struct client_column ctl_agent_columns[] = {
	{ "AGENT", "id", -14, CLIENT_COLUMN_TEXT },
	{ "TYPE", "type", -12, CLIENT_COLUMN_TEXT },
	{ "HOST", "host", -10, CLIENT_COLUMN_TEXT },
	{ "STATE", "state", -10, CLIENT_COLUMN_TEXT },
	{ "STEP", "step", 10, CLIENT_COLUMN_INT },
	{ "PROGRESS", "progress", 8, CLIENT_COLUMN_PERCENT },
};

/* Uploads the code unless the daemon has it; fills sha. */
static int
ctl_upload_code(struct client *cl, const char *path, char *sha, char **cause)
{
	json_t *req, *rep = NULL;
	void *buf = NULL;
	size_t len;
	int rc = -1;

	if (codestore_read_file(path, &buf, &len, sha, cause) != 0)
		return -1;
	req = json_pack("{s:s, s:s}", "op", "code-has", "sha256", sha);
	rep = client_request(cl, req, cause);
	json_decref(req);
	if (rep == NULL)
		goto out;
	if (!json_is_true(json_object_get(rep, "has"))) {
		json_decref(rep);
		req = json_pack("{s:s, s:s, s:I}", "op", "code-put", "sha256",
		    sha, "id", (json_int_t)0);
		json_object_del(req, "id");
		rep = client_request_payload(cl, req, buf, len, cause);
		json_decref(req);
		if (rep == NULL || client_reply_ok(rep, "code-put",
		    cause) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(rep);
	free(buf);
	return rc;
}

/* One run of agentctl: the options, the verb's words and the connection. */
struct ctl {
	const char	*addr;
	const char	*key;
	int		 json;
	int		 argc;		/* the verb and its arguments */
	char		**argv;
	int		 seconds;	/* watch: -1 until interrupted */
	int		 all;		/* watch --all: every up host */
	struct client	*cl;
};

/*
 * A verb of agentctl, as tmux describes a command: its arguments, the
 * request it makes (NULL after a usage error it printed), how that is sent
 * (NULL: client_request; NULL with cause), and what becomes of the reply.
 */
struct ctl_verb {
	const char	*name;
	int		 min, max;	/* arguments after the verb */
	json_t		*(*request)(struct ctl *);
	json_t		*(*send)(struct ctl *, json_t *, char **);
	/* Without --json (NULL: the reply as JSON). */
	void		(*print)(struct ctl *, json_t *);
	/* In place of printing, with or without --json (watch). */
	int		(*follow)(struct ctl *, char **);
};

/* hosts, ping, agents: the verb is the op. */
static json_t *
ctl_request_op(struct ctl *c)
{
	return json_pack("{s:s}", "op", c->argv[0]);
}

/* kill, suspend, resume, send: about one agent. */
static json_t *
ctl_request_agent(struct ctl *c)
{
	return json_pack("{s:s, s:s}", "op", c->argv[0], "agent", c->argv[1]);
}

/* migrate, clone: an agent and a host ("" lets the daemon pick). */
static json_t *
ctl_request_move(struct ctl *c)
{
	return json_pack("{s:s, s:s, s:s}", "op", c->argv[0], "agent",
	    c->argv[1], "host", c->argc == 3 ? c->argv[2] : "");
}

/* commits [HOST]: what a host holds for other hosts' agents. */
static json_t *
ctl_request_commits(struct ctl *c)
{
	return json_pack("{s:s, s:s}", "op", "commits", "host", c->argc == 2 ?
	    c->argv[1] : "");
}

static json_t *
ctl_request_watch(struct ctl *c)
{
	int i;

	for (i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--all") == 0)
			c->all = 1;
		else if ((c->seconds = atoi(c->argv[i])) <= 0) {
			fprintf(stderr, "agentctl: watch: expected --all or a "
			    "positive number of seconds\n");
			return NULL;
		}
	}
	return json_pack("{s:s}", "op", "subscribe");
}

/*
 * The verb's optional JSON object (its second argument; {} without one),
 * a new reference; NULL after printing what it must be.
 */
static json_t *
ctl_object_arg(struct ctl *c, const char *must)
{
	json_error_t jerr;
	json_t *o;

	o = c->argc >= 3 ? json_loads(c->argv[2], 0, &jerr) : json_object();
	if (!json_is_object(o)) {
		fprintf(stderr, "agentctl: %s: %s\n", c->argv[0], must);
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
ctl_request_spawn(struct ctl *c)
{
	json_t *args, *limits, *req;

	if ((args = ctl_object_arg(c, "ARGS must be a JSON object")) == NULL)
		return NULL;
	if (c->argc < 4)
		return json_pack("{s:s, s:o}", "op", "spawn", "args", args);
	/* The daemon checks the keys and ranges (docs/security.md). */
	/* json_is_object evaluates its argument twice: load first. */
	limits = json_loads(c->argv[3], 0, NULL);
	if (!json_is_object(limits)) {
		fprintf(stderr, "agentctl: spawn: LIMITS must be a JSON object "
		    "(memory_mib, files, cpu_seconds, syscalls)\n");
		json_decref(limits);
		json_decref(args);
		return NULL;
	}
	req = json_pack("{s:s, s:o}", "op", "spawn", "args", args);
	json_object_set_new(req, "limits", limits);
	return req;
}

/* request OP [JSON]: any request, as given. */
static json_t *
ctl_request_raw(struct ctl *c)
{
	json_t *req;

	if ((req = ctl_object_arg(c, "JSON must be an object")) == NULL)
		return NULL;
	json_object_set_new(req, "op", json_string(c->argv[1]));
	return req;
}

/* spawn: the code goes first unless the daemon has it. */
static json_t *
ctl_send_spawn(struct ctl *c, json_t *req, char **cause)
{
	char sha[CODESTORE_HEX], *why = NULL;

	if (ctl_upload_code(c->cl, c->argv[1], sha, &why) != 0) {
		nn_fail(cause, "spawn: %s", why);
		free(why);
		return NULL;
	}
	json_object_set_new(req, "code", json_string(sha));
	/* Answered once the agent started, or with why it could not. */
	json_object_set_new(req, "wait", json_true());
	return client_request(c->cl, req, cause);
}

/*
 * result AGENT [-o FILE | FILE]: the agent's result, written whole to FILE
 * (or stdout), then acknowledged so that the daemon deletes it.
 */
static json_t *
ctl_request_result(struct ctl *c)
{
	if (c->argc == 3 && strcmp(c->argv[2], "-o") == 0) {
		fprintf(stderr, "agentctl: result: -o needs a FILE\n");
		return NULL;
	}
	return json_pack("{s:s, s:s}", "op", "result", "agent", c->argv[1]);
}

static json_t *
ctl_send_result(struct ctl *c, json_t *req, char **cause)
{
	const char *path = c->argc == 4 ? c->argv[3] : c->argc == 3 ?
	    c->argv[2] : NULL;
	unsigned char *buf = NULL;
	uint64_t len = 0;
	json_t *rep, *ack;
	FILE *f;

	rep = client_request_reply(c->cl, req, NULL, 0, &buf, &len, cause);
	if (rep == NULL || !json_is_true(json_object_get(rep, "ok")))
		goto out;
	f = path != NULL ? fopen(path, "wb") : stdout;
	if (f == NULL || (len > 0 && fwrite(buf, 1, (size_t)len, f) != len) ||
	    fflush(f) != 0 || (path != NULL && fclose(f) != 0)) {
		nn_fail(cause, "result: %s: %s", path != NULL ? path :
		    "standard output", strerror(errno));
		json_decref(rep);
		rep = NULL;
		goto out;
	}
	/* Only now, with the bytes safe, may the daemon let them go. */
	ack = json_pack("{s:s, s:s, s:O}", "op", "result-ack", "agent",
	    c->argv[1], "host", json_object_get(rep, "host"));
	json_decref(rep);
	rep = client_request(c->cl, ack, cause);
	json_decref(ack);
	if (rep != NULL && path != NULL)
		json_object_set_new(rep, "bytes", json_integer((json_int_t)len));
out:
	free(buf);
	return rep;
}

/* result: nothing more to say once the bytes are out. */
static void
ctl_print_result(struct ctl *c, json_t *rep)
{
	if (c->argc > 2)
		fprintf(stderr, "%s: %lld bytes of result\n", c->argv[1],
		    (long long)json_integer_value(json_object_get(rep,
		    "bytes")));
}

/* send: each TEXT is a message, sent in order over one connection: one
 * sender, so they arrive in that order. */
static json_t *
ctl_send_text(struct ctl *c, json_t *req, char **cause)
{
	json_t *rep = NULL;
	int i;

	for (i = 2; i < c->argc; i++) {
		json_decref(rep);
		rep = client_request_payload(c->cl, req, c->argv[i],
		    strlen(c->argv[i]), cause);
		if (rep == NULL || !json_is_true(json_object_get(rep, "ok")))
			break;
	}
	return rep;
}

static void
ctl_print_hosts(struct ctl *c, json_t *rep)
{
	(void)c;
	client_print_table(json_object_get(rep, "hosts"), ctl_host_columns,
	    sizeof ctl_host_columns / sizeof ctl_host_columns[0]);
}

static void
ctl_print_agents(struct ctl *c, json_t *rep)
{
	(void)c;
	client_print_table(json_object_get(rep, "agents"), ctl_agent_columns,
	    sizeof ctl_agent_columns / sizeof ctl_agent_columns[0]);
}

static void
ctl_print_commits(struct ctl *c, json_t *rep)
{
	(void)c;
	printf("%s holds %lld MiB of commits (at most %lld MiB)\n",
	    json_string_value(json_object_get(rep, "host")),
	    (long long)(json_integer_value(json_object_get(rep, "bytes")) >>
	    20), (long long)(json_integer_value(json_object_get(rep,
	    "limit")) >> 20));
	client_print_table(json_object_get(rep, "commits"),
	    ctl_commit_columns, sizeof ctl_commit_columns /
	    sizeof ctl_commit_columns[0]);
}

static void
ctl_print_spawned(struct ctl *c, json_t *rep)
{
	(void)c;
	printf("%s\n", json_string_value(json_object_get(rep, "agent")));
}

/* An order's outcome: applied, next-step, queued (docs/agents.md). */
static void
ctl_print_order(struct ctl *c, json_t *rep)
{
	printf("%s: %s: %s (%s)\n", c->argv[1], c->argv[0],
	    json_string_value(json_object_get(rep, "outcome")),
	    json_string_value(json_object_get(rep, "note")));
}

/* logs: "[HOST] text" a line, as the console shows them. */
static void
ctl_print_logs(struct ctl *c, json_t *rep)
{
	json_t *l;
	size_t i;

	(void)c;
	json_array_foreach(json_object_get(rep, "lines"), i, l)
		printf("[%s] %s\n", json_string_value(json_object_get(l,
		    "host")), json_string_value(json_object_get(l, "text")));
}

static void
ctl_print_ping(struct ctl *c, json_t *rep)
{
	(void)rep;
	printf("%s: ok\n", c->addr);
}

/* The reply as indented JSON, without the request id. */
static void
ctl_print_json(struct ctl *c, json_t *rep)
{
	char *text;

	(void)c;
	json_object_del(rep, "id");
	text = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", text);
	free(text);
}

/* One event as a line of JSON. */
static void
ctl_print_event(json_t *ev)
{
	char *text = json_dumps(ev, JSON_COMPACT);

	printf("%s\n", text);
	fflush(stdout);
	free(text);
}

/* watch: events as they come, until the time is up or the daemon goes. */
static int
ctl_follow_one(struct ctl *c, char **cause)
{
	json_t *ev;

	while ((ev = client_event(c->cl, c->seconds < 0 ? -1 :
	    c->seconds * 1000, cause)) != NULL) {
		ctl_print_event(ev);
		json_decref(ev);
	}
	return *cause != NULL ? -1 : 0;
}

/* Whether the daemon named host relays ev under --all: an agent's events
 * from its home (which hears of them all, wherever they happen), the
 * others from the daemon we connected to. */
static int
ctl_relays(json_t *ev, const char *host, int first)
{
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	const char *dot = agent != NULL ? strrchr(agent, '.') : NULL;

	if (dot == NULL)
		return first;
	return strlen(host) == (size_t)(dot - agent) &&
	    strncmp(agent, host, (size_t)(dot - agent)) == 0;
}

/* A client of the daemon at addr that gets its events, or NULL. */
static struct client *
ctl_subscribe(const char *addr, const char *key, char **cause)
{
	struct client *cl;
	json_t *req, *rep;

	if ((cl = client_connect(addr, key, "agentctl", cause)) == NULL)
		return NULL;
	req = json_pack("{s:s}", "op", "subscribe");
	rep = client_request(cl, req, cause);
	json_decref(req);
	if (rep == NULL || client_reply_ok(rep, "subscribe", cause) != 0) {
		json_decref(rep);
		client_free(cl);
		return NULL;
	}
	json_decref(rep);
	return cl;
}

/*
 * watch --all: every host that is up when it starts, subscribed to, each
 * event printed once. A host that comes up later is not followed, and one
 * that goes away is dropped with a line on stderr.
 */
static int
ctl_follow_all(struct ctl *c, char **cause)
{
	struct client *cl[CTL_WATCH_MAX] = { NULL };
	char names[CTL_WATCH_MAX][64];
	json_t *rep = NULL, *req, *h, *ev;
	const char *st, *addr;
	long end = c->seconds < 0 ? -1 : (long)c->seconds * 1000;
	long waited = 0;
	size_t i, n = 0, open;
	char *why = NULL;
	int rc = -1;

	req = json_pack("{s:s}", "op", "hosts");
	rep = client_request(c->cl, req, cause);
	json_decref(req);
	if (rep == NULL || client_reply_ok(rep, "hosts", cause) != 0)
		goto out;
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		st = json_string_value(json_object_get(h, "state"));
		addr = json_string_value(json_object_get(h, "address"));
		if (st == NULL || addr == NULL || n == CTL_WATCH_MAX ||
		    (strcmp(st, "self") != 0 && strcmp(st, "up") != 0))
			continue;
		snprintf(names[n], sizeof names[n], "%s", json_string_value(
		    json_object_get(h, "name")));
		if (strcmp(st, "self") == 0)
			cl[n] = c->cl;
		else if ((cl[n] = ctl_subscribe(addr, c->key, &why)) == NULL) {
			fprintf(stderr, "agentctl: watch: %s (%s): %s; not "
			    "followed\n", names[n], addr, why);
			free(why);
			why = NULL;
			continue;
		}
		n++;
	}
	/* Short turns round the hosts; a frame cut by a turn's end waits in
	 * its client's reader. */
	for (open = n; open > 0 && (end < 0 || waited < end);
	    waited += CTL_WATCH_TURN_MS) {
		for (i = 0; i < n; i++) {
			if (cl[i] == NULL)
				continue;
			while ((ev = client_event(cl[i], i == 0 ?
			    CTL_WATCH_TURN_MS : 0, &why)) != NULL) {
				if (ctl_relays(ev, names[i], cl[i] == c->cl))
					ctl_print_event(ev);
				json_decref(ev);
			}
			if (why != NULL) {
				fprintf(stderr, "agentctl: watch: %s: %s\n",
				    names[i], why);
				free(why);
				why = NULL;
				if (cl[i] == c->cl) {
					nn_fail(cause, "the daemon went away");
					goto out;
				}
				client_free(cl[i]);
				cl[i] = NULL;
				open--;
			}
		}
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		if (cl[i] != c->cl)
			client_free(cl[i]);
	json_decref(rep);
	return rc;
}

static int
ctl_follow_events(struct ctl *c, char **cause)
{
	return c->all ? ctl_follow_all(c, cause) : ctl_follow_one(c, cause);
}

static const struct ctl_verb ctl_verbs[] = {
	{ "hosts", 0, 0, ctl_request_op, NULL, ctl_print_hosts, NULL },
	{ "ping", 0, 0, ctl_request_op, NULL, ctl_print_ping, NULL },
	{ "watch", 0, 2, ctl_request_watch, NULL, NULL, ctl_follow_events },
	{ "agents", 0, 0, ctl_request_op, NULL, ctl_print_agents, NULL },
	{ "commits", 0, 1, ctl_request_commits, NULL, ctl_print_commits,
	    NULL },
	{ "logs", 1, 1, ctl_request_agent, NULL, ctl_print_logs, NULL },
	{ "kill", 1, 1, ctl_request_agent, NULL, ctl_print_order, NULL },
	{ "suspend", 1, 1, ctl_request_agent, NULL, ctl_print_order, NULL },
	{ "resume", 1, 1, ctl_request_agent, NULL, ctl_print_order, NULL },
	{ "migrate", 1, 2, ctl_request_move, NULL, ctl_print_order, NULL },
	{ "clone", 1, 2, ctl_request_move, NULL, ctl_print_order, NULL },
	{ "send", 2, 1000, ctl_request_agent, ctl_send_text, NULL, NULL },
	{ "result", 1, 3, ctl_request_result, ctl_send_result,
	    ctl_print_result, NULL },
	{ "spawn", 1, 3, ctl_request_spawn, ctl_send_spawn,
	    ctl_print_spawned, NULL },
	{ "request", 1, 2, ctl_request_raw, NULL, NULL, NULL },
};

static const struct ctl_verb *
ctl_find(const char *name)
{
	return TABLE_FIND(ctl_verbs, name);
}

/* Sends the verb's request and handles the reply: an exit status. */
static int
ctl_run(struct ctl *c, const struct ctl_verb *v, json_t *req)
{
	json_t *rep = NULL;
	char *cause = NULL;
	int rc = EXIT_FAILED;

	if ((c->cl = client_connect(c->addr, c->key, "agentctl",
	    &cause)) == NULL)
		goto out;
	rep = v->send != NULL ? v->send(c, req, &cause) :
	    client_request(c->cl, req, &cause);
	if (rep == NULL || client_reply_ok(rep, v->name, &cause) != 0)
		goto out;
	if (v->follow != NULL) {
		if (v->follow(c, &cause) != 0)
			goto out;
	} else if (v->print != NULL && !c->json)
		v->print(c, rep);
	else
		ctl_print_json(c, rep);
	rc = 0;
out:
	if (cause != NULL)
		fprintf(stderr, "agentctl: %s\n", cause);
	json_decref(rep);
	client_free(c->cl);
	free(cause);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_verb *v;
	struct ctl c = { .addr = "127.0.0.1:7070", .seconds = -1 };
	json_t *req;
	size_t i;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c.addr = optarg;
			break;
		case 'k':
			c.key = optarg;
			break;
		case 'j':
			c.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("agentctl %s\n", AGENTD_VERSION);
			return 0;
		default:
			fprintf(stderr, "agentctl: %s \"%s\" (see agentctl "
			    "--help)\n", ch == ':' ? "missing value for" :
			    "unknown option", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "agentctl: missing COMMAND (see agentctl "
		    "--help)\n");
		return EXIT_USAGE;
	}
	c.argc = argc - optind;
	c.argv = argv + optind;
	if ((v = ctl_find(c.argv[0])) == NULL) {
		fprintf(stderr, "agentctl: unknown command \"%s\" (expected "
		    "one of:", c.argv[0]);
		for (i = 0; i < sizeof ctl_verbs / sizeof ctl_verbs[0]; i++)
			fprintf(stderr, " %s", ctl_verbs[i].name);
		fprintf(stderr, ")\n");
		return EXIT_USAGE;
	}
	if (c.argc - 1 < v->min || c.argc - 1 > v->max) {
		fprintf(stderr, "agentctl: %s: wrong number of arguments (see "
		    "agentctl --help)\n", v->name);
		return EXIT_USAGE;
	}
	if ((req = v->request(&c)) == NULL)
		return EXIT_USAGE;
	rc = ctl_run(&c, v, req);
	json_decref(req);
	return rc;
}
