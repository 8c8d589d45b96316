/* engine/greylist.h - the greylisting core: keys, sender normalisation, the record format and
 * the state machine over kv/, with the time passed in (never read here).
 *
 * Usage: fill a struct greylist_params from the configuration once, then per RCPT request
 * call greylist_check(kv, params, input, now_s, &result) and act on result.verdict. The
 * whitelists (greylist_wl.h) and the reply text belong to the stage (stage_greylist.h).
 *
 * Key layout in the store (the admin commands and migrations rely on it):
 *   triplet  "t/" CLIENT "\0" SENDER "\0" RECIPIENT      (plain keys)
 *            "t#" SIPHASH128(key, the plain key)         (hash_keys = yes: 16 raw bytes)
 *   AWL      "a/" NET  /  "a#" SIPHASH128(key, "a/" NET)
 * CLIENT is the client network as "192.0.2.0/24" or "2001:db8:1:2::/64" (cidr_format), or
 * "spf:" + the lower-case domain whose SPF policy passed MAIL FROM; NET is always the network.
 * A key part switched off in `key` is empty. SENDER is normalised (greylist_sender_normalize)
 * unless normalize_sender is off (then lower-cased only); RECIPIENT is lower-cased. Parts are
 * cut at GREYLIST_PART_MAX bytes. Policy values never hold a NUL, so the parts are unambiguous.
 *
 * Record (every value, both kinds; GREYLIST_RECORD_SIZE bytes, little-endian):
 *   byte 0      version, GREYLIST_RECORD_VERSION (1)
 *   byte 1      state: 0 pending, 1 passed, 2 AWL (client network record)
 *   bytes 2-9   first_seen, unix seconds (signed)
 *   bytes 10-17 last_seen, unix seconds (signed)
 *   bytes 18-21 passes: requests passed (triplet) / triplets that passed (AWL), saturating
 * Expiry (kept by kv/, which treats an expired record as absent and drops it in compaction):
 * pending at first_seen + retry_window, passed and AWL at last_seen + max_age.
 *
 * State machine of one triplet (one kv_update, atomic per key):
 *   absent or expired        -> NEW: store pending, defer `delay` seconds
 *   pending, now < first+delay -> EARLY: defer first+delay-now seconds (nothing written)
 *   pending, within the window -> PASSED: state passed, passes 1 (the first pass)
 *   passed                   -> KNOWN: passes+1, last_seen now (expiry pushed out)
 * A client network whose AWL record counts >= auto_whitelist_after passed triplets skips all
 * that (AWL; its record refreshed at most hourly). Every first pass adds one to the count.
 * Thread-safety: functions are reentrant; kv/ serialises writes of one key. */
#ifndef GREYSPF_ENGINE_GREYLIST_H
#define GREYSPF_ENGINE_GREYLIST_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cidr.h"

struct kv;

#define GREYLIST_KEY_CLIENT (1u << 0)
#define GREYLIST_KEY_SENDER (1u << 1)
#define GREYLIST_KEY_RECIPIENT (1u << 2)
#define GREYLIST_KEY_ALL (GREYLIST_KEY_CLIENT | GREYLIST_KEY_SENDER | GREYLIST_KEY_RECIPIENT)

#define GREYLIST_PART_MAX 512 /* bytes of a sender/recipient/domain in a key */
#define GREYLIST_KEY_MAX (2 + 4 + GREYLIST_PART_MAX + 1 + GREYLIST_PART_MAX + 1 + GREYLIST_PART_MAX)
#define GREYLIST_HASH_KEY_LEN 16
#define GREYLIST_RECORD_VERSION 1
#define GREYLIST_RECORD_SIZE 22
#define GREYLIST_AWL_REFRESH_S 3600 /* AWL records: last_seen rewritten at most hourly */

enum greylist_state { GREYLIST_STATE_PENDING = 0, GREYLIST_STATE_PASSED, GREYLIST_STATE_AWL };

/* struct greylist_record - a decoded value */
struct greylist_record {
    enum greylist_state state;
    int64_t first_seen_s, last_seen_s;
    uint32_t passes;
};

