/* The data cache's blocks on this host (datacache.h). */
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/datacache.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/file.h"

struct dblock {
	char		 sha[DATACACHE_HEX];
	int		 fd;		/* sealed memfd */
	void		*map;		/* read-only, for peers */
	uint64_t	 len;
	double		 stored;	/* nn_clock_s */
	uint64_t	 used;		/* LRU tick */
	struct dblock	*prev, *next;
};

struct datacache {
	uint64_t		 limit;
	uint64_t		 bytes;
	size_t			 count;
	uint64_t		 version;
	uint64_t		 tick;
	datacache_pinned_fn	*pinned;
	void			*arg;
	/* sha -> the block's address, as an integer: Jansson's hash table
	 * is the one the project has. */
	json_t			*index;
	struct dblock		*head;
};

struct datacache *
datacache_new(uint64_t limit, datacache_pinned_fn *pinned, void *arg)
{
	struct datacache *dc = xcalloc(1, sizeof *dc);

	dc->limit = limit;
	dc->pinned = pinned;
	dc->arg = arg;
	dc->index = json_object();
	return dc;
}

static struct dblock *
dblock_find(const struct datacache *dc, const char *sha)
{
	json_t *v = json_object_get(dc->index, sha);

	return v != NULL ? (struct dblock *)(uintptr_t)json_integer_value(v) :
	    NULL;
}

static void
dblock_remove(struct datacache *dc, struct dblock *b)
{
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		dc->head = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	json_object_del(dc->index, b->sha);
	dc->bytes -= b->len;
	dc->count--;
	dc->version++;
	if (b->map != NULL)
		munmap(b->map, b->len);
	close(b->fd);
	free(b);
}

void
datacache_free(struct datacache *dc)
{
	if (dc == NULL)
		return;
	while (dc->head != NULL)
		dblock_remove(dc, dc->head);
	json_decref(dc->index);
	free(dc);
}

int
datacache_valid(const char *sha)
{
	size_t i;

	if (sha == NULL || strlen(sha) != DATACACHE_HEX - 1)
		return 0;
	for (i = 0; sha[i] != '\0'; i++)
		if (!((sha[i] >= '0' && sha[i] <= '9') ||
		    (sha[i] >= 'a' && sha[i] <= 'f')))
			return 0;
	return 1;
}

/* Evicts unpinned blocks, least recently used first, until need bytes
 * fit; 0, or -1 when they do not. */
static int
datacache_room(struct datacache *dc, uint64_t need)
{
	struct dblock *b, *oldest;

	while (dc->limit - dc->bytes < need) {
		oldest = NULL;
		for (b = dc->head; b != NULL; b = b->next)
			if ((oldest == NULL || b->used < oldest->used) &&
			    (dc->pinned == NULL || !dc->pinned(dc->arg,
			    b->sha)))
				oldest = b;
		if (oldest == NULL)
			return -1;
		dblock_remove(dc, oldest);
	}
	return 0;
}

/* Bytes of pinned blocks, for the message that says why none fit. */
static uint64_t
datacache_pinned_bytes(const struct datacache *dc)
{
	const struct dblock *b;
	uint64_t n = 0;

	for (b = dc->head; b != NULL; b = b->next)
		if (dc->pinned != NULL && dc->pinned(dc->arg, b->sha))
			n += b->len;
	return n;
}

int
datacache_put(struct datacache *dc, const char *sha, const void *data,
    uint64_t len, char **cause)
{
	char got[DATACACHE_HEX];
	struct dblock *b;
	int fd = -1;

	if (!datacache_valid(sha))
		return nn_fail(cause, "a block's name must be 64 lowercase hex "
		    "digits");
	if (len == 0 || len > DATACACHE_BLOCK_MAX)
		return nn_fail(cause, "block %.12s: %llu bytes, expected 1 to "
		    "%llu", sha, (unsigned long long)len,
		    (unsigned long long)DATACACHE_BLOCK_MAX);
	crypto_sha256_hex(data, (size_t)len, got);
	if (strcmp(got, sha) != 0)
		return nn_fail(cause, "block %.12s: its bytes hash to %.12s",
		    sha, got);
	if ((b = dblock_find(dc, sha)) != NULL) {
		b->used = ++dc->tick;
		return 0;
	}
	if (len > dc->limit || datacache_room(dc, len) != 0)
		return nn_fail(cause, "data cache full: need %.1f MiB, %.1f "
		    "MiB pinned of %.1f MiB", (double)len / (1 << 20),
		    (double)datacache_pinned_bytes(dc) / (1 << 20),
		    (double)dc->limit / (1 << 20));
	if ((fd = nn_memfd_sealed("agentd-data", data, (size_t)len, cause)) < 0)
		return -1;
	b = xcalloc(1, sizeof *b);
	snprintf(b->sha, sizeof b->sha, "%s", sha);
	b->fd = fd;
	b->len = len;
	b->stored = nn_clock_s();
	b->used = ++dc->tick;
	b->next = dc->head;
	if (dc->head != NULL)
		dc->head->prev = b;
	dc->head = b;
	json_object_set_new(dc->index, sha, json_integer((json_int_t)
	    (uintptr_t)b));
	dc->bytes += len;
	dc->count++;
	dc->version++;
	return 0;
}

int
datacache_has(struct datacache *dc, const char *sha)
{
	return dblock_find(dc, sha) != NULL;
}

int
datacache_fd(struct datacache *dc, const char *sha, uint64_t *len)
{
	struct dblock *b = dblock_find(dc, sha);

	if (b == NULL)
		return -1;
	b->used = ++dc->tick;
	*len = b->len;
	return b->fd;
}

const void *
datacache_bytes(struct datacache *dc, const char *sha, uint64_t *len)
{
	struct dblock *b = dblock_find(dc, sha);
	void *p;

	if (b == NULL)
		return NULL;
	if (b->map == NULL) {
		p = mmap(NULL, (size_t)b->len, PROT_READ, MAP_SHARED, b->fd, 0);
		if (p == MAP_FAILED)
			return NULL;
		b->map = p;
	}
	b->used = ++dc->tick;
	*len = b->len;
	return b->map;
}

double
datacache_age(struct datacache *dc, const char *sha)
{
	struct dblock *b = dblock_find(dc, sha);

	return b != NULL ? nn_clock_s() - b->stored : -1;
}

void
datacache_drop(struct datacache *dc, const char *sha)
{
	struct dblock *b = dblock_find(dc, sha);

	if (b != NULL)
		dblock_remove(dc, b);
}

uint64_t
datacache_used(const struct datacache *dc)
{
	return dc->bytes;
}

uint64_t
datacache_limit(const struct datacache *dc)
{
	return dc->limit;
}

size_t
datacache_count(const struct datacache *dc)
{
	return dc->count;
}

uint64_t
datacache_version(const struct datacache *dc)
{
	return dc->version;
}

json_t *
datacache_list(const struct datacache *dc)
{
	const struct dblock *b;
	json_t *a = json_array();

	for (b = dc->head; b != NULL; b = b->next)
		json_array_append_new(a, json_string(b->sha));
	return a;
}
