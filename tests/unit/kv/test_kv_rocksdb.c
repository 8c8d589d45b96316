/* tests/unit/kv/test_kv_rocksdb.c - what only the RocksDB backend does: expired records vanish
 * in kv_compact (and only there), data survives close/reopen and a SIGKILL (WAL, sync off),
 * the options reach RocksDB (OPTIONS file), corrupt stored bytes are reported not crashed on,
 * and an unwritable or locked directory fails with a KV_ERR_* and a clear message.
 *
 * Child processes: the test re-executes itself (/proc/self/exe --child MODE ...) right after
 * fork(), because RocksDB's background threads of earlier cases do not survive a fork; see
 * child_main() for the modes. Temporary directories live under /tmp and are removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/c.h> /* only to plant corrupt bytes behind kv's back */

#include "kv/kv.h"
#include "tests/unit/kv/kv_test_util.h"

static const struct kv_rocksdb_options small_cache = {.block_cache_bytes = 8u << 20};

/* open_ok - open dir or fail the test with the message */
static struct kv *open_ok(const char *dir, const struct kv_rocksdb_options *o)
{
    char msg[256];
    int err = 0;
    struct kv *kv = kv_open_rocksdb(dir, o, &err, msg, sizeof(msg));
    if (!kv)
        fail_msg("open %s: got %d (%s) \"%s\", want a store", dir, err, kv_strerror(err), msg);
    return kv;
}

/* count_cb - count live records; arg: size_t */
static int count_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                    void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)exp;
    (*(size_t *)arg)++;
    return 0;
}

/* live_count - records live at now, by scan */
static size_t live_count(struct kv *kv, int64_t now)
{
    size_t n = 0;
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, now, count_cb, &n), 0);
    return n;
}

/* ---- expiry and compaction ---- */

#define EXP_TOTAL 20000
#define EXP_EXPIRED 6000

static void test_expired_vanish_after_compact(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], key[32];
    kv_test_mkdtemp(dir);
    struct kv *kv = open_ok(dir, &small_cache);
    /* the first EXP_EXPIRED keys expire at 1000, the rest at 100000 or never */
    for (int i = 0; i < EXP_TOTAL; i++) {
        int n = snprintf(key, sizeof(key), "g/%06d", i);
        int64_t exp = i < EXP_EXPIRED ? 1000 : (i % 2 ? 100000 : 0);
        assert_int_equal(kv_put(kv, key, (size_t)n, "0123456789abcdef", 16, exp), 0);
    }
    /* before compaction: treated as absent at 2000, yet still stored (visible at 999) */
    assert_int_equal(live_count(kv, 2000), EXP_TOTAL - EXP_EXPIRED);
    assert_int_equal(live_count(kv, 999), EXP_TOTAL);
    struct kv_stats st;
    kv_stats(kv, &st);
    if (st.keys_estimate < EXP_TOTAL)
        fail_msg("keys before: got %llu, want >= %d", (unsigned long long)st.keys_estimate,
                 EXP_TOTAL);
    assert_int_equal(st.expired_dropped, 0);
    assert_true(st.memtable_bytes > 0);

    /* the store's now is 2000 (the largest passed); compaction drops exactly the expired */
    assert_int_equal(kv_compact(kv), 0);
    kv_stats(kv, &st);
    if (st.expired_dropped != EXP_EXPIRED)
        fail_msg("dropped: got %llu, want %d", (unsigned long long)st.expired_dropped, EXP_EXPIRED);
    if (st.keys_estimate != EXP_TOTAL - EXP_EXPIRED)
        fail_msg("keys after: got %llu, want %d", (unsigned long long)st.keys_estimate,
                 EXP_TOTAL - EXP_EXPIRED);
    assert_true(st.live_sst_bytes > 0);
    /* the compacted file's index and Bloom filter are held with it: >= 10 bits per key */
    if (st.table_readers_bytes < (uint64_t)(EXP_TOTAL - EXP_EXPIRED) * 10 / 8)
        fail_msg("table readers: got %llu bytes, want >= %d",
                 (unsigned long long)st.table_readers_bytes, (EXP_TOTAL - EXP_EXPIRED) * 10 / 8);
    assert_int_equal(st.background_errors, 0);
    /* gone for good: even a scan at 999 sees only the survivors */
    assert_int_equal(live_count(kv, 999), EXP_TOTAL - EXP_EXPIRED);
    unsigned char buf[16];
    assert_int_equal(kv_get(kv, "g/000000", 8, 1, buf, sizeof(buf), NULL, NULL), KV_ERR_NOTFOUND);
    assert_int_equal(kv_get(kv, "g/019999", 8, 2000, buf, sizeof(buf), NULL, NULL), 0);

    /* nothing more to drop when now has not moved; a later now drops the 100000 ones */
    assert_int_equal(kv_compact(kv), 0);
    kv_stats(kv, &st);
    assert_int_equal(st.expired_dropped, EXP_EXPIRED);
    assert_int_equal(live_count(kv, 100000), (EXP_TOTAL - EXP_EXPIRED) / 2);
    assert_int_equal(kv_compact(kv), 0);
    kv_stats(kv, &st);
    assert_int_equal(st.expired_dropped, EXP_EXPIRED + (EXP_TOTAL - EXP_EXPIRED) / 2);
    kv_close(kv);
    kv_test_rmtree(dir);
}

