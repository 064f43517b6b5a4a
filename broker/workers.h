/*  workers — the broker's table of live workers and the slots each last
    reported free: the credits that decide whether a job may be pushed.
    Every message from a worker renews its lease; a worker not heard from
    for a lease is forgotten with its credits, and the broker takes its
    jobs back. Pure logic: callers pass monotonic time in. */
#ifndef AURA_BROKER_WORKERS_H
#define AURA_BROKER_WORKERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _workers_t workers_t;

/*  Returns a new, empty table, or NULL when out of memory. */
workers_t *workers_new (void);

/*  Frees the table; sets *self_p to NULL. Does nothing on NULL. */
void workers_destroy (workers_t **self_p);

/*  Records that `worker` reported slots_free of slots_total at mono_us
    (slots_free is clamped to 0..slots_total). A report with slots_total
    below 1 only counts as a sign of life (see workers_touch), and so does
    any report until the worker's first heartbeat: the heartbeat names the
    jobs the worker runs, which must be known before its free slots are
    (after a broker restart, a job it runs may still be in the queue).
    Returns 1 when the worker was not known, 0 when it was, -EINVAL for an
    empty name, or -ENOMEM. */
int workers_report (workers_t *self, const char *worker, int32_t slots_free,
                    int32_t slots_total, int64_t mono_us);

/*  Same as workers_report, for a heartbeat: from now on the worker's
    reports count as credits. */
int workers_heartbeat (workers_t *self, const char *worker,
                       int32_t slots_free, int32_t slots_total,
                       int64_t mono_us);

/*  Records a sign of life without a credit report; a worker not yet known
    joins with no free slots. Returns as workers_report. */
int workers_touch (workers_t *self, const char *worker, int64_t mono_us);

/*  Called with the name of each worker that lost its lease, before it is
    forgotten. */
typedef void (workers_lost_fn) (const char *worker, void *arg);

/*  Forgets, with a warning log line each, the workers last heard from
    before deadline_mono_us, calling lost (when not NULL) for each. Returns
    how many were forgotten. */
size_t workers_expire (workers_t *self, int64_t deadline_mono_us,
                       workers_lost_fn *lost, void *arg);

/*  Sum of the slots the live workers last reported free. */
int64_t workers_slots_free (workers_t *self);

/*  Number of live workers. */
size_t workers_size (workers_t *self);

#endif
