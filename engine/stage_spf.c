/* engine/stage_spf.c - the SPF stage; see stage_spf.h.
 *
 * Per worker (ctx->env): one resolver, created on the worker's first SPF request with the
 * runtime's [dns] settings, its descriptor in the worker's epoll, and the list of requests
 * with checks in flight (for deadlines). Per request (*ctx->slot, in the request arena):
 * the queries, checks and outcomes of both identities. A request that starts checks returns
 * STAGE_PENDING; when its last check completes the request is resumed and this stage runs
 * again to decide. Nothing here is shared between workers but the outcome cache. */
#include "engine/stage_spf.h"
#include "dns/dns.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/daemon_metrics.h"
#include "engine/override.h"
#include "engine/spf.h"
#include "engine/spf_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define ID_HELO 0
#define ID_MAILFROM 1
#define TEXT_MAX 400 /* explanation / value length in replies and headers */

struct spf_stage {
    const struct config *cfg;
    const struct config *dns_cfg; /* [dns] for new resolvers (stage_spf.h) */
    struct spf_cache *cache;
};

struct spf_req;

struct spf_env {
    struct dns_resolver *r;
    struct spf_req *active; /* requests with checks in flight (doubly linked) */
};

struct spf_req {
    struct spf_req *prev, *next;
    struct spf_env *env;
    const struct spf_stage *stg;
    uint64_t deadline_ms;
    unsigned pending;           /* checks still running */
    bool want[2], have[2];
    struct spf_query q[2];
    struct spf_check *check[2];
    struct spf_outcome out[2];
    /* the request's result sets (ctx->settings: overrides applied), per identity */
    unsigned sets[2][3];         /* OVERRIDE_SET_REJECT/DEFER/ACCEPT */
    unsigned named[2];           /* results an override's set names: no global custom action */
    bool reject_only_secure;
    void (*resume)(void *);
    void *resume_arg;
};

/* rate-limited error for a resolver that cannot be created (relaxed: a log throttle) */
static atomic_uint_fast64_t last_resolver_error_ms;

/* --- per-worker environment ------------------------------------------------------------- */

static void env_tick(struct stage_env *env, uint64_t now_ms);
static int64_t env_next_timeout(struct stage_env *env, uint64_t now_ms);

static void dns_config_from(const struct config *cfg, struct dns_config *d)
{
    dns_config_defaults(d);
    d->forwarder = cfg->dns_forwarder;
    d->dnssec = cfg->dns_dnssec;
    d->trust_anchor_file = cfg->dns_trust_anchor_file;
    d->trust_anchors = (const char *const *)cfg->dns_trust_anchors;
    d->timeout_ms = (uint32_t)cfg->dns_timeout_ms;
    d->msg_cache_bytes = cfg->dns_cache_bytes / 3;
    d->rrset_cache_bytes = cfg->dns_cache_bytes - d->msg_cache_bytes;
    d->no_local_zones = cfg->dns_no_local_zones;
}

int stage_spf_probe(const struct config *cfg, char *err, size_t errlen)
{
    struct dns_config d;
    dns_config_from(cfg, &d);
    struct dns_resolver *r = dns_resolver_create(&d, err, errlen);
    if (!r)
        return -1;
    dns_resolver_destroy(r);
    return 0;
}

/* env_get - the worker's SPF environment, created on first use; NULL if the resolver
 * cannot be created (logged, rate-limited) */
static struct spf_env *env_get(struct stage_env *env, const struct config *cfg)
{
    if (env->stage_data)
        return env->stage_data;
    struct dns_config d;
    dns_config_from(cfg, &d);
    char err[512];
    struct dns_resolver *r = dns_resolver_create(&d, err, sizeof(err));
    if (!r) {
        uint64_t now = clock_mono_ms();
        uint64_t last = atomic_load_explicit(&last_resolver_error_ms, memory_order_relaxed);
        if (now - last >= 10000) {
            atomic_store_explicit(&last_resolver_error_ms, now, memory_order_relaxed);
            log_error("spf: cannot create a resolver: %s", err);
        }
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = env};
    if (epoll_ctl(env->epfd, EPOLL_CTL_ADD, dns_resolver_fd(r), &ev) < 0) {
        log_error("spf: epoll_ctl(resolver): %s", strerror(errno));
        dns_resolver_destroy(r);
        return NULL;
    }
    struct spf_env *se = xcalloc(1, sizeof(*se));
    se->r = r;
    env->stage_data = se;
    env->tick = env_tick;
    env->next_timeout_ms = env_next_timeout;
    env->fini = stage_spf_env_fini;
    return se;
}

