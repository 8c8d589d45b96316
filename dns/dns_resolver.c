/* dns/dns_resolver.c - the front end shared by every backend: query ids, pending table,
 * per-lookup deadlines, name normalisation, delivery to callbacks.
 *
 * Each started query is a struct dns_pending, found by token in a chained hash table and,
 * while it waits for an answer, placed in a binary min-heap ordered by (deadline, token).
 * Delivery is two-phase so that callbacks may call dns_query/dns_cancel (even
 * dns_resolver_process) freely: while the backend runs process(), answers are only copied
 * into their pending record and queued on the ready list (the record leaves the heap but
 * stays in the table); expired deadlines are queued the same way; then the ready list is
 * drained, one record at a time, removing it from the table before its callback runs. A
 * backend is therefore never re-entered from inside its own process(). dns_cancel of a
 * ready record unhooks it from the table and marks it, so its callback never runs.
 * Not thread-safe: one resolver per thread (dns.h). dns_resolver_destroy must not be called
 * from a callback. */
#include "dns/dns_int.h"

#include <stdlib.h>
#include <string.h>

#include "engine/base/alloc.h"
#include "engine/base/log.h"

#define DNS_NAME_MAX 253 /* presentation length without the trailing dot */
#define DNS_LABEL_MAX 63
#define DNS_TIMEOUT_DEFAULT_MS 5000u
#define DNS_MAX_QUERIES_DEFAULT 2048u

struct dns_pending {
    uint64_t token;
    uint64_t start_ms, deadline_ms;
    struct dns_pending *hnext; /* hash chain */
    struct dns_pending *rnext; /* ready list */
    size_t heap_idx;           /* index in heap while waiting; SIZE_MAX otherwise */
    dns_answer_cb cb;
    void *arg;
    struct dns_answer *ans; /* ready: owned copy, or NULL for a timeout */
    bool ready, cancelled;
    enum dns_type type;
    char name[DNS_NAME_MAX + 1];
};

struct dns_resolver {
    struct dns_backend *b;
    uint32_t timeout_ms;
    unsigned max_queries;
    uint64_t next_token;
    struct dns_pending **buckets;
    size_t nbuckets;           /* power of two */
    size_t nentries;           /* records in the table (waiting + ready) */
    struct dns_pending **heap; /* waiting records by deadline */
    size_t nheap, heapcap;
    struct dns_pending *ready_head, *ready_tail;
};

/* --- hash table ---------------------------------------------------------------------- */

/* bucket_of - bucket index of token (Fibonacci hashing: tokens are sequential) */
static size_t bucket_of(const struct dns_resolver *r, uint64_t token)
{
    return (size_t)((token * UINT64_C(0x9e3779b97f4a7c15)) >> 17) & (r->nbuckets - 1);
}

/* table_grow - double the bucket array and rehash */
static void table_grow(struct dns_resolver *r)
{
    size_t old_n = r->nbuckets;
    struct dns_pending **old = r->buckets;
    r->nbuckets = old_n * 2;
    r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
    for (size_t i = 0; i < old_n; i++) {
        struct dns_pending *p = old[i];
        while (p) {
            struct dns_pending *next = p->hnext;
            size_t b = bucket_of(r, p->token);
            p->hnext = r->buckets[b];
            r->buckets[b] = p;
            p = next;
        }
    }
    free(old);
}

/* table_add - insert p (its token is new) */
static void table_add(struct dns_resolver *r, struct dns_pending *p)
{
    if (r->nentries + 1 > r->nbuckets)
        table_grow(r);
    size_t b = bucket_of(r, p->token);
    p->hnext = r->buckets[b];
    r->buckets[b] = p;
    r->nentries++;
}

/* table_find - the record for token, or NULL */
static struct dns_pending *table_find(const struct dns_resolver *r, uint64_t token)
{
    struct dns_pending *p = r->buckets[bucket_of(r, token)];
    while (p && p->token != token)
        p = p->hnext;
    return p;
}

/* table_remove - unhook p from its chain (p must be in the table) */
static void table_remove(struct dns_resolver *r, struct dns_pending *p)
{
    struct dns_pending **pp = &r->buckets[bucket_of(r, p->token)];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (!*pp)
        PANIC("dns: pending query %llu missing from its table", (unsigned long long)p->token);
    *pp = p->hnext;
    p->hnext = NULL;
    r->nentries--;
}

/* --- deadline heap ------------------------------------------------------------------- */

