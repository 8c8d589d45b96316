/* engine/spf_cache.c - striped LRU cache of SPF outcomes; see spf_cache.h.
 * Locking: each stripe's mutex protects its buckets, LRU list and count. Lock order: a
 * stripe lock is a leaf. */
#include "engine/spf_cache.h"
#include "engine/base/alloc.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64
#define BUCKETS_PER_STRIPE 1024

struct lru_link {
    struct lru_link *prev, *next;
};

struct entry {
    struct lru_link lru;       /* stripe LRU list, most recent at the tail; first member */
    struct entry *hnext;       /* bucket chain */
    uint64_t hash;
    int64_t expires_s;
    enum spf_result result;
    bool secure;
    unsigned dns_terms, void_lookups;
    size_t klen;
    /* strings follow the key, each NUL-terminated; offsets are 0 for NULL */
    size_t off_domain, off_sender, off_mechanism, off_explanation, off_problem;
    char data[]; /* key bytes, then the strings */
};

/* entry_of - the entry whose lru link this is (the link is its first member) */
static struct entry *entry_of(struct lru_link *l)
{
    return (struct entry *)(void *)l;
}

struct stripe {
    alignas(64) pthread_mutex_t mu;
    struct entry *buckets[BUCKETS_PER_STRIPE];
    struct lru_link lru; /* sentinel */
    size_t n;
    uint64_t hits, misses;
};

struct spf_cache {
    size_t max_per_stripe;
    uint32_t max_ttl_s;
    struct stripe stripes[STRIPES];
};

/* make_key - the key bytes for q into buf (size >= 16+1+strlen*2+2); returns its length */
static size_t make_key(const struct spf_query *q, char *buf)
{
    size_t n = 0;
    memcpy(buf, q->ip.b, 16);
    n += 16;
    buf[n++] = (char)q->identity;
    size_t sl = q->identity == SPF_ID_MAILFROM ? strlen(q->sender) : 0;
    memcpy(buf + n, q->sender, sl);
    n += sl;
    buf[n++] = '\0';
    size_t hl = strlen(q->helo);
    memcpy(buf + n, q->helo, hl);
    n += hl;
    return n;
}

/* hash64 - FNV-1a, then a final mix so low bits spread over stripes and buckets */
static uint64_t hash64(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

struct spf_cache *spf_cache_create(size_t max_entries, uint32_t max_ttl_s)
{
    struct spf_cache *c = aligned_alloc(64, sizeof(*c));
    if (!c)
        abort();
    memset(c, 0, sizeof(*c));
    c->max_per_stripe = max_entries / STRIPES ? max_entries / STRIPES : 1;
    c->max_ttl_s = max_ttl_s;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&c->stripes[i].mu, NULL);
        c->stripes[i].lru.prev = c->stripes[i].lru.next = &c->stripes[i].lru;
    }
    return c;
}

void spf_cache_destroy(struct spf_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &c->stripes[i];
        struct lru_link *l = s->lru.next;
        while (l != &s->lru) {
            struct lru_link *next = l->next;
            free(entry_of(l));
            l = next;
        }
        pthread_mutex_destroy(&s->mu);
    }
    free(c);
}

static void lru_unlink(struct entry *e)
{
    e->lru.prev->next = e->lru.next;
    e->lru.next->prev = e->lru.prev;
}

static void lru_push(struct stripe *s, struct entry *e)
{
    e->lru.prev = s->lru.prev;
    e->lru.next = &s->lru;
    s->lru.prev->next = &e->lru;
    s->lru.prev = &e->lru;
}

/* entry_remove - unlink e from its hash chain and the LRU list, and free it */
static void entry_remove(struct stripe *s, struct entry *e)
{
    struct entry **pp = &s->buckets[(e->hash >> 8) % BUCKETS_PER_STRIPE];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    s->n--;
    free(e);
}

