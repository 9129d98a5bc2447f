/*
 * The ring all-reduce over real loopback sockets, one thread per rank:
 * exact sums in the documented order, partitions that move in the middle
 * of a step (their own and adjacent ones at once), a wrong secret, rings
 * in clear and ranks that disagree on encryption, and the saved log's
 * checks.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/ring.h"
#include "unit.h"

#define MAXN	6

struct world {
	int		 n_ranks;
	size_t		 n;
	int		 steps;
	int		 move_step[2];	/* a rank moves mid-step here */
	int		 move_rank[2][2];	/* up to two ranks at once */
	pthread_mutex_t	 mu;
	int		 port[MAXN];
	int		 version[MAXN];
	unsigned char	 secret[MAXN][NN_RING_SECRET];
	int		 bad[MAXN];	/* rank saw a wrong sum */
	int		 moves;
	size_t		 split;		/* the last split floats apart */
	int		 nbucket;	/* 0: the ring's default, one */
	size_t		 bucket_lo[4], bucket_len[4];
	int		 overlap;	/* v is filled after begin, data
					   moving in between */
	int		 plain;		/* nn_ring_set_encrypt(g, 0) */
	char		 error[MAXN][200];
};

struct rank_arg {
	struct world	*w;
	int		 rank;
};

/* Rank r's value i in step s: small integers make sums exact to check. */
static float
value(int r, int s, size_t i)
{
	return (float)((r * 7 + s * 13 + (int)(i % 101)) % 29) * 0.25f +
	    0.1f * (float)r;
}

/* The documented order: chunk c of i's bucket is summed from rank c
 * around the ring. */
static float
expected(const struct world *w, int s, size_t i)
{
	size_t lo = 0, len = w->n;
	int b, c = 0, k;
	float sum;

	for (b = 0; b < w->nbucket; b++)
		if (i >= w->bucket_lo[b] && i < w->bucket_lo[b] +
		    w->bucket_len[b]) {
			lo = w->bucket_lo[b];
			len = w->bucket_len[b];
		}
	while (lo + (size_t)(c + 1) * len / (size_t)w->n_ranks <= i)
		c++;
	sum = value(c, s, i);
	for (k = 1; k < w->n_ranks; k++)
		sum = sum + value((c + k) % w->n_ranks, s, i);
	return sum;
}

static void
publish(struct world *w, int rank, int port)
{
	pthread_mutex_lock(&w->mu);
	w->port[rank] = port;
	w->version[rank]++;
	pthread_mutex_unlock(&w->mu);
}

/* Follows the successor's address, as the agent does from messages. */
static void
follow(struct world *w, struct nn_ring *g, int rank, int *seen)
{
	int next = (rank + 1) % w->n_ranks, port = 0, v;
	char *cause = NULL;

	pthread_mutex_lock(&w->mu);
	v = w->version[next];
	if (v != *seen)
		port = w->port[next];
	pthread_mutex_unlock(&w->mu);
	if (port > 0) {
		*seen = v;
		if (nn_ring_set_next(g, "127.0.0.1", port, &cause) != 0)
			free(cause);
	}
}

static int
moves_now(const struct world *w, int rank, int s)
{
	int k;

	for (k = 0; k < 2; k++)
		if (w->move_step[k] == s && (w->move_rank[k][0] == rank ||
		    w->move_rank[k][1] == rank))
			return 1;
	return 0;
}

static struct nn_ring *
ring_for(struct world *w, int rank)
{
	struct nn_ring *g = nn_ring_new(rank, w->n_ranks, w->n,
	    w->secret[rank]);
	char *cause = NULL;

	nn_ring_set_idle(g, 10000);
	nn_ring_set_encrypt(g, !w->plain);
	if (w->nbucket > 0 && nn_ring_set_buckets(g, w->bucket_lo,
	    w->bucket_len, w->nbucket, &cause) != 0) {
		snprintf(w->error[rank], sizeof w->error[0], "%s", cause);
		free(cause);
	}
	return g;
}

/* As a backward pass: v is made from the end in four pieces, each
 * declared final as it is done, with data moved in between. */
