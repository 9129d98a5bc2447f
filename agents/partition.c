/*
 * The training-data agent: one partition of a data-parallel job (nnsim
 * submit, "parallel": {"mode": "data"}). It holds one shard of the training
 * set and a replica of the network; every step it computes its share of
 * the global batch's gradient, sums it with the other partitions through
 * the ring all-reduce (nnsim/dist/ring.h) and applies the same update as they
 * do. docs/data-parallel.md has the whole protocol.
 *
 * It is spawned from a state, never from args. The state's JSON is that of
 * a session agent (nnsim/dist/session.h) plus
 *
 *   {"rank": R, "size": N, "total": ROWS, "secret": HEX, "deterministic":
 *    B, "encrypt": B (the ring's, as the daemons' frames; absent is true),
 *    "step": S, "members": [ids] (once known), "next": {"ip", "port"}
 *    (the successor's listener, once known), "told_done": B, "next_done":
 *    B, "epochs": [...] (rank 0)}
 *
 * and the sections train.x, train.y (its shard), test.x, test.y (rank 0
 * only), and once training has begun params, trainer (nn_trainer_save) and
 * ring (nn_ring_save). With "adopt": true the params and trainer are
 * another partition's (a partition rebuilt after its host died,
 * nn_trainer_adopt), and there is no ring section. Messages are JSON:
 * {"members": [ids]} from the submitter, again with a new id when a lost
 * partition was rebuilt; {"commit": true} from the submitter, which then
 * commits this partition's weights and trainer (agent_commit_changing:
 * not its shard, which the rebuilt one brings) for a rebuild (both with
 * "version" and "mac", nn_ring_control_mac, and "control" in the state is
 * the last version taken);
 * {"endpoint": IP, "port": P} from the successor whenever it listens
 * somewhere new; {"done": true} from the successor when it has every sum
 * it needs, after which this partition may leave.
 *
 * A state is always the start of a step: a partition moved in the middle
 * of an all-reduce redoes its share and the ring resends what it lost.
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
#include "base/crypto.h"
#include "dist/ring.h"
#include "dist/session.h"
#include "nn/blas.h"
#include "nn/config.h"
#include "nn/metrics.h"
#include "nn/prepare.h"
#include "nn/train.h"

#define POLL_MS		20
#define PROGRESS_S	0.5
/* Layers are summed in buckets of at least this many floats (1 MiB), the
 * last layers first, as the backward pass finishes them. */
#define BUCKET_MIN	262144

enum part_phase { P_COMPUTE, P_REDUCE, P_LEAVE };

struct part {
	int			 rank, size;
	size_t			 total;
	unsigned char		 secret[NN_RING_SECRET];
	int			 deterministic;
	int			 encrypt;	/* the ring enciphers */
	uint64_t		 step;
	json_t			*root;
	json_t			*members;	/* ids by rank, or NULL */
	char			 next_ip[64];
	int			 next_port;
	char			 early_from[96];	/* an address that */
	char			 early_ip[64];	/* came before members */
	int			 early_port;
	int			 listening;
	char			 listen_ip[80];	/* where, for a new */
	int			 listen_port;	/* predecessor */
	int			 want_commit;	/* the submitter asked */
	long long		 control;	/* its last order's version */
	int			 adopted;	/* rebuilt, no step done yet */
	int			 told_done;	/* the predecessor knows */
	int			 next_done;	/* the successor has it all */
	enum part_phase		 phase;
	struct nn_config	*cfg;
	struct nn_data		*train;
	struct nn_data		*test;
	struct nn_data		*val;	/* rank 0: validation rows */
	struct nn_net		*net;
	struct nn_trainer	*tr;
	struct nn_ring		*ring;
	float			 sums[2];	/* step's loss and correct */
	int			 sums_sent;	/* part_ready has them */
	size_t			 nparams;
	json_t			*epochs;
	double			 last_progress;
	int			 progressed;	/* a first report was made here */
	uint64_t		 rows_since;
	double			 loss_since;
	double			 last_loss;	/* as last reported */
	double			 rate;		/* samples/s, as last reported */
	/* The trainer's and the ring's states as last packed: reused, so a
	 * move or commit writes warm memory (agent_state_add_ref: the
	 * runtime has read them before the next pack). */
	void			*packed_tr, *packed_ring;
	size_t			 packed_tr_cap, packed_ring_cap;
};

