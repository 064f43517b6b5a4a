/*  proto — msgpack encoding and decoding of every Aura message.

    The codec is table-driven: each field has a wire key, a kind and a place
    in proto_msg_t; each message type (and each event kind) lists the fields
    it requires and the ones it may carry. The encoder writes required fields
    always and optional ones when they differ from their absent default, so
    a decode of an encode gives back the same message. */
#include "proto.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef enum {
    F_TS, F_CID, F_JOB, F_WORKER, F_ATTEMPT, F_SEQ, F_KIND, F_STATUS, F_STEP,
    F_STEP_STATUS, F_PHASE, F_PERCENT, F_STEP_PERCENT, F_ETA, F_QUEUE_POS,
    F_CODE, F_MESSAGE, F_RETRYABLE, F_ARTIFACTS, F_OUT_VIDEO, F_OUT_SUBTITLE,
    F_OUT_SIZE, F_OUT_DURATION, F_STEPS, F_CREATED, F_STARTED, F_FINISHED,
    F_SLOTS_FREE, F_SLOTS_TOTAL, F_ERROR_STATUS, F_IDEM, F_SPEC, F_RUNNING,
    F_TITLE, F_FILTER, F_CURSOR, F_LIMIT, F_COUNT, F_MORE, F_JOBS_QUEUED,
    F_JOBS_RUNNING, F_JOBS_DONE, F_JOBS_FAILED, F_JOBS_CANCELED, FIELD_COUNT
} field_id_t;

typedef enum {
    FT_STR,      /* char[size], NUL-terminated, valid UTF-8 */
    FT_JOB,      /* char[JOB_ID_SIZE] holding a valid job id */
    FT_I32,
    FT_I64,
    FT_U64,
    FT_DBL,
    FT_BOOL,
    FT_KIND,
    FT_STATUS,
    FT_STEP,
    FT_STEP_STATUS,
    FT_ARTIFACTS,
    FT_STEPS,
    FT_SPEC,
    FT_RUNNING
} field_kind_t;

typedef struct {
    const char *key;
    size_t key_len;    /* strlen (key), for the decoder's key lookup */
    field_kind_t kind;
    size_t offset;
    size_t size;       /* FT_STR: capacity including the NUL */
    double min, max;   /* numbers: accepted range */
    double absent;     /* numbers: the value that means "not set" */
} field_t;

#define STR_FIELD(k, m) \
    { k, sizeof (k) - 1, FT_STR, offsetof (proto_msg_t, m), \
      sizeof ((proto_msg_t *) 0)->m, 0, 0, 0 }
#define NUM_FIELD(k, t, m, lo, hi, none) \
    { k, sizeof (k) - 1, t, offsetof (proto_msg_t, m), 0, lo, hi, none }
#define OTHER_FIELD(k, t, m) \
    { k, sizeof (k) - 1, t, offsetof (proto_msg_t, m), 0, 0, 0, 0 }

