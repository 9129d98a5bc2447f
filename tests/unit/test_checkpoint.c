/* The checkpoint file (nn/checkpoint.h), JSON paths and random search. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/le.h"
#include "dist/job.h"
#include "nn/checkpoint.h"
#include "unit.h"

/* A small checkpoint, encoded; caller frees *buf. */
static void
ckpt_sample(unsigned char **buf, size_t *len)
{
	struct nn_checkpoint c;
	float params[3] = { 1.5f, -2.25f, 0.1f };
	unsigned char state[5] = { 1, 2, 3, 4, 5 };
	char *cause = NULL;

	memset(&c, 0, sizeof c);
	c.header = json_pack("{s:i, s:s}", "epoch", 3, "path", "net.json");
	c.params = params;
	c.nparams = 3;
	c.state = state;
	c.state_len = sizeof state;
	if (nn_checkpoint_encode(&c, buf, len, &cause) != 0)
		abort();
	json_decref(c.header);
}

/* Decoding buf fails with a cause containing want. */
static int
ckpt_refused(const unsigned char *buf, size_t len, const char *want)
{
	struct nn_checkpoint *c;
	char *cause = NULL;
	int ok;

	c = nn_checkpoint_decode(buf, len, "x.ck", &cause);
	ok = c == NULL && cause != NULL && strstr(cause, want) != NULL &&
	    strncmp(cause, "x.ck: ", 6) == 0;
	if (!ok)
		fprintf(stderr, "  cause: %s (want %s)\n", cause ? cause :
		    "none", want);
	nn_checkpoint_free(c);
	free(cause);
	return ok;
}

static void
test_roundtrip(void)
{
	struct nn_checkpoint *c = NULL;
	unsigned char *buf = NULL;
	char *cause = NULL;
	size_t len;

	ckpt_sample(&buf, &len);
	c = nn_checkpoint_decode(buf, len, "x.ck", &cause);
	CHECKF(c != NULL, "%s", cause);
	CHECK(json_integer_value(json_object_get(c->header, "epoch")) == 3);
	CHECK(c->nparams == 3 && c->params[1] == -2.25f &&
	    c->params[2] == 0.1f);
	CHECK(c->state_len == 5 && c->state[4] == 5);
end:
	nn_checkpoint_free(c);
	free(buf);
	free(cause);
}

/* Every byte flipped is caught; every length is checked first. */
static void
test_corrupt(void)
{
	unsigned char *buf = NULL, *bad = NULL;
	size_t len, i;

	ckpt_sample(&buf, &len);
	bad = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		memcpy(bad, buf, len);
		bad[i] ^= 0x40;
		CHECKF(nn_checkpoint_decode(bad, len, "x.ck", NULL) == NULL,
		    "byte %zu flipped was accepted", i);
	}
	memcpy(bad, buf, len);
	CHECK(ckpt_refused(bad, len - 1, "truncated"));
	CHECK(ckpt_refused(bad, 20, "shorter than its header"));
	bad[len] = 0;
	CHECK(ckpt_refused(bad, len + 1, "trailing bytes"));
	CHECK(ckpt_refused(bad + 1, len - 1, "no NNSCKPT magic"));
	nn_le_put_u32(bad + 8, 2);
	CHECK(ckpt_refused(bad, len, "checkpoint version 2"));
	memcpy(bad, buf, len);
	/* Lengths past the limits are refused before any allocation. */
	nn_le_put_u64(bad + 24, UINT64_MAX / 2);
	CHECK(ckpt_refused(bad, len, "past the limits"));
	memcpy(bad, buf, len);
	nn_le_put_u64(bad + 16, (uint64_t)1 << 40);
	CHECK(ckpt_refused(bad, len, "past the limits"));
	memcpy(bad, buf, len);
	nn_le_put_u64(bad + 32, 1000);
	CHECK(ckpt_refused(bad, len, "truncated"));
end:
	free(bad);
	free(buf);
}

