/* engine/io_thread.c - an I/O thread: accept, read, frame and parse requests, write replies.
 *
 * Level-triggered epoll: a readable connection gets one read() per turn, so an idle pipeline
 * costs no extra EAGAIN read. Each connection has at most one request in flight; further
 * pipelined requests wait in its read buffer and are answered in order. Input beyond
 * 2 x max_request_size while a request is in flight stops reading (EPOLLIN off) until the
 * buffer drains. A malformed or oversize request: one log line, the connection is closed
 * without a reply (Postfix retries), others are unaffected. Idle connections (no request in
 * flight) are closed after idle_timeout, found from the head of a least-recently-active list.
 * Accepting pauses for ACCEPT_BACKOFF_MS at max_connections or when out of descriptors. */
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCEPT_BACKOFF_MS 100
#define ACCEPT_BATCH 64
#define RBUF_MIN 4096
#define WARN_INTERVAL_MS 10000

/* now_ms of the current loop turn: one clock read per turn (STYLE.md) */
static _Thread_local uint64_t turn_ms;

/* rate-limited warnings shared by all I/O threads (relaxed: a log throttle) */
static atomic_uint_fast64_t last_accept_warn_ms;

void wake_fd(int efd)
{
    uint64_t one = 1;
    ssize_t r = write(efd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: the consumer will wake */
}

void io_thread_push_reply(struct io_thread *io, struct job *j)
{
    while (!mpmc_queue_push(io->replies, j))
        sched_yield(); /* cannot happen: ring holds 2 x max_connections */
}

void io_thread_wake(struct io_thread *io)
{
    /* seq_cst: orders the earlier pushes before reading `sleeping` (wake protocol) */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&io->sleeping, memory_order_relaxed) &&
        atomic_exchange_explicit(&io->sleeping, 0, memory_order_acq_rel))
        wake_fd(io->efd);
}

#define SUBMIT_WAKE_EVERY 16 /* within a long batch, wake workers this often */

/* submit - queue a job; wake workers every SUBMIT_WAKE_EVERY jobs, the rest at turn end */
static void submit(struct io_thread *io, struct job *j)
{
    worker_submit(io->srv, j);
    if (++io->submitted >= SUBMIT_WAKE_EVERY) {
        worker_wake(io->srv, io->submitted);
        io->submitted = 0;
    }
}

/* --- connection list (least recently active first) ------------------------------------- */

static void lru_unlink(struct conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->prev = c->next = c;
}

static void lru_append(struct io_thread *io, struct conn *c)
{
    c->prev = io->lru.prev;
    c->next = &io->lru;
    io->lru.prev->next = c;
    io->lru.prev = c;
}

/* conn_touch - mark activity now: move to the list tail */
static void conn_touch(struct io_thread *io, struct conn *c)
{
    c->last_active_ms = turn_ms;
    if (io->lru.prev != c) {
        lru_unlink(c);
        lru_append(io, c);
    }
}

