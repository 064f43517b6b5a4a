/*  Unit tests of the gateway's request validation: what a client sends
    to POST /api/jobs either becomes the spec the broker stores or a 400
    naming the field (the 64 KiB body limit is the HTTP layer's); the query
    of GET /api/jobs and the Idempotency-Key header likewise. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/*  Validates text and expects rejection; returns the errors. */
static request_errors_t
s_reject (const char *text)
{
    request_errors_t errors;
    char *spec = (char *) "untouched";
    size_t spec_len = 99;
    ck_assert_int_eq (request_parse_job (text, strlen (text), &spec, &spec_len, &errors),
                      -EINVAL);
    ck_assert_ptr_null (spec);
    ck_assert_uint_eq (spec_len, 0);
    ck_assert_uint_ge (errors.count, 1);
    return errors;
}

/*  True when some error names field. */
static bool
s_names (const request_errors_t *errors, const char *field)
{
    for (size_t i = 0; i < errors->count; i++)
        if (strcmp (errors->items[i].field, field) == 0)
            return true;
    return false;
}

/*  Validates text and expects acceptance; returns the parsed spec. */
static json_t *
s_accept (const char *text)
{
    request_errors_t errors;
    char *spec = NULL;
    size_t spec_len = 0;
    int rc = request_parse_job (text, strlen (text), &spec, &spec_len, &errors);
    ck_assert_msg (rc == 0, "rejected %s: %s %s", text,
                   errors.count ? errors.items[0].field : "",
                   errors.count ? errors.items[0].message : "");
    ck_assert_ptr_nonnull (spec);
    ck_assert_uint_eq (spec_len, strlen (spec));
    json_t *parsed = json_loads (spec, 0, NULL);
    ck_assert_ptr_nonnull (parsed);
    free (spec);
    return parsed;
}

START_TEST (test_valid_body_is_accepted_and_passed_through)
{
    json_t *spec = s_accept (
        "{\"brief\": {\"topic\": \"How bees dance\", \"audience\": \"children\","
        " \"aspect\": \"Vertical9x16\"},\n"
        " \"planSpec\": {\"targetDuration\": \"00:00:45\", \"pacing\": \"Fast\"},"
        " \"voiceSpec\": {\"rate\": 1.1}, \"renderSpec\": {\"res\": {\"width\": 1280,"
        " \"height\": 720}}}");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (spec, "brief"), "topic")),
                      "How bees dance");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (spec, "brief"), "audience")),
                      "children");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (spec, "planSpec"), "targetDuration")),
                      "00:00:45");
    ck_assert_int_eq (json_integer_value (json_object_get (
                          json_object_get (json_object_get (spec, "renderSpec"), "res"),
                          "height")),
                      720);
    json_decref (spec);
}
END_TEST

START_TEST (test_spec_is_compact_and_topic_trimmed)
{
    const char *text = "{ \"brief\" : { \"topic\" : \"  Tides \\n\" } ,\n"
                       " \"planSpec\": {\"pacing\": \"fast\"} }";
    request_errors_t errors;
    char *spec = NULL;
    size_t spec_len = 0;
    ck_assert_int_eq (request_parse_job (text, strlen (text), &spec, &spec_len, &errors), 0);
    /* names are written in the case the worker lists them */
    ck_assert_str_eq (spec, "{\"brief\":{\"topic\":\"Tides\"},\"planSpec\":{\"pacing\":\"Fast\"}}");
    free (spec);
}
END_TEST

