/* tests/unit/engine/test_config.c - greyspf.conf loading: every key good and bad, errors with
 * exact file:line text, listen specs, durations, booleans, the shipped example configs.
 * Files are written under a mkdtemp directory; nothing reads /etc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/action.h"
#include "engine/base/log.h"
#include "engine/config.h"
#include "engine/greylist.h"
#include "engine/greylist_wl.h"
#include "engine/override.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[256];
static unsigned file_seq;

/* write_file - write len bytes (0: strlen) of text to a new file in tmpdir; path in out */
static void write_file(const char *text, size_t len, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/c%u.conf", tmpdir, file_seq++);
    FILE *f = fopen(out, "w");
    if (!f)
        fail_msg("cannot create %s: %s", out, strerror(errno));
    size_t n = len ? len : strlen(text);
    if (fwrite(text, 1, n, f) != n || fclose(f) != 0)
        fail_msg("cannot write %s", out);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/greyspf-test-config-XXXXXX", base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char path[512];
    for (unsigned i = 0; i < file_seq; i++) {
        snprintf(path, sizeof(path), "%s/c%u.conf", tmpdir, i);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/dir", tmpdir);
    rmdir(path);
    return rmdir(tmpdir);
}

/* ---- defaults ---- */

static void check_defaults(const struct config *c)
{
    assert_int_equal(c->n_listen, 1);
    assert_int_equal(c->listen[0].kind, LISTEN_INET);
    assert_string_equal(c->listen[0].host, "127.0.0.1");
    assert_string_equal(c->listen[0].port, "10023");
    assert_string_equal(c->listen[0].text, "inet:127.0.0.1:10023");
    assert_null(c->listen[0].path);
    assert_int_equal(c->socket_mode, 0660);
    assert_null(c->socket_group);
    assert_string_equal(c->state_dir, "/var/lib/greyspf");
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->io_threads, 1);
    assert_int_equal(c->max_connections, 4096);
    assert_int_equal(c->idle_timeout_ms, 1000000);
    assert_int_equal(c->drain_timeout_ms, 10000);
    assert_int_equal(c->limits.max_line, POLICY_DEFAULT_MAX_LINE);
    assert_int_equal(c->limits.max_attrs, POLICY_DEFAULT_MAX_ATTRS);
    assert_int_equal(c->limits.max_request, POLICY_DEFAULT_MAX_REQUEST);
    assert_int_equal(c->log_level, LOG_LVL_INFO);
    assert_true(c->log_decisions);
    assert_string_equal(c->default_action, "DUNNO");
    assert_int_equal(c->skip_clients.n, 0);
    assert_true(c->skip_sasl);
    assert_true(c->skip_loopback);
    assert_string_equal(c->skip_action, "DUNNO");
}

static void test_defaults(void **state)
{
    (void)state;
    struct config *c = config_defaults();
    assert_non_null(c);
    assert_string_equal(c->path, "(defaults)");
    check_defaults(c);
    assert_true(c->limits.max_request >= c->limits.max_line + 2);
    config_free(c);
    config_free(NULL);
}

static void test_empty_file_is_defaults(void **state)
{
    (void)state;
    char path[512];
    struct config_error err;
    write_file("; nothing here\n\n# nor here\n[server]\n[policy]\n", 0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_string_equal(c->path, path);
    check_defaults(c);
    config_free(c);
}

/* ---- every key, good values ---- */

enum field {
    F_WORKERS,
    F_IO_THREADS,
    F_MAX_CONN,
    F_IDLE,
    F_DRAIN,
    F_MAX_LINE,
    F_MAX_ATTRS,
    F_MAX_REQ,
    F_MODE,
    F_LOG_LEVEL,
    F_LOG_DECISIONS,
    F_SKIP_SASL,
    F_SKIP_LOOPBACK,
};

static uint64_t field_value(const struct config *c, enum field f)
{
    switch (f) {
    case F_WORKERS:
        return c->workers;
    case F_IO_THREADS:
        return c->io_threads;
    case F_MAX_CONN:
        return c->max_connections;
    case F_IDLE:
        return c->idle_timeout_ms;
    case F_DRAIN:
        return c->drain_timeout_ms;
    case F_MAX_LINE:
        return c->limits.max_line;
    case F_MAX_ATTRS:
        return c->limits.max_attrs;
    case F_MAX_REQ:
        return c->limits.max_request;
    case F_MODE:
        return c->socket_mode;
    case F_LOG_LEVEL:
        return (uint64_t)c->log_level;
    case F_LOG_DECISIONS:
        return c->log_decisions;
    case F_SKIP_SASL:
        return c->skip_sasl;
    case F_SKIP_LOOPBACK:
        return c->skip_loopback;
    }
    return UINT64_MAX;
}

struct good_case {
    const char *name;
    const char *text; /* whole file */
    enum field field;
    uint64_t want;
};

static const struct good_case good_cases[] = {
    {"workers min", "[server]\nworkers = 1\n", F_WORKERS, 1},
    {"workers max", "[server]\nworkers = 256\n", F_WORKERS, 256},
    {"workers leading zero is decimal", "[server]\nworkers = 010\n", F_WORKERS, 10},
    {"workers inline comment", "[server]\nworkers = 4 ; four\n", F_WORKERS, 4},
    {"workers colon separator", "[server]\nworkers: 5\n", F_WORKERS, 5},
    {"workers no spaces", "[server]\nworkers=6\n", F_WORKERS, 6},
    {"workers CRLF", "[server]\r\nworkers = 7\r\n", F_WORKERS, 7},
    {"workers no final newline", "[server]\nworkers = 8", F_WORKERS, 8},
    {"workers after BOM", "\xEF\xBB\xBF[server]\nworkers = 9\n", F_WORKERS, 9},
    {"workers indented key first in section", "[server]\n  workers = 3\n", F_WORKERS, 3},
    {"io_threads min", "[server]\nio_threads = 1\n", F_IO_THREADS, 1},
    {"io_threads max", "[server]\nio_threads = 64\n", F_IO_THREADS, 64},
    {"max_connections min", "[server]\nmax_connections = 1\n", F_MAX_CONN, 1},
    {"max_connections max", "[server]\nmax_connections = 1000000\n", F_MAX_CONN, 1000000},
    {"idle_timeout 0 never", "[server]\nidle_timeout = 0\n", F_IDLE, 0},
    {"idle_timeout bare seconds", "[server]\nidle_timeout = 300\n", F_IDLE, 300000},
    {"idle_timeout 5m", "[server]\nidle_timeout = 5m\n", F_IDLE, 300000},
    {"idle_timeout 1d max", "[server]\nidle_timeout = 1d\n", F_IDLE, 86400000},
    {"idle_timeout 24h", "[server]\nidle_timeout = 24h\n", F_IDLE, 86400000},
    {"drain_timeout 0", "[server]\ndrain_timeout = 0s\n", F_DRAIN, 0},
    {"drain_timeout 90s", "[server]\ndrain_timeout = 90s\n", F_DRAIN, 90000},
    {"drain_timeout 1h max", "[server]\ndrain_timeout = 1h\n", F_DRAIN, 3600000},
    {"max_line_length min", "[server]\nmax_line_length = 1024\n", F_MAX_LINE, 1024},
    {"max_line_length 1k", "[server]\nmax_line_length = 1k\n", F_MAX_LINE, 1024},
    {"max_line_length 32K", "[server]\nmax_line_length = 32K\n", F_MAX_LINE, 32768},
    {"max_line_length 1m with request", "[server]\nmax_line_length = 1m\nmax_request_size = 2M\n",
     F_MAX_LINE, 1048576},
    {"max_attributes min", "[server]\nmax_attributes = 8\n", F_MAX_ATTRS, 8},
    {"max_attributes max", "[server]\nmax_attributes = 1024\n", F_MAX_ATTRS, 1024},
    {"max_request_size line+2", "[server]\nmax_line_length = 2048\nmax_request_size = 2050\n",
     F_MAX_REQ, 2050},
    {"max_request_size 64m max", "[server]\nmax_request_size = 64m\n", F_MAX_REQ, 67108864},
    {"max_request_size 128k", "[server]\nmax_request_size = 128k\n", F_MAX_REQ, 131072},
    {"socket_mode 0660", "[server]\nsocket_mode = 0660\n", F_MODE, 0660},
    {"socket_mode 600", "[server]\nsocket_mode = 600\n", F_MODE, 0600},
    {"socket_mode 0", "[server]\nsocket_mode = 0\n", F_MODE, 0},
    {"socket_mode 0777", "[server]\nsocket_mode = 0777\n", F_MODE, 0777},
    {"log_level error", "[server]\nlog_level = error\n", F_LOG_LEVEL, LOG_LVL_ERROR},
    {"log_level warning", "[server]\nlog_level = warning\n", F_LOG_LEVEL, LOG_LVL_WARN},
    {"log_level warn", "[server]\nlog_level = warn\n", F_LOG_LEVEL, LOG_LVL_WARN},
    {"log_level info", "[server]\nlog_level = info\n", F_LOG_LEVEL, LOG_LVL_INFO},
    {"log_level debug", "[server]\nlog_level = debug\n", F_LOG_LEVEL, LOG_LVL_DEBUG},
    {"log_decisions no", "[server]\nlog_decisions = no\n", F_LOG_DECISIONS, 0},
    {"log_decisions Yes", "[server]\nlog_decisions = Yes\n", F_LOG_DECISIONS, 1},
    {"skip_sasl off", "[policy]\nskip_sasl = off\n", F_SKIP_SASL, 0},
    {"skip_sasl 1", "[policy]\nskip_sasl = 1\n", F_SKIP_SASL, 1},
    {"skip_loopback false", "[policy]\nskip_loopback = false\n", F_SKIP_LOOPBACK, 0},
    {"skip_loopback TRUE", "[policy]\nskip_loopback = TRUE\n", F_SKIP_LOOPBACK, 1},
    {"sections in any order, repeated",
     "[policy]\nskip_sasl = no\n[server]\nworkers = 3\n[policy]\nskip_loopback = no\n", F_WORKERS,
     3},
};

static void test_good_values(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(good_cases); i++) {
        const struct good_case *g = &good_cases[i];
        char path[512];
        struct config_error err;
        write_file(g->text, 0, path, sizeof(path));
        struct config *c = config_load(path, &err);
        if (!c) {
            print_error("%s: got error \"%s\", want success\n", g->name, err.msg);
            failures++;
            continue;
        }
        uint64_t got = field_value(c, g->field);
        if (got != g->want) {
            print_error("%s: got %llu, want %llu\n", g->name, (unsigned long long)got,
                        (unsigned long long)g->want);
            failures++;
        }
        if (c->n_listen != 1) {
            print_error("%s: got %zu listen, want 1 (default)\n", g->name, c->n_listen);
            failures++;
        }
        config_free(c);
    }
    assert_int_equal(failures, 0);
}

