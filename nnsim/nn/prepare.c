/* From net.json to data ready for training. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/prepare.h"

#define EVAL_BATCH	256
/* The validation split's stream differs from the test split's. */
#define VAL_STREAM	0xbb67ae8584caa73bULL
/* How far a softmax target row's sum may be from 1 (text rounding). */
#define ONEHOT_EPS	1e-4

void
nn_prepared_clear(struct nn_prepared *p)
{
	nn_data_free(p->train);
	nn_data_free(p->test);
	nn_data_free(p->val);
	nn_norm_clear(&p->norm);
	memset(p, 0, sizeof *p);
}

/*
 * The validation rows: data.validation, loaded with train's classes, or
 * data.validation_split of train's rows (after the test split), from the
 * seed. *val stays NULL without either.
 */
static int
prepare_validation(struct nn_config *cfg, struct nn_data *train,
    struct nn_data **val, char **cause)
{
	char *why = NULL;
	size_t n;

	*val = NULL;
	if (cfg->has_val) {
		if (nn_data_load(&cfg->val_src, NULL, train->classes,
		    train->nclasses, val, NULL, cause) != 0)
			return -1;
		if ((*val)->in != train->in || (*val)->out != train->out) {
			nn_fail(cause, "%s: data.validation: %d inputs and %d "
			    "targets, expected %d and %d as data.train",
			    cfg->path, (*val)->in, (*val)->out, train->in,
			    train->out);
			goto fail;
		}
		/* Scored as the training rows are: their task and targets. */
		(*val)->task = train->task;
		(*val)->lo = train->lo;
		(*val)->hi = train->hi;
		return 0;
	}
	if (!(cfg->val_split > 0))
		return 0;
	n = (size_t)floor(cfg->val_split * (double)train->n + 0.5);
	if (n == 0 || n >= train->n)
		return nn_fail(cause, "%s: data.validation_split: %g of %zu "
		    "training rows leaves the %s set empty", cfg->path,
		    cfg->val_split, train->n, n == 0 ? "validation" :
		    "training");
	if ((*val = nn_data_split(train, cfg->val_split, cfg->train.seed ^
	    VAL_STREAM, &why)) == NULL) {
		nn_fail(cause, "%s: data.validation_split: %s", cfg->path, why);
		free(why);
		return -1;
	}
	return 0;
fail:
	nn_data_free(*val);
	*val = NULL;
	return -1;
}

int
nn_prepare_check_targets(const struct nn_config *cfg,
    const struct nn_data *d, const char *jpath, char **cause)
{
	const struct nn_arch *a = &cfg->arch;
	int last = a->nlayers - 1, j;
	enum nn_act act = a->layer[last].act;
	const float *y;
	double sum;
	size_t i;

	if (a->loss != NN_LOSS_CROSS_ENTROPY || d == NULL)
		return 0;
	/* Rows in the data cache: what the set's manifest tells. */
	if (d->y == NULL && d->task == NN_TASK_REGRESSION &&
	    act == NN_ACT_SOFTMAX)
		return nn_fail(cause, "%s: layers[%d].activation: softmax "
		    "needs one-hot targets; %s has regression targets (for "
		    "regression use a linear output and \"loss\": \"mse\")",
		    cfg->path, last, jpath);
	if (d->y == NULL && d->task == NN_TASK_CLASSIFICATION &&
	    (d->lo < 0 || d->hi > 1))
		return nn_fail(cause, "%s: layers[%d].activation: %s with "
		    "cross-entropy needs targets in [0, 1]; %s has class "
		    "targets %g and %g", cfg->path, last, nn_act_name(act),
		    jpath, (double)d->lo, (double)d->hi);
	for (i = 0; d->y != NULL && i < d->n; i++) {
		y = d->y + i * (size_t)d->out;
		sum = 0;
		for (j = 0; j < d->out; j++) {
			if (!(y[j] >= 0 && y[j] <= 1))
				break;
			sum += y[j];
		}
		if (act == NN_ACT_SOFTMAX && (j < d->out ||
		    fabs(sum - 1) > ONEHOT_EPS))
			return nn_fail(cause, "%s: layers[%d].activation: "
			    "softmax needs one-hot targets; %s row %zu %s %g "
			    "(for regression use a linear output and \"loss\": "
			    "\"mse\"; for independent labels, sigmoid)",
			    cfg->path, last, jpath, i + 1, j < d->out ? "has" :
			    "sums to", j < d->out ? (double)y[j] : sum);
		if (j < d->out)
			return nn_fail(cause, "%s: layers[%d].activation: %s "
			    "with cross-entropy needs targets in [0, 1]; %s row "
			    "%zu has %g (for regression use a linear output "
			    "and \"loss\": \"mse\")", cfg->path, last,
			    nn_act_name(act), jpath, i + 1, (double)y[j]);
	}
	return 0;
}

