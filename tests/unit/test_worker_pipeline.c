/*  Unit tests of the worker: the synthetic pipeline driven directly through
    the pipeline interface, then the whole worker loop against an
    in-process broker on inproc sockets (dispatch, events in order,
    declines, cancel, failure, resume, shutdown hand-back). */
#include <check.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ids.h"
#include "phase.h"
#include "pipeline/pipeline.h"
#include "proto.h"
#include "worker.h"

/* ------------------------------------------------------------------ */
/*  The synthetic pipeline through its interface                       */

#define MAX_REPORTS 64

typedef struct {
    int reports;                   /* calls with a message */
    int polls;                     /* calls without one */
    int calls_after_stop;
    step_t steps[MAX_REPORTS];
    double fractions[MAX_REPORTS];
    int etas[MAX_REPORTS];
    char messages[MAX_REPORTS][PIPELINE_MESSAGE_SIZE];
    int64_t started_ms;
    int64_t stop_after_ms;         /* -1: never */
    int stop_at_report;            /* 0: never */
    bool stopped;
    int64_t last_call_ms;
    int64_t longest_gap_ms;        /* between two calls */
} recorder_t;

static void
s_recorder_init (recorder_t *rec)
{
    memset (rec, 0, sizeof *rec);
    rec->stop_after_ms = -1;
    rec->started_ms = pipeline_clock_ms ();
    rec->last_call_ms = rec->started_ms;
}

static int
s_record (void *ctx, step_t step, double fraction, const char *message,
          int eta_s)
{
    recorder_t *rec = ctx;
    int64_t now_ms = pipeline_clock_ms ();
    if (now_ms - rec->last_call_ms > rec->longest_gap_ms)
        rec->longest_gap_ms = now_ms - rec->last_call_ms;
    rec->last_call_ms = now_ms;
    if (rec->stopped) {
        rec->calls_after_stop++;
        return -ECANCELED;
    }
    if (message && rec->reports < MAX_REPORTS) {
        int i = rec->reports++;
        rec->steps[i] = step;
        rec->fractions[i] = fraction;
        rec->etas[i] = eta_s;
        snprintf (rec->messages[i], sizeof rec->messages[i], "%s", message);
        if (rec->stop_at_report && rec->reports == rec->stop_at_report)
            rec->stopped = true;
    }
    else if (!message)
        rec->polls++;
    if (rec->stop_after_ms >= 0 && now_ms - rec->started_ms >= rec->stop_after_ms)
        rec->stopped = true;
    return rec->stopped ? -ECANCELED : 0;
}

static int
s_run_step (step_t step, const pipeline_options_t *options, recorder_t *rec,
            pipeline_error_t *error)
{
    static const char spec[] = "{\"brief\":{\"topic\":\"photosynthesis\"}}";
    const pipeline_t *pipeline = pipeline_find ("synthetic");
    ck_assert_ptr_nonnull (pipeline);
    pipeline_input_t input = {
        .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        .attempt = 1,
        .spec = spec,
        .spec_len = sizeof spec - 1,
        .artifact_dir = "",
        .options = options,
    };
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    memset (error, 0, sizeof *error);
    return pipeline->steps[step](&input, &output, s_record, rec, error);
}

START_TEST (test_find)
{
    const pipeline_t *pipeline = pipeline_find ("synthetic");
    ck_assert_ptr_eq (pipeline, &pipeline_synthetic);
    ck_assert_str_eq (pipeline->name, "synthetic");
    for (int step = 0; step < STEP_COUNT; step++)
        ck_assert (pipeline->steps[step] != NULL);
    /* only a pipeline that writes files gets a directory per job */
    ck_assert (!pipeline->writes_files);
    ck_assert_ptr_nonnull (pipeline_find ("media"));
    ck_assert (pipeline_find ("media")->writes_files);
    ck_assert_ptr_null (pipeline_find ("media-that-does-not-exist"));
    ck_assert_ptr_null (pipeline_find (""));
    ck_assert_ptr_null (pipeline_find (NULL));
}
END_TEST

START_TEST (test_progress_increases_within_range)
{
    pipeline_options_t options = { .synthetic_step_ms = 80 };
    for (step_t step = STEP_PLAN; step < STEP_COUNT; step++) {
        recorder_t rec;
        s_recorder_init (&rec);
        pipeline_error_t error;
        int rc = s_run_step (step, &options, &rec, &error);
        int64_t elapsed_ms = pipeline_clock_ms () - rec.started_ms;
        ck_assert_int_eq (rc, 0);
        ck_assert_int_eq (rec.reports, 4);
        double previous = 0;
        for (int i = 0; i < rec.reports; i++) {
            ck_assert_int_eq (rec.steps[i], step);
            ck_assert_msg (rec.fractions[i] > previous && rec.fractions[i] <= 1.0,
                           "report %d: fraction %f after %f", i,
                           rec.fractions[i], previous);
            previous = rec.fractions[i];
            ck_assert_msg (strlen (rec.messages[i]) > 0, "empty message");
            ck_assert_int_ge (rec.etas[i], 0);
            if (i > 0)
                ck_assert_int_le (rec.etas[i], rec.etas[i - 1]);
        }
        ck_assert (fabs (rec.fractions[0] - 0.25) < 1e-9);
        ck_assert (fabs (rec.fractions[3] - 1.0) < 1e-9);
        ck_assert_int_eq (rec.etas[3], 0);
        ck_assert_str_eq (rec.messages[1] + strlen (rec.messages[1]) - 5, "(2/4)");
        /* the step takes its configured time, and no much more */
        ck_assert_int_ge (elapsed_ms, 79);
        ck_assert_int_lt (elapsed_ms, 80 + 1000);
    }
}
END_TEST

