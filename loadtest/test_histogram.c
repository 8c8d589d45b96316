/* loadtest/test_histogram.c - histogram percentiles against known answers.
 * Every percentile must be within 1 % of the exact order statistic (the histogram promises
 * 0.4 %); min and max must be exact. Hermetic: fixed inputs and a fixed-seed generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loadtest/histogram.h"

#define REL_ERR 0.01

/* check_near - got within REL_ERR of want, else fail naming the case */
static void check_near(const char *name, double pct, uint64_t got, uint64_t want)
{
    double diff = got > want ? (double)(got - want) : (double)(want - got);
    if (diff > REL_ERR * (double)want) {
        print_error("%s: p%g: got %llu, want %llu (+-1%%)\n", name, pct, (unsigned long long)got,
                    (unsigned long long)want);
        fail();
    }
}

/* check_exact - got == want, else fail naming the case */
static void check_exact(const char *name, const char *what, uint64_t got, uint64_t want)
{
    if (got != want) {
        print_error("%s: %s: got %llu, want %llu\n", name, what, (unsigned long long)got,
                    (unsigned long long)want);
        fail();
    }
}

static struct histogram *new_hist(void)
{
    struct histogram *h = malloc(sizeof *h);
    assert_non_null(h);
    histogram_init(h);
    return h;
}

static void test_empty(void **state)
{
    (void)state;
    struct histogram *h = new_hist();
    check_exact("empty", "count", h->count, 0);
    check_exact("empty", "p50", histogram_percentile(h, 50), 0);
    check_exact("empty", "max", histogram_percentile(h, 100), 0);
    free(h);
}

/* Table of fixed cases: values given as (value, repeat) runs; expected percentiles. */
struct run {
    uint64_t value, times;
};
struct want {
    double pct;
    uint64_t value;
};
struct table_case {
    const char *name;
    struct run runs[4];
    struct want wants[8];
};

static const struct table_case cases[] = {
    {"single 12.345us", {{12345, 1}}, {{0, 12345}, {50, 12345}, {99.9, 12345}, {100, 12345}}},
    {"below 256ns exact",
     {{7, 1}, {100, 1}, {255, 2}},
     {{0, 7}, {25, 7}, {50, 100}, {75, 255}, {100, 255}}},
    {"bimodal 990x50us 10x10ms",
     {{50000, 990}, {10000000, 10}},
     {{50, 50000}, {90, 50000}, {99, 50000}, {99.9, 10000000}, {100, 10000000}}},
    {"three levels",
     {{1000, 500}, {2000000, 400}, {100000000000ull, 100}}, /* 1 us, 2 ms, 100 s */
     {{50, 1000}, {50.1, 2000000}, {90, 2000000}, {90.1, 100000000000ull}, {100, 100000000000ull}}},
    {"saturates above 2^40 ns",
     {{1000, 1}, {5000000000000ull, 1}}, /* 5000 s */
     {{0, 1000}, {50, 1000}, {100, 5000000000000ull}}},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct table_case *tc = &cases[i];
        struct histogram *h = new_hist();
        for (size_t r = 0; r < 4 && tc->runs[r].times; r++)
            for (uint64_t k = 0; k < tc->runs[r].times; k++)
                histogram_record(h, tc->runs[r].value);
        for (size_t w = 0; w < 8 && tc->wants[w].value; w++)
            check_near(tc->name, tc->wants[w].pct, histogram_percentile(h, tc->wants[w].pct),
                       tc->wants[w].value);
        free(h);
    }
}

/* 1 .. 100000 us, once each: p = value (rank ceil(p% * 100000) is p * 1000 us) */
static void test_uniform(void **state)
{
    (void)state;
    struct histogram *h = new_hist();
    for (uint64_t v = 1; v <= 100000; v++)
        histogram_record(h, v * 1000);
    static const double pcts[] = {1, 10, 50, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        uint64_t want = (uint64_t)(pcts[i] * 1000.0 + 0.5) * 1000;
        check_near("uniform", pcts[i], histogram_percentile(h, pcts[i]), want);
    }
    check_exact("uniform", "min", histogram_percentile(h, 0), 1000);
    check_exact("uniform", "max", histogram_percentile(h, 100), 100000000);
    check_exact("uniform", "count", h->count, 100000);
    double mean = histogram_mean(h), want_mean = 50000.5 * 1000;
    if (mean < want_mean * 0.999 || mean > want_mean * 1.001) {
        print_error("uniform: mean: got %.1f, want %.1f\n", mean, want_mean);
        fail();
    }
    free(h);
}

/* every magnitude 1 us .. 100 s: two values v and 10v, p50 is v */
static void test_every_magnitude(void **state)
{
    (void)state;
    char name[64];
    for (double x = 1000; x <= 1e11; x *= 1.0137) {
        uint64_t v = (uint64_t)x;
        struct histogram *h = new_hist();
        histogram_record(h, v);
        histogram_record(h, v * 10);
        snprintf(name, sizeof name, "magnitude %llu", (unsigned long long)v);
        check_near(name, 50, histogram_percentile(h, 50), v);
        free(h);
    }
}

static uint64_t rng_state = 42;
static uint64_t rng_next(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return rng_state >> 11;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* 200,000 log-uniform values 1 us .. 10 s in two halves merged: against the sorted array */
static void test_random_merged(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint64_t *vals = malloc(N * sizeof *vals);
    assert_non_null(vals);
    struct histogram *a = new_hist(), *b = new_hist();
    for (size_t i = 0; i < N; i++) {
        double u = (double)rng_next() / (double)(1ull << 53); /* [0, 1) */
        vals[i] = (uint64_t)(1000.0 * pow(10.0, 7.0 * u));
        histogram_record(i % 2 ? a : b, vals[i]);
    }
    histogram_merge(a, b);
    qsort(vals, N, sizeof *vals, cmp_u64);
    static const double pcts[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof pcts / sizeof pcts[0]; i++) {
        size_t rank = (size_t)(pcts[i] / 100.0 * N + 0.999999); /* ceil, as documented */
        check_near("random merged", pcts[i], histogram_percentile(a, pcts[i]), vals[rank - 1]);
    }
    check_exact("random merged", "count", a->count, N);
    check_exact("random merged", "min", histogram_percentile(a, 0), vals[0]);
    check_exact("random merged", "max", histogram_percentile(a, 100), vals[N - 1]);
    free(vals);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_table),
        cmocka_unit_test(test_uniform),       cmocka_unit_test(test_every_magnitude),
        cmocka_unit_test(test_random_merged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
