/* engine/spf_eval.c - RFC 7208 check_host() over a memo of DNS answers (spf.h).
 *
 * Each spf_eval() runs check_host() from the top against the memo. A lookup without an
 * answer is marked wanted-and-needed and the run unwinds with EV_PENDING; the caller fetches
 * it and runs again. So everything a run computes - term and void counts, `secure`, the
 * problem text, the trace - is recomputed from zero each run and follows the evaluation
 * exactly: nothing is counted twice however many runs it takes. Invariant: EV_PENDING is
 * returned only after a NEED lookup came back without an answer (spf_memo_blocked > 0 once
 * it is handed out), so a driver never spins.
 *
 * Prefetch: the first time a record is parsed, the lookups its include/redirect (TXT),
 * a (A/AAAA), mx (MX) and exists (A) terms will make are marked wanted-but-not-needed; an
 * mx or ptr term wants every name's addresses at once, needing only the next one in order.
 * Answers are only ever used in evaluation order, so which answers happen to be in the memo
 * never changes a result.
 *
 * Choices where RFC 7208 leaves room (each matches the preferred OpenSPF suite answer):
 * - a target name that cannot be a DNS name (empty label, label > 63) makes a/mx/ptr/exists
 *   not match, without a lookup (4.8, 5/10);
 * - a void lookup is a term whose own query (a: A/AAAA, mx: MX, exists: A, ptr: PTR,
 *   include/redirect: TXT) gives NXDOMAIN or no records; the third one is a permerror;
 * - mx: an MX answer of more than 10 names is a permerror; an exchange "" (null MX) is
 *   skipped; an address lookup error is a temperror (5, not 5.5);
 * - ptr and %{p}: the first 10 PTR names in answer order; lookup errors skip the name
 *   (5.5, so a CNAME loop does not validate); %{p} prefers <domain>, then a subdomain of it,
 *   then the first validated name, else "unknown" (7.3);
 * - %{i} of an IPv6 client uses upper-case nibbles (the suite's explanation text);
 * - exp=: looked up only for a fail of the top check_host() (or of a redirect target), never
 *   counted; any problem (expansion, DNS, not exactly one TXT, a byte outside 0x20-0x7e in
 *   the text or its expansion) gives query.default_exp;
 * - a DNSSEC-bogus answer is a DNS error (temperror where errors are).
 * `secure` is the AND over every answer the evaluation consulted (vacuously true). */
#include "engine/spf.h"
#include "engine/spf_macro.h"
#include "engine/spf_memo.h"
#include "engine/spf_record.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/base/log.h"

#define SPF_TERMS_MAX 10
#define SPF_VOID_MAX 2
#define SPF_MX_NAMES_MAX 10
#define SPF_PTR_NAMES_MAX 10
#define SPF_LABEL_MAX 63
#define SHOWN_MAX 80 /* bytes of a name quoted in a problem or trace line */
#define FMT_MAX 512  /* a problem or trace line */

enum {
    EV_PENDING = -1, /* a needed answer is missing */
    M_MATCH = 16,    /* mechanism results; errors are SPF_RESULT_{TEMP,PERM}ERROR */
    M_NOMATCH = 17,
};

/* record selection for one TXT answer, cached on its memo slot */
enum sel_status { SEL_NONE, SEL_MULTI, SEL_BAD, SEL_OK };

struct txt_sel {
    enum sel_status status;
    struct spf_record rec;
    const char *problem;
    bool prefetched;
};

/* One evaluation run */
struct ev {
    const struct spf_query *q;
    struct spf_memo *m;
    struct arena *s; /* the run's scratch */
    struct ip_addr ip;
    bool v4;
    enum dns_type atype; /* A or AAAA: the client's family */
    const char *helo;
    const char *sender; /* <sender>, postmaster substituted */
    const char *local;
    const char *domain0; /* the top <domain>, lower case, no trailing dot */
    char ibuf[72], cbuf[48], rev[80], tbuf[24];
    unsigned terms, voids;
    bool secure;
    const char *problem;
    const char *mechanism;
    const char *explanation;
    char *trace;
    size_t tlen, tcap;
};

/* %{p}, computed at most once per check_host() level and run */
struct p_ctx {
    struct ev *e;
    const char *domain;
    const char *value;
};

