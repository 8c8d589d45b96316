/* metrics/metrics_int.h - what metrics.c, metrics_expo.c and metrics_http.c share.
 * Not for use outside metrics/ (tests excepted). The locking protocol is in metrics.h. */
#ifndef GREYSPF_METRICS_INT_H
#define GREYSPF_METRICS_INT_H
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define METRICS_CACHE_LINE 64
/* slots 0 and 1 are scratch: a zeroed handle writes there and nothing renders them */
#define METRICS_SLOT_FIRST 2

/* one histogram series: where its slots are, and its bounds (owned by the family) */
struct metrics_hist_info {
    uint32_t slot;    /* [slot] = sum (double bits), [slot + 1 + i] = bucket i count */
    uint32_t nbounds; /* buckets = nbounds + 1 (the last is +Inf) */
    const double *bounds;
};

/* A shard: written by its owning thread only, read by the scraper; cache-line aligned and
 * padded (allocated with aligned_alloc) so no two shards share a line. */
struct metrics_shard {
    _Atomic uint64_t *slots;              /* reg->nslots slots, aligned to a cache line */
    const struct metrics_hist_info *hist; /* reg->hist, immutable once sealed */
    struct metrics_registry *reg;
    bool in_use; /* under reg->lock */
};

struct metrics_family {
    char *name, *help;
    enum metrics_type type;
    bool callback;
    size_t nseries;
    char **labels;  /* nseries escaped label texts `a="x",b="y"`, "" when unlabelled */
    uint32_t first; /* counter/gauge: slot of series 0; histogram: hist id of series 0 */
    double *bounds; /* histogram: nbounds bounds */
    char **le;      /* histogram: nbounds formatted bounds */
    size_t nbounds;
    metrics_value_cb cb;
    void *arg;
    struct metrics_family *next;
};

struct metrics_registry {
    pthread_mutex_t lock; /* protects everything below except `shared`'s slots */
    struct metrics_family *families, **tail;
    uint32_t nslots;                /* slots per shard (fixed once sealed) */
    struct metrics_hist_info *hist; /* nhist entries, [0] is the scratch histogram */
    uint32_t nhist, hist_cap;
    struct metrics_shard **shards;
    size_t nshards, shards_cap;
    /* NULL until sealed; written once under lock with release, read with acquire */
    _Atomic uint64_t *_Atomic shared;
};

/* growable output buffer; allocation failure aborts (xrealloc) */
struct metrics_buf {
    char *p;
    size_t len, cap;
};
void metrics_buf_add(struct metrics_buf *b, const char *s, size_t n);
void metrics_buf_addf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* metrics_seal_locked - seal reg (idempotent); caller holds reg->lock. Returns shared slots. */
_Atomic uint64_t *metrics_seal_locked(struct metrics_registry *reg);
/* metrics_render_into - append the exposition of reg to b; takes reg->lock */
void metrics_render_into(struct metrics_registry *reg, struct metrics_buf *b);
/* metrics_fmt_double - v in the shortest text that strtod reads back exactly, "+Inf",
 * "-Inf" or "NaN"; out has >= 32 bytes. Returns the length. */
size_t metrics_fmt_double(char *out, size_t cap, double v);
/* metrics_escape - append s escaped for a label value (help: only \\ and \n) */
void metrics_escape(struct metrics_buf *b, const char *s, bool help);

static inline double metrics_bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static inline uint64_t metrics_double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

#endif
