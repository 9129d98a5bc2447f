/*
 * The data cache's client side without daemons (docs/data-cache.md): block
 * sizes and layout, the part interleave, names, the key, the manifest and
 * its checks, the prepared set it gives, and {"cache": NAME} in net.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "cli/datacache.h"
#include "nn/config.h"
#include "unit.h"

/* Writes text to a scratch file; its path (caller frees). */
static char *
put(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", unit_tmpdir(), name);
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* n rows: x[r][j] = r * 10 + j, y[r][k] = -(r * 10 + k). */
static struct nn_data *
rows(size_t n, int in, int out)
{
	struct nn_data *d = nn_data_new(n, in, out);
	size_t r;
	int j;

	for (r = 0; r < n; r++) {
		for (j = 0; j < in; j++)
			d->x[r * (size_t)in + (size_t)j] = (float)(r * 10 +
			    (size_t)j);
		for (j = 0; j < out; j++)
			d->y[r * (size_t)out + (size_t)j] = -(float)(r * 10 +
			    (size_t)j);
	}
	return d;
}

static void
test_block_rows(void)
{
	/* 4 MiB / (1024 rows * 4 bytes * (in + out)) blocks of 1024 rows. */
	CHECK(datacache_block_rows(1, 1) == 512 * 1024);
	CHECK(datacache_block_rows(16, 26) == 24 * 1024);
	CHECK(datacache_block_rows(784, 10) == 1024);
	/* Wider than 4 MiB a block: still 1024 rows. */
	CHECK(datacache_block_rows(2000, 1000) == 1024);
	CHECK(datacache_block_size(datacache_block_rows(16, 26), 16, 26) <=
	    DATACACHE_BLOCK_TARGET);
	CHECK(datacache_block_size(datacache_block_rows(16, 26) + 1024, 16,
	    26) > DATACACHE_BLOCK_TARGET);
	/* Each half is padded to a page. */
	CHECK(datacache_block_size(1, 1, 1) == 8192);
	CHECK(datacache_block_size(1025, 1, 1) == 16384);
	CHECK(datacache_part_rows(10, 0, 3) == 4);
	CHECK(datacache_part_rows(10, 1, 3) == 3);
	CHECK(datacache_part_rows(10, 2, 3) == 3);
	CHECK(datacache_part_rows(2, 3, 4) == 0);
end:
	;
}

static void
test_block_fill(void)
{
	struct nn_data *d = rows(10, 3, 2);
	unsigned char *buf = xmalloc(datacache_block_size(4, 3, 2));
	float v;
	size_t i, n;

	/* Part 1 of 3: rows 1, 4, 7. */
	memset(buf, 0xff, datacache_block_size(4, 3, 2));
	n = datacache_block_fill(d, 1, 3, 1024, 0, buf);
	CHECK(n == 3);
	for (i = 0; i < 3; i++) {
		memcpy(&v, buf + i * 12, 4);
		CHECKF(v == (float)((1 + 3 * i) * 10), "x row %zu: %g", i,
		    (double)v);
		memcpy(&v, buf + 4096 + i * 8 + 4, 4);
		CHECKF(v == -(float)((1 + 3 * i) * 10 + 1), "y row %zu: %g", i,
		    (double)v);
	}
	/* Padding is zeros. */
	for (i = 36; i < 4096; i++)
		CHECK(buf[i] == 0);
	for (i = 4096 + 24; i < 8192; i++)
		CHECK(buf[i] == 0);
end:
	free(buf);
	nn_data_free(d);
}

/* A prepared set of n rows and a test table of m. */
static void
prep_of(struct nn_prepared *p, size_t n, size_t m)
{
	memset(p, 0, sizeof *p);
	p->train = rows(n, 2, 1);
	p->test = m > 0 ? rows(m, 2, 1) : NULL;
	p->train->task = NN_TASK_REGRESSION;
	nn_norm_fit(&p->norm, NN_NORM_STANDARD, p->train);
}

static void
test_set_manifest(void)
{
	struct nn_prepared p, q;
	struct datacache_set *s = NULL;
	struct datacache_set_spec spec;
	struct nn_data *d = NULL;
	char key[DATACACHE_HEX], hex[DATACACHE_HEX], *cause = NULL;
	unsigned char *buf = NULL;
	json_t *m, *parts, *bad = NULL;
	size_t br;

	memset(&q, 0, sizeof q);
	prep_of(&p, 3000, 5);
	memset(key, 'a', 64);
	key[64] = '\0';
	memset(&spec, 0, sizeof spec);
	spec.prep = &p;
	spec.name = "unit.set";
	spec.key = key;
	spec.parts = 2;
	spec.replicas = 2;
	s = datacache_set_new(&spec, &cause);
	CHECK(s != NULL);
	m = datacache_set_manifest(s);
	CHECKF(datacache_manifest_check(m, &cause) == 0, "%s", cause);
	parts = json_object_get(json_object_get(json_object_get(m, "tables"),
	    "train"), "parts");
	CHECK(json_array_size(parts) == 2);
	CHECK(json_integer_value(json_object_get(json_array_get(parts, 0),
	    "rows")) == 1500);
	br = datacache_block_rows(2, 1);
	CHECK(json_integer_value(json_object_get(json_array_get(parts, 1),
	    "block_rows")) == (json_int_t)br);
	/* A block's name is the SHA-256 of its bytes. */
	buf = xmalloc(datacache_block_size(br, 2, 1));
	datacache_block_fill(p.train, 1, 2, br, 0, buf);
	crypto_sha256_hex(buf, datacache_block_size(1500, 2, 1), hex);
	CHECK(strcmp(hex, json_string_value(json_array_get(json_object_get(
	    json_array_get(parts, 1), "blocks"), 0))) == 0);
	/* The test table is one part. */
	CHECK(json_array_size(json_object_get(json_object_get(json_object_get(
	    m, "tables"), "test"), "parts")) == 1);
	CHECK(datacache_set_bytes(s) == 2 * datacache_block_size(1500, 2, 1) +
	    datacache_block_size(5, 2, 1));

	/* The prepared set: references, and the norm back bit for bit. */
	CHECKF(datacache_prepared(m, &q, &cause) == 0, "%s", cause);
	CHECK(q.train->x == NULL && q.train->n == 3000 && q.train->in == 2);
	CHECK(strcmp(q.train->cache_set, "unit.set") == 0);
	CHECK(strcmp(q.test->cache_table, "test") == 0 && q.test->n == 5);
	CHECK(q.norm.kind == NN_NORM_STANDARD);
	CHECK(memcmp(q.norm.shift, p.norm.shift, 2 * sizeof (float)) == 0);
	CHECK(memcmp(q.norm.scale, p.norm.scale, 2 * sizeof (float)) == 0);
	/* A shard of the reference names its part. */
	d = nn_data_shard(q.train, 1, 2);
	CHECK(d->cache_shard == 1 && d->cache_shards == 2 && d->n == 1500);

	/* Checks refuse what would size memory wrongly. */
	bad = json_deep_copy(m);
	json_object_set_new(json_array_get(json_object_get(json_object_get(
	    json_object_get(bad, "tables"), "train"), "parts"), 0), "rows",
	    json_integer(1499));
	CHECK(datacache_manifest_check(bad, &cause) != 0);
	CHECKF(strstr(cause, "tables.train.parts[0].rows") != NULL, "%s",
	    cause);
	json_decref(bad);
	bad = json_deep_copy(m);
	json_array_clear(json_object_get(json_array_get(json_object_get(
	    json_object_get(json_object_get(bad, "tables"), "train"),
	    "parts"), 1), "blocks"));
	free(cause);
	cause = NULL;
	CHECK(datacache_manifest_check(bad, &cause) != 0);
	CHECKF(strstr(cause, "parts[1].blocks") != NULL, "%s", cause);
	json_decref(bad);
	bad = json_deep_copy(m);
	json_object_set_new(bad, "name", json_string("-x"));
	free(cause);
	cause = NULL;
	CHECK(datacache_manifest_check(bad, &cause) != 0);
end:
	json_decref(bad);
	free(buf);
	free(cause);
	nn_data_free(d);
	datacache_set_free(s);
	nn_prepared_clear(&p);
	nn_prepared_clear(&q);
}

static void
test_key(void)
{
	struct nn_source src;
	struct datacache_options o;
	char a[DATACACHE_HEX], b[DATACACHE_HEX], c[DATACACHE_HEX];
	char name[32], *cause = NULL;
	char *path = put("key.data", "1 1 1\n0.5\n1\n");

	memset(&src, 0, sizeof src);
	src.format = NN_FORMAT_FANN;
	src.path = path;
	src.label = -1;
	memset(&o, 0, sizeof o);
	o.train = &src;
	o.parts = 1;
	CHECK(datacache_key(&o, a, &cause) == 0);
	CHECK(datacache_key(&o, b, &cause) == 0);
	CHECK(strcmp(a, b) == 0 && strlen(a) == 64);
	/* The parts, the normalisation and the contents change it. */
	o.parts = 2;
	CHECK(datacache_key(&o, b, &cause) == 0 && strcmp(a, b) != 0);
	o.parts = 1;
	o.normalize = NN_NORM_MINMAX;
	CHECK(datacache_key(&o, c, &cause) == 0 && strcmp(a, c) != 0);
	o.normalize = NN_NORM_NONE;
	free(put("key.data", "1 1 1\n0.25\n1\n"));
	CHECK(datacache_key(&o, b, &cause) == 0 && strcmp(a, b) != 0);
	/* A split's seed counts only with a split. */
	o.seed = 7;
	CHECK(datacache_key(&o, c, &cause) == 0 && strcmp(b, c) == 0);
	datacache_auto_name(a, name, sizeof name);
	CHECK(strncmp(name, "auto-", 5) == 0 && strlen(name) == 21 &&
	    strncmp(name + 5, a, 16) == 0);
	/* A file that cannot be read is named. */
	src.path = "/nonexistent/x.data";
	CHECK(datacache_key(&o, c, &cause) != 0);
	CHECKF(strstr(cause, "/nonexistent/x.data") != NULL, "%s", cause);
end:
	free(cause);
	free(path);
}

/* A document with data replaced; the cause of parsing it, or NULL. */
static char *
parse_cause(const char *data, struct nn_config **out)
{
	char *text = xasprintf("{\"layers\": [{\"units\": 4}, {}], \"data\": "
	    "%s}", data), *cause = NULL;
	json_t *root = json_loads(text, 0, NULL);
	struct nn_config *cfg;

	free(text);
	cfg = nn_config_parse(root, "net.json", unit_tmpdir(), &cause);
	json_decref(root);
	if (out != NULL)
		*out = cfg;
	else
		nn_config_free(cfg);
	return cause;
}

static void
test_config_cache(void)
{
	struct nn_config *cfg = NULL;
	char *cause;

	CHECK((cause = parse_cause("{\"train\": {\"cache\": \"letters_1.v2\"}}",
	    &cfg)) == NULL);
	CHECK(cfg->train_src.format == NN_FORMAT_CACHE);
	CHECK(strcmp(cfg->train_src.name, "letters_1.v2") == 0);
	cause = parse_cause("{\"train\": {\"cache\": \".hidden\"}}", NULL);
	CHECKF(cause != NULL && strstr(cause, "data.train.cache") != NULL &&
	    strstr(cause, "bad set name") != NULL, "%s", cause);
	free(cause);
	cause = parse_cause("{\"train\": {\"cache\": \"a b\"}}", NULL);
	CHECK(cause != NULL);
	free(cause);
	cause = parse_cause("{\"train\": {\"cache\": \"x\", \"path\": "
	    "\"x.data\"}}", NULL);
	CHECKF(cause != NULL && strstr(cause, "data.train.path") != NULL,
	    "%s", cause);
	free(cause);
	cause = parse_cause("{\"train\": {\"cache\": \"x\"}, \"split\": 0.2}",
	    NULL);
	CHECKF(cause != NULL && strstr(cause, "data.split") != NULL, "%s",
	    cause);
	free(cause);
	cause = parse_cause("{\"train\": {\"cache\": \"x\"}, \"normalize\": "
	    "\"standard\"}", NULL);
	CHECKF(cause != NULL && strstr(cause, "data.normalize") != NULL, "%s",
	    cause);
	free(cause);
	cause = NULL;
	CHECK(nn_data_name_ok("a") && nn_data_name_ok("A-9._z"));
	CHECK(!nn_data_name_ok("") && !nn_data_name_ok("-a") &&
	    !nn_data_name_ok(".a") && !nn_data_name_ok("a/b"));
	CHECK(nn_data_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaa") && !nn_data_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
end:
	free(cause);
	nn_config_free(cfg);
}

/* nn_save_fann writes what nn_load_fann reads back bit for bit. */
static void
test_save_fann(void)
{
	struct nn_data *d = rows(3, 2, 2), *back = NULL;
	char *path = xasprintf("%s/saved.data", unit_tmpdir()), *cause = NULL;

	d->x[0] = 0.1f;
	d->x[1] = 1e-30f;
	d->y[3] = 3.14159274f;
	CHECKF(nn_save_fann(path, d, &cause) == 0, "%s", cause);
	CHECKF(nn_load_fann(path, &back, &cause) == 0, "%s", cause);
	CHECK(back->n == 3 && back->in == 2 && back->out == 2);
	CHECK(memcmp(back->x, d->x, 6 * sizeof (float)) == 0);
	CHECK(memcmp(back->y, d->y, 6 * sizeof (float)) == 0);
end:
	free(cause);
	free(path);
	nn_data_free(d);
	nn_data_free(back);
}

static const struct unit_test tests[] = {
	{ "block_rows", test_block_rows },
	{ "block_fill", test_block_fill },
	{ "set_manifest", test_set_manifest },
	{ "key", test_key },
	{ "config_cache", test_config_cache },
	{ "save_fann", test_save_fann },
	{ NULL, NULL },
};

UNIT_MAIN("datacache", tests)
