/*
 * Frames (docs/protocol.md): a 32-byte little-endian header, JSON
 * metadata, a raw payload and a Poly1305 tag over all three (crypto.h),
 * meta and payload enciphered with ChaCha20 on an encrypting key.
 */
#include <sys/mman.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "agentd/bigbuf.h"
#include "agentd/frame.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/le.h"

/*
 * Large payloads are copied and MAC'd in pieces this size, so each piece is
 * still in cache when the MAC reads it: one pass over memory, not two.
 */
#define FRAME_PIECE	(256 * 1024)
/* Buffers from this size on ask for huge pages (below). */
#define FRAME_HUGE	((size_t)4 << 20)
#define FRAME_HUGE_PAGE	((uintptr_t)2 << 20)

_Static_assert(FRAME_MAC_SIZE == CRYPTO_TAG_SIZE &&
    FRAME_KEY_SIZE == CRYPTO_KEY_SIZE, "the frame tag is crypto_tag's");

/* The decoded fixed header. */
struct frame_header {
	uint32_t	magic;
	uint8_t		version;
	uint8_t		type;
	uint16_t	flags;
	uint32_t	meta_len;
	uint64_t	payload_len;
	uint64_t	seq;
	uint32_t	reserved;
};

static const char *frame_names[] = {
	NULL, "hello", "auth", "request", "reply", "event", "ping", "pong",
	"agent"
};

/* Lays out the 32 header bytes; reserved fields are zero. */
static void
frame_header_encode(unsigned char *p, const struct frame_header *h)
{
	nn_le_put_u32(p + 0, h->magic);
	p[4] = h->version;
	p[5] = h->type;
	nn_le_put_u16(p + 6, h->flags);
	nn_le_put_u32(p + 8, h->meta_len);
	nn_le_put_u64(p + 12, h->payload_len);
	nn_le_put_u64(p + 20, h->seq);
	nn_le_put_u32(p + 28, h->reserved);
}

/* Decodes and checks a header; fails on any field a receiver refuses. */
static int
frame_header_decode(const unsigned char *p, struct frame_header *h,
    uint32_t max_meta, uint64_t max_payload, char **cause)
{
	h->magic = nn_le_get_u32(p + 0);
	h->version = p[4];
	h->type = p[5];
	h->flags = nn_le_get_u16(p + 6);
	h->meta_len = nn_le_get_u32(p + 8);
	h->payload_len = nn_le_get_u64(p + 12);
	h->seq = nn_le_get_u64(p + 20);
	h->reserved = nn_le_get_u32(p + 28);

	if (h->magic != FRAME_MAGIC)
		return nn_fail(cause, "bad magic 0x%08" PRIx32 " (expected "
		    "0x%08x)", h->magic, FRAME_MAGIC);
	if (h->version != FRAME_VERSION)
		return nn_fail(cause, "unsupported version %u (expected %d)",
		    h->version, FRAME_VERSION);
	if (h->flags != 0)
		return nn_fail(cause, "unsupported flags 0x%04x (expected 0)",
		    h->flags);
	if (h->type < 1 || h->type > FRAME_TYPE_MAX)
		return nn_fail(cause, "unknown frame type %u", h->type);
	if (h->reserved != 0)
		return nn_fail(cause, "reserved field is 0x%08" PRIx32
		    " (expected 0)", h->reserved);
	if (h->meta_len > max_meta)
		return nn_fail(cause, "bad frame length %" PRIu32 " (limit %"
		    PRIu32 ")", h->meta_len, max_meta);
	if (h->payload_len > max_payload)
		return nn_fail(cause, "bad payload length %" PRIu64 " (limit %"
		    PRIu64 ")", h->payload_len, max_payload);
	return 0;
}

/*
 * Asks for transparent huge pages on a large fresh buffer before it is
 * written: faulting in 4 KiB pages otherwise costs as much as the MAC. Only
 * advice, so failure is ignored.
 */
