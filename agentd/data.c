/*
 * The data cache across the cluster (docs/data-cache.md): data sets'
 * manifests, kept by every daemon; blocks put with R copies on the hosts
 * that rank first for their group; what each peer holds, learnt from its
 * heartbeats; blocks fetched for the agents that map them; copies made
 * again when a holder dies; blocks no set names dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "agentd/bigbuf.h"
#include "agentd/conn.h"
#include "agentd/daemon-internal.h"
#include "agentd/datacache.h"
#include "agentd/log.h"
#include "agentd/runner.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/table.h"

#define DATA_NAME_MAX		64
#define DATA_PARTS_MAX		64
#define DATA_REPLICAS_MAX	8
#define DATA_TABLE_ROWS_MAX	((json_int_t)1 << 31)
#define DATA_UNITS_MAX		(1 << 20)
#define DATA_ORPHAN_S		600.0	/* unnamed blocks go after this: a
					 * put of many gigabytes is still
					 * sending */
#define DATA_REPAIRS_MAX	4	/* copies on their way at once */
#define DATA_TICK_MS		1000
#define DATA_SETTLE_S		5.0	/* a new block's copies are its
					 * putter's to make, and the others
					 * hear of them a heartbeat later */
#define DATA_TOMBSTONE_S	600	/* a removed set stays removed */

/* A block being fetched, and what waits on it. */
typedef void data_fetched_fn(struct daemon *, const char *sha,
    const char *error, void *arg);
struct fetch_waiter {
	data_fetched_fn		*cb;
	void			*arg;
	struct fetch_waiter	*next;
};
struct data_fetch {
	char			 sha[DATACACHE_HEX];
	json_t			*tried;		/* hosts asked */
	struct fetch_waiter	*waiters;
	struct data_fetch	*next;
};

/* What a peer or client can make us log: a line a second at most. */
static struct log_rate data_peer_rate;

static int
data_pinned(void *arg, const char *sha)
{
	struct daemon *d = arg;

	return json_object_get(d->data_pinned, sha) != NULL;
}

/* A set's name per docs/data-cache.md. */
static int
data_name_ok(const char *name)
{
	size_t i, n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > DATA_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		    name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

int
data_init(struct daemon *d, char **cause)
{
	uint64_t limit = d->cfg.cache_mem;

	(void)cause;
	if (limit == 0)
		limit = (uint64_t)sysconf(_SC_PHYS_PAGES) *
		    (uint64_t)sysconf(_SC_PAGESIZE) / 4;
	d->cache = datacache_new(limit, data_pinned, d);
	d->data_sets = json_object();
	d->data_removed = json_object();
	d->data_inv = json_object();
	d->data_asking = json_object();
	d->data_uses = json_object();
	d->data_pinned = json_object();
	d->data_repairing = json_object();
	return 0;
}

void
data_free(struct daemon *d)
{
	struct data_fetch *f;
	struct fetch_waiter *w;

	while ((f = d->data_fetches) != NULL) {
		d->data_fetches = f->next;
		while ((w = f->waiters) != NULL) {
			f->waiters = w->next;
			free(w->arg);
			free(w);
		}
		json_decref(f->tried);
		free(f);
	}
	datacache_free(d->cache);
	d->cache = NULL;
	json_decref(d->data_sets);
	json_decref(d->data_removed);
	json_decref(d->data_inv);
	json_decref(d->data_asking);
	json_decref(d->data_uses);
	json_decref(d->data_pinned);
	json_decref(d->data_repairing);
}

/* Every block a manifest names, each with the largest replica count
 * asked for it (new reference). */
static json_t *
data_referenced(struct daemon *d)
{
	json_t *refs = json_object(), *m, *t, *p, *b, *old;
	const char *name, *tname;
	json_int_t r;
	size_t i, j;

	json_object_foreach(d->data_sets, name, m) {
		r = json_integer_value(json_object_get(m, "replicas"));
		json_object_foreach(json_object_get(m, "tables"), tname, t)
			json_array_foreach(json_object_get(t, "parts"), i, p)
				json_array_foreach(json_object_get(p,
				    "blocks"), j, b) {
					old = json_object_get(refs,
					    json_string_value(b));
					if (old == NULL ||
					    json_integer_value(old) < r)
						json_object_set_new(refs,
						    json_string_value(b),
						    json_integer(r));
				}
	}
	return refs;
}

/* Forgets the uses of agents that no longer run here. */
static void
data_prune_uses(struct daemon *d)
{
	const char *agent;
	json_t *u;
	void *tmp;

	json_object_foreach_safe(d->data_uses, tmp, agent, u)
		if (!runner_has(d->runner, agent))
			json_object_del(d->data_uses, agent);
}

/* The names of the sets this host's agents map (new reference). */
static json_t *
data_in_use_here(struct daemon *d)
{
	json_t *names = json_object(), *uses, *u, *out;
	const char *agent, *k;
	size_t i;

	data_prune_uses(d);
	json_object_foreach(d->data_uses, agent, uses)
		json_array_foreach(uses, i, u)
			json_object_set_new(names, str_field(u, "set"),
			    json_true());
	out = json_array();
	json_object_foreach(names, k, u)
		json_array_append_new(out, json_string(k));
	json_decref(names);
	return out;
}

/* The sets mapped anywhere: ours and what up peers say. */
static json_t *
data_in_use(struct daemon *d)
{
	json_t *names = json_object(), *a, *v;
	size_t i;
	int k;

	a = data_in_use_here(d);
	json_array_foreach(a, i, v)
		json_object_set(names, json_string_value(v), json_true());
	json_decref(a);
	for (k = 0; k < d->npeers; k++) {
		if (!d->peers[k].up || d->peers[k].info == NULL)
			continue;
		json_array_foreach(json_object_get(json_object_get(
		    d->peers[k].info, "cache"), "in_use"), i, v)
			if (json_is_string(v))
				json_object_set(names, json_string_value(v),
				    json_true());
	}
	return names;
}

/* Blocks of sets in use may not be evicted. */
static void
data_pins_update(struct daemon *d)
{
	json_t *names = data_in_use(d), *m, *t, *p, *b;
	const char *name, *tname;
	size_t i, j;

	json_object_clear(d->data_pinned);
	json_object_foreach(d->data_sets, name, m) {
		if (json_object_get(names, name) == NULL)
			continue;
		json_object_foreach(json_object_get(m, "tables"), tname, t)
			json_array_foreach(json_object_get(t, "parts"), i, p)
				json_array_foreach(json_object_get(p,
				    "blocks"), j, b)
					json_object_set(d->data_pinned,
					    json_string_value(b), json_true());
	}
	json_decref(names);
}

json_t *
data_host_info(struct daemon *d)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o, s:I, s:I}", "bytes",
	    (json_int_t)datacache_used(d->cache), "limit",
	    (json_int_t)datacache_limit(d->cache), "blocks",
	    (json_int_t)datacache_count(d->cache), "version",
	    (json_int_t)datacache_version(d->cache), "in_use",
	    data_in_use_here(d), "bytes_received",
	    (json_int_t)d->data_received, "bytes_fetched",
	    (json_int_t)d->data_fetched);
}

