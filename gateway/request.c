/*  request — job request validation. The body is parsed once with jansson;
    the few fields the gateway is responsible for are checked and the
    whole object is written back compactly as the spec the broker keeps.
    Also the checks of a listing's query and of the Idempotency-Key. */
#include "request.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "phase.h"

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
    /* 12 s, Fast, Sparse, 1080p at 30 fps: a 10–15 s narrated video made
       offline in about 5 s; quality 20 picks x264's veryfast preset, which
       static slides do not need more than */
    json_t *root = json_pack (
        "{s:{s:s, s:s, s:s, s:s, s:s, s:s},"
        " s:{s:i, s:s, s:s, s:s},"
        " s:{s:s},"
        " s:{s:s, s:s, s:i, s:s, s:i}}",
        "brief", "topic", "Welcome to Aura Video Studio",
        "audience", "New users", "goal", "See what Aura can make from one line",
        "tone", "Friendly", "language", "en-US", "aspect", "Widescreen16x9",
        "planSpec", "targetDuration", 12, "pacing", "Fast",
        "density", "Sparse", "style", "modern",
        "voiceSpec", "voiceName", "en-us",
        "renderSpec", "res", "1080p", "container", "mp4", "fps", 30, "codec",
        "H264", "qualityLevel", 20);
    if (!root)
        return -ENOMEM;
    int rc = s_dump (root, spec, spec_len);
    json_decref (root);
    return rc;
}

/* ------------------------------------------------------------ job listing */

/*  Parses a decimal integer text of 1..max: digits only. Returns 0 or
    -EINVAL. */
static int
s_parse_limit (const char *text, int max, int *value)
{
    size_t len = strlen (text);
    if (len == 0 || len > 9)
        return -EINVAL;
    long number = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -EINVAL;
        number = number * 10 + (text[i] - '0');
    }
    if (number < 1 || number > max)
        return -EINVAL;
    *value = (int) number;
    return 0;
}

int
request_parse_list_query (const request_arg_t *args, size_t count,
                          request_list_query_t *query,
                          request_errors_t *errors)
{
    memset (query, 0, sizeof *query);
    query->limit = REQUEST_LIST_DEFAULT_LIMIT;
    errors->count = 0;
    bool seen_status = false, seen_limit = false, seen_cursor = false;
    for (size_t i = 0; i < count; i++) {
        const char *name = args[i].name ? args[i].name : "";
        const char *value = args[i].value ? args[i].value : "";
        if (!*name && !*value)
            continue; /* an empty segment: "?&limit=5", "a=1&&b=2" */
        bool *seen = NULL;
        if (strcmp (name, "status") == 0)
            seen = &seen_status;
        else if (strcmp (name, "limit") == 0)
            seen = &seen_limit;
        else if (strcmp (name, "cursor") == 0)
            seen = &seen_cursor;
        if (!seen) {
            s_add_error (errors, name, "is not a parameter of this listing "
                                       "(status, limit, cursor)");
            continue;
        }
        if (*seen) {
            s_add_error (errors, name, "must be given at most once");
            continue;
        }
        *seen = true;
        if (seen == &seen_status) {
            job_status_t status;
            if (job_status_parse (value, &status) < 0)
                s_add_error (errors, name,
                             "must be one of Queued, Running, Done, Failed, Canceled");
            else
                snprintf (query->status, sizeof query->status, "%s",
                          job_status_name (status));
        }
        else if (seen == &seen_limit) {
            if (s_parse_limit (value, REQUEST_LIST_MAX_LIMIT, &query->limit) < 0)
                s_add_error (errors, name, "must be an integer from 1 to %d",
                             REQUEST_LIST_MAX_LIMIT);
        }
        else if (!job_id_valid (value, strlen (value)))
            s_add_error (errors, name,
                         "must be a job id (26 characters of Crockford base32)");
        else
            snprintf (query->cursor, sizeof query->cursor, "%s", value);
    }
    if (errors->count > 0) {
        query->status[0] = '\0';
        query->cursor[0] = '\0';
        query->limit = REQUEST_LIST_DEFAULT_LIMIT;
        return -EINVAL;
    }
    return 0;
}

/* -------------------------------------------------------- Idempotency-Key */

int
request_check_idempotency_key (const char *text, size_t len,
                               request_errors_t *errors)
{
    errors->count = 0;
    if (!text || len == 0 || len > REQUEST_IDEMPOTENCY_KEY_MAX) {
        s_add_error (errors, "Idempotency-Key", "must be 1 to %d characters",
                     REQUEST_IDEMPOTENCY_KEY_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x20 || text[i] > 0x7E) {
            s_add_error (errors, "Idempotency-Key",
                         "must be printable ASCII characters only");
            return -EINVAL;
        }
    return 0;
}

/* ------------------------------------------------------------------ title */

int
request_spec_title (const char *spec, size_t spec_len, char *title,
                    size_t title_size)
{
    if (title_size == 0)
        return -EINVAL;
    title[0] = '\0';
    json_t *root = json_loadb (spec, spec_len, 0, NULL);
    json_t *topic = json_object_get (json_object_get (root, "brief"), "topic");
    if (!json_is_string (topic)) {
        json_decref (root);
        return -EINVAL;
    }
    const char *text = json_string_value (topic);
    size_t len = json_string_length (topic);
    if (len > title_size - 1) {
        len = title_size - 1;
        /* never end inside a UTF-8 sequence: back up to a lead byte */
        while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy (title, text, len);
    title[len] = '\0';
    json_decref (root);
    return 0;
}
