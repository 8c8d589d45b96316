/* tests/unit/engine/test_spf_macro.c - RFC 7208 section 7 macros: syntax checks, expansion
 * (the RFC 7.4 examples among them), URL encoding, target names and their truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "engine/spf_macro.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- syntax -------------------------------------------------------------------------- */

struct valid_case {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen */
    enum spf_macro_ctx ctx;
    bool ok;
};

static const struct valid_case valid_cases[] = {
    {"empty", "", 0, SPF_MACRO_DOMAIN, true},
    {"literal", "example.com", 0, SPF_MACRO_DOMAIN, true},
    {"all escapes", "%%%_%-", 0, SPF_MACRO_DOMAIN, true},
    {"simple macro", "%{d}", 0, SPF_MACRO_DOMAIN, true},
    {"upper letter", "%{D}", 0, SPF_MACRO_DOMAIN, true},
    {"digits reverse delims", "%{l2r+-}", 0, SPF_MACRO_DOMAIN, true},
    {"upper R", "%{d2R}", 0, SPF_MACRO_DOMAIN, true},
    {"every delimiter", "%{s.-+,/_=}", 0, SPF_MACRO_DOMAIN, true},
    {"every letter in exp", "%{s}%{l}%{o}%{d}%{i}%{p}%{h}%{c}%{r}%{t}%{v}", 0, SPF_MACRO_EXP, true},
    {"c in domain", "%{c}", 0, SPF_MACRO_DOMAIN, false},
    {"r in domain", "%{r}.example.com", 0, SPF_MACRO_DOMAIN, false},
    {"t in domain", "%{t}", 0, SPF_MACRO_DOMAIN, false},
    {"c in unknown modifier", "%{c}", 0, SPF_MACRO_ANY, true},
    {"unknown letter", "%{a}", 0, SPF_MACRO_DOMAIN, false},
    {"zero digits", "%{d0}", 0, SPF_MACRO_DOMAIN, false},
    {"leading zero nonzero", "%{d02}", 0, SPF_MACRO_DOMAIN, true},
    {"huge digits", "%{d99999999999999999999}", 0, SPF_MACRO_DOMAIN, true},
    {"bad delimiter", "%{d:}", 0, SPF_MACRO_DOMAIN, false},
    {"unterminated", "%{d", 0, SPF_MACRO_DOMAIN, false},
    {"empty braces", "%{}", 0, SPF_MACRO_DOMAIN, false},
    {"parens", "%(ir)", 0, SPF_MACRO_DOMAIN, false},
    {"lone percent", "foo%", 0, SPF_MACRO_DOMAIN, false},
    {"percent dot", "foo%.bar", 0, SPF_MACRO_DOMAIN, false},
    {"space in domain", "a b", 0, SPF_MACRO_DOMAIN, false},
    {"space in exp", "a b", 0, SPF_MACRO_EXP, true},
    {"tab in exp", "a\tb", 0, SPF_MACRO_EXP, false},
    {"8-bit", "caf\xc3\xa9", 0, SPF_MACRO_EXP, false},
    {"NUL", "a\0b", 3, SPF_MACRO_EXP, false},
    {"DEL", "a\x7f", 0, SPF_MACRO_DOMAIN, false},
};

