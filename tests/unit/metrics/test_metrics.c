/* tests/unit/metrics/test_metrics.c - registry, shards, updates and text exposition:
 * registration rules, golden output for every family type with escaping, histogram
 * invariants, number formatting, shard reuse, and exact sums from 4 concurrent threads
 * while a scraper reads (run it under -DSANITIZE=thread too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/metrics_int.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* render - the exposition as a NUL-terminated string; caller frees */
static char *render(struct metrics_registry *reg)
{
    size_t len;
    char *text = metrics_render(reg, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* find_value - the value of the sample line starting with `series ` (name plus labels) */
static bool find_value(const char *text, const char *series, double *v)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            *v = strtod(p + n + 1, NULL);
            return true;
        }
    }
    return false;
}

/* value_of - find_value, failing the test if the series is absent (test thread only) */
static double value_of(const char *text, const char *series)
{
    double v = NAN;
    if (!find_value(text, series, &v))
        fail_msg("series %s not found in:\n%s", series, text);
    return v;
}

/* CHECK_EQ - exact double comparison that reads "got X, want Y" */
#define CHECK_EQ(got, want) check_eq((got), (want), #got, __FILE__, __LINE__)
static void check_eq(double got, double want, const char *what, const char *file, int line)
{
    if (!(got == want))
        fail_msg("%s:%d: %s: got %.17g, want %.17g", file, line, what, got, want);
}

/* ---- registration rules ---- */

struct reg_case {
    const char *name;
    enum metrics_type type;
    const char *metric;
    const char *label; /* NULL: no label */
    const char *value1, *value2;
    size_t nout; /* 0: the right count */
    int want;
};

static void test_register_rules(void **state)
{
    (void)state;
    static const struct reg_case cases[] = {
        {"counter ok", METRICS_COUNTER, "a_total", "l", "x", "y", 0, 0},
        {"gauge ok, colon", METRICS_GAUGE, "ns:a", NULL, NULL, NULL, 0, 0},
        {"histogram ok", METRICS_HISTOGRAM, "h_seconds", "l", "x", "y", 0, 0},
        {"counter without _total", METRICS_COUNTER, "a", NULL, NULL, NULL, 0, METRICS_ERR_NAME},
        {"name starts with digit", METRICS_GAUGE, "1a", NULL, NULL, NULL, 0, METRICS_ERR_NAME},
        {"name with dash", METRICS_GAUGE, "a-b", NULL, NULL, NULL, 0, METRICS_ERR_NAME},
        {"empty name", METRICS_GAUGE, "", NULL, NULL, NULL, 0, METRICS_ERR_NAME},
        {"label with colon", METRICS_GAUGE, "g", "a:b", "x", "y", 0, METRICS_ERR_NAME},
        {"reserved label", METRICS_GAUGE, "g", "__x", "x", "y", 0, METRICS_ERR_NAME},
        {"le on histogram", METRICS_HISTOGRAM, "h", "le", "x", "y", 0, METRICS_ERR_NAME},
        {"le on gauge is fine", METRICS_GAUGE, "g", "le", "x", "y", 0, 0},
        {"duplicate value", METRICS_GAUGE, "g", "l", "x", "x", 0, METRICS_ERR_EXISTS},
        {"bad UTF-8 value", METRICS_GAUGE, "g", "l", "x", "\xff", 0, METRICS_ERR_NAME},
        {"overlong UTF-8", METRICS_GAUGE, "g", "l", "x", "\xc0\xaf", 0, METRICS_ERR_NAME},
        {"surrogate", METRICS_GAUGE, "g", "l", "x", "\xed\xa0\x80", 0, METRICS_ERR_NAME},
        {"truncated UTF-8", METRICS_GAUGE, "g", "l", "x", "\xe2\x82", 0, METRICS_ERR_NAME},
        {"4-byte UTF-8 ok", METRICS_GAUGE, "g", "l", "x", "\xf0\x9f\x98\x80", 0, 0},
        {"nout too small", METRICS_GAUGE, "g", "l", "x", "y", 1, METRICS_ERR_LIMIT},
        {"nout too large", METRICS_GAUGE, "g", "l", "x", "y", 3, METRICS_ERR_LIMIT},
    };
    static const double bounds[] = {1, 2};
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct reg_case *c = &cases[i];
        struct metrics_registry *reg = metrics_registry_create();
        const char *values[2] = {c->value1, c->value2};
        struct metrics_label l = {c->label, values, 2};
        struct metrics_family_desc d = {c->metric, "help", c->label ? &l : NULL, c->label ? 1 : 0};
        size_t nout = c->nout ? c->nout : (c->label ? 2 : 1);
        struct metrics_counter cs[3];
        struct metrics_gauge gs[3];
        struct metrics_histogram hs[3];
        int got = c->type == METRICS_COUNTER ? metrics_counter_register(reg, &d, cs, nout)
                  : c->type == METRICS_GAUGE
                      ? metrics_gauge_register(reg, &d, gs, nout)
                      : metrics_histogram_register(reg, &d, bounds, N(bounds), hs, nout);
        if (got != c->want) {
            print_error("register %s: got %d (%s), want %d (%s)\n", c->name, got,
                        metrics_strerror(got), c->want, metrics_strerror(c->want));
            failures++;
        }
        metrics_registry_destroy(reg);
    }
    assert_int_equal(failures, 0);
}

