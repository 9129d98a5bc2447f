/*
 * Local agents and their worker processes. Over 1,000 lines on purpose:
 * the agent record (struct ragent) and its states are private to this
 * file, and a worker's start, its frames, a move's state streamed from its
 * memory and its end all change them; split, they would need a shared
 * header that exposes the record to the daemon.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "agentd/bigbuf.h"
#include "agentd/codestore.h"
#include "agentd/conn.h"
#include "agentd/frame.h"
#include "agentd/lifecycle.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "agentd/sandbox.h"
#include "agentd/state.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/table.h"

struct message {
	char		 from[64];
	uint64_t	 seq;		/* per sender, from 0 */
	unsigned char	*data;
	uint64_t	 len;
	struct message	*next;
};

struct ragent {
	struct runner	*r;
	char		 id[64];
	char		 type[64];
	char		 code[65];
	char		 job[64];	/* the job it belongs to, or "" */
	char		 recovery[160];	/* why it was started again, until
					 * its first step here: "" */
	uint64_t	 recovery_step;	/* its step count when started */
	pid_t		 pid;
	struct conn	*conn;
	enum lc_state	 state;		/* as its orders leave it (lifecycle.h) */
	json_t		*orders;	/* queued: [{op, host}], in order */
	json_t		*bounced;	/* sent, returned unread by the packed
					 * worker: they go before orders */
	int		 packed_suspended; /* it packed while suspended */
	int		 killed;	/* its kill went to the worker */
	struct event	*kill_timer;	/* then SIGKILL, if it is stuck */
	char		 held_from[64];	/* LC_HELD: the move's source */
	uint64_t	 step;
	double		 progress;
	json_t		*load;		/* the load frame, sent when ready */
	unsigned char	*state_buf;	/* its payload */
	uint64_t	 state_len;
	int		 code_sock;	/* where its code's memfd goes, then its
					 * data's (runner_send_fds), or -1 */
	int		 code_sent;
	char		 cgroup[64];	/* its cgroup (--cgroup), or "" */
	char		 start_error[160]; /* why it was stopped at start */
	struct sandbox_limits limits;
	json_t		*limits_asked;	/* the spawn's, carried when it moves */
	int		 state_fd;	/* state_buf's memfd, mapped by the
					 * worker, or -1 */
	struct message	*queue, **queue_tail;	/* not yet delivered */
	json_t		*expect;	/* sender -> next seq to deliver */
	json_t		*out;		/* receiver -> next seq to send */
	int		 hold;		/* arrived: wait for go */
	int		 start_suspended; /* it arrives suspended */
	json_t		*move;		/* the moving frame, kept for later */
	struct state_read *reading;	/* its state, from its memory */
	struct state_read *commit_read;	/* its commit, read, while the
					 * daemon takes it */
	uintptr_t	 kept_at;	/* where the worker maps the state
					 * buffer it kept, or 0 */
	/* A worker prepared for a state still arriving (runner_prepare):
	 * not an agent until runner_start takes it. */
	void		*spare_buf;	/* that state's buffer (not ours) */
	uint64_t	 spare_len;
	int		 prepared;	/* it was told to map the state */
	int		 early;		/* a prepared worker, taken */
	unsigned char	*move_state;
	uint64_t	 move_len;
	int		 reported;	/* finished or failed was sent */
	int		 exited;	/* reaped; wstatus says how */
	int		 wstatus;
	uint64_t	 result_len;	/* bytes of result kept by the daemon */
	struct ragent	*next;
};

struct runner {
	struct event_base	*base;
	char			 exe[4096];	/* agentd itself, for workers */
	int			 exe_fd;	/* and opened, for another user */
	struct sandbox		*sb;
	int			 said_landlock;
	char			 host[64];
	runner_event_fn		*event;
	runner_request_fn	*request;
	void			*arg;
	struct ragent		*agents;
};

/* A worker's exit status when it could not enter its cgroup. */
#define RUNNER_EXIT_CGROUP	125

static const struct conn_ops runner_conn_ops;
struct state_read;
static void	state_read_detach(struct state_read *);

struct runner *
runner_new(struct event_base *base, const char *host,
    struct sandbox *sb, runner_event_fn *event,
    runner_request_fn *request, void *arg)
{
	struct runner *r = xcalloc(1, sizeof *r);
	ssize_t n;

	r->base = base;
	snprintf(r->host, sizeof r->host, "%s", host);
	/* Resolved once: a tool like valgrind answers readlink with the
	 * real binary, where an exec of /proc/self/exe would run itself. */
	n = readlink("/proc/self/exe", r->exe, sizeof r->exe - 1);
	if (n <= 0)
		snprintf(r->exe, sizeof r->exe, "/proc/self/exe");
	else
		r->exe[n] = '\0';
	/* A worker user may not search the folders above it. */
	r->exe_fd = open(r->exe, O_PATH | O_CLOEXEC);
	r->sb = sb;
	r->event = event;
	r->request = request;
	r->arg = arg;
	return r;
}

static struct ragent *
ragent_find(struct runner *r, const char *id)
{
	struct ragent *a;

	/* An ended or departed copy may linger until its worker is reaped;
	 * it is no longer the agent, and an arriving copy must not clash. */
	for (a = r->agents; a != NULL; a = a->next)
		if (!a->reported && strcmp(a->id, id) == 0)
			return a;
	return NULL;
}

static struct ragent *
ragent_find_pid(struct runner *r, pid_t pid)
{
	struct ragent *a;

	for (a = r->agents; a != NULL; a = a->next)
		if (a->pid == pid)
			return a;
	return NULL;
}

static void
queue_clear(struct ragent *a)
{
	struct message *m;

	while ((m = a->queue) != NULL) {
		a->queue = m->next;
		free(m->data);
		free(m);
	}
	a->queue_tail = &a->queue;
}