static const field_t s_fields[FIELD_COUNT] = {
    [F_TS] = NUM_FIELD ("ts", FT_I64, ts_us, 0, 9.2e18, 0),
    [F_CID] = STR_FIELD ("cid", cid),
    [F_JOB] = OTHER_FIELD ("job", FT_JOB, job),
    [F_WORKER] = STR_FIELD ("worker", worker),
    [F_ATTEMPT] = NUM_FIELD ("attempt", FT_I32, attempt, 1, 1000000, 0),
    [F_SEQ] = NUM_FIELD ("seq", FT_U64, seq, 0, 1.8e19, 0),
    [F_KIND] = OTHER_FIELD ("kind", FT_KIND, kind),
    [F_STATUS] = OTHER_FIELD ("status", FT_STATUS, status),
    [F_STEP] = OTHER_FIELD ("step", FT_STEP, step),
    [F_STEP_STATUS] = OTHER_FIELD ("step_status", FT_STEP_STATUS, step_status),
    [F_PHASE] = STR_FIELD ("phase", phase),
    [F_PERCENT] = NUM_FIELD ("percent", FT_DBL, percent, 0, 100, 0),
    [F_STEP_PERCENT] = NUM_FIELD ("step_percent", FT_DBL, step_percent, 0, 100, 0),
    [F_ETA] = NUM_FIELD ("eta_s", FT_I32, eta_s, -1, 1e9, -1),
    [F_QUEUE_POS] = NUM_FIELD ("queue_position", FT_I32, queue_position, -1, 1e9, -1),
    [F_CODE] = STR_FIELD ("code", code),
    [F_MESSAGE] = STR_FIELD ("message", message),
    [F_RETRYABLE] = OTHER_FIELD ("retryable", FT_BOOL, retryable),
    [F_ARTIFACTS] = OTHER_FIELD ("artifacts", FT_ARTIFACTS, artifacts),
    [F_OUT_VIDEO] = STR_FIELD ("output_video", output_video),
    [F_OUT_SUBTITLE] = STR_FIELD ("output_subtitle", output_subtitle),
    [F_OUT_SIZE] = NUM_FIELD ("output_size_bytes", FT_I64, output_size_bytes, 0, 9.2e18, 0),
    [F_OUT_DURATION] = NUM_FIELD ("output_duration_s", FT_DBL, output_duration_s, 0, 1e7, 0),
    [F_STEPS] = OTHER_FIELD ("steps", FT_STEPS, steps),
    [F_CREATED] = NUM_FIELD ("created", FT_I64, created_us, 0, 9.2e18, 0),
    [F_STARTED] = NUM_FIELD ("started", FT_I64, started_us, 0, 9.2e18, 0),
    [F_FINISHED] = NUM_FIELD ("finished", FT_I64, finished_us, 0, 9.2e18, 0),
    [F_SLOTS_FREE] = NUM_FIELD ("slots_free", FT_I32, slots_free, 0, 1e6, 0),
    [F_SLOTS_TOTAL] = NUM_FIELD ("slots_total", FT_I32, slots_total, 0, 1e6, 0),
    [F_ERROR_STATUS] = NUM_FIELD ("error_status", FT_I32, error_status, 100, 599, 0),
    [F_IDEM] = STR_FIELD ("idem_key", idem_key),
    [F_SPEC] = OTHER_FIELD ("spec", FT_SPEC, spec),
    [F_RUNNING] = OTHER_FIELD ("running", FT_RUNNING, running),
    [F_TITLE] = STR_FIELD ("title", title),
    [F_FILTER] = STR_FIELD ("filter", filter),
    [F_CURSOR] = STR_FIELD ("cursor", cursor),
    [F_LIMIT] = NUM_FIELD ("limit", FT_I32, limit, 1, PROTO_MAX_ITEMS, 0),
    [F_COUNT] = NUM_FIELD ("count", FT_I32, count, 0, PROTO_MAX_ITEMS, 0),
    [F_MORE] = OTHER_FIELD ("more", FT_BOOL, more),
    [F_JOBS_QUEUED] = NUM_FIELD ("jobs_queued", FT_I64, jobs_by_status[JOB_QUEUED], 0, 9.2e18, 0),
    [F_JOBS_RUNNING] = NUM_FIELD ("jobs_running", FT_I64, jobs_by_status[JOB_RUNNING], 0, 9.2e18, 0),
    [F_JOBS_DONE] = NUM_FIELD ("jobs_done", FT_I64, jobs_by_status[JOB_DONE], 0, 9.2e18, 0),
    [F_JOBS_FAILED] = NUM_FIELD ("jobs_failed", FT_I64, jobs_by_status[JOB_FAILED], 0, 9.2e18, 0),
    [F_JOBS_CANCELED] = NUM_FIELD ("jobs_canceled", FT_I64, jobs_by_status[JOB_CANCELED], 0, 9.2e18, 0),
};

#define B(f) (UINT64_C (1) << (f))

typedef struct {
    const char *name;
    uint64_t required;
    uint64_t optional;
} shape_t;

static const shape_t s_types[PROTO_TYPE_COUNT] = {
    [PROTO_SUBMIT] = { "submit", B (F_CID) | B (F_SPEC),
                       B (F_IDEM) | B (F_TITLE) | B (F_TS) },
    [PROTO_GET] = { "get", B (F_CID) | B (F_JOB), B (F_TS) },
    [PROTO_PING] = { "ping", B (F_CID), B (F_TS) },
    [PROTO_LIST] = { "list", B (F_CID) | B (F_LIMIT),
                     B (F_FILTER) | B (F_CURSOR) | B (F_TS) },
    [PROTO_REPLAY] = { "replay", B (F_CID) | B (F_JOB) | B (F_SEQ) | B (F_LIMIT),
                       B (F_TS) },
    [PROTO_CANCEL_JOB] = { "cancel_job", B (F_CID) | B (F_JOB), B (F_TS) },
    [PROTO_RETRY_JOB] = { "retry_job", B (F_CID) | B (F_JOB), B (F_TS) },
    [PROTO_PAGE] = { "page", B (F_CID) | B (F_COUNT), B (F_CURSOR) | B (F_TS) },
    [PROTO_EVENTS] = { "events", B (F_CID) | B (F_JOB) | B (F_COUNT),
                       B (F_MORE) | B (F_TS) },
    [PROTO_JOB] = { "job",
                    B (F_CID) | B (F_JOB) | B (F_STATUS) | B (F_PHASE)
                        | B (F_PERCENT) | B (F_ATTEMPT) | B (F_SEQ)
                        | B (F_STEPS) | B (F_CREATED),
                    B (F_STEP) | B (F_STARTED) | B (F_FINISHED)
                        | B (F_QUEUE_POS) | B (F_CODE) | B (F_MESSAGE)
                        | B (F_ARTIFACTS) | B (F_OUT_VIDEO)
                        | B (F_OUT_SUBTITLE) | B (F_OUT_SIZE)
                        | B (F_OUT_DURATION) | B (F_TITLE) | B (F_WORKER)
                        | B (F_TS) },
    [PROTO_ERROR] = { "error",
                      B (F_CID) | B (F_ERROR_STATUS) | B (F_CODE) | B (F_MESSAGE),
                      B (F_JOB) | B (F_TS) },
    [PROTO_PONG] = { "pong", B (F_CID),
                     B (F_TS) | B (F_JOBS_QUEUED) | B (F_JOBS_RUNNING) | B (F_JOBS_DONE)
                         | B (F_JOBS_FAILED) | B (F_JOBS_CANCELED) },
    [PROTO_DISPATCH] = { "dispatch",
                         B (F_JOB) | B (F_ATTEMPT) | B (F_SPEC) | B (F_STEPS),
                         B (F_CID) | B (F_TS) },
    [PROTO_HEARTBEAT] = { "heartbeat",
                          B (F_WORKER) | B (F_SLOTS_FREE) | B (F_SLOTS_TOTAL),
                          B (F_RUNNING) | B (F_TS) },
    [PROTO_ACCEPTED] = { "accepted",
                         B (F_WORKER) | B (F_JOB) | B (F_ATTEMPT)
                             | B (F_SLOTS_FREE) | B (F_SLOTS_TOTAL),
                         B (F_TS) },
    [PROTO_DECLINED] = { "declined",
                         B (F_WORKER) | B (F_JOB) | B (F_ATTEMPT) | B (F_CODE)
                             | B (F_SLOTS_FREE) | B (F_SLOTS_TOTAL),
                         B (F_MESSAGE) | B (F_TS) },
    [PROTO_EVENT] = { "event", B (F_TS) | B (F_JOB) | B (F_ATTEMPT) | B (F_KIND),
                      B (F_SEQ) | B (F_WORKER) | B (F_CID) | B (F_SLOTS_FREE)
                          | B (F_SLOTS_TOTAL) },
    [PROTO_CANCEL] = { "cancel", B (F_JOB) | B (F_ATTEMPT), B (F_CID) | B (F_TS) },
};

