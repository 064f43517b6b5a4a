/*  bench_sse — what Server-Sent Events streams cost the gateway and how
    fast an event reaches them, side by side with nginx + Nchan.

    It starts a real aura-broker and aura-gateway (ipc:// endpoints in a
    temporary directory, HTTP on a free loopback port), creates jobs with
    POST /api/jobs and plays the worker that runs them, then measures, each
    phase chosen with --phases:
      - bytes: the real aura-worker runs the Quick Demo (media pipeline);
        one stream follows the job to job-completed, counting every byte
        of the response and the wall time from the submission;
      - latency: a steady flow of step-progress events (100, 1,000 and
        10,000 a second) spread over 100 jobs, one stream each, every event
        timed from the moment the fake worker made it (its `ts`) to its
        arrival;
      - setup: streams opened one after another, each timed from connect()
        to the first byte of the response;
      - fan-out: 1,000 and 10,000 streams of one job, 100 events 100 ms
        apart, timed from `ts` to the last (and every) stream; the
        gateway's CPU and its resident memory per stream.
    Setup and fan-out run the same client against nginx + Nchan as well
    (--peer=nchan, the default when nginx and the module are installed):
    events POSTed to its publisher location with the same step-progress
    JSON, `ts` taken just before the POST is sent; its CPU and memory are
    those of its worker processes, as many as the gateway has HTTP threads.
    The gateway restarts before each fan-out run, and nginx starts afresh
    for each, so that every run measures a process holding nothing else.
    With --pin the servers run on CPU 0 and the client on CPU 1, so that
    neither takes the other's core (one HTTP thread and one nginx worker
    then, unless AURA_BENCH_HTTP_THREADS says otherwise).
    The client is one epoll loop over non-blocking sockets that decodes
    HTTP chunks and SSE frames by hand. Progress goes to stderr as lines
    starting with "# "; stdout gets only Markdown: a header line and one
    captioned table per phase. It asserts nothing about speed and exits
    non-zero only when the setup fails. The programs' configuration and
    logs stay in a temporary directory, removed at the end;
    AURA_BENCH_LOG_LEVEL sets the Aura programs' log level, and
    AURA_BENCH_HTTP_THREADS the gateway's HTTP threads and so nginx's
    workers (unset or 0: the gateway's default, one per core). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"
#include "ids.h"
#include "nchan_server.h"
#include "phase.h"
#include "proto.h"

#ifndef BENCH_MHD_VERSION
#define BENCH_MHD_VERSION "unknown"
#endif

/*  Streams waiting for their first frame at once while opening: enough to
    keep the server busy, few enough for its listen backlog. */
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
/*  How long the Quick Demo may take before the bytes phase gives up. */
#define BENCH_JOB_TIMEOUT_MS 180000
/*  Jobs the fake worker can hold: the latency jobs and one per fan-out. */
#define BENCH_FAKE_SLOTS 1024
/*  Latency event rates when --rate does not choose one. */
#define BENCH_RATES 3
static const long s_rates[BENCH_RATES] = { 100, 1000, 10000 };

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

/*  A progress line: on stderr, after "# ", so that stdout holds only the
    tables. */
static void __attribute__ ((format (printf, 1, 2)))
s_progress (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fputs ("# ", stderr);
    vfprintf (stderr, format, args);
    fputc ('\n', stderr);
    va_end (args);
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
    char artifact_dir[320];
    pid_t broker, gateway, worker;
    int port;
} bench_env_t;

/*  Prints the CPU seconds each thread of pid has used, by thread name, as
    a progress line. */
static void
s_print_thread_cpu (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir (path);
    if (!dir)
        return;
    fprintf (stderr, "# gateway CPU by thread over its life:");
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
        fprintf (stderr, " %s %.2f s;", comm, bench_stat_cpu_s (stat_path));
    }
    closedir (dir);
    fprintf (stderr, "\n");
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
    /* a restarted program's old log must not be read as the new one's */
    unlink (log_path);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        bench_child_prepare (parent, log_path);
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

/*  Waits until <program>.log holds marker, while *pid runs. Returns 0 with
    the text after the marker copied (NUL-terminated, truncated) into rest,
    or -1. */
static int
s_wait_log (const bench_env_t *env, const char *program, const char *marker,
            pid_t *pid, char *rest, size_t rest_size)
{
    char path[400];
    snprintf (path, sizeof path, "%s/%s.log", env->dir, program);
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
                snprintf (rest, rest_size, "%s", at + strlen (marker));
                return 0;
            }
        }
        if (!s_alive (pid))
            break;
        struct timespec pause = { 0, 20 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    fprintf (stderr, "bench: %s did not log \"%s\"\n", program, marker);
    s_print_log_tail (env, program);
    return -1;
}

/*  Waits for the gateway's "listening on http://127.0.0.1:PORT" line.
    Returns 0 with env->port set, or -1. */
static int
s_wait_listening (bench_env_t *env)
{
    char rest[16];
    if (s_wait_log (env, "aura-gateway", "listening on http://127.0.0.1:",
                    &env->gateway, rest, sizeof rest)
        < 0)
        return -1;
    char *end = NULL;
    long port = strtol (rest, &end, 10);
    if (end == rest || port <= 0 || port >= 65536) {
        fprintf (stderr, "bench: the gateway did not say where it listens\n");
        return -1;
    }
    env->port = (int)port;
    return 0;
}

/* ------------------------------------------------------- plain requests */

/*  A keep-alive connection to 127.0.0.1:port with 5 s timeouts, or -1. */
static int
s_connect_blocking (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t)port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

/*  One HTTP/1.1 request on a fresh blocking connection from 127.0.0.1.
    Returns the status code with the body copied (NUL-terminated,
    truncated) into body, or -1 when the gateway could not be reached or
    sent no status line. */
