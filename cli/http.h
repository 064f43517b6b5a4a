/*  http — the gateway as libcurl reaches it: one client per run holds the
    base URL, the bearer token and a connection that is kept alive between
    requests. Answers are handed back whatever their status; deciding what
    a 404 means is the caller's business. The token goes only into the
    Authorization header, never into a message. */
#ifndef AURA_CLI_HTTP_H
#define AURA_CLI_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_client_t http_client_t;

/*  What came back. body holds the whole body of a plain request, or, for
    a streamed one, the body of an answer that was not 2xx (a problem
    document); it is NUL-terminated and owned by the response. */
typedef struct {
    long status; /* 0 when no answer came */
    char *body;
    size_t body_len;
    char content_type[128];
    char content_range[128]; /* "bytes a-b/n" of a 206 */
    char etag[128];          /* the ETag of a file */
    long retry_after_s;      /* Retry-After in seconds, -1 when absent */
    bool body_started;       /* a streamed answer delivered bytes */
    char error[256];         /* why no (complete) answer came */
} http_response_t;

/*  Receives the next bytes of a streamed 2xx body; response has the
    status and headers already. Returns 0 to go on, anything else to stop
    the transfer (http_client_stream then returns -ECANCELED). */
typedef int (http_sink_fn) (const char *data, size_t len,
                            const http_response_t *response, void *arg);

/*  A client of the gateway at base_url (http:// or https://; a trailing
    slash is dropped); token, if not NULL, is sent with every request as
    Authorization: Bearer. interrupted, if not NULL, is polled during
    transfers: once it is nonzero, the transfer stops with -EINTR.
    Returns NULL when memory runs out or libcurl cannot start. */
http_client_t *http_client_new (const char *base_url, const char *token,
                                volatile sig_atomic_t *interrupted);

/*  Closes the connection and frees the client; does nothing for NULL;
    sets *self_p to NULL. */
void http_client_destroy (http_client_t **self_p);

/*  The base URL without a trailing slash, for messages. */
const char *http_client_url (const http_client_t *self);

/*  True when requests carry a bearer token. */
bool http_client_has_token (const http_client_t *self);

/*  Sends method path (path starts with '/', query included) with
    json_body as application/json when not NULL, and collects the answer
    into response, whose previous contents are released first. Requests
    time out after timeout_s seconds in all (0: no limit). Returns 0 when
    an answer came, whatever its status; -EIO (connection refused, reset,
    timed out, ...) or -EINTR with response->error set otherwise. */
int http_client_call (http_client_t *self, const char *method, const char *path,
                      const char *json_body, long timeout_s,
                      http_response_t *response);

/*  GETs path with the extra headers (a NULL-terminated list of "Name:
    value", or NULL) and hands a 2xx body to sink as it arrives; any other
    body is collected into response. A transfer that stays below one byte
    a second for idle_s seconds is abandoned (0: never). Returns 0 when
    the answer ended normally; -ECANCELED when sink stopped it; -EIO,
    -EINTR as http_client_call (response->status tells whether an answer
    had begun). */
int http_client_stream (http_client_t *self, const char *path,
                        const char *const *headers, long idle_s,
                        http_sink_fn *sink, void *arg,
                        http_response_t *response);

/*  Sleeps ms milliseconds in short naps, so that the interrupt flag
    given to http_client_new cuts it short. Returns false when
    interrupted. */
bool http_client_wait (http_client_t *self, long ms);

/*  Releases what response holds and makes it empty again. */
void http_response_reset (http_response_t *response);

#endif
