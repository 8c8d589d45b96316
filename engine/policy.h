/* engine/policy.h - Postfix policy delegation protocol: framing, parsing, the typed request.
 *
 * Grammar (Postfix SMTPD_POLICY_README, attr_scan_plain(3)):
 *   request   = 1*attribute blank-line
 *   attribute = name "=" value LF        ; name non-empty, no "=", no NUL; value may be empty
 *   blank     = LF
 * A CR immediately before an LF is tolerated and dropped (hand-typed CRLF input), so
 * "name=value\r\n" and a blank "\r\n" are accepted. NUL anywhere is malformed.
 * Limits (struct policy_limits): line length without the line terminator (Postfix's own is
 * 4 x line_length_limit = 8192 for name and value each, so the default is 2 x 8192 + 1),
 * attributes per request, bytes per request including terminators.
 * The first attribute need not be `request`, but `request=smtpd_access_policy` must appear.
 * Every attribute Postfix 3.7 sends has a field; 3.8+ names (compatibility_level,
 * mail_version, tls_sni...) are recognised where listed, other names are ignored (counted
 * against the attribute limit). A repeated known name keeps its FIRST value; the repeat is
 * counted in policy_request.repeated. Values are copied into the arena, NUL-terminated; a
 * value with an embedded NUL is malformed, so C-string use is safe. */
#ifndef GREYSPF_ENGINE_POLICY_H
#define GREYSPF_ENGINE_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/base/arena.h"

#define POLICY_DEFAULT_MAX_LINE (2u * 8192u + 1u)
#define POLICY_DEFAULT_MAX_ATTRS 64u
#define POLICY_DEFAULT_MAX_REQUEST (64u * 1024u)

struct policy_limits {
    size_t max_line;    /* bytes per line, excluding LF (and a CR before it) */
    size_t max_attrs;   /* attribute lines per request */
    size_t max_request; /* bytes per request including the blank line */
};

enum policy_err {
    POLICY_OK = 0,
    POLICY_ERR_LINE_TOO_LONG = -1,
    POLICY_ERR_TOO_LARGE = -2,
    POLICY_ERR_TOO_MANY_ATTRS = -3,
    POLICY_ERR_NUL = -4,         /* NUL byte in the request */
    POLICY_ERR_NO_EQUALS = -5,   /* attribute line without "=" */
    POLICY_ERR_EMPTY_NAME = -6,  /* "=value" */
    POLICY_ERR_NO_REQUEST = -7,  /* no request= attribute */
    POLICY_ERR_BAD_REQUEST = -8, /* request= is not smtpd_access_policy */
    POLICY_ERR_BAD_NUMBER = -9,  /* a numeric attribute is not a number */
};
const char *policy_strerror(int err);

enum policy_state {
    POLICY_STATE_UNKNOWN = 0, /* empty or unrecognised protocol_state */
    POLICY_STATE_CONNECT,
    POLICY_STATE_EHLO,
    POLICY_STATE_HELO,
    POLICY_STATE_MAIL,
    POLICY_STATE_RCPT,
    POLICY_STATE_DATA,
    POLICY_STATE_BDAT,
    POLICY_STATE_END_OF_MESSAGE,
    POLICY_STATE_VRFY,
    POLICY_STATE_ETRN,
};
const char *policy_state_name(enum policy_state s);

/* struct policy_str - a value: NUL-terminated copy in the request arena. An attribute that
 * was absent has p = "" (static) and len 0, like one sent empty; `present` tells them apart. */
struct policy_str {
    const char *p;
    size_t len;
};

/* enum policy_attr - the known attributes in struct policy_request field order (the three
 * numbers last); bit (1 << POLICY_ATTR_x) of policy_request.present says "was sent". */
