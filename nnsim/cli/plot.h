/* nnsim plot's drawing: metrics curves as PNG, SVG or PDF, with cairo. */
#ifndef NN_PLOT_H
#define NN_PLOT_H

#include <stddef.h>

struct plotdata;

struct plot_opts {
	const char	 *path;		/* .png, .svg or .pdf */
	int		  width;	/* pixels (PNG) or points */
	int		  height;
	const char	 *title;	/* NULL or "": none */
	const char	**metrics;	/* one panel each */
	size_t		  nmetrics;
};

/* Whether path ends in an extension plot_render can write. */
int	plot_format_known(const char *path);
/* The extensions plot_render writes, for messages: ".png, .svg, .pdf". */
const char *plot_format_list(void);
/*
 * Draws one panel per metric, a curve per run, the events as vertical
 * markers and a legend, and writes o->path. -1 with a cause naming the
 * path when cairo cannot write it (the partial file is removed).
 */
int	plot_render(const struct plotdata *, const struct plot_opts *o,
	    char **cause);

#endif
