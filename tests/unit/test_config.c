/*
 * net.json: defaults, path resolution, every class of error with its JSON
 * path, fitting to the data and the train section's JSON form. Documents
 * are written with ' for " to keep them readable.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "dist/job.h"
#include "nn/config.h"
#include "unit.h"

/* A small valid document around one replaced part. */
#define XOR_DATA "'data': {'train': {'generate': 'xor'}}"
#define ONE_LAYER "'layers': [{'units': 4}, {}]"

/* Turns ' into "; caller frees. */
static char *
dq(const char *s)
{
	char *t = xstrdup(s), *p;

	for (p = t; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return t;
}

/* Writes a file under the scratch folder; returns its path (caller frees). */
static char *
put(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", unit_tmpdir(), name);
	FILE *f;

	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* The data files the documents name. */
static void
put_fixtures(void)
{
	free(put("letter.csv", "letter,a,b\nA,1,2\nB,3,4\n"));
	free(put("xor.data", "4 2 1\n-1 -1\n-1\n-1 1\n1\n1 -1\n1\n1 1\n-1\n"));
	free(put("xor.train", "1 2 1\n0 0\n0\n"));
	free(put("xor.test", "1 2 1\n0 0\n0\n"));
	free(put("data.txt", "1 2 1\n0 0\n0\n"));
	free(put("img.idx", "x"));
	free(put("lab.idx", "x"));
}

/* Parses a document given with ' for "; NULL with cause. */
static struct nn_config *
parse(const char *text, char **cause)
{
	struct nn_config *cfg;
	json_error_t jerr;
	json_t *root;
	char *s = dq(text);

	put_fixtures();
	if ((root = json_loads(s, 0, &jerr)) == NULL) {
		*cause = xasprintf("test document: %s", jerr.text);
		free(s);
		return NULL;
	}
	free(s);
	cfg = nn_config_parse(root, "net.json", unit_tmpdir(), cause);
	json_decref(root);
	return cfg;
}

/* The cause of a failing parse, or NULL when it parsed; caller frees. */
static char *
parse_error(const char *text)
{
	struct nn_config *cfg;
	char *cause = NULL;

	if ((cfg = parse(text, &cause)) != NULL) {
		nn_config_free(cfg);
		return NULL;
	}
	if (cause == NULL)
		cause = xstrdup("(failed with no cause)");
	return cause;
}

/* Whether s (may be NULL) begins with prefix. */
static int
starts(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One line, starting with want. */
#define EXPECT_ERR(text, want) do {					\
	free(cause);							\
	cause = parse_error(text);					\
	CHECKF(starts(cause, want) && strchr(cause, '\n') == NULL,	\
	    "want \"%s\", got \"%s\"", want,				\
	    cause != NULL ? cause : "success");				\
} while (0)

#define EXPECT_OK(text) do {						\
	nn_config_free(cfg);						\
	free(cause);							\
	cause = NULL;							\
	cfg = parse(text, &cause);					\
	CHECKF(cfg != NULL, "%s", cause != NULL ? cause : "?");		\
} while (0)

/* The example of the brief, loaded from a file, field by field. */
static void
test_letters(void)
{
	struct nn_config *cfg = NULL;
	char *path = NULL, *cause = NULL, *want = NULL, *text = NULL;

	put_fixtures();
	text = dq("{\n"
	    "  'name': 'letters',\n"
	    "  'input': 16,\n"
	    "  'layers': [ {'units': 128, 'activation': 'relu'},\n"
	    "              {'units': 26, 'activation': 'softmax'} ],\n"
	    "  'loss': 'cross_entropy',\n"
	    "  'data': {\n"
	    "    'train': {'path': 'letter.csv', 'format': 'csv', 'label': 0, "
	    "'header': true, 'rows': [0, 16000]},\n"
	    "    'test':  {'path': 'letter.csv', 'format': 'csv', 'label': 0, "
	    "'header': true, 'rows': [16000, 20000]},\n"
	    "    'normalize': 'standard'\n"
	    "  },\n"
	    "  'train': {'epochs': 30, 'batch': 32, 'optimizer': {'type': "
	    "'adam', 'lr': 0.001}, 'seed': 1}\n"
	    "}\n");
	path = put("net.json", text);
	cfg = nn_config_load(path, &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->path, path) == 0);
	CHECK(strcmp(cfg->dir, unit_tmpdir()) == 0);
	CHECK(strcmp(cfg->name, "letters") == 0);
	CHECK(cfg->arch.input == 16 && cfg->input_given);
	CHECK(cfg->arch.nlayers == 2 && cfg->output_given);
	CHECK(cfg->arch.layer[0].units == 128);
	CHECK(cfg->arch.layer[0].act == NN_ACT_RELU);
	CHECK(cfg->arch.layer[0].init == NN_INIT_TORCH);
	CHECK(cfg->arch.layer[1].units == 26);
	CHECK(cfg->arch.layer[1].act == NN_ACT_SOFTMAX);
	CHECK(cfg->arch.loss == NN_LOSS_CROSS_ENTROPY);
	want = xasprintf("%s/letter.csv", unit_tmpdir());
	CHECK(strcmp(cfg->train_src.jpath, "data.train") == 0);
	CHECK(cfg->train_src.format == NN_FORMAT_CSV);
	CHECK(strcmp(cfg->train_src.path, want) == 0);
	CHECK(cfg->train_src.label == 0 && cfg->train_src.header == 1);
	CHECK(cfg->train_src.targets == NULL && cfg->train_src.inputs == NULL);
	CHECK(cfg->train_src.row_lo == 0 && cfg->train_src.row_hi == 16000);
	CHECK(cfg->has_test);
	CHECK(strcmp(cfg->test_src.jpath, "data.test") == 0);
	CHECK(strcmp(cfg->test_src.path, want) == 0);
	CHECK(cfg->test_src.row_lo == 16000 && cfg->test_src.row_hi == 20000);
	CHECK(cfg->normalize == NN_NORM_STANDARD);
	CHECK(cfg->split == 0);
	CHECK(cfg->train.epochs == 30 && cfg->train.batch == 32);
	CHECK(cfg->train.seed == 1 && cfg->train.shuffle == 1);
	CHECK(cfg->train.optim.type == NN_OPTIM_ADAM);
	CHECK(cfg->train.optim.lr == 0.001f);
	CHECK(cfg->train.optim.beta1 == 0.9f && cfg->train.optim.eps > 0);
	CHECK(json_is_object(cfg->root));
end:
	nn_config_free(cfg);
	free(path);
	free(cause);
	free(want);
	free(text);
}

