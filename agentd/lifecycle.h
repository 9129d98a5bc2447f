/*
 * An agent's lifecycle on the host that runs it: what each order does in
 * each state. One table (lifecycle.c), used by the runner and printed in
 * docs/agents.md; tests/unit/test_lifecycle.c checks the two agree and
 * that every cell is defined, and tests/model/lifecycle.pml checks the
 * protocol around it with spin.
 */
#ifndef AGENTD_LIFECYCLE_H
#define AGENTD_LIFECYCLE_H

enum lc_state {
	LC_STARTING,	/* its worker loads the code, or unpacks it */
	LC_HELD,	/* arrived here, unpacked, waiting for the source's go */
	LC_RUNNING,	/* stepping */
	LC_SUSPENDED,	/* waiting for resume */
	LC_MOVING,	/* packed; its state is on its way elsewhere */
	LC_DOOMED,	/* killed: it applies the orders given before, then
			 * stops (a stuck one is SIGKILLed) */
	LC_GONE,	/* ended, or lives on elsewhere */
	LC_NSTATES
};

enum lc_order {
	LC_SUSPEND,
	LC_RESUME,
	LC_MIGRATE,
	LC_CLONE,
	LC_KILL,
	LC_NORDERS
};

enum lc_outcome {
	LC_APPLIED,	/* done now (or nothing to do, with a note) */
	LC_NEXT_STEP,	/* told to the worker, which applies it between
			 * steps */
	LC_QUEUED,	/* kept by the daemon, applied when the state ends */
	LC_REFUSED,	/* with a reason */
};

struct lc_rule {
	enum lc_outcome	 outcome;
	enum lc_state	 next;		/* the state it leaves the agent in */
	const char	*note;		/* why, for the reply */
};

const struct lc_rule	*lifecycle_rule(enum lc_state, enum lc_order);
const char		*lifecycle_state_name(enum lc_state);
const char		*lifecycle_order_name(enum lc_order);
const char		*lifecycle_outcome_name(enum lc_outcome);
/* The order named name (a client's op; "kill" or "stop"): 0, or -1. */
int			 lifecycle_order_find(const char *name,
			     enum lc_order *);

#endif
