/*  Unit tests of the hub's lossless paths: live events that reveal lost
    messages are held until the broker's events fill the gap, a gap that
    cannot be filled cuts the streams it would skip, and a stream behind
    the ring catches up from broker pages before it follows the hub. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"

#define JOB "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"
#define OTHER "01JD5ZQ6X8M9N0P1Q2R3S4T5V7"
#define T0 INT64_C (1700000000000000)

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

static hub_t *
s_hub (size_t ring_events, size_t stream_max_events)
{
    hub_limits_t limits;
    hub_limits_default (&limits);
    limits.ring_events = ring_events;
    limits.stream_max_events = stream_max_events;
    hub_t *hub = hub_new (&limits);
    ck_assert_ptr_nonnull (hub);
    return hub;
}

/*  An event whose frame is "<seq>;" ("<seq>!;" when terminal). */
static hub_event_t *
s_ev (uint64_t seq, bool terminal)
{
    char text[32];
    int len = snprintf (text, sizeof text, "%llu%s;", (unsigned long long) seq,
                        terminal ? "!" : "");
    hub_event_t *ev = hub_event_new (seq, terminal, text, (size_t) len);
    ck_assert_ptr_nonnull (ev);
    return ev;
}

/*  Offers seq to the hub as a live event; returns hub_offer's result. */
static int
s_offer (hub_t *hub, const char *job, uint64_t seq, uint64_t *fill_after)
{
    hub_event_t *ev = s_ev (seq, false);
    int rc = hub_offer (hub, job, ev, T0, fill_after);
    hub_event_unref (&ev);
    return rc;
}

/*  Builds events first..last (the last terminal when asked) in out. */
static size_t
s_page (hub_event_t **out, uint64_t first, uint64_t last, bool terminal_last)
{
    size_t n = 0;
    for (uint64_t seq = first; seq <= last; seq++)
        out[n++] = s_ev (seq, terminal_last && seq == last);
    return n;
}

static void
s_page_free (hub_event_t **events, size_t count)
{
    for (size_t i = 0; i < count; i++)
        hub_event_unref (&events[i]);
}

static int
s_fill (hub_t *hub, uint64_t first, uint64_t last, uint64_t *fill_after)
{
    hub_event_t *events[64] = { NULL };
    size_t n = s_page (events, first, last, false);
    int rc = hub_fill (hub, JOB, events, n, T0, fill_after);
    s_page_free (events, n);
    return rc;
}

static const char *
s_drain (hub_stream_t *stream, ssize_t *last_rc)
{
    static char text[4096];
    size_t n = 0;
    ssize_t rc;
    while ((rc = hub_stream_read (stream, text + n, 5, T0)) > 0)
        n += (size_t) rc;
    text[n] = '\0';
    *last_rc = rc;
    return text;
}

static hub_stream_t *
s_stream (wake_counter_t *counter)
{
    hub_stream_t *stream = hub_stream_new ("c", NULL, s_count_sleep, s_count_wake,
                                           counter, T0);
    ck_assert_ptr_nonnull (stream);
    return stream;
}

