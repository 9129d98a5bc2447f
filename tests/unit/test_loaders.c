/* The csv, FANN and idx loaders and nn_data_load, on good and bad files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "data/data.h"
#include "unit.h"

/*
 * Writes len bytes to a new file in the scratch folder. The path is
 * borrowed and stays valid for the next 31 calls.
 */
static const char *
put_bytes(const char *name, const void *buf, size_t len)
{
	static char paths[32][512];
	static int next;
	char *path = paths[next++ % 32];
	FILE *f;

	snprintf(path, sizeof paths[0], "%s/%s", unit_tmpdir(), name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return path;
}

static const char *
put(const char *name, const char *text)
{
	return put_bytes(name, text, strlen(text));
}

/* The reference data sets beside the project; NULL when absent. */
static const char *
shared_data(const char *rel)
{
	static char path[1024];
	const char *dir = getenv("NNSIM_DATA"), *src = getenv("NNSIM_SRC");

	if (dir != NULL)
		snprintf(path, sizeof path, "%s/%s", dir, rel);
	else
		snprintf(path, sizeof path, "%s/../shared/data/%s",
		    src != NULL ? src : ".", rel);
	return access(path, R_OK) == 0 ? path : NULL;
}

static struct nn_source
csv_source(const char *jpath, const char *path, int header, int label)
{
	struct nn_source s;

	memset(&s, 0, sizeof s);
	s.jpath = (char *)jpath;
	s.format = NN_FORMAT_CSV;
	s.path = (char *)path;
	s.header = header;
	s.label = label;
	s.row_lo = s.row_hi = -1;
	return s;
}

/* Loads a single csv source; returns the data or NULL with *cause. */
static struct nn_data *
load_one(const struct nn_source *s, char **classes, int nclasses,
    char **cause)
{
	struct nn_data *d = NULL;

	if (nn_data_load(s, NULL, classes, nclasses, &d, NULL, cause) != 0)
		return NULL;
	return d;
}

/* True when cause exists and holds every one of up to three strings. */
static int
says(const char *cause, const char *a, const char *b, const char *c)
{
	if (cause == NULL)
		return 0;
	return strstr(cause, a) != NULL &&
	    (b == NULL || strstr(cause, b) != NULL) &&
	    (c == NULL || strstr(cause, c) != NULL);
}

static int
row_is(const float *v, int n, const float *want)
{
	int i;

	for (i = 0; i < n; i++) {
		if (v[i] != want[i])
			return 0;
	}
	return 1;
}

static void
test_csv_class_names(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	const char *p;

	p = put("names.csv", "kind,a,b\nB,1,2\n A , 3.5 ,-4\r\nC,5,6e1\n"
	    "\n  \nA,7,8");
	s = csv_source("data.train", p, 1, 0);
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->n == 4 && d->in == 2 && d->out == 3);
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->nclasses == 3);
	CHECK(d->lo == 0.0f && d->hi == 1.0f);
	CHECK(d->classes != NULL);
	CHECK(strcmp(d->classes[0], "A") == 0 &&
	    strcmp(d->classes[1], "B") == 0 &&
	    strcmp(d->classes[2], "C") == 0);
	CHECK(row_is(d->x, 2, (float[]){ 1, 2 }));
	CHECK(row_is(d->x + 2, 2, (float[]){ 3.5f, -4 }));
	CHECK(row_is(d->x + 4, 2, (float[]){ 5, 60 }));
	CHECK(row_is(d->x + 6, 2, (float[]){ 7, 8 }));
	CHECK(row_is(d->y, 3, (float[]){ 0, 1, 0 }));
	CHECK(row_is(d->y + 3, 3, (float[]){ 1, 0, 0 }));
	CHECK(row_is(d->y + 6, 3, (float[]){ 0, 0, 1 }));
	CHECK(row_is(d->y + 9, 3, (float[]){ 1, 0, 0 }));
