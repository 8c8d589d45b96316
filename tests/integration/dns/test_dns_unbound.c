/* tests/integration/dns/test_dns_unbound.c - the libunbound backend against a real server.
 *
 * Usage: test_dns_unbound DNS_SERVER_PY ZONE_FILE SIGN_SCRIPT
 * Setup: SIGN_SCRIPT makes a signed zone (with one corrupted signature) in a temp dir;
 * DNS_SERVER_PY serves ZONE_FILE and that zone on a random 127.0.0.1 port. Every resolver
 * forwards to that port only (DNS never leaves the machine). Teardown kills the server by
 * PID and removes the temp dir. Timings are printed as "timing: ..." lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/dns.h"
#include "engine/base/clock.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *server_py, *zone_file, *sign_script;
static char tmpdir[] = "/tmp/greyspf-dns-XXXXXX";
static pid_t server_pid = -1;
static char forwarder[64];
static char anchor_file[600];

/* --- server process ------------------------------------------------------------------ */

static int start_server(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", sign_script, tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "setup: %s failed\n", cmd);
        return -1;
    }
    snprintf(anchor_file, sizeof(anchor_file), "%s/anchor.ds", tmpdir);
    char signed_zone[600];
    snprintf(signed_zone, sizeof(signed_zone), "%s/signed.zone", tmpdir);

    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/usr/bin/python3", "python3", server_py, zone_file, signed_zone, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char line[32] = {0};
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        ssize_t n = read(pfd[0], line + got, 1);
        if (n <= 0 || line[got] == '\n')
            break;
        got++;
    }
    close(pfd[0]);
    int port = atoi(line);
    if (port <= 0) {
        fprintf(stderr, "setup: dns_server.py printed no port\n");
        return -1;
    }
    snprintf(forwarder, sizeof(forwarder), "127.0.0.1@%d", port);
    printf("setup: dns_server.py pid %d at %s\n", (int)server_pid, forwarder);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "teardown: %s failed\n", cmd);
    return 0;
}

/* --- resolver helpers ---------------------------------------------------------------- */

static struct dns_config test_config(void)
{
    struct dns_config cfg;
    dns_config_defaults(&cfg);
    cfg.forwarder = forwarder;
    cfg.dnssec = false;
    cfg.no_local_zones = true;
    cfg.timeout_ms = 3000;
    return cfg;
}

static struct dns_resolver *make_resolver(const struct dns_config *cfg)
{
    char err[256] = "";
    struct dns_resolver *r = dns_resolver_create(cfg, err, sizeof(err));
    if (!r)
        fail_msg("dns_resolver_create: %s", err);
    return r;
}

struct result {
    int calls;
    struct dns_answer *a;
    uint64_t at_ms;
};

static void on_answer(void *arg, const struct dns_answer *a)
{
    struct result *res = arg;
    res->calls++;
    dns_answer_free(res->a);
    res->a = dns_answer_copy(a);
    res->at_ms = clock_mono_ms();
}

/* pump - run the resolver until *done >= want or max_ms passed; returns elapsed ms */
static uint64_t pump(struct dns_resolver *r, const int *done, int want, uint64_t max_ms)
{
    uint64_t start = clock_mono_ms();
    for (;;) {
        uint64_t now = clock_mono_ms();
        if ((done && *done >= want) || now - start >= max_ms)
            return now - start;
        int64_t t = dns_resolver_next_timeout_ms(r, now);
        int64_t left = (int64_t)(start + max_ms - now);
        if (t < 0 || t > left)
            t = left;
        struct pollfd p = {.fd = dns_resolver_fd(r), .events = POLLIN};
        poll(&p, 1, (int)t);
        dns_resolver_process(r, clock_mono_ms());
    }
}

/* drain - run the resolver until nothing is pending or max_ms passed; returns elapsed ms */
static uint64_t drain(struct dns_resolver *r, uint64_t max_ms)
{
    uint64_t start = clock_mono_ms();
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (dns_resolver_pending(r) == 0 || now - start >= max_ms)
            return now - start;
        int64_t t = dns_resolver_next_timeout_ms(r, now);
        int64_t left = (int64_t)(start + max_ms - now);
        if (t < 0 || t > left)
            t = left;
        struct pollfd p = {.fd = dns_resolver_fd(r), .events = POLLIN};
        poll(&p, 1, (int)t);
        dns_resolver_process(r, clock_mono_ms());
    }
}

