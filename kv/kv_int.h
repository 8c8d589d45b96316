/* kv/kv_int.h - inside kv/: the record codec, the backend interface, the shared base object.
 *
 * Record format (every stored value, both backends; kv_record.c):
 *     byte 0       format version, KV_RECORD_VERSION (1)
 *     bytes 1..8   expiry: unix seconds, unsigned little-endian, 0 = never, <= INT64_MAX
 *     bytes 9..    the caller's value (0..KV_VALUE_MAX bytes)
 * Anything else (short, other version, expiry past INT64_MAX, oversized) is corrupt.
 *
 * Layering: kv.c checks arguments, encodes/decodes records, filters expired ones, tracks the
 * store's "now" and serialises writes per key; a backend (kv_rocksdb.c, kv_memory.c) only
 * stores opaque encoded records and reports its own errors (logged there, mapped to KV_ERR_*).
 *
 * Locking protocol (the whole of it):
 * - stripes[i].mu (kv.c) serialises every write to keys whose hash lands in stripe i
 *   (kv_put, kv_delete, kv_update, kv_batch_update; KV_STRIPES stripes). Held across one
 *   backend get and one backend put/delete; a kv_batch holds its stripes from the update
 *   that first needs each until its commit's backend write returns, and never waits for a
 *   stripe while holding any (it commits first), so no cycle of waiters can form. For RocksDB that is a memtable+WAL write, unsynced by default; with sync on it
 *   waits for fsync, which only delays other writers of the same stripe. Readers and scans
 *   never take it.
 * - kv_memory's map mutex guards its hash table for the length of one lookup/insert/remove
 *   or one snapshot copy; no callback runs under it.
 * - Lock order: stripe mutex -> memory map mutex -> log module mutex. Nothing else nests.
 *
 * The store's "now" (base.now_s) is the largest now_s any call has passed, kept in a relaxed
 * atomic: RocksDB's compaction filter runs on RocksDB threads and reads it to decide what has
 * expired; a stale (smaller) value only means dropping less, never dropping a live record. It
 * starts at 0 (= drop nothing) until the first call that carries a now_s. We do not read the
 * wall clock inside the filter so that tests with simulated time exercise the same path. */
#ifndef GREYSPF_KV_KV_INT_H
#define GREYSPF_KV_KV_INT_H
#include "kv/kv.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- record codec (kv_record.c) ---- */

#define KV_RECORD_VERSION 1
#define KV_RECORD_HEADER 9u /* version byte + 8-byte expiry */

/* struct kv_record - a decoded record; val points into the encoded bytes */
struct kv_record {
    int64_t expires_s; /* 0 = never */
    const void *val;
    size_t vlen;
};

/* kv_record_size - encoded size of a value of vlen bytes */
static inline size_t kv_record_size(size_t vlen)
{
    return KV_RECORD_HEADER + vlen;
}

/* kv_record_live - whether a record with this expiry is live at now_s */
static inline bool kv_record_live(int64_t expires_s, int64_t now_s)
{
    return expires_s == 0 || expires_s > now_s;
}

/* kv_record_encode - write the record into dst (kv_record_size(vlen) bytes); expires_s must be
 * >= 0 and vlen <= KV_VALUE_MAX (callers check: a violation is a bug). val may be NULL if 0. */
void kv_record_encode(void *dst, int64_t expires_s, const void *val, size_t vlen);
/* kv_record_decode - parse len bytes at src into *out (pointing into src). Returns 0 or
 * KV_ERR_CORRUPT; never logs (callers log with the key), never reads past src + len. */
int kv_record_decode(const void *src, size_t len, struct kv_record *out);

/* ---- backends ---- */

/* kv_raw_cb - a stored encoded record, valid only during the call */
typedef void (*kv_raw_cb)(const void *rec, size_t rlen, void *arg);
/* kv_raw_scan_cb - one stored key + encoded record; non-zero return stops the scan */
typedef int (*kv_raw_scan_cb)(const void *key, size_t klen, const void *rec, size_t rlen,
                              void *arg);

/* struct kv_write - one write of a batch commit: put rec (rlen bytes), or delete when del */
struct kv_write {
    const void *key;
    size_t klen;
    const void *rec;
    size_t rlen;
    bool del;
};

/* struct kv_ops - a backend. Every function returns 0 or KV_ERR_* and logs its own errors. */
struct kv_ops {
    const char *name;
    /* get - call cb once with key's record and return 0, or return KV_ERR_NOTFOUND / _IO */
    int (*get)(struct kv *kv, const void *key, size_t klen, kv_raw_cb cb, void *arg);
    int (*put)(struct kv *kv, const void *key, size_t klen, const void *rec, size_t rlen);
    int (*del)(struct kv *kv, const void *key, size_t klen);
    /* write - apply n writes in order, all or (on error) none */
    int (*write)(struct kv *kv, const struct kv_write *w, size_t n);
    /* scan - every stored key starting with prefix, with no lock of ours held during cb */
    int (*scan)(struct kv *kv, const void *prefix, size_t plen, kv_raw_scan_cb cb, void *arg);
    void (*stats)(struct kv *kv, struct kv_stats *st);
    /* compact - drop every record expired at kv->now_s (count them in expired_dropped) */
    int (*compact)(struct kv *kv);
    int (*flush_wal)(struct kv *kv);
    /* destroy - close and free the whole object (kv_base_fini included); accepts one that
     * open left half-built */
    void (*destroy)(struct kv *kv);
};

/* 4096: a worker's batch holds up to ~100 stripes at a time; with 1024 another worker's next
 * key would collide (and force an early commit) one time in ten */
#define KV_STRIPES 4096u

/* struct kv_stripe - one write-serialisation mutex on its own cache line */
struct kv_stripe {
    _Alignas(64) pthread_mutex_t mu; /* protects: RMW order of keys hashing here */
};

/* struct kv - the base every backend embeds as its first member */
struct kv {
    const struct kv_ops *ops;
    /* largest now_s passed so far; relaxed: a heuristic threshold for expiry, publishes
     * nothing else (see the file header) */
    _Atomic int64_t now_s;
    /* expired records removed by compaction; relaxed counter, summed for kv_stats */
    atomic_uint_fast64_t expired_dropped;
    struct kv_stripe *stripes; /* KV_STRIPES of them, NULL until kv_base_init */
};

/* kv_base_init - set up the shared part; ops must outlive kv */
void kv_base_init(struct kv *kv, const struct kv_ops *ops);
/* kv_base_fini - undo kv_base_init; accepts a zeroed (never initialised) base */
void kv_base_fini(struct kv *kv);
/* kv_key_hash - hash_bytes (engine/base/hash.h) of the key */
uint64_t kv_key_hash(const void *key, size_t klen);
/* kv_now - the store's now (0: none seen yet) */
static inline int64_t kv_now(struct kv *kv)
{
    return atomic_load_explicit(&kv->now_s, memory_order_relaxed);
}

#endif
