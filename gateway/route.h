/*  route — maps an HTTP method and path onto one of the gateway's
    endpoints and extracts the job id. Pure: no I/O, no allocation, so the
    table can be unit-tested and fuzzed directly. */
#ifndef AURA_GATEWAY_ROUTE_H
#define AURA_GATEWAY_ROUTE_H

#include <stddef.h>

#include "ids.h"

typedef enum {
    ROUTE_HEALTHZ = 0, /* GET  /healthz */
    ROUTE_READYZ,      /* GET  /readyz */
    ROUTE_JOB_SUBMIT,  /* POST /api/jobs */
    ROUTE_QUICK_DEMO,  /* POST /api/quick/demo */
    ROUTE_JOB_GET,     /* GET  /api/jobs/{id} */
    ROUTE_JOB_EVENTS,  /* GET  /api/jobs/{id}/events */
    ROUTE_JOB_LIST,    /* GET  /api/jobs */
    ROUTE_JOB_CANCEL,  /* POST /api/jobs/{id}/cancel */
    ROUTE_JOB_RETRY,   /* POST /api/jobs/{id}/retry */
    ROUTE_JOB_ARTIFACT, /* GET, HEAD /api/jobs/{id}/artifacts/{name} */
    ROUTE_METRICS,     /* GET  /metrics */
    ROUTE_EVENTS,      /* GET  /api/events */
    ROUTE_WEB,         /* GET, HEAD any path outside /api, /healthz, /readyz,
                          /metrics: a file of the web UI */
    ROUTE_PREFLIGHT,   /* OPTIONS on any API path (CORS preflight) */
    ROUTE_COUNT
} route_id_t;

typedef enum {
    ROUTE_MATCHED = 0,        /* route->id (and route->job) are set */
    ROUTE_NOT_FOUND,          /* no endpoint has this path: 404 */
    ROUTE_METHOD_NOT_ALLOWED, /* the path exists: 405, route->allow is set */
    ROUTE_BAD_JOB_ID          /* the path's job id is malformed: 400 */
} route_result_t;

/*  Room for a path's "{name}" segment: longer segments are cut to
    ROUTE_NAME_SIZE - 1 bytes, still longer than any valid artifact name. */
#define ROUTE_NAME_SIZE 160

typedef struct {
    route_id_t id;
    char job[JOB_ID_SIZE]; /* "" unless the path carries a job id */
    char name[ROUTE_NAME_SIZE]; /* the raw "{name}" segment, "" if none;
                                   not validated here */
    const char *allow;     /* static "GET" / "POST" …, for 405 */
} route_t;

/*  Matches method (a NUL-terminated token such as "GET") and the request
    path path[0..path_len) as sent, without the query string and NOT
    percent-decoded: an encoded "/" stays inside its segment, so
    "/api/jobs/%2e%2e%2fx" is a malformed id, not another path. Paths
    match exactly: no trailing slash, no empty segment. The method is checked
    before the job id, so a wrong method on a job path answers 405 whatever
    the id. OPTIONS on an endpoint's path is ROUTE_PREFLIGHT, with allow
    set to that path's methods. GET and HEAD of any other path outside
    /api/ are ROUTE_WEB (the server decides whether a file is there);
    other methods there answer 405. route is always written. */
route_result_t route_match (const char *method, const char *path,
                            size_t path_len, route_t *route);

/*  The path template of a route ("/api/jobs/{id}/events"), for logs. */
const char *route_name (route_id_t id);

#endif
