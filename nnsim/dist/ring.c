/*
 * Ring all-reduce over TCP (ring.h). Rank r sends to r+1 and receives from
 * r-1. The vector is cut into buckets, summed one after another in the
 * order the caller gives (the last layers' gradients first, since the
 * backward pass finishes them first). Each bucket is cut into N chunks; in
 * reduce-scatter round t (0..N-2) rank r sends chunk r-t and adds the chunk
 * r-t-1 it receives, after which it holds the sum of chunk r+1; in
 * all-gather round u (0..N-2) it sends chunk r+1-u and stores chunk r-u.
 * Each round of a bucket travels as k slices of at most RING_SLICE floats,
 * so slice s of round t+1 goes out as soon as slice s of round t arrived.
 *
 * A step's messages, numbered in link order (bucket, round, slice), are
 * the same list for every rank. A link, from the sender's side:
 *   S -> R  hello: "NNRING2\0", u32 rank, u32 size, u64 0, nonce Ns (16)
 *   R -> S  "NNRING2\0", u64 step, u32 message, u32 0, nonce Nr (16),
 *           HMAC(secret, "nnring-R" Ns Nr step message)
 *   S -> R  HMAC(secret, "nnring-S" Ns Nr)
 * then messages: u64 step, u32 message, u32 bytes, payload, and the 16-byte
 * ChaCha20-Poly1305 tag (empty plaintext, header and payload as associated
 * data, nonce = 4 zero bytes || link message count) under the link key
 * HMAC(secret, "nnring-E" Ns Nr). The payload is enciphered: XOR'd with
 * the ChaCha20 keystream of the same key and nonce from block 1
 * (crypto_stream), and the tag covers that ciphertext. A job with
 * encryption off sends floats in clear under HMAC(secret, "nnring-K" Ns
 * Nr). Integers are little-endian.
 *
 * Over 1,000 lines on purpose: the ring's links, buckets, slices, tags and
 * polling share one private struct and one state machine per step; split,
 * each file would reach into the same fields.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/le.h"
#include "dist/ring.h"

#define RING_MAGIC	"NNRING2"	/* 8 bytes with its NUL */
#define RING_NONCE	16
#define RING_MAC	CRYPTO_HMAC_SIZE
#define RING_TAG	CRYPTO_TAG_SIZE
#define RING_HDR	16
#define RING_HELLO	(8 + 4 + 4 + 8 + RING_NONCE)
#define RING_REPLY	(8 + 8 + 4 + 4 + RING_NONCE + RING_MAC)
#define RING_IDLE_MS	120000
#define RING_RETRY_MS	50
#define RING_HANDSHAKE_MS 3000	/* a link that does not prove itself */
#define RING_LOG_MAGIC	0x4c524e4eU	/* "NNRL" */
/* A slice fits in L2 with the vector's piece it lands in, so the tag and
 * the sum read it from cache, and a round's next hop starts early. */
#define RING_SLICE	65536		/* floats: 256 KiB */

enum out_state { OUT_NONE, OUT_CONNECTING, OUT_REPLY, OUT_READY };
enum in_state { IN_NONE, IN_HELLO, IN_PROOF, IN_READY };

/* What this rank sent in one step, message after message. */
struct ring_log {
	uint64_t	 step;
	int		 valid;
	int		 nready;	/* messages copied in */
	unsigned char	*ready;		/* by message */
	float		*buf;
};

/* Message m of a step: where it comes from in the sender's vector and
 * where the receiver puts it, each rank's own view. */
struct ring_msg {
	size_t		 send_lo, send_len;	/* floats of the vector */
	size_t		 off;			/* its place in a log */
	size_t		 recv_lo, recv_len;
	int		 add;		/* reduce-scatter: add, else store */
	int		 bucket, round;
	int		 next;		/* what its arrival makes ready, or -1 */
};

struct nn_ring {
	int		 rank, size;
	size_t		 n;
	unsigned char	 secret[NN_RING_SECRET];
	int		 nmsg;		/* messages a step */
	struct ring_msg	*msg;
	size_t		 logfloats;
	int		 nbucket;
	size_t		*bucket_lo, *bucket_len;
	int		 nbready;	/* buckets final this step */
	float		*v;		/* the vector: v, then extra */
	float		*extra;
	size_t		 nv, nextra;
	float		*tmp;		/* one received slice */
	struct ring_log	 cur, prev;
	int		 recv_msg;	/* next message wanted this step */
	int		 started;
	int		 listen_fd;
	char		 next_ip[64];
	int		 next_port;
	int		 idle_ms;
	double		 last_io;
	double		 retry_at;
	char		 last_error[160];
	uint64_t	 bytes_out, bytes_in;
	uint64_t	 written;	/* steps whose messages all went out */
	int		 encrypt;	/* payloads enciphered */

	struct {
		int		 fd;
		enum out_state	 state;
		unsigned char	 ns[RING_NONCE];
		unsigned char	 key[CRYPTO_KEY_SIZE];
		uint64_t	 msgno;
		unsigned char	 buf[RING_REPLY];
		size_t		 got;
		uint64_t	 step;		/* the cursor: next to send */
		int		 msg;
		int		 active;	/* a message is being written */
		unsigned char	 hdr[RING_HDR], tag[RING_TAG];
		const float	*data;
		size_t		 bytes, done;
		/* The message enciphered: the log keeps its plaintext for
		 * resends, which go under another link's key. */
		unsigned char	*sealed;
		size_t		 sealed_cap;
	} out;

