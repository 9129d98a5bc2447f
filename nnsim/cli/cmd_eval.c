/*
 * nnsim eval: loss, accuracy, the confusion matrix and per-class figures,
 * or regression errors, of a saved model on test data.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/model_io.h"
#include "nn/blas.h"
#include "nn/metrics.h"
#include "nn/train.h"

static int	cmd_eval_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_eval_entry = {
	.name = "eval",
	.usage = "MODEL DATA [--json] [--threads N]",
	.summary = "print a model's loss, accuracy and per-class figures",
	.help =
	    "DATA is a net.json (its test data: data.test, or the held-out\n"
	    "part of data.split; the training data when it has neither), a\n"
	    "FANN file (.data, .train, .test) or a CSV file laid out like\n"
	    "the model's training CSV. Inputs are normalised with the\n"
	    "statistics saved in the model.\n\n"
	    "Classification adds the confusion matrix (rows: true class,\n"
	    "columns: predicted class) and each class's precision, recall,\n"
	    "F1 and support with their macro averages; regression adds MAE,\n"
	    "RMSE and R^2, over all outputs and per output (docs/eval.md).\n\n"
	    "options:\n"
	    "  --json        print one JSON object instead of text\n"
	    "  --threads N   BLAS threads (default: one per core)\n"
	    "  -h, --help    show this help\n",
	.exec = cmd_eval_exec,
};

/* Prints the confusion matrix and the per-class table. */
static void
eval_print_classes(json_t *r)
{
	json_t *classes = json_object_get(r, "classes"), *v, *row, *macro;
	size_t i, j, width = 9;

	json_array_foreach(classes, i, v)
		if (strlen(json_string_value(v)) > width)
			width = strlen(json_string_value(v));
	printf("confusion matrix (rows: true class, columns: predicted):\n");
	printf("%-*s", (int)width, "");
	json_array_foreach(classes, i, v)
		printf(" %*s", (int)width, json_string_value(v));
	printf("\n");
	json_array_foreach(json_object_get(r, "confusion"), i, row) {
		printf("%-*s", (int)width, json_string_value(
		    json_array_get(classes, i)));
		json_array_foreach(row, j, v)
			printf(" %*lld", (int)width,
			    (long long)json_integer_value(v));
		printf("\n");
	}
	printf("%-*s %9s %9s %9s %9s\n", (int)width, "class", "precision",
	    "recall", "f1", "support");
	json_array_foreach(json_object_get(r, "per_class"), i, v)
		printf("%-*s %9.4f %9.4f %9.4f %9lld\n", (int)width,
		    json_string_value(json_object_get(v, "class")),
		    json_real_value(json_object_get(v, "precision")),
		    json_real_value(json_object_get(v, "recall")),
		    json_real_value(json_object_get(v, "f1")),
		    (long long)json_integer_value(json_object_get(v,
		    "support")));
	macro = json_object_get(r, "macro");
	printf("%-*s %9.4f %9.4f %9.4f\n", (int)width, "macro avg",
	    json_real_value(json_object_get(macro, "precision")),
	    json_real_value(json_object_get(macro, "recall")),
	    json_real_value(json_object_get(macro, "f1")));
}

/* Prints "r2 X", or "r2 n/a" where a target was constant. */
static void
eval_print_r2(json_t *v)
{
	if (json_is_real(v))
		printf(" %9.6f", json_real_value(v));
	else
		printf(" %9s", "n/a");
}

/* Prints MAE, RMSE and R^2 over all outputs, then per output. */
static void
eval_print_regression(json_t *r)
{
	json_t *per = json_object_get(r, "per_output"), *v;
	size_t i;

	printf("%-12s %12s %12s %9s\n", "output", "mae", "rmse", "r2");
	json_array_foreach(per, i, v) {
		printf("%-12s %12.6g %12.6g", json_string_value(
		    json_object_get(v, "name")), json_real_value(
		    json_object_get(v, "mae")), json_real_value(
		    json_object_get(v, "rmse")));
		eval_print_r2(json_object_get(v, "r2"));
		printf("\n");
	}
	if (json_array_size(per) > 1) {
		printf("%-12s %12.6g %12.6g", "all", json_real_value(
		    json_object_get(r, "mae")), json_real_value(
		    json_object_get(r, "rmse")));
		eval_print_r2(json_object_get(r, "r2"));
		printf("\n");
	}
}

static int
cmd_eval_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nn_model *model = NULL;
	struct nn_data *d = NULL;
	struct nn_net *net = NULL;
	json_t *report = NULL;
	char *cause = NULL, *what = NULL, *why = NULL, **names;
	int nnames;
	double loss, acc;
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
	if (cmd_check_args(self, argc - optind, 2, "MODEL and DATA") != 0)
		goto out;
	if ((model = nn_model_load(argv[optind], &cause)) == NULL ||
	    (d = model_io_load_data(model, argv[optind + 1], &what,
	    &cause)) == NULL)
		goto fail;
	if (nn_blas_init(threads, &cause) != 0) {
		rc = EXIT_FAILED;
		goto fail;
	}
	net = model_io_net(model, MODEL_IO_BATCH);
	if (nn_evaluate_finite(net, d, &loss, &acc, &why) != 0) {
		nn_fail(&cause, "%s: %s: %s", argv[optind], what, why);
		rc = EXIT_FAILED;
		goto fail;
	}
	names = model_io_output_names(model, &nnames);
	report = nn_metrics_eval(net, d, names, nnames);
	free(names);
	if (json) {
		json_object_set_new(report, "data", json_string(what));
		json_object_set_new(report, "samples",
		    json_integer((json_int_t)d->n));
		json_object_set_new(report, "loss", json_real(loss));
		if (d->task == NN_TASK_CLASSIFICATION)
			json_object_set_new(report, "accuracy",
			    json_real(acc));
		json_dumpf(report, stdout, JSON_SORT_KEYS |
		    JSON_REAL_PRECISION(9));
		printf("\n");
	} else {
		printf("%s: %zu samples, loss %.6f", what, d->n, loss);
		if (d->task == NN_TASK_CLASSIFICATION)
			printf(", accuracy %.4f", acc);
		printf("\n");
		if (d->n > 0 && d->task == NN_TASK_CLASSIFICATION)
			eval_print_classes(report);
		else if (d->n > 0)
			eval_print_regression(report);
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "nnsim eval: %s\n", cause);
out:
	json_decref(report);
	nn_net_free(net);
	nn_data_free(d);
	nn_model_free(model);
	free(what);
	free(why);
	free(cause);
	return rc;
}
