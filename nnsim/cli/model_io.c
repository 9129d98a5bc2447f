/* Data for a saved model: its layout, classes and normalisation. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/model_io.h"
#include "nn/config.h"

int
model_io_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);

	return n >= m && strcmp(path + n - m, suffix) == 0;
}

char **
model_io_output_names(const struct nn_model *m, int *n)
{
	json_t *columns = json_object_get(m->layout, "columns"), *targets, *v;
	char **names;
	size_t j;

	*n = 0;
	if (m->task == NN_TASK_CLASSIFICATION) {
		if (m->classes == NULL)
			return NULL;
		names = xcalloc((size_t)m->nclasses, sizeof *names);
		memcpy(names, m->classes, (size_t)m->nclasses * sizeof *names);
		*n = m->nclasses;
		return names;
	}
	targets = json_object_get(m->layout, "targets");
	if (!json_is_array(columns) || json_array_size(targets) == 0)
		return NULL;
	names = xcalloc(json_array_size(targets), sizeof *names);
	json_array_foreach(targets, j, v) {
		names[j] = (char *)json_string_value(json_array_get(columns,
		    (size_t)json_integer_value(v)));
		if (names[j] == NULL) {
			free(names);
			return NULL;
		}
	}
	*n = (int)json_array_size(targets);
	return names;
}

char **
model_io_input_names(const struct nn_model *m, int *n)
{
	json_t *columns = json_object_get(m->layout, "columns"), *v;
	json_t *inputs = json_object_get(m->layout, "inputs");
	json_t *label = json_object_get(m->layout, "label");
	json_t *targets = json_object_get(m->layout, "targets");
	int in = nn_net_arch(m->net)->input, k = 0, skip;
	size_t c, j, ncols = json_array_size(columns);
	char **names;

	*n = 0;
	if (!json_is_array(columns))
		return NULL;
	names = xcalloc((size_t)in, sizeof *names);
	if (json_array_size(inputs) > 0) {
		json_array_foreach(inputs, j, v)
			if (k < in)
				names[k++] = (char *)json_string_value(
				    json_array_get(columns,
				    (size_t)json_integer_value(v)));
	} else {
		for (c = 0; c < ncols; c++) {
			skip = label != NULL &&
			    (json_int_t)c == json_integer_value(label);
			json_array_foreach(targets, j, v)
				skip |= (json_int_t)c == json_integer_value(v);
			if (!skip && k < in)
				names[k++] = (char *)json_string_value(
				    json_array_get(columns, c));
		}
	}
	/* A layout that does not fit the net names nothing. */
	for (j = 0; j < (size_t)in; j++)
		if (names[j] == NULL)
			k = -1;
	if (k != in) {
		free(names);
		return NULL;
	}
	*n = in;
	return names;
}

static int *
layout_ints(json_t *a, int *n)
{
	size_t i;
	int *v;

	*n = (int)json_array_size(a);
	if (*n == 0)
		return NULL;
	v = xcalloc((size_t)*n, sizeof *v);
	for (i = 0; i < (size_t)*n; i++)
		v[i] = (int)json_integer_value(json_array_get(a, i));
	return v;
}

int
model_io_source(const struct nn_model *m, const char *path,
    struct nn_source *s, char **cause)
{
	memset(s, 0, sizeof *s);
	s->label = -1;
	s->row_lo = s->row_hi = -1;
	s->jpath = xstrdup(path);
	s->path = xstrdup(path);
	if (model_io_suffix(path, ".data") || model_io_suffix(path, ".train") ||
	    model_io_suffix(path, ".test")) {
		s->format = NN_FORMAT_FANN;
		return 0;
	}
	if (!model_io_suffix(path, ".csv"))
		return nn_fail(cause, "%s: unknown data format (expected "
		    "net.json, a FANN .data/.train/.test file or a .csv "
		    "file)", path);
	nn_source_clear(s);
	return model_io_csv_source(m, path, s, cause);
}

