/* The content-addressed code store. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "agentd/auth.h"
#include "agentd/codestore.h"
#include "agentd/log.h"
#include "base/alloc.h"
#include "base/file.h"
#include "base/crypto.h"

struct codestore {
	char		*dir;
	unsigned long	 received;
};

int
codestore_valid(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

int
codestore_private_dir(const char *path, char **cause)
{
	struct stat sb;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if (lstat(path, &sb) != 0)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return nn_fail(cause, "%s: not a folder (a link or a file): "
		    "the code store must be a folder of this daemon's own",
		    path);
	if (sb.st_uid != geteuid())
		return nn_fail(cause, "%s: owned by uid %lu, not by this "
		    "daemon's uid %lu: others could plant code there", path,
		    (unsigned long)sb.st_uid, (unsigned long)geteuid());
	if ((sb.st_mode & 077) != 0)
		return nn_fail(cause, "%s: mode %04o, expected 0700: others "
		    "could plant code there (chmod 700 it)", path,
		    (unsigned)(sb.st_mode & 07777));
	return 0;
}

struct codestore *
codestore_new(const char *dir, char **cause)
{
	struct codestore *cs;
	char *path = xasprintf("%s/code", dir);

	if (codestore_private_dir(dir, cause) != 0 ||
	    codestore_private_dir(path, cause) != 0) {
		free(path);
		return NULL;
	}
	cs = xcalloc(1, sizeof *cs);
	cs->dir = path;
	return cs;
}

void
codestore_free(struct codestore *cs)
{
	if (cs == NULL)
		return;
	free(cs->dir);
	free(cs);
}

const char *
codestore_path(struct codestore *cs, const char *sha, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.so", cs->dir, sha);
	return buf;
}

int
codestore_has(struct codestore *cs, const char *sha)
{
	char path[1024];

	if (!codestore_valid(sha))
		return 0;
	return access(codestore_path(cs, sha, path, sizeof path), R_OK) == 0;
}

int
codestore_put(struct codestore *cs, const void *buf, size_t len,
    const char *sha, char *out, char **cause)
{
	char digest[CODESTORE_HEX], path[1024], *tmp = NULL;
	int fd = -1, rc = -1;

	if (len == 0 || len > CODESTORE_MAX_SIZE)
		return nn_fail(cause, "code of %zu bytes (expected 1 to %d)",
		    len, CODESTORE_MAX_SIZE);
	crypto_sha256_hex(buf, len, digest);
	if (sha != NULL && strcmp(sha, digest) != 0)
		return nn_fail(cause, "code hash mismatch: got %s, expected "
		    "%s", digest, sha);
	if (out != NULL)
		memcpy(out, digest, CODESTORE_HEX);
	if (codestore_has(cs, digest))
		return 0;
	codestore_path(cs, digest, path, sizeof path);
	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0500)) < 0 || write(fd, buf, len) != (ssize_t)len ||
	    fsync(fd) != 0) {
		nn_fail(cause, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	cs->received++;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
codestore_read_file(const char *path, void **buf, size_t *len, char *sha,
    char **cause)
{
	struct stat sb;
	void *p = NULL;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd,
	    &sb) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > CODESTORE_MAX_SIZE) {
		nn_fail(cause, "%s: expected a regular file of 1 to %d bytes",
		    path, CODESTORE_MAX_SIZE);
		goto fail;
	}
	p = xmalloc((size_t)sb.st_size);
	if (read(fd, p, (size_t)sb.st_size) != sb.st_size) {
		nn_fail(cause, "%s: short read", path);
		goto fail;
	}
	close(fd);
	crypto_sha256_hex(p, (size_t)sb.st_size, sha);
	*buf = p;
	*len = (size_t)sb.st_size;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(p);
	return -1;
}

/* A sealed memfd holding len bytes of buf: nothing can change it. */
int
codestore_verify(const char *path, const char *sha, int *fd, char **cause)
{
	char got[CODESTORE_HEX];
	void *buf = NULL;
	size_t len;
	int rc = -1;

	if (fd != NULL)
		*fd = -1;
	if (codestore_read_file(path, &buf, &len, got, cause) != 0)
		return -1;
	if (sha == NULL || strcmp(got, sha) != 0) {
		/* Fetched or uploaded again the next time it is needed. */
		(void)unlink(path);
		log_warn("%s: its content hashes to %s: tampered with, removed",
		    path, got);
		nn_fail(cause, "code %.12s... in the store does not match "
		    "its hash (tampered with?); it was removed", sha != NULL ?
		    sha : "?");
		goto out;
	}
	/* The bytes hashed are the bytes loaded: no window between the
	 * check and the worker's dlopen. */
	if (fd != NULL && (*fd = nn_memfd_sealed("agent-code", buf, len, cause)) < 0)
		goto out;
	rc = 0;
out:
	free(buf);
	return rc;
}

unsigned long
codestore_received(const struct codestore *cs)
{
	return cs->received;
}
