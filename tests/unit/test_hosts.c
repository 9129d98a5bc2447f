/*
 * Host inventories: the shipped files, every class of error with its JSON
 * path, the size limits, address parsing and formatting, lookups, and the
 * inventory that hosts/netns.sh prints. Documents are written with ' for ".
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/hosts.h"
#include "base/alloc.h"
#include "unit.h"

/* Writes text (with ' for ") to a scratch file; returns its path (caller frees). */
static char *
put(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", unit_tmpdir(), name);
	const char *p;
	FILE *f;

	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	for (p = text; *p != '\0'; p++)
		fputc(*p == '\'' ? '"' : *p, f);
	fclose(f);
	return path;
}

/* Loads a document given with ' for "; NULL with cause. */
static struct hosts *
load_text(const char *text, char **cause)
{
	char *path = put("x.json", text);
	struct hosts *h;

	h = hosts_load(path, cause);
	free(path);
	return h;
}

/* The shipped three-host file the daemon tests use. */
static void
test_local3(void)
{
	char *cause = NULL, buf[HOSTS_ADDR_MAX];
	struct hosts *h = NULL;
	const struct host_entry *e;
	const struct sockaddr_in *sin;
	int i;

	h = hosts_load(unit_src("hosts/local3.json"), &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_count(h) == 3);
	for (i = 0; i < 3; i++) {
		e = hosts_get(h, i);
		CHECK(e != NULL);
		snprintf(buf, sizeof buf, "h%d", i + 1);
		CHECK(strcmp(e->name, buf) == 0);
		snprintf(buf, sizeof buf, "127.0.0.%d:%d", i + 1, 7071 + i);
		CHECKF(strcmp(e->address, buf) == 0, "%s", e->address);
		sin = (const struct sockaddr_in *)&e->sa;
		CHECK(sin->sin_family == AF_INET);
		CHECK(e->salen == sizeof *sin);
		CHECK(ntohs(sin->sin_port) == 7071 + i);
		CHECK(ntohl(sin->sin_addr.s_addr) == 0x7f000001U + (unsigned)i);
		CHECK(e->cores == 0 && e->mem_mb == 0 && e->gpus == -1);
		CHECK(e->ntags == 0);
	}
	CHECK(hosts_get(h, 3) == NULL);
	CHECK(hosts_get(h, -1) == NULL);
	CHECK(hosts_find(h, "h2") == hosts_get(h, 1));
	CHECK(hosts_find(h, "h4") == NULL);
	CHECK(hosts_find(h, "H2") == NULL);
end:
	hosts_free(h);
	free(cause);
}

/* The documented example: capabilities, tags and an IPv6 address. */
static void
test_example(void)
{
	char *cause = NULL;
	struct hosts *h = NULL;
	const struct host_entry *e;

	h = hosts_load(unit_src("hosts/example.json"), &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_count(h) == 3);
	CHECK((e = hosts_find(h, "alpha")) != NULL);
	CHECK(e->cores == 32 && e->mem_mb == 131072 && e->gpus == 0);
	CHECK(e->ntags == 2 && hosts_has_tag(e, "cpu") &&
	    hosts_has_tag(e, "big-mem") && !hosts_has_tag(e, "gpu"));
	CHECK((e = hosts_find(h, "beta")) != NULL);
	CHECK(e->gpus == 2 && hosts_has_tag(e, "gpu"));
	CHECK((e = hosts_find(h, "gamma.lab")) != NULL);
	CHECK(e->sa.ss_family == AF_INET6);
	CHECK(strcmp(e->address, "[fd00::12]:7070") == 0);
	CHECK(e->cores == 0 && e->gpus == -1 && e->ntags == 0);
end:
	hosts_free(h);
	free(cause);
}

