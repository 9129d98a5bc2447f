/*
 * What the files of nnsim submit share: the job's state, one row per agent
 * (a session or a partition). cmd_submit.c parses and connects,
 * submit_sched.c places agents and runs the job, submit_event.c handles
 * the daemon's events, submit_display.c draws the live table,
 * submit_commit.c follows sessions' commits and resumes from them, and
 * submit_report.c writes the model and the last lines.
 */
#ifndef NN_SUBMIT_INTERNAL_H
#define NN_SUBMIT_INTERNAL_H

#include <jansson.h>

#include "agentd/codestore.h"
#include "base/alloc.h"
#include "cli/jobs.h"
#include "dist/job.h"
#include "dist/ring.h"
#include "nn/metrics.h"
#include "nn/prepare.h"

enum sess_state { S_QUEUED, S_RUNNING, S_DONE, S_FAILED };

struct sess {
	enum sess_state	 state;
	char		 agent[96];
	char		 host[64];
	int		 moving;	/* a migrate was asked for */
	int		 pinned;	/* data mode: moved by another */
	long long	 step;		/* live, from progress events */
	double		 live_loss;
	double		 sps;		/* samples per second */
	int		 epoch;
	double		 loss;
	json_t		*result;	/* the result's JSON */
	int		 retries;	/* starts again after failures */
	char		 reason[256];	/* S_FAILED: why, for the report */
	float		*params;
	double		 score;
	unsigned char	*seen;		/* epochs written to the metrics */
	size_t		 nseen;
	int		 done_epochs;	/* the last of them */
	/* Its last commit (submit_commit.c): the agent it is filed under,
	 * the hosts that hold it, the epochs it has done. */
	char		 commit[96];
	json_t		*commit_hosts;
	int		 commit_epochs;
	int		 commits;	/* commits made */
	double		 commit_ms;	/* and their time, summed */
	int		 commits_full;	/* those with the static sections */
	double		 commit_full_ms;
	int		 commit_warned;	/* a commit-failed line written */
	long long	 commit_step;	/* data mode: the step it holds */
	int		 commit_asked;	/* data mode: one is on its way */
	char		 lost_reason[128];	/* data mode: being rebuilt */
	double		 lost_at;	/* since (nn_clock_s): being resumed
					 * or rebuilt, until it trains */
	char		 recovery[160];	/* why its next spawn starts it
					 * again; the daemons show it */
};

/* Another daemon whose events we read (submit_follow.c). */
struct submit_follower {
	struct client		*cl;
	char			 host[64];
};

#define SUBMIT_FOLLOW_MAX	64
/* A daemon we lost takes no agents for this long, while the others may
 * still list it up. */
#define SUBMIT_GONE_S		10.0
/* Data mode: at least this long between two moves for balance. */
#define SUBMIT_DATA_MOVE_S	3.0

struct submit {
	struct client		*cl;
	const char		*addr;		/* the daemon cl talks to */
	char			 self[64];	/* its host name */
	char			 addr_buf[80];
	const char		*keyfile;
	json_t			*addrs;		/* host name -> address */
	json_t			*gone;		/* hosts we lost as our daemon */
	int			 lost;		/* cl's daemon did not answer */
	char			 refusal[512];	/* the last spawn a host refused */
	struct submit_follower	 follow[SUBMIT_FOLLOW_MAX];
	int			 nfollow;
	struct nn_cluster	*cluster;	/* embedded, or NULL */
	struct hosts		*inventory;	/* --hosts, or NULL */
	struct nn_job		 job;
	struct nn_prepared	 prep;
	struct nn_config	*cfg;
	/* The data cache (docs/data-cache.md): the set the job reads, its
	 * manifest and holders ({block: [host]}), NULL with --no-cache. */
	int			 no_cache;
	char			 key[65];	/* of file sources */
	json_t			*set_manifest;
	json_t			*set_holders;
	unsigned long long	 data_sent;	/* block bytes we put */
	struct nn_metrics	*metrics;
	struct sess		*s;
	char			 code[CODESTORE_HEX];
	void			*code_buf;	/* the agent's .so */
	size_t			 code_len;
	json_t			*hosts;		/* name -> free slots */
	size_t			*nparams;	/* each session's parameter
						 * count; data mode: one */
	int			 quiet;
	int			 running;
	int			 queued;	/* S_QUEUED sessions */
	int			 failures;	/* S_FAILED sessions */
	int			 data;		/* data mode */
	int			 encrypt;	/* data mode: the ring enciphers,
						 * as our daemon's frames do */
	int			 commit_warned;	/* a commit failure was shown */
	double			 rebuild_at;	/* data mode: partitions lost
						 * at (nn_clock_s), or 0 */
	double			 data_moved;	/* data mode: last balance */
	long long		 control;	/* data mode: orders' version */
	json_t			*backups;	/* data mode: "epoch" -> another
						 * partition's figures */
	double			 balanced;	/* last look, monotonic s */
	int			 tty;		/* a live table on stdout */
	int			 detached;	/* the table goes to the job's
						 * folder, for nnsim attach */
	int			 drawn;		/* its lines on screen */
	double			 redrawn;
	int			 n;		/* agents: sessions or partitions */
	unsigned char		 secret[NN_RING_SECRET];
	char			 id[NN_JOBS_ID_LEN + 1];	/* job id */
};

/* Agent i's parameter count: its session's network, or the data job's. */
static inline size_t
submit_nparams(const struct submit *sb, int i)
{
	return sb->nparams[sb->data ? 0 : i];
}

