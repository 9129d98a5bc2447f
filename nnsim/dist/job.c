/* The "parallel" section of net.json (job.h). */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/jsonmsg.h"
#include "base/rng.h"
#include "base/table.h"
#include "dist/job.h"
#include "nn/config.h"

/* The keys of "parallel". */
static const char *const job_par_keys[] = { "mode", "sessions", "grid",
    "search", "select", "partitions", "deterministic", "retries", "replicas",
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

/*
 * The next step of a JSON path at *p ("train.optimizer.lr",
 * "layers[1].units", "layers.1.units"): a key up to '.' or '[', or the
 * index inside "[N]". 1 with the step in buf (*index when bracketed) and
 * *last when nothing follows, or -1 with cause.
 */
static int
job_path_step(const char *path, const char **p, char *buf, size_t size,
    int *index, int *last, char **cause)
{
	const char *s = *p, *end;
	size_t n;

	*index = *s == '[';
	if (*index) {
		if ((end = strchr(s, ']')) == NULL)
			return nn_fail(cause, "\"%s\": \"[\" without \"]\"",
			    path);
		s++;
		n = (size_t)(end - s);
		end++;
	} else {
		n = strcspn(s, ".[");
		end = s + n;
	}
	if (n == 0)
		return nn_fail(cause, "\"%s\": empty step in the path", path);
	if (n >= size)
		return nn_fail(cause, "\"%s\": a step longer than %zu bytes",
		    path, size - 1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (*end != '\0' && *end != '.' && *end != '[')
		return nn_fail(cause, "\"%s\": \"%c\" after \"]\" (expected "
		    "\".\" or \"[\")", path, *end);
	*last = *end == '\0';
	*p = *end == '.' ? end + 1 : end;
	if (*end == '.' && end[1] == '\0')
		return nn_fail(cause, "\"%s\": empty step in the path", path);
	return 1;
}

int
nn_job_override(json_t *root, const char *path, json_t *value,
    char **cause)
{
	const char *p = path;
	json_t *node = root, *next;
	char step[256], *end;
	int index, last = 0;
	long idx;

	while (!last) {
		if (job_path_step(path, &p, step, sizeof step, &index, &last,
		    cause) != 1)
			return -1;
		if (json_is_array(node)) {
			idx = strtol(step, &end, 10);
			if (!isdigit((unsigned char)step[0]) || *end != '\0' ||
			    idx < 0 || (size_t)idx >= json_array_size(node))
				return nn_fail(cause, "\"%s\": \"%s\" is not an "
				    "index of an array of %zu", path, step,
				    json_array_size(node));
			if (last)
				json_array_set(node, (size_t)idx, value);
			else
				node = json_array_get(node, (size_t)idx);
		} else if (json_is_object(node) && !index) {
			if (last)
				json_object_set(node, step, value);
			else if ((next = json_object_get(node, step)) != NULL)
				node = next;
			else {
				next = json_object();
				json_object_set_new(node, step, next);
				node = next;
			}
		} else
			return nn_fail(cause, "\"%s\": step \"%s\" needs %s, "
			    "but the value there is %s %s", path, step, index ?
			    "an array" : "an object or array",
			    json_is_object(node) || json_is_array(node) ?
			    "an" : "a", nn_json_type(node));
	}
	return 0;
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
		    (key[n] == '\0' || key[n] == '.' || key[n] == '['))
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

/*
 * Random search (parallel.search): each axis of the space draws its value
 * one way, a row each. check says what is wrong with the axis's argument
 * (NULL: nothing); draw returns a new reference.
 */
struct job_draw {
	const char	*name;
	const char	*(*check)(json_t *arg);
	json_t		*(*draw)(struct nn_rng *, json_t *arg);
};

/* Two numbers lo < hi (lo > 0 when positive is set). */
static const char *
job_check_range(json_t *arg, int positive)
{
	double lo, hi;

	if (!json_is_array(arg) || json_array_size(arg) != 2 ||
	    !json_is_number(json_array_get(arg, 0)) ||
	    !json_is_number(json_array_get(arg, 1)))
		return "expected [LOW, HIGH], two numbers";
	lo = json_number_value(json_array_get(arg, 0));
	hi = json_number_value(json_array_get(arg, 1));
	if (!(lo < hi))
		return "expected LOW below HIGH";
	if (positive && !(lo > 0))
		return "expected LOW above 0 (a logarithmic scale)";
	return NULL;
}

static const char *
job_check_uniform(json_t *arg)
{
	return job_check_range(arg, 0);
}

static const char *
job_check_log_uniform(json_t *arg)
{
	return job_check_range(arg, 1);
}

static const char *
job_check_randint(json_t *arg)
{
	if (!json_is_array(arg) || json_array_size(arg) != 2 ||
	    !json_is_integer(json_array_get(arg, 0)) ||
	    !json_is_integer(json_array_get(arg, 1)))
		return "expected [LOW, HIGH], two integers";
	if (json_integer_value(json_array_get(arg, 0)) >
	    json_integer_value(json_array_get(arg, 1)))
		return "expected LOW at most HIGH";
	if (json_integer_value(json_array_get(arg, 1)) -
	    json_integer_value(json_array_get(arg, 0)) > (1LL << 40))
		return "expected a range of at most 2^40";
	return NULL;
}

static const char *
job_check_choice(json_t *arg)
{
	if (!json_is_array(arg) || json_array_size(arg) == 0)
		return "expected a non-empty array of values";
	return NULL;
}

/* Four significant digits: labels stay short and say the exact value. */
static json_t *
job_real4(double v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%.4g", v);
	return json_real(strtod(buf, NULL));
}

static json_t *
job_draw_uniform(struct nn_rng *rng, json_t *arg)
{
	double lo = json_number_value(json_array_get(arg, 0));
	double hi = json_number_value(json_array_get(arg, 1));

	return job_real4(lo + (hi - lo) * nn_rng_double(rng));
}

static json_t *
job_draw_log_uniform(struct nn_rng *rng, json_t *arg)
{
	double lo = log(json_number_value(json_array_get(arg, 0)));
	double hi = log(json_number_value(json_array_get(arg, 1)));

	return job_real4(exp(lo + (hi - lo) * nn_rng_double(rng)));
}

static json_t *
job_draw_randint(struct nn_rng *rng, json_t *arg)
{
	json_int_t lo = json_integer_value(json_array_get(arg, 0));
	json_int_t hi = json_integer_value(json_array_get(arg, 1));

	return json_integer(lo + (json_int_t)nn_rng_below(rng,
	    (uint64_t)(hi - lo) + 1));
}

static json_t *
job_draw_choice(struct nn_rng *rng, json_t *arg)
{
	return json_incref(json_array_get(arg, (size_t)nn_rng_below(rng,
	    json_array_size(arg))));
}

static const struct job_draw job_draws[] = {
	{ "uniform", job_check_uniform, job_draw_uniform },
	{ "log_uniform", job_check_log_uniform, job_draw_log_uniform },
	{ "randint", job_check_randint, job_draw_randint },
	{ "choice", job_check_choice, job_draw_choice },
};

static const char *const job_search_keys[] = { "samples", "space", "seed",
    NULL };
static const struct nn_json_keys job_search_keyset = {
	.allowed = job_search_keys,
	.last_or = 1,
};

/* The draw of one axis of the space ({"uniform": [a, b]}), or NULL. */
static const struct job_draw *
job_axis(json_t *axis, const char *path, const char *key, char **cause)
{
	const struct job_draw *d = NULL;
	const char *kind, *why;
	json_t *arg;
	size_t i;

	if (!json_is_object(axis) || json_object_size(axis) != 1) {
		nn_fail(cause, "%s: parallel.search.space.%s: expected one of "
		    "{\"uniform\": [a, b]}, {\"log_uniform\": [a, b]}, "
		    "{\"randint\": [a, b]} or {\"choice\": [...]}", path, key);
		return NULL;
	}
	json_object_foreach(axis, kind, arg) {
		for (i = 0; i < sizeof job_draws / sizeof job_draws[0]; i++)
			if (strcmp(kind, job_draws[i].name) == 0)
				d = &job_draws[i];
		if (d == NULL) {
			nn_fail(cause, "%s: parallel.search.space.%s: unknown "
			    "\"%s\" (expected uniform, log_uniform, randint "
			    "or choice)", path, key, kind);
			return NULL;
		}
		if ((why = d->check(arg)) != NULL) {
			nn_fail(cause, "%s: parallel.search.space.%s.%s: %s",
			    path, key, kind, why);
			return NULL;
		}
	}
	return d;
}

/*
 * samples sessions, each with a value drawn for every key of the space in
 * the order written, from one stream seeded by search.seed (else
 * train.seed): the same file gives the same sessions.
 */
static int
job_search(struct nn_job *job, json_t *root, json_t *search,
    const char *path, char **cause)
{
	const struct job_draw **draws = NULL;
	json_t *space, *v, *over = NULL;
	struct nn_rng rng;
	const char *key;
	char where[64], *label;
	long long samples, seed = 1;
	size_t k, nkeys;
	int i, rc = -1;

	if (!json_is_object(search))
		return nn_fail(cause, "%s: parallel.search: expected an object "
		    "{\"samples\": N, \"space\": {...}}, got %s", path,
		    nn_json_type(search));
	if (nn_json_check_keys(search, &job_search_keyset, path,
	    "parallel.search", cause) != 0)
		return -1;
	v = json_object_get(search, "samples");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > NN_JOB_MAX_SESSIONS)
		return nn_fail(cause, "%s: parallel.search.samples: expected "
		    "an integer from 1 to %d", path, NN_JOB_MAX_SESSIONS);
	samples = json_integer_value(v);
	if ((v = json_object_get(json_object_get(root, "train"),
	    "seed")) != NULL && json_is_integer(v))
		seed = json_integer_value(v);
	if ((v = json_object_get(search, "seed")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return nn_fail(cause, "%s: parallel.search.seed: "
			    "expected an integer >= 0", path);
		seed = json_integer_value(v);
	}
	space = json_object_get(search, "space");
	if (!json_is_object(space) || json_object_size(space) == 0)
		return nn_fail(cause, "%s: parallel.search.space: expected an "
		    "object of at least one key", path);
	nkeys = json_object_size(space);
	draws = xcalloc(nkeys, sizeof *draws);
	k = 0;
	json_object_foreach(space, key, v)
		if ((draws[k++] = job_axis(v, path, key, cause)) == NULL)
			goto out;
	nn_rng_seed(&rng, (uint64_t)seed);
	for (i = 0; i < samples; i++) {
		over = json_object();
		k = 0;
		json_object_foreach(space, key, v)
			json_object_set_new(over, key, draws[k++]->draw(&rng,
			    json_object_iter_value(json_object_iter(v))));
		snprintf(where, sizeof where, "parallel.search (sample %d)",
		    i);
		if (job_add(job, root, over, path, where, cause) != 0)
			goto out;
		/* The sample's number first: two draws may look alike. */
		label = xasprintf("sample %d: %s", i,
		    job->labels[job->nsessions - 1]);
		free(job->labels[job->nsessions - 1]);
		job->labels[job->nsessions - 1] = label;
		json_decref(over);
		over = NULL;
	}
	rc = 0;
out:
	json_decref(over);
	free(draws);
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
	    "search", "select", NULL };
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
	json_t *search;
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
	search = par != NULL ? json_object_get(par, "search") : NULL;
	if ((sessions != NULL) + (grid != NULL) + (search != NULL) > 1) {
		nn_fail(cause, "%s: parallel: give one of sessions, grid and "
		    "search", path);
		goto fail;
	}
	if (search != NULL) {
		if (job_search(job, root, search, path, cause) != 0)
			goto fail;
		return 0;
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
