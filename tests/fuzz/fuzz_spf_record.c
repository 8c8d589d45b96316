/* tests/fuzz/fuzz_spf_record.c - the SPF record parser, macro expansion and evaluator.
 *
 * The input is the text of a TXT record (any bytes). Checked, as FUZZ_CHECK invariants:
 * - spf_record_parse: 0 only for a v=spf1 record; every term points inside the input, in
 *   order, with a known kind and qualifier, CIDR lengths in range, domain-specs that pass
 *   spf_domain_spec_valid; an error always has a problem text. Each domain-spec expands
 *   (spf_macro_target) to at most 253 bytes, or is pending on %{p}.
 * - spf_eval with an empty memo is pending on exactly the sender domain's TXT; then in two
 *   worlds - "void": the input is the domain's only TXT record and every other lookup is
 *   NXDOMAIN; "echo": every TXT lookup anywhere answers the input, A/AAAA answer the client
 *   among others, MX and PTR answer a few names - the evaluation ends within RUNS_MAX runs,
 *   with a result in range, at most 10 DNS-querying terms and 2 void lookups unless
 *   permerror, an explanation only on fail, a problem exactly on none/temperror/permerror.
 * FUZZ_SPF_VERBOSE=1 in the environment prints the outcomes (for corpus work).
 * - the echo world gives the same outcome whether answers arrive all at once or only when
 *   blocked on (prefetched lookups answered late): prefetch never changes the result. */
#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/arena.h"
#include "engine/spf.h"
#include "engine/spf_macro.h"
#include "engine/spf_record.h"

#define RUNS_MAX 400
#define WANTED_MAX 4096

/* check_parse - the parser's invariants on data[0..size) */
static void check_parse(const char *data, size_t size, struct arena *a)
{
    struct spf_record rec;
    const char *problem = NULL;
    int rc = spf_record_parse(data, size, a, &rec, &problem);
    FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(problem != NULL, "error without a problem");
        return;
    }
    FUZZ_CHECK(spf_record_is_spf1(data, size), "parsed a record that is not v=spf1");
    const char *prev_end = data + 6;
    struct spf_macro_vars v = {"l@d.example",  "l",         "d.example", "d.example", "192.0.2.1",
                               "helo.example", "192.0.2.1", "r.example", "1",         "in-addr",
                               NULL,           NULL};
    for (unsigned i = 0; i < rec.n_mech; i++) {
        const struct spf_mech *m = &rec.mech[i];
        FUZZ_CHECK(m->text > prev_end - 1 && m->text + m->text_len <= data + size,
                   "term %u outside the record or out of order", i);
        prev_end = m->text + m->text_len;
        FUZZ_CHECK(m->kind <= SPF_MECH_EXISTS, "kind %d", (int)m->kind);
        FUZZ_CHECK(m->qual == SPF_RESULT_PASS || m->qual == SPF_RESULT_FAIL ||
                       m->qual == SPF_RESULT_SOFTFAIL || m->qual == SPF_RESULT_NEUTRAL,
                   "qualifier %d", (int)m->qual);
        FUZZ_CHECK(m->cidr4 <= 32 && m->cidr6 <= 128, "cidr %u %u", m->cidr4, m->cidr6);
        if (m->domain) {
            FUZZ_CHECK(m->domain >= m->text && m->domain + m->domain_len <= m->text + m->text_len,
                       "domain-spec outside its term");
            FUZZ_CHECK(spf_domain_spec_valid(m->domain, m->domain_len), "bad domain-spec");
            char *t;
            int x = spf_macro_target(m->domain, m->domain_len, &v, a, &t);
            FUZZ_CHECK(x == SPF_MACRO_OK ||
                           (x == SPF_MACRO_PENDING && spf_macro_has_p(m->domain, m->domain_len)),
                       "target expansion %d", x);
            if (x == SPF_MACRO_OK)
                FUZZ_CHECK(strlen(t) <= SPF_DOMAIN_MAX, "target of %zu bytes", strlen(t));
        }
        if (m->kind == SPF_MECH_INCLUDE || m->kind == SPF_MECH_EXISTS)
            FUZZ_CHECK(m->domain != NULL, "include/exists without a domain-spec");
    }
    if (rec.redirect)
        FUZZ_CHECK(spf_domain_spec_valid(rec.redirect, rec.redirect_len), "bad redirect");
    if (rec.exp)
        FUZZ_CHECK(spf_domain_spec_valid(rec.exp, rec.exp_len), "bad exp");
}

