/* dns/dns_fake.c - in-memory DNS backend for tests (dns.h, "fake backend").
 *
 * The zone is a hash table of names, each with its records and flags. start() computes the
 * answer at once (following CNAMEs, at most FAKE_CNAME_HOPS, a loop is SERVFAIL) and queues
 * it; the eventfd becomes readable; process() delivers the queue through
 * dns_resolver_deliver. A TIMEOUT name is never answered, so the front end's deadline fires.
 * Nothing is delivered from inside start().
 *
 * dns_fake_load line format (dns.h), with these details:
 *   - a token is a run of non-blank bytes or a "quoted string"; inside quotes \" \\ \t \n
 *     \r and \xNN (exactly two hex digits) are escapes. NAME and name data (MX exchange,
 *     PTR, CNAME) may be quoted too, for names with blanks or odd bytes; NUL is refused.
 *   - names are ASCII lower-cased and lose one trailing dot; "." is the root ("").
 *   - TXT/SPF data is one or more quoted strings, concatenated into one record;
 *     `TXT ""` is a record of one empty string.
 *   - flags (TIMEOUT SERVFAIL SECURE BOGUS) alone do not make a name exist: a name with
 *     flags but no records (CNAME counts) is NXDOMAIN.
 *   - along a CNAME chain the answer is secure only if every name is SECURE, bogus if any
 *     name is BOGUS, and a TIMEOUT/SERVFAIL on any name applies.
 * The zone's types are in the answer order they were loaded in.
 *
 * The front end keeps no pointer to its backend that tests can reach, so fake resolvers are
 * found through a small registry (mutex-protected: test programs may run threads). */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/base/alloc.h"
#include "engine/base/hex.h"
#include "engine/base/log.h"

#define FAKE_NAME_MAX 1024 /* zone names may be odd; the front end limits queries */
#define FAKE_TXT_MAX 65535
#define FAKE_CNAME_HOPS 16
#define FAKE_TTL_S 300u
#define FAKE_NEG_TTL_S 60u
#define FAKE_BUCKETS 256

struct fake_rr {
    enum dns_type type;
    struct dns_rr rr; /* name and txt malloc'ed */
};

struct fake_name {
    char *name;
    struct fake_rr *rr;
    size_t n, cap;
    char *cname; /* CNAME target or NULL */
    bool timeout_all, servfail, secure, bogus;
    unsigned timeout_types; /* bit per type_bit() */
    struct fake_name *next; /* hash chain */
};

struct fake_query {
    uint64_t token;
    struct dns_answer ans; /* rr points to owned storage */
    struct fake_query *next;
};

struct dns_fake {
    struct dns_backend base; /* first: the ops get &base */
    int efd;
    struct fake_name *buckets[FAKE_BUCKETS];
    struct fake_query *head, *tail;
    unsigned queries;
    struct dns_fake *reg_next;
};

/* the registry of live fakes; reg_lock protects reg_head and every reg_next */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dns_fake *reg_head;

/* type_bit - a bit per supported type for timeout_types */
static unsigned type_bit(enum dns_type t)
{
    switch (t) {
    case DNS_T_A:
        return 1u << 0;
    case DNS_T_PTR:
        return 1u << 1;
    case DNS_T_MX:
        return 1u << 2;
    case DNS_T_TXT:
        return 1u << 3;
    case DNS_T_AAAA:
        return 1u << 4;
    case DNS_T_SPF:
        return 1u << 5;
    }
    return 1u << 6;
}

/* hash_name - FNV-1a */
static size_t hash_name(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    return (size_t)(h % FAKE_BUCKETS);
}

/* find_name - the zone entry of a normalised name, or NULL */
static struct fake_name *find_name(const struct dns_fake *f, const char *name)
{
    for (struct fake_name *n = f->buckets[hash_name(name)]; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

/* get_name - the zone entry of name, created when absent */
static struct fake_name *get_name(struct dns_fake *f, const char *name)
{
    struct fake_name *n = find_name(f, name);
    if (n)
        return n;
    n = xcalloc(1, sizeof(*n));
    n->name = xstrdup(name);
    size_t b = hash_name(name);
    n->next = f->buckets[b];
    f->buckets[b] = n;
    return n;
}

/* normalise - lower case, one trailing dot dropped, "." -> "" (in place) */
static void normalise(char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] + ('a' - 'A'));
    if (len > 0 && s[len - 1] == '.')
        s[len - 1] = '\0';
}

