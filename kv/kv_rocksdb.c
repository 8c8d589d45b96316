/* kv/kv_rocksdb.c - the RocksDB backend (embedded default), through RocksDB's C API.
 *
 * Options as DEPENDENCIES.md records them: 2 background jobs, 3 x 64 MB memtables, dynamic
 * level sizes, all files open (periodic compaction needs it), bloom filters (10 bits) held
 * with the open tables, data blocks in an LRU block cache, format 5, LZ4, statistics, WAL on.
 * With `sync` off writes are unsynced (a process crash loses nothing; see kv.h). A batch
 * commit (kv.h) is one WriteBatch.
 * Expiry: a compaction filter (factory form, so every compaction gets its own filter object)
 * drops records whose expiry is <= the store's now (kv_int.h); it runs on RocksDB threads and
 * touches only relaxed atomics of this object. periodic_compaction_seconds (no C setter in 7.8)
 * goes through rocksdb_get_options_from_string so every file meets the filter at least daily.
 * Ownership: the table options are copied by the options (destroyed right after); the filter
 * policy and the filter factory belong to RocksDB; our block-cache handle is destroyed after
 * the DB is closed. Every errptr string is logged once ("kv: ...") and freed at once; no
 * RocksDB type or string leaves this file. No lock of ours is taken here (kv.c holds the
 * key's stripe around put/delete, and a batch's stripes around its write).
 *
 * Disk guard: RocksDB must never see a full disk. Debian's librocksdb keeps its assertions:
 * once one append to a file failed, the next append or sync of that file aborts the process
 * (WritableFileWriter: "sync_without_flush_called_"). Its own LOG file is the first to hit
 * that (the error handler logs the failed write there); hence the LOG gets its header only
 * (info_log_level HEADER: a test showed WARN still aborts) and RocksDB's errors reach us as
 * statuses, which are logged here. A failed WAL would abort at our next sync (kv_flush_wal,
 * each second), and without the assertion the store would stay read-only until reopened (the
 * 7.8 C API has no Resume). So every write first checks the free space of the store's
 * filesystem (statvfs, at most every 100 ms, by whichever writer comes first) and is refused
 * (KV_ERR_IO) while it is under min_free_bytes; writes resume once 16 MB more than that is
 * free. A write RocksDB fails anyway (the disk filled faster than the check, an I/O error)
 * stops all writes and WAL syncs until a restart. Each state change is logged once; kv_stats
 * reports both. Reads go on in every state. */
#include "kv/kv_int.h"

#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <rocksdb/c.h>

#define RDB_WRITE_BUFFER (64u << 20)
#define RDB_WRITE_BUFFERS 3
#define RDB_BACKGROUND_JOBS 2
#define RDB_BLOOM_BITS 10
#define RDB_FORMAT_VERSION 5
#define RDB_LOG_FILES 3
#define RDB_INFO_LOG_HEADER_ONLY 5         /* rocksdb::InfoLogLevel::HEADER_LEVEL */
#define RDB_SPACE_CHECK_MS 100             /* statvfs at most this often */
#define RDB_SPACE_HYSTERESIS (16ull << 20) /* resume writes at min_free + this */

struct kv_rocksdb {
    struct kv base; /* first: kv_rocksdb is a struct kv */
    char *dir;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    /* undecodable records the filter kept (relaxed counter, reported by kv_compact) */
    atomic_uint_fast64_t corrupt_kept;
    /* the disk guard (file header); all relaxed: each is a flag or a figure on its own */
    uint64_t min_free;                     /* bytes; 0 = no guard */
    atomic_uint_fast64_t space_checked_ms; /* last statvfs (the CAS winner checks) */
    atomic_bool low_disk;                  /* under min_free: writes refused */
    atomic_bool write_failed;              /* a write failed: writes refused until restart */
};

