/*
 * The nnsim side of make bench: a 784-1024-1024-10 MLP trained through the
 * real trainer, sgemm's rate on a large square problem, and the rate of the
 * exact GEMMs one training step runs. Each mode is a separate run so the
 * peak RSS of training is not inflated by the sgemm benchmark's buffers.
 * Results are "key=value" lines for tests/bench/run.sh.
 */
#include <sys/resource.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/rng.h"
#include "data/data.h"
#include "nn/blas.h"
#include "nn/config.h"
#include "nn/net.h"
#include "nn/optim.h"
#include "nn/train.h"

#define BENCH_INPUTS	784
#define BENCH_HIDDEN	1024
#define BENCH_CLASSES	10
#define BENCH_ROWS	60000
#define BENCH_BATCH	128
#define BENCH_MAX_BATCH	256
#define BENCH_WINDOW	1.0	/* seconds per timing window */

/* Weights (no biases) of the bench network: the "6 * weights" FLOP count. */
#define BENCH_WEIGHTS	((double)BENCH_INPUTS * BENCH_HIDDEN + \
			    (double)BENCH_HIDDEN * BENCH_HIDDEN + \
			    (double)BENCH_HIDDEN * BENCH_CLASSES)

struct bench_opts {
	int		 threads;	/* 0: one per online core */
	enum nn_optim_type optim;
	double		 warmup;	/* seconds */
	double		 seconds;	/* train: timed seconds */
	int		 runs;		/* sgemm, shapes: 1-second windows */
	int		 size;		/* sgemm: square size */
	int		 batch;		/* shapes: rows a step */
};

/* Peak resident set of this process in bytes (ru_maxrss is KiB on Linux). */
static long long
bench_peak_rss(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (long long)ru.ru_maxrss * 1024;
}

/* The bench network: ReLU hidden layers, softmax and cross-entropy. */
static void
bench_arch(struct nn_arch *arch)
{
	memset(arch, 0, sizeof *arch);
	arch->input = BENCH_INPUTS;
	arch->nlayers = 3;
	arch->layer[0].units = BENCH_HIDDEN;
	arch->layer[0].act = NN_ACT_RELU;
	arch->layer[1].units = BENCH_HIDDEN;
	arch->layer[1].act = NN_ACT_RELU;
	arch->layer[2].units = BENCH_CLASSES;
	arch->layer[2].act = NN_ACT_SOFTMAX;
	arch->loss = NN_LOSS_CROSS_ENTROPY;
	arch->leaky_slope = 0.01f;
}

/* Starts OpenBLAS with the requested threads; prints what it runs. */
static int
bench_blas(const struct bench_opts *o)
{
	const char *env;
	char *cause = NULL;

	/* nnsim must pick the core itself: say whether anyone else did. */
	env = getenv("OPENBLAS_CORETYPE");
	printf("coretype_env_before=%s\n", env != NULL ? env : "unset");
	if (nn_blas_init(o->threads, &cause) != 0) {
		fprintf(stderr, "mlp_bench: %s\n", cause);
		free(cause);
		return -1;
	}
	printf("threads=%d\n", nn_blas_threads());
	printf("corename=%s\n", nn_blas_corename());
	env = getenv("OPENBLAS_CORETYPE");
	printf("coretype_env_after=%s\n", env != NULL ? env : "unset");
	return 0;
}

/*
 * Trains with nn_trainer_step through the warm-up and then whole 1-second
 * windows; reports samples/s, the running loss and the peak RSS against the
 * memory budget. Fails when the data or the trainer fail.
 */
