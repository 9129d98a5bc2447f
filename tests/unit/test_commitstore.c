/* The commit store: one commit per agent, the last replacing the one
 * before, a bound that refuses rather than evicts, drops and expiry, and
 * commits without their static sections merged with the run's full one. */
#include <stdlib.h>
#include <string.h>

#include "agentd/bigbuf.h"
#include "agentd/commitstore.h"
#include "agentd/state.h"
#include "base/alloc.h"
#include "unit.h"

/* n bytes of value v, malloc'd as a payload would be. */
static void *
blob(size_t n, int v)
{
	void *p = malloc(n);

	memset(p, v, n);
	return p;
}

static void
test_put_get_replace(void)
{
	struct commitstore *cs = commitstore_new(1000);
	const unsigned char *p;
	json_t *meta = NULL;
	uint64_t len = 0;
	char *cause = NULL;

	CHECK(commitstore_get(cs, "h1.1", &meta, &len) == NULL);
	CHECK(commitstore_put(cs, "h1.1", json_pack("{s:s}", "code", "c1"),
	    blob(100, 1), 100, 10, &cause) == 0);
	CHECK(commitstore_put(cs, "h1.2", NULL, blob(200, 2), 200, 10,
	    &cause) == 0);
	CHECK(commitstore_bytes(cs) == 300);
	p = commitstore_get(cs, "h1.1", &meta, &len);
	CHECK(p != NULL && len == 100 && p[99] == 1);
	CHECK(strcmp(json_string_value(json_object_get(meta, "code")),
	    "c1") == 0);
	/* The last commit of an agent replaces the one before. */
	CHECK(commitstore_put(cs, "h1.1", NULL, blob(50, 3), 50, 11,
	    &cause) == 0);
	CHECK(commitstore_bytes(cs) == 250);
	p = commitstore_get(cs, "h1.1", NULL, &len);
	CHECK(p != NULL && len == 50 && p[0] == 3);
end:
	commitstore_free(cs);
}

static void
test_limit(void)
{
	struct commitstore *cs = commitstore_new(1000);
	const unsigned char *p;
	uint64_t len = 0;
	char *cause = NULL;

	CHECK(commitstore_put(cs, "h1.1", NULL, blob(600, 1), 600, 10,
	    &cause) == 0);
	/* Too much: refused, and nothing is evicted for it. */
	CHECK(commitstore_put(cs, "h1.2", NULL, blob(500, 2), 500, 10,
	    &cause) == -1);
	CHECKF(strstr(cause, "the commit store is full") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(commitstore_get(cs, "h1.2", NULL, &len) == NULL);
	CHECK(commitstore_bytes(cs) == 600);
	/* A replacement too large keeps the commit it would replace. */
	CHECK(commitstore_put(cs, "h1.1", NULL, blob(1001, 4), 1001, 11,
	    &cause) == -1);
	free(cause);
	cause = NULL;
	p = commitstore_get(cs, "h1.1", NULL, &len);
	CHECK(p != NULL && len == 600 && p[0] == 1);
	/* One that fits in the room its own old one leaves is taken. */
	CHECK(commitstore_put(cs, "h1.1", NULL, blob(1000, 5), 1000, 12,
	    &cause) == 0);
	CHECK(commitstore_bytes(cs) == 1000);
end:
	free(cause);
	commitstore_free(cs);
}

static void
test_drop_expire_list(void)
{
	struct commitstore *cs = commitstore_new(1 << 20);
	char *cause = NULL;
	json_t *l = NULL;

	CHECK(commitstore_put(cs, "h1.1", json_pack("{s:s}", "job", "j"),
	    blob(10, 1), 10, 100, &cause) == 0);
	CHECK(commitstore_put(cs, "h2.1", NULL, blob(20, 2), 20,
	    100 + COMMITSTORE_KEEP_S, &cause) == 0);
	l = commitstore_list(cs, 100 + COMMITSTORE_KEEP_S + 5);
	CHECK(json_array_size(l) == 2);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(l, 0),
	    "agent")), "h2.1") == 0);
	CHECK(json_integer_value(json_object_get(json_array_get(l, 1),
	    "age_s")) == COMMITSTORE_KEEP_S + 5);
	json_decref(l);
	l = NULL;
	/* Unrefreshed for longer than COMMITSTORE_KEEP_S: gone. */
	CHECK(commitstore_expire(cs, 100 + COMMITSTORE_KEEP_S + 1) == 1);
	CHECK(commitstore_bytes(cs) == 20);
	CHECK(commitstore_drop(cs, "h1.1") == -1);
	CHECK(commitstore_drop(cs, "h2.1") == 0);
	CHECK(commitstore_bytes(cs) == 0);
end:
	json_decref(l);
	commitstore_free(cs);
}

/* A state at step, with weights w and the static data x; its encoding,
 * malloc'd, in full or without x. */
