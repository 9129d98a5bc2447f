/*
 * Who is in the cluster: the hosts file's hosts and the hosts that joined
 * at run time (agentd --join ADDR, docs/elastic.md). A join asks any
 * member; the member takes the new host, tells the members it links to,
 * and answers with every host it knows. Members tell each other the hosts
 * that joined whenever a link comes up, so one that was down, or that
 * restarted, learns them too.
 */
#include <string.h>

#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/hosts.h"
#include "agentd/log.h"
#include "base/alloc.h"
#include "base/clock.h"

#define JOIN_RETRY_MS		1000
#define JOIN_WARN_EVERY		30	/* failed attempts between warnings */

void
daemon_free_peers(struct daemon *d)
{
	int i;

	for (i = 0; i < d->npeers; i++)
		json_decref(d->peers[i].info);
	free(d->peers);
	d->peers = NULL;
	d->npeers = 0;
	hosts_free(d->inventory);
	d->inventory = NULL;
	json_decref(d->joined);
	d->joined = NULL;
}

/* The peer whose address (canonical) this is, or NULL. */
static const char *
members_address_owner(struct peer *peers, int n, const char *address)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(peers[i].address, address) == 0)
			return peers[i].name;
	return NULL;
}

/* Copies a peer's link and figures from the old table, if it was there. */
static void
members_keep(struct peer *p, struct peer *old, int nold)
{
	int j;

	for (j = 0; j < nold; j++) {
		if (strcmp(old[j].name, p->name) != 0)
			continue;
		p->conn = old[j].conn;
		p->up = old[j].up;
		p->last_seen = old[j].last_seen;
		p->info = old[j].info;
		old[j].info = NULL;
		old[j].conn = NULL;
	}
}

/*
 * The peer table from the inventory and the joined hosts; keeps the links
 * of hosts that stay. A joined host the file now names is the file's; one
 * that clashes with it is forgotten, with a warning.
 */
static void
members_build(struct daemon *d)
{
	struct peer *old = d->peers, *p;
	const struct host_entry *e;
	const char *name, *address, *owner;
	struct link *l;
	int nold = d->npeers, i, j, n;
	size_t k;

	n = hosts_count(d->inventory) + (int)json_array_size(d->joined);
	d->peers = xcalloc((size_t)n + 1, sizeof *d->peers);
	d->npeers = 0;
	for (i = 0; i < hosts_count(d->inventory); i++) {
		e = hosts_get(d->inventory, i);
		if (strcmp(e->name, d->cfg.name) == 0)
			continue;
		p = &d->peers[d->npeers++];
		snprintf(p->name, sizeof p->name, "%s", e->name);
		snprintf(p->address, sizeof p->address, "%s", e->address);
		memcpy(&p->sa, &e->sa, sizeof p->sa);
		p->salen = e->salen;
		members_keep(p, old, nold);
	}
	for (k = 0; k < json_array_size(d->joined); ) {
		name = str_field(json_array_get(d->joined, k), "name");
		address = str_field(json_array_get(d->joined, k), "address");
		owner = members_address_owner(d->peers, d->npeers, address);
		if ((i = peer_find(d, name)) >= 0 || owner != NULL ||
		    strcmp(name, d->cfg.name) == 0 ||
		    strcmp(address, d->cfg.listen_text) == 0) {
			if (i < 0 || strcmp(d->peers[i].address, address) != 0)
				log_warn("joined host %s (%s) clashes with the "
				    "hosts file; forgotten", name, address);
			json_array_remove(d->joined, k);
			continue;
		}
		p = &d->peers[d->npeers++];
		snprintf(p->name, sizeof p->name, "%s", name);
		snprintf(p->address, sizeof p->address, "%s", address);
		p->salen = sizeof p->sa;
		/* Checked when it joined: canonical and numeric. */
		(void)hosts_parse_addr(address, &p->sa, &p->salen, NULL);
		p->joined = 1;
		members_keep(p, old, nold);
		k++;
	}
	/* Links re-point at the new table; hosts that left are dropped. */
	for (l = d->links; l != NULL; l = l->next) {
		if (l->peer < 0)
			continue;
		j = l->peer;
		l->peer = peer_find(d, old[j].name);
	}
	for (j = 0; j < nold; j++) {
		json_decref(old[j].info);
		if (old[j].conn != NULL)
			conn_close(old[j].conn, "host left the hosts file");
	}
	free(old);
}

