/* engine/mpmc_queue.c - Vyukov bounded MPMC ring.
 *
 * Each cell carries a sequence number. For a ring of size N and position pos:
 *   seq == pos        the cell is free for the producer that claims pos;
 *   seq == pos + 1    the cell holds the item for the consumer that claims pos;
 * a producer claims pos by CAS on `head`, writes data, then publishes seq = pos + 1 (release);
 * a consumer claims pos by CAS on `tail`, reads data, then frees the cell for the next lap
 * with seq = pos + N (release). The acquire load of seq orders the plain data access. */
#include "engine/mpmc_queue.h"
#include "engine/base/alloc.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define CACHE_LINE 64

struct mpmc_cell {
    atomic_size_t seq;
    void *data;
};

struct mpmc_queue {
    alignas(CACHE_LINE) atomic_size_t head; /* next position to enqueue */
    alignas(CACHE_LINE) atomic_size_t tail; /* next position to dequeue */
    alignas(CACHE_LINE) struct mpmc_cell *cells;
    size_t mask;
};

struct mpmc_queue *mpmc_queue_create(size_t capacity)
{
    size_t n = 2;
    while (n < capacity)
        n <<= 1;
    struct mpmc_queue *q = aligned_alloc(CACHE_LINE, sizeof(*q));
    if (!q)
        abort();
    q->cells = xcalloc(n, sizeof(*q->cells));
    q->mask = n - 1;
    for (size_t i = 0; i < n; i++)
        atomic_init(&q->cells[i].seq, i);
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    return q;
}

void mpmc_queue_destroy(struct mpmc_queue *q)
{
    if (!q)
        return;
    free(q->cells);
    free(q);
}

size_t mpmc_queue_capacity(const struct mpmc_queue *q)
{
    return q->mask + 1;
}

bool mpmc_queue_push(struct mpmc_queue *q, void *p)
{
    /* relaxed: head is only a hint; the CAS below decides and seq orders the data */
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    struct mpmc_cell *cell;
    for (;;) {
        cell = &q->cells[pos & q->mask];
        /* acquire: pairs with the consumer's release that freed this cell */
        size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            /* relaxed CAS: claiming the slot needs no ordering of its own */
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return false; /* the cell still holds last lap's item: full */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
    cell->data = p;
    /* release: publishes data to the consumer that acquires seq == pos + 1 */
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
    return true;
}

void *mpmc_queue_pop(struct mpmc_queue *q)
{
    /* relaxed: tail is only a hint; the CAS below decides */
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    struct mpmc_cell *cell;
    for (;;) {
        cell = &q->cells[pos & q->mask];
        /* acquire: pairs with the producer's release of seq == pos + 1 */
        size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            return NULL; /* not yet published: empty */
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
    void *p = cell->data;
    /* release: hands the cell to the producer of the next lap after our read of data */
    atomic_store_explicit(&cell->seq, pos + q->mask + 1, memory_order_release);
    return p;
}

size_t mpmc_queue_size_approx(struct mpmc_queue *q)
{
    /* relaxed: a gauge for metrics, not a synchronisation point */
    size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return h > t ? h - t : 0;
}
