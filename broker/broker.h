/*  broker — the central process's sockets and routing: answers requests
    on the frontend, pushes queued jobs to workers while they have free
    slots, turns worker reports into numbered job events, journals every
    change and publishes the events once they are committed. One thread;
    everything it owns is touched only from it. */
#ifndef AURA_BROKER_BROKER_H
#define AURA_BROKER_BROKER_H

#include "config.h"

typedef struct _broker_t broker_t;

/*  Opens the journal in cfg->data_dir, prunes what retention allows,
    loads every journaled job, then creates the four sockets and binds
    them to the endpoints in cfg. Returns the broker, or NULL after one
    error log line naming what failed (the journal and why, the socket and
    endpoint that could not be bound, or the allocation); nothing is left
    open or bound then. */
broker_t *broker_new (const aura_config_t *cfg);

/*  Closes the sockets and the journal (rolling back anything not
    committed: broker_run commits before it returns) and frees every job;
    sets *self_p to NULL. Does nothing on NULL. */
void broker_destroy (broker_t **self_p);

/*  Logs the "ready" line, then serves until SIGINT or SIGTERM
    (zsys_interrupted), committing what is pending before it returns.
    Returns 0 on a requested stop, or a negative errno when polling fails
    for another reason. */
int broker_run (broker_t *self);

#endif
