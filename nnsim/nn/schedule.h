/*
 * Learning-rate schedules: step, cosine and plateau, each with an optional
 * linear warmup. The rate is a pure function of the trainer's place in the
 * run (epoch, step) and, for plateau, of a small state that the trainer
 * saves with its own, so every partition of a data-parallel job and a
 * resumed or moved run compute the same rate bit for bit.
 */
#ifndef NN_SCHEDULE_H
#define NN_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

enum nn_sched_type {
	NN_SCHED_CONSTANT,	/* no "schedule": the optimizer's lr */
	NN_SCHED_STEP,
	NN_SCHED_COSINE,
	NN_SCHED_PLATEAU,
};

struct nn_schedule_spec {
	enum nn_sched_type type;
	int	warmup;		/* epochs of linear warmup, 0 */
	int	every;		/* step: epochs between decays, 10 */
	float	gamma;		/* step: factor at each decay, 0.1 */
	float	min_lr;		/* cosine, plateau: floor, 0 */
	float	factor;		/* plateau: factor at each cut, 0.1 */
	int	patience;	/* plateau: epochs without gain allowed, 10 */
	float	threshold;	/* plateau: relative gain that counts, 1e-4 */
};

/* Plateau's memory; the other schedules need none. */
struct nn_schedule_state {
	double		best;	/* lowest monitored loss, +inf at first */
	uint32_t	bad;	/* epochs since it last improved */
	float		lr;	/* plateau's current rate */
};

#define NN_SCHEDULE_SAVE_SIZE	16

const char	*nn_schedule_name(enum nn_sched_type);
int		 nn_schedule_parse(const char *, enum nn_sched_type *);
/* The names "schedule.type" accepts, for error messages. */
extern const char nn_schedule_names[];
void		 nn_schedule_spec_default(struct nn_schedule_spec *,
		     enum nn_sched_type);

void		 nn_schedule_start(struct nn_schedule_state *, float base_lr);
/*
 * The rate of step step (0-based) of epoch epoch (0-based) in a run of
 * epochs epochs of steps steps each, from base_lr.
 */
float		 nn_schedule_lr(const struct nn_schedule_spec *,
		     const struct nn_schedule_state *, float base_lr,
		     int epoch, size_t step, size_t steps, int epochs);
/* An epoch ended with the monitored loss: plateau counts and cuts. */
void		 nn_schedule_epoch_end(const struct nn_schedule_spec *,
		     struct nn_schedule_state *, double loss);
/* Little-endian, NN_SCHEDULE_SAVE_SIZE bytes. */
void		 nn_schedule_save(const struct nn_schedule_state *,
		     unsigned char *buf);
/* -1 with cause, s unchanged, when buf does not hold a sane state. */
int		 nn_schedule_restore(struct nn_schedule_state *,
		     const unsigned char *buf, char **cause);

#endif
