/*  web — safe names and types for the static UI files. */
#include "web.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define WEB_SEGMENT_MAX 100
#define WEB_INDEX "index.html"

static bool
s_segment_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '.' || c == '_' || c == '-';
}

int
web_resolve (const char *path, size_t len, char *out, size_t out_size)
{
    if (len == 0 || path[0] != '/' || out_size < sizeof WEB_INDEX)
        return -ENOENT;
    size_t written = 0;
    size_t depth = 0;
    size_t i = 1;
    while (i < len) {
        size_t end = i;
        while (end < len && path[end] != '/')
            end++;
        size_t seg_len = end - i;
        if (seg_len == 0 || seg_len > WEB_SEGMENT_MAX || path[i] == '.')
            return -ENOENT; /* empty ("//"), too long, hidden, "." or ".." */
        for (size_t k = i; k < end; k++)
            if (!s_segment_char (path[k]))
                return -ENOENT;
        if (++depth > WEB_MAX_DEPTH + 1 || written + seg_len + 2 > out_size)
            return -ENOENT;
        memcpy (out + written, path + i, seg_len);
        written += seg_len;
        if (end < len)
            out[written++] = '/';
        i = end + 1;
    }
    if (written == 0 || out[written - 1] == '/') {
        /* a directory: its index, one level further down */
        if (depth > WEB_MAX_DEPTH || written + sizeof WEB_INDEX > out_size)
            return -ENOENT;
        memcpy (out + written, WEB_INDEX, sizeof WEB_INDEX);
        return 0;
    }
    out[written] = '\0';
    return 0;
}

const char *
web_content_type (const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".map", "application/json" },
        { ".webmanifest", "application/manifest+json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".jpg", "image/jpeg" },
        { ".ico", "image/x-icon" },
        { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr (name, '.');
    if (!dot || strchr (dot, '/'))
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp (dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}