/* heap_less - earlier deadline first; ties by start order */
static bool heap_less(const struct dns_pending *a, const struct dns_pending *b)
{
    if (a->deadline_ms != b->deadline_ms)
        return a->deadline_ms < b->deadline_ms;
    return a->token < b->token;
}

/* heap_set - place p at index i */
static void heap_set(struct dns_resolver *r, size_t i, struct dns_pending *p)
{
    r->heap[i] = p;
    p->heap_idx = i;
}

/* heap_up - move the record at i towards the root */
static void heap_up(struct dns_resolver *r, size_t i)
{
    struct dns_pending *p = r->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(p, r->heap[parent]))
            break;
        heap_set(r, i, r->heap[parent]);
        i = parent;
    }
    heap_set(r, i, p);
}

/* heap_down - move the record at i towards the leaves */
static void heap_down(struct dns_resolver *r, size_t i)
{
    struct dns_pending *p = r->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && heap_less(r->heap[c + 1], r->heap[c]))
            c++;
        if (!heap_less(r->heap[c], p))
            break;
        heap_set(r, i, r->heap[c]);
        i = c;
    }
    heap_set(r, i, p);
}

/* heap_push - add p */
static void heap_push(struct dns_resolver *r, struct dns_pending *p)
{
    if (r->nheap == r->heapcap) {
        r->heapcap = r->heapcap ? r->heapcap * 2 : 64;
        r->heap = xrealloc(r->heap, r->heapcap * sizeof(*r->heap));
    }
    heap_set(r, r->nheap++, p);
    heap_up(r, p->heap_idx);
}

/* heap_remove - take p (in the heap) out */
static void heap_remove(struct dns_resolver *r, struct dns_pending *p)
{
    size_t i = p->heap_idx;
    if (i >= r->nheap || r->heap[i] != p)
        PANIC("dns: pending query %llu not at its heap index", (unsigned long long)p->token);
    p->heap_idx = SIZE_MAX;
    struct dns_pending *last = r->heap[--r->nheap];
    if (last == p)
        return;
    heap_set(r, i, last);
    heap_up(r, i);
    heap_down(r, last->heap_idx);
}

/* --- ready list ---------------------------------------------------------------------- */

/* ready_push - queue p (just out of the heap) for its callback */
static void ready_push(struct dns_resolver *r, struct dns_pending *p)
{
    p->ready = true;
    p->rnext = NULL;
    if (r->ready_tail)
        r->ready_tail->rnext = p;
    else
        r->ready_head = p;
    r->ready_tail = p;
}

/* ready_pop - the oldest ready record, or NULL */
static struct dns_pending *ready_pop(struct dns_resolver *r)
{
    struct dns_pending *p = r->ready_head;
    if (p) {
        r->ready_head = p->rnext;
        if (!r->ready_head)
            r->ready_tail = NULL;
        p->rnext = NULL;
    }
    return p;
}

/* pending_free - release a record no longer in table, heap or ready list */
static void pending_free(struct dns_pending *p)
{
    dns_answer_free(p->ans);
    free(p);
}

/* --- names --------------------------------------------------------------------------- */

/* name_normalise - validate name and write its canonical form (ASCII lower case, no
 * trailing dot) to out (DNS_NAME_MAX + 1 bytes). Rules: one trailing dot is dropped; the
 * rest is 1..253 bytes of labels of 1..63 bytes separated by single dots; any byte other
 * than '.' may appear in a label (backends escape as needed). Returns 0 or DNS_ERR_NAME. */
static int name_normalise(const char *name, char *out)
{
    if (!name)
        return DNS_ERR_NAME;
    size_t len = strnlen(name, DNS_NAME_MAX + 2);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX)
        return DNS_ERR_NAME;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return DNS_ERR_NAME;
            label = 0;
        } else if (++label > DNS_LABEL_MAX) {
            return DNS_ERR_NAME;
        }
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : (char)c;
    }
    if (label == 0)
        return DNS_ERR_NAME; /* "a.." ends in an empty label */
    out[len] = '\0';
    return 0;
}

/* --- public API ---------------------------------------------------------------------- */

void dns_config_defaults(struct dns_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->forwarder = NULL;
    cfg->dnssec = true;
    cfg->trust_anchor_file = NULL;
    cfg->trust_anchors = NULL;
    cfg->timeout_ms = DNS_TIMEOUT_DEFAULT_MS;
    cfg->msg_cache_bytes = (size_t)16 << 20;
    cfg->rrset_cache_bytes = (size_t)32 << 20;
    cfg->outgoing_range = 1024;
    cfg->max_queries = DNS_MAX_QUERIES_DEFAULT;
    cfg->no_local_zones = false;
}