#if defined(__SANITIZE_THREAD__)
/* __tsan_default_suppressions - ThreadSanitizer reads this at start-up. Debian's librocksdb is
 * not instrumented: its memtable and write queue publish data through std::atomic, which TSan
 * cannot see, so RocksDB's own memcpy/memcmp calls look like races among themselves. Suppress
 * reports with a librocksdb frame in a stack, or a libstdc++ one: librocksdb has no frame
 * pointers, so its frames often vanish from the stack between libstdc++ (a write batch's
 * std::string) and our caller, and no C code of ours calls libstdc++. (Not "called_from_lib":
 * that also hides RocksDB's pthread mutexes, and with them real happens-before edges.) Our
 * callbacks that RocksDB runs touch only relaxed atomics. Weak, so a program with its own list wins
 * (it must then carry this line). It is here, not in a file of its own, because the linker only
 * takes archive members that something references, and nothing references this by name. */
const char *__tsan_default_suppressions(void);
__attribute__((weak)) const char *__tsan_default_suppressions(void)
{
    return "race:librocksdb.so\n"
           "race:libstdc++.so\n";
}
#endif

#if defined(__SANITIZE_THREAD__)
/* rdb_copy_unseen - copy n bytes without TSan seeing the reads: not instrumented, and a
 * volatile byte loop, which the compiler cannot turn into an (intercepted) memcpy */