/* --- answers ------------------------------------------------------------------------- */

/* query_free - a queued answer and its records */
static void query_free(struct fake_query *q)
{
    free(q->ans.rr);
    free(q);
}

/* resolve - fill a for (name, type); false when the query must never be answered */
static bool resolve(const struct dns_fake *f, const char *name, enum dns_type type,
                    struct dns_answer *a)
{
    bool secure = true, bogus = false;
    const char *cur = name;
    memset(a, 0, sizeof(*a));
    a->qname = name;
    a->type = type;
    for (int hop = 0; hop <= FAKE_CNAME_HOPS; hop++) {
        const struct fake_name *n = find_name(f, cur);
        if (n) {
            secure = secure && n->secure;
            bogus = bogus || n->bogus;
            if (n->timeout_all || (n->timeout_types & type_bit(type)))
                return false;
        }
        if (n && n->servfail) {
            a->status = DNS_SERVFAIL;
            a->rcode = 2;
            return true;
        }
        if (!n || (n->n == 0 && !n->cname)) {
            a->status = DNS_NXDOMAIN;
            a->rcode = 3;
            a->secure = n ? secure : false;
            a->ttl_s = FAKE_NEG_TTL_S;
            goto done;
        }
        size_t count = 0;
        for (size_t i = 0; i < n->n; i++)
            if (n->rr[i].type == type)
                count++;
        if (count > 0) {
            a->rr = xcalloc(count, sizeof(*a->rr));
            for (size_t i = 0; i < n->n; i++)
                if (n->rr[i].type == type)
                    a->rr[a->n++] = n->rr[i].rr; /* strings borrowed from the zone */
            a->status = DNS_OK;
            a->rcode = 0;
            a->secure = secure;
            a->ttl_s = FAKE_TTL_S;
            goto done;
        }
        if (!n->cname) {
            a->status = DNS_NODATA;
            a->rcode = 0;
            a->secure = secure;
            a->ttl_s = FAKE_NEG_TTL_S;
            goto done;
        }
        cur = n->cname;
    }
    a->status = DNS_SERVFAIL; /* CNAME chain too long or a loop */
    a->rcode = 2;
    return true;
done:
    if (bogus) {
        free(a->rr);
        a->rr = NULL;
        a->n = 0;
        a->status = DNS_BOGUS;
        a->secure = false;
        a->why_bogus = "fake: zone data marked BOGUS";
    }
    return true;
}

/* --- backend ops --------------------------------------------------------------------- */

/* fake_fd - the eventfd, readable while answers are queued */
static int fake_fd(const struct dns_backend *b)
{
    return ((const struct dns_fake *)b)->efd;
}

