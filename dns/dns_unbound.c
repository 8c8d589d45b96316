/* dns/dns_unbound.c - the libunbound backend behind dns_resolver_create.
 *
 * One ub_ctx per resolver in thread mode (ub_ctx_async(ctx, 1): a background thread, never a
 * fork); every option is set before the ctx is finalized by a synchronous startup probe of a
 * private local zone (no network), which is where libunbound reports a bad trust anchor or
 * module setup (UB_INITFAIL). ub_fd() is the resolver's fd; ub_process() runs the callbacks.
 *
 * Query lifetime: each started lookup is a struct ub_query (mydata of ub_resolve_async),
 * listed by token in an open-addressing table. It is freed (1) in its callback, (2) after
 * ub_cancel returned 0 (libunbound then never calls back), or (3) at destroy after
 * ub_ctx_delete. If ub_cancel fails the query stays listed as a zombie until one of those,
 * so a libunbound callback never sees freed memory. Callbacks only copy the answer into the
 * front end (dns_resolver_deliver); user callbacks run after ub_process has returned.
 *
 * Deadlines are the front end's: libunbound's infra timeouts stay at their defaults (a lower
 * infra-cache-max-rtt marks a forwarder down for infra-host-ttl after one unanswered name;
 * DEPENDENCIES.md). A cancelled query still runs to its end inside libunbound, holding a
 * num-queries-per-thread slot, so that limit is twice the front end's max_queries.
 *
 * Answers are decoded from the raw RDATA libunbound returns (uncompressed): A (4 bytes),
 * AAAA (16), MX (preference + name), PTR (name), TXT/SPF (character-strings joined, RFC 7208
 * 3.3). Names are written as raw labels joined by '.', lower-cased; a target whose label
 * contains '.' or NUL cannot be written that way and its record is dropped as malformed.
 * Negative answers take their TTL from the SOA in the authority section (RFC 2308).
 *
 * Creating, finalizing and deleting a ctx run under one process-wide lock (ub_setup_lock):
 * ub_ctx_create and the finalize initialise libunbound globals without a lock of their own
 * (log_init's lock and thread key, config_apply's globals), and workers create their
 * resolvers concurrently on first use (TSan saw two pthread_mutex_init of the same global).
 * The probe is answered from a local zone, so the lock is held for milliseconds. */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "engine/base/alloc.h"
#include "engine/base/log.h"

#define UB_DEFAULT_ANCHOR "/usr/share/dns/root.key"
#define UB_PROBE_ZONE "greyspf-startup-probe.invalid."
#define UB_CLASS_IN 1

static pthread_mutex_t ub_setup_lock = PTHREAD_MUTEX_INITIALIZER;
#define PRES_NAME_MAX (253 * 4 + 2) /* every byte as \DDD, plus a dot and NUL */

struct ub_backend;

struct ub_query {
    struct ub_backend *ub;
    uint64_t token;
    int async_id;
    bool zombie; /* ub_cancel failed: keep until libunbound calls back or the ctx dies */
};

struct ub_backend {
    struct dns_backend base;
    struct ub_ctx *ctx;
    struct ub_query **slots; /* open addressing by token, linear probing; NULL = empty */
    size_t cap;              /* power of two */
    size_t count;
};

/* --- query table --------------------------------------------------------------------- */

/* slot_of - home slot of token */
static size_t slot_of(const struct ub_backend *ub, uint64_t token)
{
    return (size_t)((token * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & (ub->cap - 1);
}

/* qtab_insert_raw - place q in the first free slot from its home (no growth) */
static void qtab_insert_raw(struct ub_backend *ub, struct ub_query *q)
{
    size_t i = slot_of(ub, q->token);
    while (ub->slots[i])
        i = (i + 1) & (ub->cap - 1);
    ub->slots[i] = q;
}

/* qtab_add - insert q, doubling the table beyond half full */
static void qtab_add(struct ub_backend *ub, struct ub_query *q)
{
    if ((ub->count + 1) * 2 > ub->cap) {
        struct ub_query **old = ub->slots;
        size_t old_cap = ub->cap;
        ub->cap = old_cap * 2;
        ub->slots = xcalloc(ub->cap, sizeof(*ub->slots));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i])
                qtab_insert_raw(ub, old[i]);
        free(old);
    }
    qtab_insert_raw(ub, q);
    ub->count++;
}

