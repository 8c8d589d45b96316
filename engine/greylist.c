/* engine/greylist.c - greylisting core; key layout, record format and state machine are in
 * greylist.h. Nothing here reads a clock, logs per request or keeps state between calls. */
#include "engine/greylist.h"
#include "engine/base/alloc.h"
#include "engine/base/hash.h"
#include "kv/kv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

const char *greylist_verdict_name(enum greylist_verdict v)
{
    static const char *const names[] = {"new", "early", "passed", "known", "awl"};
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* --- reply text --------------------------------------------------------------------------- */

static const char tok_seconds[] = "{seconds}", tok_domain[] = "{domain}";

int greylist_text_check(const char *tmpl, char *why, size_t whylen)
{
    size_t n = strlen(tmpl);
    if (n > GREYLIST_TEXT_MAX) {
        snprintf(why, whylen, "longer than %d bytes", GREYLIST_TEXT_MAX);
        return -1;
    }
    for (const char *p = tmpl; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "control character 0x%02x", (unsigned char)*p);
            return -1;
        }
        if (*p != '{')
            continue;
        if (strncmp(p, tok_seconds, sizeof(tok_seconds) - 1) == 0)
            p += sizeof(tok_seconds) - 2;
        else if (strncmp(p, tok_domain, sizeof(tok_domain) - 1) == 0)
            p += sizeof(tok_domain) - 2;
        else {
            size_t k = strcspn(p, "}");
            snprintf(why, whylen, "unknown token \"%.*s\" (known: {seconds} {domain})",
                     (int)(k < 32 ? k + (p[k] == '}') : 32), p);
            return -1;
        }
    }
    return 0;
}

/* out_put - append s[0..n) to out within cap - 1 */
static void out_put(char *out, size_t cap, size_t *k, const char *s, size_t n)
{
    if (*k + n > cap - 1)
        n = cap - 1 - *k;
    memcpy(out + *k, s, n);
    *k += n;
}

size_t greylist_text_expand(const char *tmpl, int64_t seconds, const char *domain, size_t dlen,
                            char *out, size_t cap)
{
    size_t k = 0;
    if (cap == 0)
        return 0;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, tok_seconds, sizeof(tok_seconds) - 1) == 0) {
            char num[24];
            int n = snprintf(num, sizeof(num), "%lld", (long long)(seconds > 0 ? seconds : 0));
            out_put(out, cap, &k, num, (size_t)n);
            p += sizeof(tok_seconds) - 1;
        } else if (strncmp(p, tok_domain, sizeof(tok_domain) - 1) == 0) {
            for (size_t i = 0; i < dlen && i < 255; i++) {
                char ch = domain[i];
                if (!isalnum((unsigned char)ch) && ch != '-' && ch != '.' && ch != '_')
                    ch = '?';
                out_put(out, cap, &k, &ch, 1);
            }
            p += sizeof(tok_domain) - 1;
        } else {
            out_put(out, cap, &k, p, 1);
            p++;
        }
    }
    out[k] = '\0';
    return k;
}

