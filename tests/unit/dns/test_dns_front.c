/* tests/unit/dns/test_dns_front.c - the resolver front end (dns_resolver.c) over a scripted
 * in-test backend: name validation and normalisation, deadlines (DNS_TIMEOUT and backend
 * cancel), ordering of many deadlines, cancel, re-entrant calls from callbacks, the
 * max_queries limit, backend refusal, answer copies. Time is simulated (now_ms arguments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_EVENTS 8192

/* --- scripted backend ---------------------------------------------------------------- */

struct scripted {
    struct dns_backend base;
    bool in_process;
    int reentered;  /* start/cancel calls made from inside process(): must stay 0 */
    int fail_start; /* refuse the next start() calls */
    unsigned nstarted, ncancelled;
    uint64_t started[MAX_EVENTS], cancelled[MAX_EVENTS];
    char last_name[300];
    enum dns_type last_type;
    /* answers handed over at the next process() */
    unsigned nqueued;
    uint64_t queued_token[64];
    struct dns_answer queued[64];
};

static int sc_fd(const struct dns_backend *b)
{
    (void)b;
    return -1;
}

static int sc_start(struct dns_backend *b, const char *name, enum dns_type type, uint64_t token)
{
    struct scripted *s = (struct scripted *)b;
    if (s->in_process)
        s->reentered++;
    if (s->fail_start > 0) {
        s->fail_start--;
        return DNS_ERR_BACKEND;
    }
    snprintf(s->last_name, sizeof(s->last_name), "%s", name);
    s->last_type = type;
    if (s->nstarted < MAX_EVENTS)
        s->started[s->nstarted++] = token;
    return 0;
}

static void sc_cancel(struct dns_backend *b, uint64_t token)
{
    struct scripted *s = (struct scripted *)b;
    if (s->in_process)
        s->reentered++;
    if (s->ncancelled < MAX_EVENTS)
        s->cancelled[s->ncancelled++] = token;
}

static void sc_process(struct dns_backend *b)
{
    struct scripted *s = (struct scripted *)b;
    s->in_process = true;
    for (unsigned i = 0; i < s->nqueued; i++)
        dns_resolver_deliver(b->r, s->queued_token[i], &s->queued[i]);
    s->nqueued = 0;
    s->in_process = false;
}

static void sc_destroy(struct dns_backend *b)
{
    (void)b; /* the test owns the struct */
}

static const struct dns_backend_ops sc_ops = {
    .name = "scripted",
    .fd = sc_fd,
    .start = sc_start,
    .cancel = sc_cancel,
    .process = sc_process,
    .destroy = sc_destroy,
};

static struct dns_resolver *make(struct scripted *s, uint32_t timeout_ms, unsigned max_queries)
{
    memset(s, 0, sizeof(*s));
    s->base.ops = &sc_ops;
    return dns_resolver_new(&s->base, timeout_ms, max_queries);
}

/* queue - deliver a as the answer for token at the next process() */
static void queue(struct scripted *s, uint64_t token, const struct dns_answer *a)
{
    s->queued_token[s->nqueued] = token;
    s->queued[s->nqueued++] = *a;
}

static bool was_cancelled(const struct scripted *s, uint64_t token)
{
    for (unsigned i = 0; i < s->ncancelled; i++)
        if (s->cancelled[i] == token)
            return true;
    return false;
}

/* --- callbacks ----------------------------------------------------------------------- */

struct seen {
    int calls;
    struct dns_answer *a; /* copy of the last answer */
};

static void on_answer(void *arg, const struct dns_answer *a)
{
    struct seen *s = arg;
    s->calls++;
    dns_answer_free(s->a);
    s->a = dns_answer_copy(a);
}

static const struct dns_answer ok_a = {.status = DNS_OK, .rcode = 0, .n = 0};

/* --- names --------------------------------------------------------------------------- */

struct name_case {
    const char *name;
    const char *input; /* NULL: the name NULL */
    const char *want;  /* normalised form, or NULL for DNS_ERR_NAME */
};

static char label63[64], label64[65], name253[254], name254[255], name253dot[255];

static void build_long_names(void)
{
    memset(label63, 'a', 63);
    memset(label64, 'b', 64);
    /* 253 = 4 x (62 + '.') + 1 */
    char *p = name253;
    for (int i = 0; i < 4; i++) {
        memset(p, 'c', 62);
        p[62] = '.';
        p += 63;
    }
    *p++ = 'd';
    *p = '\0';
    snprintf(name254, sizeof(name254), "%se", name253);
    snprintf(name253dot, sizeof(name253dot), "%s.", name253);
}

