/*  render — camelCase JSON documents built with jansson. Every builder
    checks each insertion through s_set(), which records the first failure
    so that a document is either complete or not returned at all. */
#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phase.h"

/*  Stores value under key; on any failure (value NULL included) clears
    *ok. json_object_set_new releases value in every case. */
static void
s_set (json_t *object, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new (object, key, value) < 0)
        *ok = false;
}

/*  A JSON string for text from a peer. jansson refuses invalid UTF-8, so
    such text is sent with its non-ASCII bytes replaced by '?' rather than
    dropped. */
static json_t *
s_str (const char *text)
{
    json_t *value = json_string (text);
    if (value)
        return value;
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char) *c >= 0x80)
            *c = '?';
    value = json_string (copy);
    free (copy);
    return value;
}

/*  A number rounded to `decimals` places, written as an integer when it
    has no fraction (percent 15 rather than 15.0). Non-finite values,
    which JSON cannot carry, become 0. */
static json_t *
s_num (double x, int decimals)
{
    if (!isfinite (x))
        x = 0;
    double scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    if (x > -1e12 && x < 1e12)
        x = (double) (long long) (x * scale + (x < 0 ? -0.5 : 0.5)) / scale;
    if (x > -9e15 && x < 9e15 && x == (double) (long long) x)
        return json_integer ((json_int_t) x);
    return json_real (x);
}

static json_t *
s_time_or_null (int64_t unix_us)
{
    char text[40];
    if (unix_us <= 0 || render_rfc3339 (unix_us, true, text, sizeof text) < 0)
        return json_null ();
    return json_string (text);
}

int
render_rfc3339 (int64_t unix_us, bool millis, char *out, size_t out_size)
{
    if (unix_us < 0)
        return -EINVAL;
    time_t secs = (time_t) (unix_us / 1000000);
    struct tm tm;
    if (!gmtime_r (&secs, &tm) || tm.tm_year + 1900 > 9999)
        return -EINVAL;
    int n;
    if (millis)
        n = snprintf (out, out_size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec, (int) (unix_us % 1000000 / 1000));
    else
        n = snprintf (out, out_size, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec);
    if (n < 0 || (size_t) n >= out_size)
        return -ENOSPC;
    return n;
}

int
render_job_path (const char *job, const char *suffix, char *out,
                 size_t out_size)
{
    int n = snprintf (out, out_size, "/api/jobs/%s%s", job, suffix);
    return (n < 0 || (size_t) n >= out_size) ? -ENOSPC : 0;
}

/*  The URL of one artifact: its name percent-encoded as a path segment
    (RFC 3986 unreserved characters stay as they are). */
static json_t *
s_artifact_url (const char *job, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    char url[64 + sizeof ((proto_artifact_t *) 0)->name * 3];
    if (render_job_path (job, "/artifacts/", url, sizeof url) < 0)
        return NULL;
    size_t n = strlen (url);
    for (const unsigned char *c = (const unsigned char *) name; *c; c++) {
        bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
                     || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'
                     || *c == '_' || *c == '~';
        if (n + 4 > sizeof url)
            return NULL;
        if (plain)
            url[n++] = (char) *c;
        else {
            url[n++] = '%';
            url[n++] = hex[*c >> 4];
            url[n++] = hex[*c & 0x0F];
        }
    }
    url[n] = '\0';
    return json_string (url);
}

static json_t *
s_artifacts (const proto_msg_t *msg)
{
    json_t *list = json_array ();
    if (!list)
        return NULL;
    bool ok = true;
    for (size_t i = 0; ok && i < msg->artifact_count && i < PROTO_MAX_ARTIFACTS;
         i++) {
        const proto_artifact_t *a = &msg->artifacts[i];
        json_t *item = json_object ();
        if (!item) {
            ok = false;
            break;
        }
        s_set (item, "name", s_str (a->name), &ok);
        s_set (item, "path", s_str (a->path), &ok);
        s_set (item, "url", s_artifact_url (msg->job, a->name), &ok);
        s_set (item, "type", s_str (a->type), &ok);
        s_set (item, "sizeBytes", json_integer (a->size_bytes), &ok);
        if (json_array_append_new (list, item) < 0)
            ok = false;
    }
    if (!ok) {
        json_decref (list);
        return NULL;
    }
    return list;
}

