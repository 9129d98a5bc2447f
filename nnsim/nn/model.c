/*
 * The model file; docs/model-format.md gives the byte layout. Decoding
 * checks every length against the limits before it allocates, and checks
 * the SHA-256 before it believes anything in the header.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/le.h"
#include "nn/config.h"
#include "nn/model.h"

#define MODEL_FORMAT		"nnsim-model"
#define MODEL_MAGIC_LEN		8
#define MODEL_MAX_PARAM_BYTES	(4 * (uint64_t)NN_MAX_PARAMS)
/*
 * Sorted keys and compact output make the header a function of the model
 * alone, so equal models give equal files. Nine significant digits bring
 * every float32 back exactly.
 */
#define MODEL_JSON_FLAGS \
	(JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9))

/* Where decoding errors go: "what: header.field: message". */
struct model_dec {
	const char	*what;
	char		**cause;
};

/* SHA-256 of n bytes into md; fails only if OpenSSL cannot provide it. */
static int
model_sha256(const unsigned char *p, size_t n, unsigned char *md)
{
	unsigned int mdlen = 0;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != NN_MODEL_DIGEST)
		return -1;
	return 0;
}

static json_t *
model_real_array(const float *f, int n)
{
	json_t	*a = json_array();
	int	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, nn_json_real32(f[i]));
	return a;
}

/*
 * Enum names that read back as the same value, or NULL: the name functions
 * answer something like "?" for a value they do not know.
 */
static const char *
model_act_name(enum nn_act v)
{
	const char	*s = nn_act_name(v);
	enum nn_act	 back;

	return s != NULL && nn_act_parse(s, &back) == 0 && back == v ? s : NULL;
}

/* An init name that reads back, or NULL. */
static const char *
model_init_name(enum nn_init v)
{
	const char	*s = nn_init_name(v);
	enum nn_init	 back;

	return s != NULL && nn_init_parse(s, &back) == 0 && back == v ? s :
	    NULL;
}

/* A loss name that reads back, or NULL. */
static const char *
model_loss_name(enum nn_loss v)
{
	const char	*s = nn_loss_name(v);
	enum nn_loss	 back;

	return s != NULL && nn_loss_parse(s, &back) == 0 && back == v ? s :
	    NULL;
}

/* A normalisation kind name that reads back, or NULL. */
static const char *
model_norm_name(enum nn_norm_kind v)
{
	const char		*s = nn_norm_name(v);
	enum nn_norm_kind	 back;

	return s != NULL && nn_norm_parse(s, &back) == 0 && back == v ? s :
	    NULL;
}

/*
 * Checks what the header carries besides the architecture. prefix starts
 * each message: "" when encoding, "model.nnm: header." when decoding.
 */
static int
model_check_meta(const struct nn_model *m, const struct nn_arch *a,
    const char *prefix, char **cause)
{
	int	i, out = nn_arch_outputs(a);

	if (!isfinite(a->leaky_slope))
		return nn_fail(cause, "%sarch.leaky_slope: not a finite number",
		    prefix);
	if (m->task != NN_TASK_REGRESSION && m->task != NN_TASK_CLASSIFICATION)
		return nn_fail(cause, "%stask: unknown value %d", prefix,
		    (int)m->task);
	if (m->nclasses < 0 || m->nclasses > NN_MAX_CLASSES)
		return nn_fail(cause, "%snclasses: %d out of range (0 to %d)",
		    prefix, m->nclasses, NN_MAX_CLASSES);
	if (m->task == NN_TASK_CLASSIFICATION) {
		if (!isfinite(m->lo) || !isfinite(m->hi))
			return nn_fail(cause, "%stargets: lo and hi must be "
			    "finite numbers", prefix);
		/* One sigmoid output can carry two classes. */
		if (m->nclasses != 0 && m->nclasses != out &&
		    !(out == 1 && m->nclasses == 2))
			return nn_fail(cause, "%snclasses: %d classes do not "
			    "match %d outputs", prefix, m->nclasses, out);
	}
	if (m->classes != NULL) {
		if (m->nclasses == 0)
			return nn_fail(cause, "%sclasses: names given but "
			    "nclasses is 0", prefix);
		for (i = 0; i < m->nclasses; i++) {
			if (m->classes[i] == NULL)
				return nn_fail(cause, "%sclasses[%d]: missing",
				    prefix, i);
		}
	}
	if (model_norm_name(m->norm.kind) == NULL)
		return nn_fail(cause, "%snormalize.kind: unknown value %d",
		    prefix, (int)m->norm.kind);
	if (m->norm.kind != NN_NORM_NONE) {
		if (m->norm.in != a->input || m->norm.shift == NULL ||
		    m->norm.scale == NULL)
			return nn_fail(cause, "%snormalize: %d inputs, the "
			    "network has %d", prefix, m->norm.in, a->input);
		for (i = 0; i < m->norm.in; i++) {
			if (!isfinite(m->norm.shift[i]))
				return nn_fail(cause, "%snormalize.shift[%d]: "
				    "not a finite number", prefix, i);
			if (!isfinite(m->norm.scale[i]))
				return nn_fail(cause, "%snormalize.scale[%d]: "
				    "not a finite number", prefix, i);
		}
	}
	if (m->train != NULL && !json_is_object(m->train))
		return nn_fail(cause, "%strain: expected an object", prefix);
	if (m->layout != NULL && !json_is_object(m->layout))
		return nn_fail(cause, "%slayout: expected an object", prefix);
	if (m->metrics != NULL && !json_is_object(m->metrics))
		return nn_fail(cause, "%smetrics: expected an object", prefix);
	return 0;
}

