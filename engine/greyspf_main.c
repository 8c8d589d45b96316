/* engine/greyspf_main.c - `greyspf`: the command-line tool. Glue only.
 *   greyspf spf --ip IP --sender ADDR --helo NAME [options]   one SPF check, same code path
 *                                                            as the daemon (spf_check + dns)
 * Output of `spf`: the result word on line 1; for fail the explanation on line 2; with
 * --trace the evaluation and every lookup with its timing after that. Exit 0 whenever a
 * result is produced (permerror and temperror included), 1 on a set-up error, 2 on usage. */
#include "dns/dns.h"
#include "engine/base/arena.h"
#include "engine/base/clock.h"
#include "engine/base/alloc.h"
#include "engine/base/log.h"
#include "engine/config.h"
#include "engine/cidr.h"
#include "engine/postgrey_import.h"
#include "engine/spf.h"
#include "engine/spf_check.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANCHORS 16

static void usage_spf(FILE *f)
{
    fprintf(f,
            "usage: greyspf spf --ip IP --sender ADDR --helo NAME [options]\n"
            "  --ip IP              client address (IPv4 or IPv6)\n"
            "  --sender ADDR        MAIL FROM (\"\" = null sender: postmaster@HELO)\n"
            "  --helo NAME          HELO/EHLO name, passed through as given\n"
            "  --identity ID        mailfrom (default) or helo\n"
            "  --dns ADDR[@PORT]    send every query to this server (no local zones)\n"
            "  --no-dnssec          do not validate\n"
            "  --trust-anchor TA    DNSSEC anchor (\"zone. IN DS ...\"), repeatable; given\n"
            "                       alone, it replaces the root anchor file\n"
            "  --trust-anchor-file F  anchor file (default /usr/share/dns/root.key)\n"
            "  --dns-timeout S      per-lookup deadline in seconds (default 5)\n"
            "  --timeout S          whole-check deadline in seconds (default 20)\n"
            "  --default-exp TEXT   explanation for fail when the record has no exp=\n"
            "  --receiver NAME      %%{r} (default: unknown)\n"
            "  --trace              print the evaluation and every lookup with timings\n");
}

/* parse_seconds - "2", "0.5" -> ms; -1 on error */
static int64_t parse_seconds(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 3600)
        return -1;
    return (int64_t)(v * 1000.0 + 0.5);
}

struct cli_state {
    int done;
};

static void on_done(void *arg, struct spf_check *c, const struct spf_outcome *out)
{
    (void)c;
    (void)out;
    ((struct cli_state *)arg)->done = 1;
}

