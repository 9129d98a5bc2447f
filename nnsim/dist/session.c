/* Reading a training-session agent's result (session.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd/agent.h"
#include "base/alloc.h"
#include "base/le.h"
#include "data/data.h"
#include "dist/session.h"

static int
session_add_data(struct agent_state *st, const char *x, const char *y,
    const struct nn_data *d)
{
	return agent_state_add_static(st, x, d->x, d->n * (size_t)d->in *
	    sizeof (float)) != 0 || agent_state_add_static(st, y, d->y, d->n *
	    (size_t)d->out * sizeof (float)) != 0 ? -1 : 0;
}

/* A cached table's reference, as nn_session_data reads it. */
static void
session_add_ref(json_t *o, const char *key, const struct nn_data *d)
{
	json_object_set_new(o, key, json_pack("{s:s, s:s, s:i, s:i}", "set",
	    d->cache_set, "table", d->cache_table, "shard", d->cache_shard,
	    "shards", d->cache_shards));
}

int
nn_session_state(struct agent_state *st, int index, json_t *config,
    const struct nn_data *train, const struct nn_data *test,
    json_t *extra)
{
	char *text;
	json_t *o;
	int rc = -1;

	o = json_pack("{s:i, s:O, s:i, s:i, s:s, s:f, s:f, s:I, s:I}",
	    "session", index, "config", config, "input", train->in,
	    "output", train->out, "task", train->task ==
	    NN_TASK_CLASSIFICATION ? "classification" : "regression",
	    "lo", (double)train->lo, "hi", (double)train->hi,
	    "train_n", (json_int_t)train->n, "test_n",
	    (json_int_t)(test != NULL ? test->n : 0));
	if (extra != NULL)
		json_object_update(o, extra);
	if (train->cache_set != NULL)
		session_add_ref(o, "train_cache", train);
	if (test != NULL && test->cache_set != NULL)
		session_add_ref(o, "test_cache", test);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL && agent_state_set_json(st, text) == 0 &&
	    (train->cache_set != NULL || session_add_data(st, "train.x",
	    "train.y", train) == 0) && (test == NULL ||
	    test->cache_set != NULL || session_add_data(st, "test.x",
	    "test.y", test) == 0))
		rc = 0;
	free(text);
	return rc;
}

int
nn_session_add_val(struct agent_state *st, const struct nn_data *val)
{
	if (val == NULL)
		return 0;
	return session_add_data(st, "val.x", "val.y", val);
}

unsigned char *
nn_session_result_build(int index, json_t *epochs, const float *params,
    size_t nparams, json_t *extra, size_t *len)
{
	json_t *last = json_array_get(epochs, json_array_size(epochs) - 1);
	json_t *best = json_object_get(extra, "best_epoch"), *e, *o;
	unsigned char *buf;
	size_t jlen, i;
	char *text;

	json_array_foreach(epochs, i, e) {
		if (json_is_integer(best) && json_equal(json_object_get(e,
		    "epoch"), best))
			last = e;
	}
	o = json_pack("{s:i, s:O, s:o}", "session", index, "epochs", epochs,
	    "final", last != NULL ? json_incref(last) : json_object());
	if (extra != NULL)
		json_object_update(o, extra);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return NULL;
	jlen = strlen(text);
	*len = NN_SESSION_RESULT_PREFIX + jlen + nparams * sizeof (float);
	buf = xmalloc(*len);
	memcpy(buf, NN_SESSION_RESULT_MAGIC, 8);
	nn_le_put_u64(buf + 8, jlen);
	memcpy(buf + NN_SESSION_RESULT_PREFIX, text, jlen);
	/* Floats as stored: every host we run on is little-endian. */
	memcpy(buf + NN_SESSION_RESULT_PREFIX + jlen, params,
	    nparams * sizeof (float));
	free(text);
	return buf;
}

