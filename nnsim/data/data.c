/*
 * Data sets in memory, the sources net.json names, and nn_data_load, which
 * reads a training and a test source and gives them one class list.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "data/loader.h"

#define NN_LINES_CHUNK	(64 << 10)

/* One source as read, before the class list is known. */
struct nn_part {
	const struct nn_source	*src;
	const char		*what;		/* jpath, for messages */
	const char		*where;		/* file holding the labels */
	struct nn_data		*d;
	struct nn_labels	 labels;
};

/* A class name with its integer value when every name is an integer. */
struct nn_class {
	const char	*name;
	long long	 value;
	int		 index;		/* in the class list */
};

/* New data set with zeroed storage; caller frees with nn_data_free. */
struct nn_data *
nn_data_new(size_t n, int in, int out)
{
	struct nn_data *d;

	d = xcalloc(1, sizeof *d);
	d->n = n;
	d->in = in;
	d->out = out;
	d->x = xcalloc(n, (size_t)in * sizeof *d->x);
	d->y = xcalloc(n, (size_t)out * sizeof *d->y);
	d->task = NN_TASK_REGRESSION;
	d->lo = 0.0f;
	d->hi = 1.0f;
	return d;
}

/* Frees d, its arrays and class names; NULL is ignored. */
void
nn_data_free(struct nn_data *d)
{
	int i;

	if (d == NULL)
		return;
	if (d->classes != NULL) {
		for (i = 0; i < d->nclasses; i++)
			free(d->classes[i]);
		free(d->classes);
	}
	if (!d->borrowed) {
		free(d->x);
		free(d->y);
	}
	free(d->cache_set);
	free(d);
}

struct nn_data *
nn_data_cached(const char *set, const char *table, size_t n, int in, int out)
{
	struct nn_data *d = xcalloc(1, sizeof *d);

	d->n = n;
	d->in = in;
	d->out = out;
	d->borrowed = 1;
	d->cache_set = xstrdup(set);
	snprintf(d->cache_table, sizeof d->cache_table, "%s", table);
	return d;
}

struct nn_data *
nn_data_borrow(size_t n, int in, int out, float *x, float *y)
{
	struct nn_data *d = xcalloc(1, sizeof *d);

	d->n = n;
	d->in = in;
	d->out = out;
	d->x = x;
	d->y = y;
	d->borrowed = 1;
	d->task = NN_TASK_REGRESSION;
	d->lo = 0.0f;
	d->hi = 1.0f;
	return d;
}

/* A new copy of n class names, or NULL when there are none. */
static char **
data_classes_copy(char *const *classes, int n)
{
	char **copy;
	int i;

	if (classes == NULL || n <= 0)
		return NULL;
	copy = xreallocarray(NULL, (size_t)n, sizeof *copy);
	for (i = 0; i < n; i++)
		copy[i] = xstrdup(classes[i]);
	return copy;
}

/* Gives dst the task, target values and a copy of the classes of src. */
static void
data_copy_task(struct nn_data *dst, const struct nn_data *src)
{
	int i;

	if (dst->classes != NULL) {
		for (i = 0; i < dst->nclasses; i++)
			free(dst->classes[i]);
		free(dst->classes);
	}
	dst->task = src->task;
	dst->lo = src->lo;
	dst->hi = src->hi;
	dst->nclasses = src->nclasses;
	dst->classes = data_classes_copy(src->classes, src->nclasses);
}

/*
 * Classification when every target is one of exactly two values lo < hi
 * and, with several outputs, each row has exactly one hi. A single output
 * then means two classes (lo and hi); several mean one class per output.
 */
void
nn_data_detect_task(struct nn_data *d)
{
	size_t i, total = d->n * (size_t)d->out;
	float a, b = 0.0f, v;
	int j, nb = 0, highs;

	if (d->n == 0 || d->out == 0)
		goto regression;
	a = d->y[0];
	for (i = 1; i < total; i++) {
		v = d->y[i];
		if (v == a || (nb && v == b))
			continue;
		if (nb)
			goto regression;
		b = v;
		nb = 1;
	}
	if (!nb || isnan(a) || isnan(b))
		goto regression;
	if (a > b) {
		v = a;
		a = b;
		b = v;
	}
	if (d->out > 1) {
		for (i = 0; i < d->n; i++) {
			highs = 0;
			for (j = 0; j < d->out; j++)
				highs += d->y[i * (size_t)d->out + j] == b;
			if (highs != 1)
				goto regression;
		}
	}
	d->task = NN_TASK_CLASSIFICATION;
	d->lo = a;
	d->hi = b;
	d->nclasses = d->out > 1 ? d->out : 2;
	return;

regression:
	d->task = NN_TASK_REGRESSION;
	if (d->classes == NULL)
		d->nclasses = 0;
}

