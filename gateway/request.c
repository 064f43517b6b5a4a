/*  request — job request validation. The body is parsed once with jansson;
    every field is checked against a table of rules, so that a job the
    broker accepts is one the worker understands as asked, and the object
    is written back compactly as the spec the broker keeps.
    Also the checks of a listing's query and of the Idempotency-Key. */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ids.h"
#include "phase.h"

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
    /* a field may carry a client's key: never cut it inside a character */
    size_t len = strlen (field);
    if (len >= sizeof item->field) {
        len = sizeof item->field - 1;
        while (len > 0 && ((unsigned char) field[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy (item->field, field, len);
    item->field[len] = '\0';
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

/* ------------------------------------------------------------ job request */

/*  What a field of the request may hold. */
typedef enum {
    S_TOPIC,      /* brief.topic: required, trimmed, non-blank */
    S_TEXT,       /* a string of at most max code points */
    S_LANGUAGE,   /* a BCP-47-like language tag */
    S_NAME,       /* one of names, any case; rewritten to the listed case */
    S_VOICE_NAME, /* 1..max characters of [A-Za-z0-9_+-] */
    S_DURATION,   /* seconds or "[hh:]mm:ss", min..max seconds */
    S_NUMBER,     /* a number min..max */
    S_INTEGER,    /* an integer min..max */
    S_FPS,        /* one of the frame rates encoders and players agree on */
    S_PAUSE,      /* one of names, or seconds min..max */
    S_RES,        /* one of names, or {width, height} */
} s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    double min, max;          /* a number's range; a text's longest */
    const char *const *names; /* NULL-terminated, for S_NAME, S_PAUSE, S_RES */
} s_rule_t;

typedef struct {
    const char *name;
    const s_rule_t *rules;
    size_t rule_count;
} s_section_t;

static const char *const s_aspects[] = { "Widescreen16x9", "Vertical9x16",
                                         "Square1x1", NULL };
/*  The names media_plan_build understands, in its order. */
static const char *const s_pacings[] = { "Chill", "Conversational", "Fast", NULL };
static const char *const s_densities[] = { "Sparse", "Balanced", "Dense", NULL };
static const char *const s_pauses[] = { "Natural", "Short", "Long", "Dramatic",
                                        NULL };
static const char *const s_resolutions[] = { "720p", "1080p", NULL };
static const char *const s_containers[] = { "mp4", NULL };
static const char *const s_codecs[] = { "H264", NULL };

static const s_rule_t s_brief_rules[] = {
    { "topic", S_TOPIC, 0, REQUEST_TOPIC_MAX_CHARS, NULL },
    { "audience", S_TEXT, 0, 200, NULL },
    { "goal", S_TEXT, 0, 200, NULL },
    { "tone", S_TEXT, 0, 200, NULL },
    { "language", S_LANGUAGE, 0, 16, NULL },
    { "aspect", S_NAME, 0, 0, s_aspects },
};
static const s_rule_t s_plan_rules[] = {
    { "targetDuration", S_DURATION, 5, 600, NULL },
    { "pacing", S_NAME, 0, 0, s_pacings },
    { "density", S_NAME, 0, 0, s_densities },
    { "style", S_TEXT, 0, 32, NULL },
};
static const s_rule_t s_voice_rules[] = {
    { "voiceName", S_VOICE_NAME, 1, 64, NULL },
    { "rate", S_NUMBER, 0.5, 2.0, NULL },
    { "pitch", S_NUMBER, 0.5, 2.0, NULL },
    { "pause", S_PAUSE, 0, 5, s_pauses },
};
static const s_rule_t s_render_rules[] = {
    { "res", S_RES, 0, 0, s_resolutions },
    { "container", S_NAME, 0, 0, s_containers },
    { "videoBitrateK", S_INTEGER, 100, 50000, NULL },
    { "audioBitrateK", S_INTEGER, 32, 320, NULL },
    { "fps", S_FPS, 0, 0, NULL },
    { "codec", S_NAME, 0, 0, s_codecs },
    { "qualityLevel", S_INTEGER, 0, 100, NULL },
};

#define S_COUNT(array) (sizeof (array) / sizeof *(array))

static const s_section_t s_sections[] = {
    { "brief", s_brief_rules, S_COUNT (s_brief_rules) },
    { "planSpec", s_plan_rules, S_COUNT (s_plan_rules) },
    { "voiceSpec", s_voice_rules, S_COUNT (s_voice_rules) },
    { "renderSpec", s_render_rules, S_COUNT (s_render_rules) },
};

/*  A custom frame (renderSpec.res as {width, height}): each side, and
    the area, at most that of 3840x2160 in either orientation. */
#define S_RES_MIN_SIDE 128
#define S_RES_MAX_SIDE 3840
#define S_RES_MAX_PIXELS (3840L * 2160L)

/*  Writes "one of A, B, C" for a NULL-terminated list of names. */
static void
s_names_text (const char *const *names, char *text, size_t size)
{
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; names[i] && len < size; i++) {
        int n = snprintf (text + len, size - len, "%s%s", i ? ", " : "", names[i]);
        if (n < 0)
            break;
        len += (size_t) n;
    }
}

/*  Index of text in names, compared without case, or -1. */
static int
s_name_index (const char *text, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcasecmp (text, names[i]) == 0)
            return i;
    return -1;
}

/*  True when value is a JSON integer, or a real without fraction (30.0),
    within ±2^53; sets *integer. */
static bool
s_integer_value (const json_t *value, long long *integer)
{
    if (json_is_integer (value)) {
        *integer = (long long) json_integer_value (value);
        return true;
    }
    if (!json_is_real (value))
        return false;
    double number = json_real_value (value);
    if (number < -9007199254740992.0 || number > 9007199254740992.0
        || number != (double) (long long) number)
        return false;
    *integer = (long long) number;
    return true;
}

/*  True for [A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})* of at most max bytes. */
static bool
s_is_language_tag (const char *text, size_t len, size_t max)
{
    if (len > max || strlen (text) != len)
        return false;
    size_t i = 0;
    while (i < len && isalpha ((unsigned char) text[i]))
        i++;
    if (i < 2 || i > 3)
        return false;
    while (i < len) {
        if (text[i++] != '-')
            return false;
        size_t start = i;
        while (i < len && isalnum ((unsigned char) text[i]))
            i++;
        if (i - start < 2 || i - start > 8)
            return false;
    }
    return true;
}

/*  Parses "ss", "mm:ss" or "hh:mm:ss" (digits; the last part may have a
    fraction; minutes and seconds below 60 after a larger unit) into
    seconds. Returns 0 or -EINVAL. */
static int
s_parse_clock (const char *text, double *seconds)
{
    double total = 0;
    int parts = 0;
    const char *p = text;
    while (true) {
        if (!isdigit ((unsigned char) *p) || parts == 3)
            return -EINVAL;
        double part = 0;
        int digits = 0;
        for (; isdigit ((unsigned char) *p); p++)
            if (++digits <= 6)
                part = part * 10 + (*p - '0');
        if (digits > 6)
            return -EINVAL;
        if (*p == '.') {
            double scale = 0.1;
            if (!isdigit ((unsigned char) *++p))
                return -EINVAL;
            for (; isdigit ((unsigned char) *p); p++, scale /= 10)
                part += (*p - '0') * scale;
            if (*p != '\0')
                return -EINVAL;
        }
        if (parts > 0 && part >= 60)
            return -EINVAL;
        total = total * 60 + part;
        parts++;
        if (*p == '\0')
            break;
        if (*p++ != ':')
            return -EINVAL;
    }
    *seconds = total;
    return 0;
}

/*  Replaces section[key] by the canonical spelling name. Returns 0 or
    -ENOMEM. */
static int
s_set_name (json_t *section, const char *key, const char *value,
            const char *name)
{
    if (strcmp (value, name) == 0)
        return 0;
    json_t *canonical = json_string (name);
    if (!canonical || json_object_set_new (section, key, canonical) < 0)
        return -ENOMEM;
    return 0;
}

/*  Checks renderSpec.res given as an object. */
static void
s_check_frame (json_t *res, const char *path, request_errors_t *errors)
{
    static const char *const sides[] = { "width", "height" };
    char field[sizeof errors->items[0].field * 3]; /* path + "." + key */
    long long size[2] = { 0, 0 };
    bool sides_valid = true;
    const char *key;
    json_t *value;
    json_object_foreach (res, key, value)
    {
        if (strcmp (key, sides[0]) != 0 && strcmp (key, sides[1]) != 0) {
            snprintf (field, sizeof field, "%s.%s", path, key);
            s_add_error (errors, field, "unknown field");
        }
    }
    for (int i = 0; i < 2; i++) {
        snprintf (field, sizeof field, "%s.%s", path, sides[i]);
        value = json_object_get (res, sides[i]);
        if (!value) {
            s_add_error (errors, field, "is required");
            sides_valid = false;
        }
        else if (!s_integer_value (value, &size[i]) || size[i] % 2 != 0
                 || size[i] < S_RES_MIN_SIDE || size[i] > S_RES_MAX_SIDE) {
            s_add_error (errors, field, "must be an even integer from %d to %d",
                         S_RES_MIN_SIDE, S_RES_MAX_SIDE);
            sides_valid = false;
        }
    }
    if (sides_valid && size[0] * size[1] > S_RES_MAX_PIXELS)
        s_add_error (errors, path, "must be at most 3840x2160 pixels");
}

/*  Checks section[key] = value against rule; path is "section.key".
    Returns 0 (errors may have grown) or -ENOMEM. */
static int
s_check_field (const s_rule_t *rule, json_t *section, const char *key,
               json_t *value, const char *path, request_errors_t *errors)
{
    char names[96];
    long long integer;
    double number;
    int index;
    switch (rule->kind) {
    case S_TOPIC:
        return s_check_topic (section, errors) == -ENOMEM ? -ENOMEM : 0;
    case S_TEXT:
        if (!json_is_string (value))
            s_add_error (errors, path, "must be a string");
        else if (s_utf8_chars (json_string_value (value), json_string_length (value))
                 > (size_t) rule->max)
            s_add_error (errors, path, "must be at most %d characters", (int) rule->max);
        return 0;
    case S_LANGUAGE:
        if (!json_is_string (value))
            s_add_error (errors, path, "must be a string");
        else if (!s_is_language_tag (json_string_value (value),
                                     json_string_length (value), (size_t) rule->max))
            s_add_error (errors, path, "must be a language tag such as \"en-US\"");
        return 0;
    case S_NAME:
        s_names_text (rule->names, names, sizeof names);
        if (!json_is_string (value)) {
            s_add_error (errors, path, "must be a string: one of %s", names);
            return 0;
        }
        index = s_name_index (json_string_value (value), rule->names);
        if (index < 0) {
            s_add_error (errors, path, "must be one of %s", names);
            return 0;
        }
        return s_set_name (section, key, json_string_value (value), rule->names[index]);
    case S_VOICE_NAME:
        if (!json_is_string (value)) {
            s_add_error (errors, path, "must be a string");
            return 0;
        }
        {
            const char *text = json_string_value (value);
            size_t len = json_string_length (value);
            bool valid = len >= (size_t) rule->min && len <= (size_t) rule->max;
            for (size_t i = 0; valid && i < len; i++)
                valid = isalnum ((unsigned char) text[i]) || text[i] == '_'
                        || text[i] == '+' || text[i] == '-';
            if (!valid)
                s_add_error (errors, path,
                             "must be %d to %d letters, digits, '_', '+' or '-'",
                             (int) rule->min, (int) rule->max);
        }
        return 0;
    case S_DURATION:
        if (json_is_number (value))
            number = json_number_value (value);
        else if (!json_is_string (value)
                 || s_parse_clock (json_string_value (value), &number) < 0) {
            s_add_error (errors, path,
                         "must be seconds, or a string \"mm:ss\" or \"hh:mm:ss\"");
            return 0;
        }
        if (number < rule->min || number > rule->max)
            s_add_error (errors, path, "must be from %g s to %g min", rule->min,
                         rule->max / 60);
        return 0;
    case S_NUMBER:
        if (!json_is_number (value))
            s_add_error (errors, path, "must be a number");
        else if (json_number_value (value) < rule->min
                 || json_number_value (value) > rule->max)
            s_add_error (errors, path, "must be from %g to %g", rule->min, rule->max);
        return 0;
    case S_INTEGER:
        if (!s_integer_value (value, &integer))
            s_add_error (errors, path, "must be an integer");
        else if ((double) integer < rule->min || (double) integer > rule->max)
            s_add_error (errors, path, "must be from %g to %g", rule->min, rule->max);
        return 0;
    case S_FPS:
        if (!s_integer_value (value, &integer)
            || (integer != 24 && integer != 25 && integer != 30 && integer != 60))
            s_add_error (errors, path, "must be one of 24, 25, 30, 60");
        return 0;
    case S_PAUSE:
        if (json_is_number (value)) {
            if (json_number_value (value) < rule->min
                || json_number_value (value) > rule->max)
                s_add_error (errors, path, "must be from %g to %g seconds",
                             rule->min, rule->max);
            return 0;
        }
        s_names_text (rule->names, names, sizeof names);
        index = json_is_string (value)
                    ? s_name_index (json_string_value (value), rule->names)
                    : -1;
        if (index < 0) {
            s_add_error (errors, path, "must be one of %s, or seconds", names);
            return 0;
        }
        return s_set_name (section, key, json_string_value (value), rule->names[index]);
    case S_RES:
        if (json_is_object (value)) {
            s_check_frame (value, path, errors);
            return 0;
        }
        index = json_is_string (value)
                    ? s_name_index (json_string_value (value), rule->names)
                    : -1;
        if (index < 0) {
            s_add_error (errors, path,
                         "must be \"720p\", \"1080p\" or {\"width\", \"height\"}");
            return 0;
        }
        return s_set_name (section, key, json_string_value (value), rule->names[index]);
    }
    return 0;
}

/*  Replaces every byte of text that does not begin a complete, valid
    UTF-8 sequence by '?', in place. */
static void
s_utf8_repair (char *text)
{
    unsigned char *p = (unsigned char *) text;
    while (*p) {
        size_t need = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                                   : (*p & 0xF8) == 0xF0 ? 3 : 4;
        bool valid = need < 4 && !(*p >= 0x80 && *p < 0xC2) && *p < 0xF5;
        for (size_t i = 1; valid && i <= need; i++)
            valid = (p[i] & 0xC0) == 0x80;
        /* overlong three- and four-byte forms, surrogates, beyond U+10FFFF */
        if (valid && need == 2)
            valid = !(p[0] == 0xE0 && p[1] < 0xA0) && !(p[0] == 0xED && p[1] >= 0xA0);
        if (valid && need == 3)
            valid = !(p[0] == 0xF0 && p[1] < 0x90) && !(p[0] == 0xF4 && p[1] >= 0x90);
        if (!valid) {
            *p++ = '?';
            continue;
        }
        p += need + 1;
    }
}

/*  Checks every member of one section object. Returns 0 or -ENOMEM. */
static int
s_check_section (const s_section_t *section, json_t *object,
                 request_errors_t *errors)
{
    char path[sizeof errors->items[0].field * 2];
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value)
    {
        /* an empty key still needs a name the client can read */
        snprintf (path, sizeof path, "%s.%s", section->name, *key ? key : "\"\"");
        const s_rule_t *rule = NULL;
        for (size_t i = 0; !rule && i < section->rule_count; i++)
            if (strcmp (section->rules[i].key, key) == 0)
                rule = &section->rules[i];
        if (!rule)
            s_add_error (errors, path, "unknown field");
        else if (s_check_field (rule, object, key, value, path, errors) < 0)
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
        /* jansson quotes the bytes near the error, which may stop inside
           a character: the client gets valid UTF-8 all the same */
        s_utf8_repair (jerr.text);
        s_add_error (errors, "body", "invalid JSON at line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        goto cleanup;
    }
    if (!json_is_object (root)) {
        s_add_error (errors, "body", "must be a JSON object");
        goto cleanup;
    }

    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        const s_section_t *section = NULL;
        for (size_t i = 0; !section && i < S_COUNT (s_sections); i++)
            if (strcmp (s_sections[i].name, key) == 0)
                section = &s_sections[i];
        if (!section)
            s_add_error (errors, *key ? key : "\"\"", "unknown field");
        else if (!json_is_object (value))
            s_add_error (errors, key, "must be an object");
        else if (s_check_section (section, value, errors) < 0) {
            rc = -ENOMEM;
            goto cleanup;
        }
    }
    json_t *brief = json_object_get (root, "brief");
    if (!brief || (json_is_object (brief) && !json_object_get (brief, "topic")))
        s_add_error (errors, "brief.topic", "is required");
    if (errors->count == 0)
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