void stage_spf_env_fini(struct stage_env *env)
{
    struct spf_env *se = env->stage_data;
    if (!se)
        return;
    dns_resolver_destroy(se->r);
    free(se);
    env->stage_data = NULL;
    env->tick = NULL;
    env->next_timeout_ms = NULL;
}

static void active_add(struct spf_env *se, struct spf_req *q)
{
    q->prev = NULL;
    q->next = se->active;
    if (se->active)
        se->active->prev = q;
    se->active = q;
}

static void active_remove(struct spf_env *se, struct spf_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        se->active = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

static void env_tick(struct stage_env *env, uint64_t now_ms)
{
    struct spf_env *se = env->stage_data;
    dns_resolver_process(se->r, now_ms); /* may complete and resume requests */
    struct spf_req *q = se->active;
    while (q) {
        struct spf_req *next = q->next; /* q may be resumed and gone below */
        if (now_ms >= q->deadline_ms) {
            for (int i = 0; i < 2; i++) {
                if (q->check[i] && !q->have[i]) {
                    bool last = q->pending == 1;
                    spf_check_expire(q->check[i], now_ms);
                    if (last)
                        break; /* resumed: q is no longer ours */
                }
            }
        }
        q = next;
    }
}

static int64_t env_next_timeout(struct stage_env *env, uint64_t now_ms)
{
    struct spf_env *se = env->stage_data;
    int64_t t = dns_resolver_next_timeout_ms(se->r, now_ms);
    for (struct spf_req *q = se->active; q; q = q->next) {
        int64_t d = q->deadline_ms > now_ms ? (int64_t)(q->deadline_ms - now_ms) : 0;
        if (t < 0 || d < t)
            t = d;
    }
    return t;
}

/* --- checks --------------------------------------------------------------------------------- */

/* on_check_done - one identity's check finished (from dns processing or expiry) */
static void on_check_done(void *arg, struct spf_check *c, const struct spf_outcome *out)
{
    struct spf_req *q = arg;
    int id = q->check[ID_HELO] == c ? ID_HELO : ID_MAILFROM;
    q->out[id] = *out;
    q->have[id] = true;
    if (q->stg->cache)
        spf_cache_put(q->stg->cache, &q->q[id], q->q[id].now_s, spf_check_ttl_s(c), out);
    spf_check_free(c);
    q->check[id] = NULL;
    if (--q->pending == 0) {
        active_remove(q->env, q);
        q->resume(q->resume_arg); /* runs this stage again; q may be freed after */
    }
}

/* count_answer - spf_check observer: DNS answers by status and their latency */
static void count_answer(void *arg, const struct dns_answer *a)
{
    const struct stage_env *env = arg;
    if (!env->dm)
        return;
    unsigned st = (unsigned)a->status < DM_DNS_STATUS ? (unsigned)a->status : DM_DNS_STATUS - 1;
    metrics_counter_add(env->shard, env->dm->dns_queries[st], 1);
    metrics_histogram_observe(env->shard, env->dm->dns_duration, (double)a->elapsed_ms / 1e3);
}

/* start - look up the cache or start a check for identity id */
static void start(struct spf_req *q, int id, struct stage_env *env, struct arena *a)
{
    const struct spf_stage *stg = q->stg;
    if (stg->cache && spf_cache_get(stg->cache, &q->q[id], q->q[id].now_s, a, &q->out[id])) {
        q->have[id] = true;
        return;
    }
    struct spf_env *se = env_get(env, stg->dns_cfg);
    if (!se) {
        spf_outcome_timeout(&q->q[id], a, &q->out[id]);
        q->out[id].problem = "no resolver";
        q->have[id] = true;
        return;
    }
    q->env = se;
    uint64_t now = clock_mono_ms();
    struct spf_check *c = spf_check_start(se->r, &q->q[id], a, now, q->deadline_ms,
                                          on_check_done, q);
    const struct spf_outcome *done = spf_check_done(c);
    if (done) {
        q->out[id] = *done;
        q->have[id] = true;
        if (stg->cache)
            spf_cache_put(stg->cache, &q->q[id], q->q[id].now_s, spf_check_ttl_s(c), done);
        spf_check_free(c);
        return;
    }
    q->check[id] = c;
    q->pending++;
    spf_check_observe(c, count_answer, env);
}

/* --- replies and headers ------------------------------------------------------------------- */

/* clean - printable ASCII copy of s, at most max bytes, into the arena */
static char *clean(struct arena *a, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        n = max;
    char *o = arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        o[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    o[k] = '\0';
    return o;
}

/* ctext - s made safe inside an RFC 5322 comment: printable, no ( ) or \ */
static char *ctext(struct arena *a, const char *s, size_t max)
{
    char *o = clean(a, s, max);
    for (char *p = o; *p; p++)
        if (*p == '(' || *p == ')' || *p == '\\')
            *p = '?';
    return o;
}

/* quoted - s as an RFC 5322 quoted-string (printable ASCII, \ and " escaped) */
static char *quoted(struct arena *a, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        n = max;
    char *o = arena_alloc(a, 2 * n + 3);
    size_t k = 0;
    o[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            o[k++] = '\\';
        o[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    o[k++] = '"';
    o[k] = '\0';
    return o;
}

static char *afmt(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *afmt(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *o = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(o, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return o;
}

static const char *identity_word(int id)
{
    return id == ID_HELO ? "helo" : "mailfrom";
}

/* subject - what the identity names: the sender address, or the HELO name */
static const char *subject(const struct spf_req *q, int id)
{
    const struct spf_outcome *o = &q->out[id];
    if (id == ID_MAILFROM && o->sender)
        return o->sender;
    return o->domain ? o->domain : q->q[id].helo;
}

static char *reply_reject(struct arena *a, const struct spf_req *q, int id, const char *ip)
{
    const struct spf_outcome *o = &q->out[id];
    const char *subj = clean(a, subject(q, id), 255);
    if (o->result == SPF_RESULT_FAIL && o->explanation && *o->explanation)
        return afmt(a, "550 5.7.23 %s", clean(a, o->explanation, TEXT_MAX));
    if (o->result == SPF_RESULT_PERMERROR || o->result == SPF_RESULT_TEMPERROR)
        return afmt(a, "550 5.7.24 SPF %s for %s%s%s", spf_result_name(o->result), subj,
                    o->problem ? ": " : "", o->problem ? clean(a, o->problem, 120) : "");
    if (o->result == SPF_RESULT_FAIL)
        return afmt(a, "550 5.7.23 SPF fail: %s is not allowed to send mail %s %s", ip,
                    id == ID_HELO ? "with HELO" : "from", subj);
    return afmt(a, "550 5.7.23 SPF %s: %s is not authorised to send mail %s %s",
                spf_result_name(o->result), ip, id == ID_HELO ? "with HELO" : "from", subj);
}

static char *reply_defer(struct arena *a, const struct spf_req *q, int id)
{
    const struct spf_outcome *o = &q->out[id];
    return afmt(a, "451 4.7.24 SPF %s for %s%s%s, try again later", spf_result_name(o->result),
                clean(a, subject(q, id), 255), o->problem ? ": " : "",
                o->problem ? clean(a, o->problem, 120) : "");
}

/* received_spf - RFC 7208 9.1 header for identity id */
static char *received_spf(struct arena *a, const struct spf_req *q, int id, const char *ip)
{
    const struct config *cfg = q->stg->cfg;
    const struct spf_outcome *o = &q->out[id];
    const char *subj = ctext(a, subject(q, id), 255);
    const char *who = cfg->spf_receiver ? afmt(a, "%s: ", cfg->spf_receiver) : "";
    const char *comment;
    switch (o->result) {
    case SPF_RESULT_PASS:
        comment = afmt(a, "%sdomain of %s designates %s as permitted sender", who, subj, ip);
        break;
    case SPF_RESULT_FAIL:
        comment = afmt(a, "%sdomain of %s does not designate %s as permitted sender", who,
                       subj, ip);
        break;
    case SPF_RESULT_SOFTFAIL:
        comment = afmt(a, "%sdomain of transitioning %s does not designate %s as permitted "
                          "sender",
                       who, subj, ip);
        break;
    case SPF_RESULT_NEUTRAL:
        comment = afmt(a, "%s%s is neither permitted nor denied by domain of %s", who, ip, subj);
        break;
    case SPF_RESULT_NONE:
        comment = afmt(a, "%sdomain of %s does not designate permitted sender hosts", who, subj);
        break;
    default:
        comment = afmt(a, "%s%s in processing the record of %s", who,
                       o->result == SPF_RESULT_TEMPERROR ? "temporary error"
                                                         : "permanent error",
                       subj);
        break;
    }
    const char *from = q->q[ID_MAILFROM].sender && *q->q[ID_MAILFROM].sender
                           ? q->q[ID_MAILFROM].sender
                           : (o->sender ? o->sender : "");
    char *h = afmt(a, "Received-SPF: %s (%s) client-ip=%s; envelope-from=%s; helo=%s; "
                      "identity=%s;",
                   spf_result_name(o->result), comment, ip, quoted(a, from, 255),
                   quoted(a, q->q[id].helo, 255), identity_word(id));
    if (cfg->spf_receiver)
        h = afmt(a, "%s receiver=%s;", h, cfg->spf_receiver);
    if (o->problem && (o->result == SPF_RESULT_PERMERROR || o->result == SPF_RESULT_TEMPERROR))
        h = afmt(a, "%s problem=%s;", h, quoted(a, o->problem, 120));
    return h;
}

/* pvalue - an Authentication-Results property value: the address or name if it is a plain
 * dot-atom (@ domain), else quoted */
static const char *pvalue(struct arena *a, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!(ch > 0x20 && ch < 0x7f) || strchr("()<>[]:;,\\\"", ch))
            plain = false;
    }
    return plain && strlen(s) <= 255 ? s : quoted(a, s, 255);
}

/* auth_results - RFC 8601 header with every identity evaluated, kept distinct */
static char *auth_results(struct arena *a, const struct spf_req *q)
{
    const struct config *cfg = q->stg->cfg;
    char *h = afmt(a, "Authentication-Results: %s", cfg->spf_authserv_id);
    if (q->want[ID_MAILFROM] && q->have[ID_MAILFROM])
        h = afmt(a, "%s; spf=%s smtp.mailfrom=%s", h,
                 spf_result_name(q->out[ID_MAILFROM].result),
                 pvalue(a, clean(a, subject(q, ID_MAILFROM), 255)));
    if (q->want[ID_HELO] && q->have[ID_HELO])
        h = afmt(a, "%s; spf=%s smtp.helo=%s", h, spf_result_name(q->out[ID_HELO].result),
                 pvalue(a, clean(a, q->q[ID_HELO].helo, 255)));
    return h;
}

/* --- the stage ------------------------------------------------------------------------------ */

/* matrix - what the configuration says for identity id's result: 'r' reject, 'd' defer,
 * 'a' accept (no header), 'c' custom (*custom set), 'h' accept with header */
static char matrix(const struct spf_req *q, int id, const char **custom)
{
    const struct config *cfg = q->stg->cfg;
    const struct spf_outcome *o = &q->out[id];
    unsigned bit = 1u << o->result;
    char *const *actions = id == ID_HELO ? cfg->spf_helo_action : cfg->spf_mail_from_action;
    unsigned rej = q->sets[id][OVERRIDE_SET_REJECT];
    unsigned def = q->sets[id][OVERRIDE_SET_DEFER];
    unsigned acc = q->sets[id][OVERRIDE_SET_ACCEPT];
    if (actions[o->result] && !(q->named[id] & bit)) {
        *custom = actions[o->result];
        return 'c';
    }
    if (rej & bit)
        return q->reject_only_secure && !o->secure ? 'h' : 'r';
    if (def & bit)
        return 'd';
    if (acc & bit)
        return 'a';
    return 'h';
}

static const char *const reasons[2][SPF_RESULT_COUNT] = {
    {"helo=none", "helo=neutral", "helo=pass", "helo=fail", "helo=softfail", "helo=temperror",
     "helo=permerror"},
    {"mail_from=none", "mail_from=neutral", "mail_from=pass", "mail_from=fail",
     "mail_from=softfail", "mail_from=temperror", "mail_from=permerror"},
};

/* decide - both identities known: verdict, or headers and pass */
static enum stage_result decide(const struct spf_req *q, const struct stage_ctx *ctx,
                                const struct policy_request *req, struct decision *d)
{
    char ip[64];
    ip_format(ctx->client_ip, ip, sizeof(ip));
    const struct stage_env *env = ctx->env;
    for (int id = 0; id < 2; id++) {
        if (!q->want[id])
            continue;
        decision_note(d, reasons[id][q->out[id].result]);
        if (id == ID_MAILFROM) {
            d->spf_mail_from = (int)q->out[id].result;
            d->spf_domain = q->out[id].domain;
        }
        if (env && env->dm) /* label order: identity mailfrom, helo */
            metrics_counter_add(env->shard,
                                env->dm->spf_results[id == ID_MAILFROM ? 0 : 1]
                                                    [q->out[id].result][q->out[id].secure],
                                1);
    }
    bool header_ok[2] = {false, false};
    for (int id = 0; id < 2; id++) {
        if (!q->want[id])
            continue;
        const char *custom = NULL;
        char m = matrix(q, id, &custom);
        const char *reason = reasons[id][q->out[id].result];
        switch (m) {
        case 'c':
            decision_set(d, "spf", custom, reason);
            return STAGE_DECIDED;
        case 'r':
            decision_set(d, "spf", reply_reject(ctx->arena, q, id, ip), reason);
            return STAGE_DECIDED;
        case 'd':
            decision_set(d, "spf", reply_defer(ctx->arena, q, id), reason);
            return STAGE_DECIDED;
        case 'h':
            header_ok[id] = true;
            break;
        default:
            break;
        }
    }
    /* headers: Received-SPF for MAIL FROM (HELO when MAIL FROM was not evaluated) */
    const struct config *cfg = q->stg->cfg;
    unsigned wanted = 0;
    int rs_id = q->want[ID_MAILFROM] ? ID_MAILFROM : ID_HELO;
    if ((cfg->spf_header == CONFIG_SPF_HEADER_RECEIVED_SPF ||
         cfg->spf_header == CONFIG_SPF_HEADER_BOTH) &&
        header_ok[rs_id])
        wanted |= DECISION_HDR_RECEIVED_SPF;
    if ((cfg->spf_header == CONFIG_SPF_HEADER_AUTH_RESULTS ||
         cfg->spf_header == CONFIG_SPF_HEADER_BOTH) &&
        (header_ok[ID_HELO] || header_ok[ID_MAILFROM]))
        wanted |= DECISION_HDR_AUTH_RESULTS;
    struct conn_memo *m = ctx->conn_memo;
    if (m && req->instance.len && strncmp(m->instance, req->instance.p, sizeof(m->instance)) == 0)
        wanted &= ~m->headers_sent;
    if (wanted & DECISION_HDR_RECEIVED_SPF)
        decision_prepend(d, received_spf(ctx->arena, q, rs_id, ip), DECISION_HDR_RECEIVED_SPF);
    else if (wanted & DECISION_HDR_AUTH_RESULTS)
        decision_prepend(d, auth_results(ctx->arena, q), DECISION_HDR_AUTH_RESULTS);
    return STAGE_PASS;
}

/* take_settings - the request's result sets into q (from ctx->settings, else the globals) */
static void take_settings(struct spf_req *q, const struct override_settings *st)
{
    for (int i = 0; i < 3; i++) {
        q->sets[ID_MAILFROM][i] = st->spf_mail_from[i];
        q->sets[ID_HELO][i] = st->spf_helo[i];
        if (st->from[OVERRIDE_KEY_SPF_MAIL_FROM_REJECT + i])
            q->named[ID_MAILFROM] |= st->spf_mail_from[i];
        if (st->from[OVERRIDE_KEY_SPF_HELO_REJECT + i])
            q->named[ID_HELO] |= st->spf_helo[i];
    }
    q->reject_only_secure = st->spf_reject_only_secure;
}

static enum stage_result spf_run(const struct stage *st, const struct stage_ctx *ctx,
                                 const struct policy_request *req, struct decision *d)
{
    const struct spf_stage *stg = st->state;
    struct spf_req *q = *ctx->slot;
    if (q) /* resumed: every check has finished */
        return decide(q, ctx, req, d);
    struct override_settings globals;
    const struct override_settings *set = ctx->settings;
    if (!set) {
        override_settings_init(&globals, stg->cfg);
        set = &globals;
    }
    if (!set->spf) {
        if (set->from[OVERRIDE_KEY_SPF])
            decision_note(d, "spf=off");
        return STAGE_PASS;
    }
    if (!ctx->client_ip)
        return STAGE_PASS;
    bool helo = stg->cfg->spf_helo_check && req->helo_name.len > 0;
    bool mailfrom = req->state >= POLICY_STATE_MAIL || req->sender.len > 0 ||
                    req->recipient.len > 0;
    if (req->state == POLICY_STATE_VRFY || req->state == POLICY_STATE_ETRN)
        mailfrom = false;
    if (!helo && !mailfrom)
        return STAGE_PASS;
    q = arena_alloc(ctx->arena, sizeof(*q));
    memset(q, 0, sizeof(*q));
    *ctx->slot = q;
    q->stg = stg;
    take_settings(q, set);
    q->resume = ctx->resume;
    q->resume_arg = ctx->resume_arg;
    q->deadline_ms = ctx->now_us / 1000 + stg->cfg->spf_timeout_ms;
    q->want[ID_HELO] = helo;
    q->want[ID_MAILFROM] = mailfrom;
    for (int id = 0; id < 2; id++) {
        struct spf_query *sq = &q->q[id];
        sq->ip = *ctx->client_ip;
        sq->sender = req->sender.p;
        sq->helo = req->helo_name.p;
        sq->identity = id == ID_HELO ? SPF_ID_HELO : SPF_ID_MAILFROM;
        sq->receiver = stg->cfg->spf_receiver;
        sq->now_s = ctx->now_s;
    }
    for (int id = 0; id < 2; id++)
        if (q->want[id])
            start(q, id, ctx->env, ctx->arena);
    if (q->pending == 0)
        return decide(q, ctx, req, d);
    active_add(q->env, q);
    return STAGE_PENDING;
}

static void spf_abort(const struct stage *st, void *slot)
{
    (void)st;
    struct spf_req *q = slot;
    if (q->pending == 0)
        return;
    for (int i = 0; i < 2; i++) {
        spf_check_free(q->check[i]);
        q->check[i] = NULL;
    }
    q->pending = 0;
    active_remove(q->env, q);
}

static void spf_destroy(struct stage *st)
{
    free(st->state);
    st->state = NULL;
}

struct stage stage_spf_create(const struct config *cfg, struct spf_cache *cache,
                              const struct config *dns_cfg)
{
    struct spf_stage *stg = xcalloc(1, sizeof(*stg));
    stg->cfg = cfg;
    stg->dns_cfg = dns_cfg ? dns_cfg : cfg;
    stg->cache = cache;
    return (struct stage){
        .name = "spf", .run = spf_run, .abort = spf_abort, .destroy = spf_destroy, .state = stg};
}
