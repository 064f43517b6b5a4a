/*  metrics — lock-free histograms and the text rendering of /metrics.
    Every family gets its # HELP and # TYPE lines, even without samples,
    so that scrapers see the whole set from the first scrape. */
#include "metrics.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define METRICS_PREFIX "aura_gateway_"

const int64_t metrics_request_bounds_us[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};
const size_t metrics_request_bound_count
    = sizeof metrics_request_bounds_us / sizeof *metrics_request_bounds_us;

const int64_t metrics_lag_bounds_us[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000,
};
const size_t metrics_lag_bound_count
    = sizeof metrics_lag_bounds_us / sizeof *metrics_lag_bounds_us;

void
metrics_histogram_init (metrics_histogram_t *self, const int64_t *bounds_us,
                        size_t bound_count)
{
    assert (self);
    assert (bound_count <= METRICS_MAX_BOUNDS);
    self->bounds_us = bounds_us;
    self->bound_count = bound_count;
    for (size_t i = 0; i <= METRICS_MAX_BOUNDS; i++)
        atomic_init (&self->buckets[i], 0);
    atomic_init (&self->sum_us, 0);
}

void
metrics_histogram_observe (metrics_histogram_t *self, int64_t value_us)
{
    if (value_us < 0)
        value_us = 0;
    size_t i = 0;
    while (i < self->bound_count && value_us > self->bounds_us[i])
        i++;
    atomic_fetch_add_explicit (&self->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->sum_us, (uint_fast64_t) value_us,
                               memory_order_relaxed);
}

void
metrics_histogram_read (metrics_histogram_t *self, metrics_histogram_snapshot_t *snapshot)
{
    snapshot->bounds_us = self->bounds_us;
    snapshot->bound_count = self->bound_count;
    for (size_t i = 0; i <= METRICS_MAX_BOUNDS; i++)
        snapshot->buckets[i]
            = i <= self->bound_count
                  ? atomic_load_explicit (&self->buckets[i], memory_order_relaxed)
                  : 0;
    snapshot->sum_seconds
        = (double) atomic_load_explicit (&self->sum_us, memory_order_relaxed) / 1e6;
}

size_t
metrics_escape_label (const char *value, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = value; *p; p++) {
        char pair[2] = { *p, 0 };
        size_t width = 1;
        if (*p == '\\' || *p == '"' || *p == '\n') {
            pair[0] = '\\';
            pair[1] = *p == '\n' ? 'n' : *p;
            width = 2;
        }
        for (size_t k = 0; k < width; k++, n++)
            if (cap > 0 && n < cap - 1)
                out[n] = pair[k];
    }
    if (cap > 0)
        out[n < cap ? n : cap - 1] = '\0';
    return n;
}

static void
s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP " METRICS_PREFIX "%s %s\n# TYPE " METRICS_PREFIX "%s %s\n", name,
             help, name, type);
}

static void
s_scalar (FILE *out, const char *name, const char *type, const char *help,
          uint64_t value)
{
    s_family (out, name, type, help);
    fprintf (out, METRICS_PREFIX "%s %" PRIu64 "\n", name, value);
}

/*  Buckets are written cumulative, the last one le="+Inf" equal to
    _count. */
