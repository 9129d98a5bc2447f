/*
 * Dense layers, activations and losses. Every layer is one sgemm forward and
 * two backward (weights and inputs); the rest are flat loops over the batch
 * that the compiler vectorises, so a step is dominated by the GEMMs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "nn/blas.h"
#include "nn/net.h"

struct nn_net {
	struct nn_arch	 arch;
	int		 max_batch;
	int		 batch;		/* rows of the last forward pass */
	size_t		 nparams;
	float		*params;
	float		*grads;
	size_t		 w_off[NN_MAX_LAYERS];
	size_t		 b_off[NN_MAX_LAYERS];
	float		*act[NN_MAX_LAYERS];	/* batch x units, after act */
	float		*mask[NN_MAX_LAYERS];	/* dropout's 0 or 1/(1-p) */
	float		*drop[NN_MAX_LAYERS];	/* act times mask */
	int		 dropping;	/* the last forward pass dropped */
	float		*zout;		/* output pre-activations */
	float		*delta[2];	/* dL/dz, ping-pong between layers */
};

static const char *act_names[] = {
	[NN_ACT_LINEAR] = "linear",
	[NN_ACT_SIGMOID] = "sigmoid",
	[NN_ACT_TANH] = "tanh",
	[NN_ACT_RELU] = "relu",
	[NN_ACT_LEAKY_RELU] = "leaky_relu",
	[NN_ACT_SOFTMAX] = "softmax",
};
const char nn_act_names[] = "linear, sigmoid, tanh, relu, leaky_relu, softmax";

static const char *loss_names[] = {
	[NN_LOSS_MSE] = "mse",
	[NN_LOSS_CROSS_ENTROPY] = "cross_entropy",
};
const char nn_loss_names[] = "mse, cross_entropy";

static const char *init_names[] = {
	[NN_INIT_AUTO] = "auto",
	[NN_INIT_HE] = "he",
	[NN_INIT_XAVIER] = "xavier",
	[NN_INIT_TORCH] = "torch",
};
const char nn_init_names[] = "auto, he, xavier, torch";

#define NELEM(a) (sizeof (a) / sizeof (a)[0])

static int
name_lookup(const char **names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	}
	return -1;
}

const char *
nn_act_name(enum nn_act a)
{
	return (size_t)a < NELEM(act_names) ? act_names[a] : "?";
}

int
nn_act_parse(const char *s, enum nn_act *a)
{
	int i = name_lookup(act_names, NELEM(act_names), s);

	if (i < 0)
		return -1;
	*a = (enum nn_act)i;
	return 0;
}

const char *
nn_loss_name(enum nn_loss l)
{
	return (size_t)l < NELEM(loss_names) ? loss_names[l] : "?";
}

int
nn_loss_parse(const char *s, enum nn_loss *l)
{
	int i = name_lookup(loss_names, NELEM(loss_names), s);

	if (i < 0)
		return -1;
	*l = (enum nn_loss)i;
	return 0;
}

const char *
nn_init_name(enum nn_init v)
{
	return (size_t)v < NELEM(init_names) ? init_names[v] : "?";
}

int
nn_init_parse(const char *s, enum nn_init *v)
{
	int i = name_lookup(init_names, NELEM(init_names), s);

	if (i < 0)
		return -1;
	*v = (enum nn_init)i;
	return 0;
}

int
nn_arch_outputs(const struct nn_arch *a)
{
	return a->layer[a->nlayers - 1].units;
}

size_t
nn_arch_nparams(const struct nn_arch *a)
{
	size_t n = 0, in = (size_t)a->input;
	int l;

	for (l = 0; l < a->nlayers; l++) {
		n += ((size_t)a->layer[l].units) * (in + 1);
		in = (size_t)a->layer[l].units;
	}
	return n;
}