START_TEST (test_messages_say_what_the_step_does)
{
    pipeline_options_t options = { .synthetic_step_ms = 0 };
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_error_t error;
    ck_assert_int_eq (s_run_step (STEP_PLAN, &options, &rec, &error), 0);
    ck_assert_str_eq (rec.messages[1], "Planning scenes (2/4)");
    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_step (STEP_RENDER, &options, &rec, &error), 0);
    ck_assert_str_eq (rec.messages[3], "Encoding video (4/4)");
}
END_TEST

START_TEST (test_zero_duration_still_reports)
{
    pipeline_options_t options = { .synthetic_step_ms = 0 };
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_error_t error;
    ck_assert_int_eq (s_run_step (STEP_TTS, &options, &rec, &error), 0);
    ck_assert_int_eq (rec.reports, 4);
    ck_assert (fabs (rec.fractions[3] - 1.0) < 1e-9);
    ck_assert_int_lt (pipeline_clock_ms () - rec.started_ms, 100);
}
END_TEST

START_TEST (test_stop_while_waiting_is_prompt)
{
    /* the first report would come after 2.5 s; a stop asked for at 100 ms
       must end the step long before */
    pipeline_options_t options = { .synthetic_step_ms = 10000 };
    recorder_t rec;
    s_recorder_init (&rec);
    rec.stop_after_ms = 100;
    pipeline_error_t error;
    int rc = s_run_step (STEP_VISUALS, &options, &rec, &error);
    int64_t elapsed_ms = pipeline_clock_ms () - rec.started_ms;
    ck_assert_int_eq (rc, -ECANCELED);
    ck_assert_int_eq (rec.reports, 0);
    ck_assert_int_eq (rec.calls_after_stop, 0);
    ck_assert_int_lt (elapsed_ms, 1000);
}
END_TEST

START_TEST (test_stop_at_a_report)
{
    pipeline_options_t options = { .synthetic_step_ms = 40 };
    recorder_t rec;
    s_recorder_init (&rec);
    rec.stop_at_report = 2;
    pipeline_error_t error;
    int rc = s_run_step (STEP_COMPOSE, &options, &rec, &error);
    ck_assert_int_eq (rc, -ECANCELED);
    ck_assert_int_eq (rec.reports, 2);
    ck_assert_int_eq (rec.calls_after_stop, 0);
    ck_assert_str_eq (error.code, "");
}
END_TEST

START_TEST (test_fail_step_fails_at_half)
{
    pipeline_options_t options = { .synthetic_step_ms = 20,
                                   .synthetic_fail_step = "tts" };
    recorder_t rec;
    pipeline_error_t error;

    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_step (STEP_PLAN, &options, &rec, &error), 0);

    s_recorder_init (&rec);
    int rc = s_run_step (STEP_TTS, &options, &rec, &error);
    ck_assert_int_lt (rc, 0);
    ck_assert_int_ne (rc, -ECANCELED);
    ck_assert_str_eq (error.code, "SyntheticFailure");
    ck_assert (error.retryable);
    ck_assert_msg (strstr (error.message, "tts"), "message: %s", error.message);
    ck_assert_int_eq (rec.reports, 2);
    ck_assert (fabs (rec.fractions[1] - 0.5) < 1e-9);

    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_step (STEP_VISUALS, &options, &rec, &error), 0);
}
END_TEST

START_TEST (test_wait_polls_in_slices)
{
    recorder_t rec;
    s_recorder_init (&rec);
    ck_assert_int_eq (pipeline_wait_ms (180, STEP_RENDER, s_record, &rec), 0);
    int64_t elapsed_ms = pipeline_clock_ms () - rec.started_ms;
    ck_assert_int_ge (elapsed_ms, 180);
    ck_assert_int_ge (rec.polls, 180 / PIPELINE_POLL_SLICE_MS);
    ck_assert_int_eq (rec.reports, 0);
    ck_assert_int_le (rec.longest_gap_ms, PIPELINE_POLL_SLICE_MS + 100);
}
END_TEST

START_TEST (test_output_artifacts)
{
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    ck_assert_int_eq (pipeline_output_add_artifact (&output, "video.mp4",
                                                    "video.mp4", "video/mp4", 42),
                      0);
    ck_assert_uint_eq (output.artifact_count, 1);
    ck_assert_str_eq (output.artifacts[0].type, "video/mp4");
    char long_name[100];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq (pipeline_output_add_artifact (&output, long_name, "x",
                                                    "text/plain", 1),
                      -ENOSPC);
    ck_assert_uint_eq (output.artifact_count, 1);
    for (int i = 1; i < PIPELINE_MAX_ARTIFACTS; i++)
        ck_assert_int_eq (pipeline_output_add_artifact (&output, "f", "f",
                                                        "text/plain", 1),
                          0);
    ck_assert_int_eq (pipeline_output_add_artifact (&output, "f", "f",
                                                    "text/plain", 1),
                      -ENOSPC);
}
END_TEST

/* ------------------------------------------------------------------ */
/*  The worker loop against an in-process broker                       */

typedef struct {
    zsock_t *jobs;       /* PUSH, bound */
    zsock_t *events;     /* PULL, bound */
    zsock_t *publish;    /* PUB, bound */
    aura_config_t cfg;
    worker_t *worker;
    pthread_t thread;
    int run_rc;
} harness_t;

static void *
s_worker_thread (void *arg)
{
    harness_t *h = arg;
    h->run_rc = worker_run (h->worker);
    return NULL;
}

