/*  proto — the one codec of every message that crosses a ZeroMQ socket.
    A body is a msgpack map with string keys; `v` (version) and `t` (type)
    are required, unknown keys are ignored. No other module touches msgpack.

    Messages are plain structs: proto_msg_init() sets every field to its
    "absent" default, the sender fills what the type needs, proto_encode()
    writes the keys of that type. proto_decode() is a pure function over
    (buf, len) that rejects — never crashes on — a body that is not a map,
    lacks v/t, has a required key missing or of the wrong type, a string too
    long for its field, or is larger than PROTO_MAX_MSG_BYTES.

    Wire keys are snake_case; the gateway turns them into the camelCase JSON
    of the SSE events and the HTTP API. */
#ifndef AURA_PROTO_H
#define AURA_PROTO_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "phase.h"

#define PROTO_VERSION 1
/*  Largest body any socket accepts (ZMQ_MAXMSGSIZE on every socket). */
#define PROTO_MAX_MSG_BYTES (256 * 1024)
/*  Largest job specification (the validated request JSON) carried. */
#define PROTO_MAX_SPEC_BYTES (64 * 1024)
#define PROTO_MAX_ARTIFACTS 16
/*  Most jobs a heartbeat can name (a worker has at most 64 slots). */
#define PROTO_MAX_RUNNING 64
/*  Most items after the header of a multipart answer (page, events). */
#define PROTO_MAX_ITEMS 1000

typedef enum {
    PROTO_NONE = 0,
    /* gateway → broker frontend (DEALER → ROUTER), each answered */
    PROTO_SUBMIT,    /* "submit":  cid, spec; idem_key?, title?      → job | error */
    PROTO_GET,       /* "get":     cid, job                          → job | error */
    PROTO_PING,      /* "ping":    cid                               → pong */
    PROTO_LIST,      /* "list":    cid, limit; filter?, cursor?      → page + jobs */
    PROTO_REPLAY,    /* "replay":  cid, job, seq (after), limit      → events + events */
    PROTO_CANCEL_JOB,/* "cancel_job": cid, job                       → job | error */
    PROTO_RETRY_JOB, /* "retry_job":  cid, job                       → job | error */
    /* broker frontend → gateway */
    PROTO_JOB,       /* "job":     cid, snapshot of one job */
    PROTO_ERROR,     /* "error":   cid, error_status (HTTP-like), code, message */
    PROTO_PONG,      /* "pong":    cid, jobs_<status>? (counts the broker holds) */
    PROTO_PAGE,      /* "page":    cid, count, cursor ("" = last page); then
                        `count` more frames, each a "job" snapshot */
    PROTO_EVENTS,    /* "events":  cid, job, count, more; then `count` more
                        frames, each an "event" with its seq, in order */
    /* broker jobs PUSH → worker PULL */
    PROTO_DISPATCH,  /* "dispatch": job, attempt, cid, spec, steps (done ones) */
    /* worker PUSH → broker events PULL */
    PROTO_HEARTBEAT, /* "heartbeat": worker, slots_free, slots_total, running? */
    PROTO_ACCEPTED,  /* "accepted":  worker, job, attempt, slots_free, slots_total */
    PROTO_DECLINED,  /* "declined":  worker, job, attempt, code, slots_free, slots_total */
    PROTO_EVENT,     /* "event": worker → broker (seq 0), broker PUB → all (seq set) */
    /* broker PUB → worker SUB, topic ctl.cancel.<job> */
    PROTO_CANCEL,    /* "cancel": job, attempt */
    PROTO_TYPE_COUNT
} proto_type_t;

/*  The kind of a PROTO_EVENT; the wire names are the SSE event names. */
typedef enum {
    EVENT_NONE = 0,
    EVENT_JOB_STATUS,    /* "job-status":    status, phase, percent, attempt, queue_position? */
    EVENT_STEP_STATUS,   /* "step-status":   step, step_status, attempt */
    EVENT_STEP_PROGRESS, /* "step-progress": step, phase, step_percent, percent, message, eta_s? */
    EVENT_WARNING,       /* "warning":       code, message */
    EVENT_ERROR,         /* "error":         code, message, retryable */
    EVENT_JOB_COMPLETED, /* "job-completed": artifacts, output_* */
    EVENT_JOB_FAILED,    /* "job-failed":    step, code, message */
    EVENT_JOB_CANCELLED, /* "job-cancelled": step */
    EVENT_KIND_COUNT
} proto_event_kind_t;

typedef struct {
    char name[64];   /* "video.mp4" */
    char path[256];  /* path relative to the job's artifact directory */
    char type[64];   /* MIME type */
    int64_t size_bytes;
} proto_artifact_t;

/*  A job a worker is running, as named in its heartbeat. */
typedef struct {
    char job[JOB_ID_SIZE];
    int32_t attempt;
} proto_running_t;

