/* engine/cidr.h - IP addresses and CIDR sets, IPv4 and IPv6.
 * IPv4 is stored as an IPv4-mapped IPv6 address (::ffff:a.b.c.d), so one 128-bit compare
 * matches both families and an IPv4-mapped client matches an IPv4 CIDR. */
#ifndef GREYSPF_ENGINE_CIDR_H
#define GREYSPF_ENGINE_CIDR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ip_addr {
    uint8_t b[16]; /* network order; IPv4 as ::ffff:a.b.c.d */
};

struct cidr {
    struct ip_addr addr; /* masked to prefix */
    uint8_t prefix;      /* 0..128 in the mapped space (IPv4 /24 is stored as 120) */
};

/* A set of CIDRs: an array scanned linearly (skip lists are tens to hundreds of entries). */
struct cidr_set {
    struct cidr *v;
    size_t n, cap;
};

/* ip_parse - parse an IPv4 dotted quad or IPv6 text (s[0..len), not NUL-terminated).
 * A "[...]" form or an "ipv6:" prefix is not accepted here. Returns true on success. */
bool ip_parse(const char *s, size_t len, struct ip_addr *out);
bool ip_is_v4(const struct ip_addr *a);
bool ip_is_loopback(const struct ip_addr *a); /* 127/8, ::1, ::ffff:127/104 */
/* ip_format - text form into buf (>= 46 bytes); IPv4 as a dotted quad. Returns buf. */
char *ip_format(const struct ip_addr *a, char *buf, size_t size);

/* cidr_parse - "ADDR" or "ADDR/PREFIX"; an IPv4 prefix is 0..32, IPv6 0..128; host bits
 * beyond the prefix must be zero unless `lenient` (then they are masked). */
bool cidr_parse(const char *s, size_t len, bool lenient, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct ip_addr *a);
/* cidr_format - "a.b.c.d/N" (N = prefix - 96) for an IPv4-mapped CIDR of prefix >= 96, else
 * "v6text/N"; cidr_parse of the result gives back *c. buf >= CIDR_TEXT_MAX bytes (shorter
 * truncates). Returns buf. */
#define CIDR_TEXT_MAX 50
char *cidr_format(const struct cidr *c, char *buf, size_t size);

void cidr_set_init(struct cidr_set *s);
void cidr_set_add(struct cidr_set *s, const struct cidr *c);
bool cidr_set_match(const struct cidr_set *s, const struct ip_addr *a);
void cidr_set_fini(struct cidr_set *s);

#endif
