/* JSON-lines metrics, flushed per line so a follower sees each epoch. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/metrics.h"

struct nn_metrics {
	FILE	*f;
	char	*path;
};

struct nn_metrics *
nn_metrics_open(const char *path, char **cause)
{
	struct nn_metrics *m;
	FILE *f;

	if ((f = fopen(path, "w")) == NULL) {
		nn_fail(cause, "%s: cannot open for writing: %s", path,
		    strerror(errno));
		return NULL;
	}
	m = xcalloc(1, sizeof *m);
	m->f = f;
	m->path = xstrdup(path);
	return m;
}

int
nn_metrics_close(struct nn_metrics *m, char **cause)
{
	int rc = 0;

	if (m == NULL)
		return 0;
	if (fclose(m->f) != 0)
		rc = nn_fail(cause, "%s: %s", m->path, strerror(errno));
	free(m->path);
	free(m);
	return rc;
}

json_t *
nn_metrics_epoch_json(const struct nn_epoch_stats *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "epoch", json_integer(st->epoch));
	json_object_set_new(o, "loss", json_real(st->loss));
	if (st->has_accuracy)
		json_object_set_new(o, "accuracy", json_real(st->accuracy));
	if (st->has_val) {
		json_object_set_new(o, "val_loss", json_real(st->val_loss));
		if (st->has_accuracy)
			json_object_set_new(o, "val_accuracy",
			    json_real(st->val_accuracy));
	}
	if (st->has_test) {
		json_object_set_new(o, "test_loss", json_real(st->test_loss));
		if (st->has_accuracy)
			json_object_set_new(o, "test_accuracy",
			    json_real(st->test_accuracy));
	}
	if (st->best_epoch > 0)
		json_object_set_new(o, "best_epoch",
		    json_integer(st->best_epoch));
	if (st->stopped)
		json_object_set_new(o, "stopped", json_true());
	json_object_set_new(o, "samples_per_sec",
	    json_real(st->samples_per_sec));
	json_object_set_new(o, "elapsed_s", json_real(st->elapsed_s));
	/* rprop has no rate. */
	if (st->lr > 0)
		json_object_set_new(o, "lr", json_real(st->lr));
	return o;
}

int
nn_metrics_write(struct nn_metrics *m, json_t *obj, char **cause)
{
	if (m == NULL)
		return 0;
	if (json_dumpf(obj, m->f, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10)) != 0 || fputc('\n', m->f) == EOF ||
	    fflush(m->f) != 0)
		return nn_fail(cause, "%s: write failed: %s", m->path,
		    strerror(errno));
	return 0;
}

/* The class of one row: argmax of several outputs, one output above mid. */
static int
row_class(const float *v, int nout, float mid)
{
	int j, best = 0;

	if (nout == 1)
		return v[0] > mid;
	for (j = 1; j < nout; j++)
		if (v[j] > v[best])
			best = j;
	return best;
}

static double
ratio(double num, double den)
{
	return den > 0 ? num / den : 0;
}

