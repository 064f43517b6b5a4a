/*  runner — a worker slot's thread, reused for each of the slot's jobs;
    see runner.h for the contract. */
#include "runner.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/*  Room the message queue starts with; it grows when a job makes messages
    faster than the main thread forwards them. */
#define RUNNER_QUEUE_INITIAL 64
/*  Most forwarded messages a runner keeps for reuse. A message is a
    10 KiB struct: allocating and freeing one per event let the thread's
    malloc arena grow and shrink with each burst, and the pages it gave
    back were faulted in again (a third of a worker's CPU per job). */
#define RUNNER_SPARE_MAX 64

struct _runner_t {
    /* set by runner_new, then only read */
    char worker[sizeof ((proto_msg_t *) 0)->worker];
    const pipeline_t *pipeline;
    pipeline_options_t options;
    zsock_t *outbox;                     /* PUSH to the inbox, borrowed; the thread's */
    pthread_t thread;

    pthread_mutex_t lock;                /* guards job_given, quit and the queue */
    pthread_cond_t wake;                 /* signalled when job_given or quit is set */
    bool job_given;                      /* a job waits or runs; the thread clears it */
    bool quit;                           /* the thread ends once idle */
    proto_msg_t **queue;                 /* messages for the main thread, in order:
                                            queue[queue_head .. queue_tail) */
    size_t queue_head;
    size_t queue_tail;
    size_t queue_size;                   /* entries allocated */
    proto_msg_t *spare[RUNNER_SPARE_MAX]; /* forwarded messages, for reuse */
    size_t spare_count;
    atomic_bool cancel_requested;
    atomic_bool interrupt_requested;

    /* the job: written by runner_start while the runner is idle, read by
       the thread while the job runs */
    char job[JOB_ID_SIZE];
    char cid[sizeof ((proto_msg_t *) 0)->cid];
    int attempt;
    char *spec;                          /* NUL-terminated copy */
    size_t spec_len;
    size_t spec_size;                    /* bytes allocated, kept for the next job */
    step_status_t prior[STEP_COUNT];     /* step statuses the dispatch carried */
    proto_msg_t *final;                  /* made up front: the last message can always be sent */

    /* touched by the thread only */
    step_t current;                      /* the step running */
    double fraction;                     /* highest fraction it reported */
};

typedef enum {
    OUTCOME_DONE,
    OUTCOME_STOPPED,
    OUTCOME_FAILED
} outcome_t;

/*  Length of the valid UTF-8 sequence that starts at s, or 0 when there is
    none (a stray byte, an overlong form, a surrogate). */
static size_t
s_utf8_sequence (const unsigned char *s)
{
    size_t len;
    uint32_t code_point, min;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, code_point = s[0] & 0x1Fu, min = 0x80;
    }
    else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, code_point = s[0] & 0x0Fu, min = 0x800;
    }
    else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, code_point = s[0] & 0x07u, min = 0x10000;
    }
    else
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        code_point = (code_point << 6) | (s[i] & 0x3Fu);
    }
    if (code_point < min || code_point > 0x10FFFF
        || (code_point >= 0xD800 && code_point <= 0xDFFF))
        return 0;
    return len;
}

/*  Copies text from a step into a message field: cut at a character
    boundary to fit, invalid bytes replaced by '?', because the broker
    rejects a body whose strings are not UTF-8. */
static void
s_copy_text (char *dest, size_t size, const char *src)
{
    size_t out = 0;
    const unsigned char *p = (const unsigned char *) (src ? src : "");
    while (*p) {
        size_t len = s_utf8_sequence (p);
        const unsigned char *from = len ? p : (const unsigned char *) "?";
        p += len ? len : 1;
        if (!len)
            len = 1;
        if (out + len >= size)
            break;
        memcpy (dest + out, from, len);
        out += len;
    }
    dest[out] = '\0';
}

static bool
s_stop_requested (runner_t *self)
{
    return atomic_load (&self->cancel_requested)
           || atomic_load (&self->interrupt_requested);
}

/*  Fills the fields every message of this job carries. */
static void
s_message_prepare (runner_t *self, proto_msg_t *msg, proto_type_t type,
                   proto_event_kind_t kind)
{
    proto_msg_init (msg, type);
    msg->kind = kind;
    msg->ts_us = proto_now_us ();
    msg->attempt = self->attempt;
    memcpy (msg->job, self->job, sizeof msg->job);
    memcpy (msg->cid, self->cid, sizeof msg->cid);
    memcpy (msg->worker, self->worker, sizeof msg->worker);
}

