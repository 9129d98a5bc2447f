/*
 * A trainer saved mid-run and restored into a fresh net and trainer must
 * end with the same bits as a run that never stopped; a state that does
 * not fit must be refused and leave the trainer as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "data/data.h"
#include "nn/blas.h"
#include "nn/net.h"
#include "nn/train.h"
#include "unit.h"

#define ROWS		100
#define TEST_ROWS	30
#define INPUTS		4
#define CLASSES		3
#define BATCH		8	/* 13 steps an epoch, the last of 4 rows */
#define NET_BATCH	16	/* rprop's full batch goes in 7 chunks */
#define EPOCHS		3
#define MINI_STOP	20	/* epoch 1 and 7 steps of epoch 2 */
#define SLEEP_S		0.05
#define ORDER_OFF	112	/* order[] follows train.c's fixed header */

/* The shared fixtures (unit.h) at this file's sizes. */
#define BLOBS(n, seed)	unit_blobs((n), INPUTS, CLASSES, (seed))
#define NET(seed)	unit_small_net(INPUTS, CLASSES, NET_BATCH, (seed))

static void
spec_for(enum nn_optim_type type, struct nn_train_spec *s)
{
	memset(s, 0, sizeof *s);
	s->epochs = EPOCHS;
	s->batch = BATCH;
	s->seed = 5;
	s->shuffle = 1;
	nn_optim_spec_default(&s->optim, type);
	s->optim.weight_decay = 1e-4f;
	if (type == NN_OPTIM_SGD) {
		s->optim.lr = 0.05f;
		s->optim.momentum = 0.9f;
	} else if (type == NN_OPTIM_ADAM)
		s->optim.lr = 0.01f;
}

/* Runs tr for up to steps steps, keeping each finished epoch's stats. */
static void
run_steps(struct nn_trainer *tr, int steps, struct nn_epoch_stats *st)
{
	struct nn_epoch_stats one;
	int i, r;

	for (i = 0; steps < 0 || i < steps; i++) {
		if ((r = nn_trainer_step(tr, &one)) < 0)
			break;
		if (r == 1)
			st[one.epoch - 1] = one;
	}
}

/* Final parameters of an uninterrupted run; caller frees. */
static float *
run_whole(const struct nn_train_spec *spec, const struct nn_data *train,
    const struct nn_data *test, struct nn_epoch_stats *st)
{
	struct nn_net *net = NET(3);
	struct nn_trainer *tr = nn_trainer_new(net, spec, train, test);
	float *p;
	size_t n;

	run_steps(tr, -1, st);
	p = nn_net_params(net, &n);
	p = memcpy(xreallocarray(NULL, n, sizeof *p), p, n * sizeof *p);
	nn_trainer_free(tr);
	nn_net_free(net);
	return p;
}

static void
sleep_s(double s)
{
	struct timespec ts = { 0, (long)(s * 1e9) };

	nanosleep(&ts, NULL);
}

/* Whole run against one saved after stop steps and restored elsewhere. */
static void
resume(enum nn_optim_type type, int stop)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *test = BLOBS(TEST_ROWS, 2);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS];
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	float *ref = NULL, *saved = NULL, *p;
	unsigned char *state = NULL;
	size_t len, n;
	char *cause = NULL;
	int e;

	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(type, &spec);
	ref = run_whole(&spec, train, test, want);

	net = NET(3);
	tr = nn_trainer_new(net, &spec, train, test);
	run_steps(tr, stop, got);
	CHECK(!nn_trainer_done(tr));
	/* The time spent so far must count after the move. */
	sleep_s(SLEEP_S);
	nn_trainer_save(tr, &state, &len);
	p = nn_net_params(net, &n);
	saved = memcpy(xreallocarray(NULL, n, sizeof *p), p, n * sizeof *p);
	nn_trainer_free(tr);
	nn_net_free(net);

	/* Other weights, so only the copy makes them right. */
	net = NET(99);
	memcpy(nn_net_params(net, NULL), saved, n * sizeof *saved);
	tr = nn_trainer_new(net, &spec, train, test);
	CHECKF(nn_trainer_restore(tr, state, len, &cause) == 0, "%s", cause);
	run_steps(tr, -1, got);
	CHECK(nn_trainer_done(tr));

	CHECK(memcmp(nn_net_params(net, NULL), ref, n * sizeof *ref) == 0);
	for (e = 0; e < EPOCHS; e++) {
		CHECKF(got[e].epoch == e + 1, "epoch %d: %d", e + 1,
		    got[e].epoch);
		CHECKF(got[e].loss == want[e].loss, "epoch %d loss %.17g, "
		    "expected %.17g", e + 1, got[e].loss, want[e].loss);
		CHECK(got[e].accuracy == want[e].accuracy);
		CHECK(got[e].test_loss == want[e].test_loss);
		CHECK(got[e].test_accuracy == want[e].test_accuracy);
	}
	CHECKF(got[EPOCHS - 1].elapsed_s >= SLEEP_S, "elapsed %g s",
	    got[EPOCHS - 1].elapsed_s);
end:
	free(cause);
	free(state);
	free(saved);
	free(ref);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
	nn_data_free(test);
}

