/*  hub — job event rings and stream queues.

    Lock order: hub → job → stream. The hub lock guards the job table and
    the list of jobs by last activity; a job's lock guards its ring and
    subscriber list; a stream's lock guards its queue and sleep state. The
    reader of a stream takes only the stream's lock, so copying bytes to
    one client never blocks another stream or the publisher for long.
    Streams are woken only after every hub lock is released; a stream that
    was asleep stays valid until it is woken, because its connection is
    suspended and cannot finish before. */
#include "hub.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "sse.h"

struct hub_event_t {
    atomic_uint refs;
    int64_t born_us;              /* when the gateway made it, for send lag */
    uint64_t seq;
    bool terminal;
    size_t len;
    char text[];
};

typedef struct hub_job_t hub_job_t;

struct hub_stream_t {
    pthread_mutex_t lock;
    hub_job_t *job;               /* attached job, or NULL */
    hub_stream_t *prev, *next;    /* in job->streams, under the job's lock */
    hub_event_t **queue;          /* circular */
    size_t queue_cap, queue_head, queue_count;
    size_t queue_bytes;
    size_t head_offset;           /* bytes of the head event already sent */
    char *prelude;
    size_t prelude_len, prelude_offset;
    uint64_t cursor;              /* highest seq queued */
    bool terminal_queued;         /* nothing is queued after this */
    bool closing;                 /* shutdown: end once the queue is sent */
    bool aborted;                 /* cut: fell too far behind */
    bool sleeping;
    bool keepalive_due;
    bool all_jobs;                /* follows every job (all_hub->all_streams) */
    hub_t *all_hub;               /* set while in that list */
    bool farewell_sent;           /* the shutdown comment went out */
    int64_t last_write_us;
    int64_t backlog_since_us;     /* when the queue last stopped being empty */
    hub_sleep_fn *sleep_fn;
    hub_wake_fn *wake_fn;
    void *arg;
    char cid[65];
};

struct hub_job_t {
    char id[JOB_ID_SIZE];
    pthread_mutex_t lock;
    hub_event_t **ring;           /* circular, seqs contiguous */
    size_t ring_cap, ring_head, ring_count;
    uint64_t last_seq;            /* highest seq seen, 0 = none */
    bool terminal;                /* its latest event is a terminal one */
    bool filling;                 /* a gap is open: live events wait in held */
    hub_event_t **held;           /* ascending seqs, all above last_seq + 1 */
    size_t held_count, held_cap;
    hub_stream_t *streams;
    size_t stream_count;
    int64_t active_us;            /* last event, under the hub lock */
    hub_job_t *older, *newer;     /* activity list, under the hub lock */
};

/*  Streams to wake once locks are released. */
typedef struct {
    hub_stream_t **items;
    size_t count, cap;
} wake_list_t;

struct hub_t {
    pthread_mutex_t lock;
    hub_limits_t limits;
    zhashx_t *jobs;               /* id → hub_job_t, not owning */
    hub_job_t *oldest, *newest;
    size_t job_count;
    atomic_size_t jobs_cached;    /* job_count, readable without the lock */
    bool closed;
    wake_list_t wakes;            /* reused by the publishing thread */
    pthread_mutex_t all_lock;     /* after a job's lock, before a stream's */
    hub_stream_t *all_streams;    /* streams of every job's events */
    atomic_size_t all_count;      /* of all_streams; written under
                                     all_lock, read without it so that an
                                     event skips the lock when there are
                                     none */
};

void
hub_limits_default (hub_limits_t *limits)
{
    limits->ring_events = 1024;
    limits->max_jobs = 4096;
    limits->finished_ttl_us = INT64_C (300) * 1000000;
    limits->idle_ttl_us = INT64_C (1800) * 1000000;
    limits->stream_max_events = 4096;
    limits->stream_max_bytes = 1024 * 1024;
    limits->stall_us = INT64_C (1000000);
    limits->keepalive_us = INT64_C (10) * 1000000;
}

/* ---------------------------------------------------------------- events */

hub_event_t *
hub_event_new (uint64_t seq, bool terminal, const char *text, size_t len)
{
    hub_event_t *self = malloc (sizeof *self + len + 1);
    if (!self)
        return NULL;
    atomic_init (&self->refs, 1);
    self->born_us = proto_now_us ();
    self->seq = seq;
    self->terminal = terminal;
    self->len = len;
    memcpy (self->text, text, len);
    self->text[len] = '\0';
    return self;
}

static hub_event_t *
s_event_ref (hub_event_t *self)
{
    atomic_fetch_add_explicit (&self->refs, 1, memory_order_relaxed);
    return self;
}

void
hub_event_unref (hub_event_t **self_p)
{
    assert (self_p);
    hub_event_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (atomic_fetch_sub_explicit (&self->refs, 1, memory_order_acq_rel) == 1)
        free (self);
}

uint64_t
hub_event_seq (const hub_event_t *self)
{
    return self->seq;
}

bool
hub_event_terminal (const hub_event_t *self)
{
    return self->terminal;
}

