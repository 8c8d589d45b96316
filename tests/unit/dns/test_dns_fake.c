/* tests/unit/dns/test_dns_fake.c - the fake DNS backend (dns/dns_fake.c) behind the real
 * front end: zone syntax and its errors, answers by type (NXDOMAIN vs NODATA, CNAME chains
 * and loops, TXT strings and escapes, MX to the root), flags (TIMEOUT per name and per type,
 * SERVFAIL, SECURE, BOGUS), asynchronous delivery through the eventfd, deadlines, cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "dns/dns.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define TIMEOUT_MS 500u

static const char zone[] = "# a comment line\n"
                           "\n"
                           "Example.COM. A 192.0.2.1\n"
                           "example.com A 192.0.2.2\n"
                           "example.com AAAA 2001:DB8::1\n"
                           "example.com AAAA ::FFFF:1.2.3.4\n"
                           "example.com MX 10 mx1.example.com\n"
                           "example.com MX 0 .\n"
                           "example.com TXT \"v=spf1 \" \"-all\"\n"
                           "example.com TXT \"second\"\n"
                           "example.com SPF \"v=spf1 +all\"\n"
                           "  esc.example.com TXT \"q\\\"b\\\\s\\x00z\\x80\" \"\"\n"
                           "empty.example.com TXT \"\"\n"
                           "1.2.0.192.in-addr.arpa PTR Mail.Example.COM.\n"
                           "alias.example.com CNAME Example.com.\n"
                           "alias2.example.com CNAME alias.example.com\n"
                           "dangling.example.com CNAME nowhere.example.com\n"
                           "loop1.example.com CNAME loop2.example.com\n"
                           "loop2.example.com CNAME loop1.example.com\n"
                           "slow.example.com TIMEOUT\n"
                           "half.example.com A 192.0.2.9\n"
                           "half.example.com TXT TIMEOUT\n"
                           "broken.example.com SERVFAIL\n"
                           "signed.example.com A 192.0.2.10\n"
                           "signed.example.com SECURE\n"
                           "nothing.signed.example.com SECURE\n"
                           "forged.example.com A 192.0.2.11\n"
                           "forged.example.com BOGUS\n"
                           "\"odd name  with spaces.example.com\" A 192.0.2.12\n"
                           "toslow.example.com CNAME slow.example.com\n";

struct got {
    struct dns_answer *ans;
    unsigned calls;
};

static void on_answer(void *arg, const struct dns_answer *a)
{
    struct got *g = arg;
    g->calls++;
    dns_answer_free(g->ans);
    g->ans = dns_answer_copy(a);
}

/* readable - the resolver fd polls readable right now */
static bool readable(struct dns_resolver *r)
{
    struct pollfd p = {.fd = dns_resolver_fd(r), .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* ask - one lookup to completion with simulated time; the answer (caller frees) */
static struct dns_answer *ask(struct dns_resolver *r, const char *name, enum dns_type type,
                              uint64_t *now)
{
    struct got g = {NULL, 0};
    assert_int_equal(dns_query(r, name, type, *now, on_answer, &g, NULL), 0);
    assert_int_equal(g.calls, 0); /* never from inside dns_query */
    while (g.calls == 0) {
        dns_resolver_process(r, *now);
        if (g.calls == 0) {
            int64_t wait = dns_resolver_next_timeout_ms(r, *now);
            assert_true(wait >= 0);
            *now += (uint64_t)wait;
        }
    }
    assert_int_equal(g.calls, 1);
    return g.ans;
}

struct answer_case {
    const char *name;
    enum dns_type type;
    enum dns_status status;
    unsigned n;
    const char *first; /* text form of rr[0]: address, "pref name", name or txt */
    int secure;        /* -1: not checked */
};

static const struct answer_case answer_cases[] = {
    {"example.com", DNS_T_A, DNS_OK, 2, "192.0.2.1", 0},
    {"EXAMPLE.com.", DNS_T_A, DNS_OK, 2, "192.0.2.1", 0},
    {"example.com", DNS_T_AAAA, DNS_OK, 2, "2001:db8::1", 0},
    {"example.com", DNS_T_MX, DNS_OK, 2, "10 mx1.example.com", 0},
    {"example.com", DNS_T_TXT, DNS_OK, 2, "v=spf1 -all", 0},
    {"example.com", DNS_T_SPF, DNS_OK, 1, "v=spf1 +all", 0},
    {"example.com", DNS_T_PTR, DNS_NODATA, 0, NULL, 0},
    {"nowhere.example.com", DNS_T_A, DNS_NXDOMAIN, 0, NULL, 0},
    {"sub.example.com", DNS_T_TXT, DNS_NXDOMAIN, 0, NULL, 0},
    {"empty.example.com", DNS_T_TXT, DNS_OK, 1, "", 0},
    {"1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_OK, 1, "mail.example.com", 0},
    {"alias.example.com", DNS_T_A, DNS_OK, 2, "192.0.2.1", 0},
    {"alias2.example.com", DNS_T_TXT, DNS_OK, 2, "v=spf1 -all", 0},
    {"alias.example.com", DNS_T_PTR, DNS_NODATA, 0, NULL, 0},
    {"dangling.example.com", DNS_T_A, DNS_NXDOMAIN, 0, NULL, 0},
    {"loop1.example.com", DNS_T_A, DNS_SERVFAIL, 0, NULL, -1},
    {"slow.example.com", DNS_T_A, DNS_TIMEOUT, 0, NULL, -1},
    {"toslow.example.com", DNS_T_A, DNS_TIMEOUT, 0, NULL, -1},
    {"half.example.com", DNS_T_A, DNS_OK, 1, "192.0.2.9", 0},
    {"half.example.com", DNS_T_TXT, DNS_TIMEOUT, 0, NULL, -1},
    {"half.example.com", DNS_T_MX, DNS_NODATA, 0, NULL, 0},
    {"broken.example.com", DNS_T_A, DNS_SERVFAIL, 0, NULL, -1},
    {"signed.example.com", DNS_T_A, DNS_OK, 1, "192.0.2.10", 1},
    {"signed.example.com", DNS_T_TXT, DNS_NODATA, 0, NULL, 1},
    {"nothing.signed.example.com", DNS_T_A, DNS_NXDOMAIN, 0, NULL, 1},
    {"forged.example.com", DNS_T_A, DNS_BOGUS, 0, NULL, 0},
    {"odd name  with spaces.example.com", DNS_T_A, DNS_OK, 1, "192.0.2.12", 0},
};

/* rr_text - the text form of rr as answer_cases writes it */
static void rr_text(const struct dns_answer *a, char *buf, size_t size)
{
    const struct dns_rr *rr = &a->rr[0];
    switch (a->type) {
    case DNS_T_A:
    case DNS_T_AAAA:
        ip_format(&rr->addr, buf, size);
        break;
    case DNS_T_MX:
        snprintf(buf, size, "%u %s", rr->pref, rr->name);
        break;
    case DNS_T_PTR:
        snprintf(buf, size, "%s", rr->name);
        break;
    default:
        snprintf(buf, size, "%.*s", (int)rr->txt_len, rr->txt);
        break;
    }
}

static void test_answers(void **state)
{
    (void)state;
    struct dns_resolver *r = dns_fake_create(TIMEOUT_MS);
    assert_non_null(r);
    char err[200];
    if (dns_fake_load(r, zone, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    uint64_t now = 1000;
    int failures = 0;
    for (size_t i = 0; i < N(answer_cases); i++) {
        const struct answer_case *c = &answer_cases[i];
        uint64_t before = now;
        struct dns_answer *a = ask(r, c->name, c->type, &now);
        char text[300] = "";
        if (a->n > 0)
            rr_text(a, text, sizeof(text));
        if (a->status != c->status || a->n != c->n || (c->first && strcmp(text, c->first) != 0)) {
            print_error("%s %s: got %s n=%u \"%s\", want %s n=%u \"%s\"\n", c->name,
                        dns_type_name(c->type), dns_status_name(a->status), a->n, text,
                        dns_status_name(c->status), c->n, c->first ? c->first : "");
            failures++;
        }
        if (c->secure >= 0 && a->secure != (c->secure == 1)) {
            print_error("%s %s: secure got %d, want %d\n", c->name, dns_type_name(c->type),
                        a->secure, c->secure);
            failures++;
        }
        bool waited = now != before;
        if (waited != (c->status == DNS_TIMEOUT)) {
            print_error("%s %s: clock moved %d, timeout %d\n", c->name, dns_type_name(c->type),
                        waited, c->status == DNS_TIMEOUT);
            failures++;
        }
        if (c->status == DNS_BOGUS && !a->why_bogus) {
            print_error("%s: bogus without a reason\n", c->name);
            failures++;
        }
        dns_answer_free(a);
    }
    assert_int_equal(dns_fake_queries(r), N(answer_cases));
    dns_resolver_destroy(r);
    assert_int_equal(failures, 0);
}

static void test_txt_bytes(void **state)
{
    (void)state;
    struct dns_resolver *r = dns_fake_create(TIMEOUT_MS);
    char err[200];
    assert_int_equal(dns_fake_load(r, zone, err, sizeof(err)), 0);
    uint64_t now = 0;
    struct dns_answer *a = ask(r, "esc.example.com", DNS_T_TXT, &now);
    assert_int_equal(a->status, DNS_OK);
    assert_int_equal(a->n, 1);
    static const char want[] = "q\"b\\s\0z\x80";
    assert_int_equal(a->rr[0].txt_len, sizeof(want) - 1);
    assert_memory_equal(a->rr[0].txt, want, sizeof(want) - 1);
    assert_int_equal(a->rr[0].txt[a->rr[0].txt_len], '\0');
    dns_answer_free(a);

    a = ask(r, "example.com", DNS_T_MX, &now);
    assert_int_equal(a->n, 2);
    assert_string_equal(a->rr[1].name, ""); /* "." is the root */
    assert_int_equal(a->rr[1].pref, 0);
    dns_answer_free(a);

    a = ask(r, "example.com", DNS_T_AAAA, &now);
    char buf[64];
    ip_format(&a->rr[1].addr, buf, sizeof(buf));
    assert_string_equal(buf, "1.2.3.4"); /* ::FFFF:1.2.3.4 is stored as given */
    dns_answer_free(a);
    dns_resolver_destroy(r);
}

static void test_async(void **state)
{
    (void)state;
    struct dns_resolver *r = dns_fake_create(TIMEOUT_MS);
    char err[200];
    assert_int_equal(dns_fake_load(r, zone, err, sizeof(err)), 0);
    assert_false(readable(r));
    struct got g1 = {NULL, 0}, g2 = {NULL, 0}, g3 = {NULL, 0};
    uint64_t id2;
    assert_int_equal(dns_query(r, "example.com", DNS_T_A, 0, on_answer, &g1, NULL), 0);
    assert_int_equal(dns_query(r, "example.com", DNS_T_TXT, 0, on_answer, &g2, &id2), 0);
    assert_int_equal(dns_query(r, "slow.example.com", DNS_T_TXT, 0, on_answer, &g3, NULL), 0);
    assert_int_equal(g1.calls + g2.calls + g3.calls, 0);
    assert_true(readable(r));
    assert_int_equal(dns_cancel(r, id2), 0);
    dns_resolver_process(r, 1);
    assert_false(readable(r));
    assert_int_equal(g1.calls, 1);
    assert_int_equal(g2.calls, 0); /* cancelled */
    assert_int_equal(g3.calls, 0); /* still waiting for its deadline */
    assert_int_equal(dns_resolver_pending(r), 1);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1), TIMEOUT_MS - 1);
    dns_resolver_process(r, TIMEOUT_MS - 1);
    assert_int_equal(g3.calls, 0);
    dns_resolver_process(r, TIMEOUT_MS);
    assert_int_equal(g3.calls, 1);
    assert_int_equal(g3.ans->status, DNS_TIMEOUT);
    assert_int_equal(dns_fake_queries(r), 3);
    /* a query left pending at destroy never calls back */
    struct got g4 = {NULL, 0};
    assert_int_equal(dns_query(r, "example.com", DNS_T_A, 0, on_answer, &g4, NULL), 0);
    dns_resolver_destroy(r);
    assert_int_equal(g4.calls, 0);
    dns_answer_free(g1.ans);
    dns_answer_free(g3.ans);
}

struct load_case {
    const char *text;
    const char *err; /* substring of the error; NULL: loads */
};

static const struct load_case load_cases[] = {
    {"a.example A 192.0.2.1\n", NULL},
    {"a.example A 192.0.2.1", NULL},
    {"  # indented comment\n\n\r\n", NULL},
    {"a.example TXT \"one\" \"two\"\r\n", NULL},
    {"a.example A 192.0.2.1\nb.example AA 1.2.3.4\n", "line 2: unknown type"},
    {"a.example A 300.1.1.1\n", "line 1: bad IPv4"},
    {"a.example AAAA 1::2::3\n", "line 1: bad IPv6"},
    {"a.example A\n", "line 1: missing address"},
    {"a.example\n", "line 1: missing type"},
    {"a.example MX x b.example\n", "bad MX preference"},
    {"a.example MX 70000 b.example\n", "bad MX preference"},
    {"a.example MX 10\n", "missing MX exchange"},
    {"a.example TXT unquoted\n", "quoted strings"},
    {"a.example TXT\n", "missing TXT strings"},
    {"a.example TXT \"open\n", "unterminated string"},
    {"a.example TXT \"\\q\"\n", "unknown escape"},
    {"a.example TXT \"\\x4\"\n", "bad \\x escape"},
    {"a.example A 192.0.2.1 extra\n", "junk after data"},
    {"a.example TIMEOUT now\n", "junk after flag"},
    {"a.example A TIMEOUT extra\n", "junk after TIMEOUT"},
    {"\"a\\x00b.example\" A 192.0.2.1\n", "NUL in name"},
    {"a.example CNAME\n", "missing CNAME target"},
};

static void test_load_errors(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(load_cases); i++) {
        const struct load_case *c = &load_cases[i];
        struct dns_resolver *r = dns_fake_create(TIMEOUT_MS);
        char err[200] = "";
        int rc = dns_fake_load(r, c->text, err, sizeof(err));
        if (c->err ? (rc != -1 || !strstr(err, c->err)) : rc != 0) {
            print_error("load \"%s\": got %d \"%s\", want %s\n", c->text, rc, err,
                        c->err ? c->err : "ok");
            failures++;
        }
        dns_resolver_destroy(r);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_txt_bytes),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
