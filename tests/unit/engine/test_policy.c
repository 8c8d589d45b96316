/* tests/unit/engine/test_policy.c - the policy request framer and parser.
 * Tables of named cases; every mismatch is printed as "case: what: got X, want Y" and the test
 * fails at the end, so one run shows all of them. Framing cases run on the whole input and
 * again fed in pieces through the resume offset (each prefix in an exact-size copy, so ASan
 * sees any read past it); both must give the same answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"

/* S - a literal as pointer + length, so cases may hold NUL bytes */
#define S(lit) lit, sizeof(lit) - 1
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define REQ "request=smtpd_access_policy\n"

static const struct policy_limits defaults = {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS,
                                              POLICY_DEFAULT_MAX_REQUEST};

/* ---- mismatch reporting ---- */

/* err_name - "-1 (line too long)" style text for a frame/parse result */
static const char *err_name(char *buf, size_t size, long long v)
{
    if (v > 0)
        snprintf(buf, size, "%lld", v);
    else
        snprintf(buf, size, "%lld (%s)", v, policy_strerror((int)v));
    return buf;
}

static void expect_err(int *bad, const char *cname, const char *what, long long got, long long want)
{
    if (got == want)
        return;
    char g[64], w[64];
    print_error("%s: %s: got %s, want %s\n", cname, what, err_name(g, sizeof(g), got),
                err_name(w, sizeof(w), want));
    (*bad)++;
}

static void expect_u64(int *bad, const char *cname, const char *what, unsigned long long got,
                       unsigned long long want)
{
    if (got == want)
        return;
    print_error("%s: %s: got %llu, want %llu\n", cname, what, got, want);
    (*bad)++;
}

static void expect_str(int *bad, const char *cname, const char *what, const char *got,
                       const char *want)
{
    if (strcmp(got, want) == 0)
        return;
    print_error("%s: %s: got \"%s\", want \"%s\"\n", cname, what, got, want);
    (*bad)++;
}

/* ---- an independent name -> field table, to cross-check the parser's own ---- */

struct field {
    const char *name;
    enum policy_attr attr;
    size_t off;
    bool is_num;
};
/* clang-format off */
#define F_STR(n, A) {#n, POLICY_ATTR_##A, offsetof(struct policy_request, n), false}
#define F_NUM(n, A) {#n, POLICY_ATTR_##A, offsetof(struct policy_request, n), true}
/* clang-format on */
static const struct field fields[] = {
    F_STR(request, REQUEST),
    F_STR(protocol_state, PROTOCOL_STATE),
    F_STR(protocol_name, PROTOCOL_NAME),
    F_STR(client_address, CLIENT_ADDRESS),
    F_STR(client_name, CLIENT_NAME),
    F_STR(client_port, CLIENT_PORT),
    F_STR(reverse_client_name, REVERSE_CLIENT_NAME),
    F_STR(server_address, SERVER_ADDRESS),
    F_STR(server_port, SERVER_PORT),
    F_STR(helo_name, HELO_NAME),
    F_STR(sender, SENDER),
    F_STR(recipient, RECIPIENT),
    F_NUM(recipient_count, RECIPIENT_COUNT),
    F_STR(queue_id, QUEUE_ID),
    F_STR(instance, INSTANCE),
    F_NUM(size, SIZE),
    F_STR(etrn_domain, ETRN_DOMAIN),
    F_STR(stress, STRESS),
    F_STR(sasl_method, SASL_METHOD),
    F_STR(sasl_username, SASL_USERNAME),
    F_STR(sasl_sender, SASL_SENDER),
    F_STR(ccert_subject, CCERT_SUBJECT),
    F_STR(ccert_issuer, CCERT_ISSUER),
    F_STR(ccert_fingerprint, CCERT_FINGERPRINT),
    F_STR(ccert_pubkey_fingerprint, CCERT_PUBKEY_FINGERPRINT),
    F_STR(encryption_protocol, ENCRYPTION_PROTOCOL),
    F_STR(encryption_cipher, ENCRYPTION_CIPHER),
    F_NUM(encryption_keysize, ENCRYPTION_KEYSIZE),
    F_STR(policy_context, POLICY_CONTEXT),
    F_STR(compatibility_level, COMPATIBILITY_LEVEL),
    F_STR(mail_version, MAIL_VERSION),
    F_STR(tls_sni, TLS_SNI),
};

static const struct field *field_by_attr(enum policy_attr attr)
{
    for (size_t i = 0; i < N_ELEMS(fields); i++)
        if (fields[i].attr == attr)
            return &fields[i];
    fail_msg("no field for attribute %d", (int)attr);
    return NULL;
}

static const struct policy_str *str_field(const struct policy_request *r, const struct field *f)
{
    return (const struct policy_str *)((const char *)r + f->off);
}

static uint64_t num_field(const struct policy_request *r, const struct field *f)
{
    return *(const uint64_t *)((const char *)r + f->off);
}

/* check_value - attribute attr was sent with value want (a number's decimal text) */
static void check_value(int *bad, const char *cname, const struct policy_request *r,
                        enum policy_attr attr, const char *want)
{
    const struct field *f = field_by_attr(attr);
    char what[96];
    snprintf(what, sizeof(what), "%s present", f->name);
    expect_u64(bad, cname, what, policy_has(r, attr), 1);
    if (f->is_num) {
        expect_u64(bad, cname, f->name, num_field(r, f), strtoull(want, NULL, 10));
        return;
    }
    const struct policy_str *s = str_field(r, f);
    expect_str(bad, cname, f->name, s->p, want);
    snprintf(what, sizeof(what), "%s len", f->name);
    expect_u64(bad, cname, what, s->len, strlen(want));
    snprintf(what, sizeof(what), "%s strlen", f->name);
    expect_u64(bad, cname, what, strlen(s->p), s->len);
}

