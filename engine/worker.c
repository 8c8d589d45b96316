/* engine/worker.c - the worker pool: run the decision pipeline on parsed requests.
 * Each worker has its own epoll (today: its wake eventfd; with SPF: its resolver's fd) and
 * sleeps only after announcing itself idle (wake protocol in server_int.h). */
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/server_int.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

void worker_submit(struct server *s, struct job *j)
{
    while (!mpmc_queue_push(s->requests, j))
        sched_yield(); /* cannot happen: ring holds 2 x max_connections (see server.h) */
    /* seq_cst: orders the push before the idle-flag reads (wake protocol) */
    atomic_thread_fence(memory_order_seq_cst);
    unsigned n = s->n_workers;
    unsigned start = atomic_fetch_add_explicit(&s->wake_rr, 1, memory_order_relaxed);
    for (unsigned k = 0; k < n; k++) {
        struct worker *w = &s->workers[(start + k) % n];
        /* relaxed pre-check avoids an RMW on busy workers' cache lines */
        if (atomic_load_explicit(&w->idle, memory_order_relaxed) &&
            atomic_exchange_explicit(&w->idle, 0, memory_order_acq_rel)) {
            wake_fd(w->efd);
            return;
        }
    }
}

/* log_decision - the one info line per decision */
static void log_decision(const struct job *j, const struct decision *d, const char *action,
                         uint64_t latency_us)
{
    const struct policy_request *r = &j->req;
    char client[64], helo[128], sender[256], rcpt[256], qid[64], act[256];
    log_write(LOG_LVL_INFO,
              "decision: client=%s helo=%s sender=<%s> recipient=<%s> queue_id=%s state=%s "
              "action=\"%s\" stage=%s%s%s latency_us=%llu",
              log_sanitize(client, sizeof(client), r->client_address.p, r->client_address.len),
              log_sanitize(helo, sizeof(helo), r->helo_name.p, r->helo_name.len),
              log_sanitize(sender, sizeof(sender), r->sender.p, r->sender.len),
              log_sanitize(rcpt, sizeof(rcpt), r->recipient.p, r->recipient.len),
              r->queue_id.len ? log_sanitize(qid, sizeof(qid), r->queue_id.p, r->queue_id.len)
                              : "-",
              policy_state_name(r->state), log_sanitize(act, sizeof(act), action, strlen(action)),
              d->stage, d->reason ? " reason=" : "", d->reason ? d->reason : "",
              (unsigned long long)latency_us);
}

/* worker_process - decide one job and hand it back to its I/O thread */
static void worker_process(struct worker *w, struct job *j)
{
    runtime_refresh(w->srv, &w->rt, &w->rt_gen);
    struct ip_addr ip;
    const struct policy_request *r = &j->req;
    struct stage_ctx ctx = {
        .arena = &j->arena,
        .now_us = clock_mono_us(),
        .now_s = clock_wall_s(),
        .client_ip = ip_parse(r->client_address.p, r->client_address.len, &ip) ? &ip : NULL,
    };
    struct decision d;
    pipeline_run(w->rt->pl, &ctx, r, &d);
    const char *action = decision_reply_action(&d, &j->arena);
    size_t alen = strlen(action);
    char *reply = arena_alloc(&j->arena, alen + 9);
    memcpy(reply, "action=", 7);
    memcpy(reply + 7, action, alen);
    reply[7 + alen] = '\n';
    reply[8 + alen] = '\n';
    j->reply = reply;
    j->reply_len = alen + 9;
    if (w->rt->cfg->log_decisions && LOG_ENABLED(LOG_LVL_INFO))
        log_decision(j, &d, action, clock_mono_us() - j->t_start_us);
    io_thread_push_reply(j->conn->io, j);
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct server *s = w->srv;
    char name[16];
    snprintf(name, sizeof(name), "greyspf-w%u", w->idx);
    pthread_setname_np(pthread_self(), name);
    w->rt = runtime_acquire(s, &w->rt_gen);

    for (;;) {
        struct job *j = mpmc_queue_pop(s->requests);
        if (j) {
            worker_process(w, j);
            continue;
        }
        if (atomic_load_explicit(&s->stopping, memory_order_acquire))
            break;
        /* announce idleness, then re-check the ring (wake protocol, server_int.h) */
        atomic_store_explicit(&w->idle, 1, memory_order_relaxed);
        /* seq_cst: orders the idle store before the ring re-check */
        atomic_thread_fence(memory_order_seq_cst);
        j = mpmc_queue_pop(s->requests);
        if (j) {
            atomic_store_explicit(&w->idle, 0, memory_order_relaxed);
            worker_process(w, j);
            continue;
        }
        struct epoll_event ev[8];
        int n = epoll_wait(w->epfd, ev, 8, -1);
        if (n < 0 && errno != EINTR)
            PANIC("worker: epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &w->efd) {
                uint64_t v;
                ssize_t r = read(w->efd, &v, sizeof(v));
                (void)r; /* EAGAIN only: another wake-up already drained it */
            }
        }
        /* woken by a producer (it cleared idle) or by something else: not idle any more */
        atomic_store_explicit(&w->idle, 0, memory_order_relaxed);
    }
    runtime_release(w->rt);
    w->rt = NULL;
    return NULL;
}
