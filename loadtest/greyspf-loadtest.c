/* loadtest/greyspf-loadtest.c - load generator for Postfix policy servers (main: options,
 * threads, report). Every connection behaves like one Postfix smtpd: a full request, wait
 * for the whole reply, then the next. The work itself is in loadgen.c (one epoll loop per
 * thread), the requests in workload.c, the latency histogram in histogram.c.
 *
 * Every run is bounded: -n (at most 10^9 measured requests) and/or -d (at most 3600 s); a
 * run with only -n still stops after 3600 s. Exit status: 0 clean; 1 on any error,
 * unexpected reply, no reply at all, or (with --idle) a connection not held to the end;
 * 2 on a usage error. See loadtest/README.md. */
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "loadtest/endpoint.h"
#include "loadtest/histogram.h"
#include "loadtest/loadgen.h"
#include "loadtest/workload.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define REQUESTS_MAX 1000000000ull
#define DURATION_MAX_S 3600.0
#define WARMUP_MAX_S 600.0
#define CONNS_MAX 200000ull
#define THREADS_MAX 64ull
#define RATE_MAX 1e8
#define TIMEOUT_MAX_MS 3600000ull
#define CONNECT_PHASE_NS 60000000000ull /* the initial connects give up after 60 s */
#define FD_SPARE 32                     /* fds besides the connections */

struct options {
    const char *connect, *expect, *mix;
    uint64_t conns, requests, threads, population, seed, timeout_ms, burst;
    double duration_s, warmup_s, rate;
    int idle, reconnect, json;
    const char *domain;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: greyspf-loadtest --connect inet:HOST:PORT|unix:/path (-n N | -d SECONDS)\n"
               "         [-c CONNS] [--threads N] [--mix unique|repeat:K|zipf:S]\n"
               "         [--population N] [--seed N] [--domain SUFFIX] [--rate REQ_PER_S]\n"
               "         [--warmup SECONDS] [--timeout MS] [--expect REGEX] [--reconnect]\n"
               "         [--connect-burst N] [--json]\n"
               "       greyspf-loadtest --connect ENDPOINT --idle -c CONNS -d SECONDS [--json]\n"
               "  -c, --connections N  connections (default 16), each one request at a time\n"
               "  -n, --requests N     measured requests in all (<= 10^9)\n"
               "  -d, --duration S     measured seconds (<= 3600); with --idle: hold time\n"
               "  --threads N          epoll threads sharing the connections (default 1)\n"
               "  --mix M              unique (default) | repeat:K (each triplet K times in a\n"
               "                       row) | zipf:S (population ranks, P(k) ~ 1/k^S)\n"
               "  --population N       zipf population (default 100000, <= 10^7)\n"
               "  --seed N             triplet universe and sequence (default 1)\n"
               "  --domain SUFFIX      sender domains d<N>.SUFFIX (default example.test)\n"
               "  --rate R             open loop: R requests/s in all, spread over connections;\n"
               "                       latency counts from when a request was due\n"
               "  --warmup S           load first, unmeasured, for S seconds (default 0)\n"
               "  --timeout MS         connect and reply timeout (default 10000; 0: none)\n"
               "  --expect REGEX       extended regex anchored at the start of the action\n"
               "                       (\"DUNNO\", \"DEFER_IF_PERMIT|DUNNO\"); others are\n"
               "                       counted as unexpected and make the exit status 1\n"
               "  --reconnect          reconnect closed connections; resend an unanswered\n"
               "                       request once (as Postfix does)\n"
               "  --connect-burst N    connects in flight per thread (default 64)\n"
               "  --idle               connect -c connections, send nothing, hold them -d s\n"
               "  --json               one JSON object on stdout instead of the text report\n");
}

/* parse_u64 - a decimal in [lo, hi] */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* parse_double - a finite number in [lo, hi] */
static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* bad_arg - report a bad option value; returns 2 (usage) */
static int bad_arg(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, "greyspf-loadtest: %s %s: want %s\n", opt, val, want);
    return 2;
}

