/*
 * Data-parallel schedule: one trainer with N shards and N partition
 * trainers whose summed gradients drive them must train the same network,
 * a partition must move mid-epoch without changing a bit, and net.json's
 * data mode must parse into the shards.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/data.h"
#include "dist/job.h"
#include "nn/blas.h"
#include "nn/config.h"
#include "nn/net.h"
#include "nn/train.h"
#include "unit.h"

#define ROWS		101	/* divisible by none of the shards or batch */
#define TEST_ROWS	30
#define INPUTS		4
#define CLASSES		3
#define BATCH		7	/* 3 shards: 3 + 2 + 2 rows a step */
#define NET_BATCH	16
#define EPOCHS		3
#define MAX_SHARDS	3

/* The shared fixtures (unit.h) at this file's sizes. */
#define BLOBS(n, seed)	unit_blobs((n), INPUTS, CLASSES, (seed))
#define NET(seed)	unit_small_net(INPUTS, CLASSES, NET_BATCH, (seed))

/*
 * Set by the schedule tests: plateau (cutting after epoch 2) behind a
 * one-epoch warmup, clipping, adamw's decay and dropout on the hidden
 * layer, so that every rate and mask must agree across partitions.
 */
static int extras;

/* NET, with dropout when extras asks for it. */
static struct nn_net *
net_for(uint64_t seed)
{
	struct nn_net *net = NET(seed), *drop;
	struct nn_arch a;

	if (!extras)
		return net;
	a = *nn_net_arch(net);
	a.layer[0].dropout = 0.25f;
	drop = nn_net_new(&a, NET_BATCH);
	nn_net_init(drop, seed);
	nn_net_free(net);
	return drop;
}

static void
spec_for(enum nn_optim_type type, int shards, int shuffle,
    struct nn_train_spec *s)
{
	memset(s, 0, sizeof *s);
	s->epochs = EPOCHS;
	s->batch = BATCH;
	s->seed = 5;
	s->shuffle = shuffle;
	s->shards = shards;
	nn_optim_spec_default(&s->optim, type);
	s->optim.weight_decay = 1e-4f;
	if (type == NN_OPTIM_SGD) {
		s->optim.lr = 0.05f;
		s->optim.momentum = 0.9f;
	} else if (type == NN_OPTIM_ADAM || type == NN_OPTIM_ADAMW)
		s->optim.lr = 0.01f;
	if (!extras)
		return;
	nn_schedule_spec_default(&s->schedule, NN_SCHED_PLATEAU);
	s->schedule.warmup = 1;
	s->schedule.patience = 0;
	s->schedule.factor = 0.5f;
	s->schedule.threshold = 0.9f;	/* only epoch 1 counts as a gain */
	s->optim.clip_norm = 0.5f;
	if (type == NN_OPTIM_ADAMW)
		s->optim.weight_decay = 0.05f;
}

/* a and b agree to within rel of the larger. */
static int
close_to(double a, double b, double rel)
{
	return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

/* N partitions of one run: shards, nets and trainers. */
struct parts {
	int			 n;
	struct nn_data		*shard[MAX_SHARDS];
	struct nn_net		*net[MAX_SHARDS];
	struct nn_trainer	*tr[MAX_SHARDS];
	float			*sum;	/* the all-reduce's buffer */
};

static void
parts_new(struct parts *p, const struct nn_train_spec *spec,
    const struct nn_data *train, const struct nn_data *test)
{
	size_t n;
	int i;

	memset(p, 0, sizeof *p);
	p->n = spec->shards;
	for (i = 0; i < p->n; i++) {
		p->shard[i] = nn_data_shard(train, i, p->n);
		p->net[i] = net_for(3);
		/* Only partition 0 evaluates, as in the agents. */
		p->tr[i] = nn_trainer_new_part(p->net[i], spec, p->shard[i],
		    i == 0 ? test : NULL, i, train->n);
	}
	nn_net_params(p->net[0], &n);
	p->sum = xreallocarray(NULL, n, sizeof *p->sum);
}

static void
parts_free(struct parts *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		nn_trainer_free(p->tr[i]);
		nn_net_free(p->net[i]);
		nn_data_free(p->shard[i]);
	}
	free(p->sum);
	memset(p, 0, sizeof *p);
}

