/* tests/unit/engine/test_greylist_stage.c - the greylisting stage in the pipeline, on the memory
 * store with an injected clock: replies and their text tokens, RCPT only, whitelists, learning
 * mode, the X-Greylist header, fail-open without a store, SPF-domain keys from the decision
 * the SPF stage leaves, hashed keys with the key file in state_dir, enabled = no, and the
 * worker's path: writes in the thread's batch, the request pending until the commit, a failed
 * commit failing open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/base/arena.h"
#include "engine/config.h"
#include "engine/pipeline.h"
#include "engine/spf.h"
#include "engine/stage_env.h"
#include "engine/stage_greylist.h"
#include "kv/kv.h"
#include "tests/unit/kv/kv_test_util.h"

#define T0 1700000000

static struct config *conf(const char *text)
{
    struct config_error err;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct config *c = config_load_stream(f, "test.conf", &err);
    fclose(f);
    if (!c)
        fail_msg("config: %s", err.msg);
    return c;
}

/* struct run - one request's composed outcome */
struct run {
    char reply[1200];
    char stage[32];
    char notes[128];
};

/* ask - run pipeline p on a request (protocol state, client, sender, recipient) at now */
static struct run ask(const struct pipeline *p, const char *state, const char *client,
                      const char *sender, const char *rcpt, int64_t now)
{
    char text[1024];
    int n = snprintf(text, sizeof(text),
                     "request=smtpd_access_policy\nprotocol_state=%s\nclient_address=%s\n"
                     "client_name=mail.example.org\nhelo_name=mail.example.org\nsender=%s\n"
                     "recipient=%s\ninstance=i1\n\n",
                     state, client, sender, rcpt);
    struct arena a;
    arena_init(&a, NULL, 0);
    struct policy_limits lim = {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS,
                                POLICY_DEFAULT_MAX_REQUEST};
    struct policy_request req;
    if (policy_parse(text, (size_t)n, &lim, &a, &req, NULL) != 0)
        fail_msg("bad test request");
    struct ip_addr ip;
    bool ok = ip_parse(client, strlen(client), &ip);
    struct stage_ctx ctx = {.arena = &a, .now_s = now, .client_ip = ok ? &ip : NULL};
    struct decision d;
    pipeline_run(p, &ctx, &req, &d);
    struct run r;
    snprintf(r.reply, sizeof(r.reply), "%s", decision_reply_action(&d, &a));
    snprintf(r.stage, sizeof(r.stage), "%s", d.stage);
    snprintf(r.notes, sizeof(r.notes), "%s", d.notes);
    arena_fini(&a);
    return r;
}

#define CHECK_RUN(r, want_reply, want_notes)                                                       \
    do {                                                                                           \
        struct run r_ = (r);                                                                       \
        if (strcmp(r_.reply, (want_reply)) != 0 || strcmp(r_.notes, (want_notes)) != 0)            \
            fail_msg("line %d: got \"%s\" [%s], want \"%s\" [%s]", __LINE__, r_.reply, r_.notes,   \
                     (want_reply), (want_notes));                                                  \
    } while (0)

#define BASE "[spf]\nenabled = no\nauthserv_id = mx.test\n[greylist]\n"

static void test_defer_then_pass(void **state)
{
    (void)state;
    struct config *c = conf(BASE);
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    const char *ip = "192.0.2.10", *s = "alice@example.org", *r = "bob@example.net";
    struct run x = ask(p, "RCPT", ip, s, r, T0);
    CHECK_RUN(x, "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    assert_string_equal(x.stage, "greylist");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 100),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 200 seconds",
              "greylist=early left=200");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 300), "DUNNO", "greylist=passed delayed=300");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 301), "DUNNO", "greylist=passed");
    /* other protocol states are never greylisted */
    CHECK_RUN(ask(p, "MAIL", "198.51.100.1", s, "", T0), "DUNNO", "");
    CHECK_RUN(ask(p, "DATA", "198.51.100.1", s, r, T0), "DUNNO", "");
    CHECK_RUN(ask(p, "CONNECT", "198.51.100.1", "", "", T0), "DUNNO", "");
    /* an unparsable client address passes */
    CHECK_RUN(ask(p, "RCPT", "not-an-ip", s, r, T0), "DUNNO", "greylist=noclient");
    pipeline_destroy(p);
    kv_close(kv);
    config_free(c);
}

