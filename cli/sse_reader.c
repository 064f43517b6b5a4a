/*  sse_reader — a streaming parser of text/event-stream. Bytes go through
    as they are (no UTF-8 decoding: the payloads here are JSON, which its
    own parser checks); everything else follows the "event stream
    interpretation" of the WHATWG HTML standard. */
#include "sse_reader.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*  A growable byte buffer, always NUL-terminated once it holds anything. */
typedef struct {
    char *bytes;
    size_t len;
    size_t size;
} s_buffer_t;

struct sse_reader_t {
    size_t max_bytes;
    s_buffer_t line; /* the line being read, without its end */
    s_buffer_t data; /* the data of the event being read, LF after each line */
    s_buffer_t type; /* its `event:` field */
    s_buffer_t id;   /* the last event id buffer of this stream */
    s_buffer_t last_id; /* the last event id string: the id buffer as of
                           the last blank line; what a reconnect sends */
    long retry_ms;      /* -1: no retry field yet */
    bool after_cr;      /* the previous byte ended a line with CR: an LF next
                           belongs to it */
    size_t bom_matched; /* bytes of a leading U+FEFF seen at stream start */
    bool in_body;       /* past the place where a BOM may be */
};

static const unsigned char s_bom[3] = { 0xEF, 0xBB, 0xBF };

/*  Appends bytes[0..len) to buffer, keeping it NUL-terminated and at most
    max bytes long. Returns 0, -EMSGSIZE or -ENOMEM. */
static int
s_buffer_append (s_buffer_t *buffer, const char *bytes, size_t len, size_t max)
{
    if (len > max || buffer->len > max - len)
        return -EMSGSIZE;
    size_t need = buffer->len + len + 1;
    if (need > buffer->size) {
        size_t size = buffer->size ? buffer->size : 64;
        while (size < need)
            size *= 2;
        char *bytes_new = realloc (buffer->bytes, size);
        if (!bytes_new)
            return -ENOMEM;
        buffer->bytes = bytes_new;
        buffer->size = size;
    }
    if (len > 0)
        memcpy (buffer->bytes + buffer->len, bytes, len);
    buffer->len += len;
    buffer->bytes[buffer->len] = '\0';
    return 0;
}

static void
s_buffer_clear (s_buffer_t *buffer)
{
    buffer->len = 0;
    if (buffer->bytes)
        buffer->bytes[0] = '\0';
}

static int
s_buffer_set (s_buffer_t *buffer, const char *bytes, size_t len, size_t max)
{
    s_buffer_clear (buffer);
    return s_buffer_append (buffer, bytes, len, max);
}

static const char *
s_buffer_text (const s_buffer_t *buffer)
{
    return buffer->len > 0 ? buffer->bytes : "";
}

sse_reader_t *
sse_reader_new (size_t max_bytes)
{
    sse_reader_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_bytes = max_bytes ? max_bytes : SSE_READER_DEFAULT_MAX_BYTES;
    self->retry_ms = -1;
    return self;
}

void
sse_reader_destroy (sse_reader_t **self_p)
{
    assert (self_p);
    sse_reader_t *self = *self_p;
    if (!self)
        return;
    free (self->line.bytes);
    free (self->data.bytes);
    free (self->type.bytes);
    free (self->id.bytes);
    free (self->last_id.bytes);
    free (self);
    *self_p = NULL;
}

void
sse_reader_reset (sse_reader_t *self)
{
    assert (self);
    s_buffer_clear (&self->line);
    s_buffer_clear (&self->data);
    s_buffer_clear (&self->type);
    s_buffer_clear (&self->id);
    self->after_cr = false;
    self->bom_matched = 0;
    self->in_body = false;
}

const char *
sse_reader_last_event_id (const sse_reader_t *self)
{
    assert (self);
    return s_buffer_text (&self->last_id);
}

long
sse_reader_retry_ms (const sse_reader_t *self)
{
    assert (self);
    return self->retry_ms;
}

/*  The blank line: hands the event over, unless it has no data, and
    starts the next one. */