/* (Re)reads the hosts file; keeps links to hosts that stay. */
int
daemon_load_hosts(struct daemon *d, char **cause)
{
	struct hosts *h;
	const struct host_entry *e;
	int i, self = -1;

	if (d->joined == NULL)
		d->joined = json_array();
	if (d->cfg.hosts_path == NULL) {
		if (d->cfg.name[0] == '\0')
			snprintf(d->cfg.name, sizeof d->cfg.name, "local");
		h = hosts_new();
	} else if ((h = hosts_load(d->cfg.hosts_path, cause)) == NULL)
		return -1;
	for (i = 0; i < hosts_count(h); i++) {
		e = hosts_get(h, i);
		if (d->cfg.name[0] != '\0' ? strcmp(e->name, d->cfg.name) == 0 :
		    strcmp(e->address, d->cfg.listen_text) == 0)
			self = i;
	}
	if (self < 0 && d->cfg.name[0] == '\0') {
		hosts_free(h);
		return nn_fail(cause, "%s: no host has address %s (give "
		    "--name)", d->cfg.hosts_path, d->cfg.listen_text);
	}
	if (d->cfg.name[0] == '\0')
		snprintf(d->cfg.name, sizeof d->cfg.name, "%s",
		    hosts_get(h, self)->name);
	/* The peers after us in the file come first from here. */
	d->self_index = self >= 0 ? self : 0;
	hosts_free(d->inventory);
	d->inventory = h;
	members_build(d);
	return 0;
}

/*
 * A link from a daemon not in our table becomes its peer link once that
 * daemon is a member; the newest link of a pair wins.
 */
static void
members_adopt_links(struct daemon *d, const char *name)
{
	struct link *l, *found = NULL;

	for (l = d->links; l != NULL; l = l->next)
		if (l->peer < 0 && conn_is_ready(l->conn) &&
		    conn_peer_role(l->conn) == CONN_PEER &&
		    strcmp(conn_name(l->conn), name) == 0 &&
		    (found == NULL || l->serial > found->serial))
			found = l;
	if (found != NULL)
		peer_link_up(d, found);
}

static void
members_relay_reply(struct daemon *d, json_t *meta, struct frame *f,
    void *arg)
{
	(void)d;
	(void)f;
	free(arg);
	if (meta != NULL && !json_is_true(json_object_get(meta, "ok")))
		log_debug("a member refused a joined host: %s",
		    str_field(meta, "error") != NULL ?
		    str_field(meta, "error") : "no reason");
}

/* Tells the peer on l about a joined host (a "join" request). */
static void
members_tell(struct daemon *d, struct link *l, const char *name,
    const char *address)
{
	if (strcmp(conn_name(l->conn), name) == 0)
		return;
	peer_request(d, l, json_pack("{s:s, s:s, s:s}", "op", "join", "name",
	    name, "address", address), NULL, 0, members_relay_reply, NULL);
}

/* A peer link came up: it hears of every host that joined. */
void
members_link_up(struct daemon *d, struct link *l)
{
	json_t *e;
	size_t k;

	json_array_foreach(d->joined, k, e)
		members_tell(d, l, str_field(e, "name"),
		    str_field(e, "address"));
}

/*
 * Takes a host that joins; 1 when it is new (and the members we link to
 * are told), 0 when it was known as it is, -1 with cause on a clash.
 */
static int
members_join(struct daemon *d, struct link *from, const char *name,
    const char *address, char **cause)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof sa;
	char canon[HOSTS_ADDR_MAX], *why = NULL;
	const char *owner;
	struct link *l;
	int i, rc;

	if (name == NULL || !hosts_valid_name(name))
		return nn_fail(cause, "join: \"name\": expected 1 to %d "
		    "characters of A-Z a-z 0-9 . _ -", HOSTS_NAME_MAX);
	if (address == NULL || hosts_parse_addr(address, &sa, &salen,
	    &why) != 0) {
		rc = nn_fail(cause, "join: \"address\": %s", why != NULL ? why :
		    "expected a string");
		free(why);
		return rc;
	}
	hosts_format_addr((struct sockaddr *)&sa, canon, sizeof canon);
	if (strcmp(name, d->cfg.name) == 0)
		return nn_fail(cause, "host %s: that is the name of %s (%s)",
		    name, d->cfg.name, d->cfg.listen_text);
	if ((i = peer_find(d, name)) >= 0) {
		if (strcmp(d->peers[i].address, canon) == 0)
			return 0;
		return nn_fail(cause, "host %s: already a member, at %s", name,
		    d->peers[i].address);
	}
	if (strcmp(canon, d->cfg.listen_text) == 0)
		return nn_fail(cause, "address %s: that is %s's", canon,
		    d->cfg.name);
	if ((owner = members_address_owner(d->peers, d->npeers, canon)) !=
	    NULL)
		return nn_fail(cause, "address %s: that is %s's", canon, owner);
	if (d->npeers + 1 >= HOSTS_MAX)
		return nn_fail(cause, "host %s: the cluster has %d hosts, the "
		    "most it takes", name, HOSTS_MAX);
	json_array_append_new(d->joined, json_pack("{s:s, s:s}", "name", name,
	    "address", canon));
	members_build(d);
	log_info("host %s (%s) joined", name, canon);
	daemon_event(d, json_pack("{s:s, s:s, s:s}", "event", "host-joined",
	    "host", name, "address", canon));
	members_adopt_links(d, name);
	for (l = d->links; l != NULL; l = l->next)
		if (l != from && l->peer >= 0 && conn_is_ready(l->conn))
			members_tell(d, l, name, canon);
	return 1;
}

