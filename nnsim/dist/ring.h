/*
 * The all-reduce of a data-parallel job: N partitions in a ring, each with
 * a TCP link to its successor, sum a float vector every step (a ring
 * reduce-scatter, then an all-gather; docs/data-parallel.md).
 *
 * Partitions move between hosts, so links break and come back. Every
 * message names its step and round, each sender keeps what it sent this
 * step and the last, and a receiver that reconnects says which step and
 * round it needs next: a move costs a resend, never a restart or a wrong
 * sum. The order of additions depends only on the ranks, so the sum is
 * bitwise the same wherever the partitions run.
 *
 * Links are authenticated with the job's secret (an HMAC-SHA256 challenge
 * both ways) and every message carries a ChaCha20-Poly1305 tag under a key
 * for that link; its floats go enciphered with ChaCha20 under the same key
 * unless the job says otherwise (nn_ring_set_encrypt).
 */
#ifndef NN_RING_H
#define NN_RING_H

#include <stddef.h>
#include <stdint.h>

#define NN_RING_SECRET	32
#define NN_RING_SECRET_HEX (2 * NN_RING_SECRET + 1)	/* with its NUL */
#define NN_RING_MAX	64	/* partitions */
#define NN_RING_MAX_BUCKETS 64

struct nn_ring;

/* Partition rank of size, summing vectors of n floats. */
struct nn_ring	*nn_ring_new(int rank, int size, size_t n,
		     const unsigned char secret[NN_RING_SECRET]);
void		 nn_ring_free(struct nn_ring *);
/* Listens on ip, any port; returns the port or -1 with cause. */
int		 nn_ring_listen(struct nn_ring *, const char *ip, char **cause);
/* Where the successor listens; a later call (it moved) replaces it. */
int		 nn_ring_set_next(struct nn_ring *, const char *ip, int port,
		     char **cause);
/*
 * Buckets, summed in this order: bucket k is floats lo[k]..lo[k]+len[k]-1,
 * and together they cover the n floats once. By default there is one.
 * Set them before the first step; -1 with cause when they do not fit.
 */
int		 nn_ring_set_buckets(struct nn_ring *, const size_t *lo,
		     const size_t *len, int nb, char **cause);
/*
 * Starts summing v (n floats) for step; v is read and, once
 * nn_ring_progress returns 1, holds the sum. Steps go up by one.
 */
void		 nn_ring_start(struct nn_ring *, uint64_t step, float *v);
/* The same for a vector in two pieces: nv floats at v, then the rest of
 * the n at extra (a gradient and a few figures, without a copy). */
void		 nn_ring_start2(struct nn_ring *, uint64_t step, float *v,
		     size_t nv, float *extra);
/*
 * nn_ring_start2 in two halves, so the sum can start while v is still
 * being computed: begin names the vector and nothing is sent yet; ready
 * says that floats from.. are final, and the buckets that lie in them go,
 * in bucket order. Nothing lands in a bucket before it is final here.
 * nn_ring_progress(ring, 0, ...) between two pieces of the computation
 * moves what can move without waiting; the kernel's socket buffers carry
 * it on while the computation goes on.
 */
void		 nn_ring_begin(struct nn_ring *, uint64_t step, float *v,
		     size_t nv, float *extra);
void		 nn_ring_ready(struct nn_ring *, size_t from);
/*
 * Moves data for up to timeout_ms. 1: v holds the sum; 0: not yet; -1
 * with cause when no message was accepted for idle_ms (nn_ring_set_idle;
 * a peer that breaks the protocol only loses its link, so that is how it
 * ends), naming the last error.
 */
int		 nn_ring_progress(struct nn_ring *, int timeout_ms,
		     char **cause);
/* Sends what the successor still needs, for up to timeout_ms: 1 done. */
int		 nn_ring_flush(struct nn_ring *, int timeout_ms, char **cause);
/*
 * Waits up to timeout_ms serving the successor: connecting to where it
 * listens now and resending what it asks for. A finished partition calls
 * it until its successor has said it has every sum. 0, or -1 with cause.
 */
int		 nn_ring_serve(struct nn_ring *, int timeout_ms, char **cause);
void		 nn_ring_set_idle(struct nn_ring *, int idle_ms);
/*
 * Whether messages are enciphered (the default) or only tagged; the job's
 * setting, the same on every rank, and set before the first link: the two
 * kinds of link have different keys, so ranks that disagree fail every tag
 * rather than sum ciphertext.
 */
void		 nn_ring_set_encrypt(struct nn_ring *, int on);
/*
 * What a moving partition carries: the last finished step's messages,
 * which a successor that moved too may still need. save allocates *buf.
 */
void		 nn_ring_save(const struct nn_ring *, unsigned char **buf,
		     size_t *len);
/* The same into buf, of nn_ring_save_size bytes (a reused buffer). */
size_t		 nn_ring_save_size(const struct nn_ring *);
void		 nn_ring_save_to(const struct nn_ring *, unsigned char *buf);
int		 nn_ring_restore(struct nn_ring *, const unsigned char *buf,
		     size_t len, char **cause);
/* The job's secret as it travels in a state: 64 hex digits. The parse
 * returns -1 for anything else. */
void		 nn_ring_secret_hex(const unsigned char secret[NN_RING_SECRET],
		     char hex[NN_RING_SECRET_HEX]);
int		 nn_ring_secret_parse(const char *hex,
		     unsigned char secret[NN_RING_SECRET]);
/*
 * The submitter's orders to the partitions (the members, a commit) carry a
 * version, which only goes up, and this MAC of it and what, under the
 * job's secret: a client without the secret cannot repoint the ring.
 * hex gets 64 digits and a NUL.
 */
#define NN_RING_MAC_HEX	65
void		 nn_ring_control_mac(const unsigned char secret[NN_RING_SECRET],
		     long long version, const char *what, char *hex);

/* Bytes sent and received, for the throughput figures. */
void		 nn_ring_bytes(const struct nn_ring *, uint64_t *sent,
		     uint64_t *received);

#endif
