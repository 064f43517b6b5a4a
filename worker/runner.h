/*  runner — one worker slot's thread, made with the worker and reused for
    each job of the slot: it runs the pipeline's steps in order and turns
    what they report into protocol messages for the worker's main thread.
    The main thread alone talks to the broker, so a job's messages leave
    in the order they were made.

    The runner queues its messages, in order, and when its queue goes from
    empty to not empty it sends one frame on its outbox, [runner] (zsock
    "p"): the receiver then takes the messages with runner_message_next,
    and owns each (a heap proto_msg_t; give it back with
    runner_message_free, which keeps it for reuse). A wake-up may find the
    queue already emptied. Every started job queues exactly one final
    message, its last: a terminal event (job-completed, job-failed,
    job-cancelled) or, when it was interrupted, declined {code
    "Shutdown"}. Once the final message is taken the runner is idle and
    takes the next job. Messages carry job, attempt, worker,
    cid and ts; the receiver adds slots_free/slots_total to the final one.

    runner_start, runner_job, runner_cid, runner_attempt and runner_destroy
    belong to the thread that made the runner (the worker's main thread);
    runner_cancel, runner_interrupt, runner_message_next and
    runner_message_free may be called from any thread. */
#ifndef AURA_WORKER_RUNNER_H
#define AURA_WORKER_RUNNER_H

#include <stdbool.h>

#include "pipeline/pipeline.h"
#include "proto.h"

typedef struct _runner_t runner_t;

/*  Makes an idle runner and its thread, which runs `pipeline` with
    `options` (copied) for each job it is given and sends its wake-ups on
    `outbox`, a PUSH socket connected to the worker's inbox. The outbox
    stays the caller's, who must keep it until the runner is destroyed:
    only the runner's thread sends on it. The thread has SIGINT and SIGTERM
    blocked, so that they always reach the main thread. Returns NULL when
    memory or a thread cannot be had. */
runner_t *runner_new (const pipeline_t *pipeline,
                      const pipeline_options_t *options, const char *worker_id,
                      zsock_t *outbox);

/*  Gives the idle runner the job of `dispatch` (a PROTO_DISPATCH message,
    not modified; its spec is copied) and wakes its thread. Steps the
    dispatch lists as Done or Skipped are skipped. Call it only for a
    runner never given a job or once the previous job's final message has
    been taken. Returns 0, or -ENOMEM when the job cannot be prepared
    (nothing is sent; the runner stays idle). */
int runner_start (runner_t *self, const proto_msg_t *dispatch);

/*  Asks the running job to stop at its next progress report and end as
    cancelled. Thread-safe. Does nothing to a job that has finished, and a
    request made while the runner is idle is forgotten by the next
    runner_start. */
void runner_cancel (runner_t *self);

/*  Asks the running job to stop at its next progress report and hand the
    job back (declined "Shutdown"). A cancel requested as well wins.
    Thread-safe, and forgotten like a cancel. */
void runner_interrupt (runner_t *self);

/*  The job last given to runner_start, while it runs and after. */
const char *runner_job (const runner_t *self);
const char *runner_cid (const runner_t *self);
int runner_attempt (const runner_t *self);

/*  Stops the runner's thread, joins it and frees the runner. When a job
    is running it waits for the job to finish: interrupt it first, and do
    not call this for a job whose step may never return (leave the runner
    and its outbox to the process's exit instead). Messages still queued
    are freed. Sets *self_p to NULL. */
void runner_destroy (runner_t **self_p);

/*  Removes the runner's oldest queued message and returns it (the caller
    owns it), or returns NULL when the queue is empty. */
proto_msg_t *runner_message_next (runner_t *self);

/*  Gives back a message taken from this runner with runner_message_next:
    the runner reuses it for a later message, or frees it. Any thread. */
void runner_message_free (runner_t *self, proto_msg_t *msg);

/*  True when msg is a job's final message (see above). */
bool runner_message_is_final (const proto_msg_t *msg);

#endif
