/*  Unit tests of /metrics: the exposition text a snapshot renders to
    (HELP and TYPE for every family, cumulative histogram buckets ending
    in +Inf equal to _count, escaped label values), the lock-free
    histograms, and the route that serves it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "route.h"

/*  Renders snapshot; the caller frees the text. */
static char *
s_render (const metrics_snapshot_t *snapshot)
{
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq (metrics_render (snapshot, &text, &len), 0);
    ck_assert_ptr_nonnull (text);
    ck_assert_uint_eq (len, strlen (text));
    ck_assert_msg (len > 0 && text[len - 1] == '\n', "the text ends with a newline");
    return text;
}

/*  The value of the sample line that starts with "name " or "name{…} ",
    exactly as written; fails when there is none. */
static double
s_sample (const char *text, const char *series)
{
    size_t n = strlen (series);
    for (const char *line = text; *line;) {
        const char *end = strchr (line, '\n');
        ck_assert_ptr_nonnull (end);
        if ((size_t) (end - line) > n && strncmp (line, series, n) == 0 && line[n] == ' ')
            return strtod (line + n + 1, NULL);
        line = end + 1;
    }
    ck_abort_msg ("no sample %s in:\n%s", series, text);
    return 0;
}

static bool
s_has_line (const char *text, const char *wanted)
{
    size_t n = strlen (wanted);
    for (const char *line = text; *line;) {
        const char *end = strchr (line, '\n');
        if ((size_t) (end - line) == n && strncmp (line, wanted, n) == 0)
            return true;
        line = end + 1;
    }
    return false;
}

/*  Every line is a comment (# HELP / # TYPE) or `name{labels} value`, and
    every sample's family has HELP and TYPE lines before it. */
static void
s_assert_well_formed (const char *text)
{
    char families[64][96];
    size_t family_count = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr (line, '\n');
        ck_assert_ptr_nonnull (end);
        char buf[512];
        size_t len = (size_t) (end - line);
        ck_assert_uint_lt (len, sizeof buf);
        memcpy (buf, line, len);
        buf[len] = '\0';
        line = end + 1;
        if (strncmp (buf, "# HELP ", 7) == 0)
            continue;
        if (strncmp (buf, "# TYPE ", 7) == 0) {
            char name[96], type[32];
            ck_assert_int_eq (sscanf (buf + 7, "%95s %31s", name, type), 2);
            ck_assert_msg (strcmp (type, "counter") == 0 || strcmp (type, "gauge") == 0
                               || strcmp (type, "histogram") == 0,
                           "type %s", type);
            ck_assert_uint_lt (family_count, 64);
            snprintf (families[family_count++], sizeof families[0], "%s", name);
            continue;
        }
        ck_assert_msg (buf[0] != '#', "unknown comment: %s", buf);
        size_t name_len = strspn (buf, "abcdefghijklmnopqrstuvwxyz_:0123456789");
        ck_assert_msg (name_len > 0, "no metric name: %s", buf);
        const char *rest = buf + name_len;
        if (*rest == '{') {
            const char *close = strstr (rest, "} ");
            ck_assert_msg (close, "unterminated labels: %s", buf);
            rest = close + 1;
        }
        ck_assert_msg (*rest == ' ', "no value: %s", buf);
        char *value_end = NULL;
        strtod (rest + 1, &value_end);
        ck_assert_msg (value_end != rest + 1 && *value_end == '\0', "bad value: %s", buf);
        bool declared = false;
        for (size_t i = 0; i < family_count && !declared; i++) {
            size_t f = strlen (families[i]);
            if (name_len < f || strncmp (buf, families[i], f) != 0)
                continue;
            const char *suffix = buf + f;
            size_t suffix_len = name_len - f;
            declared = suffix_len == 0
                       || (suffix_len == 7 && strncmp (suffix, "_bucket", 7) == 0)
                       || (suffix_len == 4 && strncmp (suffix, "_sum", 4) == 0)
                       || (suffix_len == 6 && strncmp (suffix, "_count", 6) == 0);
        }
        ck_assert_msg (declared, "sample without TYPE: %s", buf);
    }
}

