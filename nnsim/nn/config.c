/*
 * net.json: reads the document, checks every value against its type and
 * range, fills the defaults and resolves data paths against the folder that
 * holds the file (docs/net-json.md). Every error is one line that names the
 * file and the JSON path of the value at fault.
 *
 * One file for the whole schema, over 1,000 lines: each section's parser
 * is short and reads like the page that documents it, and they share the
 * path-naming error helpers and the defaults; apart, the helpers would be
 * a header of their own for no reader's gain.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/jsonmsg.h"
#include "nn/config.h"

#define CFG_JPATH_MAX	NN_JSON_JPATH_MAX /* a JSON path in a message */
#define CFG_QUOTE_KEY	40	/* bytes of an odd key echoed back */
#define CFG_QUOTE_WORD	64	/* bytes of a bad value echoed back */
#define CFG_QUOTE_PATH	240	/* bytes of a file name echoed back */
#define CFG_NAME_MAX	128	/* "name" */
#define CFG_MAX_NOISE	1e6	/* as the generators accept */

#define CFG_NELEM(a) (sizeof (a) / sizeof (a)[0])

/* What every message needs: the file as given and where to put the cause. */
struct cfg_ctx {
	const char	*path;
	const char	*dir;
	char		**cause;
	int		 shipped;	/* the data came with the agent */
};

static const char *const cfg_top_keys[] = {
	"name", "input", "layers", "loss", "leaky_slope", "data", "train",
	"parallel", NULL
};
static const char *const cfg_layer_keys[] = {
	"units", "activation", "init", "dropout", NULL
};
static const char *const cfg_data_keys[] = {
	"train", "test", "split", "normalize", "validation",
	"validation_split", NULL
};
static const char *const cfg_train_keys[] = {
	"epochs", "batch", "seed", "shuffle", "optimizer", "early_stopping",
	"schedule", NULL
};
static const char *const cfg_stop_keys[] = {
	"monitor", "patience", "min_delta", "restore_best", NULL
};

/* The figures of an epoch that early stopping may watch. */
static const char *const cfg_figures[] = {
	[NN_FIG_LOSS] = "loss",
	[NN_FIG_ACCURACY] = "accuracy",
	[NN_FIG_VAL_LOSS] = "val_loss",
	[NN_FIG_VAL_ACCURACY] = "val_accuracy",
	[NN_FIG_TEST_LOSS] = "test_loss",
	[NN_FIG_TEST_ACCURACY] = "test_accuracy",
};
const char nn_figure_names[] = "val_loss, val_accuracy, test_loss, "
    "test_accuracy, loss, accuracy";

/* The keys of a source object, by format; cfg_keys_src is their union. */
static const char *const cfg_keys_fann[] = { "path", "format", NULL };
static const char *const cfg_keys_csv[] = {
	"path", "format", "header", "label", "targets", "inputs", "rows", NULL
};
static const char *const cfg_keys_idx[] = {
	"format", "images", "labels", NULL
};
static const char *const cfg_keys_gen[] = {
	"generate", "n", "inputs", "classes", "seed", "noise", NULL
};
static const char *const cfg_keys_cache[] = { "cache", NULL };
static const char *const cfg_keys_src[] = {
	"path", "format", "header", "label", "targets", "inputs", "rows",
	"images", "labels", "generate", "n", "classes", "seed", "noise",
	"cache", NULL
};
static const char cfg_format_names[] = "fann, csv, idx";

/* What "format" may name, and the file name endings that tell it. */
struct cfg_format_name {
	const char	*name;
	enum nn_format	 format;
};
static const struct cfg_format_name cfg_formats[] = {
	{ "fann", NN_FORMAT_FANN },
	{ "csv", NN_FORMAT_CSV },
	{ "idx", NN_FORMAT_IDX },
};
static const struct cfg_format_name cfg_format_exts[] = {
	{ ".data", NN_FORMAT_FANN },
	{ ".train", NN_FORMAT_FANN },
	{ ".test", NN_FORMAT_FANN },
	{ ".csv", NN_FORMAT_CSV },
};

/* The optimizer's numeric keys, which types use them and their ranges. */
enum cfg_range {
	CFG_POSITIVE,		/* > 0 */
	CFG_NONNEG,		/* >= 0 */
	CFG_UNIT_OPEN,		/* [0, 1) */
	CFG_OPEN_UNIT,		/* (0, 1) */
	CFG_ABOVE_ONE,		/* > 1 */
};

#define CFG_SGD		(1u << NN_OPTIM_SGD)
#define CFG_ADAM	(1u << NN_OPTIM_ADAM)
#define CFG_RPROP	(1u << NN_OPTIM_RPROP)
#define CFG_ADAMW	(1u << NN_OPTIM_ADAMW)

static const struct cfg_optkey {
	const char	*key;
	size_t		 off;
	unsigned	 types;
	enum cfg_range	 range;
} cfg_optkeys[] = {
	{ "lr", offsetof(struct nn_optim_spec, lr), CFG_SGD|CFG_ADAM|CFG_ADAMW,
	  CFG_POSITIVE },
	{ "momentum", offsetof(struct nn_optim_spec, momentum), CFG_SGD,
	  CFG_UNIT_OPEN },
	{ "beta1", offsetof(struct nn_optim_spec, beta1), CFG_ADAM|CFG_ADAMW,
	  CFG_UNIT_OPEN },
	{ "beta2", offsetof(struct nn_optim_spec, beta2), CFG_ADAM|CFG_ADAMW,
	  CFG_UNIT_OPEN },
	{ "eps", offsetof(struct nn_optim_spec, eps), CFG_ADAM|CFG_ADAMW,
	  CFG_POSITIVE },
	{ "weight_decay", offsetof(struct nn_optim_spec, weight_decay),
	  CFG_SGD|CFG_ADAM|CFG_RPROP|CFG_ADAMW, CFG_NONNEG },
	/* rprop steps by the gradient's sign: a norm means nothing to it. */
	{ "clip_norm", offsetof(struct nn_optim_spec, clip_norm),
	  CFG_SGD|CFG_ADAM|CFG_ADAMW, CFG_NONNEG },
	{ "eta_plus", offsetof(struct nn_optim_spec, eta_plus), CFG_RPROP,
	  CFG_ABOVE_ONE },
	{ "eta_minus", offsetof(struct nn_optim_spec, eta_minus), CFG_RPROP,
	  CFG_OPEN_UNIT },
	{ "delta0", offsetof(struct nn_optim_spec, delta0), CFG_RPROP,
	  CFG_POSITIVE },
	{ "delta_min", offsetof(struct nn_optim_spec, delta_min), CFG_RPROP,
	  CFG_POSITIVE },
	{ "delta_max", offsetof(struct nn_optim_spec, delta_max), CFG_RPROP,
	  CFG_POSITIVE },
};

static int	cfg_error(struct cfg_ctx *, const char *, const char *, ...)
		    NN_PRINTF(3, 4);

/* Sets the cause to "<file>: <jpath>: <message>" and returns -1. */
static int
cfg_error(struct cfg_ctx *c, const char *jp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nn_json_verror(c->cause, c->path, jp, fmt, ap);
	va_end(ap);
	return -1;
}

/* Writes the path of member key of parent into buf (CFG_JPATH_MAX bytes). */
static const char *
cfg_jp_key(char *buf, const char *parent, const char *key)
{
	char q[NN_QUOTE_BUF];
	const char *k;

	/* Keys we did not define may hold anything: quote those. */
	if (key[0] != '\0' && strspn(key, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key) &&
	    strlen(key) <= CFG_QUOTE_KEY)
		k = key;
	else
		k = nn_quote(q, key, CFG_QUOTE_KEY);
	if (parent[0] == '\0')
		snprintf(buf, CFG_JPATH_MAX, "%s", k);
	else
		snprintf(buf, CFG_JPATH_MAX, "%s.%s", parent, k);
	return buf;
}

/* Writes the path of element i of parent into buf (CFG_JPATH_MAX bytes). */
static const char *
cfg_jp_index(char *buf, const char *parent, size_t i)
{
	snprintf(buf, CFG_JPATH_MAX, "%s[%zu]", parent, i);
	return buf;
}

/*
 * Fails on the first member of obj not in keys. A key that only others
 * (a sibling variant, named by what) use gets "not used by what".
 */
