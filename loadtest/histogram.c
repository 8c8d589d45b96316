/* loadtest/histogram.c - see histogram.h.
 * Index of v >= 256: m = floor(log2 v) (8 .. 39), shift = m - 7, so v >> shift is in
 * [128, 256); index = 256 + (m - 8) * 128 + (v >> shift) - 128. */
#include "loadtest/histogram.h"

#include <math.h>
#include <string.h>

/* bucket_index - the bucket holding v (v already clamped below 2^40) */
static unsigned bucket_index(uint64_t v)
{
    if (v < HISTOGRAM_LINEAR)
        return (unsigned)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = m - HISTOGRAM_SUB_BITS;
    return HISTOGRAM_LINEAR + (m - HISTOGRAM_SUB_BITS - 1) * (1u << HISTOGRAM_SUB_BITS) +
           (unsigned)(v >> shift) - (1u << HISTOGRAM_SUB_BITS);
}

/* bucket_bounds - lowest value and width of bucket i */
static void bucket_bounds(unsigned i, uint64_t *lo, uint64_t *width)
{
    if (i < HISTOGRAM_LINEAR) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned k = i - HISTOGRAM_LINEAR;
    unsigned shift = k / (1u << HISTOGRAM_SUB_BITS) + 1;
    uint64_t sub = k % (1u << HISTOGRAM_SUB_BITS) + (1u << HISTOGRAM_SUB_BITS);
    *lo = sub << shift;
    *width = (uint64_t)1 << shift;
}

void histogram_init(struct histogram *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void histogram_record(struct histogram *h, uint64_t value_ns)
{
    uint64_t v = value_ns;
    if (v >> HISTOGRAM_MAX_BITS) {
        v = ((uint64_t)1 << HISTOGRAM_MAX_BITS) - 1;
        h->saturated++;
    }
    h->buckets[bucket_index(v)]++;
    h->count++;
    h->sum += value_ns;
    if (value_ns < h->min)
        h->min = value_ns;
    if (value_ns > h->max)
        h->max = value_ns;
}

void histogram_merge(struct histogram *dst, const struct histogram *src)
{
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    dst->saturated += src->saturated;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t histogram_percentile(const struct histogram *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (pct <= 0)
        return h->min;
    if (pct >= 100)
        return h->max;
    /* rank = ceil(pct% of count); a product within 1e-12 of an integer is that integer,
     * so that floating noise (99.9 * 1000 / 100 = 999.0000000000001) doesn't add one */
    double r = pct * (double)h->count / 100.0;
    uint64_t rank = (uint64_t)ceil(r - r * 1e-12);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen < rank)
            continue;
        uint64_t lo, width;
        bucket_bounds(i, &lo, &width);
        uint64_t mid = lo + (width - 1) / 2;
        if (mid < h->min)
            mid = h->min;
        if (mid > h->max)
            mid = h->max;
        return mid;
    }
    return h->max; /* not reached: the buckets sum to count */
}

double histogram_mean(const struct histogram *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
