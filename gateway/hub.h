/*  hub — the gateway's cache of job events and the SSE streams that follow
    them. Each event is serialized once into a refcounted hub_event_t that
    the job's ring and every stream queue share. A job's ring never holds
    a hole and a stream never skips an event: live events that reveal
    lost messages wait until the broker's copies fill the gap, and a
    stream the ring cannot serve catches up from broker pages first. Locking is per job (ring
    and subscriber list) and per stream (queue); the hub-wide lock only
    guards the job table. The hub knows nothing of HTTP: a stream is told
    to sleep and woken through callbacks, which the server maps onto
    MHD_suspend_connection / MHD_resume_connection. */
#ifndef AURA_GATEWAY_HUB_H
#define AURA_GATEWAY_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"

typedef struct hub_t hub_t;
typedef struct hub_event_t hub_event_t;
typedef struct hub_stream_t hub_stream_t;

typedef struct {
    size_t ring_events;       /* events kept per job for replays */
    size_t max_jobs;          /* jobs kept; unwatched ones beyond are dropped */
    int64_t finished_ttl_us;  /* a finished, unwatched job is dropped after */
    int64_t idle_ttl_us;      /* any unwatched job without events is dropped after */
    size_t stream_max_events; /* a stream further behind than this is cut */
    size_t stream_max_bytes;  /* … or holding more than this many bytes,
                                 once its client has taken nothing for
                                 stall_us, or at 4 times either limit */
    int64_t stall_us;
    int64_t keepalive_us;     /* idle time after which a stream gets a comment */
} hub_limits_t;

/*  Fills limits with the defaults: 1024 events per job, 4096 jobs,
    finished jobs kept 5 min, idle ones 30 min, streams cut past 4096
    events or 1 MiB when their client has taken nothing for 1 s,
    keepalive every 10 s. */
void hub_limits_default (hub_limits_t *limits);

/*  Creates an empty hub. Returns NULL when memory runs out. */
hub_t *hub_new (const hub_limits_t *limits);

/*  Destroys the hub and every cached event. Every stream must have been
    destroyed first. Sets *self_p to NULL; does nothing when it is NULL. */
void hub_destroy (hub_t **self_p);

/*  Creates an event holding a copy of text[0..len) (one complete SSE
    frame) with one reference owned by the caller. terminal marks the
    job's last event. Returns NULL when memory runs out. */
hub_event_t *hub_event_new (uint64_t seq, bool terminal, const char *text,
                            size_t len);

/*  Drops the caller's reference; the event is freed with the last one.
    Sets *self_p to NULL; does nothing when it is NULL. Thread-safe. */
void hub_event_unref (hub_event_t **self_p);

/*  The event's seq, and whether it is its job's last. */
uint64_t hub_event_seq (const hub_event_t *self);
bool hub_event_terminal (const hub_event_t *self);

/*  Records event (the hub takes its own references; the caller keeps its
    own) as the next event of job and queues it to the job's streams,
    waking those that sleep. Events must come from one thread (the bus).
    A seq that skips ahead of the job's latest is recorded all the same:
    the ring restarts at it and streams that would miss events are cut
    (they reconnect and replay). Returns 0; -EALREADY for a seq at or
    below the job's latest (a duplicate, ignored); -ENOMEM; -ESHUTDOWN
    after hub_close. */
int hub_publish (hub_t *self, const char *job, hub_event_t *event,
                 int64_t now_us);

/*  Like hub_publish, for live events that may reveal lost messages. When
    event's seq skips ahead of the job's latest (a gap), the event is held
    back, the job starts filling and -EAGAIN asks the caller to fetch the
    job's events after *fill_after from the broker and give them to
    hub_fill; while a gap is open, later events are held too (-EINPROGRESS).
    No event is queued to a stream before the ones it follows. A job
    holding more than stream_max_events gives up on its gap (see
    hub_gap_abandon) and the event is recorded. A job the hub has not seen
    before has no gap: its first event is recorded whatever its seq.
    Returns 0, -EAGAIN, -EINPROGRESS, or hub_publish's errors. Same thread
    as hub_publish. */
int hub_offer (hub_t *self, const char *job, hub_event_t *event,
               int64_t now_us, uint64_t *fill_after);

/*  Records the events fetched from the broker for job's gap (ascending
    seqs; those already seen are skipped, and the first that does not
    follow ends the use of the answer), then the held events that now
    follow. The caller keeps its references. Returns 0 when no gap remains
    open (nor was one), -EAGAIN with *fill_after set when one still is:
    fetch again, or give up with hub_gap_abandon; -ESHUTDOWN. */
int hub_fill (hub_t *self, const char *job, hub_event_t *const *events,
              size_t count, int64_t now_us, uint64_t *fill_after);

/*  Gives up on job's open gap (the broker could not fill it): the held
    events are recorded as with hub_publish. Does nothing without a gap. */
void hub_gap_abandon (hub_t *self, const char *job, int64_t now_us);

/*  Periodic work, from the same thread as hub_publish: wakes streams idle
    for keepalive_us so they send a keepalive comment, and forgets
    unwatched jobs past their time or beyond max_jobs. */
void hub_tick (hub_t *self, int64_t now_us);

/*  Shutdown: every stream ends once its queue is sent (sleeping ones are
    woken) and later attaches fail with -ESHUTDOWN. */
void hub_close (hub_t *self);

/*  Number of jobs cached. */
size_t hub_job_count (hub_t *self);

/*  What the hub counted, for /metrics. */
typedef struct {
    size_t jobs_cached;     /* as hub_job_count */
    uint64_t frames_queued; /* frames queued to streams, by every hub of
                               the process: a stream has no hub when it
                               queues its first frames */
    uint64_t bytes_sent;    /* bytes read out of streams, process-wide */
    metrics_histogram_snapshot_t send_lag; /* event made → last byte read,
                                              per stream, process-wide */
} hub_stats_t;

