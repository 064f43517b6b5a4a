/*  bench_media — how fast the media pipeline turns a brief into a video on
    this machine, step by step.

    Each job is a real request body, the kind clients POST: the pipeline's
    five steps (plan, tts with espeak-ng, visuals, compose, render) run on
    it one after the other through the pipeline interface, in a temporary
    directory, as a worker runs them. For each step it prints the wall and
    CPU seconds it took and the seconds of video made per second of wall
    time (the video's length over the step's time), then the same for the
    whole job, and the longest gap between two progress calls (a cancel
    waits for the next one).

    The jobs: a 30 s explainer (Balanced, Conversational) at 720p and at
    1080p, at quality 75 (the default: CRF 17.5, x264 preset medium) and
    at quality 20 (CRF 25.2, preset veryfast), and the Quick Demo's own
    request (gateway/request.c). `--runs=N` runs each job N times and
    keeps the fastest run (the machine may be busy: the CPU seconds depend
    less on what else runs); `--size=720p|1080p`, `--quality=N` and
    `--duration=S` narrow or change the explainers; `--quick` runs one
    short 720p job, as a smoke test. Output is Markdown (progress goes to
    stderr). It asserts nothing about speed. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_proc.h"
#include "pipeline/media.h"
#include "request.h"

#define BENCH_STEPS 5
#define BENCH_MAX_JOBS 8

static const struct {
    const char *name;
    pipeline_step_fn run;
} s_steps[BENCH_STEPS] = {
    { "plan", media_step_plan },       { "tts", media_step_tts },
    { "visuals", media_step_visuals }, { "compose", media_step_compose },
    { "render", media_step_render },
};

/*  One step of one run. */
typedef struct {
    double wall_s;
    double cpu_s;
    int64_t longest_gap_ms;
} step_time_t;

/*  A job to run: its label and its request body. */
typedef struct {
    char label[64];
    char *spec;
    size_t spec_len;
    /* the fastest run */
    step_time_t steps[BENCH_STEPS];
    double video_s;
    double wall_s;
    double cpu_s;
    int64_t video_bytes;
} job_t;

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
    fprintf (stderr, "# warning %s: %s\n", code, message);
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

/*  Runs the job's five steps once, in a directory of its own, into the
    times given. Returns 0 or the failing step's result. */
static int
s_job_run_once (const job_t *job, step_time_t times[BENCH_STEPS],
                pipeline_output_t *output)
{
    char dir[] = "/tmp/aura-bench-media-XXXXXX";
    if (!mkdtemp (dir)) {
        fprintf (stderr, "bench_media: mkdtemp: %s\n", strerror (errno));
        return -errno;
    }
    pipeline_options_t options = { 0 };
    pipeline_input_t input = {
        .job_id = "01HBENCHBENCHBENCHBENCHBEN",
        .attempt = 1,
        .spec = job->spec,
        .spec_len = job->spec_len,
        .artifact_dir = dir,
        .options = &options,
        .warn = s_warn,
    };
    memset (output, 0, sizeof *output);
    int rc = 0;
    for (int i = 0; rc == 0 && i < BENCH_STEPS; i++) {
        pipeline_error_t error = { 0 };
        gaps_t gaps = { pipeline_clock_ms (), 0 };
        int64_t started_ms = gaps.last_call_ms;
        double started_cpu_s = s_cpu_s ();
        rc = s_steps[i].run (&input, output, s_progress, &gaps, &error);
        times[i].wall_s = (pipeline_clock_ms () - started_ms) / 1000.0;
        times[i].cpu_s = s_cpu_s () - started_cpu_s;
        times[i].longest_gap_ms = gaps.longest_gap_ms;
        if (rc != 0)
            fprintf (stderr, "bench_media: %s: %s failed (%d): %s: %s\n",
                     job->label, s_steps[i].name, rc, error.code,
                     error.message);
    }
    s_dir_remove (dir);
    return rc;
}

/*  Runs the job `runs` times and keeps its fastest run. */
static int
s_job_run (job_t *job, int runs)
{
    for (int run = 0; run < runs; run++) {
        step_time_t times[BENCH_STEPS];
        pipeline_output_t output;
        int rc = s_job_run_once (job, times, &output);
        if (rc != 0)
            return rc;
        double wall_s = 0, cpu_s = 0;
        for (int i = 0; i < BENCH_STEPS; i++) {
            wall_s += times[i].wall_s;
            cpu_s += times[i].cpu_s;
        }
        fprintf (stderr, "# %s, run %d: %.1f s of video in %.2f s\n",
                 job->label, run + 1, output.duration_s, wall_s);
        if (run == 0 || wall_s < job->wall_s) {
            memcpy (job->steps, times, sizeof times);
            job->wall_s = wall_s;
            job->cpu_s = cpu_s;
            job->video_s = output.duration_s;
            job->video_bytes = output.size_bytes;
        }
    }
    return 0;
}

