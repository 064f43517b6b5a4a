/*  Unit tests of the gateway's broker link: multipart answers (a page of
    jobs, a page of events) are read exactly or refused as malformed, and,
    against an in-process broker, calls get their answers, malformed ones
    become -EBADMSG without harm, and events lost on the SUB socket are
    fetched with `replay` before later ones are forwarded. */
#include <check.h>
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "hub.h"
#include "proto.h"
#include "sse.h"

#define JOB "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"
#define OTHER "01JD5ZQ6X8M9N0P1Q2R3S4T5V5"

/* --------------------------------------------------------------- frames */

typedef struct {
    char *bufs[8];
    bus_frame_t frames[8];
    size_t count;
} frames_t;

static void
s_add (frames_t *f, const proto_msg_t *msg)
{
    size_t len = 0;
    ck_assert_int_eq (proto_encode_buf (msg, &f->bufs[f->count], &len), 0);
    f->frames[f->count].data = f->bufs[f->count];
    f->frames[f->count].size = len;
    f->count++;
}

static void
s_add_raw (frames_t *f, const char *text)
{
    f->bufs[f->count] = strdup (text);
    f->frames[f->count].data = f->bufs[f->count];
    f->frames[f->count].size = strlen (text);
    f->count++;
}

static void
s_frames_free (frames_t *f)
{
    for (size_t i = 0; i < f->count; i++)
        free (f->bufs[i]);
    f->count = 0;
}

static void
s_job (proto_msg_t *msg, const char *id, job_status_t status)
{
    proto_msg_init (msg, PROTO_JOB);
    snprintf (msg->cid, sizeof msg->cid, "c-page");
    snprintf (msg->job, sizeof msg->job, "%s", id);
    snprintf (msg->title, sizeof msg->title, "Topic of %s", id);
    msg->status = status;
    snprintf (msg->phase, sizeof msg->phase, "plan");
    msg->attempt = 1;
    msg->seq = 4;
    msg->created_us = INT64_C (1700000000000000);
}

static void
s_event (proto_msg_t *msg, const char *job, uint64_t seq)
{
    proto_msg_init (msg, PROTO_EVENT);
    snprintf (msg->job, sizeof msg->job, "%s", job);
    msg->kind = EVENT_WARNING;
    msg->seq = seq;
    msg->attempt = 1;
    msg->ts_us = INT64_C (1700000000000000) + (int64_t) seq;
    snprintf (msg->code, sizeof msg->code, "Test");
    snprintf (msg->message, sizeof msg->message, "event %llu", (unsigned long long) seq);
}

static void
s_request (proto_msg_t *request, proto_type_t type, int limit, uint64_t seq)
{
    proto_msg_init (request, type);
    snprintf (request->cid, sizeof request->cid, "c-page");
    snprintf (request->job, sizeof request->job, "%s", JOB);
    request->limit = limit;
    request->seq = seq;
}

/*  Reads the items of frames after header into a new reply. */
static int
s_read (bus_reply_t **reply_p, const proto_msg_t *header, const proto_msg_t *request,
        frames_t *f, char *err, size_t err_size)
{
    bus_reply_t *reply = calloc (1, sizeof *reply);
    ck_assert_ptr_nonnull (reply);
    reply->msg = *header;
    int rc = bus_reply_read_items (reply, request, f->frames, f->count, err, err_size);
    if (rc < 0) {
        ck_assert_ptr_null (reply->jobs);
        ck_assert_ptr_null (reply->events);
        ck_assert_uint_eq (reply->count, 0);
    }
    *reply_p = reply;
    return rc;
}

