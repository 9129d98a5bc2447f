/* Reading a whole file whose size is limited. */
#ifndef NN_FILE_H
#define NN_FILE_H

#include <stddef.h>

/*
 * Reads path into a new buffer (caller frees; not NUL-terminated) and its
 * length into *len. Refuses a regular file over limit before reading, and a
 * pipe once it passes limit. NULL with a cause that names path.
 */
char	*nn_read_file(const char *path, size_t limit, size_t *len,
	    char **cause);
/*
 * Checks, before any work is done, that an output file can be made at
 * path: its folder exists and may be written, path is not a folder, and
 * path does not exist unless force (outputs are never overwritten
 * silently). "-" (stdout) always passes. 0, or -1 with a cause naming
 * path, e.g. "x.nnm: exists (use --force to overwrite)".
 */
int	 nn_output_check(const char *path, int force, char **cause);
/*
 * Writes len bytes of buf to path through "path.tmp.PID", fsync and
 * rename (and a sync of the folder), so that a reader, or a run killed
 * mid-write, sees the old file whole or the new one. -1 with a cause
 * naming path; the temporary file is removed then.
 */
int	 nn_write_file_atomic(const char *path, const void *buf, size_t len,
	     char **cause);
/* mkdir -p, each folder it makes mode 0700 (its owner's alone): 0, or -1
 * with a cause naming the folder that could not be made. */
int	 nn_mkdirs(const char *path, char **cause);
/*
 * A memfd named name holding len bytes of buf, sealed so that nobody can
 * change it (agents' code, cached data): the descriptor (close-on-exec),
 * or -1 with cause.
 */
int	 nn_memfd_sealed(const char *name, const void *buf, size_t len,
	     char **cause);

#endif
