/*  follow — the reconnect loop around one job's event stream. Bytes from
    libcurl go through the SSE reader; each event is shown, and a terminal
    one stops the transfer at once with the job's outcome. */
#include "follow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "command.h"
#include "sse_reader.h"

#define S_DEFAULT_RETRY_MS 1000L
/*  Bounds on a server's retry: so that neither a 0 nor an hour is taken
    literally. */
#define S_MIN_RETRY_MS 100L
#define S_MAX_RETRY_MS 60000L

typedef struct {
    sse_reader_t *reader;
    display_t *display;
    /* A job that was retried has the terminal events of its earlier
       attempts in its history: only one from final_from on ends it. */
    unsigned long long final_from;
    int outcome;    /* an exit status once the terminal event came, else -1 */
    bool read_body; /* bytes of an event stream arrived on this connection */
    bool not_a_stream; /* a 2xx answer that is not text/event-stream */
    int parse_error;   /* what the reader returned, when it failed */
} s_follow_t;

static int
s_on_event (const sse_event_t *event, void *arg)
{
    s_follow_t *self = arg;
    json_t *data = json_loadb (event->data, event->data_len, 0, NULL);
    display_event (self->display, event->id, event->type, data, event->data);
    json_decref (data);
    int outcome =
        strcmp (event->type, "job-completed") == 0   ? AURA_EXIT_OK
        : strcmp (event->type, "job-failed") == 0    ? AURA_EXIT_JOB_FAILED
        : strcmp (event->type, "job-cancelled") == 0 ? AURA_EXIT_CANCELLED
                                                     : -1;
    if (outcome < 0)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long id = strtoull (event->id, &end, 10);
    bool numeric = errno == 0 && end != event->id && *end == '\0';
    if (numeric && id < self->final_from)
        return 0; /* an earlier attempt's end: the job went on */
    self->outcome = outcome;
    return 1;
}

static int
s_sink (const char *data, size_t len, const http_response_t *response,
        void *arg)
{
    s_follow_t *self = arg;
    if (strncmp (response->content_type, "text/event-stream", 17) != 0) {
        self->not_a_stream = true;
        return 1;
    }
    self->read_body = true;
    int rc = sse_reader_feed (self->reader, data, len, s_on_event, self);
    if (rc < 0)
        self->parse_error = rc;
    return rc != 0;
}

/*  The job as it is now: its latest event id goes to *last_event_id.
    Returns an exit status (the reason printed). */
static int
s_latest_event_id (http_client_t *http, const char *job,
                   unsigned long long *last_event_id)
{
    char path[96];
    snprintf (path, sizeof path, "/api/jobs/%s", job);
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code = api_call (http, "GET", path, NULL, 200, &doc, &response);
    if (code == AURA_EXIT_OK) {
        json_t *latest = json_object_get (doc, "lastEventId");
        *last_event_id =
            json_is_integer (latest) && json_integer_value (latest) > 0
                ? (unsigned long long)json_integer_value (latest)
                : 0;
    }
    json_decref (doc);
    http_response_reset (&response);
    return code;
}

/*  After a 204 (nothing left to send): the job's own status says how it
    ended. */
static int
s_outcome_from_job (http_client_t *http, const char *job, display_t *display)
{
    char path[96];
    snprintf (path, sizeof path, "/api/jobs/%s", job);
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code = api_call (http, "GET", path, NULL, 200, &doc, &response);
    if (code == AURA_EXIT_OK) {
        const char *status =
            json_string_value (json_object_get (doc, "status"));
        status = status ? status : "";
        if (strcmp (status, "Done") == 0)
            code = AURA_EXIT_OK;
        else if (strcmp (status, "Failed") == 0)
            code = AURA_EXIT_JOB_FAILED;
        else if (strcmp (status, "Canceled") == 0)
            code = AURA_EXIT_CANCELLED;
        else {
            char clean[32];
            display_clean (status, clean, sizeof clean);
            display_notice (display,
                            "the gateway ended the stream of %s, which is %s",
                            job, clean);
            code = AURA_EXIT_UNAVAILABLE;
        }
    }
    json_decref (doc);
    http_response_reset (&response);
    return code;
}

