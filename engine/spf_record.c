/* engine/spf_record.c - SPF record selection and term parsing; grammar in spf_record.h.
 * The parser never reads past len and never relies on a NUL (TXT data may contain NULs). */
#include "engine/spf_record.h"
#include "engine/spf_macro.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "engine/base/log.h"

#define TERM_SHOWN_MAX 64 /* bytes of a bad term quoted in the problem text */

/* to_lower - ASCII lower case */
static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* is_digit - ASCII digit */
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ieq - s[0..n) equals the lower-case word w, ignoring ASCII case */
static bool ieq(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);
    if (n != wl)
        return false;
    for (size_t i = 0; i < n; i++)
        if (to_lower((unsigned char)s[i]) != (unsigned char)w[i])
            return false;
    return true;
}

bool spf_record_is_spf1(const char *txt, size_t len)
{
    return len >= 6 && ieq(txt, 6, "v=spf1") && (len == 6 || txt[6] == ' ');
}

bool spf_mech_needs_dns(enum spf_mech_kind k)
{
    return k == SPF_MECH_INCLUDE || k == SPF_MECH_A || k == SPF_MECH_MX || k == SPF_MECH_PTR ||
           k == SPF_MECH_EXISTS;
}

/* problem - "<why>: '<term>'" in the arena, the term sanitised and shortened */
static const char *problem(struct arena *a, const char *why, const char *term, size_t n)
{
    char shown[TERM_SHOWN_MAX + 8];
    log_sanitize(shown, sizeof(shown), term, n);
    size_t size = strlen(why) + strlen(shown) + 8;
    char *p = arena_alloc(a, size);
    snprintf(p, size, "%s: '%s'", why, shown);
    return p;
}

/* parse_cidr - "0" / %x31-39 0*(maxdigits-1)DIGIT with value <= max; -1 if not */
static int parse_cidr(const char *s, size_t n, unsigned maxdigits, unsigned max)
{
    if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= max ? (int)v : -1;
}

/* parse_ip4 - a strict dotted quad (qnum has no leading zeros) into IPv4-mapped form */
static bool parse_ip4(const char *s, size_t n, struct ip_addr *out)
{
    uint8_t q[4];
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k > 0) {
            if (i >= n || s[i] != '.')
                return false;
            i++;
        }
        size_t st = i;
        unsigned v = 0;
        while (i < n && is_digit((unsigned char)s[i]) && i - st < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t d = i - st;
        if (d == 0 || (d > 1 && s[st] == '0') || v > 255)
            return false;
        q[k] = (uint8_t)v;
    }
    if (i != n)
        return false;
    memset(out->b, 0, 10);
    out->b[10] = 0xff;
    out->b[11] = 0xff;
    memcpy(out->b + 12, q, 4);
    return true;
}

/* parse_ip6 - RFC 4291 text (inet_pton) */
static bool parse_ip6(const char *s, size_t n, struct ip_addr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

/* mask - clear the bits of a past prefix (0..128) */
static void mask(struct ip_addr *a, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (prefix >= lo + 8)
            continue;
        a->b[i] = prefix <= lo ? 0 : (uint8_t)(a->b[i] & (0xffu << (8 - (prefix - lo))));
    }
}

/* split_dual_cidr - find a dual-cidr-length at the end of s[0..n). Sets *end to where the
 * part before it ends (n if there is none) and the digit runs of the two lengths (NULL when
 * absent); their values are checked by the caller. */
static void split_dual_cidr(const char *s, size_t n, size_t *end, const char **c4, size_t *c4n,
                            const char **c6, size_t *c6n)
{
    *c4 = *c6 = NULL;
    *c4n = *c6n = 0;
    *end = n;
    size_t i = n;
    while (i > 0 && is_digit((unsigned char)s[i - 1]))
        i--;
    if (i == n || i == 0 || s[i - 1] != '/')
        return;
    size_t slash = i - 1;
    if (slash > 0 && s[slash - 1] == '/') {
        *c6 = s + i;
        *c6n = n - i;
        size_t e = slash - 1;
        size_t k = e;
        while (k > 0 && is_digit((unsigned char)s[k - 1]))
            k--;
        if (k < e && k > 0 && s[k - 1] == '/' && !(k >= 2 && s[k - 2] == '/')) {
            *c4 = s + k;
            *c4n = e - k;
            e = k - 1;
        }
        *end = e;
        return;
    }
    *c4 = s + i;
    *c4n = n - i;
    *end = slash;
}

