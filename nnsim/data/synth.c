/*
 * Synthetic classification sets, deterministic for a seed: xor corners,
 * spiral arms, Gaussian blobs and parity bit vectors. Targets are one-hot
 * with 0 and 1, and the classes have no names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "data/loader.h"

#define SYNTH_NOISE		0.1	/* xor jitter, spiral angle / 2 */
#define SYNTH_BLOB_SIGMA	1.0
#define SYNTH_BLOB_RANGE	5.0	/* centres uniform in [-5, 5]^d */
#define SYNTH_BLOB_GAP		4.0	/* wanted distance between centres */
#define SYNTH_BLOB_TRIES	64

const char nn_generator_names[] = "xor, spiral, blobs, parity";

static const char *synth_names[] = {
	[NN_GEN_XOR] = "xor",
	[NN_GEN_SPIRAL] = "spiral",
	[NN_GEN_BLOBS] = "blobs",
	[NN_GEN_PARITY] = "parity",
};

/*
 * Normal deviates by the ziggurat method (Marsaglia and Tsang) with 256
 * layers under exp(-x^2 / 2), laid out as in Rust's rand_distr: one 64-bit
 * draw gives the layer and the value for 99% of deviates, which keeps
 * 60000 x 784 blobs well under a second. The tables come from exp and log
 * once per set.
 */
#define ZIG_LAYERS	256
#define ZIG_R		3.6541528853610088	/* start of the tail */
#define ZIG_V		0.00492867323399	/* area of each layer */

struct synth_normal {
	struct nn_rng	*rng;
	double		 x[ZIG_LAYERS + 1];	/* layer edges, falling */
	double		 f[ZIG_LAYERS + 1];	/* exp(-x^2 / 2) there */
};

/* The name net.json uses for g; borrowed. */
const char *
nn_generator_name(enum nn_generator g)
{
	if ((size_t)g >= sizeof synth_names / sizeof synth_names[0])
		return "unknown";
	return synth_names[g];
}

/* Looks a generator up by name; -1 when unknown. */
int
nn_generator_parse(const char *s, enum nn_generator *g)
{
	size_t i;

	for (i = 0; i < sizeof synth_names / sizeof synth_names[0]; i++) {
		if (strcmp(s, synth_names[i]) == 0) {
			*g = (enum nn_generator)i;
			return 0;
		}
	}
	return -1;
}

/* Layer edges x[1] = R down to x[256] = 0, each layer of area V. */
static void
synth_normal_init(struct synth_normal *g, struct nn_rng *rng)
{
	double y;
	int i;

	g->rng = rng;
	g->x[0] = ZIG_V / exp(-0.5 * ZIG_R * ZIG_R);	/* base with tail */
	g->x[1] = ZIG_R;
	for (i = 2; i < ZIG_LAYERS; i++) {
		y = exp(-0.5 * g->x[i - 1] * g->x[i - 1]) + ZIG_V / g->x[i - 1];
		g->x[i] = y < 1.0 ? sqrt(-2.0 * log(y)) : 0.0;
	}
	g->x[ZIG_LAYERS] = 0.0;
	for (i = 0; i <= ZIG_LAYERS; i++)
		g->f[i] = exp(-0.5 * g->x[i] * g->x[i]);
}

/* A uniform double in (0, 1): log() needs it above 0. */
static double
synth_open01(struct nn_rng *rng)
{
	return ((double)(nn_rng_next(rng) >> 12) + 0.5) *
	    (1.0 / 4503599627370496.0);
}

/* One standard normal deviate. */
static double
synth_normal(struct synth_normal *g)
{
	uint64_t bits;
	double u, x, ax, tx, ty;
	int i;

	for (;;) {
		bits = nn_rng_next(g->rng);
		i = (int)(bits & 0xff);
		/* The top 53 bits, as a value in [-1, 1). */
		u = 2.0 * ((double)(bits >> 11) *
		    (1.0 / 9007199254740992.0)) - 1.0;
		x = u * g->x[i];
		ax = fabs(x);
		if (ax < g->x[i + 1])
			return x;	/* inside the layer's rectangle */
		if (i == 0) {
			/* The tail beyond R, by Marsaglia's method. */
			do {
				tx = log(synth_open01(g->rng)) / ZIG_R;
				ty = log(synth_open01(g->rng));
			} while (-2.0 * ty < tx * tx);
			return u < 0.0 ? tx - ZIG_R : ZIG_R - tx;
		}
		if (g->f[i + 1] + (g->f[i] - g->f[i + 1]) *
		    nn_rng_double(g->rng) < exp(-0.5 * x * x))
			return x;
	}
}

