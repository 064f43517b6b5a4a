/*  Unit tests of the command-line client's pure parts: the SSE reader
    (every rule of the event stream format, whatever the chunking) and the
    command line (commands, options, environment, the job request). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "sse_reader.h"

/* ------------------------------------------------------------- helpers */

#define MAX_EVENTS 16

typedef struct {
    char *type[MAX_EVENTS];
    char *data[MAX_EVENTS];
    size_t data_len[MAX_EVENTS];
    char *id[MAX_EVENTS];
    int count;
    int stop_after; /* return 1 once this many have come; 0: never */
} events_t;

static int
s_collect (const sse_event_t *event, void *arg)
{
    events_t *events = arg;
    ck_assert_int_lt (events->count, MAX_EVENTS);
    int i = events->count++;
    events->type[i] = strdup (event->type);
    events->data[i] = malloc (event->data_len + 1);
    memcpy (events->data[i], event->data, event->data_len + 1);
    events->data_len[i] = event->data_len;
    events->id[i] = strdup (event->id);
    ck_assert_uint_eq (strlen (event->data), event->data_len);
    return events->stop_after && events->count >= events->stop_after ? 1 : 0;
}

static void
s_events_free (events_t *events)
{
    for (int i = 0; i < events->count; i++) {
        free (events->type[i]);
        free (events->data[i]);
        free (events->id[i]);
    }
    memset (events, 0, sizeof *events);
}

/*  Feeds text (len bytes) to a new reader in pieces of `piece` bytes (0:
    at once) and collects what comes out. */
static sse_reader_t *
s_parse (const char *text, size_t len, size_t piece, events_t *events)
{
    sse_reader_t *reader = sse_reader_new (0);
    ck_assert_ptr_nonnull (reader);
    memset (events, 0, sizeof *events);
    if (piece == 0)
        piece = len ? len : 1;
    for (size_t at = 0; at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        ck_assert_int_eq (
            sse_reader_feed (reader, text + at, n, s_collect, events), 0);
    }
    return reader;
}

static void
s_parse_text (const char *text, events_t *events)
{
    sse_reader_t *reader = s_parse (text, strlen (text), 0, events);
    sse_reader_destroy (&reader);
    ck_assert_ptr_null (reader);
}

/* ---------------------------------------------------------- sse_reader */

START_TEST (test_every_line_ending)
{
    events_t events;
    s_parse_text ("data: lf\n\n"
                  "data: crlf\r\n\r\n"
                  "data: cr\r\r"
                  "data: mixed 1\r\ndata: mixed 2\rdata: mixed 3\n\r",
                  &events);
    ck_assert_int_eq (events.count, 4);
    ck_assert_str_eq (events.data[0], "lf");
    ck_assert_str_eq (events.data[1], "crlf");
    ck_assert_str_eq (events.data[2], "cr");
    ck_assert_str_eq (events.data[3], "mixed 1\nmixed 2\nmixed 3");
    ck_assert_str_eq (events.type[3], "message");
    s_events_free (&events);
}
END_TEST

START_TEST (test_cr_lf_split_across_reads)
{
    /* the LF after a CR that ended one read is part of the same line end,
       not a blank line that would dispatch "x" alone */
    sse_reader_t *reader = sse_reader_new (0);
    events_t events = { 0 };
    ck_assert_int_eq (
        sse_reader_feed (reader, "data: x\r", 8, s_collect, &events), 0);
    ck_assert_int_eq (
        sse_reader_feed (reader, "\ndata: y\r", 9, s_collect, &events), 0);
    ck_assert_int_eq (events.count, 0);
    ck_assert_int_eq (sse_reader_feed (reader, "\n\r\n", 3, s_collect, &events),
                      0);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "x\ny");
    s_events_free (&events);
    sse_reader_destroy (&reader);
}
END_TEST

START_TEST (test_data_lines_joined_and_one_space_stripped)
{
    events_t events;
    s_parse_text ("data: one\ndata:two\ndata:  three\ndata\ndata:\n\n",
                  &events);
    ck_assert_int_eq (events.count, 1);
    /* "data" alone and "data:" each add an empty line */
    ck_assert_str_eq (events.data[0], "one\ntwo\n three\n\n");
    s_events_free (&events);

    s_parse_text ("data\n\n", &events);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "");
    ck_assert_uint_eq (events.data_len[0], 0);
    s_events_free (&events);
}
END_TEST

