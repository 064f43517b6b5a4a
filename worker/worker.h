/*  worker — the job runner process: takes dispatches from the broker, runs
    each accepted job on the thread of the slot it takes (see runner.h; a
    slot's thread is made with the worker and reused) and reports every
    fact back to the broker. One thread owns all the broker sockets, so the
    events of a job leave in the order they happened, after its `accepted`.
    The behaviour is that of docs/PROTOCOL.md. */
#ifndef AURA_WORKER_WORKER_H
#define AURA_WORKER_WORKER_H

#include <stdint.h>

#include "config.h"
#include "pipeline/pipeline.h"

/*  How long a stopping worker waits for its jobs to stop before it hands
    them back itself and gives up on their threads. */
#define WORKER_SHUTDOWN_GRACE_MS 4000

typedef struct _worker_t worker_t;

typedef struct {
    uint64_t jobs_accepted;
    uint64_t jobs_declined;       /* dispatches answered "Full" */
    uint64_t jobs_handed_back;    /* declined "Shutdown" */
    uint64_t jobs_finished;       /* completed, failed or cancelled */
    uint64_t cancels_applied;
    uint64_t events_forwarded;    /* every message sent to the broker */
    uint64_t messages_dropped;    /* undecodable or unexpected input */
    uint64_t send_failures;       /* messages not sent: heartbeats and
                                     step-progress skipped while the broker
                                     did not read, or dropped */
    uint64_t messages_held;       /* held until the broker read again */
    uint64_t progress_coalesced;  /* step-progress replaced by a newer one
                                     before it was sent */
} worker_stats_t;

/*  Creates a worker for the settings in cfg (endpoints, slots, heartbeat,
    worker id, synthetic options) that runs jobs with `pipeline`, and
    connects its sockets. Returns NULL, with a log line, when a socket
    cannot be made or connected. */
worker_t *worker_new (const aura_config_t *cfg, const pipeline_t *pipeline);

/*  Serves until worker_stop() is called or the process gets SIGINT or
    SIGTERM (zsys_interrupted), then stops taking jobs, interrupts the
    running ones and hands each back to the broker (declined "Shutdown")
    once its thread has stopped. Returns 0, or -ETIMEDOUT when some job
    thread did not stop within WORKER_SHUTDOWN_GRACE_MS: its job was handed
    back anyway, but the thread still runs, so the process should _exit. */
int worker_run (worker_t *self);

/*  Asks worker_run to return. Safe from any thread and from a signal
    handler; takes effect within 100 ms. */
void worker_stop (worker_t *self);

/*  Copies the counters. Call from the thread that runs the worker, or
    after worker_run has returned. */
void worker_stats (const worker_t *self, worker_stats_t *stats);

/*  Destroys the sockets and the runners whose threads have stopped; sets
    *self_p to NULL. */
void worker_destroy (worker_t **self_p);

#endif
