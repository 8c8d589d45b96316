/* metrics/metrics_http.c - the /metrics endpoint: one thread, one level-triggered epoll loop.
 *
 * Everything in struct metrics_http after start-up is touched only by its thread; the
 * starting thread talks to it only through the stop eventfd and pthread_join. Connection
 * life: READ (collect the head into an 8 KiB buffer, parse when a line ends) -> WRITE (the
 * whole reply is built at once; non-blocking send, EPOLLOUT while the socket is full) ->
 * DRAIN (write side shut down, input discarded until EOF, 64 KiB or 1 s) -> closed. Each
 * state has a deadline; the loop's epoll_wait timeout is the nearest one (a scan of at most
 * max_conns slots per turn). Accepting pauses while max_conns are open or for 100 ms after
 * EMFILE/ENFILE, so a flood waits in the kernel backlog instead of spinning the loop. */
#include "metrics/metrics_http.h"
#include "metrics/metrics_int.h"

#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNS 256
#define DEFAULT_HEAD_TIMEOUT_MS 5000
#define DEFAULT_WRITE_TIMEOUT_MS 10000
#define DRAIN_MS 1000
#define DRAIN_MAX (64 * 1024)
#define EMFILE_PAUSE_MS 100
#define ACCEPT_BURST 64
#define SEND_CHUNK (256 * 1024)
#define HDR_ROOM 256 /* reply header space reserved before the body */
#define WARN_EVERY_MS 60000

#define ID_LISTEN 0
#define ID_STOP 1
#define ID_CONN0 2

enum conn_state { CONN_FREE, CONN_READ, CONN_WRITE, CONN_DRAIN };

struct conn {
    int fd; /* -1 when free */
    enum conn_state state;
    uint32_t events; /* what epoll waits for */
    char *in;        /* METRICS_HTTP_HEAD_MAX bytes while reading */
    size_t in_len;
    struct metrics_buf out; /* reply; bytes [out_off, out_end) still to send */
    size_t out_off, out_end;
    size_t drained;
    uint64_t deadline_ms;
    int next_free; /* free list link, -1 ends it */
};

struct metrics_http {
    struct metrics_registry *reg;
    struct metrics_http_config cfg;
    int lfd, stopfd, ep;
    int port;
    pthread_t thread;
    bool started;
    struct conn *conns; /* cfg.max_conns slots */
    unsigned nconns;
    int free_head;
    bool listening;     /* the listener is in the epoll set with EPOLLIN */
    uint64_t resume_ms; /* accept paused until then after EMFILE; 0: not paused */
    uint64_t last_warn_ms;
    unsigned warn_suppressed;
};

/* warn_limited - one warning per WARN_EVERY_MS, with a count of those suppressed */
static void warn_limited(struct metrics_http *h, uint64_t now, const char *what, int err)
{
    if (h->last_warn_ms && now - h->last_warn_ms < WARN_EVERY_MS) {
        h->warn_suppressed++;
        return;
    }
    log_warn("metrics: %s: %s (%u similar suppressed)", what, strerror(err), h->warn_suppressed);
    h->last_warn_ms = now;
    h->warn_suppressed = 0;
}

/* listener_update - keep the listener in the epoll set exactly when we may accept */
static void listener_update(struct metrics_http *h, uint64_t now)
{
    if (h->resume_ms && now >= h->resume_ms)
        h->resume_ms = 0;
    bool want = h->nconns < h->cfg.max_conns && !h->resume_ms;
    if (want == h->listening)
        return;
    struct epoll_event ev = {.events = want ? EPOLLIN : 0, .data.u64 = ID_LISTEN};
    if (epoll_ctl(h->ep, EPOLL_CTL_MOD, h->lfd, &ev) == 0)
        h->listening = want;
}

static void conn_close(struct metrics_http *h, struct conn *c, uint64_t now)
{
    close(c->fd); /* also leaves the epoll set */
    free(c->in);
    free(c->out.p);
    int idx = (int)(c - h->conns);
    *c = (struct conn){.fd = -1, .state = CONN_FREE, .next_free = h->free_head};
    h->free_head = idx;
    h->nconns--;
    listener_update(h, now);
}

