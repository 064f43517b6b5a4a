/*  Unit tests of the broker's job store: queue order, re-queues, event
    numbering, monotonic progress, snapshots, attempt fencing, cancel,
    retry, leases, listings, idempotency keys and restoring from journal
    records. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "jobs.h"
#include "proto.h"

static const char s_spec[] = "{\"brief\":{\"topic\":\"photosynthesis\"}}";

/*  Makes the n-th test job id (ids sort by the time given). */
static void
s_id (char out[JOB_ID_SIZE], int n)
{
    ck_assert_int_eq (job_id_generate_at (out, 1700000000000ULL + (uint64_t) n),
                      0);
}

/*  Every message the store fills must be one the codec can send. */
static void
s_assert_encodes (const proto_msg_t *msg)
{
    zframe_t *frame = proto_encode (msg);
    ck_assert_ptr_nonnull (frame);
    zframe_destroy (&frame);
}

/*  Submits job n and checks its first event. */
static void
s_submit (jobs_t *jobs, int n, char id[JOB_ID_SIZE], int expected_position)
{
    proto_msg_t status;
    s_id (id, n);
    ck_assert_int_eq (jobs_submit (jobs, id, "c-test", s_spec,
                                   strlen (s_spec), "photosynthesis", NULL,
                                   1000 + n, &status),
                      0);
    ck_assert_int_eq (status.type, PROTO_EVENT);
    ck_assert_int_eq (status.kind, EVENT_JOB_STATUS);
    ck_assert_str_eq (status.job, id);
    ck_assert_int_eq (status.status, JOB_QUEUED);
    ck_assert_str_eq (status.phase, "plan");
    ck_assert_double_eq (status.percent, 0);
    ck_assert_int_eq (status.attempt, 1);
    ck_assert_uint_eq (status.seq, 1);
    ck_assert_int_eq (status.queue_position, expected_position);
    s_assert_encodes (&status);
    proto_msg_reset (&status);
}

/*  Takes the head of the queue and checks it is `id`. */
static void
s_dispatch_expect (jobs_t *jobs, const char *id, int32_t attempt)
{
    proto_msg_t dispatch;
    ck_assert_int_eq (jobs_dispatch_next (jobs, 5000, &dispatch), 0);
    ck_assert_str_eq (dispatch.job, id);
    ck_assert_int_eq (dispatch.attempt, attempt);
    ck_assert_str_eq (dispatch.cid, "c-test");
    ck_assert_uint_eq (dispatch.spec_len, strlen (s_spec));
    ck_assert_mem_eq (dispatch.spec, s_spec, strlen (s_spec));
    s_assert_encodes (&dispatch);
    proto_msg_reset (&dispatch);
}

static void
s_accept (jobs_t *jobs, const char *id, int32_t attempt)
{
    jobs_out_t out;
    ck_assert_int_eq (jobs_accept (jobs, id, attempt, "w1", 7000, &out), 0);
    ck_assert_uint_eq (out.count, 1);
    ck_assert_int_eq (out.msg[0].kind, EVENT_JOB_STATUS);
    ck_assert_int_eq (out.msg[0].status, JOB_RUNNING);
    ck_assert_int_eq (out.msg[0].attempt, attempt);
    s_assert_encodes (&out.msg[0]);
    jobs_out_reset (&out);
}

/*  A worker event of the given kind for the job's attempt. */
static void
s_event (proto_msg_t *event, const char *id, int32_t attempt,
         proto_event_kind_t kind, step_t step)
{
    proto_msg_init (event, PROTO_EVENT);
    event->kind = kind;
    event->ts_us = 9000;
    snprintf (event->job, sizeof event->job, "%s", id);
    snprintf (event->worker, sizeof event->worker, "w1");
    event->attempt = attempt;
    event->step = step;
}

/*  Applies an event; *status receives the job-status a terminal event
    produces (PROTO_NONE otherwise). */
static int
s_apply (jobs_t *jobs, proto_msg_t *event, int64_t now_us, proto_msg_t *status)
{
    jobs_out_t out;
    int rc = jobs_apply_event (jobs, event, now_us, &out);
    ck_assert_uint_le (out.count, 1);
    if (out.count == 1)
        *status = out.msg[0];  /* an event owns nothing: a plain copy */
    else
        proto_msg_init (status, PROTO_NONE);
    return rc;
}

/*  Applies a step-status event; returns the seq it got. */
static uint64_t
s_step_status (jobs_t *jobs, const char *id, int32_t attempt, step_t step,
               step_status_t step_status)
{
    proto_msg_t event, status;
    s_event (&event, id, attempt, EVENT_STEP_STATUS, step);
    event.step_status = step_status;
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status), 0);
    ck_assert_int_eq (status.type, PROTO_NONE);
    s_assert_encodes (&event);
    uint64_t seq = event.seq;
    proto_msg_reset (&event);
    return seq;
}

/*  Applies a step-progress event; returns the percent it was published
    with. */
static double
s_progress (jobs_t *jobs, const char *id, step_t step, double percent)
{
    proto_msg_t event, status;
    s_event (&event, id, 1, EVENT_STEP_PROGRESS, step);
    snprintf (event.phase, sizeof event.phase, "%s", step_name (step));
    snprintf (event.message, sizeof event.message, "working");
    event.percent = percent;
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status), 0);
    s_assert_encodes (&event);
    double published = event.percent;
    proto_msg_reset (&event);
    return published;
}