static json_t *
s_output (const proto_msg_t *msg)
{
    json_t *output = json_object ();
    if (!output)
        return NULL;
    bool ok = true;
    s_set (output, "videoPath", s_str (msg->output_video), &ok);
    s_set (output, "subtitlePath", s_str (msg->output_subtitle), &ok);
    s_set (output, "sizeBytes", json_integer (msg->output_size_bytes), &ok);
    s_set (output, "durationSeconds", s_num (msg->output_duration_s, 3), &ok);
    if (!ok) {
        json_decref (output);
        return NULL;
    }
    return output;
}

static json_t *
s_error_object (const proto_msg_t *msg)
{
    json_t *error = json_object ();
    if (!error)
        return NULL;
    bool ok = true;
    s_set (error, "code", s_str (msg->code), &ok);
    s_set (error, "message", s_str (msg->message), &ok);
    if (!ok) {
        json_decref (error);
        return NULL;
    }
    return error;
}

static json_t *
s_links (const char *job)
{
    char self[64], events[64], cancel[64];
    if (render_job_path (job, "", self, sizeof self) < 0
        || render_job_path (job, "/events", events, sizeof events) < 0
        || render_job_path (job, "/cancel", cancel, sizeof cancel) < 0)
        return NULL;
    return json_pack ("{s:s, s:s, s:s}", "self", self, "events", events,
                      "cancel", cancel);
}

static json_t *
s_finish (json_t *object, bool ok)
{
    if (!ok) {
        json_decref (object);
        return NULL;
    }
    return object;
}

json_t *
render_event_data (const proto_msg_t *ev)
{
    if (ev->type != PROTO_EVENT || ev->kind <= EVENT_NONE
        || ev->kind >= EVENT_KIND_COUNT)
        return NULL;
    json_t *data = json_object ();
    if (!data)
        return NULL;
    bool ok = true;
    if (ev->kind == EVENT_JOB_COMPLETED)
        s_set (data, "status", json_string ("Succeeded"), &ok);
    s_set (data, "jobId", json_string (ev->job), &ok);

    switch (ev->kind) {
    case EVENT_JOB_STATUS:
        s_set (data, "status", json_string (job_status_name (ev->status)), &ok);
        s_set (data, "phase", s_str (ev->phase), &ok);
        s_set (data, "percent", s_num (ev->percent, 2), &ok);
        s_set (data, "attempt", json_integer (ev->attempt), &ok);
        if (ev->queue_position >= 0)
            s_set (data, "queuePosition", json_integer (ev->queue_position), &ok);
        break;
    case EVENT_STEP_STATUS:
        s_set (data, "step", json_string (step_name (ev->step)), &ok);
        s_set (data, "status", json_string (step_status_name (ev->step_status)),
               &ok);
        s_set (data, "attempt", json_integer (ev->attempt), &ok);
        break;
    case EVENT_STEP_PROGRESS:
        s_set (data, "step", json_string (step_name (ev->step)), &ok);
        s_set (data, "phase", s_str (ev->phase), &ok);
        s_set (data, "stepPercent", s_num (ev->step_percent, 2), &ok);
        s_set (data, "percent", s_num (ev->percent, 2), &ok);
        s_set (data, "message", s_str (ev->message), &ok);
        if (ev->eta_s >= 0)
            s_set (data, "etaSeconds", json_integer (ev->eta_s), &ok);
        break;
    case EVENT_WARNING:
        s_set (data, "code", s_str (ev->code), &ok);
        s_set (data, "message", s_str (ev->message), &ok);
        break;
    case EVENT_ERROR:
        s_set (data, "code", s_str (ev->code), &ok);
        s_set (data, "message", s_str (ev->message), &ok);
        s_set (data, "retryable", json_boolean (ev->retryable), &ok);
        break;
    case EVENT_JOB_COMPLETED:
        s_set (data, "artifacts", s_artifacts (ev), &ok);
        s_set (data, "output", s_output (ev), &ok);
        break;
    case EVENT_JOB_FAILED:
        s_set (data, "status", json_string (job_status_name (JOB_FAILED)), &ok);
        s_set (data, "step", json_string (step_name (ev->step)), &ok);
        s_set (data, "error", s_error_object (ev), &ok);
        break;
    case EVENT_JOB_CANCELLED:
        s_set (data, "status", json_string (job_status_name (JOB_CANCELED)), &ok);
        s_set (data, "step", json_string (step_name (ev->step)), &ok);
        break;
    default:
        ok = false;
        break;
    }
    /* a retried job's history holds the end of every attempt: the
       attempt says which end a replaying client is looking at */
    if ((ev->kind == EVENT_JOB_COMPLETED || ev->kind == EVENT_JOB_FAILED
         || ev->kind == EVENT_JOB_CANCELLED)
        && ev->attempt > 0)
        s_set (data, "attempt", json_integer (ev->attempt), &ok);
    s_set (data, "seq", json_integer ((json_int_t) ev->seq), &ok);
    s_set (data, "ts", json_integer (ev->ts_us), &ok);
    return s_finish (data, ok);
}

