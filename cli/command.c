/*  command — parsing of aura's command line, table-driven: every option
    names the commands it applies to, so `--help` of a command and the
    check of what may be combined come from the same rows. */
#include "command.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_BIT(kind) (1u << (kind))
#define S_JOB_COMMANDS                                                         \
    (S_BIT (COMMAND_DEMO) | S_BIT (COMMAND_SUBMIT) | S_BIT (COMMAND_FOLLOW)    \
     | S_BIT (COMMAND_GET) | S_BIT (COMMAND_LIST) | S_BIT (COMMAND_CANCEL)     \
     | S_BIT (COMMAND_RETRY) | S_BIT (COMMAND_DOWNLOAD))
#define S_ANY (S_JOB_COMMANDS | S_BIT (COMMAND_NONE) | S_BIT (COMMAND_HELP))

typedef enum { S_TEXT, S_FLAG, S_HELP, S_VERSION } s_option_kind_t;

typedef struct {
    const char *name;
    s_option_kind_t kind;
    unsigned commands; /* S_BIT of every command it applies to */
    size_t offset;     /* of its const char * or bool in command_t */
} s_option_t;

#define S_FIELD(field) offsetof (command_t, field)

static const s_option_t s_options[] = {
    { "url", S_TEXT, S_ANY, S_FIELD (url) },
    { "token", S_TEXT, S_ANY, S_FIELD (token) },
    { "json", S_FLAG, S_ANY, S_FIELD (json) },
    { "help", S_HELP, S_ANY, 0 },
    { "version", S_VERSION, S_ANY, 0 },
    { "follow", S_FLAG, S_BIT (COMMAND_SUBMIT) | S_BIT (COMMAND_RETRY),
      S_FIELD (follow) },
    { "no-follow", S_FLAG, S_BIT (COMMAND_DEMO), S_FIELD (no_follow) },
    { "topic", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (topic) },
    { "audience", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (audience) },
    { "goal", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (goal) },
    { "tone", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (tone) },
    { "language", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (language) },
    { "duration", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (duration) },
    { "aspect", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (aspect) },
    { "res", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (res) },
    { "quality", S_TEXT, S_BIT (COMMAND_SUBMIT), S_FIELD (quality) },
    { "status", S_TEXT, S_BIT (COMMAND_LIST), S_FIELD (status) },
    { "limit", S_TEXT, S_BIT (COMMAND_LIST), S_FIELD (limit) },
    { "cursor", S_TEXT, S_BIT (COMMAND_LIST), S_FIELD (cursor) },
};

#define S_OPTION_COUNT (sizeof s_options / sizeof s_options[0])

static const char *const s_names[COMMAND_KIND_COUNT] = {
    [COMMAND_NONE] = "",
    [COMMAND_HELP] = "help",
    [COMMAND_VERSION] = "",
    [COMMAND_DEMO] = "demo",
    [COMMAND_SUBMIT] = "submit",
    [COMMAND_FOLLOW] = "follow",
    [COMMAND_GET] = "get",
    [COMMAND_LIST] = "list",
    [COMMAND_CANCEL] = "cancel",
    [COMMAND_RETRY] = "retry",
    [COMMAND_DOWNLOAD] = "download",
};

#define S_COMMON_OPTIONS                                                       \
    "Options every command takes:\n"                                           \
    "  --url URL      the gateway; AURA_URL, default " AURA_DEFAULT_URL "\n"   \
    "  --token TOKEN  API token, sent as Authorization: Bearer;\n"             \
    "                 AURA_API_TOKEN (prefer it: a flag shows in ps)\n"        \
    "  --json         print JSON instead of text\n"                            \
    "  --help         show this text\n"

#define S_EXIT_STATUS                                                          \
    "Exit status:\n"                                                           \
    "  0    done; for a followed job: it completed\n"                          \
    "  1    the followed job failed\n"                                         \
    "  2    usage error, or the server refused the request (4xx: an\n"         \
    "       invalid field, an unknown job, a conflict, a missing or\n"         \
    "       wrong token)\n"                                                    \
    "  3    the followed job was cancelled\n"                                  \
    "  4    the server could not be reached, or answered 429, 5xx or\n"        \
    "       something unexpected; or its event stream stayed lost\n"           \
    "       through 5 reconnect attempts\n"                                    \
    "  130  interrupted\n"

