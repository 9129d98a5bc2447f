/* Packed agent state: a JSON text and named sections, and their encoding. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentd/state.h"
#include "base/alloc.h"
#include "base/le.h"

#define STATE_HEADER_SIZE	16
#define STATE_NAME_SIZE		64
#define STATE_SECTION_SIZE	(STATE_NAME_SIZE + 8)

struct state_section {
	char			 name[STATE_NAME_SIZE];
	const unsigned char	*data;	/* never NULL, even when len is 0 */
	unsigned char		*copy;	/* owned; NULL when data is in a buffer */
	size_t			 len;
	int			 is_static;	/* agent_state_add_static */
};

struct agent_state {
	char			*json;		/* NULL until set */
	size_t			 json_len;
	struct state_section	*sections;
	size_t			 nsections;
	size_t			 allocated;
	uint64_t		 size;		/* encoded size */
	void			*buffer;	/* adopted; sections may point here */
	char			*cause;		/* first failure, for the runtime */
	int			 kept;		/* agent_state_keep was called */
};

/* Rounds n up to a multiple of 8; n is at most AGENT_STATE_MAX_SIZE. */
static uint64_t
state_pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

/* 1 when n bytes at p are all zero. */
static int
state_zero(const unsigned char *p, size_t n)
{
	while (n-- > 0) {
		if (*p++ != 0)
			return 0;
	}
	return 1;
}

static int	state_fail(struct agent_state *, const char *, ...)
		    NN_PRINTF(2, 3);

/* Keeps the first failure only: later ones are usually its consequences. */
static int
state_fail(struct agent_state *st, const char *fmt, ...)
{
	va_list ap;

	if (st->cause == NULL) {
		va_start(ap, fmt);
		st->cause = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* A name is 1 to 63 bytes with no control characters; 0 or -1. */
static int
state_check_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > AGENT_STATE_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return -1;
	}
	return 0;
}

/* The section named name, or NULL. */
static const struct state_section *
state_find(const struct agent_state *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->nsections; i++) {
		if (strcmp(st->sections[i].name, name) == 0)
			return &st->sections[i];
	}
	return NULL;
}

/* Room for one more section. */
static struct state_section *
state_grow(struct agent_state *st)
{
	if (st->nsections == st->allocated) {
		st->allocated = st->allocated == 0 ? 8 : st->allocated * 2;
		st->sections = xreallocarray(st->sections, st->allocated,
		    sizeof *st->sections);
	}
	return &st->sections[st->nsections++];
}

/* An empty state. */
struct agent_state *
agent_state_new(void)
{
	struct agent_state *st = xcalloc(1, sizeof *st);

	st->size = STATE_HEADER_SIZE;
	return st;
}

/* Frees st and everything it owns; NULL is a no-op. */
void
agent_state_free(struct agent_state *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nsections; i++)
		free(st->sections[i].copy);
	free(st->sections);
	free(st->json);
	free(st->buffer);
	free(st->cause);
	free(st);
}

/* The first failure recorded on st, or NULL; borrowed. */
const char *
agent_state_cause(const struct agent_state *st)
{
	return st->cause;
}

/* Sets the JSON text (copied), replacing any earlier one; 0 or -1. */
int
agent_state_set_json(struct agent_state *st, const char *json)
{
	json_error_t jerr;
	json_t *root;
	size_t len;

	if (st == NULL)
		return -1;
	if (json == NULL)
		return state_fail(st, "agent state: JSON is NULL");
	len = strlen(json);
	if (len > AGENT_STATE_MAX_JSON) {
		return state_fail(st, "agent state: JSON is %zu bytes "
		    "(limit %zu)", len, AGENT_STATE_MAX_JSON);
	}
	/* Caught here, in pack, a bad text names its cause; after a move
	 * it would only fail unpack on another host. */
	if ((root = json_loadb(json, len, JSON_DECODE_ANY, &jerr)) == NULL) {
		return state_fail(st, "agent state: JSON: line %d: %s",
		    jerr.line, jerr.text);
	}
	json_decref(root);
	if (st->size - state_pad8(st->json_len) + state_pad8(len) >
	    AGENT_STATE_MAX_SIZE) {
		return state_fail(st, "agent state: %zu bytes of JSON make the "
		    "state larger than %llu bytes", len,
		    (unsigned long long)AGENT_STATE_MAX_SIZE);
	}

	st->size -= state_pad8(st->json_len);
	free(st->json);
	st->json = xstrdup(json);
	st->json_len = len;
	st->size += state_pad8(len);
	return 0;
}