/*
 * Moves round(fraction * n) rows, picked by selection sampling from seed,
 * into a new test set (caller frees); both sets keep the file's row order.
 * Fails when either set would be empty.
 */
struct nn_data *
nn_data_split(struct nn_data *d, double fraction, uint64_t seed,
    char **cause)
{
	struct nn_data *t;
	struct nn_rng rng;
	size_t i, need, kept = 0, k = 0, ntest;
	size_t xrow = (size_t)d->in, yrow = (size_t)d->out;

	if (!(fraction > 0.0 && fraction < 1.0)) {
		nn_fail(cause, "split %g: expected a fraction between 0 and 1",
		    fraction);
		return NULL;
	}
	ntest = (size_t)floor(fraction * (double)d->n + 0.5);
	if (ntest == 0 || ntest >= d->n) {
		nn_fail(cause, "split %g of %zu rows leaves the %s set empty",
		    fraction, d->n, ntest == 0 ? "test" : "training");
		return NULL;
	}
	t = nn_data_new(ntest, d->in, d->out);
	data_copy_task(t, d);

	/* Row i goes to the test set with chance need / (n - i): exact. */
	nn_rng_seed(&rng, seed);
	need = ntest;
	for (i = 0; i < d->n; i++) {
		if (need > 0 && nn_rng_below(&rng, d->n - i) < need) {
			memcpy(t->x + k * xrow, d->x + i * xrow,
			    xrow * sizeof *d->x);
			memcpy(t->y + k * yrow, d->y + i * yrow,
			    yrow * sizeof *d->y);
			k++;
			need--;
			continue;
		}
		if (kept != i) {
			memcpy(d->x + kept * xrow, d->x + i * xrow,
			    xrow * sizeof *d->x);
			memcpy(d->y + kept * yrow, d->y + i * yrow,
			    yrow * sizeof *d->y);
		}
		kept++;
	}
	d->n = kept;
	d->x = xreallocarray(d->x, kept, xrow * sizeof *d->x);
	d->y = xreallocarray(d->y, kept, yrow * sizeof *d->y);
	return t;
}

/* Frees what a source owns and zeroes it. */
void
nn_source_clear(struct nn_source *s)
{
	free(s->jpath);
	free(s->path);
	free(s->images);
	free(s->labels);
	free(s->targets);
	free(s->inputs);
	free(s->name);
	memset(s, 0, sizeof *s);
}

/* A new copy of s, or NULL for NULL. */
static char *
data_strdup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* A new copy of n ints, or NULL for NULL. */
static int *
data_intsdup(const int *v, int n)
{
	int *copy;

	if (v == NULL)
		return NULL;
	copy = xreallocarray(NULL, n > 0 ? (size_t)n : 1, sizeof *copy);
	if (n > 0)
		memcpy(copy, v, (size_t)n * sizeof *copy);
	return copy;
}

/* Deep copy; dst is overwritten, not freed first. */
void
nn_source_copy(struct nn_source *dst, const struct nn_source *src)
{
	*dst = *src;
	dst->jpath = data_strdup(src->jpath);
	dst->path = data_strdup(src->path);
	dst->images = data_strdup(src->images);
	dst->labels = data_strdup(src->labels);
	dst->targets = data_intsdup(src->targets, src->ntargets);
	dst->inputs = data_intsdup(src->inputs, src->ninputs);
	dst->name = data_strdup(src->name);
}

int
nn_data_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NN_DATA_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

/* Opens path for nn_lines_next; -1 with cause when it cannot be read. */
int
nn_lines_open(struct nn_lines *lr, const char *path, char **cause)
{
	memset(lr, 0, sizeof *lr);
	if ((lr->f = fopen(path, "r")) == NULL)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	lr->path = path;
	lr->cap = NN_LINES_CHUNK;
	lr->buf = xmalloc(lr->cap);
	return 0;
}

