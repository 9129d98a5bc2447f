/*
 * Metrics files (nnsim train and submit --metrics) read for nnsim plot: the
 * epoch lines of each run, and the events worth a marker on the curves.
 */
#ifndef NN_PLOTDATA_H
#define NN_PLOTDATA_H

#include <stddef.h>

#include <jansson.h>

/* One curve: a file's run (nnsim train, a data job) or a sweep's session. */
struct plot_run {
	char	*label;		/* legend text, set by plotdata_finish */
	json_t	*epochs;	/* epoch objects, by epoch after finish */
	int	 file;		/* index of the file it came from */
	int	 session;	/* -1: the file's one run */
};

/* A scaling or recovery event, drawn after the epoch it followed. */
struct plot_event {
	int	 epoch;		/* epochs done when it happened */
	char	*label;		/* short: "s1 moved local2" */
};

struct plotdata {
	struct plot_run		*runs;
	size_t			 nruns;
	struct plot_event	*events;
	size_t			 nevents;
	char			**files;	/* the paths read */
	size_t			 nfiles;
	int			 max_epoch;
};

struct plotdata	*plotdata_new(void);
void		 plotdata_free(struct plotdata *);
/*
 * Adds the runs and events of the metrics file at path. -1 with a cause
 * naming path (and line, "m.jsonl:3: ...") for a file that cannot be read,
 * a line that is not a JSON object, a bad epoch or session, or a file
 * without epoch lines.
 */
int		 plotdata_read(struct plotdata *, const char *path,
		     char **cause);
/* After the last read: epochs in order, runs without epochs dropped, and
 * legend labels (file names, then session labels). */
void		 plotdata_finish(struct plotdata *);
/* Whether an epoch line of some run has metric as a number. */
int		 plotdata_has_metric(const struct plotdata *, const char *metric);
/* The numeric metrics of the epoch lines, ", " between (caller frees). */
char		*plotdata_metrics(const struct plotdata *);

#endif
