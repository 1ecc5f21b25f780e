/* test_s3_checksum.c - S3 digests: check values of every algorithm, base64 of the big-endian
 * value, streaming in odd pieces against one-shot, the CRC-64/NVME table against a bit-at-a-time
 * reference, CRC combination, composite checksums and ETags, Content-MD5 and checksum header
 * verification, and name parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs/s3_checksum.h"
#include "s3/s3_int.h"
#include "hs/banned.h"

static const char check_input[] = "123456789";

static void expect_b64(enum hs_s3_cksum_algo a, const void *data, size_t len, const char *want)
{
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    char b64[HS_S3_CKSUM_B64_MAX];
    assert_int_equal(hs_s3_cksum_compute(a, data, len, raw), HS_OK);
    hs_s3_base64(raw, hs_s3_cksum_size(a), b64);
    assert_string_equal(b64, want);
}

static void expect_hex(enum hs_s3_cksum_algo a, const char *want)
{
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    char hex[2 * HS_S3_CKSUM_RAW_MAX + 1];
    assert_int_equal(hs_s3_cksum_compute(a, check_input, 9, raw), HS_OK);
    hs_s3_hex(raw, hs_s3_cksum_size(a), hex);
    assert_string_equal(hex, want);
}

static void check_values_of_every_algorithm(void **state)
{
    (void)state;
    expect_hex(HS_S3_CKSUM_CRC32, "cbf43926");
    expect_hex(HS_S3_CKSUM_CRC32C, "e3069283");
    expect_hex(HS_S3_CKSUM_CRC64NVME, "ae8b14860a799888");
    expect_hex(HS_S3_CKSUM_SHA1, "f7c3bc1d808e04732adf679965ccc34ca7ae3441");
    expect_hex(HS_S3_CKSUM_SHA256,
               "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
    expect_hex(HS_S3_CKSUM_MD5, "25f9e794323b453885f5181f1b624d0b");
    /* S3's text form: base64 of the big-endian bytes */
    expect_b64(HS_S3_CKSUM_CRC32, check_input, 9, "y/Q5Jg==");
    expect_b64(HS_S3_CKSUM_CRC32C, check_input, 9, "4waSgw==");
    expect_b64(HS_S3_CKSUM_CRC64NVME, check_input, 9, "rosUhgp5mIg=");
    /* empty payloads, as S3 reports them */
    expect_b64(HS_S3_CKSUM_CRC32, "", 0, "AAAAAA==");
    expect_b64(HS_S3_CKSUM_CRC64NVME, "", 0, "AAAAAAAAAAA=");
    expect_b64(HS_S3_CKSUM_SHA256, "", 0, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    expect_b64(HS_S3_CKSUM_MD5, "", 0, "1B2M2Y8AsgTpgAmY7PhCfg==");
    uint8_t raw[HS_S3_CKSUM_RAW_MAX];
    assert_int_equal(hs_s3_cksum_compute(HS_S3_CKSUM_NONE, "", 0, raw), HS_EINVAL);
}

static uint64_t crc64nvme_bitwise(const uint8_t *p, size_t n)
{
    uint64_t c = ~UINT64_C(0);
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ UINT64_C(0x9A6C9329AC4BC9B5) : c >> 1;
    }
    return ~c;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void crc64nvme_table_matches_bitwise_reference(void **state)
{
    (void)state;
    uint8_t buf[1031];
    fill(buf, sizeof buf, 7);
    for (size_t n = 0; n <= sizeof buf; n += n < 40 ? 1 : 97) {
        assert_int_equal(hs_s3_crc64nvme(0, buf, n), crc64nvme_bitwise(buf, n));
        /* chaining */
        size_t h = n / 3;
        assert_int_equal(hs_s3_crc64nvme(hs_s3_crc64nvme(0, buf, h), buf + h, n - h),
                         crc64nvme_bitwise(buf, n));
    }
}