/* counting callback for bulk tests */
struct counter {
    int done, ok, other;
};

static void on_count(void *arg, const struct dns_answer *a)
{
    struct counter *c = arg;
    c->done++;
    if (a->status == DNS_OK && a->n == 1)
        c->ok++;
    else
        c->other++;
}

/* format_records - the answer's records as sorted text joined by '|' */
static void format_records(const struct dns_answer *a, char *out, size_t outlen)
{
    char items[16][2048];
    unsigned n = a->n < 16 ? a->n : 16;
    for (unsigned i = 0; i < n; i++) {
        const struct dns_rr *rr = &a->rr[i];
        char *s = items[i];
        switch (a->type) {
        case DNS_T_A:
            inet_ntop(AF_INET, &rr->addr.b[12], s, 64);
            break;
        case DNS_T_AAAA:
            inet_ntop(AF_INET6, rr->addr.b, s, 64);
            break;
        case DNS_T_MX:
            snprintf(s, 2048, "%u %s", rr->pref, rr->name);
            break;
        case DNS_T_PTR:
            snprintf(s, 2048, "%s", rr->name);
            break;
        case DNS_T_TXT:
        case DNS_T_SPF: {
            size_t o = 0;
            for (size_t k = 0; k < rr->txt_len && o + 4 < 2048; k++) {
                if (rr->txt[k] == '\0') {
                    s[o++] = '\\';
                    s[o++] = '0';
                } else {
                    s[o++] = rr->txt[k];
                }
            }
            s[o] = '\0';
            break;
        }
        }
    }
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && strcmp(items[j - 1], items[j]) > 0; j--) {
            char tmp[2048];
            memcpy(tmp, items[j], sizeof(tmp));
            memcpy(items[j], items[j - 1], sizeof(tmp));
            memcpy(items[j - 1], tmp, sizeof(tmp));
        }
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, "%s%s", i ? "|" : "", items[i]);
}

/* --- answers ------------------------------------------------------------------------- */

struct answer_case {
    const char *name;
    enum dns_type type;
    enum dns_status status;
    int rcode;
    const char *records; /* sorted, '|'-joined; NULL: do not check */
    long ttl;            /* -1: do not check; else ttl-2 .. ttl */
};

static char long_txt[6 * 255 + 1];

