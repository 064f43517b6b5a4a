/*  bus — the broker thread. Requests arrive on a mutex-protected queue and
    an eventfd wakes the thread, which polls that eventfd together with its
    two ZeroMQ sockets. Requests in flight are matched to answers by
    correlation id (FIFO among equal ids) and expire in send order, since
    they all share one timeout. */
#include "bus.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sse.h"

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
};

static int64_t
s_mono_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void
s_call_finish (bus_call_t *call, int status, proto_msg_t *reply)
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
    if (request == PROTO_PING)
        return reply == PROTO_PONG;
    return reply == PROTO_JOB || reply == PROTO_ERROR;
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

static void
s_on_answer (bus_t *self, const void *data, size_t size)
{
    char err[128] = "";
    proto_msg_t *reply = malloc (sizeof *reply);
    if (!reply) {
        log_error ("out of memory decoding a broker answer");
        return;
    }
    if (proto_decode (data, size, reply, err, sizeof err) < 0) {
        log_warn ("dropped a broker answer that does not decode: %s", err);
        free (reply);
        return;
    }
    bus_call_t *call = (bus_call_t *) zhashx_lookup (self->in_flight, reply->cid);
    while (call && !s_answers (call->request->type, reply->type))
        call = call->next;
    if (!call) {
        log_write (AURA_LOG_INFO, reply->cid, reply->job,
                   "dropped a late or unmatched %s answer", proto_type_name (reply->type));
        proto_msg_reset (reply);
        free (reply);
        return;
    }
    s_flight_remove (self, call);
    s_call_finish (call, 0, reply);
}

static void
s_on_event (bus_t *self, const zmq_msg_t *topic, const void *data, size_t size)
{
    char err[128] = "";
    proto_msg_t *ev = &self->event;
    if (proto_decode (data, size, ev, err, sizeof err) < 0) {
        log_warn ("dropped an event that does not decode: %s", err);
        return;
    }
    char expected[8 + JOB_ID_SIZE];
    if (ev->type != PROTO_EVENT || ev->seq == 0) {
        log_write (AURA_LOG_WARN, ev->cid, ev->job,
                   "dropped a %s message without a seq on the event bus",
                   proto_type_name (ev->type));
        goto cleanup;
    }
    if (proto_topic (expected, sizeof expected, PROTO_TOPIC_JOB, ev->job) < 0
        || zmq_msg_size ((zmq_msg_t *) topic) != strlen (expected)
        || memcmp (zmq_msg_data ((zmq_msg_t *) topic), expected, strlen (expected)) != 0) {
        log_write (AURA_LOG_WARN, ev->cid, ev->job,
                   "dropped an event published under another job's topic");
        goto cleanup;
    }
    char *frame = NULL;
    size_t frame_len = 0;
    if (sse_render_event (ev, &frame, &frame_len) < 0) {
        log_write (AURA_LOG_WARN, ev->cid, ev->job, "cannot render event %s #%" PRIu64,
                   proto_event_kind_name (ev->kind), ev->seq);
        goto cleanup;
    }
    hub_event_t *hev = hub_event_new (ev->seq, proto_event_is_terminal (ev->kind),
                                      frame, frame_len);
    free (frame);
    if (!hev) {
        log_write (AURA_LOG_ERROR, ev->cid, ev->job, "out of memory for an event");
        goto cleanup;
    }
    int rc = hub_publish (self->hub, ev->job, hev, proto_now_us ());
    if (rc == -EALREADY)
        log_write (AURA_LOG_DEBUG, ev->cid, ev->job, "duplicate event #%" PRIu64,
                   ev->seq);
    else if (log_enabled (AURA_LOG_DEBUG))
        log_write (AURA_LOG_DEBUG, ev->cid, ev->job, "event #%" PRIu64 " %s",
                   ev->seq, proto_event_kind_name (ev->kind));
    hub_event_unref (&hev);

cleanup:
    proto_msg_reset (ev);
}

static void
s_drain_dealer (bus_t *self)
{
    void *socket = zsock_resolve (self->dealer);
    for (int i = 0; i < BUS_BATCH; i++) {
        zmq_msg_t frames[2];
        int count = s_recv (socket, frames);
        if (count == 0)
            return;
        if (count == 1)
            s_on_answer (self, zmq_msg_data (&frames[0]), zmq_msg_size (&frames[0]));
        else
            log_warn ("dropped a broker answer of %d frames", count);
        s_close_frames (frames, count);
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
        else
            log_warn ("dropped a published message of %d frames", count);
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
    self->hub = hub;
    self->timeout_us = (int64_t) cfg->broker_timeout_ms * 1000;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->in_flight = zhashx_new ();
    if (self->wake_fd < 0 || !self->in_flight) {
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
    if (self->wake_fd >= 0)
        close (self->wake_fd);
    pthread_mutex_destroy (&self->lock);
    free (self);
}