static void crc64nvme_folding_matches_reference_at_any_length_and_alignment(void **state)
{
    (void)state;
    /* Lengths around the 64-byte folding threshold and the 16-byte block size, odd
     * alignments, and chaining split inside a block. */
    static uint8_t buf[70000];
    fill(buf, sizeof buf, 99);
    uint32_t r = 5;
    for (int i = 0; i < 300; i++) {
        r = r * 1103515245u + 12345u;
        size_t off = (r >> 8) % 16;
        size_t n = i < 100 ? (size_t)i + 40 : (r >> 4) % (sizeof buf - 16);
        uint64_t want = crc64nvme_bitwise(buf + off, n);
        assert_int_equal(hs_s3_crc64nvme(0, buf + off, n), want);
        size_t split = n > 0 ? (r >> 12) % n : 0;
        uint64_t c = hs_s3_crc64nvme(0, buf + off, split);
        assert_int_equal(hs_s3_crc64nvme(c, buf + off + split, n - split), want);
    }
}

static void streaming_in_odd_pieces_equals_one_shot(void **state)
{
    (void)state;
    static uint8_t buf[300000];
    fill(buf, sizeof buf, 3);
    for (unsigned a = HS_S3_CKSUM_NONE; a <= HS_S3_CKSUM_SHA256; a++) {
        struct hs_s3_hasher h;
        struct hs_s3_hasher_opts o = {.sha256 = true, .flex = (enum hs_s3_cksum_algo)a};
        struct hs_s3_digests d;
        assert_int_equal(hs_s3_hasher_init(&h, &o), HS_OK);
        size_t off = 0, step = 1;
        while (off < sizeof buf) {
            size_t n = step < sizeof buf - off ? step : sizeof buf - off;
            hs_s3_hasher_update(&h, buf + off, n);
            off += n;
            step = step * 3 + 1;
        }
        hs_s3_hasher_final(&h, &d);
        hs_s3_hasher_release(&h);
        hs_s3_hasher_release(&h); /* twice is harmless */
        uint8_t want[HS_S3_CKSUM_RAW_MAX];
        hs_s3_cksum_compute(HS_S3_CKSUM_MD5, buf, sizeof buf, want);
        assert_memory_equal(d.md5, want, 16);
        hs_s3_cksum_compute(HS_S3_CKSUM_SHA256, buf, sizeof buf, want);
        assert_true(d.has_sha256);
        assert_memory_equal(d.sha256, want, 32);
        assert_int_equal(d.bytes, sizeof buf);
        assert_int_equal(d.flex, a);
        assert_int_equal(d.flex_len, hs_s3_cksum_size((enum hs_s3_cksum_algo)a));
        if (a != HS_S3_CKSUM_NONE) {
            hs_s3_cksum_compute((enum hs_s3_cksum_algo)a, buf, sizeof buf, want);
            assert_memory_equal(d.flex_raw, want, d.flex_len);
        }
    }
    /* MD5 only by default */
    struct hs_s3_hasher h;
    struct hs_s3_digests d;
    assert_int_equal(hs_s3_hasher_init(&h, NULL), HS_OK);
    hs_s3_hasher_update(&h, "abc", 3);
    hs_s3_hasher_final(&h, &d);
    hs_s3_hasher_release(&h);
    assert_false(d.has_sha256);
    assert_int_equal(d.flex, HS_S3_CKSUM_NONE);
    char etag[HS_S3_ETAG_MAX];
    hs_s3_etag(d.md5, etag);
    assert_string_equal(etag, "\"900150983cd24fb0d6963f7d28e17f72\"");
    struct hs_s3_hasher_opts bad = {.flex = HS_S3_CKSUM_MD5};
    assert_int_equal(hs_s3_hasher_init(&h, &bad), HS_EINVAL);
    hs_s3_hasher_release(&h);
}

