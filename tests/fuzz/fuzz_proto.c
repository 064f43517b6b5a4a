/*  fuzz_proto — the msgpack decoder every ZeroMQ socket feeds, under
    arbitrary frames. Checked after every call: a refused frame leaves
    nothing owned and says why; a frame whose containers claim more
    elements than its bytes could hold is refused before anything is
    allocated, and no frame costs more memory than its size allows; an
    accepted frame holds only values its consumers can trust, re-encodes
    within the size limit to a message that decodes to the same, and an
    event or job snapshot renders as one well-formed SSE frame. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ids.h"
#include "proto.h"
#include "sse.h"

/* ------------------------------------------------------------------ */
/*  What a decode allocates                                            */

/*  The sanitizers' allocator calls these hooks on every malloc and free;
    declared weak, so that a build without a sanitizer still links and
    only skips the measurement. */
int __sanitizer_install_malloc_and_free_hooks (
    void (*malloc_hook) (const volatile void *, size_t),
    void (*free_hook) (const volatile void *)) __attribute__ ((weak));

static _Thread_local bool s_counting;
static _Thread_local size_t s_allocated_bytes;
static _Thread_local size_t s_allocations;
static bool s_hooks_installed;

static void
s_on_malloc (const volatile void *ptr, size_t size)
{
    (void)ptr;
    if (s_counting) {
        s_allocated_bytes += size;
        s_allocations++;
    }
}

static void
s_on_free (const volatile void *ptr)
{
    (void)ptr;
}

static void
s_hooks_install (void)
{
    static bool tried;
    if (tried)
        return;
    tried = true;
    if (__sanitizer_install_malloc_and_free_hooks)
        s_hooks_installed =
            __sanitizer_install_malloc_and_free_hooks (s_on_malloc, s_on_free)
            != 0;
}

/*  The most a decode of len bytes may allocate in all: msgpack-c's
    objects (24 bytes an element, 48 a map pair, each element at least one
    byte of the frame) in zone chunks that at most double what they hold,
    plus the spec's copy and the zone's first chunk. */
static size_t
s_allocation_bound (size_t len)
{
    return 64 * len + PROTO_MAX_SPEC_BYTES + 16 * 1024;
}

/*  The elements the first container of buf claims (a map pair counts
    two), or 0 when buf does not start with a container header. */
static uint64_t
s_claimed_elements (const uint8_t *buf, size_t len, size_t *header_len)
{
    *header_len = 1;
    if (len == 0)
        return 0;
    uint8_t b = buf[0];
    if (b >= 0x80 && b <= 0x8f)
        return 2u * (b & 0x0fu);
    if (b >= 0x90 && b <= 0x9f)
        return b & 0x0fu;
    size_t width = (b == 0xdc || b == 0xde)   ? 2
                   : (b == 0xdd || b == 0xdf) ? 4
                                              : 0;
    if (width == 0 || len < 1 + width)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < width; i++)
        n = (n << 8) | buf[1 + i];
    *header_len = 1 + width;
    return (b == 0xde || b == 0xdf) ? 2 * n : n;
}

/* ------------------------------------------------------------------ */
/*  What an accepted message holds                                     */

/*  A string field: NUL-terminated inside its array, valid UTF-8. */
static void
s_check_text (const char *text, size_t size)
{
    const char *end = memchr (text, '\0', size);
    FUZZ_CHECK (end != NULL);
    FUZZ_CHECK (utf8_valid (text, (size_t)(end - text)));
}

#define S_CHECK_TEXT(field) s_check_text ((field), sizeof (field))

/*  An id field: empty, or a job id a path or a topic may carry. */
static void
s_check_job (const char *job)
{
    const char *end = memchr (job, '\0', JOB_ID_SIZE);
    FUZZ_CHECK (end != NULL);
    size_t len = (size_t)(end - job);
    FUZZ_CHECK (len == 0 || job_id_valid (job, len));
}

