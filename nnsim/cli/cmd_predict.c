/* nnsim predict: a saved model's outputs for the rows of an input file. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cmd.h"
#include "cli/model_io.h"
#include "data/loader.h"
#include "nn/blas.h"
#include "nn/train.h"

/* Standard input is read whole first; this much at most. */
#define PREDICT_STDIN_MAX	((size_t)1 << 31)

static int	cmd_predict_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_predict_entry = {
	.name = "predict",
	.usage = "MODEL INPUT|- [-o FILE] [--force] [--threads N]",
	.summary = "write a model's outputs for each row of INPUT",
	.help =
	    "INPUT is a text file of any name, or - for standard input. Its\n"
	    "first line says what it is: three integers separated by blanks\n"
	    "(N INPUTS OUTPUTS) make it a FANN file, whose inputs are used;\n"
	    "otherwise it holds numbers separated by commas or whitespace,\n"
	    "one row per line, with either the model's number of inputs or\n"
	    "every column of its training CSV (the label or target columns\n"
	    "are then ignored). A first line that is not numeric is a header\n"
	    "and is skipped.\n\n"
	    "The output is CSV: for classification the predicted class and\n"
	    "the output of every class (p_CLASS), otherwise the outputs,\n"
	    "named as the training CSV's target columns (y0, y1, ... when\n"
	    "it had no header).\n\n"
	    "options:\n"
	    "  -o, --output FILE   write here instead of standard output\n"
	    "  -f, --force         overwrite FILE if it exists\n"
	    "  --threads N         BLAS threads (default: one per core)\n"
	    "  -h, --help          show this help\n",
	.exec = cmd_predict_exec,
};

/* Splits a line at commas and whitespace into at most max tokens. */
static int
split_cells(char *line, char **cells, int max)
{
	char *p = line, *start;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (n < max)
			cells[n] = start;
		n++;
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == ',')
			*p++ = '\0';
	}
	return n;
}

/*
 * Which columns of an n-column row are inputs: all of them, or the input
 * columns of the model's training CSV. Fills cols; -1 if n fits neither.
 */
static int
input_columns(const struct nn_source *layout, int n, int in, int *cols)
{
	int c, i, k = 0, skip;

	if (n == in) {
		for (c = 0; c < n; c++)
			cols[c] = c;
		return 0;
	}
	if (layout->format != NN_FORMAT_CSV)
		return -1;
	if (layout->ninputs > 0) {
		for (i = 0; i < layout->ninputs; i++)
			if (layout->inputs[i] >= n)
				return -1;
		memcpy(cols, layout->inputs, (size_t)in * sizeof *cols);
		return layout->ninputs == in ? 0 : -1;
	}
	if (n != in + (layout->label >= 0 ? 1 : 0) + layout->ntargets)
		return -1;
	for (c = 0; c < n; c++) {
		skip = c == layout->label;
		for (i = 0; i < layout->ntargets; i++)
			skip |= c == layout->targets[i];
		if (!skip)
			cols[k++] = c;
	}
	return 0;
}

/* Reads a text file of rows into a new n x in array. */
static float *
read_rows(const struct nn_model *m, const char *path, size_t *nrows,
    char **cause)
{
	struct nn_lines lines;
	struct nn_source layout;
	char *line, **cells = NULL;
	float *x = NULL;
	size_t len, n = 0, cap = 0;
	int in = nn_net_arch(m->net)->input, *cols = NULL, ncells, c, r;
	int maxcells = in + 64, ok = 0;

	memset(&layout, 0, sizeof layout);
	memset(&lines, 0, sizeof lines);
	if (model_io_csv_source(m, path, &layout, NULL) != 0)
		layout.format = NN_FORMAT_FANN;
	if (nn_lines_open(&lines, path, cause) != 0)
		goto out;
	cells = xcalloc((size_t)maxcells, sizeof *cells);
	cols = xcalloc((size_t)maxcells, sizeof *cols);
	while ((r = nn_lines_next(&lines, &line, &len, cause)) == 1) {
		ncells = split_cells(line, cells, maxcells);
		if (ncells == 0)
			continue;
		if (ncells > maxcells || input_columns(&layout, ncells, in,
		    cols) != 0) {
			nn_fail(cause, "%s:%ld: %d columns (expected %d "
			    "inputs, or the model's training CSV columns)",
			    path, lines.lineno, ncells, in);
			goto out;
		}
		nn_grow(&x, &cap, n + 1, (size_t)in * sizeof (float));
		for (c = 0; c < in; c++) {
			if (nn_parse_float(cells[cols[c]], &x[n * in + c]) !=
			    0)
				break;
		}
		if (c < in) {
			/* Only the first line may be a header. */
			if (lines.lineno == 1 && n == 0)
				continue;
			nn_fail(cause, "%s:%ld: column %d: \"%s\" is not a "
			    "number", path, lines.lineno, cols[c],
			    cells[cols[c]]);
			goto out;
		}
		n++;
	}
	if (r < 0)
		goto out;
	if (n == 0) {
		nn_fail(cause, "%s: no rows", path);
		goto out;
	}
	*nrows = n;
	ok = 1;
out:
	if (lines.f != NULL)
		nn_lines_close(&lines);
	nn_source_clear(&layout);
	free(cells);
	free(cols);
	if (!ok) {
		free(x);
		return NULL;
	}
	return x;
}