int
follow_job (http_client_t *http, const char *job, display_t *display)
{
    s_follow_t self = { .display = display, .outcome = -1 };
    /* one look at the job first: an unknown job or a refused token ends
       here, and its latest event id tells a terminal event of an earlier
       attempt from the one that ends it */
    int code = s_latest_event_id (http, job, &self.final_from);
    if (code != AURA_EXIT_OK)
        return code;
    self.reader = sse_reader_new (0);
    if (!self.reader) {
        fprintf (stderr, "aura: out of memory\n");
        return AURA_EXIT_UNAVAILABLE;
    }
    char path[96];
    snprintf (path, sizeof path, "/api/jobs/%s/events", job);
    http_response_t response = { .retry_after_s = -1 };
    int attempts = 0;

    for (;;) {
        /* from the first event, then after the last one seen */
        const char *last_id = sse_reader_last_event_id (self.reader);
        char last_id_header[96];
        snprintf (last_id_header, sizeof last_id_header, "Last-Event-ID: %.64s",
                  last_id[0] ? last_id : "0");
        const char *const headers[] = { "Accept: text/event-stream",
                                        "Cache-Control: no-cache",
                                        last_id_header, NULL };
        sse_reader_reset (self.reader);
        self.read_body = false;
        self.not_a_stream = false;
        self.parse_error = 0;
        int rc = http_client_stream (http, path, headers, FOLLOW_IDLE_S, s_sink,
                                     &self, &response);
        if (self.outcome >= 0) {
            code = self.outcome;
            break;
        }
        if (rc == -EINTR) {
            code = AURA_EXIT_INTERRUPTED;
            break;
        }
        long status = response.status;
        char reason[320];
        if (self.not_a_stream) {
            display_notice (
                display,
                "%s answered the events of %s with %s, not an event "
                "stream",
                http_client_url (http), job,
                response.content_type[0] ? response.content_type : "no type");
            code = AURA_EXIT_UNAVAILABLE;
            break;
        }
        if (status == 204) {
            display_finish (display);
            code = s_outcome_from_job (http, job, display);
            break;
        }
        if (status >= 300 && status != 429 && status < 500) {
            display_finish (display);
            code = api_report (http, 0, &response);
            break;
        }
        if (self.parse_error)
            snprintf (reason, sizeof reason, "an event too large to read");
        else if (rc < 0 && rc != -ECANCELED)
            snprintf (reason, sizeof reason, "connection lost (%s)",
                      response.error);
        else if (status >= 200 && status < 300)
            snprintf (reason, sizeof reason, "the gateway closed the stream");
        else
            snprintf (reason, sizeof reason, "the gateway answered %ld",
                      status);

        if (self.read_body)
            attempts = 0;
        if (++attempts > FOLLOW_MAX_ATTEMPTS) {
            display_notice (display,
                            "lost the events of %s (%s); gave up after %d "
                            "attempts",
                            job, reason, FOLLOW_MAX_ATTEMPTS);
            code = AURA_EXIT_UNAVAILABLE;
            break;
        }
        /* the server's retry: sets the first wait; each next one doubles */
        long base_ms = sse_reader_retry_ms (self.reader);
        if (base_ms < 0)
            base_ms = S_DEFAULT_RETRY_MS;
        base_ms = base_ms < S_MIN_RETRY_MS   ? S_MIN_RETRY_MS
                  : base_ms > S_MAX_RETRY_MS ? S_MAX_RETRY_MS
                                             : base_ms;
        long wait_ms = base_ms << (attempts - 1);
        if (response.retry_after_s >= 0
            && response.retry_after_s * 1000 > wait_ms)
            wait_ms = response.retry_after_s * 1000;
        display_notice (display, "%s; reconnecting in %g s (attempt %d of %d)",
                        reason, (double)wait_ms / 1000.0, attempts,
                        FOLLOW_MAX_ATTEMPTS);
        if (!http_client_wait (http, wait_ms)) {
            code = AURA_EXIT_INTERRUPTED;
            break;
        }
    }
    if (code == AURA_EXIT_INTERRUPTED) {
        display_finish (display);
        fprintf (stderr,
                 "aura: stopped following %s; the job goes on (aura cancel %s "
                 "stops it)\n",
                 job, job);
    }
    display_finish (display);
    http_response_reset (&response);
    sse_reader_destroy (&self.reader);
    return code;
}
