/* tests/unit/engine/test_pipeline.c - stage order, action composition, and the skip rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "engine/base/arena.h"
#include "engine/config.h"
#include "engine/pipeline.h"

/* A scripted stage: state is a "script" string: "pass", "prepend:<hdr>", "decide:<action>",
 * or "prepend+decide:<hdr>|<action>". */
static enum stage_result scripted_run(const struct stage *st, const struct stage_ctx *ctx,
                                      const struct policy_request *req, struct decision *d)
{
    (void)ctx;
    (void)req;
    const char *s = st->state;
    if (strncmp(s, "prepend:", 8) == 0) {
        decision_prepend(d, s + 8, 0);
        return STAGE_PASS;
    }
    if (strncmp(s, "decide:", 7) == 0) {
        decision_set(d, st->name, s + 7, "scripted");
        return STAGE_DECIDED;
    }
    return STAGE_PASS;
}

struct compose_case {
    const char *name;
    const char *scripts[3]; /* NULL-terminated list of stage scripts */
    const char *default_action;
    const char *want_reply;
    const char *want_stage;
    unsigned want_dropped;
};

static const struct compose_case compose_cases[] = {
    {"no stage decides: default", {"pass", NULL}, "DUNNO", "DUNNO", "default", 0},
    {"prepend survives a later pass (tumgreyspf bug)",
     {"prepend:Received-SPF: pass (test)", "pass", NULL},
     "DUNNO",
     "PREPEND Received-SPF: pass (test)",
     "default",
     0},
    {"prepend survives a later DUNNO decision",
     {"prepend:X-A: 1", "decide:DUNNO", NULL},
     "REJECT never",
     "PREPEND X-A: 1",
     "s1",
     0},
    {"defer wins over prepend",
     {"prepend:X-A: 1", "decide:DEFER_IF_PERMIT 4.7.1 Greylisted", NULL},
     "DUNNO",
     "DEFER_IF_PERMIT 4.7.1 Greylisted",
     "s1",
     0},
    {"reject wins over prepend",
     {"prepend:X-A: 1", "decide:REJECT 5.7.23 SPF fail", NULL},
     "DUNNO",
     "REJECT 5.7.23 SPF fail",
     "s1",
     0},
    {"OK wins, header counted as dropped",
     {"prepend:X-A: 1", "decide:OK", NULL},
     "DUNNO",
     "OK",
     "s1",
     1},
    {"second header dropped, first kept",
     {"prepend:X-A: 1", "prepend:X-B: 2", NULL},
     "DUNNO",
     "PREPEND X-A: 1",
     "default",
     1},
    {"first deciding stage ends the pipeline",
     {"decide:REJECT first", "decide:OK", NULL},
     "DUNNO",
     "REJECT first",
     "s0",
     0},
    {"prepend with a WARN default stays a prepend",
     {"prepend:X-A: 1", NULL},
     "WARN looked at",
     "PREPEND X-A: 1",
     "default",
     0},
};

static const char *const stage_names[] = {"s0", "s1", "s2"};

static void test_composition(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(compose_cases) / sizeof(compose_cases[0]); i++) {
        const struct compose_case *tc = &compose_cases[i];
        struct stage stages[3];
        unsigned n = 0;
        for (; n < 3 && tc->scripts[n]; n++)
            stages[n] = (struct stage){.name = stage_names[n],
                                       .run = scripted_run,
                                       .state = (void *)tc->scripts[n]};
        struct pipeline *p = pipeline_create_with(stages, n, tc->default_action);
        char buf[512];
        struct arena a;
        arena_init(&a, buf, sizeof(buf));
        struct stage_ctx ctx = {.arena = &a};
        struct policy_request req;
        memset(&req, 0, sizeof(req));
        struct decision d;
        pipeline_run(p, &ctx, &req, &d);
        const char *got = decision_reply_action(&d, &a);
        if (strcmp(got, tc->want_reply) != 0)
            fail_msg("%s: reply: got \"%s\", want \"%s\"", tc->name, got, tc->want_reply);
        if (strcmp(d.stage, tc->want_stage) != 0)
            fail_msg("%s: stage: got %s, want %s", tc->name, d.stage, tc->want_stage);
        if (d.prepends_dropped != tc->want_dropped)
            fail_msg("%s: dropped: got %u, want %u", tc->name, d.prepends_dropped,
                     tc->want_dropped);
        arena_fini(&a);
        pipeline_destroy(p);
    }
}

