/* engine/greylist_admin.c - the greylisting admin commands and the dynamic whitelist; see
 * greylist_admin.h. Keys are built and decoded only through greylist.h's layout; every scan
 * stops at its limit. A command's state is made for that command on the control thread and
 * freed after it. The one mutable thing shared with the workers is the dynamic whitelist's
 * in-memory mirror (struct greylist_dynwl, its own rwlock), changed only after the store. */
#include "engine/greylist_admin.h"
#include "engine/stage_greylist.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/config.h"
#include "engine/control.h"
#include "engine/greylist.h"
#include "engine/server_int.h"
#include "kv/kv.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PART_BUF (GREYLIST_PART_MAX + 8) /* a client part: greylist_client_part's out */
#define WL_VALUE_MAX 320                 /* "local@domain": 64 + 1 + 253, and slack */
#define WL_RECORD_SIZE 9
#define WL_RECORD_VERSION 1

struct greylist_admin {
    struct kv *kv;
    struct greylist_dynwl *wl; /* the mirror the workers match against, or NULL */
    struct greylist_params p;  /* p.hash_key points at hash_key below, or is NULL */
    uint8_t hash_key[GREYLIST_HASH_KEY_LEN];
    char hash_err[300]; /* hash_keys is on but the key could not be loaded: why */
};

/* --- small helpers ------------------------------------------------------------------------- */

/* iso_time - unix seconds as "2024-01-02T03:04:05Z" ("never" for 0) into buf (>= 32) */
static const char *iso_time(int64_t s, char *buf, size_t size)
{
    if (s == 0) {
        snprintf(buf, size, "never");
        return buf;
    }
    time_t t = (time_t)s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)s);
    return buf;
}

/* put_text - bytes as one whitespace-free word: <= 0x20, 0x7f and "%" as %XX; empty as dash */
static void put_text(struct control_out *o, const char *s, size_t n, const char *dash)
{
    if (n == 0) {
        control_printf(o, "%s", dash);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '%')
            control_printf(o, "%%%02X", c);
        else
            control_printf(o, "%c", c);
    }
}

/* utf8_len - length of the valid UTF-8 sequence at s[0..n), or 0 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* put_json - bytes as a JSON string: valid UTF-8 as is, other bytes as \u00XX */
static void put_json(struct control_out *o, const char *s, size_t n)
{
    control_printf(o, "\"");
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(u + i, n - i);
        if (l == 0 || u[i] < 0x20 || u[i] == 0x7f) {
            control_printf(o, "\\u%04x", u[i]);
            i++;
        } else if (u[i] == '"' || u[i] == '\\') {
            control_printf(o, "\\%c", u[i]);
            i++;
        } else {
            control_printf(o, "%.*s", (int)l, s + i);
            i += l;
        }
    }
    control_printf(o, "\"");
}

/* hex - bytes as lower-case hex into out (2n + 1 bytes) */
static const char *hex(const void *b, size_t n, char *out)
{
    const unsigned char *p = b;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * n] = '\0';
    return out;
}

static const char *state_name(enum greylist_state s)
{
    return s == GREYLIST_STATE_PENDING ? "pending" : s == GREYLIST_STATE_PASSED ? "passed" : "awl";
}

static void lower(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (char)tolower((unsigned char)s[i]);
}

/* struct parts - a stored key taken apart: kind 't'/'a', plain parts or the hashed key */
struct parts {
    char kind;
    bool hashed;
    const char *key; /* the whole key */
    size_t klen;
    const char *c, *s, *r; /* plain: client, sender, recipient (AWL: net in c) */
    size_t cn, sn, rn;
};

/* split_key - decode a "t/" "t#" "a/" "a#" key; false if it fits none */
static bool split_key(const char *k, size_t n, struct parts *out)
{
    memset(out, 0, sizeof(*out));
    if (n < 2 || (k[0] != 't' && k[0] != 'a') || (k[1] != '/' && k[1] != '#'))
        return false;
    out->kind = k[0];
    out->hashed = k[1] == '#';
    out->key = k;
    out->klen = n;
    if (out->hashed)
        return n == 2 + GREYLIST_HASH_KEY_LEN;
    const char *p = k + 2, *end = k + n;
    if (out->kind == 'a') {
        out->c = p;
        out->cn = (size_t)(end - p);
        return true;
    }
    const char *z1 = memchr(p, '\0', (size_t)(end - p));
    const char *z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(end - z1 - 1)) : NULL;
    if (!z2 || memchr(z2 + 1, '\0', (size_t)(end - z2 - 1)))
        return false;
    out->c = p;
    out->cn = (size_t)(z1 - p);
    out->s = z1 + 1;
    out->sn = (size_t)(z2 - z1 - 1);
    out->r = z2 + 1;
    out->rn = (size_t)(end - z2 - 1);
    return true;
}

/* put_record - one record in list's format (text line or JSON object) */
static void put_record(struct control_out *o, const struct parts *k,
                       const struct greylist_record *r, int64_t expires_s)
{
    char f[32], l[32], e[32], hk[2 * GREYLIST_HASH_KEY_LEN + 3];
    iso_time(r->first_seen_s, f, sizeof(f));
    iso_time(r->last_seen_s, l, sizeof(l));
    iso_time(expires_s, e, sizeof(e));
    if (k->hashed) {
        hk[0] = k->kind;
        hk[1] = '#';
        hex(k->key + 2, GREYLIST_HASH_KEY_LEN, hk + 2);
    }
    if (!o->json) {
        control_printf(o, "%s ", state_name(r->state));
        if (k->hashed) {
            control_printf(o, "%s - -", hk);
        } else if (k->kind == 'a') {
            put_text(o, k->c, k->cn, "-");
            control_printf(o, " - -");
        } else {
            put_text(o, k->c, k->cn, "-");
            control_printf(o, " ");
            put_text(o, k->s, k->sn, "<>");
            control_printf(o, " ");
            put_text(o, k->r, k->rn, "-");
        }
        control_printf(o, " %s %s %u %s\n", f, l, r->passes, e);
        return;
    }
    control_printf(o, "{\"state\":\"%s\",", state_name(r->state));
    if (k->hashed) {
        control_printf(o, "\"key\":\"%s\",\"client\":null,\"sender\":null,\"recipient\":null", hk);
    } else {
        control_printf(o, "\"client\":");
        put_json(o, k->c, k->cn);
        if (k->kind == 'a') {
            control_printf(o, ",\"sender\":null,\"recipient\":null");
        } else {
            control_printf(o, ",\"sender\":");
            put_json(o, k->s, k->sn);
            control_printf(o, ",\"recipient\":");
            put_json(o, k->r, k->rn);
        }
    }
    control_printf(o,
                   ",\"first_seen\":\"%s\",\"first_seen_s\":%lld,\"last_seen\":\"%s\","
                   "\"last_seen_s\":%lld,\"passes\":%u,\"expires\":",
                   f, (long long)r->first_seen_s, l, (long long)r->last_seen_s, r->passes);
    if (expires_s)
        control_printf(o, "\"%s\",\"expires_s\":%lld}", e, (long long)expires_s);
    else
        control_printf(o, "null,\"expires_s\":0}");
}