__attribute__((no_sanitize("thread"), noinline)) static void
rdb_copy_unseen(unsigned char *dst, const volatile unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

/* rdb_view - bytes RocksDB handed out (a memtable entry, a pinned value), to be read by us.
 * Under TSan: a private copy. RocksDB is not instrumented and publishes a memtable entry
 * with std::atomic stores TSan cannot see, so our reads of it looked like races with the
 * memcpy that wrote it (a control-socket scan during load; the suppressions above need a
 * librocksdb frame, and the writer's stack was lost). The copy hides exactly those reads.
 * Other builds read the bytes in place. *own is freed by the caller (free(NULL) otherwise). */
static const char *rdb_view(const char *p, size_t n, char **own)
{
    *own = xmalloc(n ? n : 1);
    rdb_copy_unseen((unsigned char *)*own, (const volatile unsigned char *)p, n);
    return *own;
}
#else
static inline const char *rdb_view(const char *p, size_t n, char **own)
{
    (void)n;
    *own = NULL;
    return p;
}
#endif

/* rdb_of - the backend object behind kv */
static struct kv_rocksdb *rdb_of(struct kv *kv)
{
    return (struct kv_rocksdb *)kv;
}

/* rdb_classify - KV_ERR_* for a RocksDB status string */
static int rdb_classify(const char *err)
{
    if (strstr(err, "lock hold by current process") || strstr(err, "While lock file"))
        return KV_ERR_LOCKED;
    if (strstr(err, "Permission denied") || strstr(err, "Read-only file system"))
        return KV_ERR_ACCESS;
    if (strncmp(err, "Corruption", 10) == 0)
        return KV_ERR_CORRUPT;
    return KV_ERR_IO;
}

/* rdb_fail - log RocksDB's error string as one line, free it, and map it to KV_ERR_* */
static int rdb_fail(const char *what, const char *dir, char *err)
{
    char clean[512];
    int code = rdb_classify(err);
    log_error("kv: %s %s: %s", what, dir, log_sanitize(clean, sizeof(clean), err, strlen(err)));
    rocksdb_free(err);
    return code;
}

/* ---- the expiry compaction filter ---- */

/* filter_expired - drop a record expired at the store's now; keep what we cannot decode */
static unsigned char filter_expired(void *state, int level, const char *key, size_t klen,
                                    const char *val, size_t vlen, char **new_val, size_t *new_vlen,
                                    unsigned char *changed)
{
    (void)level, (void)key, (void)klen, (void)new_val, (void)new_vlen, (void)changed;
    struct kv_rocksdb *r = state;
    int64_t now = kv_now(&r->base);
    struct kv_record rec;
    if (kv_record_decode(val, vlen, &rec) < 0) {
        atomic_fetch_add_explicit(&r->corrupt_kept, 1, memory_order_relaxed); /* counter */
        return 0;
    }
    if (now == 0 || kv_record_live(rec.expires_s, now))
        return 0;
    atomic_fetch_add_explicit(&r->base.expired_dropped, 1, memory_order_relaxed); /* counter */
    return 1;
}

/* state_keep - destructor for filter/factory state: the state is the kv_rocksdb, freed by us
 * after the DB is closed and the options destroyed */
static void state_keep(void *state)
{
    (void)state;
}

/* filter_name - the filter's name as RocksDB records it in OPTIONS files */
static const char *filter_name(void *state)
{
    (void)state;
    return "greyspf.expiry";
}

/* factory_name - the factory's name */
static const char *factory_name(void *state)
{
    (void)state;
    return "greyspf.expiry_factory";
}

/* filter_create - one filter per compaction; RocksDB deletes it when the compaction ends */
static rocksdb_compactionfilter_t *filter_create(void *state,
                                                 rocksdb_compactionfiltercontext_t *ctx)
{
    (void)ctx;
    return rocksdb_compactionfilter_create(state, state_keep, filter_expired, filter_name);
}

/* ---- the disk guard ---- */

/* space_check - statvfs the store's filesystem if the last check is RDB_SPACE_CHECK_MS old
 * (one caller wins the check) and update low_disk, logging each change */
static void space_check(struct kv_rocksdb *r)
{
    uint64_t now = clock_mono_ms();
    uint64_t last = atomic_load_explicit(&r->space_checked_ms, memory_order_relaxed);
    if (last && now - last < RDB_SPACE_CHECK_MS)
        return;
    if (!atomic_compare_exchange_strong_explicit(&r->space_checked_ms, &last, now ? now : 1,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    struct statvfs v;
    if (statvfs(r->dir, &v) < 0)
        return; /* keep the last verdict */
    uint64_t free_b = (uint64_t)v.f_bavail * v.f_frsize;
    bool low = atomic_load_explicit(&r->low_disk, memory_order_relaxed);
    if (!low && free_b < r->min_free) {
        atomic_store_explicit(&r->low_disk, true, memory_order_relaxed);
        log_error("kv: %s: %llu MB free, under min_free_disk (%llu MB): store writes refused "
                  "until space is freed; greylisting passes requests unchecked meanwhile",
                  r->dir, (unsigned long long)(free_b >> 20),
                  (unsigned long long)(r->min_free >> 20));
    } else if (low && free_b >= r->min_free + RDB_SPACE_HYSTERESIS) {
        atomic_store_explicit(&r->low_disk, false, memory_order_relaxed);
        log_warn("kv: %s: %llu MB free again: store writes resumed", r->dir,
                 (unsigned long long)(free_b >> 20));
    }
}

/* write_refused - KV_ERR_IO when a write must not reach RocksDB now, else 0 */
static int write_refused(struct kv_rocksdb *r)
{
    if (atomic_load_explicit(&r->write_failed, memory_order_relaxed))
        return KV_ERR_IO;
    if (r->min_free) {
        space_check(r);
        if (atomic_load_explicit(&r->low_disk, memory_order_relaxed))
            return KV_ERR_IO;
    }
    return 0;
}

/* write_fail - a write RocksDB failed: log it, and stop writes and WAL syncs (file header) */
static int write_fail(struct kv_rocksdb *r, const char *what, char *err)
{
    int code = rdb_fail(what, r->dir, err);
    if (!atomic_exchange_explicit(&r->write_failed, true, memory_order_relaxed))
        log_error("kv: %s: store writes stopped after a failed write (RocksDB keeps the store "
                  "read-only after one): restart greyspfd once the cause is fixed; greylisting "
                  "passes requests unchecked meanwhile",
                  r->dir);
    return code;
}

/* ---- data path ---- */

static int rdb_get(struct kv *kv, const void *key, size_t klen, kv_raw_cb cb, void *arg)
{
    struct kv_rocksdb *r = rdb_of(kv);
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(r->db, r->ropts, key, klen, &err);
    if (err)
        return rdb_fail("get in", r->dir, err);
    if (!v)
        return KV_ERR_NOTFOUND;
    size_t vlen;
    char *own;
    const char *raw = rocksdb_pinnableslice_value(v, &vlen); /* sets vlen: call it first */
    const char *p = rdb_view(raw, vlen, &own);
    cb(p, vlen, arg);
    free(own);
    rocksdb_pinnableslice_destroy(v);
    return 0;
}

static int rdb_put(struct kv *kv, const void *key, size_t klen, const void *rec, size_t rlen)
{
    struct kv_rocksdb *r = rdb_of(kv);
    int refused = write_refused(r);
    if (refused)
        return refused;
    char *err = NULL;
    rocksdb_put(r->db, r->wopts, key, klen, rec, rlen, &err);
    return err ? write_fail(r, "put in", err) : 0;
}

static int rdb_del(struct kv *kv, const void *key, size_t klen)
{
    struct kv_rocksdb *r = rdb_of(kv);
    int refused = write_refused(r);
    if (refused)
        return refused;
    char *err = NULL;
    rocksdb_delete(r->db, r->wopts, key, klen, &err);
    return err ? write_fail(r, "delete in", err) : 0;
}

/* rdb_write - a batch commit: one WriteBatch, so one log record and one write-group join */
static int rdb_write(struct kv *kv, const struct kv_write *w, size_t n)
{
    struct kv_rocksdb *r = rdb_of(kv);
    int refused = write_refused(r);
    if (refused)
        return refused;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        if (w[i].del)
            rocksdb_writebatch_delete(wb, w[i].key, w[i].klen);
        else
            rocksdb_writebatch_put(wb, w[i].key, w[i].klen, w[i].rec, w[i].rlen);
    }
    char *err = NULL;
    rocksdb_write(r->db, r->wopts, wb, &err);
    rocksdb_writebatch_destroy(wb);
    return err ? write_fail(r, "batch write in", err) : 0;
}

/* prefix_upper - the smallest key greater than every key starting with prefix: drop trailing
 * 0xff bytes and increment the last byte. Returns its length, 0 when there is none. */
static size_t prefix_upper(const unsigned char *prefix, size_t plen, unsigned char *out)
{
    while (plen && prefix[plen - 1] == 0xff)
        plen--;
    if (!plen)
        return 0;
    memcpy(out, prefix, plen);
    out[plen - 1]++;
    return plen;
}

/* rdb_scan - an iterator over [prefix, upper) that does not fill the block cache */
static int rdb_scan(struct kv *kv, const void *prefix, size_t plen, kv_raw_scan_cb cb, void *arg)
{
    struct kv_rocksdb *r = rdb_of(kv);
    unsigned char upper[KV_KEY_MAX]; /* must outlive the iterator */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0);
    size_t ulen = plen ? prefix_upper(prefix, plen, upper) : 0;
    if (ulen)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, ulen);
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ro);
    if (plen)
        rocksdb_iter_seek(it, prefix, plen);
    else
        rocksdb_iter_seek_to_first(it);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        char *kown, *vown;
        const char *rk = rocksdb_iter_key(it, &klen), *rv = rocksdb_iter_value(it, &vlen);
        const char *k = rdb_view(rk, klen, &kown), *v = rdb_view(rv, vlen, &vown);
        bool stop =
            klen < plen || (plen && memcmp(k, prefix, plen) != 0) || cb(k, klen, v, vlen, arg);
        free(kown);
        free(vown);
        if (stop)
            break;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return err ? rdb_fail("scan in", r->dir, err) : 0;
}

