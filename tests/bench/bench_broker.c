/*  bench_broker — how fast the broker routes events and dispatches jobs.

    It starts a real aura-broker (and, for dispatch, real aura-workers with
    a 0 ms synthetic pipeline) on ipc:// endpoints in a temporary directory
    and measures:
      - events routed: a fake worker pushes step-progress events of one
        running job as fast as it can; a subscriber counts them after the
        broker has journaled, numbered and published them;
      - jobs dispatched: N jobs submitted at once, timed until the last
        job-completed is published, with 1, 2 and 4 workers of 1 slot
        each (AURA_WORKER_SLOTS' default: each job then waits for the
        round trip of the one before it on its worker) and of 8 slots
        (the broker and workers kept busy). Each round runs every
        configuration once, so that a noisy machine spreads over all of
        them; the median of the rounds is reported.
    It prints Markdown tables on stdout, each under a one-line caption;
    progress goes to stderr. It asserts nothing about speed. */
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_proc.h"
#include "ids.h"
#include "proto.h"

typedef struct {
    char dir[256];
    char frontend[320], jobs[320], events[320], publish[320], data[320];
    const char *bin_dir;
    pid_t broker;
    pid_t workers[8];
    int worker_count;
    int worker_slots;  /* AURA_WORKER_SLOTS of the workers it starts */
} bench_env_t;

static double
s_now_s (void)
{
    return (double) zclock_usecs () / 1e6;
}

static pid_t
s_spawn (bench_env_t *env, const char *program, const char *extra_env)
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    setenv ("AURA_BROKER_FRONTEND", env->frontend, 1);
    setenv ("AURA_BROKER_JOBS", env->jobs, 1);
    setenv ("AURA_BROKER_EVENTS", env->events, 1);
    setenv ("AURA_BROKER_PUBLISH", env->publish, 1);
    setenv ("AURA_DATA_DIR", env->data, 1);
    setenv ("AURA_PIPELINE", "synthetic", 1);
    setenv ("AURA_SYNTHETIC_STEP_MS", "0", 1);
    char artifacts[400];
    snprintf (artifacts, sizeof artifacts, "%s/artifacts", env->dir);
    setenv ("AURA_ARTIFACT_DIR", artifacts, 1);
    /* the programs' logs stay quiet unless asked for (debugging a run) */
    const char *level = getenv ("AURA_BENCH_LOG_LEVEL");
    setenv ("AURA_LOG_LEVEL", level ? level : "warn", 1);
    char slots[16];
    snprintf (slots, sizeof slots, "%d", env->worker_slots);
    setenv ("AURA_WORKER_SLOTS", slots, 1);
    if (extra_env) {
        char copy[128];
        snprintf (copy, sizeof copy, "%s", extra_env);
        char *eq = strchr (copy, '=');
        if (eq) {
            *eq = '\0';
            setenv (copy, eq + 1, 1);
        }
    }
    char path[512];
    snprintf (path, sizeof path, "%s/%s", env->bin_dir, program);
    execl (path, path, (char *) NULL);
    fprintf (stderr, "bench: cannot run %s: %s\n", path, strerror (errno));
    _exit (127);
}