static void
frame_hugepages(void *p, size_t n)
{
	uintptr_t start, end;

	if (n < FRAME_HUGE)
		return;
	start = ((uintptr_t)p + FRAME_HUGE_PAGE - 1) & ~(FRAME_HUGE_PAGE - 1);
	end = ((uintptr_t)p + n) & ~(FRAME_HUGE_PAGE - 1);
	if (end > start)
		(void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

/* Copies n bytes to dst in cache-sized pieces, MAC'ing each piece. */
static void
frame_copy_mac(struct crypto_tag *t, unsigned char *dst,
    const unsigned char *src, size_t n)
{
	size_t step;

	while (n > 0) {
		step = n < FRAME_PIECE ? n : FRAME_PIECE;
		memcpy(dst, src, step);
		crypto_tag_update(t, dst, step);
		dst += step;
		src += step;
		n -= step;
	}
}

/*
 * The writers' copy: n bytes to dst in cache-sized pieces, enciphered on
 * the way when cs is open, each piece MAC'd as it landed (the tag covers
 * the ciphertext).
 */
static void
frame_seal(struct crypto_tag *t, struct crypto_stream *cs, unsigned char *dst,
    const unsigned char *src, size_t n)
{
	size_t step;

	if (!crypto_stream_open(cs)) {
		frame_copy_mac(t, dst, src, n);
		return;
	}
	while (n > 0) {
		step = n < FRAME_PIECE ? n : FRAME_PIECE;
		crypto_stream_xor(cs, dst, src, step);
		crypto_tag_update(t, dst, step);
		dst += step;
		src += step;
		n -= step;
	}
}

/*
 * Appends n enciphered bytes of src to out, in one reservation of out's
 * own: whatever src refers to is read, never changed.
 */
static void
frame_seal_add(struct evbuffer *out, struct crypto_tag *t,
    struct crypto_stream *cs, const void *src, size_t n)
{
	struct evbuffer_iovec v;

	if (n == 0)
		return;
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) != 1 ||
	    v.iov_len < n)
		fatal("out of memory reserving %zu enciphered bytes", n);
	frame_hugepages(v.iov_base, n);
	frame_seal(t, cs, v.iov_base, src, n);
	v.iov_len = n;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		fatal("frame: evbuffer_commit_space failed");
}

/* Enciphers all of b onto the end of out, chain by chain, and empties b. */
static void
frame_seal_buffer(struct evbuffer *out, struct crypto_tag *t,
    struct crypto_stream *cs, struct evbuffer *b)
{
	struct evbuffer_iovec v[64], d;
	struct evbuffer_ptr pos;
	size_t n = evbuffer_get_length(b);
	unsigned char *p;
	int i, nv;

	if (n == 0)
		return;
	if (evbuffer_reserve_space(out, (ev_ssize_t)n, &d, 1) != 1 ||
	    d.iov_len < n)
		fatal("out of memory reserving %zu enciphered bytes", n);
	p = d.iov_base;
	frame_hugepages(p, n);
	if (evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET) != 0)
		fatal("frame: evbuffer_ptr_set failed");
	while ((size_t)(p - (unsigned char *)d.iov_base) < n) {
		nv = evbuffer_peek(b, -1, &pos, v, 64);
		if (nv <= 0)
			fatal("frame: payload shorter than its length");
		if (nv > 64)
			nv = 64;
		for (i = 0; i < nv; i++) {
			frame_seal(t, cs, p, v[i].iov_base, v[i].iov_len);
			p += v[i].iov_len;
			if (evbuffer_ptr_set(b, &pos, v[i].iov_len,
			    EVBUFFER_PTR_ADD) != 0)
				break;	/* the end */
		}
	}
	d.iov_len = n;
	if (evbuffer_commit_space(out, &d, 1) != 0)
		fatal("frame: evbuffer_commit_space failed");
	if (evbuffer_drain(b, n) != 0)
		fatal("frame: evbuffer_drain failed");
}

/*
 * Copies n bytes at pos out of in (without draining) into dst and MACs
 * them, walking the buffer's chains in place.
 */
static void
frame_take(struct evbuffer *in, struct evbuffer_ptr *pos, size_t n,
    unsigned char *dst, struct crypto_tag *t)
{
	struct evbuffer_iovec v[64];
	size_t step;
	int i, nv;

	while (n > 0) {
		/* -1: stop after 64 extents. With a length, libevent walks
		 * every chain covering it just to count them, which made
		 * taking a frame quadratic in its chains. */
		nv = evbuffer_peek(in, -1, pos, v, 64);
		if (nv <= 0)
			fatal("frame_take: buffer shorter than its frame");
		if (nv > 64)
			nv = 64;	/* the rest comes next time round */
		for (i = 0; i < nv && n > 0; i++) {
			step = v[i].iov_len < n ? v[i].iov_len : n;
			frame_copy_mac(t, dst, v[i].iov_base, step);
			dst += step;
			n -= step;
			if (evbuffer_ptr_set(in, pos, step,
			    EVBUFFER_PTR_ADD) != 0)
				fatal("frame_take: cannot advance");
		}
	}
}