static int
cfg_check_keys(struct cfg_ctx *c, json_t *obj, const char *jp,
    const char *const *keys, const char *const *others, const char *what)
{
	const struct nn_json_keys k = {
		.allowed = keys,
		.others = others,
		.what = what,
		.jp_key = cfg_jp_key,
	};

	return nn_json_check_keys(obj, &k, c->path, jp, c->cause);
}

/* Fails unless v is an object. */
static int
cfg_object(struct cfg_ctx *c, json_t *v, const char *jp)
{
	if (!json_is_object(v))
		return cfg_error(c, jp, "expected an object, got %s",
		    nn_json_type(v));
	return 0;
}

/* Reads an integer in [lo, hi]; a real with no fraction counts. */
static int
cfg_int(struct cfg_ctx *c, json_t *v, const char *jp, long long lo,
    long long hi, long long *out)
{
	long long n;
	double d;

	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_real(v)) {
		d = json_real_value(v);
		if (d != floor(d))
			return cfg_error(c, jp, "expected an integer, got %g",
			    d);
		/* Out of range reals must not reach the conversion. */
		if (d < (double)lo || d >= 9223372036854775808.0 ||
		    d > (double)hi)
			goto range_real;
		n = (long long)d;
	} else
		return cfg_error(c, jp, "expected an integer, got %s",
		    nn_json_type(v));
	if (n < lo || n > hi) {
		if (lo == hi)
			return cfg_error(c, jp, "expected %lld, got %lld", lo,
			    n);
		if (hi == LLONG_MAX)
			return cfg_error(c, jp, "expected an integer of at "
			    "least %lld, got %lld", lo, n);
		return cfg_error(c, jp, "expected an integer from %lld to "
		    "%lld, got %lld", lo, hi, n);
	}
	*out = n;
	return 0;

range_real:
	if (lo == hi)
		return cfg_error(c, jp, "expected %lld, got %g", lo,
		    json_real_value(v));
	if (hi == LLONG_MAX)
		return cfg_error(c, jp, "expected an integer of at least %lld, "
		    "got %g", lo, json_real_value(v));
	return cfg_error(c, jp, "expected an integer from %lld to %lld, "
	    "got %g", lo, hi, json_real_value(v));
}

/* Reads an integer in [lo, hi] that fits an int. */
static int
cfg_int32(struct cfg_ctx *c, json_t *v, const char *jp, int lo, int hi,
    int *out)
{
	long long n;

	if (cfg_int(c, v, jp, lo, hi, &n) != 0)
		return -1;
	*out = (int)n;
	return 0;
}

/* Reads a number. */
static int
cfg_number(struct cfg_ctx *c, json_t *v, const char *jp, double *out)
{
	if (!json_is_number(v))
		return cfg_error(c, jp, "expected a number, got %s",
		    nn_json_type(v));
	*out = json_number_value(v);
	return 0;
}

/* Reads a number that must be finite as a float. */
static int
cfg_float(struct cfg_ctx *c, json_t *v, const char *jp, float *out)
{
	double d = 0;

	if (cfg_number(c, v, jp, &d) != 0)
		return -1;
	if (!isfinite(d) || fabs(d) > FLT_MAX)
		return cfg_error(c, jp, "expected a number that fits a float, "
		    "got %g", d);
	*out = (float)d;
	return 0;
}

/* Reads a boolean. */
static int
cfg_bool(struct cfg_ctx *c, json_t *v, const char *jp, int *out)
{
	if (!json_is_boolean(v))
		return cfg_error(c, jp, "expected true or false, got %s",
		    nn_json_type(v));
	*out = json_is_true(v);
	return 0;
}

/* Reads a string without NUL bytes (borrowed from v). */
static int
cfg_string(struct cfg_ctx *c, json_t *v, const char *jp, const char **out)
{
	if (!json_is_string(v))
		return cfg_error(c, jp, "expected a string, got %s",
		    nn_json_type(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return cfg_error(c, jp, "contains a NUL character");
	*out = json_string_value(v);
	return 0;
}

/* The message for a name that is not one of names. */
static int
cfg_unknown(struct cfg_ctx *c, const char *jp, const char *s,
    const char *names)
{
	char q[NN_QUOTE_BUF];

	return cfg_error(c, jp, "unknown %s (expected %s)",
	    nn_quote(q, s, CFG_QUOTE_WORD), names);
}

/* Resolves p against dir unless it is absolute; caller frees. */
static char *
cfg_resolve(const char *dir, const char *p)
{
	size_t len;

	if (p[0] == '/' || dir == NULL || dir[0] == '\0')
		return xstrdup(p);
	len = strlen(dir);
	if (dir[len - 1] == '/')
		return xasprintf("%s%s", dir, p);
	return xasprintf("%s/%s", dir, p);
}

/* Reads the path at key of obj, resolves it and checks it can be opened. */
static int
cfg_file(struct cfg_ctx *c, json_t *obj, const char *jp, const char *key,
    const char *what, char **out)
{
	char kp[CFG_JPATH_MAX], q[NN_QUOTE_BUF], *path;
	const char *s;
	struct stat st;
	json_t *v;
	int fd, error = 0;

	cfg_jp_key(kp, jp, key);
	if ((v = json_object_get(obj, key)) == NULL)
		return cfg_error(c, kp, "missing (expected the path of %s)",
		    what);
	if (cfg_string(c, v, kp, &s) != 0)
		return -1;
	if (s[0] == '\0')
		return cfg_error(c, kp, "empty (expected the path of %s)",
		    what);
	path = cfg_resolve(c->dir, s);
	/* A missing file is the user's mistake: say so now, not mid-run.
	 * An agent's rows came with it: its sandbox may not reach the file. */
	if (c->shipped)
		error = 0;
	else if ((fd = open(path, O_RDONLY|O_CLOEXEC)) == -1)
		error = errno;
	else {
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			error = EISDIR;
		close(fd);
	}
	if (error != 0) {
		cfg_error(c, kp, "cannot open %s: %s",
		    nn_quote(q, path, CFG_QUOTE_PATH), strerror(error));
		free(path);
		return -1;
	}
	*out = path;
	return 0;
}

/* Finds s in a table of n names, ignoring case with fold; -1 if absent. */
static int
cfg_format_find(const struct cfg_format_name *t, size_t n, const char *s,
    int fold, enum nn_format *f)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((fold ? strcasecmp(s, t[i].name) : strcmp(s, t[i].name)) ==
		    0) {
			*f = t[i].format;
			return 0;
		}
	}
	return -1;
}

/* Parses one format name. */
static int
cfg_format_parse(const char *s, enum nn_format *f)
{
	return cfg_format_find(cfg_formats, CFG_NELEM(cfg_formats), s, 0, f);
}

/* The format a file name's extension implies, or -1. */
static int
cfg_format_of(const char *path, enum nn_format *f)
{
	const char *base, *dot;

	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	if ((dot = strrchr(base, '.')) == NULL)
		return -1;
	return cfg_format_find(cfg_format_exts, CFG_NELEM(cfg_format_exts),
	    dot, 1, f);
}

/* Picks the format of a source object from its keys and path. */
static int
cfg_src_format(struct cfg_ctx *c, json_t *obj, const char *jp,
    enum nn_format *f)
{
	char kp[CFG_JPATH_MAX], q[NN_QUOTE_BUF];
	const char *s;
	json_t *v;

	if (json_object_get(obj, "generate") != NULL) {
		*f = NN_FORMAT_GENERATE;
		return 0;
	}
	if (json_object_get(obj, "cache") != NULL) {
		*f = NN_FORMAT_CACHE;
		return 0;
	}
	if ((v = json_object_get(obj, "format")) != NULL) {
		cfg_jp_key(kp, jp, "format");
		if (cfg_string(c, v, kp, &s) != 0)
			return -1;
		if (cfg_format_parse(s, f) != 0)
			return cfg_unknown(c, kp, s, cfg_format_names);
		return 0;
	}
	if (json_object_get(obj, "images") != NULL ||
	    json_object_get(obj, "labels") != NULL) {
		*f = NN_FORMAT_IDX;
		return 0;
	}
	if ((v = json_object_get(obj, "path")) != NULL) {
		cfg_jp_key(kp, jp, "path");
		if (cfg_string(c, v, kp, &s) != 0)
			return -1;
		if (cfg_format_of(s, f) == 0)
			return 0;
		cfg_jp_key(kp, jp, "format");
		return cfg_error(c, kp, "missing, and the name %s does not "
		    "tell (expected %s; .data, .train and .test are fann, "
		    ".csv is csv)", nn_quote(q, s, CFG_QUOTE_PATH),
		    cfg_format_names);
	}
	return cfg_error(c, jp, "no data (expected \"path\", \"images\" and "
	    "\"labels\", \"generate\", or \"cache\")");
}

