/*
 * Commits kept for other hosts' agents: each agent's last packed state
 * (agent_commit), held in memory so that the agent can be resumed from it
 * when its own host dies (docs/elastic.md). One commit per agent, the last
 * replacing the one before; the total is bounded.
 */
#ifndef AGENTD_COMMITSTORE_H
#define AGENTD_COMMITSTORE_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

#define COMMITSTORE_KEEP_S	(24 * 3600)	/* unrefreshed ones go */

struct commitstore;

/* A store of at most limit bytes. */
struct commitstore *commitstore_new(uint64_t limit);
void		 commitstore_free(struct commitstore *);
/*
 * Keeps data (len bytes, taken: freed with bigbuf_free, even on failure)
 * as agent's commit, with meta (code, job, step, note: a new reference
 * taken), replacing its last one. -1 with cause when it does not fit.
 */
int		 commitstore_put(struct commitstore *, const char *agent,
		     json_t *meta, void *data, uint64_t len, time_t now,
		     char **cause);
/*
 * Keeps data (taken, as above), a commit without the static sections
 * named in kept, as agent's commit: it must be of the same run (meta's
 * series) as the one held, which supplies those sections. -1 with cause
 * when there is none, it does not fit, or data is not a packed state.
 */
int		 commitstore_put_delta(struct commitstore *, const char *agent,
		     json_t *meta, void *data, uint64_t len, json_t *kept,
		     time_t now, char **cause);
/* The run (series) of agent's commit here, or NULL. */
const char	*commitstore_series(struct commitstore *, const char *agent);
/* agent's commit (borrowed bytes and meta), or NULL; a delta is merged
 * with its base first, and NULL when that fails. */
const void	*commitstore_get(struct commitstore *, const char *agent,
		     json_t **meta, uint64_t *len);
/* 0 when agent's commit was there and is gone, else -1. */
int		 commitstore_drop(struct commitstore *, const char *agent);
/* Drops commits last put before now - COMMITSTORE_KEEP_S; how many. */
int		 commitstore_expire(struct commitstore *, time_t now);
uint64_t	 commitstore_bytes(const struct commitstore *);
uint64_t	 commitstore_limit(const struct commitstore *);
/* [{agent, bytes, age_s, and meta's fields}], newest first. */
json_t		*commitstore_list(const struct commitstore *, time_t now);

#endif
