/*  route — a small table of path templates. A template is literal text
    with at most one "{id}" segment; the table also says which methods each
    path allows so that a wrong method answers 405 with an Allow header. */
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
    { ROUTE_JOB_SUBMIT, "POST", "/api/jobs", "GET, POST" },
    { ROUTE_JOB_LIST, "GET", "/api/jobs", "GET, POST" },
    { ROUTE_QUICK_DEMO, "POST", "/api/quick/demo", "POST" },
    { ROUTE_JOB_GET, "GET", "/api/jobs/{id}", "GET" },
    { ROUTE_JOB_EVENTS, "GET", "/api/jobs/{id}/events", "GET" },
    { ROUTE_JOB_CANCEL, "POST", "/api/jobs/{id}/cancel", "POST" },
    { ROUTE_JOB_RETRY, "POST", "/api/jobs/{id}/retry", "POST" },
};

#define ROUTE_ID_TOKEN "{id}"

/*  True when path[0..len) has the shape of pattern; the "{id}" segment, if
    any, must be non-empty and is returned through id/id_len. */
static bool
s_shape_match (const char *pattern, const char *path, size_t len,
               const char **id, size_t *id_len)
{
    const size_t token_len = strlen (ROUTE_ID_TOKEN);
    size_t j = 0;
    *id = NULL;
    *id_len = 0;
    for (size_t i = 0; pattern[i];) {
        if (strncmp (pattern + i, ROUTE_ID_TOKEN, token_len) == 0) {
            size_t end = j;
            while (end < len && path[end] != '/')
                end++;
            if (end == j)
                return false;
            *id = path + j;
            *id_len = end - j;
            i += token_len;
            j = end;
        }
        else {
            if (j >= len || path[j] != pattern[i])
                return false;
            i++;
            j++;
        }
    }
    return j == len;
}

route_result_t
route_match (const char *method, const char *path, size_t path_len,
             route_t *route)
{
    memset (route, 0, sizeof *route);
    const route_row_t *shape_only = NULL;
    for (size_t r = 0; r < sizeof s_routes / sizeof *s_routes; r++) {
        const char *id;
        size_t id_len;
        if (!s_shape_match (s_routes[r].pattern, path, path_len, &id, &id_len))
            continue;
        if (strcmp (method, s_routes[r].method) != 0) {
            shape_only = &s_routes[r];
            continue;
        }
        route->id = s_routes[r].id;
        route->allow = s_routes[r].allow;
        if (id) {
            if (!job_id_valid (id, id_len))
                return ROUTE_BAD_JOB_ID;
            memcpy (route->job, id, id_len);
            route->job[id_len] = '\0';
        }
        return ROUTE_MATCHED;
    }
    if (shape_only) {
        route->allow = shape_only->allow;
        return ROUTE_METHOD_NOT_ALLOWED;
    }
    return ROUTE_NOT_FOUND;
}

const char *
route_name (route_id_t id)
{
    for (size_t r = 0; r < sizeof s_routes / sizeof *s_routes; r++)
        if (s_routes[r].id == id)
            return s_routes[r].pattern;
    return "?";
}
