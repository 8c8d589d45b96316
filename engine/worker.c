/* engine/worker.c - the worker pool: run the decision pipeline on parsed requests.
 * Each worker has its own epoll (today: its wake eventfd; with SPF: its resolver's fd) and
 * sleeps only after announcing itself idle (wake protocol in server_int.h). */
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/server_int.h"
#include "kv/kv.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

void worker_submit(struct server *s, struct job *j)
{
    while (!mpmc_queue_push(s->requests, j))
        sched_yield(); /* cannot happen: ring holds 2 x max_connections (see server.h) */
}

void worker_wake(struct server *s, unsigned want)
{
    /* seq_cst: orders the pushes before the idle-flag reads (wake protocol) */
    atomic_thread_fence(memory_order_seq_cst);
    unsigned n = s->n_workers;
    unsigned start = atomic_fetch_add_explicit(&s->wake_rr, 1, memory_order_relaxed);
    for (unsigned k = 0; k < n && want > 0; k++) {
        struct worker *w = &s->workers[(start + k) % n];
        /* relaxed pre-check avoids an RMW on busy workers' cache lines */
        if (atomic_load_explicit(&w->idle, memory_order_relaxed) &&
            atomic_exchange_explicit(&w->idle, 0, memory_order_acq_rel)) {
            wake_fd(w->efd);
            want--;
        }
    }
}

/* reply - hand a finished job to its I/O thread; the wake-up comes once per batch */
static void hand_back(struct worker *w, struct job *j)
{
    struct io_thread *io = j->conn->io;
    io_thread_push_reply(io, j);
    w->replied_io |= 1ull << (io->idx % 64);
}

/* wake_io - wake the I/O threads this worker pushed replies to since the last call */
static void wake_io(struct worker *w)
{
    struct server *s = w->srv;
    while (w->replied_io) {
        unsigned b = (unsigned)__builtin_ctzll(w->replied_io);
        w->replied_io &= w->replied_io - 1;
        for (unsigned i = b; i < s->n_io; i += 64)
            io_thread_wake(&s->io[i]);
    }
}

/* turn_end - the end of a loop turn: the group commit of the store (stage_env.h), which
 * resumes the requests waiting for it, then one wake-up per I/O thread for every reply of the
 * turn. No reply that reports a store write leaves before the write is committed, so a
 * kill -9 right after a reply loses nothing it promised. Repeats while resumed requests
 * left writes or waiters of their own (none do today: the greylist stage decides on resume). */
static void turn_end(struct worker *w)
{
    struct stage_env *env = &w->env;
    while (env->kv_batch && (!kv_batch_idle(env->kv_batch) || env->commit_waiters)) {
        kv_batch_commit(env->kv_batch); /* a failure is logged; each waiter reads its status */
        struct stage_waiter *x = env->commit_waiters, *fifo = NULL;
        env->commit_waiters = NULL;
        while (x) { /* the list is newest first: resume in arrival order */
            struct stage_waiter *next = x->next;
            x->next = fifo;
            fifo = x;
            x = next;
        }
        while (fifo) {
            struct stage_waiter *next = fifo->next; /* fifo may be freed by its resume */
            fifo->resume(fifo->arg);
            fifo = next;
        }
    }
    wake_io(w);
}

/* log_decision - the one info line per decision */
static void log_decision(const struct job *j, const struct decision *d, const char *action,
                         uint64_t latency_us)
{
    const struct policy_request *r = &j->req;
    char client[64], helo[128], sender[256], rcpt[256], qid[64], act[256];
    log_write(LOG_LVL_INFO,
              "decision: client=%s helo=%s sender=<%s> recipient=<%s> queue_id=%s state=%s "
              "action=\"%s\" stage=%s%s%s%s%s latency_us=%llu",
              log_sanitize(client, sizeof(client), r->client_address.p, r->client_address.len),
              log_sanitize(helo, sizeof(helo), r->helo_name.p, r->helo_name.len),
              log_sanitize(sender, sizeof(sender), r->sender.p, r->sender.len),
              log_sanitize(rcpt, sizeof(rcpt), r->recipient.p, r->recipient.len),
              r->queue_id.len ? log_sanitize(qid, sizeof(qid), r->queue_id.p, r->queue_id.len)
                              : "-",
              policy_state_name(r->state), log_sanitize(act, sizeof(act), action, strlen(action)),
              d->stage, d->reason ? " reason=" : "", d->reason ? d->reason : "",
              d->notes[0] ? " notes=" : "", d->notes, (unsigned long long)latency_us);
}

