/*
 * Key files (mode, refusal to overwrite, every malformed form), the
 * handshake derivation against a fixed vector and OpenSSL's one-shot
 * HMAC(), and the hex and comparison helpers.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "agentd/auth.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "unit.h"

#define HEX64 "000102030405060708090a0b0c0d0e0f" \
	"101112131415161718191a1b1c1d1e1f"

/* A path under the scratch folder; caller frees. */
static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", unit_tmpdir(), name);
}

/* Writes text to a new file with the given mode; returns its path. */
static char *
put(const char *name, const char *text, mode_t mode)
{
	char *path = tmp_path(name);
	FILE *f;

	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		fatal("%s: cannot create", path);
	fputs(text, f);
	fclose(f);
	if (chmod(path, mode) != 0)
		fatal("%s: cannot chmod", path);
	return path;
}

/* Reads a small file whole; caller frees. */
static char *
slurp(const char *path)
{
	char buf[256];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Mode 0600 whatever the umask: 0 would allow more, 0277 less. */
static void
test_keygen_mode(void)
{
	static const mode_t masks[] = { 0, 0277, 022 };
	unsigned char key[AUTH_KEY_SIZE], again[AUTH_KEY_SIZE];
	char *path = NULL, *text = NULL, *cause = NULL;
	struct stat sb;
	mode_t old = umask(022);
	size_t i;

	umask(old);
	for (i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		path = tmp_path("mode.key");
		unlink(path);
		umask(masks[i]);
		CHECK(auth_keygen(path, &cause) == 0);
		umask(old);
		CHECK(stat(path, &sb) == 0);
		CHECKF((sb.st_mode & 07777) == 0600, "umask %04o: mode %04o",
		    (unsigned)masks[i], (unsigned)(sb.st_mode & 07777));
		text = slurp(path);
		CHECK(text != NULL && strlen(text) == 65 && text[64] == '\n');
		CHECK(strspn(text, "0123456789abcdef") == 64);
		CHECK(auth_key_load(path, key, &cause) == 0);
		text[64] = '\0';
		CHECK(crypto_unhex(text, again, sizeof again) == 0);
		CHECK(memcmp(key, again, sizeof key) == 0);
		free(text);
		text = NULL;
		free(path);
		path = NULL;
	}
end:
	umask(old);
	free(cause);
	free(text);
	free(path);
}

/* Two keys are different; an existing file is never overwritten. */
static void
test_keygen_refuses(void)
{
	unsigned char a[AUTH_KEY_SIZE], b[AUTH_KEY_SIZE];
	char *p1 = tmp_path("one.key"), *p2 = tmp_path("two.key");
	char *before = NULL, *after = NULL, *cause = NULL, *want = NULL;
	char *missing = tmp_path("no/such/dir.key");

	unlink(p1);
	unlink(p2);
	CHECK(auth_keygen(p1, &cause) == 0);
	CHECK(auth_keygen(p2, &cause) == 0);
	CHECK(auth_key_load(p1, a, &cause) == 0);
	CHECK(auth_key_load(p2, b, &cause) == 0);
	CHECK(memcmp(a, b, sizeof a) != 0);

	before = slurp(p1);
	CHECK(auth_keygen(p1, &cause) == -1);
	want = xasprintf("%s: already exists (refusing to overwrite a key)",
	    p1);
	CHECKF(strcmp(cause, want) == 0, "%s", cause);
	after = slurp(p1);
	CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
	free(cause);
	cause = NULL;

	CHECK(auth_keygen(missing, &cause) == -1);
	CHECKF(strncmp(cause, missing, strlen(missing)) == 0 &&
	    strstr(cause, "No such file") != NULL, "%s", cause);
end:
	free(cause);
	free(want);
	free(before);
	free(after);
	free(p1);
	free(p2);
	free(missing);
}

/* Every key file agentd must refuse, and the forms it accepts. */
static void
test_key_load(void)
{
	static const struct {
		const char	*text;
		mode_t		 mode;
		const char	*want;	/* NULL: accepted */
	} cases[] = {
		{ HEX64 "\n", 0600, NULL },
		{ HEX64, 0600, NULL },
		{ HEX64 "\n", 0400, NULL },
		{ "000102030405060708090A0B0C0D0E0F"
		  "101112131415161718191A1B1C1D1E1F\n", 0600, NULL },
		{ HEX64 "\n", 0644, "readable by others (mode 0644; "
		  "expected 0600)" },
		{ HEX64 "\n", 0640, "readable by others (mode 0640; "
		  "expected 0600)" },
		{ HEX64 "\n", 0620, "writable by others (mode 0620; "
		  "expected 0600)" },
		{ HEX64 "\n", 0601, "accessible by others (mode 0601; "
		  "expected 0600)" },
		{ "", 0600, "expected 64 hex digits" },
		{ "0001020304\n", 0600, "expected 64 hex digits" },
		{ HEX64 "0\n", 0600, "expected 64 hex digits" },
		{ HEX64 "\n\n", 0600, "expected 64 hex digits" },
		{ HEX64 " ", 0600, "expected 64 hex digits" },
		{ HEX64 "\r\n", 0600, "expected 64 hex digits" },
		{ "g00102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1\n", 0600,
		  "expected 64 hex digits" },
		{ " 00102030405060708090a0b0c0d0e0f"
		  "101112131415161718191a1b1c1d1e1f", 0600,
		  "expected 64 hex digits" },
	};
	unsigned char key[AUTH_KEY_SIZE], untouched[AUTH_KEY_SIZE];
	char *path = NULL, *cause = NULL, *want = NULL;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		path = put("load.key", cases[i].text, cases[i].mode);
		memset(key, 0x5a, sizeof key);
		memset(untouched, 0x5a, sizeof untouched);
		if (cases[i].want == NULL) {
			CHECKF(auth_key_load(path, key, &cause) == 0,
			    "case %zu: %s", i, cause);
			CHECK(key[0] == 0x00 && key[10] == 0x0a &&
			    key[31] == 0x1f);
		} else {
			CHECKF(auth_key_load(path, key, &cause) == -1,
			    "case %zu accepted", i);
			want = xasprintf("%s: %s", path, cases[i].want);
			CHECKF(strcmp(cause, want) == 0, "case %zu: %s", i,
			    cause);
			CHECK(memcmp(key, untouched, sizeof key) == 0);
			free(want);
			want = NULL;
			free(cause);
			cause = NULL;
		}
		unlink(path);
		free(path);
		path = NULL;
	}

	/* Not a file at all. */
	path = xstrdup(unit_tmpdir());
	CHECK(auth_key_load(path, key, &cause) == -1);
	CHECKF(strstr(cause, "not a regular file") != NULL, "%s", cause);
	free(cause);
	cause = NULL;
	free(path);
	path = tmp_path("absent.key");
	CHECK(auth_key_load(path, key, &cause) == -1);
	CHECKF(strstr(cause, "No such file") != NULL, "%s", cause);
end:
	free(cause);
	free(want);
	free(path);
}