/* --- SipHash-2-4 ------------------------------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* struct sip - the four state words */
struct sip {
    uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

/* siphash - SipHash-2-4 with outlen 8 or 16 bytes into out */
static void siphash(const uint8_t key[16], const void *data, size_t len, uint8_t *out,
                    size_t outlen)
{
    const uint8_t *in = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    struct sip s = {0x736f6d6570736575ull ^ k0, 0x646f72616e646f6dull ^ k1,
                    0x6c7967656e657261ull ^ k0, 0x7465646279746573ull ^ k1};
    if (outlen == 16)
        s.v1 ^= 0xee;
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = le64(in + i);
        s.v3 ^= m;
        sip_round(&s);
        sip_round(&s);
        s.v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    s.v3 ^= b;
    sip_round(&s);
    sip_round(&s);
    s.v0 ^= b;
    s.v2 ^= outlen == 16 ? 0xee : 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    put_le64(out, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
    if (outlen != 16)
        return;
    s.v1 ^= 0xdd;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    put_le64(out + 8, s.v0 ^ s.v1 ^ s.v2 ^ s.v3);
}

uint64_t greylist_siphash64(const uint8_t key[16], const void *data, size_t len)
{
    uint8_t out[8];
    siphash(key, data, len, out, 8);
    return le64(out);
}

void greylist_siphash128(const uint8_t key[16], const void *data, size_t len, uint8_t out[16])
{
    siphash(key, data, len, out, 16);
}

/* --- records ---------------------------------------------------------------------------------- */

void greylist_record_encode(const struct greylist_record *r, uint8_t out[GREYLIST_RECORD_SIZE])
{
    out[0] = GREYLIST_RECORD_VERSION;
    out[1] = (uint8_t)r->state;
    put_le64(out + 2, (uint64_t)r->first_seen_s);
    put_le64(out + 10, (uint64_t)r->last_seen_s);
    for (int i = 0; i < 4; i++)
        out[18 + i] = (uint8_t)(r->passes >> (8 * i));
}

int greylist_record_decode(const void *val, size_t len, struct greylist_record *r)
{
    const uint8_t *p = val;
    if (len != GREYLIST_RECORD_SIZE || p[0] != GREYLIST_RECORD_VERSION || p[1] > GREYLIST_STATE_AWL)
        return -1;
    r->state = (enum greylist_state)p[1];
    r->first_seen_s = (int64_t)le64(p + 2);
    r->last_seen_s = (int64_t)le64(p + 10);
    r->passes =
        (uint32_t)p[18] | (uint32_t)p[19] << 8 | (uint32_t)p[20] << 16 | (uint32_t)p[21] << 24;
    return 0;
}

/* --- sender normalisation ----------------------------------------------------------------- */

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static bool has_prefix(const char *s, size_t n, const char *pfx)
{
    size_t k = strlen(pfx);
    return n >= k && memcmp(s, pfx, k) == 0;
}

/* nth_eq - position of the next '=' in s[from..n), or n */
static size_t next_eq(const char *s, size_t n, size_t from)
{
    const char *e = from < n ? memchr(s + from, '=', n - from) : NULL;
    return e ? (size_t)(e - s) : n;
}

/* srs0_body - "HASH=TT=DOMAIN=LOCAL" in s[0..n): the original domain and local part. false if
 * s is not of that shape */
static bool srs0_body(const char *s, size_t n, const char **dom, size_t *dn, const char **loc,
                      size_t *ln)
{
    size_t a = next_eq(s, n, 0);
    size_t b = next_eq(s, n, a + 1);
    size_t c = next_eq(s, n, b + 1);
    if (a == 0 || c >= n || c == b + 1 || c + 1 >= n)
        return false;
    *dom = s + b + 1;
    *dn = c - b - 1;
    *loc = s + c + 1;
    *ln = n - c - 1;
    return true;
}

/* srs_decode - the original address of an SRS0/SRS1 local part (lower case); false if not SRS */
static bool srs_decode(const char *l, size_t n, const char **dom, size_t *dn, const char **loc,
                       size_t *ln)
{
    if (n < 6 || (!has_prefix(l, n, "srs0") && !has_prefix(l, n, "srs1")) || !strchr("=+-", l[4]))
        return false;
    const char *body = l + 5;
    size_t bn = n - 5;
    if (l[3] == '1') { /* HASH=FIRSTHOP=<sep>HASH=TT=DOMAIN=LOCAL */
        size_t a = next_eq(body, bn, 0);
        size_t b = next_eq(body, bn, a + 1);
        if (a == 0 || b >= bn || b == a + 1 || b + 2 >= bn || !strchr("=+-", body[b + 1]))
            return false;
        body += b + 2;
        bn -= b + 2;
    }
    return srs0_body(body, bn, dom, dn, loc, ln);
}

/* batv_tag - whether s[0..n) starts like a BATV tag: 10 of [0-9a-z] */
static bool batv_tag(const char *s, size_t n)
{
    if (n < 10)
        return false;
    for (size_t i = 0; i < 10; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'z'))
            return false;
    return true;
}

/* batv_user - the user of a BATV local part, in l[*start..*end); false if not BATV */
static bool batv_user(const char *l, size_t n, size_t *start, size_t *end)
{
    size_t p;
    if (has_prefix(l, n, "prvs="))
        p = 5;
    else if (has_prefix(l, n, "msprvs1="))
        p = 8;
    else
        return false;
    size_t e1 = next_eq(l, n, p);
    if (e1 < n) { /* two fields: "TAG=user" (standard) or "user=TAG" */
        if (next_eq(l, n, e1 + 1) < n || e1 == p || e1 + 1 >= n)
            return false;
        bool tag1 = batv_tag(l + p, e1 - p), tag2 = batv_tag(l + e1 + 1, n - e1 - 1);
        if (tag2 && !tag1) {
            *start = p;
            *end = e1;
        } else {
            *start = e1 + 1;
            *end = n;
        }
        return true;
    }
    const char *slash = memchr(l + p, '/', n - p); /* "user/TAG" */
    if (!slash || slash == l + p)
        return false;
    *start = p;
    *end = (size_t)(slash - l);
    return true;
}

size_t greylist_sender_normalize(const char *s, size_t n, char *out)
{
    char b[GREYLIST_PART_MAX + 1];
    if (n > GREYLIST_PART_MAX)
        n = GREYLIST_PART_MAX;
    for (size_t i = 0; i < n; i++)
        b[i] = (char)tolower((unsigned char)s[i]);
    const char *at = memrchr(b, '@', n);
    if (!at) {
        memcpy(out, b, n);
        out[n] = '\0';
        return n;
    }
    const char *loc = b, *dom = at + 1;
    size_t ln = (size_t)(at - b), dn = n - ln - 1;
    const char *sd, *sl;
    size_t sdn, sln;
    if (srs_decode(loc, ln, &sd, &sdn, &sl, &sln)) {
        loc = sl;
        ln = sln;
        dom = sd;
        dn = sdn;
    }
    size_t us, ue;
    if (batv_user(loc, ln, &us, &ue)) {
        loc += us;
        ln = ue - us;
    }
    const char *plus = ln > 1 ? memchr(loc + 1, '+', ln - 1) : NULL;
    if (plus)
        ln = (size_t)(plus - loc);
    size_t k = 0;
    for (size_t i = 0; i < ln;) {
        size_t j = i;
        while (j < ln && isdigit((unsigned char)loc[j]))
            j++;
        if (j > i && (i == 0 || !is_word(loc[i - 1])) && (j == ln || !is_word(loc[j]))) {
            out[k++] = '#'; /* a digit-only word */
            i = j;
        } else if (j > i) {
            memcpy(out + k, loc + i, j - i);
            k += j - i;
            i = j;
        } else {
            out[k++] = loc[i++];
        }
    }
    out[k++] = '@';
    memcpy(out + k, dom, dn);
    k += dn;
    out[k] = '\0';
    return k;
}

/* --- keys ------------------------------------------------------------------------------------- */

size_t greylist_client_part(const struct greylist_params *p, const struct ip_addr *ip,
                            const char *spf_domain, char *out)
{
    if (p->key_by_spf_domain && spf_domain && *spf_domain) {
        size_t n = strlen(spf_domain);
        if (n > GREYLIST_PART_MAX)
            n = GREYLIST_PART_MAX;
        memcpy(out, "spf:", 4);
        for (size_t i = 0; i < n; i++)
            out[4 + i] = (char)tolower((unsigned char)spf_domain[i]);
        out[4 + n] = '\0';
        return 4 + n;
    }
    if (!ip)
        return 0;
    struct cidr c = {.addr = *ip};
    unsigned prefix = ip_is_v4(ip) ? 96 + p->prefix_v4 : p->prefix_v6;
    for (unsigned i = 0; i < 16; i++) { /* mask to the prefix */
        unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
        if (keep < 8)
            c.addr.b[i] &= (uint8_t)(0xff00u >> keep);
    }
    c.prefix = (uint8_t)prefix;
    cidr_format(&c, out, CIDR_TEXT_MAX);
    return strlen(out);
}

/* finish_key - the plain key in key[0..n) as stored: itself, or kind '#' + its hash */
static size_t finish_key(const struct greylist_params *p, char *key, size_t n)
{
    if (!p->hash_key)
        return n;
    uint8_t h[16];
    greylist_siphash128(p->hash_key, key, n, h);
    key[1] = '#';
    memcpy(key + 2, h, 16);
    return 18;
}

size_t greylist_triplet_key(const struct greylist_params *p, const struct greylist_input *in,
                            char *key)
{
    size_t k = 2;
    memcpy(key, "t/", 2);
    if (p->key_parts & GREYLIST_KEY_CLIENT) {
        size_t c = greylist_client_part(p, in->client, in->spf_domain, key + k);
        if (c == 0)
            return 0;
        k += c;
    }
    key[k++] = '\0';
    if (p->key_parts & GREYLIST_KEY_SENDER) {
        if (p->normalize_sender) {
            k += greylist_sender_normalize(in->sender, in->sender_len, key + k);
        } else {
            size_t n = in->sender_len > GREYLIST_PART_MAX ? GREYLIST_PART_MAX : in->sender_len;
            for (size_t i = 0; i < n; i++)
                key[k++] = (char)tolower((unsigned char)in->sender[i]);
        }
    }
    key[k++] = '\0';
    if (p->key_parts & GREYLIST_KEY_RECIPIENT) {
        size_t n = in->recipient_len > GREYLIST_PART_MAX ? GREYLIST_PART_MAX : in->recipient_len;
        for (size_t i = 0; i < n; i++)
            key[k++] = (char)tolower((unsigned char)in->recipient[i]);
    }
    return finish_key(p, key, k);
}

size_t greylist_awl_key(const struct greylist_params *p, const struct ip_addr *ip, char *key)
{
    struct greylist_params net = *p;
    net.key_by_spf_domain = false;
    memcpy(key, "a/", 2);
    size_t n = greylist_client_part(&net, ip, NULL, key + 2);
    return finish_key(p, key, 2 + n);
}

/* --- the state machine ---------------------------------------------------------------------- */

struct upd {
    const struct greylist_params *p;
    int64_t now_s;
    uint8_t val[GREYLIST_RECORD_SIZE];
    struct greylist_result res;
};

/* put_record - answer KV_UPDATE_PUT with r expiring at expires_s */
static enum kv_update_op put_record(struct kv_update *u, struct upd *x,
                                    const struct greylist_record *r, int64_t expires_s)
{
    greylist_record_encode(r, x->val);
    u->val = x->val;
    u->val_len = sizeof(x->val);
    u->expires_s = expires_s > 0 ? expires_s : 1;
    return KV_UPDATE_PUT;
}

static uint32_t sat_inc(uint32_t v)
{
    return v == UINT32_MAX ? v : v + 1;
}

/* triplet_cb - one triplet's transition (kv_update_cb; may run more than once) */
static enum kv_update_op triplet_cb(struct kv_update *u, void *arg)
{
    struct upd *x = arg;
    const struct greylist_params *p = x->p;
    int64_t now = x->now_s;
    struct greylist_record r;
    memset(&x->res, 0, sizeof(x->res));
    bool have = u->found && greylist_record_decode(u->cur, u->cur_len, &r) == 0 &&
                r.state != GREYLIST_STATE_AWL;
    if (have && r.state == GREYLIST_STATE_PASSED) {
        r.last_seen_s = now > r.last_seen_s ? now : r.last_seen_s;
        r.passes = sat_inc(r.passes);
        x->res.verdict = GREYLIST_KNOWN;
        x->res.passes = r.passes;
        return put_record(u, x, &r, r.last_seen_s + p->max_age_s);
    }
    if (have && now < r.first_seen_s + p->retry_window_s) {
        int64_t ready = r.first_seen_s + p->delay_s;
        if (now < ready) {
            x->res.verdict = GREYLIST_EARLY;
            /* a clock that stepped back never asks for more than one delay */
            x->res.left_s = ready - now < p->delay_s ? ready - now : p->delay_s;
            return KV_UPDATE_KEEP;
        }
        r.state = GREYLIST_STATE_PASSED;
        r.last_seen_s = now;
        r.passes = 1;
        x->res.verdict = GREYLIST_PASSED;
        x->res.delayed_s = now - r.first_seen_s;
        x->res.passes = 1;
        return put_record(u, x, &r, now + p->max_age_s);
    }
    r = (struct greylist_record){GREYLIST_STATE_PENDING, now, now, 0};
    x->res.verdict = GREYLIST_NEW;
    x->res.left_s = p->delay_s;
    return put_record(u, x, &r, now + p->retry_window_s);
}

/* awl_cb - count one more passed triplet for the network (kv_update_cb) */
static enum kv_update_op awl_count_cb(struct kv_update *u, void *arg)
{
    struct upd *x = arg;
    struct greylist_record r;
    if (!u->found || greylist_record_decode(u->cur, u->cur_len, &r) != 0 ||
        r.state != GREYLIST_STATE_AWL)
        r = (struct greylist_record){GREYLIST_STATE_AWL, x->now_s, x->now_s, 0};
    r.passes = sat_inc(r.passes);
    r.last_seen_s = x->now_s > r.last_seen_s ? x->now_s : r.last_seen_s;
    return put_record(u, x, &r, r.last_seen_s + x->p->max_age_s);
}

/* awl_refresh_cb - push a whitelisted network's expiry out (at most hourly) */
static enum kv_update_op awl_refresh_cb(struct kv_update *u, void *arg)
{
    struct upd *x = arg;
    struct greylist_record r;
    if (!u->found || greylist_record_decode(u->cur, u->cur_len, &r) != 0 ||
        r.state != GREYLIST_STATE_AWL || x->now_s < r.last_seen_s + GREYLIST_AWL_REFRESH_S)
        return KV_UPDATE_KEEP;
    r.last_seen_s = x->now_s;
    return put_record(u, x, &r, r.last_seen_s + x->p->max_age_s);
}

/* count - tally one store call and its outcome */
static int count(struct greylist_result *out, bool update, int rc)
{
    bool bad = rc != 0 && rc != KV_ERR_NOTFOUND && rc != KV_ERR_TOOSMALL;
    if (update) {
        out->kv_updates++;
        out->kv_update_errors += bad;
    } else {
        out->kv_gets++;
        out->kv_get_errors += bad;
    }
    return rc;
}

/* upd - one read-modify-write: direct (b NULL), or in the batch with *status its outcome */
static int upd(struct kv *kv, struct kv_batch *b, const void *key, size_t klen, int64_t now_s,
               kv_update_cb fn, void *arg, int *status)
{
    if (b)
        return kv_batch_update(b, key, klen, now_s, fn, arg, status);
    *status = 0;
    return kv_update(kv, key, klen, now_s, fn, arg);
}

/* check - greylist_check / greylist_check_batched (b NULL: direct writes) */
static int check(struct kv *kv, struct kv_batch *b, const struct greylist_params *p,
                 const struct greylist_input *in, int64_t now_s, struct greylist_result *out)
{
    char key[GREYLIST_KEY_MAX];
    char akey[GREYLIST_KEY_MAX];
    size_t alen = 0;
    struct upd x = {.p = p, .now_s = now_s};
    memset(out, 0, sizeof(*out));
    if (p->awl_after && in->client)
        alen = greylist_awl_key(p, in->client, akey);
    if (alen && (!p->awl_hint || greylist_awl_hint_maybe(p->awl_hint, akey, alen))) {
        uint8_t v[GREYLIST_RECORD_SIZE];
        size_t vlen = 0;
        struct greylist_record r;
        int rc = count(out, false, kv_get(kv, akey, alen, now_s, v, sizeof(v), &vlen, NULL));
        if (rc != 0 && rc != KV_ERR_NOTFOUND && rc != KV_ERR_TOOSMALL)
            return rc;
        if (rc == 0 && greylist_record_decode(v, vlen, &r) == 0 && r.state == GREYLIST_STATE_AWL &&
            r.passes >= p->awl_after) {
            out->verdict = GREYLIST_AWL;
            out->passes = r.passes;
            if (now_s >= r.last_seen_s + GREYLIST_AWL_REFRESH_S)
                out->awl_err = count(out, true, upd(kv, b, akey, alen, now_s, awl_refresh_cb, &x,
                                                    &out->awl_commit));
            return 0;
        }
    }
    size_t klen = greylist_triplet_key(p, in, key);
    if (klen == 0)
        return KV_ERR_INVAL;
    int rc = count(out, true, upd(kv, b, key, klen, now_s, triplet_cb, &x, &out->commit));
    if (rc != 0)
        return rc;
    /* the verdict from the callback; the call counts and the pending status from out */
    x.res.kv_gets = out->kv_gets;
    x.res.kv_updates = out->kv_updates;
    x.res.kv_get_errors = out->kv_get_errors;
    x.res.kv_update_errors = out->kv_update_errors;
    x.res.commit = out->commit;
    *out = x.res;
    if (out->verdict == GREYLIST_PASSED && alen) {
        if (p->awl_hint) /* before the write: the hint never answers a false "absent" */
            greylist_awl_hint_add(p->awl_hint, akey, alen);
        out->awl_err = count(out, true, upd(kv, b, akey, alen, now_s, awl_count_cb, &x,
                                            &out->awl_commit));
    }
    return 0;
}

int greylist_check(struct kv *kv, const struct greylist_params *p, const struct greylist_input *in,
                   int64_t now_s, struct greylist_result *out)
{
    return check(kv, NULL, p, in, now_s, out);
}

int greylist_check_batched(struct kv_batch *b, const struct greylist_params *p,
                           const struct greylist_input *in, int64_t now_s,
                           struct greylist_result *out)
{
    return check(kv_batch_kv(b), b, p, in, now_s, out);
}

/* --- the AWL hint ----------------------------------------------------------------------------- */

#define HINT_WORDS (GREYLIST_AWL_HINT_BITS / 64)
#define HINT_PROBES 4

struct greylist_awl_hint {
    atomic_bool loaded;               /* release by the load, acquire by readers */
    _Atomic uint64_t bits[HINT_WORDS]; /* relaxed: each bit only ever goes 0 -> 1 */
};

struct greylist_awl_hint *greylist_awl_hint_create(void)
{
    struct greylist_awl_hint *h = xcalloc(1, sizeof(*h));
    atomic_init(&h->loaded, false);
    return h; /* calloc'd zero bits are valid atomics on every platform we build for */
}

void greylist_awl_hint_destroy(struct greylist_awl_hint *h)
{
    free(h);
}

void greylist_awl_hint_add(struct greylist_awl_hint *h, const void *key, size_t klen)
{
    uint64_t x = hash_bytes(key, klen); /* probe i: h1 + i * h2 */
    uint32_t h1 = (uint32_t)x, h2 = (uint32_t)(x >> 32) | 1;
    for (uint32_t i = 0; i < HINT_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) % GREYLIST_AWL_HINT_BITS;
        atomic_fetch_or_explicit(&h->bits[bit / 64], 1ull << (bit % 64), memory_order_relaxed);
    }
}

