/* tests/unit/engine/test_sd_notify.c - systemd notification and socket activation without
 * systemd: a bound unix datagram socket (path and abstract) stands in for $NOTIFY_SOCKET;
 * socket activation runs in a forked child with real sockets dup2'ed to 3 and 4 and a fake
 * $LISTEN_PID/$LISTEN_FDS, since it must own descriptors 3.. and its pid. Temporary files
 * live in a mkdtemp directory under $TMPDIR (or /tmp) and are removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/sd_notify.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* tmpdir_make - a fresh private directory; path written into dir */
static void tmpdir_make(char *dir, size_t n)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base || strlen(base) > 40)
        base = "/tmp";
    snprintf(dir, n, "%s/greyspf-sdn-XXXXXX", base);
    assert_non_null(mkdtemp(dir));
}

/* dgram_bind - a unix datagram socket bound at addr (path, or "@name" for abstract) */
static int dgram_bind(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    socklen_t salen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '@' ? 0 : 1));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, salen), 0);
    return fd;
}

/* recv_str - one datagram from fd as a string (non-blocking: it must already be there) */
static void recv_str(int fd, char *buf, size_t n)
{
    ssize_t got = recv(fd, buf, n - 1, MSG_DONTWAIT);
    if (got < 0) {
        print_error("recv: %s\n", strerror(errno));
        fail();
    }
    buf[got] = '\0';
}

