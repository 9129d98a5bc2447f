/*
 * The primitives of base/crypto.h: the message tag against OpenSSL's
 * ChaCha20-Poly1305 AEAD called directly, the same tag fed in pieces, an
 * RFC 4231 HMAC-SHA256 vector, the ChaCha20 keystream against RFC 8439's
 * vectors and in pieces, and the hex text of keys.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "base/le.h"
#include "unit.h"

/* The tag as the wire format states it, straight from OpenSSL. */
static void
reference_tag(const unsigned char *key, uint64_t seq, const unsigned char *aad,
    size_t n, unsigned char *tag)
{
	unsigned char nonce[12], none[16];
	EVP_CIPHER_CTX *ctx;
	int outl;

	memset(nonce, 0, sizeof nonce);
	nn_le_put_u64(nonce + 4, seq);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key,
	    nonce) ||
	    !EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)n) ||
	    !EVP_EncryptFinal_ex(ctx, none, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag))
		fatal("reference ChaCha20-Poly1305 failed");
	EVP_CIPHER_CTX_free(ctx);
}

static void
test_tag_reference(void)
{
	unsigned char key[CRYPTO_KEY_SIZE], msg[1000], want[16], got[16];
	size_t i;

	for (i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(i * 13);
	reference_tag(key, 0x0102030405060708ULL, msg, sizeof msg, want);
	crypto_tag(key, 0x0102030405060708ULL, msg, 32, msg + 32,
	    sizeof msg - 32, got);
	CHECK(memcmp(got, want, sizeof want) == 0);
	/* Another seq is another one-time key. */
	crypto_tag(key, 0x0102030405060709ULL, msg, 32, msg + 32,
	    sizeof msg - 32, got);
	CHECK(memcmp(got, want, sizeof want) != 0);
end:
	;
}

static void
test_tag_pieces(void)
{
	unsigned char key[CRYPTO_KEY_SIZE], msg[777], want[16], got[16];
	struct crypto_tag t = { NULL };
	size_t i, step;

	memset(key, 0x5a, sizeof key);
	for (i = 0; i < sizeof msg; i++)
		msg[i] = (unsigned char)(i ^ 0x33);
	crypto_tag(key, 3, msg, 16, msg + 16, sizeof msg - 16, want);
	CHECK(!crypto_tag_open(&t));
	crypto_tag_init(&t, key, 3);
	CHECK(crypto_tag_open(&t));
	for (i = 0; i < sizeof msg; i += step) {
		step = sizeof msg - i < 100 ? sizeof msg - i : 100;
		crypto_tag_update(&t, msg + i, step);
		crypto_tag_update(&t, NULL, 0);
	}
	crypto_tag_final(&t, got);
	CHECK(!crypto_tag_open(&t));
	CHECK(memcmp(got, want, sizeof want) == 0);
	/* An abandoned tag is freed; clearing twice is harmless. */
	crypto_tag_init(&t, key, 4);
	crypto_tag_clear(&t);
	crypto_tag_clear(&t);
	CHECK(!crypto_tag_open(&t));
end:
	crypto_tag_clear(&t);
}

/* RFC 4231, test case 2. */
static void
test_hmac_vector(void)
{
	static const char want[] = "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843";
	const char *msg = "what do ya want for nothing?";
	unsigned char out[CRYPTO_HMAC_SIZE];
	char hex[2 * CRYPTO_HMAC_SIZE + 1];

	crypto_hmac((const unsigned char *)"Jefe", 4, msg, strlen(msg), out);
	crypto_hex(out, sizeof out, hex);
	CHECKF(strcmp(hex, want) == 0, "%s", hex);
end:
	;
}

static void
test_hex(void)
{
	unsigned char b[4] = { 0x00, 0x7f, 0xa0, 0xff }, back[4];
	char hex[9];

	crypto_hex(b, sizeof b, hex);
	CHECK(strcmp(hex, "007fa0ff") == 0);
	CHECK(crypto_unhex("007FA0fF", back, sizeof back) == 0);
	CHECK(memcmp(back, b, sizeof b) == 0);
	memset(back, 0x77, sizeof back);
	CHECK(crypto_unhex("007fa0f", back, sizeof back) == -1);
	CHECK(crypto_unhex("007fa0fff", back, sizeof back) == -1);
	CHECK(crypto_unhex("007fa0fg", back, sizeof back) == -1);
	CHECK(back[0] == 0x77 && back[3] == 0x77);
end:
	;
}

/*
 * RFC 8439, 2.4.2 (key 00..1f, nonce 00000000 0000004a 00000000, counter
 * 1) and A.1 #2 (zero key and nonce, counter 1): the keystream's nonce is
 * 4 zero bytes || seq, so the first is seq 0x4a000000, and byte 0 of a
 * message takes block 1.
 */
static void
test_stream_rfc8439(void)
{
	static const char text[] = "Ladies and Gentlemen of the class of "
	    "'99: If I could offer you only one tip for the future, "
	    "sunscreen would be it.";
	static const char want1[] =
	    "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
	    "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
	    "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
	    "5af90bbf74a35be6b40b8eedf2785e42874d";
	static const char want2[] =
	    "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
	    "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";
	unsigned char key[32], buf[sizeof text - 1];
	char hex[2 * sizeof buf + 1];
	size_t i;

	for (i = 0; i < sizeof key; i++)
		key[i] = (unsigned char)i;
	crypto_xor(key, 0x4a000000, 0, buf, text, sizeof buf);
	crypto_hex(buf, sizeof buf, hex);
	CHECK(strcmp(hex, want1) == 0);
	/* The same XOR decrypts, in place. */
	crypto_xor(key, 0x4a000000, 0, buf, buf, sizeof buf);
	CHECK(memcmp(buf, text, sizeof buf) == 0);
	memset(key, 0, sizeof key);
	memset(buf, 0, 64);
	crypto_xor(key, 0, 0, buf, buf, 64);
	crypto_hex(buf, 64, hex);
	CHECK(strcmp(hex, want2) == 0);
end:
	;
}

/* Pieces of odd sizes and a start at any offset give the one-call bytes. */
static void
test_stream_pieces(void)
{
	static const size_t cuts[] = { 1, 63, 64, 65, 127, 1000, 4096 };
	unsigned char key[32], *src, *whole, *pieces, *tail;
	struct crypto_stream s;
	size_t n = 20000, at, k, i;

	src = xmalloc(n);
	whole = xmalloc(n);
	pieces = xmalloc(n);
	tail = xmalloc(n);
	for (i = 0; i < n; i++)
		src[i] = (unsigned char)(i * 7 + 3);
	memset(key, 0x42, sizeof key);
	crypto_xor(key, 9, 0, whole, src, n);
	CHECK(memcmp(whole, src, n) != 0);
	crypto_stream_init(&s, key, 9, 0);
	CHECK(crypto_stream_open(&s));
	for (at = 0, k = 0; at < n; at += i, k++) {
		i = cuts[k % (sizeof cuts / sizeof cuts[0])];
		if (i > n - at)
			i = n - at;
		crypto_stream_xor(&s, pieces + at, src + at, i);
	}
	crypto_stream_clear(&s);
	CHECK(!crypto_stream_open(&s));
	crypto_stream_clear(&s);
	CHECK(memcmp(pieces, whole, n) == 0);
	for (k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
		at = cuts[k] * 3;
		crypto_xor(key, 9, at, tail, src + at, n - at);
		CHECK(memcmp(tail, whole + at, n - at) == 0);
	}
	/* Another message number is another keystream. */
	crypto_xor(key, 10, 0, tail, src, n);
	CHECK(memcmp(tail, whole, 64) != 0);
end:
	free(src);
	free(whole);
	free(pieces);
	free(tail);
}

static void
test_random_equal(void)
{
	unsigned char a[32], b[32];

	memset(a, 0, sizeof a);
	crypto_random(a, sizeof a);
	memcpy(b, a, sizeof b);
	CHECK(crypto_equal(a, b, sizeof a));
	b[31] ^= 1;
	CHECK(!crypto_equal(a, b, sizeof a));
	crypto_cleanse(a, sizeof a);
	memset(b, 0, sizeof b);
	CHECK(crypto_equal(a, b, sizeof a));
end:
	;
}

static const struct unit_test tests[] = {
	{ "tag_reference", test_tag_reference },
	{ "tag_pieces", test_tag_pieces },
	{ "hmac_vector", test_hmac_vector },
	{ "stream_rfc8439", test_stream_rfc8439 },
	{ "stream_pieces", test_stream_pieces },
	{ "hex", test_hex },
	{ "random_equal", test_random_equal },
	{ NULL, NULL },
};

UNIT_MAIN("crypto", tests)