/* check_absent - attribute attr was not sent: "" / 0 and its bit clear */
static void check_absent(int *bad, const char *cname, const struct policy_request *r,
                         enum policy_attr attr)
{
    const struct field *f = field_by_attr(attr);
    char what[96];
    snprintf(what, sizeof(what), "%s present", f->name);
    expect_u64(bad, cname, what, policy_has(r, attr), 0);
    if (f->is_num) {
        expect_u64(bad, cname, f->name, num_field(r, f), 0);
        return;
    }
    const struct policy_str *s = str_field(r, f);
    if (s->p == NULL) {
        print_error("%s: %s: got NULL, want \"\"\n", cname, f->name);
        (*bad)++;
        return;
    }
    expect_str(bad, cname, f->name, s->p, "");
    snprintf(what, sizeof(what), "%s len", f->name);
    expect_u64(bad, cname, what, s->len, 0);
}

/* ---- framing helpers ---- */

/* frame_pieces - policy_frame fed in `step`-byte pieces, each prefix in an exact-size copy,
 * the resume offset carried along. Checks the offset on every "need more" answer. */
static ssize_t frame_pieces(int *bad, const char *cname, const char *in, size_t len,
                            const struct policy_limits *lim, size_t step)
{
    size_t scan = 0;
    ssize_t r = 0;
    for (size_t k = 0; k < len;) {
        k = len - k > step ? k + step : len;
        char *copy = malloc(k);
        assert_non_null(copy);
        memcpy(copy, in, k);
        r = policy_frame(copy, k, &scan, lim);
        free(copy);
        if (r != 0)
            return r;
        if (scan > k || (scan > 0 && in[scan - 1] != '\n')) {
            print_error("%s: resume offset after %zu bytes: got %zu, want a line start\n", cname, k,
                        scan);
            (*bad)++;
        }
    }
    return r;
}

/* frame_whole - policy_frame over an exact-size copy of in */
static ssize_t frame_whole(const char *in, size_t len, const struct policy_limits *lim)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, in, len);
    size_t scan = 0;
    ssize_t r = policy_frame(copy, len, &scan, lim);
    free(copy);
    return r;
}

/* check_frame - whole, byte by byte (or in pieces for big inputs), same answer wanted */
static void check_frame(int *bad, const char *cname, const char *in, size_t len,
                        const struct policy_limits *lim, ssize_t want)
{
    expect_err(bad, cname, "frame whole", frame_whole(in, len, lim), want);
    size_t step = len <= 4096 ? 1 : 997;
    expect_err(bad, cname, "frame in pieces", frame_pieces(bad, cname, in, len, lim, step), want);
}

/* ---- a full Postfix 3.7.11 request ---- */

struct attr_kv {
    const char *name, *value;
};

/* request + 28 attributes in the order Postfix 3.7.11 sends them; a RCPT-time request */
static const struct attr_kv postfix_rcpt[] = {
    {"request", "smtpd_access_policy"},
    {"protocol_state", "RCPT"},
    {"protocol_name", "ESMTP"},
    {"client_address", "192.0.2.10"},
    {"client_name", "mail.example.com"},
    {"client_port", "41234"},
    {"reverse_client_name", "mail.example.com"},
    {"server_address", "198.51.100.25"},
    {"server_port", "25"},
    {"helo_name", "mail.example.com"},
    {"sender", "alice@example.com"},
    {"recipient", "bob@example.net"},
    {"recipient_count", "0"},
    {"queue_id", ""},
    {"instance", "2b1e.6650c1d2.3e4f5.0"},
    {"size", "0"},
    {"etrn_domain", ""},
    {"stress", ""},
    {"sasl_method", ""},
    {"sasl_username", ""},
    {"sasl_sender", ""},
    {"ccert_subject", ""},
    {"ccert_issuer", ""},
    {"ccert_fingerprint", ""},
    {"ccert_pubkey_fingerprint", ""},
    {"encryption_protocol", "TLSv1.3"},
    {"encryption_cipher", "TLS_AES_256_GCM_SHA384"},
    {"encryption_keysize", "256"},
    {"policy_context", ""},
};
/* "request" and the 28 that follow it */
#define N_POSTFIX_37 N_ELEMS(postfix_rcpt)
_Static_assert(N_ELEMS(postfix_rcpt) == 29, "request + 28 attributes");

/* the same 28 names, every value distinct and non-empty, so a swapped field shows */
static const struct attr_kv postfix_all_set[] = {
    {"request", "smtpd_access_policy"},
    {"protocol_state", "END-OF-MESSAGE"},
    {"protocol_name", "ESMTPSA"},
    {"client_address", "2001:db8::25"},
    {"client_name", "unknown"},
    {"client_port", "50123"},
    {"reverse_client_name", "rev.example.org"},
    {"server_address", "2001:db8::1"},
    {"server_port", "587"},
    {"helo_name", "[192.0.2.77]"},
    {"sender", "carol@example.org"},
    {"recipient", "dave@example.net"},
    {"recipient_count", "3"},
    {"queue_id", "4VxYz1234Q"},
    {"instance", "7c3.6650c1d2.9a8b7.1"},
    {"size", "123456"},
    {"etrn_domain", "etrn.example.net"},
    {"stress", "yes"},
    {"sasl_method", "PLAIN"},
    {"sasl_username", "carol"},
    {"sasl_sender", "carol@sasl.example.org"},
    {"ccert_subject", "CN=mx.example.org"},
    {"ccert_issuer", "Example+20CA"},
    {"ccert_fingerprint", "AB:CD:EF:01:23"},
    {"ccert_pubkey_fingerprint", "01:23:45:67:89"},
    {"encryption_protocol", "TLSv1.2"},
    {"encryption_cipher", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"encryption_keysize", "128"},
    {"policy_context", "submission"},
};
_Static_assert(N_ELEMS(postfix_all_set) == N_POSTFIX_37, "same attributes");

