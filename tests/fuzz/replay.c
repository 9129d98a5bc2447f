/*
 * Runs a harness on files without libFuzzer: replay_NAME PATH... calls
 * LLVMFuzzerTestOneInput on each file, and on each file of each folder in
 * name order. The suite (tests/cli/fuzz.sh) replays the checked-in corpus
 * this way with gcc, so a machine without clang still runs every seed.
 * Prints each path before its run (the last one names a crash) and then
 * "replayed N inputs"; exits 1 on an unreadable path or an input
 * the harness refuses with anything but 0 or -1, and a crash is a crash.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "fuzz.h"

/* Runs the harness on one file; 0 or -1 with a message. */
static int
replay_file(const char *path)
{
	unsigned char *buf = NULL;
	char *text, *cause = NULL;
	size_t len;
	int rc = -1, r;

	if ((text = nn_read_file(path, 64 << 20, &len, &cause)) == NULL) {
		fprintf(stderr, "replay: %s\n", cause);
		goto out;
	}
	printf("%s\n", path);
	fflush(stdout);
	/* An exact-size copy, as libFuzzer gives: ASan sees overreads. */
	buf = xmalloc(len > 0 ? len : 1);
	memcpy(buf, text, len);
	free(text);
	r = LLVMFuzzerTestOneInput(buf, len);
	if (r != 0 && r != -1) {
		fprintf(stderr, "replay: %s: the harness returned %d\n", path,
		    r);
		goto out;
	}
	rc = 0;
out:
	free(cause);
	free(buf);
	return rc;
}

static int
replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every plain file of a folder, in name order; the count, or -1. */
static long
replay_dir(const char *dir)
{
	char **names = NULL, path[4096];
	struct dirent *e;
	size_t n = 0, cap = 0, i;
	long count = -1;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xreallocarray(names, cap, sizeof *names);
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, replay_name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (replay_file(path) != 0)
			goto out;
	}
	count = (long)n;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	struct stat sb;
	long total = 0, n;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|FOLDER...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (S_ISDIR(sb.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == 0 ? 1 : -1;
		if (n < 0)
			return 1;
		total += n;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
