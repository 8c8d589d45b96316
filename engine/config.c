/* engine/config.c - load greyspf.conf into a struct config; see config.h.
 *
 * libinih does the INI grammar; we feed it lines through our own reader so that we know the
 * physical line number of every callback (Debian's inih has no INI_HANDLER_LINENO), can
 * refuse a line inih would silently truncate (its buffer is 200 bytes: 199 bytes of text
 * per line), a NUL byte, an unknown section even when it has no keys, and a syntax error,
 * each with the line it is on. The reader mirrors inih 55's line grammar:
 *   line     = blank / comment / section / pair / continuation
 *   comment  = *WSP (";" / "#") *CHAR
 *   section  = *WSP "[" name "]" *CHAR     ; name ends at the first "]" or inline comment
 *   pair     = *WSP key ("=" / ":") value  ; key ends at the first "=" or ":"
 *   continuation = 1*WSP 1*CHAR            ; after a pair: inih passes it as the same key
 * A section name "override KIND VALUE" opens an override (engine/override.h parses the
 * title; its keys have their own table, override_keys, filled into the override's values).
 * An inline comment starts at a ";" that follows whitespace. Continuation lines (and
 * repeating the key) append to the list keys `listen` and `skip_clients`; for any other key
 * they are an error, as is setting a key twice. The first error stops loading.
 * Thread-safety: no globals (inih's Debian run-time knobs are left alone); loads of different
 * files may run concurrently. */
#include "engine/config.h"
#include "engine/action.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/greylist.h"
#include "engine/greylist_wl.h"
#include "engine/override.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_LISTEN "inet:127.0.0.1:10023"
#define DEFAULT_STATE_DIR "/var/lib/greyspf"
#define MAX_REQUEST_LIMIT (64u * 1024u * 1024u)
#define QUOTE_MAX 96 /* sanitised value in a message, including "..." */

/* Sections */
enum section_id { SEC_NONE = -1, SEC_SERVER = 0, SEC_POLICY, SEC_DNS, SEC_SPF, SEC_GREYLIST,
                  SEC_OVERRIDE /* [override KIND VALUE]: not in section_names */ };
static const char *const section_names[] = {"server", "policy", "dns", "spf", "greylist"};

/* SPF result words in enum spf_result order (engine/spf.h keeps the same order) */
static const char *const spf_words[CONFIG_SPF_RESULTS] = {
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
static const char *const spf_header_words[] = {"none", "received-spf",
                                               "authentication-results", "both"};
#define N_SECTIONS ((int)(sizeof(section_names) / sizeof(section_names[0])))

enum key_kind {
    KIND_LISTEN,   /* listen_spec, appended */
    KIND_MODE,     /* unsigned, octal 0..0777 */
    KIND_NAME,     /* char *, empty -> NULL */
    KIND_ABS_PATH, /* char *, absolute path */
    KIND_UINT,     /* unsigned, decimal in [min, max] */
    KIND_COUNT,    /* size_t, decimal in [min, max] */
    KIND_BYTES,    /* size_t, decimal with k/m suffix in [min, max] */
    KIND_DURATION, /* uint64_t ms in [min, max] */
    KIND_LOGLEVEL, /* int, enum log_level */
    KIND_BOOL,     /* bool */
    KIND_ACTION,   /* char *, action_validate */
    KIND_CIDRS,    /* cidr_set, appended */
    KIND_FORWARDER, /* char *, "ADDR[@PORT]" with a numeric address */
    KIND_STRINGS,  /* char ** + count (the size_t after the pointer), appended */
    KIND_RESULTS,  /* unsigned bit set of SPF result words */
    KIND_SPF_HEADER, /* int, enum config_spf_header */
    KIND_ANCHOR_FILE, /* char *, absolute path, or "none" -> "" */
    KIND_CONTROL_PATH, /* char *, absolute path; empty -> NULL (off) */
    KIND_WL_FILES, /* char ** + count, absolute paths, appended; each file loaded into
                    * greylist.wl (clients or recipients by the key) */
    KIND_GREY_KEY, /* unsigned GREYLIST_KEY_* bits from words client sender recipient */
    KIND_GREY_TEXT, /* char *, reply text with {seconds} {domain} tokens; may be empty */
};

struct key_def {
    enum section_id section;
    const char *name;
    enum key_kind kind;
    size_t off;        /* field in struct config */
    uint64_t min, max; /* KIND_UINT/COUNT/BYTES/DURATION (ms) */
    const char *range; /* the range as operators read it, for messages */
};

#define F(field) offsetof(struct config, field)
static const struct key_def keys[] = {
    {SEC_SERVER, "listen", KIND_LISTEN, 0, 0, 0, NULL},
    {SEC_SERVER, "socket_mode", KIND_MODE, F(socket_mode), 0, 0777, "0000..0777"},
    {SEC_SERVER, "socket_group", KIND_NAME, F(socket_group), 0, 0, NULL},
    {SEC_SERVER, "state_dir", KIND_ABS_PATH, F(state_dir), 0, 0, NULL},
    {SEC_SERVER, "workers", KIND_UINT, F(workers), 1, 256, "1..256"},
    {SEC_SERVER, "io_threads", KIND_UINT, F(io_threads), 1, 64, "1..64"},
    {SEC_SERVER, "max_connections", KIND_UINT, F(max_connections), 1, 1000000, "1..1000000"},
    {SEC_SERVER, "idle_timeout", KIND_DURATION, F(idle_timeout_ms), 0, 86400000, "0..1d"},
    {SEC_SERVER, "drain_timeout", KIND_DURATION, F(drain_timeout_ms), 0, 3600000, "0..1h"},
    {SEC_SERVER, "max_line_length", KIND_BYTES, F(limits.max_line), 1024, 1048576,
     "1024..1048576 bytes"},
    {SEC_SERVER, "max_attributes", KIND_COUNT, F(limits.max_attrs), 8, 1024, "8..1024"},
    {SEC_SERVER, "max_request_size", KIND_BYTES, F(limits.max_request), 1026, MAX_REQUEST_LIMIT,
     "max_line_length+2..67108864 bytes"},
    {SEC_SERVER, "log_level", KIND_LOGLEVEL, F(log_level), 0, 0, NULL},
    {SEC_SERVER, "log_decisions", KIND_BOOL, F(log_decisions), 0, 0, NULL},
    {SEC_SERVER, "metrics", KIND_NAME, F(metrics_listen), 0, 0, NULL},
    {SEC_SERVER, "control", KIND_CONTROL_PATH, F(control_path), 0, 0, NULL},
    {SEC_POLICY, "default_action", KIND_ACTION, F(default_action), 0, 0, NULL},
    {SEC_POLICY, "skip_clients", KIND_CIDRS, F(skip_clients), 0, 0, NULL},
    {SEC_POLICY, "skip_sasl", KIND_BOOL, F(skip_sasl), 0, 0, NULL},
    {SEC_POLICY, "skip_loopback", KIND_BOOL, F(skip_loopback), 0, 0, NULL},
    {SEC_POLICY, "skip_action", KIND_ACTION, F(skip_action), 0, 0, NULL},
    {SEC_DNS, "forwarder", KIND_FORWARDER, F(dns_forwarder), 0, 0, NULL},
    {SEC_DNS, "dnssec", KIND_BOOL, F(dns_dnssec), 0, 0, NULL},
    {SEC_DNS, "trust_anchor_file", KIND_ANCHOR_FILE, F(dns_trust_anchor_file), 0, 0, NULL},
    {SEC_DNS, "trust_anchor", KIND_STRINGS, F(dns_trust_anchors), 0, 0, NULL},
    {SEC_DNS, "timeout", KIND_DURATION, F(dns_timeout_ms), 1000, 60000, "1s..60s"},
    {SEC_DNS, "cache_size", KIND_BYTES, F(dns_cache_bytes), 1u << 20, (uint64_t)4096 << 20,
     "1m..4096m"},
    {SEC_DNS, "no_local_zones", KIND_BOOL, F(dns_no_local_zones), 0, 0, NULL},
    {SEC_SPF, "enabled", KIND_BOOL, F(spf_enabled), 0, 0, NULL},
    {SEC_SPF, "timeout", KIND_DURATION, F(spf_timeout_ms), 1000, 90000, "1s..90s"},
    {SEC_SPF, "helo_check", KIND_BOOL, F(spf_helo_check), 0, 0, NULL},
    {SEC_SPF, "mail_from_reject", KIND_RESULTS, F(spf_mail_from_reject), 0, 0, NULL},
    {SEC_SPF, "mail_from_defer", KIND_RESULTS, F(spf_mail_from_defer), 0, 0, NULL},
    {SEC_SPF, "mail_from_accept", KIND_RESULTS, F(spf_mail_from_accept), 0, 0, NULL},
    {SEC_SPF, "helo_reject", KIND_RESULTS, F(spf_helo_reject), 0, 0, NULL},
    {SEC_SPF, "helo_defer", KIND_RESULTS, F(spf_helo_defer), 0, 0, NULL},
    {SEC_SPF, "helo_accept", KIND_RESULTS, F(spf_helo_accept), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_none", KIND_ACTION, F(spf_mail_from_action[0]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_neutral", KIND_ACTION, F(spf_mail_from_action[1]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_pass", KIND_ACTION, F(spf_mail_from_action[2]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_fail", KIND_ACTION, F(spf_mail_from_action[3]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_softfail", KIND_ACTION, F(spf_mail_from_action[4]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_temperror", KIND_ACTION, F(spf_mail_from_action[5]), 0, 0, NULL},
    {SEC_SPF, "mail_from_action_permerror", KIND_ACTION, F(spf_mail_from_action[6]), 0, 0, NULL},
    {SEC_SPF, "helo_action_none", KIND_ACTION, F(spf_helo_action[0]), 0, 0, NULL},
    {SEC_SPF, "helo_action_neutral", KIND_ACTION, F(spf_helo_action[1]), 0, 0, NULL},
    {SEC_SPF, "helo_action_pass", KIND_ACTION, F(spf_helo_action[2]), 0, 0, NULL},
    {SEC_SPF, "helo_action_fail", KIND_ACTION, F(spf_helo_action[3]), 0, 0, NULL},
    {SEC_SPF, "helo_action_softfail", KIND_ACTION, F(spf_helo_action[4]), 0, 0, NULL},
    {SEC_SPF, "helo_action_temperror", KIND_ACTION, F(spf_helo_action[5]), 0, 0, NULL},
    {SEC_SPF, "helo_action_permerror", KIND_ACTION, F(spf_helo_action[6]), 0, 0, NULL},
    {SEC_SPF, "reject_only_secure", KIND_BOOL, F(spf_reject_only_secure), 0, 0, NULL},
    {SEC_SPF, "header", KIND_SPF_HEADER, F(spf_header), 0, 0, NULL},
    {SEC_SPF, "authserv_id", KIND_NAME, F(spf_authserv_id), 0, 0, NULL},
    {SEC_SPF, "receiver", KIND_NAME, F(spf_receiver), 0, 0, NULL},
    {SEC_SPF, "cache_size", KIND_COUNT, F(spf_cache_entries), 0, 10000000, "0..10000000"},
    {SEC_SPF, "cache_max_ttl", KIND_DURATION, F(spf_cache_max_ttl_ms), 0, 86400000, "0..1d"},
    {SEC_GREYLIST, "enabled", KIND_BOOL, F(greylist.enabled), 0, 0, NULL},
    {SEC_GREYLIST, "delay", KIND_DURATION, F(greylist.delay_ms), 0, 86400000, "0..1d"},
    {SEC_GREYLIST, "retry_window", KIND_DURATION, F(greylist.retry_window_ms), 1000,
     30ull * 86400000, "1s..30d"},
    {SEC_GREYLIST, "max_age", KIND_DURATION, F(greylist.max_age_ms), 60000, 1000ull * 86400000,
     "1m..1000d"},
    {SEC_GREYLIST, "key", KIND_GREY_KEY, F(greylist.key), 0, 0, NULL},
    {SEC_GREYLIST, "client_prefix_v4", KIND_UINT, F(greylist.prefix_v4), 0, 32, "0..32"},
    {SEC_GREYLIST, "client_prefix_v6", KIND_UINT, F(greylist.prefix_v6), 0, 128, "0..128"},
    {SEC_GREYLIST, "key_by_spf_domain", KIND_BOOL, F(greylist.key_by_spf_domain), 0, 0, NULL},
    {SEC_GREYLIST, "normalize_sender", KIND_BOOL, F(greylist.normalize_sender), 0, 0, NULL},
    {SEC_GREYLIST, "auto_whitelist_after", KIND_UINT, F(greylist.auto_whitelist_after), 0,
     1000000, "0..1000000"},
    {SEC_GREYLIST, "whitelist_clients", KIND_WL_FILES, F(greylist.whitelist_clients), 0, 0, NULL},
    {SEC_GREYLIST, "whitelist_recipients", KIND_WL_FILES, F(greylist.whitelist_recipients), 0, 0,
     NULL},
    {SEC_GREYLIST, "action", KIND_ACTION, F(greylist.action), 0, 0, NULL},
    {SEC_GREYLIST, "text", KIND_GREY_TEXT, F(greylist.text), 0, 0, NULL},
    {SEC_GREYLIST, "x_greylist_header", KIND_BOOL, F(greylist.x_greylist_header), 0, 0, NULL},
    {SEC_GREYLIST, "learning", KIND_BOOL, F(greylist.learning), 0, 0, NULL},
    {SEC_GREYLIST, "hash_keys", KIND_BOOL, F(greylist.hash_keys), 0, 0, NULL},
    {SEC_GREYLIST, "sync", KIND_BOOL, F(greylist.sync), 0, 0, NULL},
    {SEC_GREYLIST, "min_free_disk", KIND_BYTES, F(greylist.min_free_disk), 0,
     (uint64_t)1048576 << 20, "0..1048576m"},
};
#undef F
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* [override KIND VALUE] keys, in enum override_key order; offsets into struct
 * override_values */
#define O(field) offsetof(struct override_values, field)
static const struct key_def override_keys[OVERRIDE_KEYS] = {
    {SEC_OVERRIDE, "greylist", KIND_BOOL, O(greylist), 0, 0, NULL},
    {SEC_OVERRIDE, "greylist_delay", KIND_DURATION, O(greylist_delay_ms), 0, 86400000, "0..1d"},
    {SEC_OVERRIDE, "spf", KIND_BOOL, O(spf), 0, 0, NULL},
    {SEC_OVERRIDE, "spf_mail_from_reject", KIND_RESULTS, O(spf_mail_from[OVERRIDE_SET_REJECT]), 0,
     0, NULL},
    {SEC_OVERRIDE, "spf_mail_from_defer", KIND_RESULTS, O(spf_mail_from[OVERRIDE_SET_DEFER]), 0, 0,
     NULL},
    {SEC_OVERRIDE, "spf_mail_from_accept", KIND_RESULTS, O(spf_mail_from[OVERRIDE_SET_ACCEPT]), 0,
     0, NULL},
    {SEC_OVERRIDE, "spf_helo_reject", KIND_RESULTS, O(spf_helo[OVERRIDE_SET_REJECT]), 0, 0, NULL},
    {SEC_OVERRIDE, "spf_helo_defer", KIND_RESULTS, O(spf_helo[OVERRIDE_SET_DEFER]), 0, 0, NULL},
    {SEC_OVERRIDE, "spf_helo_accept", KIND_RESULTS, O(spf_helo[OVERRIDE_SET_ACCEPT]), 0, 0, NULL},
    {SEC_OVERRIDE, "spf_reject_only_secure", KIND_BOOL, O(spf_reject_only_secure), 0, 0, NULL},
    {SEC_OVERRIDE, "action", KIND_ACTION, O(action), 0, 0, NULL},
};
#undef O

struct load_ctx {
    FILE *fp;
    const char *path;
    struct config *c;
    struct config_error *err;
    unsigned line;             /* physical line last handed to inih, 1-based */
    bool failed;               /* err is filled; the reader ends the stream */
    enum section_id section;   /* current section, SEC_NONE before the first */
    bool have_pair;            /* a pair was seen in this section: indented lines continue it */
    bool cont;                 /* the current line is a continuation */
    unsigned set_line[N_KEYS]; /* line each key was first set on, 0: not set */
    struct override *ovr;      /* SEC_OVERRIDE: the section's override (in c->overrides) */
    const char *ovr_title;     /* SEC_OVERRIDE: "override KIND VALUE" for messages */
};

/* vfail - fill err with "path:line: [section] key: " + fmt (parts omitted when 0/NULL) */
__attribute__((format(printf, 4, 0))) static void
vfail(struct load_ctx *lc, unsigned line, const char *key, const char *fmt, va_list ap)
{
    if (lc->failed)
        return;
    lc->failed = true;
    char *m = lc->err->msg;
    size_t size = sizeof(lc->err->msg), n;
    if (line)
        n = (size_t)snprintf(m, size, "%s:%u: ", lc->path, line);
    else
        n = (size_t)snprintf(m, size, "%s: ", lc->path);
    if (n < size && key && lc->section == SEC_OVERRIDE) {
        char t[OVERRIDE_VALUE_MAX + 32];
        n += (size_t)snprintf(m + n, size - n, "[%s] %s: ",
                              log_sanitize(t, sizeof(t), lc->ovr_title, strlen(lc->ovr_title)),
                              key);
    } else if (n < size && key && lc->section != SEC_NONE)
        n += (size_t)snprintf(m + n, size - n, "[%s] %s: ", section_names[lc->section], key);
    else if (n < size && key)
        n += (size_t)snprintf(m + n, size - n, "%s: ", key);
    if (n < size)
        vsnprintf(m + n, size - n, fmt, ap);
}

/* fail_at - error about line (0: the file as a whole) */
__attribute__((format(printf, 3, 4))) static void fail_at(struct load_ctx *lc, unsigned line,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(lc, line, NULL, fmt, ap);
    va_end(ap);
}

/* fail_line - error about the current line as a whole */
__attribute__((format(printf, 2, 3))) static void fail_line(struct load_ctx *lc, const char *fmt,
                                                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(lc, lc->line, NULL, fmt, ap);
    va_end(ap);
}

/* fail_key - error about key on line (0: the current line) */
__attribute__((format(printf, 4, 5))) static void fail_key(struct load_ctx *lc, unsigned line,
                                                           const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(lc, line ? line : lc->line, key, fmt, ap);
    va_end(ap);
}

/* quote - value sanitised for a message */
static const char *quote(char buf[QUOTE_MAX], const char *s)
{
    return log_sanitize(buf, QUOTE_MAX, s, strlen(s));
}

/* parse_u64 - decimal digits only; 0, -1 (not a number) or -2 (overflow) */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int config_parse_duration(const char *s, uint64_t *out_ms)
{
    if (!s)
        return -1;
    size_t n = strspn(s, "0123456789");
    uint64_t v, unit_s = 1;
    if (parse_u64(s, n, &v) != 0)
        return -1;
    switch (s[n]) {
    case '\0':
        break;
    case 's':
        unit_s = 1;
        break;
    case 'm':
        unit_s = 60;
        break;
    case 'h':
        unit_s = 3600;
        break;
    case 'd':
        unit_s = 86400;
        break;
    case 'w':
        unit_s = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (s[n] != '\0' && s[n + 1] != '\0')
        return -1;
    uint64_t mult = unit_s * 1000;
    if (v > UINT64_MAX / mult)
        return -1;
    *out_ms = v * mult;
    return 0;
}

int config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    if (!s)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* parse_bytes - digits with an optional k/K (KiB) or m/M (MiB) suffix; 0, -1 or -2 */
static int parse_bytes(const char *s, uint64_t *out)
{
    size_t n = strspn(s, "0123456789");
    uint64_t v, mult = 1;
    int r = parse_u64(s, n, &v);
    if (r != 0)
        return r;
    if (s[n] == 'k' || s[n] == 'K')
        mult = 1024;
    else if (s[n] == 'm' || s[n] == 'M')
        mult = 1024 * 1024;
    else if (s[n] != '\0')
        return -1;
    if (s[n] != '\0' && s[n + 1] != '\0')
        return -1;
    if (v > UINT64_MAX / mult)
        return -2;
    *out = v * mult;
    return 0;
}

/* listen_spec_free - free the strings of one spec */
static void listen_spec_free(struct listen_spec *l)
{
    free(l->host);
    free(l->port);
    free(l->path);
    free(l->text);
}

/* parse_port - "1".."65535", no sign, no leading zero */
static bool parse_port(const char *p)
{
    uint64_t v;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || p[0] == '0' || parse_u64(p, n, &v) != 0)
        return false;
    return v >= 1 && v <= 65535;
}

/* numeric_host - copy s[0..n) into host (NUL-terminated) if it is a numeric address of af */
static bool numeric_host(const char *s, size_t n, int af, char *host, size_t size)
{
    unsigned char b[16];
    if (n >= size)
        return false;
    memcpy(host, s, n);
    host[n] = '\0';
    return inet_pton(af, host, b) == 1;
}

/* listen_parse - one listen value into *out (strings allocated on success only).
 * Returns 0, or -1 with the problem in why. */
static int listen_parse(const char *v, struct listen_spec *out, char *why, size_t whylen)
{
    char host[INET6_ADDRSTRLEN + 8], q[QUOTE_MAX];
    const char *port;
    size_t hlen;
    bool any = false;
    memset(out, 0, sizeof(*out));
    if (strncmp(v, "unix:", 5) == 0) {
        const char *path = v + 5;
        if (path[0] != '/') {
            snprintf(why, whylen,
                     "unix socket path must be absolute (e.g. "
                     "unix:/var/spool/postfix/greyspf/policy.sock)");
            return -1;
        }
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(why, whylen, "unix socket path longer than %zu bytes",
                     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return -1;
        }
        out->kind = LISTEN_UNIX;
        out->path = xstrdup(path);
        out->text = xstrdup(v);
        return 0;
    }
    if (strncmp(v, "inet:", 5) != 0) {
        snprintf(why, whylen, "expected inet:HOST:PORT or unix:/path");
        return -1;
    }
    const char *rest = v + 5;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen, "expected inet:[IPV6]:PORT");
            return -1;
        }
        hlen = (size_t)(close - rest - 1);
        port = close + 2;
        if (!numeric_host(rest + 1, hlen, AF_INET6, host, sizeof(host))) {
            snprintf(why, whylen, "\"%s\" is not a numeric IPv6 address",
                     log_sanitize(q, sizeof(q), rest + 1, hlen));
            return -1;
        }
    } else {
        const char *colon = strrchr(rest, ':');
        if (!colon) {
            snprintf(why, whylen, "expected inet:HOST:PORT");
            return -1;
        }
        hlen = (size_t)(colon - rest);
        port = colon + 1;
        if (hlen == 0 || (hlen == 1 && rest[0] == '*')) {
            any = true;
        } else if (memchr(rest, ':', hlen)) {
            snprintf(why, whylen, "an IPv6 address needs brackets: inet:[ADDR]:PORT");
            return -1;
        } else if (!numeric_host(rest, hlen, AF_INET, host, sizeof(host))) {
            snprintf(why, whylen,
                     "host \"%s\" is not a numeric IPv4 address, [IPv6 address], * or empty",
                     log_sanitize(q, sizeof(q), rest, hlen));
            return -1;
        }
    }
    if (!parse_port(port)) {
        snprintf(why, whylen, "port \"%s\" is not a number 1..65535", quote(q, port));
        return -1;
    }
    out->kind = LISTEN_INET;
    out->host = any ? NULL : xstrdup(host);
    out->port = xstrdup(port);
    out->text = xstrdup(v);
    return 0;
}

