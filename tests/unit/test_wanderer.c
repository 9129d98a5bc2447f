/*
 * The wanderer agent under a fake runtime: its walk with every move packed,
 * encoded, decoded and unpacked; a checksum that catches damaged state;
 * message order checks; bad args and states; and crashes in a child.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"

#include "agents/wanderer.c"
#include "fake_runtime.c"

/* Three hosts, four laps: twelve steps, eleven moves, an exact count. */
static void
test_walk(void)
{
	struct agent *a;
	int rc = AGENT_CONTINUE, steps = 0;

	a = fake_start("a1", "h1", "{\"mb\": 1, \"hosts\": [\"h1\", \"h2\", "
	    "\"h3\"], \"laps\": 4, \"seed\": 7}");
	CHECK(a != NULL);
	CHECK(strcmp(agent_entry.name, "wanderer") == 0);
	CHECK(agent_entry.abi == AGENT_ABI);
	while (a != NULL && rc == AGENT_CONTINUE && steps < 100) {
		rc = fake_step(&a);
		steps++;
	}
	CHECK(a != NULL);
	CHECKF(rc == AGENT_DONE && steps == 12, "rc %d after %d steps", rc,
	    steps);
	CHECK(a->errors == 0);
	CHECK(a->progress == 1.0);
	CHECKF(strstr(a->last, "done on h3: counter 12 checksum ") != NULL &&
	    strstr(a->last, "visits {\"h1\":4,\"h2\":4,\"h3\":4}") != NULL,
	    "%s", a->last);
end:
	fake_free(a);
}

/* With "commit": true it asks for a commit at each step. */
static void
test_commits(void)
{
	struct agent *a;
	int rc = AGENT_CONTINUE, steps = 0;

	a = fake_start("a1", "h1", "{\"bytes\": 4096, \"laps\": 3, "
	    "\"commit\": true}");
	CHECK(a != NULL);
	while (rc == AGENT_CONTINUE && steps < 10) {
		rc = fake_step(&a);
		steps++;
	}
	CHECKF(rc == AGENT_DONE && a->commits == steps && steps >= 3,
	    "rc %d, %d commits in %d steps", rc, a->commits, steps);
end:
	fake_free(a);
}

/* The data is a function of the seed, and so is the checksum. */
static void
test_seed(void)
{
	struct agent *a = NULL, *b = NULL, *c = NULL;
	struct wanderer *wa, *wb, *wc;

	a = fake_start("a1", "h1", "{\"bytes\": 100003, \"seed\": 7}");
	b = fake_start("a2", "h1", "{\"bytes\": 100003, \"seed\": 7.0}");
	c = fake_start("a3", "h1", "{\"bytes\": 100003, \"seed\": 8}");
	CHECK(a != NULL && b != NULL && c != NULL);
	wa = a->data;
	wb = b->data;
	wc = c->data;
	CHECK(wa->size == 100003);
	CHECK(wa->checksum == wb->checksum);
	CHECK(memcmp(wa->data, wb->data, wa->size) == 0);
	CHECK(wa->checksum != wc->checksum);
	/* One changed byte anywhere, even in the tail, changes the sum. */
	wa->data[100002] ^= 0x80;
	CHECK(wanderer_hash(wa->data, wa->size) != wa->checksum);
	wa->data[100002] ^= 0x80;
	wa->data[5] ^= 0x01;
	CHECK(wanderer_hash(wa->data, wa->size) != wa->checksum);
end:
	fake_free(a);
	fake_free(b);
	fake_free(c);
}

/* A bit flipped in transit fails the next step, naming the checksum. */
static void
test_damaged(void)
{
	struct agent *a;

	a = fake_start("a1", "h1", "{\"bytes\": 4096, \"hosts\": [\"h1\", "
	    "\"h2\"], \"laps\": 3}");
	CHECK(a != NULL);
	CHECK(fake_step(&a) == AGENT_CONTINUE && a != NULL);
	CHECK(strcmp(a->host, "h2") == 0);
	/* The last data byte: the encoding ends with it (4096 needs no pad). */
	a = fake_move(a, "h1", 0);
	CHECK(a != NULL);
	CHECK(agent_entry.step(a) == AGENT_FAILED);
	CHECKF(a->errors == 1 && strstr(a->last, "checksum") != NULL, "%s",
	    a->last);
end:
	fake_free(a);
}

