/*
 * --metrics FILE: one JSON object per line, one per epoch, then a last line
 * with "event": "done" and the final figures.
 */
#ifndef NN_METRICS_H
#define NN_METRICS_H

#include <jansson.h>

#include "nn/net.h"
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

/*
 * How net's outputs on d (normalised inputs) compare with d's targets, as
 * a new JSON object (docs/eval.md). Classification: "classes" (names[i],
 * or the index when names is NULL or does not fit), "confusion" (rows the
 * true class, columns the predicted one), "per_class" precision, recall, F1
 * and support, and their "macro" averages; a ratio with a zero denominator
 * is 0. Regression: "mae", "rmse" and "r2" over all outputs (r2 the mean of
 * the outputs' r2, null when a target is constant) and "per_output", each
 * named by names[j] when nnames is the number of outputs, else "yJ".
 */
json_t		*nn_metrics_eval(struct nn_net *net, const struct nn_data *d,
		     char *const *names, int nnames);

#endif
