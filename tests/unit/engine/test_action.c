/* tests/unit/engine/test_action.c - access(5) action validation and classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/action.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct action_case {
    const char *name;
    const char *text;
    bool ok;
    enum action_class cls; /* when ok */
    const char *why;       /* when !ok: a substring of the reason */
};

#define OK(n, t, c)                                                                                \
    {                                                                                              \
        n, t, true, ACTION_CLASS_##c, NULL                                                         \
    }
#define BAD(n, t, w)                                                                               \
    {                                                                                              \
        n, t, false, ACTION_CLASS_DUNNO, w                                                         \
    }

static const struct action_case cases[] = {
    OK("DUNNO", "DUNNO", DUNNO),
    OK("dunno lower case", "dunno", DUNNO),
    OK("OK", "OK", ACCEPT),
    OK("Ok mixed case", "Ok", ACCEPT),
    OK("REJECT bare", "REJECT", REJECT),
    OK("REJECT text", "REJECT go away", REJECT),
    OK("REJECT enhanced", "REJECT 5.7.1 SPF fail", REJECT),
    OK("reject lower case", "reject 5.7.23 SPF validation failed", REJECT),
    OK("REJECT trailing space", "REJECT ", REJECT),
    OK("REJECT two spaces", "REJECT  text", REJECT),
    OK("REJECT 8-bit text", "REJECT caf\xc3\xa9", REJECT),
    OK("REJECT not-quite-dsn 4.7", "REJECT 4.7 is not a code", REJECT),
    OK("REJECT not-quite-dsn 4.7.1234", "REJECT 4.7.1234 neither", REJECT),
    OK("DEFER", "DEFER", DEFER),
    OK("DEFER enhanced", "DEFER 4.7.1 later", DEFER),
    OK("DEFER_IF_PERMIT greylist", "DEFER_IF_PERMIT 4.7.1 Greylisted, try again later", DEFER),
    OK("DEFER_IF_REJECT", "DEFER_IF_REJECT maybe", DEFER),
    OK("WARN", "WARN", DUNNO),
    OK("WARN text", "WARN SPF softfail", DUNNO),
    OK("INFO text", "INFO greylist pass", DUNNO),
    OK("PREPEND", "PREPEND X-Greylist: delayed 300 seconds", DUNNO),
    OK("PREPEND Received-SPF", "PREPEND Received-SPF: pass (example.org: 192.0.2.1 is allowed)",
       DUNNO),
    OK("PREPEND empty value", "PREPEND X-Empty:", DUNNO),
    OK("HOLD", "HOLD", DIVERT),
    OK("HOLD text", "HOLD suspicious", DIVERT),
    OK("DISCARD", "DISCARD spam", DIVERT),
    OK("FILTER", "FILTER smtp:[127.0.0.1]:10025", DIVERT),
    OK("FILTER empty destination", "FILTER lmtp:", DIVERT),
    OK("REDIRECT", "REDIRECT abuse@example.org", DIVERT),
    OK("BCC", "BCC copy@example.org", DIVERT),
    OK("450 greylist", "450 4.7.1 Greylisted", DEFER),
    OK("421 disconnect", "421 4.7.0 closing", DEFER),
    OK("499 text", "499 x", DEFER),
    OK("550", "550 5.7.1 Rejected", REJECT),
    OK("554 no dsn", "554 go away", REJECT),
    OK("521 disconnect", "521 5.7.1 bye", REJECT),

    BAD("empty", "", "empty"),
    BAD("leading space", " DUNNO", "starts with a space"),
    BAD("DUNNO text", "DUNNO because", "takes no text"),
    BAD("OK text", "OK welcome", "takes no text"),
    BAD("keyword prefix", "DUNNOX", "not an action"),
    BAD("unknown", "FOOBAR", "not an action"),
    BAD("restriction name", "permit", "not an action"),
    BAD("restriction list", "reject_unauth_destination", "not an action"),
    BAD("HANGUP test feature", "HANGUP", "not an action"),
    BAD("keyword glued to text", "REJECT5.7.1", "not an action"),
    BAD("tab separator", "REJECT\ttext", "control character 0x09"),
    BAD("CRLF", "REJECT a\r\nb", "control character 0x0d"),
    BAD("newline", "DUNNO\n", "control character 0x0a"),
    BAD("DEL", "REJECT \x7f", "control character 0x7f"),
    BAD("escape", "REJECT \x1b[1m", "control character 0x1b"),
    BAD("250 text", "250 ok", "2NN"),
    BAD("250 bare", "250", "2NN"),
    BAD("450 bare is OK to Postfix", "450", "needs text"),
    BAD("550 bare", "550", "needs text"),
    BAD("450 space only", "450 ", "needs text"),
    BAD("4 digits", "4500 text", "4NN or 5NN"),
    BAD("2 digits", "45 text", "4NN or 5NN"),
    BAD("6NN", "650 text", "4NN or 5NN"),
    BAD("3NN", "354 text", "4NN or 5NN"),
    BAD("all digits", "12345", "4NN or 5NN"),
    BAD("PREPEND bare", "PREPEND", "header-name: value"),
    BAD("PREPEND no colon", "PREPEND novalue", "header-name: value"),
    BAD("PREPEND empty name", "PREPEND : value", "header-name: value"),
    BAD("PREPEND space in name", "PREPEND X Y: v", "header-name: value"),
    BAD("PREPEND space before colon", "PREPEND X-A : v", "header-name: value"),
    BAD("FILTER bare", "FILTER", "transport:destination"),
    BAD("FILTER no colon", "FILTER smtp", "transport:destination"),
    BAD("REDIRECT bare", "REDIRECT", "user@domain"),
    BAD("REDIRECT no at", "REDIRECT nobody", "user@domain"),
    BAD("BCC no at", "BCC x", "user@domain"),
    BAD("REJECT with 4.x.x", "REJECT 4.7.1 text", "does not match the reply class 5XX"),
    BAD("REJECT with 2.x.x", "REJECT 2.0.0 ok", "does not match"),
    BAD("DEFER with 5.x.x", "DEFER 5.7.1 x", "does not match the reply class 4XX"),
    BAD("DEFER_IF_PERMIT with 5.x.x", "DEFER_IF_PERMIT 5.7.1 x", "does not match"),
    BAD("450 with 5.x.x", "450 5.7.1 x", "does not match the reply class 4XX"),
    BAD("550 with 4.x.x", "550 4.7.1 x", "does not match the reply class 5XX"),
};

