/*
 * The agents running on this host, one worker process each. The runner
 * starts workers, relays control to them, queues messages while an agent
 * is being moved, reaps exits and reports what happened as events.
 */
#ifndef AGENTD_RUNNER_H
#define AGENTD_RUNNER_H

#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "agentd/conn.h"

struct runner;

/* An event for subscribers (started, progress, log, finished, failed,
 * suspended, resumed); the callee takes the reference. */
typedef void runner_event_fn(void *arg, json_t *ev);
/* A worker's request the daemon routes: send, spawn, clone or moving.
 * meta and payload are borrowed. */
typedef void runner_request_fn(void *arg, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len);

struct sandbox;
/* Workers are confined as sb says (NULL: not at all). */
struct runner	*runner_new(struct event_base *, const char *host,
		     struct sandbox *sb, runner_event_fn *,
		     runner_request_fn *, void *arg);
/*
 * Stops every worker (SIGKILL), reaps it and reports its agent ended, if
 * not yet. The runner stays usable, and empty, for what the caller does
 * next.
 */
void		 runner_clear(struct runner *);
/* runner_clear, then frees the runner. */
void		 runner_free(struct runner *);
/* What an agent starts from, as tmux's spawn_context. */
struct runner_spawn {
	const char	*id;
	const char	*code_sha;
	const char	*code_path;
	const char	*args;		/* JSON text, when there is no state */
	json_t		*limits;	/* the agent's limits (sandbox.h), or
					 * NULL for the host's */
	const void	*state;		/* len bytes of encoded state, copied */
	uint64_t	 len;
	void		*owned;		/* or owned_len bytes, taken: malloc'd
					 * or a pool buffer, sent uncopied */
	uint64_t	 owned_len;
	uint64_t	 step;		/* steps so far */
	double		 progress;	/* its last progress, kept across moves */
	int		 suspended;	/* it starts suspended */
	const char	*held_from;	/* an arriving agent's source host */
	json_t		*host;		/* this host's information */
	json_t		*delivery;	/* an arriving agent's message state
					 * (runner_move_done): it waits,
					 * unpacked, for "go" */
};

/*
 * Starts the agent sp describes: with sp->args when it has no state, else
 * by unpacking it. sp->owned is taken whatever the outcome.
 */
int		 runner_start(struct runner *, const struct runner_spawn *sp,
		     char **cause);
/*
 * A large state is arriving into buf (a pool buffer, len bytes): start a
 * worker now and let it map the buffer while the rest comes, so that the
 * runner_start that follows, with the same buffer, finds it ready.
 * A hint only: the worker loads no code until then. The caller stops it
 * with runner_unprepare if nothing takes it, however long the state
 * takes to arrive. -1 when none was started.
 */
int		 runner_prepare(struct runner *, void *buf, uint64_t len);
/* The state arriving into buf will not start: stop its worker. The
 * number stopped (0 or 1). */
int		 runner_unprepare(struct runner *, void *buf);
/* Hands agent id's worker n descriptors (the blocks it maps, agentd/
 * data.c), which stay the caller's; 0 or -1 with cause. */
int		 runner_send_fds(struct runner *, const char *id,
		     const int *fds, size_t n, char **cause);
/* Takes the packed state of a moving agent (caller frees), or NULL. */
void		*runner_take_state(struct runner *, const char *id,
		     uint64_t *len);
/*
 * Or, for a large state still in the moving worker's memory, a source to
 * send it from as the connection drains (conn_send_stream): 0 with src and
 * *len set, or -1 when there is none (runner_take_state has it).
 */
int		 runner_take_stream(struct runner *, const char *id,
		     struct conn_source *src, uint64_t *len);
/*
 * During the request callback of a commit that came without its payload
 * (read from the worker's memory): a source for one holder's copy, 0 with
 * src and *len set, or -1 when there is none.
 */
int		 runner_commit_source(struct runner *, const char *id,
		     struct conn_source *src, uint64_t *len);
/*
 * An order for a local agent: suspend, resume, migrate (host), clone
 * (host) or kill. It is applied, told to the agent for its next step,
 * queued, or refused, as lifecycle.h's table says for the agent's state:
 * 0 with *reply {outcome, note, state} (new reference), or -1 with cause.
 */
int		 runner_order(struct runner *, const char *id,
		     const char *op, const char *host, json_t **reply,
		     char **cause);
/* The move of a held agent committed at its source: it runs, and then
 * applies orders ([{op, host}], the source's; may be NULL) and those
 * queued here. */
int		 runner_go(struct runner *, const char *id, json_t *orders,
		     char **cause);
/* The source of the held agents from it went away before their go: their
 * copies here stop. The number stopped. */
int		 runner_abandon(struct runner *, const char *source);
/* The limits the agent was spawned with (borrowed), or NULL: the host's. */
json_t		*runner_limits(struct runner *, const char *id);
/* Sends meta (borrowed) to the agent's worker; -1 when it has none. */
int		 runner_send(struct runner *, const char *id, json_t *meta);
/* The source of a held arrival (its move not yet let go), or NULL. */
const char	*runner_held_from(struct runner *, const char *id);
/* Whether a moving agent packed itself while suspended. */
int		 runner_packed_suspended(struct runner *, const char *id);
double		 runner_progress(struct runner *, const char *id);
/*
 * Delivers message seq of sender from exactly once and in sender order:
 * duplicates are dropped, early ones wait, and nothing is handed over
 * while the agent moves.
 */
int		 runner_deliver(struct runner *, const char *id,
		     const char *from, uint64_t seq, const void *data,
		     uint64_t len);
/* The sequence number of agent id's next message to to. */
uint64_t	 runner_next_out(struct runner *, const char *id,
		     const char *to);
/*
 * Ends a move: committed drops the local copy and returns what travels
 * with the agent, {next, out, pending, orders} (new reference): the
 * message state for runner_start at the destination and the orders for
 * its go; otherwise the agent carries on here with its orders applied,
 * and NULL is returned.
 */
json_t		*runner_move_done(struct runner *, const char *id,
		     int committed);
/* {next, out, pending: []}: the message state a move carries (new
 * reference), or NULL. */
json_t		*runner_delivery(struct runner *, const char *id);
const char	*runner_type(struct runner *, const char *id);
/* Code hash of a running agent, or NULL. */
/* The job an agent belongs to (a label its owner gave; "" for none). */
/* Marks an agent started again after a loss (why, as its owner says it)
 * until its first step here; runner_list shows it as "recovery". */
void		 runner_set_recovery(struct runner *, const char *id,
		     const char *why);
void		 runner_set_job(struct runner *, const char *id,
		     const char *job);
const char	*runner_job(struct runner *, const char *id);
const char	*runner_code(struct runner *, const char *id);
int		 runner_has(struct runner *, const char *id);
int		 runner_count(struct runner *);
/* [{id, type, host, state, step, progress, pid}] (new reference). */
json_t		*runner_list(struct runner *);
/* Kills every worker and reports each agent failed with why. */
void		 runner_stop_all(struct runner *, const char *why);
/* Reaps exited workers (on SIGCHLD) and reports crashes. */
void		 runner_reap(struct runner *);

#endif