/* parse_options - fill o from argv; 0, or the exit status for a usage error */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        O_THREADS = 256,
        O_MIX,
        O_POP,
        O_SEED,
        O_RATE,
        O_WARMUP,
        O_TIMEOUT,
        O_EXPECT,
        O_IDLE,
        O_RECONNECT,
        O_JSON,
        O_BURST,
        O_DOMAIN,
        O_CONNECT
    };
    static const struct option opts[] = {{"connect", required_argument, NULL, O_CONNECT},
                                         {"connections", required_argument, NULL, 'c'},
                                         {"requests", required_argument, NULL, 'n'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"mix", required_argument, NULL, O_MIX},
                                         {"population", required_argument, NULL, O_POP},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"domain", required_argument, NULL, O_DOMAIN},
                                         {"rate", required_argument, NULL, O_RATE},
                                         {"warmup", required_argument, NULL, O_WARMUP},
                                         {"timeout", required_argument, NULL, O_TIMEOUT},
                                         {"expect", required_argument, NULL, O_EXPECT},
                                         {"idle", no_argument, NULL, O_IDLE},
                                         {"reconnect", no_argument, NULL, O_RECONNECT},
                                         {"connect-burst", required_argument, NULL, O_BURST},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:n:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_CONNECT:
            o->connect = optarg;
            break;
        case 'c':
            if (parse_u64(optarg, 1, CONNS_MAX, &o->conns) < 0)
                return bad_arg("-c", optarg, "1..200000");
            break;
        case 'n':
            if (parse_u64(optarg, 1, REQUESTS_MAX, &o->requests) < 0)
                return bad_arg("-n", optarg, "1..1000000000");
            break;
        case 'd':
            if (parse_double(optarg, 0.001, DURATION_MAX_S, &o->duration_s) < 0)
                return bad_arg("-d", optarg, "0.001..3600 seconds");
            break;
        case O_THREADS:
            if (parse_u64(optarg, 1, THREADS_MAX, &o->threads) < 0)
                return bad_arg("--threads", optarg, "1..64");
            break;
        case O_MIX:
            o->mix = optarg;
            break;
        case O_POP:
            if (parse_u64(optarg, 1, WORKLOAD_ZIPF_POPULATION_MAX, &o->population) < 0)
                return bad_arg("--population", optarg, "1..10000000");
            break;
        case O_SEED:
            if (parse_u64(optarg, 0, UINT64_MAX, &o->seed) < 0)
                return bad_arg("--seed", optarg, "an unsigned integer");
            break;
        case O_DOMAIN:
            o->domain = optarg;
            break;
        case O_RATE:
            if (parse_double(optarg, 0.001, RATE_MAX, &o->rate) < 0)
                return bad_arg("--rate", optarg, "0.001..1e8 requests/s");
            break;
        case O_WARMUP:
            if (parse_double(optarg, 0, WARMUP_MAX_S, &o->warmup_s) < 0)
                return bad_arg("--warmup", optarg, "0..600 seconds");
            break;
        case O_TIMEOUT:
            if (parse_u64(optarg, 0, TIMEOUT_MAX_MS, &o->timeout_ms) < 0)
                return bad_arg("--timeout", optarg, "0..3600000 ms");
            break;
        case O_EXPECT:
            o->expect = optarg;
            break;
        case O_IDLE:
            o->idle = 1;
            break;
        case O_RECONNECT:
            o->reconnect = 1;
            break;
        case O_BURST:
            if (parse_u64(optarg, 1, 65536, &o->burst) < 0)
                return bad_arg("--connect-burst", optarg, "1..65536");
            break;
        case O_JSON:
            o->json = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *why = NULL;
    if (optind != argc)
        why = "unexpected argument";
    else if (!o->connect)
        why = "--connect is required";
    else if (!o->requests && o->duration_s == 0)
        why = "-n or -d is required";
    else if (o->idle && (o->requests || o->duration_s == 0))
        why = "--idle needs -d and no -n";
    else if (o->idle && (o->rate > 0 || o->reconnect || o->expect || o->warmup_s > 0))
        why = "--idle takes no --rate, --reconnect, --expect or --warmup";
    else if (o->threads > o->conns)
        why = "--threads must not exceed -c";
    if (why) {
        fprintf(stderr, "greyspf-loadtest: %s\n", why);
        usage(stderr);
        return 2;
    }
    return 0;
}

/* raise_nofile - soft RLIMIT_NOFILE to the hard limit; returns the soft limit */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

/* json_str - s as a JSON string on f */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

static uint64_t errors_total(const struct loadgen_stats *s)
{
    return s->err_connect + s->err_closed + s->err_timeout + s->err_malformed;
}

/* report_idle - the --idle result */
static void report_idle(const struct options *o, const struct loadgen_stats *s)
{
    if (o->json) {
        printf("{\"mode\":\"idle\",\"target\":");
        json_str(stdout, o->connect);
        printf(",\"connections\":%llu,\"threads\":%llu,\"hold_s\":%.3f,\"established\":%llu,"
               "\"still_open\":%llu,\"errors\":{\"connect\":%llu,\"closed\":%llu,"
               "\"timeout\":%llu,\"malformed\":%llu,\"total\":%llu}}\n",
               (unsigned long long)o->conns, (unsigned long long)o->threads, o->duration_s,
               (unsigned long long)s->established, (unsigned long long)s->open_at_end,
               (unsigned long long)s->err_connect, (unsigned long long)s->err_closed,
               (unsigned long long)s->err_timeout, (unsigned long long)s->err_malformed,
               (unsigned long long)errors_total(s));
        return;
    }
    printf("target %s, idle, %llu connections, %llu thread%s\n"
           "established %llu, still open after %.1f s: %llu\n"
           "errors: connect %llu, closed %llu, timeout %llu, malformed %llu\n",
           o->connect, (unsigned long long)o->conns, (unsigned long long)o->threads,
           o->threads == 1 ? "" : "s", (unsigned long long)s->established, o->duration_s,
           (unsigned long long)s->open_at_end, (unsigned long long)s->err_connect,
           (unsigned long long)s->err_closed, (unsigned long long)s->err_timeout,
           (unsigned long long)s->err_malformed);
}

