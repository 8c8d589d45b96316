/* kv/kv.c - the backend-independent half of kv.h: argument checks, record encoding and
 * decoding, expired-as-absent, the store's "now", per-key write serialisation with striped
 * mutexes (locking protocol in kv_int.h), kv_strerror. Backends only move encoded bytes. */
#include "kv/kv_int.h"

#include "engine/base/alloc.h"
#include "engine/base/hash.h"
#include "engine/base/log.h"

#include <stdlib.h>
#include <string.h>

#define KEY_LOG_MAX 160 /* bytes of a sanitised key in a log line */
#define REC_STACK 256   /* records up to this size are encoded on the stack */

void kv_base_init(struct kv *kv, const struct kv_ops *ops)
{
    kv->ops = ops;
    atomic_init(&kv->now_s, 0);
    atomic_init(&kv->expired_dropped, 0);
    kv->stripes = aligned_alloc(_Alignof(struct kv_stripe), KV_STRIPES * sizeof(struct kv_stripe));
    if (!kv->stripes)
        PANIC("kv: out of memory allocating %zu stripes", (size_t)KV_STRIPES);
    for (size_t i = 0; i < KV_STRIPES; i++)
        pthread_mutex_init(&kv->stripes[i].mu, NULL);
}

void kv_base_fini(struct kv *kv)
{
    if (!kv->stripes)
        return;
    for (size_t i = 0; i < KV_STRIPES; i++)
        pthread_mutex_destroy(&kv->stripes[i].mu);
    free(kv->stripes);
    kv->stripes = NULL;
}

uint64_t kv_key_hash(const void *key, size_t klen)
{
    return hash_bytes(key, klen);
}

/* stripe_of - the mutex serialising writes of key */
static pthread_mutex_t *stripe_of(struct kv *kv, const void *key, size_t klen)
{
    return &kv->stripes[kv_key_hash(key, klen) & (KV_STRIPES - 1)].mu;
}

/* key_ok - 1..KV_KEY_MAX bytes */
static bool key_ok(const void *key, size_t klen)
{
    return key && klen >= 1 && klen <= KV_KEY_MAX;
}

