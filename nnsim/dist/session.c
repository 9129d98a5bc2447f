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
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL && agent_state_set_json(st, text) == 0 &&
	    session_add_data(st, "train.x", "train.y", train) == 0 &&
	    (test == NULL || session_add_data(st, "test.x", "test.y",
	    test) == 0))
		rc = 0;
	free(text);
	return rc;
}

unsigned char *
nn_session_result_build(int index, json_t *epochs, const float *params,
    size_t nparams, size_t *len)
{
	json_t *last = json_array_get(epochs, json_array_size(epochs) - 1);
	json_t *o;
	unsigned char *buf;
	size_t jlen;
	char *text;

	o = json_pack("{s:i, s:O, s:o}", "session", index, "epochs", epochs,
	    "final", last != NULL ? json_incref(last) : json_object());
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

struct nn_data *
nn_session_data(const struct agent_state *st, json_t *o, const char *prefix,
    size_t n, int in, int out, char **cause)
{
	struct nn_data *d;
	const char *task = json_string_value(json_object_get(o, "task"));
	char xname[32], yname[32];
	float *x, *y;

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
