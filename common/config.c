/*  config — defaults, then environment, then flags, for every setting. */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phase.h"

typedef enum { KIND_ENDPOINT, KIND_HTTP_ADDR, KIND_INT, KIND_CHOICE, KIND_STEP,
               KIND_NAME, KIND_PATH, KIND_TEXT, KIND_SECRET, KIND_LOG_LEVEL,
               KIND_LOG_FORMAT, KIND_SWITCH } kind_t;

typedef struct {
    unsigned mask;       /* the config_option_t this setting belongs to */
    const char *env;     /* AURA_…; NULL: a flag only (KIND_SWITCH) */
    const char *flag;    /* without the leading "--" */
    const char *metavar;
    kind_t kind;
    const char *fallback;/* default, as text, parsed like any other value */
    long min, max;       /* KIND_INT; KIND_SECRET: min length when set */
    const char *choices; /* KIND_CHOICE: space-separated */
    const char *help;
    size_t offset;       /* of the field in aura_config_t */
    size_t size;         /* of the field; 0: stored elsewhere */
} setting_t;

/*  Where a setting is stored: an int, or a char array. */
#define INT_FIELD(name) offsetof (aura_config_t, name), sizeof (int)
#define BOOL_FIELD(name) offsetof (aura_config_t, name), sizeof (bool)
#define TEXT_FIELD(name) \
    offsetof (aura_config_t, name), sizeof ((aura_config_t *) 0)->name