static void test_notify_unset(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sd_notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(sd_notify_send("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

/* notify_roundtrip - NOTIFY_SOCKET=addr: every state arrives as one datagram, unchanged */
static void notify_roundtrip(const char *addr)
{
    static const char *const states[] = {"READY=1", "RELOADING=1\nMONOTONIC_USEC=12345",
                                         "READY=1\nSTATUS=serving", "STOPPING=1"};
    int fd = dgram_bind(addr);
    setenv("NOTIFY_SOCKET", addr, 1);
    for (size_t i = 0; i < N(states); i++) {
        char got[256];
        int rc = sd_notify_send(states[i]);
        if (rc != 1) {
            print_error("%s %s: got %d (%s: %s), want 1\n", addr, states[i], rc,
                        sd_notify_strerror(rc), strerror(errno));
            fail();
        }
        recv_str(fd, got, sizeof(got));
        if (strcmp(got, states[i]) != 0) {
            print_error("%s: got \"%s\", want \"%s\"\n", addr, got, states[i]);
            fail();
        }
    }
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_notify_path(void **state)
{
    (void)state;
    char dir[64], path[96];
    tmpdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    notify_roundtrip(path);
    unlink(path);
    rmdir(dir);
}

static void test_notify_abstract(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@greyspf-test-sdn-%ld", (long)getpid());
    notify_roundtrip(name);
}

struct bad_notify_case {
    const char *name;
    const char *value; /* NULL: a path that is a closed socket in a temp dir */
    int want;
    int want_errno; /* 0: not checked */
};

static void test_notify_bad(void **state)
{
    (void)state;
    char long_path[160], long_abstract[160], dir[64], stale[96];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    memset(long_abstract, 'a', sizeof(long_abstract) - 1);
    long_abstract[0] = '@';
    long_abstract[sizeof(long_abstract) - 1] = '\0';
    tmpdir_make(dir, sizeof(dir));
    snprintf(stale, sizeof(stale), "%s/stale", dir);
    close(dgram_bind(stale)); /* the file stays; nobody reads it */

    const struct bad_notify_case cases[] = {
        {"relative path", "run/notify", SD_NOTIFY_ERR_ADDR, 0},
        {"bare @", "@", SD_NOTIFY_ERR_ADDR, 0},
        {"vsock (systemd 254+)", "vsock:2:1234", SD_NOTIFY_ERR_ADDR, 0},
        {"path too long", long_path, SD_NOTIFY_ERR_ADDR, 0},
        {"abstract too long", long_abstract, SD_NOTIFY_ERR_ADDR, 0},
        {"no such file", "/nonexistent-greyspf-dir/notify", SD_NOTIFY_ERR_SEND, ENOENT},
        {"nobody listening", stale, SD_NOTIFY_ERR_SEND, ECONNREFUSED},
    };
    int failures = 0;
    for (size_t i = 0; i < N(cases); i++) {
        const struct bad_notify_case *c = &cases[i];
        setenv("NOTIFY_SOCKET", c->value, 1);
        errno = 0;
        int rc = sd_notify_send("READY=1");
        int e = errno;
        if (rc != c->want || (c->want_errno && e != c->want_errno)) {
            print_error("%s: got %d errno %d (%s), want %d errno %d\n", c->name, rc, e, strerror(e),
                        c->want, c->want_errno);
            failures++;
        }
    }
    unsetenv("NOTIFY_SOCKET");
    unlink(stale);
    rmdir(dir);
    assert_int_equal(failures, 0);
}

/* --- socket activation, each case in a child ------------------------------------------------ */

enum pid_mode { PID_SELF, PID_OTHER, PID_ABSENT, PID_TEXT };

struct listen_case {
    const char *name;
    enum pid_mode pid;
    const char *pid_text; /* PID_TEXT */
    const char *fds;      /* LISTEN_FDS, NULL: absent */
    int open;             /* sockets placed at 3.. (0..2: unix stream, then inet) */
    bool null_out;        /* pass NULL for the array */
    int want;
};

static const struct listen_case listen_cases[] = {
    {"two sockets", PID_SELF, NULL, "2", 2, false, 2},
    {"one socket", PID_SELF, NULL, "1", 2, false, 1},
    {"NULL array", PID_SELF, NULL, "2", 2, true, 2},
    {"no variables", PID_ABSENT, NULL, NULL, 2, false, 0},
    {"LISTEN_FDS without LISTEN_PID", PID_ABSENT, NULL, "2", 2, false, 0},
    {"LISTEN_PID without LISTEN_FDS", PID_SELF, NULL, NULL, 2, false, 0},
    {"another process's", PID_OTHER, NULL, "2", 2, false, 0},
    {"zero descriptors", PID_SELF, NULL, "0", 0, false, 0},
    {"count not a number", PID_SELF, NULL, "2x", 2, false, SD_NOTIFY_ERR_ENV},
    {"count negative", PID_SELF, NULL, "-1", 2, false, SD_NOTIFY_ERR_ENV},
    {"count empty", PID_SELF, NULL, "", 2, false, SD_NOTIFY_ERR_ENV},
    {"count too large", PID_SELF, NULL, "100000", 2, false, SD_NOTIFY_ERR_ENV},
    {"pid empty", PID_TEXT, "", "2", 2, false, SD_NOTIFY_ERR_ENV},
    {"pid zero", PID_TEXT, "0", "2", 2, false, SD_NOTIFY_ERR_ENV},
    {"pid with space", PID_TEXT, " 1", "2", 2, false, SD_NOTIFY_ERR_ENV},
    {"descriptor 5 closed", PID_SELF, NULL, "3", 2, false, SD_NOTIFY_ERR_FD},
};

#define CHILD_CHECK(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: ", c->name);                                                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* move_to - place fd at target (which must differ from every other live fd we care about) */
static void move_to(int fd, int target)
{
    if (fd != target) {
        dup2(fd, target);
        close(fd);
    }
}

/* listen_child - the child's whole case; exits 0 on success, 1 with a message otherwise */
static void listen_child(const struct listen_case *c, const char *sock_path)
{
    for (int fd = 3; fd < 16; fd++)
        close(fd);
    /* make both sockets first, far from 3..5, then move them: socket() may return 3 itself */
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    int in = socket(AF_INET, SOCK_STREAM, 0);
    CHILD_CHECK(u >= 0 && in >= 0, "socket: %s", strerror(errno));
    int hu = fcntl(u, F_DUPFD, 20), hin = fcntl(in, F_DUPFD, 20);
    close(u);
    close(in);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    CHILD_CHECK(bind(hu, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(hu, 8) == 0,
                "bind unix %s: %s", sock_path, strerror(errno));
    struct sockaddr_in si = {.sin_family = AF_INET, .sin_port = 0};
    si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHILD_CHECK(bind(hin, (struct sockaddr *)&si, sizeof(si)) == 0 && listen(hin, 8) == 0,
                "bind 127.0.0.1:0: %s", strerror(errno));
    socklen_t sl = sizeof(si);
    CHILD_CHECK(getsockname(hin, (struct sockaddr *)&si, &sl) == 0, "getsockname");
    if (c->open >= 1)
        move_to(hu, 3);
    if (c->open >= 2)
        move_to(hin, 4);

    char buf[32];
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    switch (c->pid) {
    case PID_SELF:
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        setenv("LISTEN_PID", buf, 1);
        break;
    case PID_OTHER:
        snprintf(buf, sizeof(buf), "%ld", (long)getpid() + 1);
        setenv("LISTEN_PID", buf, 1);
        break;
    case PID_TEXT:
        setenv("LISTEN_PID", c->pid_text, 1);
        break;
    case PID_ABSENT:
        break;
    }
    if (c->fds)
        setenv("LISTEN_FDS", c->fds, 1);
    setenv("LISTEN_FDNAMES", "policy:policy-tcp", 1);

    int sentinel = -1, *fds = &sentinel; /* must be overwritten */
    int rc = sd_listen_fds_take(c->null_out ? NULL : &fds);
    CHILD_CHECK(rc == c->want, "got %d (%s), want %d", rc, sd_notify_strerror(rc), c->want);
    CHILD_CHECK(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"),
                "got the variables still set, want them unset");
    if (!c->null_out && rc <= 0)
        CHILD_CHECK(fds == NULL, "got an array with %d, want NULL", rc);
    for (int i = 0; i < rc; i++) {
        int fd = 3 + i;
        if (!c->null_out)
            CHILD_CHECK(fds[i] == fd, "got fds[%d] = %d, want %d", i, fds[i], fd);
        int fl = fcntl(fd, F_GETFD);
        CHILD_CHECK(fl >= 0 && (fl & FD_CLOEXEC), "got fd %d without FD_CLOEXEC, want it", fd);
    }
    if (rc == 0 && c->open >= 1) { /* not ours: left alone */
        int fl = fcntl(3, F_GETFD);
        CHILD_CHECK(fl >= 0 && !(fl & FD_CLOEXEC), "got fd 3 changed, want it untouched");
    }
    if (rc >= 2) {
        char d[SD_DESCRIBE_MAX], want[SD_DESCRIBE_MAX];
        snprintf(want, sizeof(want), "unix:%s", sock_path);
        const char *got = sd_fd_describe(3, d, sizeof(d));
        CHILD_CHECK(got && strcmp(got, want) == 0, "fd 3: got %s, want %s", got ? got : "NULL",
                    want);
        snprintf(want, sizeof(want), "inet:127.0.0.1:%u", (unsigned)ntohs(si.sin_port));
        got = sd_fd_describe(4, d, sizeof(d));
        CHILD_CHECK(got && strcmp(got, want) == 0, "fd 4: got %s, want %s", got ? got : "NULL",
                    want);
    }
    if (!c->null_out && rc > 0)
        free(fds);
    unlink(sock_path);
    _exit(0);
}

static void test_listen_fds(void **state)
{
    (void)state;
    char dir[64], path[96];
    tmpdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/policy.sock", dir);
    int failures = 0;
    for (size_t i = 0; i < N(listen_cases); i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            listen_child(&listen_cases[i], path);
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            print_error("listen case \"%s\" failed (status 0x%x)\n", listen_cases[i].name, st);
            failures++;
        }
        unlink(path);
    }
    rmdir(dir);
    assert_int_equal(failures, 0);
}

/* in the test process itself: no LISTEN_PID means no descriptors, and fds is cleared */
static void test_listen_fds_not_activated(void **state)
{
    (void)state;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    int dummy, *fds = &dummy;
    assert_int_equal(sd_listen_fds_take(&fds), 0);
    assert_null(fds);
}

/* --- sd_fd_describe ------------------------------------------------------------------------- */

static void expect_describe(const char *what, int fd, size_t n, const char *want)
{
    char buf[SD_DESCRIBE_MAX];
    assert_true(n <= sizeof(buf));
    const char *got = sd_fd_describe(fd, buf, n);
    if ((got == NULL) != (want == NULL) || (got && want && strcmp(got, want) != 0)) {
        print_error("%s: got %s, want %s\n", what, got ? got : "NULL", want ? want : "NULL");
        fail();
    }
}

static void test_describe(void **state)
{
    (void)state;
    char dir[64], path[96], want[SD_DESCRIBE_MAX];
    tmpdir_make(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/s", dir);

    int u = dgram_bind(path);
    snprintf(want, sizeof(want), "unix:%s", path);
    expect_describe("unix path", u, SD_DESCRIBE_MAX, want);
    expect_describe("unix path, buffer one short", u, strlen(want), NULL);
    expect_describe("unix path, exact buffer", u, strlen(want) + 1, want);
    close(u);
    unlink(path);
    rmdir(dir);

    char name[64];
    snprintf(name, sizeof(name), "@greyspf-test-desc-%ld", (long)getpid());
    int a = dgram_bind(name);
    snprintf(want, sizeof(want), "unix:%s", name);
    expect_describe("unix abstract", a, SD_DESCRIBE_MAX, want);
    expect_describe("unix abstract, buffer one short", a, strlen(want), NULL);
    close(a);

    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    expect_describe("socketpair", sp[0], SD_DESCRIBE_MAX, "unix:(unnamed)");
    close(sp[0]);
    close(sp[1]);

    int in = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in si = {.sin_family = AF_INET};
    si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(in, (struct sockaddr *)&si, sizeof(si)), 0);
    socklen_t sl = sizeof(si);
    assert_int_equal(getsockname(in, (struct sockaddr *)&si, &sl), 0);
    snprintf(want, sizeof(want), "inet:127.0.0.1:%u", (unsigned)ntohs(si.sin_port));
    expect_describe("inet", in, SD_DESCRIBE_MAX, want);
    close(in);

    int in6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (in6 >= 0 && bind(in6, (struct sockaddr *)&s6, sizeof(s6)) == 0) {
        sl = sizeof(s6);
        assert_int_equal(getsockname(in6, (struct sockaddr *)&s6, &sl), 0);
        snprintf(want, sizeof(want), "inet:[::1]:%u", (unsigned)ntohs(s6.sin6_port));
        expect_describe("inet6", in6, SD_DESCRIBE_MAX, want);
    } else {
        print_message("inet6: no ::1 here, skipped\n");
    }
    if (in6 >= 0)
        close(in6);

    int p[2];
    assert_int_equal(pipe(p), 0);
    expect_describe("pipe", p[0], SD_DESCRIBE_MAX, NULL);
    close(p[0]);
    close(p[1]);
    expect_describe("closed descriptor", p[0], SD_DESCRIBE_MAX, NULL);
}

static void test_strerror(void **state)
{
    (void)state;
    static const int errs[] = {SD_NOTIFY_ERR_ADDR, SD_NOTIFY_ERR_SOCKET, SD_NOTIFY_ERR_SEND,
                               SD_NOTIFY_ERR_ENV, SD_NOTIFY_ERR_FD};
    for (size_t i = 0; i < N(errs); i++)
        assert_string_not_equal(sd_notify_strerror(errs[i]), "unknown error");
    assert_string_equal(sd_notify_strerror(-99), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_unset),    cmocka_unit_test(test_notify_path),
        cmocka_unit_test(test_notify_abstract), cmocka_unit_test(test_notify_bad),
        cmocka_unit_test(test_listen_fds),      cmocka_unit_test(test_listen_fds_not_activated),
        cmocka_unit_test(test_describe),        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
