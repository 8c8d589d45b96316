/* loadtest/endpoint.h - "inet:HOST:PORT" and "unix:/path" endpoints for the load tools.
 * HOST is a numeric IPv4 address or a bracketed IPv6 one ("[::1]"); no name lookups.
 * Sockets are created non-blocking and close-on-exec. */
#ifndef GREYSPF_LOADTEST_ENDPOINT_H
#define GREYSPF_LOADTEST_ENDPOINT_H
#include <stddef.h>
#include <sys/socket.h>

#define ENDPOINT_TEXT_MAX 160

struct endpoint {
    int family; /* AF_INET, AF_INET6, AF_UNIX */
    socklen_t addrlen;
    struct sockaddr_storage addr;
    char text[ENDPOINT_TEXT_MAX]; /* as given, for reports */
};

/* endpoint_parse - fill ep from s. Returns 0, or -1 with a reason in why. */
int endpoint_parse(const char *s, struct endpoint *ep, char *why, size_t whylen);
/* endpoint_listen - bind and listen (SO_REUSEADDR; a stale unix socket file is replaced,
 * never any other file). With port 0, ep->addr gets the chosen port. Returns the fd or
 * -errno. */
int endpoint_listen(struct endpoint *ep, int backlog);
/* endpoint_connect_start - socket() + non-blocking connect(). Returns the fd and sets
 * *in_progress (1: wait for EPOLLOUT, then endpoint_connect_result), or -errno; -EAGAIN
 * means a full unix listen queue: try again later. */
int endpoint_connect_start(const struct endpoint *ep, int *in_progress);
/* endpoint_connect_result - 0 once an in-progress connect succeeded, else -errno */
int endpoint_connect_result(int fd);
/* endpoint_port - the port of an inet endpoint, 0 for unix */
unsigned endpoint_port(const struct endpoint *ep);

#endif
