/* nnsim train: one training run in this process, the reference. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cmd.h"
#include "cli/progress.h"
#include "nn/blas.h"
#include "nn/metrics.h"
#include "nn/prepare.h"

static int	cmd_train_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_train_entry = {
	.name = "train",
	.usage = "NET.JSON [-o MODEL] [--force] [--metrics FILE] "
	    "[--threads N] [--quiet]",
	.summary = "train the network NET.JSON describes, in this process",
	.help =
	    "options:\n"
	    "  -o, --output MODEL   write the model here (default: NAME.nnm,\n"
	    "                       NAME from net.json)\n"
	    "  -f, --force          overwrite MODEL if it exists\n"
	    "  --metrics FILE       write one JSON line per epoch and a last\n"
	    "                       line with \"event\": \"done\"\n"
	    "  --threads N          BLAS threads (default: one per core)\n"
	    "  -q, --quiet          print nothing but errors\n"
	    "  -h, --help           show this help\n"
	    "\nOn a terminal a live progress bar is shown; otherwise one line\n"
	    "per epoch. Exit status: 0 done, 1 runtime failure, 2 bad usage or\n"
	    "bad input (net.json or data).\n",
	.exec = cmd_train_exec,
};

static json_t *
done_json(const struct nn_epoch_stats *last, int epochs, double elapsed,
    size_t samples, const char *model)
{
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string("done"));
	json_object_set_new(o, "epochs", json_integer(epochs));
	json_object_set_new(o, "loss", json_real(last->loss));
	if (last->has_accuracy)
		json_object_set_new(o, "accuracy", json_real(last->accuracy));
	if (last->has_test) {
		json_object_set_new(o, "test_loss",
		    json_real(last->test_loss));
		if (last->has_accuracy)
			json_object_set_new(o, "test_accuracy",
			    json_real(last->test_accuracy));
	}
	json_object_set_new(o, "samples_per_sec",
	    json_real(elapsed > 0 ? (double)samples / elapsed : 0));
	json_object_set_new(o, "elapsed_s", json_real(elapsed));
	if (model != NULL)
		json_object_set_new(o, "model", json_string(model));
	return o;
}

static int
cmd_train_exec(const struct cmd_entry *self, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nn_config *cfg = NULL;
	struct nn_prepared prep = { 0 };
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	struct nn_model *model = NULL;
	struct nn_metrics *metrics = NULL;
	struct nn_progress *progress = NULL;
	struct nn_epoch_stats st, last;
	const char *metrics_path = NULL;
	char *output = NULL, *cause = NULL, line[512];
	json_t *obj = NULL, *figures = NULL;
	double loss, acc;
	size_t done, total, trained = 0;
	int c, threads = 0, quiet = 0, force = 0, rc = EXIT_USAGE, epoch, r;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":o:fqh", longopts, &threads,
	    &rc)) != -1) {
		switch (c) {
		case 'o':
			free(output);
			output = xstrdup(optarg);
			break;
		case 'f':
			force = 1;
			break;
		case 'm':
			metrics_path = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case CMD_OPT_EXIT:
			goto out;
		}
	}
	if (cmd_check_args(self, argc - optind, 1, "NET.JSON") != 0)
		goto out;
	if ((cfg = nn_config_load(argv[optind], &cause)) == NULL)
		goto fail_input;
	/* The rows of a cached set are in the daemons, not here. */
	if (cfg->train_src.format == NN_FORMAT_CACHE) {
		nn_fail(&cause, "%s: data.train: the cached set \"%s\" is read "
		    "by nnsim submit; nnsim data get %s -o FILE fetches it",
		    cfg->path, cfg->train_src.name, cfg->train_src.name);
		goto fail_input;
	}
	if (nn_prepare(cfg, NULL, 0, &prep, &cause) != 0)
		goto fail_input;
	if (output == NULL)
		output = xasprintf("%s.nnm", cfg->name);
	/* Before any epoch: a bad path must not cost a whole training. */
	if (nn_output_check(output, force, &cause) != 0)
		goto fail_input;
	if (metrics_path != NULL &&
	    (metrics = nn_metrics_open(metrics_path, &cause)) == NULL)
		goto fail_input;
	if (nn_blas_init(threads, &cause) != 0) {
		rc = EXIT_FAILED;
		goto fail;
	}

	net = nn_net_new(&cfg->arch, nn_prepare_max_batch(cfg));
	nn_net_init(net, cfg->train.seed);
	tr = nn_trainer_new(net, &cfg->train, prep.train, prep.test);
	progress = nn_progress_new(stdout, isatty(STDOUT_FILENO), quiet,
	    cfg->train.epochs, prep.train->n);
	memset(&last, 0, sizeof last);
	while ((r = nn_trainer_step(tr, &st)) >= 0) {
		if (r == 0) {
			nn_trainer_position(tr, &epoch, &done, &total, &loss,
			    &acc);
			nn_progress_update(progress, epoch, done, loss, acc,
			    prep.train->task == NN_TASK_CLASSIFICATION);
			continue;
		}
		trained += prep.train->n;
		last = st;
		nn_progress_epoch(progress, &st);
		obj = nn_metrics_epoch_json(&st);
		if (nn_metrics_write(metrics, obj, &cause) != 0) {
			rc = EXIT_FAILED;
			goto fail;
		}
		json_decref(obj);
		obj = NULL;
	}
	nn_progress_free(progress);
	progress = NULL;

	obj = done_json(&last, cfg->train.epochs, last.elapsed_s, trained,
	    output);
	figures = cmd_model_figures(obj);
	model = nn_prepare_model(cfg, &prep, net, figures);
	net = NULL;
	if (nn_model_save(model, output, &cause) != 0 ||
	    cmd_metrics_done(&metrics, obj, &cause) != 0) {
		metrics = NULL;
		rc = EXIT_FAILED;
		goto fail;
	}
	if (!quiet) {
		if (last.has_test && last.has_accuracy)
			snprintf(line, sizeof line, ", test_accuracy %.4f",
			    last.test_accuracy);
		else if (last.has_test)
			snprintf(line, sizeof line, ", test_loss %.6f",
			    last.test_loss);
		else
			line[0] = '\0';
		printf("done: %d epochs in %.1fs%s, model %s\n",
		    cfg->train.epochs, last.elapsed_s, line, output);
	}
	rc = 0;
	goto out;

fail_input:
	rc = EXIT_USAGE;
fail:
	nn_progress_free(progress);
	progress = NULL;
	fprintf(stderr, "nnsim train: %s\n", cause);
out:
	nn_progress_free(progress);
	json_decref(obj);
	json_decref(figures);
	nn_metrics_close(metrics, NULL);
	nn_model_free(model);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_prepared_clear(&prep);
	nn_config_free(cfg);
	free(output);
	free(cause);
	return rc;
}
