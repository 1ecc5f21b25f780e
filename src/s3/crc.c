/* crc.c - the CRCs S3 checksums need beyond hs_crc32c: CRC-32 on ISA-L, CRC-64/NVME (ISA-L's
 * crc64_rocksoft_refl from 2.31 on; for the 2.30 of Debian 12, which lacks it, PCLMULQDQ folding
 * and a slice-by-8 table) and the combination of two CRCs (FULL_OBJECT checksums of multipart
 * uploads), which no library we use offers for CRC32C and CRC-64/NVME.
 *
 * Combination (the method of zlib's crc32_combine, for any reflected CRC whose init and final
 * xor are all ones): crc(A||B) = crc(A) * x^(8 len(B)) mod P  xor  crc(B), computed in the
 * reflected bit order with square-and-multiply on x^(2^k). */
#include "s3_int.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdbool.h>

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
/* Without crc64_rocksoft_refl: PCLMULQDQ folding of 16-byte blocks where the CPU has it, and a
 * slice-by-8 table for the rest (and for CPUs without it).
 *
 * Folding, in the reflected representation (a 16-byte little-endian block is a 128-bit value
 * whose bit k is the coefficient of x^(127-k); a 64-bit value's bit i that of x^(63-i)): the
 * state S = H x^64 + L (H in the low quadword) followed by the next block N folds into
 *     S' = H (x^192 mod P) + L (x^128 mod P) + N,
 * two carry-less multiplications. A carry-less product of reflected values comes out multiplied
 * by x, hence the constants x^191 and x^127 mod P. The last state is reduced by running its 16
 * bytes through the table from a zero register (a raw CRC register holds M x^64 mod P). */
static uint64_t crc64_table[8][256];
static uint64_t fold_k1, fold_k2; /* x^191 mod P, x^127 mod P (reflected) */
static bool have_clmul;
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static uint64_t x_pow_mod(uint64_t n)
{
    uint64_t result = UINT64_C(1) << 63, sq = UINT64_C(1) << 62; /* x^0, x^1 */
    for (; n != 0; n >>= 1) {
        if (n & 1)
            result = multmodp(sq, result, CRC64NVME_POLY_REFL, 64);
        sq = multmodp(sq, sq, CRC64NVME_POLY_REFL, 64);
    }
    return result;
}

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
    fold_k1 = x_pow_mod(191);
    fold_k2 = x_pow_mod(127);
    have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

/* Raw register update (no inversions). */
static uint64_t crc64_by_table(uint64_t c, const uint8_t *p, size_t len)
{
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
    return c;
}

/* Folds the whole 16-byte blocks of p (len >= 16) into the raw register c; returns the
 * register after them (the caller processes the len % 16 tail bytes). */
__attribute__((target("pclmul,sse4.1"))) static uint64_t
crc64_by_clmul(uint64_t c, const uint8_t *p, size_t len)
{
    const __m128i k = _mm_set_epi64x((long long)fold_k2, (long long)fold_k1);
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    v = _mm_xor_si128(v, _mm_set_epi64x(0, (long long)c));
    p += 16;
    len -= 16;
    while (len >= 16) {
        __m128i n = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hi = _mm_clmulepi64_si128(v, k, 0x00); /* H * x^191 */
        __m128i lo = _mm_clmulepi64_si128(v, k, 0x11); /* L * x^127 */
        v = _mm_xor_si128(_mm_xor_si128(hi, lo), n);
        p += 16;
        len -= 16;
    }
    uint8_t last[16];
    _mm_storeu_si128((__m128i *)(void *)last, v);
    return crc64_by_table(0, last, sizeof last);
}

uint64_t hs_s3_crc64nvme(uint64_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;
    pthread_once(&crc64_once, crc64_table_init);
    if (have_clmul && len >= 64) {
        size_t blocks = len & ~(size_t)15;
        c = crc64_by_clmul(c, p, blocks);
        p += blocks;
        len -= blocks;
    }
    return ~crc64_by_table(c, p, len);
}
#endif

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
