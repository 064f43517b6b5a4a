/*  workers — live workers by name, each with the slots it last reported
    free. The sum of those slots is kept as reports arrive, so reading the
    credits costs nothing on the dispatch path. */
#include "workers.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <czmq.h>

#include "log.h"

typedef struct {
    int32_t slots_free;
    int32_t slots_total;
    int64_t last_seen_mono_us;
    bool heartbeat_seen;  /* its reports count as credits */
} worker_t;

struct _workers_t {
    zhashx_t *by_name;     /* name → worker_t, owns them */
    int64_t slots_free_sum;
};

static void
s_worker_destructor (void **item)
{
    free (*item);
    *item = NULL;
}

workers_t *
workers_new (void)
{
    workers_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->by_name = zhashx_new ();
    if (!self->by_name) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->by_name, s_worker_destructor);
    return self;
}

void
workers_destroy (workers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->by_name);
    free (*self_p);
    *self_p = NULL;
}

/*  Finds or adds a worker. Returns 1 (added), 0 (found), or -errno. */
static int
s_lookup (workers_t *self, const char *name, int64_t mono_us,
          worker_t **worker_p)
{
    if (!name || !*name)
        return -EINVAL;
    worker_t *worker = zhashx_lookup (self->by_name, name);
    int added = 0;
    if (!worker) {
        worker = calloc (1, sizeof *worker);
        if (!worker)
            return -ENOMEM;
        if (zhashx_insert (self->by_name, name, worker) != 0) {
            free (worker);
            return -ENOMEM;
        }
        added = 1;
    }
    worker->last_seen_mono_us = mono_us;
    *worker_p = worker;
    return added;
}

/*  Records a report; heartbeat says whether it is one. */
static int
s_report (workers_t *self, const char *name, int32_t slots_free,
          int32_t slots_total, int64_t mono_us, bool heartbeat)
{
    worker_t *worker = NULL;
    int rc = s_lookup (self, name, mono_us, &worker);
    if (rc < 0)
        return rc;
    if (heartbeat)
        worker->heartbeat_seen = true;
    if (slots_total < 1 || !worker->heartbeat_seen)
        return rc;
    if (slots_free < 0)
        slots_free = 0;
    if (slots_free > slots_total)
        slots_free = slots_total;
    self->slots_free_sum += slots_free - worker->slots_free;
    worker->slots_free = slots_free;
    worker->slots_total = slots_total;
    return rc;
}

int
workers_report (workers_t *self, const char *name, int32_t slots_free,
                int32_t slots_total, int64_t mono_us)
{
    assert (self);
    return s_report (self, name, slots_free, slots_total, mono_us, false);
}

int
workers_heartbeat (workers_t *self, const char *name, int32_t slots_free,
                   int32_t slots_total, int64_t mono_us)
{
    assert (self);
    return s_report (self, name, slots_free, slots_total, mono_us, true);
}

int
workers_touch (workers_t *self, const char *name, int64_t mono_us)
{
    assert (self);
    worker_t *worker = NULL;
    return s_lookup (self, name, mono_us, &worker);
}

size_t
workers_expire (workers_t *self, int64_t deadline_mono_us,
                workers_lost_fn *lost, void *arg)
{
    assert (self);
    size_t forgotten = 0;
    /* Deleting while iterating the hash is undefined: walk a copy of the
       names instead. */
    zlistx_t *names = zhashx_keys (self->by_name);
    if (!names)
        return 0;
    for (const char *name = zlistx_first (names); name;
         name = zlistx_next (names)) {
        worker_t *worker = zhashx_lookup (self->by_name, name);
        if (worker && worker->last_seen_mono_us < deadline_mono_us) {
            log_warn ("worker %s lost its lease: silent for too long (%d "
                      "of %d slots were free)",
                      name, (int) worker->slots_free,
                      (int) worker->slots_total);
            if (lost)
                lost (name, arg);
            self->slots_free_sum -= worker->slots_free;
            zhashx_delete (self->by_name, name);
            forgotten++;
        }
    }
    zlistx_destroy (&names);
    return forgotten;
}

int64_t
workers_slots_free (workers_t *self)
{
    assert (self);
    return self->slots_free_sum;
}

size_t
workers_size (workers_t *self)
{
    assert (self);
    return zhashx_size (self->by_name);
}
