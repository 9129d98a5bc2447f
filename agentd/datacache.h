/*
 * The blocks of the data cache this host holds (docs/data-cache.md): each
 * in a sealed memfd, named by the SHA-256 of its bytes, within a byte
 * limit, evicted least recently used. It knows nothing of sets: what is
 * pinned the caller says.
 */
#ifndef AGENTD_DATACACHE_H
#define AGENTD_DATACACHE_H

#include <stdint.h>

#include <jansson.h>

#define DATACACHE_BLOCK_MAX	((uint64_t)64 << 20)
#define DATACACHE_HEX		65	/* 64 hex digits and the NUL */

struct datacache;

/* 1 when the block named sha may not be evicted. */
typedef int datacache_pinned_fn(void *arg, const char *sha);

struct datacache *datacache_new(uint64_t limit, datacache_pinned_fn *,
		     void *arg);
void		 datacache_free(struct datacache *);
/* 1 when sha is 64 lowercase hex digits. */
int		 datacache_valid(const char *sha);
/*
 * Stores len bytes as block sha, after checking that they hash to it:
 * 0 (also when it was here already), or -1 with cause: a bad name or
 * size, bytes that do not match, or no room once every unpinned block
 * has gone.
 */
int		 datacache_put(struct datacache *, const char *sha,
		     const void *data, uint64_t len, char **cause);
int		 datacache_has(struct datacache *, const char *sha);
/* The block's sealed memfd (still ours) and length, or -1; marks it
 * used. */
int		 datacache_fd(struct datacache *, const char *sha,
		     uint64_t *len);
/* Its bytes, mapped read-only (ours), or NULL; marks it used. */
const void	*datacache_bytes(struct datacache *, const char *sha,
		     uint64_t *len);
/* Seconds since it was stored, or -1 when absent. */
double		 datacache_age(struct datacache *, const char *sha);
void		 datacache_drop(struct datacache *, const char *sha);
uint64_t	 datacache_used(const struct datacache *);
uint64_t	 datacache_limit(const struct datacache *);
size_t		 datacache_count(const struct datacache *);
/* Goes up whenever a block comes or goes. */
uint64_t	 datacache_version(const struct datacache *);
/* The names of the blocks here (new reference: an array). */
json_t		*datacache_list(const struct datacache *);

#endif
