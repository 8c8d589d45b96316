/* metrics/metrics_http.h - the /metrics HTTP endpoint and its request-head parser.
 *
 * The endpoint runs one thread with its own epoll loop. It speaks a subset of HTTP/1.1
 * (RFC 9110/9112): one request per connection, every reply has Content-Length and
 * "Connection: close".
 *   GET|HEAD /metrics  200, text format 0.0.4 (metrics_render)
 *   GET|HEAD /healthz  200 "ok\n"
 *   other path 404; other method 405 (Allow: GET, HEAD); malformed head 400;
 *   head over METRICS_HTTP_HEAD_MAX bytes or fields 431; HTTP major version != 1: 505.
 * Hardening: the whole head must arrive within head_timeout_ms of accept (slowloris), the
 * reply must be taken within write_timeout_ms (non-blocking writes, EPOLLOUT), at most
 * max_conns connections (past it the listener is paused and the kernel backlog holds new
 * ones), EMFILE pauses accepting for 100 ms. After the reply the write side is shut down and
 * unread input is discarded for at most 1 s, so the peer sees the reply, not a reset.
 * It only reads shard atomics and takes the registry mutex while rendering: it never
 * blocks or slows a thread that updates metrics. All signals are blocked on its thread. */
#ifndef GREYSPF_METRICS_HTTP_H
#define GREYSPF_METRICS_HTTP_H
#include <stddef.h>

struct metrics_registry;
struct metrics_http;

#define METRICS_HTTP_HEAD_MAX 8192 /* request line + fields + blank line */
#define METRICS_HTTP_FIELDS_MAX 64

struct metrics_http_config {
    unsigned max_conns;        /* concurrent connections; 0: 256 */
    unsigned head_timeout_ms;  /* from accept to a complete request head; 0: 5000 */
    unsigned write_timeout_ms; /* from a complete head to the reply taken; 0: 10000 */
};

/* metrics_http_start - bind addr ("127.0.0.1:9477", "[::1]:9477"; numeric host, port 0
 * picks a free one), listen, and serve reg on a new thread. cfg may be NULL (defaults).
 * reg must outlive the endpoint. Returns the endpoint, or NULL with a message in err
 * (errlen > 0). Caller stops and frees it with metrics_http_stop. */
struct metrics_http *metrics_http_start(struct metrics_registry *reg, const char *addr,
                                        const struct metrics_http_config *cfg, char *err,
                                        size_t errlen);
/* metrics_http_port - the bound port (useful after port 0) */
int metrics_http_port(const struct metrics_http *h);
/* metrics_http_stop - stop the thread, close every connection, free h. NULL is a no-op. */
void metrics_http_stop(struct metrics_http *h);

/* Request head parser: pure, no allocation, no I/O; safe on arbitrary bytes.
 *
 * Grammar (RFC 9112 section 2-5, a strict subset):
 *   head          = *( CRLF ) request-line *( field-line CRLF ) CRLF
 *   request-line  = method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
 *   method        = 1*16tchar
 *   request-target= origin-form / absolute-form ("http://" or "https://" authority path)
 *                 / "*"; visible ASCII only (%x21-7E), <= 2048 bytes
 *   field-line    = field-name ":" OWS field-value OWS ; field-name = 1*tchar (no space
 *                   before ":"), field-value = visible ASCII, SP, HTAB and obs-text (0x80+)
 * CRLF may be a bare LF (RFC 9112 2.2); a CR elsewhere, NUL, obs-fold (a line starting with
 * SP/HTAB), or a control byte is an error. At most 4 empty lines before the request line.
 * HTTP/1.1 needs exactly one Host field (RFC 9112 3.2); HTTP/1.0 may have none.
 * Only the first METRICS_HTTP_HEAD_MAX bytes are looked at. */
enum {
    METRICS_HTTP_INCOMPLETE = 0,   /* valid so far; need more bytes */
    METRICS_HTTP_COMPLETE = 1,     /* req filled in */
    METRICS_HTTP_ERR_BAD = -1,     /* malformed: 400 */
    METRICS_HTTP_ERR_LARGE = -2,   /* head > METRICS_HTTP_HEAD_MAX or too many fields: 431 */
    METRICS_HTTP_ERR_VERSION = -3, /* HTTP major version other than 1: 505 */
};

/* Filled in on METRICS_HTTP_COMPLETE; pointers point into the parsed buffer. */
struct metrics_http_req {
    const char *method; /* method token, method_len bytes */
    size_t method_len;
    const char *target; /* request-target as sent */
    size_t target_len;
    const char *path;  /* target without scheme://authority and ?query ("*" for "*") */
    size_t path_len;   /* >= 1 */
    int version_minor; /* HTTP/1.x */
    unsigned nfields;  /* field lines */
    size_t head_len;   /* bytes of the head, blank line included: <= len */
};

/* metrics_http_parse - parse buf[0..len) (no NUL needed). Returns METRICS_HTTP_COMPLETE,
 * METRICS_HTTP_INCOMPLETE or METRICS_HTTP_ERR_*. req may be written even when not complete. */
int metrics_http_parse(const char *buf, size_t len, struct metrics_http_req *req);

#endif
