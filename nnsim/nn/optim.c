/*
 * SGD (momentum, Nesterov), Adam, AdamW and iRPROP-, with the update rules of
 * PyTorch's torch.optim so that runs can be compared with it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/le.h"
#include "nn/blas.h"
#include "nn/optim.h"
#include "nn/pool.h"

/* Below this many parameters a second thread costs more than it saves. */
#define OPTIM_MIN_CHUNK	65536

struct nn_optim {
	struct nn_optim_spec	 spec;
	size_t			 n;
	uint64_t		 steps;
	float			 lr;	/* this step's, from a schedule */
	float			*state;	/* nstate * n floats */
	size_t			 nstate;
};

static const char *optim_names[] = {
	[NN_OPTIM_SGD] = "sgd",
	[NN_OPTIM_ADAM] = "adam",
	[NN_OPTIM_RPROP] = "rprop",
	[NN_OPTIM_ADAMW] = "adamw",
};
const char nn_optim_names[] = "sgd, adam, rprop, adamw";

const char *
nn_optim_name(enum nn_optim_type t)
{
	return (size_t)t < sizeof optim_names / sizeof optim_names[0] ?
	    optim_names[t] : "?";
}

int
nn_optim_parse(const char *s, enum nn_optim_type *t)
{
	size_t i;

	for (i = 0; i < sizeof optim_names / sizeof optim_names[0]; i++) {
		if (strcmp(optim_names[i], s) == 0) {
			*t = (enum nn_optim_type)i;
			return 0;
		}
	}
	return -1;
}

void
nn_optim_spec_default(struct nn_optim_spec *s, enum nn_optim_type type)
{
	memset(s, 0, sizeof *s);
	s->type = type;
	s->lr = type == NN_OPTIM_ADAM || type == NN_OPTIM_ADAMW ? 0.001f :
	    0.01f;
	/* torch.optim.AdamW's default; the others decay only when asked. */
	s->weight_decay = type == NN_OPTIM_ADAMW ? 0.01f : 0.0f;
	s->beta1 = 0.9f;
	s->beta2 = 0.999f;
	s->eps = 1e-8f;
	s->eta_plus = 1.2f;
	s->eta_minus = 0.5f;
	s->delta0 = 0.1f;
	s->delta_min = 1e-6f;
	s->delta_max = 50.0f;
}

struct nn_optim *
nn_optim_new(const struct nn_optim_spec *spec, size_t n)
{
	struct nn_optim *o;
	size_t i;

	o = xcalloc(1, sizeof *o);
	o->spec = *spec;
	o->n = n;
	o->lr = spec->lr;
	switch (spec->type) {
	case NN_OPTIM_SGD:
		o->nstate = spec->momentum > 0 ? 1 : 0;
		break;
	case NN_OPTIM_ADAM:
	case NN_OPTIM_ADAMW:
		o->nstate = 2;		/* first and second moments */
		break;
	case NN_OPTIM_RPROP:
		o->nstate = 2;		/* step sizes, previous gradients */
		break;
	}
	o->state = xcalloc(o->nstate * n, sizeof (float));
	if (spec->type == NN_OPTIM_RPROP) {
		for (i = 0; i < n; i++)
			o->state[i] = spec->delta0;
	}
	return o;
}

void
nn_optim_free(struct nn_optim *o)
{
	if (o == NULL)
		return;
	free(o->state);
	free(o);
}

/* What one chunk of an update needs. */
struct optim_job {
	struct nn_optim	*o;
	float		*w;
	float		*g;
	float		 adam_step;	/* lr / (1 - beta1^t) */
	float		 adam_bc2;	/* sqrt(1 - beta2^t) */
	float		 adamw_keep;	/* 1 - lr * weight_decay */
};