static const setting_t s_settings[] = {
    { CONFIG_BROKER_FRONTEND, "AURA_BROKER_FRONTEND", "broker-frontend",
      "ENDPOINT", KIND_ENDPOINT, "tcp://127.0.0.1:7701", 0, 0, NULL,
      "broker request/reply socket (ROUTER)", TEXT_FIELD (broker_frontend) },
    { CONFIG_BROKER_JOBS, "AURA_BROKER_JOBS", "broker-jobs", "ENDPOINT",
      KIND_ENDPOINT, "tcp://127.0.0.1:7702", 0, 0, NULL,
      "broker job dispatch socket (PUSH)", TEXT_FIELD (broker_jobs) },
    { CONFIG_BROKER_EVENTS, "AURA_BROKER_EVENTS", "broker-events",
      "ENDPOINT", KIND_ENDPOINT, "tcp://127.0.0.1:7703", 0, 0, NULL,
      "broker worker-event socket (PULL)", TEXT_FIELD (broker_events) },
    { CONFIG_BROKER_PUBLISH, "AURA_BROKER_PUBLISH", "broker-publish",
      "ENDPOINT", KIND_ENDPOINT, "tcp://127.0.0.1:7704", 0, 0, NULL,
      "broker event fan-out socket (PUB)", TEXT_FIELD (broker_publish) },
    { CONFIG_HTTP_ADDR, "AURA_HTTP_ADDR", "http-addr", "HOST:PORT",
      KIND_HTTP_ADDR, "127.0.0.1:8080", 0, 0, NULL,
      "HTTP listen address; port 0 picks a free port", 0, 0 },
    { CONFIG_WORKER_SLOTS, "AURA_WORKER_SLOTS", "worker-slots", "N", KIND_INT,
      "1", 1, 64, NULL, "jobs this worker runs at once", INT_FIELD (worker_slots) },
    { CONFIG_HEARTBEAT_MS, "AURA_HEARTBEAT_MS", "heartbeat-ms", "MS",
      KIND_INT, "1000", 50, 60000, NULL, "worker heartbeat interval",
      INT_FIELD (heartbeat_ms) },
    { CONFIG_KEEPALIVE_S, "AURA_KEEPALIVE_S", "keepalive-s", "S", KIND_INT,
      "10", 1, 3600, NULL, "keepalive comment on idle event streams",
      INT_FIELD (keepalive_s) },
    { CONFIG_BROKER_TIMEOUT_MS, "AURA_BROKER_TIMEOUT_MS", "broker-timeout-ms",
      "MS", KIND_INT, "1500", 100, 60000, NULL,
      "how long to wait for the broker before answering 503",
      INT_FIELD (broker_timeout_ms) },
    { CONFIG_PIPELINE, "AURA_PIPELINE", "pipeline", "NAME", KIND_CHOICE,
      "media", 0, 0, "media synthetic",
      "pipeline that runs the jobs: media makes real videos, synthetic only "
      "takes time (tests, benchmarks)", TEXT_FIELD (pipeline) },
    { CONFIG_SYNTHETIC_STEP_MS, "AURA_SYNTHETIC_STEP_MS", "synthetic-step-ms",
      "MS", KIND_INT, "1000", 0, 600000, NULL,
      "duration of each step of the synthetic pipeline",
      INT_FIELD (synthetic_step_ms) },
    { CONFIG_SYNTHETIC_STEP_MS, "AURA_SYNTHETIC_REPORTS", "synthetic-reports",
      "N", KIND_INT, "4", 1, 100000, NULL,
      "progress reports per step of the synthetic pipeline",
      INT_FIELD (synthetic_reports) },
    { CONFIG_SYNTHETIC_FAIL_STEP, "AURA_SYNTHETIC_FAIL_STEP",
      "synthetic-fail-step", "STEP", KIND_STEP, "", 0, 0, NULL,
      "make the synthetic pipeline fail in this step (plan|tts|visuals|"
      "compose|render)", TEXT_FIELD (synthetic_fail_step) },
    { CONFIG_WORKER_ID, "AURA_WORKER_ID", "worker-id", "NAME", KIND_NAME, "",
      0, 0, NULL, "worker identity (default <hostname>-<pid>)",
      TEXT_FIELD (worker_id) },
    { CONFIG_DATA_DIR, "AURA_DATA_DIR", "data-dir", "DIR", KIND_PATH,
      "./var/data", 0, 0, NULL, "directory of the job journal (SQLite)",
      TEXT_FIELD (data_dir) },
    { CONFIG_ARTIFACT_DIR, "AURA_ARTIFACT_DIR", "artifact-dir", "DIR",
      KIND_PATH, "./var/artifacts", 0, 0, NULL,
      "directory of the jobs' outputs, one subdirectory per job (shared by "
      "workers and gateways)", TEXT_FIELD (artifact_dir) },
    { CONFIG_LEASE_MS, "AURA_LEASE_MS", "lease-ms", "MS", KIND_INT, "5000",
      100, 3600000, NULL,
      "a worker silent this long loses its jobs (they are re-queued)",
      INT_FIELD (lease_ms) },
    { CONFIG_MAX_ATTEMPTS, "AURA_MAX_ATTEMPTS", "max-attempts", "N", KIND_INT,
      "3", 1, 100, NULL, "attempts before a job whose workers vanish fails",
      INT_FIELD (max_attempts) },
    { CONFIG_RETENTION_H, "AURA_RETENTION_H", "retention-h", "HOURS",
      KIND_INT, "168", 1, 87600, NULL,
      "finished jobs older than this are pruned from the journal",
      INT_FIELD (retention_h) },
    { CONFIG_AUTH, "AURA_API_TOKEN", "api-token", "TOKEN", KIND_SECRET, "",
      16, 0, NULL,
      "bearer token that /api/* requires (unset: no auth; at least 16 "
      "characters; prefer the environment to the flag)", TEXT_FIELD (api_token) },
    { CONFIG_AUTH, "AURA_METRICS_TOKEN", "metrics-token", "TOKEN", KIND_SECRET,
      "", 16, 0, NULL, "bearer token that /metrics requires (unset: open)",
      TEXT_FIELD (metrics_token) },
    { CONFIG_AUTH, "AURA_EVENT_TOKEN_TTL_S", "event-token-ttl-s", "S", KIND_INT,
      "3600", 10, 604800, NULL,
      "lifetime of the signed token in a job's events link",
      INT_FIELD (event_token_ttl_s) },
    { CONFIG_AUTH, "AURA_CORS_ORIGINS", "cors-origins", "LIST", KIND_TEXT, "",
      0, 0, NULL,
      "origins allowed to call the API from a browser: comma-separated, or * "
      "(unset: same origin only)", TEXT_FIELD (cors_origins) },
    { CONFIG_LIMITS, "AURA_MAX_STREAMS", "max-streams", "N", KIND_INT, "20000",
      0, 1000000, NULL, "open event streams at most (0: no limit); beyond, 503",
      INT_FIELD (max_streams) },
    { CONFIG_LIMITS, "AURA_MAX_STREAMS_PER_IP", "max-streams-per-ip", "N",
      KIND_INT, "64", 0, 1000000, NULL,
      "open event streams per client address at most (0: no limit); beyond, "
      "429", INT_FIELD (max_streams_per_ip) },
    { CONFIG_LIMITS, "AURA_RATE_LIMIT", "rate-limit", "N", KIND_INT, "20", 0,
      1000000, NULL,
      "POSTs and stream opens per second per client address (0: no limit); "
      "beyond, 429", INT_FIELD (rate_limit) },
    { CONFIG_LIMITS, "AURA_RATE_BURST", "rate-burst", "N", KIND_INT, "60", 1,
      1000000, NULL, "requests a client address may make at once before the "
      "rate applies", INT_FIELD (rate_burst) },
    { CONFIG_LIMITS, "AURA_SSE_MAX_BACKLOG", "sse-max-backlog", "BYTES",
      KIND_INT, "262144", 4096, 67108864, NULL,
      "unsent bytes of an event stream before a client that takes nothing for "
      "1 s is disconnected (4 times that at any time); it reconnects and "
      "replays", INT_FIELD (sse_max_backlog) },
    { CONFIG_LIMITS, "AURA_REQUEST_TIMEOUT_S", "request-timeout-s", "S",
      KIND_INT, "30", 1, 3600, NULL,
      "a connection silent this long is closed (an event stream: one whose "
      "client takes none of its bytes for this long)",
      INT_FIELD (request_timeout_s) },
    { CONFIG_LIMITS, "AURA_HTTP_THREADS", "http-threads", "N", KIND_INT, "0", 0, 64,
      NULL, "threads serving HTTP connections (0: one per core)",
      INT_FIELD (http_threads) },
    { CONFIG_WEB_DIR, "AURA_WEB_DIR", "web-dir", "DIR", KIND_PATH,
      "./gateway/web/public", 0, 0, NULL, "directory of the web UI served at /",
      TEXT_FIELD (web_dir) },
    /* no environment variable: set in a shared environment file, it would
       turn every program into a check */
    { CONFIG_HEALTHCHECK, NULL, "healthcheck", NULL, KIND_SWITCH, "", 0, 0,
      NULL,
      "check the running program configured like this one, print one line "
      "and exit: 0 healthy, 1 not (container HEALTHCHECK, monitoring)",
      BOOL_FIELD (healthcheck) },
    { CONFIG_DRAIN_S, "AURA_DRAIN_S", "drain-s", "S", KIND_INT, "30", 1, 3600,
      NULL,
      "how long stopping workers may take to hand back their jobs before "
      "they are killed", INT_FIELD (drain_s) },
    { CONFIG_SUPERVISOR, "AURA_WORKERS", "workers", "N", KIND_INT, "0", 0, 256,
      NULL, "workers to run (0: one per core)", INT_FIELD (workers) },
    { CONFIG_SUPERVISOR, "AURA_BIN_DIR", "bin-dir", "DIR", KIND_TEXT, "", 0, 0,
      NULL,
      "directory of aura-broker, aura-gateway and aura-worker (unset: the "
      "directory of aura-up itself)", TEXT_FIELD (bin_dir) },
    { CONFIG_LOG, "AURA_LOG_LEVEL", "log-level", "LEVEL", KIND_LOG_LEVEL,
      "info", 0, 0, NULL, "debug|info|warn|error", 0, 0 },
    { CONFIG_LOG, "AURA_LOG_FORMAT", "log-format", "FORMAT", KIND_LOG_FORMAT,
      "text", 0, 0, NULL, "text|json", 0, 0 },
};

