/*  aura-up — runs Aura on one machine: the broker, then, once it answers,
    the gateway and N workers. Forwards their logs line by line with their
    name in front, restarts a program that crashed with exponential backoff,
    and on SIGINT, SIGTERM or SIGHUP stops them in order: the gateway (no
    new jobs, streams told to reconnect), the workers (they hand their jobs
    back), the broker last (it journals what they handed back). Exit
    status: 0 when every program stopped cleanly, 1 otherwise, 2 on invalid
    configuration. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "log.h"

extern char **environ;

/*  A crashed program waits this long before its first restart, twice as
    long after each further crash, at most UP_BACKOFF_MAX_MS; a program
    that ran UP_BACKOFF_RESET_MS before it crashed starts from the first
    delay again. */
#define UP_BACKOFF_FIRST_MS 500
#define UP_BACKOFF_MAX_MS 30000
#define UP_BACKOFF_RESET_MS 60000
/*  How long the gateway and the broker may take to stop before SIGKILL
    (the gateway closes its streams within 2 s; the broker commits one
    transaction). Workers get AURA_DRAIN_S. */
#define UP_STOP_TIMEOUT_MS 10000
/*  Pause between two readiness checks of a starting broker. */
#define UP_PROBE_INTERVAL_MS 200
/*  Between the last worker's exit and the broker's SIGTERM: the hand-backs
    the workers sent just before they exited are still on their way, and a
    broker that stops first would only re-queue those jobs a lease after
    its next start. */
#define UP_SETTLE_MS 500

typedef enum { ROLE_BROKER, ROLE_GATEWAY, ROLE_WORKER } role_t;

typedef enum {
    PHASE_STARTING,     /* the broker runs, not yet ready */
    PHASE_RUNNING,      /* everything started */
    PHASE_STOP_GATEWAY, /* stopping, in this order */
    PHASE_STOP_WORKERS,
    PHASE_STOP_BROKER,
    PHASE_DONE
} phase_t;

typedef struct {
    child_t *child;
    role_t role;
    int64_t restart_ms; /* when a crashed program starts again; 0: not due */
    int64_t backoff_ms; /* the last restart delay; 0: none yet */
} program_t;

typedef struct {
    program_t *programs; /* [0] broker, [1] gateway, [2…] workers */
    size_t count;
    child_t *probe;   /* `aura-broker --healthcheck` while the broker starts */
    int64_t probe_ms; /* when the next probe may start */
    phase_t phase;
    int64_t signal_ms;    /* when the stop phase sends its SIGTERM */
    bool phase_signalled; /* SIGTERM sent in this stop phase */
    int64_t deadline_ms;  /* of the stop phase: then SIGKILL */
    bool phase_killed;    /* SIGKILL sent in this stop phase */
    bool workers_ran;     /* some worker was stopped */
    bool unclean;         /* some program did not stop cleanly */
    bool announced;       /* the gateway's address was shown */
    int drain_s;
} up_t;

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*  The restart delay after a crash: the first delay when there was none or
    the program ran long enough, else twice the previous one, capped. */
static int64_t
s_backoff_next_ms (int64_t previous_ms, int64_t uptime_ms)
{
    if (previous_ms <= 0 || uptime_ms >= UP_BACKOFF_RESET_MS)
        return UP_BACKOFF_FIRST_MS;
    return previous_ms >= UP_BACKOFF_MAX_MS / 2 ? UP_BACKOFF_MAX_MS
                                                : previous_ms * 2;
}

static const char *
s_phase_role_name (phase_t phase)
{
    return phase == PHASE_STOP_GATEWAY   ? "the gateway"
           : phase == PHASE_STOP_WORKERS ? "the workers"
                                         : "the broker";
}

static role_t
s_phase_role (phase_t phase)
{
    return phase == PHASE_STOP_GATEWAY   ? ROLE_GATEWAY
           : phase == PHASE_STOP_WORKERS ? ROLE_WORKER
                                         : ROLE_BROKER;
}

static bool
s_stopping (const up_t *up)
{
    return up->phase >= PHASE_STOP_GATEWAY;
}

static void s_broker_ready (up_t *up, int64_t now_ms);

/*  Starts a program, or schedules another try when the fork fails. */
static void
s_start (program_t *program, int64_t now_ms)
{
    int rc = child_start (program->child, now_ms);
    if (rc < 0) {
        program->backoff_ms = s_backoff_next_ms (program->backoff_ms, 0);
        program->restart_ms = now_ms + program->backoff_ms;
        log_error ("cannot start %s: %s; trying again in %.1f s",
                   child_name (program->child), strerror (-rc),
                   (double) program->backoff_ms / 1000.0);
        return;
    }
    log_info ("started %s (pid %ld)", child_name (program->child),
              (long) child_pid (program->child));
}

