/*
 * Host inventories: reads the JSON file, checks every key, type and range,
 * parses each address into a sockaddr and refuses duplicates. Every error
 * is one line naming the file and the JSON path of the value at fault.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/hosts.h"
#include "base/alloc.h"
#include "base/jsonmsg.h"

#define HOSTS_JPATH_MAX		128	/* a JSON path in a message */
#define HOSTS_QUOTE_MAX		64	/* bytes of user text echoed back */

_Static_assert(HOSTS_JPATH_MAX <= NN_JSON_JPATH_MAX,
    "hosts_jp_key writes into nn_json_check_keys's buffer");

struct hosts {
	struct host_entry	*entries;
	int			 n;
	int			 cap;
};

/* Where a message goes: the file as given and the caller's cause. */
struct hosts_ctx {
	const char	*path;
	char		**cause;
};

/* An address reduced to what identifies it: IPv4-mapped IPv6 is IPv4. */
struct hosts_ip {
	int		family;
	unsigned char	addr[16];
	uint16_t	port;
};

static const char *const hosts_top_keys[] = { "hosts", "comment", NULL };
static const char *const hosts_entry_keys[] = {
	"name", "address", "cores", "mem_mb", "gpus", "tags", "comment", NULL
};

static int	hosts_error(struct hosts_ctx *, const char *, const char *, ...)
		    NN_PRINTF(3, 4);

/* Sets the cause to "<file>: <jpath>: <message>" and returns -1. */
static int
hosts_error(struct hosts_ctx *c, const char *jp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nn_json_verror(c->cause, c->path, jp, fmt, ap);
	va_end(ap);
	return -1;
}

