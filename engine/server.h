/* engine/server.h - greyspfd's runtime: listeners, I/O threads, worker pool, signals.
 *
 * Threads: the main thread handles signals (SIGHUP reload, SIGTERM/SIGINT drain) through a
 * signalfd; `io_threads` I/O threads accept, read, frame and parse requests and write replies
 * on their own epoll; `workers` worker threads run the decision pipeline. Requests go to the
 * workers through one lock-free MPMC ring; replies come back through a ring per I/O thread.
 * Each connection has at most one request in flight, so replies on one connection are in
 * request order and the rings can never overflow (they hold 2 x max_connections). */
#ifndef GREYSPF_ENGINE_SERVER_H
#define GREYSPF_ENGINE_SERVER_H
#include <stddef.h>

#include "engine/config.h"

struct server;

/* server_block_signals - block the signals the server handles (and ignore SIGPIPE) in the
 * calling thread, so that every thread created afterwards inherits the mask. Call first in
 * main(), before any thread (the log thread included) is started. */
void server_block_signals(void);

/* server_create - bind every listener of cfg and prepare the threads (not started).
 * With nfds > 0 (systemd socket activation, sd_notify.h) the fds are the listeners and
 * cfg's `listen` is ignored; they are owned from now on (fds itself is borrowed).
 * Takes ownership of cfg. Returns NULL with a message in err on failure (cfg is freed). */
struct server *server_create(struct config *cfg, const int *fds, int nfds, char *err,
                             size_t errlen);

/* server_run - start the threads and serve until SIGTERM or SIGINT, then drain: stop
 * accepting, answer requests already received (up to drain_timeout), close, join.
 * SIGHUP reloads cfg->path; a config that fails to load is logged and the old one kept.
 * Returns the process exit status (0 after a clean drain). */
int server_run(struct server *s);

/* server_destroy - close listeners (removing unix socket files) and free. NULL is a no-op. */
void server_destroy(struct server *s);

#endif
