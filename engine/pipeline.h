/* engine/pipeline.h - the decision pipeline: an ordered list of stages over one request.
 *
 * A stage sees the request and either passes (STAGE_PASS, possibly after adding a header to
 * prepend) or decides (STAGE_DECIDED: it set the verdict and later stages do not run). When
 * no stage decides, the configured default action is the verdict. Composition, so that no
 * stage loses another's work (tumgreyspf dropped a PREPEND when a later check passed):
 *   - a verdict of class DUNNO (DUNNO, WARN, INFO) with a pending header -> "PREPEND header";
 *   - a verdict that defers or rejects wins; the header is moot (the message is not accepted);
 *   - OK (accept) wins over a header: Postfix takes one action per reply, and OK stops later
 *     restrictions, which is what the operator asked for; the drop is counted;
 *   - a first header is kept; later ones are counted as dropped (one PREPEND per reply).
 * Stages are immutable after the pipeline is built and may run concurrently on all workers;
 * per-request state lives in the request arena. SPF and greylisting plug in as stages. */
#ifndef GREYSPF_ENGINE_PIPELINE_H
#define GREYSPF_ENGINE_PIPELINE_H
#include <stdbool.h>
#include <stdint.h>

#include "engine/action.h"
#include "engine/base/arena.h"
#include "engine/config.h"
#include "engine/override.h"
#include "engine/policy.h"

enum stage_result {
    STAGE_PASS = 0, /* no verdict: the next stage runs */
    STAGE_DECIDED,  /* verdict set: later stages do not run */
    STAGE_PENDING,  /* asynchronous work started: the stage will call ctx->resume once, on
                     * the same thread, and is then run again with its slot (*ctx->slot) */
};

#define PIPELINE_MAX_STAGES 8

/* struct conn_memo - what stages remember per client connection between requests: the
 * headers already prepended to the current message (Postfix's `instance` attribute is
 * shared by one message's requests). Touched only by the worker deciding the connection's
 * one request in flight; the request queues order successive workers' accesses. */
#define CONN_MEMO_INSTANCE_MAX 48
struct conn_memo {
    char instance[CONN_MEMO_INSTANCE_MAX]; /* "" or the message the bits are for */
    unsigned headers_sent;                 /* DECISION_HDR_* bits */
};

/* header ids, so a header is prepended once per message */
enum {
    DECISION_HDR_RECEIVED_SPF = 1u << 0,
    DECISION_HDR_AUTH_RESULTS = 1u << 1,
    DECISION_HDR_X_GREYLIST = 1u << 2,
};

/* struct decision - what the stages concluded; strings are static, config-owned or arena */
struct decision {
    const char *action;       /* verdict action text, NULL until one is set */
    enum action_class cls;    /* class of action */
    const char *stage;        /* stage that set the verdict ("default" if none) */
    const char *reason;       /* short machine-readable reason, e.g. "sasl", or NULL */
    const char *prepend;      /* first header to prepend ("Name: value"), or NULL */
    unsigned prepend_id;      /* its DECISION_HDR_* bit (0: not tracked per message) */
    unsigned prepends_dropped; /* headers that could not be sent (see composition rules) */
    char notes[128];          /* what stages found, for the decision log ("mail_from=pass") */
    /* what the SPF stage found, for later stages (greylisting keys by the SPF domain) */
    int spf_mail_from;        /* enum spf_result of MAIL FROM, or -1 when not evaluated */
    const char *spf_domain;   /* the domain that result is for (lower case), or NULL */
};

/* struct stage_ctx - per-request context a stage may use */
struct stage_ctx {
    struct arena *arena;      /* the request's arena: lives until the reply is written */
    uint64_t now_us;          /* monotonic, read once per pipeline step */
    int64_t now_s;            /* wall clock seconds, read once per pipeline step */
    const struct ip_addr *client_ip; /* parsed client_address, NULL if absent/unparsable */
    void *env;                /* the running thread's resources for stages (stage_env.h) */
    struct conn_memo *conn_memo; /* the connection's memo; NULL outside the daemon */
    void **slot;              /* this stage's per-request state (NULL on its first run) */
    void (*resume)(void *arg); /* for STAGE_PENDING: call once when the work is done */
    void *resume_arg;
    /* the request's settings with [override ...] sections applied (set by pipeline_step,
     * resolved once per request); NULL: stages read the config's global values */
    const struct override_settings *settings;
};