/*  Watches the programs' lines: the broker's "ready" line, and the
    gateway's address to show. */
static void
s_on_line (child_t *child, const char *line, void *arg)
{
    up_t *up = arg;
    if (child == up->programs[0].child && up->phase == PHASE_STARTING
        && strstr (line, "ready: frontend="))
        s_broker_ready (up, s_mono_ms ());
    const char *at;
    if (child == up->programs[1].child && !up->announced
        && (at = strstr (line, "listening on http://")) != NULL) {
        at += strlen ("listening on ");
        int len = (int) strcspn (at, " \"");
        up->announced = true;
        if (isatty (STDERR_FILENO))
            fprintf (
                stderr,
                "\nAura is running at %.*s\n"
                "  start a job:   curl -s -X POST %.*s/api/quick/demo\n"
                "  watch it:      curl -N %.*s/api/jobs/<jobId>/events\n"
                "Ctrl-C stops the gateway, the workers, then the broker.\n\n",
                len, at, len, at, len, at);
        else
            log_info ("Aura is running at %.*s", len, at);
    }
}

/*  The broker answers: start everything else, once. It is ready when it
    logs its "ready" line or, at log levels that hide that line, when
    `aura-broker --healthcheck` gets its pong. */
static void
s_broker_ready (up_t *up, int64_t now_ms)
{
    if (up->phase != PHASE_STARTING)
        return;
    up->phase = PHASE_RUNNING;
    child_signal (up->probe, SIGKILL);
    log_info ("broker is ready; starting the gateway and %zu worker%s",
              up->count - 2, up->count == 3 ? "" : "s");
    for (size_t i = 1; i < up->count; i++)
        s_start (&up->programs[i], now_ms);
}

/*  A program ended: during a stop it is done; otherwise a crash (a non-zero
    status or a signal) is restarted after its backoff, and a clean exit,
    which only a deliberate stop causes, is left alone. */
static void
s_on_exit (up_t *up, program_t *program, int64_t now_ms)
{
    const char *name = child_name (program->child);
    int status = child_status (program->child);
    bool clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
    char what[96];
    child_describe_status (status, what, sizeof what);
    if (s_stopping (up)) {
        if (clean)
            log_info ("%s stopped: %s", name, what);
        else {
            log_warn ("%s stopped uncleanly: %s", name, what);
            up->unclean = true;
        }
        return;
    }
    if (clean) {
        log_warn ("%s %s on its own (stopped on purpose?); not restarted", name,
                  what);
        return;
    }
    int64_t uptime_ms = child_uptime_ms (program->child, now_ms);
    program->backoff_ms = s_backoff_next_ms (program->backoff_ms, uptime_ms);
    program->restart_ms = now_ms + program->backoff_ms;
    log_warn ("%s %s after %.1f s; restarting in %.1f s", name, what,
              (double) uptime_ms / 1000.0,
              (double) program->backoff_ms / 1000.0);
}

/*  Reaps every process that ended. */
static void
s_reap (up_t *up)
{
    int status = 0;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        int64_t now_ms = s_mono_ms ();
        if (up->probe && pid == child_pid (up->probe)) {
            child_reaped (up->probe, status, NULL, NULL);
            if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
                s_broker_ready (up, now_ms);
            up->probe_ms = now_ms + UP_PROBE_INTERVAL_MS;
            continue;
        }
        for (size_t i = 0; i < up->count; i++) {
            program_t *program = &up->programs[i];
            if (child_pid (program->child) == pid) {
                child_reaped (program->child, status, s_on_line, up);
                s_on_exit (up, program, now_ms);
                break;
            }
        }
    }
}

/*  Starts the restarts that are due, and the next readiness probe. */
static void
s_start_due (up_t *up, int64_t now_ms)
{
    if (s_stopping (up))
        return;
    for (size_t i = 0; i < up->count; i++) {
        program_t *program = &up->programs[i];
        if (program->restart_ms && now_ms >= program->restart_ms) {
            program->restart_ms = 0;
            s_start (program, now_ms);
        }
    }
    if (up->phase == PHASE_STARTING && child_pid (up->programs[0].child)
        && !child_pid (up->probe) && now_ms >= up->probe_ms
        && child_start (up->probe, now_ms) < 0)
        up->probe_ms = now_ms + UP_PROBE_INTERVAL_MS;
}

