/* The lifecycle table: every order in every state has one outcome. */
#include <string.h>

#include "agentd/lifecycle.h"

#define A(next, note)	{ LC_APPLIED, LC_##next, note }
#define S(next)		{ LC_NEXT_STEP, LC_##next, \
			    "applied by the agent at its next step boundary" }
#define Q(next, note)	{ LC_QUEUED, LC_##next, note }
#define R(note)		{ LC_REFUSED, LC_GONE, note }

#define Q_START	"queued: applied once the agent has started"
#define Q_HELD	"queued: applied once its move here completes"
#define Q_MOVE	"queued: applied when its move ends, wherever it lands"
#define R_DOOM	"it is being killed"
#define R_GONE	"it has ended, or left this host"

/* [state][order]: suspend, resume, migrate, clone, kill. */
static const struct lc_rule lifecycle_table[LC_NSTATES][LC_NORDERS] = {
	[LC_STARTING] = {
		Q(STARTING, Q_START), Q(STARTING, Q_START),
		Q(STARTING, Q_START), Q(STARTING, Q_START),
		Q(DOOMED, "queued: it stops once started and its earlier "
		    "orders applied"),
	},
	[LC_HELD] = {
		Q(HELD, Q_HELD), Q(HELD, Q_HELD), Q(HELD, Q_HELD),
		Q(HELD, Q_HELD),
		Q(DOOMED, "queued: it stops once its move here completes"),
	},
	[LC_RUNNING] = {
		S(SUSPENDED),
		A(RUNNING, "it is not suspended: nothing to do"),
		S(RUNNING), S(RUNNING), S(DOOMED),
	},
	[LC_SUSPENDED] = {
		A(SUSPENDED, "it is already suspended: nothing to do"),
		S(RUNNING), S(SUSPENDED), S(SUSPENDED), S(DOOMED),
	},
	[LC_MOVING] = {
		Q(MOVING, Q_MOVE), Q(MOVING, Q_MOVE), Q(MOVING, Q_MOVE),
		Q(MOVING, Q_MOVE),
		Q(DOOMED, "queued: it stops when its move ends, wherever it "
		    "lands"),
	},
	[LC_DOOMED] = {
		R(R_DOOM), R(R_DOOM), R(R_DOOM), R(R_DOOM),
		A(DOOMED, "already killed: nothing more to do"),
	},
	[LC_GONE] = {
		R(R_GONE), R(R_GONE), R(R_GONE), R(R_GONE), R(R_GONE),
	},
};

static const char *lifecycle_states[LC_NSTATES] = {
	"starting", "held", "running", "suspended", "moving", "doomed",
	"gone",
};

static const char *lifecycle_orders[LC_NORDERS] = {
	"suspend", "resume", "migrate", "clone", "kill",
};

static const char *lifecycle_outcomes[] = {
	"applied", "next-step", "queued", "refused",
};

const struct lc_rule *
lifecycle_rule(enum lc_state s, enum lc_order o)
{
	return &lifecycle_table[s][o];
}

const char *
lifecycle_state_name(enum lc_state s)
{
	return lifecycle_states[s];
}

const char *
lifecycle_order_name(enum lc_order o)
{
	return lifecycle_orders[o];
}

const char *
lifecycle_outcome_name(enum lc_outcome o)
{
	return lifecycle_outcomes[o];
}

int
lifecycle_order_find(const char *name, enum lc_order *o)
{
	int i;

	if (name == NULL)
		return -1;
	if (strcmp(name, "stop") == 0)
		name = "kill";
	for (i = 0; i < LC_NORDERS; i++) {
		if (strcmp(lifecycle_orders[i], name) == 0) {
			*o = (enum lc_order)i;
			return 0;
		}
	}
	return -1;
}
