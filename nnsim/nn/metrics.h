/*
 * --metrics FILE: one JSON object per line, one per epoch, then a last line
 * with "event": "done" and the final figures.
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <jansson.h>

#include "nn/train.h"

struct nn_metrics;

/* Opens (truncates) path; NULL with cause on failure. */
struct nn_metrics *nn_metrics_open(const char *path, char **cause);
/* Closes the file; free(NULL) does nothing. */
int		 nn_metrics_close(struct nn_metrics *, char **cause);
/* The epoch's figures as a new JSON object. */
json_t		*nn_metrics_epoch_json(const struct nn_epoch_stats *);
/* Writes obj as one line; extra keys may be added by the caller first. */
int		 nn_metrics_write(struct nn_metrics *, json_t *obj,
		     char **cause);

#endif
