/* Optimizer updates and schedules against values worked out by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"
#include "nn/schedule.h"
#include "unit.h"

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-6)

static void
test_sgd(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[1] = { 1 }, g[1] = { 0.5f };

	nn_optim_spec_default(&s, NN_OPTIM_SGD);
	s.lr = 0.1f;
	o = nn_optim_new(&s, 1);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.95), "w %.9g", w[0]);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.90), "w %.9g", w[0]);
end:
	nn_optim_free(o);
}

static void
test_sgd_momentum(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[1] = { 1 }, g[1] = { 0.5f };

	/* v1 = 0.5, w = 0.95; v2 = 0.9*0.5 + 0.5 = 0.95, w = 0.855. */
	nn_optim_spec_default(&s, NN_OPTIM_SGD);
	s.lr = 0.1f;
	s.momentum = 0.9f;
	o = nn_optim_new(&s, 1);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.95), "w %.9g", w[0]);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.855), "w %.9g", w[0]);
end:
	nn_optim_free(o);
}

static void
test_sgd_nesterov(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[1] = { 1 }, g[1] = { 0.5f };

	/* w -= lr (g + mu v): 1 - 0.1 (0.5 + 0.45) = 0.905, then
	 * v = 0.95, 0.905 - 0.1 (0.5 + 0.855) = 0.7695. */
	nn_optim_spec_default(&s, NN_OPTIM_SGD);
	s.lr = 0.1f;
	s.momentum = 0.9f;
	s.nesterov = 1;
	o = nn_optim_new(&s, 1);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.905), "w %.9g", w[0]);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.7695), "w %.9g", w[0]);
end:
	nn_optim_free(o);
}

static void
test_adam(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[2] = { 1, -2 }, g[2] = { 0.5f, 0 };
	size_t n;

	/*
	 * Step 1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25: w = 0.9.
	 * Step 2 with g = -0.25: m = 0.02, v = 0.00031225,
	 * m^ = 0.02 / 0.19, v^ = 0.00031225 / 0.001999:
	 * w = 0.9 - 0.1 * 0.1052632 / 0.3952251 = 0.8733663.
	 */
	nn_optim_spec_default(&s, NN_OPTIM_ADAM);
	s.lr = 0.1f;
	o = nn_optim_new(&s, 2);
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.9), "w %.9g", w[0]);
	CHECK(w[1] == -2);	/* zero gradient, zero moment: no move */
	g[0] = -0.25f;
	nn_optim_step(o, w, g);
	CHECKF(fabs(w[0] - 0.8733663) < 2e-6, "w %.9g", w[0]);
	CHECK(nn_optim_steps(o) == 2);
	nn_optim_state(o, &n);
	CHECK(n == 4);
end:
	nn_optim_free(o);
}

static void
test_rprop(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[1] = { 1 }, g[1];

	/* delta 0.1: 0.9; same sign: delta 0.12, 0.78; sign change:
	 * delta 0.06 and no move; then a move of 0.06 the other way. */
	nn_optim_spec_default(&s, NN_OPTIM_RPROP);
	o = nn_optim_new(&s, 1);
	g[0] = 0.5f;
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.9), "w %.9g", w[0]);
	g[0] = 0.5f;
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.78), "w %.9g", w[0]);
	g[0] = -0.5f;
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.78), "w %.9g", w[0]);
	g[0] = -0.5f;
	nn_optim_step(o, w, g);
	CHECKF(NEAR(w[0], 0.84), "w %.9g", w[0]);
end:
	nn_optim_free(o);
}

static void
test_rprop_bounds(void)
{
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[1] = { 0 }, g[1];
	int i;

	nn_optim_spec_default(&s, NN_OPTIM_RPROP);
	s.delta_max = 0.2f;
	o = nn_optim_new(&s, 1);
	for (i = 0; i < 20; i++) {
		g[0] = -1;
		nn_optim_step(o, w, g);
	}
	/* 0.1 + 0.12 + 0.144 + 0.1728 + 16 x 0.2 */
	CHECKF(NEAR(w[0], 3.7368), "w %.9g", w[0]);
end:
	nn_optim_free(o);
}

/* torch.optim.AdamW's update, worked in double for three steps. */
static void
test_adamw(void)
{
	const double lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
	const float grads[3][2] = { { 0.5f, -1.0f }, { 0.25f, 2.0f },
	    { -0.75f, 0.5f } };
	struct nn_optim_spec s;
	struct nn_optim *o = NULL;
	float w[2] = { 1.0f, -2.0f }, g[2];
	double p[2] = { 1.0, -2.0 }, m[2] = { 0 }, v[2] = { 0 }, bc1, bc2;
	int t, i;

	nn_optim_spec_default(&s, NN_OPTIM_ADAMW);
	CHECK(s.lr == 0.001f && s.weight_decay == 0.01f);
	s.lr = (float)lr;
	s.weight_decay = (float)wd;
	o = nn_optim_new(&s, 2);
	for (t = 1; t <= 3; t++) {
		bc1 = 1 - pow(b1, t);
		bc2 = 1 - pow(b2, t);
		for (i = 0; i < 2; i++) {
			g[i] = grads[t - 1][i];
			p[i] *= 1 - lr * wd;
			m[i] = b1 * m[i] + (1 - b1) * g[i];
			v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
			p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) +
			    eps);
		}
		nn_optim_step(o, w, g);
		for (i = 0; i < 2; i++)
			CHECKF(NEAR(w[i], p[i]), "step %d w[%d] %.9g, torch "
			    "%.9g", t, i, w[i], p[i]);
	}
	/* Decoupled: with a zero gradient the weight still shrinks. */
	g[0] = g[1] = 0;
	p[0] = w[0];
	nn_optim_set_lr(o, 0.5f);
	CHECK(nn_optim_lr(o) == 0.5f);
	nn_optim_step(o, w, g);
	CHECK(fabs(w[0]) < fabs(p[0]));