static void test_names(void **state)
{
    (void)state;
    build_long_names();
    const struct name_case cases[] = {
        {"plain", "example.org", "example.org"},
        {"upper case and trailing dot", "Example.ORG.", "example.org"},
        {"single label", "localhost", "localhost"},
        {"single label with dot", "a.", "a"},
        {"underscore", "_spf.Example.org", "_spf.example.org"},
        {"punycode", "xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"non-ASCII kept", "\xc3\x89t\xc3\xa9.example", "\xc3\x89t\xc3\xa9.example"},
        {"space kept", "a b.example", "a b.example"},
        {"label 63", label63, label63},
        {"label 64", label64, NULL},
        {"total 253", name253, name253},
        {"total 253 plus dot", name253dot, name253},
        {"total 254", name254, NULL},
        {"empty", "", NULL},
        {"root", ".", NULL},
        {"two dots", "..", NULL},
        {"empty label inside", "a..b", NULL},
        {"leading dot", ".a", NULL},
        {"two trailing dots", "a..", NULL},
        {"NULL", NULL, NULL},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct name_case *c = &cases[i];
        struct scripted s;
        struct dns_resolver *r = make(&s, 1000, 10);
        struct seen seen = {0};
        uint64_t id = 0;
        int rc = dns_query(r, c->input, DNS_T_TXT, 0, on_answer, &seen, &id);
        if (c->want == NULL) {
            if (rc != DNS_ERR_NAME || s.nstarted != 0 || dns_resolver_pending(r) != 0) {
                print_error("%s: got rc %d (%u started), want DNS_ERR_NAME\n", c->name, rc,
                            s.nstarted);
                failures++;
            }
        } else if (rc != 0) {
            print_error("%s: got %s, want success\n", c->name, dns_strerror(rc));
            failures++;
        } else if (strcmp(s.last_name, c->want) != 0 || s.last_type != DNS_T_TXT) {
            print_error("%s: backend got \"%s\", want \"%s\"\n", c->name, s.last_name, c->want);
            failures++;
        } else {
            queue(&s, id, &ok_a);
            dns_resolver_process(r, 5);
            if (seen.calls != 1 || strcmp(seen.a->qname, c->want) != 0) {
                print_error("%s: answer qname \"%s\", want \"%s\"\n", c->name,
                            seen.a ? seen.a->qname : "(none)", c->want);
                failures++;
            }
        }
        dns_answer_free(seen.a);
        dns_resolver_destroy(r);
    }
    assert_int_equal(failures, 0);
}

/* --- deadlines ----------------------------------------------------------------------- */

static void test_deadline(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct seen seen = {0};
    uint64_t id;
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1000), -1);
    assert_int_equal(dns_query(r, "Slow.Example", DNS_T_MX, 1000, on_answer, &seen, &id), 0);
    assert_int_equal(dns_resolver_pending(r), 1);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1000), 500);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1400), 100);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1600), 0);

    dns_resolver_process(r, 1499);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(s.ncancelled, 0);

    dns_resolver_process(r, 1500);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.a->status, DNS_TIMEOUT);
    assert_int_equal(seen.a->rcode, -1);
    assert_int_equal(seen.a->type, DNS_T_MX);
    assert_string_equal(seen.a->qname, "slow.example");
    assert_int_equal(seen.a->elapsed_ms, 500);
    assert_int_equal(seen.a->n, 0);
    assert_false(seen.a->secure);
    assert_true(was_cancelled(&s, id));
    assert_int_equal(dns_resolver_pending(r), 0);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 1500), -1);

    /* a late answer for the expired query is ignored */
    queue(&s, id, &ok_a);
    dns_resolver_process(r, 1600);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(dns_cancel(r, id), -1);

    dns_answer_free(seen.a);
    dns_resolver_destroy(r);
}

