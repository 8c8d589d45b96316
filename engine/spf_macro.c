/* engine/spf_macro.c - RFC 7208 section 7 macros; grammar and limits in spf_macro.h.
 * Expansion runs twice over the template: once to measure, once to write, so the output
 * is one arena allocation of the right size (or of its kept tail for domain names). */
#include "engine/spf_macro.h"

#include <stdint.h>
#include <string.h>

#define MACRO_DIGITS_CAP 1000 /* transformer values saturate here; 128 parts is the most */

/* is_alpha - ASCII letter */
static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - ASCII digit */
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* is_delim - a macro delimiter character */
static bool is_delim(unsigned char c)
{
    return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

/* is_literal - a macro-literal (or SP in explanation text) */
static bool is_literal(unsigned char c, enum spf_macro_ctx ctx)
{
    if (c == ' ')
        return ctx == SPF_MACRO_EXP;
    return c >= 0x21 && c <= 0x7e && c != '%';
}

/* to_lower - ASCII lower case */
static unsigned char to_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

enum tok_kind { TOK_LITERAL, TOK_PERCENT, TOK_SPACE, TOK_URLSPACE, TOK_MACRO };

/* One token of a macro-string */
struct tok {
    enum tok_kind kind;
    size_t len;      /* bytes of the template */
    char letter;     /* TOK_MACRO: lower case */
    bool upper;      /* URL-encode the value */
    unsigned digits; /* 0: none */
    bool reverse;
    const char *delims; /* NULL/0: "." */
    size_t ndelims;
};

/* next_tok - the token at s[i] (i < n); false on a syntax error */
static bool next_tok(const char *s, size_t n, size_t i, enum spf_macro_ctx ctx, struct tok *t)
{
    unsigned char c = (unsigned char)s[i];
    memset(t, 0, sizeof(*t));
    if (c != '%') {
        if (!is_literal(c, ctx))
            return false;
        t->kind = TOK_LITERAL;
        t->len = 1;
        return true;
    }
    if (i + 1 >= n)
        return false;
    switch (s[i + 1]) {
    case '%':
        t->kind = TOK_PERCENT;
        t->len = 2;
        return true;
    case '_':
        t->kind = TOK_SPACE;
        t->len = 2;
        return true;
    case '-':
        t->kind = TOK_URLSPACE;
        t->len = 2;
        return true;
    case '{':
        break;
    default:
        return false;
    }
    size_t j = i + 2;
    if (j >= n)
        return false;
    unsigned char l = (unsigned char)s[j];
    unsigned char ll = to_lower(l);
    if (!is_alpha(l) || !strchr("slodiphcrtv", ll))
        return false;
    if (ctx == SPF_MACRO_DOMAIN && (ll == 'c' || ll == 'r' || ll == 't'))
        return false;
    t->kind = TOK_MACRO;
    t->letter = (char)ll;
    t->upper = l != ll;
    j++;
    bool has_digits = false;
    while (j < n && is_digit((unsigned char)s[j])) {
        has_digits = true;
        if (t->digits < MACRO_DIGITS_CAP)
            t->digits = t->digits * 10 + (unsigned)(s[j] - '0');
        j++;
    }
    if (has_digits && t->digits == 0)
        return false;
    if (j < n && (s[j] == 'r' || s[j] == 'R')) {
        t->reverse = true;
        j++;
    }
    size_t d0 = j;
    while (j < n && is_delim((unsigned char)s[j]))
        j++;
    if (j >= n || s[j] != '}')
        return false;
    t->delims = s + d0;
    t->ndelims = j - d0;
    t->len = j + 1 - i;
    return true;
}

bool spf_macro_valid(const char *s, size_t n, enum spf_macro_ctx ctx)
{
    struct tok t;
    for (size_t i = 0; i < n; i += t.len)
        if (!next_tok(s, n, i, ctx, &t))
            return false;
    return true;
}

bool spf_macro_has_p(const char *s, size_t n)
{
    struct tok t;
    for (size_t i = 0; i < n; i += t.len) {
        if (!next_tok(s, n, i, SPF_MACRO_ANY, &t))
            return false;
        if (t.kind == TOK_MACRO && t.letter == 'p')
            return true;
    }
    return false;
}

bool spf_toplabel_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    bool alpha = false, dash = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-')
            dash = true;
        else if (is_alpha(c))
            alpha = true;
        else if (!is_digit(c))
            return false;
    }
    if (s[0] == '-' || s[n - 1] == '-')
        return false;
    return alpha || dash;
}