int
nn_arch_check(const struct nn_arch *a, char **cause)
{
	const struct nn_layer_spec *out;
	int l;

	if (a->input < 1 || a->input > NN_MAX_UNITS)
		return nn_fail(cause, "input: expected 1 to %d inputs, got %d",
		    NN_MAX_UNITS, a->input);
	if (a->nlayers < 1 || a->nlayers > NN_MAX_LAYERS)
		return nn_fail(cause, "layers: expected 1 to %d layers, got %d",
		    NN_MAX_LAYERS, a->nlayers);
	for (l = 0; l < a->nlayers; l++) {
		if (a->layer[l].units < 1 || a->layer[l].units > NN_MAX_UNITS)
			return nn_fail(cause, "layers[%d].units: expected 1 "
			    "to %d, got %d", l, NN_MAX_UNITS, a->layer[l].units);
		if ((size_t)a->layer[l].act >= NELEM(act_names))
			return nn_fail(cause, "layers[%d].activation: invalid",
			    l);
		if (a->layer[l].act == NN_ACT_SOFTMAX && a->layer[l].units < 2)
			return nn_fail(cause, "layers[%d]: softmax needs at "
			    "least 2 units, got %d", l, a->layer[l].units);
	}
	if (nn_arch_nparams(a) > NN_MAX_PARAMS)
		return nn_fail(cause, "layers: %zu parameters (limit %zu)",
		    nn_arch_nparams(a), NN_MAX_PARAMS);
	out = &a->layer[a->nlayers - 1];
	if (a->loss == NN_LOSS_CROSS_ENTROPY && out->act != NN_ACT_SOFTMAX &&
	    out->act != NN_ACT_SIGMOID)
		return nn_fail(cause, "loss: cross_entropy needs a softmax or "
		    "sigmoid output layer (layers[%d].activation is %s)",
		    a->nlayers - 1, nn_act_name(out->act));
	if ((size_t)a->loss >= NELEM(loss_names))
		return nn_fail(cause, "loss: invalid");
	if (!(a->leaky_slope >= 0 && a->leaky_slope < 1))
		return nn_fail(cause, "leaky_slope: expected 0 <= slope < 1");
	for (l = 0; l < a->nlayers; l++) {
		if (!(a->layer[l].dropout >= 0 && a->layer[l].dropout < 1))
			return nn_fail(cause, "layers[%d].dropout: expected a "
			    "number from 0 to below 1", l);
		/* Dropping outputs would only add noise to the loss. */
		if (l == a->nlayers - 1 && a->layer[l].dropout > 0)
			return nn_fail(cause, "layers[%d].dropout: the output "
			    "layer drops nothing (expected 0 or none)", l);
	}
	return 0;
}

struct nn_net *
nn_net_new(const struct nn_arch *arch, int max_batch)
{
	struct nn_net *net;
	size_t off = 0, in = (size_t)arch->input, widest = in, units;
	int l;

	if (nn_arch_check(arch, NULL) != 0 || max_batch < 1)
		fatal("nn_net_new: invalid architecture");
	net = xcalloc(1, sizeof *net);
	net->arch = *arch;
	net->max_batch = max_batch;
	for (l = 0; l < arch->nlayers; l++) {
		units = (size_t)arch->layer[l].units;
		net->w_off[l] = off;
		off += units * in;
		net->b_off[l] = off;
		off += units;
		net->act[l] = xreallocarray(NULL, (size_t)max_batch * units,
		    sizeof (float));
		if (arch->layer[l].dropout > 0) {
			net->mask[l] = xreallocarray(NULL, (size_t)max_batch *
			    units, sizeof (float));
			net->drop[l] = xreallocarray(NULL, (size_t)max_batch *
			    units, sizeof (float));
		}
		if (units > widest)
			widest = units;
		in = units;
	}
	net->nparams = off;
	net->params = xcalloc(off, sizeof (float));
	net->grads = xcalloc(off, sizeof (float));
	net->zout = xreallocarray(NULL, (size_t)max_batch * in, sizeof (float));
	net->delta[0] = xreallocarray(NULL, (size_t)max_batch * widest,
	    sizeof (float));
	net->delta[1] = xreallocarray(NULL, (size_t)max_batch * widest,
	    sizeof (float));
	return net;
}

