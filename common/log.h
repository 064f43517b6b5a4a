/*  log — one line per event on stderr, as text or as JSON lines
    (AURA_LOG_FORMAT=json). Thread-safe: a line is written with one call. */
#ifndef AURA_LOG_H
#define AURA_LOG_H

#include <stdbool.h>

typedef enum {
    AURA_LOG_DEBUG = 0,
    AURA_LOG_INFO,
    AURA_LOG_WARN,
    AURA_LOG_ERROR
} log_level_t;

/*  Sets the program name shown on every line, the lowest level written and
    the format. Call once at start, before other threads exist. */
void log_init (const char *program, log_level_t level, bool json);

/*  Parses "debug", "info", "warn" or "error". Returns 0 or -EINVAL. */
int log_level_parse (const char *name, log_level_t *level);

bool log_enabled (log_level_t level);

/*  Writes one line. cid (correlation id) and job may be NULL or empty; in
    JSON they become their own keys, in text they are appended as
    "cid=… job=…". */
void log_write (log_level_t level, const char *cid, const char *job,
                const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

#define log_debug(...) log_write (AURA_LOG_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_write (AURA_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_write (AURA_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_write (AURA_LOG_ERROR, NULL, NULL, __VA_ARGS__)

#endif
