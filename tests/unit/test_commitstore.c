/* The commit store: one commit per agent, the last replacing the one
 * before, a bound that refuses rather than evicts, drops and expiry. */
#include <stdlib.h>
#include <string.h>

#include "agentd/bigbuf.h"
#include "agentd/commitstore.h"
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

static const struct unit_test tests[] = {
	{ "put_get_replace", test_put_get_replace },
	{ "limit", test_limit },
	{ "drop_expire_list", test_drop_expire_list },
	{ NULL, NULL }
};

UNIT_MAIN("commitstore", tests)