/*
 * The ring's buckets: whole layers from the last one back, each bucket at
 * least BUCKET_MIN floats where the layers allow; the step's two figures
 * go with the last layer.
 */
static int
part_buckets(struct part *p, char **cause)
{
	size_t lo[NN_RING_MAX_BUCKETS], len[NN_RING_MAX_BUCKETS];
	size_t end = p->nparams + 2, w, b;
	int l, nb = 0;

	for (l = p->cfg->arch.nlayers - 1; l >= 0; l--) {
		nn_net_layer_offsets(p->net, l, &w, &b);
		if (l > 0 && (end - w < BUCKET_MIN ||
		    nb == NN_RING_MAX_BUCKETS - 1))
			continue;
		lo[nb] = w;
		len[nb++] = end - w;
		end = w;
	}
	return nn_ring_set_buckets(p->ring, lo, len, nb, cause);
}

/*
 * Between two products of the backward pass: gradients from.. (and the
 * step's figures) are final, and what can move goes now. The kernel's
 * socket buffers carry it on, and bring the peers' messages, while the
 * next product is computed.
 */
static void
part_ready(void *arg, size_t from, const double sums[2])
{
	struct part *p = arg;
	char *cause = NULL;

	/* Written once: after that the ring may be adding into them. */
	if (!p->sums_sent) {
		p->sums[0] = (float)sums[0];
		p->sums[1] = (float)sums[1];
		p->sums_sent = 1;
	}
	nn_ring_ready(p->ring, from);
	/* Without waiting: an error shows again in P_REDUCE. */
	if (nn_ring_progress(p->ring, 0, &cause) < 0)
		free(cause);
}

static void
part_free(struct part *p)
{
	if (p == NULL)
		return;
	free(p->packed_tr);
	free(p->packed_ring);
	nn_ring_free(p->ring);
	nn_trainer_free(p->tr);
	nn_net_free(p->net);
	nn_data_free(p->train);
	nn_data_free(p->test);
	nn_data_free(p->val);
	nn_config_free(p->cfg);
	json_decref(p->root);
	json_decref(p->members);
	json_decref(p->epochs);
	free(p);
}

/* The members list: size distinct non-empty strings. */
static int
part_members_ok(const struct part *p, json_t *m)
{
	json_t *v, *w;
	size_t i, j;

	if (!json_is_array(m) || json_array_size(m) != (size_t)p->size)
		return 0;
	json_array_foreach(m, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= 96)
			return 0;
		for (j = 0; j < i; j++) {
			w = json_array_get(m, j);
			if (strcmp(json_string_value(v),
			    json_string_value(w)) == 0)
				return 0;
		}
	}
	return 1;
}

/*
 * An order of the submitter: a newer version than the last, with a MAC of
 * it and what under the job's secret (nn_ring_control_mac). 1 if so.
 */
static int
part_control_ok(struct part *p, const char *from, json_t *o,
    const char *what)
{
	json_t *v = json_object_get(o, "version");
	const char *mac = json_string_value(json_object_get(o, "mac"));
	char want[NN_RING_MAC_HEX];

	if (strncmp(from, "client:", 7) != 0 || !json_is_integer(v) ||
	    json_integer_value(v) <= p->control || mac == NULL ||
	    strlen(mac) != NN_RING_MAC_HEX - 1)
		return 0;
	nn_ring_control_mac(p->secret, json_integer_value(v), what, want);
	if (crypto_equal(want, mac, NN_RING_MAC_HEX - 1) == 0)
		return 0;
	p->control = json_integer_value(v);
	return 1;
}

/* Only the successor speaks about the ring: its address, its end. */
static int
part_from_next(const struct part *p, const char *from)
{
	return p->members != NULL && from != NULL &&
	    strcmp(json_string_value(json_array_get(p->members,
	    (size_t)((p->rank + 1) % p->size))), from) == 0;
}

static int
part_start(struct agent *a, const char *args)
{
	(void)args;
	agent_log(a, AGENT_LOG_ERROR, "partition: an agent of nnsim submit; "
	    "it starts from the state the submitter ships, not from args");
	return -1;
}

