/*
 * Mini-batch training as a state machine. The permutation, cursor and RNG
 * are all the state between steps, so a step boundary is a safe point to
 * stop, pack or move the run.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "le.h"
#include "rng.h"
#include "train.h"

struct nn_trainer {
	struct nn_net		*net;
	struct nn_train_spec	 spec;
	const struct nn_data	*train;
	const struct nn_data	*test;
	struct nn_optim		*optim;
	struct nn_rng		 rng;
	uint32_t		*order;
	float			*xb;	/* gathered batch inputs */
	float			*yb;	/* gathered batch targets */
	int			 epoch;	/* epochs finished */
	size_t			 cursor;	/* rows done this epoch */
	double			 loss_sum;
	size_t			 correct;
	double			 started;	/* monotonic seconds */
	double			 epoch_started;
	double			 busy;	/* seconds of training this epoch */
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The shuffle stream differs from the init stream of the same seed. */
#define SHUFFLE_STREAM	0x6a09e667f3bcc908ULL

struct nn_trainer *
nn_trainer_new(struct nn_net *net, const struct nn_train_spec *spec,
    const struct nn_data *train, const struct nn_data *test)
{
	struct nn_trainer *t;
	size_t i, n, rows;

	t = xcalloc(1, sizeof *t);
	t->net = net;
	t->spec = *spec;
	t->train = train;
	t->test = test;
	nn_net_params(net, &n);
	t->optim = nn_optim_new(&spec->optim, n);
	nn_rng_seed(&t->rng, spec->seed ^ SHUFFLE_STREAM);
	t->order = xreallocarray(NULL, train->n, sizeof *t->order);
	for (i = 0; i < train->n; i++)
		t->order[i] = (uint32_t)i;
	rows = (size_t)nn_net_max_batch(net);
	t->xb = xreallocarray(NULL, rows * (size_t)train->in, sizeof (float));
	t->yb = xreallocarray(NULL, rows * (size_t)train->out, sizeof (float));
	t->started = now();
	return t;
}

void
nn_trainer_free(struct nn_trainer *t)
{
	if (t == NULL)
		return;
	nn_optim_free(t->optim);
	free(t->order);
	free(t->xb);
	free(t->yb);
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
	return t->epoch >= t->spec.epochs;
}

void
nn_trainer_position(const struct nn_trainer *t, int *epoch, size_t *done,
    size_t *total, double *loss, double *acc)
{
	*epoch = t->epoch + 1;
	*done = t->cursor;
	*total = t->train->n;
	*loss = t->cursor > 0 ? t->loss_sum / (double)t->cursor : 0;
	*acc = t->cursor > 0 ? (double)t->correct / (double)t->cursor : 0;
}

static float
data_mid(const struct nn_data *d)
{
	return (d->lo + d->hi) / 2;
}

void
nn_evaluate(struct nn_net *net, const struct nn_data *d, double *loss,
    double *accuracy)
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
		if (d->task == NN_TASK_CLASSIFICATION)
			correct += (size_t)nn_count_correct(out, y, b, d->out,
			    data_mid(d));
		sum += nn_net_loss(net, y, b, 0.0f);
	}
	*loss = d->n > 0 ? sum / (double)d->n : 0;
	*accuracy = d->n > 0 ? (double)correct / (double)d->n : 0;
}

/* One forward and backward pass over b rows; adds to the epoch sums. */
static void
trainer_pass(struct nn_trainer *t, const float *x, const float *y, int b,
    float scale, int accumulate)
{
	const struct nn_data *d = t->train;
	const float *out;

	out = nn_net_forward(t->net, x, b);
	if (d->task == NN_TASK_CLASSIFICATION)
		t->correct += (size_t)nn_count_correct(out, y, b, d->out,
		    data_mid(d));
	t->loss_sum += nn_net_loss(t->net, y, b, scale);
	nn_net_backward(t->net, x, b, accumulate);
}

static void
trainer_update(struct nn_trainer *t)
{
	float *params, *grads;

	params = nn_net_params(t->net, NULL);
	grads = nn_net_grads(t->net, NULL);
	nn_net_decay(t->net, t->spec.optim.weight_decay);
	nn_optim_step(t->optim, params, grads);
}