static void test_register_conflicts_and_seal(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    const double b[] = {1};
    const double unsorted[] = {2, 1}, nan_bound[] = {1, NAN}, inf_bound[] = {INFINITY};
    struct metrics_histogram h;
    struct metrics_gauge g;
    struct metrics_counter c;
    const struct metrics_family_desc dh = {"x", "h", NULL, 0};
    assert_int_equal(metrics_histogram_register(reg, &dh, b, 1, &h, 1), 0);
    assert_int_not_equal(h.id, 0);
    /* a histogram's derived names are taken, both ways round */
    const struct metrics_family_desc dx = {"x", "h", NULL, 0}, dxc = {"x_count", "h", NULL, 0},
                                     dxs = {"x_sum", "h", NULL, 0};
    assert_int_equal(metrics_gauge_register(reg, &dx, &g, 1), METRICS_ERR_EXISTS);
    assert_int_equal(metrics_gauge_register(reg, &dxc, &g, 1), METRICS_ERR_EXISTS);
    assert_int_equal(metrics_gauge_register(reg, &dxs, &g, 1), METRICS_ERR_EXISTS);
    const struct metrics_family_desc dy = {"y_bucket", "h", NULL, 0}, dyh = {"y", "h", NULL, 0};
    assert_int_equal(metrics_gauge_register(reg, &dy, &g, 1), 0);
    assert_int_equal(metrics_histogram_register(reg, &dyh, b, 1, &h, 1), METRICS_ERR_EXISTS);
    /* bounds */
    const struct metrics_family_desc dz = {"z", "h", NULL, 0};
    assert_int_equal(metrics_histogram_register(reg, &dz, unsorted, 2, &h, 1), METRICS_ERR_LIMIT);
    assert_int_equal(metrics_histogram_register(reg, &dz, nan_bound, 2, &h, 1), METRICS_ERR_LIMIT);
    assert_int_equal(metrics_histogram_register(reg, &dz, inf_bound, 1, &h, 1), METRICS_ERR_LIMIT);
    assert_int_equal(metrics_histogram_register(reg, &dz, b, 0, &h, 1), METRICS_ERR_LIMIT);
    /* too many labels */
    const char *v[] = {"a"};
    const struct metrics_label ls[5] = {
        {"a", v, 1}, {"b", v, 1}, {"c", v, 1}, {"d", v, 1}, {"e", v, 1}};
    const struct metrics_family_desc d5 = {"five", "h", ls, 5}, d4 = {"four", "h", ls, 4};
    assert_int_equal(metrics_gauge_register(reg, &d5, &g, 1), METRICS_ERR_LIMIT);
    assert_int_equal(metrics_gauge_register(reg, &d4, &g, 1), 0);
    /* duplicate label names */
    const struct metrics_label dup[2] = {{"a", v, 1}, {"a", v, 1}};
    const struct metrics_family_desc dd = {"dup", "h", dup, 2};
    assert_int_equal(metrics_gauge_register(reg, &dd, &g, 1), METRICS_ERR_NAME);

    /* sealing: the first shard; then only callback families */
    struct metrics_shard *sh = metrics_shard_create(reg);
    const struct metrics_family_desc late = {"late_total", "h", NULL, 0};
    assert_int_equal(metrics_counter_register(reg, &late, &c, 1), METRICS_ERR_SEALED);
    assert_int_equal(metrics_gauge_register(reg, &dz, &g, 1), METRICS_ERR_SEALED);
    assert_int_equal(metrics_histogram_register(reg, &dz, b, 1, &h, 1), METRICS_ERR_SEALED);
    assert_int_equal(metrics_process_register(reg, "1.2.3"), 0);
    char *text = render(reg);
    CHECK_EQ(value_of(text, "greyspf_build_info{version=\"1.2.3\"}"), 1);
    free(text);
    metrics_shard_release(sh);
    assert_string_equal(metrics_strerror(METRICS_ERR_SEALED), "registry already in use (sealed)");
    metrics_registry_destroy(reg);
}

