/*  bus — the broker thread. Requests arrive on a mutex-protected queue and
    an eventfd wakes the thread, which polls that eventfd together with its
    two ZeroMQ sockets. Requests in flight are matched to answers by
    correlation id (FIFO among equal ids) and expire in send order, since
    they all share one timeout. The bus also makes requests of its own:
    the `replay` pages that fill a gap in a job's events (see hub_offer). */
#include "bus.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "log.h"
#include "sse.h"

/*  Frames of one answer: a header and at most PROTO_MAX_ITEMS items. */
#define BUS_MAX_FRAMES (PROTO_MAX_ITEMS + 1)

/*  Messages taken from one socket before the others get a turn. */
#define BUS_BATCH 256
/*  How often hub_tick runs. */
#define BUS_TICK_US (200 * 1000)

typedef struct bus_call_t bus_call_t;
struct bus_call_t {
    proto_msg_t *request;
    bus_done_fn *done;
    void *arg;
    int64_t deadline_us;       /* monotonic */
    bus_call_t *next;          /* queue, then the chain of calls with one cid */
    bus_call_t *older, *newer; /* calls in flight, by deadline */
};

struct bus_t {
    pthread_mutex_t lock;      /* guards queue and stopping */
    bus_call_t *queue_head, *queue_tail;
    bool stopping;
    bool stopped;              /* bus_stop finished (caller's thread only) */
    int wake_fd;
    pthread_t thread;
    bool thread_started;

    /* bus thread only */
    zsock_t *dealer;
    zsock_t *sub;
    hub_t *hub;
    int64_t timeout_us;
    zhashx_t *in_flight;       /* cid → first bus_call_t of that cid */
    bus_call_t *oldest, *newest;
    proto_msg_t event;         /* reused for every decoded event */
    zmq_msg_t *frames;         /* BUS_MAX_FRAMES, reused for every answer */

    atomic_uint_fast64_t answers_dropped;
    atomic_uint_fast64_t answers_malformed;
    atomic_uint_fast64_t events_dropped;
    atomic_uint_fast64_t gaps_found;
    atomic_uint_fast64_t gaps_filled;
    atomic_uint_fast64_t gaps_abandoned;
    atomic_uint_fast64_t events_received;
    atomic_uint_fast64_t timeouts;
    metrics_histogram_t event_lag;
};

/*  A gap being filled: which job, and where the last page started. */
typedef struct {
    bus_t *bus;
    char job[JOB_ID_SIZE];
    uint64_t after_seq;
} bus_gap_t;

static void
s_count (atomic_uint_fast64_t *counter)
{
    atomic_fetch_add_explicit (counter, 1, memory_order_relaxed);
}

static int64_t
s_mono_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- replies */

static bus_reply_t *
s_reply_new (void)
{
    bus_reply_t *reply = calloc (1, sizeof *reply);
    if (reply)
        proto_msg_init (&reply->msg, PROTO_NONE);
    return reply;
}

/*  Frees the items of reply, keeping its header. */
static void
s_reply_clear_items (bus_reply_t *reply)
{
    for (size_t i = 0; reply->jobs && i < reply->count; i++)
        proto_msg_reset (&reply->jobs[i]);
    for (size_t i = 0; reply->events && i < reply->count; i++)
        hub_event_unref (&reply->events[i]);
    free (reply->jobs);
    free (reply->events);
    reply->jobs = NULL;
    reply->events = NULL;
    reply->count = 0;
}

void
bus_reply_destroy (bus_reply_t **self_p)
{
    assert (self_p);
    bus_reply_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    s_reply_clear_items (self);
    proto_msg_reset (&self->msg);
    free (self);
}

/*  Renders a sequenced event as the hub's shared SSE frame. Returns NULL
    when it does not render or memory runs out. */
static hub_event_t *
s_render_event (const proto_msg_t *ev)
{
    char *frame = NULL;
    size_t frame_len = 0;
    if (sse_render_event (ev, &frame, &frame_len) < 0)
        return NULL;
    hub_event_t *hev = hub_event_new (ev->seq, proto_event_is_terminal (ev->kind),
                                      frame, frame_len);
    free (frame);
    return hev;
}