static void
write_header(FILE *f, const struct nn_model *m, int k)
{
	char **names;
	int j, nnames;

	if (m->task == NN_TASK_CLASSIFICATION && k > 1)
		fputs("class", f);
	names = model_io_output_names(m, &nnames);
	for (j = 0; j < k; j++) {
		if (j > 0 || (m->task == NN_TASK_CLASSIFICATION && k > 1))
			fputc(',', f);
		if (m->task == NN_TASK_CLASSIFICATION && k > 1 &&
		    m->classes != NULL)
			fprintf(f, "p_%s", m->classes[j]);
		else if (m->task == NN_TASK_CLASSIFICATION && k > 1)
			fprintf(f, "p_%d", j);
		else if (m->task == NN_TASK_REGRESSION && nnames == k)
			fputs(names[j], f);
		else
			fprintf(f, "y%d", j);
	}
	fputc('\n', f);
	free(names);
}

static void
write_row(FILE *f, const struct nn_model *m, const float *y, int k)
{
	int j, best = 0;

	if (m->task == NN_TASK_CLASSIFICATION && k > 1) {
		for (j = 1; j < k; j++)
			if (y[j] > y[best])
				best = j;
		if (m->classes != NULL)
			fprintf(f, "%s,", m->classes[best]);
		else
			fprintf(f, "%d,", best);
	}
	for (j = 0; j < k; j++)
		fprintf(f, "%s%.7g", j > 0 ? "," : "", y[j]);
	fputc('\n', f);
}

/*
 * Whether path is a FANN file: its first line that is not blank holds
 * three integers separated by blanks. 1, 0, or -1 with cause.
 */
static int
predict_is_fann(const char *path, char **cause)
{
	struct nn_lines lines;
	char *line, *cells[4];
	size_t len;
	long long v;
	int r, n, i, fann = 0;

	if (nn_lines_open(&lines, path, cause) != 0)
		return -1;
	while ((r = nn_lines_next(&lines, &line, &len, cause)) == 1) {
		if (strchr(line, ',') != NULL)
			break;
		if ((n = split_cells(line, cells, 4)) == 0)
			continue;
		fann = n == 3;
		for (i = 0; i < n && i < 3; i++)
			fann &= nn_parse_long(cells[i], &v) == 0 && v >= 0;
		break;
	}
	nn_lines_close(&lines);
	return r < 0 ? -1 : fann;
}

/*
 * Standard input read whole into a sealed memfd, which the loaders open by
 * its /proc path, twice if need be. The descriptor, or -1 with cause.
 */
static int
predict_stdin(char **path, char **cause)
{
	char *buf;
	size_t len;
	int fd;

	buf = nn_read_file("/dev/stdin", PREDICT_STDIN_MAX, &len, cause);
	if (buf == NULL)
		return -1;
	fd = nn_memfd_sealed("nnsim-predict-stdin", buf, len, cause);
	free(buf);
	if (fd != -1)
		*path = xasprintf("/proc/self/fd/%d", fd);
	return fd;
}