static void test_answer_before_deadline(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct seen seen = {0};
    uint64_t id;
    assert_int_equal(dns_query(r, "mx.example", DNS_T_MX, 1000, on_answer, &seen, &id), 0);
    char n1[] = "mail1.example", n2[] = "mail2.example";
    struct dns_rr rr[2] = {{.pref = 10, .name = n1}, {.pref = 20, .name = n2}};
    struct dns_answer a = {.qname = "something else",
                           .type = DNS_T_A,
                           .status = DNS_OK,
                           .rcode = 0,
                           .secure = true,
                           .ttl_s = 300,
                           .n = 2,
                           .rr = rr,
                           .why_bogus = "ignored unless bogus"};
    queue(&s, id, &a);
    dns_resolver_process(r, 1200);
    assert_int_equal(seen.calls, 1);
    const struct dns_answer *got = seen.a;
    assert_int_equal(got->status, DNS_OK);
    assert_string_equal(got->qname, "mx.example"); /* the front end's, not the backend's */
    assert_int_equal(got->type, DNS_T_MX);
    assert_true(got->secure);
    assert_int_equal(got->ttl_s, 300);
    assert_int_equal(got->elapsed_ms, 200);
    assert_null(got->why_bogus);
    assert_int_equal(got->n, 2);
    assert_int_equal(got->rr[0].pref, 10);
    assert_string_equal(got->rr[0].name, "mail1.example");
    assert_string_equal(got->rr[1].name, "mail2.example");
    assert_int_equal(s.ncancelled, 0);
    dns_resolver_process(r, 5000);
    assert_int_equal(seen.calls, 1);
    dns_answer_free(seen.a);
    dns_resolver_destroy(r);
}

/* non-OK answers carry no records; why_bogus only with DNS_BOGUS */
static void test_negative_fields(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct seen nx = {0}, bogus = {0};
    uint64_t id1, id2;
    assert_int_equal(dns_query(r, "nx.example", DNS_T_A, 0, on_answer, &nx, &id1), 0);
    assert_int_equal(dns_query(r, "bogus.example", DNS_T_A, 0, on_answer, &bogus, &id2), 0);
    struct dns_rr junk = {.pref = 1};
    struct dns_answer a1 = {
        .status = DNS_NXDOMAIN, .rcode = 3, .n = 1, .rr = &junk, .why_bogus = "junk", .ttl_s = 60};
    struct dns_answer a2 = {
        .status = DNS_BOGUS, .rcode = 0, .n = 1, .rr = &junk, .why_bogus = "signature expired"};
    queue(&s, id1, &a1);
    queue(&s, id2, &a2);
    dns_resolver_process(r, 10);
    assert_int_equal(nx.a->status, DNS_NXDOMAIN);
    assert_int_equal(nx.a->n, 0);
    assert_null(nx.a->rr);
    assert_null(nx.a->why_bogus);
    assert_int_equal(nx.a->ttl_s, 60);
    assert_int_equal(bogus.a->status, DNS_BOGUS);
    assert_int_equal(bogus.a->n, 0);
    assert_string_equal(bogus.a->why_bogus, "signature expired");
    dns_answer_free(nx.a);
    dns_answer_free(bogus.a);
    dns_resolver_destroy(r);
}

/* thousands of deadlines, random order, a third cancelled: timeouts come in deadline order */
struct order {
    uint64_t last_deadline;
    int calls, out_of_order;
    uint64_t deadline[MAX_EVENTS]; /* by query index */
};

struct order_arg {
    struct order *o;
    unsigned idx;
};

static void on_order(void *arg, const struct dns_answer *a)
{
    struct order_arg *oa = arg;
    struct order *o = oa->o;
    uint64_t d = o->deadline[oa->idx];
    if (d < o->last_deadline || a->status != DNS_TIMEOUT)
        o->out_of_order++;
    o->last_deadline = d;
    o->calls++;
}

