/*
 * Worker confinement. The daemon resolves the user and the limits once;
 * each worker drops to the user before it execs (sandbox_child), then,
 * holding only its socket and its state, applies the limits, Landlock and
 * seccomp to itself before any of the agent's code is loaded.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/landlock.h>
#include <seccomp.h>

#include "agentd/log.h"
#include "agentd/sandbox.h"
#include "base/alloc.h"

#define nitems(a)	(sizeof (a) / sizeof (a)[0])

/* Newer than Debian 12's headers: the kernel reads as much of the
 * ruleset attribute as we say it is long. */
struct sandbox_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};
#define SANDBOX_LL_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#define SANDBOX_LL_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#define SANDBOX_LL_SCOPE_UNIX	(1ULL << 0)	/* ABI 6 */
#define SANDBOX_LL_SCOPE_SIGNAL	(1ULL << 1)	/* ABI 6 */

#define SANDBOX_LL_READ	(LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define SANDBOX_LL_FILE	(LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	SANDBOX_LL_TRUNCATE | SANDBOX_LL_IOCTL_DEV)

/* How deep, and how wide, a readable root is split around a hidden path. */
#define SANDBOX_CARVE_DEPTH	8
#define SANDBOX_CARVE_ENTRIES	4096

/* AddressSanitizer reserves terabytes of writable shadow: a data limit
 * would stop it, so such builds run without one (and say so). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN	1
#endif
#endif

struct sandbox {
	int		 off;
	int		 drop;		/* change user before exec */
	uid_t		 uid;
	gid_t		 gid;
	char		 user[64];
	struct sandbox_limits limits;
	int		 seccomp;
	json_t		*syscalls;	/* names allowed beyond the list */
	json_t		*hide;		/* real paths */
	int		 cg_fd;		/* --cgroup's folder, or -1 */
	char		 cg_path[PATH_MAX];
	unsigned long	 cg_seq;	/* workers' cgroups made */
};

#define SANDBOX_CGROUP2_MAGIC	0x63677270	/* statfs: cgroup2 */

/* Folders a worker may read: libraries, configuration, the kernel's
 * views. Never the daemon's state or key (carved out when beneath). */
static const char *const sandbox_read_roots[] = {
	"/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
	"/opt", "/etc", "/proc", "/sys", "/dev",
};
/* And may write: devices (null, GPUs), as its user's rights allow. */
static const char *const sandbox_write_roots[] = { "/dev" };

/*
 * What agents need (docs/security.md has the list and the reasons):
 * compute, memory, threads, time, their own sockets for the ring, files
 * Landlock lets them open. Everything else fails with EPERM: ptrace,
 * process_vm_*, execve, mount, modules, keys, bpf, namespaces, ...
 */
static const char *const sandbox_allowed[] = {
	/* memory */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync",
	"mincore", "mlock", "munlock", "mlock2", "membarrier",
	"get_mempolicy", "set_mempolicy", "mbind",
	/* threads, scheduling, exit */
	"futex", "futex_waitv", "set_robust_list", "get_robust_list",
	"set_tid_address", "rseq", "sched_yield", "sched_getaffinity",
	"sched_getparam", "sched_getscheduler",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getattr",
	"getpriority", "getcpu", "exit", "exit_group",
	"wait4", "waitid", "arch_prctl", "prctl", "restart_syscall",
	/* signals (kill and tgkill: only this process, below) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"rt_sigtimedwait", "rt_sigsuspend", "rt_sigpending", "pause",
	/* time */
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "times", "getitimer", "setitimer", "alarm",
	"timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
	"timer_delete", "timerfd_create", "timerfd_settime",
	"timerfd_gettime",
	/* descriptors */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "lseek", "close", "close_range",
	"dup", "dup2", "dup3", "ioctl", "pipe", "pipe2", "eventfd2",
	"poll", "ppoll", "select", "pselect6", "epoll_create",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "sendfile", "splice", "tee", "fsync", "fdatasync",
	"ftruncate", "fallocate", "memfd_create", "flock", "fadvise64",
	/* files, as Landlock and the user's rights allow */
	"open", "openat", "stat", "fstat", "lstat", "newfstatat", "statx",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat",
	"getdents", "getdents64", "getcwd", "chdir", "fchdir", "statfs",
	"fstatfs", "mkdir", "mkdirat", "unlink", "unlinkat", "rename",
	"renameat", "renameat2", "umask",
	/* sockets (socket itself: these families only, below) */
	"socketpair", "bind", "listen", "accept", "accept4", "connect",
	"getsockname", "getpeername", "setsockopt", "getsockopt", "sendto",
	"recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	/* who and where */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getgroups", "getresuid", "getresgid", "getpgrp",
	"getpgid", "getsid", "getrlimit", "getrusage",
	"sysinfo", "uname", "getrandom",
#ifdef SANDBOX_ASAN
	/* LeakSanitizer stops the worker's threads with ptrace at exit;
	 * Landlock still keeps it from any process outside the worker. */
	"ptrace",
#endif
};

