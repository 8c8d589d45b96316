/* engine/base/log.c - see log.h.
 * Locking: `mu` protects buf/len/dropped/stop; the log thread swaps `buf` with its own
 * spare buffer under `mu` and writes outside the lock. No other lock is taken inside. */
#include "engine/base/log.h"
#include "engine/base/alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF_SIZE (1u << 20)

atomic_int log_level_g = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t thread;
    bool running; /* log thread started; only changed by log_open/log_close */
    bool stop;
    enum log_sink sink;
    char *buf, *spare; /* records: [level byte][text]\n */
    size_t len;
    uint64_t dropped, dropped_total;
    char *ident;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

void log_set_level(enum log_level lvl)
{
    atomic_store_explicit(&log_level_g, (int)lvl, memory_order_relaxed);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warn") == 0)
        return LOG_LVL_WARN;
    return -1;
}

uint64_t log_dropped(void)
{
    pthread_mutex_lock(&lg.mu);
    uint64_t d = lg.dropped_total;
    pthread_mutex_unlock(&lg.mu);
    return d;
}

/* stderr_line - write one formatted line to stderr with a timestamp, in one write() */
static void stderr_line(int lvl, const char *text, size_t len)
{
    char out[LOG_LINE_MAX + 96];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl]);
    if (n < 0)
        return;
    if (len > sizeof(out) - (size_t)n - 1)
        len = sizeof(out) - (size_t)n - 1;
    memcpy(out + n, text, len);
    out[(size_t)n + len] = '\n';
    ssize_t w = write(STDERR_FILENO, out, (size_t)n + len + 1);
    (void)w; /* nowhere to report a failing stderr */
}

/* emit - deliver one line to the configured sink (log thread or direct mode) */
static void emit(enum log_sink sink, int lvl, const char *text, size_t len)
{
    if (sink == LOG_SINK_SYSLOG)
        syslog(level_prio[lvl], "%.*s", (int)len, text);
    else
        stderr_line(lvl, text, len);
}

/* log_thread - drain the buffer to the sink until stopped and empty */
static void *log_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lg.mu);
    for (;;) {
        while (lg.len == 0 && lg.dropped == 0 && !lg.stop)
            pthread_cond_wait(&lg.cond, &lg.mu);
        if (lg.len == 0 && lg.dropped == 0 && lg.stop)
            break;
        char *b = lg.buf;
        size_t n = lg.len;
        uint64_t dropped = lg.dropped;
        lg.buf = lg.spare;
        lg.spare = b;
        lg.len = 0;
        lg.dropped = 0;
        pthread_mutex_unlock(&lg.mu);

        for (size_t i = 0; i < n;) {
            int lvl = (unsigned char)b[i];
            char *nl = memchr(b + i + 1, '\n', n - i - 1);
            size_t end = nl ? (size_t)(nl - b) : n;
            emit(lg.sink, lvl, b + i + 1, end - i - 1);
            i = end + 1;
        }
        if (dropped) {
            char msg[96];
            int m = snprintf(msg, sizeof(msg), "log: %llu lines dropped: log sink too slow",
                             (unsigned long long)dropped);
            emit(lg.sink, LOG_LVL_WARN, msg, (size_t)m);
        }
        pthread_mutex_lock(&lg.mu);
    }
    pthread_mutex_unlock(&lg.mu);
    return NULL;
}

int log_open(enum log_sink sink, const char *ident, int facility)
{
    if (lg.running)
        return -EALREADY;
    lg.sink = sink;
    lg.ident = xstrdup(ident);
    if (sink == LOG_SINK_SYSLOG)
        openlog(lg.ident, LOG_PID | LOG_NDELAY, facility);
    lg.buf = xmalloc(LOG_BUF_SIZE);
    lg.spare = xmalloc(LOG_BUF_SIZE);
    lg.len = 0;
    lg.stop = false;
    int rc = pthread_create(&lg.thread, NULL, log_thread, NULL);
    if (rc != 0) {
        free(lg.buf);
        free(lg.spare);
        lg.buf = lg.spare = NULL;
        return -rc;
    }
    pthread_mutex_lock(&lg.mu);
    lg.running = true;
    pthread_mutex_unlock(&lg.mu);
    return 0;
}

void log_close(void)
{
    pthread_mutex_lock(&lg.mu);
    if (!lg.running) {
        pthread_mutex_unlock(&lg.mu);
        return;
    }
    lg.stop = true;
    pthread_cond_signal(&lg.cond);
    pthread_mutex_unlock(&lg.mu);
    pthread_join(lg.thread, NULL);
    pthread_mutex_lock(&lg.mu);
    lg.running = false;
    pthread_mutex_unlock(&lg.mu);
    if (lg.sink == LOG_SINK_SYSLOG)
        closelog();
    free(lg.buf);
    free(lg.spare);
    free(lg.ident);
    lg.buf = lg.spare = lg.ident = NULL;
}

/* submit - queue one line for the log thread, or write it directly when none runs */
static void submit(int lvl, const char *text, size_t len)
{
    pthread_mutex_lock(&lg.mu);
    if (!lg.running) {
        pthread_mutex_unlock(&lg.mu);
        stderr_line(lvl, text, len);
        return;
    }
    if (LOG_BUF_SIZE - lg.len < len + 2) {
        lg.dropped++;
        lg.dropped_total++;
    } else {
        bool was_empty = lg.len == 0;
        lg.buf[lg.len] = (char)lvl;
        memcpy(lg.buf + lg.len + 1, text, len);
        lg.buf[lg.len + 1 + len] = '\n';
        lg.len += len + 2;
        if (was_empty)
            pthread_cond_signal(&lg.cond);
    }
    pthread_mutex_unlock(&lg.mu);
}

/* format_line - vsnprintf into out, marking truncation; newlines become spaces */
__attribute__((format(printf, 3, 0))) static size_t format_line(char *out, size_t size, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, size, fmt, ap);
    if (n < 0)
        return 0;
    size_t len = (size_t)n;
    if (len >= size) {
        len = size - 1;
        memcpy(out + len - 3, "...", 3);
    }
    for (size_t i = 0; i < len; i++)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = ' ';
    return len;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    if (!LOG_ENABLED(lvl))
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_line(line, sizeof(line), fmt, ap);
    va_end(ap);
    submit((int)lvl, line, len);
}

void log_panic(const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    int n = snprintf(msg, sizeof(msg), "panic: %s:%d: ", file, line);
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    size_t len = (size_t)n + format_line(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    stderr_line(LOG_LVL_ERROR, msg, len);
    if (lg.sink == LOG_SINK_SYSLOG)
        syslog(LOG_CRIT, "%.*s", (int)len, msg);
    abort();
}

char *log_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < srclen; i++) {
        unsigned char c = (unsigned char)src[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;
        if (o + need + 4 > dstlen) {
            if (dstlen >= 4) {
                memcpy(dst + (o < dstlen - 4 ? o : dstlen - 4), "...", 3);
                o = (o < dstlen - 4 ? o : dstlen - 4) + 3;
            }
            break;
        }
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (dstlen)
        dst[o < dstlen ? o : dstlen - 1] = '\0';
    return dst;
}
