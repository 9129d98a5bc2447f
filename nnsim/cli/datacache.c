/*
 * The client side of the data cache (docs/data-cache.md): blocks, key and
 * manifest of a prepared set, and the daemon requests that move them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agentd/client.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "cli/datacache.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "blocks hold little-endian float32: copy them with byte swaps here"
#endif

#define DATACACHE_KEY_TAG	"nnsim-data-cache-1"
#define DATACACHE_READ_CHUNK	((size_t)1 << 20)
#define DATACACHE_MAX_CELLS	((size_t)1 << 32)	/* as the loaders */
#define DATACACHE_MIB		(1024.0 * 1024.0)

/* Where one block of a set comes from. */
struct datacache_block {
	char		 name[DATACACHE_HEX];
	int		 table;		/* 0 train, 1 test */
	int		 part;
	size_t		 index;		/* in its part */
	size_t		 size;
	int		 first;		/* its name's first occurrence */
};

struct datacache_set {
	const struct nn_prepared *prep;
	char			 name[NN_DATA_NAME_MAX + 1];
	char			 key[DATACACHE_HEX];
	int			 parts[2];	/* train's, test's */
	int			 replicas;
	size_t			 block_rows;
	json_t			*manifest;
	struct datacache_block	*blocks;
	size_t			 nblocks;
	uint64_t		 bytes;		/* of distinct blocks */
};

static const char *const datacache_tables[] = { "train", "test" };

void
datacache_options_of(const struct nn_config *cfg,
    struct datacache_options *o)
{
	memset(o, 0, sizeof *o);
	o->train = &cfg->train_src;
	o->test = cfg->has_test ? &cfg->test_src : NULL;
	o->split = cfg->split;
	o->seed = cfg->train.seed;
	o->normalize = cfg->normalize;
	o->parts = cfg->train.shards > 1 && cfg->train.shards <=
	    DATACACHE_PARTS_MAX ? cfg->train.shards : 1;
}

