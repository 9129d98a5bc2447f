/* Logging to stderr with a timestamp, the daemon's name and a level. */
#ifndef AGENTD_LOG_H
#define AGENTD_LOG_H

#define LOG_ERROR	0
#define LOG_WARN	1
#define LOG_INFO	2
#define LOG_DEBUG	3

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Level names: error, warn, info, debug; -1 when unknown. */
int	log_parse_level(const char *);
void	log_init(const char *name, int level);
void	log_msg(int level, const char *fmt, ...) LOG_PRINTF(2, 3);

#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
