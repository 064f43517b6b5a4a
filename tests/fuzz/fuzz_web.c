/*  fuzz_web — which web UI file a request path names, under arbitrary
    paths (as libmicrohttpd hands them over: not percent-decoded). Checked:
    a path that names a file gives a relative path of plain segments (no
    leading '/', no empty, hidden, "." or ".." segment, only
    A-Z a-z 0-9 . _ -), within the depth limit, that fits its buffer and
    ends in a file name; resolving is a function of the path alone; and
    nothing is read past the input. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "web.h"

static bool
s_plain (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '.' || c == '_' || c == '-';
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that a read past the path is caught */
    char *path = malloc (size ? size : 1);
    if (!path)
        return 0;
    if (size > 0)
        memcpy (path, data, size);

    char out[WEB_PATH_SIZE];
    memset (out, 'x', sizeof out);
    int rc = web_resolve (path, size, out, sizeof out);
    FUZZ_CHECK (rc == 0 || rc == -ENOENT);
    if (rc == 0) {
        size_t len = strnlen (out, sizeof out);
        FUZZ_CHECK (len > 0 && len < sizeof out);
        FUZZ_CHECK (out[0] != '/' && out[len - 1] != '/');
        size_t depth = 0;
        for (const char *seg = out; seg;) {
            const char *slash = strchr (seg, '/');
            size_t seg_len = slash ? (size_t) (slash - seg) : strlen (seg);
            FUZZ_CHECK (seg_len > 0);
            FUZZ_CHECK (seg[0] != '.');
            for (size_t i = 0; i < seg_len; i++)
                FUZZ_CHECK (s_plain (seg[i]));
            depth++;
            seg = slash ? slash + 1 : NULL;
        }
        FUZZ_CHECK (depth <= WEB_MAX_DEPTH + 1);
        /* the path names what it says: its segments, or its index */
        FUZZ_CHECK (size > 0 && path[0] == '/');
        FUZZ_CHECK (memcmp (out, path + 1, size - 1 < len ? size - 1 : len) == 0);

        char again[WEB_PATH_SIZE];
        FUZZ_CHECK (web_resolve (path, size, again, sizeof again) == 0);
        FUZZ_CHECK (strcmp (again, out) == 0);
        const char *type = web_content_type (out);
        FUZZ_CHECK (type && *type);
    }
    free (path);
    return 0;
}