/* A document and the message it must give (after "<path>: "). */
static const struct bad_case {
	const char	*doc;
	const char	*want;
} bad_cases[] = {
	/* The example from the brief, in full. */
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1'}, "
	  "{'name': 'b', 'address': '127.0.0.1:2'}, "
	  "{'name': 'c', 'address': 'foo'}]}",
	  "hosts[2].address: expected HOST:PORT, got \"foo\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', 'port': 3}]}",
	  "hosts[0].port: unknown key (expected name, address, cores, "
	  "mem_mb, gpus, tags, comment)" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', 'a b': 3}]}",
	  "hosts[0].\"a b\": unknown key" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1'}], 'x': 1}",
	  "x: unknown key (expected hosts, comment)" },
	{ "{'hosts': [{'name': 'a', 'address': 'localhost:7070'}]}",
	  "hosts[0].address: expected a numeric IPv4 address A.B.C.D, got "
	  "\"localhost\" in \"localhost:7070\"" },
	{ "{'hosts': [{'name': 'a', 'address': '256.0.0.1:7070'}]}",
	  "hosts[0].address: expected a numeric IPv4 address" },
	{ "{'hosts': [{'name': 'a', 'address': '1.2.3:7070'}]}",
	  "hosts[0].address: expected a numeric IPv4 address" },
	{ "{'hosts': [{'name': 'a', 'address': '01.2.3.4:7070'}]}",
	  "hosts[0].address: expected a numeric IPv4 address" },
	{ "{'hosts': [{'name': 'a', 'address': ':7070'}]}",
	  "hosts[0].address: expected HOST:PORT, got \":7070\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:0'}]}",
	  "hosts[0].address: bad port \"0\" in \"127.0.0.1:0\" (expected 1 "
	  "to 65535)" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:65536'}]}",
	  "hosts[0].address: bad port \"65536\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:'}]}",
	  "hosts[0].address: bad port \"\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:+80'}]}",
	  "hosts[0].address: bad port \"+80\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:080'}]}",
	  "hosts[0].address: bad port \"080\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:70x'}]}",
	  "hosts[0].address: bad port \"70x\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:99999999999'}]}",
	  "hosts[0].address: bad port \"99999999999\"" },
	{ "{'hosts': [{'name': 'a', 'address': '::1:7070'}]}",
	  "hosts[0].address: expected HOST:PORT with an IPv6 address in "
	  "brackets" },
	{ "{'hosts': [{'name': 'a', 'address': '[::1]7070'}]}",
	  "hosts[0].address: expected [IPv6]:PORT" },
	{ "{'hosts': [{'name': 'a', 'address': '[::g]:7070'}]}",
	  "hosts[0].address: expected a numeric IPv6 address" },
	{ "{'hosts': [{'name': 'a', 'address': '[1.2.3.4]:7070'}]}",
	  "hosts[0].address: expected a numeric IPv6 address" },
	{ "{'hosts': [{'name': 'a', 'address': 7070}]}",
	  "hosts[0].address: expected a string, got number" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1'}, "
	  "{'name': 'a', 'address': '127.0.0.1:2'}]}",
	  "hosts[1].name: duplicate name a (also hosts[0])" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1'}, "
	  "{'name': 'b', 'address': '127.0.0.1:1'}]}",
	  "hosts[1].address: duplicate address 127.0.0.1:1 (also hosts[0])" },
	/* An IPv4-mapped IPv6 address is the same host. */
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1'}, "
	  "{'name': 'b', 'address': '[::ffff:127.0.0.1]:1'}]}",
	  "hosts[1].address: duplicate address" },
	{ "{'hosts': [{'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: missing" },
	{ "{'hosts': [{'name': 'a'}]}",
	  "hosts[0].address: missing (expected HOST:PORT)" },
	{ "{'hosts': [{'name': 7, 'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: expected a string, got number" },
	{ "{'hosts': [{'name': 'h 1', 'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: expected 1 to 63 characters of A-Z a-z 0-9 . _ -, "
	  "got \"h 1\"" },
	{ "{'hosts': [{'name': '', 'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: expected 1 to 63 characters" },
	{ "{'hosts': [{'name': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaa', 'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: expected 1 to 63 characters" },
	{ "{'hosts': [{'name': 'a\\nb', 'address': '127.0.0.1:1'}]}",
	  "hosts[0].name: expected 1 to 63 characters of A-Z a-z 0-9 . _ -, "
	  "got \"a\\x0ab\"" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'cores': 'four'}]}",
	  "hosts[0].cores: expected an integer from 1 to 65536, got string" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', 'cores': 0}]}",
	  "hosts[0].cores: expected an integer from 1 to 65536, got 0" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'cores': 2.5}]}",
	  "hosts[0].cores: expected an integer from 1 to 65536, got 2.5" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'mem_mb': 0}]}",
	  "hosts[0].mem_mb: expected an integer from 1 to 2147483647, got 0" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'mem_mb': 4294967296}]}",
	  "hosts[0].mem_mb: expected an integer from 1 to 2147483647, "
	  "got 4294967296" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', 'gpus': -1}]}",
	  "hosts[0].gpus: expected an integer from 0 to 1024, got -1" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'gpus': true}]}",
	  "hosts[0].gpus: expected an integer from 0 to 1024, got boolean" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'tags': 'cpu'}]}",
	  "hosts[0].tags: expected an array of strings, got string" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'tags': ['cpu', 3]}]}",
	  "hosts[0].tags[1]: expected a string, got number" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'tags': ['cpu', 'cpu']}]}",
	  "hosts[0].tags[1]: duplicate tag cpu" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'tags': ['']}]}",
	  "hosts[0].tags[0]: expected 1 to 63 characters" },
	{ "{'hosts': [{'name': 'a', 'address': '127.0.0.1:1', "
	  "'comment': 1}]}",
	  "hosts[0].comment: expected a string, got number" },
	{ "{'hosts': ['127.0.0.1:1']}",
	  "hosts[0]: expected an object, got string" },
	{ "{'hosts': {}}", "hosts: expected an array, got object" },
	{ "{'hosts': []}", "hosts: empty (expected at least one host)" },
	{ "{}", "hosts: missing (expected an array of hosts)" },
	{ "[]", "expected an object with a \"hosts\" array, got array" },
};