/* The SHA-256 of a file's bytes, read in chunks, as hex into out. */
static int
datacache_file_sha(const char *path, char *out, char **cause)
{
	unsigned char md[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	ssize_t got;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatal("OpenSSL gives no SHA-256");
	buf = xmalloc(DATACACHE_READ_CHUNK);
	for (;;) {
		got = read(fd, buf, DATACACHE_READ_CHUNK);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			nn_fail(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1)
			fatal("SHA-256 update failed");
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		fatal("SHA-256 final failed");
	crypto_hex(md, mdlen, out);
	rc = 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

/* A file named in the key by its content's digest. */
static int
datacache_key_file(json_t *o, const char *field, const char *path,
    char **cause)
{
	char hex[DATACACHE_HEX];

	if (path == NULL)
		return nn_fail(cause, "no %s file", field);
	if (datacache_file_sha(path, hex, cause) != 0)
		return -1;
	json_object_set_new(o, field, json_string(hex));
	return 0;
}

/* What reads a source, files by their digests (new reference). */
static json_t *
datacache_key_source(const struct nn_source *s, char **cause)
{
	json_t *o = nn_source_layout(s);
	int rc = 0;

	switch (s->format) {
	case NN_FORMAT_FANN:
	case NN_FORMAT_CSV:
		rc = datacache_key_file(o, "sha256", s->path, cause);
		if (s->format == NN_FORMAT_CSV && s->row_lo >= 0)
			json_object_set_new(o, "rows", json_pack("[I, I]",
			    (json_int_t)s->row_lo, (json_int_t)s->row_hi));
		break;
	case NN_FORMAT_IDX:
		if ((rc = datacache_key_file(o, "images", s->images,
		    cause)) == 0)
			rc = datacache_key_file(o, "labels", s->labels, cause);
		break;
	case NN_FORMAT_GENERATE:
		json_object_set_new(o, "n", json_integer(s->gen_n));
		json_object_set_new(o, "inputs", json_integer(s->gen_inputs));
		json_object_set_new(o, "classes",
		    json_integer(s->gen_classes));
		json_object_set_new(o, "seed",
		    json_integer((json_int_t)s->gen_seed));
		json_object_set_new(o, "noise", json_real(s->gen_noise));
		break;
	case NN_FORMAT_CACHE:
		break;
	}
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
datacache_key(const struct datacache_options *o, char *key, char **cause)
{
	json_t *doc = NULL, *train, *test = NULL;
	char *text = NULL;
	int rc = -1;

	if ((train = datacache_key_source(o->train, cause)) == NULL)
		goto out;
	if (o->test != NULL && (test = datacache_key_source(o->test,
	    cause)) == NULL) {
		json_decref(train);
		goto out;
	}
	doc = json_pack("{s:s, s:o, s:o, s:s, s:i}", "version",
	    DATACACHE_KEY_TAG, "train", train, "test", test != NULL ? test :
	    json_null(), "normalize", nn_norm_name(o->normalize), "parts",
	    o->parts);
	/* The seed only matters to a split. */
	if (o->split > 0) {
		json_object_set_new(doc, "split", json_real(o->split));
		json_object_set_new(doc, "seed",
		    json_integer((json_int_t)o->seed));
	}
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		fatal("json_dumps failed");
	crypto_sha256_hex(text, strlen(text), key);
	rc = 0;
out:
	free(text);
	json_decref(doc);
	return rc;
}

void
datacache_auto_name(const char *key, char *name, size_t len)
{
	snprintf(name, len, "%s%.16s", DATACACHE_AUTO_PREFIX, key);
}

static size_t
datacache_pad(size_t n)
{
	return (n + DATACACHE_PAGE - 1) / DATACACHE_PAGE * DATACACHE_PAGE;
}

size_t
datacache_block_size(size_t rows, int in, int out)
{
	return datacache_pad(rows * (size_t)in * sizeof (float)) +
	    datacache_pad(rows * (size_t)out * sizeof (float));
}

size_t
datacache_block_rows(int in, int out)
{
	size_t k = DATACACHE_BLOCK_TARGET / ((size_t)DATACACHE_ROW_ALIGN *
	    sizeof (float) * (size_t)(in + out));

	/* 1024 rows are a whole number of pages: no padding to count. */
	return (k > 0 ? k : 1) * DATACACHE_ROW_ALIGN;
}

size_t
datacache_part_rows(size_t n, int part, int parts)
{
	if ((size_t)part >= n)
		return 0;
	return (n - (size_t)part + (size_t)parts - 1) / (size_t)parts;
}

/* Blocks of a part of rows rows. */
static size_t
datacache_part_blocks(size_t rows, size_t block_rows)
{
	return (rows + block_rows - 1) / block_rows;
}

/* Rows of block b of a part of rows rows. */
static size_t
datacache_rows_of(size_t rows, size_t block_rows, size_t b)
{
	size_t first = b * block_rows;

	return rows - first < block_rows ? rows - first : block_rows;
}

size_t
datacache_block_fill(const struct nn_data *d, int part, int parts,
    size_t block_rows, size_t b, unsigned char *buf)
{
	size_t prows = datacache_part_rows(d->n, part, parts);
	size_t rows = datacache_rows_of(prows, block_rows, b), i, r;
	size_t xrow = (size_t)d->in * sizeof (float);
	size_t yrow = (size_t)d->out * sizeof (float);
	size_t yoff = datacache_pad(rows * xrow);

	memset(buf, 0, datacache_block_size(rows, d->in, d->out));
	for (i = 0; i < rows; i++) {
		r = (size_t)part + (b * block_rows + i) * (size_t)parts;
		memcpy(buf + i * xrow, d->x + r * (size_t)d->in, xrow);
		memcpy(buf + yoff + i * yrow, d->y + r * (size_t)d->out, yrow);
	}
	return rows;
}

/* A float array as JSON (new reference). */
static json_t *
datacache_floats(const float *v, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; v != NULL && i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

/* The manifest's fields other than the tables (new reference). */
static json_t *
datacache_manifest_head(const struct datacache_set *s,
    const struct datacache_set_spec *spec)
{
	const struct nn_data *d = s->prep->train;
	const struct nn_norm *norm = &s->prep->norm;
	json_t *m, *classes;
	int i;

	m = json_pack("{s:s, s:s, s:i, s:i, s:I, s:i, s:i, s:s, s:f, s:f, "
	    "s:i}", "name", s->name, "key", s->key, "version",
	    DATACACHE_VERSION, "replicas", s->replicas, "created",
	    (json_int_t)time(NULL), "in", d->in, "out", d->out, "task",
	    d->task == NN_TASK_CLASSIFICATION ? "classification" :
	    "regression", "lo", (double)d->lo, "hi", (double)d->hi,
	    "nclasses", d->nclasses);
	if (d->classes != NULL) {
		classes = json_array();
		for (i = 0; i < d->nclasses; i++)
			json_array_append_new(classes,
			    json_string(d->classes[i]));
		json_object_set_new(m, "classes", classes);
	}
	json_object_set_new(m, "norm", json_pack("{s:s, s:o, s:o}", "kind",
	    nn_norm_name(norm->kind), "shift", datacache_floats(norm->shift,
	    norm->in), "scale", datacache_floats(norm->scale, norm->in)));
	if (spec->source != NULL)
		json_object_set(m, "source", spec->source);
	return m;
}

/* Names the blocks of one part and lists them in the manifest. */
static void
datacache_name_part(struct datacache_set *s, int t, int p, json_t *names,
    unsigned char *buf, json_t *seen)
{
	const struct nn_data *d = t == 0 ? s->prep->train : s->prep->test;
	struct datacache_block *k;
	size_t prows = datacache_part_rows(d->n, p, s->parts[t]), b, rows;

	for (b = 0; b < datacache_part_blocks(prows, s->block_rows); b++) {
		k = &s->blocks[s->nblocks++];
		rows = datacache_block_fill(d, p, s->parts[t], s->block_rows, b,
		    buf);
		k->table = t;
		k->part = p;
		k->index = b;
		k->size = datacache_block_size(rows, d->in, d->out);
		crypto_sha256_hex(buf, k->size, k->name);
		json_array_append_new(names, json_string(k->name));
		/* Two parts with the same rows share a block. */
		k->first = json_object_get(seen, k->name) == NULL;
		if (k->first) {
			json_object_set_new(seen, k->name, json_true());
			s->bytes += k->size;
		}
	}
}

struct datacache_set *
datacache_set_new(const struct datacache_set_spec *spec, char **cause)
{
	const struct nn_data *d = spec->prep->train, *td;
	struct datacache_set *s;
	unsigned char *buf = NULL;
	json_t *tables, *parts, *names, *seen = json_object();
	size_t total = 0, prows;
	int t, p, ntables = spec->prep->test != NULL ? 2 : 1;

	if (spec->parts < 1 || spec->parts > DATACACHE_PARTS_MAX) {
		nn_fail(cause, "%d parts (expected 1 to %d)", spec->parts,
		    DATACACHE_PARTS_MAX);
		return NULL;
	}
	/* agentd takes no empty part. */
	if ((size_t)spec->parts > d->n) {
		nn_fail(cause, "%zu rows cannot make %d parts of at least one "
		    "row", d->n, spec->parts);
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->prep = spec->prep;
	snprintf(s->name, sizeof s->name, "%s", spec->name);
	snprintf(s->key, sizeof s->key, "%s", spec->key);
	s->parts[0] = spec->parts;
	s->parts[1] = 1;	/* only partition 0 evaluates: one part */
	s->replicas = spec->replicas;
	s->block_rows = datacache_block_rows(d->in, d->out);
	for (t = 0; t < ntables; t++) {
		td = t == 0 ? d : spec->prep->test;
		for (p = 0; p < s->parts[t]; p++)
			total += datacache_part_blocks(datacache_part_rows(
			    td->n, p, s->parts[t]), s->block_rows);
	}
	s->blocks = xcalloc(total > 0 ? total : 1, sizeof *s->blocks);
	buf = xmalloc(datacache_block_size(s->block_rows, d->in, d->out));
	s->manifest = datacache_manifest_head(s, spec);
	tables = json_object();
	for (t = 0; t < ntables; t++) {
		td = t == 0 ? d : spec->prep->test;
		parts = json_array();
		for (p = 0; p < s->parts[t]; p++) {
			names = json_array();
			datacache_name_part(s, t, p, names, buf, seen);
			prows = datacache_part_rows(td->n, p, s->parts[t]);
			json_array_append_new(parts, json_pack("{s:I, s:I, "
			    "s:o}", "rows", (json_int_t)prows, "block_rows",
			    (json_int_t)s->block_rows, "blocks", names));
		}
		json_object_set_new(tables, datacache_tables[t], json_pack(
		    "{s:I, s:o}", "rows", (json_int_t)td->n, "parts", parts));
	}
	json_object_set_new(s->manifest, "tables", tables);
	json_object_set_new(s->manifest, "bytes", json_integer(
	    (json_int_t)s->bytes));
	free(buf);
	json_decref(seen);
	return s;
}

void
datacache_set_free(struct datacache_set *s)
{
	if (s == NULL)
		return;
	json_decref(s->manifest);
	free(s->blocks);
	free(s);
}

json_t *
datacache_set_manifest(const struct datacache_set *s)
{
	return s->manifest;
}

uint64_t
datacache_set_bytes(const struct datacache_set *s)
{
	return s->bytes;
}

size_t
datacache_set_blocks(const struct datacache_set *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nblocks; i++)
		n += s->blocks[i].first;
	return n;
}

/* A request whose "ok": false is a failure; the reply (new) or NULL. */
static json_t *
datacache_ask(struct client *cl, json_t *req, const void *payload,
    uint64_t len, unsigned char **out, uint64_t *out_len, char **cause)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	char what[32];
	json_t *rep;

	snprintf(what, sizeof what, "%s", op != NULL ? op : "request");
	rep = client_request_reply(cl, req, payload, len, out, out_len,
	    cause);
	json_decref(req);
	if (rep != NULL && client_reply_ok(rep, what, cause) != 0) {
		json_decref(rep);
		if (out != NULL) {
			free(*out);
			*out = NULL;
		}
		return NULL;
	}
	return rep;
}

/* Adds the distinct names of the set that no up host holds to missing. */
static int
datacache_missing(struct client *cl, struct datacache_set *s,
    json_t *missing, char **cause)
{
	json_t *batch = json_array(), *rep, *v;
	size_t i, k;

	for (i = 0; i <= s->nblocks; i++) {
		if (i < s->nblocks && s->blocks[i].first)
			json_array_append_new(batch,
			    json_string(s->blocks[i].name));
		if (json_array_size(batch) == 0 || (i < s->nblocks &&
		    json_array_size(batch) < DATACACHE_HAS_MAX))
			continue;
		rep = datacache_ask(cl, json_pack("{s:s, s:O}", "op",
		    "data-has", "blocks", batch), NULL, 0, NULL, NULL, cause);
		if (rep == NULL) {
			json_decref(batch);
			return -1;
		}
		json_array_foreach(json_object_get(rep, "missing"), k, v)
			if (json_is_string(v))
				json_object_set_new(missing,
				    json_string_value(v), json_true());
		json_decref(rep);
		json_array_clear(batch);
	}
	json_decref(batch);
	return 0;
}

/*
 * Checks that need bytes, R copies each, fit in the free room of the up
 * hosts' caches; the cause says the sizes.
 */
static int
datacache_room(struct client *cl, const struct datacache_set *s,
    uint64_t need, char **cause)
{
	json_t *rep, *h, *c;
	const char *st;
	uint64_t free_bytes = 0, limit, used;
	size_t i;
	int up = 0, copies, rc = -1;

	if ((rep = datacache_ask(cl, json_pack("{s:s}", "op", "hosts"), NULL,
	    0, NULL, NULL, cause)) == NULL)
		return -1;
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		st = json_string_value(json_object_get(h, "state"));
		if (st == NULL || (strcmp(st, "up") != 0 &&
		    strcmp(st, "self") != 0))
			continue;
		up++;
		c = json_object_get(h, "cache");
		limit = (uint64_t)json_integer_value(json_object_get(c,
		    "limit"));
		used = (uint64_t)json_integer_value(json_object_get(c,
		    "bytes"));
		if (limit > used)
			free_bytes += limit - used;
	}
	if (up == 0) {
		nn_fail(cause, "the cluster has no host up");
		goto out;
	}
	copies = s->replicas < up ? s->replicas : up;
	if (need * (uint64_t)copies > free_bytes) {
		nn_fail(cause, "data set %s does not fit in the cluster's "
		    "data caches: %.1f MiB of blocks to store, %d copies each "
		    "(%.1f MiB), but the %d up host%s have %.1f MiB free",
		    s->name, (double)need / DATACACHE_MIB, copies,
		    (double)need * copies / DATACACHE_MIB, up, up > 1 ? "s" :
		    "", (double)free_bytes / DATACACHE_MIB);
		goto out;
	}
	rc = 0;
out:
	json_decref(rep);
	return rc;
}

/* The names of the up hosts, sorted (new reference), or NULL. */
static json_t *
datacache_up_names(struct client *cl)
{
	json_t *rep, *h, *names = json_array();
	const char *st, *name;
	char *why = NULL;
	size_t i, j;

	if ((rep = datacache_ask(cl, json_pack("{s:s}", "op", "hosts"), NULL,
	    0, NULL, NULL, &why)) == NULL) {
		free(why);
		return names;
	}
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		st = json_string_value(json_object_get(h, "state"));
		name = json_string_value(json_object_get(h, "name"));
		if (st == NULL || name == NULL || (strcmp(st, "up") != 0 &&
		    strcmp(st, "self") != 0))
			continue;
		for (j = 0; j < json_array_size(names) && strcmp(
		    json_string_value(json_array_get(names, j)), name) < 0; j++)
			;
		json_array_insert_new(names, j, json_string(name));
	}
	json_decref(rep);
	return names;
}

/* The host that agentd's rendezvous hashing ranks first for group. */
static const char *
datacache_first(const char *group, json_t *names)
{
	char hex[DATACACHE_HEX], best[DATACACHE_HEX] = "", *text;
	const char *first = NULL;
	size_t i;

	for (i = 0; i < json_array_size(names); i++) {
		text = xasprintf("%s\n%s", group, json_string_value(
		    json_array_get(names, i)));
		crypto_sha256_hex(text, strlen(text), hex);
		free(text);
		if (first == NULL || strcmp(hex, best) < 0) {
			memcpy(best, hex, sizeof best);
			first = json_string_value(json_array_get(names, i));
		}
	}
	return first;
}

/*
 * The group of part p of a table in parts: one that agentd ranks the
 * (p mod H)th up host first for, so that a job's partitions, one a host,
 * each find its own part where it runs (docs/data-cache.md, "Where
 * blocks go"). A salt is searched for; without hosts, the plain one.
 */
static void
datacache_part_group(const struct datacache_set *s, int p, json_t *names,
    char *group)
{
	const char *want = json_string_value(json_array_get(names,
	    (size_t)p % (json_array_size(names) > 0 ?
	    json_array_size(names) : 1)));
	char *text;
	int salt;

	for (salt = 0; salt < 1024; salt++) {
		text = salt == 0 ? xasprintf("%s:%d", s->key, p) :
		    xasprintf("%s:%d:%d", s->key, p, salt);
		crypto_sha256_hex(text, strlen(text), group);
		free(text);
		if (want == NULL || strcmp(datacache_first(group, names),
		    want) == 0)
			return;
	}
}

/* The group a block is placed by: its part's, or its own. */
static void
datacache_group(const struct datacache_set *s,
    const struct datacache_block *k, json_t *names, char *group)
{
	if (s->parts[k->table] <= 1) {
		snprintf(group, DATACACHE_HEX, "%s", k->name);
		return;
	}
	datacache_part_group(s, k->part, names, group);
}

/* Asks the daemons to drop blocks this put sent; errors are left. */
static void
datacache_drop(struct client *cl, json_t *sent)
{
	json_t *batch = json_array(), *rep;
	size_t i;
	char *why = NULL;

	for (i = 0; i < json_array_size(sent); i++) {
		json_array_append(batch, json_array_get(sent, i));
		if (json_array_size(batch) < DATACACHE_HAS_MAX &&
		    i + 1 < json_array_size(sent))
			continue;
		rep = datacache_ask(cl, json_pack("{s:s, s:O}", "op",
		    "data-drop", "blocks", batch), NULL, 0, NULL, NULL, &why);
		json_decref(rep);
		free(why);
		why = NULL;
		json_array_clear(batch);
	}
	json_decref(batch);
}

int
datacache_put(struct client *cl, struct datacache_set *s, int replace,
    uint64_t *sent, char **cause)
{
	const struct datacache_block *k;
	const struct nn_data *d;
	unsigned char *buf = NULL;
	json_t *missing = json_object(), *shipped = json_array(), *rep;
	json_t *names = NULL;
	char group[DATACACHE_HEX];
	uint64_t need = 0;
	size_t i;
	int rc = -1;

	*sent = 0;
	if (datacache_missing(cl, s, missing, cause) != 0)
		goto out;
	for (i = 0; i < s->nblocks; i++)
		if (s->blocks[i].first && json_object_get(missing,
		    s->blocks[i].name) != NULL)
			need += s->blocks[i].size;
	if (need > 0 && datacache_room(cl, s, need, cause) != 0)
		goto out;
	buf = xmalloc(datacache_block_size(s->block_rows, s->prep->train->in,
	    s->prep->train->out));
	if (s->parts[0] > 1)
		names = datacache_up_names(cl);
	for (i = 0; i < s->nblocks; i++) {
		k = &s->blocks[i];
		if (!k->first || json_object_get(missing, k->name) == NULL)
			continue;
		d = k->table == 0 ? s->prep->train : s->prep->test;
		datacache_block_fill(d, k->part, s->parts[k->table],
		    s->block_rows, k->index, buf);
		datacache_group(s, k, names, group);
		rep = datacache_ask(cl, json_pack("{s:s, s:s, s:s, s:i}", "op",
		    "data-block-put", "sha256", k->name, "group", group,
		    "replicas", s->replicas), buf, k->size, NULL, NULL, cause);
		if (rep == NULL)
			goto out;
		json_decref(rep);
		json_array_append_new(shipped, json_string(k->name));
		*sent += k->size;
	}
	rep = datacache_ask(cl, json_pack("{s:s, s:O, s:b}", "op",
	    "data-set-put", "manifest", s->manifest, "replace", replace), NULL,
	    0, NULL, NULL, cause);
	if (rep == NULL)
		goto out;
	json_decref(rep);
	rc = 0;
out:
	/* Nothing half-stored stays behind. */
	if (rc != 0 && json_array_size(shipped) > 0)
		datacache_drop(cl, shipped);
	free(buf);
	json_decref(names);
	json_decref(missing);
	json_decref(shipped);
	return rc;
}

/* 1 when a refused data-set's error says that there is no such set
 * (agentd marks it "missing" too). */
static int
datacache_no_such_set(json_t *rep)
{
	const char *e = json_string_value(json_object_get(rep, "error"));

	return e != NULL && strncmp(e, "no data set ", 12) == 0;
}

int
datacache_lookup(struct client *cl, const char *name, json_t **manifest,
    json_t **holders, char **cause)
{
	json_t *req, *rep, *m;
	char *why = NULL;
	int rc = -1;

	if (manifest != NULL)
		*manifest = NULL;
	if (holders != NULL)
		*holders = NULL;
	req = json_pack("{s:s, s:s}", "op", "data-set", "name", name);
	rep = client_request(cl, req, cause);
	json_decref(req);
	if (rep == NULL)
		return -1;
	if (client_reply_ok(rep, "data-set", &why) != 0) {
		if (json_is_true(json_object_get(rep, "missing")) ||
		    datacache_no_such_set(rep))
			rc = 0;
		else
			nn_fail(cause, "%s", why);
		goto out;
	}
	m = json_object_get(rep, "manifest");
	if (datacache_manifest_check(m, &why) != 0) {
		nn_fail(cause, "data set %s: %s", name, why);
		goto out;
	}
	if (manifest != NULL)
		*manifest = json_incref(m);
	if (holders != NULL)
		*holders = json_is_object(json_object_get(rep, "holders")) ?
		    json_incref(json_object_get(rep, "holders")) :
		    json_object();
	rc = 1;
out:
	free(why);
	json_decref(rep);
	return rc;
}

/* 1 when s is 64 lowercase hex digits. */
static int
datacache_hex_ok(const char *s)
{
	return s != NULL && strlen(s) == 64 &&
	    strspn(s, "0123456789abcdef") == 64;
}

/* An integer field in [lo, hi]; -1 with a cause naming it. */
static int
datacache_int(json_t *o, const char *jp, const char *key, long long lo,
    long long hi, long long *out, char **cause)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return nn_fail(cause, "manifest: %s%s: expected an integer from "
		    "%lld to %lld", jp, key, lo, hi);
	*out = json_integer_value(v);
	return 0;
}

/* A float array of n numbers; -1 with cause. */
static int
datacache_float_array(json_t *a, const char *jp, long long n, char **cause)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || (long long)json_array_size(a) != n)
		return nn_fail(cause, "manifest: %s: expected an array of %lld "
		    "numbers", jp, n);
	json_array_foreach(a, i, v)
		if (!json_is_number(v))
			return nn_fail(cause, "manifest: %s[%zu]: expected a "
			    "number", jp, i);
	return 0;
}

