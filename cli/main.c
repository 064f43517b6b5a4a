/*  aura — the command-line client of an Aura gateway: submits jobs,
    follows them live over Server-Sent Events, lists, cancels and retries
    them, and downloads what they made. `aura --help` lists the commands
    and the exit status. */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "command.h"
#include "display.h"
#include "download.h"
#include "follow.h"
#include "http.h"

static volatile sig_atomic_t s_interrupted = 0;

static void
s_on_interrupt (int signum)
{
    (void)signum;
    s_interrupted = 1;
}

/*  Ctrl-C stops a transfer or a wait cleanly (the progress line ends, the
    exit status is 130); a second one kills as usual. */
static void
s_catch_interrupt (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_interrupt;
    action.sa_flags = SA_RESETHAND;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
}

/*  Prints a server document as it came, for --json. */
static void
s_print_raw (const http_response_t *response)
{
    if (response->body_len > 0) {
        fwrite (response->body, 1, response->body_len, stdout);
        if (response->body[response->body_len - 1] != '\n')
            fputc ('\n', stdout);
    }
    fflush (stdout);
}

static int
s_follow (http_client_t *http, const command_t *cmd, const char *job)
{
    bool color;
    display_mode_t mode = display_mode_for (stdout, cmd->json, &color);
    display_t *display = display_new (stdout, mode, color);
    if (!display) {
        fprintf (stderr, "aura: out of memory\n");
        return AURA_EXIT_UNAVAILABLE;
    }
    int code = follow_job (http, job, display);
    display_destroy (&display);
    return code;
}

/*  POSTs a job (the demo's or the one of --topic …) and follows it when
    asked. */
static int
s_submit (http_client_t *http, const command_t *cmd)
{
    char *body = NULL;
    if (cmd->kind == COMMAND_SUBMIT) {
        char err[256];
        json_t *doc = command_job_body (cmd, err, sizeof err);
        if (!doc) {
            fprintf (stderr, "aura: %s\n", err);
            return AURA_EXIT_USAGE;
        }
        body = json_dumps (doc, JSON_COMPACT);
        json_decref (doc);
        if (!body) {
            fprintf (stderr, "aura: out of memory\n");
            return AURA_EXIT_UNAVAILABLE;
        }
    }
    const char *path =
        cmd->kind == COMMAND_DEMO ? "/api/quick/demo" : "/api/jobs";
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code =
        api_call (http, "POST", path, body ? body : NULL, 202, &doc, &response);
    free (body);
    if (code != AURA_EXIT_OK)
        goto cleanup;
    const char *job = json_string_value (json_object_get (doc, "jobId"));
    if (!job || !command_job_id_valid (job)) {
        fprintf (stderr, "aura: the gateway answered without a job id\n");
        code = AURA_EXIT_UNAVAILABLE;
        goto cleanup;
    }
    if (cmd->json && !cmd->follow)
        s_print_raw (&response);
    else if (!cmd->json) {
        char status[32];
        display_clean (json_string_value (json_object_get (doc, "status")),
                       status, sizeof status);
        printf ("job %s submitted (%s)\n", job, status);
        if (!cmd->follow)
            printf ("follow it with: aura follow %s\n", job);
        fflush (stdout);
    }
    if (cmd->follow)
        code = s_follow (http, cmd, job);

cleanup:
    json_decref (doc);
    http_response_reset (&response);
    return code;
}

/*  GET /api/jobs/{id}, or POST /api/jobs/{id}/cancel or /retry: each
    answers the job. */
