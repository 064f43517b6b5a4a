/*  display — rendering of job events and job documents. The terminal mode
    keeps one progress line at the bottom: a lasting line (a step that
    ended, a warning) first clears it, prints itself, then redraws it. */
#include "display.h"

#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define S_STEP_SLOTS 8
#define S_TEXT_SIZE 512

/*  ANSI attributes, used only when colour is on. */
#define S_BOLD "\033[1m"
#define S_DIM "\033[2m"
#define S_RED "\033[31m"
#define S_GREEN "\033[32m"
#define S_YELLOW "\033[33m"
#define S_CYAN "\033[36m"
#define S_RESET "\033[0m"
/*  Erases from the cursor to the end of the line. */
#define S_CLEAR_EOL "\033[K"

typedef struct {
    char name[16];
    int64_t started_us; /* ts of its step-status Running */
} s_step_t;

struct display_t {
    FILE *out;
    display_mode_t mode;
    bool color;
    bool line_drawn; /* terminal: the progress line is on screen */
    bool finished;   /* a terminal event was shown: no more redraws */
    bool have_last_id;
    unsigned long long last_id;
    /* what the progress line shows */
    char status[16];
    char step[16];
    double percent;
    char message[S_TEXT_SIZE];
    long eta_s;          /* -1: unknown */
    long queue_position; /* -1: not queued */
    long attempt;
    s_step_t steps[S_STEP_SLOTS];
    double progress_printed_s; /* plain: monotonic time of the last progress
                                  line */
};

static double
s_now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
display_clean (const char *text, char *out, size_t out_size)
{
    assert (out_size > 0);
    size_t n = 0;
    const unsigned char *c = (const unsigned char *)(text ? text : "");
    while (*c) {
        size_t char_len = 1;
        if (*c >= 0xC0)
            while (char_len < 4 && (c[char_len] & 0xC0) == 0x80)
                char_len++;
        if (n + char_len >= out_size)
            break;
        if (*c < 0x20 || *c == 0x7F
            || (*c == 0xC2 && char_len == 2 && c[1] < 0xA0))
            out[n++] = '?'; /* C0, DEL, C1 (U+0080..U+009F) */
        else if (*c >= 0x80 && *c < 0xC0)
            out[n++] = '?'; /* a stray continuation byte */
        else {
            memcpy (out + n, c, char_len);
            n += char_len;
        }
        c += char_len;
    }
    out[n] = '\0';
}

/*  Number of characters (code points) of UTF-8 text. */
static size_t
s_width (const char *text)
{
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if ((*c & 0xC0) != 0x80)
            n++;
    return n;
}

/*  Cuts UTF-8 text (in a buffer of size bytes) in place to at most max
    characters, ending it with "…" when something was cut. */
static void
s_truncate (char *text, size_t size, size_t max)
{
    static const char ellipsis[] = "\xE2\x80\xA6"; /* U+2026 */
    if (s_width (text) <= max)
        return;
    if (max == 0) {
        text[0] = '\0';
        return;
    }
    /* keep max - 1 characters and room for the ellipsis */
    size_t chars = 0, cut = 0;
    for (size_t i = 0; text[i] && chars < max - 1;) {
        size_t end = i + 1;
        while (((unsigned char)text[end] & 0xC0) == 0x80)
            end++;
        if (end + sizeof ellipsis > size)
            break;
        chars++;
        cut = i = end;
    }
    memcpy (text + cut, ellipsis, sizeof ellipsis);
}

void
display_bytes (long long bytes, char *out, size_t out_size)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    if (bytes < 1024) {
        snprintf (out, out_size, "%lld B", bytes);
        return;
    }
    double value = (double)bytes;
    size_t unit = 0;
    value /= 1024;
    while (value >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024;
        unit++;
    }
    snprintf (out, out_size, "%.1f %s", value, units[unit]);
}

static void
s_eta (long seconds, char *out, size_t out_size)
{
    if (seconds < 60)
        snprintf (out, out_size, "%lds", seconds);
    else if (seconds < 3600)
        snprintf (out, out_size, "%ldm%02lds", seconds / 60, seconds % 60);
    else
        snprintf (out, out_size, "%ldh%02ldm", seconds / 3600,
                  seconds % 3600 / 60);
}