bool greylist_awl_hint_maybe(struct greylist_awl_hint *h, const void *key, size_t klen)
{
    if (!atomic_load_explicit(&h->loaded, memory_order_acquire))
        return true;
    uint64_t x = hash_bytes(key, klen); /* probe i: h1 + i * h2 */
    uint32_t h1 = (uint32_t)x, h2 = (uint32_t)(x >> 32) | 1;
    for (uint32_t i = 0; i < HINT_PROBES; i++) {
        uint32_t bit = (h1 + i * h2) % GREYLIST_AWL_HINT_BITS;
        if (!(atomic_load_explicit(&h->bits[bit / 64], memory_order_relaxed) &
              (1ull << (bit % 64))))
            return false;
    }
    return true;
}

bool greylist_awl_hint_loaded(struct greylist_awl_hint *h)
{
    return atomic_load_explicit(&h->loaded, memory_order_acquire);
}

struct hint_load {
    struct greylist_awl_hint *h;
    const atomic_bool *stop;
    bool stopped;
};

/* hint_load_cb - one stored AWL record (kv_scan_cb) */
static int hint_load_cb(const void *key, size_t klen, const void *val, size_t vlen,
                        int64_t expires_s, void *arg)
{
    (void)val, (void)vlen, (void)expires_s;
    struct hint_load *l = arg;
    greylist_awl_hint_add(l->h, key, klen);
    if (l->stop && atomic_load_explicit(l->stop, memory_order_relaxed))
        l->stopped = true;
    return l->stopped;
}

