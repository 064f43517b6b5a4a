/*  bench_media — how fast the visuals and render steps of the media
    pipeline run on this machine.

    For 720p and 1080p it builds a synthetic job in a temporary directory
    (a 6-scene plan, sine-tone narration, a 30 s timeline), runs the visuals
    step and then the render step through the pipeline interface, and prints
    seconds of video made per second of wall time, milliseconds per slide,
    encoded frames per second, and the longest gap between two progress
    calls. `--quality=N` (0..100, default 75) picks CRF and preset as jobs
    do; `--size=720p` or `--size=1080p` runs one size only; `--runs=N`
    renders each size N times (the machine may be busy: compare the best,
    and the CPU seconds, which depend less on what else runs). It prints
    figures; it asserts nothing about speed. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/media.h"

#define BENCH_SCENES 6
#define BENCH_SCENE_S 5.0          /* 6 × 5 s = 30 s */
#define BENCH_NARRATION_S 4.2      /* the rest of each clip is pause */
#define BENCH_FPS 30
#define BENCH_WAV_RATE 22050

typedef struct {
    int64_t last_call_ms;
    int64_t longest_gap_ms;
} gaps_t;

static int
s_progress (void *ctx, step_t step, double fraction, const char *message,
            int eta_s)
{
    (void) step;
    (void) fraction;
    (void) message;
    (void) eta_s;
    gaps_t *gaps = ctx;
    int64_t now_ms = pipeline_clock_ms ();
    if (now_ms - gaps->last_call_ms > gaps->longest_gap_ms)
        gaps->longest_gap_ms = now_ms - gaps->last_call_ms;
    gaps->last_call_ms = now_ms;
    return 0;
}

static void
s_warn (void *ctx, const char *code, const char *message)
{
    (void) ctx;
    fprintf (stderr, "bench: warning %s: %s\n", code, message);
}

static void
s_put_le (uint8_t *p, uint32_t value, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t) (value >> (8 * i));
}

/*  A mono 16-bit WAV of a tone whose loudness wobbles like speech.
    Returns 0 or -errno. */
static int
s_wav_write (const char *path, double frequency, double seconds)
{
    int frames = (int) (seconds * BENCH_WAV_RATE);
    uint32_t data_bytes = (uint32_t) frames * 2;
    uint8_t header[44];
    memcpy (header, "RIFF", 4);
    s_put_le (header + 4, 36 + data_bytes, 4);
    memcpy (header + 8, "WAVEfmt ", 8);
    s_put_le (header + 16, 16, 4);
    s_put_le (header + 20, 1, 2);
    s_put_le (header + 22, 1, 2);
    s_put_le (header + 24, BENCH_WAV_RATE, 4);
    s_put_le (header + 28, BENCH_WAV_RATE * 2, 4);
    s_put_le (header + 32, 2, 2);
    s_put_le (header + 34, 16, 2);
    memcpy (header + 36, "data", 4);
    s_put_le (header + 40, data_bytes, 4);
    uint8_t *data = malloc (data_bytes);
    if (!data)
        return -ENOMEM;
    for (int i = 0; i < frames; i++) {
        double t = (double) i / BENCH_WAV_RATE;
        double level = 0.5 + 0.5 * sin (2 * M_PI * 3 * t);
        int16_t sample = (int16_t) lround (12000 * level
                                           * sin (2 * M_PI * frequency * t));
        s_put_le (data + 2 * (size_t) i, (uint16_t) sample, 2);
    }
    int rc = 0;
    FILE *file = fopen (path, "wb");
    if (!file)
        rc = -errno;
    else {
        if (fwrite (header, 1, sizeof header, file) != sizeof header
            || fwrite (data, 1, data_bytes, file) != data_bytes)
            rc = -EIO;
        if (fclose (file) != 0 && rc == 0)
            rc = -errno;
    }
    free (data);
    return rc;
}

static void
s_dir_remove (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *entry;
    char path[4096];
    while ((entry = readdir (d))) {
        if (strcmp (entry->d_name, ".") == 0
            || strcmp (entry->d_name, "..") == 0)
            continue;
        snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
        unlink (path);
    }
    closedir (d);
    rmdir (dir);
}

static const char *s_headings[BENCH_SCENES] = {
    "Why the tides rise and fall twice a day",
    "The Moon pulls harder on the near side",
    "Two bulges, and Earth turns beneath them",
    "The Sun joins in: spring and neap tides",
    "Coastlines shape what we actually see",
    "Reading a tide table before you go",
};