static void
s_check_values (const proto_msg_t *msg)
{
    FUZZ_CHECK (msg->type > PROTO_NONE && msg->type < PROTO_TYPE_COUNT);
    FUZZ_CHECK (msg->kind >= EVENT_NONE && msg->kind < EVENT_KIND_COUNT);
    FUZZ_CHECK ((msg->type == PROTO_EVENT) == (msg->kind != EVENT_NONE));
    FUZZ_CHECK ((unsigned)msg->status < JOB_STATUS_COUNT);
    FUZZ_CHECK ((unsigned)msg->step < STEP_COUNT);
    FUZZ_CHECK ((unsigned)msg->step_status < STEP_STATUS_COUNT);
    for (int i = 0; i < STEP_COUNT; i++)
        FUZZ_CHECK ((unsigned)msg->steps[i] < STEP_STATUS_COUNT);
    S_CHECK_TEXT (msg->cid);
    S_CHECK_TEXT (msg->worker);
    S_CHECK_TEXT (msg->phase);
    S_CHECK_TEXT (msg->code);
    S_CHECK_TEXT (msg->message);
    S_CHECK_TEXT (msg->output_video);
    S_CHECK_TEXT (msg->output_subtitle);
    S_CHECK_TEXT (msg->idem_key);
    S_CHECK_TEXT (msg->title);
    S_CHECK_TEXT (msg->filter);
    S_CHECK_TEXT (msg->cursor);
    s_check_job (msg->job);
    FUZZ_CHECK (msg->artifact_count <= PROTO_MAX_ARTIFACTS);
    for (size_t i = 0; i < msg->artifact_count; i++) {
        const proto_artifact_t *a = &msg->artifacts[i];
        S_CHECK_TEXT (a->name);
        S_CHECK_TEXT (a->path);
        S_CHECK_TEXT (a->type);
        FUZZ_CHECK (a->name[0] != '\0');
        FUZZ_CHECK (a->size_bytes >= 0);
    }
    FUZZ_CHECK (msg->running_count <= PROTO_MAX_RUNNING);
    for (size_t i = 0; i < msg->running_count; i++) {
        FUZZ_CHECK (job_id_valid (msg->running[i].job,
                                  strnlen (msg->running[i].job, JOB_ID_SIZE)));
        FUZZ_CHECK (msg->running[i].attempt >= 1);
    }
    FUZZ_CHECK (msg->percent >= 0 && msg->percent <= 100);
    FUZZ_CHECK (msg->step_percent >= 0 && msg->step_percent <= 100);
    FUZZ_CHECK (msg->eta_s >= -1);
    FUZZ_CHECK (msg->queue_position >= -1);
    FUZZ_CHECK (msg->attempt >= 0 && msg->attempt <= 1000000);
    FUZZ_CHECK (msg->ts_us >= 0 && msg->created_us >= 0 && msg->started_us >= 0
                && msg->finished_us >= 0 && msg->output_size_bytes >= 0);
    FUZZ_CHECK (msg->limit >= 0 && msg->limit <= PROTO_MAX_ITEMS);
    FUZZ_CHECK (msg->count >= 0 && msg->count <= PROTO_MAX_ITEMS);
    FUZZ_CHECK (msg->slots_free >= 0 && msg->slots_total >= 0);
    for (int i = 0; i < JOB_STATUS_COUNT; i++)
        FUZZ_CHECK (msg->jobs_by_status[i] >= 0);
    if (msg->spec) {
        FUZZ_CHECK (msg->spec_len <= PROTO_MAX_SPEC_BYTES);
        FUZZ_CHECK (msg->spec[msg->spec_len] == '\0');
        FUZZ_CHECK (strlen (msg->spec) == msg->spec_len);
        FUZZ_CHECK (utf8_valid (msg->spec, msg->spec_len));
    }
    else
        FUZZ_CHECK (msg->spec_len == 0);
}

/* ------------------------------------------------------------------ */
/*  Equivalence                                                        */

#define S_SAME(field) FUZZ_CHECK (a->field == b->field)
#define S_SAME_TEXT(field) FUZZ_CHECK (strcmp (a->field, b->field) == 0)

