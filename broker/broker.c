/*  broker — binds the frontend ROUTER, jobs PUSH, events PULL and publish
    PUB sockets and runs the loop that connects them to the job store and
    the worker table. Nothing read from a socket is trusted: a message that
    does not decode or does not belong is counted, logged (at most once a
    second per socket) and dropped. */
#include "broker.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "ids.h"
#include "jobs.h"
#include "log.h"
#include "proto.h"
#include "workers.h"

/*  A worker silent this long is forgotten with its credits; a dispatch
    unanswered this long is given to another worker as a new attempt.
    (There is no broker heartbeat setting yet: 10 s is five times the
    slowest heartbeat a deployment would reasonably choose.) */
#define BROKER_WORKER_SILENCE_US (10 * 1000 * 1000LL)
#define BROKER_DISPATCH_TIMEOUT_US (10 * 1000 * 1000LL)
/*  Housekeeping period: expiry checks and a dispatch retry. */
#define BROKER_TICK_US (100 * 1000LL)
/*  At most this many messages from one socket per loop turn, so that a
    flood on one socket cannot starve the other. */
#define BROKER_BATCH 64
/*  Room on PUB for bursts of events before a slow subscriber loses some
    (it finds the gap by seq and asks for a replay). */
#define BROKER_PUBLISH_HWM 10000
/*  A drop is logged at most once per this period per socket. */
#define BROKER_DROP_LOG_US (1000 * 1000LL)

/*  Messages dropped on one socket, and when that was last logged. */
typedef struct {
    const char *socket_name;
    uint64_t dropped;
    int64_t last_log_mono_us;
    uint64_t dropped_at_last_log;
} drop_counter_t;

struct _broker_t {
    zsock_t *frontend;  /* ROUTER: requests from gateways */
    zsock_t *jobs_out;  /* PUSH: dispatches to workers */
    zsock_t *events;    /* PULL: reports from workers */
    zsock_t *publish;   /* PUB: job events and cancels */
    jobs_t *jobs;
    workers_t *workers;
    drop_counter_t frontend_drops;
    drop_counter_t events_drops;
    uint64_t stale_reports;  /* well-formed but about a superseded state */
    int64_t next_tick_mono_us;
};

/*  Counts one dropped message and logs it, with the running count, unless
    a line for this socket was written less than a second ago (then
    s_drop_flush reports it later). */
static void
s_drop (drop_counter_t *counter, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_drop (drop_counter_t *counter, const char *fmt, ...)
{
    counter->dropped++;
    int64_t now = zclock_usecs ();
    if (counter->last_log_mono_us != 0
        && now - counter->last_log_mono_us < BROKER_DROP_LOG_US)
        return;
    char reason[256];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    if (n < 0)
        reason[0] = '\0';
    log_warn ("%s: dropped a malformed message: %s (%llu dropped in all)",
              counter->socket_name, reason,
              (unsigned long long) counter->dropped);
    counter->last_log_mono_us = now;
    counter->dropped_at_last_log = counter->dropped;
}

/*  Reports the drops that the rate limit kept quiet, once it allows. */
static void
s_drop_flush (drop_counter_t *counter)
{
    int64_t now = zclock_usecs ();
    if (counter->dropped == counter->dropped_at_last_log
        || now - counter->last_log_mono_us < BROKER_DROP_LOG_US)
        return;
    log_warn ("%s: %llu more malformed messages dropped (%llu in all)",
              counter->socket_name,
              (unsigned long long) (counter->dropped
                                    - counter->dropped_at_last_log),
              (unsigned long long) counter->dropped);
    counter->last_log_mono_us = now;
    counter->dropped_at_last_log = counter->dropped;
}

/*  A report that decoded but refers to a job state that has moved on
    (unknown job, old attempt, finished job): expected after restarts and
    re-queues, so only counted and logged at debug level. */
static void
s_stale (broker_t *self, const proto_msg_t *msg, int rc)
{
    self->stale_reports++;
    const char *why = rc == -ENOENT   ? "unknown job"
                      : rc == -ESTALE ? "not the job's current attempt"
                                      : "job not in a state that accepts it";
    const char *what = msg->type == PROTO_EVENT
                           ? proto_event_kind_name (msg->kind)
                           : proto_type_name (msg->type);
    log_write (AURA_LOG_DEBUG, msg->cid, msg->job,
               "dropped %s of attempt %d from worker %s: %s", what,
               (int) msg->attempt, msg->worker[0] ? msg->worker : "?", why);
}

/*  Creates a socket with the common options and binds it. On failure logs
    one line and returns NULL. */
static zsock_t *
s_bind (int type, const char *name, const char *endpoint, int sndhwm)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("cannot create the %s socket", name);
        return NULL;
    }
    proto_socket_defaults (sock);
    if (sndhwm > 0)
        zsock_set_sndhwm (sock, sndhwm);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        log_error ("cannot bind the %s socket to %s: %s", name, endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

broker_t *
broker_new (const aura_config_t *cfg)
{
    assert (cfg);
    broker_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("cannot allocate the broker");
        return NULL;
    }
    self->frontend_drops.socket_name = "frontend";
    self->events_drops.socket_name = "events";
    self->jobs = jobs_new ();
    self->workers = workers_new ();
    if (!self->jobs || !self->workers) {
        log_error ("cannot allocate the job store");
        goto failed;
    }
    self->frontend = s_bind (ZMQ_ROUTER, "frontend", cfg->broker_frontend, 0);
    if (!self->frontend)
        goto failed;
    /* HWM 1: a dispatch that cannot leave at once goes back to the head
       of the queue instead of waiting behind a busy worker. */
    self->jobs_out = s_bind (ZMQ_PUSH, "jobs", cfg->broker_jobs, 1);
    if (!self->jobs_out)
        goto failed;
    self->events = s_bind (ZMQ_PULL, "events", cfg->broker_events, 0);
    if (!self->events)
        goto failed;
    self->publish = s_bind (ZMQ_PUB, "publish", cfg->broker_publish,
                            BROKER_PUBLISH_HWM);
    if (!self->publish)
        goto failed;
    return self;

failed:
    broker_destroy (&self);
    return NULL;
}

