/*  command — the command line of `aura`: which command, its options and
    arguments, the help texts, and the job request a `submit` makes. Pure:
    the environment comes in as arguments and nothing is printed here. */
#ifndef AURA_CLI_COMMAND_H
#define AURA_CLI_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*  Exit status of `aura` (listed in `aura --help`). */
enum {
    AURA_EXIT_OK = 0,          /* done; for a followed job: it completed */
    AURA_EXIT_JOB_FAILED = 1,  /* the followed job failed */
    AURA_EXIT_USAGE = 2,       /* bad command line, or a 4xx answer */
    AURA_EXIT_CANCELLED = 3,   /* the followed job was cancelled */
    AURA_EXIT_UNAVAILABLE = 4, /* no answer, 429, 5xx, anything unexpected */
    AURA_EXIT_INTERRUPTED = 130,
};

#define AURA_DEFAULT_URL "http://127.0.0.1:8080"

/*  Length of a job id: 26 characters of Crockford base32. */
#define COMMAND_JOB_ID_LEN 26

typedef enum {
    COMMAND_NONE = 0, /* no command: the overview is shown */
    COMMAND_HELP,     /* --help, -h or `help [COMMAND]` */
    COMMAND_VERSION,
    COMMAND_DEMO,
    COMMAND_SUBMIT,
    COMMAND_FOLLOW,
    COMMAND_GET,
    COMMAND_LIST,
    COMMAND_CANCEL,
    COMMAND_RETRY,
    COMMAND_DOWNLOAD,
    COMMAND_KIND_COUNT
} command_kind_t;

/*  A parsed command line. Every text points into argv or into the
    environment strings given to command_parse, so it lives as long as
    they do; NULL means "not given". */
typedef struct {
    command_kind_t kind;
    command_kind_t help_for; /* COMMAND_HELP: whose help (NONE: overview) */
    const char *url;         /* --url, else AURA_URL, else the default */
    const char *token;       /* --token, else AURA_API_TOKEN; NULL: none */
    bool json;               /* --json */
    bool follow;    /* submit/retry --follow; demo unless --no-follow */
    bool no_follow; /* demo --no-follow */
    char job[COMMAND_JOB_ID_LEN + 1]; /* the ID argument, upper-cased */
    const char *dir;                  /* download DIR; NULL: ./<ID>/ */
    /* submit */
    const char *topic, *audience, *goal, *tone, *language;
    const char *duration, *aspect, *res, *quality;
    /* list */
    const char *status, *limit, *cursor;
} command_t;

/*  Parses argv[1..argc) into cmd. url_env and token_env are the values of
    AURA_URL and AURA_API_TOKEN (NULL when unset; an empty one counts as
    unset); a flag wins over them. Returns 0, or -EINVAL with one line in
    err (which never repeats the token). */
int command_parse (int argc, char *const *argv, const char *url_env,
                   const char *token_env, command_t *cmd, char *err,
                   size_t err_size);

/*  The help text of a command (COMMAND_NONE: the overview with every
    command, the common options and the exit status). Static storage. */
const char *command_usage (command_kind_t kind);

/*  The command's name as typed ("submit"), "" for the non-commands. */
const char *command_name (command_kind_t kind);

/*  True when text is a job id: 26 characters of Crockford base32 (upper
    or lower case), the first 0 to 7. */
bool command_job_id_valid (const char *text);

/*  The body of POST /api/jobs for a `submit` command: brief, planSpec and
    renderSpec with the fields given. Durations of plain seconds become
    numbers, "[hh:]mm:ss" stays text; --aspect takes the API's names or
    16:9, 9:16, 1:1; --res takes 720p, 1080p or WIDTHxHEIGHT; --quality
    an integer. Ranges are left to the server, which names the field it
    refuses. Returns a new reference, or NULL with one line in err for an
    option of the wrong form (or when memory runs out). */
json_t *command_job_body (const command_t *cmd, char *err, size_t err_size);

#endif
