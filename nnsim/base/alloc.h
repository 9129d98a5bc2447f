/* Allocation wrappers that abort on out-of-memory, and fatal(). */
#ifndef NN_ALLOC_H
#define NN_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

#define NN_PRINTF(a, b) __attribute__((format(printf, a, b)))

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
/* *buf with room for len bytes, reallocated (contents not kept) only when
 * *cap is short: for buffers refilled often, whose pages stay warm. */
void *xgrow(void **buf, size_t *cap, size_t len);
/* Returns a new string; caller frees. */
char *xasprintf(const char *, ...) NN_PRINTF(1, 2);
char *xvasprintf(const char *, va_list);
/* Fills *cause (when not NULL) with a new formatted message; returns -1. */
int nn_fail(char **cause, const char *, ...) NN_PRINTF(2, 3);
/* A broken invariant: prints and aborts. */
void fatal(const char *, ...) NN_PRINTF(1, 2) __attribute__((noreturn));

#endif
