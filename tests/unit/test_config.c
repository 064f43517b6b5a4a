/*  Unit tests of configuration: defaults, environment, flags, and one clear
    line for every invalid value. Each test runs in its own process (Check's
    fork mode), so setenv() does not leak between them. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ALL_OPTIONS 0xffffffu

static int
s_load (aura_config_t *cfg, unsigned options, int argc, char **argv,
        char *err, size_t err_size)
{
    return config_load (cfg, options, "aura-test", "Tests the config.", argc,
                        argv, err, err_size);
}

START_TEST (test_defaults)
{
    aura_config_t cfg;
    char err[256];
    char *argv[] = { "aura-test", NULL };
    ck_assert_int_eq (s_load (&cfg, ALL_OPTIONS, 1, argv, err, sizeof err), 0);
    ck_assert_str_eq (cfg.broker_frontend, "tcp://127.0.0.1:7701");
    ck_assert_str_eq (cfg.broker_publish, "tcp://127.0.0.1:7704");
    ck_assert_str_eq (cfg.http_host, "127.0.0.1");
    ck_assert_int_eq (cfg.http_port, 8080);
    ck_assert_int_eq (cfg.worker_slots, 1);
    ck_assert_int_eq (cfg.heartbeat_ms, 1000);
    ck_assert_int_eq (cfg.keepalive_s, 10);
    ck_assert_str_eq (cfg.pipeline, "media");
    ck_assert_str_eq (cfg.artifact_dir, "./var/artifacts");
    ck_assert_str_eq (cfg.synthetic_fail_step, "");
    ck_assert_int_eq (cfg.log_level, AURA_LOG_INFO);
    ck_assert (!cfg.log_json);
    ck_assert_str_eq (cfg.data_dir, "./var/data");
    ck_assert_int_eq (cfg.lease_ms, 5000);
    ck_assert_int_eq (cfg.max_attempts, 3);
    ck_assert_int_eq (cfg.retention_h, 168);
    ck_assert_uint_gt (strlen (cfg.worker_id), 0);
}
END_TEST

START_TEST (test_environment_then_flags)
{
    setenv ("AURA_WORKER_SLOTS", "4", 1);
    setenv ("AURA_HTTP_ADDR", "[::1]:0", 1);
    setenv ("AURA_LOG_FORMAT", "json", 1);
    setenv ("AURA_BROKER_EVENTS", "ipc:///tmp/aura-events", 1);
    aura_config_t cfg;
    char err[256];
    char *argv[] = { "aura-test", "--worker-slots=8", "--log-level", "debug",
                     NULL };
    ck_assert_int_eq (s_load (&cfg, ALL_OPTIONS, 4, argv, err, sizeof err), 0);
    ck_assert_int_eq (cfg.worker_slots, 8); /* the flag wins */
    ck_assert_str_eq (cfg.http_host, "::1");
    ck_assert_int_eq (cfg.http_port, 0);
    ck_assert (cfg.log_json);
    ck_assert_int_eq (cfg.log_level, AURA_LOG_DEBUG);
    ck_assert_str_eq (cfg.broker_events, "ipc:///tmp/aura-events");
}
END_TEST

START_TEST (test_settings_outside_the_program_are_ignored)
{
    /* a gateway does not read worker settings, even broken ones... */
    setenv ("AURA_WORKER_SLOTS", "many", 1);
    aura_config_t cfg;
    char err[256];
    char *argv[] = { "aura-test", NULL };
    ck_assert_int_eq (s_load (&cfg, CONFIG_HTTP_ADDR, 1, argv, err, sizeof err), 0);
    /* ...and does not accept their flags */
    char *argv2[] = { "aura-test", "--worker-slots=2", NULL };
    ck_assert_int_eq (s_load (&cfg, CONFIG_HTTP_ADDR, 2, argv2, err, sizeof err),
                      -EINVAL);
    ck_assert_msg (strstr (err, "unknown option '--worker-slots=2'"), "%s", err);
}
END_TEST

START_TEST (test_secrets_are_never_echoed)
{
    aura_config_t cfg;
    char err[256];
    char *short_token[] = { "aura-test", "--api-token=short-secret", NULL };
    ck_assert_int_eq (s_load (&cfg, CONFIG_AUTH, 2, short_token, err, sizeof err), -EINVAL);
    ck_assert_msg (strstr (err, "AURA_API_TOKEN '(hidden)'"), "%s", err);
    ck_assert_msg (!strstr (err, "short-secret"), "%s", err);
    char *spaced[] = { "aura-test", "--metrics-token=a secret with spaces", NULL };
    ck_assert_int_eq (s_load (&cfg, CONFIG_AUTH, 2, spaced, err, sizeof err), -EINVAL);
    ck_assert_msg (!strstr (err, "secret"), "%s", err);

    char *good[] = { "aura-test", "--api-token=0123456789abcdef-long", "--max-streams=0",
                     "--sse-max-backlog=4096", NULL };
    ck_assert_int_eq (s_load (&cfg, CONFIG_AUTH | CONFIG_LIMITS, 4, good, err, sizeof err), 0);
    ck_assert_str_eq (cfg.api_token, "0123456789abcdef-long");
    ck_assert_str_eq (cfg.metrics_token, "");
    ck_assert_int_eq (cfg.max_streams, 0);
    ck_assert_int_eq (cfg.max_streams_per_ip, 64);
    ck_assert_int_eq (cfg.sse_max_backlog, 4096);
    ck_assert_int_eq (cfg.event_token_ttl_s, 3600);
}
END_TEST

