/*  fuzz_request — the validator of POST /api/jobs bodies under arbitrary
    bytes, called as the gateway calls it, with what a client relies on
    checked after every call: an accepted body becomes a complete spec that
    validates again to itself and travels to the broker intact; a rejected
    one gets a 400 that names what is wrong. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "render.h"
#include "request.h"

static bool
s_is_blank (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t
s_code_points (const char *s, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

/*  The fields whose text value is written back in one canonical case,
    with the spellings request.h lists. */
typedef struct {
    const char *section;
    const char *key;
    const char *names[5];
} s_canonical_t;

static const s_canonical_t s_canonical[] = {
    { "brief", "aspect", { "Widescreen16x9", "Vertical9x16", "Square1x1" } },
    { "planSpec", "pacing", { "Chill", "Conversational", "Fast" } },
    { "planSpec", "density", { "Sparse", "Balanced", "Dense" } },
    { "voiceSpec", "pause", { "Natural", "Short", "Long", "Dramatic" } },
    { "renderSpec", "res", { "720p", "1080p" } },
    { "renderSpec", "container", { "mp4" } },
    { "renderSpec", "codec", { "H264" } },
};

static const char *const s_sections[] = { "brief", "planSpec", "voiceSpec",
                                          "renderSpec" };

/*  Checks the parsed spec: known sections only, each an object; a
    brief.topic that is trimmed, non-empty and not too long; every name
    in its canonical spelling. Returns the topic (borrowed from root). */
static json_t *
s_check_spec_shape (json_t *root)
{
    FUZZ_CHECK (json_is_object (root));
    const char *key;
    json_t *section;
    json_object_foreach (root, key, section)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof s_sections / sizeof *s_sections; i++)
            known = known || strcmp (key, s_sections[i]) == 0;
        FUZZ_CHECK (known);
        FUZZ_CHECK (json_is_object (section));
    }
    json_t *topic = json_object_get (json_object_get (root, "brief"), "topic");
    FUZZ_CHECK (json_is_string (topic));
    const char *text = json_string_value (topic);
    size_t len = json_string_length (topic);
    FUZZ_CHECK (len > 0);
    FUZZ_CHECK (strlen (text) == len);
    FUZZ_CHECK (!s_is_blank (text[0]) && !s_is_blank (text[len - 1]));
    FUZZ_CHECK (s_code_points (text, len) <= REQUEST_TOPIC_MAX_CHARS);

    for (size_t i = 0; i < sizeof s_canonical / sizeof *s_canonical; i++) {
        json_t *value = json_object_get (
            json_object_get (root, s_canonical[i].section), s_canonical[i].key);
        /* pause may be seconds, res a {width, height} */
        if (!json_is_string (value))
            continue;
        bool listed = false;
        for (size_t k = 0; s_canonical[i].names[k]; k++)
            listed =
                listed
                || strcmp (json_string_value (value), s_canonical[i].names[k])
                       == 0;
        FUZZ_CHECK (listed);
    }
    return topic;
}

