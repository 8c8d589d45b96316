/* engine/config.h - greyspf.conf: INI (libinih), validated into a struct config.
 *
 * Errors name file:line: [section] key: problem, and the first error stops loading. Unknown
 * sections and keys are errors (a typo must not silently disable a policy). Durations are
 * "<n>[smhdw]" ("90s 5m 2h 35d 1w"), a bare number is seconds; sizes accept "k" and "m".
 * Booleans: yes/no/true/false/on/off/1/0. Lists are whitespace- or comma-separated.
 * A struct config is immutable once loaded; reload builds a new one (config_load) and the
 * daemon swaps it in whole.
 * [override KIND VALUE] sections (any number, anywhere in the file) change greylisting and
 * SPF settings per recipient, sender or client; engine/override.h has their grammar, keys
 * and precedence. Errors name the override: "file:line: [override client 10.0.0.0/8] key: ". */
#ifndef GREYSPF_ENGINE_CONFIG_H
#define GREYSPF_ENGINE_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "engine/cidr.h"
#include "engine/policy.h"

#define CONFIG_DEFAULT_PATH "/etc/greyspf/greyspf.conf"
#define CONFIG_DEFAULT_CONTROL "/run/greyspf/control.sock"
#define CONFIG_ERR_MAX 512
#define CONFIG_GREYLIST_ACTION "DEFER_IF_PERMIT 4.7.1"
#define CONFIG_GREYLIST_TEXT "Greylisted, please try again in {seconds} seconds"

enum listen_kind { LISTEN_INET, LISTEN_UNIX };

/* SPF results in enum spf_result order (engine/spf.h): none neutral pass fail softfail
 * temperror permerror */
#define CONFIG_SPF_RESULTS 7

enum config_spf_header {
    CONFIG_SPF_HEADER_NONE = 0,
    CONFIG_SPF_HEADER_RECEIVED_SPF,
    CONFIG_SPF_HEADER_AUTH_RESULTS,
    CONFIG_SPF_HEADER_BOTH,
};

/* One `listen =` value: "inet:HOST:PORT" (HOST may be "[v6]", "*" or empty for any, or a
 * bare IPv6 address in brackets) or "unix:/abs/path". */
struct listen_spec {
    enum listen_kind kind;
    char *host; /* inet: numeric address or NULL for any (both families) */
    char *port; /* inet: numeric port "1".."65535" */
    char *path; /* unix: absolute path */
    char *text; /* the value as written, for logs */
};

struct greylist_wl;
struct override_set;

/* [greylist] - see greylist.h for the key layout and state machine */
struct config_greylist {
    bool enabled;                /* default yes */
    uint64_t delay_ms;           /* a retry passes after this long; default 5m */
    uint64_t retry_window_ms;    /* ... and before this long; default 2d (> delay) */
    uint64_t max_age_ms;         /* passed records live this long since last seen; 35d */
    unsigned key;                /* GREYLIST_KEY_* bits (client sender recipient); all */
    unsigned prefix_v4;          /* client network, 0..32; default 24 */
    unsigned prefix_v6;          /* 0..128; default 64 */
    bool key_by_spf_domain;      /* MAIL FROM SPF pass: key by the domain; default yes */
    bool normalize_sender;       /* SRS, BATV, +ext, VERP digits; default yes */
    unsigned auto_whitelist_after; /* passed triplets that whitelist a network; 0: off; 5 */
    char **whitelist_clients;    /* file paths, repeatable key, NULL-terminated */
    size_t n_whitelist_clients;
    char **whitelist_recipients;
    size_t n_whitelist_recipients;
    struct greylist_wl *wl;      /* the files above, loaded with the config (never NULL) */
    char *action;                /* default "DEFER_IF_PERMIT 4.7.1" */
    char *text;                  /* after the action; tokens {seconds} {domain} */
    bool x_greylist_header;      /* X-Greylist on the first pass; default no */
    bool learning;               /* record, never defer; default no */
    bool hash_keys;              /* store keyed hashes, not addresses; default no */
    bool sync;                   /* synced kv writes (restart to change); default no */
    size_t min_free_disk;        /* store writes refused below this free space; 256m */
};

struct config {
    char *path; /* file it was loaded from */

