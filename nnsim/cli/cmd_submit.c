/*
 * nnsim submit: a training job on the virtual parallel computer. Session
 * mode: one training-session agent (agents/session.c) per variant, placed
 * by free cores and queued when there are more sessions than cores; the
 * best model by "select" is written. Data mode: one training-data agent
 * (agents/partition.c) per partition, all placed at once by free cores,
 * told each other's ids; partition 0's weights are the model.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "agentd/client.h"
#include "cli/cluster.h"
#include "base/clock.h"
#include "cli/cmd.h"
#include "agentd/hosts.h"
#include "cli/jobs.h"
#include "agentd/codestore.h"
#include "dist/job.h"
#include "nn/metrics.h"
#include "nn/prepare.h"
#include "dist/ring.h"
#include "dist/session.h"
#include "agentd/state.h"

static int	cmd_submit_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_submit_entry = {
	.name = "submit",
	.usage = "NET.JSON [--local N | --connect ADDR:PORT | --hosts FILE] "
	    "[--key FILE] [-o MODEL] [--metrics FILE] [--detach] [--quiet]",
	.summary = "train NET.JSON as agents on a cluster of agentd daemons",
	.help =
	    "options:\n"
	    "  --local N            start an embedded cluster of N daemons on\n"
	    "                       127.0.0.1 (default: one per core), stop it\n"
	    "                       afterwards\n"
	    "  --connect ADDR:PORT  use the cluster whose daemon listens here\n"
	    "  --hosts FILE         use the cluster of this host inventory\n"
	    "                       (hosts/README.md): the first host that\n"
	    "                       answers\n"
	    "  --key FILE           the cluster key (with --connect or\n"
	    "                       --hosts; the embedded cluster makes its\n"
	    "                       own)\n"
	    "  -o, --output MODEL   write the model here: the best session's,\n"
	    "                       or the one a data job trained (default:\n"
	    "                       NAME.nnm, NAME from net.json)\n"
	    "  --metrics FILE       one JSON line per epoch (the lines of\n"
	    "                       nnsim train plus session or partitions,\n"
	    "                       agent and host), a line per move, per\n"
	    "                       session or partition at the end, and a\n"
	    "                       last line with \"event\": \"done\"\n"
	    "  --detach             run in the background: print the job id\n"
	    "                       and return; nnsim attach JOB follows it,\n"
	    "                       nnsim jobs lists jobs\n"
	    "  -q, --quiet          print nothing but errors\n"
	    "  -h, --help           show this help\n"
	    "\nThe \"parallel\" section of net.json says how the job becomes\n"
	    "agents (docs/net-json.md): sessions, or partitions of the data\n"
	    "(docs/data-parallel.md). The submitter reads and normalises the\n"
	    "data and ships it with the agents. On a terminal it shows a\n"
	    "live table, a row per agent (NNSIM_NO_LIVE=1: plain lines);\n"
	    "otherwise one line per session and epoch. Exit status: 0 done,\n"
	    "1 an agent or the cluster failed, 2 bad usage or input.\n",
	.exec = cmd_submit_exec,
};

enum sess_state { S_QUEUED, S_RUNNING, S_DONE, S_FAILED };

struct sess {
	enum sess_state	 state;
	char		 agent[96];
	char		 host[64];
	int		 moving;	/* a migrate was asked for */
	long long	 step;		/* live, from progress events */
	double		 live_loss;
	double		 sps;		/* samples per second */
	int		 epoch;
	double		 loss;
	json_t		*result;	/* the result's JSON */
	float		*params;
	double		 score;
};

struct submit {
	struct client		*cl;
	struct nn_job		 job;
	struct nn_prepared	 prep;
	struct nn_config	*cfg;
	struct nn_metrics	*metrics;
	struct sess		*s;
	char			 code[CODESTORE_HEX];
	json_t			*hosts;		/* name -> free slots */
	size_t			 nparams;
	int			 quiet;
	int			 running;
	int			 data;		/* data mode */
	double			 balanced;	/* last look, monotonic s */
	int			 tty;		/* a live table on stdout */
	int			 drawn;		/* its lines on screen */
	double			 redrawn;
	int			 n;		/* agents: sessions or partitions */
	unsigned char		 secret[NN_RING_SECRET];
	char			 id[NN_JOBS_ID_LEN + 1];	/* job id */
};

static volatile sig_atomic_t submit_stop;

static void
submit_erase(struct submit *sb)
{
	/* Up over the table, then clear to the end of the screen. */
	if (sb->drawn > 0)
		printf("\033[%dA\033[J", sb->drawn);
	sb->drawn = 0;
}

