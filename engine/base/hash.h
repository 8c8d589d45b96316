/* engine/base/hash.h - the one non-cryptographic hash of byte strings we use for in-memory
 * tables (kv stripes and the memory store, the override index, the AWL hint). Not for keys an
 * attacker could choose to collide where that matters: those are hashed with SipHash
 * (greylist.h). */
#ifndef GREYSPF_BASE_HASH_H
#define GREYSPF_BASE_HASH_H
#include <stddef.h>
#include <stdint.h>

/* hash_bytes - 64-bit FNV-1a over p[0..n), then a 64-bit finaliser so every bit (low bits
 * for masks, high bits for second probes) depends on every input byte */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

#endif