/*  Length of the event's leading "id: N\n" line (0 when it has none):
    a stream of every job sends events without it, because seqs are per
    job and would mislead EventSource's Last-Event-ID. */
static size_t
s_id_line_len (const hub_event_t *ev)
{
    if (ev->len < 4 || memcmp (ev->text, "id: ", 4) != 0)
        return 0;
    const char *eol = memchr (ev->text, '\n', ev->len);
    return eol ? (size_t) (eol - ev->text) + 1 : 0;
}

/* ----------------------------------------------------------- wake lists */

/*  Remembers a stream to wake once every lock is released. When memory
    runs out the stream is woken at once instead, under the caller's
    locks: waking only takes libmicrohttpd's own mutex, which it never
    holds while calling back into code that takes ours. */
static void
s_wake_later (wake_list_t *list, hub_stream_t *stream)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        hub_stream_t **items = realloc (list->items, cap * sizeof *items);
        if (!items) {
            stream->wake_fn (stream->arg);
            return;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = stream;
}

static void
s_wake_all (wake_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        list->items[i]->wake_fn (list->items[i]->arg);
    list->count = 0;
}

/* --------------------------------------------------------- stream queue */

/*  Frames queued to any stream of the process. Streams are made before
    they know their hub, so the count cannot live in one. */
static atomic_uint_fast64_t s_frames_queued;
/*  Bytes handed to connections, and per stream the time from an event's
    making to its last byte handed over: process-wide, like the above. */
static atomic_uint_fast64_t s_bytes_read;
static metrics_histogram_t s_send_lag;
static pthread_once_t s_send_lag_once = PTHREAD_ONCE_INIT;

static void
s_send_lag_init (void)
{
    metrics_histogram_init (&s_send_lag, metrics_lag_bounds_us, metrics_lag_bound_count);
}

/*  Appends a reference to ev to the stream's queue, unconditionally;
    whether a terminal event ends the stream is the caller's to say (a
    retried job's history holds the end of every attempt). Returns 0 or
    -ENOMEM. Caller holds the stream lock. */
static int
s_queue_push (hub_stream_t *s, hub_event_t *ev)
{
    if (s->queue_count == s->queue_cap) {
        size_t cap = s->queue_cap ? s->queue_cap * 2 : 8;
        hub_event_t **queue = malloc (cap * sizeof *queue);
        if (!queue)
            return -ENOMEM;
        for (size_t i = 0; i < s->queue_count; i++)
            queue[i] = s->queue[(s->queue_head + i) % s->queue_cap];
        free (s->queue);
        s->queue = queue;
        s->queue_cap = cap;
        s->queue_head = 0;
    }
    s->queue[(s->queue_head + s->queue_count) % s->queue_cap] = s_event_ref (ev);
    s->queue_count++;
    s->queue_bytes += ev->len;
    atomic_fetch_add_explicit (&s_frames_queued, 1, memory_order_relaxed);
    return 0;
}

static void
s_queue_clear (hub_stream_t *s)
{
    while (s->queue_count > 0) {
        hub_event_unref (&s->queue[s->queue_head]);
        s->queue_head = (s->queue_head + 1) % s->queue_cap;
        s->queue_count--;
    }
    s->queue_bytes = 0;
    s->head_offset = 0;
}

/*  How far past its limits a stream that is still taking bytes may fall
    before it is cut all the same: what bounds the memory of one stream. */
#define HUB_STREAM_HARD_FACTOR 4

/*  True when queuing ev would leave s too far behind: past its limits
    while its client has taken nothing for limits->stall_us (a burst
    that arrives between two writes is not a slow client), or past
    HUB_STREAM_HARD_FACTOR times them. NULL limits (a replay from the
    ring, bounded by the ring) never are. Stream lock held. */
static bool
s_stream_behind (const hub_limits_t *limits, const hub_stream_t *s,
                 const hub_event_t *ev, int64_t now_us)
{
    if (!limits)
        return false;
    size_t events = s->queue_count + 1;
    size_t bytes = s->queue_bytes + ev->len;
    if (events <= limits->stream_max_events && bytes <= limits->stream_max_bytes)
        return false;
    if (events > HUB_STREAM_HARD_FACTOR * limits->stream_max_events
        || bytes > HUB_STREAM_HARD_FACTOR * limits->stream_max_bytes)
        return true;
    int64_t moving_us = s->last_write_us > s->backlog_since_us ? s->last_write_us
                                                                : s->backlog_since_us;
    return now_us - moving_us >= limits->stall_us;
}

/*  Appends ev to a stream's queue, noting when a backlog starts. Returns
    0 or -ENOMEM. Stream lock held. */
static int
s_stream_push (hub_stream_t *s, hub_event_t *ev, int64_t now_us)
{
    if (s->queue_count == 0)
        s->backlog_since_us = now_us;
    return s_queue_push (s, ev);
}

