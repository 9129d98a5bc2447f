/*
 * Mini-batch training as a state machine. The permutations, step and RNGs
 * are all the state between steps, so a step boundary is a safe point to
 * stop, pack or move the run.
 *
 * The training set is dealt into shards (rows p, p+N, ...), each with its
 * own share of the global batch and its own shuffle, so that one process
 * and N partition agents that sum their gradients follow one schedule
 * (docs/net-json.md, "Data mode"). With one shard it is plain mini-batch
 * training over the whole set.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/le.h"
#include "base/rng.h"
#include "nn/schedule.h"
#include "nn/train.h"

/* Early stopping's state: all of it is saved with the trainer. */
struct nn_stopper {
	double		 best;		/* the monitored figure's best */
	int		 best_epoch;	/* 0: none yet */
	int		 bad;		/* epochs since it improved */
	int		 stopped;	/* patience ran out */
	float		*best_params;	/* restore_best: the best epoch's */
	size_t		 nparams;
};

struct nn_trainer {
	struct nn_net		*net;
	struct nn_train_spec	 spec;
	const struct nn_data	*train;	/* every row, or one shard's */
	const struct nn_data	*test;
	struct nn_optim		*optim;
	int			 nshards;
	int			 part;	/* the one shard held, or -1: all */
	int			 held;	/* shards held: 1 or nshards */
	size_t			 total;	/* rows of the whole training set */
	size_t			 steps;	/* steps an epoch */
	struct nn_rng		*rng;	/* one per shard held */
	uint32_t		*order;	/* each held shard's order in turn */
	float			*xb;	/* gathered batch inputs */
	float			*yb;	/* gathered batch targets */
	uint64_t		*rowid;	/* their rows in the whole set */
	int			 drops;	/* some layer has dropout */
	int			 epoch;	/* epochs finished */
	size_t			 step;	/* steps done this epoch */
	size_t			 cursor;	/* rows of those steps */
	double			 loss_sum;
	size_t			 correct;
	double			 started;	/* monotonic seconds */
	double			 epoch_started;
	double			 step_started;
	double			 busy;	/* seconds of training this epoch */
	struct nn_schedule_state sched;	/* plateau's, saved with the rest */
	nn_part_ready_fn	*ready;	/* nn_trainer_on_ready */
	void			*ready_arg;
	double			 ready_sums[2];
	const struct nn_data	*val;	/* nn_trainer_set_validation */
	struct nn_stopper	 stop;	/* train.early_stopping */
	int			 diverged;	/* a step's loss was not finite */
	int			 div_epoch;
	size_t			 div_step;
	double			 div_loss;
};

/* The shuffle stream differs from the init stream of the same seed. */
#define SHUFFLE_STREAM	0x6a09e667f3bcc908ULL
/* Shard p > 0 shuffles with a stream of its own (golden ratio steps). */
#define SHARD_STREAM	0x9E3779B97F4A7C15ULL

/* Rows of shard q: q, q + N, ... of total. */
static size_t
shard_rows(size_t total, int nshards, int q)
{
	return total / (size_t)nshards +
	    ((size_t)q < total % (size_t)nshards ? 1 : 0);
}

/* Shard q's share of the global batch. */
static size_t
shard_batch(int batch, int nshards, int q)
{
	return (size_t)(batch / nshards + (q < batch % nshards ? 1 : 0));
}

/* Shard q's local positions [lo, hi) in step s of an epoch. */
static void
shard_slice(const struct nn_trainer *t, int q, size_t s, size_t *lo,
    size_t *hi)
{
	size_t n = shard_rows(t->total, t->nshards, q);
	size_t b = shard_batch(t->spec.batch, t->nshards, q);

	*lo = s * b < n ? s * b : n;
	*hi = (s + 1) * b < n ? (s + 1) * b : n;
}

/* Rows of step s's global batch, over every shard. */
static size_t
trainer_step_rows(const struct nn_trainer *t, size_t s)
{
	size_t lo, hi, rows = 0;
	int q;

	for (q = 0; q < t->nshards; q++) {
		shard_slice(t, q, s, &lo, &hi);
		rows += hi - lo;
	}
	return rows;
}

/* Rows of the global batches before step s. */
static size_t
trainer_rows_before(const struct nn_trainer *t, size_t s)
{
	size_t lo, hi, rows = 0;
	int q;

	for (q = 0; q < t->nshards; q++) {
		shard_slice(t, q, s, &lo, &hi);
		rows += lo;
	}
	return rows;
}

static int
trainer_rprop(const struct nn_trainer *t)
{
	return t->spec.optim.type == NN_OPTIM_RPROP;
}

/* The shard the trainer holds as its h-th. */
static int
trainer_shard(const struct nn_trainer *t, int h)
{
	return t->part >= 0 ? t->part : h;
}

/* Where the h-th held shard's order starts in order[]. */
static size_t
trainer_order_off(const struct nn_trainer *t, int h)
{
	size_t n = t->total / (size_t)t->nshards;
	size_t extra = t->total % (size_t)t->nshards;

	if (t->part >= 0)
		return 0;
	return (size_t)h * n + ((size_t)h < extra ? (size_t)h : extra);
}

