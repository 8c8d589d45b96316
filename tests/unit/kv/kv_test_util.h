/* tests/unit/kv/kv_test_util.h - helpers shared by the kv unit tests (header-only: each test
 * file is its own executable): temporary directories under /tmp, removed recursively. Every
 * directory made is remembered, so one a failed case left behind (cmocka's failures longjmp
 * past the case's own cleanup) is removed by kv_test_cleanup as the group's teardown. */
#ifndef GREYSPF_TESTS_KV_TEST_UTIL_H
#define GREYSPF_TESTS_KV_TEST_UTIL_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KV_TEST_DIR_MAX 64
#define KV_TEST_DIRS 64

/* made directories not yet removed (test thread only) */
static char kv_test_dirs[KV_TEST_DIRS][KV_TEST_DIR_MAX];

/* kv_test_mkdtemp - a fresh directory /tmp/greyspf-kv-XXXXXX into dir; aborts on failure */
static inline void kv_test_mkdtemp(char dir[KV_TEST_DIR_MAX])
{
    snprintf(dir, KV_TEST_DIR_MAX, "/tmp/greyspf-kv-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    for (int i = 0; i < KV_TEST_DIRS; i++)
        if (!kv_test_dirs[i][0]) {
            memcpy(kv_test_dirs[i], dir, KV_TEST_DIR_MAX);
            break;
        }
}

/* kv_test_rm_entry - nftw callback removing one file or (post-order) directory */
static inline int kv_test_rm_entry(const char *path, const struct stat *st, int flag,
                                   struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0)
        perror(path);
    return 0;
}

/* kv_test_rmtree - remove dir and everything below it (no-op for an empty string) */
static inline void kv_test_rmtree(const char *dir)
{
    if (!dir || !*dir)
        return;
    chmod(dir, 0700); /* a case may have made it read-only */
    nftw(dir, kv_test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < KV_TEST_DIRS; i++)
        if (strcmp(kv_test_dirs[i], dir) == 0)
            kv_test_dirs[i][0] = 0;
}

/* kv_test_cleanup - group teardown: remove whatever failed cases left */
static inline int kv_test_cleanup(void **state)
{
    (void)state;
    char dir[KV_TEST_DIR_MAX];
    for (int i = 0; i < KV_TEST_DIRS; i++)
        if (kv_test_dirs[i][0]) {
            memcpy(dir, kv_test_dirs[i], sizeof(dir));
            kv_test_rmtree(dir);
        }
    return 0;
}

#endif