/*  Offers a job event to a stream: queued when newer than what the
    stream has, within its limits (NULL: none, for replays from the
    ring). A stream too far behind is cut; a terminal event ends it when
    latest says the event is the job's latest (not an earlier attempt's
    end in a replay), and so does learning that the job ended at or
    below its cursor. Caller holds the job lock (or owns the stream
    exclusively) but not the stream lock. */
static void
s_stream_offer (const hub_limits_t *limits, hub_stream_t *s, hub_event_t *ev,
                wake_list_t *wakes, int64_t now_us, bool latest)
{
    pthread_mutex_lock (&s->lock);
    bool changed = false;
    if (s->terminal_queued || s->aborted) {
        /* it has everything it will ever send */
    }
    else if (s->all_jobs) {
        /* seqs are per job here: only the stream's limits apply */
        if (s_stream_behind (limits, s, ev, now_us) || s_stream_push (s, ev, now_us) < 0) {
            log_write (AURA_LOG_WARN, s->cid, NULL,
                       "stream of all jobs cut: %zu events (%zu bytes) not yet sent",
                       s->queue_count, s->queue_bytes);
            s->aborted = true;
            s_queue_clear (s);
        }
        changed = true; /* and one job's end is not the stream's */
    }
    else if (ev->seq <= s->cursor) {
        if (ev->terminal && latest) {
            s->terminal_queued = true;
            changed = true;
        }
    }
    else if (ev->seq != s->cursor + 1) {
        /* sending it would skip events the client never got: cut the
           stream, and its reconnect replays them from the broker */
        log_write (AURA_LOG_WARN, s->cid, s->job ? s->job->id : NULL,
                   "stream cut: event #%" PRIu64 " after #%" PRIu64, ev->seq,
                   s->cursor);
        s->aborted = true;
        s_queue_clear (s);
        changed = true;
    }
    else if (s_stream_behind (limits, s, ev, now_us) || s_stream_push (s, ev, now_us) < 0) {
        log_write (AURA_LOG_WARN, s->cid, s->job ? s->job->id : NULL,
                   "stream cut: %zu events (%zu bytes) not yet sent",
                   s->queue_count, s->queue_bytes);
        s->aborted = true;
        s_queue_clear (s);
        changed = true;
    }
    else {
        s->cursor = ev->seq;
        if (ev->terminal && latest)
            s->terminal_queued = true;
        changed = true;
    }
    if (changed && s->sleeping && wakes) {
        s->sleeping = false;
        s_wake_later (wakes, s);
    }
    pthread_mutex_unlock (&s->lock);
}

/* ------------------------------------------------------------------ jobs */

static hub_event_t *
s_ring_at (hub_job_t *job, size_t i)
{
    return job->ring[(job->ring_head + i) % job->ring_cap];
}

static void
s_ring_clear (hub_job_t *job)
{
    while (job->ring_count > 0) {
        hub_event_unref (&job->ring[job->ring_head]);
        job->ring_head = (job->ring_head + 1) % job->ring_cap;
        job->ring_count--;
    }
    job->ring_head = 0;
}

/*  Appends ev to the ring, dropping the oldest event when it is full.
    Returns 0 or -ENOMEM. */
static int
s_ring_push (hub_job_t *job, size_t max_events, hub_event_t *ev)
{
    if (job->ring_count == job->ring_cap && job->ring_cap < max_events) {
        size_t cap = job->ring_cap ? job->ring_cap * 2 : 16;
        if (cap > max_events)
            cap = max_events;
        hub_event_t **ring = malloc (cap * sizeof *ring);
        if (!ring)
            return -ENOMEM;
        for (size_t i = 0; i < job->ring_count; i++)
            ring[i] = s_ring_at (job, i);
        free (job->ring);
        job->ring = ring;
        job->ring_cap = cap;
        job->ring_head = 0;
    }
    if (job->ring_cap == 0)
        return -ENOMEM;
    if (job->ring_count == job->ring_cap) {
        hub_event_unref (&job->ring[job->ring_head]);
        job->ring_head = (job->ring_head + 1) % job->ring_cap;
        job->ring_count--;
    }
    job->ring[(job->ring_head + job->ring_count) % job->ring_cap] = s_event_ref (ev);
    job->ring_count++;
    return 0;
}

static void
s_held_clear (hub_job_t *job)
{
    for (size_t i = 0; i < job->held_count; i++)
        hub_event_unref (&job->held[i]);
    job->held_count = 0;
}

/*  Keeps ev (a reference of its own) among the events held behind a gap,
    in seq order; a seq already held is ignored. Returns 0 or -ENOMEM. */
static int
s_held_insert (hub_job_t *job, hub_event_t *ev)
{
    size_t at = job->held_count;
    while (at > 0 && job->held[at - 1]->seq > ev->seq)
        at--;
    if (at > 0 && job->held[at - 1]->seq == ev->seq)
        return 0;
    if (job->held_count == job->held_cap) {
        size_t cap = job->held_cap ? job->held_cap * 2 : 16;
        hub_event_t **held = realloc (job->held, cap * sizeof *held);
        if (!held)
            return -ENOMEM;
        job->held = held;
        job->held_cap = cap;
    }
    memmove (&job->held[at + 1], &job->held[at],
             (job->held_count - at) * sizeof *job->held);
    job->held[at] = s_event_ref (ev);
    job->held_count++;
    return 0;
}