START_TEST (test_queue_is_fifo)
{
    jobs_t *jobs = jobs_new ();
    ck_assert_ptr_nonnull (jobs);
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE], c[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_submit (jobs, 2, b, 2);
    s_submit (jobs, 3, c, 3);
    ck_assert_uint_eq (jobs_size (jobs), 3);
    ck_assert_uint_eq (jobs_queued (jobs), 3);

    s_dispatch_expect (jobs, a, 1);
    ck_assert_uint_eq (jobs_queued (jobs), 2);
    ck_assert_uint_eq (jobs_in_flight (jobs), 1);
    s_dispatch_expect (jobs, b, 1);
    s_dispatch_expect (jobs, c, 1);
    ck_assert_uint_eq (jobs_in_flight (jobs), 3);

    proto_msg_t dispatch;
    ck_assert_int_eq (jobs_dispatch_next (jobs, 5000, &dispatch), -ENOENT);
    proto_msg_reset (&dispatch);
    jobs_destroy (&jobs);
    ck_assert_ptr_null (jobs);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_unsent_and_declined_go_back_to_the_head)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE], c[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_submit (jobs, 2, b, 2);
    s_submit (jobs, 3, c, 3);

    /* a send that would block: a keeps its place */
    s_dispatch_expect (jobs, a, 1);
    ck_assert_int_eq (jobs_dispatch_undo (jobs, a), 0);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    ck_assert_int_eq (jobs_dispatch_undo (jobs, a), -ENOENT);
    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.queue_position, 1);
    proto_msg_reset (&snap);

    /* a and b out; b declined as Full goes back ahead of c, same attempt */
    s_dispatch_expect (jobs, a, 1);
    s_dispatch_expect (jobs, b, 1);
    jobs_out_t out;
    ck_assert_int_eq (jobs_decline (jobs, b, 1, false, "w1", 8000, &out), 0);
    ck_assert_uint_eq (out.count, 0);
    ck_assert_uint_eq (jobs_in_flight (jobs), 1);
    ck_assert_int_eq (jobs_snapshot (jobs, b, &snap), 0);
    ck_assert_int_eq (snap.queue_position, 1);
    ck_assert_int_eq (snap.attempt, 1);
    ck_assert_uint_eq (snap.seq, 1);
    proto_msg_reset (&snap);
    ck_assert_int_eq (jobs_snapshot (jobs, c, &snap), 0);
    ck_assert_int_eq (snap.queue_position, 2);
    proto_msg_reset (&snap);
    /* the dispatched a is Queued but no longer waiting in the queue */
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_QUEUED);
    ck_assert_int_eq (snap.queue_position, -1);
    proto_msg_reset (&snap);

    s_dispatch_expect (jobs, b, 1);
    s_dispatch_expect (jobs, c, 1);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_accept_is_fenced)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], unknown[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_id (unknown, 99);
    jobs_out_t out;

    /* not dispatched yet */
    ck_assert_int_eq (jobs_accept (jobs, a, 1, "w1", 7000, &out), -EALREADY);
    ck_assert_uint_eq (out.count, 0);
    s_dispatch_expect (jobs, a, 1);
    ck_assert_int_eq (jobs_accept (jobs, unknown, 1, "w1", 7000, &out),
                      -ENOENT);
    ck_assert_int_eq (jobs_accept (jobs, a, 2, "w1", 7000, &out), -ESTALE);
    ck_assert_uint_eq (out.count, 0);
    s_accept (jobs, a, 1);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    ck_assert_uint_eq (jobs_running (jobs), 1);
    ck_assert_int_eq (jobs_accept (jobs, a, 1, "w2", 7000, &out), -EALREADY);
    ck_assert_uint_eq (out.count, 0);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_RUNNING);
    ck_assert_uint_eq (snap.seq, 2);
    ck_assert_int_eq (snap.started_us, 7000);
    ck_assert_int_eq (snap.queue_position, -1);
    ck_assert_str_eq (snap.worker, "w1");
    ck_assert_str_eq (snap.title, "photosynthesis");
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_seq_and_terminal_order)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);   /* seq 1: Queued */
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);      /* seq 2: Running */

    uint64_t expected = 3;
    for (int s = 0; s < STEP_COUNT; s++) {
        ck_assert_uint_eq (s_step_status (jobs, a, 1, (step_t) s, STEP_RUNNING),
                           expected++);
        ck_assert_uint_eq (s_step_status (jobs, a, 1, (step_t) s, STEP_DONE),
                           expected++);
    }

    proto_msg_t event, status;
    s_event (&event, a, 1, EVENT_JOB_COMPLETED, STEP_RENDER);
    ck_assert_int_eq (proto_msg_add_artifact (&event, "video.mp4", "video.mp4",
                                              "video/mp4", 123456),
                      0);
    snprintf (event.output_video, sizeof event.output_video, "video.mp4");
    snprintf (event.output_subtitle, sizeof event.output_subtitle, "video.srt");
    event.output_size_bytes = 123456;
    event.output_duration_s = 30.5;
    ck_assert_int_eq (s_apply (jobs, &event, 20000, &status), 0);
    /* the job-status comes first, the terminal event is the last seq */
    ck_assert_int_eq (status.kind, EVENT_JOB_STATUS);
    ck_assert_int_eq (status.status, JOB_DONE);
    ck_assert_double_eq (status.percent, 100);
    ck_assert_uint_eq (status.seq, expected);
    ck_assert_uint_eq (event.seq, expected + 1);
    s_assert_encodes (&status);
    s_assert_encodes (&event);
    proto_msg_reset (&status);
    proto_msg_reset (&event);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    snprintf (snap.cid, sizeof snap.cid, "c-test");
    s_assert_encodes (&snap);
    ck_assert_int_eq (snap.status, JOB_DONE);
    ck_assert_uint_eq (snap.seq, expected + 1);
    ck_assert_str_eq (snap.phase, "complete");
    ck_assert_double_eq (snap.percent, 100);
    ck_assert_int_eq (snap.created_us, 1001);
    ck_assert_int_eq (snap.started_us, 7000);
    ck_assert_int_eq (snap.finished_us, 20000);
    for (int s = 0; s < STEP_COUNT; s++)
        ck_assert_int_eq (snap.steps[s], STEP_DONE);
    ck_assert_uint_eq (snap.artifact_count, 1);
    ck_assert_str_eq (snap.artifacts[0].name, "video.mp4");
    ck_assert_int_eq (snap.artifacts[0].size_bytes, 123456);
    ck_assert_str_eq (snap.output_video, "video.mp4");
    ck_assert_str_eq (snap.output_subtitle, "video.srt");
    ck_assert_double_eq (snap.output_duration_s, 30.5);
    ck_assert_str_eq (snap.code, "");
    proto_msg_reset (&snap);

    /* nothing more once finished */
    s_event (&event, a, 1, EVENT_WARNING, STEP_RENDER);
    snprintf (event.code, sizeof event.code, "Late");
    snprintf (event.message, sizeof event.message, "late");
    ck_assert_int_eq (s_apply (jobs, &event, 21000, &status),
                      -EALREADY);
    ck_assert_uint_eq (event.seq, 0);
    proto_msg_reset (&event);
    jobs_destroy (&jobs);
}
END_TEST

