/*  server — HTTP routes on libmicrohttpd.

    Each request gets a conn_t on the first call of the access handler.
    Work that needs the broker follows one pattern: suspend the connection,
    hand the request to the bus, return; the bus's callback stores the
    outcome and resumes the connection, and libmicrohttpd calls the access
    handler again, which then queues the response. An SSE stream is a
    callback response whose reader sleeps (suspends) when its hub stream
    has nothing to send; while it catches up from the broker, the reader
    fetches each page of events with the same suspend/resume pattern. A connection is suspended only from its own
    handler or reader and resumed only by whoever took the wake-up duty,
    so it is never resumed twice. */
#include "server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "auth.h"
#include "client_limits.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "phase.h"
#include "render.h"
#include "request.h"
#include "route.h"
#include "sse.h"
#include "web.h"

/*  Per-connection memory pool (headers, read and write buffers): what an
    idle stream costs, besides its hub stream. One page: a larger pool is
    touched at both ends (headers at one, buffers at the other), so it
    costs two. It holds the request headers an API client or a browser
    sends to this origin (about 1 KiB; larger ones get 431) and a
    stream's 1 KiB write block. */
#define SERVER_CONNECTION_MEMORY_BYTES (4 * 1024)
/*  Connections from one address beyond its stream cap, for its other
    requests; past this libmicrohttpd refuses the connection itself, which
    is what stops one address from holding thousands of half-sent
    requests (slow loris). */
#define SERVER_PER_IP_EXTRA_CONNECTIONS 32
/*  What an event token for the stream of all jobs is signed for: no job
    id can be "*". */
#define SERVER_ALL_JOBS_SUBJECT "*"
/*  Replays in a row that bring no new event before a stream that cannot
    catch up is given up (its client reconnects). */
#define SERVER_MAX_STALLED_REPLAYS 3
/*  Most query parameters read from a request. */
#define SERVER_MAX_QUERY_ARGS 16
/*  Bytes an SSE reader is asked for at most at once: small, because
    libmicrohttpd keeps this much per stream. A burst of events takes a
    few more calls; a keepalive or an event fits one. */
#define SERVER_STREAM_BLOCK_BYTES 1024
/*  A body over the limit but under this is read and thrown away so that
    the 413 reaches the client on a healthy connection; a larger one is
    refused at once and the connection closed. */
#define SERVER_DISCARD_LIMIT_BYTES (1024 * 1024)
/*  Status codes counted per route: 100 to 599, each its own sample. */
#define SERVER_FIRST_CODE 100
#define SERVER_CODE_SLOTS 500
/*  The request counters' row for requests that matched no route. */
#define SERVER_UNMATCHED ROUTE_COUNT
/*  Methods the request counters tell apart; the last slot is any other. */
static const char *const s_counted_methods[] = { "GET", "POST", "HEAD", "OPTIONS",
                                                 "other" };

/*  Why a request was refused before any work, for /metrics. */
typedef enum {
    REJECT_RATE_LIMITED = 0,
    REJECT_STREAMS_GLOBAL,
    REJECT_STREAMS_PER_IP,
    REJECT_UNAUTHORIZED,
    REJECT_BODY_TOO_LARGE,
    REJECT_CORS,
    REJECT_COUNT
} reject_t;
static const char *const s_reject_names[REJECT_COUNT] = {
    "rate_limited", "streams_global", "streams_per_ip", "unauthorized",
    "body_too_large", "cors_origin",
};
#define SERVER_METHOD_SLOTS (sizeof s_counted_methods / sizeof *s_counted_methods)

struct server_t {
    struct MHD_Daemon *daemon;
    MHD_socket listen_fd;      /* returned by quiesce; closed after stop */
    bus_t *bus;
    hub_t *hub;
    int port;
    int broker_timeout_ms;
    char artifact_dir[sizeof ((aura_config_t *) 0)->artifact_dir];
    char web_dir[sizeof ((aura_config_t *) 0)->web_dir];
    auth_t *auth;
    client_limits_t *limits;
    atomic_int suspended;      /* connections suspended right now */

    /* for /metrics: written by the HTTP thread, read without a lock */
    atomic_uint_fast64_t requests[ROUTE_COUNT + 1][SERVER_METHOD_SLOTS][SERVER_CODE_SLOTS];
    metrics_histogram_t request_duration;
    atomic_uint_fast64_t streams_open;
    atomic_uint_fast64_t streams_opened;
    atomic_uint_fast64_t streams_cut;
    atomic_uint_fast64_t reconnects;
    atomic_uint_fast64_t rejected[REJECT_COUNT];
};

typedef enum {
    CALL_NONE = 0,
    CALL_PENDING,
    CALL_DONE
} call_state_t;

typedef struct {
    server_t *server;
    struct MHD_Connection *conn;
    char cid[65];
    char method[16];
    char path[128];            /* for log lines, truncated */
    route_t route;
    route_result_t route_result;
    bool begun;                /* the request was complete and handled */
    int64_t started_us;

    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    size_t body_discarded;

    struct sockaddr_storage client; /* the peer, for limits */
    bool has_client;
    const char *allow_origin;  /* Access-Control-Allow-Origin or NULL; points
                                  into the request's headers, which live as
                                  long as the request, or at static "*" */
    bool stream_admitted;      /* counted by client_limits until completed */

    atomic_int call_state;     /* call_state_t */
    int call_status;           /* bus_done_fn status, valid once CALL_DONE */
    bus_reply_t *reply;

    bool has_last_event_id;
    uint64_t last_event_id;
    bool all_jobs;             /* GET /api/events */
    char *web_path;            /* ROUTE_WEB: the file, NULL = none (kept
                                  off the struct: every stream has one) */
    hub_stream_t *stream;
    bool catching_up;          /* the stream is fed from the broker, detached */
    bool stream_counted;       /* counted in streams_open until completed */
    uint64_t known_latest;     /* the broker had no event above this one */
    int stalled_rounds;        /* replays in a row that brought nothing new */
} conn_t;

/* ------------------------------------------------------------ suspension */

static void
s_suspend (conn_t *c)
{
    atomic_fetch_add (&c->server->suspended, 1);
    MHD_suspend_connection (c->conn);
}

/*  Resumes c's connection. After this call c may be freed at any moment
    by the HTTP thread, so it is read before. */
static void
s_resume (conn_t *c)
{
    server_t *server = c->server;
    struct MHD_Connection *conn = c->conn;
    atomic_fetch_sub (&server->suspended, 1);
    MHD_resume_connection (conn);
}

static void
s_stream_sleep (void *arg)
{
    s_suspend ((conn_t *) arg);
}

static void
s_stream_wake (void *arg)
{
    s_resume ((conn_t *) arg);
}

/* ------------------------------------------------------------- responses */

static double
s_elapsed_ms (const conn_t *c)
{
    return (double) (proto_now_us () - c->started_us) / 1000.0;
}

/*  Counts a response of status to c's request. */
static void
s_count_request (conn_t *c, unsigned status)
{
    size_t row = c->route_result == ROUTE_MATCHED ? (size_t) c->route.id : SERVER_UNMATCHED;
    size_t method = 0;
    while (method < SERVER_METHOD_SLOTS - 1 && strcmp (c->method, s_counted_methods[method]))
        method++;
    if (status < SERVER_FIRST_CODE || status >= SERVER_FIRST_CODE + SERVER_CODE_SLOTS)
        return; /* libmicrohttpd sends no such code */
    atomic_fetch_add_explicit (
        &c->server->requests[row][method][status - SERVER_FIRST_CODE], 1,
        memory_order_relaxed);
}

static void
s_reject (conn_t *c, reject_t reason)
{
    atomic_fetch_add_explicit (&c->server->rejected[reason], 1, memory_order_relaxed);
}

/*  The headers every answer carries: the correlation id, and CORS ones
    when the request's origin may read the answer. */
static void
s_add_common_headers (conn_t *c, struct MHD_Response *response)
{
    MHD_add_response_header (response, "X-Correlation-ID", c->cid);
    if (c->allow_origin) {
        MHD_add_response_header (response, "Access-Control-Allow-Origin", c->allow_origin);
        MHD_add_response_header (response, "Access-Control-Expose-Headers",
                                 AUTH_CORS_EXPOSE_HEADERS);
    }
    if (auth_cors_varies (c->server->auth))
        MHD_add_response_header (response, MHD_HTTP_HEADER_VARY, AUTH_CORS_VARY);
}

