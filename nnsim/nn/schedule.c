/*
 * Learning-rate schedules after torch.optim.lr_scheduler (StepLR,
 * CosineAnnealingLR, ReduceLROnPlateau), stepped once an epoch, behind a
 * linear warmup stepped every mini-batch.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/le.h"
#include "nn/schedule.h"

static const char *schedule_names[] = {
	[NN_SCHED_CONSTANT] = "constant",
	[NN_SCHED_STEP] = "step",
	[NN_SCHED_COSINE] = "cosine",
	[NN_SCHED_PLATEAU] = "plateau",
};
const char nn_schedule_names[] = "constant, step, cosine, plateau";

const char *
nn_schedule_name(enum nn_sched_type t)
{
	return (size_t)t < sizeof schedule_names / sizeof schedule_names[0] ?
	    schedule_names[t] : "?";
}

int
nn_schedule_parse(const char *s, enum nn_sched_type *t)
{
	size_t i;

	for (i = 0; i < sizeof schedule_names / sizeof schedule_names[0];
	    i++) {
		if (strcmp(schedule_names[i], s) == 0) {
			*t = (enum nn_sched_type)i;
			return 0;
		}
	}
	return -1;
}

void
nn_schedule_spec_default(struct nn_schedule_spec *s, enum nn_sched_type t)
{
	memset(s, 0, sizeof *s);
	s->type = t;
	s->every = 10;
	s->gamma = 0.1f;
	s->factor = 0.1f;
	s->patience = 10;
	s->threshold = 1e-4f;
}

void
nn_schedule_start(struct nn_schedule_state *st, float base_lr)
{
	st->best = INFINITY;
	st->bad = 0;
	st->lr = base_lr;
}

float
nn_schedule_lr(const struct nn_schedule_spec *s,
    const struct nn_schedule_state *st, float base_lr, int epoch,
    size_t step, size_t steps, int epochs)
{
	double lr = base_lr, warm, at, t;
	int e = epoch - s->warmup;

	/* The main schedule counts its epochs from the warmup's end. */
	if (e < 0)
		e = 0;
	switch (s->type) {
	case NN_SCHED_CONSTANT:
		break;
	case NN_SCHED_STEP:
		/* A spec not from net.json may leave every at 0. */
		lr = base_lr * pow(s->gamma, (double)(e / (s->every > 0 ?
		    s->every : 1)));
		break;
	case NN_SCHED_COSINE:
		t = epochs > s->warmup ? epochs - s->warmup : 1;
		lr = s->min_lr + (base_lr - s->min_lr) *
		    (1.0 + cos(M_PI * (e < t ? e : t) / t)) / 2.0;
		break;
	case NN_SCHED_PLATEAU:
		lr = st->lr;
		break;
	}
	if (epoch < s->warmup) {
		warm = (double)s->warmup * (double)steps;
		at = (double)epoch * (double)steps + (double)step + 1.0;
		lr *= at / warm;
	}
	return (float)lr;
}

void
nn_schedule_epoch_end(const struct nn_schedule_spec *s,
    struct nn_schedule_state *st, double loss)
{
	float lr;

	if (s->type != NN_SCHED_PLATEAU)
		return;
	/* A NaN loss never improves. */
	if (loss < st->best * (1.0 - (double)s->threshold)) {
		st->best = loss;
		st->bad = 0;
		return;
	}
	if (++st->bad <= (uint32_t)s->patience)
		return;
	lr = st->lr * s->factor;
	st->lr = lr > s->min_lr ? lr : s->min_lr;
	st->bad = 0;
}

/* Layout: f64 best, u32 bad, f32 lr. */
void
nn_schedule_save(const struct nn_schedule_state *st, unsigned char *buf)
{
	uint64_t best;
	uint32_t lr;

	memcpy(&best, &st->best, sizeof best);
	memcpy(&lr, &st->lr, sizeof lr);
	nn_le_put_u64(buf, best);
	nn_le_put_u32(buf + 8, st->bad);
	nn_le_put_u32(buf + 12, lr);
}

int
nn_schedule_restore(struct nn_schedule_state *st, const unsigned char *buf,
    char **cause)
{
	struct nn_schedule_state v;
	uint64_t best = nn_le_get_u64(buf);
	uint32_t lr = nn_le_get_u32(buf + 12);

	memcpy(&v.best, &best, sizeof v.best);
	memcpy(&v.lr, &lr, sizeof v.lr);
	v.bad = nn_le_get_u32(buf + 8);
	if (isnan(v.best) || !isfinite(v.lr) || !(v.lr >= 0))
		return nn_fail(cause, "trainer state: schedule best %g, lr %g "
		    "(expected a loss and a finite rate >= 0)", v.best,
		    (double)v.lr);
	*st = v;
	return 0;
}
