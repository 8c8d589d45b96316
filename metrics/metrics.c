/* metrics/metrics.c - the registry: registration, shards, and the update functions.
 *
 * Slot space: every counter or gauge series owns one 64-bit slot, every histogram series
 * nbounds + 2 (sum, then one count per bucket); a handle's id is its slot (counter, gauge)
 * or its index in reg->hist (histogram). Every shard, and the registry's shared array, has
 * reg->nslots slots, fixed when the registry is sealed.
 *
 * Atomics (the only lock-free code in metrics/; STYLE.md "Hot counters"):
 * - shard slots: single writer (the owning thread) doing relaxed load + relaxed store, so
 *   the update costs a plain load and store; the scraper's relaxed loads see an untorn
 *   value, possibly a little old. Ownership moves between threads only through reg->lock
 *   (metrics_shard_release / metrics_shard_create), which orders the previous owner's
 *   stores before the next owner's.
 * - shared slots: many writers: relaxed fetch_add for counters, relaxed CAS loops for
 *   doubles. Relaxed is enough: no other memory is published through a metric.
 * - reg->shared: the pointer is published once (release, under lock) and read with acquire
 *   so the zeroed array is visible before its first use. */
#include "metrics/metrics_int.h"

#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const double metrics_buckets_seconds[METRICS_BUCKETS_SECONDS_N] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,
};

#define SLOTS_MAX (1u << 24) /* 128 MiB per shard: far beyond any sane registry */

/* slots_alloc - n zeroed slots on their own cache lines */
static _Atomic uint64_t *slots_alloc(uint32_t n)
{
    size_t bytes =
        ((size_t)n * sizeof(uint64_t) + METRICS_CACHE_LINE - 1) & ~(size_t)(METRICS_CACHE_LINE - 1);
    _Atomic uint64_t *p = aligned_alloc(METRICS_CACHE_LINE, bytes);
    if (!p)
        PANIC("metrics: out of memory (%zu bytes of slots)", bytes);
    for (uint32_t i = 0; i < n; i++)
        atomic_init(&p[i], 0);
    return p;
}

struct metrics_registry *metrics_registry_create(void)
{
    struct metrics_registry *reg = xcalloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    reg->tail = &reg->families;
    reg->nslots = METRICS_SLOT_FIRST;
    reg->hist_cap = 8;
    reg->hist = xcalloc(reg->hist_cap, sizeof(*reg->hist));
    reg->hist[0] = (struct metrics_hist_info){.slot = 0, .nbounds = 0, .bounds = NULL};
    reg->nhist = 1;
    atomic_init(&reg->shared, NULL);
    return reg;
}

/* family_free - a family, possibly half-built */
static void family_free(struct metrics_family *f)
{
    if (!f)
        return;
    if (f->labels)
        for (size_t i = 0; i < f->nseries; i++)
            free(f->labels[i]);
    free(f->labels);
    if (f->le)
        for (size_t i = 0; i < f->nbounds; i++)
            free(f->le[i]);
    free(f->le);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_registry_destroy(struct metrics_registry *reg)
{
    if (!reg)
        return;
    struct metrics_family *f = reg->families;
    while (f) {
        struct metrics_family *next = f->next;
        family_free(f);
        f = next;
    }
    for (size_t i = 0; i < reg->nshards; i++) {
        free(reg->shards[i]->slots);
        free(reg->shards[i]);
    }
    free(reg->shards);
    free(reg->hist);
    free(atomic_load_explicit(&reg->shared, memory_order_relaxed)); /* no other thread left */
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

const char *metrics_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case METRICS_ERR_NAME:
        return "invalid metric name, label name, or text";
    case METRICS_ERR_EXISTS:
        return "metric name or label value already registered";
    case METRICS_ERR_SEALED:
        return "registry already in use (sealed)";
    case METRICS_ERR_LIMIT:
        return "series count, label count or histogram bounds out of range";
    }
    return "unknown metrics error";
}

/* ---- validation ---- */

/* name_ok - metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names without ':' */
static bool name_ok(const char *s, bool metric)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* utf8_ok - s is well-formed UTF-8 without NUL (RFC 3629: no overlongs, no surrogates) */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false; /* also stops at the NUL */
            c = (c << 6) | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* has_duplicate - two equal strings among v[0..n)? (sorted copy: n may be thousands) */
static bool has_duplicate(const char *const *v, size_t n)
{
    const char **s = xmalloc(n * sizeof(*s));
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_str);
    bool dup = false;
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(s[i - 1], s[i]) == 0;
    free(s);
    return dup;
}

