/* engine/override.c - [override ...] sections: parsing titles, the lookup structure, and
 * resolution per request; see override.h.
 *
 * One open-addressing hash table (linear probing, load <= 1/2) maps a key to its override:
 *   byte 0 = kind, then the canonical value (addresses and domains, ".dom" for a suffix rule)
 *   byte 0 = OVERRIDE_CLIENT, byte 1 = prefix (0..128, mapped space), bytes 2..17 = network
 * Client rules are found by masking the client to each configured prefix length, longest
 * first. The table is written only while the config loads. */
#include "engine/override.h"
#include "engine/base/alloc.h"
#include "engine/base/hash.h"
#include "engine/base/log.h"
#include "engine/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (1 + OVERRIDE_VALUE_MAX)

struct entry {
    struct override o;
    uint8_t *key;
    size_t key_len;
    uint64_t hash;
};

struct override_set {
    struct entry **v; /* file order */
    size_t n, cap;
    uint32_t *slots; /* entry index + 1; 0: empty */
    size_t n_slots;  /* power of two */
    size_t n_kind[OVERRIDE_KINDS];
    size_t n_exact[OVERRIDE_KINDS];  /* domain kinds: rules without the leading dot */
    size_t n_suffix[OVERRIDE_KINDS]; /* domain kinds: ".dom" rules */
    size_t suffix_min[OVERRIDE_KINDS], suffix_max[OVERRIDE_KINDS]; /* their lengths */
    uint8_t prefixes[129]; /* distinct client prefix lengths, longest first */
    unsigned n_prefixes;
};

static const char *const kind_names[OVERRIDE_KINDS] = {"recipient", "recipient_domain", "sender",
                                                       "sender_domain", "client"};

const char *override_kind_name(enum override_kind kind)
{
    return (unsigned)kind < OVERRIDE_KINDS ? kind_names[kind] : "?";
}

/* find - the entry with key[0..n), or NULL */
static const struct entry *find(const struct override_set *s, const uint8_t *key, size_t n)
{
    if (!s->n_slots)
        return NULL;
    uint64_t h = hash_bytes(key, n); /* keys come from the config: lookups cannot grow a chain */
    size_t mask = s->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t x = s->slots[i];
        if (!x)
            return NULL;
        const struct entry *e = s->v[x - 1];
        if (e->hash == h && e->key_len == n && memcmp(e->key, key, n) == 0)
            return e;
    }
}

/* slot_put - place entry index idx (table has room) */
static void slot_put(struct override_set *s, size_t idx)
{
    size_t mask = s->n_slots - 1;
    size_t i = (size_t)s->v[idx]->hash & mask;
    while (s->slots[i])
        i = (i + 1) & mask;
    s->slots[i] = (uint32_t)(idx + 1);
}

/* grow - double the table when it would pass half full */
static void grow(struct override_set *s)
{
    if ((s->n + 1) * 2 <= s->n_slots)
        return;
    size_t n = s->n_slots ? s->n_slots * 2 : 16;
    free(s->slots);
    s->slots = xcalloc(n, sizeof(*s->slots));
    s->n_slots = n;
    for (size_t i = 0; i < s->n; i++)
        slot_put(s, i);
}

struct override_set *override_set_create(void)
{
    struct override_set *s = xcalloc(1, sizeof(*s));
    return s;
}

void override_set_destroy(struct override_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = s->v[i];
        free(e->o.value);
        free(e->o.title);
        free(e->o.v.action);
        free(e->key);
        free(e);
    }
    free(s->v);
    free(s->slots);
    free(s);
}

/* --- titles --------------------------------------------------------------------------------- */

/* lower - ASCII lower case */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* domain_ok - labels of letters, digits, "-", "_" or UTF-8 bytes, one dot between labels */
static bool domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c >= 0x80))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

/* canon_name - lower-case copy of s[0..n) without one trailing dot into out */
static size_t canon_name(const char *s, size_t n, char *out)
{
    if (n > 1 && s[n - 1] == '.')
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = lower(s[i]);
    out[n] = '\0';
    return n;
}