/*  Starts a worker with `slots` slots whose synthetic steps last step_ms
    and report `reports` times each (0: the pipeline's default, 4), with
    artifact_dir as its artifact root ("": none). */
static void
s_harness_start_in (harness_t *h, int slots, int step_ms,
                    const char *fail_step, int reports,
                    const char *artifact_dir)
{
    static int instance;
    memset (h, 0, sizeof *h);
    instance++;
    snprintf (h->cfg.broker_jobs, sizeof h->cfg.broker_jobs,
              "inproc://test-jobs-%d", instance);
    snprintf (h->cfg.broker_events, sizeof h->cfg.broker_events,
              "inproc://test-events-%d", instance);
    snprintf (h->cfg.broker_publish, sizeof h->cfg.broker_publish,
              "inproc://test-publish-%d", instance);
    h->cfg.worker_slots = slots;
    h->cfg.heartbeat_ms = 200;
    h->cfg.synthetic_step_ms = step_ms;
    h->cfg.synthetic_reports = reports;
    snprintf (h->cfg.synthetic_fail_step, sizeof h->cfg.synthetic_fail_step,
              "%s", fail_step);
    snprintf (h->cfg.worker_id, sizeof h->cfg.worker_id, "test-worker");
    snprintf (h->cfg.artifact_dir, sizeof h->cfg.artifact_dir, "%s",
              artifact_dir);

    h->jobs = zsock_new (ZMQ_PUSH);
    h->events = zsock_new (ZMQ_PULL);
    h->publish = zsock_new (ZMQ_PUB);
    ck_assert_ptr_nonnull (h->jobs);
    ck_assert_ptr_nonnull (h->events);
    ck_assert_ptr_nonnull (h->publish);
    zsock_set_sndhwm (h->jobs, 1);
    zsock_set_rcvtimeo (h->events, 3000);
    ck_assert_int_eq (zsock_bind (h->jobs, "%s", h->cfg.broker_jobs), 0);
    ck_assert_int_eq (zsock_bind (h->events, "%s", h->cfg.broker_events), 0);
    ck_assert_int_eq (zsock_bind (h->publish, "%s", h->cfg.broker_publish), 0);

    h->worker = worker_new (&h->cfg, pipeline_find ("synthetic"));
    ck_assert_ptr_nonnull (h->worker);
    ck_assert_int_eq (pthread_create (&h->thread, NULL, s_worker_thread, h), 0);
}

static void
s_harness_start_reports (harness_t *h, int slots, int step_ms,
                         const char *fail_step, int reports)
{
    s_harness_start_in (h, slots, step_ms, fail_step, reports, "");
}

static void
s_harness_start (harness_t *h, int slots, int step_ms, const char *fail_step)
{
    s_harness_start_reports (h, slots, step_ms, fail_step, 0);
}

/*  Stops the worker, waits for worker_run to return, and checks that it
    did so promptly and cleanly. */
static void
s_harness_stop (harness_t *h, worker_stats_t *stats)
{
    int64_t asked_ms = zclock_mono ();
    worker_stop (h->worker);
    pthread_join (h->thread, NULL);
    ck_assert_int_lt (zclock_mono () - asked_ms, 1500);
    ck_assert_int_eq (h->run_rc, 0);
    if (stats)
        worker_stats (h->worker, stats);
    worker_destroy (&h->worker);
    ck_assert_ptr_null (h->worker);
    zsock_destroy (&h->publish);
    zsock_destroy (&h->events);
    zsock_destroy (&h->jobs);
}

/*  Receives the next message from the worker into msg (reset first);
    heartbeats are skipped unless keep_heartbeats. Fails the test after
    3 s of silence. */
static void
s_next (harness_t *h, proto_msg_t *msg, bool keep_heartbeats)
{
    while (true) {
        proto_msg_reset (msg);
        zframe_t *frame = zframe_recv (h->events);
        ck_assert_msg (frame != NULL, "no message from the worker in 3 s");
        char err[160];
        int rc = proto_decode (zframe_data (frame), zframe_size (frame), msg,
                               err, sizeof err);
        zframe_destroy (&frame);
        ck_assert_msg (rc == 0, "worker sent an undecodable body: %s", err);
        ck_assert_str_eq (msg->worker, "test-worker");
        if (msg->type != PROTO_HEARTBEAT || keep_heartbeats)
            return;
    }
}

static void
s_dispatch (harness_t *h, char job[JOB_ID_SIZE], const step_status_t *steps)
{
    ck_assert_int_eq (job_id_generate (job), 0);
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_DISPATCH);
    snprintf (msg.job, sizeof msg.job, "%s", job);
    msg.attempt = 1;
    snprintf (msg.cid, sizeof msg.cid, "c-test");
    const char *spec = "{\"brief\":{\"topic\":\"tides\"}}";
    ck_assert_int_eq (proto_msg_set_spec (&msg, spec, strlen (spec)), 0);
    if (steps)
        memcpy (msg.steps, steps, sizeof msg.steps);
    zframe_t *frame = proto_encode (&msg);
    ck_assert_ptr_nonnull (frame);
    ck_assert_int_eq (zframe_send (&frame, h->jobs, 0), 0);
    proto_msg_reset (&msg);
}

static void
s_publish_cancel (harness_t *h, const char *job, int attempt)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_CANCEL);
    snprintf (msg.job, sizeof msg.job, "%s", job);
    msg.attempt = attempt;
    zframe_t *body = proto_encode (&msg);
    ck_assert_ptr_nonnull (body);
    char topic[64];
    ck_assert_int_eq (proto_topic (topic, sizeof topic, PROTO_TOPIC_CANCEL, job), 0);
    zsock_send (h->publish, "sf", topic, body);
    zframe_destroy (&body);
}

