/* engine/server.c - server lifecycle: listeners, threads, signals, reload, drain.
 * The main thread owns the listeners and the runtime swap; see server.h and server_int.h. */
#include "engine/server.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/server_int.h"
#include "engine/spf_cache.h"
#include "engine/control.h"
#include "metrics/metrics_http.h"
#include "engine/stage_spf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

/* --- runtime (config + pipeline) ------------------------------------------------------- */

static struct runtime *runtime_new(struct server *s, struct config *cfg)
{
    struct runtime *rt = xcalloc(1, sizeof(*rt));
    atomic_init(&rt->refs, 1);
    rt->cfg = cfg;
    rt->pl = pipeline_create(cfg, &s->res);
    return rt;
}

void runtime_release(struct runtime *rt)
{
    if (!rt)
        return;
    /* acq_rel: the last owner must see every other owner's use complete before freeing */
    if (atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) == 1) {
        pipeline_destroy(rt->pl);
        config_free(rt->cfg);
        free(rt);
    }
}

struct runtime *runtime_acquire(struct server *s, unsigned *gen)
{
    pthread_mutex_lock(&s->rt_mu);
    struct runtime *rt = s->rt;
    /* relaxed: rt_mu orders the reference against a concurrent swap */
    atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
    *gen = atomic_load_explicit(&s->rt_gen, memory_order_relaxed);
    pthread_mutex_unlock(&s->rt_mu);
    return rt;
}

void runtime_refresh(struct server *s, struct runtime **rt, unsigned *gen)
{
    /* relaxed: a hint; the swap itself is read under rt_mu in runtime_acquire */
    if (atomic_load_explicit(&s->rt_gen, memory_order_relaxed) == *gen)
        return;
    struct runtime *old = *rt;
    *rt = runtime_acquire(s, gen);
    runtime_release(old);
}

/* runtime_swap - install cfg as the current runtime (main thread) */
static void runtime_swap(struct server *s, struct config *cfg)
{
    struct runtime *rt = runtime_new(s, cfg);
    pthread_mutex_lock(&s->rt_mu);
    struct runtime *old = s->rt;
    s->rt = rt;
    /* relaxed: readers take the pointer under rt_mu */
    atomic_fetch_add_explicit(&s->rt_gen, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->rt_mu);
    runtime_release(old);
}

/* --- listeners ------------------------------------------------------------------------------ */

/* listen_unix - bind a unix socket at spec->path, replacing a stale socket file only */
static int listen_unix(const struct config *cfg, const struct listen_spec *spec,
                       struct listener *l, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(spec->path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "listen %s: path too long", spec->text);
        return -1;
    }
    strcpy(sa.sun_path, spec->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", spec->text, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(spec->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "listen %s: exists and is not a socket", spec->text);
            goto fail;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "listen %s: another process is listening there", spec->text);
            goto fail;
        }
        if (probe >= 0)
            close(probe);
        unlink(spec->path); /* stale socket from a previous run */
    }
    mode_t old = umask(0177); /* no window where the socket is wider than asked */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "listen %s: bind: %s", spec->text, strerror(errno));
        goto fail;
    }
    l->unlink_path = xstrdup(spec->path);
    if (cfg->socket_group) {
        struct group *g = getgrnam(cfg->socket_group);
        if (!g) {
            snprintf(err, errlen, "listen %s: socket_group %s: no such group", spec->text,
                     cfg->socket_group);
            goto fail;
        }
        if (chown(spec->path, (uid_t)-1, g->gr_gid) < 0) {
            snprintf(err, errlen, "listen %s: chown to group %s: %s", spec->text,
                     cfg->socket_group, strerror(errno));
            goto fail;
        }
    }
    if (chmod(spec->path, cfg->socket_mode) < 0) {
        snprintf(err, errlen, "listen %s: chmod %o: %s", spec->text, cfg->socket_mode,
                 strerror(errno));
        goto fail;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "listen %s: listen: %s", spec->text, strerror(errno));
        goto fail;
    }
    l->fd = fd;
    return 0;
fail:
    close(fd);
    return -1;
}

/* listen_inet - bind every address HOST:PORT resolves to numerically */
static int listen_inet(const struct listen_spec *spec, struct listener *l, char *err,
                       size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    const char *host = spec->host;
    if (!host) { /* any: one IPv6 socket that also takes IPv4 (v6only off) */
        hints.ai_family = AF_INET6;
        host = "::";
    }
    int rc = getaddrinfo(host, spec->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", spec->text, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", spec->text, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec->host ? &one : &zero, sizeof(int));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "listen %s: %s", spec->text, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    l->fd = fd;
    return 0;
}