START_TEST (test_comments_and_unknown_fields_ignored)
{
    events_t events;
    s_parse_text (": keepalive 2025-01-02T03:04:05Z\n\n"
                  ":\n"
                  "data: a\n"
                  ": between\n"
                  "colour: blue\n"
                  "Data: wrong case\n"
                  "\n",
                  &events);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "a");
    s_events_free (&events);
}
END_TEST

START_TEST (test_event_type_resets_after_dispatch)
{
    events_t events;
    s_parse_text ("event: job-status\ndata: {\"seq\":1}\n\n"
                  "data: plain\n\n"
                  "event: only-a-type\n\n"
                  "data: after\n\n",
                  &events);
    ck_assert_int_eq (events.count, 3);
    ck_assert_str_eq (events.type[0], "job-status");
    ck_assert_str_eq (events.data[0], "{\"seq\":1}");
    ck_assert_str_eq (events.type[1], "message");
    /* an event without data is not dispatched, and its type is dropped */
    ck_assert_str_eq (events.type[2], "message");
    ck_assert_str_eq (events.data[2], "after");
    s_events_free (&events);
}
END_TEST

START_TEST (test_id_persists_and_resets)
{
    static const char text[] =
        "id: 7\ndata: a\n\n"
        "data: b\n\n"
        "id: 8\n\n" /* no data: no event, but the id counts */
        "data: c\n\n"
        "id\ndata: d\n\n";
    events_t events;
    sse_reader_t *reader = s_parse (text, sizeof text - 1, 0, &events);
    ck_assert_int_eq (events.count, 4);
    ck_assert_str_eq (events.id[0], "7");
    ck_assert_str_eq (events.id[1], "7");
    ck_assert_str_eq (events.id[2], "8");
    ck_assert_str_eq (events.id[3], "");
    ck_assert_str_eq (sse_reader_last_event_id (reader), "");
    s_events_free (&events);

    /* an id with a NUL in it is ignored */
    static const char with_nul[] = "id: 41\ndata: x\n\nid: 4\0002\ndata: y\n\n";
    ck_assert_int_eq (sse_reader_feed (reader, with_nul, sizeof with_nul - 1,
                                       s_collect, &events),
                      0);
    ck_assert_int_eq (events.count, 2);
    ck_assert_str_eq (events.id[1], "41");
    ck_assert_str_eq (sse_reader_last_event_id (reader), "41");
    s_events_free (&events);
    sse_reader_destroy (&reader);
}
END_TEST

START_TEST (test_retry_needs_digits)
{
    events_t events;
    sse_reader_t *reader = s_parse ("data: x\n\n", 9, 0, &events);
    ck_assert_int_eq (sse_reader_retry_ms (reader), -1);
    const char *lines[] = { "retry: 2500\n",
                            "retry: 12a\n",
                            "retry:\n",
                            "retry: -1\n",
                            "retry: 99999999999999999999\n",
                            "retry:  300\n" };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_int_eq (sse_reader_feed (reader, lines[i], strlen (lines[i]),
                                           s_collect, &events),
                          0);
    /* only the first was all digits ("  300" keeps a space after the one
       stripped) */
    ck_assert_int_eq (sse_reader_retry_ms (reader), 2500);
    ck_assert_int_eq (
        sse_reader_feed (reader, "retry:0\n", 8, s_collect, &events), 0);
    ck_assert_int_eq (sse_reader_retry_ms (reader), 0);
    s_events_free (&events);
    sse_reader_destroy (&reader);
}
END_TEST