/* Every default of a minimal document, and the loss default. */
static void
test_defaults(void)
{
	struct nn_config *cfg = NULL;
	struct nn_optim_spec sgd;
	char *cause = NULL;

	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA "}");
	CHECK(strcmp(cfg->name, "net") == 0);
	CHECK(!cfg->input_given && cfg->arch.input == 0);
	CHECK(!cfg->output_given && cfg->arch.layer[1].units == 0);
	CHECK(cfg->arch.nlayers == 2);
	CHECK(cfg->arch.layer[0].act == NN_ACT_RELU);
	CHECK(cfg->arch.layer[1].act == NN_ACT_LINEAR);
	CHECK(cfg->arch.layer[1].init == NN_INIT_TORCH);
	CHECK(cfg->arch.loss == NN_LOSS_MSE);
	CHECK(cfg->arch.leaky_slope == 0.01f);
	CHECK(cfg->normalize == NN_NORM_NONE);
	CHECK(!cfg->has_test && cfg->split == 0);
	CHECK(cfg->train.epochs == 10 && cfg->train.batch == 32);
	CHECK(cfg->train.seed == 1 && cfg->train.shuffle == 1);
	nn_optim_spec_default(&sgd, NN_OPTIM_SGD);
	CHECK(cfg->train.optim.type == NN_OPTIM_SGD);
	CHECK(cfg->train.optim.lr == sgd.lr);
	CHECK(cfg->train.optim.momentum == 0 && !cfg->train.optim.nesterov);
	CHECK(cfg->train.optim.weight_decay == 0);

	/* Softmax output: cross-entropy unless loss says otherwise. */
	EXPECT_OK("{'layers': [{'units': 4, 'activation': 'tanh', 'init': "
	    "'xavier'}, {'activation': 'softmax'}], " XOR_DATA "}");
	CHECK(cfg->arch.loss == NN_LOSS_CROSS_ENTROPY);
	CHECK(cfg->arch.layer[0].act == NN_ACT_TANH);
	CHECK(cfg->arch.layer[0].init == NN_INIT_XAVIER);
	EXPECT_OK("{'layers': [{'units': 3, 'activation': 'softmax'}], "
	    "'loss': 'mse', " XOR_DATA "}");
	CHECK(cfg->arch.loss == NN_LOSS_MSE && cfg->output_given);
	EXPECT_OK("{'layers': [{'units': 1, 'activation': 'sigmoid'}], "
	    "'loss': 'cross_entropy', 'leaky_slope': 0.2, "
	    "'train': {'shuffle': false, 'seed': 0, 'epochs': 1e3, "
	    "'batch': 8.0, 'optimizer': 'adam'}, " XOR_DATA "}");
	CHECK(cfg->arch.leaky_slope == 0.2f);
	CHECK(cfg->train.shuffle == 0 && cfg->train.seed == 0);
	CHECK(cfg->train.epochs == 1000 && cfg->train.batch == 8);
	CHECK(cfg->train.optim.type == NN_OPTIM_ADAM);

	/* parallel is reserved: any object stays in the document. */
	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA ", 'parallel': {'anything': "
	    "[1, 2]}}");
	CHECK(json_is_object(json_object_get(cfg->root, "parallel")));
end:
	nn_config_free(cfg);
	free(cause);
}

/* name: from the file stem, or checked when given. */
static void
test_name(void)
{
	struct nn_config *cfg = NULL;
	json_t *root = NULL;
	char *cause = NULL;

	root = json_loads("{\"layers\": [{\"units\": 1}], \"data\": {\"train\":"
	    " {\"generate\": \"xor\"}}}", 0, NULL);
	CHECK(root != NULL);
	cfg = nn_config_parse(root, "/x/y/letters.v2.json", NULL, &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->name, "letters.v2") == 0);
	nn_config_free(cfg);
	cfg = nn_config_parse(root, "plain", NULL, &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->name, "plain") == 0);
	/* The configuration keeps its own reference. */
	CHECK(root->refcount == 2);

	EXPECT_ERR("{'name': 'a/b', " ONE_LAYER ", " XOR_DATA "}",
	    "net.json: name: expected 1 to 128 characters");
	EXPECT_ERR("{'name': '', " ONE_LAYER ", " XOR_DATA "}",
	    "net.json: name: expected 1 to 128 characters");
	EXPECT_ERR("{'name': 3, " ONE_LAYER ", " XOR_DATA "}",
	    "net.json: name: expected a string, got number");
end:
	nn_config_free(cfg);
	json_decref(root);
	free(cause);
}

/* Relative paths follow net.json's folder; absolute ones stay. */
static void
test_paths(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL, *want = NULL, *text = NULL, *path = NULL;
	char *abs = NULL, cwd[PATH_MAX];
	int moved = 0;

	put_fixtures();
	/* Relative to the folder of net.json. */
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'path': 'xor.data'}, "
	    "'test': {'path': 'xor.test'}}}");
	want = xasprintf("%s/xor.data", unit_tmpdir());
	CHECK(strcmp(cfg->train_src.path, want) == 0);
	CHECK(cfg->train_src.format == NN_FORMAT_FANN);
	CHECK(cfg->test_src.format == NN_FORMAT_FANN);
	free(want);
	want = xasprintf("%s/xor.test", unit_tmpdir());
	CHECK(strcmp(cfg->test_src.path, want) == 0);

	/* Absolute paths stay as they are. */
	abs = xasprintf("%s/sub", unit_tmpdir());
	if (mkdir(abs, 0700) != 0 && errno != EEXIST)
		CHECK(0);
	free(want);
	want = xasprintf("%s/xor.train", unit_tmpdir());
	text = xasprintf("{'layers': [{'units': 1}], 'data': {'train': "
	    "{'path': '%s', 'format': 'fann'}}}", want);
	free(path);
	path = dq(text);
	free(text);
	text = xasprintf("%s/net.json", abs);
	free(put("sub/net.json", path));
	nn_config_free(cfg);
	cfg = nn_config_load(text, &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->dir, abs) == 0);
	CHECK(strcmp(cfg->train_src.path, want) == 0);
	nn_config_free(cfg);
	cfg = NULL;

	/* A relative net.json: the folder becomes absolute. */
	CHECK(getcwd(cwd, sizeof cwd) != NULL);
	CHECK(chdir(unit_tmpdir()) == 0);
	moved = 1;
	free(put("rel.json", "{\"layers\": [{\"units\": 1}], \"data\": "
	    "{\"train\": {\"path\": \"xor.data\"}}}"));
	cfg = nn_config_load("rel.json", &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->path, "rel.json") == 0);
	CHECK(cfg->dir[0] == '/');
	CHECK(strcmp(cfg->name, "rel") == 0);
	free(want);
	want = xasprintf("%s/xor.data", cfg->dir);
	CHECK(strcmp(cfg->train_src.path, want) == 0);
	CHECK(access(cfg->train_src.path, R_OK) == 0);
	nn_config_free(cfg);
	cfg = nn_config_load("./sub/../rel.json", &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(cfg->dir[0] == '/' && access(cfg->train_src.path, R_OK) == 0);
end:
	if (moved && chdir(cwd) != 0)
		perror(cwd);
	nn_config_free(cfg);
	free(cause);
	free(want);
	free(text);
	free(path);
	free(abs);
}

