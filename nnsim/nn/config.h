/*
 * net.json: the network, its data and how to train it. Every error names
 * the file and the JSON path, such as
 * "net.json: layers[2].activation: unknown "relux" (expected ...)".
 */
#ifndef NN_CONFIG_H
#define NN_CONFIG_H

#include <jansson.h>
#include <stdint.h>

#include "data/data.h"
#include "nn/net.h"
#include "nn/optim.h"
#include "nn/schedule.h"

#define NN_MAX_EPOCHS	10000000
#define NN_MAX_BATCH	(1 << 20)
#define NN_MAX_CONFIG	(16 << 20)	/* bytes of net.json */
#define NN_MAX_PARTITIONS	64	/* parallel.partitions in data mode */

/*
 * train.early_stopping: stop when the monitored figure has not improved
 * by more than min_delta for patience epochs (docs/net-json.md).
 */
enum nn_figure {
	NN_FIG_LOSS,
	NN_FIG_ACCURACY,
	NN_FIG_VAL_LOSS,
	NN_FIG_VAL_ACCURACY,
	NN_FIG_TEST_LOSS,
	NN_FIG_TEST_ACCURACY,
};

struct nn_stop_spec {
	int			on;		/* the key was given */
	enum nn_figure		monitor;	/* val_loss */
	int			patience;	/* 5 */
	double			min_delta;	/* 0 */
	int			restore_best;	/* false */
};

struct nn_train_spec {
	int			epochs;		/* 10 */
	int			batch;		/* 32 */
	uint64_t		seed;		/* 1 */
	int			shuffle;	/* 1 */
	struct nn_optim_spec	optim;		/* sgd, lr 0.01 */
	int			shards;		/* 1; data mode: partitions */
	struct nn_stop_spec	stop;		/* off */
	struct nn_schedule_spec	schedule;	/* none: constant */
};

struct nn_config {
	char			*path;		/* as given */
	char			*dir;		/* folder holding it */
	char			*name;		/* "name", or the file stem */
	struct nn_arch		 arch;
	int			 input_given;	/* "input" was present */
	int			 output_given;	/* last layer had "units" */
	struct nn_source	 train_src;
	struct nn_source	 test_src;
	int			 has_test;
	double			 split;		/* 0 when unused */
	struct nn_source	 val_src;	/* data.validation */
	int			 has_val;
	double			 val_split;	/* data.validation_split, or 0 */
	enum nn_norm_kind	 normalize;	/* none */
	struct nn_train_spec	 train;
	json_t			*root;		/* the parsed document */
};

/* Reads and validates path. Returns NULL with cause on any error. */
struct nn_config *nn_config_load(const char *path, char **cause);
/* An edit of the parsed document before it is checked; 0 or -1 with cause. */
typedef int	 nn_config_edit_fn(json_t *root, void *arg, char **cause);
/*
 * nn_config_load with edit applied to the document first (command-line
 * overrides), so that what they break is reported at its JSON path.
 */
struct nn_config *nn_config_load_edit(const char *path,
		     nn_config_edit_fn *edit, void *arg, char **cause);
/*
 * Validates an already parsed document. Takes its own reference to root (the
 * caller keeps and releases its own). With dir NULL, relative data paths
 * stay relative to the current folder.
 */
struct nn_config *nn_config_parse(json_t *root, const char *path,
		     const char *dir, char **cause);
/*
 * nn_config_parse of a net.json that an agent carries (agents/session.c,
 * agents/partition.c): its rows came with it, so the data files it names
 * are not opened (the worker's sandbox may not reach them).
 */
struct nn_config *nn_config_parse_shipped(json_t *root, const char *path,
		     char **cause);
void		 nn_config_free(struct nn_config *);
/*
 * Fills arch.input and the last layer's units from the data when net.json
 * left them out, and checks them otherwise.
 */
int		 nn_config_fit_data(struct nn_config *, const struct nn_data *,
		     char **cause);
/* A figure's name ("val_loss") and back; -1 for an unknown name. */
const char	*nn_figure_name(enum nn_figure);
int		 nn_figure_parse(const char *, enum nn_figure *);
extern const char nn_figure_names[];
/* 1 when higher is better (accuracies). */
int		 nn_figure_maximize(enum nn_figure);
/* Whether the configuration holds validation rows (either key). */
int		 nn_config_has_validation(const struct nn_config *);
/* The "train" section as JSON, for the model file (new reference). */
json_t		*nn_train_spec_json(const struct nn_train_spec *);

/* A float32 as the JSON real of its shortest exact decimal (new reference). */
json_t		*nn_json_real32(float);

#endif