/* conn_set_events - register exactly `events` for c (no syscall when unchanged) */
static void conn_set_events(struct io_thread *io, struct conn *c, uint32_t events)
{
    if (c->events == events || c->fd < 0)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(io->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        log_error("io: epoll_ctl(MOD) for %s: %s", c->peer, strerror(errno));
    c->events = events;
}

/* conn_update_events - the events c's state calls for: write while output is pending, read
 * while the peer may send and the buffer has room */
static void conn_update_events(struct io_thread *io, struct conn *c)
{
    uint32_t ev = c->wlen ? EPOLLOUT : 0;
    if (!c->eof && !c->read_blocked)
        ev |= EPOLLIN | EPOLLRDHUP;
    conn_set_events(io, c, ev);
}

static void conn_free(struct conn *c)
{
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

/* conn_close - close the socket now; free c now, or when its in-flight job returns */
static void conn_close(struct io_thread *io, struct conn *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    lru_unlink(c);
    io->n_conns--;
    /* relaxed: a count; accept re-checks it */
    atomic_fetch_sub_explicit(&io->srv->n_conns, 1, memory_order_relaxed);
    if (c->inflight)
        c->closing = true;
    else
        conn_free(c);
}

/* --- requests --------------------------------------------------------------------------- */

static void job_free(struct job *j)
{
    arena_fini(&j->arena);
    free(j);
}

/* conn_next_request - frame the next buffered request and hand it to the workers.
 * Returns false when the connection was closed. */
static bool conn_next_request(struct io_thread *io, struct conn *c)
{
    if (c->inflight || c->fd < 0)
        return true;
    const struct policy_limits *lim = &io->rt->cfg->limits;
    size_t avail = c->rlen - c->roff;
    ssize_t flen = avail ? policy_frame(c->rbuf + c->roff, avail, &c->scan, lim) : 0;
    if (flen < 0) {
        metrics_counter_add(io->shard,
                            io->srv->dm.protocol_errors[daemon_metrics_proto_error_index(
                                (int)flen)],
                            1);
        log_warn("policy: malformed request from %s: %s; closing the connection without a "
                 "reply",
                 c->peer, policy_strerror((int)flen));
        conn_close(io, c);
        return false;
    }
    if (flen == 0) {
        if (c->eof && c->wlen == 0) {
            if (avail)
                log_debug("policy: %s closed in the middle of a request (%zu bytes dropped)",
                          c->peer, avail);
            conn_close(io, c);
            return false;
        }
        /* draining: close between requests; a partial request is waited for (up to the
         * drain deadline), and so is input already in the socket, since closing with unread
         * input resets the connection and the peer may lose replies it has not read yet */
        int pending = 0;
        if (io->draining && avail == 0 && c->wlen == 0 &&
            !(ioctl(c->fd, FIONREAD, &pending) == 0 && pending > 0)) {
            conn_close(io, c);
            return false;
        }
        if (avail == 0 && c->rcap > RBUF_MIN) { /* drop a buffer grown by a big request */
            free(c->rbuf);
            c->rbuf = NULL;
            c->rcap = c->roff = c->rlen = 0;
        }
        return true;
    }
    struct job *j = xmalloc(sizeof(*j));
    arena_init(&j->arena, j->inline_buf, sizeof(j->inline_buf));
    j->conn = c;
    j->t_start_us = clock_mono_us();
    struct policy_parse_error perr;
    int rc = policy_parse(c->rbuf + c->roff, (size_t)flen, lim, &j->arena, &j->req, &perr);
    c->roff += (size_t)flen;
    c->scan = 0;
    if (c->roff == c->rlen)
        c->roff = c->rlen = 0;
    if (rc < 0) {
        metrics_counter_add(io->shard,
                            io->srv->dm.protocol_errors[daemon_metrics_proto_error_index(rc)], 1);
        log_warn("policy: malformed request from %s: %s (line %u%s%s); closing the connection "
                 "without a reply",
                 c->peer, policy_strerror(rc), perr.line, perr.name[0] ? ", attribute " : "",
                 perr.name);
        job_free(j);
        conn_close(io, c);
        return false;
    }
    c->inflight = j;
    submit(io, j);
    return true;
}

/* conn_flush - write pending reply bytes; false when the connection was closed */
static bool conn_flush(struct io_thread *io, struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_update_events(io, c);
            return true;
        }
        log_debug("io: send to %s: %s", c->peer, n < 0 ? strerror(errno) : "short write");
        conn_close(io, c);
        return false;
    }
    free(c->wbuf);
    c->wbuf = NULL;
    c->woff = c->wlen = 0;
    conn_update_events(io, c);
    return true;
}

/* conn_reply - a job came back from a worker: send its reply, then the next request */
static void conn_reply(struct io_thread *io, struct job *j)
{
    struct conn *c = j->conn;
    c->inflight = NULL;
    if (c->closing) { /* peer went away while the job was in flight */
        job_free(j);
        conn_free(c);
        return;
    }
    if (!j->reply) { /* abandoned by its worker: no reply is owed a half-decided request */
        job_free(j);
        conn_close(io, c);
        return;
    }
    conn_touch(io, c);
    if (c->wlen == 0) {
        ssize_t n = send(c->fd, j->reply, j->reply_len, MSG_NOSIGNAL);
        if (n == (ssize_t)j->reply_len) {
            job_free(j);
            goto next;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            log_debug("io: send to %s: %s", c->peer, strerror(errno));
            job_free(j);
            conn_close(io, c);
            return;
        }
        size_t done = n > 0 ? (size_t)n : 0;
        c->wbuf = xmalloc(j->reply_len - done);
        memcpy(c->wbuf, j->reply + done, j->reply_len - done);
        c->woff = 0;
        c->wlen = j->reply_len - done;
    } else {
        c->wbuf = xrealloc(c->wbuf, c->wlen + j->reply_len);
        memcpy(c->wbuf + c->wlen, j->reply, j->reply_len);
        c->wlen += j->reply_len;
    }
    job_free(j);
    if (!conn_flush(io, c))
        return;
next:
    if (c->read_blocked && c->rlen - c->roff <= 2 * io->rt->cfg->limits.max_request) {
        c->read_blocked = false;
        conn_update_events(io, c);
    }
    conn_next_request(io, c);
}