	struct {
		int		 fd;
		enum in_state	 state;
		double		 since;		/* accepted, ms */
		unsigned char	 ns[RING_NONCE], nr[RING_NONCE];
		unsigned char	 key[CRYPTO_KEY_SIZE];
		uint64_t	 msgno;
		unsigned char	 buf[RING_HELLO];
		size_t		 got;
		unsigned char	 hdr[RING_HDR], tag[RING_TAG];
		size_t		 hgot, pgot, tgot, bytes;
	} in;
};

/* Milliseconds: the ring's timeouts are in ms. */
static double
ring_now(void)
{
	return nn_clock_s() * 1e3;
}

static int
ring_mod(int a, int n)
{
	return ((a % n) + n) % n;
}

/* Piece i of n equal pieces of [lo, lo + len). */
static void
ring_piece(size_t lo, size_t len, size_t i, size_t n, size_t *plo,
    size_t *plen)
{
	*plo = lo + i * len / n;
	*plen = lo + (i + 1) * len / n - *plo;
}

static void
log_alloc(struct nn_ring *g, struct ring_log *l)
{
	free(l->buf);
	free(l->ready);
	l->buf = xreallocarray(NULL, g->logfloats + 1, sizeof (float));
	l->ready = xcalloc((size_t)g->nmsg + 1, 1);
	l->valid = 0;
	l->nready = 0;
}

/* Slices a round of bucket b: enough for its largest chunk, at least 1. */
static size_t
ring_slices(const struct nn_ring *g, int b)
{
	size_t big = (g->bucket_len[b] + (size_t)g->size - 1) /
	    (size_t)g->size;

	return big > 0 ? (big + RING_SLICE - 1) / RING_SLICE : 1;
}

/* The step's messages for the buckets set, and buffers to match. */
static void
ring_layout(struct nn_ring *g)
{
	int n = g->size, rounds = 2 * (n - 1), b, t, m = 0, sc, rc, nm = 0;
	size_t k, s, most = 1, total = 0, clo, clen;
	struct ring_msg *x;

	for (b = 0; b < g->nbucket; b++)
		nm += rounds * (int)ring_slices(g, b);
	free(g->msg);
	g->msg = xcalloc((size_t)nm + 1, sizeof *g->msg);
	g->nmsg = nm;
	for (b = 0; b < g->nbucket; b++) {
		k = ring_slices(g, b);
		for (t = 0; t < rounds; t++) {
			if (t < n - 1) {
				sc = ring_mod(g->rank - t, n);
				rc = ring_mod(g->rank - t - 1, n);
			} else {
				sc = ring_mod(g->rank + 1 - (t - n + 1), n);
				rc = ring_mod(g->rank - (t - n + 1), n);
			}
			for (s = 0; s < k; s++, m++) {
				x = &g->msg[m];
				ring_piece(g->bucket_lo[b], g->bucket_len[b],
				    (size_t)sc, (size_t)n, &clo, &clen);
				ring_piece(clo, clen, s, k, &x->send_lo,
				    &x->send_len);
				ring_piece(g->bucket_lo[b], g->bucket_len[b],
				    (size_t)rc, (size_t)n, &clo, &clen);
				ring_piece(clo, clen, s, k, &x->recv_lo,
				    &x->recv_len);
				x->off = total;
				total += x->send_len;
				x->add = t < n - 1;
				x->bucket = b;
				x->round = t;
				x->next = t + 1 < rounds ? m + (int)k : -1;
				if (x->recv_len > most)
					most = x->recv_len;
			}
		}
	}
	g->logfloats = total;
	log_alloc(g, &g->cur);
	log_alloc(g, &g->prev);
	free(g->tmp);
	g->tmp = xreallocarray(NULL, most, sizeof (float));
}

struct nn_ring *
nn_ring_new(int rank, int size, size_t n,
    const unsigned char secret[NN_RING_SECRET])
{
	struct nn_ring *g = xcalloc(1, sizeof *g);

	g->rank = rank;
	g->size = size;
	g->n = n;
	memcpy(g->secret, secret, NN_RING_SECRET);
	g->nbucket = 1;
	g->bucket_lo = xcalloc(1, sizeof *g->bucket_lo);
	g->bucket_len = xcalloc(1, sizeof *g->bucket_len);
	g->bucket_len[0] = n;
	ring_layout(g);
	g->listen_fd = g->out.fd = g->in.fd = -1;
	g->idle_ms = RING_IDLE_MS;
	g->last_io = ring_now();
	g->encrypt = 1;
	return g;
}