int
nn_session_result_parse(const unsigned char *buf, size_t len, float *params,
    size_t nparams, json_t **json, char **cause)
{
	json_error_t jerr;
	uint64_t jlen;

	*json = NULL;
	if (len < NN_SESSION_RESULT_PREFIX ||
	    memcmp(buf, NN_SESSION_RESULT_MAGIC, 8) != 0)
		return nn_fail(cause, "session result: bad magic");
	jlen = nn_le_get_u64(buf + 8);
	if (jlen > len - NN_SESSION_RESULT_PREFIX ||
	    len - NN_SESSION_RESULT_PREFIX - jlen != nparams * sizeof (float))
		return nn_fail(cause, "session result: %zu bytes, expected "
		    "%zu of parameters", len - NN_SESSION_RESULT_PREFIX -
		    (size_t)(jlen < len ? jlen : 0), nparams * sizeof (float));
	*json = json_loadb((const char *)buf + NN_SESSION_RESULT_PREFIX,
	    (size_t)jlen, 0, &jerr);
	if (!json_is_object(*json)) {
		json_decref(*json);
		*json = NULL;
		return nn_fail(cause, "session result: bad JSON: %s",
		    jerr.text);
	}
	memcpy(params, buf + NN_SESSION_RESULT_PREFIX + jlen,
	    nparams * sizeof (float));
	return 0;
}

int
nn_session_floats(const struct agent_state *st, const char *name,
    float *dst, size_t count, char **cause)
{
	const void *p;
	size_t len;

	if ((p = agent_state_get(st, name, &len)) == NULL ||
	    len != count * sizeof (float))
		return nn_fail(cause, "state: section %s: %zu bytes, expected "
		    "%zu", name, p != NULL ? len : 0, count * sizeof (float));
	if (count > 0)
		memcpy(dst, p, len);
	return 0;
}

/* Section name's floats kept where they arrived (agent_state_keep), when
 * it holds exactly count of them; else NULL. */
static float *
session_kept_floats(const struct agent_state *st, const char *name,
    size_t count)
{
	size_t len = 0;
	void *p = agent_state_keep(st, name, &len);

	return p != NULL && count > 0 && len == count * sizeof (float) &&
	    (uintptr_t)p % sizeof (float) == 0 ? p : NULL;
}

/*
 * Rows of a cached table (a reference of nn_session_state): mapped from
 * the daemon when the set's parts are the rows asked for (the whole
 * table of one part, or shard p of N kept as N parts), which shares the
 * host's one copy; else gathered from its parts, in the order the rows
 * had when the set was put (docs/data-cache.md).
 */