/* listen_add - append a parsed spec */
static void listen_add(struct config *c, const struct listen_spec *l)
{
    c->listen = xrealloc(c->listen, (c->n_listen + 1) * sizeof(*c->listen));
    c->listen[c->n_listen++] = *l;
}

/* set_cidrs - append every whitespace/comma-separated item of v to the set */
static int set_cidrs(struct load_ctx *lc, const struct key_def *k, struct cidr_set *set,
                     const char *v)
{
    static const char seps[] = " \t,";
    char q[QUOTE_MAX];
    unsigned item = 0;
    for (const char *p = v + strspn(v, seps); *p; p += strspn(p, seps)) {
        size_t n = strcspn(p, seps);
        struct cidr c;
        item++;
        if (!cidr_parse(p, n, false, &c)) {
            if (cidr_parse(p, n, true, &c)) {
                char fixed[CIDR_TEXT_MAX];
                fail_key(lc, 0, k->name, "item %u \"%s\": host bits set (did you mean %s?)", item,
                         log_sanitize(q, sizeof(q), p, n), cidr_format(&c, fixed, sizeof(fixed)));
            } else {
                fail_key(lc, 0, k->name, "item %u \"%s\": not an IP address or CIDR", item,
                         log_sanitize(q, sizeof(q), p, n));
            }
            return -1;
        }
        cidr_set_add(set, &c);
        p += n;
    }
    return 0;
}