START_TEST (test_invalid_json_says_line_and_column)
{
    request_errors_t errors = s_reject ("{\"brief\": {\"topic\": \"x\",}}");
    ck_assert_str_eq (errors.items[0].field, "body");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "line 1, column "));

    errors = s_reject ("{\n  \"brief\": {\n    \"topic\": \"x\" \"y\"\n  }\n}");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "line 3, column "));

    /* trailing garbage and duplicate keys are not JSON we accept */
    errors = s_reject ("{\"brief\": {\"topic\": \"x\"}} trailing");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "line 1"));
    errors = s_reject ("{\"brief\": {\"topic\": \"x\", \"topic\": \"y\"}}");
    ck_assert_str_eq (errors.items[0].field, "body");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "column"));

    /* the parser's quote of the bad token may stop inside a character:
       the message stays valid UTF-8 and keeps the characters before */
    errors = s_reject ("{\"brief\": {\"topic\": \"caf\\u00e\xc3\xa9\"}}");
    const char *m = errors.items[0].message;
    ck_assert_msg (strstr (m, "caf"), "%s", m);
    for (const unsigned char *p = (const unsigned char *) m; *p; p++)
        ck_assert_msg (*p < 0x80, "a stray byte in %s", m);
}
END_TEST

START_TEST (test_empty_body_and_non_objects)
{
    request_errors_t errors;
    char *spec = NULL;
    size_t spec_len = 0;
    ck_assert_int_eq (request_parse_job ("", 0, &spec, &spec_len, &errors), -EINVAL);
    ck_assert_uint_eq (errors.count, 1);
    ck_assert_str_eq (errors.items[0].field, "body");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "empty"));

    const char *bodies[] = { "[]", "42", "null", "\"brief\"", "   " };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        errors = s_reject (bodies[i]);
        ck_assert_str_eq (errors.items[0].field, "body");
    }
}
END_TEST

START_TEST (test_missing_empty_or_mistyped_topic_names_brief_topic)
{
    const char *bodies[] = {
        "{\"brief\": {\"audience\": \"kids\"}}",
        "{\"brief\": {\"topic\": \"\"}}",
        "{\"brief\": {\"topic\": \" \\t\\n \"}}",
        "{\"brief\": {\"topic\": 42}}",
        "{\"brief\": {\"topic\": null}}",
        "{\"brief\": {\"topic\": [\"x\"]}}",
        "{\"planSpec\": {}}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        request_errors_t errors = s_reject (bodies[i]);
        ck_assert_msg (s_names (&errors, "brief.topic"), "%s: %s", bodies[i],
                       errors.items[0].field);
    }
    request_errors_t errors = s_reject ("{\"brief\": {\"topic\": 42}}");
    ck_assert_str_eq (errors.items[0].message, "must be a string");
    errors = s_reject ("{\"brief\": {}}");
    ck_assert_str_eq (errors.items[0].message, "is required");
}
END_TEST

START_TEST (test_topic_length_is_counted_in_characters)
{
    /* 500 two-byte characters are fine, 501 ASCII ones are not */
    char text[2048];
    size_t n = (size_t) snprintf (text, sizeof text, "{\"brief\":{\"topic\":\"");
    for (int i = 0; i < 500; i++) {
        text[n++] = (char) 0xC3;
        text[n++] = (char) 0xA9;
    }
    memcpy (text + n, "\"}}", 4);
    json_decref (s_accept (text));

    n = (size_t) snprintf (text, sizeof text, "{\"brief\":{\"topic\":\"");
    memset (text + n, 'x', 501);
    memcpy (text + n + 501, "\"}}", 4);
    request_errors_t errors = s_reject (text);
    ck_assert_str_eq (errors.items[0].field, "brief.topic");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "500"));
}
END_TEST

START_TEST (test_sections_must_be_objects)
{
    request_errors_t errors = s_reject ("{\"brief\": \"photosynthesis\"}");
    ck_assert_uint_eq (errors.count, 1);
    ck_assert_str_eq (errors.items[0].field, "brief");

    errors = s_reject ("{\"brief\": [1]}");
    ck_assert_str_eq (errors.items[0].field, "brief");

    /* every problem is reported at once */
    errors = s_reject ("{\"brief\": {\"topic\": \"\"}, \"planSpec\": 30,"
                       " \"voiceSpec\": \"x\", \"renderSpec\": [] }");
    ck_assert_uint_eq (errors.count, 4);
    ck_assert (s_names (&errors, "brief.topic"));
    ck_assert (s_names (&errors, "planSpec"));
    ck_assert (s_names (&errors, "voiceSpec"));
    ck_assert (s_names (&errors, "renderSpec"));

    /* null is not an object either */
    errors = s_reject ("{\"brief\": {\"topic\": \"x\"}, \"planSpec\": null}");
    ck_assert_str_eq (errors.items[0].field, "planSpec");
}
END_TEST