/* Whether s is 1 to HOSTS_NAME_MAX characters of [A-Za-z0-9._-]. */
int
hosts_valid_name(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= HOSTS_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

/* Writes the path of member key of parent into buf (HOSTS_JPATH_MAX). */
static const char *
hosts_jp_key(char *buf, const char *parent, const char *key)
{
	char q[NN_QUOTE_BUF];
	const char *k;

	/* Keys we did not define may hold anything: quote those. */
	k = hosts_valid_name(key) ? key : nn_quote(q, key, HOSTS_QUOTE_MAX);
	if (parent[0] == '\0')
		snprintf(buf, HOSTS_JPATH_MAX, "%s", k);
	else
		snprintf(buf, HOSTS_JPATH_MAX, "%s.%s", parent, k);
	return buf;
}

/* Fails on the first member of obj that is not in keys. */
static int
hosts_check_keys(struct hosts_ctx *c, json_t *obj, const char *jp,
    const char *const *keys)
{
	const struct nn_json_keys k = {
		.allowed = keys,
		.jp_key = hosts_jp_key,
	};

	return nn_json_check_keys(obj, &k, c->path, jp, c->cause);
}

/* Reads a string without NUL bytes (borrowed from v). */
static int
hosts_string(struct hosts_ctx *c, json_t *v, const char *jp,
    const char **out)
{
	if (!json_is_string(v))
		return hosts_error(c, jp, "expected a string, got %s",
		    nn_json_type(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return hosts_error(c, jp, "contains a NUL character");
	*out = json_string_value(v);
	return 0;
}

/* Reads an integer in [lo, hi]; a number with no fraction counts. */
static int
hosts_int(struct hosts_ctx *c, json_t *v, const char *jp, int lo, int hi,
    int *out)
{
	double d;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < lo || json_integer_value(v) > hi)
			return hosts_error(c, jp, "expected an integer from %d "
			    "to %d, got %lld", lo, hi,
			    (long long)json_integer_value(v));
		*out = (int)json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return hosts_error(c, jp, "expected an integer from %d to %d, "
		    "got %s", lo, hi, nn_json_type(v));
	d = json_real_value(v);
	if (d != floor(d) || d < lo || d > hi)
		return hosts_error(c, jp, "expected an integer from %d to %d, "
		    "got %g", lo, hi, d);
	*out = (int)d;
	return 0;
}

/* Reduces sa to family, address and port; -1 for other families. */
static int
hosts_ip_of(const struct sockaddr *sa, struct hosts_ip *ip)
{
	static const unsigned char mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(ip, 0, sizeof *ip);
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		ip->family = AF_INET;
		memcpy(ip->addr, &sin->sin_addr, 4);
		ip->port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		/* A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d. */
		if (memcmp(sin6->sin6_addr.s6_addr, mapped, 12) == 0) {
			ip->family = AF_INET;
			memcpy(ip->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			ip->family = AF_INET6;
			memcpy(ip->addr, sin6->sin6_addr.s6_addr, 16);
		}
		ip->port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -1;
}

/* Whether a and b are the same address, and the same port if port is set. */
static int
hosts_ip_equal(const struct hosts_ip *a, const struct hosts_ip *b, int port)
{
	if (a->family != b->family || memcmp(a->addr, b->addr, 16) != 0)
		return 0;
	return !port || a->port == b->port;
}

/* Parses "A.B.C.D:PORT" or "[IPv6]:PORT"; see hosts.h. */
int
hosts_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    char **cause)
{
	char q[NN_QUOTE_BUF], qh[NN_QUOTE_BUF], host[HOSTS_ADDR_MAX];
	const char *colon, *end, *port;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	size_t hlen, plen;
	unsigned long p;
	int family;

	nn_quote(q, s, HOSTS_QUOTE_MAX);
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return nn_fail(cause, "expected [IPv6]:PORT, got %s",
			    q);
		family = AF_INET6;
		hlen = (size_t)(end - s - 1);
		memcpy(host, s + 1, hlen < sizeof host ? hlen : 0);
		port = end + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return nn_fail(cause, "expected HOST:PORT, got %s", q);
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return nn_fail(cause, "expected HOST:PORT with an IPv6 "
			    "address in brackets, got %s", q);
		family = AF_INET;
		hlen = (size_t)(colon - s);
		memcpy(host, s, hlen < sizeof host ? hlen : 0);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof host)
		return nn_fail(cause, "expected HOST:PORT, got %s", q);
	host[hlen] = '\0';

	/* Digits only, no sign, no leading zero: "+80" and "080" are typos. */
	plen = strlen(port);
	p = 0;
	if (plen >= 1 && plen <= 5 && strspn(port, "0123456789") == plen &&
	    port[0] != '0')
		p = strtoul(port, NULL, 10);
	if (p < 1 || p > 65535)
		return nn_fail(cause, "bad port %s in %s (expected 1 to 65535)",
		    nn_quote(qh, port, HOSTS_QUOTE_MAX), q);

	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		sin = (struct sockaddr_in *)ss;
		/* inet_pton takes exactly a dotted quad, no leading zeros. */
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return nn_fail(cause, "expected a numeric IPv4 address "
			    "A.B.C.D, got %s in %s", nn_quote(qh, host, HOSTS_QUOTE_MAX), q);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof *sin;
	} else {
		sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return nn_fail(cause, "expected a numeric IPv6 address, "
			    "got %s in %s", nn_quote(qh, host, HOSTS_QUOTE_MAX), q);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof *sin6;
	}
	return 0;
}

/* Writes sa as "A.B.C.D:PORT" or "[IPv6]:PORT"; see hosts.h. */
const char *
hosts_format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	char ip[INET6_ADDRSTRLEN];

	if (size == 0)
		return buf;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
		snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
		snprintf(buf, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, size, "(address family %d)", sa->sa_family);
	return buf;
}

/* An empty inventory; caller frees with hosts_free. */
struct hosts *
hosts_new(void)
{
	return xcalloc(1, sizeof (struct hosts));
}

/* Frees the tags of one entry. */
static void
hosts_entry_clear(struct host_entry *e)
{
	int i;

	for (i = 0; i < e->ntags; i++)
		free(e->tags[i]);
	free(e->tags);
	e->tags = NULL;
	e->ntags = 0;
}

/* Frees an inventory and its entries; NULL is fine. */
void
hosts_free(struct hosts *h)
{
	int i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		hosts_entry_clear(&h->entries[i]);
	free(h->entries);
	free(h);
}