/* An accuracy to watch needs classes, which only the data tells. */
static int
prepare_check_monitor(const struct nn_config *cfg, const struct nn_data *d,
    char **cause)
{
	const struct nn_stop_spec *sp = &cfg->train.stop;

	if (sp->on && nn_figure_maximize(sp->monitor) &&
	    d->task != NN_TASK_CLASSIFICATION)
		return nn_fail(cause, "%s: train.early_stopping.monitor: \"%s\""
		    " needs a classification task (%s has regression "
		    "targets; watch a loss)", cfg->path,
		    nn_figure_name(sp->monitor), cfg->train_src.jpath);
	return 0;
}

int
nn_prepare_check(const struct nn_config *cfg, const struct nn_prepared *p,
    char **cause)
{
	const char *train = cfg->train_src.jpath != NULL ?
	    cfg->train_src.jpath : "data.train";

	if (nn_prepare_check_targets(cfg, p->train, train, cause) != 0 ||
	    nn_prepare_check_targets(cfg, p->val, cfg->has_val ?
	    "data.validation" : "data.validation_split", cause) != 0 ||
	    nn_prepare_check_targets(cfg, p->test, cfg->has_test ?
	    "data.test" : "data.split", cause) != 0)
		return -1;
	return prepare_check_monitor(cfg, p->train, cause);
}

int
nn_prepare(struct nn_config *cfg, char **classes, int nclasses,
    struct nn_prepared *out, char **cause)
{
	struct nn_data *train = NULL, *test = NULL, *val = NULL;
	char *why = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (nn_data_load(&cfg->train_src, cfg->has_test ? &cfg->test_src :
	    NULL, classes, nclasses, &train, cfg->has_test ? &test : NULL,
	    cause) != 0)
		goto out;
	if (cfg->split > 0) {
		test = nn_data_split(train, cfg->split, cfg->train.seed, &why);
		if (test == NULL) {
			nn_fail(cause, "%s: data.split: %s", cfg->path, why);
			goto out;
		}
	}
	if (prepare_validation(cfg, train, &val, cause) != 0)
		goto out;
	if (nn_config_fit_data(cfg, train, cause) != 0)
		goto out;
	out->train = train;
	out->test = test;
	out->val = val;
	rc = nn_prepare_check(cfg, out, cause);
	memset(out, 0, sizeof *out);
	if (rc != 0)
		goto out;
	rc = -1;
	nn_norm_fit(&out->norm, cfg->normalize, train);
	nn_norm_apply(&out->norm, train);
	if (test != NULL)
		nn_norm_apply(&out->norm, test);
	if (val != NULL)
		nn_norm_apply(&out->norm, val);
	out->train = train;
	out->test = test;
	out->val = val;
	train = test = val = NULL;
	rc = 0;
out:
	free(why);
	nn_data_free(train);
	nn_data_free(test);
	nn_data_free(val);
	return rc;
}

