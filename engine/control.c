/* engine/control.c - the control socket; see control.h.
 * Threads: one control thread accepts and serves clients one at a time (admin traffic is
 * rare and short); a client gets CONTROL_TIMEOUT_MS to send its line. The command table is
 * written before control_start and only read afterwards. */
#include "engine/control.h"
#include "engine/base/alloc.h"
#include "engine/base/hex.h"
#include "engine/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_LINE_MAX 4096
#define CONTROL_ARGS_MAX 32
#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_CMDS_MAX 32

struct cmd {
    char *name, *usage;
    control_cmd_fn fn;
    void *arg;
};

struct control {
    int fd;
    int stop_pipe[2];
    char *path;
    pthread_t thread;
    bool running;
    struct cmd cmds[CONTROL_CMDS_MAX];
    unsigned n_cmds;
};

void control_printf(struct control_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    if (o->len + (size_t)n + 1 > o->cap) {
        o->cap = (o->len + (size_t)n + 1) * 2;
        o->buf = xrealloc(o->buf, o->cap);
    }
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

void control_json_string(struct control_out *o, const char *s)
{
    control_printf(o, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            control_printf(o, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            control_printf(o, "\\u%04x", *p);
        else
            control_printf(o, "%c", *p);
    }
    control_printf(o, "\"");
}

int control_fail(struct control_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof(o->err), fmt, ap);
    va_end(ap);
    return -1;
}

int control_decode_args(char *line, char **argv, int max, bool *json)
{
    int argc = 0;
    *json = false;
    char *save = NULL;
    for (char *tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "--json") == 0) { /* the flag as written; "%2D%2Djson" is data */
            *json = true;
            continue;
        }
        char *w = tok;
        for (char *r = tok; *r; r++) {
            if (*r == '%') {
                int hi = hex_value(r[1]), lo = hi >= 0 ? hex_value(r[2]) : -1;
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                    return -1;
                *w++ = (char)(hi * 16 + lo);
                r += 2;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        if (argc == max)
            return -1;
        argv[argc++] = tok;
    }
    return argc;
}

/* help - the built-in command list */
static int cmd_help(void *arg, int argc, char **argv, struct control_out *o)
{
    (void)argc;
    (void)argv;
    struct control *c = arg;
    for (unsigned i = 0; i < c->n_cmds; i++) {
        if (o->json)
            continue;
        control_printf(o, "%s\n", c->cmds[i].usage);
    }
    if (o->json) {
        control_printf(o, "[");
        for (unsigned i = 0; i < c->n_cmds; i++) {
            control_printf(o, i ? "," : "");
            control_json_string(o, c->cmds[i].usage);
        }
        control_printf(o, "]\n");
    }
    return 0;
}

/* write_all - best effort: the client may have gone */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* serve - read one line from cfd, run the command, write the reply */
static void serve(struct control *c, int cfd)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
        static const char denied[] = "error: permission denied\n";
        write_all(cfd, denied, sizeof(denied) - 1);
        log_warn("control: refused a client with uid %d", (int)cred.uid);
        return;
    }
    char line[CONTROL_LINE_MAX + 1];
    size_t n = 0;
    while (n < CONTROL_LINE_MAX) {
        struct pollfd p = {.fd = cfd, .events = POLLIN};
        if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
            return;
        ssize_t r = recv(cfd, line + n, CONTROL_LINE_MAX - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        if (memchr(line, '\n', n))
            break;
    }
    char *nl = memchr(line, '\n', n);
    struct control_out out = {0};
    char *argv[CONTROL_ARGS_MAX];
    int argc = -1;
    if (!nl) {
        control_fail(&out, "request line longer than %d bytes", CONTROL_LINE_MAX);
    } else {
        *nl = '\0';
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (strlen(line) != (size_t)(nl - line) && strlen(line) + 1 != (size_t)(nl - line))
            control_fail(&out, "NUL byte in request");
        else if ((argc = control_decode_args(line, argv, CONTROL_ARGS_MAX, &out.json)) < 0)
            control_fail(&out, "bad request: malformed %%-escape or too many arguments");
        else if (argc == 0)
            control_fail(&out, "empty request (try: help)");
    }
    if (!out.err[0]) {
        unsigned i = 0;
        while (i < c->n_cmds && strcmp(c->cmds[i].name, argv[0]) != 0)
            i++;
        if (i == c->n_cmds)
            control_fail(&out, "unknown command \"%.64s\" (try: help)", argv[0]);
        else if (c->cmds[i].fn(c->cmds[i].arg, argc, argv, &out) != 0 && !out.err[0])
            control_fail(&out, "%s failed", argv[0]);
    }
    if (out.err[0]) {
        char msg[300];
        int m = snprintf(msg, sizeof(msg), "error: %s\n", out.err);
        write_all(cfd, msg, (size_t)m);
    } else {
        write_all(cfd, "ok\n", 3);
        if (out.len)
            write_all(cfd, out.buf, out.len);
    }
    free(out.buf);
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    pthread_setname_np(pthread_self(), "greyspf-ctl");
    for (;;) {
        struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                              {.fd = c->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("control: poll: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        int cfd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        serve(c, cfd);
        close(cfd);
    }
    return NULL;
}

struct control *control_create(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control socket %s: path too long", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "control socket %s: mkdir %s: %s", path, dir, strerror(errno));
            free(dir);
            return NULL;
        }
    }
    free(dir);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
            return NULL;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "control socket %s: another greyspfd is listening there",
                     path);
            return NULL;
        }
        if (probe >= 0)
            close(probe);
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        return NULL;
    }
    mode_t old = umask(0177); /* 0600 from the start */
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct control *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->path = xstrdup(path);
    if (pipe2(c->stop_pipe, O_CLOEXEC) < 0)
        PANIC("control: pipe2: %s", strerror(errno));
    control_register(c, "help", "help                 this list", cmd_help, c);
    return c;
}

void control_register(struct control *c, const char *name, const char *usage, control_cmd_fn fn,
                      void *arg)
{
    if (c->running || c->n_cmds == CONTROL_CMDS_MAX)
        PANIC("control: cannot register %s", name);
    c->cmds[c->n_cmds++] = (struct cmd){xstrdup(name), xstrdup(usage), fn, arg};
}

int control_start(struct control *c)
{
    int rc = pthread_create(&c->thread, NULL, control_main, c);
    if (rc)
        return -rc;
    c->running = true;
    return 0;
}

void control_destroy(struct control *c)
{
    if (!c)
        return;
    if (c->running) {
        ssize_t w = write(c->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(c->thread, NULL);
    }
    close(c->fd);
    close(c->stop_pipe[0]);
    close(c->stop_pipe[1]);
    unlink(c->path);
    free(c->path);
    for (unsigned i = 0; i < c->n_cmds; i++) {
        free(c->cmds[i].name);
        free(c->cmds[i].usage);
    }
    free(c);
}
