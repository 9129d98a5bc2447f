/*
 * The embedded cluster of nnsim submit: N agentd processes on loopback,
 * with a fresh key and inventory in a private folder, stopped and removed
 * afterwards so that nothing is left behind.
 */
#ifndef NN_CLUSTER_H
#define NN_CLUSTER_H

#define NN_CLUSTER_MAX	64

struct nn_cluster;

/*
 * Starts n daemons (bin/agentd next to this executable) on 127.0.0.1 and
 * waits until each sees all the others. NULL with a cause naming the
 * daemon that failed and its log's last line.
 */
struct nn_cluster *nn_cluster_start(int n, char **cause);
/* Stops the daemons (SIGTERM, then SIGKILL) and removes the folder. */
void		 nn_cluster_stop(struct nn_cluster *);
/* The first daemon's address and the key file, for client_connect. */
const char	*nn_cluster_addr(const struct nn_cluster *);
const char	*nn_cluster_key(const struct nn_cluster *);
/* A file next to this executable (agentd, agents/session.so); new. */
char		*nn_cluster_sibling(const char *name);

#endif