START_TEST (test_page_is_read_exactly)
{
    proto_msg_t request, header, job;
    s_request (&request, PROTO_LIST, 5, 0);
    proto_msg_init (&header, PROTO_PAGE);
    header.count = 2;
    snprintf (header.cursor, sizeof header.cursor, "%s", OTHER);
    frames_t f = { .count = 0 };
    s_job (&job, JOB, JOB_RUNNING);
    s_add (&f, &job);
    s_job (&job, OTHER, JOB_DONE);
    s_add (&f, &job);

    char err[160];
    bus_reply_t *reply = NULL;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), 0);
    ck_assert_uint_eq (reply->count, 2);
    ck_assert_str_eq (reply->jobs[0].job, JOB);
    ck_assert_str_eq (reply->jobs[0].title, "Topic of " JOB);
    ck_assert_int_eq (reply->jobs[1].status, JOB_DONE);
    bus_reply_destroy (&reply);
    ck_assert_ptr_null (reply);

    /* the header must announce what follows, within the limit */
    header.count = 3;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    ck_assert_msg (strstr (err, "3 items") != NULL, "%s", err);
    bus_reply_destroy (&reply);
    header.count = 2;
    request.limit = 1;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    request.limit = 5;
    snprintf (header.cursor, sizeof header.cursor, "not-an-id");
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    header.cursor[0] = '\0';

    /* items that are not job snapshots */
    s_frames_free (&f);
    s_job (&job, JOB, JOB_RUNNING);
    s_add (&f, &job);
    s_add_raw (&f, "garbage");
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    ck_assert_msg (strstr (err, "item 2") != NULL, "%s", err);
    bus_reply_destroy (&reply);
    s_frames_free (&f);
    proto_msg_t ev;
    s_event (&ev, JOB, 1);
    s_add (&f, &job);
    s_add (&f, &ev);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);

    /* a page does not answer a replay, nor is a job a header */
    s_request (&request, PROTO_REPLAY, 5, 0);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    ck_assert_int_eq (s_read (&reply, &job, &request, &f, err, sizeof err), -EINVAL);
    bus_reply_destroy (&reply);

    /* an empty last page */
    s_request (&request, PROTO_LIST, 5, 0);
    header.count = 0;
    s_frames_free (&f);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), 0);
    ck_assert_uint_eq (reply->count, 0);
    bus_reply_destroy (&reply);
}
END_TEST

START_TEST (test_events_are_read_and_rendered_like_live_ones)
{
    proto_msg_t request, header, ev;
    s_request (&request, PROTO_REPLAY, 500, 2);
    proto_msg_init (&header, PROTO_EVENTS);
    snprintf (header.job, sizeof header.job, "%s", JOB);
    header.count = 2;
    header.more = true;
    frames_t f = { .count = 0 };
    s_event (&ev, JOB, 3);
    s_add (&f, &ev);
    s_event (&ev, JOB, 4);
    ev.kind = EVENT_JOB_CANCELLED;
    ev.step = STEP_TTS;
    s_add (&f, &ev);

    char err[160];
    bus_reply_t *reply = NULL;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), 0);
    ck_assert_uint_eq (reply->count, 2);
    ck_assert_uint_eq (hub_event_seq (reply->events[0]), 3);
    ck_assert (!hub_event_terminal (reply->events[0]));
    ck_assert_uint_eq (hub_event_seq (reply->events[1]), 4);
    ck_assert (hub_event_terminal (reply->events[1]));

    /* the frames are those sse_render_event makes of live events */
    char expected[1024] = "";
    for (uint64_t seq = 3; seq <= 4; seq++) {
        s_event (&ev, JOB, seq);
        if (seq == 4) {
            ev.kind = EVENT_JOB_CANCELLED;
            ev.step = STEP_TTS;
        }
        char *frame = NULL;
        size_t len = 0;
        ck_assert_int_eq (sse_render_event (&ev, &frame, &len), 0);
        strncat (expected, frame, sizeof expected - strlen (expected) - 1);
        free (frame);
    }
    hub_stream_t *stream = hub_stream_new ("c", NULL, NULL, NULL, NULL, 0);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 2, false), 0);
    ck_assert_int_eq (hub_stream_queue (stream, reply->events, reply->count, !reply->msg.more), 0);
    char text[1024];
    ssize_t n = hub_stream_read (stream, text, sizeof text - 1, 0);
    ck_assert_int_gt (n, 0);
    text[n] = '\0';
    ck_assert_str_eq (text, expected);
    hub_stream_destroy (&stream);
    bus_reply_destroy (&reply);

    /* seqs must rise above the request's; every event is the job's */
    request.seq = 3;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    request.seq = 2;
    s_frames_free (&f);
    s_event (&ev, JOB, 3);
    s_add (&f, &ev);
    s_add (&f, &ev);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    s_frames_free (&f);
    s_add (&f, &ev);
    s_event (&ev, OTHER, 4);
    s_add (&f, &ev);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    /* an event without seq, a job snapshot, garbage */
    s_frames_free (&f);
    s_event (&ev, JOB, 0);
    s_add (&f, &ev);
    header.count = 1;
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    s_frames_free (&f);
    proto_msg_t job;
    s_job (&job, JOB, JOB_DONE);
    s_add (&f, &job);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    s_frames_free (&f);
    s_add_raw (&f, "\xdd\xff\xff\xff\xff");
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
    /* the header must be of the requested job */
    s_frames_free (&f);
    header.count = 0;
    snprintf (header.job, sizeof header.job, "%s", OTHER);
    ck_assert_int_eq (s_read (&reply, &header, &request, &f, err, sizeof err), -EBADMSG);
    bus_reply_destroy (&reply);
}
END_TEST

