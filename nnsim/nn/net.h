/*
 * A multilayer perceptron of dense layers. All parameters live in one flat
 * float vector, layer by layer as [W1 b1 W2 b2 ...] with each W stored
 * row-major as units x inputs, so optimizers, all-reduce and the model file
 * work on one array. Gradients use the same layout.
 */
#ifndef NN_NET_H
#define NN_NET_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_LAYERS	64
#define NN_MAX_UNITS	(1 << 20)
#define NN_MAX_PARAMS	((size_t)1 << 31)	/* 8 GiB of float32 */

enum nn_act {
	NN_ACT_LINEAR,
	NN_ACT_SIGMOID,
	NN_ACT_TANH,
	NN_ACT_RELU,
	NN_ACT_LEAKY_RELU,
	NN_ACT_SOFTMAX,
};

enum nn_loss {
	NN_LOSS_MSE,
	NN_LOSS_CROSS_ENTROPY,
};

enum nn_init {
	NN_INIT_AUTO,		/* He for relu and leaky_relu, else Xavier */
	NN_INIT_HE,
	NN_INIT_XAVIER,
	NN_INIT_TORCH,		/* nn.Linear: U(+-1/sqrt(in)), biases too */
};

struct nn_layer_spec {
	int		units;
	enum nn_act	act;
	enum nn_init	init;
	float		dropout;	/* training only, 0 to below 1; 0 */
};

struct nn_arch {
	int			input;
	int			nlayers;
	struct nn_layer_spec	layer[NN_MAX_LAYERS];
	enum nn_loss		loss;
	float			leaky_slope;	/* leaky_relu slope, 0.01 */
};

/* Names as written in net.json; parse returns 0 or -1 when unknown. */
const char	*nn_act_name(enum nn_act);
int		 nn_act_parse(const char *, enum nn_act *);
const char	*nn_loss_name(enum nn_loss);
int		 nn_loss_parse(const char *, enum nn_loss *);
const char	*nn_init_name(enum nn_init);
int		 nn_init_parse(const char *, enum nn_init *);
/* The accepted names, comma separated, for error messages. */
extern const char nn_act_names[], nn_loss_names[], nn_init_names[];

/* Checks sizes and the output/loss pairing; cause names the problem. */
int	 nn_arch_check(const struct nn_arch *, char **cause);
size_t	 nn_arch_nparams(const struct nn_arch *);
int	 nn_arch_outputs(const struct nn_arch *);

struct nn_net;

/* New network with zero parameters and room for batches up to max_batch. */
struct nn_net	*nn_net_new(const struct nn_arch *, int max_batch);
void		 nn_net_free(struct nn_net *);
const struct nn_arch *nn_net_arch(const struct nn_net *);
int		 nn_net_max_batch(const struct nn_net *);
/*
 * Weights from seed: He or Xavier uniform with zero biases, or PyTorch's
 * nn.Linear (weights and biases U(-1/sqrt(in), 1/sqrt(in))).
 */
void		 nn_net_init(struct nn_net *, uint64_t seed);
/* Borrowed pointers to the flat parameter and gradient vectors. */
float		*nn_net_params(struct nn_net *, size_t *n);
float		*nn_net_grads(struct nn_net *, size_t *n);
/* Offsets of layer l's weights and bias in the flat vector. */
void		 nn_net_layer_offsets(const struct nn_net *, int l,
		     size_t *w_off, size_t *b_off);

/* Forward pass of batch rows of x; returns the outputs (borrowed). */
const float	*nn_net_forward(struct nn_net *, const float *x, int batch);
/*
 * Which units a training pass drops: row r of the batch is row rows[r] of
 * the training set, and key stands for the run's seed and epoch. A mask
 * is a hash of (key, row, layer, unit), not a running RNG, so any split of
 * the rows into shards or steps drops the same units.
 */
struct nn_dropout {
	uint64_t	 key;
	const uint64_t	*rows;
};
/* The key of epoch (0-based) of a run seeded with seed. */
uint64_t	 nn_dropout_key(uint64_t seed, int epoch);
/*
 * The forward pass of training: as nn_net_forward, then inverted dropout
 * on the layers that ask for it (kept units scaled by 1/(1-p)); the next
 * backward pass follows the same masks. d NULL: no dropout.
 */
const float	*nn_net_forward_train(struct nn_net *, const float *x,
		     int batch, const struct nn_dropout *d);
/*
 * Loss of the last forward pass against targets t. Returns the sum over the
 * batch of per-sample losses (mse: mean over outputs; cross_entropy with
 * softmax: -sum t log p; with sigmoid: mean binary cross-entropy over
 * outputs) and stores the output gradient scaled by grad_scale, which is
 * 1/N for the mean over a batch of N.
 */
double		 nn_net_loss(struct nn_net *, const float *t, int batch,
		     float grad_scale);
/* Backward pass after nn_net_loss; adds into the gradients if accumulate. */
void		 nn_net_backward(struct nn_net *, const float *x, int batch,
		     int accumulate);
/*
 * The same, calling done(arg, from) between two products: after each
 * layer's weight gradient, the gradients from float from on are final (the
 * last layers come first), so their sum can start while the rest is
 * computed; after its input gradient, with the same from, so the caller
 * can move data again.
 */
typedef void	 nn_grads_done_fn(void *arg, size_t from);
void		 nn_net_backward_cb(struct nn_net *, const float *x, int batch,
		     int accumulate, nn_grads_done_fn *done, void *arg);
/* L2 decay: gradients of weights (not biases) += wd * weights. */
void		 nn_net_decay(struct nn_net *, float wd);
/* Sum of squared weights (not biases). */
double		 nn_net_weight_sq(struct nn_net *);

/*
 * Correct predictions among batch rows: argmax for several outputs, and a
 * threshold at mid for one output.
 */
int	 nn_count_correct(const float *y, const float *t, int batch, int nout,
	     float mid);

#endif