/*
 * Reads a non-empty array of distinct column numbers. used marks the
 * columns already taken (by the label or the targets), used_by names them.
 */
static int
cfg_columns(struct cfg_ctx *c, json_t *v, const char *jp,
    unsigned char *used, const char *used_by, int **out, int *nout)
{
	char ip[CFG_JPATH_MAX];
	size_t n, i;
	int *cols = NULL, col;

	if (!json_is_array(v))
		return cfg_error(c, jp, "expected an array of column numbers, "
		    "got %s", nn_json_type(v));
	n = json_array_size(v);
	if (n == 0 || n > NN_MAX_COLUMNS)
		return cfg_error(c, jp, "expected 1 to %d column numbers, got "
		    "%zu", NN_MAX_COLUMNS, n);
	cols = xreallocarray(NULL, n, sizeof *cols);
	for (i = 0; i < n; i++) {
		cfg_jp_index(ip, jp, i);
		if (cfg_int32(c, json_array_get(v, i), ip, 0,
		    NN_MAX_COLUMNS - 1, &col) != 0)
			goto fail;
		if (used[col] == 1) {
			cfg_error(c, ip, "column %d is also %s", col, used_by);
			goto fail;
		}
		if (used[col] == 2) {
			cfg_error(c, ip, "column %d appears twice", col);
			goto fail;
		}
		used[col] = 2;
		cols[i] = col;
	}
	*out = cols;
	*nout = (int)n;
	return 0;

fail:
	free(cols);
	return -1;
}

/* Reads "rows": [lo, hi] with 0 <= lo < hi. */
static int
cfg_rows(struct cfg_ctx *c, json_t *v, const char *jp, long *lo, long *hi)
{
	char ip[CFG_JPATH_MAX];
	long long a, b;

	if (!json_is_array(v))
		return cfg_error(c, jp, "expected [first, end], two integers, "
		    "got %s", nn_json_type(v));
	if (json_array_size(v) != 2)
		return cfg_error(c, jp, "expected [first, end], two integers, "
		    "got %zu items", json_array_size(v));
	if (cfg_int(c, json_array_get(v, 0), cfg_jp_index(ip, jp, 0), 0,
	    (long long)NN_MAX_ROWS - 1, &a) != 0)
		return -1;
	if (cfg_int(c, json_array_get(v, 1), cfg_jp_index(ip, jp, 1), 1,
	    (long long)NN_MAX_ROWS, &b) != 0)
		return -1;
	if (a >= b)
		return cfg_error(c, jp, "expected [first, end] with first < "
		    "end, got [%lld, %lld]", a, b);
	*lo = (long)a;
	*hi = (long)b;
	return 0;
}

/* The csv part of a source: columns, header and rows. */
static int
cfg_src_csv(struct cfg_ctx *c, json_t *obj, const char *jp,
    struct nn_source *src)
{
	char kp[CFG_JPATH_MAX];
	unsigned char *used = NULL;
	json_t *label, *targets, *v;
	const char *by = "the label";
	int rc = -1, i;

	if ((v = json_object_get(obj, "header")) != NULL &&
	    cfg_bool(c, v, cfg_jp_key(kp, jp, "header"), &src->header) != 0)
		goto out;
	label = json_object_get(obj, "label");
	targets = json_object_get(obj, "targets");
	if (label != NULL && targets != NULL) {
		cfg_error(c, cfg_jp_key(kp, jp, "targets"), "cannot be used "
		    "with label (expected label for classes or targets for "
		    "regression)");
		goto out;
	}
	if (label == NULL && targets == NULL) {
		cfg_error(c, cfg_jp_key(kp, jp, "label"), "missing (expected "
		    "label, the class column, or targets, the regression "
		    "columns)");
		goto out;
	}
	/* One mark per column finds repeats and overlaps in linear time. */
	used = xcalloc(NN_MAX_COLUMNS, 1);
	if (label != NULL) {
		if (cfg_int32(c, label, cfg_jp_key(kp, jp, "label"), 0,
		    NN_MAX_COLUMNS - 1, &src->label) != 0)
			goto out;
		used[src->label] = 1;
	} else {
		if (cfg_columns(c, targets, cfg_jp_key(kp, jp, "targets"),
		    used, "", &src->targets, &src->ntargets) != 0)
			goto out;
		for (i = 0; i < src->ntargets; i++)
			used[src->targets[i]] = 1;
		by = "a target";
	}
	if ((v = json_object_get(obj, "inputs")) != NULL &&
	    cfg_columns(c, v, cfg_jp_key(kp, jp, "inputs"), used, by,
	    &src->inputs, &src->ninputs) != 0)
		goto out;
	if ((v = json_object_get(obj, "rows")) != NULL &&
	    cfg_rows(c, v, cfg_jp_key(kp, jp, "rows"), &src->row_lo,
	    &src->row_hi) != 0)
		goto out;
	rc = 0;
out:
	free(used);
	return rc;
}

/* The generated part of a source, with each generator's defaults. */
static int
cfg_src_gen(struct cfg_ctx *c, json_t *obj, const char *jp,
    struct nn_source *src)
{
	char kp[CFG_JPATH_MAX];
	const char *s;
	long long n;
	int min_in = 1, max_in = NN_MAX_COLUMNS;
	int min_k = 2, max_k = NN_MAX_CLASSES;
	json_t *v;

	cfg_jp_key(kp, jp, "generate");
	if (cfg_string(c, json_object_get(obj, "generate"), kp, &s) != 0)
		return -1;
	if (nn_generator_parse(s, &src->gen) != 0)
		return cfg_unknown(c, kp, s, nn_generator_names);
	src->gen_n = 1000;
	src->gen_seed = 1;
	src->gen_noise = -1;
	switch (src->gen) {
	case NN_GEN_XOR:
		src->gen_inputs = 2;
		src->gen_classes = 2;
		min_in = 2;
		max_k = 2;
		break;
	case NN_GEN_SPIRAL:
		src->gen_inputs = 2;
		src->gen_classes = 3;
		min_in = max_in = 2;
		break;
	case NN_GEN_BLOBS:
		src->gen_inputs = 2;
		src->gen_classes = 3;
		break;
	case NN_GEN_PARITY:
		src->gen_inputs = 8;
		src->gen_classes = 2;
		max_k = 2;
		break;
	}
	if ((v = json_object_get(obj, "n")) != NULL) {
		if (cfg_int(c, v, cfg_jp_key(kp, jp, "n"), 1,
		    (long long)NN_MAX_ROWS, &n) != 0)
			return -1;
		src->gen_n = (long)n;
	}
	if ((v = json_object_get(obj, "inputs")) != NULL &&
	    cfg_int32(c, v, cfg_jp_key(kp, jp, "inputs"), min_in, max_in,
	    &src->gen_inputs) != 0)
		return -1;
	if ((v = json_object_get(obj, "classes")) != NULL &&
	    cfg_int32(c, v, cfg_jp_key(kp, jp, "classes"), min_k, max_k,
	    &src->gen_classes) != 0)
		return -1;
	if ((v = json_object_get(obj, "seed")) != NULL) {
		if (cfg_int(c, v, cfg_jp_key(kp, jp, "seed"), 0, LLONG_MAX,
		    &n) != 0)
			return -1;
		src->gen_seed = (uint64_t)n;
	}
	if ((v = json_object_get(obj, "noise")) != NULL) {
		cfg_jp_key(kp, jp, "noise");
		if (cfg_number(c, v, kp, &src->gen_noise) != 0)
			return -1;
		if (src->gen_noise != -1 && !(src->gen_noise >= 0 &&
		    src->gen_noise <= CFG_MAX_NOISE))
			return cfg_error(c, kp, "expected a number from 0 to "
			    "%g, or -1 for the generator's default, got %g",
			    CFG_MAX_NOISE, src->gen_noise);
	}
	return 0;
}

