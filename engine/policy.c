/* engine/policy.c - Postfix policy delegation: framing and parsing; see policy.h.
 *
 * policy_frame() walks the buffer a line at a time. One word-at-a-time pass finds the first
 * LF or NUL of a line; the limits are then checked in closed form, so an error is reported at
 * the first byte that makes it certain, and the result does not depend on how the bytes were
 * split into reads. For a byte at column c of line n (frame offset i):
 *   NUL             the byte is NUL;
 *   LINE_TOO_LONG   c > max_line, or c == max_line and the byte is not CR (a CR there may
 *                   still be the one before LF);
 *   TOO_MANY_ATTRS  n > max_attrs and the line can no longer be blank (c >= 1 or not CR);
 *   TOO_LARGE       i + 1 + the shortest completion ("\n" after a lone CR, else "\n\n";
 *                   0 or 1 byte after an LF) exceeds max_request.
 * Several at one byte: NUL, LINE_TOO_LONG, TOO_MANY_ATTRS, TOO_LARGE, in that order.
 * XXX: a size_t resume offset cannot carry the attribute count: on resume it is recounted
 * from buf[0..*scan) (memchr, stopping at max_attrs LFs), and the incomplete line is scanned
 * again, so trickled input costs O(max_request + max_line) per call, not O(new bytes).
 *
 * policy_parse() copies the frame into the arena once, cuts the values out in place (the
 * line terminator becomes their NUL) and maps names to fields with a switch on the name
 * length and memcmp. It re-checks NUL and the limits so that no input can break it; a final
 * line without LF (not a policy_frame() frame) ends at the end of the buffer.
 * On error *req is partially filled and must not be used. */
#include "engine/policy.h"
#include "engine/base/log.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static const struct policy_limits default_limits = {
    .max_line = POLICY_DEFAULT_MAX_LINE,
    .max_attrs = POLICY_DEFAULT_MAX_ATTRS,
    .max_request = POLICY_DEFAULT_MAX_REQUEST,
};

_Static_assert(POLICY_ATTR_COUNT <= 64, "policy_request.present has 64 bits");

/* Where each POLICY_ATTR_* value goes in struct policy_request. */
enum attr_kind { ATTR_STR, ATTR_NUM };
struct attr_slot {
    unsigned short off;
    unsigned char kind;
};
/* clang-format off */
#define SLOT_STR(f) {offsetof(struct policy_request, f), ATTR_STR}
#define SLOT_NUM(f) {offsetof(struct policy_request, f), ATTR_NUM}
/* clang-format on */
static const struct attr_slot attr_slots[POLICY_ATTR_COUNT] = {
    [POLICY_ATTR_REQUEST] = SLOT_STR(request),
    [POLICY_ATTR_PROTOCOL_STATE] = SLOT_STR(protocol_state),
    [POLICY_ATTR_PROTOCOL_NAME] = SLOT_STR(protocol_name),
    [POLICY_ATTR_CLIENT_ADDRESS] = SLOT_STR(client_address),
    [POLICY_ATTR_CLIENT_NAME] = SLOT_STR(client_name),
    [POLICY_ATTR_CLIENT_PORT] = SLOT_STR(client_port),
    [POLICY_ATTR_REVERSE_CLIENT_NAME] = SLOT_STR(reverse_client_name),
    [POLICY_ATTR_SERVER_ADDRESS] = SLOT_STR(server_address),
    [POLICY_ATTR_SERVER_PORT] = SLOT_STR(server_port),
    [POLICY_ATTR_HELO_NAME] = SLOT_STR(helo_name),
    [POLICY_ATTR_SENDER] = SLOT_STR(sender),
    [POLICY_ATTR_RECIPIENT] = SLOT_STR(recipient),
    [POLICY_ATTR_QUEUE_ID] = SLOT_STR(queue_id),
    [POLICY_ATTR_INSTANCE] = SLOT_STR(instance),
    [POLICY_ATTR_ETRN_DOMAIN] = SLOT_STR(etrn_domain),
    [POLICY_ATTR_STRESS] = SLOT_STR(stress),
    [POLICY_ATTR_SASL_METHOD] = SLOT_STR(sasl_method),
    [POLICY_ATTR_SASL_USERNAME] = SLOT_STR(sasl_username),
    [POLICY_ATTR_SASL_SENDER] = SLOT_STR(sasl_sender),
    [POLICY_ATTR_CCERT_SUBJECT] = SLOT_STR(ccert_subject),
    [POLICY_ATTR_CCERT_ISSUER] = SLOT_STR(ccert_issuer),
    [POLICY_ATTR_CCERT_FINGERPRINT] = SLOT_STR(ccert_fingerprint),
    [POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT] = SLOT_STR(ccert_pubkey_fingerprint),
    [POLICY_ATTR_ENCRYPTION_PROTOCOL] = SLOT_STR(encryption_protocol),
    [POLICY_ATTR_ENCRYPTION_CIPHER] = SLOT_STR(encryption_cipher),
    [POLICY_ATTR_POLICY_CONTEXT] = SLOT_STR(policy_context),
    [POLICY_ATTR_COMPATIBILITY_LEVEL] = SLOT_STR(compatibility_level),
    [POLICY_ATTR_MAIL_VERSION] = SLOT_STR(mail_version),
    [POLICY_ATTR_TLS_SNI] = SLOT_STR(tls_sni),
    [POLICY_ATTR_RECIPIENT_COUNT] = SLOT_NUM(recipient_count),
    [POLICY_ATTR_SIZE] = SLOT_NUM(size),
    [POLICY_ATTR_ENCRYPTION_KEYSIZE] = SLOT_NUM(encryption_keysize),
};

