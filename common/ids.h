/*  ids — job ids: 26 characters of Crockford base32 in the ULID layout
    (48-bit millisecond timestamp, then 80 random bits), so that ids sort
    by creation time. Ids made by one process are strictly increasing. */
#ifndef AURA_IDS_H
#define AURA_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_ID_LEN 26
#define JOB_ID_SIZE (JOB_ID_LEN + 1)

/*  Writes a new NUL-terminated id into out. Thread-safe. Returns 0, or a
    negative errno when the system has no randomness to give. */
int job_id_generate (char out[JOB_ID_SIZE]);

/*  Same, for a given time in milliseconds since the epoch (tests). */
int job_id_generate_at (char out[JOB_ID_SIZE], uint64_t unix_ms);

/*  True when s[0..len) is exactly 26 characters of [0-9A-HJKMNP-TV-Z] whose
    first character is at most '7' (the timestamp fits in 48 bits). */
bool job_id_valid (const char *s, size_t len);

/*  Fills out with a random correlation id ("c-" followed by 16 lower-case hex
    digits), NUL-terminated. out_size must be at least 19. */
void correlation_id_generate (char *out, size_t out_size);

/*  True when s is a usable correlation id taken from a client: 1 to 64
    characters of [A-Za-z0-9._:-]. Anything else is replaced, not echoed. */
bool correlation_id_valid (const char *s, size_t len);

#endif