static int
bench_train(const struct bench_opts *o)
{
	struct nn_source src;
	struct nn_data *train = NULL;
	struct nn_net *net = NULL;
	struct nn_trainer *tr = NULL;
	struct nn_train_spec spec;
	struct nn_epoch_stats st;
	struct nn_arch arch;
	char *cause = NULL;
	double t0, t1, tw, tgen, loss, acc, elapsed, rate, best = 0, worst = 0;
	size_t done0, done, total, nparams, n, samples = 0, wsamples = 0;
	size_t steps = 0, act_units;
	long long rss_start, rss_peak, budget, b_params, b_state, b_act, b_data;
	int rc = -1, step, epoch, l, windows = 0, nwindows;

	rss_start = bench_peak_rss();
	if (bench_blas(o) != 0)
		goto out;

	memset(&src, 0, sizeof src);
	src.jpath = "bench";
	src.format = NN_FORMAT_GENERATE;
	src.label = -1;
	src.row_lo = src.row_hi = -1;
	src.gen = NN_GEN_BLOBS;
	src.gen_n = BENCH_ROWS;
	src.gen_inputs = BENCH_INPUTS;
	src.gen_classes = BENCH_CLASSES;
	src.gen_seed = 1;
	src.gen_noise = -1;
	t0 = nn_clock_s();
	if (nn_generate(&src, &train, &cause) != 0) {
		fprintf(stderr, "mlp_bench: generate: %s\n", cause);
		goto out;
	}
	tgen = nn_clock_s() - t0;
	if (train->in != BENCH_INPUTS || train->out != BENCH_CLASSES ||
	    train->n != BENCH_ROWS) {
		fprintf(stderr, "mlp_bench: generator gave %zu x %d -> %d, "
		    "expected %d x %d -> %d\n", train->n, train->in,
		    train->out, BENCH_ROWS, BENCH_INPUTS, BENCH_CLASSES);
		goto out;
	}

	bench_arch(&arch);
	if (nn_arch_check(&arch, &cause) != 0) {
		fprintf(stderr, "mlp_bench: arch: %s\n", cause);
		goto out;
	}
	net = nn_net_new(&arch, BENCH_MAX_BATCH);
	nn_net_init(net, 1);

	memset(&spec, 0, sizeof spec);
	spec.epochs = NN_MAX_EPOCHS;
	spec.batch = BENCH_BATCH;
	spec.seed = 1;
	spec.shuffle = 1;
	nn_optim_spec_default(&spec.optim, o->optim);
	if (o->optim == NN_OPTIM_SGD) {
		spec.optim.lr = 0.01f;
		spec.optim.momentum = 0.9f;
	}
	tr = nn_trainer_new(net, &spec, train, NULL);

	/* Warm-up pages in every buffer and lets OpenBLAS start its threads. */
	t0 = nn_clock_s();
	while (nn_clock_s() - t0 < o->warmup) {
		if (nn_trainer_step(tr, &st) < 0)
			break;
	}
	/*
	 * Whole 1-second windows: the mean over all of them is the rate, and
	 * the best one is the rate with the least interference from the rest
	 * of the machine, which is how the sgemm figure is taken too.
	 */
	nwindows = (int)(o->seconds / BENCH_WINDOW + 0.5);
	if (nwindows < 1)
		nwindows = 1;
	t0 = tw = nn_clock_s();
	do {
		nn_trainer_position(tr, &epoch, &done0, &total, &loss, &acc);
		if ((step = nn_trainer_step(tr, &st)) < 0) {
			fprintf(stderr, "mlp_bench: trainer stopped early\n");
			goto out;
		}
		nn_trainer_position(tr, &epoch, &done, &total, &loss, &acc);
		n = step == 1 ? total - done0 : done - done0;
		samples += n;
		wsamples += n;
		steps++;
		t1 = nn_clock_s();
		if (t1 - tw >= BENCH_WINDOW) {
			rate = (double)wsamples / (t1 - tw);
			if (getenv("MLP_BENCH_WINDOWS") != NULL)
				fprintf(stderr, "window %d: %.1f\n", windows,
				    rate);
			if (rate > best)
				best = rate;
			if (worst == 0 || rate < worst)
				worst = rate;
			windows++;
			wsamples = 0;
			tw = t1;
		}
	} while (windows < nwindows);
	elapsed = t1 - t0;
	rss_peak = bench_peak_rss();

	/* The budget from the issue: what training cannot do without. */
	nn_net_params(net, &nparams);
	b_params = (long long)nparams * (long long)sizeof (float);
	b_state = (o->optim == NN_OPTIM_ADAM ? 2 : 1) * b_params;
	act_units = BENCH_INPUTS;
	for (l = 0; l < arch.nlayers; l++)
		act_units += (size_t)arch.layer[l].units;
	b_act = (long long)nn_net_max_batch(net) * (long long)act_units *
	    (long long)sizeof (float);
	b_data = (long long)train->n * (train->in + train->out) *
	    (long long)sizeof (float);
	budget = b_params + b_state + b_act + b_data;

	printf("optim=%s\n", nn_optim_name(o->optim));
	printf("lr=%g\n", (double)spec.optim.lr);
	printf("momentum=%g\n", (double)spec.optim.momentum);
	printf("batch=%d\n", spec.batch);
	printf("generate_s=%.3f\n", tgen);
	printf("steps=%zu\n", steps);
	printf("samples=%zu\n", samples);
	printf("seconds=%.3f\n", elapsed);
	printf("windows=%d\n", windows);
	printf("samples_per_sec=%.1f\n", (double)samples / elapsed);
	printf("best_samples_per_sec=%.1f\n", best);
	printf("worst_samples_per_sec=%.1f\n", worst);
	printf("step_ms=%.3f\n", (t1 - t0) * 1e3 / (double)steps);
	printf("epoch=%d\n", epoch);
	printf("running_loss=%.6g\n", loss);
	printf("running_accuracy=%.4f\n", acc);
	printf("params=%zu\n", nparams);
	printf("rss_start_bytes=%lld\n", rss_start);
	printf("rss_peak_bytes=%lld\n", rss_peak);
	printf("budget_params_bytes=%lld\n", b_params);
	printf("budget_optim_bytes=%lld\n", b_state);
	printf("budget_act_bytes=%lld\n", b_act);
	printf("budget_data_bytes=%lld\n", b_data);
	printf("budget_bytes=%lld\n", budget);
	printf("rss_ratio=%.3f\n", (double)rss_peak / (double)budget);
	rc = 0;
out:
	free(cause);
	nn_trainer_free(tr);
	nn_net_free(net);
	nn_data_free(train);
	return rc;
}