/* A data file that cannot be opened fails at load, by JSON path. */
static void
test_missing_file(void)
{
	char *cause = NULL, *want = NULL;

	want = xasprintf("net.json: data.train.path: cannot open "
	    "\"%s/nope.csv\": No such file or directory", unit_tmpdir());
	free(cause);
	cause = parse_error("{" ONE_LAYER ", 'data': {'train': {'path': "
	    "'nope.csv', 'label': 0}}}");
	CHECKF(cause != NULL && strcmp(cause, want) == 0, "got %s", cause);
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'test': {'path': '/nonexistent/x.data'}}}",
	    "net.json: data.test.path: cannot open \"/nonexistent/x.data\": "
	    "No such file or directory");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'images': 'img.idx', "
	    "'labels': 'nolab.idx'}}}", "net.json: data.train.labels: "
	    "cannot open");
	/* A folder is no data file. */
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': '.', "
	    "'format': 'fann'}}}", "net.json: data.train.path: cannot open");
	CHECK(strstr(cause, "Is a directory") != NULL);
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': '', "
	    "'format': 'fann'}}}", "net.json: data.train.path: empty");
end:
	free(cause);
	free(want);
}

/* Format inference, idx, and keys that belong to another format. */
static void
test_formats(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL, *want = NULL;

	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'images': 'img.idx', "
	    "'labels': 'lab.idx'}, 'test': {'format': 'idx', 'images': "
	    "'img.idx', 'labels': 'lab.idx'}}}");
	want = xasprintf("%s/img.idx", unit_tmpdir());
	CHECK(cfg->train_src.format == NN_FORMAT_IDX);
	CHECK(cfg->test_src.format == NN_FORMAT_IDX);
	CHECK(strcmp(cfg->train_src.images, want) == 0);
	CHECK(cfg->train_src.labels != NULL && cfg->train_src.path == NULL);
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'path': 'data.txt', "
	    "'format': 'fann'}}}");
	CHECK(cfg->train_src.format == NN_FORMAT_FANN);
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'path': 'xor.train'}}}");
	CHECK(cfg->train_src.format == NN_FORMAT_FANN);

	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': 'data.txt'}}}",
	    "net.json: data.train.format: missing");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': 'data.txt', "
	    "'format': 'tsv'}}}",
	    "net.json: data.train.format: unknown \"tsv\" (expected fann, "
	    "csv, idx)");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': 'xor.data', "
	    "'header': true}}}", "net.json: data.train.header: not used by "
	    "format fann (expected path, format)");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': 'xor.data', "
	    "'bogus': 1}}}", "net.json: data.train.bogus: unknown key "
	    "(expected path, format)");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'format': 'idx', "
	    "'path': 'xor.data'}}}", "net.json: data.train.path: not used by "
	    "format idx");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'images': 'img.idx'}}}",
	    "net.json: data.train.labels: missing");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {}}}",
	    "net.json: data.train: no data");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': 'xor.data'}}",
	    "net.json: data.train: expected an object, got string");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'path': 7}}}",
	    "net.json: data.train.path: expected a string, got number");
end:
	nn_config_free(cfg);
	free(cause);
	free(want);
}

/* csv columns, rows and their errors. */
static void
test_csv(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL;

	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'path': 'letter.csv', "
	    "'targets': [2, 1], 'inputs': [0]}}}");
	CHECK(cfg->train_src.format == NN_FORMAT_CSV);
	CHECK(cfg->train_src.label == -1 && cfg->train_src.header == 0);
	CHECK(cfg->train_src.ntargets == 2);
	CHECK(cfg->train_src.targets[0] == 2 && cfg->train_src.targets[1] == 1);
	CHECK(cfg->train_src.ninputs == 1 && cfg->train_src.inputs[0] == 0);
	CHECK(cfg->train_src.row_lo == -1 && cfg->train_src.row_hi == -1);
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'path': 'letter.csv', "
	    "'label': 0, 'inputs': [2, 1], 'rows': [1, 2]}, 'split': 0.25}}");
	CHECK(cfg->train_src.label == 0 && cfg->train_src.ntargets == 0);
	CHECK(cfg->train_src.row_lo == 1 && cfg->train_src.row_hi == 2);
	CHECK(cfg->split == 0.25 && !cfg->has_test);

#define CSV(rest) "{" ONE_LAYER ", 'data': {'train': {'path': "	\
	"'letter.csv', " rest "}}}"
	EXPECT_ERR(CSV("'header': true"), "net.json: data.train.label: "
	    "missing");
	EXPECT_ERR(CSV("'label': 0, 'targets': [1]"),
	    "net.json: data.train.targets: cannot be used with label");
	EXPECT_ERR(CSV("'label': -1"), "net.json: data.train.label: expected "
	    "an integer from 0 to 1048575, got -1");
	EXPECT_ERR(CSV("'label': '0'"), "net.json: data.train.label: expected "
	    "an integer, got string");
	EXPECT_ERR(CSV("'targets': []"), "net.json: data.train.targets: "
	    "expected 1 to");
	EXPECT_ERR(CSV("'targets': [1, 1]"), "net.json: data.train.targets[1]: "
	    "column 1 appears twice");
	EXPECT_ERR(CSV("'label': 0, 'inputs': [1, 0]"),
	    "net.json: data.train.inputs[1]: column 0 is also the label");
	EXPECT_ERR(CSV("'targets': [2], 'inputs': [1, 2]"),
	    "net.json: data.train.inputs[1]: column 2 is also a target");
	EXPECT_ERR(CSV("'label': 0, 'inputs': 1"), "net.json: "
	    "data.train.inputs: expected an array of column numbers, got "
	    "number");
	EXPECT_ERR(CSV("'label': 0, 'rows': [5, 5]"), "net.json: "
	    "data.train.rows: expected [first, end] with first < end, got "
	    "[5, 5]");
	EXPECT_ERR(CSV("'label': 0, 'rows': [5]"), "net.json: "
	    "data.train.rows: expected [first, end], two integers, got 1 "
	    "items");
	EXPECT_ERR(CSV("'label': 0, 'rows': [-1, 5]"), "net.json: "
	    "data.train.rows[0]: expected an integer from 0");
	EXPECT_ERR(CSV("'label': 0, 'header': 1"), "net.json: "
	    "data.train.header: expected true or false, got number");
	EXPECT_ERR(CSV("'label': 0, 'n': 5"), "net.json: data.train.n: not "
	    "used by format csv");
#undef CSV
end:
	nn_config_free(cfg);
	free(cause);
}

/* Each generator's defaults, overrides and limits. */
static void
test_generate(void)
{
	static const struct {
		const char	*name;
		enum nn_generator gen;
		int		 inputs, classes;
	} grid[] = {
		{ "xor", NN_GEN_XOR, 2, 2 },
		{ "spiral", NN_GEN_SPIRAL, 2, 3 },
		{ "blobs", NN_GEN_BLOBS, 2, 3 },
		{ "parity", NN_GEN_PARITY, 8, 2 },
	};
	struct nn_config *cfg = NULL;
	struct nn_source *s;
	char *cause = NULL, *text = NULL;
	size_t i;

	for (i = 0; i < sizeof grid / sizeof grid[0]; i++) {
		free(text);
		text = xasprintf("{" ONE_LAYER ", 'data': {'train': "
		    "{'generate': '%s'}}}", grid[i].name);
		EXPECT_OK(text);
		s = &cfg->train_src;
		CHECKF(s->format == NN_FORMAT_GENERATE && s->gen == grid[i].gen,
		    "%s", grid[i].name);
		CHECKF(s->gen_n == 1000 && s->gen_seed == 1 &&
		    s->gen_noise == -1, "%s", grid[i].name);
		CHECKF(s->gen_inputs == grid[i].inputs, "%s: inputs %d",
		    grid[i].name, s->gen_inputs);
		CHECKF(s->gen_classes == grid[i].classes, "%s: classes %d",
		    grid[i].name, s->gen_classes);
		CHECK(s->path == NULL && s->label == -1);
	}
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'generate': 'blobs', "
	    "'n': 50, 'inputs': 3, 'classes': 5, 'seed': 9, 'noise': 0.5}, "
	    "'test': {'generate': 'blobs', 'n': 20, 'seed': 10}}}");
	s = &cfg->train_src;
	CHECK(s->gen_n == 50 && s->gen_inputs == 3 && s->gen_classes == 5);
	CHECK(s->gen_seed == 9 && s->gen_noise == 0.5);
	CHECK(cfg->has_test && cfg->test_src.gen_seed == 10);
	CHECK(cfg->test_src.gen_n == 20);