static int
s_http (int port, const char *method, const char *path, const char *json,
        char *body, size_t body_size)
{
    body[0] = '\0';
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
    if (len < 0 || (size_t)len >= sizeof request)
        return -1;
    int fd = s_connect_blocking (port);
    if (fd < 0)
        return -1;
    if (send (fd, request, (size_t)len, MSG_NOSIGNAL) != len) {
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

/*  POSTs json (or nothing) to path, which answers like POST /api/jobs;
    copies the new job's id into job. Returns 0 or -1. */
static int
s_submit (const bench_env_t *env, const char *path, const char *json,
          char job[JOB_ID_SIZE])
{
    char body[4096];
    int status = s_http (env->port, "POST", path, json, body, sizeof body);
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
    fprintf (stderr, "bench: POST %s answered %d: %.200s\n", path, status,
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

/*  Publishes `count` step-progress events, one every interval_ns on a
    steady clock (late ones catch up), round-robin over jobs[0..job_count),
    each stamped with the time it was made. To the gateway, as the fake
    worker (push); to Nchan, as a POST to its publisher on nchan_port, the
    job id as channel id. Runs on its own thread; `sent` and `done` tell
    the client loop how far it is. */
typedef struct {
    zsock_t *push;
    int nchan_port;
    char (*jobs)[JOB_ID_SIZE];
    size_t job_count;
    int count;
    int64_t interval_ns;
    atomic_int sent;
    atomic_bool done;
    int64_t began_ms, ended_ms; /* monotonic; ended_ms valid once done */
} sender_t;

/*  Reads one response to a request on a keep-alive connection: the head,
    then a Content-Length or chunked body. Returns the status, or -1. */
static int
s_read_response (int fd)
{
    char reply[8192];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv (fd, reply + got, sizeof reply - 1 - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        reply[got] = '\0';
        const char *head_end = strstr (reply, "\r\n\r\n");
        if (head_end) {
            size_t head = (size_t)(head_end - reply) + 4;
            const char *length = strstr (reply, "Content-Length:");
            char *end = NULL;
            unsigned long long body = length && length < head_end
                                          ? strtoull (length + 15, &end, 10)
                                          : 0;
            bool complete = end ? end != length + 15 && got >= head + body
                                : strstr (head_end, "\r\n0\r\n\r\n") != NULL
                                      || strstr (reply, "chunked") == NULL;
            if (complete)
                break;
        }
        if (got == sizeof reply - 1)
            return -1;
    }
    if (got < 12 || strncmp (reply, "HTTP/1.", 7) != 0)
        return -1;
    long code = 0;
    char digits[4] = { reply[9], reply[10], reply[11], '\0' };
    return s_parse_long (digits, 100, 599, &code) == 0 ? (int)code : -1;
}

/*  POSTs one event to Nchan's publisher, the same JSON the gateway sends
    for a step-progress event, stamped just before it is sent. Returns 0
    or -1. */
static int
s_nchan_publish (int fd, int port, const char *channel, int index, int count,
                 int seq)
{
    char body[512], request[1024];
    int64_t ts_us = proto_now_us ();
    int body_len = snprintf (
        body, sizeof body,
        "{\"jobId\":\"%s\",\"step\":\"render\",\"phase\":\"render\","
        "\"stepPercent\":%.2f,\"percent\":%.2f,\"message\":\"Encoding frame "
        "%d of %d\",\"seq\":%d,\"ts\":%" PRId64 "}",
        channel, 100.0 * index / count,
        step_overall_percent (STEP_RENDER, (double)index / count), index, count,
        seq, ts_us);
    if (body_len < 0 || (size_t)body_len >= sizeof body)
        return -1;
    int len = snprintf (request, sizeof request,
                        "POST /pub?id=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n%s",
                        channel, port, body_len, body);
    if (len < 0 || (size_t)len >= sizeof request
        || send (fd, request, (size_t)len, MSG_NOSIGNAL) != len)
        return -1;
    int status = s_read_response (fd);
    return status == 201 || status == 202 ? 0 : -1;
}

static void *
s_sender_run (void *arg)
{
    sender_t *self = arg;
    int fd = -1;
    if (self->nchan_port) {
        fd = s_connect_blocking (self->nchan_port);
        if (fd < 0)
            fprintf (stderr, "bench: cannot reach Nchan's publisher\n");
    }
    struct timespec next;
    clock_gettime (CLOCK_MONOTONIC, &next);
    self->began_ms = s_mono_ms ();
    proto_msg_t msg;
    for (int i = 0;
         i < self->count && !s_interrupted && (!self->nchan_port || fd >= 0);
         i++) {
        clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        const char *job = self->jobs[(size_t)i % self->job_count];
        int index = i / (int)self->job_count; /* the job's own count */
        int per_job =
            (self->count + (int)self->job_count - 1) / (int)self->job_count;
        if (self->nchan_port) {
            if (s_nchan_publish (fd, self->nchan_port, job, index, per_job,
                                 index + 1)
                != 0) {
                fprintf (stderr, "bench: a POST to Nchan's publisher failed\n");
                break;
            }
        }
        else {
            proto_msg_init (&msg, PROTO_EVENT);
            msg.kind = EVENT_STEP_PROGRESS;
            snprintf (msg.job, sizeof msg.job, "%s", job);
            snprintf (msg.worker, sizeof msg.worker, BENCH_WORKER);
            msg.attempt = 1;
            msg.step = STEP_RENDER;
            snprintf (msg.phase, sizeof msg.phase, "render");
            msg.step_percent = 100.0 * index / per_job;
            msg.percent =
                step_overall_percent (STEP_RENDER, (double)index / per_job);
            snprintf (msg.message, sizeof msg.message,
                      "Encoding frame %d of %d", index, per_job);
            msg.ts_us = proto_now_us ();
            if (s_send (self->push, &msg) != 0)
                break;
        }
        atomic_store (&self->sent, i + 1);
        int64_t ns = next.tv_nsec + self->interval_ns;
        next.tv_sec += (time_t)(ns / 1000000000);
        next.tv_nsec = (long)(ns % 1000000000);
    }
    if (fd >= 0)
        close (fd);
    self->ended_ms = s_mono_ms ();
    atomic_store (&self->done, true);
    return NULL;
}

/*  Listens to the broker's PUB as a gateway does and times each
    step-progress event from its `ts` to its arrival there: the broker's
    share of the delay, next to the streams' whole delay. Runs on its own
    thread until stop is set. */
typedef struct {
    zsock_t *sub;
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
                && msg.ts_us > 0 && self->count < self->cap)
                self->latency_us[self->count++] = now_us - msg.ts_us;
            proto_msg_reset (&msg);
        }
        zmsg_destroy (&zmsg);
    }
    zpoller_destroy (&poller);
    return NULL;
}

/* --------------------------------------------------------------- client */

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
    LINE_DATA,  /* in a data: value, looking for "ts": and "seq": */
    LINE_SKIP   /* in a line that does not matter */
} line_state_t;

/*  A JSON number key followed through a data line: `match` counts the
    key's bytes seen; once all are, the digits that follow build value. */
typedef struct {
    uint8_t match;
    int64_t value;
} key_match_t;

/*  One stream, decoded a byte at a time so that it needs no buffer. */
typedef struct {
    int fd;
    uint8_t state;         /* conn_state_t */
    uint8_t chunk_state;   /* chunk_state_t */
    uint8_t line_state;    /* line_state_t */
    uint8_t header_match;  /* bytes of "\r\n\r\n" matched */
    uint8_t chunked_match; /* bytes of "chunked" matched */
    uint8_t name_len;
    char name[8];
    bool chunked;
    bool opened; /* its snapshot (or, without one, its head) came */
    bool frame_has_data;
    uint16_t status;
    uint16_t header_bytes;
    uint32_t target; /* which request it sent */
    uint64_t chunk_left;
    uint64_t frame_id;
    key_match_t ts, seq;
} conn_t;

/*  A fan-out event: when it was made and when streams had it. */
typedef struct {
    int64_t ts_us, first_us, last_us;
    uint32_t count;
} fanout_event_t;

typedef struct {
    int epoll_fd;
    int port;
    bool snapshot_first;
    char (*requests)[256];
    size_t *request_lens;
    size_t target_count;
    conn_t *conns;
    size_t conn_count, conn_cap;
    char *buffer;

    size_t in_flight; /* started, neither opened nor failed */
    size_t opened;
    size_t alive;              /* opened and not closed */
    size_t cut;                /* closed after they opened */
    size_t failed;             /* closed before they opened */
    size_t failed_status[600]; /* … answering this status */
    size_t failed_connect;     /* … without an answer */
    int last_errno;
    uint64_t frames; /* event frames after the snapshots */
    uint64_t frames_without_ts;
    uint64_t body_bytes; /* SSE bytes of opened streams */

    uint64_t fanout_base; /* the fan-out job's snapshot seq */
    fanout_event_t *fanout;
    size_t fanout_cap;
    uint64_t fanout_unplaced; /* frames outside the fan-out table */

    int64_t *delay_us; /* every event frame, ts → arrival */
    size_t delay_count, delay_cap;
} client_t;

/*  Prepares a client of the server on port for streams of paths[0..count),
    with room for conn_cap streams, fanout_cap fan-out events (0: no
    fan-out table) and delay_cap delays. Returns 0 or -1 (free it with
    s_client_close either way). */
static int
s_client_init (client_t *self, int port, bool snapshot_first,
               const char *const *paths, size_t path_count, size_t conn_cap,
               size_t fanout_cap, size_t delay_cap)
{
    memset (self, 0, sizeof *self);
    self->port = port;
    self->snapshot_first = snapshot_first;
    self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
    self->requests = calloc (path_count, sizeof *self->requests);
    self->request_lens = calloc (path_count, sizeof *self->request_lens);
    self->target_count = path_count;
    self->conns = calloc (conn_cap, sizeof *self->conns);
    self->conn_cap = conn_cap;
    self->buffer = malloc (BENCH_RECV_BYTES);
    self->fanout = calloc (fanout_cap + 1, sizeof *self->fanout);
    self->fanout_cap = fanout_cap;
    self->delay_us = malloc ((delay_cap + 1) * sizeof *self->delay_us);
    self->delay_cap = delay_cap;
    if (self->epoll_fd < 0 || !self->requests || !self->request_lens
        || !self->conns || !self->buffer || !self->fanout || !self->delay_us)
        return -1;
    for (size_t t = 0; t < path_count; t++) {
        int len = snprintf (self->requests[t], sizeof self->requests[t],
                            "GET %s HTTP/1.1\r\n"
                            "Host: 127.0.0.1:%d\r\n"
                            "Accept: text/event-stream\r\n\r\n",
                            paths[t], port);
        if (len < 0 || (size_t)len >= sizeof self->requests[t])
            return -1;
        self->request_lens[t] = (size_t)len;
    }
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
    free (self->requests);
    free (self->request_lens);
    free (self->conns);
    free (self->buffer);
    free (self->fanout);
    free (self->delay_us);
    self->requests = NULL;
    self->request_lens = NULL;
    self->conns = NULL;
    self->buffer = NULL;
    self->fanout = NULL;
    self->delay_us = NULL;
}