#define SETTING_COUNT (sizeof s_settings / sizeof s_settings[0])

bool
config_endpoint_valid (const char *endpoint)
{
    static const char *schemes[] = { "tcp://", "ipc://", "inproc://" };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen (schemes[i]);
        if (strncmp (endpoint, schemes[i], n) == 0 && endpoint[n] != '\0')
            return strlen (endpoint) < CONFIG_ENDPOINT_SIZE;
    }
    return false;
}

static int
s_parse_long (const char *text, long min, long max, long *value)
{
    /* strtol would skip leading blanks; a setting must not have any */
    if (!text || !((*text >= '0' && *text <= '9') || *text == '-'))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || v < min || v > max)
        return -EINVAL;
    *value = v;
    return 0;
}

int
config_parse_host_port (const char *text, char *host, size_t host_size,
                        int *port)
{
    if (!text)
        return -EINVAL;
    const char *colon;
    char address[64];
    if (text[0] == '[') {
        const char *close = strchr (text, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        size_t n = (size_t) (close - text - 1);
        if (n == 0 || n >= sizeof address)
            return -EINVAL;
        memcpy (address, text + 1, n);
        address[n] = '\0';
        colon = close + 1;
        struct in6_addr a6;
        if (inet_pton (AF_INET6, address, &a6) != 1)
            return -EINVAL;
    }
    else {
        colon = strrchr (text, ':');
        if (!colon)
            return -EINVAL;
        size_t n = (size_t) (colon - text);
        if (n == 0 || n >= sizeof address)
            return -EINVAL;
        memcpy (address, text, n);
        address[n] = '\0';
        struct in_addr a4;
        if (inet_pton (AF_INET, address, &a4) != 1)
            return -EINVAL;
    }
    long p;
    if (s_parse_long (colon + 1, 0, 65535, &p) < 0)
        return -EINVAL;
    if ((size_t) snprintf (host, host_size, "%s", address) >= host_size)
        return -EINVAL;
    *port = (int) p;
    return 0;
}

static bool
s_choice_valid (const char *choices, const char *value)
{
    size_t n = strlen (value);
    const char *p = choices;
    while (*p) {
        size_t len = strcspn (p, " ");
        if (len == n && n > 0 && strncmp (p, value, n) == 0)
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

/*  Stores one value into cfg. Returns 0, or -EINVAL with a reason in err
    (which never repeats a secret). */
static int
s_apply (aura_config_t *cfg, const setting_t *s, const char *value,
         const char *source, char *err, size_t err_size)
{
    char *field = s->size ? (char *) cfg + s->offset : NULL;
    bool copy = false; /* the value goes to the text field as it is */
    const char *why = NULL;
    long number = 0;

    switch (s->kind) {
    case KIND_ENDPOINT:
        if (!config_endpoint_valid (value))
            why = "expected tcp://…, ipc://… or inproc://…";
        copy = true;
        break;
    case KIND_HTTP_ADDR:
        if (config_parse_host_port (value, cfg->http_host,
                                    sizeof cfg->http_host, &cfg->http_port)
            < 0)
            why = "expected IPv4:PORT or [IPv6]:PORT with a numeric address";
        break;
    case KIND_INT:
        if (s_parse_long (value, s->min, s->max, &number) < 0)
            why = "expected an integer in range";
        else
            *(int *) field = (int) number;
        break;
    case KIND_CHOICE:
        if (!s_choice_valid (s->choices, value))
            why = "unknown value";
        copy = true;
        break;
    case KIND_STEP: {
        step_t step;
        if (*value && step_parse (value, &step) < 0)
            why = "expected plan, tts, visuals, compose or render";
        copy = true;
        break;
    }
    case KIND_NAME:
        if (strlen (value) >= s->size || strcspn (value, " \t\r\n") != strlen (value))
            why = "expected at most 64 characters without spaces";
        copy = true;
        break;
    case KIND_PATH:
        if (!*value)
            why = "expected a directory path";
        copy = true;
        break;
    case KIND_TEXT:
        copy = true;
        break;
    case KIND_SECRET: {
        /* printable ASCII without spaces: it travels in an HTTP header */
        size_t len = strlen (value);
        bool printable = true;
        for (size_t i = 0; i < len; i++)
            if (value[i] <= ' ' || value[i] > '~')
                printable = false;
        if (len > 0 && (len < (size_t) s->min || !printable))
            why = "expected at least 16 printable characters without spaces";
        copy = true;
        break;
    }
    case KIND_LOG_LEVEL:
        if (log_level_parse (value, &cfg->log_level) < 0)
            why = "expected debug, info, warn or error";
        break;
    case KIND_LOG_FORMAT:
        if (strcmp (value, "text") == 0)
            cfg->log_json = false;
        else if (strcmp (value, "json") == 0)
            cfg->log_json = true;
        else
            why = "expected text or json";
        break;
    case KIND_SWITCH:
        /* the default is "", a flag on the command line sets "yes" */
        *(bool *) field = *value != '\0';
        break;
    }

    if (!why && copy && (size_t) snprintf (field, s->size, "%s", value) >= s->size)
        why = "too long";
    if (why) {
        const char *shown = s->kind == KIND_SECRET ? "(hidden)" : value;
        if (s->kind == KIND_INT)
            snprintf (err, err_size, "invalid %s '%.80s' (from %s): %s %ld..%ld",
                      s->env, shown, source, why, s->min, s->max);
        else
            snprintf (err, err_size, "invalid %s '%.80s' (from %s): %s",
                      s->env, shown, source, why);
        return -EINVAL;
    }
    return 0;
}

static void
s_print_help (unsigned options, const char *program, const char *summary)
{
    printf ("Usage: %s [OPTION]...\n%s\n\n", program, summary);
    printf ("Every option can also be set through the environment variable "
            "shown;\na flag wins over the environment.\n\n");
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting_t *s = &s_settings[i];
        if (!(s->mask & options))
            continue;
        char left[64];
        if (s->kind == KIND_SWITCH) {
            snprintf (left, sizeof left, "--%s", s->flag);
            printf ("  %-34s %s\n", left, s->help);
            continue;
        }
        snprintf (left, sizeof left, "--%s=%s", s->flag, s->metavar);
        printf ("  %-34s %s\n  %-34s %s", left, s->help, "", s->env);
        if (*s->fallback)
            printf (", default %s", s->fallback);
        if (s->kind == KIND_INT)
            printf (" (%ld..%ld)", s->min, s->max);
        if (s->kind == KIND_CHOICE) {
            printf (" (");
            for (const char *c = s->choices; *c; c++)
                putchar (*c == ' ' ? '|' : *c);
            printf (")");
        }
        printf ("\n");
    }
    printf ("  %-34s %s\n  %-34s %s\n", "--help", "show this text and exit",
            "--version", "show the version and exit");
}

int
config_load (aura_config_t *cfg, unsigned options, const char *program,
             const char *summary, int argc, char **argv, char *err,
             size_t err_size)
{
    memset (cfg, 0, sizeof *cfg);
    err[0] = '\0';

    /* defaults for every setting, the program's or not */
    for (size_t i = 0; i < SETTING_COUNT; i++) {
        int rc = s_apply (cfg, &s_settings[i], s_settings[i].fallback,
                          "default", err, err_size);
        assert (rc == 0 && "a built-in default is invalid");
        (void) rc;
    }

    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting_t *s = &s_settings[i];
        const char *value = s->env ? getenv (s->env) : NULL;
        if (!(s->mask & options) || !value)
            continue;
        if (s_apply (cfg, s, value, "environment", err, err_size) < 0)
            return -EINVAL;
    }

    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_print_help (options, program, summary);
            return 1;
        }
        if (strcmp (arg, "--version") == 0) {
            printf ("%s %s\n", program, AURA_VERSION);
            return 1;
        }
        if (strncmp (arg, "--", 2) != 0) {
            snprintf (err, err_size, "unexpected argument '%.80s' (try --help)",
                      arg);
            return -EINVAL;
        }
        const char *name = arg + 2;
        const char *eq = strchr (name, '=');
        size_t name_len = eq ? (size_t) (eq - name) : strlen (name);
        const setting_t *s = NULL;
        for (size_t i = 0; i < SETTING_COUNT; i++) {
            if ((s_settings[i].mask & options)
                && strlen (s_settings[i].flag) == name_len
                && strncmp (s_settings[i].flag, name, name_len) == 0)
                s = &s_settings[i];
        }
        if (!s) {
            snprintf (err, err_size, "unknown option '%.80s' (try --help)", arg);
            return -EINVAL;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (s->kind == KIND_SWITCH) {
            if (value) {
                snprintf (err, err_size, "option --%s takes no value", s->flag);
                return -EINVAL;
            }
            value = "yes";
        }
        if (!value) {
            if (a + 1 >= argc) {
                snprintf (err, err_size, "option --%s needs a value", s->flag);
                return -EINVAL;
            }
            value = argv[++a];
        }
        char source[64];
        snprintf (source, sizeof source, "--%s", s->flag);
        if (s_apply (cfg, s, value, source, err, err_size) < 0)
            return -EINVAL;
    }

    if (!cfg->worker_id[0]) {
        char host[48] = "worker";
        if (gethostname (host, sizeof host) != 0)
            snprintf (host, sizeof host, "worker");
        host[sizeof host - 1] = '\0';
        snprintf (cfg->worker_id, sizeof cfg->worker_id, "%s-%ld", host,
                  (long) getpid ());
    }
    return 0;
}