end:
	free(cause);
	nn_data_free(d);
}

static void
test_csv_integer_labels(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	const char *p;

	/* strcmp would order these 10, 2, 9; numbers sort 2, 9, 10. */
	p = put("ints.csv", "0.5,10\n1.5,9\n2.5,2\n3.5,10\n");
	s = csv_source("data.train", p, 0, 1);
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->n == 4 && d->in == 1 && d->nclasses == 3);
	CHECK(strcmp(d->classes[0], "2") == 0 &&
	    strcmp(d->classes[1], "9") == 0 &&
	    strcmp(d->classes[2], "10") == 0);
	CHECK(row_is(d->y, 3, (float[]){ 0, 0, 1 }));
	CHECK(row_is(d->y + 3, 3, (float[]){ 0, 1, 0 }));
	CHECK(row_is(d->y + 6, 3, (float[]){ 1, 0, 0 }));
	CHECK(d->x[3] == 3.5f);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_csv_fixed_classes(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL, *fixed[] = { "Z", "A", "M" };
	const char *p;

	p = put("fixed.csv", "1,A\n2,Z\n");
	s = csv_source("data.test", p, 0, 1);
	d = load_one(&s, fixed, 3, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->nclasses == 3 && d->out == 3);
	CHECK(strcmp(d->classes[0], "Z") == 0 &&
	    strcmp(d->classes[2], "M") == 0);
	CHECK(row_is(d->y, 3, (float[]){ 0, 1, 0 }));
	CHECK(row_is(d->y + 3, 3, (float[]){ 1, 0, 0 }));
	nn_data_free(d);
	d = NULL;

	p = put("unknown.csv", "1,A\n2,Z\n3,Q\n4,Q\n");
	s = csv_source("data.test", p, 0, 1);
	d = load_one(&s, fixed, 3, &cause);
	CHECK(d == NULL);
	CHECKF(says(cause, "unknown.csv:3:", "\"Q\"", "unknown class"), "%s",
	    cause);
	free(cause);
	cause = NULL;

	/* A count without names (an idx-trained model): labels 0..n-1. */
	p = put("count.csv", "1,2\n2,0\n");
	s = csv_source("data.test", p, 0, 1);
	d = load_one(&s, NULL, 3, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->out == 3 && d->classes == NULL && d->y[2] == 1.0f &&
	    d->y[3] == 1.0f);
	nn_data_free(d);
	p = put("count2.csv", "1,2\n2,3\n");
	s = csv_source("data.test", p, 0, 1);
	d = load_one(&s, NULL, 3, &cause);
	CHECK(d == NULL);
	CHECKF(says(cause, "count2.csv:2: label \"3\"", "below 3", NULL), "%s",
	    cause);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_csv_rows(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	const char *p;

	p = put("rows.csv", "h1,h2\n0,a\n1,b\n2,a\n3,b\n4,c\n");
	s = csv_source("data.train", p, 1, 1);
	s.row_lo = 1;
	s.row_hi = 3;
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->n == 2 && d->x[0] == 1.0f && d->x[1] == 2.0f);
	CHECK(d->nclasses == 2);	/* only the rows read give classes */
	nn_data_free(d);
	d = NULL;

	s.row_lo = 3;
	s.row_hi = -1;
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->n == 2 && d->x[0] == 3.0f && d->x[1] == 4.0f);
	nn_data_free(d);
	d = NULL;

	s.row_lo = 2;
	s.row_hi = 9;
	d = load_one(&s, NULL, 0, &cause);
	CHECK(d == NULL);
	CHECKF(says(cause, "data.train: rows [2, 9)", "only 5 data rows",
	    NULL), "%s", cause);
	free(cause);
	cause = NULL;

	s.row_lo = 5;
	s.row_hi = -1;
	d = load_one(&s, NULL, 0, &cause);
	CHECK(d == NULL);
	CHECKF(says(cause, "data.train: rows [5, end)", NULL, NULL), "%s",
	    cause);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_csv_targets(void)
{
	struct nn_data *d = NULL;
	struct nn_source s;
	char *cause = NULL;
	int targets[] = { 3, 0 }, inputs[] = { 2 };
	const char *p;

	p = put("reg.csv", "1,2,3,4\n5,6,7,8\n");
	s = csv_source("data.train", p, 0, -1);
	s.targets = targets;
	s.ntargets = 2;
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->task == NN_TASK_REGRESSION && d->classes == NULL);
	CHECK(d->n == 2 && d->in == 2 && d->out == 2);
	CHECK(row_is(d->x, 4, (float[]){ 2, 3, 6, 7 }));
	CHECK(row_is(d->y, 4, (float[]){ 4, 1, 8, 5 }));
	nn_data_free(d);
	d = NULL;

	/* Unlisted columns are skipped, not even parsed. */
	p = put("reg2.csv", "1,id-x,3,4\n5,id-y,7,8\n");
	s.path = (char *)p;
	s.inputs = inputs;
	s.ninputs = 1;
	d = load_one(&s, NULL, 0, &cause);
	CHECKF(d != NULL, "%s", cause);
	CHECK(d->in == 1 && d->x[0] == 3.0f && d->x[1] == 7.0f);
	nn_data_free(d);
	d = NULL;

	targets[0] = 4;
	d = load_one(&s, NULL, 0, &cause);
	CHECK(d == NULL);
	CHECKF(says(cause, "data.train: targets[0]: column 4 is out of range",
	    NULL, NULL), "%s", cause);