/* prop - one integer property, 0 when RocksDB cannot tell */
static uint64_t prop(struct kv_rocksdb *r, const char *name)
{
    uint64_t v = 0;
    if (rocksdb_property_int(r->db, name, &v) != 0)
        return 0;
    return v;
}

static void rdb_stats(struct kv *kv, struct kv_stats *st)
{
    struct kv_rocksdb *r = rdb_of(kv);
    st->keys_estimate = prop(r, "rocksdb.estimate-num-keys");
    st->live_sst_bytes = prop(r, "rocksdb.live-sst-files-size");
    st->memtable_bytes = prop(r, "rocksdb.cur-size-all-mem-tables");
    st->pending_compaction_bytes = prop(r, "rocksdb.estimate-pending-compaction-bytes");
    st->block_cache_bytes = prop(r, "rocksdb.block-cache-usage");
    st->table_readers_bytes = prop(r, "rocksdb.estimate-table-readers-mem");
    st->background_errors = prop(r, "rocksdb.background-errors");
    struct statvfs v;
    st->disk_free_bytes = statvfs(r->dir, &v) == 0 ? (uint64_t)v.f_bavail * v.f_frsize : 0;
    st->low_disk = atomic_load_explicit(&r->low_disk, memory_order_relaxed);
    st->write_failed = atomic_load_explicit(&r->write_failed, memory_order_relaxed);
}

