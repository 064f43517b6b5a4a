/*  Unit tests of gateway auth: which Authorization headers open /api/...
    and /metrics, the signed event tokens a browser's EventSource carries
    (round trip, another job, expiry, tampering, garbage, another
    gateway's key), and which origins get CORS answers. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define S_JOB "01ARZ3NDEKTSV4RRFFQ69G5FAV"
#define S_OTHER_JOB "01ARZ3NDEKTSV4RRFFQ69G5FAW"
#define S_NOW 1700000000

static auth_t *
s_auth (const char *api_token, const char *metrics_token, const char *cors)
{
    auth_config_t cfg = { api_token, metrics_token, cors, 0 };
    auth_t *auth = auth_new (&cfg);
    ck_assert_ptr_nonnull (auth);
    return auth;
}

/*  Makes a token for S_JOB at S_NOW and checks its shape. */
static void
s_token (const auth_t *auth, char token[AURA_EVENT_TOKEN_MAX])
{
    int len =
        auth_event_token (auth, S_JOB, S_NOW, token, AURA_EVENT_TOKEN_MAX);
    ck_assert_int_gt (len, 0);
    ck_assert_uint_eq ((size_t)len, strlen (token));
    ck_assert_ptr_nonnull (strchr (token, '.'));
    ck_assert_msg (strspn (token, "0123456789.ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz-_")
                       == (size_t)len,
                   "%s is not URL-safe", token);
}