/* qtab_index - slot holding token, or SIZE_MAX */
static size_t qtab_index(const struct ub_backend *ub, uint64_t token)
{
    size_t i = slot_of(ub, token);
    while (ub->slots[i]) {
        if (ub->slots[i]->token == token)
            return i;
        i = (i + 1) & (ub->cap - 1);
    }
    return SIZE_MAX;
}

/* qtab_remove_at - empty slot i and shift later members of its probe run back */
static void qtab_remove_at(struct ub_backend *ub, size_t i)
{
    size_t mask = ub->cap - 1;
    ub->slots[i] = NULL;
    ub->count--;
    for (size_t j = (i + 1) & mask; ub->slots[j]; j = (j + 1) & mask) {
        size_t home = slot_of(ub, ub->slots[j]->token);
        /* move j to the hole i unless its home lies cyclically in (i, j] */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            ub->slots[i] = ub->slots[j];
            ub->slots[j] = NULL;
            i = j;
        }
    }
}

/* qtab_remove - take q out of the table (no-op if absent) */
static void qtab_remove(struct ub_backend *ub, const struct ub_query *q)
{
    size_t i = qtab_index(ub, q->token);
    if (i != SIZE_MAX && ub->slots[i] == q)
        qtab_remove_at(ub, i);
}

/* --- wire decoding ------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* wire_name - decode the uncompressed name at p[0..len) into out (>= 256 bytes) as raw
 * lower-case labels joined by '.', no trailing dot ("" for the root). Returns the bytes the
 * name used in p, or 0 if malformed (pointer, overrun, > 255 bytes, '.' or NUL in a label). */
static size_t wire_name(const uint8_t *p, size_t len, char *out)
{
    size_t off = 0, o = 0;
    for (;;) {
        if (off >= len || off >= 255)
            return 0;
        uint8_t l = p[off++];
        if (l == 0)
            break;
        if (l > 63 || off + l > len)
            return 0;
        if (o > 0)
            out[o++] = '.';
        for (unsigned k = 0; k < l; k++) {
            uint8_t c = p[off + k];
            if (c == '.' || c == 0)
                return 0;
            out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
        }
        off += l;
    }
    out[o] = '\0';
    return off;
}

/* skip_name - step over a possibly compressed name in a packet; new offset or 0 */
static size_t skip_name(const uint8_t *pkt, size_t len, size_t off)
{
    for (unsigned labels = 0; labels < 128; labels++) {
        if (off >= len)
            return 0;
        uint8_t l = pkt[off];
        if (l == 0)
            return off + 1;
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : 0;
        if (l & 0xc0)
            return 0;
        off += 1u + l;
    }
    return 0;
}

/* negative_ttl - min(SOA TTL, SOA MINIMUM) of the first SOA in the authority section of
 * the reply packet (RFC 2308 section 5), or 0 when there is none */
static uint32_t negative_ttl(const uint8_t *pkt, size_t len)
{
    if (!pkt || len < 12)
        return 0;
    unsigned qd = get16(pkt + 4), an = get16(pkt + 6), ns = get16(pkt + 8);
    size_t off = 12;
    for (unsigned i = 0; i < qd; i++) {
        off = skip_name(pkt, len, off);
        if (!off || off + 4 > len)
            return 0;
        off += 4;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        off = skip_name(pkt, len, off);
        if (!off || off + 10 > len)
            return 0;
        uint16_t type = get16(pkt + off);
        uint32_t ttl = get32(pkt + off + 4);
        size_t rdlen = get16(pkt + off + 8);
        off += 10;
        if (off + rdlen > len)
            return 0;
        if (i >= an && type == 6 && rdlen >= 22) {
            uint32_t minimum = get32(pkt + off + rdlen - 4);
            uint32_t t = ttl < minimum ? ttl : minimum;
            return t > INT32_MAX ? 0 : t; /* RFC 2181 8: top bit set means zero */
        }
        off += rdlen;
    }
    return 0;
}

/* decode_rr - fill rr from one RDATA of type; strings go to *scratch (advanced).
 * Returns false for a malformed record. */
