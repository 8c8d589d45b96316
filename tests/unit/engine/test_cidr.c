/* tests/unit/engine/test_cidr.c - IP parsing and formatting, CIDR parsing, matching, sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "engine/cidr.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct ip_case {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen(text) */
    bool ok;
    const char *want; /* ip_format of the result */
    bool v4, loopback;
};

static const struct ip_case ip_cases[] = {
    {"v4", "192.0.2.1", 0, true, "192.0.2.1", true, false},
    {"v4 zero", "0.0.0.0", 0, true, "0.0.0.0", true, false},
    {"v4 max", "255.255.255.255", 0, true, "255.255.255.255", true, false},
    {"v4 loopback", "127.0.0.1", 0, true, "127.0.0.1", true, true},
    {"v4 loopback top", "127.255.255.254", 0, true, "127.255.255.254", true, true},
    {"v4 not loopback", "128.0.0.1", 0, true, "128.0.0.1", true, false},
    {"v4 bounded by len", "10.1.2.34", 8, true, "10.1.2.3", true, false},
    {"v4 octet 256", "256.1.1.1", 0, false, NULL, false, false},
    {"v4 three parts", "1.2.3", 0, false, NULL, false, false},
    {"v4 five parts", "1.2.3.4.5", 0, false, NULL, false, false},
    {"v4 leading zero", "01.2.3.4", 0, false, NULL, false, false},
    {"v4 hex", "0x1.2.3.4", 0, false, NULL, false, false},
    {"v4 leading space", " 1.2.3.4", 0, false, NULL, false, false},
    {"v4 trailing space", "1.2.3.4 ", 0, false, NULL, false, false},
    {"v4 trailing newline", "1.2.3.4\n", 0, false, NULL, false, false},
    {"embedded NUL", "1.2.3.4\0", 8, false, NULL, false, false},
    {"empty", "", 0, false, NULL, false, false},
    {"v6", "2001:db8::1", 0, true, "2001:db8::1", false, false},
    {"v6 upper case", "2001:DB8::A", 0, true, "2001:db8::a", false, false},
    {"v6 unspecified", "::", 0, true, "::", false, false},
    {"v6 loopback", "::1", 0, true, "::1", false, true},
    {"v6 not loopback", "::2", 0, true, "::2", false, false},
    {"v6 full form", "2001:0db8:0000:0000:0000:0000:0000:0001", 0, true, "2001:db8::1", false,
     false},
    {"v4-mapped is v4", "::ffff:192.0.2.1", 0, true, "192.0.2.1", true, false},
    {"v4-mapped loopback", "::ffff:127.0.0.1", 0, true, "127.0.0.1", true, true},
    {"v4-compatible is v6", "::192.0.2.1", 0, true, "::192.0.2.1", false, false},
    {"v6 brackets", "[::1]", 0, false, NULL, false, false},
    {"v6 ipv6: prefix", "ipv6:::1", 0, false, NULL, false, false},
    {"v6 zone id", "fe80::1%eth0", 0, false, NULL, false, false},
    {"v6 two ::", "1::2::3", 0, false, NULL, false, false},
    {"v6 group too long", "12345::", 0, false, NULL, false, false},
    {"v6 leading space", " ::1", 0, false, NULL, false, false},
    {"very long", "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ff", 0,
     false, NULL, false, false},
};

