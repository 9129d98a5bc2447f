/* nnsim train: one training run in this process, the reference. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/file.h"
#include "cli/cmd.h"
#include "cli/override.h"
#include "cli/progress.h"
#include "nn/blas.h"
#include "nn/checkpoint.h"
#include "nn/metrics.h"
#include "nn/prepare.h"

static int	cmd_train_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_train_entry = {
	.name = "train",
	.usage = "NET.JSON|--resume FILE [-o MODEL] [--force] [--metrics FILE] "
	    "[--threads N] [--checkpoint FILE [--every N]] [--init MODEL] "
	    "[--set KEY=VALUE]... [--epochs N] [--quiet]",
	.summary = "train the network NET.JSON describes, in this process",
	.help =
	    "options:\n"
	    "  -o, --output MODEL   write the model here (default: NAME.nnm,\n"
	    "                       NAME from net.json); an existing file is\n"
	    "                       refused before training starts\n"
	    "  -f, --force          overwrite an existing model file\n"
	    "  --metrics FILE       write one JSON line per epoch and a last\n"
	    "                       line with \"event\": \"done\"\n"
	    "  --threads N          BLAS threads (default: one per core)\n"
	    "  --checkpoint FILE    write the whole training state here every\n"
	    "                       N epochs and at the end (atomically: a\n"
	    "                       killed run leaves the last one whole)\n"
	    "  --every N            checkpoint every N epochs (default 1)\n"
	    "  --resume FILE        go on from a checkpoint instead of\n"
	    "                       NET.JSON, bit for bit as if never stopped,\n"
	    "                       checkpointing to FILE unless --checkpoint\n"
	    "                       says otherwise; --epochs N trains on to N\n"
	    "  --init MODEL         start from MODEL's weights (its layers'\n"
	    "                       sizes must match net.json's)\n"
	    OVERRIDE_HELP
	    "  -q, --quiet          print nothing but errors\n"
	    "  -h, --help           show this help\n"
	    "\nOn a terminal a live progress bar is shown; otherwise one line\n"
	    "per epoch. Exit status: 0 done, 1 runtime failure, 2 bad usage or\n"
	    "bad input (net.json, data, a model or checkpoint that is corrupt\n"
	    "or does not fit).\n",
	.exec = cmd_train_exec,
};

/*
 * The closing line: the figures of the epoch whose parameters the model
 * holds (with early stopping's restore_best, the best epoch's).
 */
static json_t *
done_json(const struct nn_epoch_stats *last, int epochs, double elapsed,
    size_t samples, const char *model)
{
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string("done"));
	json_object_set_new(o, "epochs", json_integer(epochs));
	if (last->best_epoch > 0)
		json_object_set_new(o, "best_epoch",
		    json_integer(last->best_epoch));
	if (last->has_val) {
		json_object_set_new(o, "val_loss", json_real(last->val_loss));
		if (last->has_accuracy)
			json_object_set_new(o, "val_accuracy",
			    json_real(last->val_accuracy));
	}
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

/*
 * Checkpoints, resuming, --init and the net.json overrides: what a run
 * starts from and what it leaves behind besides the model.
 */
#define TRAIN_OPT_CHECKPOINT	0x300
#define TRAIN_OPT_EVERY		0x301
#define TRAIN_OPT_RESUME	0x302
#define TRAIN_OPT_INIT		0x303

struct train_start {
	struct override_list	 over;
	const char		*checkpoint;	/* --checkpoint FILE */
	int			 every;		/* --every N; 0: not given */
	const char		*resume;	/* --resume FILE */
	const char		*init;		/* --init MODEL */
	struct nn_checkpoint	*ck;		/* the one resumed from */
	json_t			*data;		/* digests of the data */
	int			 quiet;
};

/* Takes option c when it is one of these: 1, 0 not ours, -1 usage error. */
static int
train_start_option(struct train_start *ts, const struct cmd_entry *self,
    int c, const char *arg)
{
	switch (c) {
	case TRAIN_OPT_CHECKPOINT:
		ts->checkpoint = arg;
		return 1;
	case TRAIN_OPT_EVERY:
		return cmd_parse_int(self, "--every", arg, 1, NN_MAX_EPOCHS,
		    &ts->every) != 0 ? -1 : 1;
	case TRAIN_OPT_RESUME:
		ts->resume = arg;
		return 1;
	case TRAIN_OPT_INIT:
		ts->init = arg;
		return 1;
	}
	return override_option(&ts->over, self, c, arg);
}