static const char *
submit_state_name(const struct sess *s)
{
	static const char *names[] = { "queued", "running", "done",
	    "failed" };

	return s->moving ? "moving" : names[s->state];
}

/*
 * On a terminal: one row per agent (host, state, epoch, step, loss,
 * samples/s), redrawn in place at most twice a second.
 */
static void
submit_draw(struct submit *sb, int force)
{
	struct sess *s;
	int i;

	if (!sb->tty || sb->quiet || (!force && nn_clock_s() - sb->redrawn <
	    0.5))
		return;
	sb->redrawn = nn_clock_s();
	submit_erase(sb);
	printf("%-10s %-14s %-10s %-8s %6s %9s %10s %12s\n",
	    sb->data ? "PARTITION" : "SESSION", "AGENT", "HOST", "STATE",
	    "EPOCH", "STEP", "LOSS", "SAMPLES/S");
	for (i = 0; i < sb->n; i++) {
		s = &sb->s[i];
		printf("%-10d %-14s %-10s %-8s %6d %9lld %10.6f %12.0f\n", i,
		    s->agent[0] != '\0' ? s->agent : "-",
		    s->host[0] != '\0' ? s->host : "-", submit_state_name(s),
		    s->epoch, s->step, s->live_loss, s->sps);
	}
	sb->drawn = sb->n + 1;
	fflush(stdout);
}

/* A progress event's status: live figures for the table. */
static void
submit_progress(struct submit *sb, int i, json_t *ev)
{
	const char *text = json_string_value(json_object_get(ev, "status"));
	json_t *st, *v;

	if (text == NULL || (st = json_loads(text, 0, NULL)) == NULL)
		return;
	if (json_is_integer(v = json_object_get(st, "epoch")))
		sb->s[i].epoch = (int)json_integer_value(v);
	if (json_is_integer(v = json_object_get(st, "step")))
		sb->s[i].step = json_integer_value(v);
	if (json_is_number(v = json_object_get(st, "loss")))
		sb->s[i].live_loss = json_number_value(v);
	if (json_is_number(v = json_object_get(st, "samples_per_s")))
		sb->s[i].sps = json_number_value(v);
	json_decref(st);
}

/* One line for people about an event of session i. */
static void	submit_say(struct submit *, int, const char *, ...)
		    NN_PRINTF(3, 4);

static void
submit_signal(int sig)
{
	(void)sig;
	submit_stop = 1;
}

/* A request whose JSON (a new reference) this call consumes. */
static json_t *
submit_ask(struct client *cl, json_t *req, const void *payload, uint64_t len,
    unsigned char **out, uint64_t *out_len, char **cause)
{
	json_t *rep = client_request_reply(cl, req, payload, len, out,
	    out_len, cause);

	json_decref(req);
	return rep;
}

/* What "session i" or "partition i" is called in messages. */
static const char *
submit_kind(const struct submit *sb)
{
	return sb->data ? "partition" : "session";
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
		extra = json_pack("{s:i, s:i, s:I, s:s, s:b, s:i}", "rank", i,
		    "size", sb->n, "total", (json_int_t)sb->prep.train->n,
		    "secret", hex, "deterministic", sb->job.deterministic,
		    "step", 0);
		shard = nn_data_shard(sb->prep.train, i, sb->n);
		rc = nn_session_state(st, i, sb->job.roots[0], shard,
		    i == 0 ? sb->prep.test : NULL, extra);
		json_decref(extra);
	} else
		rc = nn_session_state(st, i, sb->job.roots[i], sb->prep.train,
		    sb->prep.test, NULL);
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

/* The first host of the inventory that answers; its address in *addr. */
static struct client *
submit_connect_any(struct hosts *h, const char *keyfile, const char **addr,
    char **cause)
{
	struct client *cl;
	char *why = NULL;
	int i;

	*addr = "?";
	for (i = 0; i < hosts_count(h); i++) {
		free(why);
		why = NULL;
		*addr = hosts_get(h, i)->address;
		if ((cl = client_connect(*addr, keyfile, "nnsim-submit",
		    &why)) != NULL) {
			free(why);
			return cl;
		}
	}
	nn_fail(cause, "no host of the inventory answers (last, %s: %s)",
	    *addr, why != NULL ? why : "none");
	free(why);
	return NULL;
}

/*
 * Starts a detached job: its folder and a child that runs the job with
 * output to the job's log. 1 in the parent (id filled), 0 in the child,
 * -1 with cause.
 */
