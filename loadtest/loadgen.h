/* loadtest/loadgen.h - one load-generating thread of greyspf-loadtest.
 *
 * Each thread owns an epoll loop and a share of the connections; nothing is shared between
 * threads while they run except the read-only config, workload and regex (regexec is
 * thread-safe). A thread: (1) connects all its connections, at most connect_burst in flight;
 * (2) waits on the start barrier with the other threads and main(); (3) runs load (or, with
 * idle, holds its connections without sending) until its deadline or quota; (4) returns with
 * its stats, which main() merges. Every connection behaves like one Postfix smtpd: one
 * request, wait for the whole reply, then the next.
 *
 * Closed loop (rate 0): a connection sends its next request as soon as a reply arrives;
 * latency = reply time - send time. Open loop (rate > 0): request k of the thread is due at
 * start + k / rate and belongs to connection k mod n; a connection still busy when its turn
 * comes sends late, and latency counts from the due time (no coordinated omission). */
#ifndef GREYSPF_LOADTEST_LOADGEN_H
#define GREYSPF_LOADTEST_LOADGEN_H
#include <pthread.h>
#include <regex.h>
#include <stdint.h>

#include "loadtest/endpoint.h"
#include "loadtest/histogram.h"
#include "loadtest/workload.h"

#define LOADGEN_ACTIONS_MAX 16 /* distinct action keywords counted; the rest are "OTHER" */
#define LOADGEN_KEYWORD_MAX 24
#define LOADGEN_REPLY_MAX 65536 /* a longer reply is malformed */

struct loadgen_config {
    const struct endpoint *ep;
    const struct workload *wl;
    const regex_t *expect;     /* NULL: any action is expected */
    int idle;                  /* hold connections, send nothing */
    int reconnect;             /* reconnect closed connections and retry once (as Postfix) */
    uint64_t timeout_ns;       /* connect and request timeout; 0: none */
    uint64_t warmup_ns;        /* load before measuring */
    uint64_t duration_ns;      /* measured phase (hold time with idle); always bounded */
    uint64_t connect_phase_ns; /* cap on the initial connect phase */
    unsigned connect_burst;    /* connects in flight per thread */
    pthread_barrier_t *start;  /* every thread and main() wait here after connecting */
};

struct loadgen_action {
    char keyword[LOADGEN_KEYWORD_MAX]; /* upper-cased first word of the action */
    uint64_t count;
};

struct loadgen_stats {
    uint64_t requests;      /* replies to measured requests */
    uint64_t err_connect;   /* failed connects (refused, timed out, ...) */
    uint64_t err_closed;    /* closed by the peer with a request unanswered (after the retry,
                               with reconnect), or at all without reconnect */
    uint64_t err_timeout;   /* no complete reply within the timeout */
    uint64_t err_malformed; /* no action=, a line without '=', too long, unsolicited bytes */
    uint64_t unexpected;    /* action not matching --expect (counted in warmup too) */
    uint64_t reconnects;    /* reconnects after a close (with reconnect) */
    uint64_t retries;       /* requests sent again after their connection closed */
    uint64_t established;   /* connections up when the load/hold phase started */
    uint64_t open_at_end;   /* connections up when the thread stopped */
    uint64_t elapsed_ns;    /* length of the measured phase */
    size_t n_actions;
    struct loadgen_action actions[LOADGEN_ACTIONS_MAX];
    uint64_t actions_other;
    struct histogram latency; /* ns, measured requests only */
};

struct loadgen_thread {
    const struct loadgen_config *cfg;        /* borrowed; outlives the thread */
    uint64_t first_conn, n_conns, all_conns; /* stream ids first_conn .. +n_conns of all_conns */
    uint64_t quota;                          /* measured requests to send; UINT64_MAX: no limit */
    double rate;                             /* requests/s of this thread; 0: closed loop */
    struct loadgen_stats stats;              /* filled in by the thread */
};

/* loadgen_thread_main - pthread entry; arg is a struct loadgen_thread *. Returns NULL. */
void *loadgen_thread_main(void *arg);
/* loadgen_stats_init / loadgen_stats_merge - for main() to add the threads up */
void loadgen_stats_init(struct loadgen_stats *s);
void loadgen_stats_merge(struct loadgen_stats *dst, const struct loadgen_stats *src);

#endif
