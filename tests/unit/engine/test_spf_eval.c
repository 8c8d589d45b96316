/* tests/unit/engine/test_spf_eval.c - check_host() over the memo
 * (engine/spf_eval.c, spf_memo.c): results, explanations, limits and their
 * exact counts, secure, identities, the wanted/needed/handed-out protocol,
 * prefetch, and that the outcome does not depend on the order answers arrive in
 * (three delivery strategies must agree on every case). DNS data comes from the
 * fake backend (dns_fake_load), fetched one lookup at a time, so the test
 * decides when each answer reaches the memo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "engine/spf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define NOW_S 1700000000
#define HELD_MAX 512

/* --- a driver that controls answer order
 * --------------------------------------------- */

enum strategy {
    EAGER,   /* every wanted answer at once, in the order wanted */
    REVERSE, /* every wanted answer at once, newest first */
    STINGY,  /* one at a time, needed ones first, only until nothing blocks */
};

struct held {
    struct dns_answer *ans;
    bool needed, put;
};

struct drv {
    struct dns_resolver *r;
    struct spf_memo *m;
    uint64_t now_ms;
    struct held held[HELD_MAX];
    size_t n;
    unsigned handed_twice;
    struct dns_answer *got; /* fetch() result */
};

/* on_answer - keep a copy of the fake's answer */
static void on_answer(void *arg, const struct dns_answer *a)
{
    struct drv *d = arg;
    d->got = dns_answer_copy(a);
}

/* fetch - the fake's answer for (name, type), now (a timeout by jumping the
 * clock) */
static struct dns_answer *fetch(struct drv *d, const char *name, enum dns_type type)
{
    d->got = NULL;
    int rc = dns_query(d->r, name, type, d->now_ms, on_answer, d, NULL);
    if (rc != 0) {
        struct dns_answer a = {.qname = name, .type = type, .status = DNS_ERROR, .rcode = -1};
        return dns_answer_copy(&a);
    }
    while (!d->got) {
        dns_resolver_process(d->r, d->now_ms);
        if (!d->got)
            d->now_ms += (uint64_t)dns_resolver_next_timeout_ms(d->r, d->now_ms);
    }
    return d->got;
}

/* on_want - fetch a handed-out lookup and hold it; nothing is handed out twice */
static void on_want(void *arg, const char *name, enum dns_type type, bool needed)
{
    struct drv *d = arg;
    for (size_t i = 0; i < d->n; i++)
        if (d->held[i].ans->type == type && strcmp(d->held[i].ans->qname, name) == 0)
            d->handed_twice++;
    assert_true(d->n < HELD_MAX);
    d->held[d->n].ans = fetch(d, name, type);
    d->held[d->n].needed = needed;
    d->held[d->n].put = false;
    d->n++;
}

/* deliver - put held answers into the memo as the strategy says */
static void deliver(struct drv *d, enum strategy s)
{
    if (s == EAGER || s == REVERSE) {
        for (size_t k = 0; k < d->n; k++) {
            size_t i = s == EAGER ? k : d->n - 1 - k;
            if (!d->held[i].put) {
                spf_memo_put(d->m, d->held[i].ans);
                d->held[i].put = true;
            }
        }
        return;
    }
    while (spf_memo_blocked(d->m) > 0) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < d->n && pick == SIZE_MAX; i++)
            if (!d->held[i].put && d->held[i].needed)
                pick = i;
        for (size_t i = d->n; i-- > 0 && pick == SIZE_MAX;)
            if (!d->held[i].put)
                pick = i; /* a prefetch that became needed: newest first */
        assert_true(pick != SIZE_MAX);
        spf_memo_put(d->m, d->held[pick].ans);
        d->held[pick].put = true;
    }
}

struct run {
    struct spf_outcome out;
    unsigned runs, handed;
};

/* check - evaluate q against zone with strategy s; strings of the outcome in a
 */
