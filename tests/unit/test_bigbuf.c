/*
 * The daemon's pool of large buffers: reuse of a freed buffer, the memfd
 * behind each one, plain malloc below the threshold, and trimming.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/bigbuf.h"
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

/*
 * Lent to a worker: the memfd ends with the state's last page, zero past
 * the state, and a read-only open cannot map it writable. Freed, the
 * buffer is whole again.
 */
static void
test_lend(void)
{
	size_t n = (size_t)3 << 20, len = n - 5000, page = 4096;
	unsigned char *a = bigbuf_alloc(n), *m = MAP_FAILED;
	char path[64];
	struct stat sb;
	int fd, ro = -1;

	memset(a, 0xcd, n);
	CHECK((fd = bigbuf_lend(a, len)) >= 0);
	CHECK(fstat(fd, &sb) == 0);
	CHECKF((size_t)sb.st_size == (len + page - 1) / page * page,
	    "memfd of %lld bytes for a %zu-byte state", (long long)sb.st_size,
	    len);
	CHECK(a[len - 1] == 0xcd && a[len] == 0 &&
	    a[(size_t)sb.st_size - 1] == 0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	CHECK((ro = open(path, O_RDONLY)) >= 0);
	CHECK(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) ==
	    MAP_FAILED && errno == EACCES);
	CHECK((m = mmap(NULL, len, PROT_READ, MAP_SHARED, ro, 0)) !=
	    MAP_FAILED);
	CHECK(m[0] == 0xcd && m[len - 1] == 0xcd);
	CHECK(munmap(m, len) == 0);
	m = MAP_FAILED;
	bigbuf_free(a);
	CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size >= n);
	a = bigbuf_alloc(n);
	/* Past the old cut the pages came back zero. */
	CHECK(a[n - 1] == 0);
	/* Not the pool's, or not in use: nothing to lend. */
	CHECK(bigbuf_lend(path, 10) == -1);
end:
	if (m != MAP_FAILED)
		munmap(m, len);
	if (ro >= 0)
		close(ro);
	bigbuf_free(a);
	bigbuf_trim(1);
}

/*
 * A buffer grows in place of a claim: its memfd follows, its bytes stay,
 * and a worker may map it; bigbuf_idle hands out only what is idle.
 */
static void
test_grow(void)
{
	size_t n = (size_t)1 << 20, big = (size_t)9 << 20;
	unsigned char *a = NULL, *m = NULL;
	struct stat sb;
	int fd;

	bigbuf_trim(1);
	CHECK(bigbuf_idle(big) == NULL);
	a = bigbuf_alloc(n);
	CHECK((fd = bigbuf_fd(a)) >= 0);
	memset(a, 0x5a, n);
	a = bigbuf_grow(a, big);
	CHECK(bigbuf_fd(a) == fd && fstat(fd, &sb) == 0 &&
	    (size_t)sb.st_size >= big);
	CHECK(a[0] == 0x5a && a[n - 1] == 0x5a);
	memset(a + n, 0x33, big - n);
	CHECK(bigbuf_lend(a, big) == fd);
	bigbuf_free(a);
	/* Idle now, and of the size: the next claim of it takes it. */
	CHECK(bigbuf_idle(big - 5) == a);
	a = bigbuf_grow(a, big - 5);
	CHECK(a[big - 6] == 0x33);
	/* A malloc'd one is realloc'd. */
	m = malloc(16);
	memcpy(m, "fifteen bytes..", 16);
	m = bigbuf_grow(m, 1 << 16);
	CHECK(memcmp(m, "fifteen bytes..", 16) == 0);
end:
	bigbuf_free(a);
	bigbuf_free(m);
	bigbuf_trim(1);
}

static const struct unit_test tests[] = {
	{ "reuse", test_reuse },
	{ "small_and_foreign", test_small_and_foreign },
	{ "fit_and_trim", test_fit_and_trim },
	{ "lend", test_lend },
	{ "grow", test_grow },
	{ NULL, NULL },
};

UNIT_MAIN("bigbuf", tests)