static const struct answer_case answer_cases[] = {
    {"a.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.1|192.0.2.2", 300},
    {"A.GreySPF.Test.", DNS_T_A, DNS_OK, 0, "192.0.2.1|192.0.2.2", -1},
    {"v6.greyspf.test", DNS_T_AAAA, DNS_OK, 0, "2001:db8::1", 300},
    {"both.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.3", -1},
    {"both.greyspf.test", DNS_T_AAAA, DNS_OK, 0, "2001:db8::3", -1},
    {"ttl60.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.60", 60},
    {"mx.greyspf.test", DNS_T_MX, DNS_OK, 0, "10 mail1.greyspf.test|20 mail2.greyspf.test", -1},
    {"nullmx.greyspf.test", DNS_T_MX, DNS_OK, 0, "0 ", -1},
    {"txt.greyspf.test", DNS_T_TXT, DNS_OK, 0, "v=spf1 ip4:192.0.2.0/24 -all", -1},
    {"multi.greyspf.test", DNS_T_TXT, DNS_OK, 0, "v=spf1 include:a.greyspf.test -all", -1},
    {"several.greyspf.test", DNS_T_TXT, DNS_OK, 0, "first|second|third", -1},
    {"empty.greyspf.test", DNS_T_TXT, DNS_OK, 0, "", -1},
    {"binary.greyspf.test", DNS_T_TXT, DNS_OK, 0, "a\\0bc", -1},
    {"long.greyspf.test", DNS_T_TXT, DNS_OK, 0, long_txt, -1},
    {"spf.greyspf.test", DNS_T_SPF, DNS_OK, 0, "v=spf1 -all", -1},
    {"_spf.under.greyspf.test", DNS_T_TXT, DNS_OK, 0, "underscore", -1},
    {"Sp Ace\\X.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.32", -1}, /* escaped for ub */
    {"cname.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.1|192.0.2.2", -1},
    {"x.bulk.greyspf.test", DNS_T_A, DNS_OK, 0, "192.0.2.99", -1},
    {"1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_OK, 0, "a.greyspf.test", -1},
    {"3.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_OK, 0, "alias.greyspf.test|both.greyspf.test", -1},
    {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", DNS_T_PTR, DNS_OK,
     0, "v6.greyspf.test", -1},
    {"nope.greyspf.test", DNS_T_A, DNS_NXDOMAIN, 3, NULL, 120},
    {"dangling.greyspf.test", DNS_T_A, DNS_NXDOMAIN, 3, NULL, -1},
    {"9.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_NXDOMAIN, 3, NULL, 60},
    {"a.greyspf.test", DNS_T_AAAA, DNS_NODATA, 0, NULL, 120},
    {"a.greyspf.test", DNS_T_MX, DNS_NODATA, 0, NULL, 120},
    {"servfail.greyspf.test", DNS_T_A, DNS_SERVFAIL, 2, NULL, 0},
    {"refused.greyspf.test", DNS_T_TXT, DNS_SERVFAIL, 2, NULL, 0},
    {"outside.example", DNS_T_A, DNS_SERVFAIL, 2, NULL, 0},
};

static void check_answers(struct dns_resolver *r, const struct answer_case *cases, size_t n)
{
    struct result *res = calloc(n, sizeof(*res));
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        int rc =
            dns_query(r, cases[i].name, cases[i].type, clock_mono_ms(), on_answer, &res[i], &id);
        if (rc != 0)
            fail_msg("dns_query %s: %s", cases[i].name, dns_strerror(rc));
    }
    drain(r, 10000);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const struct answer_case *c = &cases[i];
        const struct dns_answer *a = res[i].a;
        if (res[i].calls != 1 || !a) {
            print_error("%s %s: got %d callbacks, want 1\n", c->name, dns_type_name(c->type),
                        res[i].calls);
            failures++;
            continue;
        }
        done++;
        char got[16384];
        format_records(a, got, sizeof(got));
        if (a->status != c->status || a->rcode != c->rcode) {
            print_error("%s %s: got %s rcode %d, want %s rcode %d\n", c->name,
                        dns_type_name(c->type), dns_status_name(a->status), a->rcode,
                        dns_status_name(c->status), c->rcode);
            failures++;
        } else if (c->records && strcmp(got, c->records) != 0) {
            print_error("%s %s: got records \"%.200s\", want \"%.200s\"\n", c->name,
                        dns_type_name(c->type), got, c->records);
            failures++;
        } else if (c->ttl >= 0 && ((long)a->ttl_s > c->ttl || (long)a->ttl_s < c->ttl - 2)) {
            /* cached answers count down: allow two seconds */
            print_error("%s %s: got ttl %u, want %ld (-2)\n", c->name, dns_type_name(c->type),
                        a->ttl_s, c->ttl);
            failures++;
        } else if (a->type != c->type || a->secure || a->why_bogus ||
                   (a->status != DNS_OK && (a->n != 0 || a->rr))) {
            print_error("%s %s: got type %s secure %d n %u\n", c->name, dns_type_name(c->type),
                        dns_type_name(a->type), a->secure, a->n);
            failures++;
        }
        dns_answer_free(res[i].a);
    }
    free(res);
    assert_int_equal(failures, 0);
    assert_int_equal(done, (int)n);
}

static void test_answers(void **state)
{
    (void)state;
    memset(long_txt, 'x', sizeof(long_txt) - 1);
    struct dns_config cfg = test_config();
    struct dns_resolver *r = make_resolver(&cfg);
    uint64_t t0 = clock_mono_ms();
    check_answers(r, answer_cases, N(answer_cases));
    printf("timing: %zu parallel lookups (cold cache, incl. SERVFAIL and TCP) in %llu ms\n",
           N(answer_cases), (unsigned long long)(clock_mono_ms() - t0));
    /* the same again from the cache */
    t0 = clock_mono_ms();
    check_answers(r, answer_cases, N(answer_cases));
    printf("timing: the same from cache in %llu ms\n", (unsigned long long)(clock_mono_ms() - t0));
    dns_resolver_destroy(r);
}

/* qname in the answer is the normalised name */
static void test_qname_normalised(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    struct dns_resolver *r = make_resolver(&cfg);
    struct result res = {0};
    assert_int_equal(
        dns_query(r, "TXT.GreySPF.test.", DNS_T_TXT, clock_mono_ms(), on_answer, &res, NULL), 0);
    pump(r, &res.calls, 1, 5000);
    assert_int_equal(res.calls, 1);
    assert_string_equal(res.a->qname, "txt.greyspf.test");
    assert_int_equal(res.a->status, DNS_OK);
    dns_answer_free(res.a);
    assert_int_equal(
        dns_query(r, "a..greyspf.test", DNS_T_A, clock_mono_ms(), on_answer, &res, NULL),
        DNS_ERR_NAME);
    dns_resolver_destroy(r);
}

/* without no_local_zones the default local zones answer NXDOMAIN themselves */
static void test_local_zones_default(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    cfg.no_local_zones = false;
    struct dns_resolver *r = make_resolver(&cfg);
    static const struct answer_case local[] = {
        {"a.greyspf.test", DNS_T_A, DNS_NXDOMAIN, 3, NULL, -1},
        {"1.2.0.192.in-addr.arpa", DNS_T_PTR, DNS_NXDOMAIN, 3, NULL, -1},
        {"localhost", DNS_T_A, DNS_OK, 0, "127.0.0.1", -1},
    };
    check_answers(r, local, N(local));
    dns_resolver_destroy(r);
}

/* --- timeouts and cancel ------------------------------------------------------------- */

static void test_timeout(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    cfg.timeout_ms = 1000;
    struct dns_resolver *r = make_resolver(&cfg);

    struct result never = {0}, half_aaaa = {0};
    uint64_t t0 = clock_mono_ms();
    assert_int_equal(dns_query(r, "never.greyspf.test", DNS_T_TXT, t0, on_answer, &never, NULL), 0);
    assert_int_equal(
        dns_query(r, "halfdead.greyspf.test", DNS_T_AAAA, t0, on_answer, &half_aaaa, NULL), 0);
    drain(r, 5000);
    assert_int_equal(never.calls, 1);
    assert_int_equal(half_aaaa.calls, 1);
    assert_int_equal(never.a->status, DNS_TIMEOUT);
    assert_int_equal(never.a->rcode, -1);
    assert_int_equal(half_aaaa.a->status, DNS_TIMEOUT);
    uint64_t took = never.at_ms - t0;
    printf("timing: unanswered name -> DNS_TIMEOUT after %llu ms (deadline 1000, elapsed_ms "
           "%u)\n",
           (unsigned long long)took, never.a->elapsed_ms);
    assert_true(took >= 1000 && took < 1300);
    assert_true(never.a->elapsed_ms >= 1000 && never.a->elapsed_ms < 1300);
    assert_int_equal(dns_resolver_pending(r), 0);

    /* the forwarder is not marked down: new names answer at once */
    struct result good = {0}, half_a = {0};
    uint64_t t1 = clock_mono_ms();
    assert_int_equal(
        dns_query(r, "after-timeout.bulk.greyspf.test", DNS_T_A, t1, on_answer, &good, NULL), 0);
    assert_int_equal(dns_query(r, "halfdead.greyspf.test", DNS_T_A, t1, on_answer, &half_a, NULL),
                     0);
    drain(r, 3000);
    assert_int_equal(good.calls, 1);
    assert_int_equal(good.a->status, DNS_OK);
    assert_int_equal(half_a.calls, 1);
    assert_int_equal(half_a.a->status, DNS_OK);
    uint64_t took2 = (good.at_ms > half_a.at_ms ? good.at_ms : half_a.at_ms) - t1;
    printf("timing: good names right after a timeout answered in %llu ms\n",
           (unsigned long long)took2);
    assert_true(took2 < 500);

    /* and a second unanswered lookup of the same name times out again, no earlier SERVFAIL */
    struct result again = {0};
    uint64_t t2 = clock_mono_ms();
    assert_int_equal(dns_query(r, "never.greyspf.test", DNS_T_TXT, t2, on_answer, &again, NULL), 0);
    pump(r, &again.calls, 1, 3000);
    assert_int_equal(again.calls, 1);
    assert_int_equal(again.a->status, DNS_TIMEOUT);

    dns_answer_free(never.a);
    dns_answer_free(half_aaaa.a);
    dns_answer_free(good.a);
    dns_answer_free(half_a.a);
    dns_answer_free(again.a);
    dns_resolver_destroy(r);
}

static void test_cancel(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    struct dns_resolver *r = make_resolver(&cfg);
    struct result slow = {0}, never = {0}, other = {0};
    uint64_t id_slow, id_never, id_other;
    uint64_t now = clock_mono_ms();
    assert_int_equal(dns_query(r, "slow.greyspf.test", DNS_T_A, now, on_answer, &slow, &id_slow),
                     0);
    assert_int_equal(dns_query(r, "never.greyspf.test", DNS_T_A, now, on_answer, &never, &id_never),
                     0);
    assert_int_equal(dns_query(r, "txt.greyspf.test", DNS_T_TXT, now, on_answer, &other, &id_other),
                     0);
    assert_int_equal(dns_resolver_pending(r), 3);
    assert_int_equal(dns_cancel(r, id_slow), 0);
    assert_int_equal(dns_cancel(r, id_never), 0);
    assert_int_equal(dns_cancel(r, id_never), -1);
    assert_int_equal(dns_resolver_pending(r), 1);
    /* the slow answer (300 ms) arrives while we pump; its callback must not run */
    pump(r, NULL, 0, 800);
    assert_int_equal(slow.calls, 0);
    assert_int_equal(never.calls, 0);
    assert_int_equal(other.calls, 1);
    assert_int_equal(other.a->status, DNS_OK);
    assert_int_equal(dns_cancel(r, id_other), -1); /* already delivered */
    assert_int_equal(dns_resolver_pending(r), 0);
    assert_int_equal(dns_resolver_next_timeout_ms(r, clock_mono_ms()), -1);
    dns_answer_free(other.a);

    /* destroy with queries in flight: no callback, no leak (ASan builds check) */
    assert_int_equal(
        dns_query(r, "slow.greyspf.test", DNS_T_TXT, clock_mono_ms(), on_answer, &slow, NULL), 0);
    assert_int_equal(
        dns_query(r, "never.greyspf.test", DNS_T_MX, clock_mono_ms(), on_answer, &slow, NULL), 0);
    dns_resolver_destroy(r);
    assert_int_equal(slow.calls, 0);
}

static void test_parallel_1000(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    struct dns_resolver *r = make_resolver(&cfg);
    struct counter c = {0};
    enum { COUNT = 1000 };
    uint64_t t0 = clock_mono_ms();
    for (int i = 0; i < COUNT; i++) {
        char name[64];
        snprintf(name, sizeof(name), "q%d.bulk.greyspf.test", i);
        int rc = dns_query(r, name, DNS_T_A, clock_mono_ms(), on_count, &c, NULL);
        if (rc != 0)
            fail_msg("query %d: %s", i, dns_strerror(rc));
    }
    assert_int_equal(dns_resolver_pending(r), COUNT);
    pump(r, &c.done, COUNT, 10000);
    uint64_t cold = clock_mono_ms() - t0;
    assert_int_equal(c.done, COUNT);
    assert_int_equal(c.ok, COUNT);

    struct counter warm = {0};
    t0 = clock_mono_ms();
    for (int i = 0; i < COUNT; i++) {
        char name[64];
        snprintf(name, sizeof(name), "q%d.bulk.greyspf.test", i);
        assert_int_equal(dns_query(r, name, DNS_T_A, clock_mono_ms(), on_count, &warm, NULL), 0);
    }
    pump(r, &warm.done, COUNT, 10000);
    uint64_t cached = clock_mono_ms() - t0;
    assert_int_equal(warm.ok, COUNT);
    printf("timing: %d parallel lookups: %llu ms cold (python server), %llu ms from cache\n", COUNT,
           (unsigned long long)cold, (unsigned long long)cached);
    dns_resolver_destroy(r);
}

/* --- resolvers created by several threads at once -------------------------------------- */

/* Workers create their resolvers on first use, at the same moment. libunbound initialises
 * globals in ub_ctx_create and at finalize without a lock; dns_unbound serialises that. This
 * runs first in the process (before any ctx exists), so under TSan an unserialised create
 * is reported (exit 66); every thread must also get its answer. */
enum { CREATORS = 4 };

struct creator {
    pthread_barrier_t *go;
    int created, answered;
    char err[256];
};

static void *create_and_ask(void *arg)
{
    struct creator *c = arg;
    struct dns_config cfg = test_config();
    pthread_barrier_wait(c->go);
    struct dns_resolver *r = dns_resolver_create(&cfg, c->err, sizeof(c->err));
    if (!r)
        return NULL;
    c->created = 1;
    struct counter n = {0};
    if (dns_query(r, "ttl60.greyspf.test", DNS_T_A, clock_mono_ms(), on_count, &n, NULL) == 0)
        pump(r, &n.done, 1, 5000);
    c->answered = n.ok;
    dns_resolver_destroy(r);
    return NULL;
}

static void test_concurrent_create(void **state)
{
    (void)state;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, CREATORS);
    struct creator c[CREATORS];
    pthread_t t[CREATORS];
    for (int i = 0; i < CREATORS; i++) {
        c[i] = (struct creator){.go = &go};
        assert_int_equal(pthread_create(&t[i], NULL, create_and_ask, &c[i]), 0);
    }
    for (int i = 0; i < CREATORS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < CREATORS; i++) {
        if (!c[i].created)
            fail_msg("thread %d: dns_resolver_create: %s", i, c[i].err);
        assert_int_equal(c[i].answered, 1);
    }
}