static void *
packed(int step, const char *w, const unsigned char *x, size_t xlen,
    int delta, uint64_t *len)
{
	struct agent_state *st = agent_state_new();
	struct evbuffer *b = evbuffer_new();
	char json[64];
	void *buf;

	snprintf(json, sizeof json, "{\"step\": %d}", step);
	if (agent_state_set_json(st, json) != 0 ||
	    agent_state_add(st, "w", w, strlen(w)) != 0 ||
	    agent_state_add_static(st, "x", x, xlen) != 0 ||
	    (delta ? agent_state_encode_delta(st, b) :
	    agent_state_encode_ref(st, b)) != 0)
		fatal("packed: %s", agent_state_cause(st));
	*len = evbuffer_get_length(b);
	buf = xmalloc(*len);
	evbuffer_remove(b, buf, *len);
	evbuffer_free(b);
	agent_state_free(st);
	return buf;
}

static void
test_delta(void)
{
	struct commitstore *cs = commitstore_new(1 << 20);
	unsigned char x[5000];
	const unsigned char *p;
	void *full2 = NULL;
	uint64_t len1, dlen, full2_len, len;
	json_t *kept = json_pack("[s]", "x"), *bad = json_pack("[s]", "y");
	json_t *meta = NULL;
	char *cause = NULL;
	void *d;

	memset(x, 7, sizeof x);
	x[4999] = 9;
	d = packed(1, "aaaa", x, sizeof x, 0, &len1);
	CHECK(commitstore_put(cs, "h1.1", json_pack("{s:s}", "series", "s1"),
	    d, len1, 10, &cause) == 0);
	full2 = packed(2, "bbbb", x, sizeof x, 0, &full2_len);
	/* Another run's delta, or a section the base lacks: refused, and
	 * the full commit stays. */
	d = packed(2, "bbbb", x, sizeof x, 1, &len);
	CHECK(commitstore_put_delta(cs, "h1.1", json_pack("{s:s}", "series",
	    "s2"), d, len, kept, 11,
	    &cause) == -1);
	CHECKF(strcmp(cause, "no full commit of this run here") == 0, "%s",
	    cause);
	free(cause);
	cause = NULL;
	d = packed(2, "bbbb", x, sizeof x, 1, &len);
	CHECK(commitstore_put_delta(cs, "h1.2", json_pack("{s:s}", "series",
	    "s1"), d, len, kept, 11,
	    &cause) == -1);
	free(cause);
	cause = NULL;
	d = packed(2, "bbbb", x, sizeof x, 1, &len);
	CHECK(commitstore_put_delta(cs, "h1.1", json_pack("{s:s}", "series",
	    "s1"), d, len, bad, 11,
	    &cause) == -1);
	CHECKF(strstr(cause, "no section y") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(commitstore_put_delta(cs, "h1.1", json_pack("{s:s}", "series",
	    "s1"), blob(40, 1), 40, kept, 11, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(commitstore_bytes(cs) == len1);
	/* The run's delta is kept beside it, and merged when asked for: the
	 * same bytes as the full commit. */
	d = packed(2, "bbbb", x, sizeof x, 1, &dlen);
	CHECK(dlen + sizeof x <= full2_len);
	CHECK(commitstore_put_delta(cs, "h1.1", json_pack("{s:s, s:I}",
	    "series", "s1", "step", (json_int_t)2), d, dlen, kept, 12,
	    &cause) == 0);
	CHECK(commitstore_bytes(cs) == len1 + dlen);
	p = commitstore_get(cs, "h1.1", &meta, &len);
	CHECK(p != NULL && len == full2_len && memcmp(p, full2, len) == 0);
	CHECK(json_integer_value(json_object_get(meta, "step")) == 2);
	CHECK(strcmp(commitstore_series(cs, "h1.1"), "s1") == 0);
	CHECK(commitstore_bytes(cs) == full2_len);
	/* A delta that does not fit is refused; the full one stays. */
	{
		struct commitstore *small = commitstore_new(full2_len + 8);

		d = packed(2, "bbbb", x, sizeof x, 0, &len);
		CHECK(commitstore_put(small, "h1.1", json_pack("{s:s}",
		    "series", "s1"), d, len, 10, &cause) == 0);
		d = packed(3, "cccc", x, sizeof x, 1, &dlen);
		CHECK(commitstore_put_delta(small, "h1.1", json_pack("{s:s}",
		    "series", "s1"), d, dlen, kept, 11, &cause) == -1);
		CHECK(commitstore_bytes(small) == len);
		commitstore_free(small);
		CHECKF(strstr(cause, "the commit store is full") != NULL,
		    "%s", cause);
		free(cause);
		cause = NULL;
	}
	/* A full commit of another run replaces it. */
	CHECK(commitstore_put(cs, "h1.1", json_pack("{s:s}", "series", "s3"),
	    blob(10, 3), 10, 13, &cause) == 0);
	CHECK(strcmp(commitstore_series(cs, "h1.1"), "s3") == 0);
end:
	free(cause);
	free(full2);
	json_decref(kept);
	json_decref(bad);
	commitstore_free(cs);
}

static const struct unit_test tests[] = {
	{ "put_get_replace", test_put_get_replace },
	{ "limit", test_limit },
	{ "drop_expire_list", test_drop_expire_list },
	{ "delta", test_delta },
	{ NULL, NULL }
};

UNIT_MAIN("commitstore", tests)