static void
ragent_remove(struct runner *r, struct ragent *a)
{
	struct ragent **p;

	for (p = &r->agents; *p != NULL; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	if (a->conn != NULL) {
		conn_set_arg(a->conn, NULL);
		conn_close(a->conn, "agent removed");
		conn_free(a->conn);
	}
	queue_clear(a);
	if (a->code_sock >= 0)
		close(a->code_sock);
	if (a->cgroup[0] != '\0')
		(void)sandbox_cgroup_end(a->r->sb, a->cgroup);
	json_decref(a->limits_asked);
	json_decref(a->load);
	json_decref(a->expect);
	json_decref(a->out);
	json_decref(a->move);
	json_decref(a->orders);
	json_decref(a->bounced);
	if (a->kill_timer != NULL)
		event_free(a->kill_timer);
	state_read_detach(a->reading);
	bigbuf_free(a->move_state);
	bigbuf_free(a->state_buf);
	free(a);
}

static void
runner_emit(struct runner *r, struct ragent *a, const char *event, json_t *o)
{
	if (o == NULL)
		o = json_object();
	json_object_set_new(o, "event", json_string(event));
	json_object_set_new(o, "agent", json_string(a->id));
	json_object_set_new(o, "host", json_string(r->host));
	if (a->type[0] != '\0')
		json_object_set_new(o, "type", json_string(a->type));
	r->event(r->arg, o);
}

/* The agent ended; report once. */
static void
ragent_ended(struct runner *r, struct ragent *a, int ok, const char *reason)
{
	if (a->reported)
		return;
	a->reported = 1;
	if (ok) {
		log_info("agent %s (%s) finished after %llu steps", a->id,
		    a->type, (unsigned long long)a->step);
		runner_emit(r, a, "finished", json_pack("{s:I, s:I}", "step",
		    (json_int_t)a->step, "result", (json_int_t)a->result_len));
	} else {
		log_warn("agent %s (%s) failed: %s", a->id, a->type, reason);
		runner_emit(r, a, "failed", json_pack("{s:s, s:I}", "reason",
		    reason, "step", (json_int_t)a->step));
	}
}

/* How long a killed agent has to reach a step boundary before its worker
 * is killed outright. */
#define RUNNER_KILL_GRACE_MS	2000

static void
ragent_kill_fire(evutil_socket_t fd, short what, void *arg)
{
	struct ragent *a = arg;

	(void)fd;
	(void)what;
	if (a->exited || a->state != LC_DOOMED)
		return;
	log_warn("agent %s: no step boundary %d ms after its kill: its "
	    "worker is killed", a->id, RUNNER_KILL_GRACE_MS);
	kill(a->pid, SIGKILL);
}

/* Starts (on) or stops the SIGKILL that backs a kill order. */
static void
ragent_kill_timer(struct ragent *a, int on)
{
	struct timeval tv = { RUNNER_KILL_GRACE_MS / 1000,
	    (RUNNER_KILL_GRACE_MS % 1000) * 1000 };

	if (a->kill_timer == NULL) {
		if (!on)
			return;
		a->kill_timer = evtimer_new(a->r->base, ragent_kill_fire, a);
		if (a->kill_timer == NULL)
			fatal("out of memory for a timer");
	}
	if (on)
		evtimer_add(a->kill_timer, &tv);
	else
		evtimer_del(a->kill_timer);
}

/* An order as it is queued, carried and sent to a worker. */
static json_t *
order_json(enum lc_order o, const char *host)
{
	return json_pack("{s:s, s:s}", "op", lifecycle_order_name(o), "host",
	    host != NULL ? host : "");
}

/*
 * Applies order o as lifecycle.h's table says for the agent's state: 0
 * with *outcome and *note, or -1 with cause when refused.
 */
static int
ragent_order(struct ragent *a, enum lc_order o, const char *host,
    enum lc_outcome *outcome, const char **note, char **cause)
{
	const struct lc_rule *rule = lifecycle_rule(a->state, o);
	json_t *m;

	*outcome = rule->outcome;
	*note = rule->note;
	switch (rule->outcome) {
	case LC_REFUSED:
		return nn_fail(cause, "agent %s is %s: %s", a->id,
		    lifecycle_state_name(a->state), rule->note);
	case LC_QUEUED:
		if (a->orders == NULL)
			a->orders = json_array();
		json_array_append_new(a->orders, order_json(o, host));
		/* A start that never ends must not keep a killed agent. */
		if (o == LC_KILL && a->state == LC_STARTING) {
			a->killed = 1;
			ragent_kill_timer(a, 1);
		}
		break;
	case LC_NEXT_STEP:
		/* Its worker is gone, and its exit not yet reaped. */
		if (a->conn == NULL)
			return nn_fail(cause, "agent %s is ending: its worker "
			    "exited", a->id);
		m = order_json(o, host);
		conn_send(a->conn, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
		/* It stops after the orders before it; one stuck in a step
		 * is ended all the same. */
		if (o == LC_KILL) {
			a->killed = 1;
			ragent_kill_timer(a, 1);
		}
		break;
	case LC_APPLIED:
		break;
	}
	a->state = rule->next;
	return 0;
}

/* The orders kept for the agent, those its worker returned first (new
 * reference; none are left). */
static json_t *
ragent_take_orders(struct ragent *a)
{
	json_t *all = json_array();

	if (a->bounced != NULL)
		json_array_extend(all, a->bounced);
	if (a->orders != NULL)
		json_array_extend(all, a->orders);
	json_decref(a->bounced);
	json_decref(a->orders);
	a->bounced = a->orders = NULL;
	return all;
}

/* The agent is live again (started, arrived, its move aborted): what was
 * kept for it applies in turn. */
static void
ragent_flush_orders(struct ragent *a)
{
	json_t *all = ragent_take_orders(a), *e;
	enum lc_outcome outcome;
	const char *note;
	char *cause = NULL;
	enum lc_order o;
	size_t i;

	json_array_foreach(all, i, e) {
		if (a->reported)
			break;
		if (lifecycle_order_find(json_string_value(json_object_get(e,
		    "op")), &o) != 0)
			continue;
		if (ragent_order(a, o, json_string_value(json_object_get(e,
		    "host")), &outcome, &note, &cause) != 0) {
			/* The table refuses nothing a live agent was
			 * queued; say so if it ever does. */
			log_warn("a queued order was refused: %s", cause);
			free(cause);
			cause = NULL;
		} else
			log_debug("agent %s: queued %s: %s", a->id,
			    lifecycle_order_name(o),
			    lifecycle_outcome_name(outcome));
	}
	json_decref(all);
}

static void
runner_worker_ready(struct conn *c, void *arg)
{
	struct ragent *a = arg;
	json_t *m;

	if (a == NULL)
		return;
	if (a->spare_buf != NULL) {
		/* It maps the state while the rest of it arrives. */
		m = json_pack("{s:s, s:i, s:I}", "op", "prepare", "state_fd", 4,
		    "state_len", (json_int_t)a->spare_len);
		conn_send(c, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
		a->prepared = 1;
		return;
	}
	if (a->state_fd >= 0) {
		/* Kept until the worker has unpacked it from the memfd. */
		conn_send(c, FRAME_AGENT, a->load, NULL, 0);
		return;
	}
	conn_send_owned(c, FRAME_AGENT, a->load, a->state_buf, a->state_len);
	a->state_buf = NULL;
	a->state_len = 0;
}

/* The worker no longer needs the state it was loaded with. */
static void
ragent_state_done(struct ragent *a)
{
	if (a->state_fd < 0)
		return;
	/* The worker lives on, and might have mapped it again. */
	if (a->exited)
		bigbuf_free(a->state_buf);
	else
		bigbuf_discard(a->state_buf);
	a->state_buf = NULL;
	a->state_len = 0;
	a->state_fd = -1;
}

static void	ragent_exit(struct runner *, struct ragent *);

static void
runner_worker_closed(struct conn *c, const char *why, void *arg)
{
	struct ragent *a = arg;

	(void)why;
	if (a == NULL)
		return;
	/* The exit status, reaped on SIGCHLD, says what happened. */
	a->conn = NULL;
	conn_free(c);
	if (a->exited)
		ragent_exit(a->r, a);
}

static void
ragent_deliver(struct ragent *a, struct message *m)
{
	json_t *meta = json_pack("{s:s, s:s, s:I}", "op", "message", "from",
	    m->from, "seq", (json_int_t)m->seq);

	conn_send(a->conn, FRAME_AGENT, meta, m->data, m->len);
	json_decref(meta);
}

static uint64_t
next_of(json_t *map, const char *from)
{
	return (uint64_t)json_integer_value(json_object_get(map, from));
}

/*
 * Hands the worker every queued message that is next in its sender's
 * sequence, while the agent may take messages; the rest wait.
 */
static void
queue_flush(struct ragent *a)
{
	struct message **p, *m;
	int progress = 1;

	if (a->conn == NULL || !conn_is_ready(a->conn) || a->hold ||
	    (a->state != LC_RUNNING && a->state != LC_SUSPENDED))
		return;
	while (progress) {
		progress = 0;
		for (p = &a->queue; (m = *p) != NULL; ) {
			if (m->seq != next_of(a->expect, m->from)) {
				p = &m->next;
				continue;
			}
			ragent_deliver(a, m);
			json_object_set_new(a->expect, m->from,
			    json_integer((json_int_t)m->seq + 1));
			*p = m->next;
			free(m->data);
			free(m);
			progress = 1;
		}
		a->queue_tail = &a->queue;
		for (m = a->queue; m != NULL; m = m->next)
			a->queue_tail = &m->next;
	}
}


/* At most this many pieces in a moving worker's state_iov. */
#define RUNNER_IOV_MAX		4096
/* Pieces smaller than this are read as soon as the worker has packed:
 * that read also shows whether its memory can be read at all. */
#define RUNNER_READ_EAGER	((size_t)1 << 20)

/* One piece of a moving worker's packed state. */
struct state_piece {
	uintptr_t	 at;		/* where, in the worker */
	size_t		 len;
	int		 kept;		/* in the buffer it kept (lent to it) */
	int		 read;		/* already in buf */
	uint64_t	 boff;		/* where in buf, unless kept */
};

/*
 * A moving worker's large state, sent while it is read: pieces in the
 * buffer the worker kept are sent from the daemon's own mapping of it,
 * uncopied; the others are read from the worker's memory
 * (process_vm_readv) a slice at a time as the connection asks. The worker
 * waits for the verdict meanwhile, so the bytes hold still. Counted
 * references: the agent, the connection sending it, each piece in flight.
 */
struct state_read {
	int		 refs;
	pid_t		 pid;		/* 0: the worker may not be read */
	char		 id[64];	/* the agent, for logs */
	struct state_piece *pieces;
	size_t		 npieces;
	unsigned char	*kept;		/* held (bigbuf_hold), or NULL */
	uintptr_t	 kept_at;	/* where the worker maps it */
	uint64_t	 kept_len;
	uint64_t	 kept_bytes;	/* of the state, in kept */
	unsigned char	*buf;		/* the other pieces, read */
	uint64_t	 len;
};

/* Where one sending of a state_read is (a move has one, a commit one a
 * holder): the next byte is at pieces[piece], offset piece_off. */
struct state_cursor {
	struct state_read *sr;
	size_t		 piece;
	size_t		 piece_off;
};

static void
state_read_unref(struct state_read *sr)
{
	if (sr == NULL || --sr->refs > 0)
		return;
	bigbuf_free(sr->buf);
	bigbuf_free(sr->kept);
	free(sr->pieces);
	free(sr);
}

/* The agent lets go: its worker may go on or be gone, so no more reads. */
static void
state_read_detach(struct state_read *sr)
{
	if (sr == NULL)
		return;
	sr->pid = 0;
	state_read_unref(sr);
}

/*
 * Checks where a moving worker says its state is (state_iov, state_len):
 * at most RUNNER_IOV_MAX [address, length] pairs adding up to state_len.
 * Pieces inside the buffer the agent kept (a->kept_at) are sent from it.
 * A new read, or NULL with cause.
 */
static struct state_read *
state_read_new(struct ragent *a, json_t *meta, char **cause)
{
	json_t *iov = json_object_get(meta, "state_iov");
	json_t *n = json_object_get(meta, "state_len");
	struct state_read *sr;
	struct state_piece *p;
	uint64_t total = 0, want, other = 0;
	size_t i, count;
	json_t *e;

	count = json_array_size(iov);
	if (!json_is_integer(n) || json_integer_value(n) <= 0 ||
	    (uint64_t)json_integer_value(n) > AGENT_STATE_MAX_SIZE ||
	    count == 0 || count > RUNNER_IOV_MAX) {
		nn_fail(cause, "moving frame: state_len must be 1 to %llu and "
		    "state_iov 1 to %d pieces", (unsigned long long)
		    AGENT_STATE_MAX_SIZE, RUNNER_IOV_MAX);
		return NULL;
	}
	want = (uint64_t)json_integer_value(n);
	sr = xcalloc(1, sizeof *sr);
	sr->refs = 1;
	sr->pid = a->pid;
	snprintf(sr->id, sizeof sr->id, "%s", a->id);
	sr->pieces = xcalloc(count, sizeof *sr->pieces);
	if (a->kept_at != 0 && a->state_buf != NULL &&
	    bigbuf_hold(a->state_buf) == 0) {
		sr->kept = a->state_buf;
		sr->kept_at = a->kept_at;
		sr->kept_len = a->state_len;
	}
	json_array_foreach(iov, i, e) {
		if (!json_is_array(e) || json_array_size(e) != 2 ||
		    !json_is_integer(json_array_get(e, 0)) ||
		    !json_is_integer(json_array_get(e, 1)) ||
		    json_integer_value(json_array_get(e, 1)) < 0 ||
		    (uint64_t)json_integer_value(json_array_get(e, 1)) >
		    want - total) {
			nn_fail(cause, "moving frame: state_iov piece %zu must "
			    "be [address, length] within state_len", i);
			state_read_unref(sr);
			return NULL;
		}
		p = &sr->pieces[i];
		p->at = (uintptr_t)json_integer_value(json_array_get(e, 0));
		p->len = (size_t)json_integer_value(json_array_get(e, 1));
		p->kept = sr->kept != NULL && p->at >= sr->kept_at &&
		    p->at - sr->kept_at <= sr->kept_len &&
		    p->len <= sr->kept_len - (p->at - sr->kept_at);
		if (p->kept)
			sr->kept_bytes += p->len;
		else {
			p->boff = other;
			other += p->len;
		}
		total += p->len;
	}
	if (total != want) {
		nn_fail(cause, "moving frame: state_iov holds %llu bytes, "
		    "state_len says %llu", (unsigned long long)total,
		    (unsigned long long)want);
		state_read_unref(sr);
		return NULL;
	}
	sr->npieces = count;
	sr->len = want;
	if (other > 0)
		sr->buf = bigbuf_alloc((size_t)other);
	return sr;
}

/* Reads len bytes at off of piece p from the worker into buf; -1 with
 * cause (anything short is a fault). */
static int
state_read_piece(struct state_read *sr, struct state_piece *p, size_t off,
    size_t len, char **cause)
{
	struct iovec local, remote;
	ssize_t got;

	if (sr->pid == 0)
		return nn_fail(cause, "agent %s: its worker stopped while its "
		    "state was being sent", sr->id);
	local.iov_base = sr->buf + p->boff + off;
	local.iov_len = len;
	remote.iov_base = (void *)(p->at + off);
	remote.iov_len = len;
	got = process_vm_readv(sr->pid, &local, 1, &remote, 1, 0);
	if (got < 0 || (size_t)got != len)
		return nn_fail(cause, "cannot read the state from pid %ld: %s",
		    (long)sr->pid, got < 0 ? strerror(errno) : "short read");
	return 0;
}

/*
 * Reads the small pieces now: the headers around large sections. That
 * also shows whether the worker's memory can be read; if it cannot, the
 * state comes through the socket instead. 0, or -1 with cause.
 */
static int
state_read_small(struct state_read *sr, char **cause)
{
	struct state_piece *p, *large = NULL;
	size_t i;
	int tried = 0;

	for (i = 0; i < sr->npieces; i++) {
		p = &sr->pieces[i];
		if (p->kept || p->len == 0)
			continue;
		if (p->len >= RUNNER_READ_EAGER) {
			if (large == NULL)
				large = p;
			continue;
		}
		if (state_read_piece(sr, p, 0, p->len, cause) != 0)
			return -1;
		p->read = 1;
		tried = 1;
	}
	/* Only large pieces: one byte tells. */
	if (!tried && large != NULL)
		return state_read_piece(sr, large, 0, 1, cause);
	return 0;
}

/* Reads every piece outside the kept buffer now: a committing worker
 * goes on once it is told, so nothing may be read later. */
static int
state_read_all(struct state_read *sr, char **cause)
{
	struct state_piece *p;
	size_t i;

	for (i = 0; i < sr->npieces; i++) {
		p = &sr->pieces[i];
		if (p->kept || p->read || p->len == 0)
			continue;
		if (state_read_piece(sr, p, 0, p->len, cause) != 0)
			return -1;
		p->read = 1;
	}
	sr->pid = 0;
	return 0;
}

static void
state_read_sent(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	state_read_unref(arg);
}

/* conn_source next: the next at most max bytes, by reference. */
static int64_t
state_read_next(void *arg, struct evbuffer *out, size_t max,
    struct frame_stream *mac, char **cause)
{
	struct state_cursor *c = arg;
	struct state_read *sr = c->sr;
	struct state_piece *p;
	unsigned char *from;
	size_t take, n = 0;

	while (n < max && c->piece < sr->npieces) {
		p = &sr->pieces[c->piece];
		take = p->len - c->piece_off;
		if (take > max - n)
			take = max - n;
		if (take > 0) {
			if (p->kept)
				from = sr->kept + (p->at - sr->kept_at) +
				    c->piece_off;
			else {
				if (!p->read && state_read_piece(sr, p,
				    c->piece_off, take, cause) != 0)
					return -1;
				from = sr->buf + p->boff + c->piece_off;
			}
			frame_stream_mac(mac, from, take);
			sr->refs++;
			if (evbuffer_add_reference(out, from, take,
			    state_read_sent, sr) != 0)
				fatal("out of memory adding a state piece");
			n += take;
			c->piece_off += take;
		}
		if (c->piece_off == p->len) {
			c->piece++;
			c->piece_off = 0;
		}
	}
	return (int64_t)n;
}

/* conn_source end. */
static void
state_read_end(void *arg, int ok)
{
	struct state_cursor *c = arg;

	log_debug("agent %s: %s %llu bytes of state (%llu from the buffer "
	    "it kept)", c->sr->id, ok ? "sent" : "gave up sending",
	    (unsigned long long)c->sr->len,
	    (unsigned long long)c->sr->kept_bytes);
	state_read_unref(c->sr);
	free(c);
}

/* A conn_source sending sr from its start (one more reference). */
static void
state_read_source(struct state_read *sr, struct conn_source *src)
{
	struct state_cursor *c = xcalloc(1, sizeof *c);

	c->sr = sr;
	sr->refs++;
	src->next = state_read_next;
	src->end = state_read_end;
	src->arg = c;
}

/* Its memory cannot be read (cause, taken): the worker sends the bytes. */
static void
ragent_ask_state(struct ragent *a, char *cause)
{
	json_t *m = json_pack("{s:s}", "op", "send-state");

	log_info("agent %s: %s; its state comes through the socket", a->id,
	    cause);
	free(cause);
	conn_send(a->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
}

/*
 * The moving agent's state is here (state, len), or will be sent from its
 * memory (state NULL, a->reading): sync its messages next.
 */
static void
ragent_moving(struct ragent *a, unsigned char *state, uint64_t len)
{
	json_t *meta;

	a->move_state = state;
	a->move_len = len;
	meta = json_pack("{s:s}", "op", "sync");
	conn_send(a->conn, FRAME_AGENT, meta, NULL, 0);
	json_decref(meta);
}

/* A moving worker says where its state is: send it from there. */
static void
ragent_moving_from_memory(struct ragent *a, json_t *meta)
{
	struct state_read *sr;
	char *cause = NULL;

	if ((sr = state_read_new(a, meta, &cause)) == NULL ||
	    state_read_small(sr, &cause) != 0) {
		state_read_detach(sr);
		ragent_ask_state(a, cause);
		return;
	}
	log_debug("agent %s: moving, %llu bytes of state to send from its "
	    "memory (%llu in the buffer it kept)", a->id,
	    (unsigned long long)sr->len, (unsigned long long)sr->kept_bytes);
	a->reading = sr;
	ragent_moving(a, NULL, sr->len);
}

/* Adds a message in arrival order; duplicates are dropped here. */
static void
queue_add(struct ragent *a, const char *from, uint64_t seq,
    const void *data, uint64_t len)
{
	struct message *m, *q;

	if (seq < next_of(a->expect, from))
		return;
	for (q = a->queue; q != NULL; q = q->next)
		if (q->seq == seq && strcmp(q->from, from) == 0)
			return;
	m = xcalloc(1, sizeof *m);
	snprintf(m->from, sizeof m->from, "%s", from);
	m->seq = seq;
	m->len = len;
	if (len > 0) {
		m->data = xmalloc((size_t)len);
		memcpy(m->data, data, (size_t)len);
	}
	*a->queue_tail = m;
	a->queue_tail = &m->next;
}

/* A worker's frame, one handler each; f stays the caller's to free. */
typedef void runner_frame_fn(struct ragent *, struct frame *);

/* started: the agent runs, or waits unpacked for "go". */
static void
runner_frame_started(struct ragent *a, struct frame *f)
{
	const char *s;

	/* A state the agent kept is its memory until it ends. */
	if (!json_is_true(json_object_get(f->meta, "kept")))
		ragent_state_done(a);
	else if (json_is_integer(json_object_get(f->meta, "kept_at")))
		a->kept_at = (uintptr_t)json_integer_value(
		    json_object_get(f->meta, "kept_at"));
	s = json_string_value(json_object_get(f->meta, "type"));
	snprintf(a->type, sizeof a->type, "%s", s != NULL ? s : "?");
	/* Workers probe Landlock themselves (the daemon may run under a
	 * tool that does not know the call); the first to lack it says. */
	if (json_integer_value(json_object_get(f->meta, "landlock")) < 0 &&
	    !a->r->said_landlock) {
		a->r->said_landlock = 1;
		log_warn("sandbox: no Landlock in this kernel: workers reach "
		    "the files their user may");
	}
	if (a->state != LC_STARTING && a->state != LC_DOOMED)
		return;
	if (a->hold)
		a->state = a->state == LC_DOOMED ? LC_DOOMED : LC_HELD;
	else
		a->state = a->start_suspended ? LC_SUSPENDED : LC_RUNNING;
	log_info("agent %s (%s) %s (pid %ld%s)", a->id, a->type,
	    a->hold ? "unpacked, held" : "started", (long)a->pid,
	    a->early ? ", started while its state arrived" : "");
	runner_emit(a->r, a, a->hold ? "arrived" : "started",
	    json_pack("{s:I}", "step", (json_int_t)a->step));
	queue_flush(a);
	if (!a->hold)
		ragent_flush_orders(a);
}

static void
runner_frame_progress(struct ragent *a, struct frame *f)
{
	a->progress = json_number_value(json_object_get(f->meta, "fraction"));
	runner_emit(a->r, a, "progress", json_pack("{s:I, s:f, s:O}",
	    "step", (json_int_t)a->step, "fraction", a->progress,
	    "status", json_object_get(f->meta, "status")));
}

static void
runner_frame_metrics(struct ragent *a, struct frame *f)
{
	if (!json_is_object(json_object_get(f->meta, "metrics")))
		return;
	runner_emit(a->r, a, "metrics", json_pack("{s:I, s:O}", "step",
	    (json_int_t)a->step, "metrics", json_object_get(f->meta,
	    "metrics")));
}

static void
runner_frame_log(struct ragent *a, struct frame *f)
{
	runner_emit(a->r, a, "log", json_pack("{s:O, s:O}", "level",
	    json_object_get(f->meta, "level"), "text",
	    json_object_get(f->meta, "text")));
}

/* The worker applied a suspend or resume; the state changed when the
 * order went to it, as nothing it is sent later can overtake it. */
static void
runner_frame_suspended(struct ragent *a, struct frame *f)
{
	(void)f;
	runner_emit(a->r, a, "suspended", NULL);
}

static void
runner_frame_resumed(struct ragent *a, struct frame *f)
{
	(void)f;
	runner_emit(a->r, a, "resumed", NULL);
}

/* An order the worker read only once packed: it is applied when the move
 * ends, ahead of those queued since (it was sent before them). */
static void
runner_frame_unread_order(struct ragent *a, struct frame *f)
{
	const char *op = json_string_value(json_object_get(f->meta, "order"));
	enum lc_order o;

	if (a->state != LC_MOVING && a->state != LC_DOOMED) {
		log_warn("agent %s: its worker returned an order while %s; "
		    "ignored", a->id, lifecycle_state_name(a->state));
		return;
	}
	if (lifecycle_order_find(op, &o) != 0) {
		log_warn("agent %s: its worker returned an unknown order",
		    a->id);
		return;
	}
	if (a->bounced == NULL)
		a->bounced = json_array();
	json_array_append_new(a->bounced, order_json(o, json_string_value(
	    json_object_get(f->meta, "host"))));
}

static void
runner_frame_done(struct ragent *a, struct frame *f)
{
	struct runner *r = a->r;

	/* The daemon keeps the result for the owner to fetch. */
	if (f->payload_len > 0) {
		a->result_len = f->payload_len;
		r->request(r->arg, a->id, f->meta, f->payload, f->payload_len);
	}
	ragent_ended(r, a, 1, NULL);
}

static void
runner_frame_failed(struct ragent *a, struct frame *f)
{
	const char *s;

	ragent_state_done(a);
	s = json_string_value(json_object_get(f->meta, "error"));
	ragent_ended(a->r, a, 0, s != NULL ? s : "failed");
}

static void
runner_frame_moving(struct ragent *a, struct frame *f)
{
	/* Messages already on their way to the worker come back first
	 * ("unread"), then "synced": only then is the state whole. */
	if (a->state != LC_RUNNING && a->state != LC_SUSPENDED &&
	    a->state != LC_DOOMED) {
		log_warn("agent %s: its worker packed while %s; ignored",
		    a->id, lifecycle_state_name(a->state));
		return;
	}
	/* Killed, it packed before it read the kill: the kill comes back
	 * (unread-order) and applies where the move ends. */
	if (a->state == LC_DOOMED) {
		a->killed = 0;
		ragent_kill_timer(a, 0);
	} else
		a->state = LC_MOVING;
	a->packed_suspended = json_is_true(json_object_get(f->meta,
	    "suspended"));
	json_decref(a->move);
	a->move = json_incref(f->meta);
	/* The move starts: a client times it from here to "moved". */
	runner_emit(a->r, a, "moving", json_pack("{s:O, s:I}", "to",
	    json_object_get(f->meta, "host"), "bytes",
	    json_is_integer(json_object_get(f->meta, "state_len")) ?
	    json_integer_value(json_object_get(f->meta, "state_len")) :
	    (json_int_t)f->payload_len));
	if (json_object_get(f->meta, "state_iov") == NULL) {
		log_debug("agent %s: moving, %llu bytes of state",
		    a->id, (unsigned long long)f->payload_len);
		ragent_moving(a, f->payload, f->payload_len);
		f->payload = NULL;
	} else if (a->reading == NULL)
		ragent_moving_from_memory(a, f->meta);
}

static void
runner_frame_state(struct ragent *a, struct frame *f)
{
	if (a->move == NULL || a->move_state != NULL || a->reading != NULL)
		return;
	log_debug("agent %s: moving, %llu bytes of state", a->id,
	    (unsigned long long)f->payload_len);
	ragent_moving(a, f->payload, f->payload_len);
	f->payload = NULL;
}

static void
runner_frame_unread(struct ragent *a, struct frame *f)
{
	const char *s;
	uint64_t seq;

	s = json_string_value(json_object_get(f->meta, "from"));
	seq = (uint64_t)json_integer_value(json_object_get(f->meta, "seq"));
	if (s != NULL && seq < next_of(a->expect, s))
		json_object_set_new(a->expect, s, json_integer((json_int_t)seq));
	if (s != NULL)
		queue_add(a, s, seq, f->payload, f->payload_len);
}

static void
runner_frame_synced(struct ragent *a, struct frame *f)
{
	struct runner *r = a->r;

	(void)f;
	if (a->move == NULL)
		return;
	log_debug("agent %s: synced", a->id);
	r->request(r->arg, a->id, a->move, a->move_state, a->move_len);
	/* The daemon took the state (runner_take_state or
	 * runner_take_stream) or it stays. */
}

/*
 * A commit: with its payload, or, when it is large, where it lies in the
 * worker's memory (state_iov, as a move's). That is read now, the pieces
 * in the buffer the worker kept are not copied at all, and the worker is
 * told to go on ("commit-read"); if its memory cannot be read, it sends
 * the bytes ("send-state"). The daemon sends it on with
 * runner_commit_source.
 */
static void
runner_frame_commit(struct ragent *a, struct frame *f)
{
	struct runner *r = a->r;
	struct state_read *sr;
	char *cause = NULL;
	json_t *m;

	if (json_object_get(f->meta, "state_iov") == NULL) {
		r->request(r->arg, a->id, f->meta, f->payload, f->payload_len);
		return;
	}
	if ((sr = state_read_new(a, f->meta, &cause)) == NULL ||
	    state_read_all(sr, &cause) != 0) {
		state_read_unref(sr);
		log_info("agent %s: %s; its commit comes through the socket",
		    a->id, cause);
		free(cause);
		m = json_pack("{s:s}", "op", "send-state");
		conn_send(a->conn, FRAME_AGENT, m, NULL, 0);
		json_decref(m);
		return;
	}
	m = json_pack("{s:s}", "op", "commit-read");
	conn_send(a->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
	a->commit_read = sr;
	r->request(r->arg, a->id, f->meta, NULL, sr->len);
	a->commit_read = NULL;
	state_read_unref(sr);
}

/* send, spawn, clone: requests the daemon carries out for the agent. */
static void
runner_frame_request(struct ragent *a, struct frame *f)
{
	a->r->request(a->r->arg, a->id, f->meta, f->payload, f->payload_len);
}

/* The frames a worker sends (worker.c), by name. */
static const struct runner_frame_entry {
	const char	*name;
	runner_frame_fn	*fn;
} runner_frames[] = {
	{ "clone", runner_frame_request },
	{ "commit", runner_frame_commit },
	{ "data-map", runner_frame_request },
	{ "done", runner_frame_done },
	{ "failed", runner_frame_failed },
	{ "log", runner_frame_log },
	{ "metrics", runner_frame_metrics },
	{ "moving", runner_frame_moving },
	{ "progress", runner_frame_progress },
	{ "resumed", runner_frame_resumed },
	{ "send", runner_frame_request },
	{ "spawn", runner_frame_request },
	{ "started", runner_frame_started },
	{ "state", runner_frame_state },
	{ "suspended", runner_frame_suspended },
	{ "synced", runner_frame_synced },
	{ "unread", runner_frame_unread },
	{ "unread-order", runner_frame_unread_order },
};

/* One frame from a worker: its step count, then its op's handler. An
 * unknown op is ignored. */
static void
runner_worker_frame(struct conn *c, struct frame *f, void *arg)
{
	struct ragent *a = arg;
	const struct runner_frame_entry *e;
	const char *op;

	(void)c;
	if (a == NULL)
		goto out;
	op = json_string_value(json_object_get(f->meta, "op"));
	if (op == NULL)
		goto out;
	if (json_is_integer(json_object_get(f->meta, "step")))
		a->step = (uint64_t)json_integer_value(json_object_get(f->meta,
		    "step"));
	if ((e = TABLE_FIND(runner_frames, op)) != NULL)
		e->fn(a, f);
out:
	frame_free(f);
}

static const struct conn_ops runner_conn_ops = {
	.frame = runner_worker_frame,
	.ready = runner_worker_ready,
	.closed = runner_worker_closed,
};

/*
 * Forks a worker on a new socketpair (*sock, ours), with a second one
 * (*code_sock, ours) for its code's memfd. A large state in a pool buffer
 * (buf, len bytes) goes to it as its memfd, fd 4, which it maps uncopied
 * and may keep as its memory: opened anew, and cut to the state's pages,
 * so nothing an earlier state left there shows. *lent says whether it did
 * (without /proc the state goes through the socket). The child takes the
 * worker user and no_new_privs (sandbox_child) before it execs. The pid,
 * or -1 with cause.
 */
static pid_t
runner_fork(struct runner *r, void *buf, uint64_t len, int *sock,
    int *code_sock, char *cgroup, size_t cglen, int *lent, char **cause)
{
	static char *const argv[] = { "agentd", "worker", "3", NULL };
	char rd[64];
	int sv[2], cv[2], lend_fd = -1, pool_fd, cg_fd;
	pid_t pid;

	*lent = 0;
	cgroup[0] = '\0';
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		nn_fail(cause, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) != 0) {
		nn_fail(cause, "socketpair: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (buf != NULL && (pool_fd = bigbuf_fd(buf)) >= 0) {
		snprintf(rd, sizeof rd, "/proc/self/fd/%d", pool_fd);
		if ((lend_fd = open(rd, O_RDWR | O_CLOEXEC)) >= 0 &&
		    bigbuf_lend(buf, (size_t)len) < 0) {
			close(lend_fd);
			lend_fd = -1;
		}
	}
	/* Unbounded is not a fallback for a worker that should have one. */
	if ((cg_fd = sandbox_cgroup_new(r->sb, cgroup, cglen)) < 0 &&
	    sandbox_cgroup_on(r->sb)) {
		close(sv[0]);
		close(sv[1]);
		close(cv[0]);
		close(cv[1]);
		if (lend_fd >= 0)
			close(lend_fd);
		nn_fail(cause, "cannot make the worker's cgroup (see the log)");
		return -1;
	}
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		close(cv[0]);
		close(cv[1]);
		if (lend_fd >= 0)
			close(lend_fd);
		if (cg_fd >= 0)
			close(cg_fd);
		(void)sandbox_cgroup_end(r->sb, cgroup);
		nn_fail(cause, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Into its cgroup first: all it allocates is counted. A
		 * worker that cannot is not run unbounded. */
		if (cg_fd >= 0 && write(cg_fd, "0", 1) != 1)
			_exit(RUNNER_EXIT_CGROUP);
		/* A fresh image: nothing of the daemon's loop survives.
		 * Descriptors: 3 the socket, 4 the state, 5 the code's. */
		int sfd = lend_fd >= 0 ? fcntl(lend_fd, F_DUPFD, 10) : -1;
		int cfd = fcntl(cv[1], F_DUPFD, 10);
		int efd = r->exe_fd >= 0 ? fcntl(r->exe_fd, F_DUPFD_CLOEXEC,
		    10) : -1, nfd;

		if (cfd < 0)
			_exit(127);
		/* dup2 onto itself keeps close-on-exec: clear it then. */
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sv[1], 3) < 0)
			_exit(127);
		if (lend_fd >= 0 && sfd < 0)
			_exit(127);
		if (sfd >= 0 ? dup2(sfd, 4) < 0 : dup2(cfd, 4) < 0)
			_exit(127);
		if (dup2(cfd, 5) < 0)
			_exit(127);
		if (sfd < 0)
			close(4);
		if (efd >= 0 && (efd = dup3(efd, 6, O_CLOEXEC)) < 0)
			_exit(127);
		close_range(efd >= 0 ? 7 : 6, ~0U, 0);
		/* Nothing to read from the daemon's terminal. */
		if ((nfd = open("/dev/null", O_RDONLY)) >= 0 &&
		    nfd != STDIN_FILENO) {
			dup2(nfd, STDIN_FILENO);
			close(nfd);
		}
		if (r->sb != NULL && sandbox_child(r->sb) != 0)
			_exit(126);
		/* Large agent buffers in huge pages: a state that arrives
		 * faults in 512 times fewer pages. The daemon has one thread,
		 * so setenv is safe after fork. */
		(void)setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 0);
		/* By descriptor: the worker user may not reach the path. */
		if (efd >= 0)
			(void)syscall(SYS_execveat, efd, "", argv, environ,
			    AT_EMPTY_PATH);
		execv(r->exe, argv);
		_exit(127);
	}
	close(sv[1]);
	close(cv[1]);
	if (lend_fd >= 0)
		close(lend_fd);
	if (cg_fd >= 0)
		close(cg_fd);
	*sock = sv[0];
	*code_sock = cv[0];
	*lent = lend_fd >= 0;
	return pid;
}

#define RUNNER_FDS_PER_MSG	64

/* Passes n descriptors over a worker's control socket, a message of at
 * most RUNNER_FDS_PER_MSG at a time; 0 or -1 (errno). */
static int
runner_pass_fds(int sock, const int *fds, size_t n)
{
	char byte = 'f', ctl[CMSG_SPACE(RUNNER_FDS_PER_MSG * sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	size_t k;

	while (n > 0) {
		k = n < RUNNER_FDS_PER_MSG ? n : RUNNER_FDS_PER_MSG;
		memset(&msg, 0, sizeof msg);
		memset(ctl, 0, sizeof ctl);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl;
		msg.msg_controllen = CMSG_SPACE(k * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, k * sizeof(int));
		/* Small messages the worker reads at once: never blocks long;
		 * a full socket is an error, not a wait. */
		if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
			return -1;
		fds += k;
		n -= k;
	}
	return 0;
}

/* Hands the worker its code: a sealed memfd, over its control socket,
 * which stays open for the data it maps (runner_send_fds). */
static int
runner_send_code(struct ragent *a, int fd, char **cause)
{
	if (a->code_sock < 0 || a->code_sent)
		return nn_fail(cause, "cannot hand the worker its code: "
		    "handed already");
	if (runner_pass_fds(a->code_sock, &fd, 1) != 0)
		return nn_fail(cause, "cannot hand the worker its code: %s",
		    strerror(errno));
	a->code_sent = 1;
	return 0;
}

int
runner_send_fds(struct runner *r, const char *id, const int *fds, size_t n,
    char **cause)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || a->code_sock < 0 || !a->code_sent)
		return nn_fail(cause, "the agent's worker is not running");
	if (runner_pass_fds(a->code_sock, fds, n) != 0)
		return nn_fail(cause, "cannot hand the worker its data: %s",
		    strerror(errno));
	return 0;
}

static struct ragent *
ragent_new(struct runner *r, pid_t pid, int sock, int code_sock,
    const char *label)
{
	static const unsigned char zero[AUTH_KEY_SIZE];
	struct conn_config cc = {
		.base = r->base,
		.name = r->host,
		.key = zero,
		.role = CONN_PEER,
		.ops = &runner_conn_ops,
	};
	struct ragent *a = xcalloc(1, sizeof *a);

	a->r = r;
	a->pid = pid;
	a->queue_tail = &a->queue;
	a->state = LC_STARTING;
	a->state_fd = -1;
	a->code_sock = code_sock;
	cc.arg = a;
	a->conn = conn_pair(&cc, sock, 0, label);
	a->next = r->agents;
	r->agents = a;
	return a;
}

int
runner_prepare(struct runner *r, void *buf, uint64_t len)
{
	struct ragent *a;
	char *cause = NULL;
	char cgroup[64];
	int sock, code_sock, lent;
	pid_t pid;

	for (a = r->agents; a != NULL; a = a->next)
		if (a->spare_buf != NULL)
			return -1;	/* one at a time */
	if ((pid = runner_fork(r, buf, len, &sock, &code_sock, cgroup,
	    sizeof cgroup, &lent, &cause)) < 0) {
		log_debug("cannot prepare a worker: %s", cause);
		free(cause);
		return -1;
	}
	if (!lent) {
		kill(pid, SIGKILL);
		close(sock);
		close(code_sock);
		waitpid(pid, NULL, 0);
		(void)sandbox_cgroup_end(r->sb, cgroup);
		return -1;
	}
	a = ragent_new(r, pid, sock, code_sock, "worker (prepared)");
	snprintf(a->cgroup, sizeof a->cgroup, "%s", cgroup);
	snprintf(a->id, sizeof a->id, "(prepared)");
	a->reported = 1;	/* not an agent until taken */
	a->spare_buf = buf;
	a->spare_len = len;
	log_debug("worker pid %ld prepared for %llu bytes of state arriving",
	    (long)pid, (unsigned long long)len);
	return 0;
}

/* The prepared worker for buf, taken off the spare list, or NULL. */
static struct ragent *
spare_take(struct runner *r, void *buf, uint64_t len)
{
	struct ragent *a;

	for (a = r->agents; a != NULL; a = a->next) {
		if (buf == NULL || a->spare_buf != buf || a->spare_len != len ||
		    a->exited || a->conn == NULL)
			continue;
		a->spare_buf = NULL;
		a->reported = 0;
		a->early = 1;
		return a;
	}
	return NULL;
}

int
runner_unprepare(struct runner *r, void *buf)
{
	struct ragent *a;
	int n = 0;

	for (a = r->agents; a != NULL; a = a->next) {
		if (buf != NULL && a->spare_buf == buf) {
			a->spare_buf = NULL;
			kill(a->pid, SIGKILL);
			n++;
		}
	}
	return n;
}

int
runner_start(struct runner *r, const struct runner_spawn *sp, char **cause)
{
	const char *id = sp->id, *args = sp->args;
	const void *state = sp->state;
	uint64_t len = sp->len, owned_len = sp->owned_len, step = sp->step;
	void *owned = sp->owned;
	json_t *host = sp->host, *delivery = sp->delivery;
	json_t *m;
	size_t i;
	unsigned char *data;
	const char *hex;
	struct ragent *a;
	struct sandbox_limits limits = { 0, 0, 0 };
	char label[96], cgroup[64];
	int sock, code_sock, lent, code_fd = -1;
	pid_t pid;

	if (ragent_find(r, id) != NULL) {
		runner_unprepare(r, owned);
		bigbuf_free(owned);
		return nn_fail(cause, "agent %s already runs here", id);
	}
	/* What the store holds may have changed since it arrived: the
	 * bytes checked now are those the worker loads. */
	if ((r->sb != NULL && sandbox_limits_parse(r->sb, sp->limits, &limits,
	    cause) != 0) || sp->code_path == NULL ||
	    codestore_verify(sp->code_path, sp->code_sha, &code_fd,
	    cause) != 0) {
		if (sp->code_path == NULL)
			nn_fail(cause, "no code for agent %s", id);
		runner_unprepare(r, owned);
		bigbuf_free(owned);
		return -1;
	}
	snprintf(label, sizeof label, "worker %s", id);
	/* A worker started while the state arrived has it mapped already. */
	if ((a = spare_take(r, owned, owned_len)) != NULL) {
		lent = 1;
		conn_set_label(a->conn, label);
	} else {
		if ((pid = runner_fork(r, owned, owned_len, &sock, &code_sock,
		    cgroup, sizeof cgroup, &lent, cause)) < 0) {
			close(code_fd);
			bigbuf_free(owned);
			return -1;
		}
		a = ragent_new(r, pid, sock, code_sock, label);
		snprintf(a->cgroup, sizeof a->cgroup, "%s", cgroup);
	}
	/* Its memory limit, then its code, before the load frame: the
	 * worker finds them waiting. A failure ends the worker, whose exit
	 * reports it. */
	if (sandbox_cgroup_limit(r->sb, a->cgroup, &limits, cause) != 0 ||
	    runner_send_code(a, code_fd, cause) != 0) {
		log_warn("agent %s: %s", id, *cause);
		snprintf(a->start_error, sizeof a->start_error, "%s", *cause);
		free(*cause);
		*cause = NULL;
		kill(a->pid, SIGKILL);
	}
	close(code_fd);
	a->limits = limits;
	if (json_is_object(sp->limits))
		a->limits_asked = json_deep_copy(sp->limits);
	snprintf(a->id, sizeof a->id, "%s", id);
	snprintf(a->code, sizeof a->code, "%s", sp->code_sha);
	a->step = step;
	a->progress = sp->progress;
	a->hold = delivery != NULL;
	a->start_suspended = sp->suspended;
	if (sp->held_from != NULL)
		snprintf(a->held_from, sizeof a->held_from, "%s",
		    sp->held_from);
	a->load = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:O, s:b, s:b}",
	    "op", "load", "agent", id, "code", sp->code_sha, "code_fd", 5,
	    "args", args != NULL ? args : "{}", "step", (json_int_t)step,
	    "host", host, "hold", a->hold, "suspended", a->start_suspended);
	if (r->sb != NULL)
		json_object_set_new(a->load, "sandbox", sandbox_spec(r->sb,
		    &limits));
	a->expect = json_object();
	a->out = json_object();
	if (delivery != NULL) {
		json_object_update(a->expect, json_object_get(delivery, "next"));
		json_object_update(a->out, json_object_get(delivery, "out"));
		json_array_foreach(json_object_get(delivery, "pending"), i, m) {
			hex = json_string_value(json_object_get(m, "data"));
			if (hex == NULL || json_string_value(json_object_get(m,
			    "from")) == NULL)
				continue;
			data = xmalloc(strlen(hex) / 2 + 1);
			if (crypto_unhex(hex, data, strlen(hex) / 2) == 0)
				queue_add(a, json_string_value(
				    json_object_get(m, "from")),
				    (uint64_t)json_integer_value(
				    json_object_get(m, "seq")), data,
				    strlen(hex) / 2);
			free(data);
		}
	}
	if (state != NULL && len > 0) {
		a->state_buf = xmalloc((size_t)len);
		memcpy(a->state_buf, state, (size_t)len);
		a->state_len = len;
	} else if (owned != NULL) {
		/* A large arriving state goes to the worker uncopied. The
		 * buffer is the worker's until it says it did not keep it,
		 * or ends. */
		a->state_buf = owned;
		a->state_len = owned_len;
		if (lent) {
			a->state_fd = 4;
			json_object_set_new(a->load, "state_fd",
			    json_integer(4));
			json_object_set_new(a->load, "state_len",
			    json_integer((json_int_t)owned_len));
		}
	}
	/* A prepared worker past its handshake has mapped the state. */
	if (a->prepared)
		conn_send(a->conn, FRAME_AGENT, a->load, NULL, 0);
	return 0;
}

