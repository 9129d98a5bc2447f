/*
 * nnsim plot's input: metrics files read into runs (one per file, or one
 * per session of a sweep) and events placed on the epoch axis.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "cli/plotdata.h"

#define PLOTDATA_FILE_LIMIT	(256u << 20)

/*
 * The events marked on the curves: scaling (moves, hosts that come and
 * go) and recovery. detail names the field shown after the name; commits
 * and the closing lines are bookkeeping, not marked.
 */
static const struct plotdata_event_kind {
	const char	*name;
	const char	*detail;
} plotdata_event_kinds[] = {
	{ "moved", "host" },
	{ "host-down", "host" },
	{ "host-up", "host" },
	{ "host-joined", "host" },
	{ "session-failed", "host" },
	{ "retried", "host" },
	{ "resumed", "host" },
	{ "rebuilt", "host" },
	{ "recovered", "host" },
	{ "reconnected", "host" },
};

/* Fields of an epoch line that say where it came from, not how it did. */
static const char *plotdata_not_metrics[] = {
	"epoch", "session", "partitions", "from_partition", NULL,
};

/* What one file's reading keeps between its lines. */
struct plotdata_file {
	const char	*path;
	int		 file;
	int		 last_epoch;	/* the file's latest epoch so far */
	int		 nepochs;
};

struct plotdata *
plotdata_new(void)
{
	return xcalloc(1, sizeof(struct plotdata));
}

void
plotdata_free(struct plotdata *pd)
{
	size_t i;

	if (pd == NULL)
		return;
	for (i = 0; i < pd->nruns; i++) {
		free(pd->runs[i].label);
		json_decref(pd->runs[i].epochs);
	}
	for (i = 0; i < pd->nevents; i++)
		free(pd->events[i].label);
	for (i = 0; i < pd->nfiles; i++)
		free(pd->files[i]);
	free(pd->runs);
	free(pd->events);
	free(pd->files);
	free(pd);
}

/* The run of file's session (-1: its one run), made when new (borrowed). */
static struct plot_run *
plotdata_run(struct plotdata *pd, int file, int session)
{
	struct plot_run *r;
	size_t i;

	for (i = 0; i < pd->nruns; i++) {
		if (pd->runs[i].file == file && pd->runs[i].session == session)
			return &pd->runs[i];
	}
	pd->runs = xreallocarray(pd->runs, pd->nruns + 1, sizeof *pd->runs);
	r = &pd->runs[pd->nruns++];
	memset(r, 0, sizeof *r);
	r->epochs = json_array();
	r->file = file;
	r->session = session;
	return r;
}

/* The latest epoch of a run so far (0 before its first). */
static int
plotdata_run_epoch(const struct plot_run *r)
{
	size_t n = json_array_size(r->epochs);

	if (n == 0)
		return 0;
	return (int)json_integer_value(json_object_get(json_array_get(
	    r->epochs, n - 1), "epoch"));
}

/* Reads an optional integer field at least min: 0 (and *out, or -1 when
 * absent), or -1 with a cause naming the line. */
static int
plotdata_int(json_t *o, const char *key, int min, int *out,
    const struct plotdata_file *f, size_t line, char **cause)
{
	json_t *v = json_object_get(o, key);

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > 1000000000)
		return nn_fail(cause, "%s:%zu: %s: expected an integer of at "
		    "least %d", f->path, line, key, min);
	*out = (int)json_integer_value(v);
	return 0;
}

/* An epoch line: its object joins its run's curve. */
static int
plotdata_epoch(struct plotdata *pd, struct plotdata_file *f, json_t *o,
    size_t line, char **cause)
{
	struct plot_run *r;
	int epoch, session;

	if (plotdata_int(o, "epoch", 1, &epoch, f, line, cause) != 0 ||
	    plotdata_int(o, "session", 0, &session, f, line, cause) != 0)
		return -1;
	r = plotdata_run(pd, f->file, session);
	json_array_append(r->epochs, o);
	if (epoch > f->last_epoch)
		f->last_epoch = epoch;
	if (epoch > pd->max_epoch)
		pd->max_epoch = epoch;
	f->nepochs++;
	return 0;
}

