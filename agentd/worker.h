/*
 * The worker process that runs one agent (agentd worker FD). It talks to
 * its daemon over the socketpair FD with the same frames as the network,
 * all of type FRAME_AGENT with meta.op saying what (docs/protocol.md,
 * "Workers").
 */
#ifndef AGENTD_WORKER_H
#define AGENTD_WORKER_H

/* Runs the agent; returns the process exit status. */
int	worker_main(int fd);

#endif