/* MACs every byte of b in place, walking its chains. */
static void
frame_mac_buffer(struct crypto_tag *t, struct evbuffer *b)
{
	struct evbuffer_iovec v[64];
	struct evbuffer_ptr pos;
	int i, nv;

	if (evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET) != 0)
		return;		/* empty */
	for (;;) {
		nv = evbuffer_peek(b, -1, &pos, v, 64);
		if (nv <= 0)
			return;
		if (nv > 64)
			nv = 64;
		for (i = 0; i < nv; i++) {
			crypto_tag_update(t, v[i].iov_base, v[i].iov_len);
			if (evbuffer_ptr_set(b, &pos, v[i].iov_len,
			    EVBUFFER_PTR_ADD) != 0)
				return;	/* the end */
		}
	}
}

/* The type's name for logs; "unknown" out of range. Borrowed. */
const char *
frame_type_name(int type)
{
	if (type < 1 || type > FRAME_TYPE_MAX)
		return "unknown";
	return frame_names[type];
}

/* Sets the key and restarts seq at 0; a NULL key is the all-zero key. */
void
frame_key_init(struct frame_key *k, const unsigned char *key)
{
	if (key != NULL)
		memcpy(k->key, key, FRAME_KEY_SIZE);
	else
		memset(k->key, 0, FRAME_KEY_SIZE);
	k->seq = 0;
	k->encrypt = 0;
}

/* Frees a received frame, its meta and payload; NULL is a no-op. */
void
frame_free(struct frame *f)
{
	if (f == NULL)
		return;
	json_decref(f->meta);
	bigbuf_free(f->payload);
	free(f);
}

/*
 * Appends a frame's header and meta to out, with room for everything when
 * payload is to be copied: then the payload and tag follow in the same
 * reservation and *tag and *cs are closed. Otherwise *tag is open, fed so
 * far, for the payload to follow, and *cs, on an encrypting key, is the
 * keystream at the payload's first byte. Advances k->seq. Fails,
 * leaving out and k alone, when meta or a length is refused.
 */
static int
frame_head(struct evbuffer *out, struct frame_key *k, int type, json_t *meta,
    const void *payload, uint64_t payload_len, int copy,
    struct crypto_tag *tag, struct crypto_stream *cs, char **cause)
{
	struct frame_header h;
	struct evbuffer_iovec v;
	unsigned char *p;
	char *text = NULL;
	size_t meta_len, total, copied;
	int rc = -1;

	memset(tag, 0, sizeof *tag);
	memset(cs, 0, sizeof *cs);
	if (type < 1 || type > FRAME_TYPE_MAX)
		fatal("frame_write: bad frame type %d", type);
	if (copy && payload_len > 0 && payload == NULL)
		fatal("frame_write: %" PRIu64 " bytes of NULL payload",
		    payload_len);
	if (payload_len > FRAME_MAX_PAYLOAD) {
		nn_fail(cause, "payload of %" PRIu64 " bytes is over the "
		    "limit of %" PRIu64, payload_len, FRAME_MAX_PAYLOAD);
		goto out;
	}
	if (meta != NULL && !json_is_object(meta)) {
		nn_fail(cause, "metadata is not a JSON object");
		goto out;
	}
	if (meta == NULL)
		text = xstrdup("{}");
	else if ((text = json_dumps(meta, JSON_COMPACT)) == NULL) {
		nn_fail(cause, "metadata cannot be encoded as JSON");
		goto out;
	}
	meta_len = strlen(text);
	if (meta_len > FRAME_MAX_META) {
		nn_fail(cause, "metadata of %zu bytes is over the limit of %u",
		    meta_len, FRAME_MAX_META);
		goto out;
	}

	memset(&h, 0, sizeof h);
	h.magic = FRAME_MAGIC;
	h.version = FRAME_VERSION;
	h.type = (uint8_t)type;
	h.meta_len = (uint32_t)meta_len;
	h.payload_len = payload_len;
	h.seq = k->seq;
	total = FRAME_HEADER_SIZE + meta_len + (size_t)payload_len +
	    FRAME_MAC_SIZE;
	copied = copy ? total : FRAME_HEADER_SIZE + meta_len;

