/*  broker — binds the frontend ROUTER, jobs PUSH, events PULL and publish
    PUB sockets and runs the loop that connects them to the job store, the
    worker table and the journal. Nothing read from a socket is trusted: a
    message that does not decode or does not belong is counted, logged (at
    most once a second per socket) and dropped.

    Each turn of the loop handles a batch of messages, then ends: the jobs
    the turn changed are written to the journal, the turn's transaction is
    committed, and only then do the turn's answers and events leave (the
    outbox below). A turn whose commit fails answers its requests with 503
    "Unavailable", publishes nothing, and reloads the job store from the
    journal, so that memory never stays ahead of what is on disk. */
#include "broker.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "ids.h"
#include "jobs.h"
#include "journal.h"
#include "log.h"
#include "proto.h"
#include "workers.h"

/*  Housekeeping period: lease and dispatch expiry, a dispatch retry. */
#define BROKER_TICK_US (100 * 1000LL)
/*  At most this many messages from one socket per loop turn, so that a
    flood on one socket cannot starve the other. Events are cheap and
    share one commit per turn, so they come in larger batches. */
#define BROKER_FRONTEND_BATCH 64
#define BROKER_EVENTS_BATCH 256
/*  Most worker reports a tick reads before it judges leases. */
#define BROKER_TICK_DRAIN 4096
/*  Room on PUB for bursts of events before a slow subscriber loses some
    (it finds the gap by seq and asks for a replay). */
#define BROKER_PUBLISH_HWM 10000
/*  A drop is logged at most once per this period per socket. */
#define BROKER_DROP_LOG_US (1000 * 1000LL)
/*  Retention runs this often, and in steps of at most these many jobs and
    events (a few milliseconds each); while a step leaves work, the next
    runs at the next tick. */
#define BROKER_PRUNE_PERIOD_US (60 * 1000 * 1000LL)
#define BROKER_PRUNE_JOBS 64
#define BROKER_PRUNE_EVENTS 5000

/*  Messages dropped on one socket, and when that was last logged. */
typedef struct {
    const char *socket_name;
    uint64_t dropped;
    int64_t last_log_mono_us;
    uint64_t dropped_at_last_log;
} drop_counter_t;

/*  One message of the turn, held until the turn's commit: a reply
    [identity][body][items…] to the frontend, or a publish [topic][body].
    Bodies stay the buffers the codec made and leave without a copy. */
typedef struct {
    char *body;          /* owned, from proto_encode_buf */
    size_t body_len;
    zframe_t *identity;  /* reply: the gateway's ROUTER identity, owned */
    zmsg_t *items;       /* reply: frames after the header, owned, or NULL */
    char topic[64];      /* publish: job.<id> or ctl.cancel.<id> */
    bool reply;
    bool pong; /* a reply that needs no journal: sent even on failure */
    char cid[sizeof (((proto_msg_t *) 0)->cid)];
} outgoing_t;

struct _broker_t {
    zsock_t *frontend;  /* ROUTER: requests from gateways */
    zsock_t *jobs_out;  /* PUSH: dispatches to workers */
    zsock_t *events;    /* PULL: reports from workers */
    zsock_t *publish;   /* PUB: job events and cancels */
    jobs_t *jobs;
    workers_t *workers;
    journal_t *journal;
    int64_t lease_us;
    int32_t max_attempts;
    int64_t retention_us;

    outgoing_t *outbox;  /* the turn's answers and publishes, in order */
    size_t outbox_count;
    size_t outbox_cap;
    bool turn_failed;  /* a journal write of this turn failed */

    drop_counter_t frontend_drops;
    drop_counter_t events_drops;
    uint64_t stale_reports;  /* well-formed but about a superseded state */
    uint64_t failed_turns;   /* turns whose commit failed */
    uint64_t failed_turns_logged;
    int64_t failed_turn_log_mono_us;
    uint64_t events_journaled;
    uint64_t turns;          /* turns that handled messages */
    int64_t next_tick_mono_us;
    int64_t last_tick_mono_us;    /* 0 before the first tick */
    int64_t leases_held_until_us; /* after a stall of the broker itself */
    int64_t behind_since_us;      /* reports kept waiting at every tick
                                     since then; 0 when caught up */
    bool dispatch_blocked;      /* a dispatch waits for the jobs socket */
    int64_t next_prune_mono_us;
    bool prune_due;
};

/*  Counts one dropped message and logs it, with the running count, unless
    a line for this socket was written less than a second ago (then
    s_drop_flush reports it later). */