#define GEN(rest) "{" ONE_LAYER ", 'data': {'train': {" rest "}}}"
	EXPECT_ERR(GEN("'generate': 'moons'"), "net.json: data.train.generate: "
	    "unknown \"moons\"");
	EXPECT_ERR(GEN("'generate': 'xor', 'classes': 3"),
	    "net.json: data.train.classes: expected 2, got 3");
	EXPECT_ERR(GEN("'generate': 'spiral', 'inputs': 3"),
	    "net.json: data.train.inputs: expected 2, got 3");
	EXPECT_ERR(GEN("'generate': 'blobs', 'n': 0"),
	    "net.json: data.train.n: expected an integer from 1 to");
	EXPECT_ERR(GEN("'generate': 'blobs', 'noise': -2"),
	    "net.json: data.train.noise: expected a number from 0 to 1e+06, "
	    "or -1 for the generator's default, got -2");
	EXPECT_ERR(GEN("'generate': 'blobs', 'noise': 1e7"),
	    "net.json: data.train.noise: expected a number from 0 to 1e+06");
	EXPECT_ERR(GEN("'generate': 'xor', 'seed': -1"),
	    "net.json: data.train.seed: expected an integer of at least 0, "
	    "got -1");
	EXPECT_ERR(GEN("'generate': 'xor', 'path': 'xor.data'"),
	    "net.json: data.train.path: not used by generated data (expected "
	    "generate, n, inputs, classes, seed, noise)");
	EXPECT_ERR(GEN("'generate': 1"), "net.json: data.train.generate: "
	    "expected a string, got number");
#undef GEN
end:
	nn_config_free(cfg);
	free(cause);
	free(text);
}

/* Errors at the top level, in layers and in data, by JSON path. */
static void
test_errors(void)
{
	char *cause = NULL, *many = NULL, *p;
	int i;

	EXPECT_ERR("{" ONE_LAYER ", " XOR_DATA ", 'epochs': 3}",
	    "net.json: epochs: unknown key (expected name, input, layers, "
	    "loss, leaky_slope, data, train, parallel)");
	EXPECT_ERR("{'layers': [{'units': 4}, {'units': 2, 'activaton': "
	    "'relu'}], " XOR_DATA "}", "net.json: layers[1].activaton: "
	    "unknown key (expected units, activation, init, dropout)");
	EXPECT_ERR("{'layers': [{'units': 4}, {'units': 4}, {'activation': "
	    "'relux'}], " XOR_DATA "}", "net.json: layers[2].activation: "
	    "unknown \"relux\" (expected linear, sigmoid, tanh, relu, "
	    "leaky_relu, softmax)");
	EXPECT_ERR("{'layers': [{'units': -3}, {}], " XOR_DATA "}",
	    "net.json: layers[0].units: expected an integer from 1 to "
	    "1048576, got -3");
	EXPECT_ERR("{'layers': [{'units': 0}], " XOR_DATA "}",
	    "net.json: layers[0].units: expected an integer from 1 to "
	    "1048576, got 0");
	EXPECT_ERR("{'layers': [{'units': 2.5}], " XOR_DATA "}",
	    "net.json: layers[0].units: expected an integer, got 2.5");
	EXPECT_ERR("{'layers': [{'units': '4'}], " XOR_DATA "}",
	    "net.json: layers[0].units: expected an integer, got string");
	EXPECT_ERR("{'layers': [{'units': 1048577}], " XOR_DATA "}",
	    "net.json: layers[0].units: expected an integer from 1 to "
	    "1048576, got 1048577");
	EXPECT_ERR("{'layers': [{}, {}], " XOR_DATA "}",
	    "net.json: layers[0].units: missing");
	EXPECT_ERR("{'layers': [4], " XOR_DATA "}",
	    "net.json: layers[0]: expected an object, got number");
	EXPECT_ERR("{'layers': [], " XOR_DATA "}",
	    "net.json: layers: expected 1 to 64 layers, got 0");
	EXPECT_ERR("{'layers': {}, " XOR_DATA "}",
	    "net.json: layers: expected an array of layers, got object");
	EXPECT_ERR("{" XOR_DATA "}", "net.json: layers: missing");
	EXPECT_ERR("{'layers': [{'units': 2, 'init': 'glorot'}], " XOR_DATA "}",
	    "net.json: layers[0].init: unknown \"glorot\" (expected auto, he, "
	    "xavier, torch)");
	EXPECT_ERR("{'input': 0, " ONE_LAYER ", " XOR_DATA "}",
	    "net.json: input: expected an integer from 1 to 1048576, got 0");
	EXPECT_ERR("{" ONE_LAYER ", 'loss': 'hinge', " XOR_DATA "}",
	    "net.json: loss: unknown \"hinge\" (expected mse, cross_entropy)");
	EXPECT_ERR("{" ONE_LAYER ", 'leaky_slope': 1, " XOR_DATA "}",
	    "net.json: leaky_slope: expected a number from 0 to below 1, "
	    "got 1");
	EXPECT_ERR("{" ONE_LAYER ", 'leaky_slope': 1e300, " XOR_DATA "}",
	    "net.json: leaky_slope: expected a number that fits a float");
	EXPECT_ERR("{" ONE_LAYER ", 'parallel': 1, " XOR_DATA "}",
	    "net.json: parallel: expected an object, got number");

	/* Too many layers. */
	many = xmalloc(64 * 16 + 64);
	p = many + sprintf(many, "{'layers': [");
	for (i = 0; i < 65; i++)
		p += sprintf(p, "%s{'units': 1}", i > 0 ? ", " : "");
	sprintf(p, "], " XOR_DATA "}");
	EXPECT_ERR(many, "net.json: layers: expected 1 to 64 layers, got 65");

	/* data */
	EXPECT_ERR("{" ONE_LAYER "}", "net.json: data: missing (expected an "
	    "object with train)");
	EXPECT_ERR("{" ONE_LAYER ", 'data': []}", "net.json: data: expected an "
	    "object, got array");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {}}", "net.json: data.train: "
	    "missing");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'test': {'generate': 'xor'}, 'split': 0.2}}",
	    "net.json: data.split: cannot be used with data.test");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'split': 1}}", "net.json: data.split: expected a number between "
	    "0 and 1");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'split': 0}}", "net.json: data.split: expected a number between "
	    "0 and 1");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'normalize': 'zscore'}}", "net.json: data.normalize: unknown "
	    "\"zscore\"");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'valid': {}}}", "net.json: data.valid: unknown key (expected "
	    "train, test, split, normalize, validation, validation_split)");

	/* The pairing of loss and output is checked as soon as it is known. */
	EXPECT_ERR("{'layers': [{'units': 2}], 'loss': 'cross_entropy', "
	    XOR_DATA "}", "net.json: loss: ");
	EXPECT_ERR("{'layers': [{}], 'loss': 'cross_entropy', " XOR_DATA "}",
	    "net.json: loss: ");