int
runner_order(struct runner *r, const char *id, const char *op,
    const char *host, json_t **reply, char **cause)
{
	struct ragent *a = ragent_find(r, id);
	enum lc_outcome outcome;
	const char *note;
	enum lc_order o;

	*reply = NULL;
	if (lifecycle_order_find(op, &o) != 0)
		return nn_fail(cause, "unknown order %s", op != NULL ? op :
		    "(none)");
	if (a == NULL)
		return nn_fail(cause, "no agent %s on this host", id);
	if (ragent_order(a, o, host, &outcome, &note, cause) != 0)
		return -1;
	*reply = json_pack("{s:s, s:s, s:s}", "outcome",
	    lifecycle_outcome_name(outcome), "note", note, "state",
	    lifecycle_state_name(a->state));
	return 0;
}

/* Appends the orders of from (may be NULL) to to, but for a kill, which
 * goes to *kill (a new reference) instead. */
static void
order_merge(json_t *to, json_t *from, json_t **kill)
{
	json_t *e;
	size_t i;

	json_array_foreach(from, i, e) {
		if (json_is_string(json_object_get(e, "op")) &&
		    strcmp(json_string_value(json_object_get(e, "op")),
		    "kill") == 0) {
			if (*kill == NULL)
				*kill = json_incref(e);
		} else
			json_array_append(to, e);
	}
}

