/*
 * wanderer: the platform's test agent. It carries a counter and N bytes of
 * pseudo-random data with a checksum, and walks a list of hosts: one step on
 * each, laps times round. Every step verifies the checksum, so state that is
 * damaged in a move fails the agent, and the counter says how many steps it
 * has done. It also checks that the 8-byte little-endian sequence numbers
 * other agents send it (or decimal text of 1 to 19 digits but 8, as a
 * command line sends) arrive exactly once and in order, can send such
 * numbers itself, and crashes on request.
 *
 * args (every key optional; an unknown key is an error):
 *   "mb": 16              data size in MiB (0 to 1023), or
 *   "bytes": 16777216     data size in bytes (one of the two; default 1 MiB)
 *   "hosts": ["h1", ...]  the walk; empty: stay put (default)
 *   "laps": 30            times round the walk (default 1)
 *   "seed": 7             the data's seed (default 1)
 *   "sleep_ms": 0         sleep this long in each step
 *   "linger_ms": 0        sleep this long in stop: a copy that has moved on
 *                         lingers, as one that frees much memory would
 *   "crash_at": -1        crash in the step that starts with this counter
 *   "crash": "segv"       how: "segv", "abort" or "exit"
 *   "send_to": "a3",      send sequence numbers 0, 1, ... to this agent,
 *   "send_count": 1000,   this many in all,
 *   "send_per_step": 10   this many per step (default 1)
 *   "expect": 1000        after the walk, wait for this many messages
 *   "undumpable": false   mark its process not dumpable (PR_SET_DUMPABLE),
 *                         so its daemon cannot read its memory and takes
 *                         the state through the socket instead
 *   "commit": false       commit (agent_commit, one replica) at each step,
 *                         as often as the runtime allows
 *   "spawn": {"code": SHA, "host": "h2", "args": {...}}
 *                         at its start, spawn an agent (agent_spawn) and log
 *                         "wanderer: spawned ID" or "wanderer: spawn
 *                         failed: WHY"; host and args optional
 *
 * It finishes (AGENT_DONE) after laps * max(1, hosts) steps, once it has sent
 * send_count messages and received expect, with the result "counter N
 * checksum X\n" (agent_result), and logs one line:
 *   wanderer: done on h1: counter 90 checksum 1f2e... messages 1000
 *   visits {"h1":30,"h2":30,"h3":30} received {"a3":1000}
 */
#include <sys/prctl.h>

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agentd/agent.h"

#define WANDERER_MAX_BYTES	((int64_t)1023 << 20)
#define WANDERER_MAX_HOSTS	1024
#define WANDERER_NAME_MAX	63

enum wanderer_crash {
	WANDERER_SEGV,
	WANDERER_ABORT,
	WANDERER_EXIT,
};
static const char *wanderer_crash_names[] = { "segv", "abort", "exit" };

struct wanderer {
	/* What it was started with. */
	char		**hosts;
	size_t		  nhosts;
	int64_t		  laps;
	int64_t		  seed;
	int64_t		  sleep_ms;
	int64_t		  linger_ms;
	int64_t		  crash_at;
	int		  crash;
	char		 *send_to;
	int64_t		  send_count;
	int64_t		  send_per_step;
	int64_t		  expect;
	int		  undumpable;
	int		  commit;

	/* Where it is. */
	unsigned char	 *data;
	int		  data_kept;	/* the runtime's (agent_state_keep) */
	size_t		  size;
	uint64_t	  checksum;	/* of data, computed at start */
	int64_t		  counter;	/* steps of the walk done */
	int64_t		  sent;
	int64_t		  messages;	/* received, from all senders */
	json_t		 *received;	/* sender id: next sequence number */
	json_t		 *visits;	/* host name: steps done there */
	int		  failed;	/* a message broke the order */
};

/* The keys args may hold, then the ones only a packed state holds. */
static const char *wanderer_arg_keys[] = {
	"mb", "bytes", "hosts", "laps", "seed", "sleep_ms", "linger_ms", "crash_at",
	"crash", "send_to", "send_count", "send_per_step", "expect",
	"undumpable", "commit", "spawn", NULL
};
static const char *wanderer_state_keys[] = {
	"checksum", "counter", "sent", "messages", "received", "visits",
	"failed", NULL
};