#define S_FOLLOW_TEXT                                                          \
    "On a terminal a progress line is redrawn in place (phase, percent,\n"     \
    "message, ETA) and each step that ends leaves a line; NO_COLOR turns\n"    \
    "colour off. Otherwise one line is printed per status or step\n"           \
    "change, and progress at most once a second. With --json each event\n"     \
    "is one line, {\"id\":N,\"event\":\"...\",\"data\":{...}}. Events are\n"   \
    "shown from the job's first one on. A dropped connection is resumed\n"     \
    "with Last-Event-ID after 1, 2, 4, 8 and 16 s; after 5 failed\n"           \
    "attempts in a row aura gives up with status 4.\n"

static const char s_usage_overview[] =
    "Usage: aura [OPTION]... COMMAND [ARG]...\n"
    "Submit narrated-video jobs to an Aura gateway, watch them live and\n"
    "fetch the videos they make.\n"
    "\n"
    "Commands:\n"
    "  demo               submit the built-in demo brief and follow it\n"
    "  submit --topic T   submit a job (more: aura submit --help)\n"
    "  follow ID          watch a job live until it ends\n"
    "  get ID             show a job\n"
    "  list               list jobs, newest first\n"
    "  cancel ID          cancel a queued or running job\n"
    "  retry ID           run a failed or cancelled job again\n"
    "  download ID [DIR]  fetch the files of a finished job\n"
    "  help [COMMAND]     show the help of a command\n"
    "\n" S_COMMON_OPTIONS "  --version      show the version\n"
    "\n" S_EXIT_STATUS "\n"
    "Environment: AURA_URL, AURA_API_TOKEN, NO_COLOR.\n";

static const char s_usage_demo[] =
    "Usage: aura demo [--no-follow] [OPTION]...\n"
    "Submits the gateway's built-in demo brief (a short welcome video)\n"
    "and follows it as `aura follow` does.\n"
    "\n"
    "  --no-follow    print the new job and return at once\n"
    "\n" S_FOLLOW_TEXT "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_submit[] =
    "Usage: aura submit --topic TEXT [OPTION]...\n"
    "Submits a job and prints its id and status; with --json the\n"
    "server's answer ({jobId, status, links, ...}).\n"
    "\n"
    "  --topic TEXT      what the video explains (required)\n"
    "  --audience TEXT   who it is for\n"
    "  --goal TEXT       what the viewer should take away\n"
    "  --tone TEXT       e.g. Friendly, Formal\n"
    "  --language TAG    e.g. en-US\n"
    "  --duration D      target length: seconds or [hh:]mm:ss\n"
    "                    (5 s to 10 min)\n"
    "  --aspect A        16:9, 9:16, 1:1 (or Widescreen16x9,\n"
    "                    Vertical9x16, Square1x1)\n"
    "  --res R           720p, 1080p or WIDTHxHEIGHT\n"
    "  --quality N       0..100\n"
    "  --follow          then follow the job as `aura follow` does\n"
    "                    (with --json only the event lines are printed)\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_follow[] =
    "Usage: aura follow ID [OPTION]...\n"
    "Watches a job until it completes, fails or is cancelled; the exit\n"
    "status says which.\n"
    "\n" S_FOLLOW_TEXT "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_get[] =
    "Usage: aura get ID [OPTION]...\n"
    "Shows a job: title, status, steps, times, error and files; with\n"
    "--json the server's document.\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_list[] =
    "Usage: aura list [--status S] [--limit N] [--cursor ID] [OPTION]...\n"
    "Lists jobs, newest first; with --json the server's page {items,\n"
    "nextCursor}.\n"
    "\n"
    "  --status S     only jobs in this status: Queued, Running, Done,\n"
    "                 Failed or Canceled\n"
    "  --limit N      at most N jobs (1..100, default 20)\n"
    "  --cursor ID    the page after this one (printed when there is\n"
    "                 more)\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_cancel[] =
    "Usage: aura cancel ID [OPTION]...\n"
    "Cancels a queued or running job (a running one stops within a\n"
    "second); a follower of the job then ends with status 3. Cancelling\n"
    "a finished job is refused (status 2).\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_retry[] =
    "Usage: aura retry ID [--follow] [OPTION]...\n"
    "Queues a failed or cancelled job again; it resumes from its first\n"
    "unfinished step.\n"
    "\n"
    "  --follow       then follow the job as `aura follow` does\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

