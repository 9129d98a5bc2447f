/*
 * Data sets in memory: task detection, splitting, sources, generators and
 * normalisation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/data.h"
#include "unit.h"

static struct nn_source
gen_source(enum nn_generator g, long n, int in, int classes, uint64_t seed)
{
	struct nn_source s;

	memset(&s, 0, sizeof s);
	s.jpath = "data.train";
	s.format = NN_FORMAT_GENERATE;
	s.label = -1;
	s.row_lo = s.row_hi = -1;
	s.gen = g;
	s.gen_n = n;
	s.gen_inputs = in;
	s.gen_classes = classes;
	s.gen_seed = seed;
	s.gen_noise = -1;
	return s;
}

/* The class of row i of a one-hot set, or -1 when the row is not one-hot. */
static int
class_of(const struct nn_data *d, size_t i)
{
	int j, k = -1;

	for (j = 0; j < d->out; j++) {
		if (d->y[i * d->out + j] == 1.0f) {
			if (k >= 0)
				return -1;
			k = j;
		} else if (d->y[i * d->out + j] != 0.0f)
			return -1;
	}
	return k;
}

static void
test_new_free(void)
{
	struct nn_data *d;
	size_t i;

	nn_data_free(NULL);
	d = nn_data_new(5, 3, 2);
	CHECK(d->n == 5 && d->in == 3 && d->out == 2);
	for (i = 0; i < 15; i++)
		CHECK(d->x[i] == 0.0f);
	for (i = 0; i < 10; i++)
		CHECK(d->y[i] == 0.0f);
	CHECK(d->task == NN_TASK_REGRESSION && d->classes == NULL);
end:
	nn_data_free(d);
}

static void
test_detect_task(void)
{
	struct nn_data *d = nn_data_new(3, 1, 3);
	float onehot[] = { -1, 1, -1,  1, -1, -1,  -1, -1, 1 };

	memcpy(d->y, onehot, sizeof onehot);
	nn_data_detect_task(d);
	CHECK(d->task == NN_TASK_CLASSIFICATION);
	CHECK(d->lo == -1.0f && d->hi == 1.0f && d->nclasses == 3);

	/* Two values, but a row with two highs: not one class per row. */
	d->y[0] = 1;
	nn_data_detect_task(d);
	CHECK(d->task == NN_TASK_REGRESSION && d->nclasses == 0);

	/* A third value. */
	memcpy(d->y, onehot, sizeof onehot);
	d->y[4] = 0.5f;
	nn_data_detect_task(d);
	CHECK(d->task == NN_TASK_REGRESSION);

	/* One output with two values: two classes. */
	d->out = 1;
	d->y[0] = 0.1f;
	d->y[1] = 0.9f;
	d->y[2] = 0.1f;
	nn_data_detect_task(d);
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->nclasses == 2);
	CHECK(d->lo == 0.1f && d->hi == 0.9f);

	/* A single value says nothing. */
	d->y[1] = 0.1f;
	nn_data_detect_task(d);
	CHECK(d->task == NN_TASK_REGRESSION);
end:
	nn_data_free(d);
}

/* A set of n rows whose inputs and targets hold the row number. */
static struct nn_data *
numbered(size_t n)
{
	struct nn_data *d = nn_data_new(n, 2, 1);
	size_t i;

	for (i = 0; i < n; i++) {
		d->x[2 * i] = (float)i;
		d->x[2 * i + 1] = -(float)i;
		d->y[i] = (float)i;
	}
	return d;
}

