/*
 * The live displays: train's progress bar and per-epoch lines, and the
 * table of nnsim submit and nnsim attach. What is redrawn in place is cut
 * to the terminal's width, read again at each redraw: a line that wrapped
 * would leave its first part behind when the cursor goes back up.
 */
#include <sys/ioctl.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/progress.h"

#define BAR_WIDTH	24
#define BAR_MIN		8	/* the bar shrinks to this on narrow screens */
#define REDRAW_S	0.1

struct nn_progress {
	FILE	*out;
	int	 live;
	int	 quiet;
	int	 epochs;
	size_t	 per_epoch;
	double	 started;
	double	 last_draw;
	double	 epoch_started;
	int	 drawn;		/* a bar is on the current line */
};

struct nn_progress *
nn_progress_new(FILE *out, int live, int quiet, int epochs,
    size_t samples_per_epoch)
{
	struct nn_progress *p;

	p = xcalloc(1, sizeof *p);
	p->out = out;
	p->live = live;
	p->quiet = quiet;
	p->epochs = epochs;
	p->per_epoch = samples_per_epoch;
	p->started = p->epoch_started = nn_clock_s();
	return p;
}

void
nn_progress_free(struct nn_progress *p)
{
	if (p == NULL)
		return;
	if (p->drawn)
		fputs("\r\033[K", p->out);
	free(p);
}

void
nn_progress_size(int fd, int *cols, int *rows)
{
	struct winsize ws;

	*cols = *rows = 0;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

void
nn_progress_put(FILE *out, const char *line, int width)
{
	size_t n = strlen(line);

	if (width > 0 && n > (size_t)width)
		n = (size_t)width;
	fwrite(line, 1, n, out);
}

static void
format_duration(char *buf, size_t len, double s)
{
	long t = s > 0 && s < 1e8 ? (long)(s + 0.5) : 0;

	if (t >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60,
		    t % 60);
	else
		snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

void
nn_progress_update(struct nn_progress *p, int epoch, size_t done, double loss,
    double acc, int has_acc)
{
	char bar[BAR_WIDTH + 1], eta[32], accs[32] = "", head[32], tail[160];
	char line[256];
	double t = nn_clock_s(), frac, rate, total, left;
	size_t filled, width = BAR_WIDTH, fixed;
	int cols, rows;

	if (!p->live || p->quiet || t - p->last_draw < REDRAW_S)
		return;
	p->last_draw = t;
	frac = p->per_epoch > 0 ? (double)done / (double)p->per_epoch : 0;
	total = (double)(epoch - 1) * (double)p->per_epoch + (double)done;
	rate = t > p->started ? total / (t - p->started) : 0;
	left = (double)p->epochs * (double)p->per_epoch - total;
	format_duration(eta, sizeof eta, rate > 0 ? left / rate : 0);
	if (has_acc)
		snprintf(accs, sizeof accs, " acc %.4f", acc);
	snprintf(head, sizeof head, "epoch %d/%d ", epoch, p->epochs);
	snprintf(tail, sizeof tail, " %3.0f%% loss %.4f%s | %.0f samples/s | "
	    "ETA %s", frac * 100, loss, accs, rate, eta);
	/* A narrow screen takes from the bar first, then cuts the end. */
	nn_progress_size(fileno(p->out), &cols, &rows);
	fixed = strlen(head) + strlen(tail) + 2;
	if (cols > 0 && fixed + width > (size_t)cols)
		width = (size_t)cols > fixed + BAR_MIN ? (size_t)cols - fixed :
		    BAR_MIN;
	filled = (size_t)(frac * (double)width);
	if (filled > width)
		filled = width;
	memset(bar, '#', filled);
	memset(bar + filled, '.', width - filled);
	bar[width] = '\0';
	snprintf(line, sizeof line, "%s[%s]%s", head, bar, tail);
	fputs("\r\033[K", p->out);
	nn_progress_put(p->out, line, cols);
	fflush(p->out);
	p->drawn = 1;
}

void
nn_progress_format(char *buf, size_t len, int epochs,
    const struct nn_epoch_stats *st)
{
	size_t n;

	n = (size_t)snprintf(buf, len, "epoch %d/%d loss %.6f", st->epoch,
	    epochs, st->loss);
	if (st->has_accuracy && n < len)
		n += (size_t)snprintf(buf + n, len - n, " accuracy %.4f",
		    st->accuracy);
	if (st->has_test && n < len) {
		n += (size_t)snprintf(buf + n, len - n, " test_loss %.6f",
		    st->test_loss);
		if (st->has_accuracy && n < len)
			n += (size_t)snprintf(buf + n, len - n,
			    " test_accuracy %.4f", st->test_accuracy);
	}
	if (n < len)
		snprintf(buf + n, len - n, " %.0f samples/s %.1fs",
		    st->samples_per_sec, st->elapsed_s);
}

void
nn_progress_epoch(struct nn_progress *p, const struct nn_epoch_stats *st)
{
	char line[512];

	if (p->quiet)
		return;
	nn_progress_format(line, sizeof line, p->epochs, st);
	fprintf(p->out, "%s%s\n", p->drawn ? "\r\033[K" : "", line);
	fflush(p->out);
	p->drawn = 0;
	p->last_draw = 0;
}

/* One row's cells as the table prints them. */
static void
table_row(char *buf, size_t len, json_t *r)
{
	const char *agent = json_string_value(json_object_get(r, "agent"));
	const char *host = json_string_value(json_object_get(r, "host"));
	const char *state = json_string_value(json_object_get(r, "state"));

	snprintf(buf, len, "%-10lld %-14s %-10s %-8s %6lld %9lld %10.6f %12.0f",
	    (long long)json_integer_value(json_object_get(r, "index")),
	    agent != NULL && agent[0] != '\0' ? agent : "-",
	    host != NULL && host[0] != '\0' ? host : "-",
	    state != NULL ? state : "?",
	    (long long)json_integer_value(json_object_get(r, "epoch")),
	    (long long)json_integer_value(json_object_get(r, "step")),
	    json_number_value(json_object_get(r, "loss")),
	    json_number_value(json_object_get(r, "samples_per_s")));
}

int
nn_progress_table(FILE *out, json_t *view, int cols, int rows)
{
	json_t *list = json_object_get(view, "rows");
	const char *kind = json_string_value(json_object_get(view, "kind"));
	size_t n = json_array_size(list), shown = n, i;
	char line[512];

	/* Taller than the screen, the cursor could not go back up over it:
	 * the first rows and a count of the others. */
	if (rows > 0 && n + 2 > (size_t)rows)
		shown = rows > 3 ? (size_t)rows - 3 : 0;
	snprintf(line, sizeof line, "%-10s %-14s %-10s %-8s %6s %9s %10s %12s",
	    kind != NULL ? kind : "AGENT", "AGENT", "HOST", "STATE", "EPOCH",
	    "STEP", "LOSS", "SAMPLES/S");
	nn_progress_put(out, line, cols);
	fputc('\n', out);
	for (i = 0; i < shown; i++) {
		table_row(line, sizeof line, json_array_get(list, i));
		nn_progress_put(out, line, cols);
		fputc('\n', out);
	}
	if (shown < n) {
		snprintf(line, sizeof line, "(%zu more)", n - shown);
		nn_progress_put(out, line, cols);
		fputc('\n', out);
	}
	return (int)(shown + 1 + (shown < n));
}
