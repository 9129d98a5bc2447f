/*
 * nnsim data: the cluster's data cache (docs/data-cache.md). Sets are put
 * from a net.json (loaded as training loads it) or one data file, listed,
 * shown with their blocks and holders, fetched back and removed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agentd/client.h"
#include "agentd/hosts.h"
#include "base/table.h"
#include "base/file.h"
#include "cli/cmd.h"
#include "cli/datacache.h"
#include "cli/model_io.h"

#define DATA_DEFAULT_ADDR	"127.0.0.1:7070"
#define DATA_MIB		(1024.0 * 1024.0)
#define DATA_CSV_PROBE		(1 << 20)	/* bytes of a CSV's first line */

static int	cmd_data_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_data_entry = {
	.name = "data",
	.usage = "put|ls|show|get|rm [ARGS] [--connect ADDR:PORT | --hosts "
	    "FILE] [--key FILE]",
	.summary = "the cluster's data cache: put, list, show, get and "
	    "remove data sets",
	.help =
	    "commands:\n"
	    "  put NET.JSON|FILE    load the data as training does (a net.json)\n"
	    "                       or one file (.data/.train/.test: FANN;\n"
	    "                       .csv: the last column is the class, the\n"
	    "                       first line a header when its other cells\n"
	    "                       are not numbers), split and normalise it,\n"
	    "                       and store it in the daemons' caches\n"
	    "  ls                   list the sets\n"
	    "  show NAME            a set's tables, parts, blocks with their\n"
	    "                       sizes and the hosts that hold them\n"
	    "  get NAME -o FILE     write a table's rows, in their original\n"
	    "                       order, as a FANN text file (each value\n"
	    "                       with %.9g: floats read back exactly)\n"
	    "  rm NAME              remove a set (refused while in use)\n"
	    "\noptions:\n"
	    "  --name NAME          put: the set's name (default: auto- and 16\n"
	    "                       hex digits of its key, as nnsim submit\n"
	    "                       names the sets it puts)\n"
	    "  --replicas R         put: copies of each block (1 to 8,\n"
	    "                       default 2)\n"
	    "  --replace            put: over a set of that name with other\n"
	    "                       data\n"
	    "  -o, --output FILE    get: where to write\n"
	    "  -f, --force          get: overwrite FILE if it exists\n"
	    "  --table TABLE        get: train (default) or test\n"
	    "  --connect ADDR:PORT  the daemon to talk to (default\n"
	    "                       127.0.0.1:7070)\n"
	    "  --hosts FILE         the first host of this inventory that\n"
	    "                       answers\n"
	    "  --key FILE           the key we hold (docs/security.md): put\n"
	    "                       and rm need a run key or the node key\n"
	    "  --json               ls and show: the daemon's JSON\n"
	    "  -h, --help           show this help\n"
	    "\nNames: 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting\n"
	    "with . or -. Exit status: 0 done, 1 a runtime failure (no such\n"
	    "set, a set too large for the caches, a daemon that refused or\n"
	    "is gone), 2 bad usage or input (a bad name, a bad data file).\n"
	    "See docs/data-cache.md.\n",
	.exec = cmd_data_exec,
};

/* What the command line asked for. */
struct data_ctx {
	const char	*connect_to;
	const char	*hosts_path;
	const char	*keyfile;
	const char	*name;		/* put --name */
	const char	*output;	/* get -o */
	const char	*table;		/* get --table */
	int		 replicas;
	int		 replace;
	int		 json;
	int		 force;		/* get --force */
	unsigned	 given;		/* DATA_OPT_* seen */
	struct client	*cl;
	char		*cause;
};

/* Options that belong to one sub-command. */
#define DATA_OPT_NAME		0x01
#define DATA_OPT_REPLICAS	0x02
#define DATA_OPT_REPLACE	0x04
#define DATA_OPT_OUTPUT		0x08
#define DATA_OPT_TABLE		0x10
#define DATA_OPT_JSON		0x20
#define DATA_OPT_FORCE		0x40

struct data_cmd {
	const char	*name;
	const char	*args;		/* for errors */
	int		 nargs;
	unsigned	 opts;		/* DATA_OPT_* it takes */
	int		(*fn)(struct data_ctx *, char **);
};

