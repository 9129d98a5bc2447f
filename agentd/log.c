/* One line per message, written whole so lines of processes never mix. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "agentd/log.h"
#include "base/clock.h"

static const char *log_names[] = { "error", "warn", "info", "debug" };
static char log_name[64] = "agentd";
static int log_level = LOG_INFO;
static struct log_rate *log_rates;	/* every rate used, for the flush */

int
log_parse_level(const char *s)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(log_names[i], s) == 0)
			return i;
	return -1;
}

void
log_init(const char *name, int level)
{
	snprintf(log_name, sizeof log_name, "%s", name);
	log_level = level;
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[2048], when[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof line, "%s.%03ldZ %s[%ld] %s: ", when,
	    (long)tv.tv_usec / 1000, log_name, (long)getpid(),
	    log_names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n += m < (int)(sizeof line - (size_t)n - 1) ? m :
	    (int)(sizeof line - (size_t)n - 2);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* Writes r's held line, with how many it stands for. */
static void
log_rate_write(struct log_rate *r, uint64_t now)
{
	if (r->suppressed == 1)
		log_msg(r->level, "%s", r->held);
	else
		log_msg(r->level, "%s (and %lu more like it in %.1f s)",
		    r->held, r->suppressed - 1, (now - r->last_ms) / 1000.0);
	r->suppressed = 0;
	r->last_ms = now;
}

void
log_rated(struct log_rate *r, int level, const char *fmt, ...)
{
	uint64_t now = clock_ms();
	va_list ap;

	if (level > log_level)
		return;
	if (!r->listed) {
		r->listed = 1;
		r->next = log_rates;
		log_rates = r;
	}
	r->level = level;
	va_start(ap, fmt);
	vsnprintf(r->held, sizeof r->held, fmt, ap);
	va_end(ap);
	r->suppressed++;
	if (r->last_ms == 0 || now - r->last_ms >= 1000)
		log_rate_write(r, now);
}

void
log_rate_flush(void)
{
	uint64_t now = clock_ms();
	struct log_rate *r;

	for (r = log_rates; r != NULL; r = r->next)
		if (r->suppressed > 0 && now - r->last_ms >= 1000)
			log_rate_write(r, now);
}