/* conn_want - wait for these epoll events on c; false (c closed) if epoll refuses */
static bool conn_want(struct metrics_http *h, struct conn *c, uint32_t events, uint64_t now)
{
    if (c->events == events)
        return true;
    struct epoll_event ev = {.events = events, .data.u64 = ID_CONN0 + (uint64_t)(c - h->conns)};
    if (epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        conn_close(h, c, now);
        return false;
    }
    c->events = events;
    return true;
}

/* reply_build - the whole reply into c->out: status line, headers, and the body unless HEAD */
static void reply_build(struct metrics_http *h, struct conn *c, int r,
                        const struct metrics_http_req *req)
{
    int status = 400;
    const char *reason = "Bad Request", *ctype = "text/plain; charset=utf-8", *extra = "";
    const char *body = "Bad Request\n";
    bool head = false, metrics = false;
    if (r == METRICS_HTTP_ERR_LARGE) {
        status = 431, reason = "Request Header Fields Too Large";
        body = "Request Header Fields Too Large\n";
    } else if (r == METRICS_HTTP_ERR_VERSION) {
        status = 505, reason = "HTTP Version Not Supported";
        body = "HTTP Version Not Supported\n";
    } else if (r == METRICS_HTTP_COMPLETE) {
        bool get = req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
        head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
        if (!get && !head) {
            status = 405, reason = "Method Not Allowed", body = "Method Not Allowed\n";
            extra = "Allow: GET, HEAD\r\n";
            head = false;
        } else if (req->path_len == 8 && memcmp(req->path, "/metrics", 8) == 0) {
            status = 200, reason = "OK", metrics = true;
            ctype = "text/plain; version=0.0.4; charset=utf-8";
        } else if (req->path_len == 8 && memcmp(req->path, "/healthz", 8) == 0) {
            status = 200, reason = "OK", body = "ok\n";
        } else {
            status = 404, reason = "Not Found", body = "Not Found\n";
        }
    }

    struct metrics_buf *b = &c->out;
    char room[HDR_ROOM];
    memset(room, ' ', sizeof(room));
    metrics_buf_add(b, room, sizeof(room));
    if (metrics)
        metrics_render_into(h->reg, b);
    else
        metrics_buf_add(b, body, strlen(body));
    size_t body_len = b->len - HDR_ROOM;
    char hdr[HDR_ROOM];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, reason, ctype, body_len, extra);
    if (n < 0 || n >= HDR_ROOM)
        PANIC("metrics: reply header does not fit (%d bytes)", n);
    memcpy(b->p + HDR_ROOM - (size_t)n, hdr, (size_t)n);
    c->out_off = HDR_ROOM - (size_t)n;
    c->out_end = head ? HDR_ROOM : b->len;
}

/* conn_flush - send what is left; on completion shut down writing and start draining */
static void conn_flush(struct metrics_http *h, struct conn *c, uint64_t now)
{
    while (c->out_off < c->out_end) {
        size_t left = c->out_end - c->out_off;
        /* bounded chunks: sanitizers check the whole range passed to each send */
        ssize_t n =
            send(c->fd, c->out.p + c->out_off, left < SEND_CHUNK ? left : SEND_CHUNK, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_want(h, c, EPOLLOUT, now);
            return;
        } else {
            conn_close(h, c, now);
            return;
        }
    }
    free(c->out.p);
    c->out = (struct metrics_buf){0};
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_DRAIN;
    c->deadline_ms = now + DRAIN_MS;
    conn_want(h, c, EPOLLIN, now);
}

