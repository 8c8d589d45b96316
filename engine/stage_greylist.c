/* engine/stage_greylist.c - the greylisting stage; see stage_greylist.h.
 * The stage holds the configuration in seconds (struct greylist_params), the store, and the
 * per-install hash key; per request it only builds strings in the request arena. Whether a
 * request is greylisted and its delay come from ctx->settings (overrides applied), else from
 * [greylist]. */
#include "engine/stage_greylist.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/daemon_metrics.h"
#include "engine/greylist.h"
#include "engine/greylist_admin.h"
#include "engine/greylist_wl.h"
#include "engine/override.h"
#include "engine/spf.h"
#include "engine/stage_env.h"
#include "kv/kv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERROR_LOG_INTERVAL_MS 10000 /* at most one store-error line per interval */
#define REPLY_MAX (ACTION_TEXT_MAX)

struct grey_stage {
    const struct config *cfg;
    struct kv *kv;
    struct greylist_dynwl *wl; /* NULL: no dynamic whitelist */
    struct greylist_params params;
    uint8_t hash_key[GREYLIST_HASH_KEY_LEN];
    const char *broken; /* why every request fails open, or NULL */
};

/* struct grey_wait - a request whose writes wait in the worker's batch (request arena) */
struct grey_wait {
    struct greylist_result r; /* r.commit / r.awl_commit are set by the commit */
    int rc;                   /* greylist_check_batched's return */
    struct stage_waiter waiter;
};

/* env_batch - the worker's batch for kv, made on first use; NULL if it is for another store */
static struct kv_batch *env_batch(struct stage_env *env, struct kv *kv)
{
    if (!env->kv_batch)
        env->kv_batch = kv_batch_create(kv);
    return kv_batch_kv(env->kv_batch) == kv ? env->kv_batch : NULL;
}

/* the store-error log throttle, shared by all workers (relaxed: a log throttle only) */
static atomic_uint_fast64_t last_error_ms;
static atomic_uint_fast64_t errors_suppressed;

/* log_store_error - one line per interval, with how many were not logged */
static void log_store_error(const struct policy_request *req, const char *what)
{
    uint64_t now = clock_mono_ms();
    uint64_t last = atomic_load_explicit(&last_error_ms, memory_order_relaxed);
    if (last && now - last < ERROR_LOG_INTERVAL_MS) {
        atomic_fetch_add_explicit(&errors_suppressed, 1, memory_order_relaxed);
        return;
    }
    if (!atomic_compare_exchange_strong_explicit(&last_error_ms, &last, now ? now : 1,
                                                 memory_order_relaxed, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&errors_suppressed, 1, memory_order_relaxed);
        return; /* another worker logs this interval */
    }
    uint64_t more = atomic_exchange_explicit(&errors_suppressed, 0, memory_order_relaxed);
    char client[64];
    log_sanitize(client, sizeof(client), req->client_address.p, req->client_address.len);
    if (more)
        log_error("greylist: %s: request from %s passed unchecked (fail open); %llu more since "
                  "the last report",
                  what, client, (unsigned long long)more);
    else
        log_error("greylist: %s: request from %s passed unchecked (fail open)", what, client);
}

/* count - the decision metric (no-op outside the daemon) */
static void count(const struct stage_ctx *ctx, enum dm_grey which)
{
    const struct stage_env *env = ctx->env;
    if (env && env->dm)
        metrics_counter_add(env->shard, env->dm->greylist_decisions[which], 1);
}

/* count_kv - the store calls of one check */
static void count_kv(const struct stage_ctx *ctx, const struct greylist_result *r)
{
    const struct stage_env *env = ctx->env;
    if (!env || !env->dm)
        return;
    const struct daemon_metrics *dm = env->dm;
    if (r->kv_gets - r->kv_get_errors)
        metrics_counter_add(env->shard, dm->kv_ops[DM_KV_GET][0], r->kv_gets - r->kv_get_errors);
    if (r->kv_get_errors)
        metrics_counter_add(env->shard, dm->kv_ops[DM_KV_GET][1], r->kv_get_errors);
    if (r->kv_updates - r->kv_update_errors)
        metrics_counter_add(env->shard, dm->kv_ops[DM_KV_UPDATE][0],
                            r->kv_updates - r->kv_update_errors);
    if (r->kv_update_errors)
        metrics_counter_add(env->shard, dm->kv_ops[DM_KV_UPDATE][1], r->kv_update_errors);
}

/* note - a decision-log note "greylist=<what> <name>=<n>" */
static void note(struct decision *d, const char *what, const char *name, long long n)
{
    char buf[80];
    snprintf(buf, sizeof(buf), "greylist=%s %s=%lld", what, name, n);
    decision_note(d, buf);
}

/* recipient_domain - the part after the last "@" of the recipient */
static const char *recipient_domain(const struct policy_request *req, size_t *len)
{
    const char *at = memrchr(req->recipient.p, '@', req->recipient.len);
    if (!at) {
        *len = 0;
        return "";
    }
    *len = req->recipient.len - (size_t)(at + 1 - req->recipient.p);
    return at + 1;
}