static void test_macro_valid(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(valid_cases); i++) {
        const struct valid_case *c = &valid_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        bool ok = spf_macro_valid(c->text, len, c->ctx);
        if (ok != c->ok) {
            print_error("spf_macro_valid %s: got %d, want %d\n", c->name, ok, c->ok);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

struct spec_case {
    const char *text;
    bool ok;
};

static const struct spec_case spec_cases[] = {
    {"example.com", true},
    {"example.com.", true},
    {"_spf.example.com", true},
    {"foo:bar/baz.example.com", true},
    {"mail.example...com", true}, /* grammar-valid; not a DNS name (the evaluator's job) */
    {".com", true},
    {"foo.xn--zckzah", true},
    {"foo.a-1", true},
    {"%{d}", true},
    {"%{d}.%{i}", true},
    {"x.%%", true}, /* ends in a macro-expand */
    {"%{ir}.%{v}._spf.%{d2}", true},
    {"", false},
    {"museum", false},
    {"museum.", false},
    {"foo-bar", false},
    {"111.222.33.44", false},
    {"abc.123", false},
    {"example.-com", false},
    {"example.com-", false},
    {"example.com:8080", false},
    {"mail.example.com/24", false},
    {"%{d}.", false},
    {"exp=-all", false},
    {"foo.com%", false},
    {"%{c}.example.com", false},
};

static void test_domain_spec(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(spec_cases); i++) {
        const struct spec_case *c = &spec_cases[i];
        bool ok = spf_domain_spec_valid(c->text, strlen(c->text));
        if (ok != c->ok) {
            print_error("spf_domain_spec_valid \"%s\": got %d, want %d\n", c->text, ok, c->ok);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* --- expansion ----------------------------------------------------------------------- */

struct pctl {
    const char *value; /* NULL: pending */
    unsigned calls;
};

static const char *get_p(void *arg)
{
    struct pctl *p = arg;
    p->calls++;
    return p->value;
}

/* rfc_vars - the RFC 7208 7.4 example: strong-bad@email.example.com from 192.0.2.3 */
static void rfc_vars(struct spf_macro_vars *v, struct pctl *p)
{
    memset(v, 0, sizeof(*v));
    v->s = "strong-bad@email.example.com";
    v->l = "strong-bad";
    v->o = "email.example.com";
    v->d = "email.example.com";
    v->i = "192.0.2.3";
    v->h = "mx.example.org";
    v->c = "192.0.2.3";
    v->r = "receiver.example";
    v->t = "1700000000";
    v->v = "in-addr";
    v->get_p = get_p;
    v->arg = p;
}

struct expand_case {
    const char *name;
    const char *text;
    enum spf_macro_ctx ctx;
    int rc;
    const char *want;
};

static const struct expand_case expand_cases[] = {
    /* RFC 7208 7.4 */
    {"s", "%{s}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong-bad@email.example.com"},
    {"o", "%{o}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "email.example.com"},
    {"d", "%{d}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "email.example.com"},
    {"d4", "%{d4}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "email.example.com"},
    {"d3", "%{d3}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "email.example.com"},
    {"d2", "%{d2}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "example.com"},
    {"d1", "%{d1}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "com"},
    {"dr", "%{dr}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "com.example.email"},
    {"d2r", "%{d2r}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "example.email"},
    {"l", "%{l}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong-bad"},
    {"l-", "%{l-}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong.bad"},
    {"lr", "%{lr}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong-bad"},
    {"lr-", "%{lr-}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "bad.strong"},
    {"l1r-", "%{l1r-}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong"},
    {"ir v d2", "%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, SPF_MACRO_OK,
     "3.2.0.192.in-addr._spf.example.com"},
    {"lr- lp d2", "%{lr-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, SPF_MACRO_OK,
     "bad.strong.lp._spf.example.com"},
    {"lr- lp ir v d2", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, SPF_MACRO_OK,
     "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
    {"ir v l1r- d2", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, SPF_MACRO_OK,
     "3.2.0.192.in-addr.strong.lp._spf.example.com"},
    {"d2 trusted", "%{d2}.trusted-domains.example.net", SPF_MACRO_DOMAIN, SPF_MACRO_OK,
     "example.com.trusted-domains.example.net"},
    /* more */
    {"escapes", "a%%b%_c%-d", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "a%b c%20d"},
    {"url-encoded", "%{S}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong-bad%40email.example.com"},
    {"digits past parts", "%{d200}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "email.example.com"},
    {"two delimiters", "%{s-.}", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "strong.bad@email.example.com"},
    {"exp letters", "%{c} %{r} %{t}", SPF_MACRO_EXP, SPF_MACRO_OK,
     "192.0.2.3 receiver.example 1700000000"},
    {"exp letter in domain", "%{c}", SPF_MACRO_DOMAIN, SPF_MACRO_SYNTAX, NULL},
    {"bad exp text", "The %{x}-files.", SPF_MACRO_EXP, SPF_MACRO_SYNTAX, NULL},
    {"p", "%{p}.x", SPF_MACRO_DOMAIN, SPF_MACRO_OK, "mx.example.org.x"},
    {"unknown modifier is never expanded", "abc", SPF_MACRO_ANY, SPF_MACRO_SYNTAX, NULL},
};

static void test_macro_expand(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(expand_cases); i++) {
        const struct expand_case *c = &expand_cases[i];
        struct arena a;
        arena_init(&a, NULL, 0);
        struct pctl p = {"mx.example.org", 0};
        struct spf_macro_vars v;
        rfc_vars(&v, &p);
        char *out = NULL;
        size_t len = 0;
        int rc = spf_macro_expand(c->text, strlen(c->text), c->ctx, &v, &a, &out, &len, NULL);
        if (rc != c->rc) {
            print_error("expand %s: got rc %d, want %d\n", c->name, rc, c->rc);
            failures++;
        } else if (rc == SPF_MACRO_OK && (strcmp(out, c->want) != 0 || len != strlen(out))) {
            print_error("expand %s: got \"%s\" (len %zu), want \"%s\"\n", c->name, out, len,
                        c->want);
            failures++;
        }
        arena_fini(&a);
    }
    assert_int_equal(failures, 0);
}

static void test_url_encoding(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct pctl p = {"x", 0};
    struct spf_macro_vars v;
    rfc_vars(&v, &p);
    v.l = "~jack&jill=up-a_b3.c";
    char *out;
    size_t len;
    assert_int_equal(spf_macro_expand("%{L}", 4, SPF_MACRO_EXP, &v, &a, &out, &len, NULL),
                     SPF_MACRO_OK);
    assert_string_equal(out, "~jack%26jill%3Dup-a_b3.c");
    v.l = "a b/\x01\xff";
    assert_int_equal(spf_macro_expand("%{L}", 4, SPF_MACRO_EXP, &v, &a, &out, &len, NULL),
                     SPF_MACRO_OK);
    assert_string_equal(out, "a%20b%2F%01%FF");
    arena_fini(&a);
}

static void test_p_pending(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct pctl p = {NULL, 0};
    struct spf_macro_vars v;
    rfc_vars(&v, &p);
    char *out = NULL;
    size_t len;
    assert_int_equal(spf_macro_expand("%{p}.a.b", 8, SPF_MACRO_DOMAIN, &v, &a, &out, &len, NULL),
                     SPF_MACRO_PENDING);
    assert_null(out);
    assert_true(p.calls >= 1);
    assert_true(spf_macro_has_p("x.%{P}", 6));
    assert_false(spf_macro_has_p("x.%{d}", 6));
    arena_fini(&a);
}

static void test_target_names(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct pctl p = {"x", 0};
    struct spf_macro_vars v;
    rfc_vars(&v, &p);
    char *out;
    /* trailing dot dropped, lower-cased */
    assert_int_equal(spf_macro_target("Foo.Example.COM.", 16, &v, &a, &out), SPF_MACRO_OK);
    assert_string_equal(out, "foo.example.com");

    /* 7.3: longer than 253 -> whole labels dropped from the left */
    v.o = "somewhat.long.exp.example.com";
    const char *spec = "foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com";
    assert_int_equal(spf_macro_target(spec, strlen(spec), &v, &a, &out), SPF_MACRO_OK);
    char want[512] = "";
    for (int i = 0; i < 8; i++)
        strcat(want, "somewhat.long.exp.example.com.");
    strcat(want, "example.com");
    assert_string_equal(out, want);
    assert_true(strlen(out) <= SPF_DOMAIN_MAX);

    /* a huge expansion keeps only its tail, still cut at a label boundary */
    char big[4096];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%%{d}.");
    n += (size_t)snprintf(big + n, sizeof(big) - n, "end.example");
    assert_int_equal(spf_macro_target(big, n, &v, &a, &out), SPF_MACRO_OK);
    assert_true(strlen(out) <= SPF_DOMAIN_MAX);
    assert_true(strlen(out) > SPF_DOMAIN_MAX - 20);
    assert_string_equal(out + strlen(out) - strlen("end.example"), "end.example");
    assert_true(strncmp(out, "email.", 6) == 0 || strncmp(out, "example.", 8) == 0 ||
                strncmp(out, "com.", 4) == 0);

    /* one label longer than 253: nothing fits */
    char lab[400];
    memset(lab, 'a', 300);
    strcpy(lab + 300, ".com");
    assert_int_equal(spf_macro_target(lab, strlen(lab), &v, &a, &out), SPF_MACRO_OK);
    assert_true(strlen(out) <= SPF_DOMAIN_MAX);
    arena_fini(&a);
}

static void test_exp_too_long(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, NULL, 0);
    struct pctl p = {"x", 0};
    struct spf_macro_vars v;
    rfc_vars(&v, &p);
    char big[2000];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%%{s}");
    char *out;
    size_t len;
    assert_int_equal(spf_macro_expand(big, n, SPF_MACRO_EXP, &v, &a, &out, &len, NULL),
                     SPF_MACRO_TOO_LONG);
    arena_fini(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_macro_valid),  cmocka_unit_test(test_domain_spec),
        cmocka_unit_test(test_macro_expand), cmocka_unit_test(test_url_encoding),
        cmocka_unit_test(test_p_pending),    cmocka_unit_test(test_target_names),
        cmocka_unit_test(test_exp_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
