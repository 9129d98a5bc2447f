/*
 * The wire format (docs/protocol.md). Every message on every connection
 * (daemon to daemon, client to daemon, daemon to worker) is a frame:
 *
 *   header (32 bytes, little-endian)
 *     0  u32  magic    0x4741414e ("NAAG" in memory order: 'N','A','A','G')
 *     4  u8   version  1
 *     5  u8   type     enum frame_type
 *     6  u16  flags    0 (reserved; nonzero is an error)
 *     8  u32  meta_len bytes of JSON metadata, <= FRAME_MAX_META
 *    12  u64  payload_len bytes of raw payload, <= FRAME_MAX_PAYLOAD
 *    20  u64  seq      sender's frame counter on this connection, from 0
 *    28  u32  reserved 0
 *   meta     meta_len bytes: one JSON object (UTF-8)
 *   payload  payload_len raw bytes
 *   mac      16 bytes: the ChaCha20-Poly1305 (RFC 8439) tag of an empty
 *            plaintext with nonce = 4 zero bytes || seq (u64) and
 *            associated data header || meta || payload
 *
 * On an encrypting key (frame_key.encrypt) meta || payload go enciphered:
 * XOR'd with the ChaCha20 keystream of the same key and nonce from block 1
 * (block 0 is the tag's Poly1305 key; crypto_stream), and the tag covers
 * the header and that ciphertext. A reader MACs the bytes as they come and
 * deciphers only once the tag and seq have passed. meta_len and
 * payload_len stay in clear.
 *
 * Until authentication completes the key is 32 zero bytes; afterwards each
 * direction has its own session key (auth.h), so no nonce repeats. A receiver checks magic,
 * version, flags and both lengths against the limits before allocating,
 * then seq (must equal the count of frames received so far) and the MAC.
 */
#ifndef AGENTD_FRAME_H
#define AGENTD_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <jansson.h>

#define FRAME_MAGIC		0x4741414eU
#define FRAME_VERSION		1
#define FRAME_HEADER_SIZE	32
#define FRAME_MAC_SIZE		16
#define FRAME_NONCE_SIZE	12
#define FRAME_KEY_SIZE		32
#define FRAME_MAX_META		(1U << 20)		/* 1 MiB */
#define FRAME_MAX_PAYLOAD	((uint64_t)1 << 30)	/* 1 GiB */
/* HELLO and AUTH: a few hundred bytes of meta, no payload. */
#define FRAME_HANDSHAKE_META	4096

enum frame_type {
	FRAME_HELLO = 1,	/* handshake: name, role, nonce */
	FRAME_AUTH = 2,		/* handshake: proof */
	FRAME_REQUEST = 3,	/* meta.op names the request, meta.id matches */
	FRAME_REPLY = 4,	/* meta.id of the request, meta.ok, meta.error */
	FRAME_EVENT = 5,	/* meta.event: started, moved, finished, ... */
	FRAME_PING = 6,		/* heartbeat; meta carries host information */
	FRAME_PONG = 7,
	FRAME_AGENT = 8,	/* agent traffic: state, messages, code */
	FRAME_TYPE_MAX = 8,
};

const char	*frame_type_name(int type);

/* One direction's state: the key, the next sequence number and whether
 * meta and payload are enciphered (set by the owner after
 * frame_key_init, which clears it). */
struct frame_key {
	unsigned char	key[FRAME_KEY_SIZE];
	uint64_t	seq;
	int		encrypt;
};

/* A received frame. */
struct frame {
	int		 type;
	json_t		*meta;		/* an object; owned */
	unsigned char	*payload;	/* owned, NULL when payload_len is 0 */
	uint64_t	 payload_len;
};

/* Sets the key and restarts seq at 0; a NULL key is the all-zero key. */
void	frame_key_init(struct frame_key *, const unsigned char *key);
void	frame_free(struct frame *);

/*
 * Appends one frame to out, MAC'd with k, and advances k->seq. meta may be
 * NULL (sent as {}). Returns 0, or -1 with cause when a length is over its
 * limit.
 */
int	frame_write(struct evbuffer *out, struct frame_key *k, int type,
	    json_t *meta, const void *payload, uint64_t payload_len,
	    char **cause);
/*
 * frame_write without copying the payload: out refers to it until those
 * bytes have been sent or drained, then calls cleanup(payload, payload_len,
 * arg) once (at once when payload_len is 0; cleanup may be NULL). The
 * payload must not change meanwhile. On -1 nothing was added and the
 * caller still owns the payload. For large states: it saves a copy and
 * the page faults of a fresh buffer. On an encrypting key the payload is
 * enciphered into out, never in place, and cleanup is called at once.
 */
int	frame_write_ref(struct evbuffer *out, struct frame_key *k, int type,
	    json_t *meta, const void *payload, uint64_t payload_len,
	    evbuffer_ref_cleanup_cb cleanup, void *arg, char **cause);