/* ---- golden exposition ---- */

static double cb_value(void *arg, size_t series)
{
    const double *v = arg;
    return v[series];
}

static void test_golden(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    static const char *const odd[] = {"a\\b", "q\"q", "n\nn", "plain"};
    static const char *const ids[] = {"helo", "mailfrom"};
    static const char *const res[] = {"pass", "fail"};
    const struct metrics_label l_odd = {"v", odd, N(odd)};
    const struct metrics_label l_spf[] = {{"identity", ids, 2}, {"result", res, 2}};
    const struct metrics_family_desc d_c = {"t_odd_total", "Help \\ with\nnewline \"q\".", &l_odd,
                                            1};
    const struct metrics_family_desc d_spf = {"t_spf_total", "SPF.", l_spf, 2};
    const struct metrics_family_desc d_g = {"t_gauge", "G.", NULL, 0};
    const struct metrics_family_desc d_h = {"t_seconds", "H.",
                                            &(struct metrics_label){"id", ids, 2}, 1};
    const struct metrics_family_desc d_cb = {"t_cb", "CB.", &(struct metrics_label){"id", ids, 2},
                                             1};
    struct metrics_counter c[4], spf[4];
    struct metrics_gauge g;
    struct metrics_histogram h[2];
    static const double bounds[] = {0.001, 0.5, 1};
    static const double cbv[] = {-2.5, INFINITY};
    assert_int_equal(metrics_counter_register(reg, &d_c, c, 4), 0);
    assert_int_equal(metrics_counter_register(reg, &d_spf, spf, 4), 0);
    assert_int_equal(metrics_gauge_register(reg, &d_g, &g, 1), 0);
    assert_int_equal(metrics_histogram_register(reg, &d_h, bounds, 3, h, 2), 0);
    assert_int_equal(metrics_callback_register(reg, &d_cb, METRICS_GAUGE, cb_value, (void *)cbv),
                     0);
    struct metrics_shard *sh = metrics_shard_create(reg);
    metrics_counter_add(sh, c[0], 1);
    metrics_counter_add(sh, c[1], 2);
    metrics_counter_add_shared(reg, c[2], 3);
    metrics_counter_add(sh, spf[2], 7); /* mailfrom, pass: row-major */
    metrics_gauge_set(reg, g, 0.25);
    metrics_gauge_add(sh, g, 1);
    metrics_histogram_observe(sh, h[1], 0.001); /* le is inclusive */
    metrics_histogram_observe(sh, h[1], 0.75);
    metrics_histogram_observe_shared(reg, h[1], 2);
    char *text = render(reg);
    const char *want = "# HELP t_odd_total Help \\\\ with\\nnewline \"q\".\n"
                       "# TYPE t_odd_total counter\n"
                       "t_odd_total{v=\"a\\\\b\"} 1\n"
                       "t_odd_total{v=\"q\\\"q\"} 2\n"
                       "t_odd_total{v=\"n\\nn\"} 3\n"
                       "t_odd_total{v=\"plain\"} 0\n"
                       "# HELP t_spf_total SPF.\n"
                       "# TYPE t_spf_total counter\n"
                       "t_spf_total{identity=\"helo\",result=\"pass\"} 0\n"
                       "t_spf_total{identity=\"helo\",result=\"fail\"} 0\n"
                       "t_spf_total{identity=\"mailfrom\",result=\"pass\"} 7\n"
                       "t_spf_total{identity=\"mailfrom\",result=\"fail\"} 0\n"
                       "# HELP t_gauge G.\n"
                       "# TYPE t_gauge gauge\n"
                       "t_gauge 1.25\n"
                       "# HELP t_seconds H.\n"
                       "# TYPE t_seconds histogram\n"
                       "t_seconds_bucket{id=\"helo\",le=\"0.001\"} 0\n"
                       "t_seconds_bucket{id=\"helo\",le=\"0.5\"} 0\n"
                       "t_seconds_bucket{id=\"helo\",le=\"1\"} 0\n"
                       "t_seconds_bucket{id=\"helo\",le=\"+Inf\"} 0\n"
                       "t_seconds_sum{id=\"helo\"} 0\n"
                       "t_seconds_count{id=\"helo\"} 0\n"
                       "t_seconds_bucket{id=\"mailfrom\",le=\"0.001\"} 1\n"
                       "t_seconds_bucket{id=\"mailfrom\",le=\"0.5\"} 1\n"
                       "t_seconds_bucket{id=\"mailfrom\",le=\"1\"} 2\n"
                       "t_seconds_bucket{id=\"mailfrom\",le=\"+Inf\"} 3\n"
                       "t_seconds_sum{id=\"mailfrom\"} 2.751\n"
                       "t_seconds_count{id=\"mailfrom\"} 3\n"
                       "# HELP t_cb CB.\n"
                       "# TYPE t_cb gauge\n"
                       "t_cb{id=\"helo\"} -2.5\n"
                       "t_cb{id=\"mailfrom\"} +Inf\n";
    if (strcmp(text, want) != 0)
        fail_msg("exposition:\ngot:\n%s\nwant:\n%s", text, want);
    free(text);
    metrics_shard_release(sh);
    metrics_registry_destroy(reg);
}

