/*
 * What one peer may take of the daemon (docs/protocol.md, "Limits"):
 * connections in all, from one address and not yet authenticated; how
 * long an authenticated client may sit silent or leave its replies
 * unread; and a listener that backs off when accept() fails.
 */
#include <sys/resource.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/hosts.h"
#include "agentd/log.h"
#include "base/alloc.h"
#include "base/clock.h"

#define LIMITS_ACCEPT_FIRST_MS	10
#define LIMITS_ACCEPT_MAX_MS	1000

static struct log_rate limits_refused_rate, limits_dropped_rate;
static struct log_rate limits_accept_rate, limits_idle_rate;
static struct log_rate limits_stall_rate;

/* The address bytes of sa, without the port: what "one source" means. */
static size_t
limits_source(const struct sockaddr_storage *ss, const unsigned char **p)
{
	const struct sockaddr_in *in = (const void *)ss;
	const struct sockaddr_in6 *in6 = (const void *)ss;

	if (ss->ss_family == AF_INET) {
		*p = (const unsigned char *)&in->sin_addr;
		return sizeof in->sin_addr;
	}
	if (ss->ss_family == AF_INET6) {
		*p = (const unsigned char *)&in6->sin6_addr;
		return sizeof in6->sin6_addr;
	}
	*p = NULL;
	return 0;
}

static int
limits_same_source(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const unsigned char *pa, *pb;
	size_t na = limits_source(a, &pa), nb = limits_source(b, &pb);

	return na == nb && (na == 0 || memcmp(pa, pb, na) == 0);
}

/* Orders unauthenticated links by source, then oldest first. */
static int
limits_cmp(const void *x, const void *y)
{
	const struct link *a = *(struct link *const *)x;
	const struct link *b = *(struct link *const *)y;
	const unsigned char *pa, *pb;
	size_t na = limits_source(&a->from, &pa), nb = limits_source(&b->from,
	    &pb);
	int r;

	if (na != nb)
		return na < nb ? -1 : 1;
	if (na > 0 && (r = memcmp(pa, pb, na)) != 0)
		return r;
	return a->since < b->since ? -1 : a->since > b->since;
}

/*
 * The unauthenticated link to drop for a newcomer: the oldest of the
 * address that holds the most of them, so that one flooding source
 * cannot push out another's client in the middle of its handshake. NULL
 * when there is none.
 */
static struct link *
limits_victim(struct daemon *d, int unauth)
{
	struct link **v, *l, *best = NULL;
	int n = 0, i, run, best_run = 0;

	if (unauth == 0)
		return NULL;
	v = xreallocarray(NULL, (size_t)unauth, sizeof *v);
	for (l = d->links; l != NULL && n < unauth; l = l->next)
		if (l->inbound && !conn_is_ready(l->conn))
			v[n++] = l;
	qsort(v, (size_t)n, sizeof *v, limits_cmp);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && limits_same_source(&v[i]->from,
		    &v[i + run]->from); run++)
			;
		if (run > best_run) {
			best_run = run;
			best = v[i];
		}
	}
	free(v);
	return best;
}

int
limits_admit(struct daemon *d, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage from;
	struct link *l, *victim;
	int total = 0, unauth = 0, source = 0;
	char addr[80], gone[80];

	d->accept_delay_ms = 0;
	memset(&from, 0, sizeof from);
	memcpy(&from, sa, len < sizeof from ? len : sizeof from);
	for (l = d->links; l != NULL; l = l->next) {
		if (!l->inbound)
			continue;
		total++;
		if (!conn_is_ready(l->conn))
			unauth++;
		if (limits_same_source(&l->from, &from))
			source++;
	}
	hosts_format_addr(sa, addr, sizeof addr);
	if (source >= d->cfg.max_per_source) {
		log_rated(&limits_refused_rate, LOG_WARN, "refused a "
		    "connection from %s: %d from that address "
		    "(--max-per-source %d)", addr, source,
		    d->cfg.max_per_source);
		return -1;
	}
	if (total < d->cfg.max_conns && unauth < d->cfg.max_unauth)
		return 0;
	/* Full: room is made at the expense of a stranger, never of a
	 * connection that authenticated. */
	if ((victim = limits_victim(d, unauth)) == NULL) {
		log_rated(&limits_refused_rate, LOG_WARN, "refused a "
		    "connection from %s: %d connections, all authenticated "
		    "(--max-conns %d)", addr, total, d->cfg.max_conns);
		return -1;
	}
	hosts_format_addr((struct sockaddr *)&victim->from, gone, sizeof gone);
	log_rated(&limits_dropped_rate, LOG_WARN, "dropped the "
	    "unauthenticated connection from %s for one from %s: %d "
	    "connections, %d unauthenticated (--max-conns %d, --max-unauth "
	    "%d)", gone, addr, total, unauth, d->cfg.max_conns,
	    d->cfg.max_unauth);
	conn_close(victim->conn, "dropped to make room for another");
	return 0;
}

