/* tests/unit/kv/test_kv.c - the kv.h contract, one table of behaviours run against BOTH
 * backends (memory, and RocksDB in a temporary directory): get/put/delete/update/scan,
 * expired-as-absent, overwrite, empty values, binary keys with NUL, large values, argument
 * checks, compaction of expired records, and concurrency (8 threads x kv_update on one key and
 * on distinct keys; run under TSan in the sanitizer build). Time is simulated: now_s is passed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "tests/unit/kv/kv_test_util.h"

enum backend { MEMORY, ROCKSDB };

struct fixture {
    enum backend backend;
    struct kv *kv;
    char dir[KV_TEST_DIR_MAX];
};

static const enum backend backend_memory = MEMORY;
static const enum backend backend_rocksdb = ROCKSDB;

/* setup - open a fresh store of the backend named by the prestate */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->backend = *(const enum backend *)*state;
    if (f->backend == MEMORY) {
        f->kv = kv_open_memory();
    } else {
        char msg[256];
        int err = 0;
        struct kv_rocksdb_options o = {.block_cache_bytes = 8u << 20};
        kv_test_mkdtemp(f->dir);
        f->kv = kv_open_rocksdb(f->dir, &o, &err, msg, sizeof(msg));
        if (!f->kv) {
            fprintf(stderr, "kv_open_rocksdb(%s): %d %s\n", f->dir, err, msg);
            return -1;
        }
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kv_close(f->kv);
    kv_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* KV - the store of the current case */
#define KV(state) (((struct fixture *)*(state))->kv)

/* want_value - get key at now and compare value and expiry, "got X, want Y" on failure */
static void want_value(struct kv *kv, const void *key, size_t klen, int64_t now, const void *want,
                       size_t wantlen, int64_t want_exp)
{
    unsigned char buf[512];
    size_t vlen = 9999;
    int64_t exp = -1;
    int rc = kv_get(kv, key, klen, now, buf, sizeof(buf), &vlen, &exp);
    if (rc != 0)
        fail_msg("get at %lld: got %d (%s), want 0", (long long)now, rc, kv_strerror(rc));
    if (vlen != wantlen || memcmp(buf, want, wantlen) != 0)
        fail_msg("get at %lld: got %zu bytes \"%.*s\", want %zu bytes \"%.*s\"", (long long)now,
                 vlen, (int)vlen, (const char *)buf, wantlen, (int)wantlen, (const char *)want);
    if (exp != want_exp)
        fail_msg("get at %lld: got expiry %lld, want %lld", (long long)now, (long long)exp,
                 (long long)want_exp);
}

/* want_absent - get key at now answers KV_ERR_NOTFOUND */
static void want_absent(struct kv *kv, const void *key, size_t klen, int64_t now)
{
    unsigned char buf[64];
    size_t vlen = 0;
    int rc = kv_get(kv, key, klen, now, buf, sizeof(buf), &vlen, NULL);
    if (rc != KV_ERR_NOTFOUND)
        fail_msg("get at %lld: got %d (%s), want KV_ERR_NOTFOUND", (long long)now, rc,
                 kv_strerror(rc));
}

#define S(lit) (lit), (sizeof(lit) - 1) /* a string literal as pointer + length, no NUL */

static void test_put_get(void **state)
{
    struct kv *kv = KV(state);
    assert_int_equal(kv_put(kv, S("k1"), S("value one"), 0), 0);
    assert_int_equal(kv_put(kv, S("k2"), S("value two"), 5000), 0);
    want_value(kv, S("k1"), 1000, S("value one"), 0);
    want_value(kv, S("k2"), 1000, S("value two"), 5000);
    want_absent(kv, S("k3"), 1000);
    /* vlen and expires_s may be NULL */
    char buf[16];
    assert_int_equal(kv_get(kv, S("k1"), 1000, buf, sizeof(buf), NULL, NULL), 0);
    assert_memory_equal(buf, "value one", 9);
}

static void test_overwrite(void **state)
{
    struct kv *kv = KV(state);
    assert_int_equal(kv_put(kv, S("k"), S("a fairly long first value"), 100), 0);
    assert_int_equal(kv_put(kv, S("k"), S("short"), 0), 0);
    want_value(kv, S("k"), 1000, S("short"), 0);
    /* an expired record is replaced by a put like any other */
    assert_int_equal(kv_put(kv, S("e"), S("old"), 10), 0);
    assert_int_equal(kv_put(kv, S("e"), S("new"), 2000), 0);
    want_value(kv, S("e"), 1000, S("new"), 2000);
}

static void test_delete(void **state)
{
    struct kv *kv = KV(state);
    assert_int_equal(kv_put(kv, S("k"), S("v"), 0), 0);
    assert_int_equal(kv_delete(kv, S("k")), 0);
    want_absent(kv, S("k"), 1000);
    assert_int_equal(kv_delete(kv, S("k")), 0);            /* again: still fine */
    assert_int_equal(kv_delete(kv, S("never")), 0);        /* absent: fine */
    assert_int_equal(kv_put(kv, S("k"), S("back"), 0), 0); /* and it can come back */
    want_value(kv, S("k"), 1000, S("back"), 0);
}

static void test_empty_value(void **state)
{
    struct kv *kv = KV(state);
    assert_int_equal(kv_put(kv, S("empty"), NULL, 0, 0), 0);
    size_t vlen = 99;
    int64_t exp = -1;
    /* a NULL buffer of capacity 0 is enough for an empty value */
    assert_int_equal(kv_get(kv, S("empty"), 1000, NULL, 0, &vlen, &exp), 0);
    assert_int_equal(vlen, 0);
    assert_int_equal(exp, 0);
    assert_int_equal(kv_put(kv, S("empty2"), "", 0, 3000), 0);
    want_value(kv, S("empty2"), 1000, "", 0, 3000);
}

static void test_binary_keys(void **state)
{
    struct kv *kv = KV(state);
    static const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'}, k4[] = {0};
    static const unsigned char k5[] = {0xff, 0x00, 0xfe, 0x80};
    assert_int_equal(kv_put(kv, k1, sizeof(k1), S("ab"), 0), 0);
    assert_int_equal(kv_put(kv, k2, sizeof(k2), S("ac"), 0), 0);
    assert_int_equal(kv_put(kv, k3, sizeof(k3), S("a"), 0), 0);
    assert_int_equal(kv_put(kv, k4, sizeof(k4), S("nul"), 0), 0);
    assert_int_equal(kv_put(kv, k5, sizeof(k5), "\0v\0", 3, 0), 0);
    want_value(kv, k1, sizeof(k1), 1, S("ab"), 0);
    want_value(kv, k2, sizeof(k2), 1, S("ac"), 0);
    want_value(kv, k3, sizeof(k3), 1, S("a"), 0);
    want_value(kv, k4, sizeof(k4), 1, S("nul"), 0);
    want_value(kv, k5, sizeof(k5), 1, "\0v\0", 3, 0);
    want_absent(kv, "a\0", 2, 1);
}

static void test_large_value(void **state)
{
    struct kv *kv = KV(state);
    size_t n = 1u << 20;
    unsigned char *big = malloc(n), *out = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(kv_put(kv, S("big"), big, n, 0), 0);
    size_t vlen = 0;
    int64_t exp = -1;
    unsigned char small[100];
    int rc = kv_get(kv, S("big"), 1, small, sizeof(small), &vlen, &exp);
    if (rc != KV_ERR_TOOSMALL || vlen != n)
        fail_msg("small buffer: got %d vlen %zu, want KV_ERR_TOOSMALL vlen %zu", rc, vlen, n);
    assert_int_equal(kv_get(kv, S("big"), 1, out, n, &vlen, &exp), 0);
    assert_int_equal(vlen, n);
    assert_memory_equal(out, big, n);
    /* the largest value allowed, and one byte more */
    unsigned char *max = calloc(1, KV_VALUE_MAX + 1);
    assert_int_equal(kv_put(kv, S("max"), max, KV_VALUE_MAX + 1, 0), KV_ERR_INVAL);
    assert_int_equal(kv_put(kv, S("max"), max, KV_VALUE_MAX, 0), 0);
    assert_int_equal(kv_get(kv, S("max"), 1, max, KV_VALUE_MAX, &vlen, NULL), 0);
    assert_int_equal(vlen, KV_VALUE_MAX);
    free(max);
    free(big);
    free(out);
}

/* count_cb - count live records; arg: size_t */
static int count_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                    void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)exp;
    (*(size_t *)arg)++;
    return 0;
}