bool spf_domain_spec_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    struct tok t;
    enum tok_kind last = TOK_LITERAL;
    for (size_t i = 0; i < n; i += t.len) {
        if (!next_tok(s, n, i, SPF_MACRO_DOMAIN, &t))
            return false;
        last = t.kind;
    }
    if (last != TOK_LITERAL)
        return true; /* domain-end = macro-expand (the last token was one) */
    /* domain-end = "." toplabel [ "." ]: the toplabel is all literal characters */
    size_t end = n;
    if (s[end - 1] == '.')
        end--;
    size_t k = end;
    while (k > 0 && s[k - 1] != '.')
        k--;
    if (k == 0)
        return false; /* no "." before the toplabel */
    return spf_toplabel_valid(s + k, end - k);
}

/* --- expansion ----------------------------------------------------------------------- */

/* The writer: counts every byte; stores those at positions >= skip while there is room */
struct emit {
    char *buf;   /* NULL when measuring */
    size_t pos;  /* bytes produced so far */
    size_t skip; /* leading bytes dropped */
};

/* put_byte - produce one byte */
static void put_byte(struct emit *e, char c)
{
    if (e->buf && e->pos >= e->skip)
        e->buf[e->pos - e->skip] = c;
    e->pos++;
}

/* put_value_byte - produce one byte of a macro value, URL-encoded when asked (7.3) */
static void put_value_byte(struct emit *e, unsigned char c, bool url)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!url || is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        put_byte(e, (char)c);
        return;
    }
    put_byte(e, '%');
    put_byte(e, hex[c >> 4]);
    put_byte(e, hex[c & 15]);
}

/* in_set - c is one of the delimiters (default ".") */
static bool in_set(unsigned char c, const struct tok *t)
{
    if (t->ndelims == 0)
        return c == '.';
    return memchr(t->delims, c, t->ndelims) != NULL;
}

/* put_macro - the value of one macro after its transformers (7.3): split on the
 * delimiters, reverse on "r", keep the right-most `digits` parts, join with "." */
static void put_macro(struct emit *e, const char *val, const struct tok *t, struct arena *a)
{
    size_t len = strlen(val);
    size_t nparts = 1;
    for (size_t i = 0; i < len; i++)
        if (in_set((unsigned char)val[i], t))
            nparts++;
    /* part k is val[start[k] .. start[k+1]-1) (the -1 drops its delimiter) */
    size_t *start = arena_alloc(a, (nparts + 1) * sizeof(*start));
    size_t k = 0;
    start[k++] = 0;
    for (size_t i = 0; i < len; i++)
        if (in_set((unsigned char)val[i], t))
            start[k++] = i + 1;
    start[nparts] = len + 1;
    size_t keep = (t->digits && t->digits < nparts) ? t->digits : nparts;
    for (size_t j = 0; j < keep; j++) {
        /* the j-th part written: forward order keeps the last `keep` parts; reversed order
         * is parts nparts-1 .. 0, of which the last `keep` are keep-1 .. 0 */
        size_t p = t->reverse ? keep - 1 - j : nparts - keep + j;
        if (j > 0)
            put_byte(e, '.');
        for (size_t i = start[p]; i + 1 < start[p + 1]; i++)
            put_value_byte(e, (unsigned char)val[i], t->upper);
    }
}

