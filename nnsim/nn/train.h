/*
 * The training loop as a resumable state machine: one call runs one
 * mini-batch, so an agent can stop between any two steps and carry the
 * trainer's state elsewhere.
 */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "data/data.h"
#include "nn/config.h"
#include "nn/net.h"
#include "nn/optim.h"

struct nn_epoch_stats {
	int	epoch;		/* 1-based */
	double	loss;		/* mean over the epoch's samples */
	double	accuracy;	/* when classification */
	double	test_loss;
	double	test_accuracy;
	int	has_accuracy;
	int	has_test;
	double	val_loss;	/* on the validation rows */
	double	val_accuracy;
	int	has_val;
	int	best_epoch;	/* early stopping: the best so far, or 0 */
	int	stopped;	/* early stopping ended training here */
	double	samples_per_sec;
	double	elapsed_s;	/* since training started */
	double	lr;		/* the epoch's last step's rate; rprop: 0 */
};

struct nn_trainer;

/*
 * The trainer borrows net and the data sets; test may be NULL. With
 * spec->shards N above 1 it follows the data-parallel schedule of N
 * partitions in one process (docs/net-json.md, "Data mode"). The net must
 * have room for spec->batch rows, and N must not exceed the batch (both
 * fatal).
 */
struct nn_trainer *nn_trainer_new(struct nn_net *,
		     const struct nn_train_spec *, const struct nn_data *train,
		     const struct nn_data *test);
/*
 * Partition part of spec->shards: shard holds only that shard's rows
 * (rows part, part+N, ... of a training set of total rows, in order);
 * test may be NULL (only one partition evaluates). Borrows as
 * nn_trainer_new; a shard of the wrong size is fatal.
 */
struct nn_trainer *nn_trainer_new_part(struct nn_net *,
		     const struct nn_train_spec *, const struct nn_data *shard,
		     const struct nn_data *test, int part, size_t total);
void		 nn_trainer_free(struct nn_trainer *);
/*
 * Runs one mini-batch (rprop: one full-batch epoch). Returns 1 when it
 * finished an epoch and filled *st, 0 otherwise, and -1 once every epoch
 * is done. Not for partition trainers.
 */
int		 nn_trainer_step(struct nn_trainer *, struct nn_epoch_stats *st);
/*
 * This partition's share of the current step: forward and backward over
 * its rows of the step's global batch into the net's gradients, scaled by
 * 1/(rows of the global batch) (all zero when it has no rows this step).
 * sums[0] gets the loss sum and sums[1] the correct count over its rows.
 * Returns its row count, or -1 when every epoch is done. Calling it again
 * before nn_trainer_part_apply recomputes the same step (a moved agent
 * redoes the step it was in). rprop: every row of the shard, scaled by
 * 1/total, one step an epoch.
 */
int		 nn_trainer_part_grad(struct nn_trainer *, double sums[2]);
/*
 * Called during nn_trainer_part_grad's backward pass whenever gradient
 * floats from.. are final, with the step's sums already known; not for
 * rprop, whose pass adds up several chunks. NULL turns it off.
 */
typedef void	 nn_part_ready_fn(void *arg, size_t from,
		     const double sums[2]);
void		 nn_trainer_on_ready(struct nn_trainer *, nn_part_ready_fn *,
		     void *arg);
/*
 * After the net's gradients hold the sum over all partitions and sums the
 * summed sums: weight decay, the optimizer update, and the step's
 * bookkeeping. Returns 1 with *st filled at the end of an epoch (loss and
 * accuracy over all partitions' rows, test figures when this trainer has
 * a test set), 0 otherwise.
 */
int		 nn_trainer_part_apply(struct nn_trainer *,
		     const double sums[2], struct nn_epoch_stats *st);
/* Progress within the current epoch, in rows of the whole training set. */
void		 nn_trainer_position(const struct nn_trainer *, int *epoch,
		     size_t *done, size_t *total, double *loss, double *acc);
/* 1 once every epoch is done, early stopping stopped it, or it diverged. */
int		 nn_trainer_done(const struct nn_trainer *);
/*
 * The validation rows (borrowed; NULL: none), evaluated at the end of each
 * epoch into val_loss and val_accuracy, for early stopping to watch.
 */
void		 nn_trainer_set_validation(struct nn_trainer *,
		     const struct nn_data *val);
/*
 * 1 with a one-line cause naming the epoch and step when a step's loss
 * was not finite (the run stopped there, before that step's update); 0
 * otherwise.
 */
int		 nn_trainer_diverged(const struct nn_trainer *, char **cause);
/*
 * Early stopping's best epoch so far (0 when off or none yet); once
 * training is done with restore_best, the net holds its parameters.
 */
int		 nn_trainer_best_epoch(const struct nn_trainer *);
/* Figure f of an epoch into *v; -1 when the epoch does not have it. */
int		 nn_epoch_figure(const struct nn_epoch_stats *, enum nn_figure f,
		     double *v);
struct nn_optim	*nn_trainer_optim(struct nn_trainer *);
/*
 * The trainer's resumable state: epoch, cursor, each held shard's shuffle
 * permutation and RNG, running loss/correct sums, elapsed training time,
 * and the optimizer's step count and buffers. Not the network's
 * parameters (the caller ships those with nn_net_params) and not the data.
 * Little-endian, versioned, self-checking (a magic and lengths). Caller
 * frees *buf.
 */
void		 nn_trainer_save(const struct nn_trainer *, unsigned char **buf,
		     size_t *len);
/* The same into buf, of nn_trainer_save_size bytes: an agent that packs
 * often reuses one buffer rather than fault in fresh pages each time. */
size_t		 nn_trainer_save_size(const struct nn_trainer *);
void		 nn_trainer_save_to(const struct nn_trainer *, unsigned char *buf);
/*
 * Restores a state saved by nn_trainer_save into t, which was made by
 * nn_trainer_new (or nn_trainer_new_part, for the same part) with the same
 * spec, an equal net layout and the same training set size. Checks every
 * length against t before using it; on -1 (cause names what did not
 * match, e.g. "trainer state: 1000 rows, expected 1200") t is unchanged.
 */
int		 nn_trainer_restore(struct nn_trainer *t,
		     const unsigned char *buf, size_t len, char **cause);

/*
 * Rebuilds a lost partition: t, new from nn_trainer_new_part for its own
 * part, takes another partition's state of the same job (its
 * nn_trainer_save) for what all partitions share (the epoch and position,
 * the running sums, the optimizer), and replays its own shard's shuffles
 * from the seed to that epoch. It then trains on as the lost partition
 * would have, bit for bit (docs/elastic.md). -1 with cause, t unchanged
 * but for nothing it used, when buf is not such a state.
 */
int		 nn_trainer_adopt(struct nn_trainer *t,
		     const unsigned char *buf, size_t len, char **cause);

/* Mean loss and accuracy of net over d, in batches of the net's size. */
void		 nn_evaluate(struct nn_net *, const struct nn_data *d,
		     double *loss, double *accuracy);
/*
 * nn_evaluate that stops at the first output that is not a finite number:
 * -1 with a cause naming its row and column (1-based).
 */
int		 nn_evaluate_finite(struct nn_net *, const struct nn_data *d,
		     double *loss, double *accuracy, char **cause);
/*
 * -1 with cause when one of rows x cols outputs is not finite; first is
 * the 0-based number of the first row, for the message.
 */
int		 nn_outputs_finite(const float *out, size_t rows, int cols,
		     size_t first, char **cause);

#endif