/* rdb_compact - flush and compact everything down to the last level, which runs the filter on
 * every record (bottommost files included: the default for a DB with a filter factory). The C
 * call reports no status, so a new background error is the failure signal. */
static int rdb_compact(struct kv *kv)
{
    struct kv_rocksdb *r = rdb_of(kv);
    if (write_refused(r)) { /* a compaction writes too, up to the store's size */
        log_error("kv: compaction of %s not started: store writes are refused (see above)", r->dir);
        return KV_ERR_IO;
    }
    uint64_t errs = prop(r, "rocksdb.background-errors");
    uint64_t dropped = atomic_load_explicit(&kv->expired_dropped, memory_order_relaxed);
    uint64_t corrupt = atomic_load_explicit(&r->corrupt_kept, memory_order_relaxed);
    uint64_t t0 = clock_mono_ms();
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    uint64_t ms = clock_mono_ms() - t0;
    dropped = atomic_load_explicit(&kv->expired_dropped, memory_order_relaxed) - dropped;
    corrupt = atomic_load_explicit(&r->corrupt_kept, memory_order_relaxed) - corrupt;
    if (corrupt)
        log_error("kv: compaction of %s kept %llu undecodable records", r->dir,
                  (unsigned long long)corrupt);
    if (prop(r, "rocksdb.background-errors") != errs) {
        log_error("kv: compaction of %s failed (a RocksDB background error)", r->dir);
        return KV_ERR_IO;
    }
    log_info("kv: compacted %s in %llu ms: %llu expired records dropped", r->dir,
             (unsigned long long)ms, (unsigned long long)dropped);
    return 0;
}

static int rdb_flush_wal(struct kv *kv)
{
    struct kv_rocksdb *r = rdb_of(kv);
    if (atomic_load_explicit(&r->write_failed, memory_order_relaxed))
        return KV_ERR_IO; /* syncing a WAL writer that failed aborts (file header) */
    char *err = NULL;
    rocksdb_flush_wal(r->db, 1, &err);
    return err ? rdb_fail("flush WAL of", r->dir, err) : 0;
}

/* rdb_destroy - close the DB, then what it used; accepts a half-built object */
static void rdb_destroy(struct kv *kv)
{
    struct kv_rocksdb *r = rdb_of(kv);
    if (r->db)
        rocksdb_close(r->db); /* waits for background work; the filter state stays valid */
    if (r->opts)
        rocksdb_options_destroy(r->opts);
    if (r->wopts)
        rocksdb_writeoptions_destroy(r->wopts);
    if (r->ropts)
        rocksdb_readoptions_destroy(r->ropts);
    if (r->cache)
        rocksdb_cache_destroy(r->cache); /* after close: the DB held a reference */
    kv_base_fini(&r->base);
    free(r->dir);
    free(r);
}

static const struct kv_ops rdb_ops = {
    .name = "rocksdb",
    .get = rdb_get,
    .put = rdb_put,
    .del = rdb_del,
    .write = rdb_write,
    .scan = rdb_scan,
    .stats = rdb_stats,
    .compact = rdb_compact,
    .flush_wal = rdb_flush_wal,
    .destroy = rdb_destroy,
};

