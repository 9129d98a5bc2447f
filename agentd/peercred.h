/*
 * Who is at the other end of a loopback TCP connection: the TCP
 * counterpart of SO_PEERCRED, from the kernel's sock_diag interface. A
 * keyless daemon serves its own user alone (docs/security.md).
 */
#ifndef AGENTD_PEERCRED_H
#define AGENTD_PEERCRED_H

#include <sys/types.h>

/*
 * The uid that created the socket at the far end of fd, a TCP connection
 * to a socket of this host (this network namespace). The kernel is asked
 * for the socket whose source is fd's peer address and whose destination
 * is fd's own. -1 with cause when it has none or cannot say.
 */
int	peercred_tcp_uid(int fd, uid_t *uid, char **cause);

#endif