/* Every held shard's next epoch order. */
static void
trainer_shuffle(struct nn_trainer *t)
{
	int h, q;

	if (!t->spec.shuffle || trainer_rprop(t))
		return;
	for (h = 0; h < t->held; h++) {
		q = trainer_shard(t, h);
		nn_rng_shuffle(&t->rng[h], t->order + trainer_order_off(t, h),
		    (uint32_t)shard_rows(t->total, t->nshards, q));
	}
}

/* The trainer for one shard (part >= 0) or all of them (part -1). */
static struct nn_trainer *
trainer_new(struct nn_net *net, const struct nn_train_spec *spec,
    const struct nn_data *train, const struct nn_data *test, int part,
    size_t total)
{
	struct nn_trainer *t;
	size_t i, n, rows, s;
	uint32_t *order;
	int h, q;

	t = xcalloc(1, sizeof *t);
	t->net = net;
	t->spec = *spec;
	/* A zeroed spec from before shards existed means one. */
	if (t->spec.shards < 1)
		t->spec.shards = 1;
	t->nshards = t->spec.shards;
	t->part = part;
	t->held = part >= 0 ? 1 : t->nshards;
	t->total = total;
	t->train = train;
	t->test = test;
	rows = (size_t)nn_net_max_batch(net);
	if (!trainer_rprop(t) && (t->spec.batch < t->nshards ||
	    (size_t)t->spec.batch > rows))
		fatal("nn_trainer_new: batch %d for %d shards and a net with "
		    "room for %zu rows", t->spec.batch, t->nshards, rows);
	nn_net_params(net, &n);
	t->optim = nn_optim_new(&spec->optim, n);
	nn_schedule_start(&t->sched, spec->optim.lr);

	t->rng = xreallocarray(NULL, (size_t)t->held, sizeof *t->rng);
	t->order = xreallocarray(NULL, train->n, sizeof *t->order);
	for (h = 0; h < t->held; h++) {
		q = trainer_shard(t, h);
		nn_rng_seed(&t->rng[h], spec->seed ^ SHUFFLE_STREAM ^
		    ((uint64_t)q * SHARD_STREAM));
		order = t->order + trainer_order_off(t, h);
		for (i = 0; i < shard_rows(total, t->nshards, q); i++)
			order[i] = (uint32_t)i;
	}

	/* The slowest shard sets the epoch's length; rprop takes one. */
	t->steps = 1;
	for (q = 0; q < t->nshards && !trainer_rprop(t); q++) {
		n = shard_rows(total, t->nshards, q);
		s = shard_batch(t->spec.batch, t->nshards, q);
		if ((n + s - 1) / s > t->steps)
			t->steps = (n + s - 1) / s;
	}

	t->xb = xreallocarray(NULL, rows * (size_t)train->in, sizeof (float));
	t->yb = xreallocarray(NULL, rows * (size_t)train->out, sizeof (float));
	if (t->spec.stop.on && t->spec.stop.restore_best) {
		nn_net_params(net, &t->stop.nparams);
		t->stop.best_params = xreallocarray(NULL, t->stop.nparams,
		    sizeof (float));
	}
	t->rowid = xreallocarray(NULL, rows, sizeof *t->rowid);
	for (h = 0; h < nn_net_arch(net)->nlayers; h++)
		t->drops |= nn_net_arch(net)->layer[h].dropout > 0;
	t->started = t->step_started = nn_clock_s();
	/* The first epoch's order, as each epoch's end makes the next. */
	if (!nn_trainer_done(t))
		trainer_shuffle(t);
	return t;
}

struct nn_trainer *
nn_trainer_new(struct nn_net *net, const struct nn_train_spec *spec,
    const struct nn_data *train, const struct nn_data *test)
{
	return trainer_new(net, spec, train, test, -1, train->n);
}

struct nn_trainer *
nn_trainer_new_part(struct nn_net *net, const struct nn_train_spec *spec,
    const struct nn_data *shard, const struct nn_data *test, int part,
    size_t total)
{
	int nshards = spec->shards < 1 ? 1 : spec->shards;

	if (part < 0 || part >= nshards ||
	    shard->n != shard_rows(total, nshards, part))
		fatal("nn_trainer_new_part: part %d of %d with %zu rows of "
		    "%zu", part, nshards, shard->n, total);
	return trainer_new(net, spec, shard, test, part, total);
}

void
nn_trainer_free(struct nn_trainer *t)
{
	if (t == NULL)
		return;
	nn_optim_free(t->optim);
	free(t->rng);
	free(t->order);
	free(t->xb);
	free(t->yb);
	free(t->stop.best_params);
	free(t->rowid);
	free(t);
}

struct nn_optim *
nn_trainer_optim(struct nn_trainer *t)
{
	return t->optim;
}

int
nn_trainer_done(const struct nn_trainer *t)
{
	return t->epoch >= t->spec.epochs || t->stop.stopped || t->diverged;
}

void
nn_trainer_set_validation(struct nn_trainer *t, const struct nn_data *val)
{
	t->val = val;
}

int
nn_trainer_diverged(const struct nn_trainer *t, char **cause)
{
	if (!t->diverged)
		return 0;
	nn_fail(cause, "training diverged in epoch %d, step %zu: the loss is "
	    "%g (lower the learning rate, train.optimizer.lr)", t->div_epoch,
	    t->div_step, t->div_loss);
	return 1;
}

int
nn_trainer_best_epoch(const struct nn_trainer *t)
{
	return t->stop.best_epoch;
}