/* found_cb - update callback noting whether the record was found, keeping it */
static enum kv_update_op found_cb(struct kv_update *u, void *arg)
{
    *(int *)arg = u->found;
    return KV_UPDATE_KEEP;
}

static void test_expiry_as_absent(void **state)
{
    struct kv *kv = KV(state);
    /* boundary: expiry 100 is live at 99, expired at 100 and later */
    assert_int_equal(kv_put(kv, S("x"), S("soon gone"), 100), 0);
    assert_int_equal(kv_put(kv, S("y"), S("forever"), 0), 0);
    want_value(kv, S("x"), 99, S("soon gone"), 100);
    want_absent(kv, S("x"), 100);
    want_absent(kv, S("x"), 5000);
    want_value(kv, S("y"), 5000, S("forever"), 0);
    size_t n = 0;
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, 99, count_cb, &n), 0);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, 100, count_cb, &n), 0);
    assert_int_equal(n, 1);
    int found = -1;
    assert_int_equal(kv_update(kv, S("x"), 100, found_cb, &found), 0);
    assert_int_equal(found, 0);
    found = -1;
    assert_int_equal(kv_update(kv, S("y"), 100, found_cb, &found), 0);
    assert_int_equal(found, 1);
}

/* struct counter_arg - what counter_cb does */
struct counter_arg {
    enum kv_update_op op; /* answer when the counter exists */
    int64_t expires_s;
    uint64_t value; /* out: the value written (PUT) */
    bool saw;       /* out: found */
};

