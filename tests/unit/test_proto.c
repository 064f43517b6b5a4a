#define _GNU_SOURCE /* memmem */
/*  Unit tests of the message codec: every type and event kind survives a
    round trip, and malformed bodies are rejected with a reason. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char *JOB = "01JD5ZQ6X8M9N0P1Q2R3S4T5V6";

/*  Encodes msg, decodes the bytes into out, and fails the test on error. */
static void
s_round_trip (const proto_msg_t *msg, proto_msg_t *out)
{
    char *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq (proto_encode_buf (msg, &buf, &len), 0);
    char err[128] = "";
    int rc = proto_decode (buf, len, out, err, sizeof err);
    ck_assert_msg (rc == 0, "decode failed: %s", err);
    ck_assert_int_eq (out->type, msg->type);
    free (buf);
}

static int
s_decode_raw (const char *bytes, size_t len, char *err, size_t err_size)
{
    proto_msg_t msg;
    int rc = proto_decode (bytes, len, &msg, err, err_size);
    if (rc == 0)
        proto_msg_reset (&msg);
    return rc;
}

START_TEST (test_submit_round_trip)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_SUBMIT);
    snprintf (msg.cid, sizeof msg.cid, "c-123");
    snprintf (msg.idem_key, sizeof msg.idem_key, "key-1");
    const char *spec = "{\"brief\":{\"topic\":\"Bees — and their dances\"}}";
    ck_assert_int_eq (proto_msg_set_spec (&msg, spec, strlen (spec)), 0);
    s_round_trip (&msg, &out);
    ck_assert_str_eq (out.cid, "c-123");
    ck_assert_str_eq (out.idem_key, "key-1");
    ck_assert_str_eq (out.spec, spec);
    ck_assert_uint_eq (out.spec_len, strlen (spec));
    proto_msg_reset (&msg);
    proto_msg_reset (&out);
}
END_TEST

START_TEST (test_requests_round_trip)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_GET);
    snprintf (msg.cid, sizeof msg.cid, "c-1");
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    s_round_trip (&msg, &out);
    ck_assert_str_eq (out.job, JOB);
    proto_msg_reset (&out);

    proto_type_t simple[] = { PROTO_PING, PROTO_PONG };
    for (size_t i = 0; i < 2; i++) {
        proto_msg_init (&msg, simple[i]);
        snprintf (msg.cid, sizeof msg.cid, "c-%zu", i);
        s_round_trip (&msg, &out);
        ck_assert_str_eq (out.cid, msg.cid);
        proto_msg_reset (&out);
    }

    proto_msg_init (&msg, PROTO_ERROR);
    snprintf (msg.cid, sizeof msg.cid, "c-9");
    msg.error_status = 404;
    snprintf (msg.code, sizeof msg.code, "NotFound");
    snprintf (msg.message, sizeof msg.message, "no such job");
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.error_status, 404);
    ck_assert_str_eq (out.code, "NotFound");
    ck_assert_str_eq (out.message, "no such job");
    proto_msg_reset (&out);
}
END_TEST

