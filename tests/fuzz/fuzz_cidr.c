/* tests/fuzz/fuzz_cidr.c - IP and CIDR text (engine/cidr.h) on arbitrary bytes.
 *
 * The input is the text, s[0..size) in an exact-size buffer (no NUL after it).
 * - ip_parse success: ip_format gives text that parses back to the same 16 bytes; that text
 *   has a ':' exactly when the address is not IPv4-mapped; ip_is_loopback agrees with
 *   matching 127.0.0.0/8 or ::1/128; cidr_parse of the same input gives a /128 host route.
 * - cidr_parse strict success implies lenient success with the same result; a lenient result
 *   is masked (strict re-parse of cidr_format's text gives it back), matches its own address,
 *   and matches no address just outside it.
 * - A NUL, a leading or trailing space, or "[" anywhere: both parsers refuse. */
#include "tests/fuzz/fuzz.h"
#include "engine/cidr.h"

#include <stdbool.h>
#include <string.h>

/* cidr_text - strict parse of a NUL-terminated text (what a format function wrote) */
static bool cidr_text(const char *s, struct cidr *out)
{
    return cidr_parse(s, strlen(s), false, out);
}

static bool same_cidr(const struct cidr *a, const struct cidr *b)
{
    return a->prefix == b->prefix && memcmp(a->addr.b, b->addr.b, 16) == 0;
}

/* check_ip - properties of a parsed address */
static void check_ip(const struct ip_addr *a)
{
    char text[64];
    struct ip_addr back;
    ip_format(a, text, sizeof(text));
    FUZZ_CHECK(ip_parse(text, strlen(text), &back) && memcmp(back.b, a->b, 16) == 0,
               "ip %s does not round-trip", text);
    FUZZ_CHECK((strchr(text, ':') == NULL) == ip_is_v4(a), "ip %s: family", text);

    struct cidr lo4, lo6;
    FUZZ_CHECK(cidr_text("127.0.0.0/8", &lo4) && cidr_text("::1", &lo6), "loopback CIDRs");
    FUZZ_CHECK(ip_is_loopback(a) == (cidr_match(&lo4, a) || cidr_match(&lo6, a)), "ip %s: loopback",
               text);
}

/* check_cidr - properties of a parsed (masked) CIDR */
static void check_cidr(const struct cidr *c)
{
    char text[CIDR_TEXT_MAX];
    struct cidr back;
    FUZZ_CHECK(c->prefix <= 128, "prefix %u", c->prefix);
    cidr_format(c, text, sizeof(text));
    FUZZ_CHECK(strchr(text, '/') != NULL, "cidr %s without prefix", text);
    FUZZ_CHECK(cidr_text(text, &back) && same_cidr(&back, c), "cidr %s does not round-trip", text);
    FUZZ_CHECK(cidr_match(c, &c->addr), "cidr %s does not match its own address", text);
    if (c->prefix > 0) {
        /* flip the last bit inside the prefix: that address is outside */
        struct ip_addr out = c->addr;
        unsigned bit = c->prefix - 1u;
        out.b[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        FUZZ_CHECK(!cidr_match(c, &out), "cidr %s matches an address outside it", text);
    }
    if (c->prefix < 128) {
        /* set every host bit: still inside */
        struct ip_addr in = c->addr;
        for (unsigned bit = c->prefix; bit < 128; bit++)
            in.b[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
        FUZZ_CHECK(cidr_match(c, &in), "cidr %s misses its broadcast address", text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool refuse = size > 0 && (memchr(s, '\0', size) || memchr(s, '[', size) || s[0] == ' ' ||
                               s[size - 1] == ' ');

    struct ip_addr a;
    bool ip_ok = ip_parse(s, size, &a);
    FUZZ_CHECK(!(ip_ok && refuse), "ip_parse accepted a refused form");
    if (ip_ok)
        check_ip(&a);

    struct cidr strict, lenient;
    bool s_ok = cidr_parse(s, size, false, &strict);
    bool l_ok = cidr_parse(s, size, true, &lenient);
    FUZZ_CHECK(!(l_ok && refuse), "cidr_parse accepted a refused form");
    FUZZ_CHECK(!s_ok || (l_ok && same_cidr(&strict, &lenient)), "strict ok, lenient differs");
    if (ip_ok)
        FUZZ_CHECK(s_ok && strict.prefix == 128 && memcmp(strict.addr.b, a.b, 16) == 0,
                   "an address is not a /128 CIDR");
    if (l_ok)
        check_cidr(&lenient);
    return 0;
}
