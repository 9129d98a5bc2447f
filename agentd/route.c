/* The daemon's message routing: exactly once and in order across moves and
 * broken links, and the agent frames daemons send each other. */
#include <string.h>

#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/log.h"
#include "agentd/outbox.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/table.h"

/* Tells the daemon that answers for a message that it arrived. */
static void
daemon_ack(struct daemon *d, const char *origin, const char *to,
    const char *from, uint64_t seq)
{
	struct link *l;
	json_t *m;

	if (origin == NULL)
		return;
	if (strcmp(origin, d->cfg.name) == 0) {
		(void)outbox_ack(d->outbox, to, from, seq);
		return;
	}
	/* Lost with the link: the origin sends it again, and we answer the
	 * copy. */
	if ((l = link_of_peer(d, origin)) == NULL)
		return;
	m = json_pack("{s:s, s:s, s:s, s:I}", "op", "msg-ack", "agent", to,
	    "from", from, "seq", (json_int_t)seq);
	conn_send(l->conn, FRAME_AGENT, m, NULL, 0);
	json_decref(m);
}

/* The link to the host agent is on now (named in host), or NULL. */
static struct link *
daemon_route_link(struct daemon *d, const char *agent, char *host,
    size_t len)
{
	agent_host(d, agent, host, len);
	if (host[0] == '\0' || strcmp(host, d->cfg.name) == 0)
		return NULL;
	return link_of_peer(d, host);
}

/* Whether a message to agent can leave for the host it is on now. */
int
daemon_has_route(struct daemon *d, const char *agent)
{
	char host[64];

	return daemon_route_link(d, agent, host, sizeof host) != NULL;
}

/*
 * Passes message seq from sender to agent on to the host the agent is on,
 * naming origin, the daemon that answers for it. -1: no route now.
 */
static int
daemon_route_on(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const char *origin, const void *data, uint64_t len)
{
	char host[64];
	struct link *l;
	json_t *m;

	if ((l = daemon_route_link(d, to, host, sizeof host)) == NULL) {
		log_debug("message %s#%llu to %s: no route now (host %s)",
		    from, (unsigned long long)seq, to, host[0] != '\0' ?
		    host : "?");
		return -1;
	}
	m = json_pack("{s:s, s:s, s:s, s:I}", "op", "msg", "agent", to, "from",
	    from, "seq", (json_int_t)seq);
	if (origin != NULL)
		json_object_set_new(m, "origin", json_string(origin));
	conn_send(l->conn, FRAME_AGENT, m, data, len);
	json_decref(m);
	return 0;
}

/*
 * A message that arrived from a peer: delivered (and acknowledged) here if
 * the agent runs here, else passed on. Numbers make delivery exactly-once
 * and ordered however the routes change while the agent moves; the origin
 * sends again what a broken link lost.
 */
static void
daemon_route(struct daemon *d, const char *to, const char *from, uint64_t seq,
    const char *origin, const void *data, uint64_t len)
{
	if (runner_deliver(d->runner, to, from, seq, data, len) == 0)
		daemon_ack(d, origin, to, from, seq);
	else
		(void)daemon_route_on(d, to, from, seq, origin, data, len);
}

/*
 * Keeps a message this daemon answers for until the receiving daemon
 * acknowledges it, and sends it; daemon_tick_cb sends it again until
 * then. -1 when the outbox is full.
 */
int
daemon_keep(struct daemon *d, const char *to, const char *from, uint64_t seq,
    const void *data, uint64_t len, char **cause)
{
	if (outbox_add(d->outbox, to, from, seq, data, (size_t)len, clock_ms(),
	    cause) != 0)
		return -1;
	(void)daemon_route_on(d, to, from, seq, d->cfg.name, data, len);
	return 0;
}

/* A message this daemon answers for (numbered here, or held here for an
 * agent that left): delivered here, or kept and sent. */
void
daemon_originate(struct daemon *d, const char *to, const char *from,
    uint64_t seq, const void *data, uint64_t len)
{
	char *cause = NULL;

	if (runner_deliver(d->runner, to, from, seq, data, len) == 0 ||
	    daemon_keep(d, to, from, seq, data, len, &cause) == 0)
		return;
	log_error("message %s#%llu to %s lost: %s", from,
	    (unsigned long long)seq, to, cause);
	free(cause);
}

/* Another try for a message not yet acknowledged. */
int
daemon_resend(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	struct daemon *d = arg;

	/* The agent came back here. */
	if (runner_deliver(d->runner, to, from, seq, data, len) == 0)
		return 1;
	log_debug("message %s#%llu to %s: not acknowledged after %d tries, "
	    "sent again", from, (unsigned long long)seq, to, tries);
	(void)daemon_route_on(d, to, from, seq, d->cfg.name, data, len);
	return 0;
}

int
daemon_give_up(void *arg, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, int tries)
{
	(void)arg;
	(void)data;
	(void)len;
	log_warn("message %s#%llu to %s: not acknowledged in %d s (%d tries), "
	    "dropped", from, (unsigned long long)seq, to,
	    OUTBOX_GIVEUP_MS / 1000, tries);
	return 1;
}

/* What another daemon says about an agent; from is the frame's sender
 * field, if any. */
typedef void peer_agent_fn(struct daemon *, const char *agent,
    const char *from, struct frame *);

/* A message on its way to the agent. */
static void
peer_agent_msg(struct daemon *d, const char *agent, const char *from,
    struct frame *f)
{
	if (from != NULL)
		daemon_route(d, agent, from, (uint64_t)json_integer_value(
		    json_object_get(f->meta, "seq")), str_field(f->meta,
		    "origin"), f->payload, f->payload_len);
}

/* A message this daemon answers for arrived. */
static void
peer_agent_msg_ack(struct daemon *d, const char *agent, const char *from,
    struct frame *f)
{
	if (from != NULL)
		(void)outbox_ack(d->outbox, agent, from,
		    (uint64_t)json_integer_value(json_object_get(f->meta,
		    "seq")));
}

/* The agent moved to meta's host. */
static void
peer_agent_moved(struct daemon *d, const char *agent, const char *from,
    struct frame *f)
{
	const char *host = str_field(f->meta, "host");

	(void)from;
	if (host != NULL && !runner_has(d->runner, agent))
		directory_set(d->where, agent, host);
}

/* Phase 4 at the source is done: this copy is the agent. */
static void
peer_agent_go(struct daemon *d, const char *agent, const char *from,
    struct frame *f)
{
	char *cause = NULL;

	(void)from;
	if (runner_go(d->runner, agent, json_object_get(f->meta, "orders"),
	    &cause) != 0) {
		log_warn("agent %s: go: %s", agent, cause);
		free(cause);
	}
}

/* The agent frames daemons send each other, by op. */
static const struct peer_agent_entry {
	const char	*name;
	peer_agent_fn	*fn;
} peer_agent_ops[] = {
	{ "go", peer_agent_go },
	{ "moved", peer_agent_moved },
	{ "msg", peer_agent_msg },
	{ "msg-ack", peer_agent_msg_ack },
};

/* What the other daemons say about agents: messages, moves, go. */
void
daemon_peer_agent(struct daemon *d, struct link *l, struct frame *f)
{
	const char *op = str_field(f->meta, "op");
	const char *agent = str_field(f->meta, "agent");
	const struct peer_agent_entry *e;

	(void)l;
	if (agent != NULL && (e = TABLE_FIND(peer_agent_ops, op)) != NULL)
		e->fn(d, agent, str_field(f->meta, "from"), f);
}
