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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "agentd/client.h"
#include "agentd/hosts.h"
#include "base/crypto.h"
#include "cli/cluster.h"
#include "base/file.h"
#include "cli/cmd.h"
#include "cli/datacache.h"
#include "cli/override.h"
#include "cli/submit-internal.h"

static int	cmd_submit_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_submit_entry = {
	.name = "submit",
	.usage = "NET.JSON [--local N | --connect ADDR:PORT | --hosts FILE] "
	    "[--key FILE] [-o MODEL] [--force] [--metrics FILE] [--no-cache] "
	    "[--detach] "
	    "[--set KEY=VALUE]... [--epochs N] [--quiet]",
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
	    "  --key FILE           the key we hold (with --connect or\n"
	    "                       --hosts; the embedded cluster makes its\n"
	    "                       own): the node key, or a run key, which\n"
	    "                       runs the job only if the daemon already\n"
	    "                       stores its code (docs/security.md)\n"
	    "  -o, --output MODEL   write the model here: the best session's,\n"
	    "                       or the one a data job trained (default:\n"
	    "                       NAME.nnm, NAME from net.json); an existing\n"
	    "                       file is refused before the job starts\n"
	    "  -f, --force          overwrite an existing model file\n"
	    "  --metrics FILE       one JSON line per epoch (the lines of\n"
	    "                       nnsim train plus session or partitions,\n"
	    "                       agent and host), a line per move, per\n"
	    "                       session or partition at the end, and a\n"
	    "                       last line with \"event\": \"done\"\n"
	    "                       (its data_bytes_sent: the block bytes\n"
	    "                       put in the data cache)\n"
	    "  --no-cache           ship the data in each agent's state, not\n"
	    "                       through the cluster's data cache\n"
	    "  --detach             run in the background: print the job id\n"
	    "                       and return; nnsim attach JOB follows it,\n"
	    "                       nnsim jobs lists jobs\n"
	    OVERRIDE_HELP
	    "  -q, --quiet          print nothing but errors\n"
	    "  -h, --help           show this help\n"
	    "\nThe \"parallel\" section of net.json says how the job becomes\n"
	    "agents (docs/net-json.md): sessions, or partitions of the data\n"
	    "(docs/data-parallel.md). The data goes through the cluster's\n"
	    "data cache (docs/data-cache.md): the submitter names the set by\n"
	    "its files' contents and load options, and loads, normalises and\n"
	    "puts it only when the cache lacks it; the agents map their rows\n"
	    "from their daemons. {\"cache\": NAME} as data.train trains from\n"
	    "a set put with nnsim data put. On a terminal it shows a\n"
	    "live table, a row per agent (NNSIM_NO_LIVE=1: plain lines);\n"
	    "otherwise one line per session and epoch. Exit status: 0 done,\n"
	    "1 an agent or the cluster failed, 2 bad usage or input.\n",
	.exec = cmd_submit_exec,
};

/* What the command line asked for. */
struct submit_options {
	const char	*connect_to;
	const char	*hosts_path;
	const char	*keyfile;
	const char	*metrics_path;
	char		*output;	/* -o, else NAME.nnm */
	int		 local;		/* --local N; 0: one per core */
	int		 quiet;
	int		 detach;
	int		 no_cache;
	int		 force;		/* --force: MODEL may be overwritten */
	int		 threads;
	struct override_list over;	/* --set, --epochs */
};

const char *
submit_kind(const struct submit *sb)
{
	return sb->data ? "partition" : "session";
}

/*
 * Ships the job's code unless the daemon stores it: a run key may spawn
 * stored code but not ship any (docs/security.md), so it asks first.
 */
int
submit_ship_code(struct submit *sb, char **cause)
{
	json_t *rep;
	char *why = NULL;
	int rc = -1;

	if ((rep = submit_ask(sb, json_pack("{s:s, s:s}", "op", "code-has",
	    "sha256", sb->code), NULL, 0, NULL, NULL, cause)) == NULL)
		return -1;
	if (json_is_true(json_object_get(rep, "has"))) {
		rc = 0;
		goto out;
	}
	json_decref(rep);
	if ((rep = submit_ask(sb, json_pack("{s:s, s:s}", "op", "code-put",
	    "sha256", sb->code), sb->code_buf, sb->code_len, NULL, NULL,
	    cause)) == NULL)
		return -1;
	if (client_reply_ok(rep, "code-put", &why) != 0) {
		nn_fail(cause, "%s: the job's code (%.12s...) is not stored "
		    "there, and shipping it was refused: %s", sb->addr,
		    sb->code, why);
		goto out;
	}
	rc = 0;
out:
	free(why);
	json_decref(rep);
	return rc;
}