/* A vector computed outside OpenSSL (Python's hmac module). */
static void
test_derive_vector(void)
{
	unsigned char key[AUTH_KEY_SIZE];
	unsigned char a[AUTH_NONCE_SIZE], b[AUTH_NONCE_SIZE];
	unsigned char out[AUTH_KEY_SIZE];
	char hex[2 * AUTH_KEY_SIZE + 1];
	int i;

	for (i = 0; i < AUTH_KEY_SIZE; i++)
		key[i] = (unsigned char)i;
	memset(a, 0xaa, sizeof a);
	memset(b, 0xbb, sizeof b);
	auth_derive(key, "agentd-S", a, b, out);
	crypto_hex(out, sizeof out, hex);
	CHECKF(strcmp(hex, "2c19fb39a7c5992c0e7fb3974463a73c"
	    "9d6efc283ca394e03dc0fb848ad01081") == 0, "%s", hex);
	auth_derive(key, "agentd-A", a, b, out);
	crypto_hex(out, sizeof out, hex);
	CHECKF(strcmp(hex, "21d0c2b1c720d41c74faf9bf7ac796da"
	    "7c1b3965b6187701b8d01d0b34ed0acf") == 0, "%s", hex);
end:
	;
}

/* auth_derive is HMAC-SHA256 over label || a || b, for any inputs. */
static void
test_derive_hmac(void)
{
	static const char *labels[] = { "agentd-A", "agentd-C", "agentd-S",
	    "" };
	unsigned char key[AUTH_KEY_SIZE];
	unsigned char a[AUTH_NONCE_SIZE], b[AUTH_NONCE_SIZE];
	unsigned char out[AUTH_KEY_SIZE], swapped[AUTH_KEY_SIZE];
	unsigned char msg[8 + 2 * AUTH_NONCE_SIZE], want[EVP_MAX_MD_SIZE];
	unsigned int wlen;
	size_t i, j, n;

	for (i = 0; i < 20; i++) {
		crypto_random(key, sizeof key);
		crypto_random(a, sizeof a);
		crypto_random(b, sizeof b);
		for (j = 0; j < sizeof labels / sizeof labels[0]; j++) {
			n = strlen(labels[j]);
			memcpy(msg, labels[j], n);
			memcpy(msg + n, a, sizeof a);
			memcpy(msg + n + sizeof a, b, sizeof b);
			CHECK(HMAC(EVP_sha256(), key, sizeof key, msg,
			    n + sizeof a + sizeof b, want, &wlen) != NULL);
			CHECK(wlen == AUTH_KEY_SIZE);
			auth_derive(key, labels[j], a, b, out);
			CHECKF(memcmp(out, want, sizeof out) == 0,
			    "label \"%s\"", labels[j]);
			/* The order of the nonces matters. */
			auth_derive(key, labels[j], b, a, swapped);
			CHECK(memcmp(out, swapped, sizeof out) != 0);
		}
	}
end:
	;
}