/* ---- open ---- */

/* say - format the caller's one-line message (msg may be NULL/0) */
__attribute__((format(printf, 3, 4))) static void say(char *msg, size_t msglen, const char *fmt,
                                                      ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

/* errno_code - KV_ERR_* for a failed mkdir/stat/access */
static int errno_code(int e)
{
    return e == EACCES || e == EPERM || e == EROFS ? KV_ERR_ACCESS : KV_ERR_IO;
}

/* prepare_dir - create dir if missing and check we may write in it, so the common failures get
 * a plain message instead of RocksDB's */
static int prepare_dir(const char *dir, char *msg, size_t msglen)
{
    struct stat st;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        int e = errno;
        say(msg, msglen, "cannot create state directory %s: %s", dir, strerror(e));
        return errno_code(e);
    }
    if (stat(dir, &st) < 0) {
        int e = errno;
        say(msg, msglen, "state directory %s: %s", dir, strerror(e));
        return errno_code(e);
    }
    if (!S_ISDIR(st.st_mode)) {
        say(msg, msglen, "state directory %s is not a directory", dir);
        return KV_ERR_IO;
    }
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
        int e = errno;
        say(msg, msglen, "state directory %s is not writable by uid %u: %s", dir,
            (unsigned)geteuid(), strerror(e));
        return errno_code(e);
    }
    return 0;
}

/* build_options - the options described in the file header; NULL after logging on failure */
static rocksdb_options_t *build_options(struct kv_rocksdb *r, const struct kv_rocksdb_options *o)
{
    rocksdb_options_t *base = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(base, 1);
    rocksdb_options_increase_parallelism(base, RDB_BACKGROUND_JOBS);
    rocksdb_options_set_max_background_jobs(base, RDB_BACKGROUND_JOBS);
    rocksdb_options_set_write_buffer_size(base, RDB_WRITE_BUFFER);
    rocksdb_options_set_max_write_buffer_number(base, RDB_WRITE_BUFFERS);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(base, 1);
    rocksdb_options_set_max_open_files(base, -1);
    rocksdb_options_set_keep_log_file_num(base, RDB_LOG_FILES);
    /* RocksDB's own LOG file gets its header only (file header: disk guard) */
    rocksdb_options_set_info_log_level(base, RDB_INFO_LOG_HEADER_ONLY);
    rocksdb_options_enable_statistics(base);
    rocksdb_options_set_compression(base, rocksdb_lz4_compression);

    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    /* the table options own the filter policy from here on: never destroy it */
    rocksdb_block_based_options_set_filter_policy(
        t, rocksdb_filterpolicy_create_bloom_full(RDB_BLOOM_BITS));
    rocksdb_block_based_options_set_block_cache(t, r->cache);
    /* Index and filter blocks live with each open table (all stay open), not in the block
     * cache: almost every Get is for a key that does not exist (a new triplet, a network
     * without AWL), answered by one probe of a full filter in memory. Through the cache the
     * probe cost a cache lookup per Get (partitioned filters: 11% of the greylist path in
     * steady state, 21% of worker time in rdb_get; -> 14% with this), and an unpartitioned
     * full filter in the cache was worse still: a big file's filter (1 M keys ~ 1.2 MB) is
     * larger than one of the cache's 64 shards, so it was never kept (65k -> 8k req/s).
     * Cost: ~2.5 bytes of memory per stored key (10 bits of filter plus the index), outside
     * the block cache's budget: ~25 MB for 10 M records. */
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 0);
    rocksdb_block_based_options_set_format_version(t, RDB_FORMAT_VERSION);
    rocksdb_options_set_block_based_table_factory(base, t); /* copies t */
    rocksdb_block_based_options_destroy(t);

    /* owned by the options (and the DB) from here on: never destroy it */
    rocksdb_options_set_compaction_filter_factory(
        base, rocksdb_compactionfilterfactory_create(r, state_keep, filter_create, factory_name));

    /* Most reads are of keys that do not exist (a new triplet, a network without AWL): a
     * whole-key bloom filter on the memtable answers those without a skiplist search, which
     * perf showed as the largest cost of the greylist path (12% in FindGreaterOrEqual). */
    char spec[160];
    int n = snprintf(spec, sizeof(spec),
                     "memtable_whole_key_filtering=true;memtable_prefix_bloom_size_ratio=0.1");
    if (o->periodic_compaction_s >= 0)
        snprintf(spec + n, sizeof(spec) - (size_t)n, ";periodic_compaction_seconds=%lld",
                 (long long)o->periodic_compaction_s);
    rocksdb_options_t *opts = rocksdb_options_create();
    char *err = NULL;
    /* keeps every setting of base (factory, statistics, table) and adds those in spec */
    rocksdb_get_options_from_string(base, spec, opts, &err);
    rocksdb_options_destroy(base);
    if (err) {
        rdb_fail("setting memtable bloom / periodic compaction for", r->dir, err);
        rocksdb_options_destroy(opts);
        return NULL;
    }
    return opts;
}

