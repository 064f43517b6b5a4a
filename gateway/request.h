/*  request — validation of what clients send: a job request body
    (POST /api/jobs) into the normalized job specification the broker
    stores, the query of a job listing, the Idempotency-Key header. Pure
    functions over their input: no I/O, no globals, safe to call from any
    thread and to fuzz. */
#ifndef AURA_GATEWAY_REQUEST_H
#define AURA_GATEWAY_REQUEST_H

#include <stddef.h>

/*  Largest request body the HTTP layer accepts (413 above it). */
#define REQUEST_MAX_BODY_BYTES (64 * 1024)
/*  Longest brief.topic, in Unicode code points. */
#define REQUEST_TOPIC_MAX_CHARS 500
/*  At most this many problems are reported for one body. */
#define REQUEST_MAX_ERRORS 16

typedef struct {
    char field[64];    /* dotted path: "brief.topic"; "body" for the whole */
    char message[192]; /* one sentence for a human */
} request_error_t;

typedef struct {
    request_error_t items[REQUEST_MAX_ERRORS];
    size_t count;
} request_errors_t;

/*  Validates a job request body buf[0..len): valid JSON (duplicate keys
    rejected), an object of the sections `brief` (required), `planSpec`,
    `voiceSpec`, `renderSpec`, each an object of known fields only:
      brief       topic (required, non-blank, at most
                  REQUEST_TOPIC_MAX_CHARS code points), audience, goal,
                  tone (strings of at most 200), language (a tag such as
                  "en-US", at most 16), aspect (Widescreen16x9, Vertical9x16,
                  Square1x1)
      planSpec    targetDuration (seconds or "[hh:]mm:ss", 5 s to 10 min),
                  pacing (Chill, Conversational, Fast), density (Sparse,
                  Balanced, Dense), style (a string of at most 32)
      voiceSpec   voiceName (1 to 64 of [A-Za-z0-9_+-]), rate and pitch
                  (multipliers 0.5 to 2), pause (Natural, Short, Long,
                  Dramatic, or 0 to 5 seconds)
      renderSpec  res ("720p", "1080p" or {width, height}: even, 128 to
                  3840 each, at most 3840x2160 pixels), container ("mp4"),
                  codec ("H264"), fps (24, 25, 30, 60), qualityLevel
                  (0..100), videoBitrateK (100..50000), audioBitrateK
                  (32..320), all integers
    Names are matched without case. null is no field's type.
    On success returns 0 and sets *spec to a malloc'd NUL-terminated
    compact JSON text (the body with brief.topic trimmed of surrounding
    white space and names in the case listed above) that the caller frees,
    and *spec_len to its length.
    Returns -EINVAL when the body is rejected: errors lists why (at least
    one entry, every offending field up to REQUEST_MAX_ERRORS) and *spec
    is NULL. Returns -ENOMEM when memory runs out. */
int request_parse_job (const char *buf, size_t len, char **spec,
                       size_t *spec_len, request_errors_t *errors);

/*  One query parameter as the HTTP layer hands it over: value is NULL
    for a bare "?name". Neither is percent-decoded. */
typedef struct {
    const char *name;
    const char *value;
} request_arg_t;

/*  Largest page of GET /api/jobs, and the page size when none is asked. */
#define REQUEST_LIST_MAX_LIMIT 100
#define REQUEST_LIST_DEFAULT_LIMIT 20

/*  A validated GET /api/jobs query. */
typedef struct {
    char status[16];        /* a job status name, "" = every status */
    int limit;              /* 1..REQUEST_LIST_MAX_LIMIT */
    char cursor[27];        /* a job id, "" = the first page */
} request_list_query_t;

/*  Validates the query parameters of GET /api/jobs: `status` one of
    Queued, Running, Done, Failed, Canceled; `limit` an integer 1..100
    (default 20); `cursor` a job id; each at most once and none other
    (empty segments, a nameless parameter without value, are skipped).
    Pure. Returns 0 with *query filled, or -EINVAL with errors naming
    every offending parameter (field = its name). */
int request_parse_list_query (const request_arg_t *args, size_t count,
                              request_list_query_t *query,
                              request_errors_t *errors);

/*  Longest Idempotency-Key accepted. */
#define REQUEST_IDEMPOTENCY_KEY_MAX 128

/*  Checks an Idempotency-Key header value text[0..len): 1 to 128
    printable ASCII characters (0x20..0x7E). Returns 0, or -EINVAL with
    one error (field "Idempotency-Key") in errors. */
int request_check_idempotency_key (const char *text, size_t len,
                                   request_errors_t *errors);

/*  Copies brief.topic of a spec made by request_parse_job or
    request_demo_spec into title (NUL-terminated), cut at a character
    boundary when longer than title_size - 1 bytes. Returns 0, or -EINVAL
    when spec has no string brief.topic (title is then ""). */
int request_spec_title (const char *spec, size_t spec_len, char *title,
                        size_t title_size);

/*  The built-in demo request (POST /api/quick/demo) as a normalized spec,
    with the same ownership rules as request_parse_job. Returns 0 or
    -ENOMEM. */
int request_demo_spec (char **spec, size_t *spec_len);

#endif