json_t *
submit_ask(struct submit *sb, json_t *req, const void *payload, uint64_t len,
    unsigned char **out, uint64_t *out_len, char **cause)
{
	json_t *rep = NULL;

	if (sb->cl == NULL)
		nn_fail(cause, "no daemon");
	else
		rep = client_request_reply(sb->cl, req, payload, len, out,
		    out_len, cause);
	/* No answer at all: the daemon is gone (submit_follow.c). */
	if (rep == NULL)
		sb->lost = 1;
	json_decref(req);
	return rep;
}

/* Parses the options: -1 to go on, else the exit status. */
static int
submit_options(const struct cmd_entry *self, int argc, char **argv,
    struct submit_options *o)
{
	static const struct option longopts[] = {
		{ "local", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "detach", no_argument, NULL, 'D' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		OVERRIDE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":o:fqh", longopts,
	    &o->threads, &rc)) != -1) {
		switch (c) {
		case 'l':
			if (cmd_parse_int(self, "--local", optarg, 1,
			    NN_CLUSTER_MAX, &o->local) != 0)
				return EXIT_USAGE;
			break;
		case 'c':
			o->connect_to = optarg;
			break;
		case 'H':
			o->hosts_path = optarg;
			break;
		case 'k':
			o->keyfile = optarg;
			break;
		case 'o':
			free(o->output);
			o->output = xstrdup(optarg);
			break;
		case 'f':
			o->force = 1;
			break;
		case 'm':
			o->metrics_path = optarg;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'D':
			o->detach = 1;
			break;
		case 'N':
			o->no_cache = 1;
			break;
		case CMD_OPT_EXIT:
			return rc;
		default:
			if (override_option(&o->over, self, c, optarg) < 0)
				return EXIT_USAGE;
		}
	}
	if (cmd_check_args(self, argc - optind, 1, "NET.JSON") != 0)
		return EXIT_USAGE;
	if ((o->connect_to != NULL) + (o->local > 0) +
	    (o->hosts_path != NULL) > 1)
		return cmd_usage_error(self, "give one of --local, --connect "
		    "and --hosts");
	if (o->keyfile != NULL && o->connect_to == NULL &&
	    o->hosts_path == NULL)
		return cmd_usage_error(self, "--key goes with --connect or "
		    "--hosts (the embedded cluster makes its own key)");
	return -1;
}

/* A session's overrides may change the loss, output or monitor: each is
 * checked against the data, naming the session. */
static int
submit_check_session(struct submit *sb, struct nn_config *ci, int i,
    char **cause)
{
	char *was;

	if (nn_prepare_check(ci, &sb->prep, cause) == 0)
		return 0;
	if (sb->job.nsessions > 1) {
		was = *cause;
		*cause = xasprintf("%s (session %d, %s)", was, i,
		    sb->job.labels[i]);
		free(was);
	}
	return -1;
}

/*
 * The job net.json describes, once its data is prepared (loaded, or the
 * cache's references); sessions may differ in their layers. -1 with
 * cause: bad input.
 */
static int
submit_setup(struct submit *sb, const struct submit_options *o,
    char **cause)
{
	struct nn_config *ci;
	struct nn_net *probe;
	int i;

	if (nn_job_parse(sb->cfg->root, sb->cfg->path, sb->prep.test != NULL,
	    sb->prep.train->task == NN_TASK_CLASSIFICATION, &sb->job,
	    cause) != 0)
		return -1;
	free(sb->nparams);
	sb->nparams = xcalloc((size_t)sb->job.nsessions, sizeof *sb->nparams);
	for (i = 0; i < sb->job.nsessions; i++) {
		ci = nn_config_parse(sb->job.roots[i], sb->cfg->path, NULL,
		    cause);
		if (ci == NULL || nn_config_fit_data(ci, sb->prep.train,
		    cause) != 0 || submit_check_session(sb, ci, i,
		    cause) != 0) {
			nn_config_free(ci);
			return -1;
		}
		probe = nn_net_new(&ci->arch, 1);
		nn_net_params(probe, &sb->nparams[i]);
		nn_net_free(probe);
		nn_config_free(ci);
	}
	if (o->metrics_path != NULL && (sb->metrics = nn_metrics_open(
	    o->metrics_path, cause)) == NULL)
		return -1;
	sb->data = sb->job.mode == NN_JOB_DATA;
	sb->n = sb->data ? sb->job.partitions : sb->job.nsessions;
	return 0;
}