/* parse_count - a decimal 1..max; false otherwise */
static bool parse_count(const char *s, long max, long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return false;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > max)
        return false;
    *out = v;
    return true;
}

/* --- client specifications ---------------------------------------------------------------- */

enum spec_kind { SPEC_EXACT, SPEC_WITHIN };

/* struct client_spec - CLIENT or client=... of a command */
struct client_spec {
    enum spec_kind kind;
    char part[PART_BUF]; /* EXACT: the client part as keyed */
    size_t len;
    bool has_ip; /* EXACT by network: ip is in it (for the AWL key) */
    struct ip_addr ip;
    bool spf;           /* "spf:DOMAIN" */
    const char *domain; /* spf: the domain (into the argument) */
    struct cidr within; /* WITHIN */
};

/* parse_client - an IP, a CIDR or spf:DOMAIN into sp. exact_only: the daemon's own network
 * size only (a key is built). 0, or -1 after control_fail. */
static int parse_client(const struct greylist_admin *a, const char *s, bool exact_only,
                        struct client_spec *sp, struct control_out *o)
{
    memset(sp, 0, sizeof(*sp));
    size_t n = strlen(s);
    struct greylist_params net = a->p;
    net.hash_key = NULL;
    if (strncasecmp(s, "spf:", 4) == 0) {
        if (n == 4 || n > 4 + GREYLIST_PART_MAX || strchr(s + 4, '/'))
            return control_fail(o, "client %.80s: want spf:DOMAIN", s);
        net.key_by_spf_domain = true;
        sp->kind = SPEC_EXACT;
        sp->spf = true;
        sp->domain = s + 4;
        sp->len = greylist_client_part(&net, NULL, s + 4, sp->part);
        return 0;
    }
    net.key_by_spf_domain = false;
    struct cidr c;
    if (!strchr(s, '/') && ip_parse(s, n, &sp->ip)) {
        sp->kind = SPEC_EXACT;
        sp->has_ip = true;
        sp->len = greylist_client_part(&net, &sp->ip, NULL, sp->part);
        return 0;
    }
    if (!cidr_parse(s, n, false, &c))
        return control_fail(o,
                            "client %.80s: want an IP address, a network (CIDR, host bits "
                            "zero) or spf:DOMAIN",
                            s);
    bool v4 = ip_is_v4(&c.addr) && c.prefix >= 96;
    unsigned keyed = v4 ? 96 + a->p.prefix_v4 : a->p.prefix_v6;
    if (c.prefix == keyed) {
        sp->kind = SPEC_EXACT;
        sp->has_ip = true;
        sp->ip = c.addr;
        sp->len = greylist_client_part(&net, &sp->ip, NULL, sp->part);
        return 0;
    }
    unsigned shown = v4 ? keyed - 96 : keyed;
    if (exact_only || c.prefix > keyed)
        return control_fail(o,
                            "client %.80s: the daemon keys %s clients by /%u networks: give "
                            "an address or a /%u%s",
                            s, v4 ? "IPv4" : "IPv6", shown, shown, exact_only ? "" : " or wider");
    sp->kind = SPEC_WITHIN;
    sp->within = c;
    return 0;
}

/* client_matches - whether a stored client part (plain) fits sp */
static bool client_matches(const struct client_spec *sp, const char *c, size_t n)
{
    if (sp->kind == SPEC_EXACT)
        return n == sp->len && memcmp(c, sp->part, n) == 0;
    struct cidr rec; /* "spf:..." parts do not parse */
    return cidr_parse(c, n, true, &rec) && rec.prefix >= sp->within.prefix &&
           cidr_match(&sp->within, &rec.addr);
}

/* client_prefix - the key prefix that holds sp's triplets: "t/" PART "\0" (EXACT) or "t/" */
static size_t client_prefix(const struct client_spec *sp, char kind, char *buf)
{
    buf[0] = kind;
    buf[1] = '/';
    if (sp->kind != SPEC_EXACT)
        return 2;
    memcpy(buf + 2, sp->part, sp->len);
    if (kind == 'a')
        return 2 + sp->len;
    buf[2 + sp->len] = '\0';
    return 3 + sp->len;
}

/* --- list ----------------------------------------------------------------------------------- */

struct list_ctx {
    struct control_out *o;
    const struct client_spec *client; /* NULL: any */
    const char *sender, *rcpt;        /* normalised; NULL: any */
    size_t sender_len, rcpt_len;
    int state;       /* enum greylist_state, or -1: any */
    bool count_only; /* hashed records under a filter: only count them */
    long limit, shown, counted, undecodable;
    bool truncated;
};