/* conn_read - more of the head; parse when a line may have ended */
static void conn_read(struct metrics_http *h, struct conn *c, uint64_t now)
{
    size_t room = METRICS_HTTP_HEAD_MAX - c->in_len;
    ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(h, c, now); /* peer gone before a complete head */
        return;
    }
    bool first = c->in_len == 0;
    const char *fresh = c->in + c->in_len;
    c->in_len += (size_t)n;
    /* the head can only complete on a LF; the first chunk is parsed to refuse garbage early */
    if (!first && c->in_len < METRICS_HTTP_HEAD_MAX && !memchr(fresh, '\n', (size_t)n))
        return;
    struct metrics_http_req req;
    int r = metrics_http_parse(c->in, c->in_len, &req);
    if (r == METRICS_HTTP_INCOMPLETE)
        return;
    if (r != METRICS_HTTP_COMPLETE)
        log_debug("metrics: malformed request (%d), replying with an error", r);
    reply_build(h, c, r, &req);
    free(c->in);
    c->in = NULL;
    c->state = CONN_WRITE;
    c->deadline_ms = now + h->cfg.write_timeout_ms;
    conn_flush(h, c, now);
}

/* conn_drain - discard input after the reply until EOF or the drain budget is spent */
static void conn_drain(struct metrics_http *h, struct conn *c, uint64_t now)
{
    char scratch[4096];
    ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0 && (c->drained += (size_t)n) <= DRAIN_MAX)
        return;
    conn_close(h, c, now);
}

static void conn_event(struct metrics_http *h, struct conn *c, uint64_t now)
{
    switch (c->state) {
    case CONN_READ:
        conn_read(h, c, now);
        break;
    case CONN_WRITE:
        conn_flush(h, c, now);
        break;
    case CONN_DRAIN:
        conn_drain(h, c, now);
        break;
    case CONN_FREE:
        break; /* closed earlier in this batch */
    }
}

/* accept_some - take pending connections while there is room */
static void accept_some(struct metrics_http *h, uint64_t now)
{
    for (int i = 0; i < ACCEPT_BURST && h->nconns < h->cfg.max_conns; i++) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            warn_limited(h, now, "accept", errno);
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                h->resume_ms = now + EMFILE_PAUSE_MS;
            break;
        }
        int idx = h->free_head;
        struct conn *c = &h->conns[idx];
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ID_CONN0 + (uint64_t)idx};
        if (epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            warn_limited(h, now, "epoll_ctl", errno);
            close(fd);
            break;
        }
        h->free_head = c->next_free;
        *c = (struct conn){.fd = fd,
                           .state = CONN_READ,
                           .events = EPOLLIN,
                           .in = xmalloc(METRICS_HTTP_HEAD_MAX),
                           .deadline_ms = now + h->cfg.head_timeout_ms,
                           .next_free = -1};
        h->nconns++;
    }
    listener_update(h, now);
}

/* expire - close connections past their deadline; the epoll timeout until the next one */
static int expire(struct metrics_http *h, uint64_t now)
{
    uint64_t next = h->resume_ms ? h->resume_ms : UINT64_MAX;
    for (unsigned i = 0; i < h->cfg.max_conns; i++) {
        struct conn *c = &h->conns[i];
        if (c->state == CONN_FREE)
            continue;
        if (now >= c->deadline_ms)
            conn_close(h, c, now);
        else if (c->deadline_ms < next)
            next = c->deadline_ms;
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now < 60000 ? next - now : 60000);
}

static void *http_thread(void *arg)
{
    struct metrics_http *h = arg;
    struct epoll_event evs[64];
    for (;;) {
        uint64_t now = clock_mono_ms();
        listener_update(h, now);
        int timeout = expire(h, now);
        int n = epoll_wait(h->ep, evs, 64, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("metrics: epoll_wait: %s; endpoint stopped", strerror(errno));
            return NULL;
        }
        now = clock_mono_ms();
        bool pending = false;
        for (int i = 0; i < n; i++) {
            uint64_t id = evs[i].data.u64;
            if (id == ID_STOP)
                return NULL;
            if (id == ID_LISTEN)
                pending = true;
            else
                conn_event(h, &h->conns[id - ID_CONN0], now);
        }
        /* after the batch, so no slot is reused while an event for it is still queued */
        if (pending)
            accept_some(h, now);
    }
}

