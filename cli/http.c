/*  http — requests to the gateway over libcurl's easy interface. One easy
    handle serves every request of a run (curl_easy_reset keeps its
    connection cache), so a command that makes several requests opens one
    connection. */
#include "http.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/*  Largest body a plain request collects: job pages are a few KiB. */
#define S_MAX_BODY_BYTES (8 * 1024 * 1024)
#define S_CONNECT_TIMEOUT_S 10L

struct http_client_t {
    CURL *curl;
    char *base_url;
    char *auth_header; /* "Authorization: Bearer …": never printed */
    volatile sig_atomic_t *interrupted;
};

/*  The state of one transfer, shared by libcurl's callbacks. */
typedef struct {
    http_client_t *client;
    http_response_t *response;
    http_sink_fn *sink; /* NULL: collect the body whatever its status */
    void *sink_arg;
    bool sink_stopped;
    bool too_large;
} s_transfer_t;

http_client_t *
http_client_new (const char *base_url, const char *token,
                 volatile sig_atomic_t *interrupted)
{
    assert (base_url);
    http_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->interrupted = interrupted;
    self->base_url = strdup (base_url);
    if (!self->base_url)
        goto failed;
    size_t len = strlen (self->base_url);
    while (len > 0 && self->base_url[len - 1] == '/')
        self->base_url[--len] = '\0';
    if (token) {
        size_t size = strlen ("Authorization: Bearer ") + strlen (token) + 1;
        self->auth_header = malloc (size);
        if (!self->auth_header)
            goto failed;
        int n = snprintf (self->auth_header, size, "Authorization: Bearer %s",
                          token);
        if (n < 0 || (size_t)n >= size)
            goto failed;
    }
    self->curl = curl_easy_init ();
    if (!self->curl)
        goto failed;
    return self;

failed:
    http_client_destroy (&self);
    return NULL;
}

void
http_client_destroy (http_client_t **self_p)
{
    assert (self_p);
    http_client_t *self = *self_p;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    if (self->auth_header) {
        /* the token should not outlive its use in freed memory */
        memset (self->auth_header, 0, strlen (self->auth_header));
        free (self->auth_header);
    }
    free (self->base_url);
    free (self);
    *self_p = NULL;
}

const char *
http_client_url (const http_client_t *self)
{
    assert (self);
    return self->base_url;
}

bool
http_client_has_token (const http_client_t *self)
{
    assert (self);
    return self->auth_header != NULL;
}

bool
http_client_wait (http_client_t *self, long ms)
{
    assert (self);
    volatile sig_atomic_t *interrupted = self->interrupted;
    while (ms > 0) {
        if (interrupted && *interrupted)
            return false;
        long nap = ms > 100 ? 100 : ms;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = nap * 1000000L };
        nanosleep (&ts, NULL);
        ms -= nap;
    }
    return !(interrupted && *interrupted);
}

void
http_response_reset (http_response_t *response)
{
    assert (response);
    free (response->body);
    memset (response, 0, sizeof *response);
    response->retry_after_s = -1;
}

static int
s_body_append (http_response_t *response, const char *data, size_t len)
{
    if (response->body_len + len > S_MAX_BODY_BYTES)
        return -EMSGSIZE;
    char *body = realloc (response->body, response->body_len + len + 1);
    if (!body)
        return -ENOMEM;
    memcpy (body + response->body_len, data, len);
    response->body = body;
    response->body_len += len;
    response->body[response->body_len] = '\0';
    return 0;
}

/*  Copies a header value without surrounding blanks and line end. */
static void
s_header_value (const char *value, size_t len, char *out, size_t out_size)
{
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && isspace ((unsigned char)value[len - 1]))
        len--;
    if (len >= out_size)
        len = out_size - 1;
    memcpy (out, value, len);
    out[len] = '\0';
}

static bool
s_header_is (const char *line, size_t len, const char *name, const char **value,
             size_t *value_len)
{
    size_t n = strlen (name);
    if (len <= n || line[n] != ':' || strncasecmp (line, name, n) != 0)
        return false;
    *value = line + n + 1;
    *value_len = len - n - 1;
    return true;
}

static size_t
s_on_header (char *buffer, size_t size, size_t count, void *arg)
{
    s_transfer_t *transfer = arg;
    http_response_t *response = transfer->response;
    size_t len = size * count;
    const char *value;
    size_t value_len;
    char text[128];

    if (len > 5 && strncmp (buffer, "HTTP/", 5) == 0) {
        /* a new answer (after a 1xx one, say): forget the last one's headers */
        response->content_type[0] = '\0';
        response->content_range[0] = '\0';
        response->etag[0] = '\0';
        response->retry_after_s = -1;
        const char *space = memchr (buffer, ' ', len);
        response->status = 0;
        if (space && (size_t)(space - buffer) + 4 <= len) {
            long status = 0;
            for (int i = 1; i <= 3; i++) {
                if (!isdigit ((unsigned char)space[i]))
                    return len;
                status = status * 10 + (space[i] - '0');
            }
            response->status = status;
        }
    }
    else if (s_header_is (buffer, len, "Content-Type", &value, &value_len))
        s_header_value (value, value_len, response->content_type,
                        sizeof response->content_type);
    else if (s_header_is (buffer, len, "Content-Range", &value, &value_len))
        s_header_value (value, value_len, response->content_range,
                        sizeof response->content_range);
    else if (s_header_is (buffer, len, "ETag", &value, &value_len))
        s_header_value (value, value_len, response->etag,
                        sizeof response->etag);
    else if (s_header_is (buffer, len, "Retry-After", &value, &value_len)) {
        s_header_value (value, value_len, text, sizeof text);
        char *end = NULL;
        errno = 0;
        long seconds = strtol (text, &end, 10);
        if (errno == 0 && end != text && *end == '\0' && seconds >= 0
            && seconds < 86400)
            response->retry_after_s = seconds;
    }
    return len;
}