/* clone may make threads, never processes (which would escape the
 * worker's limits and its end) nor namespaces. */
#define SANDBOX_CLONE_NS	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | \
	CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
#ifdef SANDBOX_ASAN
/* LeakSanitizer's tracer is a clone without CLONE_THREAD. */
#define SANDBOX_CLONE_MASK	SANDBOX_CLONE_NS
#define SANDBOX_CLONE_WANT	0
#else
#define SANDBOX_CLONE_MASK	(SANDBOX_CLONE_NS | CLONE_THREAD)
#define SANDBOX_CLONE_WANT	CLONE_THREAD
#endif

static const int sandbox_families[] = {
	AF_UNIX, AF_INET, AF_INET6, AF_NETLINK,
};

int
sandbox_syscall_known(const char *name)
{
	return seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR;
}

static int
sandbox_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return v > 0 ? (int)v : 0;
}

/* Whether a cgroup v2 hierarchy offers the memory controller. */
static int
sandbox_cgroup_memory(void)
{
	static const char *const paths[] = {
		"/sys/fs/cgroup/cgroup.controllers",
		"/sys/fs/cgroup/unified/cgroup.controllers",
	};
	char line[512];
	size_t i;
	FILE *f;
	int found = 0;

	for (i = 0; i < nitems(paths) && !found; i++) {
		if ((f = fopen(paths[i], "r")) == NULL)
			continue;
		if (fgets(line, sizeof line, f) != NULL)
			found = strstr(line, "memory") != NULL;
		fclose(f);
	}
	return found;
}

