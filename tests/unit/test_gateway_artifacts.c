/*  Unit tests of the artifact endpoint's pure rules: which names may be
    served (nothing outside the job directory, nothing half written), the
    Content-Type of each output, ETags and If-None-Match, and the Range
    header, as a client would send them. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "route.h"

static bool
s_valid (const char *name)
{
    return artifacts_name_valid (name, strlen (name));
}

START_TEST (test_outputs_are_valid_names)
{
    static const char *const good[]
        = { "video.mp4",  "video.srt",     "video.vtt", "thumbnail.png", "plan.json",
            "voice.json", "timeline.json", "scene-01.wav", "scene-12.png", "a",
            "A_b-C.9",    "x.tmp.mp4",     "README" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg (s_valid (good[i]), "%s refused", good[i]);
    char longest[ARTIFACTS_NAME_MAX + 1];
    memset (longest, 'a', ARTIFACTS_NAME_MAX);
    longest[ARTIFACTS_NAME_MAX] = '\0';
    ck_assert (s_valid (longest));
}
END_TEST

START_TEST (test_escapes_and_partial_files_are_refused)
{
    static const char *const bad[]
        = { "",        "../x",       "..",       ".",       "a/b",     "/etc/passwd",
            ".hidden", "x.tmp",      "video.mp4.tmp", "X.TMP", "%2e%2e", "%2e%2e%2fx",
            "a..b",    "a b",        "a\\b",     "vidéo.mp4", "a:b",   "~root" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg (!s_valid (bad[i]), "%s accepted", bad[i]);
    char too_long[ARTIFACTS_NAME_MAX + 2];
    memset (too_long, 'a', ARTIFACTS_NAME_MAX + 1);
    too_long[ARTIFACTS_NAME_MAX + 1] = '\0';
    ck_assert (!s_valid (too_long));
    /* the length given counts, not the NUL: an embedded NUL is refused */
    ck_assert (!artifacts_name_valid ("ab\0c", 4));
    ck_assert (!artifacts_name_valid (NULL, 0));
}
END_TEST

START_TEST (test_content_types)
{
    ck_assert_str_eq (artifacts_content_type ("video.mp4"), "video/mp4");
    ck_assert_str_eq (artifacts_content_type ("video.srt"), "application/x-subrip");
    ck_assert_str_eq (artifacts_content_type ("video.vtt"), "text/vtt; charset=utf-8");
    ck_assert_str_eq (artifacts_content_type ("thumbnail.png"), "image/png");
    ck_assert_str_eq (artifacts_content_type ("scene-03.png"), "image/png");
    ck_assert_str_eq (artifacts_content_type ("plan.json"), "application/json");
    ck_assert_str_eq (artifacts_content_type ("scene-03.wav"), "audio/wav");
    ck_assert_str_eq (artifacts_content_type ("VIDEO.MP4"), "video/mp4");
    ck_assert_str_eq (artifacts_content_type ("notes.txt"), "application/octet-stream");
    ck_assert_str_eq (artifacts_content_type ("README"), "application/octet-stream");
    ck_assert_str_eq (artifacts_content_type ("mp4"), "application/octet-stream");
    ck_assert_str_eq (artifacts_content_type ("video.mp4.bak"), "application/octet-stream");
}
END_TEST

START_TEST (test_etag_changes_with_the_file)
{
    char a[ARTIFACTS_ETAG_SIZE], b[ARTIFACTS_ETAG_SIZE];
    ck_assert_int_eq (artifacts_etag_format (1000, 1700000000123456789, 42, a, sizeof a), 0);
    ck_assert_uint_gt (strlen (a), 2);
    ck_assert_int_eq (a[0], '"');
    ck_assert_int_eq (a[strlen (a) - 1], '"');
    ck_assert_int_eq (artifacts_etag_format (1000, 1700000000123456790, 42, b, sizeof b), 0);
    ck_assert_str_ne (a, b); /* one nanosecond later */
    ck_assert_int_eq (artifacts_etag_format (1001, 1700000000123456789, 42, b, sizeof b), 0);
    ck_assert_str_ne (a, b);
    ck_assert_int_eq (artifacts_etag_format (1000, 1700000000123456789, 43, b, sizeof b), 0);
    ck_assert_str_ne (a, b); /* replaced by rename: a new inode */
    ck_assert_int_eq (artifacts_etag_format (UINT64_MAX, INT64_MAX, UINT64_MAX, b, sizeof b),
                      0);
    ck_assert_int_lt (artifacts_etag_format (1000, 1, 1, b, 4), 0);
}
END_TEST