static size_t
s_on_body (char *data, size_t size, size_t count, void *arg)
{
    s_transfer_t *transfer = arg;
    http_response_t *response = transfer->response;
    size_t len = size * count;
    bool success = response->status >= 200 && response->status < 300;
    if (transfer->sink && success) {
        response->body_started = true;
        if (transfer->sink (data, len, response, transfer->sink_arg) != 0) {
            transfer->sink_stopped = true;
            return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
        return len;
    }
    int rc = s_body_append (response, data, len);
    if (rc < 0) {
        transfer->too_large = rc == -EMSGSIZE;
        return 0;
    }
    return len;
}

static int
s_on_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow,
               curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    s_transfer_t *transfer = arg;
    volatile sig_atomic_t *interrupted = transfer->client->interrupted;
    return interrupted && *interrupted ? 1 : 0;
}

/*  Runs one request with the options common to all; method NULL means
    GET. Returns as http_client_call/stream do. */
static int
s_perform (http_client_t *self, const char *method, const char *path,
           const char *json_body, const char *const *extra_headers,
           long timeout_s, long idle_s, s_transfer_t *transfer)
{
    CURL *curl = self->curl;
    http_response_t *response = transfer->response;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *url = NULL;
    int rc = -ENOMEM;

    size_t url_size = strlen (self->base_url) + strlen (path) + 1;
    url = malloc (url_size);
    if (!url || snprintf (url, url_size, "%s%s", self->base_url, path) < 0)
        goto cleanup;

    struct curl_slist *grown;
#define S_ADD_HEADER(text)                                                     \
    do {                                                                       \
        grown = curl_slist_append (headers, (text));                           \
        if (!grown)                                                            \
            goto cleanup;                                                      \
        headers = grown;                                                       \
    } while (0)
    if (self->auth_header)
        S_ADD_HEADER (self->auth_header);
    if (json_body)
        S_ADD_HEADER ("Content-Type: application/json");
    /* no 100-continue round trip for the small bodies sent here */
    S_ADD_HEADER ("Expect:");
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        S_ADD_HEADER (extra_headers[i]);
#undef S_ADD_HEADER

    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "aura/" AURA_VERSION);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, S_CONNECT_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, timeout_s);
    if (idle_s > 0) {
        curl_easy_setopt (curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt (curl, CURLOPT_LOW_SPEED_TIME, idle_s);
    }
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, transfer);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, transfer);
    if (method && strcmp (method, "POST") == 0) {
        curl_easy_setopt (curl, CURLOPT_POST, 1L);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json_body ? json_body : "");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE,
                          (long)(json_body ? strlen (json_body) : 0));
    }
    else if (method && strcmp (method, "GET") != 0)
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);

    CURLcode code = curl_easy_perform (curl);
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        response->status = status;
        rc = 0;
    }
    else if (transfer->sink_stopped)
        rc = -ECANCELED;
    else if (code == CURLE_ABORTED_BY_CALLBACK && self->interrupted
             && *self->interrupted) {
        snprintf (response->error, sizeof response->error, "interrupted");
        rc = -EINTR;
    }
    else {
        if (transfer->too_large)
            snprintf (response->error, sizeof response->error,
                      "the answer is larger than %d bytes", S_MAX_BODY_BYTES);
        else
            snprintf (response->error, sizeof response->error, "%s",
                      errbuf[0] ? errbuf : curl_easy_strerror (code));
        rc = -EIO;
    }
    /* errbuf and headers die here: libcurl must not keep pointers to them */
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, NULL);

cleanup:
    if (rc == -ENOMEM && !response->error[0])
        snprintf (response->error, sizeof response->error, "out of memory");
    curl_slist_free_all (headers);
    free (url);
    return rc;
}

int
http_client_call (http_client_t *self, const char *method, const char *path,
                  const char *json_body, long timeout_s,
                  http_response_t *response)
{
    assert (self);
    http_response_reset (response);
    s_transfer_t transfer = { .client = self, .response = response };
    return s_perform (self, method, path, json_body, NULL, timeout_s, 0,
                      &transfer);
}

int
http_client_stream (http_client_t *self, const char *path,
                    const char *const *headers, long idle_s, http_sink_fn *sink,
                    void *arg, http_response_t *response)
{
    assert (self);
    assert (sink);
    http_response_reset (response);
    s_transfer_t transfer = {
        .client = self, .response = response, .sink = sink, .sink_arg = arg
    };
    return s_perform (self, "GET", path, NULL, headers, 0, idle_s, &transfer);
}