START_TEST (test_job_snapshot_round_trip)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_JOB);
    snprintf (msg.cid, sizeof msg.cid, "c-2");
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    msg.status = JOB_DONE;
    snprintf (msg.phase, sizeof msg.phase, "complete");
    msg.percent = 100;
    msg.attempt = 2;
    msg.seq = 57;
    msg.step = STEP_RENDER;
    for (int i = 0; i < STEP_COUNT; i++)
        msg.steps[i] = STEP_DONE;
    msg.steps[STEP_PLAN] = STEP_SKIPPED;
    msg.created_us = 1700000000000000;
    msg.started_us = 1700000000500000;
    msg.finished_us = 1700000009000000;
    ck_assert_int_eq (proto_msg_add_artifact (&msg, "video.mp4", "video.mp4",
                                              "video/mp4", 1234567), 0);
    ck_assert_int_eq (proto_msg_add_artifact (&msg, "video.vtt", "video.vtt",
                                              "text/vtt", 321), 0);
    snprintf (msg.output_video, sizeof msg.output_video, "video.mp4");
    snprintf (msg.output_subtitle, sizeof msg.output_subtitle, "video.srt");
    msg.output_size_bytes = 1234567;
    msg.output_duration_s = 31.5;
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.status, JOB_DONE);
    ck_assert_str_eq (out.phase, "complete");
    ck_assert_double_eq (out.percent, 100);
    ck_assert_int_eq (out.attempt, 2);
    ck_assert_uint_eq (out.seq, 57);
    ck_assert_int_eq (out.step, STEP_RENDER);
    ck_assert_int_eq (out.steps[STEP_PLAN], STEP_SKIPPED);
    ck_assert_int_eq (out.steps[STEP_RENDER], STEP_DONE);
    ck_assert_int_eq (out.created_us, msg.created_us);
    ck_assert_int_eq (out.finished_us, msg.finished_us);
    ck_assert_uint_eq (out.artifact_count, 2);
    ck_assert_str_eq (out.artifacts[1].name, "video.vtt");
    ck_assert_str_eq (out.artifacts[1].type, "text/vtt");
    ck_assert_int_eq (out.artifacts[0].size_bytes, 1234567);
    ck_assert_str_eq (out.output_subtitle, "video.srt");
    ck_assert_double_eq (out.output_duration_s, 31.5);
    ck_assert_int_eq (out.queue_position, -1);
    proto_msg_reset (&out);
}
END_TEST

START_TEST (test_worker_messages_round_trip)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_DISPATCH);
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    msg.attempt = 3;
    msg.steps[STEP_PLAN] = STEP_DONE;
    ck_assert_int_eq (proto_msg_set_spec (&msg, "{}", 2), 0);
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.attempt, 3);
    ck_assert_int_eq (out.steps[STEP_PLAN], STEP_DONE);
    ck_assert_int_eq (out.steps[STEP_TTS], STEP_PENDING);
    ck_assert_str_eq (out.spec, "{}");
    proto_msg_reset (&msg);
    proto_msg_reset (&out);

    proto_type_t types[] = { PROTO_HEARTBEAT, PROTO_ACCEPTED, PROTO_DECLINED };
    for (size_t i = 0; i < 3; i++) {
        proto_msg_init (&msg, types[i]);
        snprintf (msg.worker, sizeof msg.worker, "host-42");
        snprintf (msg.job, sizeof msg.job, "%s", JOB);
        msg.attempt = 1;
        msg.slots_free = 0;
        msg.slots_total = 2;
        snprintf (msg.code, sizeof msg.code, "Full");
        s_round_trip (&msg, &out);
        ck_assert_str_eq (out.worker, "host-42");
        ck_assert_int_eq (out.slots_free, 0);
        ck_assert_int_eq (out.slots_total, 2);
        if (types[i] != PROTO_HEARTBEAT)
            ck_assert_str_eq (out.job, JOB);
        if (types[i] == PROTO_DECLINED)
            ck_assert_str_eq (out.code, "Full");
        proto_msg_reset (&out);
    }

    proto_msg_init (&msg, PROTO_CANCEL);
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    msg.attempt = 1;
    s_round_trip (&msg, &out);
    ck_assert_str_eq (out.job, JOB);
    proto_msg_reset (&out);
}
END_TEST

