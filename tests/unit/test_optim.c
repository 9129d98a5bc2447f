/* Optimizer updates against values worked out by hand. */
#include <math.h>
#include <string.h>

#include "nn/optim.h"
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
	{ "names", test_names },
	{ NULL, NULL },
};

UNIT_MAIN("optim", tests)