/* A sender's numbers reach a receiver that keeps moving, in order. */
static void
test_messages(void)
{
	struct agent *r, *s;
	int rs = AGENT_CONTINUE, ss = AGENT_CONTINUE, rounds = 0;

	r = fake_start("r1", "h1", "{\"bytes\": 64, \"hosts\": [\"h1\", "
	    "\"h2\"], \"laps\": 20, \"expect\": 1000}");
	s = fake_start("s1", "h1", "{\"bytes\": 0, \"send_to\": \"r1\", "
	    "\"send_count\": 1000, \"send_per_step\": 7, \"laps\": 3}");
	CHECK(r != NULL && s != NULL);
	while ((rs == AGENT_CONTINUE || ss == AGENT_CONTINUE) &&
	    rounds++ < 10000) {
		s->peer = r;
		if (ss == AGENT_CONTINUE)
			ss = fake_step(&s);
		CHECK(s != NULL);
		fake_deliver(s);
		if (rs == AGENT_CONTINUE)
			rs = fake_step(&r);
		CHECK(r != NULL);
	}
	CHECK(rs == AGENT_DONE && ss == AGENT_DONE);
	CHECK(r->errors == 0 && s->errors == 0);
	CHECKF(strstr(r->last, "counter 40 ") != NULL &&
	    strstr(r->last, "messages 1000 ") != NULL &&
	    strstr(r->last, "received {\"s1\":1000}") != NULL, "%s", r->last);
	/* Past the walk it waited: more rounds than steps of the walk. */
	CHECK(rounds > 40);
end:
	fake_free(r);
	fake_free(s);
}

/* Delivers one 8-byte number seq from sender from. */
static void
send_seq(struct agent *a, const char *from, uint64_t seq)
{
	unsigned char msg[8];
	int i;

	for (i = 0; i < 8; i++)
		msg[i] = (unsigned char)(seq >> (8 * i));
	agent_entry.message(a, from, msg, sizeof msg);
}

/* Duplicates, gaps and bad lengths mark the agent failed. */
static void
test_message_order(void)
{
	struct agent *a = NULL;
	const char *args = "{\"bytes\": 8, \"laps\": 5}";

	/* Senders are counted apart. */
	a = fake_start("a1", "h1", args);
	CHECK(a != NULL);
	send_seq(a, "x", 0);
	send_seq(a, "y", 0);
	send_seq(a, "x", 1);
	send_seq(a, "y", 1);
	CHECK(a->errors == 0 && agent_entry.step(a) == AGENT_CONTINUE);
	/* And carried through a move. */
	a = fake_move(a, "h2", -1);
	CHECK(a != NULL);
	send_seq(a, "x", 2);
	CHECK(a->errors == 0 && agent_entry.step(a) == AGENT_CONTINUE);
	send_seq(a, "y", 1);
	CHECKF(a->errors == 1 && strstr(a->last, "from y: duplicate sequence "
	    "number: got 1, expected 2") != NULL, "%s", a->last);
	CHECK(agent_entry.step(a) == AGENT_FAILED);
	fake_free(a);

	a = fake_start("a1", "h1", args);
	CHECK(a != NULL);
	send_seq(a, "x", 0);
	send_seq(a, "x", 2);
	CHECK(a->errors == 1 && strstr(a->last, "gap") != NULL);
	/* The failure is part of the state: it survives a move. */
	a = fake_move(a, "h2", -1);
	CHECK(a != NULL && agent_entry.step(a) == AGENT_FAILED);
	fake_free(a);

	a = fake_start("a1", "h1", args);
	CHECK(a != NULL);
	agent_entry.message(a, "x", "12ab", 4);
	CHECK(a->errors == 1 && strstr(a->last, "message length") != NULL);
	CHECK(agent_entry.step(a) == AGENT_FAILED);
	fake_free(a);

	/* A command line's decimal text counts too, in the same order. */
	a = fake_start("a1", "h1", args);
	CHECK(a != NULL);
	agent_entry.message(a, "c", "0", 1);
	agent_entry.message(a, "c", "1", 1);
	send_seq(a, "c", 2);
	CHECK(a->errors == 0);
	agent_entry.message(a, "c", "2", 1);
	CHECK(a->errors == 1 && strstr(a->last, "duplicate") != NULL);
end:
	fake_free(a);
}

