/* Gradient checks against finite differences, and net invariants. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "nn/blas.h"
#include "nn/net.h"
#include "unit.h"

#define GC_BATCH	4
#define GC_IN		5

/* The dropout of a gradient check's passes; NULL: none. */
static const struct nn_dropout *gc_drop;

/* Mean loss over the batch, in double. */
static double
mean_loss(struct nn_net *net, const float *x, const float *t)
{
	nn_net_forward_train(net, x, GC_BATCH, gc_drop);
	return nn_net_loss(net, t, GC_BATCH, 1.0f / GC_BATCH) / GC_BATCH;
}

/*
 * Compares backprop with central differences for one architecture; returns
 * the worst mismatch and fills where it happened.
 */
static int
gradcheck(const struct nn_arch *arch, char *where, size_t len)
{
	struct nn_net *net = NULL;
	struct nn_rng rng;
	float x[GC_BATCH * GC_IN], *t = NULL, *p, *g, *analytic = NULL, save;
	double up, down, numeric, tol;
	size_t i, n;
	int k = nn_arch_outputs(arch), r, j, bad = 0;
	const float eps = 3e-3f;

	net = nn_net_new(arch, GC_BATCH);
	nn_net_init(net, 7);
	p = nn_net_params(net, &n);
	nn_rng_seed(&rng, 11);
	/* Non-zero biases so relu kinks are not all at the same place. */
	for (i = 0; i < n; i++)
		p[i] += 0.1f * (2 * nn_rng_float(&rng) - 1);
	for (i = 0; i < GC_BATCH * GC_IN; i++)
		x[i] = 2 * nn_rng_float(&rng) - 1;
	t = xcalloc((size_t)GC_BATCH * k, sizeof (float));
	for (r = 0; r < GC_BATCH; r++) {
		for (j = 0; j < k; j++) {
			if (arch->loss == NN_LOSS_MSE)
				t[r * k + j] = nn_rng_float(&rng);
			else if (arch->layer[arch->nlayers - 1].act ==
			    NN_ACT_SIGMOID)
				t[r * k + j] = nn_rng_float(&rng) > 0.5f;
		}
		if (arch->loss == NN_LOSS_CROSS_ENTROPY &&
		    arch->layer[arch->nlayers - 1].act == NN_ACT_SOFTMAX)
			t[r * k + (int)nn_rng_below(&rng, (uint64_t)k)] = 1;
	}
	mean_loss(net, x, t);
	nn_net_backward(net, x, GC_BATCH, 0);
	g = nn_net_grads(net, NULL);
	analytic = xreallocarray(NULL, n, sizeof (float));
	memcpy(analytic, g, n * sizeof (float));
	for (i = 0; i < n; i++) {
		save = p[i];
		p[i] = save + eps;
		up = mean_loss(net, x, t);
		p[i] = save - eps;
		down = mean_loss(net, x, t);
		p[i] = save;
		numeric = (up - down) / (2.0 * eps);
		tol = 2e-3 + 2e-2 * fmax(fabs(numeric), fabs(analytic[i]));
		if (fabs(numeric - analytic[i]) > tol) {
			snprintf(where, len, "param %zu: backprop %g, "
			    "finite difference %g", i, analytic[i], numeric);
			bad = 1;
			break;
		}
	}
	free(analytic);
	free(t);
	nn_net_free(net);
	return bad ? -1 : 0;
}

static void
test_gradcheck_all(void)
{
	struct nn_arch a;
	char where[256], msg[512];
	int h, o, loss, checked = 0;

	for (h = NN_ACT_LINEAR; h <= NN_ACT_SOFTMAX; h++) {
		for (o = NN_ACT_LINEAR; o <= NN_ACT_SOFTMAX; o++) {
			for (loss = NN_LOSS_MSE; loss <= NN_LOSS_CROSS_ENTROPY;
			    loss++) {
				memset(&a, 0, sizeof a);
				a.input = GC_IN;
				a.nlayers = 3;
				a.layer[0].units = 4;
				a.layer[0].act = (enum nn_act)h;
				a.layer[1].units = 3;
				a.layer[1].act = (enum nn_act)h;
				a.layer[2].units = 3;
				a.layer[2].act = (enum nn_act)o;
				a.loss = (enum nn_loss)loss;
				a.leaky_slope = 0.01f;
				if (nn_arch_check(&a, NULL) != 0)
					continue;
				checked++;
				if (gradcheck(&a, where, sizeof where) != 0) {
					snprintf(msg, sizeof msg, "hidden %s, "
					    "output %s, loss %s: %s",
					    nn_act_name(a.layer[0].act),
					    nn_act_name(a.layer[2].act),
					    nn_loss_name(a.loss), where);
					CHECKF(0, "%s", msg);
				}
			}
		}
	}
	/* 6 hidden x (6 outputs with mse + 2 with cross_entropy). */
	CHECKF(checked == 48, "checked %d combinations", checked);
end:
	;
}