/* report_load - the load result */
static void report_load(const struct options *o, const struct loadgen_stats *s)
{
    const struct histogram *h = &s->latency;
    double secs = (double)s->elapsed_ns / 1e9;
    double rps = secs > 0 ? (double)s->requests / secs : 0;
    static const double pcts[] = {50, 90, 99, 99.9};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
    static const char *const json_names[] = {"p50", "p90", "p99", "p999"};
    if (o->json) {
        printf("{\"mode\":\"load\",\"target\":");
        json_str(stdout, o->connect);
        printf(",\"connections\":%llu,\"threads\":%llu,\"mix\":", (unsigned long long)o->conns,
               (unsigned long long)o->threads);
        json_str(stdout, o->mix);
        printf(",\"seed\":%llu,\"rate\":%.3f,\"warmup_s\":%.3f,\"duration_s\":%.6f,"
               "\"requests\":%llu,\"rps\":%.1f,\"latency_us\":{",
               (unsigned long long)o->seed, o->rate, o->warmup_s, secs,
               (unsigned long long)s->requests, rps);
        for (size_t i = 0; i < 4; i++)
            printf("\"%s\":%.1f,", json_names[i], us(histogram_percentile(h, pcts[i])));
        printf("\"min\":%.1f,\"max\":%.1f,\"mean\":%.1f},\"actions\":{",
               us(histogram_percentile(h, 0)), us(histogram_percentile(h, 100)),
               histogram_mean(h) / 1000.0);
        for (size_t i = 0; i < s->n_actions; i++) {
            if (i)
                putchar(',');
            json_str(stdout, s->actions[i].keyword);
            printf(":%llu", (unsigned long long)s->actions[i].count);
        }
        if (s->actions_other)
            printf("%s\"OTHER\":%llu", s->n_actions ? "," : "",
                   (unsigned long long)s->actions_other);
        printf("},\"errors\":{\"connect\":%llu,\"closed\":%llu,\"timeout\":%llu,"
               "\"malformed\":%llu,\"total\":%llu},\"unexpected\":%llu,\"reconnects\":%llu,"
               "\"retries\":%llu}\n",
               (unsigned long long)s->err_connect, (unsigned long long)s->err_closed,
               (unsigned long long)s->err_timeout, (unsigned long long)s->err_malformed,
               (unsigned long long)errors_total(s), (unsigned long long)s->unexpected,
               (unsigned long long)s->reconnects, (unsigned long long)s->retries);
        return;
    }
    printf("target %s, %llu connections, %llu thread%s, mix %s, ", o->connect,
           (unsigned long long)o->conns, (unsigned long long)o->threads, o->threads == 1 ? "" : "s",
           o->mix);
    if (o->rate > 0)
        printf("open loop at %.0f req/s", o->rate);
    else
        printf("closed loop");
    printf(", warmup %.1f s\n", o->warmup_s);
    printf("requests %llu in %.2f s = %.1f req/s\n", (unsigned long long)s->requests, secs, rps);
    printf("latency us:");
    for (size_t i = 0; i < 4; i++)
        printf(" %s %.1f ", names[i], us(histogram_percentile(h, pcts[i])));
    printf(" max %.1f  mean %.1f\n", us(histogram_percentile(h, 100)), histogram_mean(h) / 1000.0);
    printf("actions:");
    for (size_t i = 0; i < s->n_actions; i++)
        printf(" %s %llu", s->actions[i].keyword, (unsigned long long)s->actions[i].count);
    if (s->actions_other)
        printf(" OTHER %llu", (unsigned long long)s->actions_other);
    printf("%s\n", s->n_actions || s->actions_other ? "" : " none");
    printf("errors: connect %llu, closed %llu, timeout %llu, malformed %llu; unexpected %llu; "
           "reconnects %llu, retries %llu\n",
           (unsigned long long)s->err_connect, (unsigned long long)s->err_closed,
           (unsigned long long)s->err_timeout, (unsigned long long)s->err_malformed,
           (unsigned long long)s->unexpected, (unsigned long long)s->reconnects,
           (unsigned long long)s->retries);
}