/*
 * A frame whose payload is everything in payload, which is moved to out
 * (emptied) rather than copied: chains that refer to memory elsewhere keep
 * referring to it. On an encrypting key it is enciphered into out.
 */
int	frame_write_buffer(struct evbuffer *out, struct frame_key *k, int type,
	    json_t *meta, struct evbuffer *payload, char **cause);
/*
 * A frame whose payload is added in pieces, for a state sent while it is
 * still being read: frame_stream_begin appends the header and meta (and
 * takes the seq); for each piece, frame_stream_mac feeds its bytes to the
 * tag, in order, from wherever they are, and frame_stream_put moves the
 * piece (which may hold references or file segments) to out. The put that
 * completes payload_len bytes appends the tag. On an encrypting key
 * frame_stream_mac enciphers the bytes into a buffer of the frame's own
 * and frame_stream_put drains the piece (nothing it refers to changes) and
 * moves that instead. Nothing else may go into out meanwhile. A frame freed before its end leaves out holding a frame
 * cut short: the connection must close.
 */
struct frame_stream;
struct frame_stream *frame_stream_begin(struct evbuffer *out,
	    struct frame_key *k, int type, json_t *meta, uint64_t payload_len,
	    char **cause);
/* Feeds n more payload bytes to the tag; past payload_len is fatal. */
void	frame_stream_mac(struct frame_stream *, const void *p, size_t n);
/* Moves piece to out: -1 unless it holds exactly the bytes fed since the
 * last put. */
int	frame_stream_put(struct frame_stream *, struct evbuffer *out,
	    struct evbuffer *piece);
/* Bytes still to put; 0 once the tag is out. */
uint64_t frame_stream_left(const struct frame_stream *);
void	frame_stream_free(struct frame_stream *);

/*
 * Parses one frame from the front of in. Returns 1 and a new frame (removed
 * from in), 0 when in does not yet hold a whole frame (nothing removed), or
 * -1 with cause: bad magic, version, flags or type, a length over its limit,
 * bad JSON or a non-object, a wrong seq, or a MAC mismatch. After -1 the
 * connection must be closed. Lengths are checked before any allocation.
 */
int	frame_read(struct evbuffer *in, struct frame_key *k,
	    struct frame **out, char **cause);
/*
 * frame_read with payloads limited to max_payload (at most
 * FRAME_MAX_PAYLOAD), refused as soon as the header arrives. Before the
 * handshake completes, pass 0, which also limits meta to
 * FRAME_HANDSHAKE_META: otherwise a peer without the key could make the
 * daemon buffer a 1 GiB frame before its MAC fails.
 */
int	frame_read_max(struct evbuffer *in, struct frame_key *k,
	    uint64_t max_payload, struct frame **out, char **cause);

/*
 * Reads frames off a socket. Small frames pass through an evbuffer; a
 * payload of FRAME_DIRECT bytes or more is read straight into its own
 * buffer and MAC'd as it arrives, so a large state is copied once, by the
 * kernel, and checked while it is still in cache. With pooled set the
 * buffer comes from bigbuf.h (the daemon); frame_free gives it back.
 *
 * Nothing is reserved for what a header claims: reads into the evbuffer
 * take FRAME_READ_MIN, or up to as much again as has come for the frame
 * being read; a large payload's buffer starts at FRAME_GROW_FIRST (or an
 * idle pooled buffer of its size) and doubles as it fills.
 */
#define FRAME_DIRECT	((uint64_t)1 << 20)
#define FRAME_READ_MIN	((size_t)64 << 10)
#define FRAME_GROW_FIRST ((uint64_t)1 << 20)
struct frame_reader;
struct frame_reader *frame_reader_new(int pooled);
void	frame_reader_free(struct frame_reader *);
/* One readv of at most about max bytes from fd (less as above): the
 * count, 0 at the end of the stream, -1 with errno. */
ssize_t	frame_reader_fill(struct frame_reader *, int fd, size_t max);
/* The next whole frame of what was read: as frame_read_max. */
int	frame_reader_next(struct frame_reader *, struct frame_key *k,
	    uint64_t max_payload, struct frame **out, char **cause);
/*
 * Once per large frame, as soon as its header and meta are in and its
 * payload is being read into *payload, grown to its full length: 1 with the type, the meta's JSON
 * text (borrowed, NOT yet checked against the MAC) and the payload's
 * buffer and length (still filling; the frame will own it). Else 0.
 */
int	frame_reader_started(struct frame_reader *, int *type,
	    const char **meta, void **payload, uint64_t *len);
/*
 * Believes the lengths that headers claim (trusted 1): a large payload's
 * buffer then has its full length from the start, so frame_reader_started
 * says so at once. For the daemons of the cluster, whose states are
 * large and whose workers start on them while they arrive; not for
 * anyone else (a claimed 1 GiB would cost 1 GiB).
 */
void	frame_reader_trust(struct frame_reader *, int trusted);
/* Bytes read and not yet returned in frames. */
uint64_t frame_reader_pending(const struct frame_reader *);

#endif
