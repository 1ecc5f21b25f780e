/* crc.c - the CRCs S3 checksums need beyond hs_crc32c: CRC-32 on ISA-L, CRC-64/NVME (ISA-L's
 * crc64_rocksoft_refl from 2.31 on; a slice-by-8 table for the 2.30 of Debian 12, which lacks
 * it) and the combination of two CRCs (FULL_OBJECT checksums of multipart uploads), which no
 * library we use offers for CRC32C and CRC-64/NVME.
 *
 * Combination (the method of zlib's crc32_combine, for any reflected CRC whose init and final
 * xor are all ones): crc(A||B) = crc(A) * x^(8 len(B)) mod P  xor  crc(B), computed in the
 * reflected bit order with square-and-multiply on x^(2^k). */
#include "s3_int.h"

#include <immintrin.h>
#include <pthread.h>

#include <isa-l/crc.h>
#include <isa-l/crc64.h>

#include "hs/codec.h"
#include "hs/banned.h"

/* Only this function is compiled for AVX: the rest of the binary stays baseline x86-64. */
__attribute__((target("avx"))) static void zeroupper_avx(void)
{
    _mm256_zeroupper();
}

void hs_s3_vector_cleanup(void)
{
    if (__builtin_cpu_supports("avx"))
        zeroupper_avx();
}

#define CRC64NVME_POLY_REFL UINT64_C(0x9A6C9329AC4BC9B5) /* 0xAD93D23594C93659 reflected */
#define CRC32_POLY_REFL     UINT64_C(0xEDB88320)
#define CRC32C_POLY_REFL    UINT64_C(0x82F63B78)

#ifdef HS_HAVE_CRC64_ROCKSOFT
uint64_t hs_s3_crc64nvme(uint64_t crc, const void *data, size_t len)
{
    if (len == 0)
        return crc;
    crc = crc64_rocksoft_refl(crc, data, len);
    hs_s3_vector_cleanup();
    return crc;
}
#else
static uint64_t crc64_table[8][256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_table_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ CRC64NVME_POLY_REFL : c >> 1;
        crc64_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = crc64_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc64_table[0][c & 0xff] ^ (c >> 8);
            crc64_table[t][i] = c;
        }
    }
}

uint64_t hs_s3_crc64nvme(uint64_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    pthread_once(&crc64_once, crc64_table_init);
    while (len >= 8) {
        uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                     (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                     (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        c ^= w;
        c = crc64_table[7][c & 0xff] ^ crc64_table[6][(c >> 8) & 0xff] ^
            crc64_table[5][(c >> 16) & 0xff] ^ crc64_table[4][(c >> 24) & 0xff] ^
            crc64_table[3][(c >> 32) & 0xff] ^ crc64_table[2][(c >> 40) & 0xff] ^
            crc64_table[1][(c >> 48) & 0xff] ^ crc64_table[0][c >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        c = crc64_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}
#endif

/* a * b mod P in the reflected representation of a width-bit CRC (bit width-1 is x^0). */
static uint64_t multmodp(uint64_t a, uint64_t b, uint64_t poly, unsigned width)
{
    uint64_t m = UINT64_C(1) << (width - 1), p = 0;
    while (m != 0) {
        if (a & m)
            p ^= b;
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ poly : b >> 1;
    }
    return p;
}

static uint64_t crc_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b, uint64_t poly,
                            unsigned width)
{
    uint64_t one = UINT64_C(1) << (width - 1);
    uint64_t xpow = one >> 8; /* x^8: one byte */
    uint64_t factor = one;    /* x^(8 len_b) */
    while (len_b != 0) {
        if (len_b & 1)
            factor = multmodp(xpow, factor, poly, width);
        len_b >>= 1;
        xpow = multmodp(xpow, xpow, poly, width);
    }
    return multmodp(factor, crc_a, poly, width) ^ crc_b;
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

enum hs_err hs_s3_cksum_crc_combine(enum hs_s3_cksum_algo a, const uint8_t *crc_a,
                                    const uint8_t *crc_b, uint64_t len_b, uint8_t *out)
{
    uint64_t poly;
    unsigned width;
    switch (a) {
    case HS_S3_CKSUM_CRC32:
        poly = CRC32_POLY_REFL;
        width = 32;
        break;
    case HS_S3_CKSUM_CRC32C:
        poly = CRC32C_POLY_REFL;
        width = 32;
        break;
    case HS_S3_CKSUM_CRC64NVME:
        poly = CRC64NVME_POLY_REFL;
        width = 64;
        break;
    default:
        return HS_EINVAL;
    }
    size_t n = width / 8;
    uint64_t v = crc_combine(get_be(crc_a, n), get_be(crc_b, n), len_b, poly, width);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return HS_OK;
}
