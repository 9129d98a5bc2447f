/* The model file: round trips, determinism, and every kind of bad file. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "nn/model.h"
#include "unit.h"

#define PREFIX	NN_MODEL_PREFIX
#define DIGEST	NN_MODEL_DIGEST

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, v & 0xffffffffU);
	put32(p + 4, v >> 32);
}

/* 5 inputs, tanh 7, relu 4, softmax 3: 42 + 32 + 15 = 89 parameters. */
static void
arch_classify(struct nn_arch *a)
{
	memset(a, 0, sizeof *a);
	a->input = 5;
	a->nlayers = 3;
	a->layer[0] = (struct nn_layer_spec){ 7, NN_ACT_TANH, NN_INIT_XAVIER,
	    0 };
	/* Dropout is written only when used: one layer has it. */
	a->layer[1] = (struct nn_layer_spec){ 4, NN_ACT_RELU, NN_INIT_HE,
	    0.25f };
	a->layer[2] = (struct nn_layer_spec){ 3, NN_ACT_SOFTMAX, NN_INIT_AUTO,
	    0 };
	a->loss = NN_LOSS_CROSS_ENTROPY;
	a->leaky_slope = 0.01f;
}

/* Fills parameters with a pattern that includes awkward floats. */
static void
fill_params(struct nn_net *net, int awkward)
{
	float	*p;
	size_t	 n, i;

	p = nn_net_params(net, &n);
	for (i = 0; i < n; i++)
		p[i] = (float)((int)((i * 7919) % 1000) - 500) / 64.0f;
	if (awkward && n >= 6) {
		p[0] = -0.0f;
		p[1] = 1e-40f;		/* subnormal */
		p[2] = FLT_MAX;
		p[3] = 0.1f;
		p[4] = -FLT_MIN;
		p[5] = 1.0f / 3.0f;
	}
}

static const float norm_values[5] = {
	0.1f, 1.0f / 3.0f, -0.0f, 1e-40f, 3.4028e38f
};

/* A classification model with names, normalisation and JSON sections. */
static struct nn_model *
model_classify(void)
{
	struct nn_model	*m = nn_model_new();
	struct nn_arch	 a;
	int		 i;

	arch_classify(&a);
	m->net = nn_net_new(&a, 8);
	fill_params(m->net, 1);
	m->name = xstrdup("iris \xc3\xa9t\xc3\xa9");	/* UTF-8 */
	m->task = NN_TASK_CLASSIFICATION;
	m->lo = 0.0f;
	m->hi = 1.0f;
	m->nclasses = 3;
	m->classes = xcalloc(3, sizeof *m->classes);
	m->classes[0] = xstrdup("setosa");
	m->classes[1] = xstrdup("versicolor");
	m->classes[2] = xstrdup("with \"quotes\"\n");
	m->norm.kind = NN_NORM_STANDARD;
	m->norm.in = 5;
	m->norm.shift = xcalloc(5, sizeof(float));
	m->norm.scale = xcalloc(5, sizeof(float));
	for (i = 0; i < 5; i++) {
		m->norm.shift[i] = norm_values[i];
		m->norm.scale[i] = 1.0f / (float)(i + 3);
	}
	m->train = json_pack("{s:i, s:i, s:{s:s, s:f}}", "epochs", 10,
	    "batch", 32, "optim", "kind", "adam", "lr", 0.001);
	m->layout = json_pack("{s:s, s:i}", "format", "csv", "label", 4);
	m->metrics = json_pack("{s:f, s:f}", "accuracy", 0.975, "loss",
	    0.0625);
	return m;
}

/* A bare regression model: no name, normalisation or JSON sections. */
static struct nn_model *
model_regress(void)
{
	struct nn_model	*m = nn_model_new();
	struct nn_arch	 a;

	memset(&a, 0, sizeof a);
	a.input = 2;
	a.nlayers = 2;
	a.layer[0] = (struct nn_layer_spec){ 3, NN_ACT_LEAKY_RELU,
	    NN_INIT_AUTO, 0 };
	a.layer[1] = (struct nn_layer_spec){ 1, NN_ACT_LINEAR, NN_INIT_AUTO, 0 };
	a.loss = NN_LOSS_MSE;
	a.leaky_slope = 0.2f;
	m->net = nn_net_new(&a, 4);
	fill_params(m->net, 0);
	return m;
}

/* Decodes a private copy of exactly len bytes, so ASan sees overreads. */
static struct nn_model *
decode_copy(const unsigned char *buf, size_t len, char **cause)
{
	unsigned char	*copy = xmalloc(len);
	struct nn_model	*m;

	memcpy(copy, buf, len);
	m = nn_model_decode(copy, len, "m.nnm", cause);
	free(copy);
	return m;
}