static void test_fresh_store_drops_nothing(void **state)
{
    (void)state;
    /* before any call passed a now, compaction must not guess one */
    char dir[KV_TEST_DIR_MAX];
    kv_test_mkdtemp(dir);
    struct kv *kv = open_ok(dir, NULL);
    assert_int_equal(kv_put(kv, "old", 3, "v", 1, 1), 0);
    assert_int_equal(kv_compact(kv), 0);
    struct kv_stats st;
    kv_stats(kv, &st);
    assert_int_equal(st.expired_dropped, 0);
    assert_int_equal(live_count(kv, 0), 1);
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* ---- persistence ---- */

static void test_reopen_keeps_data(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], key[32], val[32];
    kv_test_mkdtemp(dir);
    struct kv *kv = open_ok(dir, &small_cache);
    for (int i = 0; i < 1000; i++) {
        int k = snprintf(key, sizeof(key), "r/%04d", i), v = snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(kv_put(kv, key, (size_t)k, val, (size_t)v, i % 3 ? 0 : 5000), 0);
    }
    assert_int_equal(kv_delete(kv, "r/0007", 6), 0);
    kv_close(kv);
    kv = open_ok(dir, &small_cache);
    assert_int_equal(live_count(kv, 100), 999);
    char buf[32];
    size_t vlen;
    int64_t exp;
    assert_int_equal(kv_get(kv, "r/0999", 6, 100, buf, sizeof(buf), &vlen, &exp), 0);
    assert_int_equal(vlen, 4);
    assert_memory_equal(buf, "v999", 4);
    assert_int_equal(exp, 5000);
    assert_int_equal(kv_get(kv, "r/0007", 6, 100, buf, sizeof(buf), &vlen, &exp), KV_ERR_NOTFOUND);
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* put_value_cb - kv_update callback: store the string arg, no expiry */
static enum kv_update_op put_value_cb(struct kv_update *u, void *arg)
{
    u->val = arg;
    u->val_len = strlen(arg);
    u->expires_s = 0;
    return KV_UPDATE_PUT;
}

/* the disk guard: a store opened with more min_free_bytes than its filesystem has refuses
 * every write (put, delete, update, batch, compaction) and still reads; one with a modest
 * figure writes. (The real thing, a small tmpfs filled and freed under the daemon, is
 * integration.greylist.TestFullDisk.) */
static void test_min_free_refuses_writes(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], buf[16];
    kv_test_mkdtemp(dir);
    struct kv *kv = open_ok(dir, &small_cache);
    assert_int_equal(kv_put(kv, "k/1", 3, "one", 3, 0), 0);
    struct kv_stats st;
    kv_stats(kv, &st);
    assert_true(st.disk_free_bytes > 0);
    assert_int_equal(st.low_disk, 0);
    assert_int_equal(st.write_failed, 0);
    kv_close(kv);

    struct kv_rocksdb_options o = small_cache;
    o.min_free_bytes = (uint64_t)1 << 60; /* no disk has this free */
    kv = open_ok(dir, &o);
    assert_int_equal(kv_put(kv, "k/2", 3, "two", 3, 0), KV_ERR_IO);
    assert_int_equal(kv_delete(kv, "k/1", 3), KV_ERR_IO);
    struct kv_batch *b = kv_batch_create(kv);
    int status = 0;
    assert_int_equal(kv_batch_update(b, "k/3", 3, 100, put_value_cb, "three", &status), 0);
    assert_int_equal(status, 1);
    assert_int_equal(kv_batch_commit(b), KV_ERR_IO);
    assert_int_equal(status, KV_ERR_IO);
    kv_batch_destroy(b);
    assert_int_equal(kv_compact(kv), KV_ERR_IO);
    size_t vlen;
    assert_int_equal(kv_get(kv, "k/1", 3, 100, buf, sizeof(buf), &vlen, NULL), 0);
    assert_memory_equal(buf, "one", 3);
    kv_stats(kv, &st);
    assert_int_equal(st.low_disk, 1);
    assert_int_equal(st.write_failed, 0); /* refused, not failed: resumes with space */
    kv_close(kv);

    o.min_free_bytes = 1u << 20;
    kv = open_ok(dir, &o);
    assert_int_equal(kv_put(kv, "k/2", 3, "two", 3, 0), 0);
    assert_int_equal(live_count(kv, 100), 2); /* k/1 and k/2: nothing refused was applied */
    kv_stats(kv, &st);
    assert_int_equal(st.low_disk, 0);
    kv_close(kv);
    kv_test_rmtree(dir);
}

