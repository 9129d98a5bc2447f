/* Monotonic seconds, for rates, deadlines and throttles. */
#ifndef NN_CLOCK_H
#define NN_CLOCK_H

#include <time.h>

static inline double
nn_clock_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif
