/*  worker — the job runner's main loop: dispatches in, cancels in, job
    events out (progress coalesced per job), heartbeats, and an orderly
    hand-back of running jobs when the process stops. See worker.h and
    docs/PROTOCOL.md. */
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "runner.h"

/*  Longest the loop sleeps in a poll, so worker_stop() from another thread
    is noticed quickly (signals wake the poll at once). */
#define WORKER_POLL_MAX_MS 100
/*  The broker's sockets get what is queued for them within this after the
    worker closes them; the last messages of a stop matter (PROTOCOL.md:
    declined "Shutdown"), so this is longer than the shared default. */
#define WORKER_EVENTS_LINGER_MS 1000
/*  A job's step-progress events leave at most once per this interval
    (10 a second); reports in between are held, the newest replacing the
    one held, so clients see the latest state without a flood of events
    that each cost a journal write and a frame on every stream. */
#define WORKER_PROGRESS_INTERVAL_MS 100
/*  Most messages of one job forwarded per loop turn before dispatches and
    cancels are looked at again. */
#define WORKER_INBOX_BATCH 64
/*  While messages wait for the broker's events socket (a paused or slow
    broker filled its queue), the loop tries again this often. */
#define WORKER_BACKLOG_RETRY_MS 10
/*  Most messages held for the broker. Only what the broker's view of a
    job depends on is held (step-progress and heartbeats are skipped while
    anything waits), a few per job and attempt, so this is reached only
    by a broker gone for very long; past it messages are dropped. */
#define WORKER_BACKLOG_MAX 100000

/*  Room for one job. Only the main thread touches it. */
typedef struct {
    runner_t *runner;              /* the slot's thread, made with the
                                      worker and reused for each job */
    bool busy;                     /* the runner has a job whose final
                                      message has not been taken */
    bool messages_waiting;         /* the runner woke us: its queue may
                                      hold messages */
    zsock_t *outbox;               /* PUSH to the inbox, the runner's */
    proto_msg_t *held_progress;    /* newest step-progress unsent, or NULL */
    int64_t progress_sent_ms;      /* when the job's last step-progress left */
    uint64_t progress_received;    /* this job's reports, for the log */
    uint64_t progress_coalesced;   /* of those, replaced before they left */
} slot_t;

struct _worker_t {
    char worker_id[sizeof ((proto_msg_t *) 0)->worker];
    int slots_total;
    int heartbeat_ms;
    const pipeline_t *pipeline;
    pipeline_options_t options;
    char inbox_endpoint[64];

    zsock_t *jobs;          /* PULL from the broker's jobs PUSH */
    zsock_t *events;        /* PUSH to the broker's events PULL */
    zsock_t *control;       /* SUB to the broker's PUB, ctl.cancel. */
    zsock_t *inbox;         /* PULL bound on inproc: the runners' messages */
    zpoller_t *poller;

    slot_t *slots;          /* slots_total entries */
    int slots_used;
    bool stopping;          /* no new jobs; running ones interrupted */
    bool abandoned;         /* some runner threads never stopped */
    zlistx_t *backlog;      /* encoded messages (zframe_t) waiting, in
                               order, for the events socket */
    bool heartbeat_due;     /* one was skipped while the backlog waited */
    bool events_blocked;    /* the backlog holds messages */
    int64_t blocked_log_ms; /* when that was last logged (once a second) */
    int64_t unblocked_log_ms;
    atomic_bool stop_requested;
    worker_stats_t stats;
};

static int
s_slots_free (const worker_t *self)
{
    return self->stopping ? 0 : self->slots_total - self->slots_used;
}

/*  True for a message the broker can do without: a heartbeat (the next
    one says the same, newer) or a step-progress (a newer one or the step's
    status follows). Every other message changes the broker's view of a
    job (accepted, declined, step-status, warnings, the final event), and a
    heartbeat must never overtake one: a heartbeat that no longer names a
    job tells the broker that the job's final message has gone out. */
static bool
s_skippable (const proto_msg_t *msg)
{
    return msg->type == PROTO_HEARTBEAT
           || (msg->type == PROTO_EVENT && msg->kind == EVENT_STEP_PROGRESS);
}

/*  Sends the held messages, oldest first, while the events socket takes
    them. Returns true when none is left. */