int
runner_go(struct runner *r, const char *id, json_t *orders, char **cause)
{
	struct ragent *a = ragent_find(r, id);
	json_t *m, *all, *kill = NULL;

	if (a == NULL)
		return nn_fail(cause, "no agent %s on this host", id);
	if (a->state != LC_HELD && a->state != LC_DOOMED)
		return nn_fail(cause, "agent %s is %s, not held", id,
		    lifecycle_state_name(a->state));
	/* Its exit, not yet reaped, reports it. */
	if (a->conn == NULL)
		return nn_fail(cause, "agent %s: its worker exited while held",
		    id);
	/*
	 * The source's orders, then those given here while the agent was
	 * held. The two sets were given independently of each other, so a
	 * kill in either goes last: every other order was answered as one
	 * that would apply, and a kill ahead of them would refuse them.
	 */
	all = json_array();
	order_merge(all, orders, &kill);
	order_merge(all, a->orders, &kill);
	if (kill != NULL)
		json_array_append_new(all, kill);
	json_decref(a->orders);
	a->orders = all;
	a->hold = 0;
	a->held_from[0] = '\0';
	a->state = a->start_suspended ? LC_SUSPENDED : LC_RUNNING;
	m = json_pack("{s:s}", "op", "go");
	conn_send(a->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
	queue_flush(a);
	ragent_flush_orders(a);
	return 0;
}

int
runner_abandon(struct runner *r, const char *source)
{
	struct ragent *a;
	int n = 0;

	for (a = r->agents; a != NULL; a = a->next) {
		if (a->reported || (a->state != LC_HELD &&
		    a->state != LC_DOOMED) || a->held_from[0] == '\0' ||
		    strcmp(a->held_from, source) != 0)
			continue;
		log_warn("agent %s: %s went away before its move here "
		    "completed; it carries on there, and this copy stops%s",
		    a->id, source, json_array_size(a->orders) > 0 ?
		    " with the orders queued for it" : "");
		kill(a->pid, SIGKILL);
		a->state = LC_GONE;
		a->reported = 1;	/* the agent is not this copy */
		n++;
	}
	return n;
}

int
runner_deliver(struct runner *r, const char *id, const char *from,
    uint64_t seq, const void *data, uint64_t len)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || a->reported)
		return -1;
	queue_add(a, from, seq, data, len);
	queue_flush(a);
	return 0;
}

