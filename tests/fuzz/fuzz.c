/* Helpers the harnesses share (fuzz.h). */
#include <sys/mman.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentd/frame.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/le.h"
#include "fuzz.h"

/* A memfd, not a file in /tmp: millions of runs leave nothing behind. */
int
fuzz_memfile(const void *buf, size_t len, char *path, size_t size)
{
	const char *p = buf;
	ssize_t w;
	int fd;

	if ((fd = memfd_create("fuzz", MFD_CLOEXEC)) == -1)
		fatal("memfd_create failed");
	while (len > 0) {
		if ((w = write(fd, p, len)) <= 0)
			fatal("writing a memfd failed");
		p += w;
		len -= (size_t)w;
	}
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

/* The header as frame.c lays it out (frame.h), then meta, payload, tag. */
void
fuzz_frame_put(struct evbuffer *out, const unsigned char *key, int type,
    uint64_t seq, const void *meta, size_t meta_len, const void *payload,
    size_t payload_len)
{
	unsigned char h[FRAME_HEADER_SIZE];

	memset(h, 0, sizeof h);
	nn_le_put_u32(h + 0, FRAME_MAGIC);
	h[4] = FRAME_VERSION;
	h[5] = (unsigned char)type;
	nn_le_put_u32(h + 8, (uint32_t)meta_len);
	nn_le_put_u64(h + 12, payload_len);
	nn_le_put_u64(h + 20, seq);
	fuzz_frame_tag(out, key, h, meta, meta_len, payload, payload_len);
}

/* The tag covers header, meta and payload under the header's seq. */
void
fuzz_frame_tag(struct evbuffer *out, const unsigned char *key,
    const unsigned char *h, const void *meta, size_t meta_len,
    const void *payload, size_t payload_len)
{
	unsigned char tag[FRAME_MAC_SIZE];
	struct crypto_tag t;

	crypto_tag_init(&t, key, nn_le_get_u64(h + 20));
	crypto_tag_update(&t, h, FRAME_HEADER_SIZE);
	crypto_tag_update(&t, meta, meta_len);
	crypto_tag_update(&t, payload, payload_len);
	crypto_tag_final(&t, tag);
	evbuffer_add(out, h, FRAME_HEADER_SIZE);
	evbuffer_add(out, meta, meta_len);
	evbuffer_add(out, payload, payload_len);
	evbuffer_add(out, tag, sizeof tag);
}
