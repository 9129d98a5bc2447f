/* nnsim: command dispatch, global help and shared command helpers. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/version.h"
#include "cli/cmd.h"
#include "nn/metrics.h"

#define NNSIM_VERSION AGENTD_VERSION

static const struct cmd_entry *cmd_table[] = {
	&cmd_train_entry,
	&cmd_submit_entry,
	&cmd_jobs_entry,
	&cmd_attach_entry,
	&cmd_console_entry,
	&cmd_data_entry,
	&cmd_eval_entry,
	&cmd_predict_entry,
	&cmd_plot_entry,
	&cmd_info_entry,
	&cmd_export_entry,
	NULL,
};

static void
usage(FILE *f)
{
	const struct cmd_entry **e;

	fprintf(f, "usage: nnsim COMMAND [ARGS]\n\n"
	    "Trains multilayer networks described in net.json.\n\n"
	    "commands:\n");
	for (e = cmd_table; *e != NULL; e++)
		fprintf(f, "  %-8s %s\n", (*e)->name, (*e)->summary);
	fprintf(f, "\nRun 'nnsim COMMAND --help' for a command's options.\n"
	    "Docs: docs/net-json.md (the network file), "
	    "docs/model-format.md (models),\n"
	    "docs/data-parallel.md (data jobs), docs/console.md (the "
	    "console).\n");
}

void
cmd_verror(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
cmd_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cmd_verror("nnsim: ", fmt, ap);
	va_end(ap);
}

void
cmd_fail(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nnsim %s: ", e->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nnsim %s: ", e->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (usage: nnsim %s %s)\n", e->name, e->usage);
	return EXIT_USAGE;
}

void
cmd_print_help(const struct cmd_entry *e)
{
	printf("usage: nnsim %s %s\n\n%s\n\n%s", e->name, e->usage,
	    e->summary, e->help);
}

int
cmd_parse_int(const struct cmd_entry *e, const char *option,
    const char *value, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max) {
		cmd_usage_error(e, "%s: expected an integer from %d to %d, "
		    "got \"%s\"", option, min, max, value);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int
cmd_bad_option(const struct cmd_entry *e, int c, char **argv)
{
	if (c == ':')
		return cmd_usage_error(e, "option \"%s\" needs a value",
		    argv[optind - 1]);
	return cmd_usage_error(e, "unknown option \"%s\"", argv[optind - 1]);
}

int
cmd_common_option(const struct cmd_entry *e, int c, char **argv,
    int *threads)
{
	switch (c) {
	case 't':
		if (cmd_parse_int(e, "--threads", optarg, 1, 1024, threads) != 0)
			return EXIT_USAGE;
		return -1;
	case 'h':
		cmd_print_help(e);
		return 0;
	default:
		return cmd_bad_option(e, c, argv);
	}
}

int
cmd_getopt(const struct cmd_entry *e, int argc, char **argv,
    const char *shortopts, const struct option *longopts, int *threads,
    int *status)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, shortopts, longopts,
	    NULL)) != -1) {
		if (c != 't' && c != 'h' && c != '?' && c != ':')
			return c;
		if ((rc = cmd_common_option(e, c, argv, threads)) != -1) {
			*status = rc;
			return CMD_OPT_EXIT;
		}
	}
	return -1;
}

int
cmd_check_args(const struct cmd_entry *e, int have, int want,
    const char *names)
{
	if (have == want)
		return 0;
	if (want == 1 && have == 0)
		cmd_usage_error(e, "missing %s", names);
	else if (want == 1)
		cmd_usage_error(e, "expected one %s, got %d arguments", names,
		    have);
	else
		cmd_usage_error(e, "expected %s, got %d arguments", names,
		    have);
	return -1;
}

json_t *
cmd_model_figures(json_t *figures)
{
	json_t *kept = json_deep_copy(figures);

	json_object_del(kept, "samples_per_sec");
	json_object_del(kept, "elapsed_s");
	json_object_del(kept, "model");
	json_object_del(kept, "event");
	return kept;
}

int
cmd_metrics_done(struct nn_metrics **m, json_t *done, char **cause)
{
	int rc = 0;

	if (nn_metrics_write(*m, done, cause) != 0 ||
	    nn_metrics_close(*m, cause) != 0)
		rc = -1;
	*m = NULL;
	return rc;
}

int
main(int argc, char **argv)
{
	const struct cmd_entry **e;

	opterr = 0;	/* one line per error: ours */
	/* A daemon that dies under us is an error to report, not a signal
	 * to die of. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2) {
			for (e = cmd_table; *e != NULL; e++) {
				if (strcmp((*e)->name, argv[2]) == 0) {
					cmd_print_help(*e);
					return 0;
				}
			}
			cmd_error("unknown command \"%s\" (see nnsim --help)",
			    argv[2]);
			return EXIT_USAGE;
		}
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("nnsim %s\n", NNSIM_VERSION);
		return 0;
	}
	for (e = cmd_table; *e != NULL; e++) {
		if (strcmp((*e)->name, argv[1]) == 0)
			return (*e)->exec(*e, argc - 1, argv + 1);
	}
	{
		/* Every command, from the table: a list that cannot fall
		 * behind it. */
		char list[256] = "";
		size_t used = 0;

		for (e = cmd_table; *e != NULL && used < sizeof list; e++)
			used += (size_t)snprintf(list + used, sizeof list - used,
			    "%s%s", used > 0 ? ", " : "", (*e)->name);
		cmd_error("unknown command \"%s\" (expected one of %s; see "
		    "nnsim --help)", argv[1], list);
	}
	return EXIT_USAGE;
}
