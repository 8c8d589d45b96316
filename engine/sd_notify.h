/* engine/sd_notify.h - the two systemd protocols greyspfd speaks: readiness notification
 * ($NOTIFY_SOCKET, sd_notify(3)) and socket activation ($LISTEN_PID/$LISTEN_FDS,
 * sd_listen_fds(3)).
 *
 * Why not libsystemd: both protocols are stable, documented and a few dozen lines each (a
 * datagram to a unix socket; descriptors from 3 upward named by two environment variables),
 * while libsystemd would add a run-time dependency (and its own dependencies: lz4, zstd,
 * gcrypt...) to a daemon that also runs without systemd. Without systemd every call here is
 * a harmless no-op.
 *
 * Thread-safety: these functions read the environment. sd_listen_fds_take also changes it
 * (unsetenv) and must run while the process has one thread, before any thread is started
 * (the log thread included). sd_notify_send may be called from any thread afterwards.
 * errno: after a negative return, errno holds the system call's cause where there is one. */
#ifndef GREYSPF_ENGINE_SD_NOTIFY_H
#define GREYSPF_ENGINE_SD_NOTIFY_H
#include <stddef.h>

#define SD_LISTEN_FDS_START 3 /* first passed descriptor (fixed by the protocol) */
#define SD_LISTEN_FDS_MAX 256 /* we refuse more; greyspfd needs a handful */
#define SD_DESCRIBE_MAX 128   /* room for "unix:" + a 108-byte sun_path */

enum sd_notify_err {
    SD_NOTIFY_ERR_ADDR = -1,   /* $NOTIFY_SOCKET is neither "/path" nor "@abstract", or long */
    SD_NOTIFY_ERR_SOCKET = -2, /* socket() failed (errno) */
    SD_NOTIFY_ERR_SEND = -3,   /* sendto() failed, e.g. no one listening (errno) */
    SD_NOTIFY_ERR_ENV = -4,    /* $LISTEN_PID or $LISTEN_FDS is not a number in range */
    SD_NOTIFY_ERR_FD = -5,     /* a passed descriptor is not open (errno) */
};

/* sd_notify_send - send state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=text", several
 * separated by '\n') as one datagram to the unix socket named by $NOTIFY_SOCKET: an absolute
 * path, or "@name" for an abstract socket. state is borrowed. Returns 1 when sent, 0 when
 * $NOTIFY_SOCKET is unset or empty (not run by systemd, or Type= is not notify), or a
 * negative SD_NOTIFY_ERR_*. Never blocks for long: the datagram is sent MSG_DONTWAIT. */
int sd_notify_send(const char *state);

/* sd_listen_fds_take - take the listening sockets systemd passed: when $LISTEN_PID is our pid
 * and $LISTEN_FDS is N (1..SD_LISTEN_FDS_MAX), marks descriptors 3..3+N-1 close-on-exec and
 * returns N, with *fds (if fds is not NULL) set to a new array of them (caller frees with
 * free()). Returns 0 (and *fds = NULL) when the variables are absent, LISTEN_FDS is 0 or
 * LISTEN_PID names another process (they were meant for a parent), or a negative
 * SD_NOTIFY_ERR_* for malformed variables or a closed descriptor. In every case it unsets
 * LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that no child inherits them. The sockets keep
 * the flags systemd gave them (blocking unless the socket unit says NonBlocking=yes).
 * Single-threaded callers only (see the file header). */
int sd_listen_fds_take(int **fds);

/* sd_fd_describe - the local address of socket fd, written the way greyspf.conf's `listen`
 * writes it: "unix:/path", "unix:@abstract", "inet:1.2.3.4:PORT" or "inet:[::1]:PORT".
 * Returns buf, or NULL when fd is not a unix/IPv4/IPv6 socket, getsockname fails, or the text
 * does not fit in n bytes (SD_DESCRIBE_MAX always suffices). */
const char *sd_fd_describe(int fd, char *buf, size_t n);

/* sd_notify_strerror - text for a negative SD_NOTIFY_ERR_* */
const char *sd_notify_strerror(int err);

#endif
