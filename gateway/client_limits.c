/*  client_limits — token buckets and stream counts per client address in
    a fixed-size hash table with an LRU list of the addresses that may be
    forgotten (see client_limits.h). */
#include "client_limits.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*  How many of the least recently used addresses are looked at for one
    with a full bucket before giving up: the oldest are the likeliest to
    be full, and the lookup must stay O(1) while a flood fills the table. */
#define S_EVICT_SCAN 16
/*  Slack for the rounding of refills: 10 refills of 0.1 token make 1. */
#define S_TOKEN_EPSILON 1e-9

typedef enum {
    S_FAMILY_OTHER = 0, /* NULL, AF_UNIX, …: one shared key */
    S_FAMILY_IPV4,
    S_FAMILY_IPV6_64,
} s_family_t;

typedef struct {
    s_family_t family;
    uint64_t prefix; /* IPv4 address, or the first 64 bits of an IPv6 one */
} s_key_t;

typedef struct s_entry_t s_entry_t;
struct s_entry_t {
    s_key_t key;
    double tokens;
    int64_t refilled_us;
    size_t streams;
    s_entry_t *chain_next;
    /*  In the LRU list only while streams is 0: an address with open
        streams is never forgotten, so it need not be looked at. */
    s_entry_t *lru_prev;
    s_entry_t *lru_next;
};

struct client_limits_t {
    pthread_mutex_t mutex;
    double rate_per_s;
    double burst;
    size_t max_streams;
    size_t max_streams_per_ip;
    size_t max_addresses;

    /*  SipHash key: clients choose their addresses, so a guessable hash
        would let one /48 put all its /64s into one chain. */
    uint64_t hash_key[2];
    s_entry_t **chains;
    size_t chain_mask;
    size_t address_count;
    s_entry_t *lru_newest;
    s_entry_t *lru_oldest;
    /*  Shared by new addresses when no slot can be freed; never in the
        table, never holds streams. */
    s_entry_t overflow;
    int64_t latest_us; /* latest time seen, to judge buckets by */

    size_t streams_open;
    uint64_t rate_limited;
    uint64_t streams_global;
    uint64_t streams_per_ip;
};

void
client_limits_config_default (client_limits_config_t *cfg)
{
    assert (cfg);
    cfg->rate_per_s = 10;
    cfg->burst = 20;
    cfg->max_streams = 4096;
    cfg->max_streams_per_ip = 64;
    cfg->max_addresses = CLIENT_LIMITS_ADDRESSES_DEFAULT;
}

/*  The smallest whole number at or above value, capped at max (no libm
    needed for so little). */
static double
s_round_up (double value, double max)
{
    if (value >= max)
        return max;
    double whole = (double)(int64_t)value;
    return whole < value ? whole + 1 : whole;
}

#define S_ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

