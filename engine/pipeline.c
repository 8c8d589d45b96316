/* engine/pipeline.c - stages, composition, and the skip stage; see pipeline.h. */
#include "engine/pipeline.h"
#include "engine/base/alloc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/stage_greylist.h"
#include "engine/stage_spf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pipeline {
    struct stage *stages;
    unsigned n;
    char *default_action;
    const struct config *cfg; /* overrides to resolve per request; NULL: none (tests) */
};

void decision_set(struct decision *d, const char *stage, const char *action, const char *reason)
{
    d->action = action;
    d->cls = action_classify(action);
    d->stage = stage;
    d->reason = reason;
}

void decision_prepend(struct decision *d, const char *header, unsigned id)
{
    if (d->prepend) {
        d->prepends_dropped++;
    } else {
        d->prepend = header;
        d->prepend_id = id;
    }
}

void decision_note(struct decision *d, const char *note)
{
    size_t used = strlen(d->notes);
    snprintf(d->notes + used, sizeof(d->notes) - used, "%s%s", used ? "," : "", note);
}

unsigned decision_prepended(const struct decision *d)
{
    return d->prepend && d->cls == ACTION_CLASS_DUNNO ? d->prepend_id : 0;
}

const char *decision_reply_action(const struct decision *d, struct arena *a)
{
    if (!d->prepend || d->cls != ACTION_CLASS_DUNNO)
        return d->action;
    size_t hl = strlen(d->prepend);
    char *s = arena_alloc(a, sizeof("PREPEND ") + hl);
    memcpy(s, "PREPEND ", 8);
    memcpy(s + 8, d->prepend, hl + 1);
    return s;
}

void pipeline_state_init(struct pipeline_state *ps)
{
    memset(ps, 0, sizeof(*ps));
    ps->d.spf_mail_from = -1;
}

/* compose - the final decision once no stage runs any more */
static void compose(const struct pipeline *p, struct decision *d)
{
    if (!d->action)
        decision_set(d, "default", p->default_action, NULL);
    if (d->prepend && d->cls == ACTION_CLASS_ACCEPT) {
        d->prepend = NULL;
        d->prepends_dropped++;
    }
}

/* resolve_settings - the request's overrides, once, before its first stage */
static void resolve_settings(const struct pipeline *p, const struct stage_ctx *ctx,
                             const struct policy_request *req, struct pipeline_state *ps)
{
    override_resolve(p->cfg, ctx->client_ip, req->sender.p, req->sender.len, req->recipient.p,
                     req->recipient.len, &ps->settings);
    ps->settings_done = true;
    char kinds[80], note[96];
    if (*override_settings_kinds(&ps->settings, kinds, sizeof(kinds))) {
        snprintf(note, sizeof(note), "override=%s", kinds);
        decision_note(&ps->d, note);
    }
}

bool pipeline_step(const struct pipeline *p, struct stage_ctx *ctx,
                   const struct policy_request *req, struct pipeline_state *ps)
{
    if (p->cfg && !ps->settings_done)
        resolve_settings(p, ctx, req, ps);
    ctx->settings = p->cfg ? &ps->settings : NULL;
    while (ps->next < p->n) {
        const struct stage *st = &p->stages[ps->next];
        ctx->slot = &ps->slots[ps->next];
        if (!ps->stage_t0_us) /* not a resumed stage */
            ps->stage_t0_us = clock_mono_us();
        enum stage_result r = st->run(st, ctx, req, &ps->d);
        if (r == STAGE_PENDING)
            return false;
        ps->stage_us[ps->next] = clock_mono_us() - ps->stage_t0_us;
        ps->stage_t0_us = 0;
        ps->stages_run = ps->next + 1;
        ps->next++;
        if (r == STAGE_DECIDED) {
            if (!ps->d.action)
                PANIC("pipeline: stage %s decided without an action", st->name);
            break;
        }
    }
    ps->next = p->n;
    compose(p, &ps->d);
    ps->done = true;
    return true;
}

