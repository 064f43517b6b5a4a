/*  pipeline — the table of known pipelines and the functions every step
    uses: errors, artifacts, and waiting without missing a stop. */
#include "pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "media.h"

static const pipeline_t *s_pipelines[] = {
    &pipeline_media,
    &pipeline_synthetic,
};

const pipeline_t *
pipeline_find (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof s_pipelines / sizeof s_pipelines[0]; i++)
        if (strcmp (s_pipelines[i]->name, name) == 0)
            return s_pipelines[i];
    return NULL;
}

void
pipeline_error_set (pipeline_error_t *error, const char *code, bool retryable,
                    const char *fmt, ...)
{
    snprintf (error->code, sizeof error->code, "%s", code);
    va_list args;
    va_start (args, fmt);
    vsnprintf (error->message, sizeof error->message, fmt, args);
    va_end (args);
    error->retryable = retryable;
}

void
pipeline_warn (const pipeline_input_t *input, const char *code,
               const char *fmt, ...)
{
    if (!input->warn)
        return;
    char message[PIPELINE_MESSAGE_SIZE];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    input->warn (input->warn_ctx, code, message);
}

/*  Copies src into dest[size]. Returns 0, or -ENOSPC when it does not fit. */
static int
s_copy (char *dest, size_t size, const char *src)
{
    size_t len = strlen (src);
    if (len >= size)
        return -ENOSPC;
    memcpy (dest, src, len + 1);
    return 0;
}

int
pipeline_output_add_artifact (pipeline_output_t *output, const char *name,
                              const char *path, const char *type,
                              int64_t size_bytes)
{
    if (output->artifact_count >= PIPELINE_MAX_ARTIFACTS || size_bytes < 0)
        return -ENOSPC;
    pipeline_artifact_t artifact;
    if (s_copy (artifact.name, sizeof artifact.name, name) < 0
        || s_copy (artifact.path, sizeof artifact.path, path) < 0
        || s_copy (artifact.type, sizeof artifact.type, type) < 0)
        return -ENOSPC;
    artifact.size_bytes = size_bytes;
    output->artifacts[output->artifact_count++] = artifact;
    return 0;
}

int64_t
pipeline_clock_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int
pipeline_wait_ms (int64_t ms, step_t step, pipeline_progress_fn progress,
                  void *progress_ctx)
{
    int64_t deadline = pipeline_clock_ms () + ms;
    while (true) {
        if (progress (progress_ctx, step, 0, NULL, -1) != 0)
            return -ECANCELED;
        int64_t left = deadline - pipeline_clock_ms ();
        if (left <= 0)
            return 0;
        if (left > PIPELINE_POLL_SLICE_MS)
            left = PIPELINE_POLL_SLICE_MS;
        /* a signal cuts a slice short; the loop measures from the clock */
        struct timespec slice = { .tv_sec = 0, .tv_nsec = (long) left * 1000000L };
        nanosleep (&slice, NULL);
    }
}