/* One pass over memory per update: they are bandwidth-bound. */
static void
sgd_range(void *arg, size_t lo, size_t hi)
{
	struct optim_job *j = arg;
	const float lr = j->o->lr, mu = j->o->spec.momentum;
	const int first = j->o->steps == 0;
	float *restrict w = j->w, *restrict v = j->o->state, vi;
	const float *restrict g = j->g;
	size_t i;

	if (j->o->nstate == 0) {
		for (i = lo; i < hi; i++)
			w[i] -= lr * g[i];
		return;
	}
	/* PyTorch: the buffer starts as the first gradient. The first step
	 * has its own loops: a test inside the loop kept it scalar. */
	if (first)
		memcpy(v + lo, g + lo, (hi - lo) * sizeof *v);
	if (j->o->spec.nesterov && first) {
		for (i = lo; i < hi; i++)
			w[i] -= lr * (g[i] + mu * g[i]);
	} else if (j->o->spec.nesterov) {
		for (i = lo; i < hi; i++) {
			vi = mu * v[i] + g[i];
			v[i] = vi;
			w[i] -= lr * (g[i] + mu * vi);
		}
	} else if (first) {
		for (i = lo; i < hi; i++)
			w[i] -= lr * g[i];
	} else {
		for (i = lo; i < hi; i++) {
			vi = mu * v[i] + g[i];
			v[i] = vi;
			w[i] -= lr * vi;
		}
	}
}

static void
adam_range(void *arg, size_t lo, size_t hi)
{
	struct optim_job *j = arg;
	const float b1 = j->o->spec.beta1, b2 = j->o->spec.beta2;
	const float eps = j->o->spec.eps, step = j->adam_step;
	const float bc2 = j->adam_bc2;
	float *restrict w = j->w, *restrict m = j->o->state;
	float *restrict v = j->o->state + j->o->n;
	const float *restrict g = j->g;
	size_t i;

	for (i = lo; i < hi; i++) {
		m[i] = b1 * m[i] + (1.0f - b1) * g[i];
		v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
		w[i] -= step * m[i] / (sqrtf(v[i]) / bc2 + eps);
	}
}

/* torch.optim.AdamW: decay the weights first, then Adam's step. */
static void
adamw_range(void *arg, size_t lo, size_t hi)
{
	struct optim_job *j = arg;
	const float keep = j->adamw_keep;
	float *restrict w = j->w;
	size_t i;

	for (i = lo; i < hi; i++)
		w[i] *= keep;
	adam_range(arg, lo, hi);
}

/* iRPROP-: on a sign change shrink the step and forget the gradient. */
static void
rprop_range(void *arg, size_t lo, size_t hi)
{
	struct optim_job *j = arg;
	const struct nn_optim_spec *s = &j->o->spec;
	float *restrict w = j->w, *restrict g = j->g;
	float *restrict delta = j->o->state, *restrict prev = delta + j->o->n;
	float p;
	size_t i;

	for (i = lo; i < hi; i++) {
		p = prev[i] * g[i];
		if (p > 0)
			delta[i] = fminf(delta[i] * s->eta_plus, s->delta_max);
		else if (p < 0) {
			delta[i] = fmaxf(delta[i] * s->eta_minus, s->delta_min);
			g[i] = 0;
		}
		if (g[i] > 0)
			w[i] -= delta[i];
		else if (g[i] < 0)
			w[i] += delta[i];
		prev[i] = g[i];
	}
}

void
nn_optim_step(struct nn_optim *o, float *params, float *grads)
{
	struct optim_job j = { .o = o, .w = params, .g = grads };
	double t = (double)(o->steps + 1);
	nn_pool_fn *fn = sgd_range;

	switch (o->spec.type) {
	case NN_OPTIM_SGD:
		break;
	case NN_OPTIM_ADAM:
	case NN_OPTIM_ADAMW:
		j.adam_step = (float)(o->lr / (1.0 - pow(o->spec.beta1, t)));
		j.adam_bc2 = (float)sqrt(1.0 - pow(o->spec.beta2, t));
		fn = adam_range;
		if (o->spec.type == NN_OPTIM_ADAMW) {
			j.adamw_keep = 1.0f - o->lr * o->spec.weight_decay;
			fn = adamw_range;
		}
		break;
	case NN_OPTIM_RPROP:
		fn = rprop_range;
		break;
	}
	/* Elementwise, so the split never changes a result. */
	nn_pool_run(fn, &j, o->n, OPTIM_MIN_CHUNK, nn_blas_threads());
	o->steps++;
}

