/* tests/unit/metrics/metrics_sample.c - a populated registry served on loopback, for
 * promtool_check.sh (ctest integration.metrics_promtool). Not a unit test itself.
 * Registers every family DESIGN.md names, label values that need escaping, histograms with
 * and without labels, callback families and the process gauges; updates them from a shard
 * and the shared slots; serves on 127.0.0.1:<free port>, prints the port on stdout, and
 * exits on SIGTERM/SIGINT or after 60 s. */
#include "metrics/metrics.h"
#include "metrics/metrics_http.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static double depth_cb(void *arg, size_t series)
{
    return 3.0 + (double)series;
}

static void must(int err, const char *what)
{
    if (err) {
        fprintf(stderr, "metrics_sample: %s: %s\n", what, metrics_strerror(err));
        exit(1);
    }
}

int main(void)
{
    struct metrics_registry *reg = metrics_registry_create();
    static const char *const states[] = {"CONNECT", "EHLO", "HELO",           "MAIL", "RCPT",
                                         "DATA",    "BDAT", "END-OF-MESSAGE", "VRFY", "ETRN"};
    static const char *const actions[] = {"dunno", "defer", "reject", "prepend", "fail_open"};
    static const char *const identities[] = {"helo", "mailfrom"};
    static const char *const results[] = {"pass", "fail",      "softfail", "neutral",
                                          "none", "permerror", "temperror"};
    static const char *const decisions[] = {"new", "early", "pass", "whitelisted"};
    static const char *const rcodes[] = {"NOERROR", "NXDOMAIN", "SERVFAIL", "timeout"};
    static const char *const odd[] = {"back\\slash", "quote\"d", "new\nline", "utf8 \xc3\xa9"};
    const struct metrics_label l_state = {"state", states, N(states)};
    const struct metrics_label l_action = {"action", actions, N(actions)};
    const struct metrics_label l_spf[] = {{"identity", identities, N(identities)},
                                          {"result", results, N(results)}};
    const struct metrics_label l_dec = {"decision", decisions, N(decisions)};
    const struct metrics_label l_rcode = {"rcode", rcodes, N(rcodes)};
    const struct metrics_label l_odd = {"value", odd, N(odd)};

    struct metrics_counter req[N(states)], act[N(actions)], spf[14], dec[N(decisions)],
        dns[N(rcodes)], oddc[N(odd)];
    struct metrics_gauge conns;
    struct metrics_histogram dur, dns_dur[N(rcodes)];
    const struct metrics_family_desc d_req = {"greyspf_requests_total",
                                              "Policy requests by protocol state.", &l_state, 1};
    const struct metrics_family_desc d_act = {"greyspf_actions_total", "Replies by action.",
                                              &l_action, 1};
    const struct metrics_family_desc d_spf = {"greyspf_spf_results_total",
                                              "SPF results by identity.", l_spf, 2};
    const struct metrics_family_desc d_dec = {"greyspf_greylist_decisions_total",
                                              "Greylist decisions.", &l_dec, 1};
    const struct metrics_family_desc d_dns = {"greyspf_dns_queries_total", "DNS queries by rcode.",
                                              &l_rcode, 1};
    const struct metrics_family_desc d_odd = {"greyspf_test_escaping_total",
                                              "Help with a back\\slash\nand a newline.", &l_odd, 1};
    const struct metrics_family_desc d_conns = {"greyspf_connections", "Open policy connections.",
                                                NULL, 0};
    const struct metrics_family_desc d_dur = {"greyspf_request_duration_seconds",
                                              "Time from request to reply.", NULL, 0};
    const struct metrics_family_desc d_dns_dur = {"greyspf_dns_query_duration_seconds",
                                                  "DNS lookup time.", &l_rcode, 1};
    const struct metrics_family_desc d_depth = {"greyspf_queue_depth", "Requests queued.", NULL, 0};
    must(metrics_counter_register(reg, &d_req, req, N(req)), "requests");
    must(metrics_counter_register(reg, &d_act, act, N(act)), "actions");
    must(metrics_counter_register(reg, &d_spf, spf, N(spf)), "spf");
    must(metrics_counter_register(reg, &d_dec, dec, N(dec)), "decisions");
    must(metrics_counter_register(reg, &d_dns, dns, N(dns)), "dns");
    must(metrics_counter_register(reg, &d_odd, oddc, N(oddc)), "escaping");
    must(metrics_gauge_register(reg, &d_conns, &conns, 1), "connections");
    must(metrics_histogram_register(reg, &d_dur, metrics_buckets_seconds, METRICS_BUCKETS_SECONDS_N,
                                    &dur, 1),
         "duration");
    must(metrics_histogram_register(reg, &d_dns_dur, metrics_buckets_seconds,
                                    METRICS_BUCKETS_SECONDS_N, dns_dur, N(dns_dur)),
         "dns duration");
    must(metrics_callback_register(reg, &d_depth, METRICS_GAUGE, depth_cb, NULL), "depth");
    must(metrics_process_register(reg, "0.1.0~test"), "process");

    struct metrics_shard *sh = metrics_shard_create(reg);
    for (size_t i = 0; i < N(req); i++)
        metrics_counter_add(sh, req[i], i * 7);
    for (size_t i = 0; i < N(spf); i++)
        metrics_counter_add(sh, spf[i], i);
    metrics_counter_add_shared(reg, act[1], 5);
    metrics_counter_add(sh, oddc[2], 1);
    metrics_gauge_add(sh, conns, 12);
    for (int i = 0; i < 1000; i++) {
        metrics_histogram_observe(sh, dur, 1e-5 * i * i);
        metrics_histogram_observe(sh, dns_dur[i % 4], 0.001 * i);
    }

    char err[256];
    struct metrics_http *h = metrics_http_start(reg, "127.0.0.1:0", NULL, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "metrics_sample: %s\n", err);
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    printf("%d\n", metrics_http_port(h));
    fflush(stdout);
    struct timespec limit = {60, 0};
    sigtimedwait(&set, NULL, &limit);
    metrics_http_stop(h);
    metrics_shard_release(sh);
    metrics_registry_destroy(reg);
    return 0;
}
