/* From net.json to data ready for training. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/prepare.h"

#define EVAL_BATCH	256

void
nn_prepared_clear(struct nn_prepared *p)
{
	nn_data_free(p->train);
	nn_data_free(p->test);
	nn_norm_clear(&p->norm);
	memset(p, 0, sizeof *p);
}

int
nn_prepare(struct nn_config *cfg, char **classes, int nclasses,
    struct nn_prepared *out, char **cause)
{
	struct nn_data *train = NULL, *test = NULL;
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
	if (nn_config_fit_data(cfg, train, cause) != 0)
		goto out;
	nn_norm_fit(&out->norm, cfg->normalize, train);
	nn_norm_apply(&out->norm, train);
	if (test != NULL)
		nn_norm_apply(&out->norm, test);
	out->train = train;
	out->test = test;
	train = test = NULL;
	rc = 0;
out:
	free(why);
	nn_data_free(train);
	nn_data_free(test);
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
	m->layout = nn_source_layout(&cfg->train_src);
	layout_add_columns(m->layout, &cfg->train_src);
	m->metrics = metrics != NULL ? json_incref(metrics) : NULL;
	return m;
}

int
nn_prepare_max_batch(const struct nn_config *cfg)
{
	return cfg->train.batch > EVAL_BATCH ? cfg->train.batch : EVAL_BATCH;
}
