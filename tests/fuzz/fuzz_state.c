/*
 * The packed agent state (agentd/state.h) as it arrives from another
 * host: agent_state_decode, and agent_state_merge of a commit's delta.
 *
 * Byte 0, bit 0 clear: the rest is one state. A state that decodes must
 * encode back to the same bytes (the encoding has one form: padding is
 * zero, nothing trails). Bit 0 set: bytes 1-2 (little-endian) split the
 * rest into a base and a delta, merged keeping the base's sections the
 * delta lacks (and, with bit 1, one it has not got); a merge that succeeds
 * must decode.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentd/state.h"
#include "base/alloc.h"
#include "fuzz.h"

/* 1 when st has a section called name. */
static int
fuzz_has(const struct agent_state *st, const char *name)
{
	const char *n;
	size_t i, len;

	for (i = 0; i < agent_state_count(st); i++) {
		agent_state_section(st, i, &n, &len);
		if (strcmp(n, name) == 0)
			return 1;
	}
	return 0;
}

/* Decodes, reads every part, and checks the encoding round trip. */
static void
fuzz_decode(const unsigned char *buf, size_t len)
{
	struct agent_state *st = NULL;
	unsigned char *again = NULL;
	const char *name;
	const unsigned char *p;
	size_t i, n, sum = 0;
	char *cause = NULL;

	if (agent_state_decode(buf, len, &st, &cause) != 0) {
		if (cause == NULL || st != NULL)
			abort();
		goto out;
	}
	if (agent_state_json(st) != NULL)
		sum += strlen(agent_state_json(st));
	for (i = 0; i < agent_state_count(st); i++) {
		p = agent_state_section(st, i, &name, &n);
		if (n > 0)
			sum += p[0] + p[n - 1];	/* within buf (ASan) */
		sum += strlen(name);
	}
	if (agent_state_encoded_size(st) != len)
		abort();
	again = xmalloc(len);
	agent_state_encode(st, again);
	if (memcmp(again, buf, len) != 0)
		abort();
out:
	(void)sum;
	free(again);
	free(cause);
	agent_state_free(st);
}

/* Merges delta onto base as a host holding base does. */
static void
fuzz_merge(const unsigned char *base, size_t blen,
    const unsigned char *delta, size_t dlen, int bogus)
{
	struct agent_state *b = NULL, *d = NULL;
	unsigned char *out = NULL;
	const char *name;
	json_t *kept = json_array();
	size_t i, n, len = 0;
	char *cause = NULL;

	if (agent_state_decode(base, blen, &b, &cause) == 0 &&
	    agent_state_decode(delta, dlen, &d, &cause) == 0) {
		for (i = 0; i < agent_state_count(b); i++) {
			agent_state_section(b, i, &name, &n);
			if (!fuzz_has(d, name))
				json_array_append_new(kept, json_string(name));
		}
	}
	free(cause);
	cause = NULL;
	if (bogus)
		json_array_append_new(kept, json_string("fuzz-missing"));
	out = agent_state_merge(base, blen, delta, dlen, kept, malloc, &len,
	    &cause);
	if (out != NULL)
		fuzz_decode(out, len);
	else if (cause == NULL)
		abort();
	free(out);
	free(cause);
	json_decref(kept);
	agent_state_free(b);
	agent_state_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf, *b = NULL, *d = NULL;
	size_t len, split;

	if (size < 1)
		return -1;
	/* An aligned copy, as the runtime's buffers are: sections are read
	 * in place. */
	len = size - 1;
	buf = xmalloc(len > 0 ? len : 1);
	memcpy(buf, data + 1, len);
	if (!(data[0] & 1))
		fuzz_decode(buf, len);
	else if (len >= 2) {
		split = (size_t)buf[0] | (size_t)buf[1] << 8;
		if (split > len - 2)
			split = len - 2;
		/* Each part copied again so that each starts aligned. */
		b = xmalloc(split + 1);
		d = xmalloc(len - 2 - split + 1);
		memcpy(b, buf + 2, split);
		memcpy(d, buf + 2 + split, len - 2 - split);
		fuzz_merge(b, split, d, len - 2 - split, data[0] & 2);
	}
	free(b);
	free(d);
	free(buf);
	return 0;
}
