/*
 * nnsim plot's reading of metrics files (docs/plot.md): runs per file and
 * per session, their legend labels, where events fall on the epoch axis,
 * the metrics offered, and the lines refused with file and line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cli/plotdata.h"
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

/* The lines of a sweep as nnsim submit writes them, shortened. */
static const char sweep[] =
    "{\"epoch\":1,\"loss\":0.5,\"test_accuracy\":0.7,\"session\":1,"
    "\"agent\":\"h1.2\",\"host\":\"h2\"}\n"
    "{\"epoch\":1,\"loss\":0.4,\"test_accuracy\":0.8,\"session\":0,"
    "\"agent\":\"h1.1\",\"host\":\"h1\"}\n"
    "{\"event\":\"committed\",\"session\":0,\"agent\":\"h1.1\"}\n"
    "{\"epoch\":2,\"loss\":0.3,\"test_accuracy\":0.9,\"session\":0,"
    "\"agent\":\"h1.1\",\"host\":\"h1\"}\n"
    "{\"epoch\":3,\"loss\":0.2,\"test_accuracy\":0.9,\"session\":0,"
    "\"agent\":\"h1.1\",\"host\":\"h1\"}\n"
    "\n"
    "{\"event\":\"moved\",\"agent\":\"h1.2\",\"from\":\"h2\",\"host\":"
    "\"h1\",\"session\":1}\n"
    "{\"event\":\"host-down\",\"host\":\"h2\",\"reason\":\"silent\","
    "\"agents\":[]}\n"
    "{\"event\":\"recovered\",\"session\":0,\"agent\":\"h1.1\","
    "\"host\":\"h1\",\"stall_s\":1.5}\n"
    "{\"epoch\":2,\"loss\":0.45,\"test_accuracy\":0.75,\"session\":1,"
    "\"agent\":\"h1.2\",\"host\":\"h1\"}\n"
    "{\"event\":\"session\",\"session\":0,\"label\":\"lr=0.1\"}\n"
    "{\"event\":\"session\",\"session\":2,\"label\":\"lr=0.3\"}\n"
    "{\"event\":\"done\",\"sessions\":3}\n";

/* Sessions become runs in order, labelled by variant; a session without
 * epochs is no run; events fall after their session's or the file's last
 * epoch, and share a marker when they fall together. */
static void
test_sweep(void)
{
	struct plotdata *pd = plotdata_new();
	char *path = put("sweep.jsonl", sweep), *cause = NULL, *m = NULL;

	CHECKF(plotdata_read(pd, path, &cause) == 0, "%s", cause);
	plotdata_finish(pd);
	CHECK(pd->nruns == 2);
	CHECK(strcmp(pd->runs[0].label, "lr=0.1") == 0);
	CHECK(strcmp(pd->runs[1].label, "session 1") == 0);
	CHECK(json_array_size(pd->runs[0].epochs) == 3);
	CHECK(json_integer_value(json_object_get(json_array_get(
	    pd->runs[1].epochs, 1), "epoch")) == 2);
	CHECK(pd->max_epoch == 3);
	CHECK(pd->nevents == 2);
	CHECK(pd->events[0].epoch == 1);
	CHECK(strcmp(pd->events[0].label, "s1 moved h1") == 0);
	CHECK(pd->events[1].epoch == 3);
	CHECKF(strcmp(pd->events[1].label, "host-down h2, s0 recovered h1") ==
	    0, "%s", pd->events[1].label);
	m = plotdata_metrics(pd);
	CHECKF(strcmp(m, "loss, test_accuracy") == 0, "%s", m);
	CHECK(plotdata_has_metric(pd, "loss"));
	CHECK(!plotdata_has_metric(pd, "epoch"));
	CHECK(!plotdata_has_metric(pd, "session"));
end:
	free(m);
	free(cause);
	free(path);
	plotdata_free(pd);
}

/* With several files a session's label starts with its file's name; a
 * file's one run (nnsim train, a data job) is named by the file; a data
 * job's partition events fall on its one curve. */
