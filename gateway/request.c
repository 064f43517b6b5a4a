/*  request — job request validation. The body is parsed once with jansson;
    the few fields the gateway is responsible for are checked and the
    whole object is written back compactly as the spec the broker keeps. */
#include "request.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Sections of the request that must be objects when present. */
static const char *const s_object_sections[] = { "planSpec", "voiceSpec",
                                                 "renderSpec" };

static void
s_add_error (request_errors_t *errors, const char *field, const char *fmt,
             ...) __attribute__ ((format (printf, 3, 4)));

static void
s_add_error (request_errors_t *errors, const char *field, const char *fmt,
             ...)
{
    if (errors->count >= REQUEST_MAX_ERRORS)
        return;
    request_error_t *item = &errors->items[errors->count++];
    snprintf (item->field, sizeof item->field, "%s", field);
    va_list args;
    va_start (args, fmt);
    vsnprintf (item->message, sizeof item->message, fmt, args);
    va_end (args);
}

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*  Number of code points in a valid UTF-8 string (jansson guarantees the
    validity): every byte that is not a continuation byte starts one. */
static size_t
s_utf8_chars (const char *s, size_t len)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char) s[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

/*  Checks brief.topic and replaces it by its trimmed value. Returns 0,
    -EINVAL after recording an error, or -ENOMEM. */
static int
s_check_topic (json_t *brief, request_errors_t *errors)
{
    json_t *topic = json_object_get (brief, "topic");
    if (!topic) {
        s_add_error (errors, "brief.topic", "is required");
        return -EINVAL;
    }
    if (!json_is_string (topic)) {
        s_add_error (errors, "brief.topic", "must be a string");
        return -EINVAL;
    }
    const char *text = json_string_value (topic);
    size_t len = json_string_length (topic);
    size_t start = 0;
    while (start < len && s_is_space (text[start]))
        start++;
    while (len > start && s_is_space (text[len - 1]))
        len--;
    if (len == start) {
        s_add_error (errors, "brief.topic", "must not be empty");
        return -EINVAL;
    }
    if (s_utf8_chars (text + start, len - start) > REQUEST_TOPIC_MAX_CHARS) {
        s_add_error (errors, "brief.topic", "must be at most %d characters",
                     REQUEST_TOPIC_MAX_CHARS);
        return -EINVAL;
    }
    if (start > 0 || len < json_string_length (topic)) {
        json_t *trimmed = json_stringn (text + start, len - start);
        if (!trimmed || json_object_set_new (brief, "topic", trimmed) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
s_dump (const json_t *root, char **spec, size_t *spec_len)
{
    char *text = json_dumps (root, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    *spec = text;
    *spec_len = strlen (text);
    return 0;
}

int
request_parse_job (const char *buf, size_t len, char **spec,
                   size_t *spec_len, request_errors_t *errors)
{
    *spec = NULL;
    *spec_len = 0;
    errors->count = 0;
    if (len == 0) {
        s_add_error (errors, "body", "the request body is empty");
        return -EINVAL;
    }

    int rc = -EINVAL;
    json_error_t jerr;
    json_t *root = json_loadb (buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                               &jerr);
    if (!root) {
        s_add_error (errors, "body", "invalid JSON at line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        goto cleanup;
    }
    if (!json_is_object (root)) {
        s_add_error (errors, "body", "must be a JSON object");
        goto cleanup;
    }

    bool valid = true;
    json_t *brief = json_object_get (root, "brief");
    if (!brief) {
        s_add_error (errors, "brief.topic", "is required");
        valid = false;
    }
    else if (!json_is_object (brief)) {
        s_add_error (errors, "brief", "must be an object");
        valid = false;
    }
    else {
        int topic_rc = s_check_topic (brief, errors);
        if (topic_rc == -ENOMEM) {
            rc = -ENOMEM;
            goto cleanup;
        }
        if (topic_rc < 0)
            valid = false;
    }
    for (size_t i = 0; i < sizeof s_object_sections / sizeof *s_object_sections;
         i++) {
        json_t *section = json_object_get (root, s_object_sections[i]);
        if (section && !json_is_object (section)) {
            s_add_error (errors, s_object_sections[i], "must be an object");
            valid = false;
        }
    }
    if (valid)
        rc = s_dump (root, spec, spec_len);

cleanup:
    json_decref (root);
    return rc;
}

int
request_demo_spec (char **spec, size_t *spec_len)
{
    *spec = NULL;
    *spec_len = 0;
    json_t *root = json_pack (
        "{s:{s:s, s:s, s:s, s:s, s:s, s:s},"
        " s:{s:i, s:s, s:s, s:s},"
        " s:{s:s, s:f, s:f, s:s},"
        " s:{s:s, s:s, s:i, s:s}}",
        "brief", "topic", "How solar panels turn sunlight into electricity",
        "audience", "Curious beginners", "goal",
        "Explain the idea in plain words", "tone", "Friendly", "language",
        "en-US", "aspect", "Widescreen16x9",
        "planSpec", "targetDuration", 30, "pacing", "Conversational",
        "density", "Balanced", "style", "Explainer",
        "voiceSpec", "voiceName", "en-us", "rate", 1.0, "pitch", 1.0, "pause",
        "Natural",
        "renderSpec", "res", "720p", "container", "mp4", "fps", 30, "codec",
        "H264");
    if (!root)
        return -ENOMEM;
    int rc = s_dump (root, spec, spec_len);
    json_decref (root);
    return rc;
}
