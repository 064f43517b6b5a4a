/*  utf8_valid — the UTF-8 check the test programs apply to what the
    product sends. */
#ifndef AURA_TESTS_UTF8_VALID_H
#define AURA_TESTS_UTF8_VALID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong form,
    no surrogate, nothing above U+10FFFF): what every text a client gets
    must be. Shared by the fuzz targets and the hostile-client test. */
static inline bool
utf8_valid (const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t extra;
        uint32_t code;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            code = c & 0x1Fu;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            code = c & 0x0Fu;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            code = c & 0x07u;
        }
        else
            return false;
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (p[i + k] & 0x3Fu);
        }
        if ((extra == 2 && code < 0x800) || (extra == 3 && code < 0x10000)
            || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF)
            return false;
        i += extra + 1;
    }
    return true;
}

#endif