/* Next line; fails on a read error, a NUL byte or an over-long line. */
int
nn_lines_next(struct nn_lines *lr, char **line, size_t *len, char **cause)
{
	char *s, *nl;
	size_t have, got, n;

	for (;;) {
		s = lr->buf + lr->start;
		have = lr->end - lr->start;
		if ((nl = memchr(s, '\n', have)) != NULL) {
			n = (size_t)(nl - s);
			lr->start += n + 1;
			break;
		}
		if (lr->eof) {
			if (have == 0)
				return 0;
			n = have;	/* the last line has no newline */
			lr->start = lr->end;
			break;
		}
		if (lr->start > 0) {
			memmove(lr->buf, s, have);
			lr->start = 0;
			lr->end = have;
		}
		/* One byte stays free for the terminating NUL. */
		if (lr->end + 1 >= lr->cap) {
			if (lr->cap > NN_MAX_LINE) {
				return nn_fail(cause, "%s:%ld: line longer "
				    "than %d bytes", lr->path, lr->lineno + 1,
				    NN_MAX_LINE);
			}
			lr->cap *= 2;
			lr->buf = xreallocarray(lr->buf, lr->cap, 1);
		}
		got = fread(lr->buf + lr->end, 1, lr->cap - 1 - lr->end, lr->f);
		if (got == 0) {
			if (ferror(lr->f))
				return nn_fail(cause, "%s: %s", lr->path,
				    strerror(errno));
			lr->eof = 1;
		}
		lr->end += got;
	}
	lr->lineno++;
	if (n > NN_MAX_LINE) {
		return nn_fail(cause, "%s:%ld: line longer than %d bytes",
		    lr->path, lr->lineno, NN_MAX_LINE);
	}
	if (memchr(s, '\0', n) != NULL) {
		return nn_fail(cause, "%s:%ld: NUL byte (not a text file?)",
		    lr->path, lr->lineno);
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	s[n] = '\0';
	*line = s;
	*len = n;
	return 1;
}

/* Closes the file and frees the buffer; safe after a failed open. */
void
nn_lines_close(struct nn_lines *lr)
{
	if (lr->f != NULL)
		fclose(lr->f);
	free(lr->buf);
	memset(lr, 0, sizeof *lr);
}

/* 10^k for k <= 22: exact doubles. */
static const double data_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * Plain decimals such as "-0.353920" without strtod: with at most 15
 * digits the mantissa and the power of ten are exact doubles, so one
 * division rounds exactly as strtod does. Returns -1 to defer to strtod.
 */
static int
data_parse_simple(const char *s, double *out)
{
	uint64_t m = 0;
	int digits = 0, frac = 0, neg = 0, dot = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	for (; *s != '\0'; s++) {
		if (*s == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		if (digits > 0 || *s != '0')
			digits++;
		if (digits > 15)
			return -1;
		m = m * 10 + (uint64_t)(*s - '0');
		frac += dot;
	}
	if (frac > 22)
		return -1;
	*out = (double)m / data_pow10[frac];
	if (neg)
		*out = -*out;
	return 0;
}

/* Whole string as a finite float32; "nan", "inf" and overflow fail. */
int
nn_parse_float(const char *s, float *out)
{
	char *end;
	double v;
	const char *p;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	/* A digit must appear: "-", "." and "+." are not numbers. */
	for (p = s; *p != '\0' && !isdigit((unsigned char)*p); p++)
		;
	if (*p == '\0')
		return -1;
	if (data_parse_simple(s, &v) != 0) {
		v = strtod(s, &end);
		if (end == s || *end != '\0')
			return -1;
	}
	if (!isfinite(v) || fabs(v) > FLT_MAX)
		return -1;
	*out = (float)v;
	return 0;
}

/* Whole string as a decimal integer that fits a long long. */
int
nn_parse_long(const char *s, long long *out)
{
	char *end;
	long long v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/* Grows *pp to hold need elements of size bytes, at least doubling. */
void
nn_grow(void *pp, size_t *cap, size_t need, size_t size)
{
	void **p = pp;
	size_t n;

	if (need <= *cap)
		return;
	n = *cap * 2;
	if (n < (NN_LINES_CHUNK / (size > 0 ? size : 1)))
		n = NN_LINES_CHUNK / (size > 0 ? size : 1);
	if (n < need)
		n = need;
	*p = xreallocarray(*p, n, size);
	*cap = n;
}

/* Frees what labels holds and zeroes it. */
void
nn_labels_clear(struct nn_labels *l)
{
	int i;

	for (i = 0; i < l->nnames; i++)
		free(l->names[i]);
	free(l->names);
	free(l->line);
	free(l->id);
	free(l->slots);
	memset(l, 0, sizeof *l);
}

/* Replaces y by one-hot rows of nclasses from class indices cls. */
void
nn_data_set_onehot(struct nn_data *d, const uint32_t *cls, int nclasses)
{
	size_t i;

	free(d->y);
	d->y = xcalloc(d->n, (size_t)nclasses * sizeof *d->y);
	for (i = 0; i < d->n; i++)
		d->y[i * (size_t)nclasses + cls[i]] = 1.0f;
	d->out = nclasses;
	d->task = NN_TASK_CLASSIFICATION;
	d->lo = 0.0f;
	d->hi = 1.0f;
	d->nclasses = nclasses;
}

/* strcmp order of class names. */
static int
data_class_cmp_name(const void *a, const void *b)
{
	const struct nn_class *ca = a, *cb = b;

	return strcmp(ca->name, cb->name);
}

/* Numeric order of integer class names; strcmp breaks ties ("1", "01"). */
static int
data_class_cmp_value(const void *a, const void *b)
{
	const struct nn_class *ca = a, *cb = b;

	if (ca->value != cb->value)
		return ca->value < cb->value ? -1 : 1;
	return strcmp(ca->name, cb->name);
}

/*
 * Class indices for csv labels. A fixed list (a saved model's) maps names
 * to their position; a fixed count without names maps integer labels
 * 0..n-1 to themselves. Otherwise the classes are the distinct labels of
 * every part, in numeric order when all are integers, else strcmp order.
 */
static int
data_resolve_names(struct nn_part *parts, int nparts, char **fixed,
    int nfixed, char **cause)
{
	struct nn_class *all = NULL, key, *hit;
	uint32_t *map = NULL;
	char **names = NULL;
	size_t total = 0, k, nuniq;
	int p, i, numeric = 1, nclasses, rc = -1;
	long long v;
	int (*cmp)(const void *, const void *);

	for (p = 0; p < nparts; p++)
		total += (size_t)parts[p].labels.nnames;
	all = xreallocarray(NULL, total, sizeof *all);
	k = 0;
	for (p = 0; p < nparts; p++) {
		for (i = 0; i < parts[p].labels.nnames; i++) {
			all[k].name = parts[p].labels.names[i];
			if (nn_parse_long(all[k].name, &all[k].value) != 0)
				numeric = 0;
			k++;
		}
	}

	if (nfixed > 0 && fixed != NULL) {
		/* Fixed names: sort (name, index) pairs to look them up. */
		free(all);
		all = xreallocarray(NULL, (size_t)nfixed, sizeof *all);
		for (i = 0; i < nfixed; i++) {
			all[i].name = fixed[i];
			all[i].index = i;
		}
		nuniq = (size_t)nfixed;
		cmp = data_class_cmp_name;
		qsort(all, nuniq, sizeof *all, cmp);
		nclasses = nfixed;
	} else if (nfixed > 0) {
		nuniq = 0;
		cmp = NULL;
		nclasses = nfixed;
	} else {
		cmp = numeric ? data_class_cmp_value : data_class_cmp_name;
		qsort(all, total, sizeof *all, cmp);
		nuniq = 0;
		for (k = 0; k < total; k++) {
			if (nuniq == 0 ||
			    strcmp(all[nuniq - 1].name, all[k].name) != 0)
				all[nuniq++] = all[k];
		}
		if (nuniq > NN_MAX_CLASSES) {
			nn_fail(cause, "%s: %zu classes (limit %d)",
			    parts[0].what, nuniq, NN_MAX_CLASSES);
			goto out;
		}
		if (nuniq < 2) {
			nn_fail(cause, "%s: only one class \"%.64s\" in column "
			    "%d of %s", parts[0].what, nuniq > 0 ?
			    all[0].name : "", parts[0].src->label,
			    parts[0].where);
			goto out;
		}
		nclasses = (int)nuniq;
		names = xreallocarray(NULL, nuniq, sizeof *names);
		for (k = 0; k < nuniq; k++) {
			names[k] = xstrdup(all[k].name);
			all[k].index = (int)k;
		}
	}

	for (p = 0; p < nparts; p++) {
		struct nn_labels *l = &parts[p].labels;

		map = xreallocarray(NULL, (size_t)l->nnames, sizeof *map);
		for (i = 0; i < l->nnames; i++) {
			if (cmp == NULL) {
				if (nn_parse_long(l->names[i], &v) != 0 ||
				    v < 0 || v >= nfixed) {
					nn_fail(cause, "%s:%ld: label "
					    "\"%.64s\" is not a class number "
					    "below %d",
					    parts[p].where, l->line[i],
					    l->names[i], nfixed);
					goto out;
				}
				map[i] = (uint32_t)v;
				continue;
			}
			key.name = l->names[i];
			if (nn_parse_long(key.name, &key.value) != 0)
				key.value = 0;
			hit = bsearch(&key, all, nuniq, sizeof *all, cmp);
			if (hit == NULL) {
				nn_fail(cause, "%s:%ld: unknown class "
				    "\"%.64s\" (the model has %d classes)",
				    parts[p].where, l->line[i], l->names[i],
				    nfixed);
				goto out;
			}
			map[i] = (uint32_t)hit->index;
		}
		for (k = 0; k < l->n; k++)
			l->id[k] = map[l->id[k]];
		free(map);
		map = NULL;
	}

	for (p = 0; p < nparts; p++) {
		nn_data_set_onehot(parts[p].d, parts[p].labels.id, nclasses);
		parts[p].d->classes = data_classes_copy(names != NULL ? names :
		    fixed, nclasses);
	}
	rc = 0;

out:
	if (names != NULL) {
		for (k = 0; k < nuniq; k++)
			free(names[k]);
		free(names);
	}
	free(map);
	free(all);
	return rc;
}

/*
 * Class indices for idx labels: the values themselves, below the fixed
 * count or below the largest value plus one over every part.
 */
static int
data_resolve_ints(struct nn_part *parts, int nparts, char **fixed,
    int nfixed, char **cause)
{
	struct nn_labels *l;
	size_t k;
	int p, nclasses = nfixed;

	if (nfixed <= 0) {
		for (p = 0; p < nparts; p++) {
			if ((int)parts[p].labels.max + 1 > nclasses)
				nclasses = (int)parts[p].labels.max + 1;
		}
		if (nclasses < 2) {
			return nn_fail(cause, "%s: only one class (every label "
			    "is 0)", parts[0].where);
		}
	}
	for (p = 0; p < nparts; p++) {
		l = &parts[p].labels;
		for (k = 0; k < l->n; k++) {
			if (l->id[k] >= (uint32_t)nclasses) {
				return nn_fail(cause, "%s: label %u of item "
				    "%zu is not below the model's %d classes",
				    parts[p].where, l->id[k], k, nclasses);
			}
		}
	}
	for (p = 0; p < nparts; p++) {
		nn_data_set_onehot(parts[p].d, parts[p].labels.id, nclasses);
		parts[p].d->classes = data_classes_copy(fixed, nclasses);
	}
	return 0;
}

/* Reads one source into p. */
static int
data_load_part(struct nn_part *p, const struct nn_source *src,
    const char *what, char **cause)
{
	p->src = src;
	p->what = what;
	switch (src->format) {
	case NN_FORMAT_FANN:
	case NN_FORMAT_CSV:
		if (src->path == NULL)
			return nn_fail(cause, "%s: no path", what);
		p->where = src->path;
		if (src->format == NN_FORMAT_FANN)
			return nn_load_fann(src->path, &p->d, cause);
		return nn_csv_read(src, &p->d, &p->labels, cause);
	case NN_FORMAT_IDX:
		if (src->images == NULL || src->labels == NULL) {
			return nn_fail(cause, "%s: idx needs images and labels",
			    what);
		}
		p->where = src->labels;
		return nn_idx_read(src->images, src->labels, &p->d, &p->labels,
		    cause);
	case NN_FORMAT_GENERATE:
		return nn_generate(src, &p->d, cause);
	case NN_FORMAT_CACHE:
		/* Its rows are in the daemons' memory, not here. */
		return nn_fail(cause, "%s: the cached set \"%s\" is read by "
		    "nnsim submit (nnsim data get %s -o FILE fetches it)",
		    what, src->name != NULL ? src->name : "", src->name !=
		    NULL ? src->name : "NAME");
	}
	return nn_fail(cause, "%s: unknown format %d", what, (int)src->format);
}

/*
 * Loads train and, when not NULL, test. Classes come from the labels of
 * both, or from the fixed list; the test set then takes the training
 * set's task, target values and classes. Caller frees both outputs.
 */
int
nn_data_load(const struct nn_source *train, const struct nn_source *test,
    char **classes, int nclasses, struct nn_data **train_out,
    struct nn_data **test_out, char **cause)
{
	struct nn_part parts[2];
	int p, nparts = test != NULL ? 2 : 1, rc = -1;
	enum nn_labels_kind kind;

	memset(parts, 0, sizeof parts);
	*train_out = NULL;
	if (test_out != NULL)
		*test_out = NULL;
	if (nclasses > NN_MAX_CLASSES) {
		nn_fail(cause, "%d classes (limit %d)", nclasses,
		    NN_MAX_CLASSES);
		goto out;
	}
	if (data_load_part(&parts[0], train, train->jpath != NULL ?
	    train->jpath : "data.train", cause) != 0)
		goto out;
	if (test != NULL && data_load_part(&parts[1], test,
	    test->jpath != NULL ? test->jpath : "data.test", cause) != 0)
		goto out;

	kind = parts[0].labels.kind;
	if (nparts == 2 && parts[1].labels.kind != kind) {
		nn_fail(cause, "%s: its classes must come the way %s's do "
		    "(a csv label column, or idx labels)", parts[1].what,
		    parts[0].what);
		goto out;
	}
	if (kind == NN_LABELS_NAMES &&
	    data_resolve_names(parts, nparts, classes, nclasses, cause) != 0)
		goto out;
	if (kind == NN_LABELS_INTS &&
	    data_resolve_ints(parts, nparts, classes, nclasses, cause) != 0)
		goto out;
	if (kind == NN_LABELS_NONE && train->format == NN_FORMAT_GENERATE &&
	    nclasses > 0 && parts[0].d->nclasses != nclasses) {
		nn_fail(cause, "%s: generates %d classes but the model has %d",
		    parts[0].what, parts[0].d->nclasses, nclasses);
		goto out;
	}

	if (nparts == 2) {
		if (parts[1].d->in != parts[0].d->in) {
			nn_fail(cause, "%s: %d inputs but %s has %d",
			    parts[1].what, parts[1].d->in, parts[0].what,
			    parts[0].d->in);
			goto out;
		}
		if (parts[1].d->out != parts[0].d->out) {
			nn_fail(cause, "%s: %d outputs but %s has %d",
			    parts[1].what, parts[1].d->out, parts[0].what,
			    parts[0].d->out);
			goto out;
		}
		data_copy_task(parts[1].d, parts[0].d);
	}

	*train_out = parts[0].d;
	parts[0].d = NULL;
	if (nparts == 2) {
		*test_out = parts[1].d;
		parts[1].d = NULL;
	}
	rc = 0;

out:
	for (p = 0; p < 2; p++) {
		nn_data_free(parts[p].d);
		nn_labels_clear(&parts[p].labels);
	}
	return rc;
}

struct nn_data *
nn_data_shard(const struct nn_data *d, int part, int n)
{
	struct nn_data *s;
	size_t i, rows = 0, r;

	for (i = (size_t)part; i < d->n; i += (size_t)n)
		rows++;
	if (d->cache_set != NULL) {
		s = nn_data_cached(d->cache_set, d->cache_table, rows, d->in,
		    d->out);
		s->cache_shard = part;
		s->cache_shards = n;
	} else
		s = nn_data_new(rows, d->in, d->out);
	s->task = d->task;
	s->lo = d->lo;
	s->hi = d->hi;
	for (i = 0; d->cache_set == NULL && i < rows; i++) {
		r = (size_t)part + i * (size_t)n;
		memcpy(s->x + i * (size_t)d->in, d->x + r * (size_t)d->in,
		    (size_t)d->in * sizeof *d->x);
		memcpy(s->y + i * (size_t)d->out, d->y + r * (size_t)d->out,
		    (size_t)d->out * sizeof *d->y);
	}
	return s;
}