/* list_cb - one record of a list scan (kv_scan_cb) */
static int list_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                   void *arg)
{
    struct list_ctx *x = arg;
    struct parts k;
    struct greylist_record r;
    if (!split_key(key, klen, &k) || greylist_record_decode(val, vlen, &r) != 0) {
        x->undecodable++;
        return 0;
    }
    if (x->state >= 0 && (int)r.state != x->state)
        return 0;
    if (x->count_only) {
        x->counted++;
        return 0;
    }
    if (!k.hashed) {
        if (x->client && (k.kind == 'a' && x->client->spf))
            return 0;
        if (x->client && !client_matches(x->client, k.c, k.cn))
            return 0;
        if (x->sender &&
            (k.kind == 'a' || k.sn != x->sender_len || memcmp(k.s, x->sender, k.sn) != 0))
            return 0;
        if (x->rcpt && (k.kind == 'a' || k.rn != x->rcpt_len || memcmp(k.r, x->rcpt, k.rn) != 0))
            return 0;
    }
    if (x->shown == x->limit) {
        x->truncated = true;
        return 1;
    }
    if (x->o->json && x->shown)
        control_printf(x->o, ",");
    put_record(x->o, &k, &r, expires_s);
    x->shown++;
    return 0;
}

/* store_fail - a store error as the command's error; when the store refuses writes, why */
static int store_fail(struct greylist_admin *a, struct control_out *o, const char *what, int rc)
{
    struct kv_stats st;
    kv_stats(a->kv, &st);
    const char *why = st.write_failed ? " (store writes stopped after a failed write: restart "
                                        "greyspfd once the cause is fixed)"
                      : st.low_disk   ? " (store writes refused: less than min_free_disk is "
                                        "free on its filesystem)"
                                      : "";
    return control_fail(o, "%s: the store failed: %s%s", what, kv_strerror(rc), why);
}

static int cmd_list(struct greylist_admin *a, int argc, char **argv, int64_t now,
                    struct control_out *o)
{
    struct client_spec client;
    char sender[GREYLIST_PART_MAX + 1], rcpt[GREYLIST_PART_MAX + 1];
    struct list_ctx x = {.o = o, .state = -1, .limit = GREYLIST_ADMIN_LIST_DEFAULT};
    bool seen[5] = {false};
    static const char *const names[] = {"client=", "sender=", "recipient=", "state=", "limit="};
    for (int i = 1; i < argc; i++) {
        int which = -1;
        for (int j = 0; j < 5; j++)
            if (strncmp(argv[i], names[j], strlen(names[j])) == 0)
                which = j;
        if (which < 0 || seen[which])
            return control_fail(o, "usage: list [client=NET|IP|spf:DOMAIN] [sender=ADDR] "
                                   "[recipient=ADDR] [state=pending|passed|awl] [limit=N]");
        seen[which] = true;
        const char *v = argv[i] + strlen(names[which]);
        size_t n = strlen(v);
        switch (which) {
        case 0:
            if (parse_client(a, v, false, &client, o) != 0)
                return -1;
            x.client = &client;
            break;
        case 1:
            if (strcmp(v, "<>") == 0)
                n = 0;
            if (a->p.normalize_sender) {
                x.sender_len = greylist_sender_normalize(v, n, sender);
            } else {
                x.sender_len = n > GREYLIST_PART_MAX ? GREYLIST_PART_MAX : n;
                memcpy(sender, v, x.sender_len);
                lower(sender, x.sender_len);
            }
            x.sender = sender;
            break;
        case 2:
            x.rcpt_len = n > GREYLIST_PART_MAX ? GREYLIST_PART_MAX : n;
            memcpy(rcpt, v, x.rcpt_len);
            lower(rcpt, x.rcpt_len);
            x.rcpt = rcpt;
            break;
        case 3:
            if (strcmp(v, "pending") == 0)
                x.state = GREYLIST_STATE_PENDING;
            else if (strcmp(v, "passed") == 0)
                x.state = GREYLIST_STATE_PASSED;
            else if (strcmp(v, "awl") == 0)
                x.state = GREYLIST_STATE_AWL;
            else
                return control_fail(o, "state=%.40s: want pending, passed or awl", v);
            break;
        default:
            if (!parse_count(v, GREYLIST_ADMIN_LIST_MAX, &x.limit))
                return control_fail(o, "limit=%.40s: want 1..%d", v, GREYLIST_ADMIN_LIST_MAX);
            break;
        }
    }
    bool filtered = x.client || x.sender || x.rcpt;
    char prefix[PART_BUF + 4];
    if (o->json)
        control_printf(o, "{\"records\":[");
    int rc = 0;
    if (x.state != GREYLIST_STATE_AWL) {
        size_t pl = x.client ? client_prefix(x.client, 't', prefix) : 2;
        if (!x.client)
            memcpy(prefix, "t/", 2);
        rc = kv_scan_prefix(a->kv, prefix, pl, now, list_cb, &x);
    }
    if (rc == 0 && !x.truncated && !x.sender && !x.rcpt && x.state != GREYLIST_STATE_PENDING &&
        x.state != GREYLIST_STATE_PASSED && !(x.client && x.client->spf)) {
        size_t pl = x.client ? client_prefix(x.client, 'a', prefix) : 2;
        if (!x.client)
            memcpy(prefix, "a/", 2);
        rc = kv_scan_prefix(a->kv, prefix, pl, now, list_cb, &x);
    }
    x.count_only = filtered;
    if (rc == 0 && !x.truncated)
        rc = kv_scan_prefix(a->kv, "t#", 2, now, list_cb, &x);
    if (rc == 0 && !x.truncated)
        rc = kv_scan_prefix(a->kv, "a#", 2, now, list_cb, &x);
    if (rc != 0)
        return store_fail(a, o, "list", rc);
    if (o->json) {
        control_printf(o,
                       "],\"count\":%ld,\"truncated\":%s,\"limit\":%ld,\"hashed_excluded\":%ld"
                       ",\"undecodable\":%ld}\n",
                       x.shown, x.truncated ? "true" : "false", x.limit, x.counted, x.undecodable);
        return 0;
    }
    if (x.truncated)
        control_printf(o, "(truncated at %ld)\n", x.limit);
    if (x.counted)
        control_printf(o,
                       "(%ld records have hashed keys: client, sender and recipient filters "
                       "cannot match them)\n",
                       x.counted);
    if (x.undecodable)
        control_printf(o, "(%ld records could not be decoded)\n", x.undecodable);
    return 0;
}