/*
 * One step of every partition with the sums in partition order, as an
 * all-reduce would give them. Returns what part_apply returned (1 at an
 * epoch's end with st filled from partition 0) or -1 when done; *rows
 * gets the rows of the global batch.
 */
static int
parts_step(struct parts *p, struct nn_epoch_stats *st, size_t *rows)
{
	struct nn_epoch_stats one;
	double sums[MAX_SHARDS][2], total[2] = { 0, 0 };
	float *g;
	size_t n, k;
	int i, r, rc = 0;

	*rows = 0;
	for (i = 0; i < p->n; i++) {
		if ((r = nn_trainer_part_grad(p->tr[i], sums[i])) < 0)
			return -1;
		*rows += (size_t)r;
		g = nn_net_grads(p->net[i], &n);
		for (k = 0; k < n; k++)
			p->sum[k] = i == 0 ? g[k] : p->sum[k] + g[k];
		total[0] += sums[i][0];
		total[1] += sums[i][1];
	}
	for (i = 0; i < p->n; i++) {
		g = nn_net_grads(p->net[i], &n);
		memcpy(g, p->sum, n * sizeof *g);
		r = nn_trainer_part_apply(p->tr[i], total, &one);
		if (i == 0) {
			rc = r;
			if (r == 1)
				*st = one;
		} else if (r != rc)
			fatal("partition %d ended an epoch alone", i);
	}
	return rc;
}

/* Every partition's parameters are the same bits. */
static int
parts_agree(struct parts *p)
{
	size_t n;
	int i;

	nn_net_params(p->net[0], &n);
	for (i = 1; i < p->n; i++) {
		if (memcmp(nn_net_params(p->net[0], NULL),
		    nn_net_params(p->net[i], NULL), n * sizeof (float)) != 0)
			return 0;
	}
	return 1;
}

/* Runs tr to the end, keeping each epoch's stats. */
static void
run_single(struct nn_trainer *tr, struct nn_epoch_stats *st)
{
	struct nn_epoch_stats one;
	int r;

	while ((r = nn_trainer_step(tr, &one)) >= 0) {
		if (r == 1)
			st[one.epoch - 1] = one;
	}
}

/* Runs p to the end, or for steps steps when steps >= 0. */
static void
run_parts(struct parts *p, int steps, struct nn_epoch_stats *st)
{
	struct nn_epoch_stats one;
	size_t rows;
	int i, r;

	for (i = 0; steps < 0 || i < steps; i++) {
		if ((r = parts_step(p, &one, &rows)) < 0)
			break;
		if (r == 1)
			st[one.epoch - 1] = one;
	}
}

/* With one shard, a partition is plain training. */
static void
one_part(enum nn_optim_type type)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS];
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	struct parts p;
	const float *a, *b;
	size_t n, k;
	int e;

	memset(&p, 0, sizeof p);
	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(type, 1, 1, &spec);
	spec.epochs = 2;
	net = net_for(3);
	tr = nn_trainer_new(net, &spec, train, NULL);
	run_single(tr, want);
	parts_new(&p, &spec, train, NULL);
	run_parts(&p, -1, got);
	CHECK(nn_trainer_done(p.tr[0]));

	a = nn_net_params(net, &n);
	b = nn_net_params(p.net[0], NULL);
	for (k = 0; k < n; k++)
		CHECKF(close_to(a[k], b[k], 1e-6), "param %zu: %.9g and %.9g",
		    k, a[k], b[k]);
	for (e = 0; e < 2; e++) {
		CHECK(got[e].epoch == e + 1);
		CHECKF(close_to(got[e].loss, want[e].loss, 1e-6),
		    "epoch %d: loss %.17g, expected %.17g", e + 1,
		    got[e].loss, want[e].loss);
		CHECK(got[e].accuracy == want[e].accuracy);
	}
