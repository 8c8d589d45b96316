/* tests/fuzz/fuzz_kv_batch.c - kv batches (kv.h "batched updates") against a model, on the
 * memory backend: the input is a program of one-byte operations on 8 counters.
 *
 * Invariants checked after every operation:
 * - an update in the batch sees the batch's own pending writes (the model's pending view);
 * - kv_get and every reader see only committed state until kv_batch_commit;
 * - a status is 1 exactly when the update left a write pending or decided on a pending record,
 *   and the commit sets every such status to 0, or all of them to KV_ERR_IO when it fails (and
 *   then nothing of the batch is applied);
 * - kv_batch_idle is true after a commit; a plain kv_update works then (the stripes are free).
 * Byte b: op = b % 8, key = (b / 8) % 8. */
#include "tests/fuzz/fuzz.h"
#include "kv/kv.h"

#include <stdbool.h>
#include <string.h>

#define KEYS 8
#define MAX_OPS 512

struct model {
    bool com_has[KEYS], pend_has[KEYS];
    uint64_t com[KEYS], pend[KEYS];
    bool touched[KEYS]; /* the batch holds a pending write of the key */
};

/* struct ctr - what ctr_cb does and saw */
struct ctr {
    enum kv_update_op op; /* PUT: increment (create at 1); DELETE; KEEP */
    bool saw;
    uint64_t seen;
    unsigned char out[8];
};

static enum kv_update_op ctr_cb(struct kv_update *u, void *arg)
{
    struct ctr *c = arg;
    c->saw = u->found;
    c->seen = 0;
    if (u->found) {
        FUZZ_CHECK(u->cur_len == 8, "stored value of %zu bytes", u->cur_len);
        for (int i = 0; i < 8; i++)
            c->seen |= (uint64_t)((const unsigned char *)u->cur)[i] << (8 * i);
    }
    if (c->op != KV_UPDATE_PUT)
        return c->op;
    uint64_t v = c->seen + 1;
    for (int i = 0; i < 8; i++)
        c->out[i] = (unsigned char)(v >> (8 * i));
    u->val = c->out;
    u->val_len = 8;
    u->expires_s = 0;
    return KV_UPDATE_PUT;
}

static size_t key_of(unsigned k, char *buf)
{
    buf[0] = 'k';
    buf[1] = (char)('0' + k);
    return 2;
}

/* check_committed - kv_get of every key answers the committed model */
static void check_committed(struct kv *kv, const struct model *m)
{
    for (unsigned k = 0; k < KEYS; k++) {
        char key[2];
        unsigned char b[8];
        size_t vlen = 0;
        int rc = kv_get(kv, key, key_of(k, key), 1000, b, sizeof(b), &vlen, NULL);
        if (!m->com_has[k]) {
            FUZZ_CHECK(rc == KV_ERR_NOTFOUND, "key %u: got %d, want absent", k, rc);
            continue;
        }
        FUZZ_CHECK(rc == 0 && vlen == 8, "key %u: got %d (%zu bytes), want a value", k, rc, vlen);
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)b[i] << (8 * i);
        FUZZ_CHECK(v == m->com[k], "key %u: got %llu, want %llu", k, (unsigned long long)v,
                   (unsigned long long)m->com[k]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kv *kv = kv_open_memory();
    struct kv_batch *b = kv_batch_create(kv);
    struct model m;
    memset(&m, 0, sizeof(m));
    static int status[MAX_OPS];
    bool waits[MAX_OPS]; /* statuses the next commit must set */
    size_t nst = 0;
    for (size_t i = 0; i < size && i < MAX_OPS; i++) {
        unsigned op = data[i] % 8, k = (data[i] / 8) % KEYS;
        char key[2];
        size_t klen = key_of(k, key);
        if (op <= 2) { /* 0 increment, 1 delete, 2 read only: in the batch */
            struct ctr c = {.op = op == 0 ? KV_UPDATE_PUT : op == 1 ? KV_UPDATE_DELETE
                                                                    : KV_UPDATE_KEEP};
            int *st = &status[nst];
            FUZZ_CHECK(kv_batch_update(b, key, klen, 1000, ctr_cb, &c, st) == 0, "update");
            FUZZ_CHECK(c.saw == m.pend_has[k], "key %u: saw %d, pending view has %d", k, c.saw,
                       m.pend_has[k]);
            FUZZ_CHECK(!c.saw || c.seen == m.pend[k], "key %u: saw %llu, want %llu", k,
                       (unsigned long long)c.seen, (unsigned long long)m.pend[k]);
            bool writes = op == 0 || (op == 1 && (m.touched[k] || m.com_has[k]));
            bool want = writes || m.touched[k];
            FUZZ_CHECK(*st == (want ? 1 : 0), "key %u op %u: status %d, want %d", k, op, *st,
                       want);
            waits[nst++] = want;
            if (op == 0) {
                m.pend[k] = m.pend_has[k] ? m.pend[k] + 1 : 1;
                m.pend_has[k] = true;
            } else if (op == 1) {
                m.pend_has[k] = false;
            }
            m.touched[k] |= writes;
        } else if (op == 3 || op == 4) { /* commit; 4: a commit that fails */
            if (op == 4)
                kv_memory_fail_writes(kv, true);
            bool any = false;
            for (unsigned j = 0; j < KEYS; j++)
                any |= m.touched[j];
            int rc = kv_batch_commit(b);
            kv_memory_fail_writes(kv, false);
            int want = op == 4 && any ? KV_ERR_IO : 0;
            FUZZ_CHECK(rc == want, "commit: got %d, want %d", rc, want);
            for (size_t s = 0; s < nst; s++)
                FUZZ_CHECK(!waits[s] || status[s] == want, "status %zu: got %d, want %d", s,
                           status[s], want);
            FUZZ_CHECK(kv_batch_idle(b), "not idle after the commit");
            for (unsigned j = 0; j < KEYS; j++) {
                if (want == 0) {
                    m.com_has[j] = m.pend_has[j];
                    m.com[j] = m.pend[j];
                } else {
                    m.pend_has[j] = m.com_has[j];
                    m.pend[j] = m.com[j];
                }
                m.touched[j] = false;
            }
            nst = 0;
        } else if (op == 5) { /* a plain update: only with the batch committed */
            kv_batch_commit(b);
            for (unsigned j = 0; j < KEYS; j++) {
                m.com_has[j] = m.pend_has[j];
                m.com[j] = m.pend[j];
                m.touched[j] = false;
            }
            nst = 0;
            struct ctr c = {.op = KV_UPDATE_PUT};
            FUZZ_CHECK(kv_update(kv, key, klen, 1000, ctr_cb, &c) == 0, "plain update");
            m.com[k] = m.com_has[k] ? m.com[k] + 1 : 1;
            m.com_has[k] = true;
            m.pend[k] = m.com[k];
            m.pend_has[k] = true;
        } else { /* 6, 7: readers see committed state only */
            check_committed(kv, &m);
        }
    }
    kv_batch_destroy(b); /* commits the rest */
    for (unsigned j = 0; j < KEYS; j++) {
        m.com_has[j] = m.pend_has[j];
        m.com[j] = m.pend[j];
    }
    check_committed(kv, &m);
    kv_close(kv);
    return 0;
}