static void test_sync_writes(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX];
    kv_test_mkdtemp(dir);
    struct kv_rocksdb_options o = {.sync = true, .periodic_compaction_s = -1};
    struct kv *kv = open_ok(dir, &o);
    for (int i = 0; i < 20; i++)
        assert_int_equal(kv_put(kv, &i, sizeof(i), "v", 1, 0), 0);
    assert_int_equal(kv_flush_wal(kv), 0);
    kv_close(kv);
    kv = open_ok(dir, NULL);
    assert_int_equal(live_count(kv, 1), 20);
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* spawn_child - fork, and in the child exec this binary as "--child args..." with stdin and
 * stdout on the given fds (-1: inherit). Every pipe here is O_CLOEXEC, so the child holds
 * only the ends it was given (an inherited write end would keep its stdin from ever reaching
 * EOF). Returns the pid. */
static pid_t spawn_child(int in_fd, int out_fd, const char *const args[])
{
    char *argv[8] = {"test_kv_rocksdb", "--child"};
    int n = 2;
    for (; args[n - 2] && n < 7; n++)
        argv[n] = (char *)args[n - 2];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (in_fd >= 0)
            dup2(in_fd, 0);
        if (out_fd >= 0)
            dup2(out_fd, 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

/* crash_key - the i-th record the crash child writes */
static int crash_key(char *buf, size_t len, uint32_t i)
{
    return snprintf(buf, len, "crash/%08u", i);
}

#define CRASH_AT_LEAST 20000u

static void test_crash_keeps_acknowledged(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX];
    int p[2];
    kv_test_mkdtemp(dir);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = spawn_child(-1, p[1], (const char *const[]){"crash", dir, NULL});
    close(p[1]);
    /* the child reports each acknowledged put as a 4-byte count; kill it mid-stream */
    uint32_t acked = 0, msg;
    unsigned char part[4];
    size_t have = 0;
    bool killed = false;
    for (;;) {
        ssize_t n = read(p[0], part + have, sizeof(part) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have < sizeof(part))
            continue;
        memcpy(&msg, part, sizeof(msg));
        have = 0;
        acked = msg;
        if (!killed && acked >= CRASH_AT_LEAST) {
            kill(pid, SIGKILL); /* the rest still in the pipe was acknowledged too */
            killed = true;
        }
    }
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("child: got status %#x, want killed by SIGKILL", status);
    assert_true(acked >= CRASH_AT_LEAST);

    struct kv *kv = open_ok(dir, NULL);
    uint32_t missing = 0;
    for (uint32_t i = 0; i < acked; i++) {
        char key[32], val[16];
        size_t vlen = 0;
        int k = crash_key(key, sizeof(key), i);
        if (kv_get(kv, key, (size_t)k, 1, val, sizeof(val), &vlen, NULL) != 0 || vlen != 4 ||
            memcmp(val, &i, 4) != 0)
            missing++;
    }
    if (missing)
        fail_msg("after SIGKILL: %u of %u acknowledged records missing, want 0", missing, acked);
    print_message("crash: %u acknowledged records all found after SIGKILL\n", acked);
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* ---- options ---- */

/* options_text - the newest OPTIONS-* file of dir, read whole into buf */
static void options_text(const char *dir, char *buf, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "OPTIONS-", 8) == 0 && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    assert_true(best[0]);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, best);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_options_reach_rocksdb(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        struct kv_rocksdb_options o;
        const char *want[8];
    } cases[] = {
        {"defaults",
         {0},
         {"periodic_compaction_seconds=86400", "compression=kLZ4Compression",
          "compaction_filter_factory=greyspf.expiry_factory", "max_open_files=-1",
          "write_buffer_size=67108864", "max_write_buffer_number=3",
          "level_compaction_dynamic_level_bytes=true", "format_version=5"}},
        {"periodic 3600", {.periodic_compaction_s = 3600}, {"periodic_compaction_seconds=3600"}},
        {"cache_index_and_filter_blocks",
         {0},
         {"cache_index_and_filter_blocks=false", "filter_policy=bloomfilter", "keep_log_file_num=3",
          "max_background_jobs=2"}},
    };
    static char text[1 << 16];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char dir[KV_TEST_DIR_MAX];
        kv_test_mkdtemp(dir);
        struct kv *kv = open_ok(dir, &cases[i].o);
        options_text(dir, text, sizeof(text));
        for (size_t j = 0; j < 8 && cases[i].want[j]; j++)
            if (!strstr(text, cases[i].want[j]))
                fail_msg("%s: OPTIONS file lacks \"%s\"", cases[i].name, cases[i].want[j]);
        kv_close(kv);
        kv_test_rmtree(dir);
    }
}

