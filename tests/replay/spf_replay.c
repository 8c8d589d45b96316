/* tests/replay/spf_replay.c - replay an OpenSPF suite through the evaluator and fake DNS.
 *
 * Usage: spf_replay [--suite NAME] [--verbose] [--only TEST] SCENARIO_FILE
 * SCENARIO_FILE is spf_suite_convert.py output (its format is described there). Per test a
 * fresh fake resolver (dns_fake_create) gets the scenario's zone, and spf_eval() is driven
 * the way the daemon drives it: evaluate, hand the wanted lookups to dns_query, let
 * dns_resolver_process deliver answers into the memo, evaluate again. Time is simulated:
 * when the evaluation is blocked and nothing is ready, the clock jumps to the next lookup
 * deadline, so a TIMEOUT name costs no wall time. Checks: the result is one of the
 * acceptable ones; for fail, the explanation when the test gives one (DEFAULT = the
 * query's default_exp "DEFAULT"); fewer than 1000 evaluation runs; at most 10 DNS-querying
 * terms and 2 void lookups unless permerror; the scenario and test totals.
 * --suite rfc4408 applies the list of tests where RFC 7208 changed the answer: each gives a
 * result the 4408 suite accepts but not its preferred one, every other test the preferred
 * one (see rfc4408_exceptions).
 * Exit 0 when everything passed. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"
#include "engine/base/alloc.h"
#include "engine/base/arena.h"
#include "engine/cidr.h"
#include "engine/spf.h"

#define LOOKUP_TIMEOUT_MS 2000u
#define RUNS_MAX 1000
#define RECEIVER "receiver.example"
#define DEFAULT_EXP "DEFAULT"
#define NOW_S 1700000000

/* Tests of the RFC 4408 suite where RFC 7208 deliberately changed the answer: the 4408
 * suite's preferred (first) result is not ours. Each of them must still give a result the
 * 4408 suite accepts; a test not listed here must give its preferred result, and a listed
 * one must not (so the list stays exact). */
struct exception {
    const char *test;
    const char *reason;
};

static const struct exception rfc4408_exceptions[] = {
    {"spfonly", "RFC 7208 3.1/4.4: only TXT is queried; the type 99 (SPF RR) record is "
                "ignored, so none (4408 preferred the SPF RR's fail)"},
    {"txttimeout", "RFC 7208 4.4: only TXT is queried and it times out: temperror (4408 "
                   "preferred the type 99 record's fail)"},
    {"spfoverride", "RFC 7208 4.5: type 99 records are no longer used; the TXT record gives "
                    "fail (4408 preferred the SPF RR's pass)"},
    {"multitxt1", "RFC 7208 4.5: two v=spf1 TXT records are a permerror; the single type 99 "
                  "record no longer overrides them (4408 preferred pass)"},
    {"multispf2", "RFC 7208 4.5: the two type 99 records are ignored; the one TXT record "
                  "gives pass (4408 preferred permerror)"},
    {"invalid-domain-empty-label",
     "RFC 7208 4.3/4.8: a target name that is not a valid DNS name (empty label) makes the "
     "mechanism not match: fail (the 7208 suite's preferred answer; 4408 preferred permerror)"},
    {"invalid-domain-long", "RFC 7208 4.3/4.8: a label over 63 bytes in a target name is a "
                            "no-match: fail (7208 suite's preference; 4408 preferred permerror)"},
    {"invalid-domain-long-via-macro",
     "RFC 7208 4.3/4.8: a macro expansion with a label over 63 bytes is a no-match: fail "
     "(7208 suite's preference; 4408 preferred permerror)"},
    {"exists-dnserr", "RFC 7208 5/8: a DNS error (timeout) in a mechanism's lookup is a "
                      "temperror (4408 preferred fail)"},
    {"mx-limit", "RFC 7208 4.6.4: an mx term whose MX answer has more than 10 names is a "
                 "permerror (4408 preferred neutral)"},
};

struct test {
    char *name, *helo, *host, *mailfrom, *spec, *explanation;
    char *results; /* space-separated */
};

struct scenario {
    char *desc;
    char *zone;
    size_t zone_len, zone_cap;
    struct test *tests;
    size_t n, cap;
};

/* --- reading the scenario file ------------------------------------------------------- */

/* unescape - a VALUE: \xNN escapes decoded (in place) */
static char *unescape(char *s)
{
    char *d = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'x' && p[2] && p[3]) {
            char hex[3] = {p[2], p[3], 0};
            *d++ = (char)strtol(hex, NULL, 16);
            p += 3;
        } else {
            *d++ = *p;
        }
    }
    *d = '\0';
    return s;
}