/*  The fields each event kind adds to the PROTO_EVENT shape. */
static const shape_t s_kinds[EVENT_KIND_COUNT] = {
    [EVENT_JOB_STATUS] = { "job-status", B (F_STATUS) | B (F_PHASE) | B (F_PERCENT),
                           B (F_QUEUE_POS) },
    [EVENT_STEP_STATUS] = { "step-status", B (F_STEP) | B (F_STEP_STATUS), 0 },
    [EVENT_STEP_PROGRESS] = { "step-progress",
                              B (F_STEP) | B (F_PHASE) | B (F_STEP_PERCENT)
                                  | B (F_PERCENT) | B (F_MESSAGE),
                              B (F_ETA) },
    [EVENT_WARNING] = { "warning", B (F_CODE) | B (F_MESSAGE), B (F_STEP) },
    [EVENT_ERROR] = { "error", B (F_CODE) | B (F_MESSAGE) | B (F_RETRYABLE),
                      B (F_STEP) },
    [EVENT_JOB_COMPLETED] = { "job-completed", B (F_ARTIFACTS),
                              B (F_OUT_VIDEO) | B (F_OUT_SUBTITLE)
                                  | B (F_OUT_SIZE) | B (F_OUT_DURATION) },
    [EVENT_JOB_FAILED] = { "job-failed", B (F_STEP) | B (F_CODE) | B (F_MESSAGE), 0 },
    [EVENT_JOB_CANCELLED] = { "job-cancelled", B (F_STEP), 0 },
};

/*  String fields that are required must also be non-empty. */
static const uint64_t s_nonempty = B (F_CID) | B (F_WORKER) | B (F_CODE)
                                   | B (F_PHASE);

/* ------------------------------------------------------------------ */

void
proto_msg_init (proto_msg_t *msg, proto_type_t type)
{
    memset (msg, 0, sizeof *msg);
    msg->type = type;
    msg->eta_s = -1;
    msg->queue_position = -1;
}

void
proto_msg_reset (proto_msg_t *msg)
{
    free (msg->spec);
    proto_msg_init (msg, PROTO_NONE);
}