/* --- configuration errors ------------------------------------------------------------ */

static void test_config_errors(void **state)
{
    (void)state;
    static const char *const garbage_ta[] = {"this is not a trust anchor", NULL};
    struct {
        const char *name;
        const char *forwarder;
        bool dnssec;
        const char *ta_file;
        const char *const *tas;
        const char *want; /* substring of err */
    } cases[] = {
        {"forwarder port too big", "127.0.0.1@65536", false, NULL, NULL, "forwarder"},
        {"forwarder port empty", "127.0.0.1@", false, NULL, NULL, "forwarder"},
        {"forwarder not an address", "dns.example", false, NULL, NULL, "forwarder"},
        {"forwarder empty", "", false, NULL, NULL, "forwarder"},
        {"anchor file missing", "127.0.0.1@53", true, "/nonexistent/root.key", NULL,
         "/nonexistent/root.key"},
        {"anchor garbage", "127.0.0.1@53", true, NULL, garbage_ta, "initialization"},
        {"anchor file garbage", "127.0.0.1@53", true, "/etc/hostname", NULL, "initialization"},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        struct dns_config cfg = test_config();
        cfg.forwarder = cases[i].forwarder;
        cfg.dnssec = cases[i].dnssec;
        cfg.trust_anchor_file = cases[i].ta_file;
        cfg.trust_anchors = cases[i].tas;
        char err[256] = "";
        uint64_t t0 = clock_mono_ms();
        struct dns_resolver *r = dns_resolver_create(&cfg, err, sizeof(err));
        uint64_t took = clock_mono_ms() - t0;
        if (r) {
            print_error("%s: got a resolver, want an error\n", cases[i].name);
            dns_resolver_destroy(r);
            failures++;
        } else if (!strstr(err, cases[i].want)) {
            print_error("%s: got \"%s\", want it to mention \"%s\"\n", cases[i].name, err,
                        cases[i].want);
            failures++;
        } else if (took > 1000) {
            print_error("%s: took %llu ms, want an immediate error\n", cases[i].name,
                        (unsigned long long)took);
            failures++;
        }
    }
    assert_int_equal(failures, 0);

    /* good forms */
    static const char *const good[] = {"127.0.0.1", "::1@5353", "127.0.0.1@53"};
    for (size_t i = 0; i < N(good); i++) {
        struct dns_config cfg = test_config();
        cfg.forwarder = good[i];
        char err[256] = "";
        struct dns_resolver *r = dns_resolver_create(&cfg, err, sizeof(err));
        if (!r)
            fail_msg("forwarder %s: %s", good[i], err);
        dns_resolver_destroy(r);
    }
}