/*  Checks the parts of an event of job `job` every event must have. */
static void
s_assert_event (const proto_msg_t *msg, const char *job, proto_event_kind_t kind)
{
    ck_assert_msg (msg->type == PROTO_EVENT && msg->kind == kind,
                   "expected event %s, got %s/%s", proto_event_kind_name (kind),
                   proto_type_name (msg->type), proto_event_kind_name (msg->kind));
    ck_assert_str_eq (msg->job, job);
    ck_assert_int_eq (msg->attempt, 1);
    ck_assert_uint_eq (msg->seq, 0);
    ck_assert_msg (msg->ts_us > 0, "event without ts");
}

static void
s_expect_step_status (harness_t *h, proto_msg_t *msg, const char *job,
                      step_t step, step_status_t status)
{
    s_next (h, msg, false);
    s_assert_event (msg, job, EVENT_STEP_STATUS);
    ck_assert_msg (msg->step == step && msg->step_status == status,
                   "expected %s %s, got %s %s", step_name (step),
                   step_status_name (status), step_name (msg->step),
                   step_status_name (msg->step_status));
}

static void
s_expect_accepted (harness_t *h, proto_msg_t *msg, const char *job,
                   int slots_free)
{
    s_next (h, msg, false);
    ck_assert_msg (msg->type == PROTO_ACCEPTED, "expected accepted, got %s",
                   proto_type_name (msg->type));
    ck_assert_str_eq (msg->job, job);
    ck_assert_int_eq (msg->attempt, 1);
    ck_assert_int_eq (msg->slots_free, slots_free);
}

/*  Reads the step-progress events of `step` up to the next other message
    of the job, which is left in msg. Checks that they stay in the step's
    range, say what the step does and never go back (*last_percent is the
    job's percent so far, updated). Returns how many there were and the
    stepPercent of the last in *step_percent (-1 when there was none). */
static int
s_read_progress (harness_t *h, proto_msg_t *msg, const char *job, step_t step,
                 double *last_percent, double *step_percent)
{
    int count = 0;
    *step_percent = -1;
    while (true) {
        s_next (h, msg, false);
        if (msg->type != PROTO_EVENT || msg->kind != EVENT_STEP_PROGRESS)
            return count;
        s_assert_event (msg, job, EVENT_STEP_PROGRESS);
        ck_assert_int_eq (msg->step, step);
        ck_assert_str_eq (msg->phase, step_name (step));
        ck_assert_msg (msg->step_percent > *step_percent, "stepPercent went back");
        ck_assert_msg (msg->percent >= *last_percent, "percent went back");
        ck_assert (msg->percent >= step_range_lo (step) - 1e-9);
        ck_assert (msg->percent <= step_range_hi (step) + 1e-9);
        ck_assert (strlen (msg->message) > 0);
        ck_assert_int_ge (msg->eta_s, 0);
        *step_percent = msg->step_percent;
        *last_percent = msg->percent;
        count++;
    }
}

/*  Tests, and any process with more than one worker, make a worker right
    after destroying another: libzmq unbinds a closed socket's inproc
    endpoint later, in its own thread, so the new worker's inbox must not
    reuse the old one's name (the allocator hands back the same address). */
START_TEST (test_worker_made_after_another_binds_its_inbox)
{
    aura_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.worker_slots = 1;
    snprintf (cfg.worker_id, sizeof cfg.worker_id, "test-worker");
    snprintf (cfg.broker_jobs, sizeof cfg.broker_jobs, "inproc://test-recreate-jobs");
    snprintf (cfg.broker_events, sizeof cfg.broker_events, "inproc://test-recreate-events");
    snprintf (cfg.broker_publish, sizeof cfg.broker_publish, "inproc://test-recreate-publish");
    for (int i = 0; i < 50; i++) {
        worker_t *worker = worker_new (&cfg, pipeline_find ("synthetic"));
        ck_assert_msg (worker != NULL, "worker %d of 50 could not be made", i + 1);
        worker_destroy (&worker);
    }
}
END_TEST