static void test_deadline_order(void **state)
{
    (void)state;
    enum { COUNT = 5000 };
    static struct scripted s;
    static struct order o;
    static struct order_arg args[COUNT];
    static uint64_t ids[COUNT];
    memset(&o, 0, sizeof(o));
    struct dns_resolver *r = make(&s, 1000, COUNT);
    uint32_t seed = 12345;
    for (unsigned i = 0; i < COUNT; i++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t start = (seed >> 8) % 10000;
        o.deadline[i] = start + 1000;
        args[i] = (struct order_arg){&o, i};
        assert_int_equal(dns_query(r, "x.example", DNS_T_A, start, on_order, &args[i], &ids[i]), 0);
    }
    assert_int_equal(dns_resolver_pending(r), COUNT);
    int cancelled = 0;
    for (unsigned i = 0; i < COUNT; i += 3) {
        assert_int_equal(dns_cancel(r, ids[i]), 0);
        cancelled++;
    }
    assert_int_equal(dns_resolver_pending(r), COUNT - cancelled);
    int64_t prev = -1; /* every live deadline is > the previous process time */
    for (uint64_t now = 0; now <= 12000; now += 7) {
        uint64_t min = UINT64_MAX;
        for (unsigned i = 0; i < COUNT; i++)
            if (i % 3 != 0 && (int64_t)o.deadline[i] > prev && o.deadline[i] < min)
                min = o.deadline[i];
        int64_t want = min == UINT64_MAX ? -1 : min <= now ? 0 : (int64_t)(min - now);
        int64_t got = dns_resolver_next_timeout_ms(r, now);
        if (got != want)
            fail_msg("at %llu: got next timeout %lld, want %lld", (unsigned long long)now,
                     (long long)got, (long long)want);
        dns_resolver_process(r, now);
        prev = (int64_t)now;
    }
    assert_int_equal(o.calls, COUNT - cancelled);
    assert_int_equal(o.out_of_order, 0);
    assert_int_equal(dns_resolver_pending(r), 0);
    assert_int_equal(s.reentered, 0);
    dns_resolver_destroy(r);
}

/* --- cancel -------------------------------------------------------------------------- */

static void test_cancel(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct seen a = {0}, b = {0};
    uint64_t ida, idb;
    assert_int_equal(dns_query(r, "a.example", DNS_T_A, 0, on_answer, &a, &ida), 0);
    assert_int_equal(dns_query(r, "b.example", DNS_T_A, 0, on_answer, &b, &idb), 0);
    assert_int_not_equal(ida, idb);
    assert_int_equal(dns_cancel(r, ida), 0);
    assert_true(was_cancelled(&s, ida));
    assert_int_equal(dns_cancel(r, ida), -1);
    assert_int_equal(dns_cancel(r, 999999), -1);
    assert_int_equal(dns_resolver_pending(r), 1);
    /* the backend answers the cancelled query anyway: ignored */
    queue(&s, ida, &ok_a);
    queue(&s, idb, &ok_a);
    dns_resolver_process(r, 100);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(dns_cancel(r, idb), -1); /* already delivered */
    dns_resolver_process(r, 1000);
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 1);
    dns_answer_free(b.a);
    dns_resolver_destroy(r);
}

/* --- re-entrancy --------------------------------------------------------------------- */

struct reenter {
    struct dns_resolver *r;
    uint64_t victim; /* cancelled by the first callback */
    int cancel_rc, query_rc, nested;
    uint64_t new_id;
    struct seen new_seen;
    int calls;
};

static void on_reenter(void *arg, const struct dns_answer *a)
{
    struct reenter *re = arg;
    (void)a;
    re->calls++;
    if (re->calls == 1) {
        re->cancel_rc = dns_cancel(re->r, re->victim);
        re->query_rc =
            dns_query(re->r, "new.example", DNS_T_TXT, 50, on_answer, &re->new_seen, &re->new_id);
        dns_resolver_process(re->r, 50); /* nested: must be harmless */
        re->nested++;
    }
}

static void on_victim(void *arg, const struct dns_answer *a)
{
    (void)a;
    (*(int *)arg)++;
}

static void test_reentrant(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct reenter re = {.r = r};
    int victim_calls = 0;
    uint64_t id1;
    assert_int_equal(dns_query(r, "first.example", DNS_T_A, 0, on_reenter, &re, &id1), 0);
    assert_int_equal(
        dns_query(r, "victim.example", DNS_T_A, 0, on_victim, &victim_calls, &re.victim), 0);
    /* both answers become ready in the same process() */
    queue(&s, id1, &ok_a);
    queue(&s, re.victim, &ok_a);
    dns_resolver_process(r, 50);
    assert_int_equal(re.calls, 1);
    assert_int_equal(re.cancel_rc, 0); /* it was ready but not yet called back */
    assert_int_equal(victim_calls, 0);
    assert_int_equal(re.query_rc, 0);
    assert_int_equal(re.nested, 1);
    assert_int_equal(s.reentered, 0); /* the backend was never re-entered */
    assert_int_equal(dns_resolver_pending(r), 1);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 50), 500);
    /* the query started from the callback works normally */
    queue(&s, re.new_id, &ok_a);
    dns_resolver_process(r, 60);
    assert_int_equal(re.new_seen.calls, 1);
    assert_string_equal(re.new_seen.a->qname, "new.example");
    dns_answer_free(re.new_seen.a);
    dns_resolver_destroy(r);
}