static int cmd_spf(int argc, char **argv)
{
    enum {
        O_IP = 256, O_SENDER, O_HELO, O_IDENTITY, O_DNS, O_NO_DNSSEC, O_TA, O_TA_FILE,
        O_DNS_TIMEOUT, O_TIMEOUT, O_DEFAULT_EXP, O_RECEIVER, O_TRACE, O_HELP
    };
    static const struct option opts[] = {
        {"ip", required_argument, NULL, O_IP},
        {"sender", required_argument, NULL, O_SENDER},
        {"helo", required_argument, NULL, O_HELO},
        {"identity", required_argument, NULL, O_IDENTITY},
        {"dns", required_argument, NULL, O_DNS},
        {"no-dnssec", no_argument, NULL, O_NO_DNSSEC},
        {"trust-anchor", required_argument, NULL, O_TA},
        {"trust-anchor-file", required_argument, NULL, O_TA_FILE},
        {"dns-timeout", required_argument, NULL, O_DNS_TIMEOUT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"default-exp", required_argument, NULL, O_DEFAULT_EXP},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"trace", no_argument, NULL, O_TRACE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *ip_s = NULL, *sender = NULL, *helo = NULL;
    const char *anchors[MAX_ANCHORS + 1] = {NULL};
    unsigned n_anchors = 0;
    struct dns_config dcfg;
    dns_config_defaults(&dcfg);
    struct spf_query q;
    memset(&q, 0, sizeof(q));
    q.identity = SPF_ID_MAILFROM;
    int64_t check_ms = 20000;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_IP: ip_s = optarg; break;
        case O_SENDER: sender = optarg; break;
        case O_HELO: helo = optarg; break;
        case O_IDENTITY:
            if (strcmp(optarg, "mailfrom") == 0)
                q.identity = SPF_ID_MAILFROM;
            else if (strcmp(optarg, "helo") == 0)
                q.identity = SPF_ID_HELO;
            else {
                fprintf(stderr, "greyspf spf: --identity: mailfrom or helo\n");
                return 2;
            }
            break;
        case O_DNS:
            dcfg.forwarder = optarg;
            dcfg.no_local_zones = true;
            break;
        case O_NO_DNSSEC: dcfg.dnssec = false; break;
        case O_TA:
            if (n_anchors == MAX_ANCHORS) {
                fprintf(stderr, "greyspf spf: at most %d --trust-anchor\n", MAX_ANCHORS);
                return 2;
            }
            anchors[n_anchors++] = optarg;
            break;
        case O_TA_FILE: dcfg.trust_anchor_file = optarg; break;
        case O_DNS_TIMEOUT:
        case O_TIMEOUT: {
            int64_t ms = parse_seconds(optarg);
            if (ms < 0) {
                fprintf(stderr, "greyspf spf: %s: not a number of seconds (0..3600]\n",
                        optarg);
                return 2;
            }
            if (ch == O_TIMEOUT)
                check_ms = ms;
            else
                dcfg.timeout_ms = (uint32_t)ms;
            break;
        }
        case O_DEFAULT_EXP: q.default_exp = optarg; break;
        case O_RECEIVER: q.receiver = optarg; break;
        case O_TRACE: q.trace = true; break;
        case O_HELP: usage_spf(stdout); return 0;
        default: usage_spf(stderr); return 2;
        }
    }
    if (optind != argc || !ip_s || !helo || (q.identity == SPF_ID_MAILFROM && !sender)) {
        usage_spf(stderr);
        return 2;
    }
    if (!ip_parse(ip_s, strlen(ip_s), &q.ip)) {
        fprintf(stderr, "greyspf spf: --ip %s: not an IPv4 or IPv6 address\n", ip_s);
        return 2;
    }
    q.sender = sender ? sender : "";
    q.helo = helo;
    q.now_s = (int64_t)time(NULL);
    if (n_anchors) {
        dcfg.trust_anchors = anchors;
        if (!dcfg.trust_anchor_file)
            dcfg.trust_anchor_file = ""; /* the given anchors only */
    }

    char err[512];
    struct dns_resolver *r = dns_resolver_create(&dcfg, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "greyspf spf: resolver: %s\n", err);
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, dns_resolver_fd(r), &ev) < 0) {
        fprintf(stderr, "greyspf spf: epoll: %s\n", strerror(errno));
        dns_resolver_destroy(r);
        return 1;
    }
    struct arena a;
    arena_init(&a, NULL, 0);
    struct cli_state st = {0};
    uint64_t start = clock_mono_ms();
    struct spf_check *c = spf_check_start(r, &q, &a, start, start + (uint64_t)check_ms, on_done,
                                          &st);
    while (!spf_check_done(c)) {
        uint64_t now = clock_mono_ms();
        int64_t t = dns_resolver_next_timeout_ms(r, now);
        int64_t left = (int64_t)(spf_check_deadline_ms(c) - now);
        if (left < 0)
            left = 0;
        if (t < 0 || t > left)
            t = left;
        struct epoll_event out;
        if (epoll_wait(ep, &out, 1, (int)t) < 0 && errno != EINTR) {
            fprintf(stderr, "greyspf spf: epoll_wait: %s\n", strerror(errno));
            break;
        }
        now = clock_mono_ms();
        dns_resolver_process(r, now);
        if (!spf_check_done(c))
            spf_check_expire(c, now);
    }
    const struct spf_outcome *o = spf_check_done(c);
    int rc = 1;
    if (o) {
        rc = 0;
        printf("%s\n", spf_result_name(o->result));
        if (o->result == SPF_RESULT_FAIL)
            printf("%s\n", o->explanation ? o->explanation : "");
        if (q.trace) {
            printf("# domain=%s sender=%s mechanism=%s secure=%s dns_terms=%u "
                   "void_lookups=%u%s%s total_ms=%llu\n",
                   o->domain ? o->domain : "", o->sender ? o->sender : "",
                   o->mechanism ? o->mechanism : "", o->secure ? "yes" : "no", o->dns_terms,
                   o->void_lookups, o->problem ? " problem=" : "", o->problem ? o->problem : "",
                   (unsigned long long)(clock_mono_ms() - start));
            if (o->trace)
                printf("%s", o->trace);
            const char *lt = spf_check_lookups_trace(c);
            if (lt)
                printf("%s", lt);
        }
    }
    spf_check_free(c);
    arena_fini(&a);
    dns_resolver_destroy(r);
    close(ep);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: greyspf [-s SOCKET | -c CONFIG] COMMAND [ARGS...] [--json]\n"
               "local commands:\n"
               "  spf      evaluate SPF for one client/sender/HELO (greyspf spf --help)\n"
               "  import-postgrey [-c CONFIG] [--dry-run] DUMP...\n"
               "           load `db_dump -p` dumps of postgrey's databases into the\n"
               "           greylisting store (greyspfd stopped; greyspf import-postgrey --help)\n"
               "  version  print the version\n"
               "commands of the running greyspfd (its control socket, default "
               CONFIG_DEFAULT_CONTROL "):\n"
               "  help     list them (status, and the greylisting commands)\n"
               "  list [client=NET] [sender=A] [recipient=A] [state=S] [limit=N] | counts\n"
               "  show|delete CLIENT SENDER RECIPIENT | delete client=NET\n"
               "  whitelist add|remove client|recipient VALUE | whitelist list\n"
               "  -s SOCKET  the control socket; -c CONFIG  take it from [server] control\n");
}