static void
s_drop (drop_counter_t *counter, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_drop (drop_counter_t *counter, const char *fmt, ...)
{
    counter->dropped++;
    int64_t now = zclock_usecs ();
    if (counter->last_log_mono_us != 0
        && now - counter->last_log_mono_us < BROKER_DROP_LOG_US)
        return;
    char reason[256];
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (reason, sizeof reason, fmt, args);
    va_end (args);
    if (n < 0)
        reason[0] = '\0';
    log_warn ("%s: dropped a malformed message: %s (%llu dropped in all)",
              counter->socket_name, reason,
              (unsigned long long) counter->dropped);
    counter->last_log_mono_us = now;
    counter->dropped_at_last_log = counter->dropped;
}

/*  Reports the drops that the rate limit kept quiet, once it allows. */
static void
s_drop_flush (drop_counter_t *counter)
{
    int64_t now = zclock_usecs ();
    if (counter->dropped == counter->dropped_at_last_log
        || now - counter->last_log_mono_us < BROKER_DROP_LOG_US)
        return;
    log_warn ("%s: %llu more malformed messages dropped (%llu in all)",
              counter->socket_name,
              (unsigned long long) (counter->dropped
                                    - counter->dropped_at_last_log),
              (unsigned long long) counter->dropped);
    counter->last_log_mono_us = now;
    counter->dropped_at_last_log = counter->dropped;
}

/*  A report that decoded but refers to a job state that has moved on
    (unknown job, old attempt, finished job): expected after restarts and
    re-queues, so only counted and logged at debug level. */
static void
s_stale (broker_t *self, const proto_msg_t *msg, int rc)
{
    self->stale_reports++;
    const char *why = rc == -ENOENT   ? "unknown job"
                      : rc == -ESTALE ? "that attempt is over"
                                      : "job not in a state that accepts it";
    const char *what = msg->type == PROTO_EVENT
                           ? proto_event_kind_name (msg->kind)
                           : proto_type_name (msg->type);
    log_write (AURA_LOG_DEBUG, msg->cid, msg->job,
               "dropped %s of attempt %d from worker %s: %s", what,
               (int) msg->attempt, msg->worker[0] ? msg->worker : "?", why);
}

/*  Creates a socket with the common options and binds it. On failure logs
    one line and returns NULL. */
static zsock_t *
s_bind (int type, const char *name, const char *endpoint, int sndhwm)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("cannot create the %s socket", name);
        return NULL;
    }
    proto_socket_defaults (sock);
    if (sndhwm > 0)
        zsock_set_sndhwm (sock, sndhwm);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        log_error ("cannot bind the %s socket to %s: %s", name, endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

/*  Receives one whole message if one is waiting (the sockets it reads
    have a receive timeout of 0), keeping its first `max` parts in parts[]
    and discarding the rest; *count is the number of parts it had. Returns
    0, or -EAGAIN when nothing was waiting or the receive was interrupted
    (parts are then freed). */
static int
s_recv_parts (zsock_t *sock, zframe_t **parts, size_t max, size_t *count)
{
    size_t total = 0;
    while (true) {
        zframe_t *frame = zframe_recv (sock);
        if (!frame) {
            for (size_t i = 0; i < total && i < max; i++)
                zframe_destroy (&parts[i]);
            *count = 0;
            return -EAGAIN;
        }
        bool more = zframe_more (frame) != 0;
        if (total < max)
            parts[total] = frame;
        else
            zframe_destroy (&frame);
        total++;
        if (!more)
            break;
    }
    *count = total;
    return 0;
}

/* ------------------------------------------------------------------ */
/*  Loading the journal                                                */

typedef struct {
    jobs_t *jobs;
    int64_t claim_deadline_mono_us;
    size_t by_status[JOB_STATUS_COUNT];
    size_t refused;
} load_t;

static int
s_restore_one (const job_record_t *record, void *arg)
{
    load_t *load = arg;
    int rc = jobs_restore (load->jobs, record, load->claim_deadline_mono_us);
    if (rc == -EINVAL || rc == -EEXIST) {
        log_write (AURA_LOG_ERROR, record->snapshot.cid, record->snapshot.job,
                   "journal: cannot restore a job: %s", strerror (-rc));
        load->refused++;
        return 0;
    }
    if (rc != 0)
        return rc;
    load->by_status[record->snapshot.status]++;
    return 0;
}

/*  Reads every journaled job into a new store. Running jobs wait for
    their workers' claims until one lease from now. The summary is logged
    at `level`. Returns the store, or NULL after an error log line. */
static jobs_t *
s_load (broker_t *self, log_level_t level)
{
    jobs_t *jobs = jobs_new ();
    if (!jobs) {
        log_error ("cannot allocate the job store");
        return NULL;
    }
    load_t load = { .jobs = jobs,
                    .claim_deadline_mono_us =
                        zclock_usecs () + self->lease_us };
    size_t skipped = 0;
    int rc = journal_load_jobs (self->journal, s_restore_one, &load, &skipped);
    if (rc < 0) {
        log_error ("journal %s: cannot load the jobs: %s",
                   journal_path (self->journal), strerror (-rc));
        jobs_destroy (&jobs);
        return NULL;
    }
    log_write (level, NULL, NULL,
               "journal %s: %d jobs loaded (%zu queued, %zu running awaiting "
               "their workers, %zu done, %zu failed, %zu canceled; %zu "
               "unreadable)",
               journal_path (self->journal), rc - (int) load.refused,
              load.by_status[JOB_QUEUED], load.by_status[JOB_RUNNING],
               load.by_status[JOB_DONE], load.by_status[JOB_FAILED],
               load.by_status[JOB_CANCELED], skipped + load.refused);
    return jobs;
}

/*  Replaces the job store by the journal's contents, after a failed
    commit left memory ahead of the disk. Keeps the old store when the
    journal cannot be read either. */
static void
s_reload (broker_t *self)
{
    jobs_t *jobs = s_load (self, AURA_LOG_DEBUG);
    if (!jobs) {
        log_error ("journal unreadable: keeping the jobs in memory, which may "
                   "be ahead of the journal");
        return;
    }
    jobs_destroy (&self->jobs);
    self->jobs = jobs;
}

/*  Retention before the loop starts: every step committed on its own. */
static int
s_prune_all (broker_t *self)
{
    int64_t before = proto_now_us () - self->retention_us;
    size_t total = 0;
    while (true) {
        size_t pruned = 0;
        int rc = journal_prune (self->journal, before, BROKER_PRUNE_JOBS,
                                BROKER_PRUNE_EVENTS, NULL, NULL, &pruned);
        if (rc >= 0 && journal_commit (self->journal) != 0)
            rc = -EIO;
        if (rc < 0) {
            journal_rollback (self->journal);
            return rc;
        }
        total += pruned;
        if (rc == 0)
            break;
    }
    if (total > 0)
        log_info ("journal: pruned %zu jobs finished over %lld h ago", total,
                  (long long) (self->retention_us / 3600000000LL));
    return 0;
}

broker_t *
broker_new (const aura_config_t *cfg)
{
    assert (cfg);
    broker_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("cannot allocate the broker");
        return NULL;
    }
    self->frontend_drops.socket_name = "frontend";
    self->events_drops.socket_name = "events";
    self->lease_us = (int64_t) cfg->lease_ms * 1000;
    self->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 1;
    self->retention_us = (int64_t) cfg->retention_h * 3600 * 1000000LL;

    char err[512] = "";
    self->journal = journal_open (cfg->data_dir, err, sizeof err);
    if (!self->journal) {
        log_error ("%s", err);
        goto failed;
    }
    if (s_prune_all (self) != 0) {
        log_error ("journal %s: retention failed",
                   journal_path (self->journal));
        goto failed;
    }
    self->jobs = s_load (self, AURA_LOG_INFO);
    self->workers = workers_new ();
    if (!self->jobs || !self->workers) {
        log_error ("cannot load the job store");
        goto failed;
    }
    self->next_prune_mono_us = zclock_usecs () + BROKER_PRUNE_PERIOD_US;

    self->frontend = s_bind (ZMQ_ROUTER, "frontend", cfg->broker_frontend, 0);
    if (!self->frontend)
        goto failed;
    /* The loop reads until a socket is empty instead of asking each time */
    zsock_set_rcvtimeo (self->frontend, 0);
    /* HWM 1: a dispatch that cannot leave at once goes back to the head
       of the queue instead of waiting behind a busy worker. */
    self->jobs_out = s_bind (ZMQ_PUSH, "jobs", cfg->broker_jobs, 1);
    if (!self->jobs_out)
        goto failed;
    self->events = s_bind (ZMQ_PULL, "events", cfg->broker_events, 0);
    if (!self->events)
        goto failed;
    zsock_set_rcvtimeo (self->events, 0);
    self->publish = s_bind (ZMQ_PUB, "publish", cfg->broker_publish,
                            BROKER_PUBLISH_HWM);
    if (!self->publish)
        goto failed;
    return self;

failed:
    broker_destroy (&self);
    return NULL;
}