/* One line "nnsim data: ..." on stderr; returns status. */
static int NN_PRINTF(2, 3)
data_error(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cmd_verror("nnsim data: ", fmt, ap);
	va_end(ap);
	return status;
}

/* A set's name, checked; the usage error names it. */
static int
data_name_check(const char *name)
{
	if (nn_data_name_ok(name))
		return 0;
	data_error(EXIT_USAGE, "bad set name \"%.80s\" (expected 1 to %d "
	    "characters of A-Z a-z 0-9 . _ -, not starting with . or -)",
	    name, NN_DATA_NAME_MAX);
	return -1;
}

/* Connects to the daemon of --connect, or any host of --hosts. */
static int
data_connect(struct data_ctx *c)
{
	struct hosts *inv = NULL;
	const char *addr = c->connect_to != NULL ? c->connect_to :
	    DATA_DEFAULT_ADDR;
	char *why = NULL;

	if (c->hosts_path == NULL) {
		c->cl = client_connect(addr, c->keyfile, "nnsim-data",
		    &c->cause);
		return c->cl != NULL ? 0 : -1;
	}
	if ((inv = hosts_load(c->hosts_path, &c->cause)) == NULL)
		return -1;
	if ((c->cl = client_connect_any(inv, c->keyfile, "nnsim-data", &addr,
	    &why)) == NULL)
		nn_fail(&c->cause, "no host of the inventory answers (%s)",
		    why);
	free(why);
	hosts_free(inv);
	return c->cl != NULL ? 0 : -1;
}

/*
 * A plain CSV file's default options: the last column is the class; the
 * first line is a header when a cell before the last is not a number.
 */