/* The "arch" object; NULL with cause when an enum has no name. */
static json_t *
model_arch_json(const struct nn_arch *a, char **cause)
{
	json_t		*arch, *layers, *l;
	const char	*act, *init, *loss;
	int		 i;

	if ((loss = model_loss_name(a->loss)) == NULL) {
		nn_fail(cause, "arch.loss: unknown value %d", (int)a->loss);
		return NULL;
	}
	layers = json_array();
	for (i = 0; i < a->nlayers; i++) {
		act = model_act_name(a->layer[i].act);
		init = model_init_name(a->layer[i].init);
		if (act == NULL || init == NULL) {
			nn_fail(cause, "arch.layers[%d]: unknown %s value %d",
			    i, act == NULL ? "activation" : "init",
			    act == NULL ? (int)a->layer[i].act :
			    (int)a->layer[i].init);
			json_decref(layers);
			return NULL;
		}
		l = json_object();
		json_object_set_new(l, "units", json_integer(a->layer[i].units));
		json_object_set_new(l, "activation", json_string(act));
		json_object_set_new(l, "init", json_string(init));
		/* How it trained; only written when used, as older models. */
		if (a->layer[i].dropout > 0)
			json_object_set_new(l, "dropout",
			    nn_json_real32(a->layer[i].dropout));
		json_array_append_new(layers, l);
	}
	arch = json_object();
	json_object_set_new(arch, "input", json_integer(a->input));
	json_object_set_new(arch, "layers", layers);
	json_object_set_new(arch, "loss", json_string(loss));
	json_object_set_new(arch, "leaky_slope", nn_json_real32(a->leaky_slope));
	return arch;
}

/* The JSON header of a checked model; new reference, or NULL with cause. */
static json_t *
model_header(const struct nn_model *m, const struct nn_arch *a,
    size_t nparams, char **cause)
{
	json_t	*h = NULL, *arch, *v, *classes;
	int	 i;

	if ((arch = model_arch_json(a, cause)) == NULL)
		goto fail;
	h = json_object();
	json_object_set_new(h, "format", json_string(MODEL_FORMAT));
	json_object_set_new(h, "version", json_integer(NN_MODEL_VERSION));
	json_object_set_new(h, "arch", arch);
	json_object_set_new(h, "params", json_integer((json_int_t)nparams));
	if (m->name == NULL)
		v = json_null();
	else if ((v = json_string(m->name)) == NULL) {
		nn_fail(cause, "name: not valid UTF-8");
		goto fail;
	}
	json_object_set_new(h, "name", v);

	if (m->task == NN_TASK_CLASSIFICATION) {
		json_object_set_new(h, "task", json_string("classification"));
		v = json_object();
		json_object_set_new(v, "lo", nn_json_real32(m->lo));
		json_object_set_new(v, "hi", nn_json_real32(m->hi));
		json_object_set_new(h, "targets", v);
	} else {
		json_object_set_new(h, "task", json_string("regression"));
		json_object_set_new(h, "targets", json_null());
	}
	json_object_set_new(h, "nclasses", json_integer(m->nclasses));
	if (m->classes == NULL)
		json_object_set_new(h, "classes", json_null());
	else {
		/* h owns the array from here, so the fail path frees it. */
		classes = json_array();
		json_object_set_new(h, "classes", classes);
		for (i = 0; i < m->nclasses; i++) {
			if ((v = json_string(m->classes[i])) == NULL) {
				nn_fail(cause, "classes[%d]: not valid UTF-8",
				    i);
				goto fail;
			}
			json_array_append_new(classes, v);
		}
	}

	v = json_object();
	json_object_set_new(v, "kind",
	    json_string(model_norm_name(m->norm.kind)));
	if (m->norm.kind != NN_NORM_NONE) {
		json_object_set_new(v, "shift",
		    model_real_array(m->norm.shift, m->norm.in));
		json_object_set_new(v, "scale",
		    model_real_array(m->norm.scale, m->norm.in));
	}
	json_object_set_new(h, "normalize", v);

	/* json_object_set takes its own reference; null stands for none. */
	json_object_set(h, "train", m->train != NULL ? m->train : json_null());
	json_object_set(h, "layout", m->layout != NULL ? m->layout :
	    json_null());
	json_object_set(h, "metrics", m->metrics != NULL ? m->metrics :
	    json_null());
	return h;

fail:
	json_decref(h);
	return NULL;
}