/* Paths with brackets or dots; errors quote the path. */
static void
test_override_paths(void)
{
	json_t *root = json_loads("{\"layers\": [{\"units\": 4}, {}], "
	    "\"train\": {\"epochs\": 3}}", 0, NULL), *v = json_integer(9);
	char *cause = NULL;

	CHECK(root != NULL);
	CHECK(nn_job_override(root, "layers[1].units", v, &cause) == 0);
	CHECK(nn_job_override(root, "layers.0.units", v, &cause) == 0);
	CHECK(json_integer_value(json_object_get(json_array_get(
	    json_object_get(root, "layers"), 1), "units")) == 9);
	CHECK(json_integer_value(json_object_get(json_array_get(
	    json_object_get(root, "layers"), 0), "units")) == 9);
	CHECK(nn_job_override(root, "train.optimizer.lr", v, &cause) == 0);
	CHECK(json_is_object(json_object_get(json_object_get(root, "train"),
	    "optimizer")));
	CHECK(nn_job_override(root, "layers[2].units", v, &cause) == -1);
	CHECKF(strcmp(cause, "\"layers[2].units\": \"2\" is not an index of "
	    "an array of 2") == 0, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(nn_job_override(root, "train.epochs.x", v, &cause) == -1);
	CHECKF(strstr(cause, "step \"x\" needs an object or array, but the "
	    "value there is a number") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(nn_job_override(root, "train[0]", v, &cause) == -1);
	CHECK(strstr(cause, "needs an array") != NULL);
	free(cause);
	cause = NULL;
	CHECK(nn_job_override(root, "layers[1", v, &cause) == -1);
	CHECK(strstr(cause, "without") != NULL);
	free(cause);
	cause = NULL;
	CHECK(nn_job_override(root, "train..epochs", v, &cause) == -1);
	CHECK(strstr(cause, "empty step") != NULL);
	free(cause);
	cause = NULL;
	CHECK(nn_job_override(root, "layers[0]x", v, &cause) == -1);
	CHECK(strstr(cause, "after \"]\"") != NULL);
end:
	free(cause);
	json_decref(v);
	json_decref(root);
}

#define SEARCH_NET "{\"layers\": [{\"units\": 8, \"activation\": \"tanh\"}, " \
	"{\"activation\": \"softmax\"}], \"loss\": \"cross_entropy\", " \
	"\"data\": {\"train\": {\"generate\": \"xor\", \"n\": 20}}, "	\
	"\"train\": {\"seed\": 5, \"optimizer\": {\"type\": \"adam\"}}, "	\
	"\"parallel\": {\"search\": "		\
	"{\"samples\": 6, \"space\": {"					\
	"\"train.optimizer.lr\": {\"log_uniform\": [0.001, 0.1]}, "	\
	"\"layers[0].units\": {\"randint\": [2, 5]}}}}}"

/* The labels of a search of root; -1 on error. */
static int
search_labels(json_t *root, char *out, size_t size)
{
	struct nn_job job;
	char *cause = NULL;
	int i;

	if (nn_job_parse(root, "net.json", 0, 1, &job, &cause) != 0) {
		fprintf(stderr, "  %s\n", cause);
		free(cause);
		return -1;
	}
	out[0] = '\0';
	for (i = 0; i < job.nsessions; i++) {
		strncat(out, job.labels[i], size - strlen(out) - 2);
		strcat(out, "\n");
	}
	i = job.nsessions;
	nn_job_clear(&job);
	return i;
}

/* The same seed gives the same samples; another seed others. */
static void
test_search_seeded(void)
{
	json_t *root = json_loads(SEARCH_NET, 0, NULL), *search;
	char a[2048], b[2048], c[2048];

	CHECK(root != NULL);
	CHECK(search_labels(root, a, sizeof a) == 6);
	CHECK(search_labels(root, b, sizeof b) == 6);
	CHECK(strcmp(a, b) == 0);
	CHECKF(strncmp(a, "sample 0: train.optimizer.lr=", 29) == 0, "%.200s", a);
	search = json_object_get(json_object_get(root, "parallel"), "search");
	json_object_set_new(search, "seed", json_integer(6));
	CHECK(search_labels(root, c, sizeof c) == 6);
	CHECK(strcmp(a, c) != 0);
	/* Without search.seed, train.seed is the seed. */
	json_object_set_new(search, "seed", json_integer(5));
	CHECK(search_labels(root, c, sizeof c) == 6);
	CHECK(strcmp(a, c) == 0);
end:
	json_decref(root);
}

static void
test_search_errors(void)
{
	static const struct {
		const char *space, *want;
	} bad[] = {
		{ "{\"x\": 1}", "space.x: expected one of" },
		{ "{\"train.seed\": {\"gauss\": [1, 2]}}", "unknown \"gauss\"" },
		{ "{\"train.optimizer.lr\": {\"uniform\": [2, 1]}}",
		    "uniform: expected LOW below HIGH" },
		{ "{\"train.seed\": {\"randint\": [1.5, 2]}}",
		    "two integers" },
		{ "{\"train.seed\": {\"choice\": []}}", "non-empty array" },
		{ "{\"data.train.n\": {\"choice\": [1]}}",
		    "sessions share the data" },
		{ "{\"train.batch\": {\"choice\": [0]}}",
		    "train.batch: expected an integer" },
	};
	json_t *root = NULL, *search;
	struct nn_job job;
	char *cause = NULL;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_decref(root);
		root = json_loads(SEARCH_NET, 0, NULL);
		search = json_object_get(json_object_get(root, "parallel"),
		    "search");
		json_object_set_new(search, "space", json_loads(bad[i].space,
		    0, NULL));
		CHECK(nn_job_parse(root, "net.json", 0, 1, &job, &cause) ==
		    -1);
		CHECKF(strstr(cause, bad[i].want) != NULL, "%s: %s",
		    bad[i].space, cause);
		free(cause);
		cause = NULL;
	}
	json_object_set_new(search, "samples", json_integer(0));
	CHECK(nn_job_parse(root, "net.json", 0, 1, &job, &cause) == -1);
	CHECK(strstr(cause, "parallel.search.samples: expected") != NULL);
end:
	free(cause);
	json_decref(root);
}

static const struct unit_test tests[] = {
	{ "roundtrip", test_roundtrip },
	{ "corrupt", test_corrupt },
	{ "override_paths", test_override_paths },
	{ "search_seeded", test_search_seeded },
	{ "search_errors", test_search_errors },
	{ NULL, NULL }
};

UNIT_MAIN("checkpoint", tests)