static hub_job_t *
s_job_new (const char *id)
{
    hub_job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    snprintf (job->id, sizeof job->id, "%s", id);
    pthread_mutex_init (&job->lock, NULL);
    return job;
}

static void
s_job_free (hub_job_t *job)
{
    assert (job->stream_count == 0);
    s_ring_clear (job);
    free (job->ring);
    s_held_clear (job);
    free (job->held);
    pthread_mutex_destroy (&job->lock);
    free (job);
}

/*  Moves job to the newest end of the activity list. Hub lock held. */
static void
s_job_touch (hub_t *self, hub_job_t *job, int64_t now_us)
{
    job->active_us = now_us;
    if (self->newest == job)
        return;
    if (job->older)
        job->older->newer = job->newer;
    else if (self->oldest == job)
        self->oldest = job->newer;
    if (job->newer)
        job->newer->older = job->older;
    job->older = self->newest;
    job->newer = NULL;
    if (self->newest)
        self->newest->newer = job;
    self->newest = job;
    if (!self->oldest)
        self->oldest = job;
}

static void
s_job_forget (hub_t *self, hub_job_t *job)
{
    if (job->older)
        job->older->newer = job->newer;
    else
        self->oldest = job->newer;
    if (job->newer)
        job->newer->older = job->older;
    else
        self->newest = job->older;
    zhashx_delete (self->jobs, job->id);
    self->job_count--;
    atomic_store_explicit (&self->jobs_cached, self->job_count, memory_order_relaxed);
    s_job_free (job);
}

/*  Finds the job, creating it when asked. Hub lock held. */
static hub_job_t *
s_job_lookup (hub_t *self, const char *id, bool create, int64_t now_us)
{
    hub_job_t *job = (hub_job_t *) zhashx_lookup (self->jobs, id);
    if (job || !create)
        return job;
    job = s_job_new (id);
    if (!job)
        return NULL;
    if (zhashx_insert (self->jobs, id, job) != 0) {
        s_job_free (job);
        return NULL;
    }
    self->job_count++;
    atomic_store_explicit (&self->jobs_cached, self->job_count, memory_order_relaxed);
    s_job_touch (self, job, now_us);
    return job;
}

static void
s_job_link (hub_job_t *job, hub_stream_t *s)
{
    s->job = job;
    s->prev = NULL;
    s->next = job->streams;
    if (job->streams)
        job->streams->prev = s;
    job->streams = s;
    job->stream_count++;
}

/*  Queues to s every ring event above after_seq. Job lock held. */
static void
s_replay (hub_job_t *job, hub_stream_t *s, uint64_t after_seq)
{
    for (size_t i = 0; i < job->ring_count; i++) {
        hub_event_t *ev = s_ring_at (job, i);
        if (ev->seq > after_seq)
            s_stream_offer (NULL, s, ev, NULL, 0, ev->seq == job->last_seq);
    }
}

/* ------------------------------------------------------------------- hub */

hub_t *
hub_new (const hub_limits_t *limits)
{
    pthread_once (&s_send_lag_once, s_send_lag_init);
    hub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->limits = *limits;
    atomic_init (&self->jobs_cached, 0);
    if (self->limits.ring_events == 0)
        self->limits.ring_events = 1;
    self->jobs = zhashx_new ();
    if (!self->jobs) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->all_lock, NULL);
    return self;
}

void
hub_destroy (hub_t **self_p)
{
    assert (self_p);
    hub_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    while (self->oldest)
        s_job_forget (self, self->oldest);
    zhashx_destroy (&self->jobs);
    free (self->wakes.items);
    pthread_mutex_destroy (&self->all_lock);
    pthread_mutex_destroy (&self->lock);
    free (self);
}

/*  Appends ev to the job's events and offers it to its streams. A seq
    that skips ahead restarts the ring at ev, so that the ring never holds
    a hole; streams that would skip are cut by s_stream_offer. Returns 0,
    or -EALREADY for a seq at or below the latest. Job lock held. */
static int
s_job_append (hub_t *self, hub_job_t *job, hub_event_t *ev, int64_t now_us)
{
    if (ev->seq <= job->last_seq)
        return -EALREADY;
    if (job->last_seq > 0 && ev->seq != job->last_seq + 1) {
        log_write (AURA_LOG_WARN, NULL, job->id,
                   "event gap: %" PRIu64 " after %" PRIu64, ev->seq, job->last_seq);
        s_ring_clear (job);
    }
    if (s_ring_push (job, self->limits.ring_events, ev) < 0) {
        /* keep the ring contiguous: without this event it cannot be */
        s_ring_clear (job);
    }
    job->last_seq = ev->seq;
    /* an event after the terminal one: the job was retried */
    job->terminal = ev->terminal;
    for (hub_stream_t *s = job->streams; s; s = s->next)
        s_stream_offer (&self->limits, s, ev, &self->wakes, now_us, true);
    if (atomic_load_explicit (&self->all_count, memory_order_relaxed) > 0) {
        pthread_mutex_lock (&self->all_lock);
        for (hub_stream_t *s = self->all_streams; s; s = s->next)
            s_stream_offer (&self->limits, s, ev, &self->wakes, now_us, true);
        pthread_mutex_unlock (&self->all_lock);
    }
    return 0;
}