static void
test_random(void)
{
	unsigned char a[AUTH_NONCE_SIZE], b[AUTH_NONCE_SIZE];
	unsigned char zero[AUTH_NONCE_SIZE] = { 0 };

	crypto_random(a, sizeof a);
	crypto_random(b, sizeof b);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK(memcmp(a, zero, sizeof a) != 0);
end:
	;
}

static void
test_equal(void)
{
	unsigned char a[32], b[32];

	crypto_random(a, sizeof a);
	memcpy(b, a, sizeof b);
	CHECK(crypto_equal(a, b, sizeof a) == 1);
	b[31] ^= 0x01;
	CHECK(crypto_equal(a, b, sizeof a) == 0);
	CHECK(crypto_equal(a, b, 31) == 1);
	b[0] ^= 0x80;
	CHECK(crypto_equal(a, b, 31) == 0);
	CHECK(crypto_equal(a, b, 0) == 1);
end:
	;
}

static void
test_hex(void)
{
	static const char *bad[] = { "", "0", "00ff1", "00ff12", "00fg",
	    " 0ff", "00f ", "0x0f", "-1ff" };
	unsigned char in[4] = { 0x00, 0xff, 0x1a, 0xb2 }, out[4], back[2];
	unsigned char big[256];
	char hex[9], *h = NULL;
	size_t i;

	crypto_hex(in, sizeof in, hex);
	CHECKF(strcmp(hex, "00ff1ab2") == 0, "%s", hex);
	CHECK(crypto_unhex(hex, out, sizeof out) == 0);
	CHECK(memcmp(in, out, sizeof in) == 0);
	CHECK(crypto_unhex("00FF1AB2", out, sizeof out) == 0);
	CHECK(memcmp(in, out, sizeof in) == 0);
	crypto_hex(in, 0, hex);
	CHECK(hex[0] == '\0');

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(back, 0x77, sizeof back);
		CHECKF(crypto_unhex(bad[i], back, sizeof back) == -1, "\"%s\"",
		    bad[i]);
		CHECKF(back[0] == 0x77 && back[1] == 0x77,
		    "\"%s\" wrote out", bad[i]);
	}

	for (i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)i;
	h = xmalloc(2 * sizeof big + 1);
	crypto_hex(big, sizeof big, h);
	memset(big, 0, sizeof big);
	CHECK(crypto_unhex(h, big, sizeof big) == 0);
	for (i = 0; i < sizeof big; i++)
		CHECK(big[i] == (unsigned char)i);
end:
	free(h);
}

/* The id is a prefix of SHA-256(HMAC(K, "agentd-key-id")): not of the key
 * itself, different per key, and 16 lowercase hex digits. */
static void
test_key_id(void)
{
	static const char label[] = "agentd-key-id";
	unsigned char key[AUTH_KEY_SIZE], mac[32], digest[32];
	char id[AUTH_KEY_ID_LEN + 1], other[AUTH_KEY_ID_LEN + 1], hex[65];
	unsigned int maclen = sizeof mac;
	size_t i;

	CHECK(crypto_unhex(HEX64, key, sizeof key) == 0);
	auth_key_id(key, id);
	CHECK(strlen(id) == AUTH_KEY_ID_LEN);
	for (i = 0; i < AUTH_KEY_ID_LEN; i++)
		CHECKF(strchr("0123456789abcdef", id[i]) != NULL, "id %s", id);
	HMAC(EVP_sha256(), key, sizeof key, (const unsigned char *)label,
	    sizeof label - 1, mac, &maclen);
	SHA256(mac, sizeof mac, digest);
	crypto_hex(digest, sizeof digest, hex);
	CHECKF(strncmp(id, hex, AUTH_KEY_ID_LEN) == 0, "id %s, expected %.16s",
	    id, hex);
	/* Not the key's own hash, nor its text. */
	SHA256(key, sizeof key, digest);
	crypto_hex(digest, sizeof digest, hex);
	CHECK(strncmp(id, hex, AUTH_KEY_ID_LEN) != 0);
	CHECK(strncmp(id, HEX64, AUTH_KEY_ID_LEN) != 0);
	key[31] ^= 1;
	auth_key_id(key, other);
	CHECK(strcmp(id, other) != 0);
end:
	;
}

