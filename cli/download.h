/*  download — fetches the files that GET /api/jobs/{id} lists for a job
    into a directory. Each file is written as NAME.part and renamed to
    NAME only once its size is the one the server stated, so NAME is
    never a partial file; a NAME.part left behind is resumed with a Range
    request, and a NAME already of the right size is skipped. */
#ifndef AURA_CLI_DOWNLOAD_H
#define AURA_CLI_DOWNLOAD_H

#include <stdbool.h>

#include "http.h"

/*  Attempts per file in a row without a byte gained before giving up. */
#define DOWNLOAD_MAX_ATTEMPTS 3

/*  A transfer that stays silent this long is abandoned (and retried). */
#define DOWNLOAD_IDLE_S 60L

/*  Downloads the files of job into dir (made, with its parents, when
    missing; NULL: ./<job>). Prints one line per file (a JSON object per
    line with json) and, on a terminal, the progress of each. Returns an
    exit status: AURA_EXIT_OK when every file is complete (or the job has
    none), AURA_EXIT_USAGE for an unknown job or one without files yet,
    AURA_EXIT_UNAVAILABLE when a file could not be fetched or written, or
    its size differs from the server's. */
int download_job (http_client_t *http, const char *job, const char *dir,
                  bool json);

#endif
