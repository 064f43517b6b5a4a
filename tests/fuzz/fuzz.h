/*  fuzz — what the fuzz targets share: libFuzzer's entry point, which
    replay.c calls as well when the targets are built without libFuzzer,
    and the check that stops a run when a property a client relies on does
    not hold. */
#ifndef AURA_FUZZ_H
#define AURA_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*  Runs one input through the code under test. Returns 0; aborts when an
    invariant breaks, so that libFuzzer keeps the input as a finding. */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/*  Says which invariant broke, and where, then aborts. */
static inline _Noreturn void
fuzz_fail (const char *condition, const char *file, int line)
{
    fprintf (stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
    fflush (stderr);
    abort ();
}

#define FUZZ_CHECK(condition)                                                  \
    ((condition) ? (void)0 : fuzz_fail (#condition, __FILE__, __LINE__))

/*  True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong form,
    no surrogate, nothing above U+10FFFF): what every text a client gets
    must be. */
static inline bool
fuzz_utf8_valid (const char *s, size_t len)
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
