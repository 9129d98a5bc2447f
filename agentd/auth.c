/*
 * The cluster key file and the handshake's primitives (docs/protocol.md,
 * "Authentication"). The handshake itself runs in the connection code.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agentd/auth.h"
#include "base/alloc.h"
#include "base/crypto.h"

/* 64 hex digits and a newline. */
#define AUTH_KEY_TEXT	(2 * AUTH_KEY_SIZE + 1)
const char *
auth_proof_label(int encrypt)
{
	return encrypt ? "agentd-A" : "agentd-A-clear";
}

/* Labels are short constants ("agentd-A"); this bounds the MAC input. */
#define AUTH_LABEL_MAX	64

/* Writes all of buf to fd, resuming after short writes and signals. */
static int
auth_write_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, buf, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads up to n bytes from fd; returns the count or -1. */
static ssize_t
auth_read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if ((r = read(fd, buf + got, n - got)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Creates path with a fresh key, mode 0600; never replaces a file. */
int
auth_keygen(const char *path, char **cause)
{
	unsigned char key[AUTH_KEY_SIZE];
	char text[AUTH_KEY_TEXT + 1];
	int fd, rc = -1;

	/* O_EXCL: an existing key, maybe a whole cluster's, is never lost. */
	if ((fd = open(path, O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600)) == -1) {
		if (errno == EEXIST)
			return nn_fail(cause, "%s: already exists (refusing "
			    "to overwrite a key)", path);
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	}
	crypto_random(key, sizeof key);
	crypto_hex(key, sizeof key, text);
	text[AUTH_KEY_TEXT - 1] = '\n';
	text[AUTH_KEY_TEXT] = '\0';
	/* open's mode passes through the umask, which could only clear bits;
	 * fchmod makes the mode exactly 0600 whatever the umask. */
	if (fchmod(fd, 0600) != 0 ||
	    auth_write_all(fd, text, AUTH_KEY_TEXT) != 0 || fsync(fd) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	if (close(fd) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	crypto_cleanse(key, sizeof key);
	crypto_cleanse(text, sizeof text);
	return rc;
}

/* Loads a private key file into key; the cause names path. */
int
auth_key_load(const char *path, unsigned char *key, char **cause)
{
	char text[AUTH_KEY_TEXT + 2];
	struct stat sb;
	const char *how;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY|O_CLOEXEC)) == -1)
		return nn_fail(cause, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		nn_fail(cause, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_mode & 077) {
		if (sb.st_mode & 044)
			how = "readable";
		else if (sb.st_mode & 022)
			how = "writable";
		else
			how = "accessible";
		nn_fail(cause, "%s: %s by others (mode %04o; expected 0600)",
		    path, how, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	/* The size is checked before reading anything. */
	if (sb.st_size > AUTH_KEY_TEXT) {
		nn_fail(cause, "%s: expected 64 hex digits", path);
		goto out;
	}
	/* Room for one byte too many shows a file that grew since fstat. */
	if ((n = auth_read_all(fd, text, sizeof text - 1)) == -1) {
		nn_fail(cause, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (n == AUTH_KEY_TEXT && text[n - 1] == '\n')
		n--;
	text[n] = '\0';
	if (n != 2 * AUTH_KEY_SIZE || crypto_unhex(text, key, AUTH_KEY_SIZE)) {
		nn_fail(cause, "%s: expected 64 hex digits", path);
		goto out;
	}
	rc = 0;
out:
	crypto_cleanse(text, sizeof text);
	close(fd);
	return rc;
}

/* out = HMAC-SHA256(key, label || a || b): proofs and session keys. */
void
auth_derive(const unsigned char *key, const char *label,
    const unsigned char *a, const unsigned char *b, unsigned char *out)
{
	unsigned char msg[AUTH_LABEL_MAX + 2 * AUTH_NONCE_SIZE];
	size_t len = strlen(label);

	if (len > AUTH_LABEL_MAX)
		fatal("auth_derive: label \"%s\" is too long", label);
	memcpy(msg, label, len);
	memcpy(msg + len, a, AUTH_NONCE_SIZE);
	memcpy(msg + len + AUTH_NONCE_SIZE, b, AUTH_NONCE_SIZE);
	crypto_hmac(key, AUTH_KEY_SIZE, msg, len + 2 * AUTH_NONCE_SIZE, out);
}

/* The id hashes a value derived under its own label, not the key: it
 * shares nothing with the proofs and session keys the key makes, nor with
 * a plain SHA-256 of the key file someone may have published. */
void
auth_key_id(const unsigned char *key, char *id)
{
	static const char label[] = "agentd-key-id";
	unsigned char derived[CRYPTO_HMAC_SIZE];
	char hex[65];

	crypto_hmac(key, AUTH_KEY_SIZE, label, sizeof label - 1, derived);
	crypto_sha256_hex(derived, sizeof derived, hex);
	memcpy(id, hex, AUTH_KEY_ID_LEN);
	id[AUTH_KEY_ID_LEN] = '\0';
	crypto_cleanse(derived, sizeof derived);
}

static const char *auth_role_names[] = {
	[AUTH_READ] = "read",
	[AUTH_RUN] = "run",
	[AUTH_NODE] = "node",
};

const char *
auth_role_name(enum auth_role r)
{
	return (size_t)r < sizeof auth_role_names / sizeof auth_role_names[0] ?
	    auth_role_names[r] : "?";
}

/* FILE:ROLE, split at the last colon: a file name may hold one. */
int
auth_client_key_load(const char *spec, struct auth_key *k, char **cause)
{
	const char *colon = strrchr(spec, ':');
	char *path = NULL, *why = NULL;
	int rc = -1;

	if (colon == NULL || colon == spec) {
		nn_fail(cause, "--client-key %s: expected FILE:ROLE (ROLE "
		    "read or run)", spec);
		goto out;
	}
	/* A client key's role is any but the node key's. */
	for (k->role = AUTH_READ; k->role < AUTH_NODE; k->role++)
		if (strcmp(colon + 1, auth_role_names[k->role]) == 0)
			break;
	if (k->role == AUTH_NODE) {
		nn_fail(cause, "--client-key %s: unknown role \"%s\" "
		    "(expected read or run; the node key is --key)", spec,
		    colon + 1);
		goto out;
	}
	path = xasprintf("%.*s", (int)(colon - spec), spec);
	if (auth_key_load(path, k->key, &why) != 0) {
		nn_fail(cause, "--client-key: %s", why);
		goto out;
	}
	auth_key_id(k->key, k->id);
	rc = 0;
out:
	free(path);
	free(why);
	return rc;
}

/* What each role may do, as its refusals say it. */
static const char *auth_role_may[] = {
	[AUTH_READ] = "only read",
	[AUTH_RUN] = "only read and run agents of stored code",
	[AUTH_NODE] = "do anything",
};

static const char *auth_role_needs[] = {
	[AUTH_READ] = "any key",
	[AUTH_RUN] = "a run key",
	[AUTH_NODE] = "the node key",
};

int
auth_role_check(enum auth_role have, enum auth_role need, const char *op,
    char **cause)
{
	if ((size_t)need >= sizeof auth_role_needs / sizeof auth_role_needs[0])
		fatal("auth_role_check: role %d", (int)need);
	if (have >= need)
		return 0;
	return nn_fail(cause, "this key may %s: '%s' needs %s",
	    auth_role_may[have], op, auth_role_needs[need]);
}