static int
part_unpack(struct agent *a, const struct agent_state *st)
{
	struct part *p = xcalloc(1, sizeof *p);
	const unsigned char *blob;
	json_error_t jerr;
	json_t *o = NULL, *v;
	long long rank, size, total, step, in, out, ntrain, ntest, nval;
	size_t len;
	char *cause = NULL;
	int threads = 1;
	struct agent_host_info hi;

	o = json_loads(agent_state_json(st) != NULL ? agent_state_json(st) :
	    "", 0, &jerr);
	if (!json_is_object(o)) {
		agent_log(a, AGENT_LOG_ERROR, "partition: state: bad JSON: %s",
		    jerr.text);
		goto fail;
	}
	if (nn_session_int(o, "rank", 0, NN_RING_MAX - 1, &rank,
	    &cause) != 0 ||
	    nn_session_int(o, "size", 1, NN_RING_MAX, &size, &cause) != 0 ||
	    nn_session_int(o, "total", 1, (long long)NN_MAX_ROWS, &total,
	    &cause) != 0 ||
	    nn_session_int(o, "step", 0, 1LL << 50, &step, &cause) != 0 ||
	    nn_session_int(o, "input", 1, NN_MAX_UNITS, &in, &cause) != 0 ||
	    nn_session_int(o, "output", 1, NN_MAX_UNITS, &out, &cause) != 0 ||
	    nn_session_int(o, "train_n", 0, (long long)NN_MAX_ROWS, &ntrain,
	    &cause) != 0 ||
	    nn_session_int(o, "test_n", 0, (long long)NN_MAX_ROWS, &ntest,
	    &cause) != 0)
		goto fail_cause;
	if (rank >= size || nn_ring_secret_parse(json_string_value(
	    json_object_get(o, "secret")), p->secret) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "partition: state: \"rank\" "
		    "below \"size\" and a 64-digit \"secret\" expected");
		goto fail;
	}
	p->rank = (int)rank;
	p->size = (int)size;
	p->total = (size_t)total;
	p->step = (uint64_t)step;
	p->deterministic = json_is_true(json_object_get(o, "deterministic"));
	p->encrypt = !json_is_false(json_object_get(o, "encrypt"));
	p->told_done = json_is_true(json_object_get(o, "told_done"));
	p->control = json_integer_value(json_object_get(o, "control"));
	p->next_done = json_is_true(json_object_get(o, "next_done"));
	if ((v = json_object_get(o, "members")) != NULL) {
		if (!part_members_ok(p, v)) {
			agent_log(a, AGENT_LOG_ERROR, "partition: state: "
			    "\"members\": expected %d agent ids", p->size);
			goto fail;
		}
		p->members = json_incref(v);
	}
	v = json_object_get(o, "next");
	if (json_is_string(json_object_get(v, "ip")) &&
	    json_is_integer(json_object_get(v, "port"))) {
		snprintf(p->next_ip, sizeof p->next_ip, "%s",
		    json_string_value(json_object_get(v, "ip")));
		p->next_port = (int)json_integer_value(json_object_get(v,
		    "port"));
	}
	p->root = json_incref(json_object_get(o, "config"));
	if ((p->cfg = nn_config_parse_shipped(p->root, "net.json", &cause)) ==
	    NULL)
		goto fail_cause;
	if ((p->train = nn_session_data(a, st, o, "train", (size_t)ntrain,
	    (int)in, (int)out, &cause)) == NULL)
		goto fail_cause;
	if (ntest > 0 && (p->test = nn_session_data(a, st, o, "test",
	    (size_t)ntest, (int)in, (int)out, &cause)) == NULL)
		goto fail_cause;
	/* Rank 0 evaluates, so it alone holds validation rows. */
	nval = 0;
	if (json_object_get(o, "val_n") != NULL && nn_session_int(o, "val_n",
	    0, (long long)NN_MAX_ROWS, &nval, &cause) != 0)
		goto fail_cause;
	if (nval > 0 && (p->val = nn_session_data(a, st, o, "val",
	    (size_t)nval, (int)in, (int)out, &cause)) == NULL)
		goto fail_cause;
	if (nn_config_fit_data(p->cfg, p->train, &cause) != 0)
		goto fail_cause;
	if (p->cfg->train.shards != p->size) {
		agent_log(a, AGENT_LOG_ERROR, "partition: state: the config "
		    "has %d partitions, the ring %d", p->cfg->train.shards,
		    p->size);
		goto fail;
	}
	/* Deterministic: one BLAS thread, whatever the host. Otherwise the
	 * host's cores are shared among its agents. */
	if (!p->deterministic && agent_host_info(a, &hi) == 0 &&
	    hi.agents > 0 && hi.cores / hi.agents > 1)
		threads = hi.cores / hi.agents;
	if (nn_blas_init(threads, &cause) != 0)
		goto fail_cause;
	p->net = nn_net_new(&p->cfg->arch, nn_prepare_max_batch(p->cfg));
	nn_net_params(p->net, &p->nparams);
	p->epochs = json_is_array(json_object_get(o, "epochs")) ?
	    json_incref(json_object_get(o, "epochs")) : json_array();
	/* Every partition starts from the same weights: the same seed. */
	if (agent_state_get(st, "params", &len) == NULL)
		nn_net_init(p->net, p->cfg->train.seed);
	else if (nn_session_floats(st, "params", nn_net_params(p->net, NULL),
	    p->nparams, &cause) != 0)
		goto fail_cause;
	p->tr = nn_trainer_new_part(p->net, &p->cfg->train, p->train,
	    p->test, p->rank, p->total);
	nn_trainer_set_validation(p->tr, p->val);
	/* Rebuilt: a peer's position and optimizer, our own shard's order. */
	p->adopted = json_is_true(json_object_get(o, "adopt"));
	if ((blob = agent_state_get(st, "trainer", &len)) != NULL &&
	    (json_is_true(json_object_get(o, "adopt")) ?
	    nn_trainer_adopt(p->tr, blob, len, &cause) :
	    nn_trainer_restore(p->tr, blob, len, &cause)) != 0)
		goto fail_cause;
	p->ring = nn_ring_new(p->rank, p->size, p->nparams + 2, p->secret);
	nn_ring_set_encrypt(p->ring, p->encrypt);
	if (part_buckets(p, &cause) != 0)
		goto fail_cause;
	nn_trainer_on_ready(p->tr, part_ready, p);
	if ((blob = agent_state_get(st, "ring", &len)) != NULL &&
	    nn_ring_restore(p->ring, blob, len, &cause) != 0)
		goto fail_cause;
	if (p->next_port > 0 && nn_ring_set_next(p->ring, p->next_ip,
	    p->next_port, &cause) != 0)
		goto fail_cause;
	p->phase = P_COMPUTE;
	p->last_progress = nn_clock_s();
	json_decref(o);
	agent_set_data(a, p);
	return 0;