end:
	free(cause);
	free(many);
}

/* Errors in train and its optimizer, by JSON path. */
static void
test_train_errors(void)
{
	char *cause = NULL;

#define TRAIN(rest) "{" ONE_LAYER ", " XOR_DATA ", 'train': {" rest "}}"
	free(cause);
	cause = parse_error(TRAIN("'epochs': '30'"));
	CHECKF(cause != NULL && strcmp(cause, "net.json: train.epochs: "
	    "expected an integer, got string") == 0, "got %s", cause);
	EXPECT_ERR(TRAIN("'epochs': 0"), "net.json: train.epochs: expected an "
	    "integer from 1 to 10000000, got 0");
	EXPECT_ERR(TRAIN("'batch': 1048577"), "net.json: train.batch: expected "
	    "an integer from 1 to 1048576, got 1048577");
	EXPECT_ERR(TRAIN("'seed': -1"), "net.json: train.seed: expected an "
	    "integer of at least 0, got -1");
	EXPECT_ERR(TRAIN("'seed': 1e300"), "net.json: train.seed: expected an "
	    "integer of at least 0, got 1e+300");
	EXPECT_ERR(TRAIN("'shuffle': 'yes'"), "net.json: train.shuffle: "
	    "expected true or false, got string");
	EXPECT_ERR(TRAIN("'weight_decay': 0.1"), "net.json: "
	    "train.weight_decay: unknown key (expected epochs, batch, seed, "
	    "shuffle, optimizer, early_stopping, schedule)");
	EXPECT_ERR("{" ONE_LAYER ", " XOR_DATA ", 'train': 3}",
	    "net.json: train: expected an object, got number");

	EXPECT_ERR(TRAIN("'optimizer': 'adamx'"), "net.json: train.optimizer: "
	    "unknown \"adamx\" (expected sgd, adam, rprop, adamw)");
	EXPECT_ERR(TRAIN("'optimizer': 3"), "net.json: train.optimizer: "
	    "expected a name");
	EXPECT_ERR(TRAIN("'optimizer': {'lr': 0.1}"), "net.json: "
	    "train.optimizer.type: missing (expected sgd, adam, rprop, adamw)");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'nadam'}"), "net.json: "
	    "train.optimizer.type: unknown \"nadam\"");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'adam', 'momentum': 0.9}"),
	    "net.json: train.optimizer.momentum: not used by adam (expected "
	    "type, lr, beta1, beta2, eps, weight_decay, clip_norm)");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'rprop', 'lr': 0.1}"),
	    "net.json: train.optimizer.lr: not used by rprop");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'nesterov': true, "
	    "'beta1': 0.5}"), "net.json: train.optimizer.beta1: not used by "
	    "sgd");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'lr2': 0.1}"),
	    "net.json: train.optimizer.lr2: unknown key (expected type, "
	    "nesterov, lr, momentum, weight_decay, clip_norm)");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'lr': 0}"),
	    "net.json: train.optimizer.lr: expected a number > 0, got 0");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'lr': '0.1'}"),
	    "net.json: train.optimizer.lr: expected a number, got string");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'momentum': 1}"),
	    "net.json: train.optimizer.momentum: expected a number from 0 to "
	    "below 1, got 1");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'nesterov': true}"),
	    "net.json: train.optimizer.nesterov: needs momentum > 0");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'sgd', 'weight_decay': -1}"),
	    "net.json: train.optimizer.weight_decay: expected a number >= 0");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'adam', 'beta2': 1}"),
	    "net.json: train.optimizer.beta2: expected a number from 0 to "
	    "below 1");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'adam', 'eps': 0}"),
	    "net.json: train.optimizer.eps: expected a number > 0");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'rprop', 'eta_plus': 1}"),
	    "net.json: train.optimizer.eta_plus: expected a number > 1");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'rprop', 'eta_minus': 1}"),
	    "net.json: train.optimizer.eta_minus: expected a number between 0 "
	    "and 1");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'rprop', 'delta_min': 0}"),
	    "net.json: train.optimizer.delta_min: expected a number > 0");
	EXPECT_ERR(TRAIN("'optimizer': {'type': 'rprop', 'delta_max': 0.01}"),
	    "net.json: train.optimizer: expected delta_min <= delta0 <= "
	    "delta_max, got delta_min 1e-06, delta0 0.1, delta_max 0.01");
#undef TRAIN
end:
	free(cause);
}

/* Optimizer objects set exactly the keys they name. */
static void
test_optimizers(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL;

	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA ", 'train': {'optimizer': "
	    "{'type': 'sgd', 'lr': 0.5, 'momentum': 0.9, 'nesterov': true, "
	    "'weight_decay': 0.0001}}}");
	CHECK(cfg->train.optim.type == NN_OPTIM_SGD);
	CHECK(cfg->train.optim.lr == 0.5f && cfg->train.optim.momentum == 0.9f);
	CHECK(cfg->train.optim.nesterov == 1);
	CHECK(cfg->train.optim.weight_decay == 0.0001f);
	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA ", 'train': {'optimizer': "
	    "{'type': 'rprop', 'eta_plus': 1.5, 'eta_minus': 0.25, 'delta0': "
	    "0.2, 'delta_min': 0.001, 'delta_max': 10}}}");
	CHECK(cfg->train.optim.type == NN_OPTIM_RPROP);
	CHECK(cfg->train.optim.eta_plus == 1.5f);
	CHECK(cfg->train.optim.eta_minus == 0.25f);
	CHECK(cfg->train.optim.delta0 == 0.2f);
	CHECK(cfg->train.optim.delta_min == 0.001f);
	CHECK(cfg->train.optim.delta_max == 10.0f);
	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA ", 'train': {'optimizer': "
	    "{'type': 'adam', 'beta1': 0, 'beta2': 0.99, 'eps': 1e-6}}}");
	CHECK(cfg->train.optim.lr == 0.001f && cfg->train.optim.beta1 == 0);
	CHECK(cfg->train.optim.beta2 == 0.99f && cfg->train.optim.eps == 1e-6f);
end:
	nn_config_free(cfg);
	free(cause);
}