int greylist_awl_hint_load(struct greylist_awl_hint *h, struct kv *kv, int64_t now_s,
                           const atomic_bool *stop)
{
    struct hint_load l = {.h = h, .stop = stop};
    static const char *const prefixes[] = {"a/", "a#"}; /* plain and hashed AWL keys */
    for (size_t i = 0; i < 2; i++) {
        int rc = kv_scan_prefix(kv, prefixes[i], 2, now_s, hint_load_cb, &l);
        if (rc != 0)
            return rc;
        if (l.stopped)
            return 1;
    }
    atomic_store_explicit(&h->loaded, true, memory_order_release);
    return 0;
}

/* --- the per-install hash key ------------------------------------------------------------------
 */

/* read_key - exactly 16 bytes from path: 0, -1 (absent: errno ENOENT) or -2 (bad) */
static int read_key(const char *path, uint8_t key[GREYLIST_HASH_KEY_LEN], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -2;
    }
    uint8_t buf[GREYLIST_HASH_KEY_LEN + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != GREYLIST_HASH_KEY_LEN) {
        snprintf(err, errlen,
                 "%s: %zd bytes, want exactly %d (remove it to make a new key: "
                 "every hashed record is then forgotten)",
                 path, n, GREYLIST_HASH_KEY_LEN);
        return -2;
    }
    memcpy(key, buf, GREYLIST_HASH_KEY_LEN);
    return 0;
}

int greylist_hash_key_load(const char *dir, uint8_t key[GREYLIST_HASH_KEY_LEN], char *err,
                           size_t errlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/greylist.key", dir);
    int r = read_key(path, key, err, errlen);
    if (r != -1)
        return r == 0 ? 0 : -1;
    uint8_t fresh[GREYLIST_HASH_KEY_LEN];
    if (getrandom(fresh, sizeof(fresh), 0) != (ssize_t)sizeof(fresh)) {
        snprintf(err, errlen, "%s: getrandom: %s", path, strerror(errno));
        return -1;
    }
    /* write a private temp file, then link it in place: a concurrent creator's key wins */
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return -1;
    }
    bool ok = write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(saved));
        return -1;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        saved = errno;
        unlink(tmp);
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(saved));
        return -1;
    }
    unlink(tmp);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the new name survives a power cut */
        fsync(dfd);
        close(dfd);
    }
    return read_key(path, key, err, errlen) == 0 ? 0 : -1;
}