/* ------------------------------------------------ against a fake broker */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int status;
    bus_reply_t *reply;
} outcome_t;

static void
s_on_done (void *arg, int status, bus_reply_t *reply)
{
    outcome_t *o = arg;
    pthread_mutex_lock (&o->lock);
    o->done = true;
    o->status = status;
    o->reply = reply;
    pthread_cond_signal (&o->cond);
    pthread_mutex_unlock (&o->lock);
}

typedef struct {
    aura_config_t cfg;
    zsock_t *router;
    zsock_t *pub;
    hub_t *hub;
    bus_t *bus;
} fake_t;

static void
s_fake_start (fake_t *fake)
{
    static int instance;
    instance++;
    memset (fake, 0, sizeof *fake);
    snprintf (fake->cfg.broker_frontend, sizeof fake->cfg.broker_frontend,
              "inproc://bus-test-frontend-%d", instance);
    snprintf (fake->cfg.broker_publish, sizeof fake->cfg.broker_publish,
              "inproc://bus-test-publish-%d", instance);
    fake->cfg.broker_timeout_ms = 300;
    fake->router = zsock_new (ZMQ_ROUTER);
    fake->pub = zsock_new (ZMQ_PUB);
    ck_assert_int_eq (zsock_bind (fake->router, "%s", fake->cfg.broker_frontend), 0);
    ck_assert_int_eq (zsock_bind (fake->pub, "%s", fake->cfg.broker_publish), 0);
    zsock_set_rcvtimeo (fake->router, 2000);
    hub_limits_t limits;
    hub_limits_default (&limits);
    fake->hub = hub_new (&limits);
    fake->bus = bus_new (&fake->cfg, fake->hub);
    ck_assert_ptr_nonnull (fake->bus);
}

static void
s_fake_stop (fake_t *fake)
{
    bus_destroy (&fake->bus);
    hub_destroy (&fake->hub);
    zsock_destroy (&fake->router);
    zsock_destroy (&fake->pub);
}

/*  Sends request through the bus and returns, in *request_out, what the
    fake broker received; *identity is its ROUTER identity. */
static void
s_call (fake_t *fake, proto_msg_t *request, outcome_t *o, zframe_t **identity,
        proto_msg_t *received)
{
    memset (o, 0, sizeof *o);
    pthread_mutex_init (&o->lock, NULL);
    pthread_cond_init (&o->cond, NULL);
    proto_msg_t *copy = malloc (sizeof *copy);
    *copy = *request;
    ck_assert_int_eq (bus_call (fake->bus, copy, s_on_done, o), 0);
    zmsg_t *msg = zmsg_recv (fake->router);
    ck_assert_ptr_nonnull (msg);
    ck_assert_uint_eq (zmsg_size (msg), 2);
    *identity = zmsg_pop (msg);
    zframe_t *body = zmsg_first (msg);
    char err[160];
    ck_assert_int_eq (proto_decode (zframe_data (body), zframe_size (body), received, err,
                                    sizeof err),
                      0);
    zmsg_destroy (&msg);
}

