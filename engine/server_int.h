/* engine/server_int.h - internals shared by server.c, io_thread.c and worker.c.
 *
 * Ownership and threads:
 *  - struct conn belongs to its I/O thread; only that thread touches it. While a job is in
 *    flight, the conn is not freed (conn->inflight != NULL); a conn closed meanwhile is marked
 *    `closing` and freed when its job comes back.
 *  - struct job is owned by whoever holds it: the I/O thread until pushed on the request ring,
 *    then one worker, then (pushed on the reply ring) the I/O thread again, which frees it.
 *  - struct runtime (config + pipeline) is immutable and reference-counted. srv->rt and
 *    srv->rt_gen change only under srv->rt_mu; threads compare rt_gen (relaxed) once per turn
 *    and take a new reference under rt_mu when it moved.
 * Wake protocol (consumer sleeps only after announcing it; producer checks after pushing):
 *    consumer: flag = 1; fence(seq_cst); if queue non-empty -> flag = 0, work; else sleep.
 *    producer: push; fence(seq_cst); if exchange(flag, 0) == 1 -> write the consumer's eventfd.
 *  The two fences order "flag store / queue check" against "queue push / flag check", so at
 *  least one side sees the other: no lost wake-up, and no eventfd write while it is busy.
 * Lock order: rt_mu is a leaf (nothing else is taken while holding it). */
#ifndef GREYSPF_ENGINE_SERVER_INT_H
#define GREYSPF_ENGINE_SERVER_INT_H
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/arena.h"
#include "engine/config.h"
#include "engine/daemon_metrics.h"
#include "engine/mpmc_queue.h"
#include "engine/pipeline.h"
#include "engine/policy.h"
#include "engine/stage_env.h"

#define JOB_ARENA_INLINE 3072 /* a full Postfix request fits; overflow is malloc'ed */
#define PEER_MAX 64

enum ev_kind { EV_LISTENER = 1, EV_CONN, EV_WAKE };

struct runtime {
    atomic_uint refs;
    struct config *cfg;
    struct pipeline *pl;
};

struct listener {
    enum ev_kind kind; /* EV_LISTENER; first: epoll data points here */
    int fd;
    const struct listen_spec *spec; /* in the boot config; NULL when passed by systemd */
    char *name;                     /* for logs: the listen value, or the socket's address */
    char *unlink_path;              /* unix socket file we created, removed at exit */
};

struct io_thread;

struct conn {
    enum ev_kind kind; /* EV_CONN; first: epoll data points here */
    int fd;
    struct io_thread *io;
    char *rbuf;               /* unconsumed input is rbuf[roff..rlen) */
    size_t roff, rlen, rcap;
    size_t scan;              /* policy_frame resume offset, relative to roff */
    char *wbuf;               /* unsent reply bytes wbuf[woff..wlen) */
    size_t woff, wlen;
    struct job *inflight;     /* the request being decided, or NULL */
    uint32_t events;          /* epoll events currently registered */
    bool eof;                 /* peer closed its side */
    bool closing;             /* fd closed; free when inflight returns */
    bool read_blocked;        /* stopped reading: too much pipelined input */
    uint64_t last_active_ms;
    struct conn_memo memo;    /* stages' per-connection memory; see pipeline.h */
    struct conn *prev, *next; /* the I/O thread's list, least recently active first */
    char peer[PEER_MAX];
};

struct job {
    struct conn *conn;
    uint64_t t_start_us;
    const char *reply;        /* "action=...\n\n" in the arena; NULL if abandoned */
    size_t reply_len;
    struct policy_request req;
    /* set by the worker: */
    struct runtime *rt;       /* the runtime the request started with (a reference) */
    struct worker *worker;
    struct pipeline_state ps;
    struct ip_addr client_ip;
    bool client_ip_ok;
    struct job *park_prev, *park_next; /* the worker's parked list while a stage is pending */
    struct arena arena;
    alignas(max_align_t) char inline_buf[JOB_ARENA_INLINE];
};

struct server;