static void test_ip_parse(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(ip_cases); i++) {
        const struct ip_case *c = &ip_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        struct ip_addr a;
        memset(&a, 0xa5, sizeof(a));
        bool ok = ip_parse(c->text, len, &a);
        if (ok != c->ok) {
            print_error("ip_parse %s: got %s, want %s\n", c->name, ok ? "ok" : "error",
                        c->ok ? "ok" : "error");
            failures++;
            continue;
        }
        if (!ok)
            continue;
        char buf[64];
        ip_format(&a, buf, sizeof(buf));
        if (strcmp(buf, c->want) != 0) {
            print_error("ip_format %s: got \"%s\", want \"%s\"\n", c->name, buf, c->want);
            failures++;
        }
        if (ip_is_v4(&a) != c->v4) {
            print_error("ip_is_v4 %s: got %d, want %d\n", c->name, ip_is_v4(&a), c->v4);
            failures++;
        }
        if (ip_is_loopback(&a) != c->loopback) {
            print_error("ip_is_loopback %s: got %d, want %d\n", c->name, ip_is_loopback(&a),
                        c->loopback);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_ip_v4_mapped_storage(void **state)
{
    (void)state;
    struct ip_addr a;
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    assert_true(ip_parse("192.0.2.1", 9, &a));
    assert_memory_equal(a.b, want, 16);
}

static void test_ip_format_truncates(void **state)
{
    (void)state;
    struct ip_addr a;
    char buf[8];
    assert_true(ip_parse("192.0.2.100", 11, &a));
    assert_ptr_equal(ip_format(&a, buf, 5), buf);
    assert_string_equal(buf, "192.");
    memset(buf, 'x', sizeof(buf));
    ip_format(&a, buf, 0); /* writes nothing */
    assert_int_equal(buf[0], 'x');
}

struct cidr_case {
    const char *name;
    const char *text;
    bool lenient;
    bool ok;
    const char *want; /* cidr_format of the result */
    unsigned prefix;  /* stored (mapped) prefix */
};

static const struct cidr_case cidr_cases[] = {
    {"v4 /8", "10.0.0.0/8", false, true, "10.0.0.0/8", 104},
    {"v4 host", "192.0.2.1", false, true, "192.0.2.1/32", 128},
    {"v4 /32", "192.0.2.1/32", false, true, "192.0.2.1/32", 128},
    {"v4 /0", "0.0.0.0/0", false, true, "0.0.0.0/0", 96},
    {"v4 /24", "192.168.1.0/24", false, true, "192.168.1.0/24", 120},
    {"v4 /9 off-byte", "10.128.0.0/9", false, true, "10.128.0.0/9", 105},
    {"v4 /31", "192.0.2.2/31", false, true, "192.0.2.2/31", 127},
    {"v4 host bits strict", "10.0.0.1/8", false, false, NULL, 0},
    {"v4 host bits lenient", "10.0.0.1/8", true, true, "10.0.0.0/8", 104},
    {"v4 /0 host bits lenient", "1.2.3.4/0", true, true, "0.0.0.0/0", 96},
    {"v4 /0 host bits strict", "1.2.3.4/0", false, false, NULL, 0},
    {"v4 /9 host bit", "10.192.0.0/9", false, false, NULL, 0},
    {"v4 /33", "1.2.3.4/33", false, false, NULL, 0},
    {"v4 /33 lenient", "1.2.3.4/33", true, false, NULL, 0},
    {"v4 /128", "1.2.3.4/128", false, false, NULL, 0},
    {"empty prefix", "1.2.3.4/", false, false, NULL, 0},
    {"only slash", "/", false, false, NULL, 0},
    {"no address", "/8", false, false, NULL, 0},
    {"negative prefix", "10.0.0.0/-1", false, false, NULL, 0},
    {"plus prefix", "10.0.0.0/+8", false, false, NULL, 0},
    {"leading zero prefix", "10.0.0.0/08", false, false, NULL, 0},
    {"zero zero prefix", "0.0.0.0/00", false, false, NULL, 0},
    {"long prefix", "10.0.0.0/0008", false, false, NULL, 0},
    {"space in prefix", "10.0.0.0/ 8", false, false, NULL, 0},
    {"trailing space", "10.0.0.0/8 ", false, false, NULL, 0},
    {"two slashes", "10.0.0.0/8/8", false, false, NULL, 0},
    {"hex prefix", "10.0.0.0/0x8", false, false, NULL, 0},
    {"bad address", "10.0.0/8", false, false, NULL, 0},
    {"empty", "", false, false, NULL, 0},
    {"v6 /0", "::/0", false, true, "::/0", 0},
    {"v6 /32", "2001:db8::/32", false, true, "2001:db8::/32", 32},
    {"v6 /33", "2001:db8:8000::/33", false, true, "2001:db8:8000::/33", 33},
    {"v6 host", "2001:db8::1", false, true, "2001:db8::1/128", 128},
    {"v6 /128", "::1/128", false, true, "::1/128", 128},
    {"v6 /64", "2001:db8:1:2::/64", false, true, "2001:db8:1:2::/64", 64},
    {"v6 host bits strict", "2001:db8::1/32", false, false, NULL, 0},
    {"v6 host bits lenient", "2001:db8::1/32", true, true, "2001:db8::/32", 32},
    {"v6 /129", "::1/129", false, false, NULL, 0},
    {"v6 /1000", "::/1000", false, false, NULL, 0},
    {"v6 leading zero prefix", "::/064", false, false, NULL, 0},
    {"v6 mapped /104 is v4 /8", "::ffff:10.0.0.0/104", false, true, "10.0.0.0/8", 104},
    {"v6 mapped /96 is v4 /0", "::ffff:0:0/96", false, true, "0.0.0.0/0", 96},
    {"v6 mapped /95 stays v6", "::fffe:0:0/95", false, true, "::fffe:0:0/95", 95},
    {"v6 mapped /95 host bit", "::ffff:0:0/95", false, false, NULL, 0},
    {"v6 brackets", "[::1]/128", false, false, NULL, 0},
};

static void test_cidr_parse(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(cidr_cases); i++) {
        const struct cidr_case *c = &cidr_cases[i];
        struct cidr r;
        bool ok = cidr_parse(c->text, strlen(c->text), c->lenient, &r);
        if (ok != c->ok) {
            print_error("cidr_parse %s \"%s\": got %s, want %s\n", c->name, c->text,
                        ok ? "ok" : "error", c->ok ? "ok" : "error");
            failures++;
            continue;
        }
        if (!ok)
            continue;
        char buf[CIDR_TEXT_MAX];
        cidr_format(&r, buf, sizeof(buf));
        if (strcmp(buf, c->want) != 0) {
            print_error("cidr_format %s: got \"%s\", want \"%s\"\n", c->name, buf, c->want);
            failures++;
        }
        if (r.prefix != c->prefix) {
            print_error("prefix %s: got %u, want %u\n", c->name, r.prefix, c->prefix);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_cidr_parse_bounded(void **state)
{
    (void)state;
    struct cidr r;
    char buf[CIDR_TEXT_MAX];
    /* s[0..len) only: the rest of the string is not looked at */
    assert_true(cidr_parse("10.0.0.0/8 garbage", 10, false, &r));
    assert_string_equal(cidr_format(&r, buf, sizeof(buf)), "10.0.0.0/8");
    assert_true(cidr_parse("128.0.0.0/16", 11, false, &r)); /* "128.0.0.0/1" */
    assert_string_equal(cidr_format(&r, buf, sizeof(buf)), "128.0.0.0/1");
}

struct match_case {
    const char *name;
    const char *cidr;
    const char *ip;
    bool want;
};

static const struct match_case match_cases[] = {
    {"v4 /8 inside", "10.0.0.0/8", "10.255.255.255", true},
    {"v4 /8 outside", "10.0.0.0/8", "11.0.0.0", false},
    {"v4 /9 last inside", "10.0.0.0/9", "10.127.255.255", true},
    {"v4 /9 first outside", "10.0.0.0/9", "10.128.0.0", false},
    {"v4 /32 same", "192.0.2.1/32", "192.0.2.1", true},
    {"v4 /32 next", "192.0.2.1/32", "192.0.2.2", false},
    {"v4 /0 any v4", "0.0.0.0/0", "203.0.113.9", true},
    {"v4 /0 not v6", "0.0.0.0/0", "2001:db8::1", false},
    {"v4 /0 not ::1", "0.0.0.0/0", "::1", false},
    {"v4 cidr mapped client", "192.168.1.0/24", "::ffff:192.168.1.7", true},
    {"v6 /0 any v6", "::/0", "2001:db8::1", true},
    {"v6 /0 any v4", "::/0", "192.0.2.1", true},
    {"v6 /32 inside", "2001:db8::/32", "2001:db8:ffff:ffff::1", true},
    {"v6 /32 outside", "2001:db8::/32", "2001:db9::", false},
    {"v6 /33 outside", "2001:db8::/33", "2001:db8:8000::", false},
    {"v6 /33 inside", "2001:db8::/33", "2001:db8:7fff::", true},
    {"v6 /128 same", "::1/128", "::1", true},
    {"v6 /128 other", "::1/128", "::2", false},
    {"v6 /64", "2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
    {"v6 /127", "2001:db8::/127", "2001:db8::1", true},
    {"v6 /127 out", "2001:db8::/127", "2001:db8::2", false},
    {"v6 cidr does not match v4", "2001:db8::/32", "32.1.13.184", false},
};

static void test_cidr_match(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(match_cases); i++) {
        const struct match_case *c = &match_cases[i];
        struct cidr r;
        struct ip_addr a;
        assert_true(cidr_parse(c->cidr, strlen(c->cidr), false, &r));
        assert_true(ip_parse(c->ip, strlen(c->ip), &a));
        bool got = cidr_match(&r, &a);
        if (got != c->want) {
            print_error("cidr_match %s (%s in %s): got %d, want %d\n", c->name, c->ip, c->cidr, got,
                        c->want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_cidr_set(void **state)
{
    (void)state;
    static const char *const nets[] = {"10.0.0.0/8",    "192.168.0.0/16", "2001:db8::/32",
                                       "198.51.100.7",  "172.16.0.0/12",  "fd00::/8",
                                       "100.64.0.0/10", "203.0.113.0/24", "::1"};
    static const struct {
        const char *ip;
        bool want;
    } probes[] = {{"10.1.2.3", true},     {"192.168.255.1", true}, {"2001:db8::5", true},
                  {"198.51.100.7", true}, {"198.51.100.8", false}, {"172.31.0.1", true},
                  {"172.32.0.1", false},  {"fdff::1", true},       {"fe00::1", false},
                  {"::1", true},          {"8.8.8.8", false},      {"100.127.255.255", true}};
    struct cidr_set s;
    struct ip_addr a;
    cidr_set_init(&s);
    assert_true(ip_parse("10.0.0.1", 8, &a));
    assert_false(cidr_set_match(&s, &a)); /* empty set matches nothing */
    for (size_t i = 0; i < N(nets); i++) {
        struct cidr c;
        assert_true(cidr_parse(nets[i], strlen(nets[i]), false, &c));
        cidr_set_add(&s, &c);
    }
    assert_int_equal(s.n, N(nets));
    int failures = 0;
    for (size_t i = 0; i < N(probes); i++) {
        assert_true(ip_parse(probes[i].ip, strlen(probes[i].ip), &a));
        bool got = cidr_set_match(&s, &a);
        if (got != probes[i].want) {
            print_error("cidr_set_match %s: got %d, want %d\n", probes[i].ip, got, probes[i].want);
            failures++;
        }
    }
    cidr_set_fini(&s);
    assert_null(s.v);
    assert_int_equal(s.n, 0);
    cidr_set_fini(&s); /* twice is harmless */
    assert_int_equal(failures, 0);
}

/* xorshift64 - deterministic pseudo-random numbers for the round-trip test */
static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_cidr_round_trip(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        struct cidr c, back;
        char text[CIDR_TEXT_MAX];
        for (int j = 0; j < 16; j += 8) {
            uint64_t r = xorshift64(&seed);
            memcpy(c.addr.b + j, &r, 8);
        }
        if (i % 2) { /* half of them IPv4 */
            memset(c.addr.b, 0, 10);
            c.addr.b[10] = c.addr.b[11] = 0xff;
            c.prefix = (uint8_t)(96 + xorshift64(&seed) % 33);
        } else {
            c.prefix = (uint8_t)(xorshift64(&seed) % 129);
        }
        /* mask through the lenient parser of the unmasked text, then compare round trips */
        cidr_format(&c, text, sizeof(text));
        if (!cidr_parse(text, strlen(text), true, &c))
            fail_msg("lenient parse of \"%s\" failed", text);
        cidr_format(&c, text, sizeof(text));
        if (!cidr_parse(text, strlen(text), false, &back))
            fail_msg("strict re-parse of \"%s\" failed", text);
        if (memcmp(&back.addr, &c.addr, 16) != 0 || back.prefix != c.prefix) {
            char got[CIDR_TEXT_MAX];
            fail_msg("round trip of \"%s\": got %s, want same", text,
                     cidr_format(&back, got, sizeof(got)));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_ip_v4_mapped_storage),
        cmocka_unit_test(test_ip_format_truncates),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_parse_bounded),
        cmocka_unit_test(test_cidr_match),
        cmocka_unit_test(test_cidr_set),
        cmocka_unit_test(test_cidr_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
