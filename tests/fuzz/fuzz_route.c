/*  fuzz_route — the gateway's URL router under arbitrary paths. The first
    byte of an input picks the method, the rest is the path as
    libmicrohttpd hands it over (a C string, not percent-decoded). Checked:
    an id taken from a path is a valid job id, an artifact name that the
    gateway would open is a plain file name, an API path is never handed
    to the web UI, the answer for a path does not depend on the method
    beyond 405 and the OPTIONS preflight, and nothing is read past the
    path. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "fuzz.h"
#include "ids.h"
#include "route.h"

static const char *const s_methods[] = { "GET",    "POST",  "HEAD",    "PUT",
                                         "DELETE", "PATCH", "OPTIONS", "get" };
#define S_METHOD_COUNT (sizeof s_methods / sizeof *s_methods)

/*  True when method is one of the comma-separated tokens of allow. */
static bool
s_allows (const char *allow, const char *method)
{
    size_t method_len = strlen (method);
    const char *p = allow;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn (p, ", ");
        if (len == method_len && strncmp (p, method, len) == 0)
            return true;
        p += len;
    }
    return false;
}

/*  Writes the path a matched route stands for: its template with the job
    id and name put back. Returns false when it does not fit out. */
static bool
s_rebuild (const char *pattern, const route_t *route, char *out,
           size_t out_size)
{
    size_t len = 0;
    for (const char *p = pattern; *p;) {
        const char *piece = p;
        size_t piece_len = 1;
        if (strncmp (p, "{id}", 4) == 0) {
            piece = route->job;
            piece_len = strlen (route->job);
            p += 4;
        }
        else if (strncmp (p, "{name}", 6) == 0) {
            piece = route->name;
            piece_len = strlen (route->name);
            p += 6;
        }
        else
            p++;
        if (len + piece_len >= out_size)
            return false;
        memcpy (out + len, piece, piece_len);
        len += piece_len;
    }
    out[len] = '\0';
    return true;
}

/*  A name artifacts_name_valid lets through is opened inside the job's
    directory with openat: it must stay a plain file name there. */
static void
s_check_servable_name (const char *name)
{
    size_t len = strlen (name);
    FUZZ_CHECK (len >= 1 && len <= ARTIFACTS_NAME_MAX);
    FUZZ_CHECK (name[0] != '.');
    FUZZ_CHECK (strchr (name, '/') == NULL);
    FUZZ_CHECK (strstr (name, "..") == NULL);
    FUZZ_CHECK (strchr (name, '%') == NULL);
    FUZZ_CHECK (strchr (name, '\\') == NULL);
    FUZZ_CHECK (len < 4 || strcmp (name + len - 4, ".tmp") != 0);
}

/*  True for /api and every path under it, where every path is an
    endpoint or a 404 (never a file of the web UI). */
static bool
s_in_api (const char *path, size_t len)
{
    return len >= 4 && memcmp (path, "/api", 4) == 0
           && (len == 4 || path[4] == '/');
}

/*  What must hold of a route that matched. */
static void
s_check_matched (const char *method, const char *path, size_t path_len,
                 const route_t *route)
{
    FUZZ_CHECK ((int)route->id >= 0 && route->id < ROUTE_COUNT);
    FUZZ_CHECK (route->allow != NULL && route->allow[0] != '\0');
    FUZZ_CHECK (memchr (route->job, '\0', sizeof route->job) != NULL);
    FUZZ_CHECK (memchr (route->name, '\0', sizeof route->name) != NULL);
    if (route->id == ROUTE_PREFLIGHT) {
        FUZZ_CHECK (strcmp (method, "OPTIONS") == 0);
        FUZZ_CHECK (route->job[0] == '\0' && route->name[0] == '\0');
        return;
    }
    FUZZ_CHECK (s_allows (route->allow, method));
    if (route->id == ROUTE_WEB) {
        /* the web UI never answers for an API path */
        FUZZ_CHECK (!s_in_api (path, path_len));
        FUZZ_CHECK (route->job[0] == '\0' && route->name[0] == '\0');
        return;
    }

    const char *pattern = route_name (route->id);
    FUZZ_CHECK (pattern[0] == '/');
    if (strstr (pattern, "{id}"))
        FUZZ_CHECK (job_id_valid (route->job, strlen (route->job)));
    else
        FUZZ_CHECK (route->job[0] == '\0');

    size_t name_len = strlen (route->name);
    bool name_cut = false;
    if (strstr (pattern, "{name}")) {
        FUZZ_CHECK (name_len > 0);
        FUZZ_CHECK (strchr (route->name, '/') == NULL);
        /* a segment of ROUTE_NAME_SIZE - 1 bytes or more fills the field */
        name_cut = name_len == ROUTE_NAME_SIZE - 1;
        /* a cut name must never be served in place of the one asked for */
        if (name_cut)
            FUZZ_CHECK (!artifacts_name_valid (route->name, name_len));
        if (artifacts_name_valid (route->name, name_len))
            s_check_servable_name (route->name);
    }
    else
        FUZZ_CHECK (name_len == 0);

    /* the path is exactly the template with what was taken from it */
    char rebuilt[256 + JOB_ID_SIZE + ROUTE_NAME_SIZE];
    FUZZ_CHECK (s_rebuild (pattern, route, rebuilt, sizeof rebuilt));
    size_t rebuilt_len = strlen (rebuilt);
    if (name_cut)
        FUZZ_CHECK (rebuilt_len <= path_len
                    && memcmp (rebuilt, path, rebuilt_len) == 0);
    else
        FUZZ_CHECK (rebuilt_len == path_len
                    && memcmp (rebuilt, path, path_len) == 0);
}

