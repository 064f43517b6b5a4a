/*  jobs — the broker's store of jobs: every job by id, the queue of jobs
    waiting for a worker (creation order, re-queued jobs at the head), the
    jobs dispatched but not yet answered, and the state machine that turns
    worker answers and events into job snapshots and numbered events.
    Pure logic: no sockets, no clocks (callers pass the time in). */
#ifndef AURA_BROKER_JOBS_H
#define AURA_BROKER_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct _jobs_t jobs_t;

/*  Warning code published when a worker hands a running job back. */
#define JOBS_WARNING_WORKER_SHUTDOWN "WorkerShutdown"
/*  Warning code published when a dispatch was never answered. */
#define JOBS_WARNING_DISPATCH_TIMEOUT "DispatchTimeout"

/*  Returns a new, empty store, or NULL when out of memory. */
jobs_t *jobs_new (void);

/*  Frees the store and every job in it; sets *self_p to NULL. Does
    nothing when self_p or *self_p is NULL. */
void jobs_destroy (jobs_t **self_p);

/*  Number of jobs known, in any status. */
size_t jobs_size (jobs_t *self);

/*  Number of jobs waiting in the queue. */
size_t jobs_queued (jobs_t *self);

/*  Number of jobs dispatched whose worker has not yet accepted or declined
    them: the dispatches that still use up a worker's reported slot. */
size_t jobs_in_flight (jobs_t *self);

/*  Stores a new job `id` (status Queued, attempt 1, phase "plan") at the
    tail of the queue; copies cid and spec[0..spec_len). Fills *status with
    the job's first event, the job-status Queued (seq 1, with its 1-based
    queue position), which the caller publishes. Returns 0, -EINVAL for an
    empty spec or an id that is not a job id, -EEXIST for a known id,
    -EMSGSIZE for a spec over PROTO_MAX_SPEC_BYTES, or -ENOMEM; on error
    the store is unaltered and *status is PROTO_NONE. The caller resets
    *status in every case. */
int jobs_submit (jobs_t *self, const char *id, const char *cid,
                 const char *spec, size_t spec_len, int64_t now_us,
                 proto_msg_t *status);

/*  Fills *snapshot (initialised as PROTO_JOB) with the job's state: status,
    phase, percent, attempt, latest seq, step, steps, times, queue position
    (or -1 when not waiting in the queue), error code and message, and the
    results of a finished job. The caller sets cid. Returns 0, or -ENOENT
    for an unknown id (then *snapshot is PROTO_JOB with nothing else). */
int jobs_snapshot (jobs_t *self, const char *id, proto_msg_t *snapshot);

/*  Takes the job at the head of the queue, moves it to the in-flight list
    stamped with mono_us, and fills *dispatch (initialised as
    PROTO_DISPATCH) with its id, attempt, cid, spec and step statuses.
    Returns 0, -ENOENT when the queue is empty, or -ENOMEM (the job stays
    at the head). The caller resets *dispatch in every case. */
int jobs_dispatch_next (jobs_t *self, int64_t mono_us, proto_msg_t *dispatch);

/*  Puts an in-flight job that was never sent (the send would block) back
    at the head of the queue, same attempt. Returns 0, or -ENOENT when no
    in-flight job has that id. */
int jobs_dispatch_undo (jobs_t *self, const char *id);

/*  A worker accepted `attempt` of an in-flight job: the job becomes
    Running (started time set on its first start) and *status is filled
    with the job-status Running event. Returns 0, -ENOENT for an unknown
    job, -ESTALE for another attempt, or -EALREADY when the job is not
    waiting for an answer; on error nothing changes and *status is
    PROTO_NONE. */
int jobs_accept (jobs_t *self, const char *id, int32_t attempt,
                 int64_t now_us, proto_msg_t *status);

/*  A worker declined `attempt` of a job.
    - An in-flight job (whatever the code) goes back to the head of the
      queue with the same attempt: the worker never started it.
    - A Running job handed back at shutdown (`shutdown` true) goes to the
      head of the queue as attempt + 1: Done steps stay Done, a Running
      step becomes Pending, percent and phase fall back to the first
      unfinished step. *warning (WorkerShutdown, naming `worker`) and
      *status (job-status Queued, position 1) are filled, in that order of
      seq.
    Returns 0, -ENOENT for an unknown job, -ESTALE for another attempt, or
    -EALREADY when the job is in neither state (a Running job declined
    as Full, a finished job). *warning and *status are PROTO_NONE unless
    filled; the caller resets both in every case. */
int jobs_decline (jobs_t *self, const char *id, int32_t attempt,
                  bool shutdown, const char *worker, int64_t now_us,
                  proto_msg_t *warning, proto_msg_t *status);

/*  Re-queues the oldest in-flight job dispatched before deadline_mono_us,
    if any, as attempt + 1 at the head of the queue (its dispatch may sit
    with a worker that died, and may still run: the new attempt fences it
    off). Fills *warning (DispatchTimeout), *status (job-status Queued) and
    *cancel (a PROTO_CANCEL of the abandoned attempt, for topic
    ctl.cancel.<id>). Returns 0 when a job was re-queued (call again for
    the next), -ENOENT when none is overdue. */
int jobs_expire_dispatch (jobs_t *self, int64_t deadline_mono_us,
                          int64_t now_us, proto_msg_t *warning,
                          proto_msg_t *status, proto_msg_t *cancel);

/*  Applies one event a worker reported (PROTO_EVENT, any kind but
    job-status). The event must name a known job, its current attempt, and
    the job must be Running. On success the job is updated (step statuses,
    current step, phase, percent as the maximum seen within the attempt,
    error, results, finished time), the event's percent is raised to that
    maximum, its ts set to now_us when absent, and it gets the job's next
    seq. For a terminal event (job-completed, job-failed, job-cancelled)
    *status is filled with the job-status Done, Failed or Canceled that
    takes the seq before it and must be published first; otherwise *status
    is PROTO_NONE. Returns 0, -ENOENT (unknown job), -ESTALE (another
    attempt), -EALREADY (job not Running) or -EINVAL (a kind or step a
    worker may not send); on error neither the job nor the event changes.
    The caller resets *status in every case. */
int jobs_apply_event (jobs_t *self, proto_msg_t *event, int64_t now_us,
                      proto_msg_t *status);

#endif
