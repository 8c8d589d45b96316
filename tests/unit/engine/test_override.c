/* tests/unit/engine/test_override.c - [override ...] resolution: every precedence pair, domain
 * suffix walking (".dom" is its subdomains only), client CIDRs by longest prefix (IPv4, IPv6,
 * IPv4-mapped), keys resolved independently, SPF result sets made disjoint by specificity,
 * title parsing and canonical values, duplicates, a large set, and the stages in a pipeline
 * (action verdicts, greylisting off and its delay, on the memory store, injected clock).
 * Config text is loaded from memory; nothing reads /etc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/arena.h"
#include "engine/config.h"
#include "engine/override.h"
#include "engine/pipeline.h"
#include "engine/spf.h"
#include "kv/kv.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1700000000
#define BIT(r) (1u << (r))

static struct config *conf(const char *text)
{
    struct config_error err;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    struct config *c = config_load_stream(f, "test.conf", &err);
    fclose(f);
    if (!c)
        fail_msg("config: %s\n--- text:\n%s", err.msg, text);
    return c;
}

/* resolve - the settings of a request (client may be NULL) */
static void resolve(const struct config *c, const char *client, const char *sender,
                    const char *rcpt, struct override_settings *out)
{
    struct ip_addr ip;
    bool ok = client && ip_parse(client, strlen(client), &ip);
    if (client && !ok)
        fail_msg("bad test client %s", client);
    override_resolve(c, ok ? &ip : NULL, sender, strlen(sender), rcpt, strlen(rcpt), out);
}

/* from_kind - the kind key k came from, or "global" */
static const char *from_kind(const struct override_settings *s, enum override_key k)
{
    return s->from[k] ? override_kind_name(s->from[k]->kind) : "global";
}

/* ---- precedence: each pair of levels, both present, the more specific wins ---- */

static const struct {
    const char *section; /* NULL: the global [greylist] delay */
    const char *kind;
} levels[] = {
    {"[override recipient bob@example.net]", "recipient"},
    {"[override recipient_domain example.net]", "recipient_domain"},
    {"[override sender a@example.org]", "sender"},
    {"[override sender_domain example.org]", "sender_domain"},
    {"[override client 192.0.2.0/24]", "client"},
    {NULL, "global"},
};

