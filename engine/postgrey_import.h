/* engine/postgrey_import.h - migration from postgrey: read `db_dump -p` dumps of postgrey's
 * postgrey.db (triplets) and postgrey_clients.db (auto-whitelisted clients) and write the
 * equivalent greylisting records (greylist.h's key layout and record format), so that
 * switching re-delays no one. `greyspf import-postgrey` is postgrey_import_main().
 *
 * Dump grammar (Berkeley DB db_dump(1); one or more sections):
 *   section = 1*header "HEADER=END" LF *(key value) "DATA=END" LF
 *   header  = name "=" text LF                  ; VERSION=3 format=print type=btree ...
 *   key / value (format=print)     = SP *(print / "\\" "\\" / "\\" 2HEXDIG) LF
 *   key / value (format=bytevalue) = SP *(2HEXDIG) LF      (db_dump without -p)
 * print is 0x20..0x7e except "\". type must be btree or hash (postgrey's are btree). Limits:
 * a line holds at most POSTGREY_DUMP_LINE_MAX bytes (LF excluded; one CR before it is
 * dropped). Errors name the line and the parser resynchronises: a bad key or value line
 * loses that record only (lines pair up by position), a bad header its section's data, and
 * a "VERSION=" line always starts a new section.
 *
 * postgrey's formats (1.37, Debian 12; read from /usr/sbin/postgrey for the format only):
 *   postgrey.db          key   lower-case CLIENT "/" SENDER "/" RECIPIENT, where CLIENT is the
 *                              client's network address under --ipv4cidr/--ipv6cidr (24/64:
 *                              "192.0.2.0", IPv6 uncompressed "2001:db8:1:2:0:0:0:0"), the
 *                              address itself with --lookup-by-host, or "192.0.2" (older
 *                              postgrey); SENDER is postgrey's normalised sender, empty for <>.
 *                        value "FIRST,LAST" unix seconds ("FIRST,LAST,HOST" from older ones)
 *                        postgrey let the triplet through once LAST - FIRST >= --delay.
 *   postgrey_clients.db  key   the client's address; value "COUNT,LAST" (triplets that passed,
 *                              counted at most hourly).
 *   --privacy: every key is a SHA-1 in hex; such records cannot be mapped (skipped, counted).
 * A key's SENDER/RECIPIENT split is at the first and last "/": a recipient containing "/"
 * would be misread (postgrey's own key is ambiguous there).
 *
 * Conversion (postgrey_convert): CLIENT becomes the network greyspf keys by (greylist.h,
 * client_prefix_v4/_v6), which must not be narrower than postgrey's (else the record is
 * skipped: one postgrey network would be many greyspf ones); the sender and recipient go
 * through greylist_triplet_key as the daemon's would (hash_keys honoured). Passed triplets
 * become passed records (first_seen FIRST, last_seen LAST, passes 1, expiring LAST + max_age);
 * the others pending ones (expiring FIRST + retry_window, so a retry after greyspf's delay
 * passes); clients become AWL records (passes COUNT, expiring LAST + max_age). Records already
 * expired under greyspf's settings are skipped. Timestamps in the future are taken as now.
 * XXX: issue 4: with key_by_spf_domain, mail whose SPF passes is keyed by "spf:DOMAIN", which
 * postgrey's data cannot give: those triplets are delayed once more. */
#ifndef GREYSPF_ENGINE_POSTGREY_IMPORT_H
#define GREYSPF_ENGINE_POSTGREY_IMPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/greylist.h"

struct kv;

/* ---- the dump parser ---- */

#define POSTGREY_DUMP_LINE_MAX 65536
#define POSTGREY_MSG_MAX 200

enum postgrey_dump_event {
    POSTGREY_DUMP_NONE = 0, /* the line was taken in; nothing to report */
    POSTGREY_DUMP_SECTION,  /* HEADER=END of a readable section: records follow */
    POSTGREY_DUMP_RECORD,   /* a key and its value */
    POSTGREY_DUMP_END,      /* DATA=END */
    POSTGREY_DUMP_ERROR,    /* malformed input: item.msg, item.line */
};

/* struct postgrey_dump_item - what an event carries */
struct postgrey_dump_item {
    const uint8_t *key, *val; /* RECORD: decoded bytes, valid until the next call */
    size_t key_len, val_len;
    unsigned line; /* RECORD: the key's line; ERROR: the offending line */
    char msg[POSTGREY_MSG_MAX];
};