static void
start_overlapped(struct world *w, struct nn_ring *g, int rank, int s,
    float *v)
{
	struct timespec ts = { 0, 300 * 1000 };
	size_t from = w->n, to, i;
	char *cause = NULL;
	int k;

	nn_ring_begin(g, (uint64_t)s, v, w->n, NULL);
	for (k = 3; k >= 0; k--) {
		to = from;
		from = (size_t)k * w->n / 4;
		for (i = from; i < to; i++)
			v[i] = value(rank, s, i);
		nanosleep(&ts, NULL);
		nn_ring_ready(g, from);
		if (nn_ring_progress(g, 0, &cause) < 0) {
			snprintf(w->error[rank], sizeof w->error[0], "%s",
			    cause);
			free(cause);
			cause = NULL;
		}
	}
}

/* Starts step s; with split, the tail of v lives apart. */
static void
start(struct world *w, struct nn_ring *g, int rank, int s, float *v,
    float *apart)
{
	size_t i;

	if (w->overlap) {
		start_overlapped(w, g, rank, s, v);
		return;
	}
	for (i = 0; i < w->n; i++)
		v[i] = value(rank, s, i);
	if (w->split > 0) {
		memcpy(apart, v + w->n - w->split, w->split * sizeof *v);
		nn_ring_start2(g, (uint64_t)s, v, w->n - w->split, apart);
	} else
		nn_ring_start(g, (uint64_t)s, v);
}

static void *
rank_main(void *p)
{
	struct rank_arg *ra = p;
	struct world *w = ra->w;
	struct nn_ring *g;
	unsigned char *saved;
	size_t i, len;
	char *cause = NULL;
	float *v = malloc(w->n * sizeof *v), *extra = v + w->n - w->split;
	float *apart = malloc((w->split + 1) * sizeof *apart);
	int s, r, seen = 0, port;

	g = ring_for(w, ra->rank);
	port = nn_ring_listen(g, "127.0.0.1", &cause);
	publish(w, ra->rank, port);
	for (s = 0; s < w->steps; s++) {
		start(w, g, ra->rank, s, v, apart);
		/* Moves in the middle of the step (the others have started
		 * it): the new copy redoes the step from its saved state. */
		if (moves_now(w, ra->rank, s)) {
			(void)nn_ring_progress(g, 0, &cause);
			pthread_mutex_lock(&w->mu);
			w->moves++;
			pthread_mutex_unlock(&w->mu);
			nn_ring_save(g, &saved, &len);
			nn_ring_free(g);
			g = ring_for(w, ra->rank);
			r = nn_ring_restore(g, saved, len, &cause);
			free(saved);
			if (r != 0)
				break;
			seen = 0;
			follow(w, g, ra->rank, &seen);
			publish(w, ra->rank, nn_ring_listen(g, "127.0.0.1",
			    &cause));
			start(w, g, ra->rank, s, v, apart);
		}
		while ((r = nn_ring_progress(g, 5, &cause)) == 0)
			follow(w, g, ra->rank, &seen);
		if (r != 1) {
			snprintf(w->error[ra->rank], sizeof w->error[0],
			    "rank %d step %d: %s", ra->rank, s,
			    cause != NULL ? cause : "?");
			break;
		}
		if (w->split > 0)
			memcpy(extra, apart, w->split * sizeof *v);
		for (i = 0; i < w->n; i++)
			if (v[i] != expected(w, s, i)) {
				w->bad[ra->rank]++;
				break;
			}
	}
	if (w->error[ra->rank][0] == '\0')
		while ((r = nn_ring_flush(g, 50, &cause)) == 0)
			follow(w, g, ra->rank, &seen);
	free(cause);
	nn_ring_free(g);
	free(v);
	free(apart);
	return NULL;
}

static int
run_world(struct world *w, char *why, size_t whylen)
{
	pthread_t t[MAXN];
	struct rank_arg a[MAXN];
	int r, fails = 0;

	pthread_mutex_init(&w->mu, NULL);
	for (r = 0; r < w->n_ranks; r++) {
		a[r].w = w;
		a[r].rank = r;
		pthread_create(&t[r], NULL, rank_main, &a[r]);
	}
	for (r = 0; r < w->n_ranks; r++)
		pthread_join(t[r], NULL);
	why[0] = '\0';
	for (r = 0; r < w->n_ranks; r++) {
		if (w->error[r][0] != '\0' || w->bad[r] != 0) {
			if (why[0] == '\0')
				snprintf(why, whylen, "%s (bad sums %d)",
				    w->error[r], w->bad[r]);
			fails++;
		}
	}
	pthread_mutex_destroy(&w->mu);
	return fails;
}