/* An empty regression model without a network; caller frees. */
struct nn_model *
nn_model_new(void)
{
	struct nn_model	*m = xcalloc(1, sizeof *m);

	m->norm.kind = NN_NORM_NONE;
	m->task = NN_TASK_REGRESSION;
	return m;
}

/* Frees the model and everything it owns; NULL is a no-op. */
void
nn_model_free(struct nn_model *m)
{
	int	i;

	if (m == NULL)
		return;
	free(m->name);
	nn_net_free(m->net);
	free(m->norm.shift);
	free(m->norm.scale);
	if (m->classes != NULL) {
		for (i = 0; i < m->nclasses; i++)
			free(m->classes[i]);
		free(m->classes);
	}
	json_decref(m->train);
	json_decref(m->layout);
	json_decref(m->metrics);
	free(m);
}

/* Serialises a model into a new buffer (caller frees); -1 with cause. */
int
nn_model_encode(const struct nn_model *m, unsigned char **buf, size_t *len,
    char **cause)
{
	const struct nn_arch	*a;
	json_t			*h = NULL;
	char			*text = NULL, *c = NULL;
	unsigned char		*b = NULL, *p;
	const float		*params;
	uint32_t		 u;
	size_t			 n, i, hlen, total;
	int			 rv = -1;

	*buf = NULL;
	*len = 0;
	if (m->net == NULL) {
		nn_fail(cause, "model has no network");
		goto out;
	}
	a = nn_net_arch(m->net);
	if (nn_arch_check(a, &c) != 0) {
		nn_fail(cause, "arch: %s", c);
		goto out;
	}
	if (model_check_meta(m, a, "", cause) != 0)
		goto out;
	params = nn_net_params(m->net, &n);
	if ((h = model_header(m, a, n, cause)) == NULL)
		goto out;
	if ((text = json_dumps(h, MODEL_JSON_FLAGS)) == NULL) {
		nn_fail(cause, "cannot encode the model header");
		goto out;
	}
	hlen = strlen(text);
	if (hlen > NN_MODEL_MAX_HEADER) {
		nn_fail(cause, "model header is %zu bytes (limit %d)", hlen,
		    NN_MODEL_MAX_HEADER);
		goto out;
	}
	if (n > NN_MAX_PARAMS || n > (SIZE_MAX - NN_MODEL_PREFIX -
	    NN_MODEL_DIGEST - hlen) / 4) {
		nn_fail(cause, "%zu parameters are too many for a model file",
		    n);
		goto out;
	}
	total = NN_MODEL_PREFIX + hlen + 4 * n + NN_MODEL_DIGEST;

	b = xmalloc(total);
	memcpy(b, NN_MODEL_MAGIC, MODEL_MAGIC_LEN);
	nn_le_put_u32(b + 8, NN_MODEL_VERSION);
	nn_le_put_u32(b + 12, (uint32_t)hlen);
	nn_le_put_u64(b + 16, (uint64_t)n * 4);
	memcpy(b + NN_MODEL_PREFIX, text, hlen);
	/* Byte by byte, so that the file is little-endian on any host. */
	p = b + NN_MODEL_PREFIX + hlen;
	for (i = 0; i < n; i++) {
		memcpy(&u, &params[i], sizeof u);
		nn_le_put_u32(p + 4 * i, u);
	}
	if (model_sha256(b, total - NN_MODEL_DIGEST,
	    b + total - NN_MODEL_DIGEST) != 0) {
		nn_fail(cause, "SHA-256 is not available from OpenSSL");
		goto out;
	}
	*buf = b;
	*len = total;
	b = NULL;
	rv = 0;

out:
	free(b);
	free(text);
	free(c);
	json_decref(h);
	return rv;
}

