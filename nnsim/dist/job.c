/* The "parallel" section of net.json (job.h). */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/jsonmsg.h"
#include "base/table.h"
#include "dist/job.h"
#include "nn/config.h"

/* The keys of "parallel". */
static const char *const job_par_keys[] = { "mode", "sessions", "grid",
    "select", "partitions", "deterministic", "retries", "replicas",
    "commit_epochs", "commit_seconds", "limits", NULL };

/* The keys of parallel.limits: each worker's (docs/security.md); the
 * daemons check the ranges against their own. */
static const char *const job_limit_keys[] = { "memory_mib", "files",
    "cpu_seconds", "syscalls", NULL };

/* The integer keys of how agents recover (docs/elastic.md): session mode
 * has them all, data mode retries. */
static const struct job_int_key {
	const char	*name;
	long long	 lo, hi, def;
	size_t		 off;
} job_int_keys[] = {
	{ "retries", 0, NN_JOB_RETRIES_MAX, NN_JOB_RETRIES,
	    offsetof(struct nn_job, retries) },
	{ "replicas", 0, NN_JOB_REPLICAS_MAX, NN_JOB_REPLICAS,
	    offsetof(struct nn_job, replicas) },
	{ "commit_epochs", 0, 100000, NN_JOB_COMMIT_EPOCHS,
	    offsetof(struct nn_job, commit_epochs) },
	{ "commit_seconds", 0, 86400, NN_JOB_COMMIT_SECONDS,
	    offsetof(struct nn_job, commit_seconds) },
};
/* parallel's key k into job, or its default. */
static int
job_int(struct nn_job *job, const struct job_int_key *k, json_t *par,
    const char *path, char **cause)
{
	json_t *v = par != NULL ? json_object_get(par, k->name) : NULL;

	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) <
	    k->lo || json_integer_value(v) > k->hi))
		return nn_fail(cause, "%s: parallel.%s: expected an integer "
		    "from %lld to %lld", path, k->name, k->lo, k->hi);
	*(int *)((char *)job + k->off) = v != NULL ?
	    (int)json_integer_value(v) : (int)k->def;
	return 0;
}

static const struct nn_json_keys job_keys = {
	.allowed = job_par_keys,
	.last_or = 1,
};
static const struct nn_json_keys job_limits_keys = {
	.allowed = job_limit_keys,
	.last_or = 1,
};

/* parallel.limits, passed to every spawn as it is. */
static int
job_limits(struct nn_job *job, json_t *par, const char *path, char **cause)
{
	json_t *l = par != NULL ? json_object_get(par, "limits") : NULL, *v;
	const char *key;
	size_t i;

	if (l == NULL)
		return 0;
	if (!json_is_object(l))
		return nn_fail(cause, "%s: parallel.limits: expected an object, "
		    "got %s", path, nn_json_type(l));
	if (nn_json_check_keys(l, &job_limits_keys, path, "parallel.limits",
	    cause) != 0)
		return -1;
	json_object_foreach(l, key, v) {
		if (strcmp(key, "syscalls") == 0)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return nn_fail(cause, "%s: parallel.limits.%s: expected "
			    "a positive integer", path, key);
	}
	v = json_object_get(l, "syscalls");
	if (v != NULL && !json_is_array(v))
		return nn_fail(cause, "%s: parallel.limits.syscalls: expected "
		    "an array of system call names", path);
	for (i = 0; i < json_array_size(v); i++)
		if (!json_is_string(json_array_get(v, i)))
			return nn_fail(cause, "%s: parallel.limits.syscalls[%zu]: "
			    "expected a name", path, i);
	job->limits = json_incref(l);
	return 0;
}

/* Overrides may not change what every session shares: the data. */
static const char *job_shared[] = { "data", "split", "normalize", "input",
    "parallel", NULL };