struct state_name {
    const char *name;
    size_t len;
};
/* clang-format off */
#define STATE(s) {s, sizeof(s) - 1}
/* clang-format on */
static const struct state_name state_names[] = {
    [POLICY_STATE_UNKNOWN] = STATE("UNKNOWN"),
    [POLICY_STATE_CONNECT] = STATE("CONNECT"),
    [POLICY_STATE_EHLO] = STATE("EHLO"),
    [POLICY_STATE_HELO] = STATE("HELO"),
    [POLICY_STATE_MAIL] = STATE("MAIL"),
    [POLICY_STATE_RCPT] = STATE("RCPT"),
    [POLICY_STATE_DATA] = STATE("DATA"),
    [POLICY_STATE_BDAT] = STATE("BDAT"),
    [POLICY_STATE_END_OF_MESSAGE] = STATE("END-OF-MESSAGE"),
    [POLICY_STATE_VRFY] = STATE("VRFY"),
    [POLICY_STATE_ETRN] = STATE("ETRN"),
};
#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

const char *policy_strerror(int err)
{
    switch (err) {
    case POLICY_OK:
        return "ok";
    case POLICY_ERR_LINE_TOO_LONG:
        return "line too long";
    case POLICY_ERR_TOO_LARGE:
        return "request too large";
    case POLICY_ERR_TOO_MANY_ATTRS:
        return "too many attributes";
    case POLICY_ERR_NUL:
        return "NUL byte in request";
    case POLICY_ERR_NO_EQUALS:
        return "attribute line without '='";
    case POLICY_ERR_EMPTY_NAME:
        return "empty attribute name";
    case POLICY_ERR_NO_REQUEST:
        return "missing request attribute";
    case POLICY_ERR_BAD_REQUEST:
        return "request is not smtpd_access_policy";
    case POLICY_ERR_BAD_NUMBER:
        return "bad number";
    }
    return "unknown policy error";
}

const char *policy_state_name(enum policy_state s)
{
    if ((unsigned)s >= N_STATES)
        return state_names[POLICY_STATE_UNKNOWN].name;
    return state_names[s].name;
}