/* Every bad document fails with its one-line message, and nothing leaks. */
static void
test_errors(void)
{
	char *cause = NULL, *want = NULL, *path = NULL;
	struct hosts *h = NULL;
	size_t i;

	path = xasprintf("%s/x.json", unit_tmpdir());
	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		free(cause);
		cause = NULL;
		h = load_text(bad_cases[i].doc, &cause);
		CHECKF(h == NULL, "case %zu loaded", i);
		CHECKF(cause != NULL, "case %zu: no cause", i);
		free(want);
		want = xasprintf("%s: %s", path, bad_cases[i].want);
		CHECKF(strncmp(cause, want, strlen(want)) == 0,
		    "case %zu: got \"%s\", want \"%s...\"", i, cause, want);
		CHECKF(strchr(cause, '\n') == NULL, "case %zu: two lines", i);
	}
end:
	hosts_free(h);
	free(cause);
	free(want);
	free(path);
}

/* Syntax errors give the line and column; missing files say so. */
static void
test_syntax(void)
{
	char *cause = NULL, *want = NULL;
	struct hosts *h = NULL;

	h = load_text("{'hosts': [\n  {'name': 'a',,}]}", &cause);
	CHECK(h == NULL && cause != NULL);
	want = xasprintf("%s/x.json:2:", unit_tmpdir());
	CHECKF(strncmp(cause, want, strlen(want)) == 0, "%s", cause);
	CHECKF(strstr(cause, "JSON syntax error") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	/* Jansson would keep the last of two keys; we refuse both. */
	h = load_text("{'hosts': [], 'hosts': []}", &cause);
	CHECK(h == NULL && cause != NULL);
	CHECKF(strncmp(cause, want, strlen(want) - 2) == 0 &&
	    strstr(cause, "duplicate object key") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	h = hosts_load("/nonexistent/hosts.json", &cause);
	CHECK(h == NULL);
	CHECKF(strcmp(cause, "/nonexistent/hosts.json: cannot open: No such "
	    "file or directory") == 0, "%s", cause);
end:
	hosts_free(h);
	free(cause);
	free(want);
}

/* A file over 4 MiB is refused by its size; one at the limit loads. */
static void
test_size_limit(void)
{
	static const char doc[] =
	    "{\"hosts\": [{\"name\": \"a\", \"address\": \"127.0.0.1:1\"}]}";
	char *cause = NULL, *path = NULL, *want = NULL, *buf = NULL;
	struct hosts *h = NULL;
	FILE *f = NULL;
	int fd = -1;

	/* Valid JSON padded with spaces up to exactly the limit. */
	path = xasprintf("%s/big.json", unit_tmpdir());
	buf = xmalloc(HOSTS_MAX_FILE);
	memset(buf, ' ', HOSTS_MAX_FILE);
	memcpy(buf, doc, sizeof doc - 1);
	CHECK((f = fopen(path, "w")) != NULL);
	CHECK(fwrite(buf, 1, HOSTS_MAX_FILE, f) == HOSTS_MAX_FILE);
	CHECK(fclose(f) == 0);
	f = NULL;
	h = hosts_load(path, &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_count(h) == 1);
	hosts_free(h);
	h = NULL;

	/* One byte more: refused by its size alone. */
	fd = open(path, O_WRONLY|O_APPEND);
	CHECK(fd != -1);
	CHECK(write(fd, " ", 1) == 1);
	close(fd);
	fd = -1;
	h = hosts_load(path, &cause);
	CHECK(h == NULL);
	want = xasprintf("%s: too large: %d bytes (limit %d)", path,
	    HOSTS_MAX_FILE + 1, HOSTS_MAX_FILE);
	CHECKF(strcmp(cause, want) == 0, "%s", cause);

	/* A stream has no size: reading stops a byte past the limit. */
	free(cause);
	cause = NULL;
	h = hosts_load("/dev/zero", &cause);
	CHECK(h == NULL);
	CHECKF(strcmp(cause, "/dev/zero: too large: more than 4194304 bytes")
	    == 0, "%s", cause);
end:
	if (fd != -1)
		close(fd);
	if (f != NULL)
		fclose(f);
	hosts_free(h);
	free(buf);
	free(cause);
	free(path);
	free(want);
}

/* Builds a document of n hosts on 10.x.y.z:7070; caller frees. */
static char *
many_hosts(int n)
{
	size_t cap = (size_t)n * 64 + 32, o = 0;
	char *s = xmalloc(cap);
	int i;

	o += (size_t)snprintf(s + o, cap - o, "{'hosts': [");
	for (i = 0; i < n; i++) {
		o += (size_t)snprintf(s + o, cap - o, "%s{'name': 'n%d', "
		    "'address': '10.0.%d.%d:7070'}", i > 0 ? ", " : "", i,
		    i / 256, i % 256);
	}
	snprintf(s + o, cap - o, "]}");
	return s;
}

/* 4096 hosts load; 4097 are refused by count. */
static void
test_max_hosts(void)
{
	char *cause = NULL, *doc = NULL;
	struct hosts *h = NULL;
	struct sockaddr_storage ss;
	socklen_t len;

	doc = many_hosts(HOSTS_MAX);
	h = load_text(doc, &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_count(h) == HOSTS_MAX);
	CHECK(strcmp(hosts_get(h, 4095)->address, "10.0.15.255:7070") == 0);
	CHECK(hosts_parse_addr("10.0.15.255:7070", &ss, &len, NULL) == 0);
	CHECK(hosts_find_addr(h, (struct sockaddr *)&ss) ==
	    hosts_get(h, 4095));
	CHECK(hosts_add(h, "one-more", "10.1.0.0:1", &cause) == -1);
	CHECKF(strstr(cause, "too many hosts (limit 4096)") != NULL, "%s",
	    cause);
	hosts_free(h);
	h = NULL;
	free(doc);
	free(cause);
	cause = NULL;
	doc = many_hosts(HOSTS_MAX + 1);
	h = load_text(doc, &cause);
	CHECK(h == NULL);
	CHECKF(strstr(cause, "x.json: hosts: 4097 hosts (limit 4096)") !=
	    NULL, "%s", cause);
end:
	hosts_free(h);
	free(cause);
	free(doc);
}

/* Parsing then formatting gives the canonical form back. */
static void
test_addr_roundtrip(void)
{
	static const char *const same[] = {
		"127.0.0.2:7070", "0.0.0.0:1", "255.255.255.255:65535",
		"10.231.0.64:7070", "[::1]:7070", "[fe80::1:2]:80",
		"[2001:db8::8a2e:370:7334]:443", "[::]:1",
	};
	static const char *const canon[][2] = {
		{ "[::0001]:80", "[::1]:80" },
		{ "[FD00:0:0:0:0:0:0:12]:7070", "[fd00::12]:7070" },
		{ "[::ffff:127.0.0.1]:9", "[::ffff:127.0.0.1]:9" },
	};
	char buf[HOSTS_ADDR_MAX], *cause = NULL;
	struct sockaddr_storage ss, ss2;
	socklen_t len = 0, len2 = 0;
	size_t i;

	for (i = 0; i < sizeof same / sizeof same[0]; i++) {
		CHECKF(hosts_parse_addr(same[i], &ss, &len, &cause) == 0,
		    "%s: %s", same[i], cause);
		hosts_format_addr((struct sockaddr *)&ss, buf, sizeof buf);
		CHECKF(strcmp(buf, same[i]) == 0, "%s -> %s", same[i], buf);
		/* And back again to the same bytes. */
		CHECK(hosts_parse_addr(buf, &ss2, &len2, &cause) == 0);
		CHECK(len == len2 && memcmp(&ss, &ss2, len) == 0);
	}
	for (i = 0; i < sizeof canon / sizeof canon[0]; i++) {
		CHECKF(hosts_parse_addr(canon[i][0], &ss, &len, &cause) == 0,
		    "%s: %s", canon[i][0], cause);
		hosts_format_addr((struct sockaddr *)&ss, buf, sizeof buf);
		CHECKF(strcmp(buf, canon[i][1]) == 0, "%s -> %s", canon[i][0],
		    buf);
	}
	CHECK(hosts_parse_addr("127.0.0.2:7070", &ss, &len, NULL) == 0);
	CHECK(ss.ss_family == AF_INET && len == sizeof (struct sockaddr_in));
	CHECK(hosts_parse_addr("[::1]:7070", &ss, &len, NULL) == 0);
	CHECK(ss.ss_family == AF_INET6 && len == sizeof (struct sockaddr_in6));

	/* What --listen gets: the same messages without a file. */
	CHECK(hosts_parse_addr("foo", &ss, &len, &cause) == -1);
	CHECKF(strcmp(cause, "expected HOST:PORT, got \"foo\"") == 0, "%s",
	    cause);
	free(cause);
	cause = NULL;
	CHECK(hosts_parse_addr("127.0.0.1:0", &ss, &len, &cause) == -1);
	CHECKF(strcmp(cause, "bad port \"0\" in \"127.0.0.1:0\" (expected 1 "
	    "to 65535)") == 0, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(hosts_parse_addr(" 127.0.0.1:70", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("127.0.0.1:70 ", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("127.0.0.1", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("[]:70", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("[::1%lo]:70", &ss, &len, NULL) == -1);
	CHECK(hosts_parse_addr("[::1]:70:", &ss, &len, NULL) == -1);
	/* A very long string is quoted short. */
	{
		char lng[600];

		memset(lng, '9', sizeof lng - 1);
		lng[sizeof lng - 1] = '\0';
		CHECK(hosts_parse_addr(lng, &ss, &len, &cause) == -1);
		CHECKF(strlen(cause) < 120, "%s", cause);
	}

	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	hosts_format_addr((struct sockaddr *)&ss, buf, sizeof buf);
	CHECKF(strncmp(buf, "(address family", 15) == 0, "%s", buf);
end:
	free(cause);
}

/* Lookups by address: exact port, any port, IPv4-mapped peers. */
static void
test_find_addr(void)
{
	char *cause = NULL;
	struct hosts *h = NULL;
	struct sockaddr_storage ss;
	socklen_t len;

	h = hosts_load(unit_src("hosts/local3.json"), &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_parse_addr("127.0.0.2:7072", &ss, &len, NULL) == 0);
	CHECK(hosts_find_addr(h, (struct sockaddr *)&ss) == hosts_find(h,
	    "h2"));
	CHECK(hosts_parse_addr("127.0.0.2:50000", &ss, &len, NULL) == 0);
	CHECK(hosts_find_addr(h, (struct sockaddr *)&ss) == NULL);
	CHECK(hosts_find_ip(h, (struct sockaddr *)&ss) == hosts_find(h,
	    "h2"));
	CHECK(hosts_parse_addr("[::ffff:127.0.0.3]:7073", &ss, &len,
	    NULL) == 0);
	CHECK(hosts_find_addr(h, (struct sockaddr *)&ss) == hosts_find(h,
	    "h3"));
	CHECK(hosts_parse_addr("127.0.0.4:7071", &ss, &len, NULL) == 0);
	CHECK(hosts_find_ip(h, (struct sockaddr *)&ss) == NULL);
	CHECK(hosts_parse_addr("[::1]:7071", &ss, &len, NULL) == 0);
	CHECK(hosts_find_ip(h, (struct sockaddr *)&ss) == NULL);
end:
	hosts_free(h);
	free(cause);
}

/* An inventory built at run time takes the same checks. */
static void
test_add(void)
{
	char *cause = NULL;
	struct hosts *h = NULL;

	hosts_free(NULL);
	h = hosts_new();
	CHECK(hosts_count(h) == 0);
	CHECK(hosts_find(h, "self") == NULL);
	CHECK(hosts_add(h, "self", "127.0.0.1:7070", &cause) == 0);
	CHECK(hosts_add(h, "peer", "[::1]:7070", &cause) == 0);
	CHECK(hosts_count(h) == 2);
	CHECK(strcmp(hosts_find(h, "peer")->address, "[::1]:7070") == 0);
	CHECK(hosts_find(h, "peer")->gpus == -1);
	CHECK(hosts_add(h, "self", "127.0.0.1:7071", &cause) == -1);
	CHECKF(strcmp(cause, "host self: already known") == 0, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(hosts_add(h, "other", "127.0.0.1:7070", &cause) == -1);
	CHECKF(strcmp(cause, "host other: address 127.0.0.1:7070 is host "
	    "self's") == 0, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(hosts_add(h, "bad/name", "127.0.0.1:7072", &cause) == -1);
	CHECKF(strstr(cause, "\"bad/name\"") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	CHECK(hosts_add(h, "x", "nowhere", &cause) == -1);
	CHECKF(strcmp(cause, "host x: expected HOST:PORT, got \"nowhere\"") ==
	    0, "%s", cause);
	CHECK(hosts_count(h) == 2);
end:
	hosts_free(h);
	free(cause);
}

/* An entry's JSON has exactly the keys it was given. */
static void
test_entry_json(void)
{
	char *cause = NULL, *s = NULL;
	struct hosts *h = NULL;
	json_t *o = NULL;

	h = hosts_load(unit_src("hosts/example.json"), &cause);
	CHECKF(h != NULL, "%s", cause);
	o = hosts_entry_json(hosts_find(h, "alpha"));
	s = json_dumps(o, JSON_COMPACT);
	CHECKF(strcmp(s, "{\"name\":\"alpha\",\"address\":\"192.168.1.10:7070\","
	    "\"cores\":32,\"mem_mb\":131072,\"gpus\":0,\"tags\":[\"cpu\","
	    "\"big-mem\"]}") == 0, "%s", s);
	json_decref(o);
	free(s);
	o = hosts_entry_json(hosts_find(h, "gamma.lab"));
	s = json_dumps(o, JSON_COMPACT);
	CHECKF(strcmp(s, "{\"name\":\"gamma.lab\",\"address\":"
	    "\"[fd00::12]:7070\"}") == 0, "%s", s);
end:
	json_decref(o);
	free(s);
	hosts_free(h);
	free(cause);
}

/* What hosts/netns.sh inventory prints is a file hosts_load accepts. */
static void
test_netns_inventory(void)
{
	char *cmd = NULL, *path = NULL, *cause = NULL;
	struct hosts *h = NULL;
	const struct host_entry *e;

	if (access(unit_src("hosts/netns.sh"), R_OK) != 0)
		SKIP("no hosts/netns.sh");
	path = xasprintf("%s/netns.json", unit_tmpdir());
	cmd = xasprintf("sh '%s' inventory 3 --port 7075 --subnet 10.231.7 "
	    ">'%s'", unit_src("hosts/netns.sh"), path);
	CHECKF(system(cmd) == 0, "%s failed", cmd);
	h = hosts_load(path, &cause);
	CHECKF(h != NULL, "%s", cause);
	CHECK(hosts_count(h) == 3);
	CHECK((e = hosts_find(h, "h3")) != NULL);
	CHECKF(strcmp(e->address, "10.231.7.3:7075") == 0, "%s", e->address);
	CHECK(hosts_has_tag(e, "netns"));
end:
	hosts_free(h);
	free(cause);
	free(cmd);
	free(path);
}

static const struct unit_test tests[] = {
	{ "local3", test_local3 },
	{ "example", test_example },
	{ "errors", test_errors },
	{ "syntax", test_syntax },
	{ "size_limit", test_size_limit },
	{ "max_hosts", test_max_hosts },
	{ "addr_roundtrip", test_addr_roundtrip },
	{ "find_addr", test_find_addr },
	{ "add", test_add },
	{ "entry_json", test_entry_json },
	{ "netns_inventory", test_netns_inventory },
	{ NULL, NULL }
};

UNIT_MAIN("hosts", tests)