fail_cause:
	agent_log(a, AGENT_LOG_ERROR, "partition: %s", cause);
fail:
	free(cause);
	json_decref(o);
	part_free(p);
	return -1;
}

static int
part_pack(struct agent *a, struct agent_state *st)
{
	struct part *p = agent_data(a);
	size_t tlen = nn_trainer_save_size(p->tr);
	size_t rlen = nn_ring_save_size(p->ring);
	char hex[NN_RING_SECRET_HEX];
	json_t *extra;
	int rc = -1;

	nn_ring_secret_hex(p->secret, hex);
	extra = json_pack("{s:i, s:i, s:I, s:s, s:b, s:I, s:b, s:b, s:O}",
	    "rank", p->rank, "size", p->size, "total", (json_int_t)p->total,
	    "secret", hex, "deterministic", p->deterministic, "step",
	    (json_int_t)p->step, "told_done", p->told_done, "next_done",
	    p->next_done, "epochs", p->epochs);
	json_object_set_new(extra, "control", json_integer(p->control));
	json_object_set_new(extra, "encrypt", json_boolean(p->encrypt));
	if (p->members != NULL)
		json_object_set(extra, "members", p->members);
	if (p->next_port > 0)
		json_object_set_new(extra, "next", json_pack("{s:s, s:i}",
		    "ip", p->next_ip, "port", p->next_port));
	nn_trainer_save_to(p->tr, xgrow(&p->packed_tr, &p->packed_tr_cap,
	    tlen));
	nn_ring_save_to(p->ring, xgrow(&p->packed_ring, &p->packed_ring_cap,
	    rlen));
	if (p->val != NULL)
		json_object_set_new(extra, "val_n",
		    json_integer((json_int_t)p->val->n));
	if (nn_session_state(st, p->rank, p->root, p->train, p->test,
	    extra) == 0 && nn_session_add_val(st, p->val) == 0 &&
	    agent_state_add_ref(st, "params",
	    nn_net_params(p->net, NULL), p->nparams * sizeof (float)) == 0 &&
	    agent_state_add_ref(st, "trainer", p->packed_tr, tlen) == 0 &&
	    agent_state_add_ref(st, "ring", p->packed_ring, rlen) == 0)
		rc = 0;
	json_decref(extra);
	return rc;
}

