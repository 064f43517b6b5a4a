/*  pipeline — the five steps that turn a job's specification into its
    outputs, behind one interface that knows nothing of sockets or of the
    wire protocol. A pipeline is a named table of step functions; the worker
    runs them in order and turns their progress reports into events. */
#ifndef AURA_WORKER_PIPELINE_H
#define AURA_WORKER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phase.h"

#define PIPELINE_CODE_SIZE 64
#define PIPELINE_MESSAGE_SIZE 512
#define PIPELINE_MAX_ARTIFACTS 16
/*  Room for a path in the artifact directory. */
#define PIPELINE_PATH_SIZE 1024
/*  Longest a step may go without asking whether to stop (see
    pipeline_wait_ms): a cancel or a shutdown is noticed within this. */
#define PIPELINE_POLL_SLICE_MS 50

/*  Settings from configuration that steps may need. Each pipeline reads the
    ones that concern it and ignores the rest. */
typedef struct {
    int synthetic_step_ms;                /* duration of each synthetic step */
    int synthetic_reports;                /* its progress reports; <= 0: 4 */
    char synthetic_fail_step[16];         /* step name, or "": never fail */
    char artifact_root[512];              /* jobs' directories live here; "" = none */
} pipeline_options_t;

/*  Called by a step for a problem users should hear about that does not
    fail the job (a font shrunk to fit, an unknown voice replaced): `code`
    is a short CamelCase name, `message` a line for people. */
typedef void (*pipeline_warn_fn) (void *ctx, const char *code,
                                  const char *message);

/*  What a step knows about its job. Strings stay valid, unchanged, for as
    long as the step runs. */
typedef struct {
    const char *job_id;                   /* 26-character job id */
    int attempt;                          /* 1, 2, … */
    const char *spec;                     /* the job request, JSON text, NUL-terminated */
    size_t spec_len;
    const char *artifact_dir;             /* the job's directory, "" when none
                                             (no artifact root, or a pipeline
                                             that writes no files) */
    const pipeline_options_t *options;
    pipeline_warn_fn warn;                /* may be NULL: use pipeline_warn */
    void *warn_ctx;
} pipeline_input_t;

typedef struct {
    char name[64];                        /* "video.mp4" */
    char path[256];                       /* relative to the artifact directory */
    char type[64];                        /* MIME type */
    int64_t size_bytes;
} pipeline_artifact_t;

/*  What the steps of one job have produced so far. The runner zeroes it
    before the first step; each step adds what it made, and the whole of it
    is reported when the job completes. */
typedef struct {
    pipeline_artifact_t artifacts[PIPELINE_MAX_ARTIFACTS];
    size_t artifact_count;
    char video_path[256];                 /* relative path, "" when none */
    char subtitle_path[256];
    int64_t size_bytes;                   /* of the video */
    double duration_s;
} pipeline_output_t;

/*  Why a step failed. `code` is a short CamelCase name clients can match
    on ("SyntheticFailure", "VoiceNotFound"); `message` is for people;
    `retryable` says whether running the job again may succeed. */
typedef struct {
    char code[PIPELINE_CODE_SIZE];
    char message[PIPELINE_MESSAGE_SIZE];
    bool retryable;
} pipeline_error_t;

/*  Called by a step to report that it is `fraction` (0..1) done, with a
    line for people saying what it is doing and the seconds it still needs
    (-1 when unknown). A call with message NULL reports nothing and only
    asks whether to go on; fraction and eta_s are then ignored.
    Returns 0 to go on, or -ECANCELED when the job is being cancelled or the
    worker is stopping: the step must then release what it holds and return
    -ECANCELED without reporting again. */
typedef int (*pipeline_progress_fn) (void *ctx, step_t step, double fraction,
                                     const char *message, int eta_s);

/*  One step. It runs on the thread of the job's worker slot, which runs
    the slot's jobs one after another; it may block, and must call
    `progress` (with progress_ctx) at least every PIPELINE_POLL_SLICE_MS.
    Returns 0 when the step is done, -ECANCELED when progress told it to
    stop, or another negative errno when it failed, with *error filled in
    (a step that leaves error->code empty gets a generic one). */
typedef int (*pipeline_step_fn) (const pipeline_input_t *input,
                                 pipeline_output_t *output,
                                 pipeline_progress_fn progress,
                                 void *progress_ctx, pipeline_error_t *error);

/*  Lists what a finished job delivers, after its last step succeeded:
    fills output (artifacts, video and subtitle paths, size, duration) from
    the job's artifact directory, so that steps skipped on a retry, which
    reported nothing this attempt, still count. Returns 0 or -errno. */
typedef int (*pipeline_collect_fn) (const pipeline_input_t *input,
                                    pipeline_output_t *output);

/*  Whether what step produced in an earlier attempt is still in the
    job's artifact directory, so that a retried attempt may skip it. A
    step the broker lists as done whose outputs are gone (a directory
    cleaned up, a job moved between pipelines) runs again, and so does
    every step after it. */
typedef bool (*pipeline_ready_fn) (const pipeline_input_t *input, step_t step);

typedef struct {
    const char *name;
    pipeline_step_fn steps[STEP_COUNT];   /* indexed by step_t, none NULL */
    pipeline_collect_fn collect;          /* NULL: what the steps reported */
    pipeline_ready_fn ready;              /* NULL: a done step stays done */
    /*  Whether the steps write files. Only then does the runner make the
        job's directory under options->artifact_root before the first
        step; otherwise the steps, ready and collect get artifact_dir "". */
    bool writes_files;
} pipeline_t;

/*  Returns the pipeline called `name`, or NULL when there is none. The
    tables are static and shared by every job. */
const pipeline_t *pipeline_find (const char *name);

/*  Fills *error; the message is printf-formatted and cut to fit. */
void pipeline_error_set (pipeline_error_t *error, const char *code,
                         bool retryable, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/*  Reports a warning through input->warn when there is one; the message is
    printf-formatted and cut to fit. */
void pipeline_warn (const pipeline_input_t *input, const char *code,
                    const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/*  Adds an artifact to output. Returns 0, or -ENOSPC when the list is full
    or a string does not fit its field (output is then unchanged). */
int pipeline_output_add_artifact (pipeline_output_t *output, const char *name,
                                  const char *path, const char *type,
                                  int64_t size_bytes);

/*  Sleeps `ms` milliseconds in slices of at most PIPELINE_POLL_SLICE_MS,
    asking `progress` before each slice whether to go on. Returns 0 after
    the full time, or -ECANCELED as soon as progress says stop. */
int pipeline_wait_ms (int64_t ms, step_t step, pipeline_progress_fn progress,
                      void *progress_ctx);

/*  Milliseconds on a monotonic clock, for measuring elapsed time and ETAs. */
int64_t pipeline_clock_ms (void);

/*  The synthetic pipeline (synthetic.c): timed steps that do no real work,
    for tests and benchmarks. */
extern const pipeline_t pipeline_synthetic;

#endif
