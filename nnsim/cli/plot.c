/*
 * nnsim plot's drawing. Cairo draws the same calls on an image (written as
 * PNG), SVG or PDF surface; the layout is title, panels in a grid of one or
 * two columns, legend.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cairo.h>
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <fontconfig/fontconfig.h>

#include "base/alloc.h"
#include "cli/plot.h"
#include "cli/plotdata.h"

#define PLOT_MARGIN	10.0
#define PLOT_FONT	"sans-serif"

/* An output format: how to make its surface, and how to write it out. */
struct plot_format {
	const char	*ext;
	cairo_surface_t	*(*create)(const char *path, int w, int h);
	cairo_status_t	 (*write)(cairo_surface_t *, const char *path);
};

static cairo_surface_t *
plot_png_create(const char *path, int w, int h)
{
	(void)path;
	return cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
}

static cairo_status_t
plot_png_write(cairo_surface_t *s, const char *path)
{
	return cairo_surface_write_to_png(s, path);
}

static cairo_surface_t *
plot_svg_create(const char *path, int w, int h)
{
	return cairo_svg_surface_create(path, w, h);
}

static cairo_surface_t *
plot_pdf_create(const char *path, int w, int h)
{
	return cairo_pdf_surface_create(path, w, h);
}

/* Vector surfaces write as they draw; finishing flushes the file. */
static cairo_status_t
plot_vector_write(cairo_surface_t *s, const char *path)
{
	(void)path;
	cairo_surface_finish(s);
	return cairo_surface_status(s);
}

static const struct plot_format plot_formats[] = {
	{ ".png", plot_png_create, plot_png_write },
	{ ".svg", plot_svg_create, plot_vector_write },
	{ ".pdf", plot_pdf_create, plot_vector_write },
};

/* Tableau's ten colours: the runs' curves, in order. */
static const double plot_palette[][3] = {
	{ 0.122, 0.467, 0.706 }, { 1.000, 0.498, 0.055 },
	{ 0.173, 0.627, 0.173 }, { 0.839, 0.153, 0.157 },
	{ 0.580, 0.404, 0.741 }, { 0.549, 0.337, 0.294 },
	{ 0.890, 0.467, 0.761 }, { 0.498, 0.498, 0.498 },
	{ 0.737, 0.741, 0.133 }, { 0.090, 0.745, 0.812 },
};
#define PLOT_NCOLORS	(sizeof plot_palette / sizeof plot_palette[0])

struct plot_box {
	double	x, y, w, h;
};

/* An axis: its range, a tick every step from lo to hi. */
struct plot_axis {
	double	lo, hi, step;
};

static const struct plot_format *
plot_format_find(const char *path)
{
	size_t i, n = strlen(path), e;

	for (i = 0; i < sizeof plot_formats / sizeof plot_formats[0]; i++) {
		e = strlen(plot_formats[i].ext);
		if (n > e && strcasecmp(path + n - e, plot_formats[i].ext) == 0)
			return &plot_formats[i];
	}
	return NULL;
}

int
plot_format_known(const char *path)
{
	return plot_format_find(path) != NULL;
}

const char *
plot_format_list(void)
{
	return ".png, .svg or .pdf";
}

/* A tick step of 1, 2 or 5 times a power of ten giving about n ticks. */
static double
plot_step(double range, int n)
{
	double raw = range / n, mag = pow(10, floor(log10(raw))), norm;

	norm = raw / mag;
	if (norm < 1.5)
		return mag;
	if (norm < 3)
		return 2 * mag;
	if (norm < 7)
		return 5 * mag;
	return 10 * mag;
}

/* An axis over lo..hi, widened to whole ticks. */
static struct plot_axis
plot_axis_new(double lo, double hi, int ticks, int integer)
{
	struct plot_axis a;
	double pad;

	if (hi - lo <= fabs(hi) * 1e-12) {
		pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
		lo -= pad;
		hi += pad;
	}
	a.step = plot_step(hi - lo, ticks);
	if (integer && a.step < 1)
		a.step = 1;
	a.lo = floor(lo / a.step) * a.step;
	a.hi = ceil(hi / a.step) * a.step;
	return a;
}

/* The tick labels' text: as many decimals as the step needs. */
static void
plot_tick_text(char *buf, size_t len, double v, double step)
{
	int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);

	if (fabs(v) < step * 1e-6)
		v = 0;
	snprintf(buf, len, "%.*f", decimals, v);
}

static double
plot_text_width(cairo_t *cr, const char *s)
{
	cairo_text_extents_t te;

	cairo_text_extents(cr, s, &te);
	return te.x_advance;
}

static void
plot_font(cairo_t *cr, double size, int bold)
{
	cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
	    bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
}

/* The range of metric over every run: 0, or -1 when no run has it. */
static int
plot_range(const struct plotdata *pd, const char *metric, double *lo,
    double *hi)
{
	json_t *e, *v;
	size_t i, j;
	int found = 0;

	for (i = 0; i < pd->nruns; i++) {
		json_array_foreach(pd->runs[i].epochs, j, e) {
			if (!json_is_number(v = json_object_get(e, metric)))
				continue;
			if (!found || json_number_value(v) < *lo)
				*lo = json_number_value(v);
			if (!found || json_number_value(v) > *hi)
				*hi = json_number_value(v);
			found = 1;
		}
	}
	return found ? 0 : -1;
}