static void s_outbox_clear (broker_t *self);

void
broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    zsock_destroy (&self->publish);
    zsock_destroy (&self->events);
    zsock_destroy (&self->jobs_out);
    zsock_destroy (&self->frontend);
    s_outbox_clear (self);
    free (self->outbox);
    journal_close (&self->journal);
    workers_destroy (&self->workers);
    jobs_destroy (&self->jobs);
    free (self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ */
/*  The outbox: what a turn sends, once its changes are committed      */

/*  Takes a slot at the end of the outbox, or NULL when out of memory. */
static outgoing_t *
s_hold (broker_t *self)
{
    if (self->outbox_count == self->outbox_cap) {
        size_t cap = self->outbox_cap ? self->outbox_cap * 2 : 256;
        outgoing_t *outbox = realloc (self->outbox, cap * sizeof *outbox);
        if (!outbox) {
            log_error ("cannot hold an outgoing message: out of memory");
            return NULL;
        }
        self->outbox = outbox;
        self->outbox_cap = cap;
    }
    outgoing_t *out = &self->outbox[self->outbox_count++];
    memset (out, 0, sizeof *out);
    return out;
}

static void
s_outgoing_free (outgoing_t *out)
{
    free (out->body);
    out->body = NULL;
    zframe_destroy (&out->identity);
    zmsg_destroy (&out->items);
}

static void
s_outbox_clear (broker_t *self)
{
    for (size_t i = 0; i < self->outbox_count; i++)
        s_outgoing_free (&self->outbox[i]);
    self->outbox_count = 0;
}

static void
s_free_body (void *data, void *hint)
{
    (void) hint;
    free (data);
}

/*  Sends *body_p (taken) as a message part without copying it. */
static int
s_send_body (zsock_t *sock, char **body_p, size_t len, int flags)
{
    zmq_msg_t part;
    if (zmq_msg_init_data (&part, *body_p, len, s_free_body, NULL) != 0)
        return -1;
    *body_p = NULL;  /* the message owns it now */
    if (zmq_msg_send (&part, zsock_resolve (sock), flags) < 0) {
        zmq_msg_close (&part);
        return -1;
    }
    return 0;
}

/*  Sends one held message and frees it. Nothing ever blocks: ROUTER drops
    what it cannot route and PUB what a slow subscriber cannot take. */
static void
s_send (broker_t *self, outgoing_t *out)
{
    bool items = out->items && zmsg_size (out->items) > 0;
    if (out->reply) {
        if (zframe_send (&out->identity, self->frontend,
                         ZFRAME_MORE | ZFRAME_DONTWAIT)
                != 0
            || s_send_body (self->frontend, &out->body, out->body_len,
                            ZMQ_DONTWAIT | (items ? ZMQ_SNDMORE : 0))
                   != 0)
            items = false;
        zframe_t *frame;
        while (items && (frame = zmsg_pop (out->items))) {
            int more = zmsg_size (out->items) > 0 ? ZFRAME_MORE : 0;
            if (zframe_send (&frame, self->frontend, more | ZFRAME_DONTWAIT)
                != 0) {
                zframe_destroy (&frame);
                break;
            }
        }
    }
    else if (zmq_send (zsock_resolve (self->publish), out->topic,
                       strlen (out->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT)
             >= 0)
        s_send_body (self->publish, &out->body, out->body_len, ZMQ_DONTWAIT);
    s_outgoing_free (out);
}

static void
s_error_reply (proto_msg_t *reply, int32_t error_status, const char *code,
               const char *message)
{
    proto_msg_init (reply, PROTO_ERROR);
    reply->error_status = error_status;
    snprintf (reply->code, sizeof reply->code, "%s", code);
    snprintf (reply->message, sizeof reply->message, "%s", message);
}

/*  Sends the turn's messages: all of them when its changes are committed;
    otherwise a 503 in place of each answer, and no event. */
static void
s_flush_outbox (broker_t *self, bool committed)
{
    for (size_t i = 0; i < self->outbox_count; i++) {
        outgoing_t *out = &self->outbox[i];
        if (committed || out->pong) {
            s_send (self, out);
            continue;
        }
        if (!out->reply) {
            s_outgoing_free (out);
            continue;
        }
        proto_msg_t error;
        s_error_reply (&error, 503, "Unavailable",
                       "the broker cannot write its journal");
        snprintf (error.cid, sizeof error.cid, "%s",
                  out->cid[0] ? out->cid : "-");
        error.ts_us = proto_now_us ();
        free (out->body);
        out->body = NULL;
        zmsg_destroy (&out->items);
        if (proto_encode_buf (&error, &out->body, &out->body_len) == 0)
            s_send (self, out);
        else
            s_outgoing_free (out);
    }
    self->outbox_count = 0;
}

/*  Journals an event and holds it for PUB on job.<id>, or holds a cancel
    for ctl.cancel.<id>; a PROTO_NONE message is skipped, so optional
    outputs can be passed as they are. */
static void
s_publish (broker_t *self, const proto_msg_t *msg)
{
    if (msg->type == PROTO_NONE)
        return;
    const char *prefix = msg->type == PROTO_CANCEL ? PROTO_TOPIC_CANCEL
                                                   : PROTO_TOPIC_JOB;
    char topic[64];
    if (proto_topic (topic, sizeof topic, prefix, msg->job) != 0) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "cannot make the topic of a %s",
                   proto_type_name (msg->type));
        return;
    }
    char *body = NULL;
    size_t body_len = 0;
    if (proto_encode_buf (msg, &body, &body_len) != 0) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "cannot encode a %s %s", proto_type_name (msg->type),
                   proto_event_kind_name (msg->kind));
        return;
    }
    if (msg->type == PROTO_EVENT && !self->turn_failed) {
        /* The body journaled is the body published, byte for byte: a
           replay sends exactly what live subscribers saw. */
        if (journal_append_event (self->journal, msg->job, msg->seq,
                                  msg->ts_us, body, body_len)
            != 0)
            self->turn_failed = true;
        else
            self->events_journaled++;
    }
    outgoing_t *out = s_hold (self);
    if (!out) {
        free (body);
        return;
    }
    out->body = body;
    out->body_len = body_len;
    memcpy (out->topic, topic, sizeof out->topic);
}