static void
s_sipround (uint64_t v[4])
{
    v[0] += v[1];
    v[1] = S_ROTL (v[1], 13);
    v[1] ^= v[0];
    v[0] = S_ROTL (v[0], 32);
    v[2] += v[3];
    v[3] = S_ROTL (v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = S_ROTL (v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = S_ROTL (v[1], 17);
    v[1] ^= v[2];
    v[2] = S_ROTL (v[2], 32);
}

/*  SipHash-2-4 of the key's two words. */
static uint64_t
s_hash (const client_limits_t *self, const s_key_t *key)
{
    const uint64_t k0 = self->hash_key[0], k1 = self->hash_key[1];
    uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                      k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };
    const uint64_t words[2] = { (uint64_t)key->family, key->prefix };
    for (size_t i = 0; i < 2; i++) {
        v[3] ^= words[i];
        s_sipround (v);
        s_sipround (v);
        v[0] ^= words[i];
    }
    const uint64_t length = (uint64_t)sizeof words << 56;
    v[3] ^= length;
    s_sipround (v);
    s_sipround (v);
    v[0] ^= length;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        s_sipround (v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void
s_hash_key_make (client_limits_t *self)
{
    if (getentropy (self->hash_key, sizeof self->hash_key) == 0)
        return;
    /*  No entropy source: a key that differs per process and per run is
        still far better than none. */
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    self->hash_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL
                        ^ (uint64_t)(uintptr_t)self;
    self->hash_key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)getpid () << 32;
}

static uint64_t
s_be64 (const unsigned char *bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | bytes[i];
    return value;
}

static s_key_t
s_key_of (const struct sockaddr *addr)
{
    s_key_t key = { S_FAMILY_OTHER, 0 };
    if (addr && addr->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy (&in, addr, sizeof in);
        key.family = S_FAMILY_IPV4;
        key.prefix = ntohl (in.sin_addr.s_addr);
    }
    else if (addr && addr->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy (&in6, addr, sizeof in6);
        const unsigned char *bytes = in6.sin6_addr.s6_addr;
        if (IN6_IS_ADDR_V4MAPPED (&in6.sin6_addr)) {
            key.family = S_FAMILY_IPV4;
            key.prefix = (uint64_t)bytes[12] << 24 | (uint64_t)bytes[13] << 16
                         | (uint64_t)bytes[14] << 8 | bytes[15];
        }
        else {
            key.family = S_FAMILY_IPV6_64;
            key.prefix = s_be64 (bytes);
        }
    }
    return key;
}

static bool
s_key_equal (const s_key_t *a, const s_key_t *b)
{
    return a->family == b->family && a->prefix == b->prefix;
}

client_limits_t *
client_limits_new (const client_limits_config_t *cfg)
{
    assert (cfg);
    if (!isfinite (cfg->rate_per_s) || cfg->rate_per_s < 0) {
        errno = EINVAL;
        return NULL;
    }
    client_limits_t *self = calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->rate_per_s = cfg->rate_per_s;
    self->burst =
        cfg->burst > 0 ? cfg->burst : s_round_up (cfg->rate_per_s, UINT_MAX);
    if (self->burst < 1)
        self->burst = 1;
    self->max_streams = cfg->max_streams;
    self->max_streams_per_ip = cfg->max_streams_per_ip;
    self->max_addresses = cfg->max_addresses > 0
                              ? cfg->max_addresses
                              : CLIENT_LIMITS_ADDRESSES_DEFAULT;
    /*  A power of two at or above the bound: chains of one on average. */
    size_t chain_count = 1;
    while (chain_count < self->max_addresses && chain_count <= SIZE_MAX / 4)
        chain_count *= 2;
    self->chains = calloc (chain_count, sizeof *self->chains);
    if (!self->chains) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    self->chain_mask = chain_count - 1;
    s_hash_key_make (self);
    self->overflow.tokens = self->burst;
    pthread_mutex_init (&self->mutex, NULL);
    return self;
}

void
client_limits_destroy (client_limits_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_limits_t *self = *self_p;
    for (size_t i = 0; i <= self->chain_mask; i++)
        for (s_entry_t *entry = self->chains[i], *next; entry; entry = next) {
            next = entry->chain_next;
            free (entry);
        }
    free (self->chains);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

static s_entry_t **
s_chain_of (client_limits_t *self, const s_key_t *key)
{
    return &self->chains[s_hash (self, key) & self->chain_mask];
}

static s_entry_t *
s_entry_find (client_limits_t *self, const s_key_t *key)
{
    for (s_entry_t *entry = *s_chain_of (self, key); entry;
         entry = entry->chain_next)
        if (s_key_equal (&entry->key, key))
            return entry;
    return NULL;
}

static void
s_lru_unlink (client_limits_t *self, s_entry_t *entry)
{
    if (entry->lru_prev)
        entry->lru_prev->lru_next = entry->lru_next;
    else
        self->lru_newest = entry->lru_next;
    if (entry->lru_next)
        entry->lru_next->lru_prev = entry->lru_prev;
    else
        self->lru_oldest = entry->lru_prev;
    entry->lru_prev = entry->lru_next = NULL;
}

static void
s_lru_push_newest (client_limits_t *self, s_entry_t *entry)
{
    entry->lru_prev = NULL;
    entry->lru_next = self->lru_newest;
    if (self->lru_newest)
        self->lru_newest->lru_prev = entry;
    else
        self->lru_oldest = entry;
    self->lru_newest = entry;
}

/*  The tokens entry would hold at now_us, without changing it. */
static double
s_tokens_at (const client_limits_t *self, const s_entry_t *entry,
             int64_t now_us)
{
    double tokens = entry->tokens;
    if (now_us > entry->refilled_us)
        tokens +=
            (double)(now_us - entry->refilled_us) * self->rate_per_s / 1e6;
    return tokens < self->burst ? tokens : self->burst;
}

static bool
s_bucket_full (const client_limits_t *self, const s_entry_t *entry,
               int64_t now_us)
{
    return s_tokens_at (self, entry, now_us) + S_TOKEN_EPSILON >= self->burst;
}

/*  Unlinks and returns one of the S_EVICT_SCAN least recently used
    addresses whose bucket is full at now_us, or NULL. */
static s_entry_t *
s_entry_evict (client_limits_t *self, int64_t now_us)
{
    s_entry_t *entry = self->lru_oldest;
    int looked = 0;
    while (entry && looked < S_EVICT_SCAN
           && !s_bucket_full (self, entry, now_us)) {
        entry = entry->lru_prev;
        looked++;
    }
    if (!entry || looked == S_EVICT_SCAN)
        return NULL;
    s_lru_unlink (self, entry);
    for (s_entry_t **link = s_chain_of (self, &entry->key); *link;
         link = &(*link)->chain_next)
        if (*link == entry) {
            *link = entry->chain_next;
            break;
        }
    self->address_count--;
    return entry;
}

/*  Starts tracking key with a full bucket, forgetting an address if the
    table is full. Returns NULL when no slot can be had. */
static s_entry_t *
s_entry_add (client_limits_t *self, const s_key_t *key, int64_t now_us)
{
    s_entry_t *entry = self->address_count < self->max_addresses
                           ? malloc (sizeof *entry)
                           : s_entry_evict (self, now_us);
    if (!entry)
        return NULL;
    memset (entry, 0, sizeof *entry);
    entry->key = *key;
    entry->tokens = self->burst;
    entry->refilled_us = now_us;
    s_entry_t **chain = s_chain_of (self, key);
    entry->chain_next = *chain;
    *chain = entry;
    s_lru_push_newest (self, entry);
    self->address_count++;
    return entry;
}

int
client_limits_take (client_limits_t *self, const struct sockaddr *addr,
                    int64_t now_us, int *retry_after_s)
{
    assert (self);
    if (self->rate_per_s == 0)
        return 0;
    s_key_t key = s_key_of (addr);
    int rc = 0;
    pthread_mutex_lock (&self->mutex);
    if (now_us > self->latest_us)
        self->latest_us = now_us;
    s_entry_t *entry = s_entry_find (self, &key);
    if (!entry)
        entry = s_entry_add (self, &key, now_us);
    if (!entry)
        entry = &self->overflow;
    else if (entry->streams == 0) {
        s_lru_unlink (self, entry);
        s_lru_push_newest (self, entry);
    }
    entry->tokens = s_tokens_at (self, entry, now_us);
    if (now_us > entry->refilled_us)
        entry->refilled_us = now_us;
    if (entry->tokens + S_TOKEN_EPSILON >= 1) {
        entry->tokens = entry->tokens > 1 ? entry->tokens - 1 : 0;
    }
    else {
        self->rate_limited++;
        if (retry_after_s) {
            double seconds = (1 - entry->tokens) / self->rate_per_s;
            double whole = s_round_up (seconds, INT_MAX);
            *retry_after_s = whole < 1 ? 1 : (int)whole;
        }
        rc = -EAGAIN;
    }
    pthread_mutex_unlock (&self->mutex);
    return rc;
}

int
client_limits_stream_open (client_limits_t *self, const struct sockaddr *addr,
                           int *retry_after_s)
{
    assert (self);
    int rc = 0;
    pthread_mutex_lock (&self->mutex);
    if (self->max_streams > 0 && self->streams_open >= self->max_streams) {
        self->streams_global++;
        rc = -EMFILE;
        goto done;
    }
    /*  Without a cap per address, only the total needs counting. */
    if (self->max_streams_per_ip > 0) {
        s_key_t key = s_key_of (addr);
        s_entry_t *entry = s_entry_find (self, &key);
        if (!entry)
            entry = s_entry_add (self, &key, self->latest_us);
        if (!entry) {
            self->streams_global++;
            rc = -EMFILE;
            goto done;
        }
        if (entry->streams >= self->max_streams_per_ip) {
            self->streams_per_ip++;
            rc = -EUSERS;
            goto done;
        }
        if (entry->streams++ == 0)
            s_lru_unlink (self, entry);
    }
    self->streams_open++;

done:
    pthread_mutex_unlock (&self->mutex);
    if (rc != 0 && retry_after_s)
        *retry_after_s = CLIENT_LIMITS_STREAM_RETRY_S;
    return rc;
}

void
client_limits_stream_close (client_limits_t *self, const struct sockaddr *addr)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    if (self->max_streams_per_ip > 0) {
        s_key_t key = s_key_of (addr);
        s_entry_t *entry = s_entry_find (self, &key);
        if (!entry || entry->streams == 0)
            goto done;
        if (--entry->streams == 0)
            s_lru_push_newest (self, entry);
    }
    if (self->streams_open > 0)
        self->streams_open--;

done:
    pthread_mutex_unlock (&self->mutex);
}

size_t
client_limits_streams_open (client_limits_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->mutex);
    size_t open = self->streams_open;
    pthread_mutex_unlock (&self->mutex);
    return open;
}

void
client_limits_stats (client_limits_t *self, client_limits_stats_t *stats)
{
    assert (self);
    assert (stats);
    pthread_mutex_lock (&self->mutex);
    stats->rate_limited = self->rate_limited;
    stats->streams_global = self->streams_global;
    stats->streams_per_ip = self->streams_per_ip;
    stats->addresses_tracked = self->address_count;
    stats->streams_open = self->streams_open;
    pthread_mutex_unlock (&self->mutex);
}