#define P1 0x9e3779b185ebca87ULL
#define P2 0xc2b2ae3d27d4eb4fULL
#define P3 0x165667b19e3779f9ULL

static uint64_t
wanderer_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Little-endian, so the checksum is the same on every host. */
static uint64_t
wanderer_load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return le64toh(v);
}

static uint64_t
wanderer_round(uint64_t acc, uint64_t word)
{
	return wanderer_rotl(acc + word * P2, 31) * P1;
}

/*
 * A 64-bit checksum in the manner of xxHash64: four independent lanes keep
 * it at memory speed, which matters when it runs on 256 MB every step.
 */
static uint64_t
wanderer_hash(const unsigned char *p, size_t n)
{
	uint64_t v[4] = { P1 + P2, P2, 0, -P1 }, h;
	size_t i = 0;
	int k;

	for (; i + 32 <= n; i += 32) {
		v[0] = wanderer_round(v[0], wanderer_load64(p + i));
		v[1] = wanderer_round(v[1], wanderer_load64(p + i + 8));
		v[2] = wanderer_round(v[2], wanderer_load64(p + i + 16));
		v[3] = wanderer_round(v[3], wanderer_load64(p + i + 24));
	}
	h = wanderer_rotl(v[0], 1) + wanderer_rotl(v[1], 7) +
	    wanderer_rotl(v[2], 12) + wanderer_rotl(v[3], 18);
	for (k = 0; k < 4; k++)
		h = (h ^ wanderer_round(0, v[k])) * P1 + P3;
	h += n;
	for (; i + 8 <= n; i += 8)
		h = wanderer_rotl(h ^ wanderer_round(0, wanderer_load64(p + i)),
		    27) * P1 + P3;
	for (; i < n; i++)
		h = wanderer_rotl(h ^ (p[i] * P3), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

/* Fills the data from the seed with splitmix64: the same bytes everywhere. */
static void
wanderer_fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed, z;
	size_t i;

	for (i = 0; i < n; i += 8) {
		z = (x += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z = htole64(z ^ (z >> 31));
		memcpy(p + i, &z, n - i < 8 ? n - i : 8);
	}
}

/* Frees w and everything it holds; NULL is a no-op. */
static void
wanderer_free(struct wanderer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->nhosts; i++)
		free(w->hosts[i]);
	free(w->hosts);
	free(w->send_to);
	if (!w->data_kept)
		free(w->data);
	json_decref(w->received);
	json_decref(w->visits);
	free(w);
}

/* 1 when key is in the NULL-terminated list. */
static int
wanderer_known(const char *key, const char **list)
{
	for (; *list != NULL; list++) {
		if (strcmp(key, *list) == 0)
			return 1;
	}
	return 0;
}

/* A boolean, false when absent; 0, or -1 logged. */
static int
wanderer_bool(struct agent *a, json_t *obj, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	*out = json_is_true(v);
	if (v == NULL || json_is_boolean(v))
		return 0;
	agent_log(a, AGENT_LOG_ERROR, "wanderer: \"%s\": expected true or "
	    "false", key);
	return -1;
}

/* An integer in [lo, hi], or def when absent; 0, or -1 logged. */
static int
wanderer_int(struct agent *a, json_t *obj, const char *key, int64_t lo,
    int64_t hi, int64_t def, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	double d;

	*out = def;
	if (v == NULL)
		return 0;
	/* 30.0 is as good as 30; 2.5 is not. */
	d = json_is_real(v) ? json_real_value(v) : 0.5;
	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (d > -9e18 && d < 9e18 && d == (double)(int64_t)d)
		*out = (int64_t)d;
	else {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: \"%s\": expected an "
		    "integer", key);
		return -1;
	}
	if (*out < lo || *out > hi) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: \"%s\": %" PRId64
		    " is out of range (expected %" PRId64 " to %" PRId64 ")",
		    key, *out, lo, hi);
		return -1;
	}
	return 0;
}

