/*  bus — the gateway's only link to the broker. One thread owns both
    ZeroMQ sockets: a DEALER to the broker frontend for requests (submit,
    get, ping) and a SUB on the broker's PUB for every job event. HTTP
    handlers never block on it: they hand a request over with bus_call()
    and are told the answer, or its absence, through a callback. Events
    from the SUB are rendered once as SSE frames and published to the hub.
    The same thread drives hub_tick (keepalives, forgetting old jobs). */
#ifndef AURA_GATEWAY_BUS_H
#define AURA_GATEWAY_BUS_H

#include "config.h"
#include "hub.h"
#include "proto.h"

typedef struct bus_t bus_t;

/*  The outcome of one call. status 0: reply is the broker's answer (a
    PROTO_JOB, PROTO_ERROR or PROTO_PONG matching the request) and the
    callee owns it (proto_msg_reset, then free). Otherwise reply is NULL
    and status is -ETIMEDOUT (no answer within the broker timeout),
    -ENOTCONN (no broker connected: nothing was sent), -ECANCELED (the bus
    stopped) or -EINVAL (the request did not encode). Runs on the bus
    thread, or on the thread calling bus_stop; it must not block. */
typedef void (bus_done_fn) (void *arg, int status, proto_msg_t *reply);

/*  Connects a DEALER to cfg->broker_frontend and a SUB (topic "job.") to
    cfg->broker_publish and starts the bus thread. Answers are awaited
    cfg->broker_timeout_ms. Returns NULL, after logging why, when a socket
    cannot be set up. */
bus_t *bus_new (const aura_config_t *cfg, hub_t *hub);

/*  Hands request (malloc'd, initialised with proto_msg_init and filled;
    the bus takes it over and frees it) to the bus thread, which sends it
    and calls done(arg, …) exactly once. Returns 0; or -ESHUTDOWN after
    bus_stop, or -ENOMEM: then done is never called and request is freed.
    Thread-safe. */
int bus_call (bus_t *self, proto_msg_t *request, bus_done_fn *done,
              void *arg);

/*  Stops the bus thread and finishes every call not yet answered with
    -ECANCELED; later calls fail with -ESHUTDOWN. Idempotent. */
void bus_stop (bus_t *self);

/*  Stops the bus if needed and closes its sockets. Sets *self_p to NULL;
    does nothing when it is NULL. */
void bus_destroy (bus_t **self_p);

#endif