START_TEST (test_worker_heartbeats_at_once)
{
    harness_t h;
    s_harness_start (&h, 3, 0, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    s_next (&h, &msg, true);
    ck_assert_int_eq (msg.type, PROTO_HEARTBEAT);
    ck_assert_int_eq (msg.slots_free, 3);
    ck_assert_int_eq (msg.slots_total, 3);
    /* and again after heartbeat_ms */
    int64_t first_ms = zclock_mono ();
    s_next (&h, &msg, true);
    ck_assert_int_eq (msg.type, PROTO_HEARTBEAT);
    ck_assert_int_ge (zclock_mono () - first_ms, 100);
    proto_msg_reset (&msg);
    s_harness_stop (&h, NULL);
}
END_TEST

/*  A broker that restarts learns from heartbeats which jobs each worker
    still runs: every heartbeat between a job's accepted and its terminal
    event names it, and none before or after does. */
START_TEST (test_worker_heartbeat_names_running_jobs)
{
    harness_t h;
    s_harness_start (&h, 2, 300, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    s_next (&h, &msg, true);
    ck_assert_int_eq (msg.type, PROTO_HEARTBEAT);
    ck_assert_uint_eq (msg.running_count, 0);

    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    do {
        s_next (&h, &msg, true);
        if (msg.type == PROTO_HEARTBEAT)
            ck_assert_uint_eq (msg.running_count, 0);
    } while (msg.type != PROTO_ACCEPTED);

    int named = 0;
    while (true) {
        s_next (&h, &msg, true);
        if (msg.type == PROTO_EVENT && msg.kind == EVENT_JOB_COMPLETED)
            break;
        if (msg.type != PROTO_HEARTBEAT)
            continue;
        ck_assert_uint_eq (msg.running_count, 1);
        ck_assert_str_eq (msg.running[0].job, job);
        ck_assert_int_eq (msg.running[0].attempt, 1);
        ck_assert_int_eq (msg.slots_free, 1);
        named++;
    }
    /* the job takes 5 x 300 ms and heartbeats come every 200 ms */
    ck_assert_int_ge (named, 3);
    s_next (&h, &msg, true);
    ck_assert_int_eq (msg.type, PROTO_HEARTBEAT);
    ck_assert_uint_eq (msg.running_count, 0);
    ck_assert_int_eq (msg.slots_free, 2);
    proto_msg_reset (&msg);
    s_harness_stop (&h, NULL);
}
END_TEST

START_TEST (test_worker_runs_a_job_in_order)
{
    harness_t h;
    s_harness_start (&h, 1, 20, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 0);
    ck_assert_int_eq (msg.slots_total, 1);

    double last_percent = 0;
    int64_t last_ts = 0;
    int progress_sent = 0;
    for (step_t step = STEP_PLAN; step < STEP_COUNT; step++) {
        s_expect_step_status (&h, &msg, job, step, STEP_RUNNING);
        ck_assert (msg.ts_us >= last_ts);
        last_ts = msg.ts_us;
        /* four reports 5 ms apart: coalesced, but the last always comes,
           before the step's Done */
        double step_percent;
        int count = s_read_progress (&h, &msg, job, step, &last_percent,
                                     &step_percent);
        ck_assert_int_ge (count, 1);
        ck_assert_int_le (count, 4);
        ck_assert (fabs (step_percent - 100.0) < 1e-6);
        progress_sent += count;
        s_assert_event (&msg, job, EVENT_STEP_STATUS);
        ck_assert_int_eq (msg.step, step);
        ck_assert_int_eq (msg.step_status, STEP_DONE);
        ck_assert (msg.ts_us >= last_ts);
        last_ts = msg.ts_us;
    }
    ck_assert (fabs (last_percent - 100.0) < 1e-9);
    s_next (&h, &msg, false);
    s_assert_event (&msg, job, EVENT_JOB_COMPLETED);
    ck_assert_int_eq (msg.slots_free, 1);
    ck_assert_int_eq (msg.slots_total, 1);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.jobs_accepted, 1);
    ck_assert_uint_eq (stats.jobs_finished, 1);
    ck_assert_uint_eq (stats.messages_dropped, 0);
    /* every report either went out or was replaced by a newer one */
    ck_assert_uint_eq (stats.progress_coalesced + (uint64_t) progress_sent,
                       5 * 4);
    ck_assert_uint_gt (stats.progress_coalesced, 0);
}
END_TEST

/*  A job that reports every 5 ms: at most one step-progress per 100 ms
    leaves, plus the step's last report, sent before its Done. */
START_TEST (test_worker_coalesces_progress)
{
    harness_t h;
    s_harness_start_reports (&h, 1, 300, "", 60);
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 0);
    double last_percent = 0;
    int progress_sent = 0;
    for (step_t step = STEP_PLAN; step < STEP_COUNT; step++) {
        s_expect_step_status (&h, &msg, job, step, STEP_RUNNING);
        double step_percent;
        int count = s_read_progress (&h, &msg, job, step, &last_percent,
                                     &step_percent);
        /* 300 ms hold at most four 100 ms intervals' worth, and one more
           for the report held when the step ends */
        ck_assert_int_ge (count, 1);
        ck_assert_int_le (count, 5);
        ck_assert (fabs (step_percent - 100.0) < 1e-6);
        s_assert_event (&msg, job, EVENT_STEP_STATUS);
        ck_assert_int_eq (msg.step, step);
        ck_assert_int_eq (msg.step_status, STEP_DONE);
        progress_sent += count;
    }
    s_next (&h, &msg, false);
    s_assert_event (&msg, job, EVENT_JOB_COMPLETED);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.progress_coalesced + (uint64_t) progress_sent,
                       5 * 60);
    ck_assert_uint_ge (stats.progress_coalesced, 5 * 60 - 5 * 5);
}
END_TEST

/*  Jobs that report far faster than the worker forwards (2,000 reports
    per step, no wait between them): their messages pile up on the slots'
    threads and leave in bounded batches, each job's in order, and every
    report either leaves or is replaced by a newer one. */
