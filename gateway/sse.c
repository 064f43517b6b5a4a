/*  sse — text/event-stream framing. The data is compact JSON, which never
    contains a raw newline, so each event is exactly one `data:` line. */
#include "sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

/*  Frames data as an SSE event. id 0 leaves out the `id:` line. */
static int
s_frame (uint64_t id, const char *kind, json_t *data, char **frame,
         size_t *frame_len)
{
    size_t data_len;
    char *text = render_dump (data, &data_len);
    if (!text)
        return -ENOMEM;
    char head[96];
    int head_len = id > 0 ? snprintf (head, sizeof head, "id: %" PRIu64 "\nevent: %s\ndata: ", id, kind)
                          : snprintf (head, sizeof head, "event: %s\ndata: ", kind);
    if (head_len < 0 || (size_t) head_len >= sizeof head) {
        free (text);
        return -EINVAL;
    }
    size_t total = (size_t) head_len + data_len + 2;
    char *out = malloc (total + 1);
    if (!out) {
        free (text);
        return -ENOMEM;
    }
    memcpy (out, head, (size_t) head_len);
    memcpy (out + head_len, text, data_len);
    memcpy (out + head_len + data_len, "\n\n", 3);
    free (text);
    *frame = out;
    *frame_len = total;
    return 0;
}

int
sse_render_event (const proto_msg_t *event, char **frame, size_t *frame_len)
{
    *frame = NULL;
    *frame_len = 0;
    if (event->type != PROTO_EVENT || event->seq == 0)
        return -EINVAL;
    json_t *data = render_event_data (event);
    if (!data)
        return -EINVAL;
    int rc = s_frame (event->seq, proto_event_kind_name (event->kind), data,
                      frame, frame_len);
    json_decref (data);
    return rc;
}

int
sse_render_snapshot (const proto_msg_t *job, int64_t now_us, char **frame,
                     size_t *frame_len)
{
    *frame = NULL;
    *frame_len = 0;
    json_t *data = render_snapshot_status (job, now_us);
    if (!data)
        return job->type == PROTO_JOB ? -ENOMEM : -EINVAL;
    int rc = s_frame (job->seq, proto_event_kind_name (EVENT_JOB_STATUS), data,
                      frame, frame_len);
    json_decref (data);
    return rc;
}

int
sse_parse_last_event_id (const char *text, size_t len, uint64_t *seq)
{
    if (!text || len == 0)
        return -EINVAL;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -EINVAL;
        unsigned digit = (unsigned) (text[i] - '0');
        if (value > ((uint64_t) INT64_MAX - digit) / 10)
            return -ERANGE;
        value = value * 10 + digit;
    }
    *seq = value;
    return 0;
}

int
sse_render_keepalive (char *out, size_t out_size, int64_t now_us)
{
    char when[40];
    if (render_rfc3339 (now_us, false, when, sizeof when) < 0)
        return -EINVAL;
    int n = snprintf (out, out_size, ": keepalive %s\n\n", when);
    if (n < 0 || (size_t) n >= out_size)
        return -ENOSPC;
    return n;
}
