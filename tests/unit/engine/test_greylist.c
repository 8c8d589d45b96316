/* tests/unit/engine/test_greylist.c - the greylisting core with an injected clock (nothing here
 * sleeps or reads the wall clock): the state machine over the memory store (new, early, pass,
 * known, retry_window and max_age expiry, AWL, SPF-domain keys, hashed keys), every sender
 * normalisation rule, the key layout, the record codec, SipHash reference vectors, the text
 * templates, and expiry through a real RocksDB store (absent before compaction, gone after). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/greylist.h"
#include "kv/kv.h"
#include "tests/unit/kv/kv_test_util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1700000000 /* an arbitrary "now" */

static const struct greylist_params defaults = {
    .delay_s = 300,
    .retry_window_s = 2 * 86400,
    .max_age_s = 35 * 86400,
    .key_parts = GREYLIST_KEY_ALL,
    .prefix_v4 = 24,
    .prefix_v6 = 64,
    .key_by_spf_domain = true,
    .normalize_sender = true,
    .awl_after = 0,
    .hash_key = NULL,
};

static struct ip_addr ip(const char *s)
{
    struct ip_addr a;
    if (!ip_parse(s, strlen(s), &a))
        fail_msg("bad test address %s", s);
    return a;
}

/* struct req - one request of a scenario */
struct req {
    const char *client, *sender, *rcpt, *spf_domain;
};

/* check - greylist_check of r at now; fails unless it returns 0 */
static struct greylist_result check(struct kv *kv, const struct greylist_params *p,
                                    const struct req *r, int64_t now)
{
    struct ip_addr a = ip(r->client);
    struct greylist_input in = {.client = &a,
                                .sender = r->sender,
                                .sender_len = strlen(r->sender),
                                .recipient = r->rcpt,
                                .recipient_len = strlen(r->rcpt),
                                .spf_domain = r->spf_domain};
    struct greylist_result res;
    int rc = greylist_check(kv, p, &in, now, &res);
    if (rc != 0)
        fail_msg("greylist_check: got %d (%s), want 0", rc, kv_strerror(rc));
    return res;
}

/* expect - verdict and seconds left (NEW/EARLY) or delayed (PASSED) */
#define expect(res, v, secs)                                                                       \
    do {                                                                                           \
        struct greylist_result r_ = (res);                                                         \
        if (r_.verdict != (v))                                                                     \
            fail_msg("line %d: got verdict %s, want %s", __LINE__,                                 \
                     greylist_verdict_name(r_.verdict), greylist_verdict_name(v));                 \
        long long got_ = (v) == GREYLIST_PASSED ? r_.delayed_s : r_.left_s;                        \
        if ((secs) >= 0 && got_ != (secs))                                                         \
            fail_msg("line %d: %s: got %lld seconds, want %lld", __LINE__,                         \
                     greylist_verdict_name(v), got_, (long long)(secs));                           \
    } while (0)

static const struct req alice = {"192.0.2.10", "alice@example.org", "bob@example.net", NULL};

/* ---- the state machine ---- */

static void test_new_early_pass_known(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &alice, T0 + 1), GREYLIST_EARLY, 299);
    expect(check(kv, &defaults, &alice, T0 + 299), GREYLIST_EARLY, 1);
    struct greylist_result r = check(kv, &defaults, &alice, T0 + 300);
    expect(r, GREYLIST_PASSED, 300);
    assert_int_equal(r.passes, 1);
    r = check(kv, &defaults, &alice, T0 + 400);
    expect(r, GREYLIST_KNOWN, -1);
    assert_int_equal(r.passes, 2);
    r = check(kv, &defaults, &alice, T0 + 500);
    assert_int_equal(r.passes, 3);
    /* another host of the same /24 is the same client; another /24 is not */
    struct req same_net = alice, other_net = alice;
    same_net.client = "192.0.2.200";
    other_net.client = "192.0.3.10";
    expect(check(kv, &defaults, &same_net, T0 + 600), GREYLIST_KNOWN, -1);
    expect(check(kv, &defaults, &other_net, T0 + 600), GREYLIST_NEW, 300);
    kv_close(kv);
}

