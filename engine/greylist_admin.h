/* engine/greylist_admin.h - the greylisting admin commands of the control socket, and the
 * dynamic whitelist they manage.
 *
 * Commands (control.h; `greyspf COMMAND ...`; each also answers JSON with --json):
 *   list [client=NET|IP|spf:DOMAIN] [sender=ADDR] [recipient=ADDR]
 *        [state=pending|passed|awl] [limit=N]
 *       one line per record: STATE CLIENT SENDER RECIPIENT FIRST_SEEN LAST_SEEN PASSES EXPIRES
 *       (times ISO 8601 UTC; EXPIRES "never" for 0); AWL records have "-" as sender and
 *       recipient; an empty sender is "<>", any other empty part "-"; bytes <= 0x20, 0x7f
 *       and "%" are %XX-encoded (as `greyspf` encodes arguments, so a value can be pasted
 *       back). Hashed records ("t#"/"a#" keys) show "t#HEX" / "a#HEX" as CLIENT and "-" for
 *       the rest; client/sender/recipient filters cannot match them, so with such a filter
 *       they are left out and counted in a closing note. client=CIDR matches every record
 *       whose network lies within it; client=IP means that address's network as the daemon
 *       keys it. limit: 1..GREYLIST_ADMIN_LIST_MAX, default GREYLIST_ADMIN_LIST_DEFAULT;
 *       "(truncated at N)" closes a list that had more.
 *   show CLIENT SENDER RECIPIENT
 *       the triplet's record (key built by greylist_triplet_key, as the daemon does) and the
 *       AWL record of the client's network, in list's line format. CLIENT is an IP (turned
 *       into its network), the network itself, or spf:DOMAIN; SENDER "<>" is the null sender.
 *       No triplet record: an error ("no record ..."). JSON: {"key": stored key in hex,
 *       "triplet": {...}, "awl": {...} or null}.
 *   delete CLIENT SENDER RECIPIENT | delete client=NET|IP|spf:DOMAIN
 *       removes the triplet, or every triplet of the network (within it, for a wider CIDR)
 *       and its AWL record; prints "deleted N".
 *   counts
 *       records by state, total, whitelist entries, and kv_stats' keys_estimate.
 *   whitelist add|remove client|recipient VALUE  /  whitelist list
 *       the dynamic whitelist: clients by IP, CIDR or host name suffix ("example.org" matches
 *       that name and its subdomains), recipients by address ("user@domain", also
 *       user+ext@domain) or domain (and its subdomains); stored under "w/c/" and "w/r/" +
 *       the canonical lower-case value, never expiring; value: byte 0 = 1, bytes 1-8 the
 *       unix second it was added (little-endian). At most GREYLIST_ADMIN_WL_MAX entries.
 *
 * In the daemon every command reads the current configuration (a reload's key settings apply
 * to the next command) and the store as the server holds them; with greylisting off they
 * answer an error. Threads: handlers run on the control thread while workers use the store;
 * they touch only the store (thread-safe), a runtime reference and their own state. */
#ifndef GREYSPF_ENGINE_GREYLIST_ADMIN_H
#define GREYSPF_ENGINE_GREYLIST_ADMIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cidr.h"

struct config;
struct control;
struct server;
struct greylist_params;
struct greylist_dynwl;
struct kv;

#define GREYLIST_ADMIN_LIST_DEFAULT 1000
#define GREYLIST_ADMIN_LIST_MAX 1000000
#define GREYLIST_ADMIN_WL_MAX 1000 /* walked on every RCPT (in memory): keep it short */

struct greylist_admin;

/* greylist_admin_register - register list, show, delete, counts and whitelist on c for the
 * server s (borrowed: it outlives c). Registration allocates nothing. */
void greylist_admin_register(struct control *c, struct server *s);

/* greylist_admin_run - run one command (argv as control_cmd_fn gets it) against a at now_s
 * (the registered handlers pass the wall clock; tests their own). Returns 0, or -1 with
 * out->err set. Not thread-safe on one a; distinct states may run concurrently. */
struct control_out;
int greylist_admin_run(struct greylist_admin *a, int argc, char **argv, int64_t now_s,
                       struct control_out *out);

/* greylist_admin_create - a command state over kv with p's key settings; hash_key may be NULL
 * (plain keys) or GREYLIST_HASH_KEY_LEN bytes (copied). wl (may be NULL) is the dynamic
 * whitelist's mirror that `whitelist add|remove` keeps in step with the store (borrowed).
 * Free with greylist_admin_destroy. */
struct greylist_admin *greylist_admin_create(struct kv *kv, struct greylist_dynwl *wl,
                                             const struct greylist_params *p,
                                             const uint8_t *hash_key);
void greylist_admin_destroy(struct greylist_admin *a); /* NULL is a no-op */

/* The dynamic whitelist as the workers see it: every "w/" entry of the store, loaded once
 * when the store is opened and then changed by `whitelist add|remove` right after the store
 * (the daemon is the store's only writer: RocksDB locks it). A scan of the store per RCPT
 * cost a RocksDB iterator each time (8% of the greylist path's CPU); the mirror costs one
 * relaxed load when the list is empty and a shared lock plus <= GREYLIST_ADMIN_WL_MAX tests
 * when it is not. */
struct greylist_dynwl;
/* greylist_dynwl_load - the mirror of kv's entries live at now_s; NULL with *err a KV_ERR_*
 * when the store cannot be scanned */
struct greylist_dynwl *greylist_dynwl_load(struct kv *kv, int64_t now_s, int *err);
void greylist_dynwl_destroy(struct greylist_dynwl *w); /* NULL is a no-op */
/* greylist_dynwl_count - entries in the mirror (0 for NULL) */
size_t greylist_dynwl_count(struct greylist_dynwl *w);
/* greylist_dynwl_match - whether the mirror lists the client (ip may be NULL; client_name
 * may be NULL or "unknown": no name match) or the recipient (may be NULL). w NULL: false.
 * Thread-safe; never blocks on anything but the control thread's short changes. */
bool greylist_dynwl_match(struct greylist_dynwl *w, const struct ip_addr *ip,
                          const char *client_name, const char *recipient);

#endif