/*  A step report lost on the way (a broker that died after reading it)
    does not leave a completed job with a step Running or Pending. */
START_TEST (test_completed_job_has_every_step_done)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_SKIPPED);
    s_step_status (jobs, a, 1, STEP_TTS, STEP_RUNNING);   /* its Done lost */
    s_step_status (jobs, a, 1, STEP_RENDER, STEP_RUNNING);
    s_step_status (jobs, a, 1, STEP_RENDER, STEP_DONE);   /* visuals, compose lost */

    proto_msg_t event, status;
    s_event (&event, a, 1, EVENT_JOB_COMPLETED, STEP_RENDER);
    ck_assert_int_eq (s_apply (jobs, &event, 20000, &status), 0);
    ck_assert_int_eq (status.status, JOB_DONE);
    proto_msg_reset (&event);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_SKIPPED);
    for (int s = STEP_TTS; s < STEP_COUNT; s++)
        ck_assert_int_eq (snap.steps[s], STEP_DONE);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_percent_never_decreases)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);

    ck_assert_double_eq (s_progress (jobs, a, STEP_PLAN, 10), 10);
    ck_assert_double_eq (s_progress (jobs, a, STEP_PLAN, 5), 10);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_DONE);
    ck_assert_double_eq (s_progress (jobs, a, STEP_TTS, 12), 15);
    ck_assert_double_eq (s_progress (jobs, a, STEP_TTS, 30), 30);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_double_eq (snap.percent, 30);
    ck_assert_int_eq (snap.step, STEP_TTS);
    ck_assert_str_eq (snap.phase, "tts");
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (snap.steps[STEP_TTS], STEP_RUNNING);
    ck_assert_int_eq (snap.steps[STEP_VISUALS], STEP_PENDING);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_events_are_fenced)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_submit (jobs, 2, b, 2);
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);

    proto_msg_t event, status, snap;
    /* another attempt */
    s_event (&event, a, 2, EVENT_STEP_STATUS, STEP_PLAN);
    event.step_status = STEP_RUNNING;
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status), -ESTALE);
    ck_assert_uint_eq (event.seq, 0);
    /* a job that is not running */
    snprintf (event.job, sizeof event.job, "%s", b);
    event.attempt = 1;
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status),
                      -EALREADY);
    /* an unknown job */
    s_id (event.job, 99);
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status), -ENOENT);
    /* job-status is the broker's to say */
    s_event (&event, a, 1, EVENT_JOB_STATUS, STEP_PLAN);
    event.status = JOB_DONE;
    snprintf (event.phase, sizeof event.phase, "complete");
    ck_assert_int_eq (s_apply (jobs, &event, 9500, &status), -EINVAL);
    proto_msg_reset (&event);

    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_RUNNING);
    ck_assert_uint_eq (snap.seq, 2);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_PENDING);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_failure_is_recorded)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_RUNNING);

    proto_msg_t event, status, snap;
    s_event (&event, a, 1, EVENT_JOB_FAILED, STEP_PLAN);
    snprintf (event.code, sizeof event.code, "PlanFailed");
    snprintf (event.message, sizeof event.message, "no scenes");
    ck_assert_int_eq (s_apply (jobs, &event, 9900, &status), 0);
    ck_assert_int_eq (status.status, JOB_FAILED);
    ck_assert_uint_eq (status.seq + 1, event.seq);
    proto_msg_reset (&status);
    proto_msg_reset (&event);

    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_FAILED);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_FAILED);
    ck_assert_str_eq (snap.code, "PlanFailed");
    ck_assert_str_eq (snap.message, "no scenes");
    ck_assert_int_eq (snap.finished_us, 9900);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_shutdown_hands_back_a_new_attempt)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_submit (jobs, 2, b, 2);
    s_dispatch_expect (jobs, a, 1);
    s_accept (jobs, a, 1);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_RUNNING);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_DONE);
    s_step_status (jobs, a, 1, STEP_TTS, STEP_RUNNING);
    s_progress (jobs, a, STEP_TTS, 25);  /* seq 6 */

    proto_msg_t status, snap, event;
    jobs_out_t out;
    /* a Running job declined as Full is not the worker's to give back */
    ck_assert_int_eq (jobs_decline (jobs, a, 1, false, "w1", 9600, &out),
                      -EALREADY);
    ck_assert_int_eq (jobs_decline (jobs, a, 1, true, "w1", 9600, &out), 0);
    ck_assert_uint_eq (out.count, 2);
    proto_msg_t *warning = &out.msg[0];
    ck_assert_int_eq (warning->kind, EVENT_WARNING);
    ck_assert_str_eq (warning->code, JOBS_CODE_WORKER_SHUTDOWN);
    ck_assert_uint_eq (warning->seq, 7);
    proto_msg_t *requeued = &out.msg[1];
    ck_assert_int_eq (requeued->status, JOB_QUEUED);
    ck_assert_uint_eq (requeued->seq, 8);
    ck_assert_int_eq (requeued->attempt, 2);
    ck_assert_int_eq (requeued->queue_position, 1);
    ck_assert_double_eq (requeued->percent, 15);
    ck_assert_str_eq (requeued->phase, "tts");
    s_assert_encodes (warning);
    s_assert_encodes (requeued);
    jobs_out_reset (&out);

    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (snap.steps[STEP_TTS], STEP_PENDING);
    ck_assert_int_eq (snap.attempt, 2);
    proto_msg_reset (&snap);

    /* the old attempt can no longer write */
    s_event (&event, a, 1, EVENT_STEP_STATUS, STEP_TTS);
    event.step_status = STEP_DONE;
    ck_assert_int_eq (s_apply (jobs, &event, 9700, &status), -ESTALE);
    proto_msg_reset (&event);

    /* a goes out again before b, with its finished step */
    proto_msg_t dispatch;
    ck_assert_int_eq (jobs_dispatch_next (jobs, 10000, &dispatch), 0);
    ck_assert_str_eq (dispatch.job, a);
    ck_assert_int_eq (dispatch.attempt, 2);
    ck_assert_int_eq (dispatch.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (dispatch.steps[STEP_TTS], STEP_PENDING);
    proto_msg_reset (&dispatch);
    s_dispatch_expect (jobs, b, 1);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_unanswered_dispatch_expires)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, 1, a, 1);
    s_dispatch_expect (jobs, a, 1);  /* at mono 5000 */

    jobs_out_t out;
    ck_assert_int_eq (jobs_expire_dispatch (jobs, 5000, 3, 6000, &out),
                      -ENOENT);
    ck_assert_uint_eq (out.count, 0);
    ck_assert_int_eq (jobs_expire_dispatch (jobs, 5001, 3, 6000, &out), 0);
    ck_assert_uint_eq (out.count, 3);
    ck_assert_int_eq (out.msg[0].type, PROTO_CANCEL);
    ck_assert_int_eq (out.msg[0].attempt, 1);
    ck_assert_int_eq (out.msg[1].kind, EVENT_WARNING);
    ck_assert_str_eq (out.msg[1].code, JOBS_CODE_WORKER_LOST);
    ck_assert_int_eq (out.msg[2].kind, EVENT_JOB_STATUS);
    ck_assert_int_eq (out.msg[2].attempt, 2);
    ck_assert_int_eq (out.msg[2].queue_position, 1);
    for (size_t i = 0; i < out.count; i++)
        s_assert_encodes (&out.msg[i]);
    jobs_out_reset (&out);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    ck_assert_uint_eq (jobs_queued (jobs), 1);

    /* the first worker answers late: fenced off, and told to stop */
    ck_assert_int_eq (jobs_accept (jobs, a, 1, "w1", 7000, &out), -ESTALE);
    ck_assert_uint_eq (out.count, 1);
    ck_assert_int_eq (out.msg[0].type, PROTO_CANCEL);
    ck_assert_int_eq (out.msg[0].attempt, 1);
    jobs_out_reset (&out);
    s_dispatch_expect (jobs, a, 2);
    s_accept (jobs, a, 2);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_submit_rejects_bad_input)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    proto_msg_t status;
    s_submit (jobs, 1, a, 1);
    ck_assert_int_eq (jobs_submit (jobs, a, "c", s_spec, strlen (s_spec), "",
                                   NULL, 1, &status),
                      -EEXIST);
    ck_assert_int_eq (status.type, PROTO_NONE);
    char b[JOB_ID_SIZE];
    s_id (b, 2);
    ck_assert_int_eq (jobs_submit (jobs, b, "c", s_spec, 0, "", NULL, 1,
                                   &status),
                      -EINVAL);
    ck_assert_int_eq (jobs_submit (jobs, "not-an-id", "c", s_spec,
                                   strlen (s_spec), "", NULL, 1, &status),
                      -EINVAL);
    ck_assert_int_eq (jobs_submit (jobs, b, "c", s_spec,
                                   PROTO_MAX_SPEC_BYTES + 1, "", NULL, 1,
                                   &status),
                      -EMSGSIZE);
    ck_assert_uint_eq (jobs_size (jobs), 1);
    ck_assert_uint_eq (jobs_queued (jobs), 1);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, b, &snap), -ENOENT);
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_QUEUED);
    ck_assert_int_eq (snap.queue_position, 1);
    ck_assert_int_eq (snap.attempt, 1);
    ck_assert_uint_eq (snap.seq, 1);
    ck_assert_int_eq (snap.started_us, 0);
    ck_assert_int_eq (snap.finished_us, 0);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

