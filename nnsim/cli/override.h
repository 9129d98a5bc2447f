/*
 * Command-line edits of net.json that nnsim train and nnsim submit share:
 * --set KEY=VALUE (KEY a JSON path, VALUE JSON or else a string) and
 * --epochs N, applied in order to the parsed document before it is
 * checked, so that what they break is reported at its JSON path.
 */
#ifndef NN_OVERRIDE_H
#define NN_OVERRIDE_H

#include <getopt.h>
#include <stddef.h>

#include <jansson.h>

#include "cli/cmd.h"
#include "nn/config.h"

/* The options' codes, out of the range of letters. */
#define OVERRIDE_OPT_SET	0x200
#define OVERRIDE_OPT_EPOCHS	0x201
/* Their rows of a command's getopt_long table. */
#define OVERRIDE_LONGOPTS						\
	{ "set", required_argument, NULL, OVERRIDE_OPT_SET },		\
	{ "epochs", required_argument, NULL, OVERRIDE_OPT_EPOCHS }
/* Their lines of a command's --help. */
#define OVERRIDE_HELP							\
	"  --set KEY=VALUE      change net.json before it is checked: KEY a\n" \
	"                       JSON path (train.optimizer.lr,\n"	\
	"                       layers[1].units), VALUE parsed as JSON, a\n" \
	"                       string when it is not JSON; repeatable, in\n" \
	"                       order\n"				\
	"  --epochs N           the same as --set train.epochs=N\n"

struct override_list {
	size_t		  n;
	char		**options;	/* "--set KEY" or "--epochs", for errors */
	char		**keys;		/* JSON paths */
	json_t		**values;
	const char	 *file;		/* what the document is, for errors */
};

/*
 * Takes getopt's option c and its argument when it is one of ours: 1
 * taken, 0 not ours, -1 after a usage error on stderr (exit 2).
 */
int	override_option(struct override_list *, const struct cmd_entry *,
	    int c, const char *arg);
void	override_clear(struct override_list *);
/*
 * Applies the list (arg) to root in order: an nn_config_edit_fn. -1 with a
 * cause naming the file, the option and the path.
 */
int	override_apply(json_t *root, void *arg, char **cause);
/* nn_config_load of path with the list applied; NULL with cause. */
struct nn_config *override_load(struct override_list *, const char *path,
	    char **cause);

#endif
