/* engine/action.c - validate and classify Postfix access(5) actions; see action.h.
 *
 * Grammar (what smtpd's check_table_result() does with a policy reply, Postfix 3.7):
 *   action  = command [ 1*SP text ]
 *   command = keyword / code         ; keyword case-insensitive, ends at SP or end of text
 *   code    = ("4" / "5") 2DIGIT     ; text required, see below
 * Limits: 1..ACTION_TEXT_MAX bytes; no byte below 0x20 and no 0x7f (TAB included: Postfix
 * would split on it, the reply line must not carry it); no leading space (Postfix would read
 * an empty command and evaluate the rest as a restriction list). Bytes >= 0x80 pass.
 * Decisions, from access(5) and smtpd_check.c:
 * - A bare all-digit text ("450", "250") is "all-numerical", which Postfix treats as OK, so a
 *   code without text is rejected here (it would accept mail that looks refused).
 * - "2NN text" is not an action at all: Postfix evaluates it as a restriction name and fails
 *   with 451 4.3.5 "Server configuration error". Rejected; use OK or DUNNO.
 * - DUNNO and OK: Postfix silently ignores trailing text; we reject it so that text an operator
 *   expects to see somewhere is not lost.
 * - PREPEND needs "name:..." where name is 1*(%x21-39 / %x3B-7E) (RFC 5322 ftext) right before
 *   the colon; the value may be empty. FILTER needs "transport:destination" (a ':'),
 *   REDIRECT and BCC need "user@domain" (an '@'), as smtpd checks before acting.
 * - A text that starts with an RFC 3463 enhanced code ("5.7.1 ...") must have the class of
 *   the reply: 5 for REJECT and 5NN, 4 for DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT and 4NN.
 * - HANGUP (an unsupported smtpd test feature) and restriction names (permit, reject_...) are
 *   not accepted. */
#include "engine/action.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum arg_rule {
    ARG_NONE,      /* no text allowed */
    ARG_OPTIONAL,  /* free text */
    ARG_HEADER,    /* "name: value" */
    ARG_TRANSPORT, /* "transport:destination" */
    ARG_ADDRESS,   /* "user@domain" */
};

struct keyword {
    const char *name;
    enum action_class cls;
    enum arg_rule arg;
    char dsn_class; /* required class of a leading enhanced status code, or 0 */
};

static const struct keyword keywords[] = {
    {"DUNNO", ACTION_CLASS_DUNNO, ARG_NONE, 0},
    {"OK", ACTION_CLASS_ACCEPT, ARG_NONE, 0},
    {"REJECT", ACTION_CLASS_REJECT, ARG_OPTIONAL, '5'},
    {"DEFER", ACTION_CLASS_DEFER, ARG_OPTIONAL, '4'},
    {"DEFER_IF_PERMIT", ACTION_CLASS_DEFER, ARG_OPTIONAL, '4'},
    {"DEFER_IF_REJECT", ACTION_CLASS_DEFER, ARG_OPTIONAL, '4'},
    {"WARN", ACTION_CLASS_DUNNO, ARG_OPTIONAL, 0},
    {"INFO", ACTION_CLASS_DUNNO, ARG_OPTIONAL, 0},
    {"PREPEND", ACTION_CLASS_DUNNO, ARG_HEADER, 0},
    {"HOLD", ACTION_CLASS_DIVERT, ARG_OPTIONAL, 0},
    {"DISCARD", ACTION_CLASS_DIVERT, ARG_OPTIONAL, 0},
    {"FILTER", ACTION_CLASS_DIVERT, ARG_TRANSPORT, 0},
    {"REDIRECT", ACTION_CLASS_DIVERT, ARG_ADDRESS, 0},
    {"BCC", ACTION_CLASS_DIVERT, ARG_ADDRESS, 0},
};

/* split - the command [text, text+*cmd_len) and the argument after the spaces */
static const char *split(const char *text, size_t *cmd_len)
{
    size_t n = strcspn(text, " ");
    const char *arg = text + n;
    while (*arg == ' ')
        arg++;
    *cmd_len = n;
    return arg;
}

/* find_keyword - keyword spelled by text[0..len) in any case, or NULL */
static const struct keyword *find_keyword(const char *text, size_t len)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strlen(keywords[i].name) == len && strncasecmp(text, keywords[i].name, len) == 0)
            return &keywords[i];
    return NULL;
}

/* all_digits - text[0..len) is non-empty and only ASCII digits */
static bool all_digits(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return len > 0;
}

/* dsn_len - length of an RFC 3463 code "C.S{1,3}.D{1,3}" (C in 2,4,5) at s, ending at a
 * space or the end, or 0 */
