/*
 * Seeded random numbers that are identical on every platform: xoshiro256**
 * seeded through splitmix64, with integer-only conversions to floats.
 */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

struct nn_rng {
	uint64_t s[4];
};

void nn_rng_seed(struct nn_rng *, uint64_t seed);
uint64_t nn_rng_next(struct nn_rng *);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint64_t nn_rng_below(struct nn_rng *, uint64_t bound);
/* Uniform float in [0, 1) with 24 random bits: exact on every platform. */
float nn_rng_float(struct nn_rng *);
/* Uniform double in [0, 1) with 53 random bits. */
double nn_rng_double(struct nn_rng *);
/* Standard normal (Box-Muller through libm): for synthetic data only. */
double nn_rng_normal(struct nn_rng *);
/* Fisher-Yates shuffle of n indices. */
void nn_rng_shuffle(struct nn_rng *, uint32_t *idx, uint32_t n);

#endif
