/*  Unit tests of the gateway's per-client limits: bursts then 429 with
    the right Retry-After, refills over fake time, addresses kept apart
    (IPv6 by /64, mapped IPv4 as IPv4), stream caps overall and per
    address, and a bounded table that never forgets an address with open
    streams. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "client_limits.h"

#define S_SECOND_US INT64_C (1000000)
#define S_T0 (1000 * S_SECOND_US)

/*  A client address of either family, parsed from text. */
typedef struct {
    struct sockaddr_storage storage;
} s_addr_t;

static s_addr_t
s_addr (const char *text)
{
    s_addr_t addr;
    memset (&addr, 0, sizeof addr);
    struct sockaddr_in *in = (struct sockaddr_in *)&addr.storage;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr.storage;
    if (inet_pton (AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons (40000);
    }
    else {
        ck_assert_msg (inet_pton (AF_INET6, text, &in6->sin6_addr) == 1,
                       "bad address %s", text);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons (40001);
    }
    return addr;
}

static const struct sockaddr *
s_sa (const s_addr_t *addr)
{
    return (const struct sockaddr *)&addr->storage;
}

static client_limits_t *
s_limits (double rate_per_s, unsigned burst, size_t max_streams,
          size_t max_streams_per_ip, size_t max_addresses)
{
    client_limits_config_t cfg = { rate_per_s, burst, max_streams,
                                   max_streams_per_ip, max_addresses };
    client_limits_t *limits = client_limits_new (&cfg);
    ck_assert_ptr_nonnull (limits);
    return limits;
}

/*  Takes n tokens for text at now_us and expects each to be granted. */
static void
s_take_ok (client_limits_t *limits, const char *text, int n, int64_t now_us)
{
    s_addr_t addr = s_addr (text);
    for (int i = 0; i < n; i++) {
        int retry = -1;
        ck_assert_msg (client_limits_take (limits, s_sa (&addr), now_us, &retry)
                           == 0,
                       "%s refused after %d", text, i);
    }
}

/*  Expects text to be refused at now_us, and returns the Retry-After. */
static int
s_take_refused (client_limits_t *limits, const char *text, int64_t now_us)
{
    s_addr_t addr = s_addr (text);
    int retry = -1;
    ck_assert_msg (client_limits_take (limits, s_sa (&addr), now_us, &retry)
                       == -EAGAIN,
                   "%s not refused", text);
    ck_assert_int_ge (retry, 1);
    return retry;
}

START_TEST (test_burst_then_refusal)
{
    client_limits_t *limits = s_limits (2, 5, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 5, S_T0);
    /* empty: half a second brings the next token */
    ck_assert_int_eq (s_take_refused (limits, "192.0.2.1", S_T0), 1);
    client_limits_destroy (&limits);

    /* one token every 4 s: Retry-After counts whole seconds, rounded up */
    limits = s_limits (0.25, 1, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 1, S_T0);
    ck_assert_int_eq (s_take_refused (limits, "192.0.2.1", S_T0), 4);
    ck_assert_int_eq (
        s_take_refused (limits, "192.0.2.1", S_T0 + S_SECOND_US / 2), 4);
    ck_assert_int_eq (
        s_take_refused (limits, "192.0.2.1", S_T0 + 3 * S_SECOND_US), 1);
    s_take_ok (limits, "192.0.2.1", 1, S_T0 + 4 * S_SECOND_US);

    client_limits_stats_t stats;
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (stats.rate_limited, 3);
    ck_assert_uint_eq (stats.streams_global, 0);
    ck_assert_uint_eq (stats.streams_per_ip, 0);
    ck_assert_uint_eq (stats.addresses_tracked, 1);
    client_limits_destroy (&limits);
    ck_assert_ptr_null (limits);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_refill_over_time)
{
    client_limits_t *limits = s_limits (10, 20, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 20, S_T0);
    s_take_refused (limits, "192.0.2.1", S_T0);
    /* 100 ms is one token, in ten steps of 10 ms as well */
    for (int i = 1; i < 10; i++)
        s_take_refused (limits, "192.0.2.1", S_T0 + i * 10000);
    s_take_ok (limits, "192.0.2.1", 1, S_T0 + 100000);
    s_take_refused (limits, "192.0.2.1", S_T0 + 100000);
    /* a long pause refills to the burst, not beyond */
    s_take_ok (limits, "192.0.2.1", 20, S_T0 + 3600 * S_SECOND_US);
    s_take_refused (limits, "192.0.2.1", S_T0 + 3600 * S_SECOND_US);
    /* a clock that runs backwards adds nothing */
    s_take_refused (limits, "192.0.2.1", S_T0);
    s_take_refused (limits, "192.0.2.1", S_T0 + 3600 * S_SECOND_US);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_addresses_are_independent)
{
    client_limits_t *limits = s_limits (1, 3, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 3, S_T0);
    s_take_refused (limits, "192.0.2.1", S_T0);
    s_take_ok (limits, "192.0.2.2", 3, S_T0);
    s_take_ok (limits, "2001:db8:1:2::1", 3, S_T0);
    s_take_refused (limits, "192.0.2.2", S_T0);
    /* the port is not part of the address */
    s_addr_t other_port = s_addr ("192.0.2.1");
    ((struct sockaddr_in *)&other_port.storage)->sin_port = htons (1234);
    ck_assert_int_eq (
        client_limits_take (limits, s_sa (&other_port), S_T0, NULL), -EAGAIN);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_ipv6_grouped_by_64)
{
    client_limits_t *limits = s_limits (1, 4, 0, 0, 0);
    s_take_ok (limits, "2001:db8:aa:bb::1", 2, S_T0);
    s_take_ok (limits, "2001:db8:aa:bb:ffff:ffff:ffff:fffe", 2, S_T0);
    /* every address of the /64 shares the bucket */
    s_take_refused (limits, "2001:db8:aa:bb:1234::99", S_T0);
    /* the next /64 has its own */
    s_take_ok (limits, "2001:db8:aa:bc::1", 4, S_T0);
    s_take_ok (limits, "2001:db8:aa:bb::1", 1, S_T0 + S_SECOND_US);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_mapped_ipv4_is_ipv4)
{
    client_limits_t *limits = s_limits (1, 2, 0, 0, 0);
    s_take_ok (limits, "198.51.100.7", 1, S_T0);
    s_take_ok (limits, "::ffff:198.51.100.7", 1, S_T0);
    s_take_refused (limits, "198.51.100.7", S_T0);
    s_take_refused (limits, "::ffff:198.51.100.7", S_T0);
    /* mapped addresses are not one /64: their neighbours stay apart */
    s_take_ok (limits, "::ffff:198.51.100.8", 2, S_T0);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_other_families_share_a_key)
{
    client_limits_t *limits = s_limits (1, 2, 0, 0, 0);
    struct sockaddr_un un;
    memset (&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    ck_assert_int_eq (
        client_limits_take (limits, (struct sockaddr *)&un, S_T0, NULL), 0);
    ck_assert_int_eq (client_limits_take (limits, NULL, S_T0, NULL), 0);
    int retry = 0;
    ck_assert_int_eq (
        client_limits_take (limits, (struct sockaddr *)&un, S_T0, &retry),
        -EAGAIN);
    ck_assert_int_eq (retry, 1);
    s_take_ok (limits, "192.0.2.1", 2, S_T0);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_stream_caps)
{
    client_limits_t *limits = s_limits (0, 0, 5, 2, 0);
    s_addr_t a = s_addr ("192.0.2.1");
    s_addr_t b = s_addr ("192.0.2.2");
    s_addr_t c = s_addr ("2001:db8::1");
    s_addr_t c_neighbour = s_addr ("2001:db8::2");
    int retry = 0;
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), &retry), 0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), &retry), 0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), &retry),
                      -EUSERS);
    ck_assert_int_eq (retry, CLIENT_LIMITS_STREAM_RETRY_S);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&c), NULL), 0);
    ck_assert_int_eq (
        client_limits_stream_open (limits, s_sa (&c_neighbour), NULL), 0);
    ck_assert_int_eq (
        client_limits_stream_open (limits, s_sa (&c_neighbour), NULL),
        -EUSERS); /* same /64 */
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&b), NULL), 0);
    ck_assert_uint_eq (client_limits_streams_open (limits), 5);
    retry = 0;
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&b), &retry),
                      -EMFILE);
    ck_assert_int_eq (retry, CLIENT_LIMITS_STREAM_RETRY_S);

    /* closing frees a place overall and for that address */
    client_limits_stream_close (limits, s_sa (&a));
    ck_assert_uint_eq (client_limits_streams_open (limits), 4);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&b), NULL), 0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                      -EMFILE);
    client_limits_stream_close (limits, s_sa (&c));
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL), 0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                      -EMFILE);

    client_limits_stats_t stats;
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (stats.streams_per_ip, 2);
    ck_assert_uint_eq (stats.streams_global, 3);
    ck_assert_uint_eq (stats.streams_open, 5);
    ck_assert_uint_eq (stats.rate_limited, 0);

    /* a close without its open changes nothing */
    s_addr_t stranger = s_addr ("203.0.113.9");
    client_limits_stream_close (limits, s_sa (&stranger));
    ck_assert_uint_eq (client_limits_streams_open (limits), 5);

    client_limits_stream_close (limits, s_sa (&a));
    client_limits_stream_close (limits, s_sa (&a));
    client_limits_stream_close (limits, s_sa (&a)); /* one too many */
    client_limits_stream_close (limits, s_sa (&b));
    client_limits_stream_close (limits, s_sa (&b));
    client_limits_stream_close (limits, s_sa (&c_neighbour));
    ck_assert_uint_eq (client_limits_streams_open (limits), 0);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_zero_is_unlimited)
{
    client_limits_t *limits = s_limits (0, 0, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 10000, S_T0);
    s_addr_t a = s_addr ("192.0.2.1");
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                          0);
    ck_assert_uint_eq (client_limits_streams_open (limits), 10000);
    for (int i = 0; i < 10000; i++)
        client_limits_stream_close (limits, s_sa (&a));
    ck_assert_uint_eq (client_limits_streams_open (limits), 0);
    client_limits_stats_t stats;
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (
        stats.rate_limited + stats.streams_global + stats.streams_per_ip, 0);
    client_limits_destroy (&limits);

    /* a global cap alone, and a cap per address alone */
    limits = s_limits (0, 0, 3, 0, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                          0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                      -EMFILE);
    client_limits_destroy (&limits);
    limits = s_limits (0, 0, 0, 3, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                          0);
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&a), NULL),
                      -EUSERS);
    s_addr_t b = s_addr ("192.0.2.2");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&b), NULL),
                          0);
    ck_assert_uint_eq (client_limits_streams_open (limits), 6);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_config_is_checked)
{
    client_limits_config_t cfg;
    client_limits_config_default (&cfg);
    ck_assert (cfg.rate_per_s > 0 && cfg.burst > 0 && cfg.max_streams > 0
               && cfg.max_streams_per_ip > 0 && cfg.max_addresses > 0);
    client_limits_t *limits = client_limits_new (&cfg);
    ck_assert_ptr_nonnull (limits);
    client_limits_destroy (&limits);
    cfg.rate_per_s = -1;
    ck_assert_ptr_null (client_limits_new (&cfg));
    ck_assert_int_eq (errno, EINVAL);
    cfg.rate_per_s = NAN;
    ck_assert_ptr_null (client_limits_new (&cfg));

    /* no burst given: the rate rounded up, at least one */
    limits = s_limits (2.5, 0, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 3, S_T0);
    s_take_refused (limits, "192.0.2.1", S_T0);
    client_limits_destroy (&limits);
    limits = s_limits (0.1, 0, 0, 0, 0);
    s_take_ok (limits, "192.0.2.1", 1, S_T0);
    ck_assert_int_eq (s_take_refused (limits, "192.0.2.1", S_T0), 10);
    client_limits_destroy (&limits);
}
END_TEST