static void test_clock_step_back(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    /* the clock stepped back an hour: never more than one delay to wait */
    expect(check(kv, &defaults, &alice, T0 - 3600), GREYLIST_EARLY, 300);
    kv_close(kv);
}

static void test_retry_window(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    int64_t win = defaults.retry_window_s;
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    /* a retry at the last second of the window passes ... */
    struct req b = alice;
    b.rcpt = "carol@example.net";
    expect(check(kv, &defaults, &b, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &b, T0 + win - 1), GREYLIST_PASSED, win - 1);
    /* ... one at the window's end is a first attempt again */
    expect(check(kv, &defaults, &alice, T0 + win), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &alice, T0 + win + 100), GREYLIST_EARLY, 200);
    expect(check(kv, &defaults, &alice, T0 + win + 300), GREYLIST_PASSED, 300);
    kv_close(kv);
}

static void test_max_age(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    int64_t age = defaults.max_age_s;
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &alice, T0 + 300), GREYLIST_PASSED, 300);
    int64_t last = T0 + 300;
    /* seen again just before max_age: known, and the age counts from now */
    expect(check(kv, &defaults, &alice, last + age - 1), GREYLIST_KNOWN, -1);
    last += age - 1;
    expect(check(kv, &defaults, &alice, last + age - 1), GREYLIST_KNOWN, -1);
    last += age - 1;
    /* max_age after it was last seen: forgotten, greylisted again */
    expect(check(kv, &defaults, &alice, last + age), GREYLIST_NEW, 300);
    kv_close(kv);
}

static void test_awl(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_params p = defaults;
    p.awl_after = 3;
    const char *rcpts[] = {"r1@example.net", "r2@example.net", "r3@example.net"};
    int64_t t = T0;
    for (size_t i = 0; i < N(rcpts); i++) {
        struct req r = {"192.0.2.10", "news@example.org", rcpts[i], NULL};
        expect(check(kv, &p, &r, t), GREYLIST_NEW, 300);
        /* before the third pass, a new triplet of the network is still greylisted */
        char probe_rcpt[32];
        snprintf(probe_rcpt, sizeof(probe_rcpt), "probe%zu@example.net", i);
        struct req probe = {"192.0.2.77", "other@example.com", probe_rcpt, NULL};
        expect(check(kv, &p, &probe, t + 1), GREYLIST_NEW, 300);
        expect(check(kv, &p, &r, t + 300), GREYLIST_PASSED, 300);
        /* a known triplet passing again does not count twice (the probes above stay NEW);
         * after the third pass the whole network is whitelisted */
        expect(check(kv, &p, &r, t + 301), i + 1 < N(rcpts) ? GREYLIST_KNOWN : GREYLIST_AWL, -1);
        t += 1000;
    }
    /* three triplets passed: every new triplet of 192.0.2.0/24 skips greylisting */
    struct req fresh = {"192.0.2.99", "someone@elsewhere.example", "y@example.net", NULL};
    struct greylist_result r = check(kv, &p, &fresh, t);
    expect(r, GREYLIST_AWL, -1);
    assert_int_equal(r.passes, 3);
    struct req other = {"198.51.100.1", "someone@elsewhere.example", "y@example.net", NULL};
    expect(check(kv, &p, &other, t), GREYLIST_NEW, 300);
    /* the AWL record lives max_age after its last refresh (at most hourly) */
    expect(check(kv, &p, &fresh, t + 2 * 3600), GREYLIST_AWL, -1);
    expect(check(kv, &p, &fresh, t + 2 * 3600 + p.max_age_s - 1), GREYLIST_AWL, -1);
    expect(check(kv, &p, &fresh, t + 2 * 3600 + 2 * p.max_age_s), GREYLIST_NEW, 300);
    kv_close(kv);

    /* auto_whitelist_after = 0: never */
    kv = kv_open_memory();
    p.awl_after = 0;
    for (int i = 0; i < 20; i++) {
        char rcpt[64];
        snprintf(rcpt, sizeof(rcpt), "u%d@example.net", i);
        struct req q = {"192.0.2.10", "news@example.org", rcpt, NULL};
        expect(check(kv, &p, &q, T0 + 1000 * i), GREYLIST_NEW, 300);
        expect(check(kv, &p, &q, T0 + 1000 * i + 300), GREYLIST_PASSED, 300);
    }
    kv_close(kv);
}