/* Expects decoding to fail with a cause that starts with want. */
static int
decode_fails(const unsigned char *buf, size_t len, const char *want,
    char *got, size_t gotlen)
{
	struct nn_model	*m;
	char		*cause = NULL;
	int		 ok;

	m = decode_copy(buf, len, &cause);
	ok = m == NULL && cause != NULL &&
	    strncmp(cause, want, strlen(want)) == 0;
	snprintf(got, gotlen, "%s", cause != NULL ? cause : "(no error)");
	nn_model_free(m);
	free(cause);
	return ok;
}

/* A file from header text and parameter bytes with a valid checksum. */
static unsigned char *
pack(const char *text, const unsigned char *params, size_t plen,
    size_t *len)
{
	size_t		 hlen = strlen(text);
	unsigned char	*b;

	*len = PREFIX + hlen + plen + DIGEST;
	b = xmalloc(*len);
	memcpy(b, NN_MODEL_MAGIC, 8);
	put32(b + 8, NN_MODEL_VERSION);
	put32(b + 12, (uint32_t)hlen);
	put64(b + 16, plen);
	memcpy(b + PREFIX, text, hlen);
	if (plen > 0)
		memcpy(b + PREFIX + hlen, params, plen);
	EVP_Digest(b, *len - DIGEST, b + *len - DIGEST, NULL, EVP_sha256(),
	    NULL);
	return b;
}

/* The header of an encoded file; new reference. */
static json_t *
header_of(const unsigned char *buf)
{
	return json_loadb((const char *)buf + PREFIX, get32(buf + 12), 0,
	    NULL);
}

/* Re-packs buf with header h (stolen) and buf's own parameters. */
static unsigned char *
repack(const unsigned char *buf, json_t *h, size_t *len)
{
	uint32_t	 hlen = get32(buf + 12);
	char		*text = json_dumps(h, JSON_COMPACT);
	unsigned char	*b;

	b = pack(text, buf + PREFIX + hlen, (size_t)get32(buf + 16), len);
	free(text);
	json_decref(h);
	return b;
}

static int
same_model(const struct nn_model *a, const struct nn_model *b, char *why,
    size_t whylen)
{
	const struct nn_arch	*x = nn_net_arch(a->net), *y = nn_net_arch(b->net);
	const float		*pa, *pb;
	size_t			 na, nb;
	int			 i;

#define DIFF(cond, what) do {						\
	if (cond) {							\
		snprintf(why, whylen, "%s differs", what);		\
		return 0;						\
	}								\
} while (0)
	DIFF(x->input != y->input || x->nlayers != y->nlayers, "arch");
	for (i = 0; i < x->nlayers; i++) {
		DIFF(x->layer[i].units != y->layer[i].units ||
		    x->layer[i].act != y->layer[i].act ||
		    x->layer[i].init != y->layer[i].init ||
		    x->layer[i].dropout != y->layer[i].dropout, "layer");
	}
	DIFF(x->loss != y->loss, "loss");
	DIFF(memcmp(&x->leaky_slope, &y->leaky_slope, 4) != 0, "leaky_slope");
	pa = nn_net_params(a->net, &na);
	pb = nn_net_params(b->net, &nb);
	DIFF(na != nb || memcmp(pa, pb, na * sizeof *pa) != 0, "params");
	DIFF((a->name == NULL) != (b->name == NULL), "name");
	DIFF(a->name != NULL && strcmp(a->name, b->name) != 0, "name");
	DIFF(a->task != b->task, "task");
	DIFF(a->task == NN_TASK_CLASSIFICATION &&
	    (memcmp(&a->lo, &b->lo, 4) != 0 || memcmp(&a->hi, &b->hi, 4) != 0),
	    "targets");
	DIFF(a->nclasses != b->nclasses, "nclasses");
	DIFF((a->classes == NULL) != (b->classes == NULL), "classes");
	for (i = 0; a->classes != NULL && i < a->nclasses; i++)
		DIFF(strcmp(a->classes[i], b->classes[i]) != 0, "class name");
	DIFF(a->norm.kind != b->norm.kind, "norm kind");
	if (a->norm.kind != NN_NORM_NONE) {
		DIFF(a->norm.in != b->norm.in, "norm in");
		DIFF(memcmp(a->norm.shift, b->norm.shift,
		    a->norm.in * sizeof(float)) != 0, "norm shift");
		DIFF(memcmp(a->norm.scale, b->norm.scale,
		    a->norm.in * sizeof(float)) != 0, "norm scale");
	}
	DIFF((a->train == NULL) != (b->train == NULL) ||
	    (a->train != NULL && !json_equal(a->train, b->train)), "train");
	DIFF((a->layout == NULL) != (b->layout == NULL) ||
	    (a->layout != NULL && !json_equal(a->layout, b->layout)), "layout");
	DIFF((a->metrics == NULL) != (b->metrics == NULL) ||
	    (a->metrics != NULL && !json_equal(a->metrics, b->metrics)),
	    "metrics");
