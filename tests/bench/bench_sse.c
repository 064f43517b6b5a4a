/*  bench_sse — how many Server-Sent Events streams one gateway holds, what
    each costs, and how fast an event reaches them.

    It starts a real aura-broker and aura-gateway (ipc:// endpoints in a
    temporary directory, HTTP on a free loopback port), creates two jobs
    with POST /api/jobs and plays the worker that runs them, then measures:
      - streams held: N streams (default 10,000) opened to the first job's
        /events from many loopback source addresses, and the gateway's
        resident memory before and after, per stream;
      - fan-out: events sent 200 ms apart to that job, timed from the
        moment the fake worker created each (its `ts`) to the moment the
        first and the last stream had it;
      - latency: a steady flow of events (default 1,000/s) to the second
        job, followed by a few streams, each event timed from its `ts` to
        its arrival, while the N idle streams stay open.
    The client is one epoll loop over non-blocking sockets that decodes
    HTTP chunks and SSE frames by hand. It prints figures next to the
    targets; it asserts nothing about speed and exits non-zero only when
    the setup fails. The programs' logs stay in the temporary directory,
    which is removed at the end; AURA_BENCH_LOG_LEVEL sets their level. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ids.h"
#include "phase.h"
#include "proto.h"

/*  Streams waiting for their first frame at once while opening: enough to
    keep the gateway busy, few enough for its listen backlog. */
#define BENCH_OPEN_IN_FLIGHT 500
/*  Streams per loopback source address (127.0.0.2 onward): keeps every
    address under the gateway's per-address limits and ephemeral ports. */
#define BENCH_STREAMS_PER_ADDRESS 50
/*  Opening gives up when no stream opened or failed for this long. */
#define BENCH_OPEN_STALL_MS 15000
/*  After the last event is sent, how long the client waits for it. */
#define BENCH_DRAIN_MS 3000
/*  Quiet time after opening, before the memory is read. */
#define BENCH_SETTLE_MS 1000
/*  One recv() reads at most this much. */
#define BENCH_RECV_BYTES (256 * 1024)
/*  How long a process has to start or to stop. */
#define BENCH_START_TIMEOUT_MS 10000
#define BENCH_STOP_TIMEOUT_MS 5000

#define BENCH_WORKER "bench-worker"

static volatile sig_atomic_t s_interrupted;

static void
s_on_signal (int sig)
{
    (void)sig;
    s_interrupted = 1;
}

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*  Parses a whole decimal argument in [min, max]. Returns 0 or -EINVAL. */
static int
s_parse_long (const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long parsed = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || parsed < min
        || parsed > max)
        return -EINVAL;
    *value = parsed;
    return 0;
}

/* ------------------------------------------------------------ processes */

typedef struct {
    char dir[256];
    char frontend[320], jobs[320], events[320], publish[320];
    const char *bin_dir;
    pid_t broker, gateway;
    int port;
} bench_env_t;

/*  CPU seconds (user + system) in a /proc stat file; 0 when it cannot be
    read. */
static double
s_stat_cpu_s (const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    char *p = strrchr (buf, ')');
    unsigned long utime = 0, stime = 0;
    /* fields after the command: state is 3, utime 14, stime 15 */
    if (!p
        || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &utime, &stime)
               != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf (_SC_CLK_TCK);
}

/*  CPU seconds a process (all its threads) has used so far. */
static double
s_cpu_s (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
    return s_stat_cpu_s (path);
}

/*  Prints the CPU seconds each thread of pid has used, by thread name. */
static void
s_print_thread_cpu (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir (path);
    if (!dir)
        return;
    printf ("gateway CPU by thread over the run:");
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char stat_path[sizeof path + sizeof entry->d_name + 8], comm[64] = "?";
        snprintf (stat_path, sizeof stat_path, "%s/%s/comm", path,
                  entry->d_name);
        FILE *f = fopen (stat_path, "r");
        if (f) {
            if (fgets (comm, sizeof comm, f))
                comm[strcspn (comm, "\n")] = '\0';
            fclose (f);
        }
        snprintf (stat_path, sizeof stat_path, "%s/%s/stat", path,
                  entry->d_name);
        printf (" %s %.2f s;", comm, s_stat_cpu_s (stat_path));
    }
    closedir (dir);
    printf ("\n");
}

/*  The load average over the last minute, or -1. */
static double
s_load_average (void)
{
    FILE *f = fopen ("/proc/loadavg", "r");
    double load = -1;
    if (f) {
        if (fscanf (f, "%lf", &load) != 1)
            load = -1;
        fclose (f);
    }
    return load;
}

/*  A number field ("VmRSS:", "Threads:") of /proc/<pid>/status; -1 when it
    cannot be read. */
static long
s_status_field (pid_t pid, const char *field)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[256];
    long value = -1;
    size_t len = strlen (field);
    while (fgets (line, sizeof line, f))
        if (strncmp (line, field, len) == 0) {
            char *end = NULL;
            value = strtol (line + len, &end, 10);
            if (end == line + len)
                value = -1;
            break;
        }
    fclose (f);
    return value;
}

/*  Prints the last lines of a process's log, to explain a failed start. */
static void
s_print_log_tail (const bench_env_t *env, const char *program)
{
    char path[400];
    snprintf (path, sizeof path, "%s/%s.log", env->dir, program);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    static char text[16384];
    if (fseek (f, 0, SEEK_END) == 0) {
        long size = ftell (f);
        if (size > (long)sizeof text - 1)
            fseek (f, size - (long)sizeof text + 1, SEEK_SET);
        else
            fseek (f, 0, SEEK_SET);
    }
    size_t n = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text[n] = '\0';
    const char *start = text;
    int lines = 0;
    for (const char *p = text + n; p > text; p--)
        if (p[-1] == '\n' && ++lines > 15) {
            start = p;
            break;
        }
    fprintf (stderr, "--- %s log (last lines) ---\n%s", program, start);
}

/*  The environment of a child: ours without any AURA_ variable, then the
    stack's settings and extra ("NAME=value", NULL-terminated). Built
    before fork because the child of a threaded process may only call
    async-signal-safe functions. Returns a malloc'd array of malloc'd
    strings, or NULL. */
static char **
s_child_environment (const bench_env_t *env, const char *const *extra)
{
    extern char **environ;
    size_t inherited = 0, added = 0;
    while (environ[inherited])
        inherited++;
    while (extra && extra[added])
        added++;
    char **envp = calloc (inherited + added + 8, sizeof *envp);
    if (!envp)
        return NULL;
    size_t count = 0;
    for (size_t i = 0; i < inherited; i++)
        if (strncmp (environ[i], "AURA_", 5) != 0)
            envp[count++] = strdup (environ[i]);
    const char *names[] = { "AURA_BROKER_FRONTEND", "AURA_BROKER_JOBS",
                            "AURA_BROKER_EVENTS", "AURA_BROKER_PUBLISH" };
    const char *values[] = { env->frontend, env->jobs, env->events,
                             env->publish };
    for (size_t i = 0; i < 4; i++) {
        size_t size = strlen (names[i]) + strlen (values[i]) + 2;
        char *entry = malloc (size);
        if (entry)
            snprintf (entry, size, "%s=%s", names[i], values[i]);
        envp[count++] = entry;
    }
    for (size_t i = 0; i < added; i++)
        envp[count++] = strdup (extra[i]);
    for (size_t i = 0; i < count; i++)
        if (!envp[i]) {
            for (size_t j = 0; j < count; j++)
                free (envp[j]);
            free (envp);
            return NULL;
        }
    return envp;
}

