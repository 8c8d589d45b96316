/* engine/daemon_metrics.h - greyspfd's metric families and the handles threads update.
 *
 * Registered once at start (before any thread takes a shard); each I/O thread and worker
 * takes its own shard (metrics/metrics.h) and updates it without locks. Names follow
 * DESIGN.md (fixed for dashboards and alerts) plus:
 *   greyspf_requests_total{state}             requests decided, by protocol_state
 *   greyspf_actions_total{action}             replies by access(5) action keyword
 *   greyspf_request_duration_seconds          parse -> reply, histogram
 *   greyspf_stage_duration_seconds{stage}     time spent in each stage (async: wall time)
 *   greyspf_protocol_errors_total{reason}     malformed/oversize requests (connection closed)
 *   greyspf_connections_accepted_total
 *   greyspf_spf_results_total{identity,result,secure}
 *   greyspf_dns_queries_total{rcode}          answers by status (noerror nodata nxdomain
 *                                             servfail timeout bogus error)
 *   greyspf_dns_lookup_duration_seconds
 *   greyspf_spf_cache_lookups_total{result}   hit/miss (scrape-time callback)
 *   greyspf_config_reloads_total{result}      success/failure
 *   greyspf_greylist_decisions_total{decision} new early passed awl whitelisted learning error
 *   greyspf_kv_operations_total{op,result}    store calls of the greylist stage (get update;
 *                                             ok error; "not found" is ok)
 *   greyspf_kv_keys, greyspf_kv_live_sst_bytes, greyspf_kv_pending_compaction_bytes,
 *   greyspf_kv_expired_dropped_total, greyspf_kv_background_errors_total
 *                                             (RocksDB properties, scrape-time callbacks)
 *   greyspf_connections, greyspf_queue_depth{queue}, greyspf_requests_parked,
 *   greyspf_log_dropped_total                 (scrape-time callbacks)
 *   greyspf_build_info{version}, process_*, greyspf_jemalloc_*_bytes */
#ifndef GREYSPF_ENGINE_DAEMON_METRICS_H
#define GREYSPF_ENGINE_DAEMON_METRICS_H
#include <stdbool.h>
#include <stdint.h>

#include "dns/dns.h"
#include "engine/policy.h"
#include "engine/spf.h"
#include "metrics/metrics.h"

#define DM_STATES 11 /* enum policy_state values */
#define DM_ACTIONS 11
#define DM_STAGES 3  /* skip spf greylist */
#define DM_DNS_STATUS 7
#define DM_PROTO_ERRORS 9
#define DM_GREY_DECISIONS 7
#define DM_KV_OPS 2     /* get update */
#define DM_KV_RESULTS 2 /* ok error */

/* greylist_decisions[] indexes */
enum dm_grey {
    DM_GREY_NEW = 0,
    DM_GREY_EARLY,
    DM_GREY_PASSED,
    DM_GREY_AWL,
    DM_GREY_WHITELISTED,
    DM_GREY_LEARNING,
    DM_GREY_ERROR,
};
enum dm_kv_op { DM_KV_GET = 0, DM_KV_UPDATE };

struct daemon_metrics {
    struct metrics_registry *reg;
    struct metrics_counter requests[DM_STATES];
    struct metrics_counter actions[DM_ACTIONS];
    struct metrics_histogram request_duration;
    struct metrics_histogram stage_duration[DM_STAGES];
    struct metrics_counter protocol_errors[DM_PROTO_ERRORS];
    struct metrics_counter accepted;
    struct metrics_counter spf_results[2][SPF_RESULT_COUNT][2]; /* identity, result, secure */
    struct metrics_counter dns_queries[DM_DNS_STATUS];
    struct metrics_histogram dns_duration;
    struct metrics_counter reloads[2]; /* success, failure */
    struct metrics_counter greylist_decisions[DM_GREY_DECISIONS];
    struct metrics_counter kv_ops[DM_KV_OPS][DM_KV_RESULTS];
};

/* daemon_metrics_init - register every family with fixed label values into a new registry.
 * Returns 0 or a METRICS_ERR_* (a bug: names are constants). */
int daemon_metrics_init(struct daemon_metrics *dm);
void daemon_metrics_fini(struct daemon_metrics *dm);

/* daemon_metrics_action_index - the actions[] index for a reply action text */
unsigned daemon_metrics_action_index(const char *action);
/* daemon_metrics_stage_index - the stage_duration[] index for a stage name, or -1 */
int daemon_metrics_stage_index(const char *stage);
/* daemon_metrics_proto_error_index - protocol_errors[] index for a POLICY_ERR_* (< 0) */
unsigned daemon_metrics_proto_error_index(int err);

#endif