void
broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    zsock_destroy (&self->publish);
    zsock_destroy (&self->events);
    zsock_destroy (&self->jobs_out);
    zsock_destroy (&self->frontend);
    workers_destroy (&self->workers);
    jobs_destroy (&self->jobs);
    free (self);
    *self_p = NULL;
}

/*  Receives one whole message, keeping its first `max` parts in parts[]
    and discarding the rest; *count is the number of parts it had. Returns
    0, or -EINTR when the receive was interrupted (parts are then freed). */
static int
s_recv_parts (zsock_t *sock, zframe_t **parts, size_t max, size_t *count)
{
    size_t total = 0;
    while (true) {
        zframe_t *frame = zframe_recv (sock);
        if (!frame) {
            for (size_t i = 0; i < total && i < max; i++)
                zframe_destroy (&parts[i]);
            *count = 0;
            return -EINTR;
        }
        bool more = zframe_more (frame) != 0;
        if (total < max)
            parts[total] = frame;
        else
            zframe_destroy (&frame);
        total++;
        if (!more)
            break;
    }
    *count = total;
    return 0;
}

/*  Publishes an event on job.<id> or a cancel on ctl.cancel.<id>; a
    PROTO_NONE message is skipped, so optional outputs can be passed as
    they are. PUB never blocks: a subscriber past its HWM loses it. */
static void
s_publish (broker_t *self, const proto_msg_t *msg)
{
    if (msg->type == PROTO_NONE)
        return;
    const char *prefix = msg->type == PROTO_CANCEL ? PROTO_TOPIC_CANCEL
                                                   : PROTO_TOPIC_JOB;
    char topic[64];
    if (proto_topic (topic, sizeof topic, prefix, msg->job) != 0) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "cannot make the topic of a %s", proto_type_name (msg->type));
        return;
    }
    zframe_t *body = proto_encode (msg);
    if (!body) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "cannot encode a %s %s", proto_type_name (msg->type),
                   proto_event_kind_name (msg->kind));
        return;
    }
    zframe_t *head = zframe_new (topic, strlen (topic));
    if (!head || zframe_send (&head, self->publish,
                              ZFRAME_MORE | ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (&head);
        zframe_destroy (&body);
        return;
    }
    if (zframe_send (&body, self->publish, ZFRAME_DONTWAIT) != 0)
        zframe_destroy (&body);
}

/*  Sends msg to the gateway whose ROUTER identity is `identity` (which
    stays the caller's). An unroutable answer is dropped by the ROUTER. */
static void
s_reply (broker_t *self, zframe_t *identity, proto_msg_t *msg)
{
    msg->ts_us = proto_now_us ();
    zframe_t *body = proto_encode (msg);
    if (!body) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job, "cannot encode a %s",
                   proto_type_name (msg->type));
        return;
    }
    zframe_t *to = zframe_dup (identity);
    if (!to || zframe_send (&to, self->frontend,
                            ZFRAME_MORE | ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (&to);
        zframe_destroy (&body);
        return;
    }
    if (zframe_send (&body, self->frontend, ZFRAME_DONTWAIT) != 0)
        zframe_destroy (&body);
}