/* struct pipeline_state - one request's progress through the pipeline (in its job) */
struct pipeline_state {
    unsigned next;                      /* index of the stage to run next */
    bool done;
    struct decision d;
    void *slots[PIPELINE_MAX_STAGES];   /* per-stage request state */
    uint64_t stage_t0_us;               /* when the current stage first ran */
    uint64_t stage_us[PIPELINE_MAX_STAGES]; /* time each finished stage took */
    unsigned stages_run;                /* stages that finished (ran to PASS or DECIDED) */
    bool settings_done;                 /* settings resolved (pipelines made from a config) */
    struct override_settings settings;  /* ctx->settings of this request */
};

struct stage {
    const char *name;
    /* run - examine req; on STAGE_DECIDED set d->action/cls/reason (use decision_set) */
    enum stage_result (*run)(const struct stage *st, const struct stage_ctx *ctx,
                             const struct policy_request *req, struct decision *d);
    /* abort - the request is abandoned while this stage is pending or holds a slot (daemon
     * shutdown): release *slot without calling resume. NULL if the stage never keeps one. */
    void (*abort)(const struct stage *st, void *slot);
    void (*destroy)(struct stage *st); /* frees st->state; NULL if nothing to free */
    void *state;
};

struct pipeline;

/* struct pipeline_res - long-lived resources stages share across reloads (owned by the
 * caller, outliving every pipeline built with them); members may be NULL */
struct spf_cache;
struct kv;
struct greylist_dynwl;
struct greylist_awl_hint;
struct config;
struct pipeline_res {
    /* the [dns] settings every resolver is created with: the daemon's boot configuration,
     * since [dns] changes take effect at a restart (a reload says so); NULL = each
     * pipeline's own configuration */
    const struct config *dns_cfg;
    struct spf_cache *spf_cache;
    struct kv *kv; /* the greylisting store (opened when [greylist] is enabled) */
    struct greylist_dynwl *dynwl; /* the dynamic whitelist's mirror (with kv), or NULL */
    struct greylist_awl_hint *awl_hint; /* networks that may have an AWL record, or NULL */
};

/* pipeline_create - the stages for cfg, in order: skip rules (skip_clients, SASL, loopback),
 * the verdicts of overrides (when one sets `action`), SPF (when enabled globally or by an
 * override), then greylisting (likewise). Its pipeline_step resolves each request's overrides
 * once, before the first stage, into ctx->settings. cfg and res are borrowed and must outlive
 * the pipeline; res may be NULL. */
struct pipeline *pipeline_create(const struct config *cfg, const struct pipeline_res *res);
/* pipeline_create_with - a pipeline of the given stages (copied; each destroyed with the
 * pipeline) and default action; for tests and for building the daemon's pipeline */
struct pipeline *pipeline_create_with(const struct stage *stages, unsigned n,
                                      const char *default_action);
void pipeline_destroy(struct pipeline *p); /* NULL is a no-op */

/* pipeline_state_init - a request that has not started */
void pipeline_state_init(struct pipeline_state *ps);
/* pipeline_step - run stages from ps->next until one decides, one is pending, or all
 * passed. Returns true when the decision is final (ps->d composed, ps->done set), false when
 * a stage is pending: call pipeline_step again after ctx->resume was called. ctx->slot is set
 * by the pipeline for each stage. */
bool pipeline_step(const struct pipeline *p, struct stage_ctx *ctx,
                   const struct policy_request *req, struct pipeline_state *ps);
/* pipeline_stage_name - name of stage i of p (for metrics) */
const char *pipeline_stage_name(const struct pipeline *p, unsigned i);
/* pipeline_abort - release the stage slots of an unfinished request */
void pipeline_abort(const struct pipeline *p, struct pipeline_state *ps);
/* pipeline_run - run a pipeline whose stages never return STAGE_PENDING (tests) */
void pipeline_run(const struct pipeline *p, const struct stage_ctx *ctx,
                  const struct policy_request *req, struct decision *d);

/* decision_set - record a verdict (action must be a validated action text) */
void decision_set(struct decision *d, const char *stage, const char *action, const char *reason);
/* decision_prepend - add a header "Name: value" (borrowed: arena or static); id is its
 * DECISION_HDR_* bit or 0 */
void decision_prepend(struct decision *d, const char *header, unsigned id);
/* decision_note - append a short "key=value" for the decision log (truncated if full) */
void decision_note(struct decision *d, const char *note);
/* decision_prepended - the id of the header the reply carries, or 0 (after composition) */
unsigned decision_prepended(const struct decision *d);
/* decision_reply_action - the text that goes after "action=" for the composed decision,
 * in the arena when it has to be built (PREPEND), else the verdict text itself */
const char *decision_reply_action(const struct decision *d, struct arena *a);

#endif
