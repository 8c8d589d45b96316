/* loadtest/workload.h - which triplets greyspf-loadtest sends, and the request bytes.
 *
 * A triplet is a 64-bit id; the id and the seed decide its client_address (in 10.0.0.0/8),
 * sender (s<id>@d<n>.<domain>) and recipient (r<n>@example.net), so a run is reproducible
 * per connection for a given --seed. Each connection owns a stream:
 *   unique     every request a new id (stream i of N sends i, i+N, i+2N, ...)
 *   repeat:K   the same, each id sent K times in a row on its connection
 *   zipf:S     ids 0..population-1 drawn with P(rank k) ~ 1/k^S (S >= 0; 0 is uniform)
 * The request is what Postfix 3.7.11 smtpd sends at RCPT: 28 attributes in its order, then
 * an empty line. A struct workload is read-only after create: threads may share it. */
#ifndef GREYSPF_LOADTEST_WORKLOAD_H
#define GREYSPF_LOADTEST_WORKLOAD_H
#include <stddef.h>
#include <stdint.h>

#define WORKLOAD_ZIPF_POPULATION_MAX 10000000u /* the CDF table is 8 bytes per rank */
#define WORKLOAD_REQUEST_MAX 2048              /* a formatted request always fits */
#define WORKLOAD_DOMAIN_MAX 200

enum workload_mix { WORKLOAD_UNIQUE, WORKLOAD_REPEAT, WORKLOAD_ZIPF };

struct workload_config {
    enum workload_mix mix;
    uint64_t repeat;     /* WORKLOAD_REPEAT: K >= 1 */
    double zipf_s;       /* WORKLOAD_ZIPF: exponent >= 0 */
    uint64_t population; /* WORKLOAD_ZIPF: ranks, 1 .. WORKLOAD_ZIPF_POPULATION_MAX */
    uint64_t seed;
    const char *domain; /* sender domain suffix, borrowed for workload_create only */
};

/* One connection's position in its sequence; plain data, embedded in the connection. */
struct workload_stream {
    uint64_t id, n_streams; /* this stream's number and how many there are */
    uint64_t seq;           /* requests drawn so far */
    uint64_t rng;           /* splitmix64 state (zipf) */
};

struct workload;

/* workload_mix_parse - "unique", "repeat:K", "zipf:S" into cfg->mix/repeat/zipf_s.
 * Returns 0, or -1 when s is not one of those. */
int workload_mix_parse(const char *s, struct workload_config *cfg);
/* workload_create - validate cfg and build the shared part (the zipf table). Returns NULL
 * with a reason in why (whylen bytes) on a bad config. Caller frees with workload_destroy. */
struct workload *workload_create(const struct workload_config *cfg, char *why, size_t whylen);
void workload_destroy(struct workload *w); /* NULL is a no-op */

/* workload_stream_init - stream id of n_streams (id < n_streams) */
void workload_stream_init(const struct workload *w, struct workload_stream *s, uint64_t id,
                          uint64_t n_streams);
/* workload_next - the triplet id of the stream's next request */
uint64_t workload_next(const struct workload *w, struct workload_stream *s);
/* workload_format - write the request for triplet into buf (at least WORKLOAD_REQUEST_MAX
 * bytes); instance tells requests apart (Postfix's `instance`). Returns the length. */
size_t workload_format(const struct workload *w, uint64_t triplet, uint64_t instance, char *buf);

#endif