struct skip_case {
    const char *name;
    const char *client; /* client_address, "" for none */
    const char *sasl_username;
    bool skip_sasl, skip_loopback;
    const char *want_stage; /* "skip" or "default" */
    const char *want_reason;
};

static const struct skip_case skip_cases[] = {
    {"listed v4 client", "192.0.2.7", "", true, true, "skip", "skip_clients"},
    {"v4 client outside the list", "192.0.3.7", "", true, true, "default", NULL},
    {"listed v6 client", "2001:db8:1::5", "", true, true, "skip", "skip_clients"},
    {"v6 client outside the list", "2001:db9::5", "", true, true, "default", NULL},
    {"IPv4-mapped v6 client matches a v4 CIDR", "::ffff:192.0.2.9", "", true, true, "skip",
     "skip_clients"},
    {"loopback v4", "127.0.0.1", "", true, true, "skip", "loopback"},
    {"loopback v6", "::1", "", true, true, "skip", "loopback"},
    {"loopback with skip_loopback off", "127.0.0.1", "", true, false, "default", NULL},
    {"SASL user", "198.51.100.1", "alice", true, true, "skip", "sasl"},
    {"SASL user with skip_sasl off", "198.51.100.1", "alice", false, true, "default", NULL},
    {"no client address", "", "", true, true, "default", NULL},
    {"garbage client address", "not-an-ip", "", true, true, "default", NULL},
};

static void test_skip_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(skip_cases) / sizeof(skip_cases[0]); i++) {
        const struct skip_case *tc = &skip_cases[i];
        struct config *cfg = config_defaults();
        cfg->spf_enabled = false; /* the skip stage alone */
        cfg->skip_sasl = tc->skip_sasl;
        cfg->skip_loopback = tc->skip_loopback;
        struct cidr c;
        assert_true(cidr_parse("192.0.2.0/24", 12, false, &c));
        cidr_set_add(&cfg->skip_clients, &c);
        assert_true(cidr_parse("2001:db8::/32", 13, false, &c));
        cidr_set_add(&cfg->skip_clients, &c);
        struct pipeline *p = pipeline_create(cfg, NULL);

        struct policy_request req;
        memset(&req, 0, sizeof(req));
        req.client_address = (struct policy_str){tc->client, strlen(tc->client)};
        req.sasl_username = (struct policy_str){tc->sasl_username, strlen(tc->sasl_username)};
        struct ip_addr ip;
        bool ok = ip_parse(tc->client, strlen(tc->client), &ip);
        char buf[256];
        struct arena a;
        arena_init(&a, buf, sizeof(buf));
        struct stage_ctx ctx = {.arena = &a, .client_ip = ok ? &ip : NULL};
        struct decision d;
        pipeline_run(p, &ctx, &req, &d);
        if (strcmp(d.stage, tc->want_stage) != 0)
            fail_msg("%s: stage: got %s, want %s", tc->name, d.stage, tc->want_stage);
        const char *reason = d.reason ? d.reason : "(none)";
        const char *want_reason = tc->want_reason ? tc->want_reason : "(none)";
        if (strcmp(reason, want_reason) != 0)
            fail_msg("%s: reason: got %s, want %s", tc->name, reason, want_reason);
        arena_fini(&a);
        pipeline_destroy(p);
        config_free(cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_composition),
        cmocka_unit_test(test_skip_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