/* The JSON text, or NULL when none was set; borrowed. */
const char *
agent_state_json(const struct agent_state *st)
{
	if (st == NULL)
		return NULL;
	return st->json;
}

/* Adds a copy of len bytes as section name; 0 or -1. */
/* How state_add keeps a section's bytes. */
enum state_keep { STATE_COPY, STATE_REF, STATE_STATIC };

static int
state_add(struct agent_state *st, const char *name, const void *data,
    size_t len, enum state_keep how)
{
	int by_ref = how != STATE_COPY;
	struct state_section *s;
	unsigned char *copy = NULL;
	uint64_t need;

	if (st == NULL)
		return -1;
	if (name == NULL)
		return state_fail(st, "agent state: section name is NULL");
	if (state_check_name(name, strnlen(name, STATE_NAME_SIZE)) != 0) {
		/* Not echoed: it may hold a newline or run on. */
		return state_fail(st, "agent state: bad section name "
		    "(expected 1 to %d bytes, no control characters)",
		    AGENT_STATE_NAME_MAX);
	}
	if (data == NULL && len != 0) {
		return state_fail(st, "agent state: section \"%s\": NULL data",
		    name);
	}
	if (state_find(st, name) != NULL) {
		return state_fail(st, "agent state: section \"%s\" added twice",
		    name);
	}
	if (st->nsections == AGENT_STATE_MAX_SECTIONS) {
		return state_fail(st, "agent state: section \"%s\": more than "
		    "%d sections", name, AGENT_STATE_MAX_SECTIONS);
	}
	need = STATE_SECTION_SIZE + state_pad8(len);
	if (len > AGENT_STATE_MAX_SIZE ||
	    st->size + need > AGENT_STATE_MAX_SIZE) {
		return state_fail(st, "agent state: section \"%s\": %zu bytes "
		    "make the state larger than %llu bytes", name, len,
		    (unsigned long long)AGENT_STATE_MAX_SIZE);
	}
	/* Large states are the point; running out is a failed pack, not an
	 * abort of the worker. */
	if (!by_ref && len != 0 && (copy = malloc(len)) == NULL) {
		return state_fail(st, "agent state: section \"%s\": out of "
		    "memory for %zu bytes", name, len);
	}

	s = state_grow(st);
	memset(s->name, 0, sizeof s->name);
	memcpy(s->name, name, strlen(name));
	if (copy != NULL)
		memcpy(copy, data, len);
	s->copy = copy;
	s->data = copy != NULL ? copy : by_ref && len != 0 ? data :
	    (const unsigned char *)"";
	s->len = len;
	s->is_static = how == STATE_STATIC;
	st->size += need;
	return 0;
}

/* Adds a section, copying len bytes at data; 0 or -1. */
int
agent_state_add(struct agent_state *st, const char *name, const void *data,
    size_t len)
{
	return state_add(st, name, data, len, STATE_COPY);
}

/* Adds a section that refers to data (agent.h); 0 or -1. */
int
agent_state_add_ref(struct agent_state *st, const char *name,
    const void *data, size_t len)
{
	return state_add(st, name, data, len, STATE_REF);
}

/* A referred section whose bytes never change in this process (agent.h). */
int
agent_state_add_static(struct agent_state *st, const char *name,
    const void *data, size_t len)
{
	return state_add(st, name, data, len, STATE_STATIC);
}

int
agent_state_is_static(const struct agent_state *st, size_t i)
{
	return i < st->nsections && st->sections[i].is_static;
}

/* The bytes of section name and their length, or NULL; borrowed. */
const void *
agent_state_get(const struct agent_state *st, const char *name, size_t *len)
{
	const struct state_section *s;

	if (len != NULL)
		*len = 0;
	if (st == NULL || name == NULL || (s = state_find(st, name)) == NULL)
		return NULL;
	if (len != NULL)
		*len = s->len;
	return s->data;
}

/* The section in place, for good: the runtime keeps what backs it. */
void *
agent_state_keep(const struct agent_state *st, const char *name, size_t *len)
{
	void *p = (void *)(uintptr_t)agent_state_get(st, name, len);

	if (p != NULL)
		((struct agent_state *)(uintptr_t)st)->kept = 1;
	return p;
}

/* 1 when the agent kept a section of st (agent_state_keep). */
int
agent_state_kept(const struct agent_state *st)
{
	return st->kept;
}