json_t *
render_snapshot_status (const proto_msg_t *job, int64_t now_us)
{
    if (job->type != PROTO_JOB)
        return NULL;
    json_t *data = json_object ();
    if (!data)
        return NULL;
    bool ok = true;
    s_set (data, "jobId", json_string (job->job), &ok);
    s_set (data, "status", json_string (job_status_name (job->status)), &ok);
    s_set (data, "phase", s_str (job->phase), &ok);
    s_set (data, "percent", s_num (job->percent, 2), &ok);
    s_set (data, "attempt", json_integer (job->attempt), &ok);
    if (job->queue_position >= 0)
        s_set (data, "queuePosition", json_integer (job->queue_position), &ok);
    s_set (data, "seq", json_integer ((json_int_t) job->seq), &ok);
    s_set (data, "ts", json_integer (job->ts_us > 0 ? job->ts_us : now_us), &ok);
    return s_finish (data, ok);
}

json_t *
render_job (const proto_msg_t *job)
{
    if (job->type != PROTO_JOB)
        return NULL;
    json_t *doc = json_object ();
    json_t *steps = json_array ();
    if (!doc || !steps) {
        json_decref (doc);
        json_decref (steps);
        return NULL;
    }
    bool ok = true;
    for (int s = 0; s < STEP_COUNT; s++) {
        json_t *item = json_pack ("{s:s, s:s}", "name", step_name ((step_t) s),
                                  "status", step_status_name (job->steps[s]));
        if (!item || json_array_append_new (steps, item) < 0)
            ok = false;
    }
    s_set (doc, "jobId", json_string (job->job), &ok);
    s_set (doc, "title", s_str (job->title), &ok);
    s_set (doc, "status", json_string (job_status_name (job->status)), &ok);
    s_set (doc, "phase", s_str (job->phase), &ok);
    s_set (doc, "percent", s_num (job->percent, 2), &ok);
    s_set (doc, "attempt", json_integer (job->attempt), &ok);
    s_set (doc, "step", json_string (step_name (job->step)), &ok);
    s_set (doc, "steps", steps, &ok);
    s_set (doc, "createdAt", s_time_or_null (job->created_us), &ok);
    s_set (doc, "startedAt", s_time_or_null (job->started_us), &ok);
    s_set (doc, "finishedAt", s_time_or_null (job->finished_us), &ok);
    s_set (doc, "queuePosition",
           job->queue_position >= 0 ? json_integer (job->queue_position)
                                    : json_null (),
           &ok);
    s_set (doc, "error", job->code[0] ? s_error_object (job) : json_null (), &ok);
    s_set (doc, "artifacts", s_artifacts (job), &ok);
    s_set (doc, "output", job->status == JOB_DONE ? s_output (job) : json_null (),
           &ok);
    s_set (doc, "lastEventId", json_integer ((json_int_t) job->seq), &ok);
    s_set (doc, "links", s_links (job->job), &ok);
    return s_finish (doc, ok);
}

