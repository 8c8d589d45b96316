/* tests/unit/engine/test_postgrey_import.c - migration from postgrey: the db_dump parser
 * (print and bytevalue formats, escapes, headers, sections, every malformed shape and how the
 * parser recovers), record detection and conversion (postgrey 1.37's key and value formats,
 * older ones, --lookup-by-host, --privacy, network sizes, expiry, clock skew), merging into
 * the store, and the round trip that matters: after the import the daemon's own greylist_check
 * passes what postgrey had passed and finds the pending ones early. The command itself runs
 * once over a temp-dir RocksDB store (written, locked, dry run). Injected clock throughout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/greylist.h"
#include "engine/postgrey_import.h"
#include "kv/kv.h"
#include "tests/unit/kv/kv_test_util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define T0 1700000000
#define DAY 86400

static const struct greylist_params defaults = {
    .delay_s = 300,
    .retry_window_s = 2 * DAY,
    .max_age_s = 35 * DAY,
    .key_parts = GREYLIST_KEY_ALL,
    .prefix_v4 = 24,
    .prefix_v6 = 64,
    .key_by_spf_domain = true,
    .normalize_sender = true,
    .awl_after = 5,
    .hash_key = NULL,
};

/* render - bytes as text: printable ASCII but "\" as is, the rest as \xNN */
static void render(char *out, size_t cap, const uint8_t *b, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < cap; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            out[k++] = (char)b[i];
        else
            k += (size_t)snprintf(out + k, cap - k, "\\x%02x", b[i]);
    }
    out[k] = '\0';
}

/* emit - one event of trace */
static size_t emit(enum postgrey_dump_event ev, const struct postgrey_dump_item *it, char *out,
                   size_t cap)
{
    char kb[200], vb[200];
    switch (ev) {
    case POSTGREY_DUMP_SECTION:
        return (size_t)snprintf(out, cap, " S");
    case POSTGREY_DUMP_END:
        return (size_t)snprintf(out, cap, " E");
    case POSTGREY_DUMP_ERROR:
        if (!it->msg[0])
            fail_msg("an error without a message at line %u", it->line);
        return (size_t)snprintf(out, cap, " !%u", it->line);
    case POSTGREY_DUMP_RECORD:
        render(kb, sizeof(kb), it->key, it->key_len);
        render(vb, sizeof(vb), it->val, it->val_len);
        return (size_t)snprintf(out, cap, " R%u:%s=%s", it->line, kb, vb);
    case POSTGREY_DUMP_NONE:
        break;
    }
    return 0;
}

/* trace - feed text line by line, then finish; the events as "S", "R<line>:<key>=<val>",
 * "E", "!<line>" (errors) */
static void trace(const char *text, size_t len, char *out, size_t cap)
{
    struct postgrey_dump *d = postgrey_dump_create();
    struct postgrey_dump_item it;
    size_t k = 0;
    out[0] = '\0';
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - text) - off : len - off;
        k += emit(postgrey_dump_line(d, text + off, n, &it), &it, out + k, cap - k);
        off += n + 1;
    }
    k += emit(postgrey_dump_finish(d, &it), &it, out + k, cap - k);
    postgrey_dump_destroy(d);
}

#define HDR "VERSION=3\nformat=print\ntype=btree\ndb_pagesize=4096\nHEADER=END\n"
#define HDR_HEX "VERSION=3\nformat=bytevalue\ntype=btree\ndb_pagesize=4096\nHEADER=END\n"