static void
test_resume_sgd(void)
{
	resume(NN_OPTIM_SGD, MINI_STOP);
}

static void
test_resume_adam(void)
{
	resume(NN_OPTIM_ADAM, MINI_STOP);
}

/* Each rprop step is a whole epoch: stop between epochs 2 and 3. */
static void
test_resume_rprop(void)
{
	resume(NN_OPTIM_RPROP, 2);
}

/* A trainer of spec's type on train, stepped steps times. */
static struct nn_trainer *
stepped(struct nn_net *net, enum nn_optim_type type,
    const struct nn_data *train, int steps)
{
	struct nn_train_spec spec;
	struct nn_trainer *tr;
	struct nn_epoch_stats st[EPOCHS];

	spec_for(type, &spec);
	tr = nn_trainer_new(net, &spec, train, NULL);
	run_steps(tr, steps, st);
	return tr;
}

static void
test_refuse(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *big = BLOBS(ROWS + 20, 1);
	struct nn_epoch_stats want[EPOCHS], st[EPOCHS];
	struct nn_net *net = NULL, *other = NULL;
	struct nn_trainer *tr = NULL, *o = NULL;
	unsigned char *state = NULL, *bad = NULL;
	float *ref = NULL;
	size_t len, blen, n, done[2], total;
	double loss[2], acc[2];
	int epoch[2];

	spec_for(NN_OPTIM_SGD, &spec);
	ref = run_whole(&spec, train, NULL, want);
	net = NET(3);
	tr = stepped(net, NN_OPTIM_SGD, train, MINI_STOP);
	nn_trainer_position(tr, &epoch[0], &done[0], &total, &loss[0],
	    &acc[0]);

	/* Every bad state below differs from tr's, so a partial restore shows. */
	other = NET(3);
	o = stepped(other, NN_OPTIM_SGD, train, 3);
	nn_trainer_save(o, &state, &len);
	CHECK(unit_restore_refused(tr, state, len - 1, "bytes"));
	CHECK(unit_restore_refused(tr, state, 10, "header"));
	CHECK(unit_restore_refused(tr, state, 0, "header"));
	bad = memcpy(xmalloc(len), state, len);
	bad[0] ^= 0xff;
	CHECK(unit_restore_refused(tr, bad, len, "magic"));
	memcpy(bad, state, len);
	bad[4] = 7;
	CHECK(unit_restore_refused(tr, bad, len, "version"));
	/* A repeated row, found only after the header checks pass. */
	memcpy(bad, state, len);
	memcpy(bad + ORDER_OFF + 4 * (ROWS - 1), bad + ORDER_OFF, 4);
	CHECK(unit_restore_refused(tr, bad, len, "permutation"));
	memcpy(bad, state, len);
	bad[ORDER_OFF] = ROWS;
	bad[ORDER_OFF + 1] = bad[ORDER_OFF + 2] = bad[ORDER_OFF + 3] = 0;
	CHECK(unit_restore_refused(tr, bad, len, "order[0] = 100"));
	nn_trainer_free(o);
	o = NULL;
	free(state);
	state = NULL;

	/* A different training set size. */
	o = stepped(other, NN_OPTIM_SGD, big, 3);
	nn_trainer_save(o, &state, &len);
	CHECK(unit_restore_refused(tr, state, len, "120 rows, expected 100"));
	nn_trainer_free(o);
	o = NULL;
	free(state);
	state = NULL;

	/* The optimizer is checked last, after the trainer's own fields. */
	o = stepped(other, NN_OPTIM_ADAM, train, 3);
	nn_trainer_save(o, &state, &len);
	CHECK(unit_restore_refused(tr, state, len, "optimizer adam, expected sgd"));

	nn_trainer_position(tr, &epoch[1], &done[1], &total, &loss[1],
	    &acc[1]);
	CHECK(epoch[0] == epoch[1] && done[0] == done[1]);
	CHECK(loss[0] == loss[1] && acc[0] == acc[1]);
	run_steps(tr, -1, st);
	nn_net_params(net, &n);
	CHECK(memcmp(nn_net_params(net, NULL), ref, n * sizeof *ref) == 0);
	CHECK(st[EPOCHS - 1].loss == want[EPOCHS - 1].loss);

	/* And the good state of the same size still goes in. */
	free(state);
	nn_trainer_free(o);
	o = stepped(other, NN_OPTIM_SGD, train, 3);
	nn_trainer_save(o, &state, &blen);
	CHECK(nn_trainer_restore(tr, state, blen, NULL) == 0);
	CHECK(!nn_trainer_done(tr));
end:
	free(bad);
	free(state);
	free(ref);
	nn_trainer_free(o);
	nn_trainer_free(tr);
	nn_net_free(other);
	nn_net_free(net);
	nn_data_free(train);
	nn_data_free(big);
}

static const struct unit_test tests[] = {
	{ "resume_sgd", test_resume_sgd },
	{ "resume_adam", test_resume_adam },
	{ "resume_rprop", test_resume_rprop },
	{ "refuse", test_refuse },
	{ NULL, NULL },
};

static void __attribute__((constructor))
setup(void)
{
	unit_blas_init();
}

UNIT_MAIN("train_resume", tests)
