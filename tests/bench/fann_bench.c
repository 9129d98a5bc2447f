/*
 * FANN reference for make bench: the 784-1024-1024-10 network trained one
 * sample at a time (FANN_TRAIN_INCREMENTAL through fann_train) on random
 * data. Debian's FANN 2.2 has no ReLU, so every layer is a sigmoid.
 * Results are "key=value" lines for tests/bench/run.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fann.h>

#define FANN_BENCH_INPUTS	784
#define FANN_BENCH_HIDDEN	1024
#define FANN_BENCH_CLASSES	10
#define FANN_BENCH_ROWS		1024	/* random samples, cycled */

static double
fann_bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Small seeded generator so every run trains on the same data. */
static unsigned long long fann_bench_state = 0x9e3779b97f4a7c15ULL;

static float
fann_bench_uniform(void)
{
	fann_bench_state ^= fann_bench_state << 13;
	fann_bench_state ^= fann_bench_state >> 7;
	fann_bench_state ^= fann_bench_state << 17;
	return (float)(fann_bench_state >> 40) / (float)(1 << 24);
}

int
main(int argc, char **argv)
{
	struct fann *ann;
	fann_type *x, *y;
	double seconds = 3.0, warmup = 0.5, t0, t;
	long samples = 0;
	size_t i;
	int r;

	if (argc > 1 && (seconds = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: fann_bench [seconds]\n");
		return 2;
	}
	ann = fann_create_standard(4, FANN_BENCH_INPUTS, FANN_BENCH_HIDDEN,
	    FANN_BENCH_HIDDEN, FANN_BENCH_CLASSES);
	if (ann == NULL) {
		fprintf(stderr, "fann_bench: fann_create_standard failed\n");
		return 1;
	}
	fann_set_activation_function_hidden(ann, FANN_SIGMOID);
	fann_set_activation_function_output(ann, FANN_SIGMOID);
	fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
	fann_set_learning_rate(ann, 0.01f);
	fann_set_learning_momentum(ann, 0.9f);
	fann_randomize_weights(ann, -0.1f, 0.1f);

	x = calloc((size_t)FANN_BENCH_ROWS * FANN_BENCH_INPUTS, sizeof *x);
	y = calloc((size_t)FANN_BENCH_ROWS * FANN_BENCH_CLASSES, sizeof *y);
	if (x == NULL || y == NULL) {
		fprintf(stderr, "fann_bench: out of memory\n");
		return 1;
	}
	for (i = 0; i < (size_t)FANN_BENCH_ROWS * FANN_BENCH_INPUTS; i++)
		x[i] = fann_bench_uniform();
	for (r = 0; r < FANN_BENCH_ROWS; r++)
		y[r * FANN_BENCH_CLASSES + (int)(fann_bench_uniform() *
		    FANN_BENCH_CLASSES)] = 1.0f;

	t0 = fann_bench_now();
	for (r = 0; fann_bench_now() - t0 < warmup; r++)
		fann_train(ann, x + (size_t)(r % FANN_BENCH_ROWS) *
		    FANN_BENCH_INPUTS, y + (size_t)(r % FANN_BENCH_ROWS) *
		    FANN_BENCH_CLASSES);
	t0 = fann_bench_now();
	do {
		r = (int)(samples % FANN_BENCH_ROWS);
		fann_train(ann, x + (size_t)r * FANN_BENCH_INPUTS,
		    y + (size_t)r * FANN_BENCH_CLASSES);
		samples++;
	} while ((t = fann_bench_now() - t0) < seconds);

	printf("mode=fann\n");
	printf("activation=sigmoid\n");
	printf("algorithm=incremental\n");
	printf("samples=%ld\n", samples);
	printf("seconds=%.3f\n", t);
	printf("samples_per_sec=%.1f\n", (double)samples / t);
	fann_destroy(ann);
	free(x);
	free(y);
	return 0;
}
