/* nnsim's commands: one table entry each, as tmux describes its commands. */
#ifndef NN_CMD_H
#define NN_CMD_H

#include <stdarg.h>

#include <jansson.h>

#include "base/alloc.h"

#define EXIT_FAILED	1	/* runtime failure */
#define EXIT_USAGE	2	/* bad usage or bad input */

struct cmd_entry {
	const char	*name;
	const char	*usage;		/* arguments after the name */
	const char	*summary;	/* one line for nnsim --help */
	const char	*help;		/* options, for nnsim CMD --help */
	int		(*exec)(const struct cmd_entry *, int, char **);
};

extern const struct cmd_entry cmd_train_entry;
extern const struct cmd_entry cmd_eval_entry;
extern const struct cmd_entry cmd_predict_entry;
extern const struct cmd_entry cmd_info_entry;
extern const struct cmd_entry cmd_export_entry;
extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_jobs_entry;
extern const struct cmd_entry cmd_attach_entry;
extern const struct cmd_entry cmd_console_entry;
extern const struct cmd_entry cmd_data_entry;
extern const struct cmd_entry cmd_plot_entry;

/* Prints "nnsim NAME: message (usage: ...)" on one line; returns
 * EXIT_USAGE. */
int	cmd_usage_error(const struct cmd_entry *, const char *, ...)
	    NN_PRINTF(2, 3);
/* Prints one line "nnsim: message" on stderr. */
void	cmd_error(const char *, ...) NN_PRINTF(1, 2);
/* Prints "nnsim NAME: message" on one line, NAME the command's: the
 * prefix of every error a command reports (docs/errors.md). */
void	cmd_fail(const struct cmd_entry *, const char *, ...)
	    NN_PRINTF(2, 3);
/* Reports getopt's '?' or ':' for the option at argv[optind - 1]. */
int	cmd_bad_option(const struct cmd_entry *, int c, char **argv);
/*
 * The options every command shares: 't' (--threads N) and 'h' (--help), and
 * getopt's errors. Returns -1 to go on parsing, else the exit status.
 */
int	cmd_common_option(const struct cmd_entry *, int c, char **argv,
	    int *threads);
void	cmd_print_help(const struct cmd_entry *);
/*
 * The command's next option (getopt_long over argv after the name; set
 * optind to 1 first): its letter, or -1 after the last. --threads, --help
 * and getopt's errors are handled here: CMD_OPT_EXIT then, with the
 * command's exit status in *status.
 */
#define CMD_OPT_EXIT	(-2)
struct option;
int	cmd_getopt(const struct cmd_entry *, int argc, char **argv,
	    const char *shortopts, const struct option *longopts,
	    int *threads, int *status);
/*
 * Checks that want arguments follow the options; the usage error names
 * them ("NET.JSON", "MODEL and DATA"). 0, or -1 after the error.
 */
int	cmd_check_args(const struct cmd_entry *, int have, int want,
	    const char *names);
/* Prints prefix and the message as one line on stderr. */
void	cmd_verror(const char *prefix, const char *fmt, va_list ap);
/*
 * A run's figures as a model keeps them (new reference): timings and paths
 * stay out so that the same seed gives the same bytes.
 */
json_t	*cmd_model_figures(json_t *figures);
/* Writes the metrics' last line and closes them; *m is NULL afterwards. */
struct nn_metrics;
int	cmd_metrics_done(struct nn_metrics **m, json_t *done, char **cause);
/* Parses a positive integer option value no larger than max. */
int	cmd_parse_int(const struct cmd_entry *, const char *option,
	    const char *value, int min, int max, int *out);

#endif
