/* tests/fuzz/fuzz_policy.c - the policy request framer and parser (engine/policy.h).
 *
 * The input is raw bytes from a Postfix connection. Under the default limits and under small
 * limits derived from a hash of the input (so the limit paths are reached with short inputs):
 * - policy_frame over the whole input equals a byte-at-a-time reference of the rules in
 *   policy.c, equals the same input fed in two pieces cut at a hash-derived point (and, for
 *   short inputs, fed one byte at a time), each prefix in an exact-size copy;
 * - a frame is no longer than the input or max_request, ends with a blank line ("\n\n",
 *   "\n\r\n", or is only "\n" / "\r\n"), has no NUL, <= max_attrs lines of <= max_line bytes;
 * - the same for each request pipelined behind the first one;
 * - policy_parse, on each frame and on the raw input, returns what a reference parser says
 *   (error and line); on success every string field is NUL-terminated at its length without
 *   LF, absent ones are "", the values are the first ones sent, the counters add up.
 * Every property is a FUZZ_CHECK (abort), so it holds in release builds too. */
#include "tests/fuzz/fuzz.h"
#include "engine/policy.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define BYTEWISE_MAX 256 /* feed inputs up to this size one byte at a time */

/* ---- reference framer: one byte at a time, the rules written out plainly ---- */

/* ref_frame - what policy_frame must return for buf[0..len) */
static ssize_t ref_frame(const char *b, size_t len, const struct policy_limits *lim)
{
    size_t s = 0, k = 0; /* line start, attribute lines before it */
    for (size_t i = 0; i < len; i++) {
        size_t c = i - s;
        if (b[i] == '\0')
            return POLICY_ERR_NUL;
        if (b[i] != '\n') {
            if (c > lim->max_line || (c == lim->max_line && b[i] != '\r'))
                return POLICY_ERR_LINE_TOO_LONG;
            if (k >= lim->max_attrs && (c >= 1 || b[i] != '\r'))
                return POLICY_ERR_TOO_MANY_ATTRS;
            size_t need = (c == 0 && b[i] == '\r') ? 1 : 2;
            if (i + 1 + need > lim->max_request)
                return POLICY_ERR_TOO_LARGE;
            continue;
        }
        bool blank = c == 0 || (c == 1 && b[s] == '\r');
        if (i + 1 + (blank ? 0 : 1) > lim->max_request)
            return POLICY_ERR_TOO_LARGE;
        if (blank)
            return (ssize_t)(i + 1);
        k++;
        s = i + 1;
    }
    return 0;
}

/* frame_copy - policy_frame over an exact-size heap copy of d[0..len), resuming at *scan */
static ssize_t frame_copy(const char *d, size_t len, size_t *scan, const struct policy_limits *lim)
{
    char *copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy, "out of memory");
    if (len)
        memcpy(copy, d, len);
    ssize_t r = policy_frame(copy, len, scan, lim);
    free(copy);
    return r;
}

/* check_resume - after a "need more" answer on len bytes, *scan is a line start <= len */
static void check_resume(const char *d, size_t len, size_t scan)
{
    FUZZ_CHECK(scan <= len, "scan %zu > len %zu", scan, len);
    FUZZ_CHECK(scan == 0 || d[scan - 1] == '\n', "scan %zu is not a line start", scan);
}

/* check_frame_shape - a frame of r bytes from policy_frame obeys the grammar and limits */
static void check_frame_shape(const char *d, size_t size, size_t r, const struct policy_limits *lim)
{
    FUZZ_CHECK(r >= 1 && r <= size, "frame %zu, input %zu", r, size);
    FUZZ_CHECK(r <= lim->max_request, "frame %zu > max_request %zu", r, lim->max_request);
    FUZZ_CHECK(d[r - 1] == '\n', "frame does not end in LF");
    FUZZ_CHECK(memchr(d, '\0', r) == NULL, "NUL in frame");
    bool ends_blank =
        r == 1 || d[r - 2] == '\n' || (d[r - 2] == '\r' && (r == 2 || d[r - 3] == '\n'));
    FUZZ_CHECK(ends_blank, "frame does not end in a blank line");
    size_t lines = 0, s = 0;
    while (s < r) {
        const char *lf = memchr(d + s, '\n', r - s);
        FUZZ_CHECK(lf, "frame line without LF");
        size_t n = (size_t)(lf - (d + s));
        if (n > 0 && d[s + n - 1] == '\r')
            n--;
        s = (size_t)(lf - d) + 1;
        if (n == 0) {
            FUZZ_CHECK(s == r, "blank line at %zu inside a frame of %zu", s, r);
            break;
        }
        lines++;
        FUZZ_CHECK(n <= lim->max_line, "line of %zu > max_line %zu", n, lim->max_line);
    }
    FUZZ_CHECK(lines <= lim->max_attrs, "%zu lines > max_attrs %zu", lines, lim->max_attrs);
}

