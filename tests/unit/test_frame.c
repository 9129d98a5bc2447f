/*
 * Frames: round trips, partial and fragmented arrival, the exact bytes of
 * docs/protocol.md's example, every reason a receiver refuses a frame, and
 * the documented Python client run against this code.
 *
 * Malformed frames are built here by hand (raw_add), with the MAC from
 * OpenSSL's one-shot HMAC(), so they check the layout independently of
 * frame_write.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/evp.h>

#include "agentd/auth.h"
#include "agentd/bigbuf.h"
#include "agentd/frame.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "unit.h"

/* A header as raw fields, so tests can set any of them to anything. */
struct raw {
	uint32_t	magic;
	uint8_t		version;
	uint8_t		type;
	uint16_t	flags;
	uint32_t	meta_len;
	uint64_t	payload_len;
	uint64_t	seq;
	uint32_t	reserved;
};

static const unsigned char zero_key[FRAME_KEY_SIZE];

/* The example of docs/protocol.md: request {"id":1,"op":"hosts"}, seq 0. */
static const unsigned char doc_example[] = {
	0x4e, 0x41, 0x41, 0x47, 0x01, 0x03, 0x00, 0x00,
	0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	'{', '"', 'i', 'd', '"', ':', '1', ',', '"', 'o', 'p', '"', ':',
	'"', 'h', 'o', 's', 't', 's', '"', '}',
	0xdf, 0xa5, 0xcc, 0x25, 0xb6, 0x05, 0x6c, 0xd3,
	0x38, 0x58, 0xd1, 0x75, 0xce, 0xc8, 0xb3, 0xce,
};

static void
le(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A well-formed header for meta_len and payload_len bytes. */
static struct raw
raw_default(int type, size_t meta_len, size_t payload_len, uint64_t seq)
{
	struct raw r;

	memset(&r, 0, sizeof r);
	r.magic = FRAME_MAGIC;
	r.version = FRAME_VERSION;
	r.type = (uint8_t)type;
	r.meta_len = (uint32_t)meta_len;
	r.payload_len = payload_len;
	r.seq = seq;
	return r;
}

/*
 * Appends r's header, then meta and payload as given (whatever the header
 * claims), then HMAC-SHA256 with key over all of it.
 */
static void
raw_add(struct evbuffer *b, const struct raw *r, const unsigned char *key,
    const char *meta, const void *payload, size_t payload_len)
{
	unsigned char h[FRAME_HEADER_SIZE], mac[FRAME_MAC_SIZE], nonce[12];
	EVP_CIPHER_CTX *ctx;
	int outl;
	size_t meta_len = meta != NULL ? strlen(meta) : 0;
	unsigned char *all;
	size_t n;

	le(h + 0, r->magic, 4);
	h[4] = r->version;
	h[5] = r->type;
	le(h + 6, r->flags, 2);
	le(h + 8, r->meta_len, 4);
	le(h + 12, r->payload_len, 8);
	le(h + 20, r->seq, 8);
	le(h + 28, r->reserved, 4);
	n = sizeof h + meta_len + payload_len;
	all = xmalloc(n);
	memcpy(all, h, sizeof h);
	if (meta_len > 0)
		memcpy(all + sizeof h, meta, meta_len);
	if (payload_len > 0)
		memcpy(all + sizeof h + meta_len, payload, payload_len);
	/* RFC 8439 in one call: no plaintext, the frame as AAD. */
	memset(nonce, 0, sizeof nonce);
	le(nonce + 4, r->seq, 8);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    !EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key,
	    nonce) || !EVP_EncryptUpdate(ctx, NULL, &outl, all, (int)n) ||
	    !EVP_EncryptFinal_ex(ctx, mac, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, sizeof mac, mac))
		fatal("ChaCha20-Poly1305 failed");
	EVP_CIPHER_CTX_free(ctx);
	evbuffer_add(b, all, n);
	evbuffer_add(b, mac, FRAME_MAC_SIZE);
	free(all);
}

/*
 * Checks that reading b fails with a cause containing want and leaves b
 * and k alone. Returns NULL, or what went wrong (static).
 */
static const char *
expect_refused(struct evbuffer *b, struct frame_key *k, const char *want)
{
	static char why[512];
	struct frame sentinel, *f = &sentinel;	/* must come back NULL */
	size_t len = evbuffer_get_length(b);
	uint64_t seq = k->seq;
	char *cause = NULL;
	int rc;

	rc = frame_read(b, k, &f, &cause);
	if (rc != -1)
		snprintf(why, sizeof why, "rc %d, expected -1 (%s)", rc, want);
	else if (cause == NULL || strstr(cause, want) == NULL)
		snprintf(why, sizeof why, "cause \"%s\", expected \"%s\"",
		    cause != NULL ? cause : "(null)", want);
	else if (f != NULL)
		snprintf(why, sizeof why, "*out not NULL after an error");
	else if (evbuffer_get_length(b) != len)
		snprintf(why, sizeof why, "buffer went from %zu to %zu bytes",
		    len, evbuffer_get_length(b));
	else if (k->seq != seq)
		snprintf(why, sizeof why, "seq moved on an error");
	else {
		free(cause);
		return NULL;
	}
	if (rc == 1)
		frame_free(f);
	free(cause);
	return why;
}

/*
 * The first fenced block after the line that starts with heading in
 * docs/protocol.md; NULL if none. Caller frees.
 */
static char *
doc_block(const char *heading)
{
	const char *path = unit_src("docs/protocol.md");
	char *line = NULL, *code = NULL;
	size_t cap = 0, len = 0, n;
	ssize_t got;
	int state = 0;	/* 0 before heading, 1 before fence, 2 inside */
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while ((got = getline(&line, &cap, f)) != -1) {
		if (state == 0) {
			if (strncmp(line, heading, strlen(heading)) == 0)
				state = 1;
			continue;
		}
		if (state == 1) {
			if (strncmp(line, "```", 3) == 0) {
				state = 2;
				code = xstrdup("");
			}
			continue;
		}
		if (strncmp(line, "```", 3) == 0)
			break;
		n = (size_t)got;
		code = xreallocarray(code, len + n + 1, 1);
		memcpy(code + len, line, n);
		len += n;
		code[len] = '\0';
	}
	free(line);
	fclose(f);
	return code;
}

/* evbuffer_free(NULL) crashes; cleanup paths need a NULL-safe one. */
static void
buf_free(struct evbuffer *b)
{
	if (b != NULL)
		evbuffer_free(b);
}

/* A repeatable byte pattern for payloads. */
static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761U + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1664525U + 1013904223U;
		p[i] = (unsigned char)(x >> 24);
	}
}

static void
test_type_names(void)
{
	static const char *want[] = { "unknown", "hello", "auth", "request",
	    "reply", "event", "ping", "pong", "agent", "unknown" };
	int i;

	for (i = 0; i <= 9; i++)
		CHECKF(strcmp(frame_type_name(i), want[i]) == 0,
		    "type %d: %s", i, frame_type_name(i));
	CHECK(strcmp(frame_type_name(-1), "unknown") == 0);
	CHECK(strcmp(frame_type_name(256), "unknown") == 0);
	frame_free(NULL);
end:
	;
}