static void
s_stop (pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill (*pid, SIGTERM);
    int status;
    for (int i = 0; i < 500; i++) {
        if (waitpid (*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        zclock_sleep (10);
    }
    kill (*pid, SIGKILL);
    waitpid (*pid, &status, 0);
    *pid = 0;
}

/*  A fresh broker with an empty journal. Returns 0 once it answers a ping. */
static int
s_start_broker (bench_env_t *env, zsock_t *dealer)
{
    static int generation = 0;
    snprintf (env->data, sizeof env->data, "%s/data-%d", env->dir, generation++);
    env->broker = s_spawn (env, "aura-broker", NULL);
    proto_msg_t ping;
    proto_msg_init (&ping, PROTO_PING);
    snprintf (ping.cid, sizeof ping.cid, "bench-ping");
    for (int i = 0; i < 100; i++) {
        zframe_t *frame = proto_encode (&ping);
        zframe_send (&frame, dealer, ZFRAME_DONTWAIT);
        zframe_destroy (&frame);
        zpoller_t *poller = zpoller_new (dealer, NULL);
        void *ready = zpoller_wait (poller, 100);
        zpoller_destroy (&poller);
        if (ready) {
            zmsg_t *reply = zmsg_recv (dealer);
            zmsg_destroy (&reply);
            return 0;
        }
    }
    fprintf (stderr, "bench: the broker did not answer\n");
    return -1;
}

/*  Receives one message from sock and decodes its first frame. */
static int
s_recv (zsock_t *sock, proto_msg_t *msg, bool pub)
{
    zmsg_t *zmsg = zmsg_recv (sock);
    if (!zmsg)
        return -1;
    if (pub) {
        zframe_t *topic = zmsg_pop (zmsg);
        zframe_destroy (&topic);
    }
    zframe_t *body = zmsg_first (zmsg);
    char err[128];
    int rc = body ? proto_decode (zframe_data (body), zframe_size (body), msg,
                                  err, sizeof err)
                  : -1;
    zmsg_destroy (&zmsg);
    return rc;
}

static int
s_send (zsock_t *sock, proto_msg_t *msg)
{
    zframe_t *frame = proto_encode (msg);
    int rc = frame ? zframe_send (&frame, sock, 0) : -1;
    zframe_destroy (&frame);
    return rc;
}

static int
s_submit (zsock_t *dealer, int i)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_SUBMIT);
    snprintf (msg.cid, sizeof msg.cid, "bench-%d", i);
    snprintf (msg.title, sizeof msg.title, "Benchmark job %d", i);
    const char *spec = "{\"brief\":{\"topic\":\"Benchmark\"}}";
    proto_msg_set_spec (&msg, spec, strlen (spec));
    int rc = s_send (dealer, &msg);
    proto_msg_reset (&msg);
    return rc;
}

typedef struct {
    const char *endpoint;
    const char *job;
    int count;
} sender_args_t;

/*  Pushes `count` step-progress events of one job, as a worker would. */
static void *
s_sender (void *arg)
{
    sender_args_t *args = arg;
    zsock_t *push = zsock_new_push (args->endpoint);
    zsock_set_linger (push, 10000); /* deliver everything before closing */
    proto_msg_t msg;
    for (int i = 0; i < args->count; i++) {
        proto_msg_init (&msg, PROTO_EVENT);
        msg.kind = EVENT_STEP_PROGRESS;
        snprintf (msg.job, sizeof msg.job, "%s", args->job);
        snprintf (msg.worker, sizeof msg.worker, "bench-worker");
        msg.attempt = 1;
        msg.ts_us = proto_now_us ();
        msg.step = STEP_RENDER;
        snprintf (msg.phase, sizeof msg.phase, "render");
        msg.step_percent = 100.0 * i / args->count;
        msg.percent = step_overall_percent (STEP_RENDER, (double) i / args->count);
        snprintf (msg.message, sizeof msg.message, "Encoding frame %d", i);
        s_send (push, &msg);
    }
    zsock_destroy (&push);
    return NULL;
}

typedef struct {
    int received;
    double elapsed_s;
    double broker_cpu_s;
    bool ordered;
} events_result_t;