/* has_control - any byte below 0x20 or 0x7f */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* forwarder_valid - "ADDR" or "ADDR@PORT", ADDR a numeric IPv4/IPv6 address */
static int forwarder_valid(const char *v, char *why, size_t whylen)
{
    const char *at = strchr(v, '@');
    size_t alen = at ? (size_t)(at - v) : strlen(v);
    char host[INET6_ADDRSTRLEN];
    unsigned char buf[16];
    if (alen == 0 || alen >= sizeof(host)) {
        snprintf(why, whylen, "not ADDR[@PORT]");
        return -1;
    }
    memcpy(host, v, alen);
    host[alen] = '\0';
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
        snprintf(why, whylen, "%s is not a numeric IPv4 or IPv6 address", host);
        return -1;
    }
    if (at && !parse_port(at + 1)) {
        snprintf(why, whylen, "port \"%s\" is not 1..65535", at + 1);
        return -1;
    }
    return 0;
}

/* set_results - a list of SPF result words into a bit set */
static int set_results(struct load_ctx *lc, const struct key_def *k, unsigned *set,
                       const char *v)
{
    static const char seps[] = " \t,";
    char q[QUOTE_MAX];
    *set = 0;
    for (const char *p = v + strspn(v, seps); *p; p += strspn(p, seps)) {
        size_t n = strcspn(p, seps);
        int r = -1;
        for (int i = 0; i < CONFIG_SPF_RESULTS; i++)
            if (strlen(spf_words[i]) == n && strncasecmp(p, spf_words[i], n) == 0)
                r = i;
        if (r < 0) {
            fail_key(lc, 0, k->name,
                     "\"%s\" is not an SPF result (none neutral pass fail softfail temperror "
                     "permerror)",
                     log_sanitize(q, sizeof(q), p, n));
            return -1;
        }
        *set |= 1u << r;
        p += n;
    }
    return 0;
}

/* set_wl_files - append each whitespace-separated absolute path of v and load the file into
 * greylist.wl (the key says which list) */