/* frame_write's bytes are those docs/protocol.md shows. */
static void
test_doc_example(void)
{
	struct evbuffer *b = evbuffer_new();
	struct frame_key k;
	json_t *meta = json_pack("{s:i,s:s}", "id", 1, "op", "hosts");
	unsigned char *p, bytes[sizeof doc_example + 16];
	char *cause = NULL, *dump = NULL, *line, *last, *hex, pair[3];
	size_t nbytes = 0;

	frame_key_init(&k, NULL);
	CHECK(frame_write(b, &k, FRAME_REQUEST, meta, NULL, 0, &cause) == 0);
	CHECK(k.seq == 1);
	CHECKF(evbuffer_get_length(b) == sizeof doc_example, "%zu bytes",
	    evbuffer_get_length(b));
	p = evbuffer_pullup(b, -1);
	CHECK(memcmp(p, doc_example, sizeof doc_example) == 0);

	/* The page shows the same bytes, as xxd prints them. */
	dump = doc_block("### Example");
	CHECKF(dump != NULL, "no dump under ### Example in %s",
	    unit_src("docs/protocol.md"));
	for (line = strtok_r(dump, "\n", &last); line != NULL;
	    line = strtok_r(NULL, "\n", &last)) {
		if ((hex = strstr(line, ": ")) == NULL)
			continue;
		hex += 2;
		/* Hex groups end where two spaces start the text column. */
		for (; *hex != '\0' && strncmp(hex, "  ", 2) != 0; hex++) {
			if (*hex == ' ')
				continue;
			CHECK(hex[1] != '\0' && nbytes < sizeof bytes);
			pair[0] = hex[0];
			pair[1] = hex[1];
			pair[2] = '\0';
			CHECKF(crypto_unhex(pair, bytes + nbytes, 1) == 0,
			    "dump line: %s", line);
			nbytes++;
			hex++;
		}
	}
	CHECKF(nbytes == sizeof doc_example, "the dump has %zu bytes", nbytes);
	CHECK(memcmp(bytes, doc_example, nbytes) == 0);
end:
	free(dump);
	free(cause);
	json_decref(meta);
	buf_free(b);
}

static void
test_roundtrip(void)
{
	unsigned char key[FRAME_KEY_SIZE], payload[1000];
	struct evbuffer *b = evbuffer_new();
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s,s:i,s:[i,i],s:s}", "op", "spawn",
	    "id", 42, "cores", 1, 2, "name", "h\xc3\xa9llo");
	char *cause = NULL;

	fill(key, sizeof key, 1);
	fill(payload, sizeof payload, 2);
	frame_key_init(&wk, key);
	frame_key_init(&rk, key);

	/* Meta only. */
	CHECK(frame_write(b, &wk, FRAME_REQUEST, meta, NULL, 0, &cause) == 0);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->type == FRAME_REQUEST);
	CHECK(json_equal(f->meta, meta));
	CHECK(f->payload == NULL && f->payload_len == 0);
	CHECK(evbuffer_get_length(b) == 0);
	CHECK(wk.seq == 1 && rk.seq == 1);
	frame_free(f);
	f = NULL;

	/* NULL meta arrives as {}. */
	CHECK(frame_write(b, &wk, FRAME_PING, NULL, NULL, 0, &cause) == 0);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->type == FRAME_PING);
	CHECK(json_is_object(f->meta) && json_object_size(f->meta) == 0);
	frame_free(f);
	f = NULL;

	/* Meta and payload. */
	CHECK(frame_write(b, &wk, FRAME_AGENT, meta, payload, sizeof payload,
	    &cause) == 0);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->type == FRAME_AGENT);
	CHECK(json_equal(f->meta, meta));
	CHECK(f->payload_len == sizeof payload);
	CHECK(memcmp(f->payload, payload, sizeof payload) == 0);
	CHECK(wk.seq == 3 && rk.seq == 3);
	frame_free(f);
	f = NULL;
	CHECK(frame_read(b, &rk, &f, &cause) == 0 && f == NULL);
end:
	if (cause != NULL)
		fprintf(stderr, "cause: %s\n", cause);
	free(cause);
	frame_free(f);
	json_decref(meta);
	buf_free(b);
}

static void
test_large_payload(void)
{
	size_t n = (size_t)64 << 20;
	struct evbuffer *b = evbuffer_new();
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "op", "state");
	unsigned char *payload = xmalloc(n);
	char *cause = NULL;

	fill(payload, n, 3);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(b, &wk, FRAME_AGENT, meta, payload, n, &cause) == 0);
	CHECK(evbuffer_get_length(b) == FRAME_HEADER_SIZE + 14 + n +
	    FRAME_MAC_SIZE);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->payload_len == n);
	CHECK(memcmp(f->payload, payload, n) == 0);
	CHECK(evbuffer_get_length(b) == 0);
end:
	free(cause);
	frame_free(f);
	free(payload);
	json_decref(meta);
	buf_free(b);
}

/* Counts frame_write_ref's cleanup calls. */
static int ref_calls;
static size_t ref_len;

static void
ref_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	ref_calls++;
	ref_len = len;
	if (arg != NULL)
		free(arg);
}

/* By reference: the same bytes as a copy; cleanup once, when drained. */
static void
test_write_ref(void)
{
	size_t n = (size_t)3 << 20;
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	struct frame_key ka, kb, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "op", "migrate");
	unsigned char *payload = xmalloc(n), *copy = NULL;
	char *cause = NULL;

	fill(payload, n, 10);
	frame_key_init(&ka, NULL);
	frame_key_init(&kb, NULL);
	frame_key_init(&rk, NULL);
	ref_calls = 0;
	CHECK(frame_write(a, &ka, FRAME_AGENT, meta, payload, n, &cause) == 0);
	CHECK(frame_write_ref(b, &kb, FRAME_AGENT, meta, payload, n,
	    ref_cleanup, NULL, &cause) == 0);
	CHECK(ref_calls == 0 && kb.seq == 1);
	CHECK(evbuffer_get_length(a) == evbuffer_get_length(b));
	copy = xmalloc(evbuffer_get_length(b));
	CHECK(evbuffer_copyout(b, copy, evbuffer_get_length(b)) ==
	    (ev_ssize_t)evbuffer_get_length(b));
	CHECK(memcmp(copy, evbuffer_pullup(a, -1), evbuffer_get_length(a)) ==
	    0);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->payload_len == n && memcmp(f->payload, payload, n) == 0);
	CHECK(ref_calls == 1 && ref_len == n);

	/* Empty payload: cleanup at once; a refused frame: never. */
	CHECK(frame_write_ref(b, &kb, FRAME_PING, NULL, NULL, 0, ref_cleanup,
	    xmalloc(1), &cause) == 0);
	CHECK(ref_calls == 2 && ref_len == 0);
	CHECK(frame_write_ref(b, &kb, FRAME_AGENT, NULL, payload,
	    FRAME_MAX_PAYLOAD + 1, ref_cleanup, NULL, &cause) == -1);
	CHECK(ref_calls == 2 && kb.seq == 2);
	frame_free(f);
	f = NULL;
	CHECK(frame_read(b, &rk, &f, &cause) == 1 && f->type == FRAME_PING);
	CHECK(evbuffer_get_length(b) == 0);
end:
	free(cause);
	free(copy);
	frame_free(f);
	free(payload);
	json_decref(meta);
	buf_free(a);
	buf_free(b);
}

/* Several frames in one buffer come out one at a time, in order. */
static void
test_several(void)
{
	unsigned char payload[300];
	struct evbuffer *b = evbuffer_new();
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = NULL;
	char *cause = NULL;
	int i, type;

	fill(payload, sizeof payload, 4);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	for (i = 0; i < 20; i++) {
		meta = json_pack("{s:i}", "i", i);
		CHECK(frame_write(b, &wk, 1 + i % FRAME_TYPE_MAX, meta,
		    payload, (size_t)i * 15, &cause) == 0);
		json_decref(meta);
		meta = NULL;
	}
	for (i = 0; i < 20; i++) {
		CHECKF(frame_read(b, &rk, &f, &cause) == 1, "frame %d: %s", i,
		    cause != NULL ? cause : "incomplete");
		type = 1 + i % FRAME_TYPE_MAX;
		CHECK(f->type == type);
		CHECK(json_integer_value(json_object_get(f->meta, "i")) == i);
		CHECK(f->payload_len == (uint64_t)i * 15);
		CHECK(i == 0 || memcmp(f->payload, payload, (size_t)i * 15)
		    == 0);
		frame_free(f);
		f = NULL;
	}
	CHECK(frame_read(b, &rk, &f, &cause) == 0);
	CHECK(f == NULL && rk.seq == 20);
end:
	free(cause);
	frame_free(f);
	json_decref(meta);
	buf_free(b);
}