/* One table: its rows, parts and their blocks agree. */
static int
datacache_table_check(json_t *t, const char *name, long long in,
    long long out, char **cause)
{
	char jp[96];
	json_t *parts, *p, *blocks, *b;
	long long rows, prows, brows;
	size_t i, j, nparts;

	snprintf(jp, sizeof jp, "tables.%s.", name);
	if (!json_is_object(t))
		return nn_fail(cause, "manifest: tables.%s: expected an object",
		    name);
	if (datacache_int(t, jp, "rows", 1, (long long)NN_MAX_ROWS, &rows,
	    cause) != 0)
		return -1;
	if ((size_t)rows * (size_t)(in > out ? in : out) > DATACACHE_MAX_CELLS)
		return nn_fail(cause, "manifest: tables.%s: %lld rows of %lld "
		    "values is too much data (limit %zu values)", name, rows,
		    in > out ? in : out, DATACACHE_MAX_CELLS);
	parts = json_object_get(t, "parts");
	nparts = json_array_size(parts);
	if (!json_is_array(parts) || nparts < 1 ||
	    nparts > DATACACHE_PARTS_MAX)
		return nn_fail(cause, "manifest: tables.%s.parts: expected an "
		    "array of 1 to %d parts", name, DATACACHE_PARTS_MAX);
	json_array_foreach(parts, i, p) {
		snprintf(jp, sizeof jp, "tables.%s.parts[%zu].", name, i);
		if (!json_is_object(p))
			return nn_fail(cause, "manifest: %s: expected an "
			    "object", jp);
		if (datacache_int(p, jp, "rows", 0, rows, &prows, cause) != 0 ||
		    datacache_int(p, jp, "block_rows", DATACACHE_ROW_ALIGN,
		    (long long)NN_MAX_ROWS, &brows, cause) != 0)
			return -1;
		if ((size_t)prows != datacache_part_rows((size_t)rows, (int)i,
		    (int)nparts))
			return nn_fail(cause, "manifest: %srows: %lld, but part "
			    "%zu of %zu of %lld rows has %zu", jp, prows, i,
			    nparts, rows, datacache_part_rows((size_t)rows,
			    (int)i, (int)nparts));
		if (brows % DATACACHE_ROW_ALIGN != 0 ||
		    datacache_block_size((size_t)brows, (int)in, (int)out) >
		    DATACACHE_BLOCK_MAX)
			return nn_fail(cause, "manifest: %sblock_rows: %lld is "
			    "not a multiple of %d rows within %zu MiB", jp,
			    brows, DATACACHE_ROW_ALIGN,
			    DATACACHE_BLOCK_MAX >> 20);
		blocks = json_object_get(p, "blocks");
		if (!json_is_array(blocks) || json_array_size(blocks) !=
		    datacache_part_blocks((size_t)prows, (size_t)brows))
			return nn_fail(cause, "manifest: %sblocks: expected "
			    "%zu block names", jp, datacache_part_blocks(
			    (size_t)prows, (size_t)brows));
		json_array_foreach(blocks, j, b)
			if (!datacache_hex_ok(json_string_value(b)))
				return nn_fail(cause, "manifest: %sblocks[%zu]: "
				    "expected 64 lowercase hex digits", jp, j);
	}
	return 0;
}