/* Names standard input rather than the memfd in a message. */
static void
predict_rename(char **cause, const char *path)
{
	size_t n = strlen(path);
	char *s;

	if (*cause == NULL || strncmp(*cause, path, n) != 0)
		return;
	s = xasprintf("standard input%s", *cause + n);
	free(*cause);
	*cause = s;
}

static int
cmd_predict_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nn_model *model = NULL;
	struct nn_data *d = NULL;
	struct nn_net *net = NULL;
	const char *output = NULL, *input;
	const float *y;
	char *cause = NULL, *stdin_path = NULL, *why = NULL;
	float *x = NULL;
	FILE *f = stdout;
	size_t n, i;
	int c, b, k, in, fann, stdin_fd = -1, threads = 0, force = 0;
	int rc = EXIT_USAGE;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":o:fh", longopts, &threads,
	    &rc)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case CMD_OPT_EXIT:
			goto out;
		}
	}
	if (cmd_check_args(self, argc - optind, 2, "MODEL and INPUT") != 0)
		goto out;
	input = argv[optind + 1];
	if (output != NULL && nn_output_check(output, force, &cause) != 0)
		goto fail;
	if ((model = nn_model_load(argv[optind], &cause)) == NULL)
		goto fail;
	in = nn_net_arch(model->net)->input;
	k = nn_arch_outputs(nn_net_arch(model->net));
	if (strcmp(input, "-") == 0) {
		if ((stdin_fd = predict_stdin(&stdin_path, &cause)) == -1)
			goto fail;
		input = stdin_path;
	}
	if ((fann = predict_is_fann(input, &cause)) == -1)
		goto fail;
	if (fann) {
		if (nn_load_fann(input, &d, &cause) != 0)
			goto fail;
		if (d->in != in) {
			nn_fail(&cause, "%s: %d inputs but the model takes %d",
			    input, d->in, in);
			goto fail;
		}
		x = d->x;
		n = d->n;
	} else if ((x = read_rows(model, input, &n, &cause)) == NULL)
		goto fail;
	nn_norm_apply_rows(&model->norm, x, n);
	if (nn_blas_init(threads, &cause) != 0) {
		rc = EXIT_FAILED;
		goto fail;
	}
	net = model_io_net(model, MODEL_IO_BATCH);
	/* Every output checked before the first is written: a model that
	 * gives no numbers leaves no half-written file. */
	for (i = 0; i < n; i += (size_t)b) {
		b = n - i < MODEL_IO_BATCH ? (int)(n - i) : MODEL_IO_BATCH;
		y = nn_net_forward(net, x + i * in, b);
		if (nn_outputs_finite(y, (size_t)b, k, i, &why) != 0) {
			nn_fail(&cause, "%s: %s: %s", argv[optind],
			    argv[optind + 1], why);
			rc = EXIT_FAILED;
			goto fail;
		}
	}
	if (output != NULL && (f = fopen(output, "w")) == NULL) {
		nn_fail(&cause, "%s: cannot open for writing: %s", output,
		    strerror(errno));
		goto fail;
	}
	write_header(f, model, k);
	for (i = 0; i < n; i += (size_t)b) {
		b = n - i < MODEL_IO_BATCH ? (int)(n - i) : MODEL_IO_BATCH;
		y = nn_net_forward(net, x + i * in, b);
		for (c = 0; c < b; c++)
			write_row(f, model, y + (size_t)c * k, k);
	}
	if (fflush(f) != 0 || ferror(f)) {
		nn_fail(&cause, "%s: write failed: %s", output != NULL ?
		    output : "standard output", strerror(errno));
		rc = EXIT_FAILED;
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (stdin_path != NULL)
		predict_rename(&cause, stdin_path);
	fprintf(stderr, "nnsim predict: %s\n", cause);
out:
	if (f != stdout && f != NULL && fclose(f) != 0 && rc == 0) {
		fprintf(stderr, "nnsim predict: %s: %s\n", output,
		    strerror(errno));
		rc = EXIT_FAILED;
	}
	if (d == NULL || x != d->x)
		free(x);
	nn_data_free(d);
	nn_net_free(net);
	nn_model_free(model);
	if (stdin_fd != -1)
		close(stdin_fd);
	free(stdin_path);
	free(cause);
	free(why);
	return rc;
}
