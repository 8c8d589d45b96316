/* loadtest/greyspf-floor.c - the policy protocol's floor: answer "action=DUNNO\n\n" to
 * every request as fast as the machine allows, with no parsing beyond finding the empty
 * line that ends a request. greyspfd's DUNNO path is measured against this.
 *
 * One epoll loop per thread (default: one per core); all share one listening socket,
 * registered with EPOLLEXCLUSIVE so a new connection wakes one thread, which owns it from
 * then on. A connection keeps only "at beginning of line" and the bytes of replies it still
 * owes: request ends are found across reads, several requests in one read (pipelining) get
 * their replies in one write, and a client that doesn't read stops being read (back
 * pressure: EPOLLOUT replaces EPOLLIN until the backlog is written). SIGINT/SIGTERM stop
 * every loop through one eventfd; then the totals go to stderr. */
#include "engine/base/alloc.h"
#include "loadtest/endpoint.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REPLY "action=DUNNO\n\n"
#define REPLY_LEN (sizeof REPLY - 1)
#define PATTERN_REPLIES 512 /* one write() covers this many pipelined replies */
#define READ_BUF 65536
#define MAX_EVENTS 256
#define THREADS_MAX 64

/* REPLY repeated; written once in main() before any thread starts, read-only after */
static char pattern[REPLY_LEN * PATTERN_REPLIES];

struct floor_conn {
    int fd;
    int bol;       /* the next byte starts a line */
    int blocked;   /* waiting for EPOLLOUT, not reading */
    size_t phase;  /* offset of the next byte to send within one REPLY */
    uint64_t owed; /* reply bytes not yet written */
};

struct floor_thread {
    pthread_t tid;
    int epfd;
    int listen_fd, stop_fd; /* shared; their epoll data points at these fields */
    uint64_t requests, accepted;
    char buf[READ_BUF];
};

/* conn_close - forget c */
static void conn_close(struct floor_thread *t, struct floor_conn *c)
{
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* conn_flush - write owed replies; 1 when all written, 0 on EAGAIN, -1 when the peer is gone */
static int conn_flush(struct floor_conn *c)
{
    while (c->owed > 0) {
        size_t len = sizeof pattern - c->phase;
        if (len > c->owed)
            len = (size_t)c->owed;
        ssize_t w = send(c->fd, pattern + c->phase, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        c->owed -= (uint64_t)w;
        c->phase = (c->phase + (size_t)w) % REPLY_LEN;
    }
    return 1;
}

/* count_requests - request ends (empty lines) in buf[0..n), carrying c->bol across reads */
static uint64_t count_requests(struct floor_conn *c, const char *buf, size_t n)
{
    uint64_t ends = 0;
    size_t line = 0; /* start of the current line within buf */
    int bol = c->bol;
    const char *p = buf, *end = buf + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t i = (size_t)(p - buf);
        if (i == line && bol)
            ends++;
        bol = 1;
        line = i + 1;
        p++;
    }
    c->bol = line < n ? 0 : bol;
    return ends;
}

/* conn_event - readiness on c */
static void conn_event(struct floor_thread *t, struct floor_conn *c, uint32_t ev)
{
    if (ev & EPOLLERR) {
        conn_close(t, c);
        return;
    }
    if (c->blocked) {
        int rc = conn_flush(c);
        if (rc < 0) {
            conn_close(t, c);
        } else if (rc > 0) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &e);
            c->blocked = 0;
        }
        return;
    }
    ssize_t n = recv(c->fd, t->buf, sizeof t->buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(t, c);
        return;
    }
    if (n < 0)
        return;
    uint64_t ends = count_requests(c, t->buf, (size_t)n);
    if (ends == 0)
        return;
    t->requests += ends;
    c->owed += ends * REPLY_LEN;
    int rc = conn_flush(c);
    if (rc < 0) {
        conn_close(t, c);
    } else if (rc == 0) {
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &e);
        c->blocked = 1;
    }
}

/* accept_one - take one pending connection (one per wakeup spreads them over threads) */
static void accept_one(struct floor_thread *t)
{
    int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
            fprintf(stderr, "greyspf-floor: accept: %s\n", strerror(errno));
            struct timespec ts = {0, 10 * 1000 * 1000}; /* don't spin on a full fd table */
            nanosleep(&ts, NULL);
        }
        return;
    }
    struct floor_conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->bol = 1;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        close(fd);
        free(c);
        return;
    }
    t->accepted++;
}

/* thread_main - one event loop until the stop eventfd fires. Connections still open then
 * are left to process exit. */
