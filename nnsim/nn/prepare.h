/*
 * The steps between net.json and a training run that every front end
 * shares (nnsim train, eval and the training agents): load the data, split
 * it, fit the network's sizes to it, normalise, and package a model.
 */
#ifndef NN_PREPARE_H
#define NN_PREPARE_H

#include <jansson.h>

#include "data/data.h"
#include "nn/config.h"
#include "nn/model.h"
#include "nn/train.h"

struct nn_prepared {
	struct nn_data	*train;
	struct nn_data	*test;		/* NULL when there is none */
	struct nn_data	*val;		/* validation rows, or NULL */
	struct nn_norm	 norm;
};

/*
 * Loads cfg's data, splits it when "split" is set (then the validation rows
 * when "validation_split" is), fits cfg->arch to it, checks that the
 * targets suit the loss and output (nn_prepare_check_targets), and
 * normalises every set with statistics from the training set. When classes
 * is given (a saved model's), labels use that order. Returns 0, or -1 with a
 * cause that names the file or JSON path.
 */
int	 nn_prepare(struct nn_config *cfg, char **classes, int nclasses,
	     struct nn_prepared *out, char **cause);
void	 nn_prepared_clear(struct nn_prepared *);
/*
 * Cross-entropy needs targets in [0, 1], and softmax rows that sum to 1
 * (one-hot); -1 with a cause naming the JSON path of the output layer (or
 * "loss") and the first row of d (from the source at jpath) at fault.
 */
int	 nn_prepare_check_targets(const struct nn_config *,
	     const struct nn_data *d, const char *jpath, char **cause);
/*
 * nn_prepare_check_targets on each set of p, and that an accuracy that
 * train.early_stopping watches has classes: what a session's overrides
 * may change (nnsim submit checks each). Sets without rows (the data
 * cache's) are checked by their task and class targets. 0 or -1.
 */
int	 nn_prepare_check(const struct nn_config *,
	     const struct nn_prepared *p, char **cause);
/* How a source's columns are read, for the model file (new reference). */
json_t	*nn_source_layout(const struct nn_source *);
/*
 * A model holding net (ownership moves to the model) with cfg's name,
 * training configuration, the data layout and prep's normalisation and
 * classes. metrics may be NULL; the model takes a reference.
 */
struct nn_model *nn_prepare_model(const struct nn_config *,
	     const struct nn_prepared *, struct nn_net *net, json_t *metrics);
/* Largest batch a net needs: the training batch, or 256 to evaluate. */
int	 nn_prepare_max_batch(const struct nn_config *);

/*
 * How a source's rows are read, for a model or a cached set's manifest
 * (nn_source_layout), with a headed CSV's column names as "columns" (new
 * reference).
 */
json_t	*nn_prepare_layout(const struct nn_source *);

#endif