/*  Appends the held events that now continue the job's events, dropping
    those already seen; the gap closes when none are left. Job lock held. */
static void
s_held_release (hub_t *self, hub_job_t *job, int64_t now_us)
{
    size_t taken = 0;
    while (taken < job->held_count && job->held[taken]->seq <= job->last_seq + 1) {
        s_job_append (self, job, job->held[taken], now_us);
        hub_event_unref (&job->held[taken]);
        taken++;
    }
    memmove (job->held, job->held + taken,
             (job->held_count - taken) * sizeof *job->held);
    job->held_count -= taken;
    if (job->held_count == 0)
        job->filling = false;
}

/*  Gives up on filling a gap: the held events are appended with the hole
    before them. Job lock held. */
static void
s_gap_abandon (hub_t *self, hub_job_t *job, int64_t now_us)
{
    if (!job->filling)
        return;
    log_write (AURA_LOG_WARN, NULL, job->id,
               "event gap after %" PRIu64 " not filled: %zu held events go out "
               "without it",
               job->last_seq, job->held_count);
    for (size_t i = 0; i < job->held_count; i++) {
        s_job_append (self, job, job->held[i], now_us);
        hub_event_unref (&job->held[i]);
    }
    job->held_count = 0;
    job->filling = false;
}

/*  Finds (creating when asked) and locks job, touching it. Returns NULL
    with *rc set when the hub is closed, memory runs out or the job is
    unknown. Takes and releases the hub lock. */
static hub_job_t *
s_job_lock (hub_t *self, const char *id, bool create, int64_t now_us, int *rc)
{
    pthread_mutex_lock (&self->lock);
    if (self->closed) {
        pthread_mutex_unlock (&self->lock);
        *rc = -ESHUTDOWN;
        return NULL;
    }
    hub_job_t *job = s_job_lookup (self, id, create, now_us);
    if (!job) {
        pthread_mutex_unlock (&self->lock);
        *rc = create ? -ENOMEM : -ENOENT;
        return NULL;
    }
    s_job_touch (self, job, now_us);
    pthread_mutex_lock (&job->lock);
    pthread_mutex_unlock (&self->lock);
    *rc = 0;
    return job;
}

int
hub_publish (hub_t *self, const char *id, hub_event_t *ev, int64_t now_us)
{
    int rc;
    hub_job_t *job = s_job_lock (self, id, true, now_us, &rc);
    if (!job)
        return rc;
    rc = s_job_append (self, job, ev, now_us);
    pthread_mutex_unlock (&job->lock);
    s_wake_all (&self->wakes);
    return rc;
}

int
hub_offer (hub_t *self, const char *id, hub_event_t *ev, int64_t now_us,
           uint64_t *fill_after)
{
    int rc;
    hub_job_t *job = s_job_lock (self, id, true, now_us, &rc);
    if (!job)
        return rc;
    if (ev->seq <= job->last_seq)
        rc = -EALREADY;
    else if (job->filling) {
        if (job->held_count >= self->limits.stream_max_events) {
            s_gap_abandon (self, job, now_us);
            rc = s_job_append (self, job, ev, now_us);
        }
        else if (s_held_insert (job, ev) < 0) {
            s_gap_abandon (self, job, now_us);
            rc = s_job_append (self, job, ev, now_us);
        }
        else
            rc = -EINPROGRESS;
    }
    else if (job->last_seq > 0 && ev->seq > job->last_seq + 1) {
        if (s_held_insert (job, ev) < 0)
            rc = s_job_append (self, job, ev, now_us);
        else {
            job->filling = true;
            *fill_after = job->last_seq;
            rc = -EAGAIN;
        }
    }
    else
        rc = s_job_append (self, job, ev, now_us);
    pthread_mutex_unlock (&job->lock);
    s_wake_all (&self->wakes);
    return rc;
}

int
hub_fill (hub_t *self, const char *id, hub_event_t *const *events, size_t count,
          int64_t now_us, uint64_t *fill_after)
{
    int rc;
    hub_job_t *job = s_job_lock (self, id, false, now_us, &rc);
    if (!job)
        return rc == -ENOENT ? 0 : rc;
    for (size_t i = 0; i < count; i++) {
        if (events[i]->seq <= job->last_seq)
            continue;
        if (events[i]->seq != job->last_seq + 1)
            break; /* a hole in the answer: the rest cannot follow yet */
        s_job_append (self, job, events[i], now_us);
    }
    if (job->filling)
        s_held_release (self, job, now_us);
    rc = 0;
    if (job->filling) {
        *fill_after = job->last_seq;
        rc = -EAGAIN;
    }
    pthread_mutex_unlock (&job->lock);
    s_wake_all (&self->wakes);
    return rc;
}

