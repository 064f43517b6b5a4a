/*  aura-gateway — the HTTP front of Aura: accepts jobs, answers queries
    from the broker, and streams every job's progress to browsers over
    Server-Sent Events. With --healthcheck it only asks the gateway
    configured like itself for GET /healthz and exits 0 (healthy) or 1. */
#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "server.h"

/*  How long shutdown waits for suspended connections to wake. */
#define GATEWAY_DRAIN_TIMEOUT_MS 2000
/*  How long shutdown waits for streams to send their last comment. */
#define GATEWAY_STREAMS_TIMEOUT_MS 1500
/*  Most descriptors whose room the process table gets at start (8 bytes
    and two bits each): past it, the table grows as before. */
#define GATEWAY_FD_RESERVE_MAX 65536

/*  Grows the process's descriptor table now to hold as many descriptors
    as it may open (the open-files limit, at most GATEWAY_FD_RESERVE_MAX).
    Linux doubles the table as descriptors are opened (256, 512, 1,024 …),
    and in a process with several threads each growth waits for an RCU
    grace period: the accept() that crossed the line stalled for 15–20 ms,
    and every connection behind it. Called before any thread starts, the
    growth costs nothing, and the table is never shrunk. */
static void
s_reserve_descriptors (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return;
    rlim_t room = limit.rlim_cur;
    if (room == RLIM_INFINITY || room > GATEWAY_FD_RESERVE_MAX)
        room = GATEWAY_FD_RESERVE_MAX;
    if (room < 2)
        return;
    int fd = fcntl (STDERR_FILENO, F_DUPFD_CLOEXEC, (int) room - 1);
    if (fd >= 0)
        close (fd);
}

/*  Parses the status line of an HTTP answer in buf[0..len): "HTTP/1.x NNN".
    Returns the status code, or -EAGAIN while the line is incomplete, or
    -EPROTO when it is not an HTTP status line. */
static int
s_http_status (const char *buf, size_t len)
{
    static const char prefix[] = "HTTP/1.";
    const size_t need = sizeof prefix - 1 + 5; /* "HTTP/1.x NNN" */
    for (size_t i = 0; i < len && i < sizeof prefix - 1; i++)
        if (buf[i] != prefix[i])
            return -EPROTO;
    if (len < need)
        return -EAGAIN;
    const char *code = buf + sizeof prefix - 1 + 1;
    if (*code != ' ')
        return -EPROTO;
    code++;
    int status = 0;
    for (int i = 0; i < 3; i++) {
        if (code[i] < '0' || code[i] > '9')
            return -EPROTO;
        status = status * 10 + (code[i] - '0');
    }
    return status;
}

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*  Waits until fd is ready for `events` or the deadline passes. Returns 0,
    or -ETIMEDOUT. */
static int
s_wait_fd (int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - s_mono_ms ();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = { .fd = fd, .events = events };
        int rc = poll (&pfd, 1, (int) left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -errno;
    }
}

/*  GETs /healthz from the gateway that AURA_HTTP_ADDR names, over a plain
    HTTP/1.0 connection, within CONFIG_HEALTHCHECK_TIMEOUT_MS in all. A
    wildcard address (0.0.0.0, ::) is asked on the loopback of its family.
    Prints one line: why the check failed on stderr, or the address on
    stdout. Returns the exit status, 0 (healthy: 200) or 1. */
