/* loadtest/loadgen.c - see loadgen.h.
 *
 * A connection is QUEUED (waiting in the connect FIFO), CONNECTING, IDLE (up, nothing
 * outstanding), BUSY (a request written or being written, reply not complete) or DEAD.
 * Only the partial-write tail and a reply split across reads get buffers, allocated on first
 * need, so 10,000 idle connections cost ~150 bytes each. Timeouts are checked by a sweep
 * every 100 ms (or a tenth of the timeout), so they fire up to that much late. Times are
 * CLOCK_MONOTONIC nanoseconds read per event, so a latency doesn't include the time spent
 * on the other events of the same epoll_wait batch. */
#include "loadtest/loadgen.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define READ_BUF 65536
#define SWEEP_MAX_NS 100000000ull    /* timeout sweep at least every 100 ms */
#define SWEEP_MIN_NS 10000000ull     /* and at most every 10 ms */
#define RETRY_AGAIN_NS 10000000ull   /* unix listen queue full: try again in 10 ms */
#define RETRY_FAILED_NS 100000000ull /* connect failed (with reconnect): again in 100 ms */
#define NEVER UINT64_MAX

/* CLOSED is transient: released, about to be queued again or killed */
enum conn_state { CONN_QUEUED, CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSED, CONN_DEAD };

struct conn {
    int fd;
    uint8_t state;             /* enum conn_state */
    uint8_t retry;             /* resend the current request once reconnected */
    uint8_t retried;           /* the current request was already sent again once */
    uint8_t measured;          /* the current request counts in the stats */
    uint8_t resolved;          /* the first connect attempt finished (either way) */
    uint32_t out_off, out_len; /* unsent tail of the request in out */
    uint32_t in_len, in_cap;   /* partial reply in in */
    char *out, *in;
    uint64_t op_start_ns;      /* connect start or request send: what the timeout measures */
    uint64_t connect_first_ns; /* first attempt of this connect (unix EAGAIN retries) */
    uint64_t not_before_ns;    /* QUEUED: don't try before */
    uint64_t lat_start_ns;     /* latency origin: send time, or due time with a rate */
    uint64_t triplet, instance;
    uint64_t tickets_issued, tickets_used; /* open loop: turns given to / taken by this conn */
    struct workload_stream ws;
};

enum phase { PHASE_CONNECT, PHASE_RUN, PHASE_DONE };

struct lg {
    struct loadgen_thread *t;
    const struct loadgen_config *cfg;
    struct loadgen_stats *st;
    int epfd;
    enum phase phase;
    struct conn *conns;
    uint64_t n;
    uint32_t *fifo; /* connect queue: ring of conn indexes, each queued at most once */
    uint64_t fifo_head, fifo_len;
    uint64_t connecting; /* CONNECTING now */
    uint64_t unresolved; /* conns whose first connect has not finished */
    uint64_t live;       /* conns not DEAD */
    uint64_t busy;       /* conns BUSY */
    uint64_t t_start, t_measure, t_end, connect_deadline, next_sweep, sweep_ns;
    uint64_t last_reply_ns;
    uint64_t sent_measured; /* measured requests sent (closed loop) or issued (open loop) */
    uint64_t next_ticket;   /* open loop */
    double ticket_ns;       /* open loop: ns between turns */
    int quota_done;
    int no_pwait2; /* kernel without epoll_pwait2 */
    int said_connect, said_malformed, said_unexpected, said_closed;
    char rbuf[READ_BUF];
    char wbuf[WORKLOAD_REQUEST_MAX];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void loadgen_stats_init(struct loadgen_stats *s)
{
    memset(s, 0, sizeof *s);
    histogram_init(&s->latency);
}

/* action_add - count n replies with keyword kw */
static void action_add(struct loadgen_stats *s, const char *kw, uint64_t n)
{
    for (size_t i = 0; i < s->n_actions; i++) {
        if (strcmp(s->actions[i].keyword, kw) == 0) {
            s->actions[i].count += n;
            return;
        }
    }
    if (s->n_actions == LOADGEN_ACTIONS_MAX) {
        s->actions_other += n;
        return;
    }
    snprintf(s->actions[s->n_actions].keyword, LOADGEN_KEYWORD_MAX, "%s", kw);
    s->actions[s->n_actions++].count = n;
}

void loadgen_stats_merge(struct loadgen_stats *dst, const struct loadgen_stats *src)
{
    dst->requests += src->requests;
    dst->err_connect += src->err_connect;
    dst->err_closed += src->err_closed;
    dst->err_timeout += src->err_timeout;
    dst->err_malformed += src->err_malformed;
    dst->unexpected += src->unexpected;
    dst->reconnects += src->reconnects;
    dst->retries += src->retries;
    dst->established += src->established;
    dst->open_at_end += src->open_at_end;
    if (src->elapsed_ns > dst->elapsed_ns)
        dst->elapsed_ns = src->elapsed_ns;
    for (size_t i = 0; i < src->n_actions; i++)
        action_add(dst, src->actions[i].keyword, src->actions[i].count);
    dst->actions_other += src->actions_other;
    histogram_merge(&dst->latency, &src->latency);
}

/* fifo_push - queue c for connecting, not before not_before */
static void fifo_push(struct lg *g, struct conn *c, uint64_t not_before)
{
    c->state = CONN_QUEUED;
    c->not_before_ns = not_before;
    g->fifo[(g->fifo_head + g->fifo_len) % g->n] = (uint32_t)(c - g->conns);
    g->fifo_len++;
}

/* conn_release - close the socket, free the buffers, fix the counters: c is CLOSED */
static void conn_release(struct lg *g, struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set: the fd is never dup'ed */
        c->fd = -1;
    }
    if (c->state == CONN_CONNECTING)
        g->connecting--;
    if (c->state == CONN_BUSY)
        g->busy--;
    free(c->out);
    free(c->in);
    c->out = c->in = NULL;
    c->out_off = c->out_len = c->in_len = c->in_cap = 0;
    c->state = CONN_CLOSED;
}