/* --- show / delete of one triplet ------------------------------------------------------------ */

/* struct triplet - the keys of CLIENT SENDER RECIPIENT */
struct triplet {
    struct client_spec client;
    char plain[GREYLIST_KEY_MAX]; /* the plain key (for display) */
    size_t plain_len;
    char key[GREYLIST_KEY_MAX]; /* as stored (hashed when hash_keys) */
    size_t key_len;
    char awl[GREYLIST_KEY_MAX]; /* the network's AWL key; awl_len 0: none */
    size_t awl_len;
};

/* triplet_keys - build t's keys from argv[1..3] as the daemon does. 0 or -1 (control_fail) */
static int triplet_keys(const struct greylist_admin *a, char **argv, struct triplet *t,
                        struct control_out *o)
{
    if (a->hash_err[0])
        return control_fail(o, "hash_keys: %s", a->hash_err);
    if (parse_client(a, argv[1], true, &t->client, o) != 0)
        return -1;
    const char *sender = strcmp(argv[2], "<>") == 0 ? "" : argv[2];
    struct greylist_input in = {
        .client = t->client.has_ip ? &t->client.ip : NULL,
        .sender = sender,
        .sender_len = strlen(sender),
        .recipient = argv[3],
        .recipient_len = strlen(argv[3]),
        .spf_domain = t->client.spf ? t->client.domain : NULL,
    };
    struct greylist_params p = a->p;
    p.key_by_spf_domain = t->client.spf;
    p.hash_key = NULL;
    t->plain_len = greylist_triplet_key(&p, &in, t->plain);
    p.hash_key = a->p.hash_key;
    t->key_len = greylist_triplet_key(&p, &in, t->key);
    if (t->plain_len == 0 || t->key_len == 0)
        return control_fail(o, "no key for client %.80s", argv[1]);
    t->awl_len = t->client.has_ip ? greylist_awl_key(&p, &t->client.ip, t->awl) : 0;
    return 0;
}

/* get_record - the live record under key: 1 found, 0 absent, or a negative KV_ERR_* */
static int get_record(struct kv *kv, const char *key, size_t klen, int64_t now,
                      struct greylist_record *r, int64_t *expires_s)
{
    uint8_t v[GREYLIST_RECORD_SIZE + 1];
    size_t vlen = 0;
    int rc = kv_get(kv, key, klen, now, v, sizeof(v), &vlen, expires_s);
    if (rc == KV_ERR_NOTFOUND)
        return 0;
    if (rc == KV_ERR_TOOSMALL)
        return KV_ERR_CORRUPT;
    if (rc != 0)
        return rc;
    return greylist_record_decode(v, vlen, r) == 0 ? 1 : KV_ERR_CORRUPT;
}

static int cmd_show(struct greylist_admin *a, int argc, char **argv, int64_t now,
                    struct control_out *o)
{
    if (argc != 4)
        return control_fail(o, "usage: show CLIENT SENDER RECIPIENT");
    struct triplet t;
    if (triplet_keys(a, argv, &t, o) != 0)
        return -1;
    int64_t exp_t = 0, exp_a = 0;
    struct greylist_record rt, ra;
    int ft = get_record(a->kv, t.key, t.key_len, now, &rt, &exp_t);
    int fa = t.awl_len ? get_record(a->kv, t.awl, t.awl_len, now, &ra, &exp_a) : 0;
    if (ft < 0 || fa < 0)
        return store_fail(a, o, "show", ft < 0 ? ft : fa);
    if (fa == 1 && ra.state != GREYLIST_STATE_AWL)
        fa = 0;
    struct parts kt;
    split_key(t.plain, t.plain_len, &kt);
    /* the AWL record is displayed by its plain network, whatever its stored key */
    struct parts ka = {.kind = 'a', .c = t.client.part, .cn = t.client.len};
    if (!ft) {
        char c[80], snd[120], r[120];
        log_sanitize(c, sizeof(c), kt.c, kt.cn);
        log_sanitize(snd, sizeof(snd), kt.s, kt.sn);
        log_sanitize(r, sizeof(r), kt.r, kt.rn);
        if (fa)
            return control_fail(o,
                                "no record for client %s sender <%s> recipient <%s> (the "
                                "network is auto-whitelisted: %u passes)",
                                c, snd, r, ra.passes);
        return control_fail(o, "no record for client %s sender <%s> recipient <%s>", c, snd, r);
    }
    if (!o->json) {
        put_record(o, &kt, &rt, exp_t);
        if (fa)
            put_record(o, &ka, &ra, exp_a);
        return 0;
    }
    char hk[2 * GREYLIST_KEY_MAX + 1];
    control_printf(o, "{\"key\":\"%s\",\"triplet\":", hex(t.key, t.key_len, hk));
    put_record(o, &kt, &rt, exp_t);
    control_printf(o, ",\"awl\":");
    if (fa)
        put_record(o, &ka, &ra, exp_a);
    else
        control_printf(o, "null");
    control_printf(o, "}\n");
    return 0;
}

/* --- delete ---------------------------------------------------------------------------------- */

struct del_ctx {
    struct kv *kv;
    const struct client_spec *client;
    long deleted;
    int err;
};

/* del_cb - delete one record of the network (kv_scan_cb; deleting during a scan is allowed) */
static int del_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                  void *arg)
{
    (void)val, (void)vlen, (void)expires_s;
    struct del_ctx *x = arg;
    struct parts k;
    if (!split_key(key, klen, &k) || k.hashed || !client_matches(x->client, k.c, k.cn))
        return 0;
    int rc = kv_delete(x->kv, key, klen);
    if (rc != 0) {
        x->err = rc;
        return 1;
    }
    x->deleted++;
    return 0;
}