int
nn_epoch_figure(const struct nn_epoch_stats *st, enum nn_figure f,
    double *v)
{
	switch (f) {
	case NN_FIG_LOSS:
		*v = st->loss;
		return 0;
	case NN_FIG_ACCURACY:
		*v = st->accuracy;
		return st->has_accuracy ? 0 : -1;
	case NN_FIG_VAL_LOSS:
		*v = st->val_loss;
		return st->has_val ? 0 : -1;
	case NN_FIG_VAL_ACCURACY:
		*v = st->val_accuracy;
		return st->has_val && st->has_accuracy ? 0 : -1;
	case NN_FIG_TEST_LOSS:
		*v = st->test_loss;
		return st->has_test ? 0 : -1;
	case NN_FIG_TEST_ACCURACY:
		*v = st->test_accuracy;
		return st->has_test && st->has_accuracy ? 0 : -1;
	}
	return -1;
}

/*
 * Early stopping at the end of an epoch: keeps the best figure (and with
 * restore_best its parameters), counts epochs without improvement, and
 * when training ends puts the best parameters back into the net.
 */
static void
trainer_stop_update(struct nn_trainer *t, struct nn_epoch_stats *st)
{
	const struct nn_stop_spec *sp = &t->spec.stop;
	struct nn_stopper *s = &t->stop;
	double v;
	int better;

	if (!sp->on)
		return;
	if (nn_epoch_figure(st, sp->monitor, &v) != 0 || !isfinite(v))
		better = 0;
	else if (s->best_epoch == 0)
		better = 1;
	else if (nn_figure_maximize(sp->monitor))
		better = v > s->best + sp->min_delta;
	else
		better = v < s->best - sp->min_delta;
	if (better) {
		s->best = v;
		s->best_epoch = st->epoch;
		s->bad = 0;
		if (s->best_params != NULL)
			memcpy(s->best_params, nn_net_params(t->net, NULL),
			    s->nparams * sizeof (float));
	} else if (++s->bad >= sp->patience)
		s->stopped = 1;
	st->best_epoch = s->best_epoch;
	st->stopped = s->stopped;
	if (nn_trainer_done(t) && s->best_params != NULL &&
	    s->best_epoch > 0 && s->best_epoch != st->epoch)
		memcpy(nn_net_params(t->net, NULL), s->best_params,
		    s->nparams * sizeof (float));
}

/*
 * A step whose loss is not finite ends the run before its update: the
 * parameters stay those of the last finite step. 1 when it diverged.
 */
static int
trainer_check_loss(struct nn_trainer *t, double step_loss)
{
	if (isfinite(step_loss))
		return 0;
	t->diverged = 1;
	t->div_epoch = t->epoch + 1;
	t->div_step = t->step + 1;
	t->div_loss = step_loss;
	return 1;
}

void
nn_trainer_position(const struct nn_trainer *t, int *epoch, size_t *done,
    size_t *total, double *loss, double *acc)
{
	*epoch = t->epoch + 1;
	*done = t->cursor;
	*total = t->total;
	*loss = t->cursor > 0 ? t->loss_sum / (double)t->cursor : 0;
	*acc = t->cursor > 0 ? (double)t->correct / (double)t->cursor : 0;
}

static float
data_mid(const struct nn_data *d)
{
	return (d->lo + d->hi) / 2;
}

/*
 * nn_evaluate's pass; with cause, the first output that is not a finite
 * number stops it with -1 (its row and column in cause).
 */
static int
evaluate_rows(struct nn_net *net, const struct nn_data *d, double *loss,
    double *accuracy, char **cause)
{
	const float *x, *y, *out;
	size_t i, correct = 0;
	double sum = 0;
	int b, rows = nn_net_max_batch(net);

	for (i = 0; i < d->n; i += (size_t)b) {
		b = d->n - i < (size_t)rows ? (int)(d->n - i) : rows;
		x = d->x + i * (size_t)d->in;
		y = d->y + i * (size_t)d->out;
		out = nn_net_forward(net, x, b);
		if (cause != NULL && nn_outputs_finite(out, (size_t)b, d->out,
		    i, cause) != 0)
			return -1;
		if (d->task == NN_TASK_CLASSIFICATION)
			correct += (size_t)nn_count_correct(out, y, b, d->out,
			    data_mid(d));
		sum += nn_net_loss(net, y, b, 0.0f);
	}
	*loss = d->n > 0 ? sum / (double)d->n : 0;
	*accuracy = d->n > 0 ? (double)correct / (double)d->n : 0;
	return 0;
}

void
nn_evaluate(struct nn_net *net, const struct nn_data *d, double *loss,
    double *accuracy)
{
	evaluate_rows(net, d, loss, accuracy, NULL);
}

int
nn_evaluate_finite(struct nn_net *net, const struct nn_data *d,
    double *loss, double *accuracy, char **cause)
{
	return evaluate_rows(net, d, loss, accuracy, cause);
}

int
nn_outputs_finite(const float *out, size_t rows, int cols, size_t first,
    char **cause)
{
	size_t k;

	for (k = 0; k < rows * (size_t)cols; k++) {
		if (!isfinite(out[k]))
			return nn_fail(cause, "row %zu: output %zu is %g (the "
			    "model's outputs are not finite numbers; retrain "
			    "it with a lower learning rate)", first + k /
			    (size_t)cols + 1, k % (size_t)cols + 1,
			    (double)out[k]);
	}
	return 0;
}