static int
s_job_request (http_client_t *http, const command_t *cmd)
{
    const char *method = "GET", *suffix = "";
    long expected = 200;
    if (cmd->kind == COMMAND_CANCEL || cmd->kind == COMMAND_RETRY) {
        method = "POST";
        suffix = cmd->kind == COMMAND_CANCEL ? "/cancel" : "/retry";
        expected = 202;
    }
    char path[96];
    snprintf (path, sizeof path, "/api/jobs/%s%s", cmd->job, suffix);
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code = api_call (http, method, path, NULL, expected, &doc, &response);
    if (code != AURA_EXIT_OK)
        goto cleanup;
    if (cmd->json && !cmd->follow)
        s_print_raw (&response);
    else if (!cmd->json) {
        char status[32];
        display_clean (json_string_value (json_object_get (doc, "status")),
                       status, sizeof status);
        if (cmd->kind == COMMAND_GET)
            display_job (stdout, doc);
        else if (cmd->kind == COMMAND_CANCEL)
            printf ("job %s: cancel requested; it is %s\n", cmd->job, status);
        else
            printf ("job %s queued again (attempt %.0f)\n", cmd->job,
                    json_number_value (json_object_get (doc, "attempt")));
        fflush (stdout);
    }
    if (cmd->follow)
        code = s_follow (http, cmd, cmd->job);

cleanup:
    json_decref (doc);
    http_response_reset (&response);
    return code;
}

static int
s_list (http_client_t *http, const command_t *cmd)
{
    char path[512] = "/api/jobs";
    size_t len = strlen (path);
    const struct {
        const char *name;
        const char *value;
    } params[] = { { "status", cmd->status },
                   { "limit", cmd->limit },
                   { "cursor", cmd->cursor } };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (!params[i].value)
            continue;
        char escaped[160];
        if (api_query_escape (params[i].value, escaped, sizeof escaped) < 0) {
            fprintf (stderr, "aura: --%s is too long\n", params[i].name);
            return AURA_EXIT_USAGE;
        }
        int n = snprintf (path + len, sizeof path - len, "%c%s=%s",
                          len > 9 ? '&' : '?', params[i].name, escaped);
        if (n < 0 || (size_t)n >= sizeof path - len) {
            fprintf (stderr, "aura: the query is too long\n");
            return AURA_EXIT_USAGE;
        }
        len += (size_t)n;
    }
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code = api_call (http, "GET", path, NULL, 200, &doc, &response);
    if (code == AURA_EXIT_OK) {
        if (cmd->json)
            s_print_raw (&response);
        else
            display_job_page (stdout, doc);
    }
    json_decref (doc);
    http_response_reset (&response);
    return code;
}

static int
s_run (const command_t *cmd)
{
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf (stderr, "aura: libcurl cannot start\n");
        return AURA_EXIT_UNAVAILABLE;
    }
    int code = AURA_EXIT_UNAVAILABLE;
    http_client_t *http =
        http_client_new (cmd->url, cmd->token, &s_interrupted);
    if (!http) {
        fprintf (stderr, "aura: out of memory\n");
        goto cleanup;
    }
    switch (cmd->kind) {
    case COMMAND_DEMO:
    case COMMAND_SUBMIT: code = s_submit (http, cmd); break;
    case COMMAND_FOLLOW: code = s_follow (http, cmd, cmd->job); break;
    case COMMAND_GET:
    case COMMAND_CANCEL:
    case COMMAND_RETRY: code = s_job_request (http, cmd); break;
    case COMMAND_LIST: code = s_list (http, cmd); break;
    case COMMAND_DOWNLOAD:
        code = download_job (http, cmd->job, cmd->dir, cmd->json);
        break;
    default: code = AURA_EXIT_USAGE; break;
    }

cleanup:
    http_client_destroy (&http);
    curl_global_cleanup ();
    return code;
}

int
main (int argc, char **argv)
{
    command_t cmd;
    char err[256];
    if (command_parse (argc, argv, getenv ("AURA_URL"),
                       getenv ("AURA_API_TOKEN"), &cmd, err, sizeof err)
        < 0) {
        fprintf (stderr, "aura: %s\n", err);
        return AURA_EXIT_USAGE;
    }
    switch (cmd.kind) {
    case COMMAND_NONE:
        fputs (command_usage (COMMAND_NONE), stderr);
        return AURA_EXIT_USAGE;
    case COMMAND_HELP:
        fputs (command_usage (cmd.help_for), stdout);
        return AURA_EXIT_OK;
    case COMMAND_VERSION:
        printf ("aura %s\n", AURA_VERSION);
        return AURA_EXIT_OK;
    default: break;
    }
    s_catch_interrupt ();
    return s_run (&cmd);
}