display_mode_t
display_mode_for (FILE *out, bool json, bool *color)
{
    *color = false;
    if (json)
        return DISPLAY_JSON;
    const char *term = getenv ("TERM");
    if (!isatty (fileno (out)) || (term && strcmp (term, "dumb") == 0))
        return DISPLAY_PLAIN;
    const char *no_color = getenv ("NO_COLOR");
    *color = !(no_color && no_color[0]);
    return DISPLAY_TERMINAL;
}

display_t *
display_new (FILE *out, display_mode_t mode, bool color)
{
    display_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->out = out;
    self->mode = mode;
    self->color = color && mode == DISPLAY_TERMINAL;
    self->eta_s = -1;
    self->queue_position = -1;
    self->progress_printed_s = -1e9;
    return self;
}

void
display_destroy (display_t **self_p)
{
    assert (self_p);
    display_t *self = *self_p;
    if (!self)
        return;
    display_finish (self);
    free (self);
    *self_p = NULL;
}

void
display_finish (display_t *self)
{
    assert (self);
    if (self->line_drawn) {
        fputs ("\n", self->out);
        self->line_drawn = false;
    }
    fflush (self->out);
}

/* ------------------------------------------------------- JSON helpers */

static const char *
s_get_str (const json_t *object, const char *key)
{
    const char *value = json_string_value (json_object_get (object, key));
    return value ? value : "";
}

static double
s_get_num (const json_t *object, const char *key, double fallback)
{
    const json_t *value = json_object_get (object, key);
    return json_is_number (value) ? json_number_value (value) : fallback;
}

/*  A cleaned copy of object[key], for printing. */
static void
s_get_clean (const json_t *object, const char *key, char *out, size_t out_size)
{
    display_clean (s_get_str (object, key), out, out_size);
}

/* ---------------------------------------------------- progress line */

static const char *
s_color (const display_t *self, const char *attribute)
{
    return self->color ? attribute : "";
}