/* --- scrape-time metrics ------------------------------------------------------------------ */

/* relaxed loads throughout: gauges read at scrape time, no ordering needed */
static double cb_connections(void *arg, size_t i)
{
    (void)i;
    struct server *s = arg;
    return (double)atomic_load_explicit(&s->n_conns, memory_order_relaxed);
}

static double cb_queue_depth(void *arg, size_t i)
{
    struct server *s = arg;
    if (i == 0)
        return (double)mpmc_queue_size_approx(s->requests);
    size_t n = 0;
    for (unsigned k = 0; k < s->n_io; k++)
        n += mpmc_queue_size_approx(s->io[k].replies);
    return (double)n;
}

static double cb_parked(void *arg, size_t i)
{
    (void)i;
    struct server *s = arg;
    return (double)atomic_load_explicit(&s->parked, memory_order_relaxed);
}

static double cb_log_dropped(void *arg, size_t i)
{
    (void)arg;
    (void)i;
    return (double)log_dropped();
}

static double cb_spf_cache(void *arg, size_t i)
{
    struct server *s = arg;
    if (!s->res.spf_cache)
        return 0;
    size_t entries;
    uint64_t hits, misses;
    spf_cache_stats(s->res.spf_cache, &entries, &hits, &misses);
    return (double)(i == 0 ? hits : i == 1 ? misses : entries);
}

/* register_callbacks - the gauges computed at scrape time */
static void register_callbacks(struct server *s)
{
    static const char *const queues[] = {"requests", "replies"};
    static const struct metrics_label l_queue[] = {{"queue", queues, 2}};
    static const char *const lookups[] = {"hit", "miss"};
    static const struct metrics_label l_lookup[] = {{"result", lookups, 2}};
    const struct {
        struct metrics_family_desc d;
        enum metrics_type t;
        metrics_value_cb cb;
    } fams[] = {
        {{"greyspf_connections", "Open policy client connections.", NULL, 0}, METRICS_GAUGE,
         cb_connections},
        {{"greyspf_queue_depth", "Items waiting in the request ring and the reply rings.",
          l_queue, 1},
         METRICS_GAUGE,
         cb_queue_depth},
        {{"greyspf_requests_parked", "Requests waiting on DNS (asynchronous stages).", NULL, 0},
         METRICS_GAUGE,
         cb_parked},
        {{"greyspf_log_dropped_total", "Log lines dropped because the log sink was too slow.",
          NULL, 0},
         METRICS_COUNTER,
         cb_log_dropped},
        {{"greyspf_spf_cache_lookups_total", "SPF outcome cache lookups.", l_lookup, 1},
         METRICS_COUNTER,
         cb_spf_cache},
    };
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        int rc = metrics_callback_register(s->dm.reg, &fams[i].d, fams[i].t, fams[i].cb, s);
        if (rc)
            PANIC("metrics: %s: %s", fams[i].d.name, metrics_strerror(rc));
    }
}

/* --- control commands ------------------------------------------------------------------- */

/* cmd_status - `greyspf status`: version, uptime, load */
static int cmd_status(void *arg, int argc, char **argv, struct control_out *o)
{
    (void)argv;
    struct server *s = arg;
    if (argc != 1)
        return control_fail(o, "usage: status");
    /* relaxed: gauges */
    unsigned conns = atomic_load_explicit(&s->n_conns, memory_order_relaxed);
    unsigned parked = atomic_load_explicit(&s->parked, memory_order_relaxed);
    long long up = (long long)(clock_wall_s() - s->started_s);
    if (o->json)
        control_printf(o,
                       "{\"version\":\"%s\",\"uptime_s\":%lld,\"connections\":%u,"
                       "\"requests_parked\":%u,\"workers\":%u,\"io_threads\":%u}\n",
                       GREYSPF_VERSION, up, conns, parked, s->n_workers, s->n_io);
    else
        control_printf(o,
                       "version %s\nuptime_s %lld\nconnections %u\nrequests_parked %u\n"
                       "workers %u\nio_threads %u\n",
                       GREYSPF_VERSION, up, conns, parked, s->n_workers, s->n_io);
    return 0;
}

/* --- lifecycle -------------------------------------------------------------------------------- */

void server_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* new_epoll_with_eventfd - an epoll set holding a fresh non-blocking eventfd */
static int new_epoll_with_eventfd(int *efd, void *tag)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    *efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || *efd < 0)
        PANIC("server: epoll/eventfd: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, *efd, &ev) < 0)
        PANIC("server: epoll_ctl(eventfd): %s", strerror(errno));
    return ep;
}

