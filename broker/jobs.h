/*  jobs — the broker's store of jobs: every job by id (and in id order,
    which is creation order), the queue of jobs waiting for a worker
    (creation order, re-queued jobs at the head), the jobs dispatched but
    not yet answered, the running jobs and the worker holding each, and the
    state machine that turns requests, worker answers, events and lost
    leases into job snapshots and numbered events. It also remembers which
    jobs changed since the journal last saw them.
    Pure logic: no sockets, no clocks, no storage (callers pass the time
    in and write the records it hands out). */
#ifndef AURA_BROKER_JOBS_H
#define AURA_BROKER_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct _jobs_t jobs_t;

/*  Warning code published when a worker hands a running job back. */
#define JOBS_CODE_WORKER_SHUTDOWN "WorkerShutdown"
/*  Warning (re-queued) or error and job-failed (out of attempts) code when
    a job's worker lost its lease, or its dispatch was never answered. */
#define JOBS_CODE_WORKER_LOST "WorkerLost"
/*  How long a submit's idempotency key keeps answering the same job. */
#define JOBS_IDEM_WINDOW_US (24LL * 3600 * 1000 * 1000)
/*  Most messages one change produces (see jobs_out_t). */
#define JOBS_OUT_MAX 4

/*  The messages one change produces, in the order they are to be
    published: PROTO_EVENT messages carry their seq already;
    PROTO_CANCEL messages (topic ctl.cancel.<id>) carry none. */
typedef struct {
    proto_msg_t msg[JOBS_OUT_MAX];
    size_t count;
} jobs_out_t;

/*  Empties out (count 0). Call before first use. */
void jobs_out_init (jobs_out_t *out);

/*  Frees what the messages own and empties out again. */
void jobs_out_reset (jobs_out_t *out);

/*  What the journal keeps of one job. snapshot is a PROTO_JOB with the
    job's whole state, its cid the job's own correlation id; spec and
    idem_key are borrowed from the store and stay valid until the job
    next changes or is forgotten. */
typedef struct {
    proto_msg_t snapshot;
    const char *spec;
    size_t spec_len;
    const char *idem_key;  /* "" when the submit had none */
    bool cancel_requested; /* a cancel was sent to the running attempt */
} job_record_t;

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

/*  Number of Running jobs. */
size_t jobs_running (jobs_t *self);

/*  Counts the jobs held (those not yet pruned) by status into
    counts[JOB_STATUS_COUNT]. Walks every job: for /metrics, not for a
    hot path. */
void jobs_count_by_status (jobs_t *self, size_t counts[JOB_STATUS_COUNT]);

/*  Stores a new job `id` (status Queued, attempt 1, phase "plan") at the
    tail of the queue; copies cid, spec[0..spec_len), title and idem_key
    (NULL or "" for none). Fills *status with the job's first event, the
    job-status Queued (seq 1, with its 1-based queue position), which the
    caller publishes. Returns 0, -EINVAL for an empty spec or an id that
    is not a job id, -EEXIST for a known id, -EMSGSIZE for a spec over
    PROTO_MAX_SPEC_BYTES, or -ENOMEM; on error the store is unaltered and
    *status is PROTO_NONE. The caller resets *status in every case. */
int jobs_submit (jobs_t *self, const char *id, const char *cid,
                 const char *spec, size_t spec_len, const char *title,
                 const char *idem_key, int64_t now_us, proto_msg_t *status);

/*  Finds the newest job submitted with idempotency key `key` within
    JOBS_IDEM_WINDOW_US before now_us, and writes its id to id_out.
    Returns 0, or -ENOENT (also for an empty key). */
int jobs_find_idem (jobs_t *self, const char *key, int64_t now_us,
                    char id_out[JOB_ID_SIZE]);

/*  Fills *snapshot (initialised as PROTO_JOB) with the job's state: status,
    phase, percent, attempt, latest seq, step, steps, times, queue position
    (or -1 when not waiting in the queue), error code and message, title,
    the worker running it (or that ran it last), and the results of a
    finished job. The caller sets cid. Returns 0, or -ENOENT for an
    unknown id (then *snapshot is PROTO_JOB with nothing else). */
