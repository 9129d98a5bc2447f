/* agentd: the daemon every host runs, and agentd keygen. */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "agentd/daemon.h"
#include "agentd/hosts.h"
#include "agentd/log.h"
#include "agentd/version.h"
#include "agentd/worker.h"
#include "base/alloc.h"
#include "base/crypto.h"

#define EXIT_FAILED	1
#define EXIT_USAGE	2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentd [--listen ADDR:PORT] [--key FILE] "
	    "[--client-key FILE:ROLE]...\n"
	    "              [--hosts FILE] [--state DIR]\n"
	    "              [--name NAME] [--log-level L] [--down-after MS] "
	    "[--commit-mem MIB]\n"
	    "              [--join ADDR:PORT] [--daemon] [--worker-user USER]\n"
	    "              [--worker-mem MIB] [--worker-files N] "
	    "[--worker-cpu SECONDS]\n"
	    "              [--worker-syscalls LIST] [--sandbox on|off] "
	    "[--cgroup DIR]\n"
	    "              [--encrypt on|off] [--max-conns N] [--max-unauth N]\n"
	    "              [--cache-mem SIZE] [--version]\n"
	    "              [--max-per-source N] [--idle-timeout S] "
	    "[--stall-timeout S]\n"
	    "       agentd keygen FILE\n"
	    "\n"
	    "Runs the agent daemon of this host: it authenticates the other\n"
	    "daemons and clients, exchanges heartbeats, and runs and moves\n"
	    "agents (docs/agents.md, docs/protocol.md).\n"
	    "\n"
	    "options:\n"
	    "  --listen ADDR:PORT  where to listen (default 127.0.0.1:7070)\n"
	    "  --key FILE          the node key (agentd keygen): the daemons'\n"
	    "                      own, which gives its holder every right.\n"
	    "                      Without it the daemon is keyless: it\n"
	    "                      accepts loopback connections alone, and\n"
	    "                      only from processes of its own user (the\n"
	    "                      kernel's sock_diag names the uid that\n"
	    "                      opened the connecting socket); others\n"
	    "                      are refused with a line that says so\n"
	    "  --client-key FILE:ROLE\n"
	    "                      also accept clients holding this key\n"
	    "                      (agentd keygen), with ROLE read (hosts,\n"
	    "                      agents, logs, results: looking only) or\n"
	    "                      run (read, and spawn, steer, message and\n"
	    "                      kill agents whose code is already stored,\n"
	    "                      never code-put); repeatable; needs --key.\n"
	    "                      A client key never joins as a daemon\n"
	    "                      (docs/security.md)\n"
	    "  --hosts FILE        the host inventory (hosts/README.md); this\n"
	    "                      host is the entry named --name, or the one\n"
	    "                      whose address is --listen\n"
	    "  --state DIR         where the code store and state live\n"
	    "                      (default /var/lib/agentd/NAME for root,\n"
	    "                      else $XDG_STATE_HOME or ~/.local/state,\n"
	    "                      agentd/NAME; it must be ours alone, 0700)\n"
	    "  --name NAME         this host's name (default: from --hosts, or\n"
	    "                      \"local\")\n"
	    "  --log-level L       error, warn, info (default) or debug\n"
	    "  --down-after MS     mark a silent host down after MS ms\n"
	    "                      (default 3000, 100 to 3600000); heartbeats\n"
	    "                      go every MS/3 ms, at least once a second\n"
	    "  --commit-mem MIB    the most memory the commits of other\n"
	    "                      hosts' agents may take here (default a\n"
	    "                      quarter of the host's memory;\n"
	    "                      docs/elastic.md)\n"
	    "  --cache-mem SIZE    the most memory the data cache may take\n"
	    "                      here: bytes, or with K, M or G (default a\n"
	    "                      quarter of the host's memory;\n"
	    "                      docs/data-cache.md)\n"
	    "  --join ADDR:PORT    join the cluster that the daemon at\n"
	    "                      ADDR:PORT belongs to, as --name; without\n"
	    "                      --hosts the members tell this host who\n"
	    "                      the others are (docs/elastic.md). It\n"
	    "                      retries every second until a member\n"
	    "                      answers, and exits 2 if it is refused\n"
	    "  --max-conns N       accepted connections at most (default 1024,\n"
	    "                      and at most half the open-file limit); when\n"
	    "                      full, a newcomer takes the place of an\n"
	    "                      unauthenticated one, or is refused\n"
	    "  --max-unauth N      connections still in their handshake at\n"
	    "                      most (default 64, at most half of\n"
	    "                      --max-conns); the oldest one from the\n"
	    "                      address with the most is dropped for a\n"
	    "                      newcomer\n"
	    "  --max-per-source N  connections from one address at most\n"
	    "                      (default 256); more are refused\n"
	    "  --idle-timeout S    close a client that sent nothing for S s\n"
	    "                      (default 300; 0: never). Not one that\n"
	    "                      subscribed to events, nor other daemons\n"
	    "                      (they ping) or workers\n"
	    "  --stall-timeout S   close a client that left its replies\n"
	    "                      unread for S s (default 30; 0: never);\n"
	    "                      past 16 MiB of them its requests wait\n"
	    "  --daemon            detach from the terminal (logs still go to\n"
	    "                      stderr: redirect it)\n"
	    "  --encrypt on|off    encipher frames between daemons and with\n"
	    "                      clients, and a data job's ring (default\n"
	    "                      on); a cluster setting: a daemon that\n"
	    "                      differs is refused, clients follow\n"
	    "                      (docs/security.md, \"Frames\")\n"
	    "\n"
	    "workers (docs/security.md):\n"
	    "  --worker-user USER  when agentd runs as root, run workers as\n"
	    "                      USER (default agentd-worker, else nobody)\n"
	    "  --worker-mem MIB    an agent's data memory (default 3/4 of the\n"
	    "                      host's); a spawn's limits may change it\n"
	    "  --worker-files N    an agent's open files (default 1024)\n"
	    "  --worker-cpu SECONDS  an agent's CPU time (default unlimited)\n"
	    "  --worker-syscalls LIST  system calls to allow beyond the\n"
	    "                      sandbox's list, comma-separated\n"
	    "  --sandbox on|off    Landlock and seccomp for workers (default\n"
	    "                      on; off only to diagnose an agent)\n"
	    "  --cgroup DIR        a cgroup v2 folder given to agentd: each\n"
	    "                      worker gets a cgroup in it whose\n"
	    "                      memory.max is its memory limit (default:\n"
	    "                      none; RLIMIT_DATA bounds each worker)\n"
	    "  -h, --help          show this help\n"
	    "\n"
	    "Signals: SIGTERM and SIGINT stop the daemon cleanly; SIGHUP\n"
	    "reloads the hosts file.\n"
	    "Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on\n"
	    "bad usage or input.\n");
}

