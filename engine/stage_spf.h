/* engine/stage_spf.h - the SPF stage of the decision pipeline.
 *
 * Checks the HELO identity (spf.helo_check) and the MAIL FROM identity (null sender:
 * postmaster@HELO) of each request, asynchronously on the worker's own resolver, with the
 * shared outcome cache in front. Each result maps through the per-identity matrix of
 * config.h (reject / defer / accept / custom action, else accept with a header):
 *   reject -> 550 5.7.23 <explanation> (fail, softfail...), 550 5.7.24 for permerror
 *   defer  -> 451 4.7.24 (RFC 7372)
 * HELO is decided first (RFC 7208 2.3), then MAIL FROM. With spf.reject_only_secure a
 * result that would reject is only acted on when DNSSEC-validated, else it is accepted with
 * its header. Headers (Received-SPF, RFC 7208 9.1; Authentication-Results, RFC 8601) are
 * offered once per message (connection memo keyed by `instance`); with `both`, the second
 * header goes with the message's next request (another RCPT, or DATA when greyspf is also
 * consulted from smtpd_data_restrictions), since Postfix takes one PREPEND per reply. */
#ifndef GREYSPF_ENGINE_STAGE_SPF_H
#define GREYSPF_ENGINE_STAGE_SPF_H
#include "engine/config.h"
#include "engine/pipeline.h"
#include "engine/spf_cache.h"
#include "engine/stage_env.h"

/* stage_spf_create - the stage for cfg (borrowed); cache may be NULL. Resolvers, created by
 * each worker at its first lookup, take their [dns] settings from dns_cfg (borrowed; NULL =
 * cfg): the daemon passes its boot configuration, so that a worker whose first lookup comes
 * after a reload resolves like the others until the restart the reload asks for. */
struct stage stage_spf_create(const struct config *cfg, struct spf_cache *cache,
                              const struct config *dns_cfg);

/* stage_spf_env_fini - free a worker's SPF resources (its resolver, in-flight checks are
 * already finished or abandoned); for stage_env.fini */
void stage_spf_env_fini(struct stage_env *env);

/* stage_spf_probe - create and destroy a resolver for cfg, checking the trust anchor: a
 * start-up check. 0, or -1 with a message in err. */
int stage_spf_probe(const struct config *cfg, char *err, size_t errlen);

#endif
