/* kv/kv.h - the state store: expiring binary records under binary keys.
 *
 * Usage: open one store per process (kv_open_rocksdb() in the daemon, kv_open_memory() in unit
 * tests), share the handle between threads, and pass the wall-clock second you read once per
 * loop turn as `now_s`. A record is a value plus an absolute expiry (unix seconds, 0 = never);
 * a record whose expiry is <= now_s is expired and every call treats it as absent, whether or
 * not it is still stored. Expired records are removed in the background (RocksDB: a compaction
 * filter) and by kv_compact(); nothing here ever scans the store to expire it. Compaction
 * judges expiry by the largest now_s any call has passed, so now_s must really be the wall
 * clock in seconds (a value in milliseconds would expire everything at the next compaction).
 *
 * kv_update() is the one atomic primitive: a read-modify-write of one key (kv_batch_update: the
 * same, committed with others in one write), serialised against every other write to that key
 * (striped locks: key hash -> 4096 stripes, never a global lock).
 * The interface is kept narrow on purpose so a networked backend (Redis/Valkey) can implement
 * it later: no transactions across keys, no ordering promised by scans, no iterator objects.
 *
 * Threads: every function is thread-safe except kv_close(). Writes (kv_put, kv_delete,
 * kv_update) and kv_compact / kv_flush_wal may block on disk (synced writes, compaction
 * back-pressure): call them from workers, never from an I/O thread.
 * Errors: 0 or a negative KV_ERR_*; the backend's own error text is logged (one line,
 * "kv: ...") and never returned. Keys, values and prefixes are borrowed for the call. */
#ifndef GREYSPF_KV_KV_H
#define GREYSPF_KV_KV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;

#define KV_ERR_NOTFOUND (-1) /* no live record (absent or expired) */
#define KV_ERR_IO (-2)       /* the backend failed to read or write */
#define KV_ERR_CORRUPT (-3)  /* a stored record or the store itself is damaged */
#define KV_ERR_LOCKED (-4)   /* open: the directory is in use by another process */
#define KV_ERR_ACCESS (-5)   /* open: the directory cannot be created or written */
#define KV_ERR_TOOSMALL (-6) /* kv_get: the caller's buffer is shorter than the value */
#define KV_ERR_INVAL (-7)    /* bad argument: empty or oversized key/value, negative time */

#define KV_KEY_MAX 4096u         /* keys are 1..KV_KEY_MAX bytes, any bytes (NUL too) */
#define KV_VALUE_MAX (16u << 20) /* values are 0..KV_VALUE_MAX bytes */
#define KV_ROCKSDB_CACHE_DEFAULT (64u << 20)
#define KV_ROCKSDB_PERIODIC_DEFAULT 86400

/* kv_rocksdb_options - zero-initialised means "the defaults" field by field */
struct kv_rocksdb_options {
    size_t block_cache_bytes; /* LRU block cache; 0: KV_ROCKSDB_CACHE_DEFAULT (64 MB) */
    /* every SST file is recompacted (so the expiry filter sees it) at least this often;
     * 0: KV_ROCKSDB_PERIODIC_DEFAULT (1 day); < 0: RocksDB's own default (30 days) */
    int64_t periodic_compaction_s;
    /* false (default): writes go to the WAL unsynced - a process crash loses nothing, an OS
     * crash the last moments (call kv_flush_wal() each second to bound that); true: every
     * write is synced (~100 times slower) */
    bool sync;
    /* writes (and kv_compact) fail with KV_ERR_IO while the store's filesystem has less than
     * this free, and resume at 16 MB more, so that RocksDB never meets a full disk (it can
     * abort the process then; kv_rocksdb.c). 0: no check. A write that RocksDB fails stops
     * writes until the store is reopened. kv_stats shows both states. */
    uint64_t min_free_bytes;
};

/* kv_open_rocksdb - open (creating if missing: the last path component, mode 0750) the RocksDB
 * store in directory dir. opt may be NULL (defaults). On failure returns NULL, sets *err to
 * KV_ERR_ACCESS (not writable), KV_ERR_LOCKED (another process has it open), KV_ERR_CORRUPT or
 * KV_ERR_IO, and writes one human-readable line naming dir into msg (msglen bytes, may be
 * 0/NULL). err may be NULL. */
struct kv *kv_open_rocksdb(const char *dir, const struct kv_rocksdb_options *opt, int *err,
                           char *msg, size_t msglen);
