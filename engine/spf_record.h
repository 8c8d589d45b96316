/* engine/spf_record.h - SPF record selection and term grammar (RFC 7208 4.5, 4.6, 5, 6).
 * Internal to the SPF evaluator.
 *
 * Grammar (RFC 7208 4.6.1, 5, 6, 12; ABNF strings are case-insensitive):
 *   record           = version terms *SP
 *   version          = "v=spf1"          (then SP or the end of the record: 4.5)
 *   terms            = *( 1*SP ( directive / modifier ) )
 *   directive        = [ qualifier ] mechanism        qualifier = "+" / "-" / "?" / "~"
 *   mechanism        = all / include / a / mx / ptr / ip4 / ip6 / exists
 *   all              = "all"
 *   include          = "include" ":" domain-spec
 *   a                = "a"   [ ":" domain-spec ] [ dual-cidr-length ]
 *   mx               = "mx"  [ ":" domain-spec ] [ dual-cidr-length ]
 *   ptr              = "ptr" [ ":" domain-spec ]
 *   ip4              = "ip4" ":" ip4-network [ ip4-cidr-length ]
 *   ip6              = "ip6" ":" ip6-network [ ip6-cidr-length ]
 *   exists           = "exists" ":" domain-spec
 *   modifier         = redirect / explanation / unknown-modifier
 *   redirect         = "redirect" "=" domain-spec
 *   explanation      = "exp" "=" domain-spec
 *   unknown-modifier = name "=" macro-string      name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 *   ip4-cidr-length  = "/" ( "0" / %x31-39 0*1DIGIT )   value 0..32
 *   ip6-cidr-length  = "/" ( "0" / %x31-39 0*2DIGIT )   value 0..128
 *   dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
 *   ip4-network      = qnum "." qnum "." qnum "." qnum  (no leading zeros)
 *   ip6-network      = RFC 4291 2.2 text
 * A term is a run of non-SP bytes; a byte outside %x21-7E anywhere after the version is a
 * syntax error (control characters, NUL, 8-bit). A term whose name is followed by "=" is a
 * modifier (known names "redirect" and "exp" are never unknown modifiers, and at most one of
 * each); otherwise it is a mechanism, whose name must be known and followed by ":", "/" or
 * the end. A dual-cidr-length is recognised at the end of an a/mx argument only (a
 * domain-spec may contain "/" itself, but cannot end in "/" DIGITs). Any syntax error makes
 * the whole record a permerror (4.6). Terms point into the record text (not copied). */
#ifndef GREYSPF_ENGINE_SPF_RECORD_H
#define GREYSPF_ENGINE_SPF_RECORD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/base/arena.h"
#include "engine/cidr.h"
#include "engine/spf.h"

enum spf_mech_kind {
    SPF_MECH_ALL,
    SPF_MECH_INCLUDE,
    SPF_MECH_A,
    SPF_MECH_MX,
    SPF_MECH_PTR,
    SPF_MECH_IP4,
    SPF_MECH_IP6,
    SPF_MECH_EXISTS,
};

struct spf_mech {
    enum spf_mech_kind kind;
    enum spf_result qual; /* the result when it matches: + pass, - fail, ~ softfail, ? neutral */
    const char *text;     /* the term as written, qualifier included */
    size_t text_len;
    const char *domain; /* domain-spec, NULL when absent (a, mx, ptr: the current domain) */
    size_t domain_len;
    uint8_t cidr4, cidr6; /* a, mx: 0..32 and 0..128 (defaults 32, 128); ip4: cidr4; ip6: cidr6 */
    struct ip_addr net;   /* ip4 (IPv4-mapped), ip6 */
};

struct spf_record {
    struct spf_mech *mech; /* in record order */
    unsigned n_mech;
    const char *redirect; /* domain-spec of redirect=, NULL when absent */
    size_t redirect_len;
    const char *exp; /* domain-spec of exp=, NULL when absent */
    size_t exp_len;
};

/* spf_record_is_spf1 - txt[0..len) starts with "v=spf1" (any case) then SP or its end */
bool spf_record_is_spf1(const char *txt, size_t len);

/* spf_record_parse - parse txt[0..len) (an spf1 record; see spf_record_is_spf1) into *rec,
 * allocating in a; rec's strings point into txt. Returns 0, or -1 with a short static
 * reason in *problem (the record is a permerror). */
int spf_record_parse(const char *txt, size_t len, struct arena *a, struct spf_record *rec,
                     const char **problem);

/* spf_mech_needs_dns - include, a, mx, ptr, exists: counted against the 10-term limit */
bool spf_mech_needs_dns(enum spf_mech_kind k);

#endif