int
nn_ring_set_buckets(struct nn_ring *g, const size_t *lo, const size_t *len,
    int nb, char **cause)
{
	unsigned char *seen = NULL;
	size_t i, covered = 0;
	int b, rc = -1;

	if (g->cur.valid || g->prev.valid) {
		nn_fail(cause, "ring: buckets are set before the first step");
		goto out;
	}
	if (nb < 1 || nb > NN_RING_MAX_BUCKETS) {
		nn_fail(cause, "ring: %d buckets, expected 1 to %d", nb,
		    NN_RING_MAX_BUCKETS);
		goto out;
	}
	seen = xcalloc(g->n + 1, 1);
	for (b = 0; b < nb; b++) {
		if (lo[b] > g->n || len[b] > g->n - lo[b]) {
			nn_fail(cause, "ring: bucket %d runs past the %zu "
			    "floats", b, g->n);
			goto out;
		}
		for (i = lo[b]; i < lo[b] + len[b]; i++) {
			if (seen[i]) {
				nn_fail(cause, "ring: buckets overlap at "
				    "float %zu", i);
				goto out;
			}
			seen[i] = 1;
		}
		covered += len[b];
	}
	if (covered != g->n) {
		nn_fail(cause, "ring: buckets cover %zu of %zu floats",
		    covered, g->n);
		goto out;
	}
	g->bucket_lo = xreallocarray(g->bucket_lo, (size_t)nb,
	    sizeof *g->bucket_lo);
	g->bucket_len = xreallocarray(g->bucket_len, (size_t)nb,
	    sizeof *g->bucket_len);
	memcpy(g->bucket_lo, lo, (size_t)nb * sizeof *lo);
	memcpy(g->bucket_len, len, (size_t)nb * sizeof *len);
	g->nbucket = nb;
	ring_layout(g);
	rc = 0;
out:
	free(seen);
	return rc;
}

static void
out_close(struct nn_ring *g)
{
	if (g->out.fd >= 0)
		close(g->out.fd);
	g->out.fd = -1;
	g->out.state = OUT_NONE;
	g->out.active = 0;
	g->retry_at = ring_now() + RING_RETRY_MS;
}

static void
in_close(struct nn_ring *g)
{
	if (g->in.fd >= 0)
		close(g->in.fd);
	g->in.fd = -1;
	g->in.state = IN_NONE;
}

void
nn_ring_free(struct nn_ring *g)
{
	if (g == NULL)
		return;
	out_close(g);
	in_close(g);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	crypto_cleanse(g->secret, sizeof g->secret);
	free(g->out.sealed);
	free(g->msg);
	free(g->bucket_lo);
	free(g->bucket_len);
	free(g->cur.buf);
	free(g->cur.ready);
	free(g->prev.buf);
	free(g->prev.ready);
	free(g->tmp);
	free(g);
}

void
nn_ring_set_encrypt(struct nn_ring *g, int on)
{
	g->encrypt = on != 0;
}

void
nn_ring_set_idle(struct nn_ring *g, int idle_ms)
{
	g->idle_ms = idle_ms;
}

void
nn_ring_bytes(const struct nn_ring *g, uint64_t *sent, uint64_t *received)
{
	*sent = g->bytes_out;
	*received = g->bytes_in;
}

static void	ring_error(struct nn_ring *, const char *, ...)
		    NN_PRINTF(2, 3);

/* The last thing that went wrong, named when the ring gives up. */
static void
ring_error(struct nn_ring *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->last_error, sizeof g->last_error, fmt, ap);
	va_end(ap);
}

/* HMAC-SHA256(secret, label || a || b || extra). */
static void
ring_mac(const struct nn_ring *g, const char *label, const unsigned char *a,
    const unsigned char *b, const unsigned char *extra, size_t extra_len,
    unsigned char out[RING_MAC])
{
	unsigned char msg[16 + 2 * RING_NONCE + 16];
	size_t l = strlen(label);

	memcpy(msg, label, l);
	memcpy(msg + l, a, RING_NONCE);
	memcpy(msg + l + RING_NONCE, b, RING_NONCE);
	if (extra_len > 0)
		memcpy(msg + l + 2 * RING_NONCE, extra, extra_len);
	crypto_hmac(g->secret, NN_RING_SECRET, msg,
	    l + 2 * RING_NONCE + extra_len, out);
}

/*
 * OpenSSL's AVX-512 Poly1305 leaves the upper vector registers dirty, and
 * then every SSE instruction after it pays a transition penalty: the
 * optimizer's update ran 4x slower after a tag (1.7 ms to 6.9 ms a step
 * on the 784-1024-1024-10 net). vzeroupper clears that state.
 */
static void
ring_vzeroupper(void)
{
#if defined(__x86_64__)
	static int avx = -1;

	if (avx < 0)
		avx = __builtin_cpu_supports("avx");
	if (avx)
		__asm__ volatile("vzeroupper" ::: "memory");
#endif
}

/* The message tag (crypto.h): header and payload under the link key. */
static void
ring_tag(const unsigned char key[CRYPTO_KEY_SIZE], uint64_t msgno,
    const unsigned char *hdr, const void *payload, size_t bytes,
    unsigned char tag[RING_TAG])
{
	crypto_tag(key, msgno, hdr, RING_HDR, payload, bytes, tag);
	ring_vzeroupper();
}

static int
set_nonblock(int fd)
{
	int one = 1, fl = fcntl(fd, F_GETFL);

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
ring_addr(const char *ip, int port, struct addrinfo **res)
{
	struct addrinfo hints;
	char serv[16];

	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(serv, sizeof serv, "%d", port);
	return getaddrinfo(ip, serv, &hints, res);
}

int
nn_ring_listen(struct nn_ring *g, const char *ip, char **cause)
{
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = -1, port = -1, one = 1;

	if (ring_addr(ip, 0, &ai) != 0) {
		nn_fail(cause, "ring: \"%s\" is not an IP address", ip);
		goto out;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, 8) != 0 || set_nonblock(fd) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		nn_fail(cause, "ring: listen on %s: %s", ip, strerror(errno));
		goto out;
	}
	port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	if (g->listen_fd >= 0)
		close(g->listen_fd);
	g->listen_fd = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return port;
}

