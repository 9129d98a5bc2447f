/*
 * The client side of the cluster's data cache (docs/data-cache.md): a
 * prepared set cut into content-addressed blocks, its key and manifest,
 * and the requests that put, look up, fetch and remove sets. nnsim data
 * and nnsim submit share it.
 */
#ifndef NN_DATACACHE_H
#define NN_DATACACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "nn/config.h"
#include "nn/prepare.h"

#define DATACACHE_VERSION	1
#define DATACACHE_HEX		65		/* 64 hex digits and a NUL */
#define DATACACHE_ROW_ALIGN	1024		/* block_rows is a multiple */
#define DATACACHE_BLOCK_TARGET	((size_t)4 << 20)
#define DATACACHE_BLOCK_MAX	((size_t)64 << 20)
#define DATACACHE_PAGE		4096
#define DATACACHE_HAS_MAX	65536		/* names per data-has */
#define DATACACHE_PARTS_MAX	64		/* as agentd takes */
#define DATACACHE_MANIFEST_MAX	((size_t)4 << 20)
#define DATACACHE_REPLICAS	2		/* default copies of a block */
#define DATACACHE_REPLICAS_MAX	8
#define DATACACHE_AUTO_PREFIX	"auto-"

struct client;

/* How a set is made: what its key hashes (docs/data-cache.md, "key"). */
struct datacache_options {
	const struct nn_source	*train;
	const struct nn_source	*test;		/* NULL: none */
	double			 split;		/* 0: none */
	uint64_t		 seed;		/* the split's */
	enum nn_norm_kind	 normalize;
	int			 parts;		/* of the train table */
};

/*
 * The options of cfg's data as nn_prepare loads them, cut in a part per
 * partition (one part beyond DATACACHE_PARTS_MAX: agents gather their
 * rows then).
 */
void	 datacache_options_of(const struct nn_config *,
	     struct datacache_options *);
/*
 * The set's key (64 hex digits into key): SHA-256 of a version tag and the
 * canonical JSON of the options, each file named by the SHA-256 of its
 * contents (read in chunks, never parsed). -1 with a cause naming a file
 * that cannot be read.
 */
int	 datacache_key(const struct datacache_options *, char *key,
	     char **cause);
/* The name nnsim submit gives a set: "auto-" and 16 hex digits of key. */
void	 datacache_auto_name(const char *key, char *name, size_t len);

/* Rows per block for in inputs and out targets: a multiple of 1024, the
 * most that keeps a block within 4 MiB, at least 1024. */
size_t	 datacache_block_rows(int in, int out);
/* The bytes of a block of rows: inputs and targets, each padded to 4096. */
size_t	 datacache_block_size(size_t rows, int in, int out);
/* Rows of part p of P of an n-row table: rows p, p + P, ... */
size_t	 datacache_part_rows(size_t n, int part, int parts);
/*
 * Writes block b of part p of P of d into buf (datacache_block_size of its
 * rows; zeroed padding) and returns its rows.
 */
size_t	 datacache_block_fill(const struct nn_data *d, int part, int parts,
	     size_t block_rows, size_t b, unsigned char *buf);

/*
 * A set ready to put: prep's tables cut into blocks, their names and the
 * manifest. prep stays the caller's and must outlive the set.
 */
struct datacache_set;

struct datacache_set_spec {
	const struct nn_prepared *prep;
	const char		*name;
	const char		*key;
	int			 parts;		/* of the train table */
	int			 replicas;
	json_t			*source;	/* borrowed; NULL: none */
};

/* Builds the set (hashing every block); NULL with cause. */
struct datacache_set *datacache_set_new(const struct datacache_set_spec *,
	     char **cause);
void	 datacache_set_free(struct datacache_set *);
/* Its manifest (borrowed) and the bytes of its blocks. */
json_t	*datacache_set_manifest(const struct datacache_set *);
uint64_t datacache_set_bytes(const struct datacache_set *);
/* Its distinct blocks. */
size_t	 datacache_set_blocks(const struct datacache_set *);

/*
 * Puts the set: asks which blocks the cluster lacks, checks that they fit
 * in the caches of the up hosts (R copies), sends them, then the manifest
 * (replace: over a set of that name). *sent: the block bytes sent. On a
 * failure after sending, the blocks it sent are dropped. -1 with cause.
 */
int	 datacache_put(struct client *, struct datacache_set *, int replace,
	     uint64_t *sent, char **cause);

/*
 * Looks up a set: 1 with its manifest and holders ({hex: [host]}; new
 * references, either pointer may be NULL), 0 when the cluster has no set
 * of that name, -1 with cause.
 */
int	 datacache_lookup(struct client *, const char *name,
	     json_t **manifest, json_t **holders, char **cause);
/*
 * Checks a manifest against the format (names, counts, sizes, blocks)
 * before anything is sized from it; -1 with a cause naming the field.
 */
int	 datacache_manifest_check(json_t *manifest, char **cause);
/*
 * The prepared set a manifest describes: train and test as row-less
 * references (nn_data_cached), with its task, classes and normalisation.
 * -1 with cause.
 */
int	 datacache_prepared(json_t *manifest, struct nn_prepared *out,
	     char **cause);
/*
 * Fetches table ("train" or "test") of a set, checking each block against
 * its name, and puts its rows back in their original order (new; caller
 * frees). -1 with cause.
 */
int	 datacache_get(struct client *, json_t *manifest, const char *table,
	     struct nn_data **out, char **cause);
/*
 * Bytes of a set's blocks that each host holds: for the train table's part
 * (all parts when part < 0). An object host -> bytes (new reference).
 */
json_t	*datacache_held(json_t *manifest, json_t *holders, int part);
/* A data-sets row's in_use as text: "yes", "no", or how many use it. */
void	 datacache_in_use_text(json_t *in_use, char *buf, size_t len);
/* A host's cache (its info's "cache") as "USED/LIMIT" MiB, or "-". */
void	 datacache_host_text(json_t *cache, char *buf, size_t len);

#endif
