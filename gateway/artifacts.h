/*  artifacts — the pure half of GET /api/jobs/{id}/artifacts/{name}: which
    file names may be served, their Content-Type, the ETag of a file, and
    the If-None-Match and Range headers. No I/O, no allocation, so unit
    tests and fuzzers call it directly; server.c opens and sends the file.

    Caching: artifacts answer `Cache-Control: private, no-cache`. A retried
    job may rewrite a file under the same name, so a client must revalidate
    every time (cheap: a 304 on a matching ETag); `private` because a job's
    outputs belong to whoever submitted it, not to shared caches. */
#ifndef AURA_GATEWAY_ARTIFACTS_H
#define AURA_GATEWAY_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Longest artifact name served. */
#define ARTIFACTS_NAME_MAX 128
/*  Room for an ETag made by artifacts_etag_format, quotes and NUL included. */
#define ARTIFACTS_ETAG_SIZE 64

typedef enum {
    ARTIFACTS_RANGE_NONE = 0,      /* no Range, or one to ignore: send 200 */
    ARTIFACTS_RANGE_SATISFIABLE,   /* *first..*last (inclusive): send 206 */
    ARTIFACTS_RANGE_UNSATISFIABLE  /* send 416 naming the size in Content-Range */
} artifacts_range_t;

/*  True when name[0..len) is a plain file name that may be served: 1 to
    ARTIFACTS_NAME_MAX characters of [A-Za-z0-9._-], not starting with '.',
    containing no "..", and not ending in ".tmp" (a file still being
    written). The path arrives undecoded, so "%2e%2e" is refused as well. */
bool artifacts_name_valid (const char *name, size_t len);

/*  The Content-Type for name, by its extension (case-insensitive);
    "application/octet-stream" when unknown. Never NULL; static storage. */
const char *artifacts_content_type (const char *name);

/*  Writes the strong ETag `"<size>-<mtime ns>-<inode>"` (hex, quoted) of a
    file into out[0..cap). Returns 0, or -ENOSPC when it does not fit. */
int artifacts_etag_format (uint64_t size_bytes, int64_t mtime_ns, uint64_t inode,
                           char *out, size_t cap);

/*  True when an If-None-Match header value (a comma-separated list of
    entity tags, or "*") matches etag. The comparison is weak (RFC 9110
    13.1.2): W/"x" matches "x". A NULL header never matches. */
bool artifacts_etag_matches (const char *if_none_match, const char *etag);

/*  Parses a Range header value against a file of size_bytes. Only one
    byte range is honoured: `bytes=a-b`, `bytes=a-`, `bytes=-n`; a last
    position past the end is clamped. A range that starts at or past the
    end, a zero-length suffix, or any range of an empty file is
    unsatisfiable. A NULL header, a malformed one, another unit, or a list
    of several ranges answers ARTIFACTS_RANGE_NONE (RFC 9110 lets a server
    ignore Range). *first and *last are written only when satisfiable. */
artifacts_range_t artifacts_parse_range (const char *header, uint64_t size_bytes,
                                         uint64_t *first, uint64_t *last);

#endif