/* a timeout callback that starts the retry and cancels a sibling that also timed out */
struct retry {
    struct dns_resolver *r;
    uint64_t sibling;
    int calls, sibling_calls, retry_rc;
    struct seen retry_seen;
};

static void on_timeout_retry(void *arg, const struct dns_answer *a)
{
    struct retry *rt = arg;
    rt->calls++;
    if (a->status == DNS_TIMEOUT && rt->calls == 1) {
        dns_cancel(rt->r, rt->sibling);
        rt->retry_rc =
            dns_query(rt->r, "retry.example", DNS_T_A, 600, on_answer, &rt->retry_seen, NULL);
    }
}

static void on_sibling(void *arg, const struct dns_answer *a)
{
    (void)a;
    ((struct retry *)arg)->sibling_calls++;
}

static void test_reentrant_timeout(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 10);
    struct retry rt = {.r = r};
    assert_int_equal(dns_query(r, "t1.example", DNS_T_A, 0, on_timeout_retry, &rt, NULL), 0);
    assert_int_equal(dns_query(r, "t2.example", DNS_T_A, 10, on_sibling, &rt, &rt.sibling), 0);
    dns_resolver_process(r, 600); /* both expired */
    assert_int_equal(rt.calls, 1);
    assert_int_equal(rt.sibling_calls, 0);
    assert_int_equal(rt.retry_rc, 0);
    assert_int_equal(dns_resolver_pending(r), 1);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 600), 500);
    assert_int_equal(s.reentered, 0);
    dns_resolver_process(r, 1100);
    assert_int_equal(rt.retry_seen.calls, 1);
    assert_int_equal(rt.retry_seen.a->status, DNS_TIMEOUT);
    dns_answer_free(rt.retry_seen.a);
    dns_resolver_destroy(r);
}

/* --- limits and failures ------------------------------------------------------------- */

static void test_busy(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 3);
    struct seen seen = {0};
    uint64_t ids[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(dns_query(r, "x.example", DNS_T_A, 0, on_answer, &seen, &ids[i]), 0);
    assert_int_equal(dns_query(r, "x.example", DNS_T_A, 0, on_answer, &seen, NULL), DNS_ERR_BUSY);
    assert_int_equal(s.nstarted, 3);
    queue(&s, ids[0], &ok_a);
    dns_resolver_process(r, 1);
    assert_int_equal(dns_query(r, "x.example", DNS_T_A, 1, on_answer, &seen, NULL), 0);
    assert_int_equal(dns_cancel(r, ids[1]), 0);
    assert_int_equal(dns_query(r, "x.example", DNS_T_A, 1, on_answer, &seen, NULL), 0);
    assert_int_equal(dns_resolver_pending(r), 3);
    dns_answer_free(seen.a);
    dns_resolver_destroy(r); /* pending queries dropped without callbacks */
    assert_int_equal(seen.calls, 1);
}

static void test_backend_refuses(void **state)
{
    (void)state;
    struct scripted s;
    struct dns_resolver *r = make(&s, 500, 3);
    struct seen seen = {0};
    uint64_t id = 77;
    s.fail_start = 1;
    assert_int_equal(dns_query(r, "x.example", DNS_T_A, 0, on_answer, &seen, &id), DNS_ERR_BACKEND);
    assert_int_equal(id, 77); /* untouched */
    assert_int_equal(dns_resolver_pending(r), 0);
    assert_int_equal(dns_resolver_next_timeout_ms(r, 0), -1);
    dns_resolver_process(r, 10000);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(s.ncancelled, 0);
    assert_int_equal(dns_query(r, "x.example", DNS_T_A, 0, on_answer, &seen, NULL), 0);
    dns_resolver_destroy(r);
}

/* --- answers and names of things ----------------------------------------------------- */