/* zone_add - append a line to the scenario's zone text */
static void zone_add(struct scenario *sc, const char *line)
{
    size_t len = strlen(line);
    if (sc->zone_len + len + 2 > sc->zone_cap) {
        sc->zone_cap = (sc->zone_len + len + 2) * 2;
        sc->zone = xrealloc(sc->zone, sc->zone_cap);
    }
    memcpy(sc->zone + sc->zone_len, line, len);
    sc->zone_len += len;
    sc->zone[sc->zone_len++] = '\n';
    sc->zone[sc->zone_len] = '\0';
}

/* --- one test ------------------------------------------------------------------------ */

struct driver {
    struct dns_resolver *r;
    struct spf_memo *m;
    uint64_t now_ms;
    unsigned issued, refused;
};

/* on_answer - a lookup finished: into the memo */
static void on_answer(void *arg, const struct dns_answer *ans)
{
    struct driver *d = arg;
    spf_memo_put(d->m, ans);
}

/* issue - start a wanted lookup; a refused one is answered locally (and reported) */
static void issue(void *arg, const char *name, enum dns_type type, bool needed)
{
    struct driver *d = arg;
    (void)needed;
    d->issued++;
    int rc = dns_query(d->r, name, type, d->now_ms, on_answer, d, NULL);
    if (rc != 0) {
        d->refused++;
        fprintf(stderr, "  dns_query(%s, %s) refused: %s\n", name, dns_type_name(type),
                dns_strerror(rc));
        struct dns_answer a = {.qname = name, .type = type, .status = DNS_ERROR, .rcode = -1};
        spf_memo_put(d->m, &a);
    }
}

/* accepted - word is one of the space-separated results */
static bool accepted(const char *results, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = results; *p;) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && strncmp(p, word, l) == 0)
            return true;
        p += l;
    }
    return false;
}

/* accepted_first - word is the first (preferred) of the results */
static bool accepted_first(const char *results, const char *word)
{
    size_t wl = strlen(word);
    while (*results == ' ')
        results++;
    return strncmp(results, word, wl) == 0 && (results[wl] == ' ' || results[wl] == '\0');
}