static int
s_bad (char *err, size_t err_size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_bad (char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, err_size, fmt, args);
    va_end (args);
    return -EBADMSG;
}

int
bus_reply_read_items (bus_reply_t *reply, const proto_msg_t *request,
                      const bus_frame_t *items, size_t count, char *err,
                      size_t err_size)
{
    const proto_msg_t *head = &reply->msg;
    bool page = head->type == PROTO_PAGE;
    if (err_size > 0)
        err[0] = '\0';
    if (!page && head->type != PROTO_EVENTS)
        return -EINVAL;
    if ((page && request->type != PROTO_LIST) || (!page && request->type != PROTO_REPLAY))
        return s_bad (err, err_size, "a %s does not answer a %s",
                      proto_type_name (head->type), proto_type_name (request->type));
    if (head->count < 0 || (size_t) head->count != count)
        return s_bad (err, err_size, "header announces %d items, %zu follow",
                      (int) head->count, count);
    if (head->count > request->limit)
        return s_bad (err, err_size, "%d items for a limit of %d", (int) head->count,
                      (int) request->limit);
    if (page && head->cursor[0] && !job_id_valid (head->cursor, strlen (head->cursor)))
        return s_bad (err, err_size, "page cursor is not a job id");
    if (!page && strcmp (head->job, request->job) != 0)
        return s_bad (err, err_size, "events of job %s for a replay of %s", head->job,
                      request->job);

    if (count == 0)
        return 0;
    if (page)
        reply->jobs = calloc (count, sizeof *reply->jobs);
    else
        reply->events = calloc (count, sizeof *reply->events);
    if (!reply->jobs && !reply->events)
        return -ENOMEM;

    int rc = 0;
    char why[128] = "";
    proto_msg_t ev;
    proto_msg_init (&ev, PROTO_NONE);
    uint64_t last_seq = request->seq;
    for (size_t i = 0; i < count && rc == 0; i++) {
        proto_msg_t *msg = page ? &reply->jobs[i] : &ev;
        if (proto_decode (items[i].data, items[i].size, msg, why, sizeof why) < 0) {
            rc = s_bad (err, err_size, "item %zu: %s", i + 1, why);
            break;
        }
        if (page) {
            reply->count = i + 1; /* owned from now on */
            if (msg->type != PROTO_JOB)
                rc = s_bad (err, err_size, "item %zu is a %s, not a job", i + 1,
                            proto_type_name (msg->type));
            continue;
        }
        if (ev.type != PROTO_EVENT)
            rc = s_bad (err, err_size, "item %zu is a %s, not an event", i + 1,
                        proto_type_name (ev.type));
        else if (strcmp (ev.job, request->job) != 0)
            rc = s_bad (err, err_size, "item %zu is an event of job %s", i + 1, ev.job);
        else if (ev.seq <= last_seq)
            rc = s_bad (err, err_size, "item %zu has seq %" PRIu64 " after %" PRIu64,
                        i + 1, ev.seq, last_seq);
        else if (!(reply->events[i] = s_render_event (&ev)))
            rc = s_bad (err, err_size, "item %zu (%s #%" PRIu64 ") does not render",
                        i + 1, proto_event_kind_name (ev.kind), ev.seq);
        else {
            reply->count = i + 1;
            last_seq = ev.seq;
        }
        proto_msg_reset (&ev);
    }
    proto_msg_reset (&ev);
    if (rc < 0)
        s_reply_clear_items (reply);
    return rc;
}

static void
s_call_finish (bus_call_t *call, int status, bus_reply_t *reply)
{
    call->done (call->arg, status, reply);
    proto_msg_reset (call->request);
    free (call->request);
    free (call);
}

/* -------------------------------------------------------- calls in flight */

static void
s_flight_add (bus_t *self, bus_call_t *call)
{
    call->next = NULL;
    bus_call_t *first = (bus_call_t *) zhashx_lookup (self->in_flight,
                                                      call->request->cid);
    if (first) {
        while (first->next)
            first = first->next;
        first->next = call;
    }
    else if (zhashx_insert (self->in_flight, call->request->cid, call) != 0) {
        s_call_finish (call, -ENOMEM, NULL);
        return;
    }
    call->older = self->newest;
    call->newer = NULL;
    if (self->newest)
        self->newest->newer = call;
    else
        self->oldest = call;
    self->newest = call;
}

