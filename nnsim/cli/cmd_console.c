/*
 * nnsim console: the operator's view of the virtual parallel computer.
 * Hosts, agents and jobs, and commands that steer them, over one client
 * connection to a daemon (reconnected when the daemon comes back). Line
 * editing, history and completion come from libedit; -c and a stdin that
 * is not a terminal make it a script runner whose exit status says
 * whether every command succeeded.
 *
 * Over 1,000 lines as one command: its commands table, the views (hosts,
 * agents, jobs, top) and the line editor's completion all work on the one
 * struct console.
 */
#include <sys/select.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <editline/readline.h>
#include <jansson.h>

#include "agentd/client.h"
#include "agentd/hosts.h"
#include "base/clock.h"
#include "base/table.h"
#include "cli/cmd.h"
#include "cli/datacache.h"
#include "cli/jobs.h"

#define CONSOLE_MAX_WORDS	64
#define CONSOLE_WAIT_MS		15000	/* migrate waits this for the move */

static int	cmd_console_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_console_entry = {
	.name = "console",
	.usage = "[--connect ADDR:PORT | --hosts FILE] [--key FILE] "
	    "[-c COMMANDS] [--json]",
	.summary = "an interactive console: hosts, agents and jobs",
	.help =
	    "options:\n"
	    "  --connect ADDR:PORT  the daemon to talk to (default\n"
	    "                       127.0.0.1:7070)\n"
	    "  --hosts FILE         the first host of this inventory that\n"
	    "                       answers\n"
	    "  --key FILE           the key we hold: node, run or read\n"
	    "                       (docs/security.md)\n"
	    "  -c COMMANDS          run these commands (separated by ;) and\n"
	    "                       exit\n"
	    "  --json               machine-readable output: one JSON value\n"
	    "                       per command\n"
	    "  -h, --help           show this help\n"
	    "\nType help in the console for its commands. When stdin is not a\n"
	    "terminal, commands are read from it, one per line. Exit status:\n"
	    "0 when every command succeeded, 1 when one failed, 2 for bad\n"
	    "usage.\n",
	.exec = cmd_console_exec,
};

struct console {
	struct client	*cl;
	char		 addr[128];	/* the daemon we talk to */
	const char	*keyfile;
	struct hosts	*inventory;	/* --hosts: any of these */
	int		 json;
	int		 tty;		/* an interactive terminal */
	int		 quit;
	int		 lost;		/* the daemon went away */
	char		*self;		/* for nnsim submit */
	json_t		*names;		/* for completion */
	double		 names_at;
};

static struct console *console_now;	/* for completion */

struct console_cmd {
	const char	*name;
	const char	*args;
	const char	*help;
	int		(*fn)(struct console *, int, char **);
	int		 min, max;	/* arguments */
};

static const struct console_cmd *console_find(const char *);

/* One line on stderr; the command failed. */
static int
console_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	cmd_verror("error: ", fmt, ap);
	va_end(ap);
	return -1;
}

/* Connects (again): the given daemon, or any host of the inventory. */
static int
console_connect(struct console *c, char **cause)
{
	const char *addr;
	char *why = NULL;

	client_free(c->cl);
	c->cl = NULL;
	if (c->inventory == NULL) {
		c->cl = client_connect(c->addr, c->keyfile, "nnsim-console",
		    cause);
		return c->cl != NULL ? 0 : -1;
	}
	if ((c->cl = client_connect_any(c->inventory, c->keyfile,
	    "nnsim-console", &addr, &why)) == NULL) {
		nn_fail(cause, "no host of the inventory answers (%s)", why);
		free(why);
		return -1;
	}
	snprintf(c->addr, sizeof c->addr, "%s", addr);
	return 0;
}

/* Requests that only look may be sent again after a reconnect. */
static int
console_read_only(json_t *req)
{
	static const char *ops[] = { "hosts", "agents", "where", "logs",
	    "ping", "data-sets", "data-set" };
	const char *op = json_string_value(json_object_get(req, "op"));
	size_t i;

	for (i = 0; op != NULL && i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op, ops[i]) == 0)
			return 1;
	return 0;
}

/*
 * A request to the daemon, reconnecting once if the daemon went away and
 * came back. The reply (new reference) has "ok"; NULL after an error that
 * was printed.
 */
static json_t *
console_ask(struct console *c, json_t *req)
{
	char *cause = NULL, *again = NULL;
	json_t *rep = NULL;

	/* A console left alone is closed by the daemon's --idle-timeout:
	 * it reconnects before asking, so no request is in doubt. */
	if (c->cl != NULL && client_closed(c->cl)) {
		client_free(c->cl);
		c->cl = NULL;
	}
	if (c->cl != NULL)
		rep = client_request(c->cl, req, &cause);
	if (rep == NULL) {
		if (console_connect(c, &again) == 0) {
			if (cause != NULL || c->lost)
				fprintf(stderr, "reconnected to %s\n",
				    c->addr);
			c->lost = 0;
			/* A request that changes things may have run before
			 * the connection broke: never twice. */
			if (cause != NULL && !console_read_only(req)) {
				console_error("%s: the connection broke (%s); "
				    "the request may have run: look, then "
				    "retry", c->addr, cause);
				free(cause);
				json_decref(req);
				return NULL;
			}
			free(cause);
			cause = NULL;
			rep = client_request(c->cl, req, &cause);
		} else {
			c->lost = 1;
			console_error("the daemon at %s is gone (%s); the "
			    "next command tries again", c->addr, again);
			free(again);
			free(cause);
			json_decref(req);
			return NULL;
		}
	}
	json_decref(req);
	if (rep == NULL) {
		console_error("%s: %s", c->addr, cause);
		free(cause);
	}
	return rep;
}

