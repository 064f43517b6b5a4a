/*  log — text or JSON lines on stderr. */
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_program = "aura";
static log_level_t s_level = AURA_LOG_INFO;
static bool s_json;

static const char *s_level_names[] = {
    [AURA_LOG_DEBUG] = "debug",
    [AURA_LOG_INFO] = "info",
    [AURA_LOG_WARN] = "warn",
    [AURA_LOG_ERROR] = "error",
};

void
log_init (const char *program, log_level_t level, bool json)
{
    s_program = program;
    s_level = level;
    s_json = json;
}

int
log_level_parse (const char *name, log_level_t *level)
{
    for (int i = AURA_LOG_DEBUG; i <= AURA_LOG_ERROR; i++) {
        if (name && strcmp (name, s_level_names[i]) == 0) {
            *level = (log_level_t) i;
            return 0;
        }
    }
    return -EINVAL;
}

bool
log_enabled (log_level_t level)
{
    return level >= s_level;
}

void
log_write (log_level_t level, const char *cid, const char *job,
           const char *fmt, ...)
{
    if (!log_enabled (level))
        return;
    int saved_errno = errno;

    char message[2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char when[64];
    snprintf (when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
              tm.tm_min, tm.tm_sec, (int) (now.tv_nsec / 1000000));

    bool has_cid = cid && *cid;
    bool has_job = job && *job;
    if (s_json) {
        /* JSON strings must be UTF-8; a message that is not (a peer's
           bytes quoted in a warning) is logged with those bytes as '?' */
        json_t *probe = json_string (message);
        if (!probe)
            for (char *c = message; *c; c++)
                if ((unsigned char) *c >= 0x80)
                    *c = '?';
        json_decref (probe);
        json_t *line = json_pack ("{s:s, s:s, s:s, s:s}", "ts", when, "level",
                                  s_level_names[level], "program", s_program,
                                  "msg", message);
        if (line && has_cid)
            json_object_set_new (line, "cid", json_string (cid));
        if (line && has_job)
            json_object_set_new (line, "job", json_string (job));
        char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
        if (text)
            fprintf (stderr, "%s\n", text);
        free (text);
        json_decref (line);
    }
    else {
        fprintf (stderr, "%s %-5s %s: %s%s%s%s%s\n", when, s_level_names[level],
                 s_program, message, has_cid ? " cid=" : "",
                 has_cid ? cid : "", has_job ? " job=" : "",
                 has_job ? job : "");
    }
    errno = saved_errno;
}