/*  Queues response (which is released here; NULL when creating it
    failed) with the correlation id, content_type (may be NULL) and
    headers, a NULL-terminated list of name, value pairs (may be NULL). */
static enum MHD_Result
s_queue (conn_t *c, unsigned status, struct MHD_Response *response,
         const char *content_type, const char *const *headers)
{
    if (!response) {
        log_write (AURA_LOG_ERROR, c->cid, c->route.job, "cannot create a response");
        return MHD_NO;
    }
    s_add_common_headers (c, response);
    if (content_type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header (response, headers[i], headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response (c->conn, status, response);
    MHD_destroy_response (response);
    s_count_request (c, status);
    metrics_histogram_observe (&c->server->request_duration,
                               proto_now_us () - c->started_us);
    log_write (status >= 500 ? AURA_LOG_WARN : AURA_LOG_INFO, c->cid, c->route.job,
               "%s %s %u %.1fms", c->method, c->path, status, s_elapsed_ms (c));
    return rc;
}

/*  Queues a response. body is malloc'd and taken over (NULL for none);
    headers is a NULL-terminated list of name, value pairs (may be NULL). */
static enum MHD_Result
s_respond (conn_t *c, unsigned status, char *body, size_t len,
           const char *content_type, const char *const *headers)
{
    struct MHD_Response *response
        = body ? MHD_create_response_from_buffer (len, body, MHD_RESPMEM_MUST_FREE)
               : MHD_create_response_from_buffer (0, (void *) "", MHD_RESPMEM_PERSISTENT);
    if (!response)
        free (body);
    return s_queue (c, status, response, content_type, headers);
}

static enum MHD_Result
s_respond_json (conn_t *c, unsigned status, json_t *doc, const char *content_type,
                const char *const *headers)
{
    size_t len = 0;
    char *text = doc ? render_dump (doc, &len) : NULL;
    json_decref (doc);
    if (!text) {
        log_write (AURA_LOG_ERROR, c->cid, c->route.job, "cannot render a response");
        static const char *const retry[] = { "Retry-After", "1", NULL };
        return s_respond (c, 500, NULL, 0, NULL, retry);
    }
    return s_respond (c, status, text, len, content_type, headers);
}

static enum MHD_Result
s_respond_problem (conn_t *c, unsigned status, const char *detail,
                   const request_errors_t *errors, const char *const *headers)
{
    return s_respond_json (c, status, render_problem ((int) status, detail, c->cid, errors),
                           "application/problem+json", headers);
}

static enum MHD_Result
s_respond_too_large (conn_t *c, const char *const *headers)
{
    s_reject (c, REJECT_BODY_TOO_LARGE);
    char detail[80];
    snprintf (detail, sizeof detail, "the request body is larger than %d bytes",
              REQUEST_MAX_BODY_BYTES);
    return s_respond_problem (c, 413, detail, NULL, headers);
}

static enum MHD_Result
s_respond_unavailable (conn_t *c, const char *detail)
{
    static const char *const headers[] = { "Retry-After", "1", NULL };
    return s_respond_problem (c, 503, detail, NULL, headers);
}

/*  503 for a broker call that got no answer. */
static enum MHD_Result
s_respond_call_failed (conn_t *c)
{
    char detail[160];
    switch (c->call_status) {
    case -ETIMEDOUT:
        snprintf (detail, sizeof detail, "the broker did not answer within %d ms",
                  c->server->broker_timeout_ms);
        break;
    case -ENOTCONN:
        snprintf (detail, sizeof detail, "the broker is unreachable");
        break;
    case -ECANCELED:
    case -ESHUTDOWN:
        snprintf (detail, sizeof detail, "the gateway is shutting down");
        break;
    case -EBADMSG:
        return s_respond_problem (c, 502, "the broker sent a malformed answer", NULL,
                                  NULL);
    default:
        snprintf (detail, sizeof detail, "the broker request failed (%s)",
                  strerror (-c->call_status));
        break;
    }
    return s_respond_unavailable (c, detail);
}

/*  The answer for a broker `error` reply: its 4xx status passes through,
    anything else is the broker's failure, 503 to the client. */
static enum MHD_Result
s_respond_broker_error (conn_t *c, const proto_msg_t *reply)
{
    char detail[1024];
    snprintf (detail, sizeof detail, "%s%s%s", reply->code,
              reply->message[0] ? ": " : "", reply->message);
    if (reply->error_status == 404 && c->route.job[0])
        snprintf (detail, sizeof detail, "no job %s", c->route.job);
    else if (reply->error_status == 409 && c->route.id == ROUTE_JOB_CANCEL)
        snprintf (detail, sizeof detail,
                  "job %s has already finished and cannot be cancelled", c->route.job);
    else if (reply->error_status == 409 && c->route.id == ROUTE_JOB_RETRY)
        snprintf (detail, sizeof detail, "job %s cannot be retried: %s", c->route.job,
                  reply->message[0] ? reply->message
                                    : "only a failed or cancelled job can be retried");
    if (reply->error_status >= 400 && reply->error_status < 500)
        return s_respond_problem (c, (unsigned) reply->error_status, detail, NULL, NULL);
    log_write (AURA_LOG_WARN, c->cid, c->route.job, "broker error %d: %s",
               reply->error_status, detail);
    return s_respond_unavailable (c, detail);
}

/* ------------------------------------------------------------ broker calls */

static void
s_on_call_done (void *arg, int status, bus_reply_t *reply)
{
    conn_t *c = arg;
    c->call_status = status;
    c->reply = reply;
    atomic_store_explicit (&c->call_state, CALL_DONE, memory_order_release);
    s_resume (c);
}

/*  Suspends the connection and sends request (taken over) to the broker;
    the handler (or the stream's reader) runs again once the outcome is
    known. A reply still held is released first. */
static void
s_call (conn_t *c, proto_msg_t *request)
{
    bus_reply_destroy (&c->reply);
    snprintf (request->cid, sizeof request->cid, "%s", c->cid);
    request->ts_us = proto_now_us ();
    atomic_store (&c->call_state, CALL_PENDING);
    /* suspended before the bus can possibly resume it */
    s_suspend (c);
    int rc = bus_call (c->server->bus, request, s_on_call_done, c);
    if (rc < 0) {
        c->call_status = rc;
        atomic_store_explicit (&c->call_state, CALL_DONE, memory_order_release);
        s_resume (c);
    }
}

static enum MHD_Result
s_start_call (conn_t *c, proto_msg_t *request)
{
    s_call (c, request);
    return MHD_YES;
}

static proto_msg_t *
s_request_new (proto_type_t type)
{
    proto_msg_t *msg = malloc (sizeof *msg);
    if (msg)
        proto_msg_init (msg, type);
    return msg;
}

static enum MHD_Result
s_call_simple (conn_t *c, proto_type_t type)
{
    proto_msg_t *request = s_request_new (type);
    if (!request)
        return s_respond_unavailable (c, "out of memory");
    if (c->route.job[0])
        snprintf (request->job, sizeof request->job, "%s", c->route.job);
    return s_start_call (c, request);
}

/* ------------------------------------------------------------------ SSE */

/*  A stream whose client is behind what the hub holds catches up from
    the broker first: it stays detached from the hub and is fed `replay`
    pages of BUS_REPLAY_LIMIT events, one page once the previous one is
    sent, until the hub can carry on from where the stream stands
    (hub_stream_follow). The replayed frames are rendered exactly like
    live ones, so the client sees one sequence without gap or repeat. */

typedef enum {
    CATCH_UP_DONE,     /* attached, or ends after what it holds */
    CATCH_UP_WAITING,  /* a replay is in flight; the connection is suspended */
    CATCH_UP_SHUTDOWN, /* the gateway is stopping */
    CATCH_UP_FAILED    /* logged; the client reconnects and tries again */
} catch_up_t;

/*  Takes in the answer to the replay in flight. Returns 0; -ECANCELED
    when the gateway is stopping; -1 otherwise (logged). */
static int
s_catch_up_take (conn_t *c)
{
    int status = c->call_status;
    bus_reply_t *reply = c->reply;
    c->reply = NULL;
    atomic_store (&c->call_state, CALL_NONE);
    int rc = -1;
    if (status == -ECANCELED || status == -ESHUTDOWN)
        rc = -ECANCELED;
    else if (status < 0)
        log_write (AURA_LOG_WARN, c->cid, c->route.job,
                   "stream cut: replay from the broker failed (%s)", strerror (-status));
    else if (reply->msg.type != PROTO_EVENTS)
        log_write (AURA_LOG_WARN, c->cid, c->route.job,
                   "stream cut: replay answered %d %s", (int) reply->msg.error_status,
                   reply->msg.code);
    else {
        uint64_t before = hub_stream_position (c->stream);
        if (hub_stream_queue (c->stream, reply->events, reply->count, !reply->msg.more) < 0)
            log_write (AURA_LOG_WARN, c->cid, c->route.job,
                       "stream cut: the broker's events after #%" PRIu64
                       " leave a hole or do not fit",
                       before);
        else {
            uint64_t after = hub_stream_position (c->stream);
            if (!reply->msg.more && after > c->known_latest)
                c->known_latest = after;
            c->stalled_rounds = after > before ? 0 : c->stalled_rounds + 1;
            log_write (AURA_LOG_DEBUG, c->cid, c->route.job,
                       "replayed #%" PRIu64 "..#%" PRIu64 " from the broker%s", before + 1,
                       after, reply->msg.more ? ", more to come" : "");
            rc = 0;
        }
    }
    bus_reply_destroy (&reply);
    return rc;
}

/*  Attaches the stream to the hub when the hub can carry on from its
    position; otherwise asks the broker for the next page. */
static catch_up_t
s_catch_up (conn_t *c)
{
    uint64_t position = hub_stream_position (c->stream);
    int rc = hub_stream_follow (c->server->hub, c->stream, c->route.job, c->known_latest);
    if (rc == 0 || rc == -ENODATA) {
        c->catching_up = false;
        return CATCH_UP_DONE;
    }
    if (rc == -ESHUTDOWN)
        return CATCH_UP_SHUTDOWN;
    if (rc != -ERANGE) {
        log_write (AURA_LOG_ERROR, c->cid, c->route.job, "stream cut: cannot follow (%s)",
                   strerror (-rc));
        return CATCH_UP_FAILED;
    }
    if (c->stalled_rounds >= SERVER_MAX_STALLED_REPLAYS) {
        log_write (AURA_LOG_WARN, c->cid, c->route.job,
                   "stream cut: the broker has no events after #%" PRIu64
                   " that the gateway could follow",
                   position);
        return CATCH_UP_FAILED;
    }
    proto_msg_t *request = malloc (sizeof *request);
    if (!request) {
        log_write (AURA_LOG_ERROR, c->cid, c->route.job, "stream cut: out of memory");
        return CATCH_UP_FAILED;
    }
    proto_msg_init (request, PROTO_REPLAY);
    snprintf (request->job, sizeof request->job, "%s", c->route.job);
    request->seq = position;
    request->limit = BUS_REPLAY_LIMIT;
    s_call (c, request);
    return CATCH_UP_WAITING;
}

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    conn_t *c = cls;
    if (c->catching_up) {
        switch (atomic_load_explicit (&c->call_state, memory_order_acquire)) {
        case CALL_PENDING:
            /* called before the bus answered: wait again; the bus still
               owes its one resume (and the count its decrement) */
            MHD_suspend_connection (c->conn);
            return 0;
        case CALL_DONE: {
            int rc = s_catch_up_take (c);
            if (rc == -ECANCELED)
                return MHD_CONTENT_READER_END_OF_STREAM;
            if (rc < 0)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        default:
            break;
        }
        if (hub_stream_ended (c->stream))
            c->catching_up = false; /* its last event is queued */
        else if (hub_stream_idle (c->stream)) {
            switch (s_catch_up (c)) {
            case CATCH_UP_DONE: break;
            case CATCH_UP_WAITING: return 0;
            case CATCH_UP_SHUTDOWN: return MHD_CONTENT_READER_END_OF_STREAM;
            case CATCH_UP_FAILED: return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
    }
    ssize_t n = hub_stream_read (c->stream, buf, max, proto_now_us ());
    if (n >= 0)
        return n; /* 0 only after the stream suspended the connection */
    if (n == -ENODATA)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == -ECONNABORTED)
        atomic_fetch_add_explicit (&c->server->streams_cut, 1, memory_order_relaxed);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result
s_respond_stream (conn_t *c)
{
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, SERVER_STREAM_BLOCK_BYTES, s_stream_read, c, NULL);
    if (!response) {
        hub_stream_destroy (&c->stream);
        return s_respond_unavailable (c, "out of memory");
    }
    s_add_common_headers (c, response);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header (response, "X-Accel-Buffering", "no");
    /* The connection timeout stays: a stream waiting for events is
       suspended, which libmicrohttpd never times out (and resuming resets
       the timer), so it closes only a stream whose client took none of
       its bytes for that long. Such a client is never read from again,
       and a cut would otherwise leave its connection, and its place
       among AURA_MAX_STREAMS, open for good. Keepalives find clients
       that are gone. */
    enum MHD_Result rc = MHD_queue_response (c->conn, 200, response);
    MHD_destroy_response (response);
    s_count_request (c, 200);
    if (rc == MHD_YES) {
        c->stream_counted = true;
        if (c->has_last_event_id)
            atomic_fetch_add_explicit (&c->server->reconnects, 1, memory_order_relaxed);
        atomic_fetch_add_explicit (&c->server->streams_open, 1, memory_order_relaxed);
        atomic_fetch_add_explicit (&c->server->streams_opened, 1, memory_order_relaxed);
    }
    if (c->has_last_event_id)
        log_write (AURA_LOG_INFO, c->cid, c->route.job,
                   "%s %s 200 stream opened after #%" PRIu64 "%s %.1fms", c->method,
                   c->path, c->last_event_id,
                   c->catching_up ? " (catching up from the broker)" : "",
                   s_elapsed_ms (c));
    else
        log_write (AURA_LOG_INFO, c->cid, c->route.job, "%s %s 200 stream opened %.1fms",
                   c->method, c->path, s_elapsed_ms (c));
    return rc;
}

static hub_stream_t *
s_stream_new (conn_t *c)
{
    return hub_stream_new (c->cid, SSE_RETRY_FRAME, s_stream_sleep, s_stream_wake, c,
                           proto_now_us ());
}

/*  Opens the stream once the broker has described the job (its `job`
    answer): a client with Last-Event-ID gets every event after it, the
    others the snapshot as `job-status` and every event after it; a
    finished job sends only the snapshot, or answers 204 when nothing is
    left after Last-Event-ID. Events the hub does not hold come from the
    broker (see s_catch_up). */
static enum MHD_Result
s_open_stream (conn_t *c, const proto_msg_t *job)
{
    bool finished = job_status_is_terminal (job->status);
    if (c->has_last_event_id && finished && job->seq <= c->last_event_id)
        return s_respond (c, 204, NULL, 0, NULL, NULL);

    hub_event_t *snapshot = NULL;
    uint64_t position = c->has_last_event_id ? c->last_event_id : job->seq;
    bool final = !c->has_last_event_id && finished;
    if (!c->has_last_event_id) {
        char *frame = NULL;
        size_t frame_len = 0;
        if (sse_render_snapshot (job, proto_now_us (), &frame, &frame_len) < 0)
            return s_respond_unavailable (c, "cannot render the job snapshot");
        snapshot = hub_event_new (job->seq, finished, frame, frame_len);
        free (frame);
        if (!snapshot)
            return s_respond_unavailable (c, "out of memory");
    }
    c->stream = s_stream_new (c);
    int rc = c->stream ? hub_stream_begin (c->stream, snapshot, position, final) : -ENOMEM;
    hub_event_unref (&snapshot);
    if (rc < 0) {
        hub_stream_destroy (&c->stream);
        return s_respond_unavailable (c, "out of memory");
    }
    c->known_latest = job->seq;
    c->catching_up = !final;
    c->stalled_rounds = 0;
    /* job was the answer held here; the reader's calls start afresh */
    bus_reply_destroy (&c->reply);
    atomic_store (&c->call_state, CALL_NONE);
    return s_respond_stream (c);
}

/*  First call for GET /api/jobs/{id}/events: replay from the ring when it
    covers Last-Event-ID, otherwise ask the broker about the job first. */
static enum MHD_Result
s_begin_events (conn_t *c)
{
    /* a new EventSource cannot set the header: a client that reconnects
       by itself passes the id as ?lastEventId= instead; the header wins */
    const char *header = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_LAST_EVENT_ID);
    const char *source = "Last-Event-ID";
    if (!header) {
        header = MHD_lookup_connection_value (c->conn, MHD_GET_ARGUMENT_KIND, "lastEventId");
        source = "lastEventId";
    }
    if (header) {
        if (sse_parse_last_event_id (header, strlen (header), &c->last_event_id) < 0) {
            char detail[80];
            snprintf (detail, sizeof detail, "%s must be a non-negative integer", source);
            return s_respond_problem (c, 400, detail, NULL, NULL);
        }
        c->has_last_event_id = true;
        c->stream = s_stream_new (c);
        if (!c->stream)
            return s_respond_unavailable (c, "out of memory");
        int rc = hub_stream_attach_after (c->server->hub, c->stream, c->route.job,
                                          c->last_event_id);
        if (rc == 0)
            return s_respond_stream (c);
        hub_stream_destroy (&c->stream);
        if (rc == -ENODATA)
            return s_respond (c, 204, NULL, 0, NULL, NULL);
        if (rc == -ESHUTDOWN)
            return s_respond_unavailable (c, "the gateway is shutting down");
        /* -ERANGE: not all of it is here; the broker has the rest */
    }
    return s_call_simple (c, PROTO_GET);
}

/* ------------------------------------------------------------- handlers */

/*  400 for a request whose validation listed errors: the detail names
    every offending field. */
static enum MHD_Result
s_respond_invalid (conn_t *c, const request_errors_t *errors)
{
    char detail[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < errors->count && len < sizeof detail; i++) {
        int n = snprintf (detail + len, sizeof detail - len, "%s%s: %s", i ? "; " : "",
                          errors->items[i].field, errors->items[i].message);
        if (n < 0)
            break;
        len += (size_t) n;
    }
    return s_respond_problem (c, 400, detail, errors, NULL);
}

static enum MHD_Result
s_submit (conn_t *c)
{
    if (c->body_too_large)
        return s_respond_too_large (c, NULL);
    const char *idem_key = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                        "Idempotency-Key");
    if (idem_key) {
        request_errors_t errors;
        if (request_check_idempotency_key (idem_key, strlen (idem_key), &errors) < 0)
            return s_respond_invalid (c, &errors);
    }
    char *spec = NULL;
    size_t spec_len = 0;
    int rc;
    if (c->route.id == ROUTE_QUICK_DEMO)
        rc = request_demo_spec (&spec, &spec_len);
    else {
        request_errors_t errors;
        rc = request_parse_job (c->body, c->body_len, &spec, &spec_len, &errors);
        if (rc == -EINVAL) {
            char detail[sizeof errors.items[0].field + sizeof errors.items[0].message + 2];
            snprintf (detail, sizeof detail, "%s: %s", errors.items[0].field,
                      errors.items[0].message);
            return s_respond_problem (c, 400, detail, &errors, NULL);
        }
    }
    if (rc < 0)
        return s_respond_unavailable (c, "out of memory");

    proto_msg_t *request = s_request_new (PROTO_SUBMIT);
    rc = request ? proto_msg_set_spec (request, spec, spec_len) : -ENOMEM;
    if (rc == 0) {
        /* the topic names the job in listings; a spec without one has
           been refused above */
        request_spec_title (spec, spec_len, request->title, sizeof request->title);
        if (idem_key)
            snprintf (request->idem_key, sizeof request->idem_key, "%s", idem_key);
    }
    free (spec);
    if (rc < 0) {
        if (request) {
            proto_msg_reset (request);
            free (request);
        }
        if (rc == -EMSGSIZE)
            return s_respond_problem (c, 413, "the job specification is too large",
                                      NULL, NULL);
        return s_respond_unavailable (c, "out of memory");
    }
    return s_start_call (c, request);
}

/*  Collects a query parameter; the strings stay MHD's. */
typedef struct {
    request_arg_t items[SERVER_MAX_QUERY_ARGS];
    size_t count;
    bool too_many;
} query_args_t;

static enum MHD_Result
s_collect_arg (void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    (void) kind;
    query_args_t *args = cls;
    if (args->count == SERVER_MAX_QUERY_ARGS) {
        args->too_many = true;
        return MHD_NO;
    }
    args->items[args->count].name = name;
    args->items[args->count].value = value;
    args->count++;
    return MHD_YES;
}

/*  GET /api/jobs: checks the query, then asks the broker for the page. */
static enum MHD_Result
s_begin_list (conn_t *c)
{
    query_args_t args = { .count = 0, .too_many = false };
    MHD_get_connection_values (c->conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, &args);
    request_errors_t errors = { .count = 0 };
    request_list_query_t query;
    if (args.too_many) {
        snprintf (errors.items[0].field, sizeof errors.items[0].field, "query");
        snprintf (errors.items[0].message, sizeof errors.items[0].message,
                  "has more than %d parameters", SERVER_MAX_QUERY_ARGS);
        errors.count = 1;
        return s_respond_invalid (c, &errors);
    }
    if (request_parse_list_query (args.items, args.count, &query, &errors) < 0)
        return s_respond_invalid (c, &errors);
    proto_msg_t *request = s_request_new (PROTO_LIST);
    if (!request)
        return s_respond_unavailable (c, "out of memory");
    request->limit = query.limit;
    snprintf (request->filter, sizeof request->filter, "%s", query.status);
    snprintf (request->cursor, sizeof request->cursor, "%s", query.cursor);
    return s_start_call (c, request);
}

/*  Replaces the events link in links (an object of a job document, may
    be NULL) by one that carries a token signed for subject: EventSource
    cannot send the Authorization header. */
static void
s_sign_link (conn_t *c, json_t *links, const char *subject, const char *path)
{
    if (!json_is_object (links))
        return;
    char token[AURA_EVENT_TOKEN_MAX];
    if (auth_event_token (c->server->auth, subject, (int64_t) time (NULL), token,
                          sizeof token)
        < 0)
        return;
    char url[128 + AURA_EVENT_TOKEN_MAX];
    snprintf (url, sizeof url, "%s?token=%s", path, token);
    json_object_set_new (links, "events", json_string (url));
}

/*  With auth on, signs the events links of doc: a job or accepted answer
    (links of its own), or a page (each item's, and the page's link to
    the stream of all jobs, which it carries whether or not auth is on).
    Returns doc. */
static json_t *
s_sign_links (conn_t *c, json_t *doc)
{
    if (!doc)
        return NULL;
    json_t *items = json_object_get (doc, "items");
    if (json_is_array (items)) {
        json_t *links = json_pack ("{s:s}", "events", "/api/events");
        if (links)
            json_object_set_new (doc, "links", links);
    }
    if (!auth_enabled (c->server->auth))
        return doc;
    char path[64];
    const char *job = json_string_value (json_object_get (doc, "jobId"));
    if (job && render_job_path (job, "/events", path, sizeof path) == 0)
        s_sign_link (c, json_object_get (doc, "links"), job, path);
    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        job = json_string_value (json_object_get (item, "jobId"));
        if (job && render_job_path (job, "/events", path, sizeof path) == 0)
            s_sign_link (c, json_object_get (item, "links"), job, path);
    }
    if (json_is_array (items))
        s_sign_link (c, json_object_get (doc, "links"), SERVER_ALL_JOBS_SUBJECT,
                     "/api/events");
    return doc;
}

