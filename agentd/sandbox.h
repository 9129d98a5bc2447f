/*
 * What confines a worker (docs/security.md, "Workers"): the user it runs
 * as, no_new_privs, its resource limits, the files it may reach
 * (Landlock) and the system calls it may make (seccomp). The daemon
 * decides; the worker applies it to itself before the agent's code loads.
 */
#ifndef AGENTD_SANDBOX_H
#define AGENTD_SANDBOX_H

#include <stdint.h>

#include <jansson.h>

/* An agent's resource limits; 0 is "none" for mem and cpu. */
struct sandbox_limits {
	uint64_t	 mem;	/* bytes of data memory (RLIMIT_DATA) */
	uint64_t	 files;	/* open descriptors (RLIMIT_NOFILE) */
	uint64_t	 cpu;	/* CPU seconds (RLIMIT_CPU) */
};

#define SANDBOX_HIDE_MAX	16

struct sandbox_config {
	int		 off;		/* --sandbox off: no Landlock, seccomp */
	const char	*user;		/* --worker-user; NULL: the default */
	struct sandbox_limits limits;	/* the host's defaults; 0: derived */
	const char	*syscalls;	/* --worker-syscalls: more to allow */
	const char	*cgroup;	/* --cgroup: a cgroup v2 folder of
					 * ours, for the workers' memory */
	const char	*hide[SANDBOX_HIDE_MAX]; /* paths workers must never
					 * read: the key files, the state */
};

#define SANDBOX_DEFAULT_USER	"agentd-worker"
#define SANDBOX_DEFAULT_FILES	1024
#define SANDBOX_MAX_FILES	65536

struct sandbox;

/*
 * Resolves the worker user and checks what this host offers, saying once
 * in the log what it lacks. NULL with cause (a named user that does not
 * exist, a worker user without root, an unknown system call).
 */
struct sandbox	*sandbox_new(const struct sandbox_config *, char **cause);
void		 sandbox_free(struct sandbox *);
/*
 * In a forked child, before it execs the worker: drops to the worker user
 * and sets no_new_privs; async-signal-safe. -1 on failure (errno).
 */
int		 sandbox_child(const struct sandbox *);
/* The host's limits for a worker, with an agent's overrides (NULL: none);
 * -1 with cause when an override is out of range. */
int		 sandbox_limits_parse(const struct sandbox *, json_t *obj,
		     struct sandbox_limits *out, char **cause);
/* What a worker applies to itself (sandbox_enter): a new object. */
json_t		*sandbox_spec(const struct sandbox *,
		     const struct sandbox_limits *);
/*
 * With --cgroup, a worker's own cgroup, made before it forks: the child
 * writes "0" to the returned descriptor (its cgroup.procs) to move in,
 * and name (len bytes) names it for the calls below. -1 without --cgroup,
 * or when it cannot be made (logged; the worker runs without one).
 */
int		 sandbox_cgroup_new(struct sandbox *, char *name, size_t len);
/* Whether workers get cgroups (--cgroup): one that cannot is not run. */
int		 sandbox_cgroup_on(const struct sandbox *);
/* Sets its memory.max to the agent's limit; -1 with cause. */
int		 sandbox_cgroup_limit(const struct sandbox *, const char *name,
		     const struct sandbox_limits *, char **cause);
/* Its worker gone: 1 when the kernel killed it for memory; removes it. */
int		 sandbox_cgroup_end(const struct sandbox *, const char *name);
/* A one-line account of the limits, for a worker that died of them. */
void		 sandbox_describe(const struct sandbox_limits *, char *buf,
		     size_t len);
/*
 * In the worker, before the agent's code loads: applies spec (limits,
 * Landlock, seccomp), for good; *landlock: the Landlock ABI applied, 0
 * when not asked, -1 when the kernel lacks it. 0, or -1 with cause.
 */
int		 sandbox_enter(json_t *spec, int *landlock, char **cause);
/* Whether name is a system call this build knows (for --worker-syscalls
 * and a spawn's "syscalls"). */
int		 sandbox_syscall_known(const char *name);

#endif