static void test_dump_parser(void **state)
{
    (void)state;
    static const struct {
        const char *name, *text, *want;
    } cases[] = {
        {"print", HDR " k1\n v1\n k2\n v2\nDATA=END\n", " S R6:k1=v1 R8:k2=v2 E"},
        {"no final newline", HDR " k1\n v1\nDATA=END", " S R6:k1=v1 E"},
        {"escapes", HDR " a\\\\b c\n \\01\\ffz\n  lead\n v\nDATA=END\n",
         " S R6:a\\x5cb c=\\x01\\xffz R8: lead=v E"},
        {"upper-case hex escape", HDR " \\0A\n \\7e\nDATA=END\n", " S R6:\\x0a=~ E"},
        {"empty key and value", HDR " \n \nDATA=END\n", " S R6:= E"},
        {"bytevalue", HDR_HEX " 6b31\n 7631\n 4B\n \nDATA=END\n", " S R6:k1=v1 R8:K= E"},
        {"hash type", "VERSION=3\nformat=print\ntype=hash\nHEADER=END\n k\n v\nDATA=END\n",
         " S R5:k=v E"},
        {"two sections", HDR " k\n v\nDATA=END\n" HDR " x\n y\nDATA=END\n",
         " S R6:k=v E S R14:x=y E"},
        {"blank lines between sections", HDR "DATA=END\n\n\n" HDR " x\n y\nDATA=END\n",
         " S E S R14:x=y E"},
        {"CRLF",
         "VERSION=3\r\nformat=print\r\ntype=btree\r\nHEADER=END\r\n k\r\n v\r\n"
         "DATA=END\r\n",
         " S R5:k=v E"},
        {"bad escape in a key drops its pair", HDR " k\\zz\n v\n k2\n v2\nDATA=END\n",
         " S !6 R8:k2=v2 E"},
        {"escape cut short", HDR " k\\4\n v\nDATA=END\n", " S !6 E"},
        {"bad value", HDR " k\n v\\1\n k2\n v2\nDATA=END\n", " S !7 R8:k2=v2 E"},
        {"raw tab", HDR " k\tx\n v\n k2\n v2\nDATA=END\n", " S !6 R8:k2=v2 E"},
        {"raw 8-bit byte", HDR " k\n v\xc3\xa9\nDATA=END\n", " S !7 E"},
        {"odd hex digits", HDR_HEX " 6b3\n 76\nDATA=END\n", " S !6 E"},
        {"no leading space takes its slot", HDR "k\n v\n k2\n v2\nDATA=END\n", " S !6 R8:k2=v2 E"},
        {"key without value", HDR " k\nDATA=END\n", " S !7"},
        {"recno", "VERSION=3\nformat=print\ntype=recno\nHEADER=END\n v\nDATA=END\n", " !4 E"},
        {"unknown format", "VERSION=3\nformat=xml\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n",
         " !2 E"},
        {"no format", "VERSION=3\ntype=btree\nHEADER=END\n k\n v\nDATA=END\n", " !3 E"},
        {"no type", "VERSION=3\nformat=print\nHEADER=END\n k\n v\nDATA=END\n", " !3 E"},
        {"garbage header line",
         "VERSION=3\nhello\nformat=print\ntype=btree\nHEADER=END\n k\n"
         " v\nDATA=END\n" HDR " x\n y\nDATA=END\n",
         " !2 E S R14:x=y E"},
        {"data before HEADER=END", "VERSION=3\n k\nHEADER=END\nDATA=END\n", " !2 E"},
        {"data outside a section", " k\n v\n" HDR " x\n y\nDATA=END\n", " !1 !2 S R8:x=y E"},
        {"truncated data", HDR " k\n v\n k2\n", " S R6:k=v !8"},
        {"truncated header", "VERSION=3\nformat=print\n", " !2"},
        {"new section before DATA=END", HDR " k\n v\n" HDR " x\n y\nDATA=END\n",
         " S R6:k=v !8 S R13:x=y E"},
        {"empty input", "", ""},
    };
    char got[2048];
    for (size_t i = 0; i < N(cases); i++) {
        trace(cases[i].text, strlen(cases[i].text), got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, got, cases[i].want);
    }
}

