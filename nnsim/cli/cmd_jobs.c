/*
 * nnsim jobs and nnsim attach: the detached jobs of nnsim submit --detach
 * (cli/jobs.h), listed, or followed until they end.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "cli/jobs.h"
#include "cli/progress.h"

static int	cmd_jobs_exec(const struct cmd_entry *, int, char **);
static int	cmd_attach_exec(const struct cmd_entry *, int, char **);

const struct cmd_entry cmd_jobs_entry = {
	.name = "jobs",
	.usage = "[--json]",
	.summary = "list the jobs started with nnsim submit --detach",
	.help =
	    "options:\n"
	    "  --json      one JSON object per job and line\n"
	    "  -h, --help  show this help\n"
	    "\nJobs live in $NNSIM_JOBS, else $XDG_STATE_HOME/nnsim/jobs,\n"
	    "else ~/.local/state/nnsim/jobs. A running job whose process is\n"
	    "gone shows as \"lost\".\n",
	.exec = cmd_jobs_exec,
};

const struct cmd_entry cmd_attach_entry = {
	.name = "attach",
	.usage = "JOB",
	.summary = "follow a detached job until it ends",
	.help =
	    "options:\n"
	    "  -h, --help  show this help\n"
	    "\nPrints the job's output from its start, then as it comes, and\n"
	    "ends with the job: exit status 0 when it succeeded, 1 when it\n"
	    "failed or its process died, 2 for an unknown job. On a terminal\n"
	    "the job's live table (as nnsim submit shows it) is redrawn below\n"
	    "its lines. Interrupting attach leaves the job running.\n",
	.exec = cmd_attach_exec,
};

/* "running" whose process is gone is "lost". */
static const char *
jobs_status(json_t *o)
{
	const char *st = json_string_value(json_object_get(o, "status"));

	if (st == NULL)
		return "?";
	/* No pid yet: the job's process is starting. */
	if (strcmp(st, "running") == 0 &&
	    json_object_get(o, "pid") != NULL && !nn_jobs_alive(o))
		return "lost";
	return st;
}

static int
jobs_options(const struct cmd_entry *self, int argc, char **argv, int *json)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc, threads = 0;

	optind = 1;
	while ((c = cmd_getopt(self, argc, argv, ":h", longopts, &threads,
	    &rc)) != -1) {
		if (c == CMD_OPT_EXIT)
			return rc;
		/* attach takes no --json. */
		if (json == NULL)
			return cmd_bad_option(self, c, argv);
		*json = 1;
	}
	return -1;
}

static int
cmd_jobs_exec(const struct cmd_entry *self, int argc, char **argv)
{
	json_t *list, *o;
	char *cause = NULL, *text;
	size_t i;
	int json = 0, rc;

	if ((rc = jobs_options(self, argc, argv, &json)) != -1)
		return rc;
	if (optind != argc)
		return cmd_usage_error(self, "unexpected argument \"%s\"",
		    argv[optind]);
	if ((list = nn_jobs_list(&cause)) == NULL) {
		cmd_fail(&cmd_jobs_entry, "%s", cause);
		free(cause);
		return EXIT_FAILED;
	}
	if (!json)
		printf("%-8s  %-8s  %-20s  %s\n", "JOB", "STATUS", "STARTED",
		    "NET");
	json_array_foreach(list, i, o) {
		json_object_set_new(o, "status", json_string(jobs_status(o)));
		if (json) {
			text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
			printf("%s\n", text != NULL ? text : "{}");
			free(text);
			continue;
		}
		printf("%-8s  %-8s  %-20s  %s\n",
		    json_string_value(json_object_get(o, "id")),
		    json_string_value(json_object_get(o, "status")),
		    json_string_value(json_object_get(o, "started")) != NULL ?
		    json_string_value(json_object_get(o, "started")) : "?",
		    json_string_value(json_object_get(o, "net")) != NULL ?
		    json_string_value(json_object_get(o, "net")) : "?");
	}
	json_decref(list);
	return 0;
}

/*
 * Copies what the log has beyond *off to stdout; whole lines only when
 * lines is set (a live table is drawn below them). 1 when it copied some.
 */
static int
attach_copy(FILE *log, long *off, int lines)
{
	char buf[8192];
	size_t n, keep;
	int copied = 0;

	clearerr(log);
	fseek(log, *off, SEEK_SET);
	while ((n = fread(buf, 1, sizeof buf, log)) > 0) {
		keep = n;
		while (lines && keep > 0 && buf[keep - 1] != '\n')
			keep--;
		/* A line longer than the buffer goes out as it is. */
		if (keep == 0 && n == sizeof buf)
			keep = n;
		fwrite(buf, 1, keep, stdout);
		*off += (long)keep;
		copied |= keep > 0;
		if (keep < n)
			break;
	}
	fflush(stdout);
	return copied;
}