/* The hosts that are up, ourselves first (new reference). */
static json_t *
data_up_hosts(struct daemon *d)
{
	json_t *a = json_array();
	int k;

	json_array_append_new(a, json_string(d->cfg.name));
	for (k = 0; k < d->npeers; k++)
		if (d->peers[k].up && link_of_peer(d, d->peers[k].name) !=
		    NULL)
			json_array_append_new(a, json_string(
			    d->peers[k].name));
	return a;
}

/* 1 when host holds sha, as far as we know. */
static int
data_held_by(struct daemon *d, const char *host, const char *sha)
{
	if (strcmp(host, d->cfg.name) == 0)
		return datacache_has(d->cache, sha);
	return json_object_get(json_object_get(json_object_get(d->data_inv,
	    host), "blocks"), sha) != NULL;
}

/* The up hosts that hold sha (new reference), ourselves first: asked
 * per block, so without building the list of up hosts each time. */
static json_t *
data_holders(struct daemon *d, const char *sha)
{
	json_t *out = json_array();
	int k;

	if (datacache_has(d->cache, sha))
		json_array_append_new(out, json_string(d->cfg.name));
	for (k = 0; k < d->npeers; k++)
		if (d->peers[k].up && data_held_by(d, d->peers[k].name, sha) &&
		    link_of_peer(d, d->peers[k].name) != NULL)
			json_array_append_new(out, json_string(
			    d->peers[k].name));
	return out;
}

static void
data_inv_add(struct daemon *d, const char *host, const char *sha)
{
	json_t *inv = json_object_get(d->data_inv, host), *blocks;

	if (strcmp(host, d->cfg.name) == 0)
		return;
	if (inv == NULL) {
		inv = json_pack("{s:i, s:{}}", "version", -1, "blocks");
		json_object_set_new(d->data_inv, host, inv);
	}
	blocks = json_object_get(inv, "blocks");
	json_object_set(blocks, sha, json_true());
}

/* hosts ranked for group by rendezvous hashing: the order in which they
 * are asked to hold its blocks (new reference). */