static enum MHD_Result s_respond_metrics (conn_t *c);

/*  The handler's work once the broker call has finished. */
static enum MHD_Result
s_on_reply (conn_t *c)
{
    if (c->route.id == ROUTE_METRICS)
        return s_respond_metrics (c); /* with or without the broker */
    if (c->call_status < 0)
        return s_respond_call_failed (c);
    const bus_reply_t *answer = c->reply;
    const proto_msg_t *reply = &answer->msg;
    if (reply->type == PROTO_ERROR)
        return s_respond_broker_error (c, reply);

    switch (c->route.id) {
    case ROUTE_READYZ:
        return s_respond_json (c, 200, json_pack ("{s:s}", "status", "ready"),
                               "application/json", NULL);
    case ROUTE_JOB_SUBMIT:
    case ROUTE_QUICK_DEMO: {
        char location[64];
        render_job_path (reply->job, "", location, sizeof location);
        const char *const headers[] = { MHD_HTTP_HEADER_LOCATION, location, NULL };
        snprintf (c->route.job, sizeof c->route.job, "%s", reply->job);
        return s_respond_json (c, 202, s_sign_links (c, render_accepted (reply, c->cid)),
                               "application/json", headers);
    }
    case ROUTE_JOB_GET:
        return s_respond_json (c, 200, s_sign_links (c, render_job (reply)),
                               "application/json", NULL);
    case ROUTE_JOB_CANCEL:
    case ROUTE_JOB_RETRY:
        return s_respond_json (c, 202, s_sign_links (c, render_job (reply)),
                               "application/json", NULL);
    case ROUTE_JOB_LIST:
        return s_respond_json (
            c, 200,
            s_sign_links (c, render_job_page (answer->jobs, answer->count, reply->cursor)),
            "application/json", NULL);
    case ROUTE_JOB_EVENTS:
        return s_open_stream (c, reply);
    default:
        return s_respond_problem (c, 500, "unexpected broker answer", NULL, NULL);
    }
}

