/*  Unit tests of what the gateway puts on the wire for SSE and where it
    routes requests: the exact text of event frames, the job-status
    snapshot, keepalive comments, Last-Event-ID parsing, the URL table
    with its job-id checks, and the hub that replays and fans out frames. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "proto.h"
#include "render.h"
#include "route.h"
#include "sse.h"

#define JOB "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"

static void
s_event (proto_msg_t *msg, proto_event_kind_t kind, uint64_t seq)
{
    proto_msg_init (msg, PROTO_EVENT);
    msg->kind = kind;
    msg->seq = seq;
    msg->attempt = 1;
    msg->ts_us = INT64_C (1700000000123456);
    memcpy (msg->job, JOB, sizeof JOB);
}

/*  Renders msg and compares the frame with expected, byte for byte. */
static void
s_assert_frame (const proto_msg_t *msg, const char *expected)
{
    char *frame = NULL;
    size_t len = 0;
    ck_assert_int_eq (sse_render_event (msg, &frame, &len), 0);
    ck_assert_str_eq (frame, expected);
    ck_assert_uint_eq (len, strlen (expected));
    free (frame);
}

START_TEST (test_step_progress_frame)
{
    proto_msg_t msg;
    s_event (&msg, EVENT_STEP_PROGRESS, 7);
    msg.step = STEP_TTS;
    snprintf (msg.phase, sizeof msg.phase, "tts");
    msg.step_percent = 50;
    msg.percent = 25;
    snprintf (msg.message, sizeof msg.message, "Synthesizing scene 2 of 4");
    msg.eta_s = 12;
    s_assert_frame (&msg,
                    "id: 7\n"
                    "event: step-progress\n"
                    "data: {\"jobId\":\"" JOB "\",\"step\":\"tts\",\"phase\":\"tts\","
                    "\"stepPercent\":50,\"percent\":25,"
                    "\"message\":\"Synthesizing scene 2 of 4\",\"etaSeconds\":12,"
                    "\"seq\":7,\"ts\":1700000000123456}\n\n");

    /* fractions keep two decimals; an unknown eta is left out; a newline in
       a message stays escaped inside the one data line */
    msg.seq = 8;
    msg.step_percent = 100.0 / 3.0;
    msg.percent = 15 + 20.0 / 3.0;
    msg.eta_s = -1;
    snprintf (msg.message, sizeof msg.message, "two\nlines");
    s_assert_frame (&msg,
                    "id: 8\n"
                    "event: step-progress\n"
                    "data: {\"jobId\":\"" JOB "\",\"step\":\"tts\",\"phase\":\"tts\","
                    "\"stepPercent\":33.33,\"percent\":21.67,"
                    "\"message\":\"two\\nlines\",\"seq\":8,\"ts\":1700000000123456}\n\n");
    proto_msg_reset (&msg);
}
END_TEST

START_TEST (test_job_completed_frame)
{
    proto_msg_t msg;
    s_event (&msg, EVENT_JOB_COMPLETED, 42);
    ck_assert_int_eq (proto_msg_add_artifact (&msg, "video.mp4", "video.mp4", "video/mp4",
                                              1234567),
                      0);
    ck_assert_int_eq (proto_msg_add_artifact (&msg, "scene 01.png", "scene 01.png",
                                              "image/png", 2048),
                      0);
    snprintf (msg.output_video, sizeof msg.output_video, "video.mp4");
    snprintf (msg.output_subtitle, sizeof msg.output_subtitle, "video.srt");
    msg.output_size_bytes = 1234567;
    msg.output_duration_s = 31.5;
    s_assert_frame (
        &msg,
        "id: 42\n"
        "event: job-completed\n"
        "data: {\"status\":\"Succeeded\",\"jobId\":\"" JOB "\",\"artifacts\":["
        "{\"name\":\"video.mp4\",\"path\":\"video.mp4\","
        "\"url\":\"/api/jobs/" JOB "/artifacts/video.mp4\",\"type\":\"video/mp4\","
        "\"sizeBytes\":1234567},"
        "{\"name\":\"scene 01.png\",\"path\":\"scene 01.png\","
        "\"url\":\"/api/jobs/" JOB "/artifacts/scene%2001.png\",\"type\":\"image/png\","
        "\"sizeBytes\":2048}],"
        "\"output\":{\"videoPath\":\"video.mp4\",\"subtitlePath\":\"video.srt\","
        "\"sizeBytes\":1234567,\"durationSeconds\":31.5},"
        "\"attempt\":1,\"seq\":42,\"ts\":1700000000123456}\n\n");
    proto_msg_reset (&msg);
}
END_TEST

