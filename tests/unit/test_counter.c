/* The counter agent (the example in docs/agents.md) under a fake runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "agents/counter.c"
#include "fake_runtime.c"

/* The counter counts to n across a move after every step. */
static void
test_counter(void)
{
	struct agent *a = NULL;
	int rc = AGENT_CONTINUE, steps = 0;

	CHECK(strcmp(agent_entry.name, "counter") == 0);
	CHECK(agent_entry.abi == AGENT_ABI && agent_entry.message == NULL);
	a = fake_start("c1", "h1", "{\"n\": 5}");
	CHECK(a != NULL);
	while (a != NULL && rc == AGENT_CONTINUE && steps < 100) {
		rc = agent_entry.step(a);
		steps++;
		if (rc == AGENT_CONTINUE)
			a = fake_move(a, steps % 2 ? "h2" : "h1", -1);
	}
	CHECK(a != NULL);
	CHECK(rc == AGENT_DONE && steps == 5 && a->progress == 1.0);
	CHECKF(strcmp(a->last, "counter: counted to 5") == 0, "%s", a->last);
	fake_free(a);
	a = NULL;

	/* Bad args: start fails with the reason logged. */
	a = fake_new("c1", "h1");
	CHECK(agent_entry.start(a, "{}") == -1 && a->errors == 1);
	CHECK(agent_entry.start(a, "{\"n\": 5, \"m\": 1}") == -1);
	CHECKF(strstr(a->last, "unpacked: m") != NULL, "%s", a->last);
	CHECK(agent_entry.start(a, "{\"n\": 0}") == -1 && a->errors == 3);
	CHECK(a->data == NULL);
end:
	fake_free(a);
}

static const struct unit_test tests[] = {
	{ "count", test_counter },
	{ NULL, NULL }
};

UNIT_MAIN("counter", tests)