/* ------------------------------------------------------------ artifacts */

/*  Writes t as an HTTP-date (RFC 9110 5.6.7), independent of the locale. */
static void
s_http_date (time_t t, char *out, size_t cap)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    if (!gmtime_r (&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0
        || tm.tm_mon > 11) {
        snprintf (out, cap, "Thu, 01 Jan 1970 00:00:00 GMT");
        return;
    }
    snprintf (out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
              tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
              tm.tm_sec);
}

/*  Opens the artifact c->route.name of job c->route.job for reading,
    without following a symlink at the job directory or at the file, and
    checks that it is a regular file. Returns the descriptor (its stat in
    *st), or a negative errno: -ENOENT for anything that is not there or
    not a regular file inside the job directory. */
static int
s_artifact_open (conn_t *c, struct stat *st)
{
    char dir[sizeof c->server->artifact_dir + JOB_ID_SIZE + 1];
    int n = snprintf (dir, sizeof dir, "%s/%s", c->server->artifact_dir, c->route.job);
    if (n < 0 || (size_t) n >= sizeof dir)
        return -ENAMETOOLONG;
    int dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir_fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno;
    /* O_NONBLOCK: a FIFO planted in the directory must not hang the open */
    int fd = openat (dir_fd, c->route.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int rc = fd < 0 ? -errno : 0;
    close (dir_fd);
    if (rc == -ELOOP || rc == -ENOTDIR || rc == -ENXIO)
        rc = -ENOENT;
    if (rc < 0)
        return rc;
    if (fstat (fd, st) != 0)
        rc = -errno;
    else if (!S_ISREG (st->st_mode))
        rc = -ENOENT;
    if (rc < 0) {
        close (fd);
        return rc;
    }
    return fd;
}

static enum MHD_Result s_respond_file (conn_t *c, int fd, const struct stat *st,
                                       const char *content_type);

/*  GET and HEAD /api/jobs/{id}/artifacts/{name}: the file as it is on
    disk, sent with sendfile from its descriptor; conditional on
    If-None-Match and one byte range at most (see artifacts.h). The job
    directory alone decides: no broker call, so a file of a job the broker
    no longer knows is still served until retention removes it. */
static enum MHD_Result
s_begin_artifact (conn_t *c)
{
    const char *name = c->route.name;
    if (!artifacts_name_valid (name, strlen (name))) {
        request_errors_t errors = { .count = 1 };
        snprintf (errors.items[0].field, sizeof errors.items[0].field, "name");
        snprintf (errors.items[0].message, sizeof errors.items[0].message,
                  "must be 1 to %d characters of A-Z a-z 0-9 . _ -, not start with "
                  "'.', contain no '..' and not end in '.tmp'",
                  ARTIFACTS_NAME_MAX);
        return s_respond_invalid (c, &errors);
    }
    struct stat st;
    int fd = s_artifact_open (c, &st);
    if (fd < 0) {
        char detail[256];
        switch (fd) {
        case -ENOENT:
            snprintf (detail, sizeof detail, "job %s has no artifact %s", c->route.job,
                      name);
            return s_respond_problem (c, 404, detail, NULL, NULL);
        case -EACCES:
        case -EPERM:
            snprintf (detail, sizeof detail, "artifact %s of job %s is not readable",
                      name, c->route.job);
            return s_respond_problem (c, 403, detail, NULL, NULL);
        case -EMFILE:
        case -ENFILE:
        case -ENOMEM:
            return s_respond_unavailable (c, "the gateway is out of file descriptors");
        default:
            log_write (AURA_LOG_ERROR, c->cid, c->route.job, "cannot open artifact %s: %s",
                       name, strerror (-fd));
            return s_respond_problem (c, 500, "the artifact cannot be read", NULL, NULL);
        }
    }

    return s_respond_file (c, fd, &st, artifacts_content_type (name));
}

/*  Answers with the regular file fd (taken over: closed here or by the
    response) as it is on disk, sent with sendfile: conditional on
    If-None-Match, and one byte range at most (see artifacts.h). */
static enum MHD_Result
s_respond_file (conn_t *c, int fd, const struct stat *stp, const char *content_type)
{
    struct stat st = *stp;
    uint64_t size = (uint64_t) st.st_size;
    char etag[ARTIFACTS_ETAG_SIZE];
    char last_modified[40];
    int64_t mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    artifacts_etag_format (size, mtime_ns, (uint64_t) st.st_ino, etag, sizeof etag);
    s_http_date (st.st_mtim.tv_sec, last_modified, sizeof last_modified);

    const char *if_none_match
        = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (artifacts_etag_matches (if_none_match, etag)) {
        close (fd);
        const char *const headers[]
            = { MHD_HTTP_HEADER_ETAG, etag, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified,
                MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-cache",
                "X-Content-Type-Options", "nosniff", NULL };
        return s_respond (c, 304, NULL, 0, NULL, headers);
    }

    /* a Range is honoured only if an If-Range, when sent, names this ETag */
    const char *range = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_RANGE);
    const char *if_range = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_IF_RANGE);
    if (if_range && strcmp (if_range, etag) != 0)
        range = NULL;
    uint64_t first = 0, last = size ? size - 1 : 0;
    artifacts_range_t ranged = artifacts_parse_range (range, size, &first, &last);
    char content_range[80];
    if (ranged == ARTIFACTS_RANGE_UNSATISFIABLE) {
        close (fd);
        snprintf (content_range, sizeof content_range, "bytes */%" PRIu64, size);
        const char *const headers[]
            = { MHD_HTTP_HEADER_CONTENT_RANGE, content_range, MHD_HTTP_HEADER_ETAG, etag,
                MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes", NULL };
        char detail[160];
        snprintf (detail, sizeof detail,
                  "the range %.60s lies outside the %" PRIu64 "-byte file", range, size);
        return s_respond_problem (c, 416, detail, NULL, headers);
    }
    snprintf (content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
              first, last, size);
    uint64_t length = size ? last - first + 1 : 0;
    /* the response owns fd from here and closes it, even on failure */
    struct MHD_Response *response
        = MHD_create_response_from_fd_at_offset64 (length, fd, first);
    if (!response)
        close (fd);
    const bool partial = ranged == ARTIFACTS_RANGE_SATISFIABLE;
    const char *const headers[]
        = { MHD_HTTP_HEADER_ETAG, etag,
            MHD_HTTP_HEADER_LAST_MODIFIED, last_modified,
            MHD_HTTP_HEADER_CACHE_CONTROL, "private, no-cache",
            MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes",
            "X-Content-Type-Options", "nosniff",
            partial ? MHD_HTTP_HEADER_CONTENT_RANGE : NULL, content_range,
            NULL };
    return s_queue (c, partial ? 206 : 200, response, content_type, headers);
}

