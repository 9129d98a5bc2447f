/*
 * The cryptographic primitives of the wire, one of each: the message tag
 * and keystream of agentd's frames and the ring's links, HMAC-SHA256 for proofs and
 * derived keys, random bytes, constant-time comparison and the hex text
 * of keys. OpenSSL failing to give an algorithm is fatal.
 */
#ifndef NN_CRYPTO_H
#define NN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_SIZE		32	/* a tag key */
#define CRYPTO_TAG_SIZE		16
#define CRYPTO_HMAC_SIZE	32

/*
 * A message tag: the ChaCha20-Poly1305 (RFC 8439) tag of an empty
 * plaintext with nonce = 4 zero bytes || seq (u64, little-endian) and the
 * message (header, then payload, fed in any pieces) as associated data.
 * A one-time Poly1305 key per message, so a key must never see a seq
 * twice. Kept by value; ctx is NULL while no tag is open.
 */
struct crypto_tag {
	void		*ctx;		/* OpenSSL's cipher context */
};

/* Opens a tag under key for message seq. */
void	crypto_tag_init(struct crypto_tag *, const unsigned char *key,
	    uint64_t seq);
/* Feeds n more bytes of the message. */
void	crypto_tag_update(struct crypto_tag *, const void *p, size_t n);
/* Writes the CRYPTO_TAG_SIZE-byte tag and closes it. */
void	crypto_tag_final(struct crypto_tag *, unsigned char *tag);
/* Closes a tag without finishing it; a closed one is left alone. */
void	crypto_tag_clear(struct crypto_tag *);
/* 1 between init and final (or clear). */
int	crypto_tag_open(const struct crypto_tag *);
/* The tag of hdr || payload in one call. */
void	crypto_tag(const unsigned char *key, uint64_t seq, const void *hdr,
	    size_t hdr_len, const void *payload, size_t payload_len,
	    unsigned char *tag);

/*
 * The ChaCha20 keystream (RFC 8439) of message seq, the same key and nonce
 * as its tag: block 0 is the tag's Poly1305 key, so byte 0 of the
 * plaintext takes block 1, as in the RFC's AEAD. Encrypting and decrypting
 * are the same XOR, in any pieces, in place or not. A message may be up to
 * CRYPTO_STREAM_MAX bytes (the 32-bit block counter). Kept by value; ctx
 * is NULL while none is open.
 */
#define CRYPTO_STREAM_MAX	((((uint64_t)1 << 32) - 1) * 64)
struct crypto_stream {
	void		*ctx;		/* OpenSSL's cipher context */
};

/* Opens the keystream under key for message seq at byte offset of its
 * plaintext; past CRYPTO_STREAM_MAX is fatal. */
void	crypto_stream_init(struct crypto_stream *, const unsigned char *key,
	    uint64_t seq, uint64_t offset);
/* dst = src XOR the next n bytes of keystream; dst may be src. */
void	crypto_stream_xor(struct crypto_stream *, void *dst, const void *src,
	    size_t n);
/* Closes a keystream; a closed one is left alone. */
void	crypto_stream_clear(struct crypto_stream *);
/* 1 between init and clear. */
int	crypto_stream_open(const struct crypto_stream *);
/* init, xor and clear in one call. */
void	crypto_xor(const unsigned char *key, uint64_t seq, uint64_t offset,
	    void *dst, const void *src, size_t n);

/* out (CRYPTO_HMAC_SIZE bytes) = HMAC-SHA256(key, msg). */
void	crypto_hmac(const unsigned char *key, size_t key_len, const void *msg,
	    size_t len, unsigned char *out);
/* The SHA-256 of len bytes, as 64 hex digits and a NUL into out. */
void	crypto_sha256_hex(const void *buf, size_t len, char *out);
/* Fills n bytes (at most 1 MiB) from the OpenSSL CSPRNG. */
void	crypto_random(void *buf, size_t n);
/* 1 when the n bytes match, in time independent of the contents. */
int	crypto_equal(const void *a, const void *b, size_t n);
/* Zeroes n bytes of a secret in a way the compiler cannot drop. */
void	crypto_cleanse(void *p, size_t n);
/* Lowercase hex of n bytes and a NUL into out (2n + 1 bytes). */
void	crypto_hex(const unsigned char *p, size_t n, char *out);
/* Exactly 2n hex digits of either case into out; out untouched on -1. */
int	crypto_unhex(const char *s, unsigned char *out, size_t n);

#endif
