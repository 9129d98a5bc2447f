/* The release of agentd, agentctl and nnsim, which ship together. */
#ifndef AGENTD_VERSION_H
#define AGENTD_VERSION_H

#define AGENTD_VERSION	"0.1.0"

#endif