/* the AWL hint: the same verdicts with it, its AWL reads only for networks that may have a
 * record, filled by the checks' own AWL writes and by a load from the store */
static void test_awl_hint(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_params p = defaults;
    p.awl_after = 1;
    p.awl_hint = greylist_awl_hint_create();
    assert_non_null(p.awl_hint);
    assert_false(greylist_awl_hint_loaded(p.awl_hint));
    /* not loaded yet: every network is "maybe", so the AWL record is read */
    struct greylist_result r = check(kv, &p, &alice, T0);
    expect(r, GREYLIST_NEW, 300);
    assert_int_equal(r.kv_gets, 1);
    assert_int_equal(greylist_awl_hint_load(p.awl_hint, kv, T0, NULL), 0);
    assert_true(greylist_awl_hint_loaded(p.awl_hint));
    /* loaded, nothing stored: the AWL read is skipped */
    r = check(kv, &p, &alice, T0 + 10);
    expect(r, GREYLIST_EARLY, 290);
    assert_int_equal(r.kv_gets, 0);
    /* the pass writes the AWL record, and puts the network in the hint before it */
    expect(check(kv, &p, &alice, T0 + 300), GREYLIST_PASSED, 300);
    struct req fresh = {"192.0.2.99", "someone@elsewhere.example", "y@example.net", NULL};
    r = check(kv, &p, &fresh, T0 + 301);
    expect(r, GREYLIST_AWL, -1);
    assert_int_equal(r.kv_gets, 1);
    struct req other = {"198.51.100.1", "someone@elsewhere.example", "y@example.net", NULL};
    r = check(kv, &p, &other, T0 + 301);
    expect(r, GREYLIST_NEW, 300);
    assert_int_equal(r.kv_gets, 0);
    greylist_awl_hint_destroy(p.awl_hint);

    /* a new hint (the next start) learns the stored AWL records from the load */
    p.awl_hint = greylist_awl_hint_create();
    atomic_bool stop;
    atomic_init(&stop, true);
    assert_int_equal(greylist_awl_hint_load(p.awl_hint, kv, T0 + 302, &stop), 1); /* stopped */
    assert_false(greylist_awl_hint_loaded(p.awl_hint));
    atomic_store(&stop, false);
    assert_int_equal(greylist_awl_hint_load(p.awl_hint, kv, T0 + 302, &stop), 0);
    expect(check(kv, &p, &fresh, T0 + 303), GREYLIST_AWL, -1);
    /* of 10,000 networks without a record the hint rules out nearly all */
    unsigned maybe = 0;
    for (unsigned i = 0; i < 10000; i++) {
        char key[GREYLIST_KEY_MAX];
        struct ip_addr a;
        char text[32];
        snprintf(text, sizeof(text), "10.%u.%u.1", i / 256, i % 256);
        a = ip(text);
        size_t n = greylist_awl_key(&p, &a, key);
        maybe += greylist_awl_hint_maybe(p.awl_hint, key, n);
    }
    if (maybe > 10)
        fail_msg("%u of 10000 absent networks are \"maybe\", want <= 10", maybe);
    greylist_awl_hint_destroy(p.awl_hint);
    kv_close(kv);
}