static size_t
s_running (const up_t *up, role_t role)
{
    size_t running = 0;
    for (size_t i = 0; i < up->count; i++)
        if (up->programs[i].role == role && child_pid (up->programs[i].child))
            running++;
    return running;
}

/*  Starts a stop phase: its SIGTERM is due now, or for the broker after
    UP_SETTLE_MS when workers were stopped just before. */
static void
s_enter_phase (up_t *up, int64_t now_ms)
{
    role_t role = s_phase_role (up->phase);
    up->phase_signalled = false;
    up->phase_killed = false;
    up->signal_ms = now_ms;
    if (role == ROLE_WORKER)
        up->workers_ran = s_running (up, ROLE_WORKER) > 0;
    if (role == ROLE_BROKER && up->workers_ran)
        up->signal_ms = now_ms + UP_SETTLE_MS;
    up->deadline_ms = up->signal_ms
                      + (role == ROLE_WORKER ? (int64_t) up->drain_s * 1000
                                             : UP_STOP_TIMEOUT_MS);
}

/*  Sends SIGTERM to the programs the current stop phase stops. */
static void
s_signal_phase (up_t *up)
{
    role_t role = s_phase_role (up->phase);
    size_t running = s_running (up, role);
    up->phase_signalled = true;
    if (running == 0)
        return;
    if (role == ROLE_WORKER)
        log_info ("stopping %zu worker%s (they hand back their jobs; SIGKILL "
                  "after AURA_DRAIN_S=%d s)",
                  running, running == 1 ? "" : "s", up->drain_s);
    else
        log_info ("stopping %s", s_phase_role_name (up->phase));
    for (size_t i = 0; i < up->count; i++)
        if (up->programs[i].role == role)
            child_signal (up->programs[i].child, SIGTERM);
}

/*  Moves the stop on: SIGTERM when it is due, the next phase once the
    programs of this one have exited, SIGKILL for them when its time is
    up. */
static void
s_advance_stop (up_t *up, int64_t now_ms)
{
    while (s_stopping (up) && up->phase != PHASE_DONE) {
        role_t role = s_phase_role (up->phase);
        if (s_running (up, role) == 0) {
            up->phase++;
            if (up->phase == PHASE_DONE)
                break;
            s_enter_phase (up, now_ms);
            continue;
        }
        if (!up->phase_signalled) {
            if (now_ms < up->signal_ms)
                break;
            s_signal_phase (up);
        }
        if (now_ms >= up->deadline_ms && !up->phase_killed) {
            log_warn ("%s did not stop in time; sending SIGKILL",
                      s_phase_role_name (up->phase));
            for (size_t i = 0; i < up->count; i++)
                if (up->programs[i].role == role)
                    child_signal (up->programs[i].child, SIGKILL);
            up->phase_killed = true;
            up->unclean = true;
        }
        break;
    }
}

static void
s_begin_stop (up_t *up, int sig, int64_t now_ms)
{
    if (s_stopping (up)) {
        log_info ("already stopping; %s ignored", strsignal (sig));
        return;
    }
    log_info ("stopping on %s: the gateway, then the workers, then the broker",
              sig == SIGINT    ? "SIGINT"
              : sig == SIGTERM ? "SIGTERM"
                               : "SIGHUP");
    for (size_t i = 0; i < up->count; i++) {
        program_t *program = &up->programs[i];
        if (program->restart_ms) {
            /* it crashed and waits for its restart: not a clean stop */
            log_warn ("%s is not running (it crashed)",
                      child_name (program->child));
            program->restart_ms = 0;
            up->unclean = true;
        }
    }
    child_signal (up->probe, SIGKILL);
    up->phase = PHASE_STOP_GATEWAY;
    s_enter_phase (up, now_ms);
    s_advance_stop (up, now_ms);
}

/*  Milliseconds until something is due, for poll(); -1 for none. */
static int
s_poll_timeout (const up_t *up, int64_t now_ms)
{
    int64_t next = INT64_MAX;
    if (!s_stopping (up)) {
        for (size_t i = 0; i < up->count; i++)
            if (up->programs[i].restart_ms && up->programs[i].restart_ms < next)
                next = up->programs[i].restart_ms;
        if (up->phase == PHASE_STARTING && !child_pid (up->probe)
            && up->probe_ms < next)
            next = up->probe_ms;
    }
    else if (!up->phase_signalled)
        next = up->signal_ms;
    else if (!up->phase_killed)
        next = up->deadline_ms;
    if (next == INT64_MAX)
        return -1;
    int64_t wait = next - now_ms;
    return wait <= 0 ? 0 : wait > INT_MAX ? INT_MAX : (int) wait;
}