/* The name of a cached set (docs/data-cache.md). */
static int
cfg_src_cache(struct cfg_ctx *c, json_t *obj, const char *jp,
    struct nn_source *src)
{
	char kp[CFG_JPATH_MAX], q[NN_QUOTE_BUF];
	const char *s;

	cfg_jp_key(kp, jp, "cache");
	if (cfg_string(c, json_object_get(obj, "cache"), kp, &s) != 0)
		return -1;
	if (!nn_data_name_ok(s))
		return cfg_error(c, kp, "bad set name %s (expected 1 to %d "
		    "characters of A-Z a-z 0-9 . _ -, not starting with . "
		    "or -)", nn_quote(q, s, CFG_QUOTE_PATH), NN_DATA_NAME_MAX);
	src->name = xstrdup(s);
	return 0;
}

/* Reads data.train or data.test into src. */
static int
cfg_source(struct cfg_ctx *c, json_t *obj, const char *jp,
    struct nn_source *src)
{
	const char *const *keys;
	const char *what;
	enum nn_format f;

	src->jpath = xstrdup(jp);
	src->label = -1;
	src->row_lo = src->row_hi = -1;
	if (cfg_object(c, obj, jp) != 0 || cfg_src_format(c, obj, jp, &f) != 0)
		return -1;
	src->format = f;
	switch (f) {
	case NN_FORMAT_FANN:
		keys = cfg_keys_fann;
		what = "format fann";
		break;
	case NN_FORMAT_CSV:
		keys = cfg_keys_csv;
		what = "format csv";
		break;
	case NN_FORMAT_IDX:
		keys = cfg_keys_idx;
		what = "format idx";
		break;
	case NN_FORMAT_CACHE:
		keys = cfg_keys_cache;
		what = "a cached set";
		break;
	case NN_FORMAT_GENERATE:
	default:
		keys = cfg_keys_gen;
		what = "generated data";
		break;
	}
	if (cfg_check_keys(c, obj, jp, keys, cfg_keys_src, what) != 0)
		return -1;
	switch (f) {
	case NN_FORMAT_FANN:
		return cfg_file(c, obj, jp, "path", "a FANN data file",
		    &src->path);
	case NN_FORMAT_CSV:
		if (cfg_file(c, obj, jp, "path", "a CSV file", &src->path) != 0)
			return -1;
		return cfg_src_csv(c, obj, jp, src);
	case NN_FORMAT_IDX:
		if (cfg_file(c, obj, jp, "images", "an idx image file",
		    &src->images) != 0)
			return -1;
		return cfg_file(c, obj, jp, "labels", "an idx label file",
		    &src->labels);
	case NN_FORMAT_GENERATE:
		return cfg_src_gen(c, obj, jp, src);
	case NN_FORMAT_CACHE:
		return cfg_src_cache(c, obj, jp, src);
	}
	return 0;
}

/*
 * Reads data.validation (a source) or data.validation_split (a fraction of
 * the training rows): the rows early stopping and a sweep's select may
 * look at, kept apart from the test set.
 */
static int
cfg_validation(struct cfg_ctx *c, json_t *obj, struct nn_config *cfg)
{
	json_t *v = json_object_get(obj, "validation");
	json_t *f = json_object_get(obj, "validation_split");

	if (v == NULL && f == NULL)
		return 0;
	if (v != NULL && f != NULL)
		return cfg_error(c, "data.validation_split", "cannot be used "
		    "with data.validation (expected one of them)");
	/* The cached rows were split and normalised when they were put. */
	if (cfg->train_src.format == NN_FORMAT_CACHE)
		return cfg_error(c, v != NULL ? "data.validation" :
		    "data.validation_split", "cannot be used with a cached "
		    "data.train (give the data files)");
	if (f != NULL) {
		if (cfg_number(c, f, "data.validation_split",
		    &cfg->val_split) != 0)
			return -1;
		if (!(cfg->val_split > 0 && cfg->val_split < 1))
			return cfg_error(c, "data.validation_split", "expected "
			    "a number between 0 and 1 (the fraction of the "
			    "training rows held out), got %g", cfg->val_split);
		return 0;
	}
	if (cfg_source(c, v, "data.validation", &cfg->val_src) != 0)
		return -1;
	if (cfg->val_src.format == NN_FORMAT_CACHE)
		return cfg_error(c, "data.validation", "a cached set goes in "
		    "data.train (expected a file or generated data)");
	cfg->has_val = 1;
	return 0;
}

/* Reads the "data" section. */
static int
cfg_data(struct cfg_ctx *c, json_t *obj, struct nn_config *cfg)
{
	const char *s;
	json_t *v, *test;

	if (obj == NULL)
		return cfg_error(c, "data", "missing (expected an object with "
		    "train)");
	if (cfg_object(c, obj, "data") != 0 ||
	    cfg_check_keys(c, obj, "data", cfg_data_keys, NULL, NULL) != 0)
		return -1;
	if ((v = json_object_get(obj, "train")) == NULL)
		return cfg_error(c, "data.train", "missing (expected an "
		    "object naming the training data)");
	if (cfg_source(c, v, "data.train", &cfg->train_src) != 0)
		return -1;
	test = json_object_get(obj, "test");
	/* A set was split and normalised when it was put. */
	if (cfg->train_src.format == NN_FORMAT_CACHE) {
		if (json_object_get(obj, "split") != NULL)
			return cfg_error(c, "data.split", "cannot be used with "
			    "a cached data.train (the set was split when it "
			    "was put)");
		if (json_object_get(obj, "normalize") != NULL)
			return cfg_error(c, "data.normalize", "cannot be used "
			    "with a cached data.train (the set was normalised "
			    "when it was put)");
		if (test != NULL)
			return cfg_error(c, "data.test", "cannot be used with "
			    "a cached data.train (the set's own test table is "
			    "used when it has one)");
	}
	if ((v = json_object_get(obj, "split")) != NULL) {
		if (test != NULL)
			return cfg_error(c, "data.split", "cannot be used with "
			    "data.test (expected one of them)");
		if (cfg_number(c, v, "data.split", &cfg->split) != 0)
			return -1;
		if (!(cfg->split > 0 && cfg->split < 1))
			return cfg_error(c, "data.split", "expected a number "
			    "between 0 and 1 (the test fraction), got %g",
			    cfg->split);
	}
	if (test != NULL) {
		if (cfg_source(c, test, "data.test", &cfg->test_src) != 0)
			return -1;
		if (cfg->test_src.format == NN_FORMAT_CACHE)
			return cfg_error(c, "data.test", "a cached set goes in "
			    "data.train (its test table comes with it)");
		cfg->has_test = 1;
	}
	if ((v = json_object_get(obj, "normalize")) != NULL) {
		if (cfg_string(c, v, "data.normalize", &s) != 0)
			return -1;
		if (nn_norm_parse(s, &cfg->normalize) != 0)
			return cfg_unknown(c, "data.normalize", s,
			    nn_norm_names);
	}
	return cfg_validation(c, obj, cfg);
}

/* Reads one numeric optimizer key and checks its range. */
static int
cfg_optkey(struct cfg_ctx *c, json_t *v, const char *jp,
    const struct cfg_optkey *k, struct nn_optim_spec *spec)
{
	float *f = (float *)((char *)spec + k->off);
	const char *want = NULL;

	if (cfg_float(c, v, jp, f) != 0)
		return -1;
	switch (k->range) {
	case CFG_POSITIVE:
		if (!(*f > 0))
			want = "a number > 0";
		break;
	case CFG_NONNEG:
		if (!(*f >= 0))
			want = "a number >= 0";
		break;
	case CFG_UNIT_OPEN:
		if (!(*f >= 0 && *f < 1))
			want = "a number from 0 to below 1";
		break;
	case CFG_OPEN_UNIT:
		if (!(*f > 0 && *f < 1))
			want = "a number between 0 and 1";
		break;
	case CFG_ABOVE_ONE:
		if (!(*f > 1))
			want = "a number > 1";
		break;
	}
	if (want != NULL)
		return cfg_error(c, jp, "expected %s, got %g", want,
		    json_number_value(v));
	return 0;
}

