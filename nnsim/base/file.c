/* Whole small files (net.json, host inventories), read with a size limit. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"

#define READ_CHUNK	65536

/* Reads a whole file of at most limit bytes; caller frees. */
char *
nn_read_file(const char *path, size_t limit, size_t *len, char **cause)
{
	struct stat st;
	size_t size = 0, cap;
	char *buf = NULL;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY|O_CLOEXEC)) == -1) {
		nn_fail(cause, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		nn_fail(cause, "%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		nn_fail(cause, "%s: cannot read: %s", path, strerror(EISDIR));
		goto fail;
	}
	/* Refuse a huge file before reading any of it. */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > limit) {
		nn_fail(cause, "%s: too large: %lld bytes (limit %zu)", path,
		    (long long)st.st_size, limit);
		goto fail;
	}
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : READ_CHUNK;
	buf = xmalloc(cap);
	for (;;) {
		if (size == cap) {
			/* A pipe has no size: stop a byte past the limit. */
			if (size > limit) {
				nn_fail(cause, "%s: too large: more than %zu "
				    "bytes", path, limit);
				goto fail;
			}
			cap = cap * 2 > limit + 1 ?
			    limit + 1 : cap * 2;
			if (cap <= size)
				cap = size + 1;
			buf = xreallocarray(buf, cap, 1);
		}
		got = read(fd, buf + size, cap - size);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			nn_fail(cause, "%s: cannot read: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		size += (size_t)got;
	}
	if (size > limit) {
		nn_fail(cause, "%s: too large: more than %zu bytes", path,
		    limit);
		goto fail;
	}
	close(fd);
	*len = size;
	return buf;

fail:
	free(buf);
	close(fd);
	return NULL;
}

int
nn_mkdirs(const char *path, char **cause)
{
	char *p = xstrdup(path), *s;
	int rc = -1;

	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		goto fail;
	rc = 0;
	goto out;
fail:
	nn_fail(cause, "%s: cannot create: %s", p, strerror(errno));
out:
	free(p);
	return rc;
}