uint64_t
runner_next_out(struct runner *r, const char *id, const char *to)
{
	struct ragent *a = ragent_find(r, id);
	uint64_t seq;

	if (a == NULL)
		return 0;
	seq = next_of(a->out, to);
	json_object_set_new(a->out, to, json_integer((json_int_t)seq + 1));
	return seq;
}

json_t *
runner_move_done(struct runner *r, const char *id, int committed)
{
	struct ragent *a = ragent_find(r, id);
	struct message *m;
	json_t *pending, *meta, *out;
	char *hex;

	if (a == NULL)
		return NULL;
	json_decref(a->move);
	a->move = NULL;
	bigbuf_free(a->move_state);
	a->move_state = NULL;
	state_read_detach(a->reading);
	a->reading = NULL;
	if (!committed) {
		/* Killed meanwhile: the kill is in its orders. A worker
		 * that exited meanwhile is reported when it is reaped. */
		a->state = a->packed_suspended ? LC_SUSPENDED : LC_RUNNING;
		meta = json_pack("{s:s}", "op", "move-abort");
		if (a->conn != NULL)
			conn_send(a->conn, FRAME_AGENT, meta, NULL, 0);
		json_decref(meta);
		queue_flush(a);
		ragent_flush_orders(a);
		return NULL;
	}
	/* What travels with the agent: who sent what, and what waits. */
	pending = json_array();
	for (m = a->queue; m != NULL; m = m->next) {
		hex = xmalloc((size_t)m->len * 2 + 1);
		crypto_hex(m->data, (size_t)m->len, hex);
		json_array_append_new(pending, json_pack("{s:s, s:I, s:s}",
		    "from", m->from, "seq", (json_int_t)m->seq, "data", hex));
		free(hex);
	}
	out = json_pack("{s:O, s:O, s:o, s:o}", "next", a->expect, "out",
	    a->out, "pending", pending, "orders", ragent_take_orders(a));
	queue_clear(a);
	a->state = LC_GONE;
	a->reported = 1;	/* it lives on elsewhere */
	meta = json_pack("{s:s}", "op", "drop");
	if (a->conn != NULL)
		conn_send(a->conn, FRAME_AGENT, meta, NULL, 0);
	json_decref(meta);
	return out;
}