static void
s_conn_close (client_t *self, conn_t *c, int error)
{
    if (c->state == CONN_CLOSED)
        return;
    close (c->fd);
    c->state = CONN_CLOSED;
    if (c->opened) {
        self->alive--;
        self->cut++;
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

static void
s_conn_open (client_t *self, conn_t *c)
{
    c->opened = true;
    self->in_flight--;
    self->opened++;
    self->alive++;
}

/*  A blank line: the frame is complete. With snapshot_first, the first one
    with data is the stream's snapshot; the rest are events. */
static void
s_frame_end (client_t *self, conn_t *c, int64_t now_us)
{
    bool had_data = c->frame_has_data;
    uint64_t id = c->frame_id;
    int64_t ts = c->ts.value;
    uint64_t seq = (uint64_t)c->seq.value;
    c->frame_has_data = false;
    c->frame_id = 0;
    c->ts.value = c->seq.value = 0;
    if (!had_data)
        return; /* the retry line, a keepalive comment */
    if (!c->opened) {
        s_conn_open (self, c);
        if (id > self->fanout_base)
            self->fanout_base = id;
        return;
    }
    self->frames++;
    if (ts <= 0) {
        self->frames_without_ts++;
        return;
    }
    if (self->delay_count < self->delay_cap)
        self->delay_us[self->delay_count++] = now_us - ts;
    if (self->fanout_cap == 0)
        return;
    if (seq <= self->fanout_base
        || seq - self->fanout_base > self->fanout_cap) {
        self->fanout_unplaced++;
        return;
    }
    fanout_event_t *ev = &self->fanout[seq - self->fanout_base - 1];
    if (ev->count++ == 0) {
        ev->ts_us = ts;
        ev->first_us = now_us;
    }
    ev->last_us = now_us;
}

/*  One byte of a data line for a key such as "\"ts\":". */
static void
s_key_feed (key_match_t *key, const char *name, uint8_t name_len, char ch)
{
    if (key->match < name_len) {
        if (ch == name[key->match])
            key->match++;
        else
            key->match = ch == '"' ? 1 : 0;
        if (key->match == name_len)
            key->value = 0;
    }
    else if (key->match == name_len) {
        if (ch >= '0' && ch <= '9')
            key->value = key->value * 10 + (ch - '0');
        else if (ch != ' ')
            key->match = (uint8_t)(name_len + 1); /* the number ended */
    }
}

/*  Decodes SSE bytes: counts frames, reads `id:` and the `ts` and `seq` of
    `data:`. */
static void
s_sse_feed (client_t *self, conn_t *c, const char *p, size_t n, int64_t now_us)
{
    if (c->opened)
        self->body_bytes += n;
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
                c->ts.match = c->seq.match = 0;
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
            else {
                s_key_feed (&c->ts, "\"ts\":", 5, ch);
                s_key_feed (&c->seq, "\"seq\":", 6, ch);
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
            if (!self->snapshot_first)
                s_conn_open (self, c);
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
        ssize_t sent = send (c->fd, self->requests[c->target],
                             self->request_lens[c->target], MSG_NOSIGNAL);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (sent != (ssize_t)self->request_lens[c->target]
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

/*  Starts one stream of target from source address `source` (host order).
    A failure to start counts as a failed stream. */
static void
s_conn_start (client_t *self, size_t target, uint32_t source)
{
    if (self->conn_count == self->conn_cap)
        return;
    conn_t *c = &self->conns[self->conn_count++];
    memset (c, 0, sizeof *c);
    c->target = (uint32_t)target;
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

/*  Opens count streams, round-robin over the targets, at most
    BENCH_OPEN_IN_FLIGHT waiting to open at once; with spread, from a new
    loopback address every BENCH_STREAMS_PER_ADDRESS streams, else from
    127.0.0.1. Returns when each has opened or failed, or nothing moved for
    BENCH_OPEN_STALL_MS. */
static void
s_open_streams (client_t *self, size_t count, bool spread)
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
            s_conn_start (self, started % self->target_count, source);
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

/*  Runs sender (and tap, unless NULL) on their own threads while the
    client serves the streams, until every alive stream has every event
    sent to its job, or BENCH_DRAIN_MS after the last was sent. Each stream
    follows one of the sender's jobs. Returns 0 or -1. */
static int
s_run_events (client_t *self, sender_t *sender, tap_t *tap)
{
    pthread_t thread, tap_thread;
    if (tap && pthread_create (&tap_thread, NULL, s_tap_run, tap) != 0)
        return -1;
    if (pthread_create (&thread, NULL, s_sender_run, sender) != 0) {
        if (tap) {
            atomic_store (&tap->stop, true);
            pthread_join (tap_thread, NULL);
        }
        return -1;
    }
    uint64_t before = self->frames;
    while (!s_interrupted) {
        s_client_poll (self, 10);
        if (!atomic_load (&sender->done))
            continue;
        uint64_t want = (uint64_t)atomic_load (&sender->sent) * self->alive
                        / sender->job_count;
        if (self->frames - before >= want
            || s_mono_ms () - sender->ended_ms > BENCH_DRAIN_MS)
            break;
    }
    pthread_join (thread, NULL);
    if (tap) {
        atomic_store (&tap->stop, true);
        pthread_join (tap_thread, NULL);
    }
    return 0;
}

/* -------------------------------------------------------------- figures */

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
    int64_t p50_us, p99_us, p999_us, max_us;
    size_t count;
} spread_t;

/*  Sorts values[0..n) and takes their percentiles. */
static void
s_spread (int64_t *values, size_t n, spread_t *out)
{
    qsort (values, n, sizeof *values, s_compare_i64);
    out->count = n;
    out->p50_us = s_percentile (values, n, 50);
    out->p99_us = s_percentile (values, n, 99);
    out->p999_us = s_percentile (values, n, 99.9);
    out->max_us = n ? values[n - 1] : 0;
}

static double
s_ms (int64_t us)
{
    return (double)us / 1000.0;
}

/*  Prints a / b as a table cell, or "—" when b is too small to measure. */
static void
s_print_ratio (FILE *out, double a, double b)
{
    if (b > 0)
        fprintf (out, " %.2f |", a / b);
    else
        fprintf (out, " — |");
}

/*  CPU seconds (user + system) this process has used so far. */
static double
s_self_cpu_s (void)
{
    struct rusage self;
    getrusage (RUSAGE_SELF, &self);
    return (double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6
           + (double)self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- bench */

typedef enum {
    PHASE_BYTES,
    PHASE_LATENCY,
    PHASE_SETUP,
    PHASE_FANOUT,
    PHASE_COUNT
} phase_id_t;

static const char *const s_phase_names[PHASE_COUNT] = { "bytes", "latency",
                                                        "setup", "fanout" };

typedef struct {
    long streams, events, interval_ms, rate, seconds, latency_streams,
        connections, repeat;
    bool phases[PHASE_COUNT];
    bool nchan;
    bool pin; /* servers on CPU 0, the client on CPU 1 */
} options_t;

typedef struct {
    bench_env_t env;
    options_t opt;
    const char *const *gateway_env;
    const char *log_level; /* "AURA_LOG_LEVEL=…" for the worker */
    FILE *out;             /* the tables, printed after the header */
    zsock_t *pull, *push;  /* the fake worker */
    int slots_used;
    int http_threads;
    bool nchan; /* nginx + Nchan runs next to the gateway */
    char nginx_version[256];
    nchan_server_t *nginx;     /* the one running, if any */
    int nginx_runs;            /* names the directory of each */
    char (*jobs)[JOB_ID_SIZE]; /* the latency jobs */
    size_t job_count;
} bench_t;

/*  One server under measurement: the gateway (pid) or nginx. */
typedef struct {
    pid_t gateway;
    nchan_server_t *nginx;
} server_t;

static double
s_server_cpu_s (const server_t *server)
{
    return server->nginx ? nchan_server_cpu_s (server->nginx)
                         : bench_cpu_s (server->gateway);
}

static long
s_server_rss_kib (const server_t *server)
{
    return server->nginx ? nchan_server_rss_kib (server->nginx)
                         : bench_status_field (server->gateway, "VmRSS:");
}

/*  Starts the gateway and waits until it is ready. Returns 0 or -1. */
static int
s_gateway_start (bench_t *b)
{
    b->env.gateway = s_spawn (&b->env, "aura-gateway", b->gateway_env);
    if (b->env.gateway < 0 || s_wait_listening (&b->env) < 0
        || s_wait_ready (&b->env) < 0)
        return -1;
    return 0;
}

/*  Starts nginx + Nchan with as many workers as the gateway has HTTP
    threads, in a directory of its own. Returns 0 or -1. */
static int
s_nginx_start (bench_t *b, long connections)
{
    char dir[400];
    snprintf (dir, sizeof dir, "%s/nginx-%d", b->env.dir, ++b->nginx_runs);
    if (mkdir (dir, 0755) != 0) {
        fprintf (stderr, "bench: mkdir %s: %s\n", dir, strerror (errno));
        return -1;
    }
    b->nginx = nchan_server_new (dir, b->http_threads, connections);
    return b->nginx ? 0 : -1;
}

/*  Creates a job and accepts it as the fake worker. Returns 0 or -1. */
static int
s_fake_job (bench_t *b, char job[JOB_ID_SIZE])
{
    if (b->slots_used == BENCH_FAKE_SLOTS) {
        fprintf (stderr, "bench: the fake worker is full\n");
        return -1;
    }
    b->slots_used++;
    if (s_submit (&b->env, "/api/jobs", "{\"brief\":{\"topic\":\"bench\"}}",
                  job)
        < 0)
        return -1;
    return s_worker_accept (b->pull, b->push, job,
                            BENCH_FAKE_SLOTS - b->slots_used, BENCH_FAKE_SLOTS);
}

/* ----------------------------------------------------------- phase: bytes */

/*  What one stream of a whole job cost on the wire. */
typedef struct {
    size_t request_bytes, head_bytes, response_bytes;
    int frames, progress_frames;
    int64_t terminal_ms; /* monotonic; 0 when no terminal event came */
    char terminal[32];   /* its event name */
} follow_t;

/*  Counts the occurrences of needle in text. */
static int
s_count (const char *text, const char *needle)
{
    int count = 0;
    size_t len = strlen (needle);
    for (const char *at = strstr (text, needle); at;
         at = strstr (at + len, needle))
        count++;
    return count;
}

/*  Follows job's event stream until the server closes it, counting every
    byte of the response. Returns 0 or -1. */
static int
s_follow_job (int port, const char *job, follow_t *out)
{
    static char text[1 << 20];
    memset (out, 0, sizeof *out);
    int fd = s_connect_blocking (port);
    if (fd < 0)
        return -1;
    struct timeval timeout = { 30, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char request[256];
    int len = snprintf (request, sizeof request,
                        "GET /api/jobs/%s/events HTTP/1.1\r\n"
                        "Host: 127.0.0.1:%d\r\n"
                        "Accept: text/event-stream\r\n\r\n",
                        job, port);
    if (len < 0 || (size_t)len >= sizeof request
        || send (fd, request, (size_t)len, MSG_NOSIGNAL) != len) {
        close (fd);
        return -1;
    }
    out->request_bytes = (size_t)len;
    size_t kept = 0;
    static const char *const terminals[] = { "event: job-completed",
                                             "event: job-failed",
                                             "event: job-cancelled" };
    for (int64_t start = s_mono_ms ();
         s_mono_ms () - start < BENCH_JOB_TIMEOUT_MS && !s_interrupted;) {
        char chunk[16384];
        ssize_t n = recv (fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            break; /* closed after the terminal event, or timed out */
        out->response_bytes += (size_t)n;
        size_t room = sizeof text - 1 - kept;
        size_t take = (size_t)n < room ? (size_t)n : room;
        size_t from = kept > 32 ? kept - 32 : 0;
        memcpy (text + kept, chunk, take);
        kept += take;
        text[kept] = '\0';
        for (size_t t = 0; t < 3 && !out->terminal_ms; t++)
            if (strstr (text + from, terminals[t])) {
                out->terminal_ms = s_mono_ms ();
                snprintf (out->terminal, sizeof out->terminal, "%s",
                          terminals[t] + 7);
                /* what follows the frame is the end of the stream */
                struct timeval rest = { 2, 0 };
                setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &rest, sizeof rest);
            }
    }
    close (fd);
    const char *head_end = strstr (text, "\r\n\r\n");
    out->head_bytes = head_end ? (size_t)(head_end - text) + 4 : 0;
    out->frames = s_count (text, "\ndata:");
    out->progress_frames = s_count (text, "event: step-progress");
    return out->response_bytes ? 0 : -1;
}

/*  The Quick Demo on the real worker, followed on one stream. */
static int
s_phase_bytes (bench_t *b)
{
    char data_dir[340], artifact_dir[340];
    snprintf (data_dir, sizeof data_dir, "AURA_DATA_DIR=%s/worker", b->env.dir);
    snprintf (artifact_dir, sizeof artifact_dir, "AURA_ARTIFACT_DIR=%s",
              b->env.artifact_dir);
    const char *worker_env[] = { data_dir,
                                 artifact_dir,
                                 b->log_level,
                                 "AURA_PIPELINE=media",
                                 "AURA_WORKER_ID=bench-media",
                                 NULL };
    s_progress ("bytes: starting aura-worker with the media pipeline");
    b->env.worker = s_spawn (&b->env, "aura-worker", worker_env);
    char rest[128];
    if (b->env.worker < 0
        || s_wait_log (&b->env, "aura-worker", "ready: worker=", &b->env.worker,
                       rest, sizeof rest)
               < 0)
        return -1;
    double load = bench_load_average ();
    int64_t submitted_ms = s_mono_ms ();
    char job[JOB_ID_SIZE];
    follow_t follow;
    if (s_submit (&b->env, "/api/quick/demo", NULL, job) < 0
        || s_follow_job (b->env.port, job, &follow) < 0) {
        fprintf (stderr, "bench: could not follow the Quick Demo\n");
        s_print_log_tail (&b->env, "aura-worker");
        return -1;
    }
    double wall_s = follow.terminal_ms
                        ? (double)(follow.terminal_ms - submitted_ms) / 1e3
                        : 0;
    s_progress ("bytes: job %s ended with %s after %.2f s", job,
                follow.terminal[0] ? follow.terminal : "no terminal event",
                wall_s);
    if (strcmp (follow.terminal, "job-completed") != 0)
        s_print_log_tail (&b->env, "aura-worker");
    s_stop (&b->env.worker);

    FILE *out = b->out;
    fprintf (out,
             "\nBytes per job: the Quick Demo (POST /api/quick/demo, 1080p, "
             "the real aura-worker with the media pipeline) followed on one "
             "event stream opened right after the 202, without "
             "Last-Event-ID, as a browser does. Bytes are HTTP bytes of the "
             "stream's response (head + chunked body, TCP/IP headers not "
             "counted); the stream's request is listed apart. Targets: "
             "< 10 KB per job (the seed's promise), submit → job-completed "
             "≤ 5 s.\n\n");
    fprintf (out, "| job end | frames (step-progress) | response head | "
                  "response total | request | submit → end | targets | "
                  "load |\n|---|---|---|---|---|---|---|---|\n");
    fprintf (
        out,
        "| %s | %d (%d) | %zu B | %zu B (%.1f KB) | %zu B | %.2f s | "
        "%s, %s | %.2f |\n",
        follow.terminal[0] ? follow.terminal : "none", follow.frames,
        follow.progress_frames, follow.head_bytes, follow.response_bytes,
        (double)follow.response_bytes / 1000.0, follow.request_bytes, wall_s,
        follow.response_bytes < 10000 ? "< 10 KB met" : "< 10 KB NOT met",
        follow.terminal_ms && wall_s <= 5.0 ? "≤ 5 s met" : "≤ 5 s NOT met",
        load);
    return 0;
}

/* --------------------------------------------------------- phase: latency */

static int
s_phase_latency (bench_t *b)
{
    size_t n = (size_t)b->opt.latency_streams;
    char (*paths)[64] = calloc (n, sizeof *paths);
    const char **path_list = calloc (n, sizeof *path_list);
    tap_t tap = { 0 };
    zsock_t *sub = NULL;
    client_t client;
    memset (&client, 0, sizeof client);
    client.epoll_fd = -1;
    int rc = -1;
    if (!paths || !path_list)
        goto done;
    for (size_t i = 0; i < n; i++) {
        snprintf (paths[i], sizeof paths[i], "/api/jobs/%s/events", b->jobs[i]);
        path_list[i] = paths[i];
    }
    /* the broker's share of the delays, seen from a SUB socket of ours */
    sub = zsock_new_sub (b->env.publish, PROTO_TOPIC_JOB);
    long max_rate = b->opt.rate ? b->opt.rate : s_rates[BENCH_RATES - 1];
    tap.cap = (size_t)(max_rate * b->opt.seconds) + 1024;
    tap.latency_us = malloc (tap.cap * sizeof *tap.latency_us);
    if (!sub || !tap.latency_us)
        goto done;
    zsock_set_rcvhwm (sub, 0);
    tap.sub = sub;
    struct timespec settle = { 0, 300 * 1000 * 1000 };
    nanosleep (&settle, NULL);

    FILE *out = b->out;
    fprintf (out,
             "\nEnd-to-end latency: the fake worker makes a step-progress "
             "event (its `ts`) → a stream has the frame; %zu jobs with one "
             "stream each, events round-robin over the jobs for %ld s per "
             "rate. \"worker → broker PUB\" is the same delay seen by a SUB "
             "socket of the benchmark on the broker's PUB. Goal: p99 ≤ 5 ms "
             "at 1,000 events/s.\n\n",
             n, b->opt.seconds);
    fprintf (out, "| events/s (achieved) | frames received | p50 | p99 | "
                  "p99.9 | max | worker → broker PUB p50 / p99 | goal | "
                  "load |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int r = 0; r < BENCH_RATES && !s_interrupted; r++) {
        long rate = b->opt.rate ? b->opt.rate : s_rates[r];
        if (b->opt.rate && r > 0)
            break;
        size_t events = (size_t)(rate * b->opt.seconds);
        if (s_client_init (&client, b->env.port, true, path_list, n, n, 0,
                           events + 1024)
            < 0) {
            fprintf (stderr, "bench: out of memory\n");
            goto done;
        }
        s_open_streams (&client, n, false);
        if (client.opened < n)
            s_progress ("latency: only %zu of %zu streams opened",
                        client.opened, n);
        double load = bench_load_average ();
        sender_t flow = { .push = b->push,
                          .jobs = b->jobs,
                          .job_count = n,
                          .count = (int)events,
                          .interval_ns = 1000000000 / rate };
        atomic_init (&flow.sent, 0);
        atomic_init (&flow.done, false);
        tap.count = 0;
        atomic_init (&tap.stop, false);
        s_progress ("latency: %ld events/s for %ld s over %zu streams", rate,
                    b->opt.seconds, n);
        if (s_run_events (&client, &flow, &tap) < 0)
            goto done;
        int sent = atomic_load (&flow.sent);
        double flow_s = (double)(flow.ended_ms - flow.began_ms) / 1000.0;
        uint64_t expected = (uint64_t)sent * client.alive / n;
        spread_t latency, broker;
        s_spread (client.delay_us, client.delay_count, &latency);
        s_spread (tap.latency_us, tap.count, &broker);
        const char *goal = "";
        if (rate == 1000)
            goal = latency.count > 0 && client.frames >= expected
                           && latency.p99_us <= 5000
                       ? "p99 ≤ 5 ms met"
                       : "p99 ≤ 5 ms NOT met";
        fprintf (out,
                 "| %ld (%.0f) | %" PRIu64 " of %" PRIu64
                 " | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f / %.2f ms "
                 "| %s | %.2f |\n",
                 rate, flow_s > 0 ? sent / flow_s : 0, client.frames, expected,
                 s_ms (latency.p50_us), s_ms (latency.p99_us),
                 s_ms (latency.p999_us), s_ms (latency.max_us),
                 s_ms (broker.p50_us), s_ms (broker.p99_us), goal, load);
        s_client_close (&client);
    }
    rc = s_interrupted ? -1 : 0;

done:
    s_client_close (&client);
    zsock_destroy (&sub);
    free (tap.latency_us);
    free (path_list);
    free (paths);
    return rc;
}

/* ----------------------------------------------------------- phase: setup */

/*  Opens one stream and times it from the start of connect() to the first
    byte of the response. Returns the microseconds with *status set to the
    HTTP status (0 when unknown), or -1 when nothing came. */
static int64_t
s_setup_one (int port, const char *request, size_t len, int *status)
{
    *status = 0;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval timeout = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t)port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    char reply[512];
    struct timespec start, end;
    clock_gettime (CLOCK_MONOTONIC, &start);
    ssize_t n = -1;
    if (connect (fd, (struct sockaddr *)&addr, sizeof addr) == 0
        && send (fd, request, len, MSG_NOSIGNAL) == (ssize_t)len)
        n = recv (fd, reply, sizeof reply - 1, 0);
    clock_gettime (CLOCK_MONOTONIC, &end);
    close (fd);
    if (n <= 0)
        return -1;
    reply[n] = '\0';
    long code = 0;
    char digits[4] = { reply[9], reply[10], reply[11], '\0' };
    if (n >= 12 && strncmp (reply, "HTTP/1.", 7) == 0
        && s_parse_long (digits, 100, 599, &code) == 0)
        *status = (int)code;
    return (int64_t)(end.tv_sec - start.tv_sec) * 1000000
           + (end.tv_nsec - start.tv_nsec) / 1000;
}

typedef struct {
    spread_t spread;
    size_t answered; /* with 200 */
    double load;
} setup_result_t;

/*  Opens b->opt.connections streams of path one after another. */
static int
s_setup_run (bench_t *b, int port, const char *path, setup_result_t *out)
{
    size_t count = (size_t)b->opt.connections;
    int64_t *us = malloc (count * sizeof *us);
    if (!us)
        return -1;
    char request[256];
    int len = snprintf (request, sizeof request,
                        "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Accept: text/event-stream\r\n\r\n",
                        path, port);
    out->load = bench_load_average ();
    out->answered = 0;
    for (size_t i = 0; i < count && !s_interrupted; i++) {
        int status;
        int64_t took = s_setup_one (port, request, (size_t)len, &status);
        if (took >= 0 && status == 200)
            us[out->answered++] = took;
    }
    s_spread (us, out->answered, &out->spread);
    free (us);
    return s_interrupted ? -1 : 0;
}

static int
s_phase_setup (bench_t *b)
{
    setup_result_t ours = { 0 }, nchan = { 0 };
    char path[64];
    snprintf (path, sizeof path, "/api/jobs/%s/events", b->jobs[0]);
    s_progress ("setup: %ld streams opened one after another, gateway",
                b->opt.connections);
    if (s_setup_run (b, b->env.port, path, &ours) < 0)
        return -1;
    if (b->nchan) {
        s_progress ("setup: the same, nginx + Nchan");
        if (s_nginx_start (b, 4096) < 0)
            return -1;
        int rc = s_setup_run (b, nchan_server_port (b->nginx), "/sub?id=setup",
                              &nchan);
        nchan_server_destroy (&b->nginx);
        if (rc < 0)
            return -1;
    }
    FILE *out = b->out;
    fprintf (out,
             "\nConnection setup: %ld event streams opened one after another "
             "from 127.0.0.1 (each closed before the next), each timed from "
             "the start of connect() to the first byte of the response — "
             "its status line: the head is what the client sees first, "
             "before any of the stream's body. The gateway's streams are of "
             "a running job; Nchan's of one channel. The seed promises "
             "< 100 ms; the aim is ≤ 2 ms.\n\n",
             b->opt.connections);
    fprintf (out, "| server | answered 200 | p50 | p99 | max | aim | load |\n"
                  "|---|---|---|---|---|---|---|\n");
    fprintf (out,
             "| Aura gateway | %zu of %ld | %.3f ms | %.3f ms | %.3f ms "
             "| %s | %.2f |\n",
             ours.answered, b->opt.connections, s_ms (ours.spread.p50_us),
             s_ms (ours.spread.p99_us), s_ms (ours.spread.max_us),
             ours.answered && ours.spread.p99_us <= 2000 ? "p99 ≤ 2 ms met"
                                                         : "p99 ≤ 2 ms NOT met",
             ours.load);
    if (b->nchan) {
        fprintf (out,
                 "| nginx + Nchan | %zu of %ld | %.3f ms | %.3f ms | "
                 "%.3f ms | | %.2f |\n",
                 nchan.answered, b->opt.connections, s_ms (nchan.spread.p50_us),
                 s_ms (nchan.spread.p99_us), s_ms (nchan.spread.max_us),
                 nchan.load);
        fprintf (out, "| Aura / Nchan | |");
        s_print_ratio (out, (double)ours.spread.p50_us,
                       (double)nchan.spread.p50_us);
        s_print_ratio (out, (double)ours.spread.p99_us,
                       (double)nchan.spread.p99_us);
        s_print_ratio (out, (double)ours.spread.max_us,
                       (double)nchan.spread.max_us);
        fprintf (out, " | |\n");
    }
    return 0;
}

/* ---------------------------------------------------------- phase: fanout */

typedef struct {
    bool nchan;
    long round;
    size_t streams, opened, cut;
    int sent;
    size_t complete; /* events every alive stream had */
    spread_t last, every;
    double cpu_s, broker_cpu_s, client_cpu_s, open_s;
    long rss_before_kib, rss_open_kib;
    uint64_t frames, expected, body_bytes;
    double load;
} fanout_result_t;

/*  One fan-out run against server: `streams` streams of path, then the
    events sender publishes. Fills out. Returns 0 or -1. */
static int
s_fanout_run (bench_t *b, const server_t *server, int port, const char *path,
              sender_t *sender, size_t streams, fanout_result_t *out)
{
    client_t client;
    size_t events = (size_t)b->opt.events;
    int rc = -1;
    if (s_client_init (&client, port, !server->nginx, &path, 1, streams,
                       events + 64, events * streams + 1024)
        < 0) {
        fprintf (stderr, "bench: out of memory\n");
        goto done;
    }
    out->streams = streams;
    out->rss_before_kib = s_server_rss_kib (server);
    int64_t open_ms = s_mono_ms ();
    s_open_streams (&client, streams, true);
    out->open_s = (double)(s_mono_ms () - open_ms) / 1000.0;
    out->opened = client.opened;
    if (client.failed) {
        s_progress ("fan-out: %zu streams failed to open (%zu without an "
                    "answer, last error: %s)",
                    client.failed, client.failed_connect,
                    strerror (client.last_errno));
    }
    if (client.opened == 0) {
        fprintf (stderr, "bench: no stream opened\n");
        goto done;
    }
    s_client_serve (&client, BENCH_SETTLE_MS);
    out->rss_open_kib = s_server_rss_kib (server);
    out->load = bench_load_average ();
    double cpu_before = s_server_cpu_s (server);
    double broker_before = bench_cpu_s (b->env.broker);
    double client_before = s_self_cpu_s ();
    if (s_run_events (&client, sender, NULL) < 0)
        goto done;
    out->cpu_s = s_server_cpu_s (server) - cpu_before;
    out->client_cpu_s = s_self_cpu_s () - client_before;
    out->broker_cpu_s =
        server->nginx ? 0 : bench_cpu_s (b->env.broker) - broker_before;
    out->sent = atomic_load (&sender->sent);
    out->cut = client.cut;
    out->frames = client.frames;
    out->expected = (uint64_t)out->sent * client.alive;
    out->body_bytes = client.body_bytes;
    int64_t *last_us = calloc ((size_t)out->sent + 1, sizeof *last_us);
    if (!last_us)
        goto done;
    size_t seen = 0;
    for (size_t k = 0; k < client.fanout_cap && seen < (size_t)out->sent; k++) {
        const fanout_event_t *ev = &client.fanout[k];
        if (ev->count == 0)
            continue;
        last_us[seen++] = ev->last_us - ev->ts_us;
        if (ev->count >= client.alive)
            out->complete++;
    }
    s_spread (last_us, seen, &out->last);
    free (last_us);
    s_spread (client.delay_us, client.delay_count, &out->every);
    if (client.frames_without_ts || client.fanout_unplaced)
        s_progress ("fan-out: %" PRIu64 " frames without ts, %" PRIu64
                    " not placed",
                    client.frames_without_ts, client.fanout_unplaced);
    rc = s_interrupted ? -1 : 0;

done:
    s_client_close (&client);
    return rc;
}

/*  The gateway, restarted so that it holds nothing else, and a new job. */
static int
s_fanout_ours (bench_t *b, size_t streams, fanout_result_t *out)
{
    s_stop (&b->env.gateway);
    char job[1][JOB_ID_SIZE];
    if (s_gateway_start (b) < 0 || s_fake_job (b, job[0]) < 0)
        return -1;
    char path[64];
    snprintf (path, sizeof path, "/api/jobs/%s/events", job[0]);
    sender_t sender = { .push = b->push,
                        .jobs = job,
                        .job_count = 1,
                        .count = (int)b->opt.events,
                        .interval_ns = (int64_t)b->opt.interval_ms * 1000000 };
    atomic_init (&sender.sent, 0);
    atomic_init (&sender.done, false);
    server_t server = { .gateway = b->env.gateway };
    return s_fanout_run (b, &server, b->env.port, path, &sender, streams, out);
}

/*  nginx + Nchan, started afresh, and a new channel. */
static int
s_fanout_nchan (bench_t *b, size_t streams, fanout_result_t *out)
{
    char channel[1][JOB_ID_SIZE];
    if (job_id_generate (channel[0]) < 0
        || s_nginx_start (b, (long)streams + 1024) < 0)
        return -1;
    char path[64];
    snprintf (path, sizeof path, "/sub?id=%s", channel[0]);
    sender_t sender = { .nchan_port = nchan_server_port (b->nginx),
                        .jobs = channel,
                        .job_count = 1,
                        .count = (int)b->opt.events,
                        .interval_ns = (int64_t)b->opt.interval_ms * 1000000 };
    atomic_init (&sender.sent, 0);
    atomic_init (&sender.done, false);
    server_t server = { .nginx = b->nginx };
    int rc = s_fanout_run (b, &server, nchan_server_port (b->nginx), path,
                           &sender, streams, out);
    nchan_server_destroy (&b->nginx);
    return rc;
}

static void
s_fanout_row (FILE *out, const fanout_result_t *r)
{
    double per_stream_kib =
        r->opened
            ? (double)(r->rss_open_kib - r->rss_before_kib) / (double)r->opened
            : 0;
    char broker[32] = "—";
    if (!r->nchan)
        snprintf (broker, sizeof broker, "%.2f ms",
                  r->sent ? r->broker_cpu_s * 1e3 / r->sent : 0);
    fprintf (
        out,
        "| %s | %ld | %zu of %zu | %d of %d | %.1f / %.1f / %.1f ms | "
        "%.1f / %.1f / %.1f ms | %" PRIu64 " of %" PRIu64
        " | %.2f ms (%.2f s) | %s | %.2f s | %.2f KiB (%.1f → %.1f "
        "MiB) | %.0f B | %.2f |\n",
        r->nchan ? "nginx + Nchan" : "Aura gateway", r->round, r->opened,
        r->streams, (int)r->complete, r->sent, s_ms (r->last.p50_us),
        s_ms (r->last.p99_us), s_ms (r->last.max_us), s_ms (r->every.p50_us),
        s_ms (r->every.p99_us), s_ms (r->every.max_us), r->frames, r->expected,
        r->sent ? r->cpu_s * 1e3 / r->sent : 0, r->cpu_s, broker,
        r->client_cpu_s, per_stream_kib, r->rss_before_kib / 1024.0,
        r->rss_open_kib / 1024.0,
        r->frames ? (double)r->body_bytes / (double)r->frames : 0, r->load);
}

static int
s_phase_fanout (bench_t *b)
{
    size_t sizes[2] = { (size_t)b->opt.streams / 10, (size_t)b->opt.streams };
    size_t runs_max = 4 * (size_t)b->opt.repeat;
    fanout_result_t *results = calloc (runs_max, sizeof *results);
    if (!results)
        return -1;
    size_t runs = 0;
    int rc = -1;
    for (long round = 1; round <= b->opt.repeat; round++)
        for (size_t s = 0; s < 2; s++) {
            if (sizes[s] == 0)
                continue;
            for (int peer = 0; peer < (b->nchan ? 2 : 1); peer++) {
                fanout_result_t *r = &results[runs];
                r->nchan = peer == 1;
                r->round = round;
                s_progress ("fan-out: %s, %zu streams, %ld events %ld ms "
                            "apart (round %ld)",
                            r->nchan ? "nginx + Nchan" : "gateway", sizes[s],
                            b->opt.events, b->opt.interval_ms, round);
                if ((r->nchan ? s_fanout_nchan (b, sizes[s], r)
                              : s_fanout_ours (b, sizes[s], r))
                    < 0)
                    goto done;
                runs++;
                if (!r->nchan && s == 1 && round == b->opt.repeat)
                    s_print_thread_cpu (b->env.gateway);
            }
        }
    FILE *out = b->out;
    fprintf (out,
             "\nFan-out: %ld step-progress events %ld ms apart to one job "
             "(Aura: injected at the broker by a fake worker) or one channel "
             "(Nchan: POSTed to its publisher location), the same JSON "
             "payload, each event timed from its `ts` (Aura: made by the "
             "worker, before the broker; Nchan: just before the POST) to the "
             "last stream that had it, and to every stream. CPU is the "
             "server's while the events flowed, per event (Aura: the gateway "
             "with %d HTTP threads — the broker's own is listed apart; "
             "Nchan: its %d worker processes, summed); memory is the growth "
             "of its resident set (workers summed) while the streams opened, "
             "per stream. The client (one thread) shares the %ld cores "
             "with the server; its CPU shows when it, too, was busy. Each "
             "run starts a fresh server.\n\n",
             b->opt.events, b->opt.interval_ms, b->http_threads,
             b->http_threads, sysconf (_SC_NPROCESSORS_ONLN));
    fprintf (out,
             "| server | round | streams | events that reached all | "
             "last stream p50 / p99 / max | every stream p50 / p99 / max | "
             "frames received | server CPU per event (total) | broker CPU "
             "per event | client CPU | memory per stream (RSS) | bytes per "
             "frame | load |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < runs; i++)
        s_fanout_row (out, &results[i]);
    if (b->nchan) {
        fprintf (out, "\nFan-out, Aura gateway / nginx + Nchan, run by run "
                      "(below 1: the gateway is faster or smaller).\n\n");
        fprintf (out, "| streams | round | last stream p50 | last stream "
                      "p99 | CPU per event | memory per stream |\n"
                      "|---|---|---|---|---|---|\n");
        for (size_t i = 0; i + 1 < runs; i += 2) {
            const fanout_result_t *o = &results[i], *n = &results[i + 1];
            double o_mem = (double)(o->rss_open_kib - o->rss_before_kib)
                           / (double)(o->opened ? o->opened : 1);
            double n_mem = (double)(n->rss_open_kib - n->rss_before_kib)
                           / (double)(n->opened ? n->opened : 1);
            fprintf (out, "| %zu | %ld |", o->streams, o->round);
            s_print_ratio (out, (double)o->last.p50_us, (double)n->last.p50_us);
            s_print_ratio (out, (double)o->last.p99_us, (double)n->last.p99_us);
            s_print_ratio (out, o->cpu_s / (o->sent ? o->sent : 1),
                           n->cpu_s / (n->sent ? n->sent : 1));
            s_print_ratio (out, o_mem, n_mem);
            fprintf (out, "\n");
        }
    }
    rc = 0;

done:
    free (results);
    return rc;
}

/* ----------------------------------------------------------------- main */

/*  Parses a comma-separated phase list into phases. Returns 0 or -1. */
static int
s_parse_phases (const char *text, bool phases[PHASE_COUNT])
{
    for (int p = 0; p < PHASE_COUNT; p++)
        phases[p] = false;
    while (*text) {
        size_t len = strcspn (text, ",");
        int found = -1;
        for (int p = 0; p < PHASE_COUNT; p++)
            if (strlen (s_phase_names[p]) == len
                && strncmp (text, s_phase_names[p], len) == 0)
                found = p;
        if (found < 0)
            return -1;
        phases[found] = true;
        text += len;
        if (*text == ',')
            text++;
    }
    return 0;
}

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
        { "--latency-streams=", 1, BENCH_FAKE_SLOTS / 2,
          offsetof (options_t, latency_streams) },
        { "--connections=", 1, 1000000, offsetof (options_t, connections) },
        { "--repeat=", 1, 100, offsetof (options_t, repeat) },
    };
    bool quick = false;
    bool set[sizeof numbers / sizeof *numbers] = { false };
    for (int i = 1; i < argc; i++) {
        bool known = false;
        if (strncmp (argv[i], "--bin-dir=", 10) == 0) {
            env->bin_dir = argv[i] + 10;
            known = true;
        }
        else if (strcmp (argv[i], "--quick") == 0)
            quick = known = true;
        else if (strncmp (argv[i], "--phases=", 9) == 0)
            known = s_parse_phases (argv[i] + 9, opt->phases) == 0;
        else if (strcmp (argv[i], "--peer=nchan") == 0)
            opt->nchan = known = true;
        else if (strcmp (argv[i], "--pin") == 0)
            opt->pin = known = true;
        else if (strcmp (argv[i], "--peer=none") == 0) {
            opt->nchan = false;
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
            fprintf (
                stderr,
                "usage: %s [--bin-dir=DIR] [--phases=LIST] [--peer=nchan|none] "
                "[--streams=N] [--events=N] [--interval-ms=N] [--rate=N] "
                "[--seconds=N] [--latency-streams=N] [--connections=N] "
                "[--repeat=N] [--pin] [--quick]\n"
                "  --phases   any of bytes,latency,setup,fanout (default all)\n"
                "  --peer     compare with nginx + Nchan (default) or not\n"
                "  --pin      servers (broker, gateway, nginx) on CPU 0, the "
                "client on CPU 1;\n"
                "             one HTTP thread and one nginx worker unless "
                "AURA_BENCH_HTTP_THREADS says\n"
                "  --streams  streams of the large fan-out run; the small one "
                "has a tenth (default 10000)\n"
                "  --events   fan-out events (default 100)\n"
                "  --interval-ms  between fan-out events (default 100)\n"
                "  --rate     one latency rate in events/s (default 100, "
                "1000 and 10000)\n"
                "  --seconds  length of each latency run (default 10)\n"
                "  --latency-streams  jobs of the latency runs, one stream "
                "each (default 100)\n"
                "  --connections  streams opened one by one (default 1000)\n"
                "  --repeat   fan-out rounds (default 1)\n"
                "  --quick    a small smoke run (500 streams, 10 events, 2 s, "
                "100 connections)\n",
                argv[0]);
            return -1;
        }
    }
    if (quick) {
        if (!set[0])
            opt->streams = 500;
        if (!set[1])
            opt->events = 10;
        if (!set[4])
            opt->seconds = 2;
        if (!set[6])
            opt->connections = 100;
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

/*  The CPU model from /proc/cpuinfo, or "?". */
static void
s_cpu_model (char *model, size_t size)
{
    snprintf (model, size, "?");
    FILE *cpuinfo = fopen ("/proc/cpuinfo", "r");
    if (!cpuinfo)
        return;
    char line[256];
    while (fgets (line, sizeof line, cpuinfo))
        if (strncmp (line, "model name", 10) == 0 && strchr (line, ':')) {
            snprintf (model, size, "%s", strchr (line, ':') + 2);
            model[strcspn (model, "\n")] = '\0';
            break;
        }
    fclose (cpuinfo);
}

int
main (int argc, char **argv)
{
    bench_t b;
    memset (&b, 0, sizeof b);
    b.opt = (options_t){ .streams = 10000,
                         .events = 100,
                         .interval_ms = 100,
                         .seconds = 10,
                         .latency_streams = 100,
                         .connections = 1000,
                         .repeat = 1,
                         .nchan = true };
    for (int p = 0; p < PHASE_COUNT; p++)
        b.opt.phases[p] = true;
    b.env.bin_dir = "build/bin";
    if (s_parse_options (argc, argv, &b.env, &b.opt) < 0)
        return 2;
    setvbuf (stdout, NULL, _IOLBF, 0);
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    /* before any thread starts: they inherit the client's CPU */
    if (b.opt.pin) {
        int rc = cpus >= 2 ? bench_pin (0, 1) : -EINVAL;
        if (rc < 0) {
            fprintf (stderr, "bench: --pin needs CPUs 0 and 1: %s\n",
                     strerror (-rc));
            return 2;
        }
    }

    zsys_init ();
    zsys_handler_set (NULL);
    struct sigaction action = { .sa_handler = s_on_signal };
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGPIPE, SIG_IGN);

    double load_start = bench_load_average ();
    const char *threads_wanted = getenv ("AURA_BENCH_HTTP_THREADS");
    long threads = 0;
    if (threads_wanted && *threads_wanted
        && s_parse_long (threads_wanted, 0, 64, &threads) < 0) {
        fprintf (stderr, "bench: AURA_BENCH_HTTP_THREADS must be 0 to 64\n");
        return 2;
    }
    /* the gateway's default: one HTTP thread per core; pinned, the one
       core the servers have */
    b.http_threads = threads > 0 ? (int)threads : b.opt.pin ? 1 : (int)cpus;
    b.nchan = b.opt.nchan
              && (b.opt.phases[PHASE_SETUP] || b.opt.phases[PHASE_FANOUT]);
    if (b.nchan
        && nchan_server_probe (b.nginx_version, sizeof b.nginx_version) < 0) {
        s_progress ("nginx + Nchan rows skipped: %s", b.nginx_version);
        b.nchan = false;
    }

    /* the client holds every stream, and the gateway inherits the limit */
    struct rlimit files;
    if (getrlimit (RLIMIT_NOFILE, &files) == 0) {
        rlim_t before = files.rlim_cur;
        files.rlim_cur = files.rlim_max;
        if (before != files.rlim_max && setrlimit (RLIMIT_NOFILE, &files) == 0)
            s_progress ("open-files limit raised from %llu to the hard limit "
                        "%llu (the gateway inherits it)",
                        (unsigned long long)before,
                        (unsigned long long)files.rlim_cur);
        if (files.rlim_cur != RLIM_INFINITY
            && (rlim_t)(b.opt.streams + 64) > files.rlim_cur)
            s_progress ("warning: %ld streams need more descriptors than the "
                        "limit allows; some will fail",
                        b.opt.streams);
    }

    int exit_code = 1;
    char *tables = NULL;
    size_t tables_size = 0;
    b.out = open_memstream (&tables, &tables_size);
    b.jobs = calloc ((size_t)b.opt.latency_streams, sizeof *b.jobs);
    snprintf (b.env.dir, sizeof b.env.dir, "/tmp/aura-bench-sse-XXXXXX");
    if (!b.out || !b.jobs || !mkdtemp (b.env.dir)) {
        perror ("bench");
        return 1;
    }
    snprintf (b.env.frontend, sizeof b.env.frontend, "ipc://%s/frontend",
              b.env.dir);
    snprintf (b.env.jobs, sizeof b.env.jobs, "ipc://%s/jobs", b.env.dir);
    snprintf (b.env.events, sizeof b.env.events, "ipc://%s/events", b.env.dir);
    snprintf (b.env.publish, sizeof b.env.publish, "ipc://%s/publish",
              b.env.dir);
    snprintf (b.env.artifact_dir, sizeof b.env.artifact_dir, "%s/artifacts",
              b.env.dir);
    char data_dir[320], artifact_dir[340];
    snprintf (data_dir, sizeof data_dir, "AURA_DATA_DIR=%s/data", b.env.dir);
    snprintf (artifact_dir, sizeof artifact_dir, "AURA_ARTIFACT_DIR=%s",
              b.env.artifact_dir);
    const char *level = getenv ("AURA_BENCH_LOG_LEVEL");
    char broker_level[64], gateway_level[64];
    snprintf (broker_level, sizeof broker_level, "AURA_LOG_LEVEL=%s",
              level ? level : "warn");
    /* info at least: the gateway and the worker say they are ready at info */
    snprintf (gateway_level, sizeof gateway_level, "AURA_LOG_LEVEL=%s",
              level ? level : "info");
    b.log_level = gateway_level;

    /* a worker silent for the whole run keeps its jobs */
    const char *broker_env[] = { data_dir, artifact_dir, broker_level,
                                 "AURA_LEASE_MS=3600000", NULL };
    char http_threads[48];
    snprintf (http_threads, sizeof http_threads, "AURA_HTTP_THREADS=%ld",
              threads);
    const char *gateway_env[] = {
        artifact_dir,         gateway_level,
        http_threads,         "AURA_HTTP_ADDR=127.0.0.1:0",
        "AURA_MAX_STREAMS=0", "AURA_MAX_STREAMS_PER_IP=0",
        "AURA_RATE_LIMIT=0",  NULL
    };
    b.gateway_env = gateway_env;
    b.env.broker = s_spawn (&b.env, "aura-broker", broker_env);
    if (b.env.broker < 0 || s_gateway_start (&b) < 0)
        goto cleanup;
    s_progress ("gateway pid %d on 127.0.0.1:%d, broker pid %d",
                (int)b.env.gateway, b.env.port, (int)b.env.broker);

    /* the real worker first: afterwards the fake one is the only worker
       connected, so every dispatch reaches it */
    if (b.opt.phases[PHASE_BYTES] && s_phase_bytes (&b) < 0)
        goto cleanup;

    b.pull = zsock_new (ZMQ_PULL);
    b.push = zsock_new_push (b.env.events);
    if (!b.pull || !b.push)
        goto cleanup;
    zsock_set_rcvhwm (b.pull, 1);
    if (zsock_connect (b.pull, "%s", b.env.jobs) != 0
        || s_worker_heartbeat (b.push, BENCH_FAKE_SLOTS) != 0)
        goto cleanup;
    /* the latency runs' jobs; the first also serves the setup runs */
    b.job_count = b.opt.phases[PHASE_LATENCY] ? (size_t)b.opt.latency_streams
                  : b.opt.phases[PHASE_SETUP] ? 1
                                              : 0;
    for (size_t i = 0; i < b.job_count; i++)
        if (s_fake_job (&b, b.jobs[i]) < 0)
            goto cleanup;

    if (b.opt.phases[PHASE_LATENCY] && s_phase_latency (&b) < 0)
        goto cleanup;
    if (b.opt.phases[PHASE_SETUP] && s_phase_setup (&b) < 0)
        goto cleanup;
    if (b.opt.phases[PHASE_FANOUT] && s_phase_fanout (&b) < 0)
        goto cleanup;

    char cpu_model[128], nchan_skipped[320];
    s_cpu_model (cpu_model, sizeof cpu_model);
    snprintf (nchan_skipped, sizeof nchan_skipped,
              "nginx + Nchan not measured (%s)",
              !b.opt.nchan         ? "--peer=none"
              : b.nginx_version[0] ? b.nginx_version
                                   : "no phase that compares");
    fflush (b.out);
    printf ("SSE benchmark on %ld CPUs (%s), load average %.2f at the start "
            "and %.2f at the end; libmicrohttpd %s (the gateway: %d HTTP "
            "thread%s, %s); %s.\n",
            cpus, cpu_model, load_start, bench_load_average (), BENCH_MHD_VERSION,
            b.http_threads, b.http_threads == 1 ? "" : "s",
            threads      ? "AURA_BENCH_HTTP_THREADS"
            : b.opt.pin  ? "one for the one core of --pin"
                         : "one per core, its default",
            b.nchan ? b.nginx_version : nchan_skipped);
    if (b.opt.pin)
        printf ("--pin: the servers (broker, gateway, worker, nginx) run on "
                "CPU 0 only, the client and its event sender on CPU 1.\n");
    if (b.nchan)
        printf ("nginx + Nchan: %d worker process%s, as many as the "
                "gateway's HTTP threads.\n",
                b.http_threads, b.http_threads == 1 ? "" : "es");
    fwrite (tables, 1, tables_size, stdout);
    exit_code = 0;

cleanup:
    if (s_interrupted)
        fprintf (stderr, "bench: interrupted\n");
    nchan_server_destroy (&b.nginx);
    s_stop (&b.env.worker);
    s_stop (&b.env.gateway);
    s_stop (&b.env.broker);
    zsock_destroy (&b.push);
    zsock_destroy (&b.pull);
    if (b.out)
        fclose (b.out);
    free (tables);
    free (b.jobs);
    if (nftw (b.env.dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf (stderr, "bench: could not remove %s\n", b.env.dir);
    return exit_code;
}
