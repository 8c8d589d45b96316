/* metrics/metrics_expo.c - Prometheus text exposition format 0.0.4.
 *
 * Per family, in registration order:
 *   # HELP <name> <help, with \\ and \n escaped>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<labels>} <value>                         counter, gauge
 *   <name>_bucket{<labels>,le="<bound>"} <cumulative>  histogram, each bound, then le="+Inf"
 *   <name>_sum{<labels>} <sum>  /  <name>_count{<labels>} <count == the +Inf bucket>
 * Label values escape \ " and newline. Counter slots are summed as integers, gauge and sum
 * slots as doubles; a histogram's count is the sum of its bucket counts as read, so +Inf
 * always equals _count even while other threads observe. Values are read with relaxed
 * loads while the owners keep writing: each is untorn, the set is not a snapshot. */
#include "metrics/metrics_int.h"

#include "engine/base/alloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* buf_reserve - room for n more bytes plus a NUL */
static void buf_reserve(struct metrics_buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void metrics_buf_add(struct metrics_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void metrics_buf_addf(struct metrics_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        metrics_buf_add(b, small, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void metrics_escape(struct metrics_buf *b, const char *s, bool help)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"' && !help)
            rep = "\\\"";
        else if (*p != '\0')
            continue;
        metrics_buf_add(b, run, (size_t)(p - run));
        if (!rep)
            return;
        metrics_buf_add(b, rep, 2);
        run = p + 1;
    }
}

size_t metrics_fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v))
        return (size_t)snprintf(out, cap, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    /* %.15g covers most values in few digits; 17 significant digits always read back */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

/* sum_u64 - slot summed over the shared array and every shard, as integers */
static uint64_t sum_u64(struct metrics_registry *reg, _Atomic uint64_t *shared, uint32_t slot)
{
    /* relaxed: statistics; each load is untorn, no ordering with anything else needed */
    uint64_t v = atomic_load_explicit(&shared[slot], memory_order_relaxed);
    for (size_t i = 0; i < reg->nshards; i++)
        v += atomic_load_explicit(&reg->shards[i]->slots[slot], memory_order_relaxed);
    return v;
}

/* sum_double - slot summed as doubles */
static double sum_double(struct metrics_registry *reg, _Atomic uint64_t *shared, uint32_t slot)
{
    /* relaxed: as sum_u64 */
    double v = metrics_bits_to_double(atomic_load_explicit(&shared[slot], memory_order_relaxed));
    for (size_t i = 0; i < reg->nshards; i++)
        v += metrics_bits_to_double(
            atomic_load_explicit(&reg->shards[i]->slots[slot], memory_order_relaxed));
    return v;
}

/* sample - one line: name[suffix]{labels[,le="le"]} value */
static void sample(struct metrics_buf *b, const char *name, const char *suffix, const char *labels,
                   const char *le, const char *value)
{
    metrics_buf_add(b, name, strlen(name));
    metrics_buf_add(b, suffix, strlen(suffix));
    if (*labels || le) {
        metrics_buf_add(b, "{", 1);
        metrics_buf_add(b, labels, strlen(labels));
        if (le) {
            if (*labels)
                metrics_buf_add(b, ",", 1);
            metrics_buf_addf(b, "le=\"%s\"", le);
        }
        metrics_buf_add(b, "}", 1);
    }
    metrics_buf_add(b, " ", 1);
    metrics_buf_add(b, value, strlen(value));
    metrics_buf_add(b, "\n", 1);
}

/* histogram - the bucket, sum and count lines of one series */
static void histogram(struct metrics_buf *b, struct metrics_registry *reg, _Atomic uint64_t *shared,
                      const struct metrics_family *f, size_t s)
{
    const struct metrics_hist_info *hi = &reg->hist[f->first + s];
    char num[32];
    uint64_t cum = 0;
    for (uint32_t i = 0; i <= hi->nbounds; i++) {
        cum += sum_u64(reg, shared, hi->slot + 1 + i);
        snprintf(num, sizeof(num), "%" PRIu64, cum);
        sample(b, f->name, "_bucket", f->labels[s], i < hi->nbounds ? f->le[i] : "+Inf", num);
    }
    metrics_fmt_double(num, sizeof(num), sum_double(reg, shared, hi->slot));
    sample(b, f->name, "_sum", f->labels[s], NULL, num);
    snprintf(num, sizeof(num), "%" PRIu64, cum);
    sample(b, f->name, "_count", f->labels[s], NULL, num);
}

void metrics_render_into(struct metrics_registry *reg, struct metrics_buf *b)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&reg->lock);
    _Atomic uint64_t *shared = metrics_seal_locked(reg);
    for (const struct metrics_family *f = reg->families; f; f = f->next) {
        metrics_buf_addf(b, "# HELP %s ", f->name);
        metrics_escape(b, f->help, true);
        metrics_buf_addf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (size_t s = 0; s < f->nseries; s++) {
            char num[32];
            if (f->callback) {
                metrics_fmt_double(num, sizeof(num), f->cb(f->arg, s));
            } else if (f->type == METRICS_COUNTER) {
                snprintf(num, sizeof(num), "%" PRIu64,
                         sum_u64(reg, shared, f->first + (uint32_t)s));
            } else if (f->type == METRICS_GAUGE) {
                metrics_fmt_double(num, sizeof(num),
                                   sum_double(reg, shared, f->first + (uint32_t)s));
            } else {
                histogram(b, reg, shared, f, s);
                continue;
            }
            sample(b, f->name, "", f->labels[s], NULL, num);
        }
    }
    pthread_mutex_unlock(&reg->lock);
    metrics_buf_add(b, "", 0); /* an empty registry still yields a NUL-terminated buffer */
}

char *metrics_render(struct metrics_registry *reg, size_t *len)
{
    struct metrics_buf b = {0};
    metrics_render_into(reg, &b);
    *len = b.len;
    return b.p;
}