    /* [server] */
    struct listen_spec *listen;  /* at least one; default inet:127.0.0.1:10023 */
    size_t n_listen;
    unsigned socket_mode;        /* unix sockets; default 0660 */
    char *socket_group;          /* unix sockets; NULL: the daemon's group */
    char *state_dir;             /* default /var/lib/greyspf */
    unsigned workers;            /* 1..256; default 2 */
    unsigned io_threads;         /* 1..64; default 1 */
    unsigned max_connections;    /* 1..1000000; default 4096 */
    uint64_t idle_timeout_ms;    /* default 1000s (Postfix's max_ttl); 0: never */
    uint64_t drain_timeout_ms;   /* SIGTERM: wait this long for in-flight requests; 10s */
    struct policy_limits limits; /* max_line, max_attributes, max_request */
    int log_level;               /* enum log_level; default info */
    bool log_decisions;          /* one info line per decision; default yes */
    char *control_path;          /* admin control socket; NULL: off; default
                                  * /run/greyspf/control.sock (a restart applies changes) */
    char *metrics_listen;        /* HTTP /metrics "ADDR:PORT" ("[v6]:PORT"); NULL: off;
                                  * default 127.0.0.1:9477 (a restart applies changes) */

    /* [policy] */
    char *default_action;        /* when no stage decides; default "DUNNO" */
    struct cidr_set skip_clients; /* client CIDRs that skip all checks */
    bool skip_sasl;              /* SASL-authenticated clients skip checks; default yes */
    bool skip_loopback;          /* 127/8 and ::1 skip checks; default yes */
    char *skip_action;           /* reply for skipped requests; default "DUNNO" */

    /* [dns] - the resolver each worker runs (changes need a restart) */
    char *dns_forwarder;         /* "ADDR[@PORT]"; NULL: full recursion from the root */
    bool dns_dnssec;             /* validate; default yes */
    char *dns_trust_anchor_file; /* default /usr/share/dns/root.key (dns-root-data);
                                  * "none" in the file -> "": only trust_anchor lines */
    char **dns_trust_anchors;    /* "zone. IN DS ..." lines, repeatable key, NULL-terminated */
    size_t n_dns_trust_anchors;
    uint64_t dns_timeout_ms;     /* per lookup; default 5s */
    size_t dns_cache_bytes;      /* libunbound message + RRset caches per worker; 48m */
    bool dns_no_local_zones;     /* send .test/.invalid/RFC 6303 reverse names to the
                                  * forwarder instead of answering NXDOMAIN; default no */

    /* [spf] */
    bool spf_enabled;            /* default yes */
    uint64_t spf_timeout_ms;     /* whole check; default 10s (well under Postfix's 100s) */
    bool spf_helo_check;         /* evaluate the HELO identity too; default yes */
    /* result sets: bit (1u << enum spf_result). Results in no set: accept with header. */
    unsigned spf_mail_from_reject, spf_mail_from_defer, spf_mail_from_accept;
    unsigned spf_helo_reject, spf_helo_defer, spf_helo_accept;
    char *spf_mail_from_action[CONFIG_SPF_RESULTS]; /* custom reply per result, or NULL */
    char *spf_helo_action[CONFIG_SPF_RESULTS];
    bool spf_reject_only_secure; /* reject (fail/softfail...) only DNSSEC-secure results */
    int spf_header;              /* enum config_spf_header; default received-spf */
    char *spf_authserv_id;       /* Authentication-Results authserv-id; default: hostname */
    char *spf_receiver;          /* named in Received-SPF; NULL: hidden (default) */
    size_t spf_cache_entries;    /* shared outcome cache; 0 disables; default 100000 */
    uint64_t spf_cache_max_ttl_ms; /* cap on answer TTLs; default 10m */

    struct config_greylist greylist;

    /* [override KIND VALUE] sections (never NULL; may be empty) */
    struct override_set *overrides;
};

struct config_error {
    char msg[CONFIG_ERR_MAX]; /* "file:line: [section] key: problem" */
};

/* config_load - read and validate path. Returns a new config (caller frees with
 * config_free) or NULL with err filled. */
struct config *config_load(const char *path, struct config_error *err);
/* config_load_stream - config_load from an open stream (not closed); name is used in messages
 * and as the config's path. For stdin, in-memory text (fmemopen) and fuzzing. */
struct config *config_load_stream(FILE *fp, const char *name, struct config_error *err);
/* config_defaults - a config with every default and no file (path "(defaults)") */
struct config *config_defaults(void);
void config_free(struct config *c); /* NULL is a no-op */

/* config_spf_used, config_greylist_used - whether the stage runs for some request: globally
 * enabled, or an override turns it on (the daemon then needs its resolver / state store) */
bool config_spf_used(const struct config *c);
bool config_greylist_used(const struct config *c);

/* config_parse_duration - "90s", "5m", "2h", "35d", "1w", "30" (s) -> ms. 0 or -1. */
int config_parse_duration(const char *s, uint64_t *out_ms);
/* config_parse_bool - yes/no/true/false/on/off/1/0. 0 or -1. */
int config_parse_bool(const char *s, bool *out);

#endif
