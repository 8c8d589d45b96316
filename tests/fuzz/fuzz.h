/* tests/fuzz/fuzz.h - shared by every tests/fuzz/fuzz_<parser>.c: the libFuzzer entry point
 * (defined by the target, called by libFuzzer or by replay_main.c) and FUZZ_CHECK, an
 * invariant check that stays on in release builds (assert() is compiled out by NDEBUG). */
#ifndef GREYSPF_TESTS_FUZZ_H
#define GREYSPF_TESTS_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK - abort with file:line, the condition and a printf-style message if !cond */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