START_TEST (test_demo_spec_is_a_valid_request)
{
    char *spec = NULL;
    size_t spec_len = 0;
    ck_assert_int_eq (request_demo_spec (&spec, &spec_len), 0);
    ck_assert_uint_eq (spec_len, strlen (spec));
    json_t *parsed = s_accept (spec);
    json_t *brief = json_object_get (parsed, "brief");
    ck_assert_str_eq (json_string_value (json_object_get (brief, "topic")),
                      "Welcome to Aura Video Studio");
    ck_assert_int_eq (json_integer_value (json_object_get (
                          json_object_get (parsed, "planSpec"), "targetDuration")),
                      12);
    json_t *render = json_object_get (parsed, "renderSpec");
    ck_assert_str_eq (json_string_value (json_object_get (render, "res")), "1080p");
    ck_assert_int_eq (json_integer_value (json_object_get (render, "fps")), 30);
    json_decref (parsed);
    free (spec);
}
END_TEST

/*  One member of a section, and the field named when it is refused
    (NULL: accepted). */
typedef struct {
    const char *section;
    const char *member;
    const char *field;
} field_case_t;

static const field_case_t s_field_cases[] = {
    { "brief", "\"audience\": \"Night-shift nurses\"", NULL },
    { "brief", "\"audience\": 7", "brief.audience" },
    { "brief", "\"goal\": \"Learn the basics\"", NULL },
    { "brief", "\"goal\": [\"learn\"]", "brief.goal" },
    { "brief", "\"tone\": \"Calm\"", NULL },
    { "brief", "\"tone\": null", "brief.tone" },
    { "brief", "\"language\": \"en-US\"", NULL },
    { "brief", "\"language\": \"zh-Hant-TW\"", NULL },
    { "brief", "\"language\": \"english\"", "brief.language" },
    { "brief", "\"language\": \"en_US\"", "brief.language" },
    { "brief", "\"language\": \"en-abcdefghi\"", "brief.language" },
    { "brief", "\"language\": \"en-US-abcd-efghij\"", "brief.language" },
    { "brief", "\"aspect\": \"Square1x1\"", NULL },
    { "brief", "\"aspect\": \"vertical9x16\"", NULL },
    { "brief", "\"aspect\": \"16:9\"", "brief.aspect" },
    { "planSpec", "\"targetDuration\": 5", NULL },
    { "planSpec", "\"targetDuration\": 600", NULL },
    { "planSpec", "\"targetDuration\": 42.5", NULL },
    { "planSpec", "\"targetDuration\": \"01:30\"", NULL },
    { "planSpec", "\"targetDuration\": \"00:10:00\"", NULL },
    { "planSpec", "\"targetDuration\": 4.9", "planSpec.targetDuration" },
    { "planSpec", "\"targetDuration\": 601", "planSpec.targetDuration" },
    { "planSpec", "\"targetDuration\": \"00:10:01\"", "planSpec.targetDuration" },
    { "planSpec", "\"targetDuration\": \"1:75\"", "planSpec.targetDuration" },
    { "planSpec", "\"targetDuration\": \"90s\"", "planSpec.targetDuration" },
    { "planSpec", "\"targetDuration\": true", "planSpec.targetDuration" },
    { "planSpec", "\"pacing\": \"Chill\"", NULL },
    { "planSpec", "\"pacing\": \"Slow\"", "planSpec.pacing" },
    { "planSpec", "\"density\": \"Dense\"", NULL },
    { "planSpec", "\"density\": 2", "planSpec.density" },
    { "planSpec", "\"style\": \"documentary\"", NULL },
    { "planSpec", "\"style\": \"a style name that is far too long for it\"",
      "planSpec.style" },
    { "voiceSpec", "\"voiceName\": \"en-us+f3\"", NULL },
    { "voiceSpec", "\"voiceName\": \"en us\"", "voiceSpec.voiceName" },
    { "voiceSpec", "\"voiceName\": \"\"", "voiceSpec.voiceName" },
    { "voiceSpec", "\"rate\": 0.5", NULL },
    { "voiceSpec", "\"rate\": 2.5", "voiceSpec.rate" },
    { "voiceSpec", "\"rate\": \"fast\"", "voiceSpec.rate" },
    { "voiceSpec", "\"pitch\": 1", NULL },
    { "voiceSpec", "\"pitch\": 0", "voiceSpec.pitch" },
    { "voiceSpec", "\"pause\": \"Dramatic\"", NULL },
    { "voiceSpec", "\"pause\": 2.5", NULL },
    { "voiceSpec", "\"pause\": \"Eternal\"", "voiceSpec.pause" },
    { "voiceSpec", "\"pause\": 6", "voiceSpec.pause" },
    { "renderSpec", "\"res\": \"720p\"", NULL },
    { "renderSpec", "\"res\": {\"width\": 1080, \"height\": 1920}", NULL },
    { "renderSpec", "\"res\": {\"width\": 128, \"height\": 128}", NULL },
    { "renderSpec", "\"res\": \"4k\"", "renderSpec.res" },
    { "renderSpec", "\"res\": {\"width\": 1281, \"height\": 720}",
      "renderSpec.res.width" },
    { "renderSpec", "\"res\": {\"width\": 1280, \"height\": 100}",
      "renderSpec.res.height" },
    { "renderSpec", "\"res\": {\"width\": 1280}", "renderSpec.res.height" },
    { "renderSpec", "\"res\": {\"width\": 3840, \"height\": 3840}", "renderSpec.res" },
    { "renderSpec", "\"container\": \"mp4\"", NULL },
    { "renderSpec", "\"container\": \"mkv\"", "renderSpec.container" },
    { "renderSpec", "\"codec\": \"h264\"", NULL },
    { "renderSpec", "\"codec\": \"VP9\"", "renderSpec.codec" },
    { "renderSpec", "\"fps\": 25", NULL },
    { "renderSpec", "\"fps\": 29", "renderSpec.fps" },
    { "renderSpec", "\"qualityLevel\": 100", NULL },
    { "renderSpec", "\"qualityLevel\": 50.5", "renderSpec.qualityLevel" },
    { "renderSpec", "\"qualityLevel\": 101", "renderSpec.qualityLevel" },
    { "renderSpec", "\"videoBitrateK\": 8000", NULL },
    { "renderSpec", "\"videoBitrateK\": 99", "renderSpec.videoBitrateK" },
    { "renderSpec", "\"audioBitrateK\": 192", NULL },
    { "renderSpec", "\"audioBitrateK\": \"192\"", "renderSpec.audioBitrateK" },
};

