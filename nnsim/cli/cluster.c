/* The embedded cluster (cluster.h). */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agentd/auth.h"
#include "agentd/client.h"
#include "base/alloc.h"
#include "cli/cluster.h"

struct nn_cluster {
	int	 n;
	char	*dir;
	char	*key;
	char	 addr[NN_CLUSTER_MAX][32];
	pid_t	 pid[NN_CLUSTER_MAX];
};

char *
nn_cluster_sibling(const char *name)
{
	char exe[4096], *slash;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) < 0)
		return xstrdup(name);
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	return xasprintf("%s/%s", exe, name);
}

/* A port the kernel just had free on 127.0.0.1. */
static int
cluster_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* The last line of a daemon's log, for an error message (static). */
static const char *
cluster_last_line(const char *path)
{
	static char line[512];
	char buf[512];
	FILE *f;

	line[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return "(no log)";
	while (fgets(buf, sizeof buf, f) != NULL)
		snprintf(line, sizeof line, "%s", buf);
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return line[0] != '\0' ? line : "(empty log)";
}

/* 1 when the first daemon sees all n hosts up. */
static int
cluster_ready(struct nn_cluster *c)
{
	struct client *cl;
	json_t *req, *rep, *h;
	char *cause = NULL;
	size_t i;
	int up = 0;

	if ((cl = client_connect(c->addr[0], c->key, "nnsim", &cause)) ==
	    NULL) {
		free(cause);
		return 0;
	}
	req = json_pack("{s:s}", "op", "hosts");
	rep = client_request(cl, req, &cause);
	json_decref(req);
	json_array_foreach(json_object_get(rep, "hosts"), i, h) {
		const char *st = json_string_value(json_object_get(h,
		    "state"));

		if (st != NULL && (strcmp(st, "up") == 0 ||
		    strcmp(st, "self") == 0))
			up++;
	}
	json_decref(rep);
	free(cause);
	client_free(cl);
	return up == c->n;
}

struct nn_cluster *
nn_cluster_start(int n, char **cause)
{
	struct nn_cluster *c = xcalloc(1, sizeof *c);
	const char *tmp = getenv("TMPDIR");
	char *tmpl = NULL, *agentd = NULL;
	char *hosts = NULL, *state = NULL, *log = NULL, name[24];
	json_t *inv = json_array(), *file;
	int i, port, fd, status;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	if (n < 1 || n > NN_CLUSTER_MAX) {
		nn_fail(cause, "--local %d: expected 1 to %d daemons", n,
		    NN_CLUSTER_MAX);
		goto fail;
	}
	/* The daemons' folders go where the user keeps temporary files. */
	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	tmpl = xasprintf("%s/nnsim-cluster.XXXXXX", tmp);
	if (mkdtemp(tmpl) == NULL) {
		nn_fail(cause, "mkdtemp %s: %s", tmpl, strerror(errno));
		goto fail;
	}
	c->dir = tmpl;
	tmpl = NULL;
	c->key = xasprintf("%s/key", c->dir);
	if (auth_keygen(c->key, cause) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if ((port = cluster_free_port()) < 0) {
			nn_fail(cause, "no free port on 127.0.0.1");
			goto fail;
		}
		snprintf(c->addr[i], sizeof c->addr[i], "127.0.0.1:%d", port);
		snprintf(name, sizeof name, "local%d", i + 1);
		json_array_append_new(inv, json_pack("{s:s, s:s}", "name",
		    name, "address", c->addr[i]));
	}
	hosts = xasprintf("%s/hosts.json", c->dir);
	file = json_pack("{s:O}", "hosts", inv);
	i = json_dump_file(file, hosts, 0);
	json_decref(file);
	if (i != 0) {
		nn_fail(cause, "%s: cannot write", hosts);
		goto fail;
	}
	agentd = nn_cluster_sibling("agentd");
	for (i = 0; i < n; i++, c->n++) {
		snprintf(name, sizeof name, "local%d", i + 1);
		free(state);
		free(log);
		state = xasprintf("%s/%s", c->dir, name);
		log = xasprintf("%s/%s.log", c->dir, name);
		fflush(NULL);
		if ((c->pid[i] = fork()) < 0) {
			nn_fail(cause, "fork: %s", strerror(errno));
			goto fail;
		}
		if (c->pid[i] == 0) {
			if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC,
			    0600)) >= 0)
				dup2(fd, 2);
			if ((fd = open("/dev/null", O_RDWR)) >= 0) {
				dup2(fd, 0);
				dup2(fd, 1);
			}
			/* Not our SIGINT: we stop the daemons ourselves. */
			setpgid(0, 0);
			execl(agentd, "agentd", "--listen", c->addr[i], "--key",
			    c->key, "--hosts", hosts, "--state", state,
			    "--name", name, "--log-level", "info",
			    (char *)NULL);
			fprintf(stderr, "%s: %s\n", agentd, strerror(errno));
			_exit(127);
		}
	}
	for (i = 0; i < 200; i++) {
		int j;

		for (j = 0; j < n; j++) {
			if (waitpid(c->pid[j], &status, WNOHANG) == c->pid[j]) {
				c->pid[j] = 0;
				free(log);
				log = xasprintf("%s/local%d.log", c->dir,
				    j + 1);
				nn_fail(cause, "embedded cluster: agentd "
				    "local%d exited: %s", j + 1,
				    cluster_last_line(log));
				goto fail;
			}
		}
		if (cluster_ready(c))
			goto out;
		nanosleep(&ts, NULL);
	}
	nn_fail(cause, "embedded cluster: the %d daemons did not all see "
	    "each other within 10 s (logs in %s)", n, c->dir);
fail:
	nn_cluster_stop(c);
	c = NULL;
out:
	json_decref(inv);
	free(tmpl);
	free(agentd);
	free(hosts);
	free(state);
	free(log);
	return c;
}

static int
cluster_rm(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
nn_cluster_stop(struct nn_cluster *c)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i, k, left;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		if (c->pid[i] > 0)
			kill(c->pid[i], SIGTERM);
	}
	/* SIGTERM stops their agents; give them 5 s, then insist. */
	for (k = 0; k < 250; k++) {
		left = 0;
		for (i = 0; i < c->n; i++) {
			if (c->pid[i] > 0 && waitpid(c->pid[i], NULL,
			    WNOHANG) == c->pid[i])
				c->pid[i] = 0;
			left += c->pid[i] > 0;
		}
		if (left == 0)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < c->n; i++) {
		if (c->pid[i] > 0) {
			kill(c->pid[i], SIGKILL);
			waitpid(c->pid[i], NULL, 0);
		}
	}
	if (c->dir != NULL && getenv("NNSIM_KEEP_CLUSTER") == NULL)
		nftw(c->dir, cluster_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(c->dir);
	free(c->key);
	free(c);
}

const char *
nn_cluster_addr(const struct nn_cluster *c)
{
	return c->addr[0];
}

const char *
nn_cluster_key(const struct nn_cluster *c)
{
	return c->key;
}
