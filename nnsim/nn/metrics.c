/* JSON-lines metrics, flushed per line so a follower sees each epoch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "nn/metrics.h"

struct nn_metrics {
	FILE	*f;
	char	*path;
};

struct nn_metrics *
nn_metrics_open(const char *path, char **cause)
{
	struct nn_metrics *m;
	FILE *f;

	if ((f = fopen(path, "w")) == NULL) {
		nn_fail(cause, "%s: cannot open for writing: %s", path,
		    strerror(errno));
		return NULL;
	}
	m = xcalloc(1, sizeof *m);
	m->f = f;
	m->path = xstrdup(path);
	return m;
}

int
nn_metrics_close(struct nn_metrics *m, char **cause)
{
	int rc = 0;

	if (m == NULL)
		return 0;
	if (fclose(m->f) != 0)
		rc = nn_fail(cause, "%s: %s", m->path, strerror(errno));
	free(m->path);
	free(m);
	return rc;
}

json_t *
nn_metrics_epoch_json(const struct nn_epoch_stats *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "epoch", json_integer(st->epoch));
	json_object_set_new(o, "loss", json_real(st->loss));
	if (st->has_accuracy)
		json_object_set_new(o, "accuracy", json_real(st->accuracy));
	if (st->has_test) {
		json_object_set_new(o, "test_loss", json_real(st->test_loss));
		if (st->has_accuracy)
			json_object_set_new(o, "test_accuracy",
			    json_real(st->test_accuracy));
	}
	json_object_set_new(o, "samples_per_sec",
	    json_real(st->samples_per_sec));
	json_object_set_new(o, "elapsed_s", json_real(st->elapsed_s));
	/* rprop has no rate. */
	if (st->lr > 0)
		json_object_set_new(o, "lr", json_real(st->lr));
	return o;
}

int
nn_metrics_write(struct nn_metrics *m, json_t *obj, char **cause)
{
	if (m == NULL)
		return 0;
	if (json_dumpf(obj, m->f, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(10)) != 0 || fputc('\n', m->f) == EOF ||
	    fflush(m->f) != 0)
		return nn_fail(cause, "%s: write failed: %s", m->path,
		    strerror(errno));
	return 0;
}