/* names_of - the sample names a family of this name and type writes; returns how many */
static size_t names_of(const char *name, enum metrics_type type, char out[4][256])
{
    snprintf(out[0], 256, "%s", name);
    if (type != METRICS_HISTOGRAM)
        return 1;
    snprintf(out[1], 256, "%s_bucket", name);
    snprintf(out[2], 256, "%s_sum", name);
    snprintf(out[3], 256, "%s_count", name);
    return 4;
}

/* check_desc - validate d for a family of type; *nseries gets the series count */
static int check_desc(const struct metrics_family_desc *d, enum metrics_type type, size_t *nseries)
{
    if (!d || !name_ok(d->name, true) || strlen(d->name) > 200 || !d->help || !utf8_ok(d->help))
        return METRICS_ERR_NAME;
    if (type == METRICS_COUNTER && !ends_with(d->name, "_total"))
        return METRICS_ERR_NAME;
    if (d->nlabels > METRICS_LABELS_MAX || (d->nlabels && !d->labels))
        return METRICS_ERR_LIMIT;
    size_t n = 1;
    for (size_t i = 0; i < d->nlabels; i++) {
        const struct metrics_label *l = &d->labels[i];
        if (!name_ok(l->name, false) || strncmp(l->name, "__", 2) == 0 ||
            (type == METRICS_HISTOGRAM && strcmp(l->name, "le") == 0))
            return METRICS_ERR_NAME;
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->labels[j].name, l->name) == 0)
                return METRICS_ERR_NAME;
        if (l->nvalues == 0 || !l->values || l->nvalues > METRICS_SERIES_MAX)
            return METRICS_ERR_LIMIT;
        for (size_t v = 0; v < l->nvalues; v++)
            if (!l->values[v] || !utf8_ok(l->values[v]))
                return METRICS_ERR_NAME;
        if (has_duplicate(l->values, l->nvalues))
            return METRICS_ERR_EXISTS;
        n *= l->nvalues;
        if (n > METRICS_SERIES_MAX)
            return METRICS_ERR_LIMIT;
    }
    *nseries = n;
    return 0;
}

/* name_taken_locked - does any sample name of (name, type) collide with a family's? */
static bool name_taken_locked(struct metrics_registry *reg, const char *name,
                              enum metrics_type type)
{
    char mine[4][256], theirs[4][256];
    size_t nm = names_of(name, type, mine);
    for (struct metrics_family *f = reg->families; f; f = f->next) {
        size_t nt = names_of(f->name, f->type, theirs);
        for (size_t i = 0; i < nm; i++)
            for (size_t j = 0; j < nt; j++)
                if (strcmp(mine[i], theirs[j]) == 0)
                    return true;
    }
    return false;
}

/* family_new - a family with copied name/help and pre-rendered label texts */
static struct metrics_family *family_new(const struct metrics_family_desc *d,
                                         enum metrics_type type, size_t nseries)
{
    struct metrics_family *f = xcalloc(1, sizeof(*f));
    f->name = xstrdup(d->name);
    f->help = xstrdup(d->help);
    f->type = type;
    f->nseries = nseries;
    f->labels = xcalloc(nseries, sizeof(*f->labels));
    for (size_t s = 0; s < nseries; s++) {
        struct metrics_buf b = {0};
        size_t rest = s, div = nseries;
        for (size_t i = 0; i < d->nlabels; i++) {
            const struct metrics_label *l = &d->labels[i];
            div /= l->nvalues; /* row-major: label i's index is (s / div) % nvalues */
            size_t v = (rest / div) % l->nvalues;
            if (i)
                metrics_buf_add(&b, ",", 1);
            metrics_buf_addf(&b, "%s=\"", l->name);
            metrics_escape(&b, l->values[v], false);
            metrics_buf_add(&b, "\"", 1);
        }
        metrics_buf_add(&b, "", 0);
        f->labels[s] = b.p ? b.p : xstrdup("");
    }
    return f;
}

