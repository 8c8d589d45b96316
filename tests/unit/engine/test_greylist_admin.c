/* tests/unit/engine/test_greylist_admin.c - the greylisting admin commands over the memory
 * store with an injected clock: records written by greylist_check (the daemon's own path) as
 * seen by list (every filter, limit, hashed keys, encodings), show, delete (one triplet, a
 * network, a wider CIDR), counts, JSON output, and the dynamic whitelist (validation, the
 * entry cap, and greylist_admin_whitelisted's matching rules). Command lines go through
 * control_decode_args like the control socket's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control.h"
#include "engine/greylist.h"
#include "engine/greylist_admin.h"
#include "kv/kv.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1700000000 /* 2023-11-14T22:13:20Z */
#define NOW (T0 + 400)

static const struct greylist_params defaults = {
    .delay_s = 300,
    .retry_window_s = 2 * 86400,
    .max_age_s = 35 * 86400,
    .key_parts = GREYLIST_KEY_ALL,
    .prefix_v4 = 24,
    .prefix_v6 = 64,
    .key_by_spf_domain = true,
    .normalize_sender = true,
    .awl_after = 5,
    .hash_key = NULL,
};

static const uint8_t hash_key[GREYLIST_HASH_KEY_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                        9, 10, 11, 12, 13, 14, 15, 16};

/* greylist - one request through greylist_check at t; returns the verdict */
static enum greylist_verdict greylist(struct kv *kv, const struct greylist_params *p,
                                      const char *client, const char *sender, const char *rcpt,
                                      const char *spf_domain, int64_t t)
{
    struct ip_addr a;
    if (!ip_parse(client, strlen(client), &a))
        fail_msg("bad test address %s", client);
    struct greylist_input in = {.client = &a,
                                .sender = sender,
                                .sender_len = strlen(sender),
                                .recipient = rcpt,
                                .recipient_len = strlen(rcpt),
                                .spf_domain = spf_domain};
    struct greylist_result r;
    int rc = greylist_check(kv, p, &in, t, &r);
    if (rc != 0)
        fail_msg("greylist_check: got %d, want 0", rc);
    return r.verdict;
}

/* populate - alice passed (and her network's AWL record), carol (null sender), dave (IPv6)
 * and erin (keyed by SPF domain) pending */
static void populate(struct kv *kv, const struct greylist_params *p)
{
    assert_int_equal(
        greylist(kv, p, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0),
        GREYLIST_NEW);
    assert_int_equal(
        greylist(kv, p, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 300),
        GREYLIST_PASSED);
    greylist(kv, p, "198.51.100.7", "", "carol@example.net", NULL, T0 + 10);
    greylist(kv, p, "2001:db8:1:2::5", "dave+list@example.org", "Dave@Example.NET", NULL, T0 + 20);
    greylist(kv, p, "203.0.113.5", "x@example.com", "erin@example.net", "Example.COM", T0 + 30);
}

/* struct result - one command's outcome; out is NUL-terminated */
struct result {
    int rc;
    char *out;
    char err[256];
};

/* run - cmd as the control socket would decode it, at now */
static struct result run(struct greylist_admin *a, const char *cmd, int64_t now)
{
    char line[4096];
    snprintf(line, sizeof(line), "%s", cmd);
    char *argv[32];
    struct control_out o = {0};
    int argc = control_decode_args(line, argv, 32, &o.json);
    if (argc <= 0)
        fail_msg("bad test command %s", cmd);
    struct result r = {.rc = greylist_admin_run(a, argc, argv, now, &o)};
    r.out = o.buf ? o.buf : calloc(1, 1);
    snprintf(r.err, sizeof(r.err), "%s", o.err);
    if ((r.rc == 0) != (o.err[0] == 0))
        fail_msg("%s: rc %d but err \"%s\"", cmd, r.rc, o.err);
    return r;
}

