/*
 * One-line messages about JSON documents, shared by their parsers, and
 * what every parser does first: load the file, check an object's keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file.h"
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

static int	nn_json_error(char **, const char *, const char *, const char *,
		    ...) NN_PRINTF(4, 5);

/* nn_json_verror with the arguments in line. */
static int
nn_json_error(char **cause, const char *file, const char *jpath,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nn_json_verror(cause, file, jpath, fmt, ap);
	va_end(ap);
	return -1;
}

/* Whether s is one of list (NULL-terminated). */
static int
nn_json_in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, s) == 0)
			return 1;
	}
	return 0;
}

/* Joins list as "a, b, c", or "a, b or c" with last_or; caller frees. */
static char *
nn_json_join(const char *const *list, int last_or)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; list[i] != NULL; i++)
		len += strlen(list[i]) + 4;
	s = xmalloc(len);
	s[0] = '\0';
	for (i = 0; list[i] != NULL; i++) {
		if (i > 0)
			strcat(s, last_or && list[i + 1] == NULL ? " or " : ", ");
		strcat(s, list[i]);
	}
	return s;
}

int
nn_json_check_keys(json_t *obj, const struct nn_json_keys *k,
    const char *file, const char *jpath, char **cause)
{
	char buf[NN_JSON_JPATH_MAX], *joined = NULL, *expected;
	const char *key, *kp;
	json_t *v;
	int rc = 0;

	json_object_foreach(obj, key, v) {
		if (nn_json_in_list(k->allowed, key))
			continue;
		if (k->jp_key != NULL)
			kp = k->jp_key(buf, jpath, key);
		else if (jpath[0] == '\0')
			kp = key;
		else
			kp = joined = xasprintf("%s.%s", jpath, key);
		expected = nn_json_join(k->allowed, k->last_or);
		if (k->others != NULL && nn_json_in_list(k->others, key))
			rc = nn_json_error(cause, file, kp, "not used by %s "
			    "(expected %s)", k->what, expected);
		else
			rc = nn_json_error(cause, file, kp, "unknown key "
			    "(expected %s)", expected);
		free(expected);
		free(joined);
		break;
	}
	return rc;
}

json_t *
nn_json_load_file(const char *path, size_t limit, char **cause)
{
	char q[sizeof ((json_error_t *)NULL)->text], *buf, *p;
	json_error_t jerr;
	json_t *root;
	size_t len;

	if ((buf = nn_read_file(path, limit, &len, cause)) == NULL)
		return NULL;
	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		/* Jansson's text can quote the input: keep it to one line. */
		snprintf(q, sizeof q, "%s", jerr.text);
		for (p = q; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		}
		if (jerr.line > 0)
			nn_fail(cause, "%s:%d:%d: JSON syntax error: %s", path,
			    jerr.line, jerr.column, q);
		else
			nn_fail(cause, "%s: JSON syntax error: %s", path, q);
	}
	free(buf);
	return root;
}
