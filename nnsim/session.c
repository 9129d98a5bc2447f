/* Reading a training-session agent's result (session.h). */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "session.h"

int
nn_session_result_parse(const unsigned char *buf, size_t len, float *params,
    size_t nparams, json_t **json, char **cause)
{
	json_error_t jerr;
	uint64_t jlen = 0;
	int i;

	*json = NULL;
	if (len < NN_SESSION_RESULT_PREFIX ||
	    memcmp(buf, NN_SESSION_RESULT_MAGIC, 8) != 0)
		return nn_fail(cause, "session result: bad magic");
	for (i = 7; i >= 0; i--)
		jlen = jlen << 8 | buf[8 + i];
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
