/*
 * The training-session agent: one whole training run (one variant or seed
 * of a sweep) that nnsim submit ships with its data.
 *
 * It is spawned from a state, never from args. The state's JSON:
 *
 *   {"session": I, "config": {net.json with the session's overrides},
 *    "input": IN, "output": OUT, "task": "classification"|"regression",
 *    "lo": LO, "hi": HI, "train_n": N, "test_n": M, "epochs": [{...}],
 *    "steps": S (mini-batches trained), "commit": {"replicas": R,
 *    "epochs": E, "seconds": S}}
 *
 * and its sections: train.x, train.y (N rows, normalised by the
 * submitter), test.x, test.y (M rows, when M > 0), val.x, val.y (the
 * validation rows, when "val_n" is above 0), and once training has
 * begun, params (the network's floats) and trainer (nn_trainer_save). A
 * step trains mini-batches for about STEP_MS, so the agent can be packed,
 * moved or suspended at any time and carry on bitwise where it stopped.
 *
 * With R > 0 it commits its state (agent_commit) to R other hosts every E
 * epochs and at least every S seconds (E or S 0: not by that measure), so
 * that its owner can resume it there if its host dies (docs/elastic.md).
 *
 * Each finished epoch goes to the owner as a "metrics" event, and every
 * half second, and once at the end, a progress status {"session",
 * "epoch", "done", "total", "loss", "step", "samples_per_s"}; the result
 * (agent_result) is an encoded state of {"session", "epochs", "final"} and
 * the section params, from which the submitter writes the model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "agentd/agent.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "dist/session.h"
#include "nn/blas.h"
#include "nn/config.h"
#include "nn/metrics.h"
#include "nn/prepare.h"
#include "nn/train.h"

#define STEP_MS		50

struct session {
	int			 index;
	json_t			*root;		/* the session's net.json */
	struct nn_config	*cfg;
	struct nn_data		*train;
	struct nn_data		*test;
	struct nn_data		*val;		/* validation rows, or NULL */
	struct nn_net		*net;
	struct nn_trainer	*tr;
	json_t			*epochs;	/* metrics of each epoch */
	double			 last_progress;	/* since unpack: rates */
	int			 progressed;	/* a first report was made here */
	double			 rate;		/* samples/s, as last reported */
	long long		 steps;		/* mini-batches trained, carried
						 * across moves and commits */
	long long		 steps_since;
	long long		 commit_replicas;
	long long		 commit_epochs;
	long long		 commit_seconds;
	double			 last_commit;	/* nn_clock_s */
	/* The trainer's state as last packed: one buffer, reused, so that a
	 * commit writes warm memory (agent_state_add_ref: the runtime has
	 * read it before the next pack). */
	void			*packed;
	size_t			 packed_cap;
};

static void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	free(s->packed);
	nn_trainer_free(s->tr);
	nn_net_free(s->net);
	nn_data_free(s->train);
	nn_data_free(s->test);
	nn_data_free(s->val);
	nn_config_free(s->cfg);
	json_decref(s->root);
	json_decref(s->epochs);
	free(s);
}

static int
session_start(struct agent *a, const char *args)
{
	(void)args;
	agent_log(a, AGENT_LOG_ERROR, "session: an agent of nnsim submit; "
	    "it starts from the state the submitter ships, not from args");
	return -1;
}

