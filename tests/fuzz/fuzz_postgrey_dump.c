/* tests/fuzz/fuzz_postgrey_dump.c - the db_dump parser and the postgrey record conversion
 * (engine/postgrey_import.h).
 *
 * Input: a dump, fed line by line (split at LF), then finished.
 * - Every error carries a message and names a line that was fed (1..lines, or the last line
 *   at finish); records name a line before the current one; record line numbers increase.
 * - Round trip: the records found, written back as a clean dump in the print format and in
 *   the bytevalue format (one section each), parse with no error into the same records.
 * - Each record converts (as found, and with its kind detected) to either a POSTGREY_ERR_*
 *   or a greyspf record with a key of 1..GREYLIST_KEY_MAX bytes of greylist.h's layout, a
 *   state matching its kind, an expiry after now, and an encoding that decodes back. */
#include "tests/fuzz/fuzz.h"
#include "engine/greylist.h"
#include "engine/postgrey_import.h"

#include <stdbool.h>
#include <string.h>

#define MAX_RECORDS 256
#define NOW 1700000000

struct rec {
    uint8_t *key, *val;
    size_t klen, vlen;
};

struct recs {
    struct rec v[MAX_RECORDS];
    size_t n;
};

/* buf - a growing output buffer */
struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        FUZZ_CHECK(b->p != NULL, "out of memory");
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* put_data - one data line: print escapes (db_dump -p's) or hex pairs */
static void put_data(struct buf *b, const uint8_t *s, size_t n, bool hex)
{
    static const char digits[] = "0123456789abcdef";
    put(b, " ", 1);
    for (size_t i = 0; i < n; i++) {
        char e[3] = {'\\', digits[s[i] >> 4], digits[s[i] & 15]};
        if (hex)
            put(b, e + 1, 2);
        else if (s[i] == '\\')
            put(b, "\\\\", 2);
        else if (s[i] >= 0x20 && s[i] <= 0x7e)
            put(b, s + i, 1);
        else
            put(b, e, 3);
    }
    put(b, "\n", 1);
}

/* parse - feed text; records into out (when not NULL, at most MAX_RECORDS), errors counted */
static unsigned parse(const char *text, size_t len, struct recs *out)
{
    struct postgrey_dump *d = postgrey_dump_create();
    struct postgrey_dump_item it;
    unsigned errors = 0, lines = 0, last_record = 0;
    for (size_t off = 0;;) {
        enum postgrey_dump_event ev;
        size_t n = 0;
        if (off < len) {
            const char *nl = memchr(text + off, '\n', len - off);
            n = nl ? (size_t)(nl - text) - off : len - off;
            ev = postgrey_dump_line(d, text + off, n, &it);
            lines++;
        } else {
            ev = postgrey_dump_finish(d, &it);
        }
        FUZZ_CHECK(postgrey_dump_lines(d) == lines, "lines: got %u, want %u",
                   postgrey_dump_lines(d), lines);
        if (ev == POSTGREY_DUMP_ERROR) {
            errors++;
            FUZZ_CHECK(it.msg[0] && it.line >= 1 && it.line <= (lines ? lines : 1),
                       "error at line %u of %u: \"%s\"", it.line, lines, it.msg);
        } else if (ev == POSTGREY_DUMP_RECORD) {
            FUZZ_CHECK(it.line >= 1 && it.line < lines && it.line > last_record,
                       "record at line %u (line %u, previous record %u)", it.line, lines,
                       last_record);
            FUZZ_CHECK(it.key_len <= POSTGREY_DUMP_LINE_MAX && it.val_len <= n,
                       "record sizes %zu %zu from a line of %zu", it.key_len, it.val_len, n);
            last_record = it.line;
            if (out && out->n < MAX_RECORDS) {
                struct rec *r = &out->v[out->n++];
                r->key = malloc(it.key_len + 1);
                r->val = malloc(it.val_len + 1);
                FUZZ_CHECK(r->key && r->val, "out of memory");
                memcpy(r->key, it.key, it.key_len);
                memcpy(r->val, it.val, it.val_len);
                r->klen = it.key_len;
                r->vlen = it.val_len;
            }
        }
        if (off >= len)
            break;
        off += n + 1;
    }
    postgrey_dump_destroy(d);
    return errors;
}

/* check_convert - the conversion invariants for one record */
static void check_convert(const struct rec *r, enum postgrey_kind kind, bool hashed)
{
    static const uint8_t hkey[GREYLIST_HASH_KEY_LEN] = {1, 2, 3};
    struct greylist_params p = {.delay_s = 300,
                                .retry_window_s = 2 * 86400,
                                .max_age_s = 35 * 86400,
                                .key_parts = GREYLIST_KEY_ALL,
                                .prefix_v4 = 24,
                                .prefix_v6 = 64,
                                .normalize_sender = true,
                                .awl_after = 5,
                                .hash_key = hashed ? hkey : NULL};
    struct postgrey_opts o;
    postgrey_opts_defaults(&o);
    o.lookup_by_host = r->klen & 1;
    struct postgrey_record out;
    char why[200];
    int rc = postgrey_convert(&p, &o, kind, r->key, r->klen, r->val, r->vlen, NOW, &out, why,
                              sizeof(why));
    if (rc != 0) {
        FUZZ_CHECK(rc >= POSTGREY_ERR_NETWORK && rc <= POSTGREY_ERR_MALFORMED && why[0],
                   "convert returned %d \"%s\"", rc, why);
        return;
    }
    FUZZ_CHECK(out.key_len >= 2 && out.key_len <= GREYLIST_KEY_MAX, "key of %zu bytes",
               out.key_len);
    bool awl = out.kind == POSTGREY_CLIENTS;
    FUZZ_CHECK(out.key[0] == (awl ? 'a' : 't') && out.key[1] == (hashed ? '#' : '/'),
               "key starts %c%c for kind %d", out.key[0], out.key[1], out.kind);
    FUZZ_CHECK(!hashed || out.key_len == 2 + GREYLIST_HASH_KEY_LEN, "hashed key of %zu",
               out.key_len);
    FUZZ_CHECK(kind == POSTGREY_UNKNOWN || out.kind == kind, "kind %d for %d", out.kind, kind);
    FUZZ_CHECK((out.rec.state == GREYLIST_STATE_AWL) == awl, "state %d for kind %d", out.rec.state,
               out.kind);
    FUZZ_CHECK(out.expires_s > NOW && out.rec.first_seen_s <= out.rec.last_seen_s &&
                   out.rec.last_seen_s <= NOW,
               "times first %lld last %lld expires %lld", (long long)out.rec.first_seen_s,
               (long long)out.rec.last_seen_s, (long long)out.expires_s);
    uint8_t v[GREYLIST_RECORD_SIZE];
    struct greylist_record back;
    greylist_record_encode(&out.rec, v);
    FUZZ_CHECK(greylist_record_decode(v, sizeof(v), &back) == 0 && back.state == out.rec.state &&
                   back.passes == out.rec.passes && back.first_seen_s == out.rec.first_seen_s,
               "record does not survive its encoding");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recs *found = calloc(1, sizeof(*found));
    FUZZ_CHECK(found != NULL, "out of memory");
    parse((const char *)data, size, found);
    for (int hex = 0; hex < 2; hex++) {
        struct buf b = {0};
        const char *hdr = hex ? "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n"
                              : "VERSION=3\nformat=print\ntype=btree\nHEADER=END\n";
        put(&b, hdr, strlen(hdr));
        for (size_t i = 0; i < found->n; i++) {
            put_data(&b, found->v[i].key, found->v[i].klen, hex);
            put_data(&b, found->v[i].val, found->v[i].vlen, hex);
        }
        put(&b, "DATA=END\n", 9);
        struct recs *again = calloc(1, sizeof(*again));
        FUZZ_CHECK(again != NULL, "out of memory");
        size_t lines = 0;
        for (size_t i = 0; i < b.len; i++)
            lines += b.p[i] == '\n';
        /* a record whose encoding exceeds the line limit is rightly refused: skip those */
        bool fits = true;
        for (size_t i = 0; i < found->n; i++)
            fits &= found->v[i].klen * 3 + 1 <= POSTGREY_DUMP_LINE_MAX &&
                    found->v[i].vlen * 3 + 1 <= POSTGREY_DUMP_LINE_MAX;
        unsigned errors = parse(b.p, b.len, again);
        if (fits) {
            FUZZ_CHECK(errors == 0, "%u errors re-parsing %zu records (%zu lines)", errors,
                       found->n, lines);
            FUZZ_CHECK(again->n == found->n, "got %zu records back, want %zu", again->n, found->n);
            for (size_t i = 0; i < found->n; i++)
                FUZZ_CHECK(again->v[i].klen == found->v[i].klen &&
                               again->v[i].vlen == found->v[i].vlen &&
                               memcmp(again->v[i].key, found->v[i].key, found->v[i].klen) == 0 &&
                               memcmp(again->v[i].val, found->v[i].val, found->v[i].vlen) == 0,
                           "record %zu differs after the round trip", i);
        }
        for (size_t i = 0; i < again->n; i++) {
            free(again->v[i].key);
            free(again->v[i].val);
        }
        free(again);
        free(b.p);
    }
    for (size_t i = 0; i < found->n; i++) {
        struct rec *r = &found->v[i];
        enum postgrey_kind k = postgrey_detect(r->key, r->klen, r->val, r->vlen);
        check_convert(r, POSTGREY_UNKNOWN, false);
        check_convert(r, k, i & 1);
        check_convert(r, POSTGREY_TRIPLETS, false);
        check_convert(r, POSTGREY_CLIENTS, true);
        free(r->key);
        free(r->val);
    }
    free(found);
    return 0;
}