	/* One contiguous reservation: a copied payload is copied once. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)copied, &v, 1) != 1 ||
	    v.iov_len < copied)
		fatal("out of memory reserving a %zu-byte frame", copied);
	p = v.iov_base;
	frame_hugepages(p, copied);
	crypto_tag_init(tag, k->key, k->seq);
	if (k->encrypt)
		crypto_stream_init(cs, k->key, k->seq, 0);
	frame_header_encode(p, &h);
	crypto_tag_update(tag, p, FRAME_HEADER_SIZE);
	p += FRAME_HEADER_SIZE;
	frame_seal(tag, cs, p, (const unsigned char *)text, meta_len);
	p += meta_len;
	if (copy) {
		if (payload_len > 0)
			frame_seal(tag, cs, p, payload, (size_t)payload_len);
		p += payload_len;
		crypto_tag_final(tag, p);
		crypto_stream_clear(cs);
	}
	v.iov_len = copied;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		fatal("frame_write: evbuffer_commit_space failed");
	k->seq++;
	rc = 0;
out:
	free(text);
	return rc;
}

/* Finishes a frame whose payload went in by reference: the tag. */
static void
frame_tail(struct evbuffer *out, struct crypto_tag *tag)
{
	unsigned char mac[FRAME_MAC_SIZE];

	crypto_tag_final(tag, mac);
	if (evbuffer_add(out, mac, sizeof mac) != 0)
		fatal("out of memory adding a MAC");
}

/*
 * Appends one frame to out: the payload copied (cleanup NULL and byref 0),
 * referenced (byref 1, cleanup called once it has been sent) or moved from
 * pbuf. On an encrypting key a referenced payload is enciphered into out
 * like a copied one, since it is not ours to change, and a moved one
 * chain by chain.
 */
static int
frame_put(struct evbuffer *out, struct frame_key *k, int type, json_t *meta,
    const void *payload, uint64_t payload_len, int byref,
    evbuffer_ref_cleanup_cb cleanup, void *arg, struct evbuffer *pbuf,
    char **cause)
{
	struct crypto_stream cs;
	struct crypto_tag tag;
	int copy = !byref || (k->encrypt && pbuf == NULL);

	if (byref && pbuf == NULL && payload_len > 0 && payload == NULL)
		fatal("frame_write: %" PRIu64 " bytes of NULL payload",
		    payload_len);
	if (frame_head(out, k, type, meta, payload, payload_len, copy, &tag,
	    &cs, cause) != 0)
		return -1;
	if (copy) {
		/* Enciphered into out: the caller may have its bytes back. */
		if (byref && cleanup != NULL)
			cleanup(payload, (size_t)payload_len, arg);
		return 0;
	}
	if (pbuf != NULL && crypto_stream_open(&cs))
		frame_seal_buffer(out, &tag, &cs, pbuf);
	else if (pbuf != NULL) {
		frame_mac_buffer(&tag, pbuf);
		if (evbuffer_add_buffer(out, pbuf) != 0)
			fatal("out of memory moving a payload");
	} else {
		crypto_tag_update(&tag, payload, (size_t)payload_len);
		if (payload_len == 0) {
			if (cleanup != NULL)
				cleanup(payload, 0, arg);
		} else if (evbuffer_add_reference(out, payload,
		    (size_t)payload_len, cleanup, arg) != 0)
			fatal("out of memory adding a payload reference");
	}
	crypto_stream_clear(&cs);
	frame_tail(out, &tag);
	return 0;
}

/* A frame whose payload comes in pieces (frame.h). */
struct frame_stream {
	struct crypto_tag tag;		/* closed once the tag is out */
	struct crypto_stream cs;	/* open on an encrypting key */
	struct evbuffer	*sealed;	/* the ciphertext of what is ahead */
	uint64_t	 left;		/* bytes still to put */
	uint64_t	 ahead;		/* MAC'd and not yet put */
};

struct frame_stream *
frame_stream_begin(struct evbuffer *out, struct frame_key *k, int type,
    json_t *meta, uint64_t payload_len, char **cause)
{
	struct frame_stream *fs;
	struct crypto_stream cs;
	struct crypto_tag tag;

	if (frame_head(out, k, type, meta, NULL, payload_len, 0, &tag, &cs,
	    cause) != 0)
		return NULL;
	fs = xcalloc(1, sizeof *fs);
	fs->tag = tag;
	fs->cs = cs;
	fs->left = payload_len;
	if (crypto_stream_open(&fs->cs) &&
	    (fs->sealed = evbuffer_new()) == NULL)
		fatal("out of memory for an evbuffer");
	if (payload_len == 0) {
		crypto_stream_clear(&fs->cs);
		frame_tail(out, &fs->tag);
	}
	return fs;
}

uint64_t
frame_stream_left(const struct frame_stream *fs)
{
	return fs->left;
}

void
frame_stream_mac(struct frame_stream *fs, const void *p, size_t n)
{
	if (!crypto_tag_open(&fs->tag) || n > fs->left - fs->ahead)
		fatal("frame_stream_mac: %zu bytes past the payload", n);
	/* The source's bytes may be a worker's memory: read, not changed. */
	if (crypto_stream_open(&fs->cs))
		frame_seal_add(fs->sealed, &fs->tag, &fs->cs, p, n);
	else
		crypto_tag_update(&fs->tag, p, n);
	fs->ahead += n;
}

int
frame_stream_put(struct frame_stream *fs, struct evbuffer *out,
    struct evbuffer *piece)
{
	size_t n = evbuffer_get_length(piece);

