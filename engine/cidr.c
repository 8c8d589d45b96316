/* engine/cidr.c - IP addresses and CIDR sets; see cidr.h.
 *
 * Grammar (text is s[0..len), never NUL-terminated by contract):
 *   ip     = ipv4 / ipv6           ; inet_pton(3) forms: IPv4 is exactly four decimal octets
 *                                  ; without leading zeros; IPv6 per RFC 4291 2.2, no zone id
 *   cidr   = ip [ "/" prefix ]
 *   prefix = "0" / %x31-39 *2DIGIT ; no sign, no leading zero, no space; 0..32 after an IPv4
 *                                  ; address, 0..128 after an IPv6 one
 * The family of a CIDR is the family of its text: "10.0.0.0/8" is ::ffff:10.0.0.0/104, while
 * "::ffff:10.0.0.0/104" is the same set written in IPv6. So "0.0.0.0/0" matches every IPv4
 * client and no IPv6 one, and "::/0" matches everything.
 * Leading zeros in a prefix are rejected: "/08" reads as octal to some tools and as decimal to
 * others, and a policy list is not the place to find out which. */
#include "engine/cidr.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest IPv6 text inet_pton can accept ("ffff:...:255.255.255.255" is 45 bytes). */
#define IP_TEXT_MAX 64

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* mask_bits - clear every bit of a beyond the first prefix bits */
static void mask_bits(struct ip_addr *a, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (prefix >= lo + 8)
            continue;
        if (prefix <= lo)
            a->b[i] = 0;
        else
            a->b[i] &= (uint8_t)(0xffu << (8 - (prefix - lo)));
    }
}

/* parse_family - ip_parse that also says whether the text was an IPv4 dotted quad */
static bool parse_family(const char *s, size_t len, struct ip_addr *out, bool *is_v4_text)
{
    char buf[IP_TEXT_MAX];
    if (len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len)) {
        if (inet_pton(AF_INET6, buf, out->b) != 1)
            return false;
        *is_v4_text = false;
        return true;
    }
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) != 1)
        return false;
    memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
    memcpy(out->b + 12, v4, 4);
    *is_v4_text = true;
    return true;
}

bool ip_parse(const char *s, size_t len, struct ip_addr *out)
{
    struct ip_addr a;
    bool v4;
    if (!parse_family(s, len, &a, &v4))
        return false;
    *out = a;
    return true;
}

bool ip_is_v4(const struct ip_addr *a)
{
    return memcmp(a->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

bool ip_is_loopback(const struct ip_addr *a)
{
    static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (ip_is_v4(a))
        return a->b[12] == 127;
    return memcmp(a->b, v6_loopback, 16) == 0;
}

char *ip_format(const struct ip_addr *a, char *buf, size_t size)
{
    char tmp[INET6_ADDRSTRLEN];
    const char *r;
    if (ip_is_v4(a))
        r = inet_ntop(AF_INET, a->b + 12, tmp, sizeof(tmp));
    else
        r = inet_ntop(AF_INET6, a->b, tmp, sizeof(tmp));
    if (!r) /* cannot happen: tmp always fits */
        PANIC("cidr: inet_ntop failed");
    if (size)
        snprintf(buf, size, "%s", tmp);
    return buf;
}

bool cidr_parse(const char *s, size_t len, bool lenient, struct cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct ip_addr a;
    bool v4;
    if (!parse_family(s, alen, &a, &v4))
        return false;
    unsigned max = v4 ? 32 : 128, prefix = max;
    if (slash) {
        const char *p = slash + 1, *end = s + len;
        size_t n = (size_t)(end - p);
        if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
            return false;
        prefix = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return false;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return false;
    }
    if (v4)
        prefix += 96;
    struct ip_addr m = a;
    mask_bits(&m, prefix);
    if (!lenient && memcmp(m.b, a.b, 16) != 0)
        return false;
    out->addr = m;
    out->prefix = (uint8_t)prefix;
    return true;
}

char *cidr_format(const struct cidr *c, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned p = c->prefix;
    if (ip_is_v4(&c->addr) && p >= 96) {
        ip_format(&c->addr, ip, sizeof(ip));
        p -= 96;
    } else if (!inet_ntop(AF_INET6, c->addr.b, ip, sizeof(ip))) {
        /* under /96 a mapped-looking address (only hand-built; parsing masks the ffff
         * away) is written in IPv6 so that re-parsing gives the same prefix */
        PANIC("cidr: inet_ntop failed");
    }
    if (size)
        snprintf(buf, size, "%s/%u", ip, p);
    return buf;
}

bool cidr_match(const struct cidr *c, const struct ip_addr *a)
{
    if (c->prefix > 128)
        PANIC("cidr: prefix %u > 128", (unsigned)c->prefix);
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr.b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t m = (uint8_t)(0xffu << (8 - rest));
    return (a->b[full] & m) == c->addr.b[full];
}

void cidr_set_init(struct cidr_set *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
}

void cidr_set_add(struct cidr_set *s, const struct cidr *c)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = *c;
}

bool cidr_set_match(const struct cidr_set *s, const struct ip_addr *a)
{
    for (size_t i = 0; i < s->n; i++)
        if (cidr_match(&s->v[i], a))
            return true;
    return false;
}

void cidr_set_fini(struct cidr_set *s)
{
    free(s->v);
    cidr_set_init(s);
}