/* conn_kill - give c up for good */
static void conn_kill(struct lg *g, struct conn *c)
{
    conn_release(g, c);
    c->state = CONN_DEAD;
    c->retry = 0;
    g->live--;
}

/* conn_requeue - close c and connect again after delay_ns, if reconnecting; else kill */
static void conn_requeue(struct lg *g, struct conn *c, uint64_t now, uint64_t delay_ns)
{
    if (!g->cfg->reconnect || g->phase == PHASE_DONE) {
        conn_kill(g, c);
        return;
    }
    conn_release(g, c);
    c->connect_first_ns = 0;
    fifo_push(g, c, now + delay_ns);
}

/* connect_failed - count a failed connect and retry or give up */
static void connect_failed(struct lg *g, struct conn *c, uint64_t now, int err)
{
    g->st->err_connect++;
    if (!g->said_connect) {
        g->said_connect = 1;
        log_warn("loadtest: connect %s: %s", g->cfg->ep->text, strerror(err));
    }
    if (!c->resolved) {
        c->resolved = 1;
        g->unresolved--;
    }
    c->retry = 0; /* a request waiting for this connection is lost */
    conn_requeue(g, c, now, RETRY_FAILED_NS);
}

static void try_send(struct lg *g, struct conn *c, uint64_t now);
static void write_request(struct lg *g, struct conn *c, uint64_t now);

/* conn_up - c is connected: watch it and start sending */
static void conn_up(struct lg *g, struct conn *c, uint64_t now, int registered)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(g->epfd, registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
        PANIC("loadtest: epoll_ctl: %s", strerror(errno));
    if (c->state == CONN_CONNECTING)
        g->connecting--;
    c->state = CONN_IDLE;
    if (!c->resolved) {
        c->resolved = 1;
        g->unresolved--;
    }
    if (c->retry) {
        c->retry = 0;
        c->state = CONN_BUSY;
        g->busy++;
        write_request(g, c, now);
        return;
    }
    try_send(g, c, now);
}

/* connect_start - begin connecting c */
static void connect_start(struct lg *g, struct conn *c, uint64_t now)
{
    if (!c->connect_first_ns)
        c->connect_first_ns = now;
    int in_progress = 0;
    int fd = endpoint_connect_start(g->cfg->ep, &in_progress);
    if (fd == -EAGAIN) { /* unix socket with a full listen queue: not a failure yet */
        if (g->cfg->timeout_ns && now - c->connect_first_ns >= g->cfg->timeout_ns) {
            connect_failed(g, c, now, ETIMEDOUT);
            return;
        }
        fifo_push(g, c, now + RETRY_AGAIN_NS);
        return;
    }
    if (fd < 0) {
        connect_failed(g, c, now, -fd);
        return;
    }
    c->fd = fd;
    c->op_start_ns = now;
    if (!in_progress) {
        conn_up(g, c, now, 0);
        return;
    }
    c->state = CONN_CONNECTING;
    g->connecting++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        PANIC("loadtest: epoll_ctl: %s", strerror(errno));
}