START_TEST (test_each_field_is_checked_and_named)
{
    for (size_t i = 0; i < sizeof s_field_cases / sizeof *s_field_cases; i++) {
        const field_case_t *c = &s_field_cases[i];
        char text[512];
        if (strcmp (c->section, "brief") == 0)
            snprintf (text, sizeof text, "{\"brief\": {\"topic\": \"x\", %s}}", c->member);
        else
            snprintf (text, sizeof text, "{\"brief\": {\"topic\": \"x\"}, \"%s\": {%s}}",
                      c->section, c->member);
        if (!c->field) {
            json_decref (s_accept (text));
            continue;
        }
        request_errors_t errors = s_reject (text);
        ck_assert_msg (errors.count == 1 && strcmp (errors.items[0].field, c->field) == 0,
                       "%s: expected one error on %s, got %zu (%s: %s)", text, c->field,
                       errors.count, errors.items[0].field, errors.items[0].message);
        ck_assert (strlen (errors.items[0].message) > 0);
    }
}
END_TEST

START_TEST (test_wrong_type_says_what_was_expected)
{
    request_errors_t errors = s_reject ("{\"brief\": {\"topic\": \"x\"},"
                                        " \"voiceSpec\": {\"rate\": \"fast\"}}");
    ck_assert_str_eq (errors.items[0].message, "must be a number");
    errors = s_reject ("{\"brief\": {\"topic\": \"x\"}, \"renderSpec\": {\"fps\": 29.97}}");
    ck_assert_str_eq (errors.items[0].message, "must be one of 24, 25, 30, 60");
    errors = s_reject ("{\"brief\": {\"topic\": \"x\", \"aspect\": 1}}");
    ck_assert_ptr_nonnull (strstr (errors.items[0].message, "Widescreen16x9"));
    errors = s_reject ("{\"brief\": {\"topic\": \"x\"},"
                       " \"renderSpec\": {\"qualityLevel\": \"high\"}}");
    ck_assert_str_eq (errors.items[0].message, "must be an integer");
}
END_TEST