START_TEST (test_reset_discards_the_unfinished_event)
{
    sse_reader_t *reader = sse_reader_new (0);
    events_t events = { 0 };
    const char *first =
        "retry: 1000\nid: 3\ndata: complete\n\nid: 4\nevent: job-status\n"
        "data: cut off before its blank line\ndata: par";
    ck_assert_int_eq (
        sse_reader_feed (reader, first, strlen (first), s_collect, &events), 0);
    ck_assert_int_eq (events.count, 1);
    sse_reader_reset (reader);
    /* what a reconnect needs survives: the last id, which is 3 (the "id:
       4" belongs to an event that never ended), and the retry time */
    ck_assert_str_eq (sse_reader_last_event_id (reader), "3");
    ck_assert_int_eq (sse_reader_retry_ms (reader), 1000);
    const char *second = "data: next\n\n";
    ck_assert_int_eq (
        sse_reader_feed (reader, second, strlen (second), s_collect, &events),
        0);
    ck_assert_int_eq (events.count, 2);
    ck_assert_str_eq (events.data[1], "next");
    ck_assert_str_eq (events.type[1], "message");
    /* a new stream starts with an empty id buffer */
    ck_assert_str_eq (events.id[1], "");
    ck_assert_str_eq (sse_reader_last_event_id (reader), "");
    s_events_free (&events);

    /* a CR at the end of a connection does not eat the next one's LF */
    ck_assert_int_eq (
        sse_reader_feed (reader, "data: a\r", 8, s_collect, &events), 0);
    sse_reader_reset (reader);
    ck_assert_int_eq (
        sse_reader_feed (reader, "\ndata: b\n\n", 10, s_collect, &events), 0);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "b");
    s_events_free (&events);
    sse_reader_destroy (&reader);
}
END_TEST

START_TEST (test_byte_order_mark)
{
    events_t events;
    s_parse_text ("\xEF\xBB\xBF"
                  "data: a\n\n",
                  &events);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "a");
    s_events_free (&events);

    /* split over reads, byte by byte */
    const char *text = "\xEF\xBB\xBF"
                       "data: b\n\n";
    sse_reader_t *reader = s_parse (text, strlen (text), 1, &events);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "b");
    s_events_free (&events);
    sse_reader_destroy (&reader);

    /* only one is stripped: a second makes the field name unknown */
    s_parse_text ("\xEF\xBB\xBF\xEF\xBB\xBF"
                  "data: c\n\n",
                  &events);
    ck_assert_int_eq (events.count, 0);
    /* and bytes that only begin like one are kept */
    s_parse_text ("\xEF\xBB"
                  "data: d\n\ndata: e\n\n",
                  &events);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "e");
    s_events_free (&events);
}
END_TEST

START_TEST (test_callback_stops_the_parse)
{
    sse_reader_t *reader = sse_reader_new (0);
    events_t events = { .stop_after = 1 };
    const char *text = "data: a\n\ndata: b\n\n";
    ck_assert_int_eq (
        sse_reader_feed (reader, text, strlen (text), s_collect, &events), 1);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "a");
    s_events_free (&events);
    sse_reader_destroy (&reader);
}
END_TEST

START_TEST (test_limits)
{
    sse_reader_t *reader = sse_reader_new (16);
    events_t events = { 0 };
    const char *long_line = "data: 0123456789abcdef\n\n";
    ck_assert_int_eq (sse_reader_feed (reader, long_line, strlen (long_line),
                                       s_collect, &events),
                      -EMSGSIZE);
    ck_assert_int_eq (events.count, 0);
    /* data of many short lines is bounded as well */
    const char *many = "data: 01234\ndata: 56789\ndata: abcde\n\n";
    ck_assert_int_eq (
        sse_reader_feed (reader, many, strlen (many), s_collect, &events),
        -EMSGSIZE);
    /* the reader was reset and goes on with a new stream */
    const char *fine = "data: ok\n\n";
    ck_assert_int_eq (
        sse_reader_feed (reader, fine, strlen (fine), s_collect, &events), 0);
    ck_assert_int_eq (events.count, 1);
    ck_assert_str_eq (events.data[0], "ok");
    s_events_free (&events);
    sse_reader_destroy (&reader);
    sse_reader_destroy (&reader); /* NULL: nothing */
}
END_TEST