static struct world *
world_new(int ranks, size_t n, int steps)
{
	struct world *w = calloc(1, sizeof *w);
	int r;

	w->n_ranks = ranks;
	w->n = n;
	w->steps = steps;
	w->move_step[0] = w->move_step[1] = -1;
	for (r = 0; r < ranks; r++)
		memset(w->secret[r], 0x5a, NN_RING_SECRET);
	return w;
}

static void
test_sums(void)
{
	static const int sizes[] = { 1, 2, 3, 4 };
	struct world *w = NULL;
	char why[300];
	size_t k;

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		/* n not a multiple of the ranks: chunks differ by one. */
		w = world_new(sizes[k], 100003, 20);
		CHECKF(run_world(w, why, sizeof why) == 0, "%d ranks: %s",
		    sizes[k], why);
		free(w);
		w = NULL;
	}
	/* A vector in two pieces, a chunk across the seam (nnsim's
	 * gradient and the step's figures). */
	w = world_new(3, 1000, 10);
	w->split = 340;
	CHECKF(run_world(w, why, sizeof why) == 0, "two pieces: %s", why);
	free(w);
	/* A job with encryption off: the same sums, in clear. */
	w = world_new(3, 100003, 10);
	w->plain = 1;
	CHECKF(run_world(w, why, sizeof why) == 0, "in clear: %s", why);
end:
	free(w);
}

/* One rank enciphers, the other does not: every tag fails (their link
 * keys differ), so nothing, ciphertext least of all, is summed. */
static void
test_encrypt_mismatch(void)
{
	unsigned char key[NN_RING_SECRET];
	struct nn_ring *a = NULL, *b = NULL;
	float va[64], vb[64];
	char *cause = NULL, *ca = NULL, *cb = NULL;
	int pa, pb, ra = 0, rb = 0, i;

	memset(key, 1, sizeof key);
	a = nn_ring_new(0, 2, 64, key);
	b = nn_ring_new(1, 2, 64, key);
	nn_ring_set_encrypt(b, 0);
	nn_ring_set_idle(a, 600);
	nn_ring_set_idle(b, 600);
	pa = nn_ring_listen(a, "127.0.0.1", &cause);
	pb = nn_ring_listen(b, "127.0.0.1", &cause);
	CHECK(pa > 0 && pb > 0);
	CHECK(nn_ring_set_next(a, "127.0.0.1", pb, &cause) == 0);
	CHECK(nn_ring_set_next(b, "127.0.0.1", pa, &cause) == 0);
	for (i = 0; i < 64; i++)
		va[i] = vb[i] = 1;
	nn_ring_start(a, 0, va);
	nn_ring_start(b, 0, vb);
	for (i = 0; i < 150 && ra == 0 && rb == 0; i++) {
		ra = nn_ring_progress(a, 5, &ca);
		rb = nn_ring_progress(b, 5, &cb);
	}
	/* Links come back and fail again, so neither side idles out. */
	CHECKF(ra == 0 && rb == 0, "progress %d %d", ra, rb);
	for (i = 0; i < 64; i++)
		CHECK(va[i] == 1 && vb[i] == 1);
end:
	free(cause);
	free(ca);
	free(cb);
	nn_ring_free(a);
	nn_ring_free(b);
}

/* Buckets in the order a backward pass finishes them (the end of the
 * vector first), each several slices long, the vector still being filled
 * while the first buckets move: every sum exact, also across moves. */
