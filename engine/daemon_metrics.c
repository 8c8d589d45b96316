/* engine/daemon_metrics.c - greyspfd's metric families; see daemon_metrics.h. */
#include "engine/daemon_metrics.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const state_values[DM_STATES] = {
    "unknown", "CONNECT", "EHLO", "HELO", "MAIL", "RCPT",
    "DATA", "BDAT", "END-OF-MESSAGE", "VRFY", "ETRN"};
static const char *const action_values[DM_ACTIONS] = {
    "dunno", "ok", "prepend", "defer_if_permit", "defer", "reject",
    "4xx", "5xx", "warn", "hold_discard", "other"};
static const char *const stage_values[DM_STAGES] = {"skip", "spf", "greylist"};
static const char *const proto_values[DM_PROTO_ERRORS] = {
    "line_too_long", "too_large", "too_many_attributes", "nul_byte", "no_equals",
    "empty_name", "no_request", "bad_request", "bad_number"};
static const char *const identity_values[2] = {"mailfrom", "helo"};
static const char *const result_values[SPF_RESULT_COUNT] = {
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
static const char *const secure_values[2] = {"no", "yes"};
static const char *const dns_values[DM_DNS_STATUS] = {
    "noerror", "nodata", "nxdomain", "servfail", "timeout", "bogus", "error"};
static const char *const reload_values[2] = {"success", "failure"};
static const char *const grey_values[DM_GREY_DECISIONS] = {
    "new", "early", "passed", "awl", "whitelisted", "learning", "error"};
static const char *const kv_op_values[DM_KV_OPS] = {"get", "update"};
static const char *const kv_result_values[DM_KV_RESULTS] = {"ok", "error"};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define LABEL(name, vals) {name, vals, N(vals)}

int daemon_metrics_init(struct daemon_metrics *dm)
{
    memset(dm, 0, sizeof(*dm));
    struct metrics_registry *reg = metrics_registry_create();
    dm->reg = reg;
    static const struct metrics_label l_state[] = {LABEL("state", state_values)};
    static const struct metrics_label l_action[] = {LABEL("action", action_values)};
    static const struct metrics_label l_stage[] = {LABEL("stage", stage_values)};
    static const struct metrics_label l_proto[] = {LABEL("reason", proto_values)};
    static const struct metrics_label l_spf[] = {LABEL("identity", identity_values),
                                                 LABEL("result", result_values),
                                                 LABEL("secure", secure_values)};
    static const struct metrics_label l_dns[] = {LABEL("rcode", dns_values)};
    static const struct metrics_label l_reload[] = {LABEL("result", reload_values)};
    static const struct metrics_label l_grey[] = {LABEL("decision", grey_values)};
    static const struct metrics_label l_kv[] = {LABEL("op", kv_op_values),
                                                LABEL("result", kv_result_values)};
    const struct metrics_family_desc f_req = {
        "greyspf_requests_total", "Policy requests decided, by SMTP protocol state.", l_state, 1};
    const struct metrics_family_desc f_act = {
        "greyspf_actions_total", "Replies sent, by access(5) action.", l_action, 1};
    const struct metrics_family_desc f_dur = {
        "greyspf_request_duration_seconds",
        "Time from a complete request to its decided reply.", NULL, 0};
    const struct metrics_family_desc f_stage = {
        "greyspf_stage_duration_seconds",
        "Time each pipeline stage took per request (asynchronous stages: wall time).", l_stage,
        1};
    const struct metrics_family_desc f_proto = {
        "greyspf_protocol_errors_total",
        "Malformed or oversize requests; each closed its connection without a reply.", l_proto,
        1};
    const struct metrics_family_desc f_acc = {
        "greyspf_connections_accepted_total", "Policy client connections accepted.", NULL, 0};
    const struct metrics_family_desc f_spf = {
        "greyspf_spf_results_total",
        "SPF results by identity, result and whether every answer was DNSSEC-validated.", l_spf,
        3};
    const struct metrics_family_desc f_dns = {
        "greyspf_dns_queries_total", "DNS answers received by SPF checks, by status.", l_dns, 1};
    const struct metrics_family_desc f_dnsd = {
        "greyspf_dns_lookup_duration_seconds", "Time from query to answer of DNS lookups.", NULL,
        0};
    const struct metrics_family_desc f_rel = {
        "greyspf_config_reloads_total", "Configuration reloads (SIGHUP), by outcome.", l_reload,
        1};
    const struct metrics_family_desc f_grey = {
        "greyspf_greylist_decisions_total",
        "Greylisting decisions of RCPT requests (error: the store failed, the request passed).",
        l_grey, 1};
    const struct metrics_family_desc f_kv = {
        "greyspf_kv_operations_total", "State store calls made by greylisting, by outcome.",
        l_kv, 2};
    int rc;
    if ((rc = metrics_counter_register(reg, &f_req, dm->requests, DM_STATES)) ||
        (rc = metrics_counter_register(reg, &f_act, dm->actions, DM_ACTIONS)) ||
        (rc = metrics_histogram_register(reg, &f_dur, metrics_buckets_seconds,
                                         METRICS_BUCKETS_SECONDS_N, &dm->request_duration, 1)) ||
        (rc = metrics_histogram_register(reg, &f_stage, metrics_buckets_seconds,
                                         METRICS_BUCKETS_SECONDS_N, dm->stage_duration,
                                         DM_STAGES)) ||
        (rc = metrics_counter_register(reg, &f_proto, dm->protocol_errors, DM_PROTO_ERRORS)) ||
        (rc = metrics_counter_register(reg, &f_acc, &dm->accepted, 1)) ||
        (rc = metrics_counter_register(reg, &f_spf, &dm->spf_results[0][0][0],
                                       2 * SPF_RESULT_COUNT * 2)) ||
        (rc = metrics_counter_register(reg, &f_dns, dm->dns_queries, DM_DNS_STATUS)) ||
        (rc = metrics_histogram_register(reg, &f_dnsd, metrics_buckets_seconds,
                                         METRICS_BUCKETS_SECONDS_N, &dm->dns_duration, 1)) ||
        (rc = metrics_counter_register(reg, &f_rel, dm->reloads, 2)) ||
        (rc = metrics_counter_register(reg, &f_grey, dm->greylist_decisions,
                                       DM_GREY_DECISIONS)) ||
        (rc = metrics_counter_register(reg, &f_kv, &dm->kv_ops[0][0],
                                       DM_KV_OPS * DM_KV_RESULTS)) ||
        (rc = metrics_process_register(reg, GREYSPF_VERSION)))
        return rc;
    return 0;
}

void daemon_metrics_fini(struct daemon_metrics *dm)
{
    metrics_registry_destroy(dm->reg);
    dm->reg = NULL;
}

unsigned daemon_metrics_action_index(const char *a)
{
    size_t n = strcspn(a, " ");
    if (n == 3 && isdigit((unsigned char)a[0]))
        return a[0] == '4' ? 6 : a[0] == '5' ? 7 : 10;
    static const struct {
        const char *kw;
        unsigned idx;
    } kws[] = {{"DUNNO", 0},  {"OK", 1},    {"PREPEND", 2}, {"DEFER_IF_PERMIT", 3},
               {"DEFER", 4},  {"REJECT", 5}, {"WARN", 8},    {"HOLD", 9},
               {"DISCARD", 9}};
    for (size_t i = 0; i < N(kws); i++)
        if (strlen(kws[i].kw) == n && strncasecmp(a, kws[i].kw, n) == 0)
            return kws[i].idx;
    return 10;
}

int daemon_metrics_stage_index(const char *stage)
{
    for (int i = 0; i < DM_STAGES; i++)
        if (strcmp(stage, stage_values[i]) == 0)
            return i;
    return -1;
}

unsigned daemon_metrics_proto_error_index(int err)
{
    unsigned i = (unsigned)(-err) - 1;
    return i < DM_PROTO_ERRORS ? i : DM_PROTO_ERRORS - 1;
}