/* defer_reply - "<action> <text>" in the arena */
static const char *defer_reply(const struct config_greylist *c, struct arena *a,
                               const struct policy_request *req, int64_t left_s)
{
    char text[GREYLIST_TEXT_MAX + 300];
    size_t dlen;
    const char *dom = recipient_domain(req, &dlen);
    size_t tl = greylist_text_expand(c->text, left_s, dom, dlen, text, sizeof(text));
    size_t al = strlen(c->action);
    if (al + 1 + tl >= REPLY_MAX) /* ACTION_TEXT_MAX: Postfix's limit on one reply line */
        tl = REPLY_MAX - al - 2;
    char *r = arena_alloc(a, al + 1 + tl + 1);
    memcpy(r, c->action, al);
    size_t k = al;
    if (tl) {
        r[k++] = ' ';
        memcpy(r + k, text, tl);
        k += tl;
    }
    r[k] = '\0';
    return r;
}

/* x_greylist - the header of a first pass, RFC 5322 date in UTC */
static const char *x_greylist(const struct grey_stage *g, struct arena *a, int64_t delayed_s,
                              int64_t now_s)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)now_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    const char *host = g->cfg->spf_authserv_id ? g->cfg->spf_authserv_id : "localhost";
    size_t n = 160 + strlen(host);
    char *h = arena_alloc(a, n);
    snprintf(h, n,
             "X-Greylist: delayed %lld seconds by greyspf-%s at %s; %s, %02d %s %04d "
             "%02d:%02d:%02d +0000",
             (long long)delayed_s, GREYSPF_VERSION, host, days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return h;
}

/* header_sent - whether this message already carries our header (connection memo) */
static bool header_sent(const struct stage_ctx *ctx, const struct policy_request *req)
{
    const struct conn_memo *m = ctx->conn_memo;
    return m && req->instance.len &&
           strncmp(m->instance, req->instance.p, sizeof(m->instance)) == 0 &&
           (m->headers_sent & DECISION_HDR_X_GREYLIST);
}

/* verdict - act on a check's result (rc its return); with a batch, after the commit */
static enum stage_result verdict(const struct grey_stage *g, const struct stage_ctx *ctx,
                                 const struct policy_request *req, struct decision *d,
                                 const struct greylist_result *r, int rc)
{
    const struct config_greylist *c = &g->cfg->greylist;
    count_kv(ctx, r);
    if (rc == 0 && r->commit < 0)
        rc = r->commit; /* decided, but the batch's write failed: not recorded */
    if (rc != 0) {
        decision_note(d, "greylist=error");
        count(ctx, DM_GREY_ERROR);
        log_store_error(req, kv_strerror(rc));
        return STAGE_PASS;
    }
    if (r->awl_err == 0 && r->awl_commit < 0)
        log_store_error(req, "writing the auto-whitelist count failed");
    else if (r->awl_err) /* the verdict stands; the AWL count missed one pass */
        log_store_error(req, "updating the auto-whitelist count failed");
    switch (r->verdict) {
    case GREYLIST_NEW:
    case GREYLIST_EARLY:
        if (c->learning) {
            note(d, r->verdict == GREYLIST_NEW ? "learning:new" : "learning:early", "left",
                 (long long)r->left_s);
            count(ctx, DM_GREY_LEARNING);
            return STAGE_PASS;
        }
        note(d, greylist_verdict_name(r->verdict), "left", (long long)r->left_s);
        count(ctx, r->verdict == GREYLIST_NEW ? DM_GREY_NEW : DM_GREY_EARLY);
        decision_set(d, "greylist", defer_reply(c, ctx->arena, req, r->left_s),
                     r->verdict == GREYLIST_NEW ? "new" : "early");
        return STAGE_DECIDED;
    case GREYLIST_PASSED:
        note(d, "passed", "delayed", (long long)r->delayed_s);
        count(ctx, DM_GREY_PASSED);
        if (c->x_greylist_header && !header_sent(ctx, req))
            decision_prepend(d, x_greylist(g, ctx->arena, r->delayed_s, ctx->now_s),
                             DECISION_HDR_X_GREYLIST);
        return STAGE_PASS;
    case GREYLIST_KNOWN:
        decision_note(d, "greylist=passed");
        count(ctx, DM_GREY_PASSED);
        return STAGE_PASS;
    case GREYLIST_AWL:
        decision_note(d, "greylist=awl");
        count(ctx, DM_GREY_AWL);
        return STAGE_PASS;
    }
    return STAGE_PASS;
}

