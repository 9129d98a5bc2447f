/*
 * OpenBLAS, loaded at run time. Debian's OpenBLAS 0.3.21 picks its slow
 * "Prescott" kernels on AVX-512 CPUs it does not know; the core type is read
 * only when the library loads, so nn_blas_init sets it first and then loads
 * the library itself. Callers never link -lopenblas.
 */
#ifndef NN_BLAS_H
#define NN_BLAS_H

/* Loads OpenBLAS once and sets its thread count (0: one per online core). */
int nn_blas_init(int threads, char **cause);
/* Changes the thread count after init. */
void nn_blas_set_threads(int threads);
int nn_blas_threads(void);
/* The kernel family OpenBLAS runs, such as "SkylakeX"; borrowed. */
const char *nn_blas_corename(void);

/* Row-major C = alpha * op(A) * op(B) + beta * C; ta/tb nonzero transposes. */
void nn_sgemm(int ta, int tb, int m, int n, int k, float alpha,
    const float *a, int lda, const float *b, int ldb, float beta,
    float *c, int ldc);

#endif
