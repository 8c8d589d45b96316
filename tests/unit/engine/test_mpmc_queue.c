/* tests/unit/engine/test_mpmc_queue.c - the MPMC ring: capacity, FIFO, and a stress run with
 * several producers and consumers (run under TSan in the sanitizer build) that checks every
 * item is delivered exactly once and each producer's items arrive in order per consumer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mpmc_queue.h"

static void test_capacity_rounding(void **state)
{
    (void)state;
    size_t cases[][2] = {{0, 2}, {1, 2}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mpmc_queue *q = mpmc_queue_create(cases[i][0]);
        size_t got = mpmc_queue_capacity(q);
        if (got != cases[i][1])
            fail_msg("capacity(%zu): got %zu, want %zu", cases[i][0], got, cases[i][1]);
        mpmc_queue_destroy(q);
    }
}

static void test_fifo_full_empty(void **state)
{
    (void)state;
    struct mpmc_queue *q = mpmc_queue_create(8);
    assert_null(mpmc_queue_pop(q));
    for (uintptr_t lap = 0; lap < 3; lap++) { /* wrap around several times */
        for (uintptr_t i = 1; i <= 8; i++)
            assert_true(mpmc_queue_push(q, (void *)(lap * 100 + i)));
        assert_false(mpmc_queue_push(q, (void *)999)); /* full at exactly capacity */
        assert_int_equal(mpmc_queue_size_approx(q), 8);
        for (uintptr_t i = 1; i <= 8; i++) {
            uintptr_t got = (uintptr_t)mpmc_queue_pop(q);
            if (got != lap * 100 + i)
                fail_msg("lap %lu pop %lu: got %lu, want %lu", (unsigned long)lap,
                         (unsigned long)i, (unsigned long)got, (unsigned long)(lap * 100 + i));
        }
        assert_null(mpmc_queue_pop(q));
    }
    mpmc_queue_destroy(q);
}

#define PRODUCERS 4
#define CONSUMERS 4
#define PER_PRODUCER 200000u

struct stress {
    struct mpmc_queue *q;
    atomic_uint producers_done;
    atomic_uint_least64_t consumed;
    unsigned char *seen; /* PRODUCERS * PER_PRODUCER flags */
    atomic_uint bad_order;
};

struct producer_arg {
    struct stress *st;
    unsigned id;
};

/* item encoding: producer id in the top bits, sequence (1-based) below */
static void *producer(void *arg)
{
    struct producer_arg *pa = arg;
    for (uintptr_t seq = 1; seq <= PER_PRODUCER; seq++) {
        void *item = (void *)(((uintptr_t)pa->id << 32) | seq);
        while (!mpmc_queue_push(pa->st->q, item))
            ;
    }
    atomic_fetch_add(&pa->st->producers_done, 1);
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *st = arg;
    uintptr_t last[PRODUCERS] = {0};
    for (;;) {
        void *p = mpmc_queue_pop(st->q);
        if (!p) {
            if (atomic_load(&st->producers_done) == PRODUCERS && !(p = mpmc_queue_pop(st->q)))
                break;
            if (!p)
                continue;
        }
        uintptr_t v = (uintptr_t)p;
        unsigned id = (unsigned)(v >> 32);
        uintptr_t seq = v & 0xffffffffu;
        if (id >= PRODUCERS || seq == 0 || seq > PER_PRODUCER) {
            atomic_fetch_add(&st->bad_order, 1);
            continue;
        }
        /* one consumer sees any one producer's items in increasing order */
        if (seq <= last[id])
            atomic_fetch_add(&st->bad_order, 1);
        last[id] = seq;
        st->seen[id * PER_PRODUCER + (seq - 1)]++; /* each index written by one consumer */
        atomic_fetch_add(&st->consumed, 1);
    }
    return NULL;
}

static void test_stress_mpmc(void **state)
{
    (void)state;
    struct stress st = {.q = mpmc_queue_create(64)}; /* small ring: lots of full/empty */
    st.seen = calloc(PRODUCERS * (size_t)PER_PRODUCER, 1);
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    struct producer_arg pa[PRODUCERS];
    for (unsigned i = 0; i < CONSUMERS; i++)
        pthread_create(&ct[i], NULL, consumer, &st);
    for (unsigned i = 0; i < PRODUCERS; i++) {
        pa[i] = (struct producer_arg){&st, i};
        pthread_create(&pt[i], NULL, producer, &pa[i]);
    }
    for (unsigned i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (unsigned i = 0; i < CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    uint64_t consumed = atomic_load(&st.consumed);
    if (consumed != (uint64_t)PRODUCERS * PER_PRODUCER)
        fail_msg("consumed: got %llu, want %llu", (unsigned long long)consumed,
                 (unsigned long long)PRODUCERS * PER_PRODUCER);
    for (size_t i = 0; i < PRODUCERS * (size_t)PER_PRODUCER; i++)
        if (st.seen[i] != 1)
            fail_msg("item %zu delivered %u times, want 1", i, st.seen[i]);
    assert_int_equal(atomic_load(&st.bad_order), 0);
    assert_null(mpmc_queue_pop(st.q));
    free(st.seen);
    mpmc_queue_destroy(st.q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounding),
        cmocka_unit_test(test_fifo_full_empty),
        cmocka_unit_test(test_stress_mpmc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
