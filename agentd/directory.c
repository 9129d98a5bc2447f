/* The daemon's where agents are. */

#include <string.h>

#include "agentd/conn.h"
#include "agentd/daemon-internal.h"

/* The home of an agent is the daemon that made it: "h1.7" -> "h1". */
int
agent_home(const char *agent, char *home, size_t len)
{
	const char *dot = agent != NULL ? strrchr(agent, '.') : NULL;

	if (dot == NULL || (size_t)(dot - agent) >= len)
		return -1;
	snprintf(home, len, "%.*s", (int)(dot - agent), agent);
	return 0;
}

/* The host an agent is on, as far as we know: where it was last seen, or
 * the daemon that made it (ids are HOME.N). */
void
agent_host(struct daemon *d, const char *agent, char *host, size_t len)
{
	const char *w = json_string_value(json_object_get(d->where, agent));
	const char *dot = strrchr(agent, '.');

	if (w != NULL)
		snprintf(host, len, "%s", w);
	else if (dot != NULL && (size_t)(dot - agent) < len)
		snprintf(host, len, "%.*s", (int)(dot - agent), agent);
	else
		host[0] = '\0';
}
