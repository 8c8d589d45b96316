/* tests/fuzz/fuzz_greylist_wl.c - the whitelist file parser (engine/greylist_wl.h).
 *
 * Input: byte 0 picks the file kind (even: clients, odd: recipients); the rest is the file.
 * - Failure: the message names the file and a line ("f:N: ...", N >= 1) and nothing crashes.
 * - Success: greylist_wl_count() is at most the number of lines, and every entry matches what
 *   it lists, found by a reference tokenizer written here (strip "#..." and surrounding white
 *   space): a clients-file name entry matches itself as client_name ("unknown" excepted), a
 *   recipients-file domain matches "x@" + domain and an address entry matches itself.
 *   Regexes and entries that look like addresses are not probed that way.
 * - Either way, matching the whole input as a client name and as a recipient terminates. */
#include "tests/fuzz/fuzz.h"
#include "engine/greylist_wl.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* looks_like_address - entries the clients parser may read as IPs or networks (t[0..n) has
 * no NUL after it) */
static bool looks_like_address(const char *t, size_t n)
{
    size_t k = 0;
    while (k < n && (isdigit((unsigned char)t[k]) || t[k] == '.' || t[k] == '/'))
        k++;
    if (k == n)
        return true;
    const char *c = memchr(t, ':', n);
    return c && memchr(c + 1, ':', n - (size_t)(c + 1 - t)) != NULL;
}

/* check_entry - the property of one entry t[0..n) of a file that parsed */
static void check_entry(const struct greylist_wl *wl, bool recipients, const char *t, size_t n)
{
    char probe[GREYLIST_WL_LINE_MAX + 4];
    if (n >= 3 && t[0] == '/' && t[n - 1] == '/')
        return; /* a regex */
    if (!recipients) {
        size_t m = n; /* "unknown" (Postfix: no verified name) matches nothing, dotted too */
        while (m > 1 && t[m - 1] == '.')
            m--;
        if (looks_like_address(t, n) || (m == 7 && strncasecmp(t, "unknown", 7) == 0))
            return;
        FUZZ_CHECK(greylist_wl_match_client(wl, NULL, t, n, NULL),
                   "client name \"%.*s\" listed "
                   "but not matched",
                   (int)n, t);
        return;
    }
    if (memchr(t, '@', n)) {
        FUZZ_CHECK(greylist_wl_match_recipient(wl, t, n),
                   "address \"%.*s\" listed but not "
                   "matched",
                   (int)n, t);
        return;
    }
    while (n > 1 && t[n - 1] == '.')
        n--;
    memcpy(probe, "x@", 2);
    memcpy(probe + 2, t, n);
    FUZZ_CHECK(greylist_wl_match_recipient(wl, probe, n + 2),
               "domain \"%.*s\" listed but "
               "\"%.*s\" not matched",
               (int)n, t, (int)(n + 2), probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool recipients = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    enum greylist_wl_kind kind = recipients ? GREYLIST_WL_RECIPIENTS : GREYLIST_WL_CLIENTS;
    struct greylist_wl *wl = greylist_wl_create();
    char err[512] = "";
    int r = greylist_wl_parse(wl, kind, "f", text, len, err, sizeof(err));
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines += len && text[len - 1] != '\n';
    if (r != 0) {
        FUZZ_CHECK(r == -1, "parse returned %d", r);
        FUZZ_CHECK(strncmp(err, "f:", 2) == 0 && isdigit((unsigned char)err[2]) && err[2] != '0',
                   "error \"%s\" does not name a line", err);
    } else {
        FUZZ_CHECK(greylist_wl_count(wl, kind) <= lines, "%zu entries from %zu lines",
                   greylist_wl_count(wl, kind), lines);
        for (size_t off = 0; off < len;) {
            const char *nl = memchr(text + off, '\n', len - off);
            size_t n = nl ? (size_t)(nl - text) - off : len - off;
            const char *t = text + off;
            off += n + 1;
            const char *hash = memchr(t, '#', n);
            if (hash)
                n = (size_t)(hash - t);
            while (n && isspace((unsigned char)*t)) {
                t++;
                n--;
            }
            while (n && isspace((unsigned char)t[n - 1]))
                n--;
            if (n)
                check_entry(wl, recipients, t, n);
        }
    }
    (void)greylist_wl_match_client(wl, NULL, text, len, NULL);
    (void)greylist_wl_match_recipient(wl, text, len);
    greylist_wl_destroy(wl);
    return 0;
}