/* Grid lines, tick labels and the axes' names of one panel. */
static void
plot_axes(cairo_t *cr, const struct plot_box *in, const struct plot_axis *x,
    const struct plot_axis *y, const char *metric)
{
	char text[64];
	double t, px, py;
	int k, n;

	plot_font(cr, 10, 0);
	cairo_set_line_width(cr, 1);
	n = (int)lround((y->hi - y->lo) / y->step);
	for (k = 0; k <= n && k <= 100; k++) {
		t = y->lo + k * y->step;
		py = round(in->y + in->h - (t - y->lo) / (y->hi - y->lo) *
		    in->h) + 0.5;
		cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
		cairo_move_to(cr, in->x, py);
		cairo_line_to(cr, in->x + in->w, py);
		cairo_stroke(cr);
		plot_tick_text(text, sizeof text, t, y->step);
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_move_to(cr, in->x - 5 - plot_text_width(cr, text),
		    py + 3.5);
		cairo_show_text(cr, text);
	}
	n = (int)lround((x->hi - x->lo) / x->step);
	for (k = 0; k <= n && k <= 100; k++) {
		t = x->lo + k * x->step;
		px = round(in->x + (t - x->lo) / (x->hi - x->lo) * in->w) + 0.5;
		cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
		cairo_move_to(cr, px, in->y);
		cairo_line_to(cr, px, in->y + in->h);
		cairo_stroke(cr);
		plot_tick_text(text, sizeof text, t, x->step);
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_move_to(cr, px - plot_text_width(cr, text) / 2,
		    in->y + in->h + 14);
		cairo_show_text(cr, text);
	}
	cairo_move_to(cr, in->x + in->w / 2 - plot_text_width(cr, "epoch") / 2,
	    in->y + in->h + 28);
	cairo_show_text(cr, "epoch");
	cairo_rectangle(cr, round(in->x) + 0.5, round(in->y) + 0.5,
	    round(in->w), round(in->h));
	cairo_stroke(cr);
	plot_font(cr, 12, 1);
	cairo_move_to(cr, in->x, in->y - 7);
	cairo_show_text(cr, metric);
}

/* The events: a dashed vertical line each, its label down its right. */
static void
plot_events(cairo_t *cr, const struct plotdata *pd, const struct plot_box *in,
    const struct plot_axis *x)
{
	static const double dash[] = { 4, 3 };
	double px;
	size_t i;

	plot_font(cr, 9, 0);
	for (i = 0; i < pd->nevents; i++) {
		px = in->x + (pd->events[i].epoch - x->lo) / (x->hi - x->lo) *
		    in->w;
		cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
		cairo_set_dash(cr, dash, 2, 0);
		cairo_set_line_width(cr, 1);
		cairo_move_to(cr, px, in->y);
		cairo_line_to(cr, px, in->y + in->h);
		cairo_stroke(cr);
		cairo_set_dash(cr, NULL, 0, 0);
		/* The label on a light ground: curves pass behind it. */
		cairo_save(cr);
		cairo_translate(cr, px + 3, in->y + 4);
		cairo_rotate(cr, M_PI / 2);
		cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
		cairo_rectangle(cr, -1, -9, plot_text_width(cr,
		    pd->events[i].label) + 2, 11);
		cairo_fill(cr);
		cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
		cairo_move_to(cr, 0, 0);
		cairo_show_text(cr, pd->events[i].label);
		cairo_restore(cr);
	}
}

/* The curve of each run for metric; a lone epoch is a dot. */
static void
plot_curves(cairo_t *cr, const struct plotdata *pd, const char *metric,
    const struct plot_box *in, const struct plot_axis *x,
    const struct plot_axis *y)
{
	const double *c;
	json_t *e, *v;
	double px, py;
	size_t i, j, drawn;

	cairo_set_line_width(cr, 1.6);
	cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
	for (i = 0; i < pd->nruns; i++) {
		c = plot_palette[i % PLOT_NCOLORS];
		cairo_set_source_rgb(cr, c[0], c[1], c[2]);
		drawn = 0;
		json_array_foreach(pd->runs[i].epochs, j, e) {
			if (!json_is_number(v = json_object_get(e, metric)))
				continue;
			px = in->x + ((double)json_integer_value(
			    json_object_get(e, "epoch")) - x->lo) /
			    (x->hi - x->lo) * in->w;
			py = in->y + in->h - (json_number_value(v) - y->lo) /
			    (y->hi - y->lo) * in->h;
			if (drawn++ == 0)
				cairo_move_to(cr, px, py);
			else
				cairo_line_to(cr, px, py);
		}
		if (drawn == 1) {
			cairo_get_current_point(cr, &px, &py);
			cairo_new_path(cr);
			cairo_arc(cr, px, py, 2.5, 0, 2 * M_PI);
			cairo_fill(cr);
		} else if (drawn > 1)
			cairo_stroke(cr);
	}
}