static void test_answer_copy(void **state)
{
    (void)state;
    char txt[] = {'v', '=', 's', 'p', 'f', '1', '\0', 'x', '\0'};
    char name[] = "mail.example";
    char qname[] = "q.example";
    char why[] = "reason";
    struct dns_rr rr[3] = {
        {.txt = txt, .txt_len = 8},
        {.pref = 5, .name = name},
        {.addr = {.b = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}}},
    };
    struct dns_answer a = {.qname = qname,
                           .type = DNS_T_TXT,
                           .status = DNS_OK,
                           .rcode = 0,
                           .secure = true,
                           .ttl_s = 42,
                           .n = 3,
                           .rr = rr,
                           .why_bogus = why,
                           .elapsed_ms = 7};
    struct dns_answer *c = dns_answer_copy(&a);
    memset(txt, '#', sizeof(txt));
    memset(name, '#', sizeof(name) - 1);
    memset(qname, '#', sizeof(qname) - 1);
    memset(why, '#', sizeof(why) - 1);
    memset(rr, 0, sizeof(rr));
    assert_string_equal(c->qname, "q.example");
    assert_string_equal(c->why_bogus, "reason");
    assert_int_equal(c->n, 3);
    assert_true(c->secure);
    assert_int_equal(c->ttl_s, 42);
    assert_int_equal(c->elapsed_ms, 7);
    assert_int_equal(c->rr[0].txt_len, 8);
    assert_memory_equal(c->rr[0].txt, "v=spf1\0x", 8);
    assert_int_equal(c->rr[0].txt[8], '\0');
    assert_null(c->rr[0].name);
    assert_string_equal(c->rr[1].name, "mail.example");
    assert_int_equal(c->rr[1].pref, 5);
    assert_null(c->rr[1].txt);
    assert_int_equal(c->rr[2].addr.b[12], 192);
    assert_int_equal(c->rr[2].addr.b[15], 1);
    struct dns_answer *cc = dns_answer_copy(c); /* a copy of a copy */
    dns_answer_free(c);
    assert_string_equal(cc->rr[1].name, "mail.example");
    dns_answer_free(cc);

    struct dns_answer empty = {.status = DNS_NXDOMAIN, .rcode = 3};
    c = dns_answer_copy(&empty);
    assert_null(c->qname);
    assert_null(c->rr);
    assert_null(c->why_bogus);
    assert_int_equal(c->rcode, 3);
    dns_answer_free(c);
    dns_answer_free(NULL);
}

static void test_names_of_things(void **state)
{
    (void)state;
    static const struct {
        enum dns_status s;
        const char *want;
    } statuses[] = {{DNS_OK, "ok"},
                    {DNS_NODATA, "nodata"},
                    {DNS_NXDOMAIN, "nxdomain"},
                    {DNS_SERVFAIL, "servfail"},
                    {DNS_TIMEOUT, "timeout"},
                    {DNS_BOGUS, "bogus"},
                    {DNS_ERROR, "error"}};
    for (size_t i = 0; i < N(statuses); i++)
        assert_string_equal(dns_status_name(statuses[i].s), statuses[i].want);
    static const struct {
        enum dns_type t;
        const char *want;
    } types[] = {{DNS_T_A, "A"},     {DNS_T_AAAA, "AAAA"}, {DNS_T_MX, "MX"},
                 {DNS_T_TXT, "TXT"}, {DNS_T_PTR, "PTR"},   {DNS_T_SPF, "SPF"}};
    for (size_t i = 0; i < N(types); i++)
        assert_string_equal(dns_type_name(types[i].t), types[i].want);
    assert_string_equal(dns_strerror(DNS_ERR_NAME), "invalid domain name");
    assert_non_null(strstr(dns_strerror(DNS_ERR_BUSY), "in flight"));
    assert_non_null(strstr(dns_strerror(DNS_ERR_BACKEND), "refused"));
    assert_non_null(dns_strerror(-99));

    struct dns_config cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    dns_config_defaults(&cfg);
    assert_null(cfg.forwarder);
    assert_true(cfg.dnssec);
    assert_null(cfg.trust_anchor_file);
    assert_null(cfg.trust_anchors);
    assert_int_equal(cfg.timeout_ms, 5000);
    assert_int_equal(cfg.msg_cache_bytes, 16u << 20);
    assert_int_equal(cfg.rrset_cache_bytes, 32u << 20);
    assert_int_equal(cfg.outgoing_range, 1024);
    assert_int_equal(cfg.max_queries, 2048);
    assert_false(cfg.no_local_zones);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_answer_before_deadline),
        cmocka_unit_test(test_negative_fields),
        cmocka_unit_test(test_deadline_order),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_reentrant),
        cmocka_unit_test(test_reentrant_timeout),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_backend_refuses),
        cmocka_unit_test(test_answer_copy),
        cmocka_unit_test(test_names_of_things),
    };
    return cmocka_run_group_tests_name("dns_front", tests, NULL, NULL);
}