enum policy_attr {
    POLICY_ATTR_REQUEST,
    POLICY_ATTR_PROTOCOL_STATE,
    POLICY_ATTR_PROTOCOL_NAME,
    POLICY_ATTR_CLIENT_ADDRESS,
    POLICY_ATTR_CLIENT_NAME,
    POLICY_ATTR_CLIENT_PORT,
    POLICY_ATTR_REVERSE_CLIENT_NAME,
    POLICY_ATTR_SERVER_ADDRESS,
    POLICY_ATTR_SERVER_PORT,
    POLICY_ATTR_HELO_NAME,
    POLICY_ATTR_SENDER,
    POLICY_ATTR_RECIPIENT,
    POLICY_ATTR_QUEUE_ID,
    POLICY_ATTR_INSTANCE,
    POLICY_ATTR_ETRN_DOMAIN,
    POLICY_ATTR_STRESS,
    POLICY_ATTR_SASL_METHOD,
    POLICY_ATTR_SASL_USERNAME,
    POLICY_ATTR_SASL_SENDER,
    POLICY_ATTR_CCERT_SUBJECT,
    POLICY_ATTR_CCERT_ISSUER,
    POLICY_ATTR_CCERT_FINGERPRINT,
    POLICY_ATTR_CCERT_PUBKEY_FINGERPRINT,
    POLICY_ATTR_ENCRYPTION_PROTOCOL,
    POLICY_ATTR_ENCRYPTION_CIPHER,
    POLICY_ATTR_POLICY_CONTEXT,
    POLICY_ATTR_COMPATIBILITY_LEVEL,
    POLICY_ATTR_MAIL_VERSION,
    POLICY_ATTR_TLS_SNI,
    POLICY_ATTR_RECIPIENT_COUNT,
    POLICY_ATTR_SIZE,
    POLICY_ATTR_ENCRYPTION_KEYSIZE,
    POLICY_ATTR_COUNT
};

/* The typed request. Field names are Postfix's attribute names. */
struct policy_request {
    struct policy_str request, protocol_state, protocol_name;
    struct policy_str client_address, client_name, client_port, reverse_client_name;
    struct policy_str server_address, server_port, helo_name;
    struct policy_str sender, recipient, queue_id, instance;
    struct policy_str etrn_domain, stress;
    struct policy_str sasl_method, sasl_username, sasl_sender;
    struct policy_str ccert_subject, ccert_issuer, ccert_fingerprint, ccert_pubkey_fingerprint;
    struct policy_str encryption_protocol, encryption_cipher;
    struct policy_str policy_context;
    struct policy_str compatibility_level, mail_version, tls_sni; /* Postfix 3.8+ */
    uint64_t recipient_count, size, encryption_keysize;
    enum policy_state state;  /* from protocol_state */
    bool is_stress;           /* stress=yes */
    unsigned n_attrs;         /* attribute lines seen */
    unsigned unknown;         /* names we do not know (ignored) */
    unsigned repeated;        /* repeats of known names (first kept) */
    uint64_t present;         /* bit per known attribute, POLICY_ATTR_* order */
};

/* policy_has - was attribute `attr` sent (possibly empty)? */
static inline bool policy_has(const struct policy_request *req, enum policy_attr attr)
{
    return (req->present >> (unsigned)attr) & 1u;
}

/* policy_frame - find the end of the first request in buf[0..len).
 * *scan is the resume offset: 0 for a new request; on return it is where the next call
 * should resume (the start of the last incomplete line), so each byte is scanned once.
 * Returns the frame length (through the blank line's LF) when a request is complete, 0 when
 * more data is needed, or a negative POLICY_ERR_* (LINE_TOO_LONG, TOO_LARGE, TOO_MANY_ATTRS,
 * NUL) as soon as the bytes seen already break a limit - the caller closes the connection. */
ssize_t policy_frame(const char *buf, size_t len, size_t *scan, const struct policy_limits *lim);

/* struct policy_parse_error - where parsing failed, for the one log line */
struct policy_parse_error {
    unsigned line;  /* 1-based attribute line, 0 if not line-specific */
    char name[64];  /* attribute name (sanitised, truncated) or "" */
};

/* policy_parse - parse one complete frame (as delimited by policy_frame) into req, copying
 * values into a. Returns POLICY_OK or a negative POLICY_ERR_*; on error *perr says where
 * (perr may be NULL). The frame must satisfy the limits already (policy_frame checks them). */
int policy_parse(const char *frame, size_t len, const struct policy_limits *lim, struct arena *a,
                 struct policy_request *req, struct policy_parse_error *perr);

#endif