static int
session_unpack(struct agent *a, const struct agent_state *st)
{
	struct session *s = xcalloc(1, sizeof *s);
	const unsigned char *blob;
	json_error_t jerr;
	json_t *o = NULL, *c;
	long long idx, in, out, ntrain, ntest, nval = 0;
	size_t nparams, len;
	char *cause = NULL;
	float *params;

	o = json_loads(agent_state_json(st) != NULL ? agent_state_json(st) :
	    "", 0, &jerr);
	if (!json_is_object(o)) {
		agent_log(a, AGENT_LOG_ERROR, "session: state: bad JSON: %s",
		    jerr.text);
		goto fail;
	}
	if (nn_session_int(o, "session", 0, 1 << 20, &idx, &cause) != 0 ||
	    nn_session_int(o, "input", 1, NN_MAX_UNITS, &in, &cause) != 0 ||
	    nn_session_int(o, "output", 1, NN_MAX_UNITS, &out, &cause) != 0 ||
	    nn_session_int(o, "train_n", 1, (long long)NN_MAX_ROWS, &ntrain,
	    &cause) != 0 ||
	    nn_session_int(o, "test_n", 0, (long long)NN_MAX_ROWS, &ntest,
	    &cause) != 0 || (json_object_get(o, "val_n") != NULL &&
	    nn_session_int(o, "val_n", 0, (long long)NN_MAX_ROWS, &nval,
	    &cause) != 0)) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	s->index = (int)idx;
	/* Absent in a state from before steps were packed: from zero. */
	if (json_object_get(o, "steps") != NULL && nn_session_int(o, "steps",
	    0, 1LL << 50, &s->steps, &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session: state: %s", cause);
		goto fail;
	}
	if (json_is_object(c = json_object_get(o, "commit")) &&
	    (nn_session_int(c, "replicas", 0, 8, &s->commit_replicas,
	    &cause) != 0 || nn_session_int(c, "epochs", 0, 100000,
	    &s->commit_epochs, &cause) != 0 || nn_session_int(c, "seconds", 0,
	    86400, &s->commit_seconds, &cause) != 0)) {
		agent_log(a, AGENT_LOG_ERROR, "session: state: commit: %s",
		    cause);
		goto fail;
	}
	s->last_commit = nn_clock_s();
	s->last_progress = s->last_commit;
	s->root = json_incref(json_object_get(o, "config"));
	if ((s->cfg = nn_config_parse_shipped(s->root, "net.json", &cause)) ==
	    NULL) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	if ((s->train = nn_session_data(a, st, o, "train", (size_t)ntrain,
	    (int)in, (int)out, &cause)) == NULL || (ntest > 0 &&
	    (s->test = nn_session_data(a, st, o, "test", (size_t)ntest, (int)in,
	    (int)out, &cause)) == NULL) || (nval > 0 &&
	    (s->val = nn_session_data(a, st, o, "val", (size_t)nval, (int)in,
	    (int)out, &cause)) == NULL)) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	if (nn_config_fit_data(s->cfg, s->train, &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	/* Rows from the data cache were never seen by the submitter: the
	 * pairing of loss and targets is checked here, once, at the start. */
	if (agent_state_get(st, "params", &len) == NULL &&
	    s->train->cache_set != NULL && nn_prepare_check_targets(s->cfg,
	    s->train, "data.train", &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session %d: %s", s->index, cause);
		goto fail;
	}
	/* One thread: the scheduler gives each agent a core. */
	if (nn_blas_init(1, &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	s->net = nn_net_new(&s->cfg->arch, nn_prepare_max_batch(s->cfg));
	s->epochs = json_is_array(json_object_get(o, "epochs")) ?
	    json_incref(json_object_get(o, "epochs")) : json_array();
	params = nn_net_params(s->net, &nparams);
	if (agent_state_get(st, "params", &len) == NULL)
		nn_net_init(s->net, s->cfg->train.seed);
	else if (nn_session_floats(st, "params", params, nparams,
	    &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	s->tr = nn_trainer_new(s->net, &s->cfg->train, s->train, s->test);
	nn_trainer_set_validation(s->tr, s->val);
	if ((blob = agent_state_get(st, "trainer", &len)) != NULL &&
	    nn_trainer_restore(s->tr, blob, len, &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "session: %s", cause);
		goto fail;
	}
	json_decref(o);
	agent_set_data(a, s);
	return 0;
fail:
	free(cause);
	json_decref(o);
	session_free(s);
	return -1;
}

static int
session_pack(struct agent *a, struct agent_state *st)
{
	struct session *s = agent_data(a);
	size_t len, nparams;
	const float *params;
	json_t *extra = json_pack("{s:O, s:I, s:{s:I, s:I, s:I}, s:I}",
	    "epochs", s->epochs, "steps", (json_int_t)s->steps, "commit",
	    "replicas", (json_int_t)s->commit_replicas,
	    "epochs", (json_int_t)s->commit_epochs, "seconds",
	    (json_int_t)s->commit_seconds, "val_n", (json_int_t)(s->val !=
	    NULL ? s->val->n : 0));
	int rc = -1;

	params = nn_net_params(s->net, &nparams);
	len = nn_trainer_save_size(s->tr);
	nn_trainer_save_to(s->tr, xgrow(&s->packed, &s->packed_cap, len));
	if (nn_session_state(st, s->index, s->root, s->train, s->test,
	    extra) == 0 && nn_session_add_val(st, s->val) == 0 &&
	    agent_state_add_ref(st, "params", params, nparams *
	    sizeof (float)) == 0 && agent_state_add_ref(st, "trainer",
	    s->packed, len) == 0)
		rc = 0;
	json_decref(extra);
	return rc;
}

/*
 * The result (nnsim/dist/session.h): the magic, the JSON length as a
 * little-endian u64, the JSON {"session", "epochs", "final"}, then the
 * network's parameters as f32 to the end.
 */
static int
session_finish(struct agent *a, struct session *s)
{
	size_t nparams, len;
	const float *params = nn_net_params(s->net, &nparams);
	unsigned char *buf;
	char *why = NULL;
	json_t *extra = json_object();
	int rc = -1;

	/* Not a failure of the agent: a retry would diverge again, so the
	 * result says why and nnsim submit fails the session for good. */
	if (nn_trainer_diverged(s->tr, &why)) {
		json_object_set_new(extra, "diverged", json_string(why));
		agent_log(a, AGENT_LOG_WARN, "session %d: %s", s->index, why);
	}
	/* The model holds the best epoch's parameters: its figures decide
	 * the sweep's select. */
	if (s->cfg->train.stop.restore_best &&
	    nn_trainer_best_epoch(s->tr) > 0)
		json_object_set_new(extra, "best_epoch",
		    json_integer(nn_trainer_best_epoch(s->tr)));
	if (s->cfg->train.stop.on)
		json_object_set_new(extra, "stopped_early", json_boolean(
		    (long long)json_array_size(s->epochs) <
		    s->cfg->train.epochs && why == NULL));
	free(why);
	buf = nn_session_result_build(s->index, s->epochs, params, nparams,
	    extra, &len);
	json_decref(extra);
	if (buf != NULL)
		rc = agent_result(a, buf, len);
	if (rc != 0)
		agent_log(a, AGENT_LOG_ERROR, "session: cannot build the "
		    "result");
	free(buf);
	return rc;
}

/* One line per epoch in the agent's log, for "logs AGENT". */
static void
session_log_epoch(struct agent *a, const struct session *s,
    const struct nn_epoch_stats *es)
{
	char acc[64] = "", test[64] = "";

	if (es->has_accuracy)
		snprintf(acc, sizeof acc, " accuracy %.4f", es->accuracy);
	if (es->has_test && es->has_accuracy)
		snprintf(test, sizeof test, " test_accuracy %.4f",
		    es->test_accuracy);
	else if (es->has_test)
		snprintf(test, sizeof test, " test_loss %.6f", es->test_loss);
	agent_log(a, AGENT_LOG_INFO, "session %d: epoch %d/%d: loss %.6f%s%s",
	    s->index, es->epoch, s->cfg->train.epochs, es->loss, acc, test);
}

/*
 * Commits when an epoch ends (every commit_epochs of them) or when
 * commit_seconds have passed: the runtime packs us after this step. A
 * refused commit is logged; training goes on.
 */
static void
session_commit(struct agent *a, struct session *s, int epoch_ended)
{
	double t = nn_clock_s();
	int epoch;
	size_t done, total;
	double loss, acc;
	char note[128];
	int r;

	if (s->commit_replicas == 0)
		return;
	nn_trainer_position(s->tr, &epoch, &done, &total, &loss, &acc);
	/* Past the last epoch there is nothing left to save. */
	if (epoch_ended && (long long)json_array_size(s->epochs) >=
	    s->cfg->train.epochs)
		return;
	if (!(epoch_ended && s->commit_epochs > 0 &&
	    (long long)json_array_size(s->epochs) % s->commit_epochs == 0) &&
	    !(s->commit_seconds > 0 && t - s->last_commit >=
	    (double)s->commit_seconds))
		return;
	snprintf(note, sizeof note, "{\"session\":%d,\"epochs_done\":%zu,"
	    "\"batch\":%zu}", s->index, json_array_size(s->epochs),
	    epoch_ended ? (size_t)0 : done);
	/* Too soon for its cost (1): the next epoch's end tries again. */
	if ((r = agent_commit(a, (int)s->commit_replicas, note)) == 0)
		s->last_commit = t;
	else if (r < 0)
		agent_log(a, AGENT_LOG_WARN, "session %d: %s", s->index,
		    agent_last_error(a));
}

/*
 * The live figures for the submitter's table, every half second; the
 * first here at once, its rate over the first step, and the
 * last (final) whatever the time, with the last rate when the remainder
 * is too short to time.
 */
static void
session_progress(struct agent *a, struct session *s, int final)
{
	double t = nn_clock_s(), loss, acc, dt = t - s->last_progress;
	size_t done, total;
	char status[256];
	int epoch;

	if (!final && dt < 0.5 && s->progressed)
		return;
	if (!final || dt >= 0.1 || s->rate == 0)
		s->rate = dt > 0 ? (double)s->steps_since *
		    s->cfg->train.batch / dt : 0;
	s->progressed = 1;
	nn_trainer_position(s->tr, &epoch, &done, &total, &loss, &acc);
	/* Past the end the position is the next epoch's, empty: the last
	 * epoch's figures. */
	if (final && json_array_size(s->epochs) > 0) {
		epoch = (int)json_array_size(s->epochs);
		done = total;
		loss = json_number_value(json_object_get(json_array_get(
		    s->epochs, json_array_size(s->epochs) - 1), "loss"));
	}
	snprintf(status, sizeof status, "{\"session\":%d,\"epoch\":%d,"
	    "\"done\":%zu,\"total\":%zu,\"loss\":%.6g,\"step\":%lld,"
	    "\"samples_per_s\":%.1f}", s->index, epoch, done, total,
	    isfinite(loss) ? loss : -1.0, s->steps, s->rate);
	s->last_progress = t;
	s->steps_since = 0;
	agent_progress(a, final ? 1.0 : ((epoch - 1) + (total > 0 ?
	    (double)done / (double)total : 0)) / s->cfg->train.epochs,
	    status);
}

static int
session_step(struct agent *a)
{
	struct session *s = agent_data(a);
	struct nn_epoch_stats es;
	double start = nn_clock_s();
	char *text;
	json_t *o;
	int r = 0;

	/* The first report's rate is timed from here: not over the unpack,
	 * nor over a wait for a core. */
	if (!s->progressed && s->steps_since == 0)
		s->last_progress = start;
	while (nn_clock_s() - start < STEP_MS / 1000.0) {
		if ((r = nn_trainer_step(s->tr, &es)) < 0) {
			/* The table's done row shows the last step. */
			session_progress(a, s, 1);
			return session_finish(a, s) == 0 ? AGENT_DONE :
			    AGENT_FAILED;
		}
		s->steps++;
		s->steps_since++;
		if (r == 1) {
			o = nn_metrics_epoch_json(&es);
			json_object_set_new(o, "session",
			    json_integer(s->index));
			json_array_append(s->epochs, o);
			text = json_dumps(o, JSON_COMPACT);
			json_decref(o);
			if (text != NULL)
				agent_metrics(a, text);
			free(text);
			session_log_epoch(a, s, &es);
			if (!isfinite(es.loss)) {
				agent_log(a, AGENT_LOG_ERROR, "session %d: "
				    "loss is %g in epoch %d: training "
				    "diverged", s->index, es.loss, es.epoch);
				return AGENT_FAILED;
			}
			break;
		}
	}
	session_commit(a, s, r == 1);
	session_progress(a, s, 0);
	return AGENT_CONTINUE;
}

static void
session_message(struct agent *a, const char *from, const void *data,
    size_t len)
{
	(void)data;
	agent_log(a, AGENT_LOG_WARN, "session: ignored a %zu-byte message "
	    "from %s", len, from);
}

static void
session_stop(struct agent *a)
{
	session_free(agent_data(a));
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "session",
	.abi = AGENT_ABI,
	.start = session_start,
	.step = session_step,
	.pack = session_pack,
	.unpack = session_unpack,
	.message = session_message,
	.stop = session_stop,
};