/* A name of 1 to 63 bytes, such as a host or an agent id; new string. */
static char *
wanderer_name(struct agent *a, json_t *v, const char *what)
{
	size_t len;

	if (!json_is_string(v) || (len = json_string_length(v)) == 0 ||
	    len > WANDERER_NAME_MAX ||
	    strlen(json_string_value(v)) != len) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: %s: expected a "
		    "string of 1 to %d bytes", what, WANDERER_NAME_MAX);
		return NULL;
	}
	return strdup(json_string_value(v));
}

/*
 * Reads the settings shared by args and a packed state from obj into w.
 * packed: obj is a packed state, whose own keys (wanderer_state_keys) are
 * allowed too. 0, or -1 logged.
 */
static int
wanderer_load(struct agent *a, struct wanderer *w, json_t *obj, int packed)
{
	const char *key;
	json_t *v, *hosts;
	int64_t mb, bytes;
	size_t i;
	char what[32];

	json_object_foreach(obj, key, v) {
		if (!wanderer_known(key, wanderer_arg_keys) &&
		    !(packed && wanderer_known(key, wanderer_state_keys))) {
			agent_log(a, AGENT_LOG_ERROR, "wanderer: unknown key "
			    "\"%s\"", key);
			return -1;
		}
	}
	if (json_object_get(obj, "mb") != NULL &&
	    json_object_get(obj, "bytes") != NULL) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: give \"mb\" or "
		    "\"bytes\", not both");
		return -1;
	}
	if (wanderer_int(a, obj, "mb", 0, WANDERER_MAX_BYTES >> 20, 1,
	    &mb) != 0 ||
	    wanderer_int(a, obj, "bytes", 0, WANDERER_MAX_BYTES, mb << 20,
	    &bytes) != 0 ||
	    wanderer_int(a, obj, "laps", 1, 1000000, 1, &w->laps) != 0 ||
	    wanderer_int(a, obj, "seed", 0, INT64_MAX, 1, &w->seed) != 0 ||
	    wanderer_int(a, obj, "sleep_ms", 0, 60000, 0, &w->sleep_ms) != 0 ||
	    wanderer_int(a, obj, "linger_ms", 0, 60000, 0,
	    &w->linger_ms) != 0 ||
	    wanderer_int(a, obj, "crash_at", -1, INT64_MAX, -1,
	    &w->crash_at) != 0 ||
	    wanderer_int(a, obj, "send_count", 0, INT64_MAX, 0,
	    &w->send_count) != 0 ||
	    wanderer_int(a, obj, "send_per_step", 1, 1000000, 1,
	    &w->send_per_step) != 0 ||
	    wanderer_int(a, obj, "expect", 0, INT64_MAX, 0, &w->expect) != 0)
		return -1;
	w->size = (size_t)bytes;

	if (wanderer_bool(a, obj, "undumpable", &w->undumpable) != 0 ||
	    wanderer_bool(a, obj, "commit", &w->commit) != 0)
		return -1;
	if (w->undumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: PR_SET_DUMPABLE: %s",
		    strerror(errno));
		return -1;
	}

	w->crash = WANDERER_SEGV;
	if ((v = json_object_get(obj, "crash")) != NULL) {
		for (i = 0; i < 3; i++) {
			if (json_is_string(v) && strcmp(json_string_value(v),
			    wanderer_crash_names[i]) == 0)
				break;
		}
		if (i == 3) {
			agent_log(a, AGENT_LOG_ERROR, "wanderer: \"crash\": "
			    "expected \"segv\", \"abort\" or \"exit\"");
			return -1;
		}
		w->crash = (int)i;
	}

	if ((v = json_object_get(obj, "send_to")) != NULL &&
	    (w->send_to = wanderer_name(a, v, "\"send_to\"")) == NULL)
		return -1;
	if (w->send_count > 0 && w->send_to == NULL) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: \"send_count\" "
		    "without \"send_to\"");
		return -1;
	}

	if ((hosts = json_object_get(obj, "hosts")) == NULL)
		return 0;
	if (!json_is_array(hosts) ||
	    json_array_size(hosts) > WANDERER_MAX_HOSTS) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: \"hosts\": expected "
		    "an array of at most %d host names", WANDERER_MAX_HOSTS);
		return -1;
	}
	w->hosts = calloc(json_array_size(hosts) + 1, sizeof *w->hosts);
	if (w->hosts == NULL)
		return -1;
	json_array_foreach(hosts, i, v) {
		snprintf(what, sizeof what, "\"hosts\"[%zu]", i);
		if ((w->hosts[i] = wanderer_name(a, v, what)) == NULL)
			return -1;
		w->nhosts++;
	}
	return 0;
}