int
proto_msg_set_spec (proto_msg_t *msg, const char *spec, size_t len)
{
    if (len > PROTO_MAX_SPEC_BYTES)
        return -EMSGSIZE;
    char *copy = malloc (len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy (copy, spec, len);
    copy[len] = '\0';
    free (msg->spec);
    msg->spec = copy;
    msg->spec_len = len;
    return 0;
}

static int
s_copy_string (char *dest, size_t size, const char *src)
{
    if (!src || (size_t) snprintf (dest, size, "%s", src) >= size)
        return -ENOSPC;
    return 0;
}

int
proto_msg_add_running (proto_msg_t *msg, const char *job, int32_t attempt)
{
    if (msg->running_count >= PROTO_MAX_RUNNING || !job
        || !job_id_valid (job, strlen (job)) || attempt < 1)
        return -ENOSPC;
    proto_running_t *r = &msg->running[msg->running_count++];
    memcpy (r->job, job, JOB_ID_SIZE);
    r->attempt = attempt;
    return 0;
}

int
proto_msg_add_artifact (proto_msg_t *msg, const char *name, const char *path,
                        const char *type, int64_t size_bytes)
{
    if (msg->artifact_count >= PROTO_MAX_ARTIFACTS)
        return -ENOSPC;
    proto_artifact_t *a = &msg->artifacts[msg->artifact_count];
    if (s_copy_string (a->name, sizeof a->name, name) < 0
        || s_copy_string (a->path, sizeof a->path, path) < 0
        || s_copy_string (a->type, sizeof a->type, type) < 0 || size_bytes < 0) {
        memset (a, 0, sizeof *a);
        return -ENOSPC;
    }
    a->size_bytes = size_bytes;
    msg->artifact_count++;
    return 0;
}

const char *
proto_type_name (proto_type_t type)
{
    if (type <= PROTO_NONE || type >= PROTO_TYPE_COUNT)
        return "?";
    return s_types[type].name;
}

const char *
proto_event_kind_name (proto_event_kind_t kind)
{
    if (kind <= EVENT_NONE || kind >= EVENT_KIND_COUNT)
        return "?";
    return s_kinds[kind].name;
}

int
proto_event_kind_parse (const char *name, proto_event_kind_t *kind)
{
    for (int k = EVENT_NONE + 1; name && k < EVENT_KIND_COUNT; k++) {
        if (strcmp (name, s_kinds[k].name) == 0) {
            *kind = (proto_event_kind_t) k;
            return 0;
        }
    }
    return -EINVAL;
}

bool
proto_event_is_terminal (proto_event_kind_t kind)
{
    return kind == EVENT_JOB_COMPLETED || kind == EVENT_JOB_FAILED
           || kind == EVENT_JOB_CANCELLED;
}

int
proto_topic (char *out, size_t out_size, const char *prefix, const char *job)
{
    int n = snprintf (out, out_size, "%s%s", prefix, job);
    return n < 0 || (size_t) n >= out_size ? -ENOSPC : 0;
}

void
proto_socket_defaults (zsock_t *sock)
{
    zsock_set_maxmsgsize (sock, PROTO_MAX_MSG_BYTES);
    zsock_set_linger (sock, 200);
}

int64_t
proto_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ */
/*  Shapes                                                             */

/*  The fields a message of this type (and event kind) requires and may
    carry. Returns -EPROTO for an unknown type or event kind. */
static int
s_shape (proto_type_t type, proto_event_kind_t kind, uint64_t *required,
         uint64_t *optional)
{
    if (type <= PROTO_NONE || type >= PROTO_TYPE_COUNT)
        return -EPROTO;
    *required = s_types[type].required;
    *optional = s_types[type].optional;
    if (type == PROTO_EVENT) {
        if (kind <= EVENT_NONE || kind >= EVENT_KIND_COUNT)
            return -EPROTO;
        *required |= s_kinds[kind].required;
        *optional |= s_kinds[kind].optional;
    }
    return 0;
}

static void *
s_at (const proto_msg_t *msg, field_id_t f)
{
    return (char *) msg + s_fields[f].offset;
}

static double
s_number (const proto_msg_t *msg, field_id_t f)
{
    void *p = s_at (msg, f);
    switch (s_fields[f].kind) {
    case FT_I32: return *(int32_t *) p;
    case FT_I64: return (double) *(int64_t *) p;
    case FT_U64: return (double) *(uint64_t *) p;
    case FT_DBL: return *(double *) p;
    default: return 0;
    }
}

/*  True when an optional field holds something other than "absent". */
static bool
s_is_set (const proto_msg_t *msg, field_id_t f)
{
    const field_t *d = &s_fields[f];
    const void *p = s_at (msg, f);
    switch (d->kind) {
    case FT_STR:
    case FT_JOB: return ((const char *) p)[0] != '\0';
    case FT_BOOL: return *(const bool *) p;
    case FT_KIND: return msg->kind != EVENT_NONE;
    case FT_STATUS: return msg->status != JOB_QUEUED;
    case FT_STEP: return msg->step != STEP_PLAN;
    case FT_STEP_STATUS: return msg->step_status != STEP_PENDING;
    case FT_ARTIFACTS: return msg->artifact_count > 0;
    case FT_STEPS:
        for (int i = 0; i < STEP_COUNT; i++)
            if (msg->steps[i] != STEP_PENDING)
                return true;
        return false;
    case FT_SPEC: return msg->spec != NULL;
    case FT_RUNNING: return msg->running_count > 0;
    default: return s_number (msg, f) != d->absent;
    }
}

/*  Checks the values of the fields in `mask`: numbers in range, required
    strings non-empty, enums known, job ids valid. Used by both directions,
    so an encoder never writes what a decoder would refuse. */
static int
s_check (const proto_msg_t *msg, uint64_t required, uint64_t mask, char *err,
         size_t err_size)
{
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (!(mask & B (f)))
            continue;
        const field_t *d = &s_fields[f];
        const char *why = NULL;
        switch (d->kind) {
        case FT_STR:
            if ((required & B (f)) && (s_nonempty & B (f))
                && !((char *) s_at (msg, f))[0])
                why = "is empty";
            break;
        case FT_JOB:
            if (((required & B (f)) || msg->job[0])
                && !job_id_valid (msg->job, strnlen (msg->job, JOB_ID_SIZE)))
                why = "is not a job id";
            break;
        case FT_I32:
        case FT_I64:
        case FT_U64:
        case FT_DBL: {
            double v = s_number (msg, f);
            bool absent = !(required & B (f)) && v == d->absent;
            if (!absent && (isnan (v) || v < d->min || v > d->max))
                why = "is out of range";
            break;
        }
        case FT_KIND:
            if (msg->kind <= EVENT_NONE || msg->kind >= EVENT_KIND_COUNT)
                why = "is unknown";
            break;
        case FT_STATUS:
            if ((unsigned) msg->status >= JOB_STATUS_COUNT)
                why = "is unknown";
            break;
        case FT_STEP:
            if ((unsigned) msg->step >= STEP_COUNT)
                why = "is unknown";
            break;
        case FT_STEP_STATUS:
            if ((unsigned) msg->step_status >= STEP_STATUS_COUNT)
                why = "is unknown";
            break;
        case FT_STEPS:
            for (int i = 0; i < STEP_COUNT; i++)
                if ((unsigned) msg->steps[i] >= STEP_STATUS_COUNT)
                    why = "holds an unknown status";
            break;
        case FT_ARTIFACTS:
            if (msg->artifact_count > PROTO_MAX_ARTIFACTS)
                why = "has too many entries";
            break;
        case FT_SPEC:
            if ((required & B (f)) && (!msg->spec || msg->spec_len == 0))
                why = "is empty";
            else if (msg->spec && msg->spec_len > PROTO_MAX_SPEC_BYTES)
                why = "is too large";
            break;
        case FT_RUNNING:
            if (msg->running_count > PROTO_MAX_RUNNING)
                why = "has too many entries";
            for (size_t i = 0; !why && i < msg->running_count; i++)
                if (!job_id_valid (msg->running[i].job,
                                   strnlen (msg->running[i].job, JOB_ID_SIZE))
                    || msg->running[i].attempt < 1)
                    why = "names an invalid job";
            break;
        case FT_BOOL:
            break;
        }
        if (why) {
            snprintf (err, err_size, "'%s' %s", d->key, why);
            return -EPROTO;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Encoding                                                           */

static void
s_pack_str (msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, s, len);
}

static void
s_pack_cstr (msgpack_packer *pk, const char *s)
{
    s_pack_str (pk, s, strlen (s));
}

static void
s_pack_field (msgpack_packer *pk, const proto_msg_t *msg, field_id_t f)
{
    const field_t *d = &s_fields[f];
    const void *p = s_at (msg, f);
    s_pack_str (pk, d->key, d->key_len);
    switch (d->kind) {
    case FT_STR:
    case FT_JOB: s_pack_cstr (pk, p); break;
    case FT_I32: msgpack_pack_int32 (pk, *(const int32_t *) p); break;
    case FT_I64: msgpack_pack_int64 (pk, *(const int64_t *) p); break;
    case FT_U64: msgpack_pack_uint64 (pk, *(const uint64_t *) p); break;
    case FT_DBL: msgpack_pack_double (pk, *(const double *) p); break;
    case FT_BOOL:
        if (*(const bool *) p)
            msgpack_pack_true (pk);
        else
            msgpack_pack_false (pk);
        break;
    case FT_KIND: s_pack_cstr (pk, proto_event_kind_name (msg->kind)); break;
    case FT_STATUS: s_pack_cstr (pk, job_status_name (msg->status)); break;
    case FT_STEP: s_pack_cstr (pk, step_name (msg->step)); break;
    case FT_STEP_STATUS:
        s_pack_cstr (pk, step_status_name (msg->step_status));
        break;
    case FT_STEPS:
        msgpack_pack_array (pk, STEP_COUNT);
        for (int i = 0; i < STEP_COUNT; i++)
            s_pack_cstr (pk, step_status_name (msg->steps[i]));
        break;
    case FT_ARTIFACTS:
        msgpack_pack_array (pk, msg->artifact_count);
        for (size_t i = 0; i < msg->artifact_count; i++) {
            const proto_artifact_t *a = &msg->artifacts[i];
            msgpack_pack_map (pk, 4);
            s_pack_cstr (pk, "name");
            s_pack_cstr (pk, a->name);
            s_pack_cstr (pk, "path");
            s_pack_cstr (pk, a->path);
            s_pack_cstr (pk, "type");
            s_pack_cstr (pk, a->type);
            s_pack_cstr (pk, "size_bytes");
            msgpack_pack_int64 (pk, a->size_bytes);
        }
        break;
    case FT_SPEC: s_pack_str (pk, msg->spec, msg->spec_len); break;
    case FT_RUNNING:
        msgpack_pack_array (pk, msg->running_count);
        for (size_t i = 0; i < msg->running_count; i++) {
            msgpack_pack_map (pk, 2);
            s_pack_cstr (pk, "job");
            s_pack_cstr (pk, msg->running[i].job);
            s_pack_cstr (pk, "attempt");
            msgpack_pack_int32 (pk, msg->running[i].attempt);
        }
        break;
    }
}

int
proto_encode_buf (const proto_msg_t *msg, char **buf, size_t *len)
{
    uint64_t required, optional;
    char err[128];
    if (s_shape (msg->type, msg->kind, &required, &optional) < 0
        || s_check (msg, required, required | optional, err, sizeof err) < 0) {
        log_error ("proto: refusing to encode an invalid '%s' message: %s",
                   proto_type_name (msg->type),
                   msg->type > PROTO_NONE && msg->type < PROTO_TYPE_COUNT
                       ? err : "unknown type or event kind");
        return -EINVAL;
    }

    uint64_t fields = required;
    for (int f = 0; f < FIELD_COUNT; f++)
        if ((optional & B (f)) && s_is_set (msg, f))
            fields |= B (f);
    uint32_t count = 2;
    for (int f = 0; f < FIELD_COUNT; f++)
        count += (fields & B (f)) ? 1 : 0;

    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, count);
    s_pack_cstr (&pk, "v");
    msgpack_pack_int (&pk, PROTO_VERSION);
    s_pack_cstr (&pk, "t");
    s_pack_cstr (&pk, s_types[msg->type].name);
    for (int f = 0; f < FIELD_COUNT; f++)
        if (fields & B (f))
            s_pack_field (&pk, msg, f);

    if (!sbuf.data) {
        msgpack_sbuffer_destroy (&sbuf);
        return -ENOMEM;
    }
    *len = sbuf.size;
    *buf = msgpack_sbuffer_release (&sbuf);
    return 0;
}

zframe_t *
proto_encode (const proto_msg_t *msg)
{
    char *buf;
    size_t len;
    if (proto_encode_buf (msg, &buf, &len) < 0)
        return NULL;
    zframe_t *frame = zframe_new (buf, len);
    free (buf);
    return frame;
}

/* ------------------------------------------------------------------ */
/*  Decoding                                                           */

/*  msgpack-c allocates the elements of an array or map from its header
    before it reads them, so a 5-byte body could ask for gigabytes. This
    walk checks, before msgpack-c sees the buffer, that every container
    declares no more elements than there are bytes left to hold them (each
    element takes at least one byte); the total allocation is then bounded
    by the size of the body. Returns 0 or -EPROTO. */
static int
s_bounded (const uint8_t *p, size_t len)
{
    size_t off = 0;
    uint64_t pending = 1; /* objects still to read */
    while (pending > 0) {
        if (off >= len)
            return -EPROTO;
        uint8_t b = p[off++];
        pending--;
        uint64_t skip = 0, children = 0, width = 0;
        bool sized = false; /* skip comes from a length field of width bytes */
        uint64_t extra = 0; /* bytes after the length field before the data */

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            skip = 0;
        else if (b >= 0x80 && b <= 0x8f)
            children = 2u * (b & 0x0f);
        else if (b >= 0x90 && b <= 0x9f)
            children = b & 0x0f;
        else if (b >= 0xa0 && b <= 0xbf)
            skip = b & 0x1f;
        else {
            switch (b) {
            case 0xc4: case 0xd9: width = 1; sized = true; break;
            case 0xc5: case 0xda: width = 2; sized = true; break;
            case 0xc6: case 0xdb: width = 4; sized = true; break;
            case 0xc7: width = 1; sized = true; extra = 1; break;
            case 0xc8: width = 2; sized = true; extra = 1; break;
            case 0xc9: width = 4; sized = true; extra = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: width = 2; break;
            case 0xdd: case 0xdf: width = 4; break;
            default: return -EPROTO; /* 0xc1 is never used */
            }
        }
        if (width > 0) {
            if (len - off < width)
                return -EPROTO;
            uint64_t n = 0;
            for (uint64_t i = 0; i < width; i++)
                n = (n << 8) | p[off++];
            if (sized)
                skip = n + extra;
            else
                children = (b == 0xde || b == 0xdf) ? 2 * n : n;
        }
        if (skip > len - off)
            return -EPROTO;
        off += skip;
        if (children > len - off)
            return -EPROTO;
        pending += children;
    }
    return 0;
}

static bool
s_utf8_valid (const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned min;
        if (c == 0)
            return false; /* no NUL inside a C string */
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) { n = 1; min = 0x80; c &= 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 2; min = 0x800; c &= 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 3; min = 0x10000; c &= 0x07; }
        else return false;
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

static bool
s_key_is (const msgpack_object *key, const char *name)
{
    size_t n = strlen (name);
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n
           && memcmp (key->via.str.ptr, name, n) == 0;
}

/*  Copies a msgpack string into a NUL-terminated buffer of `size`. */
static int
s_get_str (const msgpack_object *o, char *dest, size_t size)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= size
        || !s_utf8_valid (o->via.str.ptr, o->via.str.size))
        return -EPROTO;
    memcpy (dest, o->via.str.ptr, o->via.str.size);
    dest[o->via.str.size] = '\0';
    return 0;
}