/*  Adds msg to the end of the queue. One entry stays free for the final
    message, which therefore always fits. Call with the lock held. Returns
    0, or -ENOMEM (the queue is unchanged). */
static int
s_queue_push (runner_t *self, proto_msg_t *msg, bool final)
{
    size_t count = self->queue_tail - self->queue_head;
    size_t needed = count + (final ? 1 : 2);
    if (needed > self->queue_size) {
        size_t size = self->queue_size * 2 > needed ? self->queue_size * 2 : needed;
        proto_msg_t **queue = realloc (self->queue, size * sizeof *queue);
        if (!queue)
            return -ENOMEM;
        self->queue = queue;
        self->queue_size = size;
    }
    if (self->queue_tail == self->queue_size) {
        memmove (self->queue, self->queue + self->queue_head,
                 count * sizeof *self->queue);
        self->queue_head = 0;
        self->queue_tail = count;
    }
    self->queue[self->queue_tail++] = msg;
    return 0;
}

/*  Hands msg to the worker's main thread, which then owns it: queues it,
    and wakes the main thread when the queue was empty (when it was not,
    the main thread has yet to empty it, and a wake-up is on its way).
    The final message is queued with job_given cleared, in one step, so
    that the main thread, which may give the runner its next job as soon
    as it has that message, never changes a job the thread still reads.
    On failure msg is freed and the message is lost, with a log line. */
static void
s_send (runner_t *self, proto_msg_t *msg, bool final)
{
    pthread_mutex_lock (&self->lock);
    bool was_empty = self->queue_head == self->queue_tail;
    int rc = s_queue_push (self, msg, final);
    if (final)
        self->job_given = false;
    pthread_mutex_unlock (&self->lock);
    if (rc < 0) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "job %s event lost: out of memory",
                   msg->type == PROTO_EVENT ? proto_event_kind_name (msg->kind)
                                            : proto_type_name (msg->type));
        runner_message_free (self, msg);
        return;
    }
    if (was_empty && zsock_send (self->outbox, "p", (void *) self) != 0)
        log_error ("runner cannot wake the worker's thread: inproc send failed");
}

/*  Returns a message to fill: a spare one, or a new one. Call with the
    lock held. */
static proto_msg_t *
s_message_take (runner_t *self)
{
    if (self->spare_count > 0)
        return self->spare[--self->spare_count];
    return malloc (sizeof (proto_msg_t));
}

/*  Returns a new event of this job, or NULL (logged) when out of memory. */
static proto_msg_t *
s_event_new (runner_t *self, proto_event_kind_t kind)
{
    pthread_mutex_lock (&self->lock);
    proto_msg_t *msg = s_message_take (self);
    pthread_mutex_unlock (&self->lock);
    if (!msg) {
        log_write (AURA_LOG_ERROR, self->cid, self->job,
                   "out of memory: %s event lost", proto_event_kind_name (kind));
        return NULL;
    }
    s_message_prepare (self, msg, PROTO_EVENT, kind);
    return msg;
}

static void
s_send_step_status (runner_t *self, step_t step, step_status_t status)
{
    proto_msg_t *msg = s_event_new (self, EVENT_STEP_STATUS);
    if (!msg)
        return;
    msg->step = step;
    msg->step_status = status;
    s_send (self, msg, false);
}

/*  The progress callback the steps get: stops them when asked, and turns
    each report into a step-progress event whose percentages never go
    back and stay inside the running step's range. */
static int
s_progress (void *ctx, step_t step, double fraction, const char *message,
            int eta_s)
{
    runner_t *self = ctx;
    if (s_stop_requested (self))
        return -ECANCELED;
    if (!message)
        return 0;
    if (step != self->current)
        log_write (AURA_LOG_WARN, self->cid, self->job,
                   "step %s reported progress as %s", step_name (self->current),
                   step_name (step));
    if (!(fraction >= 0)) /* NaN too */
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    if (fraction < self->fraction)
        fraction = self->fraction;
    self->fraction = fraction;

    proto_msg_t *msg = s_event_new (self, EVENT_STEP_PROGRESS);
    if (!msg)
        return 0;
    msg->step = self->current;
    s_copy_text (msg->phase, sizeof msg->phase, step_name (self->current));
    msg->step_percent = fraction * 100.0;
    msg->percent = step_overall_percent (self->current, fraction);
    s_copy_text (msg->message, sizeof msg->message, message);
    msg->eta_s = eta_s >= 0 ? eta_s : -1;
    s_send (self, msg, false);
    return 0;
}

