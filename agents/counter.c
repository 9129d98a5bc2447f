/*
 * counter: the smallest useful agent, and the example in docs/agents.md.
 * It counts steps up to n (args {"n": 100}), reporting progress, and its
 * whole state is the JSON {"n": n, "count": c}. It takes no messages.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "agentd/agent.h"

struct counter {
	json_int_t	count;
	json_int_t	n;
};

/* A counter from {"n": n, "count": c}: args, or the packed state. */
static int
counter_start(struct agent *a, const char *json)
{
	struct counter *c;
	json_error_t jerr;
	json_t *obj;
	json_int_t n = 0, count = 0;

	if ((obj = json_loads(json, 0, &jerr)) == NULL ||
	    json_unpack_ex(obj, &jerr, JSON_STRICT, "{s:I, s?I}", "n", &n,
	    "count", &count) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "counter: %s", jerr.text);
		json_decref(obj);
		return -1;
	}
	json_decref(obj);
	if (n < 1 || count < 0 || count > n) {
		agent_log(a, AGENT_LOG_ERROR, "counter: expected n >= 1 and "
		    "0 <= count <= n");
		return -1;
	}
	if ((c = malloc(sizeof *c)) == NULL)
		return -1;
	c->n = n;
	c->count = count;
	agent_set_data(a, c);
	return 0;
}

/* The state is all JSON, so unpacking is starting again from it. */
static int
counter_unpack(struct agent *a, const struct agent_state *st)
{
	return counter_start(a, agent_state_json(st));
}

/* One more; done at n. */
static int
counter_step(struct agent *a)
{
	struct counter *c = agent_data(a);

	c->count++;
	agent_progress(a, (double)c->count / c->n, NULL);
	if (c->count < c->n)
		return AGENT_CONTINUE;
	agent_log(a, AGENT_LOG_INFO, "counter: counted to %lld",
	    (long long)c->count);
	return AGENT_DONE;
}

/* Saves the count: the agent can move between any two steps. */
static int
counter_pack(struct agent *a, struct agent_state *st)
{
	struct counter *c = agent_data(a);
	char json[64];

	snprintf(json, sizeof json, "{\"n\": %lld, \"count\": %lld}",
	    (long long)c->n, (long long)c->count);
	return agent_state_set_json(st, json);
}

/* Frees what start or unpack allocated. */
static void
counter_stop(struct agent *a)
{
	free(agent_data(a));
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "counter",
	.abi = AGENT_ABI,
	.start = counter_start,
	.step = counter_step,
	.pack = counter_pack,
	.unpack = counter_unpack,
	.stop = counter_stop,
};
