/* tests/unit/engine/test_spf_cache.c - the shared SPF outcome cache: keys, TTLs, bounds,
 * and concurrent use (run under TSan in the sanitizer build). Time is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/spf_cache.h"

static struct spf_query query(const char *ip, const char *sender, const char *helo,
                              enum spf_identity id)
{
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    if (!ip_parse(ip, strlen(ip), &q.ip))
        fail_msg("bad test ip %s", ip);
    q.sender = sender;
    q.helo = helo;
    q.identity = id;
    return q;
}

static struct spf_outcome outcome(enum spf_result r, const char *exp)
{
    struct spf_outcome o;
    memset(&o, 0, sizeof(o));
    o.result = r;
    o.secure = true;
    o.domain = "example.org";
    o.sender = "a@example.org";
    o.mechanism = "-all";
    o.explanation = exp;
    o.dns_terms = 3;
    return o;
}

static void test_hit_copies_every_field(void **state)
{
    (void)state;
    struct spf_cache *c = spf_cache_create(1000, 3600);
    struct spf_query q = query("192.0.2.1", "a@example.org", "mx.example.org", SPF_ID_MAILFROM);
    struct spf_outcome o = outcome(SPF_RESULT_FAIL, "go away");
    spf_cache_put(c, &q, 1000, 300, &o);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_outcome got;
    assert_true(spf_cache_get(c, &q, 1001, &a, &got));
    assert_int_equal(got.result, SPF_RESULT_FAIL);
    assert_true(got.secure);
    assert_string_equal(got.domain, "example.org");
    assert_string_equal(got.mechanism, "-all");
    assert_string_equal(got.explanation, "go away");
    assert_null(got.problem);
    assert_int_equal(got.dns_terms, 3);
    arena_fini(&a);
    spf_cache_destroy(c);
}

struct key_case {
    const char *name;
    const char *ip, *sender, *helo;
    enum spf_identity id;
    bool want_hit;
};

static void test_key_parts(void **state)
{
    (void)state;
    static const struct key_case cases[] = {
        {"same query", "192.0.2.1", "a@example.org", "mx.example.org", SPF_ID_MAILFROM, true},
        {"other IP", "192.0.2.2", "a@example.org", "mx.example.org", SPF_ID_MAILFROM, false},
        {"other local-part (%{l} may matter)", "192.0.2.1", "b@example.org", "mx.example.org",
         SPF_ID_MAILFROM, false},
        {"other HELO (%{h} may matter)", "192.0.2.1", "a@example.org", "mx2.example.org",
         SPF_ID_MAILFROM, false},
        {"other identity", "192.0.2.1", "a@example.org", "mx.example.org", SPF_ID_HELO, false},
        {"IPv4-mapped form of the same IP", "::ffff:192.0.2.1", "a@example.org",
         "mx.example.org", SPF_ID_MAILFROM, true},
    };
    struct spf_cache *c = spf_cache_create(1000, 3600);
    struct spf_query q = query("192.0.2.1", "a@example.org", "mx.example.org", SPF_ID_MAILFROM);
    struct spf_outcome o = outcome(SPF_RESULT_PASS, NULL);
    spf_cache_put(c, &q, 0, 60, &o);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct key_case *k = &cases[i];
        struct spf_query q2 = query(k->ip, k->sender, k->helo, k->id);
        struct arena a;
        arena_init(&a, NULL, 0);
        struct spf_outcome got;
        bool hit = spf_cache_get(c, &q2, 1, &a, &got);
        if (hit != k->want_hit)
            fail_msg("%s: hit: got %d, want %d", k->name, hit, k->want_hit);
        arena_fini(&a);
    }
    spf_cache_destroy(c);
}

static void test_ttl_cap_and_temperror(void **state)
{
    (void)state;
    struct spf_cache *c = spf_cache_create(1000, 100);
    struct spf_query q = query("2001:db8::1", "a@example.org", "h", SPF_ID_MAILFROM);
    struct spf_outcome o = outcome(SPF_RESULT_SOFTFAIL, NULL);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_outcome got;
    spf_cache_put(c, &q, 1000, 86400, &o); /* capped to 100 s */
    assert_true(spf_cache_get(c, &q, 1099, &a, &got));
    assert_false(spf_cache_get(c, &q, 1100, &a, &got)); /* expired exactly at 1000 + 100 */
    spf_cache_put(c, &q, 2000, 0, &o);                  /* TTL 0: not stored */
    assert_false(spf_cache_get(c, &q, 2000, &a, &got));
    struct spf_outcome t = outcome(SPF_RESULT_TEMPERROR, NULL);
    spf_cache_put(c, &q, 3000, 60, &t); /* temperror: never stored */
    assert_false(spf_cache_get(c, &q, 3001, &a, &got));
    size_t n;
    uint64_t hits, misses;
    spf_cache_stats(c, &n, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 3);
    arena_fini(&a);
    spf_cache_destroy(c);
}

static void test_bounded(void **state)
{
    (void)state;
    struct spf_cache *c = spf_cache_create(640, 3600); /* 10 per stripe */
    struct spf_outcome o = outcome(SPF_RESULT_PASS, NULL);
    char sender[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(sender, sizeof(sender), "u%d@example.org", i);
        struct spf_query q = query("192.0.2.9", sender, "h", SPF_ID_MAILFROM);
        spf_cache_put(c, &q, 0, 60, &o);
    }
    size_t n;
    uint64_t hits, misses;
    spf_cache_stats(c, &n, &hits, &misses);
    if (n > 640)
        fail_msg("entries: got %zu, want <= 640", n);
    /* the most recent entry survives eviction */
    struct spf_query last = query("192.0.2.9", "u9999@example.org", "h", SPF_ID_MAILFROM);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_outcome got;
    assert_true(spf_cache_get(c, &last, 1, &a, &got));
    arena_fini(&a);
    spf_cache_destroy(c);
}

static struct spf_cache *shared;

static void *hammer(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct spf_outcome o = outcome(SPF_RESULT_NEUTRAL, "x");
    char sender[64];
    struct arena a;
    arena_init(&a, NULL, 0);
    for (int i = 0; i < 20000; i++) {
        snprintf(sender, sizeof(sender), "u%d@example.org", (i * 7 + t) % 500);
        struct spf_query q = query("192.0.2.7", sender, "h", SPF_ID_MAILFROM);
        struct spf_outcome got;
        if (spf_cache_get(shared, &q, i, &a, &got) && got.result != SPF_RESULT_NEUTRAL)
            fail_msg("thread %d: result got %d, want neutral", t, got.result);
        spf_cache_put(shared, &q, i, 5, &o);
        if (i % 256 == 0)
            arena_reset(&a);
    }
    arena_fini(&a);
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    shared = spf_cache_create(256, 3600);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    size_t n;
    uint64_t hits, misses;
    spf_cache_stats(shared, &n, &hits, &misses);
    assert_int_equal(hits + misses, 4 * 20000);
    spf_cache_destroy(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_copies_every_field),
        cmocka_unit_test(test_key_parts),
        cmocka_unit_test(test_ttl_cap_and_temperror),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