int
datacache_manifest_check(json_t *m, char **cause)
{
	enum nn_norm_kind kind;
	const char *s;
	json_t *v, *norm, *tables;
	long long in, out, n;
	size_t i;

	if (!json_is_object(m))
		return nn_fail(cause, "manifest: expected an object");
	s = json_string_value(json_object_get(m, "name"));
	if (s == NULL || !nn_data_name_ok(s))
		return nn_fail(cause, "manifest: name: expected a set name");
	if (!datacache_hex_ok(json_string_value(json_object_get(m, "key"))))
		return nn_fail(cause, "manifest: key: expected 64 lowercase "
		    "hex digits");
	if (datacache_int(m, "", "in", 1, NN_MAX_COLUMNS, &in, cause) != 0 ||
	    datacache_int(m, "", "out", 1, NN_MAX_COLUMNS, &out, cause) != 0 ||
	    datacache_int(m, "", "replicas", 1, 1 << 16, &n, cause) != 0)
		return -1;
	s = json_string_value(json_object_get(m, "task"));
	if (s == NULL || (strcmp(s, "classification") != 0 &&
	    strcmp(s, "regression") != 0))
		return nn_fail(cause, "manifest: task: expected "
		    "\"classification\" or \"regression\"");
	if (!json_is_number(json_object_get(m, "lo")) ||
	    !json_is_number(json_object_get(m, "hi")))
		return nn_fail(cause, "manifest: lo, hi: expected numbers");
	if ((v = json_object_get(m, "classes")) != NULL) {
		if (!json_is_array(v) || json_array_size(v) >
		    NN_MAX_CLASSES)
			return nn_fail(cause, "manifest: classes: expected an "
			    "array of at most %d names", NN_MAX_CLASSES);
		json_array_foreach(v, i, norm)
			if (!json_is_string(norm))
				return nn_fail(cause, "manifest: classes[%zu]: "
				    "expected a string", i);
	}
	if (json_object_get(m, "nclasses") != NULL && datacache_int(m, "",
	    "nclasses", 0, NN_MAX_CLASSES, &n, cause) != 0)
		return -1;
	norm = json_object_get(m, "norm");
	s = json_string_value(json_object_get(norm, "kind"));
	if (s == NULL || nn_norm_parse(s, &kind) != 0)
		return nn_fail(cause, "manifest: norm.kind: expected one of %s",
		    nn_norm_names);
	if (datacache_float_array(json_object_get(norm, "shift"),
	    "norm.shift", in, cause) != 0 ||
	    datacache_float_array(json_object_get(norm, "scale"),
	    "norm.scale", in, cause) != 0)
		return -1;
	tables = json_object_get(m, "tables");
	if (!json_is_object(tables) || json_object_get(tables, "train") ==
	    NULL)
		return nn_fail(cause, "manifest: tables: expected an object "
		    "with train");
	for (i = 0; i < 2; i++) {
		v = json_object_get(tables, datacache_tables[i]);
		if (v != NULL && datacache_table_check(v, datacache_tables[i],
		    in, out, cause) != 0)
			return -1;
	}
	return 0;
}

