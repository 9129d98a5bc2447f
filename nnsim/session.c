/* Reading a training-session agent's result (session.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "alloc.h"
#include "data.h"
#include "le.h"
#include "session.h"

static int
session_add_data(struct agent_state *st, const char *x, const char *y,
    const struct nn_data *d)
{
	return agent_state_add(st, x, d->x, d->n * (size_t)d->in *
	    sizeof (float)) != 0 || agent_state_add(st, y, d->y, d->n *
	    (size_t)d->out * sizeof (float)) != 0 ? -1 : 0;
}

int
nn_session_state(struct agent_state *st, int index, json_t *config,
    const struct nn_data *train, const struct nn_data *test,
    json_t *epochs)
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
	if (epochs != NULL)
		json_object_set(o, "epochs", epochs);
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