static const struct {
    const char *name;
    enum spf_mech_kind kind;
} mech_names[] = {
    {"all", SPF_MECH_ALL}, {"include", SPF_MECH_INCLUDE}, {"a", SPF_MECH_A},
    {"mx", SPF_MECH_MX},   {"ptr", SPF_MECH_PTR},         {"ip4", SPF_MECH_IP4},
    {"ip6", SPF_MECH_IP6}, {"exists", SPF_MECH_EXISTS},
};

/* parse_mech - the mechanism `name` with argument r[0..rn) (starts with ':' or '/', or is
 * empty) into *m; a static reason or NULL */
static const char *parse_mech(const char *name, size_t nn, const char *r, size_t rn,
                              struct spf_mech *m)
{
    bool found = false;
    for (size_t i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++) {
        if (ieq(name, nn, mech_names[i].name)) {
            m->kind = mech_names[i].kind;
            found = true;
            break;
        }
    }
    if (!found)
        return "unknown mechanism";
    bool colon = rn > 0 && r[0] == ':';
    const char *arg = colon ? r + 1 : r;
    size_t an = colon ? rn - 1 : rn;
    m->cidr4 = 32;
    m->cidr6 = 128;
    switch (m->kind) {
    case SPF_MECH_ALL:
        return rn == 0 ? NULL : "all takes no argument";
    case SPF_MECH_INCLUDE:
    case SPF_MECH_EXISTS:
        if (!colon || !spf_domain_spec_valid(arg, an))
            return "bad or missing domain-spec";
        m->domain = arg;
        m->domain_len = an;
        return NULL;
    case SPF_MECH_PTR:
        if (rn == 0)
            return NULL;
        if (!colon || !spf_domain_spec_valid(arg, an))
            return "bad domain-spec";
        m->domain = arg;
        m->domain_len = an;
        return NULL;
    case SPF_MECH_A:
    case SPF_MECH_MX: {
        size_t end;
        const char *c4, *c6;
        size_t c4n, c6n;
        split_dual_cidr(arg, an, &end, &c4, &c4n, &c6, &c6n);
        if (colon) {
            if (!spf_domain_spec_valid(arg, end))
                return "bad or missing domain-spec";
            m->domain = arg;
            m->domain_len = end;
        } else if (end != 0) {
            return "bad cidr-length";
        }
        if (c4) {
            int v = parse_cidr(c4, c4n, 2, 32);
            if (v < 0)
                return "bad ip4-cidr-length";
            m->cidr4 = (uint8_t)v;
        }
        if (c6) {
            int v = parse_cidr(c6, c6n, 3, 128);
            if (v < 0)
                return "bad ip6-cidr-length";
            m->cidr6 = (uint8_t)v;
        }
        return NULL;
    }
    case SPF_MECH_IP4:
    case SPF_MECH_IP6: {
        if (!colon)
            return "missing network";
        const char *slash = memchr(arg, '/', an);
        size_t netlen = slash ? (size_t)(slash - arg) : an;
        bool v4 = m->kind == SPF_MECH_IP4;
        if (v4 ? !parse_ip4(arg, netlen, &m->net) : !parse_ip6(arg, netlen, &m->net))
            return v4 ? "bad ip4-network" : "bad ip6-network";
        if (slash) {
            int v = parse_cidr(slash + 1, an - netlen - 1, v4 ? 2 : 3, v4 ? 32 : 128);
            if (v < 0)
                return v4 ? "bad ip4-cidr-length" : "bad ip6-cidr-length";
            if (v4)
                m->cidr4 = (uint8_t)v;
            else
                m->cidr6 = (uint8_t)v;
        }
        mask(&m->net, v4 ? 96u + m->cidr4 : m->cidr6);
        return NULL;
    }
    }
    return "unknown mechanism";
}