/* Fails with "what: header.prefix.key: message"; returns -1. */
static int NN_PRINTF(4, 5)
model_bad(struct model_dec *d, const char *prefix, const char *key,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	nn_fail(d->cause, "%s: header%s%s%s%s: %s", d->what,
	    *prefix != '\0' ? "." : "", prefix, key != NULL ? "." : "",
	    key != NULL ? key : "", msg);
	free(msg);
	return -1;
}

/* An integer member in [lo, hi]; -1 with cause when missing or outside. */
static int
model_int(struct model_dec *d, json_t *obj, const char *prefix,
    const char *key, long long lo, long long hi, long long *v)
{
	json_t	*j = json_object_get(obj, key);

	if (j == NULL)
		return model_bad(d, prefix, key, "missing");
	if (!json_is_integer(j) || json_integer_value(j) < lo ||
	    json_integer_value(j) > hi)
		return model_bad(d, prefix, key,
		    "expected an integer from %lld to %lld", lo, hi);
	*v = json_integer_value(j);
	return 0;
}

/* A number that is finite as a float32. */
static int
model_float_value(json_t *j, float *v)
{
	double	x;

	if (!json_is_number(j))
		return -1;
	x = json_number_value(j);
	/* Converting a double beyond the float range is undefined. */
	if (!isfinite(x) || fabs(x) > FLT_MAX)
		return -1;
	*v = (float)x;
	return 0;
}

/* A float32 member; -1 with cause when missing or not finite. */
static int
model_float(struct model_dec *d, json_t *obj, const char *prefix,
    const char *key, float *v)
{
	json_t	*j = json_object_get(obj, key);

	if (j == NULL)
		return model_bad(d, prefix, key, "missing");
	if (model_float_value(j, v) != 0)
		return model_bad(d, prefix, key, "expected a finite number");
	return 0;
}

/* A string member; *v is borrowed from obj. */
static int
model_string(struct model_dec *d, json_t *obj, const char *prefix,
    const char *key, const char **v)
{
	json_t	*j = json_object_get(obj, key);

	if (j == NULL)
		return model_bad(d, prefix, key, "missing");
	if (!json_is_string(j))
		return model_bad(d, prefix, key, "expected a string");
	*v = json_string_value(j);
	return 0;
}

/* An array of exactly n floats into a new array (caller frees). */
static int
model_floats(struct model_dec *d, json_t *obj, const char *prefix,
    const char *key, int n, float **v)
{
	json_t	*j = json_object_get(obj, key);
	float	*f;
	char	 item[64];
	int	 i;

	*v = NULL;
	if (!json_is_array(j) || json_array_size(j) != (size_t)n)
		return model_bad(d, prefix, key, "expected an array of %d "
		    "numbers", n);
	f = xreallocarray(NULL, n, sizeof *f);
	for (i = 0; i < n; i++) {
		if (model_float_value(json_array_get(j, i), &f[i]) != 0) {
			free(f);
			snprintf(item, sizeof item, "%s[%d]", key, i);
			return model_bad(d, prefix, item, "expected a finite "
			    "number");
		}
	}
	*v = f;
	return 0;
}

/* An object or null member (missing reads as null); new reference. */
static int
model_object(struct model_dec *d, json_t *obj, const char *key, json_t **v)
{
	json_t	*j = json_object_get(obj, key);

	*v = NULL;
	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return model_bad(d, "", key, "expected an object or null");
	*v = json_incref(j);
	return 0;
}

