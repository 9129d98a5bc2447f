/* The checkpoint file (checkpoint.h). */
#include <openssl/evp.h>

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/le.h"
#include "nn/checkpoint.h"
#include "nn/net.h"

#define CKPT_JSON_FLAGS \
	(JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17))
#define CKPT_MAX_FILE	(NN_CKPT_PREFIX + NN_CKPT_MAX_HEADER +		\
	    4 * (uint64_t)NN_MAX_PARAMS + NN_CKPT_MAX_STATE + NN_CKPT_DIGEST)

/* SHA-256 of n bytes at p into md; -1 when OpenSSL fails. */
static int
ckpt_sha256(const unsigned char *p, size_t n, unsigned char *md)
{
	unsigned int mdlen = 0;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != NN_CKPT_DIGEST)
		return -1;
	return 0;
}

int
nn_checkpoint_encode(const struct nn_checkpoint *c, unsigned char **buf,
    size_t *len, char **cause)
{
	unsigned char *b, *p;
	char *text;
	size_t hlen, total, i;
	uint32_t bits;

	*buf = NULL;
	if ((text = json_dumps(c->header, CKPT_JSON_FLAGS)) == NULL)
		return nn_fail(cause, "checkpoint header: cannot write JSON");
	hlen = strlen(text);
	if (hlen > NN_CKPT_MAX_HEADER || c->nparams > NN_MAX_PARAMS ||
	    c->state_len > NN_CKPT_MAX_STATE) {
		free(text);
		return nn_fail(cause, "checkpoint: larger than the format "
		    "allows");
	}
	total = NN_CKPT_PREFIX + hlen + 4 * c->nparams + c->state_len +
	    NN_CKPT_DIGEST;
	b = xmalloc(total);
	memcpy(b, NN_CKPT_MAGIC, 8);
	nn_le_put_u32(b + 8, NN_CKPT_VERSION);
	nn_le_put_u32(b + 12, 0);
	nn_le_put_u64(b + 16, hlen);
	nn_le_put_u64(b + 24, c->nparams);
	nn_le_put_u64(b + 32, c->state_len);
	p = b + NN_CKPT_PREFIX;
	memcpy(p, text, hlen);
	p += hlen;
	for (i = 0; i < c->nparams; i++, p += 4) {
		memcpy(&bits, &c->params[i], 4);
		nn_le_put_u32(p, bits);
	}
	if (c->state_len > 0)
		memcpy(p, c->state, c->state_len);
	p += c->state_len;
	free(text);
	if (ckpt_sha256(b, total - NN_CKPT_DIGEST, p) != 0) {
		free(b);
		return nn_fail(cause, "checkpoint: SHA-256 failed");
	}
	*buf = b;
	*len = total;
	return 0;
}

struct nn_checkpoint *
nn_checkpoint_decode(const unsigned char *buf, size_t len, const char *what,
    char **cause)
{
	struct nn_checkpoint *c = NULL;
	unsigned char md[NN_CKPT_DIGEST];
	const unsigned char *p;
	json_error_t err;
	uint64_t hlen, np, slen, want;
	uint32_t bits;
	size_t i;

	if (len < NN_CKPT_PREFIX + NN_CKPT_DIGEST ||
	    memcmp(buf, NN_CKPT_MAGIC, 8) != 0) {
		nn_fail(cause, "%s: not an nnsim checkpoint (%s)", what,
		    len < 8 || memcmp(buf, NN_CKPT_MAGIC, 8) != 0 ?
		    "no NNSCKPT magic" : "shorter than its header");
		return NULL;
	}
	if (nn_le_get_u32(buf + 8) != NN_CKPT_VERSION) {
		nn_fail(cause, "%s: checkpoint version %u (this nnsim reads "
		    "%d)", what, (unsigned)nn_le_get_u32(buf + 8),
		    NN_CKPT_VERSION);
		return NULL;
	}
	hlen = nn_le_get_u64(buf + 16);
	np = nn_le_get_u64(buf + 24);
	slen = nn_le_get_u64(buf + 32);
	/* Each bounded first, so that the sum cannot overflow. */
	if (hlen > NN_CKPT_MAX_HEADER || np > NN_MAX_PARAMS ||
	    slen > NN_CKPT_MAX_STATE) {
		nn_fail(cause, "%s: lengths %llu, %llu, %llu past the limits "
		    "(%llu header bytes, %zu parameters, %llu state bytes)",
		    what, (unsigned long long)hlen, (unsigned long long)np,
		    (unsigned long long)slen,
		    (unsigned long long)NN_CKPT_MAX_HEADER, NN_MAX_PARAMS,
		    (unsigned long long)NN_CKPT_MAX_STATE);
		return NULL;
	}
	want = NN_CKPT_PREFIX + hlen + 4 * np + slen + NN_CKPT_DIGEST;
	if (want != len) {
		nn_fail(cause, "%s: %zu bytes, expected %llu for its lengths "
		    "(%s)", what, len, (unsigned long long)want, len < want ?
		    "truncated" : "trailing bytes");
		return NULL;
	}
	if (ckpt_sha256(buf, len - NN_CKPT_DIGEST, md) != 0 ||
	    memcmp(md, buf + len - NN_CKPT_DIGEST, NN_CKPT_DIGEST) != 0) {
		nn_fail(cause, "%s: SHA-256 mismatch (the file is corrupt)",
		    what);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	p = buf + NN_CKPT_PREFIX;
	c->header = json_loadb((const char *)p, hlen, JSON_REJECT_DUPLICATES,
	    &err);
	if (!json_is_object(c->header)) {
		nn_fail(cause, "%s: header: %s", what, c->header == NULL ?
		    err.text : "expected a JSON object");
		nn_checkpoint_free(c);
		return NULL;
	}
	p += hlen;
	c->nparams = np;
	c->params = xreallocarray(NULL, np > 0 ? np : 1, sizeof (float));
	for (i = 0; i < np; i++, p += 4) {
		bits = nn_le_get_u32(p);
		memcpy(&c->params[i], &bits, 4);
	}
	c->state_len = slen;
	c->state = xmalloc(slen > 0 ? slen : 1);
	memcpy(c->state, p, slen);
	return c;
}

int
nn_checkpoint_save(const struct nn_checkpoint *c, const char *path,
    char **cause)
{
	unsigned char *buf;
	char *why = NULL;
	size_t len;
	int rc;

	if (nn_checkpoint_encode(c, &buf, &len, &why) != 0) {
		nn_fail(cause, "%s: %s", path, why);
		free(why);
		return -1;
	}
	rc = nn_write_file_atomic(path, buf, len, cause);
	free(buf);
	return rc;
}

struct nn_checkpoint *
nn_checkpoint_load(const char *path, char **cause)
{
	struct nn_checkpoint *c;
	char *buf;
	size_t len;

	if ((buf = nn_read_file(path, CKPT_MAX_FILE, &len, cause)) == NULL)
		return NULL;
	c = nn_checkpoint_decode((const unsigned char *)buf, len, path,
	    cause);
	free(buf);
	return c;
}

void
nn_checkpoint_free(struct nn_checkpoint *c)
{
	if (c == NULL)
		return;
	json_decref(c->header);
	free(c->params);
	free(c->state);
	free(c);
}