/*  Writes plan.json, the narration and timeline.json for one size. */
static int
s_job_make (const char *dir, int width, int height, int quality)
{
    char path[4096];
    media_plan_t *plan = calloc (1, sizeof *plan);
    if (!plan)
        return -ENOMEM;
    snprintf (plan->topic, sizeof plan->topic, "How ocean tides work");
    snprintf (plan->style, sizeof plan->style, "modern");
    plan->width = width;
    plan->height = height;
    plan->fps = BENCH_FPS;
    plan->quality = quality;
    plan->audio_bitrate_k = 128;
    plan->scene_count = BENCH_SCENES;
    /* what the plan step fills in; plan.json must hold it */
    snprintf (plan->language, sizeof plan->language, "en-us");
    plan->target_duration_s = 30;
    plan->words_per_minute = 160;
    plan->voice_rate = 1.0;
    plan->voice_pause_s = 0.5;
    for (int i = 0; i < BENCH_SCENES; i++) {
        media_scene_t *s = &plan->scenes[i];
        snprintf (s->heading, sizeof s->heading, "%s", s_headings[i]);
        s->bullet_count = 3;
        snprintf (s->bullets[0], sizeof s->bullets[0],
                  "Gravity weakens with distance, so the pull is uneven");
        snprintf (s->bullets[1], sizeof s->bullets[1],
                  "Water piles up where the pull is strongest and weakest");
        snprintf (s->bullets[2], sizeof s->bullets[2],
                  "Earth's rotation carries every coast through both");
        s->target_s = BENCH_SCENE_S;
    }
    int rc = media_path (path, sizeof path, dir, "plan.json");
    if (rc == 0)
        rc = media_plan_save (plan, path);
    free (plan);
    if (rc < 0)
        return rc;

    media_timeline_t timeline = {
        .width = width,
        .height = height,
        .fps = BENCH_FPS,
        .crossfade_s = 0.5,
        .total_s = BENCH_SCENES * BENCH_SCENE_S,
        .clip_count = BENCH_SCENES,
    };
    for (int i = 0; i < BENCH_SCENES; i++) {
        timeline.clips[i].start_s = i * BENCH_SCENE_S;
        timeline.clips[i].duration_s = BENCH_SCENE_S;
        timeline.clips[i].audio_s = BENCH_NARRATION_S;
        char name[32];
        snprintf (name, sizeof name, "scene-%02d.wav", i + 1);
        rc = media_path (path, sizeof path, dir, name);
        if (rc == 0)
            rc = s_wav_write (path, 180.0 + 20 * i, BENCH_NARRATION_S);
        if (rc < 0)
            return rc;
    }
    rc = media_path (path, sizeof path, dir, "timeline.json");
    if (rc == 0)
        rc = media_timeline_save (&timeline, path);
    return rc;
}

/*  CPU seconds this process has used, all threads, user and system. */
static double
s_cpu_s (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage) != 0)
        return 0;
    return (double) usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
           + (double) usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

/*  Runs one step, timing it. Returns its result. */
static int
s_step_run (pipeline_step_fn step, const char *dir, double *wall_s,
            double *cpu_s, int64_t *longest_gap_ms, pipeline_output_t *output)
{
    pipeline_options_t options = { 0 };
    pipeline_input_t input = {
        .job_id = "01HBENCHBENCHBENCHBENCHBEN",
        .attempt = 1,
        .spec = "{}",
        .spec_len = 2,
        .artifact_dir = dir,
        .options = &options,
        .warn = s_warn,
    };
    pipeline_error_t error = { 0 };
    gaps_t gaps = { pipeline_clock_ms (), 0 };
    int64_t started_ms = gaps.last_call_ms;
    double started_cpu_s = s_cpu_s ();
    int rc = step (&input, output, s_progress, &gaps, &error);
    *wall_s = (pipeline_clock_ms () - started_ms) / 1000.0;
    *cpu_s = s_cpu_s () - started_cpu_s;
    *longest_gap_ms = gaps.longest_gap_ms;
    if (rc != 0)
        fprintf (stderr, "bench: step failed (%d): %s: %s\n", rc, error.code,
                 error.message);
    return rc;
}