START_TEST (test_other_kinds_carry_their_keys)
{
    proto_msg_t msg;
    s_event (&msg, EVENT_JOB_STATUS, 1);
    msg.status = JOB_QUEUED;
    snprintf (msg.phase, sizeof msg.phase, "plan");
    msg.queue_position = 3;
    s_assert_frame (&msg, "id: 1\nevent: job-status\ndata: {\"jobId\":\"" JOB "\","
                          "\"status\":\"Queued\",\"phase\":\"plan\",\"percent\":0,"
                          "\"attempt\":1,\"queuePosition\":3,\"seq\":1,"
                          "\"ts\":1700000000123456}\n\n");

    s_event (&msg, EVENT_STEP_STATUS, 2);
    msg.step = STEP_RENDER;
    msg.step_status = STEP_DONE;
    msg.attempt = 2;
    s_assert_frame (&msg, "id: 2\nevent: step-status\ndata: {\"jobId\":\"" JOB "\","
                          "\"step\":\"render\",\"status\":\"Done\",\"attempt\":2,"
                          "\"seq\":2,\"ts\":1700000000123456}\n\n");

    s_event (&msg, EVENT_JOB_FAILED, 9);
    msg.step = STEP_VISUALS;
    snprintf (msg.code, sizeof msg.code, "SyntheticFailure");
    snprintf (msg.message, sizeof msg.message, "visuals \"failed\"");
    s_assert_frame (&msg, "id: 9\nevent: job-failed\ndata: {\"jobId\":\"" JOB "\","
                          "\"status\":\"Failed\",\"step\":\"visuals\",\"error\":{"
                          "\"code\":\"SyntheticFailure\",\"message\":\"visuals \\\"failed\\\"\"},"
                          "\"attempt\":1,\"seq\":9,\"ts\":1700000000123456}\n\n");

    s_event (&msg, EVENT_ERROR, 10);
    snprintf (msg.code, sizeof msg.code, "Timeout");
    snprintf (msg.message, sizeof msg.message, "m");
    msg.retryable = true;
    s_assert_frame (&msg, "id: 10\nevent: error\ndata: {\"jobId\":\"" JOB "\","
                          "\"code\":\"Timeout\",\"message\":\"m\",\"retryable\":true,"
                          "\"seq\":10,\"ts\":1700000000123456}\n\n");

    s_event (&msg, EVENT_JOB_CANCELLED, 11);
    msg.step = STEP_COMPOSE;
    s_assert_frame (&msg, "id: 11\nevent: job-cancelled\ndata: {\"jobId\":\"" JOB "\","
                          "\"status\":\"Canceled\",\"step\":\"compose\","
                          "\"attempt\":1,\"seq\":11,\"ts\":1700000000123456}\n\n");

    /* text that is not UTF-8 still renders, with '?' in place of bad bytes */
    s_event (&msg, EVENT_WARNING, 12);
    snprintf (msg.code, sizeof msg.code, "Odd");
    snprintf (msg.message, sizeof msg.message, "bad \xff byte");
    s_assert_frame (&msg, "id: 12\nevent: warning\ndata: {\"jobId\":\"" JOB "\","
                          "\"code\":\"Odd\",\"message\":\"bad ? byte\","
                          "\"seq\":12,\"ts\":1700000000123456}\n\n");

    /* an event without a seq, or not an event, is refused */
    char *frame = (char *) "x";
    size_t len = 1;
    s_event (&msg, EVENT_WARNING, 0);
    ck_assert_int_eq (sse_render_event (&msg, &frame, &len), -EINVAL);
    ck_assert_ptr_null (frame);
    proto_msg_init (&msg, PROTO_PONG);
    msg.seq = 3;
    ck_assert_int_eq (sse_render_event (&msg, &frame, &len), -EINVAL);
}
END_TEST

