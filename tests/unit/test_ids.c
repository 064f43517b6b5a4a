/*  Unit tests of job ids and correlation ids. */
#include <check.h>
#include <string.h>

#include "ids.h"

START_TEST (test_generated_ids_are_valid_and_sorted)
{
    char prev[JOB_ID_SIZE] = "";
    for (int i = 0; i < 10000; i++) {
        char id[JOB_ID_SIZE];
        ck_assert_int_eq (job_id_generate (id), 0);
        ck_assert_uint_eq (strlen (id), JOB_ID_LEN);
        ck_assert_msg (job_id_valid (id, strlen (id)), "invalid id %s", id);
        ck_assert_msg (strcmp (prev, id) < 0, "%s not after %s", id, prev);
        memcpy (prev, id, sizeof id);
    }
}
END_TEST

START_TEST (test_timestamp_is_encoded_first)
{
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    /* 2100-01-01T00:00:00Z and one millisecond later: after the ids the
       clock gave earlier in this process (CK_FORK=no), which the generator
       never goes back behind */
    ck_assert_int_eq (job_id_generate_at (a, UINT64_C (4102444800000)), 0);
    ck_assert_int_eq (job_id_generate_at (b, UINT64_C (4102444800001)), 0);
    ck_assert_int_eq (memcmp (a, b, 9), 0);  /* same high time digits */
    ck_assert_int_lt (memcmp (a, b, 10), 0); /* last time digit moves */
    /* the largest 48-bit time starts with 7 */
    char max[JOB_ID_SIZE];
    ck_assert_int_eq (job_id_generate_at (max, (UINT64_C (1) << 48) - 1), 0);
    ck_assert_int_eq (strncmp (max, "7ZZZZZZZZZ", 10), 0);
    ck_assert (job_id_valid (max, JOB_ID_LEN));
}
END_TEST

START_TEST (test_validation)
{
    ck_assert (job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5V6", 26));
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5V", 25));
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5V67", 27));
    ck_assert (!job_id_valid ("01jd5zq6x8m9n0p1q2r3s4t5v6", 26)); /* lower case */
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5VI", 26)); /* I */
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5VL", 26)); /* L */
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5VO", 26)); /* O */
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5VU", 26)); /* U */
    ck_assert (!job_id_valid ("81JD5ZQ6X8M9N0P1Q2R3S4T5V6", 26)); /* > 48 bits */
    ck_assert (!job_id_valid ("../../../../etc/passwd/xx", 26));
    ck_assert (!job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5V\0", 26));
    ck_assert (!job_id_valid (NULL, 26));
}
END_TEST

START_TEST (test_correlation_ids)
{
    char a[32], b[32];
    correlation_id_generate (a, sizeof a);
    correlation_id_generate (b, sizeof b);
    ck_assert_uint_eq (strlen (a), 18);
    ck_assert_str_ne (a, b);
    ck_assert (correlation_id_valid (a, strlen (a)));
    ck_assert (correlation_id_valid ("req-42.a_b:c", 12));
    ck_assert (!correlation_id_valid ("", 0));
    ck_assert (!correlation_id_valid ("has space", 9));
    ck_assert (!correlation_id_valid ("new\nline", 8));
    char long_id[80];
    memset (long_id, 'a', sizeof long_id);
    ck_assert (correlation_id_valid (long_id, 64));
    ck_assert (!correlation_id_valid (long_id, 65));
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("ids");
    TCase *tc = tcase_create ("ids");
    tcase_add_test (tc, test_generated_ids_are_valid_and_sorted);
    tcase_add_test (tc, test_timestamp_is_encoded_first);
    tcase_add_test (tc, test_validation);
    tcase_add_test (tc, test_correlation_ids);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