/* start_connects - dequeue connects while under the in-flight bound */
static void start_connects(struct lg *g, uint64_t now)
{
    while (g->fifo_len > 0 && g->connecting < g->cfg->connect_burst) {
        struct conn *c = &g->conns[g->fifo[g->fifo_head]];
        if (c->state == CONN_QUEUED && c->not_before_ns > now)
            break;
        g->fifo_head = (g->fifo_head + 1) % g->n;
        g->fifo_len--;
        if (c->state == CONN_QUEUED) /* given up on while queued: skip */
            connect_start(g, c, now);
    }
}

/* conn_closed - the peer closed c (or reset it); decide what that means */
static void conn_closed(struct lg *g, struct conn *c, uint64_t now)
{
    if (c->state == CONN_BUSY && c->in_len == 0 && g->cfg->reconnect && !c->retried &&
        g->phase == PHASE_RUN) {
        /* Postfix retries a request whose connection went away: so do we, once */
        g->st->retries++;
        g->st->reconnects++;
        c->retried = 1;
        conn_release(g, c);
        c->retry = 1;
        c->connect_first_ns = 0;
        fifo_push(g, c, now);
        return;
    }
    if (c->state == CONN_BUSY || !g->cfg->reconnect) {
        g->st->err_closed++;
        if (!g->said_closed) {
            g->said_closed = 1;
            log_warn("loadtest: %s closed a connection%s", g->cfg->ep->text,
                     c->state == CONN_BUSY ? " with a request unanswered" : "");
        }
    }
    if (g->cfg->reconnect && g->phase == PHASE_RUN)
        g->st->reconnects++;
    conn_requeue(g, c, now, 0);
}

/* malformed - count a protocol violation and drop the connection */
static void malformed(struct lg *g, struct conn *c, uint64_t now, const char *why, const char *data,
                      size_t len)
{
    g->st->err_malformed++;
    if (!g->said_malformed) {
        char clean[256];
        g->said_malformed = 1;
        log_warn("loadtest: malformed reply: %s: \"%s\"", why,
                 log_sanitize(clean, sizeof clean, data, len));
    }
    conn_requeue(g, c, now, 0);
}

/* ticket_due - open loop: when turn m of connection i (index in this thread) is due */
static uint64_t ticket_due(const struct lg *g, uint64_t i, uint64_t m)
{
    return g->t_start + (uint64_t)((double)(i + m * g->n) * g->ticket_ns);
}

/* send_new - draw the next triplet and send it; the latency counts from lat_start */
static void send_new(struct lg *g, struct conn *c, uint64_t now, uint64_t lat_start)
{
    c->triplet = workload_next(g->cfg->wl, &c->ws);
    c->instance = c->ws.seq;
    c->lat_start_ns = lat_start;
    c->measured = lat_start >= g->t_measure;
    c->retried = 0;
    if (c->measured && g->t->rate == 0) {
        g->sent_measured++;
        if (g->sent_measured >= g->t->quota)
            g->quota_done = 1;
    }
    c->state = CONN_BUSY;
    g->busy++;
    write_request(g, c, now);
}

/* try_send - c is IDLE: send if the phase, the deadline, the quota or the schedule allow */
static void try_send(struct lg *g, struct conn *c, uint64_t now)
{
    if (g->phase != PHASE_RUN || g->cfg->idle || now >= g->t_end)
        return;
    if (g->t->rate > 0) {
        if (c->tickets_used < c->tickets_issued) {
            uint64_t i = (uint64_t)(c - g->conns);
            send_new(g, c, now, ticket_due(g, i, c->tickets_used++));
        }
        return;
    }
    if (g->quota_done)
        return;
    send_new(g, c, now, now);
}