static int set_wl_files(struct load_ctx *lc, const struct key_def *k, char ***list, const char *v)
{
    static const char seps[] = " \t";
    char q[QUOTE_MAX], why[CONFIG_ERR_MAX];
    size_t *n = (size_t *)((char *)list + sizeof(char **));
    enum greylist_wl_kind kind = strcmp(k->name, "whitelist_clients") == 0
                                     ? GREYLIST_WL_CLIENTS
                                     : GREYLIST_WL_RECIPIENTS;
    for (const char *p = v + strspn(v, seps); *p; p += strspn(p, seps)) {
        size_t len = strcspn(p, seps);
        char *path = xmalloc(len + 1);
        memcpy(path, p, len);
        path[len] = '\0';
        p += len;
        if (path[0] != '/' || has_control(path)) {
            fail_key(lc, 0, k->name, "\"%s\" is not an absolute path", quote(q, path));
            free(path);
            return -1;
        }
        *list = xrealloc(*list, (*n + 2) * sizeof(char *));
        (*list)[(*n)++] = path;
        (*list)[*n] = NULL;
        if (greylist_wl_load(lc->c->greylist.wl, kind, path, why, sizeof(why)) != 0) {
            fail_key(lc, 0, k->name, "%s", why);
            return -1;
        }
    }
    return 0;
}

/* set_grey_key - the key parts: words client, sender, recipient (at least one) */
static int set_grey_key(struct load_ctx *lc, const struct key_def *k, unsigned *set,
                        const char *v)
{
    static const char seps[] = " \t,";
    static const char *const words[] = {"client", "sender", "recipient"};
    char q[QUOTE_MAX];
    *set = 0;
    for (const char *p = v + strspn(v, seps); *p; p += strspn(p, seps)) {
        size_t n = strcspn(p, seps);
        int r = -1;
        for (int i = 0; i < 3; i++)
            if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
                r = i;
        if (r < 0) {
            fail_key(lc, 0, k->name, "\"%s\" is not a key part (client sender recipient)",
                     log_sanitize(q, sizeof(q), p, n));
            return -1;
        }
        *set |= 1u << r;
        p += n;
    }
    if (!*set) {
        fail_key(lc, 0, k->name, "empty: name at least one of client sender recipient");
        return -1;
    }
    return 0;
}

/* set_value - parse v for key k into the struct at base (lc->c, or an override's values);
 * 0 or -1 (err filled) */