/* How many sections st holds. */
size_t
agent_state_count(const struct agent_state *st)
{
	return st->nsections;
}

/* The i-th section's bytes, name and length, or NULL past the end. */
const void *
agent_state_section(const struct agent_state *st, size_t i,
    const char **name, size_t *len)
{
	if (i >= st->nsections)
		return NULL;
	if (name != NULL)
		*name = st->sections[i].name;
	if (len != NULL)
		*len = st->sections[i].len;
	return st->sections[i].data;
}

/* Bytes in st's encoding. */
size_t
agent_state_encoded_size(const struct agent_state *st)
{
	return st->size;
}

/* The header and JSON, padded: what precedes the first section. */
static size_t
state_encode_head(const struct agent_state *st, size_t nsections,
    unsigned char *buf)
{
	size_t padded = state_pad8(st->json_len);

	nn_le_put_u32(buf, AGENT_STATE_MAGIC);
	nn_le_put_u32(buf + 4, st->json_len);
	nn_le_put_u32(buf + 8, (uint32_t)nsections);
	nn_le_put_u32(buf + 12, 0);
	if (st->json_len != 0)
		memcpy(buf + STATE_HEADER_SIZE, st->json, st->json_len);
	memset(buf + STATE_HEADER_SIZE + st->json_len, 0,
	    padded - st->json_len);
	return STATE_HEADER_SIZE + padded;
}

/* One section's fixed header: its name and length. */
static void
state_encode_section(const struct state_section *s, unsigned char *buf)
{
	memcpy(buf, s->name, STATE_NAME_SIZE);
	nn_le_put_u64(buf + STATE_NAME_SIZE, s->len);
}

/* Writes the encoding to buf (agent_state_encoded_size bytes). */
void
agent_state_encode(const struct agent_state *st, unsigned char *buf)
{
	const struct state_section *s;
	size_t i, off, pad;

	off = state_encode_head(st, st->nsections, buf);
	for (i = 0; i < st->nsections; i++) {
		s = &st->sections[i];
		state_encode_section(s, buf + off);
		off += STATE_SECTION_SIZE;
		if (s->len != 0)
			memcpy(buf + off, s->data, s->len);
		pad = state_pad8(s->len) - s->len;
		memset(buf + off + s->len, 0, pad);
		off += s->len + pad;
	}
	if (off != st->size)
		fatal("agent state: encoded %zu bytes, expected %llu", off,
		    (unsigned long long)st->size);
}

/* Appends the encoding to out; 0, or -1 when out cannot grow. With
 * by_ref the sections' bytes are referenced, not copied; with no_static
 * the static sections are left out. */
static int
state_encode_evbuffer(const struct agent_state *st, struct evbuffer *out,
    int by_ref, int no_static)
{
	static const unsigned char zero[8];
	const struct state_section *s;
	unsigned char section[STATE_SECTION_SIZE], *head;
	size_t i, n, count = 0;
	int rc;

	if (!by_ref && evbuffer_expand(out, st->size) != 0)
		return -1;
	for (i = 0; i < st->nsections; i++)
		count += !(no_static && st->sections[i].is_static);
	head = xmalloc(STATE_HEADER_SIZE + state_pad8(st->json_len));
	n = state_encode_head(st, count, head);
	rc = evbuffer_add(out, head, n);
	free(head);
	if (rc != 0)
		return -1;
	for (i = 0; i < st->nsections; i++) {
		s = &st->sections[i];
		if (no_static && s->is_static)
			continue;
		state_encode_section(s, section);
		if (evbuffer_add(out, section, sizeof section) != 0)
			return -1;
		if (s->len != 0 && (by_ref ? evbuffer_add_reference(out,
		    s->data, s->len, NULL, NULL) : evbuffer_add(out, s->data,
		    s->len)) != 0)
			return -1;
		n = state_pad8(s->len) - s->len;
		if (n != 0 && evbuffer_add(out, zero, n) != 0)
			return -1;
	}
	return 0;
}

int
agent_state_encode_evbuffer(const struct agent_state *st,
    struct evbuffer *out)
{
	return state_encode_evbuffer(st, out, 0, 0);
}

int
agent_state_encode_ref(const struct agent_state *st, struct evbuffer *out)
{
	return state_encode_evbuffer(st, out, 1, 0);
}

int
agent_state_encode_delta(const struct agent_state *st, struct evbuffer *out)
{
	return state_encode_evbuffer(st, out, 1, 1);
}

