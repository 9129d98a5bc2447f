/*
 * FANN's .data text format: a header line "PAIRS INPUTS OUTPUTS", then for
 * each pair a line of inputs and a line of outputs. FANN itself reads the
 * values as one stream of whitespace-separated tokens, so a pair may wrap
 * across lines; only the count has to match the header.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/loader.h"

/* Next whitespace-separated token of *p, NUL-terminated; NULL at the end. */
static char *
fann_token(char **p)
{
	char *s = *p, *t;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return NULL;
	t = s;
	while (*s != '\0' && !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return t;
}

/* Reads the header into pairs, inputs and outputs and checks the limits. */
static int
fann_header(struct nn_lines *lr, long long v[3], char **cause)
{
	char *line, *copy = NULL, *p, *tok;
	size_t len;
	int n = 0, rc = -1, nr;

	do {
		if ((nr = nn_lines_next(lr, &line, &len, cause)) < 0)
			return -1;
		if (nr == 0)
			return nn_fail(cause, "%s: empty file", lr->path);
		for (p = line; isspace((unsigned char)*p); p++)
			;
	} while (*p == '\0');

	copy = xstrdup(line);
	for (p = line; (tok = fann_token(&p)) != NULL; n++) {
		if (n == 3 || nn_parse_long(tok, &v[n]) != 0 || v[n] <= 0)
			break;
	}
	if (n != 3 || tok != NULL) {
		nn_fail(cause, "%s:%ld: bad header \"%.64s\" (expected PAIRS "
		    "INPUTS OUTPUTS)", lr->path, lr->lineno, copy);
		goto out;
	}
	if ((unsigned long long)v[0] > NN_MAX_ROWS) {
		nn_fail(cause, "%s:%ld: %lld pairs (limit %zu)", lr->path,
		    lr->lineno, v[0], NN_MAX_ROWS);
		goto out;
	}
	if (v[1] > NN_MAX_COLUMNS || v[2] > NN_MAX_COLUMNS) {
		nn_fail(cause, "%s:%ld: %lld inputs and %lld outputs (limit %d "
		    "each)", lr->path, lr->lineno, v[1], v[2], NN_MAX_COLUMNS);
		goto out;
	}
	if ((size_t)v[0] * (size_t)(v[1] > v[2] ? v[1] : v[2]) >
	    NN_MAX_CELLS) {
		nn_fail(cause, "%s:%ld: %lld pairs of %lld inputs and %lld "
		    "outputs is too much data (limit %zu values)", lr->path,
		    lr->lineno, v[0], v[1], v[2], NN_MAX_CELLS);
		goto out;
	}
	rc = 0;

out:
	free(copy);
	return rc;
}

/*
 * Reads a FANN .data file into a new *dp (caller frees) and detects its
 * task. Fails on a bad header, a token that is not a number, or a value
 * count that differs from the header's.
 */
int
nn_load_fann(const char *path, struct nn_data **dp, char **cause)
{
	struct nn_lines lr;
	struct nn_data *d;
	long long h[3];
	float *x = NULL, *y = NULL, v;
	size_t pairs, row = 0, xcap = 0, ycap = 0, len;
	char *line, *p, *tok;
	int in, out, col = 0, rc = -1, nr;

	*dp = NULL;
	if (nn_lines_open(&lr, path, cause) != 0)
		return -1;
	if (fann_header(&lr, h, cause) != 0)
		goto out;
	pairs = (size_t)h[0];
	in = (int)h[1];
	out = (int)h[2];

	while ((nr = nn_lines_next(&lr, &line, &len, cause)) == 1) {
		p = line;
		while ((tok = fann_token(&p)) != NULL) {
			if (row == pairs) {
				nn_fail(cause, "%s:%ld: more values than the "
				    "%zu pairs the header announces", path,
				    lr.lineno, pairs);
				goto out;
			}
			if (nn_parse_float(tok, &v) != 0) {
				nn_fail(cause, "%s:%ld: \"%.64s\"%s is not a "
				    "number", path, lr.lineno, tok,
				    strlen(tok) > 64 ? "..." : "");
				goto out;
			}
			if (col == 0) {
				nn_grow(&x, &xcap, row + 1, (size_t)in *
				    sizeof *x);
				nn_grow(&y, &ycap, row + 1, (size_t)out *
				    sizeof *y);
			}
			if (col < in)
				x[row * (size_t)in + col] = v;
			else
				y[row * (size_t)out + (col - in)] = v;
			if (++col == in + out) {
				col = 0;
				row++;
			}
		}
	}
	if (nr < 0)
		goto out;
	if (row < pairs) {
		nn_fail(cause, "%s: truncated: the header says %zu pairs, "
		    "found %zu", path, pairs, row);
		goto out;
	}

	d = xcalloc(1, sizeof *d);
	d->n = pairs;
	d->in = in;
	d->out = out;
	d->x = xreallocarray(x, pairs, (size_t)in * sizeof *x);
	d->y = xreallocarray(y, pairs, (size_t)out * sizeof *y);
	x = y = NULL;
	nn_data_detect_task(d);
	*dp = d;
	rc = 0;

out:
	nn_lines_close(&lr);
	free(x);
	free(y);
	return rc;
}

/* One row of n values on a line, each with %.9g (exact for a float). */
static void
fann_write_row(FILE *f, const float *v, int n)
{
	int j;

	for (j = 0; j < n; j++)
		fprintf(f, "%s%.9g", j > 0 ? " " : "", (double)v[j]);
	fputc('\n', f);
}

int
nn_save_fann(const char *path, const struct nn_data *d, char **cause)
{
	FILE *f;
	size_t i;
	int failed;

	if (d->x == NULL || d->y == NULL)
		return nn_fail(cause, "%s: the data has no rows here", path);
	if ((f = fopen(path, "w")) == NULL)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	fprintf(f, "%zu %d %d\n", d->n, d->in, d->out);
	for (i = 0; i < d->n; i++) {
		fann_write_row(f, d->x + i * (size_t)d->in, d->in);
		fann_write_row(f, d->y + i * (size_t)d->out, d->out);
	}
	failed = ferror(f);
	if (fclose(f) != 0 || failed)
		return nn_fail(cause, "%s: write failed: %s", path,
		    strerror(errno != 0 ? errno : EIO));
	return 0;
}
