/*
 * The commits this host holds for agents on other hosts: a short list
 * (one entry per agent), newest first.
 */
#include <string.h>

#include "agentd/bigbuf.h"
#include "agentd/commitstore.h"
#include "agentd/state.h"
#include "base/alloc.h"

struct commit {
	char		 agent[96];
	json_t		*meta;
	void		*data;
	uint64_t	 len;		/* data's and delta's */
	/* A later commit of the same run without its static sections (kept),
	 * merged with data when the commit is asked for. */
	void		*delta;
	uint64_t	 delta_len;
	json_t		*kept;
	time_t		 at;
	struct commit	*next;
};

struct commitstore {
	struct commit	*list;
	uint64_t	 bytes;
	uint64_t	 limit;
};

struct commitstore *
commitstore_new(uint64_t limit)
{
	struct commitstore *cs = xcalloc(1, sizeof *cs);

	cs->limit = limit;
	return cs;
}

static void
commit_free(struct commit *c)
{
	json_decref(c->meta);
	json_decref(c->kept);
	bigbuf_free(c->data);
	bigbuf_free(c->delta);
	free(c);
}

void
commitstore_free(struct commitstore *cs)
{
	struct commit *c;

	if (cs == NULL)
		return;
	while ((c = cs->list) != NULL) {
		cs->list = c->next;
		commit_free(c);
	}
	free(cs);
}

/* agent's entry, unlinked from the list, or NULL. */
static struct commit *
commit_unlink(struct commitstore *cs, const char *agent)
{
	struct commit **p, *c;

	for (p = &cs->list; (c = *p) != NULL; p = &c->next) {
		if (strcmp(c->agent, agent) == 0) {
			*p = c->next;
			cs->bytes -= c->len;
			return c;
		}
	}
	return NULL;
}

/* Why len more bytes do not fit beside held. */
static void
commitstore_full(const struct commitstore *cs, uint64_t held, uint64_t len,
    char **cause)
{
	nn_fail(cause, "the commit store is full (%llu of %llu MiB held; %llu "
	    "MiB more asked for)", (unsigned long long)(held >> 20),
	    (unsigned long long)(cs->limit >> 20),
	    (unsigned long long)((len + (1 << 20) - 1) >> 20));
}

int
commitstore_put(struct commitstore *cs, const char *agent, json_t *meta,
    void *data, uint64_t len, time_t now, char **cause)
{
	struct commit *c, *old;
	uint64_t freed;

	old = commit_unlink(cs, agent);
	freed = old != NULL ? old->len : 0;
	/* The old one is replaced only by one that fits. */
	if (len > cs->limit || cs->bytes + len > cs->limit) {
		commitstore_full(cs, cs->bytes + freed, len, cause);
		if (old != NULL) {
			old->next = cs->list;
			cs->list = old;
			cs->bytes += old->len;
		}
		json_decref(meta);
		bigbuf_free(data);
		return -1;
	}
	if (old != NULL)
		commit_free(old);
	c = xcalloc(1, sizeof *c);
	snprintf(c->agent, sizeof c->agent, "%s", agent);
	c->meta = meta != NULL ? meta : json_object();
	c->data = data;
	c->len = len;
	c->at = now;
	c->next = cs->list;
	cs->list = c;
	cs->bytes += len;
	return 0;
}

/* agent's entry, or NULL. */
static struct commit *
commit_find(struct commitstore *cs, const char *agent)
{
	struct commit *c;

	for (c = cs->list; c != NULL; c = c->next) {
		if (strcmp(c->agent, agent) == 0)
			return c;
	}
	return NULL;
}

const char *
commitstore_series(struct commitstore *cs, const char *agent)
{
	struct commit *c = commit_find(cs, agent);

	return c != NULL ? json_string_value(json_object_get(c->meta,
	    "series")) : NULL;
}

