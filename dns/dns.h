/* dns/dns.h - asynchronous DNS lookups for SPF: A, AAAA, MX, TXT, PTR (and type 99 for
 * diagnostics), with DNSSEC status, our own per-lookup deadline and cancellation.
 *
 * One resolver per DNS-doing thread; a resolver is not thread-safe. Usage from an epoll loop:
 *   r = dns_resolver_create(&cfg, err, sizeof(err));       // all options applied here
 *   epoll_ctl(ep, EPOLL_CTL_ADD, dns_resolver_fd(r), EPOLLIN);
 *   dns_query(r, "example.org", DNS_T_TXT, now_ms, cb, arg, &id);
 *   loop: timeout = dns_resolver_next_timeout_ms(r, now_ms);  // -1: none pending
 *         epoll_wait(..., timeout); dns_resolver_process(r, now_ms);  // runs callbacks
 * Callbacks run only inside dns_resolver_process() (never inside dns_query), on the calling
 * thread, once per query unless cancelled. A query whose deadline passes gets a callback with
 * status DNS_TIMEOUT from dns_resolver_process() and the backend query is cancelled.
 *
 * Backends: libunbound (dns_unbound.c; ub_ctx per resolver, ub_ctx_async(ctx, 1), caches and
 * outgoing-range sized explicitly, forwarder or full recursion, DNSSEC with a trust anchor,
 * bogus -> DNS_BOGUS) and an in-memory fake for tests (dns_fake.c) with the same semantics,
 * answers delivered asynchronously through its own eventfd. */
#ifndef GREYSPF_DNS_DNS_H
#define GREYSPF_DNS_DNS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cidr.h"

enum dns_type {
    DNS_T_A = 1,
    DNS_T_PTR = 12,
    DNS_T_MX = 15,
    DNS_T_TXT = 16,
    DNS_T_AAAA = 28,
    DNS_T_SPF = 99,
};

enum dns_status {
    DNS_OK = 0,       /* rcode 0 with records of the asked type (n >= 1) */
    DNS_NODATA,       /* rcode 0, no records of that type (CNAME chain followed) */
    DNS_NXDOMAIN,     /* rcode 3 */
    DNS_SERVFAIL,     /* rcode 2, or the resolver gave up (libunbound's own timeouts) */
    DNS_TIMEOUT,      /* our deadline passed first */
    DNS_BOGUS,        /* DNSSEC validation failed: treat like a temporary error */
    DNS_ERROR,        /* any other rcode (REFUSED...) or a library failure */
};
const char *dns_status_name(enum dns_status s);
const char *dns_type_name(enum dns_type t);

/* One record of an answer, by type */
struct dns_rr {
    struct ip_addr addr; /* A (as ::ffff:a.b.c.d), AAAA */
    uint16_t pref;       /* MX preference */
    char *name;          /* MX exchange, PTR target: lower-case, no trailing dot, "" = root */
    char *txt;           /* TXT/SPF: the record's character-strings concatenated (RFC 7208
                          * 3.3), NUL-terminated; may contain NUL bytes, see txt_len */
    size_t txt_len;
};

struct dns_answer {
    const char *qname;   /* as asked (lower-cased, no trailing dot) */
    enum dns_type type;
    enum dns_status status;
    int rcode;           /* wire rcode, or -1 when none (timeout, library failure) */
    bool secure;         /* DNSSEC-validated (also for NXDOMAIN/NODATA) */
    uint32_t ttl_s;      /* smallest RR TTL; negative answers: SOA minimum or 0 */
    unsigned n;          /* records in rr (0 unless DNS_OK) */
    struct dns_rr *rr;
    const char *why_bogus; /* DNS_BOGUS: libunbound's reason, else NULL */
    uint32_t elapsed_ms; /* query to answer */
};

/* Answers passed to callbacks are valid only during the callback; copy to keep. */
typedef void (*dns_answer_cb)(void *arg, const struct dns_answer *ans);

struct dns_config {
    const char *forwarder;        /* "ADDR" or "ADDR@PORT" (IPv4/IPv6); NULL: full recursion */
    bool dnssec;                  /* validate (needs a trust anchor) */
    const char *trust_anchor_file;/* NULL with dnssec: /usr/share/dns/root.key; "": none
                                   * (only trust_anchors, e.g. a test zone's own DS) */
    const char *const *trust_anchors; /* extra anchors: "zone. IN DS ..." / DNSKEY, NULL-ended */
    uint32_t timeout_ms;          /* per lookup deadline (our own; default 5000) */
    size_t msg_cache_bytes;       /* default 16 MiB */
    size_t rrset_cache_bytes;     /* default 32 MiB */
    unsigned outgoing_range;      /* default 1024 */
    unsigned max_queries;         /* num-queries-per-thread; default 2048 */
    bool no_local_zones;          /* send every name to the server: make libunbound's default
                                   * local zones (test., invalid., localhost., RFC 6303
                                   * reverse zones...) transparent - for --dns test setups */
};
void dns_config_defaults(struct dns_config *cfg);