void
nn_net_free(struct nn_net *net)
{
	int l;

	if (net == NULL)
		return;
	for (l = 0; l < net->arch.nlayers; l++) {
		free(net->act[l]);
		free(net->mask[l]);
		free(net->drop[l]);
	}
	free(net->params);
	free(net->grads);
	free(net->zout);
	free(net->delta[0]);
	free(net->delta[1]);
	free(net);
}

const struct nn_arch *
nn_net_arch(const struct nn_net *net)
{
	return &net->arch;
}

int
nn_net_max_batch(const struct nn_net *net)
{
	return net->max_batch;
}

float *
nn_net_params(struct nn_net *net, size_t *n)
{
	if (n != NULL)
		*n = net->nparams;
	return net->params;
}

float *
nn_net_grads(struct nn_net *net, size_t *n)
{
	if (n != NULL)
		*n = net->nparams;
	return net->grads;
}

void
nn_net_layer_offsets(const struct nn_net *net, int l, size_t *w_off,
    size_t *b_off)
{
	*w_off = net->w_off[l];
	*b_off = net->b_off[l];
}

static int
layer_inputs(const struct nn_net *net, int l)
{
	return l == 0 ? net->arch.input : net->arch.layer[l - 1].units;
}

void
nn_net_init(struct nn_net *net, uint64_t seed)
{
	struct nn_rng rng;
	enum nn_init init;
	size_t i, n;
	float limit, *w;
	int l, in, out;

	nn_rng_seed(&rng, seed);
	for (l = 0; l < net->arch.nlayers; l++) {
		in = layer_inputs(net, l);
		out = net->arch.layer[l].units;
		init = net->arch.layer[l].init;
		if (init == NN_INIT_AUTO)
			init = (net->arch.layer[l].act == NN_ACT_RELU ||
			    net->arch.layer[l].act == NN_ACT_LEAKY_RELU) ?
			    NN_INIT_HE : NN_INIT_XAVIER;
		/* Uniform variants: sqrtf and integer-derived floats are exact
		 * under IEEE, so every platform draws the same weights. */
		if (init == NN_INIT_HE)
			limit = sqrtf(6.0f / (float)in);
		else if (init == NN_INIT_TORCH)
			limit = 1.0f / sqrtf((float)in);
		else
			limit = sqrtf(6.0f / (float)(in + out));
		w = net->params + net->w_off[l];
		n = (size_t)in * (size_t)out;
		for (i = 0; i < n; i++)
			w[i] = (2.0f * nn_rng_float(&rng) - 1.0f) * limit;
		w = net->params + net->b_off[l];
		for (i = 0; i < (size_t)out; i++)
			w[i] = init == NN_INIT_TORCH ? (2.0f *
			    nn_rng_float(&rng) - 1.0f) * limit : 0.0f;
	}
}

static void
softmax_rows(float *a, int rows, int units)
{
	float *row, max, sum;
	int r, j;

	for (r = 0; r < rows; r++) {
		row = a + (size_t)r * units;
		max = row[0];
		for (j = 1; j < units; j++)
			if (row[j] > max)
				max = row[j];
		sum = 0;
		for (j = 0; j < units; j++) {
			row[j] = expf(row[j] - max);
			sum += row[j];
		}
		for (j = 0; j < units; j++)
			row[j] /= sum;
	}
}