	if (n != fs->ahead)
		return -1;
	if (fs->sealed != NULL) {
		/* The plaintext piece goes back to its source now. */
		if (evbuffer_drain(piece, n) != 0 ||
		    evbuffer_add_buffer(out, fs->sealed) != 0)
			fatal("out of memory moving a payload piece");
	} else if (evbuffer_add_buffer(out, piece) != 0)
		fatal("out of memory moving a payload piece");
	fs->left -= n;
	fs->ahead = 0;
	if (fs->left == 0 && crypto_tag_open(&fs->tag)) {
		crypto_stream_clear(&fs->cs);
		frame_tail(out, &fs->tag);
	}
	return 0;
}

void
frame_stream_free(struct frame_stream *fs)
{
	if (fs == NULL)
		return;
	crypto_tag_clear(&fs->tag);
	crypto_stream_clear(&fs->cs);
	if (fs->sealed != NULL)
		evbuffer_free(fs->sealed);
	free(fs);
}

/* Appends one frame, payload copied (frame.h). */
int
frame_write(struct evbuffer *out, struct frame_key *k, int type,
    json_t *meta, const void *payload, uint64_t payload_len,
    char **cause)
{
	return frame_put(out, k, type, meta, payload, payload_len, 0, NULL,
	    NULL, NULL, cause);
}

/* Appends one frame, payload referenced until sent (frame.h). */
int
frame_write_ref(struct evbuffer *out, struct frame_key *k, int type,
    json_t *meta, const void *payload, uint64_t payload_len,
    evbuffer_ref_cleanup_cb cleanup, void *arg, char **cause)
{
	return frame_put(out, k, type, meta, payload, payload_len, 1, cleanup,
	    arg, NULL, cause);
}

/* Appends one frame whose payload is all of payload, moved (frame.h). */
int
frame_write_buffer(struct evbuffer *out, struct frame_key *k, int type,
    json_t *meta, struct evbuffer *payload, char **cause)
{
	return frame_put(out, k, type, meta, NULL, evbuffer_get_length(payload),
	    1, NULL, NULL, payload, cause);
}

/* Takes one whole, checked frame off in, or 0 or -1 (frame.h). */
int
frame_read(struct evbuffer *in, struct frame_key *k, struct frame **out,
    char **cause)
{
	return frame_read_max(in, k, FRAME_MAX_PAYLOAD, out, cause);
}

/*
 * The checks after the bytes are in: MAC, seq and JSON, and on an
 * encrypting key the deciphering in place between the first two and the
 * last (meta_plain: the reader deciphered meta already, for its hint).
 * Takes meta and payload; on success *out owns them, otherwise they are
 * freed.
 */
static int
frame_finish(const struct frame_header *h, struct frame_key *k,
    const unsigned char *want, const unsigned char *mac, unsigned char *meta,
    int meta_plain, unsigned char *payload, struct frame **out, char **cause)
{
	struct crypto_stream cs;
	json_error_t jerr;
	json_t *obj = NULL;
	struct frame *f;
	int rc = -1;

	if (!crypto_equal(mac, want, FRAME_MAC_SIZE)) {
		nn_fail(cause, "bad MAC");
		goto out;
	}
	if (h->seq != k->seq) {
		nn_fail(cause, "bad sequence number %" PRIu64 " (expected %"
		    PRIu64 ")", h->seq, k->seq);
		goto out;
	}
	if (k->encrypt) {
		/* Only bytes that passed the tag are worth deciphering. */
		crypto_stream_init(&cs, k->key, h->seq, meta_plain ?
		    h->meta_len : 0);
		if (!meta_plain)
			crypto_stream_xor(&cs, meta, meta, h->meta_len);
		if (h->payload_len > 0)
			crypto_stream_xor(&cs, payload, payload,
			    (size_t)h->payload_len);
		crypto_stream_clear(&cs);
	}
	obj = json_loadb((const char *)meta, h->meta_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		nn_fail(cause, "bad JSON metadata: %s at byte %d", jerr.text,
		    jerr.position);
		goto out;
	}
	if (!json_is_object(obj)) {
		nn_fail(cause, "metadata is not a JSON object");
		goto out;
	}
	k->seq++;
	f = xcalloc(1, sizeof *f);
	f->type = h->type;
	f->meta = obj;
	f->payload = payload;
	f->payload_len = h->payload_len;
	obj = NULL;
	payload = NULL;
	*out = f;
	rc = 1;
out:
	json_decref(obj);
	bigbuf_free(payload);
	free(meta);
	return rc;
}

/*
 * The rest of frame_read_max once the header at the front of in (hb) has
 * been decoded and checked into h.
 */
static int
frame_read_body(struct evbuffer *in, struct frame_key *k,
    const unsigned char *hb, const struct frame_header *hp,
    struct frame **out, char **cause)
{
	unsigned char mac[FRAME_MAC_SIZE], want[FRAME_MAC_SIZE];
	struct frame_header h = *hp;
	struct evbuffer_ptr pos;
	struct crypto_tag tag;
	unsigned char *meta = NULL, *payload = NULL;
	uint64_t total;
	int rc;