static bool decode_rr(enum dns_type type, const uint8_t *d, size_t len, struct dns_rr *rr,
                      char **scratch)
{
    memset(rr, 0, sizeof(*rr));
    switch (type) {
    case DNS_T_A:
        if (len != 4)
            return false;
        rr->addr.b[10] = 0xff;
        rr->addr.b[11] = 0xff;
        memcpy(&rr->addr.b[12], d, 4);
        return true;
    case DNS_T_AAAA:
        if (len != 16)
            return false;
        memcpy(rr->addr.b, d, 16);
        return true;
    case DNS_T_MX:
    case DNS_T_PTR: {
        size_t off = 0;
        if (type == DNS_T_MX) {
            if (len < 3)
                return false;
            rr->pref = get16(d);
            off = 2;
        }
        size_t used = wire_name(d + off, len - off, *scratch);
        if (!used || off + used != len)
            return false;
        rr->name = *scratch;
        *scratch += strlen(rr->name) + 1;
        return true;
    }
    case DNS_T_TXT:
    case DNS_T_SPF: {
        char *out = *scratch;
        size_t off = 0, o = 0;
        while (off < len) {
            size_t l = d[off++];
            if (off + l > len)
                return false;
            memcpy(out + o, d + off, l);
            o += l;
            off += l;
        }
        out[o] = '\0';
        rr->txt = out;
        rr->txt_len = o;
        *scratch += o + 1;
        return true;
    }
    }
    return false;
}

/* fill_answer - map a libunbound result onto a (status, rcode, secure, ttl, records) answer.
 * rr and scratch are allocated here for the call; the caller frees both. */
static void fill_answer(enum dns_type type, int err, struct ub_result *res, struct dns_answer *a,
                        struct dns_rr **rr_out, char **scratch_out)
{
    memset(a, 0, sizeof(*a));
    a->type = type;
    *rr_out = NULL;
    *scratch_out = NULL;
    if (err != 0 || !res) {
        a->status = DNS_ERROR;
        a->rcode = -1;
        return;
    }
    a->qname = res->qname;
    a->rcode = res->rcode;
    if (res->bogus) {
        /* rcode 0 with data: the data is not to be used */
        a->status = DNS_BOGUS;
        a->why_bogus = res->why_bogus ? res->why_bogus : "DNSSEC validation failed";
        return;
    }
    a->secure = res->secure != 0;
    switch (res->rcode) {
    case 0:
        break;
    case 2:
        a->status = DNS_SERVFAIL;
        a->secure = false;
        return;
    case 3:
        a->status = DNS_NXDOMAIN;
        a->ttl_s =
            negative_ttl(res->answer_packet, (size_t)(res->answer_len > 0 ? res->answer_len : 0));
        return;
    default:
        a->status = DNS_ERROR;
        a->secure = false;
        return;
    }
    size_t nrr = 0, bytes = 0;
    if (res->havedata && res->data) {
        for (; res->data[nrr]; nrr++)
            bytes += (size_t)(res->len[nrr] > 0 ? res->len[nrr] : 0) * 4 + 256;
    }
    if (nrr == 0) {
        a->status = DNS_NODATA;
        a->ttl_s =
            negative_ttl(res->answer_packet, (size_t)(res->answer_len > 0 ? res->answer_len : 0));
        return;
    }
    struct dns_rr *rr = xmalloc(nrr * sizeof(*rr));
    char *scratch = xmalloc(bytes);
    char *cursor = scratch;
    unsigned n = 0;
    for (size_t i = 0; i < nrr; i++) {
        size_t len = (size_t)(res->len[i] > 0 ? res->len[i] : 0);
        if (decode_rr(type, (const uint8_t *)res->data[i], len, &rr[n], &cursor))
            n++;
    }
    *rr_out = rr;
    *scratch_out = scratch;
    if (n == 0) {
        a->status = DNS_ERROR; /* data of the asked type, none of it well-formed */
        a->secure = false;
        return;
    }
    if (n < nrr && LOG_ENABLED(LOG_LVL_DEBUG)) {
        char safe[300];
        log_debug("dns: malformed %s record(s) dropped: %s", dns_type_name(type),
                  log_sanitize(safe, sizeof(safe), res->qname, strlen(res->qname)));
    }
    a->status = DNS_OK;
    a->n = n;
    a->rr = rr;
    a->ttl_s = res->ttl > 0 ? (uint32_t)res->ttl : 0;
}

/* --- backend operations -------------------------------------------------------------- */

