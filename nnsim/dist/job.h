/*
 * A job's "parallel" section (docs/net-json.md): how net.json becomes
 * agents. Session mode expands into one net.json per session, from a list
 * of overrides or a grid of them; data mode keeps the one net.json as
 * written, trained by partitions.
 */
#ifndef NN_JOB_H
#define NN_JOB_H

#include <jansson.h>

#define NN_JOB_MAX_SESSIONS	4096

enum nn_job_mode {
	NN_JOB_SESSION,
	NN_JOB_DATA,
};

struct nn_job {
	enum nn_job_mode  mode;
	int		  nsessions;
	json_t		**roots;	/* each session's net.json, owned */
	char		**labels;	/* "train.seed=2 ..." or "default" */
	char		 *select;	/* a figure of the last epoch */
	int		  maximize;	/* select: higher is better */
	int		  partitions;	/* data mode */
	int		  deterministic; /* data mode: fixed summation order */
	int		  retries;	/* session mode: starts again after a
					 * failure, per session */
	int		  replicas;	/* session mode: hosts that hold each
					 * commit (0: none) */
	int		  commit_epochs;	/* commit every N epochs */
	int		  commit_seconds;	/* and at least this often */
	json_t		 *limits;	/* parallel.limits, or NULL */
};

#define NN_JOB_RETRIES		2	/* parallel.retries by default */
#define NN_JOB_RETRIES_MAX	100
#define NN_JOB_REPLICAS		1	/* parallel.replicas */
#define NN_JOB_REPLICAS_MAX	8
#define NN_JOB_COMMIT_EPOCHS	1	/* parallel.commit_epochs */
#define NN_JOB_COMMIT_SECONDS	30	/* parallel.commit_seconds */

/*
 * Reads root's "parallel" section (absent: one session as written) and
 * expands it; data mode gives one session, roots[0] the document as
 * written (parallel included). has_test and classification pick the
 * default "select". Every session's net.json is checked with
 * nn_config_parse. -1 with a cause that names path and the JSON path of
 * the fault.
 */
int	nn_job_parse(json_t *root, const char *path, int has_test,
	    int classification, struct nn_job *job, char **cause);
void	nn_job_clear(struct nn_job *);
/*
 * Sets the JSON path ("train.optimizer.lr", "layers[1].units", or
 * "layers.1.units") in root to value (a reference is taken), creating
 * objects on the way. -1 with a cause that quotes the path when a step
 * does not fit what is there (an index past an array's end, a key inside
 * a number).
 */
int	nn_job_override(json_t *root, const char *path, json_t *value,
	    char **cause);

#endif
