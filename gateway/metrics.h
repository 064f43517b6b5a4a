/*  metrics — the gateway's counters in the Prometheus text exposition
    format 0.0.4. Live histograms are lock-free (atomics) so that the HTTP
    and bus threads record into them without a lock; /metrics copies
    everything into a metrics_snapshot_t, which metrics_render turns into
    text without any I/O, so the format can be unit-tested directly. */
#ifndef AURA_GATEWAY_METRICS_H
#define AURA_GATEWAY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phase.h"

/*  Most finite upper bounds a histogram has (the +Inf bucket is extra). */
#define METRICS_MAX_BOUNDS 16

/*  Upper bounds, in microseconds, of the request-duration buckets
    (0.5 ms … 2.5 s) and of the event-lag buckets (0.5 ms … 5 s). */
extern const int64_t metrics_request_bounds_us[];
extern const size_t metrics_request_bound_count;
extern const int64_t metrics_lag_bounds_us[];
extern const size_t metrics_lag_bound_count;

/*  A histogram that several threads observe into. bounds_us is static and
    ascending; buckets[i] counts observations at or below bounds_us[i] and
    above the bound before (not cumulative), buckets[bound_count] those
    above every bound. */
typedef struct {
    const int64_t *bounds_us;
    size_t bound_count;
    atomic_uint_fast64_t buckets[METRICS_MAX_BOUNDS + 1];
    atomic_uint_fast64_t sum_us;
} metrics_histogram_t;

/*  A histogram's copy, as rendered: counts per bucket (not cumulative, as
    in metrics_histogram_t) and the sum of the observations in seconds. */
typedef struct {
    const int64_t *bounds_us;
    size_t bound_count;
    uint64_t buckets[METRICS_MAX_BOUNDS + 1];
    double sum_seconds;
} metrics_histogram_snapshot_t;

/*  Sets up an empty histogram over bound_count (at most
    METRICS_MAX_BOUNDS) ascending bounds, which must outlive it. */
void metrics_histogram_init (metrics_histogram_t *self, const int64_t *bounds_us,
                             size_t bound_count);

/*  Records one observation; a negative one counts as 0 (clocks of two
    hosts may disagree). Thread-safe, lock-free. */
void metrics_histogram_observe (metrics_histogram_t *self, int64_t value_us);

/*  Copies the histogram. Concurrent observations may be half seen (a
    bucket without its sum), never torn. */
void metrics_histogram_read (metrics_histogram_t *self,
                             metrics_histogram_snapshot_t *snapshot);

/*  One aura_gateway_http_requests_total sample. */
typedef struct {
    const char *route;  /* label values, escaped when rendered */
    const char *method;
    unsigned code;
    uint64_t count;
} metrics_request_count_t;

/*  One aura_gateway_requests_rejected_total sample. */
typedef struct {
    const char *reason; /* a fixed label value: "rate_limited", … */
    uint64_t count;
} metrics_reason_count_t;

/*  Everything /metrics shows. The arrays are the caller's. */
typedef struct {
    const metrics_request_count_t *requests;
    size_t request_count;
    metrics_histogram_snapshot_t request_duration;

    uint64_t streams_open;
    uint64_t streams_opened;
    uint64_t streams_cut;
    uint64_t events_sent;
    uint64_t bytes_sent;
    uint64_t reconnects;
    metrics_histogram_snapshot_t event_lag;
    metrics_histogram_snapshot_t send_lag;
    const metrics_reason_count_t *rejected;
    size_t rejected_count;

    uint64_t broker_events_received;
    uint64_t broker_gaps;
    uint64_t broker_gaps_filled;
    uint64_t broker_answers_malformed;
    uint64_t broker_timeouts;

    uint64_t jobs_cached;
    bool broker_up;         /* the broker answered the /metrics ping */
    uint64_t jobs_by_status[JOB_STATUS_COUNT]; /* the broker's, when up */
} metrics_snapshot_t;

/*  Renders snapshot as exposition text into a malloc'd, NUL-terminated
    buffer (*text, *len without the NUL) that the caller frees. Returns 0
    or -ENOMEM (then *text is NULL). */
int metrics_render (const metrics_snapshot_t *snapshot, char **text, size_t *len);

/*  Writes value escaped as a label value (backslash, double quote and
    newline as \\, \" and \n) into out[0..cap), NUL-terminated, cut short
    when it does not fit. Returns the length the whole escaped value
    needs, as snprintf does. */
size_t metrics_escape_label (const char *value, char *out, size_t cap);

#endif