START_TEST (test_if_none_match)
{
    const char *etag = "\"3e8-1-2a\"";
    ck_assert (artifacts_etag_matches ("\"3e8-1-2a\"", etag));
    ck_assert (artifacts_etag_matches ("*", etag));
    ck_assert (artifacts_etag_matches (" * ", etag));
    ck_assert (artifacts_etag_matches ("\"x\", \"3e8-1-2a\"", etag));
    ck_assert (artifacts_etag_matches ("\"x\",\"y\" ,W/\"3e8-1-2a\"", etag));
    ck_assert (!artifacts_etag_matches ("\"3e8-1-2b\"", etag));
    ck_assert (!artifacts_etag_matches ("3e8-1-2a", etag));
    ck_assert (!artifacts_etag_matches ("\"3e8-1-2a", etag));
    ck_assert (!artifacts_etag_matches ("", etag));
    ck_assert (!artifacts_etag_matches ("*, \"x\"", etag));
    ck_assert (!artifacts_etag_matches (NULL, etag));
}
END_TEST

/*  Parses header against size and expects the inclusive range first..last. */
static void
s_expect_range (const char *header, uint64_t size, uint64_t first, uint64_t last)
{
    uint64_t a = 12345, b = 12345;
    ck_assert_msg (artifacts_parse_range (header, size, &a, &b)
                       == ARTIFACTS_RANGE_SATISFIABLE,
                   "%s not satisfiable for %llu bytes", header, (unsigned long long) size);
    ck_assert_msg (a == first && b == last, "%s gave %llu-%llu", header,
                   (unsigned long long) a, (unsigned long long) b);
}

static artifacts_range_t
s_range (const char *header, uint64_t size)
{
    uint64_t a = 12345, b = 12345;
    artifacts_range_t result = artifacts_parse_range (header, size, &a, &b);
    if (result != ARTIFACTS_RANGE_SATISFIABLE)
        ck_assert (a == 12345 && b == 12345); /* untouched */
    return result;
}

START_TEST (test_single_ranges)
{
    s_expect_range ("bytes=0-99", 1000, 0, 99);
    s_expect_range ("bytes=0-0", 1000, 0, 0);
    s_expect_range ("bytes=999-999", 1000, 999, 999);
    s_expect_range ("bytes=500-", 1000, 500, 999);
    s_expect_range ("bytes=0-", 1000, 0, 999);
    s_expect_range ("bytes=900-5000", 1000, 900, 999); /* clamped */
    s_expect_range ("bytes=-100", 1000, 900, 999);
    s_expect_range ("bytes=-1", 1000, 999, 999);
    s_expect_range ("bytes=-5000", 1000, 0, 999); /* the whole file */
    s_expect_range ("Bytes = 10-19 ", 1000, 10, 19);
    s_expect_range ("bytes=0-18446744073709551615", 1000, 0, 999);
}
END_TEST

START_TEST (test_ranges_beyond_the_file_are_unsatisfiable)
{
    ck_assert_int_eq (s_range ("bytes=1000-", 1000), ARTIFACTS_RANGE_UNSATISFIABLE);
    ck_assert_int_eq (s_range ("bytes=1000-1100", 1000), ARTIFACTS_RANGE_UNSATISFIABLE);
    ck_assert_int_eq (s_range ("bytes=5000-6000", 1000), ARTIFACTS_RANGE_UNSATISFIABLE);
    ck_assert_int_eq (s_range ("bytes=-0", 1000), ARTIFACTS_RANGE_UNSATISFIABLE);
    ck_assert_int_eq (s_range ("bytes=0-", 0), ARTIFACTS_RANGE_UNSATISFIABLE);
    ck_assert_int_eq (s_range ("bytes=-10", 0), ARTIFACTS_RANGE_UNSATISFIABLE);
}
END_TEST

