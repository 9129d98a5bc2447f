/*
 * The end of nnsim submit: the best session's model (or the data job's),
 * a metrics line per agent and the "done" line, and one line for people.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/crypto.h"
#include "cli/cmd.h"
#include "cli/submit-internal.h"

/* The best session: by score, the lowest index on ties. */
static int
submit_best(struct submit *sb)
{
	int i, best = -1;

	for (i = 0; i < sb->n; i++) {
		if (sb->s[i].state != S_DONE || isnan(sb->s[i].score))
			continue;
		if (best < 0 || (sb->job.maximize ? sb->s[i].score >
		    sb->s[best].score : sb->s[i].score < sb->s[best].score))
			best = i;
	}
	return best;
}

static int
submit_write_model(struct submit *sb, int best, const char *output,
    char **cause)
{
	struct nn_config *cfg = NULL;
	struct nn_model *model = NULL;
	struct nn_net *net;
	size_t n;
	json_t *figures;
	int rc = -1;

	if ((cfg = nn_config_parse(sb->job.roots[best], sb->cfg->path, sb->cfg->dir,
	    cause)) == NULL || nn_config_fit_data(cfg, sb->prep.train,
	    cause) != 0)
		goto out;
	net = nn_net_new(&cfg->arch, nn_prepare_max_batch(cfg));
	memcpy(nn_net_params(net, &n), sb->s[best].params,
	    submit_nparams(sb, best) * sizeof (float));
	figures = cmd_model_figures(json_object_get(sb->s[best].result,
	    "final"));
	if (sb->data)
		json_object_set_new(figures, "partitions",
		    json_integer(sb->n));
	else
		json_object_set_new(figures, "session", json_integer(best));
	model = nn_prepare_model(cfg, &sb->prep, net, figures);
	json_decref(figures);
	/* A set's rows were read when it was put: how is in its manifest. */
	if (cfg->train_src.format == NN_FORMAT_CACHE &&
	    json_is_object(json_object_get(sb->set_manifest, "source"))) {
		json_decref(model->layout);
		model->layout = json_deep_copy(json_object_get(
		    sb->set_manifest, "source"));
	}
	rc = nn_model_save(model, output, cause);
out:
	nn_model_free(model);
	nn_config_free(cfg);
	return rc;
}

/* The metrics line of agent i at the end (new reference). */
static json_t *
submit_agent_line(struct submit *sb, int i, int best)
{
	char sha[65];

	if (sb->data)
		return json_pack("{s:s, s:i, s:s, s:s}", "event", "partition",
		    "partition", i, "agent", sb->s[i].agent, "host",
		    sb->s[i].host);
	if (sb->s[i].state == S_FAILED)
		return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i}", "event",
		    "session", "session", i, "label", sb->job.labels[i],
		    "agent", sb->s[i].agent, "host", sb->s[i].host, "failed",
		    sb->s[i].reason, "retries", sb->s[i].retries);
	/* The weights' digest: runs compare bitwise without the model. */
	crypto_sha256_hex(sb->s[i].params, submit_nparams(sb, i) *
	    sizeof (float), sha);
	return json_pack("{s:s, s:i, s:s, s:s, s:s, s:O, s:b, s:i, s:s, s:I, "
	    "s:i, s:I, s:i, s:I}", "event", "session", "session", i, "label",
	    sb->job.labels[i], "agent", sb->s[i].agent, "host", sb->s[i].host,
	    "final", json_object_get(sb->s[i].result, "final"), "best",
	    i == best, "retries", sb->s[i].retries, "params_sha256", sha,
	    "params", (json_int_t)submit_nparams(sb, i),
	    "commits", sb->s[i].commits, "commit_ms",
	    (json_int_t)sb->s[i].commit_ms, "commits_full",
	    sb->s[i].commits_full, "commit_full_ms",
	    (json_int_t)sb->s[i].commit_full_ms);
}

/*
 * The "done" line's final figures, the keys nnsim train's has (docs/
 * metrics.md), from the last epoch of the result: "epochs", its loss,
 * accuracy, test_loss and test_accuracy, "samples_per_sec" over the whole
 * run and its "elapsed_s", and "model". New reference.
 */