static struct nn_data *
session_cached(struct agent *a, json_t *ref, const char *key, size_t n,
    int in, int out, char **cause)
{
	const char *set = json_string_value(json_object_get(ref, "set"));
	const char *table = json_string_value(json_object_get(ref, "table"));
	json_int_t shard = json_integer_value(json_object_get(ref, "shard"));
	json_int_t shards = json_integer_value(json_object_get(ref, "shards"));
	struct agent_data_part first, *parts = NULL;
	struct nn_data *d = NULL;
	size_t i, r, total = 0, p, P;

	if (set == NULL || table == NULL || shards < 0 || shards > 65536 ||
	    (shards > 0 && (shard < 0 || shard >= shards))) {
		nn_fail(cause, "state: %s: expected set, table, shard and "
		    "shards", key);
		return NULL;
	}
	/* The part asked for first: when the set is cut as the job, it is
	 * all this agent maps (and fetches). */
	if (agent_data_map(a, set, table, shards > 0 ? (int)shard : 0,
	    &first) == 0 && ((shards == 0 && first.parts == 1) ||
	    (shards > 0 && first.parts == shards))) {
		if (first.in != in || first.out != out || first.rows != n) {
			nn_fail(cause, "data set %s: %s part %lld: %zu rows of %d "
			    "inputs and %d targets, expected %zu of %d and %d",
			    set, table, (long long)(shards > 0 ? shard : 0),
			    first.rows, first.in, first.out, n, in, out);
			return NULL;
		}
		d = nn_data_borrow(n, in, out, (float *)(uintptr_t)first.x,
		    (float *)(uintptr_t)first.y);
		goto out;
	}
	if (agent_data_map(a, set, table, 0, &first) != 0) {
		nn_fail(cause, "data set %s: %s", set, agent_last_error(a));
		return NULL;
	}
	if (first.in != in || first.out != out) {
		nn_fail(cause, "data set %s: rows of %d inputs and %d targets, "
		    "expected %d and %d", set, first.in, first.out, in, out);
		return NULL;
	}
	P = (size_t)first.parts;
	parts = xcalloc(P, sizeof *parts);
	parts[0] = first;
	for (p = 1; p < P; p++)
		if (agent_data_map(a, set, table, (int)p, &parts[p]) != 0) {
			nn_fail(cause, "data set %s: %s", set,
			    agent_last_error(a));
			goto out;
		}
	for (p = 0; p < P; p++)
		total += parts[p].rows;
	/* Row r of the table is row r / P of part r % P. */
	d = nn_data_new(n, in, out);
	for (i = 0; i < n; i++) {
		r = shards == 0 ? i : (size_t)shard + i * (size_t)shards;
		if (r >= total || r / P >= parts[r % P].rows) {
			nn_fail(cause, "data set %s: %s has %zu rows, fewer "
			    "than this agent's", set, table, total);
			nn_data_free(d);
			d = NULL;
			goto out;
		}
		memcpy(d->x + i * (size_t)in, parts[r % P].x + (r / P) *
		    (size_t)in, (size_t)in * sizeof (float));
		memcpy(d->y + i * (size_t)out, parts[r % P].y + (r / P) *
		    (size_t)out, (size_t)out * sizeof (float));
	}
out:
	free(parts);
	if (d != NULL) {
		d->cache_set = xstrdup(set);
		snprintf(d->cache_table, sizeof d->cache_table, "%s", table);
		d->cache_shard = (int)shard;
		d->cache_shards = (int)shards;
	}
	return d;
}

struct nn_data *
nn_session_data(struct agent *a, const struct agent_state *st, json_t *o,
    const char *prefix, size_t n, int in, int out, char **cause)
{
	struct nn_data *d;
	const char *task = json_string_value(json_object_get(o, "task"));
	char xname[32], yname[32];
	json_t *ref;
	float *x, *y;

	snprintf(xname, sizeof xname, "%s_cache", prefix);
	if ((ref = json_object_get(o, xname)) != NULL) {
		if ((d = session_cached(a, ref, xname, n, in, out, cause)) ==
		    NULL)
			return NULL;
		goto done;
	}
	snprintf(xname, sizeof xname, "%s.x", prefix);
	snprintf(yname, sizeof yname, "%s.y", prefix);
	/* Used in place: an arrival copies none of its data. */
	if ((x = session_kept_floats(st, xname, n * (size_t)in)) != NULL &&
	    (y = session_kept_floats(st, yname, n * (size_t)out)) != NULL)
		d = nn_data_borrow(n, in, out, x, y);
	else {
		d = nn_data_new(n, in, out);
		if (nn_session_floats(st, xname, d->x, n * (size_t)in,
		    cause) != 0 || nn_session_floats(st, yname, d->y,
		    n * (size_t)out, cause) != 0)
			goto fail;
	}
done:
	d->task = task != NULL && strcmp(task, "classification") == 0 ?
	    NN_TASK_CLASSIFICATION : NN_TASK_REGRESSION;
	d->lo = (float)json_number_value(json_object_get(o, "lo"));
	d->hi = (float)json_number_value(json_object_get(o, "hi"));
	return d;
fail:
	nn_data_free(d);
	return NULL;
}

int
nn_session_int(json_t *o, const char *key, long long lo, long long hi,
    long long *out, char **cause)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return nn_fail(cause, "state: \"%s\": expected an integer from "
		    "%lld to %lld", key, lo, hi);
	*out = json_integer_value(v);
	return 0;
}
