/* One line per message, written whole so lines of processes never mix. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "agentd/log.h"

static const char *log_names[] = { "error", "warn", "info", "debug" };
static char log_name[64] = "agentd";
static int log_level = LOG_INFO;

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