/* Every host this daemon knows, itself first, as a join's answer. */
static json_t *
members_json(struct daemon *d)
{
	json_t *a = json_array();
	int i;

	json_array_append_new(a, json_pack("{s:s, s:s}", "name", d->cfg.name,
	    "address", d->cfg.listen_text));
	for (i = 0; i < d->npeers; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name",
		    d->peers[i].name, "address", d->peers[i].address));
	return json_pack("{s:o}", "hosts", a);
}

/* "join": a host asks to be a member, or a member passes a join on. */
void
op_join(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	char *cause = NULL;

	if (members_join(d, l, str_field(f->meta, "name"),
	    str_field(f->meta, "address"), &cause) < 0) {
		log_warn("%s: join refused: %s", conn_label(l->conn), cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	reply(l->conn, id, 1, NULL, members_json(d));
}

/* Our --join was answered: every host the member knows is ours too. */
static void
members_joined(struct daemon *d, json_t *meta, struct frame *f, void *arg)
{
	json_t *hosts = json_object_get(meta, "hosts"), *e, *names;
	struct sockaddr_storage sa;
	socklen_t salen;
	const char *name, *address;
	struct link *l;
	size_t k;

	(void)f;
	(void)arg;
	if (meta == NULL) {
		d->join_link = 0;
		return;		/* the link closed: the tick tries again */
	}
	/* Asked and answered: peer links carry the rest. */
	if ((l = link_by_serial(d, d->join_link)) != NULL) {
		d->join_link = 0;
		conn_close(l->conn, "joined");
	}
	d->join_link = 0;
	if (!json_is_true(json_object_get(meta, "ok"))) {
		log_error("--join %s: %s", d->cfg.join_text,
		    str_field(meta, "error") != NULL ?
		    str_field(meta, "error") : "refused");
		d->exit_status = 2;	/* agentd's status for bad input */
		event_base_loopexit(d->base, NULL);
		return;
	}
	json_array_foreach(hosts, k, e) {
		name = str_field(e, "name");
		address = str_field(e, "address");
		if (name == NULL || address == NULL ||
		    strcmp(name, d->cfg.name) == 0 || peer_find(d, name) >= 0)
			continue;
		salen = sizeof sa;
		if (!hosts_valid_name(name) || hosts_parse_addr(address, &sa,
		    &salen, NULL) != 0) {
			log_warn("--join %s: skipping a malformed host",
			    d->cfg.join_text);
			continue;
		}
		json_array_append_new(d->joined, json_pack("{s:s, s:s}",
		    "name", name, "address", address));
	}
	members_build(d);
	d->join_done = 1;
	log_info("joined the cluster through %s: %d other hosts",
	    d->cfg.join_text, d->npeers);
	/* Members that dialled us meanwhile; adopting one may close
	 * another, so names first. */
	names = json_array();
	for (l = d->links; l != NULL; l = l->next)
		if (l->peer < 0 && conn_is_ready(l->conn) &&
		    conn_peer_role(l->conn) == CONN_PEER)
			json_array_append_new(names,
			    json_string(conn_name(l->conn)));
	json_array_foreach(names, k, e)
		members_adopt_links(d, json_string_value(e));
	json_decref(names);
}

/* Our --join link is authenticated: ask. */
int
members_join_ready(struct daemon *d, struct link *l)
{
	if (d->join_link == 0 || l->serial != d->join_link)
		return 0;
	peer_request(d, l, json_pack("{s:s, s:s, s:s}", "op", "join", "name",
	    d->cfg.name, "address", d->cfg.listen_text), NULL, 0,
	    members_joined, NULL);
	return 1;
}

/* Our --join link closed before an answer. */
void
members_join_closed(struct daemon *d, struct link *l, const char *why)
{
	if (d->join_link == 0 || l->serial != d->join_link)
		return;
	d->join_link = 0;
	if (d->join_failures++ % JOIN_WARN_EVERY == 0)
		log_warn("--join %s: %s; trying again every %d s",
		    d->cfg.join_text, why, JOIN_RETRY_MS / 1000);
}

/* From the tick: dials the --join member until it answers. */
void
members_join_tick(struct daemon *d, uint64_t now)
{
	struct conn_config cc;
	struct conn *c;
	char *cause = NULL;

	if (d->cfg.join_text[0] == '\0' || d->join_done || d->join_link != 0 ||
	    now < d->join_next)
		return;
	d->join_next = now + JOIN_RETRY_MS;
	/* As a client: a name is a member's only once the join is taken. */
	cc = daemon_conn_config(d);
	cc.role = CONN_CLIENT;
	if ((c = conn_connect(&cc, (struct sockaddr *)&d->cfg.join,
	    d->cfg.join_len, &cause)) == NULL) {
		if (d->join_failures++ % JOIN_WARN_EVERY == 0)
			log_warn("--join %s: %s; trying again every %d s",
			    d->cfg.join_text, cause, JOIN_RETRY_MS / 1000);
		free(cause);
		return;
	}
	d->join_link = link_add(d, c, -1)->serial;
}