static const char s_usage_download[] =
    "Usage: aura download ID [DIR] [OPTION]...\n"
    "Fetches every file of a finished job into DIR (default ./ID/). Each\n"
    "file is written as NAME.part and renamed once its size matches the\n"
    "server's; a .part left by an interrupted run is resumed with a\n"
    "Range request, and a file already complete is skipped.\n"
    "\n" S_COMMON_OPTIONS "\n" S_EXIT_STATUS;

const char *
command_usage (command_kind_t kind)
{
    switch (kind) {
    case COMMAND_DEMO: return s_usage_demo;
    case COMMAND_SUBMIT: return s_usage_submit;
    case COMMAND_FOLLOW: return s_usage_follow;
    case COMMAND_GET: return s_usage_get;
    case COMMAND_LIST: return s_usage_list;
    case COMMAND_CANCEL: return s_usage_cancel;
    case COMMAND_RETRY: return s_usage_retry;
    case COMMAND_DOWNLOAD: return s_usage_download;
    default: return s_usage_overview;
    }
}

const char *
command_name (command_kind_t kind)
{
    return kind < COMMAND_KIND_COUNT ? s_names[kind] : "";
}

static command_kind_t
s_command_lookup (const char *name)
{
    for (int k = COMMAND_HELP; k < COMMAND_KIND_COUNT; k++)
        if (s_names[k][0] && strcmp (s_names[k], name) == 0)
            return (command_kind_t)k;
    return COMMAND_NONE;
}

bool
command_job_id_valid (const char *text)
{
    if (!text || strlen (text) != COMMAND_JOB_ID_LEN || text[0] < '0'
        || text[0] > '7')
        return false;
    for (const char *c = text; *c; c++) {
        int u = toupper ((unsigned char)*c);
        bool digit = u >= '0' && u <= '9';
        bool letter = u >= 'A' && u <= 'Z' && u != 'I' && u != 'L' && u != 'O'
                      && u != 'U';
        if (!digit && !letter)
            return false;
    }
    return true;
}

/*  Records the first error of a parse; later ones are dropped, so the
    user reads what went wrong first. */
static void s_error (char *err, size_t err_size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error (char *err, size_t err_size, const char *fmt, ...)
{
    if (err[0])
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err, err_size, fmt, ap);
    va_end (ap);
}

static const s_option_t *
s_option_lookup (const char *name, size_t len)
{
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (strlen (s_options[i].name) == len
            && strncmp (s_options[i].name, name, len) == 0)
            return &s_options[i];
    return NULL;
}

/*  A token travels in an HTTP header: CR, LF or a space in it would
    change the request. */
static bool
s_token_valid (const char *token)
{
    for (const char *c = token; *c; c++)
        if (*c <= ' ' || *c > '~')
            return false;
    return true;
}

static bool
s_url_valid (const char *url)
{
    return strncmp (url, "http://", 7) == 0    ? url[7] != '\0'
           : strncmp (url, "https://", 8) == 0 ? url[8] != '\0'
                                               : false;
}

#define S_MAX_POSITIONALS 4