end:
	free(cause);
	nn_data_free(d);
}

/* Loads text as csv (label column label) and checks the error's words. */
static int
csv_fails(const char *name, const char *text, int header, int label,
    const char *a, const char *b, char **cause)
{
	struct nn_source s;
	struct nn_data *d;

	char path[512];

	free(*cause);
	*cause = NULL;
	if (text != NULL)
		snprintf(path, sizeof path, "%s", put(name, text));
	else
		snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
	s = csv_source("data.train", path, header, label);
	if ((d = load_one(&s, NULL, 0, cause)) != NULL) {
		nn_data_free(d);
		return 0;
	}
	return says(*cause, name, a, b);
}

static void
test_csv_errors(void)
{
	struct nn_source s;
	char *cause = NULL;

	CHECKF(csv_fails("cols.csv", "1,2,A\n3,4,B\n5,B\n", 0, 2,
	    "cols.csv:3: expected 3 columns, found 2", NULL, &cause), "%s",
	    cause);
	CHECKF(csv_fails("many.csv", "1,2,A\n3,4,B,9\n", 0, 2,
	    "many.csv:2: expected 3 columns, found 4", NULL, &cause), "%s",
	    cause);
	CHECKF(csv_fails("nan.csv", "1,2,A\n3,abc,B\n", 0, 2,
	    "nan.csv:2: column 1: \"abc\" is not a number", NULL, &cause),
	    "%s", cause);
	CHECKF(csv_fails("inf.csv", "1,2,A\n3,inf,B\n", 0, 2,
	    "inf.csv:2: column 1: \"inf\" is not a number", NULL, &cause),
	    "%s", cause);
	CHECKF(csv_fails("big.csv", "1,1e39,A\n", 0, 2,
	    "big.csv:1: column 1: \"1e39\"", NULL, &cause), "%s", cause);
	CHECKF(csv_fails("empty_cell.csv", "1,,A\n", 0, 2,
	    "empty_cell.csv:1: column 1: \"\" is not a number", NULL, &cause),
	    "%s", cause);
	CHECKF(csv_fails("hdr.csv", "a,b,c\n1,2,A\n", 0, 2,
	    "hdr.csv:1: column 0: \"a\"", "header", &cause), "%s", cause);
	CHECKF(csv_fails("empty.csv", "", 0, 0, "empty.csv: empty file",
	    NULL, &cause), "%s", cause);
	CHECKF(csv_fails("blank.csv", "\n \n\r\n", 0, 0,
	    "blank.csv: empty file", NULL, &cause), "%s", cause);
	CHECKF(csv_fails("onlyhdr.csv", "a,b\n", 1, 0,
	    "onlyhdr.csv: no data rows", NULL, &cause), "%s", cause);
	CHECKF(csv_fails("badhdr.csv", "a,b\n1,2,A\n", 1, 1,
	    "badhdr.csv:1: bad header", NULL, &cause), "%s", cause);
	/* A file cut in the middle of its last row. */
	CHECKF(csv_fails("cut.csv", "1,2,3,A\n4,5,6,B\n7,8", 0, 3,
	    "cut.csv:3: expected 4 columns, found 2", NULL, &cause), "%s",
	    cause);
	CHECKF(csv_fails("lab.csv", "1,2\n", 0, 2,
	    "data.train: label column 2 is out of range", NULL, &cause), "%s",
	    cause);
	CHECKF(csv_fails("nolab.csv", "1,2, \n", 0, 2, "nolab.csv:1: column 2: "
	    "empty label", NULL, &cause), "%s", cause);
	CHECKF(csv_fails("one.csv", "1,A\n2,A\n", 0, 1, "only one class",
	    NULL, &cause), "%s", cause);
	CHECKF(csv_fails("missing-file.csv", NULL, 0, 1, "No such file", NULL,
	    &cause), "%s", cause);

	/* A binary file: its NUL bytes are refused, not silently cut. */
	s = csv_source("data.train", put_bytes("nul.csv", "1,A\n2\0,B\n", 8),
	    0, 1);
	free(cause);
	cause = NULL;
	CHECK(load_one(&s, NULL, 0, &cause) == NULL);
	CHECKF(says(cause, "nul.csv:2: NUL byte", NULL, NULL), "%s", cause);
end:
	free(cause);
}