static int
s_terminal_width (const display_t *self)
{
    /* narrower than 20 columns the line wraps whatever is done */
    struct winsize size;
    if (ioctl (fileno (self->out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col < 20 ? 20 : size.ws_col;
    return 80;
}

/*  Redraws the progress line: label, bar, percent, message, ETA, cut to
    one column less than the terminal so that it never wraps. */
static void
s_draw (display_t *self)
{
    if (self->mode != DISPLAY_TERMINAL || self->finished)
        return;
    int columns = s_terminal_width (self) - 1;

    char label[24];
    if (strcmp (self->status, "Queued") == 0)
        snprintf (label, sizeof label, "queued");
    else
        snprintf (label, sizeof label, "%s",
                  self->step[0] ? self->step : "starting");
    s_truncate (label, sizeof label, 10);

    char tail[S_TEXT_SIZE];
    char eta[32] = "";
    if (self->eta_s >= 0 && strcmp (self->status, "Queued") != 0) {
        char text[24];
        s_eta (self->eta_s, text, sizeof text);
        snprintf (eta, sizeof eta, "  ETA %s", text);
    }
    if (strcmp (self->status, "Queued") == 0 && self->queue_position >= 0)
        snprintf (tail, sizeof tail, "position %ld in the queue",
                  self->queue_position);
    else
        snprintf (tail, sizeof tail, "%s", self->message);

    double percent = self->percent < 0     ? 0
                     : self->percent > 100 ? 100
                                           : self->percent;
    /* LABEL [BAR] NNN%  TAIL ETA: the label takes 8 columns at least, the
       percent 5, the gap before the tail 2, the bar 3 more than itself */
    int label_width = (int)s_width (label) < 8 ? 8 : (int)s_width (label);
    int fixed = label_width + 5 + 2;
    int bar_width = columns / 4 > 30 ? 30 : columns / 4;
    if (columns - fixed - (bar_width + 3) < 10)
        bar_width = columns - fixed - 3 - 10;
    if (bar_width < 5)
        bar_width = 0;
    int room = columns - fixed - (bar_width ? bar_width + 3 : 0);
    int eta_width = (int)s_width (eta);
    if (room - eta_width < 8)
        eta[0] = '\0';
    else
        room -= eta_width;
    s_truncate (tail, sizeof tail, room > 0 ? (size_t)room : 0);

    char bar[40] = "";
    int filled = (int)(percent / 100.0 * bar_width + 0.5);
    for (int i = 0; i < bar_width; i++)
        bar[i] = i < filled ? '=' : ' ';
    if (filled > 0 && filled < bar_width)
        bar[filled - 1] = '>';
    bar[bar_width] = '\0';

    fprintf (self->out, "\r%s%-8s%s", s_color (self, S_CYAN), label,
             s_color (self, S_RESET));
    if (bar_width)
        fprintf (self->out, " [%s%s%s]", s_color (self, S_GREEN), bar,
                 s_color (self, S_RESET));
    fprintf (self->out, " %3d%%", (int)percent);
    if (tail[0] || eta[0])
        fprintf (self->out, "  %s%s%s%s", tail, s_color (self, S_DIM), eta,
                 s_color (self, S_RESET));
    fputs (S_CLEAR_EOL, self->out);
    fflush (self->out);
    self->line_drawn = true;
}

/*  Prints one lasting line: over the progress line on a terminal (which
    is drawn again below it), as it is elsewhere. */
static void s_line (display_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_line (display_t *self, const char *fmt, ...)
{
    if (self->line_drawn) {
        fputs ("\r" S_CLEAR_EOL, self->out);
        self->line_drawn = false;
    }
    va_list ap;
    va_start (ap, fmt);
    vfprintf (self->out, fmt, ap);
    va_end (ap);
    fputs ("\n", self->out);
    s_draw (self);
    fflush (self->out);
}

void
display_notice (display_t *self, const char *fmt, ...)
{
    assert (self);
    bool redraw = self->line_drawn;
    if (self->line_drawn) {
        fputs ("\r" S_CLEAR_EOL, self->out);
        fflush (self->out);
        self->line_drawn = false;
    }
    char text[S_TEXT_SIZE];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    fprintf (stderr, "aura: %s\n", text);
    fflush (stderr);
    if (redraw)
        s_draw (self);
}

/* ----------------------------------------------------------- events */

static s_step_t *
s_step_slot (display_t *self, const char *name)
{
    for (int i = 0; i < S_STEP_SLOTS; i++)
        if (strcmp (self->steps[i].name, name) == 0)
            return &self->steps[i];
    for (int i = 0; i < S_STEP_SLOTS; i++)
        if (!self->steps[i].name[0]) {
            snprintf (self->steps[i].name, sizeof self->steps[i].name, "%s",
                      name);
            return &self->steps[i];
        }
    return NULL;
}

/*  Parses an SSE id that is a decimal number. */
static bool
s_numeric_id (const char *id, unsigned long long *value)
{
    if (!id || !*id)
        return false;
    unsigned long long v = 0;
    for (const char *c = id; *c; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (unsigned long long)(*c - '0');
    }
    *value = v;
    return true;
}

static void
s_show_json (display_t *self, const char *id, const char *type,
             const json_t *data, const char *raw)
{
    unsigned long long number;
    json_t *line = json_object ();
    if (!line)
        return;
    json_object_set_new (line, "id",
                         s_numeric_id (id, &number)
                             ? json_integer ((json_int_t)number)
                         : id && *id ? json_string (id)
                                     : json_null ());
    json_object_set_new (line, "event", json_string (type));
    json_object_set_new (line, "data",
                         data ? json_deep_copy (data) : json_string (raw));
    char *text = json_dumps (line, JSON_COMPACT | JSON_PRESERVE_ORDER
                                       | JSON_REAL_PRECISION (15));
    json_decref (line);
    if (text) {
        fprintf (self->out, "%s\n", text);
        free (text);
    }
    fflush (self->out);
}

static void
s_on_job_status (display_t *self, const json_t *data)
{
    char status[16];
    s_get_clean (data, "status", status, sizeof status);
    long attempt = (long)s_get_num (data, "attempt", 1);
    long position = (long)s_get_num (data, "queuePosition", -1);
    bool changed =
        strcmp (status, self->status) != 0 || attempt != self->attempt;
    bool first = !self->status[0];
    snprintf (self->status, sizeof self->status, "%s", status);
    self->attempt = attempt;
    self->queue_position = position;
    self->percent = s_get_num (data, "percent", self->percent);
    if (strcmp (status, "Queued") == 0 || strcmp (status, "Running") == 0)
        self->finished = false; /* after an earlier attempt's end: a retry */
    if (strcmp (status, "Queued") == 0)
        self->step[0] = '\0';

    if (self->mode == DISPLAY_PLAIN) {
        if (!changed)
            return;
        char details[64] = "";
        if (strcmp (status, "Queued") == 0 && position >= 0)
            snprintf (details, sizeof details, " (position %ld%s)", position,
                      attempt > 1 ? ", again" : "");
        if (attempt > 1 && strcmp (status, "Running") == 0)
            snprintf (details, sizeof details, " (attempt %ld)", attempt);
        s_line (self, "status: %s%s", status, details);
        return;
    }
    /* the terminal shows the status on the progress line; a job sent
       round again deserves a line of its own */
    if (changed && !first && attempt > 1 && strcmp (status, "Queued") == 0)
        s_line (self, "%sattempt %ld: queued again%s", s_color (self, S_YELLOW),
                attempt, s_color (self, S_RESET));
    s_draw (self);
}

static void
s_on_step_status (display_t *self, const json_t *data)
{
    char step[16], status[16];
    s_get_clean (data, "step", step, sizeof step);
    s_get_clean (data, "status", status, sizeof status);
    int64_t ts = (int64_t)s_get_num (data, "ts", 0);
    s_step_t *slot = s_step_slot (self, step);

    char took[32] = "";
    if (strcmp (status, "Running") == 0) {
        if (slot)
            slot->started_us = ts;
        snprintf (self->step, sizeof self->step, "%s", step);
        self->message[0] = '\0';
        self->eta_s = -1;
    }
    else if (slot && slot->started_us > 0 && ts >= slot->started_us
             && strcmp (status, "Skipped") != 0)
        snprintf (took, sizeof took, " in %.1f s",
                  (double)(ts - slot->started_us) / 1e6);

    if (self->mode == DISPLAY_PLAIN) {
        s_line (self, "step %s: %s%s", step, status, took);
        return;
    }
    if (strcmp (status, "Running") == 0) {
        s_draw (self);
        return;
    }
    const char *color = strcmp (status, "Done") == 0      ? S_GREEN
                        : strcmp (status, "Failed") == 0  ? S_RED
                        : strcmp (status, "Skipped") == 0 ? S_DIM
                                                          : S_YELLOW;
    s_line (self, "%-8s %s%-8s%s%s", step, s_color (self, color), status,
            s_color (self, S_RESET), took);
}

static void
s_on_step_progress (display_t *self, const json_t *data)
{
    s_get_clean (data, "step", self->step, sizeof self->step);
    s_get_clean (data, "message", self->message, sizeof self->message);
    self->percent = s_get_num (data, "percent", self->percent);
    self->eta_s = (long)s_get_num (data, "etaSeconds", -1);
    if (self->mode == DISPLAY_TERMINAL) {
        s_draw (self);
        return;
    }
    double now = s_now_s ();
    if (now - self->progress_printed_s < 1.0)
        return;
    self->progress_printed_s = now;
    char eta[48] = "";
    if (self->eta_s >= 0) {
        char text[24];
        s_eta (self->eta_s, text, sizeof text);
        snprintf (eta, sizeof eta, ", ETA %s", text);
    }
    s_line (self, "step %s: %.0f%% (overall %.1f%%) %s%s", self->step,
            s_get_num (data, "stepPercent", 0), self->percent, self->message,
            eta);
}

static void
s_on_notice_event (display_t *self, const char *type, const json_t *data)
{
    char code[64], message[S_TEXT_SIZE];
    s_get_clean (data, "code", code, sizeof code);
    s_get_clean (data, "message", message, sizeof message);
    bool warning = strcmp (type, "warning") == 0;
    bool retryable = json_is_true (json_object_get (data, "retryable"));
    s_line (self, "%s%s:%s %s%s%s%s",
            s_color (self, warning ? S_YELLOW : S_RED), type,
            s_color (self, S_RESET), code, code[0] ? ": " : "", message,
            retryable ? " (retryable)" : "");
}

static void
s_on_completed (display_t *self, const json_t *data)
{
    const json_t *output = json_object_get (data, "output");
    const json_t *artifacts = json_object_get (data, "artifacts");
    char job[32];
    s_get_clean (data, "jobId", job, sizeof job);
    self->percent = 100;
    self->finished = true;
    char summary[S_TEXT_SIZE] = "";
    long long size_bytes = (long long)s_get_num (output, "sizeBytes", 0);
    double seconds = s_get_num (output, "durationSeconds", 0);
    if (size_bytes > 0 || seconds > 0) {
        char size[32];
        display_bytes (size_bytes, size, sizeof size);
        snprintf (summary, sizeof summary, ": a %.1f s video, %s", seconds,
                  size);
    }
    s_line (self, "%scompleted%s%s", s_color (self, S_GREEN S_BOLD),
            s_color (self, S_RESET), summary);
    size_t index;
    const json_t *artifact;
    json_array_foreach (artifacts, index, artifact)
    {
        char name[256], size[32];
        s_get_clean (artifact, "name", name, sizeof name);
        display_bytes ((long long)s_get_num (artifact, "sizeBytes", 0), size,
                       sizeof size);
        s_line (self, "  file %s (%s)", name, size);
    }
    if (json_array_size (artifacts) > 0 && self->mode == DISPLAY_TERMINAL)
        s_line (self, "fetch them with: aura download %s", job);
}

static void
s_on_failed (display_t *self, const json_t *data)
{
    const json_t *error = json_object_get (data, "error");
    char step[16], code[64], message[S_TEXT_SIZE];
    s_get_clean (data, "step", step, sizeof step);
    s_get_clean (error, "code", code, sizeof code);
    s_get_clean (error, "message", message, sizeof message);
    self->finished = true;
    s_line (self, "%sfailed%s in step %s: %s%s%s", s_color (self, S_RED S_BOLD),
            s_color (self, S_RESET), step[0] ? step : "?", code,
            code[0] ? ": " : "", message);
}

static void
s_on_cancelled (display_t *self, const json_t *data)
{
    char step[16];
    s_get_clean (data, "step", step, sizeof step);
    self->finished = true;
    s_line (self, "%scancelled%s in step %s", s_color (self, S_YELLOW S_BOLD),
            s_color (self, S_RESET), step[0] ? step : "?");
}

void
display_event (display_t *self, const char *id, const char *type,
               const json_t *data, const char *raw)
{
    assert (self);
    unsigned long long number;
    if (s_numeric_id (id, &number)) {
        if (self->have_last_id && number <= self->last_id)
            return;
        self->have_last_id = true;
        self->last_id = number;
    }
    if (self->mode == DISPLAY_JSON) {
        s_show_json (self, id, type, data, raw);
        return;
    }
    if (!json_is_object (data)) {
        char text[S_TEXT_SIZE];
        display_clean (raw, text, sizeof text);
        s_line (self, "%s: %s", type, text);
        return;
    }
    if (strcmp (type, "job-status") == 0)
        s_on_job_status (self, data);
    else if (strcmp (type, "step-status") == 0)
        s_on_step_status (self, data);
    else if (strcmp (type, "step-progress") == 0)
        s_on_step_progress (self, data);
    else if (strcmp (type, "warning") == 0 || strcmp (type, "error") == 0)
        s_on_notice_event (self, type, data);
    else if (strcmp (type, "job-completed") == 0)
        s_on_completed (self, data);
    else if (strcmp (type, "job-failed") == 0)
        s_on_failed (self, data);
    else if (strcmp (type, "job-cancelled") == 0)
        s_on_cancelled (self, data);
    /* other event types are for other clients */
}

/* ------------------------------------------------------ job documents */

void
display_job (FILE *out, const json_t *job)
{
    char text[S_TEXT_SIZE], status[16], phase[32];
    s_get_clean (job, "jobId", text, sizeof text);
    fprintf (out, "Job       %s\n", text);
    s_get_clean (job, "title", text, sizeof text);
    fprintf (out, "Title     %s\n", text);
    s_get_clean (job, "status", status, sizeof status);
    s_get_clean (job, "phase", phase, sizeof phase);
    fprintf (out, "Status    %s, %s %.0f%%, attempt %.0f\n", status, phase,
             s_get_num (job, "percent", 0), s_get_num (job, "attempt", 1));
    long position = (long)s_get_num (job, "queuePosition", -1);
    if (position >= 0)
        fprintf (out, "Queue     position %ld\n", position);

    fputs ("Steps    ", out);
    size_t index;
    const json_t *step;
    json_array_foreach (json_object_get (job, "steps"), index, step)
    {
        char name[16], step_status[16];
        s_get_clean (step, "name", name, sizeof name);
        s_get_clean (step, "status", step_status, sizeof step_status);
        fprintf (out, "%s %s %s", index ? "," : "", name, step_status);
    }
    fputs ("\n", out);

    static const char *const times[][2] = { { "createdAt", "Created" },
                                            { "startedAt", "Started" },
                                            { "finishedAt", "Finished" } };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        s_get_clean (job, times[i][0], text, sizeof text);
        if (text[0])
            fprintf (out, "%-9s %s\n", times[i][1], text);
    }
    const json_t *error = json_object_get (job, "error");
    if (json_is_object (error)) {
        char code[64];
        s_get_clean (error, "code", code, sizeof code);
        s_get_clean (error, "message", text, sizeof text);
        fprintf (out, "Error     %s: %s\n", code, text);
    }
    const json_t *output = json_object_get (job, "output");
    if (json_is_object (output) && s_get_num (output, "sizeBytes", 0) > 0) {
        char size[32];
        display_bytes ((long long)s_get_num (output, "sizeBytes", 0), size,
                       sizeof size);
        fprintf (out, "Video     %.1f s, %s\n",
                 s_get_num (output, "durationSeconds", 0), size);
    }
    const json_t *artifact;
    json_array_foreach (json_object_get (job, "artifacts"), index, artifact)
    {
        char size[32];
        s_get_clean (artifact, "name", text, sizeof text);
        display_bytes ((long long)s_get_num (artifact, "sizeBytes", 0), size,
                       sizeof size);
        fprintf (out, "%-9s %s (%s)\n", index ? "" : "Files", text, size);
    }
    fprintf (out, "Events    %.0f\n", s_get_num (job, "lastEventId", 0));
}

void
display_job_page (FILE *out, const json_t *page)
{
    const json_t *items = json_object_get (page, "items");
    if (json_array_size (items) == 0) {
        fputs ("no jobs\n", stderr);
        return;
    }
    fprintf (out, "%-26s  %-8s  %4s  %-24s  %s\n", "ID", "STATUS", "DONE",
             "CREATED", "TITLE");
    size_t index;
    const json_t *item;
    json_array_foreach (items, index, item)
    {
        char id[32], status[16], created[32], title[S_TEXT_SIZE];
        s_get_clean (item, "jobId", id, sizeof id);
        s_get_clean (item, "status", status, sizeof status);
        s_get_clean (item, "createdAt", created, sizeof created);
        s_get_clean (item, "title", title, sizeof title);
        fprintf (out, "%-26s  %-8s  %3.0f%%  %-24s  %s\n", id, status,
                 s_get_num (item, "percent", 0), created, title);
    }
    const char *cursor =
        json_string_value (json_object_get (page, "nextCursor"));
    if (cursor && *cursor) {
        char clean[64];
        display_clean (cursor, clean, sizeof clean);
        fflush (out);
        fprintf (stderr, "more: aura list --cursor %s\n", clean);
    }
}