static void
s_free_environment (char ***envp_p)
{
    char **envp = *envp_p;
    if (!envp)
        return;
    for (size_t i = 0; envp[i]; i++)
        free (envp[i]);
    free (envp);
    *envp_p = NULL;
}

/*  Starts program from the bin dir in its own process group, its stderr
    in <dir>/<program>.log. The child is killed when the benchmark dies,
    however it dies. Returns the pid, or -1. */
static pid_t
s_spawn (const bench_env_t *env, const char *program, const char *const *extra)
{
    char path[512], log_path[400];
    snprintf (path, sizeof path, "%s/%s", env->bin_dir, program);
    snprintf (log_path, sizeof log_path, "%s/%s.log", env->dir, program);
    if (access (path, X_OK) != 0) {
        fprintf (stderr, "bench: cannot run %s: %s\n", path, strerror (errno));
        return -1;
    }
    char **envp = s_child_environment (env, extra);
    if (!envp)
        return -1;
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);
        signal (SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        int null_fd = open ("/dev/null", O_RDWR);
        int log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (null_fd < 0 || log_fd < 0)
            _exit (127);
        dup2 (null_fd, 0);
        dup2 (null_fd, 1);
        dup2 (log_fd, 2);
        char *argv[] = { path, NULL };
        execve (path, argv, envp);
        _exit (127);
    }
    s_free_environment (&envp);
    if (pid < 0)
        fprintf (stderr, "bench: fork: %s\n", strerror (errno));
    return pid;
}