static void
test_split(void)
{
	struct nn_data *d = NULL, *t = NULL, *d2 = NULL, *t2 = NULL;
	char *cause = NULL, *names[] = { "a", "b" };
	unsigned char seen[100];
	size_t i;
	int differs = 0;

	d = numbered(100);
	d->task = NN_TASK_CLASSIFICATION;
	d->nclasses = 2;
	d->classes = xcalloc(2, sizeof *d->classes);
	d->classes[0] = xstrdup(names[0]);
	d->classes[1] = xstrdup(names[1]);
	t = nn_data_split(d, 0.25, 7, &cause);
	CHECKF(t != NULL, "%s", cause);
	CHECK(t->n == 25 && d->n == 75);
	CHECK(t->task == NN_TASK_CLASSIFICATION && t->nclasses == 2);
	CHECK(t->classes != NULL && strcmp(t->classes[1], "b") == 0);
	CHECK(t->classes[1] != d->classes[1]);

	/* Every row lands once, rows stay whole and in file order. */
	memset(seen, 0, sizeof seen);
	for (i = 0; i < d->n; i++) {
		CHECK(d->x[2 * i + 1] == -d->x[2 * i]);
		CHECK(d->y[i] == d->x[2 * i]);
		CHECK(i == 0 || d->y[i] > d->y[i - 1]);
		seen[(size_t)d->y[i]]++;
	}
	for (i = 0; i < t->n; i++) {
		CHECK(t->x[2 * i + 1] == -t->x[2 * i]);
		CHECK(t->y[i] == t->x[2 * i]);
		CHECK(i == 0 || t->y[i] > t->y[i - 1]);
		seen[(size_t)t->y[i]]++;
	}
	for (i = 0; i < 100; i++)
		CHECK(seen[i] == 1);

	/* The same seed picks the same rows; another seed other rows. */
	d2 = numbered(100);
	t2 = nn_data_split(d2, 0.25, 7, &cause);
	CHECK(t2 != NULL && memcmp(t->y, t2->y, 25 * sizeof *t->y) == 0);
	nn_data_free(d2);
	nn_data_free(t2);
	d2 = numbered(100);
	t2 = nn_data_split(d2, 0.25, 8, &cause);
	CHECK(t2 != NULL);
	for (i = 0; i < 25; i++)
		differs |= t->y[i] != t2->y[i];
	CHECK(differs);

	nn_data_free(d2);
	nn_data_free(t2);
	d2 = numbered(10);
	t2 = NULL;
	CHECK(nn_data_split(d2, 0.01, 1, &cause) == NULL);
	CHECKF(cause != NULL && strstr(cause, "test set empty") != NULL,
	    "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(nn_data_split(d2, 0.99, 1, &cause) == NULL);
	CHECKF(cause != NULL && strstr(cause, "training set empty") != NULL,
	    "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(nn_data_split(d2, 1.5, 1, &cause) == NULL && cause != NULL);
	CHECK(d2->n == 10);
end:
	free(cause);
	nn_data_free(d);
	nn_data_free(t);
	nn_data_free(d2);
	nn_data_free(t2);
}

static void
test_source_copy(void)
{
	struct nn_source a, b;
	int targets[] = { 3, 4 }, inputs[] = { 0 };

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.jpath = xstrdup("data.train");
	a.path = xstrdup("/x/y.csv");
	a.targets = xcalloc(2, sizeof *a.targets);
	memcpy(a.targets, targets, sizeof targets);
	a.ntargets = 2;
	a.inputs = xcalloc(1, sizeof *a.inputs);
	memcpy(a.inputs, inputs, sizeof inputs);
	a.ninputs = 1;
	a.row_lo = 3;
	a.gen_seed = 99;
	nn_source_copy(&b, &a);
	CHECK(b.jpath != a.jpath && strcmp(b.jpath, "data.train") == 0);
	CHECK(b.path != a.path && strcmp(b.path, "/x/y.csv") == 0);
	CHECK(b.images == NULL && b.labels == NULL);
	CHECK(b.targets != a.targets && b.targets[1] == 4 && b.ntargets == 2);
	CHECK(b.inputs != a.inputs && b.inputs[0] == 0);
	CHECK(b.row_lo == 3 && b.gen_seed == 99);
	nn_source_clear(&a);
	CHECK(a.path == NULL && a.targets == NULL && a.ntargets == 0);
	CHECK(strcmp(b.path, "/x/y.csv") == 0);
end:
	nn_source_clear(&a);
	nn_source_clear(&b);
}

static void
test_names(void)
{
	enum nn_generator g;
	enum nn_norm_kind k;

	CHECK(strcmp(nn_generator_names, "xor, spiral, blobs, parity") == 0);
	CHECK(strcmp(nn_norm_names, "none, standard, minmax") == 0);
	CHECK(nn_generator_parse("spiral", &g) == 0 && g == NN_GEN_SPIRAL);
	CHECK(nn_generator_parse("parity", &g) == 0 && g == NN_GEN_PARITY);
	CHECK(nn_generator_parse("Spiral", &g) == -1);
	CHECK(strcmp(nn_generator_name(NN_GEN_BLOBS), "blobs") == 0);
	CHECK(strcmp(nn_generator_name(NN_GEN_XOR), "xor") == 0);
	CHECK(nn_norm_parse("minmax", &k) == 0 && k == NN_NORM_MINMAX);
	CHECK(nn_norm_parse("standard", &k) == 0 && k == NN_NORM_STANDARD);
	CHECK(nn_norm_parse("none", &k) == 0 && k == NN_NORM_NONE);
	CHECK(nn_norm_parse("zscore", &k) == -1);
	CHECK(strcmp(nn_norm_name(NN_NORM_STANDARD), "standard") == 0);
end:
	;
}

static void
test_norm(void)
{
	struct nn_data *d = nn_data_new(4, 3, 1);
	struct nn_norm n;
	float x[] = { 1, 5, -2,  2, 5, 0,  3, 5, 2,  4, 5, 100 };
	float row[3] = { 2.5f, 7, -2 };
	double mean, var;
	int i;

	memset(&n, 0, sizeof n);
	memcpy(d->x, x, sizeof x);
	nn_norm_fit(&n, NN_NORM_STANDARD, d);
	CHECK(n.kind == NN_NORM_STANDARD && n.in == 3);
	CHECK(n.shift[0] == 2.5f && n.shift[1] == 5.0f && n.shift[2] == 25.0f);
	CHECK(fabsf(n.scale[0] - (float)(1 / sqrt(1.25))) < 1e-7f);
	CHECK(n.scale[1] == 1.0f);	/* constant input */
	nn_norm_apply(&n, d);
	for (i = 0; i < 3; i += 2) {
		mean = (d->x[i] + d->x[3 + i] + d->x[6 + i] + d->x[9 + i]) / 4;
		var = (d->x[i] * d->x[i] + d->x[3 + i] * d->x[3 + i] +
		    d->x[6 + i] * d->x[6 + i] + d->x[9 + i] * d->x[9 + i]) / 4 -
		    mean * mean;
		CHECKF(fabs(mean) < 1e-6 && fabs(var - 1) < 1e-5,
		    "input %d: mean %g variance %g", i, mean, var);
	}
	CHECK(d->x[1] == 0.0f && d->x[10] == 0.0f);
	nn_norm_apply_rows(&n, row, 1);
	CHECK(row[0] == 0.0f && row[1] == 2.0f);
	nn_norm_clear(&n);
	CHECK(n.shift == NULL && n.kind == NN_NORM_NONE);

	memcpy(d->x, x, sizeof x);
	nn_norm_fit(&n, NN_NORM_MINMAX, d);
	CHECK(n.shift[0] == 1.0f && n.scale[0] == 1.0f / 3.0f);
	CHECK(n.shift[1] == 5.0f && n.scale[1] == 1.0f);
	CHECK(n.shift[2] == -2.0f && n.scale[2] == 1.0f / 102.0f);
	nn_norm_apply(&n, d);
	CHECK(d->x[0] == 0.0f && d->x[9] == 1.0f && d->x[11] == 1.0f);
	nn_norm_clear(&n);

	memcpy(d->x, x, sizeof x);
	nn_norm_fit(&n, NN_NORM_NONE, d);
	CHECK(n.shift[2] == 0.0f && n.scale[2] == 1.0f);
	nn_norm_apply(&n, d);
	CHECK(memcmp(d->x, x, sizeof x) == 0);
end:
	nn_norm_clear(&n);
	nn_data_free(d);
}

/* Generates s twice and checks both runs agree bit for bit. */
static struct nn_data *
generate_twice(const struct nn_source *s, char **cause)
{
	struct nn_data *a = NULL, *b = NULL;

	if (nn_generate(s, &a, cause) != 0)
		return NULL;
	if (nn_generate(s, &b, cause) != 0 || a->n != b->n ||
	    memcmp(a->x, b->x, a->n * a->in * sizeof *a->x) != 0 ||
	    memcmp(a->y, b->y, a->n * a->out * sizeof *a->y) != 0) {
		nn_data_free(a);
		a = NULL;
	}
	nn_data_free(b);
	return a;
}

static void
test_gen_xor(void)
{
	struct nn_data *d = NULL, *e = NULL;
	struct nn_source s;
	char *cause = NULL;
	size_t i;
	int j, pos, k;

	s = gen_source(NN_GEN_XOR, 200, 3, 2, 5);
	s.gen_noise = 0;
	CHECKF((d = generate_twice(&s, &cause)) != NULL, "%s", cause);
	CHECK(d->n == 200 && d->in == 3 && d->out == 2 && d->nclasses == 2);
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->classes == NULL);
	for (i = 0; i < d->n; i++) {
		pos = 0;
		for (j = 0; j < 3; j++) {
			CHECK(fabsf(d->x[i * 3 + j]) == 1.0f);
			pos += d->x[i * 3 + j] > 0;
		}
		CHECK((k = class_of(d, i)) == (pos & 1));
	}
	nn_data_free(d);
	d = NULL;

	/* Default jitter, and another seed gives other data. */
	s = gen_source(NN_GEN_XOR, 100, 0, 0, 5);
	CHECKF(nn_generate(&s, &d, &cause) == 0, "%s", cause);
	CHECK(d->in == 2 && d->x[0] != 1.0f && d->x[0] != -1.0f);
	CHECK(fabsf(fabsf(d->x[0]) - 1.0f) < 0.6f);
	s.gen_seed = 6;
	CHECKF(nn_generate(&s, &e, &cause) == 0, "%s", cause);
	CHECK(memcmp(d->x, e->x, 200 * sizeof *d->x) != 0);

	s.gen_classes = 3;
	nn_data_free(e);
	e = NULL;
	CHECK(nn_generate(&s, &e, &cause) != 0 && e == NULL);
	CHECKF(strstr(cause, "data.train: xor has 2 classes") != NULL, "%s",
	    cause);
end:
	free(cause);
	nn_data_free(d);
	nn_data_free(e);
}

static void
test_gen_spiral(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	size_t i, count[4] = { 0 };
	double r;
	int k;

	s = gen_source(NN_GEN_SPIRAL, 301, 2, 4, 1);
	CHECKF((d = generate_twice(&s, &cause)) != NULL, "%s", cause);
	CHECK(d->n == 301 && d->in == 2 && d->out == 4 && d->nclasses == 4);
	for (i = 0; i < d->n; i++) {
		CHECK((k = class_of(d, i)) >= 0);
		count[k]++;
		r = hypot(d->x[2 * i], d->x[2 * i + 1]);
		CHECK(r > 0.0 && r <= 1.0 + 1e-6);
	}
	CHECK(count[0] == 76 && count[3] == 75);
	nn_data_free(d);
	d = NULL;

	s.gen_inputs = 3;
	CHECK(nn_generate(&s, &d, &cause) != 0);
	CHECKF(strstr(cause, "spiral is 2-D") != NULL, "%s", cause);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_gen_blobs(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	double c[5][4], dist, best;
	size_t i, n[5] = { 0 }, right = 0;
	int j, k, b, want;

	s = gen_source(NN_GEN_BLOBS, 1000, 4, 5, 3);
	CHECKF((d = generate_twice(&s, &cause)) != NULL, "%s", cause);
	CHECK(d->n == 1000 && d->in == 4 && d->out == 5);

	/* The clusters are apart: nearest-centroid labels almost all rows. */
	memset(c, 0, sizeof c);
	for (i = 0; i < d->n; i++) {
		CHECK((k = class_of(d, i)) == (int)(i % 5));
		n[k]++;
		for (j = 0; j < 4; j++)
			c[k][j] += d->x[i * 4 + j];
	}
	for (k = 0; k < 5; k++) {
		CHECK(n[k] == 200);
		for (j = 0; j < 4; j++) {
			c[k][j] /= (double)n[k];
			CHECK(fabs(c[k][j]) < 5.5);
		}
	}
	for (i = 0; i < d->n; i++) {
		want = class_of(d, i);
		best = INFINITY;
		b = -1;
		for (k = 0; k < 5; k++) {
			dist = 0;
			for (j = 0; j < 4; j++)
				dist += pow(d->x[i * 4 + j] - c[k][j], 2);
			if (dist < best) {
				best = dist;
				b = k;
			}
		}
		right += b == want;
	}
	CHECKF(right >= 950, "%zu of 1000 nearest the centroid", right);
end:
	free(cause);
	nn_data_free(d);
}

/*
 * The blob noise is standard normal: moments, the share within one
 * standard deviation, and the ziggurat's tail beyond 3.654 all match.
 */
static void
test_gen_normal(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	double sum[2] = { 0 }, m2 = 0, m4 = 0, v, n = 0;
	size_t i, inside = 0, tail = 0;
	int k;

	s = gen_source(NN_GEN_BLOBS, 400000, 1, 2, 11);
	CHECKF(nn_generate(&s, &d, &cause) == 0, "%s", cause);
	for (i = 0; i < d->n; i++)
		sum[i % 2] += d->x[i];
	sum[0] /= d->n / 2;
	sum[1] /= d->n / 2;
	for (i = 0; i < d->n; i++) {
		k = class_of(d, i);
		CHECK(k == (int)(i % 2));
		v = d->x[i] - sum[k];
		m2 += v * v;
		m4 += v * v * v * v;
		inside += fabs(v) < 1.0;
		tail += fabs(v) > 3.6541528853610088;
		n++;
	}
	m2 /= n;
	m4 /= n;
	CHECKF(fabs(m2 - 1.0) < 0.01, "variance %g", m2);
	m4 /= m2 * m2;
	CHECKF(fabs(m4 - 3.0) < 0.05, "kurtosis %g", m4);
	CHECKF(fabs((double)inside / n - 0.682689) < 0.003, "%zu within 1",
	    inside);
	/* 2.58e-4 of 400000 is 103; allow for chance. */
	CHECKF(tail > 60 && tail < 150, "%zu beyond 3.654", tail);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_gen_parity(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	size_t i;
	float bit;
	int j, ones, v;

	s = gen_source(NN_GEN_PARITY, 32, 5, 2, 1);
	CHECKF((d = generate_twice(&s, &cause)) != NULL, "%s", cause);
	CHECK(d->n == 32 && d->in == 5 && d->out == 2);
	/* n = 2^d: every vector once, in counting order. */
	for (i = 0; i < 32; i++) {
		ones = 0;
		v = 0;
		for (j = 0; j < 5; j++) {
			bit = d->x[i * 5 + j];
			CHECK(bit == 0.0f || bit == 1.0f);
			ones += bit == 1.0f;
			v = v * 2 + (bit == 1.0f);
		}
		CHECK(v == (int)i);
		CHECK(class_of(d, i) == (ones & 1));
	}
	nn_data_free(d);
	d = NULL;

	s = gen_source(NN_GEN_PARITY, 50, 70, 0, 1);
	CHECKF((d = generate_twice(&s, &cause)) != NULL, "%s", cause);
	for (i = 0; i < d->n; i++) {
		ones = 0;
		for (j = 0; j < 70; j++)
			ones += d->x[i * 70 + j] == 1.0f;
		CHECK(class_of(d, i) == (ones & 1));
	}
end:
	free(cause);
	nn_data_free(d);
}

static void
test_gen_errors(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;

	s = gen_source(NN_GEN_BLOBS, 0, 2, 3, 1);
	CHECK(nn_generate(&s, &d, &cause) != 0 && d == NULL);
	CHECKF(strstr(cause, "data.train: n 0") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	s = gen_source(NN_GEN_BLOBS, 10, -2, 3, 1);
	CHECK(nn_generate(&s, &d, &cause) != 0);
	CHECKF(strstr(cause, "inputs -2") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	s = gen_source(NN_GEN_BLOBS, 10, 2, 1, 1);
	CHECK(nn_generate(&s, &d, &cause) != 0);
	CHECKF(strstr(cause, "classes 1") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	s = gen_source(NN_GEN_BLOBS, 2000000000, 1000, 3, 1);
	CHECK(nn_generate(&s, &d, &cause) != 0);
	CHECKF(strstr(cause, "too much data") != NULL, "%s", cause);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_gen_load(void)
{
	struct nn_data *tr = NULL, *te = NULL;
	struct nn_source a, b;
	char *cause = NULL;

	a = gen_source(NN_GEN_SPIRAL, 90, 2, 3, 1);
	b = gen_source(NN_GEN_SPIRAL, 30, 2, 3, 2);
	b.jpath = "data.test";
	CHECKF(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) == 0, "%s",
	    cause);
	CHECK(tr->n == 90 && te->n == 30 && te->nclasses == 3);
	nn_data_free(tr);
	nn_data_free(te);
	tr = te = NULL;

	/* A saved model with four classes cannot take three. */
	CHECK(nn_data_load(&a, NULL, NULL, 4, &tr, NULL, &cause) != 0);
	CHECKF(strstr(cause, "generates 3 classes but the model has 4") !=
	    NULL, "%s", cause);
end:
	free(cause);
	nn_data_free(tr);
	nn_data_free(te);
}

static const struct unit_test tests[] = {
	{ "new_free", test_new_free },
	{ "detect_task", test_detect_task },
	{ "split", test_split },
	{ "source_copy", test_source_copy },
	{ "names", test_names },
	{ "norm", test_norm },
	{ "gen_xor", test_gen_xor },
	{ "gen_spiral", test_gen_spiral },
	{ "gen_blobs", test_gen_blobs },
	{ "gen_normal", test_gen_normal },
	{ "gen_parity", test_gen_parity },
	{ "gen_errors", test_gen_errors },
	{ "gen_load", test_gen_load },
	{ NULL, NULL },
};

UNIT_MAIN("data", tests)