	/* No overflow: both lengths are already within their limits. */
	total = FRAME_HEADER_SIZE + (uint64_t)h.meta_len + h.payload_len +
	    FRAME_MAC_SIZE;
	if (evbuffer_get_length(in) < total)
		return 0;

	/* Nothing is drained until the MAC, seq and JSON have passed. */
	meta = xmalloc((size_t)h.meta_len + 1);
	if (h.payload_len > 0) {
		payload = xmalloc((size_t)h.payload_len);
		frame_hugepages(payload, (size_t)h.payload_len);
	}
	crypto_tag_init(&tag, k->key, h.seq);
	crypto_tag_update(&tag, hb, FRAME_HEADER_SIZE);
	if (evbuffer_ptr_set(in, &pos, FRAME_HEADER_SIZE,
	    EVBUFFER_PTR_SET) != 0)
		fatal("frame_read: evbuffer_ptr_set failed");
	frame_take(in, &pos, h.meta_len, meta, &tag);
	meta[h.meta_len] = '\0';
	frame_take(in, &pos, (size_t)h.payload_len, payload, &tag);
	crypto_tag_final(&tag, want);
	if (evbuffer_copyout_from(in, &pos, mac, sizeof mac) !=
	    (ev_ssize_t)sizeof mac)
		fatal("frame_read: evbuffer_copyout_from failed");
	rc = frame_finish(&h, k, want, mac, meta, 0, payload, out, cause);
	if (rc == 1 && evbuffer_drain(in, (size_t)total) != 0)
		fatal("frame_read: evbuffer_drain failed");
	return rc;
}

/* Copies out and checks the header at the front of in: 1, 0 when it has
 * not all come, or -1 with cause. */
static int
frame_peek_header(struct evbuffer *in, uint64_t max_payload,
    unsigned char *hb, struct frame_header *h, char **cause)
{
	if (evbuffer_get_length(in) < FRAME_HEADER_SIZE)
		return 0;
	if (evbuffer_copyout(in, hb, FRAME_HEADER_SIZE) !=
	    (ev_ssize_t)FRAME_HEADER_SIZE)
		fatal("frame_read: evbuffer_copyout failed");
	if (max_payload > FRAME_MAX_PAYLOAD)
		max_payload = FRAME_MAX_PAYLOAD;
	return frame_header_decode(hb, h, max_payload == 0 ?
	    FRAME_HANDSHAKE_META : FRAME_MAX_META, max_payload, cause) != 0 ?
	    -1 : 1;
}

/* frame_read with a lower payload limit (frame.h). */
int
frame_read_max(struct evbuffer *in, struct frame_key *k,
    uint64_t max_payload, struct frame **out, char **cause)
{
	unsigned char hb[FRAME_HEADER_SIZE];
	struct frame_header h;
	int r;

	*out = NULL;
	if ((r = frame_peek_header(in, max_payload, hb, &h, cause)) <= 0)
		return r;
	return frame_read_body(in, k, hb, &h, out, cause);
}

/* A frame reader (frame.h). */
struct frame_reader {
	struct evbuffer	*in;
	int		 pooled;
	int		 trusted;	/* its claims: frame_reader_trust */
	/* The large frame being read, when payload is not NULL. */
	struct frame_header h;
	unsigned char	*meta;
	unsigned char	*payload;
	uint64_t	 cap;		/* its size so far: grows as bytes come */
	uint64_t	 got;
	struct crypto_tag tag;
	int		 told;		/* frame_reader_started said so */
};

struct frame_reader *
frame_reader_new(int pooled)
{
	struct frame_reader *r = xcalloc(1, sizeof *r);

	if ((r->in = evbuffer_new()) == NULL)
		fatal("out of memory for an evbuffer");
	r->pooled = pooled;
	return r;
}

static void
frame_reader_reset(struct frame_reader *r)
{
	crypto_tag_clear(&r->tag);
	bigbuf_free(r->payload);
	r->payload = NULL;
	free(r->meta);
	r->meta = NULL;
	r->cap = 0;
	r->got = 0;
	r->told = 0;
}

void
frame_reader_free(struct frame_reader *r)
{
	if (r == NULL)
		return;
	frame_reader_reset(r);
	evbuffer_free(r->in);
	free(r);
}

void
frame_reader_trust(struct frame_reader *r, int trusted)
{
	r->trusted = trusted;
}

uint64_t
frame_reader_pending(const struct frame_reader *r)
{
	return evbuffer_get_length(r->in) + r->got +
	    (r->payload != NULL ? FRAME_HEADER_SIZE + r->h.meta_len : 0);
}

/* MACs the n bytes just read into the payload, in cache-sized pieces. */
static void
frame_reader_mac(struct frame_reader *r, uint64_t n)
{
	uint64_t done, step;

	for (done = 0; done < n; done += step) {
		step = n - done < FRAME_PIECE ? n - done : FRAME_PIECE;
		crypto_tag_update(&r->tag, r->payload + r->got + done,
		    (size_t)step);
	}
	r->got += n;
}

/*
 * Bytes to read into in next: what the frame at its front still lacks, but
 * at most as much again as has come, so that a header's claim alone costs
 * nothing; at least FRAME_READ_MIN, at most max.
 */
static size_t
frame_reader_want(struct frame_reader *r, size_t max)
{
	unsigned char hb[FRAME_HEADER_SIZE];
	uint64_t have = evbuffer_get_length(r->in), need, payload;
	uint64_t want = FRAME_READ_MIN;

	if (r->payload == NULL && have >= FRAME_HEADER_SIZE &&
	    evbuffer_copyout(r->in, hb, sizeof hb) == (ev_ssize_t)sizeof hb) {
		/* A large payload is read straight into its own buffer. */
		payload = nn_le_get_u64(hb + 12);
		if (payload >= FRAME_DIRECT)
			payload = 0;
		need = FRAME_HEADER_SIZE + (uint64_t)nn_le_get_u32(hb + 8) +
		    payload + FRAME_MAC_SIZE;
		if (need > have + want && have > want)
			want = need - have < have ? need - have : have;
	}
	return want < max ? (size_t)want : max;
}

/* Doubles the large payload's buffer, up to its length: its bytes filled
 * what there was. */
static void
frame_reader_grow(struct frame_reader *r)
{
	uint64_t cap = r->cap * 2;

	if (cap > r->h.payload_len)
		cap = r->h.payload_len;
	r->payload = bigbuf_grow(r->payload, (size_t)cap);
	if (!r->pooled)
		frame_hugepages(r->payload, (size_t)cap);
	r->cap = cap;
}

ssize_t
frame_reader_fill(struct frame_reader *r, int fd, size_t max)
{
	struct evbuffer_iovec v[3];
	struct iovec io[3];
	uint64_t direct = 0;
	ssize_t n, left;
	int nv, ni, i;

	ni = nv = 0;
	if (r->payload != NULL && r->got < r->h.payload_len) {
		if (r->got == r->cap)
			frame_reader_grow(r);
		direct = r->cap - r->got;
		if (direct > max)
			direct = max;
		io[ni].iov_base = r->payload + r->got;
		io[ni].iov_len = (size_t)direct;
		ni++;
	}
	/* What follows the payload (its MAC, the next frames) goes to in. */
	if (direct == 0 || r->got + direct == r->h.payload_len) {
		nv = evbuffer_reserve_space(r->in, (ev_ssize_t)(direct > 0 ?
		    (max < FRAME_READ_MIN ? max : FRAME_READ_MIN) :
		    frame_reader_want(r, max)), v, 2);
		if (nv <= 0)
			fatal("out of memory reserving read space");
	}
	for (i = 0; i < nv; i++) {
		io[ni].iov_base = v[i].iov_base;
		io[ni].iov_len = v[i].iov_len;
		ni++;
	}
	n = readv(fd, io, ni);
	if (n <= 0) {
		if (nv > 0)
			evbuffer_commit_space(r->in, v, 0);
		return n;
	}
	left = n;
	if (direct > 0) {
		uint64_t take = (uint64_t)left < direct ? (uint64_t)left :
		    direct;

		frame_reader_mac(r, take);
		left -= (ssize_t)take;
	}
	for (i = 0; i < nv; i++) {
		v[i].iov_len = (size_t)left < v[i].iov_len ? (size_t)left :
		    v[i].iov_len;
		left -= (ssize_t)v[i].iov_len;
	}
	if (nv > 0)
		evbuffer_commit_space(r->in, v, nv);
	return n;
}

/*
 * Starts reading a large frame whose header and meta are in r->in: they
 * and what has come of the payload move out, the rest is read directly.
 */
static void
frame_reader_begin(struct frame_reader *r, const unsigned char *hb,
    struct frame_key *k)
{
	uint64_t have, first;

