/* tests/unit/engine/test_greylist_wl.c - whitelist files in postgrey's syntax: every entry kind
 * of both files against matching and non-matching probes, errors with file:line, file checks,
 * and Debian's shipped postgrey lists (/usr/share/postgrey, when the package is installed:
 * skipped otherwise) loading unchanged and matching what they list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/greylist_wl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct greylist_wl *parse_ok(enum greylist_wl_kind kind, const char *text)
{
    struct greylist_wl *wl = greylist_wl_create();
    char err[512];
    if (greylist_wl_parse(wl, kind, "t", text, strlen(text), err, sizeof(err)) != 0)
        fail_msg("parse: got error \"%s\", want success", err);
    return wl;
}

struct client_probe {
    const char *ip, *name;
    bool want;
    const char *why;
};

static const char clients_text[] =
    "# comment line\n"
    "   \n"
    "debian.org        # trailing comment\n"
    "Mail.Example.COM\n"
    "fqdn.example.\n"
    "/^smtp\\d+\\.pool\\.example$/\n"
    "/^(?:mx|relay)[0-9]+-g[0-9]+\\.free\\.example$/\n"
    "192.0.2.1\n"
    "198.51.100.77/24\n" /* host bits: masked, as postgrey (NetAddr::IP) does */
    "203.0.113\n"        /* a /24 */
    "10.20\n"            /* a /16 */
    "2001:db8:1::/48\n"
    "2001:db8:ffff::25\n"
    "\t\tindented.example\t\r\n";

static const struct client_probe client_probes[] = {
    {"8.8.8.8", "debian.org", true, "client name"},
    {"8.8.8.8", "lists.debian.org", true, "client name"},
    {"8.8.8.8", "LISTS.DEBIAN.ORG", true, "client name"},
    {"8.8.8.8", "lists.debian.org.", true, "client name"},
    {"8.8.8.8", "notdebian.org", false, NULL},
    {"8.8.8.8", "debian.org.evil.example", false, NULL},
    {"8.8.8.8", "mail.example.com", true, "client name"},
    {"8.8.8.8", "x.mail.example.com", true, "client name"},
    {"8.8.8.8", "example.com", false, NULL},
    {"8.8.8.8", "fqdn.example", true, "client name"},
    {"8.8.8.8", "indented.example", true, "client name"},
    {"8.8.8.8", "smtp12.pool.example", true, "client regex"},
    {"8.8.8.8", "SMTP12.POOL.EXAMPLE", true, "client regex"},
    {"8.8.8.8", "smtpx.pool.example", false, NULL},
    {"8.8.8.8", "relay7-g2.free.example", true, "client regex"},
    {"8.8.8.8", "unknown", false, NULL},
    {"8.8.8.8", "", false, NULL},
    {"192.0.2.1", "unknown", true, "client address"},
    {"192.0.2.2", "unknown", false, NULL},
    {"198.51.100.1", "", true, "client address"},
    {"198.51.101.1", "", false, NULL},
    {"203.0.113.250", "", true, "client address"},
    {"10.20.99.1", "", true, "client address"},
    {"10.21.0.1", "", false, NULL},
    {"::ffff:192.0.2.1", "", true, "client address"},
    {"2001:db8:1:77::1", "", true, "client address"},
    {"2001:db8:2::1", "", false, NULL},
    {"2001:db8:ffff::25", "", true, "client address"},
    {NULL, "debian.org", true, "client name"},
};

static void test_clients(void **state)
{
    (void)state;
    struct greylist_wl *wl = parse_ok(GREYLIST_WL_CLIENTS, clients_text);
    assert_int_equal(greylist_wl_count(wl, GREYLIST_WL_CLIENTS), 12);
    assert_int_equal(greylist_wl_count(wl, GREYLIST_WL_RECIPIENTS), 0);
    int failures = 0;
    for (size_t i = 0; i < N(client_probes); i++) {
        const struct client_probe *p = &client_probes[i];
        struct ip_addr a;
        if (p->ip && !ip_parse(p->ip, strlen(p->ip), &a))
            fail_msg("bad probe address %s", p->ip);
        const char *why = NULL;
        bool got = greylist_wl_match_client(wl, p->ip ? &a : NULL, p->name, strlen(p->name), &why);
        if (got != p->want || (got && strcmp(why, p->why) != 0)) {
            print_error("client %s name \"%s\": got %d (%s), want %d (%s)\n", p->ip ? p->ip : "-",
                        p->name, got, got ? why : "-", p->want, p->want ? p->why : "-");
            failures++;
        }
    }
    assert_false(greylist_wl_match_recipient(wl, "debian.org", 10));
    greylist_wl_destroy(wl);
    assert_int_equal(failures, 0);
}

struct rcpt_probe {
    const char *rcpt;
    bool want;
};