static size_t dsn_len(const char *s)
{
    if (s[0] != '2' && s[0] != '4' && s[0] != '5')
        return 0;
    size_t i = 1;
    for (int part = 0; part < 2; part++) {
        if (s[i++] != '.')
            return 0;
        size_t d = 0;
        while (s[i] >= '0' && s[i] <= '9' && d < 4) {
            i++;
            d++;
        }
        if (d < 1 || d > 3)
            return 0;
    }
    return (s[i] == '\0' || s[i] == ' ') ? i : 0;
}

/* fail - format the reason into why (may be NULL) and return -1 */
__attribute__((format(printf, 3, 4))) static int fail(char *why, size_t whylen, const char *fmt,
                                                      ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* check_header - "name:..." with an RFC 5322 field name */
static bool check_header(const char *arg)
{
    size_t n = 0;
    while (arg[n] > 0x20 && arg[n] < 0x7f && arg[n] != ':')
        n++;
    return n > 0 && arg[n] == ':';
}

/* check_dsn - a leading enhanced status code in arg has class want */
static int check_dsn(const char *arg, char want, char *why, size_t whylen)
{
    size_t n = dsn_len(arg);
    if (n && arg[0] != want)
        return fail(why, whylen, "enhanced status code %.*s does not match the reply class %cXX",
                    (int)n, arg, want);
    return 0;
}

int action_validate(const char *text, char *why, size_t whylen)
{
    if (!text)
        return fail(why, whylen, "no action");
    size_t len = strnlen(text, ACTION_TEXT_MAX + 1);
    if (len == 0)
        return fail(why, whylen, "empty action");
    if (len > ACTION_TEXT_MAX)
        return fail(why, whylen, "longer than %d bytes", ACTION_TEXT_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f)
            return fail(why, whylen, "control character 0x%02x at byte %zu", c, i + 1);
    }
    if (text[0] == ' ')
        return fail(why, whylen, "starts with a space");

    size_t cmd_len;
    const char *arg = split(text, &cmd_len);
    const struct keyword *kw = find_keyword(text, cmd_len);
    if (!kw) {
        if (!all_digits(text, cmd_len))
            return fail(why, whylen,
                        "\"%.*s\" is not an action (want DUNNO, OK, REJECT, DEFER, "
                        "DEFER_IF_PERMIT, DEFER_IF_REJECT, WARN, INFO, PREPEND, HOLD, DISCARD, "
                        "FILTER, REDIRECT, BCC or a 4NN/5NN code)",
                        (int)(cmd_len > 40 ? 40 : cmd_len), text);
        if (cmd_len != 3 || (text[0] != '4' && text[0] != '5')) {
            if (cmd_len == 3 && text[0] == '2')
                return fail(why, whylen,
                            "%.3s: 2NN codes are not policy actions (Postfix replies 451 "
                            "4.3.5 to \"2NN text\" and accepts a bare number); use OK or DUNNO",
                            text);
            return fail(why, whylen, "reply code must be 4NN or 5NN");
        }
        if (*arg == '\0')
            return fail(why, whylen, "%.3s needs text: Postfix treats a bare number as OK", text);
        return check_dsn(arg, text[0], why, whylen);
    }

    switch (kw->arg) {
    case ARG_NONE:
        if (*arg)
            return fail(why, whylen, "%s takes no text (Postfix would ignore it)", kw->name);
        break;
    case ARG_OPTIONAL:
        break;
    case ARG_HEADER:
        if (!check_header(arg))
            return fail(why, whylen, "PREPEND needs \"header-name: value\"");
        break;
    case ARG_TRANSPORT:
        if (!strchr(arg, ':'))
            return fail(why, whylen, "FILTER needs \"transport:destination\"");
        break;
    case ARG_ADDRESS:
        if (!strchr(arg, '@'))
            return fail(why, whylen, "%s needs \"user@domain\"", kw->name);
        break;
    }
    if (kw->dsn_class)
        return check_dsn(arg, kw->dsn_class, why, whylen);
    return 0;
}

enum action_class action_classify(const char *text)
{
    size_t cmd_len;
    const char *arg = split(text, &cmd_len);
    const struct keyword *kw = find_keyword(text, cmd_len);
    if (kw)
        return kw->cls;
    if (all_digits(text, cmd_len)) {
        if (cmd_len == 3 && *arg && text[0] == '4')
            return ACTION_CLASS_DEFER;
        if (cmd_len == 3 && *arg && text[0] == '5')
            return ACTION_CLASS_REJECT;
        if (*arg == '\0')
            return ACTION_CLASS_ACCEPT; /* all-numerical: Postfix's OK */
    }
    return ACTION_CLASS_DUNNO;
}
