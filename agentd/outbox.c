/* Messages kept until acknowledged (outbox.h). */
#include <stdlib.h>
#include <string.h>

#include "agentd/outbox.h"
#include "base/alloc.h"

struct entry {
	uint64_t	 seq;
	void		*data;
	size_t		 len;
	uint64_t	 first;		/* ms, sent the first time */
	uint64_t	 next;		/* ms, the next try */
	int		 tries;
	struct entry	*next_entry;
};

/* The messages of one sender to one receiver, by number. */
struct stream {
	char		*to, *from;
	struct entry	*head, *tail;
	struct stream	*next;
};

struct outbox {
	struct stream	*streams;
	size_t		 count, bytes;
};

struct outbox *
outbox_new(void)
{
	return xcalloc(1, sizeof (struct outbox));
}

static void
entry_free(struct entry *e)
{
	free(e->data);
	free(e);
}

static void
stream_free(struct stream *s)
{
	struct entry *e, *n;

	for (e = s->head; e != NULL; e = n) {
		n = e->next_entry;
		entry_free(e);
	}
	free(s->to);
	free(s->from);
	free(s);
}

void
outbox_free(struct outbox *o)
{
	struct stream *s, *n;

	if (o == NULL)
		return;
	for (s = o->streams; s != NULL; s = n) {
		n = s->next;
		stream_free(s);
	}
	free(o);
}

static struct stream *
stream_find(const struct outbox *o, const char *to, const char *from)
{
	struct stream *s;

	for (s = o->streams; s != NULL; s = s->next)
		if (strcmp(s->to, to) == 0 && strcmp(s->from, from) == 0)
			return s;
	return NULL;
}

/* Takes e out of s (prev is the entry before it, or NULL) and frees it. */
static void
entry_remove(struct outbox *o, struct stream *s, struct entry *prev,
    struct entry *e)
{
	if (prev == NULL)
		s->head = e->next_entry;
	else
		prev->next_entry = e->next_entry;
	if (s->tail == e)
		s->tail = prev;
	o->count--;
	o->bytes -= e->len;
	entry_free(e);
}

static void
stream_unlink_if_empty(struct outbox *o, struct stream *s)
{
	struct stream **pp;

	if (s->head != NULL)
		return;
	for (pp = &o->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	stream_free(s);
}

int
outbox_add(struct outbox *o, const char *to, const char *from, uint64_t seq,
    const void *data, size_t len, uint64_t now, char **cause)
{
	struct stream *s = stream_find(o, to, from);
	struct entry *e, *prev = NULL, *at;

	if (s != NULL) {
		/* In order, usually after the last; never twice. */
		if (s->tail != NULL && s->tail->seq < seq)
			prev = s->tail;
		else
			for (at = s->head; at != NULL && at->seq <= seq;
			    at = at->next_entry) {
				if (at->seq == seq)
					return 0;
				prev = at;
			}
	}
	if (o->count >= OUTBOX_MAX || len > OUTBOX_MAX_BYTES - o->bytes)
		return nn_fail(cause, "%zu messages (%zu bytes) wait for "
		    "acknowledgement already, at most %d (%zu bytes)",
		    o->count, o->bytes, OUTBOX_MAX, OUTBOX_MAX_BYTES);
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->to = xstrdup(to);
		s->from = xstrdup(from);
		s->next = o->streams;
		o->streams = s;
	}
	e = xcalloc(1, sizeof *e);
	e->seq = seq;
	e->len = len;
	if (len > 0) {
		e->data = xmalloc(len);
		memcpy(e->data, data, len);
	}
	e->first = now;
	e->next = now + OUTBOX_RETRY_MS;
	e->tries = 1;
	if (prev == NULL) {
		e->next_entry = s->head;
		s->head = e;
	} else {
		e->next_entry = prev->next_entry;
		prev->next_entry = e;
	}
	if (e->next_entry == NULL)
		s->tail = e;
	o->count++;
	o->bytes += len;
	return 0;
}

int
outbox_ack(struct outbox *o, const char *to, const char *from, uint64_t seq)
{
	struct stream *s = stream_find(o, to, from);
	struct entry *e, *prev = NULL;

	if (s == NULL)
		return 0;
	for (e = s->head; e != NULL && e->seq <= seq; e = e->next_entry) {
		if (e->seq == seq) {
			entry_remove(o, s, prev, e);
			stream_unlink_if_empty(o, s);
			return 1;
		}
		prev = e;
	}
	return 0;
}

void
outbox_due(struct outbox *o, uint64_t now, outbox_fn *resend,
    outbox_fn *give_up, void *arg)
{
	struct stream *s, *sn;
	struct entry *e, *en, *prev;
	uint64_t wait;
	int done;

	for (s = o->streams; s != NULL; s = sn) {
		sn = s->next;
		prev = NULL;
		for (e = s->head; e != NULL; e = en) {
			en = e->next_entry;
			if (e->next > now) {
				prev = e;
				continue;
			}
			if (now - e->first >= OUTBOX_GIVEUP_MS) {
				(void)give_up(arg, s->to, s->from, e->seq,
				    e->data, e->len, e->tries);
				done = 1;
			} else
				done = resend(arg, s->to, s->from, e->seq,
				    e->data, e->len, e->tries);
			if (done) {
				entry_remove(o, s, prev, e);
				continue;
			}
			wait = (uint64_t)OUTBOX_RETRY_MS << (e->tries < 4 ?
			    e->tries : 4);
			if (wait > OUTBOX_RETRY_MAX_MS)
				wait = OUTBOX_RETRY_MAX_MS;
			e->tries++;
			e->next = now + wait;
			prev = e;
		}
		stream_unlink_if_empty(o, s);
	}
}

void
outbox_retry_now(struct outbox *o)
{
	struct stream *s;
	struct entry *e;

	for (s = o->streams; s != NULL; s = s->next)
		for (e = s->head; e != NULL; e = e->next_entry)
			e->next = 0;
}

size_t
outbox_count(const struct outbox *o, size_t *bytes)
{
	if (bytes != NULL)
		*bytes = o->bytes;
	return o->count;
}
