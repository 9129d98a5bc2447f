/* One-line messages about JSON documents, shared by their parsers. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/jsonmsg.h"

const char *
nn_quote(char *buf, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), n = len, o = 0, i;

	if (max > (NN_QUOTE_BUF - 8) / 4)
		max = (NN_QUOTE_BUF - 8) / 4;
	if (n > max) {
		n = max;
		/* Do not cut a UTF-8 sequence in half. */
		while (n > 0 && (p[n] & 0xc0) == 0x80)
			n--;
	}
	buf[o++] = '"';
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)p[i];
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[p[i] >> 4];
			buf[o++] = hex[p[i] & 0xf];
		} else
			buf[o++] = (char)p[i];
	}
	if (n < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *
nn_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

int
nn_json_verror(char **cause, const char *file, const char *jpath,
    const char *fmt, va_list ap)
{
	char *msg;

	if (cause == NULL)
		return -1;
	msg = xvasprintf(fmt, ap);
	if (jpath != NULL && jpath[0] != '\0')
		*cause = xasprintf("%s: %s: %s", file, jpath, msg);
	else
		*cause = xasprintf("%s: %s", file, msg);
	free(msg);
	return -1;
}