/* Errors about the file itself, and escaping of odd text. */
static void
test_load_errors(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL, *path = NULL, *want = NULL;
	int fd = -1;

	path = xasprintf("%s/absent.json", unit_tmpdir());
	cfg = nn_config_load(path, &cause);
	want = xasprintf("%s: cannot open: No such file or directory", path);
	CHECK(cfg == NULL && cause != NULL && strcmp(cause, want) == 0);

	/* Syntax errors carry Jansson's line and column. */
	free(path);
	path = put("syntax.json", "{\n  \"layers\": [],\n  \"data\": {,\n}\n");
	free(cause);
	cause = NULL;
	cfg = nn_config_load(path, &cause);
	free(want);
	want = xasprintf("%s:3:", path);
	CHECKF(cfg == NULL && starts(cause, want), "%s", cause);
	CHECK(strstr(cause, ": JSON syntax error: ") != NULL);
	CHECK(strchr(cause, '\n') == NULL);

	free(path);
	path = put("dup.json", "{\"layers\": [], \"layers\": []}");
	free(cause);
	cause = NULL;
	cfg = nn_config_load(path, &cause);
	CHECKF(cfg == NULL && strstr(cause, "JSON syntax error: duplicate") !=
	    NULL, "%s", cause);

	free(path);
	path = put("empty.json", "");
	free(cause);
	cause = NULL;
	cfg = nn_config_load(path, &cause);
	CHECKF(cfg == NULL && strstr(cause, "JSON syntax error") != NULL,
	    "%s", cause);

	free(path);
	path = put("array.json", "[1, 2]");
	free(cause);
	cause = NULL;
	cfg = nn_config_load(path, &cause);
	free(want);
	want = xasprintf("%s: expected a JSON object at the top level, got "
	    "array", path);
	CHECKF(cfg == NULL && strcmp(cause, want) == 0, "%s", cause);

	/* Too large: refused from its size, before reading (sparse file). */
	free(path);
	path = xasprintf("%s/huge.json", unit_tmpdir());
	CHECK((fd = open(path, O_WRONLY|O_CREAT|O_TRUNC, 0600)) != -1);
	CHECK(ftruncate(fd, NN_MAX_CONFIG + 1) == 0);
	close(fd);
	fd = -1;
	free(cause);
	cause = NULL;
	cfg = nn_config_load(path, &cause);
	free(want);
	want = xasprintf("%s: too large: %d bytes (limit %d)", path,
	    NN_MAX_CONFIG + 1, NN_MAX_CONFIG);
	CHECKF(cfg == NULL && strcmp(cause, want) == 0, "%s", cause);
	unlink(path);

	/* A folder is not a readable file. */
	free(cause);
	cause = NULL;
	cfg = nn_config_load(unit_tmpdir(), &cause);
	CHECKF(cfg == NULL && strstr(cause, "Is a directory") != NULL, "%s",
	    cause);

	/* Odd user text cannot break the one-line rule. */
	EXPECT_ERR("{'layers': [{'units': 2, 'activation': 're\\nlu'}], "
	    XOR_DATA "}", "net.json: layers[0].activation: unknown "
	    "\"re\\x0alu\"");
	EXPECT_ERR("{'layers': [{'units': 2, 'a\\tb': 1}], " XOR_DATA "}",
	    "net.json: layers[0].\"a\\x09b\": unknown key");
	EXPECT_ERR("{'layers': [{'units': 2, 'activation': "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "'}], " XOR_DATA "}", "net.json: layers[0].activation: unknown "
	    "\"aaaa");
	CHECK(strstr(cause, "...\" (expected") != NULL);
	CHECK(strlen(cause) < 200);
end:
	if (fd != -1)
		close(fd);
	nn_config_free(cfg);
	free(cause);
	free(path);
	free(want);
}

/* Input and output sizes from the data, and the final check. */
static void
test_fit_data(void)
{
	struct nn_config *cfg = NULL;
	struct nn_data d;
	char *cause = NULL;

	memset(&d, 0, sizeof d);
	d.n = 4;
	d.in = 2;
	d.out = 3;

	/* Both ends from the data. */
	EXPECT_OK("{" ONE_LAYER ", " XOR_DATA "}");
	CHECKF(nn_config_fit_data(cfg, &d, &cause) == 0, "%s", cause);
	CHECK(cfg->arch.input == 2 && cfg->arch.layer[1].units == 3);
	CHECK(!cfg->input_given && !cfg->output_given);

	/* Given ends are checked. */
	EXPECT_OK("{'input': 17, 'layers': [{'units': 4}, {'units': 3}], "
	    XOR_DATA "}");
	free(cause);
	cause = NULL;
	CHECK(nn_config_fit_data(cfg, &d, &cause) == -1);
	CHECKF(strcmp(cause, "net.json: input: 17 but data.train has 2 input "
	    "columns") == 0, "%s", cause);
	CHECK(cfg->arch.input == 17);
	EXPECT_OK("{'input': 2, 'layers': [{'units': 4}, {'units': 5}], "
	    XOR_DATA "}");
	free(cause);
	cause = NULL;
	CHECK(nn_config_fit_data(cfg, &d, &cause) == -1);
	CHECKF(strcmp(cause, "net.json: layers[1].units: 5 but data.train has "
	    "3 outputs") == 0, "%s", cause);
	EXPECT_OK("{'input': 2, 'layers': [{'units': 4}, {'units': 3}], "
	    XOR_DATA "}");
	CHECKF(nn_config_fit_data(cfg, &d, &cause) == 0, "%s", cause);

	/* nn_arch_check runs on the result, prefixed with the file. */
	EXPECT_OK("{'layers': [{'units': 4}, {'activation': 'softmax'}], "
	    XOR_DATA "}");
	d.out = 1;
	free(cause);
	cause = NULL;
	CHECK(nn_config_fit_data(cfg, &d, &cause) == -1);
	CHECKF(starts(cause, "net.json: layers[1]"), "%s", cause);
	CHECK(cfg->arch.input == 0 && cfg->arch.layer[1].units == 0);
	d.out = 2;
	CHECKF(nn_config_fit_data(cfg, &d, &cause) == 0, "%s", cause);
	CHECK(cfg->arch.layer[1].units == 2);

	d.in = 0;
	free(cause);
	cause = NULL;
	CHECK(nn_config_fit_data(cfg, &d, &cause) == -1);
	CHECKF(starts(cause, "net.json: data.train: 0 input columns"), "%s",
	    cause);
end:
	nn_config_free(cfg);
	free(cause);
}