/* run_ok - run, which must succeed; returns the output (caller frees) */
static char *run_ok(struct greylist_admin *a, const char *cmd, int64_t now)
{
    struct result r = run(a, cmd, now);
    if (r.rc != 0)
        fail_msg("%s: got error \"%s\", want success", cmd, r.err);
    return r.out;
}

/* expect_out - run_ok and compare the whole output */
static void expect_out(struct greylist_admin *a, const char *cmd, int64_t now, const char *want)
{
    char *got = run_ok(a, cmd, now);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\ngot:\n%s\nwant:\n%s", cmd, got, want);
    free(got);
}

/* expect_err - run, which must fail with an error containing want */
static void expect_err(struct greylist_admin *a, const char *cmd, int64_t now, const char *want)
{
    struct result r = run(a, cmd, now);
    if (r.rc == 0 || !strstr(r.err, want))
        fail_msg("%s: got rc %d err \"%s\", want an error with \"%s\"", cmd, r.rc, r.err, want);
    free(r.out);
}

/* record_lines - lines of out that are records (not "(...)" notes) */
static int record_lines(const char *out)
{
    int n = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        if (*p != '(')
            n++;
        p = nl ? nl + 1 : p + strlen(p);
    }
    return n;
}

#define ALICE                                                                                      \
    "passed 192.0.2.0/24 alice@example.org bob@example.net 2023-11-14T22:13:20Z "                  \
    "2023-11-14T22:18:20Z 1 2023-12-19T22:18:20Z\n"
#define CAROL                                                                                      \
    "pending 198.51.100.0/24 <> carol@example.net 2023-11-14T22:13:30Z 2023-11-14T22:13:30Z 0 "    \
    "2023-11-16T22:13:30Z\n"
#define DAVE                                                                                       \
    "pending 2001:db8:1:2::/64 dave@example.org dave@example.net 2023-11-14T22:13:40Z "            \
    "2023-11-14T22:13:40Z 0 2023-11-16T22:13:40Z\n"
#define ERIN                                                                                       \
    "pending spf:example.com x@example.com erin@example.net 2023-11-14T22:13:50Z "                 \
    "2023-11-14T22:13:50Z 0 2023-11-16T22:13:50Z\n"
#define AWL                                                                                        \
    "awl 192.0.2.0/24 - - 2023-11-14T22:18:20Z 2023-11-14T22:18:20Z 1 2023-12-19T22:18:20Z\n"