/* counter_cb - an 8-byte little-endian counter: create at 1 or increment (or answer a->op) */
static enum kv_update_op counter_cb(struct kv_update *u, void *arg)
{
    struct counter_arg *a = arg;
    static _Thread_local unsigned char out[8];
    uint64_t v = 0;
    a->saw = u->found;
    if (u->found) {
        if (u->cur_len != 8)
            return KV_UPDATE_KEEP;
        if (a->op != KV_UPDATE_PUT)
            return a->op;
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)((const unsigned char *)u->cur)[i] << (8 * i);
    }
    v++;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (8 * i));
    a->value = v;
    u->val = out;
    u->val_len = 8;
    u->expires_s = a->expires_s;
    return KV_UPDATE_PUT;
}

/* get_counter - the counter under key at now (0 when absent) */
static uint64_t get_counter(struct kv *kv, const void *key, size_t klen, int64_t now)
{
    unsigned char b[8];
    size_t vlen = 0;
    int rc = kv_get(kv, key, klen, now, b, sizeof(b), &vlen, NULL);
    if (rc == KV_ERR_NOTFOUND)
        return 0;
    if (rc != 0 || vlen != 8)
        fail_msg("counter: got rc %d vlen %zu, want 0 and 8", rc, vlen);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* bad_cb - an update answering something invalid (per arg) */
static enum kv_update_op bad_cb(struct kv_update *u, void *arg)
{
    switch (*(int *)arg) {
    case 0: /* negative expiry */
        u->val = "x";
        u->val_len = 1;
        u->expires_s = -5;
        return KV_UPDATE_PUT;
    case 1: /* NULL value with a length */
        u->val = NULL;
        u->val_len = 3;
        return KV_UPDATE_PUT;
    default: /* an unknown op */
        return (enum kv_update_op)42;
    }
}

/* echo_cb - write back cur itself (a value pointing into cur is allowed), new expiry */
static enum kv_update_op echo_cb(struct kv_update *u, void *arg)
{
    (void)arg;
    u->val = u->cur;
    u->val_len = u->cur_len;
    u->expires_s = 7777;
    return KV_UPDATE_PUT;
}

static void test_update(void **state)
{
    struct kv *kv = KV(state);
    struct counter_arg a = {.op = KV_UPDATE_PUT, .expires_s = 0};
    /* absent: created */
    assert_int_equal(kv_update(kv, S("c"), 1000, counter_cb, &a), 0);
    assert_false(a.saw);
    assert_int_equal(get_counter(kv, S("c"), 1000), 1);
    for (int i = 0; i < 9; i++)
        assert_int_equal(kv_update(kv, S("c"), 1000, counter_cb, &a), 0);
    assert_true(a.saw);
    assert_int_equal(get_counter(kv, S("c"), 1000), 10);
    /* keep: unchanged */
    a.op = KV_UPDATE_KEEP;
    assert_int_equal(kv_update(kv, S("c"), 1000, counter_cb, &a), 0);
    assert_int_equal(get_counter(kv, S("c"), 1000), 10);
    /* put with an expiry, then that record expires and the next update starts over */
    a.op = KV_UPDATE_PUT;
    a.expires_s = 1500;
    assert_int_equal(kv_update(kv, S("c"), 1000, counter_cb, &a), 0);
    assert_int_equal(a.value, 11);
    want_value(kv, S("c"), 1499, "\x0b\0\0\0\0\0\0\0", 8, 1500);
    a.expires_s = 0;
    assert_int_equal(kv_update(kv, S("c"), 1500, counter_cb, &a), 0);
    assert_false(a.saw);
    assert_int_equal(a.value, 1);
    /* delete */
    a.op = KV_UPDATE_DELETE;
    assert_int_equal(kv_update(kv, S("c"), 1500, counter_cb, &a), 0);
    assert_true(a.saw);
    want_absent(kv, S("c"), 1500);
    /* a value pointing into cur */
    assert_int_equal(kv_put(kv, S("e"), S("echo me"), 0), 0);
    assert_int_equal(kv_update(kv, S("e"), 1500, echo_cb, NULL), 0);
    want_value(kv, S("e"), 1500, S("echo me"), 7777);
    /* invalid answers write nothing */
    for (int bad = 0; bad < 3; bad++) {
        int rc = kv_update(kv, S("e"), 1500, bad_cb, &bad);
        if (rc != KV_ERR_INVAL)
            fail_msg("bad answer %d: got %d, want KV_ERR_INVAL", bad, rc);
        want_value(kv, S("e"), 1500, S("echo me"), 7777);
    }
}

/* struct seen - what a scan delivered */
struct seen {
    size_t n, stop_after;
    char keys[16][32];
};

/* seen_cb - record keys (as text) and stop after stop_after records if non-zero */
static int seen_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                   void *arg)
{
    (void)val, (void)vlen, (void)exp;
    struct seen *s = arg;
    if (s->n < 16)
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)klen, (const char *)key);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

