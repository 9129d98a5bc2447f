/*
 * What the libFuzzer harnesses share (tests/fuzz/README.md). Each
 * fuzz_NAME.c defines LLVMFuzzerTestOneInput; clang's libFuzzer calls it
 * under `make fuzz`, replay.c calls it on the checked-in corpus in the
 * suite.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

/* The harness: 0 keeps the input, -1 asks libFuzzer to drop it. */
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Puts len bytes in an anonymous memory file and writes its path
 * ("/proc/self/fd/N") to path, for loaders that take a file name. Returns
 * the descriptor, which the caller closes; a failure is fatal.
 */
int	fuzz_memfile(const void *buf, size_t len, char *path, size_t size);

/*
 * Appends one frame to out: the header with type, seq and the lengths,
 * meta and payload as given (meta need not be JSON), and the right tag
 * under key. The header's other fields are as a writer sets them.
 */
void	fuzz_frame_put(struct evbuffer *out, const unsigned char *key,
	    int type, uint64_t seq, const void *meta, size_t meta_len,
	    const void *payload, size_t payload_len);
/* The same with the 32 header bytes as given, the tag's seq read from
 * them: a header with any field wrong still gets the right tag. */
void	fuzz_frame_tag(struct evbuffer *out, const unsigned char *key,
	    const unsigned char *header, const void *meta, size_t meta_len,
	    const void *payload, size_t payload_len);

#endif
