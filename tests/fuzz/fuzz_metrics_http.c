/* tests/fuzz/fuzz_metrics_http.c - the /metrics request head parser (metrics/metrics_http.h)
 * on arbitrary bytes, in an exact-size buffer.
 * - The result is one of COMPLETE, INCOMPLETE, ERR_BAD, ERR_LARGE, ERR_VERSION; INCOMPLETE
 *   only below METRICS_HTTP_HEAD_MAX bytes; only the first HEAD_MAX bytes matter.
 * - COMPLETE: 0 < head_len <= min(size, HEAD_MAX) and the head ends with an empty line;
 *   method (1..16 token bytes), target and path lie inside the head, path inside target,
 *   path is "*" or starts with '/' and holds no '?'; version_minor is a digit;
 *   re-parsing exactly the head gives the same answer, and the head minus its last byte
 *   is INCOMPLETE. */
#include "tests/fuzz/fuzz.h"
#include "metrics/metrics_http.h"

#include <stdbool.h>
#include <string.h>

/* inside - [p, p + n) lies within [lo, lo + len) */
static bool inside(const char *p, size_t n, const char *lo, size_t len)
{
    return p && p >= lo && n <= len && (size_t)(p - lo) <= len - n;
}

static bool token_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct metrics_http_req req;
    int r = metrics_http_parse(buf, size, &req);
    FUZZ_CHECK(r >= METRICS_HTTP_ERR_VERSION && r <= METRICS_HTTP_COMPLETE, "result %d", r);
    FUZZ_CHECK(r != METRICS_HTTP_INCOMPLETE || size < METRICS_HTTP_HEAD_MAX,
               "incomplete at %zu bytes", size);
    if (size > METRICS_HTTP_HEAD_MAX) {
        struct metrics_http_req cut;
        int rc = metrics_http_parse(buf, METRICS_HTTP_HEAD_MAX, &cut);
        FUZZ_CHECK(rc == r, "bytes past the limit changed the result: %d vs %d", rc, r);
    }
    if (r != METRICS_HTTP_COMPLETE)
        return 0;

    size_t lim = size < METRICS_HTTP_HEAD_MAX ? size : METRICS_HTTP_HEAD_MAX;
    size_t hl = req.head_len;
    FUZZ_CHECK(hl > 0 && hl <= lim, "head_len %zu of %zu", hl, size);
    FUZZ_CHECK(buf[hl - 1] == '\n' && hl >= 2 &&
                   (buf[hl - 2] == '\n' || (hl >= 3 && buf[hl - 2] == '\r' && buf[hl - 3] == '\n')),
               "head does not end with an empty line");
    FUZZ_CHECK(req.method_len >= 1 && req.method_len <= 16 &&
                   inside(req.method, req.method_len, buf, hl),
               "method outside the head");
    for (size_t i = 0; i < req.method_len; i++)
        FUZZ_CHECK(token_byte((unsigned char)req.method[i]), "method byte 0x%02x",
                   (unsigned char)req.method[i]);
    FUZZ_CHECK(req.target_len >= 1 && inside(req.target, req.target_len, buf, hl),
               "target outside the head");
    FUZZ_CHECK(req.target > req.method, "target before method");
    FUZZ_CHECK(req.path_len >= 1 && inside(req.path, req.path_len, req.target, req.target_len),
               "path outside the target");
    FUZZ_CHECK((req.path_len == 1 && req.path[0] == '*') || req.path[0] == '/',
               "path starts with 0x%02x", (unsigned char)req.path[0]);
    FUZZ_CHECK(!memchr(req.path, '?', req.path_len), "query left in the path");
    FUZZ_CHECK(req.version_minor >= 0 && req.version_minor <= 9, "minor %d", req.version_minor);
    FUZZ_CHECK(req.nfields <= METRICS_HTTP_FIELDS_MAX, "nfields %u", req.nfields);

    struct metrics_http_req again;
    FUZZ_CHECK(metrics_http_parse(buf, hl, &again) == METRICS_HTTP_COMPLETE &&
                   again.head_len == hl && again.path_len == req.path_len &&
                   again.method_len == req.method_len && again.nfields == req.nfields,
               "the head alone parses differently");
    FUZZ_CHECK(metrics_http_parse(buf, hl - 1, &again) == METRICS_HTTP_INCOMPLETE,
               "the head minus one byte is not incomplete");
    return 0;
}