/* want_scan - scan prefix at now and compare the sorted key list */
static void want_scan(struct kv *kv, const char *prefix, size_t plen, int64_t now,
                      size_t stop_after, const char *const *want, size_t nwant)
{
    struct seen s = {.stop_after = stop_after};
    int rc = kv_scan_prefix(kv, prefix, plen, now, seen_cb, &s);
    if (rc != 0)
        fail_msg("scan \"%.*s\": got %d, want 0", (int)plen, prefix, rc);
    if (s.n != nwant)
        fail_msg("scan \"%.*s\": got %zu records, want %zu", (int)plen, prefix, s.n, nwant);
    /* order is unspecified by the contract: compare as sets */
    for (size_t i = 0; i < nwant; i++) {
        bool hit = false;
        for (size_t j = 0; j < s.n && !hit; j++)
            hit = strcmp(s.keys[j], want[i]) == 0;
        if (!hit)
            fail_msg("scan \"%.*s\": %s missing", (int)plen, prefix, want[i]);
    }
}

static void test_scan_prefix(void **state)
{
    struct kv *kv = KV(state);
    static const char *const keys[] = {"g/1", "g/2", "g/3", "g", "h/1", "f/9", "g0", "g/old"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_int_equal(
            kv_put(kv, keys[i], strlen(keys[i]), S("v"), strcmp(keys[i], "g/old") == 0 ? 50 : 0),
            0);
    static const char *const g_slash[] = {"g/1", "g/2", "g/3"};
    want_scan(kv, S("g/"), 100, 0, g_slash, 3);
    static const char *const g_all[] = {"g", "g/1", "g/2", "g/3", "g0"};
    want_scan(kv, S("g"), 100, 0, g_all, 5);
    static const char *const g_old[] = {"g/1", "g/2", "g/3", "g/old"};
    want_scan(kv, S("g/"), 49, 0, g_old, 4); /* not expired yet at 49 */
    want_scan(kv, S("zz"), 100, 0, NULL, 0);
    struct seen s = {0};
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, 100, seen_cb, &s), 0);
    assert_int_equal(s.n, 7);
    /* the callback stops the scan */
    s = (struct seen){.stop_after = 2};
    assert_int_equal(kv_scan_prefix(kv, S("g"), 100, seen_cb, &s), 0);
    assert_int_equal(s.n, 2);
    /* prefixes ending in 0xff bytes (no simple upper bound) */
    static const unsigned char ff1[] = {0xff, 0xff, 'a'}, ff2[] = {0xff, 0xff}, ff3[] = {0xff};
    assert_int_equal(kv_put(kv, ff1, sizeof(ff1), S("v"), 0), 0);
    assert_int_equal(kv_put(kv, ff2, sizeof(ff2), S("v"), 0), 0);
    assert_int_equal(kv_put(kv, ff3, sizeof(ff3), S("v"), 0), 0);
    s = (struct seen){0};
    assert_int_equal(kv_scan_prefix(kv, ff2, sizeof(ff2), 100, seen_cb, &s), 0);
    assert_int_equal(s.n, 2);
    s = (struct seen){0};
    assert_int_equal(kv_scan_prefix(kv, ff3, sizeof(ff3), 100, seen_cb, &s), 0);
    assert_int_equal(s.n, 3);
}

