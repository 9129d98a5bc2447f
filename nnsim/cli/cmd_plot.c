/* nnsim plot: metrics files drawn as curves per epoch (PNG, SVG, PDF). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cmd.h"
#include "cli/plot.h"
#include "cli/plotdata.h"

#define PLOT_MAX_METRICS	16

static int	cmd_plot_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_plot_entry = {
	.name = "plot",
	.usage = "METRICS.JSONL... [-o FILE.png|FILE.svg|FILE.pdf] "
	    "[--metric LIST] [--width W] [--height H] [--title T] [--force]",
	.summary = "draw the loss and accuracy curves of metrics files",
	.help =
	    "Reads the --metrics files of nnsim train and nnsim submit and\n"
	    "draws one panel per metric, against the epoch: a curve per run\n"
	    "(a file of nnsim train or of a data job) or per session of a\n"
	    "sweep, with a legend, and a dashed marker where an agent moved,\n"
	    "a host went down, came up or joined, or a session or partition\n"
	    "was resumed, rebuilt or recovered. Prints one line saying what\n"
	    "it drew. See docs/plot.md.\n\n"
	    "options:\n"
	    "  -o FILE        the figure: .png, .svg or .pdf (default: the\n"
	    "                 first input's name with .png for its extension)\n"
	    "  --metric LIST  comma-separated metrics of the epoch lines\n"
	    "                 (default: those of loss, test_loss, accuracy,\n"
	    "                 test_accuracy the files have)\n"
	    "  --width W      width in pixels (PNG) or points, 200 to 10000\n"
	    "                 (default 800)\n"
	    "  --height H     height, the same (default 600)\n"
	    "  --title T      a title above the panels (default: none)\n"
	    "  -f, --force    overwrite FILE if it exists\n"
	    "  -h, --help     show this help\n",
	.exec = cmd_plot_exec,
};

/* The default figure's name: the first input's, extension .png (caller
 * frees). */
static char *
cmd_plot_default_path(const char *input)
{
	const char *slash = strrchr(input, '/'), *dot = strrchr(input, '.');

	if (dot == NULL || (slash != NULL && dot < slash) ||
	    dot == (slash != NULL ? slash + 1 : input))
		return xasprintf("%s.png", input);
	return xasprintf("%.*s.png", (int)(dot - input), input);
}

/*
 * Splits list (modified) into metrics, each one the files have: 0, or -1
 * after a usage error naming the first unknown one and those present.
 */
static int
cmd_plot_metrics(const struct cmd_entry *self, const struct plotdata *pd,
    char *list, const char **metrics, size_t *n)
{
	char *name, *next, *present;

	*n = 0;
	for (name = list; name != NULL; name = next) {
		if ((next = strchr(name, ',')) != NULL)
			*next++ = '\0';
		if (*name == '\0') {
			cmd_usage_error(self, "--metric: empty name in the list");
			return -1;
		}
		if (!plotdata_has_metric(pd, name)) {
			present = plotdata_metrics(pd);
			cmd_usage_error(self, "--metric: no \"%s\" in the epoch "
			    "lines (metrics present: %s)", name, present);
			free(present);
			return -1;
		}
		if (*n == PLOT_MAX_METRICS) {
			cmd_usage_error(self, "--metric: more than %d metrics",
			    PLOT_MAX_METRICS);
			return -1;
		}
		metrics[(*n)++] = name;
	}
	return 0;
}

/* The default panels: loss and accuracy, training then held-out. */
static void
cmd_plot_default_metrics(const struct plotdata *pd, const char **metrics,
    size_t *n)
{
	static const char *defaults[] = {
		"loss", "test_loss", "accuracy", "test_accuracy", NULL,
	};
	const char **d;

	*n = 0;
	for (d = defaults; *d != NULL; d++) {
		if (plotdata_has_metric(pd, *d))
			metrics[(*n)++] = *d;
	}
}

/* The line saying what was drawn: panels, runs by name, markers. */
static void
cmd_plot_summary(const struct plotdata *pd, const struct plot_opts *o)
{
	size_t k;

	printf("%s: %zu panel%s (", o->path, o->nmetrics, o->nmetrics > 1 ?
	    "s" : "");
	for (k = 0; k < o->nmetrics; k++)
		printf("%s%s", k > 0 ? ", " : "", o->metrics[k]);
	printf("), %zu run%s (", pd->nruns, pd->nruns > 1 ? "s" : "");
	for (k = 0; k < pd->nruns; k++)
		printf("%s%s", k > 0 ? "; " : "", pd->runs[k].label);
	printf("), %zu event marker%s, epochs 1 to %d\n", pd->nevents,
	    pd->nevents != 1 ? "s" : "", pd->max_epoch);
}

static int
cmd_plot_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "metric", required_argument, NULL, 'm' },
		{ "width", required_argument, NULL, 'W' },
		{ "height", required_argument, NULL, 'H' },
		{ "title", required_argument, NULL, 'T' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct plot_opts o = { .width = 800, .height = 600 };
	struct plotdata *pd = NULL;
	const char *metrics[PLOT_MAX_METRICS];
	char *cause = NULL, *path = NULL, *list = NULL;
	int c, i, force = 0, threads = 0, rc = EXIT_USAGE;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":o:fh", longopts, &threads,
	    &rc)) != -1) {
		switch (c) {
		case 'o':
			free(path);
			path = xstrdup(optarg);
			break;
		case 'm':
			free(list);
			list = xstrdup(optarg);
			break;
		case 'W':
			if (cmd_parse_int(self, "--width", optarg, 200, 10000,
			    &o.width) != 0)
				goto out;
			break;
		case 'H':
			if (cmd_parse_int(self, "--height", optarg, 200, 10000,
			    &o.height) != 0)
				goto out;
			break;
		case 'T':
			o.title = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case CMD_OPT_EXIT:
			goto out;
		}
	}
	if (optind >= argc) {
		cmd_usage_error(self, "missing METRICS.JSONL");
		goto out;
	}
	if (path == NULL)
		path = cmd_plot_default_path(argv[optind]);
	if (!plot_format_known(path)) {
		cmd_usage_error(self, "-o: \"%s\": unknown format (expected %s)",
		    path, plot_format_list());
		goto out;
	}
	/* Before any work: an existing figure is never replaced unasked. */
	if (nn_output_check(path, force, &cause) != 0)
		goto fail;
	pd = plotdata_new();
	for (i = optind; i < argc; i++) {
		if (plotdata_read(pd, argv[i], &cause) != 0)
			goto fail;
	}
	plotdata_finish(pd);
	if (list != NULL) {
		if (cmd_plot_metrics(self, pd, list, metrics, &o.nmetrics) != 0)
			goto out;
	} else
		cmd_plot_default_metrics(pd, metrics, &o.nmetrics);
	if (o.nmetrics == 0) {
		list = plotdata_metrics(pd);
		cause = xasprintf("%s: no loss or accuracy in the epoch lines "
		    "(metrics present: %s; choose with --metric)",
		    argv[optind], list);
		goto fail;
	}
	o.path = path;
	o.metrics = metrics;
	if (plot_render(pd, &o, &cause) != 0) {
		rc = EXIT_FAILED;
		goto fail;
	}
	cmd_plot_summary(pd, &o);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "nnsim plot: %s\n", cause);
out:
	plotdata_free(pd);
	free(path);
	free(list);
	free(cause);
	return rc;
}