static void
s_error_reply (proto_msg_t *reply, int32_t error_status, const char *code,
               const char *message)
{
    proto_msg_init (reply, PROTO_ERROR);
    reply->error_status = error_status;
    snprintf (reply->code, sizeof reply->code, "%s", code);
    snprintf (reply->message, sizeof reply->message, "%s", message);
}

/*  Credits: the slots live workers last reported free, less the
    dispatches they have not answered yet. */
static int64_t
s_credits (broker_t *self)
{
    return workers_slots_free (self->workers)
           - (int64_t) jobs_in_flight (self->jobs);
}

/*  Pushes queued jobs, oldest first, while there are credits and the
    jobs socket takes them without blocking. */
static void
s_dispatch (broker_t *self)
{
    while (jobs_queued (self->jobs) > 0 && s_credits (self) > 0) {
        proto_msg_t dispatch;
        int rc = jobs_dispatch_next (self->jobs, zclock_usecs (), &dispatch);
        if (rc != 0) {
            log_error ("cannot take the next queued job: %s", strerror (-rc));
            proto_msg_reset (&dispatch);
            break;
        }
        dispatch.ts_us = proto_now_us ();
        zframe_t *frame = proto_encode (&dispatch);
        if (!frame)
            log_write (AURA_LOG_ERROR, dispatch.cid, dispatch.job,
                       "cannot encode the dispatch");
        if (!frame
            || zframe_send (&frame, self->jobs_out, ZFRAME_DONTWAIT) != 0) {
            /* No worker can take it right now (HWM reached, or no worker
               connected): it keeps its place at the head of the queue. */
            zframe_destroy (&frame);
            jobs_dispatch_undo (self->jobs, dispatch.job);
            proto_msg_reset (&dispatch);
            break;
        }
        log_write (AURA_LOG_INFO, dispatch.cid, dispatch.job,
                   "dispatched attempt %d", (int) dispatch.attempt);
        proto_msg_reset (&dispatch);
    }
}

static void
s_handle_submit (broker_t *self, zframe_t *identity,
                 const proto_msg_t *request)
{
    proto_msg_t reply, status;
    proto_msg_init (&reply, PROTO_NONE);
    proto_msg_init (&status, PROTO_NONE);
    char id[JOB_ID_SIZE] = "";
    int rc;

    if (!request->spec || request->spec_len == 0) {
        s_error_reply (&reply, 400, "BadRequest", "spec is required");
        goto answer;
    }
    rc = job_id_generate (id);
    if (rc == 0)
        rc = jobs_submit (self->jobs, id, request->cid, request->spec,
                          request->spec_len, proto_now_us (), &status);
    if (rc == -EMSGSIZE) {
        s_error_reply (&reply, 400, "BadRequest", "spec is too large");
        goto answer;
    }
    if (rc != 0) {
        log_write (AURA_LOG_ERROR, request->cid, NULL,
                   "cannot store a new job: %s", strerror (-rc));
        s_error_reply (&reply, 503, "Unavailable", "cannot store the job");
        goto answer;
    }
    jobs_snapshot (self->jobs, id, &reply);
    log_write (AURA_LOG_INFO, request->cid, id,
               "job submitted (queue position %d)",
               (int) status.queue_position);

answer:
    snprintf (reply.cid, sizeof reply.cid, "%s", request->cid);
    /* The answer goes out only now that the job is stored, and before its
       first event, so a gateway knows the job when the event arrives. */
    s_reply (self, identity, &reply);
    s_publish (self, &status);
    proto_msg_reset (&status);
    proto_msg_reset (&reply);
    s_dispatch (self);
}

static void
s_handle_frontend (broker_t *self)
{
    zframe_t *parts[2] = { NULL, NULL };
    size_t count = 0;
    char err[160] = "";
    proto_msg_t request, reply;
    proto_msg_init (&request, PROTO_NONE);
    proto_msg_init (&reply, PROTO_NONE);

    if (s_recv_parts (self->frontend, parts, 2, &count) != 0)
        return;
    if (count != 2) {
        s_drop (&self->frontend_drops,
                "expected [identity][body], got %zu frames", count);
        goto cleanup;
    }
    if (proto_decode (zframe_data (parts[1]), zframe_size (parts[1]),
                      &request, err, sizeof err)
        != 0) {
        s_drop (&self->frontend_drops, "%s", err);
        goto cleanup;
    }

    switch (request.type) {
    case PROTO_SUBMIT:
        s_handle_submit (self, parts[0], &request);
        goto cleanup;
    case PROTO_GET:
        if (jobs_snapshot (self->jobs, request.job, &reply) != 0)
            s_error_reply (&reply, 404, "NotFound", "no such job");
        break;
    case PROTO_PING:
        proto_msg_init (&reply, PROTO_PONG);
        break;
    default:
        /* It decoded, so its sender waits for an answer. */
        s_drop (&self->frontend_drops, "a %s is not a request",
                proto_type_name (request.type));
        s_error_reply (&reply, 400, "UnsupportedRequest",
                       "the frontend takes submit, get and ping");
        break;
    }
    snprintf (reply.cid, sizeof reply.cid, "%s", request.cid);
    s_reply (self, parts[0], &reply);

cleanup:
    proto_msg_reset (&reply);
    proto_msg_reset (&request);
    zframe_destroy (&parts[1]);
    zframe_destroy (&parts[0]);
}