/*  A stream as the gateway sends it, cut at every possible place. */
START_TEST (test_any_chunking_gives_the_same_events)
{
    static const char stream[] =
        "retry: 1000\n\n"
        "id: 1\nevent: job-status\ndata: {\"status\":\"Queued\",\"seq\":1}\n\n"
        ": keepalive 2025-01-02T03:04:05Z\n\n"
        "id: 2\r\nevent: step-progress\r\ndata: {\"message\":\"Dessin "
        "\xC3\xA9t\xC3\xA9\"}\r\n\r\n"
        "id: 3\revent: job-completed\rdata: {\"artifacts\":[]}\r\r";
    size_t len = sizeof stream - 1;
    events_t whole;
    sse_reader_t *reader = s_parse (stream, len, 0, &whole);
    ck_assert_int_eq (whole.count, 3);
    ck_assert_str_eq (whole.type[1], "step-progress");
    ck_assert_str_eq (whole.data[1],
                      "{\"message\":\"Dessin \xC3\xA9t\xC3\xA9\"}");
    ck_assert_str_eq (whole.id[2], "3");
    ck_assert_int_eq (sse_reader_retry_ms (reader), 1000);
    sse_reader_destroy (&reader);

    for (size_t piece = 1; piece <= len; piece++) {
        events_t parts;
        reader = s_parse (stream, len, piece, &parts);
        ck_assert_int_eq (parts.count, whole.count);
        for (int i = 0; i < whole.count; i++) {
            ck_assert_str_eq (parts.type[i], whole.type[i]);
            ck_assert_str_eq (parts.data[i], whole.data[i]);
            ck_assert_str_eq (parts.id[i], whole.id[i]);
        }
        ck_assert_str_eq (sse_reader_last_event_id (reader), "3");
        s_events_free (&parts);
        sse_reader_destroy (&reader);
    }
    /* and split in two at every offset */
    for (size_t cut = 0; cut <= len; cut++) {
        events_t parts = { 0 };
        reader = sse_reader_new (0);
        ck_assert_int_eq (
            sse_reader_feed (reader, stream, cut, s_collect, &parts), 0);
        ck_assert_int_eq (sse_reader_feed (reader, stream + cut, len - cut,
                                           s_collect, &parts),
                          0);
        ck_assert_int_eq (parts.count, whole.count);
        for (int i = 0; i < whole.count; i++)
            ck_assert_str_eq (parts.data[i], whole.data[i]);
        s_events_free (&parts);
        sse_reader_destroy (&reader);
    }
    s_events_free (&whole);
}
END_TEST

/* ------------------------------------------------------------- command */

static int
s_command (command_t *cmd, char *err, size_t err_size, const char *url_env,
           const char *token_env, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"aura";
    for (int i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return command_parse (argc, argv, url_env, token_env, cmd, err, err_size);
}

#define PARSE(cmd, err, url_env, token_env, ...)                               \
    s_command ((cmd), (err), sizeof (err), (url_env), (token_env),             \
               (const char *const[]){ __VA_ARGS__, NULL })

#define JOB "01JD5ZQ6X8M9N0P1Q2R3S4T5V6"

START_TEST (test_command_submit_options)
{
    command_t cmd;
    char err[256];
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "submit", "--topic",
                             "Why is the sky blue", "--audience=kids",
                             "--duration", "30", "--aspect", "9:16", "--res",
                             "1280x720", "--quality", "80", "--follow",
                             "--json"),
                      0);
    ck_assert_int_eq (cmd.kind, COMMAND_SUBMIT);
    ck_assert_str_eq (cmd.topic, "Why is the sky blue");
    ck_assert_str_eq (cmd.audience, "kids");
    ck_assert (cmd.follow);
    ck_assert (cmd.json);
    ck_assert_str_eq (cmd.url, AURA_DEFAULT_URL);
    ck_assert_ptr_null (cmd.token);

    json_t *body = command_job_body (&cmd, err, sizeof err);
    ck_assert_ptr_nonnull (body);
    json_t *expected = json_pack (
        "{s:{s:s, s:s, s:s}, s:{s:i}, s:{s:{s:i, s:i}, s:i}}", "brief", "topic",
        "Why is the sky blue", "audience", "kids", "aspect", "Vertical9x16",
        "planSpec", "targetDuration", 30, "renderSpec", "res", "width", 1280,
        "height", 720, "qualityLevel", 80);
    ck_assert (json_equal (body, expected));
    json_decref (body);
    json_decref (expected);

    /* clock durations stay text, 720p stays a name */
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "submit", "--topic=x",
                             "--duration", "01:30", "--res", "720p", "--aspect",
                             "Square1x1"),
                      0);
    body = command_job_body (&cmd, err, sizeof err);
    ck_assert_ptr_nonnull (body);
    ck_assert_str_eq (
        json_string_value (json_object_get (json_object_get (body, "planSpec"),
                                            "targetDuration")),
        "01:30");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (body, "renderSpec"), "res")),
                      "720p");
    ck_assert_str_eq (json_string_value (json_object_get (
                          json_object_get (body, "brief"), "aspect")),
                      "Square1x1");
    json_decref (body);
}
END_TEST