/* --- the evaluation worlds ----------------------------------------------------------- */

enum world { VOID_WORLD, ECHO_WORLD };

struct want {
    char name[256];
    enum dns_type type;
    bool needed, put;
};

struct drv {
    enum world w;
    const char *rec;
    size_t rec_len;
    struct ip_addr client;
    struct spf_memo *m;
    struct want *wanted;
    size_t n;
};

/* on_want - record a lookup the evaluation handed out */
static void on_want(void *arg, const char *name, enum dns_type type, bool needed)
{
    struct drv *d = arg;
    FUZZ_CHECK(strlen(name) <= SPF_DOMAIN_MAX && name[0], "wanted name of %zu bytes", strlen(name));
    FUZZ_CHECK(d->n < WANTED_MAX, "more than %d lookups", WANTED_MAX);
    struct want *w = &d->wanted[d->n++];
    memcpy(w->name, name, strlen(name) + 1);
    w->type = type;
    w->needed = needed;
    w->put = false;
}

/* answer - put the world's answer to w */
static void answer(struct drv *d, const struct want *w)
{
    struct dns_rr rr[3];
    memset(rr, 0, sizeof(rr));
    struct dns_answer a = {.qname = w->name, .type = w->type, .status = DNS_NXDOMAIN, .rcode = 3};
    bool top = strcmp(w->name, "fuzz.example") == 0 && w->type == DNS_T_TXT;
    if (d->w == VOID_WORLD && !top) {
        spf_memo_put(d->m, &a);
        return;
    }
    a.status = DNS_OK;
    a.rcode = 0;
    switch (w->type) {
    case DNS_T_TXT:
        rr[0].txt = (char *)d->rec;
        rr[0].txt_len = d->rec_len;
        a.n = 1;
        break;
    case DNS_T_A:
    case DNS_T_AAAA:
        ip_parse(w->type == DNS_T_A ? "192.0.2.99" : "2001:db8::99", w->type == DNS_T_A ? 10 : 12,
                 &rr[0].addr);
        rr[1].addr = d->client;
        a.n = 2;
        break;
    case DNS_T_MX:
        rr[0].name = "mx1.fuzz.example";
        rr[1].name = "";
        rr[2].name = "mx2.fuzz.example";
        a.n = 3;
        break;
    case DNS_T_PTR:
        rr[0].name = "ptr.fuzz.example";
        rr[1].name = "host.other.example";
        a.n = 2;
        break;
    default:
        a.status = DNS_NODATA;
        break;
    }
    a.rr = rr;
    spf_memo_put(d->m, &a);
}

/* evaluate - one full check; stingy: answer only what blocks, prefetches last */
static void evaluate(struct drv *d, const struct spf_query *q, bool stingy, struct arena *a,
                     struct spf_outcome *out)
{
    d->m = spf_memo_create();
    d->n = 0;
    unsigned runs = 0;
    for (;;) {
        FUZZ_CHECK(++runs <= RUNS_MAX, "no result after %d runs", RUNS_MAX);
        enum spf_status st = spf_eval(q, d->m, a, out);
        if (st == SPF_DONE)
            break;
        FUZZ_CHECK(st == SPF_PENDING, "status %d", (int)st);
        size_t before = d->n;
        spf_memo_take_wanted(d->m, on_want, d);
        FUZZ_CHECK(spf_memo_blocked(d->m) > 0, "pending but not blocked");
        if (runs == 1)
            FUZZ_CHECK(d->n == before + 1 && d->wanted[0].type == DNS_T_TXT &&
                           strcmp(d->wanted[0].name, "fuzz.example") == 0 && d->wanted[0].needed,
                       "an empty memo must want exactly the sender domain's TXT");
        if (!stingy) {
            for (size_t i = 0; i < d->n; i++)
                if (!d->wanted[i].put) {
                    answer(d, &d->wanted[i]);
                    d->wanted[i].put = true;
                }
            continue;
        }
        while (spf_memo_blocked(d->m) > 0) {
            size_t pick = d->n;
            for (size_t i = 0; i < d->n && pick == d->n; i++)
                if (!d->wanted[i].put && d->wanted[i].needed)
                    pick = i;
            for (size_t i = d->n; i-- > 0 && pick == d->n;)
                if (!d->wanted[i].put)
                    pick = i;
            FUZZ_CHECK(pick < d->n, "blocked on nothing handed out");
            answer(d, &d->wanted[pick]);
            d->wanted[pick].put = true;
        }
    }
    spf_memo_destroy(d->m);
    d->m = NULL;
}