static void
s_flight_remove (bus_t *self, bus_call_t *call)
{
    const char *cid = call->request->cid;
    bus_call_t *first = (bus_call_t *) zhashx_lookup (self->in_flight, cid);
    if (first == call) {
        if (call->next)
            zhashx_update (self->in_flight, cid, call->next);
        else
            zhashx_delete (self->in_flight, cid);
    }
    else {
        for (bus_call_t *c = first; c; c = c->next)
            if (c->next == call) {
                c->next = call->next;
                break;
            }
    }
    if (call->older)
        call->older->newer = call->newer;
    else
        self->oldest = call->newer;
    if (call->newer)
        call->newer->older = call->older;
    else
        self->newest = call->older;
    call->next = call->older = call->newer = NULL;
}

/*  True when reply is an answer a request of this type can get. */
static bool
s_answers (proto_type_t request, proto_type_t reply)
{
    switch (request) {
    case PROTO_PING: return reply == PROTO_PONG;
    case PROTO_LIST: return reply == PROTO_PAGE || reply == PROTO_ERROR;
    case PROTO_REPLAY: return reply == PROTO_EVENTS || reply == PROTO_ERROR;
    default: return reply == PROTO_JOB || reply == PROTO_ERROR;
    }
}

/* --------------------------------------------------------------- sending */

static void
s_send (bus_t *self, bus_call_t *call)
{
    char *buf = NULL;
    size_t len = 0;
    if (proto_encode_buf (call->request, &buf, &len) < 0) {
        log_write (AURA_LOG_ERROR, call->request->cid, call->request->job,
                   "cannot encode %s request", proto_type_name (call->request->type));
        s_call_finish (call, -EINVAL, NULL);
        return;
    }
    int rc = zmq_send (zsock_resolve (self->dealer), buf, len, ZMQ_DONTWAIT);
    int send_errno = errno;
    free (buf);
    if (rc < 0) {
        log_write (AURA_LOG_WARN, call->request->cid, call->request->job,
                   "broker unreachable, %s not sent: %s",
                   proto_type_name (call->request->type), zmq_strerror (send_errno));
        s_call_finish (call, -ENOTCONN, NULL);
        return;
    }
    call->deadline_us = s_mono_us () + self->timeout_us;
    s_flight_add (self, call);
}

/* ------------------------------------------------------------- receiving */

/*  Receives one message of up to two frames without waiting. Returns the
    frame count (0 when nothing is waiting); extra frames are discarded and
    counted. */
