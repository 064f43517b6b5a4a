/*  jobs — the broker's job store and job state machine. Jobs live in a
    hash by id, which owns them; a job waiting for a worker is also on the
    queue, and a job sent to a worker but not yet answered is on the
    in-flight list (oldest dispatch first). */
#include "jobs.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Which list, if any, holds a job. */
typedef enum {
    PLACE_NONE = 0,  /* Running or finished */
    PLACE_QUEUE,     /* Queued, waiting for a worker */
    PLACE_IN_FLIGHT  /* Queued, dispatched, waiting for accepted/declined */
} job_place_t;

typedef struct {
    char id[JOB_ID_SIZE];
    char cid[sizeof (((proto_msg_t *) 0)->cid)];
    char *spec;  /* NUL-terminated copy, spec_len bytes before the NUL */
    size_t spec_len;

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

    job_place_t place;
    void *handle;  /* the job's node in the queue or the in-flight list */
    int64_t dispatched_mono_us;
} job_t;

struct _jobs_t {
    zhashx_t *by_id;     /* id → job_t, owns the jobs */
    zlistx_t *queue;     /* job_t, head leaves first */
    zlistx_t *in_flight; /* job_t, oldest dispatch first */
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

jobs_t *
jobs_new (void)
{
    jobs_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->by_id = zhashx_new ();
    self->queue = zlistx_new ();
    self->in_flight = zlistx_new ();
    if (!self->by_id || !self->queue || !self->in_flight) {
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
    zlistx_destroy (&self->queue);
    zlistx_destroy (&self->in_flight);
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

/*  Takes the job off whichever list holds it. */
static void
s_unplace (jobs_t *self, job_t *job)
{
    if (job->place == PLACE_QUEUE)
        zlistx_delete (self->queue, job->handle);
    else if (job->place == PLACE_IN_FLIGHT)
        zlistx_delete (self->in_flight, job->handle);
    job->place = PLACE_NONE;
    job->handle = NULL;
}

/*  Moves the job to the head of the queue. Returns 0 or -ENOMEM (the job
    is then on no list, which only a failed allocation can cause). */
static int
s_queue_at_head (jobs_t *self, job_t *job)
{
    s_unplace (self, job);
    job->handle = zlistx_add_start (self->queue, job);
    if (!job->handle)
        return -ENOMEM;
    job->place = PLACE_QUEUE;
    return 0;
}

/*  1-based position of a queued job, or -1 when it is not in the queue. */
static int32_t
s_queue_position (jobs_t *self, const job_t *job)
{
    if (job->place != PLACE_QUEUE)
        return -1;
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

/*  Starts the job's next attempt from its first unfinished step and puts
    it at the head of the queue. Returns 0 or -ENOMEM. */
static int
s_requeue_next_attempt (jobs_t *self, job_t *job)
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
    return s_queue_at_head (self, job);
}

int
jobs_submit (jobs_t *self, const char *id, const char *cid, const char *spec,
             size_t spec_len, int64_t now_us, proto_msg_t *status)
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
    job->status = JOB_QUEUED;
    job->attempt = 1;
    job->step = STEP_PLAN;
    s_copy (job->phase, sizeof job->phase, step_name (STEP_PLAN));
    job->created_us = now_us;

    job->handle = zlistx_add_end (self->queue, job);
    if (!job->handle) {
        s_job_destroy (&job);
        return -ENOMEM;
    }
    job->place = PLACE_QUEUE;
    if (zhashx_insert (self->by_id, job->id, job) != 0) {
        s_unplace (self, job);
        s_job_destroy (&job);
        return -ENOMEM;
    }
    s_status_event (self, job, status, now_us);
    return 0;
}

int
jobs_snapshot (jobs_t *self, const char *id, proto_msg_t *snapshot)
{
    assert (self);
    assert (snapshot);
    proto_msg_init (snapshot, PROTO_JOB);
    job_t *job = id ? zhashx_lookup (self->by_id, id) : NULL;
    if (!job)
        return -ENOENT;
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
    snapshot->queue_position = s_queue_position (self, job);
    s_copy (snapshot->code, sizeof snapshot->code, job->code);
    s_copy (snapshot->message, sizeof snapshot->message, job->message);
    memcpy (snapshot->artifacts, job->artifacts,
            job->artifact_count * sizeof job->artifacts[0]);
    snapshot->artifact_count = job->artifact_count;
    s_copy (snapshot->output_video, sizeof snapshot->output_video,
            job->output_video);
    s_copy (snapshot->output_subtitle, sizeof snapshot->output_subtitle,
            job->output_subtitle);
    snapshot->output_size_bytes = job->output_size_bytes;
    snapshot->output_duration_s = job->output_duration_s;
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

    s_unplace (self, job);
    job->handle = zlistx_add_end (self->in_flight, job);
    if (!job->handle) {
        s_queue_at_head (self, job);
        return -ENOMEM;
    }
    job->place = PLACE_IN_FLIGHT;
    job->dispatched_mono_us = mono_us;
    return 0;
}

int
jobs_dispatch_undo (jobs_t *self, const char *id)
{
    assert (self);
    job_t *job = id ? zhashx_lookup (self->by_id, id) : NULL;
    if (!job || job->place != PLACE_IN_FLIGHT)
        return -ENOENT;
    return s_queue_at_head (self, job);
}

int
jobs_accept (jobs_t *self, const char *id, int32_t attempt, int64_t now_us,
             proto_msg_t *status)
{
    assert (self);
    assert (status);
    proto_msg_init (status, PROTO_NONE);
    job_t *job = id ? zhashx_lookup (self->by_id, id) : NULL;
    if (!job)
        return -ENOENT;
    if (attempt != job->attempt)
        return -ESTALE;
    if (job->place != PLACE_IN_FLIGHT)
        return -EALREADY;

    s_unplace (self, job);
    job->status = JOB_RUNNING;
    if (job->started_us == 0)
        job->started_us = now_us;
    s_status_event (self, job, status, now_us);
    return 0;
}

int
jobs_decline (jobs_t *self, const char *id, int32_t attempt, bool shutdown,
              const char *worker, int64_t now_us, proto_msg_t *warning,
              proto_msg_t *status)
{
    assert (self);
    assert (warning);
    assert (status);
    proto_msg_init (warning, PROTO_NONE);
    proto_msg_init (status, PROTO_NONE);
    job_t *job = id ? zhashx_lookup (self->by_id, id) : NULL;
    if (!job)
        return -ENOENT;
    if (attempt != job->attempt)
        return -ESTALE;
    if (job->place == PLACE_IN_FLIGHT)
        return s_queue_at_head (self, job);
    if (job->status != JOB_RUNNING || !shutdown)
        return -EALREADY;

    int rc = s_requeue_next_attempt (self, job);
    if (rc != 0)
        return rc;
    char message[256];
    snprintf (message, sizeof message,
              "worker %s shut down during attempt %d; the job is queued again "
              "as attempt %d",
              worker && *worker ? worker : "?", (int) attempt,
              (int) job->attempt);
    s_warning_event (job, warning, JOBS_WARNING_WORKER_SHUTDOWN, message,
                     now_us);
    s_status_event (self, job, status, now_us);
    return 0;
}

int
jobs_expire_dispatch (jobs_t *self, int64_t deadline_mono_us, int64_t now_us,
                      proto_msg_t *warning, proto_msg_t *status,
                      proto_msg_t *cancel)
{
    assert (self);
    assert (warning);
    assert (status);
    assert (cancel);
    proto_msg_init (warning, PROTO_NONE);
    proto_msg_init (status, PROTO_NONE);
    proto_msg_init (cancel, PROTO_NONE);
    job_t *job = zlistx_head (self->in_flight);
    if (!job || job->dispatched_mono_us >= deadline_mono_us)
        return -ENOENT;

    int32_t abandoned = job->attempt;
    int rc = s_requeue_next_attempt (self, job);
    if (rc != 0)
        return rc;
    proto_msg_init (cancel, PROTO_CANCEL);
    cancel->ts_us = now_us;
    s_copy (cancel->job, sizeof cancel->job, job->id);
    s_copy (cancel->cid, sizeof cancel->cid, job->cid);
    cancel->attempt = abandoned;

    char message[256];
    snprintf (message, sizeof message,
              "no worker answered the dispatch of attempt %d; the job is "
              "queued again as attempt %d",
              (int) abandoned, (int) job->attempt);
    s_warning_event (job, warning, JOBS_WARNING_DISPATCH_TIMEOUT, message,
                     now_us);
    s_status_event (self, job, status, now_us);
    return 0;
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

static void
s_finish (job_t *job, job_status_t status, int64_t now_us)
{
    job->status = status;
    job->finished_us = now_us;
}

int
jobs_apply_event (jobs_t *self, proto_msg_t *event, int64_t now_us,
                  proto_msg_t *status)
{
    assert (self);
    assert (event);
    assert (status);
    proto_msg_init (status, PROTO_NONE);
    if (event->type != PROTO_EVENT || s_event_valid (event) != 0)
        return -EINVAL;
    job_t *job = zhashx_lookup (self->by_id, event->job);
    if (!job)
        return -ENOENT;
    if (event->attempt != job->attempt)
        return -ESTALE;
    if (job->status != JOB_RUNNING)
        return -EALREADY;

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
        s_finish (job, JOB_DONE, now_us);
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
        s_finish (job, JOB_FAILED, now_us);
        job->step = event->step;
        if (job->steps[event->step] == STEP_RUNNING)
            job->steps[event->step] = STEP_FAILED;
        s_set_error (job, event->code, event->message);
        break;
    case EVENT_JOB_CANCELLED:
        s_finish (job, JOB_CANCELED, now_us);
        job->step = event->step;
        if (job->steps[event->step] == STEP_RUNNING)
            job->steps[event->step] = STEP_CANCELED;
        break;
    default:
        break;
    }

    if (proto_event_is_terminal (event->kind))
        s_status_event (self, job, status, now_us);
    if (event->ts_us <= 0)
        event->ts_us = now_us;
    event->seq = ++job->seq;
    return 0;
}