static void
test_csv_shared_classes(void)
{
	struct nn_data *tr = NULL, *te = NULL;
	struct nn_source a, b;
	char *cause = NULL;

	a = csv_source("data.train", put("tr.csv", "1,B\n2,A\n"), 0, 1);
	b = csv_source("data.test", put("te.csv", "3,C\n4,A\n5,B\n"), 0, 1);
	CHECKF(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) == 0, "%s",
	    cause);
	CHECK(tr->nclasses == 3 && te->nclasses == 3);
	CHECK(tr->out == 3 && te->out == 3);
	CHECK(strcmp(te->classes[2], "C") == 0 &&
	    strcmp(tr->classes[2], "C") == 0);
	CHECK(row_is(tr->y, 6, (float[]){ 0, 1, 0, 1, 0, 0 }));
	CHECK(row_is(te->y, 9, (float[]){ 0, 0, 1, 1, 0, 0, 0, 1, 0 }));
	nn_data_free(tr);
	nn_data_free(te);
	tr = te = NULL;

	b = csv_source("data.test", put("te2.csv", "3,4,C\n"), 0, 2);
	CHECK(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) != 0);
	CHECK(tr == NULL && te == NULL);
	CHECKF(says(cause, "data.test: 2 inputs but data.train has 1", NULL,
	    NULL), "%s", cause);
end:
	free(cause);
	nn_data_free(tr);
	nn_data_free(te);
}

