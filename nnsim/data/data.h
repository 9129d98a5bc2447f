/*
 * Data sets in memory, the sources net.json names, and input normalisation.
 * Inputs and targets are float32, row-major, n x in and n x out.
 */
#ifndef NN_DATA_H
#define NN_DATA_H

#include <stddef.h>
#include <stdint.h>

#define NN_MAX_ROWS	((size_t)1 << 31)
#define NN_MAX_COLUMNS	(1 << 20)
#define NN_MAX_CLASSES	65536
#define NN_MAX_LINE	(64 << 20)	/* longest text line a loader accepts */

enum nn_task {
	NN_TASK_REGRESSION,
	NN_TASK_CLASSIFICATION,
};

struct nn_data {
	size_t		 n;
	int		 in;
	int		 out;
	float		*x;
	float		*y;
	enum nn_task	 task;
	float		 lo, hi;	/* classification target values */
	int		 nclasses;	/* names when labels had them */
	char		**classes;
	int		 borrowed;	/* x and y are not ours to free */
	/*
	 * Rows that live in the cluster's data cache (docs/data-cache.md):
	 * table cache_table of set cache_set, all of it (cache_shards 0)
	 * or shard cache_shard of cache_shards. The submitter's copy has no
	 * rows (x and y NULL); an agent maps them from its daemon.
	 */
	char		*cache_set;
	char		 cache_table[8];	/* "train" or "test" */
	int		 cache_shard;
	int		 cache_shards;
};

/* New data set with zeroed storage for n rows; free with nn_data_free. */
struct nn_data	*nn_data_new(size_t n, int in, int out);
void		 nn_data_free(struct nn_data *);
/* A data set of n rows over x and y, which stay the caller's: an agent's
 * data used where it arrived (agent_state_keep). */
struct nn_data	*nn_data_borrow(size_t n, int in, int out, float *x, float *y);
/* A cached table's reference: n rows of set's table, none here. */
struct nn_data	*nn_data_cached(const char *set, const char *table, size_t n,
		     int in, int out);
/*
 * Classification when every target is one of two values and each row of a
 * multi-output set has exactly one high value; sets task, lo and hi.
 */
void		 nn_data_detect_task(struct nn_data *);
/*
 * Moves a seeded random fraction of rows into a new test set; the rest
 * stays in d. Returns the test set or NULL with cause.
 */
struct nn_data	*nn_data_split(struct nn_data *d, double fraction,
		     uint64_t seed, char **cause);
/*
 * Shard part of n of a data-parallel job: rows part, part+n, ... of d in
 * order (docs/net-json.md, "Data mode"), with d's task and targets. Of a
 * cached d, the shard's reference, without rows.
 */
struct nn_data	*nn_data_shard(const struct nn_data *d, int part, int n);

enum nn_format {
	NN_FORMAT_FANN,
	NN_FORMAT_CSV,
	NN_FORMAT_IDX,
	NN_FORMAT_GENERATE,
	NN_FORMAT_CACHE,	/* a set in the cluster's data cache */
};

enum nn_generator {
	NN_GEN_XOR,	/* jittered corners of [-1,1]^d, label is parity */
	NN_GEN_SPIRAL,	/* k interleaved 2-D spiral arms */
	NN_GEN_BLOBS,	/* k Gaussian clusters in d dimensions */
	NN_GEN_PARITY,	/* bit vectors {0,1}^d, label is parity */
};

/* One data source of net.json: data.train or data.test. */
struct nn_source {
	char		*jpath;		/* "data.train", for messages */
	enum nn_format	 format;
	char		*path;		/* resolved; fann and csv */
	char		*images;	/* idx */
	char		*labels;	/* idx */
	/* csv */
	int		 header;	/* first line is a header */
	int		 label;		/* class column, or -1 */
	int		*targets;	/* regression columns */
	int		 ntargets;
	int		*inputs;	/* input columns; NULL: all others */
	int		 ninputs;
	long		 row_lo, row_hi;	/* [lo, hi) of data rows; -1: all */
	/* generate */
	enum nn_generator gen;
	long		 gen_n;
	int		 gen_inputs;
	int		 gen_classes;
	uint64_t	 gen_seed;
	double		 gen_noise;
	/* cache: the set's name (docs/data-cache.md) */
	char		*name;
};

void		 nn_source_clear(struct nn_source *);
void		 nn_source_copy(struct nn_source *dst, const struct nn_source *);
const char	*nn_generator_name(enum nn_generator);
int		 nn_generator_parse(const char *, enum nn_generator *);
extern const char nn_generator_names[];
/*
 * 1 when s names a cached set (docs/data-cache.md): 1 to NN_DATA_NAME_MAX
 * characters of A-Z a-z 0-9 . _ -, not starting with . or -.
 */
#define NN_DATA_NAME_MAX	64
int		 nn_data_name_ok(const char *s);

/*
 * Loads a source. For class labels, classes (when nclasses > 0) fixes the
 * label order, as a saved model does; otherwise the classes are the sorted
 * distinct labels of every source loaded in one call. Loads train, and test
 * when it is not NULL, sharing one class list. Errors name the file and line.
 */
int	 nn_data_load(const struct nn_source *train,
	     const struct nn_source *test, char **classes, int nclasses,
	     struct nn_data **train_out, struct nn_data **test_out,
	     char **cause);

/* Individual loaders; used by nn_data_load. */
int	 nn_load_fann(const char *path, struct nn_data **, char **cause);
int	 nn_load_idx(const char *images, const char *labels,
	     struct nn_data **, char **cause);
int	 nn_generate(const struct nn_source *, struct nn_data **,
	     char **cause);
/*
 * The cells of a CSV file's first line (its header), as new strings in a
 * new array of *n (caller frees both), or NULL when the file cannot be
 * read or has no first line.
 */
char	**nn_csv_header(const char *path, int *n);
/*
 * Writes d in FANN's text format, each value with %.9g so that a float
 * reads back to the same bits. -1 with a cause naming path.
 */
int	 nn_save_fann(const char *path, const struct nn_data *d,
	     char **cause);

enum nn_norm_kind {
	NN_NORM_NONE,
	NN_NORM_STANDARD,
	NN_NORM_MINMAX,
};

/* Per-input affine map x' = (x - shift) * scale. */
struct nn_norm {
	enum nn_norm_kind kind;
	int		 in;
	float		*shift;
	float		*scale;
};

const char	*nn_norm_name(enum nn_norm_kind);
int		 nn_norm_parse(const char *, enum nn_norm_kind *);
extern const char nn_norm_names[];
/* Statistics from d (the training data only). */
void		 nn_norm_fit(struct nn_norm *, enum nn_norm_kind,
		     const struct nn_data *d);
void		 nn_norm_apply(const struct nn_norm *, struct nn_data *d);
void		 nn_norm_apply_rows(const struct nn_norm *, float *x,
		     size_t n);
void		 nn_norm_clear(struct nn_norm *);

#endif
