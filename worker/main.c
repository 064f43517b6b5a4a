/*  aura-worker — runs Aura jobs (plan, tts, visuals, compose, render) that
    the broker dispatches, and reports their progress. SIGINT or SIGTERM
    hands running jobs back to the broker and exits 0. */
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pipeline/pipeline.h"
#include "worker.h"

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
            | CONFIG_WORKER_ID | CONFIG_ARTIFACT_DIR | CONFIG_LOG,
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