/*  Checks the positional arguments against the command and stores them. */
static void
s_take_positionals (command_t *cmd, const char *const *args, size_t count,
                    char *err, size_t err_size)
{
    const char *name = command_name (cmd->kind);
    size_t want_min = 0, want_max = 0;
    switch (cmd->kind) {
    case COMMAND_FOLLOW:
    case COMMAND_GET:
    case COMMAND_CANCEL:
    case COMMAND_RETRY: want_min = want_max = 1; break;
    case COMMAND_DOWNLOAD:
        want_min = 1;
        want_max = 2;
        break;
    case COMMAND_HELP: want_max = 1; break;
    default: break;
    }
    if (count < want_min) {
        s_error (err, err_size, "%s needs a job ID (try aura %s --help)", name,
                 name);
        return;
    }
    if (count > want_max) {
        s_error (err, err_size,
                 "unexpected argument '%.80s' (try aura %s --help)",
                 args[want_max], name);
        return;
    }
    if (cmd->kind == COMMAND_HELP) {
        if (count == 1) {
            cmd->help_for = s_command_lookup (args[0]);
            if (cmd->help_for == COMMAND_NONE || cmd->help_for == COMMAND_HELP)
                s_error (err, err_size,
                         "unknown command '%.80s' (try aura --help)", args[0]);
        }
        return;
    }
    if (want_min == 0)
        return;
    if (!command_job_id_valid (args[0])) {
        s_error (err, err_size,
                 "'%.80s' is not a job id (26 characters of 0-9 and A-Z "
                 "without I, L, O, U)",
                 args[0]);
        return;
    }
    for (size_t i = 0; i < COMMAND_JOB_ID_LEN; i++)
        cmd->job[i] = (char)toupper ((unsigned char)args[0][i]);
    cmd->job[COMMAND_JOB_ID_LEN] = '\0';
    if (count == 2) {
        if (!args[1][0])
            s_error (err, err_size, "the download directory must not be empty");
        cmd->dir = args[1];
    }
}

