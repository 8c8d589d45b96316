/* engine/greylist_wl.c - whitelist files and matching; grammar and limits in greylist_wl.h.
 *
 * Names, domains and addresses are kept lower-cased in sorted arrays and found by binary
 * search: a client name is probed whole and at each of its parent domains, a recipient at each
 * suffix after an "@" or ".", and as local part (with and without a "+extension") @ domain.
 * IPs and CIDRs go in a cidr_set. Regexes are PCRE2 codes compiled caseless, matched in order.
 * Everything is built by one thread and read-only afterwards, so matching takes no lock; each
 * regex match allocates its own (one-pair) match data, as pcre2 match data is not shareable. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/greylist_wl.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MATCH_LIMIT 100000u /* backtracking steps per regex match */
#define DEPTH_LIMIT 1000u   /* nested backtracking depth (interpreter only) */
#define PROBE_STACK 512     /* names up to this long are lower-cased on the stack */
#define SHOW_MAX 64         /* bytes of an entry quoted in an error */

/* struct str_set - sorted, de-duplicated lower-case strings (sorted after each file) */
struct str_set {
    char **v;
    size_t n, cap;
};

struct wl_list {
    struct cidr_set ips;  /* clients: addresses and networks */
    struct str_set names; /* clients: names; recipients: domains */
    struct str_set addrs; /* recipients: "user@domain" and "user@" */
    pcre2_code **rx;      /* regexes in file order */
    size_t n_rx, cap_rx;
    size_t count; /* entries added (duplicates included) */
};

struct greylist_wl {
    struct wl_list l[2];       /* by enum greylist_wl_kind */
    pcre2_match_context *mctx; /* limits; read-only while matching */
};

/* --- sets ------------------------------------------------------------------------------------ */

/* set_add - append a copy of s[0..n) (already lower-case) */
static void set_add(struct str_set *s, const char *p, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    char *c = xmalloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    s->v[s->n++] = c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* set_sort - sort and drop duplicates */
static void set_sort(struct str_set *s)
{
    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[k - 1]) == 0)
            free(s->v[i]);
        else
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* set_has - whether p[0..n) is in the sorted set */
static bool set_has(const struct str_set *s, const char *p, size_t n)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *e = s->v[mid];
        size_t el = strlen(e);
        int c = memcmp(e, p, el < n ? el : n);
        if (c == 0)
            c = el < n ? -1 : el > n ? 1 : 0;
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void set_fini(struct str_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* --- object ---------------------------------------------------------------------------------- */

struct greylist_wl *greylist_wl_create(void)
{
    struct greylist_wl *wl = xcalloc(1, sizeof(*wl));
    for (int i = 0; i < 2; i++)
        cidr_set_init(&wl->l[i].ips);
    wl->mctx = pcre2_match_context_create(NULL);
    if (!wl->mctx)
        PANIC("greylist_wl: out of memory (pcre2 match context)");
    pcre2_set_match_limit(wl->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(wl->mctx, DEPTH_LIMIT);
    return wl;
}

void greylist_wl_destroy(struct greylist_wl *wl)
{
    if (!wl)
        return;
    for (int i = 0; i < 2; i++) {
        struct wl_list *l = &wl->l[i];
        cidr_set_fini(&l->ips);
        set_fini(&l->names);
        set_fini(&l->addrs);
        for (size_t k = 0; k < l->n_rx; k++)
            pcre2_code_free(l->rx[k]);
        free(l->rx);
    }
    pcre2_match_context_free(wl->mctx);
    free(wl);
}

size_t greylist_wl_count(const struct greylist_wl *wl, enum greylist_wl_kind kind)
{
    return wl ? wl->l[kind].count : 0;
}

/* --- parsing --------------------------------------------------------------------------------- */

struct parse_ctx {
    struct greylist_wl *wl;
    struct wl_list *l;
    enum greylist_wl_kind kind;
    const char *name;
    unsigned line;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parse_ctx *pc, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (pc->err && pc->errlen)
        snprintf(pc->err, pc->errlen, "%s:%u: %s", pc->name, pc->line, msg);
    return -1;
}

/* show - entry e[0..n) sanitised for a message */
static const char *show(char buf[SHOW_MAX], const char *e, size_t n)
{
    return log_sanitize(buf, SHOW_MAX, e, n);
}

static bool all_digits(const char *p, size_t n, size_t min, size_t max)
{
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    return true;
}

/* dotted - e[0..n) is `parts` dot-separated groups of 1-3 digits; returns bytes used (the
 * rest is e[used..n)), or 0 */
static size_t dotted(const char *e, size_t n, int parts)
{
    size_t i = 0;
    for (int k = 0; k < parts; k++) {
        size_t s = i;
        while (i < n && isdigit((unsigned char)e[i]))
            i++;
        if (i == s || i - s > 3)
            return 0;
        if (k + 1 < parts) {
            if (i >= n || e[i] != '.')
                return 0;
            i++;
        }
    }
    return i;
}

/* add_regex - compile /.../ (the slashes stripped) caseless */
static int add_regex(struct parse_ctx *pc, const char *p, size_t n)
{
    int code;
    PCRE2_SIZE off;
    char q[SHOW_MAX];
    pcre2_code *rx = pcre2_compile((PCRE2_SPTR)p, n, PCRE2_CASELESS, &code, &off, NULL);
    if (!rx) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        return fail(pc, "regex /%s/: %s at offset %zu", show(q, p, n), (const char *)msg,
                    (size_t)off);
    }
    (void)pcre2_jit_compile(rx, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter matches */
    struct wl_list *l = pc->l;
    if (l->n_rx == l->cap_rx) {
        l->cap_rx = l->cap_rx ? 2 * l->cap_rx : 8;
        l->rx = xrealloc(l->rx, l->cap_rx * sizeof(*l->rx));
    }
    l->rx[l->n_rx++] = rx;
    return 0;
}

/* add_cidr - an address or network text (host bits masked) */
static int add_cidr(struct parse_ctx *pc, const char *p, size_t n)
{
    struct cidr c;
    char q[SHOW_MAX];
    if (!cidr_parse(p, n, true, &c))
        return fail(pc, "\"%s\" is not an IP address or network", show(q, p, n));
    cidr_set_add(&pc->l->ips, &c);
    return 0;
}

/* add_lower - entry lower-cased into set */
static void add_lower(struct str_set *s, const char *p, size_t n)
{
    char *tmp = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (char)tolower((unsigned char)p[i]);
    set_add(s, tmp, n);
    free(tmp);
}

/* client_entry - one non-empty entry of a clients file */
static int client_entry(struct parse_ctx *pc, const char *e, size_t n)
{
    size_t used;
    if ((used = dotted(e, n, 4)) != 0 &&
        (used == n || (e[used] == '/' && all_digits(e + used + 1, n - used - 1, 1, 2))))
        return add_cidr(pc, e, n);
    if (dotted(e, n, 3) == n || dotted(e, n, 2) == n) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%.*s%s", (int)n, e,
                           dotted(e, n, 3) == n ? ".0/24" : ".0.0/16");
        return add_cidr(pc, buf, (size_t)len);
    }
    const char *c1 = memchr(e, ':', n);
    if (c1 && memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - e)))
        return add_cidr(pc, e, n);
    while (n > 1 && e[n - 1] == '.') /* a fully qualified "name." is the same name */
        n--;
    add_lower(&pc->l->names, e, n);
    return 0;
}