START_TEST (test_off_allows_everything)
{
    auth_t *auth = s_auth (NULL, NULL, NULL);
    ck_assert (!auth_enabled (auth));
    ck_assert (auth_check_bearer (auth, NULL));
    ck_assert (auth_check_bearer (auth, "Bearer anything"));
    ck_assert (auth_check_bearer (auth, "garbage"));
    ck_assert (auth_check_metrics (auth, NULL));
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, NULL, S_NOW), 0);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, "x", S_NOW), 0);
    char token[AURA_EVENT_TOKEN_MAX];
    ck_assert_int_eq (
        auth_event_token (auth, S_JOB, S_NOW, token, sizeof token), -EINVAL);
    ck_assert_ptr_null (auth_cors_allow_origin (auth, "https://a.example"));
    ck_assert (!auth_cors_enabled (auth));
    auth_destroy (&auth);
    ck_assert_ptr_null (auth);
    auth_destroy (&auth); /* harmless twice */

    auth = s_auth ("", "", ""); /* empty is off as well */
    ck_assert (!auth_enabled (auth));
    ck_assert (auth_check_bearer (auth, NULL));
    ck_assert (auth_check_metrics (auth, NULL));
    ck_assert (!auth_cors_enabled (auth));
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_bearer_matrix)
{
    auth_t *auth = s_auth ("s3cret-token", NULL, NULL);
    ck_assert (auth_enabled (auth));
    ck_assert (auth_check_bearer (auth, "Bearer s3cret-token"));
    ck_assert (auth_check_bearer (auth, "bearer s3cret-token"));
    ck_assert (auth_check_bearer (auth, "BEARER s3cret-token"));
    ck_assert (auth_check_bearer (auth, "Bearer    s3cret-token"));
    ck_assert (auth_check_bearer (auth, "Bearer s3cret-token  "));

    static const char *const refused[] = {
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "s3cret-token",
        "Basic s3cret-token",
        "Token s3cret-token",
        "Bearers3cret-token",
        "Bearer\ts3cret-token",
        "Bearer wrong",
        "Bearer s3cret-toke",    /* a prefix */
        "Bearer s",              /* a short prefix */
        "Bearer s3cret-token2",  /* extra characters */
        "Bearer s3cret-token x", /* extra word */
        "Bearer S3CRET-TOKEN",   /* tokens are case-sensitive */
        "Bearer xs3cret-token",
        "Bearer s3cret-token, Bearer s3cret-token",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ck_assert_msg (!auth_check_bearer (auth, refused[i]), "\"%s\" accepted",
                       refused[i]);
    ck_assert (!auth_check_bearer (auth, NULL));

    char huge[8192];
    int n = snprintf (huge, sizeof huge, "Bearer s3cret-token");
    memset (huge + n, 'a', sizeof huge - (size_t)n - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert (!auth_check_bearer (auth, huge));

    /* no metrics token: /metrics stays open even with auth on */
    ck_assert (auth_check_metrics (auth, NULL));
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_metrics_token_is_separate)
{
    auth_t *auth = s_auth ("api-token", "metrics-token", NULL);
    ck_assert (auth_check_metrics (auth, "Bearer metrics-token"));
    ck_assert (!auth_check_metrics (auth, "Bearer api-token"));
    ck_assert (!auth_check_metrics (auth, NULL));
    ck_assert (!auth_check_metrics (auth, "Bearer metrics-toke"));
    ck_assert (!auth_check_bearer (auth, "Bearer metrics-token"));
    ck_assert (auth_check_bearer (auth, "Bearer api-token"));
    auth_destroy (&auth);

    /* a metrics token without an API token guards /metrics alone */
    auth = s_auth (NULL, "metrics-token", NULL);
    ck_assert (!auth_enabled (auth));
    ck_assert (auth_check_bearer (auth, NULL));
    ck_assert (!auth_check_metrics (auth, NULL));
    ck_assert (auth_check_metrics (auth, "bearer metrics-token"));
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_config_is_checked)
{
    char why[200];
    auth_config_t cfg = { "ok", NULL, NULL, 0 };
    ck_assert_int_eq (auth_config_check (&cfg, why, sizeof why), 0);
    cfg.api_token = "has space";
    ck_assert_int_eq (auth_config_check (&cfg, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull (strstr (why, "API token"));
    ck_assert_ptr_null (strstr (why, "has space")); /* never the value */
    ck_assert_ptr_null (auth_new (&cfg));
    ck_assert_int_eq (errno, EINVAL);
    cfg.api_token = "ok";
    cfg.metrics_token = "tab\there";
    ck_assert_int_eq (auth_config_check (&cfg, why, sizeof why), -EINVAL);
    cfg.metrics_token = NULL;
    cfg.event_token_ttl_s = -1;
    ck_assert_int_eq (auth_config_check (&cfg, why, sizeof why), -EINVAL);
    cfg.event_token_ttl_s = AUTH_EVENT_TOKEN_TTL_MAX_S + 1;
    ck_assert_int_eq (auth_config_check (&cfg, NULL, 0), -EINVAL);
    cfg.event_token_ttl_s = AUTH_EVENT_TOKEN_TTL_MAX_S;
    ck_assert_int_eq (auth_config_check (&cfg, why, sizeof why), 0);

    static const char *const bad_origins[] = { "https://a.example/",
                                               "https://a.example/app",
                                               "a.example",
                                               "https://",
                                               "*, https://a.example",
                                               "https://a.example, *",
                                               "https://*.example",
                                               "://a.example",
                                               "https://a.example?x",
                                               "https://user@a.example" };
    for (size_t i = 0; i < sizeof bad_origins / sizeof *bad_origins; i++) {
        cfg.cors_origins = bad_origins[i];
        ck_assert_msg (auth_config_check (&cfg, why, sizeof why) == -EINVAL,
                       "\"%s\" accepted", bad_origins[i]);
        ck_assert_msg (why[0] != '\0', "no reason for \"%s\"", bad_origins[i]);
    }
    static const char *const good_origins[] = {
        "*",
        " * ",
        "https://a.example",
        "http://localhost:5173",
        "https://a.example, http://localhost:5173,,",
        "http://[::1]:8080",
        "http://127.0.0.1:8080"
    };
    for (size_t i = 0; i < sizeof good_origins / sizeof *good_origins; i++) {
        cfg.cors_origins = good_origins[i];
        ck_assert_msg (auth_config_check (&cfg, why, sizeof why) == 0,
                       "\"%s\" refused: %s", good_origins[i], why);
    }
}
END_TEST

START_TEST (test_event_token_round_trip)
{
    auth_t *auth = s_auth ("api-token", NULL, NULL);
    char token[AURA_EVENT_TOKEN_MAX];
    s_token (auth, token);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, token, S_NOW), 0);
    ck_assert_int_eq (
        auth_verify_event_token (auth, S_JOB, token,
                                 S_NOW + AUTH_EVENT_TOKEN_TTL_DEFAULT_S - 1),
        0);
    /* the same job and time give the same token: nothing random in it */
    char again[AURA_EVENT_TOKEN_MAX];
    s_token (auth, again);
    ck_assert_str_eq (token, again);
    /* an event token is not an API token */
    char header[128];
    snprintf (header, sizeof header, "Bearer %s", token);
    ck_assert (!auth_check_bearer (auth, header));
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_event_token_is_for_one_job)
{
    auth_t *auth = s_auth ("api-token", NULL, NULL);
    char token[AURA_EVENT_TOKEN_MAX];
    s_token (auth, token);
    ck_assert_int_eq (auth_verify_event_token (auth, S_OTHER_JOB, token, S_NOW),
                      -EACCES);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB "X", token, S_NOW),
                      -EACCES);
    ck_assert_int_eq (auth_verify_event_token (auth, "", token, S_NOW),
                      -EACCES);
    ck_assert_int_eq (auth_verify_event_token (auth, NULL, token, S_NOW),
                      -EACCES);
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_event_token_expires)
{
    auth_config_t cfg = { "api-token", NULL, NULL, 60 };
    auth_t *auth = auth_new (&cfg);
    ck_assert_ptr_nonnull (auth);
    char token[AURA_EVENT_TOKEN_MAX];
    s_token (auth, token);
    char expected_prefix[32];
    snprintf (expected_prefix, sizeof expected_prefix, "%d.", S_NOW + 60);
    ck_assert_int_eq (
        strncmp (token, expected_prefix, strlen (expected_prefix)), 0);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, token, S_NOW + 59),
                      0);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, token, S_NOW + 60),
                      -EKEYEXPIRED);
    ck_assert_int_eq (
        auth_verify_event_token (auth, S_JOB, token, S_NOW + 86400),
        -EKEYEXPIRED);
    /* expired or not, another job's token stays a plain refusal */
    ck_assert_int_eq (
        auth_verify_event_token (auth, S_OTHER_JOB, token, S_NOW + 86400),
        -EACCES);
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_tampered_tokens_are_refused)
{
    auth_t *auth = s_auth ("api-token", NULL, NULL);
    char token[AURA_EVENT_TOKEN_MAX];
    s_token (auth, token);
    char *dot = strchr (token, '.');
    char forged[AURA_EVENT_TOKEN_MAX + 16];

    /* a later expiry with the old signature */
    snprintf (forged, sizeof forged, "%d%s",
              S_NOW + AUTH_EVENT_TOKEN_TTL_DEFAULT_S + 3600, dot);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, forged, S_NOW),
                      -EACCES);
    /* the same expiry spelt with a leading zero */
    snprintf (forged, sizeof forged, "0%s", token);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, forged, S_NOW),
                      -EACCES);
    /* one character of the signature changed, first, middle and last */
    size_t len = strlen (token);
    size_t positions[] = { (size_t)(dot - token) + 1,
                           (size_t)(dot - token) + 20, len - 1 };
    for (size_t i = 0; i < sizeof positions / sizeof *positions; i++) {
        snprintf (forged, sizeof forged, "%s", token);
        forged[positions[i]] = forged[positions[i]] == 'A' ? 'B' : 'A';
        ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, forged, S_NOW),
                          -EACCES);
    }
    /* signature cut short, or with one more character */
    snprintf (forged, sizeof forged, "%.*s", (int)len - 1, token);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, forged, S_NOW),
                      -EACCES);
    snprintf (forged, sizeof forged, "%sA", token);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, forged, S_NOW),
                      -EACCES);
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_garbage_tokens_are_refused)
{
    auth_t *auth = s_auth ("api-token", NULL, NULL);
    static const char *const garbage[] = {
        "",
        ".",
        "1700003600",
        "nodot",
        ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "+1700003600.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "1700003600.",
        "1700003600.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "1700003600.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "99999999999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "1700003600.AAAA.AAAA",
        "api-token",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof *garbage; i++)
        ck_assert_msg (auth_verify_event_token (auth, S_JOB, garbage[i], S_NOW)
                           == -EACCES,
                       "\"%s\" not refused", garbage[i]);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, NULL, S_NOW),
                      -EACCES);

    char huge[100000];
    memset (huge, '1', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, huge, S_NOW),
                      -EACCES);
    huge[10] = '.';
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, huge, S_NOW),
                      -EACCES);
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_tokens_of_other_gateways)
{
    auth_t *one = s_auth ("shared-token", NULL, NULL);
    auth_t *two = s_auth ("shared-token", "other-metrics", "*");
    auth_t *stranger = s_auth ("another-token", NULL, NULL);
    char token[AURA_EVENT_TOKEN_MAX];
    s_token (one, token);
    /* any gateway with the same API token accepts it */
    ck_assert_int_eq (auth_verify_event_token (two, S_JOB, token, S_NOW), 0);
    ck_assert_int_eq (auth_verify_event_token (stranger, S_JOB, token, S_NOW),
                      -EACCES);
    char theirs[AURA_EVENT_TOKEN_MAX];
    s_token (stranger, theirs);
    ck_assert_str_ne (token, theirs);
    ck_assert_int_eq (auth_verify_event_token (one, S_JOB, theirs, S_NOW),
                      -EACCES);
    auth_destroy (&one);
    auth_destroy (&two);
    auth_destroy (&stranger);
}
END_TEST