/*  Content-Length of the request, or -1 when absent or unreadable. */
static long long
s_content_length (conn_t *c)
{
    const char *text = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || *end)
        return -1;
    return value > (unsigned long long) LLONG_MAX ? LLONG_MAX : (long long) value;
}

/*  First call of a request: headers are in, the body (if any) is not.
    Only a body too large to read is answered now (libmicrohttpd then
    closes the connection); everything else waits for the complete request
    so that the connection can be kept alive. */
static enum MHD_Result
s_on_headers (conn_t *c, const char *url)
{
    c->route_result = route_match (c->method, url, strlen (url), &c->route);
    if (c->route_result == ROUTE_MATCHED && c->route.id == ROUTE_WEB
        && (c->web_path = malloc (WEB_PATH_SIZE))
        && web_resolve (url, strlen (url), c->web_path, WEB_PATH_SIZE) < 0) {
        free (c->web_path);
        c->web_path = NULL;
    }
    if (c->route_result != ROUTE_MATCHED
        || (c->route.id != ROUTE_JOB_SUBMIT && c->route.id != ROUTE_QUICK_DEMO))
        return MHD_YES;
    long long length = s_content_length (c);
    if (length > REQUEST_MAX_BODY_BYTES
        && (length > SERVER_DISCARD_LIMIT_BYTES
            || MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT))) {
        static const char *const headers[] = { MHD_HTTP_HEADER_CONNECTION, "close", NULL };
        c->begun = true;
        return s_respond_too_large (c, headers);
    }
    return MHD_YES;
}