/* Fills n floats with uniform values in [-1, 1). */
static float *
bench_random(size_t n, uint64_t seed)
{
	struct nn_rng rng;
	float *v;
	size_t i;

	nn_rng_seed(&rng, seed);
	v = xreallocarray(NULL, n, sizeof *v);
	for (i = 0; i < n; i++)
		v[i] = 2.0f * nn_rng_float(&rng) - 1.0f;
	return v;
}

/* Best and mean rate of o->runs 1-second windows of a square sgemm. */
static int
bench_sgemm(const struct bench_opts *o)
{
	float *a, *b, *c;
	double t0, t, rate, best = 0, sum = 0;
	size_t nn = (size_t)o->size * (size_t)o->size;
	long calls;
	int n = o->size, r;

	if (bench_blas(o) != 0)
		return -1;
	a = bench_random(nn, 1);
	b = bench_random(nn, 2);
	c = bench_random(nn, 3);
	nn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
	for (r = 0; r < o->runs; r++) {
		calls = 0;
		t0 = nn_clock_s();
		do {
			nn_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
			calls++;
		} while ((t = nn_clock_s() - t0) < BENCH_WINDOW);
		rate = 2.0 * n * (double)n * n * (double)calls / t / 1e9;
		if (rate > best)
			best = rate;
		sum += rate;
	}
	printf("size=%d\n", n);
	printf("runs=%d\n", o->runs);
	printf("gflops=%.2f\n", best);
	printf("mean_gflops=%.2f\n", sum / o->runs);
	printf("weights=%.0f\n", BENCH_WEIGHTS);
	printf("limit_samples_per_sec=%.1f\n", best * 1e9 /
	    (6.0 * BENCH_WEIGHTS));
	printf("mean_limit_samples_per_sec=%.1f\n", sum / o->runs * 1e9 /
	    (6.0 * BENCH_WEIGHTS));
	free(a);
	free(b);
	free(c);
	return 0;
}

/*
 * The eight GEMMs of one training step at batch -b (default 128), with
 * the shapes and transposes nn_net_forward and nn_net_backward use: how
 * fast a step could be if nothing but its GEMMs ran.
 */
