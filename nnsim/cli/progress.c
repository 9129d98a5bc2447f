/* Progress bar and per-epoch lines. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "cli/progress.h"

#define BAR_WIDTH	24
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
	char bar[BAR_WIDTH + 1], eta[32], accs[32] = "";
	double t = nn_clock_s(), frac, rate, total, left;
	size_t filled;

	if (!p->live || p->quiet || t - p->last_draw < REDRAW_S)
		return;
	p->last_draw = t;
	frac = p->per_epoch > 0 ? (double)done / (double)p->per_epoch : 0;
	filled = (size_t)(frac * BAR_WIDTH);
	memset(bar, '#', filled);
	memset(bar + filled, '.', BAR_WIDTH - filled);
	bar[BAR_WIDTH] = '\0';
	total = (double)(epoch - 1) * (double)p->per_epoch + (double)done;
	rate = t > p->started ? total / (t - p->started) : 0;
	left = (double)p->epochs * (double)p->per_epoch - total;
	format_duration(eta, sizeof eta, rate > 0 ? left / rate : 0);
	if (has_acc)
		snprintf(accs, sizeof accs, " acc %.4f", acc);
	fprintf(p->out, "\r\033[Kepoch %d/%d [%s] %3.0f%% loss %.4f%s | "
	    "%.0f samples/s | ETA %s", epoch, p->epochs, bar, frac * 100,
	    loss, accs, rate, eta);
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