START_TEST (test_queries_round_trip)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_LIST);
    snprintf (msg.cid, sizeof msg.cid, "c-3");
    msg.limit = 50;
    snprintf (msg.filter, sizeof msg.filter, "Running");
    snprintf (msg.cursor, sizeof msg.cursor, "%s", JOB);
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.limit, 50);
    ck_assert_str_eq (out.filter, "Running");
    ck_assert_str_eq (out.cursor, JOB);
    proto_msg_reset (&out);

    proto_msg_init (&msg, PROTO_REPLAY);
    snprintf (msg.cid, sizeof msg.cid, "c-4");
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    msg.seq = 41;
    msg.limit = 1000;
    s_round_trip (&msg, &out);
    ck_assert_uint_eq (out.seq, 41);
    ck_assert_int_eq (out.limit, 1000);
    proto_msg_reset (&out);

    proto_type_t job_requests[] = { PROTO_CANCEL_JOB, PROTO_RETRY_JOB };
    for (size_t i = 0; i < 2; i++) {
        proto_msg_init (&msg, job_requests[i]);
        snprintf (msg.cid, sizeof msg.cid, "c-5");
        snprintf (msg.job, sizeof msg.job, "%s", JOB);
        s_round_trip (&msg, &out);
        ck_assert_str_eq (out.job, JOB);
        proto_msg_reset (&out);
    }

    proto_msg_init (&msg, PROTO_PAGE);
    snprintf (msg.cid, sizeof msg.cid, "c-6");
    msg.count = 20;
    snprintf (msg.cursor, sizeof msg.cursor, "%s", JOB);
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.count, 20);
    ck_assert_str_eq (out.cursor, JOB);
    proto_msg_reset (&out);

    proto_msg_init (&msg, PROTO_EVENTS);
    snprintf (msg.cid, sizeof msg.cid, "c-7");
    snprintf (msg.job, sizeof msg.job, "%s", JOB);
    msg.count = 0;
    msg.more = true;
    s_round_trip (&msg, &out);
    ck_assert_int_eq (out.count, 0);
    ck_assert (out.more);
    proto_msg_reset (&out);

    /* a list without a limit is refused */
    proto_msg_init (&msg, PROTO_LIST);
    snprintf (msg.cid, sizeof msg.cid, "c-8");
    char *buf = NULL;
    size_t len;
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), -EINVAL);
}
END_TEST

START_TEST (test_heartbeat_names_running_jobs)
{
    proto_msg_t msg, out;
    proto_msg_init (&msg, PROTO_HEARTBEAT);
    snprintf (msg.worker, sizeof msg.worker, "w-2");
    msg.slots_total = 4;
    msg.slots_free = 2;
    ck_assert_int_eq (proto_msg_add_running (&msg, JOB, 1), 0);
    ck_assert_int_eq (proto_msg_add_running (&msg, "01JD5ZQ6X8M9N0P1Q2R3S4T5V7", 3), 0);
    ck_assert_int_eq (proto_msg_add_running (&msg, "bogus", 1), -ENOSPC);
    ck_assert_int_eq (proto_msg_add_running (&msg, JOB, 0), -ENOSPC);
    s_round_trip (&msg, &out);
    ck_assert_uint_eq (out.running_count, 2);
    ck_assert_str_eq (out.running[0].job, JOB);
    ck_assert_int_eq (out.running[1].attempt, 3);
    proto_msg_reset (&out);

    /* an idle worker's heartbeat names none */
    proto_msg_init (&msg, PROTO_HEARTBEAT);
    snprintf (msg.worker, sizeof msg.worker, "w-2");
    msg.slots_total = 1;
    msg.slots_free = 1;
    s_round_trip (&msg, &out);
    ck_assert_uint_eq (out.running_count, 0);

    /* a running entry with a bad id is refused by the decoder */
    const char body[] = "\x86\xa1v\x01\xa1t\xa9heartbeat\xa6worker\xa1w"
                        "\xaaslots_free\x00\xabslots_total\x01"
                        "\xa7running\x91\x82\xa3job\xa3xyz\xa7" "attempt\x01";
    char err[128];
    ck_assert_int_eq (proto_decode (body, sizeof body - 1, &out, err, sizeof err),
                      -EPROTO);
    ck_assert_msg (strstr (err, "running"), "%s", err);
}
END_TEST