/* The net.json the checkpoint carries, as trained, with the overrides. */
static struct nn_config *
train_resume_config(struct train_start *ts, char **cause)
{
	const char *path, *dir;
	struct nn_config *cfg = NULL;
	json_t *root = NULL;
	char *why = NULL;

	if ((ts->ck = nn_checkpoint_load(ts->resume, cause)) == NULL)
		return NULL;
	path = json_string_value(json_object_get(ts->ck->header, "path"));
	dir = json_string_value(json_object_get(ts->ck->header, "dir"));
	if (path == NULL || dir == NULL || !json_is_object(json_object_get(
	    ts->ck->header, "net")) || !json_is_integer(json_object_get(
	    ts->ck->header, "epoch"))) {
		nn_fail(cause, "%s: header: expected net, path, dir and epoch",
		    ts->resume);
		return NULL;
	}
	root = json_deep_copy(json_object_get(ts->ck->header, "net"));
	ts->over.file = ts->resume;
	if (override_apply(root, &ts->over, cause) != 0)
		goto out;
	if ((cfg = nn_config_parse(root, path, dir, &why)) == NULL)
		nn_fail(cause, "%s (in %s)", why, ts->resume);
out:
	free(why);
	json_decref(root);
	return cfg;
}

/*
 * net.json, or the checkpoint's: NULL with cause (bad input), or NULL
 * with no cause after a usage error.
 */
static struct nn_config *
train_start_config(struct train_start *ts, const struct cmd_entry *self,
    int nargs, char **args, char **cause)
{
	if (ts->every > 0 && ts->checkpoint == NULL && ts->resume == NULL) {
		cmd_usage_error(self, "--every goes with --checkpoint");
		return NULL;
	}
	/* A checkpoint is rewritten by design; its folder must take it. */
	if (ts->checkpoint != NULL && nn_output_check(ts->checkpoint, 1,
	    cause) != 0)
		return NULL;
	if (ts->resume == NULL) {
		if (cmd_check_args(self, nargs, 1, "NET.JSON") != 0)
			return NULL;
		return override_load(&ts->over, args[0], cause);
	}
	if (nargs != 0) {
		cmd_usage_error(self, "give NET.JSON or --resume FILE, not "
		    "both (the checkpoint holds its net.json)");
		return NULL;
	}
	if (ts->init != NULL) {
		cmd_usage_error(self, "give --init or --resume, not both");
		return NULL;
	}
	/* A resumed run goes on checkpointing where it was. */
	if (ts->checkpoint == NULL)
		ts->checkpoint = ts->resume;
	return train_resume_config(ts, cause);
}

/* SHA-256 of a set's rows as trained (normalised), in hex (new ref). */
static json_t *
train_rows_digest(const struct nn_data *d)
{
	char x[65], y[65], both[130];

	crypto_sha256_hex(d->x, d->n * (size_t)d->in * sizeof (float), x);
	crypto_sha256_hex(d->y, d->n * (size_t)d->out * sizeof (float), y);
	snprintf(both, sizeof both, "%s%s", x, y);
	crypto_sha256_hex(both, strlen(both), x);
	return json_pack("{s:I, s:s}", "rows", (json_int_t)d->n, "sha256", x);
}

/* What a resumed run must find again: the data as it was trained on. */
static json_t *
train_data_digest(const struct nn_prepared *prep)
{
	json_t *o = json_object();

	json_object_set_new(o, "train", train_rows_digest(prep->train));
	if (prep->test != NULL)
		json_object_set_new(o, "test", train_rows_digest(prep->test));
	return o;
}

/* --init: MODEL's weights into net, whose layers' sizes must match. */
static int
train_init_from(const char *path, const struct nn_config *cfg,
    struct nn_net *net, char **cause)
{
	const struct nn_arch *a = &cfg->arch, *m;
	struct nn_model *model;
	size_t n, nm;
	float *dst;
	int l, rc = -1;

	if ((model = nn_model_load(path, cause)) == NULL)
		return -1;
	m = nn_net_arch(model->net);
	if (m->input != a->input) {
		nn_fail(cause, "%s: input of %d, but %s's is %d (--init needs "
		    "the same layer sizes)", path, m->input, cfg->path,
		    a->input);
		goto out;
	}
	if (m->nlayers != a->nlayers) {
		nn_fail(cause, "%s: %d layers, but %s has %d (--init needs "
		    "the same layer sizes)", path, m->nlayers, cfg->path,
		    a->nlayers);
		goto out;
	}
	for (l = 0; l < a->nlayers; l++) {
		if (m->layer[l].units != a->layer[l].units) {
			nn_fail(cause, "%s: layers[%d] has %d units, but %s's "
			    "has %d (--init needs the same layer sizes)", path,
			    l, m->layer[l].units, cfg->path,
			    a->layer[l].units);
			goto out;
		}
	}
	dst = nn_net_params(net, &n);
	memcpy(dst, nn_net_params(model->net, &nm), n * sizeof (float));
	rc = 0;
out:
	nn_model_free(model);
	return rc;
}