/* A session's closing line names its variant: the legend's label. */
static int
plotdata_session(struct plotdata *pd, struct plotdata_file *f, json_t *o,
    size_t line, char **cause)
{
	struct plot_run *r;
	const char *label = json_string_value(json_object_get(o, "label"));
	int session;

	if (plotdata_int(o, "session", 0, &session, f, line, cause) != 0)
		return -1;
	if (session < 0 || label == NULL)
		return 0;
	r = plotdata_run(pd, f->file, session);
	free(r->label);
	r->label = xstrdup(label);
	return 0;
}

/*
 * An event of the table: marked after the epoch its session (or, in a
 * data job, the job) had reached; an event of the cluster, after the
 * file's latest epoch. Events at one epoch share one marker.
 */
static int
plotdata_event(struct plotdata *pd, struct plotdata_file *f, json_t *o,
    const struct plotdata_event_kind *k, size_t line, char **cause)
{
	struct plot_event *ev;
	const char *detail;
	char *prefix, *label, *joined;
	int session, partition, epoch = f->last_epoch;
	size_t i;

	if (plotdata_int(o, "session", 0, &session, f, line, cause) != 0 ||
	    plotdata_int(o, "partition", 0, &partition, f, line, cause) != 0)
		return -1;
	if (session >= 0)
		epoch = plotdata_run_epoch(plotdata_run(pd, f->file, session));
	else if (partition >= 0)
		epoch = plotdata_run_epoch(plotdata_run(pd, f->file, -1));
	if (session >= 0)
		prefix = xasprintf("s%d ", session);
	else if (partition >= 0)
		prefix = xasprintf("p%d ", partition);
	else
		prefix = xstrdup("");
	detail = json_string_value(json_object_get(o, k->detail));
	label = xasprintf("%s%s%s%s", prefix, k->name, detail != NULL ? " " :
	    "", detail != NULL ? detail : "");
	free(prefix);
	for (i = 0; i < pd->nevents; i++) {
		ev = &pd->events[i];
		if (ev->epoch != epoch)
			continue;
		if (strstr(ev->label, label) == NULL) {
			joined = xasprintf("%s, %s", ev->label, label);
			free(ev->label);
			ev->label = joined;
		}
		free(label);
		return 0;
	}
	pd->events = xreallocarray(pd->events, pd->nevents + 1,
	    sizeof *pd->events);
	pd->events[pd->nevents].epoch = epoch;
	pd->events[pd->nevents++].label = label;
	return 0;
}

/* One line of the file: an epoch, a session's label, an event, or a line
 * nnsim plot has no use for. */
static int
plotdata_line(struct plotdata *pd, struct plotdata_file *f, const char *s,
    size_t len, size_t line, char **cause)
{
	json_error_t err;
	json_t *o;
	const char *event;
	size_t i;
	int rc = 0;

	if ((o = json_loadb(s, len, 0, &err)) == NULL)
		return nn_fail(cause, "%s:%zu: bad JSON: %s", f->path, line,
		    err.text);
	if (!json_is_object(o)) {
		rc = nn_fail(cause, "%s:%zu: expected a JSON object per line",
		    f->path, line);
		goto out;
	}
	event = json_string_value(json_object_get(o, "event"));
	if (event == NULL) {
		if (json_object_get(o, "epoch") != NULL)
			rc = plotdata_epoch(pd, f, o, line, cause);
		goto out;
	}
	if (strcmp(event, "session") == 0) {
		rc = plotdata_session(pd, f, o, line, cause);
		goto out;
	}
	for (i = 0; i < sizeof plotdata_event_kinds /
	    sizeof plotdata_event_kinds[0]; i++) {
		if (strcmp(event, plotdata_event_kinds[i].name) == 0) {
			rc = plotdata_event(pd, f, o, &plotdata_event_kinds[i],
			    line, cause);
			break;
		}
	}
out:
	json_decref(o);
	return rc;
}

/* Whether the line from p to end holds only white space. */
static int
plotdata_blank(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return 0;
	}
	return 1;
}