/* The train section as JSON: its keys and a lossless round trip. */
static void
test_train_json(void)
{
	static const char *const optims[] = {
		"{'type': 'sgd', 'lr': 0.3, 'momentum': 0.8, 'nesterov': true, "
		"'weight_decay': 0.01}",
		"{'type': 'adam', 'lr': 0.002, 'beta1': 0.8, 'eps': 1e-7}",
		"{'type': 'rprop', 'eta_plus': 1.3, 'delta_max': 20}",
		"{'type': 'adamw', 'lr': 0.003, 'weight_decay': 0.05, "
		"'clip_norm': 1.5}, 'schedule': {'type': 'cosine', "
		"'warmup': 2, 'min_lr': 0.0001}",
	};
	struct nn_config *cfg = NULL, *again = NULL;
	json_t *j = NULL, *o, *root = NULL;
	char *cause = NULL, *text = NULL;
	const struct nn_optim_spec *a, *b;
	size_t i;

	for (i = 0; i < sizeof optims / sizeof optims[0]; i++) {
		free(text);
		text = xasprintf("{" ONE_LAYER ", " XOR_DATA ", 'train': "
		    "{'epochs': 7, 'batch': 5, 'seed': 123, 'shuffle': false, "
		    "'optimizer': %s}}", optims[i]);
		EXPECT_OK(text);
		json_decref(j);
		j = nn_train_spec_json(&cfg->train);
		CHECK(json_integer_value(json_object_get(j, "epochs")) == 7);
		CHECK(json_integer_value(json_object_get(j, "batch")) == 5);
		CHECK(json_integer_value(json_object_get(j, "seed")) == 123);
		CHECK(json_is_false(json_object_get(j, "shuffle")));
		o = json_object_get(j, "optimizer");
		CHECK(json_is_object(o));
		CHECK(json_object_get(o, "weight_decay") != NULL);
		switch (cfg->train.optim.type) {
		case NN_OPTIM_SGD:
			CHECK(json_is_true(json_object_get(o, "nesterov")));
			CHECK(json_object_get(o, "beta1") == NULL);
			CHECK(json_object_size(o) == 6);
			break;
		case NN_OPTIM_ADAM:
			CHECK(json_object_get(o, "momentum") == NULL);
			CHECK(json_object_get(o, "eps") != NULL);
			CHECK(json_object_size(o) == 7);
			break;
		case NN_OPTIM_ADAMW:
			CHECK(json_real_value(json_object_get(o,
			    "clip_norm")) == 1.5);
			CHECK(json_object_size(o) == 7);
			o = json_object_get(j, "schedule");
			CHECK(strcmp(json_string_value(json_object_get(o,
			    "type")), "cosine") == 0);
			CHECK(json_integer_value(json_object_get(o,
			    "warmup")) == 2);
			CHECK(json_object_size(o) == 3);
			break;
		case NN_OPTIM_RPROP:
			CHECK(json_object_get(o, "lr") == NULL);
			CHECK(json_object_get(o, "delta_max") != NULL);
			CHECK(json_object_size(o) == 7);
			break;
		}

		/* Read back, the section gives the same values. */
		json_decref(root);
		root = json_pack("{s:[{s:i}], s:{s:{s:s}}, s:O}", "layers",
		    "units", 2, "data", "train", "generate", "xor", "train", j);
		CHECK(root != NULL);
		nn_config_free(again);
		again = nn_config_parse(root, "net.json", NULL, &cause);
		CHECKF(again != NULL, "%s", cause);
		CHECK(again->train.epochs == 7 && again->train.batch == 5);
		CHECK(again->train.seed == 123 && again->train.shuffle == 0);
		a = &cfg->train.optim;
		b = &again->train.optim;
		CHECK(a->type == b->type && a->lr == b->lr);
		CHECK(a->momentum == b->momentum && a->nesterov == b->nesterov);
		CHECK(a->beta1 == b->beta1 && a->beta2 == b->beta2);
		CHECK(a->eps == b->eps && a->weight_decay == b->weight_decay);
		CHECK(a->eta_plus == b->eta_plus);
		CHECK(a->eta_minus == b->eta_minus);
		CHECK(a->delta0 == b->delta0 && a->delta_min == b->delta_min);
		CHECK(a->delta_max == b->delta_max);
		CHECK(a->clip_norm == b->clip_norm);
		CHECK(memcmp(&cfg->train.schedule, &again->train.schedule,
		    sizeof cfg->train.schedule) == 0);
	}
	nn_config_free(NULL);
end:
	nn_config_free(cfg);
	nn_config_free(again);
	json_decref(j);
	json_decref(root);
	free(cause);
	free(text);
}

/* The real letter set, when it sits beside the project. */
static void
test_shared_data(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL, *path = NULL, *text = NULL, *data = NULL;

	data = xasprintf("%s/../shared/data/uci/letter-recognition.csv",
	    unit_src(""));
	if (access(data, R_OK) != 0)
		SKIP("../shared/data/uci/letter-recognition.csv is absent");
	text = xasprintf("{\"layers\": [{\"units\": 8}, {\"activation\": "
	    "\"softmax\"}], \"data\": {\"train\": {\"path\": \"%s\", "
	    "\"label\": 0, \"header\": true}, \"split\": 0.2}}", data);
	path = put("shared.json", text);
	cfg = nn_config_load(path, &cause);
	CHECKF(cfg != NULL, "%s", cause);
	CHECK(strcmp(cfg->train_src.path, data) == 0);
	CHECK(cfg->train_src.format == NN_FORMAT_CSV);
end:
	nn_config_free(cfg);
	free(cause);
	free(path);
	free(text);
	free(data);
}

/* The parallel section's keys, refused with the list net-json.md gives. */
static void
test_job_keys(void)
{
	char *text = dq("{" ONE_LAYER ", " XOR_DATA ", 'parallel': "
	    "{'mode': 'session', 'sesions': []}}");
	json_t *root = json_loads(text, 0, NULL);
	struct nn_job job;
	char *cause = NULL;

	CHECK(root != NULL);
	CHECK(nn_job_parse(root, "net.json", 0, 1, &job, &cause) == -1);
	CHECKF(strcmp(cause, "net.json: parallel.sesions: unknown key "
	    "(expected mode, sessions, grid, search, select, partitions, "
	    "deterministic, retries, replicas, commit_epochs, "
	    "commit_seconds or limits)") == 0, "%s", cause);
	free(cause);
	cause = NULL;
	json_object_del(json_object_get(root, "parallel"), "sesions");
	CHECKF(nn_job_parse(root, "net.json", 0, 1, &job, &cause) == 0, "%s",
	    cause);
	CHECK(job.nsessions == 1);
	CHECK(job.retries == NN_JOB_RETRIES);
	nn_job_clear(&job);
end:
	free(cause);
	free(text);
	json_decref(root);
}

