/* Logging to stderr with a timestamp, the daemon's name and a level. */
#ifndef AGENTD_LOG_H
#define AGENTD_LOG_H

#include <stdint.h>

#define LOG_ERROR	0
#define LOG_WARN	1
#define LOG_INFO	2
#define LOG_DEBUG	3

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Level names: error, warn, info, debug; -1 when unknown. */
int	log_parse_level(const char *);
void	log_init(const char *name, int level);
void	log_msg(int level, const char *fmt, ...) LOG_PRINTF(2, 3);

/*
 * A line that a peer can make us write as often as it likes (a failed
 * handshake, a refused connection): at most one a second per rate, the
 * lines in between counted and the last of them kept, and told by the next
 * line or by log_rate_flush.
 */
struct log_rate {
	int		 level;
	unsigned long	 suppressed;	/* lines held back since last_ms */
	uint64_t	 last_ms;	/* when a line was last written */
	char		 held[512];	/* the last line held back */
	int		 listed;	/* in the flush list */
	struct log_rate	*next;
};
void	log_rated(struct log_rate *, int level, const char *fmt, ...)
	    LOG_PRINTF(3, 4);
/* Writes the held lines of every rate whose second has passed. */
void	log_rate_flush(void);

#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