/*
 * Reads the inventory and net.json. Without the cache, its data and the
 * job too; with it, the key of its files (the data waits for the
 * cluster: submit_data). -1 with cause: bad input.
 */
static int
submit_load(struct submit *sb, struct submit_options *o, const char *net,
    char **cause)
{
	struct datacache_options dco;

	if (o->hosts_path != NULL && (sb->inventory = hosts_load(o->hosts_path,
	    cause)) == NULL)
		return -1;
	if ((sb->cfg = override_load(&o->over, net, cause)) == NULL)
		return -1;
	if (o->output == NULL)
		o->output = xasprintf("%s.nnm", sb->cfg->name);
	/* Refused before any agent runs, not after the job. */
	if (nn_output_check(o->output, o->force, cause) != 0)
		return -1;
	/* The cache holds a train and a test table: validation rows go in
	 * the agents' states, and with them the rest (docs/data-cache.md). */
	if (nn_config_has_validation(sb->cfg) && !o->no_cache) {
		o->no_cache = 1;
		if (!o->quiet)
			fprintf(stderr, "nnsim submit: %s: validation data: the "
			    "data goes in the agents' states, not through the "
			    "data cache\n", sb->cfg->path);
	}
	sb->no_cache = o->no_cache;
	if (sb->cfg->train_src.format == NN_FORMAT_CACHE && o->no_cache)
		return nn_fail(cause, "%s: data.train is the cached set \"%s\": "
		    "--no-cache needs data files", sb->cfg->path,
		    sb->cfg->train_src.name);
	if (o->no_cache)
		return nn_prepare(sb->cfg, NULL, 0, &sb->prep, cause) != 0 ||
		    submit_setup(sb, o, cause) != 0 ? -1 : 0;
	/* The mode picks the agents' code now; whether the data has a test
	 * table and classes (which only change the default "select") is
	 * known once the data is: submit_setup parses the job again. */
	if (nn_job_parse(sb->cfg->root, sb->cfg->path, 1, 1, &sb->job,
	    cause) != 0)
		return -1;
	sb->data = sb->job.mode == NN_JOB_DATA;
	nn_job_clear(&sb->job);
	if (sb->cfg->train_src.format == NN_FORMAT_CACHE)
		return 0;
	/* Hashing the files checks them without reading their rows. */
	datacache_options_of(sb->cfg, &dco);
	return datacache_key(&dco, sb->key, cause);
}

/* A put that failed: the job may still run with its data in the states. */
static void
submit_no_cache_hint(char **cause)
{
	char *was = *cause;

	*cause = xasprintf("%s (nnsim submit --no-cache ships the data in the "
	    "agents' states instead)", was);
	free(was);
}

/*
 * The job's data through the cache: the set named in net.json, or the
 * one its files make (put now when the cache lacks it). prep then holds
 * row-less references, the set's normalisation and classes. -1 with
 * cause; *bad for bad input.
 */
