/*  aura-broker — the central process of Aura: takes job requests from
    gateways, hands jobs to workers with free slots, and publishes every
    job event, keeping every job and event in its journal. Exit status: 0
    on a requested stop, 1 when it cannot start (the journal cannot be
    opened, an endpoint cannot be bound), 2 on invalid configuration. */
#include <stdio.h>

#include <czmq.h>

#include "broker.h"
#include "config.h"
#include "log.h"

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
                              | CONFIG_LOG,
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
