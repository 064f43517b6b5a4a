/*  hostile — the gateway under clients that misbehave on purpose, while a
    well-behaved client asks GET /healthz every 20 ms and times each answer.
    Starts its own broker and gateway (ipc:// endpoints in a temporary
    directory, the gateway on a free loopback port) with small limits, so
    that every attack meets one, and kills both at the end whatever happened.

    Each attacker connects from an address of its own in 127.0.0.0/8, so
    that the gateway's per-address limits see them apart from each other
    and from the measuring client on 127.0.0.1.

    Usage: hostile_gateway BIN_DIR   (where aura-broker and aura-gateway are)
    Exits 0 when every answer was the expected one and the measuring
    client's p99 stayed within budget; prints what it measured either way. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../utf8_valid.h"

extern char **environ;

/* ------------------------------------------------------------------ */
/*  The gateway's settings for the run                                 */

#define S_REQUEST_TIMEOUT_S 2
#define S_STREAMS_PER_IP 16
/*  What the gateway lets one address hold: its streams and 32 more
    connections (server.c). */
#define S_CONNECTIONS_PER_IP (S_STREAMS_PER_IP + 32)
#define S_MAX_STREAMS 200
#define S_RATE_LIMIT 20
#define S_RATE_BURST 60
#define S_BROKER_TIMEOUT_MS 500
#define S_SSE_MAX_BACKLOG 4096
#define S_KEEPALIVE_S 1

/*  What the measuring client may wait for GET /healthz. */
#define S_HEALTHZ_BUDGET_MS 100.0
/*  Added to every deadline the gateway keeps: the machine that runs the
    tests is shared and may be loaded. */
#define S_MARGIN_MS 1500
#define S_PROBE_INTERVAL_MS 20
#define S_MAX_PROBES 20000

/*  A job id no job has. */
#define S_JOB_ID "01ARZ3NDEKTSV4RRFFQ69G5FAV"

/* ------------------------------------------------------------------ */
/*  Results                                                            */

static int s_failures;
static pthread_mutex_t s_print_lock = PTHREAD_MUTEX_INITIALIZER;

static void s_cleanup (void);