/* fake_start - answer now into the queue (or never, for TIMEOUT); no delivery here */
static int fake_start(struct dns_backend *b, const char *name, enum dns_type type, uint64_t token)
{
    struct dns_fake *f = (struct dns_fake *)b;
    f->queries++;
    struct fake_query *q = xcalloc(1, sizeof(*q));
    q->token = token;
    if (!resolve(f, name, type, &q->ans)) {
        query_free(q); /* TIMEOUT: never answered */
        return 0;
    }
    q->ans.qname = NULL; /* the front end fills what was asked */
    if (f->tail)
        f->tail->next = q;
    else
        f->head = q;
    f->tail = q;
    uint64_t one = 1;
    if (write(f->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("dns: fake: eventfd write: %s", strerror(errno));
    return 0;
}

/* fake_cancel - drop a queued answer, if there is one */
static void fake_cancel(struct dns_backend *b, uint64_t token)
{
    struct dns_fake *f = (struct dns_fake *)b;
    struct fake_query **pp = &f->head, *prev = NULL;
    while (*pp) {
        struct fake_query *q = *pp;
        if (q->token == token) {
            *pp = q->next;
            if (f->tail == q)
                f->tail = prev;
            query_free(q);
            return;
        }
        prev = q;
        pp = &q->next;
    }
}

/* fake_process - deliver every queued answer to the front end */
static void fake_process(struct dns_backend *b)
{
    struct dns_fake *f = (struct dns_fake *)b;
    uint64_t v;
    if (read(f->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("dns: fake: eventfd read: %s", strerror(errno));
    struct fake_query *q = f->head;
    f->head = f->tail = NULL;
    while (q) {
        struct fake_query *next = q->next;
        dns_resolver_deliver(b->r, q->token, &q->ans);
        query_free(q);
        q = next;
    }
}

/* fake_free - everything the fake owns, the backend struct included */
static void fake_free(struct dns_fake *f)
{
    for (size_t i = 0; i < FAKE_BUCKETS; i++) {
        struct fake_name *n = f->buckets[i];
        while (n) {
            struct fake_name *next = n->next;
            for (size_t k = 0; k < n->n; k++) {
                free(n->rr[k].rr.name);
                free(n->rr[k].rr.txt);
            }
            free(n->rr);
            free(n->cname);
            free(n->name);
            free(n);
            n = next;
        }
    }
    struct fake_query *q = f->head;
    while (q) {
        struct fake_query *next = q->next;
        query_free(q);
        q = next;
    }
    if (f->efd >= 0)
        close(f->efd);
    free(f);
}

/* fake_destroy - leave the registry and free everything */
static void fake_destroy(struct dns_backend *b)
{
    struct dns_fake *f = (struct dns_fake *)b;
    pthread_mutex_lock(&reg_lock);
    for (struct dns_fake **pp = &reg_head; *pp; pp = &(*pp)->reg_next) {
        if (*pp == f) {
            *pp = f->reg_next;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    fake_free(f);
}

static const struct dns_backend_ops fake_ops = {
    .name = "fake",
    .fd = fake_fd,
    .start = fake_start,
    .cancel = fake_cancel,
    .process = fake_process,
    .destroy = fake_destroy,
};

struct dns_resolver *dns_fake_create(uint32_t timeout_ms)
{
    struct dns_fake *f = xcalloc(1, sizeof(*f));
    f->base.ops = &fake_ops;
    f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->efd < 0) {
        log_error("dns: fake: eventfd: %s", strerror(errno));
        fake_free(f);
        return NULL;
    }
    struct dns_resolver *r = dns_resolver_new(&f->base, timeout_ms, 0);
    pthread_mutex_lock(&reg_lock);
    f->reg_next = reg_head;
    reg_head = f;
    pthread_mutex_unlock(&reg_lock);
    return r;
}

/* fake_of - the fake behind r, or NULL when r is not a fake resolver */
static struct dns_fake *fake_of(const struct dns_resolver *r)
{
    pthread_mutex_lock(&reg_lock);
    struct dns_fake *f = reg_head;
    while (f && f->base.r != r)
        f = f->reg_next;
    pthread_mutex_unlock(&reg_lock);
    return f;
}

unsigned dns_fake_queries(const struct dns_resolver *r)
{
    const struct dns_fake *f = fake_of(r);
    return f ? f->queries : 0;
}

/* --- zone text ----------------------------------------------------------------------- */

/* One line being parsed */
struct lex {
    const char *p, *end;
    char *err;
    size_t errlen;
    unsigned line;
};

/* lex_error - "line N: ..." into err; returns -1 */
static int lex_error(struct lex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lex_error(struct lex *x, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (x->err && x->errlen)
        snprintf(x->err, x->errlen, "line %u: %s", x->line, msg);
    return -1;
}

/* next_token - the next token into out[0..*len) (cap bytes, NUL added); 1 found, 0 at the
 * end of the line, -1 on error. *quoted says whether it was a quoted string. */
static int next_token(struct lex *x, char *out, size_t cap, size_t *len, bool *quoted)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\r'))
        x->p++;
    if (x->p >= x->end)
        return 0;
    size_t n = 0;
    *quoted = *x->p == '"';
    if (!*quoted) {
        while (x->p < x->end && *x->p != ' ' && *x->p != '\t' && *x->p != '\r') {
            if (n + 1 >= cap)
                return lex_error(x, "token too long");
            out[n++] = *x->p++;
        }
        out[n] = '\0';
        *len = n;
        return 1;
    }
    x->p++;
    for (;;) {
        if (x->p >= x->end)
            return lex_error(x, "unterminated string");
        char c = *x->p++;
        if (c == '"')
            break;
        if (c == '\\') {
            if (x->p >= x->end)
                return lex_error(x, "unterminated escape");
            char e = *x->p++;
            switch (e) {
            case '"':
            case '\\':
                c = e;
                break;
            case 't':
                c = '\t';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 'x': {
                int h1 = x->p < x->end ? hex_value(x->p[0]) : -1;
                int h2 = x->p + 1 < x->end ? hex_value(x->p[1]) : -1;
                if (h1 < 0 || h2 < 0)
                    return lex_error(x, "bad \\x escape (two hex digits)");
                c = (char)(h1 * 16 + h2);
                x->p += 2;
                break;
            }
            default:
                return lex_error(x, "unknown escape \\%c", e);
            }
        }
        if (n + 1 >= cap)
            return lex_error(x, "string too long");
        out[n++] = c;
    }
    out[n] = '\0';
    *len = n;
    return 1;
}

/* name_token - the next token as a normalised name (no NUL inside) */
static int name_token(struct lex *x, char *out, size_t cap, const char *what)
{
    size_t len = 0; /* set whenever rc > 0; initialised for -O3's flow analysis */
    bool quoted = false;
    int rc = next_token(x, out, cap, &len, &quoted);
    if (rc == 0)
        return lex_error(x, "missing %s", what);
    if (rc < 0)
        return -1;
    if (strlen(out) != len)
        return lex_error(x, "NUL in %s", what);
    normalise(out);
    return 0;
}

/* add_rr - append a record to n */
static struct fake_rr *add_rr(struct fake_name *n, enum dns_type type)
{
    if (n->n == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 4;
        n->rr = xrealloc(n->rr, n->cap * sizeof(*n->rr));
    }
    struct fake_rr *r = &n->rr[n->n++];
    memset(r, 0, sizeof(*r));
    r->type = type;
    return r;
}

/* parse_type - TYPE keyword -> dns type; -1 for CNAME... see callers; -2 unknown */
static int parse_type(const char *s)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {
        {"A", DNS_T_A},     {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX}, {"PTR", DNS_T_PTR},
        {"TXT", DNS_T_TXT}, {"SPF", DNS_T_SPF},   {"CNAME", -1},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(s, types[i].name) == 0)
            return types[i].type;
    return -2;
}

/* load_line - one zone line (comments and blank lines already skipped) */
static int load_line(struct dns_fake *f, struct lex *x, char *buf, size_t cap)
{
    char name[FAKE_NAME_MAX];
    if (name_token(x, name, sizeof(name), "name") < 0)
        return -1;
    size_t len;
    bool quoted;
    int rc = next_token(x, buf, cap, &len, &quoted);
    if (rc <= 0)
        return rc < 0 ? -1 : lex_error(x, "missing type after '%s'", name);
    struct fake_name *n = get_name(f, name);
    bool *flag = strcasecmp(buf, "TIMEOUT") == 0    ? &n->timeout_all
                 : strcasecmp(buf, "SERVFAIL") == 0 ? &n->servfail
                 : strcasecmp(buf, "SECURE") == 0   ? &n->secure
                 : strcasecmp(buf, "BOGUS") == 0    ? &n->bogus
                                                    : NULL;
    if (flag) {
        *flag = true;
        if (next_token(x, buf, cap, &len, &quoted) != 0)
            return lex_error(x, "junk after flag");
        return 0;
    }
    int type = parse_type(buf);
    if (type == -2)
        return lex_error(x, "unknown type '%s'", buf);
    char data[FAKE_NAME_MAX];
    if (type == -1) {
        if (name_token(x, data, sizeof(data), "CNAME target") < 0)
            return -1;
        free(n->cname);
        n->cname = xstrdup(data);
        return next_token(x, buf, cap, &len, &quoted) == 0 ? 0 : lex_error(x, "junk after CNAME");
    }
    /* NAME TYPE TIMEOUT */
    const char *save = x->p;
    rc = next_token(x, buf, cap, &len, &quoted);
    if (rc < 0)
        return -1;
    if (rc == 1 && !quoted && strcasecmp(buf, "TIMEOUT") == 0) {
        n->timeout_types |= type_bit((enum dns_type)type);
        return next_token(x, buf, cap, &len, &quoted) == 0 ? 0 : lex_error(x, "junk after TIMEOUT");
    }
    x->p = save;
    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA: {
        rc = next_token(x, buf, cap, &len, &quoted);
        if (rc <= 0)
            return rc < 0 ? -1 : lex_error(x, "missing address");
        struct fake_rr *r = add_rr(n, (enum dns_type)type);
        if (type == DNS_T_A) {
            uint8_t v4[4];
            if (inet_pton(AF_INET, buf, v4) != 1)
                return lex_error(x, "bad IPv4 address '%s'", buf);
            memset(r->rr.addr.b, 0, 10);
            r->rr.addr.b[10] = r->rr.addr.b[11] = 0xff;
            memcpy(r->rr.addr.b + 12, v4, 4);
        } else if (inet_pton(AF_INET6, buf, r->rr.addr.b) != 1) {
            return lex_error(x, "bad IPv6 address '%s'", buf);
        }
        break;
    }
    case DNS_T_MX: {
        rc = next_token(x, buf, cap, &len, &quoted);
        if (rc <= 0)
            return rc < 0 ? -1 : lex_error(x, "missing MX preference");
        char *endp;
        unsigned long pref = strtoul(buf, &endp, 10);
        if (*endp || endp == buf || pref > 65535)
            return lex_error(x, "bad MX preference '%s'", buf);
        if (name_token(x, data, sizeof(data), "MX exchange") < 0)
            return -1;
        struct fake_rr *r = add_rr(n, DNS_T_MX);
        r->rr.pref = (uint16_t)pref;
        r->rr.name = xstrdup(data);
        break;
    }
    case DNS_T_PTR: {
        if (name_token(x, data, sizeof(data), "PTR target") < 0)
            return -1;
        add_rr(n, DNS_T_PTR)->rr.name = xstrdup(data);
        break;
    }
    case DNS_T_TXT:
    case DNS_T_SPF: {
        char *txt = xmalloc(FAKE_TXT_MAX + 1);
        size_t tl = 0;
        int parts = 0;
        for (;;) {
            rc = next_token(x, buf, cap, &len, &quoted);
            if (rc == 0)
                break;
            if (rc < 0 || !quoted || tl + len > FAKE_TXT_MAX) {
                free(txt);
                return rc < 0 ? -1 : lex_error(x, "TXT data must be quoted strings");
            }
            memcpy(txt + tl, buf, len);
            tl += len;
            parts++;
        }
        if (parts == 0) {
            free(txt);
            return lex_error(x, "missing TXT strings");
        }
        txt[tl] = '\0';
        struct fake_rr *r = add_rr(n, (enum dns_type)type);
        r->rr.txt = xrealloc(txt, tl + 1);
        r->rr.txt_len = tl;
        return 0;
    }
    default:
        return lex_error(x, "unsupported type");
    }
    return next_token(x, buf, cap, &len, &quoted) == 0 ? 0 : lex_error(x, "junk after data");
}

int dns_fake_load(struct dns_resolver *r, const char *text, char *err, size_t errlen)
{
    struct dns_fake *f = fake_of(r);
    struct lex x = {NULL, NULL, err, errlen, 0};
    if (!f)
        return lex_error(&x, "not a fake resolver");
    char *buf = xmalloc(FAKE_TXT_MAX + 1);
    int rc = 0;
    const char *p = text;
    while (*p && rc == 0) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        x.p = p;
        x.end = end;
        x.line++;
        while (x.p < end && (*x.p == ' ' || *x.p == '\t' || *x.p == '\r'))
            x.p++;
        if (x.p < end && *x.p != '#')
            rc = load_line(f, &x, buf, FAKE_TXT_MAX + 1);
        p = nl ? nl + 1 : end;
    }
    free(buf);
    return rc;
}
