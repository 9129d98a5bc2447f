/* Whole small files (net.json, host inventories), read with a size limit. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
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

int
nn_memfd_sealed(const char *name, const void *buf, size_t len, char **cause)
{
	const unsigned char *p = buf;
	ssize_t n;
	int fd;

	/* A kernel that wants memfds sealed non-executable (vm.memfd_noexec)
	 * still maps them for dlopen. */
	if ((fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0 &&
	    errno == EACCES)
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
		    0x0008U /* MFD_NOEXEC_SEAL */);
	if (fd < 0)
		return nn_fail(cause, "memfd_create: %s", strerror(errno));
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			nn_fail(cause, "cannot copy into memory: %s",
			    n < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		nn_fail(cause, "cannot seal: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Checks that path can be written before any work goes into it. */
int
nn_output_check(const char *path, int force, char **cause)
{
	struct stat st;
	char *dir = NULL, *slash;
	int rc = -1;

	if (strcmp(path, "-") == 0)
		return 0;
	if (*path == '\0') {
		nn_fail(cause, "output: empty file name");
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			nn_fail(cause, "%s: is a folder, expected a file name",
			    path);
			return -1;
		}
		if (!force) {
			nn_fail(cause, "%s: exists (use --force to overwrite)",
			    path);
			return -1;
		}
	}
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		nn_fail(cause, "%s: folder %s does not exist", path, dir);
		goto out;
	}
	if (access(dir, W_OK) == -1) {
		nn_fail(cause, "%s: folder %s is not writable: %s", path, dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(dir);
	return rc;
}

/* Flushes the folder holding path so that a rename survives a crash. */
static void
file_sync_dir(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*dir;
	int		 fd;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xasprintf("%.*s", (int)(slash - path), path);
	/* Best effort: some file systems refuse to sync a folder. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int
nn_write_file_atomic(const char *path, const void *buf, size_t len,
    char **cause)
{
	const unsigned char *p = buf;
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	size_t off = 0;
	ssize_t w;
	int fd, rc = -1;

	/* A stale file from a crashed run with our pid is ours to replace. */
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0666)) == -1) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	while (off < len) {
		w = write(fd, p + off, len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1) {
			nn_fail(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	w = close(fd);
	fd = -1;
	if (w != 0 || rename(tmp, path) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	file_sync_dir(path);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc != 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}