/* --- DNSSEC -------------------------------------------------------------------------- */

struct sec_case {
    const char *name;
    enum dns_type type;
    enum dns_status status;
    bool secure;
};

static const struct sec_case sec_cases[] = {
    {"www.signed.test", DNS_T_A, DNS_OK, true},
    {"txt.signed.test", DNS_T_TXT, DNS_OK, true},
    {"nope.signed.test", DNS_T_A, DNS_NXDOMAIN, true},
    {"www.signed.test", DNS_T_AAAA, DNS_NODATA, true},
    {"bad.signed.test", DNS_T_A, DNS_BOGUS, false},
    {"a.greyspf.test", DNS_T_A, DNS_OK, false}, /* unsigned, outside the anchor */
    {"nope.greyspf.test", DNS_T_A, DNS_NXDOMAIN, false},
};

static void check_dnssec(struct dns_resolver *r)
{
    struct result res[N(sec_cases)] = {{0}};
    for (size_t i = 0; i < N(sec_cases); i++)
        assert_int_equal(dns_query(r, sec_cases[i].name, sec_cases[i].type, clock_mono_ms(),
                                   on_answer, &res[i], NULL),
                         0);
    uint64_t took = drain(r, 10000);
    printf("timing: %zu DNSSEC lookups in %llu ms\n", N(sec_cases), (unsigned long long)took);
    int failures = 0;
    for (size_t i = 0; i < N(sec_cases); i++) {
        const struct sec_case *c = &sec_cases[i];
        const struct dns_answer *a = res[i].a;
        if (res[i].calls != 1) {
            print_error("%s: got %d callbacks, want 1\n", c->name, res[i].calls);
            failures++;
            continue;
        }
        if (a->status != c->status || a->secure != c->secure) {
            print_error("%s %s: got %s secure=%d (%s), want %s secure=%d\n", c->name,
                        dns_type_name(c->type), dns_status_name(a->status), a->secure,
                        a->why_bogus ? a->why_bogus : "-", dns_status_name(c->status), c->secure);
            failures++;
        } else if ((a->status == DNS_BOGUS) != (a->why_bogus != NULL) ||
                   (a->status == DNS_BOGUS && (a->n != 0 || a->rcode != 0))) {
            print_error("%s: got why_bogus %s n %u rcode %d\n", c->name,
                        a->why_bogus ? a->why_bogus : "NULL", a->n, a->rcode);
            failures++;
        }
        if (a->status == DNS_BOGUS)
            printf("bogus: %s: %s\n", c->name, a->why_bogus);
        dns_answer_free(res[i].a);
    }
    assert_int_equal(failures, 0);
}