struct server *server_create(struct config *cfg, char *err, size_t errlen)
{
    struct server *s = xcalloc(1, sizeof(*s));
    s->boot = cfg;
    pthread_mutex_init(&s->rt_mu, NULL);
    int mrc = daemon_metrics_init(&s->dm);
    if (mrc)
        PANIC("metrics: %s", metrics_strerror(mrc));
    register_callbacks(s);
    s->listeners = xcalloc(cfg->n_listen, sizeof(*s->listeners));
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct listener *l = &s->listeners[i];
        l->kind = EV_LISTENER;
        l->fd = -1;
        l->spec = &cfg->listen[i];
        s->n_listeners = i + 1;
        int rc = l->spec->kind == LISTEN_UNIX ? listen_unix(cfg, l->spec, l, err, errlen)
                                              : listen_inet(l->spec, l, err, errlen);
        if (rc < 0)
            goto fail;
    }
    if (cfg->spf_enabled && stage_spf_probe(cfg, err, errlen) != 0)
        goto fail; /* e.g. a bad trust anchor: fail at start, not at the first request */
    /* the SPF cache outlives reloads; enabling SPF by reload gets one too */
    if (cfg->spf_cache_entries)
        s->res.spf_cache = spf_cache_create(cfg->spf_cache_entries,
                                            (uint32_t)(cfg->spf_cache_max_ttl_ms / 1000));
    if (cfg->control_path) {
        char cerr[512];
        s->control = control_create(cfg->control_path, cerr, sizeof(cerr));
        if (!s->control) { /* the policy service matters more than its admin socket */
            fprintf(stderr, "greyspfd: warning: %s; admin commands unavailable\n", cerr);
        } else {
            control_register(s->control, "status", "status               version, uptime, load",
                             cmd_status, s);
        }
    }
    /* one request in flight per connection: 2 x max_connections can never fill */
    size_t cap = 2 * (size_t)cfg->max_connections + 64;
    s->requests = mpmc_queue_create(cap);
    s->n_io = cfg->io_threads;
    s->io = xcalloc(s->n_io, sizeof(*s->io));
    for (unsigned i = 0; i < s->n_io; i++) {
        struct io_thread *io = &s->io[i];
        io->srv = s;
        io->idx = i;
        io->wake_kind = EV_WAKE;
        io->epfd = new_epoll_with_eventfd(&io->efd, &io->wake_kind);
        io->replies = mpmc_queue_create(cap);
        io->lru.prev = io->lru.next = &io->lru;
    }
    s->n_workers = cfg->workers;
    s->workers = xcalloc(s->n_workers, sizeof(*s->workers));
    for (unsigned i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        w->srv = s;
        w->idx = i;
        w->epfd = new_epoll_with_eventfd(&w->efd, &w->efd);
        w->env.epfd = w->epfd;
    }
    /* the boot config is the first runtime's; boot_rt keeps it (and the listen specs the
     * listeners point into) alive across reloads */
    s->rt = runtime_new(s, cfg);
    s->boot_rt = s->rt;
    atomic_fetch_add_explicit(&s->rt->refs, 1, memory_order_relaxed);
    return s;
fail:
    server_destroy(s);
    return NULL;
}

void server_destroy(struct server *s)
{
    if (!s)
        return;
    control_destroy(s->control); /* unlinks the socket; NULL if run() already did */
    s->control = NULL;
    for (size_t i = 0; i < s->n_listeners; i++) {
        struct listener *l = &s->listeners[i];
        if (l->fd >= 0)
            close(l->fd);
        if (l->unlink_path) {
            unlink(l->unlink_path);
            free(l->unlink_path);
        }
    }
    free(s->listeners);
    for (unsigned i = 0; s->io && i < s->n_io; i++) {
        close(s->io[i].epfd);
        close(s->io[i].efd);
        mpmc_queue_destroy(s->io[i].replies);
    }
    free(s->io);
    for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
        close(s->workers[i].epfd);
        close(s->workers[i].efd);
    }
    free(s->workers);
    mpmc_queue_destroy(s->requests);
    runtime_release(s->rt);
    if (s->boot_rt)
        runtime_release(s->boot_rt);
    else
        config_free(s->boot); /* failed before the first runtime took it */
    spf_cache_destroy(s->res.spf_cache); /* after every runtime that used it */
    daemon_metrics_fini(&s->dm);         /* after the endpoint and every thread stopped */
    pthread_mutex_destroy(&s->rt_mu);
    free(s);
}