/*  Copies the counters without taking the hub's locks. Thread-safe. */
void hub_stats (hub_t *self, hub_stats_t *stats);

/*  Called under the stream's lock when the stream has nothing to send;
    must arrange for the reader to stop being called until woken. */
typedef void (hub_sleep_fn) (void *arg);
/*  Called when a sleeping stream has something to send (an event, a
    keepalive, its end), after the hub's locks are released (under them
    only when memory runs out). Called once per sleep. */
typedef void (hub_wake_fn) (void *arg);

/*  Creates a detached stream that first sends prelude (copied, may be
    NULL). cid is kept for log lines. Returns NULL when memory runs out. */
hub_stream_t *hub_stream_new (const char *cid, const char *prelude,
                              hub_sleep_fn *sleep_fn, hub_wake_fn *wake_fn,
                              void *arg, int64_t now_us);

/*  Detaches the stream from its job and frees it. Call only once the
    reader can no longer run and the stream is not asleep. Sets *self_p to
    NULL; does nothing when it is NULL. */
void hub_stream_destroy (hub_stream_t **self_p);

/*  Attaches stream to job so that it sends every event with a seq above
    after_seq: the ones still in the job's ring now, the rest as they come.
    Returns 0; -ERANGE when the hub cannot prove it has every such event
    (job unknown or never seen on the bus, or its ring starts after
    after_seq + 1): the caller fetches them from the broker (see
    hub_stream_follow); -ENODATA when the job has finished and nothing
    above after_seq is left (HTTP 204); -ESHUTDOWN after hub_close;
    -ENOMEM. On error the stream is unchanged. */
int hub_stream_attach_after (hub_t *self, hub_stream_t *stream,
                             const char *job, uint64_t after_seq);

/*  A stream that catches up from the broker before it goes live works
    detached: hub_stream_begin sets its position (the seq of the last
    event it is deemed to have, after an optional first frame such as a
    snapshot), hub_stream_queue adds pages of the broker's events, and
    hub_stream_follow attaches it at its position once the hub can carry
    on from there. Only the stream's own connection uses it meanwhile. */

/*  Queues first (may be NULL; the stream takes its own reference) and
    sets the position of a detached stream to after_seq; with final the
    stream ends after first. Returns 0, -EBUSY for an attached stream, or
    -ENOMEM. */
int hub_stream_begin (hub_stream_t *self, hub_event_t *first,
                      uint64_t after_seq, bool final);

/*  Queues events fetched from the broker (ascending seqs, the caller
    keeps its references) to a detached stream: those at or below its
    position are skipped, the others must continue it one by one. A
    terminal event ends the stream only when it is the last of the last
    page (last_page: the broker had nothing after this page): an earlier
    one closed an attempt of a job that was retried. The stream's caps do
    not apply (one page at a time is queued). Returns 0; -EPROTO at the
    first event that would leave a hole (the ones before it stay queued);
    -EBUSY for an attached stream; -ENOMEM. */
int hub_stream_queue (hub_stream_t *self, hub_event_t *const *events,
                      size_t count, bool last_page);

/*  The seq of the last event the stream has queued (its position). */
uint64_t hub_stream_position (hub_stream_t *self);

/*  True when the stream has nothing to send and has not ended: for a
    detached stream, time to fetch more or to follow. */
bool hub_stream_idle (hub_stream_t *self);

/*  True once the stream ends after what it holds (a terminal event, a
    final first frame, or a finished job). */
bool hub_stream_ended (hub_stream_t *self);

/*  Attaches a detached stream to job at its position, as
    hub_stream_attach_after does. broker_latest is the highest seq the
    broker had when last asked: with the position at or above it, the
    stream also attaches when the hub has seen nothing above the position
    (what comes next arrives live), and a job the hub does not know is
    created expecting broker_latest + 1 next, so that a later hole is a
    gap the bus fills (see hub_offer). Returns 0; -ERANGE (fetch more from
    the broker); -ENODATA when the job has finished at or below the
    position: the stream then ends after what it holds; -EBUSY when
    attached; -ESHUTDOWN; -ENOMEM. */
int hub_stream_follow (hub_t *self, hub_stream_t *stream, const char *job,
                       uint64_t broker_latest);

/*  Attaches a new stream to every job's events (GET /api/events): each
    event the hub records from now on, for any job, is queued to it,
    without its `id:` line (seqs are per job; the data carries jobId and
    seq). Nothing is replayed. Returns 0, -EBUSY for a stream already
    attached, or -ESHUTDOWN after hub_close. */
int hub_stream_attach_all (hub_t *self, hub_stream_t *stream);

/*  Queues first (a snapshot frame; may be NULL; the stream takes its own
    reference) and then attaches stream to job for every event above
    after_seq, from the ring and live. With final set the stream ends after
    first and is not attached (a finished job). Returns 0, -ESHUTDOWN after
    hub_close, or -ENOMEM. */
int hub_stream_attach (hub_t *self, hub_stream_t *stream, const char *job,
                       hub_event_t *first, uint64_t after_seq, bool final);

/*  Copies up to max pending bytes into buf. Returns the count (> 0); 0
    when nothing is pending, after calling the sleep callback (the wake
    callback follows when there is something, a keepalive due included);
    -ENODATA when the stream has sent everything it ever will (its terminal
    event; at shutdown, what was queued and then SSE_SHUTDOWN_FRAME); -ECONNABORTED when it must be cut
    because it fell too far behind. */
ssize_t hub_stream_read (hub_stream_t *self, char *buf, size_t max,
                         int64_t now_us);

#endif