/* A manifest's table as a reference without rows, with its task. */
static struct nn_data *
datacache_reference(json_t *m, const char *table)
{
	json_t *t = json_object_get(json_object_get(m, "tables"), table), *c;
	struct nn_data *d;
	size_t i;

	if (t == NULL)
		return NULL;
	d = nn_data_cached(json_string_value(json_object_get(m, "name")),
	    table, (size_t)json_integer_value(json_object_get(t, "rows")),
	    (int)json_integer_value(json_object_get(m, "in")),
	    (int)json_integer_value(json_object_get(m, "out")));
	d->task = strcmp(json_string_value(json_object_get(m, "task")),
	    "classification") == 0 ? NN_TASK_CLASSIFICATION :
	    NN_TASK_REGRESSION;
	d->lo = (float)json_number_value(json_object_get(m, "lo"));
	d->hi = (float)json_number_value(json_object_get(m, "hi"));
	d->nclasses = (int)json_integer_value(json_object_get(m, "nclasses"));
	if ((c = json_object_get(m, "classes")) != NULL) {
		d->nclasses = (int)json_array_size(c);
		d->classes = xcalloc(json_array_size(c) > 0 ?
		    json_array_size(c) : 1, sizeof *d->classes);
		for (i = 0; i < json_array_size(c); i++)
			d->classes[i] = xstrdup(json_string_value(
			    json_array_get(c, i)));
	}
	return d;
}