/* kv_open_memory - an empty in-memory store with the same semantics (for tests); never NULL */
struct kv *kv_open_memory(void);
/* kv_close - flush and close; no other call may run concurrently or follow. NULL: no-op */
void kv_close(struct kv *kv);

/* kv_get - copy the live value of key into buf (bufcap bytes; buf may be NULL if bufcap is 0).
 * *vlen (may be NULL) gets the value's length, *expires_s (may be NULL) its expiry (0 = never).
 * Returns 0; KV_ERR_NOTFOUND (absent or expired at now_s); KV_ERR_TOOSMALL when the value is
 * longer than bufcap (*vlen tells how long: retry with a bigger buffer); KV_ERR_CORRUPT (logged);
 * KV_ERR_IO; KV_ERR_INVAL. */
int kv_get(struct kv *kv, const void *key, size_t klen, int64_t now_s, void *buf, size_t bufcap,
           size_t *vlen, int64_t *expires_s);
/* kv_put - store val (vlen bytes, may be NULL if 0) under key, replacing any record; expires_s
 * is absolute unix seconds, 0 = never. Returns 0, KV_ERR_IO or KV_ERR_INVAL. */
int kv_put(struct kv *kv, const void *key, size_t klen, const void *val, size_t vlen,
           int64_t expires_s);
/* kv_delete - remove key; deleting an absent key succeeds. Returns 0, KV_ERR_IO, KV_ERR_INVAL */
int kv_delete(struct kv *kv, const void *key, size_t klen);

enum kv_update_op { KV_UPDATE_KEEP = 0, KV_UPDATE_PUT, KV_UPDATE_DELETE };

/* struct kv_update - what a kv_update_cb sees and answers */
struct kv_update {
    /* in: the current live record; found is false when it is absent, expired, or corrupt
     * (a corrupt record is logged and then overwritten by a PUT, which repairs it) */
    bool found;
    const void *cur; /* cur_len bytes, valid only during the callback */
    size_t cur_len;
    int64_t cur_expires_s;
    /* out, read only when the callback returns KV_UPDATE_PUT: the new value and its expiry.
     * val is read after the callback returns, before kv_update does: point into cur or into
     * memory reached through arg, never into the callback's own stack frame */
    const void *val;
    size_t val_len;
    int64_t expires_s;
};

/* kv_update_cb - decide the key's new state from u's "in" fields. It runs with the key's
 * stripe lock held: keep it short and never call kv_* from it (deadlock). It may run more
 * than once for one kv_update (a networked backend retries on conflict), so its only effects
 * are u's "out" fields and what it records in arg for the last run. */
typedef enum kv_update_op (*kv_update_cb)(struct kv_update *u, void *arg);

/* kv_update - atomically read key at now_s, call fn, and apply its answer (put, delete or keep).
 * Serialised against every kv_put/kv_delete/kv_update of the same key. Returns 0 (whatever fn
 * answered), KV_ERR_IO, KV_ERR_INVAL (bad key, or fn returned an oversized value, a negative
 * expiry or an unknown op: nothing is written). */
int kv_update(struct kv *kv, const void *key, size_t klen, int64_t now_s, kv_update_cb fn,
              void *arg);

/* Batched updates: one thread's group commit.
 * A thread that updates many keys in a row (a worker and its batch of requests) makes each
 * update with kv_batch_update and then calls kv_batch_commit once: one backend write for the
 * lot (RocksDB: one WriteBatch, so one log append and one write-group join instead of one per
 * key). kv_batch_update decides as kv_update does (fn runs at once on the current record,
 * with the key's stripe held), but the new record is applied at the commit. Until then:
 *   - the key's stripe stays held by the batch: every other writer of a key in that stripe
 *     (kv_put, kv_delete, kv_update, another batch) waits for the commit, so the per-key
 *     serialisation of kv_update holds across batches;
 *   - later updates in the same batch see the pending record (they read their own writes);
 *   - kv_get, kv_scan_prefix and all other threads read the committed record.
 * No deadlock: a batch never waits for a stripe while it holds one; when the stripe it needs
 * is busy it commits what it has first (a commit can thus happen inside kv_batch_update) and
 * then waits. A batch belongs to one thread, which must not call kv_put/kv_delete/kv_update
 * while the batch holds stripes, and must commit before it blocks on anything else (others
 * may be waiting for its stripes).
 * Every update that leaves a write pending, or that decided on a pending record of the same
 * batch, names an int, *status, that is 1 until the commit that applies it sets it to 0, or
 * to KV_ERR_IO when that commit failed (then none of its writes was applied). Do not act on
 * the update's decision (tell anyone) before that. A batch holds stripes even when nothing
 * is pending (an update that wrote nothing): commit whenever kv_batch_idle is false. */