static void
test_fann_good(void)
{
	struct nn_data *d = NULL;
	char *cause = NULL;
	const char *p;

	/* Tokens wrap across lines, as FANN's own reader allows. */
	p = put("good.data", "3 2 2\n0.5 1\n1 0\n-2 3 0\n1\n4\n5 1 0");
	CHECKF(nn_load_fann(p, &d, &cause) == 0, "%s", cause);
	CHECK(d->n == 3 && d->in == 2 && d->out == 2);
	CHECK(row_is(d->x, 6, (float[]){ 0.5f, 1, -2, 3, 4, 5 }));
	CHECK(row_is(d->y, 6, (float[]){ 1, 0, 0, 1, 1, 0 }));
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->nclasses == 2);
	CHECK(d->lo == 0.0f && d->hi == 1.0f && d->classes == NULL);
	nn_data_free(d);
	d = NULL;

	p = put("reg.data", "2 1 1\n0\n0.25\n1\n0.75\n");
	CHECKF(nn_load_fann(p, &d, &cause) == 0, "%s", cause);
	/* Two target values and one output: classes lo and hi. */
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->lo == 0.25f &&
	    d->hi == 0.75f);
	nn_data_free(d);
	d = NULL;

	p = put("reg3.data", "3 1 1\n0\n0.25\n1\n0.75\n2\n0.5\n");
	CHECKF(nn_load_fann(p, &d, &cause) == 0, "%s", cause);
	CHECK(d->task == NN_TASK_REGRESSION);
end:
	free(cause);
	nn_data_free(d);
}

static int
fann_fails(const char *name, const char *text, const char *a, const char *b,
    char **cause)
{
	struct nn_data *d = NULL;
	const char *p;

	free(*cause);
	*cause = NULL;
	p = put(name, text);
	if (nn_load_fann(p, &d, cause) == 0) {
		nn_data_free(d);
		return 0;
	}
	return d == NULL && says(*cause, a, b, NULL);
}

static void
test_fann_errors(void)
{
	char *cause = NULL;

	CHECKF(fann_fails("h1.data", "3600 21\n1 2\n",
	    "h1.data:1: bad header \"3600 21\" (expected PAIRS INPUTS OUTPUTS)",
	    NULL, &cause), "%s", cause);
	CHECKF(fann_fails("h2.data", "a b c\n", "h2.data:1: bad header", NULL,
	    &cause), "%s", cause);
	CHECKF(fann_fails("h3.data", "2 0 1\n", "h3.data:1: bad header", NULL,
	    &cause), "%s", cause);
	CHECKF(fann_fails("h4.data", "1 2 1 7\n1 2\n3\n",
	    "h4.data:1: bad header", NULL, &cause), "%s", cause);
	CHECKF(fann_fails("h5.data", "3000000000 1 1\n", "h5.data:1:",
	    "limit", &cause), "%s", cause);
	CHECKF(fann_fails("cell.data", "2 2 1\n1 2\n3\n4 x5\n6\n",
	    "cell.data:4: \"x5\" is not a number", NULL, &cause), "%s", cause);
	CHECKF(fann_fails("trunc.data", "3 2 1\n1 2\n3\n4 5\n6\n7\n",
	    "trunc.data: truncated: the header says 3 pairs, found 2", NULL,
	    &cause), "%s", cause);
	CHECKF(fann_fails("extra.data", "1 2 1\n1 2\n3\n4\n",
	    "extra.data:4: more values than the 1 pairs", NULL, &cause), "%s",
	    cause);
	CHECKF(fann_fails("empty.data", "", "empty.data: empty file", NULL,
	    &cause), "%s", cause);
	CHECKF(fann_fails("blank.data", "\n  \n", "blank.data: empty file",
	    NULL, &cause), "%s", cause);
end:
	free(cause);
}