/* header.arch into a, checked by nn_arch_check. */
static int
model_arch_parse(struct model_dec *d, json_t *root, struct nn_arch *a)
{
	json_t		*arch, *layers, *l;
	const char	*s;
	char		 prefix[64], *c = NULL;
	long long	 v;
	size_t		 i;

	memset(a, 0, sizeof *a);
	arch = json_object_get(root, "arch");
	if (!json_is_object(arch))
		return model_bad(d, "", "arch", "expected an object");
	if (model_int(d, arch, "arch", "input", 1, NN_MAX_UNITS, &v) != 0)
		return -1;
	a->input = (int)v;
	layers = json_object_get(arch, "layers");
	if (!json_is_array(layers) || json_array_size(layers) == 0 ||
	    json_array_size(layers) > NN_MAX_LAYERS)
		return model_bad(d, "arch", "layers", "expected an array of "
		    "1 to %d layers", NN_MAX_LAYERS);
	json_array_foreach(layers, i, l) {
		snprintf(prefix, sizeof prefix, "arch.layers[%zu]", i);
		if (!json_is_object(l))
			return model_bad(d, prefix, NULL,
			    "expected an object");
		if (model_int(d, l, prefix, "units", 1, NN_MAX_UNITS, &v) != 0)
			return -1;
		a->layer[i].units = (int)v;
		if (model_string(d, l, prefix, "activation", &s) != 0)
			return -1;
		if (nn_act_parse(s, &a->layer[i].act) != 0)
			return model_bad(d, prefix, "activation",
			    "unknown \"%s\" (expected %s)", s, nn_act_names);
		if (model_string(d, l, prefix, "init", &s) != 0)
			return -1;
		if (nn_init_parse(s, &a->layer[i].init) != 0)
			return model_bad(d, prefix, "init",
			    "unknown \"%s\" (expected %s)", s, nn_init_names);
		if (json_object_get(l, "dropout") != NULL &&
		    model_float(d, l, prefix, "dropout",
		    &a->layer[i].dropout) != 0)
			return -1;
	}
	a->nlayers = (int)json_array_size(layers);
	if (model_string(d, arch, "arch", "loss", &s) != 0)
		return -1;
	if (nn_loss_parse(s, &a->loss) != 0)
		return model_bad(d, "arch", "loss", "unknown \"%s\" (expected "
		    "%s)", s, nn_loss_names);
	if (model_float(d, arch, "arch", "leaky_slope", &a->leaky_slope) != 0)
		return -1;
	if (nn_arch_check(a, &c) != 0) {
		model_bad(d, "arch", NULL, "%s", c);
		free(c);
		return -1;
	}
	return 0;
}

/* The class names, when given, into m; nclasses is already set. */
static int
model_classes_parse(struct model_dec *d, json_t *root, struct nn_model *m)
{
	json_t		*j = json_object_get(root, "classes"), *v;
	char		 prefix[32];
	size_t		 i;

	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_array(j) || json_array_size(j) != (size_t)m->nclasses)
		return model_bad(d, "", "classes", "expected null or an array "
		    "of %d names (nclasses)", m->nclasses);
	m->classes = xcalloc(m->nclasses, sizeof *m->classes);
	json_array_foreach(j, i, v) {
		if (!json_is_string(v)) {
			snprintf(prefix, sizeof prefix, "classes[%zu]", i);
			return model_bad(d, prefix, NULL, "expected a string");
		}
		m->classes[i] = xstrdup(json_string_value(v));
	}
	return 0;
}

/* header.normalize into m->norm; the arrays have one entry per input. */
static int
model_norm_parse(struct model_dec *d, json_t *root, int input,
    struct nn_model *m)
{
	json_t		*j = json_object_get(root, "normalize");
	const char	*s;

	if (!json_is_object(j))
		return model_bad(d, "", "normalize", "expected an object");
	if (model_string(d, j, "normalize", "kind", &s) != 0)
		return -1;
	if (nn_norm_parse(s, &m->norm.kind) != 0)
		return model_bad(d, "normalize", "kind", "unknown \"%s\" "
		    "(expected %s)", s, nn_norm_names);
	if (m->norm.kind == NN_NORM_NONE)
		return 0;
	m->norm.in = input;
	if (model_floats(d, j, "normalize", "shift", input,
	    &m->norm.shift) != 0)
		return -1;
	return model_floats(d, j, "normalize", "scale", input, &m->norm.scale);
}

/*
 * Builds a model from a checksummed header whose parameter block holds
 * nfloats floats; the network's parameters are left zero.
 */
