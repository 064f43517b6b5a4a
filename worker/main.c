/*  aura-worker — runs Aura jobs (plan, tts, visuals, compose, render) that
    the broker dispatches, and reports their progress. SIGINT or SIGTERM
    hands running jobs back to the broker and exits 0. With --healthcheck
    it only checks that the worker configured like itself is alive. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pipeline/pipeline.h"
#include "worker.h"

/*  Liveness. A worker serves a Unix socket in the abstract namespace (no
    file to create, clean up or protect; scoped to the network namespace,
    so to the container) named aura-worker/<broker>/<worker id>, where
    <broker> is a hash of the broker's events endpoint. A thread answers
    every connection with "ok <worker id> <pid>" and closes it.

    --healthcheck connects to that socket. It checks the worker process
    itself rather than the broker: a broker outage is what the broker's own
    check reports, and marking every worker unhealthy for it would have an
    orchestrator restart workers that would reconnect by themselves anyway;
    and a worker may not be allowed to reach the broker's frontend at all
    (docs/OPERATIONS.md: workers need ports 7702-7704 only). A stopped
    (SIGSTOP) process answers nothing, so it fails the check; a job loop
    stuck in a live process is what the broker's lease catches (its jobs
    go to another worker after AURA_LEASE_MS). */
#define HEALTH_PREFIX "aura-worker/"

/*  Writes "aura-worker/<16 hex digits>/" for the broker's events endpoint
    into out, then the worker id when `id` is not NULL. Returns 0 or
    -ENOSPC (the abstract name must fit a sockaddr_un). */
static int
s_health_name (const char *events_endpoint, const char *id, char *out,
               size_t out_size)
{
    /* FNV-1a: stable across hosts and builds, and enough to keep the
       stacks of one host (tests run several) apart */
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *) events_endpoint; *p;
         p++)
        hash = (hash ^ *p) * 0x100000001b3ULL;
    int n = snprintf (out, out_size, HEALTH_PREFIX "%016llx/%s",
                      (unsigned long long) hash, id ? id : "");
    size_t path_size = sizeof ((struct sockaddr_un *) 0)->sun_path;
    if (n < 0 || (size_t) n >= out_size || (size_t) n + 1 > path_size)
        return -ENOSPC;
    return 0;
}

/*  Fills addr with the abstract address of name (a leading NUL byte, then
    the name without terminator). Returns the address length. */
static socklen_t
s_health_address (const char *name, struct sockaddr_un *addr)
{
    memset (addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    size_t n = strlen (name);
    memcpy (addr->sun_path + 1, name, n);
    return (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + n);
}

typedef struct {
    int listener;
    char answer[128];
} health_t;

/*  The liveness thread: answers each connection and closes it. Runs until
    the process exits. */
static void *
s_health_serve (void *arg)
{
    health_t *health = arg;
    size_t len = strlen (health->answer);
    for (;;) {
        int fd = accept (health->listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            log_warn ("health socket: accept: %s; liveness checks will fail",
                      strerror (errno));
            return NULL;
        }
        /* a checker that does not read cannot hold this thread */
        struct timeval limit = { .tv_sec = 1 };
        setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        if (send (fd, health->answer, len, MSG_NOSIGNAL) < 0)
            log_debug ("health socket: send: %s", strerror (errno));
        close (fd);
    }
}

/*  Binds the liveness socket and starts its thread, with every signal
    blocked there, so SIGINT and SIGTERM reach the worker's loop. A failure
    is logged and not fatal: the worker works without it. */
static void
s_health_start (const aura_config_t *cfg)
{
    static health_t health;
    char name[108];
    if (s_health_name (cfg->broker_events, cfg->worker_id, name, sizeof name)
        < 0) {
        log_warn ("health socket: the name for worker %s is too long; "
                  "liveness checks will fail",
                  cfg->worker_id);
        return;
    }
    snprintf (health.answer, sizeof health.answer, "ok %s %ld\n",
              cfg->worker_id, (long) getpid ());
    struct sockaddr_un addr;
    socklen_t addr_len = s_health_address (name, &addr);
    health.listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (health.listener < 0
        || bind (health.listener, (struct sockaddr *) &addr, addr_len) < 0
        || listen (health.listener, 16) < 0) {
        if (errno == EADDRINUSE)
            log_warn ("another worker with id %s and broker %s runs on this "
                      "host: worker ids must be unique",
                      cfg->worker_id, cfg->broker_events);
        else
            log_warn ("health socket: %s; liveness checks will fail",
                      strerror (errno));
        if (health.listener >= 0)
            close (health.listener);
        return;
    }
    sigset_t all, previous;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &previous);
    pthread_t thread;
    int rc = pthread_create (&thread, NULL, s_health_serve, &health);
    pthread_sigmask (SIG_SETMASK, &previous, NULL);
    if (rc != 0) {
        log_warn ("health socket: no thread: %s; liveness checks will fail",
                  strerror (rc));
        close (health.listener);
        return;
    }
    pthread_detach (thread);
}

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*  Asks the worker at the abstract name for its answer, within the
    deadline. Returns 0 when it answered "ok …", or -errno with a reason in
    why. */