/* A request whose "ok": false is this command's failure. */
static json_t *
console_ask_ok(struct console *c, json_t *req, const char *what)
{
	json_t *rep = console_ask(c, req);
	char *cause = NULL;

	if (rep != NULL && client_reply_ok(rep, what, &cause) != 0) {
		console_error("%s", cause);
		free(cause);
		json_decref(rep);
		return NULL;
	}
	return rep;
}

static void
console_print_json(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

	printf("%s\n", text != NULL ? text : "null");
	free(text);
}

/* Prints and releases o. */
static void
console_print_new(json_t *o)
{
	console_print_json(o);
	json_decref(o);
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Every host the daemon knows, up or down (new reference). */
static json_t *
console_hosts(struct console *c)
{
	json_t *rep = console_ask_ok(c, json_pack("{s:s}", "op", "hosts"),
	    "hosts"), *h;

	if (rep == NULL)
		return NULL;
	h = json_incref(json_object_get(rep, "hosts"));
	json_decref(rep);
	return h;
}

/*
 * The agents of every host that is up (new reference). One that its job
 * started again after a loss shows as "recovering" until its first step
 * (its "recovery" says why).
 */
static json_t *
console_agents(struct console *c, json_t *hosts)
{
	json_t *all = json_array(), *h, *rep, *a;
	const char *state;
	size_t i;

	json_array_foreach(hosts, i, h) {
		state = str(h, "state");
		if (strcmp(state, "up") != 0 && strcmp(state, "self") != 0)
			continue;
		rep = console_ask_ok(c, json_pack("{s:s, s:s}", "op", "agents",
		    "host", str(h, "name")), "agents");
		if (rep == NULL)
			continue;
		json_array_extend(all, json_object_get(rep, "agents"));
		json_decref(rep);
	}
	json_array_foreach(all, i, a)
		if (json_is_string(json_object_get(a, "recovery")))
			json_object_set_new(a, "state",
			    json_string("recovering"));
	return all;
}

static int
is_host(json_t *hosts, const char *name)
{
	json_t *h;
	size_t i;

	json_array_foreach(hosts, i, h)
		if (strcmp(str(h, "name"), name) == 0)
			return 1;
	return 0;
}

static json_t *
find_agent(json_t *agents, const char *id)
{
	json_t *a;
	size_t i;

	json_array_foreach(agents, i, a)
		if (strcmp(str(a, "id"), id) == 0)
			return a;
	return NULL;
}

static const struct client_column console_host_columns[] = {
	{ "HOST", "name", -10, CLIENT_COLUMN_TEXT },
	{ "ADDRESS", "address", -22, CLIENT_COLUMN_TEXT },
	{ "STATE", "state", -6, CLIENT_COLUMN_TEXT },
	{ "CORES", "cores", 5, CLIENT_COLUMN_INT },
	{ "AGENTS", "agents", 6, CLIENT_COLUMN_INT },
	{ "LOAD", "load", 5, CLIENT_COLUMN_LOAD },
	{ "CACHE", "cache_text", -12, CLIENT_COLUMN_TEXT_OR_DASH },
	{ "DRAINING", "draining", 0, CLIENT_COLUMN_YES_NO },
};

static const struct client_column console_agent_columns[] = {
	{ "AGENT", "id", -14, CLIENT_COLUMN_TEXT },
	{ "TYPE", "type", -11, CLIENT_COLUMN_TEXT },
	{ "HOST", "host", -10, CLIENT_COLUMN_TEXT },
	{ "STATE", "state", -10, CLIENT_COLUMN_TEXT },
	{ "STEP", "step", 9, CLIENT_COLUMN_INT },
	{ "PROGRESS", "progress", 8, CLIENT_COLUMN_PERCENT },
	{ "JOB", "job", 0, CLIENT_COLUMN_TEXT_OR_DASH },
};

/* The hosts' table; each host's data cache as used/limit MiB. */
static void
print_hosts(json_t *hosts)
{
	char text[64];
	json_t *h;
	size_t i;

	json_array_foreach(hosts, i, h) {
		datacache_host_text(json_object_get(h, "cache"), text,
		    sizeof text);
		json_object_set_new(h, "cache_text", json_string(text));
	}
	client_print_table(hosts, console_host_columns,
	    sizeof console_host_columns / sizeof console_host_columns[0]);
}

static void
print_agents(json_t *agents)
{
	client_print_table(agents, console_agent_columns,
	    sizeof console_agent_columns / sizeof console_agent_columns[0]);
}

static int
c_hosts(struct console *c, int argc, char **argv)
{
	json_t *hosts = console_hosts(c);

	(void)argc;
	(void)argv;
	if (hosts == NULL)
		return -1;
	if (c->json)
		console_print_json(hosts);
	else
		print_hosts(hosts);
	json_decref(hosts);
	return 0;
}

/*
 * The jobs: detached jobs of this machine (nnsim jobs) and every job label
 * the cluster's agents carry, with their agent counts (new reference).
 */
static json_t *
console_jobs(json_t *agents)
{
	json_t *jobs = json_object(), *list, *j, *a;
	char *cause = NULL;
	const char *key;
	size_t i;

	if ((list = nn_jobs_list(&cause)) != NULL) {
		json_array_foreach(list, i, j) {
			json_object_set_new(j, "agents", json_integer(0));
			json_object_set(jobs, str(j, "id"), j);
		}
		json_decref(list);
	}
	free(cause);
	json_array_foreach(agents, i, a) {
		key = str(a, "job");
		if (key[0] == '\0')
			continue;
		if ((j = json_object_get(jobs, key)) == NULL) {
			j = json_pack("{s:s, s:s, s:i}", "id", key, "status",
			    "running", "agents", 0);
			json_object_set_new(jobs, key, j);
		}
		if (strcmp(str(a, "state"), "recovering") == 0)
			json_object_set_new(j, "status",
			    json_string("recovering"));
		json_object_set_new(j, "agents", json_integer(
		    json_integer_value(json_object_get(j, "agents")) + 1));
	}
	return jobs;
}

static int
c_agents(struct console *c, int argc, char **argv)
{
	json_t *hosts = console_hosts(c), *agents, *shown, *a;
	size_t i;
	int rc = -1;

	if (hosts == NULL)
		return -1;
	agents = console_agents(c, hosts);
	shown = json_array();
	json_array_foreach(agents, i, a)
		if (argc < 2 || strcmp(str(a, "host"), argv[1]) == 0 ||
		    strcmp(str(a, "job"), argv[1]) == 0)
			json_array_append(shown, a);
	if (argc >= 2 && json_array_size(shown) == 0 &&
	    !is_host(hosts, argv[1]) && !nn_jobs_id_ok(argv[1])) {
		console_error("agents: \"%s\" is neither a host nor a job",
		    argv[1]);
		goto out;
	}
	if (c->json)
		console_print_json(shown);
	else
		print_agents(shown);
	rc = 0;
out:
	json_decref(shown);
	json_decref(agents);
	json_decref(hosts);
	return rc;
}

static int
c_jobs(struct console *c, int argc, char **argv)
{
	json_t *hosts = console_hosts(c), *agents, *jobs, *j;
	const char *key;

	(void)argc;
	(void)argv;
	if (hosts == NULL)
		return -1;
	agents = console_agents(c, hosts);
	jobs = console_jobs(agents);
	if (c->json)
		console_print_json(jobs);
	else {
		printf("%-8s  %-8s  %6s  %s\n", "JOB", "STATUS", "AGENTS",
		    "NET");
		json_object_foreach(jobs, key, j)
			printf("%-8s  %-8s  %6lld  %s\n", key, str(j,
			    "status"), json_integer_value(json_object_get(j,
			    "agents")), str(j, "net")[0] != '\0' ? str(j,
			    "net") : "-");
	}
	json_decref(jobs);
	json_decref(agents);
	json_decref(hosts);
	return 0;
}

static const struct client_column console_data_columns[] = {
	{ "SET", "name", -24, CLIENT_COLUMN_TEXT },
	{ "ROWS", "rows", 10, CLIENT_COLUMN_INT },
	{ "SIZE_MB", "bytes", 8, CLIENT_COLUMN_MB },
	{ "BLOCKS", "blocks", 6, CLIENT_COLUMN_INT },
	{ "REPLICAS", "replicas", 8, CLIENT_COLUMN_INT },
	{ "COMPLETE", "complete", -8, CLIENT_COLUMN_YES_NO },
	{ "IN_USE", "in_use_text", 0, CLIENT_COLUMN_TEXT },
};

/* data: the sets of the cluster's data cache (docs/data-cache.md). */
static int
c_data(struct console *c, int argc, char **argv)
{
	json_t *rep, *sets, *s;
	char use[32];
	size_t i;

	(void)argc;
	(void)argv;
	if ((rep = console_ask_ok(c, json_pack("{s:s}", "op", "data-sets"),
	    "data-sets")) == NULL)
		return -1;
	sets = json_object_get(rep, "sets");
	if (c->json)
		console_print_json(sets != NULL ? sets : json_array());
	else {
		json_array_foreach(sets, i, s) {
			datacache_in_use_text(json_object_get(s, "in_use"),
			    use, sizeof use);
			json_object_set_new(s, "in_use_text",
			    json_string(use));
		}
		client_print_table(sets, console_data_columns,
		    sizeof console_data_columns /
		    sizeof console_data_columns[0]);
	}
	json_decref(rep);
	return 0;
}

/*
 * show NAME of a data set: its manifest and the hosts that hold each
 * block. 1 when shown, 0 when there is no such set, -1 on error.
 */
static int
console_show_set(struct console *c, const char *name)
{
	json_t *rep, *m, *holders, *t, *p, *b;
	const char *table;
	char *text;
	size_t i, k;

	if (!nn_data_name_ok(name))
		return 0;
	rep = console_ask(c, json_pack("{s:s, s:s}", "op", "data-set", "name",
	    name));
	if (rep == NULL)
		return -1;
	m = json_object_get(rep, "manifest");
	holders = json_object_get(rep, "holders");
	if (!json_is_true(json_object_get(rep, "ok")) || m == NULL) {
		json_decref(rep);
		return 0;
	}
	if (c->json) {
		console_print_new(json_pack("{s:s, s:O, s:O}", "data_set", name,
		    "manifest", m, "holders", holders != NULL ? holders :
		    json_object()));
		json_decref(rep);
		return 1;
	}
	printf("data set %s: %lld inputs, %lld outputs, %s, %.2f MiB, "
	    "%lld replicas\n", name, json_integer_value(json_object_get(m,
	    "in")), json_integer_value(json_object_get(m, "out")), str(m,
	    "task"), (double)json_integer_value(json_object_get(m, "bytes")) /
	    (1024.0 * 1024.0), json_integer_value(json_object_get(m,
	    "replicas")));
	json_object_foreach(json_object_get(m, "tables"), table, t) {
		printf("table %s: %lld rows\n", table, json_integer_value(
		    json_object_get(t, "rows")));
		json_array_foreach(json_object_get(t, "parts"), i, p) {
			printf("  part %zu: %lld rows\n", i, json_integer_value(
			    json_object_get(p, "rows")));
			json_array_foreach(json_object_get(p, "blocks"), k, b) {
				text = json_dumps(json_object_get(holders,
				    json_string_value(b)), JSON_COMPACT);
				printf("    %.16s  on %s\n", json_string_value(b),
				    text != NULL ? text : "[]");
				free(text);
			}
		}
	}
	json_decref(rep);
	return 1;
}

static int
c_show(struct console *c, int argc, char **argv)
{
	json_t *hosts = console_hosts(c), *agents, *o = NULL, *h, *jobs, *v;
	size_t i;
	int rc = -1;

	(void)argc;
	if (hosts == NULL)
		return -1;
	agents = console_agents(c, hosts);
	jobs = console_jobs(agents);
	if ((v = find_agent(agents, argv[1])) != NULL)
		o = json_pack("{s:s, s:O}", "agent", argv[1], "details", v);
	else if (is_host(hosts, argv[1])) {
		json_array_foreach(hosts, i, h)
			if (strcmp(str(h, "name"), argv[1]) == 0)
				o = json_pack("{s:s, s:O, s:[]}", "host",
				    argv[1], "details", h, "agents");
	} else if ((v = json_object_get(jobs, argv[1])) != NULL)
		o = json_pack("{s:s, s:O, s:[]}", "job", argv[1], "details",
		    v, "agents");
	if (o == NULL) {
		/* Agents, hosts and jobs first: then a data set. */
		if ((rc = console_show_set(c, argv[1])) != 0) {
			rc = rc > 0 ? 0 : -1;
			goto out;
		}
		rc = -1;
		console_error("show: no agent, host, job or data set \"%s\"",
		    argv[1]);
		goto out;
	}
	json_array_foreach(agents, i, v)
		if (json_object_get(o, "agents") != NULL &&
		    (strcmp(str(v, "host"), argv[1]) == 0 ||
		    strcmp(str(v, "job"), argv[1]) == 0))
			json_array_append(json_object_get(o, "agents"), v);
	if (c->json)
		console_print_json(o);
	else {
		char *text = json_dumps(json_object_get(o, "details"),
		    JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s %s\n%s\n", json_object_get(o, "agent") != NULL ?
		    "agent" : json_object_get(o, "host") != NULL ? "host" :
		    "job", argv[1], text != NULL ? text : "");
		free(text);
		if (json_object_get(o, "agents") != NULL)
			print_agents(json_object_get(o, "agents"));
	}
	rc = 0;
out:
	json_decref(o);
	json_decref(jobs);
	json_decref(agents);
	json_decref(hosts);
	return rc;
}

/* The signal the interactive console caught last: SIGINT cancels a line
 * or leaves top, SIGTERM and SIGHUP end the console (history saved). */
static volatile sig_atomic_t console_signal;

static void
console_on_signal(int sig)
{
	console_signal = sig;
}

/* No SA_RESTART: a blocked read returns, so the prompt sees the signal. */
static void
console_catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = console_on_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Raw keys on a terminal, so that any key (or ^C) stops top or logs -f. */
static int
console_key_pressed(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	fd_set fds;
	char ch;

	FD_ZERO(&fds);
	FD_SET(STDIN_FILENO, &fds);
	if (console_signal != 0)
		return 1;
	if (select(STDIN_FILENO + 1, &fds, NULL, NULL, &tv) <= 0)
		return console_signal != 0;
	return read(STDIN_FILENO, &ch, 1) >= 0;
}

static int
console_raw(struct termios *saved)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, saved) != 0)
		return -1;
	t = *saved;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	return tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