START_TEST (test_invalid_values_name_the_setting)
{
    static const struct {
        const char *flag;
        const char *expect;
    } cases[] = {
        { "--worker-slots=0", "invalid AURA_WORKER_SLOTS '0' (from --worker-slots): expected an integer in range 1..64" },
        { "--worker-slots=3x", "AURA_WORKER_SLOTS '3x'" },
        { "--heartbeat-ms=", "AURA_HEARTBEAT_MS ''" },
        { "--http-addr=localhost:80", "AURA_HTTP_ADDR 'localhost:80'" },
        { "--http-addr=127.0.0.1:65536", "AURA_HTTP_ADDR" },
        { "--http-addr=127.0.0.1", "AURA_HTTP_ADDR" },
        { "--broker-jobs=http://x", "expected tcp://" },
        { "--broker-jobs=tcp://", "AURA_BROKER_JOBS" },
        { "--pipeline=magic", "AURA_PIPELINE 'magic'" },
        { "--synthetic-fail-step=upload", "AURA_SYNTHETIC_FAIL_STEP" },
        { "--log-level=loud", "AURA_LOG_LEVEL" },
        { "--log-format=xml", "AURA_LOG_FORMAT" },
        { "--worker-id=has space", "AURA_WORKER_ID" },
        { "--nonsense", "unknown option '--nonsense'" },
        { "positional", "unexpected argument 'positional'" },
        { "--keepalive-s", "needs a value" },
        { "--data-dir=", "AURA_DATA_DIR" },
        { "--lease-ms=50", "AURA_LEASE_MS" },
        { "--max-attempts=0", "AURA_MAX_ATTEMPTS" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        aura_config_t cfg;
        char err[256] = "";
        char *argv[] = { "aura-test", (char *) cases[i].flag, NULL };
        ck_assert_int_eq (s_load (&cfg, ALL_OPTIONS, 2, argv, err, sizeof err),
                          -EINVAL);
        ck_assert_msg (strstr (err, cases[i].expect), "'%s' gave '%s'",
                       cases[i].flag, err);
        ck_assert_msg (!strchr (err, '\n'), "more than one line: %s", err);
    }
    setenv ("AURA_KEEPALIVE_S", "0", 1);
    aura_config_t cfg;
    char err[256];
    char *argv[] = { "aura-test", NULL };
    ck_assert_int_eq (s_load (&cfg, ALL_OPTIONS, 1, argv, err, sizeof err), -EINVAL);
    ck_assert_msg (strstr (err, "AURA_KEEPALIVE_S '0' (from environment)"), "%s", err);
}
END_TEST

START_TEST (test_help_lists_only_the_program_settings)
{
    aura_config_t cfg;
    char err[256];
    char *argv[] = { "aura-test", "--help", NULL };
    fflush (stdout);
    FILE *saved = stdout;
    char *text = NULL;
    size_t size = 0;
    stdout = open_memstream (&text, &size);
    int rc = s_load (&cfg, CONFIG_HTTP_ADDR | CONFIG_LOG, 2, argv, err, sizeof err);
    fclose (stdout);
    stdout = saved;
    ck_assert_int_eq (rc, 1);
    ck_assert_ptr_nonnull (strstr (text, "Usage: aura-test"));
    ck_assert_ptr_nonnull (strstr (text, "--http-addr=HOST:PORT"));
    ck_assert_ptr_nonnull (strstr (text, "AURA_HTTP_ADDR, default 127.0.0.1:8080"));
    ck_assert_ptr_nonnull (strstr (text, "--log-format=FORMAT"));
    ck_assert_ptr_null (strstr (text, "worker-slots"));
    free (text);
}
END_TEST

START_TEST (test_host_port)
{
    char host[64];
    int port;
    ck_assert_int_eq (config_parse_host_port ("0.0.0.0:80", host, sizeof host, &port), 0);
    ck_assert_str_eq (host, "0.0.0.0");
    ck_assert_int_eq (port, 80);
    ck_assert_int_eq (config_parse_host_port ("[::]:8080", host, sizeof host, &port), 0);
    ck_assert_str_eq (host, "::");
    ck_assert_int_lt (config_parse_host_port ("::1:80", host, sizeof host, &port), 0);
    ck_assert_int_lt (config_parse_host_port (":80", host, sizeof host, &port), 0);
    ck_assert_int_lt (config_parse_host_port ("1.2.3.4:-1", host, sizeof host, &port), 0);
    ck_assert_int_lt (config_parse_host_port ("1.2.3.4: 80", host, sizeof host, &port), 0);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("config");
    TCase *tc = tcase_create ("config");
    tcase_add_test (tc, test_defaults);
    tcase_add_test (tc, test_environment_then_flags);
    tcase_add_test (tc, test_settings_outside_the_program_are_ignored);
    tcase_add_test (tc, test_invalid_values_name_the_setting);
    tcase_add_test (tc, test_secrets_are_never_echoed);
    tcase_add_test (tc, test_help_lists_only_the_program_settings);
    tcase_add_test (tc, test_host_port);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    /* fork mode keeps each test's setenv() to itself */
    srunner_set_fork_status (sr, CK_FORK);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
