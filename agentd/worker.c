/*
 * One agent in its own process. Control frames from the daemon are read
 * only between steps, so the agent's code never runs concurrently with
 * itself and its state is whole whenever it is packed.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "agentd/agent.h"
#include "agentd/bigbuf.h"
#include "agentd/client.h"
#include "agentd/frame.h"
#include "agentd/sandbox.h"
#include "agentd/state.h"
#include "agentd/worker.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/table.h"

#define PROGRESS_EVERY_MS	100

struct agent {
	const struct agent_entry *entry;
	void		*data;
	char		 id[64];
	struct client	*cl;
	struct agent_host_info host;
	char		 host_address[80];	/* its daemon's, "ip:port" */
	uint64_t	 steps;
	int		 suspended;
	int		 want_move;
	char		 move_to[64];
	int		 want_clone;
	char		 clone_to[64];
	int		 want_commit;
	int		 commit_replicas;
	json_t		*commit_note;	/* agent_commit's, or NULL */
	double		 commit_cost;	/* the last one's pack and send, s */
	double		 commit_done;	/* and when it ended (nn_clock_s) */
	/* Commits send static sections (agent_state_add_static) to their
	 * holders once per run of this process (series): later ones leave
	 * them out while the daemon says the holders have them (bases). */
	char		 commit_series[96];
	uint64_t	 commit_seq;
	uint64_t	 commit_full_seq;	/* the last full one */
	json_t		*commit_static;		/* and its static names */
	int		 commit_bases;
	json_t		*commit_last_note;	/* to send again in full */
	uint64_t	 commit_oneoff_seq;	/* the run's first full one */
	int		 commit_changing;	/* agent_commit_changing */
	int		 landlock;	/* its ABI, 0 unasked, -1 lacking */
	long		 last_progress;
	void		*result;	/* agent_result's copy */
	size_t		 result_len;
	void		*kept;		/* the state's bytes, when the agent
					 * kept sections of it */
	size_t		 kept_len;
	int		 kept_mapped;	/* kept is a mapping, not a buffer */
	unsigned char	*premap;	/* the state, mapped on "prepare" */
	size_t		 premap_len;
	char		 error[256];	/* agent_last_error */
	char		 logged[256];	/* its last error line: the reason
					 * a start, unpack or step failed */
	uint64_t	 spawn_seq;	/* agent_spawn's requests, numbered */
	struct frame	**deferred;	/* frames read while waiting for a
					 * spawn's answer, handled next */
	size_t		 ndeferred, deferred_alloc;
	size_t		 deferred_next;	/* the first not yet handled */
};

/* How long agent_spawn waits for the new agent to start. */
#define WORKER_SPAWN_WAIT_MS	60000
/* A part's blocks may come from far: 600 s at least 1 GB at 1 Gbit/s. */
#define WORKER_DATA_WAIT_MS	600000
/* The daemon's socket for descriptors: the code's, then the data's. */
#define WORKER_CONTROL_FD	5

/* Sends op with extra fields; a broken link to the daemon ends us. */
static void
worker_send(struct agent *a, json_t *meta, const void *payload, uint64_t len)
{
	char *cause = NULL;

	/* Sent before the call returns, so large states need no copy. */
	if (client_send_frame_ref(a->cl, FRAME_AGENT, meta, payload, len,
	    &cause) != 0) {
		fprintf(stderr, "agentd worker %s: %s\n", a->id, cause);
		_exit(1);
	}
	json_decref(meta);
}

void *
agent_data(struct agent *a)
{
	return a->data;
}

void
agent_set_data(struct agent *a, void *data)
{
	a->data = data;
}

const char *
agent_id(struct agent *a)
{
	return a->id;
}

int
agent_send(struct agent *a, const char *to, const void *data, size_t len)
{
	if (to == NULL || len > FRAME_MAX_PAYLOAD)
		return -1;
	worker_send(a, json_pack("{s:s, s:s}", "op", "send", "to", to), data,
	    len);
	return 0;
}

int
agent_migrate(struct agent *a, const char *host)
{
	if (host == NULL || strlen(host) >= sizeof a->move_to)
		return -1;
	snprintf(a->move_to, sizeof a->move_to, "%s", host);
	a->want_move = 1;
	return 0;
}

int
agent_clone(struct agent *a, const char *host)
{
	if (host != NULL && strlen(host) >= sizeof a->clone_to)
		return -1;
	snprintf(a->clone_to, sizeof a->clone_to, "%s", host != NULL ? host :
	    "");
	a->want_clone = 1;
	return 0;
}