/*  Submits, dispatches and accepts job n on worker w1. */
static void
s_running (jobs_t *jobs, int n, char id[JOB_ID_SIZE])
{
    s_submit (jobs, n, id, (int) jobs_queued (jobs) + 1);
    s_dispatch_expect (jobs, id, 1);
    s_accept (jobs, id, 1);
}

/*  The kinds (or PROTO_CANCEL as -1) of what a change produced. */
static void
s_expect_out (const jobs_out_t *out, const int *kinds, size_t count)
{
    ck_assert_uint_eq (out->count, count);
    for (size_t i = 0; i < count; i++) {
        if (kinds[i] < 0)
            ck_assert_int_eq (out->msg[i].type, PROTO_CANCEL);
        else {
            ck_assert_int_eq (out->msg[i].type, PROTO_EVENT);
            ck_assert_int_eq (out->msg[i].kind, kinds[i]);
        }
        s_assert_encodes (&out->msg[i]);
    }
}

START_TEST (test_cancel_queued_running_and_finished)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE], c[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_submit (jobs, 2, b, 1);
    s_submit (jobs, 3, c, 2);
    s_dispatch_expect (jobs, b, 1);  /* b is dispatched, c waits */
    jobs_out_t out;

    /* a waiting job ends at once */
    ck_assert_int_eq (jobs_cancel (jobs, c, 100, &out), 0);
    s_expect_out (&out, (int[]) { EVENT_JOB_STATUS, EVENT_JOB_CANCELLED }, 2);
    ck_assert_int_eq (out.msg[0].status, JOB_CANCELED);
    ck_assert_uint_eq (out.msg[0].seq, 2);
    ck_assert_uint_eq (out.msg[1].seq, 3);
    ck_assert_int_eq (out.msg[1].step, STEP_PLAN);
    jobs_out_reset (&out);
    ck_assert_uint_eq (jobs_queued (jobs), 0);

    /* a dispatched one too, and its worker is told */
    ck_assert_int_eq (jobs_cancel (jobs, b, 100, &out), 0);
    s_expect_out (&out, (int[]) { -1, EVENT_JOB_STATUS, EVENT_JOB_CANCELLED },
                  3);
    jobs_out_reset (&out);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    /* its late accept is refused, and cancelled again */
    ck_assert_int_eq (jobs_accept (jobs, b, 1, "w2", 110, &out), -ESTALE);
    s_expect_out (&out, (int[]) { -1 }, 1);
    jobs_out_reset (&out);

    /* a running job gets a cancel and stays Running until its worker ends */
    ck_assert_int_eq (jobs_cancel (jobs, a, 120, &out), 0);
    s_expect_out (&out, (int[]) { -1 }, 1);
    ck_assert_int_eq (out.msg[0].attempt, 1);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_cancel (jobs, a, 121, &out), 0);  /* again */
    s_expect_out (&out, (int[]) { -1 }, 1);
    jobs_out_reset (&out);
    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_RUNNING);
    proto_msg_reset (&snap);

    /* Canceled: harmless; Done: conflict; unknown: not found */
    ck_assert_int_eq (jobs_cancel (jobs, c, 130, &out), 0);
    ck_assert_uint_eq (out.count, 0);
    proto_msg_t event, status;
    s_event (&event, a, 1, EVENT_JOB_COMPLETED, STEP_RENDER);
    ck_assert_int_eq (s_apply (jobs, &event, 140, &status), 0);
    proto_msg_reset (&event);
    ck_assert_int_eq (jobs_cancel (jobs, a, 150, &out), -EALREADY);
    char unknown[JOB_ID_SIZE];
    s_id (unknown, 99);
    ck_assert_int_eq (jobs_cancel (jobs, unknown, 150, &out), -ENOENT);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_retry_resumes_after_finished_steps)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_RUNNING);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_DONE);
    s_step_status (jobs, a, 1, STEP_TTS, STEP_RUNNING);
    jobs_out_t out;
    /* only a Failed or Canceled job can be retried */
    ck_assert_int_eq (jobs_retry (jobs, a, 200, &out), -EALREADY);
    ck_assert_uint_eq (out.count, 0);

    proto_msg_t event, status, snap;
    s_event (&event, a, 1, EVENT_JOB_FAILED, STEP_TTS);
    snprintf (event.code, sizeof event.code, "TtsFailed");
    snprintf (event.message, sizeof event.message, "no voice");
    ck_assert_int_eq (s_apply (jobs, &event, 300, &status), 0);
    proto_msg_reset (&event);
    s_submit (jobs, 2, b, 1);  /* waiting when the retry comes */

    ck_assert_int_eq (jobs_retry (jobs, a, 400, &out), 0);
    s_expect_out (&out, (int[]) { EVENT_JOB_STATUS }, 1);
    ck_assert_int_eq (out.msg[0].status, JOB_QUEUED);
    ck_assert_int_eq (out.msg[0].attempt, 2);
    ck_assert_int_eq (out.msg[0].queue_position, 2);  /* behind b */
    jobs_out_reset (&out);

    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_QUEUED);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (snap.steps[STEP_TTS], STEP_PENDING);
    ck_assert_int_eq (snap.finished_us, 0);
    ck_assert_str_eq (snap.code, "");
    ck_assert_double_eq (snap.percent, 15);
    ck_assert_str_eq (snap.worker, "");
    proto_msg_reset (&snap);

    s_dispatch_expect (jobs, b, 1);
    proto_msg_t dispatch;
    ck_assert_int_eq (jobs_dispatch_next (jobs, 500, &dispatch), 0);
    ck_assert_str_eq (dispatch.job, a);
    ck_assert_int_eq (dispatch.attempt, 2);
    ck_assert_int_eq (dispatch.steps[STEP_PLAN], STEP_DONE);
    proto_msg_reset (&dispatch);
    /* a Queued (dispatched) job cannot be retried */
    ck_assert_int_eq (jobs_retry (jobs, a, 600, &out), -EALREADY);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_lost_worker_requeues_then_fails)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_RUNNING);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_DONE);
    s_step_status (jobs, a, 1, STEP_TTS, STEP_RUNNING);
    jobs_out_t out;

    /* another worker's loss does not touch it */
    ck_assert_int_eq (jobs_lose_worker (jobs, "w2", NULL, 0, "gone", 2, 100,
                                        &out),
                      -ENOENT);
    /* a heartbeat that names it keeps it */
    proto_running_t keep = { .attempt = 1 };
    memcpy (keep.job, a, JOB_ID_SIZE);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w1", &keep, 1, "gone", 2, 100,
                                        &out),
                      -ENOENT);

    /* attempt 1 of 2: queued again at the head */
    s_submit (jobs, 2, b, 1);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w1", NULL, 0,
                                        "its lease expired", 2, 100, &out),
                      0);
    s_expect_out (&out, (int[]) { -1, EVENT_WARNING, EVENT_JOB_STATUS }, 3);
    ck_assert_int_eq (out.msg[0].attempt, 1);
    ck_assert_str_eq (out.msg[1].code, JOBS_CODE_WORKER_LOST);
    ck_assert_ptr_nonnull (strstr (out.msg[1].message, "its lease expired"));
    ck_assert_int_eq (out.msg[2].status, JOB_QUEUED);
    ck_assert_int_eq (out.msg[2].attempt, 2);
    ck_assert_int_eq (out.msg[2].queue_position, 1);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w1", NULL, 0, "gone", 2, 100,
                                        &out),
                      -ENOENT);
    ck_assert_uint_eq (jobs_running (jobs), 0);

    /* attempt 2 of 2 lost as well: it fails */
    s_dispatch_expect (jobs, a, 2);
    jobs_out_t accepted;
    ck_assert_int_eq (jobs_accept (jobs, a, 2, "w3", 200, &accepted), 0);
    jobs_out_reset (&accepted);
    s_step_status (jobs, a, 2, STEP_TTS, STEP_RUNNING);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w3", NULL, 0, "gone", 2, 300,
                                        &out),
                      0);
    s_expect_out (&out, (int[]) { -1, EVENT_ERROR, EVENT_JOB_STATUS,
                                  EVENT_JOB_FAILED },
                  4);
    ck_assert_str_eq (out.msg[1].code, JOBS_CODE_WORKER_LOST);
    ck_assert (out.msg[1].retryable);
    ck_assert_int_eq (out.msg[2].status, JOB_FAILED);
    ck_assert_str_eq (out.msg[3].code, JOBS_CODE_WORKER_LOST);
    ck_assert_int_eq (out.msg[3].step, STEP_TTS);
    ck_assert_uint_eq (out.msg[3].seq, out.msg[2].seq + 1);
    jobs_out_reset (&out);
    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_FAILED);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (snap.steps[STEP_TTS], STEP_FAILED);
    ck_assert_str_eq (snap.code, JOBS_CODE_WORKER_LOST);
    ck_assert_int_eq (snap.finished_us, 300);
    proto_msg_reset (&snap);

    /* the lost worker comes back: its heartbeat gets its attempt cancelled */
    ck_assert_int_eq (jobs_claim (jobs, a, 1, "w1", 400, &out), -ESTALE);
    s_expect_out (&out, (int[]) { -1 }, 1);
    ck_assert_int_eq (out.msg[0].attempt, 1);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_claim (jobs, a, 2, "w3", 400, &out), -ESTALE);
    jobs_out_reset (&out);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_lost_worker_with_a_cancel_pending_cancels)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_running (jobs, 2, b);
    jobs_out_t out;
    ck_assert_int_eq (jobs_cancel (jobs, a, 100, &out), 0);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w1", NULL, 0, "gone", 3, 200,
                                        &out),
                      0);
    s_expect_out (&out, (int[]) { -1, EVENT_JOB_STATUS, EVENT_JOB_CANCELLED },
                  3);
    ck_assert_int_eq (out.msg[1].status, JOB_CANCELED);
    jobs_out_reset (&out);

    /* a worker shutting down with a cancel pending ends it Canceled too */
    ck_assert_int_eq (jobs_cancel (jobs, b, 300, &out), 0);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_decline (jobs, b, 1, true, "w1", 310, &out), 0);
    s_expect_out (&out, (int[]) { EVENT_JOB_STATUS, EVENT_JOB_CANCELLED }, 2);
    jobs_out_reset (&out);
    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, b, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_CANCELED);
    ck_assert_int_eq (snap.attempt, 1);
    proto_msg_reset (&snap);
    jobs_destroy (&jobs);
}
END_TEST