START_TEST (test_worker_forwards_a_burst_in_order)
{
    harness_t h;
    s_harness_start_reports (&h, 2, 0, "", 2000);
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE], other[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 1);
    s_dispatch (&h, other, NULL);
    double last_percent = 0;
    int progress_sent = 0;
    bool other_accepted = false, other_completed = false;
    step_t step = STEP_PLAN;
    bool running = false;
    while (true) {
        s_next (&h, &msg, false);
        if (strcmp (msg.job, other) == 0) {
            if (msg.type == PROTO_ACCEPTED)
                other_accepted = true;
            else if (msg.type == PROTO_EVENT && msg.kind == EVENT_JOB_COMPLETED)
                other_completed = true;
            else if (msg.type == PROTO_EVENT && msg.kind == EVENT_STEP_PROGRESS)
                progress_sent++;
            continue;
        }
        if (msg.type == PROTO_EVENT && msg.kind == EVENT_JOB_COMPLETED)
            break;
        ck_assert (msg.type == PROTO_EVENT);
        if (msg.kind == EVENT_STEP_STATUS) {
            ck_assert_int_eq (msg.step, step);
            ck_assert_int_eq (msg.step_status, running ? STEP_DONE : STEP_RUNNING);
            if (running)
                step++;
            running = !running;
            continue;
        }
        ck_assert_int_eq (msg.kind, EVENT_STEP_PROGRESS);
        ck_assert (running);
        ck_assert_int_eq (msg.step, step);
        ck_assert_msg (msg.percent >= last_percent, "percent went back");
        last_percent = msg.percent;
        progress_sent++;
    }
    ck_assert_int_eq (step, STEP_COUNT);
    ck_assert (fabs (last_percent - 100.0) < 1e-9);
    while (!other_completed) {
        s_next (&h, &msg, false);
        ck_assert_str_eq (msg.job, other);
        if (msg.type == PROTO_ACCEPTED)
            other_accepted = true;
        else if (msg.type == PROTO_EVENT && msg.kind == EVENT_JOB_COMPLETED)
            other_completed = true;
        else if (msg.type == PROTO_EVENT && msg.kind == EVENT_STEP_PROGRESS)
            progress_sent++;
    }
    ck_assert (other_accepted);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.jobs_finished, 2);
    /* every report of both jobs either went out or was replaced */
    ck_assert_uint_eq (stats.progress_coalesced + (uint64_t) progress_sent,
                       2 * 5 * 2000);
}
END_TEST

START_TEST (test_worker_declines_when_full)
{
    harness_t h;
    s_harness_start (&h, 1, 2000, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char first[JOB_ID_SIZE], second[JOB_ID_SIZE];
    s_dispatch (&h, first, NULL);
    s_expect_accepted (&h, &msg, first, 0);
    s_dispatch (&h, second, NULL);
    /* the first job's events may come first; the decline must come */
    do
        s_next (&h, &msg, false);
    while (msg.type == PROTO_EVENT);
    ck_assert_int_eq (msg.type, PROTO_DECLINED);
    ck_assert_str_eq (msg.job, second);
    ck_assert_str_eq (msg.code, "Full");
    ck_assert_int_eq (msg.slots_free, 0);
    ck_assert_int_eq (msg.slots_total, 1);
    proto_msg_reset (&msg);
    s_harness_stop (&h, NULL);
}
END_TEST

START_TEST (test_worker_cancel_stops_the_step)
{
    harness_t h;
    s_harness_start (&h, 1, 4000, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 0);
    s_expect_step_status (&h, &msg, job, STEP_PLAN, STEP_RUNNING);

    /* garbage and a cancel of another attempt change nothing */
    zsock_send (h.publish, "ss", "ctl.cancel.garbage", "not msgpack");
    s_publish_cancel (&h, job, 2);
    /* a subscription takes a moment to reach the publisher: repeat the
       cancel until it takes effect */
    int64_t sent_ms = 0;
    zsock_set_rcvtimeo (h.events, 100);
    while (true) {
        if (zclock_mono () - sent_ms >= 100) {
            s_publish_cancel (&h, job, 1);
            sent_ms = zclock_mono ();
        }
        zframe_t *frame = zframe_recv (h.events);
        if (!frame)
            continue;
        char err[160];
        ck_assert_int_eq (proto_decode (zframe_data (frame), zframe_size (frame),
                                        &msg, err, sizeof err),
                          0);
        zframe_destroy (&frame);
        if (msg.type == PROTO_EVENT && msg.kind == EVENT_STEP_STATUS)
            break;
        ck_assert_msg (msg.type == PROTO_HEARTBEAT, "unexpected %s/%s",
                       proto_type_name (msg.type),
                       proto_event_kind_name (msg.kind));
        proto_msg_reset (&msg);
    }
    /* stopped inside plan, long before its first report at 1 s */
    s_assert_event (&msg, job, EVENT_STEP_STATUS);
    ck_assert_int_eq (msg.step, STEP_PLAN);
    ck_assert_int_eq (msg.step_status, STEP_CANCELED);
    zsock_set_rcvtimeo (h.events, 3000);
    s_next (&h, &msg, false);
    s_assert_event (&msg, job, EVENT_JOB_CANCELLED);
    ck_assert_int_eq (msg.step, STEP_PLAN);
    ck_assert_int_eq (msg.slots_free, 1);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.cancels_applied, 1);
    ck_assert_uint_ge (stats.messages_dropped, 1);
}
END_TEST

START_TEST (test_worker_reports_a_failed_step)
{
    harness_t h;
    s_harness_start (&h, 2, 0, "visuals");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 1);
    double last_percent = 0, step_percent;
    for (step_t step = STEP_PLAN; step < STEP_VISUALS; step++) {
        s_expect_step_status (&h, &msg, job, step, STEP_RUNNING);
        s_read_progress (&h, &msg, job, step, &last_percent, &step_percent);
        ck_assert (fabs (step_percent - 100.0) < 1e-6);
        s_assert_event (&msg, job, EVENT_STEP_STATUS);
        ck_assert_int_eq (msg.step, step);
        ck_assert_int_eq (msg.step_status, STEP_DONE);
    }
    s_expect_step_status (&h, &msg, job, STEP_VISUALS, STEP_RUNNING);
    /* the report at 50 % (held, the reports come within microseconds)
       goes out before the error */
    s_read_progress (&h, &msg, job, STEP_VISUALS, &last_percent, &step_percent);
    ck_assert (fabs (step_percent - 50.0) < 1e-6);
    s_assert_event (&msg, job, EVENT_ERROR);
    ck_assert_str_eq (msg.code, "SyntheticFailure");
    ck_assert (msg.retryable);
    s_expect_step_status (&h, &msg, job, STEP_VISUALS, STEP_FAILED);
    s_next (&h, &msg, false);
    s_assert_event (&msg, job, EVENT_JOB_FAILED);
    ck_assert_int_eq (msg.step, STEP_VISUALS);
    ck_assert_str_eq (msg.code, "SyntheticFailure");
    ck_assert (strlen (msg.message) > 0);
    ck_assert_int_eq (msg.slots_free, 2);
    ck_assert_int_eq (msg.slots_total, 2);
    proto_msg_reset (&msg);
    s_harness_stop (&h, NULL);
}
END_TEST