/* note_now - raise the store's now to now_s (a monotonic max; relaxed, see kv_int.h) */
static void note_now(struct kv *kv, int64_t now_s)
{
    int64_t seen = atomic_load_explicit(&kv->now_s, memory_order_relaxed);
    while (now_s > seen &&
           !atomic_compare_exchange_weak_explicit(&kv->now_s, &seen, now_s, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* log_corrupt - one line for a record that failed to decode */
static void log_corrupt(const char *op, const void *key, size_t klen)
{
    char k[KEY_LOG_MAX];
    log_error("kv: %s: stored record for key \"%s\" is corrupt", op,
              log_sanitize(k, sizeof(k), key, klen));
}

/* struct rec_buf - an encoded record, on the stack when small */
struct rec_buf {
    unsigned char *p;
    size_t len;
    unsigned char small[REC_STACK];
};

/* rec_buf_encode - encode into rb (heap only when large) */
static void rec_buf_encode(struct rec_buf *rb, int64_t expires_s, const void *val, size_t vlen)
{
    rb->len = kv_record_size(vlen);
    rb->p = rb->len <= sizeof(rb->small) ? rb->small : xmalloc(rb->len);
    kv_record_encode(rb->p, expires_s, val, vlen);
}

/* rec_buf_fini - free a heap-encoded record */
static void rec_buf_fini(struct rec_buf *rb)
{
    if (rb->p && rb->p != rb->small)
        free(rb->p);
    rb->p = NULL;
}

/* ---- get ---- */

struct get_ctx {
    int64_t now_s;
    void *buf;
    size_t bufcap;
    size_t vlen;
    int64_t expires_s;
    int rc;
};

/* get_raw - decode, drop expired, copy out */
static void get_raw(const void *rec, size_t rlen, void *arg)
{
    struct get_ctx *g = arg;
    struct kv_record r;
    if (kv_record_decode(rec, rlen, &r) < 0) {
        g->rc = KV_ERR_CORRUPT;
        return;
    }
    if (!kv_record_live(r.expires_s, g->now_s)) {
        g->rc = KV_ERR_NOTFOUND;
        return;
    }
    g->vlen = r.vlen;
    g->expires_s = r.expires_s;
    if (r.vlen > g->bufcap) {
        g->rc = KV_ERR_TOOSMALL;
        return;
    }
    if (r.vlen)
        memcpy(g->buf, r.val, r.vlen);
    g->rc = 0;
}

int kv_get(struct kv *kv, const void *key, size_t klen, int64_t now_s, void *buf, size_t bufcap,
           size_t *vlen, int64_t *expires_s)
{
    if (!key_ok(key, klen) || now_s < 0 || (!buf && bufcap))
        return KV_ERR_INVAL;
    note_now(kv, now_s);
    struct get_ctx g = {.now_s = now_s, .buf = buf, .bufcap = bufcap, .rc = KV_ERR_NOTFOUND};
    int rc = kv->ops->get(kv, key, klen, get_raw, &g);
    if (rc < 0)
        return rc;
    if (g.rc == KV_ERR_CORRUPT)
        log_corrupt("get", key, klen);
    if (g.rc == 0 || g.rc == KV_ERR_TOOSMALL) {
        if (vlen)
            *vlen = g.vlen;
        if (expires_s)
            *expires_s = g.expires_s;
    }
    return g.rc;
}

/* ---- put / delete ---- */

int kv_put(struct kv *kv, const void *key, size_t klen, const void *val, size_t vlen,
           int64_t expires_s)
{
    if (!key_ok(key, klen) || vlen > KV_VALUE_MAX || (!val && vlen) || expires_s < 0)
        return KV_ERR_INVAL;
    struct rec_buf rb;
    rec_buf_encode(&rb, expires_s, val, vlen);
    pthread_mutex_t *mu = stripe_of(kv, key, klen);
    pthread_mutex_lock(mu);
    int rc = kv->ops->put(kv, key, klen, rb.p, rb.len);
    pthread_mutex_unlock(mu);
    rec_buf_fini(&rb);
    return rc;
}

int kv_delete(struct kv *kv, const void *key, size_t klen)
{
    if (!key_ok(key, klen))
        return KV_ERR_INVAL;
    pthread_mutex_t *mu = stripe_of(kv, key, klen);
    pthread_mutex_lock(mu);
    int rc = kv->ops->del(kv, key, klen);
    pthread_mutex_unlock(mu);
    return rc;
}

/* ---- update ---- */

struct upd_ctx {
    kv_update_cb fn;
    void *arg;
    int64_t now_s;
    bool stored;  /* something is stored under the key (live, expired or corrupt) */
    bool corrupt; /* ... and it failed to decode */
    enum kv_update_op op;
    int rc;            /* 0 or KV_ERR_INVAL (bad answer from fn) */
    struct rec_buf rb; /* the new record when op is PUT */
};

/* upd_decide - run fn on u (found or not) and encode a PUT answer while cur is still valid */
static void upd_decide(struct upd_ctx *c, struct kv_update *u)
{
    c->op = c->fn(u, c->arg);
    switch (c->op) {
    case KV_UPDATE_KEEP:
    case KV_UPDATE_DELETE:
        return;
    case KV_UPDATE_PUT:
        if (u->val_len > KV_VALUE_MAX || (!u->val && u->val_len) || u->expires_s < 0)
            break;
        rec_buf_encode(&c->rb, u->expires_s, u->val, u->val_len);
        return;
    }
    c->rc = KV_ERR_INVAL;
    c->op = KV_UPDATE_KEEP;
}

/* upd_raw - the stored record: hand it to fn if live */
static void upd_raw(const void *rec, size_t rlen, void *arg)
{
    struct upd_ctx *c = arg;
    struct kv_update u = {0};
    struct kv_record r;
    c->stored = true;
    if (kv_record_decode(rec, rlen, &r) < 0) {
        c->corrupt = true;
    } else if (kv_record_live(r.expires_s, c->now_s)) {
        u.found = true;
        u.cur = r.val;
        u.cur_len = r.vlen;
        u.cur_expires_s = r.expires_s;
    }
    upd_decide(c, &u);
}

int kv_update(struct kv *kv, const void *key, size_t klen, int64_t now_s, kv_update_cb fn,
              void *arg)
{
    if (!key_ok(key, klen) || now_s < 0 || !fn)
        return KV_ERR_INVAL;
    note_now(kv, now_s);
    struct upd_ctx c = {.fn = fn, .arg = arg, .now_s = now_s, .op = KV_UPDATE_KEEP};
    pthread_mutex_t *mu = stripe_of(kv, key, klen);
    /* the stripe is held across the backend's get, fn and put/delete: that is the atomicity.
     * A RocksDB put here is a memtable + WAL append (unsynced unless `sync`), which is fine
     * under this lock; it only delays writers of keys in the same stripe (kv_int.h) */
    pthread_mutex_lock(mu);
    int rc = kv->ops->get(kv, key, klen, upd_raw, &c);
    if (rc == KV_ERR_NOTFOUND) {
        struct kv_update u = {0};
        upd_decide(&c, &u);
        rc = 0;
    }
    if (rc == 0) {
        if (c.op == KV_UPDATE_PUT)
            rc = kv->ops->put(kv, key, klen, c.rb.p, c.rb.len);
        else if (c.op == KV_UPDATE_DELETE && c.stored)
            rc = kv->ops->del(kv, key, klen);
    }
    pthread_mutex_unlock(mu);
    rec_buf_fini(&c.rb);
    if (c.corrupt)
        log_corrupt("update", key, klen);
    return rc < 0 ? rc : c.rc;
}

/* ---- scan ---- */

struct scan_ctx {
    kv_scan_cb cb;
    void *arg;
    int64_t now_s;
    size_t corrupt;
};

/* scan_raw - decode, skip expired and corrupt, hand live records to the caller */
static int scan_raw(const void *key, size_t klen, const void *rec, size_t rlen, void *arg)
{
    struct scan_ctx *s = arg;
    struct kv_record r;
    if (kv_record_decode(rec, rlen, &r) < 0) {
        s->corrupt++;
        return 0;
    }
    if (!kv_record_live(r.expires_s, s->now_s))
        return 0;
    return s->cb(key, klen, r.val, r.vlen, r.expires_s, s->arg);
}

int kv_scan_prefix(struct kv *kv, const void *prefix, size_t plen, int64_t now_s, kv_scan_cb cb,
                   void *arg)
{
    if ((!prefix && plen) || plen > KV_KEY_MAX || now_s < 0 || !cb)
        return KV_ERR_INVAL;
    note_now(kv, now_s);
    struct scan_ctx s = {.cb = cb, .arg = arg, .now_s = now_s};
    int rc = kv->ops->scan(kv, prefix, plen, scan_raw, &s);
    if (s.corrupt)
        log_error("kv: scan: skipped %zu corrupt records", s.corrupt);
    return rc;
}

/* ---- the rest ---- */

void kv_stats(struct kv *kv, struct kv_stats *st)
{
    memset(st, 0, sizeof(*st));
    kv->ops->stats(kv, st);
    st->expired_dropped = atomic_load_explicit(&kv->expired_dropped, memory_order_relaxed);
}

int kv_compact(struct kv *kv)
{
    return kv->ops->compact(kv);
}

int kv_flush_wal(struct kv *kv)
{
    return kv->ops->flush_wal(kv);
}

void kv_close(struct kv *kv)
{
    if (kv)
        kv->ops->destroy(kv);
}

const char *kv_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case KV_ERR_NOTFOUND:
        return "not found";
    case KV_ERR_IO:
        return "state store I/O error";
    case KV_ERR_CORRUPT:
        return "state store data corrupt";
    case KV_ERR_LOCKED:
        return "state directory in use by another process";
    case KV_ERR_ACCESS:
        return "state directory not writable";
    case KV_ERR_TOOSMALL:
        return "buffer too small for the value";
    case KV_ERR_INVAL:
        return "invalid argument";
    }
    return "unknown kv error";
}

/* ---- batches ---- */

/* struct batch_entry - one pending write; key and record are offsets into the batch's buf */
struct batch_entry {
    size_t koff, klen;
    size_t roff, rlen;
    bool del;
    int *status;
};

struct kv_batch {
    struct kv *kv;
    unsigned char *buf; /* keys and records of the pending writes */
    size_t len, cap;
    struct batch_entry *e;
    size_t n, ecap;
    struct kv_write *w; /* the commit's view of e (ecap of them) */
    int **deps;         /* statuses of updates that read a pending record, ndeps of them */
    size_t ndeps, dcap;
    uint32_t *held;     /* stripe indices held, nheld of them */
    size_t nheld, hcap;
    uint64_t heldmap[KV_STRIPES / 64];
};

struct kv_batch *kv_batch_create(struct kv *kv)
{
    struct kv_batch *b = xcalloc(1, sizeof(*b));
    b->kv = kv;
    return b;
}

struct kv *kv_batch_kv(const struct kv_batch *b)
{
    return b->kv;
}

size_t kv_batch_pending(const struct kv_batch *b)
{
    return b->n;
}

bool kv_batch_idle(const struct kv_batch *b)
{
    return b->n == 0 && b->nheld == 0 && b->ndeps == 0;
}

void kv_batch_destroy(struct kv_batch *b)
{
    if (!b)
        return;
    kv_batch_commit(b);
    free(b->buf);
    free(b->e);
    free(b->w);
    free(b->held);
    free(b->deps);
    free(b);
}

/* batch_copy - append n bytes to b's buffer; their offset */
static size_t batch_copy(struct kv_batch *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = b->cap ? b->cap : 4096;
        while (b->len + n > b->cap)
            b->cap *= 2;
        b->buf = xrealloc(b->buf, b->cap);
    }
    size_t off = b->len;
    if (n)
        memcpy(b->buf + off, p, n);
    b->len += n;
    return off;
}