/* recipient_entry - one non-empty entry of a recipients file */
static int recipient_entry(struct parse_ctx *pc, const char *e, size_t n)
{
    if (memchr(e, '@', n)) {
        add_lower(&pc->l->addrs, e, n); /* "user@domain" or "user@" */
        return 0;
    }
    while (n > 1 && e[n - 1] == '.')
        n--;
    add_lower(&pc->l->names, e, n);
    return 0;
}

/* parse_line - one line without its LF */
static int parse_line(struct parse_ctx *pc, const char *s, size_t n)
{
    char q[SHOW_MAX];
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch))
            return fail(pc, "\"%s\": one entry per line, without spaces", show(q, s, n));
        if (ch < 0x20 || ch == 0x7f)
            return fail(pc, "\"%s\": control character", show(q, s, n));
    }
    int r;
    if (n >= 3 && s[0] == '/' && s[n - 1] == '/')
        r = add_regex(pc, s + 1, n - 2);
    else if (pc->kind == GREYLIST_WL_CLIENTS)
        r = client_entry(pc, s, n);
    else
        r = recipient_entry(pc, s, n);
    if (r == 0)
        pc->l->count++;
    return r;
}

int greylist_wl_parse(struct greylist_wl *wl, enum greylist_wl_kind kind, const char *name,
                      const char *text, size_t len, char *err, size_t errlen)
{
    struct parse_ctx pc = {
        .wl = wl, .l = &wl->l[kind], .kind = kind, .name = name, .err = err, .errlen = errlen};
    int r = 0;
    size_t off = 0;
    while (off < len && r == 0) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
        pc.line++;
        if (n > GREYLIST_WL_LINE_MAX)
            r = fail(&pc, "line too long (%zu bytes, at most %d)", n, GREYLIST_WL_LINE_MAX);
        else if (memchr(text + off, '\0', n))
            r = fail(&pc, "NUL byte in line");
        else
            r = parse_line(&pc, text + off, n);
        off += n + (nl ? 1 : 0);
    }
    set_sort(&pc.l->names);
    set_sort(&pc.l->addrs);
    return r;
}