static void
test_buckets_overlapped(void)
{
	static const int sizes[] = { 2, 3 };
	struct world *w = NULL;
	char why[300];
	size_t k;

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		w = world_new(sizes[k], 700001, 12);
		w->nbucket = 3;
		w->bucket_lo[0] = 500000;
		w->bucket_len[0] = 200001;
		w->bucket_lo[1] = 175000;
		w->bucket_len[1] = 325000;
		w->bucket_lo[2] = 0;
		w->bucket_len[2] = 175000;
		w->overlap = 1;
		w->move_step[0] = 5;
		w->move_rank[0][0] = w->move_rank[0][1] = 1;
		CHECKF(run_world(w, why, sizeof why) == 0, "%d ranks: %s",
		    sizes[k], why);
		CHECKF(w->moves == 1, "%d moves", w->moves);
		free(w);
		w = NULL;
	}
end:
	free(w);
}

/* Buckets that do not cover the vector once are refused. */
static void
test_bad_buckets(void)
{
	unsigned char key[NN_RING_SECRET] = { 0 };
	struct nn_ring *g = nn_ring_new(0, 2, 100, key);
	size_t lo[2] = { 0, 50 }, len[2] = { 60, 50 };
	char *cause = NULL;

	CHECK(nn_ring_set_buckets(g, lo, len, 2, &cause) == -1);
	CHECKF(strstr(cause, "overlap") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	len[0] = 40;
	CHECK(nn_ring_set_buckets(g, lo, len, 2, &cause) == -1);
	CHECKF(strstr(cause, "cover 90 of 100") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	lo[1] = 60;
	CHECK(nn_ring_set_buckets(g, lo, len, 2, &cause) == -1);
	CHECKF(strstr(cause, "runs past") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	lo[1] = 40;
	len[1] = 60;
	CHECK(nn_ring_set_buckets(g, lo, len, 2, &cause) == 0);
end:
	free(cause);
	nn_ring_free(g);
}

static void
test_moves_mid_step(void)
{
	struct world *w = world_new(4, 50021, 30);
	char why[300];

	/* One rank, then two adjacent ranks at once. */
	w->move_step[0] = 7;
	w->move_rank[0][0] = w->move_rank[0][1] = 1;
	w->move_step[1] = 19;
	w->move_rank[1][0] = 2;
	w->move_rank[1][1] = 3;
	CHECKF(run_world(w, why, sizeof why) == 0, "%s", why);
	CHECKF(w->moves == 3, "%d moves", w->moves);
end:
	free(w);
}

static void
test_moves_two_ranks(void)
{
	struct world *w = world_new(2, 400009, 25);
	char why[300];

	w->move_step[0] = 3;
	w->move_rank[0][0] = w->move_rank[0][1] = 0;
	w->move_step[1] = 11;
	w->move_rank[1][0] = 0;
	w->move_rank[1][1] = 1;
	CHECKF(run_world(w, why, sizeof why) == 0, "%s", why);
	CHECKF(w->moves == 3, "%d moves", w->moves);
end:
	free(w);
}

/* A rank with another job's secret gets nothing and gives nothing. */
static void
test_wrong_secret(void)
{
	unsigned char good[NN_RING_SECRET], bad[NN_RING_SECRET];
	struct nn_ring *a = NULL, *b = NULL;
	float va[64], vb[64];
	char *cause = NULL, *ca = NULL, *cb = NULL;
	int pa, pb, ra = 0, rb = 0, i;

	memset(good, 1, sizeof good);
	memset(bad, 2, sizeof bad);
	a = nn_ring_new(0, 2, 64, good);
	b = nn_ring_new(1, 2, 64, bad);
	nn_ring_set_idle(a, 600);
	nn_ring_set_idle(b, 600);
	pa = nn_ring_listen(a, "127.0.0.1", &cause);
	pb = nn_ring_listen(b, "127.0.0.1", &cause);
	CHECK(pa > 0 && pb > 0);
	CHECK(nn_ring_set_next(a, "127.0.0.1", pb, &cause) == 0);
	CHECK(nn_ring_set_next(b, "127.0.0.1", pa, &cause) == 0);
	for (i = 0; i < 64; i++)
		va[i] = vb[i] = 1;
	nn_ring_start(a, 0, va);
	nn_ring_start(b, 0, vb);
	for (i = 0; i < 400 && (ra == 0 || rb == 0); i++) {
		if (ra == 0)
			ra = nn_ring_progress(a, 5, &ca);
		if (rb == 0)
			rb = nn_ring_progress(b, 5, &cb);
	}
	CHECKF(ra == -1 && rb == -1, "progress %d %d", ra, rb);
	CHECKF(strstr(ca, "authentication") != NULL, "%s", ca);
	CHECKF(strstr(cb, "authentication") != NULL, "%s", cb);
	for (i = 0; i < 64; i++)
		CHECK(va[i] == 1 && vb[i] == 1);
end:
	free(cause);
	free(ca);
	free(cb);
	nn_ring_free(a);
	nn_ring_free(b);
}

/* A stranger that connects and says nothing cannot keep the real
 * predecessor out: its half-done handshake is dropped in time. */
static void
test_silent_stranger(void)
{
	unsigned char key[NN_RING_SECRET];
	struct nn_ring *a = NULL, *b = NULL;
	struct sockaddr_in sin;
	float va[64], vb[64];
	char *cause = NULL;
	int pa, pb, ra = 0, rb = 0, i, s = -1;

	memset(key, 7, sizeof key);
	a = nn_ring_new(0, 2, 64, key);
	b = nn_ring_new(1, 2, 64, key);
	pa = nn_ring_listen(a, "127.0.0.1", &cause);
	pb = nn_ring_listen(b, "127.0.0.1", &cause);
	CHECK(pa > 0 && pb > 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)pb);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s >= 0 && connect(s, (struct sockaddr *)&sin, sizeof sin) == 0);
	for (i = 0; i < 64; i++)
		va[i] = vb[i] = 1;
	nn_ring_start(b, 0, vb);
	/* b takes the stranger first. */
	CHECK(nn_ring_progress(b, 100, &cause) == 0);
	CHECK(nn_ring_set_next(a, "127.0.0.1", pb, &cause) == 0);
	CHECK(nn_ring_set_next(b, "127.0.0.1", pa, &cause) == 0);
	nn_ring_start(a, 0, va);
	for (i = 0; i < 1000 && (ra == 0 || rb == 0); i++) {
		if (ra == 0)
			ra = nn_ring_progress(a, 5, &cause);
		if (rb == 0)
			rb = nn_ring_progress(b, 5, &cause);
	}
	CHECKF(ra == 1 && rb == 1, "progress %d %d: %s", ra, rb,
	    cause != NULL ? cause : "");
	for (i = 0; i < 64; i++)
		CHECK(va[i] == 2 && vb[i] == 2);
end:
	if (s >= 0)
		close(s);
	free(cause);
	nn_ring_free(a);
	nn_ring_free(b);
}

static void
test_restore_checks(void)
{
	unsigned char key[NN_RING_SECRET] = { 0 }, *buf = NULL;
	struct nn_ring *a = nn_ring_new(0, 3, 100, key);
	struct nn_ring *b = nn_ring_new(0, 4, 100, key);
	char *cause = NULL;
	size_t len;

	nn_ring_save(a, &buf, &len);
	CHECK(nn_ring_restore(a, buf, len, &cause) == 0);
	CHECK(nn_ring_restore(b, buf, len, &cause) == -1);
	CHECKF(strstr(cause, "4 partitions") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(nn_ring_restore(a, buf, len - 1, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(nn_ring_set_next(a, "127.0.0.1", 0, &cause) == -1);
	free(cause);
	cause = NULL;
	CHECK(nn_ring_listen(a, "not-an-ip", &cause) == -1);
	CHECKF(strstr(cause, "not an IP") != NULL, "%s", cause);
end:
	free(buf);
	free(cause);
	nn_ring_free(a);
	nn_ring_free(b);
}

static const struct unit_test tests[] = {
	{ "sums", test_sums },
	{ "moves_mid_step", test_moves_mid_step },
	{ "moves_two_ranks", test_moves_two_ranks },
	{ "buckets_overlapped", test_buckets_overlapped },
	{ "bad_buckets", test_bad_buckets },
	{ "wrong_secret", test_wrong_secret },
	{ "encrypt_mismatch", test_encrypt_mismatch },
	{ "silent_stranger", test_silent_stranger },
	{ "restore_checks", test_restore_checks },
	{ NULL, NULL },
};

UNIT_MAIN("ring", tests)