static const char recipients_text[] = "postmaster@\n"
                                      "Abuse@Example.NET\n"
                                      "example.org\n"
                                      "/^list-[a-z]+@lists\\.example$/\n"
                                      "a+b@plus.example\n";

static const struct rcpt_probe rcpt_probes[] = {
    {"postmaster@anywhere.example", true},
    {"POSTMASTER@anywhere.example", true},
    {"postmaster+tag@anywhere.example", true},
    {"postmaster+@anywhere.example", false}, /* "+" needs an extension after it */
    {"xpostmaster@anywhere.example", false},
    {"abuse@example.net", true},
    {"abuse+x@example.net", true},
    {"abuse@sub.example.net", false},
    {"abuse@example.org", true}, /* via the domain entry */
    {"anyone@example.org", true},
    {"anyone@sub.example.org", true},
    {"anyone@notexample.org", false},
    {"list-dev@lists.example", true},
    {"list-dev@lists.example.com", false},
    {"a+b@plus.example", true},
    {"a+b+c@plus.example", true},
    {"a@plus.example", false},
    {"", false},
};

static void test_recipients(void **state)
{
    (void)state;
    struct greylist_wl *wl = parse_ok(GREYLIST_WL_RECIPIENTS, recipients_text);
    assert_int_equal(greylist_wl_count(wl, GREYLIST_WL_RECIPIENTS), 5);
    int failures = 0;
    for (size_t i = 0; i < N(rcpt_probes); i++) {
        const struct rcpt_probe *p = &rcpt_probes[i];
        bool got = greylist_wl_match_recipient(wl, p->rcpt, strlen(p->rcpt));
        if (got != p->want) {
            print_error("recipient \"%s\": got %d, want %d\n", p->rcpt, got, p->want);
            failures++;
        }
    }
    /* the lists are separate: a recipient entry never whitelists a client */
    assert_false(greylist_wl_match_client(wl, NULL, "example.org", 11, NULL));
    greylist_wl_destroy(wl);
    assert_int_equal(failures, 0);
}

struct bad_case {
    enum greylist_wl_kind kind;
    const char *text;
    const char *want;
};

static const struct bad_case bad_cases[] = {
    {GREYLIST_WL_CLIENTS, "ok.example\nbad entry here\n",
     "t:2: \"bad entry here\": one entry per line, without spaces"},
    {GREYLIST_WL_CLIENTS, "192.0.2.300\n", "t:1: \"192.0.2.300\" is not an IP address or network"},
    {GREYLIST_WL_CLIENTS, "192.0.2.1/33\n",
     "t:1: \"192.0.2.1/33\" is not an IP address or network"},
    {GREYLIST_WL_CLIENTS, "\n\n2001:db8::zz\n",
     "t:3: \"2001:db8::zz\" is not an IP address or network"},
    {GREYLIST_WL_CLIENTS, "/a(b/\n", "t:1: regex /a(b/: missing closing parenthesis at offset 3"},
    {GREYLIST_WL_RECIPIENTS, "a\x01@b\n", "t:1: \"a\\x01@b\": control character"},
    {GREYLIST_WL_RECIPIENTS, "x\n/[z-a]/\n",
     "t:2: regex /[z-a]/: range out of order in character class at offset 3"},
};