/* Corners of [-1, 1]^d with Gaussian jitter; the class is the parity. */
static void
synth_xor(struct nn_data *d, struct synth_normal *g, double noise)
{
	float *x;
	uint64_t bits = 0;
	size_t i;
	int j, ones;

	for (i = 0; i < d->n; i++) {
		x = d->x + i * (size_t)d->in;
		ones = 0;
		for (j = 0; j < d->in; j++) {
			if (j % 64 == 0)
				bits = nn_rng_next(g->rng);
			if (bits & 1) {
				x[j] = 1.0f;
				ones++;
			} else
				x[j] = -1.0f;
			bits >>= 1;
			if (noise > 0.0)
				x[j] += (float)(noise * synth_normal(g));
		}
		d->y[i * 2 + (ones & 1)] = 1.0f;
	}
}

/*
 * Row i lies on arm k = i mod K at radius r in (0, 1] and angle
 * 2 pi k / K + 4 r, as in CS231n's example but with the arms evenly
 * spaced. The angle gets Gaussian noise of 2 x noise, so the default 0.1
 * gives CS231n's 0.2 radians: arms stay apart at every radius and a net
 * with two hidden layers separates them.
 */
static void
synth_spiral(struct nn_data *d, struct synth_normal *g, double noise)
{
	size_t i, j, m, k, arms = (size_t)d->out;
	double r, t;

	for (i = 0; i < d->n; i++) {
		k = i % arms;
		j = i / arms;
		m = (d->n - k + arms - 1) / arms;
		r = (double)(j + 1) / (double)m;
		t = 2.0 * M_PI * (double)k / (double)arms + 4.0 * r;
		if (noise > 0.0)
			t += 2.0 * noise * synth_normal(g);
		d->x[i * 2] = (float)(r * sin(t));
		d->x[i * 2 + 1] = (float)(r * cos(t));
		d->y[i * arms + k] = 1.0f;
	}
}

/*
 * K clusters of standard deviation sigma around centres drawn uniform in
 * [-5, 5]^d. Each centre is the first of up to 64 draws that lies at
 * least 4 from the earlier ones (else the farthest draw), so clusters
 * overlap little. Row i belongs to cluster i mod K: every prefix is
 * balanced. Values are written straight into d, with no copy.
 */
static void
synth_blobs(struct nn_data *d, struct synth_normal *g, double sigma)
{
	size_t i, kk, arms = (size_t)d->out, in = (size_t)d->in;
	double *c, *cand, dist, best, gap, diff;
	float *x;
	const double *ck;
	int k, t, j;

	c = xreallocarray(NULL, arms * in, sizeof *c);
	cand = xreallocarray(NULL, in, sizeof *cand);
	for (k = 0; k < d->out; k++) {
		best = -1.0;
		for (t = 0; t < SYNTH_BLOB_TRIES; t++) {
			for (i = 0; i < in; i++) {
				cand[i] = SYNTH_BLOB_RANGE *
				    (2.0 * nn_rng_double(g->rng) - 1.0);
			}
			gap = INFINITY;
			for (kk = 0; kk < (size_t)k; kk++) {
				dist = 0.0;
				for (i = 0; i < in; i++) {
					diff = cand[i] - c[kk * in + i];
					dist += diff * diff;
				}
				if (dist < gap)
					gap = dist;
			}
			if (gap > best) {
				best = gap;
				memcpy(c + (size_t)k * in, cand,
				    in * sizeof *cand);
			}
			if (best >= SYNTH_BLOB_GAP * SYNTH_BLOB_GAP)
				break;
		}
	}
	for (i = 0; i < d->n; i++) {
		k = (int)(i % arms);
		ck = c + (size_t)k * in;
		x = d->x + i * in;
		for (j = 0; j < d->in; j++)
			x[j] = (float)(ck[j] + sigma * synth_normal(g));
		d->y[i * arms + (size_t)k] = 1.0f;
	}
	free(cand);
	free(c);
}

/*
 * Bit vectors with parity labels: all 2^d in counting order when n is
 * 2^d, else n random ones.
 */
