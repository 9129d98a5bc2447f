/* xoshiro256** (Blackman and Vigna), seeded by splitmix64. */
#include <math.h>

#include "base/rng.h"

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
nn_rng_seed(struct nn_rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t
nn_rng_next(struct nn_rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t
nn_rng_below(struct nn_rng *r, uint64_t bound)
{
	uint64_t x, limit = -bound % bound;	/* 2^64 mod bound */

	/* Reject the short top range so every value is equally likely. */
	do
		x = nn_rng_next(r);
	while (x < limit);
	return x % bound;
}

float
nn_rng_float(struct nn_rng *r)
{
	return (float)(nn_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

double
nn_rng_double(struct nn_rng *r)
{
	return (double)(nn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double
nn_rng_normal(struct nn_rng *r)
{
	double u1, u2;

	do
		u1 = nn_rng_double(r);
	while (u1 <= 0.0);
	u2 = nn_rng_double(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void
nn_rng_shuffle(struct nn_rng *r, uint32_t *idx, uint32_t n)
{
	uint32_t i, j, t;

	for (i = n; i > 1; i--) {
		j = (uint32_t)nn_rng_below(r, i);
		t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}