/* Steps in the whole walk. */
static int64_t
wanderer_total(const struct wanderer *w)
{
	return w->laps * (int64_t)(w->nhosts > 0 ? w->nhosts : 1);
}

/* Logs an error and marks the agent failed: the next step reports it. */
static void
wanderer_fail(struct agent *a, struct wanderer *w, const char *what,
    const char *from, uint64_t got, uint64_t want)
{
	agent_log(a, AGENT_LOG_ERROR, "wanderer: from %s: %s: got %" PRIu64
	    ", expected %" PRIu64, from, what, got, want);
	w->failed = 1;
}

/*
 * args' "spawn": starts another agent, and logs its id or why it could
 * not. Only bad args fail the wanderer; a refused spawn is its result.
 */
static int
wanderer_spawn(struct agent *a, json_t *spec)
{
	json_t *code = json_object_get(spec, "code");
	json_t *host = json_object_get(spec, "host");
	json_t *args = json_object_get(spec, "args");
	char id[96], *text = NULL;
	int rc;

	if (!json_is_object(spec) || !json_is_string(code) ||
	    (host != NULL && !json_is_string(host)) ||
	    (args != NULL && !json_is_object(args))) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: \"spawn\": expected "
		    "{\"code\": SHA-256, \"host\": name, \"args\": object}");
		return -1;
	}
	if (args != NULL && (text = json_dumps(args, JSON_COMPACT)) == NULL)
		return -1;
	rc = agent_spawn(a, json_string_value(code), host != NULL ?
	    json_string_value(host) : NULL, text, id, sizeof id);
	free(text);
	if (rc == 0)
		agent_log(a, AGENT_LOG_INFO, "wanderer: spawned %s", id);
	else
		agent_log(a, AGENT_LOG_INFO, "wanderer: spawn failed: %s",
		    agent_last_error(a));
	return 0;
}

/* A new wanderer from args. */
static int
wanderer_start(struct agent *a, const char *args)
{
	struct wanderer *w;
	json_error_t jerr;
	json_t *obj = NULL;
	int rc = -1;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return -1;
	if ((obj = json_loads(args, 0, &jerr)) == NULL ||
	    !json_is_object(obj)) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: args: %s",
		    obj == NULL ? jerr.text : "expected a JSON object");
		goto out;
	}
	if (wanderer_load(a, w, obj, 0) != 0)
		goto out;
	if ((w->data = malloc(w->size > 0 ? w->size : 1)) == NULL) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: out of memory for "
		    "%zu bytes", w->size);
		goto out;
	}
	wanderer_fill(w->data, w->size, (uint64_t)w->seed);
	w->checksum = wanderer_hash(w->data, w->size);
	w->received = json_object();
	w->visits = json_object();
	agent_log(a, AGENT_LOG_INFO, "wanderer: %zu bytes, checksum %016"
	    PRIx64 ", %zu hosts, %" PRId64 " laps", w->size, w->checksum,
	    w->nhosts, w->laps);
	if (json_object_get(obj, "spawn") != NULL &&
	    wanderer_spawn(a, json_object_get(obj, "spawn")) != 0)
		goto out;
	agent_set_data(a, w);
	w = NULL;
	rc = 0;
out:
	json_decref(obj);
	wanderer_free(w);
	return rc;
}