START_TEST (test_command_job_body_refuses_bad_forms)
{
    static const char *const bad[][2] = {
        { "--duration", "half a minute" },
        { "--duration", "1:2:3:4" },
        { "--aspect", "4:3" },
        { "--res", "4k" },
        { "--res", "12x" },
        { "--quality", "high" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        command_t cmd;
        char err[256];
        ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "submit", "--topic",
                                 "x", bad[i][0], bad[i][1]),
                          0);
        json_t *body = command_job_body (&cmd, err, sizeof err);
        ck_assert_msg (body == NULL, "%s %s accepted", bad[i][0], bad[i][1]);
        ck_assert_msg (strstr (err, bad[i][0]) != NULL,
                       "error '%s' names no option", err);
    }
}
END_TEST

START_TEST (test_command_environment_and_flags)
{
    command_t cmd;
    char err[256];
    ck_assert_int_eq (PARSE (&cmd, err, "http://gw:9000",
                             "env-token-0123456789", "list", "--status", "Done",
                             "--limit", "5"),
                      0);
    ck_assert_int_eq (cmd.kind, COMMAND_LIST);
    ck_assert_str_eq (cmd.url, "http://gw:9000");
    ck_assert_str_eq (cmd.token, "env-token-0123456789");
    ck_assert_str_eq (cmd.status, "Done");
    ck_assert_str_eq (cmd.limit, "5");

    /* a flag wins over the environment, before or after the command */
    ck_assert_int_eq (PARSE (&cmd, err, "http://gw:9000",
                             "env-token-0123456789", "--url", "https://other/",
                             "get", JOB, "--token=flag-token"),
                      0);
    ck_assert_str_eq (cmd.url, "https://other/");
    ck_assert_str_eq (cmd.token, "flag-token");
    ck_assert_str_eq (cmd.job, JOB);

    /* empty environment values count as unset */
    ck_assert_int_eq (PARSE (&cmd, err, "", "", "follow", JOB), 0);
    ck_assert_str_eq (cmd.url, AURA_DEFAULT_URL);
    ck_assert_ptr_null (cmd.token);

    ck_assert_int_lt (PARSE (&cmd, err, "ftp://gw", NULL, "list"), 0);
    ck_assert_ptr_nonnull (strstr (err, "http://"));

    /* a token that would break the header is refused, without being shown */
    ck_assert_int_lt (PARSE (&cmd, err, NULL, "secret token\r\nX: y", "list"),
                      0);
    ck_assert_ptr_null (strstr (err, "secret"));
    ck_assert_ptr_nonnull (strstr (err, "token"));
}
END_TEST

START_TEST (test_command_ids_and_arguments)
{
    command_t cmd;
    char err[256];
    ck_assert (command_job_id_valid (JOB));
    ck_assert (command_job_id_valid ("01jd5zq6x8m9n0p1q2r3s4t5v6"));
    ck_assert (!command_job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5V"));  /* 25 */
    ck_assert (!command_job_id_valid ("01JD5ZQ6X8M9N0P1Q2R3S4T5VU")); /* U */
    /* the first character of a 128-bit ULID is at most 7 */
    ck_assert (!command_job_id_valid ("81JD5ZQ6X8M9N0P1Q2R3S4T5V6"));
    ck_assert (!command_job_id_valid ("../../etc/passwd0000000000"));
    ck_assert (!command_job_id_valid (NULL));

    ck_assert_int_eq (
        PARSE (&cmd, err, NULL, NULL, "cancel", "01jd5zq6x8m9n0p1q2r3s4t5v6"),
        0);
    ck_assert_int_eq (cmd.kind, COMMAND_CANCEL);
    ck_assert_str_eq (cmd.job, JOB);

    ck_assert_int_eq (
        PARSE (&cmd, err, NULL, NULL, "download", JOB, "out/videos"), 0);
    ck_assert_str_eq (cmd.dir, "out/videos");
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "download", JOB), 0);
    ck_assert_ptr_null (cmd.dir);

    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "get"), 0);
    ck_assert_ptr_nonnull (strstr (err, "job ID"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "get", "nope"), 0);
    ck_assert_ptr_nonnull (strstr (err, "'nope' is not a job id"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "get", JOB, JOB), 0);
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "list", "extra"), 0);
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "frobnicate"), 0);
    ck_assert_ptr_nonnull (strstr (err, "unknown command 'frobnicate'"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "list", "--bogus"), 0);
    ck_assert_ptr_nonnull (strstr (err, "unknown option '--bogus'"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "list", "--limit"), 0);
    ck_assert_ptr_nonnull (strstr (err, "needs a value"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "get", JOB, "--topic", "x"),
                      0);
    ck_assert_ptr_nonnull (strstr (err, "get does not take --topic"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "submit"), 0);
    ck_assert_ptr_nonnull (strstr (err, "--topic"));
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "list", "--json=yes"), 0);
    /* after --, a dash starts an argument, not an option */
    ck_assert_int_eq (
        PARSE (&cmd, err, NULL, NULL, "download", JOB, "--", "-dir"), 0);
    ck_assert_str_eq (cmd.dir, "-dir");
}
END_TEST