/* struct greylist_params - the configuration, in seconds */
struct greylist_params {
    int64_t delay_s;        /* a retry passes this long after the first attempt */
    int64_t retry_window_s; /* ... and before this long after it (> delay_s) */
    int64_t max_age_s;      /* passed and AWL records live this long since last seen */
    unsigned key_parts;     /* GREYLIST_KEY_* bits */
    unsigned prefix_v4;     /* client network: 0..32 */
    unsigned prefix_v6;     /* 0..128 */
    bool key_by_spf_domain; /* use input.spf_domain (when set) as the client part */
    bool normalize_sender;
    unsigned awl_after;      /* passed triplets that whitelist a network; 0: no AWL */
    const uint8_t *hash_key; /* GREYLIST_HASH_KEY_LEN bytes: hashed keys; NULL: plain keys */
    /* which networks may have an AWL record (see below); NULL: read the AWL record always */
    struct greylist_awl_hint *awl_hint;
};

/* struct greylist_input - one request; strings are borrowed, need no NUL */
struct greylist_input {
    const struct ip_addr *client; /* the client address; NULL: no network part (and no
                                   * AWL) - the caller should rather not greylist */
    const char *sender;
    size_t sender_len;
    const char *recipient;
    size_t recipient_len;
    const char *spf_domain; /* domain whose SPF result for MAIL FROM is pass, or
                             * NULL (NUL-terminated) */
};

enum greylist_verdict {
    GREYLIST_NEW = 0, /* first attempt (or the retry window had passed): defer */
    GREYLIST_EARLY,   /* retried before the delay: defer */
    GREYLIST_PASSED,  /* retried in the window: pass (the first pass of the triplet) */
    GREYLIST_KNOWN,   /* passed before: pass */
    GREYLIST_AWL,     /* the client network is auto-whitelisted: pass */
};

struct greylist_result {
    enum greylist_verdict verdict;
    int64_t left_s;    /* NEW, EARLY: seconds until a retry passes */
    int64_t delayed_s; /* PASSED: seconds since the first attempt */
    uint32_t passes;   /* the record's passes after this request */
    int awl_err;       /* 0, or the KV_ERR_* of updating the AWL count (the verdict stands) */
    /* greylist_check_batched: the statuses of the writes left pending in the batch
     * (kv_batch_update: 1 until the commit, then 0 or KV_ERR_IO), the triplet's and the AWL
     * record's; 0 when nothing was written (and always 0 with greylist_check) */
    int commit, awl_commit;
    /* store calls made (set on error returns too, for metrics): */
    unsigned kv_gets, kv_updates;
    unsigned kv_get_errors, kv_update_errors;
};

/* greylist_check - run the state machine for in at now_s. Returns 0 with *out filled, or a
 * negative KV_ERR_* when the store failed (nothing decided: fail open; only the kv_* counts of
 * *out are set), or KV_ERR_INVAL when the key needs a client part and in has neither client
 * nor usable spf_domain. */
int greylist_check(struct kv *kv, const struct greylist_params *p, const struct greylist_input *in,
                   int64_t now_s, struct greylist_result *out);
/* greylist_check_batched - greylist_check with the store's writes made in the batch b
 * (kv_batch_update; reads from kv_batch_kv(b)): the verdict is decided now, the records are
 * written at the batch's commit, which sets out->commit and out->awl_commit. out must stay
 * where it is until then, and the verdict must not be acted on while out->commit is 1; a
 * commit that failed (out->commit < 0) means the verdict was not recorded: fail open.
 * The AWL record is read committed (a pass counted earlier in the same batch is not seen). */
struct kv_batch;
int greylist_check_batched(struct kv_batch *b, const struct greylist_params *p,
                           const struct greylist_input *in, int64_t now_s,
                           struct greylist_result *out);

/* greylist_sender_normalize - the sender as keyed: lower-cased; SRS0/SRS1 addresses replaced
 * by the original address they encode; BATV "prvs=TAG=user" / "prvs=user=TAG" / "prvs=user/TAG"
 * (and "msprvs1=") reduced to user; a "+extension" of the local part removed; every digit-only
 * word of the local part (VERP: "bounce-12345-x") replaced by "#". Input is cut at
 * GREYLIST_PART_MAX bytes. out needs GREYLIST_PART_MAX + 1 bytes; returns the length written
 * (NUL-terminated, never longer than the input). */
size_t greylist_sender_normalize(const char *s, size_t n, char *out);

/* greylist_client_part - the CLIENT part of the key layout into out (GREYLIST_PART_MAX + 8
 * bytes): "spf:"+domain when p->key_by_spf_domain and spf_domain is set, else the network of
 * ip (NULL ip: returns 0, nothing written). Returns the length. */
size_t greylist_client_part(const struct greylist_params *p, const struct ip_addr *ip,
                            const char *spf_domain, char *out);