/* Dies the way args asked, to test that the daemon survives it. */
static void
wanderer_crash(struct agent *a, struct wanderer *w)
{
	/* Page zero is never mapped; not NULL itself, which UBSan would
	 * report instead of letting the fault happen. */
	volatile uintptr_t nowhere = 8;

	agent_log(a, AGENT_LOG_INFO, "wanderer: crashing (%s) at counter %"
	    PRId64 " as asked", wanderer_crash_names[w->crash], w->counter);
	switch (w->crash) {
	case WANDERER_ABORT:
		abort();
	case WANDERER_EXIT:
		exit(3);
	default:
		*(volatile int *)nowhere = 1;
		raise(SIGSEGV);
		abort();
	}
}

/* Sends this step's share of sequence numbers; 0 or -1 logged. */
static int
wanderer_send(struct agent *a, struct wanderer *w)
{
	unsigned char msg[8];
	int64_t n;
	int i;

	for (n = 0; n < w->send_per_step && w->sent < w->send_count; n++) {
		for (i = 0; i < 8; i++)
			msg[i] = (unsigned char)((uint64_t)w->sent >> (8 * i));
		if (agent_send(a, w->send_to, msg, sizeof msg) != 0) {
			agent_log(a, AGENT_LOG_ERROR, "wanderer: sending %"
			    PRId64 " to %s failed", w->sent, w->send_to);
			return -1;
		}
		w->sent++;
	}
	return 0;
}

/* Adds one to the count under key in obj. */
static void
wanderer_count(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	json_object_set_new(obj, key,
	    json_integer(v != NULL ? json_integer_value(v) + 1 : 1));
}

/* Logs the closing line that tests read. */
static void
wanderer_done(struct agent *a, struct wanderer *w, const char *here)
{
	char *visits, *received, line[128];

	visits = json_dumps(w->visits, JSON_COMPACT | JSON_SORT_KEYS);
	received = json_dumps(w->received, JSON_COMPACT | JSON_SORT_KEYS);
	agent_log(a, AGENT_LOG_INFO, "wanderer: done on %s: counter %" PRId64
	    " checksum %016" PRIx64 " messages %" PRId64 " visits %s "
	    "received %s", here, w->counter, w->checksum, w->messages,
	    visits != NULL ? visits : "{}", received != NULL ? received : "{}");
	/* Its result, for its owner to fetch: the counter and checksum. */
	snprintf(line, sizeof line, "counter %" PRId64 " checksum %016" PRIx64
	    "\n", w->counter, w->checksum);
	(void)agent_result(a, line, strlen(line));
	free(visits);
	free(received);
}

/* One step of the walk: check, count, move on. */
static int
wanderer_step(struct agent *a)
{
	struct wanderer *w = agent_data(a);
	struct agent_host_info hi;
	struct timespec ts;
	int64_t total = wanderer_total(w);
	uint64_t sum;
	const char *next;
	char status[160];

	if (w->failed)
		return AGENT_FAILED;	/* message logged why */
	if (w->crash_at == w->counter)
		wanderer_crash(a, w);
	if (w->sleep_ms > 0) {
		ts.tv_sec = w->sleep_ms / 1000;
		ts.tv_nsec = (w->sleep_ms % 1000) * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	if ((sum = wanderer_hash(w->data, w->size)) != w->checksum) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: checksum %016" PRIx64
		    " at counter %" PRId64 ", expected %016" PRIx64, sum,
		    w->counter, w->checksum);
		return AGENT_FAILED;
	}
	if (agent_host_info(a, &hi) != 0)
		snprintf(hi.name, sizeof hi.name, "?");
	hi.name[sizeof hi.name - 1] = '\0';
	if (wanderer_send(a, w) != 0)
		return AGENT_FAILED;

	/* 1 (too soon after the last) or -1 (logged) leave the walk be. */
	if (w->commit)
		(void)agent_commit(a, 1, NULL);
	if (w->counter < total) {
		wanderer_count(w->visits, hi.name);
		w->counter++;
		snprintf(status, sizeof status, "{\"counter\": %" PRId64
		    ", \"messages\": %" PRId64 "}", w->counter, w->messages);
		agent_progress(a, (double)w->counter / total, status);
		if (w->counter < total && w->nhosts > 0) {
			next = w->hosts[w->counter % w->nhosts];
			/* A refused move is not fatal: the walk goes on from
			 * here and the visits show it. */
			if (strcmp(next, hi.name) != 0 &&
			    agent_migrate(a, next) != 0) {
				agent_log(a, AGENT_LOG_WARN, "wanderer: "
				    "migrate to %s refused", next);
			}
		}
		if (w->counter < total)
			return AGENT_CONTINUE;
	}
	/* Walked; wait for the rest of the messages without spinning. */
	if (w->sent < w->send_count || w->messages < w->expect) {
		if (w->sleep_ms == 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = 1000000;
			nanosleep(&ts, NULL);
		}
		return AGENT_CONTINUE;
	}
	wanderer_done(a, w, hi.name);
	return AGENT_DONE;
}