void *
runner_take_state(struct runner *r, const char *id, uint64_t *len)
{
	struct ragent *a = ragent_find(r, id);
	void *buf;

	if (a == NULL || a->move_state == NULL)
		return NULL;
	buf = a->move_state;
	*len = a->move_len;
	a->move_state = NULL;
	a->move_len = 0;
	return buf;
}

int
runner_take_stream(struct runner *r, const char *id, struct conn_source *src,
    uint64_t *len)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || a->reading == NULL || a->move == NULL)
		return -1;
	state_read_source(a->reading, src);
	*len = a->reading->len;
	return 0;
}

int
runner_commit_source(struct runner *r, const char *id,
    struct conn_source *src, uint64_t *len)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || a->commit_read == NULL)
		return -1;
	state_read_source(a->commit_read, src);
	*len = a->commit_read->len;
	return 0;
}

json_t *
runner_delivery(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL)
		return NULL;
	return json_pack("{s:O, s:O, s:[]}", "next", a->expect, "out", a->out,
	    "pending");
}

int
runner_send(struct runner *r, const char *id, json_t *meta)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || a->conn == NULL)
		return -1;
	conn_send(a->conn, FRAME_AGENT, meta, NULL, 0);
	return 0;
}

const char *
runner_held_from(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || (a->state != LC_HELD && a->state != LC_DOOMED) ||
	    a->held_from[0] == '\0')
		return NULL;
	return a->held_from;
}

