/* engine/spf_check.h - one SPF check driven to completion over an asynchronous resolver.
 *
 * Glue between the pure evaluator (spf.h) and dns/: runs spf_eval, issues the lookups it
 * wants (needed ones and prefetches, all in parallel), feeds answers into the memo and
 * re-runs the evaluation when a lookup it was blocked on arrives, until it completes or the
 * check's deadline passes (temperror). Used by the daemon's SPF stage (one resolver per
 * worker, many checks in flight) and by `greyspf spf` (one check). Not thread-safe: a check
 * lives on its resolver's thread. */
#ifndef GREYSPF_ENGINE_SPF_CHECK_H
#define GREYSPF_ENGINE_SPF_CHECK_H
#include <stdint.h>

#include "dns/dns.h"
#include "engine/base/arena.h"
#include "engine/spf.h"

struct spf_check;

/* spf_check_cb - the check finished; out (and its strings, in the check's arena) is valid
 * during the call. The callback may free the check. */
typedef void (*spf_check_cb)(void *arg, struct spf_check *c, const struct spf_outcome *out);

/* spf_check_start - begin checking q (copied; its strings must outlive the check, e.g. in
 * a). Outcome strings go into arena a, which must outlive the check. deadline_ms: absolute,
 * CLOCK_MONOTONIC. Returns the check. If it completed without waiting (no DNS needed, or the
 * deadline already passed), spf_check_done() returns the outcome and cb will not run;
 * otherwise cb runs exactly once, later, from dns_resolver_process or spf_check_expire. */
struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_query *q,
                                  struct arena *a, uint64_t now_ms, uint64_t deadline_ms,
                                  spf_check_cb cb, void *arg);
/* spf_check_done - the outcome if the check has completed (cb will not run), else NULL */
const struct spf_outcome *spf_check_done(const struct spf_check *c);
/* spf_check_deadline_ms - the check's absolute deadline */
uint64_t spf_check_deadline_ms(const struct spf_check *c);
/* spf_check_expire - if now_ms is past the deadline: cancel outstanding lookups and finish
 * with temperror (cb runs). Returns 1 if it expired the check, else 0. */
int spf_check_expire(struct spf_check *c, uint64_t now_ms);
/* spf_check_free - cancel outstanding lookups (their callbacks never run) and free.
 * NULL is a no-op. */
void spf_check_free(struct spf_check *c);

/* spf_check_observe - call fn(arg, answer) for every DNS answer the check receives from now
 * on (for metrics); answers never arrive inside spf_check_start, so set it right after */
typedef void (*spf_check_observer)(void *arg, const struct dns_answer *a);
void spf_check_observe(struct spf_check *c, spf_check_observer fn, void *arg);

/* spf_check_ttl_s - the smallest TTL of the answers received so far (how long the outcome
 * may be cached); UINT32_MAX if none arrived; 0 after a failed or expired lookup */
uint32_t spf_check_ttl_s(const struct spf_check *c);

/* spf_check_lookups_trace - with q->trace: one line per lookup issued,
 * "name TYPE status n=N ms=M [secure] [prefetch]", in the arena; else NULL */
const char *spf_check_lookups_trace(const struct spf_check *c);

#endif
