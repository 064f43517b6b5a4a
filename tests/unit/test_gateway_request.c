/*  Unit tests of the gateway's job request validation: what a client
    sends to POST /api/jobs either becomes the spec the broker stores or a
    400 naming the field. (The 64 KiB body limit is the HTTP layer's.) */
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
        " \"height\": 720}}, \"somethingNew\": [1, 2, 3]}");
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
    ck_assert_uint_eq (json_array_size (json_object_get (spec, "somethingNew")), 3);
    json_decref (spec);
}
END_TEST

START_TEST (test_spec_is_compact_and_topic_trimmed)
{
    const char *text = "{ \"brief\" : { \"topic\" : \"  Tides \\n\" } ,\n \"x\": 1 }";
    request_errors_t errors;
    char *spec = NULL;
    size_t spec_len = 0;
    ck_assert_int_eq (request_parse_job (text, strlen (text), &spec, &spec_len, &errors), 0);
    ck_assert_str_eq (spec, "{\"brief\":{\"topic\":\"Tides\"},\"x\":1}");
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

    /* null is not an object either; unknown sections are not checked */
    errors = s_reject ("{\"brief\": {\"topic\": \"x\"}, \"planSpec\": null}");
    ck_assert_str_eq (errors.items[0].field, "planSpec");
    json_decref (s_accept ("{\"brief\": {\"topic\": \"x\"}, \"extra\": null}"));
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
                      "How solar panels turn sunlight into electricity");
    ck_assert_int_eq (json_integer_value (json_object_get (
                          json_object_get (parsed, "planSpec"), "targetDuration")),
                      30);
    json_decref (parsed);
    free (spec);
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
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