/*
 * The full state from a commit's delta and an earlier full state of the
 * same run: delta's JSON and sections, then base's sections named in
 * kept, which delta must lack. A new buffer from alloc of *len bytes, or
 * NULL with cause.
 */
unsigned char *
agent_state_merge(const unsigned char *base, size_t base_len,
    const unsigned char *delta, size_t delta_len, json_t *kept,
    void *(*alloc)(size_t), size_t *len, char **cause)
{
	struct agent_state *b = NULL, *dl = NULL, *m = NULL;
	const struct state_section *s;
	unsigned char *out = NULL;
	const char *name;
	size_t i;

	if (agent_state_decode(base, base_len, &b, cause) != 0 ||
	    agent_state_decode(delta, delta_len, &dl, cause) != 0)
		goto out;
	m = agent_state_new();
	if (dl->json != NULL && agent_state_set_json(m, dl->json) != 0)
		goto fail;
	for (i = 0; i < dl->nsections; i++) {
		s = &dl->sections[i];
		if (agent_state_add_ref(m, s->name, s->data, s->len) != 0)
			goto fail;
	}
	for (i = 0; i < json_array_size(kept); i++) {
		name = json_string_value(json_array_get(kept, i));
		if (name == NULL || (s = state_find(b, name)) == NULL) {
			nn_fail(cause, "agent state: the full commit lacks "
			    "section %s", name != NULL ? name : "?");
			goto out;
		}
		if (agent_state_add_ref(m, s->name, s->data, s->len) != 0)
			goto fail;
	}
	if ((out = alloc(m->size)) == NULL) {
		nn_fail(cause, "agent state: out of memory merging a commit of "
		    "%llu bytes", (unsigned long long)m->size);
		goto out;
	}
	agent_state_encode(m, out);
	*len = m->size;
	goto out;
fail:
	nn_fail(cause, "agent state: %s", agent_state_cause(m) != NULL ?
	    agent_state_cause(m) : "cannot merge a commit");
out:
	agent_state_free(b);
	agent_state_free(dl);
	agent_state_free(m);
	return out;
}

/* Hands buf to st: freed with it. */
void
agent_state_adopt(struct agent_state *st, void *buf)
{
	if (st->buffer != NULL && st->buffer != buf)
		fatal("agent state: a second buffer adopted");
	st->buffer = buf;
}

/*
 * Checks the header and the JSON of an encoded state of len bytes, and
 * that nsections could fit in what follows; *off is where the sections
 * start. 0, or -1 with cause.
 */
static int
state_decode_header(const unsigned char *buf, size_t len, uint32_t *json_len,
    uint32_t *nsections, size_t *off, char **cause)
{
	size_t left, pad;

	if (len < STATE_HEADER_SIZE)
		return nn_fail(cause, "agent state: %zu bytes, shorter than "
		    "the %d-byte header", len, STATE_HEADER_SIZE);
	if (len > AGENT_STATE_MAX_SIZE)
		return nn_fail(cause, "agent state: %zu bytes (limit %llu)",
		    len, (unsigned long long)AGENT_STATE_MAX_SIZE);
	if (nn_le_get_u32(buf) != AGENT_STATE_MAGIC)
		return nn_fail(cause, "agent state: bad magic 0x%08x "
		    "(expected 0x%08x)", nn_le_get_u32(buf), AGENT_STATE_MAGIC);
	if (nn_le_get_u32(buf + 12) != 0)
		return nn_fail(cause, "agent state: reserved field is 0x%08x "
		    "(expected 0)", nn_le_get_u32(buf + 12));
	*json_len = nn_le_get_u32(buf + 4);
	*nsections = nn_le_get_u32(buf + 8);
	*off = STATE_HEADER_SIZE;
	left = len - *off;

	if (*json_len > AGENT_STATE_MAX_JSON)
		return nn_fail(cause, "agent state: JSON length %u (limit %zu)",
		    *json_len, AGENT_STATE_MAX_JSON);
	if (state_pad8(*json_len) > left)
		return nn_fail(cause, "agent state: JSON length %u (padded to "
		    "%llu) exceeds the %zu bytes left", *json_len,
		    (unsigned long long)state_pad8(*json_len), left);
	if (memchr(buf + *off, '\0', *json_len) != NULL)
		return nn_fail(cause, "agent state: JSON contains a NUL byte");
	pad = state_pad8(*json_len) - *json_len;
	if (!state_zero(buf + *off + *json_len, pad))
		return nn_fail(cause, "agent state: nonzero padding after the "
		    "JSON");
	*off += *json_len + pad;
	left = len - *off;
	/* Each section takes at least its header: a cheap bound on the
	 * count before the table is allocated. */
	if (*nsections > AGENT_STATE_MAX_SECTIONS)
		return nn_fail(cause, "agent state: %u sections (limit %d)",
		    *nsections, AGENT_STATE_MAX_SECTIONS);
	if ((uint64_t)*nsections * STATE_SECTION_SIZE > left)
		return nn_fail(cause, "agent state: %u sections need at least "
		    "%llu bytes, %zu left", *nsections,
		    (unsigned long long)*nsections * STATE_SECTION_SIZE, left);
	return 0;
}