static int
s_get_number (const msgpack_object *o, double *value)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *value = (double) o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *value = (double) o->via.i64; return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *value = o->via.f64; return 0;
    default: return -EPROTO;
    }
}

static int
s_get_artifacts (const msgpack_object *o, proto_msg_t *msg)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > PROTO_MAX_ARTIFACTS)
        return -EPROTO;
    msg->artifact_count = 0;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *item = &o->via.array.ptr[i];
        if (item->type != MSGPACK_OBJECT_MAP)
            return -EPROTO;
        proto_artifact_t *a = &msg->artifacts[i];
        memset (a, 0, sizeof *a);
        bool has_name = false;
        for (uint32_t k = 0; k < item->via.map.size; k++) {
            const msgpack_object *key = &item->via.map.ptr[k].key;
            const msgpack_object *val = &item->via.map.ptr[k].val;
            double size;
            if (s_key_is (key, "name")) {
                if (s_get_str (val, a->name, sizeof a->name) < 0 || !a->name[0])
                    return -EPROTO;
                has_name = true;
            }
            else if (s_key_is (key, "path")) {
                if (s_get_str (val, a->path, sizeof a->path) < 0)
                    return -EPROTO;
            }
            else if (s_key_is (key, "type")) {
                if (s_get_str (val, a->type, sizeof a->type) < 0)
                    return -EPROTO;
            }
            else if (s_key_is (key, "size_bytes")) {
                if (s_get_number (val, &size) < 0 || size < 0 || size > 9.2e18)
                    return -EPROTO;
                a->size_bytes = (int64_t) size;
            }
        }
        if (!has_name)
            return -EPROTO;
        msg->artifact_count++;
    }
    return 0;
}