static void test_precedence_pairs(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(levels); i++) {
        for (size_t j = i; j < N(levels); j++) {
            /* level k sets greylist_delay = (k + 1) * 10 s; the less specific one first in the
             * file, so file order cannot be what decides */
            char text[1024];
            size_t n = (size_t)snprintf(text, sizeof(text), "[greylist]\ndelay = 60s\n");
            size_t order[2] = {j, i};
            for (int o = 0; o < 2; o++) {
                size_t k = order[o];
                if (levels[k].section && (o == 0 || i != j))
                    n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\ngreylist_delay = %zus\n",
                                          levels[k].section, (k + 1) * 10);
            }
            struct config *c = conf(text);
            struct override_settings s;
            resolve(c, "192.0.2.7", "a@example.org", "bob@example.net", &s);
            uint64_t want = (i + 1) * 10000;
            if (s.greylist_delay_ms != want ||
                strcmp(from_kind(&s, OVERRIDE_KEY_GREYLIST_DELAY), levels[i].kind) != 0) {
                print_error("%s over %s: got %llu ms from %s, want %llu ms from %s\n",
                            levels[i].kind, levels[j].kind, (unsigned long long)s.greylist_delay_ms,
                            from_kind(&s, OVERRIDE_KEY_GREYLIST_DELAY), (unsigned long long)want,
                            levels[i].kind);
                failures++;
            }
            config_free(c);
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- domains: exact, ".suffix" for subdomains, longest first ---- */

static void test_domain_suffixes(void **state)
{
    (void)state;
    struct config *c = conf("[greylist]\ndelay = 60s\n"
                            "[override recipient_domain .example.net]\ngreylist_delay = 10s\n"
                            "[override recipient_domain a.example.net]\ngreylist_delay = 20s\n"
                            "[override recipient_domain .b.example.net]\ngreylist_delay = 30s\n"
                            "[override recipient_domain Example.NET.]\ngreylist_delay = 40s\n"
                            "[override sender_domain .example.org]\ngreylist_delay = 50s\n"
                            "[override sender_domain example.org]\ngreylist = off\n");
    static const struct {
        const char *name, *sender, *rcpt;
        unsigned delay_s;
        bool greylist;
    } cases[] = {
        {"exact domain, not its .suffix", "", "x@example.net", 40, true},
        {"exact subdomain", "", "x@a.example.net", 20, true},
        {"exact rule does not cover subdomains", "", "x@c.a.example.net", 10, true},
        {".b rule is for below b only", "", "x@b.example.net", 10, true},
        {"below b", "", "x@c.b.example.net", 30, true},
        {"deep below b: longest suffix", "", "x@e.d.c.b.example.net", 30, true},
        {"case and trailing dot", "", "X@EXAMPLE.NET.", 40, true},
        {"label boundary", "", "x@notexample.net", 60, true},
        {"other domain", "", "x@example.com", 60, true},
        {"no domain", "", "postmaster", 60, true},
        {"empty", "", "", 60, true},
        {"at only", "", "x@", 60, true},
        {"sender exact: greylist only", "a@example.org", "x@example.com", 60, false},
        {"sender subdomain", "a@mx.example.org", "x@example.com", 50, true},
        {"recipient domain before sender domain", "a@mx.example.org", "x@a.example.net", 20, true},
        {"null sender", "", "x@example.com", 60, true},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        struct override_settings s;
        resolve(c, "192.0.2.1", cases[i].sender, cases[i].rcpt, &s);
        if (s.greylist_delay_ms != cases[i].delay_s * 1000ull || s.greylist != cases[i].greylist) {
            print_error("%s: got delay %llu ms greylist %d, want %u s greylist %d\n", cases[i].name,
                        (unsigned long long)s.greylist_delay_ms, s.greylist, cases[i].delay_s,
                        cases[i].greylist);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    config_free(c);
}

/* ---- clients: longest prefix, both families ---- */

static void test_client_prefixes(void **state)
{
    (void)state;
    struct config *c = conf("[greylist]\ndelay = 5s\n"
                            "[override client 10.0.0.0/8]\ngreylist_delay = 10s\n"
                            "[override client 10.1.2.3]\ngreylist_delay = 30s\n"
                            "[override client 10.1.0.0/16]\ngreylist_delay = 20s\n"
                            "[override client 2001:db8::/32]\ngreylist_delay = 40s\n"
                            "[override client 2001:DB8:1::/48]\ngreylist_delay = 50s\n"
                            "[override client ::/0]\ngreylist_delay = 60s\n"
                            "[override client 0.0.0.0/0]\ngreylist_delay = 70s\n"
                            "[override client 2001:db8:1:2::7/128]\ngreylist_delay = 80s\n");
    static const struct {
        const char *client;
        unsigned delay_s;
    } cases[] = {
        {"10.1.2.3", 30},
        {"10.1.2.4", 20},
        {"10.2.0.1", 10},
        {"11.0.0.1", 70},
        {"::ffff:10.1.2.3", 30},
        {"2001:db8:1::5", 50},
        {"2001:db8:2::5", 40},
        {"2001:db9::1", 60},
        {"2001:db8:1:2::7", 80},
        {"2001:db8:1:2::8", 50},
        {"::1", 60},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        struct override_settings s;
        resolve(c, cases[i].client, "a@example.org", "b@example.net", &s);
        if (s.greylist_delay_ms != cases[i].delay_s * 1000ull) {
            print_error("client %s: got %llu ms, want %u s\n", cases[i].client,
                        (unsigned long long)s.greylist_delay_ms, cases[i].delay_s);
            failures++;
        }
    }
    struct override_settings s;
    resolve(c, NULL, "a@example.org", "b@example.net", &s);
    assert_int_equal(s.greylist_delay_ms, 5000); /* no client address: the global */
    assert_null(s.from[OVERRIDE_KEY_GREYLIST_DELAY]);
    assert_int_equal(failures, 0);
    config_free(c);
}

/* ---- keys resolved independently ---- */

static void test_keys_independent(void **state)
{
    (void)state;
    struct config *c = conf("[spf]\nmail_from_reject = fail\nhelo_reject = fail\n"
                            "[greylist]\ndelay = 60s\n"
                            "[override recipient bob@example.net]\ngreylist_delay = 10s\n"
                            "[override recipient_domain example.net]\n"
                            "spf = off\ngreylist_delay = 20s\n"
                            "[override sender_domain example.org]\n"
                            "spf = on\nspf_mail_from_reject = fail softfail\n"
                            "[override client 192.0.2.0/24]\n"
                            "greylist = off\nspf_reject_only_secure = yes\n"
                            "action = REJECT go away\n");
    struct override_settings s;
    resolve(c, "192.0.2.1", "a@example.org", "bob@example.net", &s);
    assert_int_equal(s.greylist_delay_ms, 10000);
    assert_string_equal(from_kind(&s, OVERRIDE_KEY_GREYLIST_DELAY), "recipient");
    assert_false(s.spf);
    assert_string_equal(from_kind(&s, OVERRIDE_KEY_SPF), "recipient_domain");
    assert_int_equal(s.spf_mail_from[OVERRIDE_SET_REJECT],
                     BIT(SPF_RESULT_FAIL) | BIT(SPF_RESULT_SOFTFAIL));
    assert_string_equal(from_kind(&s, OVERRIDE_KEY_SPF_MAIL_FROM_REJECT), "sender_domain");
    assert_int_equal(s.spf_mail_from[OVERRIDE_SET_DEFER], BIT(SPF_RESULT_TEMPERROR));
    assert_int_equal(s.spf_helo[OVERRIDE_SET_REJECT], BIT(SPF_RESULT_FAIL));
    assert_string_equal(from_kind(&s, OVERRIDE_KEY_SPF_HELO_REJECT), "global");
    assert_false(s.greylist);
    assert_true(s.spf_reject_only_secure);
    assert_string_equal(from_kind(&s, OVERRIDE_KEY_GREYLIST), "client");
    assert_string_equal(s.action, "REJECT go away");
    char kinds[80];
    assert_string_equal(override_settings_kinds(&s, kinds, sizeof(kinds)),
                        "recipient+recipient_domain+sender_domain+client");

    /* another recipient of the domain: the domain's delay; another client: greylisting on */
    resolve(c, "198.51.100.1", "a@example.org", "carol@example.net", &s);
    assert_int_equal(s.greylist_delay_ms, 20000);
    assert_true(s.greylist);
    assert_null(s.action);
    assert_false(s.spf_reject_only_secure);
    /* nothing matches: the globals, no source */
    resolve(c, "198.51.100.1", "a@example.com", "x@example.com", &s);
    assert_int_equal(s.greylist_delay_ms, 60000);
    assert_true(s.spf);
    for (unsigned k = 0; k < OVERRIDE_KEYS; k++)
        assert_null(s.from[k]);
    assert_string_equal(override_settings_kinds(&s, kinds, sizeof(kinds)), "");
    config_free(c);

    /* no override at all */
    c = conf("[greylist]\ndelay = 7s\n");
    resolve(c, "192.0.2.1", "a@example.org", "bob@example.net", &s);
    assert_int_equal(s.greylist_delay_ms, 7000);
    assert_int_equal(override_set_count(c->overrides), 0);
    config_free(c);
}

/* ---- SPF result sets: a more specific set takes its results from the others ---- */

static void test_spf_sets_disjoint(void **state)
{
    (void)state;
    struct config *c = conf("[spf]\nmail_from_reject = fail\nmail_from_defer = temperror\n"
                            "[override sender_domain example.org]\n"
                            "spf_mail_from_defer = fail\n"
                            "[override recipient bob@example.net]\n"
                            "spf_mail_from_accept = softfail fail\n"
                            "[override client 192.0.2.0/24]\n"
                            "spf_mail_from_reject = softfail permerror\n");
    static const struct {
        const char *name, *sender, *rcpt;
        unsigned rej, def, acc;
    } cases[] = {
        {"defer beats the global reject", "a@example.org", "x@example.com",
         BIT(SPF_RESULT_SOFTFAIL) | BIT(SPF_RESULT_PERMERROR), BIT(SPF_RESULT_FAIL), 0},
        {"accept beats both", "a@example.org", "bob@example.net", BIT(SPF_RESULT_PERMERROR), 0,
         BIT(SPF_RESULT_SOFTFAIL) | BIT(SPF_RESULT_FAIL)},
        {"client reject replaces the global reject", "a@example.com", "x@example.com",
         BIT(SPF_RESULT_SOFTFAIL) | BIT(SPF_RESULT_PERMERROR), BIT(SPF_RESULT_TEMPERROR), 0},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        struct override_settings s;
        resolve(c, "192.0.2.9", cases[i].sender, cases[i].rcpt, &s);
        const unsigned *m = s.spf_mail_from;
        if (m[0] != cases[i].rej || m[1] != cases[i].def || m[2] != cases[i].acc) {
            print_error("%s: got %#x/%#x/%#x, want %#x/%#x/%#x\n", cases[i].name, m[0], m[1], m[2],
                        cases[i].rej, cases[i].def, cases[i].acc);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    config_free(c);
}

/* ---- titles ---- */

static void test_titles(void **state)
{
    (void)state;
    static const struct {
        const char *title;
        int ret;
        enum override_kind kind;
        const char *want; /* value, or the error */
    } cases[] = {
        {"override recipient Bob@Example.NET", 0, OVERRIDE_RECIPIENT, "bob@example.net"},
        {"override recipient bob@example.net.", 0, OVERRIDE_RECIPIENT, "bob@example.net"},
        {"override  recipient_domain\t.Example.Net ", 0, OVERRIDE_RECIPIENT_DOMAIN, ".example.net"},
        {"override sender A.B+tag@X.org", 0, OVERRIDE_SENDER, "a.b+tag@x.org"},
        {"override sender_domain xn--bcher-kva.example", 0, OVERRIDE_SENDER_DOMAIN,
         "xn--bcher-kva.example"},
        {"override client 2001:DB8::/32", 0, OVERRIDE_CLIENT, "2001:DB8::/32"},
        {"override client 192.0.2.1", 0, OVERRIDE_CLIENT, "192.0.2.1"},
        {"override", -1, 0,
         "expected [override KIND VALUE], KIND one of recipient, recipient_domain, sender, "
         "sender_domain, client"},
        {"override client", -1, 0,
         "expected [override KIND VALUE], KIND one of recipient, recipient_domain, sender, "
         "sender_domain, client"},
        {"override client 10.0.0.0/8 extra", -1, 0,
         "one VALUE after the kind, got more (\"extra\")"},
        {"override rcpt bob@example.net", -1, 0,
         "\"rcpt\" is not an override kind (recipient, recipient_domain, sender, "
         "sender_domain, client)"},
        {"override recipient example.net", -1, 0,
         "\"example.net\" is not an address (local-part@domain)"},
        {"override recipient @example.net", -1, 0,
         "\"@example.net\" is not an address (local-part@domain)"},
        {"override recipient bob@", -1, 0, "\"bob@\" is not an address (local-part@domain)"},
        {"override recipient_domain bob@example.net", -1, 0,
         "\"bob@example.net\" is not a domain (\"example.net\", or \".example.net\" for its "
         "subdomains)"},
        {"override recipient_domain example..net", -1, 0,
         "\"example..net\" is not a domain (\"example.net\", or \".example.net\" for its "
         "subdomains)"},
        {"override sender_domain .", -1, 0,
         "\".\" is not a domain (\"example.net\", or \".example.net\" for its subdomains)"},
        {"override client 192.0.2.1/24", -1, 0,
         "\"192.0.2.1/24\": host bits set (did you mean 192.0.2.0/24?)"},
        {"override client example.net", -1, 0, "\"example.net\" is not an IP address or CIDR"},
        {"override client 10.0.0.0/33", -1, 0, "\"10.0.0.0/33\" is not an IP address or CIDR"},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        enum override_kind kind = OVERRIDE_CLIENT;
        char value[OVERRIDE_VALUE_MAX] = "", why[256] = "";
        int r = override_title_parse(cases[i].title, strlen(cases[i].title), &kind, value,
                                     sizeof(value), why, sizeof(why));
        const char *got = r == 0 ? value : why;
        if (r != cases[i].ret || strcmp(got, cases[i].want) != 0 ||
            (r == 0 && kind != cases[i].kind)) {
            print_error("\"%s\": got %d \"%s\" kind %d, want %d \"%s\" kind %d\n", cases[i].title,
                        r, got, kind, cases[i].ret, cases[i].want, cases[i].kind);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- the set: duplicates by canonical key, a large set ---- */

static void test_set(void **state)
{
    (void)state;
    struct override_set *s = override_set_create();
    const struct override *dup = NULL;
    struct override *a = override_set_add(s, OVERRIDE_CLIENT, "192.0.2.0/24", 3, &dup);
    assert_non_null(a);
    assert_string_equal(a->title, "override client 192.0.2.0/24");
    /* the same network spelt as an IPv4-mapped IPv6 CIDR */
    assert_null(override_set_add(s, OVERRIDE_CLIENT, "::ffff:192.0.2.0/120", 9, &dup));
    assert_ptr_equal(dup, a);
    /* the same text as another kind is another override */
    assert_non_null(override_set_add(s, OVERRIDE_RECIPIENT_DOMAIN, "example.net", 4, NULL));
    assert_non_null(override_set_add(s, OVERRIDE_SENDER_DOMAIN, "example.net", 5, NULL));
    assert_non_null(override_set_add(s, OVERRIDE_SENDER_DOMAIN, ".example.net", 6, NULL));
    assert_null(override_set_add(s, OVERRIDE_SENDER_DOMAIN, "example.net", 7, &dup));
    assert_int_equal(dup->line, 5);
    assert_int_equal(override_set_count(s), 4);
    assert_int_equal(override_set_at(s, 1)->line, 4);
    override_set_destroy(s);
    override_set_destroy(NULL);

    /* 2000 recipients and 500 networks: the table grows, each still found */
    size_t cap = 2500 * 64 + 64;
    char *text = malloc(cap);
    size_t n = (size_t)snprintf(text, cap, "[greylist]\ndelay = 1s\n");
    for (unsigned i = 0; i < 2000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "[override recipient u%u@example.net]\ngreylist_delay = %us\n", i,
                              i % 1000 + 2);
    for (unsigned i = 0; i < 500; i++)
        n +=
            (size_t)snprintf(text + n, cap - n, "[override client 10.%u.%u.0/%u]\ngreylist = off\n",
                             i / 250, i % 250, i % 2 ? 24 : 25);
    struct config *c = conf(text);
    free(text);
    assert_int_equal(override_set_count(c->overrides), 2500);
    for (unsigned i = 0; i < 2000; i += 7) {
        char rcpt[64];
        snprintf(rcpt, sizeof(rcpt), "U%u@example.net", i);
        struct override_settings st;
        resolve(c, "10.1.3.200", "", rcpt, &st);
        if (st.greylist_delay_ms != (i % 1000 + 2) * 1000ull)
            fail_msg("%s: got %llu ms, want %u s", rcpt, (unsigned long long)st.greylist_delay_ms,
                     i % 1000 + 2);
        /* 10.1.3.0/24 is listed (i = 253, odd); 10.1.3.128/25 is not a network we added */
        assert_false(st.greylist);
    }
    struct override_settings st;
    resolve(c, "10.1.4.200", "", "nobody@example.net", &st); /* i = 254: a /25, .0-.127 */
    assert_true(st.greylist);
    assert_int_equal(st.greylist_delay_ms, 1000);
    resolve(c, "10.1.4.100", "", "nobody@example.net", &st);
    assert_false(st.greylist);
    config_free(c);
}

/* ---- in the pipeline: action, greylisting off, the delay ---- */

struct run {
    char reply[1200];
    char stage[32];
    char reason[32];
    char notes[128];
};

/* ask - run p on a RCPT request at now */
static struct run ask(const struct pipeline *p, const char *client, const char *sender,
                      const char *rcpt, int64_t now)
{
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
                     "client_name=mail.example.org\nhelo_name=mail.example.org\nsender=%s\n"
                     "recipient=%s\ninstance=i1\n\n",
                     client, sender, rcpt);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct policy_limits lim = {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS,
                                POLICY_DEFAULT_MAX_REQUEST};
    struct policy_request req;
    if (policy_parse(text, (size_t)n, &lim, &a, &req, NULL) != 0)
        fail_msg("bad test request");
    struct ip_addr ip;
    bool ok = ip_parse(client, strlen(client), &ip);
    struct stage_ctx ctx = {.arena = &a, .now_s = now, .client_ip = ok ? &ip : NULL};
    struct decision d;
    pipeline_run(p, &ctx, &req, &d);
    struct run r;
    snprintf(r.reply, sizeof(r.reply), "%s", decision_reply_action(&d, &a));
    snprintf(r.stage, sizeof(r.stage), "%s", d.stage);
    snprintf(r.reason, sizeof(r.reason), "%s", d.reason ? d.reason : "-");
    snprintf(r.notes, sizeof(r.notes), "%s", d.notes);
    arena_fini(&a);
    return r;
}

static void test_pipeline(void **state)
{
    (void)state;
    struct config *c = conf("[spf]\nenabled = no\n[greylist]\ndelay = 2s\n"
                            "[override recipient_domain nogrey.example]\ngreylist = off\n"
                            "[override client 198.51.100.0/24]\ngreylist_delay = 4s\n"
                            "[override recipient postmaster@example.net]\naction = OK\n"
                            "[override sender spammer@example.org]\naction = REJECT no thanks\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    static const struct {
        const char *name, *client, *sender, *rcpt, *reply, *stage, *reason, *notes;
    } cases[] = {
        {"global delay", "192.0.2.1", "a@example.org", "bob@example.net",
         "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 2 seconds", "greylist", "new",
         "greylist=new left=2"},
        {"greylist off for the domain", "192.0.2.1", "a@example.org", "bob@nogrey.example", "DUNNO",
         "default", "-", "override=recipient_domain,greylist=off"},
        {"client delay", "198.51.100.20", "a@example.org", "bob@example.net",
         "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 4 seconds", "greylist", "new",
         "override=client,greylist=new left=4"},
        {"action OK", "198.51.100.20", "a@example.org", "postmaster@example.net", "OK", "override",
         "recipient", "override=recipient+client"},
        {"recipient action beats sender action", "192.0.2.1", "spammer@example.org",
         "postmaster@example.net", "OK", "override", "recipient", "override=recipient"},
        {"sender action", "192.0.2.1", "spammer@example.org", "bob@nogrey.example",
         "REJECT no thanks", "override", "sender", "override=recipient_domain+sender"},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        struct run r = ask(p, cases[i].client, cases[i].sender, cases[i].rcpt, T0);
        if (strcmp(r.reply, cases[i].reply) != 0 || strcmp(r.stage, cases[i].stage) != 0 ||
            strcmp(r.reason, cases[i].reason) != 0 || strcmp(r.notes, cases[i].notes) != 0) {
            print_error("%s:\n  got  \"%s\" %s/%s [%s]\n  want \"%s\" %s/%s [%s]\n", cases[i].name,
                        r.reply, r.stage, r.reason, r.notes, cases[i].reply, cases[i].stage,
                        cases[i].reason, cases[i].notes);
            failures++;
        }
    }
    /* the client's retry passes after its own 4 s, not the global 2 s */
    struct run r = ask(p, "198.51.100.20", "a@example.org", "bob@example.net", T0 + 3);
    if (strncmp(r.reply, "DEFER_IF_PERMIT", 15) != 0) {
        print_error("client retry at 3 s: got \"%s\", want a defer\n", r.reply);
        failures++;
    }
    r = ask(p, "198.51.100.20", "a@example.org", "bob@example.net", T0 + 4);
    if (strcmp(r.reply, "DUNNO") != 0) {
        print_error("client retry at 4 s: got \"%s\", want DUNNO\n", r.reply);
        failures++;
    }
    assert_int_equal(failures, 0);
    pipeline_destroy(p);
    config_free(c);

    /* greylisting off globally, on for one domain: the stage exists and runs for it only */
    c = conf("[spf]\nenabled = no\n[greylist]\nenabled = no\n"
             "[override recipient_domain grey.example]\ngreylist = on\n");
    assert_true(config_greylist_used(c));
    assert_false(config_spf_used(c));
    p = pipeline_create(c, &res);
    r = ask(p, "192.0.2.1", "a@example.org", "bob@grey.example", T0);
    assert_string_equal(r.reply, "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 "
                                 "seconds");
    r = ask(p, "192.0.2.1", "a@example.org", "bob@example.net", T0);
    assert_string_equal(r.reply, "DUNNO");
    assert_string_equal(r.notes, "");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_pairs),
        cmocka_unit_test(test_domain_suffixes),
        cmocka_unit_test(test_client_prefixes),
        cmocka_unit_test(test_keys_independent),
        cmocka_unit_test(test_spf_sets_disjoint),
        cmocka_unit_test(test_titles),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
