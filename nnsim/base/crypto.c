/*
 * Tags, HMAC, random bytes and key text (crypto.h), over OpenSSL 3.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "base/le.h"

#define CRYPTO_NONCE_SIZE	12
/* The EVP API counts in int: longer inputs go in pieces this size. */
#define CRYPTO_STEP		((size_t)1 << 30)

/*
 * The tag is ChaCha20-Poly1305 over an empty plaintext: Poly1305 runs at
 * about 12 GB/s here where HMAC-SHA256 ran at 1.8, which capped what a
 * large state could cross a link at. The cipher is fetched once; a
 * context per message is all a tag allocates.
 */
static const EVP_CIPHER *
crypto_cipher(void)
{
	static EVP_CIPHER *cipher;

	if (cipher == NULL &&
	    (cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL)) ==
	    NULL)
		fatal("OpenSSL has no ChaCha20-Poly1305");
	return cipher;
}

/* Opens a tag for message seq; OpenSSL failing is fatal. */
void
crypto_tag_init(struct crypto_tag *t, const unsigned char *key, uint64_t seq)
{
	unsigned char nonce[CRYPTO_NONCE_SIZE];
	EVP_CIPHER_CTX *ctx;

	memset(nonce, 0, sizeof nonce);
	nn_le_put_u64(nonce + 4, seq);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatal("out of memory creating a MAC context");
	if (!EVP_EncryptInit_ex2(ctx, crypto_cipher(), key, nonce, NULL))
		fatal("ChaCha20-Poly1305 init failed");
	t->ctx = ctx;
}

/* Feeds n bytes of associated data; OpenSSL failing is fatal. */
void
crypto_tag_update(struct crypto_tag *t, const void *p, size_t n)
{
	const unsigned char *q = p;
	size_t step;
	int outl;

	if (t->ctx == NULL)
		fatal("crypto_tag_update: no tag open");
	while (n > 0) {
		step = n < CRYPTO_STEP ? n : CRYPTO_STEP;
		if (!EVP_EncryptUpdate(t->ctx, NULL, &outl, q, (int)step))
			fatal("ChaCha20-Poly1305 update failed");
		q += step;
		n -= step;
	}
}

/* Writes the tag and frees the context; OpenSSL failing is fatal. */
void
crypto_tag_final(struct crypto_tag *t, unsigned char *tag)
{
	unsigned char none[16];
	int outl;

	if (t->ctx == NULL)
		fatal("crypto_tag_final: no tag open");
	if (!EVP_EncryptFinal_ex(t->ctx, none, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(t->ctx, EVP_CTRL_AEAD_GET_TAG,
	    CRYPTO_TAG_SIZE, tag))
		fatal("ChaCha20-Poly1305 final failed");
	crypto_tag_clear(t);
}

/* Frees an unfinished tag's context; a closed tag is a no-op. */
void
crypto_tag_clear(struct crypto_tag *t)
{
	EVP_CIPHER_CTX_free(t->ctx);
	t->ctx = NULL;
}

/* Whether a tag is open. */
int
crypto_tag_open(const struct crypto_tag *t)
{
	return t->ctx != NULL;
}

/* The tag of hdr || payload in one call. */
void
crypto_tag(const unsigned char *key, uint64_t seq, const void *hdr,
    size_t hdr_len, const void *payload, size_t payload_len,
    unsigned char *tag)
{
	struct crypto_tag t;

	crypto_tag_init(&t, key, seq);
	crypto_tag_update(&t, hdr, hdr_len);
	crypto_tag_update(&t, payload, payload_len);
	crypto_tag_final(&t, tag);
}

/*
 * Plain ChaCha20 for the keystream: the AEAD cipher would MAC what it
 * encrypts, but the tag goes over the ciphertext and the header together
 * (crypto.h), so a reader can MAC bytes as they arrive and decrypt only
 * once the tag has passed.
 */
static const EVP_CIPHER *
crypto_chacha20(void)
{
	static EVP_CIPHER *cipher;

	if (cipher == NULL &&
	    (cipher = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL)) == NULL)
		fatal("OpenSSL has no ChaCha20");
	return cipher;
}

