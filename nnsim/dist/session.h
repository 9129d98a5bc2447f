/*
 * What a training-session agent (agents/session.c) hands back when it
 * finishes, and how nnsim submit reads it: "NNSRES1" and a NUL, the JSON
 * length as a little-endian u64, the JSON {"session": I, "epochs": [...],
 * "final": {...}}, then the network's parameters as f32 to the end.
 */
#ifndef NN_SESSION_H
#define NN_SESSION_H

#include <stddef.h>

#include <jansson.h>

#define NN_SESSION_RESULT_MAGIC		"NNSRES1"	/* and its NUL: 8 */
#define NN_SESSION_RESULT_PREFIX	((size_t)16)

struct agent;
struct agent_state;
struct nn_data;

/*
 * Writes what a session agent starts or moves with (agents/session.c):
 * the JSON {"session", "config", "input", "output", "task", "lo", "hi",
 * "train_n", "test_n"} plus the keys of extra when it is not NULL (the
 * epochs so far, a partition's place in its ring), and the data sections
 * train.x, train.y, test.x, test.y (test may be NULL); of a table in the
 * data cache (nn_data's cache_set), its reference instead, train_cache
 * or test_cache: {"set", "table", "shard", "shards"}. Uses the
 * agent_state functions of agentd/agent.h. 0 or -1.
 */
int	nn_session_state(struct agent_state *st, int index, json_t *config,
	    const struct nn_data *train, const struct nn_data *test,
	    json_t *extra);
/*
 * The validation rows (data.validation) as sections val.x and val.y of a
 * state nn_session_state wrote; the caller puts "val_n" in its extra
 * JSON. Always shipped in the state, never from the data cache. 0 or -1.
 */
int	nn_session_add_val(struct agent_state *st, const struct nn_data *val);
/*
 * A finished run's result, as above, from its epochs (the last is
 * "final", or the one extra's "best_epoch" names) and parameters, with
 * the keys of extra (may be NULL): "diverged" (why training stopped),
 * "best_epoch", "stopped_early". *len bytes, caller frees; NULL if the
 * JSON cannot be written.
 */
unsigned char *nn_session_result_build(int index, json_t *epochs,
	    const float *params, size_t nparams, json_t *extra, size_t *len);

/* The state's integer field key, in [lo, hi]; -1 with a cause naming it. */
int	nn_session_int(json_t *o, const char *key, long long lo, long long hi,
	    long long *out, char **cause);
/*
 * A state's section of exactly count floats, copied into dst; -1 with a
 * cause naming the section otherwise.
 */
int	nn_session_floats(const struct agent_state *st, const char *name,
	    float *dst, size_t count, char **cause);
/*
 * The data set of sections PREFIX.x and PREFIX.y (n rows), or mapped from
 * the data cache by agent a when o has PREFIX_cache, with the task and
 * targets of the state's JSON o; NULL with cause.
 */
struct nn_data *nn_session_data(struct agent *a, const struct agent_state *st,
	    json_t *o, const char *prefix, size_t n, int in, int out,
	    char **cause);
/*
 * Splits a result into its JSON (new reference) and nparams floats copied
 * into params. -1 with a cause naming what is wrong.
 */
int	nn_session_result_parse(const unsigned char *buf, size_t len,
	    float *params, size_t nparams, json_t **json, char **cause);

#endif
