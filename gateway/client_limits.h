/*  client_limits — admission control per client address: a token bucket
    for requests that cost the system work (the server charges POSTs and
    stream opens), and caps on open SSE streams overall and per address.
    Thread-safe behind one mutex; no HTTP library and no clock of its own
    (callers pass the time), so tests drive it with fake time.

    An address is an IPv4 address or an IPv6 /64 (one host usually owns a
    whole /64, so counting single IPv6 addresses would let it multiply its
    limits); an IPv4-mapped IPv6 address counts as its IPv4 address. At
    most max_addresses are tracked: a new one replaces the least recently
    used address whose bucket is full and which has no open stream, since
    forgetting that one changes nothing. When none can be replaced, new
    addresses share one overflow bucket, so a flood of addresses neither
    grows memory nor resets anyone's limits.

    (Not "limits.h": the gateway's include directory would hide the
    system header of that name.) */
#ifndef AURA_GATEWAY_CLIENT_LIMITS_H
#define AURA_GATEWAY_CLIENT_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*  Retry-After suggested when a stream cap refuses: streams last long,
    so a sooner retry would mostly be refused again. */
#define CLIENT_LIMITS_STREAM_RETRY_S 5
/*  Addresses tracked when the configuration leaves it at 0. */
#define CLIENT_LIMITS_ADDRESSES_DEFAULT 65536

typedef struct client_limits_t client_limits_t;

typedef struct {
    double rate_per_s;  /* tokens added per second; 0: unlimited */
    unsigned burst;     /* bucket size; 0: rate_per_s rounded up, at least 1 */
    size_t max_streams; /* open streams in all; 0: unlimited */
    size_t max_streams_per_ip; /* open streams per address; 0: unlimited */
    size_t max_addresses;      /* addresses tracked; 0: the default */
} client_limits_config_t;

/*  Refusals since the start, by reason, and two gauges, for /metrics. */
typedef struct {
    uint64_t rate_limited;    /* client_limits_take answered -EAGAIN */
    uint64_t streams_global;  /* client_limits_stream_open answered -EMFILE */
    uint64_t streams_per_ip;  /* client_limits_stream_open answered -EUSERS */
    size_t addresses_tracked; /* addresses in the table now */
    size_t streams_open;      /* streams open now */
} client_limits_stats_t;

/*  Fills cfg with the defaults: 10 requests per second with a burst of
    20, 4096 streams in all, 64 per address (several users behind one
    NAT), CLIENT_LIMITS_ADDRESSES_DEFAULT addresses. */
void client_limits_config_default (client_limits_config_t *cfg);

/*  Creates the limiter. Returns NULL with errno EINVAL when the rate is
    negative, infinite or not a number, or ENOMEM when memory runs out.
    The table is sized once, here: about 8 bytes per tracked address up
    front and 80 more for each address seen. */
client_limits_t *client_limits_new (const client_limits_config_t *cfg);

/*  Frees the limiter. Sets *self_p to NULL; does nothing when it is
    NULL. */
void client_limits_destroy (client_limits_t **self_p);

/*  Takes one token from addr's bucket at now_us (any monotonic clock, in
    microseconds; time that runs backwards adds nothing). Returns 0, or
    -EAGAIN with *retry_after_s set to the whole seconds until a token is
    back (at least 1). A NULL or non-IP addr shares one bucket with every
    other such address. retry_after_s may be NULL. */
int client_limits_take (client_limits_t *self, const struct sockaddr *addr,
                        int64_t now_us, int *retry_after_s);

/*  Counts a stream opened by addr. Returns 0, after which the caller
    must call client_limits_stream_close with the same address when the
    stream ends; -EMFILE when max_streams are open, or when every address
    slot holds an address with open streams (answer 503); or -EUSERS when
    addr already has max_streams_per_ip open (answer 429). On refusal
    *retry_after_s is CLIENT_LIMITS_STREAM_RETRY_S. retry_after_s may be
    NULL. */
int client_limits_stream_open (client_limits_t *self,
                               const struct sockaddr *addr, int *retry_after_s);

/*  Counts the end of a stream client_limits_stream_open admitted for
    addr. A close without its open is ignored. */
void client_limits_stream_close (client_limits_t *self,
                                 const struct sockaddr *addr);

/*  Streams open now. */
size_t client_limits_streams_open (client_limits_t *self);

/*  Copies the counters into stats. */
void client_limits_stats (client_limits_t *self, client_limits_stats_t *stats);

#endif