end:
	parts_free(&p);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
}

static void
test_one_part_sgd(void)
{
	one_part(NN_OPTIM_SGD);
}

static void
test_one_part_adam(void)
{
	one_part(NN_OPTIM_ADAM);
}

/*
 * N shards in one process and N partitions summing by hand: the same
 * schedule, so the same network up to the grouping of the sums.
 */
static void
shards_match(enum nn_optim_type type, int nshards, int shuffle)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *test = BLOBS(TEST_ROWS, 2);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS], one;
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	struct parts p;
	const float *a, *b;
	float *g1 = NULL;
	double s1[2], s2[2];
	size_t n, k, rows, seen = 0, done, total;
	double loss, acc;
	int e, r, epoch, steps = 0, empty = 0;

	memset(&p, 0, sizeof p);
	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(type, nshards, shuffle, &spec);
	net = net_for(3);
	tr = nn_trainer_new(net, &spec, train, test);
	run_single(tr, want);
	parts_new(&p, &spec, train, test);

	nn_net_params(net, &n);
	while ((r = parts_step(&p, &one, &rows)) >= 0) {
		CHECK(rows > 0 && rows <= (type == NN_OPTIM_RPROP ? ROWS :
		    BATCH));
		seen += rows;
		steps++;
		if (r == 1) {
			got[one.epoch - 1] = one;
			CHECKF(seen == ROWS, "epoch %d: %zu rows", one.epoch,
			    seen);
			seen = 0;
			continue;
		}
		nn_trainer_position(p.tr[1], &epoch, &done, &total, &loss,
		    &acc);
		CHECK(done == seen && total == ROWS);

		/* Asked again, a partition gives the same step. */
		r = nn_trainer_part_grad(p.tr[1], s1);
		g1 = memcpy(xreallocarray(g1, n, sizeof *g1),
		    nn_net_grads(p.net[1], NULL), n * sizeof *g1);
		CHECK(nn_trainer_part_grad(p.tr[1], s2) == r);
		CHECK(memcmp(s1, s2, sizeof s1) == 0);
		CHECK(memcmp(g1, nn_net_grads(p.net[1], NULL),
		    n * sizeof *g1) == 0);
		if (nn_trainer_part_grad(p.tr[0], s1) == 0)
			empty++;
	}
	CHECK(parts_agree(&p));
	CHECK(nn_trainer_done(p.tr[0]));
	/* 3 shards of 34, 34, 33 rows at 3, 2, 2 a step: shard 0 idles. */
	if (nshards == 3 && type != NN_OPTIM_RPROP)
		CHECKF(steps == 17 * EPOCHS && empty > 0, "%d steps, %d empty",
		    steps, empty);

	a = nn_net_params(net, NULL);
	b = nn_net_params(p.net[0], NULL);
	for (k = 0; k < n; k++)
		CHECKF(close_to(a[k], b[k], 1e-5), "param %zu: %.9g and %.9g",
		    k, a[k], b[k]);
	for (e = 0; e < EPOCHS; e++) {
		CHECK(got[e].epoch == e + 1);
		CHECKF(close_to(got[e].loss, want[e].loss, 1e-6),
		    "epoch %d: loss %.17g, expected %.17g", e + 1,
		    got[e].loss, want[e].loss);
		CHECK(got[e].accuracy == want[e].accuracy);
		CHECK(got[e].has_test && want[e].has_test);
		CHECK(close_to(got[e].test_loss, want[e].test_loss, 1e-5));
	}
end:
	free(g1);
	parts_free(&p);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
	nn_data_free(test);
}

static void
test_shards_sgd(void)
{
	shards_match(NN_OPTIM_SGD, 2, 1);
	shards_match(NN_OPTIM_SGD, 3, 1);
}

static void
test_shards_adam(void)
{
	shards_match(NN_OPTIM_ADAM, 2, 1);
	shards_match(NN_OPTIM_ADAM, 3, 1);
}

static void
test_shards_unshuffled(void)
{
	shards_match(NN_OPTIM_SGD, 3, 0);
}

