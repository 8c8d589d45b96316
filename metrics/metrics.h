/* metrics/metrics.h - counters, gauges and histograms for Prometheus, cheap on the hot path.
 *
 * Usage story. At start-up, before any thread updates anything:
 *     struct metrics_registry *reg = metrics_registry_create();
 *     static const char *const states[] = {"CONNECT", "EHLO", "RCPT", ...};
 *     static const struct metrics_label state = {"state", states, N_STATES};
 *     static const struct metrics_family_desc req = {
 *         "greyspf_requests_total", "Policy requests by SMTP protocol state.", &state, 1};
 *     struct metrics_counter req_c[N_STATES];       (one handle per series, row-major)
 *     metrics_counter_register(reg, &req, req_c, N_STATES);
 *     metrics_process_register(reg, GREYSPF_VERSION);
 * Each I/O or worker thread then takes a shard and updates it with no lock and no string work:
 *     struct metrics_shard *sh = metrics_shard_create(reg);      (on that thread, once)
 *     metrics_counter_add(sh, req_c[st], 1);
 *     metrics_histogram_observe(sh, dur_h, seconds);
 * and the scraper (metrics_render, or the HTTP endpoint in metrics_http.h) sums every shard.
 *
 * Values. A shard is a cache-line aligned array of 64-bit slots written only by the thread
 * that owns it (relaxed atomic load + store: no locked instruction, no shared cache line) and
 * read concurrently by the scraper (relaxed loads). A series' value is the sum over all shards
 * plus the registry's shared slot, which metrics_*_shared() and metrics_gauge_set() update
 * with atomic read-modify-writes from any thread. Shards live as long as the registry, so the
 * totals of a thread that has exited stay counted.
 *
 * Lifecycle and locking. The registry has one mutex; it protects the family list and the
 * shard list, and is held by registration, metrics_shard_create/_release and metrics_render
 * (including the value callbacks it calls). The update functions never take it. Lock order:
 * reg->lock is taken last, except that value callbacks run under it, so a callback may take
 * its own module's lock only if that module never calls metrics_* registration,
 * metrics_shard_create/_release or metrics_render while holding that lock. The
 * registry is sealed by the first metrics_shard_create, _shared update, metrics_gauge_set,
 * metrics_render or metrics_http_start; after that counter/gauge/histogram registration
 * fails with METRICS_ERR_SEALED (callback families may still be added).
 *
 * Text format 0.0.4: families in registration order, "# HELP" and "# TYPE" once each, label
 * values escaped (\\ \" \n), histograms as cumulative _bucket{le} incl. "+Inf" (== _count),
 * _sum, _count; numbers in the fewest of 15, 16 or 17 digits that read back exactly (the process
 * must keep the "C" LC_NUMERIC locale, which it has unless it calls setlocale). */
#ifndef GREYSPF_METRICS_H
#define GREYSPF_METRICS_H
#include <stddef.h>
#include <stdint.h>

struct metrics_registry;
struct metrics_shard;

/* Handles, returned by registration, passed by value. A zeroed handle is "unregistered":
 * updating it is harmless (it goes to a slot that is never rendered). */
struct metrics_counter {
    uint32_t id;
};
struct metrics_gauge {
    uint32_t id;
};
struct metrics_histogram {
    uint32_t id;
};

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

enum {
    METRICS_ERR_NAME = -1,   /* invalid metric/label name, reserved label, bad UTF-8, no _total */
    METRICS_ERR_EXISTS = -2, /* name (or a histogram's _bucket/_sum/_count) already taken */
    METRICS_ERR_SEALED = -3, /* slot-backed registration after the registry was sealed */
    METRICS_ERR_LIMIT = -4,  /* nout != series count, too many labels/series/bounds, bad bounds */
};

#define METRICS_LABELS_MAX 4
#define METRICS_SERIES_MAX 4096 /* per family */
#define METRICS_BOUNDS_MAX 64   /* per histogram, +Inf not counted */

/* One label of a family with the fixed set of values it takes. A family's series are all
 * combinations of its labels' values, in row-major order (the last label varies fastest):
 * labels {identity: helo, mailfrom} x {result: pass, fail} give handles
 * [helo,pass] [helo,fail] [mailfrom,pass] [mailfrom,fail]. */
struct metrics_label {
    const char *name;          /* [a-zA-Z_][a-zA-Z0-9_]*, not "__*", not "le" */
    const char *const *values; /* nvalues distinct UTF-8 strings, escaped on output */
    size_t nvalues;            /* >= 1 */
};

