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

#include "../utf8_valid.h"

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

#endif