static void
test_files(void)
{
	struct plotdata *pd = plotdata_new();
	char *a = put("sweep.jsonl", sweep), *cause = NULL;
	char *b = put("xor.run.jsonl",
	    "{\"epoch\":1,\"loss\":0.6,\"accuracy\":0.5}\n"
	    "{\"epoch\":2,\"loss\":0.5,\"accuracy\":0.6}\n"
	    "{\"event\":\"done\",\"epochs\":2,\"loss\":0.5}\n");
	char *c = put("dp.jsonl",
	    "{\"epoch\":1,\"loss\":0.6,\"partitions\":2,\"agent\":\"h1.1\"}\n"
	    "{\"event\":\"rebuilt\",\"partition\":1,\"agent\":\"h1.3\","
	    "\"host\":\"h1\"}\n"
	    "{\"epoch\":2,\"loss\":0.5,\"partitions\":2,\"from_partition\":1}\n");

	CHECKF(plotdata_read(pd, b, &cause) == 0, "%s", cause);
	CHECKF(plotdata_read(pd, a, &cause) == 0, "%s", cause);
	CHECKF(plotdata_read(pd, c, &cause) == 0, "%s", cause);
	plotdata_finish(pd);
	CHECK(pd->nruns == 4);
	CHECK(strcmp(pd->runs[0].label, "xor.run") == 0);
	CHECK(strcmp(pd->runs[1].label, "sweep: lr=0.1") == 0);
	CHECK(strcmp(pd->runs[2].label, "sweep: session 1") == 0);
	CHECK(strcmp(pd->runs[3].label, "dp") == 0);
	CHECK(json_array_size(pd->runs[3].epochs) == 2);
	/* The rebuild falls on the move's epoch: one marker for both. */
	CHECK(pd->nevents == 2);
	CHECK(pd->events[0].epoch == 1);
	CHECKF(strcmp(pd->events[0].label, "s1 moved h1, p1 rebuilt h1") == 0,
	    "%s", pd->events[0].label);
	CHECK(!plotdata_has_metric(pd, "partitions"));
	CHECK(!plotdata_has_metric(pd, "from_partition"));
	CHECK(plotdata_has_metric(pd, "accuracy"));
end:
	free(cause);
	free(a);
	free(b);
	free(c);
	plotdata_free(pd);
}

/* What is refused: each cause names the file and, for a line, its
 * number and what was expected. */
static void
test_refused(void)
{
	static const struct {
		const char	*text;
		const char	*want;
	} bad[] = {
		{ "{\"epoch\":1,\"loss\":1}\n{\"epoch\":2,\n",
		    "bad.jsonl:2: bad JSON: " },
		{ "{\"epoch\":1}\n\n[1, 2]\n",
		    "bad.jsonl:3: expected a JSON object per line" },
		{ "{\"epoch\":0,\"loss\":1}\n",
		    "bad.jsonl:1: epoch: expected an integer of at least 1" },
		{ "{\"epoch\":1.5,\"loss\":1}\n",
		    "bad.jsonl:1: epoch: expected an integer of at least 1" },
		{ "{\"epoch\":1,\"session\":\"a\"}\n",
		    "bad.jsonl:1: session: expected an integer of at least 0" },
		{ "{\"epoch\":1}\n{\"event\":\"moved\",\"session\":-1}\n",
		    "bad.jsonl:2: session: expected an integer of at least 0" },
		{ "{\"event\":\"done\",\"epochs\":3}\n",
		    "bad.jsonl: no epoch lines (expected the --metrics file" },
		{ "", "bad.jsonl: no epoch lines" },
	};
	struct plotdata *pd = NULL;
	char *path = NULL, *cause = NULL, *want = NULL;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(path);
		free(want);
		free(cause);
		cause = NULL;
		plotdata_free(pd);
		pd = plotdata_new();
		path = put("bad.jsonl", bad[i].text);
		want = xasprintf("%s/%s", unit_tmpdir(), bad[i].want);
		CHECKF(plotdata_read(pd, path, &cause) == -1, "case %zu read",
		    i);
		CHECKF(strncmp(cause, want, strlen(want)) == 0,
		    "case %zu: \"%s\", expected \"%s...\"", i, cause, want);
	}
	free(path);
	path = xasprintf("%s/none.jsonl", unit_tmpdir());
	free(cause);
	cause = NULL;
	CHECK(plotdata_read(pd, path, &cause) == -1);
	CHECKF(strstr(cause, "none.jsonl") != NULL, "%s", cause);
end:
	free(path);
	free(want);
	free(cause);
	plotdata_free(pd);
}

static const struct unit_test tests[] = {
	{ "sweep", test_sweep },
	{ "files", test_files },
	{ "refused", test_refused },
	{ NULL, NULL },
};

UNIT_MAIN("plotdata", tests)