static void
test_fann_load_pair(void)
{
	struct nn_data *tr = NULL, *te = NULL;
	struct nn_source a, b;
	char *cause = NULL;

	memset(&a, 0, sizeof a);
	a.jpath = "data.train";
	a.format = NN_FORMAT_FANN;
	a.path = (char *)put("pa.data", "2 1 1\n0\n-1\n1\n1\n");
	b = a;
	b.jpath = "data.test";
	/* Alone, one target value would read as regression. */
	b.path = (char *)put("pb.data", "1 1 1\n0.5\n1\n");
	CHECKF(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) == 0, "%s",
	    cause);
	CHECK(tr->task == NN_TASK_CLASSIFICATION && tr->lo == -1.0f);
	CHECK(te->task == NN_TASK_CLASSIFICATION && te->lo == -1.0f &&
	    te->hi == 1.0f && te->nclasses == 2);
	nn_data_free(tr);
	nn_data_free(te);
	tr = te = NULL;

	b.path = (char *)put("pc.data", "1 1 2\n0.5\n1 0\n");
	CHECK(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) != 0);
	CHECKF(says(cause, "data.test: 2 outputs but data.train has 1", NULL,
	    NULL), "%s", cause);
end:
	free(cause);
	nn_data_free(tr);
	nn_data_free(te);
}

/* An idx header: magic for ndims u8 dimensions and the sizes. */
static size_t
idx_header(unsigned char *b, int ndims, const uint32_t *dims)
{
	int i;

	b[0] = b[1] = 0;
	b[2] = 0x08;
	b[3] = (unsigned char)ndims;
	for (i = 0; i < ndims; i++) {
		b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
		b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
		b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
		b[7 + 4 * i] = (unsigned char)dims[i];
	}
	return 4 + 4 * (size_t)ndims;
}

/* Writes images (n of 2 x 2, pixel j of image i is 50 i + j) and labels. */
static void
idx_pair(const char *iname, const char *lname, uint32_t n,
    const unsigned char *labels, const char **ipath, const char **lpath)
{
	unsigned char b[256];
	uint32_t dims[3] = { n, 2, 2 };
	size_t len, i;

	len = idx_header(b, 3, dims);
	for (i = 0; i < 4 * n; i++)
		b[len++] = (unsigned char)(50 * (i / 4) + i % 4);
	*ipath = put_bytes(iname, b, len);
	len = idx_header(b, 1, dims);
	memcpy(b + len, labels, n);
	*lpath = put_bytes(lname, b, len + n);
}

static void
test_idx_good(void)
{
	struct nn_data *d = NULL, *te = NULL;
	struct nn_source a, b;
	unsigned char img[32];
	uint32_t dims[3] = { 1, 1, 4 };
	const char *ip, *lp;
	char *cause = NULL;
	size_t len;

	idx_pair("i1", "l1", 3, (const unsigned char *)"\0\2\1", &ip, &lp);
	CHECKF(nn_load_idx(ip, lp, &d, &cause) == 0, "%s", cause);
	CHECK(d->n == 3 && d->in == 4 && d->out == 3 && d->nclasses == 3);
	CHECK(d->task == NN_TASK_CLASSIFICATION && d->classes == NULL);
	CHECK(d->x[0] == 0.0f && d->x[5] == 51.0f / 255.0f);
	CHECK(row_is(d->y + 3, 3, (float[]){ 0, 0, 1 }));
	nn_data_free(d);
	d = NULL;

	/* The classes span both files: 0..4. */
	memset(&a, 0, sizeof a);
	a.format = NN_FORMAT_IDX;
	a.jpath = "data.train";
	idx_pair("i3", "l3", 3, (const unsigned char *)"\0\2\1", &ip, &lp);
	a.images = (char *)ip;
	a.labels = (char *)lp;
	b = a;
	b.jpath = "data.test";
	idx_pair("i4", "l4", 1, (const unsigned char *)"\4", &ip, &lp);
	b.images = (char *)ip;
	b.labels = (char *)lp;
	CHECKF(nn_data_load(&a, &b, NULL, 0, &d, &te, &cause) == 0, "%s",
	    cause);
	CHECK(d->out == 5 && te->out == 5 && te->y[4] == 1.0f);

	nn_data_free(d);
	d = NULL;

	/* 255 maps to exactly 1. */
	len = idx_header(img, 3, dims);
	memset(img + len, 255, 4);
	ip = put_bytes("i5", img, len + 4);
	lp = put_bytes("l5", "\0\0\x08\x01\0\0\0\1\1", 9);
	CHECKF(nn_load_idx(ip, lp, &d, &cause) == 0, "%s", cause);
	CHECK(d->x[0] == 1.0f && d->x[3] == 1.0f && d->out == 2);
end:
	free(cause);
	nn_data_free(d);
	nn_data_free(te);
}