/* The live table of a job on a terminal, as nnsim submit draws it. */
struct attach_table {
	json_t	*view;		/* as last drawn */
	int	 drawn;		/* its lines on screen */
	int	 cols, rows;
};

static void
attach_erase(struct attach_table *t)
{
	if (t->drawn > 0)
		printf("\033[%dA\033[J", t->drawn);
	t->drawn = 0;
}

/* Redraws the table when it, the terminal's size, or the lines above it
 * (erased: the table is gone) changed. */
static void
attach_draw(struct attach_table *t, const char *id)
{
	json_t *view = nn_jobs_table(id);
	int cols, rows;

	nn_progress_size(STDOUT_FILENO, &cols, &rows);
	if (view == NULL || (t->drawn > 0 && json_equal(view, t->view) &&
	    cols == t->cols && rows == t->rows)) {
		json_decref(view);
		return;
	}
	attach_erase(t);
	t->drawn = nn_progress_table(stdout, view, cols, rows);
	t->cols = cols;
	t->rows = rows;
	json_decref(t->view);
	t->view = view;
	fflush(stdout);
}

/* New log lines go above the table: erased first, redrawn after. */
static void
attach_follow(FILE *log, long *off, struct attach_table *t, int live,
    const char *id)
{
	long at = *off;
	char c;

	if (!live) {
		attach_copy(log, off, 0);
		return;
	}
	/* Erase only when a whole line waits. */
	clearerr(log);
	fseek(log, at, SEEK_SET);
	while (fread(&c, 1, 1, log) == 1 && c != '\n')
		;
	if (!feof(log) && !ferror(log)) {
		attach_erase(t);
		attach_copy(log, off, 1);
	}
	attach_draw(t, id);
}

static int
cmd_attach_exec(const struct cmd_entry *self, int argc, char **argv)
{
	struct timespec pause = { 0, 200 * 1000000 };
	struct attach_table table = { NULL, 0, 0, 0 };
	const char *id, *st;
	char *cause = NULL, *path = NULL;
	FILE *log = NULL;
	json_t *o = NULL;
	long off = 0;
	int rc, live;

	if ((rc = jobs_options(self, argc, argv, NULL)) != -1)
		return rc;
	if (argc - optind != 1)
		return cmd_usage_error(self, argc == optind ? "missing JOB" :
		    "expected one JOB");
	id = argv[optind];
	if ((o = nn_jobs_read(id, &cause)) == NULL) {
		cmd_fail(&cmd_attach_entry, "%s", cause);
		rc = EXIT_USAGE;
		goto out;
	}
	if ((path = nn_jobs_log(id, &cause)) == NULL ||
	    (log = fopen(path, "r")) == NULL) {
		cmd_fail(&cmd_attach_entry, "job %s: %s: %s", id,
		    path != NULL ? path : "log", cause != NULL ? cause :
		    strerror(errno));
		rc = EXIT_FAILED;
		goto out;
	}
	live = isatty(STDOUT_FILENO) && getenv("NNSIM_NO_LIVE") == NULL;
	for (;;) {
		attach_follow(log, &off, &table, live, id);
		st = jobs_status(o);
		if (strcmp(st, "running") != 0)
			break;
		nanosleep(&pause, NULL);
		json_decref(o);
		if ((o = nn_jobs_read(id, &cause)) == NULL) {
			cmd_fail(&cmd_attach_entry, "%s", cause);
			rc = EXIT_FAILED;
			goto out;
		}
	}
	/* The last words, written just before the status, then the last
	 * table, left on the screen. */
	attach_erase(&table);
	attach_copy(log, &off, 0);
	if (live)
		attach_draw(&table, id);
	if (strcmp(st, "done") == 0)
		rc = 0;
	else {
		if (strcmp(st, "lost") == 0)
			cmd_fail(&cmd_attach_entry, "job %s: its process "
			    "(pid %lld) is gone without a word", id, (long long)
			    json_integer_value(json_object_get(o, "pid")));
		rc = EXIT_FAILED;
	}
out:
	if (log != NULL)
		fclose(log);
	json_decref(table.view);
	json_decref(o);
	free(path);
	free(cause);
	return rc;
}
