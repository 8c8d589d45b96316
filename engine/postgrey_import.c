/* engine/postgrey_import.c - postgrey database dumps into greylisting records; see
 * postgrey_import.h. The parser owns two growing buffers (the pending key, the value) and
 * nothing else; conversion is pure; postgrey_import_main is the command around them. */
#include "engine/postgrey_import.h"
#include "engine/stage_greylist.h"
#include "engine/base/alloc.h"
#include "engine/config.h"
#include "engine/greylist_admin.h"
#include "kv/kv.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the dump parser ------------------------------------------------------------------------ */

enum dump_state {
    ST_OUTSIDE = 0, /* between sections */
    ST_HEADER,      /* after a header line, before HEADER=END */
    ST_DATA,        /* key/value lines */
    ST_SKIP,        /* an unreadable section's data, until DATA=END */
};

struct postgrey_dump {
    enum dump_state st;
    unsigned line;
    bool bytevalue; /* format=bytevalue (hex) rather than print */
    bool format_seen, type_ok, header_bad;
    char type[24]; /* type= as given (for the message) */
    bool have_key; /* a key line was taken; its value comes next */
    bool key_bad;  /* ... but it was malformed (reported): drop the pair */
    unsigned key_line;
    uint8_t *key, *val; /* decoded bytes */
    size_t key_len, val_len, key_cap, val_cap;
};

struct postgrey_dump *postgrey_dump_create(void)
{
    return xcalloc(1, sizeof(struct postgrey_dump));
}

void postgrey_dump_destroy(struct postgrey_dump *d)
{
    if (!d)
        return;
    free(d->key);
    free(d->val);
    free(d);
}

unsigned postgrey_dump_lines(const struct postgrey_dump *d)
{
    return d->line;
}

/* fail - an ERROR event for the current line */
static enum postgrey_dump_event fail(struct postgrey_dump *d, struct postgrey_dump_item *it,
                                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum postgrey_dump_event fail(struct postgrey_dump *d, struct postgrey_dump_item *it,
                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
    va_end(ap);
    it->line = d->line;
    return POSTGREY_DUMP_ERROR;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* decode - a data line's bytes after its leading space into *buf (grown); 0, or -1 with the
 * problem in msg */
static int decode(bool bytevalue, const char *s, size_t n, uint8_t **buf, size_t *cap,
                  size_t *out_len, char *msg, size_t msglen)
{
    if (*cap < n + 1) {
        *cap = n + 1;
        *buf = xrealloc(*buf, *cap);
    }
    uint8_t *o = *buf;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (bytevalue) {
            int hi = hexval(c), lo = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(msg, msglen, "column %zu: not a pair of hex digits", i + 2);
                return -1;
            }
            o[k++] = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '\\') {
            if (i + 1 < n && s[i + 1] == '\\') {
                o[k++] = '\\';
                i += 2;
                continue;
            }
            int hi = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(msg, msglen,
                         "column %zu: bad escape (want \\\\ or \\ and two hex "
                         "digits)",
                         i + 2);
                return -1;
            }
            o[k++] = (uint8_t)(hi << 4 | lo);
            i += 3;
        } else if (c < 0x20 || c > 0x7e) {
            snprintf(msg, msglen, "column %zu: raw byte 0x%02x (db_dump -p escapes it)", i + 2, c);
            return -1;
        } else {
            o[k++] = c;
            i++;
        }
    }
    *out_len = k;
    return 0;
}

/* starts - whether line[0..n) begins with the literal p */
static bool starts(const char *line, size_t n, const char *p)
{
    size_t pl = strlen(p);
    return n >= pl && memcmp(line, p, pl) == 0;
}

static bool equals(const char *line, size_t n, const char *p)
{
    return n == strlen(p) && memcmp(line, p, n) == 0;
}

/* header_start - a fresh section's header state */
static void header_start(struct postgrey_dump *d)
{
    d->st = ST_HEADER;
    d->bytevalue = false;
    d->format_seen = d->type_ok = d->header_bad = false;
    d->type[0] = '\0';
    d->have_key = d->key_bad = false;
}

