/*
 * A parallel for over elementwise loops (optimizer updates), with as many
 * threads as BLAS uses. Each index is handled by exactly one thread and no
 * sums cross chunks, so results do not depend on the thread count.
 */
#ifndef NN_POOL_H
#define NN_POOL_H

#include <stddef.h>

typedef void nn_pool_fn(void *arg, size_t lo, size_t hi);

/*
 * Runs fn over [0, n) in contiguous chunks of at least min_chunk, on up to
 * threads threads (the caller is one); returns when all are done.
 */
void	nn_pool_run(nn_pool_fn *fn, void *arg, size_t n, size_t min_chunk,
	    int threads);

#endif