static void
s_publish_out (broker_t *self, const jobs_out_t *out)
{
    for (size_t i = 0; i < out->count; i++)
        s_publish (self, &out->msg[i]);
}

/*  Holds an answer to the gateway whose ROUTER identity is `identity`
    (which stays the caller's), followed by the frames of *items (taken,
    may be NULL) for a multipart answer. */
static void
s_reply (broker_t *self, zframe_t *identity, proto_msg_t *msg,
         zmsg_t **items)
{
    msg->ts_us = proto_now_us ();
    char *body = NULL;
    size_t body_len = 0;
    zframe_t *to = zframe_dup (identity);
    outgoing_t *out = NULL;
    if (proto_encode_buf (msg, &body, &body_len) != 0 || !to
        || !(out = s_hold (self))) {
        log_write (AURA_LOG_ERROR, msg->cid, msg->job, "cannot answer a %s",
                   proto_type_name (msg->type));
        free (body);
        zframe_destroy (&to);
        if (items)
            zmsg_destroy (items);
        return;
    }
    out->reply = true;
    out->pong = msg->type == PROTO_PONG;
    out->body = body;
    out->body_len = body_len;
    out->identity = to;
    if (items) {
        out->items = *items;
        *items = NULL;
    }
    snprintf (out->cid, sizeof out->cid, "%s", msg->cid);
}

/* ------------------------------------------------------------------ */
/*  The end of a turn                                                  */

/*  Writes every job the turn changed to the journal. */
static void
s_journal_changes (broker_t *self)
{
    job_record_t record;
    while (jobs_pop_changed (self->jobs, &record) == 0) {
        if (!self->turn_failed
            && journal_put_job (self->journal, &record) != 0)
            self->turn_failed = true;
        proto_msg_reset (&record.snapshot);
    }
}

/*  Lets retention forget a job in memory as the journal prunes it. */
static bool
s_prune_allowed (const char *job, void *arg)
{
    broker_t *self = arg;
    int rc = jobs_forget (self->jobs, job);
    return rc == 0 || rc == -ENOENT;
}

/*  One bounded retention step, in the turn's transaction. */
static void
s_prune_step (broker_t *self)
{
    self->prune_due = false;
    size_t pruned = 0;
    int rc = journal_prune (self->journal,
                            proto_now_us () - self->retention_us,
                            BROKER_PRUNE_JOBS, BROKER_PRUNE_EVENTS,
                            s_prune_allowed, self, &pruned);
    if (rc < 0) {
        self->turn_failed = true;
        rc = 0;
    }
    if (pruned > 0)
        log_info ("journal: pruned %zu finished jobs past retention", pruned);
    self->next_prune_mono_us
        = zclock_usecs () + (rc == 1 ? BROKER_TICK_US : BROKER_PRUNE_PERIOD_US);
}

/*  Credits: the slots live workers last reported free, less the
    dispatches they have not answered yet. */
static int64_t
s_credits (broker_t *self)
{
    return workers_slots_free (self->workers)
           - (int64_t) jobs_in_flight (self->jobs);
}

/*  Pushes queued jobs, oldest first, while there are credits and the
    jobs socket takes them without blocking. A dispatch changes nothing
    the journal keeps (the job stays Queued), so it needs no commit. */
static void
s_dispatch (broker_t *self)
{
    self->dispatch_blocked = false;
    while (jobs_queued (self->jobs) > 0 && s_credits (self) > 0) {
        proto_msg_t dispatch;
        int rc = jobs_dispatch_next (self->jobs, zclock_usecs (), &dispatch);
        if (rc != 0) {
            log_error ("cannot take the next queued job: %s", strerror (-rc));
            proto_msg_reset (&dispatch);
            break;
        }
        dispatch.ts_us = proto_now_us ();
        zframe_t *frame = proto_encode (&dispatch);
        if (!frame)
            log_write (AURA_LOG_ERROR, dispatch.cid, dispatch.job,
                       "cannot encode the dispatch");
        if (!frame
            || zframe_send (&frame, self->jobs_out, ZFRAME_DONTWAIT) != 0) {
            /* No worker can take it right now (HWM reached, or no worker
               connected): it keeps its place at the head of the queue,
               and the loop waits for the socket to take messages again
               (a worker that just read its last dispatch frees the pipe
               a moment after its result arrives here). */
            zframe_destroy (&frame);
            jobs_dispatch_undo (self->jobs, dispatch.job);
            proto_msg_reset (&dispatch);
            self->dispatch_blocked = true;
            break;
        }
        log_write (AURA_LOG_INFO, dispatch.cid, dispatch.job,
                   "dispatched attempt %d", (int) dispatch.attempt);
        proto_msg_reset (&dispatch);
    }
}

/*  Ends a turn: journals its changes, commits, then sends what it held;
    on a failed commit answers 503 and reloads the jobs from the journal.
    Dispatches queued jobs last, so that a job leaves only once its
    submit is committed. */
static void
s_end_turn (broker_t *self, bool dispatch)
{
    s_journal_changes (self);
    if (self->prune_due && !self->turn_failed)
        s_prune_step (self);
    int rc = self->turn_failed ? -EIO : journal_commit (self->journal);
    if (rc == 0)
        s_flush_outbox (self, true);
    else {
        self->failed_turns++;
        journal_rollback (self->journal);
        int64_t now = zclock_usecs ();
        if (now - self->failed_turn_log_mono_us >= BROKER_DROP_LOG_US) {
            log_error ("journal: %llu turn(s) not written to disk since the "
                       "last report (%llu in all): their requests are answered "
                       "503, their events not published, and the jobs are "
                       "reloaded from the journal",
                       (unsigned long long) (self->failed_turns
                                             - self->failed_turns_logged),
                       (unsigned long long) self->failed_turns);
            self->failed_turn_log_mono_us = now;
            self->failed_turns_logged = self->failed_turns;
        }
        s_flush_outbox (self, false);
        s_reload (self);
    }
    self->turn_failed = false;
    if (dispatch)
        s_dispatch (self);
}

/*  Logs one info line for a job that out (the messages of one change)
    queues again, naming its new attempt and `reason`, so that an operator
    can tell why attempt N+1 happened. Logs nothing for other changes. */
static void
s_log_requeue (const jobs_out_t *out, const char *reason)
{
    for (size_t i = 0; i < out->count; i++) {
        const proto_msg_t *msg = &out->msg[i];
        if (msg->type == PROTO_EVENT && msg->kind == EVENT_JOB_STATUS
            && msg->status == JOB_QUEUED)
            log_write (AURA_LOG_INFO, msg->cid, msg->job,
                       "job %s re-queued as attempt %d: %s", msg->job,
                       (int) msg->attempt, reason);
    }
}