/*  Records a worker's credit report, logging a worker seen for the first
    time. */
static void
s_worker_report (broker_t *self, const char *worker, int32_t slots_free,
                 int32_t slots_total)
{
    int rc = workers_report (self->workers, worker, slots_free, slots_total,
                             zclock_usecs ());
    if (rc == 1)
        log_info ("worker %s joined (%d of %d slots free)", worker,
                  (int) slots_free, (int) slots_total);
}

static void
s_handle_accepted (broker_t *self, const proto_msg_t *msg)
{
    s_worker_report (self, msg->worker, msg->slots_free, msg->slots_total);
    proto_msg_t status;
    int rc = jobs_accept (self->jobs, msg->job, msg->attempt, proto_now_us (),
                          &status);
    if (rc != 0)
        s_stale (self, msg, rc);
    else {
        log_write (AURA_LOG_INFO, status.cid, msg->job,
                   "running on worker %s, attempt %d", msg->worker,
                   (int) msg->attempt);
        s_publish (self, &status);
    }
    proto_msg_reset (&status);
}

static void
s_handle_declined (broker_t *self, const proto_msg_t *msg)
{
    bool shutdown = strcmp (msg->code, "Shutdown") == 0;
    /* A worker that is stopping takes no more jobs, whatever it counts. */
    s_worker_report (self, msg->worker, shutdown ? 0 : msg->slots_free,
                     msg->slots_total);
    proto_msg_t warning, status;
    int rc = jobs_decline (self->jobs, msg->job, msg->attempt, shutdown,
                           msg->worker, proto_now_us (), &warning, &status);
    if (rc != 0)
        s_stale (self, msg, rc);
    else if (warning.type != PROTO_NONE) {
        log_write (AURA_LOG_WARN, status.cid, msg->job,
                   "worker %s shut down while running attempt %d; queued "
                   "again as attempt %d",
                   msg->worker, (int) msg->attempt, (int) status.attempt);
        s_publish (self, &warning);
        s_publish (self, &status);
    }
    else
        log_write (AURA_LOG_DEBUG, msg->cid, msg->job,
                   "worker %s declined attempt %d (%s); back at the head of "
                   "the queue",
                   msg->worker, (int) msg->attempt, msg->code);
    proto_msg_reset (&warning);
    proto_msg_reset (&status);
}

static void
s_handle_event (broker_t *self, proto_msg_t *msg)
{
    bool terminal = proto_event_is_terminal (msg->kind);
    if (terminal)
        s_worker_report (self, msg->worker, msg->slots_free, msg->slots_total);
    else if (msg->worker[0])
        workers_touch (self->workers, msg->worker, zclock_usecs ());

    proto_msg_t status;
    int rc = jobs_apply_event (self->jobs, msg, proto_now_us (), &status);
    if (rc == -EINVAL)
        s_drop (&self->events_drops, "a worker may not send a %s event",
                proto_event_kind_name (msg->kind));
    else if (rc != 0)
        s_stale (self, msg, rc);
    else {
        /* job-status first: the terminal event is the job's last seq. */
        s_publish (self, &status);
        s_publish (self, msg);
        if (terminal)
            log_write (msg->kind == EVENT_JOB_COMPLETED ? AURA_LOG_INFO
                                                        : AURA_LOG_WARN,
                       status.cid, msg->job, "job %s (attempt %d, worker %s)%s%s",
                       job_status_name (status.status), (int) msg->attempt,
                       msg->worker[0] ? msg->worker : "?",
                       msg->code[0] ? ": " : "", msg->code);
    }
    proto_msg_reset (&status);
}

