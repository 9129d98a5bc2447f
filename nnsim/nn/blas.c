/* OpenBLAS through dlopen so the core type can be fixed before it loads. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "nn/blas.h"

/* CBLAS enum values, fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR	101
#define CBLAS_NO_TRANS	111
#define CBLAS_TRANS	112

typedef void sgemm_fn(int, int, int, int, int, int, float, const float *,
    int, const float *, int, float, float *, int);
typedef void set_threads_fn(int);
typedef int get_threads_fn(void);
typedef char *corename_fn(void);

static sgemm_fn *blas_sgemm;
static set_threads_fn *blas_set_threads;
static get_threads_fn *blas_get_threads;
static corename_fn *blas_corename;
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;

/* The best OpenBLAS kernel family this CPU runs, or NULL to let it choose. */
static const char *
blas_pick_coretype(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
#endif
	return NULL;
}

static int
blas_load(char **cause)
{
	static const char *names[] = { "libopenblas.so.0", "libopenblas.so" };
	const char *core;
	void *h = NULL;
	size_t i;

	/* A user's own choice wins; otherwise never let it fall to Prescott. */
	if (getenv("OPENBLAS_CORETYPE") == NULL &&
	    (core = blas_pick_coretype()) != NULL)
		setenv("OPENBLAS_CORETYPE", core, 1);
	for (i = 0; i < sizeof names / sizeof names[0] && h == NULL; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL)
		return nn_fail(cause, "cannot load OpenBLAS: %s (install "
		    "libopenblas0, or run make deps)", dlerror());
	blas_sgemm = (sgemm_fn *)dlsym(h, "cblas_sgemm");
	blas_set_threads = (set_threads_fn *)dlsym(h,
	    "openblas_set_num_threads");
	blas_get_threads = (get_threads_fn *)dlsym(h,
	    "openblas_get_num_threads");
	blas_corename = (corename_fn *)dlsym(h, "openblas_get_corename");
	if (blas_sgemm == NULL || blas_set_threads == NULL ||
	    blas_get_threads == NULL)
		return nn_fail(cause, "OpenBLAS lacks cblas_sgemm or "
		    "openblas_set_num_threads");
	return 0;
}

int
nn_blas_init(int threads, char **cause)
{
	int rc = 0;

	pthread_mutex_lock(&blas_lock);
	if (blas_sgemm == NULL)
		rc = blas_load(cause);
	pthread_mutex_unlock(&blas_lock);
	if (rc == 0)
		nn_blas_set_threads(threads);
	return rc;
}

void
nn_blas_set_threads(int threads)
{
	long n;

	if (threads <= 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	blas_set_threads(threads);
}

int
nn_blas_threads(void)
{
	return blas_get_threads != NULL ? blas_get_threads() : 0;
}

const char *
nn_blas_corename(void)
{
	return blas_corename != NULL ? blas_corename() : "unknown";
}

void
nn_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a,
    int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	if (blas_sgemm == NULL)
		fatal("nn_sgemm called before nn_blas_init");
	blas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS,
	    tb ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, alpha, a, lda, b, ldb,
	    beta, c, ldc);
}
