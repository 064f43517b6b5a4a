/*  Unit tests of the visuals step: slides of the right size for every
    aspect, a thumbnail, text that is too long shrunk to fit with a warning,
    palettes by style, slides already written kept, and cancelling. */
#include <cairo.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/visuals.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/*  Helpers                                                            */

#define MAX_WARNINGS 32

typedef struct {
    int count;
    char codes[MAX_WARNINGS][64];
    char messages[MAX_WARNINGS][PIPELINE_MESSAGE_SIZE];
} warnings_t;

static void
s_warn (void *ctx, const char *code, const char *message)
{
    warnings_t *w = ctx;
    if (w->count >= MAX_WARNINGS)
        return;
    snprintf (w->codes[w->count], sizeof w->codes[0], "%s", code);
    snprintf (w->messages[w->count], sizeof w->messages[0], "%s", message);
    w->count++;
}

typedef struct {
    int reports;
    double last_fraction;
    int stop_at_report;            /* 0: never */
    bool stopped;
    int calls_after_stop;
} progress_t;

static int
s_progress (void *ctx, step_t step, double fraction, const char *message,
            int eta_s)
{
    (void) eta_s;
    progress_t *p = ctx;
    ck_assert_int_eq (step, STEP_VISUALS);
    if (p->stopped) {
        p->calls_after_stop++;
        return -ECANCELED;
    }
    if (message) {
        p->reports++;
        ck_assert (fraction >= p->last_fraction);
        p->last_fraction = fraction;
        if (p->stop_at_report && p->reports == p->stop_at_report)
            p->stopped = true;
    }
    return p->stopped ? -ECANCELED : 0;
}

static char *
s_tempdir (void)
{
    char dir[64];
    test_dir_make (dir, sizeof dir, "visuals");
    char *copy = strdup (dir);
    ck_assert_ptr_nonnull (copy);
    return copy;
}

static void
s_tempdir_remove (char *dir)
{
    test_dir_remove (dir);
    free (dir);
}

static void
s_plan_make (media_plan_t *plan, int width, int height, const char *style,
             int scenes)
{
    memset (plan, 0, sizeof *plan);
    snprintf (plan->topic, sizeof plan->topic, "How tides work");
    snprintf (plan->style, sizeof plan->style, "%s", style);
    plan->width = width;
    plan->height = height;
    plan->fps = 30;
    plan->quality = 60;
    plan->scene_count = scenes;
    /* what the plan step fills in; plan.json must hold it */
    snprintf (plan->language, sizeof plan->language, "en-us");
    plan->target_duration_s = 30;
    plan->words_per_minute = 160;
    plan->voice_rate = 1.0;
    plan->voice_pause_s = 0.5;
    for (int i = 0; i < scenes; i++) {
        media_scene_t *s = &plan->scenes[i];
        snprintf (s->heading, sizeof s->heading, "Scene %d: the Moon pulls",
                  i + 1);
        s->bullet_count = 3;
        snprintf (s->bullets[0], sizeof s->bullets[0],
                  "Gravity falls off with distance");
        snprintf (s->bullets[1], sizeof s->bullets[1],
                  "Two bulges, one on each side");
        snprintf (s->bullets[2], sizeof s->bullets[2],
                  "Earth turns beneath them");
        snprintf (s->narration, sizeof s->narration,
                  "The Moon pulls the oceans.");
        s->target_s = 10;
    }
}

/*  The longest text media.h allows, in wide letters. */
static void
s_scene_overfill (media_scene_t *s)
{
    memset (s->heading, 'W', sizeof s->heading - 1);
    s->heading[sizeof s->heading - 1] = '\0';
    for (int i = 20; i < (int) sizeof s->heading - 1; i += 9)
        s->heading[i] = ' ';
    s->bullet_count = MEDIA_MAX_BULLETS;
    for (int b = 0; b < MEDIA_MAX_BULLETS; b++) {
        memset (s->bullets[b], 'M', sizeof s->bullets[b] - 1);
        s->bullets[b][sizeof s->bullets[b] - 1] = '\0';
        for (int i = 7; i < (int) sizeof s->bullets[b] - 1; i += 8)
            s->bullets[b][i] = ' ';
    }
}

static void
s_plan_write (const media_plan_t *plan, const char *dir)
{
    char path[4096];
    ck_assert_int_eq (media_path (path, sizeof path, dir, "plan.json"), 0);
    ck_assert_int_eq (media_plan_save (plan, path), 0);
}

static int
s_run (const char *dir, warnings_t *warnings, progress_t *progress,
       pipeline_output_t *output, pipeline_error_t *error)
{
    pipeline_options_t options = { 0 };
    pipeline_input_t input = {
        .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        .attempt = 1,
        .spec = "{}",
        .spec_len = 2,
        .artifact_dir = dir,
        .options = &options,
        .warn = s_warn,
        .warn_ctx = warnings,
    };
    memset (output, 0, sizeof *output);
    memset (error, 0, sizeof *error);
    return media_step_visuals (&input, output, s_progress, progress, error);
}