/* One metric's panel in the cell: axes, events, then the curves on top. */
static void
plot_panel(cairo_t *cr, const struct plotdata *pd, const char *metric,
    const struct plot_box *cell)
{
	struct plot_box in = {
		.x = cell->x + 58, .y = cell->y + 24,
		.w = cell->w - 72, .h = cell->h - 60,
	};
	struct plot_axis x, y;
	double lo = 0, hi = 0;

	if (in.w < 10 || in.h < 10 || plot_range(pd, metric, &lo, &hi) != 0)
		return;
	x = plot_axis_new(0, pd->max_epoch, 6, 1);
	y = plot_axis_new(lo, hi, 5, 0);
	plot_axes(cr, &in, &x, &y, metric);
	/* Curves at the axis' ends stay visible over the frame. */
	cairo_save(cr);
	cairo_rectangle(cr, in.x - 2, in.y - 2, in.w + 4, in.h + 4);
	cairo_clip(cr);
	plot_events(cr, pd, &in, &x);
	plot_curves(cr, pd, metric, &in, &x, &y);
	cairo_restore(cr);
}

/*
 * The legend, a row of swatch and label per run, wrapping at width: its
 * height; drawn only when draw (the layout needs the height first).
 */
static double
plot_legend(cairo_t *cr, const struct plotdata *pd, double top, double width,
    int draw)
{
	const double *c;
	double x = PLOT_MARGIN, y = top + 14, w;
	size_t i;

	plot_font(cr, 12, 0);
	for (i = 0; i < pd->nruns; i++) {
		w = 28 + plot_text_width(cr, pd->runs[i].label) + 18;
		if (x > PLOT_MARGIN && x + w > width - PLOT_MARGIN) {
			x = PLOT_MARGIN;
			y += 18;
		}
		if (draw) {
			c = plot_palette[i % PLOT_NCOLORS];
			cairo_set_source_rgb(cr, c[0], c[1], c[2]);
			cairo_set_line_width(cr, 2.5);
			cairo_move_to(cr, x, y - 4);
			cairo_line_to(cr, x + 22, y - 4);
			cairo_stroke(cr);
			cairo_set_source_rgb(cr, 0, 0, 0);
			cairo_move_to(cr, x + 28, y);
			cairo_show_text(cr, pd->runs[i].label);
		}
		x += w;
	}
	return y - top + 8;
}

/* The whole figure on cr. */
static void
plot_draw(cairo_t *cr, const struct plotdata *pd, const struct plot_opts *o)
{
	struct plot_box cell;
	double top = PLOT_MARGIN, legend_h, area_h;
	size_t i, cols, rows;

	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	if (o->title != NULL && *o->title != '\0') {
		plot_font(cr, 16, 1);
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_move_to(cr, (o->width - plot_text_width(cr, o->title)) / 2,
		    top + 14);
		cairo_show_text(cr, o->title);
		top += 24;
	}
	legend_h = plot_legend(cr, pd, 0, o->width, 0);
	area_h = o->height - top - legend_h - PLOT_MARGIN;
	cols = o->nmetrics > 1 ? 2 : 1;
	rows = (o->nmetrics + cols - 1) / cols;
	for (i = 0; i < o->nmetrics; i++) {
		cell.w = (o->width - 2 * PLOT_MARGIN) / cols;
		cell.h = area_h / rows;
		cell.x = PLOT_MARGIN + (i % cols) * cell.w;
		cell.y = top + (i / cols) * cell.h;
		plot_panel(cr, pd, o->metrics[i], &cell);
	}
	plot_legend(cr, pd, top + area_h, o->width, 1);
}

int
plot_render(const struct plotdata *pd, const struct plot_opts *o,
    char **cause)
{
	const struct plot_format *f = plot_format_find(o->path);
	cairo_surface_t *s = NULL;
	cairo_status_t st;
	cairo_t *cr = NULL;
	int rc = -1;

	if (f == NULL)
		return nn_fail(cause, "%s: unknown format (expected %s)",
		    o->path, plot_format_list());
	s = f->create(o->path, o->width, o->height);
	if ((st = cairo_surface_status(s)) != CAIRO_STATUS_SUCCESS)
		goto out;
	cr = cairo_create(s);
	plot_draw(cr, pd, o);
	if ((st = cairo_status(cr)) != CAIRO_STATUS_SUCCESS)
		goto out;
	cairo_destroy(cr);
	cr = NULL;
	if ((st = f->write(s, o->path)) != CAIRO_STATUS_SUCCESS)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		nn_fail(cause, "%s: cannot write: %s", o->path,
		    cairo_status_to_string(st));
		unlink(o->path);
	}
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	/* Cairo's and fontconfig's font caches live until exit; freed here
	 * so that a leak checker (make asan) sees none. */
	cairo_debug_reset_static_data();
	FcFini();
	return rc;
}