/* A whole number from min to max for opt, or -1 having said why. */
static int
opt_number(const char *opt, const char *arg, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || *out < min ||
	    *out > max) {
		fprintf(stderr, "agentd: %s: expected %ld to %ld, got \"%s\"\n",
		    opt, min, max, arg);
		return -1;
	}
	return 0;
}

static int
keygen(int argc, char **argv)
{
	char *cause = NULL;

	if (argc != 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		if (argc == 2) {
			printf("usage: agentd keygen FILE\n\nWrites a new "
			    "random key to FILE (mode 0600): a cluster's node\n"
			    "key (--key), which every daemon holds, or a "
			    "client key\n(--client-key FILE:ROLE) for clients "
			    "with fewer rights.\n");
			return 0;
		}
		fprintf(stderr, "agentd keygen: expected one FILE (usage: "
		    "agentd keygen FILE)\n");
		return EXIT_USAGE;
	}
	if (auth_keygen(argv[1], &cause) != 0) {
		fprintf(stderr, "agentd keygen: %s\n", cause);
		free(cause);
		return EXIT_FAILED;
	}
	return 0;
}

/*
 * Client keys come with a node key (keyless, there is no key to tell them
 * from), and each is a key of its own: a HELLO names one by its id.
 */
static int
client_keys_check(const struct daemon_config *cfg, char **cause)
{
	char node[AUTH_KEY_ID_LEN + 1];
	size_t i, j;

	if (cfg->nclient_keys == 0)
		return 0;
	if (!cfg->have_key)
		return nn_fail(cause, "--client-key needs --key (the node "
		    "key)");
	auth_key_id(cfg->key, node);
	for (i = 0; i < cfg->nclient_keys; i++) {
		if (strcmp(cfg->client_keys[i].id, node) == 0)
			return nn_fail(cause, "--client-key: key %zu is the "
			    "node key (--key); a client key must be another "
			    "(agentd keygen)", i + 1);
		for (j = 0; j < i; j++)
			if (strcmp(cfg->client_keys[i].id,
			    cfg->client_keys[j].id) == 0)
				return nn_fail(cause, "--client-key: keys %zu "
				    "and %zu are the same key", j + 1, i + 1);
	}
	return 0;
}