static bool
s_flush_backlog (worker_t *self)
{
    if (zlistx_size (self->backlog) == 0)
        return true;
    zframe_t *frame;
    while ((frame = zlistx_first (self->backlog))) {
        if (zframe_send (&frame, self->events, ZFRAME_DONTWAIT) != 0)
            break;
        /* sent: the frame is gone, only its list entry remains */
        zlistx_detach_cur (self->backlog);
        self->stats.events_forwarded++;
    }
    size_t left = zlistx_size (self->backlog);
    if (left > 0)
        return false;
    self->events_blocked = false;
    int64_t now_ms = zclock_mono ();
    if (now_ms - self->unblocked_log_ms >= 1000) {
        self->unblocked_log_ms = now_ms;
        log_info ("broker events queue accepting again: held messages sent "
                  "(%llu held, %llu skipped so far)",
                  (unsigned long long) self->stats.messages_held,
                  (unsigned long long) self->stats.send_failures);
    }
    return true;
}

/*  Encodes msg and sends it to the broker without blocking. A worker that
    cannot reach its broker keeps running its jobs: when the events queue
    is full (the broker paused, or gone for long), a message the broker's
    view of a job depends on waits in the backlog, in order, and leaves
    once the queue takes messages again; heartbeats and step-progress are
    skipped meanwhile (a heartbeat is sent as soon as the backlog is
    empty). Nothing a job reports is lost unless the backlog is full. */
static void
s_forward (worker_t *self, const proto_msg_t *msg)
{
    bool skippable = s_skippable (msg);
    bool waiting = !s_flush_backlog (self);
    if (waiting && skippable) {
        self->stats.send_failures++;
        if (msg->type == PROTO_HEARTBEAT)
            self->heartbeat_due = true;
        return;
    }
    zframe_t *frame = proto_encode (msg);
    if (!frame) {
        self->stats.send_failures++; /* proto_encode logged why */
        return;
    }
    if (!waiting && zframe_send (&frame, self->events, ZFRAME_DONTWAIT) == 0) {
        self->stats.events_forwarded++;
        self->events_blocked = false;
        return;
    }
    if (!self->events_blocked) {
        self->events_blocked = true;
        int64_t now_ms = zclock_mono ();
        if (now_ms - self->blocked_log_ms >= 1000) {
            self->blocked_log_ms = now_ms;
            log_write (AURA_LOG_WARN, msg->cid, msg->job,
                       "broker events queue full (%s): holding messages "
                       "until the broker reads again",
                       zmq_strerror (errno));
        }
    }
    if (skippable) {
        self->stats.send_failures++;
        if (msg->type == PROTO_HEARTBEAT)
            self->heartbeat_due = true;
        zframe_destroy (&frame);
        return;
    }
    if (zlistx_size (self->backlog) >= WORKER_BACKLOG_MAX
        || !zlistx_add_end (self->backlog, frame)) {
        self->stats.send_failures++;
        log_write (AURA_LOG_ERROR, msg->cid, msg->job,
                   "broker unreachable for too long: %zu messages held, "
                   "dropping a %s",
                   zlistx_size (self->backlog),
                   msg->type == PROTO_EVENT ? proto_event_kind_name (msg->kind)
                                            : proto_type_name (msg->type));
        zframe_destroy (&frame);
        return;
    }
    self->stats.messages_held++;
}

/*  Sends a heartbeat: the worker's credits and the jobs it runs now
    (every occupied slot, a job being stopped included, until its final
    message has gone out). */
static void
s_send_heartbeat (worker_t *self)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_HEARTBEAT);
    msg.ts_us = proto_now_us ();
    memcpy (msg.worker, self->worker_id, sizeof msg.worker);
    msg.slots_free = s_slots_free (self);
    msg.slots_total = self->slots_total;
    /* name every job still held, so that a broker that restarted (and
       lost its leases) can give them back to this worker */
    for (int i = 0; i < self->slots_total; i++) {
        runner_t *runner = self->slots[i].runner;
        if (self->slots[i].busy
            && proto_msg_add_running (&msg, runner_job (runner),
                                      runner_attempt (runner))
                   < 0)
            log_write (AURA_LOG_WARN, runner_cid (runner), runner_job (runner),
                       "heartbeat cannot name attempt %d", runner_attempt (runner));
    }
    s_forward (self, &msg);
}

/*  Sends accepted or declined for a job of this worker, with the credits
    as they are now. `code` only for declined. */