void
hub_gap_abandon (hub_t *self, const char *id, int64_t now_us)
{
    int rc;
    hub_job_t *job = s_job_lock (self, id, false, now_us, &rc);
    if (!job)
        return;
    s_gap_abandon (self, job, now_us);
    pthread_mutex_unlock (&job->lock);
    s_wake_all (&self->wakes);
}

/*  Wakes the sleeping streams of a list idle for keepalive_us so that
    they send a keepalive comment. The list's lock is held. */
static void
s_streams_keepalive (hub_stream_t *streams, int64_t keepalive_us, int64_t now_us,
                     wake_list_t *wakes)
{
    for (hub_stream_t *s = streams; s; s = s->next) {
        pthread_mutex_lock (&s->lock);
        if (s->sleeping && now_us - s->last_write_us >= keepalive_us) {
            s->keepalive_due = true;
            s->sleeping = false;
            s_wake_later (wakes, s);
        }
        pthread_mutex_unlock (&s->lock);
    }
}

/*  Tells every stream of a list to end once its queue is sent, waking
    the sleeping ones. The list's lock is held. */
static void
s_streams_close (hub_stream_t *streams, wake_list_t *wakes)
{
    for (hub_stream_t *s = streams; s; s = s->next) {
        pthread_mutex_lock (&s->lock);
        s->closing = true;
        if (s->sleeping) {
            s->sleeping = false;
            s_wake_later (wakes, s);
        }
        pthread_mutex_unlock (&s->lock);
    }
}

void
hub_tick (hub_t *self, int64_t now_us)
{
    wake_list_t *wakes = &self->wakes;
    pthread_mutex_lock (&self->lock);
    hub_job_t *next;
    for (hub_job_t *job = self->oldest; job; job = next) {
        next = job->newer;
        pthread_mutex_lock (&job->lock);
        s_streams_keepalive (job->streams, self->limits.keepalive_us, now_us, wakes);
        int64_t idle_us = now_us - job->active_us;
        bool forget = job->stream_count == 0
                      && ((job->terminal && idle_us >= self->limits.finished_ttl_us)
                          || idle_us >= self->limits.idle_ttl_us
                          || self->job_count > self->limits.max_jobs);
        pthread_mutex_unlock (&job->lock);
        if (forget)
            s_job_forget (self, job);
    }
    pthread_mutex_lock (&self->all_lock);
    s_streams_keepalive (self->all_streams, self->limits.keepalive_us, now_us, wakes);
    pthread_mutex_unlock (&self->all_lock);
    pthread_mutex_unlock (&self->lock);
    s_wake_all (wakes);
}

void
hub_close (hub_t *self)
{
    wake_list_t wakes = { NULL, 0, 0 };
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    for (hub_job_t *job = self->oldest; job; job = job->newer) {
        pthread_mutex_lock (&job->lock);
        s_streams_close (job->streams, &wakes);
        pthread_mutex_unlock (&job->lock);
    }
    pthread_mutex_lock (&self->all_lock);
    s_streams_close (self->all_streams, &wakes);
    pthread_mutex_unlock (&self->all_lock);
    pthread_mutex_unlock (&self->lock);
    s_wake_all (&wakes);
    free (wakes.items);
}

size_t
hub_job_count (hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t count = self->job_count;
    pthread_mutex_unlock (&self->lock);
    return count;
}

void
hub_stats (hub_t *self, hub_stats_t *stats)
{
    stats->jobs_cached = atomic_load_explicit (&self->jobs_cached, memory_order_relaxed);
    stats->frames_queued = atomic_load_explicit (&s_frames_queued, memory_order_relaxed);
    stats->bytes_sent = atomic_load_explicit (&s_bytes_read, memory_order_relaxed);
    pthread_once (&s_send_lag_once, s_send_lag_init);
    metrics_histogram_read (&s_send_lag, &stats->send_lag);
}

/* --------------------------------------------------------------- streams */

hub_stream_t *
hub_stream_new (const char *cid, const char *prelude, hub_sleep_fn *sleep_fn,
                hub_wake_fn *wake_fn, void *arg, int64_t now_us)
{
    hub_stream_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (prelude) {
        self->prelude = strdup (prelude);
        if (!self->prelude) {
            free (self);
            return NULL;
        }
        self->prelude_len = strlen (prelude);
    }
    pthread_mutex_init (&self->lock, NULL);
    self->sleep_fn = sleep_fn;
    self->wake_fn = wake_fn;
    self->arg = arg;
    self->last_write_us = now_us;
    snprintf (self->cid, sizeof self->cid, "%s", cid ? cid : "");
    return self;
}