/*  Answers with the identity and then each message (NULL-terminated;
    a PROTO_NONE entry sends raw garbage instead). */
static void
s_answer (fake_t *fake, zframe_t **identity, const proto_msg_t *const *parts)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, identity);
    for (size_t i = 0; parts[i]; i++) {
        if (parts[i]->type == PROTO_NONE) {
            zmsg_addstr (msg, "garbage");
            continue;
        }
        zframe_t *frame = proto_encode (parts[i]);
        ck_assert_ptr_nonnull (frame);
        zmsg_append (msg, &frame);
    }
    ck_assert_int_eq (zmsg_send (&msg, fake->router), 0);
}

static void
s_wait (outcome_t *o)
{
    pthread_mutex_lock (&o->lock);
    int64_t deadline = zclock_mono () + 3000;
    while (!o->done && zclock_mono () < deadline) {
        pthread_mutex_unlock (&o->lock);
        zclock_sleep (5);
        pthread_mutex_lock (&o->lock);
    }
    ck_assert_msg (o->done, "no outcome within 3 s");
    pthread_mutex_unlock (&o->lock);
}

START_TEST (test_calls_get_multipart_answers_or_bad_message)
{
    fake_t fake;
    s_fake_start (&fake);
    outcome_t o;
    zframe_t *identity = NULL;
    proto_msg_t request, received;

    /* a page of two jobs */
    s_request (&request, PROTO_LIST, 5, 0);
    snprintf (request.filter, sizeof request.filter, "Running");
    s_call (&fake, &request, &o, &identity, &received);
    ck_assert_int_eq (received.type, PROTO_LIST);
    ck_assert_int_eq (received.limit, 5);
    ck_assert_str_eq (received.filter, "Running");
    proto_msg_t header, a, b;
    proto_msg_init (&header, PROTO_PAGE);
    snprintf (header.cid, sizeof header.cid, "%s", received.cid);
    header.count = 2;
    s_job (&a, JOB, JOB_RUNNING);
    s_job (&b, OTHER, JOB_RUNNING);
    const proto_msg_t *page[] = { &header, &a, &b, NULL };
    s_answer (&fake, &identity, page);
    s_wait (&o);
    ck_assert_int_eq (o.status, 0);
    ck_assert_int_eq (o.reply->msg.type, PROTO_PAGE);
    ck_assert_uint_eq (o.reply->count, 2);
    ck_assert_str_eq (o.reply->jobs[1].job, OTHER);
    bus_reply_destroy (&o.reply);

    /* a header announcing three jobs, followed by two: 502 material */
    s_call (&fake, &request, &o, &identity, &received);
    header.count = 3;
    s_answer (&fake, &identity, page);
    s_wait (&o);
    ck_assert_int_eq (o.status, -EBADMSG);
    ck_assert_ptr_null (o.reply);

    /* events for a replay, one of them garbage */
    s_request (&request, PROTO_REPLAY, 500, 2);
    s_call (&fake, &request, &o, &identity, &received);
    ck_assert_int_eq (received.type, PROTO_REPLAY);
    ck_assert_uint_eq (received.seq, 2);
    proto_msg_t events, e3, junk;
    proto_msg_init (&events, PROTO_EVENTS);
    snprintf (events.cid, sizeof events.cid, "%s", received.cid);
    snprintf (events.job, sizeof events.job, "%s", JOB);
    events.count = 2;
    s_event (&e3, JOB, 3);
    proto_msg_init (&junk, PROTO_NONE);
    const proto_msg_t *bad_events[] = { &events, &e3, &junk, NULL };
    s_answer (&fake, &identity, bad_events);
    s_wait (&o);
    ck_assert_int_eq (o.status, -EBADMSG);

    /* a plain answer with a frame too many */
    s_request (&request, PROTO_GET, 0, 0);
    s_call (&fake, &request, &o, &identity, &received);
    s_job (&a, JOB, JOB_RUNNING);
    snprintf (a.cid, sizeof a.cid, "%s", received.cid);
    const proto_msg_t *two[] = { &a, &a, NULL };
    s_answer (&fake, &identity, two);
    s_wait (&o);
    ck_assert_int_eq (o.status, -EBADMSG);

    /* an answer that does not decode matches nothing: the call times out */
    s_call (&fake, &request, &o, &identity, &received);
    const proto_msg_t *garbage[] = { &junk, NULL };
    s_answer (&fake, &identity, garbage);
    s_wait (&o);
    ck_assert_int_eq (o.status, -ETIMEDOUT);

    bus_stats_t stats;
    bus_stats (fake.bus, &stats);
    ck_assert_uint_eq (stats.answers_malformed, 3);
    ck_assert_uint_eq (stats.answers_dropped, 1);
    s_fake_stop (&fake);
}
END_TEST