START_TEST (test_unknown_fields_are_named)
{
    request_errors_t errors = s_reject ("{\"brief\": {\"topic\": \"x\", \"mood\": \"up\"},"
                                        " \"planSpec\": {\"length\": 30},"
                                        " \"voiceSpec\": {\"volume\": 1},"
                                        " \"renderSpec\": {\"bitrate\": 5000,"
                                        " \"res\": {\"width\": 1280, \"height\": 720,"
                                        " \"depth\": 8}},"
                                        " \"extra\": null}");
    ck_assert_uint_eq (errors.count, 6);
    const char *fields[] = { "brief.mood", "planSpec.length", "voiceSpec.volume",
                             "renderSpec.bitrate", "renderSpec.res.depth", "extra" };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        ck_assert_msg (s_names (&errors, fields[i]), "%s not named", fields[i]);
    }
    ck_assert_str_eq (errors.items[0].message, "unknown field");

    /* a long key is cut whole characters at a time */
    char text[512];
    size_t n = (size_t) snprintf (text, sizeof text, "{\"brief\": {\"topic\": \"x\"}, \"");
    for (int i = 0; i < 100; i++) {
        text[n++] = (char) 0xC3;
        text[n++] = (char) 0xA9;
    }
    memcpy (text + n, "\": 1}", 6);
    errors = s_reject (text);
    ck_assert_uint_eq (strlen (errors.items[0].field), 62);

    /* an empty key is named too, not left blank */
    errors = s_reject ("{\"\": {\"topic\": \"x\"}}");
    ck_assert_str_eq (errors.items[0].field, "\"\"");
    errors = s_reject ("{\"brief\": {\"topic\": \"x\", \"\": 1}}");
    ck_assert_str_eq (errors.items[0].field, "brief.\"\"");
}
END_TEST

START_TEST (test_every_error_is_reported_up_to_the_cap)
{
    request_errors_t errors = s_reject (
        "{\"brief\": {\"topic\": \"\", \"language\": \"?\"},"
        " \"planSpec\": {\"targetDuration\": 1, \"pacing\": \"Slow\"},"
        " \"voiceSpec\": {\"rate\": 9},"
        " \"renderSpec\": {\"fps\": 1, \"container\": \"avi\"}}");
    ck_assert_uint_eq (errors.count, 7);
    const char *fields[] = { "brief.topic",    "brief.language",   "planSpec.targetDuration",
                             "planSpec.pacing", "voiceSpec.rate",  "renderSpec.fps",
                             "renderSpec.container" };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        ck_assert_msg (s_names (&errors, fields[i]), "%s not named", fields[i]);

    /* a body of many mistakes gets a bounded answer */
    char text[1024];
    size_t n = (size_t) snprintf (text, sizeof text, "{\"brief\": {\"topic\": \"x\"}");
    for (int i = 0; i < 40; i++)
        n += (size_t) snprintf (text + n, sizeof text - n, ", \"k%d\": %d", i, i);
    snprintf (text + n, sizeof text - n, "}");
    errors = s_reject (text);
    ck_assert_uint_eq (errors.count, REQUEST_MAX_ERRORS);
}
END_TEST