static void test_unlabelled_histogram_and_empty(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    char *text = render(reg);
    assert_string_equal(text, ""); /* nothing registered: empty, still a string */
    free(text);
    metrics_registry_destroy(reg);

    reg = metrics_registry_create();
    const struct metrics_family_desc d = {"u", "U.", NULL, 0};
    struct metrics_histogram h;
    const double b[] = {1};
    assert_int_equal(metrics_histogram_register(reg, &d, b, 1, &h, 1), 0);
    text = render(reg);
    assert_string_equal(text, "# HELP u U.\n# TYPE u histogram\nu_bucket{le=\"1\"} 0\n"
                              "u_bucket{le=\"+Inf\"} 0\nu_sum 0\nu_count 0\n");
    free(text);
    metrics_registry_destroy(reg);
}

/* ---- histogram invariants ---- */

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    const struct metrics_family_desc d = {"h", "H.", NULL, 0};
    const double bounds[] = {1, 2, 4};
    struct metrics_histogram h;
    assert_int_equal(metrics_histogram_register(reg, &d, bounds, 3, &h, 1), 0);
    struct metrics_shard *sh = metrics_shard_create(reg);
    static const struct {
        double v;
        int bucket; /* first le that counts it, 3 = +Inf */
    } obs[] = {{-1, 0}, {0.5, 0}, {1, 0},   {1.5, 1},      {2, 1},        {3, 2},
               {4, 2},  {5, 3},   {100, 3}, {INFINITY, 3}, {-INFINITY, 0}};
    unsigned want_bucket[4] = {0};
    for (size_t i = 0; i < N(obs); i++) {
        metrics_histogram_observe(sh, h, obs[i].v);
        want_bucket[obs[i].bucket]++;
    }
    metrics_histogram_observe(sh, h, NAN); /* ignored */
    char *text = render(reg);
    static const char *const le[] = {"1", "2", "4", "+Inf"};
    double prev = 0, cum = 0;
    for (int i = 0; i < 4; i++) {
        char series[64];
        snprintf(series, sizeof(series), "h_bucket{le=\"%s\"}", le[i]);
        double got = value_of(text, series);
        cum += want_bucket[i];
        if (got != cum)
            fail_msg("bucket le=%s: got %g, want %g", le[i], got, cum);
        assert_true(got >= prev); /* cumulative, non-decreasing */
        prev = got;
    }
    CHECK_EQ(value_of(text, "h_count"), (double)N(obs));
    CHECK_EQ(value_of(text, "h_bucket{le=\"+Inf\"}"), value_of(text, "h_count"));
    free(text);

    /* exact sum for exactly representable observations */
    struct metrics_registry *reg2 = metrics_registry_create();
    struct metrics_histogram h2;
    assert_int_equal(metrics_histogram_register(reg2, &d, bounds, 3, &h2, 1), 0);
    struct metrics_shard *sh2 = metrics_shard_create(reg2);
    static const double exact[] = {0.5, 0.25, 2, 3.75, 1024, 0.125};
    double want_sum = 0;
    for (size_t i = 0; i < N(exact); i++) {
        metrics_histogram_observe(sh2, h2, exact[i]);
        want_sum += exact[i];
    }
    text = render(reg2);
    if (value_of(text, "h_sum") != want_sum)
        fail_msg("h_sum: got %.17g, want %.17g", value_of(text, "h_sum"), want_sum);
    assert_non_null(strstr(text, "h_sum 1030.625\n"));
    free(text);
    metrics_shard_release(sh);
    metrics_shard_release(sh2);
    metrics_registry_destroy(reg);
    metrics_registry_destroy(reg2);
}