/* rprop: every partition's rows, one step an epoch. */
static void
test_shards_rprop(void)
{
	shards_match(NN_OPTIM_RPROP, 3, 1);
}

/* Shards in one process differ from plain training, but not by chance. */
static void
test_shards_differ(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct nn_epoch_stats st[2][EPOCHS];
	struct nn_net *net[2] = { NULL, NULL };
	struct nn_trainer *tr[2] = { NULL, NULL };
	size_t n;
	int i;

	for (i = 0; i < 2; i++) {
		spec_for(NN_OPTIM_SGD, i + 1, 1, &spec);
		net[i] = net_for(3);
		tr[i] = nn_trainer_new(net[i], &spec, train, NULL);
		run_single(tr[i], st[i]);
	}
	nn_net_params(net[0], &n);
	CHECK(memcmp(nn_net_params(net[0], NULL), nn_net_params(net[1], NULL),
	    n * sizeof (float)) != 0);
end:
	for (i = 0; i < 2; i++) {
		nn_trainer_free(tr[i]);
		nn_net_free(net[i]);
	}
	nn_data_free(train);
}

/* Partitions saved mid-epoch and restored elsewhere end with the same bits. */
static void
part_resume(enum nn_optim_type type, int stop)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *test = BLOBS(TEST_ROWS, 2);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS];
	struct parts ref, p;
	unsigned char *state[MAX_SHARDS];
	float *saved[MAX_SHARDS];
	size_t len[MAX_SHARDS], n;
	char *cause = NULL;
	int i, e;

	memset(&ref, 0, sizeof ref);
	memset(&p, 0, sizeof p);
	memset(state, 0, sizeof state);
	memset(saved, 0, sizeof saved);
	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(type, 3, 1, &spec);
	parts_new(&ref, &spec, train, test);
	run_parts(&ref, -1, want);

	parts_new(&p, &spec, train, test);
	run_parts(&p, stop, got);
	CHECK(!nn_trainer_done(p.tr[0]));
	/* A partition that moves after its gradient redoes the step. */
	nn_trainer_part_grad(p.tr[2], (double [2]){ 0, 0 });
	for (i = 0; i < p.n; i++) {
		nn_trainer_save(p.tr[i], &state[i], &len[i]);
		nn_net_params(p.net[i], &n);
		saved[i] = memcpy(xreallocarray(NULL, n, sizeof (float)),
		    nn_net_params(p.net[i], NULL), n * sizeof (float));
	}
	parts_free(&p);

	parts_new(&p, &spec, train, test);
	for (i = 0; i < p.n; i++) {
		/* Other weights, so only the copy makes them right. */
		nn_net_init(p.net[i], 99);
		memcpy(nn_net_params(p.net[i], NULL), saved[i],
		    n * sizeof (float));
		CHECKF(nn_trainer_restore(p.tr[i], state[i], len[i],
		    &cause) == 0, "partition %d: %s", i, cause);
	}
	run_parts(&p, -1, got);
	CHECK(nn_trainer_done(p.tr[0]));
	CHECK(parts_agree(&p));
	CHECK(memcmp(nn_net_params(p.net[0], NULL),
	    nn_net_params(ref.net[0], NULL), n * sizeof (float)) == 0);
	for (e = 0; e < EPOCHS; e++) {
		CHECK(got[e].epoch == e + 1);
		CHECK(got[e].loss == want[e].loss);
		CHECK(got[e].accuracy == want[e].accuracy);
		CHECK(got[e].test_loss == want[e].test_loss);
	}

	/* Another partition's state has other rows. */
	CHECK(unit_restore_refused(p.tr[2], state[0], len[0], "34 rows, expected 33"));
end:
	for (i = 0; i < MAX_SHARDS; i++) {
		free(state[i]);
		free(saved[i]);
	}
	free(cause);
	parts_free(&ref);
	parts_free(&p);
	nn_data_free(train);
	nn_data_free(test);
}

static void
test_part_resume_sgd(void)
{
	part_resume(NN_OPTIM_SGD, 17 + 13);	/* epoch 1 and shard 0 idle */
}