	/* A warm buffer of the pool costs nothing more; otherwise the
	 * buffer starts small and grows with what comes (frame_reader_fill),
	 * so that a claimed 1 GiB sent a byte at a time takes little. */
	have = evbuffer_get_length(r->in) - FRAME_HEADER_SIZE - r->h.meta_len;
	if (r->trusted) {
		r->cap = r->h.payload_len;
		r->payload = r->pooled ? bigbuf_alloc((size_t)r->cap) :
		    xmalloc((size_t)r->cap);
		if (!r->pooled)
			frame_hugepages(r->payload, (size_t)r->cap);
	} else if (r->pooled && (r->payload = bigbuf_idle((size_t)
	    r->h.payload_len)) != NULL)
		r->cap = r->h.payload_len;
	else {
		first = have > FRAME_GROW_FIRST ? have : FRAME_GROW_FIRST;
		r->cap = first < r->h.payload_len ? first : r->h.payload_len;
		r->payload = r->pooled ? bigbuf_alloc((size_t)r->cap) :
		    xmalloc((size_t)r->cap);
		if (!r->pooled)
			frame_hugepages(r->payload, (size_t)r->cap);
	}
	r->meta = xmalloc((size_t)r->h.meta_len + 1);
	crypto_tag_init(&r->tag, k->key, r->h.seq);
	crypto_tag_update(&r->tag, hb, FRAME_HEADER_SIZE);
	evbuffer_drain(r->in, FRAME_HEADER_SIZE);
	if (evbuffer_remove(r->in, r->meta, r->h.meta_len) !=
	    (int)r->h.meta_len)
		fatal("frame_reader: meta shorter than counted");
	r->meta[r->h.meta_len] = '\0';
	crypto_tag_update(&r->tag, r->meta, r->h.meta_len);
	/* Deciphered now for frame_reader_started's hint, unchecked as ever. */
	if (k->encrypt)
		crypto_xor(k->key, r->h.seq, 0, r->meta, r->meta,
		    r->h.meta_len);
	if (have > r->h.payload_len)
		have = r->h.payload_len;
	if (have > 0 && evbuffer_remove(r->in, r->payload, (size_t)have) !=
	    (int)have)
		fatal("frame_reader: payload shorter than counted");
	r->got = 0;
	frame_reader_mac(r, have);
}

int
frame_reader_started(struct frame_reader *r, int *type, const char **meta,
    void **payload, uint64_t *len)
{
	/* Only once its buffer has its full size: then it stays put. */
	if (r->payload == NULL || r->told || r->cap < r->h.payload_len)
		return 0;
	r->told = 1;
	*type = r->h.type;
	*meta = (const char *)r->meta;
	*payload = r->payload;
	*len = r->h.payload_len;
	return 1;
}

int
frame_reader_next(struct frame_reader *r, struct frame_key *k,
    uint64_t max_payload, struct frame **out, char **cause)
{
	unsigned char hb[FRAME_HEADER_SIZE], mac[FRAME_MAC_SIZE];
	unsigned char want[FRAME_MAC_SIZE];
	unsigned char *meta, *payload;
	int rc;

	*out = NULL;
	if (r->payload == NULL) {
		if ((rc = frame_peek_header(r->in, max_payload, hb, &r->h,
		    cause)) <= 0)
			return rc;
		/* Small: the evbuffer way. A large one goes to its own
		 * buffer even when it came whole (the pool's, in a daemon). */
		if (r->h.payload_len < FRAME_DIRECT)
			return frame_read_body(r->in, k, hb, &r->h, out,
			    cause);
		if (evbuffer_get_length(r->in) < FRAME_HEADER_SIZE +
		    (uint64_t)r->h.meta_len)
			return 0;
		frame_reader_begin(r, hb, k);
	}
	if (r->got < r->h.payload_len ||
	    evbuffer_get_length(r->in) < FRAME_MAC_SIZE)
		return 0;
	if (evbuffer_remove(r->in, mac, sizeof mac) != (int)sizeof mac)
		fatal("frame_reader: evbuffer_remove failed");
	crypto_tag_final(&r->tag, want);
	meta = r->meta;
	payload = r->payload;
	r->meta = NULL;
	r->payload = NULL;
	frame_reader_reset(r);
	rc = frame_finish(&r->h, k, want, mac, meta, 1, payload, out, cause);
	return rc;
}
