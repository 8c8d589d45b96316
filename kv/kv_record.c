/* kv/kv_record.c - the stored record format (see kv_int.h): version byte, 8-byte little-endian
 * expiry, value. Byte-wise (de)serialisation: no alignment or host-endianness assumptions. */
#include "kv/kv_int.h"

#include "engine/base/log.h"

#include <string.h>

void kv_record_encode(void *dst, int64_t expires_s, const void *val, size_t vlen)
{
    if (expires_s < 0 || vlen > KV_VALUE_MAX)
        PANIC("kv_record_encode: expires_s %lld, vlen %zu", (long long)expires_s, vlen);
    unsigned char *p = dst;
    uint64_t e = (uint64_t)expires_s;
    p[0] = KV_RECORD_VERSION;
    for (int i = 0; i < 8; i++)
        p[1 + i] = (unsigned char)(e >> (8 * i));
    if (vlen)
        memcpy(p + KV_RECORD_HEADER, val, vlen);
}

int kv_record_decode(const void *src, size_t len, struct kv_record *out)
{
    const unsigned char *p = src;
    if (len < KV_RECORD_HEADER || len - KV_RECORD_HEADER > KV_VALUE_MAX)
        return KV_ERR_CORRUPT;
    if (p[0] != KV_RECORD_VERSION)
        return KV_ERR_CORRUPT;
    uint64_t e = 0;
    for (int i = 0; i < 8; i++)
        e |= (uint64_t)p[1 + i] << (8 * i);
    if (e > (uint64_t)INT64_MAX)
        return KV_ERR_CORRUPT;
    out->expires_s = (int64_t)e;
    out->val = p + KV_RECORD_HEADER;
    out->vlen = len - KV_RECORD_HEADER;
    return 0;
}
