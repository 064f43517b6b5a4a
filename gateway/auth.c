/*  auth — bearer and metrics tokens, signed per-job event tokens, and the
    CORS origin list (see auth.h). Every secret comparison goes through
    fixed-length HMAC digests and CRYPTO_memcmp. */
#include "auth.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define S_DIGEST_SIZE 32 /* SHA-256 */
/*  base64url of 32 bytes, without padding. */
#define S_SIGNATURE_LEN 43
/*  Longest expiry written: INT64_MAX has 19 digits. */
#define S_EXPIRY_DIGITS_MAX 19

/*  Fixed label the event key is derived under, so the API token itself
    never signs anything and a future token format can use another. */
static const char s_event_key_label[] = "aura event token v1";

struct auth_t {
    /*  Random per checker: presented tokens are digested under it, so
        comparing digests takes the same time whatever their lengths, and
        the stored digests are useless outside this process. */
    unsigned char compare_key[S_DIGEST_SIZE];
    bool api_enabled;
    unsigned char api_digest[S_DIGEST_SIZE];
    bool metrics_enabled;
    unsigned char metrics_digest[S_DIGEST_SIZE];
    unsigned char event_key[S_DIGEST_SIZE];
    int64_t event_token_ttl_s;
    bool cors_any;
    char **cors_origins;
    size_t cors_count;
};

static bool
s_is_set (const char *value)
{
    return value && value[0] != '\0';
}

static bool
s_is_space (char ch)
{
    return ch == ' ' || ch == '\t';
}

/*  HMAC-SHA256 of data[0..len) under key into out. False when the
    crypto library fails. */
static bool
s_hmac (const unsigned char *key, size_t key_len, const void *data, size_t len,
        unsigned char out[S_DIGEST_SIZE])
{
    unsigned int out_len = 0;
    if (key_len > INT32_MAX)
        return false;
    if (!HMAC (EVP_sha256 (), key, (int)key_len, data, len, out, &out_len))
        return false;
    return out_len == S_DIGEST_SIZE;
}

/*  True when the token is 1 or more visible ASCII characters, which is
    what a Bearer header can carry. */