/* Arriving one byte at a time: 0 until the last byte, nothing consumed. */
static void
test_byte_by_byte(void)
{
	unsigned char payload[777];
	struct evbuffer *src = evbuffer_new(), *b = evbuffer_new();
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "event", "progress");
	unsigned char *all;
	char *cause = NULL;
	size_t i, n;

	fill(payload, sizeof payload, 5);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(src, &wk, FRAME_EVENT, meta, payload, sizeof payload,
	    &cause) == 0);
	n = evbuffer_get_length(src);
	all = evbuffer_pullup(src, -1);
	for (i = 0; i < n; i++) {
		evbuffer_add(b, all + i, 1);
		if (i + 1 < n) {
			CHECKF(frame_read(b, &rk, &f, &cause) == 0,
			    "byte %zu of %zu", i + 1, n);
			CHECK(f == NULL && evbuffer_get_length(b) == i + 1);
		}
	}
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(memcmp(f->payload, payload, sizeof payload) == 0);
	CHECK(evbuffer_get_length(b) == 0 && rk.seq == 1);
end:
	free(cause);
	frame_free(f);
	json_decref(meta);
	buf_free(src);
	buf_free(b);
}

/* A frame spread over many small chains, as socket reads leave it. */
static void
test_fragmented(void)
{
	unsigned char payload[20000];
	struct evbuffer *src = evbuffer_new(), *b = evbuffer_new(), *piece;
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "op", "fragments");
	unsigned char *all;
	char *cause = NULL;
	size_t i, n, step;

	fill(payload, sizeof payload, 6);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(src, &wk, FRAME_AGENT, meta, payload, sizeof payload,
	    &cause) == 0);
	CHECK(frame_write(src, &wk, FRAME_PING, NULL, NULL, 0, &cause) == 0);
	n = evbuffer_get_length(src);
	all = evbuffer_pullup(src, -1);
	/* evbuffer_add_buffer moves chains, so each piece stays one chain. */
	for (i = 0; i < n; i += step) {
		step = n - i < 7 ? n - i : 7;
		piece = evbuffer_new();
		evbuffer_add(piece, all + i, step);
		evbuffer_add_buffer(b, piece);
		evbuffer_free(piece);
	}
	CHECKF(evbuffer_peek(b, -1, NULL, NULL, 0) > 1000, "%d chains",
	    evbuffer_peek(b, -1, NULL, NULL, 0));
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->payload_len == sizeof payload);
	CHECK(memcmp(f->payload, payload, sizeof payload) == 0);
	frame_free(f);
	f = NULL;
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->type == FRAME_PING);
	CHECK(evbuffer_get_length(b) == 0);
end:
	free(cause);
	frame_free(f);
	json_decref(meta);
	buf_free(src);
	buf_free(b);
}

/* Every header field a receiver checks, each refused with its reason. */
static void
test_bad_header(void)
{
	struct evbuffer *b = NULL;
	struct frame_key k;
	struct frame *f = NULL;
	struct raw r;
	const char *why = NULL;
	char *cause = NULL;
	int i;

	frame_key_init(&k, NULL);
	for (i = 0; i < 9; i++) {
		r = raw_default(FRAME_REQUEST, 2, 0, 0);
		b = evbuffer_new();
		switch (i) {
		case 0:
			r.magic = 0x47414140;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k, "bad magic 0x47414140 "
			    "(expected 0x4741414e)");
			break;
		case 1:
			r.version = 7;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k,
			    "unsupported version 7 (expected 1)");
			break;
		case 2:
			r.flags = 1;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k,
			    "unsupported flags 0x0001 (expected 0)");
			break;
		case 3:
			r.type = 9;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k, "unknown frame type 9");
			break;
		case 4:
			r.type = 0;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k, "unknown frame type 0");
			break;
		case 5:
			r.reserved = 1;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k, "reserved field is "
			    "0x00000001 (expected 0)");
			break;
		case 6:
			/* Refused from the header alone: no data follows. */
			r.meta_len = 0xffffffffU;
			raw_add(b, &r, zero_key, NULL, NULL, 0);
			why = expect_refused(b, &k, "bad frame length "
			    "4294967295 (limit 1048576)");
			break;
		case 7:
			r.meta_len = FRAME_MAX_META + 1;
			raw_add(b, &r, zero_key, NULL, NULL, 0);
			why = expect_refused(b, &k,
			    "bad frame length 1048577 (limit 1048576)");
			break;
		case 8:
			r.payload_len = (uint64_t)1 << 63;
			raw_add(b, &r, zero_key, "{}", NULL, 0);
			why = expect_refused(b, &k, "bad payload length "
			    "9223372036854775808 (limit 1073741824)");
			break;
		}
		CHECKF(why == NULL, "case %d: %s", i, why);
		buf_free(b);
		b = NULL;
	}
	r = raw_default(FRAME_AGENT, 2, 0, 0);
	r.payload_len = FRAME_MAX_PAYLOAD + 1;
	b = evbuffer_new();
	raw_add(b, &r, zero_key, "{}", NULL, 0);
	why = expect_refused(b, &k, "bad payload length 1073741825 "
	    "(limit 1073741824)");
	CHECKF(why == NULL, "%s", why);

	/* A lower limit, as before authentication: refused at the header. */
	buf_free(b);
	b = evbuffer_new();
	r = raw_default(FRAME_HELLO, 2, 0, 0);
	r.payload_len = 1;
	raw_add(b, &r, zero_key, "{}", NULL, 0);
	CHECK(frame_read_max(b, &k, 0, &f, &cause) == -1);
	CHECKF(strcmp(cause, "bad payload length 1 (limit 0)") == 0, "%s",
	    cause);
	CHECK(f == NULL && evbuffer_get_length(b) == FRAME_HEADER_SIZE + 2 +
	    FRAME_MAC_SIZE);
	free(cause);
	cause = NULL;
	/* The same limit lets a frame without payload through. */
	evbuffer_drain(b, evbuffer_get_length(b));
	r.payload_len = 0;
	raw_add(b, &r, zero_key, "{}", NULL, 0);
	CHECK(frame_read_max(b, &k, 0, &f, &cause) == 1);
	CHECK(f->type == FRAME_HELLO && k.seq == 1);
end:
	free(cause);
	frame_free(f);
	buf_free(b);
}

#if !defined(__SANITIZE_ADDRESS__)
/*
 * Reads b in a child whose data segment cannot grow by 1 GiB: 0 when
 * frame_read allocated nothing, 1 when it did, -1 when the limit does not
 * bite on this system.
 */
static int
read_limited(struct evbuffer *b)
{
	struct frame_key k;
	struct frame *f = NULL;
	struct rlimit rl;
	char *cause = NULL;
	void *probe;
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)256 << 20;
		if (setrlimit(RLIMIT_DATA, &rl) != 0)
			_exit(3);
		if ((probe = malloc((size_t)FRAME_MAX_PAYLOAD)) != NULL) {
			free(probe);
			_exit(3);
		}
		frame_key_init(&k, NULL);
		_exit(frame_read(b, &k, &f, &cause) == 0 ? 0 : 4);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
#endif

/*
 * A header announcing the largest allowed payload, with little of it
 * there: 0, nothing consumed and nothing allocated.
 */