static void check(const char *zone, const struct spf_query *q, enum strategy s, struct arena *a,
                  struct run *res)
{
    struct drv *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->r = dns_fake_create(1000);
    assert_non_null(d->r);
    char err[200];
    if (dns_fake_load(d->r, zone, err, sizeof(err)) != 0)
        fail_msg("zone: %s", err);
    d->m = spf_memo_create();
    memset(res, 0, sizeof(*res));
    for (res->runs = 1;; res->runs++) {
        assert_true(res->runs < 200);
        if (spf_eval(q, d->m, a, &res->out) == SPF_DONE)
            break;
        unsigned n = spf_memo_take_wanted(d->m, on_want, d);
        res->handed += n;
        assert_true(spf_memo_blocked(d->m) > 0); /* pending always means blocked */
        deliver(d, s);
    }
    assert_int_equal(d->handed_twice, 0);
    for (size_t i = 0; i < d->n; i++)
        dns_answer_free(d->held[i].ans);
    spf_memo_destroy(d->m);
    dns_resolver_destroy(d->r);
    free(d);
}

/* --- the cases
 * ----------------------------------------------------------------------- */

#define ZONE_BASE                                                                                  \
    "example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"                                           \
    "inc.example.net TXT \"v=spf1 ip4:198.51.100.1 -all\"\n"                                       \
    "soft.example.net TXT \"v=spf1 ~all\"\n"                                                       \
    "noinc.example.net A 192.0.2.1\n"                                                              \
    "bad.example.net SERVFAIL\n"                                                                   \
    "slow.example.net TIMEOUT\n"                                                                   \
    "host.example.net A 192.0.2.77\n"                                                              \
    "host.example.net AAAA 2001:db8::77\n"                                                         \
    "mx1.example.net A 203.0.113.1\n"                                                              \
    "mx2.example.net A 203.0.113.2\n"                                                              \
    "mail.example.org TXT \"v=spf1 a -all\"\n"                                                     \
    "mail.example.org A 192.0.2.25\n"

struct eval_case {
    const char *name;
    const char *zone; /* added after ZONE_BASE */
    const char *ip;
    const char *sender;
    const char *helo;
    enum spf_identity id;
    enum spf_result want;
    const char *exp;  /* fail: the explanation; NULL: not checked */
    int terms, voids; /* -1: not checked */
    const char *mech; /* NULL: not checked */
    int secure;       /* -1: not checked */
};