/* register_locked - validate, build and append a family; caller holds reg->lock */
static int register_locked(struct metrics_registry *reg, const struct metrics_family_desc *d,
                           enum metrics_type type, bool callback, const double *bounds,
                           size_t nbounds, size_t nout, struct metrics_family **out)
{
    size_t nseries = 0;
    int err = check_desc(d, type, &nseries);
    if (err)
        return err;
    if (!callback && nout != nseries)
        return METRICS_ERR_LIMIT;
    if (type == METRICS_HISTOGRAM) {
        if (!bounds || nbounds == 0 || nbounds > METRICS_BOUNDS_MAX)
            return METRICS_ERR_LIMIT;
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1])))
                return METRICS_ERR_LIMIT;
    }
    if (!callback && atomic_load_explicit(&reg->shared, memory_order_relaxed)) /* under lock */
        return METRICS_ERR_SEALED;
    if (name_taken_locked(reg, d->name, type))
        return METRICS_ERR_EXISTS;
    size_t per = type == METRICS_HISTOGRAM ? nbounds + 2 : 1;
    if (!callback && (uint64_t)reg->nslots + (uint64_t)nseries * per > SLOTS_MAX)
        return METRICS_ERR_LIMIT;

    struct metrics_family *f = family_new(d, type, nseries);
    f->callback = callback;
    if (type == METRICS_HISTOGRAM) {
        f->nbounds = nbounds;
        f->bounds = xmalloc(nbounds * sizeof(double));
        memcpy(f->bounds, bounds, nbounds * sizeof(double));
        f->le = xcalloc(nbounds, sizeof(*f->le));
        for (size_t i = 0; i < nbounds; i++) {
            char num[32];
            metrics_fmt_double(num, sizeof(num), bounds[i]);
            f->le[i] = xstrdup(num);
        }
        if (reg->nhist + nseries > reg->hist_cap) {
            while (reg->nhist + nseries > reg->hist_cap)
                reg->hist_cap *= 2;
            reg->hist = xrealloc(reg->hist, reg->hist_cap * sizeof(*reg->hist));
        }
        f->first = reg->nhist;
        for (size_t s = 0; s < nseries; s++) {
            reg->hist[reg->nhist++] = (struct metrics_hist_info){
                .slot = reg->nslots, .nbounds = (uint32_t)nbounds, .bounds = f->bounds};
            reg->nslots += (uint32_t)per;
        }
    } else if (!callback) {
        f->first = reg->nslots;
        reg->nslots += (uint32_t)nseries;
    }
    *reg->tail = f;
    reg->tail = &f->next;
    *out = f;
    return 0;
}

/* register_series - register a slot-backed family under the lock; *first is its first
 * series' slot (series i is first + i) */
static int register_series(struct metrics_registry *reg, const struct metrics_family_desc *d,
                           enum metrics_type type, const double *bounds, size_t nbounds,
                           size_t nout, uint32_t *first)
{
    struct metrics_family *f;
    pthread_mutex_lock(&reg->lock);
    int err = register_locked(reg, d, type, false, bounds, nbounds, nout, &f);
    if (!err)
        *first = f->first;
    pthread_mutex_unlock(&reg->lock);
    return err;
}

int metrics_counter_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                             struct metrics_counter *out, size_t nout)
{
    uint32_t first;
    int err = register_series(reg, d, METRICS_COUNTER, NULL, 0, nout, &first);
    for (size_t i = 0; !err && i < nout; i++)
        out[i].id = first + (uint32_t)i;
    return err;
}

int metrics_gauge_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                           struct metrics_gauge *out, size_t nout)
{
    uint32_t first;
    int err = register_series(reg, d, METRICS_GAUGE, NULL, 0, nout, &first);
    for (size_t i = 0; !err && i < nout; i++)
        out[i].id = first + (uint32_t)i;
    return err;
}

int metrics_histogram_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                               const double *bounds, size_t nbounds, struct metrics_histogram *out,
                               size_t nout)
{
    uint32_t first;
    int err = register_series(reg, d, METRICS_HISTOGRAM, bounds, nbounds, nout, &first);
    for (size_t i = 0; !err && i < nout; i++)
        out[i].id = first + (uint32_t)i;
    return err;
}

int metrics_callback_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                              enum metrics_type type, metrics_value_cb cb, void *arg)
{
    if (!cb || (type != METRICS_COUNTER && type != METRICS_GAUGE))
        return METRICS_ERR_LIMIT;
    struct metrics_family *f;
    pthread_mutex_lock(&reg->lock);
    int err = register_locked(reg, d, type, true, NULL, 0, 0, &f);
    if (!err) {
        f->cb = cb; /* before unlock: the scraper reads it under the lock */
        f->arg = arg;
    }
    pthread_mutex_unlock(&reg->lock);
    return err;
}

/* ---- shards ---- */

_Atomic uint64_t *metrics_seal_locked(struct metrics_registry *reg)
{
    _Atomic uint64_t *sh = atomic_load_explicit(&reg->shared, memory_order_relaxed);
    if (!sh) {
        sh = slots_alloc(reg->nslots);
        /* release: the zeroed slots are visible to whoever acquires the pointer */
        atomic_store_explicit(&reg->shared, sh, memory_order_release);
    }
    return sh;
}

/* shared_slots - the shared array, sealing the registry on first use */
static _Atomic uint64_t *shared_slots(struct metrics_registry *reg)
{
    /* acquire: pairs with the release in metrics_seal_locked */
    _Atomic uint64_t *sh = atomic_load_explicit(&reg->shared, memory_order_acquire);
    if (sh)
        return sh;
    pthread_mutex_lock(&reg->lock);
    sh = metrics_seal_locked(reg);
    pthread_mutex_unlock(&reg->lock);
    return sh;
}

