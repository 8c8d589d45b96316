/* engine/spf_memo.c - per-check memo of DNS answers for the re-run evaluator (spf.h,
 * spf_memo.h). A chained hash table keyed by (name, type) plus a list in first-seen order,
 * so lookups are handed out in the order the evaluation asked for them. Everything - the
 * entries, answer copies, evaluator caches - lives in the memo's arena, whose first block is
 * part of the memo itself; a second arena is the evaluation's per-run scratch space. One
 * malloc per check in the common case. Not thread-safe (one check, one thread). */
#include "engine/spf_memo.h"

#include <stdlib.h>
#include <string.h>

#include "engine/base/alloc.h"

#define MEMO_BUCKETS_MIN 32
#define MEMO_ARENA_FIRST 4096
#define MEMO_SCRATCH_FIRST 16384
#define MEMO_KEY_MAX 255 /* names the evaluator asks for are at most 253 bytes */

struct memo_entry {
    struct spf_memo_slot slot;
    struct memo_entry *hnext; /* hash chain */
    struct memo_entry *onext; /* first-seen order */
    char *name;
    enum dns_type type;
    bool wanted, needed, handed;
};

struct spf_memo {
    struct memo_entry **buckets;
    size_t nbuckets, nentries;
    struct memo_entry *first, *last; /* first-seen order */
    struct arena arena;              /* entries, answers, caches */
    struct arena scratch;            /* one evaluation run */
    _Alignas(max_align_t) char arena_first[MEMO_ARENA_FIRST];
    _Alignas(max_align_t) char scratch_first[MEMO_SCRATCH_FIRST];
};

/* hash - FNV-1a over the name and the type */
static size_t hash(const char *name, enum dns_type type)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= UINT64_C(1099511628211);
    }
    h ^= (uint64_t)type;
    h *= UINT64_C(1099511628211);
    return (size_t)(h ^ (h >> 29));
}

struct spf_memo *spf_memo_create(void)
{
    struct spf_memo *m = xmalloc(sizeof(*m));
    m->nbuckets = MEMO_BUCKETS_MIN;
    m->nentries = 0;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    m->first = m->last = NULL;
    arena_init(&m->arena, m->arena_first, sizeof(m->arena_first));
    arena_init(&m->scratch, m->scratch_first, sizeof(m->scratch_first));
    return m;
}

void spf_memo_destroy(struct spf_memo *m)
{
    if (!m)
        return;
    arena_fini(&m->arena);
    arena_fini(&m->scratch);
    free(m->buckets);
    free(m);
}

/* grow - double the buckets and rehash */
static void grow(struct spf_memo *m)
{
    size_t n = m->nbuckets * 2;
    struct memo_entry **b = xcalloc(n, sizeof(*b));
    for (struct memo_entry *e = m->first; e; e = e->onext) {
        size_t i = hash(e->name, e->type) & (n - 1);
        e->hnext = b[i];
        b[i] = e;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

/* find - the entry of (name, type), created when `create` */
static struct memo_entry *find(struct spf_memo *m, const char *name, enum dns_type type,
                               bool create)
{
    size_t h = hash(name, type);
    for (struct memo_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->hnext)
        if (e->type == type && strcmp(e->name, name) == 0)
            return e;
    if (!create)
        return NULL;
    if (m->nentries + 1 > m->nbuckets)
        grow(m);
    struct memo_entry *e = arena_alloc(&m->arena, sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->name = arena_strndup(&m->arena, name, strlen(name));
    e->type = type;
    size_t i = h & (m->nbuckets - 1);
    e->hnext = m->buckets[i];
    m->buckets[i] = e;
    if (m->last)
        m->last->onext = e;
    else
        m->first = e;
    m->last = e;
    m->nentries++;
    return e;
}

/* copy_str - NUL-terminated copy of s[0..n) in the memo arena (NULL stays NULL) */
static char *copy_str(struct spf_memo *m, const char *s, size_t n)
{
    return s ? arena_strndup(&m->arena, s, n) : NULL;
}

void spf_memo_put(struct spf_memo *m, const struct dns_answer *a)
{
    if (!a->qname)
        return;
    /* the key: lower case, no trailing dot (the front end already gives that form) */
    size_t len = strlen(a->qname);
    if (len > 0 && a->qname[len - 1] == '.')
        len--;
    char *key = arena_strndup(&m->scratch, a->qname, len);
    for (char *p = key; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
    struct memo_entry *e = find(m, key, a->type, true);
    if (e->slot.ans)
        return; /* first answer wins: a re-run must see what the last one saw */
    struct dns_answer *c = arena_alloc(&m->arena, sizeof(*c));
    *c = *a;
    c->qname = e->name;
    c->why_bogus = a->why_bogus ? copy_str(m, a->why_bogus, strlen(a->why_bogus)) : NULL;
    if (a->status != DNS_OK || !a->rr)
        c->n = 0;
    c->rr = c->n ? arena_alloc(&m->arena, c->n * sizeof(*c->rr)) : NULL;
    for (unsigned i = 0; i < c->n; i++) {
        const struct dns_rr *s = &a->rr[i];
        struct dns_rr *d = &c->rr[i];
        *d = *s;
        d->name = s->name ? copy_str(m, s->name, strlen(s->name)) : NULL;
        d->txt = s->txt ? copy_str(m, s->txt, s->txt_len) : NULL;
        d->txt_len = s->txt ? s->txt_len : 0;
    }
    e->slot.ans = c;
    e->wanted = false;
}

unsigned spf_memo_take_wanted(struct spf_memo *m, spf_wanted_cb cb, void *arg)
{
    unsigned n = 0;
    for (struct memo_entry *e = m->first; e; e = e->onext) {
        if (!e->wanted || e->handed || e->slot.ans)
            continue;
        e->handed = true;
        n++;
        /* the callback may put an answer (a lookup refused locally): e stays valid */
        cb(arg, e->name, e->type, e->needed);
    }
    return n;
}

unsigned spf_memo_blocked(const struct spf_memo *m)
{
    unsigned n = 0;
    for (const struct memo_entry *e = m->first; e; e = e->onext)
        if (e->needed && e->handed && !e->slot.ans)
            n++;
    return n;
}

void spf_memo_run_begin(struct spf_memo *m)
{
    for (struct memo_entry *e = m->first; e; e = e->onext)
        e->wanted = e->needed = false;
    arena_reset(&m->scratch);
}

struct spf_memo_slot *spf_memo_slot(struct spf_memo *m, const char *name, enum dns_type type,
                                    enum spf_memo_want want)
{
    /* the key form spf_memo_put uses, so a mixed-case name from an answer still matches */
    char key[MEMO_KEY_MAX + 1];
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len <= MEMO_KEY_MAX) {
        for (size_t i = 0; i < len; i++)
            key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + ('a' - 'A')) : name[i];
        key[len] = '\0';
        name = key;
    }
    struct memo_entry *e = find(m, name, type, want != SPF_MEMO_PEEK);
    if (!e)
        return NULL;
    if (!e->slot.ans && want != SPF_MEMO_PEEK) {
        e->wanted = true;
        if (want == SPF_MEMO_NEED)
            e->needed = true;
    }
    return &e->slot;
}

struct arena *spf_memo_scratch(struct spf_memo *m)
{
    return &m->scratch;
}

struct arena *spf_memo_arena(struct spf_memo *m)
{
    return &m->arena;
}