/* A JSON message to the partition of rank r. */
static void
part_tell(struct agent *a, struct part *p, int r, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);

	if (text != NULL && p->members != NULL)
		agent_send(a, json_string_value(json_array_get(p->members,
		    (size_t)r)), text, strlen(text));
	free(text);
	json_decref(msg);
}

/* Listens on this host and tells the predecessor where. */
static int
part_listen(struct agent *a, struct part *p)
{
	char ip[80], *colon, *cause = NULL;
	int port;

	snprintf(ip, sizeof ip, "%s", agent_host_address(a));
	if ((colon = strrchr(ip, ':')) != NULL)
		*colon = '\0';
	if (ip[0] == '\0' || strcmp(ip, "0.0.0.0") == 0)
		snprintf(ip, sizeof ip, "127.0.0.1");
	if ((port = nn_ring_listen(p->ring, ip, &cause)) < 0) {
		agent_log(a, AGENT_LOG_ERROR, "partition %d: %s", p->rank,
		    cause);
		free(cause);
		return -1;
	}
	snprintf(p->listen_ip, sizeof p->listen_ip, "%s", ip);
	p->listen_port = port;
	part_tell(a, p, (p->rank + p->size - 1) % p->size, json_pack(
	    "{s:s, s:i, s:i}", "endpoint", ip, "port", port, "rank",
	    p->rank));
	p->listening = 1;
	return 0;
}

/*
 * The live figures for the submitter's table: the first step here at
 * once (schedulers and people see the agent train without waiting a
 * period), then every PROGRESS_S, and the last (final) whatever the time,
 * so that a done row shows the last step.
 */
static void
part_progress(struct agent *a, struct part *p, int final)
{
	double t = nn_clock_s(), loss, acc, dt = t - p->last_progress;
	size_t done, total;
	char status[320];
	int epoch;

	if (!final && dt < PROGRESS_S && p->progressed)
		return;
	/* A remainder too short to time keeps the last rate. */
	if (!final || dt >= 0.1 || p->rate == 0)
		p->rate = dt > 0 ? (double)p->rows_since / dt : 0;
	p->progressed = 1;
	nn_trainer_position(p->tr, &epoch, &done, &total, &loss, &acc);
	/* Past the end the position is the next epoch's: the last one. */
	if (final && epoch > p->cfg->train.epochs)
		epoch = p->cfg->train.epochs;
	snprintf(status, sizeof status, "{\"rank\":%d,\"epoch\":%d,"
	    "\"step\":%llu,\"loss\":%.6g,\"samples_per_s\":%.1f}", p->rank,
	    epoch, (unsigned long long)p->step, p->rows_since > 0 ?
	    p->loss_since / (double)p->rows_since : p->last_loss, p->rate);
	if (p->rows_since > 0)
		p->last_loss = p->loss_since / (double)p->rows_since;
	agent_progress(a, final ? 1.0 : ((epoch - 1) + (total > 0 ?
	    (double)done / (double)total : 0)) / p->cfg->train.epochs,
	    status);
	p->last_progress = t;
	p->rows_since = 0;
	p->loss_since = 0;
}

/* An epoch ended: rank 0 reports it for the whole job. */
static int
part_epoch(struct agent *a, struct part *p, const struct nn_epoch_stats *es)
{
	json_t *o;
	char *text;

	if (!isfinite(es->loss)) {
		agent_log(a, AGENT_LOG_ERROR, "partition %d: loss is %g in "
		    "epoch %d: training diverged", p->rank, es->loss,
		    es->epoch);
		return -1;
	}
	o = nn_metrics_epoch_json(es);
	json_object_set_new(o, "partitions", json_integer(p->size));
	/* The others' figures (no test set) stand in for rank 0's when it
	 * was lost before it reported them (docs/elastic.md). */
	if (p->rank != 0)
		json_object_set_new(o, "backup", json_integer(p->rank));
	else
		json_array_append(p->epochs, o);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL)
		agent_metrics(a, text);
	free(text);
	return 0;
}

