/*
 * Messages about JSON documents (net.json, host inventories): one line,
 * "FILE: JSON.PATH: what was wrong", with user text quoted and escaped;
 * and the checks every such parser starts with: loading the file and
 * refusing unknown keys.
 */
#ifndef NN_JSONMSG_H
#define NN_JSONMSG_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#define NN_QUOTE_BUF	1024	/* room for any nn_quote result */
#define NN_JSON_JPATH_MAX 256	/* a JSON path written by a jp_key */

/*
 * Writes s into buf (NN_QUOTE_BUF bytes) in double quotes, with quotes,
 * backslashes and control characters escaped and "..." after max bytes
 * (at most 254), so a message stays one short line. Returns buf.
 */
const char	*nn_quote(char *buf, const char *s, size_t max);
/* The kind of a JSON value in the words a message uses ("number"). */
const char	*nn_json_type(const json_t *);
/* Sets *cause (when not NULL) to "FILE: JPATH: message"; returns -1. */
int		 nn_json_verror(char **cause, const char *file,
		     const char *jpath, const char *fmt, va_list);

/*
 * The keys an object may hold, for nn_json_check_keys. A key in others (a
 * sibling variant's, named by what) is "not used by what"; any other not
 * in allowed is an "unknown key". The message lists allowed joined by
 * ", ", the last by " or " when last_or is set. jp_key writes the JSON
 * path of member key of parent into buf (NN_JSON_JPATH_MAX bytes),
 * quoting keys the document does not define; NULL gives "parent.key" as
 * the key is.
 */
struct nn_json_keys {
	const char *const	 *allowed;	/* NULL-terminated */
	const char *const	 *others;	/* NULL-terminated, or NULL */
	const char		 *what;
	int			  last_or;
	const char		*(*jp_key)(char *buf, const char *parent,
				      const char *key);
};

/*
 * Fails on the first member of obj (an object, or NULL) that keys does
 * not allow: -1 with "FILE: JPATH.KEY: unknown key (expected ...)".
 */
int		 nn_json_check_keys(json_t *obj, const struct nn_json_keys *,
		     const char *file, const char *jpath, char **cause);
/*
 * Reads the JSON document at path (at most limit bytes, as nn_read_file),
 * refusing duplicate keys. A new reference, or NULL with a one-line cause:
 * "FILE:LINE:COLUMN: JSON syntax error: what".
 */
json_t		*nn_json_load_file(const char *path, size_t limit,
		     char **cause);

#endif