/* Ships the job's code to the daemon unless it stores it; -1 with cause. */
int		 submit_ship_code(struct submit *, char **cause);
/* What "session i" or "partition i" is called in messages. */
const char	*submit_kind(const struct submit *);
/* A request whose JSON (a new reference) this call consumes; NULL with
 * cause when no answer came (sb->lost is set then). */
json_t		*submit_ask(struct submit *, json_t *req, const void *payload,
		     uint64_t len, unsigned char **out, uint64_t *out_len,
		     char **cause);

/* submit_sched.c */
/* SIGINT and SIGTERM stop the job (its agents are killed). */
void		 submit_catch_signals(void);
/* Free cores per host that takes agents (possibly none). */
int		 submit_hosts(struct submit *, char **cause);
/* Spawns queued agents while cores are free (at least one runs). */
int		 submit_fill(struct submit *, char **cause);
/*
 * A session failed (its agent failed or was killed, or its host went
 * down): queued to start again while it has retries left, else failed
 * for good; either way the job goes on. -1 with cause when metrics
 * cannot be written.
 */
int		 submit_retry(struct submit *, int, const char *why,
		     char **cause);
/* Places the agents and follows them until none runs; -1 with cause. */
int		 submit_run(struct submit *, char **cause);
/* Kills whatever still runs (after a failure or an interrupt). */
void		 submit_kill_all(struct submit *);

/* submit_event.c */
/* Handles one event that the daemon of host via sent; -1 with cause ends
 * the job. */
int		 submit_event(struct submit *, json_t *ev, const char *via,
		     char **cause);

/* submit_commit.c */
/* Events "committed" and "commit-failed" of session i. */
int		 submit_ev_committed(struct submit *, int, json_t *, char **);
int		 submit_ev_commit_failed(struct submit *, int, json_t *,
		     char **);
/*
 * Starts session i again from its last commit, on a live host that holds
 * it: 1 when it runs again; 0 when it has no commit, or no host that held
 * it took it (lost then says why, for the line that reports the start
 * from scratch); -1 with cause when the daemon is lost.
 */
int		 submit_resume(struct submit *, int, const char *why,
		     char *lost, size_t lost_len, char **cause);
/* Tells the hosts that hold session i's commit that it is not needed. */
void		 submit_drop_commit(struct submit *, int);
/* submit_sched.c: starts session i on host, from its commit when commit
 * is not NULL; -1 with cause (*refused set when the daemon said no). */
int		 submit_spawn(struct submit *, int, const char *host,
		     const char *commit, int *refused, char **cause);
/* The same from state (len bytes, taken) or commit, or both: state with
 * the commit's sections named in keep (docs/protocol.md, spawn). */
int		 submit_spawn_state(struct submit *, int, const char *host,
		     const char *commit, unsigned char *state, size_t len,
		     json_t *keep, int *refused, char **cause);
/*
 * A host for agent i (-1: any): among those with free cores, the one that
 * holds most of its data in the cache (partition i's part, or a session's
 * train table), then the most free cores; NULL when every core is busy
 * (when all, any host at all, the most free cores first).
 */
const char	*submit_pick(struct submit *, int i, int all);
/* Sends every running partition the ring's members. */
int		 submit_members(struct submit *, char **cause);

/* submit_rebuild.c */
/*
 * Data mode: partitions lost with host (their rows in sb->s running there)
 * are to be rebuilt; asks the live ones for a commit. -1 with cause when
 * none is left.
 */
int		 submit_lose_partitions(struct submit *, const char *host,
		     const char *why, char **cause);
/*
 * Data mode: partition i failed on its own (its agent crashed or was
 * killed): rebuilt like a lost one while it has parallel.retries left,
 * else -1 with cause, which fails the job.
 */
int		 submit_partition_failed(struct submit *, int, const char *why,
		     char **cause);
/* Once every live partition committed: the lost ones are rebuilt from
 * the earliest; -1 with cause when that cannot be done in time. */
int		 submit_rebuild_turn(struct submit *, char **cause);
/* Rebuilt partition i finished step (its first): a "recovered" line with
 * the stall from the loss. */
int		 submit_recovered(struct submit *, int, json_t *step,
		     char **cause);

/* submit_follow.c */
/*
 * The daemon we talk to is gone: talk to another host (of the last host
 * list), treat the lost one as down, follow every other up host for the
 * events of the agents whose home it was, and settle what the gap hid.
 * -1 with cause when no host answers.
 */
int		 submit_reconnect(struct submit *, const char *why,
		     char **cause);
/* Reads the followers' waiting events; -1 with cause ends the job. */
int		 submit_follow_events(struct submit *, char **cause);
/* 1 when agent's home is a daemon we lost (its events come from where
 * it runs). */
int		 submit_orphan(const struct submit *, const char *agent);
void		 submit_follow_free(struct submit *);

/* submit_display.c */
/* The job's first line: what runs where. */
void		 submit_announce(struct submit *);
/* On a terminal, the live table; at most twice a second unless force. */
void		 submit_draw(struct submit *, int force);
/* One line for people about an event of agent i. */
void		 submit_say(struct submit *, int, const char *, ...)
		     NN_PRINTF(3, 4);
/* A line about the cluster (a host down, up, joined), above the table. */
void		 submit_note(struct submit *, const char *, ...)
		     NN_PRINTF(2, 3);

/* submit_report.c */
/* Writes the best model, the metrics' last lines and the result line. */
int		 submit_report(struct submit *, const char *output,
		     char **cause);

#endif