START_TEST (test_garbage_and_lists_are_ignored)
{
    static const char *const ignored[]
        = { "",             "bytes",         "bytes=",        "bytes=-",
            "bytes=a-b",    "bytes=1-2x",    "bytes=5-3",     "bytes=0-1,5-9",
            "bytes=0-1, 5-9", "bytes=-5,-3", "items=0-1",     "bytes:0-1",
            "bytes=--1",    "bytes=1--2",    "bytes=+1-2",    "bytes=99999999999999999999-",
            "0-1",          "bytes=0x10-20", "bytes=1 -2" };
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
        ck_assert_msg (s_range (ignored[i], 1000) == ARTIFACTS_RANGE_NONE,
                       "\"%s\" not ignored", ignored[i]);
    ck_assert_int_eq (s_range (NULL, 1000), ARTIFACTS_RANGE_NONE);
}
END_TEST

START_TEST (test_route_takes_the_name_segment)
{
    route_t route;
    const char *path = "/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts/video.mp4";
    ck_assert_int_eq (route_match ("GET", path, strlen (path), &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_ARTIFACT);
    ck_assert_str_eq (route.job, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    ck_assert_str_eq (route.name, "video.mp4");
    ck_assert_int_eq (route_match ("HEAD", path, strlen (path), &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_JOB_ARTIFACT);
    ck_assert_int_eq (route_match ("POST", path, strlen (path), &route),
                      ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "GET, HEAD");

    const char *escaped = "/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts/%2e%2e%2fx";
    ck_assert_int_eq (route_match ("GET", escaped, strlen (escaped), &route), ROUTE_MATCHED);
    ck_assert_str_eq (route.name, "%2e%2e%2fx");
    ck_assert (!artifacts_name_valid (route.name, strlen (route.name)));

    const char *nested = "/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts/a/b";
    ck_assert_int_eq (route_match ("GET", nested, strlen (nested), &route), ROUTE_NOT_FOUND);
    const char *bad_id = "/api/jobs/nope/artifacts/video.mp4";
    ck_assert_int_eq (route_match ("GET", bad_id, strlen (bad_id), &route), ROUTE_BAD_JOB_ID);

    /* a segment longer than the route keeps is cut, and still refused */
    char long_path[512];
    char segment[300];
    memset (segment, 'a', sizeof segment - 1);
    segment[sizeof segment - 1] = '\0';
    snprintf (long_path, sizeof long_path, "/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/artifacts/%s",
              segment);
    ck_assert_int_eq (route_match ("GET", long_path, strlen (long_path), &route),
                      ROUTE_MATCHED);
    ck_assert_uint_eq (strlen (route.name), ROUTE_NAME_SIZE - 1);
    ck_assert (!artifacts_name_valid (route.name, strlen (route.name)));
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("gateway_artifacts");
    TCase *names = tcase_create ("names");
    tcase_add_test (names, test_outputs_are_valid_names);
    tcase_add_test (names, test_escapes_and_partial_files_are_refused);
    tcase_add_test (names, test_route_takes_the_name_segment);
    suite_add_tcase (suite, names);
    TCase *headers = tcase_create ("headers");
    tcase_add_test (headers, test_content_types);
    tcase_add_test (headers, test_etag_changes_with_the_file);
    tcase_add_test (headers, test_if_none_match);
    suite_add_tcase (suite, headers);
    TCase *ranges = tcase_create ("ranges");
    tcase_add_test (ranges, test_single_ranges);
    tcase_add_test (ranges, test_ranges_beyond_the_file_are_unsatisfiable);
    tcase_add_test (ranges, test_garbage_and_lists_are_ignored);
    suite_add_tcase (suite, ranges);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