static void test_spf_domain_key(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    /* first attempt from pool host A, retry from host B of another network: SPF pass for
     * example.org on both, so the retry matches */
    struct req a = {"192.0.2.10", "alice@example.org", "bob@example.net", "example.org"};
    struct req b = {"203.0.113.5", "alice@example.org", "bob@example.net", "Example.ORG"};
    expect(check(kv, &defaults, &a, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &b, T0 + 300), GREYLIST_PASSED, 300);

    /* the same without SPF pass on the retry (spf_domain unset): host B is a new client */
    struct req c = {"192.0.2.10", "carol@example.org", "bob@example.net", "example.org"};
    struct req d = {"203.0.113.5", "carol@example.org", "bob@example.net", NULL};
    expect(check(kv, &defaults, &c, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &d, T0 + 300), GREYLIST_NEW, 300);

    /* key_by_spf_domain off: the network counts even with SPF pass */
    struct greylist_params p = defaults;
    p.key_by_spf_domain = false;
    struct req e = {"192.0.2.10", "erin@example.org", "bob@example.net", "example.org"};
    struct req f = {"203.0.113.5", "erin@example.org", "bob@example.net", "example.org"};
    expect(check(kv, &p, &e, T0), GREYLIST_NEW, 300);
    expect(check(kv, &p, &f, T0 + 300), GREYLIST_NEW, 300);
    kv_close(kv);
}

static void test_learning_is_the_same_machine(void **state)
{
    /* learning mode is the stage's (it passes what the core would defer); the core records
     * identically, so a learned triplet passes at once when learning is switched off */
    (void)state;
    struct kv *kv = kv_open_memory();
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &alice, T0 + 400), GREYLIST_PASSED, 400);
    expect(check(kv, &defaults, &alice, T0 + 500), GREYLIST_KNOWN, -1);
    kv_close(kv);
}

/* key_cb - remember whether any stored key contains needle; arg: const char *[2] */
static int key_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                  void *arg)
{
    (void)val, (void)vlen, (void)exp;
    const char **a = arg;
    if (memmem(key, klen, a[0], strlen(a[0])))
        a[1] = "found";
    if (klen != 18 || ((const char *)key)[1] != '#')
        a[1] = "not hashed";
    return 0;
}

static void test_hashed_keys(void **state)
{
    (void)state;
    uint8_t key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(7 * i + 1);
    struct greylist_params p = defaults;
    p.hash_key = key;
    p.awl_after = 1;
    struct kv *kv = kv_open_memory();
    expect(check(kv, &p, &alice, T0), GREYLIST_NEW, 300);
    expect(check(kv, &p, &alice, T0 + 300), GREYLIST_PASSED, 300);
    struct req other = {"192.0.2.11", "x@example.com", "y@example.net", NULL};
    expect(check(kv, &p, &other, T0 + 400), GREYLIST_AWL, -1);
    const char *probe[2] = {"example", NULL};
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, T0 + 400, key_cb, probe), 0);
    if (probe[1])
        fail_msg("stored keys: got %s, want 18-byte hashes only", probe[1]);
    probe[0] = "192.0.2";
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, T0 + 400, key_cb, probe), 0);
    assert_null(probe[1]);
    /* another install key: another key for the same triplet */
    char k1[GREYLIST_KEY_MAX], k2[GREYLIST_KEY_MAX];
    struct ip_addr a = ip(alice.client);
    struct greylist_input in = {&a,         alice.sender,       strlen(alice.sender),
                                alice.rcpt, strlen(alice.rcpt), NULL};
    size_t n1 = greylist_triplet_key(&p, &in, k1);
    key[0] ^= 1;
    size_t n2 = greylist_triplet_key(&p, &in, k2);
    assert_int_equal(n1, 18);
    assert_int_equal(n2, 18);
    assert_memory_not_equal(k1, k2, 18);
    kv_close(kv);
}

static void test_no_client(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_input in = {NULL, "a@b.example", 11, "c@d.example", 11, NULL};
    struct greylist_result r;
    assert_int_equal(greylist_check(kv, &defaults, &in, T0, &r), KV_ERR_INVAL);
    in.spf_domain = "b.example"; /* the SPF domain stands in for the network */
    assert_int_equal(greylist_check(kv, &defaults, &in, T0, &r), 0);
    expect(r, GREYLIST_NEW, 300);
    struct greylist_params p = defaults;
    p.key_parts = GREYLIST_KEY_SENDER | GREYLIST_KEY_RECIPIENT;
    in.spf_domain = NULL;
    assert_int_equal(greylist_check(kv, &p, &in, T0, &r), 0);
    expect(r, GREYLIST_NEW, 300);
    kv_close(kv);
}