/* delete_cb - delete every scanned record (kv calls from a scan callback are allowed) */
static int delete_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                     void *arg)
{
    (void)val, (void)vlen, (void)exp;
    return kv_delete(arg, key, klen) != 0;
}

static void test_scan_reentrant(void **state)
{
    struct kv *kv = KV(state);
    char key[16];
    for (int i = 0; i < 50; i++) {
        int n = snprintf(key, sizeof(key), "d/%02d", i);
        assert_int_equal(kv_put(kv, key, (size_t)n, S("v"), 0), 0);
    }
    assert_int_equal(kv_put(kv, S("keep"), S("v"), 0), 0);
    assert_int_equal(kv_scan_prefix(kv, S("d/"), 1, delete_cb, kv), 0);
    size_t n = 0;
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, 1, count_cb, &n), 0);
    assert_int_equal(n, 1);
}

static void test_invalid_args(void **state)
{
    struct kv *kv = KV(state);
    char *huge = calloc(1, KV_KEY_MAX + 1);
    char buf[8];
    struct {
        const char *name;
        int rc;
    } cases[] = {
        {"get empty key", kv_get(kv, "", 0, 1, buf, sizeof(buf), NULL, NULL)},
        {"get NULL key", kv_get(kv, NULL, 3, 1, buf, sizeof(buf), NULL, NULL)},
        {"get long key", kv_get(kv, huge, KV_KEY_MAX + 1, 1, buf, sizeof(buf), NULL, NULL)},
        {"get negative now", kv_get(kv, S("k"), -1, buf, sizeof(buf), NULL, NULL)},
        {"get NULL buf with cap", kv_get(kv, S("k"), 1, NULL, 8, NULL, NULL)},
        {"put empty key", kv_put(kv, "", 0, S("v"), 0)},
        {"put negative expiry", kv_put(kv, S("k"), S("v"), -1)},
        {"put NULL value with length", kv_put(kv, S("k"), NULL, 4, 0)},
        {"delete long key", kv_delete(kv, huge, KV_KEY_MAX + 1)},
        {"update NULL fn", kv_update(kv, S("k"), 1, NULL, NULL)},
        {"update negative now", kv_update(kv, S("k"), -1, found_cb, NULL)},
        {"scan NULL prefix with length", kv_scan_prefix(kv, NULL, 2, 1, count_cb, NULL)},
        {"scan NULL cb", kv_scan_prefix(kv, S("k"), 1, NULL, NULL)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (cases[i].rc != KV_ERR_INVAL)
            fail_msg("%s: got %d, want KV_ERR_INVAL", cases[i].name, cases[i].rc);
    /* the longest key is fine */
    memset(huge, 'k', KV_KEY_MAX);
    assert_int_equal(kv_put(kv, huge, KV_KEY_MAX, S("v"), 0), 0);
    want_value(kv, huge, KV_KEY_MAX, 1, S("v"), 0);
    free(huge);
    want_absent(kv, S("k"), 1); /* nothing above wrote */
}

static void test_compact_drops_expired(void **state)
{
    struct kv *kv = KV(state);
    char key[16];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof(key), "r/%03d", i);
        assert_int_equal(kv_put(kv, key, (size_t)n, S("v"), i < 30 ? 500 : 0), 0);
    }
    /* the store's now is what calls passed: 600 after this get */
    want_absent(kv, S("r/000"), 600);
    assert_int_equal(kv_compact(kv), 0);
    struct kv_stats st;
    kv_stats(kv, &st);
    if (st.expired_dropped != 30)
        fail_msg("expired_dropped: got %llu, want 30", (unsigned long long)st.expired_dropped);
    if (st.keys_estimate != 70)
        fail_msg("keys_estimate: got %llu, want 70", (unsigned long long)st.keys_estimate);
    /* dropped for good: even a reader with an earlier now finds nothing */
    want_absent(kv, S("r/000"), 1);
    want_value(kv, S("r/099"), 1, S("v"), 0);
    size_t n = 0;
    assert_int_equal(kv_scan_prefix(kv, S("r/"), 1, count_cb, &n), 0);
    assert_int_equal(n, 70);
    assert_int_equal(kv_flush_wal(kv), 0);
}

