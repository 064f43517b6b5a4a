/*  render — the JSON the gateway sends: SSE event data, job snapshots,
    the 202 answer and RFC 9457 problem documents. Wire messages use
    snake_case; everything rendered here is camelCase. Pure functions: the
    result is a new jansson value the caller owns (json_decref), or NULL
    when memory runs out or the message is not of the expected type. */
#ifndef AURA_GATEWAY_RENDER_H
#define AURA_GATEWAY_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "request.h"

/*  The `data` object of an SSE event for a PROTO_EVENT message: the keys
    of DESIGN.md's table for its kind, plus jobId, seq and ts. */
json_t *render_event_data (const proto_msg_t *event);

/*  The data of a `job-status` event built from a PROTO_JOB snapshot; seq
    is the job's latest seq and ts is the snapshot's (now_us when the
    snapshot carries none). */
json_t *render_snapshot_status (const proto_msg_t *job, int64_t now_us);

/*  The full job document of GET /api/jobs/{id} from a PROTO_JOB snapshot:
    jobId, title, status, phase, percent, attempt, step, steps[],
    createdAt, startedAt, finishedAt, queuePosition, error, artifacts,
    output, lastEventId, links. */
json_t *render_job (const proto_msg_t *job);

/*  One item of GET /api/jobs from a PROTO_JOB snapshot: jobId, title,
    status, phase, percent, attempt, createdAt, finishedAt, links. */
json_t *render_job_summary (const proto_msg_t *job);

/*  The page of GET /api/jobs: {items: [summaries of jobs[0..count)],
    nextCursor} where nextCursor is next_cursor, or null when it is NULL or
    empty (the last page). */
json_t *render_job_page (const proto_msg_t *jobs, size_t count,
                         const char *next_cursor);

/*  The 202 answer to a submission: jobId, status, stage, correlationId,
    links{self, events, cancel}. */
json_t *render_accepted (const proto_msg_t *job, const char *cid);

/*  An application/problem+json document for an HTTP status: type, title
    (both derived from the status), status, detail, correlationId, and
    errors[{field, message}] when errors is non-NULL and non-empty. */
json_t *render_problem (int status, const char *detail, const char *cid,
                        const request_errors_t *errors);

/*  Serializes json compactly into a malloc'd NUL-terminated string the
    caller frees, setting *len. Numbers keep at most 15 significant digits.
    Returns NULL when memory runs out. */
char *render_dump (const json_t *json, size_t *len);

/*  Writes unix_us as an RFC 3339 UTC time ("2024-05-01T12:00:00.123Z" with
    millis, "2024-05-01T12:00:00Z" without). Returns the length written, or
    -ENOSPC when out_size is too small, or -EINVAL for a time out of range. */
int render_rfc3339 (int64_t unix_us, bool millis, char *out, size_t out_size);

/*  Writes "/api/jobs/<job><suffix>" into out. Returns 0 or -ENOSPC. */
int render_job_path (const char *job, const char *suffix, char *out,
                     size_t out_size);

#endif
