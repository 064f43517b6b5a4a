/*  api — the gateway's REST answers as the commands use them: a JSON
    document on success; on failure the reason on stderr (`aura: …`, plus
    one `field: message` line per invalid field of a problem document) and
    the exit status that the failure means. */
#ifndef AURA_CLI_API_H
#define AURA_CLI_API_H

#include <jansson.h>

#include "http.h"

/*  Timeout of one REST request, in seconds. */
#define API_TIMEOUT_S 60L

/*  Sends method path (with json_body, if not NULL) and expects the status
    `expected`. On success returns AURA_EXIT_OK with *doc a new reference
    to the parsed answer (NULL when doc is NULL) and response holding the
    raw body; otherwise reports the failure (see api_report) and returns
    its exit status. */
int api_call (http_client_t *http, const char *method, const char *path,
              const char *json_body, long expected, json_t **doc,
              http_response_t *response);

/*  Prints why a request failed, rc being what http_client_call/stream
    returned: no answer (exit 4 or 130), a 4xx (2; 401/403 with a hint
    about the token, 429 is 4), a 5xx or anything else (4). Text from the
    server is printed with its control characters replaced. Returns the
    exit status. */
int api_report (http_client_t *http, int rc, const http_response_t *response);

/*  Percent-encodes text as a URL query value into out. Returns 0, or
    -ENOSPC when it does not fit. */
int api_query_escape (const char *text, char *out, size_t out_size);

#endif
