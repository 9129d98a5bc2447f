/*
 * The training loop as a resumable state machine: one call runs one
 * mini-batch, so an agent can stop between any two steps and carry the
 * trainer's state elsewhere.
 */
#ifndef NN_TRAIN_H
#define NN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "data.h"
#include "net.h"
#include "optim.h"

struct nn_epoch_stats {
	int	epoch;		/* 1-based */
	double	loss;		/* mean over the epoch's samples */
	double	accuracy;	/* when classification */
	double	test_loss;
	double	test_accuracy;
	int	has_accuracy;
	int	has_test;
	double	samples_per_sec;
	double	elapsed_s;	/* since training started */
};

struct nn_trainer;

/* The trainer borrows net and the data sets; test may be NULL. */
struct nn_trainer *nn_trainer_new(struct nn_net *,
		     const struct nn_train_spec *, const struct nn_data *train,
		     const struct nn_data *test);
void		 nn_trainer_free(struct nn_trainer *);
/*
 * Runs one mini-batch (rprop: one full-batch epoch). Returns 1 when it
 * finished an epoch and filled *st, 0 otherwise, and -1 once every epoch
 * is done.
 */
int		 nn_trainer_step(struct nn_trainer *, struct nn_epoch_stats *st);
/* Progress within the current epoch. */
void		 nn_trainer_position(const struct nn_trainer *, int *epoch,
		     size_t *done, size_t *total, double *loss, double *acc);
int		 nn_trainer_done(const struct nn_trainer *);
struct nn_optim	*nn_trainer_optim(struct nn_trainer *);
/*
 * The trainer's resumable state: epoch, cursor, shuffle permutation, RNG,
 * running loss/correct sums, elapsed training time, and the optimizer's
 * step count and buffers. Not the network's parameters (the caller ships
 * those with nn_net_params) and not the data. Little-endian, versioned,
 * self-checking (a magic and lengths). Caller frees *buf.
 */
void		 nn_trainer_save(const struct nn_trainer *, unsigned char **buf,
		     size_t *len);
/*
 * Restores a state saved by nn_trainer_save into t, which was made by
 * nn_trainer_new with the same spec, an equal net layout and the same
 * training set size. Checks every length against t before using it;
 * on -1 (cause names what did not match, e.g. "trainer state: 1000 rows,
 * expected 1200") t is unchanged.
 */
int		 nn_trainer_restore(struct nn_trainer *t,
		     const unsigned char *buf, size_t len, char **cause);

/* Mean loss and accuracy of net over d, in batches of the net's size. */
void		 nn_evaluate(struct nn_net *, const struct nn_data *d,
		     double *loss, double *accuracy);

#endif