int greylist_wl_load(struct greylist_wl *wl, enum greylist_wl_kind kind, const char *path,
                     char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO or device named by mistake must not hang a reload */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size > (off_t)GREYLIST_WL_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, GREYLIST_WL_FILE_MAX);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = xmalloc(size ? size : 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break; /* shrank meanwhile: parse what is there */
        got += (size_t)r;
    }
    close(fd);
    int rc = greylist_wl_parse(wl, kind, path, buf, got, err, errlen);
    free(buf);
    return rc;
}

/* --- matching -------------------------------------------------------------------------------- */

/* regex_any - whether any regex of l matches s[0..n) */
static bool regex_any(const struct greylist_wl *wl, const struct wl_list *l, const char *s,
                      size_t n)
{
    if (l->n_rx == 0)
        return false;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md)
        PANIC("greylist_wl: out of memory (pcre2 match data)");
    bool hit = false;
    for (size_t i = 0; i < l->n_rx && !hit; i++)
        hit = pcre2_match(l->rx[i], (PCRE2_SPTR)s, n, 0, 0, md, wl->mctx) >= 0;
    pcre2_match_data_free(md);
    return hit;
}

/* lower_copy - s[0..n) lower-cased into buf (PROBE_STACK bytes) or the heap (*heap set) */
static char *lower_copy(const char *s, size_t n, char *buf, char **heap)
{
    char *o = n <= PROBE_STACK ? buf : (*heap = xmalloc(n));
    for (size_t i = 0; i < n; i++)
        o[i] = (char)tolower((unsigned char)s[i]);
    return o;
}

bool greylist_wl_match_client(const struct greylist_wl *wl, const struct ip_addr *ip,
                              const char *name, size_t name_len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!wl)
        return false;
    const struct wl_list *l = &wl->l[GREYLIST_WL_CLIENTS];
    if (ip && cidr_set_match(&l->ips, ip)) {
        *why = "client address";
        return true;
    }
    while (name_len > 1 && name[name_len - 1] == '.')
        name_len--;
    if (name_len == 0 || (name_len == 7 && strncasecmp(name, "unknown", 7) == 0))
        return false;
    char buf[PROBE_STACK], *heap = NULL;
    const char *lc = lower_copy(name, name_len, buf, &heap);
    bool hit = false;
    for (size_t i = 0; i < name_len && !hit; i++) /* whole name, then each parent domain */
        if ((i == 0 || lc[i - 1] == '.') && l->names.n)
            hit = set_has(&l->names, lc + i, name_len - i);
    free(heap);
    if (hit) {
        *why = "client name";
        return true;
    }
    if (regex_any(wl, l, name, name_len)) {
        *why = "client regex";
        return true;
    }
    return false;
}

/* addr_probe - "local@dom" and "local@" for local = lc[0..ln) */
static bool addr_probe(const struct str_set *s, const char *lc, size_t ln, const char *dom,
                       size_t dn, char *tmp)
{
    memcpy(tmp, lc, ln);
    tmp[ln] = '@';
    memcpy(tmp + ln + 1, dom, dn);
    return set_has(s, tmp, ln + 1 + dn) || set_has(s, tmp, ln + 1);
}

bool greylist_wl_match_recipient(const struct greylist_wl *wl, const char *rcpt, size_t len)
{
    if (!wl || len == 0)
        return false;
    const struct wl_list *l = &wl->l[GREYLIST_WL_RECIPIENTS];
    char buf[PROBE_STACK], *heap = NULL;
    const char *lc = lower_copy(rcpt, len, buf, &heap);
    bool hit = false;
    /* domain entries: "(@|.)domain" at the end */
    for (size_t i = 0; i + 1 < len && !hit && l->names.n; i++)
        if (lc[i] == '@' || lc[i] == '.')
            hit = set_has(&l->names, lc + i + 1, len - i - 1);
    /* user@domain, user@: the local part as is, or cut at a "+" before a non-empty tail */
    const char *at = memrchr(lc, '@', len);
    if (!hit && at && l->addrs.n) {
        size_t ln = (size_t)(at - lc), dn = len - ln - 1;
        char *tmp = xmalloc(len + 1);
        hit = addr_probe(&l->addrs, lc, ln, at + 1, dn, tmp);
        for (size_t p = 0; p + 1 < ln && !hit; p++)
            if (lc[p] == '+')
                hit = addr_probe(&l->addrs, lc, p, at + 1, dn, tmp);
        free(tmp);
    }
    free(heap);
    if (hit)
        return true;
    return regex_any(wl, l, rcpt, len);
}