static int
c_top(struct console *c, int argc, char **argv)
{
	struct termios saved;
	json_t *hosts, *agents;
	int raw, frames = 0;

	(void)argc;
	(void)argv;
	raw = c->tty && console_raw(&saved) == 0;
	do {
		if ((hosts = console_hosts(c)) == NULL)
			break;
		agents = console_agents(c, hosts);
		if (c->json) {
			console_print_new(json_pack("{s:O, s:O}", "hosts",
			    hosts, "agents", agents));
		} else {
			if (c->tty)
				printf("\033[H\033[2J");
			print_hosts(hosts);
			putchar('\n');
			print_agents(agents);
			if (c->tty)
				printf("\n(any key: back to the prompt)\n");
		}
		fflush(stdout);
		json_decref(agents);
		json_decref(hosts);
		frames++;
	} while (c->tty && !console_key_pressed(1000));
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return frames > 0 ? 0 : -1;
}

/* Where the daemon believes an agent is; "" when it knows nothing. */
static int
console_where(struct console *c, const char *agent, char *host, size_t len)
{
	json_t *rep = console_ask_ok(c, json_pack("{s:s, s:s}", "op", "where",
	    "agent", agent), "where");

	if (rep == NULL)
		return -1;
	snprintf(host, len, "%s", str(rep, "host"));
	json_decref(rep);
	return 0;
}