struct kv_batch;
/* kv_batch_create - an empty batch over kv for the calling thread; never NULL */
struct kv_batch *kv_batch_create(struct kv *kv);
/* kv_batch_destroy - commit what is pending and free b. NULL: no-op */
void kv_batch_destroy(struct kv_batch *b);
/* kv_batch_kv - the store b writes to */
struct kv *kv_batch_kv(const struct kv_batch *b);
/* kv_batch_update - kv_update's read-modify-write of key in b. Returns 0 when fn decided:
 * *status is 1 when a PUT or DELETE is pending or fn saw a pending record, else 0;
 * KV_ERR_IO when the read failed (fn not called, *status 0); KV_ERR_INVAL as kv_update. */
int kv_batch_update(struct kv_batch *b, const void *key, size_t klen, int64_t now_s,
                    kv_update_cb fn, void *arg, int *status);
/* kv_batch_commit - apply every pending write in one backend write, set their statuses and
 * release the stripes. Returns 0 (also when nothing was pending) or KV_ERR_IO (logged) */
int kv_batch_commit(struct kv_batch *b);
/* kv_batch_pending - writes waiting for the commit */
size_t kv_batch_pending(const struct kv_batch *b);
/* kv_batch_idle - nothing to commit: no pending write, no waiting status, no stripe held */
bool kv_batch_idle(const struct kv_batch *b);

/* kv_memory_fail_writes - tests: make every write of the memory store kv (put, delete, the
 * writes of kv_update and of a batch commit) fail with KV_ERR_IO while on is true */
void kv_memory_fail_writes(struct kv *kv, bool on);

/* kv_scan_cb - one live record; key and val are valid only during the call. Return 0 to
 * continue, non-zero to stop the scan. It may call any kv_* function (no lock is held). */
typedef int (*kv_scan_cb)(const void *key, size_t klen, const void *val, size_t vlen,
                          int64_t expires_s, void *arg);

/* kv_scan_prefix - call cb for each record live at now_s whose key starts with prefix (plen
 * bytes; 0 = every record). Order is unspecified; records written during the scan may or may
 * not be seen. Corrupt records are skipped and counted in one log line. Never blocks writers.
 * Returns 0 (finished or stopped by cb), KV_ERR_IO or KV_ERR_INVAL. */
int kv_scan_prefix(struct kv *kv, const void *prefix, size_t plen, int64_t now_s, kv_scan_cb cb,
                   void *arg);

/* kv_stats - gauges for metrics; a figure the backend cannot tell is 0 */
struct kv_stats {
    uint64_t keys_estimate;  /* stored keys, expired-not-yet-dropped included (estimate) */
    uint64_t live_sst_bytes; /* RocksDB: bytes of SST files in the current version */
    uint64_t memtable_bytes; /* RocksDB: all memtables */
    uint64_t pending_compaction_bytes; /* RocksDB: estimated bytes compaction still has to do */
    uint64_t block_cache_bytes;        /* RocksDB: block cache in use */
    uint64_t table_readers_bytes;      /* RocksDB: index and filter blocks of the open files */
    uint64_t background_errors;        /* RocksDB: background errors since open (non-zero: alarm) */
    uint64_t expired_dropped;          /* expired records removed by compaction since open */
    uint64_t disk_free_bytes;          /* RocksDB: bytes free for us on the store's filesystem */
    uint64_t low_disk;                 /* RocksDB: 1 while writes are refused for min_free_bytes */
    uint64_t write_failed;             /* RocksDB: 1 once a failed write stopped writes (reopen) */
};
void kv_stats(struct kv *kv, struct kv_stats *st);

/* kv_compact - compact the whole store now, dropping every record expired at the latest now_s
 * any call has passed. Blocks for the duration (seconds on millions of keys): run it from a
 * maintenance thread, never from an I/O thread. Returns 0 or KV_ERR_IO. */
int kv_compact(struct kv *kv);
/* kv_flush_wal - write and sync the write-ahead log (with sync off, bounds what an OS crash can
 * lose). Memory backend: no-op. Returns 0 or KV_ERR_IO. */
int kv_flush_wal(struct kv *kv);

/* kv_strerror - a static description of a KV_ERR_* (or "unknown kv error") */
const char *kv_strerror(int err);

#endif