static void s_print (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

static void
s_print (const char *format, ...)
{
    pthread_mutex_lock (&s_print_lock);
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    fflush (stdout);
    pthread_mutex_unlock (&s_print_lock);
}

/*  Records the outcome of one check: a failure is counted, and the run
    goes on so that one report names every problem. */
static bool s_expect (bool ok, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static bool
s_expect (bool ok, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    s_print ("  %s %s\n", ok ? "ok  " : "FAIL", text);
    if (!ok)
        __atomic_add_fetch (&s_failures, 1, __ATOMIC_SEQ_CST);
    return ok;
}

/*  A failure the run cannot go on after: cleans up and exits. */
static _Noreturn void s_abort (const char *format, ...)
    __attribute__ ((format (printf, 1, 2)));

static _Noreturn void
s_abort (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "hostile: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    s_cleanup ();
    exit (1);
}

static double
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

static void
s_sleep_ms (int ms)
{
    struct timespec wait = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep (&wait, &wait) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ */
/*  The broker and the gateway                                         */

typedef struct {
    const char *name;
    const char *program;
    pid_t pid;
    char log_path[PATH_MAX + 64];
    off_t log_start; /* where this run of the program starts logging */
} s_child_t;

static char s_bin_dir[PATH_MAX];
static char s_dir[PATH_MAX] = "";
static char *s_env[512];
static s_child_t s_broker = { "broker", "aura-broker", 0, "", 0 };
static s_child_t s_gateway = { "gateway", "aura-gateway", 0, "", 0 };
static int s_port;

/*  Adds NAME=value to the children's environment. */
static void
s_env_set (size_t *count, const char *name, const char *value)
{
    size_t len = strlen (name) + strlen (value) + 2;
    char *entry = malloc (len);
    if (!entry || *count + 1 >= sizeof s_env / sizeof *s_env)
        s_abort ("cannot build the environment");
    snprintf (entry, len, "%s=%s", name, value);
    s_env[(*count)++] = entry;
    s_env[*count] = NULL;
}

static void
s_env_build (void)
{
    size_t count = 0;
    s_env[0] = NULL;
    for (char **e = environ; *e && count + 32 < sizeof s_env / sizeof *s_env;
         e++)
        if (strncmp (*e, "AURA_", 5) != 0)
            s_env[count++] = *e;
    s_env[count] = NULL;
    char value[PATH_MAX + 32];
    const char *endpoints[][2] = { { "AURA_BROKER_FRONTEND", "frontend" },
                                   { "AURA_BROKER_JOBS", "jobs" },
                                   { "AURA_BROKER_EVENTS", "events" },
                                   { "AURA_BROKER_PUBLISH", "publish" } };
    for (size_t i = 0; i < sizeof endpoints / sizeof *endpoints; i++) {
        snprintf (value, sizeof value, "ipc://%s/%s", s_dir, endpoints[i][1]);
        s_env_set (&count, endpoints[i][0], value);
    }
    snprintf (value, sizeof value, "%s/data", s_dir);
    s_env_set (&count, "AURA_DATA_DIR", value);
    snprintf (value, sizeof value, "%s/artifacts", s_dir);
    s_env_set (&count, "AURA_ARTIFACT_DIR", value);
    snprintf (value, sizeof value, "%s/web", s_dir);
    s_env_set (&count, "AURA_WEB_DIR", value);
    s_env_set (&count, "AURA_HTTP_ADDR", "127.0.0.1:0");
    s_env_set (&count, "AURA_LOG_LEVEL", "info");
#define S_ENV_INT(name, number)                                                \
    do {                                                                       \
        snprintf (value, sizeof value, "%d", (number));                        \
        s_env_set (&count, (name), value);                                     \
    } while (0)
    S_ENV_INT ("AURA_REQUEST_TIMEOUT_S", S_REQUEST_TIMEOUT_S);
    S_ENV_INT ("AURA_MAX_STREAMS_PER_IP", S_STREAMS_PER_IP);
    S_ENV_INT ("AURA_MAX_STREAMS", S_MAX_STREAMS);
    S_ENV_INT ("AURA_RATE_LIMIT", S_RATE_LIMIT);
    S_ENV_INT ("AURA_RATE_BURST", S_RATE_BURST);
    S_ENV_INT ("AURA_BROKER_TIMEOUT_MS", S_BROKER_TIMEOUT_MS);
    S_ENV_INT ("AURA_SSE_MAX_BACKLOG", S_SSE_MAX_BACKLOG);
    S_ENV_INT ("AURA_KEEPALIVE_S", S_KEEPALIVE_S);
#undef S_ENV_INT
}

/*  Starts child->program in a process group of its own, its stderr
    appended to its log file; the child dies with this process. */
static void
s_spawn (s_child_t *child)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s", s_bin_dir, child->program);
    if (!child->log_path[0]) {
        int n = snprintf (child->log_path, sizeof child->log_path, "%s/%s.log",
                          s_dir, child->name);
        if (n < 0 || (size_t)n >= sizeof child->log_path)
            s_abort ("the temporary directory's path is too long");
    }
    int log_fd =
        open (child->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0)
        s_abort ("cannot open %s: %s", child->log_path, strerror (errno));
    struct stat st;
    child->log_start = fstat (log_fd, &st) == 0 ? st.st_size : 0;
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0)
        s_abort ("cannot fork: %s", strerror (errno));
    if (pid == 0) {
        setsid ();
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        int null_fd = open ("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2 (null_fd, STDIN_FILENO);
            dup2 (null_fd, STDOUT_FILENO);
        }
        dup2 (log_fd, STDERR_FILENO);
        char *argv[] = { path, NULL };
        execve (path, argv, s_env);
        _exit (127);
    }
    close (log_fd);
    child->pid = pid;
}

/*  Kills the child's process group and reaps it. */
static void
s_stop (s_child_t *child, int sig)
{
    if (child->pid <= 0)
        return;
    kill (-child->pid, sig);
    double deadline = s_now_ms () + 5000;
    while (waitpid (child->pid, NULL, WNOHANG) == 0) {
        if (s_now_ms () > deadline) {
            kill (-child->pid, SIGKILL);
            waitpid (child->pid, NULL, 0);
            break;
        }
        s_sleep_ms (20);
    }
    child->pid = 0;
}

/*  Waits for a line of the child's log (since it started) that contains
    needle, and copies it into line. Returns false on timeout or exit. */
static bool
s_wait_log (s_child_t *child, const char *needle, int timeout_ms, char *line,
            size_t line_size)
{
    double deadline = s_now_ms () + timeout_ms;
    while (s_now_ms () < deadline) {
        FILE *file = fopen (child->log_path, "r");
        if (file && fseeko (file, child->log_start, SEEK_SET) == 0) {
            char buf[4096];
            while (fgets (buf, sizeof buf, file)) {
                if (strstr (buf, needle)) {
                    size_t len = strnlen (buf, line_size - 1);
                    memcpy (line, buf, len);
                    line[len] = '\0';
                    fclose (file);
                    return true;
                }
            }
        }
        if (file)
            fclose (file);
        if (waitpid (child->pid, NULL, WNOHANG) == child->pid) {
            child->pid = 0;
            return false;
        }
        s_sleep_ms (20);
    }
    return false;
}

/*  Lines of the child's log (all its runs) that contain needle. */
static int
s_count_log (const s_child_t *child, const char *needle)
{
    FILE *file = fopen (child->log_path, "r");
    if (!file)
        return -1;
    int count = 0;
    char buf[4096];
    while (fgets (buf, sizeof buf, file))
        count += strstr (buf, needle) != NULL;
    fclose (file);
    return count;
}

/*  Prints the last lines of a log, to say why something failed. */
static void
s_print_log_tail (const s_child_t *child)
{
    FILE *file = fopen (child->log_path, "r");
    if (!file)
        return;
    char lines[20][512];
    size_t count = 0;
    char buf[512];
    while (fgets (buf, sizeof buf, file))
        snprintf (lines[count++ % 20], sizeof lines[0], "%s", buf);
    fclose (file);
    fprintf (stderr, "--- last lines of %s ---\n", child->log_path);
    for (size_t i = count > 20 ? count - 20 : 0; i < count; i++)
        fprintf (stderr, "%s", lines[i % 20]);
}

static void
s_remove_tree (const char *path)
{
    if (!path[0])
        return;
    pid_t pid = fork ();
    if (pid == 0) {
        execlp ("rm", "rm", "-rf", path, (char *)NULL);
        _exit (127);
    }
    if (pid > 0)
        waitpid (pid, NULL, 0);
}

static void
s_cleanup (void)
{
    s_stop (&s_gateway, SIGTERM);
    s_stop (&s_broker, SIGTERM);
    if (s_failures > 0) {
        s_print_log_tail (&s_broker);
        s_print_log_tail (&s_gateway);
    }
    s_remove_tree (s_dir);
    s_dir[0] = '\0';
}

/* ------------------------------------------------------------------ */
/*  HTTP                                                               */

/*  Connects to the gateway from source (an address of 127.0.0.0/8).
    With small_window, the connection looks like one from across the
    internet rather than loopback: a receive buffer of 2 KiB and segments
    of 536 bytes, so that the gateway's kernel buffers only a little of
    what it sends (on loopback it would take megabytes before the gateway
    itself holds anything). Returns a blocking socket, or -1. */
static int
s_connect (const char *source, bool small_window)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (small_window) {
        int rcvbuf = 2048, mss = 536;
        setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        setsockopt (fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    }
    struct sockaddr_in addr = { .sin_family = AF_INET };
    if (source) {
        inet_pton (AF_INET, source, &addr.sin_addr);
        if (bind (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
            close (fd);
            return -1;
        }
    }
    addr.sin_port = htons ((uint16_t)s_port);
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

/*  Sends everything, or returns -errno (a closed connection included). */
static int
s_send_all (int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*  One answer as read off the wire. */
typedef struct {
    int status;     /* 0 when none came */
    bool closed;    /* the connection ended before a whole answer */
    bool timed_out; /* nothing came before the deadline */
    char allow[128];
    char content_type[128];
    char retry_after[32];
    bool chunked; /* a stream: the body is left unread */
    char *body;   /* NUL-terminated, owned */
    size_t body_len;
} s_response_t;

static void
s_response_free (s_response_t *response)
{
    free (response->body);
    memset (response, 0, sizeof *response);
}

/*  A buffered reader over one connection, for answers that follow each
    other (pipelining). */
typedef struct {
    int fd;
    char buf[256 * 1024];
    size_t len;
} s_reader_t;

/*  Reads more into the reader until deadline. Returns bytes read, 0 at
    the end of the connection, -ETIMEDOUT, or -errno. */
static ssize_t
s_reader_fill (s_reader_t *reader, double deadline)
{
    if (reader->len == sizeof reader->buf)
        return -ENOBUFS;
    for (;;) {
        int wait_ms = (int)(deadline - s_now_ms ());
        if (wait_ms <= 0)
            return -ETIMEDOUT;
        struct pollfd p = { reader->fd, POLLIN, 0 };
        int ready = poll (&p, 1, wait_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return ready == 0 ? -ETIMEDOUT : -errno;
        ssize_t n = recv (reader->fd, reader->buf + reader->len,
                          sizeof reader->buf - reader->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        reader->len += (size_t)n;
        return n;
    }
}

static void
s_header_value (const char *line, size_t line_len, size_t name_len, char *out,
                size_t out_size)
{
    const char *value = line + name_len;
    size_t len = line_len - name_len;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\r'))
        len--;
    snprintf (out, out_size, "%.*s", (int)len, value);
}

/*  The blank line that ends the head of an answer in buf[0..len), or
    NULL while it has not come. */
static char *
s_find_head_end (char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (buf[i] == '\r' && memcmp (buf + i, "\r\n\r\n", 4) == 0)
            return buf + i;
    return NULL;
}

/*  Reads one answer (a HEAD answer has no body). A chunked answer is an
    event stream here: its body is left unread. Returns 0 with response
    filled, or -1 with response->closed or ->timed_out set. */
static int
s_reader_response (s_reader_t *reader, bool head, double deadline,
                   s_response_t *response)
{
    memset (response, 0, sizeof *response);
    char *end;
    for (;;) {
        end = s_find_head_end (reader->buf, reader->len);
        if (end)
            break;
        ssize_t n = s_reader_fill (reader, deadline);
        if (n == -ETIMEDOUT) {
            response->timed_out = true;
            return -1;
        }
        if (n <= 0) {
            response->closed = true;
            return -1;
        }
    }
    size_t head_len = (size_t)(end - reader->buf) + 4;
    if (head_len < 12 || strncmp (reader->buf, "HTTP/1.", 7) != 0) {
        response->closed = true;
        return -1;
    }
    response->status = (int)strtol (reader->buf + 9, NULL, 10);
    long long content_length = 0;
    for (char *line = (char *)memchr (reader->buf, '\n', head_len) + 1;
         line < reader->buf + head_len - 2;) {
        char *eol =
            memchr (line, '\n', (size_t)(reader->buf + head_len - line));
        size_t line_len = (size_t)(eol - line);
        if (strncasecmp (line, "Content-Length:", 15) == 0) {
            char number[32];
            s_header_value (line, line_len, 15, number, sizeof number);
            content_length = strtoll (number, NULL, 10);
        }
        else if (strncasecmp (line, "Retry-After:", 12) == 0)
            s_header_value (line, line_len, 12, response->retry_after,
                            sizeof response->retry_after);
        else if (strncasecmp (line, "Allow:", 6) == 0)
            s_header_value (line, line_len, 6, response->allow,
                            sizeof response->allow);
        else if (strncasecmp (line, "Content-Type:", 13) == 0)
            s_header_value (line, line_len, 13, response->content_type,
                            sizeof response->content_type);
        else if (strncasecmp (line, "Transfer-Encoding:", 18) == 0)
            response->chunked = true;
        line = eol + 1;
    }
    memmove (reader->buf, reader->buf + head_len, reader->len - head_len);
    reader->len -= head_len;
    if (head || response->chunked || content_length <= 0) {
        response->body = calloc (1, 1);
        return 0;
    }
    if ((size_t)content_length > sizeof reader->buf) {
        response->closed = true;
        return -1;
    }
    while (reader->len < (size_t)content_length) {
        ssize_t n = s_reader_fill (reader, deadline);
        if (n <= 0) {
            response->timed_out = n == -ETIMEDOUT;
            response->closed = n != -ETIMEDOUT;
            return -1;
        }
    }
    response->body = malloc ((size_t)content_length + 1);
    if (!response->body)
        s_abort ("out of memory");
    memcpy (response->body, reader->buf, (size_t)content_length);
    response->body[content_length] = '\0';
    response->body_len = (size_t)content_length;
    memmove (reader->buf, reader->buf + content_length,
             reader->len - (size_t)content_length);
    reader->len -= (size_t)content_length;
    return 0;
}

/*  Sends request (all of it, while reading: a server may answer and
    close before the request is complete) and reads the answer. Returns
    how long the answer took in ms, from the first byte sent. */
static double
s_exchange (int fd, const char *request, size_t request_len, bool head,
            int timeout_ms, s_response_t *response)
{
    double started = s_now_ms ();
    double deadline = started + timeout_ms;
    int flags = fcntl (fd, F_GETFL);
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
    size_t sent = 0;
    bool readable = false;
    while (sent < request_len && !readable) {
        int wait_ms = (int)(deadline - s_now_ms ());
        if (wait_ms <= 0)
            break;
        struct pollfd p = { fd, POLLIN | POLLOUT, 0 };
        if (poll (&p, 1, wait_ms) <= 0)
            continue;
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            readable = true;
        else if (p.revents & POLLOUT) {
            ssize_t n =
                send (fd, request + sent, request_len - sent, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                break;
            if (n > 0)
                sent += (size_t)n;
        }
    }
    fcntl (fd, F_SETFL, flags);
    s_reader_t *reader = malloc (sizeof *reader);
    if (!reader)
        s_abort ("out of memory");
    reader->fd = fd;
    reader->len = 0;
    s_reader_response (reader, head, deadline, response);
    free (reader);
    return s_now_ms () - started;
}

/*  One request on a connection of its own from source: method, path,
    extra header lines (each ending in \r\n) and a body. Returns how long
    the answer took in ms. */
static double
s_request (const char *source, const char *method, const char *path,
           const char *headers, const char *body, size_t body_len,
           int timeout_ms, s_response_t *response)
{
    memset (response, 0, sizeof *response);
    int fd = s_connect (source, false);
    if (fd < 0) {
        response->closed = true;
        return 0;
    }
    bool with_length =
        (body_len > 0 || strcmp (method, "POST") == 0
         || strcmp (method, "PUT") == 0 || strcmp (method, "PATCH") == 0)
        && !(headers && strstr (headers, "Content-Length:"));
    size_t head_size = strlen (method) + strlen (path)
                       + (headers ? strlen (headers) : 0) + 256;
    size_t total = head_size + body_len;
    char *request = malloc (total);
    if (!request)
        s_abort ("out of memory");
    int n = snprintf (
        request, head_size,
        "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method,
        path, headers ? headers : "");
    size_t len = (size_t)n;
    if (with_length)
        len += (size_t)snprintf (request + len, head_size - len,
                                 "Content-Length: %zu\r\n", body_len);
    len += (size_t)snprintf (request + len, head_size - len, "\r\n");
    if (body_len > 0)
        memcpy (request + len, body, body_len);
    len += body_len;
    double took = s_exchange (fd, request, len, strcmp (method, "HEAD") == 0,
                              timeout_ms, response);
    free (request);
    close (fd);
    return took;
}

/*  Waits until the server closes fd (or sends something); returns the
    time waited in ms, or -1 when it is still open at the deadline. */
static double
s_wait_closed (int fd, int timeout_ms)
{
    double started = s_now_ms ();
    for (;;) {
        int wait_ms = (int)(started + timeout_ms - s_now_ms ());
        if (wait_ms <= 0)
            return -1;
        struct pollfd p = { fd, POLLIN, 0 };
        int ready = poll (&p, 1, wait_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        char buf[4096];
        ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
            return s_now_ms () - started;
    }
}

/*  The value of an unlabelled or exactly labelled sample in a /metrics
    text, or -1 when it is not there. */
static double
s_metric (const char *text, const char *sample)
{
    size_t len = strlen (sample);
    for (const char *line = text; line && *line;) {
        if (strncmp (line, sample, len) == 0 && line[len] == ' ')
            return strtod (line + len + 1, NULL);
        line = strchr (line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -1;
}

/*  GET /metrics from the observer's address; returns the body (owned)
    or NULL. */
static char *
s_metrics (void)
{
    s_response_t response;
    s_request ("127.0.0.250", "GET", "/metrics", NULL, NULL, 0, 5000,
               &response);
    if (response.status != 200) {
        s_response_free (&response);
        return NULL;
    }
    char *body = response.body;
    response.body = NULL;
    s_response_free (&response);
    return body;
}

/*  The gateway's resident memory in KiB, from /proc. */
static long
s_gateway_rss_kib (void)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/status", (int)s_gateway.pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtol (line + 6, NULL, 10);
    fclose (file);
    return kib;
}

/* ------------------------------------------------------------------ */
/*  The measuring client                                               */

static atomic_bool s_probe_stop;
static double s_probe_ms[S_MAX_PROBES];
static size_t s_probe_count;
static size_t s_probe_failures;
static int s_probe_worst_status;

/*  GET /healthz on a fresh connection from 127.0.0.1 every 20 ms, as a
    monitoring system would; each answer is timed from connect to its
    last byte. */
static void *
s_probe_main (void *arg)
{
    (void)arg;
    const char request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Connection: close\r\n\r\n";
    while (!atomic_load (&s_probe_stop) && s_probe_count < S_MAX_PROBES) {
        double started = s_now_ms ();
        s_response_t response;
        int fd = s_connect ("127.0.0.1", false);
        bool ok = false;
        if (fd >= 0) {
            s_exchange (fd, request, sizeof request - 1, false, 5000,
                        &response);
            ok = response.status == 200;
            if (!ok)
                s_probe_worst_status = response.status;
            s_response_free (&response);
            close (fd);
        }
        double took = s_now_ms () - started;
        if (ok)
            s_probe_ms[s_probe_count++] = took;
        else
            s_probe_failures++;
        int rest = S_PROBE_INTERVAL_MS - (int)took;
        if (rest > 0)
            s_sleep_ms (rest);
    }
    return NULL;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/*  Slow loris                                                         */

#define S_LORIS_ADDRESSES 4
#define S_LORIS_PER_ADDRESS 60

static atomic_bool s_loris_stop;
static int s_loris_held[S_LORIS_ADDRESSES];    /* still open at the end */
static int s_loris_refused[S_LORIS_ADDRESSES]; /* closed by the gateway */
static int s_loris_answered;                   /* got an HTTP answer */

/*  Many connections from each of a few addresses, each sending one more
    header byte every second: enough to never be idle for
    AURA_REQUEST_TIMEOUT_S. The gateway must hold no more of them per
    address than its cap, and keep answering everyone else. */
static void *
s_loris_main (void *arg)
{
    (void)arg;
    static int fds[S_LORIS_ADDRESSES][S_LORIS_PER_ADDRESS];
    const char start[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    for (int a = 0; a < S_LORIS_ADDRESSES; a++) {
        char source[32];
        snprintf (source, sizeof source, "127.0.0.%d", 20 + a);
        for (int i = 0; i < S_LORIS_PER_ADDRESS; i++) {
            fds[a][i] = s_connect (source, false);
            if (fds[a][i] >= 0
                && s_send_all (fds[a][i], start, sizeof start - 1) < 0) {
                close (fds[a][i]);
                fds[a][i] = -1;
            }
            if (fds[a][i] < 0)
                s_loris_refused[a]++;
        }
    }
    while (!atomic_load (&s_loris_stop)) {
        s_sleep_ms (1000);
        for (int a = 0; a < S_LORIS_ADDRESSES; a++)
            for (int i = 0; i < S_LORIS_PER_ADDRESS; i++) {
                int fd = fds[a][i];
                if (fd < 0)
                    continue;
                char buf[512];
                ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
                bool gone =
                    n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
                if (n > 0)
                    __atomic_add_fetch (&s_loris_answered, 1, __ATOMIC_SEQ_CST);
                if (!gone && n <= 0
                    && send (fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0
                    && errno != EAGAIN)
                    gone = true;
                if (gone || n > 0) {
                    close (fd);
                    fds[a][i] = -1;
                    s_loris_refused[a]++;
                }
            }
    }
    for (int a = 0; a < S_LORIS_ADDRESSES; a++) {
        s_loris_held[a] = 0;
        for (int i = 0; i < S_LORIS_PER_ADDRESS; i++)
            if (fds[a][i] >= 0) {
                s_loris_held[a]++;
                close (fds[a][i]);
            }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/*  The attacks                                                        */

/*  Connections that stop in the middle of their headers, and a body that
    never ends: closed once silent for AURA_REQUEST_TIMEOUT_S. A body
    announced too large is refused at once. */
static void
s_attack_stalls (void)
{
    s_print ("\nstalled requests (AURA_REQUEST_TIMEOUT_S=%d)\n",
             S_REQUEST_TIMEOUT_S);
    int limit_ms = S_REQUEST_TIMEOUT_S * 1000 + S_MARGIN_MS;

    int headers_fd[8];
    for (int i = 0; i < 8; i++) {
        headers_fd[i] = s_connect ("127.0.0.2", false);
        if (headers_fd[i] >= 0)
            s_send_all (headers_fd[i], "GET /healthz HTTP/1.1\r\nHo", 25);
    }
    double worst = 0;
    int open_after = 0;
    for (int i = 0; i < 8; i++) {
        double waited = headers_fd[i] >= 0
                            ? s_wait_closed (headers_fd[i], limit_ms + 2000)
                            : 0;
        if (waited < 0)
            open_after++;
        else if (waited > worst)
            worst = waited;
        if (headers_fd[i] >= 0)
            close (headers_fd[i]);
    }
    s_expect (open_after == 0 && worst <= limit_ms,
              "8 connections silent inside their headers: closed after at most "
              "%.0f ms (limit %d ms), %d still open",
              worst, limit_ms, open_after);

    int fd = s_connect ("127.0.0.2", false);
    const char body_head[] = "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 60000\r\n\r\n{\"brief\":{";
    double started = s_now_ms ();
    if (fd >= 0)
        s_send_all (fd, body_head, sizeof body_head - 1);
    double waited = fd >= 0 ? s_wait_closed (fd, limit_ms + 2000) : -1;
    if (fd >= 0)
        close (fd);
    s_expect (waited >= 0 && waited <= limit_ms,
              "Content-Length 60000, 10 bytes sent, then silence: closed after "
              "%.0f ms (limit %d ms)",
              waited >= 0 ? waited : s_now_ms () - started, limit_ms);

    s_response_t response;
    double took = s_request ("127.0.0.2", "POST", "/api/jobs",
                             "Content-Type: application/json\r\n"
                             "Content-Length: 2000000\r\n",
                             NULL, 0, 5000, &response);
    /* the request above carries its own Content-Length: no body follows */
    s_expect (
        response.status == 413 && took <= S_MARGIN_MS,
        "Content-Length 2000000 announced: %d in %.0f ms (want 413 at once)",
        response.status, took);
    s_response_free (&response);

    size_t big_len = 70000;
    char *big = malloc (big_len);
    if (!big)
        s_abort ("out of memory");
    memset (big, ' ', big_len);
    big[0] = '{';
    big[big_len - 1] = '}';
    took = s_request ("127.0.0.2", "POST", "/api/jobs",
                      "Content-Type: application/json\r\n", big, big_len, 5000,
                      &response);
    s_expect (response.status == 413,
              "a body of 70000 bytes sent: %d in %.0f ms (want 413)",
              response.status, took);
    s_response_free (&response);
    free (big);
}

/*  10,000 requests written back to back on one connection, read as they
    come. */
typedef struct {
    int fd;
    int count;
    int sent;
} s_pipeline_t;

static void *
s_pipeline_writer (void *arg)
{
    s_pipeline_t *p = arg;
    const char one[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char batch[sizeof one * 100];
    for (int i = 0; i < 100; i++)
        memcpy (batch + i * (sizeof one - 1), one, sizeof one - 1);
    for (p->sent = 0; p->sent < p->count; p->sent += 100)
        if (s_send_all (p->fd, batch, 100 * (sizeof one - 1)) < 0)
            break;
    return NULL;
}

static void
s_attack_pipelining (void)
{
    s_print ("\n10,000 pipelined GET /healthz on one connection\n");
    s_pipeline_t p = { s_connect ("127.0.0.3", false), 10000, 0 };
    if (!s_expect (p.fd >= 0, "connected"))
        return;
    pthread_t writer;
    double started = s_now_ms ();
    pthread_create (&writer, NULL, s_pipeline_writer, &p);
    s_reader_t *reader = malloc (sizeof *reader);
    if (!reader)
        s_abort ("out of memory");
    reader->fd = p.fd;
    reader->len = 0;
    int answered = 0, other = 0;
    double deadline = started + 120000;
    while (answered + other < p.count) {
        s_response_t response;
        if (s_reader_response (reader, false, deadline, &response) < 0)
            break;
        if (response.status == 200)
            answered++;
        else
            other++;
        s_response_free (&response);
    }
    double took = s_now_ms () - started;
    shutdown (p.fd, SHUT_RDWR);
    pthread_join (writer, NULL);
    close (p.fd);
    free (reader);
    s_expect (
        answered == p.count && other == 0,
        "%d answered 200, %d otherwise, of %d, in %.0f ms (%.0f requests/s)",
        answered, other, p.count, took, answered / (took / 1000.0));
}

/*  Too many headers, a header too large, a path too long: 431 (or 414)
    or the connection closed, never a hang. */
static void
s_attack_header_floods (void)
{
    s_print ("\nheader floods\n");
    size_t size = 200 * 1024;
    char *headers = malloc (size);
    if (!headers)
        s_abort ("out of memory");
    s_response_t response;

    size_t len = 0;
    for (int i = 0; i < 500; i++)
        len += (size_t)snprintf (headers + len, size - len,
                                 "X-Flood-%03d: v\r\n", i);
    double took = s_request ("127.0.0.4", "GET", "/healthz", headers, NULL, 0,
                             5000, &response);
    s_expect (response.status == 431
                  || (response.status == 0 && response.closed),
              "500 headers (%zu bytes): %s%d in %.0f ms (want 431 or a close)",
              len, response.closed ? "closed, " : "", response.status, took);
    s_response_free (&response);

    len = (size_t)snprintf (headers, size, "X-Big: ");
    memset (headers + len, 'a', 100 * 1024);
    len += 100 * 1024;
    snprintf (headers + len, size - len, "\r\n");
    took = s_request ("127.0.0.4", "GET", "/healthz", headers, NULL, 0, 5000,
                      &response);
    s_expect (response.status == 431
                  || (response.status == 0 && response.closed),
              "one header of 100 KiB: %s%d in %.0f ms (want 431 or a close)",
              response.closed ? "closed, " : "", response.status, took);
    s_response_free (&response);

    char *path = malloc (100 * 1024 + 2);
    if (!path)
        s_abort ("out of memory");
    path[0] = '/';
    memset (path + 1, 'p', 100 * 1024);
    path[100 * 1024 + 1] = '\0';
    took = s_request ("127.0.0.4", "GET", path, NULL, NULL, 0, 5000, &response);
    s_expect (response.status == 414 || response.status == 431
                  || (response.status == 0 && response.closed),
              "a path of 100 KiB: %s%d in %.0f ms (want 414, 431 or a close)",
              response.closed ? "closed, " : "", response.status, took);
    s_response_free (&response);
    free (path);

    /* what a browser sends still fits */
    len = 0;
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf (headers + len, size - len,
                                 "X-Normal-%02d: %s\r\n", i,
                                 "a value of ordinary length");
    took = s_request ("127.0.0.4", "GET", "/healthz", headers, NULL, 0, 5000,
                      &response);
    s_expect (response.status == 200,
              "20 ordinary headers (%zu bytes): %d in %.0f ms", len,
              response.status, took);
    s_response_free (&response);
    free (headers);
}

static void
s_attack_last_event_id (void)
{
    s_print ("\nLast-Event-ID\n");
    size_t digits = 1024 * 1024;
    size_t size = digits + 64;
    char *header = malloc (size);
    if (!header)
        s_abort ("out of memory");
    size_t len = (size_t)snprintf (header, size, "Last-Event-ID: ");
    memset (header + len, '9', digits);
    len += digits;
    snprintf (header + len, size - len, "\r\n");
    s_response_t response;
    double took =
        s_request ("127.0.0.5", "GET", "/api/jobs/" S_JOB_ID "/events", header,
                   NULL, 0, 10000, &response);
    s_expect (response.status == 400 || response.status == 431,
              "1 MiB of digits: %s%d in %.0f ms (want 400 or 431)",
              response.closed ? "closed, " : "", response.status, took);
    s_response_free (&response);

    took = s_request ("127.0.0.5", "GET", "/api/jobs/" S_JOB_ID "/events",
                      "Last-Event-ID: 99999999999999999999999999\r\n", NULL, 0,
                      5000, &response);
    s_expect (response.status == 400,
              "26 digits, past 2^63: %d in %.0f ms (want 400)", response.status,
              took);
    s_response_free (&response);

    took = s_request ("127.0.0.5", "GET", "/api/jobs/" S_JOB_ID "/events",
                      "Last-Event-ID: -1\r\n", NULL, 0, 5000, &response);
    s_expect (response.status == 400, "-1: %d in %.0f ms (want 400)",
              response.status, took);
    s_response_free (&response);

    took = s_request ("127.0.0.5", "GET",
                      "/api/jobs/" S_JOB_ID "/events?lastEventId=12x", NULL,
                      NULL, 0, 5000, &response);
    s_expect (response.status == 400,
              "?lastEventId=12x: %d in %.0f ms (want 400)", response.status,
              took);
    s_response_free (&response);
    free (header);
}

/*  A problem answer: the status it says, JSON that is valid UTF-8. */
static bool
s_is_problem (const s_response_t *response, int status)
{
    char expected[32];
    snprintf (expected, sizeof expected, "\"status\":%d", status);
    return response->status == status
           && strncmp (response->content_type, "application/problem+json", 24)
                  == 0
           && response->body
           && utf8_valid (response->body, response->body_len)
           && strstr (response->body, expected) != NULL;
}

static void
s_attack_bodies (void)
{
    s_print ("\nhostile JSON bodies (POST /api/jobs)\n");
    static const struct {
        const char *what;
        const char *body;
    } invalid[] = {
        { "invalid UTF-8 in a value", "{\"brief\":{\"topic\":\"\xff\xfe\"}}" },
        { "invalid UTF-8 in a key", "{\"brief\":{\"top\xc3ic\":\"x\"}}" },
        { "an overlong '/'", "{\"brief\":{\"topic\":\"\xc0\xaf\"}}" },
        { "a raw UTF-16 surrogate",
          "{\"brief\":{\"topic\":\"\xed\xa0\x80\"}}" },
        { "an escaped lone surrogate", "{\"brief\":{\"topic\":\"\\ud800\"}}" },
        { "a NUL escape", "{\"brief\":{\"topic\":\"a\\u0000b\"}}" },
        { "a truncated character", "{\"brief\":{\"topic\":\"\xe2\x82\"}}" },
    };
    s_response_t response;
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        double took =
            s_request ("127.0.0.6", "POST", "/api/jobs",
                       "Content-Type: application/json\r\n", invalid[i].body,
                       strlen (invalid[i].body), 5000, &response);
        s_expect (s_is_problem (&response, 400),
                  "%s: %d in %.0f ms (want 400 as valid problem JSON)",
                  invalid[i].what, response.status, took);
        s_response_free (&response);
    }

    size_t size = 100000;
    char *deep = malloc (size);
    if (!deep)
        s_abort ("out of memory");
    memset (deep, '[', size);
    double took = s_request ("127.0.0.6", "POST", "/api/jobs",
                             "Content-Type: application/json\r\n", deep, size,
                             5000, &response);
    s_expect (s_is_problem (&response, 413),
              "100,000 '[': %d in %.0f ms (want 413)", response.status, took);
    s_response_free (&response);
    took = s_request ("127.0.0.6", "POST", "/api/jobs",
                      "Content-Type: application/json\r\n", deep, 60000, 5000,
                      &response);
    s_expect (s_is_problem (&response, 400),
              "60,000 '[' (under the body limit): %d in %.0f ms (want 400)",
              response.status, took);
    s_response_free (&response);
    size_t len = 0;
    while (len + 6 < 60000) {
        memcpy (deep + len, "{\"a\":", 5);
        len += 5;
    }
    took = s_request ("127.0.0.6", "POST", "/api/jobs",
                      "Content-Type: application/json\r\n", deep, len, 5000,
                      &response);
    s_expect (s_is_problem (&response, 400),
              "12,000 nested objects: %d in %.0f ms (want 400)",
              response.status, took);
    s_response_free (&response);
    free (deep);

    const char valid[] =
        "{\"brief\":{\"topic\":\"Tides, and why there are two a day\"}}";
    took = s_request ("127.0.0.6", "POST", "/api/jobs",
                      "Content-Type: application/json\r\n", valid,
                      sizeof valid - 1, 5000, &response);
    s_expect (response.status == 202,
              "and a valid body after them: %d in %.0f ms (want 202)",
              response.status, took);
    s_response_free (&response);
}

/*  POSTs from one address as fast as it can send them: the burst passes
    (to the validator, which refuses the body), the rest is 429 with
    Retry-After. */
static void
s_attack_post_flood (void)
{
    s_print ("\nPOST flood from one address (AURA_RATE_LIMIT=%d, "
             "AURA_RATE_BURST=%d)\n",
             S_RATE_LIMIT, S_RATE_BURST);
    int passed = 0, limited = 0, other = 0;
    bool retry_after = true;
    double started = s_now_ms ();
    for (int i = 0; i < 3 * S_RATE_BURST; i++) {
        s_response_t response;
        s_request ("127.0.0.10", "POST", "/api/jobs",
                   "Content-Type: application/json\r\n", "{}", 2, 5000,
                   &response);
        if (response.status == 400)
            passed++;
        else if (response.status == 429) {
            limited++;
            retry_after =
                retry_after && strtol (response.retry_after, NULL, 10) >= 1;
        }
        else
            other++;
        s_response_free (&response);
    }
    double took = s_now_ms () - started;
    /* the bucket refills at the rate while the flood goes on */
    int allowed = S_RATE_BURST + (int)(S_RATE_LIMIT * took / 1000.0) + 1;
    s_expect (
        other == 0 && limited > 0 && passed >= S_RATE_BURST && passed <= allowed
            && retry_after,
        "%d POSTs in %.0f ms: %d let through (burst %d, at most %d by now), %d "
        "answered 429 with Retry-After, %d otherwise",
        3 * S_RATE_BURST, took, passed, S_RATE_BURST, allowed, limited, other);
}

/*  True when method is one of the comma-separated tokens of allow. */
static bool
s_allows (const char *allow, const char *method)
{
    size_t method_len = strlen (method);
    for (const char *p = allow; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn (p, ", ");
        if (len == method_len && strncmp (p, method, len) == 0)
            return true;
        p += len;
    }
    return false;
}

static void
s_attack_methods (void)
{
    s_print ("\nevery endpoint with every wrong method\n");
    static const struct {
        const char *path;
        const char *allow;
    } endpoints[] = {
        { "/healthz", "GET" },
        { "/readyz", "GET" },
        { "/metrics", "GET" },
        { "/api/events", "GET" },
        { "/api/jobs", "GET, POST" },
        { "/api/quick/demo", "POST" },
        { "/api/jobs/" S_JOB_ID, "GET" },
        { "/api/jobs/" S_JOB_ID "/events", "GET" },
        { "/api/jobs/" S_JOB_ID "/cancel", "POST" },
        { "/api/jobs/" S_JOB_ID "/retry", "POST" },
        { "/api/jobs/" S_JOB_ID "/artifacts/video.mp4", "GET, HEAD" },
        { "/index.html", "GET, HEAD" },
    };
    static const char *const methods[] = { "GET",   "HEAD",     "POST",
                                           "PUT",   "DELETE",   "PATCH",
                                           "TRACE", "PROPFIND", "BREW" };
    int tried = 0, right = 0;
    for (size_t e = 0; e < sizeof endpoints / sizeof *endpoints; e++)
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            if (s_allows (endpoints[e].allow, methods[m]))
                continue;
            s_response_t response;
            double took = s_request ("127.0.0.7", methods[m], endpoints[e].path,
                                     NULL, NULL, 0, 5000, &response);
            tried++;
            if (response.status == 405
                && strcmp (response.allow, endpoints[e].allow) == 0)
                right++;
            else
                s_expect (false,
                          "%s %s: %d, Allow \"%s\" in %.0f ms (want 405, Allow "
                          "\"%s\")",
                          methods[m], endpoints[e].path, response.status,
                          response.allow, took, endpoints[e].allow);
            s_response_free (&response);
        }
    s_expect (right == tried,
              "%d of %d wrong methods answered 405 with the right Allow", right,
              tried);
}

/*  500 event streams opened from 25 addresses and never read, while jobs
    are submitted so that events pile up behind them. */
#define S_STREAM_ADDRESSES 25
#define S_STREAMS_PER_ADDRESS 20

static void
s_attack_unread_streams (void)
{
    s_print ("\n500 event streams that never read (AURA_MAX_STREAMS=%d, "
             "AURA_MAX_STREAMS_PER_IP=%d)\n",
             S_MAX_STREAMS, S_STREAMS_PER_IP);
    char *before = s_metrics ();
    double rejected_ip_before =
        before ? s_metric (
            before,
            "aura_gateway_requests_rejected_total{reason=\"streams_per_ip\"}")
               : 0;
    double rejected_all_before =
        before ? s_metric (
            before,
            "aura_gateway_requests_rejected_total{reason=\"streams_global\"}")
               : 0;
    double cut_before =
        before ? s_metric (before, "aura_gateway_sse_streams_cut_total") : 0;
    double bytes_before =
        before ? s_metric (before, "aura_gateway_sse_bytes_sent_total") : 0;
    free (before);
    long rss_before = s_gateway_rss_kib ();

    static int fds[S_STREAM_ADDRESSES * S_STREAMS_PER_ADDRESS];
    int count = 0, refused = 0;
    const char request[] =
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int a = 0; a < S_STREAM_ADDRESSES; a++) {
        char source[32];
        snprintf (source, sizeof source, "127.0.1.%d", 10 + a);
        for (int i = 0; i < S_STREAMS_PER_ADDRESS; i++) {
            /* a small window: the gateway must hold what does not fit */
            int fd = s_connect (source, true);
            if (fd < 0 || s_send_all (fd, request, sizeof request - 1) < 0) {
                refused++;
                if (fd >= 0)
                    close (fd);
                continue;
            }
            fds[count++] = fd;
        }
    }

    /* every request handled: as many streams as the gateway allows, a
       429 or a 503 for the others */
    double open = -1, per_ip = 0, global = 0;
    double deadline = s_now_ms () + 15000;
    while (s_now_ms () < deadline) {
        char *text = s_metrics ();
        if (text) {
            open = s_metric (text, "aura_gateway_sse_streams_open");
            per_ip = s_metric (text, "aura_gateway_requests_rejected_total{"
                                     "reason=\"streams_per_ip\"}")
                     - rejected_ip_before;
            global = s_metric (text, "aura_gateway_requests_rejected_total{"
                                     "reason=\"streams_global\"}")
                     - rejected_all_before;
            free (text);
            if (open + per_ip + global >= count)
                break;
        }
        s_sleep_ms (100);
    }
    s_expect (refused == 0,
              "%d of %d connections made (each address within its "
              "connection cap)",
              count, count + refused);
    s_expect (open == S_MAX_STREAMS,
              "streams open: %.0f (want AURA_MAX_STREAMS, %d)", open,
              S_MAX_STREAMS);
    s_expect (per_ip > 0 && global > 0 && open + per_ip + global == count,
              "the other %.0f answered 429 (%.0f, address over its cap) or 503 "
              "(%.0f, gateway full)",
              per_ip + global, per_ip, global);

    /* events for every stream: a job canceled while queued makes two
       (job-status, job-cancelled), retried one more, canceled again two */
    int submitted = 0, events_made = 0;
    const char body[] = "{\"brief\":{\"topic\":\"An event for every stream\"}}";
    for (int a = 0; a < 16; a++) {
        char source[32];
        snprintf (source, sizeof source, "127.0.2.%d", 10 + a);
        for (int i = 0; i < 10; i++) {
            s_response_t response;
            s_request (source, "POST", "/api/jobs",
                       "Content-Type: application/json\r\n", body,
                       sizeof body - 1, 5000, &response);
            const char *id = response.status == 202 && response.body
                                 ? strstr (response.body, "\"jobId\":\"")
                                 : NULL;
            char path[128] = "";
            if (id && strlen (id) >= 9 + 26)
                snprintf (path, sizeof path, "/api/jobs/%.26s/", id + 9);
            s_response_free (&response);
            if (!path[0])
                continue;
            submitted++;
            static const char *const steps[] = { "cancel", "retry", "cancel" };
            for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
                char call[160];
                snprintf (call, sizeof call, "%s%s", path, steps[k]);
                s_request (source, "POST", call, NULL, NULL, 0, 5000,
                           &response);
                events_made += response.status == 202 ? (k == 1 ? 1 : 2) : 0;
                s_response_free (&response);
            }
        }
    }
    s_expect (
        submitted == 160 && events_made == 160 * 5,
        "%d of 160 jobs submitted, canceled, retried and canceled again while "
        "the streams stall: %d events for each stream",
        submitted, events_made);
    /* a stream too far behind is cut: its queue dropped, its connection
       closed, its place given back */
    double cut = 0, bytes = 0;
    open = -1;
    deadline = s_now_ms () + 10000;
    while (s_now_ms () < deadline) {
        char *text = s_metrics ();
        if (text) {
            cut = s_metric (text, "aura_gateway_sse_streams_cut_total")
                  - cut_before;
            bytes = s_metric (text, "aura_gateway_sse_bytes_sent_total")
                    - bytes_before;
            open = s_metric (text, "aura_gateway_sse_streams_open");
            free (text);
            if (open == 0)
                break;
        }
        s_sleep_ms (200);
    }
    long rss_during = s_gateway_rss_kib ();
    int cut_in_hub = s_count_log (&s_gateway, "stream of all jobs cut");
    s_print (
        "  %.0f KiB of events handed to the streams' sockets; the gateway cut "
        "%d streams for falling behind (log) and closed %.0f of them\n",
        bytes / 1024, cut_in_hub, cut);
    s_expect (cut_in_hub >= S_MAX_STREAMS,
              "every stalled stream cut: %d of %d (AURA_SSE_MAX_BACKLOG=%d)",
              cut_in_hub, S_MAX_STREAMS, S_SSE_MAX_BACKLOG);
    s_expect (
        open == 0,
        "a cut stream's connection is closed and its place given back: %.0f "
        "streams still open 10 s later, %.0f closed",
        open, cut);
    s_expect (
        rss_during >= 0 && rss_during - rss_before < 64 * 1024,
        "gateway memory: %ld KiB before, %ld KiB with the streams stalled "
        "(+%ld KiB, limit +65536)",
        rss_before, rss_during, rss_during - rss_before);
    for (int i = 0; i < count; i++)
        close (fds[i]);
}

/*  The calls that need the broker. */
static const struct {
    const char *method;
    const char *path;
    const char *body;
} s_broker_calls[] = {
    { "GET", "/readyz", NULL },
    { "GET", "/api/jobs", NULL },
    { "GET", "/api/jobs/" S_JOB_ID, NULL },
    { "GET", "/api/jobs/" S_JOB_ID "/events", NULL },
    { "POST", "/api/jobs", "{\"brief\":{\"topic\":\"Nobody is there\"}}" },
    { "POST", "/api/jobs/" S_JOB_ID "/cancel", NULL },
    { "POST", "/api/jobs/" S_JOB_ID "/retry", NULL },
};

/*  Every call that needs the broker answers 503 within limit_ms. */
static void
s_expect_unavailable (const char *source, const char *how, int limit_ms)
{
    for (size_t i = 0; i < sizeof s_broker_calls / sizeof *s_broker_calls;
         i++) {
        s_response_t response;
        const char *body = s_broker_calls[i].body;
        double took =
            s_request (source, s_broker_calls[i].method, s_broker_calls[i].path,
                       body ? "Content-Type: application/json\r\n" : NULL, body,
                       body ? strlen (body) : 0, limit_ms + 5000, &response);
        s_expect (response.status == 503 && took <= limit_ms,
                  "%s, %s %s: %d in %.0f ms (want 503 within %d ms)", how,
                  s_broker_calls[i].method, s_broker_calls[i].path,
                  response.status, took, limit_ms);
        s_response_free (&response);
    }
}

static void
s_attack_broker_down (void)
{
    s_print ("\nthe broker hung, then gone (AURA_BROKER_TIMEOUT_MS=%d)\n",
             S_BROKER_TIMEOUT_MS);
    int limit_ms = S_BROKER_TIMEOUT_MS + S_MARGIN_MS;
    /* stopped: its sockets stay connected, nothing answers */
    kill (-s_broker.pid, SIGSTOP);
    s_expect_unavailable ("127.0.0.8", "hung", limit_ms);
    kill (-s_broker.pid, SIGCONT);
    /* killed: its sockets are gone */
    s_stop (&s_broker, SIGKILL);
    s_expect_unavailable ("127.0.0.9", "gone", limit_ms);

    s_spawn (&s_broker);
    char line[512];
    if (!s_wait_log (&s_broker, "ready:", 15000, line, sizeof line))
        s_abort ("the broker did not start again");
    double started = s_now_ms ();
    int status = 0;
    while (s_now_ms () - started < 15000) {
        s_response_t response;
        s_request ("127.0.0.8", "GET", "/readyz", NULL, NULL, 0, 5000,
                   &response);
        status = response.status;
        s_response_free (&response);
        if (status == 200)
            break;
        s_sleep_ms (100);
    }
    s_expect (status == 200, "the broker back: /readyz %d after %.0f ms",
              status, s_now_ms () - started);
}

/* ------------------------------------------------------------------ */

static void
s_on_signal (int sig)
{
    (void)sig;
    /* the children die with this process (PR_SET_PDEATHSIG) */
    _exit (2);
}

int
main (int argc, char **argv)
{
    const char *bin_dir = argc > 1 ? argv[1] : getenv ("AURA_BIN_DIR");
    if (!bin_dir) {
        fprintf (stderr, "usage: %s BIN_DIR\n", argv[0]);
        return 2;
    }
    snprintf (s_bin_dir, sizeof s_bin_dir, "%s", bin_dir);
    signal (SIGPIPE, SIG_IGN);
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    /* about 1,000 sockets at once */
    struct rlimit files;
    if (getrlimit (RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 4096) {
        files.rlim_cur = files.rlim_max < 4096 ? files.rlim_max : 4096;
        setrlimit (RLIMIT_NOFILE, &files);
    }

    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/aura-hostile-XXXXXX",
              tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir))
        s_abort ("cannot make a temporary directory: %s", strerror (errno));
    char web_dir[PATH_MAX + 8];
    snprintf (web_dir, sizeof web_dir, "%s/web", s_dir);
    mkdir (web_dir, 0755);
    s_env_build ();

    s_spawn (&s_broker);
    char line[512];
    if (!s_wait_log (&s_broker, "ready:", 15000, line, sizeof line))
        s_abort ("the broker did not start (log: %s)", s_broker.log_path);
    s_spawn (&s_gateway);
    if (!s_wait_log (&s_gateway, "listening on http://127.0.0.1:", 15000, line,
                     sizeof line))
        s_abort ("the gateway did not start (log: %s)", s_gateway.log_path);
    s_port = (int)strtol (strstr (line, "127.0.0.1:") + 10, NULL, 10);
    if (s_port <= 0 || s_port > 65535)
        s_abort ("no port in: %s", line);
    double started = s_now_ms ();
    int ready = 0;
    while (ready != 200 && s_now_ms () - started < 15000) {
        s_response_t response;
        s_request (NULL, "GET", "/readyz", NULL, NULL, 0, 2000, &response);
        ready = response.status;
        s_response_free (&response);
        if (ready != 200)
            s_sleep_ms (50);
    }
    if (ready != 200)
        s_abort ("the gateway never became ready");
    s_print ("gateway on 127.0.0.1:%d, broker and gateway logs in %s\n", s_port,
             s_dir);

    pthread_t probe, loris;
    pthread_create (&probe, NULL, s_probe_main, NULL);
    pthread_create (&loris, NULL, s_loris_main, NULL);
    double run_started = s_now_ms ();

    s_attack_stalls ();
    s_attack_pipelining ();
    s_attack_header_floods ();
    s_attack_last_event_id ();
    s_attack_bodies ();
    s_attack_post_flood ();
    s_attack_methods ();
    s_attack_unread_streams ();
    s_attack_broker_down ();

    /* the slow clients keep dribbling for several request timeouts */
    while (s_now_ms () - run_started < 4 * S_REQUEST_TIMEOUT_S * 1000 + 1500)
        s_sleep_ms (100);
    atomic_store (&s_loris_stop, true);
    pthread_join (loris, NULL);
    atomic_store (&s_probe_stop, true);
    pthread_join (probe, NULL);
    double run_ms = s_now_ms () - run_started;

    s_print (
        "\nslow loris: %d addresses x %d connections, a header byte a second "
        "for the whole run\n",
        S_LORIS_ADDRESSES, S_LORIS_PER_ADDRESS);
    for (int a = 0; a < S_LORIS_ADDRESSES; a++)
        s_expect (s_loris_held[a] <= S_CONNECTIONS_PER_IP,
                  "127.0.0.%d: %d held to the end, %d closed by the gateway "
                  "(cap %d a "
                  "address)",
                  20 + a, s_loris_held[a], s_loris_refused[a],
                  S_CONNECTIONS_PER_IP);
    s_expect (s_loris_answered == 0,
              "no half-sent request was answered (%d were)", s_loris_answered);

    s_print (
        "\nthe measuring client: GET /healthz every %d ms from 127.0.0.1 for "
        "%.1f s\n",
        S_PROBE_INTERVAL_MS, run_ms / 1000.0);
    size_t n = s_probe_count;
    if (n > 0) {
        qsort (s_probe_ms, n, sizeof *s_probe_ms, s_compare_double);
        double p50 = s_probe_ms[(n - 1) / 2];
        double p99 = s_probe_ms[(size_t)ceil (0.99 * (double)n) - 1];
        double max = s_probe_ms[n - 1];
        size_t over = 0;
        for (size_t i = 0; i < n; i++)
            over += s_probe_ms[i] > S_HEALTHZ_BUDGET_MS;
        s_print (
            "  %zu answers: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %zu over "
            "%.0f ms\n",
            n, p50, p99, max, over, S_HEALTHZ_BUDGET_MS);
        s_expect (p99 <= S_HEALTHZ_BUDGET_MS, "p99 %.1f ms within %.0f ms", p99,
                  S_HEALTHZ_BUDGET_MS);
    }
    s_expect (n > 100 && s_probe_failures == 0,
              "%zu answered 200, %zu failed (last other status %d)", n,
              s_probe_failures, s_probe_worst_status);
    s_expect (waitpid (s_gateway.pid, NULL, WNOHANG) == 0,
              "the gateway is still running");

    int failures = s_failures;
    s_print ("\n%s: %d check%s failed\n", failures ? "FAILED" : "passed",
             failures, failures == 1 ? "" : "s");
    s_cleanup ();
    return failures ? 1 : 0;
}