START_TEST (test_full_request_is_accepted)
{
    json_t *spec = s_accept (
        "{\"brief\": {\"topic\": \"Tides\", \"audience\": \"Sailors\", \"goal\": \"Plan\","
        " \"tone\": \"Calm\", \"language\": \"en-GB\", \"aspect\": \"Widescreen16x9\"},"
        " \"planSpec\": {\"targetDuration\": \"0:01:30\", \"pacing\": \"conversational\","
        " \"density\": \"Balanced\", \"style\": \"documentary\"},"
        " \"voiceSpec\": {\"voiceName\": \"en-gb\", \"rate\": 1.2, \"pitch\": 0.9,"
        " \"pause\": \"short\"},"
        " \"renderSpec\": {\"res\": \"1080P\", \"container\": \"MP4\", \"videoBitrateK\": 6000,"
        " \"audioBitrateK\": 160, \"fps\": 30.0, \"codec\": \"h264\", \"qualityLevel\": 80}}");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (spec, "planSpec"), "pacing")),
                      "Conversational");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (spec, "voiceSpec"), "pause")),
                      "Short");
    json_t *render = json_object_get (spec, "renderSpec");
    ck_assert_str_eq (json_string_value (json_object_get (render, "res")), "1080p");
    ck_assert_str_eq (json_string_value (json_object_get (render, "container")), "mp4");
    ck_assert_str_eq (json_string_value (json_object_get (render, "codec")), "H264");
    json_decref (spec);
}
END_TEST

/* --------------------------------------------------------- job listing */

#define A_JOB "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"

/*  Parses the query given as name, value pairs (a NULL name ends it). */
static int
s_query (request_list_query_t *query, request_errors_t *errors, const char *const *pairs)
{
    request_arg_t args[16] = { { NULL, NULL } };
    size_t count = 0;
    for (; pairs[2 * count]; count++) {
        args[count].name = pairs[2 * count];
        args[count].value = pairs[2 * count + 1];
    }
    return request_parse_list_query (args, count, query, errors);
}

/*  Expects the query to be refused with exactly one error, on field. */
static void
s_query_refused (const char *const *pairs, const char *field)
{
    request_list_query_t query;
    request_errors_t errors;
    ck_assert_int_eq (s_query (&query, &errors, pairs), -EINVAL);
    ck_assert_msg (errors.count == 1 && strcmp (errors.items[0].field, field) == 0,
                   "expected one error on %s, got %zu (%s)", field, errors.count,
                   errors.count ? errors.items[0].field : "");
    ck_assert (strlen (errors.items[0].message) > 0);
}