int
command_parse (int argc, char *const *argv, const char *url_env,
               const char *token_env, command_t *cmd, char *err,
               size_t err_size)
{
    memset (cmd, 0, sizeof *cmd);
    err[0] = '\0';
    bool help = false, version = false;
    bool named = false; /* the command word has been read */
    bool options_end = false;
    const char *positionals[S_MAX_POSITIONALS];
    size_t positional_count = 0;
    bool seen[S_OPTION_COUNT] = { false };

    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (options_end || arg[0] != '-' || arg[1] == '\0') {
            if (!named) {
                named = true;
                cmd->kind = s_command_lookup (arg);
                if (cmd->kind == COMMAND_NONE)
                    s_error (err, err_size,
                             "unknown command '%.80s' (try aura --help)", arg);
            }
            else if (positional_count < S_MAX_POSITIONALS)
                positionals[positional_count++] = arg;
            else
                s_error (err, err_size, "unexpected argument '%.80s'", arg);
            continue;
        }
        if (strcmp (arg, "--") == 0) {
            options_end = true;
            continue;
        }
        if (strcmp (arg, "-h") == 0) {
            help = true;
            continue;
        }
        if (arg[1] != '-') {
            s_error (err, err_size, "unknown option '%.80s' (try aura --help)",
                     arg);
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr (name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen (name);
        const s_option_t *option = s_option_lookup (name, name_len);
        if (!option) {
            s_error (err, err_size, "unknown option '%.*s' (try aura --help)",
                     (int)(name_len + 2 > 82 ? 82 : name_len + 2), arg);
            continue;
        }
        seen[option - s_options] = true;
        if (option->kind == S_HELP || option->kind == S_VERSION
            || option->kind == S_FLAG) {
            if (eq) {
                s_error (err, err_size, "option --%s takes no value",
                         option->name);
                continue;
            }
            if (option->kind == S_HELP)
                help = true;
            else if (option->kind == S_VERSION)
                version = true;
            else
                *(bool *)((char *)cmd + option->offset) = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (a + 1 >= argc) {
                s_error (err, err_size, "option --%s needs a value",
                         option->name);
                continue;
            }
            value = argv[++a];
        }
        *(const char **)((char *)cmd + option->offset) = value;
    }

    if (help) {
        /* --help wins over a mistake next to it, unless the command
           itself is unknown */
        if (named && cmd->kind == COMMAND_NONE)
            return -EINVAL;
        err[0] = '\0';
        if (cmd->kind == COMMAND_HELP) {
            s_take_positionals (cmd, positionals, positional_count, err,
                                err_size);
            return err[0] ? -EINVAL : 0;
        }
        cmd->help_for = cmd->kind;
        cmd->kind = COMMAND_HELP;
        return 0;
    }
    if (err[0])
        return -EINVAL;
    if (version) {
        cmd->kind = COMMAND_VERSION;
        return 0;
    }
    if (cmd->kind == COMMAND_NONE)
        return 0;
    /* options the command does not take, now that the command is known */
    for (size_t i = 0; i < S_OPTION_COUNT; i++) {
        if (seen[i] && !(s_options[i].commands & S_BIT (cmd->kind))) {
            s_error (err, err_size,
                     "%s does not take --%s (try aura %s --help)",
                     command_name (cmd->kind), s_options[i].name,
                     command_name (cmd->kind));
            return -EINVAL;
        }
    }
    s_take_positionals (cmd, positionals, positional_count, err, err_size);
    if (err[0])
        return -EINVAL;
    if (cmd->kind == COMMAND_HELP)
        return 0;

    if (!cmd->url)
        cmd->url = url_env && url_env[0] ? url_env : AURA_DEFAULT_URL;
    if (!s_url_valid (cmd->url)) {
        s_error (err, err_size,
                 "the gateway URL must start with http:// or https:// "
                 "(--url or AURA_URL)");
        return -EINVAL;
    }
    if (!cmd->token && token_env && token_env[0])
        cmd->token = token_env;
    if (cmd->token && !cmd->token[0])
        cmd->token = NULL;
    if (cmd->token && !s_token_valid (cmd->token)) {
        s_error (err, err_size,
                 "the API token must be printable ASCII without "
                 "spaces (--token or AURA_API_TOKEN)");
        return -EINVAL;
    }
    if (cmd->kind == COMMAND_SUBMIT && (!cmd->topic || !cmd->topic[0])) {
        s_error (err, err_size,
                 "submit needs --topic (try aura submit --help)");
        return -EINVAL;
    }
    if (cmd->kind == COMMAND_DEMO)
        cmd->follow = !cmd->no_follow;
    return 0;
}

/* --------------------------------------------------------- job request */

/*  Parses a whole decimal integer in [min, max]. */
static bool
s_parse_int (const char *text, long min, long max, long *value)
{
    if (!text || !((*text >= '0' && *text <= '9') || *text == '-'))
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *value = v;
    return true;
}

static bool
s_all_digits (const char *text)
{
    if (!*text)
        return false;
    for (const char *c = text; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

/*  "[hh:]mm:ss": digit groups separated by one or two colons. */
static bool
s_clock_form (const char *text)
{
    int colons = 0;
    size_t run = 0;
    for (const char *c = text; *c; c++) {
        if (*c == ':') {
            if (run == 0)
                return false;
            colons++;
            run = 0;
        }
        else if (*c >= '0' && *c <= '9')
            run++;
        else
            return false;
    }
    return run > 0 && colons >= 1 && colons <= 2;
}

static const struct {
    const char *alias;
    const char *name;
} s_aspects[] = {
    { "16:9", "Widescreen16x9" },
    { "9:16", "Vertical9x16" },
    { "1:1", "Square1x1" },
    { "widescreen", "Widescreen16x9" },
    { "vertical", "Vertical9x16" },
    { "square", "Square1x1" },
    { "Widescreen16x9", "Widescreen16x9" },
    { "Vertical9x16", "Vertical9x16" },
    { "Square1x1", "Square1x1" },
};

static const char *
s_aspect_name (const char *text)
{
    for (size_t i = 0; i < sizeof s_aspects / sizeof s_aspects[0]; i++)
        if (strcasecmp (s_aspects[i].alias, text) == 0)
            return s_aspects[i].name;
    return NULL;
}

/*  Sets key of object to a new value; clears *ok on any failure. */
static void
s_set (json_t *object, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new (object, key, value) < 0)
        *ok = false;
}

/*  A JSON string, or NULL (with the reason) for text that is not UTF-8. */
static json_t *
s_text (const char *option, const char *text, char *err, size_t err_size)
{
    json_t *value = json_string (text);
    if (!value)
        s_error (err, err_size, "--%s must be UTF-8 text", option);
    return value;
}

/*  Stores section[key] = value into body, making the section when it is
    missing. */
static void
s_put (json_t *body, const char *section, const char *key, json_t *value,
       bool *ok)
{
    if (!value) {
        *ok = false;
        return;
    }
    json_t *object = json_object_get (body, section);
    if (!object) {
        object = json_object ();
        if (!object || json_object_set_new (body, section, object) < 0) {
            json_decref (value);
            *ok = false;
            return;
        }
    }
    s_set (object, key, value, ok);
}

json_t *
command_job_body (const command_t *cmd, char *err, size_t err_size)
{
    err[0] = '\0';
    json_t *body = json_object ();
    if (!body) {
        s_error (err, err_size, "out of memory");
        return NULL;
    }
    bool ok = true;
    const struct {
        const char *option;
        const char *key;
        const char *value;
    } texts[] = {
        { "topic", "topic", cmd->topic },
        { "audience", "audience", cmd->audience },
        { "goal", "goal", cmd->goal },
        { "tone", "tone", cmd->tone },
        { "language", "language", cmd->language },
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i].value)
            s_put (body, "brief", texts[i].key,
                   s_text (texts[i].option, texts[i].value, err, err_size),
                   &ok);

    if (cmd->aspect) {
        const char *name = s_aspect_name (cmd->aspect);
        if (name)
            s_put (body, "brief", "aspect", json_string (name), &ok);
        else {
            s_error (err, err_size, "--aspect must be 16:9, 9:16 or 1:1");
            ok = false;
        }
    }
    if (cmd->duration) {
        long seconds;
        if (s_all_digits (cmd->duration)
            && s_parse_int (cmd->duration, 0, INT32_MAX, &seconds))
            s_put (body, "planSpec", "targetDuration", json_integer (seconds),
                   &ok);
        else if (s_clock_form (cmd->duration))
            s_put (body, "planSpec", "targetDuration",
                   json_string (cmd->duration), &ok);
        else {
            s_error (err, err_size, "--duration must be seconds or [hh:]mm:ss");
            ok = false;
        }
    }
    if (cmd->res) {
        long width, height;
        const char *x = strpbrk (cmd->res, "xX");
        char number[16];
        if (strcmp (cmd->res, "720p") == 0 || strcmp (cmd->res, "1080p") == 0)
            s_put (body, "renderSpec", "res", json_string (cmd->res), &ok);
        else if (x && (size_t)(x - cmd->res) < sizeof number
                 && snprintf (number, sizeof number, "%.*s",
                              (int)(x - cmd->res), cmd->res)
                        > 0
                 && s_all_digits (number) && s_all_digits (x + 1)
                 && s_parse_int (number, 0, INT32_MAX, &width)
                 && s_parse_int (x + 1, 0, INT32_MAX, &height))
            s_put (body, "renderSpec", "res",
                   json_pack ("{s:I, s:I}", "width", (json_int_t)width,
                              "height", (json_int_t)height),
                   &ok);
        else {
            s_error (err, err_size,
                     "--res must be 720p, 1080p or WIDTHxHEIGHT");
            ok = false;
        }
    }
    if (cmd->quality) {
        long quality;
        if (s_parse_int (cmd->quality, INT32_MIN, INT32_MAX, &quality))
            s_put (body, "renderSpec", "qualityLevel", json_integer (quality),
                   &ok);
        else {
            s_error (err, err_size, "--quality must be an integer (0..100)");
            ok = false;
        }
    }
    if (!ok) {
        s_error (err, err_size, "out of memory");
        json_decref (body);
        return NULL;
    }
    return body;
}