static json_t *
data_rank(const char *group, json_t *hosts)
{
	json_t *keyed = json_object(), *out = json_array(), *h;
	const char **names;
	char *text, hex[DATACACHE_HEX];
	size_t i, n = json_array_size(hosts), j;

	names = xcalloc(n > 0 ? n : 1, sizeof *names);
	json_array_foreach(hosts, i, h) {
		text = xasprintf("%s\n%s", group, json_string_value(h));
		crypto_sha256_hex(text, strlen(text), hex);
		free(text);
		json_object_set(keyed, hex, h);
	}
	/* Jansson keeps keys in insertion order: sort them ourselves. */
	i = 0;
	{
		const char *k;
		json_t *v;

		json_object_foreach(keyed, k, v)
			names[i++] = k;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (i = 0; i < n; i++)
		json_array_append(out, json_object_get(keyed, names[i]));
	free(names);
	json_decref(keyed);
	return out;
}

/* ---- fetching blocks from the hosts that hold them ---- */

static void	fetch_next(struct daemon *d, struct data_fetch *f);

static void
fetch_finish(struct daemon *d, struct data_fetch *f, const char *error)
{
	struct data_fetch **pp;
	struct fetch_waiter *w;

	for (pp = &d->data_fetches; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	while ((w = f->waiters) != NULL) {
		f->waiters = w->next;
		w->cb(d, f->sha, error, w->arg);
		free(w);
	}
	json_decref(f->tried);
	free(f);
}

/* A block asked of, or sent to, a host: a peer request's argument. */
struct block_host {
	char	sha[DATACACHE_HEX];
	char	host[64];
};

static void
fetch_got(struct daemon *d, json_t *rep, struct frame *fr, void *arg)
{
	struct block_host *fa = arg;
	struct data_fetch *f;
	char *cause = NULL;

	for (f = d->data_fetches; f != NULL; f = f->next)
		if (strcmp(f->sha, fa->sha) == 0)
			break;
	if (f == NULL) {
		free(fa);
		return;
	}
	if (rep == NULL || !json_is_true(json_object_get(rep, "ok")) ||
	    fr == NULL || fr->payload_len == 0)
		log_debug("block %.12s: %s has it not", fa->sha, fa->host);
	else if (datacache_put(d->cache, fa->sha, fr->payload,
	    fr->payload_len, &cause) != 0) {
		/* No room here: asking elsewhere would not help. */
		if (strstr(cause, "cache full") != NULL) {
			fetch_finish(d, f, cause);
			free(cause);
			free(fa);
			return;
		}
		/* A lying or broken peer: never used, asked elsewhere. */
		log_rated(&data_peer_rate, LOG_WARN, "fetched from %s: %s; "
		    "never used, asking another holder", fa->host, cause);
		free(cause);
		cause = NULL;
	} else {
		d->data_fetched += fr->payload_len;
		log_debug("block %.12s: fetched from %s", fa->sha, fa->host);
		free(fa);
		fetch_finish(d, f, NULL);
		return;
	}
	free(fa);
	fetch_next(d, f);
}

/* Asks the next up host that holds f's block, then any we have not. */
static void
fetch_next(struct daemon *d, struct data_fetch *f)
{
	json_t *up = data_up_hosts(d), *h, *req;
	const char *host = NULL, *name;
	struct block_host *fa;
	char msg[160];
	size_t i;
	int pass;

	for (pass = 0; pass < 2 && host == NULL; pass++)
		json_array_foreach(up, i, h) {
			name = json_string_value(h);
			if (strcmp(name, d->cfg.name) == 0 ||
			    json_object_get(f->tried, name) != NULL)
				continue;
			if (pass == 0 && !data_held_by(d, name, f->sha))
				continue;
			host = name;
			break;
		}
	if (host == NULL) {
		json_decref(up);
		snprintf(msg, sizeof msg, "block %.12s is on no host that is "
		    "up", f->sha);
		fetch_finish(d, f, msg);
		return;
	}
	json_object_set_new(f->tried, host, json_true());
	fa = xcalloc(1, sizeof *fa);
	snprintf(fa->sha, sizeof fa->sha, "%s", f->sha);
	snprintf(fa->host, sizeof fa->host, "%s", host);
	req = json_pack("{s:s, s:s}", "op", "data-block-fetch", "sha256",
	    f->sha);
	peer_request(d, link_of_peer(d, host), req, NULL, 0, fetch_got, fa);
	json_decref(up);
}

/* Calls cb when sha is here (error NULL) or cannot be had. cb's arg is
 * freed with free() if the daemon stops first. */
static void
data_fetch(struct daemon *d, const char *sha, data_fetched_fn *cb, void *arg)
{
	struct data_fetch *f;
	struct fetch_waiter *w;

	if (datacache_has(d->cache, sha)) {
		cb(d, sha, NULL, arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	for (f = d->data_fetches; f != NULL; f = f->next)
		if (strcmp(f->sha, sha) == 0) {
			w->next = f->waiters;
			f->waiters = w;
			return;
		}
	f = xcalloc(1, sizeof *f);
	snprintf(f->sha, sizeof f->sha, "%s", sha);
	f->tried = json_object();
	f->waiters = w;
	f->next = d->data_fetches;
	d->data_fetches = f;
	fetch_next(d, f);
}

/* ---- manifests ---- */

static int
data_int(json_t *o, const char *key, json_int_t lo, json_int_t hi,
    json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

/* One table of a manifest: its parts add up and name their blocks. */
static int
data_check_table(json_t *t, const char *tname, json_int_t in, json_int_t out,
    char **cause)
{
	json_t *parts = json_object_get(t, "parts"), *p, *blocks, *b;
	json_int_t rows, prow, brows, sum = 0, need, bmax;
	size_t i, j;

	if (data_int(t, "rows", 1, DATA_TABLE_ROWS_MAX, &rows) != 0)
		return nn_fail(cause, "tables.%s.rows: expected an integer "
		    "from 1 to %lld", tname, (long long)DATA_TABLE_ROWS_MAX);
	if (!json_is_array(parts) || json_array_size(parts) == 0 ||
	    json_array_size(parts) > DATA_PARTS_MAX)
		return nn_fail(cause, "tables.%s.parts: expected 1 to %d parts",
		    tname, DATA_PARTS_MAX);
	json_array_foreach(parts, i, p) {
		blocks = json_object_get(p, "blocks");
		if (data_int(p, "rows", 1, rows, &prow) != 0 ||
		    data_int(p, "block_rows", 1024, DATA_TABLE_ROWS_MAX,
		    &brows) != 0 || brows % 1024 != 0)
			return nn_fail(cause, "tables.%s.parts[%zu]: expected "
			    "rows and block_rows (a multiple of 1024)", tname,
			    i);
		/* A block's rows, padded, stay within a block's limit. */
		bmax = ((brows * in * 4 + 4095) / 4096 + (brows * out * 4 +
		    4095) / 4096) * 4096;
		if (bmax > (json_int_t)DATACACHE_BLOCK_MAX)
			return nn_fail(cause, "tables.%s.parts[%zu]: blocks of "
			    "%lld rows are larger than %llu bytes", tname, i,
			    (long long)brows,
			    (unsigned long long)DATACACHE_BLOCK_MAX);
		need = (prow + brows - 1) / brows;
		if (!json_is_array(blocks) ||
		    (json_int_t)json_array_size(blocks) != need)
			return nn_fail(cause, "tables.%s.parts[%zu].blocks: "
			    "expected %lld names", tname, i, (long long)need);
		json_array_foreach(blocks, j, b)
			if (!datacache_valid(json_string_value(b)))
				return nn_fail(cause, "tables.%s.parts[%zu]."
				    "blocks[%zu]: expected 64 lowercase hex "
				    "digits", tname, i, j);
		sum += prow;
	}
	if (sum != rows)
		return nn_fail(cause, "tables.%s: its parts hold %lld rows, "
		    "not %lld", tname, (long long)sum, (long long)rows);
	return 0;
}

/* A manifest as docs/data-cache.md says; -1 with cause naming the key. */
static int
data_check_manifest(json_t *m, char **cause)
{
	static const char *const tables[] = { "train", "test" };
	json_t *t, *tabs = json_object_get(m, "tables");
	json_int_t in, out, r;
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(m))
		return nn_fail(cause, "manifest: expected an object");
	if (!data_name_ok(str_field(m, "name")))
		return nn_fail(cause, "manifest: name: expected 1 to %d of "
		    "A-Z a-z 0-9 . _ -, not first . or -", DATA_NAME_MAX);
	if (!datacache_valid(str_field(m, "key")))
		return nn_fail(cause, "manifest: key: expected 64 lowercase "
		    "hex digits");
	if (data_int(m, "in", 1, DATA_UNITS_MAX, &in) != 0 ||
	    data_int(m, "out", 1, DATA_UNITS_MAX, &out) != 0 ||
	    data_int(m, "replicas", 1, DATA_REPLICAS_MAX, &r) != 0)
		return nn_fail(cause, "manifest: in, out (1 to %d) and replicas "
		    "(1 to %d) are required integers", DATA_UNITS_MAX,
		    DATA_REPLICAS_MAX);
	if (!json_is_object(tabs) || json_object_get(tabs, "train") == NULL)
		return nn_fail(cause, "manifest: tables.train is required");
	json_object_foreach(tabs, k, v) {
		for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
			if (strcmp(k, tables[i]) == 0)
				break;
		if (i == sizeof tables / sizeof tables[0])
			return nn_fail(cause, "manifest: tables.%.32s: only "
			    "train and test", k);
	}
	for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
		if ((t = json_object_get(tabs, tables[i])) != NULL &&
		    data_check_table(t, tables[i], in, out, cause) != 0)
			return -1;
	return 0;
}

/* Drops the blocks here that no manifest names and no one waits on, of
 * those in list (NULL: all that are old enough). */
static void
data_drop_unnamed(struct daemon *d, json_t *list)
{
	json_t *refs, *all, *b;
	const char *sha;
	size_t i;

	data_pins_update(d);
	refs = data_referenced(d);
	all = list != NULL ? json_incref(list) : datacache_list(d->cache);
	json_array_foreach(all, i, b) {
		sha = json_string_value(b);
		if (sha == NULL || json_object_get(refs, sha) != NULL ||
		    json_object_get(d->data_pinned, sha) != NULL)
			continue;
		if (list == NULL && datacache_age(d->cache, sha) <
		    DATA_ORPHAN_S)
			continue;
		if (datacache_has(d->cache, sha))
			log_info("block %.12s: dropped, no data set names it",
			    sha);
		datacache_drop(d->cache, sha);
	}
	json_decref(all);
	json_decref(refs);
}

static void
data_ignore_reply(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	(void)d;
	(void)rep;
	(void)f;
	(void)arg;
}

/* Sends meta to every up peer, answers ignored. */
static void
data_broadcast(struct daemon *d, json_t *meta)
{
	struct link *l;
	int k;

	for (k = 0; k < d->npeers; k++)
		if (d->peers[k].up && (l = link_of_peer(d,
		    d->peers[k].name)) != NULL)
			peer_request(d, l, json_incref(meta), NULL, 0,
			    data_ignore_reply, NULL);
	json_decref(meta);
}

static void
data_set_store(struct daemon *d, json_t *m)
{
	const char *name = str_field(m, "name");

	json_object_set(d->data_sets, name, m);
	json_object_del(d->data_removed, name);
}

/* Removes a set, and its blocks that no other set names. */
static void
data_set_remove(struct daemon *d, const char *name)
{
	json_t *m = json_object_get(d->data_sets, name), *blocks, *t, *p, *b;
	const char *tname;
	size_t i, j;

	blocks = json_array();
	json_object_foreach(json_object_get(m, "tables"), tname, t)
		json_array_foreach(json_object_get(t, "parts"), i, p)
			json_array_foreach(json_object_get(p, "blocks"), j, b)
				json_array_append(blocks, b);
	json_object_del(d->data_sets, name);
	json_object_set_new(d->data_removed, name, json_integer(
	    (json_int_t)time(NULL)));
	data_drop_unnamed(d, blocks);
	json_decref(blocks);
}

/* ---- client requests ---- */

/* The payload's block: stored on the R hosts that rank first for its
 * group and take it. */
struct put_job {
	unsigned long	 link;
	json_t		*id;
	char		 sha[DATACACHE_HEX];
	unsigned char	*data;
	uint64_t	 len;
	json_t		*order;		/* hosts, best first */
	size_t		 next;
	int		 want;
	json_t		*stored;	/* hosts that hold it */
	char		 why[256];	/* the last refusal */
};

static void	put_next(struct daemon *d, struct put_job *j);

static void
put_stored(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct put_job *j = arg;
	const char *host = json_string_value(json_array_get(j->order,
	    j->next - 1));

	(void)f;
	if (rep != NULL && json_is_true(json_object_get(rep, "ok"))) {
		json_array_append_new(j->stored, json_string(host));
		data_inv_add(d, host, j->sha);
	} else
		snprintf(j->why, sizeof j->why, "%s: %s", host, rep == NULL ?
		    "the host went away" : str_field(rep, "error") != NULL ?
		    str_field(rep, "error") : "refused");
	put_next(d, j);
}

static void
put_next(struct daemon *d, struct put_job *j)
{
	struct link *l, *cl;
	const char *host;
	char *cause = NULL;
	json_t *req;

	while ((int)json_array_size(j->stored) < j->want &&
	    j->next < json_array_size(j->order)) {
		host = json_string_value(json_array_get(j->order, j->next++));
		if (strcmp(host, d->cfg.name) == 0) {
			if (datacache_put(d->cache, j->sha, j->data, j->len,
			    &cause) == 0)
				json_array_append_new(j->stored,
				    json_string(host));
			else {
				snprintf(j->why, sizeof j->why, "%s: %s",
				    host, cause);
				free(cause);
				cause = NULL;
			}
			continue;
		}
		if ((l = link_of_peer(d, host)) == NULL)
			continue;
		req = json_pack("{s:s, s:s}", "op", "data-block-store",
		    "sha256", j->sha);
		peer_request(d, l, req, j->data, j->len, put_stored, j);
		return;
	}
	if ((cl = link_by_serial(d, j->link)) != NULL) {
		if (json_array_size(j->stored) == 0)
			reply(cl->conn, j->id, 0, j->why[0] != '\0' ? j->why :
			    "no host could take the block", NULL);
		else
			reply(cl->conn, j->id, 1, NULL, json_pack("{s:O}",
			    "hosts", j->stored));
	}
	json_decref(j->id);
	json_decref(j->order);
	json_decref(j->stored);
	bigbuf_free(j->data);	/* a frame's payload */
	free(j);
}

void
op_data_block_put(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");
	const char *group = str_field(f->meta, "group");
	json_int_t r = 2;
	struct put_job *j;
	char got[DATACACHE_HEX];
	json_t *up;

	if (!datacache_valid(sha) || (group != NULL &&
	    !datacache_valid(group)) || (json_object_get(f->meta,
	    "replicas") != NULL && data_int(f->meta, "replicas", 1,
	    DATA_REPLICAS_MAX, &r) != 0)) {
		reply(l->conn, id, 0, "data-block-put: expected sha256 and "
		    "group (64 lowercase hex digits) and replicas (1 to 8)",
		    NULL);
		return;
	}
	if (f->payload_len == 0 || f->payload_len > DATACACHE_BLOCK_MAX) {
		reply(l->conn, id, 0, "data-block-put: a block is 1 byte to "
		    "64 MiB", NULL);
		return;
	}
	crypto_sha256_hex(f->payload, (size_t)f->payload_len, got);
	if (strcmp(got, sha) != 0) {
		log_rated(&data_peer_rate, LOG_WARN, "%s: block %.12s: its bytes hash to %.12s; refused",
		    conn_label(l->conn), sha, got);
		reply(l->conn, id, 0, "data-block-put: the bytes do not match "
		    "sha256", NULL);
		return;
	}
	d->data_received += f->payload_len;
	j = xcalloc(1, sizeof *j);
	j->link = l->serial;
	j->id = json_incref(id);
	snprintf(j->sha, sizeof j->sha, "%s", sha);
	j->data = f->payload;
	j->len = f->payload_len;
	f->payload = NULL;
	up = data_up_hosts(d);
	j->want = (int)r < (int)json_array_size(up) ? (int)r :
	    (int)json_array_size(up);
	j->order = data_rank(group != NULL ? group : sha, up);
	j->stored = json_array();
	json_decref(up);
	put_next(d, j);
}

void
op_data_block_store(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");
	char *cause = NULL;

	if (datacache_put(d->cache, sha, f->payload, f->payload_len,
	    &cause) != 0) {
		log_rated(&data_peer_rate, LOG_WARN, "%s: data-block-store: %s", conn_label(l->conn),
		    cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	reply(l->conn, id, 1, NULL, NULL);
}

void
op_data_block_fetch(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");
	const void *p;
	uint64_t len;
	json_t *m;

	if (!datacache_valid(sha) || (p = datacache_bytes(d->cache, sha,
	    &len)) == NULL) {
		reply(l->conn, id, 0, "no such block here", NULL);
		return;
	}
	m = json_pack("{s:O, s:b}", "id", id, "ok", 1);
	conn_send(l->conn, FRAME_REPLY, m, p, len);
	json_decref(m);
}

void
op_data_has(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	json_t *blocks = json_object_get(f->meta, "blocks"), *b, *missing,
	    *h;
	size_t i;

	if (!json_is_array(blocks)) {
		reply(l->conn, id, 0, "data-has: expected blocks, an array of "
		    "names", NULL);
		return;
	}
	missing = json_array();
	json_array_foreach(blocks, i, b) {
		if (!datacache_valid(json_string_value(b))) {
			json_decref(missing);
			reply(l->conn, id, 0, "data-has: blocks: expected 64 "
			    "lowercase hex digits each", NULL);
			return;
		}
		h = data_holders(d, json_string_value(b));
		if (json_array_size(h) == 0)
			json_array_append(missing, b);
		json_decref(h);
	}
	reply(l->conn, id, 1, NULL, json_pack("{s:o}", "missing", missing));
}

void
op_data_set_put(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	json_t *m = json_object_get(f->meta, "manifest"), *old, *t, *p, *b,
	    *h;
	const char *name, *tname;
	char *cause = NULL, msg[256];
	size_t i, j;

	if (data_check_manifest(m, &cause) != 0) {
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	name = str_field(m, "name");
	old = json_object_get(d->data_sets, name);
	if (old != NULL && strcmp(str_field(old, "key"), str_field(m,
	    "key")) != 0 && !json_is_true(json_object_get(f->meta,
	    "replace"))) {
		snprintf(msg, sizeof msg, "data set %s exists with other data; "
		    "remove it first (nnsim data rm %s)", name, name);
		reply(l->conn, id, 0, msg, NULL);
		return;
	}
	json_object_foreach(json_object_get(m, "tables"), tname, t)
		json_array_foreach(json_object_get(t, "parts"), i, p)
			json_array_foreach(json_object_get(p, "blocks"), j,
			    b) {
				h = data_holders(d, json_string_value(b));
				if (json_array_size(h) == 0) {
					json_decref(h);
					snprintf(msg, sizeof msg, "data-set-put: "
					    "block %.12s of tables.%s.parts"
					    "[%zu] is on no host: put the "
					    "blocks first", json_string_value(
					    b), tname, i);
					reply(l->conn, id, 0, msg, NULL);
					return;
				}
				json_decref(h);
			}
	m = json_deep_copy(m);
	json_object_set_new(m, "created", json_integer((json_int_t)
	    time(NULL)));
	data_set_store(d, m);
	log_info("%s: data set %s stored", conn_label(l->conn), name);
	data_broadcast(d, json_pack("{s:s, s:O}", "op", "data-set-store",
	    "manifest", m));
	json_decref(m);
	reply(l->conn, id, 1, NULL, NULL);
}

void
op_data_set_store(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	json_t *m = json_object_get(f->meta, "manifest");
	char *cause = NULL;

	if (data_check_manifest(m, &cause) != 0) {
		log_rated(&data_peer_rate, LOG_WARN, "%s: data-set-store: %s", conn_label(l->conn), cause);
		reply(l->conn, id, 0, cause, NULL);
		free(cause);
		return;
	}
	data_set_store(d, m);
	reply(l->conn, id, 1, NULL, NULL);
}

/* Rows, blocks and bytes of a manifest, and whether every block is on
 * an up host. */
static json_t *
data_summary(struct daemon *d, const char *name, json_t *m, json_t *in_use)
{
	json_t *t, *p, *b, *h;
	const char *tname;
	json_int_t rows = 0, nblocks = 0, held = 0;
	size_t i, j;

	json_object_foreach(json_object_get(m, "tables"), tname, t) {
		rows += json_integer_value(json_object_get(t, "rows"));
		json_array_foreach(json_object_get(t, "parts"), i, p)
			json_array_foreach(json_object_get(p, "blocks"), j,
			    b) {
				nblocks++;
				h = data_holders(d, json_string_value(b));
				held += json_array_size(h) > 0;
				json_decref(h);
			}
	}
	return json_pack("{s:s, s:O*, s:O*, s:I, s:I, s:O*, s:O*, s:b, s:b}",
	    "name", name, "key", json_object_get(m, "key"), "bytes",
	    json_object_get(m, "bytes"), "rows", rows, "blocks", nblocks,
	    "replicas", json_object_get(m, "replicas"), "created",
	    json_object_get(m, "created"), "complete", held == nblocks,
	    "in_use", json_object_get(in_use, name) != NULL);
}

void
op_data_sets(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	json_t *sets = json_array(), *m, *in_use = data_in_use(d);
	const char *name;

	(void)f;
	json_object_foreach(d->data_sets, name, m)
		json_array_append_new(sets, data_summary(d, name, m, in_use));
	json_decref(in_use);
	reply(l->conn, id, 1, NULL, json_pack("{s:o}", "sets", sets));
}

void
op_data_set(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *name = str_field(f->meta, "name"), *tname;
	json_t *m, *holders, *t, *p, *b, *in_use;
	char msg[160];
	size_t i, j;

	if (!data_name_ok(name)) {
		reply(l->conn, id, 0, "data-set: name: expected 1 to 64 of "
		    "A-Z a-z 0-9 . _ -, not first . or -", NULL);
		return;
	}
	if ((m = json_object_get(d->data_sets, name)) == NULL) {
		snprintf(msg, sizeof msg, "no data set %s on the cluster",
		    name);
		reply(l->conn, id, 0, msg, json_pack("{s:b}", "missing", 1));
		return;
	}
	holders = json_object();
	json_object_foreach(json_object_get(m, "tables"), tname, t)
		json_array_foreach(json_object_get(t, "parts"), i, p)
			json_array_foreach(json_object_get(p, "blocks"), j, b)
				json_object_set_new(holders,
				    json_string_value(b), data_holders(d,
				    json_string_value(b)));
	in_use = data_in_use(d);
	reply(l->conn, id, 1, NULL, json_pack("{s:O, s:o, s:o}", "manifest",
	    m, "holders", holders, "summary", data_summary(d, name, m,
	    in_use)));
	json_decref(in_use);
}

void
op_data_rm(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	const char *name = str_field(f->meta, "name");
	json_t *in_use;
	char msg[200];

	if (!data_name_ok(name)) {
		reply(l->conn, id, 0, "data-rm: name: expected 1 to 64 of "
		    "A-Z a-z 0-9 . _ -, not first . or -", NULL);
		return;
	}
	if (json_object_get(d->data_sets, name) == NULL) {
		snprintf(msg, sizeof msg, "no data set %s on the cluster",
		    name);
		reply(l->conn, id, 0, msg, json_pack("{s:b}", "missing", 1));
		return;
	}
	in_use = data_in_use(d);
	if (json_object_get(in_use, name) != NULL) {
		json_decref(in_use);
		snprintf(msg, sizeof msg, "data set %s is in use by running "
		    "agents; remove it when they end", name);
		reply(l->conn, id, 0, msg, NULL);
		return;
	}
	json_decref(in_use);
	data_set_remove(d, name);
	log_info("%s: data set %s removed", conn_label(l->conn), name);
	data_broadcast(d, json_pack("{s:s, s:s}", "op", "data-set-drop",
	    "name", name));
	reply(l->conn, id, 1, NULL, NULL);
}

void
op_data_set_drop(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	const char *name = str_field(f->meta, "name");

	if (!data_name_ok(name)) {
		reply(l->conn, id, 0, "data-set-drop: bad name", NULL);
		return;
	}
	data_set_remove(d, name);
	reply(l->conn, id, 1, NULL, NULL);
}

/* data-block-get: the block, fetched first when it is elsewhere. */
struct get_wait {
	unsigned long	 link;
	json_t		*id;
};

static void
get_fetched(struct daemon *d, const char *sha, const char *error, void *arg)
{
	struct get_wait *w = arg;
	struct link *l = link_by_serial(d, w->link);
	const void *p;
	uint64_t len;
	json_t *m;

	if (l != NULL) {
		if (error != NULL || (p = datacache_bytes(d->cache, sha,
		    &len)) == NULL)
			reply(l->conn, w->id, 0, error != NULL ? error :
			    "the block was evicted", NULL);
		else {
			m = json_pack("{s:O, s:b}", "id", w->id, "ok", 1);
			conn_send(l->conn, FRAME_REPLY, m, p, len);
			json_decref(m);
		}
	}
	json_decref(w->id);
	free(w);
}

void
op_data_block_get(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	const char *sha = str_field(f->meta, "sha256");
	struct get_wait *w;

	if (!datacache_valid(sha)) {
		reply(l->conn, id, 0, "data-block-get: sha256: expected 64 "
		    "lowercase hex digits", NULL);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->link = l->serial;
	w->id = json_incref(id);
	data_fetch(d, sha, get_fetched, w);
}

void
op_data_drop(struct daemon *d, struct link *l, json_t *id, struct frame *f)
{
	json_t *blocks = json_object_get(f->meta, "blocks"), *b;
	size_t i;

	if (!json_is_array(blocks)) {
		reply(l->conn, id, 0, "data-drop: expected blocks, an array",
		    NULL);
		return;
	}
	json_array_foreach(blocks, i, b)
		if (!datacache_valid(json_string_value(b))) {
			reply(l->conn, id, 0, "data-drop: blocks: expected 64 "
			    "lowercase hex digits each", NULL);
			return;
		}
	data_drop_unnamed(d, blocks);
	/* A client's asks every host; a peer's is for us alone. */
	if (conn_peer_role(l->conn) != CONN_PEER)
		data_broadcast(d, json_pack("{s:s, s:O}", "op", "data-drop",
		    "blocks", blocks));
	reply(l->conn, id, 1, NULL, NULL);
}

void
op_data_inventory(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	(void)f;
	reply(l->conn, id, 1, NULL, json_pack("{s:I, s:o}", "version",
	    (json_int_t)datacache_version(d->cache), "blocks",
	    datacache_list(d->cache)));
}

void
op_data_manifests(struct daemon *d, struct link *l, json_t *id,
    struct frame *f)
{
	(void)f;
	reply(l->conn, id, 1, NULL, json_pack("{s:O, s:O}", "sets",
	    d->data_sets, "removed", d->data_removed));
}

/* ---- peers: what they hold, their manifests ---- */

static void
data_inventory_got(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	char *host = arg;
	json_t *blocks, *b, *inv;
	size_t i;

	(void)f;
	json_object_del(d->data_asking, host);
	if (rep != NULL && json_is_true(json_object_get(rep, "ok")) &&
	    json_is_array(blocks = json_object_get(rep, "blocks"))) {
		inv = json_pack("{s:O*, s:{}}", "version",
		    json_object_get(rep, "version"), "blocks");
		json_array_foreach(blocks, i, b)
			if (datacache_valid(json_string_value(b)))
				json_object_set(json_object_get(inv, "blocks"),
				    json_string_value(b), json_true());
		json_object_set_new(d->data_inv, host, inv);
	}
	free(host);
}

void
data_peer_info(struct daemon *d, int peer)
{
	struct peer *p = &d->peers[peer];
	json_t *v = json_object_get(json_object_get(p->info, "cache"),
	    "version"), *inv = json_object_get(d->data_inv, p->name);
	struct link *l;

	if (!json_is_integer(v) || json_object_get(d->data_asking, p->name) !=
	    NULL || (inv != NULL && json_integer_value(json_object_get(inv,
	    "version")) == json_integer_value(v)) ||
	    (l = link_of_peer(d, p->name)) == NULL)
		return;
	json_object_set_new(d->data_asking, p->name, json_true());
	peer_request(d, l, json_pack("{s:s}", "op", "data-inventory"), NULL, 0,
	    data_inventory_got, xstrdup(p->name));
}

void
data_peer_down(struct daemon *d, const char *host)
{
	json_object_del(d->data_inv, host);
	json_object_del(d->data_asking, host);
	d->data_next_tick = 0;
}

static void
data_manifests_got(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	json_t *sets, *removed, *m, *t, *mine;
	const char *name;
	char *cause = NULL;

	(void)f;
	(void)arg;
	if (rep == NULL || !json_is_object(sets = json_object_get(rep,
	    "sets")) || !json_is_object(removed = json_object_get(rep,
	    "removed")))
		return;
	json_object_foreach(removed, name, t)
		if (json_is_integer(t) && data_name_ok(name) &&
		    (mine = json_object_get(d->data_sets, name)) != NULL &&
		    json_integer_value(json_object_get(mine, "created")) <=
		    json_integer_value(t))
			data_set_remove(d, name);
	json_object_foreach(sets, name, m) {
		if (json_object_get(d->data_sets, name) != NULL)
			continue;
		t = json_object_get(d->data_removed, name);
		if (t != NULL && json_integer_value(t) >= json_integer_value(
		    json_object_get(m, "created")))
			continue;
		if (data_check_manifest(m, &cause) != 0 ||
		    strcmp(str_field(m, "name"), name) != 0) {
			log_rated(&data_peer_rate, LOG_WARN, "data set %.64s from a peer: %s", name,
			    cause != NULL ? cause : "its name differs");
			free(cause);
			cause = NULL;
			continue;
		}
		data_set_store(d, m);
	}
}

void
data_link_up(struct daemon *d, struct link *l)
{
	peer_request(d, l, json_pack("{s:s}", "op", "data-manifests"), NULL, 0,
	    data_manifests_got, NULL);
}

/* ---- copies made again, blocks no set names dropped ---- */

static void
repair_done(struct daemon *d, json_t *rep, struct frame *f, void *arg)
{
	struct block_host *r = arg;

	(void)f;
	json_object_del(d->data_repairing, r->sha);
	if (rep != NULL && json_is_true(json_object_get(rep, "ok"))) {
		data_inv_add(d, r->host, r->sha);
		log_info("block %.12s: copied to %s", r->sha, r->host);
	} else
		log_rated(&data_peer_rate, LOG_WARN, "block %.12s: %s did not take a copy: %s", r->sha,
		    r->host, rep == NULL ? "it went away" :
		    str_field(rep, "error") != NULL ? str_field(rep, "error") :
		    "refused");
	free(r);
}

/* 1 when we know what every up peer holds now: its heartbeat's version
 * is the one of the list we have. */
static int
data_inv_current(struct daemon *d)
{
	json_t *v, *inv;
	int k;

	for (k = 0; k < d->npeers; k++) {
		if (!d->peers[k].up || link_of_peer(d, d->peers[k].name) ==
		    NULL)
			continue;
		v = json_object_get(json_object_get(d->peers[k].info, "cache"),
		    "version");
		inv = json_object_get(d->data_inv, d->peers[k].name);
		if (!json_is_integer(v) || inv == NULL ||
		    json_integer_value(json_object_get(inv, "version")) !=
		    json_integer_value(v))
			return 0;
	}
	return 1;
}

/*
 * For each named block here with fewer up copies than asked, the first of
 * its up holders (by name) sends one to the best ranked up host without.
 * Only with a current picture of who holds what: one a heartbeat behind
 * would copy blocks that are there.
 */
static void
data_repair(struct daemon *d)
{
	json_t *refs = data_referenced(d), *up = data_up_hosts(d), *holders,
	    *order, *h, *v;
	const char *sha, *host, *first;
	struct block_host *r;
	struct link *l;
	const void *p;
	uint64_t len;
	size_t i, want;

	if (!data_inv_current(d)) {
		json_decref(up);
		json_decref(refs);
		return;
	}
	json_object_foreach(refs, sha, v) {
		if (json_object_size(d->data_repairing) >= DATA_REPAIRS_MAX)
			break;
		if (!datacache_has(d->cache, sha) ||
		    datacache_age(d->cache, sha) < DATA_SETTLE_S ||
		    json_object_get(d->data_repairing, sha) != NULL)
			continue;
		want = (size_t)json_integer_value(v);
		if (want > json_array_size(up))
			want = json_array_size(up);
		holders = data_holders(d, sha);
		first = NULL;
		json_array_foreach(holders, i, h)
			if (first == NULL || strcmp(json_string_value(h),
			    first) < 0)
				first = json_string_value(h);
		if (json_array_size(holders) >= want || first == NULL ||
		    strcmp(first, d->cfg.name) != 0) {
			json_decref(holders);
			continue;
		}
		json_decref(holders);
		order = data_rank(sha, up);
		host = NULL;
		json_array_foreach(order, i, h)
			if (!data_held_by(d, json_string_value(h), sha)) {
				host = json_string_value(h);
				break;
			}
		if (host != NULL && (l = link_of_peer(d, host)) != NULL &&
		    (p = datacache_bytes(d->cache, sha, &len)) != NULL) {
			r = xcalloc(1, sizeof *r);
			snprintf(r->sha, sizeof r->sha, "%s", sha);
			snprintf(r->host, sizeof r->host, "%s", host);
			json_object_set_new(d->data_repairing, sha,
			    json_string(host));
			peer_request(d, l, json_pack("{s:s, s:s}", "op",
			    "data-block-store", "sha256", sha), p, len,
			    repair_done, r);
		}
		json_decref(order);
	}
	json_decref(up);
	json_decref(refs);
}

void
data_tick(struct daemon *d, uint64_t now)
{
	const char *name;
	json_t *t;
	void *tmp;

	if (now < d->data_next_tick)
		return;
	d->data_next_tick = now + DATA_TICK_MS;
	data_repair(d);
	/* Also forgets ended agents' uses and renews the pins. */
	data_drop_unnamed(d, NULL);
	json_object_foreach_safe(d->data_removed, tmp, name, t)
		if (json_integer_value(t) + DATA_TOMBSTONE_S < (json_int_t)
		    time(NULL))
			json_object_del(d->data_removed, name);
}

/* ---- agents: the parts they map, handed over as memfds ---- */

struct map_job {
	char		 agent[96];
	json_int_t	 seq;
	json_t		*blocks;	/* names, in order */
	size_t		 remaining;
	char		 error[256];
	json_t		*answer;	/* rows, in, out, block_rows, parts */
};

static void
map_answer(struct daemon *d, struct map_job *j, const char *error)
{
	json_t *m;
	int *fds = NULL;
	uint64_t len;
	size_t i, n = json_array_size(j->blocks);
	char *cause = NULL;

	if (error == NULL) {
		fds = xcalloc(n > 0 ? n : 1, sizeof *fds);
		for (i = 0; i < n; i++)
			if ((fds[i] = datacache_fd(d->cache, json_string_value(
			    json_array_get(j->blocks, i)), &len)) < 0) {
				error = "a block was evicted before it could "
				    "be mapped: the host's data cache is too "
				    "small (agentd --cache-mem)";
				break;
			}
	}
	if (error == NULL && runner_send_fds(d->runner, j->agent, fds, n,
	    &cause) != 0) {
		snprintf(j->error, sizeof j->error, "%s", cause);
		error = j->error;
		free(cause);
	}
	if (error != NULL)
		m = json_pack("{s:s, s:I, s:s}", "op", "data-mapped", "seq",
		    j->seq, "error", error);
	else {
		m = json_deep_copy(j->answer);
		json_object_set_new(m, "op", json_string("data-mapped"));
		json_object_set_new(m, "seq", json_integer(j->seq));
		json_object_set_new(m, "blocks", json_integer((json_int_t)n));
	}
	runner_send(d->runner, j->agent, m);
	json_decref(m);
	free(fds);
	json_decref(j->blocks);
	json_decref(j->answer);
	free(j);
}

static void
map_block_done(struct daemon *d, const char *sha, const char *error,
    void *arg)
{
	struct map_job *j = arg;

	(void)sha;
	if (error != NULL && j->error[0] == '\0')
		snprintf(j->error, sizeof j->error, "%s", error);
	if (--j->remaining == 0)
		map_answer(d, j, j->error[0] != '\0' ? j->error : NULL);
}

/* The part of a set's table a use names, or NULL with msg. */
static json_t *
data_part(struct daemon *d, json_t *use, json_t **table, char *msg,
    size_t len)
{
	const char *set = str_field(use, "set"), *tname = str_field(use,
	    "table");
	json_t *m, *t, *p;
	json_int_t part = json_integer_value(json_object_get(use, "part"));

	if (!data_name_ok(set) || tname == NULL) {
		snprintf(msg, len, "data-map: expected a set's name and a "
		    "table");
		return NULL;
	}
	if ((m = json_object_get(d->data_sets, set)) == NULL) {
		snprintf(msg, len, "no data set %s on the cluster", set);
		return NULL;
	}
	if ((t = json_object_get(json_object_get(m, "tables"), tname)) ==
	    NULL) {
		snprintf(msg, len, "data set %s has no %.16s table", set,
		    tname);
		return NULL;
	}
	if ((p = json_array_get(json_object_get(t, "parts"),
	    (size_t)part)) == NULL || part < 0) {
		snprintf(msg, len, "data set %s: table %s has %zu parts, not "
		    "part %lld", set, tname, json_array_size(
		    json_object_get(t, "parts")), (long long)part);
		return NULL;
	}
	*table = t;
	return p;
}

/* Fetches the blocks of the parts in uses that are not here. */
void
data_prefetch(struct daemon *d, json_t *uses)
{
	json_t *u, *p, *t, *b;
	size_t i, j;
	char msg[200];

	json_array_foreach(uses, i, u) {
		if ((p = data_part(d, u, &t, msg, sizeof msg)) == NULL)
			continue;
		json_array_foreach(json_object_get(p, "blocks"), j, b)
			if (!datacache_has(d->cache, json_string_value(b)))
				data_fetch(d, json_string_value(b),
				    data_prefetched, NULL);
	}
}

void
data_prefetched(struct daemon *d, const char *sha, const char *error,
    void *arg)
{
	(void)d;
	(void)arg;
	if (error != NULL)
		log_warn("block %.12s: prefetch: %s", sha, error);
}

size_t
data_blocks_held(struct daemon *d, const char *host, json_t *uses)
{
	json_t *u, *p, *t, *b;
	char msg[200];
	size_t i, j, n = 0;

	json_array_foreach(uses, i, u) {
		if ((p = data_part(d, u, &t, msg, sizeof msg)) == NULL)
			continue;
		json_array_foreach(json_object_get(p, "blocks"), j, b)
			n += data_held_by(d, host, json_string_value(b));
	}
	return n;
}

json_t *
data_agent_uses(struct daemon *d, const char *agent)
{
	return json_object_get(d->data_uses, agent);
}

void
data_agent_arrived(struct daemon *d, const char *agent, json_t *uses)
{
	if (json_is_array(uses) && json_array_size(uses) > 0)
		json_object_set(d->data_uses, agent, uses);
}

void
worker_request_data_map(struct daemon *d, const char *agent, json_t *meta,
    const unsigned char *payload, uint64_t len)
{
	struct map_job *j;
	json_t *p, *t, *use, *uses, *u, *m;
	char msg[200];
	size_t i;

	(void)payload;
	(void)len;
	j = xcalloc(1, sizeof *j);
	snprintf(j->agent, sizeof j->agent, "%s", agent);
	j->seq = json_integer_value(json_object_get(meta, "seq"));
	if ((p = data_part(d, meta, &t, msg, sizeof msg)) == NULL) {
		j->blocks = json_array();
		map_answer(d, j, msg);
		return;
	}
	m = json_object_get(d->data_sets, str_field(meta, "set"));
	j->blocks = json_incref(json_object_get(p, "blocks"));
	j->answer = json_pack("{s:O, s:O, s:O, s:O, s:I}", "rows",
	    json_object_get(p, "rows"), "in", json_object_get(m, "in"), "out",
	    json_object_get(m, "out"), "block_rows", json_object_get(p,
	    "block_rows"), "parts", (json_int_t)json_array_size(
	    json_object_get(t, "parts")));
	/* In use from now: pinned here and, by the heartbeats, elsewhere. */
	use = json_pack("{s:s, s:s, s:I}", "set", str_field(meta, "set"),
	    "table", str_field(meta, "table"), "part",
	    json_integer_value(json_object_get(meta, "part")));
	if ((uses = json_object_get(d->data_uses, agent)) == NULL) {
		uses = json_array();
		json_object_set_new(d->data_uses, agent, uses);
	}
	json_array_foreach(uses, i, u)
		if (json_equal(u, use))
			break;
	if (i == json_array_size(uses))
		json_array_append(uses, use);
	json_decref(use);
	data_pins_update(d);
	j->remaining = json_array_size(j->blocks) + 1;
	json_array_foreach(j->blocks, i, u)
		data_fetch(d, json_string_value(u), map_block_done, j);
	map_block_done(d, NULL, NULL, j);
}