int
nn_ring_set_next(struct nn_ring *g, const char *ip, int port, char **cause)
{
	if (strlen(ip) >= sizeof g->next_ip || port < 1 || port > 65535)
		return nn_fail(cause, "ring: bad successor address %s:%d", ip,
		    port);
	/* A new address means the successor moved: the old link is dead. */
	if (strcmp(ip, g->next_ip) != 0 || port != g->next_port)
		out_close(g);
	snprintf(g->next_ip, sizeof g->next_ip, "%s", ip);
	g->next_port = port;
	g->retry_at = 0;
	return 0;
}

/*
 * Elements lo.. of the vector, which lives in two pieces (v then extra):
 * copied out to buf (mode 0), stored from buf (1) or added from buf as
 * buf + element (2).
 */
static void
ring_copy(struct nn_ring *g, size_t lo, size_t len, float *buf, int mode)
{
	float *p;
	size_t i, k, run;

	while (len > 0) {
		if (lo < g->nv) {
			p = g->v + lo;
			run = g->nv - lo;
		} else {
			p = g->extra + (lo - g->nv);
			run = g->nextra - (lo - g->nv);
		}
		k = len < run ? len : run;
		if (mode == 0)
			memcpy(buf, p, k * sizeof *p);
		else if (mode == 1)
			memcpy(p, buf, k * sizeof *p);
		else
			for (i = 0; i < k; i++)
				p[i] = buf[i] + p[i];
		lo += k;
		buf += k;
		len -= k;
	}
}

/* Message m of the current step is ready: it goes in the log. */
static void
log_produce(struct nn_ring *g, int m)
{
	if (g->cur.ready[m])
		return;
	ring_copy(g, g->msg[m].send_lo, g->msg[m].send_len,
	    g->cur.buf + g->msg[m].off, 0);
	g->cur.ready[m] = 1;
	g->cur.nready++;
}

/* The bucket of message m is final here, so it may land in the vector. */
static int
ring_bucket_ready(const struct nn_ring *g, int m)
{
	return g->msg[m].bucket < g->nbready;
}

void
nn_ring_start(struct nn_ring *g, uint64_t step, float *v)
{
	nn_ring_start2(g, step, v, g->n, NULL);
}

void
nn_ring_start2(struct nn_ring *g, uint64_t step, float *v, size_t nv,
    float *extra)
{
	nn_ring_begin(g, step, v, nv, extra);
	nn_ring_ready(g, 0);
}

void
nn_ring_begin(struct nn_ring *g, uint64_t step, float *v, size_t nv,
    float *extra)
{
	struct ring_log keep;

	/* The finished step becomes the one a late successor may need. */
	if (g->cur.valid && g->cur.nready == g->nmsg &&
	    g->recv_msg == g->nmsg) {
		keep = g->prev;
		g->prev = g->cur;
		g->cur = keep;
	}
	g->cur.step = step;
	g->cur.valid = 1;
	g->cur.nready = 0;
	memset(g->cur.ready, 0, (size_t)g->nmsg);
	g->v = v;
	g->nv = nv;
	g->extra = extra;
	g->nextra = g->n - nv;
	g->recv_msg = 0;
	g->nbready = 0;
	g->started = 1;
	g->last_io = ring_now();
}

/* Buckets become final in their order: each that lies in from.. lets its
 * first round go. */
void
nn_ring_ready(struct nn_ring *g, size_t from)
{
	int b, m;

	if (!g->started)
		return;
	while (g->nbready < g->nbucket &&
	    g->bucket_lo[g->nbready] >= from) {
		b = g->nbready++;
		for (m = 0; m < g->nmsg; m++)
			if (g->msg[m].bucket == b && g->msg[m].round == 0)
				log_produce(g, m);
	}
}

/* The data for the sender's cursor, moving it to the next step when one
 * is all sent. NULL: nothing to send yet (or -1 in *bad). */
static const float *
out_data(struct nn_ring *g, size_t *len, int *bad)
{
	struct ring_log *l;

	*bad = 0;
	for (;;) {
		if (!g->cur.valid && !(g->prev.valid &&
		    g->out.step == g->prev.step))
			return NULL;
		if (g->prev.valid && g->out.step == g->prev.step)
			l = &g->prev;
		else if (g->cur.valid && g->out.step == g->cur.step)
			l = &g->cur;
		else if (g->cur.valid && g->out.step == g->cur.step + 1)
			return NULL;
		else {
			*bad = 1;
			return NULL;
		}
		if (g->out.msg < g->nmsg)
			break;
		if (g->out.step + 1 > g->written)
			g->written = g->out.step + 1;
		g->out.step++;
		g->out.msg = 0;
	}
	if (!l->ready[g->out.msg])
		return NULL;
	*len = g->msg[g->out.msg].send_len;
	return l->buf + g->msg[g->out.msg].off;
}