START_TEST (test_list_query_defaults_and_valid_values)
{
    request_list_query_t query;
    request_errors_t errors;
    const char *const none[] = { NULL };
    ck_assert_int_eq (s_query (&query, &errors, none), 0);
    ck_assert_str_eq (query.status, "");
    ck_assert_int_eq (query.limit, 20);
    ck_assert_str_eq (query.cursor, "");

    const char *const all[] = { "status", "Running", "limit", "100", "cursor", A_JOB, NULL };
    ck_assert_int_eq (s_query (&query, &errors, all), 0);
    ck_assert_str_eq (query.status, "Running");
    ck_assert_int_eq (query.limit, 100);
    ck_assert_str_eq (query.cursor, A_JOB);

    /* empty segments ("?&limit=5&&") are no parameters */
    const char *const empty[] = { "", NULL, "limit", "5", "", "", NULL };
    ck_assert_int_eq (s_query (&query, &errors, empty), 0);
    ck_assert_int_eq (query.limit, 5);
    const char *const nameless[] = { "", "5", NULL };
    ck_assert_int_eq (s_query (&query, &errors, nameless), -EINVAL);
    ck_assert_str_eq (errors.items[0].field, "");

    const char *names[] = { "Queued", "Running", "Done", "Failed", "Canceled" };
    for (size_t i = 0; i < 5; i++) {
        const char *const one[] = { "status", names[i], "limit", "1", NULL };
        ck_assert_int_eq (s_query (&query, &errors, one), 0);
        ck_assert_str_eq (query.status, names[i]);
        ck_assert_int_eq (query.limit, 1);
    }
}
END_TEST

START_TEST (test_list_query_names_the_bad_parameter)
{
    const char *bad_status[] = { "running", "Succeeded", "", " Done", "Done ", NULL };
    for (size_t i = 0; i < 5; i++) {
        const char *const q[] = { "status", bad_status[i], NULL };
        s_query_refused (q, "status");
    }
    const char *const bare_status[] = { "status", NULL, NULL };
    s_query_refused (bare_status, "status");

    const char *bad_limit[] = { "0", "101", "-1", "+5", "1.5", "abc", "", "5x",
                                "99999999999999999999", " 5" };
    for (size_t i = 0; i < sizeof bad_limit / sizeof *bad_limit; i++) {
        const char *const q[] = { "limit", bad_limit[i], NULL };
        s_query_refused (q, "limit");
    }

    const char *bad_cursor[] = { "", "nope", "01jd5zq6x8m9n0p1q2r3s4t5v6", A_JOB "0",
                                 "01JD5ZQ6X8M9N0P1Q2R3S4T5VU" };
    for (size_t i = 0; i < sizeof bad_cursor / sizeof *bad_cursor; i++) {
        const char *const q[] = { "cursor", bad_cursor[i], NULL };
        s_query_refused (q, "cursor");
    }

    /* each parameter once */
    const char *const twice[] = { "limit", "5", "limit", "6", NULL };
    s_query_refused (twice, "limit");
}
END_TEST

START_TEST (test_list_query_refuses_unknown_parameters_by_name)
{
    request_list_query_t query;
    request_errors_t errors;
    const char *const q[] = { "status", "Done", "page", "2", "Limit", "5", "sort", NULL,
                              NULL };
    ck_assert_int_eq (s_query (&query, &errors, q), -EINVAL);
    ck_assert_uint_eq (errors.count, 3);
    ck_assert_str_eq (errors.items[0].field, "page");
    ck_assert_str_eq (errors.items[1].field, "Limit");
    ck_assert_str_eq (errors.items[2].field, "sort");
    /* a refused query leaves the defaults */
    ck_assert_str_eq (query.status, "");
    ck_assert_int_eq (query.limit, 20);

    /* every problem at once */
    const char *const mixed[] = { "status", "x", "limit", "0", "cursor", "y", "z", "1",
                                  NULL };
    ck_assert_int_eq (s_query (&query, &errors, mixed), -EINVAL);
    ck_assert_uint_eq (errors.count, 4);
    ck_assert (s_names (&errors, "status"));
    ck_assert (s_names (&errors, "limit"));
    ck_assert (s_names (&errors, "cursor"));
    ck_assert (s_names (&errors, "z"));
}
END_TEST

/* ---------------------------------------------------- Idempotency-Key */

