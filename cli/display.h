/*  display — what a person (or a script) sees of a job: its events as a
    progress line redrawn in place on a terminal, as plain lines for a
    pipe or a log, or as JSON lines; and the readable forms of a job and
    of a page of jobs. Everything that came from the server is cleaned of
    control characters before it reaches a terminal. */
#ifndef AURA_CLI_DISPLAY_H
#define AURA_CLI_DISPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum {
    DISPLAY_PLAIN,    /* one line per change, progress at most once a second */
    DISPLAY_TERMINAL, /* a progress line redrawn with \r and ANSI clear */
    DISPLAY_JSON,     /* {"id":…,"event":…,"data":{…}} per event */
} display_mode_t;

typedef struct display_t display_t;

/*  A display writing to out (stdout), and notices to stderr. color adds
    ANSI colours to the terminal mode. Returns NULL when memory runs out. */
display_t *display_new (FILE *out, display_mode_t mode, bool color);

/*  Ends a progress line still drawn, then frees the display; does
    nothing for NULL; sets *self_p to NULL. */
void display_destroy (display_t **self_p);

/*  Shows one event: id is its SSE id ("" if none), type its event name,
    data its parsed JSON (NULL when the data was not JSON, in which case
    raw is shown). Events whose numeric id is not above the last one
    shown are skipped, so a replay never repeats a line. */
void display_event (display_t *self, const char *id, const char *type,
                    const json_t *data, const char *raw);

/*  Writes one line to stderr ("aura: " is prepended), moving a progress
    line out of its way. */
void display_notice (display_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Ends a progress line still drawn with a newline. */
void display_finish (display_t *self);

/*  The display mode for stdout: JSON when asked, the terminal one when
    stdout is a terminal (and TERM is not "dumb"), plain otherwise. *color
    is set for the terminal mode unless NO_COLOR is set and not empty. */
display_mode_t display_mode_for (FILE *out, bool json, bool *color);

/*  Copies text to out (NUL-terminated, cut at a UTF-8 character
    boundary), replacing C0 and C1 control characters, which could move
    the cursor or change the terminal, with '?'. */
void display_clean (const char *text, char *out, size_t out_size);

/*  Writes the readable form of a job document (GET /api/jobs/{id}). */
void display_job (FILE *out, const json_t *job);

/*  Writes the readable form of a page of jobs (GET /api/jobs): one line
    per job, and how to get the next page. */
void display_job_page (FILE *out, const json_t *page);

/*  A byte count for people: "512 B", "1.5 KiB", "12.3 MiB". */
void display_bytes (long long bytes, char *out, size_t out_size);

#endif