static void
out_connect(struct nn_ring *g)
{
	struct addrinfo *ai = NULL;
	int fd;

	if (g->next_port == 0 || ring_now() < g->retry_at)
		return;
	if (ring_addr(g->next_ip, g->next_port, &ai) != 0) {
		ring_error(g, "ring: bad successor address %s", g->next_ip);
		g->retry_at = ring_now() + RING_RETRY_MS;
		return;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    set_nonblock(fd) != 0) {
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		g->retry_at = ring_now() + RING_RETRY_MS;
		return;
	}
	g->out.fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 &&
	    errno != EINPROGRESS) {
		ring_error(g, "ring: connect to the successor: %s",
		    strerror(errno));
		out_close(g);
	} else
		g->out.state = OUT_CONNECTING;
	freeaddrinfo(ai);
}

/* The socket connected: say who we are. */
static void
out_hello(struct nn_ring *g)
{
	unsigned char h[RING_HELLO];
	int err = 0;
	socklen_t el = sizeof err;

	if (getsockopt(g->out.fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 ||
	    err != 0) {
		ring_error(g, "ring: connect to the successor: %s",
		    strerror(err != 0 ? err : errno));
		out_close(g);
		return;
	}
	memset(h, 0, sizeof h);
	memcpy(h, RING_MAGIC, 8);
	nn_le_put_u32(h + 8, (uint32_t)g->rank);
	nn_le_put_u32(h + 12, (uint32_t)g->size);
	crypto_random(g->out.ns, RING_NONCE);
	memcpy(h + 24, g->out.ns, RING_NONCE);
	/* A fresh socket takes 40 bytes whole. */
	if (send(g->out.fd, h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h) {
		out_close(g);
		return;
	}
	g->out.state = OUT_REPLY;
	g->out.got = 0;
}

/* The successor's answer: its proof and the step and round it needs. */
static void
out_reply(struct nn_ring *g)
{
	unsigned char *b = g->out.buf, mac[RING_MAC], *nr = b + 24;
	ssize_t r;

	r = recv(g->out.fd, b + g->out.got, RING_REPLY - g->out.got, 0);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ring_error(g, "ring: the successor closed the handshake");
		out_close(g);
		return;
	}
	g->out.got += (size_t)r;
	if (g->out.got < RING_REPLY)
		return;
	ring_mac(g, "nnring-R", g->out.ns, nr, b + 8, 16, mac);
	if (memcmp(b, RING_MAGIC, 8) != 0 ||
	    !crypto_equal(mac, b + 24 + RING_NONCE, RING_MAC)) {
		ring_error(g, "ring: the successor failed authentication "
		    "(not this job's partition?)");
		out_close(g);
		return;
	}
	ring_mac(g, "nnring-S", g->out.ns, nr, NULL, 0, mac);
	if (send(g->out.fd, mac, RING_MAC, MSG_NOSIGNAL) != RING_MAC) {
		out_close(g);
		return;
	}
	ring_mac(g, g->encrypt ? "nnring-E" : "nnring-K", g->out.ns, nr, NULL,
	    0, g->out.key);
	g->out.step = nn_le_get_u64(b + 8);
	if (nn_le_get_u32(b + 16) >= (uint32_t)g->nmsg) {
		ring_error(g, "ring: the successor asked for a message past "
		    "the last");
		out_close(g);
		return;
	}
	g->out.msg = (int)nn_le_get_u32(b + 16);
	g->out.msgno = 0;
	g->out.active = 0;
	g->out.state = OUT_READY;
}

/* Writes what is ready for the successor. -1: it wants what is gone. */
static int
out_write(struct nn_ring *g)
{
	struct iovec iov[3];
	struct msghdr mh;
	const float *data;
	size_t len, left, skip;
	ssize_t w;
	int bad, i, niov;

	for (;;) {
		if (!g->out.active) {
			if ((data = out_data(g, &len, &bad)) == NULL) {
				if (bad)
					ring_error(g, "ring: the successor "
					    "wants step %llu, which this "
					    "partition no longer has",
					    (unsigned long long)g->out.step);
				return bad ? -1 : 0;
			}
			g->out.data = data;
			g->out.bytes = len * sizeof (float);
			nn_le_put_u64(g->out.hdr, g->out.step);
			nn_le_put_u32(g->out.hdr + 8, (uint32_t)g->out.msg);
			nn_le_put_u32(g->out.hdr + 12, (uint32_t)g->out.bytes);
			if (g->encrypt) {
				crypto_xor(g->out.key, g->out.msgno, 0,
				    xgrow((void **)&g->out.sealed,
				    &g->out.sealed_cap, g->out.bytes), data,
				    g->out.bytes);
				g->out.data = (const float *)g->out.sealed;
			}
			ring_tag(g->out.key, g->out.msgno, g->out.hdr,
			    g->out.data, g->out.bytes, g->out.tag);
			g->out.done = 0;
			g->out.active = 1;
		}
		iov[0].iov_base = g->out.hdr;
		iov[0].iov_len = RING_HDR;
		iov[1].iov_base = (void *)g->out.data;
		iov[1].iov_len = g->out.bytes;
		iov[2].iov_base = g->out.tag;
		iov[2].iov_len = RING_TAG;
		skip = g->out.done;
		for (i = 0, niov = 0; i < 3; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			iov[niov].iov_base = (char *)iov[i].iov_base + skip;
			iov[niov].iov_len = iov[i].iov_len - skip;
			skip = 0;
			niov++;
		}
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		w = sendmsg(g->out.fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			/* The successor went away (it moves): reconnect. */
			ring_error(g, "ring: send to the successor: %s",
			    strerror(errno));
			out_close(g);
			return 0;
		}
		g->out.done += (size_t)w;
		g->bytes_out += (uint64_t)w;
		g->last_io = ring_now();
		left = RING_HDR + g->out.bytes + RING_TAG - g->out.done;
		if (left > 0)
			continue;
		g->out.active = 0;
		g->out.msgno++;
		g->out.msg++;
	}
}

/* The successor never writes after the handshake: EOF means it left. */
static void
out_check(struct nn_ring *g)
{
	char c;
	ssize_t r = recv(g->out.fd, &c, 1, MSG_DONTWAIT);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR) || r > 0)
		out_close(g);
}

