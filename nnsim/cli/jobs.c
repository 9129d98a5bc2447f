/* Detached jobs' folders (jobs.h). */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "cli/jobs.h"

#define JOBS_MAX_FILE	(1 << 20)

char *
nn_jobs_dir(char **cause)
{
	const char *v;

	if ((v = getenv("NNSIM_JOBS")) != NULL && v[0] != '\0')
		return xstrdup(v);
	if ((v = getenv("XDG_STATE_HOME")) != NULL && v[0] == '/')
		return xasprintf("%s/nnsim/jobs", v);
	if ((v = getenv("HOME")) != NULL && v[0] == '/')
		return xasprintf("%s/.local/state/nnsim/jobs", v);
	nn_fail(cause, "no jobs directory: set NNSIM_JOBS or HOME");
	return NULL;
}

int
nn_jobs_id_ok(const char *id)
{
	return strlen(id) == NN_JOBS_ID_LEN &&
	    strspn(id, "0123456789abcdef") == NN_JOBS_ID_LEN;
}

static char *
jobs_path(const char *id, const char *file, char **cause)
{
	char *dir = nn_jobs_dir(cause), *p;

	if (dir == NULL)
		return NULL;
	p = xasprintf("%s/%s%s%s", dir, id, file != NULL ? "/" : "",
	    file != NULL ? file : "");
	free(dir);
	return p;
}

