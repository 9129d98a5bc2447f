/*
 * Packed agent state: building, encoding and decoding round trips (no, one,
 * many and a 32 MiB section), every truncation, corrupt lengths, padding and
 * names, duplicate names and the limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/state.h"
#include "base/alloc.h"
#include "unit.h"

/* A malloc'd copy of st's encoding, so ASan sees reads past its end. */
static unsigned char *
encode(const struct agent_state *st, size_t *len)
{
	unsigned char *buf;

	*len = agent_state_encoded_size(st);
	buf = xmalloc(*len);
	agent_state_encode(st, buf);
	return buf;
}

/* Fills n bytes with a pattern that depends on seed. */
static void
fill(unsigned char *p, size_t n, unsigned int seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

/* Decodes the first n bytes of buf from an exact-size copy. */
static int
decode_prefix(const unsigned char *buf, size_t n, char **cause)
{
	struct agent_state *st = NULL;
	unsigned char *copy = xmalloc(n);
	int rc;

	memcpy(copy, buf, n);
	rc = agent_state_decode(copy, n, &st, cause);
	agent_state_free(st);
	free(copy);
	return rc;
}

/* A one-line cause that starts as every state cause does. */
static int
good_cause(const char *cause)
{
	return cause != NULL && strncmp(cause, "agent state: ", 13) == 0 &&
	    strchr(cause, '\n') == NULL;
}

/* The small state the corruption tests edit: JSON and three sections. */
static unsigned char *
small_state(size_t *len)
{
	struct agent_state *st = agent_state_new();
	unsigned char *buf;

	if (agent_state_set_json(st, "{\"counter\": 3}") != 0 ||
	    agent_state_add(st, "empty", NULL, 0) != 0 ||
	    agent_state_add(st, "five", "12345", 5) != 0 ||
	    agent_state_add(st, "thirteen", "abcdefghijklm", 13) != 0)
		fatal("small_state: %s", agent_state_cause(st));
	buf = encode(st, len);
	agent_state_free(st);
	return buf;
}

/* Offsets in small_state's encoding. */
#define SMALL_JSON	16			/* 14 bytes, padded to 16 */
#define SMALL_S0	(SMALL_JSON + 16)	/* "empty", len 0 */
#define SMALL_S1	(SMALL_S0 + 72)		/* "five", len 5 -> 8 */
#define SMALL_S2	(SMALL_S1 + 72 + 8)	/* "thirteen", 13 -> 16 */
#define SMALL_SIZE	(SMALL_S2 + 72 + 16)

static void
put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A state with no JSON and no sections survives encoding. */
static void
test_roundtrip_empty(void)
{
	struct agent_state *st = agent_state_new(), *back = NULL;
	unsigned char *buf = NULL;
	char *cause = NULL;
	size_t len, n;

	buf = encode(st, &len);
	CHECK(len == 16);
	CHECKF(agent_state_decode(buf, len, &back, &cause) == 0, "%s", cause);
	CHECK(agent_state_json(back) == NULL);
	CHECK(agent_state_count(back) == 0);
	CHECK(agent_state_get(back, "data", &n) == NULL && n == 0);
	CHECK(agent_state_encoded_size(back) == 16);
end:
	free(cause);
	free(buf);
	agent_state_free(back);
	agent_state_free(st);
}

/* JSON and one section come back byte for byte, pointing into buf. */
static void
test_roundtrip_one(void)
{
	struct agent_state *st = agent_state_new(), *back = NULL;
	unsigned char *buf = NULL, data[100];
	const unsigned char *got;
	const char *json = "{\"counter\": 42, \"hosts\": [\"h1\", \"h2\"]}";
	char *cause = NULL;
	size_t len, n;

	fill(data, sizeof data, 1);
	CHECK(agent_state_set_json(st, json) == 0);
	CHECK(agent_state_add(st, "data", data, sizeof data) == 0);
	/* The copy is the state's: changing the source changes nothing. */
	data[0] ^= 0xff;
	buf = encode(st, &len);
	CHECK(len == 16 + 40 + 72 + 104);
	data[0] ^= 0xff;

	CHECKF(agent_state_decode(buf, len, &back, &cause) == 0, "%s", cause);
	CHECK(strcmp(agent_state_json(back), json) == 0);
	CHECK(agent_state_count(back) == 1);
	got = agent_state_get(back, "data", &n);
	CHECK(got != NULL && n == sizeof data);
	CHECK(memcmp(got, data, n) == 0);
	CHECK(got >= buf && got + n <= buf + len);
	CHECK(((uintptr_t)got & 7) == 0);
	CHECK(agent_state_get(back, "dat", NULL) == NULL);
	CHECK(agent_state_get(back, "data2", NULL) == NULL);
end:
	free(cause);
	free(buf);
	agent_state_free(back);
	agent_state_free(st);
}

/* Many sections of many sizes, one of 32 MiB, keep their order and bytes. */
static void
test_roundtrip_many(void)
{
	struct agent_state *st = agent_state_new(), *back = NULL;
	struct evbuffer *eb = NULL;
	unsigned char *buf = NULL, *big = NULL, *small = NULL;
	const unsigned char *got;
	const char *name;
	char *cause = NULL, nm[64];
	size_t len, n, i, bigsz = (size_t)32 << 20;

	big = xmalloc(bigsz);
	fill(big, bigsz, 7);
	small = xmalloc(1000);
	CHECK(agent_state_set_json(st, "[1, 2, 3]") == 0);
	for (i = 0; i < 200; i++) {
		snprintf(nm, sizeof nm, "section-%zu", i);
		fill(small, i * 5, (unsigned int)i);
		CHECK(agent_state_add(st, nm, small, i * 5) == 0);
	}
	CHECK(agent_state_add(st, "big", big, bigsz) == 0);
	CHECK(agent_state_count(st) == 201);
	buf = encode(st, &len);

	/* The evbuffer form is the same bytes. */
	eb = evbuffer_new();
	CHECK(agent_state_encode_evbuffer(st, eb) == 0);
	CHECK(evbuffer_get_length(eb) == len);
	CHECK(memcmp(evbuffer_pullup(eb, -1), buf, len) == 0);

	CHECKF(agent_state_decode(buf, len, &back, &cause) == 0, "%s", cause);
	CHECK(strcmp(agent_state_json(back), "[1, 2, 3]") == 0);
	CHECK(agent_state_count(back) == 201);
	for (i = 0; i < 200; i++) {
		snprintf(nm, sizeof nm, "section-%zu", i);
		got = agent_state_section(back, i, &name, &n);
		CHECKF(got != NULL && strcmp(name, nm) == 0 && n == i * 5,
		    "section %zu", i);
		fill(small, i * 5, (unsigned int)i);
		CHECKF(memcmp(got, small, n) == 0, "section %zu bytes", i);
		CHECK(agent_state_get(back, nm, NULL) == got);
		CHECK(((uintptr_t)got & 7) == 0);
	}
	got = agent_state_get(back, "big", &n);
	CHECK(got != NULL && n == bigsz && memcmp(got, big, n) == 0);
	CHECK(agent_state_section(back, 201, NULL, NULL) == NULL);
	CHECK(agent_state_encoded_size(back) == len);

	/* Handed over, the buffer is freed with the state (ASan: no leak). */
	agent_state_adopt(back, buf);
	buf = NULL;
end:
	if (eb != NULL)
		evbuffer_free(eb);
	free(cause);
	free(buf);
	free(big);
	free(small);
	agent_state_free(back);
	agent_state_free(st);
}

/* Every proper prefix, and one byte more, fails with a one-line cause. */
static void
test_truncation(void)
{
	unsigned char *buf = NULL, *longer = NULL;
	char *cause = NULL;
	size_t len, n;

	buf = small_state(&len);
	CHECK(len == SMALL_SIZE);
	CHECKF(decode_prefix(buf, len, &cause) == 0, "%s", cause);
	for (n = 0; n < len; n++) {
		free(cause);
		cause = NULL;
		CHECKF(decode_prefix(buf, n, &cause) == -1,
		    "prefix of %zu bytes decoded", n);
		CHECKF(good_cause(cause), "prefix %zu: %s", n, cause);
	}
	/* The last section's data is whole but its padding is not. */
	CHECK(strcmp(cause, "agent state: section 2 \"thirteen\": padding "
	    "needs 3 bytes, 2 left") == 0);
	free(cause);
	cause = NULL;
	longer = xcalloc(1, len + 8);
	memcpy(longer, buf, len);
	CHECK(decode_prefix(longer, len + 8, &cause) == -1);
	CHECK(strcmp(cause, "agent state: 8 bytes after the last section") ==
	    0);
end:
	free(cause);
	free(buf);
	free(longer);
}

/* Expects decoding buf with one edit to fail with a cause holding want. */
static int
corrupt(const unsigned char *buf, size_t len, size_t off, const void *bytes,
    size_t n, const char *want)
{
	unsigned char *copy = xmalloc(len);
	char *cause = NULL;
	int ok;

	memcpy(copy, buf, len);
	memcpy(copy + off, bytes, n);
	ok = decode_prefix(copy, len, &cause) == -1 && good_cause(cause) &&
	    strstr(cause, want) != NULL;
	if (!ok)
		fprintf(stderr, "  edit at %zu: got \"%s\"\n", off, cause);
	free(cause);
	free(copy);
	return ok;
}

/* Lengths, counts, magic, padding and names that lie are refused. */
static void
test_corrupt(void)
{
	unsigned char *buf = NULL, u64[8], name[64];
	size_t len;

	buf = small_state(&len);
	CHECK(corrupt(buf, len, 0, "XGST", 4, "bad magic"));
	CHECK(corrupt(buf, len, 12, "\1", 1, "reserved"));
	/* JSON: over the limit, past the end, with a NUL, bad padding. */
	CHECK(corrupt(buf, len, 4, "\0\0\0\2", 4, "JSON length 33554432 "
	    "(limit 16777216)"));
	CHECK(corrupt(buf, len, 4, "\0\2\0\0", 4, "JSON length 512 (padded "
	    "to 512) exceeds the 256 bytes left"));
	CHECK(corrupt(buf, len, SMALL_JSON + 3, "\0", 1, "NUL"));
	CHECK(corrupt(buf, len, SMALL_JSON + 15, "x", 1, "padding"));
	/* Section counts: over the limit, more than the bytes can hold. */
	CHECK(corrupt(buf, len, 8, "\1\4\0\0", 4, "1025 sections (limit "
	    "1024)"));
	CHECK(corrupt(buf, len, 8, "\4\0\0\0", 4, "4 sections need at least "
	    "288 bytes"));
	CHECK(corrupt(buf, len, 8, "\2\0\0\0", 4, "bytes after the last"));
	/* Section lengths: one too many, huge, and 2^64 - 1. */
	put_u64(u64, 999999);
	CHECK(corrupt(buf, len, SMALL_S2 + 64, u64, 8, "section 2 "
	    "\"thirteen\": length 999999 exceeds the 16 bytes left"));
	put_u64(u64, UINT64_MAX);
	CHECK(corrupt(buf, len, SMALL_S1 + 64, u64, 8, "length "
	    "18446744073709551615 exceeds"));
	put_u64(u64, 0);
	CHECK(corrupt(buf, len, SMALL_S1 + 64, u64, 8, "nonzero bytes after"
	    " the name"));
	CHECK(corrupt(buf, len, SMALL_S1 + 72 + 6, "\1", 1, "nonzero "
	    "padding"));
	/* Names: empty, unterminated, with a control character. */
	CHECK(corrupt(buf, len, SMALL_S0, "\0", 1, "section 0: bad name"));
	memset(name, 'n', sizeof name);
	CHECK(corrupt(buf, len, SMALL_S1, name, sizeof name, "section 1: "
	    "name is not terminated"));
	CHECK(corrupt(buf, len, SMALL_S1, "fi\nve", 5, "section 1: bad "
	    "name"));
end:
	free(buf);
}

/* Names are unique on both sides: add refuses, decode refuses. */
static void
test_duplicates(void)
{
	struct agent_state *st = agent_state_new();
	unsigned char *buf = NULL;
	size_t len;

	CHECK(agent_state_add(st, "data", "abc", 3) == 0);
	CHECK(agent_state_cause(st) == NULL);
	CHECK(agent_state_add(st, "data", "xyz", 3) == -1);
	CHECK(strcmp(agent_state_cause(st),
	    "agent state: section \"data\" added twice") == 0);
	CHECK(agent_state_count(st) == 1);

	buf = small_state(&len);
	/* "five" renamed "empty": a duplicate of section 0. */
	CHECK(corrupt(buf, len, SMALL_S1, "empty", 5, "section 1: name "
	    "\"empty\" appears twice"));
end:
	free(buf);
	agent_state_free(st);
}

/* get: a missing name is NULL; a present empty section is not. */
static void
test_get(void)
{
	struct agent_state *st = agent_state_new();
	size_t n = 99;

	CHECK(agent_state_get(st, "none", &n) == NULL && n == 0);
	CHECK(agent_state_add(st, "empty", NULL, 0) == 0);
	n = 99;
	CHECK(agent_state_get(st, "empty", &n) != NULL && n == 0);
	CHECK(agent_state_get(st, "Empty", NULL) == NULL);
	CHECK(agent_state_get(st, NULL, NULL) == NULL);
	CHECK(agent_state_get(NULL, "empty", NULL) == NULL);
end:
	agent_state_free(st);
}

/* keep: the section in place, and the state knows it was kept. */
static void
test_keep(void)
{
	struct agent_state *st = agent_state_new(), *back = NULL;
	unsigned char *buf = NULL, *p;
	char *cause = NULL;
	size_t len, n = 99;

	CHECK(agent_state_set_json(st, "{}") == 0);
	CHECK(agent_state_add(st, "a", "xyz", 3) == 0);
	CHECK(agent_state_add(st, "b", "0123456789", 10) == 0);
	len = agent_state_encoded_size(st);
	buf = xmalloc(len);
	agent_state_encode(st, buf);
	CHECKF(agent_state_decode(buf, len, &back, &cause) == 0, "%s", cause);
	CHECK(agent_state_keep(back, "none", &n) == NULL && n == 0);
	CHECK(!agent_state_kept(back));
	p = agent_state_keep(back, "b", &n);
	CHECK(p != NULL && n == 10 && memcmp(p, "0123456789", 10) == 0);
	/* In the buffer itself, aligned, and writable. */
	CHECK(p > buf && p + n <= buf + len && (p - buf) % 8 == 0);
	CHECK(p == agent_state_get(back, "b", NULL));
	p[0] = 'X';
	CHECK(buf[p - buf] == 'X');
	CHECK(agent_state_kept(back));
end:
	free(cause);
	agent_state_free(back);
	agent_state_free(st);
	free(buf);
}

/* Bad names, bad JSON and the limits fail, keep the first cause, and
 * leave the state as it was. */
static void
test_refused(void)
{
	struct agent_state *st = agent_state_new();
	char name[80], *big = NULL;
	size_t size, i;

	memset(name, 'a', sizeof name);
	name[63] = '\0';
	CHECK(agent_state_add(st, name, "x", 1) == 0);	/* 63 bytes */
	size = agent_state_encoded_size(st);
	name[63] = 'a';
	name[64] = '\0';
	CHECK(agent_state_add(st, name, "x", 1) == -1);	/* 64 bytes */
	CHECK(strstr(agent_state_cause(st), "bad section name") != NULL);
	CHECK(agent_state_add(st, "", "x", 1) == -1);
	CHECK(agent_state_add(st, "a\tb", "x", 1) == -1);
	CHECK(agent_state_add(st, NULL, "x", 1) == -1);
	CHECK(agent_state_add(st, "null", NULL, 1) == -1);
	CHECK(agent_state_add(st, "huge", "x", ((size_t)1 << 30) + 1) == -1);
	CHECK(agent_state_set_json(st, "{\"a\": ") == -1);
	CHECK(agent_state_set_json(st, NULL) == -1);
	CHECK(agent_state_json(st) == NULL);
	CHECK(agent_state_count(st) == 1);
	CHECK(agent_state_encoded_size(st) == size);
	/* The first failure is the one reported. */
	CHECK(strstr(agent_state_cause(st), "bad section name") != NULL);

	/* JSON: any JSON value; replacing it keeps the size exact. */
	CHECK(agent_state_set_json(st, "\"just a string\"") == 0);
	CHECK(agent_state_set_json(st, "{}") == 0);
	CHECK(strcmp(agent_state_json(st), "{}") == 0);
	CHECK(agent_state_encoded_size(st) == size + 8);
	big = xmalloc(AGENT_STATE_MAX_JSON + 2);
	memset(big, ' ', AGENT_STATE_MAX_JSON + 1);
	big[0] = '1';
	big[AGENT_STATE_MAX_JSON + 1] = '\0';
	CHECK(agent_state_set_json(st, big) == -1);
	CHECK(strcmp(agent_state_json(st), "{}") == 0);

	/* At most 1024 sections. */
	for (i = 1; i < AGENT_STATE_MAX_SECTIONS; i++) {
		snprintf(name, sizeof name, "s%zu", i);
		CHECK(agent_state_add(st, name, NULL, 0) == 0);
	}
	CHECK(agent_state_add(st, "one-too-many", NULL, 0) == -1);
	CHECK(agent_state_count(st) == AGENT_STATE_MAX_SECTIONS);
end:
	free(big);
	agent_state_free(st);
}

static const struct unit_test tests[] = {
	{ "roundtrip_empty", test_roundtrip_empty },
	{ "roundtrip_one", test_roundtrip_one },
	{ "roundtrip_many", test_roundtrip_many },
	{ "truncation", test_truncation },
	{ "corrupt", test_corrupt },
	{ "duplicates", test_duplicates },
	{ "get", test_get },
	{ "keep", test_keep },
	{ "refused", test_refused },
	{ NULL, NULL }
};

UNIT_MAIN("state", tests)