static void put_deleted(struct control_out *o, long n, const char *note)
{
    if (o->json)
        control_printf(o, "{\"deleted\":%ld}\n", n);
    else
        control_printf(o, "deleted %ld\n%s", n, note);
}

static int cmd_delete(struct greylist_admin *a, int argc, char **argv, int64_t now,
                      struct control_out *o)
{
    if (argc == 2 && strncmp(argv[1], "client=", 7) == 0) {
        struct client_spec sp;
        if (parse_client(a, argv[1] + 7, false, &sp, o) != 0)
            return -1;
        struct del_ctx x = {.kv = a->kv, .client = &sp};
        char prefix[PART_BUF + 4];
        size_t pl = client_prefix(&sp, 't', prefix);
        int rc = kv_scan_prefix(a->kv, prefix, pl, now, del_cb, &x);
        if (rc == 0 && !x.err && !sp.spf && sp.kind == SPEC_WITHIN)
            rc = kv_scan_prefix(a->kv, "a/", 2, now, del_cb, &x);
        if (rc == 0 && !x.err && sp.kind == SPEC_EXACT && sp.has_ip) {
            /* the AWL key exactly (hashed when hash_keys): a plain prefix scan would also
             * catch a longer network that starts with the same text */
            char akey[GREYLIST_KEY_MAX];
            struct greylist_record r;
            size_t al = a->hash_err[0] ? 0 : greylist_awl_key(&a->p, &sp.ip, akey);
            int f = al ? get_record(a->kv, akey, al, now, &r, NULL) : 0;
            if (f < 0 && f != KV_ERR_CORRUPT)
                rc = f;
            else if (f != 0 && (rc = kv_delete(a->kv, akey, al)) == 0)
                x.deleted++;
        }
        if (rc == 0)
            rc = x.err;
        if (rc != 0)
            return store_fail(a, o, "delete", rc);
        put_deleted(o, x.deleted,
                    a->p.hash_key ? "(hash_keys: triplets with hashed keys cannot be found by "
                                    "network; only plain ones and the AWL record)\n"
                                  : "");
        return 0;
    }
    if (argc != 4)
        return control_fail(o, "usage: delete CLIENT SENDER RECIPIENT | delete client=NET");
    struct triplet t;
    if (triplet_keys(a, argv, &t, o) != 0)
        return -1;
    struct greylist_record r;
    int f = get_record(a->kv, t.key, t.key_len, now, &r, NULL);
    if (f < 0 && f != KV_ERR_CORRUPT)
        return store_fail(a, o, "delete", f);
    long n = 0;
    if (f != 0) {
        int rc = kv_delete(a->kv, t.key, t.key_len);
        if (rc != 0)
            return store_fail(a, o, "delete", rc);
        n = 1;
    }
    put_deleted(o, n, "");
    return 0;
}

/* --- counts ------------------------------------------------------------------------------------
 */

struct count_ctx {
    long by_state[3], undecodable, whitelist;
};

static int count_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                    void *arg)
{
    (void)key, (void)klen, (void)expires_s;
    struct count_ctx *x = arg;
    struct greylist_record r;
    if (greylist_record_decode(val, vlen, &r) != 0)
        x->undecodable++;
    else
        x->by_state[r.state]++;
    return 0;
}

static int count_wl_cb(const void *key, size_t klen, const void *val, size_t vlen,
                       int64_t expires_s, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)expires_s;
    ((struct count_ctx *)arg)->whitelist++;
    return 0;
}

static int cmd_counts(struct greylist_admin *a, int argc, char **argv, int64_t now,
                      struct control_out *o)
{
    (void)argv;
    if (argc != 1)
        return control_fail(o, "usage: counts");
    struct count_ctx x = {{0}, 0, 0};
    static const char *const prefixes[] = {"t/", "t#", "a/", "a#"};
    int rc = 0;
    for (size_t i = 0; i < 4 && rc == 0; i++)
        rc = kv_scan_prefix(a->kv, prefixes[i], 2, now, count_cb, &x);
    if (rc == 0)
        rc = kv_scan_prefix(a->kv, "w/", 2, now, count_wl_cb, &x);
    if (rc != 0)
        return store_fail(a, o, "counts", rc);
    struct kv_stats st;
    kv_stats(a->kv, &st);
    long total = x.by_state[0] + x.by_state[1] + x.by_state[2];
    if (o->json)
        control_printf(o,
                       "{\"pending\":%ld,\"passed\":%ld,\"awl\":%ld,\"total\":%ld,"
                       "\"undecodable\":%ld,\"whitelist\":%ld,\"keys_estimate\":%llu}\n",
                       x.by_state[0], x.by_state[1], x.by_state[2], total, x.undecodable,
                       x.whitelist, (unsigned long long)st.keys_estimate);
    else
        control_printf(o,
                       "pending %ld\npassed %ld\nawl %ld\ntotal %ld\nwhitelist %ld\n"
                       "keys_estimate %llu\n",
                       x.by_state[0], x.by_state[1], x.by_state[2], total, x.whitelist,
                       (unsigned long long)st.keys_estimate);
    if (!o->json && x.undecodable)
        control_printf(o, "undecodable %ld\n", x.undecodable);
    return 0;
}

/* --- the dynamic whitelist ----------------------------------------------------------------------
 */

/* domain_ok - a host or domain name: dot-separated labels of letters, digits, "-", "_";
 * not all digits and dots (that is an address) */
static bool domain_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    bool alpha = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
            alpha |= !isdigit(c);
        } else {
            return false;
        }
    }
    return label > 0 && alpha;
}

/* wl_canon - the canonical form of a whitelist value into out (WL_VALUE_MAX); its length or 0
 * with why filled */
