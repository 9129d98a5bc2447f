/* --set and --epochs: command-line edits of net.json (override.h). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/jsonmsg.h"
#include "cli/override.h"
#include "dist/job.h"

/* Appends one edit; the list takes value. */
static void
override_add(struct override_list *l, char *option, const char *key,
    json_t *value)
{
	l->options = xreallocarray(l->options, l->n + 1, sizeof *l->options);
	l->keys = xreallocarray(l->keys, l->n + 1, sizeof *l->keys);
	l->values = xreallocarray(l->values, l->n + 1, sizeof *l->values);
	l->options[l->n] = option;
	l->keys[l->n] = xstrdup(key);
	l->values[l->n] = value;
	l->n++;
}

int
override_option(struct override_list *l, const struct cmd_entry *self,
    int c, const char *arg)
{
	const char *eq;
	json_t *v;
	char *key;
	int n;

	switch (c) {
	case OVERRIDE_OPT_SET:
		if ((eq = strchr(arg, '=')) == NULL || eq == arg) {
			cmd_usage_error(self, "--set: expected KEY=VALUE, got "
			    "\"%s\"", arg);
			return -1;
		}
		key = xasprintf("%.*s", (int)(eq - arg), arg);
		/* Not JSON: the text itself, so that type=adam needs no
		 * quotes. */
		if ((v = json_loads(eq + 1, JSON_DECODE_ANY, NULL)) == NULL)
			v = json_string(eq + 1);
		if (v == NULL) {
			cmd_usage_error(self, "--set %s: the value is not "
			    "UTF-8 text", key);
			free(key);
			return -1;
		}
		override_add(l, xasprintf("--set %s", key), key, v);
		free(key);
		return 1;
	case OVERRIDE_OPT_EPOCHS:
		if (cmd_parse_int(self, "--epochs", arg, 1, NN_MAX_EPOCHS,
		    &n) != 0)
			return -1;
		override_add(l, xstrdup("--epochs"), "train.epochs",
		    json_integer(n));
		return 1;
	}
	return 0;
}

void
override_clear(struct override_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->options[i]);
		free(l->keys[i]);
		json_decref(l->values[i]);
	}
	free(l->options);
	free(l->keys);
	free(l->values);
	memset(l, 0, sizeof *l);
}

int
override_apply(json_t *root, void *arg, char **cause)
{
	struct override_list *l = arg;
	char *why = NULL;
	size_t i;

	if (l->n > 0 && !json_is_object(root))
		return nn_fail(cause, "%s: expected a JSON object, got %s",
		    l->file, nn_json_type(root));
	for (i = 0; i < l->n; i++) {
		if (nn_job_override(root, l->keys[i], l->values[i],
		    &why) != 0) {
			nn_fail(cause, "%s: %s: %s", l->file, l->options[i],
			    why);
			free(why);
			return -1;
		}
	}
	return 0;
}

struct nn_config *
override_load(struct override_list *l, const char *path, char **cause)
{
	l->file = path;
	return nn_config_load_edit(path, override_apply, l, cause);
}