static int
s_bench_events (bench_env_t *env, int count, events_result_t *result)
{
    zsock_t *dealer = zsock_new_dealer (env->frontend);
    zsock_t *sub = zsock_new_sub (env->publish, PROTO_TOPIC_JOB);
    zsock_set_rcvhwm (sub, 0);
    zsock_t *pull = zsock_new (ZMQ_PULL);
    zsock_set_rcvhwm (pull, 1);
    zsock_connect (pull, "%s", env->jobs);
    zsock_t *push = zsock_new_push (env->events);
    if (s_start_broker (env, dealer) < 0)
        return -1;
    zclock_sleep (200); /* let the subscription reach the broker */

    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_HEARTBEAT);
    snprintf (msg.worker, sizeof msg.worker, "bench-worker");
    msg.slots_free = msg.slots_total = 1;
    s_send (push, &msg);
    s_submit (dealer, 0);
    char job[JOB_ID_SIZE] = "";
    /* skip the answers to the extra pings of s_start_broker */
    while (!job[0] && s_recv (dealer, &msg, false) == 0) {
        if (msg.type == PROTO_JOB)
            snprintf (job, sizeof job, "%s", msg.job);
        proto_msg_reset (&msg);
    }
    if (s_recv (pull, &msg, false) != 0 || msg.type != PROTO_DISPATCH) {
        fprintf (stderr, "bench: no dispatch\n");
        return -1;
    }
    proto_msg_reset (&msg);
    proto_msg_init (&msg, PROTO_ACCEPTED);
    snprintf (msg.worker, sizeof msg.worker, "bench-worker");
    snprintf (msg.job, sizeof msg.job, "%s", job);
    msg.attempt = 1;
    msg.slots_total = 1;
    s_send (push, &msg);

    double cpu_before = bench_cpu_s (env->broker);
    double began = s_now_s ();
    sender_args_t args = { env->events, job, count };
    pthread_t thread;
    pthread_create (&thread, NULL, s_sender, &args);
    int received = 0;
    uint64_t last_seq = 0;
    bool ordered = true;
    double last_at = began;
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (received < count) {
        if (!zpoller_wait (poller, 5000))
            break;
        if (s_recv (sub, &msg, true) != 0)
            continue;
        if (msg.kind == EVENT_STEP_PROGRESS) {
            received++;
            last_at = s_now_s ();
            ordered = ordered && msg.seq == last_seq + 1;
        }
        last_seq = msg.seq;
        proto_msg_reset (&msg);
    }
    double elapsed = last_at - began;
    double cpu = bench_cpu_s (env->broker) - cpu_before;
    pthread_join (thread, NULL);
    zpoller_destroy (&poller);

    result->received = received;
    result->elapsed_s = elapsed;
    result->broker_cpu_s = cpu;
    result->ordered = ordered;
    fprintf (stderr, "# events: %d of %d in %.2f s\n", received, count,
             elapsed);
    s_stop (&env->broker);
    zsock_destroy (&push);
    zsock_destroy (&pull);
    zsock_destroy (&sub);
    zsock_destroy (&dealer);
    return received == count ? 0 : -1;
}

typedef struct {
    int completed;
    long events;
    double elapsed_s;
    double broker_cpu_s;
    double workers_cpu_s;
} dispatch_result_t;