/*  The requests counted so far, one sample per route and code seen, in
    a malloc'd array (*count items) that the caller frees. Returns NULL
    (with *count 0) when there are none or memory runs out. */
static metrics_request_count_t *
s_request_counts (server_t *self, size_t *count)
{
    metrics_request_count_t *items = NULL;
    size_t cap = 0;
    *count = 0;
    for (size_t row = 0; row <= ROUTE_COUNT; row++) {
        for (size_t method = 0; method < SERVER_METHOD_SLOTS; method++) {
            for (size_t slot = 0; slot < SERVER_CODE_SLOTS; slot++) {
                uint64_t n = atomic_load_explicit (&self->requests[row][method][slot],
                                                   memory_order_relaxed);
                if (n == 0)
                    continue;
                if (*count == cap) {
                    cap = cap ? cap * 2 : 32;
                    metrics_request_count_t *grown = realloc (items, cap * sizeof *items);
                    if (!grown) {
                        free (items);
                        *count = 0;
                        return NULL;
                    }
                    items = grown;
                }
                metrics_request_count_t *item = &items[(*count)++];
                item->route = row == SERVER_UNMATCHED ? "unmatched"
                                                      : route_name ((route_id_t) row);
                item->method = s_counted_methods[method];
                item->code = (unsigned) (SERVER_FIRST_CODE + slot);
                item->count = n;
            }
        }
    }
    return items;
}

/*  GET /metrics: every counter is an atomic, so no lock of the hub or
    the bus is taken here. */
static enum MHD_Result
s_respond_metrics (conn_t *c)
{
    server_t *self = c->server;
    metrics_snapshot_t snapshot = { 0 };
    metrics_request_count_t *requests = s_request_counts (self, &snapshot.request_count);
    snapshot.requests = requests;
    metrics_histogram_read (&self->request_duration, &snapshot.request_duration);
    snapshot.streams_open = atomic_load (&self->streams_open);
    snapshot.streams_opened = atomic_load (&self->streams_opened);
    snapshot.streams_cut = atomic_load (&self->streams_cut);
    hub_stats_t hub;
    hub_stats (self->hub, &hub);
    snapshot.events_sent = hub.frames_queued;
    snapshot.bytes_sent = hub.bytes_sent;
    snapshot.send_lag = hub.send_lag;
    snapshot.reconnects = atomic_load (&self->reconnects);
    metrics_reason_count_t rejected[REJECT_COUNT];
    for (size_t i = 0; i < REJECT_COUNT; i++) {
        rejected[i].reason = s_reject_names[i];
        rejected[i].count = atomic_load (&self->rejected[i]);
    }
    snapshot.rejected = rejected;
    snapshot.rejected_count = REJECT_COUNT;
    snapshot.jobs_cached = hub.jobs_cached;
    bus_stats_t bus;
    bus_stats (self->bus, &bus);
    snapshot.event_lag = bus.event_lag;
    snapshot.broker_events_received = bus.events_received;
    snapshot.broker_gaps = bus.gaps_found;
    snapshot.broker_gaps_filled = bus.gaps_filled;
    snapshot.broker_answers_malformed = bus.answers_malformed;
    snapshot.broker_timeouts = bus.timeouts;
    if (c->call_status == 0 && c->reply && c->reply->msg.type == PROTO_PONG) {
        snapshot.broker_up = true;
        for (int i = 0; i < JOB_STATUS_COUNT; i++)
            snapshot.jobs_by_status[i] = (uint64_t) c->reply->msg.jobs_by_status[i];
    }

    char *text = NULL;
    size_t len = 0;
    int rc = metrics_render (&snapshot, &text, &len);
    free (requests);
    if (rc < 0)
        return s_respond_unavailable (c, "out of memory");
    static const char *const headers[] = { MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL };
    return s_respond (c, 200, text, len, "text/plain; version=0.0.4; charset=utf-8",
                      headers);
}

/* ------------------------------------------------------------- web UI */

/*  GET and HEAD of a web UI file: c->web_path (resolved from the full
    request path by s_on_headers) under the web directory. */