/* What this rank needs next: (step, message). */
static void
in_want(const struct nn_ring *g, uint64_t *step, int *msg)
{
	if (g->recv_msg >= g->nmsg) {
		*step = g->cur.step + 1;
		*msg = 0;
	} else {
		*step = g->cur.step;
		*msg = g->recv_msg;
	}
}

static void
in_accept(struct nn_ring *g)
{
	int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (set_nonblock(fd) != 0) {
		close(fd);
		return;
	}
	g->in.fd = fd;
	g->in.state = IN_HELLO;
	g->in.got = 0;
	g->in.since = ring_now();
}

/* Reads into in.buf up to want bytes; 1 when complete, -1 closed. */
static int
in_fill(struct nn_ring *g, size_t want)
{
	ssize_t r = recv(g->in.fd, g->in.buf + g->in.got, want - g->in.got,
	    0);

	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		in_close(g);
		return -1;
	}
	if (r > 0)
		g->in.got += (size_t)r;
	return g->in.got == want;
}

static void
in_handshake(struct nn_ring *g)
{
	unsigned char reply[RING_REPLY], mac[RING_MAC], want[16];
	uint64_t step;
	int round;

	if (g->in.state == IN_HELLO) {
		if (in_fill(g, RING_HELLO) != 1)
			return;
		if (memcmp(g->in.buf, RING_MAGIC, 8) != 0 ||
		    nn_le_get_u32(g->in.buf + 8) !=
		    (uint32_t)ring_mod(g->rank - 1, g->size) ||
		    nn_le_get_u32(g->in.buf + 12) != (uint32_t)g->size) {
			ring_error(g, "ring: a connection that is not from "
			    "the predecessor");
			in_close(g);
			return;
		}
		memcpy(g->in.ns, g->in.buf + 24, RING_NONCE);
		crypto_random(g->in.nr, RING_NONCE);
		in_want(g, &step, &round);
		memset(reply, 0, sizeof reply);
		memcpy(reply, RING_MAGIC, 8);
		nn_le_put_u64(reply + 8, step);
		nn_le_put_u32(reply + 16, (uint32_t)round);
		memcpy(reply + 24, g->in.nr, RING_NONCE);
		memcpy(want, reply + 8, 16);
		ring_mac(g, "nnring-R", g->in.ns, g->in.nr, want, 16,
		    reply + 24 + RING_NONCE);
		if (send(g->in.fd, reply, sizeof reply, MSG_NOSIGNAL) !=
		    (ssize_t)sizeof reply) {
			in_close(g);
			return;
		}
		g->in.state = IN_PROOF;
		g->in.got = 0;
		return;
	}
	if (in_fill(g, RING_MAC) != 1)
		return;
	ring_mac(g, "nnring-S", g->in.ns, g->in.nr, NULL, 0, mac);
	if (!crypto_equal(mac, g->in.buf, RING_MAC)) {
		ring_error(g, "ring: the predecessor failed authentication");
		in_close(g);
		return;
	}
	ring_mac(g, g->encrypt ? "nnring-E" : "nnring-K", g->in.ns, g->in.nr,
	    NULL, 0, g->in.key);
	g->in.msgno = 0;
	g->in.hgot = g->in.pgot = g->in.tgot = 0;
	g->in.state = IN_READY;
}

/* A whole message arrived and its tag is good: use it. */
static void
in_apply(struct nn_ring *g)
{
	const struct ring_msg *x = &g->msg[g->recv_msg];

	ring_copy(g, x->recv_lo, x->recv_len, g->tmp, x->add ? 2 : 1);
	g->recv_msg++;
	if (x->next >= 0)
		log_produce(g, x->next);
}

/* Reads messages while this step needs them and their buckets are final
 * here, passing on each next hop as it is made. -1: fatal. */