void
hub_stream_destroy (hub_stream_t **self_p)
{
    assert (self_p);
    hub_stream_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    hub_t *hub = self->all_hub;
    if (hub) {
        pthread_mutex_lock (&hub->all_lock);
        if (self->prev)
            self->prev->next = self->next;
        else
            hub->all_streams = self->next;
        if (self->next)
            self->next->prev = self->prev;
        atomic_fetch_sub_explicit (&hub->all_count, 1, memory_order_relaxed);
        pthread_mutex_unlock (&hub->all_lock);
    }
    hub_job_t *job = self->job;
    if (job) {
        pthread_mutex_lock (&job->lock);
        if (self->prev)
            self->prev->next = self->next;
        else
            job->streams = self->next;
        if (self->next)
            self->next->prev = self->prev;
        job->stream_count--;
        pthread_mutex_unlock (&job->lock);
    }
    s_queue_clear (self);
    free (self->queue);
    free (self->prelude);
    pthread_mutex_destroy (&self->lock);
    free (self);
}

/*  Attaches a stream to job from after_seq on: when the job's ring holds
    after_seq + 1 (or is where a stream at after_seq continues from), or,
    given broker_latest (the broker had no event above it when last asked)
    and after_seq at or above it, when the hub has seen nothing above
    after_seq. A job the hub does not know is then created, expecting
    broker_latest + 1 next, so that a later hole is seen as a gap. Returns
    0; -ERANGE; -ENODATA when the job has finished at or below after_seq
    (with end_on_finished the stream is then told to end after what it
    holds); -ESHUTDOWN; -ENOMEM. */
static int
s_attach (hub_t *self, hub_stream_t *stream, const char *id, uint64_t after_seq,
          const uint64_t *broker_latest, bool end_on_finished)
{
    bool caught_up = broker_latest && after_seq >= *broker_latest;
    int rc;
    hub_job_t *job = s_job_lock (self, id, caught_up, stream->last_write_us, &rc);
    if (!job)
        return rc == -ENOENT ? -ERANGE : rc;
    if (caught_up && job->last_seq == 0 && job->ring_count == 0 && !job->filling)
        job->last_seq = *broker_latest; /* new to the hub: see above */

    bool ring_covers = job->ring_count > 0 && s_ring_at (job, 0)->seq <= after_seq + 1;
    if (job->terminal && job->last_seq <= after_seq) {
        rc = -ENODATA;
        if (end_on_finished) {
            pthread_mutex_lock (&stream->lock);
            stream->terminal_queued = true;
            pthread_mutex_unlock (&stream->lock);
        }
    }
    else if (ring_covers || (caught_up && job->last_seq <= after_seq)) {
        pthread_mutex_lock (&stream->lock);
        stream->cursor = after_seq;
        pthread_mutex_unlock (&stream->lock);
        s_replay (job, stream, after_seq);
        s_job_link (job, stream);
        rc = 0;
    }
    else
        rc = -ERANGE; /* the ring does not reach back to after_seq + 1 */
    pthread_mutex_unlock (&job->lock);
    return rc;
}

int
hub_stream_attach_after (hub_t *self, hub_stream_t *stream, const char *id,
                         uint64_t after_seq)
{
    return s_attach (self, stream, id, after_seq, NULL, false);
}

int
hub_stream_follow (hub_t *self, hub_stream_t *stream, const char *id,
                   uint64_t broker_latest)
{
    pthread_mutex_lock (&stream->lock);
    uint64_t after_seq = stream->cursor;
    bool attached = stream->job != NULL;
    pthread_mutex_unlock (&stream->lock);
    if (attached)
        return -EBUSY;
    return s_attach (self, stream, id, after_seq, &broker_latest, true);
}