/* Applies the activation in place to n = rows x units values. */
static void
act_forward(enum nn_act act, float slope, float *a, int rows, int units)
{
	size_t i, n = (size_t)rows * units;

	switch (act) {
	case NN_ACT_LINEAR:
		break;
	case NN_ACT_SIGMOID:
		for (i = 0; i < n; i++)
			a[i] = 1.0f / (1.0f + expf(-a[i]));
		break;
	case NN_ACT_TANH:
		for (i = 0; i < n; i++)
			a[i] = tanhf(a[i]);
		break;
	case NN_ACT_RELU:
		for (i = 0; i < n; i++)
			a[i] = a[i] > 0.0f ? a[i] : 0.0f;
		break;
	case NN_ACT_LEAKY_RELU:
		for (i = 0; i < n; i++)
			a[i] = a[i] > 0.0f ? a[i] : slope * a[i];
		break;
	case NN_ACT_SOFTMAX:
		softmax_rows(a, rows, units);
		break;
	}
}

/* Turns dL/da into dL/dz in place, from the activations a. */
static void
act_backward(enum nn_act act, float slope, const float *a, float *d,
    int rows, int units)
{
	size_t i, n = (size_t)rows * units;
	const float *ar;
	float *dr, dot;
	int r, j;

	switch (act) {
	case NN_ACT_LINEAR:
		break;
	case NN_ACT_SIGMOID:
		for (i = 0; i < n; i++)
			d[i] *= a[i] * (1.0f - a[i]);
		break;
	case NN_ACT_TANH:
		for (i = 0; i < n; i++)
			d[i] *= 1.0f - a[i] * a[i];
		break;
	case NN_ACT_RELU:
		for (i = 0; i < n; i++)
			d[i] = a[i] > 0.0f ? d[i] : 0.0f;
		break;
	case NN_ACT_LEAKY_RELU:
		/* a and z share their sign because the slope is positive. */
		for (i = 0; i < n; i++)
			d[i] = a[i] > 0.0f ? d[i] : slope * d[i];
		break;
	case NN_ACT_SOFTMAX:
		/* Jacobian-vector product: dz = a * (da - <da, a>). */
		for (r = 0; r < rows; r++) {
			ar = a + (size_t)r * units;
			dr = d + (size_t)r * units;
			dot = 0;
			for (j = 0; j < units; j++)
				dot += dr[j] * ar[j];
			for (j = 0; j < units; j++)
				dr[j] = ar[j] * (dr[j] - dot);
		}
		break;
	}
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t
dropout_mix(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The dropout stream differs from the init and shuffle streams. */
#define DROPOUT_STREAM	0x3c6ef372fe94f82bULL

uint64_t
nn_dropout_key(uint64_t seed, int epoch)
{
	return dropout_mix(dropout_mix(seed ^ DROPOUT_STREAM) ^
	    (uint64_t)epoch);
}

/* Layer l's masks for the batch's rows, applied into drop[l]. */
static void
dropout_apply(struct nn_net *net, int l, const struct nn_dropout *d,
    int batch)
{
	const int units = net->arch.layer[l].units;
	const float p = net->arch.layer[l].dropout;
	const float keep = 1.0f / (1.0f - p);
	const float *a = net->act[l];
	float *m = net->mask[l], *o = net->drop[l], u;
	uint64_t rk;
	size_t k;
	int r, j;

	for (r = 0; r < batch; r++) {
		rk = dropout_mix(d->key ^ dropout_mix(d->rows[r]) ^
		    ((uint64_t)l << 56));
		for (j = 0; j < units; j++) {
			k = (size_t)r * (size_t)units + (size_t)j;
			/* 24 bits, as nn_rng_float: exact everywhere. */
			u = (float)(dropout_mix(rk ^ (uint64_t)j) >> 40) *
			    (1.0f / 16777216.0f);
			m[k] = u < p ? 0.0f : keep;
			o[k] = a[k] * m[k];
		}
	}
}

const float *
nn_net_forward(struct nn_net *net, const float *x, int batch)
{
	return nn_net_forward_train(net, x, batch, NULL);
}

/* What layer l hands on: its dropped output in a pass that dropped. */
static const float *
layer_output(const struct nn_net *net, int l)
{
	return net->dropping && net->drop[l] != NULL ? net->drop[l] :
	    net->act[l];
}

const float *
nn_net_forward_train(struct nn_net *net, const float *x, int batch,
    const struct nn_dropout *d)
{
	const struct nn_layer_spec *ls;
	const float *in = x, *b;
	float *a;
	int l, r, j, nin, last = net->arch.nlayers - 1;

	if (batch < 1 || batch > net->max_batch)
		fatal("nn_net_forward: batch %d outside 1..%d", batch,
		    net->max_batch);
	net->batch = batch;
	net->dropping = d != NULL;
	for (l = 0; l <= last; l++) {
		ls = &net->arch.layer[l];
		nin = layer_inputs(net, l);
		a = net->act[l];
		nn_sgemm(0, 1, batch, ls->units, nin, 1.0f, in, nin,
		    net->params + net->w_off[l], nin, 0.0f, a, ls->units);
		b = net->params + net->b_off[l];
		for (r = 0; r < batch; r++) {
			float *row = a + (size_t)r * ls->units;

			for (j = 0; j < ls->units; j++)
				row[j] += b[j];
		}
		if (l == last)
			memcpy(net->zout, a, (size_t)batch * ls->units *
			    sizeof (float));
		act_forward(ls->act, net->arch.leaky_slope, a, batch,
		    ls->units);
		if (d != NULL && net->drop[l] != NULL)
			dropout_apply(net, l, d, batch);
		in = layer_output(net, l);
	}
	return net->act[last];
}

double
nn_net_loss(struct nn_net *net, const float *t, int batch, float grad_scale)
{
	const struct nn_layer_spec *out = &net->arch.layer[net->arch.nlayers -
	    1];
	const float *a = net->act[net->arch.nlayers - 1], *z = net->zout;
	const float *ar, *zr, *tr;
	float *d = net->delta[0], *dr, tsum, diff, max;
	int r, j, k = out->units;
	double total = 0, row, lse, zv;

	if (batch != net->batch)
		fatal("nn_net_loss: batch %d after a forward pass of %d",
		    batch, net->batch);
	for (r = 0; r < batch; r++) {
		ar = a + (size_t)r * k;
		zr = z + (size_t)r * k;
		tr = t + (size_t)r * k;
		dr = d + (size_t)r * k;
		row = 0;
		if (net->arch.loss == NN_LOSS_MSE) {
			for (j = 0; j < k; j++) {
				diff = ar[j] - tr[j];
				row += (double)diff * diff;
				dr[j] = 2.0f * diff / (float)k * grad_scale;
			}
			row /= k;
		} else if (out->act == NN_ACT_SOFTMAX) {
			/* Fused softmax and cross-entropy: log-sum-exp of z
			 * never overflows, and dz = p * sum(t) - t. */
			max = zr[0];
			for (j = 1; j < k; j++)
				if (zr[j] > max)
					max = zr[j];
			lse = 0;
			for (j = 0; j < k; j++)
				lse += exp((double)zr[j] - max);
			lse = log(lse) + max;
			tsum = 0;
			for (j = 0; j < k; j++) {
				row += tr[j] * (lse - zr[j]);
				tsum += tr[j];
			}
			for (j = 0; j < k; j++)
				dr[j] = (ar[j] * tsum - tr[j]) * grad_scale;
		} else {
			/* Fused sigmoid and binary cross-entropy from z:
			 * max(z,0) - z t + log(1 + e^-|z|). */
			for (j = 0; j < k; j++) {
				zv = zr[j];
				row += (zv > 0 ? zv : 0) - zv * tr[j] +
				    log1p(exp(-fabs(zv)));
				dr[j] = (ar[j] - tr[j]) / (float)k *
				    grad_scale;
			}
			row /= k;
		}
		total += row;
	}
	if (net->arch.loss == NN_LOSS_MSE)
		act_backward(out->act, net->arch.leaky_slope, a, d, batch, k);
	return total;
}

/* Through a dropout: the gradient flows where the mask kept the unit. */
static void
dropout_backward(const float *mask, float *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		d[i] *= mask[i];
}

void
nn_net_backward(struct nn_net *net, const float *x, int batch, int accumulate)
{
	nn_net_backward_cb(net, x, batch, accumulate, NULL, NULL);
}

void
nn_net_backward_cb(struct nn_net *net, const float *x, int batch,
    int accumulate, nn_grads_done_fn *done, void *arg)
{
	const struct nn_layer_spec *ls;
	const float *in;
	float *d = net->delta[0], *dprev = net->delta[1], *gb, *tmp;
	float beta = accumulate ? 1.0f : 0.0f;
	int l, r, j, nin, units;

	if (batch != net->batch)
		fatal("nn_net_backward: batch %d after a forward pass of %d",
		    batch, net->batch);
	for (l = net->arch.nlayers - 1; l >= 0; l--) {
		ls = &net->arch.layer[l];
		units = ls->units;
		nin = layer_inputs(net, l);
		in = l == 0 ? x : layer_output(net, l - 1);
		/* dW = d^T in, db = column sums of d. */
		nn_sgemm(1, 0, units, nin, batch, 1.0f, d, units, in, nin,
		    beta, net->grads + net->w_off[l], nin);
		gb = net->grads + net->b_off[l];
		if (!accumulate)
			memset(gb, 0, (size_t)units * sizeof (float));
		for (r = 0; r < batch; r++) {
			const float *dr = d + (size_t)r * units;

			for (j = 0; j < units; j++)
				gb[j] += dr[j];
		}
		/* A layer's weights, then its bias: all of it is final. */
		if (done != NULL)
			done(arg, net->w_off[l]);
		if (l == 0)
			break;
		/* The first layer needs no input gradient. */
		nn_sgemm(0, 0, batch, nin, units, 1.0f, d, units,
		    net->params + net->w_off[l], nin, 0.0f, dprev, nin);
		if (layer_output(net, l - 1) != net->act[l - 1])
			dropout_backward(net->mask[l - 1], dprev,
			    (size_t)batch * (size_t)nin);
		act_backward(net->arch.layer[l - 1].act, net->arch.leaky_slope,
		    net->act[l - 1], dprev, batch, nin);
		/* Nothing new is final, but the caller may move data. */
		if (done != NULL)
			done(arg, net->w_off[l]);
		tmp = d;
		d = dprev;
		dprev = tmp;
	}
}

void
nn_net_decay(struct nn_net *net, float wd)
{
	const float *w;
	float *g;
	size_t i, n;
	int l;

	if (wd == 0.0f)
		return;
	for (l = 0; l < net->arch.nlayers; l++) {
		w = net->params + net->w_off[l];
		g = net->grads + net->w_off[l];
		n = net->b_off[l] - net->w_off[l];
		for (i = 0; i < n; i++)
			g[i] += wd * w[i];
	}
}

double
nn_net_weight_sq(struct nn_net *net)
{
	const float *w;
	double sum = 0;
	size_t i, n;
	int l;

	for (l = 0; l < net->arch.nlayers; l++) {
		w = net->params + net->w_off[l];
		n = net->b_off[l] - net->w_off[l];
		for (i = 0; i < n; i++)
			sum += (double)w[i] * w[i];
	}
	return sum;
}

int
nn_count_correct(const float *y, const float *t, int batch, int nout,
    float mid)
{
	const float *yr, *tr;
	int r, j, by, bt, correct = 0;

	for (r = 0; r < batch; r++) {
		yr = y + (size_t)r * nout;
		tr = t + (size_t)r * nout;
		if (nout == 1) {
			correct += (yr[0] > mid) == (tr[0] > mid);
			continue;
		}
		by = bt = 0;
		for (j = 1; j < nout; j++) {
			if (yr[j] > yr[by])
				by = j;
			if (tr[j] > tr[bt])
				bt = j;
		}
		correct += by == bt;
	}
	return correct;
}
