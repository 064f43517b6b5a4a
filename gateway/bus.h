/*  bus — the gateway's only link to the broker. One thread owns both
    ZeroMQ sockets: a DEALER to the broker frontend for requests (submit,
    get, list, replay, cancel_job, retry_job, ping) and a SUB on the
    broker's PUB for every job event. HTTP handlers never block on it: they
    hand a request over with bus_call() and are told the answer, or its
    absence, through a callback. Events from the SUB are rendered once as
    SSE frames and offered to the hub; when their seqs reveal lost
    messages, the bus fetches the missing events with `replay` before the
    hub forwards anything after them. The same thread drives hub_tick
    (keepalives, forgetting old jobs). */
#ifndef AURA_GATEWAY_BUS_H
#define AURA_GATEWAY_BUS_H

#include "config.h"
#include "hub.h"
#include "metrics.h"
#include "proto.h"

typedef struct bus_t bus_t;

/*  Events asked for per `replay` request. */
#define BUS_REPLAY_LIMIT 500

/*  A broker answer. msg is the answer itself: a PROTO_JOB, PROTO_ERROR,
    PROTO_PONG, or the header of a multipart answer. After a PROTO_PAGE
    header, jobs holds its count job snapshots; after a PROTO_EVENTS
    header, events holds its count events (ascending seqs above the
    request's, of the requested job), each rendered as an SSE frame
    exactly as a live one would be. */
typedef struct {
    proto_msg_t msg;
    proto_msg_t *jobs;
    hub_event_t **events;
    size_t count;
} bus_reply_t;

/*  Frees the reply and everything it holds. Sets *self_p to NULL; does
    nothing when it is NULL. */
void bus_reply_destroy (bus_reply_t **self_p);

/*  One frame of a multipart answer. */
typedef struct {
    const void *data;
    size_t size;
} bus_frame_t;

/*  Reads the count item frames that followed the header reply->msg (a
    PROTO_PAGE or PROTO_EVENTS answer to request, a PROTO_LIST or
    PROTO_REPLAY) into reply->jobs or reply->events. The answer must hold
    exactly the header's count frames, at most the request's limit; a page
    holds job snapshots and a cursor that is empty or a job id; an events
    answer holds events of the requested job (as does its header) with
    ascending seqs above the request's. Pure: no I/O. Returns 0; -EBADMSG
    with a one-line reason in err, leaving reply without items; -EINVAL
    when reply->msg is not a header; -ENOMEM. */
int bus_reply_read_items (bus_reply_t *reply, const proto_msg_t *request,
                          const bus_frame_t *items, size_t count, char *err,
                          size_t err_size);

/*  The outcome of one call. status 0: reply is the broker's answer
    matching the request (PROTO_PONG for ping, PROTO_PAGE for list,
    PROTO_EVENTS for replay, PROTO_JOB otherwise, or a PROTO_ERROR) and the
    callee owns it (bus_reply_destroy). Otherwise reply is NULL and status
    is -ETIMEDOUT (no answer within the broker timeout), -ENOTCONN (no
    broker connected: nothing was sent), -EBADMSG (the answer was
    malformed: a multipart answer whose frames do not match its header),
    -ECANCELED (the bus stopped), -EINVAL (the request did not encode) or
    -ENOMEM.
    Runs on the bus thread, or on the thread calling bus_stop; it must not
    block. */
typedef void (bus_done_fn) (void *arg, int status, bus_reply_t *reply);

/*  What the bus counted since it started. */
typedef struct {
    uint64_t answers_dropped;    /* undecodable, late or unmatched answers */
    uint64_t answers_malformed;  /* answers whose frames did not add up */
    uint64_t events_dropped;     /* published messages that were not events */
    uint64_t gaps_found;         /* lost events noticed on the SUB socket */
    uint64_t gaps_filled;        /* … and fetched from the broker */
    uint64_t gaps_abandoned;     /* … that the broker could not fill */
    uint64_t events_received;    /* well-formed events of a job's topic */
    uint64_t timeouts;           /* calls the broker did not answer in time */
    metrics_histogram_snapshot_t event_lag; /* now − ts at arrival */
} bus_stats_t;

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

/*  Copies the counters. Thread-safe. */
void bus_stats (bus_t *self, bus_stats_t *stats);

/*  Stops the bus thread and finishes every call not yet answered with
    -ECANCELED; later calls fail with -ESHUTDOWN. Idempotent. */
void bus_stop (bus_t *self);

/*  Stops the bus if needed and closes its sockets. Sets *self_p to NULL;
    does nothing when it is NULL. */
void bus_destroy (bus_t **self_p);

#endif