static size_t wl_canon(bool client, const char *v, char *out, const char **why)
{
    size_t n = strlen(v);
    struct ip_addr ip;
    struct cidr c;
    if (client) {
        if (!strchr(v, '/') && ip_parse(v, n, &ip)) {
            c.addr = ip;
            c.prefix = 128; /* an IPv4 address is a mapped /128 */
            cidr_format(&c, out, CIDR_TEXT_MAX);
            return strlen(out);
        }
        if (strchr(v, '/')) {
            if (!cidr_parse(v, n, false, &c)) {
                *why = "not a network (CIDR with host bits zero)";
                return 0;
            }
            cidr_format(&c, out, CIDR_TEXT_MAX);
            return strlen(out);
        }
    }
    const char *at = client ? NULL : strrchr(v, '@');
    if (at) {
        size_t ln = (size_t)(at - v);
        if (ln == 0 || ln > 64) {
            *why = "not an address (local@domain) or a domain";
            return 0;
        }
        for (size_t i = 0; i < ln; i++)
            if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f || v[i] == '@') {
                *why = "not an address (local@domain) or a domain";
                return 0;
            }
    }
    const char *d = at ? at + 1 : v;
    if (!at && *d == '.')
        d++;
    size_t dn = strlen(d);
    if (dn && d[dn - 1] == '.')
        dn--;
    if (!domain_ok(d, dn)) {
        *why = client ? "not an IP address, a network (CIDR) or a host name"
                      : "not an address (local@domain) or a domain";
        return 0;
    }
    size_t k = 0;
    if (at) {
        memcpy(out, v, (size_t)(at - v) + 1);
        k = (size_t)(at - v) + 1;
    }
    memcpy(out + k, d, dn);
    k += dn;
    out[k] = '\0';
    lower(out, k);
    return k;
}

/* suffix_match - name[0..n) equals dom or ends with "." dom (case-insensitive) */
static bool suffix_match(const char *name, size_t n, const char *dom, size_t dn)
{
    if (n < dn || strncasecmp(name + n - dn, dom, dn) != 0)
        return false;
    return n == dn || name[n - dn - 1] == '.';
}

/* --- the in-memory mirror of the dynamic whitelist ------------------------------------------- */

/* struct wl_entry - one "w/c/..." or "w/r/..." key, its CIDR parsed once */
struct wl_entry {
    bool client;
    bool is_cidr; /* client entry with a "/": c is valid */
    struct cidr c;
    uint16_t n;
    char v[WL_VALUE_MAX];
};

/* Workers read the mirror on every RCPT; the control thread changes it after it changed the
 * store. Readers take lock shared, except when count says the list is empty (the usual case:
 * no lock at all; a reader racing with the first add may miss it for that one request). */
struct greylist_dynwl {
    pthread_rwlock_t lock; /* protects: e, n, cap */
    atomic_size_t count;   /* == n; relaxed, only for the empty fast path */
    struct wl_entry *e;
    size_t n, cap;
};

/* entry_set - e from a stored key (k: "w/c/VALUE" or "w/r/VALUE"); false if not one */
static bool entry_set(struct wl_entry *e, const char *k, size_t klen)
{
    if (klen < 5 || klen - 4 >= WL_VALUE_MAX || k[3] != '/' || (k[2] != 'c' && k[2] != 'r'))
        return false;
    memset(e, 0, sizeof(*e));
    e->client = k[2] == 'c';
    e->n = (uint16_t)(klen - 4);
    memcpy(e->v, k + 4, e->n);
    e->is_cidr = e->client && memchr(e->v, '/', e->n) && cidr_parse(e->v, e->n, true, &e->c);
    return true;
}

/* entry_find - index of the entry equal to e (kind and value), or n */
static size_t entry_find(const struct greylist_dynwl *w, const struct wl_entry *e)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->e[i].client == e->client && w->e[i].n == e->n && memcmp(w->e[i].v, e->v, e->n) == 0)
            return i;
    return w->n;
}

/* dynwl_change - add (present) or remove the entry of key k in the mirror */
static void dynwl_change(struct greylist_dynwl *w, const char *k, size_t klen, bool present)
{
    struct wl_entry e;
    if (!w || !entry_set(&e, k, klen))
        return;
    pthread_rwlock_wrlock(&w->lock);
    size_t i = entry_find(w, &e);
    if (present && i == w->n) {
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 16;
            w->e = xrealloc(w->e, w->cap * sizeof(*w->e));
        }
        w->e[w->n++] = e;
    } else if (!present && i < w->n) {
        w->e[i] = w->e[--w->n];
    }
    atomic_store_explicit(&w->count, w->n, memory_order_relaxed);
    pthread_rwlock_unlock(&w->lock);
}

/* load_cb - one stored entry into the mirror (kv_scan_cb) */
static int load_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                   void *arg)
{
    (void)val, (void)vlen, (void)expires_s;
    dynwl_change(arg, key, klen, true);
    return 0;
}

struct greylist_dynwl *greylist_dynwl_load(struct kv *kv, int64_t now_s, int *err)
{
    struct greylist_dynwl *w = xcalloc(1, sizeof(*w));
    pthread_rwlock_init(&w->lock, NULL);
    atomic_init(&w->count, 0);
    int rc = kv_scan_prefix(kv, "w/", 2, now_s, load_cb, w);
    if (rc != 0) {
        greylist_dynwl_destroy(w);
        *err = rc;
        return NULL;
    }
    *err = 0;
    return w;
}

void greylist_dynwl_destroy(struct greylist_dynwl *w)
{
    if (!w)
        return;
    pthread_rwlock_destroy(&w->lock);
    free(w->e);
    free(w);
}

size_t greylist_dynwl_count(struct greylist_dynwl *w)
{
    return w ? atomic_load_explicit(&w->count, memory_order_relaxed) : 0;
}

