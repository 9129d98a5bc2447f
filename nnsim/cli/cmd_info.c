/* nnsim info: what a model file holds, without running it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/model_io.h"

static int	cmd_info_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_info_entry = {
	.name = "info",
	.usage = "MODEL [--json]",
	.summary = "summarise a model: layers, parameters, training",
	.help =
	    "Prints the model's task and classes, its inputs and outputs\n"
	    "(with the training CSV's column names when it had a header),\n"
	    "each layer's units, activation and parameter count, the input\n"
	    "normalisation, the training configuration (optimizer, epochs,\n"
	    "batch, seed) and the final figures of the run that made it.\n\n"
	    "options:\n"
	    "  --json        print one JSON object instead of text\n"
	    "  -h, --help    show this help\n",
	.exec = cmd_info_exec,
};

/* names as a new JSON array, or null. */
static json_t *
info_names(char **names, int n)
{
	json_t *a;
	int i;

	if (names == NULL)
		return json_null();
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

/* The summary of model m, read from path, as a new JSON object. */
static json_t *
info_json(const struct nn_model *m, const char *path)
{
	const struct nn_arch *a = nn_net_arch(m->net);
	json_t *o = json_object(), *layers = json_array();
	char **names;
	size_t params;
	int l, in = a->input, n;

	json_object_set_new(o, "model", json_string(path));
	json_object_set_new(o, "name", m->name != NULL ?
	    json_string(m->name) : json_null());
	json_object_set_new(o, "task", json_string(
	    m->task == NN_TASK_CLASSIFICATION ? "classification" :
	    "regression"));
	json_object_set_new(o, "inputs", json_integer(a->input));
	names = model_io_input_names(m, &n);
	json_object_set_new(o, "input_names", info_names(names, n));
	free(names);
	json_object_set_new(o, "outputs", json_integer(nn_arch_outputs(a)));
	names = model_io_output_names(m, &n);
	json_object_set_new(o, "output_names", info_names(names, n));
	free(names);
	json_object_set_new(o, "classes", m->task == NN_TASK_CLASSIFICATION ?
	    json_integer(m->nclasses) : json_null());
	for (l = 0; l < a->nlayers; l++) {
		params = (size_t)a->layer[l].units * ((size_t)in + 1);
		json_array_append_new(layers, json_pack("{s:i,s:i,s:s,s:I}",
		    "inputs", in, "units", a->layer[l].units, "activation",
		    nn_act_name(a->layer[l].act), "params",
		    (json_int_t)params));
		in = a->layer[l].units;
	}
	json_object_set_new(o, "layers", layers);
	json_object_set_new(o, "loss", json_string(nn_loss_name(a->loss)));
	json_object_set_new(o, "params",
	    json_integer((json_int_t)nn_arch_nparams(a)));
	json_object_set_new(o, "normalize",
	    json_string(nn_norm_name(m->norm.kind)));
	json_object_set_new(o, "train", m->train != NULL ?
	    json_deep_copy(m->train) : json_null());
	json_object_set_new(o, "metrics", m->metrics != NULL ?
	    json_deep_copy(m->metrics) : json_null());
	return o;
}

/* One JSON value as text: reals with 6 digits, the rest as JSON. */
static void
info_print_value(json_t *v)
{
	char *s;

	if (json_is_real(v)) {
		printf("%.6g", json_real_value(v));
		return;
	}
	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	fputs(s != NULL ? s : "?", stdout);
	free(s);
}

/*
 * "key value, key value" for an object; an object value with a "type"
 * prints as "key TYPE (key value, ...)", as the optimizer does.
 */
static void
info_print_object(json_t *o)
{
	const char *key;
	json_t *v, *inner;
	const char *ikey;
	int first = 1, ifirst;

	json_object_foreach(o, key, v) {
		printf("%s%s ", first ? "" : ", ", key);
		first = 0;
		if (!json_is_object(v)) {
			info_print_value(v);
			continue;
		}
		info_print_value(json_object_get(v, "type"));
		ifirst = 1;
		json_object_foreach(v, ikey, inner) {
			if (strcmp(ikey, "type") == 0)
				continue;
			printf("%s%s ", ifirst ? " (" : ", ", ikey);
			ifirst = 0;
			info_print_value(inner);
		}
		if (!ifirst)
			printf(")");
	}
}

/* A list of names, or "-" when null. */
static void
info_print_names(json_t *a)
{
	json_t *v;
	size_t i;

	if (!json_is_array(a)) {
		printf("-");
		return;
	}
	json_array_foreach(a, i, v)
		printf("%s%s", i > 0 ? ", " : "", json_string_value(v));
}

static void
info_print(json_t *o)
{
	json_t *v, *train = json_object_get(o, "train");
	json_t *metrics = json_object_get(o, "metrics");
	size_t i;

	printf("model: %s", json_string_value(json_object_get(o, "model")));
	if (json_is_string(json_object_get(o, "name")))
		printf(" (%s)", json_string_value(json_object_get(o, "name")));
	printf("\ntask: %s", json_string_value(json_object_get(o, "task")));
	if (json_is_integer(json_object_get(o, "classes")))
		printf(", %lld classes", (long long)json_integer_value(
		    json_object_get(o, "classes")));
	printf("\ninputs: %lld (", (long long)json_integer_value(
	    json_object_get(o, "inputs")));
	info_print_names(json_object_get(o, "input_names"));
	printf(")\noutputs: %lld (", (long long)json_integer_value(
	    json_object_get(o, "outputs")));
	info_print_names(json_object_get(o, "output_names"));
	printf(")\nnormalize: %s\nlayers:\n", json_string_value(
	    json_object_get(o, "normalize")));
	json_array_foreach(json_object_get(o, "layers"), i, v)
		printf("  %2zu  dense %7lld units  %-10s %10lld params\n",
		    i + 1, (long long)json_integer_value(json_object_get(v,
		    "units")), json_string_value(json_object_get(v,
		    "activation")), (long long)json_integer_value(
		    json_object_get(v, "params")));
	printf("loss: %s\nparameters: %lld\n", json_string_value(
	    json_object_get(o, "loss")), (long long)json_integer_value(
	    json_object_get(o, "params")));
	printf("training: ");
	if (json_is_object(train))
		info_print_object(train);
	else
		printf("-");
	printf("\nfinal figures: ");
	if (json_is_object(metrics))
		info_print_object(metrics);
	else
		printf("-");
	printf("\n");
}

static int
cmd_info_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nn_model *model = NULL;
	json_t *o = NULL;
	char *cause = NULL;
	int c, json = 0, threads = 0, rc = EXIT_USAGE;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":h", longopts, &threads,
	    &rc)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case CMD_OPT_EXIT:
			goto out;
		}
	}
	if (cmd_check_args(self, argc - optind, 1, "MODEL") != 0)
		goto out;
	if ((model = nn_model_load(argv[optind], &cause)) == NULL) {
		fprintf(stderr, "nnsim info: %s\n", cause);
		goto out;
	}
	o = info_json(model, argv[optind]);
	if (json) {
		json_dumpf(o, stdout, JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
		printf("\n");
	} else
		info_print(o);
	rc = 0;
out:
	json_decref(o);
	nn_model_free(model);
	free(cause);
	return rc;
}
