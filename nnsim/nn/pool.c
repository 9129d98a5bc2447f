/*
 * Workers sleep on a condition variable between jobs rather than spin, so
 * they never compete with OpenBLAS's own threads during a GEMM.
 */
#include <pthread.h>

#include "base/alloc.h"
#include "nn/pool.h"

#define POOL_MAX	64
#define POOL_ALIGN	16	/* floats: chunks start on cache lines */

static pthread_mutex_t	pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	pool_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	pool_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t	pool_serial = PTHREAD_MUTEX_INITIALIZER;
static int		pool_started;	/* helper threads running */
static unsigned long	pool_generation;
static int		pool_pending;
static nn_pool_fn	*pool_fn;
static void		*pool_arg;
static size_t		 pool_n;
static int		 pool_parts;

static void
pool_chunk(size_t n, int parts, int part, size_t *lo, size_t *hi)
{
	size_t per = (n / (size_t)parts + POOL_ALIGN - 1) / POOL_ALIGN *
	    POOL_ALIGN;

	*lo = per * (size_t)part;
	*hi = *lo + per;
	if (*lo > n)
		*lo = n;
	if (*hi > n || part == parts - 1)
		*hi = n;
}

static void *
pool_worker(void *p)
{
	int part = (int)(size_t)p;
	unsigned long seen = 0;
	size_t lo, hi;

	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (pool_generation == seen)
			pthread_cond_wait(&pool_work, &pool_lock);
		seen = pool_generation;
		if (part >= pool_parts)
			continue;
		pool_chunk(pool_n, pool_parts, part, &lo, &hi);
		pthread_mutex_unlock(&pool_lock);
		pool_fn(pool_arg, lo, hi);
		pthread_mutex_lock(&pool_lock);
		if (--pool_pending == 0)
			pthread_cond_signal(&pool_done);
	}
	return NULL;
}

void
nn_pool_run(nn_pool_fn *fn, void *arg, size_t n, size_t min_chunk,
    int threads)
{
	pthread_t t;
	size_t lo, hi;
	int parts = threads;

	if (min_chunk < 1)
		min_chunk = 1;
	if ((size_t)parts > n / min_chunk)
		parts = (int)(n / min_chunk);
	if (parts > POOL_MAX)
		parts = POOL_MAX;
	if (parts <= 1) {
		fn(arg, 0, n);
		return;
	}
	/* One job at a time; callers from several threads take turns. */
	pthread_mutex_lock(&pool_serial);
	pthread_mutex_lock(&pool_lock);
	while (pool_started < parts - 1) {
		if (pthread_create(&t, NULL, pool_worker,
		    (void *)(size_t)(pool_started + 1)) != 0)
			break;
		pthread_detach(t);
		pool_started++;
	}
	if (parts > pool_started + 1)
		parts = pool_started + 1;
	pool_fn = fn;
	pool_arg = arg;
	pool_n = n;
	pool_parts = parts;
	pool_pending = parts - 1;
	pool_generation++;
	pthread_cond_broadcast(&pool_work);
	pthread_mutex_unlock(&pool_lock);

	pool_chunk(n, parts, 0, &lo, &hi);
	fn(arg, lo, hi);

	pthread_mutex_lock(&pool_lock);
	while (pool_pending > 0)
		pthread_cond_wait(&pool_done, &pool_lock);
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&pool_serial);
}
