/* loadtest/endpoint.c - see endpoint.h. */
#include "loadtest/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int endpoint_parse(const char *s, struct endpoint *ep, char *why, size_t whylen)
{
    memset(ep, 0, sizeof *ep);
    if (strlen(s) >= sizeof ep->text) {
        snprintf(why, whylen, "endpoint too long");
        return -1;
    }
    snprintf(ep->text, sizeof ep->text, "%s", s);
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ep->addr;
        const char *path = s + 5;
        if (!*path || strlen(path) >= sizeof sun->sun_path) {
            snprintf(why, whylen, "unix socket path empty or longer than %zu bytes",
                     sizeof sun->sun_path - 1);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, strlen(path) + 1);
        ep->family = AF_UNIX;
        ep->addrlen = (socklen_t)sizeof *sun;
        return 0;
    }
    if (strncmp(s, "inet:", 5) != 0) {
        snprintf(why, whylen, "endpoint must be inet:HOST:PORT or unix:/path");
        return -1;
    }
    char host[ENDPOINT_TEXT_MAX];
    const char *rest = s + 5, *port;
    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen, "IPv6 host must be [ADDR]:PORT");
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close - rest - 1), rest + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(rest, ':');
        if (!colon) {
            snprintf(why, whylen, "missing :PORT");
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - rest), rest);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                    *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, whylen, "bad numeric address or port \"%s\" \"%s\": %s", host, port,
                 gai_strerror(rc));
        return -1;
    }
    memcpy(&ep->addr, res->ai_addr, res->ai_addrlen);
    ep->addrlen = res->ai_addrlen;
    ep->family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

int endpoint_listen(struct endpoint *ep, int backlog)
{
    int fd = socket(ep->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (ep->family == AF_UNIX) {
        const char *path = ((struct sockaddr_un *)&ep->addr)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *)&ep->addr, ep->addrlen) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (ep->family != AF_UNIX) {
        socklen_t len = sizeof ep->addr;
        getsockname(fd, (struct sockaddr *)&ep->addr, &len);
    }
    return fd;
}

int endpoint_connect_start(const struct endpoint *ep, int *in_progress)
{
    *in_progress = 0;
    int fd = socket(ep->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (ep->family != AF_UNIX) {
        /* a request is one write, so Nagle rarely matters; it would after a short write */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        *in_progress = 1;
        return fd;
    }
    int e = errno;
    close(fd);
    return -e;
}

int endpoint_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return err ? -err : 0;
}

unsigned endpoint_port(const struct endpoint *ep)
{
    if (ep->family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&ep->addr)->sin_port);
    if (ep->family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&ep->addr)->sin6_port);
    return 0;
}