/* conn_read - one read() into the connection's buffer, then frame what arrived */
static void conn_read(struct io_thread *io, struct conn *c)
{
    size_t hiwat = 2 * io->rt->cfg->limits.max_request;
    if (c->rlen - c->roff >= hiwat) {
        c->read_blocked = true;
        conn_update_events(io, c);
        return;
    }
    if (c->roff > 0 && c->rcap - c->rlen < 1024) { /* compact */
        memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
        c->rlen -= c->roff;
        c->roff = 0;
    }
    if (c->rcap - c->rlen < 1024) {
        size_t ncap = c->rcap ? c->rcap * 2 : RBUF_MIN;
        if (ncap > hiwat + RBUF_MIN)
            ncap = hiwat + RBUF_MIN;
        c->rbuf = xrealloc(c->rbuf, ncap);
        c->rcap = ncap;
    }
    ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n > 0) {
        c->rlen += (size_t)n;
        conn_touch(io, c);
    } else if (n == 0) {
        c->eof = true;
        conn_update_events(io, c);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        return;
    } else {
        log_debug("io: read from %s: %s", c->peer, strerror(errno));
        conn_close(io, c);
        return;
    }
    conn_next_request(io, c);
}

/* --- accepting ---------------------------------------------------------------------------- */

static void listeners_set(struct io_thread *io, bool on)
{
    struct server *s = io->srv;
    if (io->listening == on)
        return;
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct listener *l = &s->listeners[i];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};
        if (epoll_ctl(io->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, l->fd, &ev) < 0)
            log_error("io: epoll_ctl(%s) listener %s: %s", on ? "ADD" : "DEL", l->name,
                      strerror(errno));
    }
    io->listening = on;
}

/* accept_pause - stop accepting for a while; warn at most every WARN_INTERVAL_MS */
static void accept_pause(struct io_thread *io, const char *why)
{
    listeners_set(io, false);
    io->accept_resume_ms = turn_ms + ACCEPT_BACKOFF_MS;
    uint64_t last = atomic_load_explicit(&last_accept_warn_ms, memory_order_relaxed);
    if (turn_ms - last >= WARN_INTERVAL_MS &&
        atomic_compare_exchange_strong_explicit(&last_accept_warn_ms, &last, turn_ms,
                                                memory_order_relaxed, memory_order_relaxed))
        log_warn("io: not accepting connections for %d ms: %s", ACCEPT_BACKOFF_MS, why);
}

static void peer_name(struct conn *c, const struct listener *l, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix:fd%d", c->fd);
    }
    (void)l;
}

static void do_accept(struct io_thread *io, struct listener *l)
{
    struct server *s = io->srv;
    for (int k = 0; k < ACCEPT_BATCH; k++) {
        /* at the limit, leave connections in the kernel backlog rather than accept and
         * close them: smtpd waits there instead of burning a retry */
        if (atomic_load_explicit(&s->n_conns, memory_order_relaxed) >=
            s->boot->max_connections) {
            accept_pause(io, "max_connections reached");
            return;
        }
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                accept_pause(io, strerror(errno));
                return;
            }
            log_error("io: accept on %s: %s", l->name, strerror(errno));
            return;
        }
        /* relaxed: several I/O threads may race past the check above; the loser closes */
        unsigned n = atomic_fetch_add_explicit(&s->n_conns, 1, memory_order_relaxed) + 1;
        if (n > s->boot->max_connections) {
            atomic_fetch_sub_explicit(&s->n_conns, 1, memory_order_relaxed);
            close(fd);
            accept_pause(io, "max_connections reached");
            return;
        }
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        struct conn *c = xcalloc(1, sizeof(*c));
        c->kind = EV_CONN;
        c->fd = fd;
        c->io = io;
        c->events = EPOLLIN | EPOLLRDHUP;
        peer_name(c, l, &ss);
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            log_error("io: epoll_ctl(ADD) for %s: %s", c->peer, strerror(errno));
            close(fd);
            free(c);
            atomic_fetch_sub_explicit(&s->n_conns, 1, memory_order_relaxed);
            continue;
        }
        c->last_active_ms = turn_ms;
        lru_append(io, c);
        io->n_conns++;
        metrics_counter_add(io->shard, s->dm.accepted, 1);
    }
}

/* --- the loop ----------------------------------------------------------------------------- */

static void drain_replies(struct io_thread *io)
{
    struct job *j;
    while ((j = mpmc_queue_pop(io->replies)) != NULL)
        conn_reply(io, j);
}