/* header_line - one "name=value" line of a header */
static enum postgrey_dump_event header_line(struct postgrey_dump *d, const char *line, size_t n,
                                            struct postgrey_dump_item *it)
{
    if (equals(line, n, "HEADER=END")) {
        if (d->header_bad) {
            d->st = ST_SKIP;
            return POSTGREY_DUMP_NONE; /* reported at the bad header line */
        }
        if (!d->format_seen || !d->type[0]) {
            d->st = ST_SKIP;
            return fail(d, it, "header without %s: not db_dump output",
                        !d->format_seen ? "format=" : "type=");
        }
        if (!d->type_ok) {
            d->st = ST_SKIP;
            return fail(d, it, "type=%s: not a btree or hash database (postgrey's are btree)",
                        d->type);
        }
        d->st = ST_DATA;
        return POSTGREY_DUMP_SECTION;
    }
    const char *eq = memchr(line, '=', n);
    if (n == 0 || line[0] == ' ' || !eq || eq == line) {
        d->header_bad = true;
        return fail(d, it,
                    line[0] == ' ' && n ? "data line before HEADER=END"
                                        : "not a db_dump header line (name=value)");
    }
    const char *v = eq + 1;
    size_t vn = n - (size_t)(v - line);
    if (starts(line, n, "format=")) {
        d->format_seen = true;
        if (equals(v, vn, "print")) {
            d->bytevalue = false;
        } else if (equals(v, vn, "bytevalue")) {
            d->bytevalue = true;
        } else {
            d->header_bad = true;
            return fail(d, it, "format=%.*s: want print or bytevalue", (int)(vn > 40 ? 40 : vn), v);
        }
    } else if (starts(line, n, "type=")) {
        snprintf(d->type, sizeof(d->type), "%.*s", (int)(vn > 20 ? 20 : vn), v);
        for (char *p = d->type; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = '?';
        d->type_ok = equals(v, vn, "btree") || equals(v, vn, "hash");
        if (!d->type[0])
            snprintf(d->type, sizeof(d->type), "(empty)");
    }
    return POSTGREY_DUMP_NONE; /* VERSION, db_pagesize, h_nelem... need nothing */
}

/* data_line - one key or value line (or a stray line that takes a slot) */
static enum postgrey_dump_event data_line(struct postgrey_dump *d, const char *line, size_t n,
                                          struct postgrey_dump_item *it)
{
    bool is_key = !d->have_key;
    char msg[POSTGREY_MSG_MAX];
    int rc;
    if (n == 0 || line[0] != ' ') {
        snprintf(msg, sizeof(msg), "does not start with a space (a %s line was expected)",
                 is_key ? "key" : "value");
        rc = -1;
    } else if (is_key) {
        rc = decode(d->bytevalue, line + 1, n - 1, &d->key, &d->key_cap, &d->key_len, msg,
                    sizeof(msg));
    } else {
        rc = decode(d->bytevalue, line + 1, n - 1, &d->val, &d->val_cap, &d->val_len, msg,
                    sizeof(msg));
    }
    if (is_key) {
        d->have_key = true;
        d->key_bad = rc != 0;
        d->key_line = d->line;
        return rc ? fail(d, it, "key: %s", msg) : POSTGREY_DUMP_NONE;
    }
    d->have_key = false;
    if (rc)
        return fail(d, it, "value: %s", msg);
    if (d->key_bad)
        return POSTGREY_DUMP_NONE; /* the key's error was reported */
    it->key = d->key;
    it->key_len = d->key_len;
    it->val = d->val;
    it->val_len = d->val_len;
    it->line = d->key_line;
    return POSTGREY_DUMP_RECORD;
}

enum postgrey_dump_event postgrey_dump_line(struct postgrey_dump *d, const char *line, size_t n,
                                            struct postgrey_dump_item *it)
{
    memset(it, 0, sizeof(*it));
    d->line++;
    if (n && line[n - 1] == '\r')
        n--;
    if (n > POSTGREY_DUMP_LINE_MAX) {
        if (d->st == ST_DATA) { /* it still takes its slot, so pairs stay aligned */
            bool is_key = !d->have_key;
            d->have_key = is_key;
            d->key_bad = is_key ? true : d->key_bad;
        } else if (d->st == ST_HEADER) {
            d->header_bad = true;
        }
        return fail(d, it, "line longer than %d bytes", POSTGREY_DUMP_LINE_MAX);
    }
    bool version = starts(line, n, "VERSION=");
    switch (d->st) {
    case ST_OUTSIDE:
        if (n == 0)
            return POSTGREY_DUMP_NONE;
        if (line[0] == ' ')
            return fail(d, it, "data line outside a section (no header before it)");
        header_start(d);
        return header_line(d, line, n, it);
    case ST_HEADER:
        return header_line(d, line, n, it);
    case ST_SKIP:
        if (equals(line, n, "DATA=END")) {
            d->st = ST_OUTSIDE;
            return POSTGREY_DUMP_END;
        }
        if (version) {
            header_start(d);
            return header_line(d, line, n, it);
        }
        return POSTGREY_DUMP_NONE;
    case ST_DATA:
        if (equals(line, n, "DATA=END")) {
            d->st = ST_OUTSIDE;
            if (d->have_key && !d->key_bad) {
                d->have_key = false;
                return fail(d, it, "the key at line %u has no value", d->key_line);
            }
            d->have_key = false;
            return POSTGREY_DUMP_END;
        }
        if (version) {
            header_start(d);
            header_line(d, line, n, it);
            return fail(d, it, "new section before DATA=END: the previous one is truncated");
        }
        return data_line(d, line, n, it);
    }
    return POSTGREY_DUMP_NONE;
}

enum postgrey_dump_event postgrey_dump_finish(struct postgrey_dump *d,
                                              struct postgrey_dump_item *it)
{
    memset(it, 0, sizeof(*it));
    if (d->st == ST_OUTSIDE)
        return POSTGREY_DUMP_NONE;
    enum dump_state st = d->st;
    d->st = ST_OUTSIDE;
    return fail(d, it, "end of input %s: the dump is truncated",
                st == ST_HEADER ? "inside a header" : "before DATA=END");
}

/* ---- records -----------------------------------------------------------------------------------
 */

void postgrey_opts_defaults(struct postgrey_opts *o)
{
    *o = (struct postgrey_opts){.delay_s = 300, .ipv4cidr = 24, .ipv6cidr = 64};
}

const char *postgrey_strerror(int err)
{
    switch (err) {
    case POSTGREY_ERR_MALFORMED:
        return "malformed";
    case POSTGREY_ERR_HASHED:
        return "hashed key (postgrey --privacy)";
    case POSTGREY_ERR_EXPIRED:
        return "expired";
    case POSTGREY_ERR_NETWORK:
        return "client network narrower in greyspf than in postgrey";
    default:
        return "unknown postgrey import error";
    }
}

/* is_sha1_hex - a --privacy key: 40 lower-case hex digits */
static bool is_sha1_hex(const uint8_t *k, size_t n)
{
    if (n != 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit(k[i]) && !(k[i] >= 'a' && k[i] <= 'f'))
            return false;
    return true;
}

/* parse_num - a decimal 0..10^18 at s[0..n); false otherwise */
static bool parse_num(const uint8_t *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* parse_pair - "A,B" (allow_more: "A,B,anything") */
static bool parse_pair(const uint8_t *v, size_t n, bool allow_more, int64_t *a, int64_t *b)
{
    const uint8_t *c1 = memchr(v, ',', n);
    if (!c1)
        return false;
    size_t rest = n - (size_t)(c1 + 1 - v);
    const uint8_t *c2 = memchr(c1 + 1, ',', rest);
    if (c2 && !allow_more)
        return false;
    size_t bn = c2 ? (size_t)(c2 - c1 - 1) : rest;
    return parse_num(v, (size_t)(c1 - v), a) && parse_num(c1 + 1, bn, b);
}

/* host_bits_zero - whether ip has no bit set beyond prefix (mapped space) */
static bool host_bits_zero(const struct ip_addr *ip, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
        if (keep < 8 && (ip->b[i] & (uint8_t) ~(0xff00u >> keep)))
            return false;
    }
    return true;
}

/* parse_client - postgrey's CLIENT text into an address and the prefix postgrey keyed it by
 * (mapped space: IPv4 /24 is 120). host: an AWL key (the address itself). */
static bool parse_client(const struct postgrey_opts *o, bool host, const uint8_t *s, size_t n,
                         struct ip_addr *ip, unsigned *prefix)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf) - 2 || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    size_t dots = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        dots += buf[i] == '.';
        digits += isdigit((unsigned char)buf[i]) != 0;
    }
    if (dots == 2 && dots + digits == n) { /* "192.0.2": older postgrey's /24 */
        memcpy(buf + n, ".0", 3);
        if (!ip_parse(buf, n + 2, ip))
            return false;
        *prefix = 96 + 24;
        return true;
    }
    if (!ip_parse(buf, n, ip))
        return false;
    unsigned cidr = ip_is_v4(ip) ? 96 + o->ipv4cidr : o->ipv6cidr;
    /* host bits set beyond postgrey's network: that database was keyed by host */
    *prefix = host || o->lookup_by_host || !host_bits_zero(ip, cidr) ? 128 : cidr;
    return true;
}

