/*  runner — one job on its own thread: runs the pipeline's steps in order
    and turns what they report into protocol messages, which it hands to
    the worker's main thread over an inproc socket. The main thread alone
    talks to the broker, so a job's messages leave in the order they were
    made.

    Each message arrives on the inbox as two pointer frames, [runner][msg]
    (zsock "pp"): the receiver owns msg (a heap proto_msg_t; free it with
    proto_msg_reset and free). Every started runner sends exactly one final
    message, the last: a terminal event (job-completed, job-failed,
    job-cancelled) or, when it was interrupted, declined {code "Shutdown"}.
    Messages carry job, attempt, worker, cid and ts; the receiver adds
    slots_free/slots_total to the final one. */
#ifndef AURA_WORKER_RUNNER_H
#define AURA_WORKER_RUNNER_H

#include <stdbool.h>

#include "pipeline/pipeline.h"
#include "proto.h"

typedef struct _runner_t runner_t;

/*  Prepares a runner for the job of `dispatch` (a PROTO_DISPATCH message,
    not modified; its spec is copied) that sends its messages on `outbox`,
    a PUSH socket connected to the worker's inbox. The outbox stays the
    caller's, who keeps it for the next job of the slot: from
    runner_start until the runner's final message is received, only the
    job's thread uses it. Steps the dispatch lists as Done or Skipped are
    skipped. `options` is copied. Returns NULL when memory cannot be had. */
runner_t *runner_new (const proto_msg_t *dispatch, const pipeline_t *pipeline,
                      const pipeline_options_t *options, const char *worker_id,
                      zsock_t *outbox);

/*  Starts the job's thread. Returns 0, or a negative errno when no thread
    could be made (nothing was sent; destroy the runner). */
int runner_start (runner_t *self);

/*  Asks the job to stop at its next progress report and end as cancelled.
    Thread-safe; does nothing once the job has finished. */
void runner_cancel (runner_t *self);

/*  Asks the job to stop at its next progress report and hand the job back
    (declined "Shutdown"). A cancel requested as well wins. Thread-safe. */
void runner_interrupt (runner_t *self);

const char *runner_job (const runner_t *self);
const char *runner_cid (const runner_t *self);
int runner_attempt (const runner_t *self);

/*  Joins the job's thread and frees the runner. Call it only for a runner
    never started or once its final message has been received: otherwise
    it waits for the job to finish. Sets *self_p to NULL. */
void runner_destroy (runner_t **self_p);

/*  True when msg is a runner's final message (see above). */
bool runner_message_is_final (const proto_msg_t *msg);

#endif