static int
s_get_running (const msgpack_object *o, proto_msg_t *msg)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > PROTO_MAX_RUNNING)
        return -EPROTO;
    msg->running_count = 0;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *item = &o->via.array.ptr[i];
        if (item->type != MSGPACK_OBJECT_MAP)
            return -EPROTO;
        proto_running_t *r = &msg->running[i];
        memset (r, 0, sizeof *r);
        for (uint32_t k = 0; k < item->via.map.size; k++) {
            const msgpack_object *key = &item->via.map.ptr[k].key;
            const msgpack_object *val = &item->via.map.ptr[k].val;
            double attempt;
            if (s_key_is (key, "job")) {
                if (s_get_str (val, r->job, sizeof r->job) < 0)
                    return -EPROTO;
            }
            else if (s_key_is (key, "attempt")) {
                if (s_get_number (val, &attempt) < 0 || !(attempt >= 1)
                    || attempt > 1000000)
                    return -EPROTO;
                r->attempt = (int32_t) attempt;
            }
        }
        msg->running_count++;
    }
    return 0; /* ids and attempts are checked with the other fields */
}

/*  Reads one field's value into msg. Returns 0 or -EPROTO. */
static int
s_get_field (const msgpack_object *o, proto_msg_t *msg, field_id_t f)
{
    const field_t *d = &s_fields[f];
    void *p = s_at (msg, f);
    char name[32];
    double v;

    switch (d->kind) {
    case FT_STR: return s_get_str (o, p, d->size);
    case FT_JOB: return s_get_str (o, p, JOB_ID_SIZE);
    case FT_I32:
    case FT_I64:
    case FT_U64:
    case FT_DBL:
        if (s_get_number (o, &v) < 0 || isnan (v) || v < d->min || v > d->max)
            return -EPROTO;
        if (d->kind == FT_I32)
            *(int32_t *) p = (int32_t) v;
        else if (d->kind == FT_I64)
            *(int64_t *) p = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                                 ? (int64_t) o->via.u64
                                 : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
                                       ? o->via.i64 : (int64_t) v;
        else if (d->kind == FT_U64)
            *(uint64_t *) p = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                                  ? o->via.u64 : (uint64_t) v;
        else
            *(double *) p = v;
        return 0;
    case FT_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return -EPROTO;
        *(bool *) p = o->via.boolean;
        return 0;
    case FT_KIND:
        if (s_get_str (o, name, sizeof name) < 0)
            return -EPROTO;
        return proto_event_kind_parse (name, &msg->kind) < 0 ? -EPROTO : 0;
    case FT_STATUS:
        if (s_get_str (o, name, sizeof name) < 0)
            return -EPROTO;
        return job_status_parse (name, &msg->status) < 0 ? -EPROTO : 0;
    case FT_STEP:
        if (s_get_str (o, name, sizeof name) < 0)
            return -EPROTO;
        return step_parse (name, &msg->step) < 0 ? -EPROTO : 0;
    case FT_STEP_STATUS:
        if (s_get_str (o, name, sizeof name) < 0)
            return -EPROTO;
        return step_status_parse (name, &msg->step_status) < 0 ? -EPROTO : 0;
    case FT_STEPS:
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != STEP_COUNT)
            return -EPROTO;
        for (int i = 0; i < STEP_COUNT; i++) {
            if (s_get_str (&o->via.array.ptr[i], name, sizeof name) < 0
                || step_status_parse (name, &msg->steps[i]) < 0)
                return -EPROTO;
        }
        return 0;
    case FT_ARTIFACTS: return s_get_artifacts (o, msg);
    case FT_RUNNING: return s_get_running (o, msg);
    case FT_SPEC:
        if (o->type != MSGPACK_OBJECT_STR
            || o->via.str.size > PROTO_MAX_SPEC_BYTES
            || !s_utf8_valid (o->via.str.ptr, o->via.str.size))
            return -EPROTO;
        return proto_msg_set_spec (msg, o->via.str.ptr, o->via.str.size) < 0
                   ? -EPROTO : 0;
    }
    return -EPROTO;
}