START_TEST (test_command_help_and_version)
{
    command_t cmd;
    char err[256];
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "--help"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_HELP);
    ck_assert_int_eq (cmd.help_for, COMMAND_NONE);
    /* --help wins over what is missing or wrong next to it */
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "submit", "--help"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_HELP);
    ck_assert_int_eq (cmd.help_for, COMMAND_SUBMIT);
    ck_assert_int_eq (
        PARSE (&cmd, err, NULL, NULL, "-h", "get", "nope", "--bogus"), 0);
    ck_assert_int_eq (cmd.help_for, COMMAND_GET);
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "help", "download"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_HELP);
    ck_assert_int_eq (cmd.help_for, COMMAND_DOWNLOAD);
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "help", "nothing"), 0);
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "--version"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_VERSION);
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "--json"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_NONE);

    /* every command has its own text, and each lists the exit status */
    for (int k = COMMAND_DEMO; k < COMMAND_KIND_COUNT; k++) {
        const char *usage = command_usage ((command_kind_t)k);
        char want[64];
        snprintf (want, sizeof want, "Usage: aura %s",
                  command_name ((command_kind_t)k));
        ck_assert_msg (strncmp (usage, want, strlen (want)) == 0, "%s", usage);
        ck_assert_ptr_nonnull (strstr (usage, "Exit status"));
    }
    const char *overview = command_usage (COMMAND_NONE);
    ck_assert_ptr_nonnull (strstr (overview, "AURA_URL"));
    ck_assert_ptr_nonnull (strstr (overview, "AURA_API_TOKEN"));
    ck_assert_ptr_nonnull (
        strstr (overview, "3    the followed job was cancelled"));
}
END_TEST

START_TEST (test_command_demo_follows_by_default)
{
    command_t cmd;
    char err[256];
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "demo"), 0);
    ck_assert_int_eq (cmd.kind, COMMAND_DEMO);
    ck_assert (cmd.follow);
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "demo", "--no-follow"), 0);
    ck_assert (!cmd.follow);
    ck_assert_int_lt (PARSE (&cmd, err, NULL, NULL, "demo", "--follow"), 0);
    ck_assert_int_eq (PARSE (&cmd, err, NULL, NULL, "retry", JOB, "--follow"),
                      0);
    ck_assert (cmd.follow);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("cli_sse");
    TCase *reader = tcase_create ("sse_reader");
    tcase_add_test (reader, test_every_line_ending);
    tcase_add_test (reader, test_cr_lf_split_across_reads);
    tcase_add_test (reader, test_data_lines_joined_and_one_space_stripped);
    tcase_add_test (reader, test_comments_and_unknown_fields_ignored);
    tcase_add_test (reader, test_event_type_resets_after_dispatch);
    tcase_add_test (reader, test_id_persists_and_resets);
    tcase_add_test (reader, test_retry_needs_digits);
    tcase_add_test (reader, test_reset_discards_the_unfinished_event);
    tcase_add_test (reader, test_byte_order_mark);
    tcase_add_test (reader, test_callback_stops_the_parse);
    tcase_add_test (reader, test_limits);
    tcase_add_test (reader, test_any_chunking_gives_the_same_events);
    suite_add_tcase (s, reader);
    TCase *command = tcase_create ("command");
    tcase_add_test (command, test_command_submit_options);
    tcase_add_test (command, test_command_job_body_refuses_bad_forms);
    tcase_add_test (command, test_command_environment_and_flags);
    tcase_add_test (command, test_command_ids_and_arguments);
    tcase_add_test (command, test_command_help_and_version);
    tcase_add_test (command, test_command_demo_follows_by_default);
    suite_add_tcase (s, command);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