static struct nn_model *
model_from_header(struct model_dec *d, json_t *root, uint64_t nfloats)
{
	struct nn_model	*m = NULL;
	struct nn_arch	 arch;
	json_t		*j;
	const char	*s;
	char		*prefix = NULL;
	long long	 v;
	size_t		 nparams;
	int		 ok = 0;

	if (!json_is_object(root)) {
		model_bad(d, "", NULL, "expected an object");
		goto out;
	}
	if (model_string(d, root, "", "format", &s) != 0)
		goto out;
	if (strcmp(s, MODEL_FORMAT) != 0) {
		model_bad(d, "", "format", "expected \"%s\", found \"%s\"",
		    MODEL_FORMAT, s);
		goto out;
	}
	if (model_int(d, root, "", "version", NN_MODEL_VERSION,
	    NN_MODEL_VERSION, &v) != 0)
		goto out;
	if (model_arch_parse(d, root, &arch) != 0)
		goto out;
	nparams = nn_arch_nparams(&arch);
	if (model_int(d, root, "", "params", 0, NN_MAX_PARAMS, &v) != 0)
		goto out;
	if ((size_t)v != nparams) {
		model_bad(d, "", "params", "%lld does not match the "
		    "architecture (%zu parameters)", v, nparams);
		goto out;
	}
	if (nfloats != nparams) {
		nn_fail(d->cause, "%s: parameter block holds %llu floats, the "
		    "architecture needs %zu", d->what,
		    (unsigned long long)nfloats, nparams);
		goto out;
	}

	m = nn_model_new();
	j = json_object_get(root, "name");
	if (j == NULL) {
		model_bad(d, "", "name", "missing");
		goto out;
	}
	if (json_is_string(j))
		m->name = xstrdup(json_string_value(j));
	else if (!json_is_null(j)) {
		model_bad(d, "", "name", "expected a string or null");
		goto out;
	}

	if (model_string(d, root, "", "task", &s) != 0)
		goto out;
	if (strcmp(s, "classification") == 0) {
		m->task = NN_TASK_CLASSIFICATION;
		j = json_object_get(root, "targets");
		if (!json_is_object(j)) {
			model_bad(d, "", "targets", "expected an object");
			goto out;
		}
		if (model_float(d, j, "targets", "lo", &m->lo) != 0 ||
		    model_float(d, j, "targets", "hi", &m->hi) != 0)
			goto out;
	} else if (strcmp(s, "regression") == 0)
		m->task = NN_TASK_REGRESSION;
	else {
		model_bad(d, "", "task", "unknown \"%s\" (expected "
		    "classification, regression)", s);
		goto out;
	}

	if (model_int(d, root, "", "nclasses", 0, NN_MAX_CLASSES, &v) != 0)
		goto out;
	m->nclasses = (int)v;
	if (model_classes_parse(d, root, m) != 0)
		goto out;
	if (model_norm_parse(d, root, arch.input, m) != 0)
		goto out;
	if (model_object(d, root, "train", &m->train) != 0 ||
	    model_object(d, root, "layout", &m->layout) != 0 ||
	    model_object(d, root, "metrics", &m->metrics) != 0)
		goto out;

	prefix = xasprintf("%s: header.", d->what);
	if (model_check_meta(m, &arch, prefix, d->cause) != 0)
		goto out;
	if ((m->net = nn_net_new(&arch, NN_MODEL_BATCH)) == NULL) {
		nn_fail(d->cause, "%s: cannot create the network", d->what);
		goto out;
	}
	ok = 1;

out:
	free(prefix);
	if (!ok) {
		nn_model_free(m);
		return NULL;
	}
	return m;
}