static void crc_combine_equals_crc_of_concatenation(void **state)
{
    (void)state;
    uint8_t buf[5000];
    fill(buf, sizeof buf, 11);
    enum hs_s3_cksum_algo algos[] = {HS_S3_CKSUM_CRC32, HS_S3_CKSUM_CRC32C, HS_S3_CKSUM_CRC64NVME};
    for (size_t k = 0; k < 3; k++) {
        enum hs_s3_cksum_algo a = algos[k];
        size_t splits[] = {0, 1, 7, 8, 9, 100, 2500, 4999, 5000};
        uint8_t whole[8], ca[8], cb[8], comb[8];
        hs_s3_cksum_compute(a, buf, sizeof buf, whole);
        for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
            size_t s = splits[i];
            hs_s3_cksum_compute(a, buf, s, ca);
            hs_s3_cksum_compute(a, buf + s, sizeof buf - s, cb);
            assert_int_equal(hs_s3_cksum_crc_combine(a, ca, cb, sizeof buf - s, comb), HS_OK);
            assert_memory_equal(comb, whole, hs_s3_cksum_size(a));
        }
    }
    uint8_t x[32] = {0};
    assert_int_equal(hs_s3_cksum_crc_combine(HS_S3_CKSUM_SHA256, x, x, 1, x), HS_EINVAL);
}

static void composite_checksums_and_multipart_etag(void **state)
{
    (void)state;
    const char *parts[] = {"part one", "part two", "3"};
    struct hs_s3_composite etag, crc;
    uint8_t md5s[48], crcs[12];
    assert_int_equal(hs_s3_composite_init(&etag, HS_S3_CKSUM_MD5), HS_OK);
    assert_int_equal(hs_s3_composite_init(&crc, HS_S3_CKSUM_CRC32), HS_OK);
    for (size_t i = 0; i < 3; i++) {
        hs_s3_cksum_compute(HS_S3_CKSUM_MD5, parts[i], strlen(parts[i]), md5s + 16 * i);
        hs_s3_cksum_compute(HS_S3_CKSUM_CRC32, parts[i], strlen(parts[i]), crcs + 4 * i);
        hs_s3_composite_add(&etag, md5s + 16 * i);
        hs_s3_composite_add(&crc, crcs + 4 * i);
    }
    char out[HS_S3_CKSUM_COMPOSITE_MAX], want[HS_S3_CKSUM_COMPOSITE_MAX];
    uint8_t raw[HS_S3_CKSUM_RAW_MAX], expect[HS_S3_CKSUM_RAW_MAX];
    char hex[33], b64[HS_S3_CKSUM_B64_MAX];
    hs_s3_composite_final(&etag, out, raw);
    hs_s3_cksum_compute(HS_S3_CKSUM_MD5, md5s, 48, expect);
    assert_memory_equal(raw, expect, 16);
    hs_s3_hex(expect, 16, hex);
    snprintf(want, sizeof want, "\"%s-3\"", hex);
    assert_string_equal(out, want);
    hs_s3_composite_final(&crc, out, NULL);
    hs_s3_cksum_compute(HS_S3_CKSUM_CRC32, crcs, 12, expect);
    hs_s3_base64(expect, 4, b64);
    snprintf(want, sizeof want, "%s-3", b64);
    assert_string_equal(out, want);
    hs_s3_composite_release(&etag);
    hs_s3_composite_release(&crc);
    hs_s3_composite_release(NULL);
}