static void
s_event (proto_msg_t *msg, proto_event_kind_t kind)
{
    proto_msg_init (msg, PROTO_EVENT);
    msg->kind = kind;
    snprintf (msg->job, sizeof msg->job, "%s", JOB);
    msg->attempt = 1;
    msg->ts_us = 1700000000123456;
    snprintf (msg->worker, sizeof msg->worker, "w1");
}

START_TEST (test_every_event_kind_round_trip)
{
    proto_msg_t msg, out;
    for (int k = EVENT_NONE + 1; k < EVENT_KIND_COUNT; k++) {
        s_event (&msg, (proto_event_kind_t) k);
        msg.seq = (uint64_t) k;
        msg.status = JOB_RUNNING;
        msg.step = STEP_VISUALS;
        msg.step_status = STEP_RUNNING;
        snprintf (msg.phase, sizeof msg.phase, "visuals");
        msg.percent = 50;
        msg.step_percent = 50;
        msg.eta_s = 12;
        msg.queue_position = 3;
        snprintf (msg.code, sizeof msg.code, "FontShrunk");
        snprintf (msg.message, sizeof msg.message, "Drawing slide 3 of 6");
        msg.retryable = true;
        s_round_trip (&msg, &out);
        ck_assert_int_eq (out.kind, k);
        ck_assert_uint_eq (out.seq, (uint64_t) k);
        ck_assert_int_eq (out.ts_us, msg.ts_us);
        ck_assert_str_eq (out.worker, "w1");
        switch (k) {
        case EVENT_JOB_STATUS:
            ck_assert_int_eq (out.status, JOB_RUNNING);
            ck_assert_int_eq (out.queue_position, 3);
            ck_assert_double_eq (out.percent, 50);
            break;
        case EVENT_STEP_STATUS:
            ck_assert_int_eq (out.step, STEP_VISUALS);
            ck_assert_int_eq (out.step_status, STEP_RUNNING);
            break;
        case EVENT_STEP_PROGRESS:
            ck_assert_double_eq (out.step_percent, 50);
            ck_assert_int_eq (out.eta_s, 12);
            ck_assert_str_eq (out.message, "Drawing slide 3 of 6");
            break;
        case EVENT_ERROR:
            ck_assert (out.retryable);
            /* fall through */
        case EVENT_WARNING:
        case EVENT_JOB_FAILED:
            ck_assert_str_eq (out.code, "FontShrunk");
            break;
        case EVENT_JOB_CANCELLED:
            ck_assert_int_eq (out.step, STEP_VISUALS);
            break;
        default:
            break;
        }
        /* fields foreign to the kind are not carried */
        if (k != EVENT_JOB_STATUS)
            ck_assert_int_eq (out.queue_position, -1);
        proto_msg_reset (&out);
    }
}
END_TEST

START_TEST (test_encode_refuses_invalid_messages)
{
    proto_msg_t msg;
    char *buf = NULL;
    size_t len;
    s_event (&msg, EVENT_STEP_PROGRESS);
    snprintf (msg.phase, sizeof msg.phase, "tts");
    msg.percent = 101; /* out of range */
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), -EINVAL);

    s_event (&msg, EVENT_STEP_STATUS);
    snprintf (msg.job, sizeof msg.job, "not-a-job");
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), -EINVAL);

    proto_msg_init (&msg, PROTO_SUBMIT); /* no cid, no spec */
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), -EINVAL);
    ck_assert_ptr_null (proto_encode (&msg));
    ck_assert_ptr_null (buf);
}
END_TEST

/*  Hand-written bodies: {"v":1,"t":"ping","cid":"x"} and variations. */
/*  A literal and its length without the final NUL. */
#define RAW(s) s, sizeof s - 1

#define PING_OK "\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\xa1x"

