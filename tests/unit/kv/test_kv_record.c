/* tests/unit/kv/test_kv_record.c - the stored record codec (kv/kv_int.h): exact bytes of the
 * encoding, round trips, and a table of malformed inputs that must decode as KV_ERR_CORRUPT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kv/kv_int.h"

static void test_encode_bytes(void **state)
{
    (void)state;
    unsigned char out[KV_RECORD_HEADER + 3];
    kv_record_encode(out, 0x0102030405060708, "abc", 3);
    static const unsigned char want[] = {1, 8, 7, 6, 5, 4, 3, 2, 1, 'a', 'b', 'c'};
    assert_int_equal(kv_record_size(3), sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
}

static void test_round_trip(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t expires_s;
        const char *val;
        size_t vlen;
    } cases[] = {
        {"never, empty", 0, "", 0},
        {"never, text", 0, "hello", 5},
        {"expiry, binary", 1700000000, "\0\xff\0", 3},
        {"max expiry", INT64_MAX, "x", 1},
        {"expiry 1", 1, "y", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char buf[64];
        struct kv_record r;
        kv_record_encode(buf, cases[i].expires_s, cases[i].val, cases[i].vlen);
        int rc = kv_record_decode(buf, kv_record_size(cases[i].vlen), &r);
        if (rc != 0)
            fail_msg("%s: decode got %d, want 0", cases[i].name, rc);
        if (r.expires_s != cases[i].expires_s)
            fail_msg("%s: expiry got %lld, want %lld", cases[i].name, (long long)r.expires_s,
                     (long long)cases[i].expires_s);
        if (r.vlen != cases[i].vlen || memcmp(r.val, cases[i].val, r.vlen) != 0)
            fail_msg("%s: value got %zu bytes, want %zu", cases[i].name, r.vlen, cases[i].vlen);
        if ((const unsigned char *)r.val != buf + KV_RECORD_HEADER)
            fail_msg("%s: value does not point into the input", cases[i].name);
    }
}

static void test_corrupt(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"empty", "", 0},
        {"version only", "\x01", 1},
        {"short header", "\x01\0\0\0\0\0\0\0", 8},
        {"version 0", "\x00\0\0\0\0\0\0\0\0", 9},
        {"version 2", "\x02\0\0\0\0\0\0\0\0v", 10},
        {"version 255", "\xff\0\0\0\0\0\0\0\0", 9},
        {"expiry past INT64_MAX", "\x01\0\0\0\0\0\0\0\x80", 9},
        {"expiry all ones", "\x01\xff\xff\xff\xff\xff\xff\xff\xff", 9},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kv_record r;
        /* copy to an exact-size heap buffer so ASan catches any over-read */
        unsigned char *p = malloc(cases[i].len ? cases[i].len : 1);
        memcpy(p, cases[i].bytes, cases[i].len);
        int rc = kv_record_decode(p, cases[i].len, &r);
        free(p);
        if (rc != KV_ERR_CORRUPT)
            fail_msg("%s: got %d, want KV_ERR_CORRUPT", cases[i].name, rc);
    }
    /* the smallest valid record: header only */
    struct kv_record r;
    assert_int_equal(kv_record_decode("\x01\0\0\0\0\0\0\0\0", 9, &r), 0);
    assert_int_equal(r.vlen, 0);
    assert_int_equal(r.expires_s, 0);
}

static void test_live(void **state)
{
    (void)state;
    static const struct {
        int64_t expires_s, now_s;
        bool live;
    } cases[] = {{0, 0, true},      {0, INT64_MAX, true}, {100, 99, true},
                 {100, 100, false}, {100, 101, false},    {1, 0, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (kv_record_live(cases[i].expires_s, cases[i].now_s) != cases[i].live)
            fail_msg("live(%lld, %lld): got %d, want %d", (long long)cases[i].expires_s,
                     (long long)cases[i].now_s, !cases[i].live, cases[i].live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests_name("kv_record", tests, NULL, NULL);
}
