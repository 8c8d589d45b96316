/* engine/server.c - server lifecycle: listeners, threads, signals, reload, drain.
 * The main thread owns the listeners and the runtime swap; see server.h and server_int.h. */
#include "engine/server.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/server_int.h"
#include "engine/spf_cache.h"
#include "engine/control.h"
#include "engine/greylist.h"
#include "engine/greylist_admin.h"
#include "engine/sd_notify.h"
#include "metrics/metrics_http.h"
#include "engine/stage_spf.h"
#include "kv/kv.h"

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
#define WAL_SYNC_INTERVAL_MS 1000

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

/* --- the greylisting store ------------------------------------------------------------------ */

/* awl_loader - fill the AWL hint from the store (its own thread: a big store takes seconds,
 * and until it is done every request simply reads its network's AWL record) */
static void *awl_loader(void *arg)
{
    struct server *s = arg;
    pthread_setname_np(pthread_self(), "greyspf-awl");
    pthread_mutex_lock(&s->rt_mu);
    struct kv *kv = s->res.kv;
    struct greylist_awl_hint *h = s->res.awl_hint;
    pthread_mutex_unlock(&s->rt_mu);
    uint64_t t0 = clock_mono_ms();
    int rc = greylist_awl_hint_load(h, kv, clock_wall_s(), &s->awl_loader_stop);
    if (rc < 0)
        log_error("greylist: reading the auto-whitelisted networks failed (%s): every request "
                  "reads its network's AWL record",
                  kv_strerror(rc));
    else if (rc == 0)
        log_info("greylist: auto-whitelisted networks read in %llu ms",
                 (unsigned long long)(clock_mono_ms() - t0));
    return NULL;
}

/* start_awl_loader - once s->res.kv and awl_hint are published */
static void start_awl_loader(struct server *s)
{
    atomic_init(&s->awl_loader_stop, false);
    int e = pthread_create(&s->awl_loader, NULL, awl_loader, s);
    if (e != 0) /* harmless: the hint stays "maybe" for every network */
        log_error("greylist: cannot start the AWL loader thread: %s", strerror(e));
    s->awl_loader_started = e == 0;
}

/* open_store - open the RocksDB store under state_dir for greylisting into out->kv, load its
 * dynamic whitelist into out->dynwl and make an empty AWL hint (none published yet: the caller
 * does, under rt_mu once threads run, then calls start_awl_loader). 0, or -1 with err filled. */
static int open_store(struct server *s, const struct config *cfg, struct pipeline_res *out,
                      char *err, size_t errlen)
{
    char path[4096], msg[512];
    /* state_dir itself (systemd's StateDirectory makes it; a hand-run daemon may not have
     * it yet): private to the daemon's user */
    if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: %s", cfg->state_dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/greylist", cfg->state_dir);
    struct kv_rocksdb_options o = {.sync = cfg->greylist.sync,
                                   .min_free_bytes = cfg->greylist.min_free_disk};
    int e = 0;
    (void)s;
    struct kv *kv = kv_open_rocksdb(path, &o, &e, msg, sizeof(msg));
    if (!kv) {
        snprintf(err, errlen, "greylist: %s", msg);
        return -1;
    }
    struct greylist_dynwl *wl = greylist_dynwl_load(kv, clock_wall_s(), &e);
    if (!wl) {
        snprintf(err, errlen, "greylist: cannot read the dynamic whitelist in %s: %s", path,
                 kv_strerror(e));
        kv_close(kv);
        return -1;
    }
    out->kv = kv;
    out->dynwl = wl;
    out->awl_hint = greylist_awl_hint_create();
    return 0;
}

/* kv_stat - one kv_stats figure of the store (0 while none is open). The pointer is read
 * under rt_mu (a reload may open the store); the store itself outlives the metrics endpoint. */
static double kv_stat(struct server *s, size_t off)
{
    pthread_mutex_lock(&s->rt_mu);
    struct kv *kv = s->res.kv;
    pthread_mutex_unlock(&s->rt_mu);
    if (!kv)
        return 0;
    struct kv_stats st;
    kv_stats(kv, &st);
    return (double)*(const uint64_t *)((const char *)&st + off);
}

