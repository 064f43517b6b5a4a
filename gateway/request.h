/*  request — validation of a job request body (POST /api/jobs) into the
    normalized job specification the broker stores. Pure functions over
    (buf, len): no I/O, no globals, safe to call from any thread and to
    fuzz. */
#ifndef AURA_GATEWAY_REQUEST_H
#define AURA_GATEWAY_REQUEST_H

#include <stddef.h>

/*  Largest request body the HTTP layer accepts (413 above it). */
#define REQUEST_MAX_BODY_BYTES (64 * 1024)
/*  Longest brief.topic, in Unicode code points. */
#define REQUEST_TOPIC_MAX_CHARS 500
/*  At most this many problems are reported for one body. */
#define REQUEST_MAX_ERRORS 8

typedef struct {
    char field[64];    /* dotted path: "brief.topic"; "body" for the whole */
    char message[192]; /* one sentence for a human */
} request_error_t;

typedef struct {
    request_error_t items[REQUEST_MAX_ERRORS];
    size_t count;
} request_errors_t;

/*  Validates a job request body buf[0..len): valid JSON (duplicate keys
    rejected), an object whose `brief` is an object with a non-blank string
    `topic` of at most REQUEST_TOPIC_MAX_CHARS code points; `planSpec`,
    `voiceSpec` and `renderSpec`, when present, must be objects. Everything
    else passes through unchanged.
    On success returns 0 and sets *spec to a malloc'd NUL-terminated
    compact JSON text (the body with brief.topic trimmed of surrounding
    white space) that the caller frees, and *spec_len to its length.
    Returns -EINVAL when the body is rejected: errors lists why (at least
    one entry) and *spec is NULL. Returns -ENOMEM when memory runs out. */
int request_parse_job (const char *buf, size_t len, char **spec,
                       size_t *spec_len, request_errors_t *errors);

/*  The built-in demo request (POST /api/quick/demo) as a normalized spec,
    with the same ownership rules as request_parse_job. Returns 0 or
    -ENOMEM. */
int request_demo_spec (char **spec, size_t *spec_len);

#endif
