/*
 * tcp_mac_bench: loopback TCP throughput for one large buffer, plain and
 * with a Poly1305 tag computed on both ends as agentd's frames do it
 * (ChaCha20-Poly1305 over the bytes as associated data, in 2 MiB pieces
 * before they are sent and as they arrive). The second figure is what any
 * authenticated transfer can reach on this machine; agentd_bench.py
 * reports a migration against both.
 *
 * Usage: tcp_mac_bench [--mib N] [--rounds R]
 * Prints "plain=BYTES_PER_SEC" and "mac=BYTES_PER_SEC", each the median of
 * R rounds of N MiB from one warm buffer into another. Exit 1 when the
 * transfer fails or the two tags differ, 2 on bad usage.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define PIECE		((size_t)2 << 20)
#define MAX_ROUNDS	15

struct side {
	int		 fd;
	unsigned char	*buf;
	size_t		 len;
	int		 mac;
	unsigned char	 tag[16];
	int		 failed;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static EVP_CIPHER_CTX *
tag_new(void)
{
	static const unsigned char key[32] = { 1 }, nonce[12] = { 0 };
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx == NULL || !EVP_EncryptInit_ex2(ctx,
	    EVP_chacha20_poly1305(), key, nonce, NULL)) {
		fprintf(stderr, "tcp_mac_bench: ChaCha20-Poly1305 init "
		    "failed\n");
		exit(1);
	}
	return ctx;
}

static int
tag_add(EVP_CIPHER_CTX *ctx, const unsigned char *p, size_t n)
{
	int outl;

	return EVP_EncryptUpdate(ctx, NULL, &outl, p, (int)n) ? 0 : -1;
}

static int
tag_end(EVP_CIPHER_CTX *ctx, unsigned char *tag)
{
	unsigned char none[16];
	int outl;

	return EVP_EncryptFinal_ex(ctx, none, &outl) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) ? 0 : -1;
}

static void *
send_main(void *arg)
{
	struct side *s = arg;
	EVP_CIPHER_CTX *ctx = s->mac ? tag_new() : NULL;
	size_t off, n, sent;
	ssize_t w;

	for (off = 0; off < s->len; off += n) {
		n = s->len - off < PIECE ? s->len - off : PIECE;
		if (ctx != NULL && tag_add(ctx, s->buf + off, n) != 0)
			goto fail;
		for (sent = 0; sent < n; sent += (size_t)w)
			if ((w = send(s->fd, s->buf + off + sent, n - sent,
			    0)) <= 0)
				goto fail;
	}
	if (ctx != NULL && tag_end(ctx, s->tag) != 0)
		goto fail;
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
fail:
	s->failed = 1;
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
}

static int
recv_all(struct side *s)
{
	EVP_CIPHER_CTX *ctx = s->mac ? tag_new() : NULL;
	size_t got = 0, want;
	ssize_t r;

	while (got < s->len) {
		want = s->len - got < PIECE ? s->len - got : PIECE;
		if ((r = recv(s->fd, s->buf + got, want, 0)) <= 0)
			goto fail;
		if (ctx != NULL && tag_add(ctx, s->buf + got, (size_t)r) != 0)
			goto fail;
		got += (size_t)r;
	}
	if (ctx != NULL && tag_end(ctx, s->tag) != 0)
		goto fail;
	EVP_CIPHER_CTX_free(ctx);
	return 0;
fail:
	EVP_CIPHER_CTX_free(ctx);
	return -1;
}

/* One round: bytes per second, or -1. */
static double
one_round(unsigned char *src, unsigned char *dst, size_t len, int mac)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	struct side tx = { .buf = src, .len = len, .mac = mac };
	struct side rx = { .buf = dst, .len = len, .mac = mac };
	pthread_t t;
	int lfd, rc = -1;
	double t0, dt = 0;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tx.fd = rx.fd = -1;
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0 ||
	    (tx.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(tx.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    (rx.fd = accept(lfd, NULL, NULL)) < 0) {
		fprintf(stderr, "tcp_mac_bench: loopback socket: %s\n",
		    strerror(errno));
		goto out;
	}
	t0 = now_s();
	if (pthread_create(&t, NULL, send_main, &tx) != 0) {
		fprintf(stderr, "tcp_mac_bench: cannot start a thread\n");
		goto out;
	}
	if (recv_all(&rx) != 0)
		rx.failed = 1;
	dt = now_s() - t0;
	pthread_join(t, NULL);
	if (tx.failed || rx.failed) {
		fprintf(stderr, "tcp_mac_bench: the transfer failed\n");
		goto out;
	}
	if (mac && CRYPTO_memcmp(tx.tag, rx.tag, sizeof tx.tag) != 0) {
		fprintf(stderr, "tcp_mac_bench: the tags differ\n");
		goto out;
	}
	if (memcmp(src, dst, len) != 0) {
		fprintf(stderr, "tcp_mac_bench: the bytes differ\n");
		goto out;
	}
	rc = 0;
out:
	if (lfd >= 0)
		close(lfd);
	if (tx.fd >= 0)
		close(tx.fd);
	if (rx.fd >= 0)
		close(rx.fd);
	return rc == 0 && dt > 0 ? (double)len / dt : -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int
usage(FILE *f)
{
	fprintf(f, "usage: tcp_mac_bench [--mib N] [--rounds R]\n"
	    "  Loopback TCP throughput of N MiB (default 256, 1 to 4096) "
	    "between two\n  warm buffers, plain and with a Poly1305 tag on "
	    "both ends; the median of R\n  rounds each (default 5, 1 to %d). "
	    "Prints plain=B/s and mac=B/s.\n", MAX_ROUNDS);
	return f == stdout ? 0 : 2;
}

/* A whole number in [lo, hi] from option opt, or -1 with a message. */
static long
number(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = s != NULL ? strtol(s, &end, 10) : 0;
	if (s == NULL || errno != 0 || end == s || *end != '\0' || v < lo ||
	    v > hi) {
		fprintf(stderr, "tcp_mac_bench: %s: expected a whole number "
		    "from %ld to %ld, got \"%s\"\n", opt, lo, hi,
		    s != NULL ? s : "");
		return -1;
	}
	return v;
}

int
main(int argc, char **argv)
{
	double plain[MAX_ROUNDS], mac[MAX_ROUNDS];
	unsigned char *src = NULL, *dst = NULL;
	long mib = 256, rounds = 5;
	size_t len, i;
	int k, rc = 1;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "-h") == 0 ||
		    strcmp(argv[k], "--help") == 0)
			return usage(stdout);
		if (strcmp(argv[k], "--mib") == 0) {
			if ((mib = number("--mib", argv[++k], 1, 4096)) < 0)
				return 2;
		} else if (strcmp(argv[k], "--rounds") == 0) {
			if ((rounds = number("--rounds", argv[++k], 1,
			    MAX_ROUNDS)) < 0)
				return 2;
		} else {
			fprintf(stderr, "tcp_mac_bench: unknown argument "
			    "\"%s\"\n", argv[k]);
			return usage(stderr);
		}
	}
	len = (size_t)mib << 20;
	if ((src = malloc(len)) == NULL || (dst = malloc(len)) == NULL) {
		fprintf(stderr, "tcp_mac_bench: cannot allocate 2 x %ld MiB\n",
		    mib);
		goto out;
	}
	/* Warm, as agentd's pool buffers are after the first moves. */
	for (i = 0; i < len; i++)
		src[i] = (unsigned char)(i * 2654435761u >> 13);
	memset(dst, 0, len);
	/* Alternated, so that a drift of the machine hits both alike. */
	for (k = 0; k < rounds; k++) {
		if ((plain[k] = one_round(src, dst, len, 0)) < 0)
			goto out;
		memset(dst, 0, len);
		if ((mac[k] = one_round(src, dst, len, 1)) < 0)
			goto out;
		memset(dst, 0, len);
	}
	qsort(plain, (size_t)rounds, sizeof *plain, cmp_double);
	qsort(mac, (size_t)rounds, sizeof *mac, cmp_double);
	printf("plain=%.0f\nmac=%.0f\n", plain[rounds / 2], mac[rounds / 2]);
	rc = 0;
out:
	free(src);
	free(dst);
	return rc;
}
