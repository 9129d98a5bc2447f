/*
 * The checkpoint file of nnsim train (docs/model-format.md,
 * "Checkpoints"): everything a run needs to go on bit for bit. Magic
 * "NNSCKPT" and a NUL, a u32 version, a u32 of zero, the u64 lengths of a
 * JSON header, of the parameters (in floats) and of the trainer's state
 * (nn_trainer_save), then the three, then a SHA-256 of all that precedes
 * it. Integers and floats little-endian.
 */
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NN_CKPT_MAGIC		"NNSCKPT"	/* and its NUL: 8 bytes */
#define NN_CKPT_VERSION		1
#define NN_CKPT_PREFIX		40
#define NN_CKPT_DIGEST		32
#define NN_CKPT_MAX_HEADER	((uint64_t)64 << 20)
/* The trainer's state: the shuffle order and the optimizer's buffers. */
#define NN_CKPT_MAX_STATE	((uint64_t)64 << 30)

struct nn_checkpoint {
	json_t		*header;	/* a JSON object, owned */
	float		*params;
	size_t		 nparams;
	unsigned char	*state;		/* nn_trainer_save's bytes */
	size_t		 state_len;
};

/* Serialises c to a new buffer (caller frees); -1 with cause. */
int		 nn_checkpoint_encode(const struct nn_checkpoint *,
		     unsigned char **buf, size_t *len, char **cause);
/*
 * Parses and checks a buffer: every length against the limits and the
 * buffer before anything is allocated, then the digest. what names the
 * source in messages. A new checkpoint (caller frees), or NULL with cause.
 */
struct nn_checkpoint *nn_checkpoint_decode(const unsigned char *buf,
		     size_t len, const char *what, char **cause);
/* Writes atomically (nn_write_file_atomic). -1 with cause naming path. */
int		 nn_checkpoint_save(const struct nn_checkpoint *,
		     const char *path, char **cause);
/* Reads and decodes path; NULL with a cause naming it. */
struct nn_checkpoint *nn_checkpoint_load(const char *path, char **cause);
void		 nn_checkpoint_free(struct nn_checkpoint *);

#endif