static enum MHD_Result
s_begin_web (conn_t *c)
{
    char detail[WEB_PATH_SIZE + 64];
    if (!c->web_path) {
        snprintf (detail, sizeof detail, "no resource at %s", c->path);
        return s_respond_problem (c, 404, detail, NULL, NULL);
    }
    int dir_fd = open (c->server->web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dir_fd < 0 ? -1
                        : openat (dir_fd, c->web_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (dir_fd >= 0)
        close (dir_fd);
    struct stat st;
    if (fd >= 0 && (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))) {
        close (fd);
        fd = -1;
    }
    if (fd < 0) {
        snprintf (detail, sizeof detail, "no resource at %s", c->path);
        return s_respond_problem (c, 404, detail, NULL, NULL);
    }
    return s_respond_file (c, fd, &st, web_content_type (c->web_path));
}

/* ---------------------------------------------------------- admission */

/*  True for paths under /api, which need the API token. */
static bool
s_path_in_api (const char *path)
{
    return strncmp (path, "/api", 4) == 0 && (path[4] == '\0' || path[4] == '/');
}

/*  The answer to a request without the credentials its path needs. */
static enum MHD_Result
s_respond_unauthorized (conn_t *c, const char *detail, bool presented)
{
    s_reject (c, REJECT_UNAUTHORIZED);
    const char *const headers[]
        = { MHD_HTTP_HEADER_WWW_AUTHENTICATE,
            presented ? "Bearer realm=\"aura\", error=\"invalid_token\""
                      : "Bearer realm=\"aura\"",
            NULL };
    return s_respond_problem (c, 401, detail, NULL, headers);
}

/*  Checks the credentials c's path needs: the API token for /api/... (or,
    for an event stream, the token of its signed link), the metrics token
    for /metrics. Returns MHD_YES with *answered false when the request
    may go on; otherwise the 401 has been queued. */
static enum MHD_Result
s_authorize (conn_t *c, bool *answered)
{
    *answered = false;
    auth_t *auth = c->server->auth;
    const char *header = MHD_lookup_connection_value (c->conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION);
    bool is_metrics = c->route_result == ROUTE_MATCHED && c->route.id == ROUTE_METRICS;
    if (is_metrics) {
        if (auth_check_metrics (auth, header))
            return MHD_YES;
        *answered = true;
        return s_respond_unauthorized (
            c, "/metrics needs Authorization: Bearer with the metrics token", header != NULL);
    }
    if (!s_path_in_api (c->path) || !auth_enabled (auth) || auth_check_bearer (auth, header))
        return MHD_YES;

    bool is_stream = c->route_result == ROUTE_MATCHED
                     && (c->route.id == ROUTE_JOB_EVENTS || c->route.id == ROUTE_EVENTS);
    const char *token = is_stream ? MHD_lookup_connection_value (
                                        c->conn, MHD_GET_ARGUMENT_KIND, "token")
                                  : NULL;
    *answered = true;
    if (!token)
        return s_respond_unauthorized (
            c, "this API needs Authorization: Bearer with the API token", header != NULL);
    const char *subject = c->route.id == ROUTE_EVENTS ? SERVER_ALL_JOBS_SUBJECT
                                                      : c->route.job;
    int rc = auth_verify_event_token (auth, subject, token, (int64_t) time (NULL));
    if (rc == 0) {
        *answered = false;
        return MHD_YES;
    }
    if (rc == -EKEYEXPIRED)
        return s_respond_unauthorized (c,
                                       "the events link has expired: fetch the job again "
                                       "for a fresh one",
                                       true);
    return s_respond_unauthorized (c, "the events link's token is not valid for this stream",
                                   true);
}

/*  The client's address for the limits, NULL when unknown. */
static const struct sockaddr *
s_client_addr (const conn_t *c)
{
    return c->has_client ? (const struct sockaddr *) &c->client : NULL;
}

/*  Charges requests that cost work (submissions, commands, stream opens)
    to the client's token bucket, and counts streams against the caps.
    Returns MHD_YES with *answered false when the request may go on;
    otherwise the 429 or 503 has been queued. */
static enum MHD_Result
s_admit (conn_t *c, bool *answered)
{
    *answered = false;
    bool is_stream = c->route.id == ROUTE_JOB_EVENTS || c->route.id == ROUTE_EVENTS;
    bool costly = is_stream || strcmp (c->method, "POST") == 0;
    if (!costly)
        return MHD_YES;
    const struct sockaddr *addr = s_client_addr (c);
    int retry_after_s = 1;
    char retry_after[16], detail[160];
    if (client_limits_take (c->server->limits, addr, proto_now_us (), &retry_after_s) < 0) {
        s_reject (c, REJECT_RATE_LIMITED);
        snprintf (retry_after, sizeof retry_after, "%d", retry_after_s);
        snprintf (detail, sizeof detail,
                  "too many requests from this address; retry in %d s", retry_after_s);
        const char *const headers[] = { "Retry-After", retry_after, NULL };
        *answered = true;
        return s_respond_problem (c, 429, detail, NULL, headers);
    }
    if (!is_stream)
        return MHD_YES;
    int rc = client_limits_stream_open (c->server->limits, addr, &retry_after_s);
    if (rc == 0) {
        c->stream_admitted = true;
        return MHD_YES;
    }
    snprintf (retry_after, sizeof retry_after, "%d", retry_after_s);
    const char *const headers[] = { "Retry-After", retry_after, NULL };
    *answered = true;
    if (rc == -EUSERS) {
        s_reject (c, REJECT_STREAMS_PER_IP);
        return s_respond_problem (c, 429, "too many event streams open from this address",
                                  NULL, headers);
    }
    s_reject (c, REJECT_STREAMS_GLOBAL);
    return s_respond_problem (c, 503, "the gateway holds as many event streams as it may",
                              NULL, headers);
}

/*  OPTIONS on an API path: the CORS preflight. */
static enum MHD_Result
s_respond_preflight (conn_t *c)
{
    if (!c->allow_origin) {
        s_reject (c, REJECT_CORS);
        return s_respond_problem (c, 403, "this origin may not call the API from a browser",
                                  NULL, NULL);
    }
    static const char *const headers[]
        = { "Access-Control-Allow-Methods", AUTH_CORS_ALLOW_METHODS,
            "Access-Control-Allow-Headers", AUTH_CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age", AUTH_CORS_MAX_AGE,
            NULL };
    return s_respond (c, 204, NULL, 0, NULL, headers);
}

/*  GET /api/events: every job's live events, from now on. */
static enum MHD_Result
s_begin_all_events (conn_t *c)
{
    c->all_jobs = true;
    c->stream = s_stream_new (c);
    if (!c->stream)
        return s_respond_unavailable (c, "out of memory");
    int rc = hub_stream_attach_all (c->server->hub, c->stream);
    if (rc < 0) {
        hub_stream_destroy (&c->stream);
        return s_respond_unavailable (c, rc == -ESHUTDOWN ? "the gateway is shutting down"
                                                          : "cannot open the stream");
    }
    return s_respond_stream (c);
}

/*  The request is complete (a body over the limit was counted, not kept). */
static enum MHD_Result
s_begin (conn_t *c)
{
    if (c->route_result == ROUTE_MATCHED && c->route.id == ROUTE_PREFLIGHT)
        return s_respond_preflight (c);
    bool answered = false;
    enum MHD_Result rc = s_authorize (c, &answered);
    if (answered)
        return rc;

    switch (c->route_result) {
    case ROUTE_NOT_FOUND: {
        char detail[200];
        snprintf (detail, sizeof detail, "no resource at %s", c->path);
        return s_respond_problem (c, 404, detail, NULL, NULL);
    }
    case ROUTE_METHOD_NOT_ALLOWED: {
        char detail[200];
        snprintf (detail, sizeof detail, "%s is not allowed on %s (allowed: %s)",
                  c->method, c->path, c->route.allow);
        const char *const headers[] = { MHD_HTTP_HEADER_ALLOW, c->route.allow, NULL };
        return s_respond_problem (c, 405, detail, NULL, headers);
    }
    case ROUTE_BAD_JOB_ID:
        return s_respond_problem (c, 400,
                                  "the job id must be 26 characters of Crockford base32",
                                  NULL, NULL);
    case ROUTE_MATCHED:
        break;
    }

    rc = s_admit (c, &answered);
    if (answered)
        return rc;
    switch (c->route.id) {
    case ROUTE_HEALTHZ:
        return s_respond_json (c, 200, json_pack ("{s:s}", "status", "ok"),
                               "application/json", NULL);
    case ROUTE_READYZ:
        return s_call_simple (c, PROTO_PING);
    case ROUTE_METRICS:
        /* the broker's counts by status come with its pong */
        return s_call_simple (c, PROTO_PING);
    case ROUTE_JOB_GET:
        return s_call_simple (c, PROTO_GET);
    case ROUTE_JOB_EVENTS:
        return s_begin_events (c);
    case ROUTE_JOB_LIST:
        return s_begin_list (c);
    case ROUTE_JOB_CANCEL:
        return s_call_simple (c, PROTO_CANCEL_JOB);
    case ROUTE_JOB_RETRY:
        return s_call_simple (c, PROTO_RETRY_JOB);
    case ROUTE_JOB_SUBMIT:
    case ROUTE_QUICK_DEMO:
        return s_submit (c);
    case ROUTE_JOB_ARTIFACT:
        return s_begin_artifact (c);
    case ROUTE_EVENTS:
        return s_begin_all_events (c);
    case ROUTE_WEB:
        return s_begin_web (c);
    default:
        return s_respond_problem (c, 500, "route without a handler", NULL, NULL);
    }
}

/*  Keeps the body of a job submission, up to REQUEST_MAX_BODY_BYTES; past
    that, and for every other route, bodies are counted and dropped (a
    submission then answers 413), and a client that keeps sending far
    beyond is disconnected. Returns false to close the connection. */
static bool
s_take_body (conn_t *c, const char *data, size_t size)
{
    bool wanted = c->route_result == ROUTE_MATCHED && c->route.id == ROUTE_JOB_SUBMIT;
    if (wanted && !c->body_too_large && c->body_len + size > REQUEST_MAX_BODY_BYTES) {
        c->body_too_large = true;
        free (c->body);
        c->body = NULL;
        c->body_len = c->body_cap = 0;
    }
    if (!wanted || c->body_too_large) {
        c->body_discarded += size;
        return c->body_discarded <= SERVER_DISCARD_LIMIT_BYTES;
    }
    if (c->body_len + size > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + size)
            cap *= 2;
        if (cap > REQUEST_MAX_BODY_BYTES)
            cap = REQUEST_MAX_BODY_BYTES;
        char *body = realloc (c->body, cap);
        if (!body)
            return false;
        c->body = body;
        c->body_cap = cap;
    }
    memcpy (c->body + c->body_len, data, size);
    c->body_len += size;
    return true;
}