/* network_ok - whether greyspf's network for ip is no narrower than postgrey's prefix */
static bool network_ok(const struct greylist_params *p, const struct ip_addr *ip, unsigned prefix)
{
    unsigned ours = ip_is_v4(ip) ? 96 + p->prefix_v4 : p->prefix_v6;
    return ours <= prefix;
}

enum postgrey_kind postgrey_detect(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    int64_t a, b;
    struct postgrey_opts o;
    postgrey_opts_defaults(&o);
    const uint8_t *slash = memchr(key, '/', klen);
    if (slash) {
        struct ip_addr ip;
        unsigned prefix;
        const uint8_t *last = slash;
        for (const uint8_t *p = key + klen; p-- > slash;)
            if (*p == '/') {
                last = p;
                break;
            }
        return last != slash && parse_client(&o, false, key, (size_t)(slash - key), &ip, &prefix) &&
                       parse_pair(val, vlen, true, &a, &b)
                   ? POSTGREY_TRIPLETS
                   : POSTGREY_UNKNOWN;
    }
    struct ip_addr ip;
    unsigned prefix;
    return parse_client(&o, true, key, klen, &ip, &prefix) && parse_pair(val, vlen, false, &a, &b)
               ? POSTGREY_CLIENTS
               : POSTGREY_UNKNOWN;
}

