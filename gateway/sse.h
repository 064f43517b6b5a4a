/*  sse — Server-Sent Events framing: one broker event or job snapshot
    becomes one `id:`/`event:`/`data:` block, rendered once and shared by
    every stream that sends it. Also parses the Last-Event-ID header. Pure
    functions over their arguments. */
#ifndef AURA_GATEWAY_SSE_H
#define AURA_GATEWAY_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/*  The first bytes of every stream: EventSource waits 1 s before it
    reconnects. */
#define SSE_RETRY_FRAME "retry: 1000\n\n"

/*  The comment a stream ends with when the gateway shuts down. */
#define SSE_SHUTDOWN_FRAME ": gateway shutting down, reconnect\n\n"

/*  Longest keepalive comment sse_render_keepalive writes, with its NUL. */
#define SSE_KEEPALIVE_MAX 64

/*  Renders a PROTO_EVENT (seq > 0) as
    "id: <seq>\nevent: <kind>\ndata: <json>\n\n". On success returns 0 and
    sets *frame to a malloc'd NUL-terminated text the caller frees and
    *frame_len to its length. Returns -EINVAL for a message that is not a
    sequenced event, or -ENOMEM. */
int sse_render_event (const proto_msg_t *event, char **frame,
                      size_t *frame_len);

/*  Renders a PROTO_JOB snapshot as a `job-status` frame whose id is the
    job's latest seq (so that a reconnect from it resumes exactly). A seq of
    0 (a job with no event yet) renders without an `id:` line. Same
    ownership and errors as sse_render_event. */
int sse_render_snapshot (const proto_msg_t *job, int64_t now_us, char **frame,
                         size_t *frame_len);

/*  Parses a Last-Event-ID value text[0..len): one or more ASCII digits and
    nothing else, at most INT64_MAX. Returns 0 and sets *seq, -EINVAL for
    anything else (empty, sign, space, other characters), or -ERANGE on
    overflow; *seq is then unchanged. */
int sse_parse_last_event_id (const char *text, size_t len, uint64_t *seq);

/*  Writes the comment ": keepalive <RFC 3339 UTC time>\n\n" for now_us into
    out. Returns its length, or -ENOSPC when out_size is too small. */
int sse_render_keepalive (char *out, size_t out_size, int64_t now_us);

#endif