/* Opens the keystream of message seq at offset; OpenSSL failing is fatal. */
void
crypto_stream_init(struct crypto_stream *s, const unsigned char *key,
    uint64_t seq, uint64_t offset)
{
	unsigned char iv[4 + CRYPTO_NONCE_SIZE], skip[64];
	EVP_CIPHER_CTX *ctx;
	int outl;

	if (offset / 64 >= UINT32_MAX)
		fatal("crypto_stream_init: offset %llu past the keystream",
		    (unsigned long long)offset);
	/* OpenSSL's IV is the block counter, then the RFC's nonce. */
	memset(iv, 0, sizeof iv);
	nn_le_put_u32(iv, (uint32_t)(1 + offset / 64));
	nn_le_put_u64(iv + 8, seq);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		fatal("out of memory creating a cipher context");
	if (!EVP_EncryptInit_ex2(ctx, crypto_chacha20(), key, iv, NULL))
		fatal("ChaCha20 init failed");
	/* Into the block: OpenSSL keeps the rest of it for the next call. */
	if (offset % 64 != 0 && !EVP_EncryptUpdate(ctx, skip, &outl, skip,
	    (int)(offset % 64)))
		fatal("ChaCha20 update failed");
	s->ctx = ctx;
}

/* dst = src XOR keystream, in EVP-sized steps; OpenSSL failing is fatal. */
void
crypto_stream_xor(struct crypto_stream *s, void *dst, const void *src,
    size_t n)
{
	const unsigned char *p = src;
	unsigned char *q = dst;
	size_t step;
	int outl;

	if (s->ctx == NULL)
		fatal("crypto_stream_xor: no keystream open");
	while (n > 0) {
		step = n < CRYPTO_STEP ? n : CRYPTO_STEP;
		if (!EVP_EncryptUpdate(s->ctx, q, &outl, p, (int)step) ||
		    (size_t)outl != step)
			fatal("ChaCha20 update failed");
		p += step;
		q += step;
		n -= step;
	}
}

void
crypto_stream_clear(struct crypto_stream *s)
{
	EVP_CIPHER_CTX_free(s->ctx);
	s->ctx = NULL;
}

int
crypto_stream_open(const struct crypto_stream *s)
{
	return s->ctx != NULL;
}

/* One message's keystream applied in one call. */
void
crypto_xor(const unsigned char *key, uint64_t seq, uint64_t offset,
    void *dst, const void *src, size_t n)
{
	struct crypto_stream s;

	crypto_stream_init(&s, key, seq, offset);
	crypto_stream_xor(&s, dst, src, n);
	crypto_stream_clear(&s);
}

/* out = HMAC-SHA256(key, msg): proofs and derived keys. */
void
crypto_hmac(const unsigned char *key, size_t key_len, const void *msg,
    size_t len, unsigned char *out)
{
	size_t outl = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, msg,
	    len, out, CRYPTO_HMAC_SIZE, &outl) == NULL ||
	    outl != CRYPTO_HMAC_SIZE)
		fatal("HMAC-SHA256 failed");
}

void
crypto_sha256_hex(const void *buf, size_t len, char *out)
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		fatal("SHA-256 failed");
	crypto_hex(md, sizeof md, out);
}

/* Cryptographic random bytes; a failing generator is fatal. */
void
crypto_random(void *buf, size_t n)
{
	/* RAND_bytes takes an int; nonces and keys are far smaller. */
	if (n > 1024 * 1024)
		fatal("crypto_random: %zu bytes requested", n);
	if (RAND_bytes(buf, (int)n) != 1)
		fatal("the OpenSSL random generator failed");
}

/* 1 when the n bytes match, in time independent of the contents. */
int
crypto_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* Zeroes a secret; unlike memset, never optimised away. */
void
crypto_cleanse(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

/* Lowercase hex of n bytes and a NUL into out (2n + 1 bytes). */
void
crypto_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* The value of one hex digit, or -1. */
static int
crypto_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2n hex digits of either case into out; out untouched on -1. */
int
crypto_unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;

	/* Check everything first so out is untouched on failure. */
	if (strnlen(s, 2 * n + 1) != 2 * n)
		return -1;
	for (i = 0; i < 2 * n; i++) {
		if (crypto_digit(s[i]) == -1)
			return -1;
	}
	for (i = 0; i < n; i++) {
		out[i] = (unsigned char)(crypto_digit(s[2 * i]) << 4 |
		    crypto_digit(s[2 * i + 1]));
	}
	return 0;
}
