/* tests/fuzz/fuzz_control_args.c - the control socket's request-line decoder.
 * Invariants: success means 0..max arguments, each a non-empty NUL-terminated string inside
 * the line buffer (decoded %-escapes may hold spaces, never NUL); decoding never
 * grows a token; the JSON flag is set exactly when a literal "--json" token was present. */
#include "engine/control.h"
#include "tests/fuzz/fuzz.h"

#include <string.h>

#define MAX_ARGS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *line = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    size_t len = strlen(line); /* the server cuts at the first NUL too */
    bool had_json = false;
    {
        char *copy = strdup(line);
        char *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
            if (strcmp(t, "--json") == 0)
                had_json = true;
        free(copy);
    }
    char *argv[MAX_ARGS];
    bool json = false;
    int argc = control_decode_args(line, argv, MAX_ARGS, &json);
    FUZZ_CHECK(argc >= -1 && argc <= MAX_ARGS, "argc %d", argc);
    if (argc >= 0) {
        FUZZ_CHECK(json == had_json, "json %d, want %d", json, had_json);
        for (int i = 0; i < argc; i++) {
            FUZZ_CHECK(argv[i] >= line && argv[i] < line + len + 1, "argv[%d] outside", i);
            size_t n = strlen(argv[i]);
            FUZZ_CHECK(argv[i] + n <= line + len, "argv[%d] runs past the line", i);
            FUZZ_CHECK(n > 0, "empty argument %d", i);
        }
    }
    free(line);
    return 0;
}