/* entry_hit - whether e lists the client (ip and/or name[0..nn)) or the recipient r[0..rn) */
static bool entry_hit(const struct wl_entry *e, const struct ip_addr *ip, const char *name,
                      size_t nn, const char *r, size_t rn)
{
    const char *v = e->v;
    size_t n = e->n;
    if (e->client) {
        if (e->is_cidr)
            return ip && cidr_match(&e->c, ip);
        return !memchr(v, '/', n) && nn && suffix_match(name, nn, v, n);
    }
    if (!rn)
        return false;
    const char *at = memchr(v, '@', n);
    const char *rat = memrchr(r, '@', rn);
    if (!at) /* a domain: the recipient's domain is it or below it */
        return rat && suffix_match(rat + 1, rn - (size_t)(rat + 1 - r), v, n);
    if (!rat) /* local@domain, also local+ext@domain */
        return false;
    size_t ln = (size_t)(at - v), rln = (size_t)(rat - r);
    size_t dn = n - ln - 1, rdn = rn - rln - 1;
    return dn == rdn && strncasecmp(at + 1, rat + 1, dn) == 0 && rln >= ln &&
           strncasecmp(r, v, ln) == 0 && (rln == ln || r[ln] == '+');
}

bool greylist_dynwl_match(struct greylist_dynwl *w, const struct ip_addr *ip,
                          const char *client_name, const char *recipient)
{
    if (!w || atomic_load_explicit(&w->count, memory_order_relaxed) == 0)
        return false;
    size_t nn = client_name && strcasecmp(client_name, "unknown") != 0 ? strlen(client_name) : 0;
    size_t rn = recipient ? strlen(recipient) : 0;
    bool hit = false;
    pthread_rwlock_rdlock(&w->lock);
    for (size_t i = 0; i < w->n && !hit; i++)
        hit = entry_hit(&w->e[i], ip, client_name, nn, recipient, rn);
    pthread_rwlock_unlock(&w->lock);
    return hit;
}

struct wl_list_ctx {
    struct control_out *o;
    long n;
};

static int wl_list_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                      void *arg)
{
    (void)expires_s;
    struct wl_list_ctx *x = arg;
    const char *k = key;
    const uint8_t *v = val;
    if (klen < 5)
        return 0;
    int64_t added = 0;
    if (vlen == WL_RECORD_SIZE && v[0] == WL_RECORD_VERSION)
        for (int i = 0; i < 8; i++)
            added |= (int64_t)((uint64_t)v[1 + i] << (8 * i));
    const char *kind = k[2] == 'c' ? "client" : "recipient";
    char t[32];
    iso_time(added, t, sizeof(t));
    if (x->o->json) {
        control_printf(x->o, "%s{\"kind\":\"%s\",\"value\":", x->n ? "," : "", kind);
        put_json(x->o, k + 4, klen - 4);
        control_printf(x->o, ",\"added\":\"%s\",\"added_s\":%lld}", t, (long long)added);
    } else {
        control_printf(x->o, "%s ", kind);
        put_text(x->o, k + 4, klen - 4, "-");
        control_printf(x->o, " %s\n", t);
    }
    x->n++;
    return 0;
}

static int wl_count_cb(const void *key, size_t klen, const void *val, size_t vlen,
                       int64_t expires_s, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)expires_s;
    ++*(long *)arg;
    return 0;
}

static int cmd_whitelist(struct greylist_admin *a, int argc, char **argv, int64_t now,
                         struct control_out *o)
{
    static const char usage[] = "usage: whitelist add|remove client|recipient VALUE | "
                                "whitelist list [client|recipient]";
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        if (argc > 3 ||
            (argc == 3 && strcmp(argv[2], "client") != 0 && strcmp(argv[2], "recipient") != 0))
            return control_fail(o, usage);
        const char *prefix = argc == 2 ? "w/" : argv[2][0] == 'c' ? "w/c/" : "w/r/";
        struct wl_list_ctx x = {.o = o};
        if (o->json)
            control_printf(o, "[");
        int rc = kv_scan_prefix(a->kv, prefix, strlen(prefix), now, wl_list_cb, &x);
        if (rc != 0)
            return store_fail(a, o, "whitelist list", rc);
        if (o->json)
            control_printf(o, "]\n");
        return 0;
    }
    if (argc != 4 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0) ||
        (strcmp(argv[2], "client") != 0 && strcmp(argv[2], "recipient") != 0))
        return control_fail(o, usage);
    bool client = argv[2][0] == 'c', add = argv[1][0] == 'a';
    char key[4 + WL_VALUE_MAX];
    const char *why = "";
    size_t n = strlen(argv[3]) < WL_VALUE_MAX - 8 ? wl_canon(client, argv[3], key + 4, &why) : 0;
    if (n == 0) {
        char shown[120];
        log_sanitize(shown, sizeof(shown), argv[3], strlen(argv[3]));
        return control_fail(o, "%s %s: %s", argv[2], shown, why[0] ? why : "too long");
    }
    memcpy(key, client ? "w/c/" : "w/r/", 4);
    size_t klen = 4 + n;
    int rc = kv_get(a->kv, key, klen, now, NULL, 0, NULL, NULL);
    bool present = rc == 0 || rc == KV_ERR_TOOSMALL;
    if (rc != 0 && rc != KV_ERR_TOOSMALL && rc != KV_ERR_NOTFOUND)
        return store_fail(a, o, "whitelist", rc);
    if (add && !present) {
        long entries = 0;
        if ((rc = kv_scan_prefix(a->kv, "w/", 2, now, wl_count_cb, &entries)) != 0)
            return store_fail(a, o, "whitelist", rc);
        if (entries >= GREYLIST_ADMIN_WL_MAX)
            return control_fail(o,
                                "the dynamic whitelist is full (%d entries): use whitelist "
                                "files for long lists",
                                GREYLIST_ADMIN_WL_MAX);
        uint8_t v[WL_RECORD_SIZE] = {WL_RECORD_VERSION};
        for (int i = 0; i < 8; i++)
            v[1 + i] = (uint8_t)((uint64_t)now >> (8 * i));
        if ((rc = kv_put(a->kv, key, klen, v, sizeof(v), 0)) != 0)
            return store_fail(a, o, "whitelist add", rc);
    } else if (!add && present) {
        if ((rc = kv_delete(a->kv, key, klen)) != 0)
            return store_fail(a, o, "whitelist remove", rc);
    } else if (!add) {
        return control_fail(o, "%s %s is not listed", argv[2], key + 4);
    }
    dynwl_change(a->wl, key, klen, add); /* the store first: a failed write changes nothing */
    const char *what = add ? (present ? "already listed" : "added") : "removed";
    if (o->json) {
        control_printf(o, "{\"result\":\"%s\",\"kind\":\"%s\",\"value\":", what, argv[2]);
        put_json(o, key + 4, n);
        control_printf(o, "}\n");
    } else {
        control_printf(o, "%s %s %s\n", what, argv[2], key + 4);
    }
    return 0;
}