struct kv *kv_open_rocksdb(const char *dir, const struct kv_rocksdb_options *opt, int *err,
                           char *msg, size_t msglen)
{
    struct kv_rocksdb_options o = opt ? *opt : (struct kv_rocksdb_options){0};
    int dummy, code;
    if (!err)
        err = &dummy;
    say(msg, msglen, "%s", "");
    if (!dir || !*dir) {
        say(msg, msglen, "no state directory given");
        *err = KV_ERR_INVAL;
        return NULL;
    }
    if (o.block_cache_bytes == 0)
        o.block_cache_bytes = KV_ROCKSDB_CACHE_DEFAULT;
    if (o.periodic_compaction_s == 0)
        o.periodic_compaction_s = KV_ROCKSDB_PERIODIC_DEFAULT;
    if ((code = prepare_dir(dir, msg, msglen)) < 0) {
        log_error("kv: %s", msg && msglen ? msg : "cannot use the state directory");
        *err = code;
        return NULL;
    }

    struct kv_rocksdb *r = xcalloc(1, sizeof(*r));
    kv_base_init(&r->base, &rdb_ops);
    atomic_init(&r->corrupt_kept, 0);
    r->min_free = o.min_free_bytes;
    atomic_init(&r->space_checked_ms, 0);
    atomic_init(&r->low_disk, false);
    atomic_init(&r->write_failed, false);
    r->dir = xstrdup(dir);
    r->cache = rocksdb_cache_create_lru(o.block_cache_bytes);
    r->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wopts, o.sync ? 1 : 0);
    r->ropts = rocksdb_readoptions_create();
    if (!(r->opts = build_options(r, &o))) {
        say(msg, msglen, "cannot set RocksDB options for %s (see the log)", dir);
        code = KV_ERR_IO;
        goto fail;
    }
    char *rerr = NULL;
    r->db = rocksdb_open(r->opts, dir, &rerr);
    if (rerr) {
        r->db = NULL;
        int in_process = strstr(rerr, "lock hold by current process") != NULL;
        code = rdb_fail("open", dir, rerr);
        switch (code) {
        case KV_ERR_LOCKED:
            say(msg, msglen,
                in_process ? "state directory %s is already open in this process"
                           : "state directory %s is locked by another process "
                             "(is another greyspfd running?)",
                dir);
            break;
        case KV_ERR_ACCESS:
            say(msg, msglen, "state directory %s (or a file in it) is not writable", dir);
            break;
        case KV_ERR_CORRUPT:
            say(msg, msglen, "state in %s is corrupt (see the log)", dir);
            break;
        default:
            say(msg, msglen, "cannot open the state in %s (see the log)", dir);
            break;
        }
        goto fail;
    }
    *err = 0;
    return &r->base;
fail:
    rdb_destroy(&r->base);
    *err = code;
    return NULL;
}
