/*  api — REST calls and the reporting of their failures. */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "display.h"

#define S_TEXT_SIZE 512

static bool
s_is_problem (const http_response_t *response)
{
    return strncmp (response->content_type, "application/problem+json", 24)
           == 0;
}

/*  Prints "aura: <detail>" and the `field: message` lines of a problem
    document; returns false when body is not one. */
static bool
s_print_problem (const http_response_t *response, const char *prefix)
{
    if (!response->body || !s_is_problem (response))
        return false;
    json_t *doc = json_loadb (response->body, response->body_len, 0, NULL);
    const char *detail = json_string_value (json_object_get (doc, "detail"));
    if (!detail)
        detail = json_string_value (json_object_get (doc, "title"));
    if (!detail) {
        json_decref (doc);
        return false;
    }
    char text[S_TEXT_SIZE];
    display_clean (detail, text, sizeof text);
    fprintf (stderr, "aura: %s%s\n", prefix, text);
    size_t index;
    json_t *error;
    json_array_foreach (json_object_get (doc, "errors"), index, error)
    {
        char field[128], message[S_TEXT_SIZE];
        display_clean (json_string_value (json_object_get (error, "field")),
                       field, sizeof field);
        display_clean (json_string_value (json_object_get (error, "message")),
                       message, sizeof message);
        fprintf (stderr, "  %s: %s\n", field, message);
    }
    json_decref (doc);
    return true;
}

int
api_report (http_client_t *http, int rc, const http_response_t *response)
{
    if (rc == -EINTR) {
        fprintf (stderr, "aura: interrupted\n");
        return AURA_EXIT_INTERRUPTED;
    }
    if (rc < 0 && response->status == 0) {
        fprintf (stderr, "aura: cannot reach %s: %s\n", http_client_url (http),
                 response->error);
        return AURA_EXIT_UNAVAILABLE;
    }
    if (rc < 0) {
        fprintf (stderr, "aura: the answer of %s broke off: %s\n",
                 http_client_url (http), response->error);
        return AURA_EXIT_UNAVAILABLE;
    }
    long status = response->status;
    if (status == 401 || status == 403) {
        char prefix[64];
        snprintf (prefix, sizeof prefix,
                  "authentication failed (%ld): ", status);
        if (!s_print_problem (response, prefix))
            fprintf (stderr, "aura: authentication failed (%ld)\n", status);
        fprintf (stderr, "aura: %s\n",
                 http_client_has_token (http)
                     ? "the server refused the API token"
                     : "set AURA_API_TOKEN (or pass --token)");
        return AURA_EXIT_USAGE;
    }
    if (!s_print_problem (response, ""))
        fprintf (stderr, "aura: %s answered %ld%s%s%s\n",
                 http_client_url (http), status,
                 response->content_type[0] ? " (" : "", response->content_type,
                 response->content_type[0] ? ")" : "");
    if (status == 429) {
        if (response->retry_after_s >= 0)
            fprintf (stderr, "aura: try again in %ld s\n",
                     response->retry_after_s);
        return AURA_EXIT_UNAVAILABLE;
    }
    if (status >= 400 && status < 500)
        return AURA_EXIT_USAGE;
    return AURA_EXIT_UNAVAILABLE;
}

int
api_call (http_client_t *http, const char *method, const char *path,
          const char *json_body, long expected, json_t **doc,
          http_response_t *response)
{
    if (doc)
        *doc = NULL;
    int rc = http_client_call (http, method, path, json_body, API_TIMEOUT_S,
                               response);
    if (rc < 0 || response->status != expected)
        return api_report (http, rc, response);
    if (!doc)
        return AURA_EXIT_OK;
    json_error_t error;
    *doc = response->body
               ? json_loadb (response->body, response->body_len, 0, &error)
               : NULL;
    if (!json_is_object (*doc)) {
        json_decref (*doc);
        *doc = NULL;
        fprintf (stderr,
                 "aura: %s answered %s %s with something other than a JSON "
                 "object\n",
                 http_client_url (http), method, path);
        return AURA_EXIT_UNAVAILABLE;
    }
    return AURA_EXIT_OK;
}

int
api_query_escape (const char *text, char *out, size_t out_size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
                     || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'
                     || *c == '_' || *c == '~';
        if (n + (plain ? 1 : 3) >= out_size)
            return -ENOSPC;
        if (plain)
            out[n++] = (char)*c;
        else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 0x0F];
        }
    }
    if (n >= out_size)
        return -ENOSPC;
    out[n] = '\0';
    return 0;
}