/*  The warning callback the steps get: a warning event in the running
    step, which never fails the job. */
static void
s_warn (void *ctx, const char *code, const char *message)
{
    runner_t *self = ctx;
    proto_msg_t *msg = s_event_new (self, EVENT_WARNING);
    if (!msg)
        return;
    msg->step = self->current;
    s_copy_text (msg->code, sizeof msg->code, code && *code ? code : "Warning");
    s_copy_text (msg->message, sizeof msg->message, message ? message : "");
    s_send (self, msg, false);
}

/*  Makes the job's directory under the artifact root (and the root when it
    is missing) and writes its path into dir. Returns 0 or -errno. */
static int
s_make_artifact_dir (runner_t *self, char *dir, size_t dir_size)
{
    const char *root = self->options.artifact_root;
    if (!root[0]) {
        dir[0] = '\0';
        return 0;
    }
    if ((size_t) snprintf (dir, dir_size, "%s/%s", root, self->job) >= dir_size)
        return -ENAMETOOLONG;
    /* mkdir -p of the root, then the job's own directory */
    char path[PIPELINE_PATH_SIZE];
    snprintf (path, sizeof path, "%s", root);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (path, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir (path, 0755) != 0 && errno != EEXIST)
        return -errno;
    if (mkdir (dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/*  Sends the job-completed event, the final message of a finished job. */
static void
s_finish_completed (runner_t *self, const pipeline_output_t *output)
{
    proto_msg_t *msg = self->final;
    s_message_prepare (self, msg, PROTO_EVENT, EVENT_JOB_COMPLETED);
    for (size_t i = 0; i < output->artifact_count; i++) {
        const pipeline_artifact_t *a = &output->artifacts[i];
        if (proto_msg_add_artifact (msg, a->name, a->path, a->type,
                                    a->size_bytes) < 0)
            log_write (AURA_LOG_WARN, self->cid, self->job,
                       "artifact %s left out of the result", a->name);
    }
    s_copy_text (msg->output_video, sizeof msg->output_video, output->video_path);
    s_copy_text (msg->output_subtitle, sizeof msg->output_subtitle,
                 output->subtitle_path);
    msg->output_size_bytes = output->size_bytes > 0 ? output->size_bytes : 0;
    msg->output_duration_s = output->duration_s > 0 ? output->duration_s : 0;
}

static void
s_finish_failed (runner_t *self, step_t step, const pipeline_error_t *error)
{
    proto_msg_t *msg = s_event_new (self, EVENT_ERROR);
    if (msg) {
        msg->step = step;
        s_copy_text (msg->code, sizeof msg->code, error->code);
        s_copy_text (msg->message, sizeof msg->message, error->message);
        msg->retryable = error->retryable;
        s_send (self, msg, false);
    }
    s_send_step_status (self, step, STEP_FAILED);

    msg = self->final;
    s_message_prepare (self, msg, PROTO_EVENT, EVENT_JOB_FAILED);
    msg->step = step;
    s_copy_text (msg->code, sizeof msg->code, error->code);
    s_copy_text (msg->message, sizeof msg->message, error->message);
}

static void
s_finish_stopped (runner_t *self, step_t step)
{
    proto_msg_t *msg = self->final;
    if (atomic_load (&self->cancel_requested)) {
        s_send_step_status (self, step, STEP_CANCELED);
        s_message_prepare (self, msg, PROTO_EVENT, EVENT_JOB_CANCELLED);
        msg->step = step;
    }
    else {
        /* the broker puts the job back; its Running step becomes Pending */
        s_message_prepare (self, msg, PROTO_DECLINED, EVENT_NONE);
        snprintf (msg->code, sizeof msg->code, "Shutdown");
        snprintf (msg->message, sizeof msg->message,
                  "worker stopped during step %s", step_name (step));
    }
}

/*  Makes sure a failed step's error says something. */
static void
s_error_complete (pipeline_error_t *error, step_t step, int rc)
{
    if (error->code[0])
        return;
    char why[128];
    if (strerror_r (-rc, why, sizeof why) != 0)
        snprintf (why, sizeof why, "error %d", -rc);
    pipeline_error_set (error, "StepFailed", false, "step %s failed: %s",
                        step_name (step), why);
}

/*  Runs the job given to the runner and returns its final message, filled
    in and taken from self->final, for the caller to send. */
static proto_msg_t *
s_run_job (runner_t *self)
{
    char artifact_dir[PIPELINE_PATH_SIZE] = "";
    pipeline_input_t input = {
        .job_id = self->job,
        .attempt = self->attempt,
        .spec = self->spec,
        .spec_len = self->spec_len,
        .artifact_dir = artifact_dir,
        .options = &self->options,
        .warn = s_warn,
        .warn_ctx = self,
    };
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    pipeline_error_t error;
    memset (&error, 0, sizeof error);

    outcome_t outcome = OUTCOME_DONE;
    step_t step = STEP_PLAN;
    /* a directory costs a few file system calls per job: only pipelines
       that write files get one */
    int rc = self->pipeline->writes_files
                 ? s_make_artifact_dir (self, artifact_dir, sizeof artifact_dir)
                 : 0;
    if (rc < 0) {
        pipeline_error_set (&error, rc == -ENOSPC ? "DiskFull" : "StorageFailed",
                            true, "cannot create the job's directory under %s: %s",
                            self->options.artifact_root, strerror (-rc));
        outcome = OUTCOME_FAILED;
        step = STEP_COUNT; /* skip the steps */
    }
    bool rerun = false; /* an earlier step ran again: so do the later ones */
    for (; step < STEP_COUNT; step++) {
        bool done_before = self->prior[step] == STEP_DONE
                           || self->prior[step] == STEP_SKIPPED;
        if (done_before && !rerun
            && (!self->pipeline->ready || self->pipeline->ready (&input, step))) {
            s_send_step_status (self, step, STEP_SKIPPED);
            continue;
        }
        if (done_before) {
            rerun = true;
            log_write (AURA_LOG_WARN, self->cid, self->job,
                       "step %s was done in an earlier attempt but its output is gone: "
                       "running it again",
                       step_name (step));
        }
        if (s_stop_requested (self)) {
            outcome = OUTCOME_STOPPED;
            break;
        }
        self->current = step;
        self->fraction = 0;
        s_send_step_status (self, step, STEP_RUNNING);
        rc = self->pipeline->steps[step](&input, &output, s_progress, self,
                                         &error);
        if (rc == 0) {
            s_send_step_status (self, step, STEP_DONE);
            continue;
        }
        if (rc == -ECANCELED && s_stop_requested (self)) {
            outcome = OUTCOME_STOPPED;
            break;
        }
        s_error_complete (&error, step, rc);
        outcome = OUTCOME_FAILED;
        break;
    }

    if (outcome == OUTCOME_DONE && self->pipeline->collect) {
        step = STEP_RENDER; /* a failure to collect belongs to the last step */
        memset (&output, 0, sizeof output);
        rc = self->pipeline->collect (&input, &output);
        if (rc < 0) {
            pipeline_error_set (&error, "StorageFailed", true,
                                "cannot list the job's outputs: %s",
                                strerror (-rc));
            outcome = OUTCOME_FAILED;
        }
    }
    if (outcome == OUTCOME_DONE)
        s_finish_completed (self, &output);
    else if (outcome == OUTCOME_FAILED)
        s_finish_failed (self, step < STEP_COUNT ? step : STEP_PLAN, &error);
    else
        s_finish_stopped (self, step);

    proto_msg_t *final = self->final;
    self->final = NULL;
    return final;
}

/*  The slot's thread: waits for a job, runs it, sends its final message
    and is idle again. Ends when asked to quit while idle. */
static void *
s_runner_thread (void *arg)
{
    runner_t *self = arg;
    while (true) {
        pthread_mutex_lock (&self->lock);
        while (!self->job_given && !self->quit)
            pthread_cond_wait (&self->wake, &self->lock);
        bool job_given = self->job_given;
        pthread_mutex_unlock (&self->lock);
        if (!job_given)
            return NULL;

        s_send (self, s_run_job (self), true);
    }
}

runner_t *
runner_new (const pipeline_t *pipeline, const pipeline_options_t *options,
            const char *worker_id, zsock_t *outbox)
{
    assert (pipeline);
    assert (options);
    assert (worker_id);
    assert (outbox);
    runner_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->worker, sizeof self->worker, "%s", worker_id);
    self->pipeline = pipeline;
    self->options = *options;
    self->outbox = outbox;
    atomic_init (&self->cancel_requested, false);
    atomic_init (&self->interrupt_requested, false);
    self->queue_size = RUNNER_QUEUE_INITIAL;
    self->queue = malloc (self->queue_size * sizeof *self->queue);
    if (!self->queue)
        goto fail_queue;
    if (pthread_mutex_init (&self->lock, NULL) != 0)
        goto fail_mutex;
    if (pthread_cond_init (&self->wake, NULL) != 0)
        goto fail_cond;

    /* The thread inherits this mask: SIGINT and SIGTERM then always reach
       the main thread, which wakes from its poll at once. */
    sigset_t blocked, previous;
    sigemptyset (&blocked);
    sigaddset (&blocked, SIGINT);
    sigaddset (&blocked, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &blocked, &previous);
    int rc = pthread_create (&self->thread, NULL, s_runner_thread, self);
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    if (rc != 0) {
        log_error ("cannot start a runner thread: %s", strerror (rc));
        goto fail_thread;
    }
    return self;

fail_thread:
    pthread_cond_destroy (&self->wake);
fail_cond:
    pthread_mutex_destroy (&self->lock);
fail_mutex:
    free (self->queue);
fail_queue:
    free (self);
    return NULL;
}

int
runner_start (runner_t *self, const proto_msg_t *dispatch)
{
    assert (self);
    assert (dispatch);
    size_t spec_len = dispatch->spec ? dispatch->spec_len : 0;
    pthread_mutex_lock (&self->lock);
    assert (!self->job_given);
    proto_msg_t *final = s_message_take (self);
    if (!final)
        goto fail;
    if (spec_len + 1 > self->spec_size) {
        char *spec = realloc (self->spec, spec_len + 1);
        if (!spec)
            goto fail;
        self->spec = spec;
        self->spec_size = spec_len + 1;
    }
    memcpy (self->job, dispatch->job, sizeof self->job);
    memcpy (self->cid, dispatch->cid, sizeof self->cid);
    self->attempt = dispatch->attempt;
    memcpy (self->prior, dispatch->steps, sizeof self->prior);
    if (spec_len)
        memcpy (self->spec, dispatch->spec, spec_len);
    self->spec[spec_len] = '\0';
    self->spec_len = spec_len;
    self->final = final;
    atomic_store (&self->cancel_requested, false);
    atomic_store (&self->interrupt_requested, false);
    self->job_given = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return 0;

fail:
    if (final)
        self->spare[self->spare_count++] = final; /* it came from there */
    pthread_mutex_unlock (&self->lock);
    return -ENOMEM;
}

void
runner_cancel (runner_t *self)
{
    assert (self);
    atomic_store (&self->cancel_requested, true);
}

void
runner_interrupt (runner_t *self)
{
    assert (self);
    atomic_store (&self->interrupt_requested, true);
}

const char *
runner_job (const runner_t *self)
{
    assert (self);
    return self->job;
}

const char *
runner_cid (const runner_t *self)
{
    assert (self);
    return self->cid;
}

int
runner_attempt (const runner_t *self)
{
    assert (self);
    return self->attempt;
}

void
runner_destroy (runner_t **self_p)
{
    assert (self_p);
    runner_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->quit = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    proto_msg_t *msg;
    while ((msg = runner_message_next (self))) {
        proto_msg_reset (msg);
        free (msg);
    }
    while (self->spare_count > 0)
        free (self->spare[--self->spare_count]);
    free (self->queue);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self->final);
    free (self->spec);
    free (self);
    *self_p = NULL;
}

proto_msg_t *
runner_message_next (runner_t *self)
{
    assert (self);
    proto_msg_t *msg = NULL;
    pthread_mutex_lock (&self->lock);
    if (self->queue_head < self->queue_tail) {
        msg = self->queue[self->queue_head++];
        if (self->queue_head == self->queue_tail)
            self->queue_head = self->queue_tail = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return msg;
}

void
runner_message_free (runner_t *self, proto_msg_t *msg)
{
    assert (self);
    if (!msg)
        return;
    /* Only a spec is ever owned (proto.h); the runner's messages carry
       none. The next user initialises the message (s_message_prepare),
       so it is not cleared here too: that would be a second 10 KiB
       memset per event. */
    if (msg->spec)
        proto_msg_reset (msg);
    pthread_mutex_lock (&self->lock);
    bool kept = self->spare_count < RUNNER_SPARE_MAX;
    if (kept)
        self->spare[self->spare_count++] = msg;
    pthread_mutex_unlock (&self->lock);
    if (!kept)
        free (msg);
}

bool
runner_message_is_final (const proto_msg_t *msg)
{
    return msg->type == PROTO_DECLINED
           || (msg->type == PROTO_EVENT && proto_event_is_terminal (msg->kind));
}