static void test_store_calls_counted(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_params p = defaults;
    p.awl_after = 2;
    struct greylist_result r = check(kv, &p, &alice, T0);
    assert_int_equal(r.kv_gets, 1); /* the AWL lookup */
    assert_int_equal(r.kv_updates, 1);
    r = check(kv, &p, &alice, T0 + 300); /* first pass: the AWL count too */
    assert_int_equal(r.kv_gets, 1);
    assert_int_equal(r.kv_updates, 2);
    assert_int_equal(r.kv_get_errors + r.kv_update_errors, 0);
    kv_close(kv);
}

/* ---- keys and normalisation ---- */

struct norm_case {
    const char *rule, *in, *want;
};

static const struct norm_case norm_cases[] = {
    {"lower case", "Alice@Example.ORG", "alice@example.org"},
    {"null sender", "", ""},
    {"no domain", "MAILER-DAEMON", "mailer-daemon"},
    {"+ext", "alice+list@example.org", "alice@example.org"},
    {"+ext, several", "alice+a+b@example.org", "alice@example.org"},
    {"leading + kept", "+alice@example.org", "+alice@example.org"},
    {"-ext kept", "alice-list@example.org", "alice-list@example.org"},
    {"BATV prvs=TAG=user", "prvs=0123abcdef=alice@example.org", "alice@example.org"},
    {"BATV prvs=user=TAG", "prvs=alice=4321abcdef@example.org", "alice@example.org"},
    {"BATV prvs=user/TAG", "prvs=alice/0123abcdef@example.org", "alice@example.org"},
    {"BATV upper case", "PRVS=0123ABCDEF=Alice@Example.org", "alice@example.org"},
    {"BATV msprvs1", "msprvs1=17885abcdeFGH=bounces-1234@example.org", "bounces-#@example.org"},
    {"BATV too many fields", "prvs=a=b=c@example.org", "prvs=a=b=c@example.org"},
    {"SRS0", "SRS0=HHH=TT=example.org=alice@forwarder.example", "alice@example.org"},
    {"SRS0 + separator", "SRS0+HHH=TT=example.org=alice@forwarder.example", "alice@example.org"},
    {"SRS0 local part with =", "SRS0=HHH=TT=example.org=a=b@fwd.example", "a=b@example.org"},
    {"SRS1", "SRS1=HHH=first.example==HHH=TT=example.org=alice@second.example",
     "alice@example.org"},
    {"SRS0 of a +ext", "SRS0=h=t=example.org=alice+x@fwd.example", "alice@example.org"},
    {"SRS0 malformed", "SRS0=onlyhash@fwd.example", "srs0=onlyhash@fwd.example"},
    {"VERP digit word", "bounce-12345-alice=example.net@lists.example.org",
     "bounce-#-alice=example.net@lists.example.org"},
    {"VERP several", "b.2024.11.25-77@example.org", "b.#.#.#-#@example.org"},
    {"digits inside a word kept", "user123@example.org", "user123@example.org"},
    {"digits after _ kept", "msg_4711@example.org", "msg_4711@example.org"},
    {"all digits", "4711@example.org", "#@example.org"},
    {"domain digits kept", "a-1@mx1.example.org", "a-#@mx1.example.org"},
};

static void test_normalize(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(norm_cases); i++) {
        char out[GREYLIST_PART_MAX + 1];
        const struct norm_case *c = &norm_cases[i];
        size_t n = greylist_sender_normalize(c->in, strlen(c->in), out);
        if (strcmp(out, c->want) != 0 || n != strlen(c->want)) {
            print_error("%s: \"%s\": got \"%s\" (%zu), want \"%s\"\n", c->rule, c->in, out, n,
                        c->want);
            failures++;
        }
    }
    /* input longer than a part: cut, never overflowing */
    char big[2000], out[GREYLIST_PART_MAX + 1];
    memset(big, 'A', sizeof(big));
    big[1000] = '@';
    size_t n = greylist_sender_normalize(big, sizeof(big), out);
    assert_int_equal(n, GREYLIST_PART_MAX);
    assert_int_equal(out[0], 'a');
    assert_int_equal(failures, 0);
}