int jobs_snapshot (jobs_t *self, const char *id, proto_msg_t *snapshot);

/*  Lists jobs newest first: those whose id sorts before `before` (all when
    NULL or ""), of status `status` (all when negative), at most `limit`.
    Writes their ids to ids[0..*count) and sets *more when another job
    would match after them. Returns 0. */
int jobs_list (jobs_t *self, int status, const char *before, size_t limit,
               char (*ids)[JOB_ID_SIZE], size_t *count, bool *more);

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

/*  `worker` accepted `attempt` of an in-flight job (or of a Queued job
    restored from the journal, whose dispatch may predate a restart): the
    job becomes Running on that worker (started time set on its first
    start) and out holds the job-status Running event. Returns 0; -ENOENT
    for an unknown job; -ESTALE when that attempt is over (another attempt
    is current, or the job ended), and then out holds the PROTO_CANCEL of
    that attempt; -EALREADY when the job is not waiting for an answer.
    The caller resets out in every case. */
int jobs_accept (jobs_t *self, const char *id, int32_t attempt,
                 const char *worker, int64_t now_us, jobs_out_t *out);

/*  A worker declined `attempt` of a job.
    - An in-flight job (whatever the code) goes back to the head of the
      queue with the same attempt: the worker never started it.
    - A Running job handed back at shutdown (`shutdown` true) goes to the
      head of the queue as attempt + 1: Done steps stay Done, a Running
      step becomes Pending, percent and phase fall back to the first
      unfinished step; out holds a warning (WorkerShutdown, naming
      `worker`) and the job-status Queued (position 1). A job whose cancel
      was requested ends instead: job-status Canceled, job-cancelled.
    Returns 0, -ENOENT for an unknown job, -ESTALE for another attempt, or
    -EALREADY when the job is in neither state (a Running job declined
    as Full, a finished job). The caller resets out in every case. */
int jobs_decline (jobs_t *self, const char *id, int32_t attempt,
                  bool shutdown, const char *worker, int64_t now_us,
                  jobs_out_t *out);

/*  Cancels a job at a user's request.
    - Queued (waiting or dispatched): it ends at once; out holds the
      job-status Canceled and the job-cancelled of the step it had
      reached, after a PROTO_CANCEL of the attempt when it was dispatched.
    - Running: out holds a PROTO_CANCEL of the current attempt and the job
      stays Running until its worker reports job-cancelled (or is lost:
      then it ends Canceled instead of being queued again). Asking again
      sends the cancel again.
    - Canceled: nothing happens.
    Returns 0, -ENOENT for an unknown job, or -EALREADY for a Done or
    Failed job. The caller resets out in every case. */
int jobs_cancel (jobs_t *self, const char *id, int64_t now_us,
                 jobs_out_t *out);

/*  Queues a Failed or Canceled job again, at the tail, as attempt + 1: its
    Done and Skipped steps stay so, the others become Pending; error,
    results and finished time are cleared. out holds the job-status Queued.
    Returns 0, -ENOENT for an unknown job, or -EALREADY for any other
    status. The caller resets out in every case. */
int jobs_retry (jobs_t *self, const char *id, int64_t now_us,
                jobs_out_t *out);

/*  Takes back the oldest in-flight job dispatched before deadline_mono_us,
    if any (its dispatch may sit with a worker that died, and may still
    run: the new attempt fences it off). out holds a PROTO_CANCEL of the
    abandoned attempt, then either a warning (WorkerLost) and the
    job-status Queued of attempt + 1 at the head of the queue, or — when
    the job has used max_attempts attempts — an error (WorkerLost,
    retryable), the job-status Failed and a job-failed (WorkerLost).
    Returns 0 when a job was handled (call again for the next), -ENOENT
    when none is overdue. The caller resets out in every case. */