START_TEST (test_decode_accepts_unknown_keys)
{
    const char body[] = "\x84\xa1v\x01\xa1t\xa4ping\xa3" "cid\xa1x\xa2zz\xc3";
    char err[128];
    proto_msg_t msg;
    ck_assert_int_eq (proto_decode (body, sizeof body - 1, &msg, err, sizeof err), 0);
    ck_assert_int_eq (msg.type, PROTO_PING);
    ck_assert_str_eq (msg.cid, "x");
    proto_msg_reset (&msg);
    ck_assert_int_eq (s_decode_raw (PING_OK, sizeof PING_OK - 1, err, sizeof err), 0);
}
END_TEST

START_TEST (test_decode_rejects_malformed)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *reason;
    } cases[] = {
        { RAW ("\x93\x01\x02\x03"), "not a map" },
        { RAW ("\xa4ping"), "not a map" },
        { RAW ("\x82\xa1t\xa4ping\xa3" "cid\xa1x"), "missing key 'v'" },
        { RAW ("\x82\xa1v\x01\xa3" "cid\xa1x"), "missing key 't'" },
        { RAW ("\x83\xa1v\x02\xa1t\xa4ping\xa3" "cid\xa1x"), "unsupported version" },
        { RAW ("\x83\xa1v\x01\xa1t\x07\xa3" "cid\xa1x"), "'t' is not" },
        { RAW ("\x83\xa1v\x01\xa1t\xa4zzzz\xa3" "cid\xa1x"), "unknown type" },
        { RAW ("\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\x05"), "'cid' has a bad value" },
        { RAW ("\x82\xa1v\x01\xa1t\xa4ping"), "missing key 'cid'" },
        { RAW ("\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\xa1x\x00"), "trailing" },
        { RAW ("\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\xa2\xff\xfe"), "bad value" },
        { RAW ("\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\xa0"), "'cid' is empty" },
        { RAW ("\xc1"), "not a msgpack" },
        /* an array header claiming 4 billion elements: refused up front */
        { RAW ("\xdd\xff\xff\xff\xff"), "not a msgpack" },
        { RAW ("\xdf\xff\xff\xff\xff"), "not a msgpack" },
        { RAW ("\x81\xa1v\xdd\x7f\xff\xff\xff"), "not a msgpack" },
        { RAW ("\xdb\xff\xff\xff\xff"), "not a msgpack" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[128] = "";
        int rc = s_decode_raw (cases[i].bytes, cases[i].len, err, sizeof err);
        ck_assert_msg (rc == -EPROTO, "case %zu accepted (rc %d)", i, rc);
        ck_assert_msg (strstr (err, cases[i].reason), "case %zu: '%s' lacks '%s'",
                       i, err, cases[i].reason);
    }
}
END_TEST

START_TEST (test_decode_rejects_wrong_field_types_and_ranges)
{
    proto_msg_t msg, out;
    char *buf;
    size_t len;
    char err[128];

    /* a valid step-progress, then the same with one value corrupted */
    s_event (&msg, EVENT_STEP_PROGRESS);
    snprintf (msg.phase, sizeof msg.phase, "tts");
    msg.step = STEP_TTS;
    msg.percent = 20;
    msg.step_percent = 25;
    snprintf (msg.message, sizeof msg.message, "Speaking");
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), 0);
    ck_assert_int_eq (proto_decode (buf, len, &out, err, sizeof err), 0);
    proto_msg_reset (&out);

    /* "percent" holds 20.0 as a float64: make it 120.0 */
    char *p = memmem (buf, len, "percent\xcb", 8);
    ck_assert_ptr_nonnull (p);
    double big = 120.0;
    uint64_t bits;
    memcpy (&bits, &big, 8);
    for (int i = 0; i < 8; i++)
        p[8 + i] = (char) (bits >> (56 - 8 * i));
    ck_assert_int_eq (proto_decode (buf, len, &out, err, sizeof err), -EPROTO);
    ck_assert_msg (strstr (err, "percent"), "%s", err);

    /* the step name "tts" → "ttz" */
    p = memmem (buf, len, "\xa3tts", 4);
    ck_assert_ptr_nonnull (p);
    memcpy (p, "\xa3ttz", 4);
    ck_assert_int_eq (proto_decode (buf, len, &out, err, sizeof err), -EPROTO);

    /* truncated anywhere: always refused, never a crash */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq (proto_decode (buf, cut, &out, err, sizeof err), -EPROTO);
    free (buf);

    /* a job id that is not one */
    s_event (&msg, EVENT_JOB_CANCELLED);
    ck_assert_int_eq (proto_encode_buf (&msg, &buf, &len), 0);
    p = memmem (buf, len, JOB, JOB_ID_LEN);
    ck_assert_ptr_nonnull (p);
    p[0] = 'U'; /* not in the alphabet */
    ck_assert_int_eq (proto_decode (buf, len, &out, err, sizeof err), -EPROTO);
    ck_assert_msg (strstr (err, "job"), "%s", err);
    free (buf);
}
END_TEST

