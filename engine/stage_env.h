/* engine/stage_env.h - per-thread resources that pipeline stages use (ctx->env).
 * Owned by one worker thread; stages touch it only from that thread. */
#ifndef GREYSPF_ENGINE_STAGE_ENV_H
#define GREYSPF_ENGINE_STAGE_ENV_H
#include <stdint.h>

struct dns_resolver;
struct metrics_shard;
struct daemon_metrics;

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
    struct metrics_shard *shard;   /* the thread's metrics shard, or NULL */
    const struct daemon_metrics *dm; /* handles for shard updates, or NULL */
};

#endif
