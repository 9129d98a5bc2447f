/* agentctl: a command-line client of agentd. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "agentd/client.h"
#include "agentd/codestore.h"
#include "agentd/frame.h"

#define EXIT_FAILED	1
#define EXIT_USAGE	2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: agentctl [--connect ADDR:PORT] [--key FILE] [--json] "
	    "COMMAND\n"
	    "\n"
	    "commands:\n"
	    "  hosts              list the hosts the daemon knows, with state\n"
	    "  ping               check that the daemon answers\n"
	    "  watch [SECONDS]    print events as they come (default: until\n"
	    "                     interrupted)\n"
	    "  agents             list the agents on the daemon's host\n"
	    "  spawn FILE.so [ARGS]  upload the agent's code unless the daemon\n"
	    "                     has it, start it with ARGS (JSON), print its id\n"
	    "  kill|suspend|resume AGENT\n"
	    "  migrate AGENT HOST  move an agent between two of its steps\n"
	    "  clone AGENT [HOST]  start a copy of an agent\n"
	    "  send AGENT TEXT    send TEXT as a message to an agent\n"
	    "  request OP [JSON]  send any request (docs/protocol.md) and print\n"
	    "                     the reply\n"
	    "\n"
	    "options:\n"
	    "  --connect ADDR:PORT  the daemon (default 127.0.0.1:7070)\n"
	    "  --key FILE           the cluster key (default: none, loopback)\n"
	    "  --json               print replies as JSON\n"
	    "  -h, --help           show this help\n"
	    "\n"
	    "Exit status: 0 success, 1 failure (unreachable daemon, refused\n"
	    "request), 2 bad usage.\n");
}

static void
print_hosts(json_t *reply)
{
	json_t *h;
	size_t i;

	printf("%-16s %-22s %-5s %5s %8s %5s %6s\n", "HOST", "ADDRESS",
	    "STATE", "CORES", "MEM_MB", "LOAD", "AGENTS");
	json_array_foreach(json_object_get(reply, "hosts"), i, h) {
		printf("%-16s %-22s %-5s %5lld %8lld %5.2f %6lld\n",
		    json_string_value(json_object_get(h, "name")),
		    json_string_value(json_object_get(h, "address")),
		    json_string_value(json_object_get(h, "state")),
		    json_integer_value(json_object_get(h, "cores")),
		    json_integer_value(json_object_get(h, "mem_bytes")) /
		    (1 << 20),
		    json_number_value(json_object_get(h, "load")),
		    json_integer_value(json_object_get(h, "agents")));
	}
}

static void
print_agents(json_t *reply)
{
	json_t *a;
	size_t i;

	printf("%-14s %-12s %-10s %-10s %10s %8s\n", "AGENT", "TYPE", "HOST",
	    "STATE", "STEP", "PROGRESS");
	json_array_foreach(json_object_get(reply, "agents"), i, a) {
		printf("%-14s %-12s %-10s %-10s %10lld %7.1f%%\n",
		    json_string_value(json_object_get(a, "id")),
		    json_string_value(json_object_get(a, "type")),
		    json_string_value(json_object_get(a, "host")),
		    json_string_value(json_object_get(a, "state")),
		    json_integer_value(json_object_get(a, "step")),
		    100 * json_number_value(json_object_get(a, "progress")));
	}
}

/* Uploads the code unless the daemon has it; fills sha. */
static int
upload_code(struct client *cl, const char *path, char *sha, char **cause)
{
	json_t *req, *rep = NULL;
	void *buf = NULL;
	size_t len;
	int rc = -1;

	if (codestore_read_file(path, &buf, &len, sha, cause) != 0)
		return -1;
	req = json_pack("{s:s, s:s}", "op", "code-has", "sha256", sha);
	rep = client_request(cl, req, cause);
	json_decref(req);
	if (rep == NULL)
		goto out;
	if (!json_is_true(json_object_get(rep, "has"))) {
		json_decref(rep);
		req = json_pack("{s:s, s:s, s:I}", "op", "code-put", "sha256",
		    sha, "id", (json_int_t)0);
		json_object_del(req, "id");
		rep = client_request_payload(cl, req, buf, len, cause);
		json_decref(req);
		if (rep == NULL)
			goto out;
		if (!json_is_true(json_object_get(rep, "ok"))) {
			nn_fail(cause, "code-put: %s", json_string_value(
			    json_object_get(rep, "error")));
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(rep);
	free(buf);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = "127.0.0.1:7070", *key = NULL, *cmd;
	struct client *cl = NULL;
	json_t *req = NULL, *rep = NULL, *ev;
	json_error_t jerr;
	json_t *args;
	char *cause = NULL, *text, sha[CODESTORE_HEX];
	int c, json = 0, rc = EXIT_USAGE, seconds = -1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			addr = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "agentctl: %s \"%s\" (see agentctl "
			    "--help)\n", c == ':' ? "missing value for" :
			    "unknown option", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "agentctl: missing COMMAND (see agentctl "
		    "--help)\n");
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "hosts") == 0 || strcmp(cmd, "ping") == 0) {
		if (argc - optind != 1)
			goto extra;
		req = json_pack("{s:s}", "op", cmd);
	} else if (strcmp(cmd, "watch") == 0) {
		if (argc - optind > 2)
			goto extra;
		if (argc - optind == 2 && (seconds = atoi(argv[optind + 1])) <=
		    0) {
			fprintf(stderr, "agentctl: watch: expected a positive "
			    "number of seconds\n");
			return EXIT_USAGE;
		}
		req = json_pack("{s:s}", "op", "subscribe");
	} else if (strcmp(cmd, "agents") == 0) {
		if (argc - optind != 1)
			goto extra;
		req = json_pack("{s:s}", "op", "agents");
	} else if (strcmp(cmd, "kill") == 0 || strcmp(cmd, "suspend") == 0 ||
	    strcmp(cmd, "resume") == 0) {
		if (argc - optind != 2)
			goto extra;
		req = json_pack("{s:s, s:s}", "op", cmd, "agent",
		    argv[optind + 1]);
	} else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "clone") == 0) {
		if (argc - optind < 2 || argc - optind > 3 ||
		    (strcmp(cmd, "migrate") == 0 && argc - optind != 3))
			goto extra;
		req = json_pack("{s:s, s:s, s:s}", "op", cmd, "agent",
		    argv[optind + 1], "host", argc - optind == 3 ?
		    argv[optind + 2] : "");
	} else if (strcmp(cmd, "send") == 0) {
		if (argc - optind != 3)
			goto extra;
		req = json_pack("{s:s, s:s}", "op", "send", "agent",
		    argv[optind + 1]);
	} else if (strcmp(cmd, "spawn") == 0) {
		if (argc - optind < 2 || argc - optind > 3)
			goto extra;
		args = argc - optind == 3 ? json_loads(argv[optind + 2], 0,
		    &jerr) : json_object();
		if (!json_is_object(args)) {
			fprintf(stderr, "agentctl: spawn: ARGS must be a JSON "
			    "object\n");
			json_decref(args);
			return EXIT_USAGE;
		}
		req = json_pack("{s:s, s:o}", "op", "spawn", "args", args);
	} else if (strcmp(cmd, "request") == 0) {
		if (argc - optind < 2 || argc - optind > 3)
			goto extra;
		req = argc - optind == 3 ? json_loads(argv[optind + 2], 0,
		    &jerr) : json_object();
		if (!json_is_object(req)) {
			fprintf(stderr, "agentctl: request: JSON must be an "
			    "object\n");
			json_decref(req);
			return EXIT_USAGE;
		}
		json_object_set_new(req, "op", json_string(argv[optind + 1]));
	} else {
		fprintf(stderr, "agentctl: unknown command \"%s\" (expected "
		    "hosts, ping, watch or request)\n", cmd);
		return EXIT_USAGE;
	}

	rc = EXIT_FAILED;
	if ((cl = client_connect(addr, key, "agentctl", &cause)) == NULL) {
		fprintf(stderr, "agentctl: %s\n", cause);
		goto out;
	}
	if (strcmp(cmd, "spawn") == 0) {
		if (upload_code(cl, argv[optind + 1], sha, &cause) != 0) {
			fprintf(stderr, "agentctl: spawn: %s\n", cause);
			goto out;
		}
		json_object_set_new(req, "code", json_string(sha));
	}
	if (strcmp(cmd, "send") == 0)
		rep = client_request_payload(cl, req, argv[optind + 2],
		    strlen(argv[optind + 2]), &cause);
	else
		rep = client_request(cl, req, &cause);
	if (rep == NULL) {
		fprintf(stderr, "agentctl: %s\n", cause);
		goto out;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		fprintf(stderr, "agentctl: %s: %s\n", cmd,
		    json_string_value(json_object_get(rep, "error")));
		goto out;
	}
	if (strcmp(cmd, "watch") == 0) {
		while ((ev = client_event(cl, seconds < 0 ? -1 : seconds * 1000,
		    &cause)) != NULL) {
			text = json_dumps(ev, JSON_COMPACT);
			printf("%s\n", text);
			fflush(stdout);
			free(text);
			json_decref(ev);
		}
		if (cause != NULL) {
			fprintf(stderr, "agentctl: %s\n", cause);
			goto out;
		}
	} else if (strcmp(cmd, "hosts") == 0 && !json) {
		print_hosts(rep);
	} else if (strcmp(cmd, "agents") == 0 && !json) {
		print_agents(rep);
	} else if (strcmp(cmd, "spawn") == 0 && !json) {
		printf("%s\n", json_string_value(json_object_get(rep,
		    "agent")));
	} else if (strcmp(cmd, "ping") == 0 && !json) {
		printf("%s: ok\n", addr);
	} else {
		json_object_del(rep, "id");
		text = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
	}
	rc = 0;
	goto out;
extra:
	fprintf(stderr, "agentctl: %s: wrong number of arguments (see "
	    "agentctl --help)\n", cmd);
	return EXIT_USAGE;
out:
	json_decref(req);
	json_decref(rep);
	client_free(cl);
	free(cause);
	return rc;
}