int main(int argc, char **argv)
{
    struct options o = {.conns = 16,
                        .threads = 1,
                        .population = 100000,
                        .seed = 1,
                        .timeout_ms = 10000,
                        .burst = 64,
                        .mix = "unique"};
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc;

    char why[256];
    struct endpoint ep;
    if (endpoint_parse(o.connect, &ep, why, sizeof why) < 0) {
        fprintf(stderr, "greyspf-loadtest: --connect %s: %s\n", o.connect, why);
        return 2;
    }
    struct workload_config wc = {.population = o.population, .seed = o.seed, .domain = o.domain};
    if (workload_mix_parse(o.mix, &wc) < 0)
        return bad_arg("--mix", o.mix, "unique, repeat:K (K >= 1) or zipf:S (0 <= S <= 10)");
    regex_t re;
    if (o.expect) {
        size_t len = strlen(o.expect) + 8;
        char *pat = xmalloc(len);
        snprintf(pat, len, "^(%s)", o.expect);
        int e = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
        free(pat);
        if (e != 0) {
            regerror(e, &re, why, sizeof why);
            fprintf(stderr, "greyspf-loadtest: --expect %s: bad regex: %s\n", o.expect, why);
            return 2;
        }
    }
    uint64_t nofile = raise_nofile();
    if (o.conns + FD_SPARE + o.threads > nofile) {
        fprintf(stderr,
                "greyspf-loadtest: %llu connections need %llu descriptors; the limit "
                "is %llu (raise the hard limit: ulimit -Hn)\n",
                (unsigned long long)o.conns, (unsigned long long)(o.conns + FD_SPARE + o.threads),
                (unsigned long long)nofile);
        return 2;
    }
    struct workload *wl = workload_create(&wc, why, sizeof why);
    if (!wl) {
        fprintf(stderr, "greyspf-loadtest: %s\n", why);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)o.threads + 1);
    struct loadgen_config cfg = {
        .ep = &ep,
        .wl = wl,
        .expect = o.expect ? &re : NULL,
        .idle = o.idle,
        .reconnect = o.reconnect,
        .timeout_ns = o.timeout_ms * 1000000ull,
        .warmup_ns = (uint64_t)(o.warmup_s * 1e9),
        .duration_ns = (uint64_t)((o.duration_s > 0 ? o.duration_s : DURATION_MAX_S) * 1e9),
        .connect_phase_ns = CONNECT_PHASE_NS,
        .connect_burst = (unsigned)o.burst,
        .start = &start,
    };
    struct loadgen_thread *ts = xcalloc(o.threads, sizeof *ts);
    pthread_t *tids = xcalloc(o.threads, sizeof *tids);
    uint64_t first = 0;
    for (uint64_t i = 0; i < o.threads; i++) {
        struct loadgen_thread *t = &ts[i];
        t->cfg = &cfg;
        t->first_conn = first;
        t->n_conns = o.conns / o.threads + (i < o.conns % o.threads);
        t->all_conns = o.conns;
        first += t->n_conns;
        t->quota = o.requests ? o.requests / o.threads + (i < o.requests % o.threads) : UINT64_MAX;
        t->rate = o.rate * (double)t->n_conns / (double)o.conns;
        int e = pthread_create(&tids[i], NULL, loadgen_thread_main, t);
        if (e != 0) {
            fprintf(stderr, "greyspf-loadtest: pthread_create: %s\n", strerror(e));
            return 1;
        }
    }
    pthread_barrier_wait(&start); /* every thread has finished connecting */
    if (o.idle) {
        uint64_t up = 0;
        for (uint64_t i = 0; i < o.threads; i++)
            up += ts[i].stats.established; /* written before the barrier */
        fprintf(stderr, "greyspf-loadtest: holding %llu of %llu connections for %.1f s\n",
                (unsigned long long)up, (unsigned long long)o.conns, o.duration_s);
    }
    struct loadgen_stats *total = xmalloc(sizeof *total);
    loadgen_stats_init(total);
    for (uint64_t i = 0; i < o.threads; i++) {
        pthread_join(tids[i], NULL);
        loadgen_stats_merge(total, &ts[i].stats);
    }
    pthread_barrier_destroy(&start);

    int status = errors_total(total) || total->unexpected ? 1 : 0;
    if (o.idle) {
        report_idle(&o, total);
        if (total->open_at_end != o.conns)
            status = 1;
    } else {
        report_load(&o, total);
        if (total->requests == 0) {
            fprintf(stderr, "greyspf-loadtest: no replies measured\n");
            status = 1;
        }
    }
    fflush(stdout);
    if (o.expect)
        regfree(&re);
    workload_destroy(wl);
    free(total);
    free(ts);
    free(tids);
    return status;
}
