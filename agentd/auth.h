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
 */
#ifndef AGENTD_AUTH_H
#define AGENTD_AUTH_H

#include <stddef.h>

#define AUTH_KEY_SIZE	32
#define AUTH_NONCE_SIZE	32

/* Writes a new random key to path with mode 0600; fails if path exists. */
int	auth_keygen(const char *path, char **cause);
/*
 * Reads a key file. Refuses a file that others can read or write (mode &
 * 077) and one that is not exactly 64 hex digits (and a newline).
 */
int	auth_key_load(const char *path, unsigned char *key, char **cause);
/* HMAC(K, label || a || b), each nonce AUTH_NONCE_SIZE bytes. Random
 * bytes, comparison and hex are base/crypto.h's. */
void	auth_derive(const unsigned char *key, const char *label,
	    const unsigned char *a, const unsigned char *b, unsigned char *out);

#endif