static void test_dump_long_line(void **state)
{
    (void)state;
    size_t big = POSTGREY_DUMP_LINE_MAX + 10;
    size_t cap = strlen(HDR) + big + 64;
    char *text = malloc(cap);
    size_t k = (size_t)snprintf(text, cap, HDR " ");
    memset(text + k, 'a', big);
    k += big;
    k += (size_t)snprintf(text + k, cap - k, "\n v\n k2\n v2\nDATA=END\n");
    char got[256];
    trace(text, k, got, sizeof(got));
    if (strcmp(got, " S !6 R8:k2=v2 E") != 0)
        fail_msg("got \"%s\", want an error at line 6 and the next record", got);
    /* the longest allowed line is fine */
    k = (size_t)snprintf(text, cap, HDR " ");
    memset(text + k, 'b', POSTGREY_DUMP_LINE_MAX - 1);
    k += POSTGREY_DUMP_LINE_MAX - 1;
    k += (size_t)snprintf(text + k, cap - k, "\n v\nDATA=END\n");
    struct postgrey_dump *d = postgrey_dump_create();
    struct postgrey_dump_item it;
    int records = 0;
    for (size_t off = 0; off < k;) {
        const char *nl = memchr(text + off, '\n', k - off);
        size_t n = (size_t)(nl - text) - off;
        enum postgrey_dump_event ev = postgrey_dump_line(d, text + off, n, &it);
        assert_int_not_equal(ev, POSTGREY_DUMP_ERROR);
        if (ev == POSTGREY_DUMP_RECORD) {
            assert_int_equal(it.key_len, POSTGREY_DUMP_LINE_MAX - 1);
            records++;
        }
        off += n + 1;
    }
    assert_int_equal(records, 1);
    assert_int_equal(postgrey_dump_lines(d), 8);
    postgrey_dump_destroy(d);
    free(text);
}

/* plain - a key with "|" for NUL, as bytes into out; its length */
static size_t plain(const char *s, char *out)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] == '|' ? '\0' : s[i];
    return n;
}

