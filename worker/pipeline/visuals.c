/*  visuals — one slide per scene, drawn with cairo and laid out with pango:
    the scene's heading and bullets on a background in the plan's style,
    shrunk until they fit, with the topic and a scene counter in a footer.
    Writes scene-NN.png for every scene, then thumbnail.png from the first. */
#include "visuals.h"

#include <cairo.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  The design, in units of a hundredth of the slide's shorter side, so one
    layout serves 16:9, 9:16 and 1:1 at any resolution. */
#define S_MARGIN_U 7.0           /* top, and at least left and right */
#define S_MARGIN_SIDE_SHARE                                                    \
    0.06 /* left and right: at least this of the width */
#define S_FOOTER_U 7.0           /* the footer band at the bottom */
#define S_FOOTER_GAP_U 3.0       /* between the text and the footer */
#define S_FOOTER_TEXT_U 2.6
#define S_HEADING_U 7.0          /* design font sizes */
#define S_BULLET_U 4.2
#define S_HEADING_GAP_U 4.0      /* heading to first bullet */
#define S_BULLET_GAP_U 2.0
#define S_BULLET_INDENT_U 4.0
/*  Text that does not fit is shrunk by this factor per attempt, down to the
    smallest scale that stays readable on a phone. */
#define S_SHRINK_STEP 0.95
#define S_SHRINK_MIN 0.35
#define S_FONT "DejaVu Sans"

#define S_THUMBNAIL_WIDTH 640
/*  zlib level for the PNGs: 3 is several times faster than the default 6
    on slides and makes files only slightly larger. */
#define S_PNG_COMPRESSION 3
#define S_PATH_SIZE 4096
/*  Progress is asked at least this often (pipeline.h wants 50 ms). */
#define S_POLL_MS 25
/*  Artifact slots kept free for the steps after this one: timeline,
    subtitles and the video must still fit when there are many slides. */
#define S_ARTIFACTS_RESERVED 4

typedef enum {
    S_DECOR_MODERN,     /* dark, a soft disc, a bar beside the heading */
    S_DECOR_MINIMAL,    /* plain, a short rule under the heading */
    S_DECOR_PLAYFUL,    /* warm, translucent discs in two corners */
    S_DECOR_CORPORATE,  /* light, a top stripe and a solid footer band */
} s_decor_t;

typedef struct {
    const char *name;
    uint32_t background_top, background_bottom;   /* 0xRRGGBB */
    uint32_t heading, text, accent, accent2;
    uint32_t footer_text, footer_band;
    s_decor_t decor;
} s_palette_t;

/*  The first one is the default for an unknown style. */
static const s_palette_t s_palettes[] = {
    { "modern", 0x0F172A, 0x1E293B, 0xF8FAFC, 0xCBD5E1, 0x38BDF8, 0x818CF8,
      0x94A3B8, 0x000000, S_DECOR_MODERN },
    { "minimal", 0xFAFAFA, 0xFAFAFA, 0x111111, 0x3F3F46, 0x111111, 0xA1A1AA,
      0x71717A, 0x000000, S_DECOR_MINIMAL },
    { "playful", 0xFFF7ED, 0xFFE4E6, 0x7C3AED, 0x1F2937, 0xF97316, 0x14B8A6,
      0x6B7280, 0x000000, S_DECOR_PLAYFUL },
    { "corporate", 0xFFFFFF, 0xF1F5F9, 0x1E3A8A, 0x334155, 0x1D4ED8,
      0x1E3A8A, 0xFFFFFF, 0x1E3A8A, S_DECOR_CORPORATE },
};

/*  The slide's geometry in pixels. */
typedef struct {
    double width, height;
    double unit;                  /* a hundredth of the shorter side */
    double left, top, room_width, room_height;   /* where the text goes */
    double footer_top;
} s_frame_t;

/*  Heading and bullets laid out at one scale. */
typedef struct {
    PangoLayout *heading;
    PangoLayout *bullets[MEDIA_MAX_BULLETS];
    int bullet_count;
    double scale;
    double heading_height;
    double bullet_heights[MEDIA_MAX_BULLETS];
    double total_height;
} s_text_t;