/* A runtime call fails: -1, with the reason for agent_last_error. */
static int	worker_error(struct agent *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * Commits take at most this share of an agent's time: one that took c
 * seconds, to pack and hand over here and for the daemon to send to its
 * holders (it says, "committed"), is followed by the next only c / share
 * seconds later. The run's first full commit with static sections is not
 * counted: it ships them once for the whole run, and the deltas after it
 * are what recurs.
 */
#define WORKER_COMMIT_SHARE	0.02

/* agent_commit, with or without the static sections. */
static int
worker_ask_commit(struct agent *a, int replicas, const char *note,
    int changing)
{
	json_t *o = NULL;
	double wait;

	if (replicas < 1 || replicas > AGENT_COMMIT_REPLICAS_MAX)
		return worker_error(a, "agent_commit: replicas must be 1 to "
		    "%d, not %d", AGENT_COMMIT_REPLICAS_MAX, replicas);
	wait = a->commit_cost / WORKER_COMMIT_SHARE - (nn_clock_s() -
	    a->commit_done);
	if (a->commit_cost > 0 && wait > 0) {
		worker_error(a, "agent_commit: the last commit took %.3f s; "
		    "the next may come %.1f s later", a->commit_cost, wait);
		return 1;
	}
	/* json_is_object is a macro: it would load twice. */
	if (note != NULL)
		o = json_loads(note, 0, NULL);
	if (note != NULL && !json_is_object(o)) {
		json_decref(o);
		return worker_error(a, "agent_commit: the note is not a JSON "
		    "object");
	}
	json_decref(a->commit_note);
	a->commit_note = o;
	a->commit_replicas = replicas;
	a->commit_changing = changing;
	a->want_commit = 1;
	return 0;
}

int
agent_commit(struct agent *a, int replicas, const char *note)
{
	return worker_ask_commit(a, replicas, note, 0);
}

int
agent_commit_changing(struct agent *a, int replicas, const char *note)
{
	return worker_ask_commit(a, replicas, note, 1);
}

static int
worker_error(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->error, sizeof a->error, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
agent_last_error(struct agent *a)
{
	return a->error;
}

/* A frame that is not the answer awaited: handled at the next boundary,
 * in the order it came. */
static void
worker_defer(struct agent *a, struct frame *f)
{
	if (a->ndeferred == a->deferred_alloc) {
		a->deferred_alloc = a->deferred_alloc ? a->deferred_alloc * 2 : 8;
		a->deferred = xreallocarray(a->deferred, a->deferred_alloc,
		    sizeof *a->deferred);
	}
	a->deferred[a->ndeferred++] = f;
}

/*
 * The next frame from the daemon: one deferred while a spawn was answered
 * first, in order, else read (timeout_ms as client_read_frame). Every
 * loop that waits for the daemon reads through here, so a deferred "go"
 * or verdict is not waited for in vain.
 */
static int
worker_next_frame(struct agent *a, int timeout_ms, struct frame **f,
    char **cause)
{
	if (a->deferred_next < a->ndeferred) {
		*f = a->deferred[a->deferred_next++];
		if (a->deferred_next == a->ndeferred)
			a->deferred_next = a->ndeferred = 0;
		return 1;
	}
	return client_read_frame(a->cl, timeout_ms, f, cause);
}

/* Whether f is the answer awaited (worker_await). */
typedef int worker_match_fn(struct frame *f, const void *arg);

/*
 * The daemon's answer: the first frame match accepts, the others set
 * aside for the next boundary. 1 with *f, or 0 when none came within
 * wait_ms. A broken socket ends the worker.
 */
static int
worker_await_ms(struct agent *a, worker_match_fn *match, const void *arg,
    struct frame **f, uint64_t wait_ms)
{
	uint64_t t0 = clock_ms(), now;
	char *cause = NULL;
	int r;

	for (;;) {
		now = clock_ms();
		if (now - t0 >= wait_ms)
			return 0;
		r = client_read_frame(a->cl, (int)(wait_ms - (now - t0)), f,
		    &cause);
		if (r < 0) {
			fprintf(stderr, "agentd worker %s: %s\n", a->id, cause);
			_exit(1);
		}
		if (r > 0 && match(*f, arg))
			return 1;
		if (r > 0)
			worker_defer(a, *f);
	}
}

static int
worker_await(struct agent *a, worker_match_fn *match, const void *arg,
    struct frame **f)
{
	return worker_await_ms(a, match, arg, f, WORKER_SPAWN_WAIT_MS);
}

/* The frame's op is one of arg's (a NULL-terminated list). */
static int
worker_match_op(struct frame *f, const void *arg)
{
	const char *const *ops = arg;
	const char *op = json_string_value(json_object_get(f->meta, "op"));

	for (; op != NULL && *ops != NULL; ops++)
		if (strcmp(op, *ops) == 0)
			return 1;
	return 0;
}

/* "spawned" with the seq at arg. */
static int
worker_match_spawned(struct frame *f, const void *arg)
{
	static const char *const spawned[] = { "spawned", NULL };

	return worker_match_op(f, spawned) &&
	    (uint64_t)json_integer_value(json_object_get(f->meta, "seq")) ==
	    *(const uint64_t *)arg;
}

int
agent_spawn(struct agent *a, const char *code, const char *host,
    const char *args, char *id, size_t id_len)
{
	struct frame *f = NULL;
	const char *got;
	uint64_t seq;
	json_t *reply = NULL;
	int rc = -1;

	if (code == NULL || strlen(code) != 64 || id == NULL || id_len == 0)
		return worker_error(a, "agent_spawn: code must be a SHA-256 in "
		    "hex and id a buffer");
	seq = ++a->spawn_seq;
	worker_send(a, json_pack("{s:s, s:s, s:s, s:s, s:I}", "op", "spawn",
	    "code", code, "host", host != NULL ? host : "", "args",
	    args != NULL ? args : "{}", "seq", (json_int_t)seq), NULL, 0);
	if (!worker_await(a, worker_match_spawned, &seq, &f))
		return worker_error(a, "agent_spawn: no answer from the "
		    "daemon within %d s", WORKER_SPAWN_WAIT_MS / 1000);
	reply = json_incref(f->meta);
	frame_free(f);
	if ((got = json_string_value(json_object_get(reply, "agent"))) ==
	    NULL) {
		worker_error(a, "agent_spawn: %s", json_string_value(
		    json_object_get(reply, "error")) != NULL ?
		    json_string_value(json_object_get(reply, "error")) :
		    "refused");
		goto out;
	}
	if (strlen(got) >= id_len) {
		worker_error(a, "agent_spawn: the id %s does not fit in %zu "
		    "bytes", got, id_len);
		goto out;
	}
	snprintf(id, id_len, "%s", got);
	rc = 0;
out:
	json_decref(reply);
	return rc;
}

/* "data-mapped" with the seq at arg. */
static int
worker_match_mapped(struct frame *f, const void *arg)
{
	static const char *const mapped[] = { "data-mapped", NULL };

	return worker_match_op(f, mapped) &&
	    (uint64_t)json_integer_value(json_object_get(f->meta, "seq")) ==
	    *(const uint64_t *)arg;
}

/* n descriptors from the control socket, as the daemon sent them
 * (runner_send_fds); 0, or -1 with those received closed. */
static int
worker_recv_fds(int *fds, size_t n)
{
	char byte, ctl[CMSG_SPACE(64 * sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct pollfd pfd = { .fd = WORKER_CONTROL_FD, .events = POLLIN };
	struct cmsghdr *cm;
	struct msghdr msg;
	size_t got = 0, k, i;

	while (got < n) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof ctl;
		/* Sent before the answer: they are there already. */
		if (poll(&pfd, 1, 5000) != 1 || recvmsg(WORKER_CONTROL_FD,
		    &msg, MSG_CMSG_CLOEXEC) != 1 ||
		    (cm = CMSG_FIRSTHDR(&msg)) == NULL ||
		    cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len <
		    CMSG_LEN(sizeof(int)))
			break;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > n - got) {
			int extra;

			for (i = n - got; i < k; i++) {
				memcpy(&extra, CMSG_DATA(cm) + i * sizeof(int),
				    sizeof extra);
				close(extra);
			}
			k = n - got;
		}
		memcpy(fds + got, CMSG_DATA(cm), k * sizeof(int));
		got += k;
	}
	if (got == n)
		return 0;
	for (i = 0; i < got; i++)
		close(fds[i]);
	return -1;
}

static size_t
worker_page_up(size_t n)
{
	return (n + 4095) / 4096 * 4096;
}

/*
 * Maps the blocks' inputs side by side at x and their targets at y
 * (docs/data-cache.md, "Sets, tables, parts and blocks"): block i's rows
 * start at row i * block_rows, on a page boundary since block_rows is a
 * multiple of 1024.
 */
static int
worker_map_blocks(struct agent *a, const int *fds, size_t n, size_t rows,
    size_t in, size_t out, size_t block_rows, unsigned char *x,
    unsigned char *y)
{
	size_t i, r, xlen, ylen;
	struct stat sb;

	for (i = 0; i < n; i++) {
		r = rows - i * block_rows < block_rows ? rows - i * block_rows :
		    block_rows;
		xlen = r * in * sizeof (float);
		ylen = r * out * sizeof (float);
		/* A short memfd would fault when read: checked first. */
		if (fstat(fds[i], &sb) != 0 || (size_t)sb.st_size <
		    worker_page_up(xlen) + ylen)
			return worker_error(a, "agent_data_map: block %zu "
			    "holds %lld bytes, expected %zu", i,
			    (long long)sb.st_size, worker_page_up(xlen) +
			    ylen);
		if (mmap(x + i * block_rows * in * sizeof (float), xlen,
		    PROT_READ, MAP_SHARED | MAP_FIXED, fds[i], 0) ==
		    MAP_FAILED || mmap(y + i * block_rows * out *
		    sizeof (float), ylen, PROT_READ, MAP_SHARED | MAP_FIXED,
		    fds[i], (off_t)worker_page_up(xlen)) == MAP_FAILED)
			return worker_error(a, "agent_data_map: mmap: %s",
			    strerror(errno));
	}
	return 0;
}

int
agent_data_map(struct agent *a, const char *set, const char *table,
    int part, struct agent_data_part *out)
{
	struct frame *f = NULL;
	json_t *rep = NULL;
	uint64_t seq;
	json_int_t rows, in, nout, brows, parts, n = 0;
	size_t xlen = 0, ylen = 0;
	unsigned char *x = MAP_FAILED, *y = MAP_FAILED;
	int *fds = NULL, rc = -1;
	size_t i;

	if (set == NULL || table == NULL || out == NULL || part < 0)
		return worker_error(a, "agent_data_map: a set, a table, a part "
		    "and a result are needed");
	seq = ++a->spawn_seq;
	worker_send(a, json_pack("{s:s, s:s, s:s, s:i, s:I}", "op", "data-map",
	    "set", set, "table", table, "part", part, "seq", (json_int_t)seq),
	    NULL, 0);
	if (!worker_await_ms(a, worker_match_mapped, &seq, &f,
	    WORKER_DATA_WAIT_MS))
		return worker_error(a, "agent_data_map: no answer from the "
		    "daemon within %d s", WORKER_DATA_WAIT_MS / 1000);
	rep = json_incref(f->meta);
	frame_free(f);
	if (json_string_value(json_object_get(rep, "error")) != NULL) {
		worker_error(a, "%s", json_string_value(json_object_get(rep,
		    "error")));
		goto out;
	}
	rows = json_integer_value(json_object_get(rep, "rows"));
	in = json_integer_value(json_object_get(rep, "in"));
	nout = json_integer_value(json_object_get(rep, "out"));
	brows = json_integer_value(json_object_get(rep, "block_rows"));
	parts = json_integer_value(json_object_get(rep, "parts"));
	n = json_integer_value(json_object_get(rep, "blocks"));
	if (rows < 1 || in < 1 || nout < 1 || brows < 1024 || brows % 1024 ||
	    n != (rows + brows - 1) / brows || parts < 1 ||
	    in > (1 << 20) || nout > (1 << 20) || rows > ((json_int_t)1 << 31)) {
		worker_error(a, "agent_data_map: the daemon's answer is not "
		    "a part's layout");
		goto out;
	}
	fds = xcalloc((size_t)n, sizeof *fds);
	if (worker_recv_fds(fds, (size_t)n) != 0) {
		free(fds);
		fds = NULL;
		worker_error(a, "agent_data_map: the daemon sent fewer blocks "
		    "than it said");
		goto out;
	}
	/* Address space for the whole part, then the blocks over it. */
	xlen = worker_page_up((size_t)rows * (size_t)in * sizeof (float));
	ylen = worker_page_up((size_t)rows * (size_t)nout * sizeof (float));
	x = mmap(NULL, xlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	y = mmap(NULL, ylen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x == MAP_FAILED || y == MAP_FAILED) {
		worker_error(a, "agent_data_map: cannot reserve %zu bytes: %s",
		    xlen + ylen, strerror(errno));
		goto out;
	}
	if (worker_map_blocks(a, fds, (size_t)n, (size_t)rows, (size_t)in,
	    (size_t)nout, (size_t)brows, x, y) != 0)
		goto out;
	out->rows = (size_t)rows;
	out->in = (int)in;
	out->out = (int)nout;
	out->parts = (int)parts;
	out->x = (const float *)(void *)x;
	out->y = (const float *)(void *)y;
	/* Mapped for the life of the process, as agent.h says. */
	x = y = MAP_FAILED;
	rc = 0;
out:
	if (x != MAP_FAILED)
		munmap(x, xlen);
	if (y != MAP_FAILED)
		munmap(y, ylen);
	for (i = 0; fds != NULL && i < (size_t)n; i++)
		close(fds[i]);
	free(fds);
	json_decref(rep);
	return rc;
}

int
agent_metrics(struct agent *a, const char *json)
{
	json_t *o = json_loads(json != NULL ? json : "", 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	worker_send(a, json_pack("{s:s, s:I, s:o}", "op", "metrics", "step",
	    (json_int_t)a->steps, "metrics", o), NULL, 0);
	return 0;
}

int
agent_result(struct agent *a, const void *data, size_t len)
{
	void *copy;

	if (len > AGENT_RESULT_MAX || (len > 0 && data == NULL))
		return -1;
	copy = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(copy, data, len);
	free(a->result);
	a->result = copy;
	a->result_len = len;
	return 0;
}

void
agent_progress(struct agent *a, double fraction, const char *status)
{
	long t = (long)clock_ms();

	/* Throttled: progress is for people and schedulers, not a log. */
	if (t - a->last_progress < PROGRESS_EVERY_MS && fraction < 1.0)
		return;
	a->last_progress = t;
	worker_send(a, json_pack("{s:s, s:I, s:f, s:s}", "op", "progress",
	    "step", (json_int_t)a->steps, "fraction", fraction, "status",
	    status != NULL ? status : ""), NULL, 0);
}

void
agent_log(struct agent *a, int level, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	if (level == AGENT_LOG_ERROR)
		snprintf(a->logged, sizeof a->logged, "%s", text);
	worker_send(a, json_pack("{s:s, s:i, s:s}", "op", "log", "level",
	    level, "text", text), NULL, 0);
	free(text);
}

int
agent_host_info(struct agent *a, struct agent_host_info *info)
{
	*info = a->host;
	return 0;
}

const char *
agent_host_address(struct agent *a)
{
	return a->host_address;
}

static void
host_from_json(struct agent *a, json_t *h)
{
	if (!json_is_object(h))
		return;
	snprintf(a->host.name, sizeof a->host.name, "%s",
	    json_string_value(json_object_get(h, "name")) != NULL ?
	    json_string_value(json_object_get(h, "name")) : "");
	snprintf(a->host_address, sizeof a->host_address, "%s",
	    json_string_value(json_object_get(h, "address")) != NULL ?
	    json_string_value(json_object_get(h, "address")) : "");
	a->host.cores = (int)json_integer_value(json_object_get(h, "cores"));
	a->host.mem_bytes = (uint64_t)json_integer_value(json_object_get(h,
	    "mem_bytes"));
	a->host.load = json_number_value(json_object_get(h, "load"));
	a->host.gpus = (int)json_integer_value(json_object_get(h, "gpus"));
	a->host.agents = (int)json_integer_value(json_object_get(h,
	    "agents"));
}

/* At most this many pieces in a state the daemon reads from our memory. */
#define WORKER_IOV_MAX	4096

/*
 * A packed agent: the encoding in b refers to the sections where they are
 * (the agent's memory, st's copies) until both are freed, which must come
 * before the agent runs again.
 */
struct packed {
	struct agent_state	*st;
	struct evbuffer		*b;
};

static void
packed_free(struct packed *p)
{
	if (p->b != NULL)
		evbuffer_free(p->b);
	agent_state_free(p->st);
	p->b = NULL;
	p->st = NULL;
}

/* Packs the agent's sections into p->st, not yet encoded; 0 or -1 with
 * cause. */
static int
worker_pack_state(struct agent *a, struct packed *p, char **cause)
{
	p->st = agent_state_new();
	if ((p->b = evbuffer_new()) == NULL)
		fatal("out of memory for an evbuffer");
	if (a->entry->pack == NULL || a->entry->pack(a, p->st) != 0) {
		nn_fail(cause, "pack failed%s%s", agent_state_cause(p->st) !=
		    NULL ? ": " : "", agent_state_cause(p->st) != NULL ?
		    agent_state_cause(p->st) : "");
		packed_free(p);
		return -1;
	}
	return 0;
}

/* Packs the agent into p. 0, or -1 with cause when the pack failed. */
static int
worker_pack(struct agent *a, struct packed *p, char **cause)
{
	if (worker_pack_state(a, p, cause) != 0)
		return -1;
	if (agent_state_encode_ref(p->st, p->b) != 0)
		fatal("out of memory encoding a state");
	return 0;
}

/* Sends meta (taken) with the packed state b as its payload. */
static void
worker_send_state(struct agent *a, json_t *meta, struct evbuffer *b)
{
	char *cause = NULL;

	if (client_send_frame_buffer(a->cl, FRAME_AGENT, meta, b,
	    &cause) != 0) {
		fprintf(stderr, "agentd worker %s: %s\n", a->id, cause);
		_exit(1);
	}
	json_decref(meta);
}

/*
 * Where the daemon can read a large packed state from our memory
 * (process_vm_readv): [[address, length], ...] in order, or NULL when it
 * is small or in too many pieces, and goes through the socket instead.
 */
static json_t *
worker_state_iov(struct evbuffer *b)
{
	struct evbuffer_iovec *v;
	json_t *iov;
	int i, n;

	if (evbuffer_get_length(b) < FRAME_DIRECT)
		return NULL;
	n = evbuffer_peek(b, -1, NULL, NULL, 0);
	if (n <= 0 || n > WORKER_IOV_MAX)
		return NULL;
	v = xcalloc((size_t)n, sizeof *v);
	n = evbuffer_peek(b, -1, NULL, v, n);
	iov = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(iov, json_pack("[I, I]",
		    (json_int_t)(uintptr_t)v[i].iov_base,
		    (json_int_t)v[i].iov_len));
	free(v);
	return iov;
}

static void
worker_finish(struct agent *a, int status)
{
	if (a->entry != NULL && a->entry->stop != NULL)
		a->entry->stop(a);
	json_decref(a->commit_note);
	json_decref(a->commit_static);
	json_decref(a->commit_last_note);
	if (a->kept_mapped)
		munmap(a->kept, a->kept_len);
	else
		bigbuf_free(a->kept);
	client_free(a->cl);
	exit(status);
}

/* Packs a copy for host ("": the daemon picks) and hands it over; a pack
 * that fails is reported as the clone's failure. */
static void
worker_clone(struct agent *a, const char *host)
{
	struct packed p;
	char *cause = NULL;

	if (worker_pack(a, &p, &cause) != 0) {
		worker_send(a, json_pack("{s:s, s:s, s:s}", "op", "clone",
		    "host", host, "error", cause), NULL, 0);
		free(cause);
		return;
	}
	worker_send_state(a, json_pack("{s:s, s:s, s:I}", "op", "clone",
	    "host", host, "step", (json_int_t)a->steps), p.b);
	packed_free(&p);
}

/* The names of st's static sections, in order. */
static json_t *
worker_static_names(const struct agent_state *st)
{
	json_t *names = json_array();
	const char *name;
	size_t i;

	for (i = 0; i < agent_state_count(st); i++) {
		if (agent_state_is_static(st, i) &&
		    agent_state_section(st, i, &name, NULL) != NULL)
			json_array_append_new(names, json_string(name));
	}
	return names;
}

/*
 * Hands a commit (meta, taken, with the packed state b) to the daemon. A
 * large one is read from our memory, as a move's is (state_iov), while we
 * wait for "commit-read": nothing goes through the socket, and what lies
 * in the state buffer we kept is not copied at all. "send-state" (our
 * memory cannot be read) sends the bytes after all. A daemon that answers
 * neither within WORKER_SPAWN_WAIT_MS could still be reading: we end.
 */
static void
worker_commit_send(struct agent *a, json_t *meta, struct evbuffer *b)
{
	static const char *const answers[] = { "commit-read", "send-state",
	    NULL };
	json_t *iov = worker_state_iov(b);
	struct frame *f = NULL;
	const char *op;

	if (iov == NULL) {
		worker_send_state(a, meta, b);
		return;
	}
	json_object_set_new(meta, "state_iov", iov);
	json_object_set_new(meta, "state_len", json_integer((json_int_t)
	    evbuffer_get_length(b)));
	worker_send(a, json_incref(meta), NULL, 0);
	if (!worker_await(a, worker_match_op, answers, &f)) {
		fprintf(stderr, "agentd worker %s: the daemon did not take the "
		    "commit within %d s\n", a->id, WORKER_SPAWN_WAIT_MS / 1000);
		_exit(1);
	}
	op = json_string_value(json_object_get(f->meta, "op"));
	if (strcmp(op, "send-state") == 0) {
		json_object_del(meta, "state_iov");
		json_object_del(meta, "state_len");
		worker_send_state(a, meta, b);
	} else
		json_decref(meta);
	frame_free(f);
}

/*
 * Packs the agent as its commit and hands it to the daemon, which sends it
 * to other hosts; a pack that fails is reported as the commit's failure.
 * Once the holders have this run's static sections, and while they are the
 * same ones, the commit is a delta without them.
 */
static void
worker_commit(struct agent *a)
{
	struct packed p;
	char *cause = NULL;
	json_t *note = a->commit_note != NULL ? a->commit_note : json_object();
	json_t *names = NULL, *meta;
	double t0 = nn_clock_s();
	int delta;

	a->commit_note = NULL;
	if (worker_pack_state(a, &p, &cause) != 0) {
		worker_send(a, json_pack("{s:s, s:s}", "op", "commit", "error",
		    cause), NULL, 0);
		free(cause);
		json_decref(note);
		return;
	}
	names = worker_static_names(p.st);
	delta = json_array_size(names) > 0 && a->commit_bases &&
	    json_equal(names, a->commit_static);
	if ((delta || a->commit_changing ? agent_state_encode_delta(p.st,
	    p.b) : agent_state_encode_ref(p.st, p.b)) != 0)
		fatal("out of memory encoding a state");
	json_decref(a->commit_last_note);
	a->commit_last_note = json_deep_copy(note);
	meta = json_pack("{s:s, s:i, s:o, s:I, s:s, s:I}", "op", "commit",
	    "replicas", a->commit_replicas, "note", note, "step",
	    (json_int_t)a->steps, "series", a->commit_series, "seq",
	    (json_int_t)++a->commit_seq);
	if (a->commit_changing) {
		/* Nothing for later deltas to build on. */
		json_object_set_new(meta, "series", json_string(""));
		json_object_set_new(meta, "partial", json_incref(names));
	} else if (delta)
		json_object_set_new(meta, "static", json_incref(names));
	else {
		if (a->commit_full_seq == 0 && json_array_size(names) > 0)
			a->commit_oneoff_seq = a->commit_seq;
		a->commit_full_seq = a->commit_seq;
		a->commit_bases = 0;
		json_decref(a->commit_static);
		a->commit_static = json_incref(names);
	}
	worker_commit_send(a, meta, p.b);
	packed_free(&p);
	json_decref(names);
	a->commit_done = nn_clock_s();
	a->commit_cost = a->commit_oneoff_seq == a->commit_seq ? 0 :
	    a->commit_done - t0;
}

/* A control frame's handler: 1 if the agent must end. */
typedef int worker_control_fn(struct agent *, struct frame *);

/*
 * The daemon's side of the last commit: its cost spaces the next. bases:
 * every holder keeps that full commit, so later ones may be deltas; again:
 * a delta was not kept for want of its base, so a full commit follows at
 * the next step boundary.
 */
static int
worker_ctl_committed(struct agent *a, struct frame *f)
{
	json_t *ms = json_object_get(f->meta, "ms");
	json_int_t seq = json_integer_value(json_object_get(f->meta, "seq"));

	if (json_is_integer(ms) && json_integer_value(ms) > 0 &&
	    (uint64_t)seq != a->commit_oneoff_seq)
		a->commit_cost += (double)json_integer_value(ms) / 1000.0;
	if (json_is_true(json_object_get(f->meta, "bases")) && seq > 0 &&
	    (uint64_t)seq == a->commit_full_seq)
		a->commit_bases = 1;
	if (json_is_true(json_object_get(f->meta, "again"))) {
		a->commit_bases = 0;
		if (!a->want_commit && a->commit_last_note != NULL) {
			a->commit_note = json_incref(a->commit_last_note);
			a->want_commit = 1;
		}
	}
	return 0;
}

static int
worker_ctl_message(struct agent *a, struct frame *f)
{
	const char *from = json_string_value(json_object_get(f->meta, "from"));

	if (a->entry->message != NULL)
		a->entry->message(a, from != NULL ? from : "?", f->payload,
		    (size_t)f->payload_len);
	return 0;
}

static int
worker_ctl_suspend(struct agent *a, struct frame *f)
{
	(void)f;
	a->suspended = 1;
	worker_send(a, json_pack("{s:s}", "op", "suspended"), NULL, 0);
	return 0;
}

static int
worker_ctl_resume(struct agent *a, struct frame *f)
{
	(void)f;
	a->suspended = 0;
	worker_send(a, json_pack("{s:s}", "op", "resumed"), NULL, 0);
	return 0;
}

static int
worker_ctl_migrate(struct agent *a, struct frame *f)
{
	const char *host = json_string_value(json_object_get(f->meta, "host"));

	if (host != NULL)
		agent_migrate(a, host);
	return 0;
}

/* Each clone order makes one copy, now: this is a step boundary. */
static int
worker_ctl_clone(struct agent *a, struct frame *f)
{
	const char *host = json_string_value(json_object_get(f->meta, "host"));

	worker_clone(a, host != NULL ? host : "");
	return 0;
}

static int
worker_ctl_host(struct agent *a, struct frame *f)
{
	host_from_json(a, json_object_get(f->meta, "host"));
	return 0;
}

static int
worker_ctl_stop(struct agent *a, struct frame *f)
{
	(void)a;
	(void)f;
	return 1;
}

/* The control frames the daemon sends a running agent, by name. */
static const struct worker_control_entry {
	const char		*name;
	worker_control_fn	*fn;
} worker_controls[] = {
	{ "clone", worker_ctl_clone },
	{ "committed", worker_ctl_committed },
	{ "host", worker_ctl_host },
	{ "kill", worker_ctl_stop },
	{ "message", worker_ctl_message },
	{ "migrate", worker_ctl_migrate },
	{ "resume", worker_ctl_resume },
	{ "suspend", worker_ctl_suspend },
};

/* One control frame from the daemon. Returns 1 if the agent must end; an
 * unknown op is ignored. */
static int
worker_control(struct agent *a, struct frame *f)
{
	const char *op = json_string_value(json_object_get(f->meta, "op"));
	const struct worker_control_entry *e = TABLE_FIND(worker_controls, op);

	return e != NULL ? e->fn(a, f) : 0;
}

/* What a frame that arrives while the agent is packed leaves it to do. */
enum worker_verdict {
	WORKER_WAIT,		/* the verdict is still to come */
	WORKER_DROP,		/* the copy elsewhere took over: end */
	WORKER_ABORT,		/* the move failed: carry on here */
};
typedef enum worker_verdict worker_moving_fn(struct agent *, struct frame *,
    struct packed *);

/* Sent before the daemon knew we were packed: not ours to read any more,
 * so it goes back with the state. */
static enum worker_verdict
worker_moving_message(struct agent *a, struct frame *f, struct packed *p)
{
	(void)p;
	worker_send(a, json_pack("{s:s, s:O, s:O}", "op", "unread", "from",
	    json_object_get(f->meta, "from"), "seq", json_object_get(f->meta,
	    "seq")), f->payload, f->payload_len);
	return WORKER_WAIT;
}

/* The daemon could not read the state from our memory: send the bytes. */
static enum worker_verdict
worker_moving_send_state(struct agent *a, struct frame *f, struct packed *p)
{
	(void)f;
	if (p->b != NULL) {
		worker_send_state(a, json_pack("{s:s}", "op", "state"), p->b);
		packed_free(p);
	}
	return WORKER_WAIT;
}

static enum worker_verdict
worker_moving_sync(struct agent *a, struct frame *f, struct packed *p)
{
	(void)f;
	(void)p;
	worker_send(a, json_pack("{s:s}", "op", "synced"), NULL, 0);
	return WORKER_WAIT;
}

static enum worker_verdict
worker_moving_drop(struct agent *a, struct frame *f, struct packed *p)
{
	(void)a;
	(void)f;
	(void)p;
	return WORKER_DROP;
}

static enum worker_verdict
worker_moving_abort(struct agent *a, struct frame *f, struct packed *p)
{
	(void)a;
	(void)f;
	(void)p;
	return WORKER_ABORT;
}

/*
 * An order the daemon sent before it knew we had packed: applied now, it
 * would change a state that is being read or is already elsewhere. It
 * goes back, and the daemon applies it where the move ends.
 */
static enum worker_verdict
worker_moving_order(struct agent *a, struct frame *f, struct packed *p)
{
	(void)p;
	worker_send(a, json_pack("{s:s, s:O, s:O}", "op", "unread-order",
	    "order", json_object_get(f->meta, "op"), "host",
	    json_object_get(f->meta, "host") != NULL ?
	    json_object_get(f->meta, "host") : json_null()), NULL, 0);
	return WORKER_WAIT;
}

/* The frames of a move in progress, by name; others are control frames. */
static const struct worker_moving_entry {
	const char		*name;
	worker_moving_fn	*fn;
} worker_movings[] = {
	{ "clone", worker_moving_order },
	{ "drop", worker_moving_drop },
	{ "kill", worker_moving_order },
	{ "message", worker_moving_message },
	{ "migrate", worker_moving_order },
	{ "move-abort", worker_moving_abort },
	{ "resume", worker_moving_order },
	{ "send-state", worker_moving_send_state },
	{ "suspend", worker_moving_order },
	{ "sync", worker_moving_sync },
};

/* One frame while the agent waits for its move's verdict. */
static enum worker_verdict
worker_moving_frame(struct agent *a, struct frame *f, struct packed *p)
{
	const char *op = json_string_value(json_object_get(f->meta, "op"));
	const struct worker_moving_entry *e = TABLE_FIND(worker_movings, op);

	if (e != NULL)
		return e->fn(a, f, p);
	return worker_control(a, f) ? WORKER_DROP : WORKER_WAIT;
}

/*
 * Packs and hands the state to the daemon, then waits for its verdict:
 * "drop" (the copy elsewhere took over) or "move-abort" (carry on here). A
 * large state stays in our memory, unchanged until the verdict, and the
 * daemon reads it from there; should it fail to, it asks for the bytes
 * ("send-state").
 */
static void
worker_move(struct agent *a)
{
	struct packed p;
	struct frame *f = NULL;
	char *cause = NULL;
	json_t *meta, *iov;
	enum worker_verdict verdict;

	a->want_move = 0;
	if (worker_pack(a, &p, &cause) != 0) {
		agent_log(a, AGENT_LOG_ERROR, "cannot move: %s", cause);
		free(cause);
		return;
	}
	meta = json_pack("{s:s, s:s, s:I, s:b}", "op", "moving", "host",
	    a->move_to, "step", (json_int_t)a->steps, "suspended",
	    a->suspended);
	if ((iov = worker_state_iov(p.b)) != NULL) {
		json_object_set_new(meta, "state_iov", iov);
		json_object_set_new(meta, "state_len", json_integer(
		    (json_int_t)evbuffer_get_length(p.b)));
		worker_send(a, meta, NULL, 0);
	} else {
		worker_send_state(a, meta, p.b);
		packed_free(&p);
	}
	for (;;) {
		if (worker_next_frame(a, -1, &f, &cause) <= 0) {
			fprintf(stderr, "agentd worker %s: %s\n", a->id,
			    cause != NULL ? cause : "daemon gone");
			_exit(1);
		}
		verdict = worker_moving_frame(a, f, &p);
		frame_free(f);
		if (verdict == WORKER_ABORT) {
			packed_free(&p);
			return;
		}
		if (verdict == WORKER_DROP) {
			packed_free(&p);
			worker_finish(a, 0);
		}
	}
}

/*
 * The state the daemon left in a memfd for us (the load frame's state_fd
 * and state_len): mapped, and the descriptor closed. *map stays NULL when
 * the state came in the frame.
 */
static int
worker_map_state(struct frame *f, unsigned char **map, size_t *len,
    char **cause)
{
	json_t *fd = json_object_get(f->meta, "state_fd");
	json_t *n = json_object_get(f->meta, "state_len");
	struct stat sb;
	void *p;
	int rc = -1;

	*map = NULL;
	*len = 0;
	if (fd == NULL)
		return 0;
	if (!json_is_integer(fd) || json_integer_value(fd) != 4 ||
	    !json_is_integer(n) || json_integer_value(n) <= 0 ||
	    (uint64_t)json_integer_value(n) > AGENT_STATE_MAX_SIZE) {
		nn_fail(cause, "load frame: state_fd must be 4 and state_len "
		    "1 to %llu", (unsigned long long)AGENT_STATE_MAX_SIZE);
		goto out;
	}
	if (fstat(4, &sb) != 0 || (uint64_t)sb.st_size <
	    (uint64_t)json_integer_value(n)) {
		nn_fail(cause, "load frame: the state's memfd holds fewer "
		    "than %lld bytes", (long long)json_integer_value(n));
		goto out;
	}
	/* Populated at once: the daemon's pages are there already. The
	 * agent may keep and write them (agent_state_keep); a process it
	 * forks does not inherit them. */
	p = mmap(NULL, (size_t)json_integer_value(n), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, 4, 0);
	if (p == MAP_FAILED) {
		nn_fail(cause, "cannot map the state: %s", strerror(errno));
		goto out;
	}
	(void)madvise(p, (size_t)json_integer_value(n), MADV_DONTFORK);
	*map = p;
	*len = (size_t)json_integer_value(n);
	rc = 0;
out:
	close(4);
	return rc;
}

/* Loads the code and starts the agent, or unpacks it from the state at
 * state (len bytes; NULL: none). *kept: the agent kept sections of it. */
static int
worker_load_code(struct agent *a, const char *path, const char *args,
    const unsigned char *state, size_t len, int *kept, char **cause)
{
	struct agent_state *st = NULL;
	void *h;
	int rc;

	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return nn_fail(cause, "cannot load the agent's code: %s",
		    dlerror());
	a->entry = dlsym(h, "agent_entry");
	if (a->entry == NULL)
		return nn_fail(cause, "the code exports no agent_entry");
	if (a->entry->abi != AGENT_ABI || a->entry->name == NULL ||
	    a->entry->step == NULL || a->entry->start == NULL) {
		a->entry = NULL;
		return nn_fail(cause, "agent_entry has ABI %d, a missing name, "
		    "start or step (expected ABI %d)", a->entry != NULL ?
		    a->entry->abi : -1, AGENT_ABI);
	}
	if (state != NULL) {
		if (a->entry->unpack == NULL)
			return nn_fail(cause, "%s cannot unpack state",
			    a->entry->name);
		if (agent_state_decode(state, len, &st, cause) != 0)
			return -1;
		rc = a->entry->unpack(a, st);
		*kept = agent_state_kept(st);
		agent_state_free(st);
		if (rc != 0)
			return nn_fail(cause, "%s: unpack failed%s%s",
			    a->entry->name, a->logged[0] != '\0' ? ": " : "",
			    a->logged);
		return 0;
	}
	if (a->entry->start(a, args != NULL ? args : "{}") != 0)
		return nn_fail(cause, "%s: start failed%s%s", a->entry->name,
		    a->logged[0] != '\0' ? ": " : "", a->logged);
	return 0;
}

/*
 * The code's sealed memfd, which the daemon sent on fd 5 before the load
 * frame; fd 5 stays open for the data the agent maps. The descriptor, or
 * -1 with cause.
 */
static int
worker_code_fd(char **cause)
{
	char byte, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct pollfd pfd = { .fd = WORKER_CONTROL_FD, .events = POLLIN };
	struct cmsghdr *cm;
	struct msghdr msg;
	int fd = -1;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof ctl;
	/* Sent before the load frame: a moment's wait is plenty. */
	if (poll(&pfd, 1, 5000) == 1 && recvmsg(WORKER_CONTROL_FD, &msg,
	    MSG_CMSG_CLOEXEC) == 1 && (cm = CMSG_FIRSTHDR(&msg)) != NULL &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	if (fd < 0)
		return nn_fail(cause, "the daemon sent no code");
	return fd;
}

/*
 * Loads the code and starts or unpacks the agent, as the load frame says.
 * What backs sections the agent kept stays for the life of the process.
 */
static int
worker_load(struct agent *a, struct frame *f, char **cause)
{
	const char *id, *args;
	unsigned char *map = NULL;
	size_t map_len = 0;
	struct timespec now;
	char path[64];
	int rc, kept = 0, code;

	id = json_string_value(json_object_get(f->meta, "agent"));
	args = json_string_value(json_object_get(f->meta, "args"));
	if (id == NULL)
		return nn_fail(cause, "load frame lacks agent");
	snprintf(a->id, sizeof a->id, "%s", id);
	/* This process's run: static sections are the same all through it. */
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(a->commit_series, sizeof a->commit_series, "%s.%ld.%lld.%ld",
	    id, (long)getpid(), (long long)now.tv_sec, now.tv_nsec);
	a->steps = (uint64_t)json_integer_value(json_object_get(f->meta,
	    "step"));
	host_from_json(a, json_object_get(f->meta, "host"));
	/* Mapped and the descriptor closed before the agent's code loads:
	 * on "prepare", while the state arrived, or now. */
	if (a->premap != NULL) {
		map = a->premap;
		map_len = a->premap_len;
		a->premap = NULL;
		if ((uint64_t)json_integer_value(json_object_get(f->meta,
		    "state_len")) != map_len) {
			munmap(map, map_len);
			return nn_fail(cause, "load frame: state_len differs "
			    "from the prepared state's %zu bytes", map_len);
		}
	} else if (worker_map_state(f, &map, &map_len, cause) != 0)
		return -1;
	/* Confined before any of the agent's code runs: dlopen runs its
	 * constructors. The code is the memfd the daemon checked. */
	if ((code = worker_code_fd(cause)) < 0 ||
	    sandbox_enter(json_object_get(f->meta, "sandbox"), &a->landlock,
	    cause) != 0) {
		if (code >= 0)
			close(code);
		if (map != NULL)
			munmap(map, map_len);
		return -1;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", code);
	if (map != NULL)
		rc = worker_load_code(a, path, args, map, map_len, &kept,
		    cause);
	else
		rc = worker_load_code(a, path, args, f->payload_len > 0 ?
		    f->payload : NULL, (size_t)f->payload_len, &kept, cause);
	if (rc == 0 && kept && map != NULL) {
		a->kept = map;
		a->kept_len = map_len;
		a->kept_mapped = 1;
	} else if (rc == 0 && kept) {
		a->kept = f->payload;
		a->kept_len = (size_t)f->payload_len;
		f->payload = NULL;
	} else if (map != NULL)
		munmap(map, map_len);
	close(code);
	return rc;
}

int
worker_main(int fd)
{
	static const unsigned char zero[FRAME_KEY_SIZE];
	struct agent a;
	struct frame *f = NULL;
	const char *op;
	char *cause = NULL;
	int r, hold;

	memset(&a, 0, sizeof a);
	snprintf(a.id, sizeof a.id, "?");
	/* A program the agent runs must not hold the daemon's socket: the
	 * daemon's verdict on this worker waits for that socket's end. */
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* The socketpair never leaves this host: the zero key suffices. */
	if ((a.cl = client_attach(fd, zero, "worker", "worker", &cause)) ==
	    NULL) {
		fprintf(stderr, "agentd worker: %s\n", cause);
		return 1;
	}
	/* Started while its state arrives: "prepare" maps it, then the
	 * load frame follows. */
	for (;;) {
		if (client_read_frame(a.cl, -1, &f, &cause) <= 0) {
			fprintf(stderr, "agentd worker: %s\n", cause != NULL ?
			    cause : "no load frame");
			return 1;
		}
		op = json_string_value(json_object_get(f->meta, "op"));
		if (a.premap != NULL || op == NULL ||
		    strcmp(op, "prepare") != 0)
			break;
		if (worker_map_state(f, &a.premap, &a.premap_len, &cause) !=
		    0 || a.premap == NULL) {
			fprintf(stderr, "agentd worker: %s\n", cause != NULL ?
			    cause : "prepare frame without a state");
			return 1;
		}
		frame_free(f);
	}
	if (worker_load(&a, f, &cause) != 0) {
		frame_free(f);
		worker_send(&a, json_pack("{s:s, s:s}", "op", "failed",
		    "error", cause), NULL, 0);
		a.entry = NULL;
		worker_finish(&a, 1);
	}
	hold = json_is_true(json_object_get(f->meta, "hold"));
	/* It arrives as it left: a suspended agent stays suspended. */
	a.suspended = json_is_true(json_object_get(f->meta, "suspended"));
	frame_free(f);
	/* A state the agent keeps stays lent to us until we end. */
	worker_send(&a, json_pack("{s:s, s:s, s:b, s:I, s:i}", "op", "started",
	    "type", a.entry->name, "kept", a.kept_mapped, "kept_at",
	    (json_int_t)(a.kept_mapped ? (uintptr_t)a.kept : 0), "landlock",
	    a.landlock), NULL, 0);
	/* An arriving agent waits, unpacked, until its move commits. */
	while (hold) {
		if (worker_next_frame(&a, -1, &f, &cause) <= 0) {
			fprintf(stderr, "agentd worker %s: %s\n", a.id,
			    cause != NULL ? cause : "daemon gone");
			_exit(1);
		}
		if (json_string_value(json_object_get(f->meta, "op")) != NULL &&
		    strcmp(json_string_value(json_object_get(f->meta, "op")),
		    "go") == 0)
			hold = 0;
		else if (worker_control(&a, f)) {
			frame_free(f);
			worker_finish(&a, 0);
		}
		frame_free(f);
	}
	for (;;) {
		/* Control frames first: between steps is the safe point. A
		 * suspended agent waits for them, unless it has a move or a
		 * clone to make: it may do both while suspended. */
		while ((r = worker_next_frame(&a, a.suspended &&
		    !a.want_move && !a.want_clone ? -1 : 0, &f, &cause)) > 0) {
			if (worker_control(&a, f)) {
				frame_free(f);
				worker_finish(&a, 0);
			}
			frame_free(f);
		}
		if (r < 0) {
			fprintf(stderr, "agentd worker %s: %s\n", a.id, cause);
			_exit(1);
		}
		if (a.want_clone) {
			a.want_clone = 0;
			worker_clone(&a, a.clone_to);
		}
		if (a.want_commit) {
			a.want_commit = 0;
			worker_commit(&a);
		}
		if (a.want_move)
			worker_move(&a);
		if (a.suspended)
			continue;
		r = a.entry->step(&a);
		a.steps++;
		if (r == AGENT_DONE) {
			worker_send(&a, json_pack("{s:s, s:I}", "op", "done",
			    "step", (json_int_t)a.steps), a.result,
			    a.result_len);
			worker_finish(&a, 0);
		}
		if (r != AGENT_CONTINUE) {
			cause = xasprintf("the agent's step returned "
			    "failure%s%s", a.logged[0] != '\0' ? ": " : "",
			    a.logged);
			worker_send(&a, json_pack("{s:s, s:s}", "op", "failed",
			    "error", cause), NULL, 0);
			worker_finish(&a, 1);
		}
	}
}
