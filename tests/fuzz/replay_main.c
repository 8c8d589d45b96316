/* tests/fuzz/replay_main.c - main() for fuzz targets in builds without FUZZ=ON.
 * Usage: <target> PATH...  Runs LLVMFuzzerTestOneInput once on every regular file in each
 * directory PATH (sorted by name, dot files skipped) or on PATH itself if it is a file, so
 * plain ctest replays the seed corpus, and a crash file found by the fuzzer can be rerun
 * under a debugger. Each input sits in a heap buffer of exactly its size, so ASan catches a
 * read past its end. Exit 0 if every input ran; 1 on a usage error, an unreadable path, or
 * when no input was found at all (a missing corpus is a mistake, not a pass). */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* optional, as in libFuzzer */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* run_file - read path whole and run the target on it; 0 or -1 (message printed) */
static int run_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "replay: %s: short read\n", path);
            free(data);
            close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    close(fd);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* skip_entry - dot files (".", "..", editor droppings) */
static int skip_entry(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* run_dir - every regular file in dir; number run, or -1 */
static long run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    long ran = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
        char *path = malloc(len);
        struct stat st;
        if (path) {
            snprintf(path, len, "%s/%s", dir, names[i]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(path) == 0)
                    ran++;
                else
                    failed = 1;
            }
        } else {
            failed = 1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return failed ? -1 : ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 1;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replay: %ld inputs ran\n", total);
    return 0;
}