/*  A request body for an explainer of duration_s at `res`, quality q. */
static int
s_explainer_spec (job_t *job, const char *res, int duration_s, int quality)
{
    snprintf (job->label, sizeof job->label, "%s, %d s, quality %d", res,
              duration_s, quality);
    char spec[1024];
    int len = snprintf (
        spec, sizeof spec,
        "{\"brief\":{\"topic\":\"How ocean tides work\","
        "\"audience\":\"Curious adults\","
        "\"goal\":\"Explain why most coasts see two tides a day\","
        "\"tone\":\"Informative\",\"language\":\"en-US\","
        "\"aspect\":\"Widescreen16x9\"},"
        "\"planSpec\":{\"targetDuration\":%d,\"pacing\":\"Conversational\","
        "\"density\":\"Balanced\",\"style\":\"modern\"},"
        "\"voiceSpec\":{\"voiceName\":\"en-us\"},"
        "\"renderSpec\":{\"res\":\"%s\",\"container\":\"mp4\",\"fps\":30,"
        "\"codec\":\"H264\",\"qualityLevel\":%d}}",
        duration_s, res, quality);
    job->spec = strdup (spec);
    job->spec_len = (size_t) len;
    return job->spec ? 0 : -ENOMEM;
}

static double
s_crf_for (int quality)
{
    double crf = 28.0 - 0.14 * quality;
    return crf < 14 ? 14 : crf > 28 ? 28 : crf;
}

static void
s_print_results (const job_t *jobs, int count, int runs, double load_before)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    printf ("Media pipeline, brief to MP4, one job at a time in one process "
            "(fastest of %d run%s; %ld cores; load average %.2f before, "
            "%.2f after; peak RSS %.0f MiB). Each cell: the step's wall "
            "time, its CPU time in brackets, and seconds of video made per "
            "second of wall time.\n\n",
            runs, runs == 1 ? "" : "s", sysconf (_SC_NPROCESSORS_ONLN),
            load_before, bench_load_average (), usage.ru_maxrss / 1024.0);
    printf ("| job | video |");
    for (int i = 0; i < BENCH_STEPS; i++)
        printf (" %s |", s_steps[i].name);
    printf (" whole | longest progress gap |\n|---|---|");
    for (int i = 0; i <= BENCH_STEPS + 1; i++)
        printf ("---|");
    printf ("\n");
    for (int j = 0; j < count; j++) {
        const job_t *job = &jobs[j];
        int64_t gap_ms = 0;
        printf ("| %s | %.1f s, %.2f MB |", job->label, job->video_s,
                job->video_bytes / 1e6);
        for (int i = 0; i < BENCH_STEPS; i++) {
            const step_time_t *t = &job->steps[i];
            double speed = job->video_s / (t->wall_s > 1e-4 ? t->wall_s : 1e-4);
            if (t->wall_s < 0.1)
                printf (" %.0f ms (%.0f)", 1000 * t->wall_s, 1000 * t->cpu_s);
            else
                printf (" %.2f s (%.2f)", t->wall_s, t->cpu_s);
            if (speed >= 1000)
                printf (" > 1000× |");
            else
                printf (" %.*f× |", speed < 10 ? 1 : 0, speed);
            if (t->longest_gap_ms > gap_ms)
                gap_ms = t->longest_gap_ms;
        }
        printf (" **%.2f s (%.2f) %.1f×** | %lld ms |\n", job->wall_s,
                job->cpu_s, job->video_s / job->wall_s, (long long) gap_ms);
    }
    printf ("\nQuality 75 is a request's default (CRF %.1f, x264 preset "
            "medium); quality 20 (CRF %.1f, veryfast) is the Quick Demo's.\n",
            s_crf_for (75), s_crf_for (20));
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
    int quality = -1;              /* -1: both 75 and 20 */
    int runs = 1;
    int duration_s = 30;
    bool small = true, large = true, quick = false;
    for (int i = 1; i < argc; i++) {
        if (s_option_int (argv[i], "--quality=", 0, 100, &quality)
            || s_option_int (argv[i], "--runs=", 1, 100, &runs)
            || s_option_int (argv[i], "--duration=", 5, 600, &duration_s))
            continue;
        if (strcmp (argv[i], "--size=720p") == 0)
            large = false;
        else if (strcmp (argv[i], "--size=1080p") == 0)
            small = false;
        else if (strcmp (argv[i], "--quick") == 0)
            quick = true;
        else {
            fprintf (stderr,
                     "usage: %s [--quality=0..100] [--size=720p|1080p] "
                     "[--duration=5..600] [--runs=N] [--quick]\n",
                     argv[0]);
            return 2;
        }
    }

    job_t jobs[BENCH_MAX_JOBS] = { 0 };
    int count = 0;
    int rc = 0;
    if (quick)
        rc = s_explainer_spec (&jobs[count++], "720p", 10, 20);
    else {
        const int qualities[2] = { 75, 20 };
        for (int q = 0; rc == 0 && q < 2; q++) {
            if (quality >= 0 && q > 0)
                break;
            int level = quality >= 0 ? quality : qualities[q];
            if (rc == 0 && small)
                rc = s_explainer_spec (&jobs[count++], "720p", duration_s,
                                       level);
            if (rc == 0 && large)
                rc = s_explainer_spec (&jobs[count++], "1080p", duration_s,
                                       level);
        }
        if (rc == 0) {
            job_t *demo = &jobs[count++];
            snprintf (demo->label, sizeof demo->label,
                      "Quick Demo (1080p, quality 20)");
            rc = request_demo_spec (&demo->spec, &demo->spec_len);
        }
    }
    if (rc != 0) {
        fprintf (stderr, "bench_media: out of memory\n");
        return 1;
    }

    double load_before = bench_load_average ();
    for (int j = 0; rc == 0 && j < count; j++)
        rc = s_job_run (&jobs[j], runs);
    if (rc == 0)
        s_print_results (jobs, count, runs, load_before);
    for (int j = 0; j < count; j++)
        free (jobs[j].spec);
    return rc == 0 ? 0 : 1;
}