/*  What must hold of one path under every method: whether it exists does
    not depend on the method; the methods it allows get the same answer;
    the others a 405 with the same Allow, except OPTIONS, which is a
    preflight on an endpoint's path. */
static void
s_check_methods (const char *path, size_t path_len)
{
    route_t routes[S_METHOD_COUNT];
    route_result_t results[S_METHOD_COUNT];
    for (size_t i = 0; i < S_METHOD_COUNT; i++)
        results[i] = route_match (s_methods[i], path, path_len, &routes[i]);
    if (results[0] == ROUTE_NOT_FOUND) {
        for (size_t i = 0; i < S_METHOD_COUNT; i++)
            FUZZ_CHECK (results[i] == ROUTE_NOT_FOUND);
        return;
    }
    const char *allow = routes[0].allow;
    FUZZ_CHECK (allow != NULL);
    const route_t *allowed = NULL;
    route_result_t allowed_result = ROUTE_NOT_FOUND;
    for (size_t i = 0; i < S_METHOD_COUNT; i++) {
        FUZZ_CHECK (results[i] != ROUTE_NOT_FOUND);
        FUZZ_CHECK (routes[i].allow != NULL
                    && strcmp (routes[i].allow, allow) == 0);
        if (!s_allows (allow, s_methods[i]))
            continue;
        FUZZ_CHECK (results[i] == ROUTE_MATCHED
                    || results[i] == ROUTE_BAD_JOB_ID);
        FUZZ_CHECK (routes[i].id != ROUTE_PREFLIGHT);
        if (allowed)
            FUZZ_CHECK (results[i] == allowed_result
                        && (routes[i].id == ROUTE_WEB)
                               == (allowed->id == ROUTE_WEB));
        allowed = &routes[i];
        allowed_result = results[i];
    }
    /* every path that exists allows some method of the list */
    FUZZ_CHECK (allowed != NULL);
    bool endpoint = allowed->id != ROUTE_WEB;
    for (size_t i = 0; i < S_METHOD_COUNT; i++) {
        if (s_allows (allow, s_methods[i]))
            continue;
        if (endpoint && strcmp (s_methods[i], "OPTIONS") == 0)
            FUZZ_CHECK (results[i] == ROUTE_MATCHED
                        && routes[i].id == ROUTE_PREFLIGHT);
        else
            FUZZ_CHECK (results[i] == ROUTE_METHOD_NOT_ALLOWED);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *method = s_methods[data[0] % S_METHOD_COUNT];
    /* the URL reaches the router as a C string: it ends at a NUL */
    const uint8_t *raw = data + 1;
    size_t path_len = size - 1;
    const uint8_t *nul = memchr (raw, '\0', path_len);
    if (nul)
        path_len = (size_t)(nul - raw);
    /* exactly path_len bytes, no terminator: any read past them is a
       read past the input */
    char *path = malloc (path_len ? path_len : 1);
    FUZZ_CHECK (path != NULL);
    memcpy (path, raw, path_len);

    route_t route;
    route_result_t result = route_match (method, path, path_len, &route);
    switch (result) {
    case ROUTE_MATCHED: s_check_matched (method, path, path_len, &route); break;
    case ROUTE_METHOD_NOT_ALLOWED:
        FUZZ_CHECK (route.allow != NULL && route.allow[0] != '\0');
        FUZZ_CHECK (!s_allows (route.allow, method));
        FUZZ_CHECK (route.job[0] == '\0' && route.name[0] == '\0');
        break;
    case ROUTE_BAD_JOB_ID:
        FUZZ_CHECK (path_len > strlen ("/api/jobs/")
                    && memcmp (path, "/api/jobs/", strlen ("/api/jobs/")) == 0);
        FUZZ_CHECK (route.allow != NULL && s_allows (route.allow, method));
        FUZZ_CHECK (route.job[0] == '\0');
        break;
    case ROUTE_NOT_FOUND:
        /* outside /api, a path that is no endpoint is the web UI's */
        FUZZ_CHECK (s_in_api (path, path_len));
        FUZZ_CHECK (route.allow == NULL);
        FUZZ_CHECK (route.job[0] == '\0' && route.name[0] == '\0');
        break;
    default: fuzz_fail ("a result route.h lists", __FILE__, __LINE__);
    }
    s_check_methods (path, path_len);
    free (path);
    return 0;
}