int
datacache_prepared(json_t *m, struct nn_prepared *out, char **cause)
{
	json_t *norm = json_object_get(m, "norm");
	int i, in;

	memset(out, 0, sizeof *out);
	if (datacache_manifest_check(m, cause) != 0)
		return -1;
	in = (int)json_integer_value(json_object_get(m, "in"));
	out->train = datacache_reference(m, "train");
	out->test = datacache_reference(m, "test");
	nn_norm_parse(json_string_value(json_object_get(norm, "kind")),
	    &out->norm.kind);
	out->norm.in = in;
	out->norm.shift = xreallocarray(NULL, (size_t)in, sizeof (float));
	out->norm.scale = xreallocarray(NULL, (size_t)in, sizeof (float));
	for (i = 0; i < in; i++) {
		out->norm.shift[i] = (float)json_number_value(json_array_get(
		    json_object_get(norm, "shift"), (size_t)i));
		out->norm.scale[i] = (float)json_number_value(json_array_get(
		    json_object_get(norm, "scale"), (size_t)i));
	}
	return 0;
}

/* Fetches one block and checks it against its name and size. */
static int
datacache_fetch(struct client *cl, const char *name, size_t size,
    unsigned char **buf, char **cause)
{
	char hex[DATACACHE_HEX];
	uint64_t len = 0;
	json_t *rep;

	*buf = NULL;
	rep = datacache_ask(cl, json_pack("{s:s, s:s}", "op",
	    "data-block-get", "sha256", name), NULL, 0, buf, &len, cause);
	if (rep == NULL)
		return -1;
	json_decref(rep);
	if (len != size) {
		free(*buf);
		*buf = NULL;
		return nn_fail(cause, "block %.12s...: %llu bytes, expected "
		    "%zu", name, (unsigned long long)len, size);
	}
	crypto_sha256_hex(*buf, size, hex);
	if (strcmp(hex, name) != 0) {
		free(*buf);
		*buf = NULL;
		return nn_fail(cause, "block %.12s...: its bytes hash to "
		    "%.12s..., not to its name", name, hex);
	}
	return 0;
}