static void
s_send_answer (worker_t *self, proto_type_t type, const char *job,
               int attempt, const char *code, const char *message)
{
    proto_msg_t msg;
    proto_msg_init (&msg, type);
    msg.ts_us = proto_now_us ();
    memcpy (msg.worker, self->worker_id, sizeof msg.worker);
    snprintf (msg.job, sizeof msg.job, "%s", job);
    msg.attempt = attempt;
    msg.slots_free = s_slots_free (self);
    msg.slots_total = self->slots_total;
    if (code)
        snprintf (msg.code, sizeof msg.code, "%s", code);
    if (message)
        snprintf (msg.message, sizeof msg.message, "%s", message);
    s_forward (self, &msg);
}

/*  Logs and counts a message that is dropped. */
static void
s_drop (worker_t *self, const char *socket_name, const char *why)
{
    self->stats.messages_dropped++;
    log_warn ("dropped a message on %s: %s (%llu dropped)", socket_name, why,
              (unsigned long long) self->stats.messages_dropped);
}

/*  Decodes a frame into msg. Returns 0, or -EPROTO after dropping it. */
static int
s_decode (worker_t *self, zframe_t *frame, const char *socket_name,
          proto_msg_t *msg)
{
    char err[160];
    if (proto_decode (zframe_data (frame), zframe_size (frame), msg, err,
                      sizeof err) != 0) {
        s_drop (self, socket_name, err);
        return -EPROTO;
    }
    return 0;
}

/*  Returns the slot of the running job (job, attempt), or -1. */
static int
s_find (const worker_t *self, const char *job, int attempt)
{
    for (int i = 0; i < self->slots_total; i++) {
        runner_t *runner = self->slots[i].runner;
        if (self->slots[i].busy && runner_attempt (runner) == attempt
            && strcmp (runner_job (runner), job) == 0)
            return i;
    }
    return -1;
}

/*  Starts the job of a dispatch in slot `slot`: accepted goes out first,
    so every event of the job follows it (the job's messages reach the
    broker only through this thread, after this returns). */
static void
s_start_job (worker_t *self, int slot, const proto_msg_t *dispatch)
{
    slot_t *room = &self->slots[slot];
    int rc = runner_start (room->runner, dispatch);
    if (rc < 0) {
        log_write (AURA_LOG_ERROR, dispatch->cid, dispatch->job,
                   "cannot prepare the job: %s", strerror (-rc));
        self->stats.jobs_declined++;
        s_send_answer (self, PROTO_DECLINED, dispatch->job, dispatch->attempt,
                       "Full", "worker out of resources");
        return;
    }
    room->busy = true;
    /* the job's first progress report leaves at once */
    room->progress_sent_ms = zclock_mono () - WORKER_PROGRESS_INTERVAL_MS;
    room->progress_received = 0;
    room->progress_coalesced = 0;
    self->slots_used++;
    s_send_answer (self, PROTO_ACCEPTED, dispatch->job, dispatch->attempt, NULL,
                   NULL);
    self->stats.jobs_accepted++;
    log_write (AURA_LOG_INFO, dispatch->cid, dispatch->job,
               "accepted attempt %d (%d/%d slots busy)", (int) dispatch->attempt,
               self->slots_used, self->slots_total);
}

static void
s_handle_dispatch (worker_t *self)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    zmsg_t *zmsg = zmsg_recv (self->jobs);
    if (!zmsg)
        return;
    if (zmsg_size (zmsg) != 1) {
        s_drop (self, "jobs", "expected one frame");
        goto cleanup;
    }
    if (s_decode (self, zmsg_first (zmsg), "jobs", &msg) < 0)
        goto cleanup;
    if (msg.type != PROTO_DISPATCH) {
        s_drop (self, "jobs", proto_type_name (msg.type));
        goto cleanup;
    }
    if (s_find (self, msg.job, msg.attempt) >= 0) {
        /* already running here: the broker has our accepted for it */
        s_drop (self, "jobs", "dispatch of a job attempt already running");
        goto cleanup;
    }

    int slot = -1;
    for (int i = 0; i < self->slots_total && !self->stopping; i++)
        if (!self->slots[i].busy) {
            slot = i;
            break;
        }
    if (slot < 0) {
        self->stats.jobs_declined++;
        log_write (AURA_LOG_INFO, msg.cid, msg.job, "declined attempt %d: %s",
                   (int) msg.attempt, self->stopping ? "stopping" : "full");
        s_send_answer (self, PROTO_DECLINED, msg.job, msg.attempt, "Full",
                       self->stopping ? "worker is stopping" : NULL);
        goto cleanup;
    }
    s_start_job (self, slot, &msg);

