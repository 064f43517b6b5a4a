/*  fuzz_query — what the gateway reads from request headers and the query
    string, under arbitrary bytes: the Last-Event-ID of a reconnecting
    stream, the Idempotency-Key of a submission and the query of
    GET /api/jobs. The low two bits of the first byte pick the parser
    (3: all of them); the rest is the value as libmicrohttpd hands it over,
    a C string, not percent-decoded. Each answer is compared with a plain
    reading of what the header files promise, and a refusal must render as
    the 400 the client gets. */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ids.h"
#include "proto.h"
#include "render.h"
#include "request.h"
#include "sse.h"

/*  The most query parameters the gateway reads (server.c); more answer
    400 before the parser sees them. */
#define S_MAX_QUERY_ARGS 16

/*  The 400 of server.c's s_respond_invalid: a detail joining every error,
    and the problem document listing them. */
static void
s_check_problem (const request_errors_t *errors)
{
    FUZZ_CHECK (errors->count >= 1 && errors->count <= REQUEST_MAX_ERRORS);
    char detail[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < errors->count && len < sizeof detail; i++) {
        const request_error_t *item = &errors->items[i];
        FUZZ_CHECK (memchr (item->field, '\0', sizeof item->field) != NULL);
        FUZZ_CHECK (memchr (item->message, '\0', sizeof item->message) != NULL);
        FUZZ_CHECK (item->message[0] != '\0');
        int n = snprintf (detail + len, sizeof detail - len, "%s%s: %s",
                          i ? "; " : "", item->field, item->message);
        FUZZ_CHECK (n >= 0);
        len += (size_t)n;
    }
    json_t *problem =
        render_problem (400, detail, "c-0123456789abcdef", errors);
    FUZZ_CHECK (problem != NULL);
    FUZZ_CHECK (json_array_size (json_object_get (problem, "errors"))
                == errors->count);
    size_t text_len = 0;
    char *text = render_dump (problem, &text_len);
    FUZZ_CHECK (text != NULL && text_len > 0);
    FUZZ_CHECK (utf8_valid (text, text_len));
    free (text);
    json_decref (problem);
}

/* ------------------------------------------------------------------ */
/*  Last-Event-ID                                                      */

static void
s_check_last_event_id (const char *text, size_t len)
{
    /* what sse.h promises: one or more digits, at most INT64_MAX */
    bool digits = len > 0;
    bool overflow = false;
    uint64_t expected = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            digits = false;
            break;
        }
        unsigned digit = (unsigned)(text[i] - '0');
        if (!overflow && expected > ((uint64_t)INT64_MAX - digit) / 10)
            overflow = true;
        if (!overflow)
            expected = expected * 10 + digit;
    }

    uint64_t seq = UINT64_C (0xA5A5A5A5A5A5A5A5);
    int rc = sse_parse_last_event_id (text, len, &seq);
    if (digits && !overflow) {
        FUZZ_CHECK (rc == 0);
        FUZZ_CHECK (seq == expected && seq <= (uint64_t)INT64_MAX);
        /* the id a stream sends for it is the same number */
        char again[32];
        snprintf (again, sizeof again, "%llu", (unsigned long long)seq);
        size_t zeros = 0;
        while (zeros + 1 < len && text[zeros] == '0')
            zeros++;
        FUZZ_CHECK (strlen (again) == len - zeros
                    && memcmp (again, text + zeros, len - zeros) == 0);
    }
    else {
        /* anything else is refused, and a refusal changes nothing */
        FUZZ_CHECK (seq == UINT64_C (0xA5A5A5A5A5A5A5A5));
        if (digits)
            FUZZ_CHECK (rc == -ERANGE);
        else
            FUZZ_CHECK (rc == -EINVAL || rc == -ERANGE);
    }
}

/* ------------------------------------------------------------------ */
/*  Idempotency-Key                                                    */