static void content_md5_and_checksum_headers_are_verified(void **state)
{
    (void)state;
    uint8_t md5[16], crc[HS_S3_CKSUM_RAW_MAX];
    hs_s3_cksum_compute(HS_S3_CKSUM_MD5, "", 0, md5);
    assert_int_equal(hs_s3_content_md5_check("1B2M2Y8AsgTpgAmY7PhCfg==", md5), HS_S3_OK);
    assert_int_equal(hs_s3_content_md5_check("1B2M2Y8AsgTpgAmY7PhCfA==", md5), HS_S3_BAD_DIGEST);
    assert_int_equal(hs_s3_content_md5_check("1B2M2Y8AsgTpgAmY7PhCf", md5), HS_S3_INVALID_DIGEST);
    assert_int_equal(hs_s3_content_md5_check("not base64!!", md5), HS_S3_INVALID_DIGEST);
    assert_int_equal(hs_s3_content_md5_check("AAAA", md5), HS_S3_INVALID_DIGEST);
    assert_int_equal(hs_s3_content_md5_check(NULL, md5), HS_S3_INVALID_DIGEST);
    hs_s3_cksum_compute(HS_S3_CKSUM_CRC32, check_input, 9, crc);
    assert_int_equal(hs_s3_cksum_check(HS_S3_CKSUM_CRC32, "y/Q5Jg==", crc), HS_S3_OK);
    assert_int_equal(hs_s3_cksum_check(HS_S3_CKSUM_CRC32, "y/Q5Jw==", crc), HS_S3_BAD_DIGEST);
    assert_int_equal(hs_s3_cksum_check(HS_S3_CKSUM_CRC32, "y/Q5JgAA", crc), HS_S3_INVALID_REQUEST);
    assert_int_equal(hs_s3_cksum_check(HS_S3_CKSUM_CRC32, "", crc), HS_S3_INVALID_REQUEST);
    uint8_t a[32] = {1}, b[32] = {1};
    assert_int_equal(hs_s3_sha256_check(a, b), HS_S3_OK);
    b[31] = 2;
    assert_int_equal(hs_s3_sha256_check(a, b), HS_S3_CONTENT_SHA256_MISMATCH);
}

static void names_parse_both_ways(void **state)
{
    (void)state;
    enum hs_s3_cksum_algo a;
    for (unsigned i = HS_S3_CKSUM_CRC32; i <= HS_S3_CKSUM_SHA256; i++) {
        assert_true(hs_s3_cksum_parse_name(hs_s3_cksum_name((enum hs_s3_cksum_algo)i), &a));
        assert_int_equal(a, i);
        assert_true(hs_s3_cksum_parse_header(hs_s3_cksum_header((enum hs_s3_cksum_algo)i), &a));
        assert_int_equal(a, i);
    }
    assert_true(hs_s3_cksum_parse_name("crc64nvme", &a));
    assert_int_equal(a, HS_S3_CKSUM_CRC64NVME);
    assert_true(hs_s3_cksum_parse_header("X-Amz-Checksum-CRC32C", &a));
    assert_int_equal(a, HS_S3_CKSUM_CRC32C);
    assert_false(hs_s3_cksum_parse_name("MD5", &a));
    assert_false(hs_s3_cksum_parse_name("crc16", &a));
    assert_false(hs_s3_cksum_parse_header("x-amz-checksum-mode", &a));
    assert_false(hs_s3_cksum_parse_header("x-amz-checksum-type", &a));
    assert_string_equal(hs_s3_cksum_xml_name(HS_S3_CKSUM_CRC64NVME), "ChecksumCRC64NVME");
}

static void base64_and_hex_are_strict(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t n;
    assert_true(hs_s3_base64_decode("AQID", 4, out, sizeof out, &n));
    assert_int_equal(n, 3);
    assert_true(hs_s3_base64_decode("AQ==", 4, out, sizeof out, &n));
    assert_int_equal(n, 1);
    assert_false(hs_s3_base64_decode("AQ=", 3, out, sizeof out, &n));
    assert_false(hs_s3_base64_decode("A Q=", 4, out, sizeof out, &n));
    assert_false(hs_s3_base64_decode("AQIDBA==", 8, out, 3, &n));
    assert_true(hs_s3_hex_decode("0aFf", 4, out, 2));
    assert_int_equal(out[1], 0xff);
    assert_false(hs_s3_hex_decode("0aF", 3, out, 2));
    assert_false(hs_s3_hex_decode("0g", 2, out, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_values_of_every_algorithm),
        cmocka_unit_test(crc64nvme_table_matches_bitwise_reference),
        cmocka_unit_test(crc64nvme_folding_matches_reference_at_any_length_and_alignment),
        cmocka_unit_test(streaming_in_odd_pieces_equals_one_shot),
        cmocka_unit_test(crc_combine_equals_crc_of_concatenation),
        cmocka_unit_test(composite_checksums_and_multipart_etag),
        cmocka_unit_test(content_md5_and_checksum_headers_are_verified),
        cmocka_unit_test(names_parse_both_ways),
        cmocka_unit_test(base64_and_hex_are_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
