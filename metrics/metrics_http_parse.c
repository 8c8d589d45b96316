/* metrics/metrics_http_parse.c - HTTP/1.x request head parser for the /metrics endpoint.
 *
 * Grammar and limits: see metrics/metrics_http.h. The parser validates as far as the data
 * goes, so garbage is refused on its first bad byte rather than after a timeout; running out
 * of data is INCOMPLETE below METRICS_HTTP_HEAD_MAX bytes and ERR_LARGE at it. Field values
 * are checked for allowed bytes but not interpreted: the server closes after one reply, so a
 * request body (Content-Length, Transfer-Encoding) is never read as a request. */
#include "metrics/metrics_http.h"

#include <stdbool.h>
#include <string.h>

#define METHOD_MAX 16
#define TARGET_MAX 2048
#define LEADING_EMPTY_MAX 4

/* ran_out - the result when the data ends before the head does */
static int ran_out(size_t len)
{
    return len >= METRICS_HTTP_HEAD_MAX ? METRICS_HTTP_ERR_LARGE : METRICS_HTTP_INCOMPLETE;
}

/* is_tchar - RFC 9110 5.6.2 token characters */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* is_vchar - visible ASCII */
static bool is_vchar(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* is_field_vchar - field-value bytes: VCHAR, SP, HTAB, obs-text */
static bool is_field_vchar(unsigned char c)
{
    return is_vchar(c) || c == ' ' || c == '\t' || c >= 0x80;
}

/* line_end - expect LF or CRLF at *pos; 1 consumed, 0 ran out, -1 anything else */
static int line_end(const char *buf, size_t lim, size_t *pos)
{
    size_t p = *pos;
    if (p == lim)
        return 0;
    if (buf[p] == '\n') {
        *pos = p + 1;
        return 1;
    }
    if (buf[p] != '\r')
        return -1;
    if (p + 1 == lim)
        return 0;
    if (buf[p + 1] != '\n')
        return -1;
    *pos = p + 2;
    return 1;
}

/* ascii_ieq - case-insensitive compare of s[0..n) with the lower-case literal lit */
static bool ascii_ieq(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/* split_target - set path/path_len from a complete request-target; false if malformed */
static bool split_target(struct metrics_http_req *req)
{
    const char *t = req->target;
    size_t n = req->target_len, start = 0;
    if (n == 1 && t[0] == '*') {
        req->path = t;
        req->path_len = 1;
        return true;
    }
    if (memchr(t, '#', n))
        return false; /* a fragment is never sent (RFC 9112 3.2) */
    if (t[0] != '/') {
        size_t skip;
        if (n > 7 && ascii_ieq(t, 7, "http://"))
            skip = 7;
        else if (n > 8 && ascii_ieq(t, 8, "https://"))
            skip = 8;
        else
            return false;
        const char *slash = memchr(t + skip, '/', n - skip);
        const char *query = memchr(t + skip, '?', n - skip);
        if (!slash || (query && query < slash) || slash == t + skip)
            return false; /* no path, or empty authority */
        start = (size_t)(slash - t);
    }
    const char *query = memchr(t + start, '?', n - start);
    req->path = t + start;
    req->path_len = query ? (size_t)(query - (t + start)) : n - start;
    return req->path_len >= 1;
}

int metrics_http_parse(const char *buf, size_t len, struct metrics_http_req *req)
{
    memset(req, 0, sizeof(*req));
    size_t lim = len < METRICS_HTTP_HEAD_MAX ? len : METRICS_HTTP_HEAD_MAX;
    size_t pos = 0;
    int r;

    /* a few empty lines before the request line are ignored (RFC 9112 2.2) */
    for (int empty = 0;; empty++) {
        if (pos < lim && buf[pos] != '\r' && buf[pos] != '\n')
            break;
        if ((r = line_end(buf, lim, &pos)) <= 0)
            return r ? METRICS_HTTP_ERR_BAD : ran_out(len);
        if (empty == LEADING_EMPTY_MAX)
            return METRICS_HTTP_ERR_BAD;
    }

    /* method SP */
    size_t m0 = pos;
    while (pos < lim && is_tchar((unsigned char)buf[pos]) && pos - m0 <= METHOD_MAX)
        pos++;
    if (pos - m0 > METHOD_MAX)
        return METRICS_HTTP_ERR_BAD;
    if (pos == lim)
        return ran_out(len);
    if (pos == m0 || buf[pos] != ' ')
        return METRICS_HTTP_ERR_BAD;
    req->method = buf + m0;
    req->method_len = pos - m0;
    pos++;

    /* request-target SP */
    size_t t0 = pos;
    while (pos < lim && is_vchar((unsigned char)buf[pos]) && pos - t0 <= TARGET_MAX)
        pos++;
    if (pos - t0 > TARGET_MAX)
        return METRICS_HTTP_ERR_BAD;
    if (pos == lim)
        return ran_out(len);
    if (pos == t0 || buf[pos] != ' ')
        return METRICS_HTTP_ERR_BAD;
    req->target = buf + t0;
    req->target_len = pos - t0;
    if (!split_target(req))
        return METRICS_HTTP_ERR_BAD;
    pos++;

    /* "HTTP/" DIGIT "." DIGIT */
    static const char proto[] = "HTTP/d.d";
    for (size_t i = 0; i < sizeof(proto) - 1; i++) {
        if (pos + i == lim)
            return ran_out(len);
        char c = buf[pos + i];
        bool ok = proto[i] == 'd' ? (c >= '0' && c <= '9') : c == proto[i];
        if (!ok)
            return METRICS_HTTP_ERR_BAD;
    }
    int major = buf[pos + 5] - '0';
    req->version_minor = buf[pos + 7] - '0';
    pos += sizeof(proto) - 1;
    if ((r = line_end(buf, lim, &pos)) <= 0)
        return r ? METRICS_HTTP_ERR_BAD : ran_out(len);

    /* field lines up to the empty line */
    unsigned hosts = 0;
    for (;;) {
        if (pos == lim)
            return ran_out(len);
        if (buf[pos] == '\r' || buf[pos] == '\n') {
            if ((r = line_end(buf, lim, &pos)) <= 0)
                return r ? METRICS_HTTP_ERR_BAD : ran_out(len);
            break;
        }
        size_t n0 = pos;
        while (pos < lim && is_tchar((unsigned char)buf[pos]))
            pos++;
        if (pos == lim)
            return ran_out(len);
        if (pos == n0 || buf[pos] != ':')
            return METRICS_HTTP_ERR_BAD; /* also obs-fold and space before the colon */
        if (ascii_ieq(buf + n0, pos - n0, "host"))
            hosts++;
        pos++;
        while (pos < lim && is_field_vchar((unsigned char)buf[pos]))
            pos++;
        if ((r = line_end(buf, lim, &pos)) <= 0)
            return r ? METRICS_HTTP_ERR_BAD : ran_out(len);
        if (++req->nfields > METRICS_HTTP_FIELDS_MAX)
            return METRICS_HTTP_ERR_LARGE;
    }

    if (major != 1)
        return METRICS_HTTP_ERR_VERSION;
    if (hosts > 1 || (req->version_minor >= 1 && hosts == 0))
        return METRICS_HTTP_ERR_BAD;
    req->head_len = pos;
    return METRICS_HTTP_COMPLETE;
}
