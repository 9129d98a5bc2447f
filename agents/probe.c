/*
 * probe: reports what a worker on this host can reach, to check its
 * sandbox (docs/security.md). Each probe tries what a hostile agent would
 * and records "denied: REASON" or "allowed"; the result is one JSON
 * object. args:
 *   {"key": PATH}     try to read the daemon's key file
 *   {"store": DIR}    try to create a file in the code store
 *   {"hog_mb": N}     then allocate and touch N MiB, failing (alone, with
 *                     a reason) when the worker's limit stops it
 * It always tries /proc/PPID/mem, ptrace, process_vm_readv, kill and
 * prlimit on its daemon, execve, unshare and fork.
 */
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agentd/agent.h"

#define PROBE_CHUNK	(16u << 20)

struct probe {
	char		*key;
	char		*store;
	json_int_t	 hog_mb;
};

static int
probe_start(struct agent *a, const char *json)
{
	struct probe *p;
	json_error_t jerr;
	json_t *obj;
	const char *key = NULL, *store = NULL;
	json_int_t hog = 0;

	if ((obj = json_loads(json, 0, &jerr)) == NULL ||
	    json_unpack_ex(obj, &jerr, JSON_STRICT, "{s?s, s?s, s?I}", "key",
	    &key, "store", &store, "hog_mb", &hog) != 0 || hog < 0) {
		agent_log(a, AGENT_LOG_ERROR, "probe: args: %s", obj == NULL ||
		    hog >= 0 ? jerr.text : "hog_mb must be positive");
		json_decref(obj);
		return -1;
	}
	if ((p = calloc(1, sizeof *p)) == NULL) {
		json_decref(obj);
		return -1;
	}
	p->key = key != NULL ? strdup(key) : NULL;
	p->store = store != NULL ? strdup(store) : NULL;
	p->hog_mb = hog;
	json_decref(obj);
	agent_set_data(a, p);
	return 0;
}

/* "allowed" when rc is not -1, else "denied: " and errno's text. */
static void
probe_note(json_t *out, const char *what, long rc)
{
	char buf[160];

	if (rc != -1)
		snprintf(buf, sizeof buf, "allowed");
	else
		snprintf(buf, sizeof buf, "denied: %s", strerror(errno));
	json_object_set_new(out, what, json_string(buf));
}

static long
probe_read(const char *path)
{
	char byte;
	long rc;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	rc = read(fd, &byte, 1);
	close(fd);
	return rc;
}

/* Reads a page of the daemon's memory at a place it surely has. */
static long
probe_parent_mem(pid_t ppid)
{
	char path[64], buf[64];
	long rc;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/mem", (long)ppid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	rc = pread(fd, buf, sizeof buf, 0x400000);
	if (rc < 0 && errno == EIO)
		rc = 0;	/* opened: the page itself was not mapped */
	close(fd);
	return rc;
}

static long
probe_store(const char *dir)
{
	char path[4096];
	long rc;
	int fd;

	snprintf(path, sizeof path, "%s/probe-was-here", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return -1;
	rc = write(fd, "x", 1);
	close(fd);
	unlink(path);
	return rc;
}

static long
probe_exec(void)
{
	char *const argv[] = { "true", NULL }, *const envp[] = { NULL };

	/* Only returns when refused. */
	return execve("/bin/true", argv, envp);
}

/* A process of its own would outlive the worker's limits and its end. */
static long
probe_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid < 0 ? -1 : 0;
}

static long
probe_prlimit_parent(pid_t ppid)
{
	struct rlimit rl;

	return prlimit(ppid, RLIMIT_NOFILE, NULL, &rl);
}

static long
probe_vm_read(pid_t ppid)
{
	char buf[16];
	struct iovec local = { buf, sizeof buf };
	struct iovec remote = { (void *)0x400000, sizeof buf };

	return (long)process_vm_readv(ppid, &local, 1, &remote, 1, 0);
}