int
commitstore_put_delta(struct commitstore *cs, const char *agent,
    json_t *meta, void *data, uint64_t len, json_t *kept, time_t now,
    char **cause)
{
	struct commit *c = commit_find(cs, agent);
	const char *series = json_string_value(json_object_get(meta, "series"));
	const char *had = commitstore_series(cs, agent);
	struct agent_state *st = NULL;
	uint64_t freed = c != NULL ? c->delta_len : 0;
	const char *name;
	size_t i;

	if (series == NULL || had == NULL || strcmp(series, had) != 0) {
		nn_fail(cause, "no full commit of this run here");
		goto fail;
	}
	if (len > cs->limit || cs->bytes - freed + len > cs->limit) {
		commitstore_full(cs, cs->bytes, len, cause);
		goto fail;
	}
	/* Checked now, so that the merge, later, cannot fail on it. */
	if (agent_state_decode(data, (size_t)len, &st, cause) != 0)
		goto fail;
	agent_state_free(st);
	st = NULL;
	if (agent_state_decode(c->data, (size_t)(c->len - c->delta_len), &st,
	    cause) != 0)
		goto fail;
	for (i = 0; i < json_array_size(kept); i++) {
		name = json_string_value(json_array_get(kept, i));
		if (name == NULL || agent_state_get(st, name, NULL) == NULL) {
			nn_fail(cause, "the full commit here has no section %s",
			    name != NULL ? name : "(not a string)");
			goto fail;
		}
	}
	agent_state_free(st);
	bigbuf_free(c->delta);
	json_decref(c->kept);
	cs->bytes += len - freed;
	c->len += len - freed;
	c->delta = data;
	c->delta_len = len;
	c->kept = json_incref(kept);
	/* How many deltas the full commit has had: shown by "commits". */
	json_object_set_new(meta, "deltas", json_integer(json_integer_value(
	    json_object_get(c->meta, "deltas")) + 1));
	json_object_update(c->meta, meta);
	json_decref(meta);
	c->at = now;
	return 0;
fail:
	agent_state_free(st);
	json_decref(meta);
	bigbuf_free(data);
	return -1;
}

/* Makes c's data whole again from its delta; -1 when that fails. */
static int
commit_merge(struct commitstore *cs, struct commit *c)
{
	unsigned char *m;
	uint64_t base_len = c->len - c->delta_len;
	size_t len = 0;
	char *cause = NULL;

	m = agent_state_merge(c->data, (size_t)base_len, c->delta,
	    (size_t)c->delta_len, c->kept, bigbuf_alloc, &len, &cause);
	if (m == NULL) {
		free(cause);
		return -1;
	}
	bigbuf_free(c->data);
	bigbuf_free(c->delta);
	json_decref(c->kept);
	c->delta = NULL;
	c->kept = NULL;
	cs->bytes = cs->bytes - c->len + len;
	c->data = m;
	c->len = len;
	c->delta_len = 0;
	return 0;
}

const void *
commitstore_get(struct commitstore *cs, const char *agent, json_t **meta,
    uint64_t *len)
{
	struct commit *c = commit_find(cs, agent);

	if (c == NULL || (c->delta != NULL && commit_merge(cs, c) != 0))
		return NULL;
	if (meta != NULL)
		*meta = c->meta;
	*len = c->len;
	return c->data;
}

int
commitstore_drop(struct commitstore *cs, const char *agent)
{
	struct commit *c = commit_unlink(cs, agent);

	if (c == NULL)
		return -1;
	commit_free(c);
	return 0;
}

int
commitstore_expire(struct commitstore *cs, time_t now)
{
	struct commit **p, *c;
	int n = 0;

	for (p = &cs->list; (c = *p) != NULL;) {
		if (now - c->at > COMMITSTORE_KEEP_S) {
			*p = c->next;
			cs->bytes -= c->len;
			commit_free(c);
			n++;
		} else
			p = &c->next;
	}
	return n;
}

uint64_t
commitstore_bytes(const struct commitstore *cs)
{
	return cs->bytes;
}

uint64_t
commitstore_limit(const struct commitstore *cs)
{
	return cs->limit;
}

json_t *
commitstore_list(const struct commitstore *cs, time_t now)
{
	const struct commit *c;
	json_t *a = json_array(), *o;

	for (c = cs->list; c != NULL; c = c->next) {
		o = json_deep_copy(c->meta);
		json_object_set_new(o, "agent", json_string(c->agent));
		json_object_set_new(o, "bytes", json_integer((json_int_t)
		    c->len));
		json_object_set_new(o, "age_s", json_integer((json_int_t)
		    (now - c->at)));
		json_array_append_new(a, o);
	}
	return a;
}