int
runner_packed_suspended(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL && a->packed_suspended;
}

json_t *
runner_limits(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL ? a->limits_asked : NULL;
}

double
runner_progress(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL ? a->progress : 0;
}

const char *
runner_type(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL ? a->type : NULL;
}

void
runner_set_job(struct runner *r, const char *id, const char *job)
{
	struct ragent *a = ragent_find(r, id);

	if (a != NULL && job != NULL)
		snprintf(a->job, sizeof a->job, "%s", job);
}

void
runner_set_recovery(struct runner *r, const char *id, const char *why)
{
	struct ragent *a = ragent_find(r, id);

	if (a == NULL || why == NULL)
		return;
	snprintf(a->recovery, sizeof a->recovery, "%s", why);
	a->recovery_step = a->step;
}

const char *
runner_job(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL ? a->job : "";
}

const char *
runner_code(struct runner *r, const char *id)
{
	struct ragent *a = ragent_find(r, id);

	return a != NULL ? a->code : NULL;
}

int
runner_has(struct runner *r, const char *id)
{
	return ragent_find(r, id) != NULL;
}

int
runner_count(struct runner *r)
{
	struct ragent *a;
	int n = 0;

	for (a = r->agents; a != NULL; a = a->next)
		n += !a->reported;
	return n;
}