static void
test_truncated(void)
{
	struct evbuffer *b = evbuffer_new();
	struct frame_key k;
	struct frame *f = NULL;
	struct raw r;
	char *cause = NULL;

	frame_key_init(&k, NULL);
	r = raw_default(FRAME_AGENT, 2, 0, 0);
	r.payload_len = FRAME_MAX_PAYLOAD;
	raw_add(b, &r, zero_key, "{}", "abcdefgh", 8);
	CHECK(frame_read(b, &k, &f, &cause) == 0);
	CHECK(f == NULL && cause == NULL && k.seq == 0);
	CHECK(evbuffer_get_length(b) == FRAME_HEADER_SIZE + 2 + 8 + FRAME_MAC_SIZE);
#if defined(__SANITIZE_ADDRESS__)
	SKIP("the allocation check needs RLIMIT_DATA, which ASan's shadow "
	    "memory defeats");
#else
	switch (read_limited(b)) {
	case -1:
		SKIP("RLIMIT_DATA does not limit malloc here");
	case 1:
		CHECKF(0, "frame_read allocated for a partial frame");
	}
#endif
	/* A header that is itself cut short. */
	evbuffer_drain(b, evbuffer_get_length(b) - 31);
	CHECK(frame_read(b, &k, &f, &cause) == 0 && f == NULL);
end:
	free(cause);
	frame_free(f);
	buf_free(b);
}

/* Meta that is not JSON, not unique or not an object. */
static void
test_bad_meta(void)
{
	static const struct {
		const char	*meta;
		const char	*want;
	} cases[] = {
		{ "{\"a\":", "bad JSON metadata: " },
		{ "", "bad JSON metadata: " },
		{ "x", "bad JSON metadata: " },
		{ "{\"a\":1,\"a\":2}", "bad JSON metadata: duplicate" },
		{ "{\"a\":\"\\u0000\"}", "bad JSON metadata: " },
		{ "{} {}", "bad JSON metadata: " },
		{ "[1,2]", "metadata is not a JSON object" },
	};
	struct evbuffer *b = NULL;
	struct frame_key k;
	struct raw r;
	const char *why;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		frame_key_init(&k, NULL);
		b = evbuffer_new();
		r = raw_default(FRAME_REPLY, strlen(cases[i].meta), 0, 0);
		raw_add(b, &r, zero_key, cases[i].meta, NULL, 0);
		why = expect_refused(b, &k, cases[i].want);
		CHECKF(why == NULL, "meta '%s': %s", cases[i].meta, why);
		buf_free(b);
		b = NULL;
	}
end:
	buf_free(b);
}

/* A frame numbered out of turn, a replay, and a skipped number. */
static void
test_bad_seq(void)
{
	struct evbuffer *b = evbuffer_new(), *copy = evbuffer_new();
	struct frame_key wk, rk;
	struct frame *f = NULL;
	const char *why;
	char *cause = NULL;

	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	wk.seq = 5;
	rk.seq = 3;
	CHECK(frame_write(b, &wk, FRAME_PING, NULL, NULL, 0, &cause) == 0);
	why = expect_refused(b, &rk, "bad sequence number 5 (expected 3)");
	CHECKF(why == NULL, "%s", why);

	/* The same frame again after it was accepted. */
	evbuffer_drain(b, evbuffer_get_length(b));
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(b, &wk, FRAME_PING, NULL, NULL, 0, &cause) == 0);
	evbuffer_add(copy, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	why = expect_refused(copy, &rk, "bad sequence number 0 (expected 1)");
	CHECKF(why == NULL, "%s", why);
end:
	free(cause);
	frame_free(f);
	buf_free(b);
	buf_free(copy);
}

/* Any flipped bit after the checked header fields, or a wrong key. */
static void
test_bad_mac(void)
{
	unsigned char key[FRAME_KEY_SIZE], other[FRAME_KEY_SIZE];
	unsigned char payload[100], *all = NULL;
	struct evbuffer *b = NULL, *src = evbuffer_new();
	struct frame_key wk, rk;
	json_t *meta = json_pack("{s:s}", "op", "kill");
	const char *why;
	char *cause = NULL;
	size_t n, at[] = {
		20,		/* seq: the MAC is checked before seq */
		32,		/* first byte of meta */
		32 + 7,		/* inside meta, keeping it valid JSON */
		32 + 13,	/* first byte of payload */
		32 + 13 + 99,	/* last byte of payload */
		32 + 13 + 100,	/* first byte of the MAC */
		32 + 13 + 115,	/* last byte of the MAC */
	};
	size_t i;

	fill(key, sizeof key, 7);
	fill(payload, sizeof payload, 8);
	frame_key_init(&wk, key);
	CHECK(frame_write(src, &wk, FRAME_REQUEST, meta, payload,
	    sizeof payload, &cause) == 0);
	n = evbuffer_get_length(src);
	CHECK(n == 32 + 13 + 100 + FRAME_MAC_SIZE);
	all = xmalloc(n);
	memcpy(all, evbuffer_pullup(src, -1), n);
	for (i = 0; i < sizeof at / sizeof at[0]; i++) {
		all[at[i]] ^= 0x04;
		b = evbuffer_new();
		evbuffer_add(b, all, n);
		frame_key_init(&rk, key);
		why = expect_refused(b, &rk, "bad MAC");
		CHECKF(why == NULL, "bit flipped at byte %zu: %s", at[i], why);
		CHECK(memcmp(evbuffer_pullup(b, -1), all, n) == 0);
		buf_free(b);
		b = NULL;
		all[at[i]] ^= 0x04;
	}

	/* A receiver holding another key. */
	memcpy(other, key, sizeof other);
	other[31] ^= 1;
	b = evbuffer_new();
	evbuffer_add(b, all, n);
	frame_key_init(&rk, other);
	why = expect_refused(b, &rk, "bad MAC");
	CHECKF(why == NULL, "wrong key: %s", why);
	/* The all-zero key is a key like any other. */
	frame_key_init(&rk, NULL);
	why = expect_refused(b, &rk, "bad MAC");
	CHECKF(why == NULL, "zero key: %s", why);
end:
	free(cause);
	free(all);
	json_decref(meta);
	buf_free(b);
	buf_free(src);
}

/* frame_write refuses what a receiver would refuse, and writes nothing. */
static void
test_write_limits(void)
{
	unsigned char dummy[8] = { 0 };
	struct evbuffer *b = evbuffer_new();
	struct frame_key k;
	json_t *big = NULL, *arr = json_array();
	char *cause = NULL, *s = NULL;

	frame_key_init(&k, NULL);
	/* The length is checked before the payload is touched. */
	CHECK(frame_write(b, &k, FRAME_AGENT, NULL, dummy,
	    FRAME_MAX_PAYLOAD + 1, &cause) == -1);
	CHECKF(strstr(cause, "payload of 1073741825 bytes is over the limit "
	    "of 1073741824") != NULL, "%s", cause);
	free(cause);
	cause = NULL;

	s = xmalloc(FRAME_MAX_META);
	memset(s, 'a', FRAME_MAX_META - 1);
	s[FRAME_MAX_META - 1] = '\0';
	big = json_pack("{s:s}", "x", s);
	CHECK(frame_write(b, &k, FRAME_AGENT, big, NULL, 0, &cause) == -1);
	CHECKF(strstr(cause, "metadata of 1048583 bytes is over the limit of "
	    "1048576") != NULL, "%s", cause);
	free(cause);
	cause = NULL;

	CHECK(frame_write(b, &k, FRAME_REPLY, arr, NULL, 0, &cause) == -1);
	CHECKF(strcmp(cause, "metadata is not a JSON object") == 0, "%s",
	    cause);
	CHECK(evbuffer_get_length(b) == 0 && k.seq == 0);

	/* The largest meta that fits: {"x":""} is 8 bytes. */
	json_object_set_new(big, "x", json_string(s + 7));
	CHECK(frame_write(b, &k, FRAME_AGENT, big, NULL, 0, &cause) == 0);
	CHECK(evbuffer_get_length(b) == 32 + FRAME_MAX_META + FRAME_MAC_SIZE);
end:
	free(cause);
	free(s);
	json_decref(big);
	json_decref(arr);
	buf_free(b);
}