/*  Width and height of a PNG file, both -1 when it cannot be read. */
static void
s_png_size (const char *dir, const char *name, int *width, int *height)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    cairo_surface_t *png = cairo_image_surface_create_from_png (path);
    *width = *height = -1;
    if (cairo_surface_status (png) == CAIRO_STATUS_SUCCESS) {
        *width = cairo_image_surface_get_width (png);
        *height = cairo_image_surface_get_height (png);
    }
    cairo_surface_destroy (png);
}

static uint32_t
s_pixel (cairo_surface_t *surface, int x, int y)
{
    cairo_surface_flush (surface);
    const unsigned char *data = cairo_image_surface_get_data (surface);
    int stride = cairo_image_surface_get_stride (surface);
    uint32_t pixel;
    memcpy (&pixel, data + (size_t) y * stride + (size_t) x * 4, 4);
    return pixel;
}

/*  True when the rectangle holds the same pixels on both surfaces. */
static bool
s_same_region (cairo_surface_t *a, cairo_surface_t *b, int x0, int y0, int x1,
               int y1)
{
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            if (s_pixel (a, x, y) != s_pixel (b, x, y))
                return false;
    return true;
}

/* ------------------------------------------------------------------ */
/*  Tests                                                              */

static const struct {
    int width, height;
} s_aspects[] = {
    { 640, 360 },                  /* 16:9 */
    { 360, 640 },                  /* 9:16 */
    { 480, 480 },                  /* 1:1 */
};

START_TEST (test_slides_have_the_plan_size)
{
    int width = s_aspects[_i].width;
    int height = s_aspects[_i].height;
    char *dir = s_tempdir ();
    media_plan_t *plan = malloc (sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    s_plan_make (plan, width, height, "modern", 3);
    s_plan_write (plan, dir);

    warnings_t warnings = { 0 };
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &warnings, &progress, &output, &error), 0);

    for (int i = 1; i <= 3; i++) {
        char name[32];
        int w, h;
        snprintf (name, sizeof name, "scene-%02d.png", i);
        s_png_size (dir, name, &w, &h);
        ck_assert_int_eq (w, width);
        ck_assert_int_eq (h, height);
    }
    int w, h;
    s_png_size (dir, "thumbnail.png", &w, &h);
    ck_assert_int_eq (w, 640);
    ck_assert_int_eq (h, (640 * height + width / 2) / width);

    /* ordinary text fits as designed: no warning */
    ck_assert_int_eq (warnings.count, 0);
    ck_assert_int_ge (progress.reports, 3);
    ck_assert (progress.last_fraction == 1.0);
    ck_assert_int_eq (test_dir_count (dir, ".tmp"), 0);

    ck_assert_uint_eq (output.artifact_count, 4);
    for (size_t i = 0; i < output.artifact_count; i++) {
        ck_assert_str_eq (output.artifacts[i].type, "image/png");
        ck_assert_int_gt (output.artifacts[i].size_bytes, 1000);
    }
    ck_assert_str_eq (output.artifacts[0].path, "scene-01.png");
    ck_assert_str_eq (output.artifacts[3].path, "thumbnail.png");

    free (plan);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_long_text_shrinks_to_fit)
{
    int width = s_aspects[_i].width;
    int height = s_aspects[_i].height;
    media_plan_t *plan = malloc (sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    s_plan_make (plan, width, height, "minimal", 3);
    cairo_surface_t *normal
        = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
    cairo_surface_t *crowded
        = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);

    double scale = 0;
    ck_assert_int_eq (media_visuals_draw_slide (plan, 1, normal, &scale), 0);
    ck_assert (scale == 1.0);
    s_scene_overfill (&plan->scenes[1]);
    ck_assert_int_eq (media_visuals_draw_slide (plan, 1, crowded, &scale), 0);
    ck_assert (scale < 1.0);
    ck_assert (scale > 0.2);

    /* the text changed the content area but stayed out of the margins and
       the footer: the borders of both slides are pixel for pixel the same */
    int unit = (width < height ? width : height) / 100;
    ck_assert (!s_same_region (normal, crowded, 0, 0, width, height));
    ck_assert (s_same_region (normal, crowded, 0, 0, width, 5 * unit));
    ck_assert (s_same_region (normal, crowded, 0, height - 9 * unit, width,
                              height));
    ck_assert (s_same_region (normal, crowded, 0, 0, 5 * unit, height));
    ck_assert (s_same_region (normal, crowded, width - 5 * unit, 0, width,
                              height));
    cairo_surface_destroy (normal);
    cairo_surface_destroy (crowded);

    /* the step names the scene in a TextShrunk warning */
    char *dir = s_tempdir ();
    s_plan_write (plan, dir);
    warnings_t warnings = { 0 };
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &warnings, &progress, &output, &error), 0);
    ck_assert_int_eq (warnings.count, 1);
    ck_assert_str_eq (warnings.codes[0], "TextShrunk");
    ck_assert_ptr_nonnull (strstr (warnings.messages[0], "scene 2"));
    int w, h;
    s_png_size (dir, "scene-02.png", &w, &h);
    ck_assert_int_eq (w, width);
    ck_assert_int_eq (h, height);

    free (plan);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_styles_have_their_own_palette)
{
    const char *styles[] = { "modern", "minimal", "playful", "corporate" };
    enum { STYLES = 4 };
    media_plan_t *plan = malloc (sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    s_plan_make (plan, 320, 180, "modern", 3);
    uint32_t corner[STYLES];
    cairo_surface_t *modern = NULL;
    for (int i = 0; i < STYLES; i++) {
        snprintf (plan->style, sizeof plan->style, "%s", styles[i]);
        cairo_surface_t *slide
            = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 320, 180);
        ck_assert_int_eq (media_visuals_draw_slide (plan, 0, slide, NULL), 0);
        corner[i] = s_pixel (slide, 1, 90);
        for (int j = 0; j < i; j++)
            ck_assert_uint_ne (corner[i], corner[j]);
        if (i == 0)
            modern = slide;
        else
            cairo_surface_destroy (slide);
    }
    /* an unknown style draws as modern */
    snprintf (plan->style, sizeof plan->style, "baroque");
    cairo_surface_t *unknown
        = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 320, 180);
    ck_assert_int_eq (media_visuals_draw_slide (plan, 0, unknown, NULL), 0);
    ck_assert (s_same_region (modern, unknown, 0, 0, 320, 180));
    cairo_surface_destroy (unknown);
    cairo_surface_destroy (modern);

    /* and a scene out of range is refused */
    cairo_surface_t *slide
        = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 320, 180);
    ck_assert_int_eq (media_visuals_draw_slide (plan, 3, slide, NULL), -EINVAL);
    cairo_surface_destroy (slide);
    free (plan);
}
END_TEST