/* Checks an agent id against the cluster; the error names it. */
static int
console_agent_known(struct console *c, const char *verb, const char *agent,
    json_t **found)
{
	json_t *hosts = console_hosts(c), *agents, *a;
	int rc = -1;

	if (hosts == NULL)
		return -1;
	agents = console_agents(c, hosts);
	if ((a = find_agent(agents, agent)) == NULL)
		console_error("%s: no agent \"%s\" (agents lists them)", verb,
		    agent);
	else {
		if (found != NULL)
			*found = json_incref(a);
		rc = 0;
	}
	json_decref(agents);
	json_decref(hosts);
	return rc;
}

static int
console_host_known(struct console *c, const char *verb, const char *host)
{
	json_t *hosts = console_hosts(c);
	int ok;

	if (hosts == NULL)
		return -1;
	ok = is_host(hosts, host);
	json_decref(hosts);
	if (!ok)
		return console_error("%s: no host \"%s\" (hosts lists them)",
		    verb, host);
	return 0;
}

static int
c_migrate(struct console *c, int argc, char **argv)
{
	struct timespec pause = { 0, 100 * 1000000 };
	char where[64] = "";
	double end;
	json_t *rep;

	(void)argc;
	if (console_agent_known(c, "migrate", argv[1], NULL) != 0 ||
	    console_host_known(c, "migrate", argv[2]) != 0)
		return -1;
	rep = console_ask_ok(c, json_pack("{s:s, s:s, s:s}", "op", "migrate",
	    "agent", argv[1], "host", argv[2]), "migrate");
	if (rep == NULL)
		return -1;
	json_decref(rep);
	/* The move happens after the agent's current step. */
	end = nn_clock_s() + CONSOLE_WAIT_MS / 1000.0;
	while (nn_clock_s() < end) {
		if (console_where(c, argv[1], where, sizeof where) != 0)
			return -1;
		if (strcmp(where, argv[2]) == 0) {
			if (c->json)
				console_print_new(json_pack("{s:s, s:s}",
				    "agent", argv[1], "host", where));
			else
				printf("%s: moved to %s\n", argv[1], where);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	return console_error("migrate: %s is still on %s after %d s", argv[1],
	    where, CONSOLE_WAIT_MS / 1000);
}

/* Whether any host still lists agent; -1 when the cluster cannot say. */
static int
console_agent_listed(struct console *c, const char *agent)
{
	json_t *hosts = console_hosts(c), *agents;
	int listed;

	if (hosts == NULL)
		return -1;
	agents = console_agents(c, hosts);
	listed = find_agent(agents, agent) != NULL;
	json_decref(agents);
	json_decref(hosts);
	return listed;
}

/* A killed agent stops at its next step boundary: wait for it to go. */
static int
console_wait_gone(struct console *c, const char *agent)
{
	struct timespec pause = { 0, 100 * 1000000 };
	double end = nn_clock_s() + CONSOLE_WAIT_MS / 1000.0;
	int listed;

	while (nn_clock_s() < end) {
		if ((listed = console_agent_listed(c, agent)) < 0)
			return -1;
		if (!listed)
			return 0;
		nanosleep(&pause, NULL);
	}
	return console_error("kill: %s is still listed after %d s", agent,
	    CONSOLE_WAIT_MS / 1000);
}

/*
 * kill, suspend, resume, clone: one request about one agent. The reply
 * says whether the order was applied, goes to the agent at its next step
 * or waits for its move to end (docs/agents.md, "Orders and states").
 */
static int
console_control(struct console *c, const char *op, const char *agent,
    const char *host)
{
	json_t *rep, *req;

	if (console_agent_known(c, op, agent, NULL) != 0 ||
	    (host != NULL && console_host_known(c, op, host) != 0))
		return -1;
	req = json_pack("{s:s, s:s}", "op", op, "agent", agent);
	if (host != NULL)
		json_object_set_new(req, "host", json_string(host));
	if ((rep = console_ask_ok(c, req, op)) == NULL)
		return -1;
	if (strcmp(op, "kill") == 0 && console_wait_gone(c, agent) != 0) {
		json_decref(rep);
		return -1;
	}
	if (c->json)
		console_print_json(rep);
	else if (strcmp(op, "kill") == 0)
		printf("%s: killed\n", agent);
	else
		printf("%s: %s%s%s: %s (%s)\n", agent, op, host != NULL ?
		    " on " : "", host != NULL ? host : "", str(rep, "outcome"),
		    str(rep, "note"));
	json_decref(rep);
	return 0;
}

static int
c_kill(struct console *c, int argc, char **argv)
{
	(void)argc;
	return console_control(c, "kill", argv[1], NULL);
}

static int
c_suspend(struct console *c, int argc, char **argv)
{
	(void)argc;
	return console_control(c, "suspend", argv[1], NULL);
}

static int
c_resume(struct console *c, int argc, char **argv)
{
	(void)argc;
	return console_control(c, "resume", argv[1], NULL);
}

static int
c_clone(struct console *c, int argc, char **argv)
{
	return console_control(c, "clone", argv[1], argc > 2 ? argv[2] :
	    NULL);
}

static int
console_drain(struct console *c, const char *op, const char *host)
{
	json_t *rep;

	if (console_host_known(c, op, host) != 0)
		return -1;
	rep = console_ask_ok(c, json_pack("{s:s, s:s}", "op", op, "host",
	    host), op);
	if (rep == NULL)
		return -1;
	if (c->json)
		console_print_json(rep);
	else if (json_is_true(json_object_get(rep, "draining")))
		printf("%s: draining, %lld agent(s), %lld moving away\n", host,
		    json_integer_value(json_object_get(rep, "agents")),
		    json_integer_value(json_object_get(rep, "moving")));
	else
		printf("%s: takes agents again\n", host);
	json_decref(rep);
	return 0;
}

static int
c_drain(struct console *c, int argc, char **argv)
{
	(void)argc;
	return console_drain(c, "drain", argv[1]);
}

static int
c_undrain(struct console *c, int argc, char **argv)
{
	(void)argc;
	return console_drain(c, "undrain", argv[1]);
}

/* Prints the lines numbered after *seen (the home numbers them). */
static void
console_log_lines(struct console *c, json_t *lines, long long *seen)
{
	json_t *l;
	size_t i;
	long long n;

	json_array_foreach(lines, i, l) {
		n = json_integer_value(json_object_get(l, "seq"));
		if (n <= *seen)
			continue;
		*seen = n;
		if (c->json)
			console_print_json(l);
		else
			printf("[%s] %s\n", str(l, "host"), str(l, "text"));
	}
	fflush(stdout);
}

/* 1 once no host runs the agent (its last lines are then in). */
static int
console_agent_gone(struct console *c, const char *agent)
{
	json_t *hosts, *agents;
	int gone;

	usleep(500000);
	if ((hosts = console_hosts(c)) == NULL)
		return 1;
	agents = console_agents(c, hosts);
	gone = find_agent(agents, agent) == NULL;
	json_decref(agents);
	json_decref(hosts);
	return gone;
}

static int
c_logs(struct console *c, int argc, char **argv)
{
	struct termios saved;
	const char *agent = NULL;
	json_t *rep;
	long long seen = 0;
	int follow = 0, i, raw = 0, rc = -1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0)
			follow = 1;
		else if (agent == NULL)
			agent = argv[i];
		else
			return console_error("logs: one AGENT, then -f");
	}
	if (agent == NULL)
		return console_error("logs: missing AGENT");
	if (follow && c->tty)
		raw = console_raw(&saved) == 0;
	for (;;) {
		rep = console_ask_ok(c, json_pack("{s:s, s:s}", "op", "logs",
		    "agent", agent), "logs");
		if (rep == NULL)
			goto out;
		console_log_lines(c, json_object_get(rep, "lines"), &seen);
		json_decref(rep);
		if (!follow)
			break;
		/* A terminal follows until a key; a script until the
		 * agent has ended, then reads its last lines. */
		if (c->tty ? console_key_pressed(500) :
		    console_agent_gone(c, agent))
			follow = c->tty ? 0 : -1;
		if (follow == 0)
			break;
		if (follow < 0)
			follow = 0;
	}
	rc = 0;
out:
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return rc;
}