static const struct eval_case eval_cases[] = {
    {"ip4 pass", "", "192.0.2.10", "user@example.com", "mail.example.org", SPF_ID_MAILFROM,
     SPF_RESULT_PASS, NULL, 0, 0, "ip4:192.0.2.0/24", -1},
    {"ip4 fail default exp", "", "198.51.100.9", "user@example.com", "h.example", SPF_ID_MAILFROM,
     SPF_RESULT_FAIL, "DEFAULT", 0, 0, "-all", -1},
    {"ipv4-mapped client", "", "::ffff:192.0.2.10", "user@example.com", "h.example",
     SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 0, 0, NULL, -1},
    {"exp with every exp macro",
     "e.example.com TXT \"v=spf1 -all exp=why.%{d}\"\n"
     "why.e.example.com TXT \"%{i} %{d} %{c} %{r} %{t} %{l} %{o} %{h} %{v}\"\n",
     "192.0.2.10", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL,
     "192.0.2.10 e.example.com 192.0.2.10 receiver.example 1700000000 u "
     "e.example.com "
     "h.example in-addr",
     0, 0, "-all", -1},
    {"exp ipv6 client",
     "e.example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
     "why.example.com TXT \"%{c} %{ir}.%{v}.arpa\"\n",
     "2001:db8::cb01", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL,
     "2001:db8::cb01 "
     "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6.arpa",
     0, 0, NULL, -1},
    {"exp not printable -> default",
     "e.example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
     "why.example.com TXT \"caf\\xc3\\xa9\"\n",
     "192.0.2.10", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL, "DEFAULT", 0,
     0, NULL, -1},
    {"exp expansion not printable -> default",
     "e.example.com TXT \"v=spf1 -all exp=why.example.com\"\n"
     "why.example.com TXT \"from %{l}\"\n",
     "192.0.2.10", "t\tab@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL, "DEFAULT",
     0, 0, NULL, -1},
    {"include pass", "e.example.com TXT \"v=spf1 include:inc.example.net -all\"\n", "198.51.100.1",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     "include:inc.example.net", -1},
    {"include fail is no match", "e.example.com TXT \"v=spf1 include:inc.example.net ~all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_SOFTFAIL, NULL, 1, 0,
     "~all", -1},
    {"include none is permerror", "e.example.com TXT \"v=spf1 include:noinc.example.net -all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 1,
     -1, NULL, -1},
    {"include servfail is temperror", "e.example.com TXT \"v=spf1 include:bad.example.net -all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_TEMPERROR, NULL, 1, 0,
     NULL, -1},
    {"redirect", "e.example.com TXT \"v=spf1 ip4:10.0.0.1 redirect=soft.example.net\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_SOFTFAIL, NULL, 1, 0,
     "~all", -1},
    {"redirect to no record is permerror",
     "e.example.com TXT \"v=spf1 redirect=noinc.example.net\"\n", "192.0.2.1", "u@e.example.com",
     "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 1, -1, NULL, -1},
    {"redirect keeps the target's exp",
     "e.example.com TXT \"v=spf1 exp=a.example.com redirect=r.example.com\"\n"
     "r.example.com TXT \"v=spf1 -all exp=b.example.com\"\n"
     "a.example.com TXT \"not me\"\n"
     "b.example.com TXT \"me: %{d}\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL,
     "me: r.example.com", 1, 0, "-all", -1},
    {"a with dual cidr v4", "e.example.com TXT \"v=spf1 a:host.example.net/24//64 -all\"\n",
     "192.0.2.200", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     NULL, -1},
    {"a with dual cidr v6", "e.example.com TXT \"v=spf1 a:host.example.net/24//64 -all\"\n",
     "2001:db8::1:2", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     NULL, -1},
    {"a timeout is temperror", "e.example.com TXT \"v=spf1 a:slow.example.net -all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_TEMPERROR, NULL, 1, 0,
     NULL, -1},
    {"mx second exchange",
     "e.example.com TXT \"v=spf1 mx -all\"\n"
     "e.example.com MX 10 mx1.example.net\n"
     "e.example.com MX 20 mx2.example.net\n",
     "203.0.113.2", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     "mx", -1},
    {"mx exchange servfail is temperror",
     "e.example.com TXT \"v=spf1 mx -all\"\n"
     "e.example.com MX 10 bad.example.net\n"
     "e.example.com MX 20 mx2.example.net\n",
     "203.0.113.2", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_TEMPERROR, NULL, 1,
     0, NULL, -1},
    {"null mx", "e.example.com TXT \"v=spf1 mx ?all\"\ne.example.com MX 0 .\n", "203.0.113.2",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_NEUTRAL, NULL, 1, 0, "?all", -1},
    {"mx with 11 names is permerror",
     "e.example.com TXT \"v=spf1 mx -all\"\n"
     "e.example.com MX 1 mx1.example.net\ne.example.com MX 2 mx1.example.net\n"
     "e.example.com MX 3 mx1.example.net\ne.example.com MX 4 mx1.example.net\n"
     "e.example.com MX 5 mx1.example.net\ne.example.com MX 6 mx1.example.net\n"
     "e.example.com MX 7 mx1.example.net\ne.example.com MX 8 mx1.example.net\n"
     "e.example.com MX 9 mx1.example.net\ne.example.com MX 10 mx1.example.net\n"
     "e.example.com MX 11 mx2.example.net\n",
     "203.0.113.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 1,
     0, NULL, -1},
    {"ptr validated",
     "e.example.com TXT \"v=spf1 ptr -all\"\n"
     "77.2.0.192.in-addr.arpa PTR nope.other.example\n"
     "77.2.0.192.in-addr.arpa PTR mail.e.example.com\n"
     "mail.e.example.com A 192.0.2.77\n",
     "192.0.2.77", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     "ptr", -1},
    {"ptr not validated",
     "e.example.com TXT \"v=spf1 ptr -all\"\n"
     "77.2.0.192.in-addr.arpa PTR mail.e.example.com\n"
     "mail.e.example.com A 192.0.2.78\n",
     "192.0.2.77", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_FAIL, NULL, 1, 0,
     NULL, -1},
    {"ptr cname loop does not validate",
     "e.example.com TXT \"v=spf1 ptr ?all\"\n"
     "77.2.0.192.in-addr.arpa PTR loop.e.example.com\n"
     "loop.e.example.com CNAME loop2.e.example.com\n"
     "loop2.e.example.com CNAME loop.e.example.com\n",
     "192.0.2.77", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_NEUTRAL, NULL, 1, 0,
     NULL, -1},
    {"exists with p macro",
     "e.example.com TXT \"v=spf1 exists:%{p}.ok.example.com -all\"\n"
     "77.2.0.192.in-addr.arpa PTR a.other.example\n"
     "77.2.0.192.in-addr.arpa PTR mail.e.example.com\n"
     "a.other.example A 192.0.2.77\n"
     "mail.e.example.com A 192.0.2.77\n"
     "mail.e.example.com.ok.example.com A 127.0.0.2\n",
     "192.0.2.77", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     NULL, -1},
    {"void lookups: two is fine",
     "e.example.com TXT \"v=spf1 a:n1.example.com a:n2.example.com ?all\"\n", "192.0.2.1",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_NEUTRAL, NULL, 2, 2, "?all", -1},
    {"void lookups: three is permerror",
     "e.example.com TXT \"v=spf1 a:n1.example.com a:n2.example.com "
     "exists:n3.example.com "
     "?all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 3, 3,
     NULL, -1},
    {"ten terms",
     "e.example.com TXT \"v=spf1 a a a a a a a a a a ip4:192.0.2.1\"\n"
     "e.example.com A 10.0.0.1\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 10, 0,
     NULL, -1},
    {"eleven terms",
     "e.example.com TXT \"v=spf1 a a a a a a a a a a a ip4:192.0.2.1\"\n"
     "e.example.com A 10.0.0.1\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 11,
     0, NULL, -1},
    {"include loop", "e.example.com TXT \"v=spf1 include:e.example.com -all\"\n", "192.0.2.1",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 11, 0, NULL, -1},
    {"bogus is temperror", "e.example.com TXT \"v=spf1 -all\"\ne.example.com BOGUS\n", "192.0.2.1",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_TEMPERROR, NULL, 0, 0, NULL, 0},
    {"secure when every answer is",
     "e.example.com TXT \"v=spf1 include:s.example.com -all\"\ne.example.com "
     "SECURE\n"
     "s.example.com TXT \"v=spf1 ip4:192.0.2.1\"\ns.example.com SECURE\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     NULL, 1},
    {"insecure when one answer is not",
     "e.example.com TXT \"v=spf1 include:inc.example.net ip4:192.0.2.1 -all\"\n"
     "e.example.com SECURE\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 1, 0,
     NULL, 0},
    {"multiple records", "e.example.com TXT \"v=spf1 -all\"\ne.example.com TXT \"V=SPF1 +all\"\n",
     "192.0.2.1", "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 0, 0,
     NULL, -1},
    {"type 99 ignored", "e.example.com SPF \"v=spf1 -all\"\n", "192.0.2.1", "u@e.example.com",
     "h.example", SPF_ID_MAILFROM, SPF_RESULT_NONE, NULL, 0, 0, NULL, -1},
    {"no record", "", "192.0.2.1", "u@nothing.example.com", "h.example", SPF_ID_MAILFROM,
     SPF_RESULT_NONE, NULL, 0, 0, "default", -1},
    {"syntax error", "e.example.com TXT \"v=spf1 ip4:1.2.3.4/33 -all\"\n", "192.0.2.1",
     "u@e.example.com", "h.example", SPF_ID_MAILFROM, SPF_RESULT_PERMERROR, NULL, 0, 0, NULL, -1},
    {"txt timeout", "", "192.0.2.1", "u@slow.example.net", "h.example", SPF_ID_MAILFROM,
     SPF_RESULT_TEMPERROR, NULL, 0, 0, NULL, -1},
    {"helo identity", "", "192.0.2.25", "u@example.com", "mail.example.org", SPF_ID_HELO,
     SPF_RESULT_PASS, NULL, 1, 0, "a", -1},
    {"null sender uses helo", "", "192.0.2.26", "", "mail.example.org", SPF_ID_MAILFROM,
     SPF_RESULT_FAIL, "DEFAULT", 1, 0, "-all", -1},
    {"sender without @", "", "192.0.2.1", "example.com", "h.example", SPF_ID_MAILFROM,
     SPF_RESULT_NONE, NULL, 0, 0, NULL, -1},
    {"helo literal", "", "192.0.2.1", "", "[192.0.2.1]", SPF_ID_MAILFROM, SPF_RESULT_NONE, NULL, 0,
     0, NULL, -1},
    {"non-ascii domain", "", "192.0.2.1", "u@caf\xc3\xa9.example", "h.example", SPF_ID_MAILFROM,
     SPF_RESULT_NONE, NULL, 0, 0, NULL, -1},
    {"upper-case sender domain", "", "192.0.2.10", "User@EXAMPLE.Com.", "h.example",
     SPF_ID_MAILFROM, SPF_RESULT_PASS, NULL, 0, 0, NULL, -1},
};

static void test_eval_cases(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(eval_cases); i++) {
        const struct eval_case *c = &eval_cases[i];
        char zone[4096];
        snprintf(zone, sizeof(zone), "%s%s", ZONE_BASE, c->zone);
        struct spf_query q;
        memset(&q, 0, sizeof(q));
        assert_true(ip_parse(c->ip, strlen(c->ip), &q.ip));
        q.sender = c->sender;
        q.helo = c->helo;
        q.identity = c->id;
        q.receiver = "receiver.example";
        q.now_s = NOW_S;
        q.default_exp = "DEFAULT";
        struct run runs[3];
        struct arena a;
        arena_init(&a, NULL, 0);
        for (int s = EAGER; s <= STINGY; s++)
            check(zone, &q, (enum strategy)s, &a, &runs[s]);
        const struct spf_outcome *o = &runs[EAGER].out;
        int before = failures;
        if (o->result != c->want) {
            print_error("%s: got %s (%s), want %s\n", c->name, spf_result_name(o->result),
                        o->problem ? o->problem : "-", spf_result_name(c->want));
            failures++;
        }
        if (c->exp && (!o->explanation || strcmp(o->explanation, c->exp) != 0)) {
            print_error("%s: explanation got \"%s\", want \"%s\"\n", c->name,
                        o->explanation ? o->explanation : "(none)", c->exp);
            failures++;
        }
        if (o->result != SPF_RESULT_FAIL && o->explanation) {
            print_error("%s: explanation on %s\n", c->name, spf_result_name(o->result));
            failures++;
        }
        if (c->terms >= 0 && o->dns_terms != (unsigned)c->terms) {
            print_error("%s: got %u terms, want %d\n", c->name, o->dns_terms, c->terms);
            failures++;
        }
        if (c->voids >= 0 && o->void_lookups != (unsigned)c->voids) {
            print_error("%s: got %u void lookups, want %d\n", c->name, o->void_lookups, c->voids);
            failures++;
        }
        if (c->mech && strcmp(o->mechanism, c->mech) != 0) {
            print_error("%s: mechanism got \"%s\", want \"%s\"\n", c->name, o->mechanism, c->mech);
            failures++;
        }
        if (c->secure >= 0 && o->secure != (c->secure == 1)) {
            print_error("%s: secure got %d, want %d\n", c->name, o->secure, c->secure);
            failures++;
        }
        bool problem_wanted = o->result == SPF_RESULT_NONE || o->result == SPF_RESULT_TEMPERROR ||
                              o->result == SPF_RESULT_PERMERROR;
        if (problem_wanted != (o->problem != NULL)) {
            print_error("%s: problem \"%s\" on %s\n", c->name, o->problem ? o->problem : "(none)",
                        spf_result_name(o->result));
            failures++;
        }
        for (int s = REVERSE; s <= STINGY; s++) {
            const struct spf_outcome *x = &runs[s].out;
            if (x->result != o->result || x->dns_terms != o->dns_terms ||
                x->void_lookups != o->void_lookups || x->secure != o->secure ||
                strcmp(x->mechanism, o->mechanism) != 0 || (!x->explanation) != (!o->explanation) ||
                (x->explanation && strcmp(x->explanation, o->explanation) != 0)) {
                print_error("%s: strategy %d gives %s/%u/%u/%d, eager %s/%u/%u/%d\n", c->name, s,
                            spf_result_name(x->result), x->dns_terms, x->void_lookups, x->secure,
                            spf_result_name(o->result), o->dns_terms, o->void_lookups, o->secure);
                failures++;
            }
        }
        if (failures > before)
            print_error("  (case %s: runs eager %u reverse %u stingy %u)\n", c->name,
                        runs[EAGER].runs, runs[REVERSE].runs, runs[STINGY].runs);
        arena_fini(&a);
    }
    assert_int_equal(failures, 0);
}

/* --- the memo protocol
 * ---------------------------------------------------------------- */

struct wanted {
    char name[64];
    enum dns_type type;
    bool needed;
};

struct wanted_list {
    struct wanted w[32];
    unsigned n;
};

/* collect - note what spf_memo_take_wanted hands out */
static void collect(void *arg, const char *name, enum dns_type type, bool needed)
{
    struct wanted_list *l = arg;
    assert_true(l->n < 32);
    snprintf(l->w[l->n].name, sizeof(l->w[l->n].name), "%s", name);
    l->w[l->n].type = type;
    l->w[l->n].needed = needed;
    l->n++;
}

/* put_txt - an answer with one TXT record */
static void put_txt(struct spf_memo *m, const char *name, const char *txt)
{
    struct dns_rr rr;
    memset(&rr, 0, sizeof(rr));
    rr.txt = (char *)txt;
    rr.txt_len = strlen(txt);
    struct dns_answer a = {.qname = name, .type = DNS_T_TXT, .status = DNS_OK, .n = 1, .rr = &rr};
    spf_memo_put(m, &a);
}

static void test_memo_protocol(void **state)
{
    (void)state;
    struct spf_memo *m = spf_memo_create();
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    assert_true(ip_parse("192.0.2.1", 9, &q.ip));
    q.sender = "u@example.com";
    q.helo = "h.example";
    struct spf_outcome out;
    out.result = (enum spf_result)99;

    /* run 1: blocked on the top TXT */
    assert_int_equal(spf_eval(&q, m, &a, &out), SPF_PENDING);
    assert_int_equal(out.result, 99);         /* untouched */
    assert_int_equal(spf_memo_blocked(m), 0); /* nothing handed out yet */
    struct wanted_list l = {0};
    assert_int_equal(spf_memo_take_wanted(m, collect, &l), 1);
    assert_string_equal(l.w[0].name, "example.com");
    assert_int_equal(l.w[0].type, DNS_T_TXT);
    assert_true(l.w[0].needed);
    assert_int_equal(spf_memo_blocked(m), 1);
    assert_int_equal(spf_memo_take_wanted(m, collect, &l), 0); /* never twice */

    /* run 2: the include is needed; a, mx, exists and redirect targets are
     * prefetched */
    put_txt(m, "EXAMPLE.com.",
            "v=spf1 include:i.example.net a:a.example.net mx:m.example.net "
            "exists:%{l}.x.example.net ptr redirect=r.example.net");
    assert_int_equal(spf_memo_blocked(m), 0);
    assert_int_equal(spf_eval(&q, m, &a, &out), SPF_PENDING);
    l.n = 0;
    assert_int_equal(spf_memo_take_wanted(m, collect, &l), 6);
    const struct wanted want[] = {
        {"i.example.net", DNS_T_TXT, false},          {"a.example.net", DNS_T_A, false},
        {"m.example.net", DNS_T_MX, false},           {"u.x.example.net", DNS_T_A, false},
        {"1.2.0.192.in-addr.arpa", DNS_T_PTR, false}, {"r.example.net", DNS_T_TXT, false},
    };
    for (unsigned i = 0; i < N(want); i++) {
        assert_string_equal(l.w[i].name, want[i].name);
        assert_int_equal(l.w[i].type, want[i].type);
        /* the include's TXT was wanted as a prefetch, then needed in the same run
         */
        assert_int_equal(l.w[i].needed, i == 0);
    }
    assert_int_equal(spf_memo_blocked(m), 1);

    /* run 3: the include answers; a prefetch (already handed out) becomes needed
     */
    put_txt(m, "i.example.net", "v=spf1 -all");
    assert_int_equal(spf_eval(&q, m, &a, &out), SPF_PENDING);
    l.n = 0;
    assert_int_equal(spf_memo_take_wanted(m, collect, &l), 0);
    assert_int_equal(spf_memo_blocked(m), 1); /* A a.example.net, handed out as a prefetch */
    struct dns_answer nx = {.qname = "a.example.net", .type = DNS_T_A, .status = DNS_NXDOMAIN};
    spf_memo_put(m, &nx);
    /* first answer wins */
    struct dns_rr rr;
    memset(&rr, 0, sizeof(rr));
    assert_true(ip_parse("192.0.2.1", 9, &rr.addr));
    struct dns_answer ok = {
        .qname = "a.example.net", .type = DNS_T_A, .status = DNS_OK, .n = 1, .rr = &rr};
    spf_memo_put(m, &ok);
    assert_int_equal(spf_eval(&q, m, &a, &out), SPF_PENDING); /* now on the MX */
    assert_int_equal(spf_memo_blocked(m), 1);
    spf_memo_destroy(m);
    arena_fini(&a);
    spf_memo_destroy(NULL);
}

static void test_timeout_outcome(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    assert_true(ip_parse("192.0.2.1", 9, &q.ip));
    q.sender = "";
    q.helo = "Mail.Example.ORG";
    struct spf_outcome out;
    spf_outcome_timeout(&q, &a, &out);
    assert_int_equal(out.result, SPF_RESULT_TEMPERROR);
    assert_false(out.secure);
    assert_string_equal(out.domain, "mail.example.org");
    assert_string_equal(out.sender, "postmaster@Mail.Example.ORG");
    assert_non_null(out.problem);
    assert_null(out.explanation);
    arena_fini(&a);
}

static void test_trace(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    assert_true(ip_parse("192.0.2.10", 10, &q.ip));
    q.sender = "u@e.example.com";
    q.helo = "h.example";
    q.trace = true;
    struct run r;
    check(ZONE_BASE "e.example.com TXT \"v=spf1 include:inc.example.net a:host.example.net "
                    "-all\"\n",
          &q, EAGER, &a, &r);
    assert_int_equal(r.out.result, SPF_RESULT_FAIL);
    assert_null(r.out.explanation); /* no default_exp */
    assert_non_null(r.out.trace);
    assert_non_null(strstr(r.out.trace, "check_host(e.example.com)"));
    assert_non_null(strstr(r.out.trace, "  check_host(inc.example.net)"));
    assert_non_null(strstr(r.out.trace, "-all: match: fail"));
    arena_fini(&a);
}

static void test_result_names(void **state)
{
    (void)state;
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        assert_int_equal(spf_result_parse(spf_result_name((enum spf_result)r)), r);
    assert_int_equal(spf_result_parse("hardfail"), -1);
    assert_int_equal(spf_result_parse(NULL), -1);
    assert_string_equal(spf_result_name(SPF_RESULT_SOFTFAIL), "softfail");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_cases),      cmocka_unit_test(test_memo_protocol),
        cmocka_unit_test(test_timeout_outcome), cmocka_unit_test(test_trace),
        cmocka_unit_test(test_result_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