/* encode_arg - percent-encode what the control protocol reserves: space, %, controls */
static void encode_arg(FILE *f, const char *a)
{
    for (const unsigned char *p = (const unsigned char *)a; *p; p++) {
        if (*p <= 0x20 || *p == '%' || *p == 0x7f)
            fprintf(f, "%%%02X", *p);
        else
            fputc(*p, f);
    }
}

/* cmd_remote - send argv as one command to the daemon's control socket, print the reply.
 * Exit 0 on "ok", 1 on "error: ..." or no daemon, 2 on usage. */
static int cmd_remote(const char *sock, int argc, char **argv)
{
    if (!*sock) {
        fprintf(stderr, "greyspf: the configuration turns the control socket off "
                        "([server] control is empty)\n");
        return 1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "greyspf: control socket path too long\n");
        return 2;
    }
    strcpy(sa.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "greyspf: cannot reach greyspfd at %s: %s\n", sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    char *req = NULL;
    size_t reqlen = 0;
    FILE *m = open_memstream(&req, &reqlen);
    for (int i = 0; i < argc; i++) {
        if (i)
            fputc(' ', m);
        encode_arg(m, argv[i]);
    }
    fputc('\n', m);
    fclose(m);
    ssize_t w = write(fd, req, reqlen);
    free(req);
    if (w != (ssize_t)reqlen) {
        fprintf(stderr, "greyspf: write to %s failed\n", sock);
        close(fd);
        return 1;
    }
    shutdown(fd, SHUT_WR);
    char buf[65536];
    size_t have = 0;
    int status = -1; /* unknown until the first line is complete */
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        if (status < 0) {
            char *nl = memchr(buf, '\n', have);
            if (!nl && have < sizeof(buf))
                continue;
            size_t first = nl ? (size_t)(nl - buf) + 1 : have;
            if (strncmp(buf, "ok\n", 3) == 0) {
                status = 0;
            } else {
                status = 1;
                fwrite(buf, 1, first, stderr);
            }
            fwrite(buf + first, 1, have - first, stdout);
        } else {
            fwrite(buf, 1, have, stdout);
        }
        have = 0;
    }
    close(fd);
    if (status < 0) {
        fprintf(stderr, "greyspf: no reply from greyspfd at %s\n", sock);
        return 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    const char *sock = CONFIG_DEFAULT_CONTROL;
    char *sock_from_cfg = NULL;
    const char *cfg_path = NULL; /* a global -c, for import-postgrey too */
    int i = 1;
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--json") != 0) {
        if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--socket") == 0) && i + 1 < argc) {
            sock = argv[i + 1];
            i += 2;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            struct config_error e;
            cfg_path = argv[i + 1];
            struct config *cfg = config_load(argv[i + 1], &e);
            if (!cfg) {
                fprintf(stderr, "greyspf: %s\n", e.msg);
                return 2;
            }
            free(sock_from_cfg);
            /* control off: local commands (import-postgrey) still work; remote ones say so */
            sock_from_cfg = xstrdup(cfg->control_path ? cfg->control_path : "");
            sock = sock_from_cfg;
            config_free(cfg);
            i += 2;
        } else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "--help") == 0) {
            break;
        } else {
            usage(stderr);
            return 2;
        }
    }
    argc -= i - 1;
    argv += i - 1;
    if (argc < 2) {
        usage(stderr);
        free(sock_from_cfg);
        return 2;
    }
    if (strcmp(argv[1], "spf") == 0)
        return cmd_spf(argc - 1, argv + 1);
    if (strcmp(argv[1], "import-postgrey") == 0) {
        /* "greyspf -c CONF import-postgrey ..." = "greyspf import-postgrey -c CONF ..." */
        char **args = xcalloc((size_t)argc + 3, sizeof(*args));
        int n = 0;
        args[n++] = argv[1];
        if (cfg_path) {
            args[n++] = (char *)"-c";
            args[n++] = (char *)cfg_path;
        }
        for (int k = 2; k < argc; k++)
            args[n++] = argv[k];
        int rc = postgrey_import_main(n, args, (int64_t)time(NULL));
        free(args);
        free(sock_from_cfg);
        return rc;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("greyspf %s\n", GREYSPF_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    int rc = cmd_remote(sock, argc - 1, argv + 1);
    free(sock_from_cfg);
    return rc;
}