const char *spf_result_name(enum spf_result r)
{
    switch (r) {
    case SPF_RESULT_NONE:
        return "none";
    case SPF_RESULT_NEUTRAL:
        return "neutral";
    case SPF_RESULT_PASS:
        return "pass";
    case SPF_RESULT_FAIL:
        return "fail";
    case SPF_RESULT_SOFTFAIL:
        return "softfail";
    case SPF_RESULT_TEMPERROR:
        return "temperror";
    case SPF_RESULT_PERMERROR:
        return "permerror";
    }
    return "unknown";
}

int spf_result_parse(const char *s)
{
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        if (s && strcmp(s, spf_result_name((enum spf_result)r)) == 0)
            return r;
    return -1;
}

/* --- small helpers ------------------------------------------------------------------- */

/* status_name - DNS status for traces and problems */
static const char *status_name(enum dns_status s)
{
    switch (s) {
    case DNS_OK:
        return "ok";
    case DNS_NODATA:
        return "no records";
    case DNS_NXDOMAIN:
        return "NXDOMAIN";
    case DNS_SERVFAIL:
        return "SERVFAIL";
    case DNS_TIMEOUT:
        return "timeout";
    case DNS_BOGUS:
        return "DNSSEC bogus";
    case DNS_ERROR:
        return "error";
    }
    return "unknown";
}

/* shown - a sanitised, bounded copy of s for problem and trace text */
static const char *shown(struct ev *e, const char *s)
{
    char *d = arena_alloc(e->s, SHOWN_MAX + 8);
    return log_sanitize(d, SHOWN_MAX + 8, s, strlen(s));
}