int jobs_expire_dispatch (jobs_t *self, int64_t deadline_mono_us,
                          int32_t max_attempts, int64_t now_us,
                          jobs_out_t *out);

/*  `worker` no longer holds one of the Running jobs leased to it: the
    first such job not named in keep[0..keep_count) (all, when keep_count
    is 0) is re-queued or failed as in jobs_expire_dispatch, or ended
    Canceled when its cancel was requested. `why` ends the messages ("its
    lease expired"). Returns 0 when a job was handled (call again for the
    next), -ENOENT when none is left. The caller resets out in every case. */
int jobs_lose_worker (jobs_t *self, const char *worker,
                      const proto_running_t *keep, size_t keep_count,
                      const char *why, int32_t max_attempts, int64_t now_us,
                      jobs_out_t *out);

/*  `worker` says (in a heartbeat) it runs `attempt` of job `id`.
    - A Running job restored from the journal and not yet claimed is
      leased to that worker; so is a restored Queued job of that attempt
      (its dispatch predates the restart), which becomes Running with a
      job-status Running in out. Returns 0, as it does when the job is
      already that worker's.
    - An attempt that is over (another one is current, or the job ended
      with it): out holds a PROTO_CANCEL of it; returns -ESTALE.
    Returns -ENOENT for an unknown job, -EALREADY when the job is another
    worker's or not in a state to claim. The caller resets out in every
    case. */
int jobs_claim (jobs_t *self, const char *id, int32_t attempt,
                const char *worker, int64_t now_us, jobs_out_t *out);

/*  Handles one Running job restored from the journal that no worker
    claimed by its deadline (mono time, see jobs_restore) when now_mono_us
    is past it, as
    jobs_lose_worker does. Returns 0 when a job was handled (call again),
    -ENOENT when none is overdue. The caller resets out in every case. */
int jobs_expire_claims (jobs_t *self, int64_t now_mono_us,
                        int32_t max_attempts, int64_t now_us,
                        jobs_out_t *out);

/*  Applies one event a worker reported (PROTO_EVENT, any kind but
    job-status). The event must name a known job, its current attempt, and
    the job must be Running; an event of a restored, unclaimed job leases
    it to the event's worker. On success the job is updated (step
    statuses, current step, phase, percent as the maximum seen within the
    attempt, error, results, finished time), the event's percent is raised
    to that maximum, its ts set to now_us when absent, and it gets the
    job's next seq. For a terminal event (job-completed, job-failed,
    job-cancelled) out holds the job-status Done, Failed or Canceled that
    takes the seq before it and must be published first; otherwise out is
    empty. Returns 0, -ENOENT (unknown job), -ESTALE (another attempt),
    -EALREADY (job not Running) or -EINVAL (a kind or step a worker may not
    send); on error neither the job nor the event changes. The caller
    resets out in every case. */
int jobs_apply_event (jobs_t *self, proto_msg_t *event, int64_t now_us,
                      jobs_out_t *out);

/*  Adds a job read back from the journal. Call in id order: a Queued job
    joins the tail of the queue; a Running job waits, unclaimed, for a
    worker to claim it until claim_deadline_mono_us (see jobs_claim and
    jobs_expire_claims); a finished job is only kept. The job's seq is
    record->snapshot.seq. The record's strings are copied. Returns 0,
    -EINVAL for a record that is not a job this store could hold, -EEXIST
    for a known id, or -ENOMEM. */
int jobs_restore (jobs_t *self, const job_record_t *record,
                  int64_t claim_deadline_mono_us);

/*  Takes one job changed since it was last taken (or since it was
    submitted or restored) and fills *record with what the journal keeps
    of it. Returns 0, or -ENOENT when no job changed. The caller resets
    record->snapshot. */
int jobs_pop_changed (jobs_t *self, job_record_t *record);

/*  Forgets a finished job (retention). Returns 0, -ENOENT for an unknown
    job, or -EBUSY for a job that has not finished. */
int jobs_forget (jobs_t *self, const char *id);

#endif
