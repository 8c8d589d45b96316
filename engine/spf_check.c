/* engine/spf_check.c - drive one SPF check over an asynchronous resolver; see spf_check.h.
 *
 * Loop: eval -> PENDING -> issue every newly wanted lookup -> wait while the evaluation is
 * blocked -> on each answer: memo_put, and when nothing blocks any more, eval again.
 * A lookup dns/ refuses to start (bad name, too busy) is answered locally so the evaluation
 * never waits for something that will not come. */
#include "engine/spf_check.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lookup {
    struct spf_check *check;
    uint64_t id;
    uint64_t start_ms;
    bool pending; /* started and not yet answered */
    bool needed;  /* the evaluation was blocked on it when it was issued */
    enum dns_type type;
    char *name;
};

struct spf_check {
    struct dns_resolver *r;
    struct spf_memo *memo;
    struct arena *a;
    struct spf_query q;
    uint64_t deadline_ms;
    spf_check_cb cb;
    void *arg;
    struct lookup **lookups;
    size_t n_lookups, cap_lookups;
    bool done, in_start;
    uint32_t ttl_s; /* min TTL of answers so far */
    spf_check_observer observer;
    void *observer_arg;
    struct spf_outcome out;
    char *trace;
    size_t trace_len;
};

/* trace_add - append one line to the lookup trace */
static void trace_add(struct spf_check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void trace_add(struct spf_check *c, const char *fmt, ...)
{
    if (!c->q.trace)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    c->trace = xrealloc(c->trace, c->trace_len + len + 2);
    memcpy(c->trace + c->trace_len, line, len);
    c->trace_len += len;
    c->trace[c->trace_len++] = '\n';
    c->trace[c->trace_len] = '\0';
}

/* cancel_all - stop every lookup still outstanding; their callbacks will not run */
static void cancel_all(struct spf_check *c)
{
    for (size_t i = 0; i < c->n_lookups; i++) {
        struct lookup *l = c->lookups[i];
        if (l->pending) {
            dns_cancel(c->r, l->id);
            l->pending = false;
            trace_add(c, "lookup %s %s: cancelled", l->name, dns_type_name(l->type));
        }
    }
}

/* finish - record the outcome; call back unless still inside spf_check_start */
static void finish(struct spf_check *c, const struct spf_outcome *out)
{
    c->out = *out;
    c->done = true;
    cancel_all(c);
    if (!c->in_start)
        c->cb(c->arg, c, &c->out);
}

static void on_answer(void *arg, const struct dns_answer *ans);

/* issue_one - start one wanted lookup; a refused start is answered locally */
static void issue_one(void *arg, const char *name, enum dns_type type, bool needed)
{
    struct spf_check *c = arg;
    struct lookup *l = xcalloc(1, sizeof(*l));
    l->check = c;
    l->needed = needed;
    l->type = type;
    l->name = xstrdup(name);
    l->start_ms = clock_mono_ms();
    if (c->n_lookups == c->cap_lookups) {
        c->cap_lookups = c->cap_lookups ? 2 * c->cap_lookups : 16;
        c->lookups = xrealloc(c->lookups, c->cap_lookups * sizeof(*c->lookups));
    }
    c->lookups[c->n_lookups++] = l;
    int rc = dns_query(c->r, name, type, l->start_ms, on_answer, l, &l->id);
    if (rc == 0) {
        l->pending = true;
        return;
    }
    /* not started: a malformed name cannot exist; anything else is a temporary failure */
    struct dns_answer a = {
        .qname = name,
        .type = type,
        .status = rc == DNS_ERR_NAME ? DNS_NXDOMAIN : DNS_ERROR,
        .rcode = rc == DNS_ERR_NAME ? 3 : -1,
    };
    trace_add(c, "lookup %s %s: not started: %s", name, dns_type_name(type), dns_strerror(rc));
    if (rc != DNS_ERR_NAME)
        c->ttl_s = 0;
    spf_memo_put(c->memo, &a);
}

/* advance - evaluate until done or blocked on lookups in flight */
static void advance(struct spf_check *c)
{
    for (;;) {
        struct spf_outcome out;
        if (spf_eval(&c->q, c->memo, c->a, &out) == SPF_DONE) {
            finish(c, &out);
            return;
        }
        spf_memo_take_wanted(c->memo, issue_one, c);
        if (spf_memo_blocked(c->memo) > 0)
            return;
    }
}

static void on_answer(void *arg, const struct dns_answer *ans)
{
    struct lookup *l = arg;
    struct spf_check *c = l->check;
    l->pending = false;
    if (c->observer)
        c->observer(c->observer_arg, ans);
    trace_add(c, "lookup %s %s: %s n=%u ttl=%u %ums%s%s", l->name, dns_type_name(l->type),
              dns_status_name(ans->status), ans->n, ans->ttl_s, ans->elapsed_ms,
              ans->secure ? " secure" : "", l->needed ? "" : " prefetch");
    if (c->done)
        return;
    bool definite = ans->status == DNS_OK || ans->status == DNS_NODATA ||
                    ans->status == DNS_NXDOMAIN;
    uint32_t ttl = definite ? ans->ttl_s : 0;
    if (ttl < c->ttl_s)
        c->ttl_s = ttl;
    spf_memo_put(c->memo, ans);
    uint64_t now = clock_mono_ms();
    if (now >= c->deadline_ms) {
        spf_check_expire(c, now);
        return;
    }
    if (spf_memo_blocked(c->memo) == 0)
        advance(c);
}

struct spf_check *spf_check_start(struct dns_resolver *r, const struct spf_query *q,
                                  struct arena *a, uint64_t now_ms, uint64_t deadline_ms,
                                  spf_check_cb cb, void *arg)
{
    struct spf_check *c = xcalloc(1, sizeof(*c));
    c->r = r;
    c->memo = spf_memo_create();
    c->a = a;
    c->q = *q;
    c->deadline_ms = deadline_ms;
    c->cb = cb;
    c->arg = arg;
    c->in_start = true;
    c->ttl_s = UINT32_MAX;
    if (now_ms >= deadline_ms) {
        struct spf_outcome out;
        spf_outcome_timeout(&c->q, a, &out);
        finish(c, &out);
    } else {
        advance(c);
    }
    c->in_start = false;
    return c;
}

const struct spf_outcome *spf_check_done(const struct spf_check *c)
{
    return c->done ? &c->out : NULL;
}

uint64_t spf_check_deadline_ms(const struct spf_check *c)
{
    return c->deadline_ms;
}

void spf_check_observe(struct spf_check *c, spf_check_observer fn, void *arg)
{
    c->observer = fn;
    c->observer_arg = arg;
}

uint32_t spf_check_ttl_s(const struct spf_check *c)
{
    return c->ttl_s;
}

int spf_check_expire(struct spf_check *c, uint64_t now_ms)
{
    if (c->done || now_ms < c->deadline_ms)
        return 0;
    c->ttl_s = 0;
    struct spf_outcome out;
    spf_outcome_timeout(&c->q, c->a, &out);
    finish(c, &out);
    return 1;
}

void spf_check_free(struct spf_check *c)
{
    if (!c)
        return;
    cancel_all(c);
    for (size_t i = 0; i < c->n_lookups; i++) {
        free(c->lookups[i]->name);
        free(c->lookups[i]);
    }
    free(c->lookups);
    spf_memo_destroy(c->memo);
    free(c->trace);
    free(c);
}

const char *spf_check_lookups_trace(const struct spf_check *c)
{
    if (!c->trace)
        return NULL;
    return arena_strndup(c->a, c->trace, c->trace_len);
}
