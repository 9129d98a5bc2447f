/*
 * nn_metrics_eval on a linear identity net, whose outputs are its inputs:
 * each row's prediction is chosen, so every figure is known by hand.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "nn/metrics.h"
#include "unit.h"

/* A net of one linear layer of n units whose outputs equal its n inputs. */
static struct nn_net *
identity_net(int n)
{
	struct nn_arch a;
	struct nn_net *net;
	float *p;
	int i;

	memset(&a, 0, sizeof a);
	a.input = n;
	a.nlayers = 1;
	a.layer[0].units = n;
	a.layer[0].act = NN_ACT_LINEAR;
	a.loss = NN_LOSS_MSE;
	net = nn_net_new(&a, 2);	/* batches of 2: several forward calls */
	p = nn_net_params(net, NULL);
	for (i = 0; i < n; i++)
		p[i * n + i] = 1;
	return net;
}

static double
num(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

#define NEAR(a, b)	(fabs((a) - (b)) < 1e-9)

/* Four classes, the last absent: its ratios are 0 and count in the macro. */
static void
test_classes(void)
{
	static const int truth[] = { 0, 0, 1, 2, 2, 1 };
	static const int pred[] = { 0, 1, 1, 1, 2, 1 };
	static const long long conf[4][4] = {
		{ 1, 1, 0, 0 }, { 0, 2, 0, 0 }, { 0, 1, 1, 0 }, { 0, 0, 0, 0 },
	};
	char *names[] = { "a", "b", "c", "d" };
	struct nn_net *net = identity_net(4);
	struct nn_data *d = nn_data_new(6, 4, 4);
	json_t *r = NULL, *pc, *macro;
	int i, j;

	d->task = NN_TASK_CLASSIFICATION;
	d->lo = 0;
	d->hi = 1;
	for (i = 0; i < 6; i++) {
		d->x[i * 4 + pred[i]] = 1;
		d->y[i * 4 + truth[i]] = 1;
	}
	r = nn_metrics_eval(net, d, names, 4);
	CHECK(strcmp(json_string_value(json_array_get(json_object_get(r,
	    "classes"), 3)), "d") == 0);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			CHECKF(json_integer_value(json_array_get(json_array_get(
			    json_object_get(r, "confusion"), i), j)) ==
			    conf[i][j], "confusion[%d][%d]", i, j);
	pc = json_array_get(json_object_get(r, "per_class"), 0);
	CHECK(NEAR(num(pc, "precision"), 1) && NEAR(num(pc, "recall"), 0.5) &&
	    NEAR(num(pc, "f1"), 2.0 / 3) && num(pc, "support") == 2);
	pc = json_array_get(json_object_get(r, "per_class"), 1);
	CHECK(NEAR(num(pc, "precision"), 0.5) && NEAR(num(pc, "recall"), 1));
	pc = json_array_get(json_object_get(r, "per_class"), 3);
	CHECK(num(pc, "precision") == 0 && num(pc, "recall") == 0 &&
	    num(pc, "f1") == 0 && num(pc, "support") == 0);
	macro = json_object_get(r, "macro");
	CHECK(NEAR(num(macro, "precision"), 0.625));
	CHECK(NEAR(num(macro, "recall"), 0.5));
	CHECK(NEAR(num(macro, "f1"), 0.5));
end:
	json_decref(r);
	nn_data_free(d);
	nn_net_free(net);
}

/* One output: class 1 above the middle of lo and hi; names that do not
 * fit the classes give indices. */
static void
test_binary(void)
{
	static const float x[] = { 0.9f, 0.2f, 0.7f, 0.1f, 0.8f };
	static const float y[] = { 1, 0, 0, 1, 1 };
	char *names[] = { "only" };
	struct nn_net *net = identity_net(1);
	struct nn_data *d = nn_data_new(5, 1, 1);
	json_t *r = NULL, *c;

	d->task = NN_TASK_CLASSIFICATION;
	d->lo = 0;
	d->hi = 1;
	memcpy(d->x, x, sizeof x);
	memcpy(d->y, y, sizeof y);
	r = nn_metrics_eval(net, d, names, 1);
	c = json_object_get(r, "confusion");
	CHECK(json_array_size(c) == 2);
	CHECK(json_integer_value(json_array_get(json_array_get(c, 0), 0)) == 1);
	CHECK(json_integer_value(json_array_get(json_array_get(c, 0), 1)) == 1);
	CHECK(json_integer_value(json_array_get(json_array_get(c, 1), 0)) == 1);
	CHECK(json_integer_value(json_array_get(json_array_get(c, 1), 1)) == 2);
	CHECK(strcmp(json_string_value(json_array_get(json_object_get(r,
	    "classes"), 1)), "1") == 0);
end:
	json_decref(r);
	nn_data_free(d);
	nn_net_free(net);
}

/* MAE, RMSE and R^2 per output; a constant target has no R^2. */
static void
test_regression(void)
{
	static const float pred[] = { 1, 4, 2, 4, 3, 4 };
	static const float truth[] = { 1, 7, 2, 7, 5, 7 };
	char *names[] = { "height", "weight" };
	struct nn_net *net = identity_net(2);
	struct nn_data *d = nn_data_new(3, 2, 2);
	json_t *r = NULL, *o;

	d->task = NN_TASK_REGRESSION;
	memcpy(d->x, pred, sizeof pred);
	memcpy(d->y, truth, sizeof truth);
	r = nn_metrics_eval(net, d, names, 2);
	o = json_array_get(json_object_get(r, "per_output"), 0);
	CHECK(strcmp(json_string_value(json_object_get(o, "name")),
	    "height") == 0);
	CHECK(NEAR(num(o, "mae"), 2.0 / 3));
	CHECK(NEAR(num(o, "rmse"), sqrt(4.0 / 3)));
	CHECK(NEAR(num(o, "r2"), 1 - 36.0 / 78));
	o = json_array_get(json_object_get(r, "per_output"), 1);
	CHECK(NEAR(num(o, "mae"), 3) && NEAR(num(o, "rmse"), 3));
	CHECK(json_is_null(json_object_get(o, "r2")));
	CHECK(NEAR(num(r, "mae"), (2.0 + 9) / 6));
	CHECK(NEAR(num(r, "rmse"), sqrt((4.0 + 27) / 6)));
	CHECK(json_is_null(json_object_get(r, "r2")));
	/* Without names the outputs are y0, y1. */
	json_decref(r);
	r = nn_metrics_eval(net, d, NULL, 0);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(
	    json_object_get(r, "per_output"), 1), "name")), "y1") == 0);
end:
	json_decref(r);
	nn_data_free(d);
	nn_net_free(net);
}

static const struct unit_test tests[] = {
	{ "classes", test_classes },
	{ "binary", test_binary },
	{ "regression", test_regression },
	{ NULL, NULL },
};

static void __attribute__((constructor))
setup(void)
{
	unit_blas_init();
}

UNIT_MAIN("metrics", tests)