void
limits_accepted(struct daemon *d, struct link *l, const struct sockaddr *sa,
    socklen_t len)
{
	(void)d;
	memcpy(&l->from, sa, len < sizeof l->from ? len : sizeof l->from);
	l->inbound = 1;
	l->since = clock_ms();
}

void
limits_link_ready(struct daemon *d, struct link *l)
{
	/* Daemons ping and are watched by --down-after; workers are not
	 * links. Only clients wait on their own replies. */
	if (conn_peer_role(l->conn) == CONN_CLIENT)
		conn_set_queue_max(l->conn, LIMITS_CLIENT_QUEUE);
	(void)d;
}

/* Milliseconds from then to now; 0 when then is later (set during this
 * tick, after now was read). */
static uint64_t
limits_since(uint64_t then, uint64_t now)
{
	return now > then ? now - then : 0;
}

/* Why a client breaks a limit at now, or NULL. */
static const char *
limits_broken(struct daemon *d, struct link *l, uint64_t now, char *why,
    size_t len)
{
	struct conn *c = l->conn;
	uint64_t last = conn_last_read_ms(c), wrote = conn_last_write_ms(c);

	if (!conn_is_ready(c) || conn_peer_role(c) != CONN_CLIENT)
		return NULL;
	if (conn_queued(c) > 0) {
		if (d->cfg.stall_ms > 0 && limits_since(wrote, now) >
		    (uint64_t)d->cfg.stall_ms) {
			snprintf(why, len, "%llu bytes of replies unread for "
			    "%.1f s (--stall-timeout)", (unsigned long long)
			    conn_queued(c), (now - wrote) / 1000.0);
			return why;
		}
		return NULL;
	}
	/* One that waits for events may be silent as long as it likes. */
	if (l->subscribed || d->cfg.idle_ms == 0)
		return NULL;
	if (wrote > last)
		last = wrote;
	if (limits_since(last, now) > (uint64_t)d->cfg.idle_ms) {
		snprintf(why, len, "idle for %.1f s (--idle-timeout)",
		    (now - last) / 1000.0);
		return why;
	}
	return NULL;
}

void
limits_tick(struct daemon *d, uint64_t now)
{
	struct link *l;
	char why[160];

again:
	for (l = d->links; l != NULL; l = l->next) {
		if (limits_broken(d, l, now, why, sizeof why) == NULL)
			continue;
		log_rated(conn_queued(l->conn) > 0 ? &limits_stall_rate :
		    &limits_idle_rate, LOG_INFO, "%s: %s; closing",
		    conn_label(l->conn), why);
		/* Closing frees l, and what it ends may close others. */
		conn_close(l->conn, why);
		goto again;
	}
	log_rate_flush();
}

/* The listener again, after a pause. */
static void
limits_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(d->listener);
}

/*
 * accept() failed (out of descriptors, most often): the pending
 * connection would fail again at once, so the listener rests for a delay
 * that doubles up to a second while failures go on.
 */
static void
limits_accept_error_cb(struct evconnlistener *lst, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv;
	int err = EVUTIL_SOCKET_ERROR();

	d->accept_delay_ms = d->accept_delay_ms == 0 ?
	    LIMITS_ACCEPT_FIRST_MS : d->accept_delay_ms * 2;
	if (d->accept_delay_ms > LIMITS_ACCEPT_MAX_MS)
		d->accept_delay_ms = LIMITS_ACCEPT_MAX_MS;
	log_rated(&limits_accept_rate, LOG_WARN, "cannot accept a connection "
	    "on %s: %s; not accepting for %d ms", d->cfg.listen_text,
	    strerror(err), d->accept_delay_ms);
	evconnlistener_disable(lst);
	tv.tv_sec = d->accept_delay_ms / 1000;
	tv.tv_usec = (d->accept_delay_ms % 1000) * 1000;
	evtimer_add(d->accept_retry, &tv);
}

void
limits_init(struct daemon *d)
{
	struct rlimit rl;
	int fit = DAEMON_MAX_CONNS;

	/* Half the descriptors at most, so that workers, their state
	 * files and the other daemons' links still get theirs. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && rl.rlim_cur / 2 < (rlim_t)fit)
		fit = (int)(rl.rlim_cur / 2);
	if (fit < 1)
		fit = 1;
	if (d->cfg.max_conns <= 0)
		d->cfg.max_conns = fit;
	if (d->cfg.max_unauth <= 0)
		d->cfg.max_unauth = d->cfg.max_conns / 2 < DAEMON_MAX_UNAUTH ?
		    d->cfg.max_conns / 2 : DAEMON_MAX_UNAUTH;
	if (d->cfg.max_unauth < 1)
		d->cfg.max_unauth = 1;
	if (d->cfg.max_per_source <= 0)
		d->cfg.max_per_source = DAEMON_MAX_PER_SOURCE;
	d->accept_retry = evtimer_new(d->base, limits_accept_retry_cb, d);
	evconnlistener_set_error_cb(d->listener, limits_accept_error_cb);
}

void
limits_free(struct daemon *d)
{
	if (d->accept_retry != NULL)
		event_free(d->accept_retry);
}
