/*  auth — who may call the gateway: the API bearer token, the /metrics
    token, per-job event tokens for browsers, and the CORS origins allowed
    to read answers. Pure checks over strings the server hands in; no
    HTTP library, no environment, no I/O. Secrets are kept only as
    digests and keys derived from them, and are wiped on destroy.

    Event tokens exist because a browser's EventSource cannot send an
    Authorization header: the gateway puts a token signed for one job into
    that job's `links.events` (`/api/jobs/{id}/events?token=…`). The key
    is derived from the API token alone, so every gateway sharing the API
    token accepts the tokens any of them made. A token is checked when a
    stream opens; an open stream is not cut when it expires. */
#ifndef AURA_GATEWAY_AUTH_H
#define AURA_GATEWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Room for any event token, NUL included. Tokens are
    `<expiry unix seconds>.<43 characters of base64url>`, every character
    unreserved in a URL, so they go into a query string unescaped. */
#define AURA_EVENT_TOKEN_MAX 80

/*  Event token lifetime when the configuration leaves it at 0: long
    enough for a job to finish while a tab watches it and for EventSource
    to reconnect across a network blip, short enough that a leaked link
    soon stops working. A client past it fetches a fresh link with
    GET /api/jobs/{id}. */
#define AUTH_EVENT_TOKEN_TTL_DEFAULT_S 3600
/*  Longest lifetime accepted, so that an expiry never overflows. */
#define AUTH_EVENT_TOKEN_TTL_MAX_S (366 * 86400)
/*  Longest job id (in bytes) an event token can be signed for. */
#define AUTH_JOB_ID_MAX 128

/*  What a CORS answer carries besides Access-Control-Allow-Origin. A
    preflight (OPTIONS with Origin and Access-Control-Request-Method) from
    an allowed origin is answered 204 with Allow-Origin, Allow-Methods,
    Allow-Headers and Max-Age; every other answer to an allowed origin
    carries Allow-Origin and Expose-Headers. When a list of origins is
    configured (auth_cors_varies), every answer, allowed or not, carries
    `Vary: Origin` so that shared caches keep one copy per origin.
    Credentials (cookies) are never allowed: the API token travels in
    Authorization, which Allow-Headers lists. */
#define AUTH_CORS_ALLOW_METHODS "GET, POST, OPTIONS"
#define AUTH_CORS_ALLOW_HEADERS                                                \
    "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, "            \
    "X-Correlation-ID"
#define AUTH_CORS_EXPOSE_HEADERS \
    "Location, X-Correlation-ID, Retry-After, ETag, Content-Range, Content-Length"
#define AUTH_CORS_MAX_AGE "600"
#define AUTH_CORS_VARY "Origin"

typedef struct auth_t auth_t;

typedef struct {
    const char *api_token;     /* NULL or "": /api/ needs no token */
    const char *metrics_token; /* NULL or "": /metrics is open */
    const char *cors_origins;  /* "https://a.example, http://localhost:5173",
                                  or "*"; NULL or "": no CORS headers */
    int64_t event_token_ttl_s; /* 0: AUTH_EVENT_TOKEN_TTL_DEFAULT_S */
} auth_config_t;

/*  Checks cfg without keeping anything. Tokens must be visible ASCII
    (0x21-0x7e: what a Bearer header can carry); each CORS entry must be
    an origin `scheme://host[:port]` (no path, no trailing slash), or the
    list must be exactly `*`; the lifetime must be 0 to
    AUTH_EVENT_TOKEN_TTL_MAX_S. Returns 0, or -EINVAL with one line
    naming the problem (never a token's value) in why[0..why_size). */
int auth_config_check (const auth_config_t *cfg, char *why, size_t why_size);

/*  Creates the checker from cfg, copying what it keeps. Returns NULL with
    errno EINVAL when auth_config_check refuses cfg, or ENOMEM/EIO when
    memory or the crypto library fails. */
auth_t *auth_new (const auth_config_t *cfg);

/*  Wipes the keys and frees the checker. Sets *self_p to NULL; does
    nothing when it is NULL. */
void auth_destroy (auth_t **self_p);

/*  True when an API token is configured. */
bool auth_enabled (const auth_t *self);

/*  True when the Authorization header value may call /api/...: always when
    auth is off; otherwise it must be `Bearer <token>` (scheme in any
    case, one or more spaces) with exactly the API token. The time taken
    does not depend on the token or on how much of it matched. A NULL
    header is refused. */
bool auth_check_bearer (const auth_t *self, const char *authorization_header);

/*  The same for /metrics against the metrics token; always true when no
    metrics token is configured (even when the API token is). */
bool auth_check_metrics (const auth_t *self, const char *authorization_header);

/*  Writes a token that lets a stream of job_id (1 to AUTH_JOB_ID_MAX
    bytes) open until now_s plus the configured lifetime, NUL-terminated,
    into out[0..cap); AURA_EVENT_TOKEN_MAX always suffices. Returns its
    length, -ENOSPC when it does not fit (out is then ""), or -EINVAL when
    auth is off, job_id is empty or too long, or now_s is negative. */
int auth_event_token (const auth_t *self, const char *job_id, int64_t now_s,
                      char *out, size_t cap);

/*  Checks a token from `?token=` for a stream of job_id at now_s.
    Returns 0 when it was signed for this job by a gateway with the same
    API token and has not expired (always 0 when auth is off);
    -EKEYEXPIRED when it was, but its expiry is at or before now_s;
    -EACCES for anything else: NULL, malformed, too long, a bad signature,
    or a token signed for another job. The signature is compared in
    constant time. */
int auth_verify_event_token (const auth_t *self, const char *job_id,
                             const char *token, int64_t now_s);

/*  True when CORS origins are configured at all. */
bool auth_cors_enabled (const auth_t *self);

/*  True when the CORS answer depends on the request's Origin (a list is
    configured, not `*`): every answer must then carry `Vary: Origin`. */
bool auth_cors_varies (const auth_t *self);

/*  The value for Access-Control-Allow-Origin given the request's Origin
    header: origin itself when it equals a listed origin (ASCII case
    aside, as scheme and host are), "*" when `*` is configured, NULL when
    origin is NULL, not listed, or CORS is off. The result points into
    origin or into static storage. */
const char *auth_cors_allow_origin (const auth_t *self, const char *origin);

#endif