/*  Asks whether to go on, no more often than every S_POLL_MS. */
typedef struct {
    pipeline_progress_fn progress;
    void *ctx;
    int64_t last_ms;
    bool canceled;
} s_poller_t;

static const s_palette_t *
s_palette_find (const char *style)
{
    for (size_t i = 0; i < sizeof s_palettes / sizeof s_palettes[0]; i++)
        if (strcmp (s_palettes[i].name, style) == 0)
            return &s_palettes[i];
    return &s_palettes[0];
}

static void
s_set_rgb (cairo_t *cr, uint32_t rgb, double alpha)
{
    cairo_set_source_rgba (cr, ((rgb >> 16) & 0xFF) / 255.0,
                           ((rgb >> 8) & 0xFF) / 255.0, (rgb & 0xFF) / 255.0,
                           alpha);
}

static void
s_add_rgb_stop (cairo_pattern_t *pattern, double offset, uint32_t rgb)
{
    cairo_pattern_add_color_stop_rgb (pattern, offset,
                                      ((rgb >> 16) & 0xFF) / 255.0,
                                      ((rgb >> 8) & 0xFF) / 255.0,
                                      (rgb & 0xFF) / 255.0);
}

static s_frame_t
s_frame_for (int width, int height, const s_palette_t *palette)
{
    s_frame_t f;
    f.width = width;
    f.height = height;
    f.unit = (width < height ? width : height) / 100.0;
    double side = S_MARGIN_U * f.unit;
    if (side < S_MARGIN_SIDE_SHARE * width)
        side = S_MARGIN_SIDE_SHARE * width;
    f.left = side;
    f.room_width = width - 2 * side;
    f.top = S_MARGIN_U * f.unit;
    if (palette->decor == S_DECOR_CORPORATE)
        f.top += 1.5 * f.unit;    /* below the stripe */
    f.footer_top = height - S_FOOTER_U * f.unit;
    f.room_height = f.footer_top - S_FOOTER_GAP_U * f.unit - f.top;
    return f;
}

/*  Sets text on layout, replacing invalid UTF-8 (a string cut inside a
    character) so pango draws what is there instead of refusing it. */
static void
s_layout_set_text (PangoLayout *layout, const char *text)
{
    if (g_utf8_validate (text, -1, NULL)) {
        pango_layout_set_text (layout, text, -1);
        return;
    }
    gchar *valid = g_utf8_make_valid (text, -1);
    pango_layout_set_text (layout, valid, -1);
    g_free (valid);
}

static void
s_layout_set_font (PangoLayout *layout, double size_px, bool bold)
{
    PangoFontDescription *font = pango_font_description_from_string (S_FONT);
    pango_font_description_set_weight (font, bold ? PANGO_WEIGHT_BOLD
                                                  : PANGO_WEIGHT_NORMAL);
    pango_font_description_set_absolute_size (font, size_px * PANGO_SCALE);
    pango_layout_set_font_description (layout, font);
    pango_font_description_free (font);
}

static double
s_layout_height (PangoLayout *layout)
{
    PangoRectangle logical;
    pango_layout_get_extents (layout, NULL, &logical);
    return (double) logical.height / PANGO_SCALE;
}

static void
s_text_free (s_text_t *text)
{
    if (text->heading)
        g_object_unref (text->heading);
    for (int i = 0; i < text->bullet_count; i++)
        if (text->bullets[i])
            g_object_unref (text->bullets[i]);
    memset (text, 0, sizeof *text);
}