/*  SIGTERM, then SIGKILL if the process has not exited in time; reaps it. */
static void
s_stop (pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill (*pid, SIGTERM);
    int status;
    for (int64_t waited = 0; waited < BENCH_STOP_TIMEOUT_MS; waited += 10) {
        if (waitpid (*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    kill (*pid, SIGKILL);
    waitpid (*pid, &status, 0);
    *pid = 0;
}

/*  True while the process runs; once it has exited it is reaped and *pid
    set to 0. */
static bool
s_alive (pid_t *pid)
{
    int status;
    if (*pid > 0 && waitpid (*pid, &status, WNOHANG) == 0)
        return true;
    *pid = 0;
    return false;
}

/*  Waits for the gateway's "listening on http://127.0.0.1:PORT" line.
    Returns 0 with env->port set, or -1. */
static int
s_wait_listening (bench_env_t *env)
{
    static const char marker[] = "listening on http://127.0.0.1:";
    char path[400];
    snprintf (path, sizeof path, "%s/aura-gateway.log", env->dir);
    static char text[65536];
    for (int64_t start = s_mono_ms ();
         s_mono_ms () - start < BENCH_START_TIMEOUT_MS && !s_interrupted;) {
        FILE *f = fopen (path, "r");
        if (f) {
            size_t n = fread (text, 1, sizeof text - 1, f);
            fclose (f);
            text[n] = '\0';
            const char *at = strstr (text, marker);
            if (at) {
                char *end = NULL;
                long port = strtol (at + sizeof marker - 1, &end, 10);
                if (end != at + sizeof marker - 1 && port > 0 && port < 65536) {
                    env->port = (int)port;
                    return 0;
                }
            }
        }
        if (!s_alive (&env->gateway))
            break;
        struct timespec pause = { 0, 20 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    fprintf (stderr, "bench: the gateway did not say where it listens\n");
    s_print_log_tail (env, "aura-gateway");
    return -1;
}

/* ------------------------------------------------------- plain requests */

/*  One HTTP/1.1 request on a fresh blocking connection from 127.0.0.1.
    Returns the status code with the body copied (NUL-terminated,
    truncated) into body, or -1 when the gateway could not be reached or
    sent no status line. */
static int
s_http (int port, const char *method, const char *path, const char *json,
        char *body, size_t body_size)
{
    body[0] = '\0';
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t)port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    char request[1024];
    int len =
        json ? snprintf (request, sizeof request,
                         "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Connection: close\r\nContent-Type: "
                         "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                         method, path, port, strlen (json), json)
             : snprintf (request, sizeof request,
                         "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Connection: close\r\n\r\n",
                         method, path, port);
    if (len < 0 || (size_t)len >= sizeof request
        || connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0
        || send (fd, request, (size_t)len, MSG_NOSIGNAL) != len) {
        close (fd);
        return -1;
    }
    char reply[16384];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv (fd, reply + got, sizeof reply - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof reply - 1)
            break;
    }
    close (fd);
    reply[got] = '\0';
    int status = -1;
    if (got >= 12 && strncmp (reply, "HTTP/1.", 7) == 0) {
        long code = 0;
        char digits[4] = { reply[9], reply[10], reply[11], '\0' };
        if (s_parse_long (digits, 100, 599, &code) == 0)
            status = (int)code;
    }
    const char *start = strstr (reply, "\r\n\r\n");
    if (start)
        snprintf (body, body_size, "%s", start + 4);
    return status;
}

/*  Waits until GET /readyz answers 200 (the gateway reaches the broker).
    Returns 0 or -1. */
static int
s_wait_ready (bench_env_t *env)
{
    char body[256];
    for (int64_t start = s_mono_ms ();
         s_mono_ms () - start < BENCH_START_TIMEOUT_MS && !s_interrupted;) {
        if (s_http (env->port, "GET", "/readyz", NULL, body, sizeof body)
            == 200)
            return 0;
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    fprintf (stderr, "bench: the gateway never became ready\n");
    s_print_log_tail (env, "aura-gateway");
    s_print_log_tail (env, "aura-broker");
    return -1;
}

/*  POST /api/jobs; copies the new job's id into job. Returns 0 or -1. */
static int
s_create_job (bench_env_t *env, char job[JOB_ID_SIZE])
{
    char body[4096];
    int status =
        s_http (env->port, "POST", "/api/jobs",
                "{\"brief\":{\"topic\":\"bench\"}}", body, sizeof body);
    const char *at = strstr (body, "\"jobId\":\"");
    if (status == 202 && at) {
        at += strlen ("\"jobId\":\"");
        const char *end = strchr (at, '"');
        if (end && end - at == JOB_ID_SIZE - 1) {
            memcpy (job, at, JOB_ID_SIZE - 1);
            job[JOB_ID_SIZE - 1] = '\0';
            return 0;
        }
    }
    fprintf (stderr, "bench: POST /api/jobs answered %d: %.200s\n", status,
             body);
    return -1;
}

/* ---------------------------------------------------------- fake worker */

static int
s_send (zsock_t *sock, const proto_msg_t *msg)
{
    zframe_t *frame = proto_encode (msg);
    int rc = frame ? zframe_send (&frame, sock, 0) : -1;
    zframe_destroy (&frame);
    return rc;
}

/*  Announces a worker with slots free slots (none of them busy). */
static int
s_worker_heartbeat (zsock_t *push, int slots)
{
    proto_msg_t msg;
    proto_msg_init (&msg, PROTO_HEARTBEAT);
    snprintf (msg.worker, sizeof msg.worker, BENCH_WORKER);
    msg.slots_free = msg.slots_total = slots;
    return s_send (push, &msg);
}

/*  Waits for the dispatch of job and accepts it, leaving slots_free of
    slots_total free. Returns 0 or -1. */
static int
s_worker_accept (zsock_t *pull, zsock_t *push, const char *job, int slots_free,
                 int slots_total)
{
    zpoller_t *poller = zpoller_new (pull, NULL);
    int rc = -1;
    for (int64_t start = s_mono_ms ();
         s_mono_ms () - start < BENCH_START_TIMEOUT_MS && !s_interrupted;) {
        if (!zpoller_wait (poller, 100))
            continue;
        zmsg_t *zmsg = zmsg_recv (pull);
        zframe_t *body = zmsg ? zmsg_first (zmsg) : NULL;
        proto_msg_t msg;
        char err[128];
        int decoded =
            body ? proto_decode (zframe_data (body), zframe_size (body), &msg,
                                 err, sizeof err)
                 : -1;
        zmsg_destroy (&zmsg);
        if (decoded != 0)
            continue;
        bool ours = msg.type == PROTO_DISPATCH && strcmp (msg.job, job) == 0;
        int32_t attempt = msg.attempt;
        proto_msg_reset (&msg);
        if (!ours)
            continue;
        proto_msg_init (&msg, PROTO_ACCEPTED);
        snprintf (msg.worker, sizeof msg.worker, BENCH_WORKER);
        snprintf (msg.job, sizeof msg.job, "%s", job);
        msg.attempt = attempt;
        msg.slots_free = slots_free;
        msg.slots_total = slots_total;
        rc = s_send (push, &msg) == 0 ? 0 : -1;
        break;
    }
    zpoller_destroy (&poller);
    if (rc < 0)
        fprintf (stderr, "bench: job %s was not dispatched\n", job);
    return rc;
}

/*  Pushes `count` step-progress events of one job, one every interval_ns
    on a steady clock (late ones catch up), each stamped with the time it
    was made. Runs on its own thread; `sent` and `done` tell the client
    loop how far it is. */
typedef struct {
    zsock_t *push;
    char job[JOB_ID_SIZE];
    int count;
    int64_t interval_ns;
    atomic_int sent;
    atomic_bool done;
    int64_t began_ms, ended_ms; /* monotonic; ended_ms valid once done */
} sender_t;

static void *
s_sender_run (void *arg)
{
    sender_t *self = arg;
    struct timespec next;
    clock_gettime (CLOCK_MONOTONIC, &next);
    self->began_ms = s_mono_ms ();
    proto_msg_t msg;
    for (int i = 0; i < self->count && !s_interrupted; i++) {
        clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        proto_msg_init (&msg, PROTO_EVENT);
        msg.kind = EVENT_STEP_PROGRESS;
        snprintf (msg.job, sizeof msg.job, "%s", self->job);
        snprintf (msg.worker, sizeof msg.worker, BENCH_WORKER);
        msg.attempt = 1;
        msg.step = STEP_RENDER;
        snprintf (msg.phase, sizeof msg.phase, "render");
        msg.step_percent = 100.0 * i / self->count;
        msg.percent =
            step_overall_percent (STEP_RENDER, (double)i / self->count);
        snprintf (msg.message, sizeof msg.message, "Encoding frame %d", i);
        msg.ts_us = proto_now_us ();
        if (s_send (self->push, &msg) != 0)
            break;
        atomic_store (&self->sent, i + 1);
        int64_t ns = next.tv_nsec + self->interval_ns;
        next.tv_sec += (time_t)(ns / 1000000000);
        next.tv_nsec = (long)(ns % 1000000000);
    }
    self->ended_ms = s_mono_ms ();
    atomic_store (&self->done, true);
    return NULL;
}

/*  Listens to the broker's PUB as a gateway does and times each
    step-progress event of one job from its `ts` to its arrival there: the
    broker's share of the delay, next to the streams' whole delay. Runs on
    its own thread until stop is set. */
typedef struct {
    zsock_t *sub;
    char job[JOB_ID_SIZE];
    atomic_bool stop;
    int64_t *latency_us;
    size_t count, cap;
} tap_t;

static void *
s_tap_run (void *arg)
{
    tap_t *self = arg;
    zpoller_t *poller = zpoller_new (self->sub, NULL);
    while (!atomic_load (&self->stop) && !s_interrupted) {
        if (!zpoller_wait (poller, 20))
            continue;
        zmsg_t *zmsg = zmsg_recv (self->sub);
        int64_t now_us = proto_now_us ();
        zframe_t *body =
            zmsg && zmsg_size (zmsg) == 2 ? zmsg_last (zmsg) : NULL;
        proto_msg_t msg;
        char err[128];
        if (body
            && proto_decode (zframe_data (body), zframe_size (body), &msg, err,
                             sizeof err)
                   == 0) {
            if (msg.type == PROTO_EVENT && msg.kind == EVENT_STEP_PROGRESS
                && strcmp (msg.job, self->job) == 0 && msg.ts_us > 0
                && self->count < self->cap)
                self->latency_us[self->count++] = now_us - msg.ts_us;
            proto_msg_reset (&msg);
        }
        zmsg_destroy (&zmsg);
    }
    zpoller_destroy (&poller);
    return NULL;
}

/* --------------------------------------------------------------- client */

typedef enum { GROUP_FANOUT, GROUP_LATENCY, GROUP_COUNT } group_t;

typedef enum {
    CONN_CONNECTING,
    CONN_HEADERS,
    CONN_BODY,
    CONN_CLOSED
} conn_state_t;

typedef enum {
    CHUNK_SIZE,     /* hex digits of a chunk's size */
    CHUNK_EXT,      /* the rest of the size line */
    CHUNK_DATA,     /* chunk_left bytes of data */
    CHUNK_DATA_END, /* the CRLF after the data */
    CHUNK_LAST      /* the zero-size chunk came: the stream ended */
} chunk_state_t;

typedef enum {
    LINE_START, /* at the start of an SSE line */
    LINE_NAME,  /* in a field name */
    LINE_ID,    /* in an id: value */
    LINE_DATA,  /* in a data: value, looking for "ts": */
    LINE_SKIP   /* in a line that does not matter */
} line_state_t;

/*  One stream, decoded a byte at a time so that it needs no buffer. */
typedef struct {
    int fd;
    uint8_t group;         /* group_t */
    uint8_t state;         /* conn_state_t */
    uint8_t chunk_state;   /* chunk_state_t */
    uint8_t line_state;    /* line_state_t */
    uint8_t header_match;  /* bytes of "\r\n\r\n" matched */
    uint8_t chunked_match; /* bytes of "chunked" matched */
    uint8_t ts_match;      /* bytes of "\"ts\":" matched; 5 = in the number */
    uint8_t name_len;
    char name[8];
    bool chunked;
    bool opened; /* its first event (the snapshot) came */
    bool frame_has_data;
    uint16_t status;
    uint16_t header_bytes;
    uint32_t events; /* event frames after the snapshot */
    uint64_t chunk_left;
    uint64_t frame_id;
    int64_t frame_ts;
} conn_t;

/*  A fan-out event: when it was made and when streams had it. */
typedef struct {
    int64_t ts_us, first_us, last_us;
    uint32_t count;
} fanout_event_t;

typedef struct {
    int epoll_fd;
    int port;
    char request[GROUP_COUNT][256];
    size_t request_len[GROUP_COUNT];
    conn_t *conns;
    size_t conn_count, conn_cap;
    char *buffer;

    size_t in_flight; /* started, neither opened nor failed */
    size_t opened[GROUP_COUNT];
    size_t alive[GROUP_COUNT]; /* opened and not closed */
    size_t cut[GROUP_COUNT];   /* closed after they opened */
    size_t failed;             /* closed before they opened */
    size_t failed_status[600]; /* … answering this status */
    size_t failed_connect;     /* … without an answer */
    int last_errno;
    uint64_t frames[GROUP_COUNT]; /* event frames after the snapshots */
    uint64_t frames_without_ts;

    uint64_t fanout_base; /* the fan-out job's snapshot seq */
    fanout_event_t *fanout;
    size_t fanout_cap;
    uint64_t fanout_unplaced; /* frames outside the fan-out table */

    int64_t *latency_us;
    size_t latency_count, latency_cap;
} client_t;

static int
s_client_init (client_t *self, int port, size_t conn_cap, size_t fanout_cap,
               size_t latency_cap, const char *fanout_job,
               const char *latency_job)
{
    memset (self, 0, sizeof *self);
    self->port = port;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->conns = calloc (conn_cap, sizeof *self->conns);
    self->conn_cap = conn_cap;
    self->buffer = malloc (BENCH_RECV_BYTES);
    self->fanout = calloc (fanout_cap, sizeof *self->fanout);
    self->fanout_cap = fanout_cap;
    self->latency_us = malloc (latency_cap * sizeof *self->latency_us);
    self->latency_cap = latency_cap;
    const char *jobs[GROUP_COUNT] = { fanout_job, latency_job };
    for (int g = 0; g < GROUP_COUNT; g++) {
        int len = snprintf (self->request[g], sizeof self->request[g],
                            "GET /api/jobs/%s/events HTTP/1.1\r\n"
                            "Host: 127.0.0.1:%d\r\n"
                            "Accept: text/event-stream\r\n\r\n",
                            jobs[g], port);
        if (len < 0 || (size_t)len >= sizeof self->request[g])
            return -1;
        self->request_len[g] = (size_t)len;
    }
    if (self->epoll_fd < 0 || !self->conns || !self->buffer || !self->fanout
        || !self->latency_us)
        return -1;
    return 0;
}

static void
s_client_close (client_t *self)
{
    for (size_t i = 0; i < self->conn_count; i++)
        if (self->conns[i].state != CONN_CLOSED)
            close (self->conns[i].fd);
    self->conn_count = 0;
    if (self->epoll_fd >= 0)
        close (self->epoll_fd);
    self->epoll_fd = -1;
    free (self->conns);
    free (self->buffer);
    free (self->fanout);
    free (self->latency_us);
    self->conns = NULL;
    self->buffer = NULL;
    self->fanout = NULL;
    self->latency_us = NULL;
}

static void
s_conn_close (client_t *self, conn_t *c, int error)
{
    if (c->state == CONN_CLOSED)
        return;
    close (c->fd);
    c->state = CONN_CLOSED;
    if (c->opened) {
        self->alive[c->group]--;
        self->cut[c->group]++;
        return;
    }
    self->in_flight--;
    self->failed++;
    if (c->status >= 100 && c->status < 600 && c->status != 200)
        self->failed_status[c->status]++;
    else {
        self->failed_connect++;
        if (error)
            self->last_errno = error;
    }
}

/*  A blank line: the frame is complete. The first one with data is the
    stream's snapshot; the rest are events. */
static void
s_frame_end (client_t *self, conn_t *c, int64_t now_us)
{
    bool had_data = c->frame_has_data;
    uint64_t id = c->frame_id;
    int64_t ts = c->frame_ts;
    c->frame_has_data = false;
    c->frame_id = 0;
    c->frame_ts = 0;
    if (!had_data)
        return; /* the retry line, a keepalive comment */
    if (!c->opened) {
        c->opened = true;
        self->in_flight--;
        self->opened[c->group]++;
        self->alive[c->group]++;
        if (c->group == GROUP_FANOUT && id > self->fanout_base)
            self->fanout_base = id;
        return;
    }
    c->events++;
    self->frames[c->group]++;
    if (ts <= 0) {
        self->frames_without_ts++;
        return;
    }
    if (c->group == GROUP_LATENCY) {
        if (self->latency_count < self->latency_cap)
            self->latency_us[self->latency_count++] = now_us - ts;
        return;
    }
    if (id <= self->fanout_base || id - self->fanout_base > self->fanout_cap) {
        self->fanout_unplaced++;
        return;
    }
    fanout_event_t *ev = &self->fanout[id - self->fanout_base - 1];
    if (ev->count++ == 0) {
        ev->ts_us = ts;
        ev->first_us = now_us;
    }
    ev->last_us = now_us;
}

/*  Decodes SSE bytes: counts frames, reads `id:` and the `ts` of `data:`. */
static void
s_sse_feed (client_t *self, conn_t *c, const char *p, size_t n, int64_t now_us)
{
    static const char ts_key[] = "\"ts\":";
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        switch ((line_state_t)c->line_state) {
        case LINE_START:
            if (ch == '\n') {
                s_frame_end (self, c, now_us);
                break;
            }
            c->name_len = 0;
            c->line_state = LINE_NAME;
            if (ch != ':')
                c->name[c->name_len++] = ch;
            else
                c->line_state = LINE_SKIP; /* a comment */
            break;
        case LINE_NAME:
            if (ch == '\n')
                c->line_state = LINE_START;
            else if (ch != ':') {
                if (c->name_len < sizeof c->name)
                    c->name[c->name_len++] = ch;
                else
                    c->line_state = LINE_SKIP;
            }
            else if (c->name_len == 2 && memcmp (c->name, "id", 2) == 0) {
                c->line_state = LINE_ID;
                c->frame_id = 0;
            }
            else if (c->name_len == 4 && memcmp (c->name, "data", 4) == 0) {
                c->line_state = LINE_DATA;
                c->frame_has_data = true;
                c->ts_match = 0;
            }
            else
                c->line_state = LINE_SKIP;
            break;
        case LINE_ID:
            if (ch >= '0' && ch <= '9')
                c->frame_id = c->frame_id * 10 + (uint64_t)(ch - '0');
            else if (ch == '\n')
                c->line_state = LINE_START;
            break;
        case LINE_DATA:
            if (ch == '\n')
                c->line_state = LINE_START;
            else if (c->ts_match < 5) {
                if (ch == ts_key[c->ts_match])
                    c->ts_match++;
                else
                    c->ts_match = ch == '"' ? 1 : 0;
                if (c->ts_match == 5)
                    c->frame_ts = 0;
            }
            else if (c->ts_match == 5) {
                if (ch >= '0' && ch <= '9')
                    c->frame_ts = c->frame_ts * 10 + (ch - '0');
                else if (ch != ' ')
                    c->ts_match = 6; /* the number ended */
            }
            break;
        case LINE_SKIP:
            if (ch == '\n')
                c->line_state = LINE_START;
            break;
        }
    }
}

static int
s_hex_value (char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*  Decodes the chunked body and hands its data to the SSE decoder. */
static void
s_chunked_feed (client_t *self, conn_t *c, const char *p, size_t n,
                int64_t now_us)
{
    size_t i = 0;
    while (i < n) {
        switch ((chunk_state_t)c->chunk_state) {
        case CHUNK_SIZE:
        case CHUNK_EXT: {
            char ch = p[i++];
            int digit = s_hex_value (ch);
            if (ch == '\n')
                c->chunk_state = c->chunk_left ? CHUNK_DATA : CHUNK_LAST;
            else if (c->chunk_state == CHUNK_SIZE && digit >= 0)
                c->chunk_left = c->chunk_left * 16 + (uint64_t)digit;
            else if (ch != '\r')
                c->chunk_state = CHUNK_EXT;
            break;
        }
        case CHUNK_DATA: {
            size_t take = n - i < c->chunk_left ? n - i : (size_t)c->chunk_left;
            s_sse_feed (self, c, p + i, take, now_us);
            i += take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->chunk_state = CHUNK_DATA_END;
            break;
        }
        case CHUNK_DATA_END:
            if (p[i++] == '\n')
                c->chunk_state = CHUNK_SIZE;
            break;
        case CHUNK_LAST: return;
        }
    }
}

/*  Bytes from the socket: the response head, then the body. */
static void
s_conn_feed (client_t *self, conn_t *c, const char *p, size_t n, int64_t now_us)
{
    static const char chunked[] = "chunked";
    size_t i = 0;
    while (c->state == CONN_HEADERS && i < n) {
        char ch = p[i++];
        /* "HTTP/1.1 200": the status is bytes 9 to 11 */
        if (c->header_bytes >= 9 && c->header_bytes < 12 && ch >= '0'
            && ch <= '9')
            c->status = (uint16_t)(c->status * 10 + (ch - '0'));
        if (c->header_bytes < UINT16_MAX)
            c->header_bytes++;
        char lower = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        if (lower == chunked[c->chunked_match]) {
            if (++c->chunked_match == sizeof chunked - 1) {
                c->chunked = true;
                c->chunked_match = 0;
            }
        }
        else
            c->chunked_match = lower == 'c' ? 1 : 0;
        if (ch == "\r\n\r\n"[c->header_match])
            c->header_match++;
        else
            c->header_match = ch == '\r' ? 1 : 0;
        if (c->header_match == 4) {
            if (c->status != 200) {
                s_conn_close (self, c, 0);
                return;
            }
            c->state = CONN_BODY;
        }
    }
    if (c->state != CONN_BODY || i == n)
        return;
    if (c->chunked)
        s_chunked_feed (self, c, p + i, n - i, now_us);
    else
        s_sse_feed (self, c, p + i, n - i, now_us);
}

static void
s_conn_ready (client_t *self, conn_t *c, uint32_t events)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->state == CONN_CONNECTING) {
        int error = 0;
        socklen_t len = sizeof error;
        if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
            error = errno;
        if (error) {
            s_conn_close (self, c, error);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        ssize_t sent = send (c->fd, self->request[c->group],
                             self->request_len[c->group], MSG_NOSIGNAL);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (sent != (ssize_t)self->request_len[c->group]
            || epoll_ctl (self->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
            s_conn_close (self, c, sent < 0 ? errno : EIO);
            return;
        }
        c->state = CONN_HEADERS;
        return;
    }
    ssize_t n = recv (c->fd, self->buffer, BENCH_RECV_BYTES, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        s_conn_close (self, c, n < 0 ? errno : 0);
        return;
    }
    s_conn_feed (self, c, self->buffer, (size_t)n, proto_now_us ());
}

/*  Starts one stream of group from source address `source` (host order).
    A failure to start counts as a failed stream. */
static void
s_conn_start (client_t *self, int group, uint32_t source)
{
    if (self->conn_count == self->conn_cap)
        return;
    conn_t *c = &self->conns[self->conn_count++];
    memset (c, 0, sizeof *c);
    c->group = (uint8_t)group;
    c->state = CONN_CONNECTING;
    self->in_flight++;
    c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        c->state = CONN_CLOSED;
        self->in_flight--;
        self->failed++;
        self->failed_connect++;
        self->last_errno = errno;
        return;
    }
    int one = 1;
    /* the port is chosen at connect(), per destination: many more
       connections fit than with bind() choosing it */
    setsockopt (c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in from = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl (source) };
    struct sockaddr_in to = { .sin_family = AF_INET,
                              .sin_port = htons ((uint16_t)self->port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
    if (bind (c->fd, (struct sockaddr *)&from, sizeof from) != 0
        || (connect (c->fd, (struct sockaddr *)&to, sizeof to) != 0
            && errno != EINPROGRESS)
        || epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        s_conn_close (self, c, errno);
}

/*  Handles what is ready within timeout_ms. */
static void
s_client_poll (client_t *self, int timeout_ms)
{
    struct epoll_event events[1024];
    int n = epoll_wait (self->epoll_fd, events, 1024, timeout_ms);
    for (int i = 0; i < n; i++)
        s_conn_ready (self, events[i].data.ptr, events[i].events);
}

/*  Opens count streams of group, at most BENCH_OPEN_IN_FLIGHT waiting for
    their snapshot at once; with spread, from a new loopback address every
    BENCH_STREAMS_PER_ADDRESS streams, else from 127.0.0.1. Returns when
    each has opened or failed, or nothing moved for BENCH_OPEN_STALL_MS. */
static void
s_open_streams (client_t *self, int group, size_t count, bool spread)
{
    size_t started = 0;
    size_t last_settled = 0;
    int64_t last_progress_ms = s_mono_ms ();
    while (!s_interrupted) {
        while (started < count && self->in_flight < BENCH_OPEN_IN_FLIGHT) {
            uint32_t source =
                spread ? INADDR_LOOPBACK + 1
                             + (uint32_t)(started / BENCH_STREAMS_PER_ADDRESS)
                       : INADDR_LOOPBACK;
            s_conn_start (self, group, source);
            started++;
        }
        if (started == count && self->in_flight == 0)
            break;
        s_client_poll (self, 50);
        size_t settled = started - self->in_flight;
        if (settled != last_settled) {
            last_settled = settled;
            last_progress_ms = s_mono_ms ();
        }
        else if (s_mono_ms () - last_progress_ms > BENCH_OPEN_STALL_MS) {
            fprintf (stderr,
                     "bench: %zu streams still waiting for their first "
                     "event after %d s; going on without them\n",
                     self->in_flight, BENCH_OPEN_STALL_MS / 1000);
            break;
        }
    }
}

/*  Serves the streams for ms milliseconds. */
static void
s_client_serve (client_t *self, int64_t ms)
{
    for (int64_t start = s_mono_ms ();
         s_mono_ms () - start < ms && !s_interrupted;)
        s_client_poll (self, 20);
}

/*  Runs sender and tap on their own threads while the client serves the
    streams, until every alive stream of group has every event sent, or
    BENCH_DRAIN_MS after the last was sent. Returns 0 or -1. */
static int
s_run_events (client_t *self, sender_t *sender, tap_t *tap, int group)
{
    pthread_t thread, tap_thread;
    if (pthread_create (&tap_thread, NULL, s_tap_run, tap) != 0)
        return -1;
    if (pthread_create (&thread, NULL, s_sender_run, sender) != 0) {
        atomic_store (&tap->stop, true);
        pthread_join (tap_thread, NULL);
        return -1;
    }
    uint64_t before = self->frames[group];
    while (!s_interrupted) {
        s_client_poll (self, 10);
        if (!atomic_load (&sender->done))
            continue;
        uint64_t want =
            (uint64_t)atomic_load (&sender->sent) * self->alive[group];
        if (self->frames[group] - before >= want
            || s_mono_ms () - sender->ended_ms > BENCH_DRAIN_MS)
            break;
    }
    pthread_join (thread, NULL);
    atomic_store (&tap->stop, true);
    pthread_join (tap_thread, NULL);
    return 0;
}

/* -------------------------------------------------------------- figures */

/*  Wall time and CPU used by each process between two samples. */
typedef struct {
    int64_t wall_ms;
    double gateway_s, broker_s, self_s;
} usage_t;

static void
s_usage_take (const bench_env_t *env, usage_t *usage)
{
    usage->wall_ms = s_mono_ms ();
    usage->gateway_s = s_cpu_s (env->gateway);
    usage->broker_s = s_cpu_s (env->broker);
    struct rusage self;
    getrusage (RUSAGE_SELF, &self);
    usage->self_s = (double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6
                    + (double)self.ru_stime.tv_sec
                    + self.ru_stime.tv_usec / 1e6;
}

typedef struct {
    const char *name;
    usage_t from, to;
} phase_t;

static void
s_print_phase (const phase_t *phase)
{
    double wall = (double)(phase->to.wall_ms - phase->from.wall_ms) / 1000.0;
    if (wall <= 0)
        return;
    double gateway = phase->to.gateway_s - phase->from.gateway_s;
    double broker = phase->to.broker_s - phase->from.broker_s;
    double self = phase->to.self_s - phase->from.self_s;
    printf (
        "| %-8s | %6.2f s | %5.2f s (%3.0f %%) | %5.2f s (%3.0f %%) | %5.2f s "
        "(%3.0f %%) |\n",
        phase->name, wall, gateway, 100 * gateway / wall, broker,
        100 * broker / wall, self, 100 * self / wall);
}

static int
s_compare_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*  Nearest-rank percentile of sorted[0..n). */
static int64_t
s_percentile (const int64_t *sorted, size_t n, double percent)
{
    if (n == 0)
        return 0;
    double rank = percent / 100.0 * (double)n;
    size_t k = (size_t)rank;
    if ((double)k < rank)
        k++;
    if (k == 0)
        k = 1;
    return sorted[k - 1];
}

typedef struct {
    int64_t p50_us, p99_us, max_us;
    size_t count;
} spread_t;

static void
s_spread (int64_t *values, size_t n, spread_t *out)
{
    qsort (values, n, sizeof *values, s_compare_i64);
    out->count = n;
    out->p50_us = s_percentile (values, n, 50);
    out->p99_us = s_percentile (values, n, 99);
    out->max_us = n ? values[n - 1] : 0;
}

static const char *
s_verdict (bool met)
{
    return met ? "met" : "NOT met";
}

/* ----------------------------------------------------------------- main */

typedef struct {
    long streams, events, interval_ms, rate, seconds, latency_streams;
} options_t;

static int
s_parse_options (int argc, char **argv, bench_env_t *env, options_t *opt)
{
    static const struct {
        const char *flag;
        long min, max;
        size_t offset;
    } numbers[] = {
        { "--streams=", 1, 1000000, offsetof (options_t, streams) },
        { "--events=", 1, 100000, offsetof (options_t, events) },
        { "--interval-ms=", 1, 60000, offsetof (options_t, interval_ms) },
        { "--rate=", 1, 100000, offsetof (options_t, rate) },
        { "--seconds=", 1, 3600, offsetof (options_t, seconds) },
        { "--latency-streams=", 1, 1000,
          offsetof (options_t, latency_streams) },
    };
    bool quick = false;
    bool set[sizeof numbers / sizeof *numbers] = { false };
    for (int i = 1; i < argc; i++) {
        bool known = false;
        if (strncmp (argv[i], "--bin-dir=", 10) == 0) {
            env->bin_dir = argv[i] + 10;
            known = true;
        }
        else if (strcmp (argv[i], "--quick") == 0) {
            quick = true;
            known = true;
        }
        for (size_t k = 0; !known && k < sizeof numbers / sizeof *numbers;
             k++) {
            size_t len = strlen (numbers[k].flag);
            if (strncmp (argv[i], numbers[k].flag, len) != 0)
                continue;
            long *field = (long *)((char *)opt + numbers[k].offset);
            if (s_parse_long (argv[i] + len, numbers[k].min, numbers[k].max,
                              field)
                < 0)
                break;
            set[k] = known = true;
        }
        if (!known) {
            fprintf (stderr,
                     "usage: %s [--bin-dir=DIR] [--streams=N] [--events=N] "
                     "[--interval-ms=N] [--rate=N] [--seconds=N] "
                     "[--latency-streams=N] [--quick]\n"
                     "  --streams  idle streams held open (default 10000)\n"
                     "  --events   fan-out events (default 20)\n"
                     "  --interval-ms  between fan-out events (default 200)\n"
                     "  --rate     events per second of the latency run "
                     "(default 1000)\n"
                     "  --seconds  length of the latency run (default 5)\n"
                     "  --latency-streams  streams of the latency run "
                     "(default 10)\n"
                     "  --quick    a small smoke run (500 streams, 5 events, "
                     "2 s)\n",
                     argv[0]);
            return -1;
        }
    }
    if (quick) {
        if (!set[0])
            opt->streams = 500;
        if (!set[1])
            opt->events = 5;
        if (!set[4])
            opt->seconds = 2;
    }
    return 0;
}

/*  Removes what nftw walks, children first. */
static int
s_remove_entry (const char *path, const struct stat *st, int type,
                struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove (path);
    return 0;
}

int
main (int argc, char **argv)
{
    options_t opt = { .streams = 10000,
                      .events = 20,
                      .interval_ms = 200,
                      .rate = 1000,
                      .seconds = 5,
                      .latency_streams = 10 };
    bench_env_t env = { .bin_dir = "build/bin" };
    if (s_parse_options (argc, argv, &env, &opt) < 0)
        return 2;
    setvbuf (stdout, NULL, _IOLBF, 0);

    zsys_init ();
    zsys_handler_set (NULL);
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);

    /* the client holds every stream, and the gateway inherits the limit */
    struct rlimit files;
    if (getrlimit (RLIMIT_NOFILE, &files) == 0) {
        rlim_t before = files.rlim_cur;
        files.rlim_cur = files.rlim_max;
        if (before != files.rlim_max && setrlimit (RLIMIT_NOFILE, &files) == 0)
            printf ("open-files limit raised from %llu to the hard limit %llu "
                    "(the gateway inherits it)\n",
                    (unsigned long long)before,
                    (unsigned long long)files.rlim_cur);
        else
            printf ("open-files limit: %llu (already the hard limit)\n",
                    (unsigned long long)before);
        if (files.rlim_cur != RLIM_INFINITY
            && (rlim_t)(opt.streams + opt.latency_streams + 64)
                   > files.rlim_cur)
            printf ("warning: %ld streams need more descriptors than the limit "
                    "allows; some will fail\n",
                    opt.streams + opt.latency_streams);
    }

    int exit_code = 1;
    zsock_t *pull = NULL, *push = NULL, *sub = NULL;
    tap_t fanout_tap = { 0 }, flow_tap = { 0 };
    client_t client;
    memset (&client, 0, sizeof client);
    client.epoll_fd = -1;
    phase_t phases[4] = { { "opening", { 0 }, { 0 } },
                          { "idle", { 0 }, { 0 } },
                          { "fan-out", { 0 }, { 0 } },
                          { "latency", { 0 }, { 0 } } };

    snprintf (env.dir, sizeof env.dir, "/tmp/aura-bench-sse-XXXXXX");
    if (!mkdtemp (env.dir)) {
        perror ("mkdtemp");
        return 1;
    }
    snprintf (env.frontend, sizeof env.frontend, "ipc://%s/frontend", env.dir);
    snprintf (env.jobs, sizeof env.jobs, "ipc://%s/jobs", env.dir);
    snprintf (env.events, sizeof env.events, "ipc://%s/events", env.dir);
    snprintf (env.publish, sizeof env.publish, "ipc://%s/publish", env.dir);
    char data_dir[320], artifact_dir[320];
    snprintf (data_dir, sizeof data_dir, "AURA_DATA_DIR=%s/data", env.dir);
    snprintf (artifact_dir, sizeof artifact_dir,
              "AURA_ARTIFACT_DIR=%s/artifacts", env.dir);
    const char *level = getenv ("AURA_BENCH_LOG_LEVEL");
    char broker_level[64], gateway_level[64];
    snprintf (broker_level, sizeof broker_level, "AURA_LOG_LEVEL=%s",
              level ? level : "warn");
    /* info at least: the gateway says where it listens at info */
    snprintf (gateway_level, sizeof gateway_level, "AURA_LOG_LEVEL=%s",
              level ? level : "info");

    char cpu_model[128] = "?";
    FILE *cpuinfo = fopen ("/proc/cpuinfo", "r");
    if (cpuinfo) {
        char line[256];
        while (fgets (line, sizeof line, cpuinfo))
            if (strncmp (line, "model name", 10) == 0 && strchr (line, ':')) {
                snprintf (cpu_model, sizeof cpu_model, "%s",
                          strchr (line, ':') + 2);
                cpu_model[strcspn (cpu_model, "\n")] = '\0';
                break;
            }
        fclose (cpuinfo);
    }
    printf (
        "SSE benchmark: %ld CPUs (%s), load average %.2f; %ld streams, %ld "
        "fan-out events %ld ms apart, %ld events/s for %ld s to %ld streams\n",
        sysconf (_SC_NPROCESSORS_ONLN), cpu_model, s_load_average (),
        opt.streams, opt.events, opt.interval_ms, opt.rate, opt.seconds,
        opt.latency_streams);

    /* a worker silent for the whole run keeps its jobs */
    const char *broker_env[] = { data_dir, artifact_dir, broker_level,
                                 "AURA_LEASE_MS=3600000", NULL };
    /* AURA_BENCH_HTTP_THREADS compares thread counts; 0: the default */
    char http_threads[48];
    const char *threads_wanted = getenv ("AURA_BENCH_HTTP_THREADS");
    snprintf (http_threads, sizeof http_threads, "AURA_HTTP_THREADS=%.8s",
              threads_wanted && *threads_wanted ? threads_wanted : "0");
    const char *gateway_env[] = { artifact_dir,
                                  gateway_level,
                                  http_threads,
                                  "AURA_HTTP_ADDR=127.0.0.1:0",
                                  "AURA_MAX_STREAMS=0",
                                  "AURA_MAX_STREAMS_PER_IP=0",
                                  NULL };
    env.broker = s_spawn (&env, "aura-broker", broker_env);
    if (env.broker < 0)
        goto cleanup;
    env.gateway = s_spawn (&env, "aura-gateway", gateway_env);
    if (env.gateway < 0 || s_wait_listening (&env) < 0
        || s_wait_ready (&env) < 0)
        goto cleanup;
    printf ("gateway pid %d on 127.0.0.1:%d, broker pid %d\n", (int)env.gateway,
            env.port, (int)env.broker);

    /* the fake worker: two slots, one per job */
    pull = zsock_new (ZMQ_PULL);
    push = zsock_new_push (env.events);
    if (!pull || !push)
        goto cleanup;
    zsock_set_rcvhwm (pull, 1);
    if (zsock_connect (pull, "%s", env.jobs) != 0
        || s_worker_heartbeat (push, 2) != 0)
        goto cleanup;
    char fanout_job[JOB_ID_SIZE], latency_job[JOB_ID_SIZE];
    if (s_create_job (&env, fanout_job) < 0
        || s_worker_accept (pull, push, fanout_job, 1, 2) < 0
        || s_create_job (&env, latency_job) < 0
        || s_worker_accept (pull, push, latency_job, 0, 2) < 0)
        goto cleanup;

    size_t streams = (size_t)opt.streams;
    size_t latency_streams = (size_t)opt.latency_streams;
    size_t latency_events = (size_t)(opt.rate * opt.seconds);
    if (s_client_init (&client, env.port, streams + latency_streams,
                       (size_t)opt.events + 64,
                       latency_events * latency_streams + 1024, fanout_job,
                       latency_job)
        < 0) {
        fprintf (stderr, "bench: out of memory\n");
        goto cleanup;
    }
    /* the broker's share of the delays, seen from a SUB socket of our own */
    char topic[64];
    sub = zsock_new_sub (env.publish, NULL);
    fanout_tap.cap = (size_t)opt.events + 16;
    flow_tap.cap = latency_events + 16;
    fanout_tap.latency_us = malloc (fanout_tap.cap * sizeof (int64_t));
    flow_tap.latency_us = malloc (flow_tap.cap * sizeof (int64_t));
    if (!sub || !fanout_tap.latency_us || !flow_tap.latency_us)
        goto cleanup;
    zsock_set_rcvhwm (sub, 0);
    snprintf (topic, sizeof topic, PROTO_TOPIC_JOB "%s", fanout_job);
    zsock_set_subscribe (sub, topic);
    snprintf (topic, sizeof topic, PROTO_TOPIC_JOB "%s", latency_job);
    zsock_set_subscribe (sub, topic);
    fanout_tap.sub = flow_tap.sub = sub;
    snprintf (fanout_tap.job, sizeof fanout_tap.job, "%s", fanout_job);
    snprintf (flow_tap.job, sizeof flow_tap.job, "%s", latency_job);
    atomic_init (&fanout_tap.stop, false);
    atomic_init (&flow_tap.stop, false);
    struct timespec settle = { 0, 300 * 1000 * 1000 };
    nanosleep (&settle, NULL);

    /* ---- streams held, memory per stream */
    long rss_before_kib = s_status_field (env.gateway, "VmRSS:");
    s_usage_take (&env, &phases[0].from);
    s_open_streams (&client, GROUP_FANOUT, streams, true);
    s_usage_take (&env, &phases[0].to);
    double open_s =
        (double)(phases[0].to.wall_ms - phases[0].from.wall_ms) / 1000.0;
    printf (
        "opened %zu of %zu streams in %.2f s (%.0f/s, %d in flight at most); "
        "%zu failed",
        client.opened[GROUP_FANOUT], streams, open_s,
        open_s > 0 ? (double)client.opened[GROUP_FANOUT] / open_s : 0,
        BENCH_OPEN_IN_FLIGHT, client.failed);
    for (int status = 100; status < 600; status++)
        if (client.failed_status[status])
            printf (", %zu answered %d", client.failed_status[status], status);
    if (client.failed_connect)
        printf (", %zu without an answer (last error: %s)",
                client.failed_connect, strerror (client.last_errno));
    printf ("\n");
    if (s_interrupted || !s_alive (&env.gateway)) {
        fprintf (stderr, "bench: %s\n",
                 s_interrupted ? "interrupted" : "the gateway died");
        s_print_log_tail (&env, "aura-gateway");
        goto cleanup;
    }
    if (client.opened[GROUP_FANOUT] == 0) {
        fprintf (stderr, "bench: no stream opened\n");
        s_print_log_tail (&env, "aura-gateway");
        goto cleanup;
    }
    s_usage_take (&env, &phases[1].from);
    s_client_serve (&client, BENCH_SETTLE_MS);
    s_usage_take (&env, &phases[1].to);
    long rss_open_kib = s_status_field (env.gateway, "VmRSS:");
    long threads = s_status_field (env.gateway, "Threads:");
    size_t held = client.alive[GROUP_FANOUT];
    double per_stream_kib =
        held ? (double)(rss_open_kib - rss_before_kib) / (double)held : 0;
    printf (
        "gateway RSS %.1f MiB before, %.1f MiB with %zu streams: %.2f KiB per "
        "stream (%ld threads)\n",
        rss_before_kib / 1024.0, rss_open_kib / 1024.0, held, per_stream_kib,
        threads);

    /* ---- fan-out: one event to every stream */
    sender_t fanout = { .push = push,
                        .count = (int)opt.events,
                        .interval_ns = (int64_t)opt.interval_ms * 1000000 };
    snprintf (fanout.job, sizeof fanout.job, "%s", fanout_job);
    atomic_init (&fanout.sent, 0);
    atomic_init (&fanout.done, false);
    s_usage_take (&env, &phases[2].from);
    if (s_run_events (&client, &fanout, &fanout_tap, GROUP_FANOUT) < 0)
        goto cleanup;
    s_usage_take (&env, &phases[2].to);
    int fanout_sent = atomic_load (&fanout.sent);
    int64_t *last_us = calloc ((size_t)fanout_sent + 1, sizeof *last_us);
    int64_t *first_us = calloc ((size_t)fanout_sent + 1, sizeof *first_us);
    if (!last_us || !first_us) {
        free (last_us);
        free (first_us);
        goto cleanup;
    }
    size_t fanout_seen = 0, fanout_complete = 0;
    for (size_t k = 0;
         k < client.fanout_cap && fanout_seen < (size_t)fanout_sent; k++) {
        const fanout_event_t *ev = &client.fanout[k];
        if (ev->count == 0)
            continue;
        last_us[fanout_seen] = ev->last_us - ev->ts_us;
        first_us[fanout_seen] = ev->first_us - ev->ts_us;
        fanout_seen++;
        if (ev->count >= client.alive[GROUP_FANOUT])
            fanout_complete++;
    }
    spread_t fan_last, fan_first;
    s_spread (last_us, fanout_seen, &fan_last);
    s_spread (first_us, fanout_seen, &fan_first);
    free (last_us);
    free (first_us);
    uint64_t fanout_expected =
        (uint64_t)fanout_sent * client.alive[GROUP_FANOUT];
    double fanout_gateway_s = phases[2].to.gateway_s - phases[2].from.gateway_s;
    printf ("fan-out: %d events sent, %zu reached all %zu streams; %" PRIu64
            " of %" PRIu64
            " frames received; %zu streams cut; gateway CPU %.1f ms per event "
            "(%.1f us per frame)\n",
            fanout_sent, fanout_complete, client.alive[GROUP_FANOUT],
            client.frames[GROUP_FANOUT], fanout_expected,
            client.cut[GROUP_FANOUT],
            fanout_sent ? fanout_gateway_s * 1e3 / fanout_sent : 0,
            client.frames[GROUP_FANOUT]
                ? fanout_gateway_s * 1e6 / (double)client.frames[GROUP_FANOUT]
                : 0);
    long rss_fanout_kib = s_status_field (env.gateway, "VmRSS:");

    /* ---- latency: a steady flow to a few streams, the others idle */
    s_open_streams (&client, GROUP_LATENCY, latency_streams, false);
    sender_t flow = { .push = push,
                      .count = (int)latency_events,
                      .interval_ns = 1000000000 / opt.rate };
    snprintf (flow.job, sizeof flow.job, "%s", latency_job);
    atomic_init (&flow.sent, 0);
    atomic_init (&flow.done, false);
    s_usage_take (&env, &phases[3].from);
    if (s_run_events (&client, &flow, &flow_tap, GROUP_LATENCY) < 0)
        goto cleanup;
    s_usage_take (&env, &phases[3].to);
    int flow_sent = atomic_load (&flow.sent);
    double flow_s = (double)(flow.ended_ms - flow.began_ms) / 1000.0;
    uint64_t flow_expected = (uint64_t)flow_sent * client.alive[GROUP_LATENCY];
    spread_t latency, fanout_broker, flow_broker;
    s_spread (client.latency_us, client.latency_count, &latency);
    s_spread (fanout_tap.latency_us, fanout_tap.count, &fanout_broker);
    s_spread (flow_tap.latency_us, flow_tap.count, &flow_broker);
    printf (
        "latency: %d events sent in %.2f s (%.0f/s) to %zu streams; %" PRIu64
        " of %" PRIu64 " frames received\n",
        flow_sent, flow_s, flow_s > 0 ? flow_sent / flow_s : 0,
        client.alive[GROUP_LATENCY], client.frames[GROUP_LATENCY],
        flow_expected);
    long rss_end_kib = s_status_field (env.gateway, "VmRSS:");
    if (client.frames_without_ts || client.fanout_unplaced)
        printf ("note: %" PRIu64 " frames without ts, %" PRIu64
                " fan-out frames not placed\n",
                client.frames_without_ts, client.fanout_unplaced);
    if (s_interrupted) {
        fprintf (stderr, "bench: interrupted\n");
        goto cleanup;
    }

    /* ---- the figures */
    printf ("\n| measure | target | figure | |\n|---|---|---|---|\n");
    printf ("| streams held by one gateway | %ld | %zu open (%.2f s to open) | "
            "%s |\n",
            opt.streams, held, open_s, s_verdict (held >= (size_t)opt.streams));
    printf (
        "| gateway memory per idle stream (VmRSS %.1f → %.1f MiB) | ≤ 8 KiB | "
        "%.2f KiB | %s |\n",
        rss_before_kib / 1024.0, rss_open_kib / 1024.0, per_stream_kib,
        s_verdict (per_stream_kib <= 8.0));
    printf (
        "| one event reaches all %zu streams, p50 / p99 / max of %zu | ≤ 100 "
        "ms | "
        "%.1f / %.1f / %.1f ms | %s |\n",
        client.alive[GROUP_FANOUT], fan_last.count, fan_last.p50_us / 1000.0,
        fan_last.p99_us / 1000.0, fan_last.max_us / 1000.0,
        s_verdict (fan_last.count > 0 && fanout_complete == (size_t)fanout_sent
                   && fan_last.p99_us <= 100000));
    printf ("| … reaches the first stream, p50 / p99 / max | | %.1f / %.1f / "
            "%.1f ms | "
            "|\n",
            fan_first.p50_us / 1000.0, fan_first.p99_us / 1000.0,
            fan_first.max_us / 1000.0);
    printf ("| … reaches the broker's PUB (a SUB of the bench), p50 / p99 / "
            "max | | "
            "%.1f / %.1f / %.1f ms | |\n",
            fanout_broker.p50_us / 1000.0, fanout_broker.p99_us / 1000.0,
            fanout_broker.max_us / 1000.0);
    printf (
        "| emit → receive at %.0f events/s, %zu streams (%zu idle ones open), "
        "p50 / p99 / max of %zu | p99 ≤ 5 ms | %.2f / %.2f / %.2f ms | %s |\n",
        flow_s > 0 ? flow_sent / flow_s : 0, client.alive[GROUP_LATENCY],
        client.alive[GROUP_FANOUT], latency.count, latency.p50_us / 1000.0,
        latency.p99_us / 1000.0, latency.max_us / 1000.0,
        s_verdict (latency.count > 0
                   && client.frames[GROUP_LATENCY] >= flow_expected
                   && latency.p99_us <= 5000));
    printf ("| … worker → broker's PUB alone, p50 / p99 / max of %zu | | "
            "%.2f / %.2f / %.2f ms | |\n",
            flow_broker.count, flow_broker.p50_us / 1000.0,
            flow_broker.p99_us / 1000.0, flow_broker.max_us / 1000.0);
    printf ("\ngateway VmRSS: %.1f MiB before, %.1f with the streams, %.1f "
            "after the "
            "fan-out, %.1f after the latency run\n",
            rss_before_kib / 1024.0, rss_open_kib / 1024.0,
            rss_fanout_kib / 1024.0, rss_end_kib / 1024.0);
    printf ("\n| phase | wall | gateway CPU | broker CPU | bench CPU |\n"
            "|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof phases / sizeof *phases; i++)
        s_print_phase (&phases[i]);
    printf ("\n");
    s_print_thread_cpu (env.gateway);
    printf ("load average at the end: %.2f\n", s_load_average ());
    exit_code = 0;

cleanup:
    s_client_close (&client);
    s_stop (&env.gateway);
    s_stop (&env.broker);
    zsock_destroy (&sub);
    zsock_destroy (&push);
    zsock_destroy (&pull);
    free (fanout_tap.latency_us);
    free (flow_tap.latency_us);
    if (nftw (env.dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf (stderr, "bench: could not remove %s\n", env.dir);
    return exit_code;
}