#undef DIFF
	return 1;
}

static void
test_roundtrip_classify(void)
{
	struct nn_model	*m = model_classify(), *back = NULL;
	unsigned char	*buf = NULL;
	size_t		 len;
	char		*cause = NULL, why[128];

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	CHECK(memcmp(buf, "NNSMODEL", 8) == 0);
	CHECK(get32(buf + 8) == 1);
	CHECK(get32(buf + 16) == 89 * 4 && get32(buf + 20) == 0);
	CHECK(len == PREFIX + get32(buf + 12) + 89 * 4 + DIGEST);
	back = decode_copy(buf, len, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECKF(same_model(m, back, why, sizeof why), "%s", why);
	/* The loaded model must carry its own copies. */
	CHECK(back->classes != m->classes && back->norm.shift != m->norm.shift);
end:
	free(cause);
	free(buf);
	nn_model_free(m);
	nn_model_free(back);
}

static void
test_roundtrip_regress(void)
{
	struct nn_model	*m = model_regress(), *back = NULL;
	unsigned char	*buf = NULL;
	size_t		 len;
	char		*cause = NULL, why[128];

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	back = decode_copy(buf, len, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECKF(same_model(m, back, why, sizeof why), "%s", why);
	CHECK(back->name == NULL && back->classes == NULL);
	CHECK(back->train == NULL && back->layout == NULL &&
	    back->metrics == NULL);
	CHECK(back->norm.kind == NN_NORM_NONE && back->norm.shift == NULL);
end:
	free(cause);
	free(buf);
	nn_model_free(m);
	nn_model_free(back);
}

/* Random float bit patterns in the normalisation come back bit for bit. */
static void
test_floats_exact(void)
{
	struct nn_model	*m = nn_model_new(), *back = NULL;
	struct nn_arch	 a;
	struct nn_rng	 rng;
	unsigned char	*buf = NULL;
	uint32_t	 u;
	size_t		 len;
	char		*cause = NULL;
	int		 i, n = 4000;

	memset(&a, 0, sizeof a);
	a.input = n;
	a.nlayers = 1;
	a.layer[0] = (struct nn_layer_spec){ 1, NN_ACT_LINEAR, NN_INIT_AUTO, 0 };
	a.loss = NN_LOSS_MSE;
	a.leaky_slope = 0.01f;
	m->net = nn_net_new(&a, 1);
	m->norm.kind = NN_NORM_MINMAX;
	m->norm.in = n;
	m->norm.shift = xcalloc(n, sizeof(float));
	m->norm.scale = xcalloc(n, sizeof(float));
	nn_rng_seed(&rng, 42);
	for (i = 0; i < 2 * n; i++) {
		do {
			u = (uint32_t)nn_rng_next(&rng);
			/* Every fourth one small, to cover subnormals. */
			if (i % 4 == 0)
				u &= 0x80ffffffU;
		} while ((u & 0x7f800000U) == 0x7f800000U);
		memcpy(i < n ? &m->norm.shift[i] : &m->norm.scale[i - n], &u, 4);
	}
	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	back = decode_copy(buf, len, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECK(back->norm.kind == NN_NORM_MINMAX && back->norm.in == n);
	for (i = 0; i < n; i++) {
		CHECKF(memcmp(&m->norm.shift[i], &back->norm.shift[i], 4) == 0,
		    "shift[%d]: %.9g came back as %.9g", i,
		    (double)m->norm.shift[i], (double)back->norm.shift[i]);
		CHECKF(memcmp(&m->norm.scale[i], &back->norm.scale[i], 4) == 0,
		    "scale[%d]: %.9g came back as %.9g", i,
		    (double)m->norm.scale[i], (double)back->norm.scale[i]);
	}
end:
	free(cause);
	free(buf);
	nn_model_free(m);
	nn_model_free(back);
}

/* Shortest decimals: 0.1f is written 0.1, not 0.100000001. */
static void
test_floats_short(void)
{
	struct nn_model	*m = model_classify();
	unsigned char	*buf = NULL;
	const char	*want = "\"shift\":[0.1,0.33333334,-0.0,1e-40,3.4028e38]";
	char		*text = NULL, *cause = NULL, *shift;
	size_t		 len;

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	text = xasprintf("%.*s", (int)get32(buf + 12), buf + PREFIX);
	CHECK((shift = strstr(text, "\"shift\":")) != NULL);
	CHECKF(strncmp(shift, want, strlen(want)) == 0, "%.100s", shift);
	CHECKF(strstr(text, "\"leaky_slope\":0.01") != NULL, "%s", text);
	CHECKF(strstr(text, "\"format\":\"nnsim-model\"") != NULL, "%s", text);
end:
	free(text);
	free(cause);
	free(buf);
	nn_model_free(m);
}

static void
test_deterministic(void)
{
	struct nn_model	*a = model_classify(), *b = model_classify();
	struct nn_model	*back = NULL;
	unsigned char	*ba = NULL, *bb = NULL, *bc = NULL;
	size_t		 la, lb, lc;
	char		*cause = NULL;

	/* Sections built in another key order must not change the bytes. */
	json_decref(b->train);
	b->train = json_pack("{s:{s:f, s:s}, s:i, s:i}", "optim", "lr", 0.001,
	    "kind", "adam", "batch", 32, "epochs", 10);
	CHECKF(nn_model_encode(a, &ba, &la, &cause) == 0, "%s", cause);
	CHECKF(nn_model_encode(b, &bb, &lb, &cause) == 0, "%s", cause);
	CHECK(la == lb && memcmp(ba, bb, la) == 0);
	back = decode_copy(ba, la, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECKF(nn_model_encode(back, &bc, &lc, &cause) == 0, "%s", cause);
	CHECK(la == lc && memcmp(ba, bc, la) == 0);
	/* And a different parameter does change them. */
	nn_net_params(b->net, &lb)[7] += 1.0f;
	free(bb);
	bb = NULL;
	CHECKF(nn_model_encode(b, &bb, &lb, &cause) == 0, "%s", cause);
	CHECK(la == lb && memcmp(ba, bb, la) != 0);
end:
	free(cause);
	free(ba);
	free(bb);
	free(bc);
	nn_model_free(a);
	nn_model_free(b);
	nn_model_free(back);
}

static void
test_truncated(void)
{
	struct nn_model	*m = model_classify();
	unsigned char	*buf = NULL;
	size_t		 len, h, p, cut[16], i, ncut = 0;
	char		*cause = NULL, want[128], got[300];

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	h = get32(buf + 12);
	p = get32(buf + 16);
	/* Inside the magic, the lengths, header, parameters and checksum. */
	cut[ncut++] = 0;
	cut[ncut++] = 3;
	cut[ncut++] = 8;
	cut[ncut++] = 13;
	cut[ncut++] = 23;
	cut[ncut++] = PREFIX;
	cut[ncut++] = PREFIX + h / 2;
	cut[ncut++] = PREFIX + h;
	cut[ncut++] = PREFIX + h + p / 2 + 1;
	cut[ncut++] = PREFIX + h + p;
	cut[ncut++] = len - DIGEST / 2;
	cut[ncut++] = len - 1;
	for (i = 0; i < ncut; i++) {
		if (cut[i] < PREFIX)
			snprintf(want, sizeof want, "m.nnm: truncated (expected "
			    "at least 24 bytes, found %zu)", cut[i]);
		else
			snprintf(want, sizeof want, "m.nnm: truncated (expected "
			    "%zu bytes, found %zu)", len, cut[i]);
		CHECKF(decode_fails(buf, cut[i], want, got, sizeof got) &&
		    strlen(got) == strlen(want), "cut at %zu: %s", cut[i], got);
	}
	buf = xreallocarray(buf, len + 1, 1);
	buf[len] = 0;
	snprintf(want, sizeof want, "m.nnm: trailing bytes after the checksum "
	    "(expected %zu bytes, found %zu)", len, len + 1);
	CHECKF(decode_fails(buf, len + 1, want, got, sizeof got), "%s", got);
end:
	free(cause);
	free(buf);
	nn_model_free(m);
}

/* Any changed byte is refused; past the fixed prefix, by the checksum. */
static void
test_flipped(void)
{
	struct nn_model	*m = model_classify();
	unsigned char	*buf = NULL;
	size_t		 len, i;
	char		*cause = NULL, got[300];
	const char	*want;
	int		 bit;

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			buf[i] ^= 1 << bit;
			want = i >= PREFIX ?
			    "m.nnm: checksum mismatch (file is corrupt)" :
			    "m.nnm: ";
			CHECKF(decode_fails(buf, len, want, got, sizeof got),
			    "byte %zu bit %d: %s", i, bit, got);
			buf[i] ^= 1 << bit;
		}
	}
end:
	free(cause);
	free(buf);
	nn_model_free(m);
}

static void
test_bad_prefix(void)
{
	struct nn_model	*m = model_regress();
	unsigned char	*buf = NULL;
	size_t		 len;
	char		*cause = NULL, got[300], want[256];

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	memcpy(buf, "NNSMODEX", 8);
	CHECKF(decode_fails(buf, len, "m.nnm: not an nnsim model (bad magic)",
	    got, sizeof got), "%s", got);
	CHECKF(decode_fails(buf, 3, "m.nnm: truncated", got, sizeof got),
	    "%s", got);
	CHECKF(decode_fails((const unsigned char *)"PK\3\4", 4,
	    "m.nnm: not an nnsim model (bad magic)", got, sizeof got), "%s",
	    got);
	memcpy(buf, "NNSMODEL", 8);

	put32(buf + 8, 7);
	CHECKF(decode_fails(buf, len, "m.nnm: version 7 not supported "
	    "(expected 1)", got, sizeof got), "%s", got);
	put32(buf + 8, 1);

	/* Lengths at or past the limits fail before any allocation. */
	put32(buf + 12, 0xffffffffU);
	CHECKF(decode_fails(buf, len, "m.nnm: header length 4294967295 too "
	    "large (limit 67108864)", got, sizeof got), "%s", got);
	put32(buf + 12, NN_MODEL_MAX_HEADER);
	put64(buf + 16, 4 * (uint64_t)NN_MAX_PARAMS);
	snprintf(want, sizeof want, "m.nnm: truncated (expected %llu bytes, "
	    "found %zu)", (unsigned long long)NN_MODEL_MAX_FILE, len);
	CHECKF(decode_fails(buf, len, want, got, sizeof got), "%s", got);
	put64(buf + 16, UINT64_MAX);
	CHECKF(decode_fails(buf, len, "m.nnm: parameter length "
	    "18446744073709551615 invalid", got, sizeof got), "%s", got);
	put64(buf + 16, 6);
	CHECKF(decode_fails(buf, len, "m.nnm: parameter length 6 invalid",
	    got, sizeof got), "%s", got);
end:
	free(cause);
	free(buf);
	nn_model_free(m);
}

/* The parameter block must be exactly what the architecture needs. */
static void
test_param_mismatch(void)
{
	struct nn_model	*m = model_regress();
	unsigned char	*buf = NULL, *bad = NULL, *params = NULL;
	size_t		 len, blen, hlen;
	char		*cause = NULL, *text = NULL, got[300];

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	hlen = get32(buf + 12);
	text = xasprintf("%.*s", (int)hlen, buf + PREFIX);
	/* 2*3+3 + 3*1+1 = 13 parameters; offer 14 and 12. */
	params = xcalloc(14, 4);
	bad = pack(text, params, 14 * 4, &blen);
	CHECKF(decode_fails(bad, blen, "m.nnm: parameter block holds 14 "
	    "floats, the architecture needs 13", got, sizeof got), "%s", got);
	free(bad);
	bad = pack(text, params, 12 * 4, &blen);
	CHECKF(decode_fails(bad, blen, "m.nnm: parameter block holds 12 "
	    "floats, the architecture needs 13", got, sizeof got), "%s", got);
	free(bad);
	bad = pack(text, params, 13 * 4, &blen);
	nn_model_free(m);
	m = decode_copy(bad, blen, &cause);
	CHECKF(m != NULL, "%s", cause);
end:
	free(text);
	free(params);
	free(cause);
	free(buf);
	free(bad);
	nn_model_free(m);
}

/* Header errors name the field and what was expected. */
static void
test_bad_header(void)
{
	struct nn_model	*m = model_classify();
	unsigned char	*buf = NULL, *bad = NULL;
	json_t		*h = NULL, *j;
	size_t		 len, blen, i;
	char		*cause = NULL, got[300];
	const char	*texts[] = {
		"{", "m.nnm: header: ",
		"[1]", "m.nnm: header: expected an object",
		"", "m.nnm: header: ",
		"{\"format\":\"nnsim-model\",\"format\":\"x\"}",
		    "m.nnm: header: duplicate object key",
	};

	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);

	for (i = 0; i < sizeof texts / sizeof texts[0]; i += 2) {
		bad = pack(texts[i], buf + PREFIX + get32(buf + 12), 89 * 4,
		    &blen);
		CHECKF(decode_fails(bad, blen, texts[i + 1], got, sizeof got),
		    "%s: %s", texts[i], got);
		free(bad);
		bad = NULL;
	}

#define BAD(edit, want) do {						\
	h = header_of(buf);						\
	edit;								\
	bad = repack(buf, h, &blen);					\
	h = NULL;							\
	CHECKF(decode_fails(bad, blen, want, got, sizeof got),		\
	    "%s: %s", #edit, got);					\
	free(bad);							\
	bad = NULL;							\
} while (0)
#define LAYER(i) json_array_get(json_object_get(				\
	json_object_get(h, "arch"), "layers"), i)
	BAD(json_object_set_new(LAYER(1), "activation", json_string("x")),
	    "m.nnm: header.arch.layers[1].activation: unknown \"x\" "
	    "(expected ");
	BAD(json_object_set_new(LAYER(0), "init", json_integer(3)),
	    "m.nnm: header.arch.layers[0].init: expected a string");
	BAD(json_object_set_new(LAYER(2), "units", json_integer(0)),
	    "m.nnm: header.arch.layers[2].units: expected an integer from 1 "
	    "to 1048576");
	BAD(json_array_set_new(json_object_get(json_object_get(h, "arch"),
	    "layers"), 1, json_string("relu")),
	    "m.nnm: header.arch.layers[1]: expected an object");
	BAD(json_object_set_new(json_object_get(h, "arch"), "layers",
	    json_array()), "m.nnm: header.arch.layers: expected an array of "
	    "1 to 64 layers");
	BAD(json_object_del(json_object_get(h, "arch"), "input"),
	    "m.nnm: header.arch.input: missing");
	BAD(json_object_set_new(json_object_get(h, "arch"), "loss",
	    json_string("hinge")), "m.nnm: header.arch.loss: unknown "
	    "\"hinge\" (expected ");
	BAD(json_object_set_new(json_object_get(h, "arch"), "leaky_slope",
	    json_real(1e300)), "m.nnm: header.arch.leaky_slope: expected a "
	    "finite number");
	/* Valid JSON that nn_arch_check refuses, in its own words. */
	BAD(json_object_set_new(LAYER(2), "activation", json_string("tanh")),
	    "m.nnm: header.arch: loss: ");
	BAD(json_object_set_new(json_object_get(h, "arch"), "leaky_slope",
	    json_real(2.0)), "m.nnm: header.arch: leaky_slope: ");
	BAD(json_object_set_new(h, "format", json_string("other")),
	    "m.nnm: header.format: expected \"nnsim-model\", found \"other\"");
	BAD(json_object_set_new(h, "version", json_integer(2)),
	    "m.nnm: header.version: expected an integer from 1 to 1");
	BAD(json_object_set_new(h, "params", json_integer(90)),
	    "m.nnm: header.params: 90 does not match the architecture (89 "
	    "parameters)");
	BAD(json_object_del(h, "name"), "m.nnm: header.name: missing");
	BAD(json_object_set_new(h, "name", json_true()),
	    "m.nnm: header.name: expected a string or null");
	BAD(json_object_set_new(h, "task", json_string("ranking")),
	    "m.nnm: header.task: unknown \"ranking\" (expected "
	    "classification, regression)");
	BAD(json_object_set_new(h, "targets", json_null()),
	    "m.nnm: header.targets: expected an object");
	BAD(json_object_del(json_object_get(h, "targets"), "hi"),
	    "m.nnm: header.targets.hi: missing");
	BAD(json_array_remove(json_object_get(h, "classes"), 2),
	    "m.nnm: header.classes: expected null or an array of 3 names "
	    "(nclasses)");
	BAD(json_array_set_new(json_object_get(h, "classes"), 1,
	    json_integer(1)), "m.nnm: header.classes[1]: expected a string");
	BAD((json_object_set_new(h, "classes", json_null()),
	    json_object_set_new(h, "nclasses", json_integer(4))),
	    "m.nnm: header.nclasses: 4 classes do not match 3 outputs");
	BAD(json_object_set_new(h, "nclasses", json_integer(-1)),
	    "m.nnm: header.nclasses: expected an integer from 0 to 65536");
	BAD(json_object_set_new(h, "normalize", json_null()),
	    "m.nnm: header.normalize: expected an object");
	BAD(json_object_set_new(json_object_get(h, "normalize"), "kind",
	    json_string("zscore")), "m.nnm: header.normalize.kind: unknown "
	    "\"zscore\" (expected ");
	BAD(json_array_remove(json_object_get(json_object_get(h, "normalize"),
	    "shift"), 0), "m.nnm: header.normalize.shift: expected an array "
	    "of 5 numbers");
	BAD(json_array_set_new(json_object_get(json_object_get(h, "normalize"),
	    "scale"), 2, json_string("a")),
	    "m.nnm: header.normalize.scale[2]: expected a finite number");
	BAD(json_object_del(json_object_get(h, "normalize"), "scale"),
	    "m.nnm: header.normalize.scale: expected an array of 5 numbers");
	BAD(json_object_set_new(h, "train", json_integer(5)),
	    "m.nnm: header.train: expected an object or null");
	BAD(json_object_set_new(h, "metrics", json_array()),
	    "m.nnm: header.metrics: expected an object or null");