static int
part_finish(struct agent *a, struct part *p)
{
	json_t *extra = NULL;
	char *why = NULL;
	unsigned char *buf;
	size_t len;
	int rc;

	if (p->rank != 0)
		return AGENT_DONE;
	/* Every partition stopped at the diverged step; rank 0 says why. */
	if (nn_trainer_diverged(p->tr, &why)) {
		extra = json_pack("{s:s}", "diverged", why);
		free(why);
	}
	buf = nn_session_result_build(0, p->epochs, nn_net_params(p->net,
	    NULL), p->nparams, extra, &len);
	json_decref(extra);
	rc = buf != NULL ? agent_result(a, buf, len) : -1;
	free(buf);
	if (rc != 0) {
		agent_log(a, AGENT_LOG_ERROR, "partition: cannot build the "
		    "result");
		return AGENT_FAILED;
	}
	return AGENT_DONE;
}

static int
part_step(struct agent *a)
{
	struct part *p = agent_data(a);
	struct nn_epoch_stats es;
	struct timespec ts = { 0, 5 * 1000000 };
	double sums[2];
	char *cause = NULL, note[96];
	int r;

	/* Its state is whole here, whatever the phase: a rebuild's. */
	if (p->want_commit) {
		snprintf(note, sizeof note, "{\"rank\":%d,\"step\":%llu}",
		    p->rank, (unsigned long long)p->step);
		/* Too soon after the last (1): a later step tries again. */
		if ((r = agent_commit_changing(a, 1, note)) <= 0)
			p->want_commit = 0;
		if (r < 0)
			agent_log(a, AGENT_LOG_WARN, "partition %d: %s",
			    p->rank, agent_last_error(a));
	}
	if (p->members == NULL) {
		nanosleep(&ts, NULL);
		return AGENT_CONTINUE;
	}
	if (!p->listening && part_listen(a, p) != 0)
		return AGENT_FAILED;
	switch (p->phase) {
	case P_COMPUTE:
		if (nn_trainer_done(p->tr)) {
			/* Every sum is here: the predecessor may leave. */
			if (!p->told_done)
				part_tell(a, p, (p->rank + p->size - 1) %
				    p->size, json_pack("{s:b}", "done", 1));
			p->told_done = 1;
			p->phase = P_LEAVE;
			part_progress(a, p, 1);
			return AGENT_CONTINUE;
		}
		/* The sum lands in the net's own gradient; the last
		 * layers' buckets start while the first are computed
		 * (part_ready). */
		nn_ring_begin(p->ring, p->step, nn_net_grads(p->net, NULL),
		    p->nparams, p->sums);
		p->sums_sent = 0;
		r = nn_trainer_part_grad(p->tr, sums);
		p->rows_since += (uint64_t)r;
		p->loss_since += sums[0];
		/* All final (no rows, or rprop: no call came yet). */
		part_ready(p, 0, sums);
		p->phase = P_REDUCE;
		/* FALLTHROUGH */
	case P_REDUCE:
		if ((r = nn_ring_progress(p->ring, POLL_MS, &cause)) < 0)
			goto fail;
		if (r == 0) {
			part_progress(a, p, 0);
			return AGENT_CONTINUE;
		}
		sums[0] = p->sums[0];
		sums[1] = p->sums[1];
		r = nn_trainer_part_apply(p->tr, sums, &es);
		/* Rebuilt, and the ring whole again: the owner times the
		 * stall to here. */
		if (p->adopted) {
			p->adopted = 0;
			snprintf(note, sizeof note, "{\"rebuilt_step_done\":"
			    "%llu}", (unsigned long long)p->step);
			agent_metrics(a, note);
		}
		p->step++;
		p->phase = P_COMPUTE;
		if (r == 1 && part_epoch(a, p, &es) != 0)
			return AGENT_FAILED;
		part_progress(a, p, 0);
		return AGENT_CONTINUE;
	case P_LEAVE:
		/* The successor may still need this partition's last
		 * messages, here or resent after a move. */
		if (p->next_done || p->size == 1)
			return part_finish(a, p);
		if (nn_ring_serve(p->ring, POLL_MS, &cause) < 0)
			goto fail;
		return AGENT_CONTINUE;
	}
	return AGENT_CONTINUE;
fail:
	agent_log(a, AGENT_LOG_ERROR, "partition %d: %s", p->rank, cause);
	free(cause);
	return AGENT_FAILED;
}

