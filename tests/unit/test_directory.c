/* Where agents are: look-up, moves, pruning when an agent ends, and the
 * bound. */
#include <stdio.h>
#include <string.h>

#include "agentd/directory.h"
#include "agentd/log.h"
#include "unit.h"

/* Set, get, a move overwrites; an unknown agent is NULL. */
static void
test_set_get(void)
{
	struct directory *dir = directory_new(16);

	CHECK(directory_get(dir, "h1.1") == NULL);
	directory_set(dir, "h1.1", "h2");
	CHECK(directory_get(dir, "h1.1") != NULL &&
	    strcmp(directory_get(dir, "h1.1"), "h2") == 0);
	directory_set(dir, "h1.1", "h3");
	CHECK(strcmp(directory_get(dir, "h1.1"), "h3") == 0);
	CHECK(directory_count(dir) == 1);
end:
	directory_free(dir);
}

/* An agent that ended where the directory has it goes; one that failed
 * to arrive elsewhere (the move failed, it lives on) stays. */
static void
test_ended(void)
{
	struct directory *dir = directory_new(16);

	directory_set(dir, "h1.1", "h2");
	directory_set(dir, "h1.2", "h2");
	CHECK(directory_ended(dir, "h1.1", "h3") == 0);
	CHECK(strcmp(directory_get(dir, "h1.1"), "h2") == 0);
	CHECK(directory_ended(dir, "h1.1", "h2") == 1);
	CHECK(directory_get(dir, "h1.1") == NULL);
	CHECK(directory_ended(dir, "h1.1", "h2") == 0);
	CHECK(directory_ended(dir, "h1.9", NULL) == 0);
	CHECK(directory_count(dir) == 1);
end:
	directory_free(dir);
}

/* 10,000 agents come and end: the directory ends empty. */
static void
test_churn(void)
{
	struct directory *dir = directory_new(DIRECTORY_MAX);
	char id[32];
	int i;

	for (i = 0; i < 10000; i++) {
		snprintf(id, sizeof id, "h1.%d", i);
		directory_set(dir, id, i % 2 ? "h2" : "h3");
		if (i >= 10) {
			snprintf(id, sizeof id, "h1.%d", i - 10);
			CHECK(directory_ended(dir, id, i % 2 ? "h2" : "h3"));
		}
	}
	CHECK(directory_count(dir) == 10);
end:
	directory_free(dir);
}

/* Past the bound the entry set longest ago goes, not the newest. */
static void
test_bound(void)
{
	struct directory *dir = directory_new(3);

	log_init("test_directory", LOG_ERROR);	/* the drop warns */
	directory_set(dir, "a.1", "h1");
	directory_set(dir, "a.2", "h1");
	directory_set(dir, "a.3", "h1");
	directory_set(dir, "a.1", "h2");	/* a.2 is now the oldest */
	directory_set(dir, "a.4", "h1");
	CHECK(directory_count(dir) == 3);
	CHECK(directory_get(dir, "a.2") == NULL);
	CHECK(directory_get(dir, "a.1") != NULL);
	CHECK(directory_get(dir, "a.3") != NULL);
	CHECK(directory_get(dir, "a.4") != NULL);
end:
	directory_free(dir);
}

static const struct unit_test tests[] = {
	{ "set_get", test_set_get },
	{ "ended", test_ended },
	{ "churn", test_churn },
	{ "bound", test_bound },
	{ NULL, NULL },
};

UNIT_MAIN("directory", tests)