struct dns_resolver *dns_resolver_new(struct dns_backend *b, uint32_t timeout_ms,
                                      unsigned max_queries)
{
    struct dns_resolver *r = xcalloc(1, sizeof(*r));
    r->b = b;
    r->timeout_ms = timeout_ms ? timeout_ms : DNS_TIMEOUT_DEFAULT_MS;
    r->max_queries = max_queries ? max_queries : DNS_MAX_QUERIES_DEFAULT;
    r->next_token = 1;
    r->nbuckets = 256;
    r->buckets = xcalloc(r->nbuckets, sizeof(*r->buckets));
    b->r = r;
    return r;
}

void dns_resolver_destroy(struct dns_resolver *r)
{
    if (!r)
        return;
    if (r->b)
        r->b->ops->destroy(r->b);
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct dns_pending *p = r->buckets[i];
        while (p) {
            struct dns_pending *next = p->hnext;
            if (!p->ready)
                pending_free(p); /* ready ones are freed from the list below */
            p = next;
        }
    }
    struct dns_pending *p;
    while ((p = ready_pop(r)))
        pending_free(p); /* includes cancelled ready records, no longer in the table */
    free(r->buckets);
    free(r->heap);
    free(r);
}

int dns_resolver_fd(const struct dns_resolver *r)
{
    return r->b->ops->fd(r->b);
}

unsigned dns_resolver_pending(const struct dns_resolver *r)
{
    return (unsigned)r->nheap;
}

int64_t dns_resolver_next_timeout_ms(const struct dns_resolver *r, uint64_t now_ms)
{
    if (r->ready_head)
        return 0; /* undelivered answers (a callback re-entered us, or process was cut short) */
    if (r->nheap == 0)
        return -1;
    uint64_t d = r->heap[0]->deadline_ms;
    return d <= now_ms ? 0 : (int64_t)(d - now_ms);
}

int dns_query(struct dns_resolver *r, const char *name, enum dns_type type, uint64_t now_ms,
              dns_answer_cb cb, void *arg, uint64_t *id)
{
    char norm[DNS_NAME_MAX + 1];
    int err = name_normalise(name, norm);
    if (err)
        return err;
    if (r->nheap >= r->max_queries)
        return DNS_ERR_BUSY;

    struct dns_pending *p = xmalloc(sizeof(*p));
    memset(p, 0, offsetof(struct dns_pending, name));
    memcpy(p->name, norm, strlen(norm) + 1);
    p->token = r->next_token++;
    p->start_ms = now_ms;
    p->deadline_ms = now_ms + r->timeout_ms;
    p->heap_idx = SIZE_MAX;
    p->cb = cb;
    p->arg = arg;
    p->type = type;

    /* Insert first: a backend never delivers from start(), but keeping the record findable
     * while start() runs costs nothing. */
    table_add(r, p);
    heap_push(r, p);
    if (r->b->ops->start(r->b, p->name, type, p->token) != 0) {
        heap_remove(r, p);
        table_remove(r, p);
        pending_free(p);
        return DNS_ERR_BACKEND;
    }
    if (id)
        *id = p->token;
    return 0;
}

int dns_cancel(struct dns_resolver *r, uint64_t id)
{
    struct dns_pending *p = table_find(r, id);
    if (!p)
        return -1;
    table_remove(r, p);
    if (p->ready) {
        p->cancelled = true; /* freed when the ready list reaches it */
        return 0;
    }
    heap_remove(r, p);
    r->b->ops->cancel(r->b, p->token);
    pending_free(p);
    return 0;
}

void dns_resolver_deliver(struct dns_resolver *r, uint64_t token, struct dns_answer *a)
{
    struct dns_pending *p = table_find(r, token);
    if (!p || p->ready)
        return; /* cancelled, timed out, or delivered twice: ignore */
    heap_remove(r, p);
    p->ans = dns_answer_copy(a);
    ready_push(r, p);
}

/* expire - queue every waiting query whose deadline is <= now as a timeout, and tell the
 * backend to forget it */
static void expire(struct dns_resolver *r, uint64_t now_ms)
{
    while (r->nheap > 0 && r->heap[0]->deadline_ms <= now_ms) {
        struct dns_pending *p = r->heap[0];
        heap_remove(r, p);
        ready_push(r, p);
        r->b->ops->cancel(r->b, p->token);
    }
}