static void test_convert(void **state)
{
    (void)state;
    enum {
        PENDING = GREYLIST_STATE_PENDING,
        PASSED = GREYLIST_STATE_PASSED,
        AWL = GREYLIST_STATE_AWL
    };
    static const struct {
        const char *name;
        enum postgrey_kind kind;
        const char *key, *val;
        unsigned prefix_v4; /* greyspf's; 0: 24 */
        bool by_host;       /* postgrey --lookup-by-host */
        int want;           /* 0 or POSTGREY_ERR_* */
        const char *gkey;   /* greyspf plain key, "|" for NUL */
        int state;
        int64_t first, last;
        uint32_t passes;
        int64_t expires;
    } cases[] = {
        {"passed", POSTGREY_TRIPLETS, "192.0.2.0/alice@example.org/bob@example.net",
         "1699990000,1699990400", 0, false, 0, "t/192.0.2.0/24|alice@example.org|bob@example.net",
         PASSED, 1699990000, 1699990400, 1, 1699990400 + 35 * DAY},
        {"passed at exactly the delay", POSTGREY_TRIPLETS, "192.0.2.0/a@example.org/b@example.net",
         "1699990000,1699990300", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net", PASSED,
         1699990000, 1699990300, 1, 1699990300 + 35 * DAY},
        {"pending", POSTGREY_TRIPLETS, "192.0.2.0/a@example.org/b@example.net",
         "1699999000,1699999100", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net",
         PENDING, 1699999000, 1699999100, 0, 1699999000 + 2 * DAY},
        {"pending past the retry window", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example",
         "1699000000,1699000100", 0, false, POSTGREY_ERR_EXPIRED, NULL, 0, 0, 0, 0, 0},
        {"passed past max_age", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example",
         "1690000000,1690000400", 0, false, POSTGREY_ERR_EXPIRED, NULL, 0, 0, 0, 0, 0},
        {"null sender", POSTGREY_TRIPLETS, "198.51.100.0//carol@example.net",
         "1699999000,1699999000", 0, false, 0, "t/198.51.100.0/24||carol@example.net", PENDING,
         1699999000, 1699999000, 0, 1699999000 + 2 * DAY},
        {"ipv6 uncompressed", POSTGREY_TRIPLETS,
         "2001:db8:1:2:0:0:0:0/dave@example.org/dave@example.net", "1699999000,1699999000", 0,
         false, 0, "t/2001:db8:1:2::/64|dave@example.org|dave@example.net", PENDING, 1699999000,
         1699999000, 0, 1699999000 + 2 * DAY},
        {"older postgrey's a.b.c", POSTGREY_TRIPLETS, "192.0.2/a@example.org/b@example.net",
         "1699990000,1699990400", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net", PASSED,
         1699990000, 1699990400, 1, 1699990400 + 35 * DAY},
        {"a host address", POSTGREY_TRIPLETS, "192.0.2.77/a@example.org/b@example.net",
         "1699990000,1699990400", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net", PASSED,
         1699990000, 1699990400, 1, 1699990400 + 35 * DAY},
        {"greyspf keys by host, postgrey by /24", POSTGREY_TRIPLETS,
         "192.0.2.0/a@example.org/b@example.net", "1699990000,1699990400", 32, false,
         POSTGREY_ERR_NETWORK, NULL, 0, 0, 0, 0, 0},
        {"both by host (seen in the address)", POSTGREY_TRIPLETS,
         "192.0.2.77/a@example.org/b@example.net", "1699990000,1699990400", 32, false, 0,
         "t/192.0.2.77/32|a@example.org|b@example.net", PASSED, 1699990000, 1699990400, 1,
         1699990400 + 35 * DAY},
        {"both by host (--lookup-by-host)", POSTGREY_TRIPLETS,
         "192.0.2.0/a@example.org/b@example.net", "1699990000,1699990400", 32, true, 0,
         "t/192.0.2.0/32|a@example.org|b@example.net", PASSED, 1699990000, 1699990400, 1,
         1699990400 + 35 * DAY},
        {"greyspf wider", POSTGREY_TRIPLETS, "192.0.2.0/a@example.org/b@example.net",
         "1699990000,1699990400", 16, false, 0, "t/192.0.0.0/16|a@example.org|b@example.net",
         PASSED, 1699990000, 1699990400, 1, 1699990400 + 35 * DAY},
        {"slash in the sender", POSTGREY_TRIPLETS, "192.0.2.0/we/ird@example.org/b@example.net",
         "1699990000,1699990400", 0, false, 0, "t/192.0.2.0/24|we/ird@example.org|b@example.net",
         PASSED, 1699990000, 1699990400, 1, 1699990400 + 35 * DAY},
        {"older value with a host", POSTGREY_TRIPLETS, "192.0.2.0/a@example.org/b@example.net",
         "1699990000,1699990400,mail.example.org", 0, false, 0,
         "t/192.0.2.0/24|a@example.org|b@example.net", PASSED, 1699990000, 1699990400, 1,
         1699990400 + 35 * DAY},
        {"postgrey's VERP '#' kept", POSTGREY_TRIPLETS,
         "192.0.2.0/bounce-#@example.org/b@example.net", "1699999000,1699999000", 0, false, 0,
         "t/192.0.2.0/24|bounce-#@example.org|b@example.net", PENDING, 1699999000, 1699999000, 0,
         1699999000 + 2 * DAY},
        {"times in the future are now", POSTGREY_TRIPLETS, "192.0.2.0/a@example.org/b@example.net",
         "1800000000,1800000000", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net",
         PENDING, T0, T0, 0, T0 + 2 * DAY},
        {"detected triplet", POSTGREY_UNKNOWN, "192.0.2.0/a@example.org/b@example.net",
         "1699999000,1699999000", 0, false, 0, "t/192.0.2.0/24|a@example.org|b@example.net",
         PENDING, 1699999000, 1699999000, 0, 1699999000 + 2 * DAY},
        {"client", POSTGREY_CLIENTS, "192.0.2.10", "7,1699999000", 0, false, 0, "a/192.0.2.0/24",
         AWL, 1699999000, 1699999000, 7, 1699999000 + 35 * DAY},
        {"client ipv6 upper case", POSTGREY_CLIENTS, "2001:DB8:0:0:0:0:0:1", "1,1699999000", 0,
         false, 0, "a/2001:db8::/64", AWL, 1699999000, 1699999000, 1, 1699999000 + 35 * DAY},
        {"client by host in greyspf", POSTGREY_CLIENTS, "192.0.2.10", "5,1699999000", 32, false, 0,
         "a/192.0.2.10/32", AWL, 1699999000, 1699999000, 5, 1699999000 + 35 * DAY},
        {"client count saturates", POSTGREY_CLIENTS, "192.0.2.10", "99999999999,1699999000", 0,
         false, 0, "a/192.0.2.0/24", AWL, 1699999000, 1699999000, UINT32_MAX,
         1699999000 + 35 * DAY},
        {"detected client", POSTGREY_UNKNOWN, "192.0.2.10", "7,1699999000", 0, false, 0,
         "a/192.0.2.0/24", AWL, 1699999000, 1699999000, 7, 1699999000 + 35 * DAY},
        {"client expired", POSTGREY_CLIENTS, "192.0.2.10", "7,1600000000", 0, false,
         POSTGREY_ERR_EXPIRED, NULL, 0, 0, 0, 0, 0},
        {"privacy triplet", POSTGREY_TRIPLETS, "da39a3ee5e6b4b0d3255bfef95601890afd80709",
         "1699990000,1699990400", 0, false, POSTGREY_ERR_HASHED, NULL, 0, 0, 0, 0, 0},
        {"privacy client", POSTGREY_UNKNOWN, "da39a3ee5e6b4b0d3255bfef95601890afd80709", "5,1", 0,
         false, POSTGREY_ERR_HASHED, NULL, 0, 0, 0, 0, 0},
        {"no comma", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example", "1699990000", 0, false,
         POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"letters", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example", "16999x,1699990000", 0,
         false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"negative", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example", "-1,1699990000", 0,
         false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"last before first", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example/b@x.example",
         "1699990400,1699990000", 0, false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"one slash", POSTGREY_TRIPLETS, "192.0.2.0/a@x.example", "1699990000,1699990400", 0, false,
         POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"client not an address", POSTGREY_TRIPLETS, "mail.example/a@x.example/b@x.example",
         "1699990000,1699990400", 0, false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"a triplet in the clients database", POSTGREY_CLIENTS, "192.0.2.0/a@x.example/b@x.example",
         "1,1699990400", 0, false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"client value with three fields", POSTGREY_CLIENTS, "192.0.2.10", "1,2,3", 0, false,
         POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
        {"empty key", POSTGREY_UNKNOWN, "", "1,2", 0, false, POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0,
         0, 0},
        {"nothing like postgrey", POSTGREY_UNKNOWN, "hello", "world", 0, false,
         POSTGREY_ERR_MALFORMED, NULL, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct greylist_params p = defaults;
        if (cases[i].prefix_v4)
            p.prefix_v4 = cases[i].prefix_v4;
        struct postgrey_opts o;
        postgrey_opts_defaults(&o);
        o.lookup_by_host = cases[i].by_host;
        struct postgrey_record r;
        char why[200] = "";
        int rc = postgrey_convert(&p, &o, cases[i].kind, (const uint8_t *)cases[i].key,
                                  strlen(cases[i].key), (const uint8_t *)cases[i].val,
                                  strlen(cases[i].val), T0, &r, why, sizeof(why));
        if (rc != cases[i].want)
            fail_msg("%s: got %d (%s: %s), want %d", cases[i].name, rc, postgrey_strerror(rc), why,
                     cases[i].want);
        if (rc != 0) {
            assert_true(why[0] != '\0');
            continue;
        }
        char want_key[GREYLIST_KEY_MAX], got[600], want[600];
        size_t wn = plain(cases[i].gkey, want_key);
        render(got, sizeof(got), (const uint8_t *)r.key, r.key_len);
        render(want, sizeof(want), (const uint8_t *)want_key, wn);
        if (strcmp(got, want) != 0)
            fail_msg("%s: got key %s, want %s", cases[i].name, got, want);
        if ((int)r.rec.state != cases[i].state || r.rec.first_seen_s != cases[i].first ||
            r.rec.last_seen_s != cases[i].last || r.rec.passes != cases[i].passes ||
            r.expires_s != cases[i].expires)
            fail_msg("%s: got state %d first %lld last %lld passes %u expires %lld, want %d %lld "
                     "%lld %u %lld",
                     cases[i].name, r.rec.state, (long long)r.rec.first_seen_s,
                     (long long)r.rec.last_seen_s, r.rec.passes, (long long)r.expires_s,
                     cases[i].state, (long long)cases[i].first, (long long)cases[i].last,
                     cases[i].passes, (long long)cases[i].expires);
        assert_int_equal(r.kind, cases[i].state == AWL ? POSTGREY_CLIENTS : POSTGREY_TRIPLETS);
    }
}

static void test_detect(void **state)
{
    (void)state;
    static const struct {
        const char *key, *val;
        enum postgrey_kind want;
    } cases[] = {
        {"192.0.2.0/a@example.org/b@example.net", "1,2", POSTGREY_TRIPLETS},
        {"192.0.2.0//b@example.net", "1,2,host", POSTGREY_TRIPLETS},
        {"2001:db8:0:0:0:0:0:0/a/b", "1,2", POSTGREY_TRIPLETS},
        {"192.0.2.10", "3,2", POSTGREY_CLIENTS},
        {"192.0.2", "3,2", POSTGREY_CLIENTS},
        {"::1", "3,2", POSTGREY_CLIENTS},
        {"192.0.2.10", "3,2,1", POSTGREY_UNKNOWN},
        {"192.0.2.0/a", "1,2", POSTGREY_UNKNOWN},
        {"x/a/b", "1,2", POSTGREY_UNKNOWN},
        {"192.0.2.0/a/b", "1;2", POSTGREY_UNKNOWN},
        {"da39a3ee5e6b4b0d3255bfef95601890afd80709", "1,2", POSTGREY_UNKNOWN},
    };
    for (size_t i = 0; i < N(cases); i++) {
        enum postgrey_kind got =
            postgrey_detect((const uint8_t *)cases[i].key, strlen(cases[i].key),
                            (const uint8_t *)cases[i].val, strlen(cases[i].val));
        if (got != cases[i].want)
            fail_msg("%s = %s: got kind %d, want %d", cases[i].key, cases[i].val, got,
                     cases[i].want);
    }
}

/* import - convert and store one record; fails unless both succeed */
static void import(struct kv *kv, const struct greylist_params *p, enum postgrey_kind kind,
                   const char *key, const char *val, int64_t now)
{
    struct postgrey_opts o;
    postgrey_opts_defaults(&o);
    struct postgrey_record r;
    char why[200];
    int rc = postgrey_convert(p, &o, kind, (const uint8_t *)key, strlen(key), (const uint8_t *)val,
                              strlen(val), now, &r, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s: got %s (%s), want 0", key, postgrey_strerror(rc), why);
    assert_int_equal(postgrey_store(kv, &r, now), 0);
}

/* check - the daemon's verdict for one request at now; left_s into *left (may be NULL) */
static enum greylist_verdict check(struct kv *kv, const struct greylist_params *p,
                                   const char *client, const char *sender, const char *rcpt,
                                   int64_t now, int64_t *left)
{
    struct ip_addr a;
    assert_true(ip_parse(client, strlen(client), &a));
    struct greylist_input in = {.client = &a,
                                .sender = sender,
                                .sender_len = strlen(sender),
                                .recipient = rcpt,
                                .recipient_len = strlen(rcpt)};
    struct greylist_result r;
    assert_int_equal(greylist_check(kv, p, &in, now, &r), 0);
    if (left)
        *left = r.left_s;
    return r.verdict;
}

static const uint8_t hkey[GREYLIST_HASH_KEY_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

static void test_daemon_sees_the_import(void **state)
{
    (void)state;
    for (int hashed = 0; hashed < 2; hashed++) {
        struct greylist_params p = defaults;
        p.hash_key = hashed ? hkey : NULL;
        struct kv *kv = kv_open_memory();
        int64_t now = T0;
        /* postgrey passed alice an hour ago; saw bob's first attempt 100 s ago; carol's
         * network was auto-whitelisted (5 passes) */
        import(kv, &p, POSTGREY_TRIPLETS, "192.0.2.0/alice+x@example.org/bob@example.net",
               "1699996000,1699996400", now);
        import(kv, &p, POSTGREY_TRIPLETS, "192.0.2.0/bob@example.org/bob@example.net",
               "1699999900,1699999900", now);
        import(kv, &p, POSTGREY_CLIENTS, "198.51.100.9", "5,1699999000", now);
        import(kv, &p, POSTGREY_TRIPLETS, "2001:db8:1:2:0:0:0:0//dave@example.net",
               "1699996000,1699996400", now);
        int64_t left = 0;
        /* what the daemon would send after the switch */
        assert_int_equal(
            check(kv, &p, "192.0.2.33", "alice+y@Example.org", "bob@example.net", now, NULL),
            GREYLIST_KNOWN);
        assert_int_equal(
            check(kv, &p, "192.0.2.33", "bob@example.org", "bob@example.net", now, &left),
            GREYLIST_EARLY);
        assert_int_equal(left, 200);
        assert_int_equal(
            check(kv, &p, "198.51.100.200", "new@example.com", "x@example.net", now, NULL),
            GREYLIST_AWL);
        assert_int_equal(check(kv, &p, "2001:db8:1:2::77", "", "dave@example.net", now, NULL),
                         GREYLIST_KNOWN);
        assert_int_equal(
            check(kv, &p, "192.0.2.33", "new@example.org", "bob@example.net", now, &left),
            GREYLIST_NEW);
        assert_int_equal(left, 300);
        kv_close(kv);
    }
}

static void test_merge(void **state)
{
    (void)state;
    struct kv *kv = kv_open_memory();
    const char *k = "192.0.2.0/a@example.org/b@example.net";
    /* pending, then the same triplet passed (a second postgrey, or a later dump) */
    import(kv, &defaults, POSTGREY_TRIPLETS, k, "1699999000,1699999100", T0);
    import(kv, &defaults, POSTGREY_TRIPLETS, k, "1699990000,1699990400", T0);
    /* and the pending one again: passed stays */
    import(kv, &defaults, POSTGREY_TRIPLETS, k, "1699999000,1699999100", T0);
    char key[GREYLIST_KEY_MAX];
    size_t kn = plain("t/192.0.2.0/24|a@example.org|b@example.net", key);
    uint8_t v[GREYLIST_RECORD_SIZE];
    size_t vlen;
    int64_t exp;
    assert_int_equal(kv_get(kv, key, kn, T0, v, sizeof(v), &vlen, &exp), 0);
    struct greylist_record r;
    assert_int_equal(greylist_record_decode(v, vlen, &r), 0);
    assert_int_equal(r.state, GREYLIST_STATE_PASSED);
    assert_int_equal(r.first_seen_s, 1699990000);
    assert_int_equal(r.last_seen_s, 1699999100);
    assert_int_equal(r.passes, 1);
    assert_int_equal(exp, 1699990400 + 35 * DAY);
    /* two addresses of one network: the AWL record keeps the larger count */
    import(kv, &defaults, POSTGREY_CLIENTS, "192.0.2.10", "3,1699999000", T0);
    import(kv, &defaults, POSTGREY_CLIENTS, "192.0.2.11", "2,1699999500", T0);
    kn = plain("a/192.0.2.0/24", key);
    assert_int_equal(kv_get(kv, key, kn, T0, v, sizeof(v), &vlen, &exp), 0);
    assert_int_equal(greylist_record_decode(v, vlen, &r), 0);
    assert_int_equal(r.state, GREYLIST_STATE_AWL);
    assert_int_equal(r.passes, 3);
    assert_int_equal(r.first_seen_s, 1699999000);
    assert_int_equal(r.last_seen_s, 1699999500);
    assert_int_equal(exp, 1699999500 + 35 * DAY);
    kv_close(kv);
}

/* write_file - path's whole content */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* run_main - postgrey_import_main with the given arguments at T0 */
static int run_main(int argc, const char **args)
{
    char *argv[16];
    for (int i = 0; i < argc; i++)
        argv[i] = (char *)args[i];
    argv[argc] = NULL;
    fflush(stdout);
    return postgrey_import_main(argc, argv, T0);
}

static void test_command(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], conf[256], dump[256], bad[256], store[256];
    kv_test_mkdtemp(dir);
    snprintf(conf, sizeof(conf), "%s/greyspf.conf", dir);
    snprintf(dump, sizeof(dump), "%s/postgrey.dump", dir);
    snprintf(bad, sizeof(bad), "%s/bad.dump", dir);
    snprintf(store, sizeof(store), "%s/greylist", dir);
    char text[512];
    snprintf(text, sizeof(text), "[server]\nstate_dir = %s\n[greylist]\nenabled = yes\n", dir);
    write_file(conf, text);
    long long now = T0;
    snprintf(text, sizeof(text),
             HDR " 192.0.2.0/alice@example.org/bob@example.net\n %lld,%lld\n"
                 " 192.0.2.0/carol@example.org/bob@example.net\n %lld,%lld\nDATA=END\n",
             now - 3600, now - 3000, now - 10, now - 10);
    write_file(dump, text);
    write_file(bad, HDR " 192.0.2.0/x@example.org/y@example.net\n oops\n k\\zz\n v\n"
                        " 198.51.100.7\n 5,9999999999\nDATA=END\n");
    /* a dry run writes nothing */
    const char *dry[] = {"import-postgrey", "-c", conf, "--dry-run", dump};
    assert_int_equal(run_main(5, dry), 0);
    struct stat st;
    assert_int_not_equal(stat(store, &st), 0);
    /* usage errors */
    const char *none[] = {"import-postgrey", "-c", conf};
    assert_int_equal(run_main(3, none), 2);
    const char *badopt[] = {"import-postgrey", "-c", conf, "--ipv4cidr", "33", dump};
    assert_int_equal(run_main(6, badopt), 2);
    /* the import; a malformed file makes the exit status 1 but its good record counts */
    const char *args[] = {"import-postgrey", "-c", conf, dump, bad};
    assert_int_equal(run_main(5, args), 1);
    const char *good[] = {"import-postgrey", "-c", conf, dump};
    assert_int_equal(run_main(4, good), 0);
    /* while the store is open elsewhere: refused */
    struct kv *kv = kv_open_rocksdb(store, NULL, NULL, NULL, 0);
    assert_non_null(kv);
    assert_int_equal(run_main(4, good), 1);
    int64_t t = (int64_t)now;
    struct greylist_params p = defaults;
    assert_int_equal(check(kv, &p, "192.0.2.1", "alice@example.org", "bob@example.net", t, NULL),
                     GREYLIST_KNOWN);
    int64_t left;
    assert_int_equal(check(kv, &p, "192.0.2.1", "carol@example.org", "bob@example.net", t, &left),
                     GREYLIST_EARLY);
    assert_int_equal(left, 290);
    assert_int_equal(check(kv, &p, "198.51.100.8", "z@example.org", "q@example.net", t, NULL),
                     GREYLIST_AWL);
    kv_close(kv);
    kv_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_parser),
        cmocka_unit_test(test_dump_long_line),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_daemon_sees_the_import),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_command),
    };
    return cmocka_run_group_tests(tests, NULL, kv_test_cleanup);
}