/* check_outcome - the invariants of every finished check */
static void check_outcome(const struct spf_outcome *o)
{
    FUZZ_CHECK((int)o->result >= 0 && (int)o->result < SPF_RESULT_COUNT, "result %d",
               (int)o->result);
    bool perm = o->result == SPF_RESULT_PERMERROR;
    FUZZ_CHECK(perm || o->dns_terms <= 10, "%u terms on %s", o->dns_terms,
               spf_result_name(o->result));
    FUZZ_CHECK(perm || o->void_lookups <= 2, "%u void lookups on %s", o->void_lookups,
               spf_result_name(o->result));
    FUZZ_CHECK(o->dns_terms <= 11 && o->void_lookups <= 3, "counted past the limits");
    FUZZ_CHECK(o->result == SPF_RESULT_FAIL || !o->explanation, "explanation on %s",
               spf_result_name(o->result));
    bool err = o->result == SPF_RESULT_NONE || o->result == SPF_RESULT_TEMPERROR || perm;
    FUZZ_CHECK(err == (o->problem != NULL), "problem on %s", spf_result_name(o->result));
    FUZZ_CHECK(o->domain && o->sender && o->mechanism, "missing outcome strings");
    if (o->explanation)
        for (const char *p = o->explanation; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p <= 0x7e, "explanation byte 0x%02x", (unsigned char)*p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a, NULL, 0);
    check_parse((const char *)data, size, &a);

    unsigned h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    struct drv d;
    memset(&d, 0, sizeof(d));
    d.rec = (const char *)data;
    d.rec_len = size;
    d.wanted = calloc(WANTED_MAX, sizeof(*d.wanted));
    FUZZ_CHECK(d.wanted != NULL, "out of memory");
    const char *ip = (h & 1) ? "2001:db8::1" : "192.0.2.1";
    ip_parse(ip, strlen(ip), &d.client);

    struct spf_query q;
    memset(&q, 0, sizeof(q));
    q.ip = d.client;
    q.sender = (h & 2) ? "Some.One+tag@fuzz.example" : "";
    q.helo = "fuzz.example";
    q.identity = (h & 4) ? SPF_ID_HELO : SPF_ID_MAILFROM;
    q.receiver = "receiver.example";
    q.now_s = 1700000000;
    q.default_exp = (h & 8) ? "DEFAULT" : NULL;
    q.trace = (h & 16) != 0;

    struct spf_outcome o1, o2, o3;
    d.w = VOID_WORLD;
    evaluate(&d, &q, false, &a, &o1);
    check_outcome(&o1);
    d.w = ECHO_WORLD;
    evaluate(&d, &q, false, &a, &o2);
    check_outcome(&o2);
    evaluate(&d, &q, true, &a, &o3);
    check_outcome(&o3);
    FUZZ_CHECK(o2.result == o3.result && o2.dns_terms == o3.dns_terms &&
                   o2.void_lookups == o3.void_lookups && strcmp(o2.mechanism, o3.mechanism) == 0 &&
                   (!o2.explanation) == (!o3.explanation) &&
                   (!o2.explanation || strcmp(o2.explanation, o3.explanation) == 0),
               "delivery order changed the outcome: %s/%u/%u vs %s/%u/%u",
               spf_result_name(o2.result), o2.dns_terms, o2.void_lookups,
               spf_result_name(o3.result), o3.dns_terms, o3.void_lookups);
    if (getenv("FUZZ_SPF_VERBOSE"))
        fprintf(stderr, "void world %s (%u terms, %u void); echo world %s (%u terms, %u void)\n",
                spf_result_name(o1.result), o1.dns_terms, o1.void_lookups,
                spf_result_name(o2.result), o2.dns_terms, o2.void_lookups);
    free(d.wanted);
    arena_fini(&a);
    return 0;
}
