/* engine/override.h - per-recipient, per-sender and per-client settings: the config's
 * [override KIND VALUE] sections, and their resolution for one request.
 *
 * Kinds and what VALUE matches (names are compared in ASCII lower case, a trailing dot of a
 * domain is ignored):
 *   recipient bob@example.net         the recipient address exactly
 *   recipient_domain example.net      the recipient's domain; ".example.net": its subdomains
 *                                     (not example.net itself - name both for both)
 *   sender a@example.org              the sender (MAIL FROM) address exactly
 *   sender_domain example.org         the sender's domain; the same dot rule
 *   client 192.0.2.0/24               the client address: an IPv4/IPv6 address or CIDR
 * Keys an override may set (enum override_key): greylist, greylist_delay, spf,
 * spf_mail_from_{reject,defer,accept}, spf_helo_{reject,defer,accept}, spf_reject_only_secure,
 * action (a verdict for every matching request; SPF and greylisting then do not run).
 *
 * Precedence, for each key on its own: recipient > recipient_domain (longest domain first) >
 * sender > sender_domain (longest first) > client (longest prefix first) > the global value
 * ([greylist] enabled and delay, [spf] enabled and the result sets). An override that sets
 * only greylist_delay leaves every other key to less specific overrides or the globals. A
 * result named in one of an identity's sets (reject/defer/accept) by a more specific source
 * leaves that identity's less specific sets, so "spf_mail_from_defer = fail" in an override
 * beats the global "mail_from_reject = fail".
 *
 * Cost per request: one hash lookup for each address, one for each domain and each of its
 * parent suffixes (kinds without entries are skipped, and so are suffixes longer or shorter
 * than any configured one), and one per distinct client prefix length configured.
 * Thread-safety: a set is built while its config loads and immutable afterwards; resolution
 * reads it from any thread. */
#ifndef GREYSPF_ENGINE_OVERRIDE_H
#define GREYSPF_ENGINE_OVERRIDE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cidr.h"

struct config;

enum override_kind {
    OVERRIDE_RECIPIENT = 0,
    OVERRIDE_RECIPIENT_DOMAIN,
    OVERRIDE_SENDER,
    OVERRIDE_SENDER_DOMAIN,
    OVERRIDE_CLIENT,
};
#define OVERRIDE_KINDS 5

/* the keys, in the order config.c lists them */
enum override_key {
    OVERRIDE_KEY_GREYLIST = 0,
    OVERRIDE_KEY_GREYLIST_DELAY,
    OVERRIDE_KEY_SPF,
    OVERRIDE_KEY_SPF_MAIL_FROM_REJECT,
    OVERRIDE_KEY_SPF_MAIL_FROM_DEFER,
    OVERRIDE_KEY_SPF_MAIL_FROM_ACCEPT,
    OVERRIDE_KEY_SPF_HELO_REJECT,
    OVERRIDE_KEY_SPF_HELO_DEFER,
    OVERRIDE_KEY_SPF_HELO_ACCEPT,
    OVERRIDE_KEY_SPF_REJECT_ONLY_SECURE,
    OVERRIDE_KEY_ACTION,
};
#define OVERRIDE_KEYS 11

/* index of an SPF result set: spf_mail_from[OVERRIDE_SET_REJECT] etc. */
enum { OVERRIDE_SET_REJECT = 0, OVERRIDE_SET_DEFER, OVERRIDE_SET_ACCEPT };

/* the longest VALUE. XXX: issue 4: a config line holds 199 bytes, so a VALUE longer than about
 * 170 bytes (an address may have 254) cannot be written yet. */
#define OVERRIDE_VALUE_MAX 256

/* struct override_values - what one override sets; a key counts only if its bit is in set */
struct override_values {
    unsigned set; /* bits 1u << enum override_key */
    bool greylist;
    uint64_t greylist_delay_ms;
    bool spf;
    unsigned spf_mail_from[3]; /* OVERRIDE_SET_*: bits 1u << enum spf_result */
    unsigned spf_helo[3];
    bool spf_reject_only_secure;
    char *action; /* validated action text (owned by the set), or NULL */
};

/* struct override - one [override ...] section */
struct override {
    enum override_kind kind;
    char *value;                      /* canonical: lower case; ".dom" for a suffix rule;
                                       * a client as written */
    char *title;                      /* "override KIND VALUE", for messages and logs */
    unsigned line;                    /* of the section title in the file */
    unsigned key_line[OVERRIDE_KEYS]; /* where each key was set, 0: not set */
    struct override_values v;         /* filled by the config loader */
};

/* struct override_settings - the effective settings of one request (overrides applied over
 * the globals); strings are config-owned */
struct override_settings {
    bool greylist;
    uint64_t greylist_delay_ms;
    bool spf;
    unsigned spf_mail_from[3];
    unsigned spf_helo[3];
    bool spf_reject_only_secure;
    const char *action;                         /* NULL: no override verdict */
    const struct override *from[OVERRIDE_KEYS]; /* where each key came from; NULL: global */
};

struct override_set;

/* override_set_create - an empty set; free with override_set_destroy. Never NULL. */
struct override_set *override_set_create(void);
void override_set_destroy(struct override_set *s); /* NULL is a no-op */

/* override_title_parse - a section name "override KIND VALUE" (name[0..len), as between the
 * brackets, spaces or tabs between words) into *kind and the canonical value (a
 * NUL-terminated string in value, size >= OVERRIDE_VALUE_MAX). Returns 0, or -1 with the
 * problem in why (quoting the offending part, sanitised). */
int override_title_parse(const char *name, size_t len, enum override_kind *kind, char *value,
                         size_t size, char *why, size_t whylen);

/* override_set_add - a new override of kind for value (canonical, from override_title_parse)
 * defined on line. Returns the entry, valid until the set is destroyed, for the loader to
 * fill ->v and ->key_line; or NULL when kind+value is already there (*dup: that one). */
struct override *override_set_add(struct override_set *s, enum override_kind kind,
                                  const char *value, unsigned line, const struct override **dup);

/* override_set_count, override_set_at - the overrides in file order (i < count) */
size_t override_set_count(const struct override_set *s); /* NULL: 0 */
const struct override *override_set_at(const struct override_set *s, size_t i);
/* override_set_sets - whether any override sets key (to value, for the bool keys greylist
 * and spf: "any override turns greylisting on"; value is ignored for other keys) */
bool override_set_sets(const struct override_set *s, enum override_key key, bool value);

/* override_settings_init - the global settings of cfg, no override applied */
void override_settings_init(struct override_settings *out, const struct config *cfg);
/* override_resolve - the settings for one request: the globals of cfg with cfg->overrides
 * applied by precedence (see above). client may be NULL; sender and recipient are
 * pointer + length (not NUL-terminated; empty: no match). Lookups use stack buffers only. */
void override_resolve(const struct config *cfg, const struct ip_addr *client, const char *sender,
                      size_t sender_len, const char *recipient, size_t recipient_len,
                      struct override_settings *out);
/* override_settings_kinds - "recipient_domain+client": the kinds that contributed, most
 * specific first, into buf (always NUL-terminated); "" when none did. Returns buf. */
char *override_settings_kinds(const struct override_settings *st, char *buf, size_t size);

/* override_kind_name - "recipient", "recipient_domain", "sender", "sender_domain", "client" */
const char *override_kind_name(enum override_kind kind);

#endif