#define KV_STAT_CB(name, field)                                                                    \
    static double name(void *arg, size_t i)                                                        \
    {                                                                                              \
        (void)i;                                                                                   \
        return kv_stat(arg, offsetof(struct kv_stats, field));                                     \
    }
KV_STAT_CB(cb_kv_keys, keys_estimate)
KV_STAT_CB(cb_kv_sst, live_sst_bytes)
KV_STAT_CB(cb_kv_pending, pending_compaction_bytes)
KV_STAT_CB(cb_kv_dropped, expired_dropped)
KV_STAT_CB(cb_kv_bgerr, background_errors)
KV_STAT_CB(cb_kv_memtable, memtable_bytes)
KV_STAT_CB(cb_kv_cache, block_cache_bytes)
KV_STAT_CB(cb_kv_readers, table_readers_bytes)
KV_STAT_CB(cb_kv_free, disk_free_bytes)
KV_STAT_CB(cb_kv_low, low_disk)
KV_STAT_CB(cb_kv_failed, write_failed)
#undef KV_STAT_CB

/* register_kv_callbacks - RocksDB properties of the greylisting store, read at scrape time */
static void register_kv_callbacks(struct server *s)
{
    const struct {
        struct metrics_family_desc d;
        enum metrics_type t;
        metrics_value_cb cb;
    } fams[] = {
        {{"greyspf_kv_keys",
          "Estimated keys in the greylisting store (expired, not yet compacted ones included).",
          NULL, 0},
         METRICS_GAUGE,
         cb_kv_keys},
        {{"greyspf_kv_live_sst_bytes", "Bytes of the store's live SST files.", NULL, 0},
         METRICS_GAUGE,
         cb_kv_sst},
        {{"greyspf_kv_pending_compaction_bytes",
          "Bytes the store's compaction estimates it still has to rewrite.", NULL, 0},
         METRICS_GAUGE,
         cb_kv_pending},
        {{"greyspf_kv_expired_dropped_total", "Expired records removed by compaction.", NULL, 0},
         METRICS_COUNTER,
         cb_kv_dropped},
        {{"greyspf_kv_background_errors_total",
          "RocksDB background errors since start (non-zero: look at the log).", NULL, 0},
         METRICS_COUNTER,
         cb_kv_bgerr},
        {{"greyspf_kv_memtable_bytes", "Bytes of the store's memtables (written, not yet flushed).",
          NULL, 0},
         METRICS_GAUGE,
         cb_kv_memtable},
        {{"greyspf_kv_block_cache_bytes", "Bytes of the store's block cache in use.", NULL, 0},
         METRICS_GAUGE,
         cb_kv_cache},
        {{"greyspf_kv_table_readers_bytes",
          "Bytes of index and Bloom filter blocks the store keeps for its open files (outside "
          "the block cache).",
          NULL, 0},
         METRICS_GAUGE,
         cb_kv_readers},
        {{"greyspf_kv_disk_free_bytes", "Bytes free for the store on its filesystem.", NULL, 0},
         METRICS_GAUGE,
         cb_kv_free},
        {{"greyspf_kv_low_disk",
          "1 while store writes are refused because less than min_free_disk is free "
          "(greylisting passes requests unchecked).",
          NULL, 0},
         METRICS_GAUGE,
         cb_kv_low},
        {{"greyspf_kv_write_failed",
          "1 once a failed store write stopped all writes until a restart (greylisting passes "
          "requests unchecked).",
          NULL, 0},
         METRICS_GAUGE,
         cb_kv_failed},
    };
    for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
        int rc = metrics_callback_register(s->dm.reg, &fams[i].d, fams[i].t, fams[i].cb, s);
        if (rc)
            PANIC("metrics: %s: %s", fams[i].d.name, metrics_strerror(rc));
    }
}