static void
s_publish (fake_t *fake, uint64_t seq)
{
    proto_msg_t ev;
    s_event (&ev, JOB, seq);
    zframe_t *body = proto_encode (&ev);
    ck_assert_ptr_nonnull (body);
    zsock_send (fake->pub, "sf", "job." JOB, body);
    zframe_destroy (&body);
}

typedef struct {
    atomic_int wakes;
} waker_t;

static void
s_sleep (void *arg)
{
    (void) arg;
}

static void
s_wake (void *arg)
{
    atomic_fetch_add (&((waker_t *) arg)->wakes, 1);
}

/*  Waits until the stream has been woken more than `seen` times, as a
    suspended connection would (3 s at most). Returns the wake count. */
static int
s_wait_wake (waker_t *waker, int seen)
{
    int64_t deadline = zclock_mono () + 3000;
    while (atomic_load (&waker->wakes) <= seen && zclock_mono () < deadline)
        zclock_sleep (2);
    ck_assert_msg (atomic_load (&waker->wakes) > seen, "stream not woken in 3 s");
    return atomic_load (&waker->wakes);
}

/*  Reads the stream until text holds "id: <last>", never while it sleeps:
    after a read that put it to sleep, only once it has been woken. */
static void
s_read_until (hub_stream_t *stream, waker_t *waker, char *text, size_t size,
              uint64_t last)
{
    char want[32];
    snprintf (want, sizeof want, "id: %llu\n", (unsigned long long) last);
    size_t n = strlen (text);
    while (!strstr (text, want)) {
        int seen = atomic_load (&waker->wakes);
        ssize_t got = hub_stream_read (stream, text + n, size - n - 1, proto_now_us ());
        ck_assert_int_ge (got, 0);
        n += (size_t) got;
        text[n] = '\0';
        if (got == 0)
            s_wait_wake (waker, seen);
    }
}