static int
c_send(struct console *c, int argc, char **argv)
{
	json_t *rep, *req;
	char *text = NULL;
	size_t len = 0, l;
	int i;

	if (console_agent_known(c, "send", argv[1], NULL) != 0)
		return -1;
	for (i = 2; i < argc; i++) {
		l = strlen(argv[i]);
		text = xreallocarray(text, len + l + 2, 1);
		memcpy(text + len, argv[i], l);
		len += l;
		text[len++] = i + 1 < argc ? ' ' : '\0';
	}
	if (c->cl == NULL)
		return console_error("send: not connected to %s", c->addr);
	req = json_pack("{s:s, s:s}", "op", "send", "agent", argv[1]);
	rep = client_request_payload(c->cl, req, text, len > 0 ? len - 1 : 0,
	    NULL);
	json_decref(req);
	free(text);
	if (rep == NULL || client_reply_ok(rep, "send", NULL) != 0) {
		json_decref(rep);
		return console_error("send: no route to %s", argv[1]);
	}
	json_decref(rep);
	if (c->json)
		console_print_new(json_pack("{s:s, s:b}", "agent", argv[1],
		    "sent", 1));
	else
		printf("%s: sent\n", argv[1]);
	return 0;
}

/* submit FILE: nnsim submit --detach on this cluster; prints the job. */
static int
c_submit(struct console *c, int argc, char **argv)
{
	char line[64] = "";
	int fds[2], status;
	pid_t pid;
	FILE *out;

	(void)argc;
	if (pipe(fds) != 0)
		return console_error("submit: pipe: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return console_error("submit: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (c->keyfile != NULL)
			execl(c->self, "nnsim", "submit", argv[1], "--connect",
			    c->addr, "--key", c->keyfile, "--detach",
			    (char *)NULL);
		else
			execl(c->self, "nnsim", "submit", argv[1], "--connect",
			    c->addr, "--detach", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	if ((out = fdopen(fds[0], "r")) != NULL) {
		if (fgets(line, sizeof line, out) == NULL)
			line[0] = '\0';
		fclose(out);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	line[strcspn(line, "\n")] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !nn_jobs_id_ok(line))
		return console_error("submit: %s was refused (see above)",
		    argv[1]);
	if (c->json)
		console_print_new(json_pack("{s:s}", "job", line));
	else
		printf("job %s submitted (nnsim attach %s follows it)\n", line,
		    line);
	return 0;
}

/* cancel JOB: its submitter stops (it kills its agents), and so do they. */
static int
c_cancel(struct console *c, int argc, char **argv)
{
	json_t *job, *hosts, *agents, *a, *rep;
	char *cause = NULL;
	size_t i;
	int killed = 0, stopped = 0;

	(void)argc;
	if ((job = nn_jobs_read(argv[1], &cause)) != NULL) {
		if (nn_jobs_alive(job) &&
		    kill((pid_t)json_integer_value(json_object_get(job, "pid")),
		    SIGTERM) == 0)
			stopped = 1;
		json_decref(job);
	}
	free(cause);
	if ((hosts = console_hosts(c)) == NULL)
		return -1;
	agents = console_agents(c, hosts);
	json_array_foreach(agents, i, a) {
		if (strcmp(str(a, "job"), argv[1]) != 0)
			continue;
		rep = console_ask_ok(c, json_pack("{s:s, s:s}", "op", "kill",
		    "agent", str(a, "id")), "cancel");
		killed += rep != NULL;
		json_decref(rep);
	}
	json_decref(agents);
	json_decref(hosts);
	if (!stopped && killed == 0)
		return console_error("cancel: no running job \"%s\" (jobs "
		    "lists them)", argv[1]);
	if (c->json)
		console_print_new(json_pack("{s:s, s:i, s:b}", "job",
		    argv[1], "killed", killed, "submitter_stopped", stopped));
	else
		printf("job %s: cancelled, %d agent(s) killed\n", argv[1],
		    killed);
	return 0;
}

static int c_help(struct console *, int, char **);

static int
c_quit(struct console *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	c->quit = 1;
	return 0;
}

static const struct console_cmd console_cmds[] = {
	{ "hosts", "", "list the hosts", c_hosts, 0, 0 },
	{ "agents", "[JOB|HOST]", "list agents, of one job or host",
	    c_agents, 0, 1 },
	{ "jobs", "", "list jobs", c_jobs, 0, 0 },
	{ "show", "AGENT|HOST|JOB|SET", "details of one agent, host, job or "
	    "data set", c_show, 1, 1 },
	{ "data", "", "list the data sets of the cluster's cache", c_data,
	    0, 0 },
	{ "top", "", "a live view of hosts and agents until a key is pressed",
	    c_top, 0, 0 },
	{ "migrate", "AGENT HOST", "move an agent to a host", c_migrate,
	    2, 2 },
	{ "clone", "AGENT [HOST]", "clone an agent, optionally onto a host",
	    c_clone, 1, 2 },
	{ "suspend", "AGENT", "pause an agent", c_suspend, 1, 1 },
	{ "resume", "AGENT", "restart a paused agent", c_resume, 1, 1 },
	{ "kill", "AGENT", "stop an agent", c_kill, 1, 1 },
	{ "drain", "HOST", "move every agent off the host; it takes no new "
	    "ones", c_drain, 1, 1 },
	{ "undrain", "HOST", "let the host take agents again", c_undrain,
	    1, 1 },
	{ "logs", "AGENT [-f]", "show an agent's log, or follow it", c_logs,
	    1, 2 },
	{ "send", "AGENT TEXT", "send a message to an agent", c_send, 2,
	    CONSOLE_MAX_WORDS },
	{ "submit", "FILE", "submit a job (nnsim submit --detach)", c_submit,
	    1, 1 },
	{ "cancel", "JOB", "cancel a job", c_cancel, 1, 1 },
	{ "help", "[CMD]", "list the commands, or explain one", c_help, 0, 1 },
	{ "quit", "", "leave the console", c_quit, 0, 0 },
};

static const struct console_cmd *
console_find(const char *name)
{
	return TABLE_FIND(console_cmds, name);
}

static int
c_help(struct console *c, int argc, char **argv)
{
	const struct console_cmd *k;
	size_t i;

	(void)c;
	if (argc > 1) {
		if ((k = console_find(argv[1])) == NULL)
			return console_error("help: no command \"%s\" (help "
			    "lists them)", argv[1]);
		printf("%s %s\n  %s\n", k->name, k->args, k->help);
		return 0;
	}
	for (i = 0; i < sizeof console_cmds / sizeof console_cmds[0]; i++)
		printf("  %-8s %-16s %s\n", console_cmds[i].name,
		    console_cmds[i].args, console_cmds[i].help);
	return 0;
}

/* Splits line into words in place; NULL-terminated. */
static int
console_split(char *line, char **words)
{
	int n = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t\r\n");
		if (*p == '\0' || n == CONSOLE_MAX_WORDS)
			break;
		words[n++] = p;
		p += strcspn(p, " \t\r\n");
		if (*p != '\0')
			*p++ = '\0';
	}
	words[n] = NULL;
	return n;
}

/* Runs one command line: 0, or -1 when it failed. */
static int
console_run(struct console *c, char *line)
{
	char *words[CONSOLE_MAX_WORDS + 1];
	const struct console_cmd *k;
	int n = console_split(line, words);

	if (n == 0 || words[0][0] == '#')
		return 0;
	if ((k = console_find(words[0])) == NULL)
		return console_error("unknown command \"%s\" (help lists "
		    "them)", words[0]);
	if (n - 1 < k->min || n - 1 > k->max)
		return console_error("usage: %s %s", k->name, k->args);
	return k->fn(c, n, words);
}

/* Agent ids, host names and job ids, for completion; refreshed each 2 s. */
static json_t *
console_names(struct console *c)
{
	json_t *hosts, *agents, *a, *jobs;
	const char *key;
	size_t i;

	if (c->names != NULL && nn_clock_s() - c->names_at < 2)
		return c->names;
	json_decref(c->names);
	c->names = json_array();
	c->names_at = nn_clock_s();
	if ((hosts = console_hosts(c)) == NULL)
		return c->names;
	agents = console_agents(c, hosts);
	json_array_foreach(hosts, i, a)
		json_array_append_new(c->names, json_string(str(a, "name")));
	json_array_foreach(agents, i, a)
		json_array_append_new(c->names, json_string(str(a, "id")));
	jobs = console_jobs(agents);
	json_object_foreach(jobs, key, a)
		json_array_append_new(c->names, json_string(key));
	json_decref(jobs);
	json_decref(agents);
	json_decref(hosts);
	return c->names;
}

static char *
console_gen_cmd(const char *text, int state)
{
	static size_t i;
	size_t n = strlen(text);

	if (state == 0)
		i = 0;
	while (i < sizeof console_cmds / sizeof console_cmds[0]) {
		const char *name = console_cmds[i++].name;

		if (strncmp(name, text, n) == 0)
			return strdup(name);
	}
	return NULL;
}

static char *
console_gen_name(const char *text, int state)
{
	static size_t i;
	json_t *names = console_names(console_now);
	const char *s;
	size_t n = strlen(text);

	if (state == 0)
		i = 0;
	while (i < json_array_size(names)) {
		s = json_string_value(json_array_get(names, i++));
		if (s != NULL && strncmp(s, text, n) == 0)
			return strdup(s);
	}
	return NULL;
}

/* The first word is a command; later words name agents, hosts, jobs. */
static char **
console_complete(const char *text, int start, int end)
{
	(void)end;
	rl_attempted_completion_over = 1;
	if (start == (int)strspn(rl_line_buffer, " \t"))
		return rl_completion_matches(text, console_gen_cmd);
	return rl_completion_matches(text, console_gen_name);
}

static char *
console_history_path(void)
{
	const char *v = getenv("NNSIM_HISTORY"), *home = getenv("HOME");

	if (v != NULL)
		return v[0] != '\0' ? xstrdup(v) : NULL;
	return home != NULL ? xasprintf("%s/.nnsim_history", home) : NULL;
}

static int
console_interactive(struct console *c)
{
	char *line, *hist = console_history_path();
	int failed = 0;

	console_now = c;
	rl_readline_name = "nnsim";
	rl_attempted_completion_function = console_complete;
	using_history();
	stifle_history(1000);
	if (hist != NULL)
		read_history(hist);
	console_catch_signals();
	printf("nnsim console on %s: help lists the commands\n", c->addr);
	for (;;) {
		console_signal = 0;
		line = readline("nnsim> ");
		/* ^C reads as an end of input: drop the line, prompt again. */
		if (console_signal == SIGINT) {
			free(line);
			printf("^C\n");
			continue;
		}
		if (line == NULL || console_signal != 0) {
			free(line);
			break;
		}
		if (line[strspn(line, " \t")] != '\0') {
			add_history(line);
			/* Saved as we go: a console killed by SIGKILL keeps
			 * its history too. */
			if (hist != NULL)
				write_history(hist);
		}
		console_signal = 0;
		if (console_run(c, line) != 0)
			failed = 1;
		fflush(stdout);
		free(line);
		if (c->quit || (console_signal != 0 &&
		    console_signal != SIGINT))
			break;
	}
	if (!c->quit)
		putchar('\n');
	if (hist != NULL)
		write_history(hist);
	free(hist);
	return failed;
}

/* -c "a; b" or lines on stdin: every command runs; status says if any
 * failed. */
static int
console_script(struct console *c, const char *commands)
{
	char *copy, *cmd, *save = NULL, *line = NULL;
	size_t cap = 0;
	int failed = 0;

	if (commands != NULL) {
		copy = xstrdup(commands);
		for (cmd = strtok_r(copy, ";\n", &save); cmd != NULL &&
		    !c->quit; cmd = strtok_r(NULL, ";\n", &save)) {
			if (console_run(c, cmd) != 0)
				failed = 1;
			fflush(stdout);
		}
		free(copy);
		return failed;
	}
	while (!c->quit && getline(&line, &cap, stdin) > 0) {
		if (console_run(c, line) != 0)
			failed = 1;
		fflush(stdout);
	}
	free(line);
	return failed;
}

static int
cmd_console_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct console c;
	const char *commands = NULL, *connect_to = NULL, *hosts_path = NULL;
	char *cause = NULL;
	int ch, rc, threads = 0, failed;

	memset(&c, 0, sizeof c);
	optind = 1;
	while ((ch = cmd_getopt(self, argc, argv, ":c:h", longopts, &threads,
	    &rc)) != -1) {
		switch (ch) {
		case 'C':
			connect_to = optarg;
			break;
		case 'H':
			hosts_path = optarg;
			break;
		case 'k':
			c.keyfile = optarg;
			break;
		case 'c':
			commands = optarg;
			break;
		case 'j':
			c.json = 1;
			break;
		case CMD_OPT_EXIT:
			return rc;
		}
	}
	if (optind != argc)
		return cmd_usage_error(self, "unexpected argument \"%s\"",
		    argv[optind]);
	if (connect_to != NULL && hosts_path != NULL)
		return cmd_usage_error(self, "give --connect or --hosts, not "
		    "both");
	if (hosts_path != NULL && (c.inventory = hosts_load(hosts_path,
	    &cause)) == NULL) {
		cmd_fail(&cmd_console_entry, "%s", cause);
		free(cause);
		return EXIT_USAGE;
	}
	snprintf(c.addr, sizeof c.addr, "%s", connect_to != NULL ?
	    connect_to : "127.0.0.1:7070");
	c.self = realpath("/proc/self/exe", NULL);
	if (c.self == NULL)
		c.self = xstrdup(argv[0]);
	/* A broken pipe to a pager must not kill the console mid-command. */
	signal(SIGPIPE, SIG_IGN);
	if (console_connect(&c, &cause) != 0) {
		cmd_fail(&cmd_console_entry, "%s", cause);
		free(cause);
		rc = EXIT_FAILED;
		goto out;
	}
	c.tty = commands == NULL && isatty(STDIN_FILENO) &&
	    isatty(STDOUT_FILENO);
	failed = c.tty ? console_interactive(&c) : console_script(&c,
	    commands);
	rc = failed ? EXIT_FAILED : 0;
out:
	client_free(c.cl);
	hosts_free(c.inventory);
	json_decref(c.names);
	free(c.self);
	return rc;
}
