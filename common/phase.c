/*  phase — the step table, status names and the stage → phase mapping. */
#include "phase.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    double lo;
    double hi;
} s_steps[STEP_COUNT] = {
    [STEP_PLAN] = { "plan", 0, 15 },
    [STEP_TTS] = { "tts", 15, 35 },
    [STEP_VISUALS] = { "visuals", 35, 65 },
    [STEP_COMPOSE] = { "compose", 65, 85 },
    [STEP_RENDER] = { "render", 85, 100 },
};

static const char *s_job_status_names[JOB_STATUS_COUNT] = {
    [JOB_QUEUED] = "Queued",   [JOB_RUNNING] = "Running",
    [JOB_DONE] = "Done",       [JOB_FAILED] = "Failed",
    [JOB_CANCELED] = "Canceled",
};

static const char *s_step_status_names[STEP_STATUS_COUNT] = {
    [STEP_PENDING] = "Pending", [STEP_RUNNING] = "Running",
    [STEP_DONE] = "Done",       [STEP_SKIPPED] = "Skipped",
    [STEP_FAILED] = "Failed",   [STEP_CANCELED] = "Canceled",
};

/*  Every stage name the seed's MapStageToPhase knows, and its phase. */
static const struct {
    const char *stage;
    const char *phase;
} s_stage_map[] = {
    { "initialization", "plan" }, { "queued", "plan" },
    { "script", "plan" },         { "planning", "plan" },
    { "brief", "plan" },          { "tts", "tts" },
    { "audio", "tts" },           { "voice", "tts" },
    { "visuals", "visuals" },     { "images", "visuals" },
    { "assets", "visuals" },      { "composition", "compose" },
    { "timeline", "compose" },    { "compose", "compose" },
    { "rendering", "render" },    { "render", "render" },
    { "encode", "render" },       { "complete", "complete" },
    { "done", "complete" },
};

const char *
step_name (step_t step)
{
    if ((unsigned) step >= STEP_COUNT)
        return "?";
    return s_steps[step].name;
}

int
step_parse (const char *name, step_t *step)
{
    for (int i = 0; name && i < STEP_COUNT; i++) {
        if (strcmp (name, s_steps[i].name) == 0) {
            *step = (step_t) i;
            return 0;
        }
    }
    return -EINVAL;
}

double
step_range_lo (step_t step)
{
    return (unsigned) step < STEP_COUNT ? s_steps[step].lo : 0;
}

double
step_range_hi (step_t step)
{
    return (unsigned) step < STEP_COUNT ? s_steps[step].hi : 100;
}

double
step_overall_percent (step_t step, double fraction)
{
    if (!(fraction > 0)) /* also catches NaN */
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    double lo = step_range_lo (step);
    return lo + (step_range_hi (step) - lo) * fraction;
}

const char *
job_status_name (job_status_t status)
{
    return (unsigned) status < JOB_STATUS_COUNT ? s_job_status_names[status]
                                                : "?";
}

int
job_status_parse (const char *name, job_status_t *status)
{
    for (int i = 0; name && i < JOB_STATUS_COUNT; i++) {
        if (strcmp (name, s_job_status_names[i]) == 0) {
            *status = (job_status_t) i;
            return 0;
        }
    }
    return -EINVAL;
}

bool
job_status_is_terminal (job_status_t status)
{
    return status == JOB_DONE || status == JOB_FAILED
           || status == JOB_CANCELED;
}

const char *
step_status_name (step_status_t status)
{
    return (unsigned) status < STEP_STATUS_COUNT ? s_step_status_names[status]
                                                 : "?";
}

int
step_status_parse (const char *name, step_status_t *status)
{
    for (int i = 0; name && i < STEP_STATUS_COUNT; i++) {
        if (strcmp (name, s_step_status_names[i]) == 0) {
            *status = (step_status_t) i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *
phase_from_stage (const char *stage)
{
    if (stage) {
        size_t n = sizeof s_stage_map / sizeof s_stage_map[0];
        for (size_t i = 0; i < n; i++)
            if (strcasecmp (stage, s_stage_map[i].stage) == 0)
                return s_stage_map[i].phase;
    }
    return "processing";
}