static conn_t *
s_conn_new (server_t *server, struct MHD_Connection *conn, const char *method,
            const char *url)
{
    conn_t *c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->server = server;
    c->conn = conn;
    c->started_us = proto_now_us ();
    atomic_init (&c->call_state, CALL_NONE);
    snprintf (c->method, sizeof c->method, "%s", method);
    snprintf (c->path, sizeof c->path, "%s", url);
    const char *cid = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "X-Correlation-ID");
    if (cid && correlation_id_valid (cid, strlen (cid)))
        snprintf (c->cid, sizeof c->cid, "%s", cid);
    else
        correlation_id_generate (c->cid, sizeof c->cid);
    const union MHD_ConnectionInfo *info
        = MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info && info->client_addr) {
        const struct sockaddr *addr = info->client_addr;
        size_t len = addr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                     : addr->sa_family == AF_INET ? sizeof (struct sockaddr_in)
                                                  : 0;
        if (len > 0) {
            memcpy (&c->client, addr, len);
            c->has_client = true;
        }
    }
    const char *origin = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Origin");
    c->allow_origin = auth_cors_allow_origin (server->auth, origin);
    return c;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version, const char *upload_data,
              size_t *upload_data_size, void **con_cls)
{
    (void) version;
    server_t *self = cls;
    conn_t *c = *con_cls;
    if (!c) {
        c = s_conn_new (self, conn, method, url);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        return s_on_headers (c, url);
    }
    if (*upload_data_size > 0) {
        bool keep = s_take_body (c, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (!c->begun) {
        c->begun = true;
        return s_begin (c);
    }
    switch (atomic_load_explicit (&c->call_state, memory_order_acquire)) {
    case CALL_DONE:
        return s_on_reply (c);
    case CALL_PENDING:
        /* called before the bus answered: wait again; the bus still owes
           its one resume (and the count its decrement) */
        MHD_suspend_connection (c->conn);
        return MHD_YES;
    default:
        return s_respond_problem (c, 500, "request in an unexpected state", NULL, NULL);
    }
}

static void
s_on_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    conn_t *c = *con_cls;
    if (!c)
        return;
    *con_cls = NULL;
    if (c->stream) {
        static const char *const reasons[] = { "completed", "error", "timeout",
                                               "shutdown", "read error",
                                               "client gone" };
        log_write (AURA_LOG_INFO, c->cid, c->route.job, "stream closed (%s) after %.1fs",
                   (unsigned) toe < sizeof reasons / sizeof *reasons ? reasons[toe] : "?",
                   s_elapsed_ms (c) / 1000.0);
        hub_stream_destroy (&c->stream);
    }
    if (c->stream_counted)
        atomic_fetch_sub_explicit (&c->server->streams_open, 1, memory_order_relaxed);
    if (c->stream_admitted)
        client_limits_stream_close (c->server->limits, s_client_addr (c));
    bus_reply_destroy (&c->reply);
    free (c->web_path);
    free (c->body);
    free (c);
}

/*  Leaves the request path and arguments as sent: routing works on raw
    segments (see route.h); job ids never need decoding. */
static size_t
s_unescape_none (void *cls, struct MHD_Connection *conn, char *text)
{
    (void) cls;
    (void) conn;
    return strlen (text);
}

static void
s_on_mhd_log (void *cls, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

static void
s_on_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line[512];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    log_warn ("http: %s", line);
}

/* ------------------------------------------------------------------ API */

/*  Fills addr for host (numeric IPv4 or IPv6) and port. Returns 0 or
    -EINVAL. */
static int
s_address (const char *host, int port, struct sockaddr_storage *addr, bool *ipv6)
{
    memset (addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) addr;
    if (inet_pton (AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons ((uint16_t) port);
        *ipv6 = false;
        return 0;
    }
    if (inet_pton (AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons ((uint16_t) port);
        *ipv6 = true;
        return 0;
    }
    return -EINVAL;
}

/*  Cores this process may run on. */
static unsigned
s_core_count (void)
{
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (unsigned) n;
}

/*  As many connections as the open-files limit allows, leaving room for
    the process's other descriptors. */
static unsigned
s_connection_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return 16384;
    if (limit.rlim_cur < 128)
        return 32;
    rlim_t usable = limit.rlim_cur - 64;
    return usable > 1000000 ? 1000000 : (unsigned) usable;
}

server_t *
server_new (const aura_config_t *cfg, bus_t *bus, hub_t *hub)
{
    struct sockaddr_storage addr;
    bool ipv6 = false;
    if (s_address (cfg->http_host, cfg->http_port, &addr, &ipv6) < 0) {
        log_error ("cannot listen on %s: not a numeric address", cfg->http_host);
        return NULL;
    }
    server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->bus = bus;
    self->hub = hub;
    self->listen_fd = MHD_INVALID_SOCKET;
    self->broker_timeout_ms = cfg->broker_timeout_ms;
    snprintf (self->artifact_dir, sizeof self->artifact_dir, "%s", cfg->artifact_dir);
    snprintf (self->web_dir, sizeof self->web_dir, "%s", cfg->web_dir);
    auth_config_t auth_cfg = {
        .api_token = cfg->api_token,
        .metrics_token = cfg->metrics_token,
        .cors_origins = cfg->cors_origins,
        .event_token_ttl_s = cfg->event_token_ttl_s,
    };
    client_limits_config_t limits_cfg = {
        .rate_per_s = cfg->rate_limit,
        .burst = (unsigned) cfg->rate_burst,
        .max_streams = (size_t) cfg->max_streams,
        .max_streams_per_ip = (size_t) cfg->max_streams_per_ip,
        .max_addresses = 0,
    };
    self->auth = auth_new (&auth_cfg);
    self->limits = client_limits_new (&limits_cfg);
    if (!self->auth || !self->limits) {
        log_error ("cannot set up the gateway's %s: %s", self->auth ? "limits" : "auth",
                   strerror (errno));
        auth_destroy (&self->auth);
        client_limits_destroy (&self->limits);
        free (self);
        return NULL;
    }
    atomic_init (&self->suspended, 0);
    for (size_t row = 0; row <= ROUTE_COUNT; row++)
        for (size_t method = 0; method < SERVER_METHOD_SLOTS; method++)
            for (size_t code = 0; code < SERVER_CODE_SLOTS; code++)
                atomic_init (&self->requests[row][method][code], 0);
    metrics_histogram_init (&self->request_duration, metrics_request_bounds_us,
                            metrics_request_bound_count);
    atomic_init (&self->streams_open, 0);
    atomic_init (&self->streams_opened, 0);
    atomic_init (&self->streams_cut, 0);
    atomic_init (&self->reconnects, 0);
    for (size_t i = 0; i < REJECT_COUNT; i++)
        atomic_init (&self->rejected[i], 0);

    /* a pool of epoll threads, each with its own connections: a fan-out
       to every stream is split between cores, and libmicrohttpd's walk
       of its suspended connections after a wake-up covers one thread's
       share only */
    unsigned threads = cfg->http_threads > 0 ? (unsigned) cfg->http_threads : s_core_count ();
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC
                     | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) cfg->http_port, NULL, NULL, s_on_request, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_on_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) SERVER_CONNECTION_MEMORY_BYTES,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) cfg->request_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, s_connection_limit (),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_streams_per_ip > 0
            ? (unsigned) cfg->max_streams_per_ip + SERVER_PER_IP_EXTRA_CONNECTIONS
            : 0u,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, self,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape_none, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("cannot listen on %s:%d: %s", cfg->http_host, cfg->http_port,
                   strerror (errno));
        auth_destroy (&self->auth);
        client_limits_destroy (&self->limits);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info
        = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : cfg->http_port;
    return self;
}

int
server_port (server_t *self)
{
    return self->port;
}

void
server_quiesce (server_t *self)
{
    if (self->daemon && self->listen_fd == MHD_INVALID_SOCKET)
        self->listen_fd = MHD_quiesce_daemon (self->daemon);
}

int
server_wait_unsuspended (server_t *self, int timeout_ms)
{
    for (int waited_ms = 0; atomic_load (&self->suspended) > 0; waited_ms += 10) {
        if (waited_ms >= timeout_ms)
            return -ETIMEDOUT;
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    return 0;
}

int
server_wait_streams_closed (server_t *self, int timeout_ms)
{
    for (int waited_ms = 0; atomic_load (&self->streams_open) > 0; waited_ms += 10) {
        if (waited_ms >= timeout_ms)
            return -ETIMEDOUT;
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    return 0;
}

void
server_destroy (server_t **self_p)
{
    assert (self_p);
    server_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    int suspended = atomic_load (&self->suspended);
    if (suspended > 0) {
        /* the daemon's thread still uses self: both are left to the exit */
        log_error ("%d connections still suspended; not stopping the HTTP daemon",
                   suspended);
        return;
    }
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    if (self->listen_fd != MHD_INVALID_SOCKET)
        close (self->listen_fd);
    auth_destroy (&self->auth);
    client_limits_destroy (&self->limits);
    free (self);
}
