/*
 * Packed agent state: the runtime side of struct agent_state (agent.h).
 *
 * A state is one JSON text and up to AGENT_STATE_MAX_SECTIONS named binary
 * sections. Agents fill it in pack and read it in unpack through the
 * agent_state_* functions of agent.h; the runtime creates, ships and frees
 * it with the functions below.
 *
 * The encoding, used between hosts and on disk (all integers little-endian,
 * every offset a multiple of 8 so that section bytes are 8-aligned when the
 * buffer is):
 *
 *    0  u32  magic      AGENT_STATE_MAGIC ("AGST" in memory order)
 *    4  u32  json_len   bytes of JSON, 0 when none was set
 *    8  u32  nsections
 *   12  u32  reserved   0
 *   16  json_len bytes of JSON (no NUL), then zeros to a multiple of 8
 *   then nsections times:
 *        64 bytes  name: 1 to 63 bytes, then zeros (at least one)
 *         u64      len
 *        len bytes of data, then zeros to a multiple of 8
 *
 * Decoding checks every length against the bytes left and the limits below
 * before allocating anything, and refuses padding that is not zero, bytes
 * after the last section and duplicate names.
 */
#ifndef AGENTD_STATE_H
#define AGENTD_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "agentd/agent.h"

struct json_t;

#define AGENT_STATE_MAGIC	0x54534741U		/* "AGST" */
#define AGENT_STATE_NAME_MAX	63			/* bytes in a name */
#define AGENT_STATE_MAX_SECTIONS 1024
#define AGENT_STATE_MAX_JSON	((size_t)16 << 20)	/* 16 MiB */
#define AGENT_STATE_MAX_SIZE	((uint64_t)1 << 30)	/* 1 GiB encoded */

/* An empty state: no JSON, no sections. */
struct agent_state *agent_state_new(void);
/* Frees st, its copies and any buffer it adopted; NULL is a no-op. */
void		 agent_state_free(struct agent_state *st);

/*
 * Why the first agent_state_set_json or agent_state_add call on st failed,
 * or NULL; borrowed. Lets the runtime say why a pack failed even when the
 * agent ignored the return value.
 */
const char	*agent_state_cause(const struct agent_state *st);

/* Sections in the order they were added, and the i-th one (borrowed). */
size_t		 agent_state_count(const struct agent_state *st);
const void	*agent_state_section(const struct agent_state *st, size_t i,
		     const char **name, size_t *len);

/* 1 when the agent kept a section (agent_state_keep): what the sections
 * point into must then live as long as the agent's process. */
int		 agent_state_kept(const struct agent_state *st);

/* The exact size of st's encoding; never above AGENT_STATE_MAX_SIZE. */
size_t		 agent_state_encoded_size(const struct agent_state *st);
/* Writes the encoding to buf, which holds agent_state_encoded_size bytes. */
void		 agent_state_encode(const struct agent_state *st,
		     unsigned char *buf);
/* Appends the encoding to out (copying the sections); 0 or -1. */
int		 agent_state_encode_evbuffer(const struct agent_state *st,
		     struct evbuffer *out);

/* The same with the sections referenced, not copied: out must be drained
 * while st and what its sections point to are still there. */
int		 agent_state_encode_ref(const struct agent_state *st,
		     struct evbuffer *out);

/* The same without the static sections (agent_state_add_static): what a
 * commit sends to a host that holds them already. */
int		 agent_state_encode_delta(const struct agent_state *st,
		     struct evbuffer *out);
/* Whether section i was added with agent_state_add_static. */
int		 agent_state_is_static(const struct agent_state *st, size_t i);
/*
 * The full encoding from a delta (agent_state_encode_delta, or any state
 * that lacks some sections) and a full encoding to take them from: the
 * delta's JSON and sections, then the base's sections named in kept (a
 * JSON array of strings), which the delta must lack. New bytes (*len) from
 * alloc, or NULL with cause.
 */
unsigned char	*agent_state_merge(const unsigned char *base, size_t base_len,
		     const unsigned char *delta, size_t delta_len,
		     struct json_t *kept, void *(*alloc)(size_t), size_t *len,
		     char **cause);

/*
 * Decodes len bytes at buf into a new state (caller frees). The JSON is
 * copied but the sections are not: they point into buf, which must outlive
 * the state unless it is handed over with agent_state_adopt. Returns 0, or
 * -1 with a one-line cause and *out NULL.
 */
int		 agent_state_decode(const unsigned char *buf, size_t len,
		     struct agent_state **out, char **cause);
/* Hands buf (from malloc) to st, which frees it in agent_state_free. */
void		 agent_state_adopt(struct agent_state *st, void *buf);

#endif
