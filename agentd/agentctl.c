/* agentctl: a command-line client of agentd. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "client.h"

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
	char *cause = NULL, *text;
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
	if ((cl = client_connect(addr, key, "agentctl", &cause)) == NULL ||
	    (rep = client_request(cl, req, &cause)) == NULL) {
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