/* run_one - call the callback of ready record p (already out of the table) and free it */
static void run_one(struct dns_pending *p, uint64_t now_ms)
{
    struct dns_answer tmo;
    struct dns_answer *a = p->ans;
    if (!a) {
        memset(&tmo, 0, sizeof(tmo));
        tmo.status = DNS_TIMEOUT;
        tmo.rcode = -1;
        a = &tmo;
    }
    /* the front end is authoritative for what was asked and when */
    a->qname = p->name;
    a->type = p->type;
    if (a->status != DNS_OK) {
        a->n = 0;
        a->rr = NULL;
    }
    if (a->status != DNS_BOGUS)
        a->why_bogus = NULL;
    uint64_t elapsed = now_ms > p->start_ms ? now_ms - p->start_ms : 0;
    a->elapsed_ms = elapsed > UINT32_MAX ? UINT32_MAX : (uint32_t)elapsed;
    p->cb(p->arg, a);
    pending_free(p);
}

void dns_resolver_process(struct dns_resolver *r, uint64_t now_ms)
{
    r->b->ops->process(r->b);
    expire(r, now_ms);
    struct dns_pending *p;
    while ((p = ready_pop(r))) {
        if (p->cancelled) {
            pending_free(p);
            continue;
        }
        table_remove(r, p);
        run_one(p, now_ms);
    }
}

/* --- answers ------------------------------------------------------------------------- */

/* span - bytes for a NUL-terminated copy of s (0 for NULL) */
static size_t span(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* put - copy len bytes of s plus a NUL at *cursor; returns the copy (NULL for NULL s) */
static char *put(char **cursor, const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *d = *cursor;
    memcpy(d, s, len);
    d[len] = '\0';
    *cursor += len + 1;
    return d;
}

struct dns_answer *dns_answer_copy(const struct dns_answer *a)
{
    size_t bytes = sizeof(struct dns_answer) + (size_t)a->n * sizeof(struct dns_rr);
    bytes += span(a->qname) + span(a->why_bogus);
    for (unsigned i = 0; i < a->n; i++) {
        bytes += span(a->rr[i].name);
        if (a->rr[i].txt)
            bytes += a->rr[i].txt_len + 1;
    }
    struct dns_answer *c = xmalloc(bytes);
    *c = *a;
    c->rr = a->n ? (struct dns_rr *)(c + 1) : NULL;
    char *cursor = (char *)(c + 1) + (size_t)a->n * sizeof(struct dns_rr);
    c->qname = put(&cursor, a->qname, a->qname ? strlen(a->qname) : 0);
    c->why_bogus = put(&cursor, a->why_bogus, a->why_bogus ? strlen(a->why_bogus) : 0);
    for (unsigned i = 0; i < a->n; i++) {
        c->rr[i] = a->rr[i];
        c->rr[i].name = put(&cursor, a->rr[i].name, a->rr[i].name ? strlen(a->rr[i].name) : 0);
        c->rr[i].txt = put(&cursor, a->rr[i].txt, a->rr[i].txt_len);
        if (!a->rr[i].txt)
            c->rr[i].txt_len = 0;
    }
    return c;
}

void dns_answer_free(struct dns_answer *a)
{
    free(a);
}

const char *dns_status_name(enum dns_status s)
{
    switch (s) {
    case DNS_OK:
        return "ok";
    case DNS_NODATA:
        return "nodata";
    case DNS_NXDOMAIN:
        return "nxdomain";
    case DNS_SERVFAIL:
        return "servfail";
    case DNS_TIMEOUT:
        return "timeout";
    case DNS_BOGUS:
        return "bogus";
    case DNS_ERROR:
        return "error";
    }
    return "unknown";
}

const char *dns_type_name(enum dns_type t)
{
    switch (t) {
    case DNS_T_A:
        return "A";
    case DNS_T_PTR:
        return "PTR";
    case DNS_T_MX:
        return "MX";
    case DNS_T_TXT:
        return "TXT";
    case DNS_T_AAAA:
        return "AAAA";
    case DNS_T_SPF:
        return "SPF";
    }
    return "TYPE?";
}

const char *dns_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case DNS_ERR_NAME:
        return "invalid domain name";
    case DNS_ERR_BUSY:
        return "too many DNS queries in flight";
    case DNS_ERR_BACKEND:
        return "resolver refused the query";
    }
    return "unknown DNS error";
}