/* The index of the host called name, or -1. */
static int
hosts_index_name(const struct hosts *h, const char *name)
{
	int i;

	for (i = 0; i < h->n; i++) {
		if (strcmp(h->entries[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* The index of the first host at sa (with its port if port is set), or -1. */
static int
hosts_index_addr(const struct hosts *h, const struct sockaddr *sa, int port)
{
	struct hosts_ip want, have;
	int i;

	if (hosts_ip_of(sa, &want) != 0)
		return -1;
	for (i = 0; i < h->n; i++) {
		if (hosts_ip_of((const struct sockaddr *)&h->entries[i].sa,
		    &have) == 0 && hosts_ip_equal(&want, &have, port))
			return i;
	}
	return -1;
}

/* Makes room for one more entry (not yet counted); NULL at HOSTS_MAX. */
static struct host_entry *
hosts_grow(struct hosts *h)
{
	struct host_entry *e;

	if (h->n >= HOSTS_MAX)
		return NULL;
	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 16 : h->cap * 2;
		if (h->cap > HOSTS_MAX)
			h->cap = HOSTS_MAX;
		h->entries = xreallocarray(h->entries, (size_t)h->cap,
		    sizeof *h->entries);
	}
	e = &h->entries[h->n];
	memset(e, 0, sizeof *e);
	e->gpus = -1;
	return e;
}

/* Adds a host with no capabilities; see hosts.h. */
int
hosts_add(struct hosts *h, const char *name, const char *address,
    char **cause)
{
	char q[NN_QUOTE_BUF], *why = NULL;
	struct host_entry *e;
	int rc;

	if (!hosts_valid_name(name))
		return nn_fail(cause, "host name: expected 1 to %d characters "
		    "of A-Z a-z 0-9 . _ -, got %s", HOSTS_NAME_MAX,
		    nn_quote(q, name, HOSTS_QUOTE_MAX));
	if (hosts_index_name(h, name) != -1)
		return nn_fail(cause, "host %s: already known", name);
	if ((e = hosts_grow(h)) == NULL)
		return nn_fail(cause, "host %s: too many hosts (limit %d)",
		    name, HOSTS_MAX);
	if (hosts_parse_addr(address, &e->sa, &e->salen, &why) != 0) {
		rc = nn_fail(cause, "host %s: %s", name, why);
		free(why);
		return rc;
	}
	if ((rc = hosts_index_addr(h, (struct sockaddr *)&e->sa, 1)) != -1)
		return nn_fail(cause, "host %s: address %s is host %s's", name,
		    hosts_format_addr((struct sockaddr *)&e->sa, e->address,
		    sizeof e->address), h->entries[rc].name);
	snprintf(e->name, sizeof e->name, "%s", name);
	hosts_format_addr((struct sockaddr *)&e->sa, e->address,
	    sizeof e->address);
	h->n++;
	return 0;
}

/* Reads the tags array into e. */
static int
hosts_parse_tags(struct hosts_ctx *c, json_t *v, const char *jp,
    struct host_entry *e)
{
	char ep[HOSTS_JPATH_MAX], q[NN_QUOTE_BUF];
	const char *tag;
	size_t i;
	json_t *t;

	if (!json_is_array(v))
		return hosts_error(c, jp, "expected an array of strings, got %s",
		    nn_json_type(v));
	if (json_array_size(v) > HOSTS_MAX_TAGS)
		return hosts_error(c, jp, "%zu tags (limit %d)",
		    json_array_size(v), HOSTS_MAX_TAGS);
	e->tags = xcalloc(json_array_size(v) + 1, sizeof *e->tags);
	json_array_foreach(v, i, t) {
		snprintf(ep, sizeof ep, "%s[%zu]", jp, i);
		if (hosts_string(c, t, ep, &tag) != 0)
			return -1;
		if (!hosts_valid_name(tag))
			return hosts_error(c, ep, "expected 1 to %d characters "
			    "of A-Z a-z 0-9 . _ -, got %s", HOSTS_NAME_MAX,
			    nn_quote(q, tag, HOSTS_QUOTE_MAX));
		if (hosts_has_tag(e, tag))
			return hosts_error(c, ep, "duplicate tag %s", tag);
		e->tags[e->ntags++] = xstrdup(tag);
	}
	return 0;
}

/* Reads hosts[i] into a new entry of h. */
static int
hosts_parse_entry(struct hosts_ctx *c, struct hosts *h, json_t *obj,
    size_t i)
{
	char jp[HOSTS_JPATH_MAX], kp[HOSTS_JPATH_MAX], q[NN_QUOTE_BUF];
	char *why = NULL;
	const char *s;
	struct host_entry *e;
	json_t *v;
	int other, rc;

	snprintf(jp, sizeof jp, "hosts[%zu]", i);
	if (!json_is_object(obj))
		return hosts_error(c, jp, "expected an object, got %s",
		    nn_json_type(obj));
	if (hosts_check_keys(c, obj, jp, hosts_entry_keys) != 0)
		return -1;
	if ((e = hosts_grow(h)) == NULL)
		return hosts_error(c, jp, "too many hosts (limit %d)",
		    HOSTS_MAX);
	/* From here e is counted, so hosts_free frees its tags on error. */
	h->n++;

	hosts_jp_key(kp, jp, "name");
	if ((v = json_object_get(obj, "name")) == NULL)
		return hosts_error(c, kp, "missing (expected the host's name)");
	if (hosts_string(c, v, kp, &s) != 0)
		return -1;
	if (!hosts_valid_name(s))
		return hosts_error(c, kp, "expected 1 to %d characters of "
		    "A-Z a-z 0-9 . _ -, got %s", HOSTS_NAME_MAX,
		    nn_quote(q, s, HOSTS_QUOTE_MAX));
	if ((other = hosts_index_name(h, s)) != -1)
		return hosts_error(c, kp, "duplicate name %s (also hosts[%d])",
		    s, other);
	snprintf(e->name, sizeof e->name, "%s", s);

	hosts_jp_key(kp, jp, "address");
	if ((v = json_object_get(obj, "address")) == NULL)
		return hosts_error(c, kp, "missing (expected HOST:PORT)");
	if (hosts_string(c, v, kp, &s) != 0)
		return -1;
	if (hosts_parse_addr(s, &e->sa, &e->salen, &why) != 0) {
		rc = hosts_error(c, kp, "%s", why);
		free(why);
		return rc;
	}
	hosts_format_addr((struct sockaddr *)&e->sa, e->address,
	    sizeof e->address);
	other = hosts_index_addr(h, (struct sockaddr *)&e->sa, 1);
	if (other != h->n - 1)
		return hosts_error(c, kp, "duplicate address %s (also "
		    "hosts[%d])", e->address, other);

	if ((v = json_object_get(obj, "cores")) != NULL &&
	    hosts_int(c, v, hosts_jp_key(kp, jp, "cores"), 1,
	    HOSTS_MAX_CORES, &e->cores) != 0)
		return -1;
	if ((v = json_object_get(obj, "mem_mb")) != NULL &&
	    hosts_int(c, v, hosts_jp_key(kp, jp, "mem_mb"), 1, INT_MAX,
	    &e->mem_mb) != 0)
		return -1;
	if ((v = json_object_get(obj, "gpus")) != NULL &&
	    hosts_int(c, v, hosts_jp_key(kp, jp, "gpus"), 0, HOSTS_MAX_GPUS,
	    &e->gpus) != 0)
		return -1;
	if ((v = json_object_get(obj, "tags")) != NULL &&
	    hosts_parse_tags(c, v, hosts_jp_key(kp, jp, "tags"), e) != 0)
		return -1;
	if ((v = json_object_get(obj, "comment")) != NULL &&
	    hosts_string(c, v, hosts_jp_key(kp, jp, "comment"), &s) != 0)
		return -1;
	return 0;
}

/* Checks the document root and reads every host into h. */
static int
hosts_parse(struct hosts_ctx *c, struct hosts *h, json_t *root)
{
	const char *s;
	json_t *list, *v;
	size_t i;

	if (!json_is_object(root))
		return hosts_error(c, NULL, "expected an object with a \"hosts\" "
		    "array, got %s", nn_json_type(root));
	if (hosts_check_keys(c, root, "", hosts_top_keys) != 0)
		return -1;
	if ((v = json_object_get(root, "comment")) != NULL &&
	    hosts_string(c, v, "comment", &s) != 0)
		return -1;
	if ((list = json_object_get(root, "hosts")) == NULL)
		return hosts_error(c, "hosts", "missing (expected an array of "
		    "hosts)");
	if (!json_is_array(list))
		return hosts_error(c, "hosts", "expected an array, got %s",
		    nn_json_type(list));
	if (json_array_size(list) == 0)
		return hosts_error(c, "hosts", "empty (expected at least one "
		    "host)");
	if (json_array_size(list) > HOSTS_MAX)
		return hosts_error(c, "hosts", "%zu hosts (limit %d)",
		    json_array_size(list), HOSTS_MAX);
	h->cap = (int)json_array_size(list);
	h->entries = xreallocarray(NULL, (size_t)h->cap, sizeof *h->entries);
	json_array_foreach(list, i, v) {
		if (hosts_parse_entry(c, h, v, i) != 0)
			return -1;
	}
	return 0;
}


/* Reads and checks an inventory file; see hosts.h. */
struct hosts *
hosts_load(const char *path, char **cause)
{
	struct hosts_ctx c = { path, cause };
	struct hosts *h;
	json_t *root;

	if ((root = nn_json_load_file(path, HOSTS_MAX_FILE, cause)) == NULL)
		return NULL;
	h = hosts_new();
	if (hosts_parse(&c, h, root) != 0) {
		hosts_free(h);
		h = NULL;
	}
	json_decref(root);
	return h;
}

/* The number of hosts. */
int
hosts_count(const struct hosts *h)
{
	return h->n;
}

/* Host i; borrowed, NULL when out of range. */
const struct host_entry *
hosts_get(const struct hosts *h, int i)
{
	if (i < 0 || i >= h->n)
		return NULL;
	return &h->entries[i];
}

/* The host called name; borrowed, or NULL. */
const struct host_entry *
hosts_find(const struct hosts *h, const char *name)
{
	int i;

	if ((i = hosts_index_name(h, name)) == -1)
		return NULL;
	return &h->entries[i];
}

/* The host at sa's address and port; borrowed, or NULL. */
const struct host_entry *
hosts_find_addr(const struct hosts *h, const struct sockaddr *sa)
{
	int i;

	if ((i = hosts_index_addr(h, sa, 1)) == -1)
		return NULL;
	return &h->entries[i];
}

/* The first host at sa's address, whatever the port; borrowed, or NULL. */
const struct host_entry *
hosts_find_ip(const struct hosts *h, const struct sockaddr *sa)
{
	int i;

	if ((i = hosts_index_addr(h, sa, 0)) == -1)
		return NULL;
	return &h->entries[i];
}

/* Whether e carries tag. */
int
hosts_has_tag(const struct host_entry *e, const char *tag)
{
	int i;

	for (i = 0; i < e->ntags; i++) {
		if (strcmp(e->tags[i], tag) == 0)
			return 1;
	}
	return 0;
}

/* The entry in the inventory's own form; new reference. */
json_t *
hosts_entry_json(const struct host_entry *e)
{
	json_t *o, *tags;
	int i;

	o = json_object();
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "address", json_string(e->address));
	if (e->cores > 0)
		json_object_set_new(o, "cores", json_integer(e->cores));
	if (e->mem_mb > 0)
		json_object_set_new(o, "mem_mb", json_integer(e->mem_mb));
	if (e->gpus >= 0)
		json_object_set_new(o, "gpus", json_integer(e->gpus));
	if (e->ntags > 0) {
		tags = json_array();
		for (i = 0; i < e->ntags; i++)
			json_array_append_new(tags, json_string(e->tags[i]));
		json_object_set_new(o, "tags", tags);
	}
	return o;
}