end:
	nn_optim_free(o);
}

/* Clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
static void
test_clip(void)
{
	float g[2] = { 3.0f, 4.0f }, small[2] = { 0.3f, 0.4f };
	double norm;

	norm = nn_optim_clip(g, 2, 1.0f);
	CHECKF(NEAR(norm, 5.0), "norm %.9g", norm);
	CHECKF(NEAR(g[0], 0.6) && NEAR(g[1], 0.8), "%.9g %.9g", g[0], g[1]);
	CHECK(NEAR(sqrt(g[0] * g[0] + g[1] * g[1]), 1.0));
	/* Under the limit nothing changes, bit for bit. */
	norm = nn_optim_clip(small, 2, 1.0f);
	CHECK(small[0] == 0.3f && small[1] == 0.4f && NEAR(norm, 0.5));
end:
	;
}

/* Step decay, cosine after a warmup, and plateau's cuts. */
static void
test_schedule(void)
{
	struct nn_schedule_spec s;
	struct nn_schedule_state st, back;
	unsigned char buf[NN_SCHEDULE_SAVE_SIZE];
	const double losses[] = { 1.0, 0.9, 0.95, 0.96, 0.97, 0.98 };
	const float want_plateau[] = { 1, 1, 1, 1, 0.5f, 0.5f };
	char *cause = NULL;
	float lr;
	int e;

	nn_schedule_spec_default(&s, NN_SCHED_STEP);
	s.every = 2;
	s.gamma = 0.5f;
	nn_schedule_start(&st, 1.0f);
	for (e = 0; e < 6; e++) {
		lr = nn_schedule_lr(&s, &st, 1.0f, e, 3, 4, 6);
		CHECKF(lr == (float)pow(0.5, e / 2), "epoch %d: %g", e, lr);
	}

	/* Warmup: 1 epoch of 4 steps rises to lr; then 4 epochs anneal. */
	nn_schedule_spec_default(&s, NN_SCHED_COSINE);
	s.warmup = 1;
	s.min_lr = 0.1f;
	CHECK(nn_schedule_lr(&s, &st, 1.0f, 0, 0, 4, 5) == 0.25f);
	CHECK(nn_schedule_lr(&s, &st, 1.0f, 0, 3, 4, 5) == 1.0f);
	CHECK(nn_schedule_lr(&s, &st, 1.0f, 1, 0, 4, 5) == 1.0f);
	lr = nn_schedule_lr(&s, &st, 1.0f, 3, 2, 4, 5);
	CHECKF(NEAR(lr, 0.55), "half way %.9g", lr);
	lr = nn_schedule_lr(&s, &st, 1.0f, 4, 0, 4, 5);
	CHECKF(NEAR(lr, 0.1 + 0.9 * (1 + cos(M_PI * 3 / 4)) / 2), "%.9g", lr);

	/* Plateau, patience 1: the second epoch without gain cuts. */
	nn_schedule_spec_default(&s, NN_SCHED_PLATEAU);
	s.patience = 1;
	s.factor = 0.5f;
	s.min_lr = 0.25f;
	nn_schedule_start(&st, 1.0f);
	for (e = 0; e < 6; e++) {
		lr = nn_schedule_lr(&s, &st, 1.0f, e, 0, 4, 6);
		CHECKF(lr == want_plateau[e], "epoch %d: %g", e, lr);
		nn_schedule_epoch_end(&s, &st, losses[e]);
	}
	/* The floor holds. */
	nn_schedule_epoch_end(&s, &st, 2.0);
	nn_schedule_epoch_end(&s, &st, 2.0);
	CHECK(st.lr == 0.25f);

	/* Its state round-trips, and a broken one is refused. */
	nn_schedule_save(&st, buf);
	CHECK(nn_schedule_restore(&back, buf, &cause) == 0);
	CHECK(back.best == st.best && back.bad == st.bad && back.lr == st.lr);
	memset(buf + 12, 0xff, 4);
	CHECK(nn_schedule_restore(&back, buf, &cause) == -1);
	CHECKF(cause != NULL && strstr(cause, "schedule") != NULL, "%s",
	    cause);
end:
	free(cause);
}

static void
test_names(void)
{
	enum nn_optim_type t;

	CHECK(nn_optim_parse("adam", &t) == 0 && t == NN_OPTIM_ADAM);
	CHECK(nn_optim_parse("rprop", &t) == 0 && t == NN_OPTIM_RPROP);
	CHECK(nn_optim_parse("Adam", &t) == -1);
	CHECK(strcmp(nn_optim_name(NN_OPTIM_SGD), "sgd") == 0);
end:
	;
}

static const struct unit_test tests[] = {
	{ "sgd", test_sgd },
	{ "sgd_momentum", test_sgd_momentum },
	{ "sgd_nesterov", test_sgd_nesterov },
	{ "adam", test_adam },
	{ "rprop", test_rprop },
	{ "rprop_bounds", test_rprop_bounds },
	{ "adamw", test_adamw },
	{ "clip", test_clip },
	{ "schedule", test_schedule },
	{ "names", test_names },
	{ NULL, NULL },
};

UNIT_MAIN("optim", tests)