int override_title_parse(const char *name, size_t len, enum override_kind *kind, char *value,
                         size_t size, char *why, size_t whylen)
{
    static const char ws[] = " \t";
    static const char usage[] = "expected [override KIND VALUE], KIND one of recipient, "
                                "recipient_domain, sender, sender_domain, client";
    char q[OVERRIDE_VALUE_MAX];
    const char *p = name, *end = name + len;
    /* words: "override", KIND, VALUE - exactly three */
    const char *w[4];
    size_t wl[4];
    unsigned nw = 0;
    while (p < end) {
        while (p < end && strchr(ws, *p))
            p++;
        if (p == end)
            break;
        const char *s = p;
        while (p < end && !strchr(ws, *p))
            p++;
        if (nw == 4)
            break;
        w[nw] = s;
        wl[nw++] = (size_t)(p - s);
    }
    if (nw < 1 || wl[0] != 8 || memcmp(w[0], "override", 8) != 0 || nw < 3) {
        snprintf(why, whylen, "%s", usage);
        return -1;
    }
    if (nw > 3) {
        snprintf(why, whylen, "one VALUE after the kind, got more (\"%s\")",
                 log_sanitize(q, sizeof(q), w[3], (size_t)(end - w[3])));
        return -1;
    }
    int k = -1;
    for (int i = 0; i < OVERRIDE_KINDS; i++)
        if (strlen(kind_names[i]) == wl[1] && memcmp(kind_names[i], w[1], wl[1]) == 0)
            k = i;
    if (k < 0) {
        snprintf(why, whylen,
                 "\"%s\" is not an override kind (recipient, recipient_domain, sender, "
                 "sender_domain, client)",
                 log_sanitize(q, sizeof(q), w[1], wl[1]));
        return -1;
    }
    const char *v = w[2];
    size_t n = wl[2];
    log_sanitize(q, sizeof(q), v, n);
    if (n + 2 > size || n + 2 > OVERRIDE_VALUE_MAX) {
        snprintf(why, whylen, "\"%s\" is too long", q);
        return -1;
    }
    switch ((enum override_kind)k) {
    case OVERRIDE_RECIPIENT:
    case OVERRIDE_SENDER: {
        const char *at = memrchr(v, '@', n);
        size_t dn = at ? n - (size_t)(at + 1 - v) : 0;
        if (dn > 1 && v[n - 1] == '.')
            dn--;
        bool ok = at && at > v && domain_ok(at + 1, dn);
        for (const char *c = v; ok && c < at; c++)
            if ((unsigned char)*c < 0x21 || *c == 0x7f || *c == '<' || *c == '>')
                ok = false;
        if (!ok) {
            snprintf(why, whylen, "\"%s\" is not an address (local-part@domain)", q);
            return -1;
        }
        canon_name(v, n, value);
        break;
    }
    case OVERRIDE_RECIPIENT_DOMAIN:
    case OVERRIDE_SENDER_DOMAIN: {
        size_t skip = v[0] == '.' ? 1 : 0;
        size_t dn = n - skip;
        if (dn > 1 && v[n - 1] == '.')
            dn--;
        if (!domain_ok(v + skip, dn)) {
            snprintf(why, whylen,
                     "\"%s\" is not a domain (\"example.net\", or \".example.net\" for its "
                     "subdomains)",
                     q);
            return -1;
        }
        canon_name(v, n, value);
        break;
    }
    case OVERRIDE_CLIENT: {
        struct cidr c;
        if (!cidr_parse(v, n, false, &c)) {
            if (cidr_parse(v, n, true, &c)) {
                char fixed[CIDR_TEXT_MAX];
                snprintf(why, whylen, "\"%s\": host bits set (did you mean %s?)", q,
                         cidr_format(&c, fixed, sizeof(fixed)));
            } else {
                snprintf(why, whylen, "\"%s\" is not an IP address or CIDR", q);
            }
            return -1;
        }
        memcpy(value, v, n);
        value[n] = '\0';
        break;
    }
    }
    *kind = (enum override_kind)k;
    return 0;
}

