/* engine/spf_macro.h - RFC 7208 section 7 macro strings: syntax checks and expansion.
 * Internal to the SPF evaluator (spf_record.c checks, spf_eval.c expands).
 *
 * Grammar (RFC 7208 7.1; ABNF strings are case-insensitive):
 *   domain-spec    = macro-string domain-end
 *   domain-end     = ( "." toplabel [ "." ] ) / macro-expand
 *   toplabel       = ( *alphanum ALPHA *alphanum ) /
 *                    ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 *   explain-string = *( macro-string / SP )
 *   macro-string   = *( macro-expand / macro-literal )
 *   macro-expand   = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
 *   macro-literal  = %x21-24 / %x26-7E
 *   macro-letter   = "s" / "l" / "o" / "d" / "i" / "p" / "h" / "c" / "r" / "t" / "v"
 *   transformers   = *DIGIT [ "r" ]
 *   delimiter      = "." / "-" / "+" / "," / "/" / "_" / "="
 * Rules from the prose: c, r and t only in explanation text (7.1/8); a DIGIT transformer is
 * non-zero (7.3; values past 128 mean "every part"); an upper-case letter URL-encodes its
 * value, keeping only unreserved characters (7.3). A target name made from a domain-spec
 * loses one trailing dot and, past 253 characters, whole labels from the left (7.3).
 * Limits: a domain expansion keeps its last SPF_MACRO_DOMAIN_KEEP bytes (enough for the
 * truncation to 253); an explanation longer than SPF_MACRO_EXP_MAX is refused. */
#ifndef GREYSPF_ENGINE_SPF_MACRO_H
#define GREYSPF_ENGINE_SPF_MACRO_H
#include <stdbool.h>
#include <stddef.h>

#include "engine/base/arena.h"

#define SPF_DOMAIN_MAX 253 /* a domain name's text form, without the trailing dot */
#define SPF_MACRO_DOMAIN_KEEP 1024
#define SPF_MACRO_EXP_MAX 2048

enum spf_macro_ctx {
    SPF_MACRO_DOMAIN, /* domain-spec of a mechanism, redirect= or exp=: no c r t */
    SPF_MACRO_EXP,    /* explanation text (the exp= TXT record): SP and c r t allowed */
    SPF_MACRO_ANY,    /* value of an unknown modifier: syntax only, never expanded */
};

/* spf_macro_valid - s[0..n) is a macro-string (explain-string for SPF_MACRO_EXP) */
bool spf_macro_valid(const char *s, size_t n, enum spf_macro_ctx ctx);
/* spf_domain_spec_valid - s[0..n) is a non-empty domain-spec (7.1) */
bool spf_domain_spec_valid(const char *s, size_t n);
/* spf_toplabel_valid - s[0..n) is a toplabel (7.1) */
bool spf_toplabel_valid(const char *s, size_t n);
/* spf_macro_has_p - s[0..n) uses the p macro (expanding it needs DNS) */
bool spf_macro_has_p(const char *s, size_t n);

/* The macro values of one check_host() level; strings are borrowed, NUL-terminated. */
struct spf_macro_vars {
    const char *s, *l, *o, *d, *i, *h, *c, *r, *t, *v;
    /* get_p - the validated client name (7.3 "p"), or NULL while DNS answers are missing */
    const char *(*get_p)(void *arg);
    void *arg;
};

enum spf_macro_status {
    SPF_MACRO_OK = 0,
    SPF_MACRO_PENDING = 1,  /* get_p returned NULL */
    SPF_MACRO_SYNTAX = -1,  /* not a valid macro-string for ctx */
    SPF_MACRO_TOO_LONG = -2 /* SPF_MACRO_EXP: the result is over SPF_MACRO_EXP_MAX */
};

/* spf_macro_expand - expand s[0..n) for ctx (SPF_MACRO_DOMAIN or SPF_MACRO_EXP) into a
 * NUL-terminated string in arena a: *out, *outlen. For SPF_MACRO_DOMAIN only the last
 * SPF_MACRO_DOMAIN_KEEP bytes are kept (*truncated says whether bytes were dropped).
 * Returns an spf_macro_status; *out is set only for SPF_MACRO_OK. */
int spf_macro_expand(const char *s, size_t n, enum spf_macro_ctx ctx,
                     const struct spf_macro_vars *v, struct arena *a, char **out, size_t *outlen,
                     bool *truncated);

/* spf_macro_target - expand domain-spec s[0..n) into a target name (7.3): one trailing dot
 * dropped, labels removed from the left while it is longer than SPF_DOMAIN_MAX, ASCII
 * lower-cased. The result may still be unusable as a DNS name (empty labels, a label over
 * 63): the caller checks. Returns an spf_macro_status. */
int spf_macro_target(const char *s, size_t n, const struct spf_macro_vars *v, struct arena *a,
                     char **out);

#endif
