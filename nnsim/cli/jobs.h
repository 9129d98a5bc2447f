/*
 * Detached jobs (nnsim submit --detach): each has a folder under the jobs
 * directory with job.json (what and where, its status), log (what the
 * submitter printed) and table.json (its live table, cli/progress.h).
 * nnsim jobs lists them, nnsim attach follows one.
 *
 * The jobs directory is $NNSIM_JOBS, else $XDG_STATE_HOME/nnsim/jobs, else
 * ~/.local/state/nnsim/jobs.
 */
#ifndef NN_JOBS_H
#define NN_JOBS_H

#include <jansson.h>

#define NN_JOBS_ID_LEN	8	/* hex digits */

/* The jobs directory (new string); NULL with cause when there is none. */
char	*nn_jobs_dir(char **cause);
/* A fresh random id (a job that runs attached has one too). */
int	 nn_jobs_new_id(char id[NN_JOBS_ID_LEN + 1], char **cause);
/* 1 when id looks like a job id. */
int	 nn_jobs_id_ok(const char *id);
/*
 * A new job: a fresh id, its folder, and job.json with fields (a
 * reference is taken) plus "id", "status": "running" and "started".
 */
int	 nn_jobs_create(json_t *fields, char id[NN_JOBS_ID_LEN + 1],
	    char **cause);
/* Sets fields in the job's job.json (written whole, then renamed). */
int	 nn_jobs_update(const char *id, json_t *fields, char **cause);
/* The job's job.json (new reference), or NULL with cause. */
json_t	*nn_jobs_read(const char *id, char **cause);
/* Every job's job.json, oldest first (new reference). */
json_t	*nn_jobs_list(char **cause);
/*
 * 1 when a job's process still runs: status "running" and its pid an
 * nnsim (not a pid the system gave to another program since).
 */
int	 nn_jobs_alive(json_t *job);
/* The job's log file (new string). */
char	*nn_jobs_log(const char *id, char **cause);

/* Replaces the job's live table (written whole, then renamed). */
int	 nn_jobs_put_table(const char *id, json_t *view, char **cause);
/* The job's live table (new reference), or NULL while it has none. */
json_t	*nn_jobs_table(const char *id);

#endif
