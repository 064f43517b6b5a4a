/*  follow — watches one job's event stream (GET /api/jobs/{id}/events)
    from its first event to its terminal one, across dropped connections
    and gateway restarts: each reconnect sends Last-Event-ID, so the
    gateway resumes right after the last event seen. */
#ifndef AURA_CLI_FOLLOW_H
#define AURA_CLI_FOLLOW_H

#include "display.h"
#include "http.h"

/*  Reconnect attempts in a row, without a byte read between them, before
    the stream is given up; the waits double from the server's `retry:`
    (1 s by default): 1, 2, 4, 8, 16 s. */
#define FOLLOW_MAX_ATTEMPTS 5

/*  A stream silent this long (the gateway's keepalives come every 10 s by
    default) is taken for dead and reopened. */
#define FOLLOW_IDLE_S 60L

/*  Shows the events of job on display until the job ends. Returns the
    exit status: AURA_EXIT_OK (job-completed), AURA_EXIT_JOB_FAILED,
    AURA_EXIT_CANCELLED; AURA_EXIT_USAGE for a 4xx answer (unknown job,
    no token); AURA_EXIT_UNAVAILABLE when the gateway cannot be reached at
    first, or the stream stays lost through FOLLOW_MAX_ATTEMPTS attempts;
    AURA_EXIT_INTERRUPTED once the client is interrupted. Reasons go to
    stderr. The events of a job that was retried include the end of each
    earlier attempt: those are shown, and only the end of the job as it
    stood when the follow began, or later, counts. */
int follow_job (http_client_t *http, const char *job, display_t *display);

#endif