/* find_lf_or_nul - index of the first LF or NUL in p[0..n), or n */
static size_t find_lf_or_nul(const char *p, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    const uint64_t lfs = ones * (uint64_t)'\n';
    for (; n - i >= 8; i += 8) {
        uint64_t v, x;
        memcpy(&v, p + i, 8);
        x = v ^ lfs;
        /* (w - 1) & ~w & 0x80 flags the zero bytes of w. Borrows only run upwards, so the
         * lowest flag is exact even if higher ones are not: that is the one we use. */
        uint64_t m = (((v - ones) & ~v) | ((x - ones) & ~x)) & high;
        if (m)
            return i + ((size_t)__builtin_ctzll(m) >> 3);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '\n' || p[i] == '\0')
            return i;
    return n;
}

/* count_lines - LFs in p[0..n), stopping at cap */
static size_t count_lines(const char *p, size_t n, size_t cap)
{
    const char *end = p + n;
    size_t k = 0;
    while (k < cap && p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (!q)
            break;
        k++;
        p = q + 1;
    }
    return k;
}

/* first_large_col - first column of a line at frame offset s whose (non-LF) byte makes the
 * request exceed max_request even with the shortest completion; b0 is the byte at column 0 */
static size_t first_large_col(size_t s, char b0, size_t max_request)
{
    size_t need0 = b0 == '\r' ? 1 : 2; /* "\r" + "\n" is the blank line; else "\n\n" */
    if (s + 1 + need0 > max_request)
        return 0;
    /* column c >= 1: s + c + 1 + 2 bytes at least */
    if (max_request < s + 3)
        return 1;
    return max_request - s - 2;
}

ssize_t policy_frame(const char *buf, size_t len, size_t *scan, const struct policy_limits *lim)
{
    if (!lim)
        lim = &default_limits;
    size_t s = *scan; /* start of the current line */
    if (s > len)
        PANIC("policy: resume offset %zu beyond buffer length %zu", s, len);
    if (s == len)
        return 0;
    const size_t max_line = lim->max_line, max_request = lim->max_request;
    const size_t win = max_line < SIZE_MAX - 2 ? max_line + 2 : SIZE_MAX;
    /* attribute lines before s; only compared with max_attrs, so counting may stop there */
    size_t k = s ? count_lines(buf, s, lim->max_attrs) : 0;
    int err;

    while (s < len) {
        const char *l = buf + s;
        size_t avail = len - s < win ? len - s : win;
        size_t e = find_lf_or_nul(l, avail); /* columns [0, e) are ordinary bytes */
        size_t bad = e;
        err = POLICY_OK;
        if (e > 0) {
            if (max_line < e) {
                size_t c = l[max_line] != '\r' ? max_line : max_line + 1;
                if (c < bad) {
                    bad = c;
                    err = POLICY_ERR_LINE_TOO_LONG;
                }
            }
            if (k >= lim->max_attrs) {
                size_t c = l[0] != '\r' ? 0 : 1;
                if (c < bad) {
                    bad = c;
                    err = POLICY_ERR_TOO_MANY_ATTRS;
                }
            }
            size_t c = first_large_col(s, l[0], max_request);
            if (c < bad)
                err = POLICY_ERR_TOO_LARGE;
        }
        if (err != POLICY_OK)
            goto fail;
        if (e == avail) /* no LF yet; a full window without one was too long above */
            break;
        if (l[e] == '\0') {
            err = POLICY_ERR_NUL;
            goto fail;
        }
        /* LF at column e */
        if (e == 0 || (e == 1 && l[0] == '\r')) {
            if (s + e + 1 > max_request) {
                err = POLICY_ERR_TOO_LARGE;
                goto fail;
            }
            *scan = 0;
            return (ssize_t)(s + e + 1);
        }
        /* an attribute line: its last byte already reserved this LF and the blank line */
        k++;
        s += e + 1;
    }
    *scan = s;
    return 0;

fail:
    *scan = 0;
    return err;
}

