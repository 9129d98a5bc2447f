/* What eval and predict share: reading data the way a model expects it. */
#ifndef NN_MODEL_IO_H
#define NN_MODEL_IO_H

#include "data/data.h"
#include "nn/model.h"

#define MODEL_IO_BATCH	256

/*
 * Loads the data a command names for model m: a net.json's test data, a
 * FANN file or a CSV in the model's training layout. Checks its sizes
 * against the model and normalises it with the model's statistics. *what
 * gets a new string that says which data it was.
 */
struct nn_data	*model_io_load_data(const struct nn_model *, const char *path,
		     char **what, char **cause);
/* A copy of the model's net that runs batches of up to max_batch rows. */
struct nn_net	*model_io_net(struct nn_model *, int max_batch);
/*
 * Names of the model's outputs: its class names, or the training CSV's
 * target column names (layout "columns"). A new array of borrowed strings
 * (caller frees the array), or NULL with *n 0 when the model has none.
 */
char		**model_io_output_names(const struct nn_model *, int *n);
/*
 * Names of the model's inputs: the training CSV's input columns. The same
 * ownership as model_io_output_names; NULL when the model has none.
 */
char		**model_io_input_names(const struct nn_model *, int *n);
/* 1 if path ends in suffix. */
int		 model_io_suffix(const char *path, const char *suffix);
/* A source for a FANN or CSV file read in the model's training layout. */
int		 model_io_source(const struct nn_model *, const char *path,
		     struct nn_source *, char **cause);
/* The same for a CSV file of any name. */
int		 model_io_csv_source(const struct nn_model *, const char *path,
		     struct nn_source *, char **cause);

#endif