/* ------------------------------------------------------------------ */
/*  Frontend requests                                                  */

/*  True when s holds no control character (the string is UTF-8 already:
    the codec checks that). */
static bool
s_printable (const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static void
s_handle_submit (broker_t *self, zframe_t *identity,
                 const proto_msg_t *request)
{
    proto_msg_t reply, status;
    proto_msg_init (&reply, PROTO_NONE);
    proto_msg_init (&status, PROTO_NONE);
    char id[JOB_ID_SIZE] = "";
    int64_t now = proto_now_us ();
    int rc;

    if (!request->spec || request->spec_len == 0) {
        s_error_reply (&reply, 400, "BadRequest", "spec is required");
        goto answer;
    }
    if (!s_printable (request->idem_key)) {
        s_error_reply (&reply, 400, "BadIdempotencyKey",
                       "idem_key holds control characters");
        goto answer;
    }
    if (jobs_find_idem (self->jobs, request->idem_key, now, id) == 0) {
        jobs_snapshot (self->jobs, id, &reply);
        log_write (AURA_LOG_INFO, request->cid, id,
                   "submit with a known idempotency key: answering the job "
                   "it made");
        goto answer;
    }
    rc = job_id_generate (id);
    if (rc == 0)
        rc = jobs_submit (self->jobs, id, request->cid, request->spec,
                          request->spec_len, request->title,
                          request->idem_key, now, &status);
    if (rc == -EMSGSIZE) {
        s_error_reply (&reply, 400, "BadRequest", "spec is too large");
        goto answer;
    }
    if (rc != 0) {
        log_write (AURA_LOG_ERROR, request->cid, NULL,
                   "cannot store a new job: %s", strerror (-rc));
        s_error_reply (&reply, 503, "Unavailable", "cannot store the job");
        goto answer;
    }
    jobs_snapshot (self->jobs, id, &reply);
    log_write (AURA_LOG_INFO, request->cid, id,
               "job submitted (queue position %d)",
               (int) status.queue_position);

answer:
    snprintf (reply.cid, sizeof reply.cid, "%s", request->cid);
    /* The answer goes before the job's first event, so a gateway knows
       the job when the event arrives; both wait for the commit. */
    s_reply (self, identity, &reply, NULL);
    s_publish (self, &status);
    proto_msg_reset (&status);
    proto_msg_reset (&reply);
}

static void
s_handle_list (broker_t *self, zframe_t *identity, const proto_msg_t *request)
{
    proto_msg_t reply;
    proto_msg_init (&reply, PROTO_NONE);
    zmsg_t *items = NULL;
    char (*ids)[JOB_ID_SIZE] = NULL;
    job_status_t status = JOB_QUEUED;

    if (request->filter[0]
        && job_status_parse (request->filter, &status) != 0) {
        s_error_reply (&reply, 400, "BadFilter",
                       "filter must be Queued, Running, Done, Failed, "
                       "Canceled or empty");
        goto answer;
    }
    if (request->cursor[0]
        && !job_id_valid (request->cursor, strlen (request->cursor))) {
        s_error_reply (&reply, 400, "BadCursor", "cursor must be a job id");
        goto answer;
    }
    /* The codec refuses limits outside 1..PROTO_MAX_ITEMS; clamp anyway,
       since the allocation below depends on it. */
    size_t limit = request->limit < 1 ? 1
                   : request->limit > PROTO_MAX_ITEMS
                       ? PROTO_MAX_ITEMS
                       : (size_t) request->limit;
    ids = calloc (limit, sizeof *ids);
    items = zmsg_new ();
    if (!ids || !items) {
        s_error_reply (&reply, 503, "Unavailable", "out of memory");
        goto answer;
    }
    size_t count = 0;
    bool more = false;
    jobs_list (self->jobs, request->filter[0] ? (int) status : -1,
               request->cursor, limit, ids, &count, &more);
    for (size_t i = 0; i < count; i++) {
        proto_msg_t snapshot;
        jobs_snapshot (self->jobs, ids[i], &snapshot);
        snprintf (snapshot.cid, sizeof snapshot.cid, "%s", request->cid);
        zframe_t *frame = proto_encode (&snapshot);
        proto_msg_reset (&snapshot);
        if (!frame) {
            s_error_reply (&reply, 503, "Unavailable",
                           "cannot encode a job snapshot");
            goto answer;
        }
        zmsg_append (items, &frame);
    }
    proto_msg_init (&reply, PROTO_PAGE);
    reply.count = (int32_t) count;
    if (more && count > 0)
        memcpy (reply.cursor, ids[count - 1], JOB_ID_SIZE);

answer:
    snprintf (reply.cid, sizeof reply.cid, "%s", request->cid);
    if (reply.type != PROTO_PAGE)
        zmsg_destroy (&items);
    s_reply (self, identity, &reply, &items);
    free (ids);
    proto_msg_reset (&reply);
}

static int
s_add_replayed (const void *body, size_t len, void *arg)
{
    return zmsg_addmem ((zmsg_t *) arg, body, len) == 0 ? 0 : -ENOMEM;
}

static void
s_handle_replay (broker_t *self, zframe_t *identity,
                 const proto_msg_t *request)
{
    proto_msg_t reply;
    proto_msg_init (&reply, PROTO_NONE);
    zmsg_t *items = NULL;

    if (jobs_snapshot (self->jobs, request->job, &reply) != 0) {
        s_error_reply (&reply, 404, "NotFound", "no such job");
        goto answer;
    }
    size_t limit = request->limit < 1 ? 1
                   : request->limit > PROTO_MAX_ITEMS
                       ? PROTO_MAX_ITEMS
                       : (size_t) request->limit;
    items = zmsg_new ();
    bool more = false;
    /* Inside the turn's transaction, if one is open: the events of this
       turn are there too, and this answer leaves with them, after the
       commit. */
    int count = items ? journal_replay (self->journal, request->job,
                                        request->seq, limit, s_add_replayed,
                                        items, &more)
                      : -ENOMEM;
    if (count < 0) {
        /* the turn's events may not have been written either */
        self->turn_failed = true;
        s_error_reply (&reply, 503, "Unavailable",
                       "cannot read the job's events");
        goto answer;
    }
    proto_msg_init (&reply, PROTO_EVENTS);
    snprintf (reply.job, sizeof reply.job, "%s", request->job);
    reply.count = count;
    reply.more = more;

answer:
    snprintf (reply.cid, sizeof reply.cid, "%s", request->cid);
    if (reply.type != PROTO_EVENTS)
        zmsg_destroy (&items);
    s_reply (self, identity, &reply, &items);
    proto_msg_reset (&reply);
}

/*  Answers a cancel_job or a retry_job. */
static void
s_handle_change (broker_t *self, zframe_t *identity,
                 const proto_msg_t *request)
{
    proto_msg_t reply;
    proto_msg_init (&reply, PROTO_NONE);
    jobs_out_t out;
    jobs_out_init (&out);
    bool cancel = request->type == PROTO_CANCEL_JOB;
    int rc = cancel ? jobs_cancel (self->jobs, request->job, proto_now_us (),
                                   &out)
                    : jobs_retry (self->jobs, request->job, proto_now_us (),
                                  &out);
    if (rc == -ENOENT)
        s_error_reply (&reply, 404, "NotFound", "no such job");
    else if (rc == -EALREADY) {
        jobs_snapshot (self->jobs, request->job, &reply);
        char message[128];
        snprintf (message, sizeof message,
                  cancel ? "the job is %s: only a Queued or Running job can "
                           "be cancelled"
                         : "the job is %s: only a Failed or Canceled job can "
                           "be retried",
                  job_status_name (reply.status));
        s_error_reply (&reply, 409, "Conflict", message);
    }
    else if (rc != 0) {
        log_write (AURA_LOG_ERROR, request->cid, request->job,
                   "cannot %s the job: %s", cancel ? "cancel" : "retry",
                   strerror (-rc));
        s_error_reply (&reply, 503, "Unavailable", "cannot change the job");
    }
    else {
        jobs_snapshot (self->jobs, request->job, &reply);
        log_write (AURA_LOG_INFO, request->cid, request->job,
                   cancel ? "cancel requested: job %s, attempt %d"
                          : "retry requested: job %s again, attempt %d",
                   job_status_name (reply.status), (int) reply.attempt);
        s_log_requeue (&out, "retry requested");
    }
    snprintf (reply.cid, sizeof reply.cid, "%s", request->cid);
    s_reply (self, identity, &reply, NULL);
    s_publish_out (self, &out);
    jobs_out_reset (&out);
    proto_msg_reset (&reply);
}

/*  Handles one request, if one is waiting. Returns false when none was. */
static bool
s_handle_frontend (broker_t *self)
{
    zframe_t *parts[2] = { NULL, NULL };
    size_t count = 0;
    char err[160] = "";
    proto_msg_t request, reply;
    proto_msg_init (&request, PROTO_NONE);
    proto_msg_init (&reply, PROTO_NONE);

    if (s_recv_parts (self->frontend, parts, 2, &count) != 0)
        return false;
    if (count != 2) {
        s_drop (&self->frontend_drops,
                "expected [identity][body], got %zu frames", count);
        goto cleanup;
    }
    if (proto_decode (zframe_data (parts[1]), zframe_size (parts[1]),
                      &request, err, sizeof err)
        != 0) {
        s_drop (&self->frontend_drops, "%s", err);
        goto cleanup;
    }
    if (!correlation_id_valid (request.cid, strlen (request.cid))) {
        s_error_reply (&reply, 400, "BadCorrelationId",
                       "cid must be 1 to 64 characters of [A-Za-z0-9._:-]");
        goto answer;
    }

    switch (request.type) {
    case PROTO_SUBMIT:
        s_handle_submit (self, parts[0], &request);
        goto cleanup;
    case PROTO_LIST:
        s_handle_list (self, parts[0], &request);
        goto cleanup;
    case PROTO_REPLAY:
        s_handle_replay (self, parts[0], &request);
        goto cleanup;
    case PROTO_CANCEL_JOB:
    case PROTO_RETRY_JOB:
        s_handle_change (self, parts[0], &request);
        goto cleanup;
    case PROTO_GET:
        if (jobs_snapshot (self->jobs, request.job, &reply) != 0)
            s_error_reply (&reply, 404, "NotFound", "no such job");
        break;
    case PROTO_PING: {
        proto_msg_init (&reply, PROTO_PONG);
        size_t counts[JOB_STATUS_COUNT];
        jobs_count_by_status (self->jobs, counts);
        for (int i = 0; i < JOB_STATUS_COUNT; i++)
            reply.jobs_by_status[i] = (int64_t) counts[i];
        break;
    }
    default:
        /* It decoded, so its sender waits for an answer. */
        s_drop (&self->frontend_drops, "a %s is not a request",
                proto_type_name (request.type));
        s_error_reply (&reply, 400, "UnsupportedRequest",
                       "the frontend takes submit, get, list, replay, "
                       "cancel_job, retry_job and ping");
        break;
    }
answer:
    snprintf (reply.cid, sizeof reply.cid, "%s", request.cid);
    s_reply (self, parts[0], &reply, NULL);

cleanup:
    proto_msg_reset (&reply);
    proto_msg_reset (&request);
    zframe_destroy (&parts[1]);
    zframe_destroy (&parts[0]);
    return true;
}

/* ------------------------------------------------------------------ */
/*  Worker reports                                                     */

/*  Records a worker's credit report, logging a worker seen for the first
    time. */
static void
s_worker_report (broker_t *self, const char *worker, int32_t slots_free,
                 int32_t slots_total, bool heartbeat)
{
    int rc = heartbeat ? workers_heartbeat (self->workers, worker, slots_free,
                                            slots_total, zclock_usecs ())
                       : workers_report (self->workers, worker, slots_free,
                                         slots_total, zclock_usecs ());
    if (rc == 1)
        log_info ("worker %s joined (%d of %d slots free)", worker,
                  (int) slots_free, (int) slots_total);
}

/*  Logs and publishes what taking a job back from a worker produced:
    the cancel of the abandoned attempt, then a re-queue, a failure or a
    cancellation. `reason` names the path that took it back ("lease
    expired"). */
static void
s_publish_loss (broker_t *self, const jobs_out_t *out, const char *reason)
{
    const proto_msg_t *cancel = &out->msg[0];
    const proto_msg_t *status = NULL;
    const char *why = "";
    for (size_t i = 0; i < out->count; i++) {
        if (out->msg[i].kind == EVENT_JOB_STATUS)
            status = &out->msg[i];
        if (out->msg[i].kind == EVENT_WARNING
            || out->msg[i].kind == EVENT_ERROR)
            why = out->msg[i].message;
    }
    if (status && status->status == JOB_QUEUED)
        log_write (AURA_LOG_WARN, cancel->cid, cancel->job, "%s", why);
    else if (status)
        log_write (AURA_LOG_WARN, cancel->cid, cancel->job,
                   "attempt %d taken back: job %s%s%s", (int) cancel->attempt,
                   job_status_name (status->status), *why ? ": " : "", why);
    s_log_requeue (out, reason);
    s_publish_out (self, out);
}

static void
s_handle_heartbeat (broker_t *self, const proto_msg_t *msg)
{
    jobs_out_t out;
    jobs_out_init (&out);
    /* Claims first: after a restart, a job this worker runs may still be
       queued, and must not be handed out again when its credits arrive. */
    for (size_t i = 0; i < msg->running_count; i++) {
        const proto_running_t *running = &msg->running[i];
        int rc = jobs_claim (self->jobs, running->job, running->attempt,
                             msg->worker, proto_now_us (), &out);
        if (rc == -ESTALE)
            log_write (AURA_LOG_DEBUG, NULL, running->job,
                       "worker %s still runs attempt %d, which is over: "
                       "cancelling it",
                       msg->worker, (int) running->attempt);
        else if (rc == 0 && out.count > 0)
            log_write (AURA_LOG_INFO, NULL, running->job,
                       "worker %s claims attempt %d: running", msg->worker,
                       (int) running->attempt);
        s_publish_out (self, &out);
        jobs_out_reset (&out);
    }
    /* A heartbeat whose list accounts for every busy slot is the whole
       truth: a job leased to this worker that it does not name is gone
       (its last messages were lost, or the worker restarted under the
       same name), and waiting for the lease to expire would not help. */
    if (msg->slots_total >= 1
        && (int64_t) msg->running_count + msg->slots_free
               == (int64_t) msg->slots_total) {
        while (jobs_lose_worker (self->jobs, msg->worker, msg->running,
                                 msg->running_count,
                                 "its heartbeat no longer names it",
                                 self->max_attempts, proto_now_us (), &out)
               == 0) {
            s_publish_loss (self, &out, "the worker's heartbeat no longer "
                                        "names it");
            jobs_out_reset (&out);
        }
    }
    jobs_out_reset (&out);
    s_worker_report (self, msg->worker, msg->slots_free, msg->slots_total,
                     true);
}

static void
s_handle_accepted (broker_t *self, const proto_msg_t *msg)
{
    s_worker_report (self, msg->worker, msg->slots_free, msg->slots_total,
                     false);
    jobs_out_t out;
    int rc = jobs_accept (self->jobs, msg->job, msg->attempt, msg->worker,
                          proto_now_us (), &out);
    if (rc != 0)
        s_stale (self, msg, rc);
    else
        log_write (AURA_LOG_INFO, out.msg[0].cid, msg->job,
                   "running on worker %s, attempt %d", msg->worker,
                   (int) msg->attempt);
    /* on -ESTALE, the cancel of the attempt that is over */
    s_publish_out (self, &out);
    jobs_out_reset (&out);
}

static void
s_handle_declined (broker_t *self, const proto_msg_t *msg)
{
    bool shutdown = strcmp (msg->code, "Shutdown") == 0;
    /* A worker that is stopping takes no more jobs, whatever it counts. */
    s_worker_report (self, msg->worker, shutdown ? 0 : msg->slots_free,
                     msg->slots_total, false);
    jobs_out_t out;
    int rc = jobs_decline (self->jobs, msg->job, msg->attempt, shutdown,
                           msg->worker, proto_now_us (), &out);
    if (rc != 0)
        s_stale (self, msg, rc);
    else if (out.count > 0) {
        log_write (AURA_LOG_WARN, out.msg[0].cid, msg->job,
                   "worker %s shut down while running attempt %d: job %s",
                   msg->worker, (int) msg->attempt,
                   out.msg[out.count - 1].kind == EVENT_JOB_STATUS
                       ? "queued again"
                       : "canceled, as requested");
        s_log_requeue (&out, "the worker gave it back");
        s_publish_out (self, &out);
    }
    else
        log_write (AURA_LOG_DEBUG, msg->cid, msg->job,
                   "worker %s declined attempt %d (%s); back at the head of "
                   "the queue",
                   msg->worker, (int) msg->attempt, msg->code);
    jobs_out_reset (&out);
}

static void
s_handle_event (broker_t *self, proto_msg_t *msg)
{
    bool terminal = proto_event_is_terminal (msg->kind);
    if (terminal)
        s_worker_report (self, msg->worker, msg->slots_free, msg->slots_total,
                         false);
    else if (msg->worker[0])
        workers_touch (self->workers, msg->worker, zclock_usecs ());

    jobs_out_t out;
    int rc = jobs_apply_event (self->jobs, msg, proto_now_us (), &out);
    if (rc == -EINVAL)
        s_drop (&self->events_drops, "a worker may not send a %s event",
                proto_event_kind_name (msg->kind));
    else if (rc != 0)
        s_stale (self, msg, rc);
    else {
        /* job-status first: the terminal event is the job's last seq. */
        s_publish_out (self, &out);
        s_publish (self, msg);
        if (terminal && out.count == 1)
            log_write (msg->kind == EVENT_JOB_COMPLETED ? AURA_LOG_INFO
                                                        : AURA_LOG_WARN,
                       out.msg[0].cid, msg->job,
                       "job %s (attempt %d, worker %s)%s%s",
                       job_status_name (out.msg[0].status), (int) msg->attempt,
                       msg->worker[0] ? msg->worker : "?",
                       msg->code[0] ? ": " : "", msg->code);
    }
    jobs_out_reset (&out);
}

/*  Frees what a decoded message owns. Only a spec is ever owned (see
    proto.h), and worker reports carry none, so the common case costs
    nothing instead of re-initialising a large struct. */
static void
s_release (proto_msg_t *msg)
{
    if (msg->spec)
        proto_msg_reset (msg);
}

/*  Handles one worker report, if one is waiting. Returns false when none
    was. */
static bool
s_handle_events (broker_t *self)
{
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, zsock_resolve (self->events), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return false;
    }
    size_t total = 1;
    if (zmq_msg_more (&part)) {
        /* ZeroMQ delivers the rest of a multipart message at once */
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        int more = 1;
        while (more
               && zmq_msg_recv (&rest, zsock_resolve (self->events), 0) >= 0) {
            total++;
            more = zmq_msg_more (&rest);
        }
        zmq_msg_close (&rest);
        s_drop (&self->events_drops, "expected [body], got %zu frames", total);
        zmq_msg_close (&part);
        return true;
    }

    char err[160] = "";
    proto_msg_t msg;
    if (proto_decode (zmq_msg_data (&part), zmq_msg_size (&part), &msg, err,
                      sizeof err)
        != 0) {
        s_drop (&self->events_drops, "%s", err);
        zmq_msg_close (&part);
        return true;
    }
    zmq_msg_close (&part);

    switch (msg.type) {
    case PROTO_HEARTBEAT:
        if (!msg.worker[0])
            s_drop (&self->events_drops, "a heartbeat without a worker name");
        else
            s_handle_heartbeat (self, &msg);
        break;
    case PROTO_ACCEPTED:
        s_handle_accepted (self, &msg);
        break;
    case PROTO_DECLINED:
        s_handle_declined (self, &msg);
        break;
    case PROTO_EVENT:
        s_handle_event (self, &msg);
        break;
    default:
        s_drop (&self->events_drops, "a %s does not belong on this socket",
                proto_type_name (msg.type));
        break;
    }
    s_release (&msg);
    return true;
}