static int
submit_data(struct submit *sb, int *bad, char **cause)
{
	const struct nn_source *src = &sb->cfg->train_src;
	struct datacache_options dco;
	struct datacache_set_spec spec;
	struct datacache_set *set = NULL;
	char name[NN_DATA_NAME_MAX + 1];
	json_t *layout = NULL;
	uint64_t sent = 0;
	int found, rc = -1;

	if (src->format == NN_FORMAT_CACHE)
		snprintf(name, sizeof name, "%s", src->name);
	else
		datacache_auto_name(sb->key, name, sizeof name);
	if ((found = datacache_lookup(sb->cl, name, &sb->set_manifest,
	    &sb->set_holders, cause)) < 0)
		return -1;
	if (found == 0 && src->format == NN_FORMAT_CACHE)
		return nn_fail(cause, "no data set %s on the cluster (nnsim "
		    "data put makes one)", name);
	/* 16 hex digits of the key name it: check the whole key. */
	if (found && src->format != NN_FORMAT_CACHE && strcmp(sb->key,
	    json_string_value(json_object_get(sb->set_manifest, "key"))) != 0)
		return nn_fail(cause, "data set %s holds other data than %s "
		    "names (nnsim data rm %s, or submit --no-cache)", name,
		    sb->cfg->path, name);
	if (found == 0) {
		*bad = 1;
		if (nn_prepare(sb->cfg, NULL, 0, &sb->prep, cause) != 0)
			goto out;
		*bad = 0;
		layout = nn_prepare_layout(src);
		memset(&spec, 0, sizeof spec);
		spec.prep = &sb->prep;
		spec.name = name;
		spec.key = sb->key;
		datacache_options_of(sb->cfg, &dco);
		spec.parts = dco.parts;
		spec.replicas = DATACACHE_REPLICAS;
		spec.source = layout;
		if ((set = datacache_set_new(&spec, cause)) == NULL)
			goto out;
		if (datacache_put(sb->cl, set, 0, &sent, cause) != 0) {
			/* A daemon gone is not the cache's fault. */
			if (!client_closed(sb->cl))
				submit_no_cache_hint(cause);
			goto out;
		}
		sb->data_sent = sent;
		/* The rows stay in the cache: only references from here. */
		nn_prepared_clear(&sb->prep);
		if (datacache_lookup(sb->cl, name, &sb->set_manifest,
		    &sb->set_holders, cause) != 1) {
			if (*cause == NULL)
				nn_fail(cause, "data set %s: gone right after "
				    "it was put", name);
			goto out;
		}
	}
	*bad = 1;
	if (datacache_prepared(sb->set_manifest, &sb->prep, cause) != 0 ||
	    nn_config_fit_data(sb->cfg, sb->prep.train, cause) != 0)
		goto out;
	*bad = 0;
	if (!sb->quiet)
		printf("data: set %s, %s, %llu bytes shipped\n", name, found ?
		    "in the cache" : "put in the cache", sb->data_sent);
	rc = 0;
out:
	datacache_set_free(set);
	json_decref(layout);
	return rc;
}

/*
 * The agents' net.json names the set, not the files: its rows come from
 * the cache, already split and normalised, and the files are neither on
 * the agents' hosts nor open to their sandbox.
 */
static int
submit_cache_roots(struct submit *sb, char **cause)
{
	const char *name = json_string_value(json_object_get(sb->set_manifest,
	    "name"));
	int i;

	if (name == NULL)
		return nn_fail(cause, "the data set has no name");
	for (i = 0; i < sb->job.nsessions; i++)
		json_object_set_new(sb->job.roots[i], "data", json_pack(
		    "{s:{s:s}}", "train", "cache", name));
	return 0;
}