/*  Writes the text of the i-th address of 10.0.0.0/8 into text. */
static void
s_nth_ipv4 (char *text, size_t size, int i)
{
    snprintf (text, size, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255,
              i & 255);
}

START_TEST (test_eviction_keeps_the_table_bounded)
{
    client_limits_t *limits = s_limits (1, 2, 0, 1, 8);
    char text[32];
    client_limits_stats_t stats;

    /* idle addresses (full buckets) make room for new ones */
    for (int i = 0; i < 1000; i++) {
        s_nth_ipv4 (text, sizeof text, i);
        s_take_ok (limits, text, 1, S_T0 + i * 10 * S_SECOND_US);
        client_limits_stats (limits, &stats);
        ck_assert_uint_le (stats.addresses_tracked, 8);
    }
    ck_assert_uint_eq (stats.addresses_tracked, 8);

    /* an address with an open stream is never forgotten: its stream still
       counts against it after any number of newcomers */
    s_addr_t holder = s_addr ("192.0.2.50");
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&holder), NULL),
                      0);
    int64_t later = S_T0 + 100000 * S_SECOND_US;
    for (int i = 0; i < 1000; i++) {
        s_nth_ipv4 (text, sizeof text, 5000 + i);
        s_take_ok (limits, text, 1, later + i * 10 * S_SECOND_US);
    }
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&holder), NULL),
                      -EUSERS);
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (stats.addresses_tracked, 8);
    client_limits_stream_close (limits, s_sa (&holder));
    ck_assert_uint_eq (client_limits_streams_open (limits), 0);
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_busy_addresses_are_not_forgotten)
{
    /* four slots, all with a spent bucket at S_T0 */
    client_limits_t *limits = s_limits (1, 2, 0, 1, 4);
    const char *busy[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4" };
    for (int i = 0; i < 4; i++) {
        s_take_ok (limits, busy[i], 2, S_T0);
        s_take_refused (limits, busy[i], S_T0);
    }
    /* newcomers cannot push them out, so their limits hold; the
       newcomers share one overflow bucket meanwhile */
    s_take_ok (limits, "203.0.113.1", 1, S_T0);
    s_take_ok (limits, "203.0.113.2", 1, S_T0);
    s_take_refused (limits, "203.0.113.3", S_T0);
    for (int i = 0; i < 4; i++)
        s_take_refused (limits, busy[i], S_T0);
    client_limits_stats_t stats;
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (stats.addresses_tracked, 4);

    /* a stream needs a slot of its own: none can be had */
    s_addr_t newcomer = s_addr ("203.0.113.1");
    ck_assert_int_eq (
        client_limits_stream_open (limits, s_sa (&newcomer), NULL), -EMFILE);

    /* once their buckets are full again, they can be replaced */
    int64_t later = S_T0 + 2 * S_SECOND_US;
    s_take_ok (limits, "203.0.113.4", 2, later);
    ck_assert_int_eq (
        client_limits_stream_open (limits, s_sa (&newcomer), NULL), 0);
    client_limits_stats (limits, &stats);
    ck_assert_uint_eq (stats.addresses_tracked, 4);
    client_limits_stream_close (limits, s_sa (&newcomer));
    client_limits_destroy (&limits);
}
END_TEST

START_TEST (test_streams_pin_every_slot)
{
    client_limits_t *limits = s_limits (1, 1, 0, 1, 3);
    const char *holders[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3" };
    for (int i = 0; i < 3; i++) {
        s_addr_t addr = s_addr (holders[i]);
        ck_assert_int_eq (
            client_limits_stream_open (limits, s_sa (&addr), NULL), 0);
    }
    s_addr_t fourth = s_addr ("192.0.2.4");
    int retry = 0;
    ck_assert_int_eq (
        client_limits_stream_open (limits, s_sa (&fourth), &retry), -EMFILE);
    ck_assert_int_eq (retry, CLIENT_LIMITS_STREAM_RETRY_S);
    /* requests still get an answer, from the overflow bucket */
    s_take_ok (limits, "192.0.2.4", 1, S_T0 + 3600 * S_SECOND_US);
    for (int i = 0; i < 3; i++) {
        s_addr_t addr = s_addr (holders[i]);
        ck_assert_int_eq (
            client_limits_stream_open (limits, s_sa (&addr), NULL), -EUSERS);
    }
    s_addr_t first = s_addr (holders[0]);
    client_limits_stream_close (limits, s_sa (&first));
    ck_assert_int_eq (client_limits_stream_open (limits, s_sa (&fourth), NULL),
                      0);
    client_limits_destroy (&limits);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("gateway_client_limits");
    TCase *rate = tcase_create ("rate");
    tcase_add_test (rate, test_burst_then_refusal);
    tcase_add_test (rate, test_refill_over_time);
    tcase_add_test (rate, test_addresses_are_independent);
    tcase_add_test (rate, test_ipv6_grouped_by_64);
    tcase_add_test (rate, test_mapped_ipv4_is_ipv4);
    tcase_add_test (rate, test_other_families_share_a_key);
    tcase_add_test (rate, test_config_is_checked);
    suite_add_tcase (suite, rate);
    TCase *streams = tcase_create ("streams");
    tcase_add_test (streams, test_stream_caps);
    tcase_add_test (streams, test_zero_is_unlimited);
    suite_add_tcase (suite, streams);
    TCase *table = tcase_create ("table");
    tcase_add_test (table, test_eviction_keeps_the_table_bounded);
    tcase_add_test (table, test_busy_addresses_are_not_forgotten);
    tcase_add_test (table, test_streams_pin_every_slot);
    suite_add_tcase (suite, table);
    return suite;
}

int
main (void)
{
    SRunner *runner = srunner_create (s_suite ());
    srunner_run_all (runner, CK_NORMAL);
    int failed = srunner_ntests_failed (runner);
    srunner_free (runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