/* attr_lookup - POLICY_ATTR_* of the name n[0..len), or -1 if unknown */
static int attr_lookup(const char *n, size_t len)
{
/* the length test is constant-folded inside its case and catches a mislabelled case */
#define IS(lit, id)                                                                                \
    if (len == sizeof(lit) - 1 && memcmp(n, lit, sizeof(lit) - 1) == 0)                            \
    return id
    switch (len) {
    case 4:
        IS("size", POLICY_ATTR_SIZE);
        break;
    case 6:
        IS("sender", POLICY_ATTR_SENDER);
        IS("stress", POLICY_ATTR_STRESS);
        break;
    case 7:
        IS("request", POLICY_ATTR_REQUEST);
        IS("tls_sni", POLICY_ATTR_TLS_SNI);
        break;
    case 8:
        IS("queue_id", POLICY_ATTR_QUEUE_ID);
        IS("instance", POLICY_ATTR_INSTANCE);
        break;
    case 9:
        IS("recipient", POLICY_ATTR_RECIPIENT);
        IS("helo_name", POLICY_ATTR_HELO_NAME);
        break;
    case 11:
        IS("client_name", POLICY_ATTR_CLIENT_NAME);
        IS("client_port", POLICY_ATTR_CLIENT_PORT);
        IS("server_port", POLICY_ATTR_SERVER_PORT);
        IS("etrn_domain", POLICY_ATTR_ETRN_DOMAIN);
        IS("sasl_method", POLICY_ATTR_SASL_METHOD);
        IS("sasl_sender", POLICY_ATTR_SASL_SENDER);
        break;
    case 12:
        IS("ccert_issuer", POLICY_ATTR_CCERT_ISSUER);
        IS("mail_version", POLICY_ATTR_MAIL_VERSION);
        break;
    case 13:
        IS("protocol_name", POLICY_ATTR_PROTOCOL_NAME);
        IS("sasl_username", POLICY_ATTR_SASL_USERNAME);
        IS("ccert_subject", POLICY_ATTR_CCERT_SUBJECT);
        break;
    case 14:
        IS("protocol_state", POLICY_ATTR_PROTOCOL_STATE);
        IS("client_address", POLICY_ATTR_CLIENT_ADDRESS);
        IS("server_address", POLICY_ATTR_SERVER_ADDRESS);
        IS("policy_context", POLICY_ATTR_POLICY_CONTEXT);
        break;
    case 15:
        IS("recipient_count", POLICY_ATTR_RECIPIENT_COUNT);
        break;
    case 17:
        IS("ccert_fingerprint", POLICY_ATTR_CCERT_FINGERPRINT);
        IS("encryption_cipher", POLICY_ATTR_ENCRYPTION_CIPHER);
        break;
    case 18:
        IS("encryption_keysize", POLICY_ATTR_ENCRYPTION_KEYSIZE);
        break;
    case 19:
        IS("reverse_client_name", POLICY_ATTR_REVERSE_CLIENT_NAME);
        IS("encryption_protocol", POLICY_ATTR_ENCRYPTION_PROTOCOL);
        IS("compatibility_level", POLICY_ATTR_COMPATIBILITY_LEVEL);
        break;
    case 24:
        IS("ccert_pubkey_fingerprint", POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT);
        break;
    }
#undef IS
    return -1;
}

/* parse_u64 - strict decimal p[0..n) into *out; "" is 0; false on anything else/overflow */
static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* ascii_caseeq - p[0..n) equals upper-case ASCII name[0..n), ignoring case; no locale */
static bool ascii_caseeq(const char *p, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        if (c != (unsigned char)name[i])
            return false;
    }
    return true;
}

/* state_parse - protocol_state value to enum policy_state */
static enum policy_state state_parse(const struct policy_str *v)
{
    for (size_t s = POLICY_STATE_CONNECT; s < N_STATES; s++)
        if (state_names[s].len == v->len && ascii_caseeq(v->p, state_names[s].name, v->len))
            return (enum policy_state)s;
    return POLICY_STATE_UNKNOWN;
}

/* request_clear - every field empty: strings "", numbers 0, nothing present */
static void request_clear(struct policy_request *req)
{
    memset(req, 0, sizeof(*req));
    for (size_t i = 0; i < POLICY_ATTR_COUNT; i++) {
        if (attr_slots[i].kind != ATTR_STR)
            continue;
        struct policy_str *str = (struct policy_str *)((char *)req + attr_slots[i].off);
        str->p = "";
    }
    req->state = POLICY_STATE_UNKNOWN;
}

