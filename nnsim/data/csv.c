/*
 * Numeric CSV: one row per line, cells separated by commas, optional
 * header line. A class column becomes labels that nn_data_load turns into
 * one-hot targets; target columns become y for regression. Lines are
 * streamed and the float arrays grow as rows arrive, so memory holds the
 * numbers and no copy of the text. Lines after the selected rows are not
 * read, so they are not checked either.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "data/loader.h"

struct csv {
	const struct nn_source	*src;
	const char		*what;		/* jpath */
	const char		*path;
	struct nn_lines		 lines;
	int			 ncols;
	char			**cells;	/* one per column */
	int			*inputs;	/* columns read as inputs */
	int			 nin;
	long			 lo, hi;	/* rows [lo, hi); hi -1: all */
	size_t			 rows;		/* loaded */
	float			*x;
	size_t			 xcap;
	float			*y;
	size_t			 ycap;
	size_t			 idcap;
	struct nn_labels	*labels;
};

/* FNV-1a: label names are short, and this spreads them well enough. */
static uint32_t
csv_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Puts name index i into the open-addressed table. */
static void
csv_slot_put(struct nn_labels *l, const char *name, uint32_t i)
{
	size_t mask = l->nslots - 1, h = csv_hash(name) & mask;

	while (l->slots[h] != 0)
		h = (h + 1) & mask;
	l->slots[h] = i + 1;
}

/* Index of a label name, adding it when new; fails past NN_MAX_CLASSES. */
static int
csv_label_id(struct csv *c, const char *name, long lineno, uint32_t *id,
    char **cause)
{
	struct nn_labels *l = c->labels;
	size_t mask, h, n;
	uint32_t s;
	int i;

	if (l->nslots == 0) {
		l->nslots = 64;
		l->slots = xcalloc(l->nslots, sizeof *l->slots);
	}
	mask = l->nslots - 1;
	for (h = csv_hash(name) & mask; (s = l->slots[h]) != 0;
	    h = (h + 1) & mask) {
		if (strcmp(l->names[s - 1], name) == 0) {
			*id = s - 1;
			return 0;
		}
	}
	if (l->nnames >= NN_MAX_CLASSES) {
		return nn_fail(cause, "%s:%ld: more than %d distinct labels in "
		    "column %d", c->path, lineno, NN_MAX_CLASSES,
		    c->src->label);
	}
	/* Capacity doubles at each power of two. */
	if ((l->nnames & (l->nnames - 1)) == 0) {
		n = l->nnames == 0 ? 1 : (size_t)l->nnames * 2;
		l->names = xreallocarray(l->names, n, sizeof *l->names);
		l->line = xreallocarray(l->line, n, sizeof *l->line);
	}
	l->names[l->nnames] = xstrdup(name);
	l->line[l->nnames] = lineno;
	*id = (uint32_t)l->nnames;
	l->slots[h] = (uint32_t)++l->nnames;

	/* Keep the table at most half full. */
	if ((size_t)l->nnames * 2 > l->nslots) {
		free(l->slots);
		l->nslots *= 2;
		l->slots = xcalloc(l->nslots, sizeof *l->slots);
		for (i = 0; i < l->nnames; i++)
			csv_slot_put(l, l->names[i], (uint32_t)i);
	}
	return 0;
}

/* Whether a line holds only blanks; such lines are skipped. */
static int
csv_blank(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s != ' ' && *s != '\t')
			return 0;
	}
	return 1;
}