START_TEST (test_gap_holds_live_events_until_filled)
{
    hub_t *hub = s_hub (1024, 4096);
    wake_counter_t counter = { 0, 0 };
    uint64_t fill_after = 0;
    for (uint64_t seq = 1; seq <= 3; seq++)
        ck_assert_int_eq (s_offer (hub, JOB, seq, &fill_after), 0);
    hub_stream_t *stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 3), 0);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "");

    /* 4 and 5 were lost: 6 opens a gap after 3; later events wait too,
       whatever their order; a duplicate of a held one changes nothing */
    ck_assert_int_eq (s_offer (hub, JOB, 6, &fill_after), -EAGAIN);
    ck_assert_uint_eq (fill_after, 3);
    ck_assert_int_eq (s_offer (hub, JOB, 8, &fill_after), -EINPROGRESS);
    ck_assert_int_eq (s_offer (hub, JOB, 7, &fill_after), -EINPROGRESS);
    ck_assert_int_eq (s_offer (hub, JOB, 6, &fill_after), -EINPROGRESS);
    ck_assert_int_eq (s_offer (hub, JOB, 2, &fill_after), -EALREADY);
    ck_assert_int_eq (counter.wakes, 0);
    ck_assert_str_eq (s_drain (stream, &rc), "");

    /* a page that stops short leaves the gap open, one step further */
    ck_assert_int_eq (s_fill (hub, 4, 4, &fill_after), -EAGAIN);
    ck_assert_uint_eq (fill_after, 4);
    ck_assert_int_eq (counter.wakes, 1);
    ck_assert_str_eq (s_drain (stream, &rc), "4;");
    /* the rest (with what is already there and what is held) closes it */
    ck_assert_int_eq (s_fill (hub, 3, 7, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "5;6;7;8;");
    ck_assert_int_eq (s_offer (hub, JOB, 9, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "9;");

    /* the ring holds every event, in order, for the next subscriber */
    hub_stream_t *late = s_stream (&counter);
    ck_assert_int_eq (hub_stream_attach_after (hub, late, JOB, 0), 0);
    ck_assert_str_eq (s_drain (late, &rc), "1;2;3;4;5;6;7;8;9;");

    /* a fill without an open gap records what continues, nothing else */
    ck_assert_int_eq (s_fill (hub, 9, 10, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "10;");
    ck_assert_int_eq (s_fill (hub, 12, 13, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "");
    /* nor for a job the hub does not know */
    hub_event_t *ev = s_ev (1, false);
    ck_assert_int_eq (hub_fill (hub, OTHER, &ev, 1, T0, &fill_after), 0);
    hub_event_unref (&ev);
    ck_assert_uint_eq (hub_job_count (hub), 1);

    hub_stream_destroy (&late);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_first_event_of_a_job_is_never_a_gap)
{
    hub_t *hub = s_hub (1024, 4096);
    uint64_t fill_after = 99;
    /* a gateway that starts late sees a job first at any seq */
    ck_assert_int_eq (s_offer (hub, JOB, 42, &fill_after), 0);
    ck_assert_uint_eq (fill_after, 99);
    ck_assert_int_eq (s_offer (hub, JOB, 43, &fill_after), 0);
    ck_assert_int_eq (s_offer (hub, JOB, 45, &fill_after), -EAGAIN);
    ck_assert_uint_eq (fill_after, 43);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_abandoned_gap_cuts_the_streams_it_would_skip)
{
    hub_t *hub = s_hub (1024, 4096);
    wake_counter_t counter = { 0, 0 };
    uint64_t fill_after = 0;
    for (uint64_t seq = 1; seq <= 2; seq++)
        ck_assert_int_eq (s_offer (hub, JOB, seq, &fill_after), 0);
    hub_stream_t *behind = s_stream (&counter);
    ck_assert_int_eq (hub_stream_attach_after (hub, behind, JOB, 2), 0);
    ssize_t rc;
    ck_assert_str_eq (s_drain (behind, &rc), "");
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (s_offer (hub, JOB, 5, &fill_after), -EAGAIN);
    ck_assert_int_eq (s_offer (hub, JOB, 6, &fill_after), -EINPROGRESS);

    /* the broker cannot help: the held events go out after the hole, and
       the stream that would skip 3 and 4 is cut instead (it reconnects) */
    hub_gap_abandon (hub, JOB, T0);
    ck_assert_int_eq (counter.wakes, 1);
    char buf[64];
    ck_assert_int_eq (hub_stream_read (behind, buf, sizeof buf, T0), -ECONNABORTED);

    /* the ring restarted at 5: nothing before it is claimed */
    hub_stream_t *again = s_stream (&counter);
    ck_assert_int_eq (hub_stream_attach_after (hub, again, JOB, 2), -ERANGE);
    ck_assert_int_eq (hub_stream_attach_after (hub, again, JOB, 4), 0);
    ck_assert_str_eq (s_drain (again, &rc), "5;6;");
    /* later events flow again; abandoning without a gap does nothing */
    ck_assert_int_eq (s_offer (hub, JOB, 7, &fill_after), 0);
    hub_gap_abandon (hub, JOB, T0);
    hub_gap_abandon (hub, OTHER, T0);
    ck_assert_str_eq (s_drain (again, &rc), "7;");

    /* a plain hub_publish with a hole cuts the same way */
    hub_event_t *ev = s_ev (9, false);
    ck_assert_int_eq (hub_publish (hub, JOB, ev, T0), 0);
    hub_event_unref (&ev);
    ck_assert_int_eq (hub_stream_read (again, buf, sizeof buf, T0), -ECONNABORTED);

    hub_stream_destroy (&again);
    hub_stream_destroy (&behind);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_gap_holding_too_much_gives_up)
{
    hub_t *hub = s_hub (1024, 4);
    uint64_t fill_after = 0;
    ck_assert_int_eq (s_offer (hub, JOB, 1, &fill_after), 0);
    ck_assert_int_eq (s_offer (hub, JOB, 3, &fill_after), -EAGAIN);
    for (uint64_t seq = 4; seq <= 6; seq++)
        ck_assert_int_eq (s_offer (hub, JOB, seq, &fill_after), -EINPROGRESS);
    /* a fifth held event is one too many: everything goes out */
    ck_assert_int_eq (s_offer (hub, JOB, 7, &fill_after), 0);
    wake_counter_t counter = { 0, 0 };
    hub_stream_t *stream = s_stream (&counter);
    /* 2 was never filled: the ring starts at 3 */
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 1), -ERANGE);
    ck_assert_int_eq (hub_stream_attach_after (hub, stream, JOB, 4), 0);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "5;6;7;");
    /* the broker's late answer finds no gap */
    ck_assert_int_eq (s_fill (hub, 2, 2, &fill_after), 0);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_stream_catches_up_from_pages_then_follows)
{
    /* the ring keeps 4 of 10 events: 7..10 */
    hub_t *hub = s_hub (4, 4096);
    wake_counter_t counter = { 0, 0 };
    uint64_t fill_after = 0;
    for (uint64_t seq = 1; seq <= 10; seq++)
        ck_assert_int_eq (s_offer (hub, JOB, seq, &fill_after), 0);

    hub_stream_t *stream = hub_stream_new ("c", "R;", s_count_sleep, s_count_wake,
                                           &counter, T0);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 2, false), 0);
    ck_assert_uint_eq (hub_stream_position (stream), 2);
    ck_assert (!hub_stream_idle (stream)); /* the prelude is waiting */
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "R;");
    ck_assert (hub_stream_idle (stream));
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 11), -ERANGE);

    /* page 1: 3..5; the ring still starts too late */
    hub_event_t *page[64] = { NULL };
    size_t n = s_page (page, 3, 5, false);
    ck_assert_int_eq (hub_stream_queue (stream, page, n, true), 0);
    s_page_free (page, n);
    ck_assert_uint_eq (hub_stream_position (stream), 5);
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 11), -ERANGE);
    /* page 2 repeats 5 and brings 6: the ring takes over from 7 */
    n = s_page (page, 5, 6, false);
    ck_assert_int_eq (hub_stream_queue (stream, page, n, true), 0);
    s_page_free (page, n);
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 11), 0);
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 11), -EBUSY);
    ck_assert_int_eq (hub_stream_queue (stream, NULL, 0, true), -EBUSY);
    ck_assert_str_eq (s_drain (stream, &rc), "3;4;5;6;7;8;9;10;");
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (s_offer (hub, JOB, 11, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "11;");
    hub_stream_destroy (&stream);

    /* a page with a hole is refused at the hole */
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 2, false), 0);
    hub_event_t *holey[3] = { s_ev (3, false), s_ev (5, false), s_ev (6, false) };
    ck_assert_int_eq (hub_stream_queue (stream, holey, 3, true), -EPROTO);
    s_page_free (holey, 3);
    ck_assert_uint_eq (hub_stream_position (stream), 3);
    ck_assert_str_eq (s_drain (stream, &rc), "3;");
    hub_stream_destroy (&stream);

    /* caught up (the broker has nothing newer) but the hub holds 7..11
       and not 4: the stream may not follow yet */
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 3, false), 0);
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 3), -ERANGE);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_caught_up_stream_follows_a_job_the_hub_has_not_seen)
{
    hub_t *hub = s_hub (1024, 4096);
    wake_counter_t counter = { 0, 0 };
    uint64_t fill_after = 0;
    /* a snapshot at seq 7 of a job whose events this gateway never saw */
    hub_stream_t *stream = s_stream (&counter);
    hub_event_t *snapshot = hub_event_new (7, false, "S7;", 3);
    ck_assert_int_eq (hub_stream_begin (stream, snapshot, 7, false), 0);
    hub_event_unref (&snapshot);
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 8), -ERANGE);
    ck_assert_uint_eq (hub_job_count (hub), 0);
    /* the broker had nothing newer than 7: follow from here */
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 7), 0);
    ck_assert_uint_eq (hub_job_count (hub), 1);
    ssize_t rc;
    ck_assert_str_eq (s_drain (stream, &rc), "S7;");
    ck_assert_int_eq (rc, 0);
    ck_assert_int_eq (s_offer (hub, JOB, 8, &fill_after), 0);
    hub_event_t *end = s_ev (9, true);
    ck_assert_int_eq (hub_offer (hub, JOB, end, T0, &fill_after), 0);
    hub_event_unref (&end);
    ck_assert_str_eq (s_drain (stream, &rc), "8;9!;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);

    /* a job first met this way expects the broker's next event: a hole
       after it is a gap to fill, not a fresh start */
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 7, false), 0);
    ck_assert_int_eq (hub_stream_follow (hub, stream, OTHER, 7), 0);
    ck_assert_int_eq (s_offer (hub, OTHER, 7, &fill_after), -EALREADY);
    ck_assert_int_eq (s_offer (hub, OTHER, 9, &fill_after), -EAGAIN);
    ck_assert_uint_eq (fill_after, 7);
    hub_stream_destroy (&stream);
    /* a client claiming more than the broker has does not shift the hub */
    const char *third = "01JD5ZQ6X8M9N0P1Q2R3S4T5V8";
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 1000, false), 0);
    ck_assert_int_eq (hub_stream_follow (hub, stream, third, 40), 0);
    ck_assert_int_eq (s_offer (hub, third, 41, &fill_after), 0);
    ck_assert_str_eq (s_drain (stream, &rc), "");
    hub_stream_destroy (&stream);

    /* the job has ended at or below the position: the stream ends after
       what it holds */
    stream = s_stream (&counter);
    hub_event_t *mine = s_ev (9, true);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 8, false), 0);
    ck_assert_int_eq (hub_stream_queue (stream, &mine, 1, true), 0);
    hub_event_unref (&mine);
    ck_assert (hub_stream_ended (stream));
    ck_assert (!hub_stream_idle (stream));
    ck_assert_str_eq (s_drain (stream, &rc), "9!;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);

    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 9, false), 0);
    ck_assert (!hub_stream_ended (stream));
    ck_assert_int_eq (hub_stream_follow (hub, stream, JOB, 9), -ENODATA);
    ck_assert (hub_stream_ended (stream));
    char buf[16];
    ck_assert_int_eq (hub_stream_read (stream, buf, sizeof buf, T0), -ENODATA);
    hub_stream_destroy (&stream);

    /* an attempt's end followed by more events (the job was retried) does
       not end a replay; the broker's last event, when terminal, does */
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 0, false), 0);
    hub_event_t *page[4] = { s_ev (1, false), s_ev (2, true), s_ev (3, false),
                             s_ev (4, true) };
    ck_assert_int_eq (hub_stream_queue (stream, page, 2, false), 0);
    ck_assert (!hub_stream_ended (stream)); /* more pages to come */
    ck_assert_int_eq (hub_stream_queue (stream, page + 2, 2, true), 0);
    s_page_free (page, 4);
    ck_assert_uint_eq (hub_stream_position (stream), 4);
    ck_assert (hub_stream_ended (stream));
    ck_assert_str_eq (s_drain (stream, &rc), "1;2!;3;4!;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);

    /* a final first frame (a finished job's snapshot) is all there is */
    stream = s_stream (&counter);
    snapshot = hub_event_new (9, true, "S9;", 3);
    ck_assert_int_eq (hub_stream_begin (stream, snapshot, 9, true), 0);
    hub_event_unref (&snapshot);
    ck_assert (hub_stream_ended (stream));
    ck_assert_str_eq (s_drain (stream, &rc), "S9;");
    ck_assert_int_eq (rc, -ENODATA);
    hub_stream_destroy (&stream);

    /* after hub_close nothing follows */
    hub_close (hub);
    stream = s_stream (&counter);
    ck_assert_int_eq (hub_stream_begin (stream, NULL, 1, false), 0);
    ck_assert_int_eq (hub_stream_follow (hub, stream, OTHER, 1), -ESHUTDOWN);
    uint64_t ignored;
    hub_event_t *late = s_ev (1, false);
    ck_assert_int_eq (hub_offer (hub, JOB, late, T0, &ignored), -ESHUTDOWN);
    hub_event_unref (&late);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

START_TEST (test_stream_never_skips_an_event)
{
    /* a snapshot at 3 whose next event in the ring is 7: rather than skip
       4..6, the stream is cut */
    hub_t *hub = s_hub (1024, 4096);
    wake_counter_t counter = { 0, 0 };
    hub_event_t *ev = s_ev (7, false);
    ck_assert_int_eq (hub_publish (hub, JOB, ev, T0), 0);
    hub_event_unref (&ev);
    hub_stream_t *stream = s_stream (&counter);
    hub_event_t *snapshot = hub_event_new (3, false, "S3;", 3);
    ck_assert_int_eq (hub_stream_attach (hub, stream, JOB, snapshot, 3, false), 0);
    hub_event_unref (&snapshot);
    char buf[16];
    ck_assert_int_eq (hub_stream_read (stream, buf, sizeof buf, T0), -ECONNABORTED);
    hub_stream_destroy (&stream);
    hub_destroy (&hub);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("gateway_hub");
    TCase *gaps = tcase_create ("gaps");
    tcase_add_test (gaps, test_gap_holds_live_events_until_filled);
    tcase_add_test (gaps, test_first_event_of_a_job_is_never_a_gap);
    tcase_add_test (gaps, test_abandoned_gap_cuts_the_streams_it_would_skip);
    tcase_add_test (gaps, test_gap_holding_too_much_gives_up);
    suite_add_tcase (s, gaps);
    TCase *catch_up = tcase_create ("catch_up");
    tcase_add_test (catch_up, test_stream_catches_up_from_pages_then_follows);
    tcase_add_test (catch_up, test_caught_up_stream_follows_a_job_the_hub_has_not_seen);
    tcase_add_test (catch_up, test_stream_never_skips_an_event);
    suite_add_tcase (s, catch_up);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