cleanup:
    proto_msg_reset (&msg);
    zmsg_destroy (&zmsg);
}

static void
s_handle_control (worker_t *self)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_NONE);
    zmsg_t *zmsg = zmsg_recv (self->control);
    if (!zmsg)
        return;
    if (zmsg_size (zmsg) != 2) {
        s_drop (self, "publish", "expected [topic][body]");
        goto cleanup;
    }
    zframe_t *topic = zmsg_first (zmsg);
    if (s_decode (self, zmsg_next (zmsg), "publish", &msg) < 0)
        goto cleanup;
    if (msg.type != PROTO_CANCEL) {
        s_drop (self, "publish", proto_type_name (msg.type));
        goto cleanup;
    }
    char expected[64];
    if (proto_topic (expected, sizeof expected, PROTO_TOPIC_CANCEL, msg.job) < 0
        || !zframe_streq (topic, expected)) {
        s_drop (self, "publish", "cancel whose topic is not its job's");
        goto cleanup;
    }
    int slot = s_find (self, msg.job, msg.attempt);
    if (slot < 0) {
        /* every worker hears every cancel */
        log_write (AURA_LOG_DEBUG, msg.cid, msg.job,
                   "cancel of attempt %d: not running here", (int) msg.attempt);
        goto cleanup;
    }
    runner_cancel (self->slots[slot].runner);
    self->stats.cancels_applied++;
    log_write (AURA_LOG_INFO, runner_cid (self->slots[slot].runner), msg.job,
               "cancel requested for attempt %d", (int) msg.attempt);

cleanup:
    proto_msg_reset (&msg);
    zmsg_destroy (&zmsg);
}

/*  Sends the slot's held step-progress, if any, now. */
static void
s_flush_progress (worker_t *self, slot_t *slot, int64_t now_ms)
{
    proto_msg_t *held = slot->held_progress;
    if (!held)
        return;
    slot->held_progress = NULL;
    slot->progress_sent_ms = now_ms;
    s_forward (self, held);
    runner_message_free (slot->runner, held);
}

/*  Sends every held step-progress whose interval is over. Returns the
    earliest time another one falls due, or INT64_MAX when none is held. */
static int64_t
s_flush_due_progress (worker_t *self, int64_t now_ms)
{
    int64_t next_due_ms = INT64_MAX;
    for (int i = 0; i < self->slots_total; i++) {
        slot_t *slot = &self->slots[i];
        if (!slot->held_progress)
            continue;
        int64_t due_ms = slot->progress_sent_ms + WORKER_PROGRESS_INTERVAL_MS;
        if (due_ms <= now_ms)
            s_flush_progress (self, slot, now_ms);
        else if (due_ms < next_due_ms)
            next_due_ms = due_ms;
    }
    return next_due_ms;
}

/*  Takes a step-progress of the job in slot (ownership passes): sends it
    when the job's last one left at least WORKER_PROGRESS_INTERVAL_MS ago,
    else holds it in place of the one held, which is dropped — only the
    newest state matters, and the held one leaves before any other
    message of the job, so no status overtakes it. */
static void
s_offer_progress (worker_t *self, slot_t *slot, proto_msg_t *msg)
{
    slot->progress_received++;
    proto_msg_t *dropped = slot->held_progress;
    int64_t now_ms = zclock_mono ();
    if (now_ms - slot->progress_sent_ms >= WORKER_PROGRESS_INTERVAL_MS) {
        slot->held_progress = NULL;
        slot->progress_sent_ms = now_ms;
        s_forward (self, msg);
        runner_message_free (slot->runner, msg);
    }
    else
        slot->held_progress = msg;
    if (dropped) {
        slot->progress_coalesced++;
        self->stats.progress_coalesced++;
        runner_message_free (slot->runner, dropped);
    }
}

/*  Returns the slot whose runner is `runner`, or NULL. */
static slot_t *
s_slot_of (worker_t *self, const void *runner)
{
    for (int i = 0; i < self->slots_total; i++)
        if (self->slots[i].runner == runner)
            return &self->slots[i];
    return NULL;
}

/*  Frees a slot whose runner sent its final message, and what it still
    held has been sent: the runner is idle and takes the next job. */