/* ---- reference parser ---- */

struct ref_attr {
    const char *name;
    enum policy_attr attr;
    size_t off;
    bool is_num;
};
/* clang-format off */
#define R_STR(n, A) {#n, POLICY_ATTR_##A, offsetof(struct policy_request, n), false}
#define R_NUM(n, A) {#n, POLICY_ATTR_##A, offsetof(struct policy_request, n), true}
/* clang-format on */
static const struct ref_attr ref_attrs[] = {
    R_STR(request, REQUEST),
    R_STR(protocol_state, PROTOCOL_STATE),
    R_STR(protocol_name, PROTOCOL_NAME),
    R_STR(client_address, CLIENT_ADDRESS),
    R_STR(client_name, CLIENT_NAME),
    R_STR(client_port, CLIENT_PORT),
    R_STR(reverse_client_name, REVERSE_CLIENT_NAME),
    R_STR(server_address, SERVER_ADDRESS),
    R_STR(server_port, SERVER_PORT),
    R_STR(helo_name, HELO_NAME),
    R_STR(sender, SENDER),
    R_STR(recipient, RECIPIENT),
    R_STR(queue_id, QUEUE_ID),
    R_STR(instance, INSTANCE),
    R_STR(etrn_domain, ETRN_DOMAIN),
    R_STR(stress, STRESS),
    R_STR(sasl_method, SASL_METHOD),
    R_STR(sasl_username, SASL_USERNAME),
    R_STR(sasl_sender, SASL_SENDER),
    R_STR(ccert_subject, CCERT_SUBJECT),
    R_STR(ccert_issuer, CCERT_ISSUER),
    R_STR(ccert_fingerprint, CCERT_FINGERPRINT),
    R_STR(ccert_pubkey_fingerprint, CCERT_PUBKEY_FINGERPRINT),
    R_STR(encryption_protocol, ENCRYPTION_PROTOCOL),
    R_STR(encryption_cipher, ENCRYPTION_CIPHER),
    R_STR(policy_context, POLICY_CONTEXT),
    R_STR(compatibility_level, COMPATIBILITY_LEVEL),
    R_STR(mail_version, MAIL_VERSION),
    R_STR(tls_sni, TLS_SNI),
    R_NUM(recipient_count, RECIPIENT_COUNT),
    R_NUM(size, SIZE),
    R_NUM(encryption_keysize, ENCRYPTION_KEYSIZE),
};

static const struct ref_attr *ref_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < N_ELEMS(ref_attrs); i++)
        if (strlen(ref_attrs[i].name) == len && memcmp(ref_attrs[i].name, name, len) == 0)
            return &ref_attrs[i];
    return NULL;
}

