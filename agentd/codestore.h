/*
 * Agent code by content: DIR/code/SHA256.so, where SHA256 is the hex digest
 * of the file's bytes. Code is verified before it is stored and never
 * changes once there.
 */
#ifndef AGENTD_CODESTORE_H
#define AGENTD_CODESTORE_H

#include <stddef.h>

#define CODESTORE_HEX		65		/* 64 digits and a NUL */
#define CODESTORE_MAX_SIZE	(256 << 20)	/* bytes of one .so */

struct codestore;

/* Opens (creating) DIR/code. NULL with cause. */
struct codestore *codestore_new(const char *dir, char **cause);
void		 codestore_free(struct codestore *);
/* 1 when the code is stored. */
int		 codestore_has(struct codestore *, const char *sha);
/* The stored file's path into buf (borrowed buf, returned). */
const char	*codestore_path(struct codestore *, const char *sha, char *buf,
		     size_t len);
/*
 * Stores buf if its SHA-256 is sha (when sha is not NULL); fills out with
 * the digest. 0, or -1 with cause.
 */
int		 codestore_put(struct codestore *, const void *buf, size_t len,
		     const char *sha, char *out, char **cause);
/* Reads a file and its digest; the caller frees *buf. */
int		 codestore_read_file(const char *path, void **buf, size_t *len,
		     char *sha, char **cause);
/*
 * Creates path with mode 0700, or checks that it is a folder (not a link)
 * of this process's uid that nobody else may enter: 0, or -1 with cause.
 */
int		 codestore_private_dir(const char *path, char **cause);
/*
 * Whether the file at path (a store's code) still hashes to sha: checked
 * each time code is loaded, not only when it arrived. A file that does
 * not is removed (and so fetched again when needed): -1 with cause. With
 * fd, the bytes checked are left in a sealed memfd (close-on-exec) for a
 * worker to load.
 */
int		 codestore_verify(const char *path, const char *sha, int *fd,
		     char **cause);
/* 1 when s is 64 lowercase hex digits. */
int		 codestore_valid(const char *s);
/* Transfers counted since start: code received from elsewhere. */
unsigned long	 codestore_received(const struct codestore *);

#endif
