/*  artifacts — name rules, media types, ETags and Range parsing for the
    artifact endpoint. Everything here is a pure function over its
    arguments (see artifacts.h). */
#include "artifacts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool
artifacts_name_valid (const char *name, size_t len)
{
    static const char tmp_suffix[] = ".tmp";
    const size_t tmp_len = sizeof tmp_suffix - 1;
    if (!name || len == 0 || len > ARTIFACTS_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
                  || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return false;
        if (ch == '.' && i + 1 < len && name[i + 1] == '.')
            return false;
    }
    if (len >= tmp_len && strncasecmp (name + len - tmp_len, tmp_suffix, tmp_len) == 0)
        return false;
    return true;
}

typedef struct {
    const char *extension; /* with its dot */
    const char *content_type;
} s_media_type_t;

static const s_media_type_t s_media_types[] = {
    { ".mp4", "video/mp4" },
    { ".srt", "application/x-subrip" },
    { ".vtt", "text/vtt; charset=utf-8" },
    { ".png", "image/png" },
    { ".json", "application/json" },
    { ".wav", "audio/wav" },
};

const char *
artifacts_content_type (const char *name)
{
    const char *dot = name ? strrchr (name, '.') : NULL;
    if (dot)
        for (size_t i = 0; i < sizeof s_media_types / sizeof *s_media_types; i++)
            if (strcasecmp (dot, s_media_types[i].extension) == 0)
                return s_media_types[i].content_type;
    return "application/octet-stream";
}

int
artifacts_etag_format (uint64_t size_bytes, int64_t mtime_ns, uint64_t inode, char *out,
                       size_t cap)
{
    int n = snprintf (out, cap, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", size_bytes,
                      (uint64_t) mtime_ns, inode);
    if (n < 0 || (size_t) n >= cap) {
        if (cap)
            out[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

static bool
s_is_space (char ch)
{
    return ch == ' ' || ch == '\t';
}

bool
artifacts_etag_matches (const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag)
        return false;
    const char *p = if_none_match;
    while (s_is_space (*p))
        p++;
    if (*p == '*') {
        const char *rest = p + 1;
        while (s_is_space (*rest))
            rest++;
        return *rest == '\0';
    }
    size_t etag_len = strlen (etag);
    while (*p) {
        while (s_is_space (*p) || *p == ',')
            p++;
        if (!*p)
            break;
        if (strncmp (p, "W/", 2) == 0)
            p += 2;
        if (*p != '"')
            return false; /* malformed list: no match */
        const char *close = strchr (p + 1, '"');
        if (!close)
            return false;
        size_t tag_len = (size_t) (close - p) + 1;
        if (tag_len == etag_len && memcmp (p, etag, etag_len) == 0)
            return true;
        p = close + 1;
    }
    return false;
}

/*  Reads decimal digits at *p into *value, advancing *p. Returns false
    when there is no digit or the number overflows. */
static bool
s_parse_position (const char **p, uint64_t *value)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned digit = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *p = s;
    *value = v;
    return true;
}

artifacts_range_t
artifacts_parse_range (const char *header, uint64_t size_bytes, uint64_t *first,
                       uint64_t *last)
{
    if (!header)
        return ARTIFACTS_RANGE_NONE;
    const char *p = header;
    while (s_is_space (*p))
        p++;
    if (strncasecmp (p, "bytes", 5) != 0)
        return ARTIFACTS_RANGE_NONE;
    p += 5;
    while (s_is_space (*p))
        p++;
    if (*p != '=')
        return ARTIFACTS_RANGE_NONE;
    p++;
    while (s_is_space (*p))
        p++;

    bool suffix = false;
    uint64_t start = 0, end = 0;
    bool has_end = false;
    if (*p == '-') {
        p++;
        suffix = true;
        if (!s_parse_position (&p, &end))
            return ARTIFACTS_RANGE_NONE;
    }
    else {
        if (!s_parse_position (&p, &start) || *p != '-')
            return ARTIFACTS_RANGE_NONE;
        p++;
        if (*p >= '0' && *p <= '9') {
            if (!s_parse_position (&p, &end))
                return ARTIFACTS_RANGE_NONE;
            has_end = true;
        }
    }
    while (s_is_space (*p))
        p++;
    if (*p != '\0')
        return ARTIFACTS_RANGE_NONE; /* a list of ranges, or trailing garbage */
    if (has_end && end < start)
        return ARTIFACTS_RANGE_NONE; /* invalid range-spec: ignore the header */

    if (suffix) {
        if (end == 0 || size_bytes == 0)
            return ARTIFACTS_RANGE_UNSATISFIABLE;
        *first = end >= size_bytes ? 0 : size_bytes - end;
        *last = size_bytes - 1;
        return ARTIFACTS_RANGE_SATISFIABLE;
    }
    if (start >= size_bytes)
        return ARTIFACTS_RANGE_UNSATISFIABLE;
    *first = start;
    *last = has_end && end < size_bytes ? end : size_bytes - 1;
    return ARTIFACTS_RANGE_SATISFIABLE;
}