void
nn_optim_set_lr(struct nn_optim *o, float lr)
{
	o->lr = lr;
}

float
nn_optim_lr(const struct nn_optim *o)
{
	return o->lr;
}

double
nn_optim_clip(float *grads, size_t n, float max_norm)
{
	double sq = 0, norm;
	float coef;
	size_t i;

	for (i = 0; i < n; i++)
		sq += (double)grads[i] * grads[i];
	norm = sqrt(sq);
	if (max_norm > 0 && norm + 1e-6 > max_norm) {
		coef = (float)(max_norm / (norm + 1e-6));
		if (coef < 1.0f) {
			for (i = 0; i < n; i++)
				grads[i] *= coef;
		}
	}
	return norm;
}

float *
nn_optim_state(struct nn_optim *o, size_t *n)
{
	*n = o->nstate * o->n;
	return o->state;
}

uint64_t
nn_optim_steps(const struct nn_optim *o)
{
	return o->steps;
}

void
nn_optim_set_steps(struct nn_optim *o, uint64_t steps)
{
	o->steps = steps;
}

/*
 * Saved layout: u32 type, u32 nstate, u64 n, u64 steps, then nstate * n
 * floats, all little-endian so a state moves between hosts.
 */
#define OPTIM_SAVE_HEADER	24

size_t
nn_optim_save_size(const struct nn_optim *o)
{
	return OPTIM_SAVE_HEADER + o->nstate * o->n * 4;
}

void
nn_optim_save(const struct nn_optim *o, unsigned char *buf)
{
	size_t i, count = o->nstate * o->n;
	uint32_t bits;

	nn_le_put_u32(buf, (uint32_t)o->spec.type);
	nn_le_put_u32(buf + 4, (uint32_t)o->nstate);
	nn_le_put_u64(buf + 8, o->n);
	nn_le_put_u64(buf + 16, o->steps);
	buf += OPTIM_SAVE_HEADER;
	for (i = 0; i < count; i++) {
		memcpy(&bits, &o->state[i], sizeof bits);
		nn_le_put_u32(buf + 4 * i, bits);
	}
}

int
nn_optim_restore(struct nn_optim *o, const unsigned char *buf, size_t len,
    char **cause)
{
	size_t i, count = o->nstate * o->n;
	uint32_t type, nstate, bits;
	uint64_t n;

	if (len < OPTIM_SAVE_HEADER) {
		return nn_fail(cause, "optimizer state: %zu bytes, shorter "
		    "than its %d-byte header", len, OPTIM_SAVE_HEADER);
	}
	type = nn_le_get_u32(buf);
	nstate = nn_le_get_u32(buf + 4);
	n = nn_le_get_u64(buf + 8);
	if (type != (uint32_t)o->spec.type) {
		return nn_fail(cause, "optimizer state: optimizer %s, "
		    "expected %s", nn_optim_name((enum nn_optim_type)type),
		    nn_optim_name(o->spec.type));
	}
	/* sgd keeps a buffer only with momentum. */
	if (nstate != o->nstate) {
		return nn_fail(cause, "optimizer state: %" PRIu32 " buffers, "
		    "expected %zu", nstate, o->nstate);
	}
	if (n != o->n) {
		return nn_fail(cause, "optimizer state: %" PRIu64
		    " parameters, expected %zu", n, o->n);
	}
	if (len - OPTIM_SAVE_HEADER != count * 4) {
		return nn_fail(cause, "optimizer state: %zu bytes, expected "
		    "%zu", len, nn_optim_save_size(o));
	}
	o->steps = nn_le_get_u64(buf + 16);
	buf += OPTIM_SAVE_HEADER;
	for (i = 0; i < count; i++) {
		bits = nn_le_get_u32(buf + 4 * i);
		memcpy(&o->state[i], &bits, sizeof bits);
	}
	return 0;
}