/* listen_same - whether two configs' listen lists are equal (text as written) */
static bool listen_same(const struct config *a, const struct config *b)
{
    if (a->n_listen != b->n_listen)
        return false;
    for (size_t i = 0; i < a->n_listen; i++)
        if (strcmp(a->listen[i].text, b->listen[i].text) != 0)
            return false;
    return true;
}

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* reload - SIGHUP: load the config file again and swap it in, or keep the old one */
static void reload(struct server *s)
{
    struct config_error e;
    struct config *c = config_load(s->boot->path, &e);
    if (!c) {
        log_error("config: reload failed, keeping the running configuration: %s", e.msg);
        metrics_counter_add_shared(s->dm.reg, s->dm.reloads[1], 1);
        return;
    }
    const struct config *b = s->boot;
    if (c->spf_enabled && !s->res.spf_cache && c->spf_cache_entries)
        log_warn("config: the SPF outcome cache is created at start; restart to enable it");
    if (!listen_same(b, c) || b->workers != c->workers || b->io_threads != c->io_threads ||
        b->max_connections != c->max_connections || !str_same(b->state_dir, c->state_dir) ||
        !str_same(b->metrics_listen, c->metrics_listen) ||
        !str_same(b->control_path, c->control_path) ||
        b->socket_mode != c->socket_mode || !str_same(b->socket_group, c->socket_group))
        log_warn("config: listen, workers, io_threads, max_connections, state_dir, metrics and "
                 "socket_* changes take effect only after a restart");
    if (!str_same(b->dns_forwarder, c->dns_forwarder) || b->dns_dnssec != c->dns_dnssec ||
        b->dns_timeout_ms != c->dns_timeout_ms || b->dns_cache_bytes != c->dns_cache_bytes ||
        b->dns_no_local_zones != c->dns_no_local_zones ||
        !str_same(b->dns_trust_anchor_file, c->dns_trust_anchor_file))
        log_warn("config: [dns] changes take effect only after a restart");
    log_set_level((enum log_level)c->log_level);
    runtime_swap(s, c);
    metrics_counter_add_shared(s->dm.reg, s->dm.reloads[0], 1);
    log_info("config: reloaded %s", c->path);
}

int server_run(struct server *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        log_error("server: signalfd: %s", strerror(errno));
        return 1;
    }
    if (s->boot->metrics_listen) {
        char err[256];
        s->http = metrics_http_start(s->dm.reg, s->boot->metrics_listen, NULL, err, sizeof(err));
        if (!s->http) {
            log_error("server: metrics endpoint %s: %s", s->boot->metrics_listen, err);
            close(sfd);
            return 1;
        }
        log_info("server: metrics on http://%s/metrics", s->boot->metrics_listen);
    }
    s->started_s = clock_wall_s();
    if (s->control && control_start(s->control) != 0) {
        log_error("server: cannot start the control thread");
        control_destroy(s->control);
        s->control = NULL;
    }
    for (unsigned i = 0; i < s->n_workers; i++)
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
            PANIC("server: cannot start worker %u", i);
    for (unsigned i = 0; i < s->n_io; i++)
        if (pthread_create(&s->io[i].thread, NULL, io_thread_main, &s->io[i]) != 0)
            PANIC("server: cannot start I/O thread %u", i);
    for (size_t i = 0; i < s->n_listeners; i++)
        log_info("server: listening on %s", s->listeners[i].spec->text);
    log_info("server: ready: %u I/O threads, %u workers, max_connections %u", s->n_io,
             s->n_workers, s->boot->max_connections);

    for (;;) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            PANIC("server: poll: %s", strerror(errno));
        }
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
            continue;
        if (si.ssi_signo == SIGHUP) {
            reload(s);
            continue;
        }
        log_info("server: %s received: draining", strsignal((int)si.ssi_signo));
        break;
    }
    close(sfd);

    struct runtime *rt = runtime_acquire(s, &(unsigned){0});
    s->drain_deadline_ms = clock_mono_ms() + rt->cfg->drain_timeout_ms;
    runtime_release(rt);
    /* release: I/O threads read drain_deadline_ms after seeing draining (acquire) */
    atomic_store_explicit(&s->draining, true, memory_order_release);
    for (unsigned i = 0; i < s->n_io; i++)
        wake_fd(s->io[i].efd);
    for (unsigned i = 0; i < s->n_io; i++)
        pthread_join(s->io[i].thread, NULL);
    /* release: workers exit once they see stopping and an empty ring */
    atomic_store_explicit(&s->stopping, true, memory_order_release);
    for (unsigned i = 0; i < s->n_workers; i++)
        wake_fd(s->workers[i].efd);
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i].thread, NULL);
    for (unsigned i = 0; i < s->n_io; i++)
        io_thread_reap(&s->io[i]);
    metrics_http_stop(s->http);
    s->http = NULL;
    control_destroy(s->control); /* before the state its commands read goes away */
    s->control = NULL;
    log_info("server: stopped");
    return 0;
}
