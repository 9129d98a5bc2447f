/*
 * The agent ABI: the only header an agent includes (docs/agents.md).
 *
 * An agent is a shared object that exports one `const struct agent_entry`
 * named `agent_entry`. agentd runs each agent in its own worker process:
 * it calls start (new agent) or unpack (arriving agent), then step again and
 * again. Between two steps, and only there, the agent may be packed and
 * moved, cloned or suspended, so its state must be whole at every step
 * boundary. Messages arrive through the message callback, also between
 * steps. The runtime functions below are provided by the worker process.
 */
#ifndef AGENTD_AGENT_H
#define AGENTD_AGENT_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_ABI	2

/* What step returns. */
#define AGENT_CONTINUE	0	/* call step again */
#define AGENT_DONE	1	/* finished: the result is reported, stop */
#define AGENT_FAILED	(-1)	/* failed: the reason is what it logged */

/* Log levels for agent_log. */
#define AGENT_LOG_ERROR	0
#define AGENT_LOG_WARN	1
#define AGENT_LOG_INFO	2
#define AGENT_LOG_DEBUG	3

struct agent;		/* the runtime's handle for one agent */
struct agent_state;	/* packed state: a JSON header and binary sections */

struct agent_entry {
	const char	*name;	/* the agent type, e.g. "wanderer" */
	int		 abi;	/* AGENT_ABI */
	/* A new agent; args is the JSON text given at spawn ("{}" if none). */
	int		(*start)(struct agent *, const char *args);
	/* One unit of work; returns AGENT_CONTINUE, AGENT_DONE or
	 * AGENT_FAILED. */
	int		(*step)(struct agent *);
	/* Writes the whole state into st; 0 or -1. */
	int		(*pack)(struct agent *, struct agent_state *st);
	/* Rebuilds the agent from st (after a move or for a clone); 0 or -1. */
	int		(*unpack)(struct agent *, const struct agent_state *st);
	/* A message from agent from (an id); data is valid during the call. */
	void		(*message)(struct agent *, const char *from,
			    const void *data, size_t len);
	/* The agent is going away (done, killed or moved): free memory. */
	void		(*stop)(struct agent *);
};

/* The agent's own pointer, kept by the runtime between calls. */
void		*agent_data(struct agent *);
void		 agent_set_data(struct agent *, void *);
/* This agent's id, such as "a7"; stable across moves. */
const char	*agent_id(struct agent *);

/* Packed state: one JSON text and any number of named binary sections. */
int		 agent_state_set_json(struct agent_state *, const char *json);
const char	*agent_state_json(const struct agent_state *);
/* Copies len bytes; names are unique within a state. */
int		 agent_state_add(struct agent_state *, const char *name,
		     const void *data, size_t len);
/*
 * agent_state_add without the copy, for large sections: the runtime reads
 * data where it is. It must stay allocated and unchanged until the next
 * call into the agent (the runtime has written it out by then).
 */
int		 agent_state_add_ref(struct agent_state *, const char *name,
		     const void *data, size_t len);
/*
 * agent_state_add_ref for bytes that never change while the agent runs in
 * this process, such as its data set: a commit (agent_commit) sends them
 * to each holder once and leaves them out of later commits, which the
 * holder completes from the first (docs/elastic.md). Moves and clones
 * carry them as any section.
 */
int		 agent_state_add_static(struct agent_state *, const char *name,
		     const void *data, size_t len);
/* A section's bytes, or NULL when absent; valid during unpack. */
const void	*agent_state_get(const struct agent_state *, const char *name,
		     size_t *len);
/*
 * agent_state_get for a section the agent keeps: the bytes stay where
 * they arrived, readable and writable by the agent for as long as it runs
 * in this process (until it stops or moves on), and are not to be freed.
 * A large section, such as a data set, is then used in place instead of
 * being copied in unpack. Call it in unpack only; NULL when absent.
 * Sections start on 8-byte boundaries.
 */
void		*agent_state_keep(const struct agent_state *, const char *name,
		     size_t *len);

/* Sends len bytes to the agent with id to: exactly once, in order. */
int		 agent_send(struct agent *, const char *to, const void *data,
		     size_t len);