/* greylist_triplet_key - the store key for in into key (GREYLIST_KEY_MAX bytes); its length,
 * or 0 when a client part is needed but unavailable */
size_t greylist_triplet_key(const struct greylist_params *p, const struct greylist_input *in,
                            char *key);
/* struct greylist_awl_hint - which AWL keys may exist: a Bloom filter (GREYLIST_AWL_HINT_BITS
 * bits, 4 probes) that answers "certainly absent" for most networks, so greylist_check skips
 * their AWL read - one RocksDB Get of a missing key per request, ~7% of the daemon's CPU on
 * new triplets, where most networks never qualify. Filled by greylist_check with every AWL
 * key it is about to write (before the write: never a false "absent"), and once from the
 * store by greylist_awl_hint_load (a background thread in the daemon); until that load has
 * finished every key is "maybe". Entries are never removed (an expired or deleted network
 * only costs a read); past ~1.5 M AWL networks false "maybe"s grow, which costs reads, never
 * a wrong verdict. Thread-safe (relaxed atomic bits; the "loaded" flag is release/acquire). */
#define GREYLIST_AWL_HINT_BITS (1u << 24)
struct greylist_awl_hint;
struct kv;
struct greylist_awl_hint *greylist_awl_hint_create(void); /* never NULL */
void greylist_awl_hint_destroy(struct greylist_awl_hint *h); /* NULL: no-op */
void greylist_awl_hint_add(struct greylist_awl_hint *h, const void *key, size_t klen);
/* greylist_awl_hint_maybe - false only if key was never added and the load has finished */
bool greylist_awl_hint_maybe(struct greylist_awl_hint *h, const void *key, size_t klen);
/* greylist_awl_hint_load - add every AWL key stored in kv (plain and hashed), then mark h
 * loaded. *stop (may be NULL) is polled: when it turns true the load gives up unfinished
 * (h stays "maybe" for all). Returns 0, 1 when stopped, or a KV_ERR_* */
int greylist_awl_hint_load(struct greylist_awl_hint *h, struct kv *kv, int64_t now_s,
                           const atomic_bool *stop);
/* greylist_awl_hint_loaded - whether the load has finished */
bool greylist_awl_hint_loaded(struct greylist_awl_hint *h);

/* greylist_awl_key - the AWL key of ip's network into key (GREYLIST_KEY_MAX bytes); length */
size_t greylist_awl_key(const struct greylist_params *p, const struct ip_addr *ip, char *key);

/* greylist_record_encode / _decode - the value format above; decode returns 0 or -1 */
void greylist_record_encode(const struct greylist_record *r, uint8_t out[GREYLIST_RECORD_SIZE]);
int greylist_record_decode(const void *val, size_t len, struct greylist_record *r);

/* greylist_siphash - SipHash-2-4 of data under a 16-byte key: 8-byte output (returned) and the
 * 16-byte-output variant (into out). Reference vectors: Aumasson & Bernstein, 2012. */
uint64_t greylist_siphash64(const uint8_t key[16], const void *data, size_t len);
void greylist_siphash128(const uint8_t key[16], const void *data, size_t len, uint8_t out[16]);

/* greylist_hash_key_load - the per-install key of hashed keys, from dir/greylist.key (16 raw
 * bytes), created from getrandom(2) with mode 0600 when missing (race-free between processes).
 * Returns 0, or -1 with a message in err. */
int greylist_hash_key_load(const char *dir, uint8_t key[GREYLIST_HASH_KEY_LEN], char *err,
                           size_t errlen);

/* Reply text templates: "{seconds}" becomes the seconds left, "{domain}" the recipient's
 * domain (printable ASCII letters, digits, "-" "." "_" only; anything else becomes "?"); any
 * other "{" is an error at load time. */
#define GREYLIST_TEXT_MAX 512
/* greylist_text_check - 0, or -1 with the problem in why */
int greylist_text_check(const char *tmpl, char *why, size_t whylen);
/* greylist_text_expand - tmpl (checked) with the tokens replaced, into out (cap bytes,
 * truncated, NUL-terminated); domain is dlen bytes, need not be NUL-terminated. Returns the
 * length written. */
size_t greylist_text_expand(const char *tmpl, int64_t seconds, const char *domain, size_t dlen,
                            char *out, size_t cap);

/* greylist_verdict_name - "new" "early" "passed" "known" "awl" */
const char *greylist_verdict_name(enum greylist_verdict v);

#endif
