/*
 * The model file (docs/model-format.md): magic, version, a JSON header with
 * the architecture, normalisation, classes and training configuration, the
 * float32 little-endian parameters, then a SHA-256 of all that precedes it.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "data/data.h"
#include "nn/net.h"

#define NN_MODEL_MAGIC		"NNSMODEL"
#define NN_MODEL_VERSION	1
#define NN_MODEL_MAX_HEADER	(64 << 20)
/* Magic, version, header and parameter lengths, then the SHA-256. */
#define NN_MODEL_PREFIX		24
#define NN_MODEL_DIGEST		32
/* The largest file the limits allow: nn_model_load refuses bigger ones. */
#define NN_MODEL_MAX_FILE	((uint64_t)NN_MODEL_PREFIX +		\
	    NN_MODEL_MAX_HEADER + 4 * (uint64_t)NN_MAX_PARAMS + NN_MODEL_DIGEST)
/* Batch size of the network a decoded model holds. */
#define NN_MODEL_BATCH		64

struct nn_model {
	char		*name;
	struct nn_net	*net;		/* owned */
	struct nn_norm	 norm;
	enum nn_task	 task;
	float		 lo, hi;
	int		 nclasses;
	char		**classes;	/* NULL when labels had no names */
	json_t		*train;		/* training configuration, or NULL */
	json_t		*layout;	/* how the training data was read */
	json_t		*metrics;	/* final figures, or NULL */
};

struct nn_model	*nn_model_new(void);
void		 nn_model_free(struct nn_model *);
/* Serialises to a new buffer; caller frees *buf. */
int		 nn_model_encode(const struct nn_model *, unsigned char **buf,
		     size_t *len, char **cause);
/*
 * Parses a buffer; what names the source in messages. The new model's net
 * runs batches of up to NN_MODEL_BATCH rows. Caller frees.
 */
struct nn_model	*nn_model_decode(const unsigned char *buf, size_t len,
		     const char *what, char **cause);
/* Writes atomically (temporary file and rename). */
int		 nn_model_save(const struct nn_model *, const char *path,
		     char **cause);
/* Reads and decodes a file of at most NN_MODEL_MAX_FILE bytes. */
struct nn_model	*nn_model_load(const char *path, char **cause);

#endif
