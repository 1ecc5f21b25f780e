/* stripe.c - one stripe of object bytes <-> its k+m pieces, with as few copies as the layout
 * allows: full data pieces are the caller's bytes, reconstructed data pieces are written straight
 * into the caller's output, and only the zero-padded tail of the last stripe goes through
 * scratch. Scratch also holds parity. Stripe arithmetic follows codec.h. */
#include "codec_int.h"

#include <stdlib.h>
#include <string.h>

#include "hs/mem.h"
#include "hs/banned.h"

/* Pieces in scratch start on cache lines, so ISA-L's stores there never straddle one. */
static size_t stride_of(size_t piece_bytes)
{
    return (piece_bytes + 63) & ~(size_t)63;
}

void hs_codec_scratch_init(struct hs_codec_scratch *s)
{
    s->mem = NULL;
    s->cap = 0;
}

void hs_codec_scratch_release(struct hs_codec_scratch *s)
{
    if (!s)
        return;
    free(s->mem);
    s->mem = NULL;
    s->cap = 0;
}

uint8_t *hs_codec_scratch_reserve(struct hs_codec_scratch *s, size_t bytes)
{
    if (bytes == 0)
        bytes = 64; /* pieces of empty stripes still get a valid pointer */
    if (s->cap < bytes) {
        /* Contents need not survive, so free first: no realloc copy, lower peak memory. */
        free(s->mem);
        s->mem = hs_xaligned_alloc(bytes);
        s->cap = bytes;
    }
    return s->mem;
}

enum hs_err hs_codec_stripe_encode(const struct hs_codec *c, const void *data, size_t data_bytes,
                                   struct hs_codec_scratch *scratch, const uint8_t *pieces[],
                                   size_t *piece_bytes)
{
    const unsigned k = hs_codec_k(c), m = hs_codec_m(c);
    const uint8_t *in = data;
    if (data_bytes > HS_CODEC_STRIPE_BYTES_MAX)
        return HS_EINVAL;
    const size_t p = (data_bytes + k - 1) / k;
    const size_t stride = stride_of(p);
    /* Data pieces [0, full) lie wholly inside data; the rest need zero padding. */
    const unsigned full = p ? (unsigned)(data_bytes / p) : 0;
    uint8_t *mem = hs_codec_scratch_reserve(scratch, (m + k - full) * stride);
    uint8_t *parity[HS_CODEC_MAX_M];
    for (unsigned i = 0; i < full; i++)
        pieces[i] = in + (size_t)i * p;
    for (unsigned i = full; i < k; i++) {
        uint8_t *pad = mem + (size_t)(m + i - full) * stride;
        size_t start = (size_t)i * p;
        size_t avail = data_bytes > start ? HS_MIN(p, data_bytes - start) : 0;
        if (avail > 0)
            memcpy(pad, in + start, avail);
        memset(pad + avail, 0, p - avail);
        pieces[i] = pad;
    }
    for (unsigned j = 0; j < m; j++) {
        parity[j] = mem + (size_t)j * stride;
        pieces[k + j] = parity[j];
    }
    enum hs_err err = hs_codec_encode(c, p, pieces, parity);
    if (err != HS_OK)
        return err;
    *piece_bytes = p;
    return HS_OK;
}

enum hs_err hs_codec_stripe_decode(const struct hs_codec *c, const uint8_t *const pieces[],
                                   uint32_t present, size_t object_bytes,
                                   struct hs_codec_scratch *scratch, void *out)
{
    const unsigned k = hs_codec_k(c), n = k + hs_codec_m(c);
    const uint32_t data_mask = (uint32_t)((1ull << k) - 1);
    uint8_t *dst = out;
    uint8_t *shards[HS_CODEC_MAX_SHARDS];
    if (object_bytes > HS_CODEC_STRIPE_BYTES_MAX)
        return HS_EINVAL;
    const size_t p = (object_bytes + k - 1) / k;
    const size_t stride = stride_of(p);
    const unsigned full = p ? (unsigned)(object_bytes / p) : 0;
    const uint32_t lost = ~present & data_mask;
    uint8_t *mem = hs_codec_scratch_reserve(scratch, (k - full) * stride);
    /* The pieces are only read: reconstruct's array is non-const because it also holds outputs. */
    for (unsigned i = 0; i < n; i++)
        shards[i] = (uint8_t *)pieces[i];
    for (unsigned i = 0; i < k; i++) {
        if (lost & (1u << i))
            shards[i] = i < full ? dst + (size_t)i * p : mem + (size_t)(i - full) * stride;
    }
    enum hs_err err = hs_codec_reconstruct(c, p, shards, present, lost);
    if (err != HS_OK)
        return err;
    for (unsigned i = 0; i < k; i++) {
        size_t start = (size_t)i * p;
        if (start >= object_bytes)
            break;
        if ((lost & (1u << i)) && i < full)
            continue; /* already reconstructed in place */
        memcpy(dst + start, shards[i], HS_MIN(p, object_bytes - start));
    }
    return HS_OK;
}
