/*
 * A small table-driven unit test runner in the manner of tinytest: each test
 * is a function; CHECK jumps to the test's end: label on failure, so cleanup
 * runs once. Each test_*.c file is its own binary ending in UNIT_MAIN(table).
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdint.h>
#include <stdio.h>

struct unit_test {
	const char	*name;
	void		(*fn)(void);
};

extern int unit_failed;
extern int unit_skipped;

void	unit_fail(const char *file, int line, const char *what);
void	unit_skip(const char *reason);
/* A directory under TMPDIR that exists for the whole binary; borrowed. */
const char *unit_tmpdir(void);
/* Path of a fixture file under tests/; borrowed, overwritten next call. */
const char *unit_src(const char *relative);
int	unit_main(const char *group, const struct unit_test *, int, char **);

/* One-thread BLAS for the trainer's tests, so results do not depend on
 * the core count; exits on failure. Call it from a constructor. */
void	unit_blas_init(void);

struct nn_trainer;
/* 1 when restoring bad into tr fails with a cause that names want; the
 * cause is printed when it does not. */
int	unit_restore_refused(struct nn_trainer *tr, const unsigned char *bad,
	    size_t len, const char *want);

/* Fixtures for the trainer's tests. Generated blobs (fatal on error). */
struct nn_data;
struct nn_net;
struct nn_data *unit_blobs(long n, int inputs, int classes, uint64_t seed);
/* inputs, 8 tanh, classes softmax with cross-entropy, initialised. */
struct nn_net *unit_small_net(int inputs, int classes, int max_batch,
	    uint64_t seed);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		unit_fail(__FILE__, __LINE__, #cond);			\
		goto end;						\
	}								\
} while (0)

#define CHECKF(cond, ...) do {						\
	if (!(cond)) {							\
		char unit_msg_[512];					\
		snprintf(unit_msg_, sizeof unit_msg_, __VA_ARGS__);	\
		unit_fail(__FILE__, __LINE__, unit_msg_);		\
		goto end;						\
	}								\
} while (0)

#define SKIP(reason) do {						\
	unit_skip(reason);						\
	goto end;							\
} while (0)

#define UNIT_MAIN(group, table)						\
int main(int argc, char **argv) {					\
	return unit_main(group, table, argc, argv);			\
}

#endif
