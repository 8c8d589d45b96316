/* tests/unit/metrics/test_metrics_http.c - the /metrics endpoint over real loopback sockets
 * (127.0.0.1, port 0): routes and status codes, a body that parses as exposition text,
 * slowloris connections closed at the head deadline while scrapes go on, the connection cap,
 * a large body to a slow reader (EPOLLOUT path) not blocking other clients, 1,000
 * concurrent scrapes all answered, start-up errors, and stop with connections open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/base/clock.h"
#include "metrics/metrics.h"
#include "metrics/metrics_http.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a small populated registry ---- */

static struct metrics_registry *sample_registry(void)
{
    struct metrics_registry *reg = metrics_registry_create();
    static const char *const states[] = {"RCPT", "DATA"};
    static const struct metrics_label l = {"state", states, 2};
    static const struct metrics_family_desc dc = {"t_requests_total", "Requests.", &l, 1};
    static const struct metrics_family_desc dh = {"t_duration_seconds", "Duration.", NULL, 0};
    struct metrics_counter c[2];
    struct metrics_histogram h;
    assert_int_equal(metrics_counter_register(reg, &dc, c, 2), 0);
    assert_int_equal(metrics_histogram_register(reg, &dh, metrics_buckets_seconds,
                                                METRICS_BUCKETS_SECONDS_N, &h, 1),
                     0);
    assert_int_equal(metrics_process_register(reg, "9.9.9"), 0);
    metrics_counter_add_shared(reg, c[0], 3);
    metrics_histogram_observe_shared(reg, h, 0.002);
    return reg;
}

static struct metrics_http *start(struct metrics_registry *reg,
                                  const struct metrics_http_config *cfg, int *port)
{
    char err[256] = "";
    struct metrics_http *h = metrics_http_start(reg, "127.0.0.1:0", cfg, err, sizeof(err));
    if (!h)
        fail_msg("metrics_http_start: %s", err);
    *port = metrics_http_port(h);
    assert_true(*port > 0);
    return h;
}

/* ---- client helpers ---- */

static int connect_lo(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        buf += n;
        len -= (size_t)n;
    }
}

/* read_until_eof - everything until the peer closes (within timeout_ms); malloc'ed,
 * NUL-terminated; *len its length. NULL on timeout. A reset after data counts as EOF. */
static char *read_until_eof(int fd, size_t *len, int timeout_ms)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    uint64_t end = clock_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = clock_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= end || poll(&p, 1, (int)(end - now)) == 0) {
            free(buf);
            return NULL;
        }
        if (n + 4096 + 1 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct resp {
    int status;
    char *raw;        /* whole response, NUL-terminated */
    const char *body; /* into raw */
    size_t body_len;
    long content_length; /* -1: absent */
};

/* header - value of header name (case-insensitive) in r, copied into out; false if absent */
static bool header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < r->body; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, outlen, "%.*s", (int)(e - v), v);
            return true;
        }
    }
    return false;
}

/* parse_resp - split raw into status, headers and body; false if not an HTTP/1.1 reply */
static bool parse_resp(char *raw, size_t len, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    r->raw = raw;
    r->content_length = -1;
    const char *end = strstr(raw, "\r\n\r\n");
    if (!end || sscanf(raw, "HTTP/1.1 %d ", &r->status) != 1)
        return false;
    r->body = end + 4;
    r->body_len = len - (size_t)(r->body - raw);
    char v[64];
    if (header(r, "Content-Length", v, sizeof(v)))
        r->content_length = strtol(v, NULL, 10);
    return true;
}

/* exchange - send req on a new connection and read the whole reply */
static void exchange(int port, const char *req, size_t len, struct resp *r)
{
    int fd = connect_lo(port, 0);
    send_all(fd, req, len);
    size_t n;
    char *raw = read_until_eof(fd, &n, 10000);
    close(fd);
    if (!raw)
        fail_msg("no complete reply within 10 s to %.40s", req);
    if (!parse_resp(raw, n, r))
        fail_msg("not an HTTP/1.1 reply: %.200s", raw);
}

/* ---- routes ---- */

struct route_case {
    const char *name;
    const char *req;
    size_t len; /* 0: strlen */
    int status;
    const char *body_has; /* NULL: anything */
    const char *ctype;    /* NULL: not checked */
};