static void
synth_parity(struct nn_data *d, struct synth_normal *g)
{
	float *x;
	uint64_t bits = 0;
	size_t i;
	int j, ones, all;

	all = d->in < 63 && d->n == (size_t)1 << d->in;
	for (i = 0; i < d->n; i++) {
		x = d->x + i * (size_t)d->in;
		ones = 0;
		for (j = 0; j < d->in; j++) {
			if (all)
				bits = i >> (d->in - 1 - j);
			else if (j % 64 == 0)
				bits = nn_rng_next(g->rng);
			x[j] = (float)(bits & 1);
			ones += (int)(bits & 1);
			if (!all)
				bits >>= 1;
		}
		d->y[i * 2 + (ones & 1)] = 1.0f;
	}
}

/*
 * Generates src's set into a new *dp (caller frees). An inputs or classes
 * of 0 means the generator's default (2 inputs, 8 for parity; 3 classes
 * for spiral and blobs); a negative noise means the default, 0.1 for xor
 * and spiral and standard deviation 1 for blobs.
 */
int
nn_generate(const struct nn_source *src, struct nn_data **dp, char **cause)
{
	const char *what = src->jpath != NULL ? src->jpath : "generate";
	const char *name = nn_generator_name(src->gen);
	struct nn_rng rng;
	struct synth_normal g;
	struct nn_data *d;
	int in = src->gen_inputs, classes = src->gen_classes;
	double noise = src->gen_noise;

	*dp = NULL;
	if (in == 0)
		in = src->gen == NN_GEN_PARITY ? 8 : 2;
	if (classes == 0) {
		classes = src->gen == NN_GEN_SPIRAL ||
		    src->gen == NN_GEN_BLOBS ? 3 : 2;
	}
	if (noise < 0.0) {
		noise = src->gen == NN_GEN_BLOBS ? SYNTH_BLOB_SIGMA :
		    SYNTH_NOISE;
	}

	if (src->gen_n <= 0 || (unsigned long)src->gen_n > NN_MAX_ROWS) {
		return nn_fail(cause, "%s: n %ld (expected 1 to %zu)", what,
		    src->gen_n, NN_MAX_ROWS);
	}
	if (in < 0 || in > NN_MAX_COLUMNS) {
		return nn_fail(cause, "%s: inputs %d (expected 1 to %d)", what,
		    in, NN_MAX_COLUMNS);
	}
	if (classes < 2 || classes > NN_MAX_CLASSES) {
		return nn_fail(cause, "%s: classes %d (expected 2 to %d)", what,
		    classes, NN_MAX_CLASSES);
	}
	if ((size_t)src->gen_n * (size_t)in > NN_MAX_CELLS ||
	    (size_t)src->gen_n * (size_t)classes > NN_MAX_CELLS) {
		return nn_fail(cause, "%s: %ld rows of %d inputs and %d "
		    "classes is too much data (limit %zu values)", what,
		    src->gen_n, in, classes, NN_MAX_CELLS);
	}
	if ((src->gen == NN_GEN_XOR || src->gen == NN_GEN_PARITY) &&
	    classes != 2) {
		return nn_fail(cause, "%s: %s has 2 classes, not %d", what,
		    name, classes);
	}
	if (src->gen == NN_GEN_SPIRAL && in != 2) {
		return nn_fail(cause, "%s: spiral is 2-D (inputs %d, expected "
		    "2)", what, in);
	}
	if (!isfinite(noise) || noise > 1e6) {
		return nn_fail(cause, "%s: noise %g (expected 0 to 1e6)", what,
		    noise);
	}

	nn_rng_seed(&rng, src->gen_seed);
	synth_normal_init(&g, &rng);
	d = nn_data_new((size_t)src->gen_n, in, classes);
	switch (src->gen) {
	case NN_GEN_XOR:
		synth_xor(d, &g, noise);
		break;
	case NN_GEN_SPIRAL:
		synth_spiral(d, &g, noise);
		break;
	case NN_GEN_BLOBS:
		synth_blobs(d, &g, noise);
		break;
	case NN_GEN_PARITY:
		synth_parity(d, &g);
		break;
	default:
		nn_data_free(d);
		return nn_fail(cause, "%s: unknown generator %d", what,
		    (int)src->gen);
	}
	d->task = NN_TASK_CLASSIFICATION;
	d->lo = 0.0f;
	d->hi = 1.0f;
	d->nclasses = classes;
	*dp = d;
	return 0;
}
