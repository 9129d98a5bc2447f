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

void *
bigbuf_alloc(size_t len)
{
	struct bigbuf *best = NULL, *empty = NULL;
	size_t i, cap;
	void *p;
	int fd;

	if (len < BIGBUF_MIN)
		return xmalloc(len > 0 ? len : 1);
	for (i = 0; i < BIGBUF_SLOTS; i++) {
		struct bigbuf *b = &pool[i];

		if (b->p == NULL) {
			if (empty == NULL)
				empty = b;
		} else if (!b->busy && b->cap >= len &&
		    (best == NULL || b->cap < best->cap))
			best = b;
	}
	/* A much larger idle buffer would pin memory for a small payload. */
	if (best != NULL && best->cap / 4 <= len) {
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