/* Bad args fail start with a logged reason; stop copes. */
static void
test_bad_args(void)
{
	static const struct {
		const char	*args;
		const char	*want;
	} bad[] = {
		{ "not json", "wanderer: args:" },
		{ "[1]", "expected a JSON object" },
		{ "{\"mbytes\": 1}", "unknown key \"mbytes\"" },
		{ "{\"counter\": 1}", "unknown key \"counter\"" },
		{ "{\"mb\": 2.5}", "\"mb\": expected an integer" },
		{ "{\"mb\": 1024}", "\"mb\": 1024 is out of range" },
		{ "{\"mb\": 1, \"bytes\": 1}", "not both" },
		{ "{\"laps\": 0}", "\"laps\": 0 is out of range" },
		{ "{\"hosts\": \"h1\"}", "\"hosts\": expected an array" },
		{ "{\"hosts\": [\"h1\", 2]}", "\"hosts\"[1]: expected a string" },
		{ "{\"hosts\": [\"\"]}", "\"hosts\"[0]: expected a string" },
		{ "{\"crash\": \"boom\"}", "\"crash\": expected" },
		{ "{\"send_count\": 3}", "without \"send_to\"" },
		{ "{\"commit\": 1}", "\"commit\": expected true or false" },
	};
	struct agent *a = NULL;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		a = fake_new("a1", "h1");
		CHECKF(agent_entry.start(a, bad[i].args) == -1, "%s",
		    bad[i].args);
		CHECKF(a->errors == 1 && strstr(a->last, bad[i].want) != NULL,
		    "%s: got \"%s\"", bad[i].args, a->last);
		CHECK(a->data == NULL);
		fake_free(a);
		a = NULL;
	}
end:
	fake_free(a);
}

/* A packed state that lies is refused by unpack. */
static void
test_bad_state(void)
{
	static const char *json[] = {
		"{\"bytes\": 8, \"checksum\": \"xyz\"}",
		"{\"bytes\": 8, \"checksum\": \"0x00000000000000\"}",
		"{\"bytes\": 9, \"checksum\": \"0000000000000000\"}",
		"{\"bytes\": 8, \"checksum\": \"0000000000000000\", "
		    "\"received\": {\"x\": -1}}",
		"{\"bytes\": 8, \"checksum\": \"0000000000000000\", "
		    "\"bogus\": 1}",
	};
	struct agent_state *st = NULL;
	struct agent *a = NULL;
	size_t i;

	for (i = 0; i < sizeof json / sizeof json[0]; i++) {
		st = agent_state_new();
		CHECK(agent_state_set_json(st, json[i]) == 0);
		CHECK(agent_state_add(st, "data", "12345678", 8) == 0);
		a = fake_new("a1", "h1");
		CHECKF(agent_entry.unpack(a, st) == -1, "%s", json[i]);
		CHECK(a->errors == 1 && a->data == NULL);
		fake_free(a);
		a = NULL;
		agent_state_free(st);
		st = NULL;
	}
	/* The same, true, is accepted. */
	st = agent_state_new();
	CHECK(agent_state_set_json(st, "{\"bytes\": 8, \"checksum\": "
	    "\"0000000000000000\"}") == 0);
	CHECK(agent_state_add(st, "data", "12345678", 8) == 0);
	a = fake_new("a1", "h1");
	CHECK(agent_entry.unpack(a, st) == 0 && a->data != NULL);
	/* Its checksum is wrong for its data, so the first step fails. */
	CHECK(agent_entry.step(a) == AGENT_FAILED);
end:
	fake_free(a);
	agent_state_free(st);
}

/* Runs a wanderer asked to crash in a child; returns its wait status. */
static int
crash_child(const char *args)
{
	struct agent *a;
	pid_t pid;
	int status = 0, i;

	fflush(NULL);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* As in a worker: no sanitizer handler between the agent
		 * and the signal. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		if ((a = fake_start("a1", "h1", args)) == NULL)
			_exit(100);
		for (i = 0; i < 10; i++)
			agent_entry.step(a);
		_exit(101);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* crash_at crashes in the step it names, in the way crash names. */
static void
test_crash(void)
{
	int status;

	status = crash_child("{\"bytes\": 8, \"laps\": 9, \"crash_at\": 3}");
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	    "status 0x%x", status);
	status = crash_child("{\"bytes\": 8, \"laps\": 9, \"crash_at\": 0, "
	    "\"crash\": \"abort\"}");
	CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	    "status 0x%x", status);
	status = crash_child("{\"bytes\": 8, \"laps\": 9, \"crash_at\": 2, "
	    "\"crash\": \"exit\"}");
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 3, "status 0x%x",
	    status);
	/* Past the walk's end: it finishes without crashing. */
	status = crash_child("{\"bytes\": 8, \"laps\": 2, \"crash_at\": 5}");
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 101, "status 0x%x",
	    status);
end:
	return;
}

static const struct unit_test tests[] = {
	{ "walk", test_walk },
	{ "commits", test_commits },
	{ "seed", test_seed },
	{ "damaged", test_damaged },
	{ "messages", test_messages },
	{ "message_order", test_message_order },
	{ "bad_args", test_bad_args },
	{ "bad_state", test_bad_state },
	{ "crash", test_crash },
	{ NULL, NULL }
};

UNIT_MAIN("wanderer", tests)