/* Parses a model from len bytes; NULL with a cause that starts with what. */
struct nn_model *
nn_model_decode(const unsigned char *buf, size_t len, const char *what,
    char **cause)
{
	struct model_dec	 d;
	struct nn_model		*m = NULL;
	json_t			*root = NULL;
	json_error_t		 err;
	const unsigned char	*p;
	unsigned char		 md[NN_MODEL_DIGEST];
	uint64_t		 hlen, plen, total;
	uint32_t		 version, u;
	float			*params;
	size_t			 n, i;

	d.what = what != NULL ? what : "model";
	d.cause = cause;

	/* A short prefix of the magic is a truncated file, not a stranger. */
	if (len > 0 && memcmp(buf, NN_MODEL_MAGIC, len < MODEL_MAGIC_LEN ?
	    len : MODEL_MAGIC_LEN) != 0) {
		nn_fail(cause, "%s: not an nnsim model (bad magic)", d.what);
		goto out;
	}
	if (len < NN_MODEL_PREFIX) {
		nn_fail(cause, "%s: truncated (expected at least %d bytes, "
		    "found %zu)", d.what, NN_MODEL_PREFIX, len);
		goto out;
	}
	version = nn_le_get_u32(buf + 8);
	if (version != NN_MODEL_VERSION) {
		nn_fail(cause, "%s: version %u not supported (expected %d)",
		    d.what, version, NN_MODEL_VERSION);
		goto out;
	}
	hlen = nn_le_get_u32(buf + 12);
	if (hlen > NN_MODEL_MAX_HEADER) {
		nn_fail(cause, "%s: header length %llu too large (limit %d)",
		    d.what, (unsigned long long)hlen, NN_MODEL_MAX_HEADER);
		goto out;
	}
	plen = nn_le_get_u64(buf + 16);
	if (plen > MODEL_MAX_PARAM_BYTES || plen % 4 != 0) {
		nn_fail(cause, "%s: parameter length %llu invalid (a multiple "
		    "of 4 up to %llu)", d.what, (unsigned long long)plen,
		    (unsigned long long)MODEL_MAX_PARAM_BYTES);
		goto out;
	}
	/* Both lengths are bounded, so the sum cannot overflow. */
	total = NN_MODEL_PREFIX + hlen + plen + NN_MODEL_DIGEST;
	if (len < total) {
		nn_fail(cause, "%s: truncated (expected %llu bytes, found %zu)",
		    d.what, (unsigned long long)total, len);
		goto out;
	}
	if (len > total) {
		nn_fail(cause, "%s: trailing bytes after the checksum "
		    "(expected %llu bytes, found %zu)", d.what,
		    (unsigned long long)total, len);
		goto out;
	}
	if (model_sha256(buf, total - NN_MODEL_DIGEST, md) != 0) {
		nn_fail(cause, "%s: SHA-256 is not available from OpenSSL",
		    d.what);
		goto out;
	}
	if (memcmp(md, buf + total - NN_MODEL_DIGEST, NN_MODEL_DIGEST) != 0) {
		nn_fail(cause, "%s: checksum mismatch (file is corrupt)",
		    d.what);
		goto out;
	}

	root = json_loadb((const char *)buf + NN_MODEL_PREFIX, hlen,
	    JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		nn_fail(cause, "%s: header: %s (line %d, column %d)", d.what,
		    err.text, err.line, err.column);
		goto out;
	}
	if ((m = model_from_header(&d, root, plen / 4)) == NULL)
		goto out;

	params = nn_net_params(m->net, &n);
	p = buf + NN_MODEL_PREFIX + hlen;
	for (i = 0; i < n; i++) {
		u = nn_le_get_u32(p + 4 * i);
		memcpy(&params[i], &u, sizeof params[i]);
	}

out:
	json_decref(root);
	return m;
}

/*
 * Writes the model to path through "path.tmp.PID", fsync and rename, so a
 * reader sees the old file or the new one. -1 with cause naming path.
 */
int
nn_model_save(const struct nn_model *m, const char *path, char **cause)
{
	unsigned char	*buf = NULL;
	char		*c = NULL;
	size_t		 len;
	int		 rv = -1;

	if (nn_model_encode(m, &buf, &len, &c) != 0)
		nn_fail(cause, "%s: %s", path, c);
	else
		rv = nn_write_file_atomic(path, buf, len, cause);
	free(buf);
	free(c);
	return rv;
}

/* Reads and decodes a model file; NULL with a cause naming path. */
struct nn_model *
nn_model_load(const char *path, char **cause)
{
	struct nn_model	*m = NULL;
	struct stat	 st;
	unsigned char	*buf = NULL;
	size_t		 size, off = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		nn_fail(cause, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > NN_MODEL_MAX_FILE ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		nn_fail(cause, "%s: %lld bytes is too large for a model "
		    "(limit %llu)", path, (long long)st.st_size,
		    (unsigned long long)NN_MODEL_MAX_FILE);
		goto out;
	}
	size = (size_t)st.st_size;
	buf = xmalloc(size);
	/* A file that shrinks meanwhile decodes as truncated. */
	while (off < size) {
		r = read(fd, buf + off, size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			nn_fail(cause, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	m = nn_model_decode(buf, off, path, cause);

out:
	close(fd);
	free(buf);
	return m;
}
