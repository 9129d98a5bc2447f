/*
 * Host inventories (hosts/README.md): a JSON file that names each host of
 * the cluster, gives its address and, optionally, its capabilities:
 *
 *   {"hosts": [{"name": "h1", "address": "127.0.0.1:7071"},
 *              {"name": "h2", "address": "127.0.0.2:7072", "cores": 2,
 *               "gpus": 0, "tags": ["cpu"]}]}
 *
 * Addresses are numeric, "A.B.C.D:PORT" or "[IPv6]:PORT"; names are never
 * resolved. The same parser reads agentd --listen.
 */
#ifndef AGENTD_HOSTS_H
#define AGENTD_HOSTS_H

#include <sys/types.h>
#include <sys/socket.h>

#include <jansson.h>

#define HOSTS_MAX		4096		/* hosts in one file */
#define HOSTS_MAX_FILE		(4 << 20)	/* bytes of one file */
#define HOSTS_NAME_MAX		63		/* name, and each tag */
#define HOSTS_ADDR_MAX		64		/* "[v6]:port" and its NUL */
#define HOSTS_MAX_TAGS		64
#define HOSTS_MAX_CORES		65536
#define HOSTS_MAX_GPUS		1024

/* One host. Capabilities not in the file are 0 (cores, mem_mb) or -1 (gpus). */
struct host_entry {
	char			 name[HOSTS_NAME_MAX + 1];
	char			 address[HOSTS_ADDR_MAX];	/* canonical */
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
	int			 cores;
	int			 mem_mb;
	int			 gpus;
	char			**tags;
	int			 ntags;
};

struct hosts;

/* Reads and checks an inventory file; NULL with a one-line cause. */
struct hosts	*hosts_load(const char *path, char **cause);
/* An empty inventory, for a daemon started without --hosts. */
struct hosts	*hosts_new(void);
/* Frees an inventory; NULL is fine. */
void		 hosts_free(struct hosts *);
/* Adds a host with no capabilities; -1 with cause on a bad or taken one. */
int		 hosts_add(struct hosts *, const char *name, const char *address,
		    char **cause);
int		 hosts_count(const struct hosts *);
/*
 * Lookups return borrowed entries, valid until the next hosts_add or
 * hosts_free, or NULL.
 */
const struct host_entry *hosts_get(const struct hosts *, int i);
const struct host_entry *hosts_find(const struct hosts *, const char *name);
/* By address and port; an IPv4-mapped IPv6 address matches its IPv4 one. */
const struct host_entry *hosts_find_addr(const struct hosts *,
		    const struct sockaddr *);
/* By address alone, for a peer that connects from an ephemeral port. */
const struct host_entry *hosts_find_ip(const struct hosts *,
		    const struct sockaddr *);
/* Whether name is a valid host name (1 to 63 of A-Z a-z 0-9 . _ -). */
int		 hosts_valid_name(const char *name);
/* Whether the host carries tag. */
int		 hosts_has_tag(const struct host_entry *, const char *tag);
/* The entry as an inventory object; new reference. */
json_t		*hosts_entry_json(const struct host_entry *);

/*
 * Parses "A.B.C.D:PORT" or "[IPv6]:PORT" strictly (numeric, port 1 to
 * 65535, nothing else); -1 with a cause that quotes s.
 */
int		 hosts_parse_addr(const char *s, struct sockaddr_storage *,
		    socklen_t *, char **cause);
/* Writes sa as "127.0.0.2:7070" or "[::1]:7070" into buf; returns buf. */
const char	*hosts_format_addr(const struct sockaddr *sa, char *buf,
		    size_t size);

#endif
