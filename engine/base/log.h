/* engine/base/log.h - the one log module: levels, syslog or stderr, never blocking callers.
 *
 * Before log_open() (command-line tools, tests) every line goes straight to stderr.
 * After log_open() lines are copied into a bounded buffer under a mutex and written by one
 * log thread, so a slow syslog or a full pipe never stalls an I/O thread or a worker; when the
 * buffer is full lines are dropped and the count is logged later. log_close() flushes.
 * Lines: "module: what happened: detail", no trailing newline, at most LOG_LINE_MAX bytes.
 * Untrusted text goes through log_sanitize() first. */
#ifndef GREYSPF_BASE_LOG_H
#define GREYSPF_BASE_LOG_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum log_sink { LOG_SINK_STDERR, LOG_SINK_SYSLOG };

#define LOG_LINE_MAX 2048

extern atomic_int log_level_g; /* read relaxed by LOG_ENABLED */

#define LOG_ENABLED(lvl) ((int)(lvl) <= atomic_load_explicit(&log_level_g, memory_order_relaxed))

/* log_open - start the log thread writing to sink; ident is the syslog tag (copied).
 * facility is a syslog facility (LOG_MAIL). Returns 0 or -errno. Call once. */
int log_open(enum log_sink sink, const char *ident, int facility);
/* log_close - flush everything queued and stop the log thread; back to direct stderr */
void log_close(void);
void log_set_level(enum log_level lvl);
/* log_level_parse - "error" "warn" "info" "debug" -> level, or -1 */
int log_level_parse(const char *s);
/* log_dropped - lines dropped so far because the buffer was full */
uint64_t log_dropped(void);

void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void log_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)                                                                              \
    do {                                                                                           \
        if (LOG_ENABLED(LOG_LVL_WARN))                                                             \
            log_write(LOG_LVL_WARN, __VA_ARGS__);                                                  \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (LOG_ENABLED(LOG_LVL_INFO))                                                             \
            log_write(LOG_LVL_INFO, __VA_ARGS__);                                                  \
    } while (0)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (LOG_ENABLED(LOG_LVL_DEBUG))                                                            \
            log_write(LOG_LVL_DEBUG, __VA_ARGS__);                                                 \
    } while (0)
/* PANIC - a broken invariant (a bug, never input): log file:line and abort */
#define PANIC(...) log_panic(__FILE__, __LINE__, __VA_ARGS__)

/* log_sanitize - copy src[0..srclen) into dst as printable ASCII: bytes outside 0x20..0x7e
 * become \xNN; truncated with "..." to fit dstlen (>= 4). Returns dst. */
char *log_sanitize(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