/*  What the gateway does with an accepted spec, and what must hold. */
static void
s_check_accepted (const char *spec, size_t spec_len)
{
    FUZZ_CHECK (spec != NULL);
    FUZZ_CHECK (strlen (spec) == spec_len);

    json_error_t jerr;
    json_t *root = json_loadb (spec, spec_len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK (root != NULL);
    json_t *topic = s_check_spec_shape (root);

    /* normalizing is idempotent: the spec is a body that validates to
       itself, byte for byte */
    char *again = NULL;
    size_t again_len = 0;
    request_errors_t errors;
    FUZZ_CHECK (request_parse_job (spec, spec_len, &again, &again_len, &errors)
                == 0);
    FUZZ_CHECK (again_len == spec_len && memcmp (again, spec, spec_len) == 0);
    free (again);

    /* the submit message of server.c: spec and title, encoded for the
       broker and decoded there to the same */
    proto_msg_t *submit = malloc (sizeof *submit);
    proto_msg_t *decoded = malloc (sizeof *decoded);
    FUZZ_CHECK (submit && decoded);
    proto_msg_init (submit, PROTO_SUBMIT);
    snprintf (submit->cid, sizeof submit->cid, "c-0123456789abcdef");
    FUZZ_CHECK (proto_msg_set_spec (submit, spec, spec_len) == 0);
    FUZZ_CHECK (
        request_spec_title (spec, spec_len, submit->title, sizeof submit->title)
        == 0);
    size_t title_len = strlen (submit->title);
    FUZZ_CHECK (title_len > 0);
    FUZZ_CHECK (title_len <= json_string_length (topic));
    FUZZ_CHECK (memcmp (submit->title, json_string_value (topic), title_len)
                == 0);
    FUZZ_CHECK (utf8_valid (submit->title, title_len));

    char *wire = NULL;
    size_t wire_len = 0;
    FUZZ_CHECK (proto_encode_buf (submit, &wire, &wire_len) == 0);
    char err[128] = "";
    FUZZ_CHECK (proto_decode (wire, wire_len, decoded, err, sizeof err) == 0);
    FUZZ_CHECK (decoded->type == PROTO_SUBMIT);
    FUZZ_CHECK (decoded->spec_len == spec_len);
    FUZZ_CHECK (memcmp (decoded->spec, spec, spec_len) == 0);
    FUZZ_CHECK (strcmp (decoded->title, submit->title) == 0);

    free (wire);
    proto_msg_reset (decoded);
    proto_msg_reset (submit);
    free (decoded);
    free (submit);
    json_decref (root);
}

/*  What the gateway answers for a rejected body, and what must hold. */
static void
s_check_rejected (const char *spec, size_t spec_len,
                  const request_errors_t *errors)
{
    FUZZ_CHECK (spec == NULL && spec_len == 0);
    FUZZ_CHECK (errors->count >= 1 && errors->count <= REQUEST_MAX_ERRORS);
    for (size_t i = 0; i < errors->count; i++) {
        const request_error_t *item = &errors->items[i];
        const char *field_end = memchr (item->field, '\0', sizeof item->field);
        const char *message_end =
            memchr (item->message, '\0', sizeof item->message);
        FUZZ_CHECK (field_end != NULL && message_end != NULL);
        /* every error names what it is about, and says something */
        FUZZ_CHECK (item->field[0] != '\0');
        FUZZ_CHECK (item->message[0] != '\0');
        FUZZ_CHECK (
            utf8_valid (item->field, (size_t)(field_end - item->field)));
        FUZZ_CHECK (utf8_valid (item->message,
                                  (size_t)(message_end - item->message)));
    }

    /* the 400 of server.c's s_submit */
    char detail[sizeof errors->items[0].field + sizeof errors->items[0].message
                + 2];
    snprintf (detail, sizeof detail, "%s: %s", errors->items[0].field,
              errors->items[0].message);
    json_t *problem =
        render_problem (400, detail, "c-0123456789abcdef", errors);
    FUZZ_CHECK (problem != NULL);
    FUZZ_CHECK (json_array_size (json_object_get (problem, "errors"))
                == errors->count);
    size_t text_len = 0;
    char *text = render_dump (problem, &text_len);
    FUZZ_CHECK (text != NULL && text_len > 0);
    free (text);
    json_decref (problem);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* larger bodies are answered 413 before validation */
    if (size > REQUEST_MAX_BODY_BYTES)
        return 0;
    /* the body as the server holds it: exactly size bytes, no NUL after
       them, and no buffer at all when nothing was sent */
    char *body = NULL;
    if (size > 0) {
        body = malloc (size);
        FUZZ_CHECK (body != NULL);
        memcpy (body, data, size);
    }
    char *spec = (char *)"untouched";
    size_t spec_len = 12345;
    request_errors_t errors;
    memset (&errors, 0xA5, sizeof errors);
    int rc = request_parse_job (body, size, &spec, &spec_len, &errors);
    FUZZ_CHECK (rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    FUZZ_CHECK (errors.count <= REQUEST_MAX_ERRORS);
    if (rc == 0) {
        FUZZ_CHECK (errors.count == 0);
        s_check_accepted (spec, spec_len);
        free (spec);
    }
    else if (rc == -EINVAL)
        s_check_rejected (spec, spec_len, &errors);
    else
        FUZZ_CHECK (spec == NULL);
    free (body);
    return 0;
}