static void test_action_table(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct action_case *c = &cases[i];
        char why[256] = "";
        int r = action_validate(c->text, why, sizeof(why));
        if ((r == 0) != c->ok) {
            print_error("%s: got %s (%s), want %s\n", c->name, r == 0 ? "valid" : "invalid", why,
                        c->ok ? "valid" : "invalid");
            failures++;
            continue;
        }
        if (r != 0 && r != -1) {
            print_error("%s: got return %d, want -1\n", c->name, r);
            failures++;
        }
        if (!c->ok && !strstr(why, c->why)) {
            print_error("%s: got reason \"%s\", want it to contain \"%s\"\n", c->name, why, c->why);
            failures++;
        }
        if (c->ok && action_classify(c->text) != c->cls) {
            print_error("%s: got class %d, want %d\n", c->name, action_classify(c->text), c->cls);
            failures++;
        }
        if (action_validate(c->text, NULL, 0) != r) { /* why may be NULL */
            print_error("%s: NULL why changed the result\n", c->name);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_action_length(void **state)
{
    (void)state;
    char text[ACTION_TEXT_MAX + 2], why[128];
    memset(text, 'x', sizeof(text));
    memcpy(text, "REJECT ", 7);
    text[ACTION_TEXT_MAX] = '\0';
    assert_int_equal(action_validate(text, why, sizeof(why)), 0);
    text[ACTION_TEXT_MAX] = 'x';
    text[ACTION_TEXT_MAX + 1] = '\0';
    assert_int_equal(action_validate(text, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "longer than 1024"));
}

static void test_action_null(void **state)
{
    (void)state;
    char why[64];
    assert_int_equal(action_validate(NULL, why, sizeof(why)), -1);
    assert_int_equal(action_validate("FOO", why, 1), -1); /* tiny why: still terminated */
    assert_string_equal(why, "");
}

/* Texts validation refuses but Postfix would still act on: classify says what Postfix does. */
static void test_action_classify_unvalidated(void **state)
{
    (void)state;
    assert_int_equal(action_classify("250"), ACTION_CLASS_ACCEPT);   /* all-numerical = OK */
    assert_int_equal(action_classify("450"), ACTION_CLASS_ACCEPT);   /* ditto, the trap */
    assert_int_equal(action_classify("12345"), ACTION_CLASS_ACCEPT); /* ditto */
    assert_int_equal(action_classify("OK text"), ACTION_CLASS_ACCEPT);
    assert_int_equal(action_classify("garbage"), ACTION_CLASS_DUNNO);
    assert_int_equal(action_classify(""), ACTION_CLASS_DUNNO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_table),
        cmocka_unit_test(test_action_length),
        cmocka_unit_test(test_action_null),
        cmocka_unit_test(test_action_classify_unvalidated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