/* parse_modifier - name=value into rec; a static reason or NULL */
static const char *parse_modifier(const char *name, size_t nn, const char *val, size_t vn,
                                  struct spf_record *rec)
{
    if (nn == 0)
        return "empty modifier name";
    unsigned char c0 = (unsigned char)name[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')))
        return "modifier name must start with a letter";
    if (ieq(name, nn, "redirect")) {
        if (rec->redirect)
            return "redirect= appears twice";
        if (!spf_domain_spec_valid(val, vn))
            return "bad domain-spec in redirect=";
        rec->redirect = val;
        rec->redirect_len = vn;
        return NULL;
    }
    if (ieq(name, nn, "exp")) {
        if (rec->exp)
            return "exp= appears twice";
        if (!spf_domain_spec_valid(val, vn))
            return "bad domain-spec in exp=";
        rec->exp = val;
        rec->exp_len = vn;
        return NULL;
    }
    if (!spf_macro_valid(val, vn, SPF_MACRO_ANY))
        return "bad macro-string in modifier";
    return NULL;
}

/* is_name_char - ALPHA / DIGIT / "-" / "_" / "." */
static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
           c == '_' || c == '.';
}

int spf_record_parse(const char *txt, size_t len, struct arena *a, struct spf_record *rec,
                     const char **prob)
{
    memset(rec, 0, sizeof(*rec));
    *prob = NULL;
    if (!spf_record_is_spf1(txt, len)) {
        *prob = "not an spf1 record";
        return -1;
    }
    size_t nterms = 0;
    for (size_t i = 6; i < len; i++) {
        unsigned char c = (unsigned char)txt[i];
        if (c != ' ' && (c < 0x21 || c > 0x7e)) {
            *prob = c > 0x7e ? "non-ASCII byte in record" : "control character in record";
            return -1;
        }
        if (c != ' ' && txt[i - 1] == ' ')
            nterms++;
    }
    rec->mech = nterms ? arena_alloc(a, nterms * sizeof(*rec->mech)) : NULL;
    size_t i = 6;
    while (i < len) {
        while (i < len && txt[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t st = i;
        while (i < len && txt[i] != ' ')
            i++;
        const char *t = txt + st;
        size_t tn = i - st;

        size_t k = 0;
        enum spf_result qual = SPF_RESULT_PASS;
        bool has_qual = true;
        switch (t[0]) {
        case '+':
            qual = SPF_RESULT_PASS;
            break;
        case '-':
            qual = SPF_RESULT_FAIL;
            break;
        case '~':
            qual = SPF_RESULT_SOFTFAIL;
            break;
        case '?':
            qual = SPF_RESULT_NEUTRAL;
            break;
        default:
            has_qual = false;
            break;
        }
        if (has_qual)
            k = 1;
        size_t ns = k;
        while (k < tn && is_name_char((unsigned char)t[k]))
            k++;
        const char *why;
        if (k < tn && t[k] == '=') {
            why = has_qual ? "qualifier on a modifier"
                           : parse_modifier(t + ns, k - ns, t + k + 1, tn - k - 1, rec);
        } else if (k < tn && t[k] != ':' && t[k] != '/') {
            why = "bad character in term";
        } else {
            struct spf_mech *m = &rec->mech[rec->n_mech];
            memset(m, 0, sizeof(*m));
            why = parse_mech(t + ns, k - ns, t + k, tn - k, m);
            if (!why) {
                m->qual = qual;
                m->text = t;
                m->text_len = tn;
                rec->n_mech++;
            }
        }
        if (why) {
            *prob = problem(a, why, t, tn);
            return -1;
        }
    }
    return 0;
}