START_TEST (test_event_token_limits)
{
    auth_t *auth = s_auth ("api-token", NULL, NULL);
    char small[16];
    ck_assert_int_eq (
        auth_event_token (auth, S_JOB, S_NOW, small, sizeof small), -ENOSPC);
    ck_assert_str_eq (small, "");
    char token[AURA_EVENT_TOKEN_MAX];
    ck_assert_int_eq (auth_event_token (auth, "", S_NOW, token, sizeof token),
                      -EINVAL);
    ck_assert_int_eq (auth_event_token (auth, NULL, S_NOW, token, sizeof token),
                      -EINVAL);
    ck_assert_int_eq (auth_event_token (auth, S_JOB, -1, token, sizeof token),
                      -EINVAL);
    ck_assert_int_eq (
        auth_event_token (auth, S_JOB, INT64_MAX, token, sizeof token),
        -EINVAL);
    char long_id[AUTH_JOB_ID_MAX + 2];
    memset (long_id, 'J', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    ck_assert_int_eq (
        auth_event_token (auth, long_id, S_NOW, token, sizeof token), -EINVAL);
    long_id[AUTH_JOB_ID_MAX] = '\0'; /* the longest allowed */
    ck_assert_int_gt (
        auth_event_token (auth, long_id, S_NOW, token, sizeof token), 0);
    ck_assert_int_eq (auth_verify_event_token (auth, long_id, token, S_NOW), 0);
    auth_destroy (&auth);

    /* the longest token there can be still fits AURA_EVENT_TOKEN_MAX */
    auth_config_t cfg = { "api-token", NULL, NULL, AUTH_EVENT_TOKEN_TTL_MAX_S };
    auth = auth_new (&cfg);
    ck_assert_ptr_nonnull (auth);
    int64_t latest = INT64_MAX - AUTH_EVENT_TOKEN_TTL_MAX_S;
    int len = auth_event_token (auth, S_JOB, latest, token, sizeof token);
    ck_assert_int_gt (len, 0);
    ck_assert_int_lt (len, AURA_EVENT_TOKEN_MAX);
    ck_assert_int_eq (auth_verify_event_token (auth, S_JOB, token, latest), 0);
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_cors_list)
{
    auth_t *auth =
        s_auth (NULL, NULL, " https://a.example ,http://localhost:5173,, ");
    ck_assert (auth_cors_enabled (auth));
    ck_assert (auth_cors_varies (auth));
    ck_assert_str_eq (auth_cors_allow_origin (auth, "https://a.example"),
                      "https://a.example");
    ck_assert_str_eq (auth_cors_allow_origin (auth, "http://localhost:5173"),
                      "http://localhost:5173");
    /* scheme and host are case-insensitive; the answer echoes the request */
    ck_assert_str_eq (auth_cors_allow_origin (auth, "HTTPS://A.Example"),
                      "HTTPS://A.Example");
    static const char *const refused[] = {
        "https://a.example.evil", /* suffix added */
        "https://evil-a.example",
        "https://x.a.example",   /* subdomain */
        "http://a.example",      /* another scheme */
        "https://a.example:443", /* spelt otherwise: browsers never do */
        "https://a.exampl",      /* prefix */
        "http://localhost",
        "http://localhost:51730",
        "http://localhost:5173/",
        " https://a.example",
        "null",
        "",
        "*",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        ck_assert_msg (auth_cors_allow_origin (auth, refused[i]) == NULL,
                       "\"%s\" allowed", refused[i]);
    ck_assert_ptr_null (auth_cors_allow_origin (auth, NULL));
    auth_destroy (&auth);

    auth = s_auth ("token", NULL, "*");
    ck_assert (auth_cors_enabled (auth));
    ck_assert (!auth_cors_varies (auth));
    ck_assert_str_eq (auth_cors_allow_origin (auth, "https://anything.example"),
                      "*");
    ck_assert_str_eq (auth_cors_allow_origin (auth, "null"), "*");
    ck_assert_ptr_null (auth_cors_allow_origin (auth, NULL));
    auth_destroy (&auth);
}
END_TEST

START_TEST (test_cors_header_values)
{
    /* what the server sends must name the headers browsers will send */
    ck_assert_ptr_nonnull (strstr (AUTH_CORS_ALLOW_HEADERS, "Authorization"));
    ck_assert_ptr_nonnull (strstr (AUTH_CORS_ALLOW_HEADERS, "Last-Event-ID"));
    ck_assert_ptr_nonnull (strstr (AUTH_CORS_ALLOW_METHODS, "POST"));
    ck_assert_ptr_nonnull (strstr (AUTH_CORS_EXPOSE_HEADERS, "Retry-After"));
    ck_assert_str_eq (AUTH_CORS_MAX_AGE, "600");
    ck_assert_str_eq (AUTH_CORS_VARY, "Origin");
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("gateway_auth");
    TCase *bearer = tcase_create ("bearer");
    tcase_add_test (bearer, test_off_allows_everything);
    tcase_add_test (bearer, test_bearer_matrix);
    tcase_add_test (bearer, test_metrics_token_is_separate);
    tcase_add_test (bearer, test_config_is_checked);
    suite_add_tcase (suite, bearer);
    TCase *events = tcase_create ("event_tokens");
    tcase_add_test (events, test_event_token_round_trip);
    tcase_add_test (events, test_event_token_is_for_one_job);
    tcase_add_test (events, test_event_token_expires);
    tcase_add_test (events, test_tampered_tokens_are_refused);
    tcase_add_test (events, test_garbage_tokens_are_refused);
    tcase_add_test (events, test_tokens_of_other_gateways);
    tcase_add_test (events, test_event_token_limits);
    suite_add_tcase (suite, events);
    TCase *cors = tcase_create ("cors");
    tcase_add_test (cors, test_cors_list);
    tcase_add_test (cors, test_cors_header_values);
    suite_add_tcase (suite, cors);
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