/* Reads from fd into b until one frame is whole: 1, or -1 on EOF or error. */
static int
recv_frame(int fd, struct evbuffer *b, struct frame_key *k,
    struct frame **f, char **cause)
{
	int rc, n;

	for (;;) {
		if ((rc = frame_read(b, k, f, cause)) != 0)
			return rc;
		if ((n = evbuffer_read(b, fd, -1)) <= 0) {
			*cause = xstrdup(n == 0 ? "connection closed" :
			    strerror(errno));
			return -1;
		}
	}
}

static int
send_frame(int fd, struct frame_key *k, int type, json_t *meta,
    const void *payload, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	char *cause = NULL;
	int rc = -1;

	if (frame_write(b, k, type, meta, payload, len, &cause) != 0)
		goto out;
	while (evbuffer_get_length(b) > 0) {
		if (evbuffer_write(b, fd) <= 0)
			goto out;
	}
	rc = 0;
out:
	free(cause);
	buf_free(b);
	return rc;
}

/* Drives the snippet's Conn as a client over fd 0. */
static const char py_driver[] =
    "\nimport socket, sys\n"
    "conn = Conn(socket.socket(fileno=0))\n"
    "try:\n"
    "    peer = conn.handshake(bytes.fromhex(sys.argv[1]), 'py', 'client')\n"
    "except ValueError as e:\n"
    "    print('refused:', e)\n"
    "    sys.exit(2)\n"
    "data = bytes(range(256)) * 400\n"
    "conn.send(REQUEST, {'id': 1, 'op': 'echo', 'peer': peer['name']},"
    " data)\n"
    "ftype, meta, payload = conn.recv()\n"
    "assert ftype == REPLY and meta == {'id': 1, 'ok': True}, meta\n"
    "assert payload == data[::-1]\n"
    "print('ok', conn.key_out.hex())\n";

/*
 * The acceptor's side of the handshake, as the daemon does it (frames
 * enciphered), then one echo request. Returns NULL, or what went wrong (static); fills session.
 */
static const char *
accept_one(int fd, const unsigned char *key, unsigned char *session)
{
	static char why[512];
	unsigned char nc[AUTH_NONCE_SIZE], na[AUTH_NONCE_SIZE];
	unsigned char proof[AUTH_KEY_SIZE], want[AUTH_KEY_SIZE];
	char nhex[2 * AUTH_NONCE_SIZE + 1], phex[2 * AUTH_KEY_SIZE + 1];
	struct evbuffer *b = evbuffer_new();
	struct frame_key in, out;
	struct frame *f = NULL;
	json_t *meta = NULL;
	unsigned char *rev = NULL;
	const char *s;
	char *cause = NULL;
	uint64_t i;

	why[0] = '\0';
	frame_key_init(&in, NULL);
	frame_key_init(&out, NULL);
	if (recv_frame(fd, b, &in, &f, &cause) != 1 || f->type != FRAME_HELLO)
		goto fail;
	s = json_string_value(json_object_get(f->meta, "nonce"));
	if (s == NULL || crypto_unhex(s, nc, sizeof nc) != 0)
		goto fail;
	s = json_string_value(json_object_get(f->meta, "role"));
	if (s == NULL || strcmp(s, "client") != 0)
		goto fail;
	frame_free(f);
	f = NULL;

	crypto_random(na, sizeof na);
	auth_derive(key, "agentd-A", nc, na, proof);
	crypto_hex(na, sizeof na, nhex);
	crypto_hex(proof, sizeof proof, phex);
	meta = json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", "acceptor", "role",
	    "peer", "nonce", nhex, "proof", phex, "encrypt", 1);
	if (send_frame(fd, &out, FRAME_HELLO, meta, NULL, 0) != 0)
		goto fail;
	json_decref(meta);
	meta = NULL;

	if (recv_frame(fd, b, &in, &f, &cause) != 1 || f->type != FRAME_AUTH)
		goto fail;
	s = json_string_value(json_object_get(f->meta, "proof"));
	auth_derive(key, "agentd-C", na, nc, want);
	if (s == NULL || crypto_unhex(s, proof, sizeof proof) != 0 ||
	    !crypto_equal(proof, want, sizeof want)) {
		snprintf(why, sizeof why, "bad connector proof");
		goto fail;
	}
	frame_free(f);
	f = NULL;
	auth_derive(key, "agentd-S", nc, na, session);
	frame_key_init(&in, session);
	auth_derive(key, "agentd-R", nc, na, proof);
	frame_key_init(&out, proof);
	in.encrypt = out.encrypt = 1;	/* the client follows our HELLO */

	if (recv_frame(fd, b, &in, &f, &cause) != 1 ||
	    f->type != FRAME_REQUEST || f->payload_len != 102400)
		goto fail;
	s = json_string_value(json_object_get(f->meta, "peer"));
	if (s == NULL || strcmp(s, "acceptor") != 0)
		goto fail;
	rev = xmalloc(f->payload_len);
	for (i = 0; i < f->payload_len; i++)
		rev[i] = f->payload[f->payload_len - 1 - i];
	meta = json_pack("{s:i,s:b}", "id", 1, "ok", 1);
	if (send_frame(fd, &out, FRAME_REPLY, meta, rev, f->payload_len) != 0)
		goto fail;
	json_decref(meta);
	free(rev);
	frame_free(f);
	free(cause);
	buf_free(b);
	return NULL;
fail:
	if (why[0] == '\0')
		snprintf(why, sizeof why, "acceptor: %s",
		    cause != NULL ? cause : "unexpected frame");
	json_decref(meta);
	free(rev);
	frame_free(f);
	free(cause);
	buf_free(b);
	return why;
}

/*
 * Runs the Python client with cluster key ckey (hex) against accept_one
 * holding key; returns the client's exit status, its output in out.
 */
