/* engine/sd_notify.c - systemd readiness notification and socket activation without
 * libsystemd; see sd_notify.h.
 *
 * Wire facts (sd_notify(3), sd_listen_fds(3), systemd 252):
 *   NOTIFY_SOCKET = "/abs/path" | "@abstract-name"  ; AF_UNIX SOCK_DGRAM, one datagram per
 *                                                     state; systemd identifies the sender by
 *                                                     the kernel's SCM_CREDENTIALS (its socket
 *                                                     has SO_PASSCRED), so we send none
 *   LISTEN_PID     = decimal pid the descriptors are meant for
 *   LISTEN_FDS     = decimal count N; descriptors are 3 .. 3+N-1, in ListenStream= order
 *   LISTEN_FDNAMES = colon-separated names (ignored: sd_fd_describe says what each one is)
 * No globals; no allocation except the array sd_listen_fds_take returns. */
#include "engine/sd_notify.h"
#include "engine/base/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* notify_addr - fill sa from $NOTIFY_SOCKET's value; the address length, or 0 if malformed */
static socklen_t notify_addr(const char *e, struct sockaddr_un *sa)
{
    size_t len = strlen(e);
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (e[0] == '/') {
        if (len >= sizeof(sa->sun_path)) /* a path needs its NUL */
            return 0;
        memcpy(sa->sun_path, e, len + 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    if (e[0] == '@' && len >= 2) {
        if (len > sizeof(sa->sun_path)) /* '@' becomes the leading NUL; no trailing NUL */
            return 0;
        memcpy(sa->sun_path + 1, e + 1, len - 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return 0;
}

int sd_notify_send(const char *state)
{
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e || !*e)
        return 0;
    struct sockaddr_un sa;
    socklen_t salen = notify_addr(e, &sa);
    if (!salen)
        return SD_NOTIFY_ERR_ADDR;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SD_NOTIFY_ERR_SOCKET;
    ssize_t n;
    do
        n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return SD_NOTIFY_ERR_SEND;
    }
    return 1;
}

/* parse_env_uint - $name as a decimal in [0, max]: 0 with *out, 1 if absent, -1 if malformed */
static int parse_env_uint(const char *name, unsigned long max, unsigned long *out)
{
    const char *s = getenv(name);
    if (!s)
        return 1;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || s[n] != '\0' || n > 10)
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno || v > max)
        return -1;
    *out = v;
    return 0;
}

int sd_listen_fds_take(int **fds)
{
    unsigned long pid = 0, count = 0;
    int rp = parse_env_uint("LISTEN_PID", INT32_MAX, &pid);
    int rc = parse_env_uint("LISTEN_FDS", SD_LISTEN_FDS_MAX, &count);
    int ret = 0;
    if (fds)
        *fds = NULL;
    if (rp == 1 || rc == 1) /* absent: not socket-activated */
        goto done;
    if (rp < 0 || rc < 0 || pid == 0) {
        ret = SD_NOTIFY_ERR_ENV;
        goto done;
    }
    if (pid != (unsigned long)getpid() || count == 0)
        goto done;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)count; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            ret = SD_NOTIFY_ERR_FD;
            goto done;
        }
    }
    if (fds) {
        *fds = xmalloc(count * sizeof(int));
        for (unsigned long i = 0; i < count; i++)
            (*fds)[i] = SD_LISTEN_FDS_START + (int)i;
    }
    ret = (int)count;
done:;
    int saved = errno;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    errno = saved;
    return ret;
}

const char *sd_fd_describe(int fd, char *buf, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    int w;
    memset(&ss, 0, sizeof(ss));
    if (!buf || n == 0 || getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return NULL;
    switch (ss.ss_family) {
    case AF_INET: {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)))
            return NULL;
        w = snprintf(buf, n, "inet:%s:%u", host, (unsigned)ntohs(a->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)))
            return NULL;
        w = snprintf(buf, n, "inet:[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *a = (const struct sockaddr_un *)&ss;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path)
                          ? len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (plen > sizeof(a->sun_path))
            plen = sizeof(a->sun_path);
        if (plen == 0) {
            w = snprintf(buf, n, "unix:(unnamed)");
        } else if (a->sun_path[0] == '\0') { /* abstract: any bytes; show printable ones */
            if (n < plen + 6)
                return NULL;
            memcpy(buf, "unix:@", 6);
            for (size_t i = 1; i < plen; i++) {
                unsigned char c = (unsigned char)a->sun_path[i];
                buf[5 + i] = c >= 0x21 && c < 0x7f ? (char)c : '?';
            }
            buf[5 + plen] = '\0';
            return buf;
        } else {
            w = snprintf(buf, n, "unix:%.*s", (int)strnlen(a->sun_path, plen), a->sun_path);
        }
        break;
    }
    default:
        return NULL;
    }
    if (w < 0 || (size_t)w >= n)
        return NULL;
    return buf;
}

const char *sd_notify_strerror(int err)
{
    switch (err) {
    case 0:
        return "no error";
    case SD_NOTIFY_ERR_ADDR:
        return "NOTIFY_SOCKET is not an absolute path or @abstract name";
    case SD_NOTIFY_ERR_SOCKET:
        return "cannot create a notification socket";
    case SD_NOTIFY_ERR_SEND:
        return "cannot send to NOTIFY_SOCKET";
    case SD_NOTIFY_ERR_ENV:
        return "LISTEN_PID or LISTEN_FDS is malformed";
    case SD_NOTIFY_ERR_FD:
        return "a descriptor passed in LISTEN_FDS is not open";
    }
    return "unknown error";
}
