/*
 * The frame reader (agentd/frame.h) on a byte stream from a peer:
 * frame_read_max over an evbuffer, or frame_reader_* over a pipe, fed in
 * chunks so that frames arrive in pieces.
 *
 * Byte 0 chooses how; the rest is the stream.
 *   bit 0     0: frame_read_max, 1: frame_reader over a pipe
 *   bit 1     fix: each whole frame gets the right tag under the key (its
 *             payload zero-padded to its length when the input is
 *             short), so the meta and payload checks are reached
 *   bit 2     with fix: seq set to the frame's index
 *   bits 3-4  max_payload: 0, 256, FRAME_DIRECT + 64 KiB, FRAME_MAX_PAYLOAD
 *             (the pipe reader stops at 2 * FRAME_DIRECT: it allocates a
 *             large payload as soon as its header is in)
 *   bits 5-7  chunk size: 1, 3, 16, 100, 1024, 4096, 16384, 65536 (at
 *             least a 4096th of the stream)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/frame.h"
#include "base/alloc.h"
#include "base/le.h"
#include "fuzz.h"

/* A fixed key: not the all-zero one, so a key mix-up would show. */
static const unsigned char fuzz_key[FRAME_KEY_SIZE] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

/* Fix mode pads a payload only up to this: past FRAME_DIRECT, so the
 * reader's direct path is reached, and no further. */
#define FUZZ_PAD_MAX	(FRAME_DIRECT + 65536)

static const size_t fuzz_chunks[8] = {
	1, 3, 16, 100, 1024, 4096, 16384, 65536
};

/*
 * The stream with each whole frame's tag (and seq) made right. Lengths
 * come from the input's headers; a frame whose header or meta is cut
 * short, or whose payload is over FUZZ_PAD_MAX, ends the fixing and the
 * rest goes as it is.
 */
static void
fuzz_fix(const uint8_t *p, size_t n, int fix_seq, struct evbuffer *out)
{
	unsigned char h[FRAME_HEADER_SIZE], *payload;
	uint64_t seq, plen, have;
	uint32_t mlen;
	size_t took;

	for (seq = 0; n >= FRAME_HEADER_SIZE; seq++) {
		memcpy(h, p, sizeof h);
		mlen = nn_le_get_u32(h + 8);
		plen = nn_le_get_u64(h + 12);
		if (mlen > n - FRAME_HEADER_SIZE || plen > FUZZ_PAD_MAX)
			break;
		if (fix_seq)
			nn_le_put_u64(h + 20, seq);
		p += FRAME_HEADER_SIZE;
		n -= FRAME_HEADER_SIZE;
		have = n - mlen < plen ? n - mlen : plen;
		payload = xcalloc(1, plen > 0 ? (size_t)plen : 1);
		memcpy(payload, p + mlen, (size_t)have);
		fuzz_frame_tag(out, fuzz_key, h, p, mlen, payload,
		    (size_t)plen);
		free(payload);
		/* The input's own tag bytes, if there, are replaced. */
		took = mlen + (size_t)have;
		took += n - took < FRAME_MAC_SIZE ? n - took : FRAME_MAC_SIZE;
		p += took;
		n -= took;
	}
	evbuffer_add(out, p, n);
}

/* What every frame handed out must be. */
static void
fuzz_check(const struct frame *f)
{
	if (f->type < 1 || f->type > FRAME_TYPE_MAX || !json_is_object(f->meta)
	    || (f->payload == NULL) != (f->payload_len == 0))
		abort();
}

/* frame_read_max on what has come so far; 0 once the stream is refused. */
static int
fuzz_drain_buffer(struct evbuffer *in, struct frame_key *k, uint64_t max)
{
	struct frame *f;
	char *cause = NULL;
	int r;

	while ((r = frame_read_max(in, k, max, &f, &cause)) == 1) {
		fuzz_check(f);
		frame_free(f);
	}
	free(cause);
	return r == 0;
}

/* frame_reader_next until it needs more; 0 once the stream is refused. */
static int
fuzz_drain_reader(struct frame_reader *r, struct frame_key *k, uint64_t max)
{
	struct frame *f;
	const char *meta;
	void *payload;
	uint64_t len;
	char *cause = NULL;
	int rc, type;

	while ((rc = frame_reader_next(r, k, max, &f, &cause)) == 1) {
		fuzz_check(f);
		frame_free(f);
	}
	if (rc == 0 && frame_reader_started(r, &type, &meta, &payload,
	    &len) && (meta == NULL || payload == NULL || len < FRAME_DIRECT))
		abort();
	free(cause);
	return rc == 0;
}

/* Reads the pipe dry into r; 0 at its end. */
static int
fuzz_fill(struct frame_reader *r, int fd)
{
	ssize_t n;

	/* Not the daemon's 4 MiB: each call reserves that much. */
	while ((n = frame_reader_fill(r, fd, 65536)) > 0)
		;
	if (n == -1 && errno != EAGAIN)
		abort();
	return n != 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxes[4] = {
		0, 256, FRAME_DIRECT + 65536, FRAME_MAX_PAYLOAD
	};
	struct evbuffer *stream, *in = NULL;
	struct frame_reader *r = NULL;
	struct frame_key k;
	unsigned char *chunk;
	uint64_t max;
	size_t step;
	int n, opt, pipefd[2] = { -1, -1 }, live = 1;

	if (size < 1)
		return -1;
	opt = data[0];
	max = maxes[(opt >> 3) & 3];
	step = fuzz_chunks[(opt >> 5) & 7];
	stream = evbuffer_new();
	if (opt & 2)
		fuzz_fix(data + 1, size - 1, opt & 4, stream);
	else
		evbuffer_add(stream, data + 1, size - 1);
	frame_key_init(&k, fuzz_key);
	/* A padded megabyte in 1-byte chunks would take seconds. */
	if (step < evbuffer_get_length(stream) / 4096)
		step = evbuffer_get_length(stream) / 4096;
	chunk = xmalloc(step);

	if (opt & 1) {
		if (max > 2 * FRAME_DIRECT)
			max = 2 * FRAME_DIRECT;
		if (pipe2(pipefd, O_CLOEXEC) != 0 ||
		    fcntl(pipefd[0], F_SETFL, O_NONBLOCK) != 0)
			abort();
		r = frame_reader_new(0);
	} else
		in = evbuffer_new();

	/* A chunk at most fills the pipe (64 KiB), which each round empties. */
	while (live && (n = evbuffer_remove(stream, chunk, step)) > 0) {
		if (r != NULL) {
			if (write(pipefd[1], chunk, (size_t)n) != n)
				abort();
			fuzz_fill(r, pipefd[0]);
			live = fuzz_drain_reader(r, &k, max);
		} else {
			evbuffer_add(in, chunk, (size_t)n);
			live = fuzz_drain_buffer(in, &k, max);
		}
	}
	if (r != NULL) {
		close(pipefd[1]);
		pipefd[1] = -1;
		if (live && fuzz_fill(r, pipefd[0]))
			abort();	/* no end of stream after the writer closed */
		(void)frame_reader_pending(r);
	}

	frame_reader_free(r);
	if (in != NULL)
		evbuffer_free(in);
	evbuffer_free(stream);
	free(chunk);
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	return 0;
}