/* ---- corrupt stored bytes ---- */

/* plant - write raw bytes under key with RocksDB directly (the store must be closed) */
static void plant(const char *dir, const char *key, const char *val, size_t vlen)
{
    char *err = NULL;
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_t *db = rocksdb_open(o, dir, &err);
    if (err)
        fail_msg("plant: open: %s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put(db, wo, key, strlen(key), val, vlen, &err);
    if (err)
        fail_msg("plant: put: %s", err);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

/* repair_cb - an update that writes "fixed" and notes whether it saw a record */
static enum kv_update_op repair_cb(struct kv_update *u, void *arg)
{
    *(int *)arg = u->found;
    u->val = "fixed";
    u->val_len = 5;
    u->expires_s = 0;
    return KV_UPDATE_PUT;
}

static void test_corrupt_record(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX];
    kv_test_mkdtemp(dir);
    struct kv *kv = open_ok(dir, NULL);
    assert_int_equal(kv_put(kv, "good", 4, "v", 1, 0), 0);
    kv_close(kv);
    plant(dir, "bad1", "\x07garbage", 8); /* unknown version */
    plant(dir, "bad2", "\x01\x00", 2);    /* short */
    kv = open_ok(dir, NULL);
    char buf[16];
    assert_int_equal(kv_get(kv, "bad1", 4, 1, buf, sizeof(buf), NULL, NULL), KV_ERR_CORRUPT);
    assert_int_equal(kv_get(kv, "bad2", 4, 1, buf, sizeof(buf), NULL, NULL), KV_ERR_CORRUPT);
    assert_int_equal(live_count(kv, 1), 1); /* scan skips them (one log line) */
    assert_int_equal(kv_compact(kv), 0);    /* the filter keeps them (and says so) */
    assert_int_equal(kv_get(kv, "bad1", 4, 1, buf, sizeof(buf), NULL, NULL), KV_ERR_CORRUPT);
    int found = -1;
    assert_int_equal(kv_update(kv, "bad1", 4, 1, repair_cb, &found), 0);
    assert_int_equal(found, 0); /* presented as absent, then repaired */
    size_t vlen = 0;
    assert_int_equal(kv_get(kv, "bad1", 4, 1, buf, sizeof(buf), &vlen, NULL), 0);
    assert_int_equal(vlen, 5);
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* ---- open failures ---- */

/* child_output - run the child with args, collect its stdout into out; returns exit status */
static int child_output(const char *const args[], char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = spawn_child(-1, p[1], args);
    close(p[1]);
    size_t have = 0;
    ssize_t n;
    while (have < len - 1 &&
           ((n = read(p[0], out + have, len - 1 - have)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            have += (size_t)n;
    out[have] = 0;
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* want_open_fails - open dir (directly, or as uid in a child when uid >= 0) and compare */
static void want_open_fails(const char *name, const char *dir, long uid, int want,
                            const char *want_text)
{
    char msg[512];
    int err = 0;
    if (uid >= 0) {
        char uidtext[24];
        snprintf(uidtext, sizeof(uidtext), "%ld", uid);
        int status =
            child_output((const char *const[]){"open-as", uidtext, dir, NULL}, msg, sizeof(msg));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("%s: child status %#x, output \"%s\"", name, status, msg);
        err = atoi(msg);
    } else {
        struct kv *kv = kv_open_rocksdb(dir, NULL, &err, msg, sizeof(msg));
        if (kv) {
            kv_close(kv);
            fail_msg("%s: open succeeded, want %s", name, kv_strerror(want));
        }
    }
    if (err != want)
        fail_msg("%s: got %d (%s) \"%s\", want %d (%s)", name, err, kv_strerror(err), msg, want,
                 kv_strerror(want));
    if (!strstr(msg, want_text) || !strstr(msg, dir))
        fail_msg("%s: message \"%s\" lacks \"%s\" or the directory", name, msg, want_text);
    print_message("%s: %s\n", name, msg);
}

static void test_unwritable_dir(void **state)
{
    (void)state;
    char top[KV_TEST_DIR_MAX], sub[KV_TEST_DIR_MAX + 16], file[KV_TEST_DIR_MAX + 16];
    kv_test_mkdtemp(top);
    snprintf(sub, sizeof(sub), "%s/db", top);
    snprintf(file, sizeof(file), "%s/file", top);
    /* root may write anywhere: check permissions as "nobody" in a child */
    long uid = geteuid() == 0 ? 65534 : -1;
    assert_int_equal(chmod(top, 0555), 0);
    want_open_fails("create under read-only dir", sub, uid, KV_ERR_ACCESS, "cannot create");
    assert_int_equal(chmod(top, 0755), 0);
    assert_int_equal(mkdir(sub, 0555), 0);
    want_open_fails("read-only dir", sub, uid, KV_ERR_ACCESS, "not writable");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    want_open_fails("a file, not a dir", file, -1, KV_ERR_IO, "not a directory");
    char missing[KV_TEST_DIR_MAX + 32];
    snprintf(missing, sizeof(missing), "%s/no/such/parent", top);
    want_open_fails("missing parent", missing, -1, KV_ERR_IO, "cannot create");
    int err = 0;
    assert_null(kv_open_rocksdb("", NULL, &err, NULL, 0));
    assert_int_equal(err, KV_ERR_INVAL);
    kv_test_rmtree(top);
}

static void test_locked_dir(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX];
    kv_test_mkdtemp(dir);
    /* this process first: a second open of the same dir fails */
    struct kv *kv = open_ok(dir, NULL);
    want_open_fails("open twice in one process", dir, -1, KV_ERR_LOCKED, "already open");
    kv_close(kv);

    /* another process holds it: the child opens, says "R", waits for stdin EOF */
    int to[2], from[2];
    assert_int_equal(pipe2(to, O_CLOEXEC), 0);
    assert_int_equal(pipe2(from, O_CLOEXEC), 0);
    pid_t pid = spawn_child(to[0], from[1], (const char *const[]){"hold", dir, NULL});
    close(to[0]);
    close(from[1]);
    char c = 0;
    ssize_t n;
    while ((n = read(from[0], &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1 || c != 'R')
        fail_msg("holder child: got %zd bytes '%c', want \"R\"", n, c);
    want_open_fails("locked by another process", dir, -1, KV_ERR_LOCKED,
                    "locked by another process");
    close(to[1]); /* the child closes and exits */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(from[0]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kv = open_ok(dir, NULL); /* free again */
    kv_close(kv);
    kv_test_rmtree(dir);
}

/* ---- child modes ---- */

/* child_main - "--child crash DIR": put records until killed, writing each acknowledged count
 * (uint32) to stdout; "--child hold DIR": open, write "R", wait for stdin EOF, close;
 * "--child open-as UID DIR": drop to UID, try to open, print "<err> <message>". */
static int child_main(int argc, char **argv)
{
    char msg[256];
    int err = 0;
    if (argc == 4 && strcmp(argv[2], "crash") == 0) {
        struct kv *kv = kv_open_rocksdb(argv[3], NULL, &err, msg, sizeof(msg));
        if (!kv)
            return 2;
        for (uint32_t i = 0;; i++) {
            char key[32];
            int k = crash_key(key, sizeof(key), i);
            if (kv_put(kv, key, (size_t)k, &i, sizeof(i), 0) != 0)
                return 3;
            uint32_t acked = i + 1;
            if (write(1, &acked, sizeof(acked)) != (ssize_t)sizeof(acked))
                return 4;
        }
    }
    if (argc == 4 && strcmp(argv[2], "hold") == 0) {
        struct kv *kv = kv_open_rocksdb(argv[3], NULL, &err, msg, sizeof(msg));
        if (!kv)
            return 2;
        if (write(1, "R", 1) != 1)
            return 4;
        char c;
        while (read(0, &c, 1) > 0)
            ;
        kv_close(kv);
        return 0;
    }
    if (argc == 5 && strcmp(argv[2], "open-as") == 0) {
        uid_t uid = (uid_t)atol(argv[3]);
        if (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid(uid) != 0)
            return 5;
        struct kv *kv = kv_open_rocksdb(argv[4], NULL, &err, msg, sizeof(msg));
        kv_close(kv);
        printf("%d %s\n", err, msg);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expired_vanish_after_compact),
        cmocka_unit_test(test_fresh_store_drops_nothing),
        cmocka_unit_test(test_reopen_keeps_data),
        cmocka_unit_test(test_min_free_refuses_writes),
        cmocka_unit_test(test_sync_writes),
        cmocka_unit_test(test_crash_keeps_acknowledged),
        cmocka_unit_test(test_options_reach_rocksdb),
        cmocka_unit_test(test_corrupt_record),
        cmocka_unit_test(test_unwritable_dir),
        cmocka_unit_test(test_locked_dir),
    };
    return cmocka_run_group_tests_name("kv_rocksdb", tests, NULL, kv_test_cleanup);
}