int
nn_job_override(json_t *root, const char *dotted, json_t *value,
    char **cause)
{
	char *copy = xstrdup(dotted), *p = copy, *dot;
	json_t *node = root, *next;
	char *end;
	long idx;
	int rc = -1;

	for (;;) {
		dot = strchr(p, '.');
		if (dot != NULL)
			*dot = '\0';
		if (*p == '\0') {
			nn_fail(cause, "\"%s\": empty step in the path", dotted);
			goto out;
		}
		if (json_is_array(node)) {
			idx = strtol(p, &end, 10);
			if (*end != '\0' || idx < 0 ||
			    (size_t)idx >= json_array_size(node)) {
				nn_fail(cause, "\"%s\": \"%s\" is not an index "
				    "of an array of %zu", dotted, p,
				    json_array_size(node));
				goto out;
			}
			if (dot == NULL) {
				json_array_set(node, (size_t)idx, value);
				break;
			}
			node = json_array_get(node, (size_t)idx);
		} else if (json_is_object(node)) {
			if (dot == NULL) {
				json_object_set(node, p, value);
				break;
			}
			if ((next = json_object_get(node, p)) == NULL) {
				next = json_object();
				json_object_set_new(node, p, next);
			}
			node = next;
		} else {
			nn_fail(cause, "\"%s\": \"%s\" is inside a %s, not an "
			    "object", dotted, p, nn_json_type(node));
			goto out;
		}
		p = dot + 1;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* The figures that may pick a session. */
static const char *const job_selects[] = { "test_accuracy", "accuracy",
    "test_loss", "loss", "val_accuracy", "val_loss", NULL };

/* Whether s names one of job_selects. */
static int
job_is_select(const char *s)
{
	size_t i;

	for (i = 0; job_selects[i] != NULL; i++) {
		if (strcmp(s, job_selects[i]) == 0)
			return 1;
	}
	return 0;
}

/* Refuses an override of what sessions share. */
static int
job_check_key(const char *path, const char *where, const char *key,
    char **cause)
{
	size_t i, n;

	for (i = 0; job_shared[i] != NULL; i++) {
		n = strlen(job_shared[i]);
		if (strncmp(key, job_shared[i], n) == 0 &&
		    (key[n] == '\0' || key[n] == '.'))
			return nn_fail(cause, "%s: %s: \"%s\": sessions share "
			    "the data; override train, layers or loss",
			    path, where, key);
	}
	return 0;
}

/* Appends one session: root with the overrides in over applied. */
static int
job_add(struct nn_job *job, json_t *root, json_t *over, const char *path,
    const char *where, char **cause)
{
	json_t *copy = json_deep_copy(root), *v;
	struct nn_config *cfg = NULL;
	char *why = NULL, *label = NULL, *s, *t;
	const char *key;
	int rc = -1;

	json_object_del(copy, "parallel");
	json_object_foreach(over, key, v) {
		if (job_check_key(path, where, key, cause) != 0)
			goto out;
		if (nn_job_override(copy, key, v, &why) != 0) {
			nn_fail(cause, "%s: %s: %s", path, where, why);
			goto out;
		}
		s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
		    JSON_REAL_PRECISION(9));
		t = xasprintf("%s%s%s=%s", label != NULL ? label : "",
		    label != NULL ? " " : "", key, s != NULL ? s : "?");
		free(s);
		free(label);
		label = t;
	}
	if ((cfg = nn_config_parse(copy, path, NULL, &why)) == NULL) {
		nn_fail(cause, "%s (in %s)", why, where);
		goto out;
	}
	if (job->nsessions >= NN_JOB_MAX_SESSIONS) {
		nn_fail(cause, "%s: parallel: more than %d sessions", path,
		    NN_JOB_MAX_SESSIONS);
		goto out;
	}
	job->roots = xreallocarray(job->roots, (size_t)job->nsessions + 1,
	    sizeof *job->roots);
	job->labels = xreallocarray(job->labels, (size_t)job->nsessions + 1,
	    sizeof *job->labels);
	job->roots[job->nsessions] = copy;
	job->labels[job->nsessions] = label != NULL ? label :
	    xstrdup("as written");
	job->nsessions++;
	copy = NULL;
	label = NULL;
	rc = 0;
out:
	nn_config_free(cfg);
	json_decref(copy);
	free(label);
	free(why);
	return rc;
}

/* The grid's cartesian product, the first key varying slowest. */
static int
job_grid(struct nn_job *job, json_t *root, json_t *grid, const char *path,
    char **cause)
{
	size_t nkeys = json_object_size(grid), i, k, total = 1;
	const char **keys = NULL;
	json_t **vals = NULL, *v, *over = NULL;
	const char *key;
	char where[64];
	int rc = -1;

	if (nkeys == 0)
		return nn_fail(cause, "%s: parallel.grid: expected at least "
		    "one key", path);
	keys = xcalloc(nkeys, sizeof *keys);
	vals = xcalloc(nkeys, sizeof *vals);
	k = 0;
	json_object_foreach(grid, key, v) {
		if (!json_is_array(v) || json_array_size(v) == 0) {
			nn_fail(cause, "%s: parallel.grid.%s: expected a "
			    "non-empty array of values, got %s", path, key,
			    nn_json_type(v));
			goto out;
		}
		keys[k] = key;
		vals[k++] = v;
		total *= json_array_size(v);
		if (total > NN_JOB_MAX_SESSIONS) {
			nn_fail(cause, "%s: parallel.grid: more than %d "
			    "sessions", path, NN_JOB_MAX_SESSIONS);
			goto out;
		}
	}
	for (i = 0; i < total; i++) {
		size_t rest = i;

		over = json_object();
		for (k = nkeys; k-- > 0;) {
			size_t n = json_array_size(vals[k]);

			json_object_set(over, keys[k],
			    json_array_get(vals[k], rest % n));
			rest /= n;
		}
		/* Keys in the order written, for the labels. */
		v = json_object();
		for (k = 0; k < nkeys; k++)
			json_object_set(v, keys[k], json_object_get(over,
			    keys[k]));
		json_decref(over);
		over = v;
		snprintf(where, sizeof where, "parallel.grid (session %zu)",
		    i);
		if (job_add(job, root, over, path, where, cause) != 0)
			goto out;
		json_decref(over);
		over = NULL;
	}
	rc = 0;
out:
	json_decref(over);
	free(keys);
	free(vals);
	return rc;
}

/* Whether root holds validation rows: then they pick, not the test set. */
static int
job_has_val(json_t *root)
{
	json_t *data = json_object_get(root, "data");

	return json_object_get(data, "validation") != NULL ||
	    json_object_get(data, "validation_split") != NULL;
}

/* The figure that picks a session when net.json names none. */
static const char *
job_default_select(int has_val, int has_test, int classification)
{
	if (has_val)
		return classification ? "val_accuracy" : "val_loss";
	if (has_test)
		return classification ? "test_accuracy" : "test_loss";
	return classification ? "accuracy" : "loss";
}

/*
 * Data mode: one network trained by partitions, so one document, as
 * written; nn_config_parse reads and checks partitions for the schedule.
 */
static int
job_data(struct nn_job *job, json_t *root, json_t *par, const char *path,
    int has_test, int classification, char **cause)
{
	static const char *const session_keys[] = { "sessions", "grid",
	    "select", NULL };
	struct nn_config *cfg;
	const char *sel;
	json_t *v;
	char *why = NULL;
	int i;

	/* A partition that fails on its own is rebuilt from a live one, up
	 * to retries times; it has no commits of its own. */
	for (i = 0; i < (int)(sizeof job_int_keys / sizeof job_int_keys[0]);
	    i++) {
		if (strcmp(job_int_keys[i].name, "retries") != 0 &&
		    json_object_get(par, job_int_keys[i].name) != NULL)
			return nn_fail(cause, "%s: parallel.%s: not used in "
			    "data mode (a lost partition is rebuilt from a "
			    "live one, not from commits of its own)", path,
			    job_int_keys[i].name);
	}
	if (job_int(job, TABLE_FIND(job_int_keys, "retries"), par, path,
	    cause) != 0)
		return -1;
	for (i = 0; session_keys[i] != NULL; i++) {
		if (json_object_get(par, session_keys[i]) != NULL)
			return nn_fail(cause, "%s: parallel.%s: not used in "
			    "data mode (the partitions train one network)",
			    path, session_keys[i]);
	}
	if ((v = json_object_get(par, "deterministic")) != NULL &&
	    !json_is_boolean(v))
		return nn_fail(cause, "%s: parallel.deterministic: expected "
		    "true or false, got %s", path, nn_json_type(v));
	if ((cfg = nn_config_parse(root, path, NULL, &why)) == NULL) {
		nn_fail(cause, "%s", why);
		free(why);
		return -1;
	}
	job->mode = NN_JOB_DATA;
	job->partitions = cfg->train.shards;
	job->deterministic = v != NULL && json_is_true(v);
	nn_config_free(cfg);
	/* What the one model is judged by, as a session would be. */
	sel = job_default_select(job_has_val(root), has_test, classification);
	job->select = xstrdup(sel);
	job->maximize = strstr(sel, "accuracy") != NULL;
	job->roots = xcalloc(1, sizeof *job->roots);
	job->labels = xcalloc(1, sizeof *job->labels);
	job->roots[0] = json_deep_copy(root);
	job->labels[0] = xstrdup("default");
	job->nsessions = 1;
	return 0;
}

static int
job_parse(json_t *root, const char *path, int has_test,
    int classification, struct nn_job *job, char **cause)
{
	json_t *par = json_object_get(root, "parallel"), *v, *sessions, *grid;
	const char *mode, *sel;
	char where[64];
	size_t i;
	int rc;

	memset(job, 0, sizeof *job);
	if (par != NULL && !json_is_object(par))
		return nn_fail(cause, "%s: parallel: expected an object, got "
		    "%s", path, nn_json_type(par));
	if (nn_json_check_keys(par, &job_keys, path, "parallel", cause) != 0 ||
	    job_limits(job, par, path, cause) != 0)
		return -1;
	/* Session mode unless said otherwise. */
	mode = par != NULL && json_object_get(par, "mode") != NULL ?
	    json_string_value(json_object_get(par, "mode")) : "session";
	if (mode == NULL)
		return nn_fail(cause, "%s: parallel.mode: expected \"session\" "
		    "or \"data\"", path);
	if (strcmp(mode, "data") != 0 && strcmp(mode, "session") != 0)
		return nn_fail(cause, "%s: parallel.mode: \"%s\" (expected "
		    "\"session\" or \"data\")", path, mode);
	if (strcmp(mode, "data") == 0)
		return job_data(job, root, par, path, has_test, classification,
		    cause);
	job->mode = NN_JOB_SESSION;

	sel = par != NULL ? json_string_value(json_object_get(par, "select")) :
	    NULL;
	if (par != NULL && json_object_get(par, "select") != NULL &&
	    sel == NULL)
		return nn_fail(cause, "%s: parallel.select: expected a string",
		    path);
	if (sel == NULL)
		sel = job_default_select(job_has_val(root), has_test,
		    classification);
	if (!job_is_select(sel))
		return nn_fail(cause, "%s: parallel.select: \"%s\" (expected "
		    "val_accuracy, val_loss, test_accuracy, test_loss, accuracy "
		    "or loss)", path, sel);
	if (strncmp(sel, "val_", 4) == 0 && !job_has_val(root))
		return nn_fail(cause, "%s: parallel.select: \"%s\" needs "
		    "validation data (data.validation or "
		    "data.validation_split)", path, sel);
	if ((strstr(sel, "test") != NULL && !has_test) ||
	    (strstr(sel, "accuracy") != NULL && !classification))
		return nn_fail(cause, "%s: parallel.select: \"%s\" needs %s",
		    path, sel, !has_test && strstr(sel, "test") != NULL ?
		    "test data (data.test or data.split)" :
		    "a classification task");
	job->select = xstrdup(sel);
	job->maximize = strstr(sel, "accuracy") != NULL;
	for (i = 0; i < sizeof job_int_keys / sizeof job_int_keys[0]; i++)
		if (job_int(job, &job_int_keys[i], par, path, cause) != 0)
			goto fail;

	sessions = par != NULL ? json_object_get(par, "sessions") : NULL;
	grid = par != NULL ? json_object_get(par, "grid") : NULL;
	if (sessions != NULL && grid != NULL) {
		nn_fail(cause, "%s: parallel: give sessions or grid, not both",
		    path);
		goto fail;
	}
	if (grid != NULL) {
		if (!json_is_object(grid)) {
			nn_fail(cause, "%s: parallel.grid: expected an object "
			    "of arrays, got %s", path, nn_json_type(grid));
			goto fail;
		}
		if (job_grid(job, root, grid, path, cause) != 0)
			goto fail;
		return 0;
	}
	if (sessions == NULL) {
		/* No overrides: one session, the file as written. */
		v = json_object();
		rc = job_add(job, root, v, path, "parallel", cause);
		json_decref(v);
		if (rc != 0)
			goto fail;
		return 0;
	}
	if (!json_is_array(sessions) || json_array_size(sessions) == 0) {
		nn_fail(cause, "%s: parallel.sessions: expected a non-empty "
		    "array of objects", path);
		goto fail;
	}
	json_array_foreach(sessions, i, v) {
		snprintf(where, sizeof where, "parallel.sessions[%zu]", i);
		if (!json_is_object(v)) {
			nn_fail(cause, "%s: %s: expected an object of "
			    "overrides, got %s", path, where, nn_json_type(v));
			goto fail;
		}
		if (job_add(job, root, v, path, where, cause) != 0)
			goto fail;
	}
	return 0;
fail:
	nn_job_clear(job);
	return -1;
}

int
nn_job_parse(json_t *root, const char *path, int has_test,
    int classification, struct nn_job *job, char **cause)
{
	int rc = job_parse(root, path, has_test, classification, job, cause);

	/* What failed is not cleared by the caller: the limits taken. */
	if (rc != 0) {
		json_decref(job->limits);
		job->limits = NULL;
	}
	return rc;
}

void
nn_job_clear(struct nn_job *job)
{
	int i;

	for (i = 0; i < job->nsessions; i++) {
		json_decref(job->roots[i]);
		free(job->labels[i]);
	}
	free(job->roots);
	free(job->labels);
	free(job->select);
	json_decref(job->limits);
	memset(job, 0, sizeof *job);
}