static void
s_release (worker_t *self, slot_t *slot)
{
    assert (!slot->held_progress);
    slot->busy = false;
    self->slots_used--;
}

/*  Forwards a message taken from the runner of slot (ownership passes). */
static void
s_handle_job_message (worker_t *self, slot_t *slot, proto_msg_t *msg)
{
    if (!slot->busy)
        log_error ("message from a runner that holds no job");
    else if (msg->type == PROTO_EVENT && msg->kind == EVENT_STEP_PROGRESS) {
        s_offer_progress (self, slot, msg);
        return;
    }
    else if (slot->held_progress)
        s_flush_progress (self, slot, zclock_mono ());

    if (slot->busy && runner_message_is_final (msg)) {
        uint64_t received = slot->progress_received;
        uint64_t coalesced = slot->progress_coalesced;
        s_release (self, slot);
        msg->slots_free = s_slots_free (self);
        msg->slots_total = self->slots_total;
        const char *outcome;
        if (msg->type == PROTO_DECLINED) {
            self->stats.jobs_handed_back++;
            outcome = "handed back";
        }
        else {
            self->stats.jobs_finished++;
            outcome = proto_event_kind_name (msg->kind);
        }
        log_write (AURA_LOG_INFO, msg->cid, msg->job,
                   "attempt %d: %s (progress: %llu reported, %llu coalesced)",
                   (int) msg->attempt, outcome, (unsigned long long) received,
                   (unsigned long long) coalesced);
    }
    s_forward (self, msg);
    runner_message_free (slot->runner, msg);
}

/*  Reads the runners' wake-ups waiting on the inbox and marks their
    slots: each runner sends one when its queue stops being empty. */
static void
s_take_wakeups (worker_t *self)
{
    while (zsock_events (self->inbox) & ZMQ_POLLIN) {
        void *runner = NULL;
        if (zsock_recv (self->inbox, "p", &runner) != 0)
            return;
        slot_t *slot = s_slot_of (self, runner);
        if (slot)
            slot->messages_waiting = true;
        else
            log_error ("wake-up from a runner that is not the worker's");
    }
}

/*  Forwards the messages the woken runners have queued, at most
    WORKER_INBOX_BATCH of each. Returns true when some may be left. */
static bool
s_forward_job_messages (worker_t *self)
{
    bool left = false;
    for (int i = 0; i < self->slots_total; i++) {
        slot_t *slot = &self->slots[i];
        if (!slot->messages_waiting)
            continue;
        int count = 0;
        proto_msg_t *msg = NULL;
        while (count < WORKER_INBOX_BATCH
               && (msg = runner_message_next (slot->runner))) {
            s_handle_job_message (self, slot, msg);
            count++;
        }
        if (msg)
            left = true; /* the batch is full: more may wait */
        else
            slot->messages_waiting = false;
    }
    return left;
}

static void
s_begin_shutdown (worker_t *self)
{
    self->stopping = true;
    log_info ("stopping: %d running job(s) to hand back", self->slots_used);
    for (int i = 0; i < self->slots_total; i++)
        if (self->slots[i].busy)
            runner_interrupt (self->slots[i].runner);
    /* no credits from now on, so the broker stops dispatching here */
    s_send_heartbeat (self);
}

/*  Hands back the jobs whose threads did not stop in time, each after
    the progress it held. Their slots stay busy and their runners
    allocated: the threads still use them. */
static void
s_abandon_runners (worker_t *self)
{
    for (int i = 0; i < self->slots_total; i++) {
        runner_t *runner = self->slots[i].runner;
        if (!self->slots[i].busy)
            continue;
        s_flush_progress (self, &self->slots[i], zclock_mono ());
        log_write (AURA_LOG_ERROR, runner_cid (runner), runner_job (runner),
                   "job did not stop within %d ms: handing it back",
                   WORKER_SHUTDOWN_GRACE_MS);
        self->stats.jobs_handed_back++;
        s_send_answer (self, PROTO_DECLINED, runner_job (runner),
                       runner_attempt (runner), "Shutdown",
                       "worker stopped; the job's step did not");
        self->abandoned = true;
    }
}

/*  Connects a new socket of `type` to endpoint with the shared defaults.
    Returns NULL, logged, on failure. */