static int
s_recv (void *socket, zmq_msg_t frames[2])
{
    int count = 0;
    for (;;) {
        zmq_msg_t extra;
        zmq_msg_t *part = count < 2 ? &frames[count] : &extra;
        zmq_msg_init (part);
        /* the parts of a message arrive together: only the first can fail */
        if (zmq_msg_recv (part, socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (part);
            return count;
        }
        bool more = zmq_msg_more (part);
        if (part == &extra)
            zmq_msg_close (part);
        count++;
        if (!more)
            return count;
    }
}

static void
s_close_frames (zmq_msg_t frames[2], int count)
{
    for (int i = 0; i < count && i < 2; i++)
        zmq_msg_close (&frames[i]);
}

/*  Hands an answer to the call it matches: the oldest call with its cid
    that such an answer can answer. parts[0] is the body, or the header of
    a multipart answer followed by its items. */
static void
s_on_answer (bus_t *self, zmq_msg_t *parts, size_t count, bool truncated)
{
    char err[160] = "";
    bus_reply_t *reply = s_reply_new ();
    if (!reply) {
        log_error ("out of memory decoding a broker answer");
        return;
    }
    if (proto_decode (zmq_msg_data (&parts[0]), zmq_msg_size (&parts[0]), &reply->msg,
                      err, sizeof err)
        < 0) {
        s_count (&self->answers_dropped);
        log_warn ("dropped a broker answer that does not decode: %s", err);
        bus_reply_destroy (&reply);
        return;
    }
    const proto_msg_t *head = &reply->msg;
    bus_call_t *call = (bus_call_t *) zhashx_lookup (self->in_flight, head->cid);
    while (call && !s_answers (call->request->type, head->type))
        call = call->next;
    if (!call) {
        s_count (&self->answers_dropped);
        log_write (AURA_LOG_INFO, head->cid, head->job,
                   "dropped a late or unmatched %s answer", proto_type_name (head->type));
        bus_reply_destroy (&reply);
        return;
    }
    s_flight_remove (self, call);

    int rc = 0;
    if (head->type == PROTO_PAGE || head->type == PROTO_EVENTS) {
        bus_frame_t items[BUS_MAX_FRAMES - 1];
        for (size_t i = 1; i < count; i++) {
            items[i - 1].data = zmq_msg_data (&parts[i]);
            items[i - 1].size = zmq_msg_size (&parts[i]);
        }
        if (truncated)
            rc = s_bad (err, sizeof err, "more than %d item frames", PROTO_MAX_ITEMS);
        else
            rc = bus_reply_read_items (reply, call->request, items, count - 1, err,
                                       sizeof err);
    }
    else if (count != 1 || truncated)
        rc = s_bad (err, sizeof err, "a %s answer of %zu frames",
                    proto_type_name (head->type), count);
    if (rc < 0) {
        if (rc == -EBADMSG) {
            s_count (&self->answers_malformed);
            log_write (AURA_LOG_WARN, head->cid, call->request->job,
                       "malformed %s answer to %s: %s", proto_type_name (head->type),
                       proto_type_name (call->request->type), err);
        }
        else
            log_write (AURA_LOG_ERROR, head->cid, call->request->job,
                       "out of memory reading a %s answer", proto_type_name (head->type));
        bus_reply_destroy (&reply);
        s_call_finish (call, rc == -EBADMSG ? -EBADMSG : -ENOMEM, NULL);
        return;
    }
    s_call_finish (call, 0, reply);
}

/* ------------------------------------------------------------ gap filling */

static void s_gap_fetch (bus_t *self, const char *job, uint64_t after_seq);

static void
s_gap_abandon (bus_t *self, const char *job, const char *why)
{
    s_count (&self->gaps_abandoned);
    log_write (AURA_LOG_WARN, NULL, job, "cannot fetch the events lost here: %s", why);
    hub_gap_abandon (self->hub, job, proto_now_us ());
}

/*  The answer to a replay the bus asked for itself. */
static void
s_on_gap_answer (void *arg, int status, bus_reply_t *reply)
{
    bus_gap_t *gap = arg;
    bus_t *self = gap->bus;
    if (status == -ECANCELED) {
        /* stopping: nothing will be forwarded any more */
    }
    else if (status < 0)
        s_gap_abandon (self, gap->job, strerror (-status));
    else if (reply->msg.type != PROTO_EVENTS) {
        char why[600];
        snprintf (why, sizeof why, "broker answered %d %s", (int) reply->msg.error_status,
                  reply->msg.code);
        s_gap_abandon (self, gap->job, why);
    }
    else {
        uint64_t after_seq = 0;
        int rc = hub_fill (self->hub, gap->job, reply->events, reply->count,
                           proto_now_us (), &after_seq);
        if (rc == 0) {
            s_count (&self->gaps_filled);
            log_write (AURA_LOG_INFO, NULL, gap->job, "event gap filled from the broker");
        }
        else if (rc == -EAGAIN) {
            if (!reply->msg.more || after_seq <= gap->after_seq)
                s_gap_abandon (self, gap->job, "the broker has no more of them");
            else
                s_gap_fetch (self, gap->job, after_seq);
        }
    }
    bus_reply_destroy (&reply);
    free (gap);
}

/*  Sends a replay of job's events after after_seq, whose answer goes to
    the hub. Bus thread only. */
static void
s_gap_fetch (bus_t *self, const char *job, uint64_t after_seq)
{
    bus_gap_t *gap = calloc (1, sizeof *gap);
    bus_call_t *call = calloc (1, sizeof *call);
    proto_msg_t *request = malloc (sizeof *request);
    if (!gap || !call || !request) {
        free (gap);
        free (call);
        free (request);
        s_gap_abandon (self, job, "out of memory");
        return;
    }
    gap->bus = self;
    snprintf (gap->job, sizeof gap->job, "%s", job);
    gap->after_seq = after_seq;
    proto_msg_init (request, PROTO_REPLAY);
    correlation_id_generate (request->cid, sizeof request->cid);
    snprintf (request->job, sizeof request->job, "%s", job);
    request->seq = after_seq;
    request->limit = BUS_REPLAY_LIMIT;
    request->ts_us = proto_now_us ();
    call->request = request;
    call->done = s_on_gap_answer;
    call->arg = gap;
    log_write (AURA_LOG_DEBUG, request->cid, job, "fetching events after #%" PRIu64,
               after_seq);
    s_send (self, call);
}

static void
s_on_event (bus_t *self, const zmq_msg_t *topic, const void *data, size_t size)
{
    char err[128] = "";
    proto_msg_t *ev = &self->event;
    if (proto_decode (data, size, ev, err, sizeof err) < 0) {
        s_count (&self->events_dropped);
        log_warn ("dropped an event that does not decode: %s", err);
        return;
    }
    char expected[8 + JOB_ID_SIZE];
    if (ev->type != PROTO_EVENT || ev->seq == 0) {
        s_count (&self->events_dropped);
        log_write (AURA_LOG_WARN, ev->cid, ev->job,
                   "dropped a %s message without a seq on the event bus",
                   proto_type_name (ev->type));
        goto cleanup;
    }
    if (proto_topic (expected, sizeof expected, PROTO_TOPIC_JOB, ev->job) < 0
        || zmq_msg_size ((zmq_msg_t *) topic) != strlen (expected)
        || memcmp (zmq_msg_data ((zmq_msg_t *) topic), expected, strlen (expected)) != 0) {
        s_count (&self->events_dropped);
        log_write (AURA_LOG_WARN, ev->cid, ev->job,
                   "dropped an event published under another job's topic");
        goto cleanup;
    }
    s_count (&self->events_received);
    if (ev->ts_us > 0)
        metrics_histogram_observe (&self->event_lag, proto_now_us () - ev->ts_us);
    hub_event_t *hev = s_render_event (ev);
    if (!hev) {
        s_count (&self->events_dropped);
        log_write (AURA_LOG_WARN, ev->cid, ev->job, "cannot render event %s #%" PRIu64,
                   proto_event_kind_name (ev->kind), ev->seq);
        goto cleanup;
    }
    uint64_t fill_after = 0;
    int rc = hub_offer (self->hub, ev->job, hev, proto_now_us (), &fill_after);
    if (rc == -EALREADY)
        log_write (AURA_LOG_DEBUG, ev->cid, ev->job, "duplicate event #%" PRIu64,
                   ev->seq);
    else if (rc == -EAGAIN) {
        s_count (&self->gaps_found);
        log_write (AURA_LOG_WARN, ev->cid, ev->job,
                   "events lost between #%" PRIu64 " and #%" PRIu64
                   ": fetching them from the broker",
                   fill_after, ev->seq);
        s_gap_fetch (self, ev->job, fill_after);
    }
    else if (log_enabled (AURA_LOG_DEBUG))
        log_write (AURA_LOG_DEBUG, ev->cid, ev->job, "event #%" PRIu64 " %s%s", ev->seq,
                   proto_event_kind_name (ev->kind),
                   rc == -EINPROGRESS ? " (held until the gap is filled)" : "");
    hub_event_unref (&hev);

cleanup:
    proto_msg_reset (ev);
}

/*  Receives one answer of up to BUS_MAX_FRAMES frames into self->frames
    without waiting. Returns the frame count (0 when nothing is waiting);
    *truncated tells that further frames were discarded. */
static size_t
s_recv_answer (bus_t *self, void *socket, bool *truncated)
{
    size_t count = 0;
    *truncated = false;
    for (;;) {
        zmq_msg_t extra;
        zmq_msg_t *part = count < BUS_MAX_FRAMES ? &self->frames[count] : &extra;
        zmq_msg_init (part);
        /* the parts of a message arrive together: only the first can fail */
        if (zmq_msg_recv (part, socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (part);
            return count;
        }
        bool more = zmq_msg_more (part);
        if (part == &extra) {
            zmq_msg_close (part);
            *truncated = true;
        }
        else
            count++;
        if (!more)
            return count;
    }
}

static void
s_drain_dealer (bus_t *self)
{
    void *socket = zsock_resolve (self->dealer);
    for (int i = 0; i < BUS_BATCH; i++) {
        bool truncated = false;
        size_t count = s_recv_answer (self, socket, &truncated);
        if (count == 0)
            return;
        s_on_answer (self, self->frames, count, truncated);
        for (size_t f = 0; f < count; f++)
            zmq_msg_close (&self->frames[f]);
    }
}

static void
s_drain_sub (bus_t *self)
{
    void *socket = zsock_resolve (self->sub);
    for (int i = 0; i < BUS_BATCH; i++) {
        zmq_msg_t frames[2];
        int count = s_recv (socket, frames);
        if (count == 0)
            return;
        if (count == 2)
            s_on_event (self, &frames[0], zmq_msg_data (&frames[1]),
                        zmq_msg_size (&frames[1]));
        else {
            s_count (&self->events_dropped);
            log_warn ("dropped a published message of %d frames", count);
        }
        s_close_frames (frames, count);
    }
}

static void
s_expire (bus_t *self, int64_t now_us)
{
    while (self->oldest && self->oldest->deadline_us <= now_us) {
        bus_call_t *call = self->oldest;
        s_flight_remove (self, call);
        log_write (AURA_LOG_WARN, call->request->cid, call->request->job,
                   "broker did not answer %s within %" PRId64 " ms",
                   proto_type_name (call->request->type), self->timeout_us / 1000);
        s_count (&self->timeouts);
        s_call_finish (call, -ETIMEDOUT, NULL);
    }
}

/* ---------------------------------------------------------------- thread */

static void *
s_run (void *arg)
{
    bus_t *self = arg;
    zmq_pollitem_t items[3] = {
        { NULL, self->wake_fd, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->dealer), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0 },
    };
    int64_t next_tick_us = s_mono_us () + BUS_TICK_US;
    bool stopping = false;
    while (!stopping) {
        int64_t now_us = s_mono_us ();
        int64_t wait_us = next_tick_us - now_us;
        if (self->oldest && self->oldest->deadline_us - now_us < wait_us)
            wait_us = self->oldest->deadline_us - now_us;
        long timeout_ms = wait_us <= 0 ? 0 : (long) ((wait_us + 999) / 1000);
        if (zmq_poll (items, 3, timeout_ms) < 0) {
            if (errno == ETERM)
                break;
            if (errno != EINTR)
                log_error ("bus poll failed: %s", zmq_strerror (errno));
            continue;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t count;
            if (read (self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
                log_error ("bus wakeup read failed: %s", strerror (errno));
        }

        pthread_mutex_lock (&self->lock);
        bus_call_t *queued = self->queue_head;
        self->queue_head = self->queue_tail = NULL;
        stopping = self->stopping;
        pthread_mutex_unlock (&self->lock);
        while (queued) {
            bus_call_t *call = queued;
            queued = call->next;
            if (stopping)
                s_call_finish (call, -ECANCELED, NULL);
            else
                s_send (self, call);
        }
        if (stopping)
            break;

        /* events first: what the broker published before it answered is
           then usually in the hub by the time the answer is handled */
        if (items[2].revents & ZMQ_POLLIN)
            s_drain_sub (self);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain_dealer (self);
        now_us = s_mono_us ();
        s_expire (self, now_us);
        if (now_us >= next_tick_us) {
            hub_tick (self->hub, proto_now_us ());
            next_tick_us = now_us + BUS_TICK_US;
        }
    }
    while (self->oldest) {
        bus_call_t *call = self->oldest;
        s_flight_remove (self, call);
        s_call_finish (call, -ECANCELED, NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------------ API */

static zsock_t *
s_socket (int type, const char *endpoint, const char *what)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("cannot create the %s socket", what);
        return NULL;
    }
    proto_socket_defaults (sock);
    if (type == ZMQ_DEALER)
        zsock_set_immediate (sock, 1);
    else {
        /* a burst of events from many jobs must not be dropped here */
        zsock_set_rcvhwm (sock, 100000);
        zsock_set_subscribe (sock, PROTO_TOPIC_JOB);
    }
    if (zsock_connect (sock, "%s", endpoint) < 0) {
        log_error ("cannot connect the %s socket to %s: %s", what, endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

bus_t *
bus_new (const aura_config_t *cfg, hub_t *hub)
{
    bus_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    atomic_init (&self->answers_dropped, 0);
    atomic_init (&self->answers_malformed, 0);
    atomic_init (&self->events_dropped, 0);
    atomic_init (&self->gaps_found, 0);
    atomic_init (&self->gaps_filled, 0);
    atomic_init (&self->gaps_abandoned, 0);
    atomic_init (&self->events_received, 0);
    atomic_init (&self->timeouts, 0);
    metrics_histogram_init (&self->event_lag, metrics_lag_bounds_us,
                            metrics_lag_bound_count);
    self->hub = hub;
    self->timeout_us = (int64_t) cfg->broker_timeout_ms * 1000;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->in_flight = zhashx_new ();
    self->frames = calloc (BUS_MAX_FRAMES, sizeof *self->frames);
    if (self->wake_fd < 0 || !self->in_flight || !self->frames) {
        log_error ("cannot set up the bus: %s", strerror (errno));
        goto fail;
    }
    self->dealer = s_socket (ZMQ_DEALER, cfg->broker_frontend, "broker frontend");
    self->sub = s_socket (ZMQ_SUB, cfg->broker_publish, "broker publish");
    if (!self->dealer || !self->sub)
        goto fail;
    /* the sockets move to the bus thread; thread creation is the memory
       barrier ZeroMQ asks for when a socket changes threads */
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        log_error ("cannot start the bus thread");
        goto fail;
    }
    self->thread_started = true;
    return self;

fail:
    bus_destroy (&self);
    return NULL;
}

int
bus_call (bus_t *self, proto_msg_t *request, bus_done_fn *done, void *arg)
{
    bus_call_t *call = calloc (1, sizeof *call);
    if (!call) {
        proto_msg_reset (request);
        free (request);
        return -ENOMEM;
    }
    call->request = request;
    call->done = done;
    call->arg = arg;
    pthread_mutex_lock (&self->lock);
    if (self->stopping) {
        pthread_mutex_unlock (&self->lock);
        proto_msg_reset (request);
        free (request);
        free (call);
        return -ESHUTDOWN;
    }
    if (self->queue_tail)
        self->queue_tail->next = call;
    else
        self->queue_head = call;
    self->queue_tail = call;
    pthread_mutex_unlock (&self->lock);
    uint64_t one = 1;
    if (write (self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error ("bus wakeup failed: %s", strerror (errno));
    return 0;
}

void
bus_stats (bus_t *self, bus_stats_t *stats)
{
    stats->answers_dropped = atomic_load (&self->answers_dropped);
    stats->answers_malformed = atomic_load (&self->answers_malformed);
    stats->events_dropped = atomic_load (&self->events_dropped);
    stats->gaps_found = atomic_load (&self->gaps_found);
    stats->gaps_filled = atomic_load (&self->gaps_filled);
    stats->gaps_abandoned = atomic_load (&self->gaps_abandoned);
    stats->events_received = atomic_load (&self->events_received);
    stats->timeouts = atomic_load (&self->timeouts);
    metrics_histogram_read (&self->event_lag, &stats->event_lag);
}

void
bus_stop (bus_t *self)
{
    if (self->stopped)
        return;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_mutex_unlock (&self->lock);
    if (self->thread_started) {
        uint64_t one = 1;
        if (write (self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
            log_error ("bus wakeup failed: %s", strerror (errno));
        pthread_join (self->thread, NULL);
        self->thread_started = false;
    }
    self->stopped = true;
}

void
bus_destroy (bus_t **self_p)
{
    assert (self_p);
    bus_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    bus_stop (self);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->sub);
    zhashx_destroy (&self->in_flight);
    free (self->frames);
    if (self->wake_fd >= 0)
        close (self->wake_fd);
    pthread_mutex_destroy (&self->lock);
    free (self);
}