static int
in_read(struct nn_ring *g)
{
	unsigned char tag[RING_TAG];
	uint64_t step;
	ssize_t r;
	size_t want;
	int msg;

	while (g->in.state == IN_READY && g->recv_msg < g->nmsg &&
	    ring_bucket_ready(g, g->recv_msg)) {
		if (g->in.hgot < RING_HDR) {
			r = recv(g->in.fd, g->in.hdr + g->in.hgot,
			    RING_HDR - g->in.hgot, 0);
		} else if (g->in.pgot < g->in.bytes) {
			r = recv(g->in.fd, (char *)g->tmp + g->in.pgot,
			    g->in.bytes - g->in.pgot, 0);
		} else {
			r = recv(g->in.fd, g->in.tag + g->in.tgot,
			    RING_TAG - g->in.tgot, 0);
		}
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			/* The predecessor left (it moves); it comes back. */
			in_close(g);
			return 0;
		}
		if (r < 0)
			return 0;
		g->bytes_in += (uint64_t)r;
		g->last_io = ring_now();
		if (g->in.hgot < RING_HDR) {
			g->in.hgot += (size_t)r;
			if (g->in.hgot < RING_HDR)
				continue;
			in_want(g, &step, &msg);
			want = g->msg[g->recv_msg].recv_len * sizeof (float);
			if (nn_le_get_u64(g->in.hdr) != step ||
			    nn_le_get_u32(g->in.hdr + 8) != (uint32_t)msg ||
			    nn_le_get_u32(g->in.hdr + 12) != want) {
				ring_error(g, "ring: the predecessor sent "
				    "step %llu message %u (%u bytes), "
				    "expected step %llu message %d (%zu)",
				    (unsigned long long)nn_le_get_u64(
				    g->in.hdr), nn_le_get_u32(g->in.hdr + 8),
				    nn_le_get_u32(g->in.hdr + 12),
				    (unsigned long long)step, msg, want);
				in_close(g);
				return 0;
			}
			g->in.bytes = want;
			g->in.pgot = g->in.tgot = 0;
		} else if (g->in.pgot < g->in.bytes)
			g->in.pgot += (size_t)r;
		else
			g->in.tgot += (size_t)r;
		if (g->in.hgot < RING_HDR || g->in.pgot < g->in.bytes ||
		    g->in.tgot < RING_TAG)
			continue;
		ring_tag(g->in.key, g->in.msgno, g->in.hdr, g->tmp,
		    g->in.bytes, tag);
		if (!crypto_equal(tag, g->in.tag, RING_TAG)) {
			ring_error(g, "ring: a message from the predecessor "
			    "failed its tag%s", g->encrypt ? " (or its "
			    "encryption setting differs)" : "");
			in_close(g);
			return 0;
		}
		/* Our own slice buffer, and the tag has passed: in place. */
		if (g->encrypt) {
			crypto_xor(g->in.key, g->in.msgno, 0, g->tmp, g->tmp,
			    g->in.bytes);
			ring_vzeroupper();
		}
		g->in.msgno++;
		g->in.hgot = 0;
		in_apply(g);
		if (g->out.state == OUT_READY && out_write(g) != 0)
			return -1;
	}
	return 0;
}

/* One round of I/O: waits up to ms for something to do. -1: fatal. */
static int
ring_poll(struct nn_ring *g, int ms, int serve)
{
	struct pollfd p[3];
	int np = 0, li = -1, ii = -1, oi = -1;

	if (g->out.state == OUT_NONE)
		out_connect(g);
	if (g->out.state == OUT_READY && out_write(g) != 0)
		return -1;
	/* What arrives makes the next round; in_read sends it on. */
	if (g->in.state == IN_READY && in_read(g) != 0)
		return -1;
	/* A finished step does not wait, unless it stays to serve. */
	if (g->recv_msg >= g->nmsg && !serve)
		ms = 0;
	/* A connection that does not prove itself in time is dropped, so
	 * a silent stranger cannot keep the predecessor out. */
	if ((g->in.state == IN_HELLO || g->in.state == IN_PROOF) &&
	    ring_now() - g->in.since > RING_HANDSHAKE_MS) {
		ring_error(g, "ring: a connection that did not complete the "
		    "handshake");
		in_close(g);
	}
	if (g->started && g->in.state == IN_NONE && g->listen_fd >= 0) {
		p[np].fd = g->listen_fd;
		p[np].events = POLLIN;
		li = np++;
	}
	/* A finished step reads nothing more until the next starts, nor
	 * into a bucket the backward pass has not finished here. */
	if (g->in.state != IN_NONE && (g->in.state != IN_READY ||
	    (g->recv_msg < g->nmsg && ring_bucket_ready(g, g->recv_msg)))) {
		p[np].fd = g->in.fd;
		p[np].events = POLLIN;
		ii = np++;
	}
	if (g->out.state != OUT_NONE) {
		p[np].fd = g->out.fd;
		p[np].events = POLLIN;
		if (g->out.state == OUT_CONNECTING ||
		    (g->out.state == OUT_READY && g->out.active))
			p[np].events |= POLLOUT;
		oi = np++;
	}
	if (g->out.state == OUT_NONE && g->next_port != 0) {
		double wait = g->retry_at - ring_now();

		if (wait < ms)
			ms = wait > 0 ? (int)wait + 1 : 0;
	}
	if (poll(p, (nfds_t)np, ms) <= 0)
		return 0;
	if (li >= 0 && (p[li].revents & POLLIN))
		in_accept(g);
	if (ii >= 0 && p[ii].revents != 0 && g->in.fd == p[ii].fd) {
		if (g->in.state == IN_HELLO || g->in.state == IN_PROOF)
			in_handshake(g);
		else if (g->in.state == IN_READY && in_read(g) != 0)
			return -1;
		if (g->out.state == OUT_READY && out_write(g) != 0)
			return -1;
	}
	if (oi >= 0 && p[oi].revents != 0 && g->out.fd == p[oi].fd) {
		if (g->out.state == OUT_CONNECTING)
			out_hello(g);
		else if (g->out.state == OUT_REPLY)
			out_reply(g);
		else if (p[oi].revents & (POLLIN | POLLHUP | POLLERR))
			out_check(g);
		if (g->out.state == OUT_READY && out_write(g) != 0)
			return -1;
	}
	return 0;
}

