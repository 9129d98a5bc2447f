/*
 * Training progress for people: on a terminal, a live bar redrawn at most
 * ten times a second; otherwise one plain line per epoch. And the live
 * table of nnsim submit and nnsim attach. What is redrawn is cut to the
 * terminal's width, never wrapped.
 */
#ifndef NN_PROGRESS_H
#define NN_PROGRESS_H

#include <stdio.h>

#include <jansson.h>

#include "nn/train.h"

struct nn_progress;

/* live: redraw a bar in place (out is a terminal); quiet: print nothing. */
struct nn_progress *nn_progress_new(FILE *out, int live, int quiet,
		     int epochs, size_t samples_per_epoch);
void		 nn_progress_free(struct nn_progress *);
/* Within an epoch; throttled, so it is cheap to call after every step. */
void		 nn_progress_update(struct nn_progress *, int epoch,
		     size_t done, double loss, double acc, int has_acc);
/* The permanent line for a finished epoch. */
void		 nn_progress_epoch(struct nn_progress *,
		     const struct nn_epoch_stats *);
/* Formats one epoch line without a newline into buf. */
void		 nn_progress_format(char *buf, size_t len, int epochs,
		     const struct nn_epoch_stats *);

/* The terminal's size of fd, read now (it follows a resize); 0 and 0
 * when fd is no terminal. */
void		 nn_progress_size(int fd, int *cols, int *rows);
/* Writes line cut to width characters (0: whole), without a newline. */
void		 nn_progress_put(FILE *, const char *line, int width);
/*
 * The live table of view {"kind": "SESSION"|"PARTITION", "rows":
 * [{"index", "agent", "host", "state", "epoch", "step", "loss",
 * "samples_per_s"}]}, each line cut to cols; a table taller than rows
 * shows its first rows and a count of the rest. Returns the lines drawn.
 */
int		 nn_progress_table(FILE *, json_t *view, int cols, int rows);

#endif