/* ub_done - libunbound's callback (inside ub_process): hand the answer to the front end */
static void ub_done(void *mydata, int err, struct ub_result *res)
{
    struct ub_query *q = mydata;
    struct ub_backend *ub = q->ub;
    qtab_remove(ub, q);
    if (!q->zombie) {
        struct dns_answer a;
        struct dns_rr *rr;
        char *scratch;
        enum dns_type type = res ? (enum dns_type)res->qtype : DNS_T_A;
        fill_answer(type, err, res, &a, &rr, &scratch);
        if (err)
            log_debug("dns: libunbound: %s", ub_strerror(err));
        dns_resolver_deliver(ub->base.r, q->token, &a);
        free(rr);
        free(scratch);
    }
    if (res)
        ub_resolve_free(res);
    free(q);
}

/* presentation - write name (raw labels joined by '.') for libunbound's parser: bytes other
 * than [a-z0-9_-] become \DDD, so '\\', '"', ';', spaces and binary stay literal */
static void presentation(const char *name, char *out)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned c = *p;
        if (c == '.' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = (char)('0' + c / 100);
            out[o++] = (char)('0' + c / 10 % 10);
            out[o++] = (char)('0' + c % 10);
        }
    }
    out[o++] = '.';
    out[o] = '\0';
}

static int ub_op_fd(const struct dns_backend *b)
{
    const struct ub_backend *ub = (const struct ub_backend *)b;
    return ub_fd(ub->ctx);
}

static int ub_op_start(struct dns_backend *b, const char *name, enum dns_type type, uint64_t token)
{
    struct ub_backend *ub = (struct ub_backend *)b;
    char pres[PRES_NAME_MAX];
    presentation(name, pres);
    struct ub_query *q = xmalloc(sizeof(*q));
    q->ub = ub;
    q->token = token;
    q->async_id = 0;
    q->zombie = false;
    int rc = ub_resolve_async(ub->ctx, pres, (int)type, UB_CLASS_IN, q, ub_done, &q->async_id);
    if (rc != 0) {
        log_warn("dns: libunbound refused a query: %s", ub_strerror(rc));
        free(q);
        return DNS_ERR_BACKEND;
    }
    qtab_add(ub, q);
    return 0;
}

static void ub_op_cancel(struct dns_backend *b, uint64_t token)
{
    struct ub_backend *ub = (struct ub_backend *)b;
    size_t i = qtab_index(ub, token);
    if (i == SIZE_MAX)
        return;
    struct ub_query *q = ub->slots[i];
    if (q->zombie)
        return;
    int rc = ub_cancel(ub->ctx, q->async_id);
    if (rc == 0) {
        qtab_remove_at(ub, i); /* libunbound will never call back */
        free(q);
    } else {
        /* NOID cannot happen here (its callback would have unlisted it); on a pipe or
         * memory failure the callback may still come: keep q until then */
        q->zombie = true;
        log_debug("dns: ub_cancel: %s", ub_strerror(rc));
    }
}

static void ub_op_process(struct dns_backend *b)
{
    struct ub_backend *ub = (struct ub_backend *)b;
    int rc = ub_process(ub->ctx);
    if (rc != 0)
        log_warn("dns: ub_process: %s", ub_strerror(rc));
}

static void ub_op_destroy(struct dns_backend *b)
{
    struct ub_backend *ub = (struct ub_backend *)b;
    if (!ub)
        return;
    if (ub->ctx) {
        pthread_mutex_lock(&ub_setup_lock);
        ub_ctx_delete(ub->ctx); /* stops the thread; no callback runs after this */
        pthread_mutex_unlock(&ub_setup_lock);
    }
    for (size_t i = 0; i < ub->cap; i++)
        free(ub->slots[i]);
    free(ub->slots);
    free(ub);
}

static const struct dns_backend_ops ub_ops = {
    .name = "unbound",
    .fd = ub_op_fd,
    .start = ub_op_start,
    .cancel = ub_op_cancel,
    .process = ub_op_process,
    .destroy = ub_op_destroy,
};

/* --- creation ------------------------------------------------------------------------ */

/* Default local zones of libunbound 1.17 (services/localzone.c, as printed by
 * ub_ctx_print_local_zones), made transparent by no_local_zones; 64..127.100.in-addr.arpa
 * and 16..31.172.in-addr.arpa are generated in unblock_local_zones. */