START_TEST (test_worker_skips_finished_steps)
{
    harness_t h;
    s_harness_start (&h, 1, 0, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char job[JOB_ID_SIZE];
    step_status_t steps[STEP_COUNT] = { STEP_DONE, STEP_DONE, STEP_PENDING,
                                        STEP_PENDING, STEP_PENDING };
    s_dispatch (&h, job, steps);
    s_expect_accepted (&h, &msg, job, 0);
    s_expect_step_status (&h, &msg, job, STEP_PLAN, STEP_SKIPPED);
    s_expect_step_status (&h, &msg, job, STEP_TTS, STEP_SKIPPED);
    s_expect_step_status (&h, &msg, job, STEP_VISUALS, STEP_RUNNING);
    s_next (&h, &msg, false);
    s_assert_event (&msg, job, EVENT_STEP_PROGRESS);
    ck_assert_int_eq (msg.step, STEP_VISUALS);
    do
        s_next (&h, &msg, false);
    while (msg.kind != EVENT_JOB_COMPLETED);
    proto_msg_reset (&msg);
    s_harness_stop (&h, NULL);
}
END_TEST

START_TEST (test_worker_drops_bad_input)
{
    harness_t h;
    s_harness_start (&h, 1, 0, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    /* not msgpack, two frames, then a valid message of the wrong type */
    zsock_send (h.jobs, "s", "\x93garbage");
    zsock_send (h.jobs, "ss", "one", "two");
    proto_msg_t ping;
    proto_msg_init (&ping, PROTO_PING);
    snprintf (ping.cid, sizeof ping.cid, "c-1");
    zframe_t *frame = proto_encode (&ping);
    ck_assert_ptr_nonnull (frame);
    zframe_send (&frame, h.jobs, 0);

    char job[JOB_ID_SIZE];
    s_dispatch (&h, job, NULL);
    s_expect_accepted (&h, &msg, job, 0);
    do
        s_next (&h, &msg, false);
    while (msg.kind != EVENT_JOB_COMPLETED);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.messages_dropped, 3);
    ck_assert_uint_eq (stats.jobs_finished, 1);
}
END_TEST

/*  Reads the events of a job that runs to the end, from its first
    step-status to its job-completed, which is left in msg: every step
    runs and is done, in order. */
static void
s_expect_job_completes (harness_t *h, proto_msg_t *msg, const char *job)
{
    double last_percent = 0, step_percent;
    for (step_t step = STEP_PLAN; step < STEP_COUNT; step++) {
        s_expect_step_status (h, msg, job, step, STEP_RUNNING);
        s_read_progress (h, msg, job, step, &last_percent, &step_percent);
        ck_assert (fabs (step_percent - 100.0) < 1e-6);
        s_assert_event (msg, job, EVENT_STEP_STATUS);
        ck_assert_int_eq (msg->step, step);
        ck_assert_int_eq (msg->step_status, STEP_DONE);
    }
    s_next (h, msg, false);
    s_assert_event (msg, job, EVENT_JOB_COMPLETED);
}

/*  Publishes a cancel of attempt 1 of job, again every 100 ms until the
    worker's next message that is not a heartbeat arrives (a
    subscription takes a moment to reach the publisher); leaves it in msg. */
static void
s_cancel_until_answered (harness_t *h, proto_msg_t *msg, const char *job)
{
    int64_t sent_ms = 0;
    zsock_set_rcvtimeo (h->events, 100);
    int64_t give_up_ms = zclock_mono () + 3000;
    while (true) {
        ck_assert_msg (zclock_mono () < give_up_ms, "cancel not answered in 3 s");
        if (zclock_mono () - sent_ms >= 100) {
            s_publish_cancel (h, job, 1);
            sent_ms = zclock_mono ();
        }
        zframe_t *frame = zframe_recv (h->events);
        if (!frame)
            continue;
        char err[160];
        proto_msg_reset (msg);
        ck_assert_int_eq (proto_decode (zframe_data (frame), zframe_size (frame),
                                        msg, err, sizeof err),
                          0);
        zframe_destroy (&frame);
        if (msg->type != PROTO_HEARTBEAT)
            break;
    }
    zsock_set_rcvtimeo (h->events, 3000);
}

/*  A slot's thread runs one job after another: each job reports the whole
    of its own events, the slot is free again after each final event, a
    cancel stops the job then running and not the one before, and the slot
    still runs jobs after a cancel. The synthetic pipeline writes no files,
    so the artifact root stays empty: no directory per job. */
START_TEST (test_worker_runs_jobs_in_turn_on_one_slot)
{
    char root[] = "/tmp/aura-test-artifacts-XXXXXX";
    ck_assert_ptr_nonnull (mkdtemp (root));
    harness_t h;
    s_harness_start_in (&h, 1, 150, "", 0, root);
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);

    char first[JOB_ID_SIZE], second[JOB_ID_SIZE], third[JOB_ID_SIZE];
    s_dispatch (&h, first, NULL);
    s_expect_accepted (&h, &msg, first, 0);
    s_expect_job_completes (&h, &msg, first);
    ck_assert_int_eq (msg.slots_free, 1);

    s_dispatch (&h, second, NULL);
    s_expect_accepted (&h, &msg, second, 0);
    s_expect_step_status (&h, &msg, second, STEP_PLAN, STEP_RUNNING);
    /* the job's events up to the cancel's effect, within a step or two */
    while (true) {
        s_cancel_until_answered (&h, &msg, second);
        ck_assert_str_eq (msg.job, second);
        ck_assert_msg (msg.type == PROTO_EVENT && !proto_event_is_terminal (msg.kind),
                       "expected the job's events, got %s/%s",
                       proto_type_name (msg.type), proto_event_kind_name (msg.kind));
        if (msg.kind == EVENT_STEP_STATUS && msg.step_status == STEP_CANCELED)
            break;
    }
    step_t cancelled_in = msg.step;
    s_next (&h, &msg, false);
    s_assert_event (&msg, second, EVENT_JOB_CANCELLED);
    ck_assert_int_eq (msg.step, cancelled_in);
    ck_assert_int_eq (msg.slots_free, 1);

    /* the cancel of the second job is not carried over to the third */
    s_dispatch (&h, third, NULL);
    s_expect_accepted (&h, &msg, third, 0);
    s_expect_job_completes (&h, &msg, third);
    ck_assert_int_eq (msg.slots_free, 1);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.jobs_accepted, 3);
    ck_assert_uint_eq (stats.jobs_finished, 3);
    ck_assert_uint_ge (stats.cancels_applied, 1);

    DIR *dir = opendir (root);
    ck_assert_ptr_nonnull (dir);
    struct dirent *entry;
    int entries = 0;
    while ((entry = readdir (dir)))
        if (strcmp (entry->d_name, ".") != 0 && strcmp (entry->d_name, "..") != 0)
            entries++;
    closedir (dir);
    ck_assert_int_eq (rmdir (root), 0);
    ck_assert_int_eq (entries, 0);
}
END_TEST