static void test_action_and_text(void **state)
{
    (void)state;
    struct config *c = conf(BASE "action = 451 4.7.1\n"
                                 "text = Greylisted by {domain}: retry in {seconds}s\n"
                                 "delay = 2s\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "Bob@Mail.Example.NET", T0),
              "451 4.7.1 Greylisted by Mail.Example.NET: retry in 2s", "greylist=new left=2");
    pipeline_destroy(p);
    config_free(c);
    /* no text: the action alone */
    c = conf(BASE "action = DEFER_IF_PERMIT 4.7.1 Greylisted\ntext =\n");
    p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.11", "a@example.org", "x@example.net", T0),
              "DEFER_IF_PERMIT 4.7.1 Greylisted", "greylist=new left=300");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

static void test_whitelists(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], clients[300], rcpts[300], text[1024];
    kv_test_mkdtemp(dir);
    snprintf(clients, sizeof(clients), "%s/clients", dir);
    snprintf(rcpts, sizeof(rcpts), "%s/recipients", dir);
    FILE *f = fopen(clients, "w");
    fputs("203.0.113.0/24\nexample.org\n", f);
    fclose(f);
    f = fopen(rcpts, "w");
    fputs("postmaster@\n", f);
    fclose(f);
    snprintf(text, sizeof(text), BASE "whitelist_clients = %s\nwhitelist_recipients = %s\n",
             clients, rcpts);
    struct config *c = conf(text);
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "203.0.113.9", "a@x.example", "b@example.net", T0), "DUNNO",
              "greylist=whitelisted");
    /* client_name is mail.example.org in every request: a parent domain is listed */
    pipeline_destroy(p);
    config_free(c);
    f = fopen(clients, "w");
    fputs("203.0.113.0/24\n", f);
    fclose(f);
    c = conf(text);
    p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.1", "a@x.example", "Postmaster@example.net", T0), "DUNNO",
              "greylist=whitelisted");
    CHECK_RUN(ask(p, "RCPT", "192.0.2.1", "a@x.example", "bob@example.net", T0),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
    kv_test_rmtree(dir);
}