static int
s_bench_dispatch (bench_env_t *env, int workers, int jobs,
                  dispatch_result_t *result)
{
    zsock_t *dealer = zsock_new_dealer (env->frontend);
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_t *sub = zsock_new_sub (env->publish, PROTO_TOPIC_JOB);
    zsock_set_rcvhwm (sub, 0);
    if (s_start_broker (env, dealer) < 0)
        return -1;
    for (int w = 0; w < workers; w++) {
        char id[64];
        snprintf (id, sizeof id, "AURA_WORKER_ID=bench-%d", w);
        env->workers[env->worker_count++] = s_spawn (env, "aura-worker", id);
    }
    zclock_sleep (500); /* workers connect and send their first heartbeat */

    double cpu_before = bench_cpu_s (env->broker);
    double workers_cpu_before = 0;
    for (int w = 0; w < env->worker_count; w++)
        workers_cpu_before += bench_cpu_s (env->workers[w]);
    double began = s_now_s ();
    for (int i = 0; i < jobs; i++)
        s_submit (dealer, i);
    int accepted = 0, completed = 0;
    long events = 0;
    proto_msg_t msg;
    zpoller_t *poller = zpoller_new (dealer, sub, NULL);
    double last_at = began;
    while (completed < jobs) {
        void *which = zpoller_wait (poller, 10000);
        if (!which)
            break;
        last_at = s_now_s ();
        bool pub = which == sub;
        if (s_recv (which, &msg, pub) != 0)
            continue;
        if (!pub && msg.type == PROTO_JOB)
            accepted++;
        if (pub) {
            events++;
            if (msg.kind == EVENT_JOB_COMPLETED)
                completed++;
        }
        proto_msg_reset (&msg);
    }
    double elapsed = last_at - began;
    double cpu = bench_cpu_s (env->broker) - cpu_before;
    double workers_cpu = -workers_cpu_before;
    for (int w = 0; w < env->worker_count; w++)
        workers_cpu += bench_cpu_s (env->workers[w]);
    zpoller_destroy (&poller);
    result->completed = completed;
    result->events = events;
    result->elapsed_s = elapsed;
    result->broker_cpu_s = cpu;
    result->workers_cpu_s = workers_cpu;
    fprintf (stderr, "# %d worker%s of %d slot%s: %d of %d jobs in %.2f s = "
                     "%.0f jobs/s\n",
             workers, workers > 1 ? "s" : "", env->worker_slots,
             env->worker_slots > 1 ? "s" : "", completed, jobs, elapsed,
             elapsed > 0 ? completed / elapsed : 0);
    (void) accepted;
    for (int w = 0; w < env->worker_count; w++)
        s_stop (&env->workers[w]);
    env->worker_count = 0;
    s_stop (&env->broker);
    zsock_destroy (&sub);
    zsock_destroy (&dealer);
    return completed == jobs ? 0 : -1;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  The median of values[0..count), which it sorts. */
static double
s_median (double *values, int count)
{
    qsort (values, (size_t) count, sizeof *values, s_compare_double);
    return count % 2 ? values[count / 2]
                     : (values[count / 2 - 1] + values[count / 2]) / 2;
}

#define BENCH_ROUNDS_MAX 15
/*  The configurations each round runs: workers, and slots per worker. */
static const struct {
    int workers;
    int slots;
} s_configs[] = { { 1, 1 }, { 2, 1 }, { 4, 1 }, { 1, 8 }, { 2, 8 }, { 4, 8 } };
#define BENCH_CONFIGS ((int) (sizeof s_configs / sizeof s_configs[0]))

int
main (int argc, char **argv)
{
    int events = 200000, jobs = 2000, rounds = 3;
    bench_env_t env = { .bin_dir = "build/bin", .worker_slots = 1 };
    for (int i = 1; i < argc; i++) {
        if (strncmp (argv[i], "--bin-dir=", 10) == 0)
            env.bin_dir = argv[i] + 10;
        else if (strncmp (argv[i], "--events=", 9) == 0)
            events = (int) strtol (argv[i] + 9, NULL, 10);
        else if (strncmp (argv[i], "--jobs=", 7) == 0)
            jobs = (int) strtol (argv[i] + 7, NULL, 10);
        else if (strncmp (argv[i], "--rounds=", 9) == 0)
            rounds = (int) strtol (argv[i] + 9, NULL, 10);
        else {
            fprintf (stderr, "usage: %s [--bin-dir=DIR] [--events=N] "
                             "[--jobs=N] [--rounds=N]\n",
                     argv[0]);
            return 2;
        }
    }
    if (events < 0 || jobs < 1 || rounds < 1 || rounds > BENCH_ROUNDS_MAX)
        return 2;
    zsys_init ();
    zsys_handler_set (NULL);
    /* TMPDIR decides the file system the journal and the job directories
       live on (a job directory is made per job) */
    const char *tmp = getenv ("TMPDIR");
    snprintf (env.dir, sizeof env.dir, "%s/aura-bench-XXXXXX",
              tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (env.dir)) {
        perror ("mkdtemp");
        return 1;
    }
    snprintf (env.frontend, sizeof env.frontend, "ipc://%s/frontend", env.dir);
    snprintf (env.jobs, sizeof env.jobs, "ipc://%s/jobs", env.dir);
    snprintf (env.events, sizeof env.events, "ipc://%s/events", env.dir);
    snprintf (env.publish, sizeof env.publish, "ipc://%s/publish", env.dir);

    char load_before[64] = "?";
    FILE *f = fopen ("/proc/loadavg", "r");
    if (f) {
        if (!fgets (load_before, sizeof load_before, f))
            snprintf (load_before, sizeof load_before, "?");
        load_before[strcspn (load_before, "\n")] = '\0';
        fclose (f);
    }
    printf ("Broker benchmark: %ld CPUs, data in %s, load average before: "
            "%s\n\n",
            sysconf (_SC_NPROCESSORS_ONLN), env.dir, load_before);
    int rc = 0;

    if (events > 0) {
        events_result_t ev = { 0 };
        rc |= s_bench_events (&env, events, &ev);
        printf ("Events routed: a fake worker pushes %d step-progress events of "
                "one job; a subscriber receives them journaled, numbered, "
                "published.\n\n",
                events);
        printf ("| events | seconds | events/s | broker CPU per event | seq in "
                "order |\n|---|---|---|---|---|\n");
        printf ("| %d of %d | %.2f | %.0f | %.1f us | %s |\n\n", ev.received,
                events, ev.elapsed_s,
                ev.elapsed_s > 0 ? ev.received / ev.elapsed_s : 0,
                ev.received ? ev.broker_cpu_s * 1e6 / ev.received : 0,
                ev.ordered ? "yes" : "NO");
    }

    double jobs_per_s[BENCH_CONFIGS][BENCH_ROUNDS_MAX];
    double events_per_s[BENCH_CONFIGS][BENCH_ROUNDS_MAX];
    double broker_us[BENCH_CONFIGS][BENCH_ROUNDS_MAX];
    double workers_us[BENCH_CONFIGS][BENCH_ROUNDS_MAX];
    double events_per_job[BENCH_CONFIGS][BENCH_ROUNDS_MAX];
    for (int round = 0; round < rounds; round++)
        for (int c = 0; c < BENCH_CONFIGS; c++) {
            dispatch_result_t r = { 0 };
            env.worker_slots = s_configs[c].slots;
            rc |= s_bench_dispatch (&env, s_configs[c].workers, jobs, &r);
            double elapsed = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
            int done = r.completed > 0 ? r.completed : 1;
            jobs_per_s[c][round] = r.completed / elapsed;
            events_per_s[c][round] = (double) r.events / elapsed;
            broker_us[c][round] = r.broker_cpu_s * 1e6 / done;
            workers_us[c][round] = r.workers_cpu_s * 1e6 / done;
            events_per_job[c][round] = (double) r.events / done;
        }
    printf ("Jobs dispatched: %d jobs submitted at once, 0 ms synthetic "
            "pipeline, timed to the last job-completed; median of %d "
            "round%s. Scaling compares with 1 worker of as many slots.\n\n",
            jobs, rounds, rounds > 1 ? "s" : "");
    printf ("| workers | slots each | jobs/s | scaling vs 1 worker | "
            "events/s published | events per job | broker CPU per job | "
            "workers' CPU per job |\n|---|---|---|---|---|---|---|---|\n");
    double base = 0;
    for (int c = 0; c < BENCH_CONFIGS; c++) {
        double jps = s_median (jobs_per_s[c], rounds);
        if (s_configs[c].workers == 1)
            base = jps;
        printf ("| %d | %d | %.0f | %.2f | %.0f | %.1f | %.0f us | %.0f us |\n",
                s_configs[c].workers, s_configs[c].slots, jps,
                base > 0 ? jps / base : 0,
                s_median (events_per_s[c], rounds),
                s_median (events_per_job[c], rounds),
                s_median (broker_us[c], rounds),
                s_median (workers_us[c], rounds));
    }
    f = fopen ("/proc/loadavg", "r");
    char load_after[64] = "?";
    if (f) {
        if (!fgets (load_after, sizeof load_after, f))
            snprintf (load_after, sizeof load_after, "?");
        load_after[strcspn (load_after, "\n")] = '\0';
        fclose (f);
    }
    printf ("\nLoad average after: %s\n", load_after);

    char command[512];
    snprintf (command, sizeof command, "rm -rf '%s'", env.dir);
    if (system (command) != 0)
        fprintf (stderr, "bench: could not remove %s\n", env.dir);
    return rc ? 1 : 0;
}