static void
test_part_resume_adam(void)
{
	part_resume(NN_OPTIM_ADAM, 17 + 5);
}

/*
 * A partition lost with its host is rebuilt from another's state: rank
 * lost gets from's weights and trainer state (nn_trainer_adopt) and its
 * own shard, and the run ends bitwise as if nothing happened.
 */
static void
part_rebuild(enum nn_optim_type type, int stop, int lost, int from)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1), *test = BLOBS(TEST_ROWS, 2);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS];
	struct parts ref, p;
	unsigned char *state[MAX_SHARDS];
	float *saved[MAX_SHARDS];
	size_t len[MAX_SHARDS], n;
	char *cause = NULL;
	int i, e;

	memset(&ref, 0, sizeof ref);
	memset(&p, 0, sizeof p);
	memset(state, 0, sizeof state);
	memset(saved, 0, sizeof saved);
	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(type, 3, 1, &spec);
	parts_new(&ref, &spec, train, test);
	run_parts(&ref, -1, want);

	parts_new(&p, &spec, train, test);
	run_parts(&p, stop, got);
	for (i = 0; i < p.n; i++) {
		nn_trainer_save(p.tr[i], &state[i], &len[i]);
		nn_net_params(p.net[i], &n);
		saved[i] = memcpy(xreallocarray(NULL, n, sizeof (float)),
		    nn_net_params(p.net[i], NULL), n * sizeof (float));
	}
	parts_free(&p);

	parts_new(&p, &spec, train, test);
	for (i = 0; i < p.n; i++) {
		nn_net_init(p.net[i], 99);
		memcpy(nn_net_params(p.net[i], NULL), saved[i == lost ? from :
		    i], n * sizeof (float));
		if (i == lost)
			CHECKF(nn_trainer_adopt(p.tr[i], state[from],
			    len[from], &cause) == 0, "%s", cause);
		else
			CHECKF(nn_trainer_restore(p.tr[i], state[i], len[i],
			    &cause) == 0, "partition %d: %s", i, cause);
	}
	/* Only a new trainer adopts. */
	CHECK(nn_trainer_adopt(p.tr[lost], state[from], len[from],
	    &cause) == -1);
	CHECKF(strstr(cause, "only a new partition") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	run_parts(&p, -1, got);
	CHECK(nn_trainer_done(p.tr[0]));
	CHECK(parts_agree(&p));
	CHECK(memcmp(nn_net_params(p.net[lost], NULL),
	    nn_net_params(ref.net[0], NULL), n * sizeof (float)) == 0);
	for (e = 0; e < EPOCHS; e++) {
		CHECK(got[e].epoch == e + 1);
		CHECK(got[e].loss == want[e].loss);
		CHECK(got[e].accuracy == want[e].accuracy);
		CHECK(got[e].test_loss == want[e].test_loss);
	}
end:
	for (i = 0; i < MAX_SHARDS; i++) {
		free(state[i]);
		free(saved[i]);
	}
	free(cause);
	parts_free(&ref);
	parts_free(&p);
	nn_data_free(train);
	nn_data_free(test);
}

static void
test_part_rebuild_sgd(void)
{
	part_rebuild(NN_OPTIM_SGD, 17 + 13, 2, 0);	/* 34 rows from 33 */
}

static void
test_part_rebuild_adam(void)
{
	part_rebuild(NN_OPTIM_ADAM, 17 * 2 + 5, 0, 1);	/* epoch 3, rank 0 */
}

/* The rate every partition ran at in the last epoch: cut once. */
static int
parts_cut_once(struct parts *p)
{
	float want = p->tr[0] != NULL ? 0.5f * 0.01f : 0;
	int i;

	for (i = 0; i < p->n; i++) {
		if (nn_optim_lr(nn_trainer_optim(p->tr[i])) != want)
			return 0;
	}
	return 1;
}

/*
 * A schedule (warmup, plateau), clipping and dropout: shards and
 * partitions follow one rate and one set of masks, and partitions moved
 * or rebuilt in the epoch after the cut end with the same bits.
 */