static int
s_dispatch (sse_reader_t *self, sse_event_fn *on_event, void *arg)
{
    /* an id counts from the blank line after it, even without data; an
       id of an event that never ended does not */
    int rc = s_buffer_set (&self->last_id, s_buffer_text (&self->id),
                           self->id.len, self->max_bytes);
    if (rc < 0)
        return rc;
    if (self->data.len == 0) {
        s_buffer_clear (&self->type);
        return 0;
    }
    /* every data line added an LF; the last one is not part of the data */
    self->data.len--;
    self->data.bytes[self->data.len] = '\0';
    sse_event_t event = {
        .type = self->type.len > 0 ? self->type.bytes : "message",
        .data = self->data.bytes,
        .data_len = self->data.len,
        .id = s_buffer_text (&self->last_id),
    };
    rc = on_event (&event, arg);
    s_buffer_clear (&self->data);
    s_buffer_clear (&self->type);
    return rc;
}

/*  A `retry:` value counts only when it is all ASCII digits. */
static void
s_set_retry (sse_reader_t *self, const char *value, size_t len)
{
    if (len == 0)
        return;
    long ms = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return;
        if (ms > (INT32_MAX - (value[i] - '0')) / 10)
            return; /* absurdly long: ignored rather than wrapped */
        ms = ms * 10 + (value[i] - '0');
    }
    self->retry_ms = ms;
}

static bool
s_field_is (const char *field, size_t len, const char *name)
{
    return strlen (name) == len && memcmp (field, name, len) == 0;
}

/*  One complete line, without its end. */
static int
s_process_line (sse_reader_t *self, sse_event_fn *on_event, void *arg)
{
    const char *line = self->line.len > 0 ? self->line.bytes : "";
    size_t len = self->line.len;
    if (len == 0)
        return s_dispatch (self, on_event, arg);
    if (line[0] == ':')
        return 0; /* a comment: keepalives and the like */

    const char *colon = memchr (line, ':', len);
    size_t field_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - field_len - (colon ? 1 : 0);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }

    if (s_field_is (line, field_len, "data")) {
        int rc =
            s_buffer_append (&self->data, value, value_len, self->max_bytes);
        return rc < 0 ? rc
                      : s_buffer_append (&self->data, "\n", 1, self->max_bytes);
    }
    if (s_field_is (line, field_len, "event"))
        return s_buffer_set (&self->type, value, value_len, self->max_bytes);
    if (s_field_is (line, field_len, "id")) {
        if (memchr (value, '\0', value_len))
            return 0; /* the standard ignores such an id */
        return s_buffer_set (&self->id, value, value_len, self->max_bytes);
    }
    if (s_field_is (line, field_len, "retry"))
        s_set_retry (self, value, value_len);
    return 0; /* any other field is ignored */
}

/*  Ends the current line: processes it and starts an empty one. */
static int
s_end_line (sse_reader_t *self, sse_event_fn *on_event, void *arg)
{
    int rc = s_process_line (self, on_event, arg);
    s_buffer_clear (&self->line);
    return rc;
}

int
sse_reader_feed (sse_reader_t *self, const char *buf, size_t len,
                 sse_event_fn *on_event, void *arg)
{
    assert (self);
    assert (on_event);
    size_t i = 0;
    int rc = 0;

    /* a byte order mark may open the stream, even split over calls */
    while (!self->in_body && i < len) {
        if ((unsigned char)buf[i] == s_bom[self->bom_matched]) {
            i++;
            if (++self->bom_matched == sizeof s_bom)
                self->in_body = true;
            continue;
        }
        /* not a BOM after all: what looked like its start is text */
        self->in_body = true;
        rc = s_buffer_append (&self->line, (const char *)s_bom,
                              self->bom_matched, self->max_bytes);
        if (rc < 0)
            goto failed;
    }

    while (i < len) {
        if (self->after_cr) {
            self->after_cr = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        /* take the run of bytes up to the next line end in one append */
        size_t start = i;
        while (i < len && buf[i] != '\n' && buf[i] != '\r')
            i++;
        rc = s_buffer_append (&self->line, buf + start, i - start,
                              self->max_bytes);
        if (rc < 0)
            goto failed;
        if (i == len)
            break;
        self->after_cr = buf[i] == '\r';
        i++;
        rc = s_end_line (self, on_event, arg);
        if (rc < 0)
            goto failed;
        if (rc != 0)
            return rc;
    }
    return 0;

failed:
    sse_reader_reset (self);
    return rc;
}