/* The net's layer hook, passing the step's sums along. */
static void
trainer_grads_done(void *arg, size_t from)
{
	struct nn_trainer *t = arg;

	t->ready(t->ready_arg, from, t->ready_sums);
}

/*
 * One forward and backward pass over b rows; adds to *loss and *correct.
 * With hook, nn_trainer_on_ready's function hears of each finished layer,
 * *loss and *correct then being the step's.
 */
static void
trainer_pass(struct nn_trainer *t, const float *x, const float *y, int b,
    float scale, int accumulate, double *loss, size_t *correct, int hook)
{
	const struct nn_data *d = t->train;
	const struct nn_dropout drop = {
		.key = nn_dropout_key(t->spec.seed, t->epoch),
		.rows = t->rowid,
	};
	const float *out;

	out = nn_net_forward_train(t->net, x, b, t->drops ? &drop : NULL);
	if (d->task == NN_TASK_CLASSIFICATION)
		*correct += (size_t)nn_count_correct(out, y, b, d->out,
		    data_mid(d));
	*loss += nn_net_loss(t->net, y, b, scale);
	if (hook && t->ready != NULL) {
		t->ready_sums[0] = *loss;
		t->ready_sums[1] = (double)*correct;
		nn_net_backward_cb(t->net, x, b, accumulate,
		    trainer_grads_done, t);
	} else
		nn_net_backward(t->net, x, b, accumulate);
}

void
nn_trainer_on_ready(struct nn_trainer *t, nn_part_ready_fn *fn, void *arg)
{
	t->ready = fn;
	t->ready_arg = arg;
}

/*
 * The update from the step's whole gradient (in data mode the sum, the
 * same in every partition): clip, L2 decay (adamw decays in its step),
 * then the optimizer at the schedule's rate.
 */
static void
trainer_update(struct nn_trainer *t)
{
	const struct nn_optim_spec *o = &t->spec.optim;
	float *params, *grads;
	size_t n;

	params = nn_net_params(t->net, &n);
	grads = nn_net_grads(t->net, NULL);
	if (o->clip_norm > 0)
		nn_optim_clip(grads, n, o->clip_norm);
	if (o->type != NN_OPTIM_ADAMW)
		nn_net_decay(t->net, o->weight_decay);
	nn_optim_set_lr(t->optim, nn_schedule_lr(&t->spec.schedule,
	    &t->sched, o->lr, t->epoch, t->step, t->steps, t->spec.epochs));
	nn_optim_step(t->optim, params, grads);
}

/*
 * The loss plateau watches: the validation loss in one process when there
 * are validation rows (never the test set, which must not steer
 * training), else the training loss, as in data mode, where every
 * partition must cut the rate at the same epoch.
 */
static double
trainer_monitor(const struct nn_trainer *t, const struct nn_epoch_stats *st)
{
	return t->nshards == 1 && st->has_val ? st->val_loss : st->loss;
}

/* The whole set's index of the held row at local position pos of shard q. */
static uint64_t
trainer_row_id(const struct nn_trainer *t, int q, size_t pos)
{
	return (uint64_t)q + (uint64_t)t->nshards * pos;
}

/* Row ids of n rows held in data order from row i (rprop's chunks). */
static void
trainer_row_ids(struct nn_trainer *t, size_t i, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		t->rowid[k] = t->part >= 0 ?
		    trainer_row_id(t, t->part, i + k) : i + k;
}

/* Gradient over every row held, in chunks the net has room for. */
static void
trainer_full_pass(struct nn_trainer *t, float scale, double *loss,
    size_t *correct)
{
	const struct nn_data *d = t->train;
	size_t i;
	int b, rows = nn_net_max_batch(t->net);

	for (i = 0; i < d->n; i += (size_t)b) {
		b = d->n - i < (size_t)rows ? (int)(d->n - i) : rows;
		trainer_row_ids(t, i, (size_t)b);
		trainer_pass(t, d->x + i * (size_t)d->in,
		    d->y + i * (size_t)d->out, b, scale, i > 0, loss, correct,
		    0);
	}
}

/*
 * The held shards' part of step s's global batch, shard by shard, into
 * *x and *y (borrowed). Returns its rows.
 */
static int
trainer_gather(struct nn_trainer *t, size_t s, const float **x,
    const float **y)
{
	const struct nn_data *d = t->train;
	const uint32_t *order;
	size_t lo, hi, j, pos, r, b = 0;
	int h, q;

	/* One shard in data order is already a contiguous run of rows. */
	if (!t->spec.shuffle && t->held == 1) {
		shard_slice(t, trainer_shard(t, 0), s, &lo, &hi);
		for (j = lo; j < hi; j++)
			t->rowid[j - lo] = trainer_row_id(t,
			    trainer_shard(t, 0), j);
		*x = d->x + lo * (size_t)d->in;
		*y = d->y + lo * (size_t)d->out;
		return (int)(hi - lo);
	}
	for (h = 0; h < t->held; h++) {
		q = trainer_shard(t, h);
		order = t->order + trainer_order_off(t, h);
		shard_slice(t, q, s, &lo, &hi);
		for (j = lo; j < hi; j++, b++) {
			pos = t->spec.shuffle ? order[j] : j;
			r = t->part >= 0 ? pos : (size_t)q +
			    (size_t)t->nshards * pos;
			t->rowid[b] = trainer_row_id(t, q, pos);
			memcpy(t->xb + b * (size_t)d->in,
			    d->x + r * (size_t)d->in,
			    (size_t)d->in * sizeof (float));
			memcpy(t->yb + b * (size_t)d->out,
			    d->y + r * (size_t)d->out,
			    (size_t)d->out * sizeof (float));
		}
	}
	*x = t->xb;
	*y = t->yb;
	return (int)b;
}