static json_t *
eval_classification(struct nn_net *net, const struct nn_data *d,
    char *const *names, int nnames)
{
	json_t *o = json_object(), *classes = json_array(), *conf = json_array();
	json_t *per = json_array(), *row, *macro;
	const float *y;
	char *name;
	float mid = (d->lo + d->hi) / 2;
	size_t i, *m, tp, pred, actual;
	double p, r, f, sum_p = 0, sum_r = 0, sum_f = 0;
	int k = d->out > 1 ? d->out : 2, b, c, j, rows = nn_net_max_batch(net);

	m = xcalloc((size_t)k * k, sizeof *m);
	for (i = 0; i < d->n; i += (size_t)b) {
		b = d->n - i < (size_t)rows ? (int)(d->n - i) : rows;
		y = nn_net_forward(net, d->x + i * (size_t)d->in, b);
		for (c = 0; c < b; c++)
			m[(size_t)row_class(d->y + (i + c) * (size_t)d->out,
			    d->out, mid) * k + row_class(y + (size_t)c * d->out,
			    d->out, mid)]++;
	}
	for (c = 0; c < k; c++) {
		if (names != NULL && nnames == k)
			name = xstrdup(names[c]);
		else
			name = xasprintf("%d", c);
		json_array_append_new(classes, json_string(name));
		free(name);
		row = json_array();
		tp = m[(size_t)c * k + c];
		pred = actual = 0;
		for (j = 0; j < k; j++) {
			json_array_append_new(row,
			    json_integer((json_int_t)m[(size_t)c * k + j]));
			actual += m[(size_t)c * k + j];
			pred += m[(size_t)j * k + c];
		}
		json_array_append_new(conf, row);
		p = ratio((double)tp, (double)pred);
		r = ratio((double)tp, (double)actual);
		f = ratio(2 * p * r, p + r);
		sum_p += p;
		sum_r += r;
		sum_f += f;
		json_array_append_new(per, json_pack("{s:O,s:f,s:f,s:f,s:I}",
		    "class", json_array_get(classes, (size_t)c), "precision", p,
		    "recall", r, "f1", f, "support", (json_int_t)actual));
	}
	macro = json_pack("{s:f,s:f,s:f}", "precision", sum_p / k, "recall",
	    sum_r / k, "f1", sum_f / k);
	json_object_set_new(o, "classes", classes);
	json_object_set_new(o, "confusion", conf);
	json_object_set_new(o, "per_class", per);
	json_object_set_new(o, "macro", macro);
	free(m);
	return o;
}

/* Sums of one output's errors: |e|, e^2 and the targets' spread. */
struct eval_sums {
	double	mean, abs, sq, tot;
};

static json_t *
eval_regression(struct nn_net *net, const struct nn_data *d,
    char *const *names, int nnames)
{
	json_t *o = json_object(), *per = json_array(), *r2;
	char *name;
	struct eval_sums *s, all;
	const float *y;
	double e, r2_sum = 0, n = (double)d->n;
	size_t i, rows = (size_t)nn_net_max_batch(net);
	int b, c, j, r2_ok = 1;

	s = xcalloc((size_t)d->out, sizeof *s);
	for (i = 0; i < d->n; i++)
		for (j = 0; j < d->out; j++)
			s[j].mean += d->y[i * d->out + j];
	for (j = 0; j < d->out; j++)
		s[j].mean /= n;
	for (i = 0; i < d->n; i += (size_t)b) {
		b = d->n - i < rows ? (int)(d->n - i) : (int)rows;
		y = nn_net_forward(net, d->x + i * (size_t)d->in, b);
		for (c = 0; c < b; c++)
			for (j = 0; j < d->out; j++) {
				e = (double)y[(size_t)c * d->out + j] -
				    d->y[(i + c) * d->out + j];
				s[j].abs += fabs(e);
				s[j].sq += e * e;
				e = d->y[(i + c) * d->out + j] - s[j].mean;
				s[j].tot += e * e;
			}
	}
	memset(&all, 0, sizeof all);
	for (j = 0; j < d->out; j++) {
		all.abs += s[j].abs;
		all.sq += s[j].sq;
		/* R^2 means nothing for a constant target. */
		if (s[j].tot > 0) {
			r2 = json_real(1 - s[j].sq / s[j].tot);
			r2_sum += json_real_value(r2);
		} else {
			r2 = json_null();
			r2_ok = 0;
		}
		name = names != NULL && nnames == d->out ? xstrdup(names[j]) :
		    xasprintf("y%d", j);
		json_array_append_new(per, json_pack("{s:s,s:f,s:f,s:o}",
		    "name", name, "mae", s[j].abs / n, "rmse",
		    sqrt(s[j].sq / n), "r2", r2));
		free(name);
	}
	json_object_set_new(o, "mae", json_real(all.abs / (n * d->out)));
	json_object_set_new(o, "rmse", json_real(sqrt(all.sq / (n * d->out))));
	json_object_set_new(o, "r2", r2_ok ? json_real(r2_sum / d->out) :
	    json_null());
	json_object_set_new(o, "per_output", per);
	free(s);
	return o;
}

json_t *
nn_metrics_eval(struct nn_net *net, const struct nn_data *d,
    char *const *names, int nnames)
{
	if (d->n == 0)
		return json_object();
	if (d->task == NN_TASK_CLASSIFICATION)
		return eval_classification(net, d, names, nnames);
	return eval_regression(net, d, names, nnames);
}