static int set_value(struct load_ctx *lc, const struct key_def *k, void *base, const char *v)
{
    void *field = (char *)base + k->off;
    char q[QUOTE_MAX], why[256];
    uint64_t u;
    int r;
    switch (k->kind) {
    case KIND_LISTEN: {
        struct listen_spec l;
        if (listen_parse(v, &l, why, sizeof(why)) != 0) {
            fail_key(lc, 0, k->name, "\"%s\": %s", quote(q, v), why);
            return -1;
        }
        listen_add(lc->c, &l);
        return 0;
    }
    case KIND_MODE: {
        size_t n = strlen(v);
        if (n == 0 || n > 4 || strspn(v, "01234567") != n) {
            fail_key(lc, 0, k->name, "\"%s\" is not an octal mode (%s)", quote(q, v), k->range);
            return -1;
        }
        *(unsigned *)field = (unsigned)strtoul(v, NULL, 8);
        if (*(unsigned *)field > k->max) {
            fail_key(lc, 0, k->name, "%s is out of range (%s)", quote(q, v), k->range);
            return -1;
        }
        return 0;
    }
    case KIND_NAME: {
        for (const char *p = v; *p; p++) {
            if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
                fail_key(lc, 0, k->name, "\"%s\": spaces and control characters not allowed",
                         quote(q, v));
                return -1;
            }
        }
        char **s = field;
        free(*s);
        *s = *v ? xstrdup(v) : NULL;
        return 0;
    }
    case KIND_CONTROL_PATH:
        if (!*v) {
            free(*(char **)field);
            *(char **)field = NULL;
            return 0;
        }
        if (v[0] != '/' || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            fail_key(lc, 0, k->name, "\"%s\" is not an absolute path of at most %zu bytes",
                     quote(q, v), sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return 0;
    case KIND_ANCHOR_FILE:
        if (strcmp(v, "none") == 0) {
            free(*(char **)field);
            *(char **)field = xstrdup("");
            return 0;
        }
        __attribute__((fallthrough)); /* otherwise an absolute path */
    case KIND_ABS_PATH: {
        if (v[0] != '/') {
            fail_key(lc, 0, k->name, "\"%s\" is not an absolute path", quote(q, v));
            return -1;
        }
        char **s = field;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case KIND_UINT:
    case KIND_COUNT:
    case KIND_BYTES:
        r = k->kind == KIND_BYTES ? parse_bytes(v, &u) : parse_u64(v, strlen(v), &u);
        if (r == -1) {
            fail_key(lc, 0, k->name, "\"%s\" is not a %s (%s)", quote(q, v),
                     k->kind == KIND_BYTES ? "size" : "number", k->range);
            return -1;
        }
        if (r == -2 || u < k->min || u > k->max) {
            fail_key(lc, 0, k->name, "%s is out of range (%s)", quote(q, v), k->range);
            return -1;
        }
        if (k->kind == KIND_UINT)
            *(unsigned *)field = (unsigned)u;
        else
            *(size_t *)field = (size_t)u;
        return 0;
    case KIND_DURATION:
        if (config_parse_duration(v, &u) != 0) {
            fail_key(lc, 0, k->name,
                     "\"%s\" is not a duration (digits and an optional unit s, m, h, d or w; %s)",
                     quote(q, v), k->range);
            return -1;
        }
        if (u < k->min || u > k->max) {
            fail_key(lc, 0, k->name, "%s is out of range (%s)", quote(q, v), k->range);
            return -1;
        }
        *(uint64_t *)field = u;
        return 0;
    case KIND_LOGLEVEL:
        r = log_level_parse(v);
        if (r < 0) {
            fail_key(lc, 0, k->name, "\"%s\" is not a log level (error, warning, info, debug)",
                     quote(q, v));
            return -1;
        }
        *(int *)field = r;
        return 0;
    case KIND_BOOL:
        if (config_parse_bool(v, (bool *)field) != 0) {
            fail_key(lc, 0, k->name, "\"%s\" is not a boolean (yes/no/true/false/on/off/1/0)",
                     quote(q, v));
            return -1;
        }
        return 0;
    case KIND_ACTION: {
        if (action_validate(v, why, sizeof(why)) != 0) {
            fail_key(lc, 0, k->name, "\"%s\": %s", quote(q, v), why);
            return -1;
        }
        char **s = field;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case KIND_CIDRS:
        return set_cidrs(lc, k, field, v);
    case KIND_FORWARDER:
        if (forwarder_valid(v, why, sizeof(why)) != 0) {
            fail_key(lc, 0, k->name, "\"%s\": %s", quote(q, v), why);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return 0;
    case KIND_STRINGS: {
        if (!*v || has_control(v)) {
            fail_key(lc, 0, k->name, "\"%s\": empty, or control characters", quote(q, v));
            return -1;
        }
        char ***list = field;
        size_t *n = (size_t *)((char *)field + sizeof(char **));
        *list = xrealloc(*list, (*n + 2) * sizeof(char *));
        (*list)[(*n)++] = xstrdup(v);
        (*list)[*n] = NULL;
        return 0;
    }
    case KIND_RESULTS:
        return set_results(lc, k, field, v);
    case KIND_SPF_HEADER:
        for (size_t i = 0; i < sizeof(spf_header_words) / sizeof(spf_header_words[0]); i++) {
            if (strcasecmp(v, spf_header_words[i]) == 0) {
                *(int *)field = (int)i;
                return 0;
            }
        }
        fail_key(lc, 0, k->name,
                 "\"%s\": one of received-spf, authentication-results, both, none", quote(q, v));
        return -1;
    case KIND_WL_FILES:
        return set_wl_files(lc, k, field, v);
    case KIND_GREY_KEY:
        return set_grey_key(lc, k, field, v);
    case KIND_GREY_TEXT:
        if (greylist_text_check(v, why, sizeof(why)) != 0) {
            fail_key(lc, 0, k->name, "\"%s\": %s", quote(q, v), why);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = xstrdup(v);
        return 0;
    }
    PANIC("config: key kind %d", (int)k->kind);
}

/* strip_inline_comment - cut s at a ';' that follows whitespace, then trailing space */
static void strip_inline_comment(char *s)
{
    bool was_space = false;
    for (char *p = s; *p; p++) {
        if (was_space && *p == ';') {
            *p = '\0';
            break;
        }
        was_space = isspace((unsigned char)*p) != 0;
    }
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* find_key - the key named name in section, or NULL */
static const struct key_def *find_key(enum section_id section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].section == section && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* on_override_pair - a key = value in an [override ...] section; inih's return convention */
static int on_override_pair(struct load_ctx *lc, const char *name, const char *value)
{
    char q[QUOTE_MAX];
    struct override *o = lc->ovr;
    const struct key_def *k = NULL;
    for (size_t i = 0; i < OVERRIDE_KEYS; i++)
        if (strcmp(override_keys[i].name, name) == 0)
            k = &override_keys[i];
    if (!k) {
        fail_key(lc, 0, quote(q, name),
                 "unknown key (an override sets greylist, greylist_delay, spf, spf_mail_from_*, "
                 "spf_helo_*, spf_reject_only_secure or action)");
        return 0;
    }
    unsigned ki = (unsigned)(k - override_keys);
    if (lc->cont) {
        fail_key(lc, 0, k->name, "indented line continues the value; override keys take one line");
        return 0;
    }
    if (o->key_line[ki]) {
        fail_key(lc, 0, k->name, "set twice (first on line %u)", o->key_line[ki]);
        return 0;
    }
    o->key_line[ki] = lc->line;
    if (set_value(lc, k, &o->v, value) != 0)
        return 0;
    o->v.set |= 1u << ki;
    if (k->kind != KIND_RESULTS)
        return 1;
    /* one override's sets of an identity are disjoint, as the global ones are */
    bool helo = ki >= OVERRIDE_KEY_SPF_HELO_REJECT;
    unsigned first = helo ? OVERRIDE_KEY_SPF_HELO_REJECT : OVERRIDE_KEY_SPF_MAIL_FROM_REJECT;
    const unsigned *sets = helo ? o->v.spf_helo : o->v.spf_mail_from;
    for (unsigned j = first; j < first + 3; j++) {
        unsigned both = sets[ki - first] & sets[j - first];
        if (j == ki || !(o->v.set & (1u << j)) || !both)
            continue;
        fail_key(lc, 0, k->name, "%s is also in %s (line %u)", spf_words[__builtin_ctz(both)],
                 override_keys[j].name, o->key_line[j]);
        return 0;
    }
    return 1;
}

/* open_override - a section title "[override KIND VALUE]" (name[0..n)); false: err filled */
static bool open_override(struct load_ctx *lc, const char *name, size_t n)
{
    char t[OVERRIDE_VALUE_MAX + 32], why[CONFIG_ERR_MAX / 2], value[OVERRIDE_VALUE_MAX];
    enum override_kind kind;
    log_sanitize(t, sizeof(t), name, n);
    if (override_title_parse(name, n, &kind, value, sizeof(value), why, sizeof(why)) != 0) {
        fail_line(lc, "[%s]: %s", t, why);
        return false;
    }
    const struct override *dup = NULL;
    struct override *o = override_set_add(lc->c->overrides, kind, value, lc->line, &dup);
    if (!o) {
        fail_line(lc, "[%s]: duplicate of the override on line %u", t, dup->line);
        return false;
    }
    lc->ovr = o;
    lc->ovr_title = o->title;
    lc->section = SEC_OVERRIDE;
    lc->have_pair = false;
    return true;
}

/* on_pair - inih callback for each key = value (and continuation line) */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;
    char q[QUOTE_MAX];
    (void)section; /* the reader tracks the section, unknown ones never get here */
    if (lc->failed)
        return 0;
    if (name[0] == '\0') {
        fail_line(lc, "syntax error: empty key name");
        return 0;
    }
    if (lc->section == SEC_NONE) {
        fail_key(lc, 0, quote(q, name), "key outside any section");
        return 0;
    }
    if (lc->section == SEC_OVERRIDE)
        return on_override_pair(lc, name, value);
    const struct key_def *k = find_key(lc->section, name);
    if (!k) {
        fail_key(lc, 0, quote(q, name), "unknown key");
        return 0;
    }
    size_t ki = (size_t)(k - keys);
    bool list = k->kind == KIND_LISTEN || k->kind == KIND_CIDRS || k->kind == KIND_STRINGS ||
                k->kind == KIND_WL_FILES;
    if (!list && lc->cont) {
        fail_key(lc, 0, k->name,
                 "indented line continues the value; only listen, skip_clients, "
                 "trust_anchor and whitelist_* take more than one line");
        return 0;
    }
    if (!list && lc->set_line[ki]) {
        fail_key(lc, 0, k->name, "set twice (first on line %u)", lc->set_line[ki]);
        return 0;
    }
    if (!lc->set_line[ki])
        lc->set_line[ki] = lc->line;
    int r;
    if (lc->cont) {
        /* inih passes a continuation line without removing its inline comment */
        char *v = xstrdup(value);
        strip_inline_comment(v);
        r = set_value(lc, k, lc->c, v);
        free(v);
    } else {
        r = set_value(lc, k, lc->c, value);
    }
    return r == 0;
}

/* find_chars_or_comment - first char of s in chars, or an inline ';' comment, or the end */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;
    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s) != 0;
        s++;
    }
    return s;
}

/* classify_line - what inih will make of line; sections and syntax errors are ours */
static bool classify_line(struct load_ctx *lc, const char *line)
{
    const char *start = line;
    char q[QUOTE_MAX];
    if (lc->line == 1 && memcmp(start, "\xEF\xBB\xBF", 3) == 0)
        start += 3;
    while (*start && isspace((unsigned char)*start))
        start++;
    lc->cont = false;
    if (*start == '\0' || *start == ';' || *start == '#')
        return true;
    if (lc->have_pair && start > line) {
        lc->cont = true;
        return true;
    }
    if (*start == '[') {
        const char *end = find_chars_or_comment(start + 1, "]");
        if (*end != ']') {
            fail_line(lc, "syntax error: \"[\" without \"]\"");
            return false;
        }
        size_t n = (size_t)(end - start - 1);
        if (n >= 8 && memcmp(start + 1, "override", 8) == 0 &&
            (n == 8 || start[9] == ' ' || start[9] == '\t'))
            return open_override(lc, start + 1, n);
        for (int i = 0; i < N_SECTIONS; i++) {
            if (strlen(section_names[i]) == n && memcmp(section_names[i], start + 1, n) == 0) {
                lc->section = (enum section_id)i;
                lc->have_pair = false;
                return true;
            }
        }
        fail_line(lc, "[%s]: unknown section (known: [server], [policy], [dns], [spf], [greylist])",
                  log_sanitize(q, sizeof(q), start + 1, n));
        return false;
    }
    const char *end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':') {
        fail_line(lc, "syntax error: expected \"key = value\", \"[section]\" or a comment");
        return false;
    }
    lc->have_pair = true;
    return true;
}

/* read_line - inih reader: one physical line per call, refusing what inih would mangle */
static char *read_line(char *str, int num, void *stream)
{
    struct load_ctx *lc = stream;
    if (lc->failed || num < 2)
        return NULL;
    size_t cap = (size_t)num - 1, n = 0;
    bool nul = false;
    int ch;
    while ((ch = getc(lc->fp)) != EOF && ch != '\n') {
        if (ch == '\0')
            nul = true;
        if (n < cap)
            str[n] = (char)ch;
        n++;
    }
    if (ch == EOF && ferror(lc->fp)) {
        fail_at(lc, 0, "cannot read: %s", strerror(errno));
        return NULL;
    }
    if (ch == EOF && n == 0)
        return NULL;
    lc->line++;
    if (n > cap) {
        fail_line(lc, "line too long (%zu bytes, at most %zu; split a list over several lines)", n,
                  cap);
        return NULL;
    }
    if (nul) {
        fail_line(lc, "NUL byte in line");
        return NULL;
    }
    str[n] = '\0';
    return classify_line(lc, str) ? str : NULL;
}

/* config_new - a config with every scalar default, no listen, no file */
static struct config *config_new(const char *path)
{
    struct config *c = xcalloc(1, sizeof(*c));
    c->path = xstrdup(path);
    c->listen = NULL;
    c->n_listen = 0;
    c->socket_mode = 0660;
    c->socket_group = NULL;
    c->state_dir = xstrdup(DEFAULT_STATE_DIR);
    c->workers = 2;
    c->io_threads = 1;
    c->max_connections = 4096;
    c->idle_timeout_ms = 1000u * 1000u;
    c->drain_timeout_ms = 10u * 1000u;
    c->limits.max_line = POLICY_DEFAULT_MAX_LINE;
    c->limits.max_attrs = POLICY_DEFAULT_MAX_ATTRS;
    c->limits.max_request = POLICY_DEFAULT_MAX_REQUEST;
    c->log_level = LOG_LVL_INFO;
    c->log_decisions = true;
    c->metrics_listen = xstrdup("127.0.0.1:9477");
    c->control_path = xstrdup(CONFIG_DEFAULT_CONTROL);
    c->default_action = xstrdup("DUNNO");
    cidr_set_init(&c->skip_clients);
    c->skip_sasl = true;
    c->skip_loopback = true;
    c->skip_action = xstrdup("DUNNO");
    c->dns_dnssec = true;
    c->dns_trust_anchor_file = xstrdup("/usr/share/dns/root.key");
    c->dns_timeout_ms = 5000;
    c->dns_cache_bytes = 48u << 20;
    c->spf_enabled = true;
    c->spf_timeout_ms = 10000;
    c->spf_helo_check = true;
    c->spf_mail_from_reject = 1u << 3;  /* fail */
    c->spf_mail_from_defer = 1u << 5;   /* temperror */
    c->spf_helo_reject = 1u << 3;
    c->spf_helo_defer = 1u << 5;
    c->spf_header = CONFIG_SPF_HEADER_RECEIVED_SPF;
    char host[256];
    if (gethostname(host, sizeof(host)) == 0 && host[0]) {
        host[sizeof(host) - 1] = '\0';
        c->spf_authserv_id = xstrdup(host);
    } else {
        c->spf_authserv_id = xstrdup("localhost");
    }
    c->spf_cache_entries = 100000;
    c->spf_cache_max_ttl_ms = 600000;
    c->greylist.enabled = true;
    c->greylist.delay_ms = 5u * 60u * 1000u;
    c->greylist.retry_window_ms = 2u * 86400u * 1000u;
    c->greylist.max_age_ms = 35ull * 86400u * 1000u;
    c->greylist.min_free_disk = (size_t)256 << 20;
    c->greylist.key = GREYLIST_KEY_ALL;
    c->greylist.prefix_v4 = 24;
    c->greylist.prefix_v6 = 64;
    c->greylist.key_by_spf_domain = true;
    c->greylist.normalize_sender = true;
    c->greylist.auto_whitelist_after = 5;
    c->greylist.wl = greylist_wl_create();
    c->greylist.action = xstrdup(CONFIG_GREYLIST_ACTION);
    c->greylist.text = xstrdup(CONFIG_GREYLIST_TEXT);
    c->overrides = override_set_create();
    return c;
}

/* add_default_listen - the listen used when the file names none */
static void add_default_listen(struct config *c)
{
    struct listen_spec l;
    char why[128];
    if (listen_parse(DEFAULT_LISTEN, &l, why, sizeof(why)) != 0)
        PANIC("config: default listen: %s", why);
    listen_add(c, &l);
}

/* check_results_disjoint - a result may be in one of an identity's sets only */
static void check_results_disjoint(struct load_ctx *lc, const char *ident, unsigned rej,
                                   unsigned def, unsigned acc)
{
    const char *names[3] = {"reject", "defer", "accept"};
    unsigned sets[3] = {rej, def, acc};
    for (int a = 0; a < 3; a++) {
        for (int b = a + 1; b < 3; b++) {
            unsigned both = sets[a] & sets[b];
            if (!both)
                continue;
            /* blame the key the file set (one of them is, or the defaults would clash) */
            char key[32];
            snprintf(key, sizeof(key), "%s_%s", ident, names[b]);
            const struct key_def *k = find_key(SEC_SPF, key);
            int other = a;
            if (!lc->set_line[k - keys]) {
                snprintf(key, sizeof(key), "%s_%s", ident, names[a]);
                k = find_key(SEC_SPF, key);
                other = b;
            }
            lc->section = SEC_SPF;
            int r = __builtin_ctz(both);
            fail_key(lc, lc->set_line[k - keys], k->name, "%s is also in %s_%s", spf_words[r],
                     ident, names[other]);
            return;
        }
    }
}

/* check_greylist - [greylist] constraints between keys */
static void check_greylist(struct load_ctx *lc)
{
    const struct config_greylist *g = &lc->c->greylist;
    const struct key_def *win = find_key(SEC_GREYLIST, "retry_window");
    const struct key_def *delay = find_key(SEC_GREYLIST, "delay");
    unsigned win_line = lc->set_line[win - keys];
    if (g->retry_window_ms <= g->delay_ms) {
        lc->section = SEC_GREYLIST;
        if (win_line)
            fail_key(lc, win_line, win->name, "must be longer than delay");
        else
            fail_key(lc, lc->set_line[delay - keys], delay->name,
                     "must be shorter than retry_window (2d by default)");
        return;
    }
    /* the reply as it will be sent, with sample values */
    char text[GREYLIST_TEXT_MAX + 300], reply[ACTION_TEXT_MAX + 600], why[256];
    greylist_text_expand(g->text, 300, "example.com", 11, text, sizeof(text));
    snprintf(reply, sizeof(reply), "%s%s%s", g->action, *text ? " " : "", text);
    const struct key_def *act = find_key(SEC_GREYLIST, "action");
    const struct key_def *txt = find_key(SEC_GREYLIST, "text");
    const struct key_def *blame = lc->set_line[txt - keys] ? txt : act;
    unsigned line = lc->set_line[blame - keys];
    lc->section = SEC_GREYLIST;
    if (action_validate(reply, why, sizeof(why)) != 0) {
        fail_key(lc, line, blame->name, "the reply \"%.80s\" is not valid: %s", reply, why);
        return;
    }
    enum action_class cls = action_classify(reply);
    if (cls != ACTION_CLASS_DEFER && cls != ACTION_CLASS_REJECT)
        fail_key(lc, lc->set_line[act - keys], act->name,
                 "\"%s\" does not defer (use DEFER_IF_PERMIT, DEFER or a 4NN code)", g->action);
}

/* check_overrides - [override ...] constraints against the global keys */
static void check_overrides(struct load_ctx *lc)
{
    const struct config *c = lc->c;
    for (size_t i = 0; i < override_set_count(c->overrides) && !lc->failed; i++) {
        const struct override *o = override_set_at(c->overrides, i);
        unsigned line = o->key_line[OVERRIDE_KEY_GREYLIST_DELAY];
        if (line && o->v.greylist_delay_ms >= c->greylist.retry_window_ms) {
            lc->section = SEC_OVERRIDE;
            lc->ovr_title = o->title;
            fail_key(lc, line, override_keys[OVERRIDE_KEY_GREYLIST_DELAY].name,
                     "must be shorter than [greylist] retry_window");
        }
    }
}

/* check_cross - constraints between keys, after the whole file */
static void check_cross(struct load_ctx *lc)
{
    const struct config *c = lc->c;
    check_greylist(lc);
    if (lc->failed)
        return;
    check_overrides(lc);
    if (lc->failed)
        return;
    check_results_disjoint(lc, "mail_from", c->spf_mail_from_reject, c->spf_mail_from_defer,
                           c->spf_mail_from_accept);
    check_results_disjoint(lc, "helo", c->spf_helo_reject, c->spf_helo_defer,
                           c->spf_helo_accept);
    if (lc->failed || c->limits.max_request >= c->limits.max_line + 2)
        return;
    const struct key_def *req = find_key(SEC_SERVER, "max_request_size");
    const struct key_def *line = find_key(SEC_SERVER, "max_line_length");
    unsigned req_line = lc->set_line[req - keys], line_line = lc->set_line[line - keys];
    lc->section = SEC_SERVER;
    if (req_line)
        fail_key(lc, req_line, req->name, "%zu is less than max_line_length + 2 (%zu)",
                 c->limits.max_request, c->limits.max_line + 2);
    else
        fail_key(lc, line_line, line->name,
                 "%zu needs max_request_size >= %zu (it is %zu by default)", c->limits.max_line,
                 c->limits.max_line + 2, c->limits.max_request);
}

struct config *config_load_stream(FILE *fp, const char *name, struct config_error *err)
{
    struct config_error local;
    struct load_ctx lc;
    if (!err)
        err = &local;
    err->msg[0] = '\0';
    memset(&lc, 0, sizeof(lc));
    lc.fp = fp;
    lc.path = name;
    lc.err = err;
    lc.section = SEC_NONE;
    lc.c = config_new(name);

    int r = ini_parse_stream(read_line, &lc, on_pair, &lc);
    if (!lc.failed && r > 0) /* not expected: the reader checks inih's grammar first */
        fail_at(&lc, (unsigned)r, "syntax error");
    else if (!lc.failed && r < 0)
        fail_at(&lc, 0, "cannot parse (inih error %d)", r);
    if (!lc.failed)
        check_cross(&lc);
    if (lc.failed) {
        config_free(lc.c);
        return NULL;
    }
    if (lc.c->n_listen == 0)
        add_default_listen(lc.c);
    return lc.c;
}

struct config *config_load(const char *path, struct config_error *err)
{
    struct config_error local;
    if (!err)
        err = &local;
    if (!path)
        path = CONFIG_DEFAULT_PATH;
    FILE *fp = fopen(path, "re");
    if (!fp) {
        snprintf(err->msg, sizeof(err->msg), "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct config *c = config_load_stream(fp, path, err);
    fclose(fp);
    return c;
}

struct config *config_defaults(void)
{
    struct config *c = config_new("(defaults)");
    add_default_listen(c);
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_listen; i++)
        listen_spec_free(&c->listen[i]);
    free(c->listen);
    free(c->path);
    free(c->socket_group);
    free(c->state_dir);
    free(c->metrics_listen);
    free(c->control_path);
    free(c->default_action);
    free(c->skip_action);
    cidr_set_fini(&c->skip_clients);
    free(c->dns_forwarder);
    free(c->dns_trust_anchor_file);
    for (size_t i = 0; i < c->n_dns_trust_anchors; i++)
        free(c->dns_trust_anchors[i]);
    free(c->dns_trust_anchors);
    for (int i = 0; i < CONFIG_SPF_RESULTS; i++) {
        free(c->spf_mail_from_action[i]);
        free(c->spf_helo_action[i]);
    }
    free(c->spf_authserv_id);
    free(c->spf_receiver);
    for (size_t i = 0; i < c->greylist.n_whitelist_clients; i++)
        free(c->greylist.whitelist_clients[i]);
    free(c->greylist.whitelist_clients);
    for (size_t i = 0; i < c->greylist.n_whitelist_recipients; i++)
        free(c->greylist.whitelist_recipients[i]);
    free(c->greylist.whitelist_recipients);
    greylist_wl_destroy(c->greylist.wl);
    free(c->greylist.action);
    free(c->greylist.text);
    override_set_destroy(c->overrides);
    free(c);
}

bool config_spf_used(const struct config *c)
{
    return c->spf_enabled || override_set_sets(c->overrides, OVERRIDE_KEY_SPF, true);
}

bool config_greylist_used(const struct config *c)
{
    return c->greylist.enabled || override_set_sets(c->overrides, OVERRIDE_KEY_GREYLIST, true);
}