static void test_normalized_senders_share_a_record(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct req a = {"192.0.2.10", "bounce-1001-bob=example.net@lists.example.org",
                    "bob@example.net", NULL};
    struct req b = {"192.0.2.10", "bounce-1002-bob=example.net@lists.example.org",
                    "bob@example.net", NULL};
    expect(check(kv, &defaults, &a, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &b, T0 + 300), GREYLIST_PASSED, 300);
    struct greylist_params p = defaults;
    p.normalize_sender = false;
    expect(check(kv, &p, &a, T0), GREYLIST_NEW, 300);
    expect(check(kv, &p, &b, T0 + 300), GREYLIST_NEW, 300);
    kv_close(kv);
}

struct key_case {
    const char *name;
    unsigned parts, v4, v6;
    bool by_spf;
    const char *client, *sender, *rcpt, *spf;
    const char *want; /* "|" stands for each NUL separator */
};

static const struct key_case key_cases[] = {
    {"v4 /24", GREYLIST_KEY_ALL, 24, 64, true, "192.0.2.77", "A+x@Example.org", "Bob@Example.NET",
     NULL, "t/192.0.2.0/24|a@example.org|bob@example.net"},
    {"v4 /32", GREYLIST_KEY_ALL, 32, 64, true, "192.0.2.77", "a@b", "c@d", NULL,
     "t/192.0.2.77/32|a@b|c@d"},
    {"v4 /0", GREYLIST_KEY_ALL, 0, 64, true, "192.0.2.77", "a@b", "c@d", NULL,
     "t/0.0.0.0/0|a@b|c@d"},
    {"v6 /64", GREYLIST_KEY_ALL, 24, 64, true, "2001:db8:1:2:3:4:5:6", "a@b", "c@d", NULL,
     "t/2001:db8:1:2::/64|a@b|c@d"},
    {"v6 /48", GREYLIST_KEY_ALL, 24, 48, true, "2001:db8:1:2:3:4:5:6", "a@b", "c@d", NULL,
     "t/2001:db8:1::/48|a@b|c@d"},
    {"mapped v4", GREYLIST_KEY_ALL, 24, 64, true, "::ffff:192.0.2.77", "a@b", "c@d", NULL,
     "t/192.0.2.0/24|a@b|c@d"},
    {"spf domain", GREYLIST_KEY_ALL, 24, 64, true, "192.0.2.77", "a@b", "c@d", "Pool.Example",
     "t/spf:pool.example|a@b|c@d"},
    {"spf domain off", GREYLIST_KEY_ALL, 24, 64, false, "192.0.2.77", "a@b", "c@d", "pool.example",
     "t/192.0.2.0/24|a@b|c@d"},
    {"no client", GREYLIST_KEY_SENDER | GREYLIST_KEY_RECIPIENT, 24, 64, true, "192.0.2.77", "a@b",
     "c@d", NULL, "t/|a@b|c@d"},
    {"client and recipient", GREYLIST_KEY_CLIENT | GREYLIST_KEY_RECIPIENT, 24, 64, true,
     "192.0.2.77", "a@b", "c@d", NULL, "t/192.0.2.0/24||c@d"},
    {"null sender", GREYLIST_KEY_ALL, 24, 64, true, "192.0.2.77", "", "c@d", NULL,
     "t/192.0.2.0/24||c@d"},
};