/*  Takes every changed job's record into a fresh store, as a restart
    would: queued and running jobs come back, running ones unclaimed. */
static jobs_t *
s_restart (jobs_t *jobs, int64_t claim_deadline)
{
    jobs_t *fresh = jobs_new ();
    /* records come out in change order; a journal loads them by id */
    job_record_t records[16];
    size_t count = 0;
    while (count < 16 && jobs_pop_changed (jobs, &records[count]) == 0)
        count++;
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (strcmp (records[j].snapshot.job, records[i].snapshot.job) < 0) {
                job_record_t swap = records[i];
                records[i] = records[j];
                records[j] = swap;
            }
    for (size_t i = 0; i < count; i++) {
        ck_assert_int_eq (jobs_restore (fresh, &records[i], claim_deadline), 0);
        ck_assert_int_eq (jobs_restore (fresh, &records[i], claim_deadline),
                          -EEXIST);
        proto_msg_reset (&records[i].snapshot);
    }
    jobs_destroy (&jobs);
    /* nothing restored needs writing back */
    job_record_t none;
    ck_assert_int_eq (jobs_pop_changed (fresh, &none), -ENOENT);
    return fresh;
}

START_TEST (test_restart_restores_queue_and_waits_for_claims)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE], c[JOB_ID_SIZE], d[JOB_ID_SIZE],
        e[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_running (jobs, 2, b);
    s_submit (jobs, 3, c, 1);
    s_submit (jobs, 4, d, 2);
    s_submit (jobs, 5, e, 3);
    s_step_status (jobs, a, 1, STEP_PLAN, STEP_RUNNING);  /* a: seq 3 */
    proto_msg_t event, status;
    s_event (&event, e, 1, EVENT_WARNING, STEP_PLAN);  /* e is not running */
    ck_assert_int_eq (s_apply (jobs, &event, 1, &status), -EALREADY);
    proto_msg_reset (&event);
    jobs_out_t out;
    ck_assert_int_eq (jobs_cancel (jobs, e, 50, &out), 0);
    jobs_out_reset (&out);

    jobs = s_restart (jobs, 1000);
    ck_assert_uint_eq (jobs_size (jobs), 5);
    ck_assert_uint_eq (jobs_queued (jobs), 2);
    ck_assert_uint_eq (jobs_running (jobs), 2);
    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_uint_eq (snap.seq, 3);
    ck_assert_str_eq (snap.title, "photosynthesis");
    proto_msg_reset (&snap);

    /* a is claimed by an event of its attempt, b by a heartbeat */
    ck_assert_uint_eq (s_step_status (jobs, a, 1, STEP_PLAN, STEP_DONE), 4);
    ck_assert_int_eq (jobs_claim (jobs, b, 1, "w9", 100, &out), 0);
    ck_assert_uint_eq (out.count, 0);
    ck_assert_int_eq (jobs_claim (jobs, b, 1, "w9", 100, &out), 0);
    ck_assert_int_eq (jobs_claim (jobs, b, 1, "w8", 100, &out), -EALREADY);
    ck_assert_int_eq (jobs_snapshot (jobs, b, &snap), 0);
    ck_assert_str_eq (snap.worker, "w9");
    proto_msg_reset (&snap);
    /* claimed jobs now follow their worker's lease */
    ck_assert_int_eq (jobs_expire_claims (jobs, 5000, 3, 200, &out), -ENOENT);
    ck_assert_int_eq (jobs_lose_worker (jobs, "w9", NULL, 0, "gone", 3, 300,
                                        &out),
                      0);
    ck_assert_int_eq (out.msg[2].attempt, 2);
    jobs_out_reset (&out);

    /* the queue keeps creation order, lost b first; d is claimed by the
       worker that accepted it before the restart */
    jobs_out_t accepted;
    ck_assert_int_eq (jobs_claim (jobs, d, 1, "w4", 400, &accepted), 0);
    s_expect_out (&accepted, (int[]) { EVENT_JOB_STATUS }, 1);
    ck_assert_int_eq (accepted.msg[0].status, JOB_RUNNING);
    jobs_out_reset (&accepted);
    s_dispatch_expect (jobs, b, 2);
    s_dispatch_expect (jobs, c, 1);
    ck_assert_uint_eq (jobs_queued (jobs), 0);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_unclaimed_running_job_is_requeued_after_the_deadline)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_running (jobs, 1, a);
    s_submit (jobs, 2, b, 1);
    jobs = s_restart (jobs, 1000);

    /* a queued job restored from the journal may be accepted straight */
    jobs_out_t out;
    ck_assert_int_eq (jobs_accept (jobs, b, 1, "w2", 10, &out), 0);
    jobs_out_reset (&out);

    ck_assert_int_eq (jobs_expire_claims (jobs, 1000, 1, 20, &out), -ENOENT);
    ck_assert_int_eq (jobs_expire_claims (jobs, 1001, 1, 20, &out), 0);
    /* max_attempts 1: no attempt left */
    s_expect_out (&out, (int[]) { -1, EVENT_ERROR, EVENT_JOB_STATUS,
                                  EVENT_JOB_FAILED },
                  4);
    ck_assert_ptr_nonnull (strstr (out.msg[1].message, "restart"));
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_expire_claims (jobs, 1001, 1, 20, &out), -ENOENT);
    ck_assert_uint_eq (jobs_running (jobs), 1);  /* b */
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_list_newest_first_with_filter_and_cursor)
{
    jobs_t *jobs = jobs_new ();
    char ids[7][JOB_ID_SIZE];
    for (int i = 0; i < 7; i++)
        s_submit (jobs, i + 1, ids[i], i + 1);
    s_dispatch_expect (jobs, ids[0], 1);
    s_accept (jobs, ids[0], 1);
    jobs_out_t out;
    ck_assert_int_eq (jobs_cancel (jobs, ids[3], 5, &out), 0);
    jobs_out_reset (&out);

    char page[3][JOB_ID_SIZE];
    size_t count;
    bool more;
    ck_assert_int_eq (jobs_list (jobs, -1, NULL, 3, page, &count, &more), 0);
    ck_assert_uint_eq (count, 3);
    ck_assert (more);
    ck_assert_str_eq (page[0], ids[6]);
    ck_assert_str_eq (page[2], ids[4]);
    ck_assert_int_eq (jobs_list (jobs, -1, page[2], 3, page, &count, &more), 0);
    ck_assert_uint_eq (count, 3);
    ck_assert_str_eq (page[0], ids[3]);
    ck_assert (more);
    ck_assert_int_eq (jobs_list (jobs, -1, page[2], 3, page, &count, &more), 0);
    ck_assert_uint_eq (count, 1);
    ck_assert_str_eq (page[0], ids[0]);
    ck_assert (!more);

    /* exactly a full last page: no more */
    ck_assert_int_eq (jobs_list (jobs, -1, ids[3], 3, page, &count, &more), 0);
    ck_assert_uint_eq (count, 3);
    ck_assert (!more);

    ck_assert_int_eq (jobs_list (jobs, JOB_QUEUED, "", 3, page, &count, &more),
                      0);
    ck_assert_uint_eq (count, 3);
    ck_assert_str_eq (page[0], ids[6]);
    ck_assert_str_eq (page[2], ids[4]);
    ck_assert (more);  /* ids[2], ids[1] */
    ck_assert_int_eq (jobs_list (jobs, JOB_CANCELED, NULL, 3, page, &count,
                                 &more),
                      0);
    ck_assert_uint_eq (count, 1);
    ck_assert_str_eq (page[0], ids[3]);
    ck_assert_int_eq (jobs_list (jobs, JOB_RUNNING, NULL, 3, page, &count,
                                 &more),
                      0);
    ck_assert_uint_eq (count, 1);
    ck_assert_str_eq (page[0], ids[0]);
    ck_assert_int_eq (jobs_list (jobs, JOB_DONE, NULL, 3, page, &count, &more),
                      0);
    ck_assert_uint_eq (count, 0);
    ck_assert (!more);
    /* a cursor older than every job */
    /* (ids made by one process only grow: write the oldest one out) */
    const char *oldest = "00000000000000000000000000";
    ck_assert_int_eq (jobs_list (jobs, -1, oldest, 3, page, &count, &more), 0);
    ck_assert_uint_eq (count, 0);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_changes_and_forgetting)
{
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    proto_msg_t status;
    s_id (a, 1);
    ck_assert_int_eq (jobs_submit (jobs, a, "c-test", s_spec,
                                   strlen (s_spec), "Tides", "key-a", 1000,
                                   &status),
                      0);
    proto_msg_reset (&status);
    s_submit (jobs, 2, b, 2);

    job_record_t record;
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), 0);
    ck_assert_str_eq (record.snapshot.job, a);
    ck_assert_str_eq (record.snapshot.cid, "c-test");
    ck_assert_str_eq (record.snapshot.title, "Tides");
    ck_assert_str_eq (record.idem_key, "key-a");
    ck_assert_uint_eq (record.spec_len, strlen (s_spec));
    s_assert_encodes (&record.snapshot);
    proto_msg_reset (&record.snapshot);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), 0);
    ck_assert_str_eq (record.snapshot.job, b);
    proto_msg_reset (&record.snapshot);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), -ENOENT);

    /* a dispatch changes nothing the journal keeps; an accept does */
    s_dispatch_expect (jobs, a, 1);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), -ENOENT);
    s_accept (jobs, a, 1);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), 0);
    proto_msg_reset (&record.snapshot);

    char found[JOB_ID_SIZE];
    ck_assert_int_eq (jobs_find_idem (jobs, "key-a", 2000, found), 0);
    ck_assert_str_eq (found, a);
    ck_assert_int_eq (jobs_forget (jobs, a), -EBUSY);
    jobs_out_t out;
    ck_assert_int_eq (jobs_cancel (jobs, b, 3000, &out), 0);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_forget (jobs, b), 0);
    ck_assert_int_eq (jobs_forget (jobs, b), -ENOENT);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), -ENOENT);
    proto_msg_t event;
    s_event (&event, a, 1, EVENT_JOB_CANCELLED, STEP_PLAN);
    ck_assert_int_eq (s_apply (jobs, &event, 4000, &status), 0);
    proto_msg_reset (&event);
    ck_assert_int_eq (jobs_forget (jobs, a), 0);
    ck_assert_int_eq (jobs_find_idem (jobs, "key-a", 5000, found), -ENOENT);
    ck_assert_uint_eq (jobs_size (jobs), 0);
    size_t count;
    bool more;
    ck_assert_int_eq (jobs_list (jobs, -1, NULL, 1, &found, &count, &more), 0);
    ck_assert_uint_eq (count, 0);
    jobs_destroy (&jobs);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("broker_jobs");
    TCase *tc = tcase_create ("jobs");
    tcase_add_test (tc, test_queue_is_fifo);
    tcase_add_test (tc, test_unsent_and_declined_go_back_to_the_head);
    tcase_add_test (tc, test_accept_is_fenced);
    tcase_add_test (tc, test_seq_and_terminal_order);
    tcase_add_test (tc, test_completed_job_has_every_step_done);
    tcase_add_test (tc, test_percent_never_decreases);
    tcase_add_test (tc, test_events_are_fenced);
    tcase_add_test (tc, test_failure_is_recorded);
    tcase_add_test (tc, test_shutdown_hands_back_a_new_attempt);
    tcase_add_test (tc, test_unanswered_dispatch_expires);
    tcase_add_test (tc, test_submit_rejects_bad_input);
    tcase_add_test (tc, test_cancel_queued_running_and_finished);
    tcase_add_test (tc, test_retry_resumes_after_finished_steps);
    tcase_add_test (tc, test_lost_worker_requeues_then_fails);
    tcase_add_test (tc, test_lost_worker_with_a_cancel_pending_cancels);
    tcase_add_test (tc, test_restart_restores_queue_and_waits_for_claims);
    tcase_add_test (tc,
                    test_unclaimed_running_job_is_requeued_after_the_deadline);
    tcase_add_test (tc, test_list_newest_first_with_filter_and_cursor);
    tcase_add_test (tc, test_changes_and_forgetting);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