/* The whole state: settings and progress as JSON, the data as "data". */
static int
wanderer_pack(struct agent *a, struct agent_state *st)
{
	struct wanderer *w = agent_data(a);
	json_t *obj, *hosts;
	char checksum[17], *text = NULL;
	size_t i;
	int rc = -1;

	hosts = json_array();
	for (i = 0; i < w->nhosts; i++)
		json_array_append_new(hosts, json_string(w->hosts[i]));
	snprintf(checksum, sizeof checksum, "%016" PRIx64, w->checksum);
	obj = json_pack("{s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I,"
	    " s:s, s:I, s:I, s:I, s:O, s:O, s:b}",
	    "bytes", (json_int_t)w->size, "hosts", hosts,
	    "laps", (json_int_t)w->laps, "seed", (json_int_t)w->seed,
	    "sleep_ms", (json_int_t)w->sleep_ms,
	    "linger_ms", (json_int_t)w->linger_ms,
	    "crash_at", (json_int_t)w->crash_at,
	    "crash", wanderer_crash_names[w->crash],
	    "send_count", (json_int_t)w->send_count,
	    "send_per_step", (json_int_t)w->send_per_step,
	    "expect", (json_int_t)w->expect,
	    "checksum", checksum, "counter", (json_int_t)w->counter,
	    "sent", (json_int_t)w->sent, "messages", (json_int_t)w->messages,
	    "received", w->received, "visits", w->visits,
	    "failed", w->failed);
	if (obj != NULL && w->undumpable)
		json_object_set_new(obj, "undumpable", json_true());
	if (obj != NULL && w->commit)
		json_object_set_new(obj, "commit", json_true());
	if (obj == NULL)
		goto out;
	if (w->send_to != NULL)
		json_object_set_new(obj, "send_to", json_string(w->send_to));
	if ((text = json_dumps(obj, JSON_COMPACT)) == NULL)
		goto out;
	if (agent_state_set_json(st, text) != 0 ||
	    agent_state_add_ref(st, "data", w->data, w->size) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		agent_log(a, AGENT_LOG_ERROR, "wanderer: pack failed");
	free(text);
	json_decref(obj);
	return rc;
}

/* A counts object from a packed state: names to non-negative integers. */
static json_t *
wanderer_counts(struct agent *a, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key), *n;
	const char *name;

	if (v == NULL)
		return json_object();
	if (!json_is_object(v))
		goto bad;
	json_object_foreach(v, name, n) {
		if (!json_is_integer(n) || json_integer_value(n) < 0)
			goto bad;
	}
	return json_deep_copy(v);
bad:
	agent_log(a, AGENT_LOG_ERROR, "wanderer: state: \"%s\": expected an "
	    "object of counts", key);
	return NULL;
}