/* The keys an optimizer type accepts, for cfg_check_keys. */
static void
cfg_optim_keys(enum nn_optim_type t, const char **keys, const char **all)
{
	size_t i, n = 0, m = 0;

	keys[n++] = "type";
	all[m++] = "type";
	if (t == NN_OPTIM_SGD)
		keys[n++] = "nesterov";
	all[m++] = "nesterov";
	for (i = 0; i < CFG_NELEM(cfg_optkeys); i++) {
		if (cfg_optkeys[i].types & (1u << t))
			keys[n++] = cfg_optkeys[i].key;
		all[m++] = cfg_optkeys[i].key;
	}
	keys[n] = all[m] = NULL;
}

/* Reads train.optimizer: a type name or an object with a type. */
static int
cfg_optim(struct cfg_ctx *c, json_t *v, struct nn_optim_spec *spec)
{
	const char *keys[CFG_NELEM(cfg_optkeys) + 3];
	const char *all[CFG_NELEM(cfg_optkeys) + 3];
	const char *jp = "train.optimizer", *s, *what;
	char kp[CFG_JPATH_MAX];
	enum nn_optim_type t;
	json_t *tv, *kv;
	size_t i;

	if (json_is_string(v)) {
		if (cfg_string(c, v, jp, &s) != 0)
			return -1;
		if (nn_optim_parse(s, &t) != 0)
			return cfg_unknown(c, jp, s, nn_optim_names);
		nn_optim_spec_default(spec, t);
		return 0;
	}
	if (!json_is_object(v))
		return cfg_error(c, jp, "expected a name (%s) or an object "
		    "with a type, got %s", nn_optim_names, nn_json_type(v));
	cfg_jp_key(kp, jp, "type");
	if ((tv = json_object_get(v, "type")) == NULL)
		return cfg_error(c, kp, "missing (expected %s)",
		    nn_optim_names);
	if (cfg_string(c, tv, kp, &s) != 0)
		return -1;
	if (nn_optim_parse(s, &t) != 0)
		return cfg_unknown(c, kp, s, nn_optim_names);
	nn_optim_spec_default(spec, t);
	cfg_optim_keys(t, keys, all);
	what = nn_optim_name(t);
	if (cfg_check_keys(c, v, jp, keys, all, what) != 0)
		return -1;
	for (i = 0; i < CFG_NELEM(cfg_optkeys); i++) {
		if ((kv = json_object_get(v, cfg_optkeys[i].key)) == NULL)
			continue;
		if (cfg_optkey(c, kv, cfg_jp_key(kp, jp, cfg_optkeys[i].key),
		    &cfg_optkeys[i], spec) != 0)
			return -1;
	}
	if ((kv = json_object_get(v, "nesterov")) != NULL) {
		cfg_jp_key(kp, jp, "nesterov");
		if (cfg_bool(c, kv, kp, &spec->nesterov) != 0)
			return -1;
		if (spec->nesterov && !(spec->momentum > 0))
			return cfg_error(c, kp, "needs momentum > 0 (expected "
			    "momentum in (0, 1) or nesterov false)");
	}
	if (t == NN_OPTIM_RPROP && !(spec->delta_min <= spec->delta0 &&
	    spec->delta0 <= spec->delta_max))
		return cfg_error(c, jp, "expected delta_min <= delta0 <= "
		    "delta_max, got delta_min %g, delta0 %g, delta_max %g",
		    (double)spec->delta_min,
		    (double)spec->delta0, (double)spec->delta_max);
	return 0;
}

/* Reads train.early_stopping; every key has a default. */
static int
cfg_stop(struct cfg_ctx *c, json_t *obj, struct nn_stop_spec *sp)
{
	const char *jp = "train.early_stopping", *s;
	char kp[CFG_JPATH_MAX];
	json_t *v;

	sp->on = 1;
	sp->monitor = NN_FIG_VAL_LOSS;
	sp->patience = 5;
	sp->min_delta = 0;
	sp->restore_best = 0;
	if (cfg_object(c, obj, jp) != 0 ||
	    cfg_check_keys(c, obj, jp, cfg_stop_keys, NULL, NULL) != 0)
		return -1;
	if ((v = json_object_get(obj, "monitor")) != NULL) {
		cfg_jp_key(kp, jp, "monitor");
		if (cfg_string(c, v, kp, &s) != 0)
			return -1;
		if (nn_figure_parse(s, &sp->monitor) != 0)
			return cfg_unknown(c, kp, s, nn_figure_names);
	}
	if ((v = json_object_get(obj, "patience")) != NULL &&
	    cfg_int32(c, v, cfg_jp_key(kp, jp, "patience"), 1, NN_MAX_EPOCHS,
	    &sp->patience) != 0)
		return -1;
	if ((v = json_object_get(obj, "min_delta")) != NULL) {
		cfg_jp_key(kp, jp, "min_delta");
		if (cfg_number(c, v, kp, &sp->min_delta) != 0)
			return -1;
		if (!(sp->min_delta >= 0))
			return cfg_error(c, kp, "expected a number >= 0, got "
			    "%g", sp->min_delta);
	}
	if ((v = json_object_get(obj, "restore_best")) != NULL &&
	    cfg_bool(c, v, cfg_jp_key(kp, jp, "restore_best"),
	    &sp->restore_best) != 0)
		return -1;
	return 0;
}

/*
 * The monitored figure must exist in every epoch: validation or test rows
 * for those figures, one network for the whole run (data mode's
 * partitions would each decide alone). Accuracy needs classes, which
 * only the data tells (nn_prepare checks it).
 */
static int
cfg_stop_check(struct cfg_ctx *c, const struct nn_config *cfg)
{
	const struct nn_stop_spec *sp = &cfg->train.stop;
	const char *kp = "train.early_stopping.monitor", *mode;

	if (!sp->on)
		return 0;
	mode = json_string_value(json_object_get(json_object_get(cfg->root,
	    "parallel"), "mode"));
	if (mode != NULL && strcmp(mode, "data") == 0)
		return cfg_error(c, "train.early_stopping", "not used in data "
		    "mode (use session mode, or drop it)");
	if ((sp->monitor == NN_FIG_VAL_LOSS ||
	    sp->monitor == NN_FIG_VAL_ACCURACY) && !nn_config_has_validation(cfg))
		return cfg_error(c, kp, "\"%s\" needs validation data "
		    "(data.validation or data.validation_split)",
		    nn_figure_name(sp->monitor));
	if ((sp->monitor == NN_FIG_TEST_LOSS ||
	    sp->monitor == NN_FIG_TEST_ACCURACY) && !cfg->has_test &&
	    !(cfg->split > 0) && cfg->train_src.format != NN_FORMAT_CACHE)
		return cfg_error(c, kp, "\"%s\" needs test data (data.test or "
		    "data.split)", nn_figure_name(sp->monitor));
	return 0;
}

const char *
nn_figure_name(enum nn_figure f)
{
	return (size_t)f < CFG_NELEM(cfg_figures) ? cfg_figures[f] : "?";
}

int
nn_figure_parse(const char *s, enum nn_figure *f)
{
	size_t i;

	for (i = 0; i < CFG_NELEM(cfg_figures); i++) {
		if (strcmp(s, cfg_figures[i]) == 0) {
			*f = (enum nn_figure)i;
			return 0;
		}
	}
	return -1;
}

int
nn_figure_maximize(enum nn_figure f)
{
	return f == NN_FIG_ACCURACY || f == NN_FIG_VAL_ACCURACY ||
	    f == NN_FIG_TEST_ACCURACY;
}

int
nn_config_has_validation(const struct nn_config *cfg)
{
	return cfg->has_val || cfg->val_split > 0;
}


/* The schedule's keys, which types take them, and their limits. */
#define CFG_SCHED(t)	(1u << NN_SCHED_##t)
#define CFG_SCHED_ALL	(CFG_SCHED(CONSTANT)|CFG_SCHED(STEP)|\
			 CFG_SCHED(COSINE)|CFG_SCHED(PLATEAU))