/* skip - a POSTGREY_ERR_* with its reason */
static int skip(int err, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int skip(int err, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return err;
}

int postgrey_convert(const struct greylist_params *p, const struct postgrey_opts *o,
                     enum postgrey_kind kind, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, int64_t now_s, struct postgrey_record *out, char *why,
                     size_t whylen)
{
    memset(out, 0, sizeof(*out));
    if (is_sha1_hex(key, klen))
        return skip(POSTGREY_ERR_HASHED, why, whylen, "the key is a SHA-1 (postgrey --privacy)");
    if (kind == POSTGREY_UNKNOWN)
        kind = postgrey_detect(key, klen, val, vlen);
    if (kind == POSTGREY_UNKNOWN)
        return skip(POSTGREY_ERR_MALFORMED, why, whylen,
                    "neither a triplet (CLIENT/SENDER/RECIPIENT = FIRST,LAST) nor a client "
                    "(ADDRESS = COUNT,LAST) record");
    out->kind = kind;
    int64_t a, b;
    struct ip_addr ip;
    unsigned prefix;
    if (kind == POSTGREY_CLIENTS) {
        if (memchr(key, '/', klen) || !parse_client(o, true, key, klen, &ip, &prefix))
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "key: not a client address");
        if (!parse_pair(val, vlen, false, &a, &b))
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "value: want COUNT,LAST");
        if (!network_ok(p, &ip, prefix))
            return skip(POSTGREY_ERR_NETWORK, why, whylen, "postgrey keyed this client by /%u",
                        ip_is_v4(&ip) ? prefix - 96 : prefix);
        int64_t last = b > now_s ? now_s : b;
        out->rec = (struct greylist_record){GREYLIST_STATE_AWL, last, last,
                                            a > UINT32_MAX ? UINT32_MAX : (uint32_t)a};
        out->expires_s = last + p->max_age_s;
        out->key_len = greylist_awl_key(p, &ip, out->key);
    } else {
        const uint8_t *s1 = memchr(key, '/', klen), *s2 = NULL;
        for (const uint8_t *q = key + klen; s1 && q-- > s1 + 1;)
            if (*q == '/') {
                s2 = q;
                break;
            }
        if (!s1 || !s2)
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "key: want CLIENT/SENDER/RECIPIENT");
        if (!parse_client(o, false, key, (size_t)(s1 - key), &ip, &prefix))
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "key: the client is not an address");
        if (!parse_pair(val, vlen, true, &a, &b))
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "value: want FIRST,LAST");
        if (b < a)
            return skip(POSTGREY_ERR_MALFORMED, why, whylen, "value: LAST before FIRST");
        if (!network_ok(p, &ip, prefix))
            return skip(POSTGREY_ERR_NETWORK, why, whylen,
                        "postgrey keyed this client by /%u, greyspf by /%u",
                        ip_is_v4(&ip) ? prefix - 96 : prefix,
                        ip_is_v4(&ip) ? p->prefix_v4 : p->prefix_v6);
        bool passed = b - a >= o->delay_s; /* postgrey: the last attempt went through */
        int64_t first = a > now_s ? now_s : a, last = b > now_s ? now_s : b;
        if (passed)
            out->rec = (struct greylist_record){GREYLIST_STATE_PASSED, first, last, 1};
        else
            out->rec = (struct greylist_record){GREYLIST_STATE_PENDING, first, last, 0};
        out->expires_s = passed ? last + p->max_age_s : first + p->retry_window_s;
        struct greylist_input in = {
            .client = &ip,
            .sender = (const char *)s1 + 1,
            .sender_len = (size_t)(s2 - s1 - 1),
            .recipient = (const char *)s2 + 1,
            .recipient_len = klen - (size_t)(s2 + 1 - key),
            .spf_domain = NULL,
        };
        out->key_len = greylist_triplet_key(p, &in, out->key);
    }
    if (out->key_len == 0)
        return skip(POSTGREY_ERR_MALFORMED, why, whylen, "no greyspf key for it");
    if (out->expires_s <= now_s)
        return skip(POSTGREY_ERR_EXPIRED, why, whylen, "%s",
                    out->rec.state == GREYLIST_STATE_PENDING ? "its retry window is over"
                                                             : "not seen within max_age");
    return 0;
}