static void
s_histogram (FILE *out, const char *name, const char *help,
             const metrics_histogram_snapshot_t *h)
{
    s_family (out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h->bound_count; i++) {
        cumulative += h->buckets[i];
        fprintf (out, METRICS_PREFIX "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                 (double) h->bounds_us[i] / 1e6, cumulative);
    }
    cumulative += h->buckets[h->bound_count];
    fprintf (out, METRICS_PREFIX "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    fprintf (out, METRICS_PREFIX "%s_sum %.6f\n", name, h->sum_seconds);
    fprintf (out, METRICS_PREFIX "%s_count %" PRIu64 "\n", name, cumulative);
}

int
metrics_render (const metrics_snapshot_t *snapshot, char **text, size_t *len)
{
    assert (snapshot && text && len);
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buf, &size);
    if (!out)
        return -ENOMEM;

    s_family (out, "http_requests_total", "counter",
              "HTTP requests answered, by route template, method and status code.");
    for (size_t i = 0; i < snapshot->request_count; i++) {
        const metrics_request_count_t *r = &snapshot->requests[i];
        char route[256], method[64];
        metrics_escape_label (r->route, route, sizeof route);
        metrics_escape_label (r->method, method, sizeof method);
        fprintf (out,
                 METRICS_PREFIX "http_requests_total{route=\"%s\",method=\"%s\",code=\"%u\"} "
                                "%" PRIu64 "\n",
                 route, method, r->code, r->count);
    }
    s_histogram (out, "http_request_duration_seconds",
                 "Time from a request's headers to its response being queued; SSE streams "
                 "excluded.",
                 &snapshot->request_duration);

    s_scalar (out, "sse_streams_open", "gauge", "SSE streams open now.",
              snapshot->streams_open);
    s_scalar (out, "sse_streams_opened_total", "counter", "SSE streams opened.",
              snapshot->streams_opened);
    s_scalar (out, "sse_streams_cut_total", "counter",
              "SSE streams disconnected because their client fell too far behind.",
              snapshot->streams_cut);
    s_scalar (out, "sse_events_sent_total", "counter", "Event frames queued to SSE streams.",
              snapshot->events_sent);
    s_scalar (out, "sse_bytes_sent_total", "counter",
              "Bytes of SSE streams handed to their connections.", snapshot->bytes_sent);
    s_scalar (out, "sse_reconnects_total", "counter",
              "SSE streams opened with Last-Event-ID (a client resuming).",
              snapshot->reconnects);
    s_histogram (out, "sse_event_lag_seconds",
                 "Age of a live event (now minus its ts) when the gateway receives it from "
                 "the broker.",
                 &snapshot->event_lag);
    s_histogram (out, "sse_send_lag_seconds",
                 "Time from the gateway holding an event to its last byte being handed to "
                 "a stream's connection, per stream.",
                 &snapshot->send_lag);
    s_family (out, "requests_rejected_total", "counter",
              "Requests refused before any work: rate limits, stream caps, "
              "authentication, body size.");
    for (size_t i = 0; i < snapshot->rejected_count; i++)
        fprintf (out, METRICS_PREFIX "requests_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
                 snapshot->rejected[i].reason, snapshot->rejected[i].count);

    s_scalar (out, "broker_events_received_total", "counter",
              "Job events received from the broker's event bus.",
              snapshot->broker_events_received);
    s_scalar (out, "broker_gaps_total", "counter",
              "Lost events noticed on the event bus.", snapshot->broker_gaps);
    s_scalar (out, "broker_gaps_filled_total", "counter",
              "Gaps in the event bus filled from the broker.", snapshot->broker_gaps_filled);
    s_scalar (out, "broker_answers_malformed_total", "counter",
              "Broker answers whose frames did not add up.",
              snapshot->broker_answers_malformed);
    s_scalar (out, "broker_timeouts_total", "counter",
              "Broker requests that got no answer in time.", snapshot->broker_timeouts);

    s_scalar (out, "jobs_cached", "gauge", "Jobs whose events the gateway caches.",
              snapshot->jobs_cached);
    s_scalar (out, "broker_up", "gauge",
              "1 when the broker answered this scrape's ping, else 0.",
              snapshot->broker_up ? 1 : 0);
    if (snapshot->broker_up) {
        s_family (out, "jobs", "gauge", "Jobs the broker holds, by status.");
        for (int i = 0; i < JOB_STATUS_COUNT; i++)
            fprintf (out, METRICS_PREFIX "jobs{status=\"%s\"} %" PRIu64 "\n",
                     job_status_name ((job_status_t) i), snapshot->jobs_by_status[i]);
    }

    int failed = ferror (out);
    if (fclose (out) != 0 || failed) {
        free (buf);
        return -ENOMEM;
    }
    *text = buf;
    *len = size;
    return 0;
}