static void
s_handle_events (broker_t *self)
{
    zframe_t *parts[1] = { NULL };
    size_t count = 0;
    char err[160] = "";
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);

    if (s_recv_parts (self->events, parts, 1, &count) != 0)
        return;
    if (count != 1) {
        s_drop (&self->events_drops, "expected [body], got %zu frames", count);
        goto cleanup;
    }
    if (proto_decode (zframe_data (parts[0]), zframe_size (parts[0]), &msg,
                      err, sizeof err)
        != 0) {
        s_drop (&self->events_drops, "%s", err);
        goto cleanup;
    }

    switch (msg.type) {
    case PROTO_HEARTBEAT:
        if (!msg.worker[0]) {
            s_drop (&self->events_drops, "a heartbeat without a worker name");
            goto cleanup;
        }
        s_worker_report (self, msg.worker, msg.slots_free, msg.slots_total);
        break;
    case PROTO_ACCEPTED:
        s_handle_accepted (self, &msg);
        break;
    case PROTO_DECLINED:
        s_handle_declined (self, &msg);
        break;
    case PROTO_EVENT:
        s_handle_event (self, &msg);
        break;
    default:
        s_drop (&self->events_drops, "a %s does not belong on this socket",
                proto_type_name (msg.type));
        goto cleanup;
    }
    s_dispatch (self);

cleanup:
    proto_msg_reset (&msg);
    zframe_destroy (&parts[0]);
}

/*  Forgets silent workers, re-queues unanswered dispatches, retries
    dispatch (a worker may have connected since the last EAGAIN) and
    reports drops the log rate limit held back. */
static void
s_tick (broker_t *self)
{
    int64_t now = zclock_usecs ();
    s_drop_flush (&self->frontend_drops);
    s_drop_flush (&self->events_drops);
    workers_expire (self->workers, now - BROKER_WORKER_SILENCE_US);

    proto_msg_t warning, status, cancel;
    while (jobs_expire_dispatch (self->jobs, now - BROKER_DISPATCH_TIMEOUT_US,
                                 proto_now_us (), &warning, &status, &cancel)
           == 0) {
        log_write (AURA_LOG_WARN, status.cid, status.job,
                   "dispatch of attempt %d unanswered; queued again as "
                   "attempt %d",
                   (int) cancel.attempt, (int) status.attempt);
        s_publish (self, &cancel);
        s_publish (self, &warning);
        s_publish (self, &status);
        proto_msg_reset (&cancel);
        proto_msg_reset (&warning);
        proto_msg_reset (&status);
    }
    proto_msg_reset (&cancel);
    proto_msg_reset (&warning);
    proto_msg_reset (&status);
    s_dispatch (self);
}

/*  Handles what is waiting on sock, up to BROKER_BATCH messages. */
static void
s_drain (broker_t *self, zsock_t *sock, void (*handle) (broker_t *))
{
    for (int i = 0; i < BROKER_BATCH && !zsys_interrupted; i++) {
        if (!(zsock_events (sock) & ZMQ_POLLIN))
            break;
        handle (self);
    }
}

int
broker_run (broker_t *self)
{
    assert (self);
    log_info ("ready: frontend=%s jobs=%s events=%s publish=%s",
              zsock_endpoint (self->frontend), zsock_endpoint (self->jobs_out),
              zsock_endpoint (self->events), zsock_endpoint (self->publish));

    zmq_pollitem_t items[] = {
        { zsock_resolve (self->frontend), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->events), 0, ZMQ_POLLIN, 0 },
    };
    int rc = 0;
    self->next_tick_mono_us = zclock_usecs () + BROKER_TICK_US;
    while (!zsys_interrupted) {
        int64_t wait_us = self->next_tick_mono_us - zclock_usecs ();
        long timeout_ms = wait_us > 0 ? (long) ((wait_us + 999) / 1000) : 0;
        if (zmq_poll (items, 2, timeout_ms) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            rc = -zmq_errno ();
            log_error ("polling failed: %s", zmq_strerror (-rc));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_drain (self, self->frontend, s_handle_frontend);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain (self, self->events, s_handle_events);
        if (zclock_usecs () >= self->next_tick_mono_us) {
            s_tick (self);
            self->next_tick_mono_us = zclock_usecs () + BROKER_TICK_US;
        }
    }
    log_info ("stopping: %zu jobs (%zu queued, %zu dispatched), %zu workers; "
              "dropped %llu on frontend, %llu on events, %llu stale reports",
              jobs_size (self->jobs), jobs_queued (self->jobs),
              jobs_in_flight (self->jobs), workers_size (self->workers),
              (unsigned long long) self->frontend_drops.dropped,
              (unsigned long long) self->events_drops.dropped,
              (unsigned long long) self->stale_reports);
    return rc;
}
