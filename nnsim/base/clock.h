/* The one monotonic clock: seconds for rates, milliseconds for deadlines. */
#ifndef NN_CLOCK_H
#define NN_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline double
nn_clock_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Monotonic milliseconds, for timeouts, heartbeats and deadlines. */
static inline uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