/*  Every field of two decoded messages holds the same value. */
static void
s_check_same (const proto_msg_t *a, const proto_msg_t *b)
{
    S_SAME (type);
    S_SAME (ts_us);
    S_SAME_TEXT (cid);
    S_SAME_TEXT (job);
    S_SAME_TEXT (worker);
    S_SAME (attempt);
    S_SAME (seq);
    S_SAME (kind);
    S_SAME (status);
    S_SAME (step);
    S_SAME (step_status);
    S_SAME_TEXT (phase);
    S_SAME (percent);
    S_SAME (step_percent);
    S_SAME (eta_s);
    S_SAME (queue_position);
    S_SAME_TEXT (code);
    S_SAME_TEXT (message);
    S_SAME (retryable);
    S_SAME (artifact_count);
    for (size_t i = 0; i < a->artifact_count; i++) {
        S_SAME_TEXT (artifacts[i].name);
        S_SAME_TEXT (artifacts[i].path);
        S_SAME_TEXT (artifacts[i].type);
        S_SAME (artifacts[i].size_bytes);
    }
    S_SAME_TEXT (output_video);
    S_SAME_TEXT (output_subtitle);
    S_SAME (output_size_bytes);
    S_SAME (output_duration_s);
    for (int i = 0; i < STEP_COUNT; i++)
        S_SAME (steps[i]);
    S_SAME (created_us);
    S_SAME (started_us);
    S_SAME (finished_us);
    S_SAME (slots_free);
    S_SAME (slots_total);
    S_SAME (running_count);
    for (size_t i = 0; i < a->running_count; i++) {
        S_SAME_TEXT (running[i].job);
        S_SAME (running[i].attempt);
    }
    S_SAME (error_status);
    S_SAME_TEXT (idem_key);
    S_SAME_TEXT (title);
    S_SAME_TEXT (filter);
    S_SAME_TEXT (cursor);
    S_SAME (limit);
    S_SAME (count);
    S_SAME (more);
    for (int i = 0; i < JOB_STATUS_COUNT; i++)
        S_SAME (jobs_by_status[i]);
    FUZZ_CHECK ((a->spec == NULL) == (b->spec == NULL));
    S_SAME (spec_len);
    if (a->spec)
        FUZZ_CHECK (memcmp (a->spec, b->spec, a->spec_len) == 0);
}

/* ------------------------------------------------------------------ */
/*  What the gateway does with an event or a snapshot                  */