struct postgrey_dump;
struct postgrey_dump *postgrey_dump_create(void);    /* never NULL */
void postgrey_dump_destroy(struct postgrey_dump *d); /* NULL is a no-op */
/* postgrey_dump_line - take the next line (len bytes, without its LF, need not be
 * NUL-terminated; may hold any bytes). Returns the event it completes, *it filled for it. */
enum postgrey_dump_event postgrey_dump_line(struct postgrey_dump *d, const char *line, size_t len,
                                            struct postgrey_dump_item *it);
/* postgrey_dump_finish - end of input: ERROR if a section is unfinished, else NONE */
enum postgrey_dump_event postgrey_dump_finish(struct postgrey_dump *d,
                                              struct postgrey_dump_item *it);
/* postgrey_dump_lines - lines taken so far */
unsigned postgrey_dump_lines(const struct postgrey_dump *d);

/* ---- records ---- */

/* struct postgrey_opts - how the postgrey that wrote the database ran (its option names) */
struct postgrey_opts {
    int64_t delay_s;     /* --delay; default 300 */
    unsigned ipv4cidr;   /* --ipv4cidr; default 24 */
    unsigned ipv6cidr;   /* --ipv6cidr; default 64 */
    bool lookup_by_host; /* --lookup-by-host; default no (an address with host bits set
                          * beyond the cidr is taken as a host either way) */
};
void postgrey_opts_defaults(struct postgrey_opts *o);

enum postgrey_kind { POSTGREY_UNKNOWN = 0, POSTGREY_TRIPLETS, POSTGREY_CLIENTS };

/* postgrey_detect - which database a record belongs to, by its shape; UNKNOWN when it fits
 * neither (malformed, or hashed with --privacy) */
enum postgrey_kind postgrey_detect(const uint8_t *key, size_t klen, const uint8_t *val,
                                   size_t vlen);

#define POSTGREY_ERR_MALFORMED (-1) /* not a record of that database */
#define POSTGREY_ERR_HASHED (-2)    /* a --privacy key (SHA-1 hex) */
#define POSTGREY_ERR_EXPIRED (-3)   /* greyspf would treat it as absent already */
#define POSTGREY_ERR_NETWORK (-4)   /* greyspf's client network is narrower than postgrey's */

/* struct postgrey_record - one greyspf record to write */
struct postgrey_record {
    enum postgrey_kind kind;
    char key[GREYLIST_KEY_MAX];
    size_t key_len;
    struct greylist_record rec;
    int64_t expires_s;
};

/* postgrey_convert - the greyspf record of one postgrey record of database kind (UNKNOWN:
 * detect it) under p (greyspf's settings; p->hash_key honoured) and o, at now_s. Returns 0
 * with *out filled, or a POSTGREY_ERR_* with the reason in why (whylen bytes). */
int postgrey_convert(const struct greylist_params *p, const struct postgrey_opts *o,
                     enum postgrey_kind kind, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen, int64_t now_s, struct postgrey_record *out, char *why,
                     size_t whylen);
const char *postgrey_strerror(int err); /* static text */

/* postgrey_store - write r into kv, merged with a record already there (importing twice, or
 * two postgrey records that map to one greyspf key): the later state (passed over pending),
 * the earliest first_seen, the latest last_seen, the most passes, the later expiry. Returns
 * 0 or a KV_ERR_*. */
int postgrey_store(struct kv *kv, const struct postgrey_record *r, int64_t now_s);

/* postgrey_import_main - `greyspf import-postgrey [-c CONFIG] [--dry-run] [--delay N]
 * [--ipv4cidr N] [--ipv6cidr N] [--lookup-by-host] DUMP...` (argv[0] is the command name)
 * at now_s (the wall clock, read once by the caller). Writes into the RocksDB store at
 * state_dir/greylist of CONFIG (the daemon must be stopped; run as root, the files written are
 * given to state_dir's owner), prints a summary on stdout and problems on stderr. Exit status:
 * 0; 1 when a record was malformed (the rest is still imported) or the import failed; 2 on
 * usage errors. */
int postgrey_import_main(int argc, char **argv, int64_t now_s);

#endif