static void *thread_main(void *arg)
{
    struct floor_thread *t = arg;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(t->epfd, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "greyspf-floor: epoll_wait: %s\n", strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &t->stop_fd)
                return NULL;
            if (p == &t->listen_fd)
                accept_one(t);
            else
                conn_event(t, p, evs[i].events);
        }
    }
}

/* raise_nofile - soft RLIMIT_NOFILE up to the hard limit */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: greyspf-floor --listen inet:HOST:PORT|unix:/path [--threads N]\n"
               "                     [--backlog N] [--lifetime SECONDS]\n"
               "Answers action=DUNNO to every policy request. Port 0 picks a free port;\n"
               "the address is printed on stderr. SIGINT/SIGTERM stop it.\n");
}

int main(int argc, char **argv)
{
    const char *listen_s = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN), backlog = 4096, lifetime_s = 0;
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},  {"threads", required_argument, NULL, 't'},
        {"backlog", required_argument, NULL, 'b'}, {"lifetime", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "l:t:h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'l':
            listen_s = optarg;
            break;
        case 't':
            threads = strtol(optarg, &end, 10);
            break;
        case 'b':
            backlog = strtol(optarg, &end, 10);
            break;
        case 'L':
            lifetime_s = strtol(optarg, &end, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (end && (*end || end == optarg)) {
            fprintf(stderr, "greyspf-floor: not a number: %s\n", optarg);
            return 2;
        }
    }
    if (!listen_s || optind != argc || threads < 1 || threads > THREADS_MAX || backlog < 1 ||
        backlog > 65535 || lifetime_s < 0) {
        usage(stderr);
        return 2;
    }
    char why[256];
    struct endpoint ep;
    if (endpoint_parse(listen_s, &ep, why, sizeof why) < 0) {
        fprintf(stderr, "greyspf-floor: %s: %s\n", listen_s, why);
        return 2;
    }
    raise_nofile();
    for (size_t i = 0; i < PATTERN_REPLIES; i++)
        memcpy(pattern + i * REPLY_LEN, REPLY, REPLY_LEN);

    int lfd = endpoint_listen(&ep, (int)backlog);
    if (lfd < 0) {
        fprintf(stderr, "greyspf-floor: listen %s: %s\n", listen_s, strerror(-lfd));
        return 1;
    }
    int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0) {
        fprintf(stderr, "greyspf-floor: eventfd: %s\n", strerror(errno));
        return 1;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited: only sigwait() below sees them */
    signal(SIGPIPE, SIG_IGN);

    struct floor_thread *ts = xcalloc((size_t)threads, sizeof *ts);
    for (long i = 0; i < threads; i++) {
        struct floor_thread *t = &ts[i];
        t->listen_fd = lfd;
        t->stop_fd = stop_fd;
        t->epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event el = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &t->listen_fd};
        struct epoll_event es = {.events = EPOLLIN, .data.ptr = &t->stop_fd};
        if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, lfd, &el) < 0 ||
            epoll_ctl(t->epfd, EPOLL_CTL_ADD, stop_fd, &es) < 0) {
            fprintf(stderr, "greyspf-floor: epoll: %s\n", strerror(errno));
            return 1;
        }
        int rc = pthread_create(&t->tid, NULL, thread_main, t);
        if (rc != 0) {
            fprintf(stderr, "greyspf-floor: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    if (ep.family == AF_UNIX)
        fprintf(stderr, "greyspf-floor: listening on %s, %ld threads\n", ep.text, threads);
    else
        fprintf(stderr, "greyspf-floor: listening on %s (port %u), %ld threads\n", ep.text,
                endpoint_port(&ep), threads);
    if (lifetime_s > 0)
        alarm((unsigned)lifetime_s);

    int sig = 0;
    sigwait(&sigs, &sig);
    uint64_t one = 1;
    if (write(stop_fd, &one, sizeof one) != sizeof one)
        fprintf(stderr, "greyspf-floor: eventfd write: %s\n", strerror(errno));
    uint64_t requests = 0, accepted = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(ts[i].tid, NULL);
        requests += ts[i].requests;
        accepted += ts[i].accepted;
        close(ts[i].epfd);
    }
    close(lfd);
    if (ep.family == AF_UNIX)
        unlink(((struct sockaddr_un *)&ep.addr)->sun_path);
    fprintf(stderr, "greyspf-floor: stopped by %s: %llu connections, %llu requests\n",
            sig == SIGALRM ? "--lifetime" : strsignal(sig), (unsigned long long)accepted,
            (unsigned long long)requests);
    free(ts);
    return 0;
}
