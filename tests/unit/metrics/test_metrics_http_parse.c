/* tests/unit/metrics/test_metrics_http_parse.c - the HTTP request head parser, table-driven:
 * grammar, leniencies (bare LF, leading empty lines), limits, and early refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics_http.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define H11 " HTTP/1.1\r\nHost: x\r\n\r\n"

struct parse_case {
    const char *name;
    const char *in;
    size_t len; /* 0: strlen(in) */
    int want;
    const char *method; /* checked when COMPLETE */
    const char *path;
    int minor;
    size_t head_len; /* 0: the whole input */
};

static const struct parse_case cases[] = {
    {"get metrics", "GET /metrics" H11, 0, METRICS_HTTP_COMPLETE, "GET", "/metrics", 1, 0},
    {"head healthz", "HEAD /healthz" H11, 0, METRICS_HTTP_COMPLETE, "HEAD", "/healthz", 1, 0},
    {"bare LF", "GET /metrics HTTP/1.1\nHost: x\n\n", 0, METRICS_HTTP_COMPLETE, "GET", "/metrics",
     1, 0},
    {"prometheus-like",
     "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9477\r\nUser-Agent: "
     "Prometheus/2.42.0\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;"
     "version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-"
     "Seconds: 10\r\n\r\n",
     0, METRICS_HTTP_COMPLETE, "GET", "/metrics", 1, 0},
    {"query stripped", "GET /metrics?name[]=x&a=b" H11, 0, METRICS_HTTP_COMPLETE, "GET", "/metrics",
     1, 0},
    {"absolute form", "GET http://h:9477/metrics?x HTTP/1.1\r\nHost: h\r\n\r\n", 0,
     METRICS_HTTP_COMPLETE, "GET", "/metrics", 1, 0},
    {"absolute https upper", "GET HTTPS://h/healthz" H11, 0, METRICS_HTTP_COMPLETE, "GET",
     "/healthz", 1, 0},
    {"absolute without path", "GET http://h" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"absolute empty authority", "GET http:///x" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"absolute query before path", "GET http://h?x/y" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0,
     0},
    {"asterisk", "OPTIONS *" H11, 0, METRICS_HTTP_COMPLETE, "OPTIONS", "*", 1, 0},
    {"relative target", "GET metrics" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"fragment", "GET /metrics#x" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"lowercase method is a token", "get /metrics" H11, 0, METRICS_HTTP_COMPLETE, "get", "/metrics",
     1, 0},
    {"http/1.0 without host", "GET /metrics HTTP/1.0\r\n\r\n", 0, METRICS_HTTP_COMPLETE, "GET",
     "/metrics", 0, 0},
    {"http/1.1 without host", "GET /metrics HTTP/1.1\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL, NULL,
     0, 0},
    {"two hosts", "GET /metrics HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 0, METRICS_HTTP_ERR_BAD,
     NULL, NULL, 0, 0},
    {"http/1.9", "GET /metrics HTTP/1.9\r\nHost: x\r\n\r\n", 0, METRICS_HTTP_COMPLETE, "GET",
     "/metrics", 9, 0},
    {"http/2.0", "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 0, METRICS_HTTP_ERR_VERSION, NULL,
     NULL, 0, 0},
    {"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, METRICS_HTTP_ERR_VERSION, NULL, NULL, 0,
     0},
    {"http lowercase", "GET /metrics http/1.1\r\nHost: x\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL,
     NULL, 0, 0},
    {"version two digits", "GET /metrics HTTP/1.10\r\nHost: x\r\n\r\n", 0, METRICS_HTTP_ERR_BAD,
     NULL, NULL, 0, 0},
    {"no version", "GET /metrics\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"two spaces", "GET  /metrics" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"tab separator", "GET\t/metrics" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"space in target", "GET /me trics" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"leading CRLF ignored", "\r\n\r\nGET /metrics" H11, 0, METRICS_HTTP_COMPLETE, "GET",
     "/metrics", 1, 0},
    {"four leading LFs", "\n\n\n\nGET /metrics" H11, 0, METRICS_HTTP_COMPLETE, "GET", "/metrics", 1,
     0},
    {"five leading LFs", "\n\n\n\n\nGET /metrics" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"CR without LF", "GET /metrics HTTP/1.1\rHost: x\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL, NULL,
     0, 0},
    {"CR in value", "GET /metrics HTTP/1.1\r\nHost: x\ry\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL,
     NULL, 0, 0},
    {"space before colon", "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 0, METRICS_HTTP_ERR_BAD,
     NULL, NULL, 0, 0},
    {"obs-fold", "GET /metrics HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", 0, METRICS_HTTP_ERR_BAD, NULL,
     NULL, 0, 0},
    {"field without colon", "GET /metrics HTTP/1.1\r\nHost: x\r\nX\r\n\r\n", 0,
     METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"empty field name", "GET /metrics HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", 0, METRICS_HTTP_ERR_BAD,
     NULL, NULL, 0, 0},
    {"empty field value", "GET /metrics HTTP/1.1\r\nHost: x\r\nX:\r\n\r\n", 0,
     METRICS_HTTP_COMPLETE, "GET", "/metrics", 1, 0},
    {"obs-text value", "GET /metrics HTTP/1.1\r\nHost: x\r\nX: \xc3\xa9\xff\r\n\r\n", 0,
     METRICS_HTTP_COMPLETE, "GET", "/metrics", 1, 0},
    {"NUL in value", "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", 42,
     METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"NUL in method", "G\0T /metrics" H11, 12, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"trailing body left", "GET /metrics" H11 "extra", 0, METRICS_HTTP_COMPLETE, "GET", "/metrics",
     1, 34},
    {"pipelined second request", "GET /a" H11 "GET /b" H11, 0, METRICS_HTTP_COMPLETE, "GET", "/a",
     1, 28},
    {"empty", "", 0, METRICS_HTTP_INCOMPLETE, NULL, NULL, 0, 0},
    {"partial method", "GE", 0, METRICS_HTTP_INCOMPLETE, NULL, NULL, 0, 0},
    {"partial CR", "GET /metrics HTTP/1.1\r", 0, METRICS_HTTP_INCOMPLETE, NULL, NULL, 0, 0},
    {"partial version", "GET /metrics HTTP/1", 0, METRICS_HTTP_INCOMPLETE, NULL, NULL, 0, 0},
    {"no blank line yet", "GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, METRICS_HTTP_INCOMPLETE, NULL,
     NULL, 0, 0},
    {"only leading CRLF", "\r\n", 0, METRICS_HTTP_INCOMPLETE, NULL, NULL, 0, 0},
    {"garbage refused early", "\x16\x03\x01\x02", 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"bad byte in partial target", "GET /a\x01", 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"bad version refused early", "GET / XTTP", 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
    {"method 16", "ABCDEFGHIJKLMNOP /" H11, 0, METRICS_HTTP_COMPLETE, "ABCDEFGHIJKLMNOP", "/", 1,
     0},
    {"method 17", "ABCDEFGHIJKLMNOPQ /" H11, 0, METRICS_HTTP_ERR_BAD, NULL, NULL, 0, 0},
};

static void test_parse_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct parse_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        char *buf = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(buf, c->in, len);
        struct metrics_http_req req;
        int got = metrics_http_parse(buf, len, &req);
        if (got != c->want) {
            print_error("parse %s: got %d, want %d\n", c->name, got, c->want);
            failures++;
        } else if (got == METRICS_HTTP_COMPLETE) {
            size_t want_head = c->head_len ? c->head_len : len;
            if (req.method_len != strlen(c->method) ||
                memcmp(req.method, c->method, req.method_len) != 0 ||
                req.path_len != strlen(c->path) || memcmp(req.path, c->path, req.path_len) != 0 ||
                req.version_minor != c->minor || req.head_len != want_head) {
                print_error("parse %s: got %.*s %.*s 1.%d head %zu, want %s %s 1.%d head %zu\n",
                            c->name, (int)req.method_len, req.method, (int)req.path_len, req.path,
                            req.version_minor, req.head_len, c->method, c->path, c->minor,
                            want_head);
                failures++;
            }
        }
        free(buf);
    }
    assert_int_equal(failures, 0);
}