static void
test_gradcheck_single_output(void)
{
	struct nn_arch a;
	char where[256];
	int o;

	for (o = NN_ACT_LINEAR; o <= NN_ACT_LEAKY_RELU; o++) {
		memset(&a, 0, sizeof a);
		a.input = GC_IN;
		a.nlayers = 2;
		a.layer[0] = (struct nn_layer_spec){ 6, NN_ACT_TANH, 0, 0 };
		a.layer[1] = (struct nn_layer_spec){ 1, (enum nn_act)o, 0, 0 };
		a.loss = o == NN_ACT_SIGMOID ? NN_LOSS_CROSS_ENTROPY :
		    NN_LOSS_MSE;
		a.leaky_slope = 0.01f;
		CHECKF(gradcheck(&a, where, sizeof where) == 0, "%s: %s",
		    nn_act_name(a.layer[1].act), where);
	}
end:
	;
}

/* Through dropout's fixed masks, backprop is still the exact gradient. */
static void
test_gradcheck_dropout(void)
{
	static const uint64_t rows[GC_BATCH] = { 3, 17, 4, 1000 };
	const struct nn_dropout d = { .key = nn_dropout_key(1, 2),
	    .rows = rows };
	struct nn_arch a;
	char where[256];

	memset(&a, 0, sizeof a);
	a.input = GC_IN;
	a.nlayers = 3;
	a.layer[0] = (struct nn_layer_spec){ 6, NN_ACT_TANH, 0, 0.3f };
	a.layer[1] = (struct nn_layer_spec){ 5, NN_ACT_RELU, 0, 0.5f };
	a.layer[2] = (struct nn_layer_spec){ 3, NN_ACT_SOFTMAX, 0, 0 };
	a.loss = NN_LOSS_CROSS_ENTROPY;
	gc_drop = &d;
	CHECKF(gradcheck(&a, where, sizeof where) == 0, "%s", where);
end:
	gc_drop = NULL;
}

/*
 * Masks: a row's depend on its index, not on its place in the batch;
 * about p of the units drop; a pass without dropout drops nothing.
 */
