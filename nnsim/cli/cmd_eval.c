/* nnsim eval: loss and accuracy of a saved model on test data. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/model_io.h"
#include "nn/blas.h"
#include "nn/train.h"

static int	cmd_eval_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_eval_entry = {
	.name = "eval",
	.usage = "MODEL DATA [--json] [--threads N]",
	.summary = "print a model's loss and accuracy on test data",
	.help =
	    "DATA is a net.json (its test data: data.test, or the held-out\n"
	    "part of data.split; the training data when it has neither), a\n"
	    "FANN file (.data, .train, .test) or a CSV file laid out like\n"
	    "the model's training CSV. Inputs are normalised with the\n"
	    "statistics saved in the model.\n\n"
	    "options:\n"
	    "  --json        print one JSON object instead of a line\n"
	    "  --threads N   BLAS threads (default: one per core)\n"
	    "  -h, --help    show this help\n",
	.exec = cmd_eval_exec,
};

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
	char *cause = NULL, *what = NULL, *why = NULL;
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
	if (json) {
		printf("{\"data\": \"%s\", \"samples\": %zu, \"loss\": %.9g",
		    what, d->n, loss);
		if (d->task == NN_TASK_CLASSIFICATION)
			printf(", \"accuracy\": %.9g", acc);
		printf("}\n");
	} else {
		printf("%s: %zu samples, loss %.6f", what, d->n, loss);
		if (d->task == NN_TASK_CLASSIFICATION)
			printf(", accuracy %.4f", acc);
		printf("\n");
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "nnsim eval: %s\n", cause);
out:
	nn_net_free(net);
	nn_data_free(d);
	nn_model_free(model);
	free(what);
	free(why);
	free(cause);
	return rc;
}