static const char *const default_local_zones[] = {
    "localhost.",
    "127.in-addr.arpa.",
    "test.",
    "onion.",
    "invalid.",
    "home.arpa.",
    "0.in-addr.arpa.",
    "10.in-addr.arpa.",
    "254.169.in-addr.arpa.",
    "2.0.192.in-addr.arpa.",
    "168.192.in-addr.arpa.",
    "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.",
    "255.255.255.255.in-addr.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa.",
    "d.f.ip6.arpa.",
    "8.e.f.ip6.arpa.",
    "9.e.f.ip6.arpa.",
    "a.e.f.ip6.arpa.",
    "b.e.f.ip6.arpa.",
};

/* fail - format a creation error into err */
static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* set_opt - ub_ctx_set_option with an error message */
static int set_opt(struct ub_ctx *ctx, const char *opt, const char *val, char *err, size_t errlen)
{
    int rc = ub_ctx_set_option(ctx, opt, val);
    if (rc != 0)
        fail(err, errlen, "libunbound option %s %s: %s", opt, val, ub_strerror(rc));
    return rc;
}

/* set_num - set_opt with a number */
static int set_num(struct ub_ctx *ctx, const char *opt, unsigned long long v, char *err,
                   size_t errlen)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", v);
    return set_opt(ctx, opt, buf, err, errlen);
}

/* unblock_local_zones - make every default local zone transparent (before finalize) */
static int unblock_local_zones(struct ub_ctx *ctx, char *err, size_t errlen)
{
    char buf[128];
    for (size_t i = 0; i < sizeof(default_local_zones) / sizeof(default_local_zones[0]); i++) {
        snprintf(buf, sizeof(buf), "%s transparent", default_local_zones[i]);
        if (set_opt(ctx, "local-zone:", buf, err, errlen))
            return -1;
    }
    for (unsigned o = 64; o <= 127; o++) {
        snprintf(buf, sizeof(buf), "%u.100.in-addr.arpa. transparent", o);
        if (set_opt(ctx, "local-zone:", buf, err, errlen))
            return -1;
    }
    for (unsigned o = 16; o <= 31; o++) {
        snprintf(buf, sizeof(buf), "%u.172.in-addr.arpa. transparent", o);
        if (set_opt(ctx, "local-zone:", buf, err, errlen))
            return -1;
    }
    return 0;
}

/* check_forwarder - "ADDR" or "ADDR@PORT" with an IPv4/IPv6 literal and port 1..65535 */
static bool check_forwarder(const char *fwd)
{
    char addr[64];
    const char *at = strchr(fwd, '@');
    size_t alen = at ? (size_t)(at - fwd) : strlen(fwd);
    if (alen == 0 || alen >= sizeof(addr))
        return false;
    memcpy(addr, fwd, alen);
    addr[alen] = '\0';
    unsigned char buf[16];
    if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
        return false;
    if (at) {
        const char *p = at + 1;
        unsigned long port = 0;
        if (!*p)
            return false;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return false;
            port = port * 10 + (unsigned long)(*p - '0');
            if (port > 65535)
                return false;
        }
        if (port == 0)
            return false;
    }
    return true;
}