/* make_key - the table key of kind + canonical value into key (KEY_MAX bytes); its length,
 * or 0 when value does not parse (cannot happen after override_title_parse) */
static size_t make_key(enum override_kind kind, const char *value, uint8_t *key)
{
    key[0] = (uint8_t)kind;
    if (kind == OVERRIDE_CLIENT) {
        struct cidr c;
        if (!cidr_parse(value, strlen(value), false, &c))
            return 0;
        key[1] = c.prefix;
        memcpy(key + 2, c.addr.b, 16);
        return 18;
    }
    size_t n = strlen(value);
    if (n + 1 > KEY_MAX)
        return 0;
    memcpy(key + 1, value, n);
    return n + 1;
}

struct override *override_set_add(struct override_set *s, enum override_kind kind,
                                  const char *value, unsigned line, const struct override **dup)
{
    uint8_t key[KEY_MAX];
    size_t kn = make_key(kind, value, key);
    if (!kn)
        PANIC("override: \"%s\" was not checked with override_title_parse", value);
    const struct entry *old = find(s, key, kn);
    if (old) {
        if (dup)
            *dup = &old->o;
        return NULL;
    }
    grow(s);
    struct entry *e = xcalloc(1, sizeof(*e));
    e->o.kind = kind;
    e->o.value = xstrdup(value);
    size_t tn = strlen("override ") + strlen(kind_names[kind]) + 1 + strlen(value) + 1;
    e->o.title = xmalloc(tn);
    snprintf(e->o.title, tn, "override %s %s", kind_names[kind], value);
    e->o.line = line;
    e->key = xmalloc(kn);
    memcpy(e->key, key, kn);
    e->key_len = kn;
    e->hash = hash_bytes(key, kn);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n] = e;
    slot_put(s, s->n);
    s->n++;
    s->n_kind[kind]++;
    if (kind == OVERRIDE_RECIPIENT_DOMAIN || kind == OVERRIDE_SENDER_DOMAIN) {
        size_t n = strlen(value);
        if (value[0] == '.') {
            if (!s->n_suffix[kind] || n < s->suffix_min[kind])
                s->suffix_min[kind] = n;
            if (n > s->suffix_max[kind])
                s->suffix_max[kind] = n;
            s->n_suffix[kind]++;
        } else {
            s->n_exact[kind]++;
        }
    } else if (kind == OVERRIDE_CLIENT) {
        uint8_t p = key[1];
        unsigned i = 0;
        while (i < s->n_prefixes && s->prefixes[i] > p)
            i++;
        if (i == s->n_prefixes || s->prefixes[i] != p) {
            memmove(s->prefixes + i + 1, s->prefixes + i, s->n_prefixes - i);
            s->prefixes[i] = p;
            s->n_prefixes++;
        }
    }
    return &e->o;
}

size_t override_set_count(const struct override_set *s)
{
    return s ? s->n : 0;
}

const struct override *override_set_at(const struct override_set *s, size_t i)
{
    if (!s || i >= s->n)
        PANIC("override_set_at: %zu of %zu", i, s ? s->n : 0);
    return &s->v[i]->o;
}

bool override_set_sets(const struct override_set *s, enum override_key key, bool value)
{
    if (!s)
        return false;
    unsigned bit = 1u << key;
    for (size_t i = 0; i < s->n; i++) {
        const struct override_values *v = &s->v[i]->o.v;
        if (!(v->set & bit))
            continue;
        if (key == OVERRIDE_KEY_GREYLIST && v->greylist != value)
            continue;
        if (key == OVERRIDE_KEY_SPF && v->spf != value)
            continue;
        return true;
    }
    return false;
}

/* --- resolution ---------------------------------------------------------------------------- */