/* Writes text to name beneath dir (a cgroup's control file). */
static int
sandbox_cg_write(int dir, const char *name, const char *text)
{
	ssize_t n;
	int fd;

	if ((fd = openat(dir, name, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Whether name beneath dir holds word (whole: "memory", not "memoryx"). */
static int
sandbox_cg_has(int dir, const char *name, const char *word)
{
	char buf[4096], *p, *save = NULL;
	ssize_t n;
	int fd, found = 0;

	if ((fd = openat(dir, name, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = strtok_r(buf, " \n", &save); p != NULL && !found;
	    p = strtok_r(NULL, " \n", &save))
		found = strcmp(p, word) == 0;
	return found;
}

/*
 * --cgroup DIR: a cgroup v2 folder given to agentd (systemd's Delegate=,
 * or one an operator made). Its memory controller is handed down to a
 * cgroup per worker; the daemon, when in DIR itself, moves to DIR/agentd
 * (a cgroup with processes may not hand controllers down).
 */
static int
sandbox_cgroup_open(struct sandbox *sb, const char *dir, char **cause)
{
	char pid[32];
	struct statfs fs;
	int sub;

	if (realpath(dir, sb->cg_path) == NULL || statfs(sb->cg_path,
	    &fs) != 0)
		return nn_fail(cause, "--cgroup %s: %s", dir, strerror(errno));
	if ((unsigned long)fs.f_type != SANDBOX_CGROUP2_MAGIC)
		return nn_fail(cause, "--cgroup %s: not a cgroup v2 folder "
		    "(expected one beneath the cgroup2 mount)", dir);
	if ((sb->cg_fd = open(sb->cg_path, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return nn_fail(cause, "--cgroup %s: %s", dir, strerror(errno));
	if (!sandbox_cg_has(sb->cg_fd, "cgroup.controllers", "memory"))
		return nn_fail(cause, "--cgroup %s: no memory controller "
		    "there (write +memory to its parent's "
		    "cgroup.subtree_control)", dir);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if (sandbox_cg_has(sb->cg_fd, "cgroup.procs", pid)) {
		if ((mkdirat(sb->cg_fd, "agentd", 0755) != 0 &&
		    errno != EEXIST) || (sub = openat(sb->cg_fd, "agentd",
		    O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return nn_fail(cause, "--cgroup %s: cannot make "
			    "agentd/ for the daemon: %s", dir,
			    strerror(errno));
		if (sandbox_cg_write(sub, "cgroup.procs", "0") != 0) {
			nn_fail(cause, "--cgroup %s: cannot move the daemon "
			    "into agentd/: %s", dir, strerror(errno));
			close(sub);
			return -1;
		}
		close(sub);
	}
	if (!sandbox_cg_has(sb->cg_fd, "cgroup.subtree_control", "memory") &&
	    sandbox_cg_write(sb->cg_fd, "cgroup.subtree_control",
	    "+memory") != 0)
		return nn_fail(cause, "--cgroup %s: cannot enable its memory "
		    "controller for workers: %s (other processes in it?)",
		    dir, strerror(errno));
	return 0;
}

int
sandbox_cgroup_new(struct sandbox *sb, char *name, size_t len)
{
	char path[64];
	int fd;

	if (sb == NULL || sb->cg_fd < 0)
		return -1;
	snprintf(name, len, "worker-%ld-%lu", (long)getpid(), ++sb->cg_seq);
	snprintf(path, sizeof path, "%s/cgroup.procs", name);
	if (mkdirat(sb->cg_fd, name, 0755) != 0 ||
	    (fd = openat(sb->cg_fd, path, O_WRONLY | O_CLOEXEC)) < 0) {
		log_warn("sandbox: cannot make cgroup %s/%s: %s", sb->cg_path,
		    name, strerror(errno));
		(void)unlinkat(sb->cg_fd, name, AT_REMOVEDIR);
		name[0] = '\0';
		return -1;
	}
	return fd;
}

int
sandbox_cgroup_on(const struct sandbox *sb)
{
	return sb != NULL && sb->cg_fd >= 0;
}

int
sandbox_cgroup_limit(const struct sandbox *sb, const char *name,
    const struct sandbox_limits *l, char **cause)
{
	char path[96], text[32];

	if (sb == NULL || sb->cg_fd < 0 || name[0] == '\0' || l->mem == 0)
		return 0;
	snprintf(text, sizeof text, "%llu", (unsigned long long)l->mem);
	snprintf(path, sizeof path, "%s/memory.max", name);
	if (sandbox_cg_write(sb->cg_fd, path, text) != 0)
		return nn_fail(cause, "cannot set %s/%s to %s: %s",
		    sb->cg_path, path, text, strerror(errno));
	/* Over the limit means killed, not paged out. */
	snprintf(path, sizeof path, "%s/memory.swap.max", name);
	(void)sandbox_cg_write(sb->cg_fd, path, "0");
	return 0;
}

int
sandbox_cgroup_end(const struct sandbox *sb, const char *name)
{
	char path[96], buf[1024], *p;
	ssize_t n;
	int fd, oom = 0;

	if (sb == NULL || sb->cg_fd < 0 || name[0] == '\0')
		return 0;
	snprintf(path, sizeof path, "%s/memory.events", name);
	if ((fd = openat(sb->cg_fd, path, O_RDONLY | O_CLOEXEC)) >= 0) {
		if ((n = read(fd, buf, sizeof buf - 1)) > 0) {
			buf[n] = '\0';
			if ((p = strstr(buf, "oom_kill ")) != NULL)
				oom = atol(p + 9) > 0;
		}
		close(fd);
	}
	if (unlinkat(sb->cg_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		log_debug("sandbox: cannot remove cgroup %s/%s: %s",
		    sb->cg_path, name, strerror(errno));
	return oom;
}

/* The worker user when the daemon runs as root. */
static int
sandbox_user(struct sandbox *sb, const char *name, char **cause)
{
	struct passwd *pw;

	if ((pw = getpwnam(name != NULL ? name : SANDBOX_DEFAULT_USER)) ==
	    NULL && name == NULL) {
		/* A host the install did not set up: say so, and go on as
		 * the one unprivileged user every system has. */
		if ((pw = getpwnam("nobody")) != NULL)
			log_warn("sandbox: no user %s here (useradd --system "
			    "%s): workers run as nobody", SANDBOX_DEFAULT_USER,
			    SANDBOX_DEFAULT_USER);
	}
	if (pw == NULL)
		return nn_fail(cause, "--worker-user: no user \"%s\" on this "
		    "host", name != NULL ? name : "nobody");
	if (pw->pw_uid == 0)
		return nn_fail(cause, "--worker-user: %s is root; workers need "
		    "an unprivileged user", pw->pw_name);
	sb->drop = 1;
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	snprintf(sb->user, sizeof sb->user, "%s", pw->pw_name);
	return 0;
}

/* Names to allow beyond the list, "a,b,c". */
static int
sandbox_extra(struct sandbox *sb, const char *list, char **cause)
{
	char *copy, *name, *save = NULL;
	int rc = 0;

	if (list == NULL || *list == '\0')
		return 0;
	copy = xstrdup(list);
	for (name = strtok_r(copy, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		if (!sandbox_syscall_known(name)) {
			rc = nn_fail(cause, "--worker-syscalls: unknown system "
			    "call \"%s\"", name);
			break;
		}
		json_array_append_new(sb->syscalls, json_string(name));
	}
	free(copy);
	return rc;
}

struct sandbox *
sandbox_new(const struct sandbox_config *cfg, char **cause)
{
	struct sandbox *sb = xcalloc(1, sizeof *sb);
	char real[PATH_MAX];
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	size_t i;

	sb->off = cfg->off;
	sb->syscalls = json_array();
	sb->hide = json_array();
	sb->cg_fd = -1;
	sb->limits = cfg->limits;
	/* A worker may take most of the host, never all of it. */
	if (sb->limits.mem == 0 && pages > 0 && psize > 0)
		sb->limits.mem = (uint64_t)pages * (uint64_t)psize / 4 * 3;
	if (sb->limits.files == 0)
		sb->limits.files = SANDBOX_DEFAULT_FILES;
	snprintf(sb->user, sizeof sb->user, "the daemon's user");
	if (sandbox_extra(sb, cfg->syscalls, cause) != 0)
		goto fail;
	if (cfg->cgroup != NULL && sandbox_cgroup_open(sb, cfg->cgroup,
	    cause) != 0)
		goto fail;
	if (geteuid() == 0) {
		if (sandbox_user(sb, cfg->user, cause) != 0)
			goto fail;
	} else if (cfg->user != NULL) {
		struct passwd *pw = getpwnam(cfg->user);

		if (pw == NULL || pw->pw_uid != geteuid()) {
			nn_fail(cause, "--worker-user %s: only a daemon running "
			    "as root can run workers as another user",
			    cfg->user);
			goto fail;
		}
	}
	for (i = 0; i < nitems(cfg->hide); i++)
		if (cfg->hide[i] != NULL && realpath(cfg->hide[i], real) !=
		    NULL)
			json_array_append_new(sb->hide, json_string(real));
	if (!sb->off) {
		sb->seccomp = prctl(PR_GET_SECCOMP) >= 0 &&
		    access("/proc/sys/kernel/seccomp/actions_avail", F_OK) == 0;
		if (!sb->seccomp)
			log_warn("sandbox: no seccomp filters in this kernel: "
			    "workers may make any system call");
	} else
		log_warn("sandbox: off (--sandbox off): workers run without "
		    "Landlock or seccomp");
	/* A cgroup counts what a worker's memory really costs (pages,
	 * caches) and kills it past the limit; rlimits need nothing
	 * delegated but count only what it maps. */
	if (cfg->cgroup != NULL)
		log_info("sandbox: each worker in a cgroup of its own beneath "
		    "%s, memory.max its memory limit", sb->cg_path);
	else
		log_info("sandbox: %s: each worker's memory is bounded by "
		    "RLIMIT_DATA (docs/security.md)", sandbox_cgroup_memory() ?
		    "without --cgroup" : "no cgroup v2 memory controller here");
#ifdef SANDBOX_ASAN
	log_warn("sandbox: built with AddressSanitizer: no memory limit");
#endif
	log_info("sandbox: workers run as %s, no_new_privs%s%s; limits: "
	    "memory %llu MiB, %llu files, cpu %s", sb->user,
	    sb->off ? "" : ", Landlock", sb->seccomp ? ", seccomp" :
	    "", (unsigned long long)(sb->limits.mem >> 20),
	    (unsigned long long)sb->limits.files, sb->limits.cpu > 0 ?
	    "limited" : "unlimited");
	return sb;
fail:
	sandbox_free(sb);
	return NULL;
}

void
sandbox_free(struct sandbox *sb)
{
	if (sb == NULL)
		return;
	json_decref(sb->syscalls);
	json_decref(sb->hide);
	if (sb->cg_fd >= 0)
		close(sb->cg_fd);
	free(sb);
}

int
sandbox_child(const struct sandbox *sb)
{
	struct rlimit none = { 0, 0 };

	if (sb->drop && (setgroups(0, NULL) != 0 ||
	    setresgid(sb->gid, sb->gid, sb->gid) != 0 ||
	    setresuid(sb->uid, sb->uid, sb->uid) != 0))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	/* No controlling terminal: TIOCSTI on the daemon's terminal (its
	 * stderr, inherited) would type commands into the shell there. */
	(void)setsid();
	/* A core would hold the agent's state, written as its user. */
	(void)setrlimit(RLIMIT_CORE, &none);
	return chdir("/");
}

/* A byte count or a count from obj's key: 0 when absent. */
static int
sandbox_limit(json_t *obj, const char *key, uint64_t max, uint64_t *out,
    char **cause)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > max)
		return nn_fail(cause, "limits.%s: expected an integer from 1 "
		    "to %llu (this host's limit, agentd --worker-*)", key,
		    (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int
sandbox_limits_parse(const struct sandbox *sb, json_t *obj,
    struct sandbox_limits *out, char **cause)
{
	const char *key, *name;
	json_t *v, *have;
	uint64_t mib = 0;
	size_t i, j;

	*out = sb->limits;
	if (obj == NULL || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return nn_fail(cause, "limits: expected an object");
	json_object_foreach(obj, key, v) {
		if (strcmp(key, "memory_mib") != 0 &&
		    strcmp(key, "files") != 0 &&
		    strcmp(key, "cpu_seconds") != 0 &&
		    strcmp(key, "syscalls") != 0)
			return nn_fail(cause, "limits: unknown key \"%s\" "
			    "(expected memory_mib, files, cpu_seconds, "
			    "syscalls)", key);
	}
	/* The host's limits are the most a spawn may ask: the operator's
	 * --worker-* bound every agent, whoever sends it. */
	if (sandbox_limit(obj, "memory_mib", sb->limits.mem >> 20, &mib,
	    cause) != 0 || sandbox_limit(obj, "files", sb->limits.files,
	    &out->files, cause) != 0 || sandbox_limit(obj, "cpu_seconds",
	    sb->limits.cpu > 0 ? sb->limits.cpu : (uint64_t)1 << 40,
	    &out->cpu, cause) != 0)
		return -1;
	if (mib > 0)
		out->mem = mib << 20;
	/* An agent that needs more system calls says so; the host's
	 * operator decides (--worker-syscalls). */
	v = json_object_get(obj, "syscalls");
	if (v != NULL && !json_is_array(v))
		return nn_fail(cause, "limits.syscalls: expected an array of "
		    "names");
	json_array_foreach(v, i, have) {
		if ((name = json_string_value(have)) == NULL)
			return nn_fail(cause, "limits.syscalls[%zu]: expected "
			    "a name", i);
		json_array_foreach(sb->syscalls, j, have)
			if (strcmp(json_string_value(have), name) == 0)
				break;
		if (j == json_array_size(sb->syscalls))
			return nn_fail(cause, "limits.syscalls: this host does "
			    "not allow \"%s\" (agentd --worker-syscalls)",
			    name);
	}
	return 0;
}

json_t *
sandbox_spec(const struct sandbox *sb, const struct sandbox_limits *l)
{
	json_t *spec, *read = json_array(), *write = json_array();
	size_t i;

	for (i = 0; i < nitems(sandbox_read_roots); i++)
		json_array_append_new(read, json_string(sandbox_read_roots[i]));
	for (i = 0; i < nitems(sandbox_write_roots); i++)
		json_array_append_new(write,
		    json_string(sandbox_write_roots[i]));
	/* In a cgroup, memory.max is the limit: no RLIMIT_DATA besides. */
	spec = json_pack("{s:{s:I, s:I, s:I}, s:b, s:b, s:o, s:o, s:O, s:O}",
	    "limits", "memory", (json_int_t)(sb->cg_fd >= 0 ? 0 : l->mem),
	    "files",
	    (json_int_t)l->files, "cpu_seconds", (json_int_t)l->cpu,
	    "landlock", !sb->off, "seccomp", !sb->off &&
	    sb->seccomp, "read", read, "write", write, "hide", sb->hide,
	    "syscalls", sb->syscalls);
	return spec;
}

void
sandbox_describe(const struct sandbox_limits *l, char *buf, size_t len)
{
	char cpu[32];

	if (l->cpu > 0)
		snprintf(cpu, sizeof cpu, "%llu s", (unsigned long long)l->cpu);
	else
		snprintf(cpu, sizeof cpu, "unlimited");
	snprintf(buf, len, "limits: memory %llu MiB, %llu files, cpu %s",
	    (unsigned long long)(l->mem >> 20), (unsigned long long)l->files,
	    cpu);
}

static int
sandbox_rlimit(int resource, uint64_t v, const char *what, char **cause)
{
	struct rlimit rl = { (rlim_t)v, (rlim_t)v };

	if (setrlimit(resource, &rl) != 0)
		return nn_fail(cause, "cannot limit the worker's %s to %llu: "
		    "%s", what, (unsigned long long)v, strerror(errno));
	return 0;
}

static int
sandbox_apply_limits(json_t *l, char **cause)
{
	json_int_t mem = json_integer_value(json_object_get(l, "memory"));
	json_int_t files = json_integer_value(json_object_get(l, "files"));
	json_int_t cpu = json_integer_value(json_object_get(l, "cpu_seconds"));

	if (files > 0 && sandbox_rlimit(RLIMIT_NOFILE, (uint64_t)files,
	    "open files", cause) != 0)
		return -1;
	if (cpu > 0 && sandbox_rlimit(RLIMIT_CPU, (uint64_t)cpu, "CPU time",
	    cause) != 0)
		return -1;
#ifndef SANDBOX_ASAN
	if (mem > 0 && sandbox_rlimit(RLIMIT_DATA, (uint64_t)mem, "memory",
	    cause) != 0)
		return -1;
#else
	(void)mem;
#endif
	return sandbox_rlimit(RLIMIT_CORE, 0, "core size", cause);
}

/* Whether path is one of hide, or holds one of them. */
static int
sandbox_hidden(json_t *hide, const char *path, int *within)
{
	size_t i, n = strlen(path);
	const char *h;
	json_t *v;

	*within = 0;
	json_array_foreach(hide, i, v) {
		h = json_string_value(v);
		if (strcmp(h, path) == 0)
			return 1;
		if (strncmp(h, path, n) == 0 && (h[n] == '/' || n == 1))
			*within = 1;
	}
	return 0;
}

/*
 * Lets the worker reach path with access, except the hidden paths
 * beneath it: those roots are split into their entries, down to the
 * hidden ones, which get no rule.
 */
static int
sandbox_allow(int ruleset, json_t *hide, const char *path, uint64_t access,
    int depth, char **cause)
{
	struct landlock_path_beneath_attr pb;
	char sub[PATH_MAX], real[PATH_MAX];
	struct dirent *de;
	struct stat sb;
	DIR *dir;
	int fd, within, n = 0, rc = 0;

	/* By where it leads: /lib is /usr/lib on a merged system, and an
	 * entry may be a link into a hidden folder. */
	if (realpath(path, real) == NULL)
		return 0;	/* not on this host */
	path = real;
	if (sandbox_hidden(hide, path, &within))
		return 0;
	if (within) {
		if (depth >= SANDBOX_CARVE_DEPTH || (dir = opendir(path)) ==
		    NULL)
			return 0;	/* unreadable: nothing to allow */
		while (rc == 0 && (de = readdir(dir)) != NULL &&
		    n++ < SANDBOX_CARVE_ENTRIES) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(sub, sizeof sub, "%s/%s",
			    strcmp(path, "/") == 0 ? "" : path, de->d_name) >=
			    sizeof sub)
				continue;
			rc = sandbox_allow(ruleset, hide, sub, access,
			    depth + 1, cause);
		}
		closedir(dir);
		return rc;
	}
	if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0)
		return 0;	/* not on this host */
	memset(&pb, 0, sizeof pb);
	pb.parent_fd = fd;
	pb.allowed_access = access;
	/* A file takes only file rights. */
	if (fstat(fd, &sb) == 0 && !S_ISDIR(sb.st_mode))
		pb.allowed_access &= SANDBOX_LL_FILE;
	if (pb.allowed_access != 0 && syscall(SYS_landlock_add_rule, ruleset,
	    LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0)
		rc = nn_fail(cause, "Landlock: cannot allow %s: %s", path,
		    strerror(errno));
	close(fd);
	return rc;
}

/* The file system rights this kernel's Landlock knows. */
static uint64_t
sandbox_ll_handled(int abi)
{
	uint64_t fs = ((uint64_t)1 << 13) - 1;	/* ABI 1 */

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= SANDBOX_LL_TRUNCATE;
	if (abi >= 5)
		fs |= SANDBOX_LL_IOCTL_DEV;
	return fs;
}

static int
sandbox_landlock(json_t *spec, int abi, char **cause)
{
	struct sandbox_ruleset_attr attr;
	uint64_t handled = sandbox_ll_handled(abi), rw;
	json_t *hide = json_object_get(spec, "hide"), *v;
	size_t i, size;
	int ruleset, rc = -1;

	memset(&attr, 0, sizeof attr);
	attr.handled_access_fs = handled;
	size = offsetof(struct sandbox_ruleset_attr, handled_access_net);
	if (abi >= 6) {
		/* Nor may it signal, or reach abstract sockets of, processes
		 * outside its own domain: the daemon, other workers. */
		attr.scoped = SANDBOX_LL_SCOPE_SIGNAL | SANDBOX_LL_SCOPE_UNIX;
		size = sizeof attr;
	}
	if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size,
	    0)) < 0)
		return nn_fail(cause, "Landlock: cannot create a ruleset: %s",
		    strerror(errno));
	json_array_foreach(json_object_get(spec, "read"), i, v)
		if (json_is_string(v) && sandbox_allow(ruleset, hide,
		    json_string_value(v), SANDBOX_LL_READ & handled, 0,
		    cause) != 0)
			goto out;
	rw = (SANDBOX_LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    SANDBOX_LL_TRUNCATE | SANDBOX_LL_IOCTL_DEV) & handled;
	json_array_foreach(json_object_get(spec, "write"), i, v)
		if (json_is_string(v) && sandbox_allow(ruleset, hide,
		    json_string_value(v), rw, 0, cause) != 0)
			goto out;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
		nn_fail(cause, "Landlock: cannot restrict the worker: %s",
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(ruleset);
	return rc;
}

static int
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
    unsigned int n, const struct scmp_arg_cmp *cmp, char **cause)
{
	int nr = seccomp_syscall_resolve_name(name), rc;

	if (nr == __NR_SCMP_ERROR)
		return 0;	/* not on this architecture */
	if ((rc = seccomp_rule_add_array(ctx, action, nr, n, cmp)) != 0)
		return nn_fail(cause, "seccomp: cannot add %s: %s", name,
		    strerror(-rc));
	return 0;
}

/*
 * Calls that name a process act on this one alone: another of the same
 * user (the daemon, a worker) is not theirs to limit, pin or renice.
 * fcntl may not route signals (F_SETOWN, F_SETSIG, F_SETOWN_EX: 8-16).
 */
static int
sandbox_self_rules(scmp_filter_ctx ctx, scmp_datum_t self, char **cause)
{
	scmp_datum_t who[2] = { 0, self };
	struct scmp_arg_cmp one, prio[2];
	size_t i;

	for (i = 0; i < nitems(who); i++) {
		one = SCMP_A0(SCMP_CMP_EQ, who[i]);
		prio[0] = SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS);
		prio[1] = SCMP_A1(SCMP_CMP_EQ, who[i]);
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, &one,
		    cause) != 0 || sandbox_rule(ctx, SCMP_ACT_ALLOW,
		    "sched_setaffinity", 1, &one, cause) != 0 ||
		    sandbox_rule(ctx, SCMP_ACT_ALLOW, "setpriority", 2, prio,
		    cause) != 0)
			return -1;
	}
	one = SCMP_A1(SCMP_CMP_LE, F_SETLKW);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &one, cause) != 0)
		return -1;
	one = SCMP_A1(SCMP_CMP_GE, F_GETOWN_EX + 1);
	return sandbox_rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &one, cause);
}

static int
sandbox_seccomp(json_t *spec, char **cause)
{
	scmp_filter_ctx ctx;
	struct scmp_arg_cmp cmp;
	scmp_datum_t self = (scmp_datum_t)getpid();
	json_t *v;
	size_t i;
	int rc = -1;

	if ((ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
		return nn_fail(cause, "seccomp: cannot start a filter");
	for (i = 0; i < nitems(sandbox_allowed); i++)
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0,
		    NULL, cause) != 0)
			goto out;
	json_array_foreach(json_object_get(spec, "syscalls"), i, v)
		if (json_is_string(v) && sandbox_rule(ctx, SCMP_ACT_ALLOW,
		    json_string_value(v), 0, NULL, cause) != 0)
			goto out;
	cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, SANDBOX_CLONE_MASK,
	    SANDBOX_CLONE_WANT);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &cmp, cause) != 0)
		goto out;
	if (sandbox_self_rules(ctx, self, cause) != 0)
		goto out;
	/* Its flags are behind a pointer: glibc falls back to clone. */
	if (sandbox_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL,
	    cause) != 0)
		goto out;
	cmp = SCMP_A0(SCMP_CMP_EQ, self);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &cmp, cause) != 0 ||
	    sandbox_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &cmp, cause) != 0)
		goto out;
	for (i = 0; i < nitems(sandbox_families); i++) {
		cmp = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sandbox_families[i]);
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &cmp,
		    cause) != 0)
			goto out;
	}
	if ((rc = seccomp_load(ctx)) != 0) {
		nn_fail(cause, "seccomp: cannot load the filter: %s",
		    strerror(-rc));
		rc = -1;
		goto out;
	}
	rc = 0;
out:
	seccomp_release(ctx);
	return rc;
}

int
sandbox_enter(json_t *spec, int *landlock, char **cause)
{
	int abi;

	*landlock = 0;
	if (!json_is_object(spec))
		return 0;	/* a daemon that confines nothing */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return nn_fail(cause, "cannot set no_new_privs: %s",
		    strerror(errno));
	if (sandbox_apply_limits(json_object_get(spec, "limits"), cause) != 0)
		return -1;
	if (json_is_true(json_object_get(spec, "landlock"))) {
		if ((abi = sandbox_landlock_abi()) == 0) {
			*landlock = -1;
			/* Without Landlock's ptrace scope, undumpable keeps
			 * other workers of this user out of our memory. */
			(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		}
		else if (sandbox_landlock(spec, abi, cause) != 0)
			return -1;
		else
			*landlock = abi;
	}
	if (json_is_true(json_object_get(spec, "seccomp")) &&
	    sandbox_seccomp(spec, cause) != 0)
		return -1;
	return 0;
}