/* Asks to move to host (a name) after the current step; 0 if accepted. */
int		 agent_migrate(struct agent *, const char *host);
/* Asks for a copy of this agent on host (NULL: the scheduler picks). */
int		 agent_clone(struct agent *, const char *host);
/*
 * Commits the agent's whole state after the current step: the runtime
 * packs it (as for a move) and its daemon keeps the copy in the memory of
 * replicas other hosts (1 to AGENT_COMMIT_REPLICAS_MAX), the next ones
 * after it in the hosts file, in place of the agent's last commit there.
 * note (a JSON object's text, or NULL) goes with it to the owner's
 * "committed" event, which names the hosts; the owner can start the agent
 * again from there when its host dies (docs/elastic.md). 0 if accepted;
 * 1 if it is too soon after the last (commits take at most 2% of the
 * agent's time: agent_last_error says when the next may come); -1
 * with agent_last_error saying why not.
 */
#define AGENT_COMMIT_REPLICAS_MAX	8
int		 agent_commit(struct agent *, int replicas, const char *note);
/*
 * agent_commit of the sections that change only, without those added
 * with agent_state_add_static: a commit that cannot start the agent on its
 * own, but that a spawn naming it completes with a state of the rest
 * (keep, docs/protocol.md). A data partition commits its weights this way
 * for the rebuild of a lost peer, which brings its own shard.
 */
int		 agent_commit_changing(struct agent *, int replicas,
		     const char *note);
/*
 * Starts a new agent from code (the SHA-256, in hex, of a .so this host's
 * daemon stores) on host (NULL: the scheduler picks) with args (JSON text;
 * NULL for {}), and waits until it has started: 0 with its id in id (at
 * most id_len bytes with the NUL), or -1 with agent_last_error saying why.
 */
int		 agent_spawn(struct agent *, const char *code, const char *host,
		     const char *args, char *id, size_t id_len);
/* Why the last runtime call that returned -1 failed (borrowed; "" if none). */
const char	*agent_last_error(struct agent *);
/* Progress in [0, 1] and an optional JSON status for the owner. */
void		 agent_progress(struct agent *, double fraction,
		     const char *status);
/*
 * Figures for the owner, as one JSON object (say, an epoch's loss): an
 * event "metrics" that, unlike progress, is never throttled. 0 or -1 when
 * json is not an object.
 */
int		 agent_metrics(struct agent *, const char *json);
/*
 * The agent's result: len bytes (a copy is kept, the last call wins) that
 * its owner fetches with the "result" request once the agent has finished
 * (AGENT_DONE). At most AGENT_RESULT_MAX bytes; 0 or -1.
 */
#define AGENT_RESULT_MAX	((size_t)1 << 30)
int		 agent_result(struct agent *, const void *data, size_t len);
/* A line in the agent's log, forwarded to its owner's event stream. */
void		 agent_log(struct agent *, int level, const char *fmt, ...)
		     __attribute__((format(printf, 3, 4)));

/*
 * One part of a table ("train" or "test") of a data set in the cluster's
 * data cache (nnsim data put; docs/data-cache.md), mapped read-only from
 * the memory of this host's daemon, which fetches the blocks it lacks
 * first: agents on one host share one copy. x is rows x in floats, y
 * rows x out, row-major; both stay valid for as long as the agent runs in
 * this process. parts is the number of parts of the table.
 */
struct agent_data_part {
	size_t		 rows;
	int		 in;
	int		 out;
	int		 parts;
	const float	*x;
	const float	*y;
};
/* 0, or -1 with agent_last_error saying why (no such set, part or
 * table; a block on no host that is up; the cache full). */
int		 agent_data_map(struct agent *, const char *set,
		     const char *table, int part, struct agent_data_part *);

struct agent_host_info {
	char		name[64];	/* the host the agent runs on now */
	int		cores;
	uint64_t	mem_bytes;
	double		load;		/* 1-minute load average */
	int		gpus;
	int		agents;		/* agents on this host */
};
int		 agent_host_info(struct agent *, struct agent_host_info *);
/*
 * The address other hosts reach this host's daemon on, "ip:port": an agent
 * that opens its own connections (the all-reduce of a data-parallel job)
 * listens on that ip. Empty when the daemon did not say.
 */
const char	*agent_host_address(struct agent *);

#endif