void override_settings_init(struct override_settings *out, const struct config *cfg)
{
    memset(out, 0, sizeof(*out));
    out->greylist = cfg->greylist.enabled;
    out->greylist_delay_ms = cfg->greylist.delay_ms;
    out->spf = cfg->spf_enabled;
    out->spf_mail_from[OVERRIDE_SET_REJECT] = cfg->spf_mail_from_reject;
    out->spf_mail_from[OVERRIDE_SET_DEFER] = cfg->spf_mail_from_defer;
    out->spf_mail_from[OVERRIDE_SET_ACCEPT] = cfg->spf_mail_from_accept;
    out->spf_helo[OVERRIDE_SET_REJECT] = cfg->spf_helo_reject;
    out->spf_helo[OVERRIDE_SET_DEFER] = cfg->spf_helo_defer;
    out->spf_helo[OVERRIDE_SET_ACCEPT] = cfg->spf_helo_accept;
    out->spf_reject_only_secure = cfg->spf_reject_only_secure;
    out->action = NULL;
}

struct resolve {
    struct override_settings *out;
    unsigned todo;                /* keys no override has set yet */
    unsigned rank[OVERRIDE_KEYS]; /* order of the match each key came from; globals last */
    unsigned matches;
};

/* apply - take from o every key it sets that no more specific override set */
static void apply(struct resolve *r, const struct override *o)
{
    unsigned keys = o->v.set & r->todo;
    if (!keys)
        return;
    struct override_settings *out = r->out;
    const struct override_values *v = &o->v;
    r->matches++;
    for (unsigned k = 0; k < OVERRIDE_KEYS; k++) {
        if (!(keys & (1u << k)))
            continue;
        out->from[k] = o;
        r->rank[k] = r->matches;
        switch ((enum override_key)k) {
        case OVERRIDE_KEY_GREYLIST:
            out->greylist = v->greylist;
            break;
        case OVERRIDE_KEY_GREYLIST_DELAY:
            out->greylist_delay_ms = v->greylist_delay_ms;
            break;
        case OVERRIDE_KEY_SPF:
            out->spf = v->spf;
            break;
        case OVERRIDE_KEY_SPF_MAIL_FROM_REJECT:
        case OVERRIDE_KEY_SPF_MAIL_FROM_DEFER:
        case OVERRIDE_KEY_SPF_MAIL_FROM_ACCEPT:
            out->spf_mail_from[k - OVERRIDE_KEY_SPF_MAIL_FROM_REJECT] =
                v->spf_mail_from[k - OVERRIDE_KEY_SPF_MAIL_FROM_REJECT];
            break;
        case OVERRIDE_KEY_SPF_HELO_REJECT:
        case OVERRIDE_KEY_SPF_HELO_DEFER:
        case OVERRIDE_KEY_SPF_HELO_ACCEPT:
            out->spf_helo[k - OVERRIDE_KEY_SPF_HELO_REJECT] =
                v->spf_helo[k - OVERRIDE_KEY_SPF_HELO_REJECT];
            break;
        case OVERRIDE_KEY_SPF_REJECT_ONLY_SECURE:
            out->spf_reject_only_secure = v->spf_reject_only_secure;
            break;
        case OVERRIDE_KEY_ACTION:
            out->action = v->action;
            break;
        }
    }
    r->todo &= ~keys;
}

/* lookup - apply the override stored under kind + s[0..n), if any */
static void lookup(const struct override_set *s, struct resolve *r, enum override_kind kind,
                   const char *str, size_t n)
{
    uint8_t key[KEY_MAX];
    if (n + 1 > KEY_MAX)
        return;
    key[0] = (uint8_t)kind;
    memcpy(key + 1, str, n);
    const struct entry *e = find(s, key, n + 1);
    if (e)
        apply(r, &e->o);
}

/* match_domain - rules of kind for domain d[0..n) (lower case): the domain itself, then its
 * parents' ".suffix" rules, longest first */
