/* tests/integration/greylist_kv_dump.c - print the greylisting records of a stopped greyspfd's
 * store, one line each, for the integration tests to count and check:
 *     <kind> <key> <state> <first_seen> <last_seen> <passes> <expires>
 * kind "t" (triplet) or "a" (AWL), key with its NUL separators shown as "|" (hashed keys as
 * hex), state pending/passed/awl. Usage: greylist_kv_dump STATE_DIR/greylist [NOW_S]
 * (records expired at NOW_S, default the wall clock, are not shown). Exit 0, or 1 when the
 * store cannot be opened (e.g. the daemon still holds it). */
#include "engine/base/clock.h"
#include "engine/greylist.h"
#include "kv/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dump_cb - one record */
static int dump_cb(const void *key, size_t klen, const void *val, size_t vlen, int64_t expires_s,
                   void *arg)
{
    (void)arg;
    const unsigned char *k = key;
    struct greylist_record r;
    static const char *const states[] = {"pending", "passed", "awl"};
    printf("%c ", k[0]);
    for (size_t i = 2; i < klen; i++) {
        if (k[1] == '#')
            printf("%02x", k[i]);
        else
            putchar(k[i] == 0 ? '|' : (k[i] < 0x20 || k[i] > 0x7e) ? '?' : k[i]);
    }
    if (greylist_record_decode(val, vlen, &r) != 0) {
        printf(" corrupt\n");
        return 0;
    }
    printf(" %s %lld %lld %u %lld\n", states[r.state], (long long)r.first_seen_s,
           (long long)r.last_seen_s, r.passes, (long long)expires_s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s STORE_DIR [NOW_S]\n", argv[0]);
        return 2;
    }
    int64_t now = argc == 3 ? strtoll(argv[2], NULL, 10) : clock_wall_s();
    char msg[512];
    int err = 0;
    struct kv *kv = kv_open_rocksdb(argv[1], NULL, &err, msg, sizeof(msg));
    if (!kv) {
        fprintf(stderr, "greylist_kv_dump: %s\n", msg);
        return 1;
    }
    int rc = kv_scan_prefix(kv, NULL, 0, now, dump_cb, NULL);
    kv_close(kv);
    if (rc != 0) {
        fprintf(stderr, "greylist_kv_dump: scan: %s\n", kv_strerror(rc));
        return 1;
    }
    return 0;
}