static void
s_check_idempotency_key (const char *text, size_t len)
{
    bool printable = len >= 1 && len <= REQUEST_IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; printable && i < len; i++)
        printable =
            (unsigned char)text[i] >= 0x20 && (unsigned char)text[i] <= 0x7E;

    request_errors_t errors;
    memset (&errors, 0xA5, sizeof errors);
    int rc = request_check_idempotency_key (text, len, &errors);
    if (!printable) {
        FUZZ_CHECK (rc == -EINVAL);
        FUZZ_CHECK (errors.count == 1);
        FUZZ_CHECK (strcmp (errors.items[0].field, "Idempotency-Key") == 0);
        s_check_problem (&errors);
        return;
    }
    FUZZ_CHECK (rc == 0);
    FUZZ_CHECK (errors.count == 0);

    /* an accepted key travels to the broker in the submit, intact */
    proto_msg_t *submit = malloc (sizeof *submit);
    proto_msg_t *decoded = malloc (sizeof *decoded);
    FUZZ_CHECK (submit && decoded);
    proto_msg_init (submit, PROTO_SUBMIT);
    snprintf (submit->cid, sizeof submit->cid, "c-0123456789abcdef");
    FUZZ_CHECK (proto_msg_set_spec (submit, "{}", 2) == 0);
    FUZZ_CHECK (len < sizeof submit->idem_key);
    memcpy (submit->idem_key, text, len);
    submit->idem_key[len] = '\0';
    char *wire = NULL;
    size_t wire_len = 0;
    FUZZ_CHECK (proto_encode_buf (submit, &wire, &wire_len) == 0);
    char err[128] = "";
    FUZZ_CHECK (proto_decode (wire, wire_len, decoded, err, sizeof err) == 0);
    FUZZ_CHECK (strcmp (decoded->idem_key, submit->idem_key) == 0);
    free (wire);
    proto_msg_reset (decoded);
    proto_msg_reset (submit);
    free (decoded);
    free (submit);
}

/* ------------------------------------------------------------------ */
/*  GET /api/jobs?…                                                    */

static const char *const s_statuses[] = { "Queued", "Running", "Done", "Failed",
                                          "Canceled" };

static bool
s_status_valid (const char *value)
{
    for (size_t i = 0; i < sizeof s_statuses / sizeof *s_statuses; i++)
        if (strcmp (value, s_statuses[i]) == 0)
            return true;
    return false;
}

/*  1 to 100 written in decimal digits only. Returns the number or 0. */
static int
s_limit_value (const char *value)
{
    size_t len = strlen (value);
    if (len == 0 || len > 9)
        return 0;
    long number = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return 0;
        number = number * 10 + (value[i] - '0');
    }
    return number >= 1 && number <= REQUEST_LIST_MAX_LIMIT ? (int)number : 0;
}

/*  The field an error about parameter name carries: the name, or when it
    does not fit the field, its start, cut at a character boundary when
    the name is UTF-8. */
static bool
s_field_names (const char *field, const char *name)
{
    size_t field_size = sizeof ((request_error_t *)0)->field;
    size_t len = strlen (field);
    if (strncmp (field, name, len) != 0)
        return false;
    if (name[len] == '\0')
        return true;
    size_t name_len = strlen (name);
    if (name_len < field_size)
        return false;
    if (utf8_valid (name, name_len))
        return len + 4 >= field_size && utf8_valid (field, len);
    return true;
}