START_TEST (test_render_every_family_with_help_and_type)
{
    metrics_request_count_t requests[] = {
        { "/api/jobs", "POST", 202, 3 },
        { "/api/jobs", "GET", 202, 4 },
        { "/api/jobs/{id}/events", "GET", 200, 2 },
    };
    metrics_snapshot_t snapshot = { .requests = requests, .request_count = 3 };
    snapshot.request_duration.bounds_us = metrics_request_bounds_us;
    snapshot.request_duration.bound_count = metrics_request_bound_count;
    snapshot.event_lag.bounds_us = metrics_lag_bounds_us;
    snapshot.event_lag.bound_count = metrics_lag_bound_count;
    snapshot.streams_open = 1;
    snapshot.streams_opened = 7;
    snapshot.streams_cut = 1;
    snapshot.events_sent = 42;
    snapshot.broker_events_received = 40;
    snapshot.broker_gaps = 2;
    snapshot.broker_gaps_filled = 1;
    snapshot.broker_answers_malformed = 5;
    snapshot.broker_timeouts = 6;
    snapshot.jobs_cached = 9;
    char *text = s_render (&snapshot);
    s_assert_well_formed (text);

    static const char *const families[][2] = {
        { "http_requests_total", "counter" },
        { "http_request_duration_seconds", "histogram" },
        { "sse_streams_open", "gauge" },
        { "sse_streams_opened_total", "counter" },
        { "sse_streams_cut_total", "counter" },
        { "sse_events_sent_total", "counter" },
        { "sse_event_lag_seconds", "histogram" },
        { "broker_events_received_total", "counter" },
        { "broker_gaps_total", "counter" },
        { "broker_gaps_filled_total", "counter" },
        { "broker_answers_malformed_total", "counter" },
        { "broker_timeouts_total", "counter" },
        { "jobs_cached", "gauge" },
    };
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        char line[160];
        snprintf (line, sizeof line, "# TYPE aura_gateway_%s %s", families[i][0],
                  families[i][1]);
        ck_assert_msg (s_has_line (text, line), "missing %s", line);
        snprintf (line, sizeof line, "# HELP aura_gateway_%s ", families[i][0]);
        ck_assert_msg (strstr (text, line), "missing %s", line);
    }
    ck_assert_double_eq (
        s_sample (text, "aura_gateway_http_requests_total{route=\"/api/jobs\",method="
                          "\"POST\",code=\"202\"}"),
        3);
    ck_assert_double_eq (
        s_sample (text, "aura_gateway_http_requests_total{route=\"/api/jobs\",method="
                        "\"GET\",code=\"202\"}"),
        4);
    ck_assert_double_eq (s_sample (text, "aura_gateway_http_requests_total{route=\"/api/jobs/"
                                         "{id}/events\",method=\"GET\",code=\"200\"}"),
                         2);
    ck_assert_double_eq (s_sample (text, "aura_gateway_sse_streams_open"), 1);
    ck_assert_double_eq (s_sample (text, "aura_gateway_sse_events_sent_total"), 42);
    ck_assert_double_eq (s_sample (text, "aura_gateway_broker_gaps_filled_total"), 1);
    ck_assert_double_eq (s_sample (text, "aura_gateway_broker_timeouts_total"), 6);
    ck_assert_double_eq (s_sample (text, "aura_gateway_jobs_cached"), 9);
    /* an empty histogram still has every bucket, all 0 */
    ck_assert_double_eq (
        s_sample (text, "aura_gateway_sse_event_lag_seconds_bucket{le=\"+Inf\"}"), 0);
    ck_assert_double_eq (s_sample (text, "aura_gateway_sse_event_lag_seconds_count"), 0);
    free (text);
}
END_TEST