static int
s_healthcheck (const aura_config_t *cfg)
{
    const char *host = cfg->http_host;
    bool ipv6 = strchr (host, ':') != NULL;
    if (strcmp (host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp (host, "::") == 0)
        host = "::1";
    char where[96];
    snprintf (where, sizeof where, "%s%s%s:%d", ipv6 ? "[" : "", host,
              ipv6 ? "]" : "", cfg->http_port);
    if (cfg->http_port == 0) {
        fprintf (stderr, "aura-gateway: unhealthy: AURA_HTTP_ADDR has port 0, "
                         "so the gateway's port is not known; set it\n");
        return 1;
    }

    struct sockaddr_storage addr;
    socklen_t addr_len;
    memset (&addr, 0, sizeof addr);
    if (ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &addr;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons ((uint16_t) cfg->http_port);
        inet_pton (AF_INET6, host, &a6->sin6_addr);
        addr_len = sizeof *a6;
    }
    else {
        struct sockaddr_in *a4 = (struct sockaddr_in *) &addr;
        a4->sin_family = AF_INET;
        a4->sin_port = htons ((uint16_t) cfg->http_port);
        inet_pton (AF_INET, host, &a4->sin_addr);
        addr_len = sizeof *a4;
    }

    int64_t deadline = s_mono_ms () + CONFIG_HEALTHCHECK_TIMEOUT_MS;
    int status = 1;
    int fd =
        socket (addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf (stderr, "aura-gateway: unhealthy: socket: %s\n",
                 strerror (errno));
        return 1;
    }
    int rc = connect (fd, (struct sockaddr *) &addr, addr_len);
    if (rc < 0 && errno == EINPROGRESS) {
        rc = s_wait_fd (fd, POLLOUT, deadline);
        if (rc == 0) {
            int so_error = 0;
            socklen_t so_len = sizeof so_error;
            getsockopt (fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
            errno = so_error;
            rc = so_error ? -1 : 0;
        }
        else if (rc == -ETIMEDOUT) {
            fprintf (stderr,
                     "aura-gateway: unhealthy: no connection to %s within "
                     "%d ms\n",
                     where, CONFIG_HEALTHCHECK_TIMEOUT_MS);
            goto cleanup;
        }
        else
            errno = -rc;
    }
    if (rc < 0) {
        fprintf (stderr, "aura-gateway: unhealthy: cannot connect to %s: %s\n",
                 where, strerror (errno));
        goto cleanup;
    }

    char request[160];
    int request_len = snprintf (request, sizeof request,
                                "GET /healthz HTTP/1.0\r\nHost: %s\r\n"
                                "User-Agent: aura-healthcheck\r\n\r\n",
                                where);
    if (request_len < 0 || (size_t) request_len >= sizeof request
        || send (fd, request, (size_t) request_len, MSG_NOSIGNAL)
               != request_len) {
        fprintf (stderr, "aura-gateway: unhealthy: cannot send to %s\n", where);
        goto cleanup;
    }

    char answer[64];
    size_t got = 0;
    int http_status = -EAGAIN;
    while (http_status == -EAGAIN && got < sizeof answer) {
        if (s_wait_fd (fd, POLLIN, deadline) < 0) {
            fprintf (stderr,
                     "aura-gateway: unhealthy: no answer from %s within "
                     "%d ms\n",
                     where, CONFIG_HEALTHCHECK_TIMEOUT_MS);
            goto cleanup;
        }
        ssize_t n = recv (fd, answer + got, sizeof answer - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            fprintf (stderr,
                     "aura-gateway: unhealthy: %s closed the connection "
                     "without an answer\n",
                     where);
            goto cleanup;
        }
        got += (size_t) n;
        http_status = s_http_status (answer, got);
    }
    if (http_status < 0)
        fprintf (stderr, "aura-gateway: unhealthy: %s does not answer HTTP\n",
                 where);
    else if (http_status != 200)
        fprintf (stderr,
                 "aura-gateway: unhealthy: GET http://%s/healthz answered "
                 "%d\n",
                 where, http_status);
    else {
        printf ("aura-gateway: healthy: GET http://%s/healthz answered 200\n",
                where);
        status = 0;
    }

cleanup:
    close (fd);
    return status;
}

int
main (int argc, char **argv)
{
    aura_config_t cfg;
    char err[256] = "";
    int rc = config_load (
        &cfg,
        CONFIG_BROKER_FRONTEND | CONFIG_BROKER_PUBLISH | CONFIG_HTTP_ADDR
            | CONFIG_KEEPALIVE_S | CONFIG_BROKER_TIMEOUT_MS | CONFIG_LOG
            | CONFIG_ARTIFACT_DIR | CONFIG_AUTH | CONFIG_LIMITS | CONFIG_WEB_DIR
            | CONFIG_HEALTHCHECK,
        "aura-gateway",
        "HTTP front of Aura: job API and live progress over Server-Sent "
        "Events.",
        argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf (stderr, "aura-gateway: %s\n", err);
        return 2;
    }
    if (cfg.healthcheck)
        return s_healthcheck (&cfg);
    auth_config_t auth_cfg = {
        .api_token = cfg.api_token,
        .metrics_token = cfg.metrics_token,
        .cors_origins = cfg.cors_origins,
        .event_token_ttl_s = cfg.event_token_ttl_s,
    };
    if (auth_config_check (&auth_cfg, err, sizeof err) < 0) {
        fprintf (stderr, "aura-gateway: %s\n", err);
        return 2;
    }
    log_init ("gateway", cfg.log_level, cfg.log_json);
    s_reserve_descriptors ();

    /* SIGINT and SIGTERM are taken with sigwait() by this thread alone:
       blocked before any other thread exists, so every thread inherits
       the mask. CZMQ must not install handlers of its own. */
    sigset_t stop_signals;
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);

    int exit_code = 1;
    server_t *server = NULL;
    bus_t *bus = NULL;
    hub_limits_t limits;
    hub_limits_default (&limits);
    limits.keepalive_us = (int64_t) cfg.keepalive_s * 1000000;
    limits.stream_max_bytes = (size_t) cfg.sse_max_backlog;
    hub_t *hub = hub_new (&limits);
    if (!hub) {
        log_error ("out of memory");
        goto cleanup;
    }
    bus = bus_new (&cfg, hub);
    if (!bus)
        goto cleanup;
    server = server_new (&cfg, bus, hub);
    if (!server)
        goto cleanup;
    bool ipv6 = strchr (cfg.http_host, ':') != NULL;
    log_info ("listening on http://%s%s%s:%d (broker %s, events %s)", ipv6 ? "[" : "",
              cfg.http_host, ipv6 ? "]" : "", server_port (server), cfg.broker_frontend,
              cfg.broker_publish);

    int signal_number = 0;
    sigwait (&stop_signals, &signal_number);
    log_info ("stopping on %s", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");

    /* no new connections; streams end; calls in flight answer 503; then
       nothing is suspended and the daemon may stop */
    server_quiesce (server);
    hub_close (hub);
    bus_stop (bus);
    if (server_wait_unsuspended (server, GATEWAY_DRAIN_TIMEOUT_MS) < 0) {
        log_error ("connections did not wake within %d ms; exiting without cleanup",
                   GATEWAY_DRAIN_TIMEOUT_MS);
        _exit (1);
    }
    /* let each stream send its farewell before the daemon closes them all;
       a client that reads nothing any more does not hold up the exit */
    if (server_wait_streams_closed (server, GATEWAY_STREAMS_TIMEOUT_MS) < 0)
        log_warn ("some event streams had not ended within %d ms: closing them",
                  GATEWAY_STREAMS_TIMEOUT_MS);
    exit_code = 0;

cleanup:
    server_destroy (&server);
    bus_destroy (&bus);
    hub_destroy (&hub);
    if (exit_code == 0)
        log_info ("stopped");
    return exit_code;
}