static int
s_health_ask (const char *name, int64_t deadline_ms, char *why, size_t why_size)
{
    struct sockaddr_un addr;
    socklen_t addr_len = s_health_address (name, &addr);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf (why, why_size, "socket: %s", strerror (errno));
        return -errno;
    }
    int rc = 0;
    char answer[128];
    size_t got = 0;
    if (connect (fd, (struct sockaddr *) &addr, addr_len) < 0) {
        rc = -errno;
        snprintf (why, why_size, "%s",
                  rc == -ECONNREFUSED ? "no such worker runs here"
                                      : strerror (-rc));
        goto cleanup;
    }
    while (got < sizeof answer - 1 && !memchr (answer, '\n', got)) {
        int64_t left = deadline_ms - s_mono_ms ();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll (&pfd, 1, (int) left) == 0) {
            rc = -ETIMEDOUT;
            snprintf (why, why_size,
                      "no answer within %d ms (stopped or stuck?)",
                      CONFIG_HEALTHCHECK_TIMEOUT_MS);
            goto cleanup;
        }
        ssize_t n = recv (fd, answer + got, sizeof answer - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    answer[got] = '\0';
    if (strncmp (answer, "ok ", 3) != 0) {
        rc = -EPROTO;
        snprintf (why, why_size, "unexpected answer '%.40s'", answer);
    }

cleanup:
    close (fd);
    return rc;
}

/*  Checks the liveness of the worker with this configuration: the one with
    its worker id when id_given, else every worker of the same broker that
    runs in this network namespace (found in /proc/net/unix; a container
    runs one). Prints one line: why the check failed on stderr, or who
    answered on stdout. Returns the exit status, 0 (healthy) or 1. */