/* ---- concurrency ---- */

#define THREADS 8
#define INCREMENTS 10000

struct worker {
    struct kv *kv;
    char key[16];
    size_t klen;
    int failures;
    pthread_t tid;
};

static void *increment_worker(void *arg)
{
    struct worker *w = arg;
    struct counter_arg a = {.op = KV_UPDATE_PUT};
    for (int i = 0; i < INCREMENTS; i++)
        if (kv_update(w->kv, w->key, w->klen, 1000 + i / 1000, counter_cb, &a) != 0)
            w->failures++;
    return NULL;
}

/* run_workers - THREADS increment workers, on one key (shared) or one key each */
static void run_workers(struct kv *kv, bool shared)
{
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.kv = kv};
        w[i].klen = (size_t)snprintf(w[i].key, sizeof(w[i].key), "ctr/%d", shared ? 0 : i);
        assert_int_equal(pthread_create(&w[i].tid, NULL, increment_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].tid, NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d failed updates, want 0", i, w[i].failures);
    }
    for (int i = 0; i < (shared ? 1 : THREADS); i++) {
        uint64_t got = get_counter(kv, w[i].key, w[i].klen, 2000);
        uint64_t want = shared ? (uint64_t)THREADS * INCREMENTS : INCREMENTS;
        if (got != want)
            fail_msg("%s: got %llu, want %llu", w[i].key, (unsigned long long)got,
                     (unsigned long long)want);
    }
}

static void test_update_same_key_threads(void **state)
{
    run_workers(KV(state), true);
}

static void test_update_distinct_keys_threads(void **state)
{
    run_workers(KV(state), false);
}


/* ---- batches ---- */

/* keep_cb - decide nothing; records whether a record was there */
static enum kv_update_op keep_cb(struct kv_update *u, void *arg)
{
    *(bool *)arg = u->found;
    return KV_UPDATE_KEEP;
}

