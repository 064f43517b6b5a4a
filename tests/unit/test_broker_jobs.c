/*  Unit tests of the broker's job store: queue order, re-queues, event
    numbering, monotonic progress, snapshots and attempt fencing. */
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
                                   strlen (s_spec), 1000 + n, &status),
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
    proto_msg_t status;
    ck_assert_int_eq (jobs_accept (jobs, id, attempt, 7000, &status), 0);
    ck_assert_int_eq (status.kind, EVENT_JOB_STATUS);
    ck_assert_int_eq (status.status, JOB_RUNNING);
    ck_assert_int_eq (status.attempt, attempt);
    s_assert_encodes (&status);
    proto_msg_reset (&status);
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

/*  Applies a step-status event; returns the seq it got. */
static uint64_t
s_step_status (jobs_t *jobs, const char *id, int32_t attempt, step_t step,
               step_status_t step_status)
{
    proto_msg_t event, status;
    s_event (&event, id, attempt, EVENT_STEP_STATUS, step);
    event.step_status = step_status;
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status), 0);
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
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status), 0);
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
    proto_msg_t warning, status;
    ck_assert_int_eq (jobs_decline (jobs, b, 1, false, "w1", 8000, &warning,
                                    &status),
                      0);
    ck_assert_int_eq (warning.type, PROTO_NONE);
    ck_assert_int_eq (status.type, PROTO_NONE);
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
    proto_msg_t status;

    /* not dispatched yet */
    ck_assert_int_eq (jobs_accept (jobs, a, 1, 7000, &status), -EALREADY);
    ck_assert_int_eq (status.type, PROTO_NONE);
    s_dispatch_expect (jobs, a, 1);
    ck_assert_int_eq (jobs_accept (jobs, unknown, 1, 7000, &status), -ENOENT);
    ck_assert_int_eq (jobs_accept (jobs, a, 2, 7000, &status), -ESTALE);
    s_accept (jobs, a, 1);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    ck_assert_int_eq (jobs_accept (jobs, a, 1, 7000, &status), -EALREADY);

    proto_msg_t snap;
    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.status, JOB_RUNNING);
    ck_assert_uint_eq (snap.seq, 2);
    ck_assert_int_eq (snap.started_us, 7000);
    ck_assert_int_eq (snap.queue_position, -1);
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
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 20000, &status), 0);
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
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 21000, &status),
                      -EALREADY);
    ck_assert_uint_eq (event.seq, 0);
    proto_msg_reset (&event);
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
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status), -ESTALE);
    ck_assert_uint_eq (event.seq, 0);
    /* a job that is not running */
    snprintf (event.job, sizeof event.job, "%s", b);
    event.attempt = 1;
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status),
                      -EALREADY);
    /* an unknown job */
    s_id (event.job, 99);
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status), -ENOENT);
    /* job-status is the broker's to say */
    s_event (&event, a, 1, EVENT_JOB_STATUS, STEP_PLAN);
    event.status = JOB_DONE;
    snprintf (event.phase, sizeof event.phase, "complete");
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9500, &status), -EINVAL);
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
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9900, &status), 0);
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

    proto_msg_t warning, status, snap, event;
    /* a Running job declined as Full is not the worker's to give back */
    ck_assert_int_eq (jobs_decline (jobs, a, 1, false, "w1", 9600, &warning,
                                    &status),
                      -EALREADY);
    ck_assert_int_eq (jobs_decline (jobs, a, 1, true, "w1", 9600, &warning,
                                    &status),
                      0);
    ck_assert_int_eq (warning.kind, EVENT_WARNING);
    ck_assert_str_eq (warning.code, JOBS_WARNING_WORKER_SHUTDOWN);
    ck_assert_uint_eq (warning.seq, 7);
    ck_assert_int_eq (status.status, JOB_QUEUED);
    ck_assert_uint_eq (status.seq, 8);
    ck_assert_int_eq (status.attempt, 2);
    ck_assert_int_eq (status.queue_position, 1);
    ck_assert_double_eq (status.percent, 15);
    ck_assert_str_eq (status.phase, "tts");
    s_assert_encodes (&warning);
    s_assert_encodes (&status);
    proto_msg_reset (&warning);
    proto_msg_reset (&status);

    ck_assert_int_eq (jobs_snapshot (jobs, a, &snap), 0);
    ck_assert_int_eq (snap.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (snap.steps[STEP_TTS], STEP_PENDING);
    ck_assert_int_eq (snap.attempt, 2);
    proto_msg_reset (&snap);

    /* the old attempt can no longer write */
    s_event (&event, a, 1, EVENT_STEP_STATUS, STEP_TTS);
    event.step_status = STEP_DONE;
    ck_assert_int_eq (jobs_apply_event (jobs, &event, 9700, &status), -ESTALE);
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

    proto_msg_t warning, status, cancel;
    ck_assert_int_eq (jobs_expire_dispatch (jobs, 5000, 6000, &warning,
                                            &status, &cancel),
                      -ENOENT);
    ck_assert_int_eq (jobs_expire_dispatch (jobs, 5001, 6000, &warning,
                                            &status, &cancel),
                      0);
    ck_assert_int_eq (cancel.type, PROTO_CANCEL);
    ck_assert_int_eq (cancel.attempt, 1);
    ck_assert_str_eq (warning.code, JOBS_WARNING_DISPATCH_TIMEOUT);
    ck_assert_int_eq (status.attempt, 2);
    ck_assert_int_eq (status.queue_position, 1);
    s_assert_encodes (&cancel);
    s_assert_encodes (&warning);
    proto_msg_reset (&cancel);
    proto_msg_reset (&warning);
    proto_msg_reset (&status);
    ck_assert_uint_eq (jobs_in_flight (jobs), 0);
    ck_assert_uint_eq (jobs_queued (jobs), 1);

    /* the first worker answers late: fenced off */
    ck_assert_int_eq (jobs_accept (jobs, a, 1, 7000, &status), -ESTALE);
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
    ck_assert_int_eq (jobs_submit (jobs, a, "c", s_spec, strlen (s_spec), 1,
                                   &status),
                      -EEXIST);
    ck_assert_int_eq (status.type, PROTO_NONE);
    char b[JOB_ID_SIZE];
    s_id (b, 2);
    ck_assert_int_eq (jobs_submit (jobs, b, "c", s_spec, 0, 1, &status),
                      -EINVAL);
    ck_assert_int_eq (jobs_submit (jobs, "not-an-id", "c", s_spec,
                                   strlen (s_spec), 1, &status),
                      -EINVAL);
    ck_assert_int_eq (jobs_submit (jobs, b, "c", s_spec,
                                   PROTO_MAX_SPEC_BYTES + 1, 1, &status),
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

int
main (void)
{
    Suite *s = suite_create ("broker_jobs");
    TCase *tc = tcase_create ("jobs");
    tcase_add_test (tc, test_queue_is_fifo);
    tcase_add_test (tc, test_unsent_and_declined_go_back_to_the_head);
    tcase_add_test (tc, test_accept_is_fenced);
    tcase_add_test (tc, test_seq_and_terminal_order);
    tcase_add_test (tc, test_percent_never_decreases);
    tcase_add_test (tc, test_events_are_fenced);
    tcase_add_test (tc, test_failure_is_recorded);
    tcase_add_test (tc, test_shutdown_hands_back_a_new_attempt);
    tcase_add_test (tc, test_unanswered_dispatch_expires);
    tcase_add_test (tc, test_submit_rejects_bad_input);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