START_TEST (test_decode_rejects_oversized)
{
    size_t len = PROTO_MAX_MSG_BYTES + 1;
    char *buf = calloc (1, len);
    char err[128];
    proto_msg_t msg;
    ck_assert_int_eq (proto_decode (buf, len, &msg, err, sizeof err), -EMSGSIZE);
    free (buf);

    /* a string longer than its field */
    proto_msg_init (&msg, PROTO_PING);
    char body[200];
    size_t n = 0;
    memcpy (body, "\x83\xa1v\x01\xa1t\xa4ping\xa3" "cid\xd9\x50", 16);
    n = 16;
    memset (body + n, 'a', 0x50);
    n += 0x50;
    ck_assert_int_eq (s_decode_raw (body, n, err, sizeof err), -EPROTO);

    char spec[PROTO_MAX_SPEC_BYTES + 1];
    memset (spec, '{', sizeof spec);
    ck_assert_int_eq (proto_msg_set_spec (&msg, spec, sizeof spec), -EMSGSIZE);
    proto_msg_reset (&msg);
}
END_TEST

START_TEST (test_topics_and_names)
{
    char topic[64];
    ck_assert_int_eq (proto_topic (topic, sizeof topic, PROTO_TOPIC_JOB, JOB), 0);
    ck_assert_str_eq (topic, "job.01JD5ZQ6X8M9N0P1Q2R3S4T5V6");
    ck_assert_int_eq (proto_topic (topic, 8, PROTO_TOPIC_CANCEL, JOB), -ENOSPC);
    ck_assert_str_eq (proto_event_kind_name (EVENT_JOB_CANCELLED), "job-cancelled");
    ck_assert (proto_event_is_terminal (EVENT_JOB_FAILED));
    ck_assert (!proto_event_is_terminal (EVENT_ERROR));
    ck_assert_str_eq (proto_type_name (PROTO_TYPE_COUNT), "?");
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("proto");
    TCase *tc = tcase_create ("codec");
    tcase_add_test (tc, test_submit_round_trip);
    tcase_add_test (tc, test_requests_round_trip);
    tcase_add_test (tc, test_job_snapshot_round_trip);
    tcase_add_test (tc, test_worker_messages_round_trip);
    tcase_add_test (tc, test_queries_round_trip);
    tcase_add_test (tc, test_heartbeat_names_running_jobs);
    tcase_add_test (tc, test_every_event_kind_round_trip);
    tcase_add_test (tc, test_encode_refuses_invalid_messages);
    tcase_add_test (tc, test_decode_accepts_unknown_keys);
    tcase_add_test (tc, test_decode_rejects_malformed);
    tcase_add_test (tc, test_decode_rejects_wrong_field_types_and_ranges);
    tcase_add_test (tc, test_decode_rejects_oversized);
    tcase_add_test (tc, test_topics_and_names);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