const char *pipeline_stage_name(const struct pipeline *p, unsigned i)
{
    return i < p->n ? p->stages[i].name : NULL;
}

void pipeline_abort(const struct pipeline *p, struct pipeline_state *ps)
{
    for (unsigned i = 0; i < p->n; i++)
        if (ps->slots[i] && p->stages[i].abort)
            p->stages[i].abort(&p->stages[i], ps->slots[i]);
    memset(ps->slots, 0, sizeof(ps->slots));
}

void pipeline_run(const struct pipeline *p, const struct stage_ctx *ctx,
                  const struct policy_request *req, struct decision *d)
{
    struct pipeline_state ps;
    pipeline_state_init(&ps);
    struct stage_ctx c = *ctx;
    if (!pipeline_step(p, &c, req, &ps))
        PANIC("pipeline_run: a stage went asynchronous; use pipeline_step");
    *d = ps.d;
}

/* --- skip stage: clients that are never checked ------------------------------------------ */

/* skip_run - decide skip_action for listed, SASL-authenticated or loopback clients */
static enum stage_result skip_run(const struct stage *st, const struct stage_ctx *ctx,
                                  const struct policy_request *req, struct decision *d)
{
    const struct config *cfg = st->state;
    const char *why = NULL;
    if (cfg->skip_sasl && req->sasl_username.len > 0)
        why = "sasl";
    else if (ctx->client_ip && cfg->skip_loopback && ip_is_loopback(ctx->client_ip))
        why = "loopback";
    else if (ctx->client_ip && cidr_set_match(&cfg->skip_clients, ctx->client_ip))
        why = "skip_clients";
    if (!why)
        return STAGE_PASS;
    decision_set(d, "skip", cfg->skip_action, why);
    return STAGE_DECIDED;
}

/* --- override stage: the verdict of an override's `action` -------------------------------- */

/* override_run - decide the action an override gives this request */
static enum stage_result override_run(const struct stage *st, const struct stage_ctx *ctx,
                                      const struct policy_request *req, struct decision *d)
{
    (void)st;
    (void)req;
    const struct override_settings *s = ctx->settings;
    if (!s || !s->action)
        return STAGE_PASS;
    decision_set(d, "override", s->action, override_kind_name(s->from[OVERRIDE_KEY_ACTION]->kind));
    return STAGE_DECIDED;
}

struct pipeline *pipeline_create_with(const struct stage *stages, unsigned n,
                                      const char *default_action)
{
    if (n > PIPELINE_MAX_STAGES)
        PANIC("pipeline: %u stages, at most %d", n, PIPELINE_MAX_STAGES);
    struct pipeline *p = xcalloc(1, sizeof(*p));
    p->stages = xcalloc(n ? n : 1, sizeof(*p->stages));
    if (n)
        memcpy(p->stages, stages, n * sizeof(*stages));
    p->n = n;
    p->default_action = xstrdup(default_action);
    return p;
}

struct pipeline *pipeline_create(const struct config *cfg, const struct pipeline_res *res)
{
    struct stage stages[PIPELINE_MAX_STAGES];
    unsigned n = 0;
    stages[n++] = (struct stage){.name = "skip", .run = skip_run, .state = (void *)cfg};
    if (override_set_sets(cfg->overrides, OVERRIDE_KEY_ACTION, true))
        stages[n++] = (struct stage){.name = "override", .run = override_run};
    if (config_spf_used(cfg))
        stages[n++] = stage_spf_create(cfg, res ? res->spf_cache : NULL, res ? res->dns_cfg : NULL);
    if (config_greylist_used(cfg))
        stages[n++] = stage_greylist_create(cfg, res);
    struct pipeline *p = pipeline_create_with(stages, n, cfg->default_action);
    p->cfg = cfg;
    return p;
}

void pipeline_destroy(struct pipeline *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        if (p->stages[i].destroy)
            p->stages[i].destroy(&p->stages[i]);
    free(p->stages);
    free(p->default_action);
    free(p);
}