struct metrics_family_desc {
    const char *name;                   /* [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total */
    const char *help;                   /* UTF-8, one line is best; escaped on output */
    const struct metrics_label *labels; /* NULL when nlabels == 0 */
    size_t nlabels;                     /* <= METRICS_LABELS_MAX; 0: one unlabelled series */
};

/* metrics_value_cb - value of series `series` (row-major index) of a callback family,
 * evaluated at scrape time on the scraping thread with the registry mutex held: it must be
 * thread-safe, quick, and must not call back into the registry. */
typedef double (*metrics_value_cb)(void *arg, size_t series);

/* Latency buckets in seconds, 50 us .. 10 s (1-2.5-5 steps), for request/DNS durations. */
extern const double metrics_buckets_seconds[];
#define METRICS_BUCKETS_SECONDS_N 17

/* metrics_registry_create - an empty, unsealed registry. Caller frees with
 * metrics_registry_destroy once no thread updates it and its HTTP endpoint is stopped. */
struct metrics_registry *metrics_registry_create(void);
void metrics_registry_destroy(struct metrics_registry *reg); /* NULL is a no-op */

/* Registration. d and everything it points to is copied. out receives one handle per series
 * (nout must equal the product of the labels' nvalues). Returns 0 or METRICS_ERR_*; on error
 * nothing was registered and out is untouched. Thread-safe (takes the registry mutex). */
int metrics_counter_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                             struct metrics_counter *out, size_t nout);
int metrics_gauge_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                           struct metrics_gauge *out, size_t nout);
/* bounds: nbounds finite upper bounds, strictly increasing (copied); +Inf is implicit */
int metrics_histogram_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                               const double *bounds, size_t nbounds, struct metrics_histogram *out,
                               size_t nout);
/* metrics_callback_register - a counter or gauge family whose values come from cb(arg, i)
 * at each scrape (queue depth, open connections, RocksDB properties). Allowed at any time;
 * arg must stay valid until metrics_registry_destroy. type: METRICS_COUNTER or _GAUGE. */
int metrics_callback_register(struct metrics_registry *reg, const struct metrics_family_desc *d,
                              enum metrics_type type, metrics_value_cb cb, void *arg);
const char *metrics_strerror(int err);

/* metrics_shard_create - a shard for the calling thread (seals the registry). Only that
 * thread may update through it. Valid until metrics_registry_destroy; never NULL. */
struct metrics_shard *metrics_shard_create(struct metrics_registry *reg);
/* metrics_shard_release - the owning thread is done with s: its totals stay counted and a
 * later metrics_shard_create may hand s to another thread. NULL is a no-op. */
void metrics_shard_release(struct metrics_shard *s);

/* Hot path: the owning thread only; no lock, no allocation, no string work. */
void metrics_counter_add(struct metrics_shard *s, struct metrics_counter c, uint64_t n);
void metrics_gauge_add(struct metrics_shard *s, struct metrics_gauge g, double delta);
/* v <= bound[i] counts in bucket i (Prometheus "le"); NaN is ignored */
void metrics_histogram_observe(struct metrics_shard *s, struct metrics_histogram h, double v);

/* Any thread, no shard needed: atomic read-modify-write on the registry's shared slots.
 * Slower under contention than the shard versions; meant for rare events. */
void metrics_counter_add_shared(struct metrics_registry *reg, struct metrics_counter c, uint64_t n);
void metrics_gauge_add_shared(struct metrics_registry *reg, struct metrics_gauge g, double delta);
void metrics_histogram_observe_shared(struct metrics_registry *reg, struct metrics_histogram h,
                                      double v);
/* metrics_gauge_set - set the shared part of g; its value is then v + all shards' adds
 * (use either set or add on one gauge). Any thread. */
void metrics_gauge_set(struct metrics_registry *reg, struct metrics_gauge g, double v);

/* metrics_render - the whole exposition (text format 0.0.4, ends with a newline, NUL after
 * it). *len gets its length without the NUL. Caller frees with free(). Thread-safe. */
char *metrics_render(struct metrics_registry *reg, size_t *len);

/* metrics_process_register - greyspf_build_info{version} = 1 and the process gauges:
 * process_start_time_seconds, process_open_fds, process_max_fds, process_cpu_seconds_total,
 * process_resident_memory_bytes (/proc/self/statm) and, when built WITH_JEMALLOC,
 * greyspf_jemalloc_{allocated,active,resident}_bytes (mallctl, epoch refreshed per scrape).
 * All are callback families: allowed at any time. Returns 0, or METRICS_ERR_* (a name is
 * taken) with the families before the failing one registered. */
int metrics_process_register(struct metrics_registry *reg, const char *version);

#endif