static void
test_dropout_masks(void)
{
	enum { B = 64, IN = 3, H = 200 };
	static float x[B * IN], xr[B * IN], y[B * 2], yr[B * 2], y0[B * 2];
	uint64_t rows[B], rrows[B];
	struct nn_dropout d = { .key = nn_dropout_key(7, 0), .rows = rows };
	struct nn_net *net = NULL;
	struct nn_rng rng;
	struct nn_arch a;
	const float *out;
	double zeros = 0;
	int r, j;

	memset(&a, 0, sizeof a);
	a.input = IN;
	a.nlayers = 2;
	a.layer[0] = (struct nn_layer_spec){ H, NN_ACT_RELU, 0, 0.25f };
	a.layer[1] = (struct nn_layer_spec){ 2, NN_ACT_LINEAR, 0, 0 };
	net = nn_net_new(&a, B);
	nn_net_init(net, 3);
	nn_rng_seed(&rng, 5);
	for (r = 0; r < B; r++) {
		rows[r] = (uint64_t)(r * 7 + 2);
		rrows[B - 1 - r] = rows[r];
		for (j = 0; j < IN; j++)
			x[r * IN + j] = xr[(B - 1 - r) * IN + j] =
			    2 * nn_rng_float(&rng) - 1;
	}
	out = nn_net_forward(net, x, B);
	memcpy(y0, out, sizeof y0);
	out = nn_net_forward_train(net, x, B, &d);
	memcpy(y, out, sizeof y);
	CHECK(memcmp(y, y0, sizeof y) != 0);
	/* The rows in reverse order keep their masks. */
	d.rows = rrows;
	out = nn_net_forward_train(net, xr, B, &d);
	memcpy(yr, out, sizeof yr);
	for (r = 0; r < B; r++)
		CHECKF(memcmp(y + r * 2, yr + (B - 1 - r) * 2,
		    2 * sizeof (float)) == 0, "row %d", r);
	/* Another epoch, other masks. */
	d.key = nn_dropout_key(7, 1);
	out = nn_net_forward_train(net, xr, B, &d);
	CHECK(memcmp(out, yr, sizeof yr) != 0);
	/* Without dropout the first outputs come back, bit for bit. */
	out = nn_net_forward(net, x, B);
	CHECK(memcmp(out, y0, sizeof y0) == 0);

	/* The share dropped, seen through one unit: a linear hidden layer
	 * of ones whose unit 0 alone feeds output 0. */
	nn_net_free(net);
	a.layer[0].act = NN_ACT_LINEAR;
	net = nn_net_new(&a, B);
	for (j = 0; j < IN; j++)
		x[j] = 0;
	memset(nn_net_params(net, NULL), 0, nn_arch_nparams(&a) *
	    sizeof (float));
	for (j = 0; j < H; j++)
		nn_net_params(net, NULL)[H * IN + j] = 1.0f;	/* bias */
	nn_net_params(net, NULL)[H * IN + H] = 1.0f;	/* w[0][0] */
	d.rows = rows;
	for (r = 0; r < B; r++) {
		out = nn_net_forward_train(net, x, 1, &d);
		/* Output 0 reads unit 0 only: 0 or 1/(1-p). */
		CHECK(out[0] == 0.0f || out[0] == 1.0f / 0.75f);
		zeros += out[0] == 0.0f;
		d.rows++;
	}
	CHECKF(zeros >= 0.1 * B && zeros <= 0.4 * B, "%g of %d dropped",
	    zeros, B);
end:
	nn_net_free(net);
}

static void
test_arch_errors(void)
{
	struct nn_arch a;
	char *cause = NULL;

	memset(&a, 0, sizeof a);
	a.input = 4;
	a.nlayers = 1;
	a.layer[0] = (struct nn_layer_spec){ 3, NN_ACT_RELU, 0, 0 };
	a.loss = NN_LOSS_CROSS_ENTROPY;
	CHECK(nn_arch_check(&a, &cause) == -1);
	CHECKF(strstr(cause, "cross_entropy needs a softmax or sigmoid") !=
	    NULL, "%s", cause);
	free(cause);
	cause = NULL;
	a.layer[0] = (struct nn_layer_spec){ 1, NN_ACT_SOFTMAX, 0, 0 };
	CHECK(nn_arch_check(&a, &cause) == -1);
	CHECKF(strstr(cause, "softmax needs at least 2 units") != NULL, "%s",
	    cause);
	free(cause);
	cause = NULL;
	a.layer[0] = (struct nn_layer_spec){ 0, NN_ACT_RELU, 0, 0 };
	a.loss = NN_LOSS_MSE;
	CHECK(nn_arch_check(&a, &cause) == -1);
	CHECKF(strstr(cause, "layers[0].units") != NULL, "%s", cause);
end:
	free(cause);
}

static void
test_layout_and_init(void)
{
	struct nn_arch a;
	struct nn_net *n1 = NULL, *n2 = NULL;
	size_t n, w, b, i;
	float *p1, *p2, limit;

	memset(&a, 0, sizeof a);
	a.input = 784;
	a.nlayers = 2;
	a.layer[0] = (struct nn_layer_spec){ 100, NN_ACT_RELU, NN_INIT_AUTO, 0 };
	a.layer[1] = (struct nn_layer_spec){ 10, NN_ACT_SOFTMAX,
	    NN_INIT_AUTO, 0 };
	a.loss = NN_LOSS_CROSS_ENTROPY;
	CHECK(nn_arch_nparams(&a) == 784 * 100 + 100 + 100 * 10 + 10);
	n1 = nn_net_new(&a, 8);
	n2 = nn_net_new(&a, 8);
	nn_net_init(n1, 42);
	nn_net_init(n2, 42);
	p1 = nn_net_params(n1, &n);
	p2 = nn_net_params(n2, NULL);
	CHECK(n == nn_arch_nparams(&a));
	CHECK(memcmp(p1, p2, n * sizeof (float)) == 0);
	nn_net_layer_offsets(n1, 1, &w, &b);
	CHECK(w == 78500 && b == 78500 + 1000);
	/* He for relu: |w| <= sqrt(6/784); Xavier for softmax. */
	limit = sqrtf(6.0f / 784);
	for (i = 0; i < 78400; i++)
		CHECK(fabsf(p1[i]) <= limit);
	for (i = 78400; i < 78500; i++)
		CHECK(p1[i] == 0);
	limit = sqrtf(6.0f / 110);
	for (i = w; i < b; i++)
		CHECK(fabsf(p1[i]) <= limit);
	/* The draw is fixed for every platform: pin some weights exactly. */
	CHECK(p1[0] == -0x1.2a3992p-4f && p1[1] == -0x1.5aea68p-6f);
	CHECK(p1[2] == 0x1.020e74p-5f && p1[w] == -0x1.2c0314p-3f);
	nn_net_init(n2, 43);
	CHECK(memcmp(p1, p2, 100 * sizeof (float)) != 0);
end:
	nn_net_free(n1);
	nn_net_free(n2);
}