static int
s_fail (proto_msg_t *msg, int rc, char *err, size_t err_size, const char *fmt,
        ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, err_size, fmt, args);
    va_end (args);
    proto_msg_reset (msg);
    return rc;
}

int
proto_decode (const void *buf, size_t len, proto_msg_t *msg, char *err,
              size_t err_size)
{
    proto_msg_init (msg, PROTO_NONE);
    if (len > PROTO_MAX_MSG_BYTES)
        return s_fail (msg, -EMSGSIZE, err, err_size,
                       "body of %zu bytes exceeds the limit of %d", len,
                       PROTO_MAX_MSG_BYTES);
    if (len == 0 || s_bounded (buf, len) < 0)
        return s_fail (msg, -EPROTO, err, err_size, "not a msgpack object");

    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t off = 0;
    int rc = 0;
    msgpack_unpack_return ret = msgpack_unpack_next (&result, buf, len, &off);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = s_fail (msg, -EPROTO, err, err_size,
                     ret == MSGPACK_UNPACK_SUCCESS ? "trailing bytes after the body"
                                                   : "not a msgpack object");
        goto cleanup;
    }
    const msgpack_object *root = &result.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        rc = s_fail (msg, -EPROTO, err, err_size, "body is not a map");
        goto cleanup;
    }
    const msgpack_object_kv *kv = root->via.map.ptr;
    uint32_t n = root->via.map.size;

    /* first pass: version, type and event kind decide the shape */
    const msgpack_object *version = NULL, *type = NULL, *kind = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (s_key_is (&kv[i].key, "v"))
            version = &kv[i].val;
        else if (s_key_is (&kv[i].key, "t"))
            type = &kv[i].val;
        else if (s_key_is (&kv[i].key, "kind"))
            kind = &kv[i].val;
    }
    if (!version || !type) {
        rc = s_fail (msg, -EPROTO, err, err_size, "missing key '%s'",
                     version ? "t" : "v");
        goto cleanup;
    }
    if (version->type != MSGPACK_OBJECT_POSITIVE_INTEGER
        || version->via.u64 != PROTO_VERSION) {
        rc = s_fail (msg, -EPROTO, err, err_size, "unsupported version");
        goto cleanup;
    }
    char type_name[32];
    if (s_get_str (type, type_name, sizeof type_name) < 0) {
        rc = s_fail (msg, -EPROTO, err, err_size, "'t' is not a short string");
        goto cleanup;
    }
    for (int t = PROTO_NONE + 1; t < PROTO_TYPE_COUNT; t++)
        if (strcmp (type_name, s_types[t].name) == 0)
            msg->type = (proto_type_t) t;
    if (msg->type == PROTO_NONE) {
        rc = s_fail (msg, -EPROTO, err, err_size, "unknown type '%s'", type_name);
        goto cleanup;
    }
    if (msg->type == PROTO_EVENT) {
        if (!kind || s_get_field (kind, msg, F_KIND) < 0) {
            rc = s_fail (msg, -EPROTO, err, err_size,
                         kind ? "unknown event kind" : "missing key 'kind'");
            goto cleanup;
        }
    }
    uint64_t required, optional;
    s_shape (msg->type, msg->kind, &required, &optional);

    /* second pass: the fields of this shape; other keys are ignored */
    uint64_t seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *key = &kv[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        for (uint64_t left = required | optional; left; left &= left - 1) {
            int f = __builtin_ctzll (left);
            if (key->via.str.size != s_fields[f].key_len
                || memcmp (key->via.str.ptr, s_fields[f].key,
                           s_fields[f].key_len) != 0)
                continue;
            if (s_get_field (&kv[i].val, msg, f) < 0) {
                rc = s_fail (msg, -EPROTO, err, err_size, "'%s' has a bad value",
                             s_fields[f].key);
                goto cleanup;
            }
            seen |= B (f);
            break; /* keys are distinct */
        }
    }
    uint64_t missing = required & ~seen;
    if (missing) {
        int f = __builtin_ctzll (missing);
        rc = s_fail (msg, -EPROTO, err, err_size, "missing key '%s'",
                     s_fields[f].key);
        goto cleanup;
    }
    char why[96];
    if (s_check (msg, required, seen, why, sizeof why) < 0) {
        rc = s_fail (msg, -EPROTO, err, err_size, "%s", why);
        goto cleanup;
    }

cleanup:
    msgpack_unpacked_destroy (&result);
    return rc;
}