/*  Serves until every program has stopped. Returns the exit status. */
static int
s_run (up_t *up, int signal_fd)
{
    struct pollfd *fds = calloc (up->count + 1, sizeof *fds);
    program_t **owners = calloc (up->count + 1, sizeof *owners);
    if (!fds || !owners) {
        free (fds);
        free (owners);
        log_error ("out of memory");
        return 1;
    }
    s_start (&up->programs[0], s_mono_ms ());
    for (;;) {
        int64_t now_ms = s_mono_ms ();
        s_start_due (up, now_ms);
        s_advance_stop (up, now_ms);
        /* done once the broker is down and the probe reaped */
        if (up->phase == PHASE_DONE && !child_pid (up->probe))
            break;

        nfds_t n = 0;
        fds[n++] = (struct pollfd){ .fd = signal_fd, .events = POLLIN };
        for (size_t i = 0; i < up->count; i++) {
            int fd = child_output_fd (up->programs[i].child);
            if (fd >= 0) {
                owners[n] = &up->programs[i];
                fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
            }
        }
        if (poll (fds, n, s_poll_timeout (up, now_ms)) < 0) {
            if (errno == EINTR)
                continue;
            log_error ("poll: %s", strerror (errno));
            break;
        }
        /* output first: a program's last lines come before its exit */
        for (nfds_t i = 1; i < n; i++)
            if (fds[i].revents)
                child_read_output (owners[i]->child, s_on_line, up);
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read (signal_fd, &info, sizeof info)
                   == (ssize_t) sizeof info) {
                if (info.ssi_signo == SIGCHLD)
                    s_reap (up);
                else
                    s_begin_stop (up, (int) info.ssi_signo, s_mono_ms ());
            }
        }
    }
    free (fds);
    free (owners);
    if (up->unclean) {
        log_warn ("stopped: some program did not stop cleanly");
        return 1;
    }
    log_info ("stopped: every program exited cleanly");
    return 0;
}