/* struct merge - postgrey_store's kv_update argument */
struct merge {
    const struct postgrey_record *r;
    uint8_t val[GREYLIST_RECORD_SIZE];
};

/* merge_cb - combine the stored record (if any, of the same kind) with the imported one */
static enum kv_update_op merge_cb(struct kv_update *u, void *arg)
{
    struct merge *m = arg;
    struct greylist_record n = m->r->rec, cur;
    int64_t exp = m->r->expires_s;
    bool awl = n.state == GREYLIST_STATE_AWL;
    if (u->found && greylist_record_decode(u->cur, u->cur_len, &cur) == 0 &&
        (cur.state == GREYLIST_STATE_AWL) == awl) {
        n.state = cur.state > n.state ? cur.state : n.state;
        n.first_seen_s = cur.first_seen_s < n.first_seen_s ? cur.first_seen_s : n.first_seen_s;
        n.last_seen_s = cur.last_seen_s > n.last_seen_s ? cur.last_seen_s : n.last_seen_s;
        n.passes = cur.passes > n.passes ? cur.passes : n.passes;
        exp = u->cur_expires_s > exp ? u->cur_expires_s : exp;
    }
    greylist_record_encode(&n, m->val);
    u->val = m->val;
    u->val_len = sizeof(m->val);
    u->expires_s = exp;
    return KV_UPDATE_PUT;
}