static int
data_csv_defaults(const char *path, struct nn_source *s, char **cause)
{
	char *line = NULL, *p, *cell, *end, *save = NULL;
	size_t cap = 0;
	ssize_t n;
	int cells = 0, word = 0, words = 0, rc = -1;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if ((n = getline(&line, &cap, f)) <= 0 || n > DATA_CSV_PROBE) {
		nn_fail(cause, "%s: no first line of at most %d bytes", path,
		    DATA_CSV_PROBE);
		goto out;
	}
	line[strcspn(line, "\r\n")] = '\0';
	for (p = line; (cell = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		/* The last cell is the label, which may be a word. */
		words |= word;
		cells++;
		cell += strspn(cell, " ");
		(void)strtod(cell, &end);
		word = end == cell || end[strspn(end, " ")] != '\0';
	}
	if (cells < 2) {
		nn_fail(cause, "%s: one column: expected inputs and a class "
		    "column (give a net.json for other layouts)", path);
		goto out;
	}
	s->label = cells - 1;
	s->header = words;
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

/* One data file as a source with default options, its format from its
 * name (.data, .train, .test: FANN; .csv). */
static int
data_file_source(const char *path, struct nn_source *s, char **cause)
{
	memset(s, 0, sizeof *s);
	s->jpath = xstrdup(path);
	s->path = xstrdup(path);
	s->label = -1;
	s->row_lo = s->row_hi = -1;
	if (model_io_suffix(path, ".data") || model_io_suffix(path, ".train") ||
	    model_io_suffix(path, ".test")) {
		s->format = NN_FORMAT_FANN;
		return 0;
	}
	if (!model_io_suffix(path, ".csv"))
		return nn_fail(cause, "%s: unknown data format (expected a "
		    "net.json, a FANN .data/.train/.test file or a .csv file)",
		    path);
	s->format = NN_FORMAT_CSV;
	return data_csv_defaults(path, s, cause);
}

/*
 * What put loads: a net.json as nn_prepare does, or one file with
 * default options. Fills prep, the key and the source's layout. -1 with
 * cause: bad input.
 */
static int
data_load(const char *path, struct nn_prepared *prep, char *key,
    json_t **layout, int *parts, char **cause)
{
	struct nn_config *cfg = NULL;
	struct datacache_options o;
	struct nn_source src;
	struct nn_data *train = NULL;
	int rc = -1;

	memset(&src, 0, sizeof src);
	memset(prep, 0, sizeof *prep);
	if (model_io_suffix(path, ".json")) {
		if ((cfg = nn_config_load(path, cause)) == NULL)
			goto out;
		if (cfg->train_src.format == NN_FORMAT_CACHE) {
			nn_fail(cause, "%s: data.train is the cached set "
			    "\"%s\" already", path, cfg->train_src.name);
			goto out;
		}
		datacache_options_of(cfg, &o);
		if (datacache_key(&o, key, cause) != 0 ||
		    nn_prepare(cfg, NULL, 0, prep, cause) != 0)
			goto out;
		*layout = nn_prepare_layout(&cfg->train_src);
		*parts = o.parts;
		rc = 0;
		goto out;
	}
	if (data_file_source(path, &src, cause) != 0)
		goto out;
	memset(&o, 0, sizeof o);
	o.train = &src;
	o.parts = 1;
	if (datacache_key(&o, key, cause) != 0 || nn_data_load(&src, NULL,
	    NULL, 0, &train, NULL, cause) != 0)
		goto out;
	nn_norm_fit(&prep->norm, NN_NORM_NONE, train);
	prep->train = train;
	*layout = nn_prepare_layout(&src);
	*parts = 1;
	rc = 0;
out:
	if (rc != 0)
		nn_prepared_clear(prep);
	nn_source_clear(&src);
	nn_config_free(cfg);
	return rc;
}

static int
data_put(struct data_ctx *c, char **argv)
{
	struct datacache_set_spec spec;
	struct datacache_set *set = NULL;
	struct nn_prepared prep;
	char key[DATACACHE_HEX], name[NN_DATA_NAME_MAX + 1];
	json_t *layout = NULL, *old = NULL;
	uint64_t sent = 0;
	int parts = 1, found, rc = EXIT_FAILED;

	memset(&prep, 0, sizeof prep);
	if (c->name != NULL && data_name_check(c->name) != 0)
		return EXIT_USAGE;
	if (data_load(argv[0], &prep, key, &layout, &parts, &c->cause) != 0) {
		rc = EXIT_USAGE;
		goto fail;
	}
	if (c->name != NULL)
		snprintf(name, sizeof name, "%s", c->name);
	else
		datacache_auto_name(key, name, sizeof name);
	if (data_connect(c) != 0 || (found = datacache_lookup(c->cl, name,
	    &old, NULL, &c->cause)) < 0)
		goto fail;
	if (found && strcmp(json_string_value(json_object_get(old, "key")),
	    key) == 0 && !c->replace) {
		printf("data set %s: already stored, 0 bytes sent\n", name);
		rc = 0;
		goto out;
	}
	if (found && !c->replace) {
		nn_fail(&c->cause, "data set %s exists with other data (nnsim "
		    "data rm %s first, or put --replace)", name, name);
		goto fail;
	}
	memset(&spec, 0, sizeof spec);
	spec.prep = &prep;
	spec.name = name;
	spec.key = key;
	spec.parts = parts;
	spec.replicas = c->replicas;
	spec.source = layout;
	if ((set = datacache_set_new(&spec, &c->cause)) == NULL ||
	    datacache_put(c->cl, set, c->replace, &sent, &c->cause) != 0)
		goto fail;
	printf("data set %s: %zu rows%s, %.1f MiB in %zu blocks, %llu bytes "
	    "sent\n", name, prep.train->n, prep.test != NULL ? " and a test "
	    "table" : "", (double)datacache_set_bytes(set) / DATA_MIB,
	    datacache_set_blocks(set), (unsigned long long)sent);
	rc = 0;
	goto out;
fail:
	data_error(rc, "%s", c->cause);
out:
	datacache_set_free(set);
	json_decref(layout);
	json_decref(old);
	nn_prepared_clear(&prep);
	return rc;
}

/* data-sets' list (new reference), or NULL with c->cause. */
static json_t *
data_sets(struct data_ctx *c)
{
	json_t *req = json_pack("{s:s}", "op", "data-sets"), *rep, *sets;

	rep = client_request(c->cl, req, &c->cause);
	json_decref(req);
	if (rep == NULL)
		return NULL;
	if (client_reply_ok(rep, "data-sets", &c->cause) != 0) {
		json_decref(rep);
		return NULL;
	}
	sets = json_incref(json_object_get(rep, "sets"));
	json_decref(rep);
	return sets != NULL ? sets : json_array();
}

static int
data_ls(struct data_ctx *c, char **argv)
{
	json_t *sets, *s;
	char use[32];
	size_t i;

	(void)argv;
	if (data_connect(c) != 0 || (sets = data_sets(c)) == NULL)
		return data_error(EXIT_FAILED, "%s", c->cause);
	if (c->json) {
		char *text = json_dumps(sets, JSON_COMPACT | JSON_SORT_KEYS);

		printf("%s\n", text != NULL ? text : "[]");
		free(text);
		json_decref(sets);
		return 0;
	}
	printf("%-24s %10s %10s %6s %8s %8s %6s\n", "NAME", "ROWS", "MIB",
	    "BLOCKS", "REPLICAS", "COMPLETE", "IN_USE");
	json_array_foreach(sets, i, s) {
		datacache_in_use_text(json_object_get(s, "in_use"), use, sizeof use);
		printf("%-24s %10lld %10.1f %6lld %8lld %8s %6s\n",
		    json_string_value(json_object_get(s, "name")) != NULL ?
		    json_string_value(json_object_get(s, "name")) : "?",
		    json_integer_value(json_object_get(s, "rows")),
		    (double)json_integer_value(json_object_get(s, "bytes")) /
		    DATA_MIB, json_integer_value(json_object_get(s, "blocks")),
		    json_integer_value(json_object_get(s, "replicas")),
		    json_is_false(json_object_get(s, "complete")) ? "no" :
		    "yes", use);
	}
	json_decref(sets);
	return 0;
}

/*
 * Looks up a set by its name for show, get and rm: 0 with its manifest
 * and holders; else the exit status after the error line.
 */
static int
data_find(struct data_ctx *c, const char *name, json_t **m, json_t **holders)
{
	int found;

	if (data_name_check(name) != 0)
		return EXIT_USAGE;
	if (data_connect(c) != 0 || (found = datacache_lookup(c->cl, name, m,
	    holders, &c->cause)) < 0)
		return data_error(EXIT_FAILED, "%s", c->cause);
	if (found == 0)
		return data_error(EXIT_FAILED, "no data set %s on the cluster",
		    name);
	return 0;
}

/* The hosts of a block, "h1,h2", or "-" when none holds it. */
static void
data_hosts_of(json_t *holders, const char *block, char *buf, size_t len)
{
	json_t *h;
	size_t i, at = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(holders, block), i, h) {
		if (json_string_value(h) == NULL || at + 2 >= len)
			continue;
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i > 0 ?
		    "," : "", json_string_value(h));
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

/* The parts and blocks of one table. */
static void
data_show_table(json_t *m, json_t *holders, const char *name)
{
	json_t *t = json_object_get(json_object_get(m, "tables"), name), *p;
	json_t *blocks;
	size_t i, b, rows, brows, k;
	char hosts[512];
	int in, out;

	if (t == NULL)
		return;
	in = (int)json_integer_value(json_object_get(m, "in"));
	out = (int)json_integer_value(json_object_get(m, "out"));
	printf("table %s: %lld rows, %zu part%s\n", name, json_integer_value(
	    json_object_get(t, "rows")), json_array_size(json_object_get(t,
	    "parts")), json_array_size(json_object_get(t, "parts")) > 1 ?
	    "s" : "");
	printf("  %-4s %-16s %8s %10s  %s\n", "PART", "BLOCK", "ROWS", "MIB",
	    "HOSTS");
	json_array_foreach(json_object_get(t, "parts"), i, p) {
		rows = (size_t)json_integer_value(json_object_get(p, "rows"));
		brows = (size_t)json_integer_value(json_object_get(p,
		    "block_rows"));
		blocks = json_object_get(p, "blocks");
		for (b = 0; b < json_array_size(blocks); b++) {
			k = rows - b * brows < brows ? rows - b * brows : brows;
			data_hosts_of(holders, json_string_value(
			    json_array_get(blocks, b)), hosts, sizeof hosts);
			printf("  %-4zu %.16s %8zu %10.2f  %s\n", i,
			    json_string_value(json_array_get(blocks, b)), k,
			    (double)datacache_block_size(k, in, out) /
			    DATA_MIB, hosts);
		}
	}
}

static int
data_show(struct data_ctx *c, char **argv)
{
	json_t *m = NULL, *holders = NULL, *sets = NULL, *s, *mine = NULL;
	const char *name = argv[0];
	char use[32], when[32];
	time_t created;
	size_t i;
	int rc;

	if ((rc = data_find(c, name, &m, &holders)) != 0)
		return rc;
	/* Whether it is in use, and complete, come from the list. */
	if ((sets = data_sets(c)) == NULL) {
		rc = data_error(EXIT_FAILED, "%s", c->cause);
		goto out;
	}
	json_array_foreach(sets, i, s)
		if (strcmp(json_string_value(json_object_get(s, "name")) !=
		    NULL ? json_string_value(json_object_get(s, "name")) : "",
		    name) == 0)
			mine = s;
	if (c->json) {
		json_t *o = json_pack("{s:O, s:O, s:O}", "manifest", m,
		    "holders", holders, "set", mine != NULL ? mine :
		    json_null());
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

		printf("%s\n", text != NULL ? text : "{}");
		free(text);
		json_decref(o);
		goto out;
	}
	datacache_in_use_text(json_object_get(mine, "in_use"), use, sizeof use);
	created = (time_t)json_integer_value(json_object_get(m, "created"));
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S",
	    localtime(&created));
	printf("data set %s\n  key       %s\n  created   %s\n  size      "
	    "%.2f MiB\n  replicas  %lld\n  complete  %s\n  in use    %s\n"
	    "  rows of   %lld inputs, %lld outputs (%s%s)\n  norm      %s\n",
	    name, json_string_value(json_object_get(m, "key")), when,
	    (double)json_integer_value(json_object_get(m, "bytes")) / DATA_MIB,
	    json_integer_value(json_object_get(m, "replicas")),
	    mine != NULL && json_is_false(json_object_get(mine, "complete")) ?
	    "no" : "yes", use, json_integer_value(json_object_get(m, "in")),
	    json_integer_value(json_object_get(m, "out")),
	    json_string_value(json_object_get(m, "task")),
	    json_object_get(m, "classes") != NULL ? ", named classes" : "",
	    json_string_value(json_object_get(json_object_get(m, "norm"),
	    "kind")));
	data_show_table(m, holders, "train");
	data_show_table(m, holders, "test");
out:
	json_decref(sets);
	json_decref(m);
	json_decref(holders);
	return rc;
}

static int
data_get(struct data_ctx *c, char **argv)
{
	struct nn_data *d = NULL;
	json_t *m = NULL;
	const char *table = c->table != NULL ? c->table : "train";
	int rc;

	if (c->output == NULL)
		return cmd_usage_error(&cmd_data_entry, "get: missing -o FILE");
	if (strcmp(table, "train") != 0 && strcmp(table, "test") != 0)
		return cmd_usage_error(&cmd_data_entry, "--table: \"%s\" "
		    "(expected train or test)", table);
	/* Before asking the cluster for the rows. */
	if (nn_output_check(c->output, c->force, &c->cause) != 0)
		return data_error(EXIT_USAGE, "%s", c->cause);
	if ((rc = data_find(c, argv[0], &m, NULL)) != 0)
		return rc;
	if (datacache_get(c->cl, m, table, &d, &c->cause) != 0 ||
	    nn_save_fann(c->output, d, &c->cause) != 0) {
		rc = data_error(EXIT_FAILED, "%s", c->cause);
		goto out;
	}
	printf("data set %s: table %s, %zu rows written to %s\n", argv[0],
	    table, d->n, c->output);
out:
	nn_data_free(d);
	json_decref(m);
	return rc;
}

static int
data_rm(struct data_ctx *c, char **argv)
{
	json_t *m = NULL, *req, *rep;
	int rc;

	if ((rc = data_find(c, argv[0], &m, NULL)) != 0)
		return rc;
	json_decref(m);
	req = json_pack("{s:s, s:s}", "op", "data-rm", "name", argv[0]);
	rep = client_request(c->cl, req, &c->cause);
	json_decref(req);
	if (rep == NULL || client_reply_ok(rep, "data-rm", &c->cause) != 0) {
		json_decref(rep);
		return data_error(EXIT_FAILED, "%s", c->cause);
	}
	json_decref(rep);
	printf("data set %s: removed\n", argv[0]);
	return 0;
}

static const struct data_cmd data_cmds[] = {
	{ "put", "NET.JSON|FILE", 1,
	    DATA_OPT_NAME | DATA_OPT_REPLICAS | DATA_OPT_REPLACE, data_put },
	{ "ls", "", 0, DATA_OPT_JSON, data_ls },
	{ "show", "NAME", 1, DATA_OPT_JSON, data_show },
	{ "get", "NAME", 1, DATA_OPT_OUTPUT | DATA_OPT_TABLE |
	    DATA_OPT_FORCE, data_get },
	{ "rm", "NAME", 1, 0, data_rm },
};

/* The option's name for errors, by its DATA_OPT_ bit. */
static const char *
data_opt_name(unsigned bit)
{
	switch (bit) {
	case DATA_OPT_NAME:
		return "--name";
	case DATA_OPT_REPLICAS:
		return "--replicas";
	case DATA_OPT_REPLACE:
		return "--replace";
	case DATA_OPT_OUTPUT:
		return "-o";
	case DATA_OPT_TABLE:
		return "--table";
	case DATA_OPT_FORCE:
		return "--force";
	default:
		return "--json";
	}
}

/* Parses the options: -1 to go on, else the exit status. */
static int
data_options(const struct cmd_entry *self, int argc, char **argv,
    struct data_ctx *c)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'C' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "replace", no_argument, NULL, 'R' },
		{ "output", required_argument, NULL, 'o' },
		{ "table", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, rc, threads = 0;

	optind = 1;
	while ((ch = cmd_getopt(self, argc, argv, ":o:fh", longopts, &threads,
	    &rc)) != -1) {
		switch (ch) {
		case 'C':
			c->connect_to = optarg;
			break;
		case 'H':
			c->hosts_path = optarg;
			break;
		case 'k':
			c->keyfile = optarg;
			break;
		case 'n':
			c->name = optarg;
			c->given |= DATA_OPT_NAME;
			break;
		case 'r':
			if (cmd_parse_int(self, "--replicas", optarg, 1,
			    DATACACHE_REPLICAS_MAX, &c->replicas) != 0)
				return EXIT_USAGE;
			c->given |= DATA_OPT_REPLICAS;
			break;
		case 'R':
			c->replace = 1;
			c->given |= DATA_OPT_REPLACE;
			break;
		case 'o':
			c->output = optarg;
			c->given |= DATA_OPT_OUTPUT;
			break;
		case 'T':
			c->table = optarg;
			c->given |= DATA_OPT_TABLE;
			break;
		case 'j':
			c->json = 1;
			c->given |= DATA_OPT_JSON;
			break;
		case 'f':
			c->force = 1;
			c->given |= DATA_OPT_FORCE;
			break;
		case CMD_OPT_EXIT:
			return rc;
		}
	}
	if (c->connect_to != NULL && c->hosts_path != NULL)
		return cmd_usage_error(self, "give --connect or --hosts, not "
		    "both");
	return -1;
}

