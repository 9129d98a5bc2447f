/* Optimizers over a flat parameter vector. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

enum nn_optim_type {
	NN_OPTIM_SGD,
	NN_OPTIM_ADAM,
	NN_OPTIM_RPROP,
	NN_OPTIM_ADAMW,
};

struct nn_optim_spec {
	enum nn_optim_type type;
	float	lr;		/* sgd 0.01, adam 0.001; unused by rprop */
	float	momentum;	/* sgd, 0 */
	int	nesterov;	/* sgd, needs momentum > 0 */
	float	beta1, beta2, eps;	/* adam: 0.9, 0.999, 1e-8 */
	float	weight_decay;	/* L2 on weights, applied by the trainer;
				 * adamw: decoupled, on every parameter, 0.01 */
	float	clip_norm;	/* clip the gradient's global norm; 0: off */
	float	eta_plus, eta_minus;	/* rprop: 1.2, 0.5 */
	float	delta0, delta_min, delta_max;	/* rprop: 0.1, 1e-6, 50 */
};

const char	*nn_optim_name(enum nn_optim_type);
int		 nn_optim_parse(const char *, enum nn_optim_type *);
extern const char nn_optim_names[];
/* Fills the defaults for type. */
void		 nn_optim_spec_default(struct nn_optim_spec *,
		     enum nn_optim_type);

struct nn_optim;

struct nn_optim	*nn_optim_new(const struct nn_optim_spec *, size_t n);
void		 nn_optim_free(struct nn_optim *);
/*
 * The learning rate of the next steps (a schedule's); nn_optim_new starts
 * at spec->lr.
 */
void		 nn_optim_set_lr(struct nn_optim *, float lr);
float		 nn_optim_lr(const struct nn_optim *);
/*
 * Scales grads so that their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6)).
 * The norm is summed in double in index order, so equal gradients clip
 * equally everywhere. Returns the norm before clipping.
 */
double		 nn_optim_clip(float *grads, size_t n, float max_norm);
/* One update of params from grads (which rprop may modify). */
void		 nn_optim_step(struct nn_optim *, float *params, float *grads);
/*
 * The optimizer's state as floats (momentum, moments or rprop steps and
 * previous gradients) for checkpoints and migration; borrowed.
 */
float		*nn_optim_state(struct nn_optim *, size_t *n);
uint64_t	 nn_optim_steps(const struct nn_optim *);
void		 nn_optim_set_steps(struct nn_optim *, uint64_t);
/* Bytes that nn_optim_save writes. */
size_t		 nn_optim_save_size(const struct nn_optim *);
/*
 * Writes the type, sizes, step count and state floats, little-endian, to
 * buf, which has room for nn_optim_save_size bytes.
 */
void		 nn_optim_save(const struct nn_optim *, unsigned char *buf);
/*
 * Restores what nn_optim_save wrote (exactly len bytes) into o, made with
 * the same spec and n. On -1 cause names the mismatch and o is unchanged.
 */
int		 nn_optim_restore(struct nn_optim *, const unsigned char *buf,
		     size_t len, char **cause);

#endif
