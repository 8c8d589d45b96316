/* engine/spf.h - RFC 7208 check_host(): the SPF evaluator.
 *
 * Pure and re-entrant: the evaluator never does I/O. It reads DNS answers from a per-check
 * memo (struct spf_memo). When an answer it needs is missing, it records the lookup as
 * wanted and returns SPF_PENDING; the caller (the daemon's SPF stage, `greyspf spf`, the
 * replay tests) issues the wanted lookups - in parallel - puts the answers into the memo as
 * they arrive and calls spf_eval() again, which re-runs from the top with the memo until it
 * completes (DESIGN.md). Lookups a record makes certain or likely (include:, redirect=,
 * a:, mx: targets) are recorded as wanted prefetches at the time the record is parsed, so a
 * cold check costs about depth x RTT; prefetches never change results or limit counting
 * (counting follows the evaluation, not the memo).
 *
 * Implemented to the letter of RFC 7208: record selection (4.5), every mechanism (5) and
 * modifier (6), macros (7) incl. exp= with %{c} %{r} %{t}, the limits (4.6.4: 10
 * DNS-querying terms, 2 void lookups, 10 MX/PTR names), CIDR lengths, IPv4-mapped IPv6
 * clients evaluated as IPv4, HELO and MAIL FROM identities, null sender = postmaster@<helo>.
 * A DNSSEC-bogus answer is a temporary error. */
#ifndef GREYSPF_ENGINE_SPF_H
#define GREYSPF_ENGINE_SPF_H
#include <stdbool.h>
#include <stdint.h>

#include "dns/dns.h"
#include "engine/base/arena.h"
#include "engine/cidr.h"

enum spf_result {
    SPF_RESULT_NONE = 0,
    SPF_RESULT_NEUTRAL,
    SPF_RESULT_PASS,
    SPF_RESULT_FAIL,
    SPF_RESULT_SOFTFAIL,
    SPF_RESULT_TEMPERROR,
    SPF_RESULT_PERMERROR,
};
#define SPF_RESULT_COUNT 7
/* "none" "neutral" "pass" "fail" "softfail" "temperror" "permerror" */
const char *spf_result_name(enum spf_result r);
/* spf_result_parse - the inverse; -1 if unknown */
int spf_result_parse(const char *s);

enum spf_identity { SPF_ID_MAILFROM = 0, SPF_ID_HELO };

struct spf_query {
    struct ip_addr ip;       /* the client; IPv4-mapped IPv6 is evaluated as IPv4 */
    const char *sender;      /* MAIL FROM as given ("" = null sender); for SPF_ID_HELO ignored */
    const char *helo;        /* HELO/EHLO as given, garbage included */
    enum spf_identity identity;
    const char *receiver;    /* %{r}; NULL -> "unknown" */
    int64_t now_s;           /* %{t} */
    const char *default_exp; /* explanation for fail when the record has no usable exp=;
                              * NULL -> none */
    bool trace;              /* collect a human-readable evaluation trace in the outcome */
};

struct spf_outcome {
    enum spf_result result;
    bool secure;              /* every DNS answer the result depended on was DNSSEC-secure */
    const char *domain;       /* the <domain> of the top check_host() (lower case) */
    const char *sender;       /* the <sender> used (postmaster@helo for the null sender) */
    const char *mechanism;    /* the mechanism that matched, as written, or "default" */
    const char *explanation;  /* fail only: expanded exp= text or default_exp; else NULL */
    const char *problem;      /* permerror/temperror/none: a short reason for logs */
    const char *trace;        /* when query.trace: lines, "\n"-separated, indented by depth */
    unsigned dns_terms;       /* DNS-querying terms counted (RFC 7208 4.6.4) */
    unsigned void_lookups;
};

struct spf_memo;

/* spf_memo_create - an empty memo for one check. Caller frees with spf_memo_destroy. */
struct spf_memo *spf_memo_create(void);
void spf_memo_destroy(struct spf_memo *m); /* NULL is a no-op */
/* spf_memo_put - store the answer for (a->qname, a->type) (copied) */
void spf_memo_put(struct spf_memo *m, const struct dns_answer *a);

/* spf_memo_take_wanted - call cb(arg, name, type, needed) for each lookup that the last
 * spf_eval wanted and that was not handed out before, then mark them handed out. `needed`
 * is true when the evaluation is blocked on it, false for a prefetch. Returns the count. */
typedef void (*spf_wanted_cb)(void *arg, const char *name, enum dns_type type, bool needed);
unsigned spf_memo_take_wanted(struct spf_memo *m, spf_wanted_cb cb, void *arg);
/* spf_memo_blocked - handed-out lookups the evaluation is blocked on without an answer yet:
 * re-run spf_eval when this drops (e.g. to 0, or whenever one arrives) */
unsigned spf_memo_blocked(const struct spf_memo *m);

enum spf_status { SPF_DONE = 0, SPF_PENDING = 1 };

/* spf_eval - run check_host() for q over the memo. SPF_DONE: *out is filled (strings in a).
 * SPF_PENDING: more DNS answers are needed (see spf_memo_take_wanted); *out is untouched.
 * Never blocks. The caller enforces the overall deadline (temperror when it passes: use
 * spf_outcome_timeout). */
enum spf_status spf_eval(const struct spf_query *q, struct spf_memo *m, struct arena *a,
                         struct spf_outcome *out);
/* spf_outcome_timeout - the outcome for a check whose deadline passed (temperror) */
void spf_outcome_timeout(const struct spf_query *q, struct arena *a, struct spf_outcome *out);

#endif