/* configure - apply cfg to a fresh ctx; 0 or -1 with err set */
static int configure(struct ub_ctx *ctx, const struct dns_config *cfg, char *err, size_t errlen)
{
    int rc = ub_ctx_async(ctx, 1);
    if (rc) {
        fail(err, errlen, "libunbound: thread mode: %s", ub_strerror(rc));
        return -1;
    }
    if (cfg->forwarder) {
        if (!check_forwarder(cfg->forwarder)) {
            fail(err, errlen, "dns forwarder \"%s\": want ADDR or ADDR@PORT (IPv4 or IPv6)",
                 cfg->forwarder);
            return -1;
        }
        rc = ub_ctx_set_fwd(ctx, cfg->forwarder);
        if (rc) {
            fail(err, errlen, "dns forwarder %s: %s", cfg->forwarder, ub_strerror(rc));
            return -1;
        }
    }
    unsigned range = cfg->outgoing_range ? cfg->outgoing_range : 1024;
    unsigned maxq = cfg->max_queries ? cfg->max_queries : 2048;
    size_t msg = cfg->msg_cache_bytes ? cfg->msg_cache_bytes : (size_t)16 << 20;
    size_t rrset = cfg->rrset_cache_bytes ? cfg->rrset_cache_bytes : (size_t)32 << 20;
    if (set_num(ctx, "outgoing-range:", range, err, errlen) ||
        set_num(ctx, "num-queries-per-thread:", 2ull * maxq, err, errlen) ||
        set_num(ctx, "msg-cache-size:", msg, err, errlen) ||
        set_num(ctx, "rrset-cache-size:", rrset, err, errlen))
        return -1;
    if (cfg->dnssec) {
        size_t key = msg / 4 > ((size_t)1 << 20) ? msg / 4 : (size_t)1 << 20;
        if (set_num(ctx, "key-cache-size:", key, err, errlen))
            return -1;
        /* ub_ctx_add_ta_file returns 0 for a missing file; say so clearly here */
        const char *file = cfg->trust_anchor_file ? cfg->trust_anchor_file : UB_DEFAULT_ANCHOR;
        if (*file) { /* "" = no file: only the explicit anchors below */
            FILE *f = fopen(file, "r");
            if (!f) {
                fail(err, errlen, "dnssec trust anchor %s: %s", file, strerror(errno));
                return -1;
            }
            fclose(f);
            rc = ub_ctx_add_ta_file(ctx, file);
            if (rc) {
                fail(err, errlen, "dnssec trust anchor %s: %s", file, ub_strerror(rc));
                return -1;
            }
        } else if (!cfg->trust_anchors || !cfg->trust_anchors[0]) {
            fail(err, errlen, "dnssec is on but there is no trust anchor (no file, none given)");
            return -1;
        }
        for (const char *const *ta = cfg->trust_anchors; ta && *ta; ta++) {
            rc = ub_ctx_add_ta(ctx, *ta);
            if (rc) {
                fail(err, errlen, "dnssec trust anchor \"%s\": %s", *ta, ub_strerror(rc));
                return -1;
            }
        }
    } else {
        /* no validator at all: no DS/DNSKEY fetches, secure and bogus always 0 */
        if (set_opt(ctx, "module-config:", "iterator", err, errlen))
            return -1;
    }
    if (cfg->no_local_zones && unblock_local_zones(ctx, err, errlen))
        return -1;
    return set_opt(ctx, "local-zone:", UB_PROBE_ZONE " static", err, errlen) ? -1 : 0;
}

/* probe - finalize ctx with one synchronous lookup answered from a private local zone: no
 * network, but every module is initialised, so a bad trust anchor shows as UB_INITFAIL */
static int probe(struct ub_ctx *ctx, const struct dns_config *cfg, char *err, size_t errlen)
{
    struct ub_result *res = NULL;
    int rc = ub_resolve(ctx, UB_PROBE_ZONE, DNS_T_A, UB_CLASS_IN, &res);
    if (res)
        ub_resolve_free(res);
    if (rc == 0)
        return 0;
    if (rc == UB_INITFAIL && cfg->dnssec)
        fail(err, errlen,
             "libunbound: %s (bad DNSSEC trust anchor? libunbound's reason is on stderr)",
             ub_strerror(rc));
    else
        fail(err, errlen, "libunbound: startup probe: %s", ub_strerror(rc));
    return -1;
}

struct dns_resolver *dns_resolver_create(const struct dns_config *cfg, char *err, size_t errlen)
{
    struct dns_config defaults;
    if (!cfg) {
        dns_config_defaults(&defaults);
        cfg = &defaults;
    }
    struct ub_backend *ub = xcalloc(1, sizeof(*ub));
    ub->base.ops = &ub_ops;
    ub->cap = 256;
    ub->slots = xcalloc(ub->cap, sizeof(*ub->slots));
    pthread_mutex_lock(&ub_setup_lock);
    ub->ctx = ub_ctx_create();
    int bad = !ub->ctx;
    if (bad)
        fail(err, errlen, "libunbound: cannot create a context");
    else
        bad = configure(ub->ctx, cfg, err, errlen) || probe(ub->ctx, cfg, err, errlen);
    pthread_mutex_unlock(&ub_setup_lock);
    if (bad)
        goto fail;
    if (ub_fd(ub->ctx) < 0) {
        fail(err, errlen, "libunbound: no file descriptor");
        goto fail;
    }
    return dns_resolver_new(&ub->base, cfg->timeout_ms, cfg->max_queries);
fail:
    ub_op_destroy(&ub->base);
    return NULL;
}