/* worker_finish - compose the reply, log, and hand the job back to its I/O thread */
static void worker_finish(struct worker *w, struct job *j)
{
    const struct decision *d = &j->ps.d;
    const char *action = decision_reply_action(d, &j->arena);
    size_t alen = strlen(action);
    char *reply = arena_alloc(&j->arena, alen + 9);
    memcpy(reply, "action=", 7);
    memcpy(reply + 7, action, alen);
    reply[7 + alen] = '\n';
    reply[8 + alen] = '\n';
    j->reply = reply;
    j->reply_len = alen + 9;
    unsigned hdr = decision_prepended(d);
    if (hdr) { /* the header goes out with this reply: remember it for the message */
        struct conn_memo *m = &j->conn->memo;
        const struct policy_str *inst = &j->req.instance;
        if (inst->len == 0 || inst->len >= sizeof(m->instance)) {
            m->instance[0] = '\0'; /* untrackable: offer headers again next time */
            m->headers_sent = 0;
        } else {
            if (strcmp(m->instance, inst->p) != 0) {
                memcpy(m->instance, inst->p, inst->len + 1);
                m->headers_sent = 0;
            }
            m->headers_sent |= hdr;
        }
    }
    uint64_t now_us = clock_mono_us();
    if (j->rt->cfg->log_decisions && LOG_ENABLED(LOG_LVL_INFO))
        log_decision(j, d, action, now_us - j->t_start_us);
    const struct daemon_metrics *dm = &w->srv->dm;
    metrics_counter_add(w->env.shard, dm->requests[j->req.state], 1);
    metrics_counter_add(w->env.shard, dm->actions[daemon_metrics_action_index(action)], 1);
    metrics_histogram_observe(w->env.shard, dm->request_duration,
                              (double)(now_us - j->t_start_us) / 1e6);
    for (unsigned i = 0; i < j->ps.stages_run; i++) {
        int si = daemon_metrics_stage_index(pipeline_stage_name(j->rt->pl, i));
        if (si >= 0)
            metrics_histogram_observe(w->env.shard, dm->stage_duration[si],
                                      (double)j->ps.stage_us[i] / 1e6);
    }
    runtime_release(j->rt);
    j->rt = NULL;
    hand_back(w, j);
}

static void park(struct worker *w, struct job *j)
{
    /* relaxed: a gauge for metrics */
    atomic_fetch_add_explicit(&w->srv->parked, 1, memory_order_relaxed);
    j->park_next = &w->parked;
    j->park_prev = w->parked.park_prev;
    w->parked.park_prev->park_next = j;
    w->parked.park_prev = j;
    w->n_parked++;
}

static void unpark(struct worker *w, struct job *j)
{
    atomic_fetch_sub_explicit(&w->srv->parked, 1, memory_order_relaxed);
    j->park_prev->park_next = j->park_next;
    j->park_next->park_prev = j->park_prev;
    j->park_prev = j->park_next = NULL;
    w->n_parked--;
}

static void job_resume(void *arg);

/* worker_step - run the job's pipeline as far as it goes; finish or park it */
static void worker_step(struct worker *w, struct job *j)
{
    struct stage_ctx ctx = {
        .arena = &j->arena,
        .now_us = clock_mono_us(),
        .now_s = clock_wall_s(),
        .client_ip = j->client_ip_ok ? &j->client_ip : NULL,
        .env = &w->env,
        .conn_memo = &j->conn->memo,
        .resume = job_resume,
        .resume_arg = j,
    };
    if (!pipeline_step(j->rt->pl, &ctx, &j->req, &j->ps)) {
        if (!j->park_next)
            park(w, j);
        return;
    }
    if (j->park_next)
        unpark(w, j);
    worker_finish(w, j);
}

/* job_resume - a pending stage finished its work (called on the worker's thread) */
static void job_resume(void *arg)
{
    struct job *j = arg;
    worker_step(j->worker, j);
}