/*
 * Where training starts: the checkpoint's parameters and trainer state
 * (the data must be the same), MODEL's weights, or net as initialised.
 * *trained counts the rows the resumed epochs saw. -1 with cause.
 */
static int
train_start_apply(struct train_start *ts, const struct nn_config *cfg,
    const struct nn_prepared *prep, struct nn_net *net,
    struct nn_trainer *tr, size_t *trained, char **cause)
{
	json_t *was;
	size_t n;
	float *params;
	int epoch;

	ts->data = train_data_digest(prep);
	if (ts->init != NULL)
		return train_init_from(ts->init, cfg, net, cause);
	if (ts->ck == NULL)
		return 0;
	was = json_object_get(ts->ck->header, "data");
	if (!json_equal(was, ts->data))
		return nn_fail(cause, "%s: the data differs from what it was "
		    "trained on (%s: data)", ts->resume, cfg->path);
	params = nn_net_params(net, &n);
	if (ts->ck->nparams != n)
		return nn_fail(cause, "%s: %zu parameters, but the network has "
		    "%zu", ts->resume, ts->ck->nparams, n);
	if (nn_trainer_restore(tr, ts->ck->state, ts->ck->state_len,
	    cause) != 0)
		return -1;
	memcpy(params, ts->ck->params, n * sizeof (float));
	epoch = (int)json_integer_value(json_object_get(ts->ck->header,
	    "epoch"));
	if (nn_trainer_done(tr))
		return nn_fail(cause, "%s: all %d epochs are done (--epochs N "
		    "trains on to N)", ts->resume, epoch);
	*trained = (size_t)epoch * prep->train->n;
	if (!ts->quiet)
		printf("resuming %s at epoch %d of %d\n", ts->resume, epoch,
		    cfg->train.epochs);
	return 0;
}

/* Whether the epoch just done ends with a checkpoint. */
static int
train_checkpoint_due(const struct train_start *ts, int epoch, int epochs)
{
	return ts->checkpoint != NULL && (epoch == epochs ||
	    epoch % (ts->every > 0 ? ts->every : 1) == 0);
}

/* Writes the checkpoint after epoch; -1 with cause. */
static int
train_checkpoint(struct train_start *ts, const struct nn_config *cfg,
    struct nn_net *net, struct nn_trainer *tr, int epoch, char **cause)
{
	struct nn_checkpoint ck;
	int rc;

	memset(&ck, 0, sizeof ck);
	ck.header = json_pack("{s:s, s:O, s:s, s:s, s:i, s:O}", "format",
	    "nnsim checkpoint", "net", cfg->root, "path", cfg->path, "dir",
	    cfg->dir != NULL ? cfg->dir : ".", "epoch", epoch, "data",
	    ts->data);
	ck.params = nn_net_params(net, &ck.nparams);
	nn_trainer_save(tr, &ck.state, &ck.state_len);
	rc = nn_checkpoint_save(&ck, ts->checkpoint, cause);
	json_decref(ck.header);
	free(ck.state);
	return rc;
}

static void
train_start_clear(struct train_start *ts)
{
	override_clear(&ts->over);
	nn_checkpoint_free(ts->ck);
	json_decref(ts->data);
}

/* The final weights' digest in the done line: runs compare bitwise. */
static void
train_params_digest(json_t *done, struct nn_net *net)
{
	const float *p;
	size_t n;
	char sha[65];

	p = nn_net_params(net, &n);
	crypto_sha256_hex(p, n * sizeof (float), sha);
	json_object_set_new(done, "params_sha256", json_string(sha));
}