static void
test_idx_errors(void)
{
	struct nn_data *d = NULL;
	unsigned char b[64];
	uint32_t huge[3] = { 60000, 65536, 65536 };
	uint32_t many[3] = { 5000000, 1024, 1024 };
	const char *ip, *lp, *p;
	char *cause = NULL;

	idx_pair("ei", "el", 3, (const unsigned char *)"\0\1\1", &ip, &lp);

	p = put_bytes("magic", "\0\0\x08\x02\0\0\0\1", 8);
	CHECK(nn_load_idx(ip, p, &d, &cause) != 0 && d == NULL);
	CHECKF(says(cause, "magic: bad magic 0x00000802", "0x00000801", NULL),
	    "%s", cause);
	free(cause);
	cause = NULL;

	p = put_bytes("gz", "\x1f\x8b\x08\x08\0\0\0\0", 8);
	CHECK(nn_load_idx(p, lp, &d, &cause) != 0);
	CHECKF(says(cause, "gz: bad magic", "gzip", NULL), "%s", cause);
	free(cause);
	cause = NULL;

	/* Images cut short: the length check fires before any reading. */
	memcpy(b, "\0\0\x08\x03\0\0\0\3\0\0\0\2\0\0\0\2\1\2\3", 19);
	p = put_bytes("short", b, 19);
	CHECK(nn_load_idx(p, lp, &d, &cause) != 0);
	CHECKF(says(cause, "short: truncated", NULL, NULL), "%s", cause);
	free(cause);
	cause = NULL;

	p = put_bytes("stub", "\0\0\x08", 3);
	CHECK(nn_load_idx(p, lp, &d, &cause) != 0);
	CHECKF(says(cause, "stub: truncated", NULL, NULL), "%s", cause);
	free(cause);
	cause = NULL;

	p = put_bytes("lshort", "\0\0\x08\x01\0\0\0\3\1", 9);
	CHECK(nn_load_idx(ip, p, &d, &cause) != 0);
	CHECKF(says(cause, "lshort: truncated", NULL, NULL), "%s", cause);
	free(cause);
	cause = NULL;

	p = put_bytes("lcount", "\0\0\x08\x01\0\0\0\2\1\0", 10);
	CHECK(nn_load_idx(ip, p, &d, &cause) != 0);
	CHECKF(says(cause, "lcount: 2 labels but", "has 3 images", NULL), "%s",
	    cause);
	free(cause);
	cause = NULL;

	/* Sizes far past the limits fail before anything is allocated. */
	p = put_bytes("huge", b, idx_header(b, 3, huge));
	CHECK(nn_load_idx(p, lp, &d, &cause) != 0);
	CHECKF(says(cause, "huge:", "limit", NULL), "%s", cause);
	free(cause);
	cause = NULL;
	p = put_bytes("many", b, idx_header(b, 3, many));
	CHECK(nn_load_idx(p, lp, &d, &cause) != 0);
	CHECKF(says(cause, "many:", "limit", NULL), "%s", cause);
end:
	free(cause);
	nn_data_free(d);
}