static void test_keys(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(key_cases); i++) {
        const struct key_case *c = &key_cases[i];
        struct greylist_params p = defaults;
        p.key_parts = c->parts;
        p.prefix_v4 = c->v4;
        p.prefix_v6 = c->v6;
        p.key_by_spf_domain = c->by_spf;
        struct ip_addr a = ip(c->client);
        struct greylist_input in = {&a,      c->sender,       strlen(c->sender),
                                    c->rcpt, strlen(c->rcpt), c->spf};
        char key[GREYLIST_KEY_MAX + 1], shown[GREYLIST_KEY_MAX + 1];
        size_t n = greylist_triplet_key(&p, &in, key);
        for (size_t k = 0; k < n; k++)
            shown[k] = key[k] ? key[k] : '|';
        shown[n] = '\0';
        if (strcmp(shown, c->want) != 0) {
            print_error("%s: got \"%s\", want \"%s\"\n", c->name, shown, c->want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    struct ip_addr a = ip("198.51.100.200");
    char key[GREYLIST_KEY_MAX + 1];
    size_t n = greylist_awl_key(&defaults, &a, key);
    key[n] = '\0';
    assert_string_equal(key, "a/198.51.100.0/24");
}

/* ---- records, hashes, texts ---- */

static void test_record_codec(void **state)
{
    (void)state;
    struct greylist_record r = {GREYLIST_STATE_PASSED, -5, INT64_MAX, UINT32_MAX}, back;
    uint8_t v[GREYLIST_RECORD_SIZE];
    greylist_record_encode(&r, v);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 1);
    assert_int_equal(greylist_record_decode(v, sizeof(v), &back), 0);
    assert_int_equal(back.state, r.state);
    assert_int_equal(back.first_seen_s, -5);
    assert_int_equal(back.last_seen_s, INT64_MAX);
    assert_int_equal(back.passes, UINT32_MAX);
    assert_int_equal(greylist_record_decode(v, sizeof(v) - 1, &back), -1);
    v[0] = 2;
    assert_int_equal(greylist_record_decode(v, sizeof(v), &back), -1);
    v[0] = 1;
    v[1] = 3;
    assert_int_equal(greylist_record_decode(v, sizeof(v), &back), -1);
    /* a corrupt stored value is a first attempt, and repaired */
    struct kv *kv = kv_open_memory();
    char key[GREYLIST_KEY_MAX];
    struct ip_addr a = ip(alice.client);
    struct greylist_input in = {&a,         alice.sender,       strlen(alice.sender),
                                alice.rcpt, strlen(alice.rcpt), NULL};
    size_t n = greylist_triplet_key(&defaults, &in, key);
    assert_int_equal(kv_put(kv, key, n, "junk", 4, 0), 0);
    expect(check(kv, &defaults, &alice, T0), GREYLIST_NEW, 300);
    expect(check(kv, &defaults, &alice, T0 + 300), GREYLIST_PASSED, 300);
    kv_close(kv);
}

static void test_siphash_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64], out[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    /* SipHash-2-4 reference vectors (key 00..0f, message 00..len-1) */
    assert_true(greylist_siphash64(key, msg, 0) == 0x726fdb47dd0e0e31ull);
    assert_true(greylist_siphash64(key, msg, 1) == 0x74f839c593dc67fdull);
    assert_true(greylist_siphash64(key, msg, 15) == 0xa129ca6149be45e5ull);
    static const uint8_t want0[16] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                      0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93};
    static const uint8_t want1[16] = {0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44,
                                      0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45};
    greylist_siphash128(key, msg, 0, out);
    assert_memory_equal(out, want0, 16);
    greylist_siphash128(key, msg, 1, out);
    assert_memory_equal(out, want1, 16);
}

static void test_text(void **state)
{
    (void)state;
    char why[128], out[128];
    assert_int_equal(greylist_text_check("try in {seconds}s at {domain}", why, sizeof(why)), 0);
    assert_int_equal(greylist_text_check("", why, sizeof(why)), 0);
    assert_int_equal(greylist_text_check("a {second} b", why, sizeof(why)), -1);
    assert_string_equal(why, "unknown token \"{second}\" (known: {seconds} {domain})");
    assert_int_equal(greylist_text_check("a { b", why, sizeof(why)), -1);
    assert_int_equal(greylist_text_check("a\tb", why, sizeof(why)), -1);
    greylist_text_expand("wait {seconds}s, see https://{domain}/grey", 42, "Ex.org\x01\"", 8, out,
                         sizeof(out));
    assert_string_equal(out, "wait 42s, see https://Ex.org?"
                             "?/grey");
    greylist_text_expand("{seconds}", -3, "", 0, out, sizeof(out));
    assert_string_equal(out, "0");
    greylist_text_expand("abcdefgh{seconds}", 12345, "", 0, out, 10);
    assert_string_equal(out, "abcdefgh1");
}