/* bind_listeners - bind every `listen` of the boot config */
static int bind_listeners(struct server *s, char *err, size_t errlen)
{
    const struct config *cfg = s->boot;
    s->listeners = xcalloc(cfg->n_listen, sizeof(*s->listeners));
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct listener *l = &s->listeners[i];
        l->kind = EV_LISTENER;
        l->fd = -1;
        l->spec = &cfg->listen[i];
        l->name = xstrdup(l->spec->text);
        s->n_listeners = i + 1;
        int rc = l->spec->kind == LISTEN_UNIX ? listen_unix(cfg, l->spec, l, err, errlen)
                                              : listen_inet(l->spec, l, err, errlen);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* adopt_listeners - take the sockets systemd passed (socket activation): listening stream
 * sockets, made non-blocking; never unlinked by us */
static int adopt_listeners(struct server *s, const int *fds, int nfds, char *err, size_t errlen)
{
    s->listeners = xcalloc((size_t)nfds, sizeof(*s->listeners));
    for (int i = 0; i < nfds; i++) {
        struct listener *l = &s->listeners[i];
        char name[128];
        l->kind = EV_LISTENER;
        l->fd = fds[i];
        const char *desc = sd_fd_describe(fds[i], name, sizeof(name));
        if (!desc) {
            snprintf(name, sizeof(name), "fd %d", fds[i]);
            desc = name;
        }
        l->name = xstrdup(desc);
        s->n_listeners = (size_t)i + 1;
        int acc = 0;
        socklen_t len = sizeof(acc);
        if (getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 || !acc) {
            snprintf(err, errlen, "socket activation: fd %d (%s) is not a listening socket",
                     fds[i], l->name);
            return -1;
        }
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
            snprintf(err, errlen, "socket activation: fd %d: %s", fds[i], strerror(errno));
            return -1;
        }
    }
    s->activated = true;
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

struct server *server_create(struct config *cfg, const int *fds, int nfds, char *err,
                             size_t errlen)
{
    struct server *s = xcalloc(1, sizeof(*s));
    s->boot = cfg;
    s->res.dns_cfg = cfg; /* [dns] is read at start only (reload warns) */
    pthread_mutex_init(&s->rt_mu, NULL);
    int mrc = daemon_metrics_init(&s->dm);
    if (mrc)
        PANIC("metrics: %s", metrics_strerror(mrc));
    register_callbacks(s);
    register_kv_callbacks(s);
    if (nfds > 0 ? adopt_listeners(s, fds, nfds, err, errlen) : bind_listeners(s, err, errlen))
        goto fail;
    if (config_spf_used(cfg) && stage_spf_probe(cfg, err, errlen) != 0)
        goto fail; /* e.g. a bad trust anchor: fail at start, not at the first request */
    /* the SPF cache outlives reloads; enabling SPF by reload gets one too */
    if (cfg->spf_cache_entries)
        s->res.spf_cache = spf_cache_create(cfg->spf_cache_entries,
                                            (uint32_t)(cfg->spf_cache_max_ttl_ms / 1000));
    /* the greylisting store outlives reloads; enabling greylisting by reload opens it then */
    if (config_greylist_used(cfg)) {
        if (open_store(s, cfg, &s->res, err, errlen) != 0)
            goto fail;
        start_awl_loader(s);
    }
    if (cfg->control_path) {
        char cerr[512];
        s->control = control_create(cfg->control_path, cerr, sizeof(cerr));
        if (!s->control) { /* the policy service matters more than its admin socket */
            fprintf(stderr, "greyspfd: warning: %s; admin commands unavailable\n", cerr);
        } else {
            control_register(s->control, "status", "status               version, uptime, load",
                             cmd_status, s);
            greylist_admin_register(s->control, s); /* list show delete counts whitelist */
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
        free(l->name);
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
    if (s->awl_loader_started) { /* it reads the store: stop it first */
        atomic_store_explicit(&s->awl_loader_stop, true, memory_order_relaxed);
        pthread_join(s->awl_loader, NULL);
    }
    greylist_awl_hint_destroy(s->res.awl_hint); /* likewise */
    greylist_dynwl_destroy(s->res.dynwl); /* likewise */
    kv_close(s->res.kv);                 /* likewise */
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

/* strs_same - whether two string lists are equal, in order */
static bool strs_same(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i], b[i]))
            return false;
    return true;
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
    if (config_greylist_used(c) && !s->res.kv) {
        char err[600];
        struct pipeline_res opened = {0};
        if (open_store(s, c, &opened, err, sizeof(err)) != 0) {
            log_error("config: reload failed, keeping the running configuration: %s", err);
            metrics_counter_add_shared(s->dm.reg, s->dm.reloads[1], 1);
            config_free(c);
            return;
        }
        pthread_mutex_lock(&s->rt_mu); /* the scrape callbacks read it */
        s->res.kv = opened.kv;
        s->res.dynwl = opened.dynwl;
        s->res.awl_hint = opened.awl_hint;
        pthread_mutex_unlock(&s->rt_mu);
        start_awl_loader(s);
    }
    if (s->res.kv && (c->greylist.sync != b->greylist.sync ||
                      c->greylist.min_free_disk != b->greylist.min_free_disk))
        log_warn("config: [greylist] sync and min_free_disk changes take effect only after a "
                 "restart");
    if (config_spf_used(c) && !s->res.spf_cache && c->spf_cache_entries)
        log_warn("config: the SPF outcome cache is created at start; restart to enable it");
    if ((!s->activated && !listen_same(b, c)) || b->workers != c->workers ||
        b->io_threads != c->io_threads ||
        b->max_connections != c->max_connections || !str_same(b->state_dir, c->state_dir) ||
        !str_same(b->metrics_listen, c->metrics_listen) ||
        !str_same(b->control_path, c->control_path) ||
        b->socket_mode != c->socket_mode || !str_same(b->socket_group, c->socket_group))
        log_warn("config: listen, workers, io_threads, max_connections, state_dir, metrics and "
                 "socket_* changes take effect only after a restart");
    if (!str_same(b->dns_forwarder, c->dns_forwarder) || b->dns_dnssec != c->dns_dnssec ||
        b->dns_timeout_ms != c->dns_timeout_ms || b->dns_cache_bytes != c->dns_cache_bytes ||
        b->dns_no_local_zones != c->dns_no_local_zones ||
        !str_same(b->dns_trust_anchor_file, c->dns_trust_anchor_file) ||
        !strs_same(b->dns_trust_anchors, b->n_dns_trust_anchors, c->dns_trust_anchors,
                   c->n_dns_trust_anchors))
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
    if (s->activated)
        log_info("server: using %zu sockets passed by systemd; [server] listen is ignored",
                 s->n_listeners);
    for (size_t i = 0; i < s->n_listeners; i++)
        log_info("server: listening on %s", s->listeners[i].name);
    log_info("server: ready: %u I/O threads, %u workers, max_connections %u", s->n_io,
             s->n_workers, s->boot->max_connections);
    if (sd_notify_send("READY=1") < 0)
        log_warn("server: cannot notify systemd (READY=1)");

    for (;;) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        int pr = poll(&p, 1, WAL_SYNC_INTERVAL_MS);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            PANIC("server: poll: %s", strerror(errno));
        }
        if (pr == 0) {
            /* writes are unsynced (kv sync = no): a process crash loses nothing, and this
             * bounds what an OS crash can lose to about a second of greylist records */
            pthread_mutex_lock(&s->rt_mu);
            struct kv *kv = s->res.kv;
            pthread_mutex_unlock(&s->rt_mu);
            if (kv)
                kv_flush_wal(kv);
            continue;
        }
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
            continue;
        if (si.ssi_signo == SIGHUP) {
            char state[64];
            snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
                     (unsigned long long)clock_mono_us());
            sd_notify_send(state);
            reload(s);
            sd_notify_send("READY=1"); /* also after a failed reload: the old one runs */
            continue;
        }
        log_info("server: %s received: draining", strsignal((int)si.ssi_signo));
        sd_notify_send("STOPPING=1");
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