int
hub_stream_begin (hub_stream_t *self, hub_event_t *first, uint64_t after_seq,
                  bool final)
{
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (self->job)
        rc = -EBUSY;
    else if (first)
        rc = s_queue_push (self, first);
    if (rc == 0) {
        self->cursor = after_seq;
        if (final || (first && first->terminal))
            self->terminal_queued = true;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
hub_stream_queue (hub_stream_t *self, hub_event_t *const *events, size_t count,
                  bool last_page)
{
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (self->job)
        rc = -EBUSY;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        hub_event_t *ev = events[i];
        if (self->terminal_queued)
            break; /* nothing follows the end */
        if (ev->seq <= self->cursor)
            continue;
        if (ev->seq != self->cursor + 1)
            rc = -EPROTO;
        else if ((rc = s_queue_push (self, ev)) == 0) {
            self->cursor = ev->seq;
            /* only the broker's last event can be the job's end */
            if (ev->terminal && last_page && i + 1 == count)
                self->terminal_queued = true;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

uint64_t
hub_stream_position (hub_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    uint64_t cursor = self->cursor;
    pthread_mutex_unlock (&self->lock);
    return cursor;
}

bool
hub_stream_idle (hub_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool idle = self->prelude_offset >= self->prelude_len && self->queue_count == 0
                && !self->terminal_queued && !self->closing && !self->aborted;
    pthread_mutex_unlock (&self->lock);
    return idle;
}

bool
hub_stream_ended (hub_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool ended = self->terminal_queued;
    pthread_mutex_unlock (&self->lock);
    return ended;
}

int
hub_stream_attach_all (hub_t *self, hub_stream_t *stream)
{
    pthread_mutex_lock (&self->lock);
    if (self->closed) {
        pthread_mutex_unlock (&self->lock);
        return -ESHUTDOWN;
    }
    pthread_mutex_lock (&stream->lock);
    bool busy = stream->job || stream->all_hub;
    if (!busy)
        stream->all_jobs = true;
    pthread_mutex_unlock (&stream->lock);
    if (busy) {
        pthread_mutex_unlock (&self->lock);
        return -EBUSY;
    }
    pthread_mutex_lock (&self->all_lock);
    stream->all_hub = self;
    stream->prev = NULL;
    stream->next = self->all_streams;
    if (self->all_streams)
        self->all_streams->prev = stream;
    self->all_streams = stream;
    atomic_fetch_add_explicit (&self->all_count, 1, memory_order_relaxed);
    pthread_mutex_unlock (&self->all_lock);
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
hub_stream_attach (hub_t *self, hub_stream_t *stream, const char *id,
                   hub_event_t *first, uint64_t after_seq, bool final)
{
    pthread_mutex_lock (&stream->lock);
    int rc = first ? s_queue_push (stream, first) : 0;
    if (final || (rc == 0 && first && first->terminal))
        stream->terminal_queued = true;
    stream->cursor = after_seq;
    pthread_mutex_unlock (&stream->lock);
    if (rc < 0 || final)
        return rc;

    pthread_mutex_lock (&self->lock);
    if (self->closed) {
        pthread_mutex_unlock (&self->lock);
        return -ESHUTDOWN;
    }
    hub_job_t *job = s_job_lookup (self, id, true, 0);
    if (!job) {
        pthread_mutex_unlock (&self->lock);
        return -ENOMEM;
    }
    pthread_mutex_lock (&job->lock);
    pthread_mutex_unlock (&self->lock);

    s_replay (job, stream, after_seq);
    pthread_mutex_lock (&stream->lock);
    if (job->terminal && job->last_seq <= after_seq)
        stream->terminal_queued = true; /* it ended at or before the snapshot */
    pthread_mutex_unlock (&stream->lock);
    s_job_link (job, stream);
    pthread_mutex_unlock (&job->lock);
    return 0;
}

ssize_t
hub_stream_read (hub_stream_t *self, char *buf, size_t max, int64_t now_us)
{
    pthread_mutex_lock (&self->lock);
    size_t n = 0;
    if (self->aborted) {
        pthread_mutex_unlock (&self->lock);
        return -ECONNABORTED;
    }
    if (self->prelude_offset < self->prelude_len) {
        size_t take = self->prelude_len - self->prelude_offset;
        if (take > max)
            take = max;
        memcpy (buf, self->prelude + self->prelude_offset, take);
        self->prelude_offset += take;
        n += take;
    }
    while (n < max && self->queue_count > 0) {
        hub_event_t *ev = self->queue[self->queue_head];
        if (self->all_jobs && self->head_offset == 0)
            self->head_offset = s_id_line_len (ev);
        size_t take = ev->len - self->head_offset;
        if (take > max - n)
            take = max - n;
        memcpy (buf + n, ev->text + self->head_offset, take);
        n += take;
        self->head_offset += take;
        if (self->head_offset == ev->len) {
            metrics_histogram_observe (&s_send_lag, now_us - ev->born_us);
            self->queue_bytes -= ev->len;
            hub_event_unref (&self->queue[self->queue_head]);
            self->queue_head = (self->queue_head + 1) % self->queue_cap;
            self->queue_count--;
            self->head_offset = 0;
        }
    }
    ssize_t rc;
    if (n > 0) {
        atomic_fetch_add_explicit (&s_bytes_read, n, memory_order_relaxed);
        self->last_write_us = now_us;
        self->keepalive_due = false;
        rc = (ssize_t) n;
    }
    else if (self->closing && !self->terminal_queued && !self->farewell_sent
             && sizeof SSE_SHUTDOWN_FRAME - 1 <= max) {
        /* tells a watching person why the stream ends; EventSource
           reconnects, to another gateway or this one once it is back */
        memcpy (buf, SSE_SHUTDOWN_FRAME, sizeof SSE_SHUTDOWN_FRAME - 1);
        self->farewell_sent = true;
        self->last_write_us = now_us;
        rc = (ssize_t) (sizeof SSE_SHUTDOWN_FRAME - 1);
    }
    else if (self->terminal_queued || self->closing)
        rc = -ENODATA;
    else {
        char comment[SSE_KEEPALIVE_MAX];
        int len = -1;
        if (self->keepalive_due)
            len = sse_render_keepalive (comment, sizeof comment, now_us);
        if (len > 0 && (size_t) len <= max) {
            memcpy (buf, comment, (size_t) len);
            self->last_write_us = now_us;
            self->keepalive_due = false;
            rc = len;
        }
        else {
            self->sleeping = true;
            self->sleep_fn (self->arg);
            rc = 0;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}