/*  frame is "[id: N\n]event: K\ndata: <one line of JSON>\n\n". */
static void
s_check_sse_frame (const char *frame, size_t frame_len, uint64_t id,
                   const char *kind)
{
    FUZZ_CHECK (frame != NULL && strlen (frame) == frame_len);
    FUZZ_CHECK (utf8_valid (frame, frame_len));
    FUZZ_CHECK (memchr (frame, '\r', frame_len) == NULL);
    char head[128];
    int head_len =
        id > 0 ? snprintf (head, sizeof head, "id: %llu\nevent: %s\ndata: ",
                           (unsigned long long)id, kind)
               : snprintf (head, sizeof head, "event: %s\ndata: ", kind);
    FUZZ_CHECK (head_len > 0 && (size_t)head_len < sizeof head);
    FUZZ_CHECK (frame_len > (size_t)head_len + 2);
    FUZZ_CHECK (memcmp (frame, head, (size_t)head_len) == 0);
    FUZZ_CHECK (memcmp (frame + frame_len - 2, "\n\n", 2) == 0);
    const char *data = frame + head_len;
    size_t data_len = frame_len - (size_t)head_len - 2;
    FUZZ_CHECK (memchr (data, '\n', data_len) == NULL);
    json_error_t jerr;
    json_t *json = json_loadb (data, data_len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK (json_is_object (json));
    json_decref (json);
}

static void
s_check_rendering (const proto_msg_t *msg)
{
    char *frame = NULL;
    size_t frame_len = 0;
    if (msg->type == PROTO_EVENT && msg->seq > 0) {
        FUZZ_CHECK (sse_render_event (msg, &frame, &frame_len) == 0);
        s_check_sse_frame (frame, frame_len, msg->seq,
                           proto_event_kind_name (msg->kind));
    }
    else if (msg->type == PROTO_JOB) {
        FUZZ_CHECK (sse_render_snapshot (msg, INT64_C (1700000000000000),
                                         &frame, &frame_len)
                    == 0);
        s_check_sse_frame (frame, frame_len, msg->seq,
                           proto_event_kind_name (EVENT_JOB_STATUS));
    }
    free (frame);
}

/* ------------------------------------------------------------------ */

static void
s_check_refused (int rc, const proto_msg_t *msg, const char *err,
                 size_t err_size)
{
    FUZZ_CHECK (rc == -EPROTO || rc == -EMSGSIZE);
    FUZZ_CHECK (msg->spec == NULL);
    FUZZ_CHECK (msg->type == PROTO_NONE);
    const char *end = memchr (err, '\0', err_size);
    FUZZ_CHECK (end != NULL && end > err);
}

static void
s_check_accepted (const proto_msg_t *msg)
{
    s_check_values (msg);

    /* the broker re-encodes what it decoded (journal, PUB): the next hop
       must accept it and read the same */
    char *wire = NULL;
    size_t wire_len = 0;
    FUZZ_CHECK (proto_encode_buf (msg, &wire, &wire_len) == 0);
    FUZZ_CHECK (wire_len > 0 && wire_len <= PROTO_MAX_MSG_BYTES);
    proto_msg_t *again = malloc (sizeof *again);
    FUZZ_CHECK (again != NULL);
    char err[128] = "";
    FUZZ_CHECK (proto_decode (wire, wire_len, again, err, sizeof err) == 0);
    s_check_same (msg, again);

    /* and encodes it the same way again: the encoding is canonical */
    char *wire_again = NULL;
    size_t wire_again_len = 0;
    FUZZ_CHECK (proto_encode_buf (again, &wire_again, &wire_again_len) == 0);
    FUZZ_CHECK (wire_again_len == wire_len
                && memcmp (wire_again, wire, wire_len) == 0);

    s_check_rendering (msg);

    free (wire_again);
    free (wire);
    proto_msg_reset (again);
    free (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_hooks_install ();
    /* the frame as zmq hands it over: exactly size bytes */
    uint8_t *frame = NULL;
    if (size > 0) {
        frame = malloc (size);
        FUZZ_CHECK (frame != NULL);
        memcpy (frame, data, size);
    }
    proto_msg_t *msg = malloc (sizeof *msg);
    FUZZ_CHECK (msg != NULL);
    char err[128];
    memset (err, 'x', sizeof err);

    s_allocated_bytes = 0;
    s_allocations = 0;
    s_counting = true;
    int rc = proto_decode (frame, size, msg, err, sizeof err);
    s_counting = false;

    if (s_hooks_installed) {
        FUZZ_CHECK (s_allocated_bytes <= s_allocation_bound (size));
        /* a container that claims more elements than the bytes after its
           header could hold is refused before msgpack-c allocates them */
        size_t header_len;
        uint64_t claimed = s_claimed_elements (frame, size, &header_len);
        if (size >= header_len && claimed > size - header_len) {
            FUZZ_CHECK (rc == -EPROTO);
            FUZZ_CHECK (s_allocations == 0);
        }
    }

    if (rc == 0)
        s_check_accepted (msg);
    else
        s_check_refused (rc, msg, err, sizeof err);
    proto_msg_reset (msg);

    /* a frame over the limit is refused by its length alone, unread */
    static uint8_t *oversized;
    if (!oversized) {
        oversized = calloc (1, PROTO_MAX_MSG_BYTES + 1);
        FUZZ_CHECK (oversized != NULL);
    }
    s_allocations = 0;
    s_counting = true;
    rc =
        proto_decode (oversized, PROTO_MAX_MSG_BYTES + 1, msg, err, sizeof err);
    s_counting = false;
    FUZZ_CHECK (rc == -EMSGSIZE);
    FUZZ_CHECK (!s_hooks_installed || s_allocations == 0);
    s_check_refused (rc, msg, err, sizeof err);
    proto_msg_reset (msg);

    free (msg);
    free (frame);
    return 0;
}
