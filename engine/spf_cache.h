/* engine/spf_cache.h - a short, bounded cache of SPF outcomes shared by all workers.
 *
 * Key: (client IP, identity, sender, HELO). Narrower keys such as (IP, domain) would be
 * wrong for records whose macros use the local-part or the HELO name (%{l} %{s} %{h}), so
 * the whole input of check_host() is the key; the many RCPTs of one message and retries of
 * the same sender still hit. Entries live for the smallest TTL of the DNS answers the check
 * used, capped at max_ttl_s; temperror outcomes are never cached.
 * Thread-safe: 64 stripes, each a mutex over its own hash chains and LRU list; no lock is
 * held while anything else runs. */
#ifndef GREYSPF_ENGINE_SPF_CACHE_H
#define GREYSPF_ENGINE_SPF_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/arena.h"
#include "engine/cidr.h"
#include "engine/spf.h"

struct spf_cache;

/* spf_cache_create - at most max_entries entries (>= 64), TTLs capped at max_ttl_s */
struct spf_cache *spf_cache_create(size_t max_entries, uint32_t max_ttl_s);
void spf_cache_destroy(struct spf_cache *c); /* NULL is a no-op */

/* spf_cache_get - on a live hit copy the outcome into *out (strings in a) and return true.
 * Its trace is NULL. */
bool spf_cache_get(struct spf_cache *c, const struct spf_query *q, int64_t now_s,
                   struct arena *a, struct spf_outcome *out);
/* spf_cache_put - remember out for q for ttl_s seconds (capped); temperror and ttl 0 are
 * not stored */
void spf_cache_put(struct spf_cache *c, const struct spf_query *q, int64_t now_s,
                   uint32_t ttl_s, const struct spf_outcome *out);
/* spf_cache_stats - entries, hits and misses so far */
void spf_cache_stats(struct spf_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses);

#endif
