/* kv/kv_memory.c - the in-memory backend for unit tests: a chained hash map of encoded records
 * with the same semantics as RocksDB (expired = absent via kv.c; kv_compact drops expired).
 * Locking: `mu` protects buckets, nbuckets, count and every entry; it is held only for one
 * lookup/insert/remove, one snapshot copy or one compaction pass, and no callback runs under
 * it (get and scan copy out first), so callbacks may call back into kv. Per-key write order
 * comes from kv.c's stripes, taken before mu (kv_int.h). */
#include "kv/kv_int.h"

#include "engine/base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define MEM_BUCKETS_MIN 64u

/* struct mem_entry - one key and its encoded record, in one allocation */
struct mem_entry {
    struct mem_entry *next;
    uint64_t hash;
    size_t klen, rlen;
    unsigned char data[]; /* key, then record */
};

struct kv_memory {
    struct kv base;        /* first: kv_memory is a struct kv */
    atomic_bool fail_writes; /* kv_memory_fail_writes (tests); relaxed */
    pthread_mutex_t mu;    /* protects everything below (see the file header) */
    struct mem_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

/* mem_of - the backend object behind kv */
static struct kv_memory *mem_of(struct kv *kv)
{
    return (struct kv_memory *)kv;
}

/* entry_new - a detached copy of key + record */
static struct mem_entry *entry_new(uint64_t hash, const void *key, size_t klen, const void *rec,
                                   size_t rlen)
{
    struct mem_entry *e = xmalloc(sizeof(*e) + klen + rlen);
    e->next = NULL;
    e->hash = hash;
    e->klen = klen;
    e->rlen = rlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, rec, rlen);
    return e;
}

/* find_slot - the link pointing at key's entry (or at the chain's NULL end); mu held */
static struct mem_entry **find_slot(struct kv_memory *m, uint64_t hash, const void *key,
                                    size_t klen)
{
    struct mem_entry **pp = &m->buckets[hash & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct mem_entry *e = *pp;
        if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
            break;
    }
    return pp;
}