/* ref_number - strict decimal, "" = 0; false on anything else or past 2^64 - 1 */
static bool ref_number(const char *p, size_t n, uint64_t *out)
{
    unsigned __int128 v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
        if (v > UINT64_MAX)
            return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* ref_parse_check - the parser's answer rc/perr/req for d[0..len) is the reference's */
static void ref_parse_check(const char *d, size_t len, const struct policy_limits *lim, int rc,
                            const struct policy_parse_error *perr, const struct policy_request *r)
{
    int want = POLICY_OK;
    unsigned want_line = 0, line = 0, unknown = 0, repeated = 0;
    uint64_t seen = 0;
    if (len > lim->max_request) {
        want = POLICY_ERR_TOO_LARGE;
        goto done;
    }
    for (size_t s = 0; s < len;) {
        const char *l = d + s;
        const char *lf = memchr(l, '\n', len - s);
        size_t n = lf ? (size_t)(lf - l) : len - s;
        s += n + (lf != NULL);
        if (memchr(l, '\0', n)) {
            want = POLICY_ERR_NUL;
            want_line = line + 1;
            goto done;
        }
        if (n > 0 && l[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        line++;
        want_line = line;
        const char *eq = memchr(l, '=', n);
        if (n > lim->max_line) {
            want = POLICY_ERR_LINE_TOO_LONG;
            goto done;
        }
        if (line > lim->max_attrs) {
            want = POLICY_ERR_TOO_MANY_ATTRS;
            goto done;
        }
        if (!eq) {
            want = POLICY_ERR_NO_EQUALS;
            goto done;
        }
        if (eq == l) {
            want = POLICY_ERR_EMPTY_NAME;
            goto done;
        }
        const struct ref_attr *a = ref_lookup(l, (size_t)(eq - l));
        if (!a) {
            unknown++;
            continue;
        }
        if (seen & ((uint64_t)1 << a->attr)) {
            repeated++;
            continue;
        }
        seen |= (uint64_t)1 << a->attr;
        const char *v = eq + 1;
        size_t vlen = n - (size_t)(eq - l) - 1;
        if (a->is_num) {
            uint64_t num = 0;
            if (!ref_number(v, vlen, &num)) {
                want = POLICY_ERR_BAD_NUMBER;
                goto done;
            }
            if (rc == POLICY_OK) {
                uint64_t got = *(const uint64_t *)((const char *)r + a->off);
                FUZZ_CHECK(got == num, "%s: got %llu, want %llu", a->name, (unsigned long long)got,
                           (unsigned long long)num);
            }
            continue;
        }
        if (a->attr == POLICY_ATTR_REQUEST &&
            !(vlen == 19 && memcmp(v, "smtpd_access_policy", 19) == 0)) {
            want = POLICY_ERR_BAD_REQUEST;
            goto done;
        }
        if (rc == POLICY_OK) {
            const struct policy_str *got = (const void *)((const char *)r + a->off);
            FUZZ_CHECK(got->len == vlen && memcmp(got->p, v, vlen) == 0,
                       "%s: value is not the first one sent", a->name);
        }
    }
    want_line = 0;
    if (!(seen & ((uint64_t)1 << POLICY_ATTR_REQUEST)))
        want = POLICY_ERR_NO_REQUEST;
done:
    FUZZ_CHECK(rc == want, "parse: got %d (%s), want %d (%s)", rc, policy_strerror(rc), want,
               policy_strerror(want));
    if (rc == POLICY_OK) {
        FUZZ_CHECK(r->present == seen, "present %#llx, want %#llx", (unsigned long long)r->present,
                   (unsigned long long)seen);
        FUZZ_CHECK(r->n_attrs == line && r->unknown == unknown && r->repeated == repeated,
                   "counts %u/%u/%u, want %u/%u/%u", r->n_attrs, r->unknown, r->repeated, line,
                   unknown, repeated);
    } else {
        FUZZ_CHECK(perr->line == want_line, "error line %u, want %u", perr->line, want_line);
    }
}

/* check_parse - parse d[0..len) (a frame or any bytes) and check the result */
static void check_parse(const char *d, size_t len, const struct policy_limits *lim, bool framed)
{
    char first[256]; /* small first block: long requests take the overflow path */
    struct arena a;
    arena_init(&a, first, sizeof(first));
    struct policy_request r;
    struct policy_parse_error perr;
    int rc = policy_parse(d, len, lim, &a, &r, &perr);
    if (rc != POLICY_OK) {
        FUZZ_CHECK(rc < 0 && rc >= POLICY_ERR_BAD_NUMBER, "unknown error %d", rc);
        FUZZ_CHECK(memchr(perr.name, '\0', sizeof(perr.name)), "perr.name not terminated");
        for (const char *p = perr.name; *p; p++)
            FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "perr.name not sanitised");
        if (framed) /* policy_frame has checked these already */
            FUZZ_CHECK(rc != POLICY_ERR_NUL && rc != POLICY_ERR_LINE_TOO_LONG &&
                           rc != POLICY_ERR_TOO_MANY_ATTRS && rc != POLICY_ERR_TOO_LARGE,
                       "framed request failed with %s", policy_strerror(rc));
    } else {
        FUZZ_CHECK(r.n_attrs <= lim->max_attrs, "n_attrs %u > %zu", r.n_attrs, lim->max_attrs);
        FUZZ_CHECK(policy_has(&r, POLICY_ATTR_REQUEST) &&
                       strcmp(r.request.p, "smtpd_access_policy") == 0,
                   "success without request=smtpd_access_policy");
        for (size_t i = 0; i < N_ELEMS(ref_attrs); i++) {
            if (ref_attrs[i].is_num)
                continue;
            const struct policy_str *s = (const void *)((const char *)&r + ref_attrs[i].off);
            FUZZ_CHECK(s->p && strlen(s->p) == s->len, "%s: strlen != len", ref_attrs[i].name);
            FUZZ_CHECK(!memchr(s->p, '\n', s->len), "%s: LF in value", ref_attrs[i].name);
            FUZZ_CHECK(s->len <= lim->max_line, "%s: value longer than a line", ref_attrs[i].name);
            if (!policy_has(&r, ref_attrs[i].attr))
                FUZZ_CHECK(s->len == 0, "%s: absent but not empty", ref_attrs[i].name);
        }
        if (r.state != POLICY_STATE_UNKNOWN)
            FUZZ_CHECK(strcasecmp(policy_state_name(r.state), r.protocol_state.p) == 0,
                       "state %s from \"%s\"", policy_state_name(r.state), r.protocol_state.p);
        else
            for (int st = POLICY_STATE_CONNECT; st <= POLICY_STATE_ETRN; st++)
                FUZZ_CHECK(strcasecmp(policy_state_name(st), r.protocol_state.p) != 0,
                           "\"%s\" not recognised", r.protocol_state.p);
        FUZZ_CHECK(r.is_stress == (strcasecmp(r.stress.p, "yes") == 0), "is_stress");
    }
    ref_parse_check(d, len, lim, rc, &perr, &r);
    arena_fini(&a);
}

/* fnv1a - 64-bit FNV-1a of the input: the split point and the small limits */
static uint64_t fnv1a(const uint8_t *d, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 0x100000001b3u;
    return h;
}

/* run - everything under one set of limits */
static void run(const char *d, size_t size, const struct policy_limits *lim, size_t cut)
{
    size_t scan = 0;
    ssize_t whole = frame_copy(d, size, &scan, lim);
    ssize_t want = ref_frame(d, size, lim);
    FUZZ_CHECK(whole == want, "frame: got %zd, reference %zd", whole, want);
    if (whole == 0)
        check_resume(d, size, scan);

    /* two pieces */
    scan = 0;
    ssize_t r = frame_copy(d, cut, &scan, lim);
    if (r == 0) {
        check_resume(d, cut, scan);
        r = frame_copy(d, size, &scan, lim);
    }
    FUZZ_CHECK(r == whole, "split at %zu: got %zd, whole %zd", cut, r, whole);

    /* one byte at a time */
    if (size <= BYTEWISE_MAX) {
        scan = 0;
        r = 0;
        for (size_t k = 1; k <= size && r == 0; k++) {
            r = frame_copy(d, k, &scan, lim);
            if (r == 0)
                check_resume(d, k, scan);
        }
        FUZZ_CHECK(r == whole, "bytewise: got %zd, whole %zd", r, whole);
    }

    /* the request and those pipelined behind it */
    for (size_t off = 0; off < size;) {
        scan = 0;
        r = off ? frame_copy(d + off, size - off, &scan, lim) : whole;
        if (off)
            FUZZ_CHECK(r == ref_frame(d + off, size - off, lim), "frame at %zu", off);
        if (r <= 0)
            break;
        check_frame_shape(d + off, size - off, (size_t)r, lim);
        check_parse(d + off, (size_t)r, lim, true);
        off += (size_t)r;
    }
    check_parse(d, size, lim, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    uint64_t h = fnv1a(data, size);
    size_t cut = (size_t)(h % (size + 1));
    const struct policy_limits def = {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS,
                                      POLICY_DEFAULT_MAX_REQUEST};
    const struct policy_limits small = {
        .max_line = (size_t)((h >> 16) % 40),
        .max_attrs = (size_t)((h >> 24) % 8),
        .max_request = (size_t)((h >> 32) % 160),
    };
    run(d, size, &def, cut);
    run(d, size, &small, cut);
    return 0;
}
