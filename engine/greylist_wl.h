/* engine/greylist_wl.h - greylisting whitelists of clients and recipients, in postgrey's file
 * syntax so that Debian's /etc/postgrey/whitelist_clients and _recipients (and users' own
 * lists) load unchanged.
 *
 * Grammar (one entry per line; postgrey(8) and its shipped files):
 *   line      = *WSP [entry] *WSP [comment] LF      ; "#" to the end of the line is a comment
 *   entry     = regex / ipv4 / ipv4-partial / ipv6 / name
 *   regex     = "/" 1*non-space "/"                ; PCRE2, caseless; no "#" (a comment)
 *   clients file:
 *     ipv4         = d.d.d.d ["/" 0..32]           ; host bits are masked, as postgrey does
 *     ipv4-partial = d.d.d (a /24) / d.d (a /16)
 *     ipv6         = text with two ":" ["/" 0..128]
 *     name         = 1*non-space                   ; the client name or a parent domain of it
 *   recipients file:
 *     user@domain   the address, also with any "+extension" after user
 *     user@         that local part (and user+extension) at any domain
 *     domain        any address at domain or at a subdomain of it
 * Matching is case-insensitive. Client entries are matched against client_address (IPs,
 * CIDRs) and client_name (names, regexes); a client_name of "unknown" (Postfix: no verified
 * reverse name) matches nothing. Differences from postgrey, on purpose: a line postgrey would
 * skip with a warning (an entry with inner spaces, an unparsable address, a bad regex) is an
 * error naming file:line here (a typo must not silently disable a whitelist), and "d.d" is
 * the /16 postgrey's comment promises.
 * Limits: a line holds at most GREYLIST_WL_LINE_MAX bytes, a file GREYLIST_WL_FILE_MAX bytes,
 * and must be a regular file. Regexes are compiled once (JIT when available) and run with
 * match and depth limits; a regex that hits a limit does not match.
 * Thread-safety: loading builds a private object; once loaded it is immutable and the match
 * functions may run concurrently on any thread. */
#ifndef GREYSPF_ENGINE_GREYLIST_WL_H
#define GREYSPF_ENGINE_GREYLIST_WL_H
#include <stdbool.h>
#include <stddef.h>

#include "engine/cidr.h"

#define GREYLIST_WL_LINE_MAX 4096
#define GREYLIST_WL_FILE_MAX (16u << 20)

enum greylist_wl_kind { GREYLIST_WL_CLIENTS = 0, GREYLIST_WL_RECIPIENTS };

struct greylist_wl;

/* greylist_wl_create - an empty pair of lists (matches nothing); never NULL */
struct greylist_wl *greylist_wl_create(void);
void greylist_wl_destroy(struct greylist_wl *wl); /* NULL is a no-op */

/* greylist_wl_parse - add the entries of text[0..len) (a file's bytes, no NUL needed) to the
 * clients or recipients list. name is used in messages. Returns 0, or -1 with
 * "name:line: problem" in err (errlen bytes): entries before the bad line stay added. */
int greylist_wl_parse(struct greylist_wl *wl, enum greylist_wl_kind kind, const char *name,
                      const char *text, size_t len, char *err, size_t errlen);
/* greylist_wl_load - greylist_wl_parse of the regular file at path. Returns 0 or -1 (err:
 * "path: cannot open: ...", "path: not a regular file", "path:12: ...") */
int greylist_wl_load(struct greylist_wl *wl, enum greylist_wl_kind kind, const char *path,
                     char *err, size_t errlen);

/* greylist_wl_match_client - whether ip (may be NULL) or name (name_len bytes, may be empty;
 * "unknown" is ignored) is listed. A name match reports the entry kind in *why ("client name"
 * or "client regex"; why may be NULL), an address match "client address". */
bool greylist_wl_match_client(const struct greylist_wl *wl, const struct ip_addr *ip,
                              const char *name, size_t name_len, const char **why);
/* greylist_wl_match_recipient - whether the recipient address rcpt[0..len) is listed */
bool greylist_wl_match_recipient(const struct greylist_wl *wl, const char *rcpt, size_t len);

/* greylist_wl_count - entries loaded into one list (for logs and tests) */
size_t greylist_wl_count(const struct greylist_wl *wl, enum greylist_wl_kind kind);

#endif