static void test_http_routes(void **state)
{
    (void)state;
    struct metrics_registry *reg = sample_registry();
    int port;
    struct metrics_http *h = start(reg, NULL, &port);

    static char big[9000 + 64];
    int n = snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', 9000);
    memcpy(big + n + 9000, "\r\n\r\n", 4);
    const char *mtype = "text/plain; version=0.0.4; charset=utf-8";
    const struct route_case cases[] = {
        {"metrics", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200,
         "t_requests_total{state=\"RCPT\"} 3\n", mtype},
        {"metrics with query", "GET /metrics?a=b HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200,
         "# TYPE t_duration_seconds histogram\n", mtype},
        {"metrics http/1.0", "GET /metrics HTTP/1.0\r\n\r\n", 0, 200, "greyspf_build_info", mtype},
        {"metrics with a body",
         "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
         "hello",
         0, 200, "t_duration_seconds_count 1\n", mtype},
        {"healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200, "ok\n", NULL},
        {"not found", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404, NULL, NULL},
        {"root not found", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, 404, NULL, NULL},
        {"post", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 405, NULL,
         NULL},
        {"lowercase get", "get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, 405, NULL, NULL},
        {"garbage line", "hello world\r\n\r\n", 0, 400, NULL, NULL},
        {"binary garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00", 8, 400, NULL, NULL},
        {"missing host", "GET /metrics HTTP/1.1\r\n\r\n", 0, 400, NULL, NULL},
        {"http/2", "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 0, 505, NULL, NULL},
        {"oversize head", big, (size_t)n + 9004, 431, NULL, NULL},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct route_case *c = &cases[i];
        struct resp r;
        exchange(port, c->req, c->len ? c->len : strlen(c->req), &r);
        char v[128];
        const char *why = NULL;
        if (r.status != c->status)
            why = "status";
        else if (r.content_length != (long)r.body_len)
            why = "Content-Length differs from the body";
        else if (!header(&r, "Connection", v, sizeof(v)) || strcmp(v, "close") != 0)
            why = "no Connection: close";
        else if (c->body_has && !strstr(r.body, c->body_has))
            why = "body";
        else if (c->ctype && (!header(&r, "Content-Type", v, sizeof(v)) || strcmp(v, c->ctype)))
            why = "Content-Type";
        else if (c->status == 405 &&
                 (!header(&r, "Allow", v, sizeof(v)) || strcmp(v, "GET, HEAD") != 0))
            why = "Allow";
        if (why) {
            print_error("%s: %s: got status %d:\n%.300s\n", c->name, why, r.status, r.raw);
            failures++;
        }
        free(r.raw);
    }

    /* HEAD: the headers of GET, no body */
    struct resp get, head;
    const char *g = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *hd = "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(port, g, strlen(g), &get);
    exchange(port, hd, strlen(hd), &head);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.body_len, 0);
    /* process_* values may change between the two scrapes by a digit or so */
    assert_true(labs(head.content_length - get.content_length) < 64);
    free(get.raw);
    free(head.raw);

    assert_int_equal(failures, 0);
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- the body is exposition text ---- */

static void test_http_body_parses(void **state)
{
    (void)state;
    struct metrics_registry *reg = sample_registry();
    int port;
    struct metrics_http *h = start(reg, NULL, &port);
    struct resp r;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(port, req, strlen(req), &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > 0 && r.body[r.body_len - 1] == '\n');
    char types[64][128];
    size_t ntypes = 0, samples = 0;
    for (const char *line = r.body; *line;) {
        const char *eol = strchr(line, '\n');
        assert_non_null(eol);
        char l[512];
        snprintf(l, sizeof(l), "%.*s", (int)(eol - line), line);
        if (strncmp(l, "# TYPE ", 7) == 0) {
            char name[128];
            assert_int_equal(sscanf(l + 7, "%127s", name), 1);
            for (size_t i = 0; i < ntypes; i++)
                if (strcmp(types[i], name) == 0)
                    fail_msg("second TYPE for %s", name);
            snprintf(types[ntypes++], sizeof(types[0]), "%s", name);
        } else if (strncmp(l, "# HELP ", 7) != 0) {
            /* name[{labels}] SP value: the value must parse whole */
            const char *sp = strrchr(l, ' ');
            assert_non_null(sp);
            char *end;
            const char *v = sp + 1;
            if (strcmp(v, "+Inf") && strcmp(v, "-Inf") && strcmp(v, "NaN")) {
                strtod(v, &end);
                if (*end || end == v)
                    fail_msg("bad value in line: %s", l);
            }
            samples++;
        }
        line = eol + 1;
    }
    assert_true(ntypes >= 8);
    assert_true(samples > 20);
    free(r.raw);
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- slowloris ---- */

/* closed_by_peer - true once fd reads EOF or a reset (without blocking) */
static bool closed_by_peer(int fd)
{
    char c[256];
    for (;;) {
        ssize_t n = recv(fd, c, sizeof(c), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
        if (n < 0)
            return false;
    }
}

static void test_http_slowloris(void **state)
{
    (void)state;
    struct metrics_registry *reg = sample_registry();
    const struct metrics_http_config cfg = {.head_timeout_ms = 500};
    int port;
    struct metrics_http *h = start(reg, &cfg, &port);
    uint64_t t0 = clock_mono_ms();
    int stalled = connect_lo(port, 0); /* sends part of a head, then nothing */
    int trickle = connect_lo(port, 0); /* sends a byte every 50 ms, never finishing */
    send_all(stalled, "GET /metrics HTTP/1.1\r\nHo", 25);
    const char *head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    size_t sent = 0;
    uint64_t stalled_at = 0, trickle_at = 0;
    bool scraped = false;
    while ((!stalled_at || !trickle_at) && clock_mono_ms() - t0 < 5000) {
        if (!trickle_at) {
            char c = sent < strlen(head) ? head[sent] : 'a';
            if (send(trickle, &c, 1, MSG_NOSIGNAL) == 1)
                sent++;
        }
        if (!scraped && clock_mono_ms() - t0 >= 100) {
            /* a normal scrape while both are pending */
            struct resp r;
            const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
            exchange(port, req, strlen(req), &r);
            assert_int_equal(r.status, 200);
            free(r.raw);
            scraped = true;
        }
        usleep(50 * 1000);
        if (!stalled_at && closed_by_peer(stalled))
            stalled_at = clock_mono_ms();
        if (!trickle_at && closed_by_peer(trickle))
            trickle_at = clock_mono_ms();
    }
    assert_true(scraped);
    if (!stalled_at || !trickle_at)
        fail_msg("slow connections still open after 5 s (stalled %d, trickle %d)", !stalled_at,
                 !trickle_at);
    uint64_t ds = stalled_at - t0, dt = trickle_at - t0;
    if (ds < 400 || ds > 2000 || dt < 400 || dt > 2000)
        fail_msg("closed after %llu / %llu ms, want about 500", (unsigned long long)ds,
                 (unsigned long long)dt);
    close(stalled);
    close(trickle);

    /* and the endpoint still serves */
    struct resp r;
    exchange(port, "GET /healthz HTTP/1.0\r\n\r\n", 25, &r);
    assert_int_equal(r.status, 200);
    free(r.raw);
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- the connection cap ---- */

static void test_http_conn_cap(void **state)
{
    (void)state;
    struct metrics_registry *reg = sample_registry();
    const struct metrics_http_config cfg = {.max_conns = 4, .head_timeout_ms = 400};
    int port;
    struct metrics_http *h = start(reg, &cfg, &port);
    int idle[4];
    for (int i = 0; i < 4; i++)
        idle[i] = connect_lo(port, 0);
    usleep(100 * 1000); /* let the server accept them: now it is full */
    uint64_t t0 = clock_mono_ms();
    struct resp r;
    exchange(port, "GET /healthz HTTP/1.0\r\n\r\n", 25, &r); /* waits in the backlog */
    uint64_t waited = clock_mono_ms() - t0;
    assert_int_equal(r.status, 200);
    free(r.raw);
    if (waited < 150 || waited > 3000)
        fail_msg("5th connection answered after %llu ms, want after the idle ones expire",
                 (unsigned long long)waited);
    for (int i = 0; i < 4; i++) {
        size_t n;
        char *rest = read_until_eof(idle[i], &n, 2000);
        assert_non_null(rest); /* closed by the server */
        assert_int_equal(n, 0);
        free(rest);
        close(idle[i]);
    }
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- a large body to a slow reader ---- */

#define BIG_SERIES 4096
#define BIG_FAMILIES 32 /* ~9 MB: more than the kernel's largest send buffer (tcp_wmem 4 MiB) */

static double big_cb(void *arg, size_t series)
{
    return (double)series * 1.5;
}

/* big_registry - BIG_FAMILIES callback families of BIG_SERIES series: a body of ~9 MB */
static struct metrics_registry *big_registry(void)
{
    struct metrics_registry *reg = metrics_registry_create();
    char **values = malloc(BIG_SERIES * sizeof(char *));
    for (int i = 0; i < BIG_SERIES; i++) {
        values[i] = malloc(64);
        snprintf(values[i], 64, "a-rather-long-label-value-to-make-the-body-big-%04d", i);
    }
    const struct metrics_label l = {"v", (const char *const *)values, BIG_SERIES};
    for (int f = 0; f < BIG_FAMILIES; f++) {
        char name[32];
        snprintf(name, sizeof(name), "big_%d", f);
        const struct metrics_family_desc d = {name, "Big.", &l, 1};
        assert_int_equal(metrics_callback_register(reg, &d, METRICS_GAUGE, big_cb, NULL), 0);
    }
    for (int i = 0; i < BIG_SERIES; i++)
        free(values[i]);
    free(values);
    return reg;
}

static void test_http_large_body_slow_reader(void **state)
{
    (void)state;
    struct metrics_registry *reg = big_registry();
    int port;
    struct metrics_http *h = start(reg, NULL, &port);

    int slow = connect_lo(port, 4096);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(slow, req, strlen(req));
    usleep(200 * 1000); /* the server's socket buffer fills; it must wait for EPOLLOUT */

    /* meanwhile others are served at once */
    uint64_t t0 = clock_mono_ms();
    struct resp r;
    exchange(port, "GET /healthz HTTP/1.0\r\n\r\n", 25, &r);
    assert_int_equal(r.status, 200);
    free(r.raw);
    assert_true(clock_mono_ms() - t0 < 1000);

    size_t n;
    char *raw = read_until_eof(slow, &n, 10000);
    assert_non_null(raw);
    close(slow);
    assert_true(parse_resp(raw, n, &r));
    assert_int_equal(r.status, 200);
    assert_true(r.body_len > 8000000);
    assert_int_equal(r.content_length, (long)r.body_len);
    assert_non_null(strstr(r.body,
                           "big_31{v=\"a-rather-long-label-value-to-make-the-body-big-4095\"}"
                           " 6142.5\n"));
    free(raw);
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* a reader that never reads: the server gives up at the write deadline */
static void test_http_write_timeout(void **state)
{
    (void)state;
    struct metrics_registry *reg = big_registry();
    const struct metrics_http_config cfg = {.write_timeout_ms = 300};
    int port;
    struct metrics_http *h = start(reg, &cfg, &port);
    int stuck = connect_lo(port, 4096);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(stuck, req, strlen(req));
    usleep(1000 * 1000); /* well past the deadline: the server has closed its end */
    size_t n;
    char *raw = read_until_eof(stuck, &n, 10000); /* what was queued, then EOF */
    close(stuck);
    assert_non_null(raw);
    struct resp r;
    assert_true(parse_resp(raw, n, &r));
    assert_int_equal(r.status, 200);
    if (!(r.body_len < (size_t)r.content_length))
        fail_msg("got the whole body (%zu bytes) from a stuck reader, want it cut short",
                 r.body_len);
    free(raw);
    exchange(port, "GET /healthz HTTP/1.0\r\n\r\n", 25, &r);
    assert_int_equal(r.status, 200);
    free(r.raw);
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- 1,000 concurrent scrapes ---- */

#define CLIENTS 1000

struct client {
    int fd;
    size_t sent, got;
    char *buf;
    size_t cap;
    bool done;
};

static void test_http_1000_concurrent(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * CLIENTS + 512) {
        rl.rlim_cur = rl.rlim_max < 2 * CLIENTS + 512 ? rl.rlim_max : 2 * CLIENTS + 512;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < CLIENTS + 512)
        fail_msg("RLIMIT_NOFILE hard limit %llu is too low for %d clients",
                 (unsigned long long)rl.rlim_max, CLIENTS);

    struct metrics_registry *reg = sample_registry();
    int port;
    struct metrics_http *h = start(reg, NULL, &port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t reqlen = strlen(req);
    struct client *cl = calloc(CLIENTS, sizeof(*cl));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(cl[i].fd >= 0);
        int rc = connect(cl[i].fd, (struct sockaddr *)&sa, sizeof(sa));
        assert_true(rc == 0 || errno == EINPROGRESS);
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
        assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev), 0);
    }
    int done = 0, ok = 0;
    uint64_t t0 = clock_mono_ms();
    while (done < CLIENTS && clock_mono_ms() - t0 < 60000) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int e = 0; e < n; e++) {
            struct client *c = &cl[evs[e].data.u32];
            if (c->done)
                continue;
            if ((evs[e].events & EPOLLOUT) && c->sent < reqlen) {
                ssize_t w = send(c->fd, req + c->sent, reqlen - c->sent, MSG_NOSIGNAL);
                if (w > 0)
                    c->sent += (size_t)w;
                if (c->sent == reqlen) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[e].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    if (c->got + 4096 + 1 > c->cap) {
                        c->cap = c->cap ? 2 * c->cap : 8192;
                        c->buf = realloc(c->buf, c->cap);
                    }
                    ssize_t r = recv(c->fd, c->buf + c->got, c->cap - c->got - 1, 0);
                    if (r > 0) {
                        c->got += (size_t)r;
                        continue;
                    }
                    if (r < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    c->done = true; /* EOF or error */
                    done++;
                    c->buf[c->got] = '\0';
                    struct resp rr;
                    if (parse_resp(c->buf, c->got, &rr) && rr.status == 200 &&
                        rr.content_length == (long)rr.body_len && rr.body_len > 0)
                        ok++;
                    close(c->fd);
                    break;
                }
            }
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        if (!cl[i].done)
            close(cl[i].fd);
        free(cl[i].buf);
    }
    free(cl);
    close(ep);
    if (ok != CLIENTS)
        fail_msg("%d of %d scrapes answered with a complete 200 (%d finished) in %llu ms", ok,
                 CLIENTS, done, (unsigned long long)(clock_mono_ms() - t0));
    metrics_http_stop(h);
    metrics_registry_destroy(reg);
}

/* ---- start-up errors, IPv6, stop ---- */

static void test_http_start_errors(void **state)
{
    (void)state;
    struct metrics_registry *reg = metrics_registry_create();
    static const char *const bad[] = {
        "nonsense",        "127.0.0.1",      "127.0.0.1:",     ":9477",
        "::1:9477",        "[::1]",          "[::1]9477",      "999.0.0.1:9477",
        "127.0.0.1:99999", "localhost:9477", "127.0.0.1:http",
    };
    for (size_t i = 0; i < N(bad); i++) {
        char err[256] = "";
        struct metrics_http *h = metrics_http_start(reg, bad[i], NULL, err, sizeof(err));
        if (h) {
            metrics_http_stop(h);
            fail_msg("start %s: got an endpoint, want an error", bad[i]);
        }
        if (strncmp(err, "metrics: ", 9) != 0)
            fail_msg("start %s: error message \"%s\"", bad[i], err);
    }
    /* a port in use */
    int port;
    struct metrics_http *h = start(reg, NULL, &port);
    char addr[64], err[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct metrics_http *h2 = metrics_http_start(reg, addr, NULL, err, sizeof(err));
    assert_null(h2);
    assert_non_null(strstr(err, "in use"));
    metrics_http_stop(h);

    /* IPv6 loopback, where the host has it */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&s6, sizeof(s6)) == 0;
    if (probe >= 0)
        close(probe);
    if (have_v6) {
        h = metrics_http_start(reg, "[::1]:0", NULL, err, sizeof(err));
        if (!h)
            fail_msg("start [::1]:0: %s", err);
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        s6.sin6_port = htons((uint16_t)metrics_http_port(h));
        assert_int_equal(connect(fd, (struct sockaddr *)&s6, sizeof(s6)), 0);
        send_all(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25);
        size_t n;
        char *raw = read_until_eof(fd, &n, 5000);
        assert_non_null(raw);
        assert_non_null(strstr(raw, "HTTP/1.1 200 OK\r\n"));
        free(raw);
        close(fd);
        metrics_http_stop(h);
    }
    metrics_http_stop(NULL);
    metrics_registry_destroy(reg);
}

static void test_http_stop_with_open_conns(void **state)
{
    (void)state;
    struct metrics_registry *reg = sample_registry();
    int port;
    struct metrics_http *h = start(reg, NULL, &port);
    int idle = connect_lo(port, 0);
    int partial = connect_lo(port, 0);
    send_all(partial, "GET /met", 8);
    usleep(50 * 1000);
    uint64_t t0 = clock_mono_ms();
    metrics_http_stop(h);
    assert_true(clock_mono_ms() - t0 < 1000);
    size_t n;
    char *rest = read_until_eof(idle, &n, 1000);
    assert_non_null(rest); /* closed by stop */
    free(rest);
    rest = read_until_eof(partial, &n, 1000);
    assert_non_null(rest);
    free(rest);
    close(idle);
    close(partial);
    metrics_registry_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_routes),
        cmocka_unit_test(test_http_body_parses),
        cmocka_unit_test(test_http_slowloris),
        cmocka_unit_test(test_http_conn_cap),
        cmocka_unit_test(test_http_large_body_slow_reader),
        cmocka_unit_test(test_http_write_timeout),
        cmocka_unit_test(test_http_1000_concurrent),
        cmocka_unit_test(test_http_start_errors),
        cmocka_unit_test(test_http_stop_with_open_conns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