/* write_request - (re)send c's current request from the start */
static void write_request(struct lg *g, struct conn *c, uint64_t now)
{
    size_t len = workload_format(g->cfg->wl, c->triplet, c->instance, g->wbuf);
    c->op_start_ns = now;
    ssize_t w = send(c->fd, g->wbuf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_closed(g, c, now);
        return;
    }
    if (w == (ssize_t)len)
        return;
    size_t done = w > 0 ? (size_t)w : 0;
    c->out = xmalloc(len - done);
    memcpy(c->out, g->wbuf + done, len - done);
    c->out_off = 0;
    c->out_len = (uint32_t)(len - done);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT, .data.ptr = c};
    epoll_ctl(g->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* flush_out - write more of a partially written request */
static void flush_out(struct lg *g, struct conn *c, uint64_t now)
{
    while (c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_closed(g, c, now);
            return;
        }
        c->out_off += (uint32_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(g->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* reply_end - length of the reply at the start of buf (up to and including the empty line
 * that ends it), or 0 if it isn't complete */
static size_t reply_end(const char *buf, size_t len)
{
    if (len > 0 && buf[0] == '\n')
        return 1;
    const char *p = memmem(buf, len, "\n\n", 2);
    return p ? (size_t)(p - buf) + 2 : 0;
}

/* handle_reply - a complete reply buf[0..len) for c's request */
static void handle_reply(struct lg *g, struct conn *c, uint64_t now, const char *buf, size_t len)
{
    const char *action = NULL;
    size_t action_len = 0;
    for (size_t i = 0; i + 1 < len;) { /* lines up to the terminating empty one */
        const char *line = buf + i, *nl = memchr(line, '\n', len - i);
        size_t ll = (size_t)(nl - line);
        const char *eq = memchr(line, '=', ll);
        if (!eq || eq == line) {
            malformed(g, c, now, "attribute line without name=value", line, ll);
            return;
        }
        if (!action && eq - line == 6 && memcmp(line, "action", 6) == 0) {
            action = eq + 1;
            action_len = ll - 7;
        }
        i += ll + 1;
    }
    if (!action || action_len == 0) {
        malformed(g, c, now, "no action", buf, len);
        return;
    }
    char kw[LOADGEN_KEYWORD_MAX];
    size_t k = 0;
    while (k < action_len && k + 1 < sizeof kw && action[k] != ' ' && action[k] != '\t') {
        char ch = action[k];
        kw[k++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
    }
    kw[k] = 0;
    if (g->cfg->expect) {
        char val[8193];
        size_t vl = action_len < sizeof val - 1 ? action_len : sizeof val - 1;
        memcpy(val, action, vl);
        val[vl] = 0;
        if (regexec(g->cfg->expect, val, 0, NULL, 0) != 0) {
            g->st->unexpected++;
            if (!g->said_unexpected) {
                char clean[256];
                g->said_unexpected = 1;
                log_warn("loadtest: unexpected action: \"%s\"",
                         log_sanitize(clean, sizeof clean, action, action_len));
            }
        }
    }
    if (c->measured) {
        g->st->requests++;
        action_add(g->st, kw, 1);
        histogram_record(&g->st->latency, now - c->lat_start_ns);
        g->last_reply_ns = now;
    }
    c->in_len = 0;
    c->state = CONN_IDLE;
    g->busy--;
    try_send(g, c, now);
}

/* conn_read - data or EOF on an established connection */
static void conn_read(struct lg *g, struct conn *c, uint64_t now)
{
    ssize_t n = recv(c->fd, g->rbuf, sizeof g->rbuf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_closed(g, c, now);
        return;
    }
    size_t len = (size_t)n;
    if (c->state != CONN_BUSY) {
        malformed(g, c, now, "data without a request", g->rbuf, len);
        return;
    }
    const char *buf = g->rbuf;
    size_t end = c->in_len == 0 ? reply_end(buf, len) : 0;
    if (end == 0) { /* split reply: keep what we have */
        if ((size_t)c->in_len + len > LOADGEN_REPLY_MAX) {
            malformed(g, c, now, "reply too long", c->in ? c->in : buf, c->in ? c->in_len : len);
            return;
        }
        if (c->in_len + len > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap : 512;
            while (cap < c->in_len + len)
                cap *= 2;
            c->in = xrealloc(c->in, cap);
            c->in_cap = (uint32_t)cap;
        }
        memcpy(c->in + c->in_len, buf, len);
        c->in_len += (uint32_t)len;
        buf = c->in;
        len = c->in_len;
        end = reply_end(buf, len);
        if (end == 0)
            return;
    }
    if (end < len) {
        malformed(g, c, now, "bytes after the reply", buf + end, len - end);
        return;
    }
    if (c->out) {
        malformed(g, c, now, "reply before the request was complete", buf, len);
        return;
    }
    handle_reply(g, c, now, buf, len);
}

/* conn_event - dispatch readiness on c */
static void conn_event(struct lg *g, struct conn *c, uint32_t events, uint64_t now)
{
    if (c->state == CONN_CONNECTING) {
        int rc = endpoint_connect_result(c->fd);
        if (rc == 0) {
            conn_up(g, c, now, 1);
            return;
        }
        connect_failed(g, c, now, -rc);
        return;
    }
    if (c->state != CONN_IDLE && c->state != CONN_BUSY)
        return; /* closed earlier in this batch */
    if ((events & EPOLLOUT) && c->out) {
        flush_out(g, c, now);
        if (c->state != CONN_BUSY)
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read(g, c, now);
}

/* issue_tickets - open loop: hand out every turn due by now */
static void issue_tickets(struct lg *g, uint64_t now)
{
    while (!g->quota_done && now < g->t_end) {
        uint64_t i = g->next_ticket % g->n, m = g->next_ticket / g->n;
        uint64_t due = ticket_due(g, i, m);
        if (due > now)
            return;
        g->next_ticket++;
        if (due >= g->t_measure && ++g->sent_measured >= g->t->quota)
            g->quota_done = 1;
        struct conn *c = &g->conns[i];
        if (c->state == CONN_DEAD)
            continue;
        c->tickets_issued++;
        if (c->state == CONN_IDLE)
            try_send(g, c, now);
    }
}

/* sweep - timeouts; and whether an open-loop or quota run has finished */
static void sweep(struct lg *g, uint64_t now)
{
    uint64_t to = g->cfg->timeout_ns;
    int pending = 0;
    for (uint64_t i = 0; i < g->n; i++) {
        struct conn *c = &g->conns[i];
        if (to && c->state == CONN_CONNECTING && now - c->op_start_ns >= to) {
            connect_failed(g, c, now, ETIMEDOUT);
        } else if (to && c->state == CONN_BUSY && now - c->op_start_ns >= to) {
            g->st->err_timeout++;
            conn_requeue(g, c, now, 0);
        }
        if (c->state == CONN_BUSY || c->retry ||
            (c->state != CONN_DEAD && c->tickets_used < c->tickets_issued))
            pending = 1;
    }
    if (g->phase == PHASE_RUN && g->quota_done && !pending)
        g->phase = PHASE_DONE;
}

/* next_wakeup - ns until the earliest timed thing (0: now), at most a second */
static uint64_t next_wakeup(struct lg *g, uint64_t now)
{
    uint64_t at = g->next_sweep;
    if (g->phase == PHASE_RUN && g->t_end < at)
        at = g->t_end;
    if (g->phase == PHASE_CONNECT && g->connect_deadline < at)
        at = g->connect_deadline;
    if (g->fifo_len > 0 && g->connecting < g->cfg->connect_burst) {
        uint64_t nb = g->conns[g->fifo[g->fifo_head]].not_before_ns;
        if (nb < at)
            at = nb;
    }
    if (g->phase == PHASE_RUN && g->t->rate > 0 && !g->quota_done && !g->cfg->idle) {
        uint64_t due = ticket_due(g, g->next_ticket % g->n, g->next_ticket / g->n);
        if (due < at)
            at = due;
    }
    if (at <= now)
        return 0;
    return at - now > 1000000000ull ? 1000000000ull : at - now;
}

/* wait_events - epoll_pwait2 for its nanosecond timeout: with epoll_wait's milliseconds an
 * open-loop request would leave up to 1 ms late, and that lateness would count as latency.
 * Falls back to epoll_wait (rounding up) on kernels before 5.11. */
static int wait_events(struct lg *g, struct epoll_event *evs, uint64_t timeout_ns)
{
    if (!g->no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                              .tv_nsec = (long)(timeout_ns % 1000000000ull)};
        int n = epoll_pwait2(g->epfd, evs, MAX_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        g->no_pwait2 = 1;
    }
    return epoll_wait(g->epfd, evs, MAX_EVENTS, (int)((timeout_ns + 999999) / 1000000));
}

/* loop_turn - one epoll_wait and everything due after it */
static void loop_turn(struct lg *g)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = wait_events(g, evs, next_wakeup(g, now_ns()));
    if (n < 0 && errno != EINTR)
        PANIC("loadtest: epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        conn_event(g, evs[i].data.ptr, evs[i].events, now_ns());
    uint64_t now = now_ns();
    start_connects(g, now);
    if (g->phase == PHASE_RUN && g->t->rate > 0 && !g->cfg->idle)
        issue_tickets(g, now);
    if (now >= g->next_sweep || (g->quota_done && g->busy == 0)) {
        sweep(g, now);
        g->next_sweep = now + g->sweep_ns;
    }
}

/* run_connect_phase - connect every connection once (or give up at the deadline) */
static void run_connect_phase(struct lg *g)
{
    uint64_t now = now_ns();
    g->connect_deadline = now + g->cfg->connect_phase_ns;
    g->next_sweep = now + g->sweep_ns;
    while (g->unresolved > 0) {
        loop_turn(g);
        if (now_ns() >= g->connect_deadline)
            break;
    }
    now = now_ns();
    for (uint64_t i = 0; i < g->n; i++) { /* past the deadline: count what is left */
        struct conn *c = &g->conns[i];
        if (c->resolved)
            continue;
        if (c->state == CONN_CONNECTING) {
            connect_failed(g, c, now, ETIMEDOUT); /* requeues or kills */
            continue;
        }
        g->st->err_connect++; /* QUEUED: stays in the FIFO with reconnect, else skipped */
        c->resolved = 1;
        g->unresolved--;
        if (!g->cfg->reconnect) {
            c->state = CONN_DEAD;
            g->live--;
        }
    }
    for (uint64_t i = 0; i < g->n; i++)
        if (g->conns[i].state == CONN_IDLE)
            g->st->established++;
}

/* run_load_phase - load (or hold) until the deadline or the quota */
static void run_load_phase(struct lg *g)
{
    uint64_t now = now_ns();
    g->phase = PHASE_RUN;
    g->t_start = now;
    g->t_measure = g->cfg->idle ? now : now + g->cfg->warmup_ns;
    g->t_end = g->t_measure + g->cfg->duration_ns;
    g->next_sweep = now + g->sweep_ns;
    if (g->t->quota == 0)
        g->quota_done = 1;
    if (g->t->rate > 0)
        g->ticket_ns = 1e9 / g->t->rate;
    for (uint64_t i = 0; i < g->n; i++)
        if (g->conns[i].state == CONN_IDLE)
            try_send(g, &g->conns[i], now);
    while (g->phase == PHASE_RUN && g->live > 0) {
        loop_turn(g);
        if (now_ns() >= g->t_end)
            break;
    }
    now = now_ns();
    uint64_t end = now < g->t_end ? now : g->t_end;
    if (g->phase == PHASE_DONE && g->last_reply_ns > g->t_measure)
        end = g->last_reply_ns; /* quota met: the phase ended with its last reply */
    g->phase = PHASE_DONE;
    g->st->elapsed_ns = end > g->t_measure ? end - g->t_measure : 0;
    for (uint64_t i = 0; i < g->n; i++) {
        struct conn *c = &g->conns[i];
        if (c->state == CONN_IDLE || c->state == CONN_BUSY)
            g->st->open_at_end++;
        if (c->state != CONN_DEAD)
            conn_kill(g, c);
    }
}

void *loadgen_thread_main(void *arg)
{
    struct loadgen_thread *t = arg;
    struct lg *g = xcalloc(1, sizeof *g);
    g->t = t;
    g->cfg = t->cfg;
    g->st = &t->stats;
    loadgen_stats_init(g->st);
    g->n = t->n_conns;
    g->phase = PHASE_CONNECT;
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time for open-loop pacing (default 50 us) */
    g->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g->epfd < 0)
        PANIC("loadtest: epoll_create1: %s", strerror(errno));
    uint64_t sweep = g->cfg->timeout_ns / 10;
    g->sweep_ns = sweep > SWEEP_MAX_NS || sweep == 0 ? SWEEP_MAX_NS
                  : sweep < SWEEP_MIN_NS             ? SWEEP_MIN_NS
                                                     : sweep;
    g->conns = xcalloc(g->n ? g->n : 1, sizeof *g->conns);
    g->fifo = xcalloc(g->n ? g->n : 1, sizeof *g->fifo);
    for (uint64_t i = 0; i < g->n; i++) {
        struct conn *c = &g->conns[i];
        c->fd = -1;
        workload_stream_init(g->cfg->wl, &c->ws, t->first_conn + i, t->all_conns);
        fifo_push(g, c, 0);
    }
    g->live = g->unresolved = g->n;

    run_connect_phase(g);
    pthread_barrier_wait(g->cfg->start);
    run_load_phase(g);

    close(g->epfd);
    free(g->conns);
    free(g->fifo);
    free(g);
    return NULL;
}