static int
s_bench_size (const char *label, int width, int height, int quality, int runs)
{
    char dir[] = "/tmp/aura-bench-media-XXXXXX";
    if (!mkdtemp (dir)) {
        fprintf (stderr, "bench: mkdtemp: %s\n", strerror (errno));
        return -errno;
    }
    int rc = s_job_make (dir, width, height, quality);
    if (rc < 0) {
        fprintf (stderr, "bench: cannot write the job: %s\n", strerror (-rc));
        goto cleanup;
    }
    double video_s = BENCH_SCENES * BENCH_SCENE_S;
    double frames = round (video_s * BENCH_FPS);
    pipeline_output_t output = { 0 };
    double visuals_s, visuals_cpu_s;
    int64_t visuals_gap_ms;
    rc = s_step_run (media_step_visuals, dir, &visuals_s, &visuals_cpu_s,
                     &visuals_gap_ms, &output);
    if (rc != 0)
        goto cleanup;
    printf ("%-5s visuals: %d slides %dx%d in %.2f s: %.0f ms/slide, "
            "%.1fx real time, longest progress gap %lld ms\n",
            label, BENCH_SCENES, width, height, visuals_s,
            1000 * visuals_s / BENCH_SCENES, video_s / visuals_s,
            (long long) visuals_gap_ms);

    double best_s = 0;
    for (int run = 0; run < runs; run++) {
        /* a committed video is trusted: render anew each time */
        char path[4096];
        if (media_path (path, sizeof path, dir, "video.mp4") == 0)
            unlink (path);
        double render_s, render_cpu_s;
        int64_t render_gap_ms;
        memset (&output, 0, sizeof output);
        rc = s_step_run (media_step_render, dir, &render_s, &render_cpu_s,
                         &render_gap_ms, &output);
        if (rc != 0)
            goto cleanup;
        if (run == 0 || render_s < best_s)
            best_s = render_s;
        printf ("%-5s render:  %.0f s at %d fps in %.2f s: %.1fx real time, "
                "%.0f frames/s, CPU %.2f s (%.2f cores), %.2f MB, longest "
                "progress gap %lld ms\n",
                label, video_s, BENCH_FPS, render_s, video_s / render_s,
                frames / render_s, render_cpu_s, render_cpu_s / render_s,
                output.size_bytes / 1e6, (long long) render_gap_ms);
    }
    if (runs > 1)
        printf ("%-5s render:  best of %d: %.2f s, %.1fx real time, "
                "%.0f frames/s\n",
                label, runs, best_s, video_s / best_s, frames / best_s);

cleanup:
    s_dir_remove (dir);
    return rc;
}

/*  Parses "--name=N" with N in min..max into *value. */
static bool
s_option_int (const char *arg, const char *name, long min, long max,
              int *value)
{
    size_t len = strlen (name);
    if (strncmp (arg, name, len) != 0)
        return false;
    char *end = NULL;
    errno = 0;
    long parsed = strtol (arg + len, &end, 10);
    if (errno != 0 || end == arg + len || *end != '\0' || parsed < min
        || parsed > max)
        return false;
    *value = (int) parsed;
    return true;
}

int
main (int argc, char **argv)
{
    int quality = 75;
    int runs = 1;
    bool small = true, large = true;
    for (int i = 1; i < argc; i++) {
        if (s_option_int (argv[i], "--quality=", 0, 100, &quality)
            || s_option_int (argv[i], "--runs=", 1, 100, &runs))
            continue;
        if (strcmp (argv[i], "--size=720p") == 0) {
            large = false;
            continue;
        }
        if (strcmp (argv[i], "--size=1080p") == 0) {
            small = false;
            continue;
        }
        fprintf (stderr,
                 "usage: %s [--quality=0..100] [--size=720p|1080p] "
                 "[--runs=N]\n",
                 argv[0]);
        return 2;
    }
    double crf = 28.0 - 0.14 * quality;
    crf = crf < 14 ? 14 : crf > 28 ? 28 : crf;
    printf ("media steps, %d scenes, %.0f s of video, quality %d (CRF %.1f)\n",
            BENCH_SCENES, BENCH_SCENES * BENCH_SCENE_S, quality, crf);
    if ((small && s_bench_size ("720p", 1280, 720, quality, runs) != 0)
        || (large && s_bench_size ("1080p", 1920, 1080, quality, runs) != 0))
        return 1;
    return 0;
}
