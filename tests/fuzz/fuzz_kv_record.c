/* tests/fuzz/fuzz_kv_record.c - the kv record codec (kv/kv_int.h) on arbitrary bytes.
 *
 * - decode of the input (exact-size buffer): on success the record has version 1, an expiry
 *   in 0..INT64_MAX, a value pointing just past the 9-byte header and spanning the rest, and
 *   encoding it again gives back exactly the input bytes; on failure it is KV_ERR_CORRUPT.
 * - round trip the other way: the first 8 bytes (top bit cleared) as expiry and the rest as
 *   value; encode, decode: the same expiry and value, and every shorter prefix of the
 *   encoding that cuts into the header is corrupt. */
#include "tests/fuzz/fuzz.h"
#include "kv/kv_int.h"

#include <string.h>

/* check_decode - properties of decoding the input itself */
static void check_decode(const uint8_t *data, size_t size)
{
    struct kv_record r;
    int rc = kv_record_decode(data, size, &r);
    if (rc != 0) {
        FUZZ_CHECK(rc == KV_ERR_CORRUPT, "decode returned %d", rc);
        return;
    }
    FUZZ_CHECK(size >= KV_RECORD_HEADER && data[0] == KV_RECORD_VERSION, "accepted %zu bytes",
               size);
    FUZZ_CHECK(r.expires_s >= 0, "negative expiry %lld", (long long)r.expires_s);
    FUZZ_CHECK((const uint8_t *)r.val == data + KV_RECORD_HEADER, "value pointer");
    FUZZ_CHECK(r.vlen == size - KV_RECORD_HEADER, "value length %zu of %zu", r.vlen, size);
    uint8_t *again = malloc(kv_record_size(r.vlen));
    FUZZ_CHECK(again != NULL, "out of memory");
    kv_record_encode(again, r.expires_s, r.val, r.vlen);
    FUZZ_CHECK(memcmp(again, data, size) == 0, "re-encoding differs");
    free(again);
}

/* check_round_trip - encode something derived from the input, decode it back */
static void check_round_trip(const uint8_t *data, size_t size)
{
    uint64_t e = 0;
    size_t hdr = size < 8 ? size : 8;
    for (size_t i = 0; i < hdr; i++)
        e |= (uint64_t)data[i] << (8 * i);
    int64_t expires = (int64_t)(e & (uint64_t)INT64_MAX);
    const uint8_t *val = data + hdr;
    size_t vlen = size - hdr;
    if (vlen > KV_VALUE_MAX)
        return;
    size_t len = kv_record_size(vlen);
    uint8_t *enc = malloc(len);
    FUZZ_CHECK(enc != NULL, "out of memory");
    kv_record_encode(enc, expires, val, vlen);
    struct kv_record r;
    FUZZ_CHECK(kv_record_decode(enc, len, &r) == 0, "own encoding rejected");
    FUZZ_CHECK(r.expires_s == expires, "expiry %lld, want %lld", (long long)r.expires_s,
               (long long)expires);
    FUZZ_CHECK(r.vlen == vlen && memcmp(r.val, val, vlen) == 0, "value differs");
    for (size_t cut = 0; cut < KV_RECORD_HEADER; cut++)
        FUZZ_CHECK(kv_record_decode(enc, cut, &r) == KV_ERR_CORRUPT, "prefix %zu accepted", cut);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_round_trip(data, size);
    return 0;
}
