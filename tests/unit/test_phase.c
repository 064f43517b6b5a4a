/*  Unit tests of the step table, the progress ranges and the seed's
    stage → phase mapping. */
#include <check.h>
#include <string.h>

#include "phase.h"

/*  Every row of the seed's MapStageToPhase. */
static const struct {
    const char *stage;
    const char *phase;
} s_seed_rows[] = {
    { "initialization", "plan" }, { "queued", "plan" },
    { "script", "plan" },         { "planning", "plan" },
    { "brief", "plan" },          { "tts", "tts" },
    { "audio", "tts" },           { "voice", "tts" },
    { "visuals", "visuals" },     { "images", "visuals" },
    { "assets", "visuals" },      { "composition", "compose" },
    { "timeline", "compose" },    { "compose", "compose" },
    { "rendering", "render" },    { "render", "render" },
    { "encode", "render" },       { "complete", "complete" },
    { "done", "complete" },
};

START_TEST (test_seed_mapping)
{
    for (size_t i = 0; i < sizeof s_seed_rows / sizeof s_seed_rows[0]; i++) {
        ck_assert_str_eq (phase_from_stage (s_seed_rows[i].stage),
                          s_seed_rows[i].phase);
    }
    /* case-insensitive, like ToLowerInvariant() */
    ck_assert_str_eq (phase_from_stage ("Rendering"), "render");
    ck_assert_str_eq (phase_from_stage ("TTS"), "tts");
    ck_assert_str_eq (phase_from_stage ("uploading"), "processing");
    ck_assert_str_eq (phase_from_stage (""), "processing");
    ck_assert_str_eq (phase_from_stage (NULL), "processing");
}
END_TEST

START_TEST (test_ranges_tile_zero_to_hundred)
{
    static const double lo[] = { 0, 15, 35, 65, 85 };
    static const double hi[] = { 15, 35, 65, 85, 100 };
    for (int s = 0; s < STEP_COUNT; s++) {
        ck_assert_double_eq (step_range_lo ((step_t) s), lo[s]);
        ck_assert_double_eq (step_range_hi ((step_t) s), hi[s]);
        if (s > 0)
            ck_assert_double_eq (step_range_lo ((step_t) s),
                                 step_range_hi ((step_t) (s - 1)));
    }
}
END_TEST

START_TEST (test_overall_percent)
{
    ck_assert_double_eq (step_overall_percent (STEP_PLAN, 0), 0);
    ck_assert_double_eq (step_overall_percent (STEP_TTS, 0.5), 25);
    ck_assert_double_eq (step_overall_percent (STEP_VISUALS, 1), 65);
    ck_assert_double_eq (step_overall_percent (STEP_RENDER, 1), 100);
    /* clamped, whatever a step reports */
    ck_assert_double_eq (step_overall_percent (STEP_COMPOSE, -3), 65);
    ck_assert_double_eq (step_overall_percent (STEP_COMPOSE, 7), 85);
    ck_assert_double_eq (step_overall_percent (STEP_COMPOSE, 0.0 / 0.0), 65);
    /* monotonic across the whole pipeline */
    double last = -1;
    for (int s = 0; s < STEP_COUNT; s++) {
        for (int i = 0; i <= 10; i++) {
            double p = step_overall_percent ((step_t) s, i / 10.0);
            ck_assert (p >= last);
            last = p;
        }
    }
}
END_TEST

START_TEST (test_names_round_trip)
{
    static const char *steps[] = { "plan", "tts", "visuals", "compose", "render" };
    for (int s = 0; s < STEP_COUNT; s++) {
        step_t parsed;
        ck_assert_str_eq (step_name ((step_t) s), steps[s]);
        ck_assert_int_eq (step_parse (steps[s], &parsed), 0);
        ck_assert_int_eq (parsed, s);
    }
    step_t step;
    ck_assert_int_lt (step_parse ("Plan", &step), 0);
    ck_assert_str_eq (step_name (STEP_COUNT), "?");

    static const char *jobs[] = { "Queued", "Running", "Done", "Failed", "Canceled" };
    for (int s = 0; s < JOB_STATUS_COUNT; s++) {
        job_status_t parsed;
        ck_assert_str_eq (job_status_name ((job_status_t) s), jobs[s]);
        ck_assert_int_eq (job_status_parse (jobs[s], &parsed), 0);
        ck_assert_int_eq (parsed, s);
        ck_assert (job_status_is_terminal ((job_status_t) s) == (s >= JOB_DONE));
    }
    static const char *st[] = { "Pending", "Running", "Done", "Skipped", "Failed", "Canceled" };
    for (int s = 0; s < STEP_STATUS_COUNT; s++) {
        step_status_t parsed;
        ck_assert_str_eq (step_status_name ((step_status_t) s), st[s]);
        ck_assert_int_eq (step_status_parse (st[s], &parsed), 0);
        ck_assert_int_eq (parsed, s);
    }
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("phase");
    TCase *tc = tcase_create ("phase");
    tcase_add_test (tc, test_seed_mapping);
    tcase_add_test (tc, test_ranges_tile_zero_to_hundred);
    tcase_add_test (tc, test_overall_percent);
    tcase_add_test (tc, test_names_round_trip);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
