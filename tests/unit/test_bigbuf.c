/*
 * The daemon's pool of large buffers: reuse of a freed buffer, the memfd
 * behind each one, plain malloc below the threshold, and trimming.
 */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bigbuf.h"
#include "unit.h"

/* A freed large buffer comes back for the next one that fits. */
static void
test_reuse(void)
{
	size_t n = (size_t)3 << 20;
	unsigned char *a = NULL, *b = NULL, *c = NULL, *old;
	struct stat sb;
	int fd;

	a = bigbuf_alloc(n);
	CHECK((fd = bigbuf_fd(a)) >= 0);
	CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size >= n);
	memset(a, 0xab, n);
	b = bigbuf_alloc(n);
	CHECK(b != a && bigbuf_fd(b) >= 0 && bigbuf_fd(b) != fd);
	bigbuf_free(a);
	old = a;
	a = NULL;
	/* Freed: no longer lent, so no memfd to hand a worker. */
	CHECK(bigbuf_fd(old) == -1);
	c = bigbuf_alloc(n - 1000);
	CHECK(c == old);
	/* The same pages: warm, and what was written is there. */
	CHECK(c[0] == 0xab && c[n - 1] == 0xab);
end:
	bigbuf_free(a);
	bigbuf_free(b);
	bigbuf_free(c);
	bigbuf_trim(1);
}

/* Small ones are malloc'd, and bigbuf_free takes any malloc pointer. */
static void
test_small_and_foreign(void)
{
	void *s = bigbuf_alloc(100), *m = malloc(64);
	size_t before = bigbuf_mapped();

	CHECK(s != NULL && bigbuf_fd(s) == -1);
	CHECK(bigbuf_mapped() == before);
end:
	bigbuf_free(s);
	bigbuf_free(m);
	bigbuf_free(NULL);
}

/* A much larger idle buffer is not pinned for a small payload; trim
 * gives idle buffers back. */
static void
test_fit_and_trim(void)
{
	unsigned char *big = bigbuf_alloc((size_t)32 << 20), *small = NULL;

	CHECK(bigbuf_mapped() >= (size_t)32 << 20);
	bigbuf_free(big);
	small = bigbuf_alloc((size_t)1 << 20);
	CHECK(small != big);
	bigbuf_free(small);
	small = NULL;
	/* Idle for less than BIGBUF_IDLE_S: kept. */
	bigbuf_trim(0);
	CHECK(bigbuf_mapped() >= (size_t)32 << 20);
	bigbuf_trim(1);
	CHECK(bigbuf_mapped() == 0);
end:
	bigbuf_free(small);
	bigbuf_trim(1);
}

static const struct unit_test tests[] = {
	{ "reuse", test_reuse },
	{ "small_and_foreign", test_small_and_foreign },
	{ "fit_and_trim", test_fit_and_trim },
	{ NULL, NULL },
};

UNIT_MAIN("bigbuf", tests)
