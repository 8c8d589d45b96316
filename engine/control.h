/* engine/control.h - the administrative control socket of a running greyspfd.
 *
 * A unix stream socket (mode 0600; peers must be root or the daemon's own user, checked with
 * SO_PEERCRED) served by one thread of its own, never by the policy threads. Protocol: the
 * client sends one line, the command and its arguments separated by single spaces, each
 * argument percent-encoded if it contains a space, "%" or a control byte; "--json" anywhere
 * asks for JSON output. The daemon answers with "ok\n" or "error: message\n", then the
 * command's output, then closes the connection. `greyspf <command>` is the client.
 * Commands are registered by the modules that own the state (greylisting: list, show,
 * delete, whitelist, counts); `status` is built in. Handlers run on the control thread and
 * must be thread-safe with respect to the policy threads. */
#ifndef GREYSPF_ENGINE_CONTROL_H
#define GREYSPF_ENGINE_CONTROL_H
#include <stdbool.h>
#include <stddef.h>

struct control;

/* struct control_out - where a handler writes its output (grows as needed) */
struct control_out {
    char *buf;
    size_t len, cap;
    bool json;     /* the client asked for --json */
    char err[256]; /* set by control_fail: the reply is "error: <err>" */
};

void control_printf(struct control_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* control_json_string - append s as a JSON string literal (quotes, escapes) */
void control_json_string(struct control_out *o, const char *s);
/* control_fail - make the reply an error; returns -1 for `return control_fail(...)` */
int control_fail(struct control_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* control_cmd_fn - run a command: argv[0] is the command name, argv[1..argc-1] its decoded
 * arguments (without --json). Returns 0, or -1 after control_fail. */
typedef int (*control_cmd_fn)(void *arg, int argc, char **argv, struct control_out *out);

/* control_create - bind path (replacing a stale socket file; the directory is created 0750
 * if missing). Nothing runs until control_start. NULL with a message in err on failure. */
struct control *control_create(const char *path, char *err, size_t errlen);
/* control_register - add a command (before control_start); usage is one line for `help` */
void control_register(struct control *c, const char *name, const char *usage, control_cmd_fn fn,
                      void *arg);
/* control_start - start the control thread. 0 or -errno. */
int control_start(struct control *c);
/* control_destroy - stop the thread, close and unlink the socket. NULL is a no-op. */
void control_destroy(struct control *c);

/* control_decode_args - split line (modified in place) into at most max arguments,
 * percent-decoding each; removes "--json" and sets *json. Returns the count, or -1 when a
 * %-escape is malformed or there are too many arguments. Exposed for tests and fuzzing. */
int control_decode_args(char *line, char **argv, int max, bool *json);

#endif
