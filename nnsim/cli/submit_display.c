/*
 * nnsim submit's output for people: on a terminal a live table, a row per
 * agent redrawn in place (cli/progress.h draws it, cut to the width);
 * otherwise, and for events, one line each. A detached job publishes the
 * table in its folder for nnsim attach to draw the same.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/progress.h"
#include "cli/submit-internal.h"

static void
submit_erase(struct submit *sb)
{
	/* Up over the table, then clear to the end of the screen. */
	if (sb->drawn > 0)
		printf("\033[%dA\033[J", sb->drawn);
	sb->drawn = 0;
}

static const char *
submit_state_name(const struct sess *s)
{
	static const char *names[] = { "queued", "running", "done",
	    "failed" };

	return s->moving ? "moving" : names[s->state];
}

void
submit_announce(struct submit *sb)
{
	size_t nhosts = json_object_size(sb->hosts);

	if (sb->quiet)
		return;
	if (sb->data)
		printf("job %s: data-parallel, %d partition%s over %zu "
		    "host%s%s (job id %s)\n", sb->cfg->name, sb->n, sb->n > 1 ?
		    "s" : "", nhosts, nhosts > 1 ? "s" : "",
		    sb->job.deterministic ? ", deterministic" : "", sb->id);
	else
		printf("job %s: %d session%s over %zu host%s, select %s (job "
		    "id %s)\n", sb->cfg->name, sb->n, sb->n > 1 ? "s" : "",
		    nhosts, nhosts > 1 ? "s" : "", sb->job.select, sb->id);
}

/* The table's rows (new reference): nn_progress_table's view. */
static json_t *
submit_view(struct submit *sb)
{
	json_t *rows = json_array();
	struct sess *s;
	int i;

	for (i = 0; i < sb->n; i++) {
		s = &sb->s[i];
		json_array_append_new(rows, json_pack("{s:i, s:s, s:s, s:s, "
		    "s:i, s:I, s:f, s:f}", "index", i, "agent", s->agent,
		    "host", s->host, "state", submit_state_name(s), "epoch",
		    s->epoch, "step", (json_int_t)s->step, "loss",
		    s->live_loss, "samples_per_s", s->sps));
	}
	return json_pack("{s:s, s:o}", "kind", sb->data ? "PARTITION" :
	    "SESSION", "rows", rows);
}

/*
 * On a terminal: one row per agent (host, state, epoch, step, loss,
 * samples/s), redrawn in place at most twice a second, to the width the
 * terminal has now. A detached job writes the rows to its folder as
 * often.
 */
void
submit_draw(struct submit *sb, int force)
{
	json_t *view;
	char *ignored = NULL;
	int cols, rows;

	if ((!sb->tty && !sb->detached) || (sb->quiet && !sb->detached) ||
	    (!force && nn_clock_s() - sb->redrawn < 0.5))
		return;
	sb->redrawn = nn_clock_s();
	view = submit_view(sb);
	if (sb->detached) {
		/* Only attach's table misses it: the log has the lines. */
		if (nn_jobs_put_table(sb->id, view, &ignored) != 0)
			free(ignored);
		json_decref(view);
		return;
	}
	submit_erase(sb);
	nn_progress_size(STDOUT_FILENO, &cols, &rows);
	sb->drawn = nn_progress_table(stdout, view, cols, rows);
	json_decref(view);
	fflush(stdout);
}

void
submit_say(struct submit *sb, int i, const char *fmt, ...)
{
	va_list ap;

	if (sb->quiet)
		return;
	submit_erase(sb);
	printf("%s %d (%s on %s): ", submit_kind(sb), i, sb->s[i].agent,
	    sb->s[i].host);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	sb->redrawn = 0;
}

void
submit_note(struct submit *sb, const char *fmt, ...)
{
	va_list ap;

	if (sb->quiet)
		return;
	submit_erase(sb);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	sb->redrawn = 0;
}