/* close_idle - close connections idle past idle_timeout (no request in flight) */
static void close_idle(struct io_thread *io)
{
    uint64_t timeout = io->rt->cfg->idle_timeout_ms;
    if (timeout == 0)
        return;
    while (io->lru.next != &io->lru) {
        struct conn *c = io->lru.next;
        if (turn_ms - c->last_active_ms < timeout)
            break;
        if (c->inflight || c->wlen) {
            conn_touch(io, c);
            continue;
        }
        log_debug("io: closing %s: idle for %llu ms", c->peer,
                  (unsigned long long)(turn_ms - c->last_active_ms));
        conn_close(io, c);
    }
}

/* start_drain - stop accepting; close connections with nothing to answer */
static void start_drain(struct io_thread *io)
{
    io->draining = true;
    listeners_set(io, false);
    struct conn *c = io->lru.next;
    while (c != &io->lru) {
        struct conn *next = c->next;
        if (!c->inflight && c->wlen == 0)
            conn_next_request(io, c); /* answers a buffered request, or closes */
        c = next;
    }
}

void *io_thread_main(void *arg)
{
    struct io_thread *io = arg;
    struct server *s = io->srv;
    char name[16];
    snprintf(name, sizeof(name), "greyspf-io%u", io->idx);
    pthread_setname_np(pthread_self(), name);
    io->rt = runtime_acquire(s, &io->rt_gen);
    io->shard = metrics_shard_create(s->dm.reg);
    turn_ms = clock_mono_ms();
    listeners_set(io, true);

    struct epoll_event ev[256];
    for (;;) {
        turn_ms = clock_mono_ms();
        runtime_refresh(s, &io->rt, &io->rt_gen);
        if (!io->draining && atomic_load_explicit(&s->draining, memory_order_acquire))
            start_drain(io);
        if (io->draining && (io->n_conns == 0 || turn_ms >= s->drain_deadline_ms))
            break;
        if (!io->draining && !io->listening && turn_ms >= io->accept_resume_ms &&
            atomic_load_explicit(&s->n_conns, memory_order_relaxed) < s->boot->max_connections)
            listeners_set(io, true);
        close_idle(io);

        /* announce sleep, then re-check the reply ring (wake protocol, server_int.h) */
        atomic_store_explicit(&io->sleeping, 1, memory_order_relaxed);
        /* seq_cst: orders the sleeping store before the ring re-check */
        atomic_thread_fence(memory_order_seq_cst);
        int timeout = 1000;
        if (mpmc_queue_size_approx(io->replies) > 0)
            timeout = 0;
        else if (!io->listening && !io->draining)
            timeout = ACCEPT_BACKOFF_MS;
        else if (io->draining)
            timeout = 100;
        int n = epoll_wait(io->epfd, ev, 256, timeout);
        atomic_store_explicit(&io->sleeping, 0, memory_order_relaxed);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            PANIC("io: epoll_wait: %s", strerror(errno));
        }
        turn_ms = clock_mono_ms();
        for (int i = 0; i < n; i++) {
            enum ev_kind *kind = ev[i].data.ptr;
            if (*kind == EV_WAKE) {
                uint64_t v;
                ssize_t r = read(io->efd, &v, sizeof(v));
                (void)r;
            } else if (*kind == EV_LISTENER) {
                if (!io->draining)
                    do_accept(io, (struct listener *)kind);
            } else {
                struct conn *c = (struct conn *)kind;
                if (c->fd < 0)
                    continue;
                if (ev[i].events & EPOLLOUT) {
                    if (!conn_flush(io, c))
                        continue;
                    /* output done: the next request, or the close owed to eof/drain */
                    if (c->wlen == 0 && !conn_next_request(io, c))
                        continue;
                }
                if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                    if (c->fd >= 0 && !c->eof)
                        conn_read(io, c);
                    else if (c->fd >= 0 && (ev[i].events & (EPOLLHUP | EPOLLERR)))
                        conn_close(io, c);
                }
            }
        }
        drain_replies(io);
        if (io->submitted) {
            worker_wake(s, io->submitted);
            io->submitted = 0;
        }
    }

    /* drain deadline or done: close what is left (in-flight jobs are freed as they return) */
    while (io->lru.next != &io->lru)
        conn_close(io, io->lru.next);
    listeners_set(io, false);
    metrics_shard_release(io->shard);
    io->shard = NULL;
    return NULL;
}

void io_thread_reap(struct io_thread *io)
{
    struct job *j;
    while ((j = mpmc_queue_pop(io->replies)) != NULL) {
        struct conn *c = j->conn;
        job_free(j);
        if (c->closing)
            conn_free(c);
    }
    if (io->rt)
        runtime_release(io->rt);
    io->rt = NULL;
}