/* FILE:ROLE: read and run, a path with a colon, and every bad form. */
static void
test_client_key_load(void)
{
	static const struct {
		const char	*suffix;
		const char	*want;
	} bad[] = {
		{ "", "expected FILE:ROLE (ROLE read or run)" },
		{ ":node", "unknown role \"node\" (expected read or run" },
		{ ":Read", "unknown role \"Read\"" },
		{ ":", "unknown role \"\"" },
	};
	struct auth_key k;
	char *path = NULL, *spec = NULL, *cause = NULL, id[AUTH_KEY_ID_LEN + 1];
	size_t i;

	path = put("client:1.key", HEX64 "\n", 0600);
	spec = xasprintf("%s:run", path);
	CHECKF(auth_client_key_load(spec, &k, &cause) == 0, "%s", cause);
	CHECK(k.role == AUTH_RUN);
	auth_key_id(k.key, id);
	CHECK(strcmp(k.id, id) == 0);
	free(spec);
	spec = xasprintf("%s:read", path);
	CHECKF(auth_client_key_load(spec, &k, &cause) == 0, "%s", cause);
	CHECK(k.role == AUTH_READ);
	/* Split at the last colon: these have none in the name. */
	free(path);
	path = put("client.key", HEX64 "\n", 0600);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(spec);
		spec = xasprintf("%s%s", path, bad[i].suffix);
		CHECK(auth_client_key_load(spec, &k, &cause) == -1);
		CHECKF(strstr(cause, bad[i].want) != NULL &&
		    strncmp(cause, "--client-key ", 13) == 0, "%s: %s", spec,
		    cause);
		free(cause);
		cause = NULL;
	}
	free(spec);
	spec = xasprintf("%s/missing.key:read", unit_tmpdir());
	CHECK(auth_client_key_load(spec, &k, &cause) == -1);
	CHECKF(strstr(cause, "missing.key: No such file") != NULL, "%s",
	    cause);
	free(cause);
	cause = NULL;
	chmod(path, 0644);
	free(spec);
	spec = xasprintf("%s:read", path);
	CHECK(auth_client_key_load(spec, &k, &cause) == -1);
	CHECKF(strstr(cause, "readable by others") != NULL, "%s", cause);
end:
	free(cause);
	free(spec);
	free(path);
}

/* Each role may do what the ones below it may; refusals name the op and
 * the key it needs. */
static void
test_role_check(void)
{
	static const struct {
		enum auth_role	 have, need;
		const char	*want;	/* NULL: allowed */
	} cases[] = {
		{ AUTH_READ, AUTH_READ, NULL },
		{ AUTH_READ, AUTH_RUN, "this key may only read: 'op' needs a "
		    "run key" },
		{ AUTH_READ, AUTH_NODE, "this key may only read: 'op' needs "
		    "the node key" },
		{ AUTH_RUN, AUTH_READ, NULL },
		{ AUTH_RUN, AUTH_RUN, NULL },
		{ AUTH_RUN, AUTH_NODE, "this key may only read and run agents "
		    "of stored code: 'op' needs the node key" },
		{ AUTH_NODE, AUTH_READ, NULL },
		{ AUTH_NODE, AUTH_RUN, NULL },
		{ AUTH_NODE, AUTH_NODE, NULL },
	};
	char *cause = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		r = auth_role_check(cases[i].have, cases[i].need, "op", &cause);
		if (cases[i].want == NULL)
			CHECKF(r == 0 && cause == NULL, "case %zu refused: %s",
			    i, cause);
		else
			CHECKF(r == -1 && cause != NULL &&
			    strcmp(cause, cases[i].want) == 0, "case %zu: %s",
			    i, cause != NULL ? cause : "allowed");
		free(cause);
		cause = NULL;
	}
	CHECK(strcmp(auth_role_name(AUTH_READ), "read") == 0);
	CHECK(strcmp(auth_role_name(AUTH_RUN), "run") == 0);
	CHECK(strcmp(auth_role_name(AUTH_NODE), "node") == 0);
end:
	free(cause);
}

static const struct unit_test tests[] = {
	{ "keygen_mode", test_keygen_mode },
	{ "keygen_refuses", test_keygen_refuses },
	{ "key_load", test_key_load },
	{ "derive_vector", test_derive_vector },
	{ "derive_hmac", test_derive_hmac },
	{ "random", test_random },
	{ "equal", test_equal },
	{ "hex", test_hex },
	{ "key_id", test_key_id },
	{ "client_key_load", test_client_key_load },
	{ "role_check", test_role_check },
	{ NULL, NULL },
};

UNIT_MAIN("auth", tests)
