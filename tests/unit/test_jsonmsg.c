/*
 * base/jsonmsg.h's checks that every JSON parser starts with: unknown and
 * misplaced keys, with the parser's own key paths or plain ones, and a
 * file whose syntax error becomes one line naming line and column.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/jsonmsg.h"
#include "unit.h"

/* A jp_key that marks the key, to show it is the one used. */
static const char *
mark_key(char *buf, const char *parent, const char *key)
{
	snprintf(buf, NN_JSON_JPATH_MAX, "%s.<%s>", parent, key);
	return buf;
}

/* 1 when obj is refused with exactly want; the cause is printed if not. */
static int
refused(json_t *obj, const struct nn_json_keys *k, const char *jpath,
    const char *want)
{
	char *cause = NULL;
	int ok;

	ok = nn_json_check_keys(obj, k, "f.json", jpath, &cause) == -1 &&
	    strcmp(cause, want) == 0;
	if (!ok)
		printf("# got %s\n", cause != NULL ? cause : "(none)");
	free(cause);
	return ok;
}

static void
test_check_keys(void)
{
	static const char *const allowed[] = { "a", "b", "c", NULL };
	static const char *const others[] = { "a", "b", "c", "d", NULL };
	struct nn_json_keys k = { .allowed = allowed };
	json_t *obj = json_pack("{s:i, s:i}", "a", 1, "zz", 2);

	CHECK(nn_json_check_keys(NULL, &k, "f.json", "x", NULL) == 0);
	CHECK(refused(obj, &k, "x",
	    "f.json: x.zz: unknown key (expected a, b, c)"));
	k.last_or = 1;
	CHECK(refused(obj, &k, "",
	    "f.json: zz: unknown key (expected a, b or c)"));
	k.last_or = 0;
	k.others = others;
	k.what = "the other kind";
	k.jp_key = mark_key;
	json_object_del(obj, "zz");
	json_object_set_new(obj, "d", json_true());
	CHECK(refused(obj, &k, "x", "f.json: x.<d>: not used by the other "
	    "kind (expected a, b, c)"));
	json_object_del(obj, "d");
	CHECK(nn_json_check_keys(obj, &k, "f.json", "x", NULL) == 0);
end:
	json_decref(obj);
}

/* Writes text to a scratch file; caller frees the path. */
static char *
put(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", unit_tmpdir(), name);
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		fatal("%s: cannot create", path);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_load_file(void)
{
	char *good = put("good.json", "{\"a\": [1, 2]}\n");
	char *bad = put("bad.json", "{\"a\": 1,\n \"b\n\": }\n");
	char *dup = put("dup.json", "{\"a\": 1, \"a\": 2}");
	char *missing = xasprintf("%s/missing.json", unit_tmpdir());
	char *cause = NULL, *want;
	json_t *root = NULL;

	root = nn_json_load_file(good, 1024, &cause);
	CHECK(root != NULL && json_array_size(json_object_get(root, "a")) == 2);
	CHECK(nn_json_load_file(good, 4, &cause) == NULL);
	CHECKF(strstr(cause, good) == cause, "%s", cause);
	free(cause);
	cause = NULL;

	CHECK(nn_json_load_file(bad, 1024, &cause) == NULL);
	want = xasprintf("%s:2:", bad);
	CHECKF(strncmp(cause, want, strlen(want)) == 0 &&
	    strstr(cause, ": JSON syntax error: ") != NULL &&
	    strchr(cause, '\n') == NULL, "%s", cause);
	free(want);
	free(cause);
	cause = NULL;

	CHECK(nn_json_load_file(dup, 1024, &cause) == NULL);
	CHECKF(strstr(cause, "JSON syntax error: duplicate") != NULL, "%s",
	    cause);
	free(cause);
	cause = NULL;

	CHECK(nn_json_load_file(missing, 1024, &cause) == NULL);
	CHECKF(strstr(cause, missing) == cause, "%s", cause);
end:
	json_decref(root);
	free(cause);
	unlink(good);
	unlink(bad);
	unlink(dup);
	free(good);
	free(bad);
	free(dup);
	free(missing);
}

static const struct unit_test tests[] = {
	{ "check_keys", test_check_keys },
	{ "load_file", test_load_file },
	{ NULL, NULL },
};

UNIT_MAIN("jsonmsg", tests)
