/*
 * Input normalisation: a per-input affine map x' = (x - shift) * scale,
 * fitted on the training data and stored in the model for prediction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/data.h"

const char nn_norm_names[] = "none, standard, minmax";

static const char *norm_names[] = {
	[NN_NORM_NONE] = "none",
	[NN_NORM_STANDARD] = "standard",
	[NN_NORM_MINMAX] = "minmax",
};

/* The name net.json uses for k; borrowed. */
const char *
nn_norm_name(enum nn_norm_kind k)
{
	if ((size_t)k >= sizeof norm_names / sizeof norm_names[0])
		return "unknown";
	return norm_names[k];
}

/* Looks a kind up by name; -1 when unknown. */
int
nn_norm_parse(const char *s, enum nn_norm_kind *k)
{
	size_t i;

	for (i = 0; i < sizeof norm_names / sizeof norm_names[0]; i++) {
		if (strcmp(s, norm_names[i]) == 0) {
			*k = (enum nn_norm_kind)i;
			return 0;
		}
	}
	return -1;
}

/*
 * Fits norm to d: standard uses the mean and the population standard
 * deviation, minmax the minimum and the range, both in double; a constant
 * input keeps scale 1. norm is overwritten, not freed first.
 */
void
nn_norm_fit(struct nn_norm *norm, enum nn_norm_kind kind,
    const struct nn_data *d)
{
	double *sum = NULL, *dev = NULL, diff;
	float *lo = NULL, *hi = NULL, v;
	const float *x;
	size_t i, in = (size_t)d->in;
	int j;

	norm->kind = kind;
	norm->in = d->in;
	norm->shift = xcalloc(in, sizeof *norm->shift);
	norm->scale = xreallocarray(NULL, in, sizeof *norm->scale);
	for (j = 0; j < d->in; j++)
		norm->scale[j] = 1.0f;
	if (kind == NN_NORM_NONE || d->n == 0)
		return;

	/* Row by row, so the pass reads memory in order. */
	lo = xreallocarray(NULL, in, sizeof *lo);
	hi = xreallocarray(NULL, in, sizeof *hi);
	sum = xcalloc(in, sizeof *sum);
	memcpy(lo, d->x, in * sizeof *lo);
	memcpy(hi, d->x, in * sizeof *hi);
	for (i = 0; i < d->n; i++) {
		x = d->x + i * in;
		for (j = 0; j < d->in; j++) {
			v = x[j];
			sum[j] += v;
			if (v < lo[j])
				lo[j] = v;
			if (v > hi[j])
				hi[j] = v;
		}
	}

	if (kind == NN_NORM_MINMAX) {
		for (j = 0; j < d->in; j++) {
			norm->shift[j] = lo[j];
			if (hi[j] > lo[j])
				norm->scale[j] = (float)(1.0 /
				    ((double)hi[j] - (double)lo[j]));
		}
		goto out;
	}

	/* Two passes: the mean first, then squared deviations from it. */
	for (j = 0; j < d->in; j++)
		sum[j] /= (double)d->n;
	dev = xcalloc(in, sizeof *dev);
	for (i = 0; i < d->n; i++) {
		x = d->x + i * in;
		for (j = 0; j < d->in; j++) {
			diff = x[j] - sum[j];
			dev[j] += diff * diff;
		}
	}
	for (j = 0; j < d->in; j++) {
		norm->shift[j] = (float)sum[j];
		/* Rounding leaves a constant input a tiny spread: keep 1. */
		if (hi[j] > lo[j] && dev[j] > 0.0)
			norm->scale[j] = (float)(1.0 /
			    sqrt(dev[j] / (double)d->n));
	}

out:
	free(dev);
	free(sum);
	free(lo);
	free(hi);
}

/* Normalises the inputs of d in place. */
void
nn_norm_apply(const struct nn_norm *norm, struct nn_data *d)
{
	if (norm->in != d->in && norm->kind != NN_NORM_NONE)
		fatal("normalisation for %d inputs applied to %d", norm->in,
		    d->in);
	nn_norm_apply_rows(norm, d->x, d->n);
}

/* Normalises n rows of norm->in inputs in place. */
void
nn_norm_apply_rows(const struct nn_norm *norm, float *x, size_t n)
{
	size_t i, in = (size_t)norm->in;
	int j;

	if (norm->kind == NN_NORM_NONE || norm->shift == NULL)
		return;
	for (i = 0; i < n; i++, x += in) {
		for (j = 0; j < norm->in; j++)
			x[j] = (x[j] - norm->shift[j]) * norm->scale[j];
	}
}

/* Frees the arrays and zeroes norm (kind none). */
void
nn_norm_clear(struct nn_norm *norm)
{
	free(norm->shift);
	free(norm->scale);
	memset(norm, 0, sizeof *norm);
}
