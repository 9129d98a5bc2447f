/*
 * Messages kept until acknowledged: order, no copies, acknowledgement,
 * tries with backoff, giving up, and the limit.
 */
#include <stdlib.h>
#include <string.h>

#include "agentd/outbox.h"
#include "unit.h"

/* What the callbacks saw, in order. */
struct seen {
	char		 log[400];
	int		 deliver;	/* resend answers 1 */
};

static void
seen_add(struct seen *sn, const char *what, const char *to,
    const char *from, uint64_t seq, const void *data, size_t len, int tries)
{
	size_t n = strlen(sn->log);

	snprintf(sn->log + n, sizeof sn->log - n, "%s %s>%s#%llu %.*s %d;",
	    what, from, to, (unsigned long long)seq, (int)len,
	    (const char *)data, tries);
}

static int
on_resend(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	struct seen *sn = arg;

	seen_add(sn, "resend", to, from, seq, data, len, tries);
	return sn->deliver;
}

static int
on_give_up(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	seen_add(arg, "give-up", to, from, seq, data, len, tries);
	return 1;
}

/* Kept in number order whatever the order of adding, never twice. */
static void
test_order(void)
{
	struct outbox *o = outbox_new();
	struct seen sn;
	size_t bytes;

	memset(&sn, 0, sizeof sn);
	CHECK(outbox_add(o, "a", "s", 2, "c", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "a", "s", 0, "a", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "a", "s", 1, "b", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "a", "s", 1, "B", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "b", "s", 0, "x", 1, 0, NULL) == 0);
	CHECK(outbox_count(o, &bytes) == 4 && bytes == 4);
	/* Not due before OUTBOX_RETRY_MS. */
	outbox_due(o, OUTBOX_RETRY_MS - 1, on_resend, on_give_up, &sn);
	CHECK(sn.log[0] == '\0');
	outbox_due(o, OUTBOX_RETRY_MS, on_resend, on_give_up, &sn);
	CHECKF(strstr(sn.log, "resend s>a#0 a 1;resend s>a#1 b 1;resend "
	    "s>a#2 c 1;") != NULL && strstr(sn.log, "resend s>b#0 x 1;") !=
	    NULL, "%s", sn.log);
end:
	outbox_free(o);
}

/* An acknowledged message is gone; a late or repeated one changes
 * nothing. */
static void
test_ack(void)
{
	struct outbox *o = outbox_new();
	struct seen sn;

	memset(&sn, 0, sizeof sn);
	CHECK(outbox_add(o, "a", "s", 0, "a", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "a", "s", 1, "b", 1, 0, NULL) == 0);
	CHECK(outbox_add(o, "a", "t", 1, "z", 1, 0, NULL) == 0);
	CHECK(outbox_ack(o, "a", "s", 1) == 1);
	CHECK(outbox_ack(o, "a", "s", 1) == 0);
	CHECK(outbox_ack(o, "a", "s", 7) == 0);
	CHECK(outbox_ack(o, "b", "s", 0) == 0);
	CHECK(outbox_count(o, NULL) == 2);
	outbox_due(o, OUTBOX_RETRY_MS, on_resend, on_give_up, &sn);
	CHECKF(strcmp(sn.log, "resend t>a#1 z 1;resend s>a#0 a 1;") == 0 ||
	    strcmp(sn.log, "resend s>a#0 a 1;resend t>a#1 z 1;") == 0, "%s",
	    sn.log);
	CHECK(outbox_ack(o, "a", "s", 0) == 1 && outbox_ack(o, "a", "t",
	    1) == 1);
	CHECK(outbox_count(o, NULL) == 0);
	/* Acknowledged after the stream emptied: nothing there. */
	CHECK(outbox_ack(o, "a", "s", 0) == 0);
end:
	outbox_free(o);
}

/* Tries come less often (1, 2, 4, 8, 8 s), a link that comes back makes
 * them due at once, a delivered one is dropped, and after
 * OUTBOX_GIVEUP_MS the message is given up. */
static void
test_backoff_and_give_up(void)
{
	struct outbox *o = outbox_new();
	struct seen sn;
	uint64_t t, at[8];
	int n = 0;

	memset(&sn, 0, sizeof sn);
	CHECK(outbox_add(o, "a", "s", 0, "a", 1, 0, NULL) == 0);
	for (t = 0; t <= 24000 && n < 8; t += 250) {
		sn.log[0] = '\0';
		outbox_due(o, t, on_resend, on_give_up, &sn);
		if (sn.log[0] != '\0')
			at[n++] = t;
	}
	CHECK(n == 5);
	CHECKF(at[0] == 1000 && at[1] == 3000 && at[2] == 7000 &&
	    at[3] == 15000 && at[4] == 23000, "%llu %llu "
	    "%llu %llu %llu", (unsigned long long)at[0],
	    (unsigned long long)at[1], (unsigned long long)at[2],
	    (unsigned long long)at[3], (unsigned long long)at[4]);
	/* A link came back: due now, not at 31 s. */
	outbox_retry_now(o);
	sn.log[0] = '\0';
	outbox_due(o, 24250, on_resend, on_give_up, &sn);
	CHECKF(strcmp(sn.log, "resend s>a#0 a 6;") == 0, "%s", sn.log);
	sn.log[0] = '\0';
	outbox_due(o, OUTBOX_GIVEUP_MS, on_resend, on_give_up, &sn);
	CHECKF(strcmp(sn.log, "give-up s>a#0 a 7;") == 0, "%s", sn.log);
	CHECK(outbox_count(o, NULL) == 0);
	/* Delivered on a try: dropped. */
	CHECK(outbox_add(o, "a", "s", 1, "b", 1, 0, NULL) == 0);
	sn.deliver = 1;
	outbox_due(o, OUTBOX_RETRY_MS, on_resend, on_give_up, &sn);
	CHECK(outbox_count(o, NULL) == 0);
end:
	outbox_free(o);
}

/* Past OUTBOX_MAX_BYTES an add is refused with a reason, and nothing
 * kept changes. */
static void
test_full(void)
{
	struct outbox *o = outbox_new();
	size_t big = OUTBOX_MAX_BYTES / 2 + 1, bytes;
	char *data = calloc(1, big), *cause = NULL;

	CHECK(data != NULL);
	CHECK(outbox_add(o, "a", "s", 0, data, big, 0, &cause) == 0);
	CHECK(outbox_add(o, "a", "s", 1, data, big, 0, &cause) == -1);
	CHECKF(cause != NULL && strstr(cause, "wait for acknowledgement") !=
	    NULL, "%s", cause != NULL ? cause : "(none)");
	CHECK(outbox_count(o, &bytes) == 1 && bytes == big);
	/* A copy of one kept is no add at all. */
	CHECK(outbox_add(o, "a", "s", 0, data, big, 0, NULL) == 0);
	CHECK(outbox_count(o, NULL) == 1);
end:
	free(cause);
	free(data);
	outbox_free(o);
}

static const struct unit_test tests[] = {
	{ "order", test_order },
	{ "ack", test_ack },
	{ "backoff_and_give_up", test_backoff_and_give_up },
	{ "full", test_full },
	{ NULL, NULL },
};

UNIT_MAIN("outbox", tests)
