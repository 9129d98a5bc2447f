/*
 * A fake agent runtime for unit tests: the functions agent.h declares, as
 * the worker provides them to a .so, and a move done as the daemon does it.
 * A test binary includes one agent's source, then this file, so that
 * agent_entry is that agent's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/state.h"
#include "base/alloc.h"

/* One agent as the fake runtime sees it. */
struct agent {
	char		 id[16];
	char		 host[64];
	void		*data;
	char		 migrate[64];	/* requested in the last step */
	double		 progress;
	int		 errors;	/* lines logged at AGENT_LOG_ERROR */
	char		 last[400];	/* the last line logged */
	struct agent	*peer;		/* where agent_send delivers */
	unsigned char	*outbox;	/* sent, not yet delivered */
	size_t		 outlen;
	unsigned char	*result;	/* agent_result's copy */
	size_t		 result_len;
	unsigned char	*kept;		/* a state it kept sections of */
	int		 commits;	/* agent_commit calls */
};

/* The runtime API of agent.h: each records what the agent asked for. */
void *
agent_data(struct agent *a)
{
	return a->data;
}

void
agent_set_data(struct agent *a, void *data)
{
	a->data = data;
}

const char *
agent_id(struct agent *a)
{
	return a->id;
}

int
agent_send(struct agent *a, const char *to, const void *data, size_t len)
{
	if (a->peer == NULL || strcmp(to, a->peer->id) != 0 || len != 8)
		return -1;
	a->outbox = xreallocarray(a->outbox, a->outlen + 8, 1);
	memcpy(a->outbox + a->outlen, data, 8);
	a->outlen += 8;
	return 0;
}

int
agent_migrate(struct agent *a, const char *host)
{
	snprintf(a->migrate, sizeof a->migrate, "%s", host);
	return 0;
}

int
agent_clone(struct agent *a, const char *host)
{
	(void)a;
	(void)host;
	return -1;
}

int
agent_spawn(struct agent *a, const char *code, const char *host,
    const char *args, char *id, size_t id_len)
{
	(void)a;
	(void)code;
	(void)host;
	(void)args;
	(void)id;
	(void)id_len;
	return -1;
}

int
agent_commit(struct agent *a, int replicas, const char *note)
{
	(void)note;
	a->commits++;
	return replicas >= 1 ? 0 : -1;
}

const char *
agent_last_error(struct agent *a)
{
	(void)a;
	return "no runtime in unit tests";
}

int
agent_metrics(struct agent *a, const char *json)
{
	(void)a;
	return json != NULL && json[0] == '{' ? 0 : -1;
}

int
agent_result(struct agent *a, const void *data, size_t len)
{
	free(a->result);
	a->result = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(a->result, data, len);
	a->result_len = len;
	return 0;
}

void
agent_progress(struct agent *a, double fraction, const char *status)
{
	(void)status;
	a->progress = fraction;
}

void
agent_log(struct agent *a, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->last, sizeof a->last, fmt, ap);
	va_end(ap);
	if (level == AGENT_LOG_ERROR)
		a->errors++;
	if (getenv("UNIT_VERBOSE") != NULL)
		fprintf(stderr, "  [%s@%s] %s\n", a->id, a->host, a->last);
}

int
agent_host_info(struct agent *a, struct agent_host_info *hi)
{
	memset(hi, 0, sizeof *hi);
	snprintf(hi->name, sizeof hi->name, "%s", a->host);
	hi->cores = 1;
	return 0;
}

/* A fresh runtime handle. */
static struct agent *
fake_new(const char *id, const char *host)
{
	struct agent *a = xcalloc(1, sizeof *a);

	snprintf(a->id, sizeof a->id, "%s", id);
	snprintf(a->host, sizeof a->host, "%s", host);
	return a;
}

/* Stops the agent if it holds data, then frees the handle. */
static void
fake_free(struct agent *a)
{
	if (a == NULL)
		return;
	agent_entry.stop(a);
	free(a->kept);
	free(a->outbox);
	free(a->result);
	free(a);
}

/*
 * Moves a to host as the daemon does: pack, encode, decode, unpack on a new
 * handle. flip: a byte offset into the encoding to damage, or -1. Returns
 * the new handle or NULL (a is freed either way).
 */
static struct agent *
fake_move(struct agent *a, const char *host, long flip)
{
	struct agent_state *st = agent_state_new(), *back = NULL;
	struct agent *b = fake_new(a->id, host);
	unsigned char *buf = NULL;
	char *cause = NULL;
	size_t len;

	b->peer = a->peer;
	if (agent_entry.pack(a, st) != 0)
		goto fail;
	len = agent_state_encoded_size(st);
	buf = xmalloc(len);
	agent_state_encode(st, buf);
	if (flip >= 0)
		buf[len - 1 - flip] ^= 0x01;
	if (agent_state_decode(buf, len, &back, &cause) != 0 ||
	    agent_entry.unpack(b, back) != 0)
		goto fail;
	/* As the worker does: kept sections live as long as the agent. */
	if (agent_state_kept(back)) {
		b->kept = buf;
		buf = NULL;
	}
	agent_state_free(back);
	agent_state_free(st);
	free(buf);
	fake_free(a);
	return b;
fail:
	free(cause);
	agent_state_free(back);
	agent_state_free(st);
	free(buf);
	fake_free(a);
	fake_free(b);
	return NULL;
}

/* Delivers what from sent to its peer. */
static __attribute__((unused)) void
fake_deliver(struct agent *from)
{
	size_t i;

	for (i = 0; i < from->outlen; i += 8)
		agent_entry.message(from->peer, from->id,
		    from->outbox + i, 8);
	from->outlen = 0;
}

/* Runs one step; a requested move happens after it. */
static __attribute__((unused)) int
fake_step(struct agent **ap)
{
	struct agent *a = *ap;
	int rc;

	a->migrate[0] = '\0';
	rc = agent_entry.step(a);
	if (rc == AGENT_CONTINUE && a->migrate[0] != '\0')
		*ap = fake_move(a, a->migrate, -1);
	return rc;
}

/* Starts the agent; NULL if start failed (the handle is freed). */
static struct agent *
fake_start(const char *id, const char *host, const char *args)
{
	struct agent *a = fake_new(id, host);

	if (agent_entry.start(a, args) != 0) {
		fake_free(a);
		return NULL;
	}
	return a;
}
