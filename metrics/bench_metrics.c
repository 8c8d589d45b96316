/* metrics/bench_metrics.c - hot-path cost of metrics_counter_add / metrics_histogram_observe.
 * Usage: bench_metrics [OPS_PER_THREAD]   (default 1e8)
 * For 1 and 2 threads, each with its own shard, times OPS counter adds and OPS histogram
 * observes (values cycling over 1024 log-spread latencies, 17 bounds) and prints ns/op per
 * thread, by wall clock and by the thread's CPU clock (the latter holds on a busy box); then the
 * same counter through metrics_counter_add_shared (contended fetch_add) for comparison. Checks the
 * scraped totals so the work cannot be skipped. */
#include "metrics/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum bench_kind { BENCH_COUNTER, BENCH_OBSERVE, BENCH_SHARED };

struct bench {
    struct metrics_registry *reg;
    struct metrics_counter c;
    struct metrics_histogram hist;
    pthread_barrier_t *start;
    enum bench_kind kind;
    uint64_t ops;
    double ns_per_op;     /* wall clock */
    double cpu_ns_per_op; /* this thread's CPU time: unaffected by other load on the box */
};

static double values[1024];

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    struct metrics_shard *sh = metrics_shard_create(b->reg);
    pthread_barrier_wait(b->start);
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    switch (b->kind) {
    case BENCH_COUNTER:
        for (uint64_t i = 0; i < b->ops; i++)
            metrics_counter_add(sh, b->c, 1);
        break;
    case BENCH_OBSERVE:
        for (uint64_t i = 0; i < b->ops; i++)
            metrics_histogram_observe(sh, b->hist, values[i & 1023]);
        break;
    case BENCH_SHARED:
        for (uint64_t i = 0; i < b->ops; i++)
            metrics_counter_add_shared(b->reg, b->c, 1);
        break;
    }
    b->ns_per_op = (clock_s(CLOCK_MONOTONIC) - t0) * 1e9 / (double)b->ops;
    b->cpu_ns_per_op = (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / (double)b->ops;
    metrics_shard_release(sh);
    return NULL;
}

/* run - nthreads threads of kind on a fresh registry; prints and checks the result */
static int run(enum bench_kind kind, int nthreads, uint64_t ops)
{
    static const char *const names[] = {"counter_add", "histogram_observe", "counter_add_shared"};
    struct metrics_registry *reg = metrics_registry_create();
    const struct metrics_family_desc cd = {"bench_ops_total", "Operations.", NULL, 0};
    const struct metrics_family_desc hd = {"bench_seconds", "Latency.", NULL, 0};
    struct metrics_counter c;
    struct metrics_histogram hist;
    if (metrics_counter_register(reg, &cd, &c, 1) ||
        metrics_histogram_register(reg, &hd, metrics_buckets_seconds, METRICS_BUCKETS_SECONDS_N,
                                   &hist, 1)) {
        fprintf(stderr, "bench: registration failed\n");
        return 1;
    }
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    struct bench b[2];
    pthread_t th[2];
    for (int i = 0; i < nthreads; i++) {
        b[i] = (struct bench){reg, c, hist, &start, kind, ops, 0, 0};
        pthread_create(&th[i], NULL, bench_thread, &b[i]);
    }
    double sum = 0, cpu = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        sum += b[i].ns_per_op;
        cpu += b[i].cpu_ns_per_op;
    }
    pthread_barrier_destroy(&start);

    size_t len;
    char *text = metrics_render(reg, &len);
    char want[64];
    if (kind == BENCH_OBSERVE)
        snprintf(want, sizeof(want), "bench_seconds_count %" PRIu64 "\n", ops * (uint64_t)nthreads);
    else
        snprintf(want, sizeof(want), "bench_ops_total %" PRIu64 "\n", ops * (uint64_t)nthreads);
    int bad = strstr(text, want) == NULL;
    printf("%-20s threads=%d ops/thread=%" PRIu64 "  %.2f ns/op wall, %.2f ns/op cpu%s\n",
           names[kind], nthreads, ops, sum / nthreads, cpu / nthreads,
           bad ? "  TOTAL MISMATCH" : "");
    free(text);
    metrics_registry_destroy(reg);
    return bad;
}

int main(int argc, char **argv)
{
    uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000ull;
    if (ops == 0) {
        fprintf(stderr, "usage: %s [OPS_PER_THREAD]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < 1024; i++) /* 20 us .. 20 s, log-uniform */
        values[i] = 2e-5 * pow(10, 6.0 * ((i * 617) % 1024) / 1024.0);
    int bad = 0;
    for (int t = 1; t <= 2; t++) {
        bad |= run(BENCH_COUNTER, t, ops);
        bad |= run(BENCH_OBSERVE, t, ops);
    }
    for (int t = 1; t <= 2; t++)
        bad |= run(BENCH_SHARED, t, ops / 10);
    return bad;
}
