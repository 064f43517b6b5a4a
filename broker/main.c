/*  aura-broker — the central process of Aura: takes job requests from
    gateways, hands jobs to workers with free slots, and publishes every
    job event, keeping every job and event in its journal. Exit status: 0
    on a requested stop, 1 when it cannot start (the journal cannot be
    opened, an endpoint cannot be bound), 2 on invalid configuration.
    With --healthcheck it only asks the broker configured like itself for a
    `pong` and exits 0 (healthy) or 1. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "proto.h"

/*  Writes into out the endpoint a local client connects to for a bind
    endpoint: the wildcard addresses (`*`, 0.0.0.0, [::], [*]) become the
    loopback of their family; anything else is the same text. Sets *ipv6
    when the result is an IPv6 address. Returns 0, -EINVAL for an inproc://
    endpoint (no other process can reach it), or -ENOSPC. */
static int
s_local_endpoint (const char *bind, char *out, size_t out_size, bool *ipv6)
{
    static const struct {
        const char *wildcard;
        const char *loopback;
        bool ipv6;
    } rewrites[] = {
        { "tcp://*:", "tcp://127.0.0.1:", false },
        { "tcp://0.0.0.0:", "tcp://127.0.0.1:", false },
        { "tcp://[::]:", "tcp://[::1]:", true },
        { "tcp://[*]:", "tcp://[::1]:", true },
    };
    *ipv6 = strncmp (bind, "tcp://[", 7) == 0;
    if (strncmp (bind, "inproc://", 9) == 0)
        return -EINVAL;
    const char *prefix = "";
    const char *rest = bind;
    for (size_t i = 0; i < sizeof rewrites / sizeof rewrites[0]; i++) {
        size_t n = strlen (rewrites[i].wildcard);
        if (strncmp (bind, rewrites[i].wildcard, n) == 0) {
            prefix = rewrites[i].loopback;
            rest = bind + n;
            *ipv6 = rewrites[i].ipv6;
            break;
        }
    }
    int n = snprintf (out, out_size, "%s%s", prefix, rest);
    return n < 0 || (size_t) n >= out_size ? -ENOSPC : 0;
}

/*  Sends a `ping` over a DEALER to the frontend the configuration names and
    waits CONFIG_HEALTHCHECK_TIMEOUT_MS for the `pong`. The pong comes from
    the broker's own loop, after every earlier request of its turn, so it
    proves more than an open port. Prints one line: why the check failed on
    stderr, or the broker's job counts on stdout. Returns the exit status,
    0 (healthy) or 1. */
static int
s_healthcheck (const aura_config_t *cfg)
{
    char endpoint[CONFIG_ENDPOINT_SIZE];
    bool ipv6 = false;
    if (s_local_endpoint (cfg->broker_frontend, endpoint, sizeof endpoint,
                          &ipv6)
        < 0) {
        fprintf (stderr,
                 "aura-broker: unhealthy: %s cannot be reached from "
                 "another process\n",
                 cfg->broker_frontend);
        return 1;
    }
    /* no signal handlers of CZMQ: a check is killed like any command */
    zsys_handler_set (NULL);
    int status = 1;
    char *buf = NULL;
    size_t len = 0;
    zframe_t *frame = NULL;
    proto_msg_t ping, pong;
    proto_msg_init (&ping, PROTO_PING);
    proto_msg_init (&pong, PROTO_NONE);
    snprintf (ping.cid, sizeof ping.cid, "healthcheck-%ld", (long) getpid ());

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer) {
        fprintf (stderr, "aura-broker: unhealthy: cannot make a socket\n");
        goto cleanup;
    }
    proto_socket_defaults (dealer);
    zsock_set_linger (dealer, 0);
    zsock_set_ipv6 (dealer, ipv6 ? 1 : 0);
    if (zsock_connect (dealer, "%s", endpoint) != 0) {
        fprintf (stderr, "aura-broker: unhealthy: cannot connect to %s: %s\n",
                 endpoint, zmq_strerror (zmq_errno ()));
        goto cleanup;
    }
    if (proto_encode_buf (&ping, &buf, &len) < 0
        || zmq_send (zsock_resolve (dealer), buf, len, 0) < 0) {
        fprintf (stderr, "aura-broker: unhealthy: cannot send a ping to %s\n",
                 endpoint);
        goto cleanup;
    }
    /* a DEALER queues the ping until the connection is up, so a broker
       still starting answers within the same wait */
    int64_t deadline = zclock_mono () + CONFIG_HEALTHCHECK_TIMEOUT_MS;
    for (int64_t left = CONFIG_HEALTHCHECK_TIMEOUT_MS; left > 0;
         left = deadline - zclock_mono ()) {
        zmq_pollitem_t item = { zsock_resolve (dealer), 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) <= 0
            || !(item.revents & ZMQ_POLLIN))
            continue;
        frame = zframe_recv (dealer);
        char err[160] = "";
        bool more = frame && zframe_more (frame);
        if (frame && !more
            && proto_decode (zframe_data (frame), zframe_size (frame), &pong,
                             err, sizeof err)
                   == 0
            && pong.type == PROTO_PONG && strcmp (pong.cid, ping.cid) == 0) {
            printf ("aura-broker: healthy: %s answers (%lld queued, %lld "
                    "running)\n",
                    endpoint, (long long) pong.jobs_by_status[JOB_QUEUED],
                    (long long) pong.jobs_by_status[JOB_RUNNING]);
            status = 0;
            goto cleanup;
        }
        /* not our pong (a multipart answer, another cid): wait on */
        proto_msg_reset (&pong);
        zframe_destroy (&frame);
        if (more)
            zsock_flush (dealer);
    }
    fprintf (stderr, "aura-broker: unhealthy: no pong from %s within %d ms\n",
             endpoint, CONFIG_HEALTHCHECK_TIMEOUT_MS);

cleanup:
    proto_msg_reset (&pong);
    proto_msg_reset (&ping);
    zframe_destroy (&frame);
    free (buf);
    zsock_destroy (&dealer);
    return status;
}

int
main (int argc, char **argv)
{
    aura_config_t cfg;
    char err[256] = "";
    int rc = config_load (&cfg,
                          CONFIG_BROKER_FRONTEND | CONFIG_BROKER_JOBS
                              | CONFIG_BROKER_EVENTS | CONFIG_BROKER_PUBLISH
                              | CONFIG_DATA_DIR | CONFIG_LEASE_MS
                              | CONFIG_MAX_ATTEMPTS | CONFIG_RETENTION_H
                              | CONFIG_LOG | CONFIG_HEALTHCHECK,
                          "aura-broker",
                          "Routes Aura jobs from gateways to workers, "
                          "journals them and publishes their events.",
                          argc, argv, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf (stderr, "aura-broker: %s\n", err);
        return 2;
    }
    if (cfg.healthcheck)
        return s_healthcheck (&cfg);
    log_init ("broker", cfg.log_level, cfg.log_json);
    /* CZMQ's SIGINT/SIGTERM handler sets zsys_interrupted, which ends the
       loop; install it before the first socket exists. */
    zsys_init ();

    broker_t *broker = broker_new (&cfg);
    if (!broker)
        return 1;
    rc = broker_run (broker);
    broker_destroy (&broker);
    return rc == 0 ? 0 : 1;
}