static int
ring_idle(struct nn_ring *g, char **cause)
{
	if (ring_now() - g->last_io < g->idle_ms)
		return 0;
	return nn_fail(cause, "ring: partition %d: no progress for %d s%s%s",
	    g->rank, g->idle_ms / 1000, g->last_error[0] != '\0' ? "; last: " :
	    "", g->last_error);
}

int
nn_ring_progress(struct nn_ring *g, int timeout_ms, char **cause)
{
	double end = ring_now() + timeout_ms;
	int left;

	if (g->nmsg == 0)
		return 1;
	for (;;) {
		if (g->recv_msg >= g->nmsg) {
			/* Hand on what is ready without waiting for it. */
			(void)ring_poll(g, 0, 0);
			return 1;
		}
		if (ring_idle(g, cause) != 0)
			return -1;
		left = (int)(end - ring_now());
		if (left <= 0)
			left = 0;
		if (ring_poll(g, left, 0) != 0)
			return nn_fail(cause, "%s", g->last_error);
		if (g->recv_msg >= g->nmsg)
			continue;
		if (left == 0)
			return 0;
	}
}

int
nn_ring_flush(struct nn_ring *g, int timeout_ms, char **cause)
{
	double end = ring_now() + timeout_ms;
	int left;

	if (g->nmsg == 0)
		return 1;
	for (;;) {
		/* Everything of this step written, even if the successor
		 * has since finished and gone. */
		if (g->written > g->cur.step)
			return 1;
		if (ring_idle(g, cause) != 0)
			return -1;
		left = (int)(end - ring_now());
		if (left <= 0)
			return 0;
		if (ring_poll(g, left, 1) != 0)
			return nn_fail(cause, "%s", g->last_error);
	}
}

int
nn_ring_serve(struct nn_ring *g, int timeout_ms, char **cause)
{
	if (g->nmsg == 0)
		return 0;
	if (ring_poll(g, timeout_ms, 1) != 0)
		return nn_fail(cause, "%s", g->last_error);
	return 0;
}

/* The log a save carries: the last finished step's, or none. */
static const struct ring_log *
ring_saved_log(const struct nn_ring *g)
{
	if (g->cur.valid && g->recv_msg >= g->nmsg &&
	    g->cur.nready == g->nmsg)
		return &g->cur;
	return g->prev.valid ? &g->prev : NULL;
}

size_t
nn_ring_save_size(const struct nn_ring *g)
{
	return 24 + (ring_saved_log(g) != NULL ? g->logfloats * 4 : 0);
}

/*
 * Saved: u32 magic, u32 messages a step, u64 step, u64 floats, then the
 * floats of the last finished step's log (floats 0 when there is none).
 */
void
nn_ring_save(const struct nn_ring *g, unsigned char **buf, size_t *len)
{
	*len = nn_ring_save_size(g);
	*buf = xmalloc(*len);
	nn_ring_save_to(g, *buf);
}

void
nn_ring_save_to(const struct nn_ring *g, unsigned char *p)
{
	const struct ring_log *l = ring_saved_log(g);
	size_t floats = l != NULL ? g->logfloats : 0;

	nn_le_put_u32(p, RING_LOG_MAGIC);
	nn_le_put_u32(p + 4, (uint32_t)g->nmsg);
	nn_le_put_u64(p + 8, l != NULL ? l->step : 0);
	nn_le_put_u64(p + 16, floats);
	if (floats > 0)
		memcpy(p + 24, l->buf, floats * 4);
}

int
nn_ring_restore(struct nn_ring *g, const unsigned char *buf, size_t len,
    char **cause)
{
	uint64_t floats;

	if (len < 24 || nn_le_get_u32(buf) != RING_LOG_MAGIC ||
	    nn_le_get_u32(buf + 4) != (uint32_t)g->nmsg)
		return nn_fail(cause, "ring state: not a log of this ring "
		    "(%d partitions, %d messages a step)", g->size, g->nmsg);
	floats = nn_le_get_u64(buf + 16);
	if ((floats != 0 && floats != g->logfloats) ||
	    len != 24 + floats * 4)
		return nn_fail(cause, "ring state: %zu bytes, expected %zu",
		    len, (size_t)(24 + g->logfloats * 4));
	if (floats > 0) {
		memcpy(g->prev.buf, buf + 24, (size_t)floats * 4);
		g->prev.step = nn_le_get_u64(buf + 8);
		g->prev.valid = 1;
		memset(g->prev.ready, 1, (size_t)g->nmsg);
		g->prev.nready = g->nmsg;
	}
	return 0;
}

void
nn_ring_secret_hex(const unsigned char secret[NN_RING_SECRET],
    char hex[NN_RING_SECRET_HEX])
{
	crypto_hex(secret, NN_RING_SECRET, hex);
}

int
nn_ring_secret_parse(const char *hex, unsigned char secret[NN_RING_SECRET])
{
	if (hex == NULL)
		return -1;
	return crypto_unhex(hex, secret, NN_RING_SECRET);
}

void
nn_ring_control_mac(const unsigned char secret[NN_RING_SECRET],
    long long version, const char *what, char *hex)
{
	unsigned char mac[CRYPTO_HMAC_SIZE];
	char *msg = xasprintf("nnsim ring control %lld %s", version, what);

	crypto_hmac(secret, NN_RING_SECRET, msg, strlen(msg), mac);
	crypto_hex(mac, sizeof mac, hex);
	free(msg);
}
