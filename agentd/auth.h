/*
 * The cluster key and the handshake (docs/protocol.md, "Authentication").
 *
 * The key file holds 64 hex digits (32 random bytes) and a newline, mode
 * 0600. On every connection the connector C and the acceptor A prove they
 * hold key K without sending it:
 *   C -> A  HELLO {name, role, nonce: Nc}
 *   A -> C  HELLO {name, role, nonce: Na, proof: HMAC(K, "agentd-A" Nc Na)}
 *   C -> A  AUTH  {proof: HMAC(K, "agentd-C" Na Nc)}
 * Then frames from C to A are keyed with S = HMAC(K, "agentd-S" Nc Na) and
 * frames from A to C with R = HMAC(K, "agentd-R" Nc Na), each direction's
 * seq restarting at 0: a key and nonce (the seq) never repeat. Nonces are 32 random bytes in hex.
 *
 * A daemon holds one node key (--key: the daemons' own, full rights) and
 * any number of client keys (--client-key FILE:ROLE). The connector's
 * HELLO names its key by id (auth_key_id), which says which key to prove
 * without revealing it; a HELLO with none means the node key. The key
 * proven sets what the connection may do (enum auth_role).
 */
#ifndef AGENTD_AUTH_H
#define AGENTD_AUTH_H

#include <stddef.h>

#define AUTH_KEY_SIZE	32
#define AUTH_NONCE_SIZE	32
/* A key id: hex digits of SHA-256(HMAC(K, "agentd-key-id")). */
#define AUTH_KEY_ID_LEN	16

/* What a key's holder may do, each role all that the ones below may. */
enum auth_role {
	AUTH_READ,	/* read-only requests: hosts, agents, logs... */
	AUTH_RUN,	/* and spawning and steering agents of stored code */
	AUTH_NODE,	/* everything: shipping code, daemon to daemon */
};

/* A key a daemon accepts, its id, and what its holder may do. */
struct auth_key {
	unsigned char	 key[AUTH_KEY_SIZE];
	char		 id[AUTH_KEY_ID_LEN + 1];
	enum auth_role	 role;
};

/* Writes a new random key to path with mode 0600; fails if path exists. */
int	auth_keygen(const char *path, char **cause);
/*
 * Reads a key file. Refuses a file that others can read or write (mode &
 * 077) and one that is not exactly 64 hex digits (and a newline).
 */
int	auth_key_load(const char *path, unsigned char *key, char **cause);
/* HMAC(K, label || a || b), each nonce AUTH_NONCE_SIZE bytes. Random
 * bytes, comparison and hex are base/crypto.h's. */
/* The acceptor's proof's label, which binds its encryption setting. */
const char *auth_proof_label(int encrypt);
void	auth_derive(const unsigned char *key, const char *label,
	    const unsigned char *a, const unsigned char *b, unsigned char *out);
/*
 * The key's id into id (AUTH_KEY_ID_LEN hex digits and a NUL): from a
 * value derived from the key, so that it tells nothing of the key itself.
 */
void	auth_key_id(const unsigned char *key, char *id);
/* "read", "run" or "node". */
const char *auth_role_name(enum auth_role);
/*
 * Loads agentd --client-key's "FILE:ROLE" (ROLE read or run) into k,
 * with its id. The cause names the argument and what was expected.
 */
int	auth_client_key_load(const char *spec, struct auth_key *k,
	    char **cause);
/*
 * 0 when a connection of role have may make request op, which needs
 * need; else -1 with the one line its client sees.
 */
int	auth_role_check(enum auth_role have, enum auth_role need,
	    const char *op, char **cause);

#endif
