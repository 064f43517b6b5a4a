/*  sse_reader — the client side of Server-Sent Events: turns the bytes of
    a text/event-stream into events as the WHATWG HTML standard says
    (lines end in LF, CRLF or CR; `data:` lines joined with LF; comments
    ignored; `id:` and `retry:` remembered; an event is dispatched on a
    blank line). Pure: it never does I/O, so the tests feed it directly. */
#ifndef AURA_CLI_SSE_READER_H
#define AURA_CLI_SSE_READER_H

#include <stdbool.h>
#include <stddef.h>

/*  Longest line, and longest data of one event, a reader accepts unless
    told otherwise. */
#define SSE_READER_DEFAULT_MAX_BYTES (1024 * 1024)

typedef struct sse_reader_t sse_reader_t;

/*  One dispatched event. Every pointer is valid only during the callback
    that receives it, and every text is NUL-terminated. */
typedef struct {
    const char *type; /* the `event:` field, "message" when absent */
    const char *data; /* the `data:` lines joined with LF */
    size_t data_len;
    const char *id; /* the last event id as of this event, "" if none */
} sse_event_t;

/*  Receives one event. Returns 0 to go on, or a positive value to stop
    sse_reader_feed, which then returns it. */
typedef int (sse_event_fn) (const sse_event_t *event, void *arg);

/*  A reader that accepts lines and event data of at most max_bytes each
    (0: SSE_READER_DEFAULT_MAX_BYTES). Returns NULL when memory runs out. */
sse_reader_t *sse_reader_new (size_t max_bytes);

/*  Frees the reader; does nothing for NULL; sets *self_p to NULL. */
void sse_reader_destroy (sse_reader_t **self_p);

/*  Parses buf[0..len), the next bytes of the stream (any split is fine: a
    line, or a CR LF pair, may span calls), calling on_event for every
    event completed. Returns 0 when all of buf was consumed; the positive
    value of on_event, which stops the parse at once (the bytes after
    that event are dropped); -EMSGSIZE when a line or an event's data
    exceeds the limit; -ENOMEM. After an error the reader is reset (see
    sse_reader_reset) and may be fed a new stream. */
int sse_reader_feed (sse_reader_t *self, const char *buf, size_t len,
                     sse_event_fn *on_event, void *arg);

/*  Starts a new stream, as after a reconnect: forgets a partial line and
    an event not yet dispatched (the standard discards an event without
    its blank line, and the `id:` it may have carried), and the stream's
    id buffer. The last event id and the retry time are kept, since a
    client reconnects with them. */
void sse_reader_reset (sse_reader_t *self);

/*  The last event id ("" if none): the latest `id:` field followed by a
    blank line, what a reconnect sends as Last-Event-ID. */
const char *sse_reader_last_event_id (const sse_reader_t *self);

/*  The reconnection time from the last valid `retry:` field, in
    milliseconds, or -1 when none came. */
long sse_reader_retry_ms (const sse_reader_t *self);

#endif
