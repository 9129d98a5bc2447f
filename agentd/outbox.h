/*
 * Messages a daemon answers for until the daemon that runs the receiver
 * acknowledges them. A message numbered for a sender here (an agent or a
 * client of this daemon), or one this daemon held for an agent that left,
 * stays in the outbox while it crosses links that may break; the daemon
 * sends it again, less and less often, until the receiving daemon says it
 * has it (its numbers drop the copies) or OUTBOX_GIVEUP_MS have passed.
 */
#ifndef AGENTD_OUTBOX_H
#define AGENTD_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#define OUTBOX_RETRY_MS		1000	/* first try again after this */
#define OUTBOX_RETRY_MAX_MS	8000	/* then doubling up to this */
#define OUTBOX_GIVEUP_MS	120000
#define OUTBOX_MAX		65536	/* messages waiting, at most */
#define OUTBOX_MAX_BYTES	((size_t)256 << 20)

struct outbox;

/* A message due: tries is how many times it was sent already. Return 1
 * when it needs nothing more (delivered here), else 0. It must not add
 * to the outbox or acknowledge in it. */
typedef int outbox_fn(void *arg, const char *to, const char *from,
    uint64_t seq, const void *data, size_t len, int tries);

struct outbox	*outbox_new(void);
void		 outbox_free(struct outbox *);
/*
 * Keeps a copy of message seq from -> to, sent for the first time at now
 * (ms). A message already kept is not added twice. -1 when the outbox is
 * full, with the reason in *cause.
 */
int		 outbox_add(struct outbox *, const char *to, const char *from,
		    uint64_t seq, const void *data, size_t len, uint64_t now,
		    char **cause);
/* The receiving daemon has it: 1 when it was kept, 0 when not (a late
 * or repeated acknowledgement). */
int		 outbox_ack(struct outbox *, const char *to, const char *from,
		    uint64_t seq);
/*
 * Each message whose next try is due at now, oldest first within each
 * (sender, receiver): resend gets it, or give_up when it has waited
 * OUTBOX_GIVEUP_MS (then it is dropped).
 */
void		 outbox_due(struct outbox *, uint64_t now, outbox_fn *resend,
		    outbox_fn *give_up, void *arg);
/* Every message is due at the next outbox_due: a link came back. */
void		 outbox_retry_now(struct outbox *);
/* Messages kept, and their bytes in *bytes when not NULL. */
size_t		 outbox_count(const struct outbox *, size_t *bytes);

#endif