START_TEST (test_idempotency_key)
{
    request_errors_t errors;
    char key[200];
    ck_assert_int_eq (request_check_idempotency_key ("a", 1, &errors), 0);
    ck_assert_int_eq (request_check_idempotency_key ("order-7781 / retry ~2", 21, &errors),
                      0);
    memset (key, 'k', sizeof key);
    ck_assert_int_eq (request_check_idempotency_key (key, 128, &errors), 0);

    struct {
        const char *text;
        size_t len;
    } bad[] = {
        { "", 0 }, { key, 129 }, { "tab\there", 8 }, { "new\nline", 8 },
        { "caf\xc3\xa9", 5 }, { "del\x7f", 4 }, { "nul\0byte", 8 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg (request_check_idempotency_key (bad[i].text, bad[i].len, &errors)
                           == -EINVAL,
                       "accepted key %zu", i);
        ck_assert_uint_eq (errors.count, 1);
        ck_assert_str_eq (errors.items[0].field, "Idempotency-Key");
    }
    ck_assert_int_eq (request_check_idempotency_key (NULL, 0, &errors), -EINVAL);
}
END_TEST

/* -------------------------------------------------------------- title */

START_TEST (test_spec_title_is_the_topic_cut_at_a_character)
{
    const char *body = "{\"brief\":{\"topic\":\"  Tides and the moon \"}}";
    char *spec = NULL;
    size_t spec_len = 0;
    request_errors_t errors;
    ck_assert_int_eq (request_parse_job (body, strlen (body), &spec, &spec_len, &errors), 0);
    char title[256];
    ck_assert_int_eq (request_spec_title (spec, spec_len, title, sizeof title), 0);
    ck_assert_str_eq (title, "Tides and the moon");
    free (spec);

    /* "é" is two bytes: a cut inside it backs up to before it */
    const char *accented = "{\"brief\":{\"topic\":\"abc\xc3\xa9\"}}";
    char small[5];
    ck_assert_int_eq (request_spec_title (accented, strlen (accented), small, sizeof small),
                      0);
    ck_assert_str_eq (small, "abc");
    char fits[6];
    ck_assert_int_eq (request_spec_title (accented, strlen (accented), fits, sizeof fits), 0);
    ck_assert_str_eq (fits, "abc\xc3\xa9");

    const char *no_topic = "{\"brief\":{}}";
    ck_assert_int_eq (request_spec_title (no_topic, strlen (no_topic), title, sizeof title),
                      -EINVAL);
    ck_assert_str_eq (title, "");
    ck_assert_int_eq (request_spec_title ("not json", 8, title, sizeof title), -EINVAL);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("gateway_request");
    TCase *tc = tcase_create ("request");
    tcase_add_test (tc, test_valid_body_is_accepted_and_passed_through);
    tcase_add_test (tc, test_spec_is_compact_and_topic_trimmed);
    tcase_add_test (tc, test_invalid_json_says_line_and_column);
    tcase_add_test (tc, test_empty_body_and_non_objects);
    tcase_add_test (tc, test_missing_empty_or_mistyped_topic_names_brief_topic);
    tcase_add_test (tc, test_topic_length_is_counted_in_characters);
    tcase_add_test (tc, test_sections_must_be_objects);
    tcase_add_test (tc, test_demo_spec_is_a_valid_request);
    tcase_add_test (tc, test_each_field_is_checked_and_named);
    tcase_add_test (tc, test_wrong_type_says_what_was_expected);
    tcase_add_test (tc, test_unknown_fields_are_named);
    tcase_add_test (tc, test_every_error_is_reported_up_to_the_cap);
    tcase_add_test (tc, test_full_request_is_accepted);
    suite_add_tcase (s, tc);
    TCase *list = tcase_create ("list_query");
    tcase_add_test (list, test_list_query_defaults_and_valid_values);
    tcase_add_test (list, test_list_query_names_the_bad_parameter);
    tcase_add_test (list, test_list_query_refuses_unknown_parameters_by_name);
    suite_add_tcase (s, list);
    TCase *headers = tcase_create ("headers");
    tcase_add_test (headers, test_idempotency_key);
    tcase_add_test (headers, test_spec_title_is_the_topic_cut_at_a_character);
    suite_add_tcase (s, headers);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
