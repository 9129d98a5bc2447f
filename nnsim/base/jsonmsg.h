/*
 * Messages about JSON documents (net.json, host inventories): one line,
 * "FILE: JSON.PATH: what was wrong", with user text quoted and escaped.
 */
#ifndef NN_JSONMSG_H
#define NN_JSONMSG_H

#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>

#define NN_QUOTE_BUF	1024	/* room for any nn_quote result */

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

#endif
