/* The lifecycle table: every cell defined, the invariants the protocol
 * leans on, and docs/agents.md printing the same table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/lifecycle.h"
#include "unit.h"

static int
transient(enum lc_state s)
{
	return s == LC_STARTING || s == LC_HELD || s == LC_MOVING;
}

/* Each cell has an outcome, a note, and a next state in range. */
static void
test_defined(void)
{
	const struct lc_rule *r;
	int s, o;

	for (s = 0; s < LC_NSTATES; s++) {
		for (o = 0; o < LC_NORDERS; o++) {
			r = lifecycle_rule(s, o);
			CHECK(r->note != NULL && r->note[0] != '\0');
			CHECK(r->outcome >= LC_APPLIED &&
			    r->outcome <= LC_REFUSED);
			CHECK(r->next >= 0 && r->next < LC_NSTATES);
		}
	}
end:
	;
}

/*
 * Kill is refused only for an agent that is gone, and never skips the
 * orders before it (it dooms, it does not end); only a transient state
 * queues, and then stays (or is doomed); only a live agent's worker is
 * told; a doomed agent takes nothing more.
 */
static void
test_invariants(void)
{
	const struct lc_rule *r;
	int s, o;

	for (s = 0; s < LC_NSTATES; s++) {
		r = lifecycle_rule(s, LC_KILL);
		CHECK((r->outcome == LC_REFUSED) == (s == LC_GONE));
		/* Killed, it stops only after the orders before the kill. */
		CHECK(s == LC_GONE || r->next == LC_DOOMED);
		for (o = 0; o < LC_NORDERS; o++) {
			r = lifecycle_rule(s, o);
			if (r->outcome == LC_QUEUED)
				CHECK(transient(s) && ((int)r->next == s ||
				    (o == LC_KILL && r->next == LC_DOOMED)));
			if (r->outcome == LC_NEXT_STEP)
				CHECK(s == LC_RUNNING || s == LC_SUSPENDED);
			if (s == LC_DOOMED && o != LC_KILL)
				CHECK(r->outcome == LC_REFUSED);
			if (transient(s) && o != LC_KILL)
				CHECK(r->outcome == LC_QUEUED);
		}
	}
end:
	;
}

/* Names round-trip; "stop" is kill; an unknown order is not found. */
static void
test_names(void)
{
	enum lc_order o;
	int i;

	for (i = 0; i < LC_NORDERS; i++)
		CHECK(lifecycle_order_find(lifecycle_order_name(i), &o) == 0 &&
		    (int)o == i);
	CHECK(lifecycle_order_find("stop", &o) == 0 && o == LC_KILL);
	CHECK(lifecycle_order_find("go", &o) == -1);
	CHECK(lifecycle_order_find(NULL, &o) == -1);
end:
	;
}

/* docs/agents.md has one row per state: "| state | cell | ... |", each
 * cell the outcome, and "-> next" when the state changes. */
static void
test_doc(void)
{
	char *text = NULL, row[512], cell[64];
	const struct lc_rule *r;
	size_t len = 0;
	FILE *f;
	int s, o;

	f = fopen(unit_src("docs/agents.md"), "r");
	CHECK(f != NULL);
	text = calloc(1, 1 << 20);
	CHECK(text != NULL);
	len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	CHECK(len > 0);
	for (s = 0; s < LC_NSTATES; s++) {
		snprintf(row, sizeof row, "| %s |", lifecycle_state_name(s));
		for (o = 0; o < LC_NORDERS; o++) {
			r = lifecycle_rule(s, o);
			if (r->outcome != LC_REFUSED && (int)r->next != s)
				snprintf(cell, sizeof cell, " %s -> %s |",
				    lifecycle_outcome_name(r->outcome),
				    lifecycle_state_name(r->next));
			else
				snprintf(cell, sizeof cell, " %s |",
				    lifecycle_outcome_name(r->outcome));
			strncat(row, cell, sizeof row - strlen(row) - 1);
		}
		strncat(row, "\n", sizeof row - strlen(row) - 1);
		if (strstr(text, row) == NULL)
			fprintf(stderr, "docs/agents.md lacks the row:\n%s", row);
		CHECK(strstr(text, row) != NULL);
	}
end:
	free(text);
}

static const struct unit_test tests[] = {
	{ "defined", test_defined },
	{ "invariants", test_invariants },
	{ "names", test_names },
	{ "doc", test_doc },
	{ NULL, NULL },
};

UNIT_MAIN("lifecycle", tests)