/* Where the successor listens now. */
static void
part_next(struct agent *a, struct part *p, const char *ip, int port)
{
	char *cause = NULL;

	if (nn_ring_set_next(p->ring, ip, port, &cause) != 0) {
		agent_log(a, AGENT_LOG_WARN, "partition: %s", cause);
		free(cause);
		return;
	}
	snprintf(p->next_ip, sizeof p->next_ip, "%s", ip);
	p->next_port = port;
}

/*
 * The ring's members, first or anew: a rebuilt predecessor learns where we
 * listen, and a rebuilt successor's address may have come first.
 */
static void
part_members(struct agent *a, struct part *p, json_t *v)
{
	size_t prev = (size_t)((p->rank + p->size - 1) % p->size);
	int moved = p->members != NULL && strcmp(json_string_value(
	    json_array_get(p->members, prev)), json_string_value(
	    json_array_get(v, prev))) != 0;

	json_decref(p->members);
	p->members = json_incref(v);
	if (p->early_port > 0 && part_from_next(p, p->early_from))
		part_next(a, p, p->early_ip, p->early_port);
	if (moved && p->listening)
		part_tell(a, p, (int)prev, json_pack("{s:s, s:i, s:i}",
		    "endpoint", p->listen_ip, "port", p->listen_port, "rank",
		    p->rank));
}

static void
part_message(struct agent *a, const char *from, const void *data,
    size_t len)
{
	struct part *p = agent_data(a);
	json_t *o = json_loadb(data, len, 0, NULL), *v;
	char *text;
	int ok;

	if (p == NULL || !json_is_object(o)) {
		agent_log(a, AGENT_LOG_WARN, "partition: a %zu-byte message "
		    "from %s that is not a JSON object", len, from);
		goto out;
	}
	if ((v = json_object_get(o, "members")) != NULL) {
		/* From the submitter: first, then with a rebuilt
		 * partition's new id. */
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		ok = text != NULL && part_control_ok(p, from, o, text);
		free(text);
		if (!ok)
			agent_log(a, AGENT_LOG_WARN, "partition: ignored "
			    "\"members\" from %s", from);
		else if (!part_members_ok(p, v))
			agent_log(a, AGENT_LOG_WARN, "partition: \"members\" "
			    "from %s: expected %d distinct agent ids", from,
			    p->size);
		else
			part_members(a, p, v);
	} else if (json_is_true(json_object_get(o, "commit"))) {
		if (part_control_ok(p, from, o, "commit"))
			p->want_commit = 1;
		else
			agent_log(a, AGENT_LOG_WARN, "partition: ignored "
			    "\"commit\" from %s", from);
	} else if (!part_from_next(p, from) &&
	    strncmp(from, "client:", 7) != 0 &&
	    json_is_string(json_object_get(o, "endpoint")) &&
	    json_is_integer(json_object_get(o, "port"))) {
		/* The successor heard of the ring first (or, rebuilt, before
		 * we heard its new id): keep it. */
		snprintf(p->early_from, sizeof p->early_from, "%s", from);
		snprintf(p->early_ip, sizeof p->early_ip, "%s",
		    json_string_value(json_object_get(o, "endpoint")));
		p->early_port = (int)json_integer_value(json_object_get(o,
		    "port"));
	} else if (!part_from_next(p, from)) {
		agent_log(a, AGENT_LOG_WARN, "partition: ignored a message "
		    "from %s, which is not this partition's successor", from);
	} else if (json_is_string(json_object_get(o, "endpoint")) &&
	    json_is_integer(json_object_get(o, "port"))) {
		part_next(a, p, json_string_value(json_object_get(o,
		    "endpoint")), (int)json_integer_value(json_object_get(o,
		    "port")));
	} else if (json_is_true(json_object_get(o, "done")))
		p->next_done = 1;
	else
		agent_log(a, AGENT_LOG_WARN, "partition: an unknown message "
		    "from %s", from);
out:
	json_decref(o);
}

static void
part_stop(struct agent *a)
{
	part_free(agent_data(a));
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "partition",
	.abi = AGENT_ABI,
	.start = part_start,
	.step = part_step,
	.pack = part_pack,
	.unpack = part_unpack,
	.message = part_message,
	.stop = part_stop,
};