/* Figure f of an epoch, or NaN when it has none. */
static double
figure_of(const struct nn_epoch_stats *st, enum nn_figure f)
{
	double v;

	return nn_epoch_figure(st, f, &v) == 0 ? v : NAN;
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
		{ "checkpoint", required_argument, NULL, TRAIN_OPT_CHECKPOINT },
		{ "every", required_argument, NULL, TRAIN_OPT_EVERY },
		{ "resume", required_argument, NULL, TRAIN_OPT_RESUME },
		{ "init", required_argument, NULL, TRAIN_OPT_INIT },
		OVERRIDE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct train_start ts = { .every = 0 };
	struct nn_config *cfg = NULL;
	struct nn_prepared prep = { 0 };
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	struct nn_model *model = NULL;
	struct nn_metrics *metrics = NULL;
	struct nn_progress *progress = NULL;
	struct nn_epoch_stats st, last, kept;
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
		default:
			if (train_start_option(&ts, self, c, optarg) < 0)
				goto out;
		}
	}
	ts.quiet = quiet;
	if ((cfg = train_start_config(&ts, self, argc - optind, argv + optind,
	    &cause)) == NULL) {
		if (cause == NULL)
			goto out;
		goto fail_input;
	}
	/* The rows of a cached set are in the daemons, not here. */
	if (cfg->train_src.format == NN_FORMAT_CACHE) {
		nn_fail(&cause, "%s: data.train: the cached set \"%s\" is read "
		    "by nnsim submit; nnsim data get %s -o FILE fetches it",
		    cfg->path, cfg->train_src.name, cfg->train_src.name);
		goto fail_input;
	}
	if (output == NULL)
		output = xasprintf("%s.nnm", cfg->name);
	/* A model that cannot be written is refused before any epoch. */
	if (nn_output_check(output, force, &cause) != 0)
		goto fail_input;
	if (nn_prepare(cfg, NULL, 0, &prep, &cause) != 0)
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
	nn_trainer_set_validation(tr, prep.val);
	if (train_start_apply(&ts, cfg, &prep, net, tr, &trained,
	    &cause) != 0)
		goto fail_input;
	progress = nn_progress_new(stdout, isatty(STDOUT_FILENO), quiet,
	    cfg->train.epochs, prep.train->n);
	memset(&last, 0, sizeof last);
	memset(&kept, 0, sizeof kept);
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
		if (st.best_epoch == st.epoch)
			kept = st;
		nn_progress_epoch(progress, &st);
		obj = nn_metrics_epoch_json(&st);
		if (nn_metrics_write(metrics, obj, &cause) != 0) {
			rc = EXIT_FAILED;
			goto fail;
		}
		json_decref(obj);
		obj = NULL;
		if (train_checkpoint_due(&ts, st.epoch, cfg->train.epochs) &&
		    train_checkpoint(&ts, cfg, net, tr, st.epoch, &cause) != 0) {
			rc = EXIT_FAILED;
			goto fail;
		}
	}
	nn_progress_free(progress);
	progress = NULL;
	if (nn_trainer_diverged(tr, &cause)) {
		rc = EXIT_FAILED;
		goto fail;
	}
	/* restore_best put the best epoch's parameters back. */
	if (!cfg->train.stop.restore_best || kept.epoch == 0)
		kept = last;
	kept.best_epoch = last.best_epoch;
	obj = done_json(&kept, last.epoch, last.elapsed_s, trained, output);
	if (last.stopped)
		json_object_set_new(obj, "stopped_early", json_true());
	figures = cmd_model_figures(obj);
	train_params_digest(obj, net);
	model = nn_prepare_model(cfg, &prep, net, figures);
	net = NULL;
	if (nn_model_save(model, output, &cause) != 0 ||
	    cmd_metrics_done(&metrics, obj, &cause) != 0) {
		metrics = NULL;
		rc = EXIT_FAILED;
		goto fail;
	}
	if (!quiet) {
		if (kept.has_test && kept.has_accuracy)
			snprintf(line, sizeof line, ", test_accuracy %.4f",
			    kept.test_accuracy);
		else if (kept.has_test)
			snprintf(line, sizeof line, ", test_loss %.6f",
			    kept.test_loss);
		else
			line[0] = '\0';
		printf("done: %d epochs in %.1fs%s, model %s\n", last.epoch,
		    last.elapsed_s, line, output);
		if (last.best_epoch > 0)
			printf("early stopping: %s, best %s %.6g in epoch %d%s\n",
			    last.stopped ? "stopped" : "ran every epoch",
			    nn_figure_name(cfg->train.stop.monitor),
			    figure_of(&kept, cfg->train.stop.monitor),
			    last.best_epoch, cfg->train.stop.restore_best ?
			    " (the model holds that epoch's parameters)" :
			    "");
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
	train_start_clear(&ts);
	free(output);
	free(cause);
	return rc;
}