/* failf - print one failure line */
static void failf(const char *suite, const struct test *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(const char *suite, const struct test *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s %s: ", suite, t->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* run_test - drive one check; fills out (strings in a). Returns 0, or -1 on a driver
 * problem (printed). */
static int run_test(const struct scenario *sc, const struct test *t, const char *suite,
                    struct arena *a, struct spf_outcome *out, unsigned *runs, bool trace)
{
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    if (!ip_parse(t->host, strlen(t->host), &q.ip)) {
        failf(suite, t, "bad host '%s'", t->host);
        return -1;
    }
    q.sender = t->mailfrom;
    q.helo = t->helo;
    q.identity = SPF_ID_MAILFROM;
    q.receiver = RECEIVER;
    q.now_s = NOW_S;
    q.default_exp = DEFAULT_EXP;
    q.trace = trace;

    struct driver d = {NULL, NULL, 0, 0, 0};
    d.r = dns_fake_create(LOOKUP_TIMEOUT_MS);
    char err[256];
    if (!d.r || dns_fake_load(d.r, sc->zone ? sc->zone : "", err, sizeof(err)) != 0) {
        failf(suite, t, "zone: %s", d.r ? err : "dns_fake_create failed");
        dns_resolver_destroy(d.r);
        return -1;
    }
    d.m = spf_memo_create();
    int rc = -1;
    for (*runs = 1; *runs <= RUNS_MAX; (*runs)++) {
        if (spf_eval(&q, d.m, a, out) == SPF_DONE) {
            rc = 0;
            break;
        }
        unsigned n = spf_memo_take_wanted(d.m, issue, &d);
        unsigned blocked = spf_memo_blocked(d.m);
        if (blocked == 0 && n == 0) {
            failf(suite, t, "pending, but nothing wanted and nothing blocked");
            break;
        }
        while (spf_memo_blocked(d.m) > 0) {
            dns_resolver_process(d.r, d.now_ms);
            if (spf_memo_blocked(d.m) == 0)
                break;
            int64_t wait = dns_resolver_next_timeout_ms(d.r, d.now_ms);
            if (wait < 0) {
                failf(suite, t, "blocked on %u lookups with none in flight", spf_memo_blocked(d.m));
                goto done;
            }
            d.now_ms += (uint64_t)wait;
        }
    }
    if (*runs > RUNS_MAX)
        failf(suite, t, "no result after %d evaluation runs", RUNS_MAX);
done:
    if (d.refused)
        failf(suite, t, "%u lookups refused by dns_query", d.refused);
    spf_memo_destroy(d.m);
    dns_resolver_destroy(d.r);
    return d.refused ? -1 : rc;
}

/* exception_of - the 4408 exception entry of a test, or NULL */
static const struct exception *exception_of(const char *suite, const char *name)
{
    if (strcmp(suite, "rfc4408") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(rfc4408_exceptions) / sizeof(rfc4408_exceptions[0]); i++)
        if (strcmp(rfc4408_exceptions[i].test, name) == 0)
            return &rfc4408_exceptions[i];
    return NULL;
}

/* check_test - run and judge one test; true when it passed (or differed as excepted) */
static bool check_test(const struct scenario *sc, const struct test *t, const char *suite,
                       bool verbose, unsigned *excepted)
{
    struct arena a;
    arena_init(&a, NULL, 0);
    struct spf_outcome out;
    unsigned runs = 0;
    bool ok = run_test(sc, t, suite, &a, &out, &runs, verbose) == 0;
    if (!ok) {
        arena_fini(&a);
        return false;
    }
    const char *got = spf_result_name(out.result);
    const struct exception *ex = exception_of(suite, t->name);
    bool result_ok = accepted(t->results, got);
    bool preferred = accepted_first(t->results, got);
    if (!result_ok) {
        failf(suite, t, "got %s, want [%s] (problem: %s; mechanism: %s)", got, t->results,
              out.problem ? out.problem : "-", out.mechanism ? out.mechanism : "-");
        ok = false;
    } else if (ex && preferred) {
        failf(suite, t, "listed as an RFC 7208 change but got the preferred result %s", got);
        ok = false;
    } else if (ex) {
        printf("EXCEPTION %s %s: got %s, suite accepts [%s] preferring the first: %s\n", suite,
               t->name, got, t->results, ex->reason);
        (*excepted)++;
    } else if (!preferred && strcmp(suite, "rfc4408") == 0) {
        failf(suite, t,
              "got %s, accepted but not the preferred result of [%s], and not "
              "listed as an RFC 7208 change",
              got, t->results);
        ok = false;
    } else if (!preferred) {
        printf("NOTE %s %s: got %s, accepted; the suite prefers the first of [%s]\n", suite,
               t->name, got, t->results);
    }
    if (ok && out.result == SPF_RESULT_FAIL && t->explanation) {
        const char *want = t->explanation;
        const char *have = out.explanation ? out.explanation : "(none)";
        if (strcmp(want, have) != 0) {
            failf(suite, t, "explanation: got \"%s\", want \"%s\"", have, want);
            ok = false;
        }
    }
    if (out.result != SPF_RESULT_PERMERROR && (out.dns_terms > 10 || out.void_lookups > 2)) {
        failf(suite, t, "%s with %u DNS-querying terms and %u void lookups", got, out.dns_terms,
              out.void_lookups);
        ok = false;
    }
    if (!out.domain || !out.sender || !out.mechanism) {
        failf(suite, t, "outcome strings missing");
        ok = false;
    }
    if (verbose || !ok) {
        printf("%s %s %s: %s (%u runs, %u terms, %u void, %s)%s%s\n", ok ? "ok" : "NOT OK", suite,
               t->name, got, runs, out.dns_terms, out.void_lookups,
               out.secure ? "secure" : "insecure", out.explanation ? " exp: " : "",
               out.explanation ? out.explanation : "");
        if (verbose && out.trace)
            printf("%s", out.trace);
    }
    arena_fini(&a);
    return ok;
}

/* --- main ---------------------------------------------------------------------------- */

/* read_file - the whole file, NUL-terminated; NULL on error (printed) */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spf_replay: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    const char *suite = "suite", *path = NULL, *only = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
            suite = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: spf_replay [--suite NAME] [--verbose] [--only TEST] FILE\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: spf_replay [--suite NAME] [--verbose] [--only TEST] FILE\n");
        return 2;
    }
    char *text = read_file(path);
    if (!text)
        return 1;

    struct scenario *scs = NULL;
    size_t nsc = 0, capsc = 0;
    unsigned want_sc = 0, want_tests = 0;
    enum { TOP, ZONE, TEST } state = TOP;
    struct test *cur = NULL;
    unsigned lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        if (state == ZONE) {
            if (strcmp(line, "end") == 0)
                state = TOP;
            else
                zone_add(&scs[nsc - 1], line);
            continue;
        }
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *sp = strchr(line, ' ');
        char *val = sp ? sp + 1 : line + strlen(line);
        if (sp)
            *sp = '\0';
        if (state == TEST) {
            if (strcmp(line, "end") == 0) {
                state = TOP;
                continue;
            }
            char *v = xstrdup(unescape(val));
            if (strcmp(line, "helo") == 0)
                cur->helo = v;
            else if (strcmp(line, "host") == 0)
                cur->host = v;
            else if (strcmp(line, "mailfrom") == 0)
                cur->mailfrom = v;
            else if (strcmp(line, "spec") == 0)
                cur->spec = v;
            else if (strcmp(line, "result") == 0)
                cur->results = v;
            else if (strcmp(line, "explanation") == 0)
                cur->explanation = v;
            else {
                fprintf(stderr, "spf_replay: %s:%u: unknown key '%s'\n", path, lineno, line);
                return 1;
            }
            continue;
        }
        if (strcmp(line, "suite") == 0) {
            if (sscanf(val, "%u %u", &want_sc, &want_tests) != 2) {
                fprintf(stderr, "spf_replay: %s:%u: bad suite line\n", path, lineno);
                return 1;
            }
        } else if (strcmp(line, "scenario") == 0) {
            if (nsc == capsc) {
                capsc = capsc ? capsc * 2 : 16;
                scs = xrealloc(scs, capsc * sizeof(*scs));
            }
            memset(&scs[nsc], 0, sizeof(scs[nsc]));
            scs[nsc++].desc = xstrdup(unescape(val));
        } else if (strcmp(line, "zone") == 0 && nsc > 0) {
            state = ZONE;
        } else if (strcmp(line, "test") == 0 && nsc > 0) {
            struct scenario *sc = &scs[nsc - 1];
            if (sc->n == sc->cap) {
                sc->cap = sc->cap ? sc->cap * 2 : 16;
                sc->tests = xrealloc(sc->tests, sc->cap * sizeof(*sc->tests));
            }
            cur = &sc->tests[sc->n++];
            memset(cur, 0, sizeof(*cur));
            cur->name = xstrdup(unescape(val));
            state = TEST;
        } else {
            fprintf(stderr, "spf_replay: %s:%u: unexpected '%s'\n", path, lineno, line);
            return 1;
        }
    }

    unsigned total = 0, passed = 0, excepted = 0;
    for (size_t i = 0; i < nsc; i++) {
        for (size_t k = 0; k < scs[i].n; k++) {
            struct test *t = &scs[i].tests[k];
            if (!t->helo || !t->host || !t->mailfrom || !t->results) {
                fprintf(stderr, "spf_replay: test %s: missing fields\n", t->name);
                return 1;
            }
            if (only && strcmp(only, t->name) != 0)
                continue;
            total++;
            if (check_test(&scs[i], t, suite, verbose || only, &excepted))
                passed++;
        }
    }
    bool counts_ok = only || (nsc == want_sc && total == want_tests);
    if (!counts_ok)
        fprintf(stderr, "FAIL %s: %zu scenarios and %u tests read, the file says %u and %u\n",
                suite, nsc, total, want_sc, want_tests);
    if (strcmp(suite, "rfc4408") == 0) {
        printf("%s: RFC 7208 changes kept as exceptions:\n", suite);
        for (size_t i = 0; i < sizeof(rfc4408_exceptions) / sizeof(rfc4408_exceptions[0]); i++)
            printf("  %s: %s\n", rfc4408_exceptions[i].test, rfc4408_exceptions[i].reason);
    }
    printf("%s: %u/%u passed (%u of them as listed RFC 7208 exceptions), %zu scenarios\n", suite,
           passed, total, excepted, nsc);
    for (size_t i = 0; i < nsc; i++) {
        for (size_t k = 0; k < scs[i].n; k++) {
            struct test *t = &scs[i].tests[k];
            free(t->name);
            free(t->helo);
            free(t->host);
            free(t->mailfrom);
            free(t->spec);
            free(t->results);
            free(t->explanation);
        }
        free(scs[i].tests);
        free(scs[i].zone);
        free(scs[i].desc);
    }
    free(scs);
    free(text);
    return passed == total && counts_ok ? 0 : 1;
}