/* vfmt - printf into the scratch arena (at most FMT_MAX - 1 bytes) */
static char *vfmt(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *vfmt(struct arena *a, const char *fmt, va_list ap)
{
    char buf[FMT_MAX];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    return arena_strndup(a, buf, len);
}

/* set_problem - the short reason of a none/permerror/temperror result */
static void set_problem(struct ev *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_problem(struct ev *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->problem = vfmt(e->s, fmt, ap);
    va_end(ap);
}

/* tracef - one trace line indented by depth (only with query.trace): a check_host()
 * line at its nesting depth, the lines about its terms one deeper */
static void tracef(struct ev *e, unsigned depth, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void tracef(struct ev *e, unsigned depth, const char *fmt, ...)
{
    if (!e->q->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *line = vfmt(e->s, fmt, ap);
    va_end(ap);
    size_t add = 2 * (size_t)depth + strlen(line) + 1;
    if (e->tlen + add + 1 > e->tcap) {
        size_t cap = e->tcap ? e->tcap : 512;
        while (cap < e->tlen + add + 1)
            cap *= 2;
        char *t = arena_alloc(e->s, cap);
        if (e->tlen)
            memcpy(t, e->trace, e->tlen);
        e->trace = t;
        e->tcap = cap;
    }
    memset(e->trace + e->tlen, ' ', 2 * (size_t)depth);
    e->tlen += 2 * (size_t)depth;
    memcpy(e->trace + e->tlen, line, strlen(line));
    e->tlen += strlen(line);
    e->trace[e->tlen++] = '\n';
    e->trace[e->tlen] = '\0';
}

/* TRACE - tracef, evaluating its arguments only when the query asked for a trace */
#define TRACE(e, depth, ...)                                                                       \
    do {                                                                                           \
        if ((e)->q->trace)                                                                         \
            tracef((e), (depth), __VA_ARGS__);                                                     \
    } while (0)

/* lower_copy - ASCII lower-case copy of s[0..n) in a */
static char *lower_copy(struct arena *a, const char *s, size_t n)
{
    char *d = arena_strndup(a, s, n);
    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
    return d;
}

/* name_ok - usable as a DNS query name: 1..253 bytes of labels of 1..63 bytes */
static bool name_ok(const char *n)
{
    size_t len = strlen(n), label = 0;
    if (len == 0 || len > SPF_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (n[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > SPF_LABEL_MAX) {
            return false;
        }
    }
    return label > 0;
}

/* domain_ok - a <domain> check_host() accepts (4.3): a query name of at least two labels,
 * printable ASCII only, ending in a toplabel (so no IP or domain literals) */
static bool domain_ok(const char *n)
{
    if (!name_ok(n))
        return false;
    for (const unsigned char *p = (const unsigned char *)n; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    const char *dot = strrchr(n, '.');
    return dot && spf_toplabel_valid(dot + 1, strlen(dot + 1));
}

/* name_under - name equals parent or ends in "." parent (ASCII case-insensitive) */
static bool name_under(const char *name, const char *parent)
{
    size_t n = strlen(name), p = strlen(parent);
    if (n < p || strcasecmp(name + n - p, parent) != 0)
        return false;
    return n == p || name[n - p - 1] == '.';
}

/* prefix_eq - the first bits bits of a and b agree */
static bool prefix_eq(const struct ip_addr *a, const struct ip_addr *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a->b, b->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xffu << (8 - rest));
    return (a->b[full] & m) == (b->b[full] & m);
}

/* use - the evaluation consulted ans */
static void use(struct ev *e, const struct dns_answer *ans)
{
    if (!ans->secure)
        e->secure = false;
}

/* answer - the answer of (name, type), recorded as wanted (and needed) when missing */
static const struct dns_answer *answer(struct ev *e, unsigned depth, const char *name,
                                       enum dns_type type, enum spf_memo_want want)
{
    struct spf_memo_slot *sl = spf_memo_slot(e->m, name, type, want);
    if (!sl->ans && want == SPF_MEMO_NEED)
        TRACE(e, depth + 1, "waiting for %s %s", dns_type_name(type), shown(e, name));
    return sl->ans;
}

/* dns_failed - a status that is a DNS error (RFC 7208 5: temperror for most terms) */
static bool dns_failed(enum dns_status s)
{
    return s != DNS_OK && s != DNS_NODATA && s != DNS_NXDOMAIN;
}

/* count_term - one more DNS-querying term; false (and the problem set) past the limit */
static bool count_term(struct ev *e)
{
    if (++e->terms <= SPF_TERMS_MAX)
        return true;
    set_problem(e, "more than %d DNS-querying terms", SPF_TERMS_MAX);
    return false;
}

/* void_hit - one more void lookup; true (and the problem set) past the limit */
static bool void_hit(struct ev *e, const char *name)
{
    if (++e->voids <= SPF_VOID_MAX)
        return false;
    set_problem(e, "more than %d void lookups (the last: %s)", SPF_VOID_MAX, shown(e, name));
    return true;
}

/* addr_match - an A/AAAA record address matches the client under the term's CIDR */
static bool addr_match(const struct ev *e, const struct ip_addr *a, const struct spf_mech *m)
{
    return e->v4 ? prefix_eq(&e->ip, a, 96u + m->cidr4) : prefix_eq(&e->ip, a, m->cidr6);
}

/* --- the query's fixed strings ------------------------------------------------------- */

/* ev_init - the identity, sender and client strings of q (scratch arena s) */
static void ev_init(struct ev *e, const struct spf_query *q, struct spf_memo *m, struct arena *s)
{
    memset(e, 0, sizeof(*e));
    e->q = q;
    e->m = m;
    e->s = s;
    e->secure = true;
    e->ip = q->ip;
    e->v4 = ip_is_v4(&q->ip);
    e->atype = e->v4 ? DNS_T_A : DNS_T_AAAA;
    e->helo = q->helo ? q->helo : "";

    const char *local = "postmaster", *dom = e->helo;
    size_t local_len = strlen(local), dom_len = strlen(dom);
    const char *snd = q->sender ? q->sender : "";
    if (q->identity == SPF_ID_MAILFROM && snd[0]) {
        const char *at = strrchr(snd, '@');
        if (!at) {
            local = snd; /* no domain at all: check_host() gives none */
            local_len = strlen(snd);
            dom = "";
            dom_len = 0;
        } else {
            if (at > snd) {
                local = snd;
                local_len = (size_t)(at - snd);
            }
            dom = at + 1;
            dom_len = strlen(dom);
        }
    }
    e->local = arena_strndup(s, local, local_len);
    char *sender = arena_alloc(s, local_len + dom_len + 2);
    memcpy(sender, local, local_len);
    sender[local_len] = '@';
    memcpy(sender + local_len + 1, dom, dom_len);
    sender[local_len + 1 + dom_len] = '\0';
    e->sender = sender;
    if (dom_len > 0 && dom[dom_len - 1] == '.')
        dom_len--;
    e->domain0 = lower_copy(s, dom, dom_len);

    const uint8_t *b = e->ip.b;
    if (e->v4) {
        snprintf(e->ibuf, sizeof(e->ibuf), "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
        memcpy(e->cbuf, e->ibuf, strlen(e->ibuf) + 1);
        snprintf(e->rev, sizeof(e->rev), "%u.%u.%u.%u.in-addr.arpa", b[15], b[14], b[13], b[12]);
    } else {
        static const char hex_up[] = "0123456789ABCDEF", hex_lo[] = "0123456789abcdef";
        char *p = e->ibuf, *r = e->rev;
        for (int i = 0; i < 16; i++) {
            *p++ = hex_up[b[i] >> 4];
            *p++ = '.';
            *p++ = hex_up[b[i] & 15];
            *p++ = i < 15 ? '.' : '\0';
        }
        for (int i = 15; i >= 0; i--) {
            *r++ = hex_lo[b[i] & 15];
            *r++ = '.';
            *r++ = hex_lo[b[i] >> 4];
            *r++ = '.';
        }
        memcpy(r, "ip6.arpa", sizeof("ip6.arpa"));
        if (!inet_ntop(AF_INET6, b, e->cbuf, sizeof(e->cbuf)))
            snprintf(e->cbuf, sizeof(e->cbuf), "%s", "unknown");
    }
    snprintf(e->tbuf, sizeof(e->tbuf), "%" PRId64, q->now_s);
}

static const char *p_get(void *arg);

/* vars_init - the macro values of the check_host() level for domain */
static void vars_init(struct ev *e, struct spf_macro_vars *v, const char *domain, struct p_ctx *pc)
{
    pc->e = e;
    pc->domain = domain;
    pc->value = NULL;
    v->s = e->sender;
    v->l = e->local;
    v->o = e->domain0;
    v->d = domain;
    v->i = e->ibuf;
    v->h = e->helo;
    v->c = e->cbuf;
    v->r = e->q->receiver ? e->q->receiver : "unknown";
    v->t = e->tbuf;
    v->v = e->v4 ? "in-addr" : "ip6";
    v->get_p = p_get;
    v->arg = pc;
}

/* --- ptr and %{p}: validated names (5.5, 7.3) ---------------------------------------- */

/* validates - does an address answer of name contain the client? NULL answer: pending */
static int validates(struct ev *e, const struct dns_answer *ans)
{
    use(e, ans);
    if (ans->status != DNS_OK)
        return 0; /* errors and void: this name does not validate (5.5) */
    for (unsigned i = 0; i < ans->n; i++)
        if (memcmp(ans->rr[i].addr.b, e->ip.b, 16) == 0)
            return 1;
    return 0;
}

/* p_get - %{p} for the level in arg; NULL while answers are missing */
static const char *p_get(void *arg)
{
    struct p_ctx *pc = arg;
    struct ev *e = pc->e;
    if (pc->value)
        return pc->value;
    const struct dns_answer *ans = answer(e, 0, e->rev, DNS_T_PTR, SPF_MEMO_NEED);
    if (!ans)
        return NULL;
    use(e, ans);
    const char *best = NULL;
    int best_rank = 0;
    bool pend = false;
    if (ans->status == DNS_OK) {
        unsigned n = ans->n < SPF_PTR_NAMES_MAX ? ans->n : SPF_PTR_NAMES_MAX;
        for (unsigned i = 0; i < n && best_rank < 3; i++) {
            const char *name = ans->rr[i].name;
            if (!name || !name_ok(name))
                continue;
            const struct dns_answer *aa =
                answer(e, 0, name, e->atype, pend ? SPF_MEMO_PREFETCH : SPF_MEMO_NEED);
            if (!aa) {
                pend = true;
                continue;
            }
            if (pend || !validates(e, aa))
                continue;
            int rank = strcasecmp(name, pc->domain) == 0 ? 3 : name_under(name, pc->domain) ? 2 : 1;
            if (rank > best_rank) {
                best_rank = rank;
                best = name;
            }
        }
    }
    if (pend && best_rank < 3)
        return NULL;
    pc->value = best ? best : "unknown";
    return pc->value;
}

/* --- mechanisms ---------------------------------------------------------------------- */

static int check_host(struct ev *e, const char *domain, unsigned depth, bool top);

/* eval_include - 5.2: the recursive result decides */
static int eval_include(struct ev *e, const char *target, unsigned depth)
{
    int r = check_host(e, target, depth + 1, false);
    switch (r) {
    case EV_PENDING:
        return EV_PENDING;
    case SPF_RESULT_PASS:
        return M_MATCH;
    case SPF_RESULT_FAIL:
    case SPF_RESULT_SOFTFAIL:
    case SPF_RESULT_NEUTRAL:
        return M_NOMATCH;
    case SPF_RESULT_TEMPERROR:
        return SPF_RESULT_TEMPERROR;
    case SPF_RESULT_NONE:
        set_problem(e, "include:%s has no SPF record", shown(e, target));
        return SPF_RESULT_PERMERROR;
    default:
        return SPF_RESULT_PERMERROR;
    }
}

/* eval_addresses - 5.3 a / 5.7 exists: one address lookup of target */
static int eval_addresses(struct ev *e, const struct spf_mech *m, const char *target,
                          unsigned depth)
{
    bool exists = m->kind == SPF_MECH_EXISTS;
    enum dns_type t = exists ? DNS_T_A : e->atype;
    const struct dns_answer *ans = answer(e, depth, target, t, SPF_MEMO_NEED);
    if (!ans)
        return EV_PENDING;
    use(e, ans);
    if (dns_failed(ans->status)) {
        set_problem(e, "%s %s: %s", dns_type_name(t), shown(e, target), status_name(ans->status));
        return SPF_RESULT_TEMPERROR;
    }
    if (ans->status != DNS_OK)
        return void_hit(e, target) ? SPF_RESULT_PERMERROR : M_NOMATCH;
    if (exists)
        return ans->n > 0 ? M_MATCH : M_NOMATCH;
    for (unsigned i = 0; i < ans->n; i++)
        if (addr_match(e, &ans->rr[i].addr, m))
            return M_MATCH;
    return M_NOMATCH;
}

/* eval_mx - 5.4: the addresses of every exchange, in answer order */
static int eval_mx(struct ev *e, const struct spf_mech *m, const char *target, unsigned depth)
{
    const struct dns_answer *ans = answer(e, depth, target, DNS_T_MX, SPF_MEMO_NEED);
    if (!ans)
        return EV_PENDING;
    use(e, ans);
    if (dns_failed(ans->status)) {
        set_problem(e, "MX %s: %s", shown(e, target), status_name(ans->status));
        return SPF_RESULT_TEMPERROR;
    }
    if (ans->status != DNS_OK)
        return void_hit(e, target) ? SPF_RESULT_PERMERROR : M_NOMATCH;
    if (ans->n > SPF_MX_NAMES_MAX) {
        set_problem(e, "MX %s has %u names, more than %d", shown(e, target), ans->n,
                    SPF_MX_NAMES_MAX);
        return SPF_RESULT_PERMERROR;
    }
    bool pend = false;
    for (unsigned i = 0; i < ans->n; i++) {
        const char *x = ans->rr[i].name;
        if (!x || !x[0] || !name_ok(x))
            continue; /* null MX (RFC 7505) or unusable: no addresses */
        const struct dns_answer *aa =
            answer(e, depth, x, e->atype, pend ? SPF_MEMO_PREFETCH : SPF_MEMO_NEED);
        if (!aa) {
            pend = true;
            continue;
        }
        if (pend)
            continue; /* only ever use answers in evaluation order */
        use(e, aa);
        if (dns_failed(aa->status)) {
            set_problem(e, "%s %s (MX of %s): %s", dns_type_name(e->atype), shown(e, x),
                        shown(e, target), status_name(aa->status));
            return SPF_RESULT_TEMPERROR;
        }
        for (unsigned j = 0; aa->status == DNS_OK && j < aa->n; j++)
            if (addr_match(e, &aa->rr[j].addr, m))
                return M_MATCH;
    }
    return pend ? EV_PENDING : M_NOMATCH;
}

/* eval_ptr - 5.5: a validated name of the client equal to or under target */
static int eval_ptr(struct ev *e, const char *target, unsigned depth)
{
    const struct dns_answer *ans = answer(e, depth, e->rev, DNS_T_PTR, SPF_MEMO_NEED);
    if (!ans)
        return EV_PENDING;
    use(e, ans);
    if (ans->status == DNS_NXDOMAIN || ans->status == DNS_NODATA)
        return void_hit(e, e->rev) ? SPF_RESULT_PERMERROR : M_NOMATCH;
    if (ans->status != DNS_OK)
        return M_NOMATCH; /* 5.5: a PTR lookup error is no match */
    unsigned n = ans->n < SPF_PTR_NAMES_MAX ? ans->n : SPF_PTR_NAMES_MAX;
    bool pend = false;
    for (unsigned i = 0; i < n; i++) {
        const char *name = ans->rr[i].name;
        if (!name || !name_ok(name) || !name_under(name, target))
            continue;
        const struct dns_answer *aa =
            answer(e, depth, name, e->atype, pend ? SPF_MEMO_PREFETCH : SPF_MEMO_NEED);
        if (!aa) {
            pend = true;
            continue;
        }
        if (!pend && validates(e, aa))
            return M_MATCH;
    }
    return pend ? EV_PENDING : M_NOMATCH;
}

/* eval_mech - one mechanism: M_MATCH, M_NOMATCH, EV_PENDING or an error result */
static int eval_mech(struct ev *e, const struct spf_mech *m, const char *domain,
                     const struct spf_macro_vars *v, unsigned depth)
{
    switch (m->kind) {
    case SPF_MECH_ALL:
        return M_MATCH;
    case SPF_MECH_IP4:
        return e->v4 && prefix_eq(&e->ip, &m->net, 96u + m->cidr4) ? M_MATCH : M_NOMATCH;
    case SPF_MECH_IP6:
        return !e->v4 && prefix_eq(&e->ip, &m->net, m->cidr6) ? M_MATCH : M_NOMATCH;
    default:
        break;
    }
    if (!count_term(e))
        return SPF_RESULT_PERMERROR;
    const char *target = domain;
    if (m->domain) {
        char *t;
        int rc = spf_macro_target(m->domain, m->domain_len, v, e->s, &t);
        if (rc == SPF_MACRO_PENDING)
            return EV_PENDING;
        if (rc != SPF_MACRO_OK) {
            set_problem(e, "cannot expand '%.*s'", (int)m->text_len, m->text);
            return SPF_RESULT_PERMERROR;
        }
        target = t;
    }
    if (m->kind == SPF_MECH_INCLUDE)
        return eval_include(e, target, depth);
    if (!name_ok(target)) {
        TRACE(e, depth + 1, "%.*s: target '%s' is not a DNS name: no match", (int)m->text_len,
              m->text, shown(e, target));
        return M_NOMATCH;
    }
    switch (m->kind) {
    case SPF_MECH_A:
    case SPF_MECH_EXISTS:
        return eval_addresses(e, m, target, depth);
    case SPF_MECH_MX:
        return eval_mx(e, m, target, depth);
    case SPF_MECH_PTR:
        return eval_ptr(e, target, depth);
    default:
        break;
    }
    PANIC("spf: mechanism kind %d not handled", (int)m->kind);
}

/* --- records ------------------------------------------------------------------------- */

/* select_record - 4.5 over a TXT answer, cached on the slot (parsed once per check) */
static struct txt_sel *select_record(struct ev *e, struct spf_memo_slot *sl)
{
    if (sl->cache)
        return sl->cache;
    struct arena *ma = spf_memo_arena(e->m);
    struct txt_sel *s = arena_alloc(ma, sizeof(*s));
    memset(s, 0, sizeof(*s));
    const struct dns_rr *found = NULL;
    unsigned count = 0;
    for (unsigned i = 0; i < sl->ans->n; i++) {
        const struct dns_rr *rr = &sl->ans->rr[i];
        if (rr->txt && spf_record_is_spf1(rr->txt, rr->txt_len)) {
            count++;
            found = rr;
        }
    }
    if (count == 0)
        s->status = SEL_NONE;
    else if (count > 1)
        s->status = SEL_MULTI;
    else if (spf_record_parse(found->txt, found->txt_len, ma, &s->rec, &s->problem) != 0)
        s->status = SEL_BAD;
    else
        s->status = SEL_OK;
    sl->cache = s;
    return s;
}

/* prefetch_one - want the lookup a term will make, if its target is known without DNS */
static void prefetch_one(struct ev *e, const char *spec, size_t len, const char *domain,
                         const struct spf_macro_vars *v, enum dns_type type)
{
    const char *name = domain;
    if (spec) {
        char *t;
        if (spf_macro_has_p(spec, len) || spf_macro_target(spec, len, v, e->s, &t) != 0)
            return;
        name = t;
    }
    if (name_ok(name))
        spf_memo_slot(e->m, name, type, SPF_MEMO_PREFETCH);
}

/* prefetch - the lookups of a record's first 10 DNS-querying terms and its redirect */
static void prefetch(struct ev *e, const struct spf_record *rec, const char *domain,
                     const struct spf_macro_vars *v)
{
    unsigned n = 0;
    for (unsigned i = 0; i < rec->n_mech && n < SPF_TERMS_MAX; i++) {
        const struct spf_mech *m = &rec->mech[i];
        if (!spf_mech_needs_dns(m->kind))
            continue;
        n++;
        switch (m->kind) {
        case SPF_MECH_INCLUDE:
            prefetch_one(e, m->domain, m->domain_len, domain, v, DNS_T_TXT);
            break;
        case SPF_MECH_A:
            prefetch_one(e, m->domain, m->domain_len, domain, v, e->atype);
            break;
        case SPF_MECH_MX:
            prefetch_one(e, m->domain, m->domain_len, domain, v, DNS_T_MX);
            break;
        case SPF_MECH_EXISTS:
            prefetch_one(e, m->domain, m->domain_len, domain, v, DNS_T_A);
            break;
        case SPF_MECH_PTR:
            spf_memo_slot(e->m, e->rev, DNS_T_PTR, SPF_MEMO_PREFETCH);
            break;
        default:
            break;
        }
    }
    if (rec->redirect && n < SPF_TERMS_MAX)
        prefetch_one(e, rec->redirect, rec->redirect_len, domain, v, DNS_T_TXT);
}

/* printable - every byte of s[0..n) is 0x20..0x7e */
static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* explain - 6.2: the explanation of a fail of this record; 0 or EV_PENDING */
static int explain(struct ev *e, const struct spf_record *rec, const struct spf_macro_vars *v,
                   unsigned depth)
{
    e->explanation = e->q->default_exp;
    if (!rec->exp)
        return 0;
    char *name;
    int rc = spf_macro_target(rec->exp, rec->exp_len, v, e->s, &name);
    if (rc == SPF_MACRO_PENDING)
        return EV_PENDING;
    if (rc != SPF_MACRO_OK || !name_ok(name)) {
        TRACE(e, depth + 1, "exp: unusable target: default explanation");
        return 0;
    }
    const struct dns_answer *ans = answer(e, depth, name, DNS_T_TXT, SPF_MEMO_NEED);
    if (!ans)
        return EV_PENDING;
    use(e, ans);
    if (ans->status != DNS_OK || ans->n != 1 || !ans->rr[0].txt ||
        !printable(ans->rr[0].txt, ans->rr[0].txt_len)) {
        TRACE(e, depth + 1, "exp=%s: %s, %u records: default explanation", shown(e, name),
              status_name(ans->status), ans->n);
        return 0;
    }
    char *text;
    size_t len;
    rc = spf_macro_expand(ans->rr[0].txt, ans->rr[0].txt_len, SPF_MACRO_EXP, v, e->s, &text, &len,
                          NULL);
    if (rc == SPF_MACRO_PENDING)
        return EV_PENDING;
    if (rc != SPF_MACRO_OK || !printable(text, len)) {
        TRACE(e, depth + 1, "exp=%s: bad explanation text: default explanation", shown(e, name));
        return 0;
    }
    e->explanation = text;
    return 0;
}

/* check_host - RFC 7208 4: the result for domain (an spf_result) or EV_PENDING. top: this
 * level decides the outcome's mechanism and explanation (the top one and redirects) */
static int check_host(struct ev *e, const char *domain, unsigned depth, bool top)
{
    TRACE(e, depth, "check_host(%s)", shown(e, domain));
    if (!domain_ok(domain)) {
        set_problem(e, "malformed domain '%s'", shown(e, domain));
        return SPF_RESULT_NONE;
    }
    struct spf_memo_slot *sl = spf_memo_slot(e->m, domain, DNS_T_TXT, SPF_MEMO_NEED);
    if (!sl->ans) {
        TRACE(e, depth + 1, "waiting for TXT %s", shown(e, domain));
        return EV_PENDING;
    }
    const struct dns_answer *ans = sl->ans;
    use(e, ans);
    if (dns_failed(ans->status)) {
        set_problem(e, "TXT %s: %s", shown(e, domain), status_name(ans->status));
        return SPF_RESULT_TEMPERROR;
    }
    if (ans->status != DNS_OK) {
        if (depth > 0 && void_hit(e, domain))
            return SPF_RESULT_PERMERROR;
        set_problem(e, "no SPF record at %s (%s)", shown(e, domain), status_name(ans->status));
        return SPF_RESULT_NONE;
    }
    struct txt_sel *sel = select_record(e, sl);
    switch (sel->status) {
    case SEL_NONE:
        set_problem(e, "no SPF record at %s", shown(e, domain));
        return SPF_RESULT_NONE;
    case SEL_MULTI:
        set_problem(e, "more than one SPF record at %s", shown(e, domain));
        return SPF_RESULT_PERMERROR;
    case SEL_BAD:
        set_problem(e, "SPF record of %s: %s", shown(e, domain), sel->problem);
        return SPF_RESULT_PERMERROR;
    case SEL_OK:
        break;
    }
    const struct spf_record *rec = &sel->rec;
    struct p_ctx pc;
    struct spf_macro_vars v;
    vars_init(e, &v, domain, &pc);
    if (!sel->prefetched) {
        prefetch(e, rec, domain, &v);
        sel->prefetched = true;
    }

    for (unsigned i = 0; i < rec->n_mech; i++) {
        const struct spf_mech *m = &rec->mech[i];
        int r = eval_mech(e, m, domain, &v, depth);
        if (r == M_NOMATCH) {
            TRACE(e, depth + 1, "%.*s: no match", (int)m->text_len, m->text);
            continue;
        }
        if (r != M_MATCH) {
            if (r != EV_PENDING)
                TRACE(e, depth + 1, "%.*s: %s", (int)m->text_len, m->text,
                      spf_result_name((enum spf_result)r));
            return r;
        }
        TRACE(e, depth + 1, "%.*s: match: %s", (int)m->text_len, m->text, spf_result_name(m->qual));
        if (top) {
            e->mechanism = arena_strndup(e->s, m->text, m->text_len);
            if (m->qual == SPF_RESULT_FAIL && explain(e, rec, &v, depth) == EV_PENDING)
                return EV_PENDING;
        }
        return (int)m->qual;
    }
    if (rec->redirect) {
        if (!count_term(e))
            return SPF_RESULT_PERMERROR;
        char *target;
        int rc = spf_macro_target(rec->redirect, rec->redirect_len, &v, e->s, &target);
        if (rc == SPF_MACRO_PENDING)
            return EV_PENDING;
        if (rc != SPF_MACRO_OK) {
            set_problem(e, "cannot expand redirect=%.*s", (int)rec->redirect_len, rec->redirect);
            return SPF_RESULT_PERMERROR;
        }
        TRACE(e, depth + 1, "redirect=%s", shown(e, target));
        int r = check_host(e, target, depth + 1, top);
        if (r == SPF_RESULT_NONE) {
            set_problem(e, "redirect=%s has no SPF record", shown(e, target));
            return SPF_RESULT_PERMERROR;
        }
        return r;
    }
    TRACE(e, depth + 1, "no match: neutral");
    return SPF_RESULT_NEUTRAL;
}

/* --- entry points -------------------------------------------------------------------- */

/* copy_out - s into the caller's arena (NULL stays NULL) */
static const char *copy_out(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

enum spf_status spf_eval(const struct spf_query *q, struct spf_memo *m, struct arena *a,
                         struct spf_outcome *out)
{
    spf_memo_run_begin(m);
    struct ev e;
    ev_init(&e, q, m, spf_memo_scratch(m));
    int r = check_host(&e, e.domain0, 0, true);
    if (r == EV_PENDING)
        return SPF_PENDING;
    enum spf_result res = (enum spf_result)r;
    memset(out, 0, sizeof(*out));
    out->result = res;
    out->secure = e.secure;
    out->domain = copy_out(a, e.domain0);
    out->sender = copy_out(a, e.sender);
    out->mechanism = copy_out(a, e.mechanism ? e.mechanism : "default");
    if (res == SPF_RESULT_FAIL)
        out->explanation = copy_out(a, e.explanation);
    if (res == SPF_RESULT_NONE || res == SPF_RESULT_TEMPERROR || res == SPF_RESULT_PERMERROR)
        out->problem = copy_out(a, e.problem ? e.problem : spf_result_name(res));
    out->trace = q->trace ? copy_out(a, e.trace ? e.trace : "") : NULL;
    out->dns_terms = e.terms;
    out->void_lookups = e.voids;
    return SPF_DONE;
}

void spf_outcome_timeout(const struct spf_query *q, struct arena *a, struct spf_outcome *out)
{
    struct arena scratch;
    char buf[1024];
    arena_init(&scratch, buf, sizeof(buf));
    struct ev e;
    ev_init(&e, q, NULL, &scratch);
    memset(out, 0, sizeof(*out));
    out->result = SPF_RESULT_TEMPERROR;
    out->secure = false;
    out->domain = copy_out(a, e.domain0);
    out->sender = copy_out(a, e.sender);
    out->mechanism = copy_out(a, "default");
    out->problem = copy_out(a, "SPF check deadline passed");
    out->trace = q->trace ? copy_out(a, "deadline passed\n") : NULL;
    arena_fini(&scratch);
}