json_t *
render_job_summary (const proto_msg_t *job)
{
    if (job->type != PROTO_JOB)
        return NULL;
    json_t *doc = json_object ();
    if (!doc)
        return NULL;
    bool ok = true;
    s_set (doc, "jobId", json_string (job->job), &ok);
    s_set (doc, "title", s_str (job->title), &ok);
    s_set (doc, "status", json_string (job_status_name (job->status)), &ok);
    s_set (doc, "phase", s_str (job->phase), &ok);
    s_set (doc, "percent", s_num (job->percent, 2), &ok);
    s_set (doc, "attempt", json_integer (job->attempt), &ok);
    s_set (doc, "createdAt", s_time_or_null (job->created_us), &ok);
    s_set (doc, "finishedAt", s_time_or_null (job->finished_us), &ok);
    s_set (doc, "links", s_links (job->job), &ok);
    return s_finish (doc, ok);
}

json_t *
render_job_page (const proto_msg_t *jobs, size_t count, const char *next_cursor)
{
    json_t *doc = json_object ();
    json_t *items = json_array ();
    if (!doc || !items) {
        json_decref (doc);
        json_decref (items);
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < count; i++) {
        json_t *item = render_job_summary (&jobs[i]);
        if (!item || json_array_append_new (items, item) < 0)
            ok = false;
    }
    s_set (doc, "items", items, &ok);
    s_set (doc, "nextCursor",
           next_cursor && next_cursor[0] ? json_string (next_cursor) : json_null (), &ok);
    return s_finish (doc, ok);
}

json_t *
render_accepted (const proto_msg_t *job, const char *cid)
{
    if (job->type != PROTO_JOB)
        return NULL;
    json_t *doc = json_object ();
    if (!doc)
        return NULL;
    bool ok = true;
    s_set (doc, "jobId", json_string (job->job), &ok);
    s_set (doc, "status", json_string (job_status_name (job->status)), &ok);
    s_set (doc, "stage",
           job->status == JOB_QUEUED ? json_string ("queued") : s_str (job->phase),
           &ok);
    s_set (doc, "correlationId", json_string (cid), &ok);
    s_set (doc, "links", s_links (job->job), &ok);
    return s_finish (doc, ok);
}

typedef struct {
    int status;
    const char *slug;
    const char *title;
} problem_kind_t;

static const problem_kind_t s_problems[] = {
    { 400, "invalid-request", "Invalid request" },
    { 404, "not-found", "Not found" },
    { 405, "method-not-allowed", "Method not allowed" },
    { 409, "conflict", "Conflict" },
    { 413, "payload-too-large", "Request body too large" },
    { 429, "too-many-requests", "Too many requests" },
    { 500, "internal-error", "Internal server error" },
    { 502, "bad-gateway", "Bad gateway" },
    { 503, "unavailable", "Service unavailable" },
};

json_t *
render_problem (int status, const char *detail, const char *cid,
                const request_errors_t *errors)
{
    const char *type = "about:blank";
    const char *title = "Error";
    char type_buf[64];
    for (size_t i = 0; i < sizeof s_problems / sizeof *s_problems; i++) {
        if (s_problems[i].status == status) {
            snprintf (type_buf, sizeof type_buf, "/problems/%s", s_problems[i].slug);
            type = type_buf;
            title = s_problems[i].title;
            break;
        }
    }
    json_t *doc = json_object ();
    if (!doc)
        return NULL;
    bool ok = true;
    s_set (doc, "type", json_string (type), &ok);
    s_set (doc, "title", json_string (title), &ok);
    s_set (doc, "status", json_integer (status), &ok);
    s_set (doc, "detail", s_str (detail ? detail : title), &ok);
    s_set (doc, "correlationId", json_string (cid), &ok);
    if (errors && errors->count > 0) {
        json_t *list = json_array ();
        for (size_t i = 0; list && i < errors->count; i++) {
            json_t *item = json_object ();
            if (!item) {
                ok = false;
                break;
            }
            s_set (item, "field", s_str (errors->items[i].field), &ok);
            s_set (item, "message", s_str (errors->items[i].message), &ok);
            if (json_array_append_new (list, item) < 0)
                ok = false;
        }
        s_set (doc, "errors", list, &ok);
    }
    return s_finish (doc, ok);
}

char *
render_dump (const json_t *json, size_t *len)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_REAL_PRECISION (15));
    if (text && len)
        *len = strlen (text);
    return text;
}