static json_t *
submit_done_figures(struct submit *sb, json_t *final, const char *output)
{
	static const char *same[] = { "best_epoch", "val_loss",
	    "val_accuracy", "loss", "accuracy", "test_loss", "test_accuracy" };
	json_t *o = json_object(), *v;
	double elapsed = json_number_value(json_object_get(final,
	    "elapsed_s"));
	json_int_t epochs = json_integer_value(json_object_get(final,
	    "epoch"));
	size_t i;

	json_object_set_new(o, "event", json_string("done"));
	json_object_set_new(o, "epochs", json_integer(epochs));
	for (i = 0; i < sizeof same / sizeof same[0]; i++)
		if ((v = json_object_get(final, same[i])) != NULL)
			json_object_set(o, same[i], v);
	json_object_set_new(o, "samples_per_sec", json_real(elapsed > 0 ?
	    (double)sb->prep.train->n * (double)epochs / elapsed : 0));
	json_object_set_new(o, "elapsed_s", json_real(elapsed));
	json_object_set_new(o, "model", json_string(output));
	return o;
}

/*
 * The metrics' "done" line (new reference): the final figures of the
 * model written (the best session's, or the data job's), then what the
 * job adds.
 */
static json_t *
submit_done_line(struct submit *sb, int best, const char *output)
{
	char sha[65];
	json_t *o;

	if (sb->data) {
		o = submit_done_figures(sb, json_object_get(sb->s[0].result,
		    "final"), output);
		crypto_sha256_hex(sb->s[0].params, submit_nparams(sb, 0) *
		    sizeof (float),
		    sha);
		json_object_update_new(o, json_pack("{s:i, s:b, s:s, s:I}",
		    "partitions", sb->n, "deterministic",
		    sb->job.deterministic, "params_sha256", sha,
		    "data_bytes_sent", (json_int_t)sb->data_sent));
		return o;
	}
	o = submit_done_figures(sb, json_object_get(sb->s[best].result,
	    "final"), output);
	crypto_sha256_hex(sb->s[best].params, submit_nparams(sb, best) *
	    sizeof (float), sha);
	json_object_update_new(o, json_pack("{s:i, s:i, s:i, s:s, s:f, s:s, "
	    "s:s, s:I}", "sessions", sb->n, "failed", sb->failures, "best",
	    best, "select", sb->job.select, "score", sb->s[best].score,
	    "label", sb->job.labels[best], "params_sha256", sha,
	    "data_bytes_sent", (json_int_t)sb->data_sent));
	return o;
}

int
submit_report(struct submit *sb, const char *output, char **cause)
{
	json_t *line;
	int best, i, rc;

	if ((best = submit_best(sb)) < 0 && sb->failures == sb->n)
		return nn_fail(cause, "every session failed; session 0: %s",
		    sb->s[0].reason);
	if (best < 0)
		return nn_fail(cause, "no session produced a usable %s",
		    sb->job.select);
	if (submit_write_model(sb, best, output, cause) != 0)
		return -1;
	for (i = 0; i < sb->n; i++) {
		line = submit_agent_line(sb, i, best);
		rc = nn_metrics_write(sb->metrics, line, cause);
		json_decref(line);
		if (rc != 0)
			return -1;
	}
	line = submit_done_line(sb, best, output);
	rc = cmd_metrics_done(&sb->metrics, line, cause);
	json_decref(line);
	if (rc != 0)
		return -1;
	if (!sb->quiet && sb->data)
		printf("done: %d partitions, %s %.6g, model %s\n", sb->n,
		    sb->job.select, sb->s[0].score, output);
	else if (!sb->quiet)
		printf("best: session %d (%s), %s %.6g, model %s\n", best,
		    sb->job.labels[best], sb->job.select, sb->s[best].score,
		    output);
	for (i = 0; !sb->quiet && i < sb->n; i++)
		if (sb->s[i].state == S_FAILED)
			printf("failed: session %d (%s): %s\n", i,
			    sb->job.labels[i], sb->s[i].reason);
	return 0;
}
