/* crc.c - CRC32C on ISA-L's crc32_iscsi, and the vector-state cleanup shared by the module.
 * crc32_iscsi neither inverts its input nor its output; the standard CRC-32C (and hence
 * chaining through hs_crc32c) is ~crc32_iscsi(data, len, ~crc). */
#include "codec_int.h"

#include <immintrin.h>
#include <limits.h>

#include <isa-l/crc.h>

#include "hs/banned.h"

/* Only this function is compiled for AVX: the rest of the binary stays baseline x86-64. */
__attribute__((target("avx"))) static void zeroupper_avx(void)
{
    _mm256_zeroupper();
}

void hs_codec_vector_cleanup(void)
{
    if (__builtin_cpu_supports("avx"))
        zeroupper_avx();
}

uint32_t hs_crc32c(uint32_t crc, const void *data, size_t len)
{
    /* crc32_iscsi takes an int length: feed it at most 1 GiB at a time. */
    const size_t chunk_max = (size_t)1 << 30;
    const unsigned char *p = data;
    uint32_t state = ~crc;
    if (len == 0)
        return crc;
    while (len > 0) {
        size_t n = len < chunk_max ? len : chunk_max;
        /* ISA-L's prototype is not const-correct; it only reads the buffer. */
        state = crc32_iscsi((unsigned char *)p, (int)n, state);
        p += n;
        len -= n;
    }
    hs_codec_vector_cleanup();
    return ~state;
}