/* ------------------------------------------------------------------ */
/*  Housekeeping                                                       */

/*  Handles what is waiting, up to `batch` messages. Returns how many it
    handled. */
static int
s_drain (broker_t *self, int batch, bool (*handle) (broker_t *))
{
    int handled = 0;
    while (handled < batch && !zsys_interrupted && handle (self))
        handled++;
    return handled;
}

/*  A worker lost its lease: each job it holds is re-queued or failed. */
static void
s_worker_lost (const char *worker, void *arg)
{
    broker_t *self = arg;
    jobs_out_t out;
    while (jobs_lose_worker (self->jobs, worker, NULL, 0, "its lease expired",
                             self->max_attempts, proto_now_us (), &out)
           == 0) {
        s_publish_loss (self, &out, "lease expired");
        jobs_out_reset (&out);
    }
    jobs_out_reset (&out);
}

/*  Takes jobs back from workers whose lease expired, from dispatches no
    worker answered within a lease, and from restored Running jobs no
    worker claimed within a lease of the start; schedules retention; and
    reports drops the log rate limit held back. */
static void
s_tick (broker_t *self)
{
    int64_t now = zclock_usecs ();
    s_drop_flush (&self->frontend_drops);
    s_drop_flush (&self->events_drops);
    /* A broker that was itself stopped (a pause, a swapped-out process, a
       disk that hung a commit) has not heard the heartbeats sent
       meanwhile: they are still on their way in. Judging the workers
       silent now would take every running job from them at once, so
       nobody's lease expires until a lease has passed since the stall. */
    int64_t since_tick = now - self->last_tick_mono_us;
    if (self->last_tick_mono_us > 0 && since_tick > self->lease_us / 2) {
        log_warn ("the broker did not run for %lld ms: leases held for %lld ms",
                  (long long) (since_tick / 1000), (long long) (self->lease_us / 1000));
        self->leases_held_until_us = now + self->lease_us;
    }
    self->last_tick_mono_us = now;
    if (now >= self->next_prune_mono_us)
        self->prune_due = true;
    if (now < self->leases_held_until_us)
        return;
    /* Nobody is judged on stale input: the reports that renew a lease or
       answer a dispatch may be waiting in the events socket (a loop that
       fell behind a burst). They are read first; while more keep waiting,
       the broker is behind its workers, and expiry waits for it to catch
       up, for at most one lease. */
    s_drain (self, BROKER_TICK_DRAIN, s_handle_events);
    if (zsock_events (self->events) & ZMQ_POLLIN) {
        if (self->behind_since_us == 0)
            self->behind_since_us = now;
        if (now - self->behind_since_us < self->lease_us)
            return;
    }
    else
        self->behind_since_us = 0;
    workers_expire (self->workers, now - self->lease_us, s_worker_lost, self);

    jobs_out_t out;
    while (jobs_expire_dispatch (self->jobs, now - self->lease_us,
                                 self->max_attempts, proto_now_us (), &out)
           == 0) {
        s_publish_loss (self, &out, "dispatch unacknowledged");
        jobs_out_reset (&out);
    }
    jobs_out_reset (&out);
    while (jobs_expire_claims (self->jobs, now, self->max_attempts,
                               proto_now_us (), &out)
           == 0) {
        s_publish_loss (self, &out, "claim expired");
        jobs_out_reset (&out);
    }
    jobs_out_reset (&out);
}

