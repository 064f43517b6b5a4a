/*  hub — the gateway's cache of job events and the SSE streams that follow
    them. Each event is serialized once into a refcounted hub_event_t that
    the job's ring and every stream queue share. Locking is per job (ring
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

typedef struct hub_t hub_t;
typedef struct hub_event_t hub_event_t;
typedef struct hub_stream_t hub_stream_t;

typedef struct {
    size_t ring_events;       /* events kept per job for replays */
    size_t max_jobs;          /* jobs kept; unwatched ones beyond are dropped */
    int64_t finished_ttl_us;  /* a finished, unwatched job is dropped after */
    int64_t idle_ttl_us;      /* any unwatched job without events is dropped after */
    size_t stream_max_events; /* a stream further behind than this is cut */
    size_t stream_max_bytes;  /* … or holding more than this many bytes */
    int64_t keepalive_us;     /* idle time after which a stream gets a comment */
} hub_limits_t;

/*  Fills limits with the defaults: 1024 events per job, 4096 jobs,
    finished jobs kept 5 min, idle ones 30 min, streams cut past 4096
    events or 1 MiB, keepalive every 10 s. */
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

/*  Records event (the hub takes its own references; the caller keeps its
    own) as the next event of job and queues it to the job's streams,
    waking those that sleep. Events must come from one thread (the bus).
    Returns 0; -EALREADY for a seq at or below the job's latest (a
    duplicate, ignored); -ENOMEM; -ESHUTDOWN after hub_close. */
int hub_publish (hub_t *self, const char *job, hub_event_t *event,
                 int64_t now_us);

/*  Periodic work, from the same thread as hub_publish: wakes streams idle
    for keepalive_us so they send a keepalive comment, and forgets
    unwatched jobs past their time or beyond max_jobs. */
void hub_tick (hub_t *self, int64_t now_us);

/*  Shutdown: every stream ends once its queue is sent (sleeping ones are
    woken) and later attaches fail with -ESHUTDOWN. */
void hub_close (hub_t *self);

/*  Number of jobs cached. */
size_t hub_job_count (hub_t *self);

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
    after_seq + 1): the caller falls back to a snapshot; -ENODATA when the job has finished and nothing above
    after_seq is left (HTTP 204); -ESHUTDOWN after hub_close; -ENOMEM. On
    error the stream is unchanged. */
int hub_stream_attach_after (hub_t *self, hub_stream_t *stream,
                             const char *job, uint64_t after_seq);

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
    event; at shutdown, what was queued); -ECONNABORTED when it must be cut
    because it fell too far behind. */
ssize_t hub_stream_read (hub_stream_t *self, char *buf, size_t max,
                         int64_t now_us);

#endif