/* Who we are and what holds us, from the kernel's own account. */
static void
probe_status(json_t *out)
{
	char line[256];
	FILE *f;
	struct rlimit rl;

	json_object_set_new(out, "uid", json_integer((json_int_t)getuid()));
	json_object_set_new(out, "gid", json_integer((json_int_t)getgid()));
	if ((f = fopen("/proc/self/status", "r")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			if (strncmp(line, "NoNewPrivs:", 11) == 0)
				json_object_set_new(out, "no_new_privs",
				    json_integer(atoi(line + 11)));
			else if (strncmp(line, "Seccomp:", 8) == 0)
				json_object_set_new(out, "seccomp",
				    json_integer(atoi(line + 8)));
			else if (strncmp(line, "CapEff:", 7) == 0) {
				line[strcspn(line, "\n")] = '\0';
				json_object_set_new(out, "cap_eff",
				    json_string(line + 7 + strspn(line + 7,
				    "\t ")));
			}
		}
		fclose(f);
	}
	if (getrlimit(RLIMIT_DATA, &rl) == 0)
		json_object_set_new(out, "rlimit_data", rl.rlim_cur ==
		    RLIM_INFINITY ? json_null() : json_integer(
		    (json_int_t)rl.rlim_cur));
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		json_object_set_new(out, "rlimit_nofile",
		    json_integer((json_int_t)rl.rlim_cur));
	if (getrlimit(RLIMIT_CORE, &rl) == 0)
		json_object_set_new(out, "rlimit_core",
		    json_integer((json_int_t)rl.rlim_cur));
}

/* Takes hog_mb MiB a chunk at a time, touching every page. */
static int
probe_hog(struct agent *a, json_int_t mb)
{
	json_int_t got = 0;
	char **chunks;
	int rc = 0;

	if ((chunks = calloc((size_t)mb / 16 + 1, sizeof *chunks)) == NULL)
		return -1;
	for (got = 0; got < mb / 16; got++) {
		if ((chunks[got] = malloc(PROBE_CHUNK)) == NULL) {
			agent_log(a, AGENT_LOG_ERROR, "probe: out of memory "
			    "after %lld MiB (its limit)", (long long)got * 16);
			rc = -1;
			break;
		}
		memset(chunks[got], 1, PROBE_CHUNK);
	}
	while (got > 0)
		free(chunks[--got]);
	free(chunks);
	return rc;
}

static int
probe_step(struct agent *a)
{
	struct probe *p = agent_data(a);
	pid_t ppid = getppid();
	json_t *out = json_object();
	char *text;
	int rc;

	probe_status(out);
	probe_note(out, "parent_mem", probe_parent_mem(ppid));
	probe_note(out, "ptrace", ptrace(PTRACE_ATTACH, ppid, NULL, NULL));
	probe_note(out, "process_vm_readv", probe_vm_read(ppid));
	probe_note(out, "kill_parent", kill(ppid, 0));
	probe_note(out, "execve", probe_exec());
	probe_note(out, "unshare", unshare(CLONE_NEWUSER));
	probe_note(out, "fork", probe_fork());
	probe_note(out, "prlimit_parent", probe_prlimit_parent(ppid));
	if (p->key != NULL)
		probe_note(out, "key", probe_read(p->key));
	if (p->store != NULL)
		probe_note(out, "store_write", probe_store(p->store));
	if (p->hog_mb > 0 && probe_hog(a, p->hog_mb) != 0) {
		json_decref(out);
		return AGENT_FAILED;
	}
	text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(out);
	rc = text != NULL && agent_result(a, text, strlen(text)) == 0 ?
	    AGENT_DONE : AGENT_FAILED;
	free(text);
	return rc;
}

static void
probe_stop(struct agent *a)
{
	struct probe *p = agent_data(a);

	if (p != NULL) {
		free(p->key);
		free(p->store);
		free(p);
	}
	agent_set_data(a, NULL);
}

const struct agent_entry agent_entry = {
	.name = "probe",
	.abi = AGENT_ABI,
	.start = probe_start,
	.step = probe_step,
	.stop = probe_stop,
};
