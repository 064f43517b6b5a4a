/*  ids — ULID-style job ids and correlation ids. */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char s_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*  The last id handed out, so that two ids made in the same millisecond
    still sort in the order they were made: the second one is the first
    plus one in its random part (the ULID "monotonic" rule). */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t s_last_ms;
static uint8_t s_last_random[10];

static int
s_random_bytes (void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom (p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/*  Encodes 48 bits of time and 80 bits of randomness as 26 characters:
    the 128-bit value is written 5 bits at a time from the top (the first
    character carries only 3 bits, hence "at most 7"). */
static void
s_encode (char out[JOB_ID_SIZE], uint64_t ms, const uint8_t random[10])
{
    uint8_t bytes[16];
    for (int i = 0; i < 6; i++)
        bytes[i] = (uint8_t) (ms >> (8 * (5 - i)));
    memcpy (bytes + 6, random, 10);

    for (int c = 0; c < JOB_ID_LEN; c++) {
        /* character c holds bits [bit, bit+5) counting from the top of a
           130-bit field whose two leading bits are zero */
        int bit = c * 5 - 2;
        unsigned value = 0;
        for (int b = 0; b < 5; b++) {
            int pos = bit + b;
            unsigned v = 0;
            if (pos >= 0)
                v = (bytes[pos / 8] >> (7 - pos % 8)) & 1u;
            value = (value << 1) | v;
        }
        out[c] = s_crockford[value];
    }
    out[JOB_ID_LEN] = '\0';
}

int
job_id_generate_at (char out[JOB_ID_SIZE], uint64_t unix_ms)
{
    uint8_t random[10];
    int rc = s_random_bytes (random, sizeof random);
    if (rc < 0)
        return rc;
    unix_ms &= (UINT64_C (1) << 48) - 1;

    pthread_mutex_lock (&s_lock);
    if (unix_ms <= s_last_ms) {
        /* same (or an earlier, clock stepped back) millisecond: keep the
           last time and increment its random part */
        unix_ms = s_last_ms;
        memcpy (random, s_last_random, sizeof random);
        for (int i = 9; i >= 0; i--)
            if (++random[i] != 0)
                break;
    }
    s_last_ms = unix_ms;
    memcpy (s_last_random, random, sizeof random);
    pthread_mutex_unlock (&s_lock);

    s_encode (out, unix_ms, random);
    return 0;
}

int
job_id_generate (char out[JOB_ID_SIZE])
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000;
    return job_id_generate_at (out, ms);
}

/*  True for a character of the alphabet above: upper-case letters but
    I, L, O and U, and digits. (The decoder checks every id it reads,
    several per message, so this is a test, not a search.) */
static bool
s_is_crockford (unsigned char c)
{
    if (c >= '0' && c <= '9')
        return true;
    return c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U';
}

bool
job_id_valid (const char *s, size_t len)
{
    if (!s || len != JOB_ID_LEN || s[0] < '0' || s[0] > '7')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!s_is_crockford ((unsigned char) s[i]))
            return false;
    return true;
}

void
correlation_id_generate (char *out, size_t out_size)
{
    uint8_t random[8] = { 0 };
    if (s_random_bytes (random, sizeof random) < 0) {
        /* no entropy: a time-based id is still unique enough to trace */
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        uint64_t t = (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec;
        memcpy (random, &t, sizeof random);
    }
    static const char hex[] = "0123456789abcdef";
    char id[19] = "c-";
    for (int i = 0; i < 8; i++) {
        id[2 + 2 * i] = hex[random[i] >> 4];
        id[3 + 2 * i] = hex[random[i] & 15];
    }
    id[18] = '\0';
    snprintf (out, out_size, "%s", id);
}

bool
correlation_id_valid (const char *s, size_t len)
{
    if (!s || len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '.' || c == '_'
                  || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}