static void test_batch(void **state)
{
    struct kv *kv = KV(state);
    struct counter_arg a = {.op = KV_UPDATE_PUT};
    assert_int_equal(kv_update(kv, S("b/0"), 1000, counter_cb, &a), 0); /* committed: 1 */
    struct kv_batch *b = kv_batch_create(kv);
    assert_ptr_equal(kv_batch_kv(b), kv);
    assert_true(kv_batch_idle(b));
    int st[6] = {-9, -9, -9, -9, -9, -9};
    /* a new key: pending, invisible to readers until the commit */
    assert_int_equal(kv_batch_update(b, S("b/1"), 1000, counter_cb, &a, &st[0]), 0);
    assert_false(a.saw);
    assert_int_equal(st[0], 1);
    want_absent(kv, S("b/1"), 1000);
    /* the same key again: the batch reads its own pending write */
    assert_int_equal(kv_batch_update(b, S("b/1"), 1000, counter_cb, &a, &st[1]), 0);
    assert_true(a.saw);
    assert_int_equal(a.value, 2);
    assert_int_equal(st[1], 1);
    /* KEEP on a pending record: nothing written, but it waits for that commit */
    bool saw = false;
    assert_int_equal(kv_batch_update(b, S("b/1"), 1000, keep_cb, &saw, &st[2]), 0);
    assert_true(saw);
    assert_int_equal(st[2], 1);
    /* KEEP on an absent key: nothing pending at all */
    assert_int_equal(kv_batch_update(b, S("b/none"), 1000, keep_cb, &saw, &st[3]), 0);
    assert_false(saw);
    assert_int_equal(st[3], 0);
    /* delete a committed key: still readable until the commit */
    struct counter_arg del = {.op = KV_UPDATE_DELETE};
    assert_int_equal(kv_batch_update(b, S("b/0"), 1000, counter_cb, &del, &st[4]), 0);
    assert_int_equal(st[4], 1);
    assert_int_equal(get_counter(kv, S("b/0"), 1000), 1);
    /* ... and recreate it in the same batch: the pending delete reads as absent */
    assert_int_equal(kv_batch_update(b, S("b/0"), 1000, counter_cb, &a, &st[5]), 0);
    assert_false(a.saw);
    assert_int_equal(kv_batch_pending(b), 4);
    assert_false(kv_batch_idle(b));
    assert_int_equal(kv_batch_commit(b), 0);
    assert_true(kv_batch_idle(b));
    for (int i = 0; i < 6; i++)
        if (st[i] != 0)
            fail_msg("status %d: got %d, want 0", i, st[i]);
    assert_int_equal(get_counter(kv, S("b/1"), 1000), 2);
    assert_int_equal(get_counter(kv, S("b/0"), 1000), 1); /* deleted, then created at 1 */
    want_absent(kv, S("b/none"), 1000);
    /* a stripe held with nothing pending is released by the commit: a plain update of
     * that key from this thread would deadlock otherwise */
    assert_int_equal(kv_batch_update(b, S("b/none"), 1000, keep_cb, &saw, &st[0]), 0);
    assert_int_equal(kv_batch_pending(b), 0);
    assert_false(kv_batch_idle(b));
    assert_int_equal(kv_batch_commit(b), 0);
    assert_int_equal(kv_update(kv, S("b/none"), 1000, counter_cb, &a), 0);
    /* bad arguments: nothing pending, status 0 */
    st[0] = -9;
    assert_int_equal(kv_batch_update(b, NULL, 0, 1000, counter_cb, &a, &st[0]), KV_ERR_INVAL);
    assert_int_equal(st[0], 0);
    /* destroy commits what is left */
    assert_int_equal(kv_batch_update(b, S("b/2"), 1000, counter_cb, &a, &st[0]), 0);
    kv_batch_destroy(b);
    assert_int_equal(st[0], 0);
    assert_int_equal(get_counter(kv, S("b/2"), 1000), 1);
}

/* memory only: a failed commit applies nothing, reports to every status, frees its stripes */
static void test_batch_commit_fails(void **state)
{
    struct kv *kv = KV(state);
    struct counter_arg a = {.op = KV_UPDATE_PUT};
    struct kv_batch *b = kv_batch_create(kv);
    int st[3];
    assert_int_equal(kv_batch_update(b, S("f/1"), 1000, counter_cb, &a, &st[0]), 0);
    assert_int_equal(kv_batch_update(b, S("f/2"), 1000, counter_cb, &a, &st[1]), 0);
    bool saw = false;
    assert_int_equal(kv_batch_update(b, S("f/1"), 1000, keep_cb, &saw, &st[2]), 0);
    assert_true(saw);
    kv_memory_fail_writes(kv, true);
    assert_int_equal(kv_batch_commit(b), KV_ERR_IO);
    for (int i = 0; i < 3; i++)
        if (st[i] != KV_ERR_IO)
            fail_msg("status %d: got %d, want KV_ERR_IO", i, st[i]);
    assert_int_equal(kv_update(kv, S("f/3"), 1000, counter_cb, &a), KV_ERR_IO);
    kv_memory_fail_writes(kv, false);
    want_absent(kv, S("f/1"), 1000);
    want_absent(kv, S("f/2"), 1000);
    assert_true(kv_batch_idle(b));
    assert_int_equal(kv_update(kv, S("f/1"), 1000, counter_cb, &a), 0); /* stripe free */
    assert_int_equal(get_counter(kv, S("f/1"), 1000), 1);
    kv_batch_destroy(b);
}