int
broker_run (broker_t *self)
{
    assert (self);
    log_info ("ready: frontend=%s jobs=%s events=%s publish=%s",
              zsock_endpoint (self->frontend), zsock_endpoint (self->jobs_out),
              zsock_endpoint (self->events), zsock_endpoint (self->publish));

    zmq_pollitem_t items[] = {
        { zsock_resolve (self->frontend), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->events), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->jobs_out), 0, ZMQ_POLLOUT, 0 },
    };
    int rc = 0;
    self->next_tick_mono_us = zclock_usecs () + BROKER_TICK_US;
    while (!zsys_interrupted) {
        int64_t wait_us = self->next_tick_mono_us - zclock_usecs ();
        long timeout_ms = wait_us > 0 ? (long) ((wait_us + 999) / 1000) : 0;
        /* the jobs socket is watched only while a dispatch waits for it */
        int watched = self->dispatch_blocked ? 3 : 2;
        if (zmq_poll (items, watched, timeout_ms) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            rc = -zmq_errno ();
            log_error ("polling failed: %s", zmq_strerror (-rc));
            break;
        }
        int handled = 0;
        if (items[0].revents & ZMQ_POLLIN)
            handled += s_drain (self, BROKER_FRONTEND_BATCH, s_handle_frontend);
        if (items[1].revents & ZMQ_POLLIN)
            handled += s_drain (self, BROKER_EVENTS_BATCH, s_handle_events);
        if (handled > 0)
            self->turns++;
        if (zclock_usecs () >= self->next_tick_mono_us) {
            s_tick (self);
            self->next_tick_mono_us = zclock_usecs () + BROKER_TICK_US;
        }
        s_end_turn (self, true);
    }
    /* commit (and send) whatever the last turn left */
    s_end_turn (self, false);
    log_info ("stopping: %zu jobs (%zu queued, %zu dispatched, %zu running), "
              "%zu workers; %llu events journaled in %llu turns; dropped "
              "%llu on frontend, %llu on events, %llu stale reports; %llu "
              "failed commits",
              jobs_size (self->jobs), jobs_queued (self->jobs),
              jobs_in_flight (self->jobs), jobs_running (self->jobs),
              workers_size (self->workers),
              (unsigned long long) self->events_journaled,
              (unsigned long long) self->turns,
              (unsigned long long) self->frontend_drops.dropped,
              (unsigned long long) self->events_drops.dropped,
              (unsigned long long) self->stale_reports,
              (unsigned long long) self->failed_turns);
    return rc;
}
