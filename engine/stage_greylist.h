/* engine/stage_greylist.h - the greylisting stage of the decision pipeline (after SPF).
 *
 * Only RCPT requests are greylisted; every other protocol state passes. In order:
 *   1. a whitelisted client (address, name, regex) or recipient passes   "whitelisted"
 *   2. the store is unavailable (not open, hash key unreadable) or fails:
 *      the request passes (fail open), one rate-limited log line          "error"
 *   3. greylist_check (greylist.h): an auto-whitelisted network passes    "awl"
 *      a first attempt or an early retry is deferred with
 *      "<action> <text>" ({seconds} left, recipient {domain})             "new" / "early"
 *      (learning = yes: recorded the same, but passes)                    "learning"
 *      a retry in the window or a known triplet passes                    "passed"
 *      (x_greylist_header = yes: the first pass offers
 *      "X-Greylist: delayed N seconds by greyspf-VERSION at HOST; DATE", once per message)
 * The client part of the key is the SPF-authorised domain when [greylist] key_by_spf_domain
 * is on and the SPF stage found MAIL FROM `pass` (decision.spf_mail_from / spf_domain).
 * Each request adds a note to the decision log ("greylist=new left=300") and counts in
 * greyspf_greylist_decisions_total and greyspf_kv_operations_total.
 * Thread-safety: the stage is immutable; the store serialises writes per key. kv calls may
 * block on disk, and stages run on workers (never on I/O threads). */
#ifndef GREYSPF_ENGINE_STAGE_GREYLIST_H
#define GREYSPF_ENGINE_STAGE_GREYLIST_H
#include "engine/config.h"
#include "engine/greylist.h"
#include "engine/pipeline.h"

struct kv;
struct greylist_dynwl;

/* stage_greylist_params - cfg's [greylist] as struct greylist_params (hash_key NULL); the
 * admin commands and the postgrey import build keys with the same parameters */
void stage_greylist_params(const struct config *cfg, struct greylist_params *p);

/* stage_greylist_create - the stage for cfg (borrowed, outlives the stage) over res's store kv
 * (res NULL or kv NULL: every request fails open, logged once here), the dynamic whitelist's
 * mirror dynwl (NULL: no dynamic whitelist) and the AWL hint (NULL: none); all borrowed, res
 * copied. With hash_keys the key file in
 * cfg->state_dir is read, or created (greylist_hash_key_load); if that fails the stage fails
 * open too. */
struct stage stage_greylist_create(const struct config *cfg, const struct pipeline_res *res);

#endif
