/*
 * Where agents are: agent id -> the host it was last seen on. An agent
 * not listed is looked for at its home, the daemon its id names (HOME.N),
 * so an entry only saves a hop or follows a move. Entries go when their
 * agent ends; the count is bounded, and past the bound the entry touched
 * longest ago goes (a daemon that only heard of a move by broadcast never
 * hears that the agent ended).
 */
#ifndef AGENTD_DIRECTORY_H
#define AGENTD_DIRECTORY_H

#include <stddef.h>

#define DIRECTORY_MAX	65536	/* entries, by default */

struct directory;

/* A new, empty directory of at most max entries. */
struct directory *directory_new(size_t max);
void		 directory_free(struct directory *);
/* agent is on host now; makes room by dropping the oldest entry. */
void		 directory_set(struct directory *, const char *agent,
		     const char *host);
/* The host agent was last seen on (borrowed), or NULL. */
const char	*directory_get(const struct directory *, const char *agent);
/* agent ended on host: its entry goes if it names that host (a failed
 * arrival elsewhere leaves it). 1 if an entry went. */
int		 directory_ended(struct directory *, const char *agent,
		     const char *host);
size_t		 directory_count(const struct directory *);

#endif