/*  Creates the scene's layouts. Returns 0 or -ENOMEM. */
static int
s_text_new (s_text_t *text, cairo_t *cr, const media_scene_t *scene)
{
    memset (text, 0, sizeof *text);
    text->heading = pango_cairo_create_layout (cr);
    if (!text->heading)
        return -ENOMEM;
    s_layout_set_text (text->heading, scene->heading);
    int count = scene->bullet_count;
    if (count < 0)
        count = 0;
    if (count > MEDIA_MAX_BULLETS)
        count = MEDIA_MAX_BULLETS;
    for (int i = 0; i < count; i++) {
        text->bullets[i] = pango_cairo_create_layout (cr);
        if (!text->bullets[i])
            return -ENOMEM;
        text->bullet_count = i + 1;
        s_layout_set_text (text->bullets[i], scene->bullets[i]);
    }
    pango_layout_set_wrap (text->heading, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_line_spacing (text->heading, 1.05f);
    for (int i = 0; i < text->bullet_count; i++) {
        pango_layout_set_wrap (text->bullets[i], PANGO_WRAP_WORD_CHAR);
        pango_layout_set_line_spacing (text->bullets[i], 1.1f);
    }
    return 0;
}

/*  Lays the text out at `scale` of the design sizes within the frame's
    width and measures its height. */
static void
s_text_measure (s_text_t *text, const s_frame_t *f, double scale)
{
    double u = f->unit;
    text->scale = scale;
    s_layout_set_font (text->heading, S_HEADING_U * u * scale, true);
    pango_layout_set_width (text->heading, (int) (f->room_width * PANGO_SCALE));
    text->heading_height = s_layout_height (text->heading);
    text->total_height = text->heading_height;

    double indent = S_BULLET_INDENT_U * u * scale;
    for (int i = 0; i < text->bullet_count; i++) {
        s_layout_set_font (text->bullets[i], S_BULLET_U * u * scale, false);
        pango_layout_set_width (text->bullets[i],
                                (int) ((f->room_width - indent) * PANGO_SCALE));
        text->bullet_heights[i] = s_layout_height (text->bullets[i]);
        text->total_height += text->bullet_heights[i]
            + (i == 0 ? S_HEADING_GAP_U : S_BULLET_GAP_U) * u * scale;
    }
}

static void
s_draw_background (cairo_t *cr, const s_frame_t *f, const s_palette_t *p)
{
    cairo_pattern_t *gradient =
        cairo_pattern_create_linear (0, 0, 0, f->height);
    s_add_rgb_stop (gradient, 0, p->background_top);
    s_add_rgb_stop (gradient, 1, p->background_bottom);
    cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
    cairo_set_source (cr, gradient);
    cairo_paint (cr);
    cairo_pattern_destroy (gradient);
    cairo_set_operator (cr, CAIRO_OPERATOR_OVER);

    double u = f->unit;
    switch (p->decor) {
    case S_DECOR_MODERN:
        s_set_rgb (cr, p->accent, 0.10);
        cairo_arc (cr, f->width - 4 * u, 4 * u, 34 * u, 0, 2 * M_PI);
        cairo_fill (cr);
        s_set_rgb (cr, p->accent2, 0.08);
        cairo_arc (cr, f->width - 14 * u, 2 * u, 20 * u, 0, 2 * M_PI);
        cairo_fill (cr);
        break;
    case S_DECOR_PLAYFUL:
        s_set_rgb (cr, p->accent, 0.18);
        cairo_arc (cr, f->width, 0, 24 * u, 0, 2 * M_PI);
        cairo_fill (cr);
        s_set_rgb (cr, p->accent2, 0.16);
        cairo_arc (cr, 0, f->footer_top, 16 * u, 0, 2 * M_PI);
        cairo_fill (cr);
        s_set_rgb (cr, p->heading, 0.10);
        cairo_arc (cr, f->width - 20 * u, 17 * u, 4 * u, 0, 2 * M_PI);
        cairo_fill (cr);
        break;
    case S_DECOR_CORPORATE:
        s_set_rgb (cr, p->accent, 1);
        cairo_rectangle (cr, 0, 0, f->width, 1.5 * u);
        cairo_fill (cr);
        s_set_rgb (cr, p->footer_band, 1);
        cairo_rectangle (cr, 0, f->footer_top, f->width,
                         f->height - f->footer_top);
        cairo_fill (cr);
        break;
    case S_DECOR_MINIMAL:
        break;
    }
    if (p->decor != S_DECOR_CORPORATE) {
        s_set_rgb (cr, p->accent2, 0.5);
        cairo_rectangle (cr, f->left, f->footer_top, f->room_width,
                         fmax (1.0, 0.15 * u));
        cairo_fill (cr);
    }
}

/*  The footer: the topic on the left, cut with an ellipsis when long, and
    "3 / 8" on the right, centred in the footer band. */
static int
s_draw_footer (cairo_t *cr, const s_frame_t *f, const s_palette_t *p,
               const media_plan_t *plan, int scene)
{
    double u = f->unit;
    char counter[32];
    snprintf (counter, sizeof counter, "%d / %d", scene + 1, plan->scene_count);

    PangoLayout *count_layout = pango_cairo_create_layout (cr);
    PangoLayout *topic_layout = pango_cairo_create_layout (cr);
    if (!count_layout || !topic_layout) {
        if (count_layout)
            g_object_unref (count_layout);
        if (topic_layout)
            g_object_unref (topic_layout);
        return -ENOMEM;
    }
    s_layout_set_font (count_layout, S_FOOTER_TEXT_U * u, true);
    pango_layout_set_text (count_layout, counter, -1);
    PangoRectangle count_rect;
    pango_layout_get_pixel_extents (count_layout, NULL, &count_rect);

    s_layout_set_font (topic_layout, S_FOOTER_TEXT_U * u, false);
    s_layout_set_text (topic_layout, plan->topic);
    pango_layout_set_single_paragraph_mode (topic_layout, TRUE);
    pango_layout_set_ellipsize (topic_layout, PANGO_ELLIPSIZE_END);
    double topic_width = f->room_width - count_rect.width - 3 * u;
    pango_layout_set_width (topic_layout,
                            (int) (fmax (topic_width, u) * PANGO_SCALE));

    double band_middle = (f->footer_top + f->height) / 2;
    s_set_rgb (cr, p->footer_text, 1);
    cairo_move_to (cr, f->left + f->room_width - count_rect.width,
                   band_middle - count_rect.height / 2.0);
    pango_cairo_show_layout (cr, count_layout);
    double topic_height = s_layout_height (topic_layout);
    cairo_move_to (cr, f->left, band_middle - topic_height / 2);
    pango_cairo_show_layout (cr, topic_layout);

    g_object_unref (count_layout);
    g_object_unref (topic_layout);
    return 0;
}

/*  Heading and bullets, laid out at text->scale, from the top of the room
    (a little lower when there is space to spare). Not clipped: at the
    smallest scale the longest text media.h allows fits every aspect. */
static void
s_draw_text (cairo_t *cr, const s_frame_t *f, const s_palette_t *p,
             const s_text_t *text)
{
    double u = f->unit;
    double s = text->scale;
    double spare = f->room_height - text->total_height;
    double y = f->top + (spare > 0 ? spare * 0.3 : 0);

    if (p->decor == S_DECOR_MODERN) {
        s_set_rgb (cr, p->accent, 1);
        cairo_rectangle (cr, f->left - 2.2 * u, y + 0.15 * text->heading_height,
                         0.7 * u, 0.7 * text->heading_height);
        cairo_fill (cr);
    }
    s_set_rgb (cr, p->heading, 1);
    cairo_move_to (cr, f->left, y);
    pango_cairo_show_layout (cr, text->heading);
    y += text->heading_height;

    if (p->decor != S_DECOR_MODERN && text->bullet_count > 0) {
        s_set_rgb (cr, p->accent, 1);
        cairo_rectangle (cr, f->left, y + 1.4 * u * s, 12 * u * s, 0.5 * u * s);
        cairo_fill (cr);
    }

    double font_px = S_BULLET_U * u * s;
    double indent = S_BULLET_INDENT_U * u * s;
    for (int i = 0; i < text->bullet_count; i++) {
        y += (i == 0 ? S_HEADING_GAP_U : S_BULLET_GAP_U) * u * s;
        int baseline_pango = pango_layout_get_baseline (text->bullets[i]);
        double baseline = y + (double) baseline_pango / PANGO_SCALE;
        double marker_y = baseline - 0.35 * font_px;
        double marker_x = f->left + 0.35 * font_px;
        s_set_rgb (cr, i % 2 && p->decor == S_DECOR_PLAYFUL ? p->accent2
                                                              : p->accent, 1);
        if (p->decor == S_DECOR_CORPORATE)
            cairo_rectangle (cr, marker_x - 0.14 * font_px,
                             marker_y - 0.14 * font_px, 0.28 * font_px,
                             0.28 * font_px);
        else
            cairo_arc (cr, marker_x, marker_y, 0.16 * font_px, 0, 2 * M_PI);
        cairo_fill (cr);

        s_set_rgb (cr, p->text, 1);
        cairo_move_to (cr, f->left + indent, y);
        pango_cairo_show_layout (cr, text->bullets[i]);
        y += text->bullet_heights[i];
    }
}

/*  Draws slide `scene` (0-based) of plan onto surface, an image surface
    whose size sets the layout: background and palette from plan->style
    (an unknown style draws as "modern"), heading and bullets wrapped within
    the margins, the topic and the scene counter in the footer. The text is
    shrunk step by step until it fits; *font_scale (may be NULL) is set to
    the share of the design size used, 1 when nothing had to shrink.
    Returns 0, -EINVAL for a scene out of range or a surface that is not a
    usable image, or -ENOMEM. The surface is overwritten whole. */
int
media_visuals_draw_slide (const media_plan_t *plan, int scene,
                          cairo_surface_t *surface, double *font_scale)
{
    if (!plan || !surface || scene < 0 || scene >= plan->scene_count
        || scene >= MEDIA_MAX_SCENES
        || cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS
        || cairo_surface_get_type (surface) != CAIRO_SURFACE_TYPE_IMAGE)
        return -EINVAL;
    int width = cairo_image_surface_get_width (surface);
    int height = cairo_image_surface_get_height (surface);
    if (width < 16 || height < 16)
        return -EINVAL;

    const s_palette_t *palette = s_palette_find (plan->style);
    s_frame_t frame = s_frame_for (width, height, palette);
    s_text_t text = { 0 };
    int rc = 0;
    cairo_t *cr = cairo_create (surface);
    if (cairo_status (cr) != CAIRO_STATUS_SUCCESS) {
        rc = -ENOMEM;
        goto cleanup;
    }
    /* unhinted metrics: sizes scale smoothly while shrinking, and text
       wraps the same at every resolution */
    cairo_font_options_t *options = cairo_font_options_create ();
    cairo_font_options_set_hint_metrics (options, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options (cr, options);
    cairo_font_options_destroy (options);
    rc = s_text_new (&text, cr, &plan->scenes[scene]);
    if (rc < 0)
        goto cleanup;
    double scale = 1.0;
    s_text_measure (&text, &frame, scale);
    while (text.total_height > frame.room_height && scale > S_SHRINK_MIN) {
        scale *= S_SHRINK_STEP;
        if (scale < S_SHRINK_MIN)
            scale = S_SHRINK_MIN;
        s_text_measure (&text, &frame, scale);
    }

    s_draw_background (cr, &frame, palette);
    s_draw_text (cr, &frame, palette, &text);
    rc = s_draw_footer (cr, &frame, palette, plan, scene);
    if (rc < 0)
        goto cleanup;
    if (cairo_status (cr) != CAIRO_STATUS_SUCCESS) {
        rc = -ENOMEM;
        goto cleanup;
    }
    cairo_surface_flush (surface);
    if (font_scale)
        *font_scale = scale;

cleanup:
    s_text_free (&text);
    if (cr)
        cairo_destroy (cr);
    return rc;
}

/*  Returns -ECANCELED when the job is to stop, asking at most every
    S_POLL_MS; 0 to go on. */
static int
s_poll (s_poller_t *poller)
{
    if (poller->canceled)
        return -ECANCELED;
    int64_t now_ms = pipeline_clock_ms ();
    if (now_ms - poller->last_ms < S_POLL_MS)
        return 0;
    poller->last_ms = now_ms;
    if (poller->progress (poller->ctx, STEP_VISUALS, 0, NULL, -1) != 0) {
        poller->canceled = true;
        return -ECANCELED;
    }
    return 0;
}

static int
s_report (s_poller_t *poller, double fraction, const char *message, int eta_s)
{
    if (poller->canceled)
        return -ECANCELED;
    poller->last_ms = pipeline_clock_ms ();
    if (poller->progress (poller->ctx, STEP_VISUALS, fraction, message, eta_s)
        != 0) {
        poller->canceled = true;
        return -ECANCELED;
    }
    return 0;
}

typedef struct {
    FILE *file;
    int error;                  /* errno of the first failure, 0 */
    s_poller_t *poller;
} s_png_sink_t;

static void
s_png_write (png_structp png, png_bytep data, png_size_t length)
{
    s_png_sink_t *sink = png_get_io_ptr (png);
    if (fwrite (data, 1, length, sink->file) != length) {
        sink->error = errno ? errno : EIO;
        png_error (png, "write failed");
    }
}

static void
s_png_flush (png_structp png)
{
    (void) png;
}

/*  libpng reports errors by jumping back to s_png_encode: nothing to
    print, the sink holds the cause. */
static void
s_png_error (png_structp png, png_const_charp message)
{
    (void) message;
    png_longjmp (png, 1);
}

static void
s_png_warning (png_structp png, png_const_charp message)
{
    (void) png;
    (void) message;
}

/*  Encodes an ARGB32 surface as 8-bit RGB (slides are opaque) row by row,
    asking whether to stop every few rows: compression is most of a slide's
    time. row holds width × 3 bytes. Returns 0, -ECANCELED or -errno. */
static int
s_png_encode (png_structp png, png_infop info, cairo_surface_t *surface,
              png_bytep row, s_png_sink_t *sink)
{
    if (setjmp (png_jmpbuf (png)))
        return sink->error ? -sink->error : -EIO;
    int width = cairo_image_surface_get_width (surface);
    int height = cairo_image_surface_get_height (surface);
    int stride = cairo_image_surface_get_stride (surface);
    const unsigned char *data = cairo_image_surface_get_data (surface);
    png_set_write_fn (png, sink, s_png_write, s_png_flush);
    png_set_IHDR (png, info, (png_uint_32) width, (png_uint_32) height, 8,
                  PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                  PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* flat colours and gradients: fast settings lose little size */
    png_set_compression_level (png, S_PNG_COMPRESSION);
    png_set_filter (png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB | PNG_FILTER_UP);
    png_write_info (png, info);
    for (int y = 0; y < height; y++) {
        const uint32_t *pixels
            = (const uint32_t *) (data + (size_t) y * stride);
        for (int x = 0; x < width; x++) {
            /* cairo: native-endian premultiplied 0xAARRGGBB */
            uint32_t pixel = pixels[x];
            unsigned alpha = pixel >> 24;
            unsigned rgb[3] = { (pixel >> 16) & 0xFF, (pixel >> 8) & 0xFF,
                                pixel & 0xFF };
            for (int c = 0; c < 3; c++) {
                if (alpha != 0xFF)
                    rgb[c] = alpha ? (rgb[c] * 255 + alpha / 2) / alpha : 0;
                row[3 * x + c] = (png_byte) (rgb[c] > 255 ? 255 : rgb[c]);
            }
        }
        png_write_row (png, row);
        if (y % 16 == 15 && s_poll (sink->poller) < 0) {
            sink->error = ECANCELED;
            png_error (png, "canceled");
        }
    }
    png_write_end (png, NULL);
    return 0;
}

/*  Writes surface as PNG to a temporary file and commits it to path. Returns 0,
    -ECANCELED when told to stop, or -errno; the temporary file is removed
    on failure. */
static int
s_png_save (cairo_surface_t *surface, const char *path, s_poller_t *poller)
{
    char tmp[S_PATH_SIZE];
    int rc = media_tmp_path (path, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    cairo_surface_flush (surface);
    png_structp png = NULL;
    png_infop info = NULL;
    size_t row_bytes = (size_t) cairo_image_surface_get_width (surface) * 3;
    png_bytep row = malloc (row_bytes);
    FILE *file = fopen (tmp, "wb");
    if (!file) {
        rc = -errno;
        goto cleanup;
    }
    png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, s_png_error,
                                   s_png_warning);
    if (png)
        info = png_create_info_struct (png);
    if (!row || !png || !info) {
        rc = -ENOMEM;
        goto cleanup;
    }
    s_png_sink_t sink = { file, 0, poller };
    errno = 0;
    rc = s_png_encode (png, info, surface, row, &sink);

cleanup:
    if (png)
        png_destroy_write_struct (&png, info ? &info : NULL);
    if (file && fclose (file) != 0 && rc == 0)
        rc = -errno;
    free (row);
    if (rc == 0)
        rc = media_file_commit_from (tmp, path);
    if (rc < 0)
        unlink (tmp);
    return rc;
}

/*  Writes thumbnail.png: the first slide scaled to S_THUMBNAIL_WIDTH wide.
    Returns 0, -ECANCELED or -errno. */
static int
s_thumbnail_save (const char *slide_path, const char *path, s_poller_t *poller)
{
    int rc = 0;
    cairo_t *cr = NULL;
    cairo_surface_t *thumb = NULL;
    cairo_surface_t *slide = cairo_image_surface_create_from_png (slide_path);
    cairo_status_t status = cairo_surface_status (slide);
    if (status != CAIRO_STATUS_SUCCESS) {
        rc = status == CAIRO_STATUS_NO_MEMORY ? -ENOMEM
             : status == CAIRO_STATUS_FILE_NOT_FOUND ? -ENOENT : -EIO;
        goto cleanup;
    }
    rc = s_poll (poller);
    if (rc < 0)
        goto cleanup;
    int slide_width = cairo_image_surface_get_width (slide);
    int slide_height = cairo_image_surface_get_height (slide);
    int height = (int) lround ((double) S_THUMBNAIL_WIDTH * slide_height
                               / slide_width);
    if (height < 1)
        height = 1;
    thumb = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, S_THUMBNAIL_WIDTH,
                                        height);
    cr = cairo_create (thumb);
    cairo_scale (cr, (double) S_THUMBNAIL_WIDTH / slide_width,
                 (double) height / slide_height);
    cairo_set_source_surface (cr, slide, 0, 0);
    cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
    cairo_set_operator (cr, CAIRO_OPERATOR_SOURCE);
    cairo_paint (cr);
    if (cairo_status (cr) != CAIRO_STATUS_SUCCESS) {
        rc = -ENOMEM;
        goto cleanup;
    }
    cairo_surface_flush (thumb);
    rc = s_poll (poller);
    if (rc == 0)
        rc = s_png_save (thumb, path, poller);

cleanup:
    if (cr)
        cairo_destroy (cr);
    if (thumb)
        cairo_surface_destroy (thumb);
    cairo_surface_destroy (slide);
    return rc;
}

/*  Lists a written PNG among the job's artifacts while more than `reserve`
    slots stay free (the file is in the directory either way). Returns 0 or
    -errno when the file cannot be read. */
static int
s_artifact_add (pipeline_output_t *output, const char *name, const char *path,
                size_t reserve)
{
    struct stat st;
    if (stat (path, &st) != 0)
        return -errno;
    if (output->artifact_count + reserve >= PIPELINE_MAX_ARTIFACTS)
        return 0;
    pipeline_output_add_artifact (output, name, name, "image/png",
                                  (int64_t) st.st_size);
    return 0;
}

static int
s_plan_check (const media_plan_t *plan, pipeline_error_t *error)
{
    if (plan->width < 16 || plan->height < 16 || plan->width > 8192
        || plan->height > 8192) {
        pipeline_error_set (error, "VisualsFailed", false,
                            "plan.json: slide size %dx%d out of range",
                            plan->width, plan->height);
        return -EINVAL;
    }
    if (plan->scene_count < 1 || plan->scene_count > MEDIA_MAX_SCENES) {
        pipeline_error_set (error, "VisualsFailed", false,
                            "plan.json: %d scenes, expected 1 to %d",
                            plan->scene_count, MEDIA_MAX_SCENES);
        return -EINVAL;
    }
    return 0;
}

static void
s_fail (pipeline_error_t *error, int rc, const char *what, const char *name)
{
    if (rc == -ENOSPC)
        pipeline_error_set (error, "DiskFull", true, "%s %s: %s", what, name,
                            strerror (-rc));
    else
        pipeline_error_set (error, "VisualsFailed", rc != -EINVAL, "%s %s: %s",
                            what, name, strerror (-rc));
}

int
media_step_visuals (const pipeline_input_t *input, pipeline_output_t *output,
                    pipeline_progress_fn progress, void *progress_ctx,
                    pipeline_error_t *error)
{
    const char *dir = input->artifact_dir;
    s_poller_t poller = { progress, progress_ctx, pipeline_clock_ms (), false };
    cairo_surface_t *surface = NULL;
    char path[S_PATH_SIZE];
    char name[32];
    int rc = 0;
    media_plan_t *plan = calloc (1, sizeof *plan);
    if (!plan) {
        pipeline_error_set (error, "VisualsFailed", true, "out of memory");
        return -ENOMEM;
    }
    if (!dir || !*dir) {
        pipeline_error_set (error, "VisualsFailed", false,
                            "the job has no artifact directory");
        rc = -EINVAL;
        goto cleanup;
    }
    rc = media_path (path, sizeof path, dir, "plan.json");
    if (rc < 0) {
        s_fail (error, rc, "path of", "plan.json");
        goto cleanup;
    }
    pipeline_error_t load_error = { 0 };
    rc = media_plan_load (path, plan, &load_error);
    if (rc < 0) {
        pipeline_error_set (error, "VisualsFailed",
                            rc != -EPROTO && rc != -EINVAL,
                            "cannot read plan.json: %s",
                            load_error.message[0] ? load_error.message
                                                  : strerror (-rc));
        goto cleanup;
    }
    rc = s_plan_check (plan, error);
    if (rc < 0)
        goto cleanup;

    int count = plan->scene_count;
    int64_t started_ms = pipeline_clock_ms ();
    int drawn = 0;
    for (int i = 0; i < count; i++) {
        char message[96];
        snprintf (message, sizeof message, "Drawing slide %d of %d", i + 1,
                  count);
        int eta_s = -1;
        if (drawn > 0) {
            int64_t per_slide_ms = (pipeline_clock_ms () - started_ms) / drawn;
            eta_s = (int) ((per_slide_ms * (count - i) + 999) / 1000);
        }
        rc = s_report (&poller, (double) i / (count + 1), message, eta_s);
        if (rc < 0)
            goto cleanup;

        snprintf (name, sizeof name, "scene-%02d.png", i + 1);
        rc = media_path (path, sizeof path, dir, name);
        if (rc < 0) {
            s_fail (error, rc, "path of", name);
            goto cleanup;
        }
        if (!media_file_exists (path)) {
            if (!surface) {
                surface = cairo_image_surface_create (
                    CAIRO_FORMAT_ARGB32, plan->width, plan->height);
                if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS) {
                    rc = -ENOMEM;
                    s_fail (error, rc, "cannot draw", name);
                    goto cleanup;
                }
            }
            double scale = 1;
            rc = media_visuals_draw_slide (plan, i, surface, &scale);
            if (rc < 0) {
                s_fail (error, rc, "cannot draw", name);
                goto cleanup;
            }
            if (scale < 1)
                pipeline_warn (input, "TextShrunk",
                               "scene %d: heading and bullets shrunk to %d %% "
                               "of the design size to fit the slide",
                               i + 1, (int) lround (scale * 100));
            rc = s_poll (&poller);
            if (rc == 0)
                rc = s_png_save (surface, path, &poller);
            if (rc < 0) {
                if (rc != -ECANCELED)
                    s_fail (error, rc, "cannot write", name);
                goto cleanup;
            }
            drawn++;
        }
        /* one slot stays free for the thumbnail as well */
        rc = s_artifact_add (output, name, path, S_ARTIFACTS_RESERVED + 1);
        if (rc < 0) {
            s_fail (error, rc, "cannot read", name);
            goto cleanup;
        }
    }

    rc = s_report (&poller, (double) count / (count + 1), "Making thumbnail",
                   -1);
    if (rc < 0)
        goto cleanup;
    char first[S_PATH_SIZE];
    rc = media_path (first, sizeof first, dir, "scene-01.png");
    if (rc == 0)
        rc = media_path (path, sizeof path, dir, "thumbnail.png");
    if (rc == 0 && !media_file_exists (path))
        rc = s_thumbnail_save (first, path, &poller);
    if (rc == 0)
        rc = s_artifact_add (output, "thumbnail.png", path,
                             S_ARTIFACTS_RESERVED);
    if (rc < 0) {
        if (rc != -ECANCELED)
            s_fail (error, rc, "cannot make", "thumbnail.png");
        goto cleanup;
    }
    rc = s_report (&poller, 1.0, "Slides ready", 0);

cleanup:
    if (surface)
        cairo_surface_destroy (surface);
    free (plan);
    return rc;
}