/* build - "GET /metrics HTTP/1.1\r\nHost: x\r\n" + nfields fields of value_len bytes + CRLF */
static char *build(unsigned nfields, size_t value_len, size_t *len)
{
    size_t cap = 64 + nfields * (value_len + 16);
    char *buf = malloc(cap);
    size_t n = (size_t)snprintf(buf, cap, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    for (unsigned i = 0; i < nfields; i++) {
        n += (size_t)snprintf(buf + n, cap - n, "X%u: ", i);
        memset(buf + n, 'v', value_len);
        n += value_len;
        buf[n++] = '\r';
        buf[n++] = '\n';
    }
    buf[n++] = '\r';
    buf[n++] = '\n';
    *len = n;
    return buf;
}

static void test_parse_limits(void **state)
{
    (void)state;
    struct metrics_http_req req;
    size_t len;
    /* 63 fields + Host = 64: fine; 65: too many */
    char *b = build(63, 1, &len);
    assert_int_equal(metrics_http_parse(b, len, &req), METRICS_HTTP_COMPLETE);
    assert_int_equal(req.nfields, 64);
    free(b);
    b = build(64, 1, &len);
    assert_int_equal(metrics_http_parse(b, len, &req), METRICS_HTTP_ERR_LARGE);
    free(b);

    /* a head of exactly 8192 bytes is fine, 8193 is too large */
    b = build(1, 1, &len);
    size_t base = len;
    free(b);
    b = build(1, 1 + (METRICS_HTTP_HEAD_MAX - base), &len);
    assert_int_equal(len, METRICS_HTTP_HEAD_MAX);
    assert_int_equal(metrics_http_parse(b, len, &req), METRICS_HTTP_COMPLETE);
    assert_int_equal(req.head_len, METRICS_HTTP_HEAD_MAX);
    free(b);
    b = build(1, 2 + (METRICS_HTTP_HEAD_MAX - base), &len);
    assert_int_equal(metrics_http_parse(b, len, &req), METRICS_HTTP_ERR_LARGE);
    /* the same, cut short of the limit: still incomplete */
    assert_int_equal(metrics_http_parse(b, METRICS_HTTP_HEAD_MAX - 1, &req),
                     METRICS_HTTP_INCOMPLETE);
    assert_int_equal(metrics_http_parse(b, METRICS_HTTP_HEAD_MAX, &req), METRICS_HTTP_ERR_LARGE);
    free(b);

    /* request-target of 2048 bytes is fine, 2049 is not */
    for (size_t tlen = 2048; tlen <= 2049; tlen++) {
        char *t = malloc(tlen + 64);
        memcpy(t, "GET /", 5);
        memset(t + 5, 'a', tlen - 1);
        size_t n = 4 + tlen;
        memcpy(t + n, H11, strlen(H11));
        n += strlen(H11);
        int want = tlen == 2048 ? METRICS_HTTP_COMPLETE : METRICS_HTTP_ERR_BAD;
        assert_int_equal(metrics_http_parse(t, n, &req), want);
        free(t);
    }
}

/* every prefix of a valid head is INCOMPLETE; the whole is COMPLETE */
static void test_parse_prefixes(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
        "\r\nHEAD http://h/healthz?q HTTP/1.0\nX: y\n\n",
    };
    for (size_t h = 0; h < N(heads); h++) {
        size_t len = strlen(heads[h]);
        for (size_t i = 0; i < len; i++) {
            char *buf = malloc(i ? i : 1);
            memcpy(buf, heads[h], i);
            struct metrics_http_req req;
            int got = metrics_http_parse(buf, i, &req);
            free(buf);
            if (got != METRICS_HTTP_INCOMPLETE)
                fail_msg("head %zu prefix %zu: got %d, want INCOMPLETE", h, i, got);
        }
        struct metrics_http_req req;
        assert_int_equal(metrics_http_parse(heads[h], len, &req), METRICS_HTTP_COMPLETE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_prefixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