static void
test_real_letter(void)
{
	struct nn_data *tr = NULL, *te = NULL;
	struct nn_source a, b;
	char *cause = NULL, c[2] = "A";
	const char *p;
	FILE *f = NULL;
	int i, last = 0, ch;

	if ((p = shared_data("uci/letter-recognition.csv")) == NULL)
		SKIP("letter-recognition.csv not found (NNSIM_DATA)");
	/* The file ends without a newline: the last row must still count. */
	CHECK((f = fopen(p, "rb")) != NULL);
	while ((ch = fgetc(f)) != EOF)
		last = ch;
	CHECK(last != '\n');

	a = csv_source("data.train", p, 1, 0);
	CHECKF(nn_data_load(&a, NULL, NULL, 0, &tr, NULL, &cause) == 0, "%s",
	    cause);
	CHECK(tr->n == 20000 && tr->in == 16 && tr->out == 26);
	nn_data_free(tr);
	tr = NULL;

	a.row_hi = 16000;
	b = csv_source("data.test", p, 1, 0);
	b.row_lo = 16000;
	b.row_hi = 20000;
	CHECKF(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) == 0, "%s",
	    cause);
	CHECK(tr->n == 16000 && te->n == 4000);
	CHECK(tr->in == 16 && te->in == 16 && tr->nclasses == 26);
	for (i = 0; i < 26; i++) {
		c[0] = (char)('A' + i);
		CHECKF(strcmp(tr->classes[i], c) == 0 &&
		    strcmp(te->classes[i], c) == 0, "class %d", i);
	}
	/* First row "T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8". */
	CHECK(tr->x[0] == 2.0f && tr->x[6] == 13.0f && tr->y[19] == 1.0f);
end:
	if (f != NULL)
		fclose(f);
	free(cause);
	nn_data_free(tr);
	nn_data_free(te);
}

static void
test_real_fann(void)
{
	struct nn_data *tr = NULL, *te = NULL;
	struct nn_source a, b;
	char *cause = NULL, *train = NULL;
	const char *p;

	if ((p = shared_data("fann/xor.data")) == NULL)
		SKIP("fann/xor.data not found (NNSIM_DATA)");
	CHECKF(nn_load_fann(p, &tr, &cause) == 0, "%s", cause);
	CHECK(tr->n == 4 && tr->in == 2 && tr->out == 1);
	CHECK(tr->task == NN_TASK_CLASSIFICATION && tr->lo == -1.0f);
	nn_data_free(tr);
	tr = NULL;

	memset(&a, 0, sizeof a);
	a.jpath = "data.train";
	a.format = NN_FORMAT_FANN;
	if ((a.path = (char *)shared_data("fann/thyroid.train")) == NULL)
		SKIP("fann/thyroid.train not found");
	a.path = train = xstrdup(a.path);
	b = a;
	b.jpath = "data.test";
	b.path = (char *)shared_data("fann/thyroid.test");
	CHECK(b.path != NULL);
	CHECKF(nn_data_load(&a, &b, NULL, 0, &tr, &te, &cause) == 0, "%s",
	    cause);
	CHECK(tr->n == 3600 && te->n == 3600 && tr->in == 21 && tr->out == 3);
	CHECK(tr->task == NN_TASK_CLASSIFICATION && tr->nclasses == 3);
	CHECK(te->task == NN_TASK_CLASSIFICATION && te->nclasses == 3);
end:
	free(train);
	free(cause);
	nn_data_free(tr);
	nn_data_free(te);
}

static const struct unit_test tests[] = {
	{ "csv_class_names", test_csv_class_names },
	{ "csv_integer_labels", test_csv_integer_labels },
	{ "csv_fixed_classes", test_csv_fixed_classes },
	{ "csv_rows", test_csv_rows },
	{ "csv_targets", test_csv_targets },
	{ "csv_errors", test_csv_errors },
	{ "csv_shared_classes", test_csv_shared_classes },
	{ "fann_good", test_fann_good },
	{ "fann_errors", test_fann_errors },
	{ "fann_load_pair", test_fann_load_pair },
	{ "idx_good", test_idx_good },
	{ "idx_errors", test_idx_errors },
	{ "real_letter", test_real_letter },
	{ "real_fann", test_real_fann },
	{ NULL, NULL },
};

UNIT_MAIN("loaders", tests)