static int
run_client(const char *script, const char *ckey, const unsigned char *key,
    unsigned char *session, const char **why, char *out, size_t outlen)
{
	int sv[2], pipefd[2], status = -1;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || pipe(pipefd) != 0)
		fatal("socketpair: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) == 0) {
		dup2(sv[1], 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(sv[0]);
		close(sv[1]);
		close(pipefd[0]);
		close(pipefd[1]);
		execlp("python3", "python3", script, ckey, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(pipefd[1]);
	*why = accept_one(sv[0], key, session);
	close(sv[0]);
	while (got + 1 < outlen &&
	    (n = read(pipefd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The Python client of docs/protocol.md against this implementation. */
static void
test_python_client(void)
{
	unsigned char key[AUTH_KEY_SIZE], wrong[AUTH_KEY_SIZE];
	unsigned char session[AUTH_KEY_SIZE];
	char khex[2 * AUTH_KEY_SIZE + 1], shex[2 * AUTH_KEY_SIZE + 1];
	char want[128], out[4096];
	char *code = NULL, *script = NULL;
	const char *why = NULL;
	FILE *f;
	int rc;

	if (system("command -v python3 >/dev/null 2>&1") != 0)
		SKIP("python3 not found");
	/* A client that gives up early must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	code = doc_block("## A client in Python");
	CHECKF(code != NULL && strstr(code, "class Conn") != NULL,
	    "no Python block with class Conn in %s",
	    unit_src("docs/protocol.md"));
	script = xasprintf("%s/client.py", unit_tmpdir());
	CHECK((f = fopen(script, "w")) != NULL);
	fputs(code, f);
	fputs(py_driver, f);
	CHECK(fclose(f) == 0);

	fill(key, sizeof key, 9);
	crypto_hex(key, sizeof key, khex);
	rc = run_client(script, khex, key, session, &why, out, sizeof out);
	CHECKF(rc == 0 && why == NULL, "python exit %d, %.100s; output: "
	    "%.300s", rc, why != NULL ? why : "acceptor ok", out);
	crypto_hex(session, sizeof session, shex);
	snprintf(want, sizeof want, "ok %s\n", shex);
	CHECKF(strcmp(out, want) == 0, "python said: %.400s", out);

	/* The client holds another key: it refuses the acceptor's proof. */
	memcpy(wrong, key, sizeof wrong);
	wrong[0] ^= 0x80;
	crypto_hex(wrong, sizeof wrong, khex);
	rc = run_client(script, khex, key, session, &why, out, sizeof out);
	CHECKF(rc == 2 && strstr(out, "does not hold the cluster key") !=
	    NULL, "python exit %d; output: %.400s", rc, out);
	CHECKF(why != NULL && strstr(why, "connection closed") != NULL,
	    "acceptor: %s", why != NULL ? why : "went on");
end:
	free(code);
	free(script);
}

/*
 * Reads the stream in f (a file: readv splits it where max says) with a
 * frame reader until n frames came or one failed; returns the count.
 */
static int
reader_run(int fd, int pooled, const size_t *maxes, size_t nmax,
    struct frame **got, int n, char **cause)
{
	struct frame_reader *r = frame_reader_new(pooled);
	struct frame_key rk;
	size_t turn = 0;
	int have = 0, rc;
	ssize_t k;

	frame_key_init(&rk, NULL);
	while (have < n) {
		rc = frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &got[have],
		    cause);
		if (rc < 0)
			break;
		if (rc == 1) {
			have++;
			continue;
		}
		k = frame_reader_fill(r, fd, maxes[turn++ % nmax]);
		if (k <= 0)
			break;
	}
	frame_reader_free(r);
	return have;
}

/*
 * The socket reader: large payloads read straight into their buffer give
 * the same frames as small ones, however the reads split the stream, and
 * one flipped payload byte is a bad MAC.
 */
static void
test_reader(void)
{
	static const size_t sizes[] = { 10, (size_t)3 << 20, 0,
	    ((size_t)5 << 20) + 3, (size_t)1 << 20, 100 };
	static const size_t splits[][3] = {
		{ 4 << 20, 4 << 20, 4 << 20 }, { 65536, 7, 1 << 20 },
		{ 1, 33, 999999 },
	};
	enum { N = sizeof sizes / sizeof sizes[0] };
	struct frame *got[N];
	struct evbuffer *b = evbuffer_new();
	struct frame_key wk;
	unsigned char *payload[N], *all = NULL;
	char path[512], *cause = NULL;
	size_t i, s, len;
	int fd = -1, n, pooled;

	memset(got, 0, sizeof got);
	memset(payload, 0, sizeof payload);
	frame_key_init(&wk, NULL);
	for (i = 0; i < N; i++) {
		json_t *m = json_pack("{s:s, s:I}", "op", "t", "i",
		    (json_int_t)i);

		payload[i] = xmalloc(sizes[i] + 1);
		fill(payload[i], sizes[i], (int)i + 7);
		CHECK(frame_write(b, &wk, i % 2 ? FRAME_AGENT : FRAME_PING, m,
		    payload[i], sizes[i], &cause) == 0);
		json_decref(m);
	}
	len = evbuffer_get_length(b);
	all = xmalloc(len);
	CHECK(evbuffer_remove(b, all, len) == (int)len);
	snprintf(path, sizeof path, "%s/reader.bin", unit_tmpdir());
	for (s = 0; s < 2 * (sizeof splits / sizeof splits[0]); s++) {
		pooled = (int)(s % 2);
		CHECK((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
		CHECK(write(fd, all, len) == (ssize_t)len);
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		n = reader_run(fd, pooled, splits[s / 2], 3, got, N, &cause);
		CHECKF(n == N, "split %zu: %d of %d frames: %s", s, n, N,
		    cause != NULL ? cause : "stream ended");
		for (i = 0; i < N; i++) {
			CHECKF(got[i]->payload_len == sizes[i] && (sizes[i] ==
			    0 || memcmp(got[i]->payload, payload[i],
			    sizes[i]) == 0) && json_integer_value(
			    json_object_get(got[i]->meta, "i")) ==
			    (json_int_t)i, "split %zu frame %zu", s, i);
			frame_free(got[i]);
			got[i] = NULL;
		}
		close(fd);
		fd = -1;
	}
	/* A byte of the 5 MiB payload flipped: refused, not returned. */
	all[len / 2] ^= 1;
	CHECK((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	CHECK(write(fd, all, len) == (ssize_t)len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	n = reader_run(fd, 1, splits[0], 3, got, N, &cause);
	CHECKF(n < N && cause != NULL && strstr(cause, "bad MAC") != NULL,
	    "%d frames, cause %s", n, cause != NULL ? cause : "none");
end:
	for (i = 0; i < N; i++) {
		frame_free(got[i]);
		free(payload[i]);
	}
	if (fd >= 0)
		close(fd);
	free(all);
	free(cause);
	buf_free(b);
}

/*
 * A payload streamed in pieces (frame_stream_*), some copied and some by
 * reference, is the same frame, byte for byte, as one written whole; a
 * put that does not match what was MAC'd is refused.
 */
static void
test_stream(void)
{
	size_t n = ((size_t)3 << 20) + 5, cut[] = { 1, (size_t)1 << 20 };
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	struct evbuffer *piece = evbuffer_new();
	struct frame_key ka, kb, rk;
	struct frame_stream *fs = NULL;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "op", "agent-accept");
	unsigned char *payload = xmalloc(n), *copy = NULL;
	char *cause = NULL;
	size_t at = 0, i, take;

	fill(payload, n, 3);
	frame_key_init(&ka, NULL);
	frame_key_init(&kb, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(a, &ka, FRAME_REQUEST, meta, payload, n, &cause) ==
	    0);
	CHECK((fs = frame_stream_begin(b, &kb, FRAME_REQUEST, meta, n,
	    &cause)) != NULL && kb.seq == 1);
	for (i = 0; at < n; i++) {
		take = i < 2 ? cut[i] : n - at;
		frame_stream_mac(fs, payload + at, take);
		if (i % 2)
			CHECK(evbuffer_add_reference(piece, payload + at, take,
			    NULL, NULL) == 0);
		else
			CHECK(evbuffer_add(piece, payload + at, take) == 0);
		CHECK(frame_stream_put(fs, b, piece) == 0);
		at += take;
		CHECK(frame_stream_left(fs) == n - at);
	}
	CHECK(evbuffer_get_length(a) == evbuffer_get_length(b));
	copy = xmalloc(evbuffer_get_length(b));
	CHECK(evbuffer_copyout(b, copy, evbuffer_get_length(b)) ==
	    (ev_ssize_t)evbuffer_get_length(b));
	CHECK(memcmp(copy, evbuffer_pullup(a, -1), evbuffer_get_length(a)) ==
	    0);
	CHECK(frame_read(b, &rk, &f, &cause) == 1);
	CHECK(f->payload_len == n && memcmp(f->payload, payload, n) == 0);
	frame_stream_free(fs);

	/* A piece other than what was MAC'd; an empty stream. */
	CHECK((fs = frame_stream_begin(b, &kb, FRAME_REQUEST, NULL, 10,
	    &cause)) != NULL);
	frame_stream_mac(fs, payload, 4);
	CHECK(evbuffer_add(piece, payload, 5) == 0);
	CHECK(frame_stream_put(fs, b, piece) == -1);
	frame_stream_free(fs);
	evbuffer_drain(b, evbuffer_get_length(b));
	evbuffer_drain(piece, evbuffer_get_length(piece));
	CHECK((fs = frame_stream_begin(b, &kb, FRAME_PING, NULL, 0,
	    &cause)) != NULL && frame_stream_left(fs) == 0);
	frame_free(f);
	f = NULL;
	rk.seq = 2;
	CHECK(frame_read(b, &rk, &f, &cause) == 1 && f->type == FRAME_PING &&
	    f->payload_len == 0);
end:
	frame_stream_free(fs);
	free(cause);
	free(copy);
	frame_free(f);
	free(payload);
	json_decref(meta);
	buf_free(a);
	buf_free(b);
	buf_free(piece);
}

/*
 * The reader says once that a large frame has begun, with its meta, as
 * soon as the header and meta are in and its buffer has grown to the
 * payload's length (half of it came); small frames and the rest of the
 * payload say nothing.
 */
static void
test_reader_started(void)
{
	size_t n = (size_t)2 << 20;
	struct evbuffer *b = evbuffer_new();
	struct frame_reader *r = frame_reader_new(0);
	struct frame_key wk, rk;
	struct frame *f = NULL;
	unsigned char *payload = xmalloc(n), *all = NULL;
	const char *meta;
	void *into;
	uint64_t len;
	char path[512], *cause = NULL;
	size_t total;
	int fd = -1, type;

	fill(payload, n, 9);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	CHECK(frame_write(b, &wk, FRAME_PING, NULL, "x", 1, &cause) == 0);
	CHECK(frame_write(b, &wk, FRAME_REQUEST, NULL, payload, n, &cause) ==
	    0);
	total = evbuffer_get_length(b);
	all = xmalloc(total);
	CHECK(evbuffer_remove(b, all, total) == (int)total);
	snprintf(path, sizeof path, "%s/started.bin", unit_tmpdir());
	CHECK((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	CHECK(write(fd, all, total) == (ssize_t)total);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	/* The small frame and the large one's first 64 KiB. */
	CHECK(frame_reader_fill(r, fd, 65536 + 100) > 0);
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 1 &&
	    f->type == FRAME_PING);
	CHECK(frame_reader_started(r, &type, &meta, &into, &len) == 0);
	frame_free(f);
	f = NULL;
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 0);
	/* Its buffer is still 1 MiB of 2: not yet. */
	CHECK(frame_reader_started(r, &type, &meta, &into, &len) == 0);
	CHECK(frame_reader_fill(r, fd, (size_t)1 << 20) > 0);
	CHECK(frame_reader_fill(r, fd, 4096) == 4096);
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 0);
	CHECK(frame_reader_started(r, &type, &meta, &into, &len) == 1 &&
	    type == FRAME_REQUEST && strcmp(meta, "{}") == 0 && len == n);
	CHECK(frame_reader_started(r, &type, &meta, &into, &len) == 0);
	while (frame_reader_fill(r, fd, (size_t)1 << 20) > 0)
		;
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 1);
	CHECK(f->payload == into && f->payload_len == n &&
	    memcmp(f->payload, payload, n) == 0);
	CHECK(frame_reader_started(r, &type, &meta, &into, &len) == 0);
end:
	if (fd >= 0)
		close(fd);
	free(cause);
	free(all);
	free(payload);
	frame_free(f);
	frame_reader_free(r);
	buf_free(b);
}

/* A payload anyone would spot on the wire: the pattern over and over. */
#define ENC_PATTERN	"PLAINTEXT-GRADIENTS-"
#define ENC_META	"secret-agent-name"

static void
enc_fill(unsigned char *p, size_t n)
{
	size_t i, k = strlen(ENC_PATTERN);

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)ENC_PATTERN[i % k];
}

/* 1 when the k bytes of s occur in b. */
static int
enc_contains(struct evbuffer *b, const char *s)
{
	size_t n = evbuffer_get_length(b), k = strlen(s), i;
	const unsigned char *p = evbuffer_pullup(b, -1);

	for (i = 0; i + k <= n; i++) {
		if (memcmp(p + i, s, k) == 0)
			return 1;
	}
	return 0;
}

/*
 * An encrypting key: every way of writing a payload (copied, by
 * reference, moved from a buffer of references, streamed) leaves neither
 * the pattern nor the meta readable on the wire, never changes the
 * caller's bytes, and reads back whole; the reference is given back at
 * once. One flipped ciphertext byte fails the MAC.
 */
static void
test_encrypt(void)
{
	size_t n = ((size_t)2 << 20) + 3, at, take, len;
	unsigned char key[FRAME_KEY_SIZE], *payload = xmalloc(n), *orig = NULL;
	unsigned char *all = NULL;
	struct evbuffer *b = evbuffer_new(), *pbuf = evbuffer_new();
	struct evbuffer *piece = evbuffer_new();
	struct frame_key wk, rk;
	struct frame_stream *fs = NULL;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "agent", ENC_META);
	const char *why;
	char *cause = NULL;
	int way;

	fill(key, sizeof key, 11);
	enc_fill(payload, n);
	orig = xmalloc(n);
	memcpy(orig, payload, n);
	frame_key_init(&wk, key);
	frame_key_init(&rk, key);
	wk.encrypt = rk.encrypt = 1;
	for (way = 0; way < 4; way++) {
		ref_calls = 0;
		switch (way) {
		case 0:
			CHECK(frame_write(b, &wk, FRAME_AGENT, meta, payload,
			    n, &cause) == 0);
			break;
		case 1:
			CHECK(frame_write_ref(b, &wk, FRAME_AGENT, meta,
			    payload, n, ref_cleanup, NULL, &cause) == 0);
			CHECK(ref_calls == 1 && ref_len == n);
			break;
		case 2:
			CHECK(evbuffer_add_reference(pbuf, payload, n / 2,
			    ref_cleanup, NULL) == 0);
			CHECK(evbuffer_add(pbuf, payload + n / 2,
			    n - n / 2) == 0);
			CHECK(frame_write_buffer(b, &wk, FRAME_AGENT, meta,
			    pbuf, &cause) == 0);
			CHECK(evbuffer_get_length(pbuf) == 0 &&
			    ref_calls == 1);
			break;
		case 3:
			CHECK((fs = frame_stream_begin(b, &wk, FRAME_AGENT,
			    meta, n, &cause)) != NULL);
			for (at = 0; at < n; at += take) {
				take = n - at < 700000 ? n - at : 700000;
				frame_stream_mac(fs, payload + at, take);
				CHECK(evbuffer_add_reference(piece,
				    payload + at, take, ref_cleanup,
				    NULL) == 0);
				CHECK(frame_stream_put(fs, b, piece) == 0);
			}
			CHECK(frame_stream_left(fs) == 0 &&
			    ref_calls == (int)((n + 699999) / 700000));
			frame_stream_free(fs);
			fs = NULL;
			break;
		}
		len = evbuffer_get_length(b);
		CHECKF(len == FRAME_HEADER_SIZE + strlen("{\"agent\":\""
		    ENC_META "\"}") + n + FRAME_MAC_SIZE, "way %d: %zu bytes",
		    way, len);
		CHECKF(!enc_contains(b, ENC_PATTERN), "way %d: plaintext "
		    "on the wire", way);
		CHECKF(!enc_contains(b, ENC_META), "way %d: meta in clear",
		    way);
		CHECK(memcmp(payload, orig, n) == 0);
		CHECK(frame_read(b, &rk, &f, &cause) == 1);
		CHECK(json_equal(f->meta, meta));
		CHECK(f->payload_len == n && memcmp(f->payload, orig, n) == 0);
		frame_free(f);
		f = NULL;
	}

	/* Tampered ciphertext: the tag fails before anything is deciphered. */
	CHECK(frame_write(b, &wk, FRAME_AGENT, meta, payload, 100,
	    &cause) == 0);
	len = evbuffer_get_length(b);
	all = xmalloc(len);
	memcpy(all, evbuffer_pullup(b, -1), len);
	evbuffer_drain(b, len);
	all[len - FRAME_MAC_SIZE - 50] ^= 0x01;
	evbuffer_add(b, all, len);
	why = expect_refused(b, &rk, "bad MAC");
	CHECKF(why == NULL, "%s", why);

	/* A key that does not encrypt reads no such frame as meta. */
	evbuffer_drain(b, evbuffer_get_length(b));
	frame_key_init(&rk, key);
	rk.seq = wk.seq;
	CHECK(frame_write(b, &wk, FRAME_AGENT, meta, payload, 10,
	    &cause) == 0);
	CHECK(frame_read(b, &rk, &f, &cause) == -1 &&
	    strstr(cause, "bad JSON") != NULL);
	free(cause);
	cause = NULL;
end:
	if (cause != NULL)
		fprintf(stderr, "cause: %s\n", cause);
	frame_stream_free(fs);
	free(cause);
	frame_free(f);
	free(payload);
	free(orig);
	free(all);
	json_decref(meta);
	buf_free(b);
	buf_free(pbuf);
	buf_free(piece);
}

/*
 * The socket reader on an encrypting key: a large frame read straight
 * into its buffer is deciphered once whole, and the early hint already
 * has its meta in clear.
 */
static void
test_encrypt_reader(void)
{
	size_t n = (size_t)3 << 20;
	unsigned char key[FRAME_KEY_SIZE], *payload = xmalloc(n);
	struct evbuffer *b = evbuffer_new();
	struct frame_reader *r = frame_reader_new(0);
	struct frame_key wk, rk;
	struct frame *f = NULL;
	json_t *meta = json_pack("{s:s}", "agent", ENC_META);
	const char *text = NULL;
	char *cause = NULL, *path = NULL;
	void *buf;
	uint64_t blen;
	int fd = -1, type, told = 0, rc;

	fill(key, sizeof key, 12);
	enc_fill(payload, n);
	frame_key_init(&wk, key);
	frame_key_init(&rk, key);
	wk.encrypt = rk.encrypt = 1;
	CHECK(frame_write(b, &wk, FRAME_REQUEST, meta, payload, n,
	    &cause) == 0);
	CHECK(frame_write(b, &wk, FRAME_PING, meta, NULL, 0, &cause) == 0);
	path = xasprintf("%s/encrypted", unit_tmpdir());
	CHECK((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) >= 0);
	CHECK(evbuffer_write(b, fd) > 0 && evbuffer_get_length(b) == 0);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	while ((rc = frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f,
	    &cause)) == 0) {
		if (frame_reader_started(r, &type, &text, &buf, &blen)) {
			told = 1;
			CHECKF(strstr(text, ENC_META) != NULL, "hint: %.40s",
			    text);
		}
		CHECK(frame_reader_fill(r, fd, 65536) > 0);
	}
	CHECK(rc == 1 && told);
	CHECK(json_equal(f->meta, meta));
	CHECK(f->payload_len == n && memcmp(f->payload, payload, n) == 0);
	frame_free(f);
	f = NULL;
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 1);
	CHECK(f->type == FRAME_PING && json_equal(f->meta, meta));
end:
	if (cause != NULL)
		fprintf(stderr, "cause: %s\n", cause);
	if (fd >= 0)
		close(fd);
	free(path);
	free(cause);
	frame_free(f);
	frame_reader_free(r);
	free(payload);
	json_decref(meta);
	buf_free(b);
}

/*
 * A header that claims 1 GiB costs what has come, not what it claims: the
 * payload's buffer starts at FRAME_GROW_FIRST and at most doubles per fill,
 * and the frame still arrives whole. Before the handshake (max payload 0)
 * a meta over FRAME_HANDSHAKE_META is refused from the header alone.
 */
static void
test_reader_grows(void)
{
	uint64_t claim = FRAME_MAX_PAYLOAD, sent = 0;
	size_t piece = (size_t)3 << 20, mapped0;
	struct frame_reader *r = frame_reader_new(1);
	struct evbuffer *b = evbuffer_new(), *p = evbuffer_new();
	struct frame_stream *fs = NULL;
	struct frame_key wk, rk;
	struct frame *f = NULL;
	unsigned char *bytes = xmalloc(piece);
	char *cause = NULL, big[FRAME_HANDSHAKE_META + 64];
	json_t *m = NULL;
	int sv[2] = { -1, -1 };
	ssize_t k;

	fill(bytes, piece, 3);
	frame_key_init(&wk, NULL);
	frame_key_init(&rk, NULL);
	bigbuf_trim(1);
	mapped0 = bigbuf_mapped();
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	CHECK((fs = frame_stream_begin(b, &wk, FRAME_REQUEST, NULL, claim,
	    &cause)) != NULL);
	frame_stream_mac(fs, bytes, 10);
	CHECK(evbuffer_add(p, bytes, 10) == 0);
	CHECK(frame_stream_put(fs, b, p) == 0);
	sent = 10;
	CHECK(evbuffer_write(b, sv[0]) > 0);
	while (frame_reader_pending(r) < FRAME_HEADER_SIZE + 2 + sent)
		CHECK(frame_reader_fill(r, sv[1], (size_t)4 << 20) > 0);
	CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f, &cause) == 0);
	CHECKF(bigbuf_mapped() - mapped0 <= (size_t)2 << 20,
	    "%zu bytes mapped for 10", bigbuf_mapped() - mapped0);
	/* 3 MiB more: the buffer grows to 4 MiB, no further. */
	frame_stream_mac(fs, bytes, piece);
	CHECK(evbuffer_add(p, bytes, piece) == 0);
	CHECK(frame_stream_put(fs, b, p) == 0);
	sent += piece;
	while (evbuffer_get_length(b) > 0 || frame_reader_pending(r) <
	    FRAME_HEADER_SIZE + 2 + sent) {
		if (evbuffer_get_length(b) > 0)
			(void)evbuffer_write(b, sv[0]);
		k = frame_reader_fill(r, sv[1], (size_t)4 << 20);
		CHECK(k > 0 || (k < 0 && errno == EAGAIN));
		CHECK(frame_reader_next(r, &rk, FRAME_MAX_PAYLOAD, &f,
		    &cause) == 0);
	}
	CHECKF(bigbuf_mapped() - mapped0 <= (size_t)4 << 20,
	    "%zu bytes mapped for %" PRIu64, bigbuf_mapped() - mapped0, sent);
	frame_stream_free(fs);
	fs = NULL;

	/* Before the handshake: a meta of 4 KiB and more is cut off. */
	memset(big, 'a', sizeof big);
	big[sizeof big - 1] = '\0';
	m = json_pack("{s:s}", "name", big);
	evbuffer_drain(b, evbuffer_get_length(b));
	frame_key_init(&wk, NULL);
	CHECK(frame_write(b, &wk, FRAME_HELLO, m, NULL, 0, &cause) == 0);
	CHECK(frame_read_max(b, &rk, 0, &f, &cause) == -1 && cause != NULL &&
	    strstr(cause, "limit 4096") != NULL);
end:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	json_decref(m);
	frame_stream_free(fs);
	free(cause);
	free(bytes);
	frame_free(f);
	frame_reader_free(r);
	evbuffer_free(b);
	evbuffer_free(p);
}

static const struct unit_test tests[] = {
	{ "type_names", test_type_names },
	{ "doc_example", test_doc_example },
	{ "roundtrip", test_roundtrip },
	{ "large_payload", test_large_payload },
	{ "write_ref", test_write_ref },
	{ "stream", test_stream },
	{ "reader_started", test_reader_started },
	{ "reader", test_reader },
	{ "reader_grows", test_reader_grows },
	{ "several", test_several },
	{ "byte_by_byte", test_byte_by_byte },
	{ "fragmented", test_fragmented },
	{ "bad_header", test_bad_header },
	{ "truncated", test_truncated },
	{ "bad_meta", test_bad_meta },
	{ "bad_seq", test_bad_seq },
	{ "bad_mac", test_bad_mac },
	{ "write_limits", test_write_limits },
	{ "python_client", test_python_client },
	{ "encrypt", test_encrypt },
	{ "encrypt_reader", test_encrypt_reader },
	{ NULL, NULL },
};

UNIT_MAIN("frame", tests)