static zsock_t *
s_socket_new (int type, const char *endpoint, const char *what)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("cannot create the %s socket", what);
        return NULL;
    }
    proto_socket_defaults (sock);
    if (type == ZMQ_PULL)
        zsock_set_rcvhwm (sock, 1); /* never buffer jobs ahead (PROTOCOL.md) */
    if (type == ZMQ_PUSH)
        zsock_set_linger (sock, WORKER_EVENTS_LINGER_MS);
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, PROTO_TOPIC_CANCEL);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        log_error ("cannot connect the %s socket to %s: %s", what, endpoint,
                   zmq_strerror (errno));
        zsock_destroy (&sock);
    }
    return sock;
}

worker_t *
worker_new (const aura_config_t *cfg, const pipeline_t *pipeline)
{
    assert (cfg);
    assert (pipeline);
    assert (cfg->worker_slots > 0);
    worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->worker_id, sizeof self->worker_id, "%s", cfg->worker_id);
    self->slots_total = cfg->worker_slots;
    self->heartbeat_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 1000;
    self->pipeline = pipeline;
    self->options.synthetic_step_ms = cfg->synthetic_step_ms;
    self->options.synthetic_reports = cfg->synthetic_reports;
    snprintf (self->options.synthetic_fail_step,
              sizeof self->options.synthetic_fail_step, "%s",
              cfg->synthetic_fail_step);
    snprintf (self->options.artifact_root, sizeof self->options.artifact_root,
              "%s", cfg->artifact_dir);
    atomic_init (&self->stop_requested, false);
    /* unique per worker, so several can live in one process (tests). Not
       the worker's address: the allocator hands it out again before libzmq
       has unbound a destroyed worker's inbox, which it does in its own
       thread, and the bind would fail. */
    static atomic_uint s_inboxes_made;
    snprintf (self->inbox_endpoint, sizeof self->inbox_endpoint,
              "inproc://aura-worker-inbox-%u", atomic_fetch_add (&s_inboxes_made, 1));

    self->slots = calloc ((size_t) self->slots_total, sizeof *self->slots);
    self->backlog = zlistx_new ();
    if (!self->slots || !self->backlog)
        goto fail;
    zlistx_set_destructor (self->backlog, (zlistx_destructor_fn *) zframe_destroy);
    self->inbox = zsock_new (ZMQ_PULL);
    if (!self->inbox || zsock_bind (self->inbox, "%s", self->inbox_endpoint) < 0) {
        log_error ("cannot bind %s", self->inbox_endpoint);
        goto fail;
    }
    /* one runner, thread and socket per slot, made once: a thread and a
       socket per job cost more than the rest of a short job's work */
    for (int i = 0; i < self->slots_total; i++) {
        zsock_t *outbox = zsock_new (ZMQ_PUSH);
        if (!outbox)
            goto fail;
        self->slots[i].outbox = outbox;
        /* what a runner sent must reach the inbox even at the end */
        zsock_set_linger (outbox, WORKER_EVENTS_LINGER_MS);
        if (zsock_connect (outbox, "%s", self->inbox_endpoint) != 0) {
            log_error ("cannot connect a runner socket to %s",
                       self->inbox_endpoint);
            goto fail;
        }
        self->slots[i].runner = runner_new (pipeline, &self->options,
                                            self->worker_id, outbox);
        if (!self->slots[i].runner) {
            log_error ("cannot start the runner of slot %d", i + 1);
            goto fail;
        }
    }
    self->jobs = s_socket_new (ZMQ_PULL, cfg->broker_jobs, "jobs");
    self->events = s_socket_new (ZMQ_PUSH, cfg->broker_events, "events");
    self->control = s_socket_new (ZMQ_SUB, cfg->broker_publish, "publish");
    if (!self->jobs || !self->events || !self->control)
        goto fail;
    /* order is priority: dispatches and cancels before job events */
    self->poller = zpoller_new (self->jobs, self->control, self->inbox, NULL);
    if (!self->poller)
        goto fail;
    /* signals are handled by worker_run, which must keep polling while
       its jobs stop */
    zpoller_set_nonstop (self->poller, true);
    return self;

fail:
    worker_destroy (&self);
    return NULL;
}

