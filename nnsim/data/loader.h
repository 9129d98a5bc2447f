/*
 * Private to the data module (data.c, csv.c, fann.c, idx.c, synth.c): a
 * line reader with a length limit, number parsing, array growth, and the
 * class labels a loader reads before nn_data_load knows the class list.
 */
#ifndef NN_LOADER_H
#define NN_LOADER_H

#include <stdint.h>
#include <stdio.h>

#include "data/data.h"

#define NN_MAX_CELLS	((size_t)1 << 32)	/* floats in one array */

/* Lines of a text file, read through one buffer that grows to hold one. */
struct nn_lines {
	FILE		*f;
	const char	*path;		/* borrowed, for messages */
	char		*buf;
	size_t		 cap;
	size_t		 start;		/* first unread byte */
	size_t		 end;		/* one past the last byte read */
	int		 eof;
	long		 lineno;	/* of the line last returned */
};

int	 nn_lines_open(struct nn_lines *, const char *path, char **cause);
/*
 * Next line without its "\n" or "\r\n", NUL-terminated and writable until
 * the next call. Returns 1, 0 at the end or -1 with cause.
 */
int	 nn_lines_next(struct nn_lines *, char **line, size_t *len,
	     char **cause);
void	 nn_lines_close(struct nn_lines *);

/* Parses a whole string as a finite float32; 0 or -1. */
int	 nn_parse_float(const char *, float *);
/* Parses a whole string as a decimal integer; 0 or -1. */
int	 nn_parse_long(const char *, long long *);
/* Grows *p so it holds at least need rows of size bytes, doubling. */
void	 nn_grow(void *pp, size_t *cap, size_t need, size_t size);

enum nn_labels_kind {
	NN_LABELS_NONE,		/* the loader filled y itself */
	NN_LABELS_NAMES,	/* csv class column */
	NN_LABELS_INTS,		/* idx label file */
};

/*
 * The class of each row, before the class list is fixed: an index into
 * names (NAMES) or the label value itself (INTS).
 */
struct nn_labels {
	enum nn_labels_kind kind;
	size_t		 n;
	uint32_t	*id;
	char		**names;	/* distinct, in order of appearance */
	long		*line;		/* where each name first appears */
	int		 nnames;
	uint32_t	 max;		/* largest value (INTS) */
	uint32_t	*slots;		/* hash of names: index + 1, 0 empty */
	size_t		 nslots;
};

void	 nn_labels_clear(struct nn_labels *);

/*
 * Reads a csv source into d (inputs, and y for regression targets) and
 * labels (for a class column, with d->out left 0).
 */
int	 nn_csv_read(const struct nn_source *, struct nn_data **,
	     struct nn_labels *, char **cause);
/* Reads an idx pair into d (inputs only) and labels. */
int	 nn_idx_read(const char *images, const char *labels,
	     struct nn_data **, struct nn_labels *, char **cause);
/* Fills d->y one-hot from per-row class indices; sets the class fields. */
void	 nn_data_set_onehot(struct nn_data *, const uint32_t *cls,
	     int nclasses);

#endif