static int
s_healthcheck (const aura_config_t *cfg, bool id_given)
{
    char prefix[108];
    if (s_health_name (cfg->broker_events, id_given ? cfg->worker_id : NULL,
                       prefix, sizeof prefix)
        < 0) {
        fprintf (stderr, "aura-worker: unhealthy: worker id %s is too long\n",
                 cfg->worker_id);
        return 1;
    }
    int64_t deadline = s_mono_ms () + CONFIG_HEALTHCHECK_TIMEOUT_MS;
    char why[160] = "";
    if (id_given) {
        if (s_health_ask (prefix, deadline, why, sizeof why) < 0) {
            fprintf (stderr, "aura-worker: unhealthy: worker %s: %s\n",
                     cfg->worker_id, why);
            return 1;
        }
        printf ("aura-worker: healthy: worker %s answers\n", cfg->worker_id);
        return 0;
    }

    /* "Num RefCount Protocol Flags Type St Inode Path": listening sockets
       have the __SO_ACCEPTCON flag (0x10000), abstract paths start with @ */
    FILE *table = fopen ("/proc/net/unix", "r");
    if (!table) {
        fprintf (stderr,
                 "aura-worker: unhealthy: /proc/net/unix: %s (set "
                 "AURA_WORKER_ID to check one worker)\n",
                 strerror (errno));
        return 1;
    }
    int found = 0, failed = 0;
    char line[512];
    size_t prefix_len = strlen (prefix);
    while (fgets (line, sizeof line, table)) {
        unsigned long flags = 0;
        char path[256] = "";
        if (sscanf (line, "%*s %*s %*s %lx %*s %*s %*s %255s", &flags, path)
                != 2
            || !(flags & 0x10000) || path[0] != '@'
            || strncmp (path + 1, prefix, prefix_len) != 0)
            continue;
        found++;
        const char *id = path + 1 + prefix_len;
        if (s_health_ask (path + 1, deadline, why, sizeof why) < 0) {
            fprintf (stderr, "aura-worker: unhealthy: worker %s: %s\n", id,
                     why);
            failed++;
        }
    }
    fclose (table);
    if (found == 0) {
        fprintf (stderr,
                 "aura-worker: unhealthy: no worker of the broker at %s "
                 "runs here\n",
                 cfg->broker_events);
        return 1;
    }
    if (failed > 0)
        return 1;
    printf ("aura-worker: healthy: %d worker%s of the broker at %s answer%s\n",
            found, found == 1 ? "" : "s", cfg->broker_events,
            found == 1 ? "s" : "");
    return 0;
}

/*  True when the worker id comes from the environment or a flag rather
    than the per-process default, which a check cannot know. */
static bool
s_worker_id_given (int argc, char **argv)
{
    const char *env = getenv ("AURA_WORKER_ID");
    if (env && *env)
        return true;
    for (int a = 1; a < argc; a++)
        if (strncmp (argv[a], "--worker-id", 11) == 0)
            return true;
    return false;
}

int
main (int argc, char **argv)
{
    aura_config_t cfg;
    char err[256] = "";
    int rc = config_load (
        &cfg,
        CONFIG_BROKER_JOBS | CONFIG_BROKER_EVENTS | CONFIG_BROKER_PUBLISH
            | CONFIG_WORKER_SLOTS | CONFIG_HEARTBEAT_MS | CONFIG_PIPELINE
            | CONFIG_SYNTHETIC_STEP_MS | CONFIG_SYNTHETIC_FAIL_STEP
            | CONFIG_WORKER_ID | CONFIG_ARTIFACT_DIR | CONFIG_LOG
            | CONFIG_HEALTHCHECK,
        "aura-worker",
        "Runs the jobs the Aura broker dispatches (plan, tts, visuals, "
        "compose, render) and reports their progress.",
        argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf (stderr, "aura-worker: %s\n", err);
        return 2;
    }
    if (cfg.healthcheck)
        return s_healthcheck (&cfg, s_worker_id_given (argc, argv));
    log_init ("worker", cfg.log_level, cfg.log_json);

    const pipeline_t *pipeline = pipeline_find (cfg.pipeline);
    if (!pipeline) {
        fprintf (stderr, "aura-worker: pipeline: unknown pipeline '%s'\n",
                 cfg.pipeline);
        return 2;
    }

    /* SIGINT and SIGTERM set zsys_interrupted, which worker_run watches;
       installed here, before any thread, whatever ZSYS_SIGHANDLER says */
    zsys_init ();
    zsys_catch_interrupts ();

    worker_t *worker = worker_new (&cfg, pipeline);
    if (!worker)
        return 1;
    s_health_start (&cfg);
    rc = worker_run (worker);
    worker_destroy (&worker);
    if (rc == -ETIMEDOUT) {
        /* a job thread is still inside its step and still owns a socket:
           exit without the atexit teardown of ZeroMQ, which would wait
           for it, after giving the hand-back messages time to leave */
        zclock_sleep (200);
        _exit (1);
    }
    return rc == 0 ? 0 : 1;
}