int
worker_run (worker_t *self)
{
    assert (self);
    int rc = 0;
    s_send_heartbeat (self);
    log_info ("ready: worker=%s slots=%d pipeline=%s", self->worker_id,
              self->slots_total, self->pipeline->name);

    int64_t next_heartbeat_ms = zclock_mono () + self->heartbeat_ms;
    int64_t give_up_ms = 0;
    bool messages_left = false; /* a runner's queue was not emptied */
    while (true) {
        int64_t now_ms = zclock_mono ();
        if (!self->stopping
            && (zsys_interrupted || atomic_load (&self->stop_requested))) {
            s_begin_shutdown (self);
            give_up_ms = now_ms + WORKER_SHUTDOWN_GRACE_MS;
        }
        bool backlog_empty = s_flush_backlog (self);
        /* the last messages of a stop (declined "Shutdown") must reach
           the broker: wait for them within the grace period */
        if (self->stopping && self->slots_used == 0
            && (backlog_empty || now_ms >= give_up_ms))
            break;
        if (self->stopping && now_ms >= give_up_ms) {
            s_abandon_runners (self);
            rc = -ETIMEDOUT;
            break;
        }
        if (now_ms >= next_heartbeat_ms
            || (self->heartbeat_due && backlog_empty)) {
            self->heartbeat_due = false;
            s_send_heartbeat (self);
            next_heartbeat_ms = now_ms + self->heartbeat_ms;
        }
        int64_t next_progress_ms = s_flush_due_progress (self, now_ms);

        int64_t wait_ms = next_heartbeat_ms - now_ms;
        if (next_progress_ms - now_ms < wait_ms)
            wait_ms = next_progress_ms - now_ms;
        if (wait_ms > WORKER_POLL_MAX_MS)
            wait_ms = WORKER_POLL_MAX_MS;
        if (!backlog_empty && wait_ms > WORKER_BACKLOG_RETRY_MS)
            wait_ms = WORKER_BACKLOG_RETRY_MS;
        if (self->stopping && give_up_ms - now_ms < wait_ms)
            wait_ms = give_up_ms - now_ms;
        if (messages_left)
            wait_ms = 0;
        void *which = zpoller_wait (self->poller, (int) (wait_ms > 0 ? wait_ms : 0));
        if (which == self->jobs)
            s_handle_dispatch (self);
        else if (which == self->control)
            s_handle_control (self);
        else if (which == self->inbox)
            s_take_wakeups (self);
        /* the jobs' messages come in bursts: forward what waits, a
           bounded batch of each job, before polling again */
        messages_left = s_forward_job_messages (self);
    }
    if (!s_flush_backlog (self))
        log_error ("stopping with %zu messages the broker did not take",
                   zlistx_size (self->backlog));
    log_info ("stopped: accepted=%llu finished=%llu handed_back=%llu "
              "declined=%llu dropped=%llu send_failures=%llu held=%llu "
              "progress_coalesced=%llu",
              (unsigned long long) self->stats.jobs_accepted,
              (unsigned long long) self->stats.jobs_finished,
              (unsigned long long) self->stats.jobs_handed_back,
              (unsigned long long) self->stats.jobs_declined,
              (unsigned long long) self->stats.messages_dropped,
              (unsigned long long) self->stats.send_failures,
              (unsigned long long) self->stats.messages_held,
              (unsigned long long) self->stats.progress_coalesced);
    return rc;
}

void
worker_stop (worker_t *self)
{
    assert (self);
    atomic_store (&self->stop_requested, true);
}

void
worker_stats (const worker_t *self, worker_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
}

void
worker_destroy (worker_t **self_p)
{
    assert (self_p);
    worker_t *self = *self_p;
    if (!self)
        return;
    /* after a normal run every runner is idle and its thread ends at
       once; a runner abandoned by worker_run is still inside a step and
       must outlive the worker, with its socket, which it still sends on */
    for (int i = 0; self->slots && i < self->slots_total; i++) {
        slot_t *slot = &self->slots[i];
        if (slot->held_progress) {
            runner_message_free (slot->runner, slot->held_progress);
            slot->held_progress = NULL;
        }
        if (slot->busy && self->abandoned)
            continue;
        if (slot->busy)
            runner_interrupt (slot->runner); /* destroy waits for it */
        runner_destroy (&slot->runner);
        zsock_destroy (&slot->outbox);
    }
    /* the inbox holds only wake-ups: the messages nobody will forward
       were in the runners' queues, freed with them */
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->control);
    zlistx_destroy (&self->backlog);
    zsock_destroy (&self->events);
    zsock_destroy (&self->jobs);
    zsock_destroy (&self->inbox);
    free (self->slots);
    free (self);
    *self_p = NULL;
}