static void test_dnssec_anchor_file(void **state)
{
    (void)state;
    struct dns_config cfg = test_config();
    cfg.dnssec = true;
    cfg.trust_anchor_file = anchor_file;
    uint64_t t0 = clock_mono_ms();
    struct dns_resolver *r = make_resolver(&cfg);
    printf("timing: dnssec resolver created (probe included) in %llu ms\n",
           (unsigned long long)(clock_mono_ms() - t0));
    check_dnssec(r);
    dns_resolver_destroy(r);
}

static void test_dnssec_anchor_string(void **state)
{
    (void)state;
    char ds[512] = "";
    FILE *f = fopen(anchor_file, "r");
    assert_non_null(f);
    assert_non_null(fgets(ds, sizeof(ds), f));
    fclose(f);
    ds[strcspn(ds, "\n")] = '\0';
    /* the file anchors an unrelated zone; the string anchors signed.test. */
    char other[700];
    snprintf(other, sizeof(other), "%s/other.ds", tmpdir);
    f = fopen(other, "w");
    assert_non_null(f);
    fprintf(f, "unrelated.invalid. IN DS 12345 13 2 "
               "0000000000000000000000000000000000000000000000000000000000000000\n");
    fclose(f);
    const char *anchors[] = {ds, NULL};
    struct dns_config cfg = test_config();
    cfg.dnssec = true;
    cfg.trust_anchor_file = other;
    cfg.trust_anchors = anchors;
    struct dns_resolver *r = make_resolver(&cfg);
    check_dnssec(r);
    dns_resolver_destroy(r);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DNS_SERVER_PY ZONE_FILE SIGN_SCRIPT\n", argv[0]);
        return 2;
    }
    server_py = argv[1];
    zone_file = argv[2];
    sign_script = argv[3];
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_create), /* first: no ctx exists yet */
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_qname_normalised),
        cmocka_unit_test(test_local_zones_default),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_parallel_1000),
        cmocka_unit_test(test_dnssec_anchor_file),
        cmocka_unit_test(test_dnssec_anchor_string),
    };
    return cmocka_run_group_tests_name("dns_unbound", tests, start_server, stop_server);
}