static int
submit_detach(const char *net, const char *model, char *id, char **cause)
{
	char *log = NULL, *abs = realpath(net, NULL), *mabs, cwd[4096];
	json_t *fields;
	pid_t pid;
	int fd = -1, rc = -1;

	mabs = model[0] == '/' ? xstrdup(model) : xasprintf("%s/%s",
	    getcwd(cwd, sizeof cwd) != NULL ? cwd : ".", model);
	fields = json_pack("{s:s, s:s}", "net", abs != NULL ? abs : net,
	    "model", mabs);
	if (nn_jobs_create(fields, id, cause) != 0 ||
	    (log = nn_jobs_log(id, cause)) == NULL)
		goto out;
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) < 0) {
		nn_fail(cause, "%s: %s", log, strerror(errno));
		goto out;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		nn_fail(cause, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid > 0) {
		rc = 1;
		goto out;
	}
	/* The child: its own session, no terminal, output to the log. It
	 * alone writes job.json from now on, its pid first. */
	(void)setsid();
	json_decref(fields);
	fields = json_pack("{s:I}", "pid", (json_int_t)getpid());
	if (nn_jobs_update(id, fields, cause) != 0)
		_exit(EXIT_FAILED);
	if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
		_exit(EXIT_FAILED);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	fd = -1;
	/* Lines as they come: nnsim attach follows the log. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	json_decref(fields);
	free(log);
	free(abs);
	free(mabs);
	return rc;
}

/* A detached job ends: its status goes in job.json. */
static void
submit_detached_end(const char *id, int rc, const char *cause)
{
	json_t *fields;
	char *why = NULL;

	/* Every line is in the log before the status says it ended. */
	fflush(stdout);
	fflush(stderr);
	fields = json_pack("{s:s, s:i}", "status", rc == 0 ? "done" :
	    "failed", "exit", rc);
	if (cause != NULL)
		json_object_set_new(fields, "error", json_string(cause));
	if (nn_jobs_update(id, fields, &why) != 0) {
		fprintf(stderr, "nnsim submit: job %s: %s\n", id, why);
		free(why);
	}
	json_decref(fields);
}

/* Free cores per host that takes agents, from the daemon's host list
 * (possibly none). */
static int
submit_hosts(struct submit *sb, char **cause)
{
	json_t *rep, *h;
	const char *st, *name;
	size_t i;
	int slots;

	rep = submit_ask(sb->cl, json_pack("{s:s}", "op", "hosts"), NULL, 0,
	    NULL, NULL, cause);
	if (rep == NULL)
		return -1;
	json_decref(sb->hosts);
	sb->hosts = json_object();
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		st = json_string_value(json_object_get(h, "state"));
		name = json_string_value(json_object_get(h, "name"));
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

/*
 * The host with the most free cores, or NULL when every core is busy (any
 * host at all when all must run at once).
 */
static const char *
submit_pick(struct submit *sb, int all)
{
	const char *key, *best = NULL;
	json_int_t most = 0;
	json_t *v;

	json_object_foreach(sb->hosts, key, v) {
		if (json_integer_value(v) > most || (all && best == NULL)) {
			most = json_integer_value(v);
			best = key;
		}
	}
	return best;
}

/* Starts session i on a host with a free core. */
static int
submit_spawn(struct submit *sb, int i, const char *host, char **cause)
{
	unsigned char *state;
	size_t len;
	json_t *rep;
	const char *id;
	int rc = -1;

	if ((state = submit_state(sb, i, &len, cause)) == NULL)
		return -1;
	/* The job's id goes with each agent: the console groups by it. */
	rep = submit_ask(sb->cl, json_pack("{s:s, s:s, s:s, s:s}", "op",
	    "spawn", "code", sb->code, "host", host, "job", sb->id), state,
	    len, NULL, NULL, cause);
	free(state);
	if (rep == NULL)
		return -1;
	if (!json_is_true(json_object_get(rep, "ok")) ||
	    (id = json_string_value(json_object_get(rep, "agent"))) == NULL) {
		nn_fail(cause, "%s %d: spawn on %s failed: %s",
		    submit_kind(sb), i, host,
		    json_string_value(json_object_get(rep, "error")));
		goto out;
	}
	snprintf(sb->s[i].agent, sizeof sb->s[i].agent, "%s", id);
	snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s", host);
	sb->s[i].state = S_RUNNING;
	sb->running++;
	json_object_set_new(sb->hosts, host, json_integer(json_integer_value(
	    json_object_get(sb->hosts, host)) - 1));
	rc = 0;
out:
	json_decref(rep);
	return rc;
}

/* Spawns queued sessions while cores are free (at least one runs). */
static int
submit_fill(struct submit *sb, char **cause)
{
	const char *host;
	int i;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_QUEUED)
			continue;
		host = submit_pick(sb, sb->data);
		if (host == NULL && sb->running > 0)
			break;
		if (host == NULL)
			host = json_object_iter_key(json_object_iter(
			    sb->hosts));
		/* No host takes agents now: balancing fills in later. */
		if (host == NULL)
			break;
		if (submit_spawn(sb, i, host, cause) != 0)
			return -1;
	}
	return 0;
}