static void test_errors(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(bad_cases); i++) {
        struct greylist_wl *wl = greylist_wl_create();
        char err[512] = "";
        int r = greylist_wl_parse(wl, bad_cases[i].kind, "t", bad_cases[i].text,
                                  strlen(bad_cases[i].text), err, sizeof(err));
        if (r != -1 || strcmp(err, bad_cases[i].want) != 0) {
            print_error("case %zu: got %d \"%s\", want -1 \"%s\"\n", i, r, err, bad_cases[i].want);
            failures++;
        }
        greylist_wl_destroy(wl);
    }
    /* a NUL byte and an overlong line */
    struct greylist_wl *wl = greylist_wl_create();
    char err[512];
    assert_int_equal(greylist_wl_parse(wl, GREYLIST_WL_CLIENTS, "t", "a\0b\n", 4, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "t:1: NUL byte in line");
    char *big = malloc(GREYLIST_WL_LINE_MAX + 2);
    memset(big, 'a', GREYLIST_WL_LINE_MAX + 1);
    big[GREYLIST_WL_LINE_MAX + 1] = '\n';
    assert_int_equal(greylist_wl_parse(wl, GREYLIST_WL_CLIENTS, "t", big, GREYLIST_WL_LINE_MAX + 2,
                                       err, sizeof(err)),
                     -1);
    assert_string_equal(err, "t:1: line too long (4097 bytes, at most 4096)");
    /* exactly the limit is fine, and a last line without LF too */
    assert_int_equal(greylist_wl_parse(wl, GREYLIST_WL_CLIENTS, "t", big, GREYLIST_WL_LINE_MAX, err,
                                       sizeof(err)),
                     0);
    free(big);
    greylist_wl_destroy(wl);
    greylist_wl_destroy(NULL);
    assert_int_equal(failures, 0);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/greyspf-test-wl-XXXXXX", path[256], err[512];
    assert_non_null(mkdtemp(dir));
    struct greylist_wl *wl = greylist_wl_create();
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(greylist_wl_load(wl, GREYLIST_WL_CLIENTS, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/missing: cannot open: No such file or directory"));
    assert_int_equal(greylist_wl_load(wl, GREYLIST_WL_CLIENTS, dir, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ": not a regular file"));
    snprintf(path, sizeof(path), "%s/clients", dir);
    FILE *f = fopen(path, "w");
    fputs("good.example\n\n  bad one\n", f);
    fclose(f);
    assert_int_equal(greylist_wl_load(wl, GREYLIST_WL_CLIENTS, path, err, sizeof(err)), -1);
    char want[600];
    snprintf(want, sizeof(want), "%s:3: \"bad one\": one entry per line, without spaces", path);
    assert_string_equal(err, want);
    f = fopen(path, "w");
    fputs("good.example", f); /* no final newline */
    fclose(f);
    assert_int_equal(greylist_wl_load(wl, GREYLIST_WL_CLIENTS, path, err, sizeof(err)), 0);
    assert_true(greylist_wl_match_client(wl, NULL, "mx.good.example", 15, NULL));
    unlink(path);
    rmdir(dir);
    greylist_wl_destroy(wl);
}

/* non_comment_lines - lines of path with an entry (what postgrey would load) */
static size_t non_comment_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4200];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        if (strspn(line, " \t\r\n") != strlen(line))
            n++;
    }
    fclose(f);
    return n;
}

static void test_debian_postgrey_files(void **state)
{
    (void)state;
    static const char clients[] = "/usr/share/postgrey/whitelist_clients";
    static const char recipients[] = "/usr/share/postgrey/whitelist_recipients";
    if (access(clients, R_OK) != 0 || access(recipients, R_OK) != 0) {
        print_message("skipped: Debian's postgrey is not installed (%s)\n", clients);
        skip();
    }
    struct greylist_wl *wl = greylist_wl_create();
    char err[512];
    if (greylist_wl_load(wl, GREYLIST_WL_CLIENTS, clients, err, sizeof(err)) != 0)
        fail_msg("%s: got \"%s\", want it to load unchanged", clients, err);
    if (greylist_wl_load(wl, GREYLIST_WL_RECIPIENTS, recipients, err, sizeof(err)) != 0)
        fail_msg("%s: got \"%s\", want it to load unchanged", recipients, err);
    assert_int_equal(greylist_wl_count(wl, GREYLIST_WL_CLIENTS), non_comment_lines(clients));
    assert_int_equal(greylist_wl_count(wl, GREYLIST_WL_RECIPIENTS), non_comment_lines(recipients));
    /* entries of the 1.37 list: a domain, regexes, an address, a partial address, CIDRs */
    static const struct client_probe probes[] = {
        {NULL, "master.debian.org", true, "client name"},
        {NULL, "smtp3.orange.fr", true, "client regex"},
        {NULL, "mail17.telekom.de", true, "client regex"},
        {NULL, "mx12.mailgw.inode.at", true, "client regex"},
        {"66.216.126.174", "unknown", true, "client address"},
        {"195.235.39.7", "", true, "client address"},
        {"51.4.72.200", "", true, "client address"},
        {"2a01:4180:4051:800::77", "", true, "client address"},
        {"192.0.2.1", "mail.example.com", false, NULL},
    };
    for (size_t i = 0; i < N(probes); i++) {
        struct ip_addr a;
        if (probes[i].ip)
            assert_true(ip_parse(probes[i].ip, strlen(probes[i].ip), &a));
        const char *why = NULL;
        bool got = greylist_wl_match_client(wl, probes[i].ip ? &a : NULL, probes[i].name,
                                            strlen(probes[i].name), &why);
        if (got != probes[i].want || (got && strcmp(why, probes[i].why) != 0))
            fail_msg("%s %s: got %d (%s), want %d", probes[i].ip ? probes[i].ip : "-",
                     probes[i].name, got, got ? why : "-", probes[i].want);
    }
    assert_true(greylist_wl_match_recipient(wl, "postmaster@example.net", 22));
    assert_true(greylist_wl_match_recipient(wl, "abuse+spam@example.net", 22));
    assert_false(greylist_wl_match_recipient(wl, "bob@example.net", 15));
    greylist_wl_destroy(wl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients),
        cmocka_unit_test(test_recipients),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_debian_postgrey_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