/* batch_add - a pending write of key (rec NULL: a delete) reporting into status */
static void batch_add(struct kv_batch *b, const void *key, size_t klen, const void *rec,
                      size_t rlen, int *status)
{
    if (b->n == b->ecap) {
        b->ecap = b->ecap ? 2 * b->ecap : 64;
        b->e = xrealloc(b->e, b->ecap * sizeof(*b->e));
        b->w = xrealloc(b->w, b->ecap * sizeof(*b->w));
    }
    struct batch_entry *e = &b->e[b->n++];
    e->koff = batch_copy(b, key, klen);
    e->klen = klen;
    e->roff = batch_copy(b, rec, rlen);
    e->rlen = rlen;
    e->del = rec == NULL;
    e->status = status;
    *status = 1;
}

/* batch_find - the latest pending write of key, or NULL */
static const struct batch_entry *batch_find(const struct kv_batch *b, const void *key,
                                            size_t klen)
{
    for (size_t i = b->n; i-- > 0;)
        if (b->e[i].klen == klen && memcmp(b->buf + b->e[i].koff, key, klen) == 0)
            return &b->e[i];
    return NULL;
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer's deadlock detector tracks at most 64 mutexes held by one thread (beyond
 * that a CHECK aborts the process; a worker's turn under load reached it). Under TSan a batch
 * commits before it would hold more stripes than this, leaving room for RocksDB's locks. */
#define BATCH_HELD_MAX 48u
#else
#define BATCH_HELD_MAX SIZE_MAX
#endif

/* batch_hold - make sure b holds stripe si; false when it had to take it just now */
static bool batch_hold(struct kv_batch *b, size_t si)
{
    uint64_t bit = 1ull << (si % 64);
    if (b->heldmap[si / 64] & bit)
        return true;
    if (b->nheld >= BATCH_HELD_MAX)
        kv_batch_commit(b);
    pthread_mutex_t *mu = &b->kv->stripes[si].mu;
    if (pthread_mutex_trylock(mu) != 0) {
        kv_batch_commit(b); /* never wait while holding a stripe (kv_int.h) */
        pthread_mutex_lock(mu);
    }
    if (b->nheld == b->hcap) {
        b->hcap = b->hcap ? 2 * b->hcap : 64;
        b->held = xrealloc(b->held, b->hcap * sizeof(*b->held));
    }
    b->held[b->nheld++] = (uint32_t)si;
    b->heldmap[si / 64] |= bit;
    return false;
}

int kv_batch_update(struct kv_batch *b, const void *key, size_t klen, int64_t now_s,
                    kv_update_cb fn, void *arg, int *status)
{
    *status = 0;
    if (!key_ok(key, klen) || now_s < 0 || !fn)
        return KV_ERR_INVAL;
    struct kv *kv = b->kv;
    note_now(kv, now_s);
    struct upd_ctx c = {.fn = fn, .arg = arg, .now_s = now_s, .op = KV_UPDATE_KEEP};
    size_t si = kv_key_hash(key, klen) & (KV_STRIPES - 1);
    /* a pending write of this very key exists only if the stripe was already held */
    const struct batch_entry *pe = batch_hold(b, si) ? batch_find(b, key, klen) : NULL;
    int rc = 0;
    if (pe && pe->del) {
        struct kv_update u = {0};
        upd_decide(&c, &u);
    } else if (pe) {
        upd_raw(b->buf + pe->roff, pe->rlen, &c);
    } else {
        rc = kv->ops->get(kv, key, klen, upd_raw, &c);
        if (rc == KV_ERR_NOTFOUND) {
            struct kv_update u = {0};
            upd_decide(&c, &u);
            rc = 0;
        }
    }
    if (rc == 0) {
        if (c.op == KV_UPDATE_PUT) {
            batch_add(b, key, klen, c.rb.p, c.rb.len, status);
        } else if (c.op == KV_UPDATE_DELETE && (c.stored || pe)) {
            batch_add(b, key, klen, NULL, 0, status);
        } else if (pe) { /* decided on a pending record: stands or falls with its commit */
            if (b->ndeps == b->dcap) {
                b->dcap = b->dcap ? 2 * b->dcap : 16;
                b->deps = xrealloc(b->deps, b->dcap * sizeof(*b->deps));
            }
            b->deps[b->ndeps++] = status;
            *status = 1;
        }
    }
    rec_buf_fini(&c.rb);
    if (c.corrupt)
        log_corrupt("update", key, klen);
    return rc < 0 ? rc : c.rc;
}

int kv_batch_commit(struct kv_batch *b)
{
    int rc = 0;
    if (b->n) {
        for (size_t i = 0; i < b->n; i++) {
            const struct batch_entry *e = &b->e[i];
            b->w[i] = (struct kv_write){.key = b->buf + e->koff, .klen = e->klen,
                                        .rec = e->del ? NULL : b->buf + e->roff,
                                        .rlen = e->rlen, .del = e->del};
        }
        rc = b->kv->ops->write(b->kv, b->w, b->n);
        for (size_t i = 0; i < b->n; i++)
            *b->e[i].status = rc;
    }
    for (size_t i = 0; i < b->ndeps; i++)
        *b->deps[i] = rc;
    b->ndeps = 0;
    for (size_t i = 0; i < b->nheld; i++) {
        pthread_mutex_unlock(&b->kv->stripes[b->held[i]].mu);
        b->heldmap[b->held[i] / 64] = 0;
    }
    b->nheld = 0;
    b->n = 0;
    b->len = 0;
    return rc;
}