static void test_hash_key_file(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], path[256], err[256];
    kv_test_mkdtemp(dir);
    uint8_t k1[16], k2[16];
    assert_int_equal(greylist_hash_key_load(dir, k1, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/greylist.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 16);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(greylist_hash_key_load(dir, k2, err, sizeof(err)), 0);
    assert_memory_equal(k1, k2, 16); /* the same key on every start */
    FILE *f = fopen(path, "w");
    fputs("short", f);
    fclose(f);
    assert_int_equal(greylist_hash_key_load(dir, k2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "5 bytes, want exactly 16"));
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    assert_int_equal(greylist_hash_key_load(missing, k2, err, sizeof(err)), -1);
    kv_test_rmtree(dir);
}

/* ---- RocksDB: expiry by compaction ---- */

static int count_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                    void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)exp;
    (*(size_t *)arg)++;
    return 0;
}

/* stored - records stored, expired or not (a scan at now = 1 sees every expiry as future) */
static size_t stored(struct kv *kv)
{
    size_t n = 0;
    assert_int_equal(kv_scan_prefix(kv, "t/", 2, 1, count_cb, &n), 0);
    return n;
}

static void test_rocksdb_expiry(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], msg[256];
    kv_test_mkdtemp(dir);
    int err = 0;
    struct kv *kv = kv_open_rocksdb(dir, NULL, &err, msg, sizeof(msg));
    if (!kv)
        fail_msg("open %s: %s", dir, msg);
    /* 50 pending triplets (expire at T0 + window), 10 passed (expire max_age later) */
    for (int i = 0; i < 60; i++) {
        char rcpt[32];
        snprintf(rcpt, sizeof(rcpt), "r%d@example.net", i);
        struct req r = {"192.0.2.10", "alice@example.org", rcpt, NULL};
        expect(check(kv, &defaults, &r, T0), GREYLIST_NEW, 300);
        if (i >= 50)
            expect(check(kv, &defaults, &r, T0 + 300), GREYLIST_PASSED, 300);
    }
    assert_int_equal(stored(kv), 60);
    int64_t later = T0 + defaults.retry_window_s + 1;
    /* past their expiry the pending ones read as absent, though still stored */
    struct req r0 = {"192.0.2.10", "alice@example.org", "r0@example.net", NULL};
    char key[GREYLIST_KEY_MAX];
    struct ip_addr a = ip(r0.client);
    struct greylist_input in = {&a, r0.sender, strlen(r0.sender), r0.rcpt, strlen(r0.rcpt), NULL};
    size_t n = greylist_triplet_key(&defaults, &in, key);
    assert_int_equal(kv_get(kv, key, n, later, NULL, 0, NULL, NULL), KV_ERR_NOTFOUND);
    assert_int_equal(stored(kv), 60);
    struct req r59 = {"192.0.2.10", "alice@example.org", "r59@example.net", NULL};
    expect(check(kv, &defaults, &r59, later), GREYLIST_KNOWN, -1);
    /* compaction drops exactly the expired ones */
    assert_int_equal(kv_compact(kv), 0);
    assert_int_equal(stored(kv), 10);
    struct kv_stats st;
    kv_stats(kv, &st);
    assert_int_equal(st.expired_dropped, 50);
    /* and a dropped one is a first attempt again */
    expect(check(kv, &defaults, &r0, later), GREYLIST_NEW, 300);
    kv_close(kv);
    kv_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_early_pass_known),
        cmocka_unit_test(test_clock_step_back),
        cmocka_unit_test(test_retry_window),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_awl),
        cmocka_unit_test(test_awl_hint),
        cmocka_unit_test(test_spf_domain_key),
        cmocka_unit_test(test_learning_is_the_same_machine),
        cmocka_unit_test(test_hashed_keys),
        cmocka_unit_test(test_no_client),
        cmocka_unit_test(test_store_calls_counted),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalized_senders_share_a_record),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_hash_key_file),
        cmocka_unit_test(test_rocksdb_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, kv_test_cleanup);
}