/* grow - double the bucket array when the load factor passes 1; mu held */
static void grow(struct kv_memory *m)
{
    if (m->count <= m->nbuckets)
        return;
    size_t n = m->nbuckets * 2;
    struct mem_entry **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_entry *e = m->buckets[i];
        while (e) {
            struct mem_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

/* mem_get - copy the record out under mu, hand it over outside */
static int mem_get(struct kv *kv, const void *key, size_t klen, kv_raw_cb cb, void *arg)
{
    struct kv_memory *m = mem_of(kv);
    uint64_t h = kv_key_hash(key, klen);
    unsigned char small[256];
    unsigned char *copy = NULL;
    size_t rlen = 0;
    pthread_mutex_lock(&m->mu);
    struct mem_entry *e = *find_slot(m, h, key, klen);
    if (e) {
        rlen = e->rlen;
        copy = rlen <= sizeof(small) ? small : xmalloc(rlen);
        memcpy(copy, e->data + e->klen, rlen);
    }
    pthread_mutex_unlock(&m->mu);
    if (!copy)
        return KV_ERR_NOTFOUND;
    cb(copy, rlen, arg);
    if (copy != small)
        free(copy);
    return 0;
}

/* failing - whether writes fail now (kv_memory_fail_writes) */
static bool failing(struct kv_memory *m)
{
    return atomic_load_explicit(&m->fail_writes, memory_order_relaxed);
}

void kv_memory_fail_writes(struct kv *kv, bool on)
{
    atomic_store_explicit(&mem_of(kv)->fail_writes, on, memory_order_relaxed);
}

/* mem_put - insert or replace */
static int mem_put(struct kv *kv, const void *key, size_t klen, const void *rec, size_t rlen)
{
    struct kv_memory *m = mem_of(kv);
    if (failing(m))
        return KV_ERR_IO;
    uint64_t h = kv_key_hash(key, klen);
    struct mem_entry *n = entry_new(h, key, klen, rec, rlen);
    pthread_mutex_lock(&m->mu);
    struct mem_entry **pp = find_slot(m, h, key, klen);
    struct mem_entry *old = *pp;
    if (old) {
        n->next = old->next;
        *pp = n;
    } else {
        *pp = n;
        m->count++;
        grow(m);
    }
    pthread_mutex_unlock(&m->mu);
    free(old);
    return 0;
}

/* mem_del - unlink and free */
static int mem_del(struct kv *kv, const void *key, size_t klen)
{
    struct kv_memory *m = mem_of(kv);
    if (failing(m))
        return KV_ERR_IO;
    uint64_t h = kv_key_hash(key, klen);
    pthread_mutex_lock(&m->mu);
    struct mem_entry **pp = find_slot(m, h, key, klen);
    struct mem_entry *old = *pp;
    if (old) {
        *pp = old->next;
        m->count--;
    }
    pthread_mutex_unlock(&m->mu);
    free(old);
    return 0;
}

/* mem_write - a batch commit: each write in order (all fail together when failing) */
static int mem_write(struct kv *kv, const struct kv_write *w, size_t n)
{
    if (failing(mem_of(kv)))
        return KV_ERR_IO;
    for (size_t i = 0; i < n; i++) {
        if (w[i].del)
            mem_del(kv, w[i].key, w[i].klen);
        else
            mem_put(kv, w[i].key, w[i].klen, w[i].rec, w[i].rlen);
    }
    return 0;
}

/* entry_cmp - key order (as RocksDB's bytewise comparator), so scans are deterministic */
static int entry_cmp(const void *a, const void *b)
{
    const struct mem_entry *x = *(struct mem_entry *const *)a;
    const struct mem_entry *y = *(struct mem_entry *const *)b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->data, y->data, n);
    if (c)
        return c;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* mem_scan - snapshot copies of matching entries under mu, then call cb without it */
static int mem_scan(struct kv *kv, const void *prefix, size_t plen, kv_raw_scan_cb cb, void *arg)
{
    struct kv_memory *m = mem_of(kv);
    struct mem_entry **snap = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct mem_entry *e = m->buckets[i]; e; e = e->next) {
            if (e->klen < plen || (plen && memcmp(e->data, prefix, plen) != 0))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                snap = xrealloc(snap, cap * sizeof(*snap));
            }
            snap[n++] = entry_new(e->hash, e->data, e->klen, e->data + e->klen, e->rlen);
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (n)
        qsort(snap, n, sizeof(*snap), entry_cmp);
    size_t i = 0;
    for (; i < n; i++)
        if (cb(snap[i]->data, snap[i]->klen, snap[i]->data + snap[i]->klen, snap[i]->rlen, arg))
            break;
    for (i = 0; i < n; i++)
        free(snap[i]);
    free(snap);
    return 0;
}

/* mem_stats - only the key count is meaningful here */
static void mem_stats(struct kv *kv, struct kv_stats *st)
{
    struct kv_memory *m = mem_of(kv);
    pthread_mutex_lock(&m->mu);
    st->keys_estimate = m->count;
    pthread_mutex_unlock(&m->mu);
}

/* mem_compact - drop records expired at the store's now; undecodable ones are kept (as the
 * RocksDB filter does) and reported when read */
static int mem_compact(struct kv *kv)
{
    struct kv_memory *m = mem_of(kv);
    int64_t now = kv_now(kv);
    uint64_t dropped = 0;
    if (now == 0)
        return 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_entry **pp = &m->buckets[i];
        while (*pp) {
            struct mem_entry *e = *pp;
            struct kv_record r;
            if (kv_record_decode(e->data + e->klen, e->rlen, &r) == 0 &&
                !kv_record_live(r.expires_s, now)) {
                *pp = e->next;
                m->count--;
                dropped++;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
    pthread_mutex_unlock(&m->mu);
    atomic_fetch_add_explicit(&kv->expired_dropped, dropped, memory_order_relaxed);
    return 0;
}

/* mem_flush_wal - nothing to flush */
static int mem_flush_wal(struct kv *kv)
{
    (void)kv;
    return 0;
}

/* mem_destroy - free every entry and the object */
static void mem_destroy(struct kv *kv)
{
    struct kv_memory *m = mem_of(kv);
    for (size_t i = 0; m->buckets && i < m->nbuckets; i++) {
        struct mem_entry *e = m->buckets[i];
        while (e) {
            struct mem_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    pthread_mutex_destroy(&m->mu);
    kv_base_fini(&m->base);
    free(m);
}

static const struct kv_ops mem_ops = {
    .name = "memory",
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .write = mem_write,
    .scan = mem_scan,
    .stats = mem_stats,
    .compact = mem_compact,
    .flush_wal = mem_flush_wal,
    .destroy = mem_destroy,
};

struct kv *kv_open_memory(void)
{
    struct kv_memory *m = xcalloc(1, sizeof(*m));
    kv_base_init(&m->base, &mem_ops);
    atomic_init(&m->fail_writes, false);
    pthread_mutex_init(&m->mu, NULL);
    m->nbuckets = MEM_BUCKETS_MIN;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    return &m->base;
}
