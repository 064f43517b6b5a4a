/*  route — a small table of path templates. A template is literal text
    with at most one "{id}" and one "{name}" segment; the table also says
    which methods each path allows so that a wrong method answers 405 with
    an Allow header. */
#include "route.h"

#include <stdbool.h>
#include <string.h>

typedef struct {
    route_id_t id;
    const char *method;
    const char *pattern;
    const char *allow; /* every method any row with this pattern takes */
} route_row_t;

static const route_row_t s_routes[] = {
    { ROUTE_HEALTHZ, "GET", "/healthz", "GET" },
    { ROUTE_READYZ, "GET", "/readyz", "GET" },
    { ROUTE_METRICS, "GET", "/metrics", "GET" },
    { ROUTE_EVENTS, "GET", "/api/events", "GET" },
    { ROUTE_JOB_SUBMIT, "POST", "/api/jobs", "GET, POST" },
    { ROUTE_JOB_LIST, "GET", "/api/jobs", "GET, POST" },
    { ROUTE_QUICK_DEMO, "POST", "/api/quick/demo", "POST" },
    { ROUTE_JOB_GET, "GET", "/api/jobs/{id}", "GET" },
    { ROUTE_JOB_EVENTS, "GET", "/api/jobs/{id}/events", "GET" },
    { ROUTE_JOB_CANCEL, "POST", "/api/jobs/{id}/cancel", "POST" },
    { ROUTE_JOB_RETRY, "POST", "/api/jobs/{id}/retry", "POST" },
    { ROUTE_JOB_ARTIFACT, "GET", "/api/jobs/{id}/artifacts/{name}", "GET, HEAD" },
    { ROUTE_JOB_ARTIFACT, "HEAD", "/api/jobs/{id}/artifacts/{name}", "GET, HEAD" },
};

#define ROUTE_ID_TOKEN "{id}"
#define ROUTE_NAME_TOKEN "{name}"

/*  A non-empty segment of a path: its start and length. */
typedef struct {
    const char *text;
    size_t len;
} path_segment_t;

/*  If pattern + i starts with token, takes the segment of path at *j
    (which must be non-empty) into segment and advances i and *j past
    both. Returns 1 on a match, 0 when the token is not here, -1 when the
    segment is empty. */
static int
s_take_segment (const char *pattern, size_t *i, const char *token, const char *path,
                size_t len, size_t *j, path_segment_t *segment)
{
    size_t token_len = strlen (token);
    if (strncmp (pattern + *i, token, token_len) != 0)
        return 0;
    size_t end = *j;
    while (end < len && path[end] != '/')
        end++;
    if (end == *j)
        return -1;
    segment->text = path + *j;
    segment->len = end - *j;
    *i += token_len;
    *j = end;
    return 1;
}

/*  True when path[0..len) has the shape of pattern; the "{id}" and
    "{name}" segments, if any, must be non-empty and are returned through
    id and name (NULL text when the pattern has none). */
static bool
s_shape_match (const char *pattern, const char *path, size_t len, path_segment_t *id,
               path_segment_t *name)
{
    size_t j = 0;
    *id = (path_segment_t) { NULL, 0 };
    *name = (path_segment_t) { NULL, 0 };
    for (size_t i = 0; pattern[i];) {
        int taken = s_take_segment (pattern, &i, ROUTE_ID_TOKEN, path, len, &j, id);
        if (taken == 0)
            taken = s_take_segment (pattern, &i, ROUTE_NAME_TOKEN, path, len, &j, name);
        if (taken < 0)
            return false;
        if (taken > 0)
            continue;
        if (j >= len || path[j] != pattern[i])
            return false;
        i++;
        j++;
    }
    return j == len;
}

/*  True for /api and everything under it: no UI file lives there, so an
    unknown API path answers 404 as JSON, not the UI. */
static bool
s_in_api (const char *path, size_t len)
{
    static const char prefix[] = "/api";
    size_t n = sizeof prefix - 1;
    return len >= n && memcmp (path, prefix, n) == 0 && (len == n || path[n] == '/');
}

route_result_t
route_match (const char *method, const char *path, size_t path_len,
             route_t *route)
{
    memset (route, 0, sizeof *route);
    const route_row_t *shape_only = NULL;
    for (size_t r = 0; r < sizeof s_routes / sizeof *s_routes; r++) {
        path_segment_t id, name;
        if (!s_shape_match (s_routes[r].pattern, path, path_len, &id, &name))
            continue;
        if (strcmp (method, s_routes[r].method) != 0) {
            shape_only = &s_routes[r];
            continue;
        }
        route->id = s_routes[r].id;
        route->allow = s_routes[r].allow;
        if (id.text) {
            if (!job_id_valid (id.text, id.len))
                return ROUTE_BAD_JOB_ID;
            memcpy (route->job, id.text, id.len);
            route->job[id.len] = '\0';
        }
        if (name.text) {
            size_t kept = name.len < ROUTE_NAME_SIZE ? name.len : ROUTE_NAME_SIZE - 1;
            memcpy (route->name, name.text, kept);
            route->name[kept] = '\0';
        }
        return ROUTE_MATCHED;
    }
    if (shape_only && strcmp (method, "OPTIONS") == 0) {
        route->id = ROUTE_PREFLIGHT;
        route->allow = shape_only->allow;
        return ROUTE_MATCHED;
    }
    if (shape_only) {
        route->allow = shape_only->allow;
        return ROUTE_METHOD_NOT_ALLOWED;
    }
    if (!s_in_api (path, path_len)) {
        route->allow = "GET, HEAD";
        if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
            return ROUTE_METHOD_NOT_ALLOWED;
        route->id = ROUTE_WEB;
        return ROUTE_MATCHED;
    }
    return ROUTE_NOT_FOUND;
}

const char *
route_name (route_id_t id)
{
    if (id == ROUTE_WEB)
        return "/{file}";
    if (id == ROUTE_PREFLIGHT)
        return "OPTIONS";
    for (size_t r = 0; r < sizeof s_routes / sizeof *s_routes; r++)
        if (s_routes[r].id == id)
            return s_routes[r].pattern;
    return "?";
}