/* find - the entry for key in s, or NULL; caller holds s->mu */
static struct entry *find(struct stripe *s, uint64_t h, const char *key, size_t klen)
{
    for (struct entry *e = s->buckets[(h >> 8) % BUCKETS_PER_STRIPE]; e; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
            return e;
    return NULL;
}

static const char *str_at(const struct entry *e, size_t off)
{
    return off ? e->data + off : NULL;
}

bool spf_cache_get(struct spf_cache *c, const struct spf_query *q, int64_t now_s,
                   struct arena *a, struct spf_outcome *out)
{
    size_t cap = 18 + strlen(q->sender) + strlen(q->helo);
    char stackbuf[1024];
    char *key = cap <= sizeof(stackbuf) ? stackbuf : xmalloc(cap);
    size_t klen = make_key(q, key);
    uint64_t h = hash64(key, klen);
    struct stripe *s = &c->stripes[h % STRIPES];
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find(s, h, key, klen);
    if (e && e->expires_s <= now_s) {
        entry_remove(s, e);
        e = NULL;
    }
    if (e) {
        lru_unlink(e);
        lru_push(s, e);
        memset(out, 0, sizeof(*out));
        out->result = e->result;
        out->secure = e->secure;
        out->dns_terms = e->dns_terms;
        out->void_lookups = e->void_lookups;
        const char *strs[5] = {str_at(e, e->off_domain), str_at(e, e->off_sender),
                               str_at(e, e->off_mechanism), str_at(e, e->off_explanation),
                               str_at(e, e->off_problem)};
        const char **dst[5] = {&out->domain, &out->sender, &out->mechanism, &out->explanation,
                               &out->problem};
        for (int i = 0; i < 5; i++)
            *dst[i] = strs[i] ? arena_strndup(a, strs[i], strlen(strs[i])) : NULL;
        s->hits++;
        hit = true;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    if (key != stackbuf)
        free(key);
    return hit;
}

void spf_cache_put(struct spf_cache *c, const struct spf_query *q, int64_t now_s,
                   uint32_t ttl_s, const struct spf_outcome *out)
{
    if (out->result == SPF_RESULT_TEMPERROR || ttl_s == 0)
        return;
    if (ttl_s > c->max_ttl_s)
        ttl_s = c->max_ttl_s;
    const char *strs[5] = {out->domain, out->sender, out->mechanism, out->explanation,
                           out->problem};
    size_t slen[5], total = 0;
    for (int i = 0; i < 5; i++) {
        slen[i] = strs[i] ? strlen(strs[i]) + 1 : 0;
        total += slen[i];
    }
    size_t cap = 18 + strlen(q->sender) + strlen(q->helo);
    /* data: key, one pad byte so that no string offset is 0, then the strings */
    struct entry *e = xmalloc(sizeof(*e) + cap + 1 + total);
    e->klen = make_key(q, e->data);
    e->hash = hash64(e->data, e->klen);
    e->expires_s = now_s + (int64_t)ttl_s;
    e->result = out->result;
    e->secure = out->secure;
    e->dns_terms = out->dns_terms;
    e->void_lookups = out->void_lookups;
    size_t pos = e->klen + 1;
    size_t *offs[5] = {&e->off_domain, &e->off_sender, &e->off_mechanism, &e->off_explanation,
                       &e->off_problem};
    for (int i = 0; i < 5; i++) {
        if (!strs[i]) {
            *offs[i] = 0;
            continue;
        }
        memcpy(e->data + pos, strs[i], slen[i]);
        *offs[i] = pos;
        pos += slen[i];
    }
    struct stripe *s = &c->stripes[e->hash % STRIPES];
    pthread_mutex_lock(&s->mu);
    struct entry *old = find(s, e->hash, e->data, e->klen);
    if (old)
        entry_remove(s, old);
    while (s->n >= c->max_per_stripe)
        entry_remove(s, entry_of(s->lru.next));
    struct entry **b = &s->buckets[(e->hash >> 8) % BUCKETS_PER_STRIPE];
    e->hnext = *b;
    *b = e;
    lru_push(s, e);
    s->n++;
    pthread_mutex_unlock(&s->mu);
}

void spf_cache_stats(struct spf_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    size_t n = 0;
    uint64_t h = 0, m = 0;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].mu);
        n += c->stripes[i].n;
        h += c->stripes[i].hits;
        m += c->stripes[i].misses;
        pthread_mutex_unlock(&c->stripes[i].mu);
    }
    *entries = n;
    *hits = h;
    *misses = m;
}