/* parallel.retries: 0 to 100 in session mode, refused in data mode. */
static void
test_job_retries(void)
{
	static const struct {
		const char	*parallel;
		int		 retries;	/* -1: refused */
		const char	*error;
		int		 replicas, epochs, seconds;
	} cases[] = {
		{ "{'retries': 0}", 0, NULL, 1, 1, 30 },
		{ "{'retries': 5}", 5, NULL, 1, 1, 30 },
		{ "{'retries': -1}", -1, "net.json: parallel.retries: expected "
		    "an integer from 0 to 100", 0, 0, 0 },
		{ "{'retries': 1.5}", -1, "net.json: parallel.retries: "
		    "expected an integer from 0 to 100", 0, 0, 0 },
		/* Data mode: retries only (a partition rebuilt after it
		 * failed on its own). */
		{ "{'mode': 'data', 'partitions': 2, 'retries': 1}", 1, NULL,
		    0, 0, 0 },
		{ "{'mode': 'data', 'partitions': 2}", 2, NULL, 0, 0, 0 },
		{ "{'mode': 'data', 'partitions': 2, 'retries': 101}", -1,
		    "net.json: parallel.retries: expected an integer from 0 "
		    "to 100", 0, 0, 0 },
		{ "{'replicas': 0, 'commit_epochs': 5, 'commit_seconds': 0}",
		    2, NULL, 0, 5, 0 },
		{ "{'replicas': 8, 'commit_epochs': 0, 'commit_seconds': 86400}",
		    2, NULL, 8, 0, 86400 },
		{ "{'replicas': 9}", -1, "net.json: parallel.replicas: expected "
		    "an integer from 0 to 8", 0, 0, 0 },
		{ "{'commit_seconds': '30'}", -1, "net.json: "
		    "parallel.commit_seconds: expected an integer from 0 to "
		    "86400", 0, 0, 0 },
		{ "{'commit_epochs': -2}", -1, "net.json: "
		    "parallel.commit_epochs: expected an integer from 0 to "
		    "100000", 0, 0, 0 },
		{ "{'mode': 'data', 'partitions': 2, 'replicas': 2}", -1,
		    "net.json: parallel.replicas: not used in data mode (a lost "
		    "partition is rebuilt from a live one, not from commits of "
		    "its own)", 0, 0, 0 },
	};
	char *text = NULL, *cause = NULL, *doc;
	json_t *root = NULL;
	struct nn_job job;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		doc = xasprintf("{" ONE_LAYER ", " XOR_DATA ", 'train': "
		    "{'batch': 4}, 'parallel': %s}", cases[i].parallel);
		text = dq(doc);
		free(doc);
		root = json_loads(text, 0, NULL);
		CHECK(root != NULL);
		if (cases[i].retries >= 0) {
			CHECKF(nn_job_parse(root, "net.json", 0, 1, &job,
			    &cause) == 0, "%s", cause);
			CHECK(job.retries == cases[i].retries);
			CHECK(job.replicas == cases[i].replicas);
			CHECK(job.commit_epochs == cases[i].epochs);
			CHECK(job.commit_seconds == cases[i].seconds);
			nn_job_clear(&job);
		} else {
			CHECK(nn_job_parse(root, "net.json", 0, 1, &job,
			    &cause) == -1);
			CHECKF(strcmp(cause, cases[i].error) == 0, "%s",
			    cause);
		}
		free(cause);
		cause = NULL;
		free(text);
		text = NULL;
		json_decref(root);
		root = NULL;
	}
end:
	free(cause);
	free(text);
	json_decref(root);
}

/* data.validation(_split) and train.early_stopping, by JSON path. */
static void
test_stopping(void)
{
	struct nn_config *cfg = NULL;
	char *cause = NULL;
	json_t *t = NULL;

#define VAL_DATA "'data': {'train': {'generate': 'xor'}, " \
	"'validation_split': 0.25}"
#define STOP(rest) "{" ONE_LAYER ", " VAL_DATA ", 'train': " \
	"{'early_stopping': {" rest "}}}"
	EXPECT_OK(STOP(""));
	CHECK(cfg->val_split == 0.25 && nn_config_has_validation(cfg));
	CHECK(cfg->train.stop.on && cfg->train.stop.monitor ==
	    NN_FIG_VAL_LOSS && cfg->train.stop.patience == 5 &&
	    cfg->train.stop.min_delta == 0 && !cfg->train.stop.restore_best);
	EXPECT_OK(STOP("'monitor': 'val_accuracy', 'patience': 2, "
	    "'min_delta': 0.01, 'restore_best': true"));
	CHECK(cfg->train.stop.monitor == NN_FIG_VAL_ACCURACY &&
	    cfg->train.stop.patience == 2 && cfg->train.stop.restore_best);
	/* The model's train section reads back to the same. */
	t = nn_train_spec_json(&cfg->train);
	CHECK(json_is_true(json_object_get(json_object_get(t,
	    "early_stopping"), "restore_best")));
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(t,
	    "early_stopping"), "monitor")), "val_accuracy") == 0);
	EXPECT_OK("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'validation': {'generate': 'xor', 'seed': 3}}}");
	CHECK(cfg->has_val && cfg->val_src.format == NN_FORMAT_GENERATE);

	EXPECT_ERR(STOP("'monitor': 'val_los'"), "net.json: "
	    "train.early_stopping.monitor: unknown \"val_los\" (expected "
	    "val_loss, val_accuracy, test_loss, test_accuracy, loss, "
	    "accuracy)");
	EXPECT_ERR(STOP("'patience': 0"), "net.json: "
	    "train.early_stopping.patience: expected an integer from 1 to");
	EXPECT_ERR(STOP("'min_delta': -1"), "net.json: "
	    "train.early_stopping.min_delta: expected a number >= 0, got -1");
	EXPECT_ERR(STOP("'restore_best': 1"), "net.json: "
	    "train.early_stopping.restore_best: expected true or false");
	EXPECT_ERR(STOP("'wait': 1"), "net.json: train.early_stopping.wait: "
	    "unknown key (expected monitor, patience, min_delta, "
	    "restore_best)");
	EXPECT_ERR("{" ONE_LAYER ", " XOR_DATA ", 'train': {'early_stopping': "
	    "{}}}", "net.json: train.early_stopping.monitor: \"val_loss\" "
	    "needs validation data (data.validation or "
	    "data.validation_split)");
	EXPECT_ERR(STOP("'monitor': 'test_loss'"), "net.json: "
	    "train.early_stopping.monitor: \"test_loss\" needs test data");
	EXPECT_ERR("{" ONE_LAYER ", " VAL_DATA ", 'train': {'early_stopping': "
	    "{}}, 'parallel': {'mode': 'data', 'partitions': 2}}",
	    "net.json: train.early_stopping: not used in data mode");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'validation_split': 1}}", "net.json: data.validation_split: "
	    "expected a number between 0 and 1");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'validation_split': 0.2, 'validation': {'generate': 'xor'}}}",
	    "net.json: data.validation_split: cannot be used with "
	    "data.validation");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'cache': 'set1'}, "
	    "'validation_split': 0.2}}", "net.json: data.validation_split: "
	    "cannot be used with a cached data.train");
	EXPECT_ERR("{" ONE_LAYER ", 'data': {'train': {'generate': 'xor'}, "
	    "'validation': {'generate': 'xor', 'n': 0}}}",
	    "net.json: data.validation.n: ");
#undef STOP
#undef VAL_DATA
end:
	json_decref(t);
	nn_config_free(cfg);
	free(cause);
}

static const struct unit_test tests[] = {
	{ "letters", test_letters },
	{ "defaults", test_defaults },
	{ "name", test_name },
	{ "paths", test_paths },
	{ "missing_file", test_missing_file },
	{ "formats", test_formats },
	{ "csv", test_csv },
	{ "generate", test_generate },
	{ "errors", test_errors },
	{ "train_errors", test_train_errors },
	{ "stopping", test_stopping },
	{ "optimizers", test_optimizers },
	{ "load_errors", test_load_errors },
	{ "fit_data", test_fit_data },
	{ "train_json", test_train_json },
	{ "shared_data", test_shared_data },
	{ "job_keys", test_job_keys },
	{ "job_retries", test_job_retries },
	{ NULL, NULL }
};

UNIT_MAIN("config", tests)