static const struct cfg_schedkey {
	const char	*key;
	size_t		 off;
	unsigned	 types;
	int		 integer;	/* else a float */
	double		 lo, hi;	/* inclusive; hi_open: below hi */
	int		 hi_open;
	const char	*want;
} cfg_schedkeys[] = {
	{ "warmup", offsetof(struct nn_schedule_spec, warmup), CFG_SCHED_ALL,
	  1, 0, NN_MAX_EPOCHS, 0, "an integer from 0 to 10000000 (epochs)" },
	{ "every", offsetof(struct nn_schedule_spec, every), CFG_SCHED(STEP),
	  1, 1, NN_MAX_EPOCHS, 0, "an integer from 1 to 10000000 (epochs)" },
	{ "gamma", offsetof(struct nn_schedule_spec, gamma), CFG_SCHED(STEP),
	  0, 0, 1, 1, "a number from 0 to below 1" },
	{ "min_lr", offsetof(struct nn_schedule_spec, min_lr),
	  CFG_SCHED(COSINE)|CFG_SCHED(PLATEAU), 0, 0, INFINITY, 1,
	  "a number >= 0" },
	{ "factor", offsetof(struct nn_schedule_spec, factor),
	  CFG_SCHED(PLATEAU), 0, 0, 1, 1, "a number from 0 to below 1" },
	{ "patience", offsetof(struct nn_schedule_spec, patience),
	  CFG_SCHED(PLATEAU), 1, 0, NN_MAX_EPOCHS, 0,
	  "an integer from 0 to 10000000 (epochs)" },
	{ "threshold", offsetof(struct nn_schedule_spec, threshold),
	  CFG_SCHED(PLATEAU), 0, 0, 1, 1, "a number from 0 to below 1" },
};

/* Reads one schedule key into spec. */
static int
cfg_schedkey(struct cfg_ctx *c, json_t *v, const char *jp,
    const struct cfg_schedkey *k, struct nn_schedule_spec *spec)
{
	double d = 0;
	int i;

	if (k->integer) {
		if (cfg_int32(c, v, jp, (int)k->lo, (int)k->hi, &i) != 0)
			return -1;
		*(int *)((char *)spec + k->off) = i;
		return 0;
	}
	if (cfg_number(c, v, jp, &d) != 0)
		return -1;
	if (!(d >= k->lo && (k->hi_open ? d < k->hi : d <= k->hi)))
		return cfg_error(c, jp, "expected %s, got %g", k->want, d);
	*(float *)((char *)spec + k->off) = (float)d;
	return 0;
}

/*
 * Reads train.schedule: a type name or an object with a type. Needs the
 * optimizer and epochs already read.
 */
static int
cfg_schedule(struct cfg_ctx *c, json_t *v, struct nn_train_spec *ts)
{
	const char *keys[CFG_NELEM(cfg_schedkeys) + 2];
	const char *all[CFG_NELEM(cfg_schedkeys) + 2];
	const char *jp = "train.schedule", *s;
	struct nn_schedule_spec *spec = &ts->schedule;
	char kp[CFG_JPATH_MAX];
	enum nn_sched_type t;
	size_t i, n = 0;
	json_t *tv, *kv;

	tv = json_is_object(v) ? json_object_get(v, "type") : v;
	cfg_jp_key(kp, jp, "type");
	if (json_is_object(v) && tv == NULL)
		return cfg_error(c, kp, "missing (expected %s)",
		    nn_schedule_names);
	if (!json_is_string(tv))
		return cfg_error(c, json_is_object(v) ? kp : jp, "expected "
		    "a name (%s)%s, got %s", nn_schedule_names,
		    json_is_object(v) ? "" : " or an object with a type",
		    nn_json_type(tv));
	s = json_string_value(tv);
	if (nn_schedule_parse(s, &t) != 0)
		return cfg_unknown(c, json_is_object(v) ? kp : jp, s,
		    nn_schedule_names);
	nn_schedule_spec_default(spec, t);
	if (json_is_object(v)) {
		keys[n] = all[n] = "type";
		n++;
		for (i = 0; i < CFG_NELEM(cfg_schedkeys); i++)
			all[i + 1] = cfg_schedkeys[i].key;
		all[i + 1] = NULL;
		for (i = 0; i < CFG_NELEM(cfg_schedkeys); i++) {
			if (cfg_schedkeys[i].types & (1u << t))
				keys[n++] = cfg_schedkeys[i].key;
		}
		keys[n] = NULL;
		if (cfg_check_keys(c, v, jp, keys, all,
		    nn_schedule_name(t)) != 0)
			return -1;
		for (i = 0; i < CFG_NELEM(cfg_schedkeys); i++) {
			if ((kv = json_object_get(v,
			    cfg_schedkeys[i].key)) == NULL)
				continue;
			if (cfg_schedkey(c, kv, cfg_jp_key(kp, jp,
			    cfg_schedkeys[i].key), &cfg_schedkeys[i],
			    spec) != 0)
				return -1;
		}
	}
	if (t != NN_SCHED_CONSTANT && ts->optim.type == NN_OPTIM_RPROP)
		return cfg_error(c, jp, "rprop has no learning rate to "
		    "schedule (expected no schedule, or sgd, adam or adamw)");
	/* Cosine anneals over the epochs after the warmup. */
	if (spec->warmup >= ts->epochs && t == NN_SCHED_COSINE)
		return cfg_error(c, "train.schedule.warmup", "%d epochs leave "
		    "none of train.epochs (%d) to anneal (expected fewer)",
		    spec->warmup, ts->epochs);
	if (spec->min_lr > ts->optim.lr)
		return cfg_error(c, "train.schedule.min_lr", "%g is above "
		    "the optimizer's lr %g (expected at most lr)",
		    (double)spec->min_lr, (double)ts->optim.lr);
	return 0;
}

/* Reads the "train" section; every key has a default. */
static int
cfg_train(struct cfg_ctx *c, json_t *obj, struct nn_train_spec *ts)
{
	long long seed;
	json_t *v;

	ts->epochs = 10;
	ts->batch = 32;
	ts->seed = 1;
	ts->shuffle = 1;
	ts->shards = 1;
	nn_optim_spec_default(&ts->optim, NN_OPTIM_SGD);
	nn_schedule_spec_default(&ts->schedule, NN_SCHED_CONSTANT);
	if (obj == NULL)
		return 0;
	if (cfg_object(c, obj, "train") != 0 ||
	    cfg_check_keys(c, obj, "train", cfg_train_keys, NULL, NULL) != 0)
		return -1;
	if ((v = json_object_get(obj, "epochs")) != NULL &&
	    cfg_int32(c, v, "train.epochs", 1, NN_MAX_EPOCHS,
	    &ts->epochs) != 0)
		return -1;
	if ((v = json_object_get(obj, "batch")) != NULL &&
	    cfg_int32(c, v, "train.batch", 1, NN_MAX_BATCH, &ts->batch) != 0)
		return -1;
	if ((v = json_object_get(obj, "seed")) != NULL) {
		if (cfg_int(c, v, "train.seed", 0, LLONG_MAX, &seed) != 0)
			return -1;
		ts->seed = (uint64_t)seed;
	}
	if ((v = json_object_get(obj, "shuffle")) != NULL &&
	    cfg_bool(c, v, "train.shuffle", &ts->shuffle) != 0)
		return -1;
	if ((v = json_object_get(obj, "optimizer")) != NULL &&
	    cfg_optim(c, v, &ts->optim) != 0)
		return -1;
	if ((v = json_object_get(obj, "early_stopping")) != NULL &&
	    cfg_stop(c, v, &ts->stop) != 0)
		return -1;
	if ((v = json_object_get(obj, "schedule")) != NULL &&
	    cfg_schedule(c, v, ts) != 0)
		return -1;
	return 0;
}

/*
 * Reads the shards of the "parallel" section: partitions in data mode, one
 * otherwise. nnsim submit checks the rest of the section (job.c).
 */