/* Number of cells on a line: commas plus one. */
static size_t
csv_count(const char *line, size_t len)
{
	const char *p = line, *end = line + len;
	size_t n = 1;

	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Cuts line at commas into cells with surrounding blanks removed. */
static void
csv_split(char *line, char **cells, int ncols)
{
	char *p = line, *start, *end, sep;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p != ',' && *p != '\0')
			p++;
		sep = *p;
		for (end = p; end > start && (end[-1] == ' ' ||
		    end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (n < ncols)
			cells[n++] = start;
		if (sep == '\0')
			break;
		p++;
	}
}

/* Checks the label, target and input columns against the column count. */
static int
csv_columns(struct csv *c, size_t ncols, char **cause)
{
	const struct nn_source *src = c->src;
	int i, j, col;

	if (ncols > NN_MAX_COLUMNS) {
		return nn_fail(cause, "%s:%ld: %zu columns (limit %d)", c->path,
		    c->lines.lineno, ncols, NN_MAX_COLUMNS);
	}
	c->ncols = (int)ncols;
	if (src->label >= c->ncols) {
		return nn_fail(cause, "%s: label column %d is out of range (%s "
		    "has %d columns)", c->what, src->label, c->path, c->ncols);
	}
	for (i = 0; i < src->ntargets; i++) {
		col = src->targets[i];
		if (col < 0 || col >= c->ncols) {
			return nn_fail(cause, "%s: targets[%d]: column %d is "
			    "out of range (%s has %d columns)", c->what, i, col,
			    c->path, c->ncols);
		}
	}
	c->inputs = xreallocarray(NULL, ncols, sizeof *c->inputs);
	if (src->inputs != NULL) {
		for (i = 0; i < src->ninputs; i++) {
			col = src->inputs[i];
			if (col < 0 || col >= c->ncols) {
				return nn_fail(cause, "%s: inputs[%d]: column "
				    "%d is out of range (%s has %d columns)",
				    c->what, i, col, c->path, c->ncols);
			}
			if (col == src->label) {
				return nn_fail(cause, "%s: inputs[%d]: column "
				    "%d is the label column", c->what, i, col);
			}
			for (j = 0; j < src->ntargets; j++) {
				if (col == src->targets[j]) {
					return nn_fail(cause, "%s: inputs[%d]: "
					    "column %d is a target column",
					    c->what, i, col);
				}
			}
		}
		free(c->inputs);
		c->inputs = xreallocarray(NULL, (size_t)src->ninputs,
		    sizeof *c->inputs);
		memcpy(c->inputs, src->inputs, (size_t)src->ninputs *
		    sizeof *c->inputs);
		c->nin = src->ninputs;
	} else {
		for (col = 0; col < c->ncols; col++) {
			if (col == src->label)
				continue;
			for (j = 0; j < src->ntargets; j++) {
				if (col == src->targets[j])
					break;
			}
			if (j == src->ntargets)
				c->inputs[c->nin++] = col;
		}
	}
	if (c->nin == 0) {
		return nn_fail(cause, "%s: no input columns (%s has %d "
		    "columns)", c->what, c->path, c->ncols);
	}
	c->cells = xreallocarray(NULL, ncols, sizeof *c->cells);
	return 0;
}

/* Parses one cell as a number; first says a header may be missing. */
static int
csv_number(struct csv *c, int col, float *v, int first, char **cause)
{
	const char *cell = c->cells[col];

	if (nn_parse_float(cell, v) == 0)
		return 0;
	return nn_fail(cause, "%s:%ld: column %d: \"%.64s\"%s is not a "
	    "number%s", c->path, c->lines.lineno, col, cell,
	    strlen(cell) > 64 ? "..." : "",
	    first && !c->src->header ? " (is line 1 a header?)" : "");
}

/* Converts the cells of one selected row. */
static int
csv_row(struct csv *c, int first, char **cause)
{
	const struct nn_source *src = c->src;
	size_t r = c->rows, len;
	float *x, *y;
	char *name;
	int j;

	if (r + 1 > NN_MAX_ROWS || (r + 1) * (size_t)c->nin > NN_MAX_CELLS ||
	    (r + 1) * (size_t)src->ntargets > NN_MAX_CELLS) {
		return nn_fail(cause, "%s:%ld: too many rows (limit %zu "
		    "values)", c->path, c->lines.lineno, NN_MAX_CELLS);
	}
	nn_grow(&c->x, &c->xcap, r + 1, (size_t)c->nin * sizeof *c->x);
	x = c->x + r * (size_t)c->nin;
	for (j = 0; j < c->nin; j++) {
		if (csv_number(c, c->inputs[j], &x[j], first, cause) != 0)
			return -1;
	}
	if (src->ntargets > 0) {
		nn_grow(&c->y, &c->ycap, r + 1, (size_t)src->ntargets *
		    sizeof *c->y);
		y = c->y + r * (size_t)src->ntargets;
		for (j = 0; j < src->ntargets; j++) {
			if (csv_number(c, src->targets[j], &y[j], first,
			    cause) != 0)
				return -1;
		}
	}
	if (src->label >= 0) {
		name = c->cells[src->label];
		len = strlen(name);
		if (len >= 2 && name[0] == '"' && name[len - 1] == '"') {
			name[len - 1] = '\0';
			name++;
		}
		if (*name == '\0') {
			return nn_fail(cause, "%s:%ld: column %d: empty label",
			    c->path, c->lines.lineno, src->label);
		}
		nn_grow(&c->labels->id, &c->idcap, r + 1,
		    sizeof *c->labels->id);
		if (csv_label_id(c, name, c->lines.lineno, &c->labels->id[r],
		    cause) != 0)
			return -1;
	}
	c->rows++;
	return 0;
}

/* Checks what the source asks for before opening the file. */
static int
csv_check_source(struct csv *c, char **cause)
{
	const struct nn_source *src = c->src;

	if (src->label >= 0 && src->ntargets > 0) {
		return nn_fail(cause, "%s: label and targets exclude each "
		    "other", c->what);
	}
	if (src->label < 0 && src->ntargets <= 0)
		return nn_fail(cause, "%s: needs label or targets", c->what);
	if (src->ntargets < 0 || src->ninputs < 0 ||
	    src->ntargets > NN_MAX_COLUMNS || src->ninputs > NN_MAX_COLUMNS) {
		return nn_fail(cause, "%s: bad number of columns (limit %d)",
		    c->what, NN_MAX_COLUMNS);
	}
	c->lo = src->row_lo < 0 ? 0 : src->row_lo;
	c->hi = src->row_hi < 0 ? -1 : src->row_hi;
	if (c->hi >= 0 && c->lo >= c->hi) {
		return nn_fail(cause, "%s: rows [%ld, %ld) is empty", c->what,
		    c->lo, c->hi);
	}
	return 0;
}

/*
 * Reads src into a new *dp and, for a class column, into labels. Errors
 * name the file and line, or the source (jpath) for the spec itself.
 */
int
nn_csv_read(const struct nn_source *src, struct nn_data **dp,
    struct nn_labels *labels, char **cause)
{
	struct csv c;
	struct nn_data *d;
	char *line;
	size_t len, ncells, r = 0;
	int rc = -1, nr;

	memset(&c, 0, sizeof c);
	c.src = src;
	c.what = src->jpath != NULL ? src->jpath : "data";
	c.path = src->path;
	c.labels = labels;
	memset(labels, 0, sizeof *labels);
	*dp = NULL;
	if (csv_check_source(&c, cause) != 0)
		return -1;
	if (nn_lines_open(&c.lines, c.path, cause) != 0)
		return -1;

	while ((nr = nn_lines_next(&c.lines, &line, &len, cause)) == 1) {
		if (csv_blank(line))
			continue;
		if (c.ncols != 0 && c.hi >= 0 && r >= (size_t)c.hi)
			break;
		ncells = csv_count(line, len);
		if (c.ncols == 0) {
			if (csv_columns(&c, ncells, cause) != 0)
				goto out;
			if (src->header)
				continue;
		} else if (ncells != (size_t)c.ncols) {
			if (src->header && r == 0) {
				nn_fail(cause, "%s:1: bad header: %d columns "
				    "but line %ld has %zu", c.path, c.ncols,
				    c.lines.lineno, ncells);
			} else {
				nn_fail(cause, "%s:%ld: expected %d columns, "
				    "found %zu", c.path, c.lines.lineno,
				    c.ncols, ncells);
			}
			goto out;
		}
		if (r >= (size_t)c.lo) {
			csv_split(line, c.cells, c.ncols);
			if (csv_row(&c, r == 0, cause) != 0)
				goto out;
		}
		r++;
	}
	if (nr < 0)
		goto out;
	if (c.ncols == 0) {
		nn_fail(cause, "%s: empty file", c.path);
		goto out;
	}
	if (r == 0) {
		nn_fail(cause, "%s: no data rows after the header", c.path);
		goto out;
	}
	if (c.hi >= 0 && r < (size_t)c.hi) {
		nn_fail(cause, "%s: rows [%ld, %ld) but %s has only %zu data "
		    "rows", c.what, c.lo, c.hi, c.path, r);
		goto out;
	}
	if (c.rows == 0) {
		nn_fail(cause, "%s: rows [%ld, end) but %s has only %zu data "
		    "rows", c.what, c.lo, c.path, r);
		goto out;
	}

	d = xcalloc(1, sizeof *d);
	d->n = c.rows;
	d->in = c.nin;
	d->x = xreallocarray(c.x, c.rows, (size_t)c.nin * sizeof *d->x);
	c.x = NULL;
	d->task = NN_TASK_REGRESSION;
	d->lo = 0.0f;
	d->hi = 1.0f;
	if (src->ntargets > 0) {
		d->out = src->ntargets;
		d->y = xreallocarray(c.y, c.rows, (size_t)d->out *
		    sizeof *d->y);
		c.y = NULL;
	} else {
		labels->kind = NN_LABELS_NAMES;
		labels->n = c.rows;
		labels->id = xreallocarray(labels->id, c.rows,
		    sizeof *labels->id);
	}
	*dp = d;
	rc = 0;

out:
	if (rc != 0)
		nn_labels_clear(labels);
	nn_lines_close(&c.lines);
	free(c.cells);
	free(c.inputs);
	free(c.x);
	free(c.y);
	return rc;
}

char **
nn_csv_header(const char *path, int *n)
{
	struct nn_lines lines;
	char *line, *cause = NULL, **cells = NULL, **names = NULL;
	size_t len;
	int i;

	*n = 0;
	if (nn_lines_open(&lines, path, &cause) != 0)
		goto out;
	if (nn_lines_next(&lines, &line, &len, &cause) == 1 &&
	    csv_count(line, len) <= NN_MAX_COLUMNS) {
		*n = (int)csv_count(line, len);
		cells = xcalloc((size_t)*n, sizeof *cells);
		csv_split(line, cells, *n);
		names = xcalloc((size_t)*n, sizeof *names);
		for (i = 0; i < *n; i++)
			names[i] = xstrdup(cells[i]);
	}
	nn_lines_close(&lines);
out:
	free(cells);
	free(cause);
	return names;
}