static int
bench_shapes(const struct bench_opts *o)
{
	static const int units[] = { BENCH_INPUTS, BENCH_HIDDEN, BENCH_HIDDEN,
	    BENCH_CLASSES };
	float *w[3], *act[4], *d[2], *g[3];
	double t0, t, flops = 0, best = 0, rate;
	long steps;
	int B = o->batch, l, r, in, out;

	if (bench_blas(o) != 0)
		return -1;
	for (l = 0; l < 4; l++)
		act[l] = bench_random((size_t)B * units[l], 10 + l);
	for (l = 0; l < 3; l++) {
		w[l] = bench_random((size_t)units[l] * units[l + 1], 20 + l);
		g[l] = bench_random((size_t)units[l] * units[l + 1], 30 + l);
	}
	d[0] = bench_random((size_t)B * BENCH_HIDDEN, 40);
	d[1] = bench_random((size_t)B * BENCH_HIDDEN, 41);
	for (r = -1; r < o->runs; r++) {
		steps = 0;
		t0 = nn_clock_s();
		do {
			for (l = 0; l < 3; l++) {
				in = units[l];
				out = units[l + 1];
				nn_sgemm(0, 1, B, out, in, 1.0f, act[l], in,
				    w[l], in, 0.0f, act[l + 1], out);
			}
			for (l = 2; l >= 0; l--) {
				in = units[l];
				out = units[l + 1];
				nn_sgemm(1, 0, out, in, B, 1.0f, d[0], out,
				    act[l], in, 0.0f, g[l], in);
				if (l > 0)
					nn_sgemm(0, 0, B, in, out, 1.0f, d[0],
					    out, w[l], in, 0.0f, d[1], in);
			}
			steps++;
		} while ((t = nn_clock_s() - t0) < BENCH_WINDOW);
		if (r < 0)
			continue;	/* warm-up window */
		rate = (double)steps * B / t;
		if (rate > best)
			best = rate;
	}
	for (l = 0; l < 3; l++)
		flops += 6.0 * units[l] * units[l + 1];
	flops -= 2.0 * units[0] * units[1];	/* no input gradient */
	printf("batch=%d\n", B);
	printf("runs=%d\n", o->runs);
	printf("gemm_samples_per_sec=%.1f\n", best);
	printf("gemm_gflops=%.2f\n", best * flops / 1e9);
	for (l = 0; l < 4; l++)
		free(act[l]);
	for (l = 0; l < 3; l++) {
		free(w[l]);
		free(g[l]);
	}
	free(d[0]);
	free(d[1]);
	return 0;
}

static __attribute__((noreturn)) void
bench_usage(void)
{
	fprintf(stderr, "usage: mlp_bench train|sgemm|shapes [-t threads] "
	    "[-o sgd|adam] [-w warmup-s] [-s seconds] [-r runs] "
	    "[-n size] [-b batch]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct bench_opts o;
	int (*run)(const struct bench_opts *);
	const char *mode;
	int ch, rc;

	memset(&o, 0, sizeof o);
	o.optim = NN_OPTIM_SGD;
	o.warmup = 1.0;
	o.seconds = 5.0;
	o.runs = 3;
	o.size = 2048;
	o.batch = BENCH_BATCH;
	if (argc < 2)
		bench_usage();
	mode = argv[1];
	optind = 2;
	while ((ch = getopt(argc, argv, "t:o:w:s:r:n:b:")) != -1) {
		switch (ch) {
		case 't':
			o.threads = atoi(optarg);
			break;
		case 'o':
			if (nn_optim_parse(optarg, &o.optim) != 0 ||
			    o.optim == NN_OPTIM_RPROP)
				bench_usage();
			break;
		case 'w':
			o.warmup = atof(optarg);
			break;
		case 's':
			o.seconds = atof(optarg);
			break;
		case 'r':
			o.runs = atoi(optarg);
			break;
		case 'n':
			o.size = atoi(optarg);
			break;
		case 'b':
			o.batch = atoi(optarg);
			break;
		default:
			bench_usage();
		}
	}
	if (o.threads < 0 || o.threads > 1024 || o.seconds <= 0 ||
	    o.warmup < 0 || o.runs < 1 || o.size < 16 || o.size > 16384 ||
	    o.batch < 1 || o.batch > 65536)
		bench_usage();
	if (strcmp(mode, "train") == 0)
		run = bench_train;
	else if (strcmp(mode, "sgemm") == 0)
		run = bench_sgemm;
	else if (strcmp(mode, "shapes") == 0)
		run = bench_shapes;
	else
		bench_usage();
	printf("mode=%s\n", mode);
	rc = run(&o);
	fflush(stdout);
	return rc == 0 ? 0 : 1;
}