struct io_thread {
    struct server *srv;
    pthread_t thread;
    unsigned idx;
    int epfd, efd;
    enum ev_kind wake_kind;   /* EV_WAKE: epoll data for efd points here */
    struct mpmc_queue *replies;
    alignas(64) atomic_int sleeping; /* 1 while (about to be) waiting in epoll_wait */
    alignas(64) struct conn lru;     /* sentinel of the conn list */
    unsigned n_conns;
    bool listening;           /* listeners in this epoll */
    uint64_t accept_resume_ms;
    bool draining;
    unsigned submitted;       /* jobs queued since the last worker_wake */
    struct metrics_shard *shard;
    struct runtime *rt;
    unsigned rt_gen;
};

struct worker {
    struct server *srv;
    pthread_t thread;
    unsigned idx;
    int epfd, efd;
    alignas(64) atomic_int idle; /* 1 while (about to be) waiting for requests */
    struct runtime *rt;
    unsigned rt_gen;
    struct stage_env env;        /* resources stages use on this worker */
    struct job parked;           /* sentinel: requests waiting on asynchronous stages */
    unsigned n_parked;
    uint64_t replied_io;         /* bit per I/O thread (idx % 64) pushed to since last wake */
};

struct server {
    struct config *boot;      /* config at start: listeners, thread counts, max_connections */
    struct runtime *boot_rt;  /* the runtime owning `boot`, referenced until destroy */
    struct listener *listeners;
    size_t n_listeners;
    struct io_thread *io;
    unsigned n_io;
    struct worker *workers;
    unsigned n_workers;
    struct mpmc_queue *requests;
    atomic_uint wake_rr;      /* where the next wake-up search starts */
    atomic_uint n_conns;      /* open connections, all I/O threads */
    atomic_bool draining;     /* SIGTERM: stop accepting, finish, close */
    atomic_bool stopping;     /* workers: exit when the request ring is empty */
    uint64_t drain_deadline_ms;
    struct pipeline_res res;  /* shared by every runtime's stages: SPF cache... */
    pthread_t awl_loader;     /* fills res.awl_hint from the store (server.c) */
    bool awl_loader_started;
    atomic_bool awl_loader_stop; /* set at destroy; the loader polls it (relaxed) */
    struct daemon_metrics dm; /* registered in server_create; shards per thread */
    struct metrics_http *http; /* the /metrics endpoint, or NULL */
    struct control *control;  /* the admin socket, or NULL */
    bool activated;           /* listeners came from systemd (socket activation) */
    int64_t started_s;        /* wall clock at start, for `status` */
    atomic_uint parked;       /* requests waiting on asynchronous stages, all workers */
    pthread_mutex_t rt_mu;    /* protects rt (pointer swap and reference taking) */
    struct runtime *rt;
    atomic_uint rt_gen;
};

/* runtime_acquire - take a reference to the current runtime (locks rt_mu briefly) */
struct runtime *runtime_acquire(struct server *s, unsigned *gen);
void runtime_release(struct runtime *rt);
/* runtime_refresh - if the runtime changed since *gen, swap *rt for the new one */
void runtime_refresh(struct server *s, struct runtime **rt, unsigned *gen);

/* wake_fd - add 1 to an eventfd */
void wake_fd(int efd);

void *io_thread_main(void *arg);
/* io_thread_push_reply - called by workers: hand a finished job back to its I/O thread.
 * No wake-up here: the worker calls io_thread_wake for the I/O threads it pushed to once
 * per batch (a wake per reply would ping-pong the threads: measured 13% of the I/O thread
 * in eventfd writes at 512 connections). */
void io_thread_push_reply(struct io_thread *io, struct job *j);
/* io_thread_wake - wake io if it announced sleep (after pushing replies to it) */
void io_thread_wake(struct io_thread *io);

/* io_thread_reap - after the I/O thread and all workers stopped: free jobs still on its
 * reply ring (and their closed connections) and its runtime reference */
void io_thread_reap(struct io_thread *io);

void *worker_main(void *arg);
/* worker_submit - called by I/O threads: queue a parsed job, without waking anyone */
void worker_submit(struct server *s, struct job *j);
/* worker_wake - wake up to n idle workers (after worker_submit; once per I/O batch) */
void worker_wake(struct server *s, unsigned n);

#endif
