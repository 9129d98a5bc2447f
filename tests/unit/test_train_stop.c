/*
 * Early stopping and divergence in the trainer: a run stops after patience
 * epochs without improvement, restore_best leaves the best epoch's
 * parameters, the stopping state survives nn_trainer_save/restore (a moved
 * session agent), and a loss that is not finite ends the run with the
 * epoch and step named.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/data.h"
#include "nn/net.h"
#include "nn/train.h"
#include "unit.h"

#define ROWS		100
#define VAL_FRACTION	0.3
#define INPUTS		4
#define CLASSES		3
#define BATCH		10
#define NET_BATCH	16
#define EPOCHS		200
#define SAVE_AT		37	/* steps: inside epoch 6 of about 12 */

#define BLOBS(n, seed)	unit_blobs((n), INPUTS, CLASSES, (seed))
#define NET(seed)	unit_small_net(INPUTS, CLASSES, NET_BATCH, (seed))

/* Adam that overfits quickly, watched on val_loss with a large min_delta,
 * so that it stops well before EPOCHS. */
static void
spec_stop(struct nn_train_spec *s, int restore_best)
{
	memset(s, 0, sizeof *s);
	s->epochs = EPOCHS;
	s->batch = BATCH;
	s->seed = 7;
	s->shuffle = 1;
	nn_optim_spec_default(&s->optim, NN_OPTIM_ADAM);
	s->optim.lr = 0.02f;
	s->stop.on = 1;
	s->stop.monitor = NN_FIG_VAL_LOSS;
	s->stop.patience = 2;
	s->stop.min_delta = 0.01;
	s->stop.restore_best = restore_best;
}

/* Validation rows from the same clusters as the training rows. */
static struct nn_data *
held_out(struct nn_data *train)
{
	struct nn_data *val = nn_data_split(train, VAL_FRACTION, 9, NULL);

	if (val == NULL)
		abort();
	return val;
}

static float *
params_copy(struct nn_net *net, size_t *n)
{
	float *p = nn_net_params(net, n);

	return memcpy(xreallocarray(NULL, *n, sizeof *p), p, *n * sizeof *p);
}

/*
 * Runs to the end; *last gets the last epoch's stats and, when best is
 * not NULL, the parameters at the end of each epoch up to EPOCHS go there.
 */
static void
run_all(struct nn_trainer *tr, struct nn_net *net, struct nn_epoch_stats *last,
    float *best_params, int want_epoch)
{
	struct nn_epoch_stats st;
	const float *p;
	size_t n;
	int r;

	while ((r = nn_trainer_step(tr, &st)) >= 0) {
		if (r != 1)
			continue;
		*last = st;
		if (best_params != NULL && st.epoch == want_epoch &&
		    !nn_trainer_done(tr)) {
			p = nn_net_params(net, &n);
			memcpy(best_params, p, n * sizeof (float));
		}
	}
}

static void
test_stops(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *val = held_out(train);
	struct nn_net *net = NET(3);
	struct nn_trainer *tr = NULL;
	struct nn_epoch_stats last;
	float *at_best = NULL, *p = NULL;
	size_t n;
	int best;

	memset(&last, 0, sizeof last);
	spec_stop(&spec, 1);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	run_all(tr, net, &last, NULL, 0);
	best = last.best_epoch;
	CHECKF(last.stopped && last.epoch < EPOCHS, "ran %d epochs, stopped "
	    "%d", last.epoch, last.stopped);
	CHECK(last.has_val && last.val_loss > 0);
	CHECKF(best > 0 && last.epoch - best == spec.stop.patience,
	    "best %d, last %d", best, last.epoch);
	CHECK(nn_trainer_done(tr) && nn_trainer_best_epoch(tr) == best);

	/* Again, keeping the best epoch's parameters as they were then. */
	nn_trainer_free(tr);
	nn_net_free(net);
	net = NET(3);
	p = params_copy(net, &n);
	at_best = xreallocarray(NULL, n, sizeof *at_best);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	run_all(tr, net, &last, at_best, best);
	CHECK(memcmp(nn_net_params(net, NULL), at_best, n * sizeof *p) == 0);
	/* Without restore_best the last epoch's parameters stay. */
	nn_trainer_free(tr);
	nn_net_free(net);
	net = NET(3);
	spec_stop(&spec, 0);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	run_all(tr, net, &last, NULL, 0);
	CHECK(last.best_epoch == best);
	CHECK(memcmp(nn_net_params(net, NULL), at_best, n * sizeof *p) != 0);
end:
	free(p);
	free(at_best);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
	nn_data_free(val);
}

