/* Where agents are (directory.h), and the daemon's look-ups in it. */
#include <string.h>

#include <jansson.h>

#include "agentd/daemon-internal.h"
#include "agentd/directory.h"
#include "agentd/log.h"
#include "base/alloc.h"

struct directory {
	json_t		*map;		/* agent -> [host, stamp] */
	size_t		 max;
	json_int_t	 stamp;		/* bumped by each set */
};

struct directory *
directory_new(size_t max)
{
	struct directory *dir = xcalloc(1, sizeof *dir);

	dir->map = json_object();
	dir->max = max > 0 ? max : 1;
	return dir;
}

void
directory_free(struct directory *dir)
{
	if (dir == NULL)
		return;
	json_decref(dir->map);
	free(dir);
}

/* Drops the entry set longest ago; only when full, so a scan will do. */
static void
directory_drop_oldest(struct directory *dir)
{
	const char *agent, *oldest = NULL;
	json_int_t best = 0, t;
	json_t *e;

	json_object_foreach(dir->map, agent, e) {
		t = json_integer_value(json_array_get(e, 1));
		if (oldest == NULL || t < best) {
			oldest = agent;
			best = t;
		}
	}
	if (oldest == NULL)
		return;
	log_warn("directory: %zu entries, the limit: forgetting where %s is",
	    dir->max, oldest);
	json_object_del(dir->map, oldest);
}

void
directory_set(struct directory *dir, const char *agent, const char *host)
{
	if (json_object_get(dir->map, agent) == NULL &&
	    json_object_size(dir->map) >= dir->max)
		directory_drop_oldest(dir);
	json_object_set_new(dir->map, agent, json_pack("[s, I]", host,
	    ++dir->stamp));
}

const char *
directory_get(const struct directory *dir, const char *agent)
{
	return json_string_value(json_array_get(json_object_get(dir->map,
	    agent), 0));
}

int
directory_ended(struct directory *dir, const char *agent, const char *host)
{
	const char *w = directory_get(dir, agent);

	if (w == NULL || host == NULL || strcmp(w, host) != 0)
		return 0;
	json_object_del(dir->map, agent);
	log_debug("directory: %s ended on %s; %zu entries", agent, host,
	    json_object_size(dir->map));
	return 1;
}

size_t
directory_count(const struct directory *dir)
{
	return json_object_size(dir->map);
}

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
	const char *w = directory_get(d->where, agent);
	const char *dot = strrchr(agent, '.');

	if (w != NULL)
		snprintf(host, len, "%s", w);
	else if (dot != NULL && (size_t)(dot - agent) < len)
		snprintf(host, len, "%.*s", (int)(dot - agent), agent);
	else
		host[0] = '\0';
}