/* Full-batch gradient for rprop, in chunks the net has room for. */
static void
trainer_full_batch(struct nn_trainer *t)
{
	const struct nn_data *d = t->train;
	size_t i;
	int b, rows = nn_net_max_batch(t->net);

	for (i = 0; i < d->n; i += (size_t)b) {
		b = d->n - i < (size_t)rows ? (int)(d->n - i) : rows;
		trainer_pass(t, d->x + i * (size_t)d->in,
		    d->y + i * (size_t)d->out, b, 1.0f / (float)d->n, i > 0);
	}
	t->cursor = d->n;
	trainer_update(t);
}

static void
trainer_mini_batch(struct nn_trainer *t)
{
	const struct nn_data *d = t->train;
	const float *x, *y;
	size_t left = d->n - t->cursor, i, r;
	int b = left < (size_t)t->spec.batch ? (int)left : t->spec.batch;

	if (t->cursor == 0 && t->spec.shuffle)
		nn_rng_shuffle(&t->rng, t->order, (uint32_t)d->n);
	if (t->spec.shuffle) {
		for (i = 0; i < (size_t)b; i++) {
			r = t->order[t->cursor + i];
			memcpy(t->xb + i * d->in, d->x + r * d->in,
			    (size_t)d->in * sizeof (float));
			memcpy(t->yb + i * d->out, d->y + r * d->out,
			    (size_t)d->out * sizeof (float));
		}
		x = t->xb;
		y = t->yb;
	} else {
		x = d->x + t->cursor * d->in;
		y = d->y + t->cursor * d->out;
	}
	trainer_pass(t, x, y, b, 1.0f / (float)b, 0);
	trainer_update(t);
	t->cursor += (size_t)b;
}

int
nn_trainer_step(struct nn_trainer *t, struct nn_epoch_stats *st)
{
	const struct nn_data *d = t->train;
	double started = now();

	if (nn_trainer_done(t))
		return -1;
	if (t->cursor == 0) {
		t->loss_sum = 0;
		t->correct = 0;
		t->busy = 0;
		t->epoch_started = started;
	}
	if (t->spec.optim.type == NN_OPTIM_RPROP)
		trainer_full_batch(t);
	else
		trainer_mini_batch(t);
	t->busy += now() - started;
	if (t->cursor < d->n)
		return 0;

	memset(st, 0, sizeof *st);
	st->epoch = ++t->epoch;
	st->loss = t->loss_sum / (double)d->n;
	st->has_accuracy = d->task == NN_TASK_CLASSIFICATION;
	st->accuracy = (double)t->correct / (double)d->n;
	st->samples_per_sec = t->busy > 0 ? (double)d->n / t->busy : 0;
	if (t->test != NULL && t->test->n > 0) {
		st->has_test = 1;
		nn_evaluate(t->net, t->test, &st->test_loss,
		    &st->test_accuracy);
	}
	st->elapsed_s = now() - t->started;
	t->cursor = 0;
	return 1;
}

/*
 * Saved layout, little-endian: u32 magic, u32 version, u64 rows, u64
 * optimizer bytes, u64 rng[4], u64 epoch, u64 cursor, u64 correct, f64
 * loss_sum, f64 elapsed, f64 epoch_elapsed, f64 busy, u32 order[rows],
 * then the optimizer's own section (nn_optim_save).
 */
#define TRAIN_STATE_MAGIC	0x53544e4eU	/* "NNTS" */
#define TRAIN_STATE_VERSION	1
#define TRAIN_STATE_HEADER	112

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

void
nn_trainer_save(const struct nn_trainer *t, unsigned char **buf, size_t *len)
{
	size_t i, rows = t->train->n, olen = nn_optim_save_size(t->optim);
	unsigned char *p;
	double at = now();

	*len = TRAIN_STATE_HEADER + rows * 4 + olen;
	*buf = p = xmalloc(*len);
	nn_le_put_u32(p, TRAIN_STATE_MAGIC);
	nn_le_put_u32(p + 4, TRAIN_STATE_VERSION);
	nn_le_put_u64(p + 8, rows);
	nn_le_put_u64(p + 16, olen);
	for (i = 0; i < 4; i++)
		nn_le_put_u64(p + 24 + 8 * i, t->rng.s[i]);
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
	nn_optim_save(t->optim, p + rows * 4);
}

/* A duration from a state: finite and not negative. */
static int
train_duration(double v)
{
	return isfinite(v) && v >= 0;
}