/* The clocks and sums of a step; an epoch's first step starts them over. */
static void
trainer_begin_step(struct nn_trainer *t)
{
	t->step_started = nn_clock_s();
	if (t->step == 0) {
		t->loss_sum = 0;
		t->correct = 0;
		t->busy = 0;
		t->epoch_started = t->step_started;
	}
}

/*
 * Counts a finished step of rows. At the end of an epoch fills *st, shuffles
 * for the next and returns 1; 0 otherwise.
 */
static int
trainer_end_step(struct nn_trainer *t, size_t rows, struct nn_epoch_stats *st)
{
	const struct nn_data *d = t->train;

	t->busy += nn_clock_s() - t->step_started;
	t->cursor += rows;
	if (++t->step < t->steps)
		return 0;

	memset(st, 0, sizeof *st);
	st->epoch = ++t->epoch;
	st->loss = t->loss_sum / (double)t->total;
	st->has_accuracy = d->task == NN_TASK_CLASSIFICATION;
	st->accuracy = (double)t->correct / (double)t->total;
	st->samples_per_sec = t->busy > 0 ? (double)t->total / t->busy : 0;
	if (t->test != NULL && t->test->n > 0) {
		st->has_test = 1;
		nn_evaluate(t->net, t->test, &st->test_loss,
		    &st->test_accuracy);
	}
	if (t->val != NULL && t->val->n > 0) {
		st->has_val = 1;
		nn_evaluate(t->net, t->val, &st->val_loss,
		    &st->val_accuracy);
	}
	trainer_stop_update(t, st);
	st->elapsed_s = nn_clock_s() - t->started;
	if (!trainer_rprop(t))
		st->lr = nn_optim_lr(t->optim);
	nn_schedule_epoch_end(&t->spec.schedule, &t->sched,
	    trainer_monitor(t, st));
	t->step = 0;
	t->cursor = 0;
	t->loss_sum = 0;
	t->correct = 0;
	t->busy = 0;
	/* The last epoch's too: a state saved at the end trains on (nnsim
	 * train --resume --epochs) as the longer run would have. */
	trainer_shuffle(t);
	return 1;
}

int
nn_trainer_step(struct nn_trainer *t, struct nn_epoch_stats *st)
{
	const float *x, *y;
	size_t rows;
	double before;
	int b;

	if (t->part >= 0)
		fatal("nn_trainer_step: a partition trainer steps with "
		    "nn_trainer_part_grad");
	if (nn_trainer_done(t))
		return -1;
	trainer_begin_step(t);
	before = t->loss_sum;
	if (trainer_rprop(t)) {
		trainer_full_pass(t, 1.0f / (float)t->train->n, &t->loss_sum,
		    &t->correct);
		rows = t->train->n;
	} else {
		b = trainer_gather(t, t->step, &x, &y);
		trainer_pass(t, x, y, b, 1.0f / (float)b, 0, &t->loss_sum,
		    &t->correct, 0);
		rows = (size_t)b;
	}
	if (trainer_check_loss(t, t->loss_sum - before))
		return -1;
	trainer_update(t);
	return trainer_end_step(t, rows, st);
}

int
nn_trainer_part_grad(struct nn_trainer *t, double sums[2])
{
	const float *x, *y;
	float *grads;
	size_t n, correct = 0;
	double loss = 0;
	int b;

	if (t->part < 0)
		fatal("nn_trainer_part_grad: not a partition trainer");
	sums[0] = sums[1] = 0;
	if (nn_trainer_done(t))
		return -1;
	trainer_begin_step(t);
	if (trainer_rprop(t)) {
		trainer_full_pass(t, 1.0f / (float)t->total, &loss, &correct);
		b = (int)t->train->n;
	} else {
		b = trainer_gather(t, t->step, &x, &y);
		if (b > 0)
			trainer_pass(t, x, y, b, 1.0f /
			    (float)trainer_step_rows(t, t->step), 0, &loss,
			    &correct, 1);
	}
	/* No rows: this partition adds nothing to the sum. */
	if (b == 0) {
		grads = nn_net_grads(t->net, &n);
		memset(grads, 0, n * sizeof *grads);
	}
	sums[0] = loss;
	sums[1] = (double)correct;
	return b;
}

int
nn_trainer_part_apply(struct nn_trainer *t, const double sums[2],
    struct nn_epoch_stats *st)
{
	size_t rows;

	if (t->part < 0 || nn_trainer_done(t))
		fatal("nn_trainer_part_apply: no step to apply");
	/* Every partition sees the same sums, so all stop at this step. */
	if (trainer_check_loss(t, sums[0]))
		return 0;
	t->loss_sum += sums[0];
	t->correct += sums[1] > 0 ? (size_t)sums[1] : 0;
	trainer_update(t);
	rows = trainer_rprop(t) ? t->total : trainer_step_rows(t, t->step);
	return trainer_end_step(t, rows, st);
}

