/* loadtest/workload.c - see workload.h.
 * Zipf sampling inverts a precomputed CDF by binary search: exact, O(log N) per draw, and
 * 8 bytes per rank, hence the population cap. Triplet ids are scrambled with the seed
 * (splitmix64's finaliser) before they become addresses, so popular ids are spread over
 * the /8 instead of sitting in one /24. */
#include "loadtest/workload.h"
#include "engine/base/alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct workload {
    struct workload_config cfg;
    char domain[WORKLOAD_DOMAIN_MAX + 1];
    uint64_t seed_mix; /* mix64(seed), xor'ed into every id */
    double *cdf;       /* zipf: cdf[k] = P(rank <= k + 1), cdf[population - 1] = 1 */
};

/* mix64 - splitmix64 finaliser: a bijection on 64-bit values with good avalanche */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* rng_next - splitmix64 step */
static uint64_t rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return mix64(*state);
}

int workload_mix_parse(const char *s, struct workload_config *cfg)
{
    char *end;
    if (strcmp(s, "unique") == 0) {
        cfg->mix = WORKLOAD_UNIQUE;
        return 0;
    }
    if (strncmp(s, "repeat:", 7) == 0) {
        errno = 0;
        unsigned long long k = strtoull(s + 7, &end, 10);
        if (errno || end == s + 7 || *end || k < 1 || k > 1000000000ull || s[7] == '-')
            return -1;
        cfg->mix = WORKLOAD_REPEAT;
        cfg->repeat = k;
        return 0;
    }
    if (strncmp(s, "zipf:", 5) == 0) {
        errno = 0;
        double z = strtod(s + 5, &end);
        if (errno || end == s + 5 || *end || !(z >= 0.0) || z > 10.0)
            return -1;
        cfg->mix = WORKLOAD_ZIPF;
        cfg->zipf_s = z;
        return 0;
    }
    return -1;
}

/* domain_ok - letters, digits, '-' and '.', not empty, fits */
static int domain_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > WORKLOAD_DOMAIN_MAX || d[0] == '.' || d[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

struct workload *workload_create(const struct workload_config *cfg, char *why, size_t whylen)
{
    const char *domain = cfg->domain ? cfg->domain : "example.test";
    if (!domain_ok(domain)) {
        snprintf(why, whylen, "bad domain \"%s\" (letters, digits, '-', '.')", domain);
        return NULL;
    }
    if (cfg->mix == WORKLOAD_REPEAT && cfg->repeat < 1) {
        snprintf(why, whylen, "repeat count must be >= 1");
        return NULL;
    }
    if (cfg->mix == WORKLOAD_ZIPF &&
        (cfg->population < 1 || cfg->population > WORKLOAD_ZIPF_POPULATION_MAX)) {
        snprintf(why, whylen, "zipf population must be 1..%u", WORKLOAD_ZIPF_POPULATION_MAX);
        return NULL;
    }
    struct workload *w = xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    w->cfg.domain = NULL; /* borrowed; our copy is w->domain */
    snprintf(w->domain, sizeof w->domain, "%s", domain);
    w->seed_mix = mix64(cfg->seed ^ 0x6772657973706600ull);
    if (cfg->mix == WORKLOAD_ZIPF) {
        uint64_t n = cfg->population;
        w->cdf = xmalloc(n * sizeof *w->cdf);
        double acc = 0;
        for (uint64_t k = 0; k < n; k++) {
            acc += pow((double)(k + 1), -cfg->zipf_s);
            w->cdf[k] = acc;
        }
        for (uint64_t k = 0; k < n; k++)
            w->cdf[k] /= acc;
        w->cdf[n - 1] = 1.0; /* no rounding gap at the top */
    }
    return w;
}

void workload_destroy(struct workload *w)
{
    if (!w)
        return;
    free(w->cdf);
    free(w);
}

void workload_stream_init(const struct workload *w, struct workload_stream *s, uint64_t id,
                          uint64_t n_streams)
{
    s->id = id;
    s->n_streams = n_streams ? n_streams : 1;
    s->seq = 0;
    s->rng = w->seed_mix ^ mix64(id + 1);
}

/* zipf_draw - a rank in 0..population-1 */
static uint64_t zipf_draw(const struct workload *w, uint64_t *rng)
{
    double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
    uint64_t lo = 0, hi = w->cfg.population - 1;
    while (lo < hi) { /* smallest k with cdf[k] > u */
        uint64_t mid = lo + (hi - lo) / 2;
        if (w->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t workload_next(const struct workload *w, struct workload_stream *s)
{
    uint64_t seq = s->seq++;
    switch (w->cfg.mix) {
    case WORKLOAD_UNIQUE:
        return s->id + s->n_streams * seq;
    case WORKLOAD_REPEAT:
        return s->id + s->n_streams * (seq / w->cfg.repeat);
    case WORKLOAD_ZIPF:
        return zipf_draw(w, &s->rng);
    }
    return 0;
}

size_t workload_format(const struct workload *w, uint64_t triplet, uint64_t instance, char *buf)
{
    uint64_t h = mix64(triplet ^ w->seed_mix);
    unsigned a = (unsigned)(h >> 16) & 255, b = (unsigned)(h >> 8) & 255, c = (unsigned)h & 255;
    unsigned dom = (unsigned)((h >> 24) % 1000);
    unsigned rcpt = (unsigned)((h >> 34) % 1000);
    unsigned port = 1024 + (unsigned)((h >> 44) % 64000);
    char name[WORKLOAD_DOMAIN_MAX + 64];
    if ((h >> 60) == 0) /* 1 in 16 clients has no verified name, as on the Internet */
        snprintf(name, sizeof name, "unknown");
    else
        snprintf(name, sizeof name, "mail-%u-%u-%u.d%u.%s", a, b, c, dom, w->domain);
    int n = snprintf(buf, WORKLOAD_REQUEST_MAX,
                     "request=smtpd_access_policy\n"
                     "protocol_state=RCPT\n"
                     "protocol_name=ESMTP\n"
                     "client_address=10.%u.%u.%u\n"
                     "client_name=%s\n"
                     "client_port=%u\n"
                     "reverse_client_name=%s\n"
                     "server_address=192.0.2.25\n"
                     "server_port=25\n"
                     "helo_name=mail-%u-%u-%u.d%u.%s\n"
                     "sender=s%llu@d%u.%s\n"
                     "recipient=r%u@example.net\n"
                     "recipient_count=0\n"
                     "queue_id=\n"
                     "instance=%llx.%llx.0\n"
                     "size=0\n"
                     "etrn_domain=\n"
                     "stress=\n"
                     "sasl_method=\n"
                     "sasl_username=\n"
                     "sasl_sender=\n"
                     "ccert_subject=\n"
                     "ccert_issuer=\n"
                     "ccert_fingerprint=\n"
                     "ccert_pubkey_fingerprint=\n"
                     "encryption_protocol=\n"
                     "encryption_cipher=\n"
                     "encryption_keysize=0\n"
                     "policy_context=\n"
                     "\n",
                     a, b, c, name, port, name, a, b, c, dom, w->domain,
                     (unsigned long long)triplet, dom, w->domain, rcpt,
                     (unsigned long long)(triplet & 0xffffffffu), (unsigned long long)instance);
    if (n < 0 || n >= WORKLOAD_REQUEST_MAX)
        return 0; /* not reached: the domain is bounded, so is every field */
    return (size_t)n;
}
