/* kv/bench_kv.c - micro-benchmark of the kv store (a program, not a test).
 *
 *   bench_kv [-n KEYS] [-t THREADS,...] [-d DIR] [-m] [-k]
 *
 * For each thread count (default "1,2") a fresh child process opens a fresh store in DIR/tN
 * (default a temporary directory under /tmp, removed afterwards unless -k) and measures, with
 * the work split evenly between the threads:
 *   puts/s     KEYS kv_put of distinct 53-byte keys (greylist-like "g/..."), 16-byte values
 *   gets/s     KEYS kv_get of random existing keys
 *   updates/s  KEYS kv_update (read-modify-write of a counter) of random existing keys
 * then the on-disk size (after kv_flush_wal, and again after kv_compact) and the process's
 * RSS and peak RSS. Keys are generated from their index, so no key array inflates the RSS.
 * -m uses the memory backend instead of RocksDB. One process per run keeps RSS figures apart
 * (the parent never opens a store). Numbers are machine-dependent: compare before/after on
 * the same machine. */
#include "kv/kv.h"

#include "engine/base/clock.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_LEN 53
#define VAL_LEN 16
#define MAX_THREADS 16
#define NOW_S 1750000000 /* a fixed "now": nothing in the run expires */

struct bench {
    struct kv *kv;
    size_t keys;
    unsigned threads;
};

struct worker {
    struct bench *b;
    unsigned id;
    pthread_t tid;
    size_t failures;
};

/* splitmix64 - the next value of a 64-bit sequence */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* make_key - the i-th key: "g/" and 51 characters drawn from [a-z0-9./@] by index */
static void make_key(size_t i, char key[KEY_LEN])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789.@/-_+abcdefghijklmnop";
    uint64_t s = (uint64_t)i * 0x2545f4914f6cdd1du + 1, r = 0;
    key[0] = 'g';
    key[1] = '/';
    for (int j = 2, left = 0; j < KEY_LEN; j++, left--) {
        if (left == 0) {
            r = splitmix64(&s);
            left = 10;
        }
        key[j] = alphabet[r & 31];
        r >>= 6;
    }
}

/* phase function: thread w does its share */
typedef void (*phase_fn)(struct worker *w);

static void phase_put(struct worker *w)
{
    char key[KEY_LEN], val[VAL_LEN] = {0};
    size_t n = w->b->keys;
    for (size_t i = w->id; i < n; i += w->b->threads) {
        make_key(i, key);
        memcpy(val, &i, sizeof(i));
        if (kv_put(w->b->kv, key, KEY_LEN, val, VAL_LEN, NOW_S + 35 * 86400) != 0)
            w->failures++;
    }
}

static void phase_get(struct worker *w)
{
    char key[KEY_LEN], val[VAL_LEN];
    uint64_t s = 1000 + w->id;
    size_t per = w->b->keys / w->b->threads;
    for (size_t k = 0; k < per; k++) {
        size_t i = splitmix64(&s) % w->b->keys;
        size_t vlen;
        make_key(i, key);
        if (kv_get(w->b->kv, key, KEY_LEN, NOW_S, val, sizeof(val), &vlen, NULL) != 0)
            w->failures++;
    }
}

/* bump - a greylist-like update: increment the 8-byte counter in the value's second half */
static enum kv_update_op bump(struct kv_update *u, void *arg)
{
    unsigned char *out = arg;
    if (!u->found || u->cur_len != VAL_LEN)
        return KV_UPDATE_KEEP;
    memcpy(out, u->cur, VAL_LEN);
    uint64_t c;
    memcpy(&c, out + 8, 8);
    c++;
    memcpy(out + 8, &c, 8);
    u->val = out;
    u->val_len = VAL_LEN;
    u->expires_s = NOW_S + 35 * 86400;
    return KV_UPDATE_PUT;
}

static void phase_update(struct worker *w)
{
    char key[KEY_LEN];
    unsigned char out[VAL_LEN];
    uint64_t s = 2000 + w->id;
    size_t per = w->b->keys / w->b->threads;
    for (size_t k = 0; k < per; k++) {
        size_t i = splitmix64(&s) % w->b->keys;
        make_key(i, key);
        if (kv_update(w->b->kv, key, KEY_LEN, NOW_S, bump, out) != 0)
            w->failures++;
    }
}

struct run_arg {
    struct worker *w;
    phase_fn fn;
};

static void *run_thread(void *arg)
{
    struct run_arg *a = arg;
    a->fn(a->w);
    return NULL;
}