typedef struct {
    proto_type_t type;                 /* "t" */
    int64_t ts_us;                     /* "ts": when the fact was created */
    char cid[65];                      /* "cid": correlation id */
    char job[JOB_ID_SIZE];             /* "job" */
    char worker[65];                   /* "worker": worker identity */
    int32_t attempt;                   /* "attempt": 1, 2, … */
    uint64_t seq;                      /* "seq": per-job event number, 0 = none */

    /* events */
    proto_event_kind_t kind;           /* "kind" */
    job_status_t status;               /* "status" (job-status, job snapshot) */
    step_t step;                       /* "step" */
    step_status_t step_status;         /* "step_status" */
    char phase[16];                    /* "phase" */
    double percent;                    /* "percent": overall, 0..100 */
    double step_percent;               /* "step_percent": 0..100 */
    int32_t eta_s;                     /* "eta_s": -1 = unknown */
    int32_t queue_position;            /* "queue_position": -1 = none */
    char code[64];                     /* "code": warning / error code */
    char message[512];                 /* "message" */
    bool retryable;                    /* "retryable" */

    /* results (job-completed, job snapshot) */
    proto_artifact_t artifacts[PROTO_MAX_ARTIFACTS]; /* "artifacts" */
    size_t artifact_count;
    char output_video[256];            /* "output_video": relative path */
    char output_subtitle[256];         /* "output_subtitle" */
    int64_t output_size_bytes;         /* "output_size_bytes" */
    double output_duration_s;          /* "output_duration_s" */

    /* job snapshot, dispatch */
    step_status_t steps[STEP_COUNT];   /* "steps": array of 5 status names */
    int64_t created_us;                /* "created" */
    int64_t started_us;                /* "started": 0 = not yet */
    int64_t finished_us;               /* "finished": 0 = not yet */

    /* worker credits */
    int32_t slots_free;                /* "slots_free" */
    int32_t slots_total;               /* "slots_total" */

    /* worker heartbeat: the jobs it runs right now */
    proto_running_t running[PROTO_MAX_RUNNING]; /* "running": [{job, attempt}] */
    size_t running_count;

    /* requests and replies */
    int32_t error_status;              /* "error_status": 400, 404, 409, 503 … */
    char idem_key[129];                /* "idem_key": Idempotency-Key */
    char title[256];                   /* "title": the brief's topic (submit, job) */
    char filter[16];                   /* "filter": list only this status, "" = all */
    char cursor[JOB_ID_SIZE];          /* "cursor": list jobs older than this id */
    int32_t limit;                     /* "limit": most items wanted (list, replay) */
    int32_t count;                     /* "count": item frames after a page/events header */
    bool more;                         /* "more": events remain after this answer */
    int64_t jobs_by_status[JOB_STATUS_COUNT]; /* pong: "jobs_queued", "jobs_running",
                                                 "jobs_done", "jobs_failed",
                                                 "jobs_canceled" */
    char *spec;                        /* "spec": job request JSON, owned, heap */
    size_t spec_len;
} proto_msg_t;

/*  Sets every field to its absent value (numbers 0, eta_s and
    queue_position -1, strings empty, steps Pending, spec NULL). */
void proto_msg_init (proto_msg_t *msg, proto_type_t type);

/*  Frees what msg owns (spec) and initialises it again as PROTO_NONE. */
void proto_msg_reset (proto_msg_t *msg);

/*  Copies spec[0..len) into msg (replacing any previous one). Returns 0,
    -EMSGSIZE over PROTO_MAX_SPEC_BYTES, or -ENOMEM. */
int proto_msg_set_spec (proto_msg_t *msg, const char *spec, size_t len);

/*  Appends a running job to a heartbeat. Returns 0, or -ENOSPC when full
    or job is not a job id. */
int proto_msg_add_running (proto_msg_t *msg, const char *job, int32_t attempt);

/*  Appends an artifact. Returns 0, or -ENOSPC when full or a string does
    not fit its field. */
int proto_msg_add_artifact (proto_msg_t *msg, const char *name,
                            const char *path, const char *type,
                            int64_t size_bytes);

/*  Encodes msg. Returns a new frame the caller owns, or NULL when msg is
    not a valid message of its type (a programmer error, logged). */
zframe_t *proto_encode (const proto_msg_t *msg);

/*  Encodes into a malloc'd buffer the caller frees. Returns 0 or -EINVAL /
    -ENOMEM. */
int proto_encode_buf (const proto_msg_t *msg, char **buf, size_t *len);

/*  Decodes buf[0..len) into msg, which it first initialises; on success
    the caller must proto_msg_reset() it. Returns 0, or -EMSGSIZE (too
    large), -EPROTO (not msgpack, not a map, missing or mistyped key, bad
    value) with a one-line reason in err; msg then owns nothing. */
int proto_decode (const void *buf, size_t len, proto_msg_t *msg, char *err,
                  size_t err_size);

/*  Wire names. Return "?" for values out of range. */
const char *proto_type_name (proto_type_t type);
const char *proto_event_kind_name (proto_event_kind_t kind);
int proto_event_kind_parse (const char *name, proto_event_kind_t *kind);

/*  True for job-completed, job-failed and job-cancelled. */
bool proto_event_is_terminal (proto_event_kind_t kind);

/*  PUB topics: "job.<id>" for a job's events, "ctl.cancel.<id>" for
    cancels. Prefixes without the id subscribe to all. */
#define PROTO_TOPIC_JOB "job."
#define PROTO_TOPIC_CANCEL "ctl.cancel."
/*  Writes prefix + job into out. Returns 0 or -ENOSPC. */
int proto_topic (char *out, size_t out_size, const char *prefix,
                 const char *job);

/*  Applies the options every Aura socket uses: ZMQ_MAXMSGSIZE =
    PROTO_MAX_MSG_BYTES and a short linger so shutdown never hangs. */
void proto_socket_defaults (zsock_t *sock);

/*  Microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t proto_now_us (void);

#endif