/* macro_value - the raw value of a macro letter; NULL when p is pending */
static const char *macro_value(const struct spf_macro_vars *v, char letter)
{
    const char *r = NULL;
    switch (letter) {
    case 's':
        r = v->s;
        break;
    case 'l':
        r = v->l;
        break;
    case 'o':
        r = v->o;
        break;
    case 'd':
        r = v->d;
        break;
    case 'i':
        r = v->i;
        break;
    case 'h':
        r = v->h;
        break;
    case 'c':
        r = v->c;
        break;
    case 'r':
        r = v->r;
        break;
    case 't':
        r = v->t;
        break;
    case 'v':
        r = v->v;
        break;
    case 'p':
        return v->get_p ? v->get_p(v->arg) : "unknown";
    }
    return r ? r : "";
}

/* run - one pass over the template into e; an spf_macro_status */
static int run(const char *s, size_t n, enum spf_macro_ctx ctx, const struct spf_macro_vars *v,
               struct arena *a, struct emit *e)
{
    struct tok t;
    for (size_t i = 0; i < n; i += t.len) {
        if (!next_tok(s, n, i, ctx, &t))
            return SPF_MACRO_SYNTAX;
        switch (t.kind) {
        case TOK_LITERAL:
            put_byte(e, s[i]);
            break;
        case TOK_PERCENT:
            put_byte(e, '%');
            break;
        case TOK_SPACE:
            put_byte(e, ' ');
            break;
        case TOK_URLSPACE:
            put_byte(e, '%');
            put_byte(e, '2');
            put_byte(e, '0');
            break;
        case TOK_MACRO: {
            const char *val = macro_value(v, t.letter);
            if (!val)
                return SPF_MACRO_PENDING;
            put_macro(e, val, &t, a);
            break;
        }
        }
    }
    return SPF_MACRO_OK;
}

int spf_macro_expand(const char *s, size_t n, enum spf_macro_ctx ctx,
                     const struct spf_macro_vars *v, struct arena *a, char **out, size_t *outlen,
                     bool *truncated)
{
    if (ctx == SPF_MACRO_ANY)
        return SPF_MACRO_SYNTAX; /* unknown modifiers are checked, never expanded */
    struct emit m = {NULL, 0, 0};
    int rc = run(s, n, ctx, v, a, &m);
    if (rc != SPF_MACRO_OK)
        return rc;
    size_t skip = 0;
    if (ctx == SPF_MACRO_EXP && m.pos > SPF_MACRO_EXP_MAX)
        return SPF_MACRO_TOO_LONG;
    if (ctx == SPF_MACRO_DOMAIN && m.pos > SPF_MACRO_DOMAIN_KEEP)
        skip = m.pos - SPF_MACRO_DOMAIN_KEEP;
    struct emit w = {arena_alloc(a, m.pos - skip + 1), 0, skip};
    rc = run(s, n, ctx, v, a, &w);
    if (rc != SPF_MACRO_OK || w.pos != m.pos)
        return rc != SPF_MACRO_OK ? rc : SPF_MACRO_SYNTAX; /* get_p changed its mind */
    w.buf[m.pos - skip] = '\0';
    *out = w.buf;
    *outlen = m.pos - skip;
    if (truncated)
        *truncated = skip > 0;
    return SPF_MACRO_OK;
}

int spf_macro_target(const char *s, size_t n, const struct spf_macro_vars *v, struct arena *a,
                     char **out)
{
    char *x;
    size_t len;
    bool truncated;
    int rc = spf_macro_expand(s, n, SPF_MACRO_DOMAIN, v, a, &x, &len, &truncated);
    if (rc != SPF_MACRO_OK)
        return rc;
    if (len > 0 && x[len - 1] == '.')
        x[--len] = '\0';
    size_t from = 0;
    if (len > SPF_DOMAIN_MAX || truncated) {
        /* drop whole labels (each with its dot) from the left until it fits; a kept tail
         * is SPF_MACRO_DOMAIN_KEEP > SPF_DOMAIN_MAX bytes, so the cut is inside it */
        from = len; /* nothing fits: empty, which no DNS name is */
        for (size_t i = 0; i < len; i++) {
            if (x[i] == '.' && len - (i + 1) <= SPF_DOMAIN_MAX) {
                from = i + 1;
                break;
            }
        }
    }
    for (size_t i = from; i < len; i++)
        x[i] = (char)to_lower((unsigned char)x[i]);
    *out = x + from;
    return SPF_MACRO_OK;
}