static void match_domain(const struct override_set *s, struct resolve *r, enum override_kind kind,
                         const char *d, size_t n)
{
    if (!n)
        return;
    if (s->n_exact[kind])
        lookup(s, r, kind, d, n);
    if (!s->n_suffix[kind])
        return;
    for (size_t i = 0; i < n && r->todo; i++) {
        if (d[i] != '.')
            continue;
        size_t sl = n - i;
        if (sl > s->suffix_max[kind])
            continue;
        if (sl < s->suffix_min[kind])
            break;
        lookup(s, r, kind, d + i, sl);
    }
}

/* match_address - the address rule of kind, then the domain rules of kind + 1 */
static void match_address(const struct override_set *s, struct resolve *r, enum override_kind kind,
                          const char *a, size_t n)
{
    char buf[OVERRIDE_VALUE_MAX];
    if (n == 0 || n >= sizeof(buf) || !(s->n_kind[kind] || s->n_kind[kind + 1]))
        return;
    n = canon_name(a, n, buf);
    const char *at = memrchr(buf, '@', n);
    if (s->n_kind[kind] && at)
        lookup(s, r, kind, buf, n);
    if (s->n_kind[kind + 1] && at && r->todo)
        match_domain(s, r, (enum override_kind)(kind + 1), at + 1, n - (size_t)(at + 1 - buf));
}

/* match_client - client rules, longest prefix first */
static void match_client(const struct override_set *s, struct resolve *r, const struct ip_addr *ip)
{
    uint8_t key[18];
    key[0] = OVERRIDE_CLIENT;
    for (unsigned i = 0; i < s->n_prefixes && r->todo; i++) {
        unsigned p = s->prefixes[i];
        key[1] = (uint8_t)p;
        for (unsigned b = 0; b < 16; b++) {
            unsigned bits = p > b * 8 ? p - b * 8 : 0;
            uint8_t m = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
            key[2 + b] = ip->b[b] & m;
        }
        const struct entry *e = find(s, key, sizeof(key));
        if (e)
            apply(r, &e->o);
    }
}

/* disjoint - a result in a set from a more specific source leaves the other sets */
static void disjoint(unsigned sets[3], const unsigned rank[3])
{
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            if (rank[a] < rank[b])
                sets[b] &= ~sets[a];
}

void override_resolve(const struct config *cfg, const struct ip_addr *client, const char *sender,
                      size_t sender_len, const char *recipient, size_t recipient_len,
                      struct override_settings *out)
{
    override_settings_init(out, cfg);
    const struct override_set *s = cfg->overrides;
    if (!s || !s->n)
        return;
    struct resolve r = {.out = out, .todo = (1u << OVERRIDE_KEYS) - 1};
    for (unsigned k = 0; k < OVERRIDE_KEYS; k++)
        r.rank[k] = ~0u;
    match_address(s, &r, OVERRIDE_RECIPIENT, recipient, recipient_len);
    if (r.todo)
        match_address(s, &r, OVERRIDE_SENDER, sender, sender_len);
    if (r.todo && client && s->n_prefixes)
        match_client(s, &r, client);
    if (!r.matches)
        return;
    unsigned rk[3];
    for (int i = 0; i < 3; i++)
        rk[i] = r.rank[OVERRIDE_KEY_SPF_MAIL_FROM_REJECT + i];
    disjoint(out->spf_mail_from, rk);
    for (int i = 0; i < 3; i++)
        rk[i] = r.rank[OVERRIDE_KEY_SPF_HELO_REJECT + i];
    disjoint(out->spf_helo, rk);
}

char *override_settings_kinds(const struct override_settings *st, char *buf, size_t size)
{
    bool seen[OVERRIDE_KINDS] = {false};
    size_t n = 0;
    if (!size)
        return buf;
    buf[0] = '\0';
    for (unsigned k = 0; k < OVERRIDE_KEYS; k++)
        if (st->from[k])
            seen[st->from[k]->kind] = true;
    for (int i = 0; i < OVERRIDE_KINDS; i++) {
        if (!seen[i])
            continue;
        int w = snprintf(buf + n, size - n, "%s%s", n ? "+" : "", kind_names[i]);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
    }
    return buf;
}