/* parse_fail - fill *perr (may be NULL) and return err */
static int parse_fail(struct policy_parse_error *perr, int err, unsigned line, const char *name,
                      size_t len)
{
    if (perr) {
        perr->line = line;
        log_sanitize(perr->name, sizeof(perr->name), name, len);
    }
    return err;
}

int policy_parse(const char *frame, size_t len, const struct policy_limits *lim, struct arena *a,
                 struct policy_request *req, struct policy_parse_error *perr)
{
    if (!lim)
        lim = &default_limits;
    request_clear(req);
    if (perr) {
        perr->line = 0;
        perr->name[0] = '\0';
    }
    if (len > lim->max_request)
        return parse_fail(perr, POLICY_ERR_TOO_LARGE, 0, "", 0);

    char *c = arena_alloc(a, len + 1);
    if (len)
        memcpy(c, frame, len);
    c[len] = '\0';

    unsigned line = 0;
    size_t pos = 0;
    while (pos < len) {
        char *l = c + pos;
        size_t n = find_lf_or_nul(l, len - pos);
        if (n < len - pos && l[n] == '\0') { /* name: up to '=' or LF, past the NUL */
            const char *lf = memchr(l, '\n', len - pos);
            size_t ll = lf ? (size_t)(lf - l) : len - pos;
            const char *eq = memchr(l, '=', ll);
            return parse_fail(perr, POLICY_ERR_NUL, line + 1, l, eq ? (size_t)(eq - l) : ll);
        }
        pos += n + (n < len - pos); /* past the LF, if any */
        size_t end = n;             /* the value ends here: drop a CR before LF/end */
        if (end > 0 && l[end - 1] == '\r')
            end--;
        if (end == 0) /* the blank line */
            break;
        line++;
        req->n_attrs = line;
        const char *eq = memchr(l, '=', end);
        size_t nlen = eq ? (size_t)(eq - l) : end;
        if (end > lim->max_line)
            return parse_fail(perr, POLICY_ERR_LINE_TOO_LONG, line, l, nlen);
        if (line > lim->max_attrs)
            return parse_fail(perr, POLICY_ERR_TOO_MANY_ATTRS, line, l, nlen);
        if (!eq)
            return parse_fail(perr, POLICY_ERR_NO_EQUALS, line, l, end);
        if (nlen == 0)
            return parse_fail(perr, POLICY_ERR_EMPTY_NAME, line, "", 0);

        int id = attr_lookup(l, nlen);
        if (id < 0) {
            req->unknown++;
            continue;
        }
        uint64_t bit = (uint64_t)1 << id;
        if (req->present & bit) {
            req->repeated++;
            continue;
        }
        req->present |= bit;
        char *v = l + nlen + 1;
        size_t vlen = end - nlen - 1;
        v[vlen] = '\0'; /* overwrites the CR, LF or the copy's final NUL */
        const struct attr_slot *slot = &attr_slots[id];
        if (slot->kind == ATTR_NUM) {
            uint64_t *num = (uint64_t *)((char *)req + slot->off);
            if (!parse_u64(v, vlen, num))
                return parse_fail(perr, POLICY_ERR_BAD_NUMBER, line, l, nlen);
            continue;
        }
        struct policy_str *str = (struct policy_str *)((char *)req + slot->off);
        str->p = v;
        str->len = vlen;
        if (id == POLICY_ATTR_REQUEST &&
            (vlen != sizeof("smtpd_access_policy") - 1 || memcmp(v, "smtpd_access_policy", vlen)))
            return parse_fail(perr, POLICY_ERR_BAD_REQUEST, line, l, nlen);
    }
    if (!policy_has(req, POLICY_ATTR_REQUEST))
        return parse_fail(perr, POLICY_ERR_NO_REQUEST, 0, "request", sizeof("request") - 1);
    req->state = state_parse(&req->protocol_state);
    req->is_stress = req->stress.len == 3 && ascii_caseeq(req->stress.p, "YES", 3);
    return POLICY_OK;
}