/* Saved mid-run and restored elsewhere: the same stop, bit for bit. */
static void
test_resume(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *val = held_out(train);
	struct nn_net *net = NET(3);
	struct nn_trainer *tr = NULL;
	struct nn_epoch_stats want, got, st;
	float *ref = NULL, *saved = NULL;
	unsigned char *state = NULL;
	char *cause = NULL;
	size_t len, n;
	int i;

	memset(&want, 0, sizeof want);
	memset(&got, 0, sizeof got);
	spec_stop(&spec, 1);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	run_all(tr, net, &want, NULL, 0);
	ref = params_copy(net, &n);
	nn_trainer_free(tr);
	nn_net_free(net);

	net = NET(3);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	for (i = 0; i < SAVE_AT; i++)
		CHECK(nn_trainer_step(tr, &st) >= 0);
	CHECK(nn_trainer_best_epoch(tr) > 0);
	nn_trainer_save(tr, &state, &len);
	saved = params_copy(net, &n);
	nn_trainer_free(tr);
	nn_net_free(net);

	net = NET(99);
	memcpy(nn_net_params(net, NULL), saved, n * sizeof *saved);
	tr = nn_trainer_new(net, &spec, train, NULL);
	nn_trainer_set_validation(tr, val);
	CHECKF(nn_trainer_restore(tr, state, len, &cause) == 0, "%s", cause);
	run_all(tr, net, &got, NULL, 0);
	CHECK(got.epoch == want.epoch && got.stopped);
	CHECK(got.best_epoch == want.best_epoch);
	CHECK(memcmp(nn_net_params(net, NULL), ref, n * sizeof *ref) == 0);

	/* A state from a run without early stopping does not fit. */
	nn_trainer_free(tr);
	spec.stop.on = 0;
	tr = nn_trainer_new(net, &spec, train, NULL);
	CHECK(nn_trainer_restore(tr, state, len, &cause) == -1);
	/* Nor one whose stopping section is damaged. */
	nn_trainer_free(tr);
	spec.stop.on = 1;
	tr = nn_trainer_new(net, &spec, train, NULL);
	state[len - n * 4 - 24] ^= 0xff;
	free(cause);
	cause = NULL;
	CHECK(nn_trainer_restore(tr, state, len, &cause) == -1);
	CHECKF(cause != NULL && strstr(cause, "early stopping") != NULL, "%s",
	    cause);
end:
	free(cause);
	free(state);
	free(saved);
	free(ref);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
	nn_data_free(val);
}

/* A learning rate far too high: stopped at the step, named. */
static void
test_diverge(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct nn_net *net = NET(3);
	struct nn_trainer *tr = NULL;
	struct nn_epoch_stats last;
	char *cause = NULL;

	memset(&last, 0, sizeof last);
	memset(&spec, 0, sizeof spec);
	spec.epochs = EPOCHS;
	spec.batch = BATCH;
	spec.seed = 1;
	nn_optim_spec_default(&spec.optim, NN_OPTIM_SGD);
	spec.optim.lr = 3e38f;
	tr = nn_trainer_new(net, &spec, train, NULL);
	CHECK(nn_trainer_diverged(tr, &cause) == 0 && cause == NULL);
	run_all(tr, net, &last, NULL, 0);
	CHECK(nn_trainer_done(tr) && last.epoch < EPOCHS);
	CHECK(nn_trainer_diverged(tr, &cause) == 1);
	CHECKF(cause != NULL && strncmp(cause, "training diverged in epoch ",
	    27) == 0 && strstr(cause, ", step ") != NULL &&
	    strstr(cause, "lower the learning rate") != NULL &&
	    strchr(cause, '\n') == NULL, "%s", cause);
	/* Once diverged, no step runs. */
	CHECK(nn_trainer_step(tr, &last) == -1);
end:
	free(cause);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
}

static const struct unit_test tests[] = {
	{ "stops", test_stops },
	{ "resume", test_resume },
	{ "diverge", test_diverge },
	{ NULL, NULL },
};

static void __attribute__((constructor))
setup(void)
{
	unit_blas_init();
}

UNIT_MAIN("train_stop", tests)