static void test_seconds_buckets(void **state)
{
    (void)state;
    CHECK_EQ(metrics_buckets_seconds[0], 50e-6);
    CHECK_EQ(metrics_buckets_seconds[METRICS_BUCKETS_SECONDS_N - 1], 10);
    for (int i = 1; i < METRICS_BUCKETS_SECONDS_N; i++)
        assert_true(metrics_buckets_seconds[i] > metrics_buckets_seconds[i - 1]);
}

/* ---- number formatting ---- */

static void test_fmt_double(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {1, "1"},
        {-1, "-1"},
        {0.1, "0.1"},
        {5e-05, "5e-05"},
        {0.00025, "0.00025"},
        {2.5, "2.5"},
        {1e21, "1e+21"},
        {123456789012.0, "123456789012"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {1.0 / 3, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"},
        {9007199254740993.0, "9007199254740992"},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        char out[32];
        size_t n = metrics_fmt_double(out, sizeof(out), cases[i].v);
        if (strcmp(out, cases[i].want) != 0 || n != strlen(out)) {
            print_error("fmt %.17g: got \"%s\" (%zu), want \"%s\"\n", cases[i].v, out, n,
                        cases[i].want);
            failures++;
        }
        if (isfinite(cases[i].v) && strtod(out, NULL) != cases[i].v) {
            print_error("fmt %.17g: \"%s\" does not read back\n", cases[i].v, out);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- shards ---- */

static void test_zero_handle_and_reuse(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    const struct metrics_family_desc d = {"c_total", "C.", NULL, 0};
    struct metrics_counter c;
    assert_int_equal(metrics_counter_register(reg, &d, &c, 1), 0);
    struct metrics_shard *a = metrics_shard_create(reg);
    struct metrics_counter unset = {0};
    struct metrics_histogram unset_h = {0};
    struct metrics_gauge unset_g = {0};
    metrics_counter_add(a, unset, 5); /* harmless: scratch slot, never rendered */
    metrics_histogram_observe(a, unset_h, 1);
    metrics_gauge_add(a, unset_g, 1);
    metrics_counter_add(a, c, 10);
    metrics_shard_release(a);
    struct metrics_shard *b = metrics_shard_create(reg); /* reuses a, totals kept */
    assert_ptr_equal(a, b);
    metrics_counter_add(b, c, 1);
    struct metrics_shard *other = metrics_shard_create(reg);
    assert_ptr_not_equal(other, b);
    metrics_counter_add(other, c, 100);
    char *text = render(reg);
    assert_string_equal(text, "# HELP c_total C.\n# TYPE c_total counter\nc_total 111\n");
    free(text);
    metrics_shard_release(b);
    metrics_shard_release(other);
    metrics_shard_release(NULL);
    metrics_registry_destroy(reg);
    metrics_registry_destroy(NULL);
}

/* ---- concurrency ---- */

#define THREADS 4
#define OPS 200000

struct conc {
    struct metrics_registry *reg;
    struct metrics_counter c, shared_c;
    struct metrics_gauge g;
    struct metrics_histogram h;
    pthread_barrier_t *go;
};

static void *conc_thread(void *arg)
{
    struct conc *cc = arg;
    struct metrics_shard *sh = metrics_shard_create(cc->reg);
    pthread_barrier_wait(cc->go);
    for (int i = 0; i < OPS; i++) {
        metrics_counter_add(sh, cc->c, 1);
        metrics_gauge_add(sh, cc->g, 1);
        metrics_histogram_observe(sh, cc->h, (double)(i % 4)); /* 0 1 2 3: exact sums */
        if (i % 16 == 0) {
            metrics_counter_add_shared(cc->reg, cc->shared_c, 1);
            metrics_histogram_observe_shared(cc->reg, cc->h, 0.5);
        }
    }
    metrics_shard_release(sh); /* the thread ends; its totals stay */
    return NULL;
}

struct scraper {
    struct metrics_registry *reg;
    atomic_int stop;
    int scrapes, bad;
};

/* scrape_thread - renders until told to stop; counters never go down, +Inf == count */
static void *scrape_thread(void *arg)
{
    struct scraper *s = arg;
    double last = 0;
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        size_t len;
        char *text = metrics_render(s->reg, &len);
        double c = 0, inf = 0, b1 = 0, count = -1;
        if (!find_value(text, "conc_total", &c) ||
            !find_value(text, "conc_seconds_bucket{le=\"+Inf\"}", &inf) ||
            !find_value(text, "conc_seconds_bucket{le=\"1\"}", &b1) ||
            !find_value(text, "conc_seconds_count", &count) || c < last || inf != count || b1 > inf)
            s->bad++;
        last = c;
        s->scrapes++;
        free(text);
    }
    return NULL;
}

static void test_concurrent_sum_exact(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    const struct metrics_family_desc dc = {"conc_total", "C.", NULL, 0},
                                     ds = {"conc_shared_total", "S.", NULL, 0},
                                     dg = {"conc_gauge", "G.", NULL, 0},
                                     dh = {"conc_seconds", "H.", NULL, 0};
    const double bounds[] = {1, 2};
    struct conc cc = {.reg = reg};
    assert_int_equal(metrics_counter_register(reg, &dc, &cc.c, 1), 0);
    assert_int_equal(metrics_counter_register(reg, &ds, &cc.shared_c, 1), 0);
    assert_int_equal(metrics_gauge_register(reg, &dg, &cc.g, 1), 0);
    assert_int_equal(metrics_histogram_register(reg, &dh, bounds, 2, &cc.h, 1), 0);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    cc.go = &go;
    struct scraper sc = {.reg = reg};
    atomic_init(&sc.stop, 0);
    pthread_t th[THREADS], scr;
    assert_int_equal(pthread_create(&scr, NULL, scrape_thread, &sc), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conc_thread, &cc), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store_explicit(&sc.stop, 1, memory_order_relaxed);
    pthread_join(scr, NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(sc.bad, 0);
    assert_true(sc.scrapes > 0);

    char *text = render(reg);
    static const struct {
        const char *series;
        double want;
    } want[] = {
        {"conc_total", THREADS * (double)OPS},
        {"conc_shared_total", THREADS * (double)(OPS / 16)},
        {"conc_gauge", THREADS * (double)OPS},
        {"conc_seconds_bucket{le=\"1\"}", THREADS * (double)OPS / 2 + THREADS * (double)(OPS / 16)},
        {"conc_seconds_bucket{le=\"2\"}",
         THREADS * 3 * (double)OPS / 4 + THREADS * (double)(OPS / 16)},
        {"conc_seconds_count", THREADS * (double)OPS + THREADS * (double)(OPS / 16)},
        {"conc_seconds_sum", THREADS * 1.5 * (double)OPS + 0.5 * THREADS * (double)(OPS / 16)},
    };
    for (size_t i = 0; i < N(want); i++) {
        double got = value_of(text, want[i].series);
        if (got != want[i].want)
            fail_msg("%s: got %.17g, want %.17g", want[i].series, got, want[i].want);
    }
    free(text);
    metrics_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_rules),
        cmocka_unit_test(test_register_conflicts_and_seal),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_unlabelled_histogram_and_empty),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_seconds_buckets),
        cmocka_unit_test(test_fmt_double),
        cmocka_unit_test(test_zero_handle_and_reuse),
        cmocka_unit_test(test_concurrent_sum_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