/*
 * Load balancing, once a second while sessions run: queued sessions go to
 * freed cores; with none queued, a session on a host with more agents than
 * cores (other jobs count too) moves to a host with a core free.
 */
static int
submit_balance(struct submit *sb, char **cause)
{
	const char *key, *to = NULL;
	json_t *v, *rep;
	int i;

	if (sb->data || nn_clock_s() - sb->balanced < 1.0)
		return 0;
	sb->balanced = nn_clock_s();
	if (submit_hosts(sb, cause) != 0)
		return -1;
	/* Every host draining or briefly down: look again later. */
	if (json_object_size(sb->hosts) == 0)
		return 0;
	if (submit_fill(sb, cause) != 0)
		return -1;
	json_object_foreach(sb->hosts, key, v)
		if (json_integer_value(v) >= 1)
			to = key;
	for (i = 0; to != NULL && i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING || sb->s[i].moving ||
		    json_integer_value(json_object_get(sb->hosts,
		    sb->s[i].host)) >= 0)
			continue;
		rep = submit_ask(sb->cl, json_pack("{s:s, s:s, s:s}", "op",
		    "migrate", "agent", sb->s[i].agent, "host", to), NULL, 0,
		    NULL, NULL, cause);
		if (rep == NULL)
			return -1;
		if (json_is_true(json_object_get(rep, "ok"))) {
			sb->s[i].moving = 1;
			submit_say(sb, i, "moving to %s: %s has more agents "
			    "than cores", to, sb->s[i].host);
		}
		json_decref(rep);
		return 0;
	}
	return 0;
}

