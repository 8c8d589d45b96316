/* tests/unit/engine/test_spf_record.c - record selection and the term grammar of
 * engine/spf_record.c: every mechanism and modifier, CIDR forms, qualifiers, syntax errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/spf_record.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct spf1_case {
    const char *text;
    size_t len; /* 0: strlen */
    bool want;
};

static const struct spf1_case spf1_cases[] = {
    {"v=spf1", 0, true},          {"v=spf1 -all", 0, true},  {"V=SpF1 ~all", 0, true},
    {"v=spf10", 0, false},        {"v=spf1-all", 0, false},  {"v=spf1\t-all", 0, false},
    {" v=spf1", 0, false},        {"v=spf", 0, false},       {"", 0, false},
    {"v=spf1\0 -all", 11, false}, {"v=spf2 -all", 0, false}, {"spf1", 0, false},
};

static void test_is_spf1(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(spf1_cases); i++) {
        const struct spf1_case *c = &spf1_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        bool got = spf_record_is_spf1(c->text, len);
        if (got != c->want) {
            print_error("is_spf1 \"%s\": got %d, want %d\n", c->text, got, c->want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Records that must be syntax errors (RFC 7208 4.6: the whole record is a permerror) */
struct bad_case {
    const char *name;
    const char *text;
    size_t len;
};

static const struct bad_case bad_cases[] = {
    {"unknown mechanism", "v=spf1 ip4:1.2.3.4 -all moo", 0},
    {"modifier with slash in name", "v=spf1 moo.cow/far_out=man:dog/cat -all", 0},
    {"modifier with colon in name", "v=spf1 moo.cow:far_out=man:dog/cat -all", 0},
    {"redirect as mechanism", "v=spf1 redirect:t2.example.com", 0},
    {"modifier name starts with digit", "v=spf1 1up=foo", 0},
    {"empty modifier name", "v=spf1 =all", 0},
    {"qualified modifier", "v=spf1 -redirect=a.example.com", 0},
    {"all with dot", "v=spf1 -all.", 0},
    {"all with argument", "v=spf1 -all:foobar", 0},
    {"all with cidr", "v=spf1 -all/8", 0},
    {"include without colon", "v=spf1 include", 0},
    {"include empty", "v=spf1 include: -all", 0},
    {"include cidr", "v=spf1 include:ip5.example.com/24 -all", 0},
    {"exists bare", "v=spf1 exists", 0},
    {"exists empty", "v=spf1 exists:", 0},
    {"exists cidr", "v=spf1 exists:mail.example.com/24", 0},
    {"ptr cidr", "v=spf1 ptr/0 -all", 0},
    {"ptr empty", "v=spf1 ptr:", 0},
    {"a empty", "v=spf1 a:", 0},
    {"a ip4 cidr 33", "v=spf1 a/33 -all", 0},
    {"a ip6 cidr 129", "v=spf1 a//129 -all", 0},
    {"a cidr leading zero", "v=spf1 a/024 -all", 0},
    {"a single-slash dual cidr", "v=spf1 a/24/64 -all", 0},
    {"a only toplabel", "v=spf1 a:museum", 0},
    {"a only toplabel dot", "v=spf1 a:museum.", 0},
    {"a numeric toplabel", "v=spf1 a:abc.123", 0},
    {"a ip as name", "v=spf1 a:111.222.33.44", 0},
    {"a dash toplabel", "v=spf1 a:example.-com", 0},
    {"a port", "v=spf1 a:example.com:8080", 0},
    {"a NUL", "v=spf1 a:foo.example.com\0", 25},
    {"mx empty", "v=spf1 mx: -all", 0},
    {"mx bad cidr", "v=spf1 mx/33 -all", 0},
    {"ip4 bare", "v=spf1 ip4", 0},
    {"ip4 cidr 33", "v=spf1 ip4:1.2.3.4/33 -all", 0},
    {"ip4 cidr leading zero", "v=spf1 ip4:1.2.3.4/032 -all", 0},
    {"ip4 dual cidr", "v=spf1 ip4:1.2.3.4//32", 0},
    {"ip4 port", "v=spf1 ip4:1.2.3.4:8080", 0},
    {"ip4 short", "v=spf1 ip4:1.2.3", 0},
    {"ip4 leading zero", "v=spf1 ip4:01.2.3.4", 0},
    {"ip4 empty cidr", "v=spf1 ip4:1.2.3.4/", 0},
    {"ip6 bare", "v=spf1 -all ip6", 0},
    {"ip6 cidr 129", "v=spf1 ip6:::1.1.1.1/129", 0},
    {"ip6 dual cidr", "v=spf1 ip6:::1.1.1.1//33", 0},
    {"ip6 bad", "v=spf1 ip6::CAFE::BABE", 0},
    {"exp twice", "v=spf1 exp=a.example.com -all exp=b.example.com", 0},
    {"redirect twice", "v=spf1 redirect=a.example.com -all redirect=a.example.com", 0},
    {"exp empty", "v=spf1 exp= -all", 0},
    {"exp bad domain", "v=spf1 exp=-all", 0},
    {"redirect empty", "v=spf1 ?all redirect=", 0},
    {"redirect bad domain", "v=spf1 redirect=-all ?all", 0},
    {"exp-only macro in exp=", "v=spf1 -all exp=%{r}.example.com", 0},
    {"unknown macro letter", "v=spf1 a:%{a}.example.com -all", 0},
    {"bad macro in unknown modifier", "v=spf1 -all foo=%abc", 0},
    {"bad macro", "v=spf1 exists:%(ir).sbl.example.com ?all", 0},
    {"trailing percent", "v=spf1 exists:foo%.sbl.example.com ?all", 0},
    {"control char", "v=spf1 a:ctrl.example.com\rptr -all", 0},
    {"newline", "v=spf1 ip4:192.0.2.5\n include:x.example.com ~all", 0},
    {"tab", "v=spf1\t-all", 0},
    {"8-bit in term", "v=spf1 a:\xef\xbb\xbfgarbage.example.net -all", 0},
    {"8-bit qualifier",
     "v=spf1 a:example.net \x96"
     "all",
     0},
    {"not spf1", "v=spf10", 0},
};

static void test_bad_records(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        struct arena a;
        arena_init(&a, NULL, 0);
        struct spf_record rec;
        const char *problem = NULL;
        int rc = spf_record_parse(c->text, len, &a, &rec, &problem);
        if (rc != -1 || !problem) {
            print_error("parse %s: got rc %d problem %s, want a syntax error\n", c->name, rc,
                        problem ? problem : "(none)");
            failures++;
        }
        arena_fini(&a);
    }
    assert_int_equal(failures, 0);
}

/* Good records: the parsed shape, one mechanism described as "kind qual domain c4 c6" */
struct good_case {
    const char *text;
    unsigned n_mech;
    const char *first; /* "KIND QUAL DOMAIN CIDR4 CIDR6" of the first mechanism */
    const char *redirect;
    const char *exp;
};

static const char *kind_name(enum spf_mech_kind k)
{
    static const char *names[] = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"};
    return names[k];
}

static const struct good_case good_cases[] = {
    {"v=spf1", 0, NULL, NULL, NULL},
    {"v=spf1 ", 0, NULL, NULL, NULL},
    {"v=spf1 -all", 1, "all fail - 32 128", NULL, NULL},
    {"v=spf1 a  -all ", 2, "a pass - 32 128", NULL, NULL},
    {"V=SPF1 ?ALL", 1, "all neutral - 32 128", NULL, NULL},
    {"v=spf1 ~include:_spf.example.com", 1, "include softfail _spf.example.com 32 128", NULL, NULL},
    {"v=spf1 a/24//64 -all", 2, "a pass - 24 64", NULL, NULL},
    {"v=spf1 a//0 -all", 2, "a pass - 32 0", NULL, NULL},
    {"v=spf1 a/0", 1, "a pass - 0 128", NULL, NULL},
    {"v=spf1 a:foo.example.com/24", 1, "a pass foo.example.com 24 128", NULL, NULL},
    {"v=spf1 a:foo:bar/baz.example.com", 1, "a pass foo:bar/baz.example.com 32 128", NULL, NULL},
    {"v=spf1 mx:example.com/30//126", 1, "mx pass example.com 30 126", NULL, NULL},
    {"v=spf1 mx:%{d}//48", 1, "mx pass %{d} 32 48", NULL, NULL},
    {"v=spf1 A:mail.example...com -all", 2, "a pass mail.example...com 32 128", NULL, NULL},
    {"v=spf1 a:foo.example.xn--zckzah -all", 2, "a pass foo.example.xn--zckzah 32 128", NULL, NULL},
    {"v=spf1 ptr", 1, "ptr pass - 32 128", NULL, NULL},
    {"v=spf1 -ptr:example.Com", 1, "ptr fail example.Com 32 128", NULL, NULL},
    {"v=spf1 ip4:1.2.3.4/24", 1, "ip4 pass - 24 128", NULL, NULL},
    {"v=spf1 ip4:1.1.1.1/0 -all", 2, "ip4 pass - 0 128", NULL, NULL},
    {"v=spf1 ip6:Cafe:Babe:8000::/33", 1, "ip6 pass - 32 33", NULL, NULL},
    {"v=spf1 ip6:::FFFF:1.2.3.4", 1, "ip6 pass - 32 128", NULL, NULL},
    {"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}", 1, "exists pass %{ir}.%{l1r+-}._spf.%{d} 32 128",
     NULL, NULL},
    {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", 2, "ip4 pass - 32 128", NULL, NULL},
    {"v=spf1 default=pass", 0, NULL, NULL, NULL},
    {"v=spf1 default=+", 0, NULL, NULL, NULL},
    {"v=spf1 foo=%{c}", 0, NULL, NULL, NULL},
    {"v=spf1 redirect=_spf.example.com", 0, NULL, "_spf.example.com", NULL},
    {"v=spf1 Redirect=%{d}.d.spf.example.com. -all", 1, "all fail - 32 128",
     "%{d}.d.spf.example.com.", NULL},
    {"v=spf1 exp=explain._spf.%{d} -all", 1, "all fail - 32 128", NULL, "explain._spf.%{d}"},
    {"v=spf1 ip4:1.2.3.4 redirect=t2.example.com exp=x.example.com", 1, "ip4 pass - 32 128",
     "t2.example.com", "x.example.com"},
};

static void test_good_records(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(good_cases); i++) {
        const struct good_case *c = &good_cases[i];
        struct arena a;
        arena_init(&a, NULL, 0);
        struct spf_record rec;
        const char *problem = NULL;
        int rc = spf_record_parse(c->text, strlen(c->text), &a, &rec, &problem);
        if (rc != 0) {
            print_error("parse \"%s\": got error %s, want ok\n", c->text, problem);
            failures++;
            arena_fini(&a);
            continue;
        }
        if (rec.n_mech != c->n_mech) {
            print_error("parse \"%s\": got %u mechanisms, want %u\n", c->text, rec.n_mech,
                        c->n_mech);
            failures++;
        }
        if (c->first && rec.n_mech > 0) {
            const struct spf_mech *m = &rec.mech[0];
            char got[300];
            snprintf(got, sizeof(got), "%s %s %.*s %u %u", kind_name(m->kind),
                     spf_result_name(m->qual), m->domain ? (int)m->domain_len : 1,
                     m->domain ? m->domain : "-", m->cidr4, m->cidr6);
            if (strcmp(got, c->first) != 0) {
                print_error("parse \"%s\": got \"%s\", want \"%s\"\n", c->text, got, c->first);
                failures++;
            }
        }
        char r[300], e[300];
        snprintf(r, sizeof(r), "%.*s", rec.redirect ? (int)rec.redirect_len : 0,
                 rec.redirect ? rec.redirect : "");
        snprintf(e, sizeof(e), "%.*s", rec.exp ? (int)rec.exp_len : 0, rec.exp ? rec.exp : "");
        if (strcmp(r, c->redirect ? c->redirect : "") != 0 || (!rec.redirect) != (!c->redirect)) {
            print_error("parse \"%s\": redirect got \"%s\", want \"%s\"\n", c->text, r,
                        c->redirect ? c->redirect : "(none)");
            failures++;
        }
        if (strcmp(e, c->exp ? c->exp : "") != 0 || (!rec.exp) != (!c->exp)) {
            print_error("parse \"%s\": exp got \"%s\", want \"%s\"\n", c->text, e,
                        c->exp ? c->exp : "(none)");
            failures++;
        }
        arena_fini(&a);
    }
    assert_int_equal(failures, 0);
}

static void test_term_text_and_networks(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_record rec;
    const char *problem;
    const char *t = "v=spf1 +ip4:192.0.2.77/24 ?ip6:2001:db8::1/32 ~mx -all";
    assert_int_equal(spf_record_parse(t, strlen(t), &a, &rec, &problem), 0);
    assert_int_equal(rec.n_mech, 4);
    /* the network is masked to its prefix; IPv4 is stored IPv4-mapped */
    static const uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 0};
    assert_memory_equal(rec.mech[0].net.b, v4, 16);
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    assert_memory_equal(rec.mech[1].net.b, v6, 16);
    assert_int_equal(rec.mech[1].qual, SPF_RESULT_NEUTRAL);
    assert_int_equal(rec.mech[2].qual, SPF_RESULT_SOFTFAIL);
    assert_int_equal(rec.mech[3].qual, SPF_RESULT_FAIL);
    assert_int_equal(rec.mech[2].text_len, 3);
    assert_memory_equal(rec.mech[2].text, "~mx", 3);
    assert_true(spf_mech_needs_dns(SPF_MECH_MX));
    assert_false(spf_mech_needs_dns(SPF_MECH_IP4));
    assert_false(spf_mech_needs_dns(SPF_MECH_ALL));
    arena_fini(&a);
}

static void test_huge_record(void **state)
{
    (void)state;
    /* 10k terms parse (syntax is checked everywhere); the limits are the evaluator's job */
    size_t n = 6 + 10000 * 2;
    char *t = malloc(n + 1);
    memcpy(t, "v=spf1", 6);
    for (size_t i = 0; i < 10000; i++)
        memcpy(t + 6 + 2 * i, " a", 2);
    t[n] = '\0';
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_record rec;
    const char *problem;
    assert_int_equal(spf_record_parse(t, n, &a, &rec, &problem), 0);
    assert_int_equal(rec.n_mech, 10000);
    t[n - 1] = '%';
    assert_int_equal(spf_record_parse(t, n, &a, &rec, &problem), -1);
    arena_fini(&a);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_spf1),      cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_good_records), cmocka_unit_test(test_term_text_and_networks),
        cmocka_unit_test(test_huge_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