static void
test_schedule_dropout(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct nn_epoch_stats st[EPOCHS];
	struct parts p;

	extras = 1;
	shards_match(NN_OPTIM_ADAMW, 3, 1);
	shards_match(NN_OPTIM_ADAM, 2, 0);
	part_resume(NN_OPTIM_ADAMW, 17 * 2 + 5);
	part_rebuild(NN_OPTIM_ADAMW, 17 * 2 + 5, 0, 1);
	spec_for(NN_OPTIM_ADAMW, 3, 1, &spec);
	parts_new(&p, &spec, train, NULL);
	run_parts(&p, -1, st);
	CHECK(parts_agree(&p));
	CHECK(parts_cut_once(&p));
end:
	extras = 0;
	parts_free(&p);
	nn_data_free(train);
}

static void
test_adopt_refused(void)
{
	struct nn_train_spec spec;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct parts p;
	unsigned char *state = NULL;
	size_t len;
	char *cause = NULL;

	spec_for(NN_OPTIM_ADAM, 3, 1, &spec);
	parts_new(&p, &spec, train, NULL);
	nn_trainer_save(p.tr[1], &state, &len);
	/* Cut short, or another job's (more rows than any shard). */
	CHECK(nn_trainer_adopt(p.tr[2], state, len - 1, &cause) == -1);
	CHECKF(strstr(cause, "bytes, expected") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	state[8] = 200;
	CHECK(nn_trainer_adopt(p.tr[2], state, len, &cause) == -1);
	CHECKF(strstr(cause, "200 rows, expected") != NULL, "%s", cause);
end:
	free(cause);
	free(state);
	parts_free(&p);
	nn_data_free(train);
}

/* The single-process shard trainer's state: every shard's order and RNG. */
static void
test_shards_resume(void)
{
	struct nn_train_spec spec, other;
	struct nn_data *train = BLOBS(ROWS, 1);
	struct nn_epoch_stats want[EPOCHS], got[EPOCHS], one;
	struct nn_net *net = NULL, *net2 = NULL;
	struct nn_trainer *tr = NULL, *tr2 = NULL, *o = NULL;
	unsigned char *state = NULL, *bad = NULL;
	float *ref = NULL, *saved = NULL;
	size_t n, len, olen;
	char *cause = NULL;
	int i, e;

	memset(want, 0, sizeof want);
	memset(got, 0, sizeof got);
	spec_for(NN_OPTIM_ADAM, 3, 1, &spec);
	net = net_for(3);
	tr = nn_trainer_new(net, &spec, train, NULL);
	run_single(tr, want);
	nn_net_params(net, &n);
	ref = memcpy(xreallocarray(NULL, n, sizeof *ref),
	    nn_net_params(net, NULL), n * sizeof *ref);
	nn_trainer_free(tr);
	nn_net_free(net);

	net = net_for(3);
	tr = nn_trainer_new(net, &spec, train, NULL);
	for (i = 0; i < 17 + 4; i++) {
		if (nn_trainer_step(tr, &one) == 1)
			got[one.epoch - 1] = one;
	}
	nn_trainer_save(tr, &state, &len);
	saved = memcpy(xreallocarray(NULL, n, sizeof *saved),
	    nn_net_params(net, NULL), n * sizeof *saved);

	net2 = net_for(99);
	memcpy(nn_net_params(net2, NULL), saved, n * sizeof *saved);
	tr2 = nn_trainer_new(net2, &spec, train, NULL);
	CHECKF(nn_trainer_restore(tr2, state, len, &cause) == 0, "%s", cause);
	run_single(tr2, got);
	CHECK(memcmp(nn_net_params(net2, NULL), ref, n * sizeof *ref) == 0);
	for (e = 0; e < EPOCHS; e++)
		CHECK(got[e].loss == want[e].loss);

	/* Refused: a cut RNG section, a cursor between steps, other shards. */
	CHECK(unit_restore_refused(tr2, state, len - 1, "bytes"));
	bad = memcpy(xmalloc(len), state, len);
	bad[64] ^= 1;
	CHECK(unit_restore_refused(tr2, bad, len, "cursor 29 (expected a step boundary"));
	other = spec;
	other.shards = 2;
	o = nn_trainer_new(net, &other, train, NULL);
	free(bad);
	bad = NULL;
	nn_trainer_save(o, &bad, &olen);
	CHECK(olen == len - 32);
	CHECK(unit_restore_refused(tr2, bad, olen, "bytes"));
end:
	free(cause);
	free(state);
	free(bad);
	free(saved);
	free(ref);
	nn_trainer_free(o);
	nn_trainer_free(tr);
	nn_trainer_free(tr2);
	nn_net_free(net);
	nn_net_free(net2);
	nn_data_free(train);
}

static int
starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A document of a small net on generated data, with parallel inserted. */
static json_t *
doc(const char *parallel, const char *train)
{
	char *text;
	json_t *root;

	text = xasprintf("{\"layers\": [{\"units\": 2}], \"data\": {\"train\": "
	    "{\"generate\": \"xor\", \"n\": 10}}%s%s%s%s}",
	    train != NULL ? ", \"train\": " : "", train != NULL ? train : "",
	    parallel != NULL ? ", \"parallel\": " : "",
	    parallel != NULL ? parallel : "");
	root = json_loads(text, 0, NULL);
	if (root == NULL)
		fatal("bad test document: %s", text);
	free(text);
	return root;
}

/* The config's shards, or -1 with the cause in *cause. */
static int
shards_of(const char *parallel, const char *train, char **cause)
{
	struct nn_config *cfg;
	json_t *root = doc(parallel, train);
	int n = -1;

	free(*cause);
	*cause = NULL;
	if ((cfg = nn_config_parse(root, "net.json", NULL, cause)) != NULL)
		n = cfg->train.shards;
	nn_config_free(cfg);
	json_decref(root);
	return n;
}

static void
test_config_partitions(void)
{
	static const char *bad[] = { "0", "65", "\"2\"", "2.5", "2.0",
	    "-1", "null" };
	char *cause = NULL, *p = NULL;
	size_t i;

	CHECK(shards_of(NULL, NULL, &cause) == 1);
	CHECK(shards_of("{\"mode\": \"session\", \"partitions\": 4}", NULL,
	    &cause) == 1);
	CHECK(shards_of("{\"mode\": \"data\", \"partitions\": 4}", NULL,
	    &cause) == 4);
	CHECK(shards_of("{\"mode\": \"data\", \"partitions\": 64}",
	    "{\"batch\": 64}", &cause) == 64);
	CHECK(shards_of("{\"mode\": \"data\", \"partitions\": 1}", NULL,
	    &cause) == 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(p);
		p = xasprintf("{\"mode\": \"data\", \"partitions\": %s}",
		    bad[i]);
		CHECK(shards_of(p, NULL, &cause) == -1);
		CHECKF(starts(cause, "net.json: parallel.partitions: "
		    "expected an integer from 1 to 64, got ") &&
		    strchr(cause, '\n') == NULL, "%s: %s", bad[i], cause);
	}
	CHECK(shards_of("{\"mode\": \"data\"}", NULL, &cause) == -1);
	CHECKF(strcmp(cause, "net.json: parallel.partitions: missing "
	    "(expected an integer from 1 to 64 in data mode)") == 0, "%s",
	    cause);
	CHECK(shards_of("{\"mode\": \"data\", \"partitions\": 8}",
	    "{\"batch\": 4}", &cause) == -1);
	CHECKF(strcmp(cause, "net.json: parallel.partitions: 8 is more than "
	    "train.batch (4)") == 0, "%s", cause);
	CHECK(shards_of("{\"mode\": \"data\", \"partitions\": 33}", NULL,
	    &cause) == -1);
	CHECKF(strstr(cause, "33 is more than train.batch (32)") != NULL,
	    "%s", cause);
	CHECK(shards_of("[]", NULL, &cause) == -1);
	CHECK(strstr(cause, "parallel: expected an object") != NULL);
end:
	free(p);
	free(cause);
}

/* nn_job_parse of parallel; 0 or -1 with *cause. */
static int
job_of(const char *parallel, const char *train, struct nn_job *job,
    char **cause)
{
	json_t *root = doc(parallel, train);
	int rc;

	free(*cause);
	*cause = NULL;
	nn_job_clear(job);
	rc = nn_job_parse(root, "net.json", 0, 1, job, cause);
	if (rc == 0 && job->mode == NN_JOB_DATA &&
	    !json_equal(job->roots[0], root))
		rc = -2;
	json_decref(root);
	return rc;
}

static void
test_job_data(void)
{
	struct nn_job job;
	char *cause = NULL;

	memset(&job, 0, sizeof job);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 4}", NULL, &job,
	    &cause) == 0);
	CHECK(job.mode == NN_JOB_DATA && job.partitions == 4);
	CHECK(!job.deterministic && job.nsessions == 1);
	CHECK(strcmp(job.labels[0], "default") == 0);
	CHECK(json_is_object(json_object_get(job.roots[0], "parallel")));
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 2, "
	    "\"deterministic\": true}", "{\"batch\": 2, \"optimizer\": "
	    "\"rprop\"}", &job, &cause) == 0);
	CHECK(job.partitions == 2 && job.deterministic);

	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 8}",
	    "{\"batch\": 4}", &job, &cause) == -1);
	CHECKF(strcmp(cause, "net.json: parallel.partitions: 8 is more than "
	    "train.batch (4)") == 0, "%s", cause);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 2, \"sessions\": "
	    "[{}]}", NULL, &job, &cause) == -1);
	CHECKF(starts(cause, "net.json: parallel.sessions: not used in data "
	    "mode"), "%s", cause);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 2, \"grid\": "
	    "{\"train.seed\": [1, 2]}}", NULL, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.grid: not used in data mode") != NULL);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 2, \"select\": "
	    "\"loss\"}", NULL, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.select: not used in data mode") !=
	    NULL);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 2, "
	    "\"deterministic\": 1}", NULL, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.deterministic: expected true or "
	    "false") != NULL);
	CHECK(job_of("{\"mode\": \"data\", \"partitions\": 0}", NULL, &job,
	    &cause) == -1);
	CHECK(strstr(cause, "parallel.partitions: expected an integer") !=
	    NULL);
	CHECK(job_of("{\"mode\": \"data\"}", NULL, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.partitions: missing") != NULL);
	CHECK(job_of("{\"mode\": \"model\"}", NULL, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.mode: \"model\"") != NULL);

	/* Session mode as before. */
	CHECK(job_of("{\"sessions\": [{\"train.seed\": 2}, {}]}", NULL, &job,
	    &cause) == 0);
	CHECK(job.mode == NN_JOB_SESSION && job.nsessions == 2);
	CHECK(json_object_get(job.roots[0], "parallel") == NULL);
end:
	nn_job_clear(&job);
	free(cause);
}

static const struct unit_test tests[] = {
	{ "one_part_sgd", test_one_part_sgd },
	{ "one_part_adam", test_one_part_adam },
	{ "shards_sgd", test_shards_sgd },
	{ "shards_adam", test_shards_adam },
	{ "shards_unshuffled", test_shards_unshuffled },
	{ "shards_rprop", test_shards_rprop },
	{ "shards_differ", test_shards_differ },
	{ "part_resume_sgd", test_part_resume_sgd },
	{ "part_resume_adam", test_part_resume_adam },
	{ "part_rebuild_sgd", test_part_rebuild_sgd },
	{ "part_rebuild_adam", test_part_rebuild_adam },
	{ "schedule_dropout", test_schedule_dropout },
	{ "adopt_refused", test_adopt_refused },
	{ "shards_resume", test_shards_resume },
	{ "config_partitions", test_config_partitions },
	{ "job_data", test_job_data },
	{ NULL, NULL },
};

static void __attribute__((constructor))
setup(void)
{
	unit_blas_init();
}

UNIT_MAIN("train_shards", tests)