struct metrics_shard *metrics_shard_create(struct metrics_registry *reg)
{
    struct metrics_shard *s = NULL;
    pthread_mutex_lock(&reg->lock);
    metrics_seal_locked(reg);
    for (size_t i = 0; i < reg->nshards && !s; i++)
        if (!reg->shards[i]->in_use)
            s = reg->shards[i];
    if (!s) {
        size_t bytes = (sizeof(*s) + METRICS_CACHE_LINE - 1) & ~(size_t)(METRICS_CACHE_LINE - 1);
        s = aligned_alloc(METRICS_CACHE_LINE, bytes);
        if (!s)
            PANIC("metrics: out of memory (shard)");
        memset(s, 0, bytes);
        s->slots = slots_alloc(reg->nslots);
        s->hist = reg->hist;
        s->reg = reg;
        if (reg->nshards == reg->shards_cap) {
            reg->shards_cap = reg->shards_cap ? 2 * reg->shards_cap : 16;
            reg->shards = xrealloc(reg->shards, reg->shards_cap * sizeof(*reg->shards));
        }
        reg->shards[reg->nshards++] = s;
    }
    s->in_use = true;
    pthread_mutex_unlock(&reg->lock);
    return s;
}

void metrics_shard_release(struct metrics_shard *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->reg->lock);
    s->in_use = false;
    pthread_mutex_unlock(&s->reg->lock);
}

/* ---- updates ---- */

/* bucket_of - index of the first bound >= v, nbounds for +Inf */
static inline uint32_t bucket_of(const struct metrics_hist_info *h, double v)
{
    uint32_t lo = 0, hi = h->nbounds;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* own_add - single-writer add on a shard slot */
static inline void own_add(_Atomic uint64_t *p, uint64_t n)
{
    /* relaxed: only the owning thread writes p; the scraper needs an untorn value only */
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* own_add_double - single-writer add of a double kept as bits */
static inline void own_add_double(_Atomic uint64_t *p, double d)
{
    /* relaxed: as own_add */
    double cur = metrics_bits_to_double(atomic_load_explicit(p, memory_order_relaxed));
    atomic_store_explicit(p, metrics_double_to_bits(cur + d), memory_order_relaxed);
}

/* shared_add_double - many-writer add of a double kept as bits */
static void shared_add_double(_Atomic uint64_t *p, double d)
{
    /* relaxed: nothing else is published through the value; the CAS makes adds atomic */
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        p, &old, metrics_double_to_bits(metrics_bits_to_double(old) + d), memory_order_relaxed,
        memory_order_relaxed))
        ;
}

void metrics_counter_add(struct metrics_shard *s, struct metrics_counter c, uint64_t n)
{
    own_add(&s->slots[c.id], n);
}

void metrics_gauge_add(struct metrics_shard *s, struct metrics_gauge g, double delta)
{
    own_add_double(&s->slots[g.id], delta);
}

void metrics_histogram_observe(struct metrics_shard *s, struct metrics_histogram h, double v)
{
    if (isnan(v))
        return;
    const struct metrics_hist_info *hi = &s->hist[h.id];
    own_add(&s->slots[hi->slot + 1 + bucket_of(hi, v)], 1);
    own_add_double(&s->slots[hi->slot], v);
}

void metrics_counter_add_shared(struct metrics_registry *reg, struct metrics_counter c, uint64_t n)
{
    /* relaxed: a pure count, nothing is published through it */
    atomic_fetch_add_explicit(&shared_slots(reg)[c.id], n, memory_order_relaxed);
}

void metrics_gauge_add_shared(struct metrics_registry *reg, struct metrics_gauge g, double delta)
{
    shared_add_double(&shared_slots(reg)[g.id], delta);
}

void metrics_gauge_set(struct metrics_registry *reg, struct metrics_gauge g, double v)
{
    /* relaxed: last writer wins; nothing is published through the value */
    atomic_store_explicit(&shared_slots(reg)[g.id], metrics_double_to_bits(v),
                          memory_order_relaxed);
}

void metrics_histogram_observe_shared(struct metrics_registry *reg, struct metrics_histogram h,
                                      double v)
{
    if (isnan(v))
        return;
    _Atomic uint64_t *sh = shared_slots(reg); /* seals: reg->hist is immutable from here */
    const struct metrics_hist_info *hi = &reg->hist[h.id];
    /* relaxed: a pure count */
    atomic_fetch_add_explicit(&sh[hi->slot + 1 + bucket_of(hi, v)], 1, memory_order_relaxed);
    shared_add_double(&sh[hi->slot], v);
}