/* Writes the job's file name whole, then renames it into place. */
static int
jobs_write_file(const char *id, const char *name, json_t *o, char **cause)
{
	char *path = jobs_path(id, name, cause), *tmp = NULL;
	int rc = -1;

	if (path == NULL)
		return -1;
	/* Each writer its own temporary name; rename is atomic. */
	tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	if (json_dump_file(o, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
	    rename(tmp, path) != 0) {
		nn_fail(cause, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(path);
	return rc;
}

static int
jobs_write(const char *id, json_t *o, char **cause)
{
	return jobs_write_file(id, "job.json", o, cause);
}

static void
jobs_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
nn_jobs_new_id(char id[NN_JOBS_ID_LEN + 1], char **cause)
{
	unsigned char r[NN_JOBS_ID_LEN / 2];
	int i;

	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return nn_fail(cause, "getrandom: %s", strerror(errno));
	for (i = 0; i < NN_JOBS_ID_LEN / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
nn_jobs_create(json_t *fields, char id[NN_JOBS_ID_LEN + 1], char **cause)
{
	char *dir = NULL, when[32];
	json_t *o = NULL;
	int tries, rc = -1;

	if ((dir = nn_jobs_dir(cause)) == NULL || nn_mkdirs(dir, cause) != 0)
		goto out;
	/* The id is taken by creating its folder: two jobs never share. */
	for (tries = 0; ; tries++) {
		if (nn_jobs_new_id(id, cause) != 0)
			goto out;
		free(dir);
		if ((dir = jobs_path(id, NULL, cause)) == NULL)
			goto out;
		if (mkdir(dir, 0700) == 0)
			break;
		if (errno != EEXIST || tries == 16) {
			nn_fail(cause, "%s: cannot create: %s", dir,
			    strerror(errno));
			goto out;
		}
	}
	jobs_now(when, sizeof when);
	o = json_deep_copy(fields);
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "status", json_string("running"));
	json_object_set_new(o, "started", json_string(when));
	rc = jobs_write(id, o, cause);
out:
	json_decref(o);
	free(dir);
	return rc;
}

json_t *
nn_jobs_read(const char *id, char **cause)
{
	char *path, *text;
	json_error_t jerr;
	json_t *o = NULL;
	size_t len;

	if (!nn_jobs_id_ok(id)) {
		nn_fail(cause, "\"%s\" is not a job id (8 hex digits; nnsim "
		    "jobs lists them)", id);
		return NULL;
	}
	if ((path = jobs_path(id, "job.json", cause)) == NULL)
		return NULL;
	if (access(path, F_OK) != 0)
		nn_fail(cause, "no job %s (nnsim jobs lists them)", id);
	else if ((text = nn_read_file(path, JOBS_MAX_FILE, &len, cause)) !=
	    NULL) {
		o = json_loadb(text, len, 0, &jerr);
		if (!json_is_object(o)) {
			json_decref(o);
			o = NULL;
			nn_fail(cause, "%s: not a job file: %s", path,
			    jerr.text);
		}
		free(text);
	}
	free(path);
	return o;
}

int
nn_jobs_update(const char *id, json_t *fields, char **cause)
{
	json_t *o = nn_jobs_read(id, cause);
	char when[32];
	int rc;

	if (o == NULL)
		return -1;
	json_object_update(o, fields);
	if (json_is_string(json_object_get(fields, "status")) &&
	    strcmp(json_string_value(json_object_get(fields, "status")),
	    "running") != 0) {
		jobs_now(when, sizeof when);
		json_object_set_new(o, "finished", json_string(when));
	}
	rc = jobs_write(id, o, cause);
	json_decref(o);
	return rc;
}

static int
jobs_by_start(const void *a, const void *b)
{
	json_t *const *x = a, *const *y = b;
	const char *s = json_string_value(json_object_get(*x, "started"));
	const char *t = json_string_value(json_object_get(*y, "started"));

	return strcmp(s != NULL ? s : "", t != NULL ? t : "");
}

json_t *
nn_jobs_list(char **cause)
{
	char *dir = nn_jobs_dir(cause), *why = NULL;
	json_t **all = NULL, *list = NULL, *o;
	struct dirent *e;
	size_t n = 0, i;
	DIR *d;

	if (dir == NULL)
		return NULL;
	list = json_array();
	/* No folder yet: no jobs yet. */
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT) {
			nn_fail(cause, "%s: %s", dir, strerror(errno));
			json_decref(list);
			list = NULL;
		}
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		if (!nn_jobs_id_ok(e->d_name))
			continue;
		if ((o = nn_jobs_read(e->d_name, &why)) == NULL) {
			free(why);
			why = NULL;
			continue;
		}
		all = xreallocarray(all, n + 1, sizeof *all);
		all[n++] = o;
	}
	closedir(d);
	if (n > 0)
		qsort(all, n, sizeof *all, jobs_by_start);
	for (i = 0; i < n; i++)
		json_array_append_new(list, all[i]);
out:
	free(all);
	free(dir);
	return list;
}

int
nn_jobs_alive(json_t *job)
{
	json_t *pid = json_object_get(job, "pid");
	const char *st = json_string_value(json_object_get(job, "status"));
	char path[64], *text, *why = NULL;
	size_t len;
	int alive;

	if (st == NULL || strcmp(st, "running") != 0 || !json_is_integer(pid))
		return 0;
	/* A pid is reused after a crash or a reboot: it must still be an
	 * nnsim (its command line starts with the program's path). */
	snprintf(path, sizeof path, "/proc/%lld/cmdline",
	    (long long)json_integer_value(pid));
	if ((text = nn_read_file(path, 4096, &len, &why)) == NULL) {
		free(why);
		return 0;
	}
	alive = len > 0 && memmem(text, strnlen(text, len), "nnsim", 5) !=
	    NULL;
	free(text);
	return alive;
}

char *
nn_jobs_log(const char *id, char **cause)
{
	return jobs_path(id, "log", cause);
}

int
nn_jobs_put_table(const char *id, json_t *view, char **cause)
{
	return jobs_write_file(id, "table.json", view, cause);
}

json_t *
nn_jobs_table(const char *id)
{
	char *path = jobs_path(id, "table.json", NULL), *text = NULL;
	json_t *o = NULL;
	size_t len;

	if (path != NULL && access(path, F_OK) == 0 && (text =
	    nn_read_file(path, JOBS_MAX_FILE, &len, NULL)) != NULL)
		o = json_loadb(text, len, 0, NULL);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	free(text);
	free(path);
	return o;
}