/* split_addr - "host:port" or "[v6]:port" into host and port strings; false if malformed */
static bool split_addr(const char *addr, char *host, size_t hostlen, const char **port)
{
    const char *colon;
    const char *h0 = addr, *h1;
    if (addr[0] == '[') {
        h0 = addr + 1;
        h1 = strchr(h0, ']');
        if (!h1 || h1[1] != ':')
            return false;
        colon = h1 + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return false; /* a bare IPv6 address needs brackets */
        h1 = colon;
    }
    size_t n = (size_t)(h1 - h0);
    if (n == 0 || n >= hostlen || colon[1] == '\0' || strlen(colon + 1) > 5)
        return false;
    long port_num = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port_num = port_num * 10 + (*p - '0');
    }
    if (port_num > 65535)
        return false; /* getaddrinfo would take it modulo 65536 */
    memcpy(host, h0, n);
    host[n] = '\0';
    *port = colon + 1;
    return true;
}

/* listen_on - a non-blocking listening socket on addr; fd or -1 with err set */
static int listen_on(const char *addr, int *port, char *err, size_t errlen)
{
    char host[128];
    const char *portstr;
    if (!split_addr(addr, host, sizeof(host), &portstr)) {
        snprintf(err, errlen, "metrics: address \"%s\": want HOST:PORT or [V6]:PORT", addr);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "metrics: address \"%s\": %s", addr, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (ai->ai_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "metrics: listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct metrics_http *metrics_http_start(struct metrics_registry *reg, const char *addr,
                                        const struct metrics_http_config *cfg, char *err,
                                        size_t errlen)
{
    struct metrics_http *h = xcalloc(1, sizeof(*h));
    h->lfd = h->stopfd = h->ep = -1;
    h->reg = reg;
    if (cfg)
        h->cfg = *cfg;
    if (!h->cfg.max_conns)
        h->cfg.max_conns = DEFAULT_MAX_CONNS;
    if (!h->cfg.head_timeout_ms)
        h->cfg.head_timeout_ms = DEFAULT_HEAD_TIMEOUT_MS;
    if (!h->cfg.write_timeout_ms)
        h->cfg.write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
    h->conns = xcalloc(h->cfg.max_conns, sizeof(*h->conns));
    for (unsigned i = 0; i < h->cfg.max_conns; i++)
        h->conns[i] = (struct conn){
            .fd = -1, .state = CONN_FREE, .next_free = i + 1 < h->cfg.max_conns ? (int)i + 1 : -1};
    h->free_head = 0;

    pthread_mutex_lock(&reg->lock);
    metrics_seal_locked(reg);
    pthread_mutex_unlock(&reg->lock);

    if ((h->lfd = listen_on(addr, &h->port, err, errlen)) < 0)
        goto fail;
    h->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    h->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.u64 = ID_LISTEN};
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = ID_STOP};
    if (h->stopfd < 0 || h->ep < 0 || epoll_ctl(h->ep, EPOLL_CTL_ADD, h->lfd, &lev) < 0 ||
        epoll_ctl(h->ep, EPOLL_CTL_ADD, h->stopfd, &sev) < 0) {
        snprintf(err, errlen, "metrics: epoll/eventfd: %s", strerror(errno));
        goto fail;
    }
    h->listening = true;

    /* the thread starts with every signal blocked: signals are the main thread's business */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&h->thread, NULL, http_thread, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "metrics: pthread_create: %s", strerror(rc));
        goto fail;
    }
    h->started = true;
    pthread_setname_np(h->thread, "greyspf-metrics");
    return h;
fail:
    metrics_http_stop(h);
    return NULL;
}

int metrics_http_port(const struct metrics_http *h)
{
    return h->port;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (!h)
        return;
    if (h->started) {
        uint64_t one = 1;
        while (write(h->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
        pthread_join(h->thread, NULL);
    }
    for (unsigned i = 0; h->conns && i < h->cfg.max_conns; i++) {
        if (h->conns[i].state != CONN_FREE) {
            close(h->conns[i].fd);
            free(h->conns[i].in);
            free(h->conns[i].out.p);
        }
    }
    free(h->conns);
    if (h->lfd >= 0)
        close(h->lfd);
    if (h->stopfd >= 0)
        close(h->stopfd);
    if (h->ep >= 0)
        close(h->ep);
    free(h);
}