static enum stage_result grey_run(const struct stage *st, const struct stage_ctx *ctx,
                                  const struct policy_request *req, struct decision *d)
{
    const struct grey_stage *g = st->state;
    const struct config_greylist *c = &g->cfg->greylist;
    if (*ctx->slot) { /* resumed: the worker's batch has been committed */
        const struct grey_wait *w = *ctx->slot;
        return verdict(g, ctx, req, d, &w->r, w->rc);
    }
    if (req->state != POLICY_STATE_RCPT)
        return STAGE_PASS;
    const struct override_settings *set = ctx->settings;
    bool enabled = set ? set->greylist : c->enabled;
    if (!enabled) {
        if (set && set->from[OVERRIDE_KEY_GREYLIST])
            decision_note(d, "greylist=off");
        return STAGE_PASS;
    }
    const char *why = NULL;
    if (greylist_wl_match_client(c->wl, ctx->client_ip, req->client_name.p, req->client_name.len,
                                 &why) ||
        greylist_wl_match_recipient(c->wl, req->recipient.p, req->recipient.len) ||
        greylist_dynwl_match(g->wl, ctx->client_ip,
                             req->client_name.len ? req->client_name.p : NULL,
                             req->recipient.len ? req->recipient.p : NULL)) {
        decision_note(d, "greylist=whitelisted");
        count(ctx, DM_GREY_WHITELISTED);
        return STAGE_PASS;
    }
    if (g->broken) {
        decision_note(d, "greylist=error");
        count(ctx, DM_GREY_ERROR);
        log_store_error(req, g->broken);
        return STAGE_PASS;
    }
    if (!ctx->client_ip) {
        decision_note(d, "greylist=noclient");
        return STAGE_PASS;
    }
    struct greylist_input in = {
        .client = ctx->client_ip,
        .sender = req->sender.p,
        .sender_len = req->sender.len,
        .recipient = req->recipient.p,
        .recipient_len = req->recipient.len,
        .spf_domain = d->spf_mail_from == (int)SPF_RESULT_PASS ? d->spf_domain : NULL,
    };
    struct greylist_params params = g->params;
    if (set)
        params.delay_s = (int64_t)(set->greylist_delay_ms / 1000);
    struct stage_env *env = ctx->env;
    struct kv_batch *batch = env ? env_batch(env, g->kv) : NULL;
    if (!batch) { /* outside a worker: direct writes, the verdict at once */
        struct greylist_result r;
        int rc = greylist_check(g->kv, &params, &in, ctx->now_s, &r);
        return verdict(g, ctx, req, d, &r, rc);
    }
    /* a worker: the writes join its batch; the verdict waits for the commit if any is
     * pending (stage_env.h), with its state in the request's arena */
    struct grey_wait *w = arena_alloc(ctx->arena, sizeof(*w));
    w->rc = greylist_check_batched(batch, &params, &in, ctx->now_s, &w->r);
    if (w->r.commit != 1 && w->r.awl_commit != 1)
        return verdict(g, ctx, req, d, &w->r, w->rc);
    w->waiter = (struct stage_waiter){.resume = ctx->resume, .arg = ctx->resume_arg,
                                      .next = env->commit_waiters};
    env->commit_waiters = &w->waiter;
    *ctx->slot = w;
    return STAGE_PENDING;
}

static void grey_destroy(struct stage *st)
{
    free(st->state);
    st->state = NULL;
}

void stage_greylist_params(const struct config *cfg, struct greylist_params *p)
{
    const struct config_greylist *c = &cfg->greylist;
    *p = (struct greylist_params){
        .delay_s = (int64_t)(c->delay_ms / 1000),
        .retry_window_s = (int64_t)(c->retry_window_ms / 1000),
        .max_age_s = (int64_t)(c->max_age_ms / 1000),
        .key_parts = c->key,
        .prefix_v4 = c->prefix_v4,
        .prefix_v6 = c->prefix_v6,
        .key_by_spf_domain = c->key_by_spf_domain,
        .normalize_sender = c->normalize_sender,
        .awl_after = c->auto_whitelist_after,
        .hash_key = NULL,
    };
}

struct stage stage_greylist_create(const struct config *cfg, const struct pipeline_res *res)
{
    const struct config_greylist *c = &cfg->greylist;
    struct grey_stage *g = xcalloc(1, sizeof(*g));
    struct kv *kv = res ? res->kv : NULL;
    g->cfg = cfg;
    g->kv = kv;
    g->wl = res ? res->dynwl : NULL;
    stage_greylist_params(cfg, &g->params);
    g->params.awl_hint = res ? res->awl_hint : NULL;
    if (!kv) {
        g->broken = "the state store is not open";
        log_error("greylist: the state store is not open: every request passes unchecked");
    } else if (c->hash_keys) {
        char err[512];
        if (greylist_hash_key_load(cfg->state_dir, g->hash_key, err, sizeof(err)) == 0) {
            g->params.hash_key = g->hash_key;
        } else {
            g->broken = "the hash key is unavailable";
            log_error("greylist: hash_keys: %s: every request passes unchecked", err);
        }
    }
    return (struct stage){.name = "greylist", .run = grey_run, .destroy = grey_destroy, .state = g};
}