static void test_learning(void **state)
{
    (void)state;
    struct config *c = conf(BASE "learning = yes\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    const char *ip = "192.0.2.10", *s = "alice@example.org", *r = "bob@example.net";
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0), "DUNNO", "greylist=learning:new left=300");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 60), "DUNNO", "greylist=learning:early left=240");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 300), "DUNNO", "greylist=passed delayed=300");
    pipeline_destroy(p);
    config_free(c);
    /* learning off: what was learned passes at once, the rest is greylisted */
    c = conf(BASE);
    p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", ip, s, r, T0 + 400), "DUNNO", "greylist=passed");
    CHECK_RUN(ask(p, "RCPT", ip, "other@example.org", r, T0 + 400),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

static void test_x_greylist_header(void **state)
{
    (void)state;
    struct config *c = conf(BASE "x_greylist_header = yes\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    const char *ip = "192.0.2.10", *s = "alice@example.org", *r = "bob@example.net";
    ask(p, "RCPT", ip, s, r, 1700000000);
    CHECK_RUN(ask(p, "RCPT", ip, s, r, 1700000312),
              "PREPEND X-Greylist: delayed 312 seconds by greyspf-" GREYSPF_VERSION
              " at mx.test; Tue, 14 Nov 2023 22:18:32 +0000",
              "greylist=passed delayed=312");
    CHECK_RUN(ask(p, "RCPT", ip, s, r, 1700000400), "DUNNO", "greylist=passed");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

static void test_fail_open(void **state)
{
    (void)state;
    struct config *c = conf(BASE);
    struct pipeline *p = pipeline_create(c, NULL); /* no store */
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "b@example.net", T0), "DUNNO",
              "greylist=error");
    pipeline_destroy(p);
    config_free(c);
    /* hash_keys with a state_dir where the key cannot be created */
    c = conf("[server]\nstate_dir = /nonexistent/greyspf\n" BASE "hash_keys = yes\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "b@example.net", T0), "DUNNO",
              "greylist=error");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

/* spf_pass_run - a stand-in for the SPF stage: MAIL FROM pass for the sender's domain */
static enum stage_result spf_pass_run(const struct stage *st, const struct stage_ctx *ctx,
                                      const struct policy_request *req, struct decision *d)
{
    (void)st, (void)ctx;
    const char *at = strchr(req->sender.p, '@');
    d->spf_mail_from = st->state ? (int)SPF_RESULT_PASS : (int)SPF_RESULT_SOFTFAIL;
    d->spf_domain = at ? at + 1 : NULL;
    return STAGE_PASS;
}

static void test_spf_domain(void **state)
{
    (void)state;
    struct config *c = conf(BASE);
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct stage st[2] = {{.name = "spf", .run = spf_pass_run, .state = (void *)"pass"},
                          stage_greylist_create(c, &res)};
    struct pipeline *p = pipeline_create_with(st, 2, "DUNNO");
    const char *s = "news@pool.example", *r = "bob@example.net";
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", s, r, T0),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    /* the retry comes from another network of the pool: SPF pass, so it matches */
    CHECK_RUN(ask(p, "RCPT", "203.0.113.77", s, r, T0 + 300), "DUNNO",
              "greylist=passed delayed=300");
    pipeline_destroy(p);
    /* without SPF pass the other network is a new client */
    struct stage st2[2] = {{.name = "spf", .run = spf_pass_run, .state = NULL},
                           stage_greylist_create(c, &res)};
    p = pipeline_create_with(st2, 2, "DUNNO");
    const char *s2 = "news2@pool.example";
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", s2, r, T0),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    CHECK_RUN(ask(p, "RCPT", "203.0.113.77", s2, r, T0 + 300),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

/* plain_cb - flag a stored key that is not an 18-byte hash */
static int plain_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t exp,
                    void *arg)
{
    (void)key, (void)val, (void)vlen, (void)exp;
    if (klen != 18)
        *(bool *)arg = true;
    return 0;
}

static void test_hash_keys(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX], text[512], path[300];
    kv_test_mkdtemp(dir);
    snprintf(text, sizeof(text), "[server]\nstate_dir = %s\n" BASE "hash_keys = yes\n", dir);
    struct config *c = conf(text);
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "b@example.net", T0),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    pipeline_destroy(p);
    /* a reload reads the same key: the record is found */
    p = pipeline_create(c, &res);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "b@example.net", T0 + 300), "DUNNO",
              "greylist=passed delayed=300");
    pipeline_destroy(p);
    bool plain = false;
    assert_int_equal(kv_scan_prefix(kv, NULL, 0, T0, plain_cb, &plain), 0);
    assert_false(plain);
    snprintf(path, sizeof(path), "%s/greylist.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    config_free(c);
    kv_close(kv);
    kv_test_rmtree(dir);
}

static void test_disabled(void **state)
{
    (void)state;
    struct config *c = conf(BASE "enabled = no\n");
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    assert_null(pipeline_stage_name(p, 1)); /* skip only */
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "b@example.net", T0), "DUNNO", "");
    pipeline_destroy(p);
    config_free(c);
    kv_close(kv);
}

/* struct inflight - a request run the way a worker runs it (pipeline_step, an env with a
 * batch); resumed by the test's "worker" after the commit */
struct inflight {
    const struct pipeline *p;
    struct arena a;
    struct policy_request req;
    struct ip_addr ip;
    struct stage_ctx ctx;
    struct pipeline_state ps;
    bool done;
};

static void inflight_resume(void *arg)
{
    struct inflight *f = arg;
    f->done = pipeline_step(f->p, &f->ctx, &f->req, &f->ps);
}