/* phase - run fn on every thread; operations per second */
static double phase(struct bench *b, phase_fn fn, const char *name)
{
    struct worker w[MAX_THREADS];
    struct run_arg a[MAX_THREADS];
    uint64_t t0 = clock_mono_us();
    for (unsigned i = 0; i < b->threads; i++) {
        w[i] = (struct worker){.b = b, .id = i};
        a[i] = (struct run_arg){.w = &w[i], .fn = fn};
        if (pthread_create(&w[i].tid, NULL, run_thread, &a[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    size_t failures = 0;
    for (unsigned i = 0; i < b->threads; i++) {
        pthread_join(w[i].tid, NULL);
        failures += w[i].failures;
    }
    double s = (double)(clock_mono_us() - t0) / 1e6;
    if (failures)
        fprintf(stderr, "bench_kv: %s: %zu operations failed\n", name, failures);
    return (double)b->keys / s;
}

static uint64_t du_total;

/* du_entry - add one file's allocated size */
static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)ftw;
    if (flag == FTW_F)
        du_total += (uint64_t)st->st_blocks * 512u;
    return 0;
}

/* disk_mb - allocated bytes below dir, in MB */
static double disk_mb(const char *dir)
{
    du_total = 0;
    nftw(dir, du_entry, 16, FTW_PHYS);
    return (double)du_total / 1048576.0;
}

/* status_mb - a "VmRSS:"-style line of /proc/self/status, in MB */
static double status_mb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0)
            kb = atof(line + n);
    if (f)
        fclose(f);
    return kb / 1024.0;
}

/* run_one - one full run in this (child) process; exit status */
static int run_one(const char *dir, size_t keys, unsigned threads, int memory)
{
    struct bench b = {.keys = keys, .threads = threads};
    char msg[256];
    int err = 0;
    b.kv = memory ? kv_open_memory() : kv_open_rocksdb(dir, NULL, &err, msg, sizeof(msg));
    if (!b.kv) {
        fprintf(stderr, "bench_kv: %s\n", msg);
        return 1;
    }
    double puts = phase(&b, phase_put, "put");
    double gets = phase(&b, phase_get, "get");
    double upds = phase(&b, phase_update, "update");
    kv_flush_wal(b.kv);
    double disk = memory ? 0 : disk_mb(dir);
    double rss = status_mb("VmRSS:"), hwm = status_mb("VmHWM:");
    uint64_t t0 = clock_mono_us();
    kv_compact(b.kv);
    double compact_s = (double)(clock_mono_us() - t0) / 1e6;
    double disk2 = memory ? 0 : disk_mb(dir);
    struct kv_stats st;
    kv_stats(b.kv, &st);
    printf("%7u %10.0f %10.0f %10.0f %9.1f %10.1f %8.1f %8.1f %9.2f %10llu\n", threads, puts, gets,
           upds, disk, disk2, rss, hwm, compact_s, (unsigned long long)st.keys_estimate);
    fflush(stdout);
    kv_close(b.kv);
    return 0;
}

/* rm_entry - nftw callback removing one entry (post-order) */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

int main(int argc, char **argv)
{
    size_t keys = 1000000;
    const char *tlist = "1,2";
    char *dir = NULL;
    int memory = 0, keep = 0, opt;
    while ((opt = getopt(argc, argv, "n:t:d:mk")) != -1) {
        switch (opt) {
        case 'n':
            keys = strtoull(optarg, NULL, 10);
            break;
        case 't':
            tlist = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'm':
            memory = 1;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            fprintf(stderr, "usage: %s [-n KEYS] [-t THREADS,...] [-d DIR] [-m] [-k]\n", argv[0]);
            return 2;
        }
    }
    char tmp[] = "/tmp/greyspf-bench-XXXXXX";
    if (!dir) {
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmp;
    } else if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    printf("bench_kv: %s, %zu keys of %d B, values %d B, in %s\n",
           memory ? "memory" : "rocksdb (defaults: 64 MB cache, sync off)", keys, KEY_LEN, VAL_LEN,
           dir);
    printf("threads     puts/s     gets/s  updates/s   disk_MB  disk_MB_c   rss_MB  peak_MB "
           "compact_s   est_keys\n");
    fflush(stdout);
    int rc = 0;
    for (const char *p = tlist; *p;) {
        unsigned t = (unsigned)strtoul(p, (char **)&p, 10);
        if (*p == ',')
            p++;
        if (t < 1 || t > MAX_THREADS) {
            fprintf(stderr, "bench_kv: threads must be 1..%d\n", MAX_THREADS);
            return 2;
        }
        char sub[512];
        snprintf(sub, sizeof(sub), "%s/t%u", dir, t);
        pid_t pid = fork();
        if (pid == 0)
            _exit(run_one(sub, keys, t, memory));
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            rc = 1;
        if (!keep)
            nftw(sub, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (!keep && dir == tmp)
        rmdir(tmp);
    printf("disk_MB: after the run (WAL flushed); disk_MB_c: after kv_compact; rss/peak: VmRSS/"
           "VmHWM before compaction\n");
    return rc;
}