int postgrey_store(struct kv *kv, const struct postgrey_record *r, int64_t now_s)
{
    struct merge m = {.r = r};
    return kv_update(kv, r->key, r->key_len, now_s, merge_cb, &m);
}

/* ---- the command
 * --------------------------------------------------------------------------------- */

/* struct summary - what one run did */
struct summary {
    long read, passed, pending, awl;
    long skipped[5]; /* records, by -POSTGREY_ERR_* */
    long bad_lines;  /* dump syntax errors (each loses at most one record) */
};

/* struct run - one import */
struct run {
    const struct greylist_params *p;
    const struct postgrey_opts *o;
    struct kv *kv; /* NULL: dry run */
    int64_t now_s;
    struct summary sum;
    int store_err;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: greyspf import-postgrey [-c CONFIG] [--dry-run] [postgrey options] DUMP...\n"
            "  DUMP                 `db_dump -p` (or plain db_dump) output of postgrey.db and/or\n"
            "                       postgrey_clients.db; \"-\" reads standard input\n"
            "  -c, --config CONFIG  greyspf's config (default " CONFIG_DEFAULT_PATH "): the store\n"
            "                       is state_dir/greylist; greyspfd must be stopped\n"
            "  -n, --dry-run        read and convert, write nothing\n"
            "how the postgrey that wrote the database ran:\n"
            "  --delay N            its --delay in seconds (default 300)\n"
            "  --ipv4cidr N         its --ipv4cidr (default 24)\n"
            "  --ipv6cidr N         its --ipv6cidr (default 64)\n"
            "  --lookup-by-host     it ran with --lookup-by-host\n");
}

/* import_file - read one dump; false on an I/O error (reported) */
static bool import_file(struct run *r, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "greyspf import-postgrey: %s: %s\n", path, strerror(errno));
        return false;
    }
    struct postgrey_dump *d = postgrey_dump_create();
    struct postgrey_dump_item it;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    enum postgrey_kind kind = POSTGREY_UNKNOWN;
    long records = 0, sections = 0;
    long kinds[3] = {0, 0, 0};
    bool io_ok = true;
    for (;;) {
        enum postgrey_dump_event ev;
        n = getline(&line, &cap, f);
        if (n < 0) {
            io_ok = !ferror(f);
            ev = postgrey_dump_finish(d, &it);
        } else {
            size_t len = (size_t)n;
            if (len && line[len - 1] == '\n')
                len--;
            ev = postgrey_dump_line(d, line, len, &it);
        }
        if (ev == POSTGREY_DUMP_ERROR) {
            fprintf(stderr, "greyspf import-postgrey: %s:%u: %s\n", path, it.line, it.msg);
            r->sum.bad_lines++;
        } else if (ev == POSTGREY_DUMP_SECTION) {
            kind = POSTGREY_UNKNOWN;
            sections++;
        } else if (ev == POSTGREY_DUMP_RECORD && r->store_err == 0) {
            struct postgrey_record rec;
            char why[160];
            r->sum.read++;
            records++;
            enum postgrey_kind k = kind;
            if (k == POSTGREY_UNKNOWN) /* the section's first readable record tells */
                kind = k = postgrey_detect(it.key, it.key_len, it.val, it.val_len);
            int rc = postgrey_convert(r->p, r->o, k, it.key, it.key_len, it.val, it.val_len,
                                      r->now_s, &rec, why, sizeof(why));
            if (rc == POSTGREY_ERR_MALFORMED)
                fprintf(stderr, "greyspf import-postgrey: %s:%u: %s record: %s\n", path, it.line,
                        k == POSTGREY_CLIENTS    ? "client"
                        : k == POSTGREY_TRIPLETS ? "triplet"
                                                 : "unrecognised",
                        why);
            if (rc != 0) {
                r->sum.skipped[-rc]++;
                continue;
            }
            kinds[rec.kind]++;
            if (rec.rec.state == GREYLIST_STATE_PASSED)
                r->sum.passed++;
            else if (rec.rec.state == GREYLIST_STATE_PENDING)
                r->sum.pending++;
            else
                r->sum.awl++;
            if (r->kv && (r->store_err = postgrey_store(r->kv, &rec, r->now_s)) != 0)
                fprintf(stderr, "greyspf import-postgrey: writing the store failed: %s\n",
                        kv_strerror(r->store_err));
        }
        if (n < 0)
            break;
    }
    free(line);
    if (!io_ok)
        fprintf(stderr, "greyspf import-postgrey: %s: read error\n", path);
    printf("%s: %u lines, %ld sections, %ld records", path, postgrey_dump_lines(d), sections,
           records);
    if (kinds[POSTGREY_TRIPLETS] || kinds[POSTGREY_CLIENTS])
        printf(" (%s)", kinds[POSTGREY_TRIPLETS] && kinds[POSTGREY_CLIENTS] ? "triplets and clients"
                        : kinds[POSTGREY_TRIPLETS]
                            ? "postgrey.db: triplets"
                            : "postgrey_clients.db: auto-whitelisted clients");
    printf("\n");
    postgrey_dump_destroy(d);
    if (f != stdin)
        fclose(f);
    return io_ok;
}