START_TEST (test_histogram_buckets_are_cumulative_and_end_in_inf)
{
    metrics_histogram_t live;
    metrics_histogram_init (&live, metrics_request_bounds_us, metrics_request_bound_count);
    metrics_histogram_observe (&live, 100);     /* 0.0001 s: first bucket */
    metrics_histogram_observe (&live, 500);     /* exactly on a bound: le is inclusive */
    metrics_histogram_observe (&live, 7000);    /* 0.007 s: le 0.01 */
    metrics_histogram_observe (&live, 2000000); /* 2 s: le 2.5 */
    metrics_histogram_observe (&live, 9000000); /* 9 s: only +Inf */
    metrics_histogram_observe (&live, -50);     /* a clock step: counts as 0 */

    metrics_snapshot_t snapshot = { 0 };
    metrics_histogram_read (&live, &snapshot.request_duration);
    snapshot.event_lag.bounds_us = metrics_lag_bounds_us;
    snapshot.event_lag.bound_count = metrics_lag_bound_count;
    char *text = s_render (&snapshot);
    s_assert_well_formed (text);

    const char *prefix = "aura_gateway_http_request_duration_seconds";
    char series[160];
    static const struct {
        const char *le;
        double count;
    } expected[] = {
        { "0.0005", 3 }, { "0.001", 3 }, { "0.0025", 3 }, { "0.005", 3 }, { "0.01", 4 },
        { "0.025", 4 },  { "0.05", 4 },  { "0.1", 4 },    { "0.25", 4 },  { "0.5", 4 },
        { "1", 4 },      { "2.5", 5 },   { "+Inf", 6 },
    };
    double previous = 0;
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        snprintf (series, sizeof series, "%s_bucket{le=\"%s\"}", prefix, expected[i].le);
        double count = s_sample (text, series);
        ck_assert_msg (count == expected[i].count, "%s is %g, not %g", series, count,
                       expected[i].count);
        ck_assert (count >= previous);
        previous = count;
    }
    /* +Inf is the last bucket line and equals _count */
    snprintf (series, sizeof series, "%s_bucket{le=\"+Inf\"} 6\n%s_sum ", prefix, prefix);
    ck_assert_msg (strstr (text, series), "+Inf is not the last bucket:\n%s", text);
    snprintf (series, sizeof series, "%s_count", prefix);
    ck_assert_double_eq (s_sample (text, series), 6);
    snprintf (series, sizeof series, "%s_sum", prefix);
    ck_assert_double_eq_tol (s_sample (text, series), 11.0076, 1e-9);
    free (text);
}
END_TEST

START_TEST (test_label_values_are_escaped)
{
    char out[64];
    ck_assert_uint_eq (metrics_escape_label ("a\"b\\c\nd", out, sizeof out), 10);
    ck_assert_str_eq (out, "a\\\"b\\\\c\\nd");
    ck_assert_uint_eq (metrics_escape_label ("/api/jobs/{id}", out, sizeof out), 14);
    ck_assert_str_eq (out, "/api/jobs/{id}");
    /* too small: cut short, still terminated, the full length reported */
    ck_assert_uint_eq (metrics_escape_label ("\"\"\"\"", out, 4), 8);
    ck_assert_str_eq (out, "\\\"\\");

    metrics_request_count_t requests[] = { { "odd \"route\"\\\n", "GET", 404, 1 } };
    metrics_snapshot_t snapshot = { .requests = requests, .request_count = 1 };
    char *text = s_render (&snapshot);
    s_assert_well_formed (text);
    ck_assert_double_eq (s_sample (text, "aura_gateway_http_requests_total{route=\"odd "
                                         "\\\"route\\\"\\\\\\n\",method=\"GET\",code=\"404\"}"),
                         1);
    free (text);
}
END_TEST

START_TEST (test_metrics_route)
{
    route_t route;
    ck_assert_int_eq (route_match ("GET", "/metrics", 8, &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_METRICS);
    ck_assert_str_eq (route_name (ROUTE_METRICS), "/metrics");
    ck_assert_int_eq (route_match ("POST", "/metrics", 8, &route), ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq (route.allow, "GET");
    /* outside /api, another path is a web UI file, which the server
       answers 404 when it is not there */
    ck_assert_int_eq (route_match ("GET", "/metrics/", 9, &route), ROUTE_MATCHED);
    ck_assert_int_eq (route.id, ROUTE_WEB);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("gateway_metrics");
    TCase *tc = tcase_create ("metrics");
    tcase_add_test (tc, test_render_every_family_with_help_and_type);
    tcase_add_test (tc, test_histogram_buckets_are_cumulative_and_end_in_inf);
    tcase_add_test (tc, test_label_values_are_escaped);
    tcase_add_test (tc, test_metrics_route);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