static int
cfg_parallel(struct cfg_ctx *c, json_t *obj, struct nn_train_spec *ts)
{
	const char *mode;
	json_t *v;

	ts->shards = 1;
	if (obj == NULL)
		return 0;
	if (cfg_object(c, obj, "parallel") != 0)
		return -1;
	mode = json_string_value(json_object_get(obj, "mode"));
	if (mode == NULL || strcmp(mode, "data") != 0)
		return 0;
	if ((v = json_object_get(obj, "partitions")) == NULL)
		return cfg_error(c, "parallel.partitions", "missing (expected "
		    "an integer from 1 to %d in data mode)",
		    NN_MAX_PARTITIONS);
	/* Strictly a JSON integer (not 2.0), with one message for all. */
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > NN_MAX_PARTITIONS) {
		if (json_is_number(v))
			return cfg_error(c, "parallel.partitions", "expected "
			    "an integer from 1 to %d, got %g",
			    NN_MAX_PARTITIONS, json_number_value(v));
		return cfg_error(c, "parallel.partitions", "expected an "
		    "integer from 1 to %d, got %s", NN_MAX_PARTITIONS,
		    nn_json_type(v));
	}
	ts->shards = (int)json_integer_value(v);
	/* Every partition takes at least one row of each global batch. */
	if (ts->shards > ts->batch)
		return cfg_error(c, "parallel.partitions", "%d is more than "
		    "train.batch (%d)", ts->shards, ts->batch);
	return 0;
}

/* Reads a layer's "dropout": a rate, and none on the output layer. */
static int
cfg_dropout(struct cfg_ctx *c, json_t *v, const char *jp, int last,
    float *out)
{
	double d = 0;

	if (cfg_number(c, v, jp, &d) != 0)
		return -1;
	if (!(d >= 0 && d < 1))
		return cfg_error(c, jp, "expected a number from 0 to below 1, "
		    "got %g", d);
	if (last && d > 0)
		return cfg_error(c, jp, "the output layer drops nothing "
		    "(expected 0 or no dropout on the last layer)");
	*out = (float)d;
	return 0;
}

/* Reads "layers"; the last layer may leave its units to the data. */
static int
cfg_layers(struct cfg_ctx *c, json_t *arr, struct nn_config *cfg)
{
	char jp[CFG_JPATH_MAX], kp[CFG_JPATH_MAX];
	struct nn_layer_spec *ls;
	const char *s;
	size_t n, i;
	json_t *obj, *v;
	int last;

	if (arr == NULL)
		return cfg_error(c, "layers", "missing (expected an array of "
		    "1 to %d layers)", NN_MAX_LAYERS);
	if (!json_is_array(arr))
		return cfg_error(c, "layers", "expected an array of layers, "
		    "got %s", nn_json_type(arr));
	n = json_array_size(arr);
	if (n < 1 || n > NN_MAX_LAYERS)
		return cfg_error(c, "layers", "expected 1 to %d layers, got "
		    "%zu", NN_MAX_LAYERS, n);
	for (i = 0; i < n; i++) {
		cfg_jp_index(jp, "layers", i);
		obj = json_array_get(arr, i);
		if (cfg_object(c, obj, jp) != 0 ||
		    cfg_check_keys(c, obj, jp, cfg_layer_keys, NULL,
		    NULL) != 0)
			return -1;
		last = i == n - 1;
		ls = &cfg->arch.layer[i];
		ls->units = 0;
		ls->act = last ? NN_ACT_LINEAR : NN_ACT_RELU;
		/* Measured never worse than auto (docs/init.md). */
		ls->init = NN_INIT_TORCH;
		cfg_jp_key(kp, jp, "units");
		if ((v = json_object_get(obj, "units")) != NULL) {
			if (cfg_int32(c, v, kp, 1, NN_MAX_UNITS,
			    &ls->units) != 0)
				return -1;
			if (last)
				cfg->output_given = 1;
		} else if (!last)
			return cfg_error(c, kp, "missing (expected an integer "
			    "from 1 to %d; only the last layer may leave it "
			    "to the data)", NN_MAX_UNITS);
		if ((v = json_object_get(obj, "activation")) != NULL) {
			cfg_jp_key(kp, jp, "activation");
			if (cfg_string(c, v, kp, &s) != 0)
				return -1;
			if (nn_act_parse(s, &ls->act) != 0)
				return cfg_unknown(c, kp, s, nn_act_names);
		}
		if ((v = json_object_get(obj, "init")) != NULL) {
			cfg_jp_key(kp, jp, "init");
			if (cfg_string(c, v, kp, &s) != 0)
				return -1;
			if (nn_init_parse(s, &ls->init) != 0)
				return cfg_unknown(c, kp, s, nn_init_names);
		}
		if ((v = json_object_get(obj, "dropout")) != NULL &&
		    cfg_dropout(c, v, cfg_jp_key(kp, jp, "dropout"), last,
		    &ls->dropout) != 0)
			return -1;
	}
	cfg->arch.nlayers = (int)n;
	return 0;
}

/* Reads "name": a short label used in file names and messages. */
static int
cfg_name(struct cfg_ctx *c, json_t *v, char **out)
{
	char q[NN_QUOTE_BUF];
	const char *s;
	size_t len, i;

	if (cfg_string(c, v, "name", &s) != 0)
		return -1;
	len = strlen(s);
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			break;
	}
	if (len == 0 || len > CFG_NAME_MAX || i < len)
		return cfg_error(c, "name", "expected 1 to %d characters "
		    "without \"/\" or control characters, got %s",
		    CFG_NAME_MAX, nn_quote(q, s, CFG_QUOTE_WORD));
	*out = xstrdup(s);
	return 0;
}

/* The file name of path without its last extension; caller frees. */
static char *
cfg_stem(const char *path)
{
	const char *base, *dot;
	size_t n;
	char *s;

	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	dot = strrchr(base, '.');
	n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
	if (n == 0)
		return xstrdup("net");
	s = xmalloc(n + 1);
	memcpy(s, base, n);
	s[n] = '\0';
	return s;
}

/*
 * Validates root and fills a new configuration. The configuration holds its
 * own reference to root; the caller keeps (and drops) its own. Relative data
 * paths are resolved against dir, or left as they are when dir is NULL.
 */
static struct nn_config *cfg_parse(json_t *, const char *, const char *,
    int, char **);

struct nn_config *
nn_config_parse(json_t *root, const char *path, const char *dir,
    char **cause)
{
	return cfg_parse(root, path, dir, 0, cause);
}

struct nn_config *
nn_config_parse_shipped(json_t *root, const char *path, char **cause)
{
	return cfg_parse(root, path, NULL, 1, cause);
}

static struct nn_config *
cfg_parse(json_t *root, const char *path, const char *dir, int shipped,
    char **cause)
{
	struct nn_config *cfg;
	struct nn_arch arch;
	struct cfg_ctx c;
	const char *s;
	char *why = NULL;
	json_t *v;
	long long n;

	if (path == NULL)
		path = "net.json";
	c.path = path;
	c.dir = dir;
	c.cause = cause;
	c.shipped = shipped;
	cfg = xcalloc(1, sizeof *cfg);
	cfg->path = xstrdup(path);
	cfg->dir = dir != NULL ? xstrdup(dir) : NULL;
	cfg->normalize = NN_NORM_NONE;
	cfg->root = json_incref(root);

	if (root == NULL || !json_is_object(root)) {
		cfg_error(&c, NULL, "expected a JSON object at the top level, "
		    "got %s", root == NULL ? "nothing" : nn_json_type(root));
		goto fail;
	}
	if (cfg_check_keys(&c, root, "", cfg_top_keys, NULL, NULL) != 0)
		goto fail;

	if ((v = json_object_get(root, "name")) != NULL) {
		if (cfg_name(&c, v, &cfg->name) != 0)
			goto fail;
	} else
		cfg->name = cfg_stem(path);

	if ((v = json_object_get(root, "input")) != NULL) {
		if (cfg_int(&c, v, "input", 1, NN_MAX_UNITS, &n) != 0)
			goto fail;
		cfg->arch.input = (int)n;
		cfg->input_given = 1;
	}
	if (cfg_layers(&c, json_object_get(root, "layers"), cfg) != 0)
		goto fail;

	/* Softmax outputs are class probabilities: cross-entropy fits. */
	if (cfg->arch.layer[cfg->arch.nlayers - 1].act == NN_ACT_SOFTMAX)
		cfg->arch.loss = NN_LOSS_CROSS_ENTROPY;
	else
		cfg->arch.loss = NN_LOSS_MSE;
	if ((v = json_object_get(root, "loss")) != NULL) {
		if (cfg_string(&c, v, "loss", &s) != 0)
			goto fail;
		if (nn_loss_parse(s, &cfg->arch.loss) != 0) {
			cfg_unknown(&c, "loss", s, nn_loss_names);
			goto fail;
		}
	}
	cfg->arch.leaky_slope = 0.01f;
	if ((v = json_object_get(root, "leaky_slope")) != NULL) {
		if (cfg_float(&c, v, "leaky_slope",
		    &cfg->arch.leaky_slope) != 0)
			goto fail;
		if (!(cfg->arch.leaky_slope >= 0 &&
		    cfg->arch.leaky_slope < 1)) {
			cfg_error(&c, "leaky_slope", "expected a number from 0 "
			    "to below 1, got %g", json_number_value(v));
			goto fail;
		}
	}

	if (cfg_data(&c, json_object_get(root, "data"), cfg) != 0)
		goto fail;
	if (cfg_train(&c, json_object_get(root, "train"), &cfg->train) != 0)
		goto fail;
	if (cfg_parallel(&c, json_object_get(root, "parallel"),
	    &cfg->train) != 0)
		goto fail;
	if (cfg_stop_check(&c, cfg) != 0)
		goto fail;

	/*
	 * Check the pairing of loss and output now. Stand-ins for what the
	 * data will give are the smallest sizes that pass, so they cannot
	 * cause an error of their own; nn_config_fit_data checks again.
	 */
	arch = cfg->arch;
	if (!cfg->input_given)
		arch.input = 1;
	if (!cfg->output_given)
		arch.layer[arch.nlayers - 1].units = 2;
	if (nn_arch_check(&arch, &why) != 0) {
		cfg_error(&c, NULL, "%s", why);
		goto fail;
	}
	return cfg;

fail:
	free(why);
	nn_config_free(cfg);
	return NULL;
}