START_TEST (test_snapshot_frame_and_document)
{
    proto_msg_t job;
    proto_msg_init (&job, PROTO_JOB);
    memcpy (job.job, JOB, sizeof JOB);
    job.status = JOB_RUNNING;
    snprintf (job.phase, sizeof job.phase, "visuals");
    job.percent = 50;
    job.attempt = 1;
    job.seq = 17;
    job.step = STEP_VISUALS;
    job.steps[STEP_PLAN] = STEP_DONE;
    job.steps[STEP_TTS] = STEP_DONE;
    job.steps[STEP_VISUALS] = STEP_RUNNING;
    job.created_us = INT64_C (1700000000000000);
    job.started_us = INT64_C (1700000001500000);

    char *frame = NULL;
    size_t len = 0;
    ck_assert_int_eq (sse_render_snapshot (&job, INT64_C (1700000009000000), &frame, &len), 0);
    ck_assert_str_eq (frame, "id: 17\nevent: job-status\ndata: {\"jobId\":\"" JOB "\","
                             "\"status\":\"Running\",\"phase\":\"visuals\",\"percent\":50,"
                             "\"attempt\":1,\"seq\":17,\"ts\":1700000009000000}\n\n");
    free (frame);

    json_t *doc = render_job (&job);
    ck_assert_ptr_nonnull (doc);
    ck_assert_str_eq (json_string_value (json_object_get (doc, "jobId")), JOB);
    ck_assert_str_eq (json_string_value (json_object_get (doc, "status")), "Running");
    ck_assert_str_eq (json_string_value (json_object_get (doc, "createdAt")),
                      "2023-11-14T22:13:20.000Z");
    ck_assert_str_eq (json_string_value (json_object_get (doc, "startedAt")),
                      "2023-11-14T22:13:21.500Z");
    ck_assert (json_is_null (json_object_get (doc, "finishedAt")));
    ck_assert (json_is_null (json_object_get (doc, "queuePosition")));
    ck_assert (json_is_null (json_object_get (doc, "error")));
    ck_assert (json_is_null (json_object_get (doc, "output")));
    ck_assert_int_eq (json_integer_value (json_object_get (doc, "lastEventId")), 17);
    json_t *steps = json_object_get (doc, "steps");
    ck_assert_uint_eq (json_array_size (steps), 5);
    ck_assert_str_eq (json_string_value (json_object_get (json_array_get (steps, 2), "name")),
                      "visuals");
    ck_assert_str_eq (json_string_value (json_object_get (json_array_get (steps, 2), "status")),
                      "Running");
    ck_assert_str_eq (json_string_value (json_object_get (json_object_get (doc, "links"),
                                                          "events")),
                      "/api/jobs/" JOB "/events");
    json_decref (doc);
    proto_msg_reset (&job);
}
END_TEST

START_TEST (test_job_summary_and_page)
{
    proto_msg_t jobs[2];
    proto_msg_init (&jobs[0], PROTO_JOB);
    memcpy (jobs[0].job, JOB, sizeof JOB);
    snprintf (jobs[0].title, sizeof jobs[0].title, "How bees dance");
    jobs[0].status = JOB_DONE;
    snprintf (jobs[0].phase, sizeof jobs[0].phase, "complete");
    jobs[0].percent = 100;
    jobs[0].attempt = 2;
    jobs[0].seq = 40;
    jobs[0].created_us = INT64_C (1700000000000000);
    jobs[0].started_us = INT64_C (1700000001000000);
    jobs[0].finished_us = INT64_C (1700000030250000);
    proto_msg_init (&jobs[1], PROTO_JOB);
    memcpy (jobs[1].job, "01JD5ZQ6X8M9N0P1Q2R3S4T5V5", JOB_ID_SIZE);
    jobs[1].status = JOB_QUEUED;
    snprintf (jobs[1].phase, sizeof jobs[1].phase, "plan");
    jobs[1].attempt = 1;
    jobs[1].queue_position = 3;
    jobs[1].created_us = INT64_C (1699999999000000);

    json_t *doc = render_job_summary (&jobs[0]);
    ck_assert_ptr_nonnull (doc);
    char *text = render_dump (doc, NULL);
    ck_assert_str_eq (text, "{\"jobId\":\"" JOB "\",\"title\":\"How bees dance\","
                            "\"status\":\"Done\",\"phase\":\"complete\",\"percent\":100,"
                            "\"attempt\":2,\"createdAt\":\"2023-11-14T22:13:20.000Z\","
                            "\"finishedAt\":\"2023-11-14T22:13:50.250Z\",\"links\":{"
                            "\"self\":\"/api/jobs/" JOB "\",\"events\":\"/api/jobs/" JOB
                            "/events\",\"cancel\":\"/api/jobs/" JOB "/cancel\"}}");
    free (text);
    json_decref (doc);

    /* a page with more after it names its last job as the next cursor */
    doc = render_job_page (jobs, 2, "01JD5ZQ6X8M9N0P1Q2R3S4T5V5");
    ck_assert_ptr_nonnull (doc);
    json_t *items = json_object_get (doc, "items");
    ck_assert_uint_eq (json_array_size (items), 2);
    json_t *second = json_array_get (items, 1);
    ck_assert_str_eq (json_string_value (json_object_get (second, "status")), "Queued");
    ck_assert_str_eq (json_string_value (json_object_get (second, "title")), "");
    ck_assert (json_is_null (json_object_get (second, "finishedAt")));
    ck_assert_uint_eq (json_object_size (second), 9);
    ck_assert_str_eq (json_string_value (json_object_get (doc, "nextCursor")),
                      "01JD5ZQ6X8M9N0P1Q2R3S4T5V5");
    json_decref (doc);

    /* the last page, and an empty one */
    doc = render_job_page (jobs, 1, "");
    ck_assert (json_is_null (json_object_get (doc, "nextCursor")));
    json_decref (doc);
    doc = render_job_page (NULL, 0, NULL);
    text = render_dump (doc, NULL);
    ck_assert_str_eq (text, "{\"items\":[],\"nextCursor\":null}");
    free (text);
    json_decref (doc);

    /* the full document carries the title too */
    doc = render_job (&jobs[0]);
    ck_assert_str_eq (json_string_value (json_object_get (doc, "title")), "How bees dance");
    json_decref (doc);

    /* a bad broker answer is a 502 */
    doc = render_problem (502, "the broker sent a malformed answer", "c-3", NULL);
    ck_assert_str_eq (json_string_value (json_object_get (doc, "title")), "Bad gateway");
    ck_assert_str_eq (json_string_value (json_object_get (doc, "type")),
                      "/problems/bad-gateway");
    json_decref (doc);
    proto_msg_reset (&jobs[0]);
    proto_msg_reset (&jobs[1]);
}
END_TEST