static int
cmd_data_exec(const struct cmd_entry *self, int argc, char **argv)
{
	const struct data_cmd *k;
	struct data_ctx c;
	unsigned bit;
	int rc, nargs;

	memset(&c, 0, sizeof c);
	c.replicas = DATACACHE_REPLICAS;
	if ((rc = data_options(self, argc, argv, &c)) != -1)
		return rc;
	if (optind >= argc)
		return cmd_usage_error(self, "missing a command (put, ls, "
		    "show, get or rm)");
	if ((k = TABLE_FIND(data_cmds, argv[optind])) == NULL)
		return cmd_usage_error(self, "unknown command \"%s\" (expected "
		    "put, ls, show, get or rm)", argv[optind]);
	nargs = argc - optind - 1;
	if (nargs != k->nargs)
		return cmd_usage_error(self, "%s: expected %s, got %d "
		    "argument%s", k->name, k->nargs > 0 ? k->args :
		    "no arguments", nargs, nargs == 1 ? "" : "s");
	for (bit = 1; bit <= DATA_OPT_FORCE; bit <<= 1)
		if ((c.given & bit) != 0 && (k->opts & bit) == 0)
			return cmd_usage_error(self, "%s: %s is not one of its "
			    "options", k->name, data_opt_name(bit));
	rc = k->fn(&c, argv + optind + 1);
	client_free(c.cl);
	free(c.cause);
	return rc;
}