int
model_io_csv_source(const struct nn_model *m, const char *path,
    struct nn_source *s, char **cause)
{
	const char *format;
	json_t *label;

	memset(s, 0, sizeof *s);
	s->label = -1;
	s->row_lo = s->row_hi = -1;
	s->jpath = xstrdup(path);
	s->path = xstrdup(path);
	format = json_string_value(json_object_get(m->layout, "format"));
	if (format == NULL || strcmp(format, "csv") != 0)
		return nn_fail(cause, "%s: the model was not trained on CSV "
		    "data, so its columns are unknown (give a net.json)", path);
	s->format = NN_FORMAT_CSV;
	s->header = json_is_true(json_object_get(m->layout, "header"));
	if ((label = json_object_get(m->layout, "label")) != NULL)
		s->label = (int)json_integer_value(label);
	s->targets = layout_ints(json_object_get(m->layout, "targets"),
	    &s->ntargets);
	s->inputs = layout_ints(json_object_get(m->layout, "inputs"),
	    &s->ninputs);
	return 0;
}

/* Loads a net.json's evaluation data with the model's class order. */
static struct nn_data *
load_config_data(const struct nn_model *m, const char *path, char **what,
    char **cause)
{
	struct nn_config *cfg;
	struct nn_data *train = NULL, *test = NULL, *d = NULL;
	char *why = NULL;

	if ((cfg = nn_config_load(path, cause)) == NULL)
		return NULL;
	if (nn_data_load(&cfg->train_src, cfg->has_test ? &cfg->test_src :
	    NULL, m->classes, m->classes != NULL ? m->nclasses : 0, &train,
	    cfg->has_test ? &test : NULL, cause) != 0)
		goto out;
	if (cfg->has_test) {
		d = test;
		test = NULL;
		*what = xasprintf("%s data.test", path);
	} else if (cfg->split > 0) {
		/* The same seed as training holds out the same rows. */
		if ((d = nn_data_split(train, cfg->split, cfg->train.seed,
		    &why)) == NULL) {
			nn_fail(cause, "%s: data.split: %s", path, why);
			goto out;
		}
		*what = xasprintf("%s data.split", path);
	} else {
		d = train;
		train = NULL;
		*what = xasprintf("%s data.train (no test data)", path);
	}
out:
	free(why);
	nn_data_free(train);
	nn_data_free(test);
	nn_config_free(cfg);
	return d;
}

struct nn_data *
model_io_load_data(const struct nn_model *m, const char *path, char **what,
    char **cause)
{
	const struct nn_arch *a = nn_net_arch(m->net);
	struct nn_source s;
	struct nn_data *d = NULL;

	*what = NULL;
	if (model_io_suffix(path, ".json"))
		d = load_config_data(m, path, what, cause);
	else {
		if (model_io_source(m, path, &s, cause) == 0 &&
		    nn_data_load(&s, NULL, m->classes, m->classes != NULL ?
		    m->nclasses : 0, &d, NULL, cause) == 0)
			*what = xstrdup(path);
		nn_source_clear(&s);
	}
	if (d == NULL)
		goto fail;
	if (d->in != a->input) {
		nn_fail(cause, "%s: %d inputs but the model takes %d", path,
		    d->in, a->input);
		goto fail;
	}
	if (d->out != nn_arch_outputs(a)) {
		nn_fail(cause, "%s: %d targets but the model has %d outputs",
		    path, d->out, nn_arch_outputs(a));
		goto fail;
	}
	d->task = m->task;
	d->lo = m->lo;
	d->hi = m->hi;
	nn_norm_apply(&m->norm, d);
	return d;
fail:
	free(*what);
	*what = NULL;
	nn_data_free(d);
	return NULL;
}

struct nn_net *
model_io_net(struct nn_model *m, int max_batch)
{
	struct nn_net *net = nn_net_new(nn_net_arch(m->net), max_batch);
	size_t n;
	float *p = nn_net_params(m->net, &n);

	memcpy(nn_net_params(net, NULL), p, n * sizeof (float));
	return net;
}
