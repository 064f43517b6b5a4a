/*  synthetic — a pipeline whose steps only take time. Each step lasts
    options->synthetic_step_ms and reports progress options->
    synthetic_reports times (4 by default), evenly spread, saying what the
    real step would be doing; it can be made to fail in one chosen step.
    Tests and benchmarks use it to exercise everything around the steps. */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*  Reports per step when the options leave it unset. */
#define SYNTHETIC_DEFAULT_REPORTS 4

/*  What each real step spends its time on, as shown to users. */
static const char *s_activity[STEP_COUNT] = {
    [STEP_PLAN] = "Planning scenes",
    [STEP_TTS] = "Synthesizing narration",
    [STEP_VISUALS] = "Drawing slides",
    [STEP_COMPOSE] = "Building timeline and subtitles",
    [STEP_RENDER] = "Encoding video",
};

/*  Runs one timed step: after each 1/reports of the step's time it reports
    progress. When the options name it, it fails after report
    max(1, reports / 2), at about half its time (2 of the default 4). */
static int
s_synthetic_step (step_t step, const pipeline_input_t *input,
                  pipeline_progress_fn progress, void *progress_ctx,
                  pipeline_error_t *error)
{
    int64_t step_ms = input->options->synthetic_step_ms;
    if (step_ms < 0)
        step_ms = 0;
    bool fail_here = strcmp (input->options->synthetic_fail_step,
                             step_name (step)) == 0;
    int reports = input->options->synthetic_reports;
    if (reports <= 0)
        reports = SYNTHETIC_DEFAULT_REPORTS;
    int fail_report = reports / 2 > 1 ? reports / 2 : 1;
    int64_t started_ms = pipeline_clock_ms ();

    for (int report = 1; report <= reports; report++) {
        /* wait for the report's point in time, not a fixed slice, so the
           time spent reporting does not add up across the step */
        int64_t due_ms = step_ms * report / reports;
        int64_t wait_ms = due_ms - (pipeline_clock_ms () - started_ms);
        if (pipeline_wait_ms (wait_ms > 0 ? wait_ms : 0, step, progress,
                              progress_ctx) < 0)
            return -ECANCELED;

        char message[PIPELINE_MESSAGE_SIZE];
        snprintf (message, sizeof message, "%s (%d/%d)", s_activity[step],
                  report, reports);
        int64_t left_ms = step_ms - due_ms;
        int eta_s = (int) ((left_ms + 999) / 1000);
        if (progress (progress_ctx, step, (double) report / reports,
                      message, eta_s) != 0)
            return -ECANCELED;

        if (fail_here && report == fail_report) {
            pipeline_error_set (error, "SyntheticFailure", true,
                                "synthetic failure in step %s at %d %%",
                                step_name (step),
                                100 * report / reports);
            return -EIO;
        }
    }
    return 0;
}

static int
s_synthetic_plan (const pipeline_input_t *input, pipeline_output_t *output,
                  pipeline_progress_fn progress, void *progress_ctx,
                  pipeline_error_t *error)
{
    (void) output;
    return s_synthetic_step (STEP_PLAN, input, progress, progress_ctx, error);
}

static int
s_synthetic_tts (const pipeline_input_t *input, pipeline_output_t *output,
                 pipeline_progress_fn progress, void *progress_ctx,
                 pipeline_error_t *error)
{
    (void) output;
    return s_synthetic_step (STEP_TTS, input, progress, progress_ctx, error);
}

static int
s_synthetic_visuals (const pipeline_input_t *input, pipeline_output_t *output,
                     pipeline_progress_fn progress, void *progress_ctx,
                     pipeline_error_t *error)
{
    (void) output;
    return s_synthetic_step (STEP_VISUALS, input, progress, progress_ctx, error);
}

static int
s_synthetic_compose (const pipeline_input_t *input, pipeline_output_t *output,
                     pipeline_progress_fn progress, void *progress_ctx,
                     pipeline_error_t *error)
{
    (void) output;
    return s_synthetic_step (STEP_COMPOSE, input, progress, progress_ctx, error);
}

static int
s_synthetic_render (const pipeline_input_t *input, pipeline_output_t *output,
                    pipeline_progress_fn progress, void *progress_ctx,
                    pipeline_error_t *error)
{
    (void) output;
    return s_synthetic_step (STEP_RENDER, input, progress, progress_ctx, error);
}

const pipeline_t pipeline_synthetic = {
    .name = "synthetic",
    .steps = {
        [STEP_PLAN] = s_synthetic_plan,
        [STEP_TTS] = s_synthetic_tts,
        [STEP_VISUALS] = s_synthetic_visuals,
        [STEP_COMPOSE] = s_synthetic_compose,
        [STEP_RENDER] = s_synthetic_render,
    },
    .writes_files = false,
};