static void
s_check_list_query (char *query)
{
    /* split as libmicrohttpd does: at '&', then at the first '=' (a bare
       name has no value) */
    request_arg_t args[S_MAX_QUERY_ARGS];
    size_t count = 0;
    for (char *segment = query;;) {
        char *amp = strchr (segment, '&');
        if (amp)
            *amp = '\0';
        if (count == S_MAX_QUERY_ARGS)
            return; /* 400 "has more than 16 parameters", before the parser */
        char *eq = strchr (segment, '=');
        if (eq)
            *eq = '\0';
        args[count].name = segment;
        args[count].value = eq ? eq + 1 : NULL;
        count++;
        if (!amp)
            break;
        segment = amp + 1;
    }

    /* what request.h promises, parameter by parameter */
    size_t expected_errors = 0;
    const char *status = NULL, *limit = NULL, *cursor = NULL;
    bool status_seen = false, limit_seen = false, cursor_seen = false;
    for (size_t i = 0; i < count; i++) {
        const char *name = args[i].name;
        const char *value = args[i].value ? args[i].value : "";
        if (!*name && !*value)
            continue;
        bool *seen = strcmp (name, "status") == 0   ? &status_seen
                     : strcmp (name, "limit") == 0  ? &limit_seen
                     : strcmp (name, "cursor") == 0 ? &cursor_seen
                                                    : NULL;
        if (!seen || *seen) {
            expected_errors++;
            continue;
        }
        *seen = true;
        if (seen == &status_seen) {
            status = value;
            expected_errors += s_status_valid (value) ? 0 : 1;
        }
        else if (seen == &limit_seen) {
            limit = value;
            expected_errors += s_limit_value (value) ? 0 : 1;
        }
        else {
            cursor = value;
            expected_errors += job_id_valid (value, strlen (value)) ? 0 : 1;
        }
    }

    request_list_query_t parsed;
    memset (&parsed, 0xA5, sizeof parsed);
    request_errors_t errors;
    memset (&errors, 0xA5, sizeof errors);
    int rc = request_parse_list_query (args, count, &parsed, &errors);

    FUZZ_CHECK (memchr (parsed.status, '\0', sizeof parsed.status) != NULL);
    FUZZ_CHECK (memchr (parsed.cursor, '\0', sizeof parsed.cursor) != NULL);
    if (expected_errors == 0) {
        FUZZ_CHECK (rc == 0);
        FUZZ_CHECK (errors.count == 0);
        FUZZ_CHECK (strcmp (parsed.status, status ? status : "") == 0);
        FUZZ_CHECK (
            parsed.limit
            == (limit ? s_limit_value (limit) : REQUEST_LIST_DEFAULT_LIMIT));
        FUZZ_CHECK (strcmp (parsed.cursor, cursor ? cursor : "") == 0);

        /* the list request the broker gets carries the same */
        proto_msg_t *request = malloc (sizeof *request);
        proto_msg_t *decoded = malloc (sizeof *decoded);
        FUZZ_CHECK (request && decoded);
        proto_msg_init (request, PROTO_LIST);
        snprintf (request->cid, sizeof request->cid, "c-0123456789abcdef");
        request->limit = parsed.limit;
        snprintf (request->filter, sizeof request->filter, "%s", parsed.status);
        snprintf (request->cursor, sizeof request->cursor, "%s", parsed.cursor);
        char *wire = NULL;
        size_t wire_len = 0;
        FUZZ_CHECK (proto_encode_buf (request, &wire, &wire_len) == 0);
        char err[128] = "";
        FUZZ_CHECK (proto_decode (wire, wire_len, decoded, err, sizeof err)
                    == 0);
        FUZZ_CHECK (decoded->limit == parsed.limit);
        FUZZ_CHECK (strcmp (decoded->filter, parsed.status) == 0);
        FUZZ_CHECK (strcmp (decoded->cursor, parsed.cursor) == 0);
        free (wire);
        proto_msg_reset (decoded);
        proto_msg_reset (request);
        free (decoded);
        free (request);
        return;
    }
    FUZZ_CHECK (rc == -EINVAL);
    FUZZ_CHECK (errors.count
                == (expected_errors < REQUEST_MAX_ERRORS ? expected_errors
                                                         : REQUEST_MAX_ERRORS));
    /* a refusal leaves the defaults, not half a query */
    FUZZ_CHECK (parsed.status[0] == '\0' && parsed.cursor[0] == '\0');
    FUZZ_CHECK (parsed.limit == REQUEST_LIST_DEFAULT_LIMIT);
    /* every error names a parameter that was sent */
    for (size_t e = 0; e < errors.count; e++) {
        bool named = false;
        for (size_t i = 0; !named && i < count; i++)
            named = s_field_names (errors.items[e].field, args[i].name);
        FUZZ_CHECK (named);
    }
    s_check_problem (&errors);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned which = data[0] & 3u;
    /* the value as a C string: libmicrohttpd stops at a NUL */
    size_t len = strnlen ((const char *)data + 1, size - 1);
    char *text = malloc (len + 1);
    FUZZ_CHECK (text != NULL);
    memcpy (text, data + 1, len);
    text[len] = '\0';

    if (which == 0 || which == 3)
        s_check_last_event_id (text, len);
    if (which == 1 || which == 3)
        s_check_idempotency_key (text, len);
    if (which == 2 || which == 3)
        s_check_list_query (text); /* cuts text up */
    free (text);
    return 0;
}