/* build_request - "name=value\n"... then the blank line; caller frees */
static char *build_request(const struct attr_kv *kv, size_t n, size_t *len)
{
    size_t size = 2;
    for (size_t i = 0; i < n; i++)
        size += strlen(kv[i].name) + strlen(kv[i].value) + 2;
    char *s = malloc(size);
    assert_non_null(s);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%s=%s\n", kv[i].name, kv[i].value);
    s[o++] = '\n';
    s[o] = '\0';
    *len = o;
    return s;
}

/* check_full - every one of the 28 fields as sent, the 3.8 fields absent */
static void check_full(int *bad, const char *cname, const struct policy_request *r,
                       const struct attr_kv *kv, size_t n)
{
    uint64_t want_present = 0;
    for (size_t i = 0; i < n; i++) {
        const struct field *f = NULL;
        for (size_t j = 0; j < N_ELEMS(fields); j++)
            if (strcmp(fields[j].name, kv[i].name) == 0)
                f = &fields[j];
        assert_non_null(f);
        check_value(bad, cname, r, f->attr, kv[i].value);
        want_present |= (uint64_t)1 << f->attr;
    }
    check_absent(bad, cname, r, POLICY_ATTR_COMPATIBILITY_LEVEL);
    check_absent(bad, cname, r, POLICY_ATTR_MAIL_VERSION);
    check_absent(bad, cname, r, POLICY_ATTR_TLS_SNI);
    expect_u64(bad, cname, "present", r->present, want_present);
    expect_u64(bad, cname, "n_attrs", r->n_attrs, n);
    expect_u64(bad, cname, "unknown", r->unknown, 0);
    expect_u64(bad, cname, "repeated", r->repeated, 0);
}

static void test_full_postfix_37_request(void **state)
{
    (void)state;
    struct {
        const char *name;
        const struct attr_kv *kv;
        enum policy_state want_state;
        bool want_stress;
        uint64_t want_count, want_size, want_keysize;
    } cases[] = {
        {"rcpt request", postfix_rcpt, POLICY_STATE_RCPT, false, 0, 0, 256},
        {"all values set", postfix_all_set, POLICY_STATE_END_OF_MESSAGE, true, 3, 123456, 128},
    };
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            char cname[96];
            snprintf(cname, sizeof(cname), "%s%s", cases[i].name, bytewise ? " (bytewise)" : "");
            size_t len;
            char *in = build_request(cases[i].kv, N_POSTFIX_37, &len);
            ssize_t fl = bytewise ? frame_pieces(&bad, cname, in, len, &defaults, 1)
                                  : frame_whole(in, len, &defaults);
            expect_err(&bad, cname, "frame", fl, (long long)len);
            struct arena a;
            arena_init(&a, NULL, 0);
            struct policy_request r;
            struct policy_parse_error perr;
            int rc = policy_parse(in, len, &defaults, &a, &r, &perr);
            expect_err(&bad, cname, "parse", rc, POLICY_OK);
            memset(in, 'X', len); /* the values are copies: the input may go away */
            free(in);
            if (rc == POLICY_OK) {
                check_full(&bad, cname, &r, cases[i].kv, N_POSTFIX_37);
                expect_u64(&bad, cname, "state", r.state, cases[i].want_state);
                expect_u64(&bad, cname, "is_stress", r.is_stress, cases[i].want_stress);
                expect_u64(&bad, cname, "recipient_count", r.recipient_count, cases[i].want_count);
                expect_u64(&bad, cname, "size", r.size, cases[i].want_size);
                expect_u64(&bad, cname, "encryption_keysize", r.encryption_keysize,
                           cases[i].want_keysize);
            }
            arena_fini(&a);
        }
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* ---- framing: table ---- */

/* clang-format off */
#define SMALL {8, 3, 64}      /* max_line 8, max_attrs 3 */
#define TINY_REQ {64, 64, 16} /* max_request 16 */
#define DEF {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS, POLICY_DEFAULT_MAX_REQUEST}
/* clang-format on */

struct frame_case {
    const char *name;
    const char *in;
    size_t len;
    struct policy_limits lim;
    ssize_t want;
};