/* The agents' code: agents/session.so or agents/partition.so. */
static int
submit_code(struct submit *sb, char **cause)
{
	char *so;
	int rc;

	so = getenv("NNSIM_AGENTS") != NULL ? xasprintf("%s/%s.so",
	    getenv("NNSIM_AGENTS"), submit_kind(sb)) : nn_cluster_sibling(
	    sb->data ? "agents/partition.so" : "agents/session.so");
	rc = codestore_read_file(so, &sb->code_buf, &sb->code_len, sb->code,
	    cause);
	free(so);
	return rc;
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

/*
 * The cluster: an embedded one, the daemon at --connect or the first host
 * of --hosts that answers. Then the job's events are asked for, the code
 * stored and the hosts looked at.
 */
static int
submit_connect(struct submit *sb, const struct submit_options *o,
    char **cause)
{
	const char *keyfile = o->keyfile;
	json_t *rep;

	sb->keyfile = keyfile;
	char *why = NULL;
	int local = o->local;

	sb->addr = o->connect_to;
	if (sb->addr == NULL && sb->inventory == NULL) {
		if (local == 0)
			local = (int)sysconf(_SC_NPROCESSORS_ONLN);
		if (local < 1)
			local = 1;
		if (!sb->quiet)
			printf("starting an embedded cluster of %d daemon%s\n",
			    local, local > 1 ? "s" : "");
		if ((sb->cluster = nn_cluster_start(local, cause)) == NULL)
			return -1;
		sb->addr = nn_cluster_addr(sb->cluster);
		keyfile = sb->keyfile = nn_cluster_key(sb->cluster);
	}
	if (sb->inventory != NULL) {
		if ((sb->cl = client_connect_any(sb->inventory, keyfile,
		    "nnsim-submit", &sb->addr, &why)) == NULL) {
			nn_fail(cause, "no host of the inventory answers "
			    "(last, %s: %s)", sb->addr, why);
			free(why);
			return -1;
		}
	} else if ((sb->cl = client_connect(sb->addr, keyfile,
	    "nnsim-submit", cause)) == NULL)
		return -1;
	sb->encrypt = client_encrypts(sb->cl);
	if ((rep = submit_ask(sb, json_pack("{s:s}", "op", "subscribe"),
	    NULL, 0, NULL, NULL, cause)) == NULL)
		return -1;
	json_decref(rep);
	if (submit_ship_code(sb, cause) != 0 || submit_hosts(sb, cause) != 0)
		return -1;
	if (json_object_size(sb->hosts) == 0)
		return nn_fail(cause, "the cluster has no host up");
	return 0;
}

/* Frees what the job holds and stops the embedded cluster. */
static void
submit_clear(struct submit *sb)
{
	int i;

	client_free(sb->cl);
	submit_follow_free(sb);
	json_decref(sb->addrs);
	json_decref(sb->backups);
	json_decref(sb->gone);
	hosts_free(sb->inventory);
	nn_cluster_stop(sb->cluster);
	nn_metrics_close(sb->metrics, NULL);
	for (i = 0; sb->s != NULL && i < sb->n; i++) {
		json_decref(sb->s[i].result);
		json_decref(sb->s[i].commit_hosts);
		free(sb->s[i].seen);
		free(sb->s[i].params);
	}
	free(sb->s);
	json_decref(sb->hosts);
	json_decref(sb->set_manifest);
	json_decref(sb->set_holders);
	nn_job_clear(&sb->job);
	nn_prepared_clear(&sb->prep);
	nn_config_free(sb->cfg);
	free(sb->code_buf);
	free(sb->nparams);
}

static int
cmd_submit_exec(const struct cmd_entry *self, int argc, char **argv)
{
	struct submit_options o;
	struct submit sb;
	char *cause = NULL;
	int rc, r, detached = 0, bad = 0;

	memset(&o, 0, sizeof o);
	memset(&sb, 0, sizeof sb);
	if ((rc = submit_options(self, argc, argv, &o)) != -1)
		goto out;
	sb.quiet = o.quiet;
	if (submit_load(&sb, &o, argv[optind], &cause) != 0) {
		rc = EXIT_USAGE;
		goto report;
	}
	crypto_random(sb.secret, sizeof sb.secret);
	if (submit_code(&sb, &cause) != 0)
		goto fail;

	/* Input is checked: from here a detached job runs on its own. */
	if (o.detach) {
		if ((r = submit_detach(argv[optind], o.output, sb.id,
		    &cause)) < 0)
			goto fail;
		if (r > 0) {
			printf("%s\n", sb.id);
			rc = 0;
			goto out;
		}
		detached = sb.detached = 1;	/* the job's own process */
	} else if (nn_jobs_new_id(sb.id, &cause) != 0)
		goto fail;
	submit_catch_signals();
	if (submit_connect(&sb, &o, &cause) != 0)
		goto fail;
	if (!sb.no_cache && (submit_data(&sb, &bad, &cause) != 0 ||
	    (bad = 1, submit_setup(&sb, &o, &cause)) != 0 ||
	    submit_cache_roots(&sb, &cause) != 0)) {
		if (!bad)
			goto fail;
		rc = EXIT_USAGE;
		goto report;
	}
	if (submit_run(&sb, &cause) != 0 ||
	    submit_report(&sb, o.output, &cause) != 0)
		goto fail;
	rc = 0;
	goto out;

fail:
	rc = EXIT_FAILED;
	if (sb.cl != NULL && sb.s != NULL)
		submit_kill_all(&sb);
report:
	fprintf(stderr, "nnsim submit: %s\n", cause);
out:
	if (detached)
		submit_detached_end(sb.id, rc, cause);
	submit_clear(&sb);
	free(o.output);
	override_clear(&o.over);
	free(cause);
	return rc;
}