/* --- registration ---------------------------------------------------------------------------- */

/* cmd_compact - `compact`: a full manual compaction now (the expiry filter runs over every
 * file); blocks the control thread, never a policy thread */
static int cmd_compact(struct greylist_admin *a, int argc, char **argv, int64_t now_s,
                       struct control_out *out)
{
    (void)argv;
    (void)now_s;
    if (argc != 1)
        return control_fail(out, "usage: compact");
    struct kv_stats before, after;
    kv_stats(a->kv, &before);
    uint64_t t0 = clock_mono_ms();
    int rc = kv_compact(a->kv);
    uint64_t ms = clock_mono_ms() - t0;
    if (rc != 0)
        return store_fail(a, out, "compact", rc);
    kv_stats(a->kv, &after);
    if (out->json)
        control_printf(out,
                       "{\"ms\":%llu,\"keys_before\":%llu,\"keys_after\":%llu,"
                       "\"expired_dropped\":%llu}\n",
                       (unsigned long long)ms, (unsigned long long)before.keys_estimate,
                       (unsigned long long)after.keys_estimate,
                       (unsigned long long)(after.expired_dropped - before.expired_dropped));
    else
        control_printf(out, "compacted in %llu ms: keys %llu -> %llu, %llu expired dropped\n",
                       (unsigned long long)ms, (unsigned long long)before.keys_estimate,
                       (unsigned long long)after.keys_estimate,
                       (unsigned long long)(after.expired_dropped - before.expired_dropped));
    return 0;
}

int greylist_admin_run(struct greylist_admin *a, int argc, char **argv, int64_t now_s,
                       struct control_out *out)
{
    if (argc < 1)
        return control_fail(out, "empty command");
    if (strcmp(argv[0], "list") == 0)
        return cmd_list(a, argc, argv, now_s, out);
    if (strcmp(argv[0], "show") == 0)
        return cmd_show(a, argc, argv, now_s, out);
    if (strcmp(argv[0], "delete") == 0)
        return cmd_delete(a, argc, argv, now_s, out);
    if (strcmp(argv[0], "counts") == 0)
        return cmd_counts(a, argc, argv, now_s, out);
    if (strcmp(argv[0], "whitelist") == 0)
        return cmd_whitelist(a, argc, argv, now_s, out);
    if (strcmp(argv[0], "compact") == 0)
        return cmd_compact(a, argc, argv, now_s, out);
    return control_fail(out, "unknown command \"%.64s\"", argv[0]);
}

struct greylist_admin *greylist_admin_create(struct kv *kv, struct greylist_dynwl *wl,
                                             const struct greylist_params *p,
                                             const uint8_t *hash_key)
{
    struct greylist_admin *a = xcalloc(1, sizeof(*a));
    a->kv = kv;
    a->wl = wl;
    a->p = *p;
    a->p.hash_key = NULL;
    if (hash_key) {
        memcpy(a->hash_key, hash_key, GREYLIST_HASH_KEY_LEN);
        a->p.hash_key = a->hash_key;
    }
    return a;
}

/* handler - every command's control_cmd_fn (control thread): the daemon's current config
 * (a runtime reference for the call) and store (published under rt_mu: a reload may open it),
 * and a state for this call only */
static int handler(void *arg, int argc, char **argv, struct control_out *out)
{
    struct server *s = arg;
    pthread_mutex_lock(&s->rt_mu);
    struct kv *kv = s->res.kv;
    struct greylist_dynwl *wl = s->res.dynwl;
    pthread_mutex_unlock(&s->rt_mu);
    if (!kv)
        return control_fail(out, "greylisting is not enabled ([greylist] enabled = no)");
    unsigned gen;
    struct runtime *rt = runtime_acquire(s, &gen);
    const struct config *cfg = rt->cfg;
    struct greylist_params p;
    stage_greylist_params(cfg, &p);
    struct greylist_admin *a = greylist_admin_create(kv, wl, &p, NULL);
    if (cfg->greylist.hash_keys) { /* the stage has loaded (or made) the same key */
        if (greylist_hash_key_load(cfg->state_dir, a->hash_key, a->hash_err, sizeof(a->hash_err)) ==
            0) {
            a->hash_err[0] = '\0';
            a->p.hash_key = a->hash_key;
        } else if (!a->hash_err[0]) {
            snprintf(a->hash_err, sizeof(a->hash_err), "the hash key is unavailable");
        }
    }
    int rc = greylist_admin_run(a, argc, argv, clock_wall_s(), out);
    greylist_admin_destroy(a);
    runtime_release(rt);
    return rc;
}

void greylist_admin_register(struct control *c, struct server *s)
{
    control_register(c, "list",
                     "list [client=NET|IP|spf:DOMAIN] [sender=ADDR] [recipient=ADDR] "
                     "[state=pending|passed|awl] [limit=N]  greylisting records",
                     handler, s);
    control_register(c, "show",
                     "show CLIENT SENDER RECIPIENT  one triplet's record (and its network's AWL "
                     "record)",
                     handler, s);
    control_register(c, "delete",
                     "delete CLIENT SENDER RECIPIENT | delete client=NET  remove records", handler,
                     s);
    control_register(c, "counts", "counts               greylisting records by state", handler, s);
    control_register(c, "compact", "compact              full compaction of the store now", handler,
                     s);
    control_register(c, "whitelist",
                     "whitelist add|remove client|recipient VALUE | whitelist list  the dynamic "
                     "whitelist",
                     handler, s);
}

void greylist_admin_destroy(struct greylist_admin *a)
{
    free(a);
}
