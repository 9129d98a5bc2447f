/*
 * datareader: maps one part of a cached data set (agent_data_map,
 * docs/data-cache.md) and reports what it read, to test the cache from
 * the agent's side. args:
 *   {"set": NAME, "table": "train"|"test", "part": P, "hold_s": S}
 * It maps the part where it starts and again wherever it moves, holds it
 * S seconds (default 0) and finishes with the result
 *   {"rows", "in", "out", "parts", "fnv_x", "fnv_y", "host", "hosts"}:
 * FNV-1a 64 of the inputs' and the targets' bytes, as hex, and the hosts
 * it read the part on, in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agentd/agent.h"

#define READER_STEP_MS	50

struct reader {
	json_t			*args;
	json_t			*hosts;		/* where it mapped the part */
	struct agent_data_part	 part;
	double			 held;		/* seconds so far */
	char			 fnv_x[17], fnv_y[17];
};

static uint64_t
reader_fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Maps the part the args name, here, and checks it against what was read
 * before a move. */
static int
reader_map(struct agent *a, struct reader *r)
{
	struct agent_host_info hi;
	char x[17], y[17];

	if (agent_data_map(a, json_string_value(json_object_get(r->args,
	    "set")), json_string_value(json_object_get(r->args, "table")),
	    (int)json_integer_value(json_object_get(r->args, "part")),
	    &r->part) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "datareader: %s",
		    agent_last_error(a));
		return -1;
	}
	snprintf(x, sizeof x, "%016llx", (unsigned long long)reader_fnv(
	    r->part.x, r->part.rows * (size_t)r->part.in * sizeof (float)));
	snprintf(y, sizeof y, "%016llx", (unsigned long long)reader_fnv(
	    r->part.y, r->part.rows * (size_t)r->part.out * sizeof (float)));
	if (r->fnv_x[0] != '\0' && (strcmp(x, r->fnv_x) != 0 ||
	    strcmp(y, r->fnv_y) != 0)) {
		agent_log(a, AGENT_LOG_ERROR, "datareader: the part read "
		    "differently after the move");
		return -1;
	}
	memcpy(r->fnv_x, x, sizeof x);
	memcpy(r->fnv_y, y, sizeof y);
	if (agent_host_info(a, &hi) == 0)
		json_array_append_new(r->hosts, json_string(hi.name));
	return 0;
}

static void
reader_free(struct reader *r)
{
	if (r == NULL)
		return;
	json_decref(r->args);
	json_decref(r->hosts);
	free(r);
}

static int
reader_start(struct agent *a, const char *json)
{
	struct reader *r;
	json_error_t jerr;
	json_t *o;
	const char *set = NULL, *table = "train";
	json_int_t part = 0;
	double hold = 0;

	if ((o = json_loads(json, 0, &jerr)) == NULL ||
	    json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s, s?s, s?I, s?F}",
	    "set", &set, "table", &table, "part", &part, "hold_s", &hold) !=
	    0 || part < 0 || hold < 0) {
		agent_log(a, AGENT_LOG_ERROR, "datareader: args: %s",
		    o == NULL || part >= 0 ? jerr.text : "part and hold_s "
		    "are not negative");
		json_decref(o);
		return -1;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		json_decref(o);
		return -1;
	}
	r->args = json_pack("{s:s, s:s, s:I, s:f}", "set", set, "table",
	    table, "part", part, "hold_s", hold);
	r->hosts = json_array();
	json_decref(o);
	if (reader_map(a, r) != 0) {
		reader_free(r);
		return -1;
	}
	agent_set_data(a, r);
	return 0;
}

static int
reader_step(struct agent *a)
{
	struct reader *r = agent_data(a);
	struct timespec ts = { 0, READER_STEP_MS * 1000000L };
	char *text;
	json_t *o;
	int rc;

	if (r->held < json_real_value(json_object_get(r->args, "hold_s"))) {
		nanosleep(&ts, NULL);
		r->held += READER_STEP_MS / 1000.0;
		return AGENT_CONTINUE;
	}
	o = json_pack("{s:I, s:i, s:i, s:i, s:s, s:s, s:O, s:O}", "rows",
	    (json_int_t)r->part.rows, "in", r->part.in, "out", r->part.out,
	    "parts", r->part.parts, "fnv_x", r->fnv_x, "fnv_y", r->fnv_y,
	    "host", json_array_get(r->hosts, json_array_size(r->hosts) - 1),
	    "hosts", r->hosts);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rc = text != NULL && agent_result(a, text, strlen(text)) == 0 ?
	    AGENT_DONE : AGENT_FAILED;
	free(text);
	return rc;
}

static int
reader_pack(struct agent *a, struct agent_state *st)
{
	struct reader *r = agent_data(a);
	char *text;
	json_t *o;
	int rc;

	o = json_pack("{s:O, s:O, s:f, s:s, s:s}", "args", r->args, "hosts",
	    r->hosts, "held", r->held, "fnv_x", r->fnv_x, "fnv_y", r->fnv_y);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rc = text != NULL ? agent_state_set_json(st, text) : -1;
	free(text);
	return rc;
}

static int
reader_unpack(struct agent *a, const struct agent_state *st)
{
	struct reader *r;
	json_error_t jerr;
	json_t *o;

	if ((o = json_loads(agent_state_json(st) != NULL ?
	    agent_state_json(st) : "", 0, &jerr)) == NULL ||
	    !json_is_object(json_object_get(o, "args")) ||
	    (r = calloc(1, sizeof *r)) == NULL) {
		agent_log(a, AGENT_LOG_ERROR, "datareader: state: %s",
		    jerr.text);
		json_decref(o);
		return -1;
	}
	r->args = json_incref(json_object_get(o, "args"));
	r->hosts = json_is_array(json_object_get(o, "hosts")) ?
	    json_incref(json_object_get(o, "hosts")) : json_array();
	r->held = json_number_value(json_object_get(o, "held"));
	snprintf(r->fnv_x, sizeof r->fnv_x, "%s", json_string_value(
	    json_object_get(o, "fnv_x")) != NULL ? json_string_value(
	    json_object_get(o, "fnv_x")) : "");
	snprintf(r->fnv_y, sizeof r->fnv_y, "%s", json_string_value(
	    json_object_get(o, "fnv_y")) != NULL ? json_string_value(
	    json_object_get(o, "fnv_y")) : "");
	json_decref(o);
	if (reader_map(a, r) != 0) {
		reader_free(r);
		return -1;
	}
	agent_set_data(a, r);
	return 0;
}

static void
reader_message(struct agent *a, const char *from, const void *data,
    size_t len)
{
	(void)data;
	agent_log(a, AGENT_LOG_WARN, "datareader: ignored a %zu-byte message "
	    "from %s", len, from);
}

static void
reader_stop(struct agent *a)
{
	reader_free(agent_data(a));
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "datareader",
	.abi = AGENT_ABI,
	.start = reader_start,
	.step = reader_step,
	.pack = reader_pack,
	.unpack = reader_unpack,
	.message = reader_message,
	.stop = reader_stop,
};