/*
 * Saved layout, little-endian: u32 magic, u32 version, u64 rows, u64
 * optimizer bytes, u64 rng[4], u64 epoch, u64 cursor, u64 correct, f64
 * loss_sum, f64 elapsed, f64 epoch_elapsed, f64 busy, u32 order[rows],
 * then the optimizer's own section (nn_optim_save), then u64 rng[4] of
 * each further shard held, then the schedule's state (nn_schedule_save),
 * then with train.early_stopping its section (train_stop_save).
 * Rows are the rows held, the cursor counts rows of the whole set, and the
 * first rng is the first held shard's; so one shard has the layout of
 * plain training.
 */
#define TRAIN_STATE_MAGIC	0x53544e4eU	/* "NNTS" */
#define TRAIN_STATE_VERSION	3
#define TRAIN_STATE_HEADER	112
#define TRAIN_STATE_RNG		32

static void
train_put_f64(unsigned char *p, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof bits);
	nn_le_put_u64(p, bits);
}

static double
train_get_f64(const unsigned char *p)
{
	uint64_t bits = nn_le_get_u64(p);
	double v;

	memcpy(&v, &bits, sizeof v);
	return v;
}

static void
train_put_f32(unsigned char *p, float v)
{
	uint32_t bits;

	memcpy(&bits, &v, sizeof bits);
	nn_le_put_u32(p, bits);
}

static float
train_get_f32(const unsigned char *p)
{
	uint32_t bits = nn_le_get_u32(p);
	float v;

	memcpy(&v, &bits, sizeof v);
	return v;
}

static void
train_put_rng(unsigned char *p, const struct nn_rng *rng)
{
	int i;

	for (i = 0; i < 4; i++)
		nn_le_put_u64(p + 8 * i, rng->s[i]);
}

static void
train_get_rng(const unsigned char *p, struct nn_rng *rng)
{
	int i;

	for (i = 0; i < 4; i++)
		rng->s[i] = nn_le_get_u64(p + 8 * i);
}

/*
 * Early stopping's section, only when it is on: u32 magic "NNES", u32
 * epochs without improvement, u32 stopped, u32 best epoch, f64 best
 * figure, then with restore_best the best epoch's parameters as f32.
 */
#define TRAIN_STOP_MAGIC	0x53454e4eU	/* "NNES" */
#define TRAIN_STOP_HEADER	24

static size_t
train_stop_size(const struct nn_trainer *t)
{
	if (!t->spec.stop.on)
		return 0;
	return TRAIN_STOP_HEADER + t->stop.nparams * 4;
}

static void
train_stop_save(const struct nn_trainer *t, unsigned char *p)
{
	size_t i;

	if (!t->spec.stop.on)
		return;
	nn_le_put_u32(p, TRAIN_STOP_MAGIC);
	nn_le_put_u32(p + 4, (uint32_t)t->stop.bad);
	nn_le_put_u32(p + 8, (uint32_t)t->stop.stopped);
	nn_le_put_u32(p + 12, (uint32_t)t->stop.best_epoch);
	train_put_f64(p + 16, t->stop.best);
	for (i = 0; i < t->stop.nparams; i++)
		train_put_f32(p + TRAIN_STOP_HEADER + 4 * i,
		    t->stop.best_params[i]);
}

/* Checks the section at p (train_stop_size bytes) against t's run. */
static int
train_stop_check(const struct nn_trainer *t, const unsigned char *p,
    uint64_t epoch, char **cause)
{
	uint32_t bad, stopped, best;

	if (!t->spec.stop.on)
		return 0;
	bad = nn_le_get_u32(p + 4);
	stopped = nn_le_get_u32(p + 8);
	best = nn_le_get_u32(p + 12);
	if (nn_le_get_u32(p) != TRAIN_STOP_MAGIC)
		return nn_fail(cause, "trainer state: early stopping: bad "
		    "magic 0x%08" PRIx32, nn_le_get_u32(p));
	if (best > epoch || bad > epoch || stopped > 1 ||
	    (best == 0 && epoch > 0 && bad != epoch))
		return nn_fail(cause, "trainer state: early stopping: best "
		    "epoch %" PRIu32 ", %" PRIu32 " epochs without "
		    "improvement after %" PRIu64 " epochs", best, bad, epoch);
	return 0;
}

static void
train_stop_restore(struct nn_trainer *t, const unsigned char *p)
{
	size_t i;

	if (!t->spec.stop.on)
		return;
	t->stop.bad = (int)nn_le_get_u32(p + 4);
	t->stop.stopped = (int)nn_le_get_u32(p + 8);
	t->stop.best_epoch = (int)nn_le_get_u32(p + 12);
	t->stop.best = train_get_f64(p + 16);
	for (i = 0; i < t->stop.nparams; i++)
		t->stop.best_params[i] = train_get_f32(p +
		    TRAIN_STOP_HEADER + 4 * i);
}

size_t
nn_trainer_save_size(const struct nn_trainer *t)
{
	return TRAIN_STATE_HEADER + t->train->n * 4 +
	    nn_optim_save_size(t->optim) + (size_t)(t->held - 1) *
	    TRAIN_STATE_RNG + NN_SCHEDULE_SAVE_SIZE + train_stop_size(t);
}

void
nn_trainer_save(const struct nn_trainer *t, unsigned char **buf, size_t *len)
{
	*len = nn_trainer_save_size(t);
	*buf = xmalloc(*len);
	nn_trainer_save_to(t, *buf);
}

