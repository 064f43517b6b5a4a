/*  config — every setting of every program, read from the environment and
    overridden by command-line flags (--name=value or --name value). Each
    program names the settings it uses; --help lists exactly those. An
    invalid value stops the program with one clear line. */
#ifndef AURA_CONFIG_H
#define AURA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

#define CONFIG_ENDPOINT_SIZE 256

typedef enum {
    CONFIG_BROKER_FRONTEND = 1u << 0,  /* AURA_BROKER_FRONTEND */
    CONFIG_BROKER_JOBS = 1u << 1,      /* AURA_BROKER_JOBS */
    CONFIG_BROKER_EVENTS = 1u << 2,    /* AURA_BROKER_EVENTS */
    CONFIG_BROKER_PUBLISH = 1u << 3,   /* AURA_BROKER_PUBLISH */
    CONFIG_HTTP_ADDR = 1u << 4,        /* AURA_HTTP_ADDR */
    CONFIG_WORKER_SLOTS = 1u << 5,     /* AURA_WORKER_SLOTS */
    CONFIG_HEARTBEAT_MS = 1u << 6,     /* AURA_HEARTBEAT_MS */
    CONFIG_KEEPALIVE_S = 1u << 7,      /* AURA_KEEPALIVE_S */
    CONFIG_BROKER_TIMEOUT_MS = 1u << 8,/* AURA_BROKER_TIMEOUT_MS */
    CONFIG_PIPELINE = 1u << 9,         /* AURA_PIPELINE */
    CONFIG_SYNTHETIC_STEP_MS = 1u << 10, /* AURA_SYNTHETIC_STEP_MS */
    CONFIG_WORKER_ID = 1u << 11,       /* AURA_WORKER_ID */
    CONFIG_SYNTHETIC_FAIL_STEP = 1u << 12, /* AURA_SYNTHETIC_FAIL_STEP */
    CONFIG_LOG = 1u << 13,             /* AURA_LOG_LEVEL, AURA_LOG_FORMAT */
    CONFIG_DATA_DIR = 1u << 14,        /* AURA_DATA_DIR */
    CONFIG_LEASE_MS = 1u << 15,        /* AURA_LEASE_MS */
    CONFIG_MAX_ATTEMPTS = 1u << 16,    /* AURA_MAX_ATTEMPTS */
    CONFIG_RETENTION_H = 1u << 17,     /* AURA_RETENTION_H */
    CONFIG_ARTIFACT_DIR = 1u << 18,    /* AURA_ARTIFACT_DIR */
    CONFIG_AUTH = 1u << 19,            /* AURA_API_TOKEN, AURA_METRICS_TOKEN,
                                          AURA_EVENT_TOKEN_TTL_S,
                                          AURA_CORS_ORIGINS */
    CONFIG_LIMITS = 1u << 20,          /* AURA_MAX_STREAMS(_PER_IP),
                                          AURA_RATE_LIMIT, AURA_RATE_BURST,
                                          AURA_SSE_MAX_BACKLOG,
                                          AURA_REQUEST_TIMEOUT_S,
                                          AURA_HTTP_THREADS */
    CONFIG_WEB_DIR = 1u << 21,         /* AURA_WEB_DIR */
    CONFIG_HEALTHCHECK = 1u << 22,     /* --healthcheck (a flag only) */
    CONFIG_DRAIN_S = 1u << 23,         /* AURA_DRAIN_S */
    CONFIG_SUPERVISOR = 1u << 24,      /* AURA_WORKERS, AURA_BIN_DIR */
} config_option_t;

/*  How long a --healthcheck waits for the answer of the program it checks. */
#define CONFIG_HEALTHCHECK_TIMEOUT_MS 2000

typedef struct {
    char broker_frontend[CONFIG_ENDPOINT_SIZE]; /* tcp://127.0.0.1:7701 */
    char broker_jobs[CONFIG_ENDPOINT_SIZE];     /* tcp://127.0.0.1:7702 */
    char broker_events[CONFIG_ENDPOINT_SIZE];   /* tcp://127.0.0.1:7703 */
    char broker_publish[CONFIG_ENDPOINT_SIZE];  /* tcp://127.0.0.1:7704 */
    char http_host[64];   /* numeric address from AURA_HTTP_ADDR, no brackets */
    int http_port;        /* 0 = any free port (the gateway logs which) */
    int worker_slots;     /* 1..64, default 1 */
    int heartbeat_ms;     /* 50..60000, default 1000 */
    int keepalive_s;      /* 1..3600, default 10 */
    int broker_timeout_ms;/* 100..60000, default 1500 */
    char pipeline[32];    /* "media" (default) or "synthetic" */
    int synthetic_step_ms;/* 0..600000, default 1000 */
    int synthetic_reports;/* progress reports per synthetic step, default 4 */
    char synthetic_fail_step[16]; /* a step name, or "" (default): never fail */
    char worker_id[64];   /* default "<hostname>-<pid>" */
    char data_dir[512];   /* broker journal directory, default ./var/data */
    char artifact_dir[512]; /* jobs' outputs, default ./var/artifacts */
    int lease_ms;         /* 100..3600000, default 5000 */
    int max_attempts;     /* 1..100, default 3 */
    int retention_h;      /* 1..87600, default 168 */
    char api_token[256];  /* "" (default): the API is open */
    char metrics_token[256]; /* "" (default): /metrics is open */
    int event_token_ttl_s;/* 10..604800, default 3600 */
    char cors_origins[1024]; /* comma-separated origins or "*"; "" = none */
    int max_streams;      /* 0 (no limit)..1000000, default 20000 */
    int max_streams_per_ip; /* default 64 */
    int rate_limit;       /* POSTs and stream opens a second per address */
    int rate_burst;       /* default 60 */
    int sse_max_backlog;  /* bytes, default 262144 */
    int request_timeout_s;/* idle connections (not streams), default 30 */
    int http_threads;     /* 0 (default): one per core */
    char web_dir[512];    /* the web UI, default ./gateway/web */
    bool healthcheck;     /* --healthcheck: check the running program, exit */
    int drain_s;          /* 1..3600, default 30: a stopping worker's time
                             before aura-up kills it */
    int workers;          /* aura-up: 0 (default: one per core)..256 */
    char bin_dir[512];    /* aura-up: the programs, "" (default: its own dir) */
    log_level_t log_level;/* default info */
    bool log_json;        /* AURA_LOG_FORMAT=json */
} aura_config_t;

/*  Fills cfg with the defaults, then the environment, then argv, for the
    settings in `options` (a mask of config_option_t). Settings outside the
    mask keep their defaults and their flags are unknown.
    Returns 0 when the program should run, 1 when --help or --version was
    printed to stdout (exit 0), or -EINVAL with one line in err naming the
    setting and the reason (exit 2). */
int config_load (aura_config_t *cfg, unsigned options, const char *program,
                 const char *summary, int argc, char **argv, char *err,
                 size_t err_size);

/*  Parses "host:port" (IPv4, or [IPv6]:port) into host and port. Returns 0
    or -EINVAL. Exposed for tests. */
int config_parse_host_port (const char *text, char *host, size_t host_size,
                            int *port);

/*  True for tcp://…, ipc://… and inproc://… endpoints. */
bool config_endpoint_valid (const char *endpoint);

#endif