/* Tells every partition who the others are: the ring forms. */
static int
submit_members(struct submit *sb, char **cause)
{
	json_t *ids = json_array(), *msg, *rep;
	char *text = NULL;
	int i, rc = -1;

	for (i = 0; i < sb->n; i++)
		json_array_append_new(ids, json_string(sb->s[i].agent));
	msg = json_pack("{s:o}", "members", ids);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	for (i = 0; text != NULL && i < sb->n; i++) {
		rep = submit_ask(sb->cl, json_pack("{s:s, s:s}", "op", "send",
		    "agent", sb->s[i].agent), text, strlen(text), NULL, NULL,
		    cause);
		if (rep == NULL)
			goto out;
		if (!json_is_true(json_object_get(rep, "ok"))) {
			nn_fail(cause, "partition %d (agent %s): cannot tell "
			    "it the ring: %s", i, sb->s[i].agent,
			    json_string_value(json_object_get(rep, "error")));
			json_decref(rep);
			goto out;
		}
		json_decref(rep);
	}
	rc = 0;
out:
	free(text);
	return rc;
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

/* Fetches and checks a finished session's result. */
static int
submit_result(struct submit *sb, int i, char **cause)
{
	struct sess *s = &sb->s[i];
	unsigned char *buf = NULL;
	uint64_t len = 0;
	json_t *rep, *v;
	int rc = -1;

	rep = submit_ask(sb->cl, json_pack("{s:s, s:s, s:s}", "op", "result",
	    "agent", s->agent, "host", s->host), NULL, 0, &buf, &len, cause);
	if (rep == NULL)
		return -1;
	if (!json_is_true(json_object_get(rep, "ok"))) {
		nn_fail(cause, "%s %d (agent %s on %s): no result: %s",
		    submit_kind(sb), i, s->agent, s->host, json_string_value(json_object_get(rep,
		    "error")));
		goto out;
	}
	s->params = xreallocarray(NULL, sb->nparams > 0 ? sb->nparams : 1,
	    sizeof (float));
	if (nn_session_result_parse(buf, (size_t)len, s->params, sb->nparams,
	    &s->result, cause) != 0)
		goto out;
	v = json_object_get(json_object_get(s->result, "final"),
	    sb->job.select);
	if (!json_is_number(v)) {
		nn_fail(cause, "session %d: its result has no %s", i,
		    sb->job.select);
		goto out;
	}
	s->score = json_number_value(v);
	rc = 0;
out:
	free(buf);
	json_decref(rep);
	return rc;
}


static void
submit_say(struct submit *sb, int i, const char *fmt, ...)
{
	va_list ap;

	if (sb->quiet)
		return;
	submit_erase(sb);
	printf("%s %d (%s on %s): ", submit_kind(sb), i, sb->s[i].agent,
	    sb->s[i].host);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	sb->redrawn = 0;
}

/* Handles one event; -1 with cause ends the job. */
static int
submit_event(struct submit *sb, json_t *ev, char **cause)
{
	const char *e = json_string_value(json_object_get(ev, "event"));
	const char *agent = json_string_value(json_object_get(ev, "agent"));
	const char *host = json_string_value(json_object_get(ev, "host"));
	int i = submit_find(sb, agent);
	json_t *m, *v;

	if (e == NULL || i < 0)
		return 0;
	if (strcmp(e, "metrics") == 0) {
		m = json_deep_copy(json_object_get(ev, "metrics"));
		json_object_set_new(m, "agent", json_string(agent));
		json_object_set_new(m, "host", json_string(host != NULL ?
		    host : "?"));
		if (sb->data)
			json_object_del(m, "session");
		if (nn_metrics_write(sb->metrics, m, cause) != 0) {
			json_decref(m);
			return -1;
		}
		sb->s[i].epoch = (int)json_integer_value(json_object_get(m,
		    "epoch"));
		sb->s[i].loss = json_number_value(json_object_get(m, "loss"));
		sb->s[i].live_loss = sb->s[i].loss;
		v = json_object_get(m, "test_accuracy");
		/* On a terminal the table shows epochs; lines are for logs. */
		if (sb->tty)
			;
		else if (json_is_number(v))
			submit_say(sb, i, "epoch %d loss %.6f test_accuracy "
			    "%.4f", sb->s[i].epoch, sb->s[i].loss,
			    json_number_value(v));
		else
			submit_say(sb, i, "epoch %d loss %.6f",
			    sb->s[i].epoch, sb->s[i].loss);
		json_decref(m);
	} else if (strcmp(e, "moved") == 0 && host != NULL) {
		v = json_object_get(ev, "to");
		submit_say(sb, i, "moved to %s", json_is_string(v) ?
		    json_string_value(v) : host);
		snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s",
		    json_is_string(v) ? json_string_value(v) : host);
		sb->s[i].moving = 0;
		m = json_pack("{s:s, s:s, s:s, s:s}", "event", "moved",
		    "agent", agent, "from", json_string_value(json_object_get(
		    ev, "from")) != NULL ? json_string_value(json_object_get(ev,
		    "from")) : "?", "host", sb->s[i].host);
		if (sb->data)
			json_object_set_new(m, "partition", json_integer(i));
		else
			json_object_set_new(m, "session", json_integer(i));
		if (nn_metrics_write(sb->metrics, m, cause) != 0) {
			json_decref(m);
			return -1;
		}
		json_decref(m);
	} else if (strcmp(e, "move-failed") == 0) {
		sb->s[i].moving = 0;
		submit_say(sb, i, "move to %s failed: %s",
		    json_string_value(json_object_get(ev, "to")),
		    json_string_value(json_object_get(ev, "reason")));
	} else if (strcmp(e, "finished") == 0 && sb->s[i].state ==
	    S_RUNNING) {
		if (host != NULL)
			snprintf(sb->s[i].host, sizeof sb->s[i].host, "%s",
			    host);
		sb->s[i].state = S_DONE;
		sb->running--;
		/* A data job's model is partition 0's replica. */
		if (sb->data && i > 0) {
			submit_say(sb, i, "done");
			return 0;
		}
		if (submit_result(sb, i, cause) != 0)
			return -1;
		submit_say(sb, i, "done, %s %.6g", sb->job.select,
		    sb->s[i].score);
		if (sb->data)
			return 0;
		json_object_set_new(sb->hosts, sb->s[i].host, json_integer(
		    json_integer_value(json_object_get(sb->hosts,
		    sb->s[i].host)) + 1));
		return submit_fill(sb, cause);
	} else if (strcmp(e, "failed") == 0 && sb->s[i].state == S_RUNNING) {
		sb->s[i].state = S_FAILED;
		sb->running--;
		nn_fail(cause, "%s %d (%s, agent %s) failed on %s: %s",
		    submit_kind(sb), i, sb->data ? "data-parallel" :
		    sb->job.labels[i], agent, host != NULL ? host : "?",
		    json_string_value(json_object_get(ev, "reason")) != NULL ?
		    json_string_value(json_object_get(ev, "reason")) :
		    "no reason given");
		return -1;
	} else if (strcmp(e, "progress") == 0) {
		submit_progress(sb, i, ev);
	} else if (strcmp(e, "log") == 0) {
		v = json_object_get(ev, "level");
		if (json_integer_value(v) <= 1 && !sb->quiet)
			submit_say(sb, i, "%s", json_string_value(
			    json_object_get(ev, "text")));
	}
	return 0;
}