void
nn_trainer_save_to(const struct nn_trainer *t, unsigned char *p)
{
	size_t i, rows = t->train->n, olen = nn_optim_save_size(t->optim);
	double at = nn_clock_s();
	int h;

	nn_le_put_u32(p, TRAIN_STATE_MAGIC);
	nn_le_put_u32(p + 4, TRAIN_STATE_VERSION);
	nn_le_put_u64(p + 8, rows);
	nn_le_put_u64(p + 16, olen);
	train_put_rng(p + 24, &t->rng[0]);
	nn_le_put_u64(p + 56, (uint64_t)t->epoch);
	nn_le_put_u64(p + 64, t->cursor);
	nn_le_put_u64(p + 72, t->correct);
	train_put_f64(p + 80, t->loss_sum);
	/* Clocks are per process: carry durations, not instants. */
	train_put_f64(p + 88, at - t->started);
	train_put_f64(p + 96, t->cursor > 0 ? at - t->epoch_started : 0);
	train_put_f64(p + 104, t->busy);
	p += TRAIN_STATE_HEADER;
	for (i = 0; i < rows; i++)
		nn_le_put_u32(p + 4 * i, t->order[i]);
	p += rows * 4;
	nn_optim_save(t->optim, p);
	p += olen;
	for (h = 1; h < t->held; h++)
		train_put_rng(p + (size_t)(h - 1) * TRAIN_STATE_RNG,
		    &t->rng[h]);
	p += (size_t)(t->held - 1) * TRAIN_STATE_RNG;
	nn_schedule_save(&t->sched, p);
	train_stop_save(t, p + NN_SCHEDULE_SAVE_SIZE);
}

/* A duration from a state: finite and not negative. */
static int
train_duration(double v)
{
	return isfinite(v) && v >= 0;
}

