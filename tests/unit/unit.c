/* Runs a table of tests and prints one ok/FAIL/skip line for each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "data/data.h"
#include "nn/blas.h"
#include "nn/net.h"
#include "nn/train.h"
#include "unit.h"

int unit_failed;
int unit_skipped;
static char unit_reason[512];
static char unit_dir[256];

void
unit_fail(const char *file, int line, const char *what)
{
	unit_failed = 1;
	snprintf(unit_reason, sizeof unit_reason, "%s:%d: %s", file, line,
	    what);
}

void
unit_skip(const char *reason)
{
	unit_skipped = 1;
	snprintf(unit_reason, sizeof unit_reason, "%s", reason);
}

const char *
unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	if (unit_dir[0] == '\0') {
		snprintf(unit_dir, sizeof unit_dir, "%s/nnsim-unit.XXXXXX",
		    base != NULL ? base : "/tmp");
		if (mkdtemp(unit_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return unit_dir;
}

const char *
unit_src(const char *relative)
{
	static char path[1024];
	char cwd[768];
	const char *root = getenv("NNSIM_SRC");

	/* Absolute, so it stays right wherever a test puts its files. */
	if (root == NULL)
		root = getcwd(cwd, sizeof cwd) != NULL ? cwd : ".";
	snprintf(path, sizeof path, "%s/%s", root, relative);
	return path;
}

int
unit_main(const char *group, const struct unit_test *t, int argc,
    char **argv)
{
	int failed = 0;
	char cmd[512];

	for (; t->name != NULL; t++) {
		if (argc > 1 && strstr(t->name, argv[1]) == NULL)
			continue;
		unit_failed = unit_skipped = 0;
		unit_reason[0] = '\0';
		t->fn();
		if (unit_failed) {
			printf("FAIL %s/%s: %s\n", group, t->name, unit_reason);
			failed++;
		} else if (unit_skipped)
			printf("skip %s/%s: %s\n", group, t->name, unit_reason);
		else
			printf("ok %s/%s\n", group, t->name);
		fflush(stdout);
	}
	if (unit_dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", unit_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", unit_dir);
	}
	return failed ? 1 : 0;
}

struct nn_data *
unit_blobs(long n, int inputs, int classes, uint64_t seed)
{
	struct nn_source src;
	struct nn_data *d = NULL;
	char *cause = NULL;

	memset(&src, 0, sizeof src);
	src.gen = NN_GEN_BLOBS;
	src.gen_n = n;
	src.gen_inputs = inputs;
	src.gen_classes = classes;
	src.gen_seed = seed;
	src.gen_noise = -1;
	if (nn_generate(&src, &d, &cause) != 0)
		fatal("blobs: %s", cause);
	return d;
}

struct nn_net *
unit_small_net(int inputs, int classes, int max_batch, uint64_t seed)
{
	struct nn_arch a;
	struct nn_net *net;

	memset(&a, 0, sizeof a);
	a.input = inputs;
	a.nlayers = 2;
	a.layer[0].units = 8;
	a.layer[0].act = NN_ACT_TANH;
	a.layer[1].units = classes;
	a.layer[1].act = NN_ACT_SOFTMAX;
	a.loss = NN_LOSS_CROSS_ENTROPY;
	net = nn_net_new(&a, max_batch);
	nn_net_init(net, seed);
	return net;
}

int
unit_restore_refused(struct nn_trainer *tr, const unsigned char *bad,
    size_t len, const char *want)
{
	char *cause = NULL;
	int ok;

	ok = nn_trainer_restore(tr, bad, len, &cause) == -1 &&
	    cause != NULL && strstr(cause, want) != NULL;
	if (!ok)
		fprintf(stderr, "cause: %s\n", cause ? cause : "(none)");
	free(cause);
	return ok;
}

void
unit_blas_init(void)
{
	char *cause = NULL;

	if (nn_blas_init(1, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		exit(1);
	}
}