START_TEST (test_existing_slides_are_kept)
{
    char *dir = s_tempdir ();
    media_plan_t *plan = malloc (sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    s_plan_make (plan, 320, 180, "playful", 3);
    s_scene_overfill (&plan->scenes[1]);
    s_plan_write (plan, dir);

    /* an earlier attempt finished scene 2: a stand-in of another size */
    char path[4096];
    snprintf (path, sizeof path, "%s/scene-02.png", dir);
    cairo_surface_t *marker =
        cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 8, 8);
    ck_assert_int_eq (cairo_surface_write_to_png (marker, path),
                      CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy (marker);

    warnings_t warnings = { 0 };
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &warnings, &progress, &output, &error), 0);
    int w, h;
    s_png_size (dir, "scene-02.png", &w, &h);
    ck_assert_int_eq (w, 8);
    s_png_size (dir, "scene-03.png", &w, &h);
    ck_assert_int_eq (w, 320);
    /* the crowded scene was not drawn again, so no warning */
    ck_assert_int_eq (warnings.count, 0);
    ck_assert_uint_eq (output.artifact_count, 4);

    free (plan);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_cancel_stops_between_slides)
{
    char *dir = s_tempdir ();
    media_plan_t *plan = malloc (sizeof *plan);
    ck_assert_ptr_nonnull (plan);
    s_plan_make (plan, 320, 180, "corporate", 4);
    s_plan_write (plan, dir);

    warnings_t warnings = { 0 };
    progress_t progress = { .stop_at_report = 2 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run (dir, &warnings, &progress, &output, &error),
                      -ECANCELED);
    ck_assert_int_eq (progress.calls_after_stop, 0);
    char path[4096];
    snprintf (path, sizeof path, "%s/scene-01.png", dir);
    ck_assert (media_file_exists (path));
    snprintf (path, sizeof path, "%s/scene-02.png", dir);
    ck_assert (!media_file_exists (path));
    snprintf (path, sizeof path, "%s/thumbnail.png", dir);
    ck_assert (!media_file_exists (path));
    ck_assert_int_eq (test_dir_count (dir, ".tmp"), 0);

    free (plan);
    s_tempdir_remove (dir);
}
END_TEST

START_TEST (test_missing_plan_fails)
{
    char *dir = s_tempdir ();
    warnings_t warnings = { 0 };
    progress_t progress = { 0 };
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_lt (s_run (dir, &warnings, &progress, &output, &error), 0);
    ck_assert_str_eq (error.code, "VisualsFailed");
    ck_assert_ptr_nonnull (strstr (error.message, "plan.json"));
    s_tempdir_remove (dir);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("media_visuals");
    TCase *tc = tcase_create ("visuals");
    tcase_set_timeout (tc, 60);
    int aspects = (int) (sizeof s_aspects / sizeof s_aspects[0]);
    tcase_add_loop_test (tc, test_slides_have_the_plan_size, 0, aspects);
    tcase_add_loop_test (tc, test_long_text_shrinks_to_fit, 0, aspects);
    tcase_add_test (tc, test_styles_have_their_own_palette);
    tcase_add_test (tc, test_existing_slides_are_kept);
    tcase_add_test (tc, test_cancel_stops_between_slides);
    tcase_add_test (tc, test_missing_plan_fails);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