/* Rebuilds the wanderer from a packed state. */
static int
wanderer_unpack(struct agent *a, const struct agent_state *st)
{
	struct wanderer *w;
	json_error_t jerr;
	json_t *obj = NULL, *v;
	const char *json = agent_state_json(st);
	void *data;
	size_t len;
	int rc = -1;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return -1;
	if (json == NULL || (obj = json_loads(json, 0, &jerr)) == NULL ||
	    !json_is_object(obj)) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: state: expected a "
		    "JSON object");
		goto out;
	}
	if (wanderer_load(a, w, obj, 1) != 0 ||
	    wanderer_int(a, obj, "counter", 0, INT64_MAX, 0,
	    &w->counter) != 0 ||
	    wanderer_int(a, obj, "sent", 0, INT64_MAX, 0, &w->sent) != 0 ||
	    wanderer_int(a, obj, "messages", 0, INT64_MAX, 0,
	    &w->messages) != 0)
		goto out;
	if ((w->received = wanderer_counts(a, obj, "received")) == NULL ||
	    (w->visits = wanderer_counts(a, obj, "visits")) == NULL)
		goto out;
	w->failed = json_is_true(json_object_get(obj, "failed"));

	v = json_object_get(obj, "checksum");
	if (!json_is_string(v) || json_string_length(v) != 16 ||
	    strspn(json_string_value(v), "0123456789abcdef") != 16) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: state: \"checksum\": "
		    "expected 16 hex digits");
		goto out;
	}
	w->checksum = strtoull(json_string_value(v), NULL, 16);
	/* Used where it arrived: a large state is not copied again. */
	if ((data = agent_state_keep(st, "data", &len)) == NULL ||
	    len != w->size) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: state: section "
		    "\"data\": %zu bytes, expected %zu", data == NULL ? 0 : len,
		    w->size);
		goto out;
	}
	w->data = data;
	w->data_kept = 1;
	agent_set_data(a, w);
	w = NULL;
	rc = 0;
out:
	json_decref(obj);
	wanderer_free(w);
	return rc;
}

/* Checks that each sender's numbers come exactly once and in order. */
/* A sequence number as decimal text ("17"), as a command line sends one:
 * 0, or -1 when it is not one (then it is 8 bytes, little-endian). */
static int
wanderer_decimal(const unsigned char *p, size_t len, uint64_t *seq)
{
	size_t i;

	if (len == 0 || len > 19 || len == 8)
		return -1;
	*seq = 0;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*seq = *seq * 10 + (uint64_t)(p[i] - '0');
	}
	return 0;
}

static void
wanderer_message(struct agent *a, const char *from, const void *data,
    size_t len)
{
	struct wanderer *w = agent_data(a);
	const unsigned char *p = data;
	json_t *v;
	uint64_t seq = 0, next;
	int i;

	if (w == NULL || w->failed)
		return;
	if (wanderer_decimal(p, len, &seq) == 0)
		;	/* a client's, as text */
	else if (len != 8) {
		wanderer_fail(a, w, "message length", from, len, 8);
		return;
	} else
		for (i = 7; i >= 0; i--)
			seq = seq << 8 | p[i];
	v = json_object_get(w->received, from);
	next = v != NULL ? (uint64_t)json_integer_value(v) : 0;
	if (seq != next) {
		wanderer_fail(a, w, seq < next ? "duplicate sequence number" :
		    "gap in sequence numbers", from, seq, next);
		return;
	}
	if (json_object_set_new(w->received, from,
	    json_integer((json_int_t)(next + 1))) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "wanderer: sender id is not "
		    "UTF-8");
		w->failed = 1;
		return;
	}
	w->messages++;
}

/* Frees everything; called once, whatever happened before. */
static void
wanderer_stop(struct agent *a)
{
	struct wanderer *w = agent_data(a);
	struct timespec ts;

	if (w != NULL && w->linger_ms > 0) {
		ts.tv_sec = w->linger_ms / 1000;
		ts.tv_nsec = (w->linger_ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	wanderer_free(w);
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "wanderer",
	.abi = AGENT_ABI,
	.start = wanderer_start,
	.step = wanderer_step,
	.pack = wanderer_pack,
	.unpack = wanderer_unpack,
	.message = wanderer_message,
	.stop = wanderer_stop,
};