START_TEST (test_lost_events_are_replayed_before_later_ones)
{
    fake_t fake;
    s_fake_start (&fake);
    /* the SUB connects in the background: repeat event 1 until it lands */
    int64_t deadline = zclock_mono () + 3000;
    while (hub_job_count (fake.hub) == 0 && zclock_mono () < deadline) {
        s_publish (&fake, 1);
        zclock_sleep (10);
    }
    ck_assert_uint_eq (hub_job_count (fake.hub), 1);
    waker_t waker;
    atomic_init (&waker.wakes, 0);
    hub_stream_t *stream = hub_stream_new ("c", NULL, s_sleep, s_wake, &waker, 0);
    ck_assert_int_eq (hub_stream_attach_after (fake.hub, stream, JOB, 0), 0);
    s_publish (&fake, 2);
    char text[8192] = "";
    s_read_until (stream, &waker, text, sizeof text, 2);

    /* 3 and 4 never arrive; 5 and 6 do: the bus asks for what follows 2 */
    s_publish (&fake, 5);
    s_publish (&fake, 6);
    zmsg_t *msg = zmsg_recv (fake.router);
    ck_assert_ptr_nonnull (msg);
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *body = zmsg_first (msg);
    proto_msg_t request;
    char err[160];
    ck_assert_int_eq (proto_decode (zframe_data (body), zframe_size (body), &request, err,
                                    sizeof err),
                      0);
    zmsg_destroy (&msg);
    ck_assert_int_eq (request.type, PROTO_REPLAY);
    ck_assert_str_eq (request.job, JOB);
    ck_assert_uint_eq (request.seq, 2);
    ck_assert_int_eq (request.limit, BUS_REPLAY_LIMIT);
    /* nothing after 2 has gone out meanwhile: the stream still sleeps */
    char held[64];
    int woken = atomic_load (&waker.wakes);

    proto_msg_t events, e3, e4;
    proto_msg_init (&events, PROTO_EVENTS);
    snprintf (events.cid, sizeof events.cid, "%s", request.cid);
    snprintf (events.job, sizeof events.job, "%s", JOB);
    events.count = 2;
    s_event (&e3, JOB, 3);
    s_event (&e4, JOB, 4);
    const proto_msg_t *answer[] = { &events, &e3, &e4, NULL };
    zclock_sleep (50);
    ck_assert_int_eq (atomic_load (&waker.wakes), woken);
    s_answer (&fake, &identity, answer);
    s_publish (&fake, 7);
    s_read_until (stream, &waker, text, sizeof text, 7);

    /* every id once, in order */
    const char *at = text;
    for (uint64_t seq = 1; seq <= 7; seq++) {
        char want[32];
        snprintf (want, sizeof want, "id: %llu\n", (unsigned long long) seq);
        const char *found = strstr (at, want);
        ck_assert_msg (found != NULL, "id %llu missing or out of order:\n%s",
                       (unsigned long long) seq, text);
        at = found + strlen (want);
    }
    ck_assert_ptr_null (strstr (at, "id: "));
    bus_stats_t stats;
    bus_stats (fake.bus, &stats);
    ck_assert_uint_eq (stats.gaps_found, 1);
    ck_assert_uint_eq (stats.gaps_filled, 1);
    ck_assert_uint_eq (stats.gaps_abandoned, 0);

    /* a gap the broker cannot fill (it errs): the held events go out and
       the stream, which would skip, is cut */
    woken = atomic_load (&waker.wakes);
    ck_assert_int_eq (hub_stream_read (stream, held, sizeof held, proto_now_us ()), 0);
    s_publish (&fake, 10);
    msg = zmsg_recv (fake.router);
    ck_assert_ptr_nonnull (msg);
    identity = zmsg_pop (msg);
    body = zmsg_first (msg);
    ck_assert_int_eq (proto_decode (zframe_data (body), zframe_size (body), &request, err,
                                    sizeof err),
                      0);
    zmsg_destroy (&msg);
    ck_assert_uint_eq (request.seq, 7);
    proto_msg_t error;
    proto_msg_init (&error, PROTO_ERROR);
    snprintf (error.cid, sizeof error.cid, "%s", request.cid);
    error.error_status = 404;
    snprintf (error.code, sizeof error.code, "NotFound");
    snprintf (error.message, sizeof error.message, "no such job");
    const proto_msg_t *refusal[] = { &error, NULL };
    s_answer (&fake, &identity, refusal);
    s_wait_wake (&waker, woken);
    ck_assert_int_eq (hub_stream_read (stream, held, sizeof held, proto_now_us ()),
                      -ECONNABORTED);
    bus_stats (fake.bus, &stats);
    ck_assert_uint_eq (stats.gaps_abandoned, 1);

    hub_stream_destroy (&stream);
    s_fake_stop (&fake);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("gateway_bus");
    TCase *parse = tcase_create ("multipart");
    tcase_add_test (parse, test_page_is_read_exactly);
    tcase_add_test (parse, test_events_are_read_and_rendered_like_live_ones);
    suite_add_tcase (s, parse);
    TCase *live = tcase_create ("fake_broker");
    tcase_set_timeout (live, 30);
    tcase_add_test (live, test_calls_get_multipart_answers_or_bad_message);
    tcase_add_test (live, test_lost_events_are_replayed_before_later_ones);
    suite_add_tcase (s, live);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
