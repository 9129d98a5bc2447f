/*
 * MNIST's idx files: a big-endian magic (0x0000 08 NDIMS for unsigned
 * bytes), NDIMS big-endian 32-bit sizes, then the bytes. Images (n x rows
 * x cols, or n x features) become floats x / 255; labels (n) become class
 * indices. Every size is checked against the limits and the file length
 * before anything is allocated.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/loader.h"

#define IDX_MAGIC_U8	0x00000800u
#define IDX_MAX_DIMS	3
#define IDX_CHUNK	(64 << 10)

struct idx_file {
	FILE		*f;
	const char	*path;
	int		 ndims;
	uint32_t	 dims[IDX_MAX_DIMS];
	size_t		 items;		/* dims[0] */
	size_t		 size;		/* bytes per item */
};

/* A big-endian 32-bit value. */
static uint32_t
idx_be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/*
 * Opens path and reads its header, which must have between lo and hi
 * dimensions, then checks the sizes against the limits and the length.
 */
static int
idx_open(struct idx_file *f, const char *path, int lo, int hi,
    const char *what, char **cause)
{
	unsigned char b[4 * (IDX_MAX_DIMS + 1)];
	struct stat st;
	uint32_t magic;
	size_t want, i;
	int ndims;

	memset(f, 0, sizeof *f);
	f->path = path;
	if ((f->f = fopen(path, "rb")) == NULL)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if (fread(b, 1, 4, f->f) != 4) {
		return nn_fail(cause, "%s: truncated: no idx header", path);
	}
	magic = idx_be32(b);
	ndims = b[3];
	if ((magic & 0xffffff00u) != IDX_MAGIC_U8 || ndims < lo ||
	    ndims > hi) {
		return nn_fail(cause, "%s: bad magic 0x%08x (expected "
		    "0x%08x for %s)%s", path, magic,
		    IDX_MAGIC_U8 | (unsigned)hi, what,
		    b[0] == 0x1f && b[1] == 0x8b ?
		    "; it is gzip-compressed: gunzip it first" : "");
	}
	if (fread(b + 4, 4, (size_t)ndims, f->f) != (size_t)ndims) {
		return nn_fail(cause, "%s: truncated: the header has %d "
		    "dimensions", path, ndims);
	}
	f->ndims = ndims;
	f->size = 1;
	for (i = 0; i < (size_t)ndims; i++) {
		f->dims[i] = idx_be32(b + 4 * (i + 1));
		if (f->dims[i] == 0) {
			return nn_fail(cause, "%s: dimension %zu is 0", path,
			    i);
		}
		if (i > 0) {
			if (f->dims[i] > NN_MAX_COLUMNS ||
			    f->size * f->dims[i] > NN_MAX_COLUMNS) {
				return nn_fail(cause, "%s: dimension %zu (%u) "
				    "makes items larger than the limit of %d "
				    "values", path, i, f->dims[i],
				    NN_MAX_COLUMNS);
			}
			f->size *= f->dims[i];
		}
	}
	f->items = f->dims[0];
	if (f->items > NN_MAX_ROWS || f->items * f->size > NN_MAX_CELLS) {
		return nn_fail(cause, "%s: %zu items of %zu bytes is too much "
		    "(limit %zu values)", path, f->items, f->size,
		    NN_MAX_CELLS);
	}
	want = 4 * (size_t)(ndims + 1) + f->items * f->size;
	if (fstat(fileno(f->f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size != want) {
		return nn_fail(cause, "%s: %s: %zu items of %zu bytes need %zu "
		    "bytes, the file has %lld", path,
		    (size_t)st.st_size < want ? "truncated" : "too long",
		    f->items, f->size, want, (long long)st.st_size);
	}
	return 0;
}

/* Closes f; safe when it was never opened. */
static void
idx_close(struct idx_file *f)
{
	if (f->f != NULL)
		fclose(f->f);
	f->f = NULL;
}

/*
 * Reads an images file and its labels file into a new *dp (inputs only)
 * and labels (the values). Fails on a bad magic, a truncated file, or
 * counts that differ.
 */
int
nn_idx_read(const char *images, const char *labels, struct nn_data **dp,
    struct nn_labels *lab, char **cause)
{
	struct idx_file fi, fl;
	struct nn_data *d = NULL;
	unsigned char *buf = NULL;
	float scale[256];
	size_t total, done, got, i, k;
	int rc = -1;

	memset(&fl, 0, sizeof fl);
	memset(lab, 0, sizeof *lab);
	*dp = NULL;
	if (idx_open(&fi, images, 2, 3, "u8 images", cause) != 0)
		goto out;
	if (idx_open(&fl, labels, 1, 1, "u8 labels", cause) != 0)
		goto out;
	if (fl.items != fi.items) {
		nn_fail(cause, "%s: %zu labels but %s has %zu images", labels,
		    fl.items, images, fi.items);
		goto out;
	}

	/* Division, not a multiply by 1/255, so 255 maps to exactly 1. */
	for (i = 0; i < 256; i++)
		scale[i] = (float)i / 255.0f;
	d = xcalloc(1, sizeof *d);
	d->n = fi.items;
	d->in = (int)fi.size;
	d->x = xreallocarray(NULL, fi.items, fi.size * sizeof *d->x);
	d->task = NN_TASK_REGRESSION;
	d->hi = 1.0f;
	buf = xmalloc(IDX_CHUNK);
	total = fi.items * fi.size;
	for (done = 0; done < total; done += got) {
		got = total - done < IDX_CHUNK ? total - done : IDX_CHUNK;
		if (fread(buf, 1, got, fi.f) != got) {
			nn_fail(cause, "%s: truncated: %zu of %zu image bytes",
			    images, done, total);
			goto out;
		}
		for (k = 0; k < got; k++)
			d->x[done + k] = scale[buf[k]];
	}

	lab->kind = NN_LABELS_INTS;
	lab->n = fl.items;
	lab->id = xreallocarray(NULL, fl.items, sizeof *lab->id);
	for (done = 0; done < fl.items; done += got) {
		got = fl.items - done < IDX_CHUNK ? fl.items - done : IDX_CHUNK;
		if (fread(buf, 1, got, fl.f) != got) {
			nn_fail(cause, "%s: truncated: %zu of %zu labels",
			    labels, done, fl.items);
			goto out;
		}
		for (k = 0; k < got; k++) {
			lab->id[done + k] = buf[k];
			if (buf[k] > lab->max)
				lab->max = buf[k];
		}
	}
	*dp = d;
	d = NULL;
	rc = 0;

out:
	if (rc != 0)
		nn_labels_clear(lab);
	idx_close(&fi);
	idx_close(&fl);
	nn_data_free(d);
	free(buf);
	return rc;
}

/*
 * Reads an idx pair into a new *dp (caller frees) with one-hot targets
 * over classes 0..max label.
 */
int
nn_load_idx(const char *images, const char *labels, struct nn_data **dp,
    char **cause)
{
	struct nn_labels lab;
	struct nn_data *d;
	int nclasses;

	*dp = NULL;
	if (nn_idx_read(images, labels, &d, &lab, cause) != 0)
		return -1;
	nclasses = (int)lab.max + 1;
	if (nclasses < 2) {
		nn_labels_clear(&lab);
		nn_data_free(d);
		return nn_fail(cause, "%s: only one class (every label is 0)",
		    labels);
	}
	nn_data_set_onehot(d, lab.id, nclasses);
	nn_labels_clear(&lab);
	*dp = d;
	return 0;
}
