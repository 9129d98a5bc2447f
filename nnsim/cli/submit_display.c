/*
 * nnsim submit's output for people: on a terminal a live table, a row per
 * agent redrawn in place; otherwise, and for events, one line each.
 */
#include <stdarg.h>
#include <stdio.h>

#include "base/clock.h"
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

/*
 * On a terminal: one row per agent (host, state, epoch, step, loss,
 * samples/s), redrawn in place at most twice a second.
 */
void
submit_draw(struct submit *sb, int force)
{
	struct sess *s;
	int i;

	if (!sb->tty || sb->quiet || (!force && nn_clock_s() - sb->redrawn <
	    0.5))
		return;
	sb->redrawn = nn_clock_s();
	submit_erase(sb);
	printf("%-10s %-14s %-10s %-8s %6s %9s %10s %12s\n",
	    sb->data ? "PARTITION" : "SESSION", "AGENT", "HOST", "STATE",
	    "EPOCH", "STEP", "LOSS", "SAMPLES/S");
	for (i = 0; i < sb->n; i++) {
		s = &sb->s[i];
		printf("%-10d %-14s %-10s %-8s %6d %9lld %10.6f %12.0f\n", i,
		    s->agent[0] != '\0' ? s->agent : "-",
		    s->host[0] != '\0' ? s->host : "-", submit_state_name(s),
		    s->epoch, s->step, s->live_loss, s->sps);
	}
	sb->drawn = sb->n + 1;
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