static bool
s_token_valid (const char *token)
{
    for (const char *p = token; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return true;
}

/*  True when entry[0..len) is an origin as browsers send it:
    scheme "://" host [":" port], nothing after. */
static bool
s_origin_valid (const char *entry, size_t len)
{
    size_t i = 0;
    while (i < len
           && ((entry[i] >= 'a' && entry[i] <= 'z')
               || (entry[i] >= 'A' && entry[i] <= 'Z')
               || (i > 0
                   && ((entry[i] >= '0' && entry[i] <= '9') || entry[i] == '+'
                       || entry[i] == '-' || entry[i] == '.'))))
        i++;
    if (i == 0 || len - i < 4 || memcmp (entry + i, "://", 3) != 0)
        return false;
    i += 3;
    size_t host_start = i;
    for (; i < len; i++) {
        char ch = entry[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == '?' || ch == '#'
            || ch == '@' || ch == ',' || ch == '*')
            return false;
    }
    return i > host_start;
}

/*  Calls visit on each trimmed, non-empty entry of a comma-separated
    list; stops at and returns the first non-zero answer. */
typedef int (s_entry_visit_fn) (const char *entry, size_t len, void *arg);

static int
s_list_each (const char *list, s_entry_visit_fn *visit, void *arg)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr (p, ',');
        const char *end = comma ? comma : p + strlen (p);
        const char *start = p;
        while (start < end && s_is_space (*start))
            start++;
        const char *stop = end;
        while (stop > start && s_is_space (stop[-1]))
            stop--;
        if (stop > start) {
            int rc = visit (start, (size_t)(stop - start), arg);
            if (rc != 0)
                return rc;
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

typedef struct {
    char *why;
    size_t why_size;
    size_t count;
    bool star;
} s_cors_check_t;

static int
s_cors_check_entry (const char *entry, size_t len, void *arg)
{
    s_cors_check_t *check = arg;
    check->count++;
    if (len == 1 && entry[0] == '*') {
        check->star = true;
        return 0;
    }
    if (s_origin_valid (entry, len))
        return 0;
    int shown = len > 100 ? 100 : (int)len;
    snprintf (check->why, check->why_size,
              "CORS origin \"%.*s\" is not scheme://host[:port] (no path, no "
              "trailing slash)",
              shown, entry);
    return -EINVAL;
}

int
auth_config_check (const auth_config_t *cfg, char *why, size_t why_size)
{
    char scratch[1];
    if (!why || why_size == 0) {
        why = scratch;
        why_size = sizeof scratch;
    }
    why[0] = '\0';
    if (!cfg) {
        snprintf (why, why_size, "no auth configuration");
        return -EINVAL;
    }
    if (s_is_set (cfg->api_token) && !s_token_valid (cfg->api_token)) {
        snprintf (why, why_size,
                  "API token may hold only visible ASCII characters");
        return -EINVAL;
    }
    if (s_is_set (cfg->metrics_token) && !s_token_valid (cfg->metrics_token)) {
        snprintf (why, why_size,
                  "metrics token may hold only visible ASCII characters");
        return -EINVAL;
    }
    if (cfg->event_token_ttl_s < 0
        || cfg->event_token_ttl_s > AUTH_EVENT_TOKEN_TTL_MAX_S) {
        snprintf (why, why_size, "event token lifetime must be 0 to %d s",
                  AUTH_EVENT_TOKEN_TTL_MAX_S);
        return -EINVAL;
    }
    if (s_is_set (cfg->cors_origins)) {
        s_cors_check_t check = { why, why_size, 0, false };
        int rc = s_list_each (cfg->cors_origins, s_cors_check_entry, &check);
        if (rc != 0)
            return rc;
        if (check.star && check.count > 1) {
            snprintf (
                why, why_size,
                "CORS origins are either \"*\" alone or a list of origins");
            return -EINVAL;
        }
    }
    return 0;
}

static int
s_cors_copy_entry (const char *entry, size_t len, void *arg)
{
    auth_t *self = arg;
    if (len == 1 && entry[0] == '*') {
        self->cors_any = true;
        return 0;
    }
    char *copy = strndup (entry, len);
    if (!copy)
        return -ENOMEM;
    self->cors_origins[self->cors_count++] = copy;
    return 0;
}

auth_t *
auth_new (const auth_config_t *cfg)
{
    if (auth_config_check (cfg, NULL, 0) != 0) {
        errno = EINVAL;
        return NULL;
    }
    auth_t *self = calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    int error = EIO;
    if (RAND_bytes (self->compare_key, sizeof self->compare_key) != 1)
        goto fail;
    self->event_token_ttl_s = cfg->event_token_ttl_s > 0
                                  ? cfg->event_token_ttl_s
                                  : AUTH_EVENT_TOKEN_TTL_DEFAULT_S;
    if (s_is_set (cfg->api_token)) {
        const unsigned char *token = (const unsigned char *)cfg->api_token;
        size_t token_len = strlen (cfg->api_token);
        if (!s_hmac (self->compare_key, sizeof self->compare_key, token,
                     token_len, self->api_digest)
            || !s_hmac (token, token_len, s_event_key_label,
                        sizeof s_event_key_label - 1, self->event_key))
            goto fail;
        self->api_enabled = true;
    }
    if (s_is_set (cfg->metrics_token)) {
        if (!s_hmac (self->compare_key, sizeof self->compare_key,
                     cfg->metrics_token, strlen (cfg->metrics_token),
                     self->metrics_digest))
            goto fail;
        self->metrics_enabled = true;
    }
    if (s_is_set (cfg->cors_origins)) {
        /*  At most one entry per comma, plus one. */
        size_t capacity = 1;
        for (const char *p = cfg->cors_origins; *p; p++)
            capacity += *p == ',';
        error = ENOMEM;
        self->cors_origins = calloc (capacity, sizeof *self->cors_origins);
        if (!self->cors_origins
            || s_list_each (cfg->cors_origins, s_cors_copy_entry, self) != 0)
            goto fail;
    }
    return self;

fail:
    auth_destroy (&self);
    errno = error;
    return NULL;
}

void
auth_destroy (auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_t *self = *self_p;
    for (size_t i = 0; i < self->cors_count; i++)
        free (self->cors_origins[i]);
    free (self->cors_origins);
    OPENSSL_cleanse (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

bool
auth_enabled (const auth_t *self)
{
    assert (self);
    return self->api_enabled;
}

/*  Finds the credentials of `Bearer <token>` in header: the scheme in any
    case, then one or more spaces, then the token up to trailing white
    space. False when the header has another shape. */
static bool
s_bearer_token (const char *header, const char **token, size_t *token_len)
{
    static const char scheme[] = "Bearer";
    const size_t scheme_len = sizeof scheme - 1;
    if (!header)
        return false;
    while (s_is_space (*header))
        header++;
    if (strncasecmp (header, scheme, scheme_len) != 0
        || header[scheme_len] != ' ')
        return false;
    const char *p = header + scheme_len;
    while (*p == ' ')
        p++;
    size_t len = strlen (p);
    while (len > 0 && s_is_space (p[len - 1]))
        len--;
    if (len == 0)
        return false;
    *token = p;
    *token_len = len;
    return true;
}

/*  True when the header's bearer token digests to expected under the
    checker's compare key. Both digests have the same length, so the
    comparison takes the same time whatever was sent. */
static bool
s_bearer_matches (const auth_t *self, const char *header,
                  const unsigned char expected[S_DIGEST_SIZE])
{
    const char *token;
    size_t token_len;
    unsigned char digest[S_DIGEST_SIZE];
    if (!s_bearer_token (header, &token, &token_len))
        return false;
    if (!s_hmac (self->compare_key, sizeof self->compare_key, token, token_len,
                 digest))
        return false;
    bool matches = CRYPTO_memcmp (digest, expected, S_DIGEST_SIZE) == 0;
    OPENSSL_cleanse (digest, sizeof digest);
    return matches;
}

bool
auth_check_bearer (const auth_t *self, const char *authorization_header)
{
    assert (self);
    if (!self->api_enabled)
        return true;
    return s_bearer_matches (self, authorization_header, self->api_digest);
}

bool
auth_check_metrics (const auth_t *self, const char *authorization_header)
{
    assert (self);
    if (!self->metrics_enabled)
        return true;
    return s_bearer_matches (self, authorization_header, self->metrics_digest);
}

/*  base64url without padding of data[0..len) into out, which has room
    for (len * 4 + 2) / 3 characters and a NUL. */
static void
s_base64url (const unsigned char *data, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v =
            (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    }
    else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
}

/*  The signature of job_id[0..job_id_len) until expiry_s, as the
    base64url text a token carries: HMAC(event key, job_id "\n" expiry).
    The job id cannot swallow the expiry: the message splits at its last
    newline. False when the crypto library fails. */
static bool
s_event_signature (const auth_t *self, const char *job_id, size_t job_id_len,
                   int64_t expiry_s, char out[S_SIGNATURE_LEN + 1])
{
    char message[AUTH_JOB_ID_MAX + 1 + S_EXPIRY_DIGITS_MAX + 1];
    int n = snprintf (message, sizeof message, "%.*s\n%" PRId64,
                      (int)job_id_len, job_id, expiry_s);
    if (n < 0 || (size_t)n >= sizeof message)
        return false;
    unsigned char mac[S_DIGEST_SIZE];
    bool ok = s_hmac (self->event_key, sizeof self->event_key, message,
                      (size_t)n, mac);
    if (ok)
        s_base64url (mac, sizeof mac, out);
    OPENSSL_cleanse (mac, sizeof mac);
    return ok;
}

int
auth_event_token (const auth_t *self, const char *job_id, int64_t now_s,
                  char *out, size_t cap)
{
    assert (self);
    assert (out || cap == 0);
    if (cap > 0)
        out[0] = '\0';
    size_t job_id_len = job_id ? strnlen (job_id, AUTH_JOB_ID_MAX + 1) : 0;
    if (!self->api_enabled || job_id_len == 0 || job_id_len > AUTH_JOB_ID_MAX
        || now_s < 0 || now_s > INT64_MAX - self->event_token_ttl_s)
        return -EINVAL;
    int64_t expiry_s = now_s + self->event_token_ttl_s;
    char signature[S_SIGNATURE_LEN + 1];
    if (!s_event_signature (self, job_id, job_id_len, expiry_s, signature))
        return -EIO;
    int n = snprintf (out, cap, "%" PRId64 ".%s", expiry_s, signature);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

/*  Reads the expiry of a token: 1 to 19 decimal digits without a leading
    zero (one spelling per value, as auth_event_token writes it) that fit
    an int64_t, ending at '.'. Returns the position after the '.', or NULL
    when the token has another shape. */
static const char *
s_parse_expiry (const char *token, int64_t *expiry_s)
{
    const char *p = token;
    int64_t value = 0;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '.'))
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++) {
        int digit = *p - '0';
        if (p - token >= S_EXPIRY_DIGITS_MAX
            || value > (INT64_MAX - digit) / 10)
            return NULL;
        value = value * 10 + digit;
    }
    if (*p != '.')
        return NULL;
    *expiry_s = value;
    return p + 1;
}

int
auth_verify_event_token (const auth_t *self, const char *job_id,
                         const char *token, int64_t now_s)
{
    assert (self);
    if (!self->api_enabled)
        return 0;
    if (!job_id || !token)
        return -EACCES;
    size_t job_id_len = strnlen (job_id, AUTH_JOB_ID_MAX + 1);
    if (job_id_len == 0 || job_id_len > AUTH_JOB_ID_MAX
        || strnlen (token, AURA_EVENT_TOKEN_MAX) >= AURA_EVENT_TOKEN_MAX)
        return -EACCES;
    int64_t expiry_s;
    const char *presented = s_parse_expiry (token, &expiry_s);
    if (!presented || strlen (presented) != S_SIGNATURE_LEN)
        return -EACCES;
    char expected[S_SIGNATURE_LEN + 1];
    if (!s_event_signature (self, job_id, job_id_len, expiry_s, expected))
        return -EACCES;
    bool signed_here =
        CRYPTO_memcmp (expected, presented, S_SIGNATURE_LEN) == 0;
    OPENSSL_cleanse (expected, sizeof expected);
    if (!signed_here)
        return -EACCES;
    return expiry_s > now_s ? 0 : -EKEYEXPIRED;
}

bool
auth_cors_enabled (const auth_t *self)
{
    assert (self);
    return self->cors_any || self->cors_count > 0;
}

bool
auth_cors_varies (const auth_t *self)
{
    assert (self);
    return !self->cors_any && self->cors_count > 0;
}

const char *
auth_cors_allow_origin (const auth_t *self, const char *origin)
{
    assert (self);
    if (!origin || origin[0] == '\0')
        return NULL;
    if (self->cors_any)
        return "*";
    /*  Browsers send scheme and host in lower case; a configured
        "https://App.example" still means that origin. */
    for (size_t i = 0; i < self->cors_count; i++)
        if (strcasecmp (origin, self->cors_origins[i]) == 0)
            return origin;
    return NULL;
}