/* Kills whatever still runs (after a failure or an interrupt). */
static void
submit_kill_all(struct submit *sb)
{
	char *cause = NULL;
	json_t *rep;
	int i;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_RUNNING)
			continue;
		rep = submit_ask(sb->cl, json_pack("{s:s, s:s}", "op", "kill",
		    "agent", sb->s[i].agent), NULL, 0, NULL, NULL, &cause);
		json_decref(rep);
		free(cause);
		cause = NULL;
	}
}

/* The best session: by score, the lowest index on ties. */
static int
submit_best(struct submit *sb)
{
	int i, best = -1;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_DONE || isnan(sb->s[i].score))
			continue;
		if (best < 0 || (sb->job.maximize ? sb->s[i].score >
		    sb->s[best].score : sb->s[i].score < sb->s[best].score))
			best = i;
	}
	return best;
}

static int
submit_write_model(struct submit *sb, int best, const char *output,
    char **cause)
{
	struct nn_config *cfg = NULL;
	struct nn_model *model = NULL;
	struct nn_net *net;
	size_t n;
	json_t *figures;
	int rc = -1;

	if ((cfg = nn_config_parse(sb->job.roots[best], sb->cfg->path, NULL,
	    cause)) == NULL || nn_config_fit_data(cfg, sb->prep.train,
	    cause) != 0)
		goto out;
	net = nn_net_new(&cfg->arch, nn_prepare_max_batch(cfg));
	memcpy(nn_net_params(net, &n), sb->s[best].params,
	    sb->nparams * sizeof (float));
	figures = json_deep_copy(json_object_get(sb->s[best].result,
	    "final"));
	json_object_del(figures, "samples_per_sec");
	json_object_del(figures, "elapsed_s");
	if (sb->data)
		json_object_set_new(figures, "partitions",
		    json_integer(sb->n));
	else
		json_object_set_new(figures, "session", json_integer(best));
	model = nn_prepare_model(cfg, &sb->prep, net, figures);
	json_decref(figures);
	rc = nn_model_save(model, output, cause);
out:
	nn_model_free(model);
	nn_config_free(cfg);
	return rc;
}