static int
detach(void)
{
	int fd;

	switch (fork()) {
	case -1:
		return -1;
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/* A whole number of lo to hi for option name, into *out; -1 after
 * saying what was wrong. */
static int
number_arg(const char *name, const char *arg, long lo, long hi, int *out)
{
	char opt[64];
	long v;

	snprintf(opt, sizeof opt, "--%s", name);
	if (opt_number(opt, arg, lo, hi, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

/* A size in bytes, or with K, M or G, of 1 MiB to 1 TiB, for option
 * name; -1 after saying what was wrong. */
static int
size_arg(const char *name, const char *arg, uint64_t *out)
{
	static const struct { char c; int shift; } units[] = {
		{ 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'k', 10 },
		{ 'm', 20 }, { 'g', 30 },
	};
	char *end;
	unsigned long long v;
	size_t i;
	int shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (end != arg && *end != '\0' && end[1] == '\0')
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (*end == units[i].c) {
				shift = units[i].shift;
				end++;
			}
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
	    v > (1ULL << 40) >> shift || (v << shift) < (1ULL << 20)) {
		fprintf(stderr, "agentd: --%s: expected a size of 1M to 1024G "
		    "(bytes, or with K, M or G), got \"%s\"\n", name, arg);
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "client-key", required_argument, NULL, 'K' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "state", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "down-after", required_argument, NULL, 'D' },
		{ "commit-mem", required_argument, NULL, 'C' },
		{ "cache-mem", required_argument, NULL, 'Z' },
		{ "join", required_argument, NULL, 'J' },
		{ "max-conns", required_argument, NULL, 'M' },
		{ "max-unauth", required_argument, NULL, 'U' },
		{ "max-per-source", required_argument, NULL, 'P' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "stall-timeout", required_argument, NULL, 'T' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "worker-user", required_argument, NULL, 'u' },
		{ "worker-mem", required_argument, NULL, 'm' },
		{ "worker-files", required_argument, NULL, 'F' },
		{ "worker-cpu", required_argument, NULL, 'c' },
		{ "worker-syscalls", required_argument, NULL, 'S' },
		{ "sandbox", required_argument, NULL, 'X' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ "encrypt", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_config cfg;
	struct daemon *d = NULL;
	const char *listen = "127.0.0.1:7070", *keyfile = NULL, *join = NULL;
	char *cause = NULL, *state = NULL, *end;
	char *hidden[SANDBOX_HIDE_MAX] = { NULL };
	int c, level = LOG_INFO, background = 0, rc = EXIT_USAGE;
	long ms;

	if (argc > 1 && strcmp(argv[1], "keygen") == 0)
		return keygen(argc - 1, argv + 1);
	/* Internal: the daemon runs each agent as "agentd worker FD". */
	if (argc == 3 && strcmp(argv[1], "worker") == 0)
		return worker_main(atoi(argv[2]));
	memset(&cfg, 0, sizeof cfg);
	cfg.idle_ms = DAEMON_IDLE_MS;
	cfg.stall_ms = DAEMON_STALL_MS;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		case 'K':
			if (cfg.nclient_keys >= SANDBOX_HIDE_MAX - 2) {
				fprintf(stderr, "agentd: --client-key: at most "
				    "%d keys\n", SANDBOX_HIDE_MAX - 2);
				goto out;
			}
			cfg.client_keys = xreallocarray(cfg.client_keys,
			    cfg.nclient_keys + 1, sizeof *cfg.client_keys);
			if (auth_client_key_load(optarg, &cfg.client_keys[
			    cfg.nclient_keys], &cause) != 0) {
				fprintf(stderr, "agentd: %s\n", cause);
				goto out;
			}
			/* FILE of FILE:ROLE, out of the workers' reach. */
			hidden[cfg.nclient_keys] = xstrdup(optarg);
			*strrchr(hidden[cfg.nclient_keys], ':') = '\0';
			cfg.sandbox.hide[cfg.nclient_keys] =
			    hidden[cfg.nclient_keys];
			cfg.nclient_keys++;
			break;
		case 'H':
			cfg.hosts_path = optarg;
			break;
		case 's':
			free(state);
			state = xstrdup(optarg);
			break;
		case 'n':
			if (strlen(optarg) < 1 || strlen(optarg) >=
			    sizeof cfg.name) {
				fprintf(stderr, "agentd: --name: expected 1 to "
				    "63 characters\n");
				goto out;
			}
			snprintf(cfg.name, sizeof cfg.name, "%s", optarg);
			break;
		case 'L':
			if ((level = log_parse_level(optarg)) < 0) {
				fprintf(stderr, "agentd: --log-level: unknown "
				    "\"%s\" (expected error, warn, info, "
				    "debug)\n", optarg);
				goto out;
			}
			break;
		case 'D':
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ms < 100 ||
			    ms > 3600000) {
				fprintf(stderr, "agentd: --down-after: expected "
				    "100 to 3600000 ms, got \"%s\"\n", optarg);
				goto out;
			}
			cfg.down_after_ms = (int)ms;
			break;
		case 'C':
			errno = 0;
			ms = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || ms < 1 ||
			    ms > 16L * 1024 * 1024) {
				fprintf(stderr, "agentd: --commit-mem: expected "
				    "1 to 16777216 MiB, got \"%s\"\n", optarg);
				goto out;
			}
			cfg.commit_mem = (uint64_t)ms << 20;
			break;
		case 'Z':
			if (size_arg("cache-mem", optarg, &cfg.cache_mem) != 0)
				goto out;
			break;
		case 'J':
			join = optarg;
			break;
		case 'M':
			if (number_arg("max-conns", optarg, 1, 1000000,
			    &cfg.max_conns) != 0)
				goto out;
			break;
		case 'U':
			if (number_arg("max-unauth", optarg, 1, 1000000,
			    &cfg.max_unauth) != 0)
				goto out;
			break;
		case 'P':
			if (number_arg("max-per-source", optarg, 1, 1000000,
			    &cfg.max_per_source) != 0)
				goto out;
			break;
		case 'I':
			if (number_arg("idle-timeout", optarg, 0, 86400,
			    &cfg.idle_ms) != 0)
				goto out;
			cfg.idle_ms *= 1000;
			break;
		case 'T':
			if (number_arg("stall-timeout", optarg, 0, 86400,
			    &cfg.stall_ms) != 0)
				goto out;
			cfg.stall_ms *= 1000;
			break;
		case 'd':
			background = 1;
			break;
		case 'u':
			cfg.sandbox.user = optarg;
			break;
		case 'm':
			if (opt_number("--worker-mem", optarg, 16, 1L << 30,
			    &ms) != 0)
				goto out;
			cfg.sandbox.limits.mem = (uint64_t)ms << 20;
			break;
		case 'F':
			if (opt_number("--worker-files", optarg, 16,
			    SANDBOX_MAX_FILES, &ms) != 0)
				goto out;
			cfg.sandbox.limits.files = (uint64_t)ms;
			break;
		case 'c':
			if (opt_number("--worker-cpu", optarg, 1, 1L << 40,
			    &ms) != 0)
				goto out;
			cfg.sandbox.limits.cpu = (uint64_t)ms;
			break;
		case 'S':
			cfg.sandbox.syscalls = optarg;
			break;
		case 'G':
			cfg.sandbox.cgroup = optarg;
			break;
		case 'X':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0) {
				fprintf(stderr, "agentd: --sandbox: expected on "
				    "or off, got \"%s\"\n", optarg);
				goto out;
			}
			cfg.sandbox.off = strcmp(optarg, "off") == 0;
			break;
		case 'E':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0) {
				fprintf(stderr, "agentd: --encrypt: expected on "
				    "or off, got \"%s\"\n", optarg);
				goto out;
			}
			cfg.plaintext = strcmp(optarg, "off") == 0;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'v':
			printf("agentd %s\n", AGENTD_VERSION);
			rc = 0;
			goto out;
		case ':':
			fprintf(stderr, "agentd: option \"%s\" needs a value "
			    "(see agentd --help)\n", argv[optind - 1]);
			goto out;
		default:
			fprintf(stderr, "agentd: unknown option \"%s\" (see "
			    "agentd --help)\n", argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "agentd: unexpected argument \"%s\" (see "
		    "agentd --help)\n", argv[optind]);
		goto out;
	}
	if (hosts_parse_addr(listen, &cfg.listen, &cfg.listen_len,
	    &cause) != 0) {
		fprintf(stderr, "agentd: --listen: %s\n", cause);
		goto out;
	}
	hosts_format_addr((struct sockaddr *)&cfg.listen, cfg.listen_text,
	    sizeof cfg.listen_text);
	if (join != NULL) {
		cfg.join_len = sizeof cfg.join;
		if (hosts_parse_addr(join, &cfg.join, &cfg.join_len,
		    &cause) != 0) {
			fprintf(stderr, "agentd: --join: %s\n", cause);
			goto out;
		}
		if (cfg.name[0] == '\0') {
			fprintf(stderr, "agentd: --join needs --name (what the "
			    "other hosts will call this one)\n");
			goto out;
		}
		hosts_format_addr((struct sockaddr *)&cfg.join, cfg.join_text,
		    sizeof cfg.join_text);
		if (strcmp(cfg.join_text, cfg.listen_text) == 0) {
			fprintf(stderr, "agentd: --join %s: that is this "
			    "host's own --listen address\n", join);
			goto out;
		}
	}
	if (keyfile != NULL) {
		if (auth_key_load(keyfile, cfg.key, &cause) != 0) {
			fprintf(stderr, "agentd: --key: %s\n", cause);
			goto out;
		}
		cfg.have_key = 1;
		cfg.key_path = keyfile;
	}
	if (client_keys_check(&cfg, &cause) != 0) {
		fprintf(stderr, "agentd: %s\n", cause);
		goto out;
	}
	log_init(cfg.name[0] != '\0' ? cfg.name : "agentd", level);
	cfg.state_dir = state;	/* NULL: daemon_new picks one by name */
	signal(SIGPIPE, SIG_IGN);
	/* Our memory holds the key: a process of our user (a worker) may
	 * not read it through /proc or ptrace. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((d = daemon_new(&cfg, &cause)) == NULL) {
		fprintf(stderr, "agentd: %s\n", cause);
		goto out;
	}
	if (background && detach() != 0) {
		fprintf(stderr, "agentd: cannot detach: %s\n", strerror(errno));
		rc = EXIT_FAILED;
		goto out;
	}
	rc = daemon_run(d);
out:
	daemon_free(d);
	if (cfg.client_keys != NULL)
		crypto_cleanse(cfg.client_keys, cfg.nclient_keys *
		    sizeof *cfg.client_keys);
	crypto_cleanse(cfg.key, sizeof cfg.key);
	free(cfg.client_keys);
	for (c = 0; c < SANDBOX_HIDE_MAX; c++)
		free(hidden[c]);
	free(state);
	free(cause);
	return rc;
}
