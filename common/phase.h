/*  phase — the five pipeline steps, the share of overall progress each one
    owns, the job and step status names, and the mapping of stage names onto
    phases. Pure tables: no allocation, no I/O. */
#ifndef AURA_PHASE_H
#define AURA_PHASE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    STEP_PLAN = 0,
    STEP_TTS,
    STEP_VISUALS,
    STEP_COMPOSE,
    STEP_RENDER,
    STEP_COUNT
} step_t;

typedef enum {
    JOB_QUEUED = 0,
    JOB_RUNNING,
    JOB_DONE,
    JOB_FAILED,
    JOB_CANCELED,
    JOB_STATUS_COUNT
} job_status_t;

typedef enum {
    STEP_PENDING = 0,
    STEP_RUNNING,
    STEP_DONE,
    STEP_SKIPPED,
    STEP_FAILED,
    STEP_CANCELED,
    STEP_STATUS_COUNT
} step_status_t;

/*  Lower-case step name ("plan" ... "render"); "?" for a value out of range. */
const char *step_name (step_t step);

/*  Parses an exact step name. Returns 0 and sets *step, or -EINVAL. */
int step_parse (const char *name, step_t *step);

/*  The overall-percent range a step owns: plan 0–15, tts 15–35,
    visuals 35–65, compose 65–85, render 85–100. */
double step_range_lo (step_t step);
double step_range_hi (step_t step);

/*  Overall percent for a step that is `fraction` (clamped to 0..1) done:
    lo + (hi - lo) * fraction. */
double step_overall_percent (step_t step, double fraction);

/*  "Queued", "Running", "Done", "Failed", "Canceled"; "?" out of range. */
const char *job_status_name (job_status_t status);
int job_status_parse (const char *name, job_status_t *status);

/*  True for Done, Failed and Canceled. */
bool job_status_is_terminal (job_status_t status);

/*  "Pending", "Running", "Done", "Skipped", "Failed", "Canceled". */
const char *step_status_name (step_status_t status);
int step_status_parse (const char *name, step_status_t *status);

/*  Maps a stage name from any producer onto a phase, case-insensitively:
    initialization|queued|script|planning|brief → "plan",
    tts|audio|voice → "tts", visuals|images|assets → "visuals",
    composition|timeline|compose → "compose",
    rendering|render|encode → "render", complete|done → "complete",
    anything else (NULL included) → "processing". Returns a static string. */
const char *phase_from_stage (const char *stage);

#endif