static int
cmd_submit_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "local", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "detach", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct submit sb;
	struct nn_cluster *cluster = NULL;
	struct sigaction sa;
	const char *connect_to = NULL, *keyfile = NULL, *metrics_path = NULL;
	const char *hosts_path = NULL;
	struct hosts *inventory = NULL;
	char *output = NULL, *cause = NULL, *so = NULL;
	void *code = NULL;
	size_t code_len, nparams;
	struct nn_net *probe;
	json_t *rep = NULL, *ev, *done;
	int c, local = 0, rc = EXIT_USAGE, i, best, threads = 0, detach = 0;
	char job_id[NN_JOBS_ID_LEN + 1] = "";

	memset(&sb, 0, sizeof sb);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cmd_parse_int(self, "--local", optarg, 1,
			    NN_CLUSTER_MAX, &local) != 0)
				goto out;
			break;
		case 'c':
			connect_to = optarg;
			break;
		case 'H':
			hosts_path = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'o':
			free(output);
			output = xstrdup(optarg);
			break;
		case 'm':
			metrics_path = optarg;
			break;
		case 'q':
			sb.quiet = 1;
			break;
		case 'D':
			detach = 1;
			break;
		default:
			if ((rc = cmd_common_option(self, c, argv,
			    &threads)) != -1)
				goto out;
			rc = EXIT_USAGE;
			break;
		}
	}
	if (argc - optind != 1) {
		cmd_usage_error(self, argc - optind == 0 ? "missing NET.JSON" :
		    "expected one NET.JSON, got %d arguments", argc - optind);
		goto out;
	}
	if ((connect_to != NULL) + (local > 0) + (hosts_path != NULL) > 1) {
		cmd_usage_error(self, "give one of --local, --connect and "
		    "--hosts");
		goto out;
	}
	if (keyfile != NULL && connect_to == NULL && hosts_path == NULL) {
		cmd_usage_error(self, "--key goes with --connect or --hosts "
		    "(the embedded cluster makes its own key)");
		goto out;
	}
	if (hosts_path != NULL && (inventory = hosts_load(hosts_path,
	    &cause)) == NULL)
		goto fail;
	if ((sb.cfg = nn_config_load(argv[optind], &cause)) == NULL ||
	    nn_prepare(sb.cfg, NULL, 0, &sb.prep, &cause) != 0 ||
	    nn_job_parse(sb.cfg->root, sb.cfg->path, sb.prep.test != NULL,
	    sb.prep.train->task == NN_TASK_CLASSIFICATION, &sb.job,
	    &cause) != 0)
		goto fail;
	for (i = 0; i < sb.job.nsessions; i++) {
		struct nn_config *ci = nn_config_parse(sb.job.roots[i],
		    sb.cfg->path, NULL, &cause);

		if (ci == NULL || nn_config_fit_data(ci, sb.prep.train,
		    &cause) != 0) {
			nn_config_free(ci);
			goto fail;
		}
		probe = nn_net_new(&ci->arch, 1);
		nn_net_params(probe, &nparams);
		nn_net_free(probe);
		nn_config_free(ci);
		if (i > 0 && nparams != sb.nparams) {
			nn_fail(&cause, "%s: parallel: sessions differ in "
			    "their layers; a sweep keeps the network's shape",
			    sb.cfg->path);
			goto fail;
		}
		sb.nparams = nparams;
	}
	if (output == NULL)
		output = xasprintf("%s.nnm", sb.cfg->name);
	if (metrics_path != NULL &&
	    (sb.metrics = nn_metrics_open(metrics_path, &cause)) == NULL)
		goto fail;
	sb.data = sb.job.mode == NN_JOB_DATA;
	sb.n = sb.data ? sb.job.partitions : sb.job.nsessions;
	auth_random(sb.secret, sizeof sb.secret);
	so = getenv("NNSIM_AGENTS") != NULL ? xasprintf("%s/%s.so",
	    getenv("NNSIM_AGENTS"), submit_kind(&sb)) : nn_cluster_sibling(
	    sb.data ? "agents/partition.so" : "agents/session.so");
	if (codestore_read_file(so, &code, &code_len, sb.code, &cause) != 0)
		goto fail_runtime;

	/* Input is checked: from here a detached job runs on its own. */
	if (detach) {
		if ((c = submit_detach(argv[optind], output, job_id,
		    &cause)) < 0)
			goto fail_runtime;
		if (c > 0) {
			printf("%s\n", job_id);
			rc = 0;
			goto out;
		}
		detach = 2;	/* the job's own process */
		snprintf(sb.id, sizeof sb.id, "%s", job_id);
	} else if (nn_jobs_new_id(sb.id, &cause) != 0)
		goto fail_runtime;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = submit_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (connect_to == NULL && inventory == NULL) {
		if (local == 0)
			local = (int)sysconf(_SC_NPROCESSORS_ONLN);
		if (local < 1)
			local = 1;
		if (!sb.quiet)
			printf("starting an embedded cluster of %d daemon%s\n",
			    local, local > 1 ? "s" : "");
		if ((cluster = nn_cluster_start(local, &cause)) == NULL)
			goto fail_runtime;
		connect_to = nn_cluster_addr(cluster);
		keyfile = nn_cluster_key(cluster);
	}
	if (inventory != NULL) {
		if ((sb.cl = submit_connect_any(inventory, keyfile,
		    &connect_to, &cause)) == NULL)
			goto fail_runtime;
	} else if ((sb.cl = client_connect(connect_to, keyfile,
	    "nnsim-submit", &cause)) == NULL)
		goto fail_runtime;
	rep = submit_ask(sb.cl, json_pack("{s:s}", "op", "subscribe"), NULL,
	    0, NULL, NULL, &cause);
	if (rep == NULL)
		goto fail_runtime;
	json_decref(rep);
	rep = submit_ask(sb.cl, json_pack("{s:s, s:s}", "op", "code-put",
	    "sha256", sb.code), code, code_len, NULL, NULL, &cause);
	if (rep == NULL)
		goto fail_runtime;
	if (!json_is_true(json_object_get(rep, "ok"))) {
		nn_fail(&cause, "%s: code-put: %s", connect_to,
		    json_string_value(json_object_get(rep, "error")));
		goto fail_runtime;
	}
	json_decref(rep);
	rep = NULL;
	if (submit_hosts(&sb, &cause) != 0)
		goto fail_runtime;
	if (json_object_size(sb.hosts) == 0) {
		nn_fail(&cause, "the cluster has no host up");
		goto fail_runtime;
	}
	sb.tty = isatty(STDOUT_FILENO) && getenv("NNSIM_NO_LIVE") == NULL;
	sb.s = xcalloc((size_t)sb.n, sizeof *sb.s);
	for (i = 0; i < sb.n; i++)
		sb.s[i].score = NAN;
	if (!sb.quiet && sb.data)
		printf("job %s: data-parallel, %d partition%s over %zu "
		    "host%s%s (job id %s)\n", sb.cfg->name, sb.n, sb.n > 1 ?
		    "s" : "", json_object_size(sb.hosts),
		    json_object_size(sb.hosts) > 1 ? "s" : "",
		    sb.job.deterministic ? ", deterministic" : "", sb.id);
	else if (!sb.quiet)
		printf("job %s: %d session%s over %zu host%s, select %s (job "
		    "id %s)\n", sb.cfg->name, sb.n, sb.n > 1 ? "s" : "",
		    json_object_size(sb.hosts), json_object_size(sb.hosts) >
		    1 ? "s" : "", sb.job.select, sb.id);
	if (submit_fill(&sb, &cause) != 0 ||
	    (sb.data && submit_members(&sb, &cause) != 0))
		goto fail_runtime;
	while (sb.running > 0) {
		if (submit_stop) {
			nn_fail(&cause, "interrupted; the job's agents were "
			    "stopped");
			goto fail_runtime;
		}
		ev = client_event(sb.cl, 200, &cause);
		if (ev == NULL && cause != NULL) {
			char *why = cause;

			cause = NULL;
			nn_fail(&cause, "%s: lost the daemon: %s", connect_to,
			    why);
			free(why);
			goto fail_runtime;
		}
		if (ev != NULL && submit_event(&sb, ev, &cause) != 0) {
			json_decref(ev);
			goto fail_runtime;
		}
		json_decref(ev);
		if (submit_balance(&sb, &cause) != 0)
			goto fail_runtime;
		submit_draw(&sb, 0);
	}
	submit_draw(&sb, 1);
	sb.drawn = 0;
	if ((best = submit_best(&sb)) < 0) {
		nn_fail(&cause, "no session produced a usable %s",
		    sb.job.select);
		goto fail_runtime;
	}
	if (submit_write_model(&sb, best, output, &cause) != 0)
		goto fail_runtime;
	for (i = 0; i < sb.n; i++) {
		if (sb.data) {
			done = json_pack("{s:s, s:i, s:s, s:s}", "event",
			    "partition", "partition", i, "agent",
			    sb.s[i].agent, "host", sb.s[i].host);
			if (nn_metrics_write(sb.metrics, done, &cause) != 0) {
				json_decref(done);
				goto fail_runtime;
			}
			json_decref(done);
			continue;
		}
		done = json_pack("{s:s, s:i, s:s, s:s, s:s, s:O, s:b}",
		    "event", "session", "session", i, "label",
		    sb.job.labels[i], "agent", sb.s[i].agent, "host",
		    sb.s[i].host, "final", json_object_get(sb.s[i].result,
		    "final"), "best", i == best);
		if (nn_metrics_write(sb.metrics, done, &cause) != 0) {
			json_decref(done);
			goto fail_runtime;
		}
		json_decref(done);
	}
	if (sb.data)
		done = json_pack("{s:s, s:i, s:b, s:O, s:s}", "event", "done",
		    "partitions", sb.n, "deterministic", sb.job.deterministic,
		    "final", json_object_get(sb.s[0].result, "final"),
		    "model", output);
	else
		done = json_pack("{s:s, s:i, s:i, s:s, s:f, s:s, s:s}",
		    "event", "done", "sessions", sb.n, "best", best,
		    "select", sb.job.select, "score", sb.s[best].score,
		    "label", sb.job.labels[best], "model", output);
	if (nn_metrics_write(sb.metrics, done, &cause) != 0 ||
	    nn_metrics_close(sb.metrics, &cause) != 0) {
		json_decref(done);
		sb.metrics = NULL;
		goto fail_runtime;
	}
	json_decref(done);
	sb.metrics = NULL;
	if (!sb.quiet && sb.data)
		printf("done: %d partitions, %s %.6g, model %s\n", sb.n,
		    sb.job.select, sb.s[0].score, output);
	else if (!sb.quiet)
		printf("best: session %d (%s), %s %.6g, model %s\n", best,
		    sb.job.labels[best], sb.job.select, sb.s[best].score,
		    output);
	rc = 0;
	goto out;

fail:
	rc = EXIT_USAGE;
	goto report;
fail_runtime:
	rc = EXIT_FAILED;
	if (sb.cl != NULL && sb.s != NULL)
		submit_kill_all(&sb);
report:
	fprintf(stderr, "nnsim submit: %s\n", cause);
out:
	if (detach == 2)
		submit_detached_end(job_id, rc, cause);
	json_decref(rep);
	client_free(sb.cl);
	hosts_free(inventory);
	nn_cluster_stop(cluster);
	nn_metrics_close(sb.metrics, NULL);
	for (i = 0; sb.s != NULL && i < sb.n; i++) {
		json_decref(sb.s[i].result);
		free(sb.s[i].params);
	}
	free(sb.s);
	json_decref(sb.hosts);
	nn_job_clear(&sb.job);
	nn_prepared_clear(&sb.prep);
	nn_config_free(sb.cfg);
	free(code);
	free(so);
	free(output);
	free(cause);
	return rc;
}