static void test_string_values(void **state)
{
    (void)state;
    char path[512];
    struct config_error err;
    write_file("[server]\n"
               "socket_group = postfix\n"
               "state_dir = /srv/greyspf/state\n"
               "[policy]\n"
               "default_action = DEFER_IF_PERMIT 4.7.1 Service unavailable, try later\n"
               "skip_action = PREPEND X-Greyspf: skipped\n",
               0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_string_equal(c->socket_group, "postfix");
    assert_string_equal(c->state_dir, "/srv/greyspf/state");
    assert_string_equal(c->default_action, "DEFER_IF_PERMIT 4.7.1 Service unavailable, try later");
    assert_string_equal(c->skip_action, "PREPEND X-Greyspf: skipped");
    config_free(c);

    write_file("[server]\nsocket_group =\n", 0, path, sizeof(path));
    c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_null(c->socket_group); /* empty: the daemon's group */
    config_free(c);
}

static void test_dns_spf_values(void **state)
{
    (void)state;
    char path[512];
    const char *text = "[dns]\n"
                       "forwarder = ::1@5353\n"
                       "dnssec = no\n"
                       "trust_anchor = example. IN DS 1 8 2 ABCD\n"
                       "  test. IN DS 2 8 2 EF01\n"
                       "timeout = 3s\n"
                       "cache_size = 8m\n"
                       "no_local_zones = yes\n"
                       "[spf]\n"
                       "enabled = yes\n"
                       "timeout = 20s\n"
                       "helo_check = no\n"
                       "mail_from_reject = fail, softfail\n"
                       "mail_from_defer = temperror permerror\n"
                       "mail_from_accept = none\n"
                       "helo_reject =\n"
                       "mail_from_action_softfail = 550 5.7.23 go away\n"
                       "reject_only_secure = yes\n"
                       "header = both\n"
                       "authserv_id = mx.example.net\n"
                       "receiver = mx1.example.net\n"
                       "cache_size = 0\n"
                       "cache_max_ttl = 5m\n";
    write_file(text, strlen(text), path, sizeof(path));
    struct config_error err;
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_string_equal(c->dns_forwarder, "::1@5353");
    assert_false(c->dns_dnssec);
    assert_int_equal(c->n_dns_trust_anchors, 2);
    assert_string_equal(c->dns_trust_anchors[1], "test. IN DS 2 8 2 EF01");
    assert_null(c->dns_trust_anchors[2]);
    assert_int_equal(c->dns_timeout_ms, 3000);
    assert_int_equal(c->dns_cache_bytes, 8u << 20);
    assert_true(c->dns_no_local_zones);
    assert_int_equal(c->spf_timeout_ms, 20000);
    assert_false(c->spf_helo_check);
    assert_int_equal(c->spf_mail_from_reject, (1u << 3) | (1u << 4));
    assert_int_equal(c->spf_mail_from_defer, (1u << 5) | (1u << 6));
    assert_int_equal(c->spf_mail_from_accept, 1u << 0);
    assert_int_equal(c->spf_helo_reject, 0);
    assert_string_equal(c->spf_mail_from_action[4], "550 5.7.23 go away");
    assert_null(c->spf_mail_from_action[3]);
    assert_true(c->spf_reject_only_secure);
    assert_int_equal(c->spf_header, CONFIG_SPF_HEADER_BOTH);
    assert_string_equal(c->spf_authserv_id, "mx.example.net");
    assert_string_equal(c->spf_receiver, "mx1.example.net");
    assert_int_equal(c->spf_cache_entries, 0);
    assert_int_equal(c->spf_cache_max_ttl_ms, 300000);
    config_free(c);

    /* defaults: fail rejects, temperror defers, Received-SPF, DNSSEC on, receiver hidden */
    c = config_defaults();
    assert_null(c->dns_forwarder);
    assert_true(c->dns_dnssec);
    assert_true(c->spf_enabled);
    assert_int_equal(c->spf_mail_from_reject, 1u << 3);
    assert_int_equal(c->spf_mail_from_defer, 1u << 5);
    assert_int_equal(c->spf_helo_reject, 1u << 3);
    assert_int_equal(c->spf_header, CONFIG_SPF_HEADER_RECEIVED_SPF);
    assert_null(c->spf_receiver);
    config_free(c);
}

static void test_greylist_values(void **state)
{
    (void)state;
    char wl1[512], wl2[512], wl3[512], bad[512], path[512], text[2048];
    struct config_error err;
    write_file("greylist-ok.example\n/^mx[0-9]+\\.pool\\.example$/\n", 0, wl1, sizeof(wl1));
    write_file("192.0.2.0/24 # a network\n", 0, wl2, sizeof(wl2));
    write_file("postmaster@\n", 0, wl3, sizeof(wl3));
    snprintf(text, sizeof(text),
             "[greylist]\n"
             "enabled = no\n"
             "delay = 90s\n"
             "retry_window = 1d\n"
             "max_age = 60d\n"
             "key = recipient, client\n"
             "client_prefix_v4 = 32\n"
             "client_prefix_v6 = 48\n"
             "key_by_spf_domain = no\n"
             "normalize_sender = no\n"
             "auto_whitelist_after = 0\n"
             "whitelist_clients = %s\n"
             "    %s\n"
             "whitelist_recipients = %s\n"
             "action = 451 4.7.1\n"
             "text = Greylisted for {seconds}s by {domain}\n"
             "x_greylist_header = yes\n"
             "learning = yes\n"
             "hash_keys = yes\n"
             "sync = yes\n",
             wl1, wl2, wl3);
    write_file(text, 0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    const struct config_greylist *g = &c->greylist;
    assert_false(g->enabled);
    assert_int_equal(g->delay_ms, 90000);
    assert_int_equal(g->retry_window_ms, 86400000);
    assert_int_equal(g->max_age_ms, 60ull * 86400000);
    assert_int_equal(g->key, GREYLIST_KEY_RECIPIENT | GREYLIST_KEY_CLIENT);
    assert_int_equal(g->prefix_v4, 32);
    assert_int_equal(g->prefix_v6, 48);
    assert_false(g->key_by_spf_domain);
    assert_false(g->normalize_sender);
    assert_int_equal(g->auto_whitelist_after, 0);
    assert_int_equal(g->n_whitelist_clients, 2);
    assert_string_equal(g->whitelist_clients[1], wl2);
    assert_null(g->whitelist_clients[2]);
    assert_int_equal(g->n_whitelist_recipients, 1);
    assert_int_equal(greylist_wl_count(g->wl, GREYLIST_WL_CLIENTS), 3);
    assert_int_equal(greylist_wl_count(g->wl, GREYLIST_WL_RECIPIENTS), 1);
    assert_true(greylist_wl_match_client(g->wl, NULL, "mx7.pool.example", 16, NULL));
    assert_true(greylist_wl_match_recipient(g->wl, "postmaster@example.net", 22));
    assert_string_equal(g->action, "451 4.7.1");
    assert_string_equal(g->text, "Greylisted for {seconds}s by {domain}");
    assert_true(g->x_greylist_header);
    assert_true(g->learning);
    assert_true(g->hash_keys);
    assert_true(g->sync);
    config_free(c);

    /* an error inside a whitelist file names both files and lines */
    write_file("fine.example\nnot fine\n", 0, bad, sizeof(bad));
    snprintf(text, sizeof(text), "[greylist]\nwhitelist_clients = %s\n", bad);
    write_file(text, 0, path, sizeof(path));
    assert_null(config_load(path, &err));
    char want[2048];
    snprintf(want, sizeof(want),
             "%s:2: [greylist] whitelist_clients: %s:2: \"not fine\": one entry per line, "
             "without spaces",
             path, bad);
    assert_string_equal(err.msg, want);

    /* defaults: on, postgrey's timings, all three key parts, SPF-domain keys, AWL after 5 */
    c = config_defaults();
    g = &c->greylist;
    assert_true(g->enabled);
    assert_int_equal(g->delay_ms, 300000);
    assert_int_equal(g->retry_window_ms, 2 * 86400000ull);
    assert_int_equal(g->max_age_ms, 35 * 86400000ull);
    assert_int_equal(g->key, GREYLIST_KEY_ALL);
    assert_int_equal(g->prefix_v4, 24);
    assert_int_equal(g->prefix_v6, 64);
    assert_true(g->key_by_spf_domain);
    assert_true(g->normalize_sender);
    assert_int_equal(g->auto_whitelist_after, 5);
    assert_int_equal(g->n_whitelist_clients, 0);
    assert_non_null(g->wl);
    assert_string_equal(g->action, "DEFER_IF_PERMIT 4.7.1");
    assert_string_equal(g->text, "Greylisted, please try again in {seconds} seconds");
    assert_false(g->x_greylist_header);
    assert_false(g->learning);
    assert_false(g->hash_keys);
    assert_false(g->sync);
    config_free(c);
}

static void test_skip_clients(void **state)
{
    (void)state;
    char path[512];
    struct config_error err;
    write_file("[policy]\n"
               "skip_clients = 10.0.0.0/8, 192.168.0.0/16 2001:db8::/32\n"
               "skip_clients = 198.51.100.7\n"
               "    203.0.113.0/24 ; a continuation line, with a comment\n"
               "\n"
               "    ::1\n"
               "skip_clients =\n",
               0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_int_equal(c->skip_clients.n, 6);
    static const struct {
        const char *ip;
        bool want;
    } probes[] = {{"10.9.8.7", true},     {"192.168.3.4", true},   {"2001:db8::77", true},
                  {"198.51.100.7", true}, {"198.51.100.8", false}, {"203.0.113.200", true},
                  {"::1", true},          {"8.8.8.8", false}};
    for (size_t i = 0; i < N(probes); i++) {
        struct ip_addr a;
        assert_true(ip_parse(probes[i].ip, strlen(probes[i].ip), &a));
        if (cidr_set_match(&c->skip_clients, &a) != probes[i].want)
            fail_msg("skip_clients match %s: got %d, want %d", probes[i].ip, !probes[i].want,
                     probes[i].want);
    }
    config_free(c);
}

/* ---- listen ---- */

struct listen_case {
    const char *value;
    enum listen_kind kind;
    const char *host, *port, *path;
};

static const struct listen_case listen_good[] = {
    {"inet:127.0.0.1:10023", LISTEN_INET, "127.0.0.1", "10023", NULL},
    {"inet:[::1]:10023", LISTEN_INET, "::1", "10023", NULL},
    {"inet:[2001:db8::25]:1", LISTEN_INET, "2001:db8::25", "1", NULL},
    {"inet:*:10023", LISTEN_INET, NULL, "10023", NULL},
    {"inet::10023", LISTEN_INET, NULL, "10023", NULL},
    {"inet:0.0.0.0:65535", LISTEN_INET, "0.0.0.0", "65535", NULL},
    {"inet:[::]:25", LISTEN_INET, "::", "25", NULL},
    {"unix:/var/spool/postfix/greyspf/policy.sock", LISTEN_UNIX, NULL, NULL,
     "/var/spool/postfix/greyspf/policy.sock"},
};

static void test_listen_good(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(listen_good); i++) {
        const struct listen_case *l = &listen_good[i];
        char text[256], path[512];
        struct config_error err;
        snprintf(text, sizeof(text), "[server]\nlisten = %s\n", l->value);
        write_file(text, 0, path, sizeof(path));
        struct config *c = config_load(path, &err);
        if (!c) {
            print_error("listen %s: got error \"%s\", want success\n", l->value, err.msg);
            failures++;
            continue;
        }
        const struct listen_spec *s = &c->listen[0];
#define SAME(a, b) ((a) == NULL ? (b) == NULL : ((b) != NULL && strcmp((a), (b)) == 0))
        if (c->n_listen != 1 || s->kind != l->kind || !SAME(s->host, l->host) ||
            !SAME(s->port, l->port) || !SAME(s->path, l->path) || !SAME(s->text, l->value)) {
            print_error("listen %s: got n=%zu kind=%d host=%s port=%s path=%s text=%s, want "
                        "n=1 kind=%d host=%s port=%s path=%s\n",
                        l->value, c->n_listen, s->kind, s->host ? s->host : "(null)",
                        s->port ? s->port : "(null)", s->path ? s->path : "(null)", s->text,
                        l->kind, l->host ? l->host : "(null)", l->port ? l->port : "(null)",
                        l->path ? l->path : "(null)");
            failures++;
        }
#undef SAME
        config_free(c);
    }
    assert_int_equal(failures, 0);
}

static void test_listen_repeated(void **state)
{
    (void)state;
    char path[512];
    struct config_error err;
    write_file("[server]\n"
               "listen = inet:127.0.0.1:10023\n"
               "workers = 2\n"
               "listen = inet:[::1]:10023\n"
               "  unix:/run/greyspf/policy.sock\n",
               0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_int_equal(c->n_listen, 3); /* no default added */
    assert_string_equal(c->listen[0].text, "inet:127.0.0.1:10023");
    assert_string_equal(c->listen[1].host, "::1");
    assert_int_equal(c->listen[2].kind, LISTEN_UNIX);
    assert_string_equal(c->listen[2].path, "/run/greyspf/policy.sock");
    config_free(c);
}

/* ---- bad values: one key per file, on line 2 ---- */

struct bad_case {
    const char *name;
    const char *text; /* whole file */
    size_t len;       /* 0: strlen */
    const char *want; /* the message after "PATH" */
};

#define LONG_PATH_120                                                                              \
    "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"  \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* what a long value looks like in a message: sanitised, cut at QUOTE_MAX with "..." */
#define A86 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
    /* numbers */
    {"workers abc", "[server]\nworkers = abc\n", 0,
     ":2: [server] workers: \"abc\" is not a number (1..256)"},
    {"workers 0", "[server]\nworkers = 0\n", 0, ":2: [server] workers: 0 is out of range (1..256)"},
    {"workers 257", "[server]\nworkers = 257\n", 0,
     ":2: [server] workers: 257 is out of range (1..256)"},
    {"workers negative", "[server]\nworkers = -1\n", 0,
     ":2: [server] workers: \"-1\" is not a number (1..256)"},
    {"workers overflow", "[server]\nworkers = 99999999999999999999999\n", 0,
     ":2: [server] workers: 99999999999999999999999 is out of range (1..256)"},
    {"workers empty", "[server]\nworkers =\n", 0,
     ":2: [server] workers: \"\" is not a number (1..256)"},
    {"workers suffix", "[server]\nworkers = 2k\n", 0,
     ":2: [server] workers: \"2k\" is not a number (1..256)"},
    {"workers quoted", "[server]\nworkers = \"2\"\n", 0,
     ":2: [server] workers: \"\"2\"\" is not a number (1..256)"},
    {"io_threads 65", "[server]\nio_threads = 65\n", 0,
     ":2: [server] io_threads: 65 is out of range (1..64)"},
    {"io_threads 0", "[server]\nio_threads = 0\n", 0,
     ":2: [server] io_threads: 0 is out of range (1..64)"},
    {"max_connections 0", "[server]\nmax_connections = 0\n", 0,
     ":2: [server] max_connections: 0 is out of range (1..1000000)"},
    {"max_connections 1000001", "[server]\nmax_connections = 1000001\n", 0,
     ":2: [server] max_connections: 1000001 is out of range (1..1000000)"},
    {"max_attributes 7", "[server]\nmax_attributes = 7\n", 0,
     ":2: [server] max_attributes: 7 is out of range (8..1024)"},
    {"max_attributes 1025", "[server]\nmax_attributes = 1025\n", 0,
     ":2: [server] max_attributes: 1025 is out of range (8..1024)"},
    {"max_attributes 1k", "[server]\nmax_attributes = 1k\n", 0,
     ":2: [server] max_attributes: \"1k\" is not a number (8..1024)"},
    /* sizes */
    {"max_line_length 1023", "[server]\nmax_line_length = 1023\n", 0,
     ":2: [server] max_line_length: 1023 is out of range (1024..1048576 bytes)"},
    {"max_line_length 2m", "[server]\nmax_line_length = 2m\n", 0,
     ":2: [server] max_line_length: 2m is out of range (1024..1048576 bytes)"},
    {"max_line_length 1g", "[server]\nmax_line_length = 1g\n", 0,
     ":2: [server] max_line_length: \"1g\" is not a size (1024..1048576 bytes)"},
    {"max_line_length 1kb", "[server]\nmax_line_length = 1kb\n", 0,
     ":2: [server] max_line_length: \"1kb\" is not a size (1024..1048576 bytes)"},
    {"max_line_length k", "[server]\nmax_line_length = k\n", 0,
     ":2: [server] max_line_length: \"k\" is not a size (1024..1048576 bytes)"},
    {"max_line_length overflow", "[server]\nmax_line_length = 18014398509481984k\n", 0,
     ":2: [server] max_line_length: 18014398509481984k is out of range (1024..1048576 bytes)"},
    {"max_request_size 65m", "[server]\nmax_request_size = 65m\n", 0,
     ":2: [server] max_request_size: 65m is out of range (max_line_length+2..67108864 bytes)"},
    {"max_request_size < line+2", "[server]\nmax_line_length = 64k\nmax_request_size = 65537\n", 0,
     ":3: [server] max_request_size: 65537 is less than max_line_length + 2 (65538)"},
    {"max_request_size before max_line_length",
     "[server]\nmax_request_size = 2048\nmax_line_length = 2047\n", 0,
     ":2: [server] max_request_size: 2048 is less than max_line_length + 2 (2049)"},
    {"max_line_length over default request", "[server]\nmax_line_length = 1m\n", 0,
     ":2: [server] max_line_length: 1048576 needs max_request_size >= 1048578 (it is 65536 by "
     "default)"},
    /* durations */
    {"idle_timeout bad unit", "[server]\nidle_timeout = 5x\n", 0,
     ":2: [server] idle_timeout: \"5x\" is not a duration (digits and an optional unit s, m, "
     "h, d or w; 0..1d)"},
    {"idle_timeout empty", "[server]\nidle_timeout =\n", 0,
     ":2: [server] idle_timeout: \"\" is not a duration (digits and an optional unit s, m, h, "
     "d or w; 0..1d)"},
    {"idle_timeout 2d", "[server]\nidle_timeout = 2d\n", 0,
     ":2: [server] idle_timeout: 2d is out of range (0..1d)"},
    {"idle_timeout overflow", "[server]\nidle_timeout = 99999999999999999999w\n", 0,
     ":2: [server] idle_timeout: \"99999999999999999999w\" is not a duration (digits and an "
     "optional unit s, m, h, d or w; 0..1d)"},
    {"drain_timeout 61m", "[server]\ndrain_timeout = 61m\n", 0,
     ":2: [server] drain_timeout: 61m is out of range (0..1h)"},
    {"drain_timeout space in value", "[server]\ndrain_timeout = 5 s\n", 0,
     ":2: [server] drain_timeout: \"5 s\" is not a duration (digits and an optional unit s, m, "
     "h, d or w; 0..1h)"},
    /* modes, names, paths */
    {"socket_mode 8", "[server]\nsocket_mode = 0668\n", 0,
     ":2: [server] socket_mode: \"0668\" is not an octal mode (0000..0777)"},
    {"socket_mode 1777", "[server]\nsocket_mode = 1777\n", 0,
     ":2: [server] socket_mode: 1777 is out of range (0000..0777)"},
    {"socket_mode empty", "[server]\nsocket_mode =\n", 0,
     ":2: [server] socket_mode: \"\" is not an octal mode (0000..0777)"},
    {"socket_mode rwx", "[server]\nsocket_mode = rw-rw----\n", 0,
     ":2: [server] socket_mode: \"rw-rw----\" is not an octal mode (0000..0777)"},
    {"socket_group space", "[server]\nsocket_group = post fix\n", 0,
     ":2: [server] socket_group: \"post fix\": spaces and control characters not allowed"},
    {"state_dir relative", "[server]\nstate_dir = var/lib/greyspf\n", 0,
     ":2: [server] state_dir: \"var/lib/greyspf\" is not an absolute path"},
    {"state_dir empty", "[server]\nstate_dir =\n", 0,
     ":2: [server] state_dir: \"\" is not an absolute path"},
    /* log level, bools */
    {"log_level loud", "[server]\nlog_level = loud\n", 0,
     ":2: [server] log_level: \"loud\" is not a log level (error, warning, info, debug)"},
    {"log_level upper case", "[server]\nlog_level = INFO\n", 0,
     ":2: [server] log_level: \"INFO\" is not a log level (error, warning, info, debug)"},
    {"log_decisions maybe", "[server]\nlog_decisions = maybe\n", 0,
     ":2: [server] log_decisions: \"maybe\" is not a boolean (yes/no/true/false/on/off/1/0)"},
    {"skip_sasl empty", "[policy]\nskip_sasl =\n", 0,
     ":2: [policy] skip_sasl: \"\" is not a boolean (yes/no/true/false/on/off/1/0)"},
    {"skip_loopback 2", "[policy]\nskip_loopback = 2\n", 0,
     ":2: [policy] skip_loopback: \"2\" is not a boolean (yes/no/true/false/on/off/1/0)"},
    /* actions */
    {"default_action unknown", "[policy]\ndefault_action = FOOBAR\n", 0,
     ":2: [policy] default_action: \"FOOBAR\": \"FOOBAR\" is not an action (want DUNNO, OK, "
     "REJECT, DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT, WARN, INFO, PREPEND, HOLD, DISCARD, "
     "FILTER, REDIRECT, BCC or a 4NN/5NN code)"},
    {"default_action bare 450", "[policy]\ndefault_action = 450\n", 0,
     ":2: [policy] default_action: \"450\": 450 needs text: Postfix treats a bare number as OK"},
    {"default_action empty", "[policy]\ndefault_action =\n", 0,
     ":2: [policy] default_action: \"\": empty action"},
    {"skip_action DUNNO text", "[policy]\nskip_action = DUNNO skipped\n", 0,
     ":2: [policy] skip_action: \"DUNNO skipped\": DUNNO takes no text (Postfix would ignore "
     "it)"},
    {"skip_action 250", "[policy]\nskip_action = 250 ok\n", 0,
     ":2: [policy] skip_action: \"250 ok\": 250: 2NN codes are not policy actions (Postfix "
     "replies 451 4.3.5 to \"2NN text\" and accepts a bare number); use OK or DUNNO"},
    {"skip_action control char", "[policy]\nskip_action = REJECT a\x01z\n", 0,
     ":2: [policy] skip_action: \"REJECT a\\x01z\": control character 0x01 at byte 9"},
    /* CIDR lists */
    {"skip_clients host bits", "[policy]\nskip_clients = 10.0.0.0/8, 192.168.1.1/24\n", 0,
     ":2: [policy] skip_clients: item 2 \"192.168.1.1/24\": host bits set (did you mean "
     "192.168.1.0/24?)"},
    {"skip_clients garbage", "[policy]\nskip_clients = mail.example.org\n", 0,
     ":2: [policy] skip_clients: item 1 \"mail.example.org\": not an IP address or CIDR"},
    {"skip_clients /33", "[policy]\nskip_clients = ::1 1.2.3.4/33\n", 0,
     ":2: [policy] skip_clients: item 2 \"1.2.3.4/33\": not an IP address or CIDR"},
    {"skip_clients continuation item", "[policy]\nskip_clients = ::1\n  10.0.0.0/8 bad\n", 0,
     ":3: [policy] skip_clients: item 2 \"bad\": not an IP address or CIDR"},
    {"skip_clients v6 host bits", "[policy]\nskip_clients = 2001:db8::1/32\n", 0,
     ":2: [policy] skip_clients: item 1 \"2001:db8::1/32\": host bits set (did you mean "
     "2001:db8::/32?)"},
    /* listen */
    {"listen hostname", "[server]\nlisten = inet:localhost:10023\n", 0,
     ":2: [server] listen: \"inet:localhost:10023\": host \"localhost\" is not a numeric IPv4 "
     "address, [IPv6 address], * or empty"},
    {"listen port 0", "[server]\nlisten = inet:127.0.0.1:0\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1:0\": port \"0\" is not a number 1..65535"},
    {"listen port 65536", "[server]\nlisten = inet:127.0.0.1:65536\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1:65536\": port \"65536\" is not a number 1..65535"},
    {"listen port leading zero", "[server]\nlisten = inet:127.0.0.1:010023\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1:010023\": port \"010023\" is not a number "
     "1..65535"},
    {"listen port empty", "[server]\nlisten = inet:127.0.0.1:\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1:\": port \"\" is not a number 1..65535"},
    {"listen port name", "[server]\nlisten = inet:127.0.0.1:smtp\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1:smtp\": port \"smtp\" is not a number 1..65535"},
    {"listen no port", "[server]\nlisten = inet:127.0.0.1\n", 0,
     ":2: [server] listen: \"inet:127.0.0.1\": expected inet:HOST:PORT"},
    {"listen bare v6", "[server]\nlisten = inet:::1:10023\n", 0,
     ":2: [server] listen: \"inet:::1:10023\": an IPv6 address needs brackets: "
     "inet:[ADDR]:PORT"},
    {"listen bracket no colon", "[server]\nlisten = inet:[::1]10023\n", 0,
     ":2: [server] listen: \"inet:[::1]10023\": expected inet:[IPV6]:PORT"},
    {"listen bracket unclosed", "[server]\nlisten = inet:[::1:10023\n", 0,
     ":2: [server] listen: \"inet:[::1:10023\": expected inet:[IPV6]:PORT"},
    {"listen v4 in brackets", "[server]\nlisten = inet:[127.0.0.1]:10023\n", 0,
     ":2: [server] listen: \"inet:[127.0.0.1]:10023\": \"127.0.0.1\" is not a numeric IPv6 "
     "address"},
    {"listen unix relative", "[server]\nlisten = unix:greyspf/policy.sock\n", 0,
     ":2: [server] listen: \"unix:greyspf/policy.sock\": unix socket path must be absolute "
     "(e.g. unix:/var/spool/postfix/greyspf/policy.sock)"},
    {"listen unix too long", "[server]\nlisten = unix:" LONG_PATH_120 "\n", 0,
     ":2: [server] listen: \"unix:/" A86 "...\": unix socket path longer than 107 bytes"},
    {"listen other scheme", "[server]\nlisten = tcp:127.0.0.1:10023\n", 0,
     ":2: [server] listen: \"tcp:127.0.0.1:10023\": expected inet:HOST:PORT or unix:/path"},
    {"listen empty", "[server]\nlisten =\n", 0,
     ":2: [server] listen: \"\": expected inet:HOST:PORT or unix:/path"},
    /* structure */
    {"unknown section", "[dnss]\nforwarder = 127.0.0.1@5353\n", 0,
     ":1: [dnss]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    {"unknown section, empty, last", "[server]\nworkers = 2\n[spff]\n", 0,
     ":3: [spff]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    {"section name typo", "[server]\n\n[greylisting]\ndelay = 5m\n", 0,
     ":3: [greylisting]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    {"section name is case-sensitive", "[Server]\n", 0,
     ":1: [Server]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    {"section with spaces", "[ server ]\n", 0,
     ":1: [ server ]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    /* [dns] */
    {"forwarder name", "[dns]\nforwarder = dns.example.org\n", 0,
     ":2: [dns] forwarder: \"dns.example.org\": dns.example.org is not a numeric IPv4 or IPv6 "
     "address"},
    {"forwarder port", "[dns]\nforwarder = 127.0.0.1@0\n", 0,
     ":2: [dns] forwarder: \"127.0.0.1@0\": port \"0\" is not 1..65535"},
    {"forwarder empty", "[dns]\nforwarder =\n", 0, ":2: [dns] forwarder: \"\": not ADDR[@PORT]"},
    {"dns timeout too short", "[dns]\ntimeout = 0\n", 0,
     ":2: [dns] timeout: 0 is out of range (1s..60s)"},
    {"trust anchor empty", "[dns]\ntrust_anchor =\n", 0,
     ":2: [dns] trust_anchor: \"\": empty, or control characters"},
    /* [spf] */
    {"spf result word", "[spf]\nmail_from_reject = fail softfial\n", 0,
     ":2: [spf] mail_from_reject: \"softfial\" is not an SPF result (none neutral pass fail "
     "softfail temperror permerror)"},
    {"spf result in two sets", "[spf]\nmail_from_defer = temperror fail\n", 0,
     ":2: [spf] mail_from_defer: fail is also in mail_from_reject"},
    {"spf result in two sets, blame the set key", "[spf]\nhelo_reject = temperror\n", 0,
     ":2: [spf] helo_reject: temperror is also in helo_defer"},
    {"spf header", "[spf]\nheader = dkim\n", 0,
     ":2: [spf] header: \"dkim\": one of received-spf, authentication-results, both, none"},
    {"spf custom action", "[spf]\nmail_from_action_softfail = 250 ok\n", 0,
     ":2: [spf] mail_from_action_softfail: \"250 ok\": 250: 2NN codes are not policy actions "
     "(Postfix replies 451 4.3.5 to \"2NN text\" and accepts a bare number); use OK or "
     "DUNNO"},
    /* [greylist] */
    {"greylist delay range", "[greylist]\ndelay = 3d\n", 0,
     ":2: [greylist] delay: 3d is out of range (0..1d)"},
    {"greylist window not after delay", "[greylist]\ndelay = 1h\nretry_window = 30m\n", 0,
     ":3: [greylist] retry_window: must be longer than delay"},
    {"greylist window equal to delay", "[greylist]\nretry_window = 5m\n", 0,
     ":2: [greylist] retry_window: must be longer than delay"},
    {"greylist max_age range", "[greylist]\nmax_age = 30s\n", 0,
     ":2: [greylist] max_age: 30s is out of range (1m..1000d)"},
    {"greylist key part", "[greylist]\nkey = client bogus\n", 0,
     ":2: [greylist] key: \"bogus\" is not a key part (client sender recipient)"},
    {"greylist key empty", "[greylist]\nkey =\n", 0,
     ":2: [greylist] key: empty: name at least one of client sender recipient"},
    {"greylist prefix v4", "[greylist]\nclient_prefix_v4 = 33\n", 0,
     ":2: [greylist] client_prefix_v4: 33 is out of range (0..32)"},
    {"greylist prefix v6", "[greylist]\nclient_prefix_v6 = 129\n", 0,
     ":2: [greylist] client_prefix_v6: 129 is out of range (0..128)"},
    {"greylist text token", "[greylist]\ntext = wait {sec} seconds\n", 0,
     ":2: [greylist] text: \"wait {sec} seconds\": unknown token \"{sec}\" (known: {seconds} "
     "{domain})"},
    {"greylist action with text", "[greylist]\naction = DUNNO\n", 0,
     ":2: [greylist] action: the reply \"DUNNO Greylisted, please try again in 300 seconds\" is "
     "not valid: DUNNO takes no text (Postfix would ignore it)"},
    {"greylist action accepts", "[greylist]\naction = OK\ntext =\n", 0,
     ":2: [greylist] action: \"OK\" does not defer (use DEFER_IF_PERMIT, DEFER or a 4NN code)"},
    {"greylist whitelist relative", "[greylist]\nwhitelist_clients = wl/clients\n", 0,
     ":2: [greylist] whitelist_clients: \"wl/clients\" is not an absolute path"},
    {"greylist whitelist missing", "[greylist]\n\nwhitelist_recipients = /nonexistent/greyspf-wl\n",
     0,
     ":3: [greylist] whitelist_recipients: /nonexistent/greyspf-wl: cannot open: No such file or "
     "directory"},
    {"greylist whitelist a directory", "[greylist]\nwhitelist_clients = /\n", 0,
     ":2: [greylist] whitelist_clients: /: not a regular file"},
    {"greylist scalar continued", "[greylist]\ndelay = 5m\n  10m\n", 0,
     ":3: [greylist] delay: indented line continues the value; only listen, skip_clients, "
     "trust_anchor and whitelist_* take more than one line"},
    {"key outside any section", "workers = 2\n", 0, ":1: workers: key outside any section"},
    {"key outside after comments", "; hello\n\n# x\nworkers = 2\n[server]\n", 0,
     ":4: workers: key outside any section"},
    {"unknown key", "[server]\nwokers = 2\n", 0, ":2: [server] wokers: unknown key"},
    {"key of another section", "[policy]\nworkers = 2\n", 0, ":2: [policy] workers: unknown key"},
    {"key case-sensitive", "[server]\nWorkers = 2\n", 0, ":2: [server] Workers: unknown key"},
    {"set twice", "[server]\nworkers = 2\n\nworkers = 3\n", 0,
     ":4: [server] workers: set twice (first on line 2)"},
    {"set twice across sections", "[server]\nworkers = 2\n[policy]\n[server]\nworkers = 2\n", 0,
     ":5: [server] workers: set twice (first on line 2)"},
    {"continuation of a scalar", "[server]\nworkers = 2\n   3\n", 0,
     ":3: [server] workers: indented line continues the value; only listen, skip_clients, "
     "trust_anchor and whitelist_* take more than one line"},
    {"indented key after a key", "[server]\nworkers = 2\n  io_threads = 2\n", 0,
     ":3: [server] workers: indented line continues the value; only listen, skip_clients, "
     "trust_anchor and whitelist_* take more than one line"},
    {"section without ]", "[server\nworkers = 2\n", 0, ":1: syntax error: \"[\" without \"]\""},
    {"section ] after comment", "[server ;x]\n", 0, ":1: syntax error: \"[\" without \"]\""},
    {"no equals", "[server]\nworkers\n", 0,
     ":2: syntax error: expected \"key = value\", \"[section]\" or a comment"},
    {"equals after inline comment", "[server]\nworkers ;= 2\n", 0,
     ":2: syntax error: expected \"key = value\", \"[section]\" or a comment"},
    {"empty key", "[server]\n= 2\n", 0, ":2: syntax error: empty key name"},
    {"NUL byte", "[server]\nworkers = 2\0\n", sizeof("[server]\nworkers = 2\0\n") - 1,
     ":2: NUL byte in line"},
    {"first error wins", "[server]\nworkers = x\n[bogus]\n", 0,
     ":2: [server] workers: \"x\" is not a number (1..256)"},
    {"CRLF line numbers", "; c\r\n\r\n[server]\r\nworkers = abc\r\n", 0,
     ":4: [server] workers: \"abc\" is not a number (1..256)"},
    {"BOM line numbers", "\xEF\xBB\xBF[server]\nworkers = 0\n", 0,
     ":2: [server] workers: 0 is out of range (1..256)"},
    {"comment lines do not end a continuation",
     "[policy]\nskip_clients = ::1\n; comment\n\n  nope\n", 0,
     ":5: [policy] skip_clients: item 1 \"nope\": not an IP address or CIDR"},
    /* [override KIND VALUE] */
    {"override kind", "[override rcpt bob@example.net]\ngreylist = off\n", 0,
     ":1: [override rcpt bob@example.net]: \"rcpt\" is not an override kind (recipient, "
     "recipient_domain, sender, sender_domain, client)"},
    {"override without value", "[server]\n[override client]\n", 0,
     ":2: [override client]: expected [override KIND VALUE], KIND one of recipient, "
     "recipient_domain, sender, sender_domain, client"},
    {"override alone", "[override]\n", 0,
     ":1: [override]: expected [override KIND VALUE], KIND one of recipient, recipient_domain, "
     "sender, sender_domain, client"},
    {"override two values", "[override recipient a@b.example c@d.example]\n", 0,
     ":1: [override recipient a@b.example c@d.example]: one VALUE after the kind, got more "
     "(\"c@d.example\")"},
    {"override CIDR host bits", "; x\n[override client 192.0.2.1/24]\n", 0,
     ":2: [override client 192.0.2.1/24]: \"192.0.2.1/24\": host bits set (did you mean "
     "192.0.2.0/24?)"},
    {"override address without domain", "[override sender postmaster]\n", 0,
     ":1: [override sender postmaster]: \"postmaster\" is not an address (local-part@domain)"},
    {"override domain with @", "[override sender_domain a@example.org]\n", 0,
     ":1: [override sender_domain a@example.org]: \"a@example.org\" is not a domain "
     "(\"example.net\", or \".example.net\" for its subdomains)"},
    {"overrides is no section", "[overrides]\n", 0,
     ":1: [overrides]: unknown section (known: [server], [policy], [dns], [spf], [greylist])"},
    {"override unknown key", "[override recipient Bob@Example.net]\ngreylist = off\ndelay = 5m\n",
     0,
     ":3: [override recipient bob@example.net] delay: unknown key (an override sets greylist, "
     "greylist_delay, spf, spf_mail_from_*, spf_helo_*, spf_reject_only_secure or action)"},
    {"override global SPF key name", "[override client 10.0.0.0/8]\nmail_from_reject = fail\n", 0,
     ":2: [override client 10.0.0.0/8] mail_from_reject: unknown key (an override sets "
     "greylist, greylist_delay, spf, spf_mail_from_*, spf_helo_*, spf_reject_only_secure or "
     "action)"},
    {"override duplicate", "[override recipient_domain example.net]\ngreylist = off\n\n"
     "[override recipient_domain Example.Net.]\ngreylist_delay = 1m\n", 0,
     ":4: [override recipient_domain Example.Net.]: duplicate of the override on line 1"},
    {"override duplicate network", "[override client 192.0.2.0/24]\n[greylist]\n"
     "[override client ::ffff:192.0.2.0/120]\n", 0,
     ":3: [override client ::ffff:192.0.2.0/120]: duplicate of the override on line 1"},
    {"override suffix is not a duplicate", "[override sender_domain example.org]\n"
     "[override sender_domain .example.org]\n[override sender_domain .example.org]\n", 0,
     ":3: [override sender_domain .example.org]: duplicate of the override on line 2"},
    {"override key set twice", "[override sender a@example.org]\nspf = off\nspf = on\n", 0,
     ":3: [override sender a@example.org] spf: set twice (first on line 2)"},
    {"override bool", "[override sender_domain example.org]\ngreylist = maybe\n", 0,
     ":2: [override sender_domain example.org] greylist: \"maybe\" is not a boolean "
     "(yes/no/true/false/on/off/1/0)"},
    {"override delay range", "[override client 10.0.0.0/8]\ngreylist_delay = 2d\n", 0,
     ":2: [override client 10.0.0.0/8] greylist_delay: 2d is out of range (0..1d)"},
    {"override delay not shorter than retry_window",
     "[override client 10.0.0.0/8]\ngreylist_delay = 1h\n[greylist]\nretry_window = 30m\n", 0,
     ":2: [override client 10.0.0.0/8] greylist_delay: must be shorter than [greylist] "
     "retry_window"},
    {"override action", "[override recipient postmaster@example.net]\naction = FOO\n", 0,
     ":2: [override recipient postmaster@example.net] action: \"FOO\": \"FOO\" is not an action (want DUNNO, OK, REJECT, DEFER, DEFER_IF_PERMIT, "
     "DEFER_IF_REJECT, WARN, INFO, PREPEND, HOLD, DISCARD, FILTER, REDIRECT, BCC or a 4NN/5NN "
     "code)"},
    {"override result word", "[override client 2001:db8::/32]\nspf_helo_defer = soft\n", 0,
     ":2: [override client 2001:db8::/32] spf_helo_defer: \"soft\" is not an SPF result (none "
     "neutral pass fail softfail temperror permerror)"},
    {"override result in two sets", "[override sender_domain example.org]\n"
     "spf_mail_from_reject = fail\nspf_helo_accept = fail\nspf_mail_from_accept = softfail fail\n",
     0,
     ":4: [override sender_domain example.org] spf_mail_from_accept: fail is also in "
     "spf_mail_from_reject (line 2)"},
    {"override continuation", "[override client 10.0.0.0/8]\ngreylist = off\n  on\n", 0,
     ":3: [override client 10.0.0.0/8] greylist: indented line continues the value; override "
     "keys take one line"},
};

/* ---- [override ...] sections: every key, in the set with its lines ---- */

static void test_override_values(void **state)
{
    (void)state;
    char path[512];
    struct config_error err;
    write_file("[greylist]\ndelay = 1m\n"
               "[override recipient_domain .Example.NET]\n"
               "greylist = off\ngreylist_delay = 90s\nspf = no\n"
               "spf_mail_from_reject = fail softfail\nspf_mail_from_defer = temperror\n"
               "spf_mail_from_accept = pass\nspf_helo_reject = permerror\n"
               "spf_helo_defer = none\nspf_helo_accept = neutral\n"
               "spf_reject_only_secure = yes\naction = DEFER 4.7.1 wait\n"
               "[spf]\nenabled = no\n"
               "[override client 2001:db8::/32]  ; trailing comment\n"
               "spf = on\n",
               0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_int_equal(override_set_count(c->overrides), 2);
    const struct override *o = override_set_at(c->overrides, 0);
    assert_int_equal(o->kind, OVERRIDE_RECIPIENT_DOMAIN);
    assert_string_equal(o->value, ".example.net");
    assert_string_equal(o->title, "override recipient_domain .example.net");
    assert_int_equal(o->line, 3);
    assert_int_equal(o->v.set, (1u << OVERRIDE_KEYS) - 1);
    for (unsigned k = 0; k < OVERRIDE_KEYS; k++)
        assert_int_equal(o->key_line[k], 4 + k);
    assert_false(o->v.greylist);
    assert_int_equal(o->v.greylist_delay_ms, 90000);
    assert_false(o->v.spf);
    assert_int_equal(o->v.spf_mail_from[OVERRIDE_SET_REJECT], (1u << 3) | (1u << 4));
    assert_int_equal(o->v.spf_mail_from[OVERRIDE_SET_DEFER], 1u << 5);
    assert_int_equal(o->v.spf_mail_from[OVERRIDE_SET_ACCEPT], 1u << 2);
    assert_int_equal(o->v.spf_helo[OVERRIDE_SET_REJECT], 1u << 6);
    assert_int_equal(o->v.spf_helo[OVERRIDE_SET_DEFER], 1u << 0);
    assert_int_equal(o->v.spf_helo[OVERRIDE_SET_ACCEPT], 1u << 1);
    assert_true(o->v.spf_reject_only_secure);
    assert_string_equal(o->v.action, "DEFER 4.7.1 wait");
    o = override_set_at(c->overrides, 1);
    assert_int_equal(o->kind, OVERRIDE_CLIENT);
    assert_string_equal(o->title, "override client 2001:db8::/32");
    assert_int_equal(o->v.set, 1u << OVERRIDE_KEY_SPF);
    assert_true(o->v.spf);
    /* SPF is off globally, on by an override: the stage is needed; greylisting is on */
    assert_false(c->spf_enabled);
    assert_true(config_spf_used(c));
    assert_true(config_greylist_used(c));
    config_free(c);
}

static void test_bad_values(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(bad_cases); i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[512], want[1024];
        struct config_error err;
        write_file(b->text, b->len, path, sizeof(path));
        memset(err.msg, 'x', sizeof(err.msg));
        struct config *c = config_load(path, &err);
        snprintf(want, sizeof(want), "%s%s", path, b->want);
        if (c) {
            print_error("%s: got success, want \"%s\"\n", b->name, want);
            failures++;
            config_free(c);
            continue;
        }
        if (strcmp(err.msg, want) != 0) {
            print_error("%s:\n  got  \"%s\"\n  want \"%s\"\n", b->name, err.msg, want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_long_lines(void **state)
{
    (void)state;
    char text[400], path[512], want[1024];
    struct config_error err;
    /* 199 bytes of text is the most inih's 200-byte buffer holds: accepted */
    size_t n = (size_t)snprintf(text, sizeof(text), "[policy]\nskip_clients = ::1");
    while (n < 9 + 199 - 3)
        text[n++] = ' ';
    memcpy(text + n, "::2\n", 5);
    write_file(text, 0, path, sizeof(path));
    struct config *c = config_load(path, &err);
    if (!c)
        fail_msg("199-byte line: got error \"%s\", want success", err.msg);
    assert_int_equal(c->skip_clients.n, 2);
    config_free(c);

    /* one more byte: refused, not silently split into two lines */
    n = (size_t)snprintf(text, sizeof(text), "[policy]\nskip_clients = ::1");
    while (n < 9 + 200 - 3)
        text[n++] = ' ';
    memcpy(text + n, "::2\n", 5);
    write_file(text, 0, path, sizeof(path));
    assert_null(config_load(path, &err));
    snprintf(want, sizeof(want),
             "%s:2: line too long (200 bytes, at most 199; split a list over several lines)", path);
    assert_string_equal(err.msg, want);

    /* a long comment is refused too (inih would read its tail as a line of its own) */
    memset(text, '#', 300);
    memcpy(text + 300, "\n[server]\n", 11);
    write_file(text, 0, path, sizeof(path));
    assert_null(config_load(path, &err));
    snprintf(want, sizeof(want),
             "%s:1: line too long (300 bytes, at most 199; split a list over several lines)", path);
    assert_string_equal(err.msg, want);
}

static void test_unreadable(void **state)
{
    (void)state;
    char path[512], want[1024];
    struct config_error err;
    snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
    assert_null(config_load(path, &err));
    snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
    assert_string_equal(err.msg, want);

    snprintf(path, sizeof(path), "%s/dir", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_null(config_load(path, &err));
    snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(EISDIR));
    assert_string_equal(err.msg, want);

    if (geteuid() != 0) { /* root reads mode 000 files */
        write_file("[server]\n", 0, path, sizeof(path));
        assert_int_equal(chmod(path, 0), 0);
        assert_null(config_load(path, &err));
        snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(EACCES));
        assert_string_equal(err.msg, want);
    }
    assert_null(config_load(path, NULL)); /* err may be NULL */
}

static void test_load_stream(void **state)
{
    (void)state;
    static const char text[] = "[server]\nworkers = 12\n[policy]\nskip_sasl = nope\n";
    struct config_error err;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    assert_null(config_load_stream(f, "<stdin>", &err));
    fclose(f);
    assert_string_equal(err.msg, "<stdin>:4: [policy] skip_sasl: \"nope\" is not a boolean "
                                 "(yes/no/true/false/on/off/1/0)");
    f = fmemopen((void *)text, 22, "r");
    struct config *c = config_load_stream(f, "<stdin>", &err);
    fclose(f);
    if (!c)
        fail_msg("got error \"%s\", want success", err.msg);
    assert_int_equal(c->workers, 12);
    assert_string_equal(c->path, "<stdin>");
    config_free(c);
}

/* ---- parse helpers ---- */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ret;
        uint64_t ms;
    } cases[] = {
        {"90s", 0, 90000},
        {"5m", 0, 300000},
        {"2h", 0, 7200000},
        {"35d", 0, 35ull * 86400 * 1000},
        {"1w", 0, 604800000},
        {"30", 0, 30000},
        {"0", 0, 0},
        {"0w", 0, 0},
        {"007s", 0, 7000},
        {"18446744073709551s", 0, 18446744073709551000ull},
        {"18446744073709552s", -1, 0}, /* * 1000 overflows */
        {"18446744073709551615", -1, 0},
        {"99999999999999999999999", -1, 0},
        {"30500000000000w", -1, 0},
        {"", -1, 0},
        {"s", -1, 0},
        {"5x", -1, 0},
        {"5S", -1, 0},
        {"5ms", -1, 0},
        {"5mm", -1, 0},
        {"-1", -1, 0},
        {"+1", -1, 0},
        {" 5s", -1, 0},
        {"5s ", -1, 0},
        {"1.5h", -1, 0},
        {"5 m", -1, 0},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        uint64_t ms = 12345;
        int r = config_parse_duration(cases[i].text, &ms);
        if (r != cases[i].ret || (r == 0 && ms != cases[i].ms)) {
            print_error("duration \"%s\": got %d/%llu, want %d/%llu\n", cases[i].text, r,
                        (unsigned long long)ms, cases[i].ret, (unsigned long long)cases[i].ms);
            failures++;
        }
        if (r != 0 && ms != 12345) {
            print_error("duration \"%s\": output written on error\n", cases[i].text);
            failures++;
        }
    }
    assert_int_equal(config_parse_duration(NULL, &(uint64_t){0}), -1);
    assert_int_equal(failures, 0);
}

static void test_parse_bool(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ret;
        bool v;
    } cases[] = {
        {"yes", 0, true}, {"no", 0, false},    {"true", 0, true},   {"false", 0, false},
        {"on", 0, true},  {"off", 0, false},   {"1", 0, true},      {"0", 0, false},
        {"YES", 0, true}, {"Off", 0, false},   {"", -1, false},     {"y", -1, false},
        {"2", -1, false}, {"yes ", -1, false}, {"nope", -1, false}, {"enabled", -1, false},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        bool v = !cases[i].v;
        int r = config_parse_bool(cases[i].text, &v);
        if (r != cases[i].ret || (r == 0 && v != cases[i].v)) {
            print_error("bool \"%s\": got %d/%d, want %d/%d\n", cases[i].text, r, v, cases[i].ret,
                        cases[i].v);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* ---- shipped configs ---- */

/* source_path - repo-relative path resolved against this file's location */
static void source_path(const char *rel, char *out, size_t outlen)
{
    static const char self[] = "tests/unit/engine/test_config.c";
    const char *f = __FILE__;
    size_t n = strlen(f), m = strlen(self);
    if (n < m || strcmp(f + n - m, self) != 0)
        fail_msg("__FILE__ \"%s\" does not end in %s", f, self);
    snprintf(out, outlen, "%.*s%s", (int)(n - m), f, rel);
}

static void test_shipped_configs(void **state)
{
    (void)state;
    static const char *const files[] = {"packaging/greyspf.conf.example", "packaging/greyspf.conf"};
    for (size_t i = 0; i < N(files); i++) {
        char path[1024];
        struct config_error err;
        source_path(files[i], path, sizeof(path));
        struct config *c = config_load(path, &err);
        if (!c)
            fail_msg("%s: got error \"%s\", want success", files[i], err.msg);
        check_defaults(c); /* both ship the defaults */
        config_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_empty_file_is_defaults),
        cmocka_unit_test(test_good_values),     cmocka_unit_test(test_string_values),
        cmocka_unit_test(test_skip_clients),    cmocka_unit_test(test_listen_good),
        cmocka_unit_test(test_dns_spf_values),  cmocka_unit_test(test_greylist_values),
        cmocka_unit_test(test_listen_repeated), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_long_lines),      cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_load_stream),     cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_bool),      cmocka_unit_test(test_shipped_configs),
        cmocka_unit_test(test_override_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