static void
test_decay(void)
{
	struct nn_arch a;
	struct nn_net *net = NULL;
	size_t n, i, w, b;
	float *p, *g;

	memset(&a, 0, sizeof a);
	a.input = 2;
	a.nlayers = 1;
	a.layer[0] = (struct nn_layer_spec){ 2, NN_ACT_LINEAR, 0, 0 };
	net = nn_net_new(&a, 1);
	p = nn_net_params(net, &n);
	g = nn_net_grads(net, NULL);
	for (i = 0; i < n; i++) {
		p[i] = (float)(i + 1);
		g[i] = 1;
	}
	nn_net_decay(net, 0.5f);
	nn_net_layer_offsets(net, 0, &w, &b);
	CHECK(g[0] == 1.5f && g[1] == 2.0f && g[2] == 2.5f && g[3] == 3.0f);
	CHECK(g[4] == 1.0f && g[5] == 1.0f);	/* biases do not decay */
	CHECK(nn_net_weight_sq(net) == 1 + 4 + 9 + 16);
end:
	nn_net_free(net);
}

static void
test_softmax_stable(void)
{
	struct nn_arch a;
	struct nn_net *net = NULL;
	float x[2] = { 1, 0 }, t[3] = { 0, 1, 0 }, *p;
	const float *y;
	double loss;

	/* Huge logits must give finite probabilities and loss. */
	memset(&a, 0, sizeof a);
	a.input = 2;
	a.nlayers = 1;
	a.layer[0] = (struct nn_layer_spec){ 3, NN_ACT_SOFTMAX, 0, 0 };
	a.loss = NN_LOSS_CROSS_ENTROPY;
	net = nn_net_new(&a, 1);
	p = nn_net_params(net, NULL);
	p[0] = 1000;
	p[2] = 990;
	p[4] = -1000;
	y = nn_net_forward(net, x, 1);
	loss = nn_net_loss(net, t, 1, 1);
	CHECK(isfinite(y[0]) && isfinite(y[1]) && isfinite(y[2]));
	CHECKF(fabs(loss - 10.0) < 1e-3, "loss %g, expected 10", loss);
end:
	nn_net_free(net);
}

static void
test_count_correct(void)
{
	float y[6] = { 0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f };
	float t[6] = { 0, 1, 0, 0, 0, 1 };
	float y1[3] = { 0.4f, 0.6f, -0.2f }, t1[3] = { 1, 1, -1 };

	CHECK(nn_count_correct(y, t, 2, 3, 0.5f) == 1);
	CHECK(nn_count_correct(y1, t1, 3, 1, 0.0f) == 3);
	CHECK(nn_count_correct(y1, t1, 3, 1, 0.5f) == 2);
end:
	;
}

static const struct unit_test tests[] = {
	{ "gradcheck_all_combinations", test_gradcheck_all },
	{ "gradcheck_single_output", test_gradcheck_single_output },
	{ "gradcheck_dropout", test_gradcheck_dropout },
	{ "dropout_masks", test_dropout_masks },
	{ "arch_errors", test_arch_errors },
	{ "layout_and_init", test_layout_and_init },
	{ "decay", test_decay },
	{ "softmax_stable", test_softmax_stable },
	{ "count_correct", test_count_correct },
	{ NULL, NULL },
};

static void __attribute__((constructor))
setup(void)
{
	unit_blas_init();
}

UNIT_MAIN("net", tests)