/* Adds section i, at *off of buf (len bytes), to st and moves *off past
 * it. 0, or -1 with cause. */
static int
state_decode_section(struct agent_state *st, const unsigned char *buf,
    size_t len, uint32_t i, size_t *off, char **cause)
{
	struct state_section *s;
	const unsigned char *p;
	uint64_t slen;
	size_t left = len - *off, pad, nlen;

	if (left < STATE_SECTION_SIZE)
		return nn_fail(cause, "agent state: section %u: header needs "
		    "%d bytes, %zu left", i, STATE_SECTION_SIZE, left);
	p = buf + *off;
	nlen = strnlen((const char *)p, STATE_NAME_SIZE);
	if (nlen == STATE_NAME_SIZE)
		return nn_fail(cause, "agent state: section %u: name is not "
		    "terminated within %d bytes", i, STATE_NAME_SIZE);
	if (state_check_name((const char *)p, nlen) != 0)
		return nn_fail(cause, "agent state: section %u: bad name "
		    "(expected 1 to %d bytes, no control characters)", i,
		    AGENT_STATE_NAME_MAX);
	if (!state_zero(p + nlen, STATE_NAME_SIZE - nlen))
		return nn_fail(cause, "agent state: section %u \"%s\": "
		    "nonzero bytes after the name", i, (const char *)p);
	if (state_find(st, (const char *)p) != NULL)
		return nn_fail(cause, "agent state: section %u: name \"%s\" "
		    "appears twice", i, (const char *)p);
	slen = nn_le_get_u64(p + STATE_NAME_SIZE);
	*off += STATE_SECTION_SIZE;
	left = len - *off;
	if (slen > left)
		return nn_fail(cause, "agent state: section %u \"%s\": length "
		    "%llu exceeds the %zu bytes left", i, (const char *)p,
		    (unsigned long long)slen, left);
	pad = state_pad8(slen) - slen;
	if (pad > left - slen)
		return nn_fail(cause, "agent state: section %u \"%s\": "
		    "padding needs %zu bytes, %zu left", i, (const char *)p,
		    pad, (size_t)(left - slen));
	if (!state_zero(buf + *off + slen, pad))
		return nn_fail(cause, "agent state: section %u \"%s\": "
		    "nonzero padding", i, (const char *)p);

	s = &st->sections[st->nsections++];
	memcpy(s->name, p, nlen);
	s->data = buf + *off;
	s->len = slen;
	*off += slen + pad;
	return 0;
}

/* Decodes buf; sections point into it. 0, or -1 with cause. */
int
agent_state_decode(const unsigned char *buf, size_t len,
    struct agent_state **out, char **cause)
{
	struct agent_state *st = NULL;
	uint32_t json_len = 0, nsections = 0, i;
	size_t off = 0;
	int rc = -1;

	*out = NULL;
	if (state_decode_header(buf, len, &json_len, &nsections, &off,
	    cause) != 0)
		goto out;
	st = agent_state_new();
	if (json_len != 0) {
		st->json = xmalloc((size_t)json_len + 1);
		memcpy(st->json, buf + STATE_HEADER_SIZE, json_len);
		st->json[json_len] = '\0';
		st->json_len = json_len;
	}
	st->sections = xcalloc(nsections, sizeof *st->sections);
	st->allocated = nsections;
	for (i = 0; i < nsections; i++) {
		if (state_decode_section(st, buf, len, i, &off, cause) != 0)
			goto out;
	}
	if (off != len) {
		nn_fail(cause, "agent state: %zu bytes after the last section",
		    len - off);
		goto out;
	}
	st->size = len;
	*out = st;
	st = NULL;
	rc = 0;
out:
	agent_state_free(st);
	return rc;
}