static void test_list_all(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    populate(kv, &defaults);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    expect_out(a, "list", NOW, ALICE CAROL DAVE ERIN AWL);
    /* past carol's retry window: expired records are absent */
    char *out = run_ok(a, "list", T0 + 10 + 2 * 86400);
    assert_null(strstr(out, "carol"));
    assert_int_equal(record_lines(out), 4);
    free(out);
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_list_filters(void **state)
{
    (void)state;
    static const struct {
        const char *name, *cmd;
        int records;      /* -1: an error is wanted */
        const char *want; /* in the output (or the error) */
    } cases[] = {
        {"ip means its network", "list client=192.0.2.77", 2, ALICE AWL},
        {"the network itself", "list client=192.0.2.0/24", 2, ALICE AWL},
        {"a wider network", "list client=192.0.0.0/16", 2, ALICE AWL},
        {"everything", "list client=0.0.0.0/0", 3, ALICE CAROL AWL},
        {"ipv6 wider", "list client=2001:db8::/32", 1, DAVE},
        {"ipv6 address", "list client=2001:db8:1:2:ffff::1", 1, DAVE},
        {"spf domain, any case", "list client=spf:EXAMPLE.com", 1, ERIN},
        {"null sender", "list sender=<>", 1, CAROL},
        {"sender normalised as keyed", "list sender=Dave+other@Example.ORG", 1, DAVE},
        {"recipient any case", "list recipient=BOB@example.net", 1, ALICE},
        {"state pending", "list state=pending", 3, CAROL DAVE ERIN},
        {"state awl", "list state=awl", 1, AWL},
        {"state and client", "list state=passed client=192.0.2.1", 1, ALICE},
        {"no match", "list client=192.0.3.1", 0, ""},
        {"awl has no sender", "list client=192.0.2.1 sender=alice@example.org", 1, ALICE},
        {"limit", "list limit=2", 2, ALICE CAROL "(truncated at 2)\n"},
        {"limit exactly all", "list limit=5", 5, AWL},
        {"narrower than keyed", "list client=192.0.2.0/25", -1, "by /24 networks"},
        {"host bits", "list client=192.0.2.1/24", -1, "want an IP address"},
        {"bad state", "list state=deferred", -1, "want pending, passed or awl"},
        {"bad limit", "list limit=0", -1, "want 1.."},
        {"limit not a number", "list limit=5x", -1, "want 1.."},
        {"unknown filter", "list foo=bar", -1, "usage: list"},
        {"repeated filter", "list state=awl state=awl", -1, "usage: list"},
        {"empty spf domain", "list client=spf:", -1, "spf:DOMAIN"},
    };
    struct kv *kv = kv_open_memory();
    populate(kv, &defaults);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    for (size_t i = 0; i < N(cases); i++) {
        struct result r = run(a, cases[i].cmd, NOW);
        if (cases[i].records < 0) {
            if (r.rc == 0 || !strstr(r.err, cases[i].want))
                fail_msg("%s: %s: got rc %d err \"%s\", want error \"%s\"", cases[i].name,
                         cases[i].cmd, r.rc, r.err, cases[i].want);
        } else {
            if (r.rc != 0)
                fail_msg("%s: got error \"%s\"", cases[i].name, r.err);
            if (record_lines(r.out) != cases[i].records || !strstr(r.out, cases[i].want))
                fail_msg("%s: %s: got %d records:\n%s\nwant %d with:\n%s", cases[i].name,
                         cases[i].cmd, record_lines(r.out), r.out, cases[i].records, cases[i].want);
        }
        free(r.out);
    }
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_show(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    populate(kv, &defaults);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    /* the key is built as the daemon builds it: network, normalised sender, lower case */
    expect_out(a, "show 192.0.2.99 Alice+x@Example.org BOB@example.net", NOW, ALICE AWL);
    expect_out(a, "show 192.0.2.0/24 alice@example.org bob@example.net", NOW, ALICE AWL);
    expect_out(a, "show 198.51.100.7 <> carol@example.net", NOW, CAROL);
    expect_out(a, "show spf:example.com x@example.com erin@example.net", NOW, ERIN);
    expect_out(a, "show 2001:db8:1:2::99 dave@example.org dave@example.net", NOW, DAVE);
    expect_err(a, "show 192.0.2.10 nobody@example.org bob@example.net", NOW,
               "no record for client 192.0.2.0/24 sender <nobody@example.org> recipient "
               "<bob@example.net> (the network is auto-whitelisted: 1 passes)");
    expect_err(a, "show 198.51.100.7 nobody@example.org bob@example.net", NOW, "no record for");
    expect_err(a, "show 192.0.0.0/16 alice@example.org bob@example.net", NOW,
               "the daemon keys IPv4 clients by /24 networks: give an address or a /24");
    expect_err(a, "show 192.0.2.10 alice@example.org", NOW, "usage: show");
    expect_err(a, "show nonsense alice@example.org bob@example.net", NOW, "want an IP address");
    /* JSON: the stored key in hex and both records */
    char *out = run_ok(a, "show 192.0.2.10 alice@example.org bob@example.net --json", NOW);
    assert_non_null(strstr(out, "{\"key\":\"742f3139322e302e322e302f3234"));
    assert_non_null(strstr(out, "\"triplet\":{\"state\":\"passed\",\"client\":\"192.0.2.0/24\","
                                "\"sender\":\"alice@example.org\",\"recipient\":\"bob@example.net\""
                                ",\"first_seen\":\"2023-11-14T22:13:20Z\",\"first_seen_s\":"
                                "1700000000,"));
    assert_non_null(strstr(out, "\"awl\":{\"state\":\"awl\",\"client\":\"192.0.2.0/24\","
                                "\"sender\":null,\"recipient\":null,"));
    free(out);
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_delete(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    populate(kv, &defaults);
    greylist(kv, &defaults, "192.0.2.10", "alice@example.org", "zed@example.net", NULL, T0 + 50);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    expect_out(a, "delete 198.51.100.7 <> carol@example.net", NOW, "deleted 1\n");
    expect_err(a, "show 198.51.100.7 <> carol@example.net", NOW, "no record");
    expect_out(a, "delete 198.51.100.7 <> carol@example.net --json", NOW, "{\"deleted\":0}\n");
    /* the next attempt is a first one again */
    assert_int_equal(greylist(kv, &defaults, "198.51.100.7", "", "carol@example.net", NULL, NOW),
                     GREYLIST_NEW);
    /* a network: its two triplets and its AWL record */
    expect_out(a, "delete client=192.0.2.200", NOW, "deleted 3\n");
    expect_out(a, "list client=192.0.2.0/24", NOW, "");
    /* a wider CIDR: everything within it */
    expect_out(a, "delete client=2001:db8::/32", NOW, "deleted 1\n");
    expect_out(a, "delete client=spf:example.com", NOW, "deleted 1\n");
    expect_out(a, "counts", NOW,
               "pending 1\npassed 0\nawl 0\ntotal 1\nwhitelist 0\nkeys_estimate 1\n");
    expect_err(a, "delete client=192.0.2.0/28", NOW, "by /24 networks");
    expect_err(a, "delete 192.0.2.1", NOW, "usage: delete");
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_counts(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    populate(kv, &defaults);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    expect_out(a, "counts", NOW,
               "pending 3\npassed 1\nawl 1\ntotal 5\nwhitelist 0\nkeys_estimate 5\n");
    expect_out(a, "whitelist add client 10.0.0.0/8", NOW, "added client 10.0.0.0/8\n");
    expect_out(a, "counts --json", NOW,
               "{\"pending\":3,\"passed\":1,\"awl\":1,\"total\":5,\"undecodable\":0,"
               "\"whitelist\":1,\"keys_estimate\":6}\n");
    expect_err(a, "counts x", NOW, "usage: counts");
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_json_list_and_encodings(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    /* a quoted local part with a space and "%", a recipient with a stray byte and UTF-8 */
    greylist(kv, &defaults, "192.0.2.1", "\"a b%c\"@example.org", "r\xff\xc3\xa9@example.net", NULL,
             T0);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    expect_out(a, "list", T0,
               "pending 192.0.2.0/24 \"a%20b%25c\"@example.org r\xff\xc3\xa9@example.net "
               "2023-11-14T22:13:20Z 2023-11-14T22:13:20Z 0 2023-11-16T22:13:20Z\n");
    expect_out(a, "list --json", T0,
               "{\"records\":[{\"state\":\"pending\",\"client\":\"192.0.2.0/24\",\"sender\":"
               "\"\\\"a b%c\\\"@example.org\",\"recipient\":\"r\\u00ff\xc3\xa9@example.net\","
               "\"first_seen\":\"2023-11-14T22:13:20Z\",\"first_seen_s\":1700000000,"
               "\"last_seen\":\"2023-11-14T22:13:20Z\",\"last_seen_s\":1700000000,"
               "\"passes\":0,\"expires\":\"2023-11-16T22:13:20Z\",\"expires_s\":1700172800}],"
               "\"count\":1,\"truncated\":false,\"limit\":1000,\"hashed_excluded\":0,"
               "\"undecodable\":0}\n");
    /* a key that is not greylist.h's layout is counted, not shown */
    assert_int_equal(kv_put(kv, "t/odd", 5, "xx", 2, 0), 0);
    char *out = run_ok(a, "list", T0);
    assert_non_null(strstr(out, "(1 records could not be decoded)\n"));
    free(out);
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_hashed_keys(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_params p = defaults;
    p.hash_key = hash_key;
    populate(kv, &p);
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, hash_key);
    char *out = run_ok(a, "list state=passed", NOW);
    /* "passed t#<32 hex> - - first last passes expires" */
    if (strncmp(out, "passed t#", 9) != 0 || strspn(out + 9, "0123456789abcdef") != 32 ||
        strncmp(out + 41, " - - 2023-11-14T22:13:20Z", 25) != 0)
        fail_msg("got %s, want a hashed passed record", out);
    free(out);
    out = run_ok(a, "list", NOW);
    assert_int_equal(record_lines(out), 5);
    free(out);
    /* filters cannot look into hashed keys: they say so */
    expect_out(a, "list client=192.0.2.1", NOW,
               "(5 records have hashed keys: client, sender and recipient filters cannot "
               "match them)\n");
    /* show builds the hashed key and displays the plain parts */
    expect_out(a, "show 192.0.2.1 alice@example.org bob@example.net", NOW, ALICE AWL);
    expect_out(a, "delete client=192.0.2.1", NOW,
               "deleted 1\n(hash_keys: triplets with hashed keys cannot be found by network; "
               "only plain ones and the AWL record)\n");
    expect_out(a, "delete 192.0.2.1 alice@example.org bob@example.net", NOW, "deleted 1\n");
    expect_out(a, "counts", NOW,
               "pending 3\npassed 0\nawl 0\ntotal 3\nwhitelist 0\nkeys_estimate 3\n");
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_whitelist_commands(void **state)
{
    (void)state;
    static const struct {
        const char *cmd, *want; /* want: the output, or (starting with "!") an error part */
    } cases[] = {
        {"whitelist add client 192.0.2.0/24", "added client 192.0.2.0/24\n"},
        {"whitelist add client 192.0.2.0/24", "already listed client 192.0.2.0/24\n"},
        {"whitelist add client 10.9.8.7", "added client 10.9.8.7/32\n"},
        {"whitelist add client 2001:DB8::/32", "added client 2001:db8::/32\n"},
        {"whitelist add client 2001:db8::1", "added client 2001:db8::1/128\n"},
        {"whitelist add client .Mail.Example.COM.", "added client mail.example.com\n"},
        {"whitelist add recipient Postmaster@Example.NET",
         "added recipient postmaster@example.net\n"},
        {"whitelist add recipient example.org", "added recipient example.org\n"},
        {"whitelist add client 192.0.2.1/24", "!not a network"},
        {"whitelist add client bad%20name", "!not an IP address, a network (CIDR) or a host name"},
        {"whitelist add client 1.2.3", "!not an IP address"},
        {"whitelist add client a..b", "!not an IP address"},
        {"whitelist add recipient @example.org", "!not an address"},
        {"whitelist add recipient user@", "!not an address"},
        {"whitelist add recipient 192.0.2.1", "!not an address"},
        {"whitelist add sender x@example.org", "!usage: whitelist"},
        {"whitelist add client", "!usage: whitelist"},
        {"whitelist remove client 10.9.8.7/32", "removed client 10.9.8.7/32\n"},
        {"whitelist remove client 10.9.8.7", "!client 10.9.8.7/32 is not listed"},
        {"whitelist list recipient", "recipient example.org 2023-11-14T22:19:59Z\n"
                                     "recipient postmaster@example.net 2023-11-14T22:19:59Z\n"},
        {"whitelist list sender", "!usage: whitelist"},
        {"whitelist list client --json",
         "[{\"kind\":\"client\",\"value\":\"192.0.2.0/24\",\"added\":\"2023-11-14T22:19:59Z\","
         "\"added_s\":1700000399},{\"kind\":\"client\",\"value\":\"2001:db8::/32\",\"added\":"
         "\"2023-11-14T22:19:59Z\",\"added_s\":1700000399},{\"kind\":\"client\",\"value\":"
         "\"2001:db8::1/128\",\"added\":\"2023-11-14T22:19:59Z\",\"added_s\":1700000399},"
         "{\"kind\":\"client\",\"value\":\"mail.example.com\",\"added\":"
         "\"2023-11-14T22:19:59Z\",\"added_s\":1700000399}]\n"},
        {"whitelist add recipient x@example.com --json",
         "{\"result\":\"added\",\"kind\":\"recipient\",\"value\":\"x@example.com\"}\n"},
    };
    struct kv *kv = kv_open_memory();
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    for (size_t i = 0; i < N(cases); i++) {
        if (cases[i].want[0] == '!')
            expect_err(a, cases[i].cmd, NOW - 1, cases[i].want + 1);
        else
            expect_out(a, cases[i].cmd, NOW - 1, cases[i].want);
    }
    /* entries never expire */
    char *out = run_ok(a, "whitelist list", NOW + 100LL * 365 * 86400);
    assert_int_equal(record_lines(out), 7);
    free(out);
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_whitelist_cap(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    struct greylist_admin *a = greylist_admin_create(kv, NULL, &defaults, NULL);
    char cmd[128];
    for (int i = 0; i < GREYLIST_ADMIN_WL_MAX; i++) {
        snprintf(cmd, sizeof(cmd), "whitelist add client h%d.example.org", i);
        free(run_ok(a, cmd, NOW));
    }
    expect_err(a, "whitelist add recipient example.net", NOW, "the dynamic whitelist is full");
    /* an entry already there is still fine */
    expect_out(a, "whitelist add client h7.example.org", NOW,
               "already listed client h7.example.org\n");
    greylist_admin_destroy(a);
    kv_close(kv);
}

static void test_whitelisted(void **state)
{
    (void)state;
    static const char *const entries[] = {
        "client 192.0.2.0/24",
        "client 2001:db8::/32",
        "client 10.9.8.7",
        "client mail.example.com",
        "recipient postmaster@example.net",
        "recipient example.org",
    };
    static const struct {
        const char *ip, *name, *rcpt;
        bool want;
    } probes[] = {
        {"192.0.2.5", NULL, "x@y.test", true},
        {"192.0.3.5", NULL, "x@y.test", false},
        {"::ffff:192.0.2.9", NULL, "x@y.test", true},
        {"2001:db8:ff::1", NULL, "x@y.test", true},
        {"2001:db9::1", NULL, "x@y.test", false},
        {"10.9.8.7", NULL, "x@y.test", true},
        {"10.9.8.8", NULL, "x@y.test", false},
        {"203.0.113.1", "MX1.Mail.Example.COM", "x@y.test", true},
        {"203.0.113.1", "mail.example.com", "x@y.test", true},
        {"203.0.113.1", "notmail.example.com", "x@y.test", false},
        {"203.0.113.1", "example.com", "x@y.test", false},
        {"203.0.113.1", "unknown", "x@y.test", false},
        {NULL, NULL, "Postmaster@EXAMPLE.net", true},
        {NULL, NULL, "postmaster+tag@example.net", true},
        {NULL, NULL, "postmaster2@example.net", false},
        {NULL, NULL, "postmaster@sub.example.net", false},
        {NULL, NULL, "x@sub.example.org", true},
        {NULL, NULL, "x@EXAMPLE.org", true},
        {NULL, NULL, "x@notexample.org", false},
        {NULL, NULL, "x@example.org.evil", false},
        {NULL, NULL, "example.org", false},
        {NULL, NULL, NULL, false},
    };
    struct kv *kv = kv_open_memory();
    int err = -1;
    struct greylist_dynwl *wl = greylist_dynwl_load(kv, NOW, &err);
    assert_non_null(wl);
    assert_int_equal(err, 0);
    struct greylist_admin *a = greylist_admin_create(kv, wl, &defaults, NULL);
    assert_false(greylist_dynwl_match(wl, NULL, "mail.example.com", "x@example.org"));
    char cmd[128];
    for (size_t i = 0; i < N(entries); i++) {
        snprintf(cmd, sizeof(cmd), "whitelist add %s", entries[i]);
        free(run_ok(a, cmd, NOW));
    }
    free(run_ok(a, "whitelist add client mail.example.com", NOW)); /* already listed: no twin */
    assert_int_equal(greylist_dynwl_count(wl), N(entries));
    /* a second mirror loaded from the store (as at the daemon's next start) sees the same */
    struct greylist_dynwl *loaded = greylist_dynwl_load(kv, NOW, &err);
    assert_non_null(loaded);
    assert_int_equal(greylist_dynwl_count(loaded), N(entries));
    struct greylist_dynwl *mirrors[] = {wl, loaded};
    for (size_t m = 0; m < N(mirrors); m++)
        for (size_t i = 0; i < N(probes); i++) {
            struct ip_addr ip;
            if (probes[i].ip && !ip_parse(probes[i].ip, strlen(probes[i].ip), &ip))
                fail_msg("bad probe address %s", probes[i].ip);
            bool got = greylist_dynwl_match(mirrors[m], probes[i].ip ? &ip : NULL, probes[i].name,
                                            probes[i].rcpt);
            if (got != probes[i].want)
                fail_msg("mirror %zu: ip %s name %s rcpt %s: got %d, want %d", m,
                         probes[i].ip ? probes[i].ip : "-", probes[i].name ? probes[i].name : "-",
                         probes[i].rcpt ? probes[i].rcpt : "-", got, probes[i].want);
        }
    assert_false(greylist_dynwl_match(NULL, NULL, "mail.example.com", NULL));
    struct ip_addr ip;
    ip_parse("192.0.2.5", 9, &ip);
    free(run_ok(a, "whitelist remove client 192.0.2.0/24", NOW));
    assert_false(greylist_dynwl_match(wl, &ip, NULL, "x@y.test"));
    assert_int_equal(greylist_dynwl_count(wl), N(entries) - 1);
    /* an admin without a mirror changes only the store (the mirror is not a cache that
     * notices the store: it is kept in step by the admin that owns it) */
    struct greylist_admin *plain = greylist_admin_create(kv, NULL, &defaults, NULL);
    free(run_ok(plain, "whitelist add client 192.0.2.0/24", NOW));
    assert_false(greylist_dynwl_match(wl, &ip, NULL, "x@y.test"));
    greylist_admin_destroy(plain);
    free(run_ok(a, "whitelist remove recipient example.org", NOW));
    free(run_ok(a, "whitelist remove recipient postmaster@example.net", NOW));
    free(run_ok(a, "whitelist remove client mail.example.com", NOW));
    free(run_ok(a, "whitelist remove client 10.9.8.7", NOW));
    free(run_ok(a, "whitelist remove client 2001:db8::/32", NOW));
    assert_int_equal(greylist_dynwl_count(wl), 0);
    assert_false(greylist_dynwl_match(wl, NULL, "mail.example.com", "x@example.org"));
    greylist_dynwl_destroy(loaded);
    greylist_dynwl_destroy(wl);
    greylist_admin_destroy(a);
    kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_all),      cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_show),          cmocka_unit_test(test_delete),
        cmocka_unit_test(test_counts),        cmocka_unit_test(test_json_list_and_encodings),
        cmocka_unit_test(test_hashed_keys),   cmocka_unit_test(test_whitelist_commands),
        cmocka_unit_test(test_whitelist_cap), cmocka_unit_test(test_whitelisted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
