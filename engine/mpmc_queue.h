/* engine/mpmc_queue.h - bounded lock-free multi-producer multi-consumer ring of pointers
 * (Dmitry Vyukov's sequence-number design). Carries requests from I/O threads to workers
 * and replies from workers to an I/O thread. Never blocks; waking a sleeping consumer is
 * the caller's business (see wake.h). Thread-safe for any number of producers/consumers. */
#ifndef GREYSPF_ENGINE_MPMC_QUEUE_H
#define GREYSPF_ENGINE_MPMC_QUEUE_H
#include <stdbool.h>
#include <stddef.h>

struct mpmc_queue;

/* mpmc_queue_create - capacity is rounded up to a power of two (>= 2). Caller frees with
 * mpmc_queue_destroy once no thread uses the queue. */
struct mpmc_queue *mpmc_queue_create(size_t capacity);
void mpmc_queue_destroy(struct mpmc_queue *q); /* NULL is a no-op */
size_t mpmc_queue_capacity(const struct mpmc_queue *q);

/* mpmc_queue_push - enqueue p (non-NULL); false when full. The item then belongs to the
 * consumer that pops it. */
bool mpmc_queue_push(struct mpmc_queue *q, void *p);
/* mpmc_queue_pop - dequeue the oldest item, or NULL when empty */
void *mpmc_queue_pop(struct mpmc_queue *q);
/* mpmc_queue_size_approx - items queued; exact only when no push/pop runs concurrently */
size_t mpmc_queue_size_approx(struct mpmc_queue *q);

#endif