static json_t *
int_array(const int *v, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

json_t *
nn_source_layout(const struct nn_source *s)
{
	static const char *formats[] = {
		[NN_FORMAT_FANN] = "fann",
		[NN_FORMAT_CSV] = "csv",
		[NN_FORMAT_IDX] = "idx",
		[NN_FORMAT_GENERATE] = "generate",
		[NN_FORMAT_CACHE] = "cache",
	};
	json_t *o = json_object();

	json_object_set_new(o, "format", json_string(formats[s->format]));
	if (s->format == NN_FORMAT_CSV) {
		json_object_set_new(o, "header", json_boolean(s->header));
		if (s->label >= 0)
			json_object_set_new(o, "label", json_integer(s->label));
		if (s->ntargets > 0)
			json_object_set_new(o, "targets",
			    int_array(s->targets, s->ntargets));
		if (s->ninputs > 0)
			json_object_set_new(o, "inputs",
			    int_array(s->inputs, s->ninputs));
	} else if (s->format == NN_FORMAT_GENERATE)
		json_object_set_new(o, "generate",
		    json_string(nn_generator_name(s->gen)));
	else if (s->format == NN_FORMAT_CACHE)
		json_object_set_new(o, "cache", json_string(s->name));
	return o;
}

/*
 * The training CSV's header names as layout "columns", so that predict and
 * eval name targets as training did; left out when unreadable.
 */
static void
layout_add_columns(json_t *layout, const struct nn_source *s);

json_t *
nn_prepare_layout(const struct nn_source *s)
{
	json_t *layout = nn_source_layout(s);

	layout_add_columns(layout, s);
	return layout;
}

static void
layout_add_columns(json_t *layout, const struct nn_source *s)
{
	json_t *a;
	char **names;
	int i, n, ok = 1;

	if (s->format != NN_FORMAT_CSV || !s->header ||
	    (names = nn_csv_header(s->path, &n)) == NULL)
		return;
	a = json_array();
	for (i = 0; i < n; i++) {
		/* json_string refuses what is not UTF-8: no names then. */
		if (json_array_append_new(a, json_string(names[i])) != 0)
			ok = 0;
		free(names[i]);
	}
	free(names);
	if (ok)
		json_object_set_new(layout, "columns", a);
	else
		json_decref(a);
}

struct nn_model *
nn_prepare_model(const struct nn_config *cfg, const struct nn_prepared *p,
    struct nn_net *net, json_t *metrics)
{
	struct nn_model *m = nn_model_new();
	const struct nn_data *d = p->train;
	int i;

	m->name = xstrdup(cfg->name);
	m->net = net;
	m->norm.kind = p->norm.kind;
	m->norm.in = p->norm.in;
	m->norm.shift = xreallocarray(NULL, (size_t)p->norm.in,
	    sizeof (float));
	m->norm.scale = xreallocarray(NULL, (size_t)p->norm.in,
	    sizeof (float));
	memcpy(m->norm.shift, p->norm.shift, (size_t)p->norm.in *
	    sizeof (float));
	memcpy(m->norm.scale, p->norm.scale, (size_t)p->norm.in *
	    sizeof (float));
	m->task = d->task;
	m->lo = d->lo;
	m->hi = d->hi;
	m->nclasses = d->nclasses;
	if (d->classes != NULL) {
		m->classes = xcalloc((size_t)d->nclasses, sizeof (char *));
		for (i = 0; i < d->nclasses; i++)
			m->classes[i] = xstrdup(d->classes[i]);
	}
	m->train = nn_train_spec_json(&cfg->train);
	m->layout = nn_prepare_layout(&cfg->train_src);
	m->metrics = metrics != NULL ? json_incref(metrics) : NULL;
	return m;
}

int
nn_prepare_max_batch(const struct nn_config *cfg)
{
	return cfg->train.batch > EVAL_BATCH ? cfg->train.batch : EVAL_BATCH;
}