#undef LAYER
#undef BAD

	/* Unknown keys are ignored, and missing sections read as null. */
	h = header_of(buf);
	json_object_set_new(h, "future", json_string("ignored"));
	json_object_del(h, "layout");
	bad = repack(buf, h, &blen);
	h = NULL;
	nn_model_free(m);
	m = decode_copy(bad, blen, &cause);
	CHECKF(m != NULL, "%s", cause);
	CHECK(m->layout == NULL && m->train != NULL);
	j = json_object_get(m->train, "epochs");
	CHECK(json_integer_value(j) == 10);
end:
	json_decref(h);
	free(cause);
	free(buf);
	free(bad);
	nn_model_free(m);
}

/* The encoder refuses models it could not read back. */
static void
test_encode_errors(void)
{
	struct nn_model	*m = model_classify();
	unsigned char	*buf = NULL;
	size_t		 len;
	char		*cause = NULL, *path = NULL;
	struct nn_net	*net;

	m->norm.shift[1] = NAN;
	CHECK(nn_model_encode(m, &buf, &len, &cause) == -1 && buf == NULL);
	CHECKF(strcmp(cause, "normalize.shift[1]: not a finite number") == 0,
	    "%s", cause);
	free(cause);
	cause = NULL;
	path = xasprintf("%s/nan.nnm", unit_tmpdir());
	CHECK(nn_model_save(m, path, &cause) == -1);
	CHECKF(strncmp(cause, path, strlen(path)) == 0 &&
	    strstr(cause, ": normalize.shift[1]") != NULL, "%s", cause);
	CHECK(access(path, F_OK) == -1);
	free(cause);
	cause = NULL;
	m->norm.shift[1] = 0.5f;

	m->nclasses = 4;
	CHECK(nn_model_encode(m, &buf, &len, &cause) == -1);
	CHECKF(strcmp(cause, "nclasses: 4 classes do not match 3 outputs") ==
	    0, "%s", cause);
	free(cause);
	cause = NULL;
	m->nclasses = 3;

	free(m->classes[1]);
	m->classes[1] = xstrdup("bad \xff utf-8");
	CHECK(nn_model_encode(m, &buf, &len, &cause) == -1);
	CHECKF(strcmp(cause, "classes[1]: not valid UTF-8") == 0, "%s", cause);
	free(cause);
	cause = NULL;

	net = m->net;
	m->net = NULL;
	CHECK(nn_model_encode(m, &buf, &len, &cause) == -1);
	m->net = net;
	CHECKF(strcmp(cause, "model has no network") == 0, "%s", cause);
end:
	free(path);
	free(cause);
	free(buf);
	nn_model_free(m);
}