/*  Writes the directory of this executable into out. Returns 0 or -errno. */
static int
s_own_dir (char *out, size_t out_size)
{
    char path[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return -errno;
    path[n] = '\0';
    char *slash = strrchr (path, '/');
    if (slash)
        *slash = '\0';
    if ((size_t) snprintf (out, out_size, "%s", path) >= out_size)
        return -ENAMETOOLONG;
    return 0;
}

/*  Returns a NULL-terminated copy of environ (pointers, not strings)
    without AURA_WORKER_ID and with `extra` at the end (may be NULL); the
    caller frees the array. NULL when out of memory. */
static char **
s_environment (char *extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc (n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp (environ[i], "AURA_WORKER_ID=", 15) != 0)
            env[k++] = environ[i];
    if (extra)
        env[k++] = extra;
    env[k] = NULL;
    return env;
}

/*  Makes the broker, the gateway, `workers` workers and the probe. Worker
    n gets AURA_WORKER_ID=<hostname>-<n>. Returns 0, -ENOMEM, or -ENOENT
    with one line on stderr when a program is missing. */
static int
s_programs_new (up_t *up, const char *bin_dir, int workers)
{
    static const char *names[] = { "aura-broker", "aura-gateway",
                                   "aura-worker" };
    char paths[3][PATH_MAX];
    for (int i = 0; i < 3; i++) {
        if ((size_t) snprintf (paths[i], sizeof paths[i], "%s/%s", bin_dir,
                               names[i])
            >= sizeof paths[i])
            return -ENAMETOOLONG;
        if (access (paths[i], X_OK) != 0) {
            fprintf (stderr,
                     "aura-up: %s: %s (set --bin-dir or AURA_BIN_DIR)\n",
                     paths[i], strerror (errno));
            return -ENOENT;
        }
    }
    char host[48] = "worker";
    if (gethostname (host, sizeof host) != 0)
        snprintf (host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';

    up->count = 2 + (size_t) workers;
    up->programs = calloc (up->count, sizeof *up->programs);
    char **env = s_environment (NULL);
    if (!up->programs || !env) {
        free (env);
        return -ENOMEM;
    }
    size_t width = strlen ("gateway");
    char name[32];
    snprintf (name, sizeof name, "worker-%d", workers);
    if (strlen (name) > width)
        width = strlen (name);

    int rc = 0;
    for (size_t i = 0; i < up->count && rc == 0; i++) {
        program_t *program = &up->programs[i];
        program->role = i == 0   ? ROLE_BROKER
                        : i == 1 ? ROLE_GATEWAY
                                 : ROLE_WORKER;
        const char *path = paths[program->role];
        char *argv[] = { (char *) path, NULL };
        if (program->role == ROLE_WORKER) {
            char worker_id[96];
            snprintf (name, sizeof name, "worker-%zu", i - 1);
            snprintf (worker_id, sizeof worker_id, "AURA_WORKER_ID=%s-%zu",
                      host, i - 1);
            char **worker_env = s_environment (worker_id);
            if (worker_env)
                program->child =
                    child_new (name, width, path, argv, worker_env, true);
            free (worker_env);
        }
        else
            program->child = child_new (i == 0 ? "broker" : "gateway", width,
                                        path, argv, env, true);
        if (!program->child)
            rc = -ENOMEM;
    }
    char *probe_argv[] = { paths[ROLE_BROKER], "--healthcheck", NULL };
    if (rc == 0) {
        up->probe = child_new ("probe", width, paths[ROLE_BROKER], probe_argv,
                               env, false);
        if (!up->probe)
            rc = -ENOMEM;
    }
    free (env);
    return rc;
}

static void
s_programs_destroy (up_t *up)
{
    for (size_t i = 0; up->programs && i < up->count; i++)
        child_destroy (&up->programs[i].child);
    free (up->programs);
    up->programs = NULL;
    child_destroy (&up->probe);
}

int
main (int argc, char **argv)
{
    aura_config_t cfg;
    char err[256] = "";
    int rc = config_load (
        &cfg, CONFIG_SUPERVISOR | CONFIG_DRAIN_S | CONFIG_LOG, "aura-up",
        "Runs Aura on this machine: aura-broker, then aura-gateway and the\n"
        "workers (aura-worker) once the broker answers. Their logs appear on\n"
        "stderr with their name in front; a program that crashes is restarted\n"
        "after 0.5 s, 1 s, 2 s ... up to 30 s (back to 0.5 s after a minute "
        "of\n"
        "uptime). SIGINT or SIGTERM stops the gateway, then the workers (they\n"
        "hand back their jobs), then the broker; the exit status is 0 when\n"
        "every program stopped cleanly, else 1. Every AURA_* variable of the\n"
        "environment passes to the programs (see their --help); worker n gets\n"
        "AURA_WORKER_ID=<hostname>-<n>.",
        argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf (stderr, "aura-up: %s\n", err);
        return 2;
    }
    log_init ("aura-up", cfg.log_level, cfg.log_json);

    char bin_dir[512];
    if (cfg.bin_dir[0])
        snprintf (bin_dir, sizeof bin_dir, "%s", cfg.bin_dir);
    else if (s_own_dir (bin_dir, sizeof bin_dir) < 0) {
        fprintf (stderr,
                 "aura-up: cannot find its own directory; set --bin-dir\n");
        return 2;
    }
    int workers = cfg.workers;
    if (workers == 0) {
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        workers = cores < 1 ? 1 : cores > 256 ? 256 : (int) cores;
    }

    /* the signals arrive on a descriptor the loop polls; an inherited
       "ignore" (a shell's background job ignores SIGINT) would discard
       them, so the defaults come back first */
    sigset_t handled;
    sigemptyset (&handled);
    const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        signal (signals[i], SIG_DFL);
        sigaddset (&handled, signals[i]);
    }
    signal (SIGPIPE, SIG_IGN);
    sigprocmask (SIG_BLOCK, &handled, NULL);
    int signal_fd = signalfd (-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) {
        fprintf (stderr, "aura-up: signalfd: %s\n", strerror (errno));
        return 1;
    }

    up_t up = { .drain_s = cfg.drain_s };
    rc = s_programs_new (&up, bin_dir, workers);
    if (rc < 0) {
        if (rc != -ENOENT)
            fprintf (stderr, "aura-up: %s\n", strerror (-rc));
        s_programs_destroy (&up);
        close (signal_fd);
        return rc == -ENOENT ? 2 : 1;
    }
    log_info ("starting the broker, then the gateway and %d worker%s (programs "
              "in %s)",
              workers, workers == 1 ? "" : "s", bin_dir);
    int exit_code = s_run (&up, signal_fd);
    s_programs_destroy (&up);
    close (signal_fd);
    return exit_code;
}
