/* loadtest/histogram.h - log-linear latency histogram in nanoseconds (HdrHistogram-like).
 *
 * Values below 256 ns get one bucket each; above, every power of two is split into 128
 * equal buckets, so a bucket is at most 1/128 of its lower bound wide. Percentiles report
 * the bucket midpoint clamped to [min, max]: relative error <= 1/256 (0.4 %), well inside
 * the 1 % we promise, over 1 ns .. 2^40 ns (~18 min); larger values saturate into the top
 * bucket (max stays exact). A histogram is ~35 KiB, fixed size, no allocation: one per
 * thread, merged at the end. Not thread-safe. */
#ifndef GREYSPF_LOADTEST_HISTOGRAM_H
#define GREYSPF_LOADTEST_HISTOGRAM_H
#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7                        /* 128 sub-buckets per power of two */
#define HISTOGRAM_MAX_BITS 40                       /* values < 2^40 ns are in range */
#define HISTOGRAM_LINEAR (2u << HISTOGRAM_SUB_BITS) /* 256 exact buckets at the bottom */
#define HISTOGRAM_BUCKETS                                                                          \
    (HISTOGRAM_LINEAR + (HISTOGRAM_MAX_BITS - HISTOGRAM_SUB_BITS - 1) * (1u << HISTOGRAM_SUB_BITS))

struct histogram {
    uint64_t count;     /* values recorded */
    uint64_t min, max;  /* exact; min is UINT64_MAX while empty */
    uint64_t sum;       /* for the mean; 2^64 ns is ~584 years */
    uint64_t saturated; /* values >= 2^40 ns, counted in the top bucket */
    uint64_t buckets[HISTOGRAM_BUCKETS];
};

/* histogram_init - empty h (caller allocates) */
void histogram_init(struct histogram *h);
/* histogram_record - add one value in nanoseconds */
void histogram_record(struct histogram *h, uint64_t value_ns);
/* histogram_merge - add every value of src to dst */
void histogram_merge(struct histogram *dst, const struct histogram *src);
/* histogram_percentile - the value at rank ceil(pct/100 * count) (at least 1), within
 * 0.4 %; pct <= 0 gives min, pct >= 100 gives max (both exact). 0 when empty. */
uint64_t histogram_percentile(const struct histogram *h, double pct);
/* histogram_mean - arithmetic mean in ns; 0 when empty */
double histogram_mean(const struct histogram *h);

#endif