/* The absolute folder holding path, so data paths survive a chdir. */
static char *
cfg_dir_of(const char *path)
{
	char *copy, *slash, *dir, cwd[PATH_MAX];

	copy = xstrdup(path);
	if ((slash = strrchr(copy, '/')) == NULL) {
		free(copy);
		copy = xstrdup(".");
	} else if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (copy[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		return copy;
	if (strcmp(copy, ".") == 0)
		dir = xstrdup(cwd);
	else if (strncmp(copy, "./", 2) == 0)
		dir = cfg_resolve(cwd, copy + 2);
	else
		dir = cfg_resolve(cwd, copy);
	free(copy);
	return dir;
}

/* Reads, parses and validates the net.json at path; NULL with cause. */
struct nn_config *
nn_config_load(const char *path, char **cause)
{
	return nn_config_load_edit(path, NULL, NULL, cause);
}

struct nn_config *
nn_config_load_edit(const char *path, nn_config_edit_fn *edit, void *arg,
    char **cause)
{
	struct nn_config *cfg;
	json_t *root;
	char *dir;

	if ((root = nn_json_load_file(path, NN_MAX_CONFIG, cause)) == NULL)
		return NULL;
	if (edit != NULL && edit(root, arg, cause) != 0) {
		json_decref(root);
		return NULL;
	}
	dir = cfg_dir_of(path);
	cfg = nn_config_parse(root, path, dir, cause);
	json_decref(root);
	free(dir);
	return cfg;
}

/* Frees a configuration; NULL is fine. */
void
nn_config_free(struct nn_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->dir);
	free(cfg->name);
	nn_source_clear(&cfg->train_src);
	nn_source_clear(&cfg->test_src);
	nn_source_clear(&cfg->val_src);
	json_decref(cfg->root);
	free(cfg);
}

/*
 * Takes the input width and output units from the training data where
 * net.json left them out, checks them where it did not, then checks the
 * whole architecture. Leaves cfg unchanged on failure.
 */
int
nn_config_fit_data(struct nn_config *cfg, const struct nn_data *d,
    char **cause)
{
	struct nn_arch arch = cfg->arch;
	struct nn_layer_spec *out;
	const char *src;
	char *why = NULL;
	int last;

	src = cfg->train_src.jpath != NULL ? cfg->train_src.jpath :
	    "data.train";
	if (arch.nlayers < 1 || arch.nlayers > NN_MAX_LAYERS)
		fatal("nn_config_fit_data: %d layers", arch.nlayers);
	last = arch.nlayers - 1;
	out = &arch.layer[last];
	if (d->in < 1 || d->in > NN_MAX_UNITS)
		return nn_fail(cause, "%s: %s: %d input columns (expected 1 "
		    "to %d)", cfg->path, src, d->in, NN_MAX_UNITS);
	if (d->out < 1 || d->out > NN_MAX_UNITS)
		return nn_fail(cause, "%s: %s: %d outputs (expected 1 to %d)",
		    cfg->path, src, d->out, NN_MAX_UNITS);
	if (cfg->input_given && arch.input != d->in)
		return nn_fail(cause, "%s: input: %d but %s has %d input "
		    "columns", cfg->path, arch.input, src, d->in);
	if (cfg->output_given && out->units != d->out)
		return nn_fail(cause, "%s: layers[%d].units: %d but %s has %d "
		    "outputs", cfg->path, last, out->units, src, d->out);
	arch.input = d->in;
	out->units = d->out;
	if (nn_arch_check(&arch, &why) != 0) {
		nn_fail(cause, "%s: %s", cfg->path, why);
		free(why);
		return -1;
	}
	cfg->arch = arch;
	return 0;
}

/*
 * A JSON real holding the shortest decimal that reads back as f, so that
 * 0.1f is written "0.1" and not "0.100000001". New reference; f finite.
 */
json_t *
nn_json_real32(float f)
{
	char	s[64];
	int	digits;

	for (digits = 1; digits < 9; digits++) {
		snprintf(s, sizeof s, "%.*g", digits, (double)f);
		if (strtof(s, NULL) == f)
			return json_real(strtod(s, NULL));
	}
	return json_real((double)f);
}

/* train.early_stopping with every key (new reference). */
static json_t *
cfg_stop_json(const struct nn_stop_spec *sp)
{
	return json_pack("{s:s, s:i, s:f, s:b}", "monitor",
	    nn_figure_name(sp->monitor), "patience", sp->patience,
	    "min_delta", sp->min_delta, "restore_best", sp->restore_best);
}

/*
 * The effective train section, with every optimizer key that applies to its
 * type; nn_config_parse reads it back to the same values. New reference.
 */
/* train.schedule as net.json would say it, every key of its type. */
static json_t *
nn_schedule_spec_json(const struct nn_schedule_spec *s)
{
	const struct cfg_schedkey *k;
	const char *at;
	json_t *o;
	size_t i;

	o = json_object();
	json_object_set_new(o, "type", json_string(nn_schedule_name(s->type)));
	for (i = 0; i < CFG_NELEM(cfg_schedkeys); i++) {
		k = &cfg_schedkeys[i];
		if ((k->types & (1u << s->type)) == 0)
			continue;
		at = (const char *)s + k->off;
		json_object_set_new(o, k->key, k->integer ?
		    json_integer(*(const int *)at) :
		    nn_json_real32(*(const float *)at));
	}
	return o;
}

json_t *
nn_train_spec_json(const struct nn_train_spec *ts)
{
	const struct nn_optim_spec *o = &ts->optim;
	json_t *train, *opt;
	size_t i;

	opt = json_object();
	json_object_set_new(opt, "type",
	    json_string(nn_optim_name(o->type)));
	for (i = 0; i < CFG_NELEM(cfg_optkeys); i++) {
		if ((cfg_optkeys[i].types & (1u << o->type)) == 0)
			continue;
		json_object_set_new(opt, cfg_optkeys[i].key, nn_json_real32(
		    *(const float *)((const char *)o + cfg_optkeys[i].off)));
	}
	if (o->type == NN_OPTIM_SGD)
		json_object_set_new(opt, "nesterov",
		    json_boolean(o->nesterov));
	train = json_object();
	json_object_set_new(train, "epochs", json_integer(ts->epochs));
	json_object_set_new(train, "batch", json_integer(ts->batch));
	/* net.json cannot hold a seed above INT64_MAX, so this is exact. */
	json_object_set_new(train, "seed", json_integer((json_int_t)ts->seed));
	json_object_set_new(train, "shuffle", json_boolean(ts->shuffle));
	json_object_set_new(train, "optimizer", opt);
	if (ts->stop.on)
		json_object_set_new(train, "early_stopping",
		    cfg_stop_json(&ts->stop));
	json_object_set_new(train, "schedule",
	    nn_schedule_spec_json(&ts->schedule));
	return train;
}