struct dns_resolver;

/* dns_resolver_create - a libunbound resolver; every option is applied before the first
 * query and the trust anchor is checked by one synchronous probe when dnssec is on (a bad
 * anchor otherwise fails only at the first query). NULL with a message in err on failure. */
struct dns_resolver *dns_resolver_create(const struct dns_config *cfg, char *err, size_t errlen);
void dns_resolver_destroy(struct dns_resolver *r); /* pending callbacks never run; NULL ok */

/* dns_resolver_fd - readable when dns_resolver_process has answers to deliver */
int dns_resolver_fd(const struct dns_resolver *r);
/* dns_resolver_process - deliver every available answer and expire queries past their
 * deadline (as DNS_TIMEOUT). now_ms: CLOCK_MONOTONIC ms, as for dns_query. */
void dns_resolver_process(struct dns_resolver *r, uint64_t now_ms);
/* dns_resolver_next_timeout_ms - ms until the earliest deadline (0 if already due), -1 if
 * no query is pending */
int64_t dns_resolver_next_timeout_ms(const struct dns_resolver *r, uint64_t now_ms);
/* dns_resolver_pending - queries started and not yet answered or cancelled */
unsigned dns_resolver_pending(const struct dns_resolver *r);

enum dns_err {
    DNS_ERR_NAME = -1,     /* name is not a valid domain name (length, label, empty) */
    DNS_ERR_BUSY = -2,     /* too many queries in flight (max_queries) */
    DNS_ERR_BACKEND = -3,  /* the library refused the query */
};
const char *dns_strerror(int err);

/* dns_query - start a lookup of name (borrowed; a trailing dot is allowed) and type.
 * On success returns 0 and sets *id (may be NULL); cb(arg, answer) runs later from
 * dns_resolver_process. Returns DNS_ERR_* when nothing was started (cb will not run). */
int dns_query(struct dns_resolver *r, const char *name, enum dns_type type, uint64_t now_ms,
              dns_answer_cb cb, void *arg, uint64_t *id);
/* dns_cancel - stop waiting for query id: returns 0 if it was pending (cb will not run),
 * -1 if unknown or already delivered. */
int dns_cancel(struct dns_resolver *r, uint64_t id);

/* dns_answer_copy - deep copy (one allocation); free with dns_answer_free */
struct dns_answer *dns_answer_copy(const struct dns_answer *a);
void dns_answer_free(struct dns_answer *a);

/* --- fake backend for tests (dns_fake.c) ------------------------------------------------- */

/* dns_fake_create - an in-memory resolver with the same asynchronous contract: answers are
 * delivered by dns_resolver_process after dns_query returned (its fd is an eventfd that is
 * readable while answers wait). timeout_ms applies as for the real backend. */
struct dns_resolver *dns_fake_create(uint32_t timeout_ms);
/* dns_fake_load - add zone data, one entry per line:
 *   NAME TYPE DATA        TYPE in A AAAA MX PTR TXT SPF CNAME; MX data "PREF EXCHANGE";
 *                         TXT/SPF data: one or more "quoted strings" (C escapes \" \\ \xNN)
 *                         forming one record; repeat the line for several records
 *   NAME TIMEOUT          every query for NAME never answers (our deadline fires)
 *   NAME SERVFAIL         every query for NAME gets SERVFAIL
 *   NAME TYPE TIMEOUT     only that type never answers
 *   NAME SECURE           answers for NAME are DNSSEC-secure (default insecure)
 *   NAME BOGUS            answers for NAME are bogus
 * Names are case-insensitive; a name with no records for the asked type but any record of
 * another type is NODATA, a name absent entirely is NXDOMAIN. '#' starts a comment line.
 * Returns 0, or -1 with "line N: problem" in err. */
int dns_fake_load(struct dns_resolver *r, const char *text, char *err, size_t errlen);
/* dns_fake_queries - how many queries the fake has received so far (for limit tests) */
unsigned dns_fake_queries(const struct dns_resolver *r);

#endif
