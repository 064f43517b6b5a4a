/*  jobs — the broker's job store and job state machine. Jobs live in a
    hash by id, which owns them, and in an array sorted by id for listings;
    a job waiting for a worker is also on the queue, a job sent to a worker
    but not yet answered on the in-flight list (oldest dispatch first), a
    Running job on the running list, and a job changed since the journal
    last took it on the changed list. */
#include "jobs.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Which list, if any, holds a job. */
typedef enum {
    PLACE_NONE = 0,   /* finished */
    PLACE_QUEUE,      /* Queued, waiting for a worker */
    PLACE_IN_FLIGHT,  /* Queued, dispatched, waiting for accepted/declined */
    PLACE_RUNNING     /* Running */
} job_place_t;

typedef struct {
    char id[JOB_ID_SIZE];
    char cid[sizeof (((proto_msg_t *) 0)->cid)];
    char *spec;  /* NUL-terminated copy, spec_len bytes before the NUL */
    size_t spec_len;
    char title[sizeof (((proto_msg_t *) 0)->title)];
    char idem_key[sizeof (((proto_msg_t *) 0)->idem_key)];
    char worker[sizeof (((proto_msg_t *) 0)->worker)]; /* running it, or last */

    job_status_t status;
    int32_t attempt;
    uint64_t seq;  /* the job's latest event number */
    step_t step;   /* current or last step */
    step_status_t steps[STEP_COUNT];
    char phase[sizeof (((proto_msg_t *) 0)->phase)];
    double percent;  /* never decreases within one attempt */

    int64_t created_us;
    int64_t started_us;
    int64_t finished_us;

    char code[sizeof (((proto_msg_t *) 0)->code)];
    char message[sizeof (((proto_msg_t *) 0)->message)];

    proto_artifact_t artifacts[PROTO_MAX_ARTIFACTS];
    size_t artifact_count;
    char output_video[sizeof (((proto_msg_t *) 0)->output_video)];
    char output_subtitle[sizeof (((proto_msg_t *) 0)->output_subtitle)];
    int64_t output_size_bytes;
    double output_duration_s;

    bool cancel_requested;  /* a cancel went to the running attempt */
    bool restored;  /* Queued, read back from the journal, not yet dispatched */
    bool leased;    /* Running and held by `worker` (false while a job read
                       back from the journal waits for its worker's claim) */
    int64_t claim_deadline_mono_us;

    job_place_t place;
    void *handle;  /* the job's node in the queue, in-flight or running list */
    int64_t dispatched_mono_us;
    void *changed_handle;  /* node in the changed list, NULL when unchanged */
} job_t;

struct _jobs_t {
    zhashx_t *by_id;     /* id → job_t, owns the jobs */
    zhashx_t *by_idem;   /* idempotency key → newest job_t with it */
    zlistx_t *queue;     /* job_t, head leaves first */
    zlistx_t *in_flight; /* job_t, oldest dispatch first */
    zlistx_t *running;   /* job_t */
    zlistx_t *changed;   /* job_t changed since jobs_pop_changed took it */
    job_t **order;       /* every job, ascending id */
    size_t order_len;
    size_t order_cap;
};

static void
s_copy (char *dst, size_t dst_size, const char *src)
{
    snprintf (dst, dst_size, "%s", src ? src : "");
}

static void
s_job_destroy (job_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->spec);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_job_destructor (void **item)
{
    s_job_destroy ((job_t **) item);
}

void
jobs_out_init (jobs_out_t *out)
{
    assert (out);
    out->count = 0;
}

void
jobs_out_reset (jobs_out_t *out)
{
    assert (out);
    for (size_t i = 0; i < out->count; i++)
        proto_msg_reset (&out->msg[i]);
    out->count = 0;
}

/*  The next free message of out. Running out is a programmer error: no
    change produces more than JOBS_OUT_MAX messages. */
static proto_msg_t *
s_out_next (jobs_out_t *out)
{
    assert (out->count < JOBS_OUT_MAX);
    return &out->msg[out->count++];
}

jobs_t *
jobs_new (void)
{
    jobs_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->by_id = zhashx_new ();
    self->by_idem = zhashx_new ();
    self->queue = zlistx_new ();
    self->in_flight = zlistx_new ();
    self->running = zlistx_new ();
    self->changed = zlistx_new ();
    if (!self->by_id || !self->by_idem || !self->queue || !self->in_flight
        || !self->running || !self->changed) {
        jobs_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->by_id, s_job_destructor);
    return self;
}

void
jobs_destroy (jobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    jobs_t *self = *self_p;
    /* The lists hold borrowed pointers: empty them before the hash frees. */
    zlistx_destroy (&self->changed);
    zlistx_destroy (&self->running);
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->in_flight);
    zhashx_destroy (&self->by_idem);
    free (self->order);
    zhashx_destroy (&self->by_id);
    free (self);
    *self_p = NULL;
}

