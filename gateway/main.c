/*  aura-gateway — the HTTP front of Aura: accepts jobs, answers queries
    from the broker, and streams every job's progress to browsers over
    Server-Sent Events. */
#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "config.h"
#include "hub.h"
#include "log.h"
#include "server.h"

/*  How long shutdown waits for suspended connections to wake. */
#define GATEWAY_DRAIN_TIMEOUT_MS 2000

int
main (int argc, char **argv)
{
    aura_config_t cfg;
    char err[256] = "";
    int rc = config_load (&cfg,
                          CONFIG_BROKER_FRONTEND | CONFIG_BROKER_PUBLISH | CONFIG_HTTP_ADDR
                              | CONFIG_KEEPALIVE_S | CONFIG_BROKER_TIMEOUT_MS | CONFIG_LOG
                              | CONFIG_ARTIFACT_DIR | CONFIG_AUTH | CONFIG_LIMITS
                              | CONFIG_WEB_DIR,
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
    exit_code = 0;

cleanup:
    server_destroy (&server);
    bus_destroy (&bus);
    hub_destroy (&hub);
    if (exit_code == 0)
        log_info ("stopped");
    return exit_code;
}
