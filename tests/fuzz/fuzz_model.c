/*
 * The model file (docs/model-format.md) as nnsim eval and predict read
 * it: nn_model_decode, then one forward pass, and the model saved again
 * must read back.
 *
 * Byte 0, bit 0 set: fix the file before decoding, so the fuzzer gets
 * past the checksum to the header: the parameter length becomes what is
 * left after the header (a multiple of 4) and the last 32 bytes the
 * SHA-256 of all before them. The rest is the file.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "base/alloc.h"
#include "base/le.h"
#include "nn/blas.h"
#include "nn/model.h"
#include "nn/net.h"
#include "fuzz.h"

/* Lengths and digest made right; returns the file's new length. */
static size_t
fuzz_fix(unsigned char *buf, size_t len)
{
	uint64_t hlen, plen;

	if (len < NN_MODEL_PREFIX + NN_MODEL_DIGEST)
		return len;
	hlen = nn_le_get_u32(buf + 12);
	if (hlen > len - NN_MODEL_PREFIX - NN_MODEL_DIGEST)
		return len;
	plen = (len - NN_MODEL_PREFIX - NN_MODEL_DIGEST - hlen) & ~(uint64_t)3;
	nn_le_put_u64(buf + 16, plen);
	len = NN_MODEL_PREFIX + hlen + plen + NN_MODEL_DIGEST;
	SHA256(buf, len - NN_MODEL_DIGEST, buf + len - NN_MODEL_DIGEST);
	return len;
}

/*
 * A row of zeros through the net: the arch and parameters agree. Skipped
 * without OpenBLAS; one thread, so that no pool outlives a run.
 */
static void
fuzz_forward(struct nn_model *m)
{
	static int blas = -1;
	const struct nn_arch *a = nn_net_arch(m->net);
	const float *y;
	float *x;
	char *cause = NULL;

	if (blas == -1) {
		blas = nn_blas_init(1, &cause) == 0;
		free(cause);
	}
	if (!blas)
		return;

	x = xcalloc((size_t)a->input, sizeof *x);
	y = nn_net_forward(m->net, x, 1);
	if (y == NULL)
		abort();
	free(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nn_model *m = NULL, *again = NULL;
	unsigned char *buf, *enc = NULL;
	size_t len, elen;
	char *cause = NULL;

	if (size < 1)
		return -1;
	len = size - 1;
	buf = xmalloc(len > 0 ? len : 1);
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		len = fuzz_fix(buf, len);
	if ((m = nn_model_decode(buf, len, "fuzz.nnm", &cause)) == NULL) {
		if (cause == NULL)
			abort();
		goto out;
	}
	fuzz_forward(m);
	/* What was read must write, and what was written must read. */
	if (nn_model_encode(m, &enc, &elen, &cause) != 0)
		abort();
	if ((again = nn_model_decode(enc, elen, "again.nnm", &cause)) == NULL)
		abort();
out:
	nn_model_free(again);
	nn_model_free(m);
	free(enc);
	free(cause);
	free(buf);
	return 0;
}