json_t *
runner_list(struct runner *r)
{
	struct ragent *a;
	json_t *list = json_array();

	json_t *o;

	for (a = r->agents; a != NULL; a = a->next) {
		if (a->reported)
			continue;
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:I, s:s, s:s}",
		    "id", a->id, "type", a->type, "host", r->host, "state",
		    lifecycle_state_name(a->state), "step", (json_int_t)a->step,
		    "progress", a->progress, "pid", (json_int_t)a->pid, "code",
		    a->code, "job", a->job);
		/* Recovering until its first step here is done. */
		if (a->recovery[0] != '\0' && a->step > a->recovery_step)
			a->recovery[0] = '\0';
		if (a->recovery[0] != '\0')
			json_object_set_new(o, "recovery",
			    json_string(a->recovery));
		json_array_append_new(list, o);
	}
	return list;
}

void
runner_reap(struct runner *r)
{
	struct ragent *a;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((a = ragent_find_pid(r, pid)) == NULL)
			continue;
		a->exited = 1;
		a->wstatus = status;
		/* Its last frames ("done", a result) may still be unread:
		 * the verdict waits for the end of its socket. */
		if (a->conn == NULL)
			ragent_exit(r, a);
	}
}

/* The worker is gone and its socket read to the end: report, forget. */
static void
ragent_exit(struct runner *r, struct ragent *a)
{
	char reason[256];
	int status = a->wstatus;

	char limits[96];
	int oom = 0;

	sandbox_describe(&a->limits, limits, sizeof limits);
	if (a->cgroup[0] != '\0') {
		oom = sandbox_cgroup_end(r->sb, a->cgroup);
		a->cgroup[0] = '\0';
	}
	/* Over a limit shows as one of these: say which limits held. */
	if (a->start_error[0] != '\0')
		snprintf(reason, sizeof reason, "%s", a->start_error);
	else if (oom && !a->killed)
		snprintf(reason, sizeof reason, "worker killed by the kernel: "
		    "over its memory limit of %llu MiB (cgroup memory.max)",
		    (unsigned long long)(a->limits.mem >> 20));
	else if (WIFEXITED(status) && WEXITSTATUS(status) ==
	    RUNNER_EXIT_CGROUP)
		snprintf(reason, sizeof reason, "worker could not enter its "
		    "cgroup (agentd --cgroup)");
	else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU ||
	    WTERMSIG(status) == SIGABRT || WTERMSIG(status) == SIGSEGV ||
	    WTERMSIG(status) == SIGBUS) && !a->killed)
		snprintf(reason, sizeof reason, "worker killed by signal %d "
		    "(%s); %s", WTERMSIG(status), strsignal(WTERMSIG(status)),
		    limits);
	else if (WIFSIGNALED(status))
		snprintf(reason, sizeof reason, "worker killed by signal %d "
		    "(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (a->killed)
		snprintf(reason, sizeof reason, "killed on request");
	else if (WEXITSTATUS(status) != 0)
		snprintf(reason, sizeof reason, "worker exited with status %d",
		    WEXITSTATUS(status));
	else
		snprintf(reason, sizeof reason, "worker exited before the "
		    "agent finished");
	ragent_ended(r, a, 0, reason);
	ragent_remove(r, a);
}

void
runner_stop_all(struct runner *r, const char *why)
{
	struct ragent *a;

	for (a = r->agents; a != NULL; a = a->next) {
		kill(a->pid, SIGKILL);
		ragent_ended(r, a, 0, why);
	}
}

void
runner_clear(struct runner *r)
{
	struct ragent *a;

	if (r == NULL)
		return;
	for (a = r->agents; a != NULL; a = a->next)
		kill(a->pid, SIGKILL);
	while ((a = r->agents) != NULL) {
		waitpid(a->pid, NULL, 0);
		ragent_ended(r, a, 0, "the daemon stopped");
		ragent_remove(r, a);
	}
}

void
runner_free(struct runner *r)
{
	if (r == NULL)
		return;
	runner_clear(r);
	if (r->exe_fd >= 0)
		close(r->exe_fd);
	free(r);
}