START_TEST (test_keepalive_comment)
{
    char out[SSE_KEEPALIVE_MAX];
    int n = sse_render_keepalive (out, sizeof out, INT64_C (1700000000999999));
    ck_assert_int_eq (n, (int) strlen (": keepalive 2023-11-14T22:13:20Z\n\n"));
    ck_assert_str_eq (out, ": keepalive 2023-11-14T22:13:20Z\n\n");
    char small[10];
    ck_assert_int_eq (sse_render_keepalive (small, sizeof small, 0), -ENOSPC);
}
END_TEST

START_TEST (test_last_event_id_parsing)
{
    uint64_t seq = 77;
    ck_assert_int_eq (sse_parse_last_event_id ("0", 1, &seq), 0);
    ck_assert_uint_eq (seq, 0);
    ck_assert_int_eq (sse_parse_last_event_id ("42", 2, &seq), 0);
    ck_assert_uint_eq (seq, 42);
    ck_assert_int_eq (sse_parse_last_event_id ("9223372036854775807", 19, &seq), 0);
    ck_assert_uint_eq (seq, INT64_MAX);

    /* the length counts, not the NUL */
    ck_assert_int_eq (sse_parse_last_event_id ("123", 2, &seq), 0);
    ck_assert_uint_eq (seq, 12);

    seq = 5;
    const char *bad[] = { "", "-1", "4x", "x4", " 4", "4 ", "+4", "1.0", "0x10" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg (sse_parse_last_event_id (bad[i], strlen (bad[i]), &seq) == -EINVAL,
                       "accepted '%s'", bad[i]);
    ck_assert_int_eq (sse_parse_last_event_id ("9223372036854775808", 19, &seq), -ERANGE);
    ck_assert_int_eq (sse_parse_last_event_id ("99999999999999999999999", 23, &seq),
                      -ERANGE);
    ck_assert_int_eq (sse_parse_last_event_id (NULL, 0, &seq), -EINVAL);
    ck_assert_uint_eq (seq, 5);
}
END_TEST

static route_result_t
s_route (const char *method, const char *path, route_t *route)
{
    return route_match (method, path, strlen (path), route);
}

START_TEST (test_routing_extracts_job_ids)
{
    route_t route;
    ck_assert_int_eq (s_route ("GET", "/healthz", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_HEALTHZ);
    ck_assert_str_eq (route.job, "");
    ck_assert_int_eq (s_route ("GET", "/readyz", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_READYZ);
    ck_assert_int_eq (s_route ("POST", "/api/jobs", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_SUBMIT);
    ck_assert_int_eq (s_route ("POST", "/api/quick/demo", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_QUICK_DEMO);
    ck_assert_int_eq (s_route ("GET", "/api/jobs", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_LIST);
    ck_assert_str_eq (route.job, "");
    ck_assert_int_eq (s_route ("POST", "/api/jobs/" JOB "/cancel", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_CANCEL);
    ck_assert_str_eq (route.job, JOB);
    ck_assert_int_eq (s_route ("POST", "/api/jobs/" JOB "/retry", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_RETRY);
    ck_assert_str_eq (route.job, JOB);
    ck_assert_int_eq (s_route ("POST", "/api/jobs/nope/cancel", &route), ROUTE_BAD_JOB_ID);

    ck_assert_int_eq (s_route ("GET", "/api/jobs/" JOB, &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_GET);
    ck_assert_str_eq (route.job, JOB);
    ck_assert_int_eq (s_route ("GET", "/api/jobs/" JOB "/events", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_EVENTS);
    ck_assert_str_eq (route.job, JOB);

    /* only path[0..len) counts */
    const char *longer = "/api/jobs/" JOB "/events/extra";
    ck_assert_int_eq (route_match ("GET", longer, strlen (longer) - 6, &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_EVENTS);
}
END_TEST

START_TEST (test_routing_rejects_malformed_ids)
{
    route_t route;
    const char *bad[] = {
        "nope",
        "01jd5zq6x8m9n0p1q2r3s4t5v6",  /* lower case */
        JOB "0",                        /* 27 characters */
        "01JD5ZQ6X8M9N0P1Q2R3S4T5V",   /* 25 */
        "01JD5ZQ6X8M9N0P1Q2R3S4T5VU",  /* U is not Crockford base32 */
        "81JD5ZQ6X8M9N0P1Q2R3S4T5V6",  /* timestamp beyond 48 bits */
        "%2e%2e%2fetc",                 /* raw: one segment, not a path */
        "01JD5ZQ6X8M9N0P1Q2R3S4T5V%36",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char path[128];
        snprintf (path, sizeof path, "/api/jobs/%s", bad[i]);
        ck_assert_msg (s_route ("GET", path, &route) == ROUTE_BAD_JOB_ID, "%s", path);
        ck_assert_str_eq (route.job, "");
        snprintf (path, sizeof path, "/api/jobs/%s/events", bad[i]);
        ck_assert_msg (s_route ("GET", path, &route) == ROUTE_BAD_JOB_ID, "%s", path);
    }
}
END_TEST

START_TEST (test_routing_unknown_paths_and_methods)
{
    route_t route;
    const char *missing[] = {
        "/api", "/api/", "/api/jobs/", "/api/jobs//events",
        "/api/nothing", "/api/jobs/" JOB "/", "/api/jobs/" JOB "/unknown",
        "/api/jobs/" JOB "/events/", "/api/quick", "/api/jobs/../jobs",
        "/api/events/", "/api/events/x",
    };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
        ck_assert_msg (s_route ("GET", missing[i], &route) == ROUTE_NOT_FOUND, "%s",
                       missing[i]);
    /* outside /api every other path may be a file of the web UI; the
       server decides, and refuses methods other than GET and HEAD */
    const char *web[] = { "/", "", "/healthz/", "//api/jobs", "/API/JOBS", "/index.html",
                          "/apix", "/assets/app.js" };
    for (size_t i = 0; i < sizeof web / sizeof *web; i++) {
        ck_assert_msg (s_route ("GET", web[i], &route) == ROUTE_MATCHED, "%s", web[i]);
        ck_assert_int_eq (route.id, ROUTE_WEB);
        ck_assert_int_eq (s_route ("HEAD", web[i], &route), ROUTE_MATCHED);
        ck_assert_int_eq (s_route ("POST", web[i], &route), ROUTE_METHOD_NOT_ALLOWED);
        ck_assert_str_eq (route.allow, "GET, HEAD");
    }
    ck_assert_int_eq (s_route ("GET", "/api/events", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_EVENTS);
    ck_assert_int_eq (s_route ("POST", "/api/events", &route), ROUTE_METHOD_NOT_ALLOWED);
    /* OPTIONS on an endpoint is the CORS preflight, naming its methods */
    ck_assert_int_eq (s_route ("OPTIONS", "/api/jobs", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_PREFLIGHT);
    ck_assert_str_eq (route.allow, "GET, POST");
    ck_assert_int_eq (s_route ("OPTIONS", "/api/jobs/" JOB "/events", &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_PREFLIGHT);
    ck_assert_int_eq (s_route ("OPTIONS", "/api/nothing", &route), ROUTE_NOT_FOUND);

    ck_assert_int_eq (s_route ("DELETE", "/api/jobs", &route), ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "GET, POST");
    ck_assert_int_eq (s_route ("GET", "/api/jobs/" JOB "/cancel", &route),
                      ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "POST");
    ck_assert_int_eq (s_route ("DELETE", "/api/jobs/" JOB "/retry", &route),
                      ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "POST");
    ck_assert_int_eq (s_route ("GET", "/api/quick/demo", &route), ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "POST");
    ck_assert_int_eq (s_route ("POST", "/healthz", &route), ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "GET");
    /* the method is judged before the id */
    ck_assert_int_eq (s_route ("PUT", "/api/jobs/nope/events", &route),
                      ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "GET");
    ck_assert_int_eq (s_route ("get", "/healthz", &route), ROUTE_METHOD_NOT_ALLOWED);
}
END_TEST

START_TEST (test_problem_document)
{
    request_errors_t errors = { .count = 1 };
    snprintf (errors.items[0].field, sizeof errors.items[0].field, "brief.topic");
    snprintf (errors.items[0].message, sizeof errors.items[0].message, "is required");
    json_t *doc = render_problem (400, "brief.topic: is required", "c-1", &errors);
    ck_assert_ptr_nonnull (doc);
    char *text = render_dump (doc, NULL);
    ck_assert_str_eq (text, "{\"type\":\"/problems/invalid-request\",\"title\":\"Invalid "
                            "request\",\"status\":400,\"detail\":\"brief.topic: is "
                            "required\",\"correlationId\":\"c-1\",\"errors\":[{\"field\":"
                            "\"brief.topic\",\"message\":\"is required\"}]}");
    free (text);
    json_decref (doc);

    doc = render_problem (503, "the broker is unreachable", "c-2", NULL);
    ck_assert_int_eq (json_integer_value (json_object_get (doc, "status")), 503);
    ck_assert_ptr_null (json_object_get (doc, "errors"));
    json_decref (doc);
}
END_TEST

/* ------------------------------------------------------------------ hub */

typedef struct {
    int sleeps;
    int wakes;
} wake_counter_t;

static void
s_count_sleep (void *arg)
{
    ((wake_counter_t *) arg)->sleeps++;
}

static void
s_count_wake (void *arg)
{
    ((wake_counter_t *) arg)->wakes++;
}

#define T0 INT64_C (1700000000000000)

static hub_t *
s_hub (size_t ring_events, size_t stream_max_events)
{
    hub_limits_t limits;
    hub_limits_default (&limits);
    limits.ring_events = ring_events;
    limits.stream_max_events = stream_max_events;
    limits.keepalive_us = 1000000;
    hub_t *hub = hub_new (&limits);
    ck_assert_ptr_nonnull (hub);
    return hub;
}

/*  Publishes seqs first..last as frames "<seq>;", the last one terminal
    when asked. */
static void
s_publish_at (hub_t *hub, uint64_t first, uint64_t last, bool terminal_last,
              int64_t now_us)
{
    for (uint64_t seq = first; seq <= last; seq++) {
        char text[32];
        int len = snprintf (text, sizeof text, "%llu;", (unsigned long long) seq);
        hub_event_t *ev = hub_event_new (seq, terminal_last && seq == last, text,
                                         (size_t) len);
        ck_assert_ptr_nonnull (ev);
        ck_assert_int_eq (hub_publish (hub, JOB, ev, now_us), 0);
        hub_event_unref (&ev);
        ck_assert_ptr_null (ev);
    }
}

static void
s_publish (hub_t *hub, uint64_t first, uint64_t last, bool terminal_last)
{
    s_publish_at (hub, first, last, terminal_last, T0);
}

/*  Reads everything pending; returns it as a string (static buffer). */
static const char *
s_drain (hub_stream_t *stream, ssize_t *last_rc)
{
    static char text[4096];
    size_t n = 0;
    ssize_t rc;
    /* small reads on purpose: frames are cut across calls */
    while ((rc = hub_stream_read (stream, text + n, 3, T0)) > 0)
        n += (size_t) rc;
    text[n] = '\0';
    *last_rc = rc;
    return text;
}

START_TEST (test_hub_replays_after_last_event_id_then_goes_live)
{
    hub_t *hub = s_hub (1024, 4096);
    s_publish (hub, 1, 5, false);
    wake_counter_t counter = { 0, 0 };
    hub_stream_t *stream = hub_stream_new ("c-1", "R;", s_count_sleep, s_count_wake,
                                           &counter, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 2), 0);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "R;3;4;5;");
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (counter.sleeps, 1);

    /* a live event wakes the sleeping stream once */
    s_publish (hub, 6, 6, false);
    ck_assert_int_eq (counter.wakes, 1);
    ck_assert_str_eq (s_drain (stream, &rc), "6;");
    ck_assert_int_eq (counter.sleeps, 2);

    /* duplicates are ignored; the terminal event ends the stream */
    hub_event_t *dup = hub_event_new (6, false, "6;", 2);
    ck_assert_int_eq (hub_publish (hub, JOB, dup, T0), -EALREADY);
    hub_event_unref (&dup);
    s_publish (hub, 7, 7, true);
    ck_assert_str_eq (s_drain (stream, &rc), "7;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);
    ck_assert_ptr_null (stream);

    /* Last-Event-ID 0 replays from seq 1; at the end nothing is left */
    stream = hub_stream_new ("c-2", NULL, s_count_sleep, s_count_wake, &counter, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 0), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "1;2;3;4;5;6;7;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);
    stream = hub_stream_new ("c-3", NULL, s_count_sleep, s_count_wake, &counter, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 7), -ENODATA);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 9), -ENODATA);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
    ck_assert_ptr_null (hub);
}
END_TEST

START_TEST (test_hub_refuses_what_its_ring_cannot_cover)
{
    hub_t *hub = s_hub (4, 4096);
    wake_counter_t counter = { 0, 0 };
    hub_stream_t *stream = hub_stream_new ("c", NULL, s_count_sleep, s_count_wake,
                                           &counter, T0);
    /* a job never seen */
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 0), -ERANGE);
    /* the ring keeps the last 4 of 10: 7..10 */
    s_publish (hub, 1, 10, false);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 5), -ERANGE);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 6), 0);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "7;8;9;10;");
    hub_stream_destroy (&stream);

    /* a gap empties the ring, so nothing before it is claimed */
    s_publish (hub, 13, 13, false);
    stream = hub_stream_new ("c", NULL, s_count_sleep, s_count_wake, &counter, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 10), -ERANGE);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 12), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "13;");
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_hub_snapshot_then_newer_events)
{
    hub_t *hub = s_hub (1024, 4096);
    wake_counter_t counter = { 0, 0 };
    s_publish (hub, 1, 4, false);
    hub_event_t *snapshot = hub_event_new (3, false, "S3;", 3);
    hub_stream_t *stream = hub_stream_new ("c", "R;", s_count_sleep, s_count_wake,
                                           &counter, T0);
    ck_assert_int_eq (hub_stream_attach (hub, stream, JOB, snapshot, 3, false), 0);
    hub_event_unref (&snapshot);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "R;S3;4;");
    ck_assert_int_eq (rc, 0);
    s_publish (hub, 5, 5, true);
    ck_assert_str_eq (s_drain (stream, &rc), "5;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);

    /* a finished job: the snapshot alone */
    snapshot = hub_event_new (5, true, "S5;", 3);
    stream = hub_stream_new ("c", NULL, s_count_sleep, s_count_wake, &counter, T0);
    ck_assert_int_eq (hub_stream_attach (hub, stream, JOB, snapshot, 5, true), 0);
    hub_event_unref (&snapshot);
    ck_assert_str_eq (s_drain (stream, &rc), "S5;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_hub_keepalive_cut_eviction_and_close)
{
    hub_t *hub = s_hub (1024, 4);
    wake_counter_t idle = { 0, 0 }, slow = { 0, 0 };
    s_publish (hub, 1, 1, false);
    hub_stream_t *a = hub_stream_new ("idle", NULL, s_count_sleep, s_count_wake, &idle, T0);
    hub_stream_t *b = hub_stream_new ("slow", NULL, s_count_sleep, s_count_wake, &slow, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, a, JOB, 1), 0);
    ck_assert_int_eq (hub_stream_attach_after (hub, b, JOB, 1), 0);
    char buf[128];
    ck_assert_int_eq (hub_stream_read (a, buf, sizeof buf, T0), 0);

    /* idle for the keepalive period: woken for a comment */
    hub_tick (hub, T0 + 999999);
    ck_assert_int_eq (idle.wakes, 0);
    hub_tick (hub, T0 + 1000000);
    ck_assert_int_eq (idle.wakes, 1);
    ssize_t n = hub_stream_read (a, buf, sizeof buf, T0 + 1000000);
    ck_assert_int_gt (n, 0);
    buf[n] = '\0';
    ck_assert_str_eq (buf, ": keepalive 2023-11-14T22:13:21Z\n\n");
    ck_assert_int_eq (hub_stream_read (a, buf, sizeof buf, T0 + 1000001), 0);

    /* a stream more than 4 events behind that has taken nothing for the
       stall time is cut; one that keeps up is not, and a burst between
       two reads is not a slow client */
    ssize_t rc;
    s_publish (hub, 2, 4, false);
    ck_assert_int_eq (idle.wakes, 2);
    ck_assert_str_eq (s_drain (a, &rc), "2;3;4;");
    s_publish (hub, 5, 6, false);
    s_publish_at (hub, 7, 7, false, T0 + 999999); /* b stalled just short */
    ck_assert_str_eq (s_drain (a, &rc), "5;6;7;");
    s_publish_at (hub, 8, 8, false, T0 + 1000000);
    ck_assert_int_eq (hub_stream_read (b, buf, sizeof buf, T0), -ECONNABORTED);
    ck_assert_int_eq (slow.wakes, 0);
    ck_assert_str_eq (s_drain (a, &rc), "8;");
    ck_assert_int_eq (rc, 0);

    /* shutdown wakes the sleeper, which says why and then ends */
    hub_close (hub);
    ck_assert_int_eq (idle.wakes, 5);
    rc = hub_stream_read (a, buf, sizeof buf, T0);
    ck_assert_int_eq (rc, (ssize_t) strlen (SSE_SHUTDOWN_FRAME));
    ck_assert_int_eq (memcmp (buf, SSE_SHUTDOWN_FRAME, (size_t) rc), 0);
    ck_assert_int_eq (hub_stream_read (a, buf, sizeof buf, T0), -ENODATA);
    hub_stream_t *late = hub_stream_new ("late", NULL, s_count_sleep, s_count_wake, &idle, T0);
    ck_assert_int_eq (hub_stream_attach_after (hub, late, JOB, 0), -ESHUTDOWN);
    hub_stream_destroy (&late);
    hub_stream_destroy (&a);
    hub_stream_destroy (&b);
    hub_destroy (&hub);

    /* a finished job nobody watches is forgotten after its time */
    hub = s_hub (1024, 4096);
    s_publish (hub, 1, 3, true);
    ck_assert_uint_eq (hub_job_count (hub), 1);
    hub_tick (hub, T0 + 60 * INT64_C (1000000));
    ck_assert_uint_eq (hub_job_count (hub), 1);
    hub_tick (hub, T0 + 301 * INT64_C (1000000));
    ck_assert_uint_eq (hub_job_count (hub), 0);
    hub_destroy (&hub);
}
END_TEST

/*  A stream of every job gets each job's events as they are recorded,
    without their id lines, and outlives any one job's end. */
START_TEST (test_hub_stream_of_all_jobs)
{
    hub_limits_t limits;
    hub_limits_default (&limits);
    hub_t *hub = hub_new (&limits);
    wake_counter_t counts = { 0, 0 };
    hub_stream_t *all = hub_stream_new ("all", NULL, s_count_sleep, s_count_wake, &counts, T0);
    ck_assert_int_eq (hub_stream_attach_all (hub, all), 0);
    ck_assert_int_eq (hub_stream_attach_all (hub, all), -EBUSY);
    char buf[256];
    ck_assert_int_eq (hub_stream_read (all, buf, sizeof buf, T0), 0); /* asleep */

    const char *a = "id: 1\nevent: job-status\ndata: {\"jobId\":\"A\"}\n\n";
    const char *b = "id: 7\nevent: job-completed\ndata: {\"jobId\":\"B\"}\n\n";
    hub_event_t *ev = hub_event_new (1, false, a, strlen (a));
    ck_assert_int_eq (hub_publish (hub, JOB, ev, T0), 0);
    hub_event_unref (&ev);
    ck_assert_int_eq (counts.wakes, 1);
    ev = hub_event_new (7, true, b, strlen (b));
    ck_assert_int_eq (hub_publish (hub, "01JD5ZQ6X8M9N0P1Q2R3S4T5V7", ev, T0), 0);
    hub_event_unref (&ev);

    ssize_t rc;
    ck_assert_str_eq (s_drain (all, &rc),
                      "event: job-status\ndata: {\"jobId\":\"A\"}\n\n"
                      "event: job-completed\ndata: {\"jobId\":\"B\"}\n\n");
    ck_assert_int_eq (rc, 0); /* a job's end does not end it */

    /* a reader 4 times past its byte cap is cut, stalled or not */
    hub_stream_destroy (&all);
    hub_destroy (&hub);
    limits.stream_max_bytes = 100;
    hub = hub_new (&limits);
    all = hub_stream_new ("all", NULL, s_count_sleep, s_count_wake, &counts, T0);
    ck_assert_int_eq (hub_stream_attach_all (hub, all), 0);
    s_publish (hub, 1, 40, false);
    ck_assert_int_gt (hub_stream_read (all, buf, 10, T0), 0);
    s_publish (hub, 41, 200, false);
    ck_assert_int_eq (hub_stream_read (all, buf, sizeof buf, T0), -ECONNABORTED);

    /* shutdown ends it after a last comment */
    hub_stream_destroy (&all);
    all = hub_stream_new ("all", NULL, s_count_sleep, s_count_wake, &counts, T0);
    ck_assert_int_eq (hub_stream_attach_all (hub, all), 0);
    hub_close (hub);
    ck_assert_int_eq (hub_stream_read (all, buf, sizeof buf, T0),
                      (ssize_t) strlen (SSE_SHUTDOWN_FRAME));
    ck_assert_int_eq (hub_stream_read (all, buf, sizeof buf, T0), -ENODATA);
    hub_stream_t *late = hub_stream_new ("late", NULL, s_count_sleep, s_count_wake, &counts, T0);
    ck_assert_int_eq (hub_stream_attach_all (hub, late), -ESHUTDOWN);
    hub_stream_destroy (&late);
    hub_stream_destroy (&all);
    hub_destroy (&hub);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("gateway_sse");
    TCase *tc = tcase_create ("sse");
    tcase_add_test (tc, test_step_progress_frame);
    tcase_add_test (tc, test_job_completed_frame);
    tcase_add_test (tc, test_other_kinds_carry_their_keys);
    tcase_add_test (tc, test_snapshot_frame_and_document);
    tcase_add_test (tc, test_job_summary_and_page);
    tcase_add_test (tc, test_keepalive_comment);
    tcase_add_test (tc, test_last_event_id_parsing);
    suite_add_tcase (s, tc);
    TCase *routes = tcase_create ("route");
    tcase_add_test (routes, test_routing_extracts_job_ids);
    tcase_add_test (routes, test_routing_rejects_malformed_ids);
    tcase_add_test (routes, test_routing_unknown_paths_and_methods);
    tcase_add_test (routes, test_problem_document);
    suite_add_tcase (s, routes);
    TCase *hub = tcase_create ("hub");
    tcase_add_test (hub, test_hub_replays_after_last_event_id_then_goes_live);
    tcase_add_test (hub, test_hub_refuses_what_its_ring_cannot_cover);
    tcase_add_test (hub, test_hub_snapshot_then_newer_events);
    tcase_add_test (hub, test_hub_keepalive_cut_eviction_and_close);
    tcase_add_test (hub, test_hub_stream_of_all_jobs);
    suite_add_tcase (s, hub);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