int
nn_trainer_restore(struct nn_trainer *t, const unsigned char *buf,
    size_t len, char **cause)
{
	const unsigned char *order;
	unsigned char *seen = NULL;
	size_t i, rows = t->train->n;
	uint64_t saved_rows, olen, epoch, cursor, correct;
	uint32_t v;
	double elapsed, epoch_elapsed, busy, at;
	int rc = -1;

	if (len < TRAIN_STATE_HEADER) {
		nn_fail(cause, "trainer state: %zu bytes, shorter than its "
		    "%d-byte header", len, TRAIN_STATE_HEADER);
		goto out;
	}
	if (nn_le_get_u32(buf) != TRAIN_STATE_MAGIC) {
		nn_fail(cause, "trainer state: bad magic 0x%08" PRIx32
		    " (expected 0x%08x)", nn_le_get_u32(buf),
		    TRAIN_STATE_MAGIC);
		goto out;
	}
	if (nn_le_get_u32(buf + 4) != TRAIN_STATE_VERSION) {
		nn_fail(cause, "trainer state: version %" PRIu32
		    " (expected %d)", nn_le_get_u32(buf + 4),
		    TRAIN_STATE_VERSION);
		goto out;
	}
	saved_rows = nn_le_get_u64(buf + 8);
	if (saved_rows != rows) {
		nn_fail(cause, "trainer state: %" PRIu64 " rows, expected %zu",
		    saved_rows, rows);
		goto out;
	}
	/* rows fits in memory as order[], so rows * 4 cannot overflow. */
	olen = nn_le_get_u64(buf + 16);
	if (len - TRAIN_STATE_HEADER < rows * 4 ||
	    olen != len - TRAIN_STATE_HEADER - rows * 4) {
		nn_fail(cause, "trainer state: %zu bytes, expected %zu for "
		    "%zu rows and %" PRIu64 " bytes of optimizer state", len,
		    (size_t)TRAIN_STATE_HEADER + rows * 4 + (size_t)olen,
		    rows, olen);
		goto out;
	}
	epoch = nn_le_get_u64(buf + 56);
	cursor = nn_le_get_u64(buf + 64);
	correct = nn_le_get_u64(buf + 72);
	elapsed = train_get_f64(buf + 88);
	epoch_elapsed = train_get_f64(buf + 96);
	busy = train_get_f64(buf + 104);
	if (epoch > INT_MAX) {
		nn_fail(cause, "trainer state: epoch %" PRIu64 " (limit %d)",
		    epoch, INT_MAX);
		goto out;
	}
	/* Between steps the cursor is always inside the epoch. */
	if (cursor > 0 && cursor >= rows) {
		nn_fail(cause, "trainer state: cursor %" PRIu64 " (expected "
		    "below %zu rows)", cursor, rows);
		goto out;
	}
	if (correct > rows) {
		nn_fail(cause, "trainer state: %" PRIu64 " correct (expected "
		    "at most %zu rows)", correct, rows);
		goto out;
	}
	if (!train_duration(elapsed) || !train_duration(epoch_elapsed) ||
	    !train_duration(busy)) {
		nn_fail(cause, "trainer state: bad times %g, %g, %g s "
		    "(expected finite and not negative)", elapsed,
		    epoch_elapsed, busy);
		goto out;
	}
	/* A repeated row would train on it twice and silently skip another. */
	order = buf + TRAIN_STATE_HEADER;
	seen = xcalloc(rows / 8 + 1, 1);
	for (i = 0; i < rows; i++) {
		v = nn_le_get_u32(order + 4 * i);
		if (v >= rows || (seen[v / 8] & (1u << (v % 8))) != 0) {
			nn_fail(cause, "trainer state: order[%zu] = %" PRIu32
			    " (expected a permutation of %zu rows)", i, v,
			    rows);
			goto out;
		}
		seen[v / 8] |= (unsigned char)(1u << (v % 8));
	}
	/* The last check that can fail; it leaves the optimizer alone then. */
	if (nn_optim_restore(t->optim, order + rows * 4, (size_t)olen,
	    cause) != 0)
		goto out;

	for (i = 0; i < 4; i++)
		t->rng.s[i] = nn_le_get_u64(buf + 24 + 8 * i);
	for (i = 0; i < rows; i++)
		t->order[i] = nn_le_get_u32(order + 4 * i);
	t->epoch = (int)epoch;
	t->cursor = (size_t)cursor;
	t->correct = (size_t)correct;
	t->loss_sum = train_get_f64(buf + 80);
	at = now();
	t->started = at - elapsed;
	t->epoch_started = at - epoch_elapsed;
	t->busy = busy;
	rc = 0;
out:
	free(seen);
	return rc;
}
