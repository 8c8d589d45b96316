/* engine/stage_env.h - per-thread resources that pipeline stages use (ctx->env).
 * Owned by one worker thread; stages touch it only from that thread. */
#ifndef GREYSPF_ENGINE_STAGE_ENV_H
#define GREYSPF_ENGINE_STAGE_ENV_H
#include <stdint.h>

struct dns_resolver;
struct metrics_shard;
struct daemon_metrics;
struct kv_batch;

/* struct stage_waiter - a request waiting for the thread's kv_batch commit (in its arena) */
struct stage_waiter {
    void (*resume)(void *arg); /* the request's ctx->resume and resume_arg */
    void *arg;
    struct stage_waiter *next;
};

struct stage_env {
    int epfd;                      /* the thread's epoll: stages add their descriptors
                                    * with data.ptr = the env (any non-wake pointer) */
    /* tick - expire the thread's asynchronous work whose deadline passed (may resume
     * requests); next_timeout_ms - ms until the next deadline, -1 if none. Set by the stages
     * that keep deadlines; NULL otherwise. */
    void (*tick)(struct stage_env *env, uint64_t now_ms);
    int64_t (*next_timeout_ms)(struct stage_env *env, uint64_t now_ms);
    void *stage_data;              /* owned by the stage that set tick */
    void (*fini)(struct stage_env *env); /* frees stage_data at thread exit; NULL: none */
    /* Group commit of the store (kv.h "batched updates"): a stage that writes in kv_batch
     * (made by the first stage that needs it) returns STAGE_PENDING with a waiter on
     * commit_waiters; at the end of each loop turn, before replies go out, the worker
     * commits the batch and resumes every waiter (stage_env_commit). */
    struct kv_batch *kv_batch;
    struct stage_waiter *commit_waiters;
    struct metrics_shard *shard;   /* the thread's metrics shard, or NULL */
    const struct daemon_metrics *dm; /* handles for shard updates, or NULL */
};

#endif