/* clang-format off */
static const struct frame_case frame_cases[] = {
    /* shape */
    {"complete", S("a=b\n\n"), DEF, 5},
    {"empty input", S(""), DEF, 0},
    {"partial line", S("a=b"), DEF, 0},
    {"missing blank line", S("a=b\nc=d\n"), DEF, 0},
    {"blank line only", S("\n"), DEF, 1},
    {"crlf blank line only", S("\r\n"), DEF, 2},
    {"crlf lines", S("a=b\r\nc=d\r\n\r\n"), DEF, 12},
    {"lf lines, crlf blank line", S("a=b\n\r\n"), DEF, 6},
    {"lone cr after a line", S("a=b\n\r"), DEF, 0},
    {"cr cr lf is an attribute line", S("a=b\n\r\r\n"), DEF, 0},
    {"cr cr lf then blank", S("a=b\n\r\r\n\n"), DEF, 8},
    {"line without equals", S("junk\n\n"), DEF, 6},
    {"second request not included", S("a=b\n\nc=d\n\n"), DEF, 5},
    /* line length, max_line 8 (terminators not counted) */
    {"line at max", S("12345678\n\n"), SMALL, 10},
    {"line at max with crlf", S("12345678\r\n\r\n"), SMALL, 12},
    {"line one past", S("123456789\n\n"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    {"partial line at max", S("12345678"), SMALL, 0},
    {"partial line at max plus cr", S("12345678\r"), SMALL, 0},
    {"partial line one past", S("123456789"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    {"partial line at max, cr, byte", S("12345678\rx"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    {"line at max, cr cr lf", S("12345678\r\r\n\n"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    {"second line one past", S("a=1\n123456789"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    /* attribute count, max_attrs 3 */
    {"attrs at max", S("a=1\nb=2\nc=3\n\n"), SMALL, 13},
    {"attrs at max, crlf blank", S("a=1\nb=2\nc=3\n\r\n"), SMALL, 14},
    {"attrs one past", S("a=1\nb=2\nc=3\nd=4\n\n"), SMALL, POLICY_ERR_TOO_MANY_ATTRS},
    {"attrs one past partial", S("a=1\nb=2\nc=3\nd"), SMALL, POLICY_ERR_TOO_MANY_ATTRS},
    {"attrs lone cr still open", S("a=1\nb=2\nc=3\n\r"), SMALL, 0},
    {"attrs cr then byte", S("a=1\nb=2\nc=3\n\rx"), SMALL, POLICY_ERR_TOO_MANY_ATTRS},
    {"attrs cr cr", S("a=1\nb=2\nc=3\n\r\r"), SMALL, POLICY_ERR_TOO_MANY_ATTRS},
    /* request size, max_request 16 (terminators counted) */
    {"size at max", S("a=123456789012\n\n"), TINY_REQ, 16},
    {"size one past", S("a=1234567890123\n\n"), TINY_REQ, POLICY_ERR_TOO_LARGE},
    {"size partial fits", S("a=123456789012"), TINY_REQ, 0},
    {"size partial needs one past", S("a=1234567890123"), TINY_REQ, POLICY_ERR_TOO_LARGE},
    {"size lf fits", S("a=123456789012\n"), TINY_REQ, 0},
    {"size lf needs one past", S("a=1234567890123\n"), TINY_REQ, POLICY_ERR_TOO_LARGE},
    {"size crlf blank at max", S("a=12345678901\n\r\n"), TINY_REQ, 16},
    {"size lone cr fits", S("a=12345678901\n\r"), TINY_REQ, 0},
    {"size lone cr needs one past", S("a=123456789012\n\r"), TINY_REQ, POLICY_ERR_TOO_LARGE},
    {"size zero limit", S("\n"), {8, 3, 0}, POLICY_ERR_TOO_LARGE},
    {"size zero limit, no data", S(""), {8, 3, 0}, 0},
    {"zero attrs allowed, blank", S("\n"), {8, 0, 16}, 1},
    {"zero attrs allowed, attr", S("a"), {8, 0, 16}, POLICY_ERR_TOO_MANY_ATTRS},
    /* NUL */
    {"nul in name", S("a\0=b\n\n"), DEF, POLICY_ERR_NUL},
    {"nul in value", S("a=b\0c\n\n"), DEF, POLICY_ERR_NUL},
    {"nul in partial line", S("a=b\0"), DEF, POLICY_ERR_NUL},
    {"nul as a line", S("a=b\n\0\n\n"), DEF, POLICY_ERR_NUL},
    {"nul in second line", S("a=b\nc\0"), DEF, POLICY_ERR_NUL},
    {"nul after the frame is not ours", S("a=b\n\n\0"), DEF, 5},
    /* several limits at once: the earliest byte wins, NUL first at the same byte */
    {"too long before nul", S("123456789\0"), SMALL, POLICY_ERR_LINE_TOO_LONG},
    {"nul at the too-long byte", S("12345678\0"), SMALL, POLICY_ERR_NUL},
    {"nul before too long", S("1234\0" "56789"), SMALL, POLICY_ERR_NUL},
    {"too long and too many at once", S("a\nb\nc\nd"), {0, 0, 64}, POLICY_ERR_LINE_TOO_LONG},
};
/* clang-format on */

static void test_frame_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(frame_cases); i++) {
        const struct frame_case *c = &frame_cases[i];
        check_frame(&bad, c->name, c->in, c->len, &c->lim, c->want);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* ---- framing: the default limits, exactly at and one past each edge ---- */

/* make_request - a request of exactly `total` bytes (or, with blank false, the same minus its
 * blank line) built from lines of `line` content bytes ("a=vvv..."), the last one shorter;
 * caller frees */
static char *make_request(size_t total, size_t line, bool blank, size_t *len)
{
    char *s = malloc(total + 1);
    assert_non_null(s);
    size_t o = 0, room = total - 1; /* the blank line */
    while (room > 0) {
        size_t n = room - 1 < line ? room - 1 : line; /* content; + LF */
        assert_true(n >= 2);
        if (room - (n + 1) > 0 && room - (n + 1) < 3) /* leave no stub shorter than "a=\n" */
            n -= 3;
        s[o] = 'a';
        s[o + 1] = '=';
        memset(s + o + 2, 'v', n - 2);
        s[o + n] = '\n';
        o += n + 1;
        room -= n + 1;
    }
    if (blank)
        s[o++] = '\n';
    *len = o;
    return s;
}

/* make_lines - n "k=v\n" lines, then the blank line if blank; caller frees */
static char *make_lines(size_t n, bool blank, size_t *len)
{
    char *s = malloc(4 * n + 2);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 4 * i, "k=v\n", 4);
    *len = 4 * n;
    if (blank)
        s[(*len)++] = '\n';
    return s;
}

static void test_frame_default_limits(void **state)
{
    (void)state;
    const size_t max_line = POLICY_DEFAULT_MAX_LINE, max_req = POLICY_DEFAULT_MAX_REQUEST;
    int bad = 0;
    struct gen_case {
        const char *name;
        char *in;
        size_t len;
        ssize_t want;
    } cases[16];
    size_t n = 0, len;
    char *s;

    /* line length: "a=" + value, then LF and the blank line */
    s = make_request(max_line + 2, max_line, true, &len);
    cases[n++] = (struct gen_case){"default line at max", s, len, (ssize_t)len};
    s = malloc(max_line + 3);
    memset(s, 'v', max_line + 1);
    memcpy(s, "a=", 2);
    s[max_line + 1] = '\n';
    s[max_line + 2] = '\n';
    cases[n++] =
        (struct gen_case){"default line one past", s, max_line + 3, POLICY_ERR_LINE_TOO_LONG};
    s = malloc(max_line + 1);
    memset(s, 'v', max_line + 1);
    cases[n++] = (struct gen_case){"default partial line one past", s, max_line + 1,
                                   POLICY_ERR_LINE_TOO_LONG};
    s = malloc(max_line);
    memset(s, 'v', max_line);
    cases[n++] = (struct gen_case){"default partial line at max", s, max_line, 0};

    /* attribute count */
    s = make_lines(POLICY_DEFAULT_MAX_ATTRS, true, &len);
    cases[n++] = (struct gen_case){"default attrs at max", s, len, (ssize_t)len};
    s = make_lines(POLICY_DEFAULT_MAX_ATTRS + 1, true, &len);
    cases[n++] = (struct gen_case){"default attrs one past", s, len, POLICY_ERR_TOO_MANY_ATTRS};
    s = make_lines(POLICY_DEFAULT_MAX_ATTRS, false, &len);
    s = realloc(s, len + 1);
    s[len++] = 'k';
    cases[n++] =
        (struct gen_case){"default attrs one past partial", s, len, POLICY_ERR_TOO_MANY_ATTRS};

    /* request size, with lines and count within their limits */
    s = make_request(max_req, 16000, true, &len);
    cases[n++] = (struct gen_case){"default size at max", s, len, (ssize_t)max_req};
    s = make_request(max_req + 1, 16000, true, &len);
    cases[n++] = (struct gen_case){"default size one past", s, len, POLICY_ERR_TOO_LARGE};
    s = make_request(max_req, 16000, false, &len);
    cases[n++] = (struct gen_case){"default size at max, blank line missing", s, len, 0};
    s = make_request(max_req + 1, 16000, false, &len);
    cases[n++] = (struct gen_case){"default size one past, blank line missing", s, len,
                                   POLICY_ERR_TOO_LARGE};

    for (size_t i = 0; i < n; i++) {
        check_frame(&bad, cases[i].name, cases[i].in, cases[i].len, &defaults, cases[i].want);
        /* the same frames through the parser: only the limit cases fail, and alike */
        if (cases[i].want > 0) {
            struct arena a;
            arena_init(&a, NULL, 0);
            struct policy_request r;
            int rc = policy_parse(cases[i].in, cases[i].len, &defaults, &a, &r, NULL);
            expect_err(&bad, cases[i].name, "parse (no request=)", rc, POLICY_ERR_NO_REQUEST);
            arena_fini(&a);
        }
        free(cases[i].in);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* ---- framing: resume offset and pipelining ---- */

static void test_frame_resume_offset(void **state)
{
    (void)state;
    const char in[] = REQ "sender=a@x\n\nnext";
    size_t scan = 0;
    struct {
        size_t len;
        ssize_t want;
        size_t want_scan;
    } steps[] = {
        {0, 0, 0},   /* nothing yet */
        {10, 0, 0},  /* inside the first line */
        {28, 0, 28}, /* first line complete: resume at the second */
        {35, 0, 28}, /* inside the second line */
        {39, 0, 39}, /* second line complete */
        {40, 40, 0}, /* blank line: frame of 40 bytes, offset reset */
    };
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(steps); i++) {
        char cname[64];
        snprintf(cname, sizeof(cname), "resume after %zu bytes", steps[i].len);
        ssize_t r = policy_frame(in, steps[i].len, &scan, &defaults);
        expect_err(&bad, cname, "frame", r, steps[i].want);
        expect_u64(&bad, cname, "scan", scan, steps[i].want_scan);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

static void test_frame_pipelined(void **state)
{
    (void)state;
    const char in[] = REQ "sender=first@x\n\n"
                          "request=smtpd_access_policy\r\nsender=second@x\r\n\r\n" REQ
                          "sender=\n\n" REQ "sender=fourth";
    const char *want_sender[] = {"first@x", "second@x", ""};
    size_t off = 0, len = sizeof(in) - 1;
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(want_sender); i++) {
        char cname[64];
        snprintf(cname, sizeof(cname), "pipelined request %zu", i + 1);
        size_t scan = 0;
        ssize_t r = policy_frame(in + off, len - off, &scan, &defaults);
        if (r <= 0) {
            expect_err(&bad, cname, "frame", r, 1);
            break;
        }
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request req;
        int rc = policy_parse(in + off, (size_t)r, &defaults, &a, &req, NULL);
        expect_err(&bad, cname, "parse", rc, POLICY_OK);
        if (rc == POLICY_OK) {
            check_value(&bad, cname, &req, POLICY_ATTR_SENDER, want_sender[i]);
            expect_u64(&bad, cname, "n_attrs", req.n_attrs, 2);
        }
        arena_fini(&a);
        off += (size_t)r;
    }
    size_t scan = 0;
    expect_err(&bad, "pipelined tail", "frame", policy_frame(in + off, len - off, &scan, &defaults),
               0);
    expect_u64(&bad, "pipelined tail", "scan", scan, sizeof(REQ) - 1);
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* ---- parsing: table ---- */

struct want_kv {
    enum policy_attr attr;
    const char *value; /* NULL: absent */
};

struct parse_case {
    const char *name;
    const char *in;
    size_t len;
    int want_err;
    unsigned want_line;             /* on error */
    const char *want_name;          /* on error */
    struct want_kv kv[4];           /* on success; kv[i].attr == 0 after the first ends the list */
    int n_attrs, unknown, repeated; /* on success, -1: not checked */
};

#define OK_ POLICY_OK, 0, NULL
#define ERR(e, line, name) POLICY_ERR_##e, line, name, {{0, NULL}}, -1, -1, -1
#define A(name) POLICY_ATTR_##name

/* clang-format off */
static const struct parse_case parse_cases[] = {
    {"request only", S(REQ "\n"), OK_, {{A(REQUEST), "smtpd_access_policy"}}, 1, 0, 0},
    {"request not first", S("sender=x@y\n" REQ "\n"), OK_, {{A(SENDER), "x@y"}}, 2, 0, 0},
    {"line without equals", S(REQ "garbage line\n\n"), ERR(NO_EQUALS, 2, "garbage line")},
    {"line without equals, sanitised", S(REQ "bad\x01line\n\n"), ERR(NO_EQUALS, 2, "bad\\x01line")},
    {"empty name", S(REQ "=value\n\n"), ERR(EMPTY_NAME, 2, "")},
    {"empty name, empty value", S(REQ "=\n\n"), ERR(EMPTY_NAME, 2, "")},
    {"empty value", S(REQ "helo_name=\n\n"), OK_, {{A(HELO_NAME), ""}}, 2, 0, 0},
    {"null sender", S(REQ "sender=\nrecipient=bob@example.net\n\n"), OK_,
     {{A(SENDER), ""}, {A(RECIPIENT), "bob@example.net"}}, 3, 0, 0},
    {"equals inside value", S(REQ "policy_context=a=b=c\n\n"), OK_, {{A(POLICY_CONTEXT), "a=b=c"}},
     2, 0, 0},
    {"value is one equals", S(REQ "ccert_subject==\n\n"), OK_, {{A(CCERT_SUBJECT), "="}}, 2, 0, 0},
    {"missing request", S("sender=a@x\n\n"), ERR(NO_REQUEST, 0, "request")},
    {"blank frame", S("\n"), ERR(NO_REQUEST, 0, "request")},
    {"wrong request", S("sender=a@x\nrequest=junk\n\n"), ERR(BAD_REQUEST, 2, "request")},
    {"request in upper case", S("request=SMTPD_ACCESS_POLICY\n\n"), ERR(BAD_REQUEST, 1, "request")},
    {"request empty", S("request=\n\n"), ERR(BAD_REQUEST, 1, "request")},
    {"request with trailing space", S("request=smtpd_access_policy \n\n"),
     ERR(BAD_REQUEST, 1, "request")},
    {"repeated request keeps first", S(REQ "request=junk\n\n"), OK_,
     {{A(REQUEST), "smtpd_access_policy"}}, 2, 0, 1},
    {"repeated names keep first", S(REQ "sender=a@x\nsender=b@x\nsender=c@x\n\n"), OK_,
     {{A(SENDER), "a@x"}}, 4, 0, 2},
    {"repeated after empty keeps empty", S(REQ "sender=\nsender=b@x\n\n"), OK_, {{A(SENDER), ""}},
     3, 0, 1},
    {"repeated number not re-parsed", S(REQ "size=5\nsize=junk\n\n"), OK_, {{A(SIZE), "5"}}, 3, 0,
     1},
    {"unknown names ignored", S(REQ "foo=bar\nx-y=z\nsender=a@x\n\n"), OK_, {{A(SENDER), "a@x"}}, 4,
     2, 0},
    {"near-miss names are unknown", S(REQ "send=x\nsenders=y\nSENDER=z\nsize_=1\n\n"), OK_,
     {{A(SENDER), NULL}, {A(SIZE), NULL}}, 5, 4, 0},
    {"postfix 3.8 names",
     S(REQ "compatibility_level=3.6\nmail_version=3.8.4\n" "tls_sni=mx.example.net\n\n"), OK_,
     {{A(COMPATIBILITY_LEVEL), "3.6"}, {A(MAIL_VERSION), "3.8.4"}, {A(TLS_SNI), "mx.example.net"}},
     4, 0, 0},
    {"crlf stripped", S("request=smtpd_access_policy\r\nsender=a@x\r\n\r\n"), OK_,
     {{A(REQUEST), "smtpd_access_policy"}, {A(SENDER), "a@x"}}, 2, 0, 0},
    {"inner cr kept", S(REQ "policy_context=a\rb\n\n"), OK_, {{A(POLICY_CONTEXT), "a\rb"}}, 2, 0,
     0},
    {"only the last cr dropped", S(REQ "policy_context=ab\r\r\n\n"), OK_,
     {{A(POLICY_CONTEXT), "ab\r"}}, 2, 0, 0},
    {"stops at the blank line", S(REQ "\nsender=a@x\n\n"), OK_, {{A(SENDER), NULL}}, 1, 0, 0},
    {"last line without lf", S(REQ "sender=a@x"), OK_, {{A(SENDER), "a@x"}}, 2, 0, 0},
    /* numbers */
    {"number empty is 0", S(REQ "size=\nrecipient_count=\n\n"), OK_,
     {{A(SIZE), "0"}, {A(RECIPIENT_COUNT), "0"}}, 3, 0, 0},
    {"number values", S(REQ "size=12345\nrecipient_count=3\nencryption_keysize=256\n\n"), OK_,
     {{A(SIZE), "12345"}, {A(RECIPIENT_COUNT), "3"}, {A(ENCRYPTION_KEYSIZE), "256"}}, 4, 0, 0},
    {"number leading zeros", S(REQ "size=007\n\n"), OK_, {{A(SIZE), "7"}}, 2, 0, 0},
    {"number 2^64-1", S(REQ "size=18446744073709551615\n\n"), OK_,
     {{A(SIZE), "18446744073709551615"}}, 2, 0, 0},
    {"number 2^64-1 zero padded", S(REQ "size=000000000018446744073709551615\n\n"), OK_,
     {{A(SIZE), "18446744073709551615"}}, 2, 0, 0},
    {"number 2^64 overflows", S(REQ "size=18446744073709551616\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number 10^20 overflows", S(REQ "size=100000000000000000000\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number garbage", S(REQ "size=12a\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number word", S(REQ "recipient_count=three\n\n"), ERR(BAD_NUMBER, 2, "recipient_count")},
    {"number leading minus", S(REQ "size=-1\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number leading plus", S(REQ "size=+1\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number leading space", S(REQ "size= 1\n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number trailing space", S(REQ "size=1 \n\n"), ERR(BAD_NUMBER, 2, "size")},
    {"number hex", S(REQ "encryption_keysize=0x10\n\n"), ERR(BAD_NUMBER, 2, "encryption_keysize")},
    {"bad number before bad request", S("size=x\nrequest=junk\n\n"), ERR(BAD_NUMBER, 1, "size")},
    /* stress */
    {"stress yes", S(REQ "stress=yes\n\n"), OK_, {{A(STRESS), "yes"}}, 2, 0, 0},
    {"stress empty", S(REQ "stress=\n\n"), OK_, {{A(STRESS), ""}}, 2, 0, 0},
    /* NUL: policy_frame rejects it first, the parser does too */
    {"nul in value", S(REQ "sender=a\0b\n\n"), ERR(NUL, 2, "sender")},
    {"nul in name", S(REQ "sen\0der=x\n\n"), ERR(NUL, 2, "sen\\x00der")},
    {"nul line", S(REQ "\0\n\n"), ERR(NUL, 2, "\\x00")},
};
/* clang-format on */

static void test_parse_table(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request r;
        struct policy_parse_error perr;
        memset(&perr, 'x', sizeof(perr));
        int rc = policy_parse(c->in, c->len, &defaults, &a, &r, &perr);
        expect_err(&bad, c->name, "parse", rc, c->want_err);
        if (rc != POLICY_OK && c->want_err != POLICY_OK) {
            expect_u64(&bad, c->name, "error line", perr.line, c->want_line);
            expect_str(&bad, c->name, "error name", perr.name, c->want_name);
        }
        if (rc == POLICY_OK && c->want_err == POLICY_OK) {
            for (size_t k = 0; k < N_ELEMS(c->kv); k++) {
                if (k > 0 && c->kv[k].attr == 0)
                    break;
                if (c->kv[k].value)
                    check_value(&bad, c->name, &r, c->kv[k].attr, c->kv[k].value);
                else
                    check_absent(&bad, c->name, &r, c->kv[k].attr);
            }
            if (c->n_attrs >= 0)
                expect_u64(&bad, c->name, "n_attrs", r.n_attrs, (unsigned)c->n_attrs);
            if (c->unknown >= 0)
                expect_u64(&bad, c->name, "unknown", r.unknown, (unsigned)c->unknown);
            if (c->repeated >= 0)
                expect_u64(&bad, c->name, "repeated", r.repeated, (unsigned)c->repeated);
        }
        /* and the same input without perr */
        arena_reset(&a);
        expect_err(&bad, c->name, "parse without perr",
                   policy_parse(c->in, c->len, &defaults, &a, &r, NULL), c->want_err);
        arena_fini(&a);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* parsing enforces the limits too (a frame that did not come from policy_frame) */
static void test_parse_limits(void **state)
{
    (void)state;
    struct {
        const char *name;
        const char *in;
        size_t len;
        struct policy_limits lim;
        int want;
        unsigned want_line;
    } cases[] = {
        {"parse line at max", S(REQ "sender=12\n\n"), {27, 4, 64}, POLICY_OK, 0},
        {"parse line one past",
         S(REQ "sender=123456789012345678901\n\n"),
         {27, 4, 64},
         POLICY_ERR_LINE_TOO_LONG,
         2},
        {"parse line at max with crlf",
         S(REQ "sender=12345678901234567890\r\n\n"),
         {27, 4, 64},
         POLICY_OK,
         0},
        {"parse attrs at max", S(REQ "a=1\n\n"), {27, 2, 64}, POLICY_OK, 0},
        {"parse attrs one past", S(REQ "a=1\nb=2\n\n"), {27, 2, 64}, POLICY_ERR_TOO_MANY_ATTRS, 3},
        {"parse size at max", S(REQ "a=1\n\n"), {27, 4, 33}, POLICY_OK, 0},
        {"parse size one past", S(REQ "a=1\n\n"), {27, 4, 32}, POLICY_ERR_TOO_LARGE, 0},
    };
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request r;
        struct policy_parse_error perr;
        int rc = policy_parse(cases[i].in, cases[i].len, &cases[i].lim, &a, &r, &perr);
        expect_err(&bad, cases[i].name, "parse", rc, cases[i].want);
        if (rc != POLICY_OK)
            expect_u64(&bad, cases[i].name, "error line", perr.line, cases[i].want_line);
        arena_fini(&a);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* ---- protocol_state, stress, names ---- */

static void test_protocol_state(void **state)
{
    (void)state;
    struct {
        const char *value; /* NULL: attribute absent */
        enum policy_state want;
    } cases[] = {
        {"CONNECT", POLICY_STATE_CONNECT}, {"EHLO", POLICY_STATE_EHLO},
        {"HELO", POLICY_STATE_HELO},       {"MAIL", POLICY_STATE_MAIL},
        {"RCPT", POLICY_STATE_RCPT},       {"DATA", POLICY_STATE_DATA},
        {"BDAT", POLICY_STATE_BDAT},       {"END-OF-MESSAGE", POLICY_STATE_END_OF_MESSAGE},
        {"VRFY", POLICY_STATE_VRFY},       {"ETRN", POLICY_STATE_ETRN},
        {"rcpt", POLICY_STATE_RCPT},       {"End-Of-Message", POLICY_STATE_END_OF_MESSAGE},
        {"eHlO", POLICY_STATE_EHLO},       {"", POLICY_STATE_UNKNOWN},
        {NULL, POLICY_STATE_UNKNOWN},      {"RCPT ", POLICY_STATE_UNKNOWN},
        {"RCP", POLICY_STATE_UNKNOWN},     {"END_OF_MESSAGE", POLICY_STATE_UNKNOWN},
        {"UNKNOWN", POLICY_STATE_UNKNOWN}, {"QUIT", POLICY_STATE_UNKNOWN},
    };
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char in[128], cname[64];
        if (cases[i].value)
            snprintf(in, sizeof(in), REQ "protocol_state=%s\n\n", cases[i].value);
        else
            snprintf(in, sizeof(in), REQ "\n");
        snprintf(cname, sizeof(cname), "protocol_state \"%s\"",
                 cases[i].value ? cases[i].value : "(absent)");
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request r;
        int rc = policy_parse(in, strlen(in), &defaults, &a, &r, NULL);
        expect_err(&bad, cname, "parse", rc, POLICY_OK);
        if (rc == POLICY_OK)
            expect_str(&bad, cname, "state", policy_state_name(r.state),
                       policy_state_name(cases[i].want));
        arena_fini(&a);
    }
    /* names round-trip through the parser */
    for (int s = POLICY_STATE_CONNECT; s <= POLICY_STATE_ETRN; s++) {
        char in[128];
        snprintf(in, sizeof(in), REQ "protocol_state=%s\n\n", policy_state_name(s));
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request r;
        if (policy_parse(in, strlen(in), &defaults, &a, &r, NULL) != POLICY_OK ||
            (int)r.state != s) {
            print_error("state name %s: got state %d, want %d\n", policy_state_name(s),
                        (int)r.state, s);
            bad++;
        }
        arena_fini(&a);
    }
    expect_str(&bad, "state name", "UNKNOWN", policy_state_name(POLICY_STATE_UNKNOWN), "UNKNOWN");
    expect_str(&bad, "state name", "out of range", policy_state_name((enum policy_state)99),
               "UNKNOWN");
    if (bad)
        fail_msg("%d mismatches", bad);
}

static void test_stress(void **state)
{
    (void)state;
    struct {
        const char *value;
        bool want;
    } cases[] = {{"yes", true},   {"YES", true}, {"", false},  {"no", false},
                 {"yess", false}, {"ye", false}, {NULL, false}};
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char in[128], cname[64];
        if (cases[i].value)
            snprintf(in, sizeof(in), REQ "stress=%s\n\n", cases[i].value);
        else
            snprintf(in, sizeof(in), REQ "\n");
        snprintf(cname, sizeof(cname), "stress \"%s\"",
                 cases[i].value ? cases[i].value : "(absent)");
        struct arena a;
        arena_init(&a, NULL, 0);
        struct policy_request r;
        expect_err(&bad, cname, "parse", policy_parse(in, strlen(in), &defaults, &a, &r, NULL),
                   POLICY_OK);
        expect_u64(&bad, cname, "is_stress", r.is_stress, cases[i].want);
        arena_fini(&a);
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

static void test_strerror(void **state)
{
    (void)state;
    int bad = 0;
    for (int e = POLICY_ERR_BAD_NUMBER; e <= POLICY_OK; e++) {
        const char *s = policy_strerror(e);
        if (!s || !*s || strcmp(s, policy_strerror(-100)) == 0) {
            print_error("policy_strerror(%d): got \"%s\", want a specific message\n", e,
                        s ? s : "(null)");
            bad++;
        }
        for (int f = POLICY_ERR_BAD_NUMBER; f < e; f++)
            if (strcmp(s, policy_strerror(f)) == 0) {
                print_error("policy_strerror(%d) == policy_strerror(%d): \"%s\"\n", e, f, s);
                bad++;
            }
    }
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* every attribute name in the header's order maps to its own field and bit; values live in
 * the arena (a small first block forces overflow blocks) and survive the input */
static void test_every_attribute_alone(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(fields); i++) {
        char in[256];
        const char *value = fields[i].is_num ? "42" : "value-of-this";
        if (fields[i].attr == POLICY_ATTR_REQUEST)
            value = "smtpd_access_policy";
        snprintf(in, sizeof(in), "%s%s=%s\n\n", fields[i].attr == POLICY_ATTR_REQUEST ? "" : REQ,
                 fields[i].name, value);
        char first[16];
        struct arena a;
        arena_init(&a, first, sizeof(first));
        struct policy_request r;
        int rc = policy_parse(in, strlen(in), &defaults, &a, &r, NULL);
        expect_err(&bad, fields[i].name, "parse", rc, POLICY_OK);
        memset(in, 0, sizeof(in));
        if (rc == POLICY_OK) {
            check_value(&bad, fields[i].name, &r, fields[i].attr, value);
            uint64_t want = (uint64_t)1 << fields[i].attr | (uint64_t)1 << POLICY_ATTR_REQUEST;
            expect_u64(&bad, fields[i].name, "present", r.present, want);
            expect_u64(&bad, fields[i].name, "unknown", r.unknown, 0);
        }
        arena_fini(&a);
    }
    expect_u64(&bad, "table", "attribute count", N_ELEMS(fields), POLICY_ATTR_COUNT);
    if (bad)
        fail_msg("%d mismatches", bad);
}

/* NULL limits mean the defaults (not in the header's contract, but handy for callers) */
static void test_null_limits(void **state)
{
    (void)state;
    int bad = 0;
    size_t len;
    char *in = make_lines(POLICY_DEFAULT_MAX_ATTRS + 1, true, &len);
    size_t scan = 0;
    expect_err(&bad, "null limits", "frame one attr past the default",
               policy_frame(in, len, &scan, NULL), POLICY_ERR_TOO_MANY_ATTRS);
    free(in);
    const char ok[] = REQ "sender=a@x\n\n";
    scan = 0;
    expect_err(&bad, "null limits", "frame", policy_frame(ok, sizeof(ok) - 1, &scan, NULL),
               sizeof(ok) - 1);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct policy_request r;
    expect_err(&bad, "null limits", "parse", policy_parse(ok, sizeof(ok) - 1, NULL, &a, &r, NULL),
               POLICY_OK);
    arena_fini(&a);
    if (bad)
        fail_msg("%d mismatches", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_postfix_37_request),
        cmocka_unit_test(test_frame_table),
        cmocka_unit_test(test_frame_default_limits),
        cmocka_unit_test(test_frame_resume_offset),
        cmocka_unit_test(test_frame_pipelined),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_protocol_state),
        cmocka_unit_test(test_stress),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_every_attribute_alone),
        cmocka_unit_test(test_null_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
