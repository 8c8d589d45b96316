/* tests/fuzz/fuzz_config.c - greyspf.conf loading (engine/config.h) on arbitrary bytes.
 *
 * The input is the file's content, read through config_load_stream from an fmemopen stream.
 * - Success: every value is within its documented range (config.c's key table and
 *   greyspf.conf.example), at least one listen, each listen well-formed, both actions pass
 *   action_validate, every skip_clients CIDR is masked and round-trips, path is the name.
 * - Failure: the message is non-empty, NUL-terminated inside CONFIG_ERR_MAX, one line, and
 *   starts with the name followed by ':'.
 * - Loading the same bytes twice gives the same outcome and message. */
#include "tests/fuzz/fuzz.h"
#include "engine/action.h"
#include "engine/base/log.h"
#include "engine/config.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#define NAME "fuzz.conf"

/* load - config_load_stream over data[0..size) */
static struct config *load(const uint8_t *data, size_t size, struct config_error *err)
{
    static char empty[1];
    FILE *f = fmemopen(size ? (void *)data : empty, size, "r");
    FUZZ_CHECK(f != NULL, "fmemopen failed");
    struct config *c = config_load_stream(f, NAME, err);
    fclose(f);
    return c;
}

/* check_listen - one listen spec is what listen_parse promises */
static void check_listen(const struct listen_spec *l)
{
    FUZZ_CHECK(l->text != NULL, "listen without text");
    if (l->kind == LISTEN_UNIX) {
        FUZZ_CHECK(l->path && l->path[0] == '/' && strlen(l->path) < 108, "unix path %s",
                   l->path ? l->path : "(null)");
        FUZZ_CHECK(!l->host && !l->port, "unix listen %s has host/port", l->text);
        return;
    }
    FUZZ_CHECK(l->kind == LISTEN_INET, "listen kind %d", (int)l->kind);
    FUZZ_CHECK(!l->path, "inet listen %s has a path", l->text);
    FUZZ_CHECK(l->port && l->port[0] >= '1' && l->port[0] <= '9' && strlen(l->port) <= 5 &&
                   strspn(l->port, "0123456789") == strlen(l->port) && atol(l->port) <= 65535,
               "port %s", l->port ? l->port : "(null)");
    if (l->host) {
        unsigned char b[16];
        FUZZ_CHECK(inet_pton(AF_INET, l->host, b) == 1 || inet_pton(AF_INET6, l->host, b) == 1,
                   "host %s is not numeric", l->host);
    }
}

/* check_config - every documented range */
static void check_config(const struct config *c)
{
    FUZZ_CHECK(strcmp(c->path, NAME) == 0, "path %s", c->path);
    FUZZ_CHECK(c->n_listen >= 1, "no listen");
    for (size_t i = 0; i < c->n_listen; i++)
        check_listen(&c->listen[i]);
    FUZZ_CHECK(c->socket_mode <= 0777, "socket_mode %o", c->socket_mode);
    if (c->socket_group)
        FUZZ_CHECK(c->socket_group[0] && !strpbrk(c->socket_group, " \t"), "socket_group %s",
                   c->socket_group);
    FUZZ_CHECK(c->state_dir && c->state_dir[0] == '/', "state_dir");
    FUZZ_CHECK(c->workers >= 1 && c->workers <= 256, "workers %u", c->workers);
    FUZZ_CHECK(c->io_threads >= 1 && c->io_threads <= 64, "io_threads %u", c->io_threads);
    FUZZ_CHECK(c->max_connections >= 1 && c->max_connections <= 1000000, "max_connections %u",
               c->max_connections);
    FUZZ_CHECK(c->idle_timeout_ms <= 86400000u, "idle_timeout_ms %llu",
               (unsigned long long)c->idle_timeout_ms);
    FUZZ_CHECK(c->drain_timeout_ms <= 3600000u, "drain_timeout_ms %llu",
               (unsigned long long)c->drain_timeout_ms);
    FUZZ_CHECK(c->limits.max_line >= 1024 && c->limits.max_line <= 1048576, "max_line %zu",
               c->limits.max_line);
    FUZZ_CHECK(c->limits.max_attrs >= 8 && c->limits.max_attrs <= 1024, "max_attrs %zu",
               c->limits.max_attrs);
    FUZZ_CHECK(c->limits.max_request >= c->limits.max_line + 2 &&
                   c->limits.max_request <= 64u * 1024 * 1024,
               "max_request %zu (max_line %zu)", c->limits.max_request, c->limits.max_line);
    FUZZ_CHECK(c->log_level >= LOG_LVL_ERROR && c->log_level <= LOG_LVL_DEBUG, "log_level %d",
               c->log_level);
    FUZZ_CHECK(c->default_action && action_validate(c->default_action, NULL, 0) == 0,
               "default_action");
    FUZZ_CHECK(c->skip_action && action_validate(c->skip_action, NULL, 0) == 0, "skip_action");
    FUZZ_CHECK(c->skip_clients.n <= c->skip_clients.cap, "cidr_set n > cap");
    for (size_t i = 0; i < c->skip_clients.n; i++) {
        const struct cidr *x = &c->skip_clients.v[i];
        char text[CIDR_TEXT_MAX];
        struct cidr back;
        FUZZ_CHECK(x->prefix <= 128, "prefix %u", x->prefix);
        cidr_format(x, text, sizeof(text));
        FUZZ_CHECK(cidr_parse(text, strlen(text), false, &back) &&
                       memcmp(&back.addr, &x->addr, sizeof(back.addr)) == 0 &&
                       back.prefix == x->prefix,
                   "skip_clients item %s does not round-trip", text);
    }
}

/* check_error - the one-line message names the file first */
static void check_error(const struct config_error *err)
{
    size_t n = strnlen(err->msg, sizeof(err->msg));
    FUZZ_CHECK(n > 0 && n < sizeof(err->msg), "message empty or unterminated");
    FUZZ_CHECK(strncmp(err->msg, NAME ":", strlen(NAME) + 1) == 0, "message \"%s\"", err->msg);
    FUZZ_CHECK(!memchr(err->msg, '\n', n), "message has a newline: \"%s\"", err->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_error err, err2;
    memset(&err, 0xa5, sizeof(err));
    struct config *c = load(data, size, &err);
    if (c)
        check_config(c);
    else
        check_error(&err);

    struct config *c2 = load(data, size, &err2);
    FUZZ_CHECK(!c == !c2, "second load disagrees");
    if (!c)
        FUZZ_CHECK(strcmp(err.msg, err2.msg) == 0, "messages differ: \"%s\" vs \"%s\"", err.msg,
                   err2.msg);
    config_free(c);
    config_free(c2);
    return 0;
}