/* The step whose global batches before it make cursor rows; -1: none. */
static int
train_step_at(const struct nn_trainer *t, uint64_t cursor, size_t *step)
{
	size_t lo = 0, hi = t->steps, mid, rows;

	/* Rows before a step grow with it: every step has a row. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		rows = trainer_rows_before(t, mid);
		if (rows == cursor) {
			*step = mid;
			return 0;
		}
		if (rows < cursor)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Each held shard's order must be a permutation of its rows. */
static int
train_check_order(const struct nn_trainer *t, const unsigned char *order,
    char **cause)
{
	unsigned char *seen;
	size_t i, off, n;
	uint32_t v;
	int h, rc = -1;

	seen = xmalloc(shard_rows(t->total, t->nshards, 0) / 8 + 1);
	for (h = 0; h < t->held; h++) {
		off = trainer_order_off(t, h);
		n = shard_rows(t->total, t->nshards, trainer_shard(t, h));
		memset(seen, 0, n / 8 + 1);
		for (i = off; i < off + n; i++) {
			v = nn_le_get_u32(order + 4 * i);
			if (v >= n || (seen[v / 8] & (1u << (v % 8))) != 0) {
				nn_fail(cause, "trainer state: order[%zu] = "
				    "%" PRIu32 " (expected a permutation of "
				    "%zu rows)", i, v, n);
				goto out;
			}
			seen[v / 8] |= (unsigned char)(1u << (v % 8));
		}
	}
	rc = 0;
out:
	free(seen);
	return rc;
}

/* A saved state, checked (train_parse), before anything is changed. */
struct train_saved {
	uint64_t		 rows, olen, epoch, cursor, correct;
	double			 loss_sum, elapsed, epoch_elapsed, busy;
	size_t			 step;
	const unsigned char	*order, *optim, *rngs, *sched, *stop;
	struct nn_schedule_state sched_state;
};

/*
 * Checks buf as a state for t: of rows rows (0: of any one shard of t's
 * job) and the shards t holds, at a step boundary of t's schedule.
 */
static int
train_parse(const struct nn_trainer *t, const unsigned char *buf, size_t len,
    size_t rows, struct train_saved *sv, char **cause)
{
	size_t extra;
	int q, ok;

	memset(sv, 0, sizeof *sv);
	if (len < TRAIN_STATE_HEADER)
		return nn_fail(cause, "trainer state: %zu bytes, shorter than "
		    "its %d-byte header", len, TRAIN_STATE_HEADER);
	if (nn_le_get_u32(buf) != TRAIN_STATE_MAGIC)
		return nn_fail(cause, "trainer state: bad magic 0x%08" PRIx32
		    " (expected 0x%08x)", nn_le_get_u32(buf),
		    TRAIN_STATE_MAGIC);
	if (nn_le_get_u32(buf + 4) != TRAIN_STATE_VERSION)
		return nn_fail(cause, "trainer state: version %" PRIu32
		    " (expected %d)", nn_le_get_u32(buf + 4),
		    TRAIN_STATE_VERSION);
	sv->rows = nn_le_get_u64(buf + 8);
	for (q = 0, ok = rows != 0 && sv->rows == rows; rows == 0 &&
	    q < t->nshards; q++)
		ok |= sv->rows == shard_rows(t->total, t->nshards, q);
	if (!ok)
		return nn_fail(cause, "trainer state: %" PRIu64 " rows, "
		    "expected %zu", sv->rows, rows != 0 ? rows :
		    shard_rows(t->total, t->nshards, 0));
	/* rows fits in memory as order[], so rows * 4 cannot overflow. */
	sv->olen = nn_le_get_u64(buf + 16);
	extra = (size_t)(t->held - 1) * TRAIN_STATE_RNG +
	    NN_SCHEDULE_SAVE_SIZE + train_stop_size(t);
	if (len - TRAIN_STATE_HEADER < sv->rows * 4 + extra ||
	    sv->olen != len - TRAIN_STATE_HEADER - sv->rows * 4 - extra)
		return nn_fail(cause, "trainer state: %zu bytes, expected %zu "
		    "for %" PRIu64 " rows, %" PRIu64 " bytes of optimizer "
		    "state and %d shards", len, (size_t)TRAIN_STATE_HEADER +
		    sv->rows * 4 + (size_t)sv->olen + extra, sv->rows,
		    sv->olen, t->held);
	sv->epoch = nn_le_get_u64(buf + 56);
	sv->cursor = nn_le_get_u64(buf + 64);
	sv->correct = nn_le_get_u64(buf + 72);
	sv->loss_sum = train_get_f64(buf + 80);
	sv->elapsed = train_get_f64(buf + 88);
	sv->epoch_elapsed = train_get_f64(buf + 96);
	sv->busy = train_get_f64(buf + 104);
	if (sv->epoch > INT_MAX)
		return nn_fail(cause, "trainer state: epoch %" PRIu64
		    " (limit %d)", sv->epoch, INT_MAX);
	/* Between steps the cursor is always at a step inside the epoch. */
	if (train_step_at(t, sv->cursor, &sv->step) != 0)
		return nn_fail(cause, "trainer state: cursor %" PRIu64
		    " (expected a step boundary below %zu rows)", sv->cursor,
		    t->total);
	if (sv->correct > t->total)
		return nn_fail(cause, "trainer state: %" PRIu64 " correct "
		    "(expected at most %zu rows)", sv->correct, t->total);
	if (!train_duration(sv->elapsed) ||
	    !train_duration(sv->epoch_elapsed) || !train_duration(sv->busy))
		return nn_fail(cause, "trainer state: bad times %g, %g, %g s "
		    "(expected finite and not negative)", sv->elapsed,
		    sv->epoch_elapsed, sv->busy);
	sv->order = buf + TRAIN_STATE_HEADER;
	sv->optim = sv->order + sv->rows * 4;
	sv->rngs = sv->optim + sv->olen;
	sv->sched = sv->rngs + (size_t)(t->held - 1) * TRAIN_STATE_RNG;
	sv->stop = sv->sched + NN_SCHEDULE_SAVE_SIZE;
	if (nn_schedule_restore(&sv->sched_state, sv->sched, cause) != 0)
		return -1;
	return train_stop_check(t, sv->stop, sv->epoch, cause);
}

/* What every partition of a job shares: its place in the schedule. */
static void
train_apply(struct nn_trainer *t, const struct train_saved *sv)
{
	double at = nn_clock_s();

	t->epoch = (int)sv->epoch;
	t->step = sv->step;
	t->cursor = (size_t)sv->cursor;
	t->correct = (size_t)sv->correct;
	t->loss_sum = sv->loss_sum;
	t->started = at - sv->elapsed;
	t->epoch_started = at - sv->epoch_elapsed;
	t->step_started = at;
	t->busy = sv->busy;
	t->sched = sv->sched_state;
}

int
nn_trainer_restore(struct nn_trainer *t, const unsigned char *buf,
    size_t len, char **cause)
{
	struct train_saved sv;
	size_t i, rows = t->train->n;
	int h;

	if (train_parse(t, buf, len, rows, &sv, cause) != 0)
		return -1;
	/* A repeated row would train on it twice and silently skip another. */
	if (train_check_order(t, sv.order, cause) != 0)
		return -1;
	/* The last check that can fail; it leaves the optimizer alone then. */
	if (nn_optim_restore(t->optim, sv.optim, (size_t)sv.olen, cause) != 0)
		return -1;
	train_get_rng(buf + 24, &t->rng[0]);
	for (h = 1; h < t->held; h++)
		train_get_rng(sv.rngs + (size_t)(h - 1) * TRAIN_STATE_RNG,
		    &t->rng[h]);
	for (i = 0; i < rows; i++)
		t->order[i] = nn_le_get_u32(sv.order + 4 * i);
	train_stop_restore(t, sv.stop);
	train_apply(t, &sv);
	return 0;
}

int
nn_trainer_adopt(struct nn_trainer *t, const unsigned char *buf, size_t len,
    char **cause)
{
	struct train_saved sv;
	uint64_t e;

	if (t->part < 0 || t->epoch != 0 || t->cursor != 0)
		return nn_fail(cause, "trainer state: only a new partition's "
		    "trainer adopts another's state");
	if (train_parse(t, buf, len, 0, &sv, cause) != 0)
		return -1;
	if (sv.epoch > (uint64_t)t->spec.epochs)
		return nn_fail(cause, "trainer state: epoch %" PRIu64 " of %d",
		    sv.epoch, t->spec.epochs);
	if (nn_optim_restore(t->optim, sv.optim, (size_t)sv.olen, cause) != 0)
		return -1;
	/* This shard's order, as every epoch's end before reshuffled it. */
	for (e = 1; e <= sv.epoch; e++)
		trainer_shuffle(t);
	train_apply(t, &sv);
	return 0;
}