/* start - parse and step once; text must outlive f */
static void start(struct inflight *f, const struct pipeline *p, struct stage_env *env,
                  const char *text, const char *client, int64_t now)
{
    memset(f, 0, sizeof(*f));
    f->p = p;
    arena_init(&f->a, NULL, 0);
    struct policy_limits lim = {POLICY_DEFAULT_MAX_LINE, POLICY_DEFAULT_MAX_ATTRS,
                                POLICY_DEFAULT_MAX_REQUEST};
    if (policy_parse(text, strlen(text), &lim, &f->a, &f->req, NULL) != 0)
        fail_msg("bad test request");
    assert_true(ip_parse(client, strlen(client), &f->ip));
    f->ctx = (struct stage_ctx){.arena = &f->a, .now_s = now, .client_ip = &f->ip, .env = env,
                                .resume = inflight_resume, .resume_arg = f};
    pipeline_state_init(&f->ps);
    f->done = pipeline_step(p, &f->ctx, &f->req, &f->ps);
}

/* commit_and_resume - what the worker does at the end of its loop turn */
static int commit_and_resume(struct stage_env *env)
{
    int rc = kv_batch_commit(env->kv_batch);
    struct stage_waiter *w = env->commit_waiters;
    env->commit_waiters = NULL;
    while (w) {
        struct stage_waiter *next = w->next;
        w->resume(w->arg);
        w = next;
    }
    return rc;
}

#define REQ(rcpt)                                                                                  \
    "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"            \
    "sender=a@example.org\nrecipient=" rcpt "\ninstance=i1\n\n"

/* the worker's path: the check's writes join the thread's batch, the request waits (pending)
 * until the batch is committed and only then decides; a failed commit fails open */
static void test_batched(void **state)
{
    (void)state;
    struct config *c = conf(BASE);
    struct kv *kv = kv_open_memory();
    struct pipeline_res res = {.kv = kv};
    struct pipeline *p = pipeline_create(c, &res);
    struct stage_env env = {0};
    struct inflight one, two, three;
    start(&one, p, &env, REQ("x@example.net"), "192.0.2.10", T0);
    assert_false(one.done); /* waits for the commit */
    assert_non_null(env.kv_batch);
    assert_int_equal(kv_batch_pending(env.kv_batch), 1);
    start(&two, p, &env, REQ("x@example.net"), "192.0.2.10", T0 + 10); /* same triplet */
    assert_false(two.done); /* decided on the pending record: waits for it too */
    assert_int_equal(kv_batch_pending(env.kv_batch), 1);
    assert_int_equal(commit_and_resume(&env), 0);
    assert_true(one.done && two.done);
    assert_string_equal(decision_reply_action(&one.ps.d, &one.a),
                        "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds");
    assert_string_equal(one.ps.d.notes, "greylist=new left=300");
    assert_string_equal(two.ps.d.notes, "greylist=early left=290");
    /* committed: the direct path (another thread) sees the record */
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "x@example.net", T0 + 300), "DUNNO",
              "greylist=passed delayed=300");
    /* the commit fails: the deferral was not recorded, so the request passes (fail open) */
    kv_memory_fail_writes(kv, true);
    start(&three, p, &env, REQ("y@example.net"), "192.0.2.10", T0);
    assert_false(three.done);
    assert_int_equal(commit_and_resume(&env), KV_ERR_IO);
    assert_true(three.done);
    assert_string_equal(decision_reply_action(&three.ps.d, &three.a), "DUNNO");
    assert_string_equal(three.ps.d.notes, "greylist=error");
    kv_memory_fail_writes(kv, false);
    CHECK_RUN(ask(p, "RCPT", "192.0.2.10", "a@example.org", "y@example.net", T0 + 1),
              "DEFER_IF_PERMIT 4.7.1 Greylisted, please try again in 300 seconds",
              "greylist=new left=300");
    arena_fini(&one.a);
    arena_fini(&two.a);
    arena_fini(&three.a);
    kv_batch_destroy(env.kv_batch);
    pipeline_destroy(p);
    kv_close(kv);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defer_then_pass),   cmocka_unit_test(test_action_and_text),
        cmocka_unit_test(test_whitelists),        cmocka_unit_test(test_learning),
        cmocka_unit_test(test_x_greylist_header), cmocka_unit_test(test_fail_open),
        cmocka_unit_test(test_spf_domain),        cmocka_unit_test(test_hash_keys),
        cmocka_unit_test(test_disabled),          cmocka_unit_test(test_batched),
    };
    return cmocka_run_group_tests(tests, NULL, kv_test_cleanup);
}
