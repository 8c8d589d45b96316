/* engine/greyspfd_main.c - greyspfd: the policy daemon's main(). Glue only. */
#include "engine/base/log.h"
#include "engine/config.h"
#include "engine/sd_notify.h"
#include "engine/server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: greyspfd [-c FILE] [-f | -n] [--check-config]\n"
               "  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
               "  -f, --foreground    stay in the foreground and log to stderr\n"
               "  -n, --no-fork       stay in the foreground, log to syslog (for systemd)\n"
               "  -t, --check-config  validate the configuration and exit (0 valid, 1 not)\n"
               "  -V, --version       print the version\n"
               "  -h, --help          this text\n");
}

/* daemonize - fork into the background; the parent exits with the child's start-up result
 * (see daemon_report), the child returns 0 with *report the pipe to write it to */
static int daemonize(int *report)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "greyspfd: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "greyspfd: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0) { /* parent: relay the child's verdict */
        close(p[1]);
        char buf[CONFIG_ERR_MAX + 64];
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        if (n == 2 && memcmp(buf, "OK", 2) == 0)
            _exit(0);
        if (n > 0) {
            buf[n] = '\0';
            fprintf(stderr, "greyspfd: %s\n", buf);
        } else {
            fprintf(stderr, "greyspfd: the daemon exited during start-up\n");
        }
        _exit(1);
    }
    close(p[0]);
    if (setsid() < 0 || chdir("/") < 0)
        return -1;
    *report = p[1];
    return 0;
}

/* daemon_report - tell the waiting parent "OK" (err NULL) or the error, then detach stdio */
static void daemon_report(int fd, const char *err)
{
    if (fd < 0)
        return;
    const char *m = err ? err : "OK";
    ssize_t w = write(fd, m, strlen(m));
    (void)w;
    close(fd);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"foreground", no_argument, NULL, 'f'},
        {"no-fork", no_argument, NULL, 'n'},
        {"check-config", no_argument, NULL, 't'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = CONFIG_DEFAULT_PATH;
    int foreground = 0, nofork = 0, check = 0, ch;
    while ((ch = getopt_long(argc, argv, "c:fntVh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': path = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': nofork = 1; break;
        case 't': check = 1; break;
        case 'V': printf("greyspfd %s\n", GREYSPF_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    struct config_error err;
    struct config *cfg = config_load(path, &err);
    if (!cfg) {
        fprintf(stderr, "greyspfd: %s\n", err.msg);
        return 1;
    }
    if (check) {
        printf("greyspfd: %s: configuration OK\n", path);
        config_free(cfg);
        return 0;
    }

    /* systemd socket activation: the listeners come ready-made (still single-threaded) */
    int *fds = NULL;
    int nfds = sd_listen_fds_take(&fds);
    if (nfds < 0) {
        fprintf(stderr, "greyspfd: socket activation: %s\n", sd_notify_strerror(nfds));
        config_free(cfg);
        return 1;
    }
    server_block_signals(); /* before any thread, the log thread included */
    log_set_level((enum log_level)cfg->log_level);
    /* Daemonize before server_create: it opens RocksDB, which starts threads a fork would
     * lose. The parent waits for the child's verdict on a pipe, so a busy port or a bad
     * socket path still fails on the terminal with the real message. */
    int report = -1;
    if (!foreground && !nofork && daemonize(&report) != 0) {
        config_free(cfg);
        free(fds);
        return 1;
    }
    char msg[CONFIG_ERR_MAX + 64];
    struct server *s = server_create(cfg, fds, nfds, msg, sizeof(msg));
    free(fds);
    if (!s) {
        if (report < 0)
            fprintf(stderr, "greyspfd: %s\n", msg);
        daemon_report(report, msg); /* the waiting parent prints it */
        return 1;
    }
    daemon_report(report, NULL);
    if (log_open(foreground ? LOG_SINK_STDERR : LOG_SINK_SYSLOG, "greyspf", LOG_MAIL) != 0) {
        fprintf(stderr, "greyspfd: cannot start logging\n");
        server_destroy(s);
        return 1;
    }
    log_info("greyspfd %s starting with %s", GREYSPF_VERSION, path);
    int rc = server_run(s);
    server_destroy(s);
    log_close();
    return rc;
}
