/* dns/dns_int.h - the backend interface behind struct dns_resolver.
 *
 * The front end (dns_resolver.c) owns what every backend shares: query ids, the table of
 * pending queries, per-lookup deadlines (DNS_TIMEOUT + backend cancel), max_queries, name
 * validation and normalisation (lower case, no trailing dot), and calling the user's
 * callbacks. A backend only starts, cancels and completes lookups:
 *   start(b, name, type, token)  begin resolving; return 0 or DNS_ERR_BACKEND. Must never
 *                                deliver from inside start.
 *   process(b)                   deliver every completed lookup with
 *                                dns_resolver_deliver(b->r, token, &answer) (the answer is
 *                                borrowed for the call; the front end ignores tokens it no
 *                                longer waits for)
 *   cancel(b, token)             forget token; it may still be delivered (ignored)
 *   fd(b)                        readable while process() has work
 *   destroy(b)                   free; pending lookups are dropped */
#ifndef GREYSPF_DNS_DNS_INT_H
#define GREYSPF_DNS_DNS_INT_H
#include "dns/dns.h"

struct dns_backend;

struct dns_backend_ops {
    const char *name; /* "unbound", "fake" */
    int (*fd)(const struct dns_backend *b);
    int (*start)(struct dns_backend *b, const char *name, enum dns_type type, uint64_t token);
    void (*cancel)(struct dns_backend *b, uint64_t token);
    void (*process)(struct dns_backend *b);
    void (*destroy)(struct dns_backend *b);
};

struct dns_backend {
    const struct dns_backend_ops *ops;
    struct dns_resolver *r; /* set by dns_resolver_new */
};

/* dns_resolver_new - wrap backend b (owned from now on) in the common front end */
struct dns_resolver *dns_resolver_new(struct dns_backend *b, uint32_t timeout_ms,
                                      unsigned max_queries);
/* dns_resolver_deliver - backend -> front end: the answer for token (a->qname, type, status,
 * rcode, secure, ttl_s, n, rr, why_bogus filled by the backend; elapsed_ms by the front end) */
void dns_resolver_deliver(struct dns_resolver *r, uint64_t token, struct dns_answer *a);

#endif