/* chown_to_owner - when root ran the import, give what it created in the store directory
 * (flat: RocksDB makes no subdirectories) and the key file to state_dir's owner, the daemon's
 * user, who could not open them otherwise */
static void chown_to_owner(const char *state_dir, const char *store, const char *keyfile)
{
    struct stat st;
    if (geteuid() != 0 || stat(state_dir, &st) != 0 || st.st_uid == 0)
        return;
    DIR *dir = opendir(store);
    if (dir) {
        if (fchown(dirfd(dir), st.st_uid, st.st_gid) != 0)
            fprintf(stderr, "greyspf import-postgrey: chown %s: %s\n", store, strerror(errno));
        for (struct dirent *de; (de = readdir(dir));) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if (fchownat(dirfd(dir), de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
                fprintf(stderr, "greyspf import-postgrey: chown %s/%s: %s\n", store, de->d_name,
                        strerror(errno));
        }
        closedir(dir);
    }
    if (keyfile && access(keyfile, F_OK) == 0 && lchown(keyfile, st.st_uid, st.st_gid) != 0)
        fprintf(stderr, "greyspf import-postgrey: chown %s: %s\n", keyfile, strerror(errno));
}

/* parse_uint_opt - an option's decimal 0..max; false otherwise */
static bool parse_uint_opt(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

int postgrey_import_main(int argc, char **argv, int64_t now_s)
{
    enum { O_DELAY = 256, O_V4, O_V6, O_HOST };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"delay", required_argument, NULL, O_DELAY},
        {"ipv4cidr", required_argument, NULL, O_V4},
        {"ipv6cidr", required_argument, NULL, O_V6},
        {"lookup-by-host", no_argument, NULL, O_HOST},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = CONFIG_DEFAULT_PATH;
    bool dry = false;
    struct postgrey_opts po;
    postgrey_opts_defaults(&po);
    int ch;
    long v;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conf = optarg;
            break;
        case 'n':
            dry = true;
            break;
        case O_DELAY:
        case O_V4:
        case O_V6:
            if (!parse_uint_opt(optarg, ch == O_DELAY ? 86400L * 365 : ch == O_V4 ? 32 : 128, &v)) {
                fprintf(stderr, "greyspf import-postgrey: --%s %s: not a valid number\n",
                        ch == O_DELAY ? "delay"
                        : ch == O_V4  ? "ipv4cidr"
                                      : "ipv6cidr",
                        optarg);
                return 2;
            }
            if (ch == O_DELAY)
                po.delay_s = v;
            else if (ch == O_V4)
                po.ipv4cidr = (unsigned)v;
            else
                po.ipv6cidr = (unsigned)v;
            break;
        case O_HOST:
            po.lookup_by_host = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return 2;
    }
    struct config_error e;
    struct config *cfg = config_load(conf, &e);
    if (!cfg) {
        fprintf(stderr, "greyspf import-postgrey: %s\n", e.msg);
        return 2;
    }
    struct greylist_params p;
    stage_greylist_params(cfg, &p);
    uint8_t hkey[GREYLIST_HASH_KEY_LEN] = {0};
    char store[4200], keyfile[4200], msg[600];
    snprintf(store, sizeof(store), "%s/greylist", cfg->state_dir);
    snprintf(keyfile, sizeof(keyfile), "%s/greylist.key", cfg->state_dir);
    struct run r = {.p = &p, .o = &po, .now_s = now_s};
    int rc = 1;
    if (!dry) {
        int err = 0;
        /* one flush at the end; the daemon's disk guard */
        struct kv_rocksdb_options ko = {.sync = false,
                                        .min_free_bytes = cfg->greylist.min_free_disk};
        r.kv = kv_open_rocksdb(store, &ko, &err, msg, sizeof(msg));
        if (!r.kv) {
            if (err == KV_ERR_LOCKED)
                fprintf(stderr, "greyspf import-postgrey: %s is in use: stop greyspfd first\n",
                        store);
            else
                fprintf(stderr, "greyspf import-postgrey: %s\n", msg);
            goto out;
        }
    }
    if (cfg->greylist.hash_keys) { /* the daemon's key, created here if it has none yet */
        if (!dry && greylist_hash_key_load(cfg->state_dir, hkey, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "greyspf import-postgrey: hash_keys: %s\n", msg);
            goto out;
        }
        p.hash_key = hkey; /* dry run: a zero key; nothing is written */
    }
    bool ok = true;
    for (int i = optind; i < argc && r.store_err == 0; i++)
        ok &= import_file(&r, argv[i]);
    if (r.kv && r.store_err == 0 && kv_flush_wal(r.kv) != 0) {
        fprintf(stderr, "greyspf import-postgrey: flushing the store failed\n");
        r.store_err = KV_ERR_IO;
    }
    const struct summary *s = &r.sum;
    long skipped = 0;
    for (int i = 1; i < 5; i++)
        skipped += s->skipped[i];
    printf("read %ld records\n", s->read);
    printf("%s %ld: %ld passed triplets, %ld pending triplets, %ld auto-whitelisted clients\n",
           dry ? "would import" : "imported", s->passed + s->pending + s->awl, s->passed,
           s->pending, s->awl);
    printf("skipped %ld: %ld expired, %ld hashed (postgrey --privacy), %ld network narrower "
           "than postgrey's, %ld malformed\n",
           skipped, s->skipped[-POSTGREY_ERR_EXPIRED], s->skipped[-POSTGREY_ERR_HASHED],
           s->skipped[-POSTGREY_ERR_NETWORK], s->skipped[-POSTGREY_ERR_MALFORMED]);
    if (s->bad_lines)
        printf("malformed dump lines: %ld (see above)\n", s->bad_lines);
    if (s->skipped[-POSTGREY_ERR_NETWORK])
        printf("note: greyspf's [greylist] client_prefix_v4/_v6 is longer than postgrey's "
               "cidr: set it no longer to keep those records\n");
    if (dry)
        printf("dry run: nothing written\n");
    rc =
        ok && r.store_err == 0 && s->skipped[-POSTGREY_ERR_MALFORMED] == 0 && !s->bad_lines ? 0 : 1;
out:
    kv_close(r.kv);
    if (!dry)
        chown_to_owner(cfg->state_dir, store, cfg->greylist.hash_keys ? keyfile : NULL);
    config_free(cfg);
    return rc;
}
