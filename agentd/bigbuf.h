/*
 * Large buffers kept warm for reuse. An agent state of hundreds of
 * megabytes crosses a daemon in one buffer, and fresh memory costs more
 * than the copy: the kernel zeroes every page on first touch. The daemon
 * therefore keeps a few freed buffers mapped for the next move and gives
 * them back once they have been idle for BIGBUF_IDLE_S seconds.
 *
 * bigbuf_free takes any pointer from bigbuf_alloc or malloc, so a payload
 * can be handed around without its owner knowing where it came from.
 */
#ifndef AGENTD_BIGBUF_H
#define AGENTD_BIGBUF_H

#include <stddef.h>

#define BIGBUF_MIN	((size_t)1 << 20)	/* smaller ones are malloc'd */
/* Longer than a session's default commit interval (30 s), so that each
 * commit reuses the last one's warm buffers. */
#define BIGBUF_IDLE_S	35
#define BIGBUF_KEEP	((size_t)1 << 30)	/* idle bytes kept at most */

/* len bytes (len > 0), from the pool when len >= BIGBUF_MIN. Never NULL. */
void	*bigbuf_alloc(size_t len);
/* An idle buffer of the pool that fits len, or NULL: never new memory.
 * For a peer's frame, whose claimed length alone must not cost memory. */
void	*bigbuf_idle(size_t len);
/*
 * p (from bigbuf_alloc or malloc, in use by the caller alone) made len
 * bytes long, its contents kept; it may move. A pool buffer grows its
 * memfd and moves its mapping, so nothing is copied. Never NULL.
 */
void	*bigbuf_grow(void *p, size_t len);
/* Back to the pool once every holder has let go, or free() for a pointer
 * the pool does not know. */
void	 bigbuf_free(void *p);
/* One more holder of p (in use, from the pool): it stays mapped until a
 * bigbuf_free for each. -1 when p is not the pool's. */
int	 bigbuf_hold(void *p);
/* The memfd behind p (a buffer in use from bigbuf_alloc), or -1: a worker
 * maps it rather than reading a copy. Borrowed. */
int	 bigbuf_fd(const void *p);
/*
 * Readies p (in use, from bigbuf_alloc) for a worker to map its first len
 * bytes: the memfd is cut to len's last page and zeroed past len, so
 * nothing an earlier use left shows. Returns the memfd (borrowed), or -1
 * when p is not the pool's. bigbuf_free makes it whole again.
 */
int	 bigbuf_lend(void *p, size_t len);
/*
 * bigbuf_free for a lent buffer whose worker lives on: it is not kept for
 * another payload, which the worker could see through a mapping it made.
 */
void	 bigbuf_discard(void *p);
/* Unmaps idle buffers: all of them, or those idle for BIGBUF_IDLE_S. */
void	 bigbuf_trim(int all);
/* Bytes mapped by the pool, in use and idle: for tests and logs. */
size_t	 bigbuf_mapped(void);

#endif