/* Whether dir holds a leftover temporary file. */
static int
has_tmp(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 found = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, ".tmp.") != NULL)
			found = 1;
	}
	closedir(d);
	return found;
}

static void
test_save_load(void)
{
	struct nn_model	*m = model_classify(), *r = model_regress();
	struct nn_model	*back = NULL;
	char		*path = NULL, *cause = NULL, why[128];

	path = xasprintf("%s/saved.nnm", unit_tmpdir());
	CHECKF(nn_model_save(m, path, &cause) == 0, "%s", cause);
	back = nn_model_load(path, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECKF(same_model(m, back, why, sizeof why), "%s", why);
	nn_model_free(back);
	/* Saving over an existing model replaces it. */
	CHECKF(nn_model_save(r, path, &cause) == 0, "%s", cause);
	back = nn_model_load(path, &cause);
	CHECKF(back != NULL, "%s", cause);
	CHECKF(same_model(r, back, why, sizeof why), "%s", why);
	CHECK(!has_tmp(unit_tmpdir()));
end:
	free(path);
	free(cause);
	nn_model_free(m);
	nn_model_free(r);
	nn_model_free(back);
}

static void
test_save_errors(void)
{
	struct nn_model	*m = model_regress();
	char		*cause = NULL, *dir = NULL, *want = NULL;
	const char	*path = "/nonexistent-nnsim-dir/m.nnm";

	CHECK(nn_model_save(m, path, &cause) == -1);
	want = xasprintf("%s: %s", path, strerror(ENOENT));
	CHECKF(strcmp(cause, want) == 0, "%s", cause);
	free(cause);
	cause = NULL;
	/* A folder in the way: the rename fails and nothing is left behind. */
	dir = xasprintf("%s/in-the-way", unit_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(nn_model_save(m, dir, &cause) == -1);
	CHECKF(strncmp(cause, dir, strlen(dir)) == 0 &&
	    cause[strlen(dir)] == ':', "%s", cause);
	CHECK(!has_tmp(unit_tmpdir()));
end:
	free(want);
	free(dir);
	free(cause);
	nn_model_free(m);
}

static void
test_load_errors(void)
{
	struct nn_model	*m = NULL;
	char		*cause = NULL, *path = NULL, *want = NULL;
	int		 fd = -1;

	m = nn_model_load("/nonexistent-nnsim-dir/m.nnm", &cause);
	want = xasprintf("/nonexistent-nnsim-dir/m.nnm: %s", strerror(ENOENT));
	CHECK(m == NULL && strcmp(cause, want) == 0);
	free(cause);
	cause = NULL;
	m = nn_model_load(unit_tmpdir(), &cause);
	CHECK(m == NULL && strstr(cause, ": not a regular file") != NULL);
	free(cause);
	cause = NULL;

	path = xasprintf("%s/empty.nnm", unit_tmpdir());
	CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	m = nn_model_load(path, &cause);
	free(want);
	want = xasprintf("%s: truncated (expected at least 24 bytes, found 0)",
	    path);
	CHECKF(m == NULL && strcmp(cause, want) == 0, "%s", cause);
	free(cause);
	cause = NULL;
	/* A sparse file past the limit is refused by its size alone. */
	if (ftruncate(fd, (off_t)(NN_MODEL_MAX_FILE + 1)) != 0)
		SKIP("cannot make a large sparse file here");
	m = nn_model_load(path, &cause);
	CHECKF(m == NULL && strstr(cause, "too large for a model") != NULL,
	    "%s", cause);
end:
	if (fd != -1)
		close(fd);
	if (path != NULL)
		unlink(path);
	free(want);
	free(path);
	free(cause);
	nn_model_free(m);
}

/* Runs cmd and returns its exit status and first line of output. */
static int
run(const char *cmd, char *out, size_t outlen)
{
	FILE	*f;
	int	 status;

	out[0] = '\0';
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	while (fgetc(f) != EOF)
		;
	status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The Python reader in docs/model-format.md reads what we write. */
static void
test_python_reader(void)
{
	struct nn_model	*m = model_regress();
	FILE		*f = NULL;
	char		*doc = NULL, *start, *stop, *script = NULL;
	char		*path = NULL, *cmd = NULL, *want = NULL, out[256];
	unsigned char	*buf = NULL;
	const float	*p;
	double		 sum = 0;
	size_t		 n, i, len;
	long		 size;
	char		*cause = NULL;

	if (system("command -v python3 >/dev/null 2>&1") != 0)
		SKIP("python3 not found");
	CHECK((f = fopen(unit_src("docs/model-format.md"), "r")) != NULL);
	CHECK(fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0);
	rewind(f);
	doc = xcalloc(1, (size_t)size + 1);
	CHECK(fread(doc, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	f = NULL;
	CHECK((start = strstr(doc, "```python\n")) != NULL);
	start += strlen("```python\n");
	CHECK((stop = strstr(start, "```")) != NULL);

	script = xasprintf("%s/read_model.py", unit_tmpdir());
	CHECK((f = fopen(script, "w")) != NULL);
	CHECK(fwrite(start, 1, (size_t)(stop - start), f) ==
	    (size_t)(stop - start));
	CHECK(fclose(f) == 0);
	f = NULL;

	m->name = xstrdup("py");
	path = xasprintf("%s/py.nnm", unit_tmpdir());
	CHECKF(nn_model_save(m, path, &cause) == 0, "%s", cause);
	p = nn_net_params(m->net, &n);
	for (i = 0; i < n; i++)
		sum += p[i];
	want = xasprintf("py regression %zu %.4f", n, sum);
	cmd = xasprintf("python3 '%s' '%s' 2>&1", script, path);
	CHECKF(run(cmd, out, sizeof out) == 0, "%s", out);
	CHECKF(strcmp(out, want) == 0, "got \"%s\", want \"%.200s\"", out, want);

	/* And refuses a corrupt one. */
	CHECKF(nn_model_encode(m, &buf, &len, &cause) == 0, "%s", cause);
	buf[len - 40] ^= 1;
	CHECK((f = fopen(path, "wb")) != NULL);
	CHECK(fwrite(buf, 1, len, f) == len);
	CHECK(fclose(f) == 0);
	f = NULL;
	CHECKF(run(cmd, out, sizeof out) != 0, "%s", out);
end:
	if (f != NULL)
		fclose(f);
	free(cause);
	free(buf);
	free(doc);
	free(script);
	free(path);
	free(cmd);
	free(want);
	nn_model_free(m);
}

static void
test_free_null(void)
{
	struct nn_model	*m = nn_model_new();

	nn_model_free(NULL);
	CHECK(m->net == NULL && m->classes == NULL &&
	    m->norm.kind == NN_NORM_NONE && m->task == NN_TASK_REGRESSION);
end:
	nn_model_free(m);
}

static const struct unit_test tests[] = {
	{ "roundtrip_classify", test_roundtrip_classify },
	{ "roundtrip_regress", test_roundtrip_regress },
	{ "floats_exact", test_floats_exact },
	{ "floats_short", test_floats_short },
	{ "deterministic", test_deterministic },
	{ "truncated", test_truncated },
	{ "flipped", test_flipped },
	{ "bad_prefix", test_bad_prefix },
	{ "param_mismatch", test_param_mismatch },
	{ "bad_header", test_bad_header },
	{ "encode_errors", test_encode_errors },
	{ "save_load", test_save_load },
	{ "save_errors", test_save_errors },
	{ "load_errors", test_load_errors },
	{ "python_reader", test_python_reader },
	{ "free_null", test_free_null },
	{ NULL, NULL },
};

UNIT_MAIN("model", tests)