#define BATCH_KEYS 16

struct batch_worker {
    struct kv *kv;
    unsigned seed;
    bool batched; /* false: plain kv_update, mixed in with the batches */
    int failures;
    uint64_t done[BATCH_KEYS]; /* increments made per key */
    pthread_t tid;
};

/* batch_increment_worker - INCREMENTS increments of random keys, committing every 1..40 */
static void *batch_increment_worker(void *arg)
{
    struct batch_worker *w = arg;
    struct kv_batch *b = w->batched ? kv_batch_create(w->kv) : NULL;
    struct counter_arg a = {.op = KV_UPDATE_PUT};
    int st[40];
    int n = 0, every = 1 + (int)(rand_r(&w->seed) % 40);
    for (int i = 0; i < INCREMENTS; i++) {
        unsigned k = rand_r(&w->seed) % BATCH_KEYS;
        char key[16];
        size_t klen = (size_t)snprintf(key, sizeof(key), "bk/%u", k);
        int rc = b ? kv_batch_update(b, key, klen, 1000, counter_cb, &a, &st[n++])
                   : kv_update(w->kv, key, klen, 1000, counter_cb, &a);
        if (rc != 0)
            w->failures++;
        w->done[k]++;
        if (b && n == every) {
            if (kv_batch_commit(b) != 0)
                w->failures++;
            for (int j = 0; j < n; j++)
                w->failures += st[j] != 0;
            n = 0;
            every = 1 + (int)(rand_r(&w->seed) % 40);
        }
    }
    if (b) {
        kv_batch_destroy(b);
        for (int j = 0; j < n; j++)
            w->failures += st[j] != 0;
    }
    return NULL;
}

/* batches on THREADS threads (two of them plain kv_update) over a few shared keys: no
 * increment lost, none counted twice, and no deadlock (the test would hang) */
static void test_batch_threads(void **state)
{
    struct kv *kv = KV(state);
    struct batch_worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct batch_worker){.kv = kv, .seed = 17u + (unsigned)i, .batched = i >= 2};
        assert_int_equal(pthread_create(&w[i].tid, NULL, batch_increment_worker, &w[i]), 0);
    }
    uint64_t want[BATCH_KEYS] = {0};
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].tid, NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d failures, want 0", i, w[i].failures);
        for (int k = 0; k < BATCH_KEYS; k++)
            want[k] += w[i].done[k];
    }
    for (int k = 0; k < BATCH_KEYS; k++) {
        char key[16];
        size_t klen = (size_t)snprintf(key, sizeof(key), "bk/%d", k);
        uint64_t got = get_counter(kv, key, klen, 1000);
        if (got != want[k])
            fail_msg("%s: got %llu, want %llu", key, (unsigned long long)got,
                     (unsigned long long)want[k]);
    }
}

/* BOTH - register a case once per backend */
#define BOTH(fn)                                                                                   \
    {"memory: " #fn, fn, setup, teardown, (void *)&backend_memory},                                \
    {                                                                                              \
        "rocksdb: " #fn, fn, setup, teardown, (void *)&backend_rocksdb                             \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_put_get),
        BOTH(test_overwrite),
        BOTH(test_delete),
        BOTH(test_empty_value),
        BOTH(test_binary_keys),
        BOTH(test_large_value),
        BOTH(test_expiry_as_absent),
        BOTH(test_update),
        BOTH(test_scan_prefix),
        BOTH(test_scan_reentrant),
        BOTH(test_invalid_args),
        BOTH(test_compact_drops_expired),
        BOTH(test_update_same_key_threads),
        BOTH(test_update_distinct_keys_threads),
        BOTH(test_batch),
        BOTH(test_batch_threads),
        {"memory: test_batch_commit_fails", test_batch_commit_fails, setup, teardown,
         (void *)&backend_memory},
    };
    return cmocka_run_group_tests_name("kv", tests, NULL, kv_test_cleanup);
}