/* worker_start - a new job from the request ring */
static void worker_start(struct worker *w, struct job *j)
{
    runtime_refresh(w->srv, &w->rt, &w->rt_gen);
    /* the job keeps the runtime it started with, even across a reload while parked */
    atomic_fetch_add_explicit(&w->rt->refs, 1, memory_order_relaxed);
    j->rt = w->rt;
    j->worker = w;
    j->park_prev = j->park_next = NULL;
    pipeline_state_init(&j->ps);
    j->client_ip_ok = ip_parse(j->req.client_address.p, j->req.client_address.len,
                               &j->client_ip);
    worker_step(w, j);
}

/* worker_abandon - shutdown: give up every parked request (no reply; the I/O threads are
 * gone and free the jobs when reaping) */
static void worker_abandon(struct worker *w)
{
    turn_end(w); /* requests waiting for the commit get their answers first */
    while (w->parked.park_next != &w->parked) {
        struct job *j = w->parked.park_next;
        unpark(w, j);
        pipeline_abort(j->rt->pl, &j->ps);
        runtime_release(j->rt);
        j->rt = NULL;
        j->reply = NULL;
        hand_back(w, j);
    }
    turn_end(w);
}

/* worker_timeout - epoll timeout: -1 (sleep until woken), or the next stage deadline */
static int worker_timeout(struct worker *w, uint64_t now_ms)
{
    if (!w->n_parked || !w->env.next_timeout_ms)
        return -1;
    int64_t t = w->env.next_timeout_ms(&w->env, now_ms);
    if (t < 0)
        return -1;
    return t > 1000 ? 1000 : (int)t;
}

#define WORKER_BATCH 64

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct server *s = w->srv;
    char name[16];
    snprintf(name, sizeof(name), "greyspf-w%u", w->idx);
    pthread_setname_np(pthread_self(), name);
    w->rt = runtime_acquire(s, &w->rt_gen);
    w->parked.park_next = w->parked.park_prev = &w->parked;
    w->env.shard = metrics_shard_create(s->dm.reg);
    w->env.dm = &s->dm;

    for (;;) {
        unsigned n = 0;
        struct job *j;
        while (n < WORKER_BATCH && (j = mpmc_queue_pop(s->requests)) != NULL) {
            worker_start(w, j);
            n++;
        }
        if (w->env.tick && w->n_parked)
            w->env.tick(&w->env, clock_mono_ms());
        turn_end(w);
        if (n == WORKER_BATCH)
            continue; /* busy: keep draining, stage deadlines checked each batch */
        if (atomic_load_explicit(&s->stopping, memory_order_acquire)) {
            worker_abandon(w);
            break;
        }
        /* announce idleness, then re-check the ring (wake protocol, server_int.h) */
        atomic_store_explicit(&w->idle, 1, memory_order_relaxed);
        /* seq_cst: orders the idle store before the ring re-check */
        atomic_thread_fence(memory_order_seq_cst);
        j = mpmc_queue_pop(s->requests);
        if (j) {
            atomic_store_explicit(&w->idle, 0, memory_order_relaxed);
            worker_start(w, j);
            turn_end(w);
            continue;
        }
        struct epoll_event ev[8];
        int ne = epoll_wait(w->epfd, ev, 8, worker_timeout(w, clock_mono_ms()));
        if (ne < 0 && errno != EINTR)
            PANIC("worker: epoll_wait: %s", strerror(errno));
        bool stage_io = false;
        for (int i = 0; i < ne; i++) {
            if (ev[i].data.ptr == &w->efd) {
                uint64_t v;
                ssize_t r = read(w->efd, &v, sizeof(v));
                (void)r; /* EAGAIN only: another wake-up already drained it */
            } else {
                stage_io = true; /* a stage's descriptor, e.g. the resolver's */
            }
        }
        /* woken by a producer (it cleared idle) or by something else: not idle any more */
        atomic_store_explicit(&w->idle, 0, memory_order_relaxed);
        /* always serve a readable stage descriptor, parked requests or not: level-triggered
         * epoll would otherwise spin on answers to cancelled lookups */
        if (stage_io && w->env.tick && !w->n_parked)
            w->env.tick(&w->env, clock_mono_ms());
        turn_end(w); /* replies of requests resumed by the stages' descriptors */
    }
    kv_batch_destroy(w->env.kv_batch); /* empty: turn_end committed it */
    w->env.kv_batch = NULL;
    if (w->env.fini)
        w->env.fini(&w->env);
    metrics_shard_release(w->env.shard);
    w->env.shard = NULL;
    runtime_release(w->rt);
    w->rt = NULL;
    return NULL;
}