size_t
jobs_size (jobs_t *self)
{
    assert (self);
    return zhashx_size (self->by_id);
}

size_t
jobs_queued (jobs_t *self)
{
    assert (self);
    return zlistx_size (self->queue);
}

size_t
jobs_in_flight (jobs_t *self)
{
    assert (self);
    return zlistx_size (self->in_flight);
}

size_t
jobs_running (jobs_t *self)
{
    assert (self);
    return zlistx_size (self->running);
}

void
jobs_count_by_status (jobs_t *self, size_t counts[JOB_STATUS_COUNT])
{
    assert (self);
    for (int i = 0; i < JOB_STATUS_COUNT; i++)
        counts[i] = 0;
    for (job_t *job = zhashx_first (self->by_id); job; job = zhashx_next (self->by_id))
        if ((int) job->status >= 0 && job->status < JOB_STATUS_COUNT)
            counts[job->status]++;
}

static job_t *
s_lookup (jobs_t *self, const char *id)
{
    return id ? zhashx_lookup (self->by_id, id) : NULL;
}

/*  Notes that the journal's copy of the job is out of date. */
static void
s_changed (jobs_t *self, job_t *job)
{
    if (!job->changed_handle)
        job->changed_handle = zlistx_add_end (self->changed, job);
}

/*  Index of the first job in the id order whose id is not below id. */
static size_t
s_order_lower_bound (jobs_t *self, const char *id)
{
    size_t lo = 0, hi = self->order_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp (self->order[mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  Adds the job to the id order. Ids grow with time, so this is nearly
    always an append. Returns 0 or -ENOMEM. */
static int
s_order_insert (jobs_t *self, job_t *job)
{
    if (self->order_len == self->order_cap) {
        size_t cap = self->order_cap ? self->order_cap * 2 : 256;
        job_t **order = realloc (self->order, cap * sizeof *order);
        if (!order)
            return -ENOMEM;
        self->order = order;
        self->order_cap = cap;
    }
    size_t at = self->order_len;
    if (at > 0 && strcmp (self->order[at - 1]->id, job->id) > 0) {
        at = s_order_lower_bound (self, job->id);
        memmove (&self->order[at + 1], &self->order[at],
                 (self->order_len - at) * sizeof *self->order);
    }
    self->order[at] = job;
    self->order_len++;
    return 0;
}

static void
s_order_remove (jobs_t *self, const job_t *job)
{
    size_t at = s_order_lower_bound (self, job->id);
    if (at < self->order_len && self->order[at] == job) {
        memmove (&self->order[at], &self->order[at + 1],
                 (self->order_len - at - 1) * sizeof *self->order);
        self->order_len--;
    }
}

/*  Takes the job off whichever list holds it. */
static void
s_unplace (jobs_t *self, job_t *job)
{
    if (job->place == PLACE_QUEUE)
        zlistx_delete (self->queue, job->handle);
    else if (job->place == PLACE_IN_FLIGHT)
        zlistx_delete (self->in_flight, job->handle);
    else if (job->place == PLACE_RUNNING)
        zlistx_delete (self->running, job->handle);
    job->place = PLACE_NONE;
    job->handle = NULL;
}

/*  Moves the job to the given list (at its head or tail). Returns 0 or
    -ENOMEM (the job is then on no list, which only a failed allocation
    can cause). */
static int
s_place (jobs_t *self, job_t *job, job_place_t place, bool at_head)
{
    s_unplace (self, job);
    zlistx_t *list = place == PLACE_QUEUE       ? self->queue
                     : place == PLACE_IN_FLIGHT ? self->in_flight
                                                : self->running;
    job->handle = at_head ? zlistx_add_start (list, job)
                          : zlistx_add_end (list, job);
    if (!job->handle)
        return -ENOMEM;
    job->place = place;
    return 0;
}

/*  1-based position of a queued job, or -1 when it is not in the queue. */
static int32_t
s_queue_position (jobs_t *self, const job_t *job)
{
    if (job->place != PLACE_QUEUE)
        return -1;
    /* the common answers (a submit joins the tail, a re-queue the head)
       without walking a long queue */
    if (zlistx_head (self->queue) == job)
        return 1;
    if (zlistx_tail (self->queue) == job)
        return (int32_t) zlistx_size (self->queue);
    int32_t position = 1;
    for (job_t *item = zlistx_first (self->queue); item;
         item = zlistx_next (self->queue)) {
        if (item == job)
            return position;
        position++;
    }
    return -1;
}

/*  Clamps a reported percent to 0..100; NaN counts as 0. */
static double
s_clamp_percent (double percent)
{
    if (!(percent >= 0.0))
        return 0.0;
    return percent > 100.0 ? 100.0 : percent;
}

static void
s_raise_percent (job_t *job, double percent)
{
    percent = s_clamp_percent (percent);
    if (percent > job->percent)
        job->percent = percent;
}

/*  Starts an event of the job with its next seq. */
static void
s_event_init (job_t *job, proto_msg_t *event, proto_event_kind_t kind,
              int64_t now_us)
{
    proto_msg_init (event, PROTO_EVENT);
    event->kind = kind;
    event->ts_us = now_us;
    s_copy (event->job, sizeof event->job, job->id);
    s_copy (event->cid, sizeof event->cid, job->cid);
    event->attempt = job->attempt;
    event->seq = ++job->seq;
}

/*  Fills the job-status event of the job's current state. */
static void
s_status_event (jobs_t *self, job_t *job, proto_msg_t *event, int64_t now_us)
{
    s_event_init (job, event, EVENT_JOB_STATUS, now_us);
    event->status = job->status;
    event->step = job->step;
    s_copy (event->phase, sizeof event->phase, job->phase);
    event->percent = job->percent;
    if (job->status == JOB_QUEUED)
        event->queue_position = s_queue_position (self, job);
}

static void
s_warning_event (job_t *job, proto_msg_t *event, const char *code,
                 const char *message, int64_t now_us)
{
    s_event_init (job, event, EVENT_WARNING, now_us);
    s_copy (event->code, sizeof event->code, code);
    s_copy (event->message, sizeof event->message, message);
}

/*  A cancel of one attempt of the job, for topic ctl.cancel.<id>. */
static void
s_cancel_message (const job_t *job, int32_t attempt, proto_msg_t *cancel,
                  int64_t now_us)
{
    proto_msg_init (cancel, PROTO_CANCEL);
    cancel->ts_us = now_us;
    s_copy (cancel->job, sizeof cancel->job, job->id);
    s_copy (cancel->cid, sizeof cancel->cid, job->cid);
    cancel->attempt = attempt;
}

/*  Ends the job (off every list) with a terminal status. */
static void
s_finish (jobs_t *self, job_t *job, job_status_t status, int64_t now_us)
{
    s_unplace (self, job);
    job->status = status;
    job->finished_us = now_us;
}

/*  Starts the job's next attempt from its first unfinished step and puts
    it at the head or the tail of the queue. Returns 0 or -ENOMEM. */
static int
s_requeue_next_attempt (jobs_t *self, job_t *job, bool at_head)
{
    job->attempt++;
    job->status = JOB_QUEUED;
    step_t first = STEP_COUNT;
    for (int i = 0; i < STEP_COUNT; i++) {
        if (job->steps[i] != STEP_DONE && job->steps[i] != STEP_SKIPPED) {
            job->steps[i] = STEP_PENDING;
            if (first == STEP_COUNT)
                first = (step_t) i;
        }
    }
    if (first == STEP_COUNT) {
        job->step = STEP_RENDER;
        job->percent = step_range_hi (STEP_RENDER);
    }
    else {
        job->step = first;
        job->percent = step_range_lo (first);
    }
    s_copy (job->phase, sizeof job->phase, step_name (job->step));
    job->code[0] = '\0';
    job->message[0] = '\0';
    job->worker[0] = '\0';
    job->leased = false;
    job->restored = false;
    job->cancel_requested = false;
    s_changed (self, job);
    return s_place (self, job, PLACE_QUEUE, at_head);
}

/*  Ends a job its worker can no longer finish, or whose dispatch no worker
    answered: what the worker was doing is cancelled, then the job ends
    Canceled (a cancel was pending), fails (no attempts left) or is queued
    again at the head as the next attempt. `what` says what happened
    ("worker w1 lost attempt 2: its lease expired"). */
static int
s_lose (jobs_t *self, job_t *job, const char *what, int32_t max_attempts,
        int64_t now_us, jobs_out_t *out)
{
    char message[sizeof (((proto_msg_t *) 0)->message)];
    s_cancel_message (job, job->attempt, s_out_next (out), now_us);
    if (job->status == JOB_RUNNING && job->steps[job->step] == STEP_RUNNING)
        job->steps[job->step] = job->cancel_requested ? STEP_CANCELED
                                                      : STEP_FAILED;
    s_changed (self, job);

    if (job->cancel_requested) {
        s_finish (self, job, JOB_CANCELED, now_us);
        s_status_event (self, job, s_out_next (out), now_us);
        proto_msg_t *cancelled = s_out_next (out);
        s_event_init (job, cancelled, EVENT_JOB_CANCELLED, now_us);
        cancelled->step = job->step;
        return 0;
    }
    if (job->attempt >= max_attempts) {
        snprintf (message, sizeof message, "%s; no attempts left (%d of %d)",
                  what, (int) job->attempt, (int) max_attempts);
        s_copy (job->code, sizeof job->code, JOBS_CODE_WORKER_LOST);
        s_copy (job->message, sizeof job->message, message);
        proto_msg_t *error = s_out_next (out);
        s_event_init (job, error, EVENT_ERROR, now_us);
        s_copy (error->code, sizeof error->code, job->code);
        s_copy (error->message, sizeof error->message, message);
        error->step = job->step;
        error->retryable = true;
        s_finish (self, job, JOB_FAILED, now_us);
        s_status_event (self, job, s_out_next (out), now_us);
        proto_msg_t *failed = s_out_next (out);
        s_event_init (job, failed, EVENT_JOB_FAILED, now_us);
        failed->step = job->step;
        s_copy (failed->code, sizeof failed->code, job->code);
        s_copy (failed->message, sizeof failed->message, message);
        return 0;
    }
    int rc = s_requeue_next_attempt (self, job, true);
    if (rc != 0)
        return rc;
    snprintf (message, sizeof message, "%s; queued again as attempt %d",
              what, (int) job->attempt);
    s_warning_event (job, s_out_next (out), JOBS_CODE_WORKER_LOST, message,
                     now_us);
    s_status_event (self, job, s_out_next (out), now_us);
    return 0;
}

int
jobs_submit (jobs_t *self, const char *id, const char *cid, const char *spec,
             size_t spec_len, const char *title, const char *idem_key,
             int64_t now_us, proto_msg_t *status)
{
    assert (self);
    assert (status);
    proto_msg_init (status, PROTO_NONE);
    if (!id || !job_id_valid (id, strlen (id)) || !spec || spec_len == 0)
        return -EINVAL;
    if (spec_len > PROTO_MAX_SPEC_BYTES)
        return -EMSGSIZE;
    if (zhashx_lookup (self->by_id, id))
        return -EEXIST;

    job_t *job = calloc (1, sizeof *job);
    if (!job)
        return -ENOMEM;
    job->spec = malloc (spec_len + 1);
    if (!job->spec) {
        s_job_destroy (&job);
        return -ENOMEM;
    }
    memcpy (job->spec, spec, spec_len);
    job->spec[spec_len] = '\0';
    job->spec_len = spec_len;
    s_copy (job->id, sizeof job->id, id);
    s_copy (job->cid, sizeof job->cid, cid);
    s_copy (job->title, sizeof job->title, title);
    s_copy (job->idem_key, sizeof job->idem_key, idem_key);
    job->status = JOB_QUEUED;
    job->attempt = 1;
    job->step = STEP_PLAN;
    s_copy (job->phase, sizeof job->phase, step_name (STEP_PLAN));
    job->created_us = now_us;

    if (s_order_insert (self, job) != 0) {
        s_job_destroy (&job);
        return -ENOMEM;
    }
    if (zhashx_insert (self->by_id, job->id, job) != 0) {
        s_order_remove (self, job);
        s_job_destroy (&job);
        return -ENOMEM;
    }
    if (s_place (self, job, PLACE_QUEUE, false) != 0) {
        s_order_remove (self, job);
        zhashx_delete (self->by_id, id);  /* frees the job */
        return -ENOMEM;
    }
    if (job->idem_key[0])
        zhashx_update (self->by_idem, job->idem_key, job);
    s_changed (self, job);
    s_status_event (self, job, status, now_us);
    return 0;
}

int
jobs_find_idem (jobs_t *self, const char *key, int64_t now_us,
                char id_out[JOB_ID_SIZE])
{
    assert (self);
    if (!key || !*key)
        return -ENOENT;
    job_t *job = zhashx_lookup (self->by_idem, key);
    if (!job || job->created_us < now_us - JOBS_IDEM_WINDOW_US)
        return -ENOENT;
    memcpy (id_out, job->id, JOB_ID_SIZE);
    return 0;
}

/*  Fills a PROTO_JOB with the job's state; the queue position costs a walk
    of the queue, so only answers ask for it. */
static void
s_fill_snapshot (jobs_t *self, const job_t *job, proto_msg_t *snapshot,
                 bool with_position)
{
    proto_msg_init (snapshot, PROTO_JOB);
    s_copy (snapshot->job, sizeof snapshot->job, job->id);
    snapshot->status = job->status;
    s_copy (snapshot->phase, sizeof snapshot->phase, job->phase);
    snapshot->percent = job->percent;
    snapshot->attempt = job->attempt;
    snapshot->seq = job->seq;
    snapshot->step = job->step;
    memcpy (snapshot->steps, job->steps, sizeof snapshot->steps);
    snapshot->created_us = job->created_us;
    snapshot->started_us = job->started_us;
    snapshot->finished_us = job->finished_us;
    if (with_position)
        snapshot->queue_position = s_queue_position (self, job);
    s_copy (snapshot->code, sizeof snapshot->code, job->code);
    s_copy (snapshot->message, sizeof snapshot->message, job->message);
    s_copy (snapshot->title, sizeof snapshot->title, job->title);
    s_copy (snapshot->worker, sizeof snapshot->worker, job->worker);
    memcpy (snapshot->artifacts, job->artifacts,
            job->artifact_count * sizeof job->artifacts[0]);
    snapshot->artifact_count = job->artifact_count;
    s_copy (snapshot->output_video, sizeof snapshot->output_video,
            job->output_video);
    s_copy (snapshot->output_subtitle, sizeof snapshot->output_subtitle,
            job->output_subtitle);
    snapshot->output_size_bytes = job->output_size_bytes;
    snapshot->output_duration_s = job->output_duration_s;
}

int
jobs_snapshot (jobs_t *self, const char *id, proto_msg_t *snapshot)
{
    assert (self);
    assert (snapshot);
    proto_msg_init (snapshot, PROTO_JOB);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    s_fill_snapshot (self, job, snapshot, true);
    return 0;
}

int
jobs_list (jobs_t *self, int status, const char *before, size_t limit,
           char (*ids)[JOB_ID_SIZE], size_t *count, bool *more)
{
    assert (self);
    assert (count);
    assert (more);
    *count = 0;
    *more = false;
    size_t at = before && *before ? s_order_lower_bound (self, before)
                                  : self->order_len;
    while (at > 0) {
        const job_t *job = self->order[--at];
        if (status >= 0 && (int) job->status != status)
            continue;
        if (*count == limit) {
            *more = true;
            break;
        }
        memcpy (ids[(*count)++], job->id, JOB_ID_SIZE);
    }
    return 0;
}

int
jobs_dispatch_next (jobs_t *self, int64_t mono_us, proto_msg_t *dispatch)
{
    assert (self);
    assert (dispatch);
    proto_msg_init (dispatch, PROTO_DISPATCH);
    job_t *job = zlistx_head (self->queue);
    if (!job)
        return -ENOENT;

    s_copy (dispatch->job, sizeof dispatch->job, job->id);
    s_copy (dispatch->cid, sizeof dispatch->cid, job->cid);
    dispatch->attempt = job->attempt;
    memcpy (dispatch->steps, job->steps, sizeof dispatch->steps);
    int rc = proto_msg_set_spec (dispatch, job->spec, job->spec_len);
    if (rc != 0)
        return rc;

    if (s_place (self, job, PLACE_IN_FLIGHT, false) != 0) {
        s_place (self, job, PLACE_QUEUE, true);
        return -ENOMEM;
    }
    job->restored = false;
    job->dispatched_mono_us = mono_us;
    return 0;
}

int
jobs_dispatch_undo (jobs_t *self, const char *id)
{
    assert (self);
    job_t *job = s_lookup (self, id);
    if (!job || job->place != PLACE_IN_FLIGHT)
        return -ENOENT;
    return s_place (self, job, PLACE_QUEUE, true);
}

/*  The job starts running on `worker`. */
static int
s_start_running (jobs_t *self, job_t *job, const char *worker,
                 int64_t now_us, jobs_out_t *out)
{
    int rc = s_place (self, job, PLACE_RUNNING, false);
    if (rc != 0)
        return rc;
    job->status = JOB_RUNNING;
    job->restored = false;
    job->leased = true;
    s_copy (job->worker, sizeof job->worker, worker);
    if (job->started_us == 0)
        job->started_us = now_us;
    s_changed (self, job);
    s_status_event (self, job, s_out_next (out), now_us);
    return 0;
}

/*  True when `attempt` of the job will never run to an end that counts:
    another attempt is current, or the job ended with this one. */
static bool
s_attempt_over (const job_t *job, int32_t attempt)
{
    return attempt < job->attempt
           || (attempt == job->attempt && job_status_is_terminal (job->status));
}

int
jobs_accept (jobs_t *self, const char *id, int32_t attempt,
             const char *worker, int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    if (s_attempt_over (job, attempt)) {
        s_cancel_message (job, attempt, s_out_next (out), now_us);
        return -ESTALE;
    }
    if (attempt != job->attempt)
        return -ESTALE;
    if (job->place != PLACE_IN_FLIGHT
        && !(job->place == PLACE_QUEUE && job->restored))
        return -EALREADY;
    return s_start_running (self, job, worker, now_us, out);
}

int
jobs_decline (jobs_t *self, const char *id, int32_t attempt, bool shutdown,
              const char *worker, int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    if (attempt != job->attempt)
        return -ESTALE;
    if (job->place == PLACE_IN_FLIGHT)
        return s_place (self, job, PLACE_QUEUE, true);
    if (job->status != JOB_RUNNING || !shutdown)
        return -EALREADY;

    if (job->cancel_requested) {
        if (job->steps[job->step] == STEP_RUNNING)
            job->steps[job->step] = STEP_CANCELED;
        s_finish (self, job, JOB_CANCELED, now_us);
        s_changed (self, job);
        s_status_event (self, job, s_out_next (out), now_us);
        proto_msg_t *cancelled = s_out_next (out);
        s_event_init (job, cancelled, EVENT_JOB_CANCELLED, now_us);
        cancelled->step = job->step;
        return 0;
    }
    int rc = s_requeue_next_attempt (self, job, true);
    if (rc != 0)
        return rc;
    char message[256];
    snprintf (message, sizeof message,
              "worker %s shut down during attempt %d; the job is queued again "
              "as attempt %d",
              worker && *worker ? worker : "?", (int) attempt,
              (int) job->attempt);
    s_warning_event (job, s_out_next (out), JOBS_CODE_WORKER_SHUTDOWN,
                     message, now_us);
    s_status_event (self, job, s_out_next (out), now_us);
    return 0;
}

int
jobs_cancel (jobs_t *self, const char *id, int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    switch (job->status) {
    case JOB_QUEUED:
        /* a dispatched job may already sit with a worker: stop it there */
        if (job->place == PLACE_IN_FLIGHT)
            s_cancel_message (job, job->attempt, s_out_next (out), now_us);
        s_finish (self, job, JOB_CANCELED, now_us);
        s_changed (self, job);
        s_status_event (self, job, s_out_next (out), now_us);
        proto_msg_t *cancelled = s_out_next (out);
        s_event_init (job, cancelled, EVENT_JOB_CANCELLED, now_us);
        cancelled->step = job->step;
        return 0;
    case JOB_RUNNING:
        if (!job->cancel_requested) {
            job->cancel_requested = true;
            s_changed (self, job);
        }
        s_cancel_message (job, job->attempt, s_out_next (out), now_us);
        return 0;
    case JOB_CANCELED:
        return 0;
    default:
        return -EALREADY;
    }
}

int
jobs_retry (jobs_t *self, const char *id, int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    if (job->status != JOB_FAILED && job->status != JOB_CANCELED)
        return -EALREADY;
    job->finished_us = 0;
    job->artifact_count = 0;
    job->output_video[0] = '\0';
    job->output_subtitle[0] = '\0';
    job->output_size_bytes = 0;
    job->output_duration_s = 0;
    int rc = s_requeue_next_attempt (self, job, false);
    if (rc != 0)
        return rc;
    s_status_event (self, job, s_out_next (out), now_us);
    return 0;
}

int
jobs_expire_dispatch (jobs_t *self, int64_t deadline_mono_us,
                      int32_t max_attempts, int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = zlistx_head (self->in_flight);
    if (!job || job->dispatched_mono_us >= deadline_mono_us)
        return -ENOENT;
    char what[128];
    snprintf (what, sizeof what,
              "no worker answered the dispatch of attempt %d",
              (int) job->attempt);
    return s_lose (self, job, what, max_attempts, now_us, out);
}

/*  True when keep[0..count) names this attempt of the job. */
static bool
s_named (const job_t *job, const proto_running_t *keep, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (keep[i].attempt == job->attempt
            && strncmp (keep[i].job, job->id, JOB_ID_SIZE) == 0)
            return true;
    return false;
}

int
jobs_lose_worker (jobs_t *self, const char *worker,
                  const proto_running_t *keep, size_t keep_count,
                  const char *why, int32_t max_attempts, int64_t now_us,
                  jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    if (!worker || !*worker)
        return -ENOENT;
    for (job_t *job = zlistx_first (self->running); job;
         job = zlistx_next (self->running)) {
        if (!job->leased || strcmp (job->worker, worker) != 0
            || s_named (job, keep, keep_count))
            continue;
        char what[256];
        snprintf (what, sizeof what, "worker %s lost attempt %d: %s", worker,
                  (int) job->attempt, why ? why : "its lease expired");
        /* the list changes under the cursor: one job per call */
        return s_lose (self, job, what, max_attempts, now_us, out);
    }
    return -ENOENT;
}

int
jobs_claim (jobs_t *self, const char *id, int32_t attempt, const char *worker,
            int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    if (s_attempt_over (job, attempt)) {
        s_cancel_message (job, attempt, s_out_next (out), now_us);
        return -ESTALE;
    }
    if (attempt != job->attempt || !worker || !*worker)
        return -EALREADY;
    if (job->status == JOB_RUNNING) {
        if (!job->leased) {
            job->leased = true;
            s_copy (job->worker, sizeof job->worker, worker);
            s_changed (self, job);
            return 0;
        }
        return strcmp (job->worker, worker) == 0 ? 0 : -EALREADY;
    }
    if (job->place == PLACE_QUEUE && job->restored)
        return s_start_running (self, job, worker, now_us, out);
    return -EALREADY;
}

int
jobs_expire_claims (jobs_t *self, int64_t now_mono_us, int32_t max_attempts,
                    int64_t now_us, jobs_out_t *out)
{
    assert (self);
    assert (out);
    jobs_out_init (out);
    for (job_t *job = zlistx_first (self->running); job;
         job = zlistx_next (self->running)) {
        if (job->leased || job->claim_deadline_mono_us >= now_mono_us)
            continue;
        char what[128];
        snprintf (what, sizeof what,
                  "no worker claimed attempt %d after the broker restarted",
                  (int) job->attempt);
        return s_lose (self, job, what, max_attempts, now_us, out);
    }
    return -ENOENT;
}

static bool
s_step_valid (step_t step)
{
    return (unsigned) step < (unsigned) STEP_COUNT;
}

/*  Checks what a worker's event names before anything changes. */
static int
s_event_valid (const proto_msg_t *event)
{
    switch (event->kind) {
    case EVENT_STEP_STATUS:
        if (!s_step_valid (event->step)
            || (unsigned) event->step_status >= (unsigned) STEP_STATUS_COUNT)
            return -EINVAL;
        return 0;
    case EVENT_STEP_PROGRESS:
    case EVENT_JOB_FAILED:
    case EVENT_JOB_CANCELLED:
        return s_step_valid (event->step) ? 0 : -EINVAL;
    case EVENT_WARNING:
    case EVENT_ERROR:
    case EVENT_JOB_COMPLETED:
        return event->artifact_count <= PROTO_MAX_ARTIFACTS ? 0 : -EINVAL;
    default:
        /* job-status is the broker's own; anything else is not an event */
        return -EINVAL;
    }
}

static void
s_set_error (job_t *job, const char *code, const char *message)
{
    if (code && *code) {
        s_copy (job->code, sizeof job->code, code);
        s_copy (job->message, sizeof job->message, message);
    }
}

int
jobs_apply_event (jobs_t *self, proto_msg_t *event, int64_t now_us,
                  jobs_out_t *out)
{
    assert (self);
    assert (event);
    assert (out);
    jobs_out_init (out);
    if (event->type != PROTO_EVENT || s_event_valid (event) != 0)
        return -EINVAL;
    job_t *job = zhashx_lookup (self->by_id, event->job);
    if (!job)
        return -ENOENT;
    if (event->attempt != job->attempt)
        return -ESTALE;
    if (job->status != JOB_RUNNING)
        return -EALREADY;

    if (!job->leased && event->worker[0]) {
        job->leased = true;
        s_copy (job->worker, sizeof job->worker, event->worker);
    }
    switch (event->kind) {
    case EVENT_STEP_STATUS:
        job->steps[event->step] = event->step_status;
        if (event->step_status == STEP_RUNNING) {
            job->step = event->step;
            s_copy (job->phase, sizeof job->phase, step_name (event->step));
            s_raise_percent (job, step_range_lo (event->step));
        }
        else if (event->step_status == STEP_DONE
                 || event->step_status == STEP_SKIPPED)
            s_raise_percent (job, step_range_hi (event->step));
        break;
    case EVENT_STEP_PROGRESS:
        job->step = event->step;
        if (job->steps[event->step] == STEP_PENDING)
            job->steps[event->step] = STEP_RUNNING;
        s_copy (job->phase, sizeof job->phase,
                event->phase[0] ? event->phase : step_name (event->step));
        s_raise_percent (job, event->percent);
        event->percent = job->percent;
        break;
    case EVENT_ERROR:
        s_set_error (job, event->code, event->message);
        break;
    case EVENT_JOB_COMPLETED:
        s_finish (self, job, JOB_DONE, now_us);
        /* A worker completes a job only once every step is done or
           skipped. A step still shown otherwise had its report lost on
           the way (messages the broker had read but not handled when it
           died): the job's state says what happened all the same. */
        for (int i = 0; i < STEP_COUNT; i++)
            if (job->steps[i] != STEP_SKIPPED)
                job->steps[i] = STEP_DONE;
        job->percent = 100.0;
        s_copy (job->phase, sizeof job->phase, "complete");
        job->code[0] = '\0';
        job->message[0] = '\0';
        memcpy (job->artifacts, event->artifacts,
                event->artifact_count * sizeof event->artifacts[0]);
        job->artifact_count = event->artifact_count;
        s_copy (job->output_video, sizeof job->output_video,
                event->output_video);
        s_copy (job->output_subtitle, sizeof job->output_subtitle,
                event->output_subtitle);
        job->output_size_bytes = event->output_size_bytes;
        job->output_duration_s = event->output_duration_s;
        break;
    case EVENT_JOB_FAILED:
        s_finish (self, job, JOB_FAILED, now_us);
        job->step = event->step;
        if (job->steps[event->step] == STEP_RUNNING)
            job->steps[event->step] = STEP_FAILED;
        s_set_error (job, event->code, event->message);
        break;
    case EVENT_JOB_CANCELLED:
        s_finish (self, job, JOB_CANCELED, now_us);
        job->step = event->step;
        if (job->steps[event->step] == STEP_RUNNING)
            job->steps[event->step] = STEP_CANCELED;
        break;
    default:
        break;
    }

    if (proto_event_is_terminal (event->kind))
        s_status_event (self, job, s_out_next (out), now_us);
    if (event->ts_us <= 0)
        event->ts_us = now_us;
    event->seq = ++job->seq;
    s_changed (self, job);
    return 0;
}

int
jobs_restore (jobs_t *self, const job_record_t *record,
              int64_t claim_deadline_mono_us)
{
    assert (self);
    assert (record);
    const proto_msg_t *snap = &record->snapshot;
    if (snap->type != PROTO_JOB || !job_id_valid (snap->job, strlen (snap->job))
        || (unsigned) snap->status >= (unsigned) JOB_STATUS_COUNT
        || !s_step_valid (snap->step) || snap->attempt < 1 || !record->spec
        || record->spec_len == 0 || record->spec_len > PROTO_MAX_SPEC_BYTES
        || snap->artifact_count > PROTO_MAX_ARTIFACTS)
        return -EINVAL;
    for (int i = 0; i < STEP_COUNT; i++)
        if ((unsigned) snap->steps[i] >= (unsigned) STEP_STATUS_COUNT)
            return -EINVAL;
    if (zhashx_lookup (self->by_id, snap->job))
        return -EEXIST;

    job_t *job = calloc (1, sizeof *job);
    if (!job)
        return -ENOMEM;
    job->spec = malloc (record->spec_len + 1);
    if (!job->spec) {
        s_job_destroy (&job);
        return -ENOMEM;
    }
    memcpy (job->spec, record->spec, record->spec_len);
    job->spec[record->spec_len] = '\0';
    job->spec_len = record->spec_len;
    s_copy (job->id, sizeof job->id, snap->job);
    s_copy (job->cid, sizeof job->cid, snap->cid);
    s_copy (job->title, sizeof job->title, snap->title);
    s_copy (job->idem_key, sizeof job->idem_key, record->idem_key);
    s_copy (job->worker, sizeof job->worker, snap->worker);
    job->status = snap->status;
    job->attempt = snap->attempt;
    job->seq = snap->seq;
    job->step = snap->step;
    memcpy (job->steps, snap->steps, sizeof job->steps);
    s_copy (job->phase, sizeof job->phase, snap->phase);
    job->percent = s_clamp_percent (snap->percent);
    job->created_us = snap->created_us;
    job->started_us = snap->started_us;
    job->finished_us = snap->finished_us;
    s_copy (job->code, sizeof job->code, snap->code);
    s_copy (job->message, sizeof job->message, snap->message);
    memcpy (job->artifacts, snap->artifacts,
            snap->artifact_count * sizeof snap->artifacts[0]);
    job->artifact_count = snap->artifact_count;
    s_copy (job->output_video, sizeof job->output_video, snap->output_video);
    s_copy (job->output_subtitle, sizeof job->output_subtitle,
            snap->output_subtitle);
    job->output_size_bytes = snap->output_size_bytes;
    job->output_duration_s = snap->output_duration_s;
    job->cancel_requested = record->cancel_requested;
    job->claim_deadline_mono_us = claim_deadline_mono_us;

    if (s_order_insert (self, job) != 0) {
        s_job_destroy (&job);
        return -ENOMEM;
    }
    if (zhashx_insert (self->by_id, job->id, job) != 0) {
        s_order_remove (self, job);
        s_job_destroy (&job);
        return -ENOMEM;
    }
    int rc = 0;
    if (job->status == JOB_QUEUED) {
        job->restored = true;
        rc = s_place (self, job, PLACE_QUEUE, false);
    }
    else if (job->status == JOB_RUNNING)
        rc = s_place (self, job, PLACE_RUNNING, false);
    if (rc != 0) {
        s_order_remove (self, job);
        zhashx_delete (self->by_id, snap->job);
        return rc;
    }
    if (job->idem_key[0])
        zhashx_update (self->by_idem, job->idem_key, job);
    return 0;
}

int
jobs_pop_changed (jobs_t *self, job_record_t *record)
{
    assert (self);
    assert (record);
    job_t *job = zlistx_first (self->changed);
    if (!job) {
        proto_msg_init (&record->snapshot, PROTO_NONE);
        return -ENOENT;
    }
    zlistx_delete (self->changed, job->changed_handle);
    job->changed_handle = NULL;
    s_fill_snapshot (self, job, &record->snapshot, false);
    /* the codec requires a cid; a job made without one keeps a marker */
    s_copy (record->snapshot.cid, sizeof record->snapshot.cid,
            job->cid[0] ? job->cid : "-");
    record->spec = job->spec;
    record->spec_len = job->spec_len;
    record->idem_key = job->idem_key;
    record->cancel_requested = job->cancel_requested;
    return 0;
}

int
jobs_forget (jobs_t *self, const char *id)
{
    assert (self);
    job_t *job = s_lookup (self, id);
    if (!job)
        return -ENOENT;
    if (!job_status_is_terminal (job->status))
        return -EBUSY;
    s_unplace (self, job);
    if (job->changed_handle) {
        zlistx_delete (self->changed, job->changed_handle);
        job->changed_handle = NULL;
    }
    if (job->idem_key[0] && zhashx_lookup (self->by_idem, job->idem_key) == job)
        zhashx_delete (self->by_idem, job->idem_key);
    s_order_remove (self, job);
    zhashx_delete (self->by_id, job->id);  /* frees the job */
    return 0;
}
