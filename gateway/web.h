/*  web — which file of the web UI directory a request path names. Pure:
    the server opens the file; this module only decides whether the path
    may name one and what its Content-Type is. */
#ifndef AURA_GATEWAY_WEB_H
#define AURA_GATEWAY_WEB_H

#include <stddef.h>

/*  Longest relative path web_resolve writes, with its NUL. */
#define WEB_PATH_SIZE 256
/*  Most directory levels below the web directory. */
#define WEB_MAX_DEPTH 8

/*  Turns the raw request path path[0..len) (not percent-decoded, no query
    string) into a path relative to the web directory: "/" and any path
    ending in "/" name that directory's index.html. Every segment must be
    1 to 100 characters of A-Z a-z 0-9 . _ - and must not start with '.',
    so that nothing outside the directory, hidden or encoded can be named.
    Returns 0, or -ENOENT for a path that can name no file. */
int web_resolve (const char *path, size_t len, char *out, size_t out_size);

/*  The Content-Type of a web file, by extension; application/octet-stream
    when unknown. */
const char *web_content_type (const char *name);

#endif