START_TEST (test_worker_hands_jobs_back_on_stop)
{
    harness_t h;
    s_harness_start (&h, 2, 10000, "");
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    char first[JOB_ID_SIZE], second[JOB_ID_SIZE];
    s_dispatch (&h, first, NULL);
    s_expect_accepted (&h, &msg, first, 1);
    s_dispatch (&h, second, NULL);
    do
        s_next (&h, &msg, false);
    while (msg.type != PROTO_ACCEPTED);
    ck_assert_str_eq (msg.job, second);
    ck_assert_int_eq (msg.slots_free, 0);

    int64_t asked_ms = zclock_mono ();
    worker_stop (h.worker);
    int handed_back = 0;
    bool saw_zero_credit_heartbeat = false;
    while (handed_back < 2) {
        s_next (&h, &msg, true);
        if (msg.type == PROTO_HEARTBEAT) {
            ck_assert_int_eq (msg.slots_free, 0);
            /* jobs being stopped are still this worker's until handed back */
            ck_assert_uint_eq (msg.running_count, (size_t) (2 - handed_back));
            saw_zero_credit_heartbeat = true;
            continue;
        }
        if (msg.type == PROTO_EVENT) {
            /* a step-status Running may still be on its way; never a
               terminal event */
            ck_assert (!proto_event_is_terminal (msg.kind));
            continue;
        }
        ck_assert_int_eq (msg.type, PROTO_DECLINED);
        ck_assert_str_eq (msg.code, "Shutdown");
        ck_assert (strcmp (msg.job, first) == 0 || strcmp (msg.job, second) == 0);
        ck_assert_int_eq (msg.slots_free, 0);
        ck_assert_int_eq (msg.slots_total, 2);
        handed_back++;
    }
    ck_assert (saw_zero_credit_heartbeat);
    ck_assert_int_lt (zclock_mono () - asked_ms, 1000);
    proto_msg_reset (&msg);

    worker_stats_t stats;
    s_harness_stop (&h, &stats);
    ck_assert_uint_eq (stats.jobs_handed_back, 2);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("worker_pipeline");

    TCase *tc = tcase_create ("synthetic");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_find);
    tcase_add_test (tc, test_progress_increases_within_range);
    tcase_add_test (tc, test_messages_say_what_the_step_does);
    tcase_add_test (tc, test_zero_duration_still_reports);
    tcase_add_test (tc, test_stop_while_waiting_is_prompt);
    tcase_add_test (tc, test_stop_at_a_report);
    tcase_add_test (tc, test_fail_step_fails_at_half);
    tcase_add_test (tc, test_wait_polls_in_slices);
    tcase_add_test (tc, test_output_artifacts);
    suite_add_tcase (s, tc);

    tc = tcase_create ("worker");
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_worker_made_after_another_binds_its_inbox);
    tcase_add_test (tc, test_worker_heartbeats_at_once);
    tcase_add_test (tc, test_worker_heartbeat_names_running_jobs);
    tcase_add_test (tc, test_worker_runs_a_job_in_order);
    tcase_add_test (tc, test_worker_coalesces_progress);
    tcase_add_test (tc, test_worker_forwards_a_burst_in_order);
    tcase_add_test (tc, test_worker_declines_when_full);
    tcase_add_test (tc, test_worker_cancel_stops_the_step);
    tcase_add_test (tc, test_worker_reports_a_failed_step);
    tcase_add_test (tc, test_worker_skips_finished_steps);
    tcase_add_test (tc, test_worker_drops_bad_input);
    tcase_add_test (tc, test_worker_runs_jobs_in_turn_on_one_slot);
    tcase_add_test (tc, test_worker_hands_jobs_back_on_stop);
    suite_add_tcase (s, tc);

    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
