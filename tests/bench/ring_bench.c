/*
 * ring_bench: the all-reduce of a data-parallel job (nnsim/dist/ring.h)
 * between two ranks, one thread each, over loopback TCP: the mean time a
 * step's sum takes, with the ring's messages enciphered or only tagged
 * (nn_ring_set_encrypt), so what encryption costs the ring is measured
 * alone, without the training around it.
 *
 * Usage: ring_bench [-n FLOATS] [-s STEPS] [-w WARMUP] [-e on|off]
 * FLOATS defaults to the bench MLP's parameters and the two figures a
 * partition adds (784*1024 + 1024*1024 + 1024*10 + 2058 + 2). Prints one
 * JSON line {"bench": "ring", "encrypt": B, "floats": N, "ms_per_step":
 * X, "gbytes_per_sec": Y}, Y being the vector's bytes over the time.
 * Exit 1 when a sum is wrong or the ring fails, 2 on bad usage.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/ring.h"

struct rank {
	struct nn_ring	*g;
	int		 rank;
	size_t		 n;
	int		 steps, warmup;
	double		 seconds;	/* the timed steps */
	int		 failed;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *
rank_main(void *arg)
{
	struct rank *r = arg;
	float *v = malloc(r->n * sizeof *v);
	char *cause = NULL;
	double t0 = 0;
	size_t i;
	int s, rc;

	for (s = 0; s < r->warmup + r->steps; s++) {
		if (s == r->warmup)
			t0 = now_s();
		/* Small integers: the sum is exact, so it can be checked. */
		for (i = 0; i < r->n; i++)
			v[i] = (float)((i + (size_t)s + (size_t)r->rank) % 7);
		nn_ring_start(r->g, (uint64_t)s, v);
		while ((rc = nn_ring_progress(r->g, 100, &cause)) == 0)
			;
		if (rc != 1) {
			fprintf(stderr, "ring_bench: rank %d: %s\n", r->rank,
			    cause);
			r->failed = 1;
			break;
		}
		for (i = 0; i < r->n; i += 997) {
			if (v[i] != (float)((i + (size_t)s) % 7 +
			    (i + (size_t)s + 1) % 7)) {
				fprintf(stderr, "ring_bench: wrong sum\n");
				r->failed = 1;
				s = r->warmup + r->steps;
				break;
			}
		}
	}
	r->seconds = now_s() - t0;
	while (!r->failed && nn_ring_flush(r->g, 50, &cause) == 0)
		;
	free(cause);
	free(v);
	return NULL;
}

int
main(int argc, char **argv)
{
	unsigned char secret[NN_RING_SECRET];
	struct rank r[2];
	pthread_t t[2];
	char *cause = NULL;
	size_t n = 784 * 1024 + 1024 * 1024 + 1024 * 10 + 2058 + 2;
	int steps = 50, warmup = 5, encrypt = 1, c, k, port[2];

	while ((c = getopt(argc, argv, "n:s:w:e:")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 's':
			steps = atoi(optarg);
			break;
		case 'w':
			warmup = atoi(optarg);
			break;
		case 'e':
			encrypt = strcmp(optarg, "off") != 0;
			break;
		default:
			fprintf(stderr, "usage: ring_bench [-n FLOATS] "
			    "[-s STEPS] [-w WARMUP] [-e on|off]\n");
			return 2;
		}
	}
	if (n < 2 || steps < 1 || warmup < 0) {
		fprintf(stderr, "ring_bench: bad -n, -s or -w\n");
		return 2;
	}
	memset(secret, 0x5a, sizeof secret);
	for (k = 0; k < 2; k++) {
		memset(&r[k], 0, sizeof r[k]);
		r[k].rank = k;
		r[k].n = n;
		r[k].steps = steps;
		r[k].warmup = warmup;
		r[k].g = nn_ring_new(k, 2, n, secret);
		nn_ring_set_encrypt(r[k].g, encrypt);
		if ((port[k] = nn_ring_listen(r[k].g, "127.0.0.1",
		    &cause)) < 0) {
			fprintf(stderr, "ring_bench: %s\n", cause);
			return 1;
		}
	}
	for (k = 0; k < 2; k++) {
		if (nn_ring_set_next(r[k].g, "127.0.0.1", port[1 - k],
		    &cause) != 0) {
			fprintf(stderr, "ring_bench: %s\n", cause);
			return 1;
		}
	}
	for (k = 0; k < 2; k++)
		pthread_create(&t[k], NULL, rank_main, &r[k]);
	for (k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	for (k = 0; k < 2; k++)
		nn_ring_free(r[k].g);
	if (r[0].failed || r[1].failed)
		return 1;
	printf("{\"bench\": \"ring\", \"encrypt\": %s, \"floats\": %zu, "
	    "\"ms_per_step\": %.3f, \"gbytes_per_sec\": %.3f}\n",
	    encrypt ? "true" : "false", n, r[0].seconds * 1e3 / steps,
	    (double)n * sizeof (float) * steps / r[0].seconds / 1e9);
	return 0;
}