int
plotdata_read(struct plotdata *pd, const char *path, char **cause)
{
	struct plotdata_file f = { .path = path, .file = (int)pd->nfiles };
	char *buf, *p, *end, *nl;
	size_t len, line = 0;
	int rc = -1;

	if ((buf = nn_read_file(path, PLOTDATA_FILE_LIMIT, &len,
	    cause)) == NULL)
		return -1;
	pd->files = xreallocarray(pd->files, pd->nfiles + 1,
	    sizeof *pd->files);
	pd->files[pd->nfiles++] = xstrdup(path);
	for (p = buf, end = buf + len; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line++;
		if (plotdata_blank(p, nl))
			continue;
		if (plotdata_line(pd, &f, p, (size_t)(nl - p), line,
		    cause) != 0)
			goto out;
	}
	if (f.nepochs == 0) {
		nn_fail(cause, "%s: no epoch lines (expected the --metrics "
		    "file of nnsim train or nnsim submit)", path);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* Orders epoch objects by their epoch. */
static int
plotdata_by_epoch(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a,
	    "epoch"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b,
	    "epoch"));

	return x < y ? -1 : x > y;
}

/* A file's name without its folder or its last extension (caller frees). */
static char *
plotdata_file_name(const char *path)
{
	const char *base = strrchr(path, '/'), *dot;

	base = base != NULL ? base + 1 : path;
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		return xstrdup(base);
	return xasprintf("%.*s", (int)(dot - base), base);
}

/* Orders runs by file, then session. */
static int
plotdata_by_run(const void *a, const void *b)
{
	const struct plot_run *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->session < y->session ? -1 : x->session > y->session;
}

void
plotdata_finish(struct plotdata *pd)
{
	struct plot_run *r;
	json_t **v, *sorted;
	char *name, *label;
	size_t i, j, n, kept = 0;

	for (i = 0; i < pd->nruns; i++) {
		r = &pd->runs[i];
		if ((n = json_array_size(r->epochs)) == 0) {
			/* A session that ended before its first epoch. */
			free(r->label);
			json_decref(r->epochs);
			continue;
		}
		v = xreallocarray(NULL, n, sizeof *v);
		for (j = 0; j < n; j++)
			v[j] = json_array_get(r->epochs, j);
		qsort(v, n, sizeof *v, plotdata_by_epoch);
		sorted = json_array();
		for (j = 0; j < n; j++)
			json_array_append(sorted, v[j]);
		free(v);
		json_decref(r->epochs);
		r->epochs = sorted;

		name = plotdata_file_name(pd->files[r->file]);
		if (r->session < 0)
			label = xstrdup(name);
		else if (r->label == NULL)
			label = xasprintf("%s%ssession %d", pd->nfiles > 1 ?
			    name : "", pd->nfiles > 1 ? ": " : "", r->session);
		else
			label = xasprintf("%s%s%s", pd->nfiles > 1 ? name : "",
			    pd->nfiles > 1 ? ": " : "", r->label);
		free(name);
		free(r->label);
		r->label = label;
		pd->runs[kept++] = *r;
	}
	pd->nruns = kept;
	qsort(pd->runs, pd->nruns, sizeof *pd->runs, plotdata_by_run);
}

/* The numeric fields of the epoch lines that are figures, as the keys of
 * a new object in order of first appearance. */
static json_t *
plotdata_metric_set(const struct plotdata *pd)
{
	json_t *set = json_object(), *e, *v;
	const char *key, **skip;
	size_t i, j;

	for (i = 0; i < pd->nruns; i++) {
		json_array_foreach(pd->runs[i].epochs, j, e) {
			json_object_foreach(e, key, v) {
				if (!json_is_number(v))
					continue;
				for (skip = plotdata_not_metrics; *skip != NULL;
				    skip++) {
					if (strcmp(*skip, key) == 0)
						break;
				}
				if (*skip == NULL)
					json_object_set(set, key, json_true());
			}
		}
	}
	return set;
}

int
plotdata_has_metric(const struct plotdata *pd, const char *metric)
{
	json_t *set = plotdata_metric_set(pd);
	int has = json_object_get(set, metric) != NULL;

	json_decref(set);
	return has;
}

char *
plotdata_metrics(const struct plotdata *pd)
{
	json_t *set = plotdata_metric_set(pd), *v;
	const char *key;
	char *list = xstrdup(""), *next;

	json_object_foreach(set, key, v) {
		next = xasprintf("%s%s%s", list, *list != '\0' ? ", " : "",
		    key);
		free(list);
		list = next;
	}
	json_decref(set);
	return list;
}