int
datacache_get(struct client *cl, json_t *m, const char *table,
    struct nn_data **out, char **cause)
{
	json_t *t, *parts, *p, *blocks;
	struct nn_data *d = NULL, *ref = NULL;
	unsigned char *buf = NULL;
	size_t i, b, r, rows, brows, nparts, first, k, yoff, size;
	int in, outs, rc = -1;

	*out = NULL;
	if (datacache_manifest_check(m, cause) != 0)
		return -1;
	if ((t = json_object_get(json_object_get(m, "tables"), table)) ==
	    NULL)
		return nn_fail(cause, "data set %s has no %s table",
		    json_string_value(json_object_get(m, "name")), table);
	in = (int)json_integer_value(json_object_get(m, "in"));
	outs = (int)json_integer_value(json_object_get(m, "out"));
	ref = datacache_reference(m, table);
	d = nn_data_new(ref->n, in, outs);
	d->task = ref->task;
	d->lo = ref->lo;
	d->hi = ref->hi;
	parts = json_object_get(t, "parts");
	nparts = json_array_size(parts);
	json_array_foreach(parts, i, p) {
		rows = (size_t)json_integer_value(json_object_get(p, "rows"));
		brows = (size_t)json_integer_value(json_object_get(p,
		    "block_rows"));
		blocks = json_object_get(p, "blocks");
		for (b = 0; b < json_array_size(blocks); b++) {
			k = datacache_rows_of(rows, brows, b);
			size = datacache_block_size(k, in, outs);
			if (datacache_fetch(cl, json_string_value(
			    json_array_get(blocks, b)), size, &buf,
			    cause) != 0)
				goto out;
			yoff = datacache_pad(k * (size_t)in * sizeof (float));
			/* Part i's row j is the table's row i + j * P. */
			for (r = 0; r < k; r++) {
				first = i + (b * brows + r) * nparts;
				memcpy(d->x + first * (size_t)in, buf + r *
				    (size_t)in * sizeof (float), (size_t)in *
				    sizeof (float));
				memcpy(d->y + first * (size_t)outs, buf + yoff +
				    r * (size_t)outs * sizeof (float),
				    (size_t)outs * sizeof (float));
			}
			free(buf);
			buf = NULL;
		}
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	free(buf);
	nn_data_free(d);
	nn_data_free(ref);
	return rc;
}

json_t *
datacache_held(json_t *m, json_t *holders, int part)
{
	json_t *held = json_object(), *parts, *p, *blocks, *hosts, *h;
	const char *host;
	size_t i, b, rows, brows, size, k;
	int in, out;

	in = (int)json_integer_value(json_object_get(m, "in"));
	out = (int)json_integer_value(json_object_get(m, "out"));
	parts = json_object_get(json_object_get(json_object_get(m, "tables"),
	    "train"), "parts");
	json_array_foreach(parts, i, p) {
		if (part >= 0 && (size_t)part != i)
			continue;
		rows = (size_t)json_integer_value(json_object_get(p, "rows"));
		brows = (size_t)json_integer_value(json_object_get(p,
		    "block_rows"));
		blocks = json_object_get(p, "blocks");
		for (b = 0; brows > 0 && b < json_array_size(blocks); b++) {
			size = datacache_block_size(datacache_rows_of(rows,
			    brows, b), in, out);
			hosts = json_object_get(holders, json_string_value(
			    json_array_get(blocks, b)));
			json_array_foreach(hosts, k, h) {
				if ((host = json_string_value(h)) == NULL)
					continue;
				json_object_set_new(held, host, json_integer(
				    json_integer_value(json_object_get(held,
				    host)) + (json_int_t)size));
			}
		}
	}
	return held;
}

void
datacache_in_use_text(json_t *v, char *buf, size_t len)
{
	if (json_is_array(v))
		snprintf(buf, len, "%zu", json_array_size(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", json_integer_value(v));
	else
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
}

void
datacache_host_text(json_t *cache, char *buf, size_t len)
{
	if (!json_is_object(cache)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%.0f/%.0fM", (double)json_integer_value(
	    json_object_get(cache, "bytes")) / DATACACHE_MIB,
	    (double)json_integer_value(json_object_get(cache, "limit")) /
	    DATACACHE_MIB);
}
