/* layout.c - where an erasure-coded object's bytes live: stripes, pieces, shard blob lengths,
 * and the shard spans a byte range needs. Pure arithmetic on the rule in codec.h: a stripe of b
 * bytes has pieces of ceil(b / k) bytes, and piece i of stripe s starts at blob offset s * S/k. */
#include "hs/codec.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

size_t hs_codec_stripe_bytes_for(unsigned k, size_t hint)
{
    const size_t unit = (size_t)64 * k;
    if (hint == 0)
        hint = HS_CODEC_STRIPE_BYTES_DEFAULT;
    if (hint > HS_CODEC_STRIPE_BYTES_MAX)
        hint = HS_CODEC_STRIPE_BYTES_MAX;
    return hint < unit ? unit : hint - hint % unit;
}

enum hs_err hs_codec_layout_init(struct hs_codec_layout *out, unsigned k, uint64_t object_bytes,
                                 size_t stripe_bytes)
{
    struct hs_codec_layout l = {.object_bytes = object_bytes, .k = k};
    if (k < 1 || k > HS_CODEC_MAX_K)
        return HS_EINVAL;
    if (stripe_bytes == 0)
        stripe_bytes = hs_codec_stripe_bytes_for(k, 0);
    if (stripe_bytes % k != 0 || stripe_bytes > HS_CODEC_STRIPE_BYTES_MAX)
        return HS_EINVAL;
    l.stripe_bytes = stripe_bytes;
    l.stripes = div_up(object_bytes, stripe_bytes);
    if (l.stripes > 0) {
        l.last_stripe_bytes = (size_t)(object_bytes - (l.stripes - 1) * stripe_bytes);
        size_t last_piece = (size_t)div_up(l.last_stripe_bytes, k);
        l.pad_bytes = last_piece * k - l.last_stripe_bytes;
        l.shard_blob_bytes = (l.stripes - 1) * (stripe_bytes / k) + last_piece;
    }
    *out = l;
    return HS_OK;
}

enum hs_err hs_codec_layout_stripe(const struct hs_codec_layout *l, uint64_t index,
                                   struct hs_codec_stripe_span *out)
{
    if (index >= l->stripes)
        return HS_EINVAL;
    bool last = index == l->stripes - 1;
    out->object_off = index * l->stripe_bytes;
    out->blob_off = index * (l->stripe_bytes / l->k);
    out->object_bytes = last ? l->last_stripe_bytes : l->stripe_bytes;
    out->piece_bytes = (size_t)div_up(out->object_bytes, l->k);
    return HS_OK;
}

/* Calls fn for every run of object bytes [off, off + len) that is contiguous in one data
 * shard blob, in object order: (shard, blob offset, object offset, bytes). Both the range
 * mapping and the gather use it, so they cannot disagree. */
typedef void run_fn(void *ctx, unsigned shard, uint64_t blob_off, uint64_t obj_off, uint64_t n);

static void for_each_run(const struct hs_codec_layout *l, uint64_t off, uint64_t len, run_fn *fn,
                         void *ctx)
{
    const uint64_t end = off + len;
    uint64_t pos = off;
    while (pos < end) {
        uint64_t s = pos / l->stripe_bytes;
        struct hs_codec_stripe_span sp;
        if (hs_codec_layout_stripe(l, s, &sp) != HS_OK)
            HS_BUG("byte %" PRIu64 " past the last stripe of a %" PRIu64 "-byte object", pos,
                   l->object_bytes);
        uint64_t in_stripe = pos - sp.object_off;
        unsigned shard = (unsigned)(in_stripe / sp.piece_bytes);
        uint64_t in_piece = in_stripe % sp.piece_bytes;
        uint64_t piece_end = sp.object_off + (uint64_t)(shard + 1) * sp.piece_bytes;
        uint64_t n = HS_MIN(end, piece_end) - pos;
        fn(ctx, shard, sp.blob_off + in_piece, pos - off, n);
        pos += n;
    }
}

static void widen_span(void *ctx, unsigned shard, uint64_t blob_off, uint64_t obj_off, uint64_t n)
{
    struct hs_codec_range *r = ctx;
    (void)obj_off;
    if (r->data_bytes[shard] == 0) {
        r->data_off[shard] = blob_off;
        r->data_bytes[shard] = n;
        return;
    }
    /* Runs of one shard arrive in blob order and, between the first and last stripe touched,
     * cover whole pieces, so a shard's runs always form one contiguous span. */
    r->data_bytes[shard] = blob_off + n - r->data_off[shard];
}

enum hs_err hs_codec_layout_range(const struct hs_codec_layout *l, uint64_t off, uint64_t len,
                                  struct hs_codec_range *out)
{
    struct hs_codec_range r;
    if (off > l->object_bytes || len > l->object_bytes - off)
        return HS_EINVAL;
    memset(&r, 0, sizeof r);
    if (len > 0) {
        r.first_stripe = off / l->stripe_bytes;
        r.stripes = (off + len - 1) / l->stripe_bytes - r.first_stripe + 1;
        for_each_run(l, off, len, widen_span, &r);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (unsigned i = 0; i < l->k; i++) {
            if (r.data_bytes[i] == 0)
                continue;
            lo = HS_MIN(lo, r.data_off[i]);
            hi = HS_MAX(hi, r.data_off[i] + r.data_bytes[i]);
        }
        r.need_off = lo;
        r.need_bytes = hi - lo;
    }
    *out = r;
    return HS_OK;
}

struct gather_ctx {
    const struct hs_codec_range *r;
    const uint8_t *const *spans;
    uint8_t *out;
};

static void copy_run(void *ctx, unsigned shard, uint64_t blob_off, uint64_t obj_off, uint64_t n)
{
    struct gather_ctx *g = ctx;
    memcpy(g->out + obj_off, g->spans[shard] + (blob_off - g->r->data_off[shard]), n);
}

void hs_codec_range_gather(const struct hs_codec_layout *l, const struct hs_codec_range *r,
                           uint64_t off, uint64_t len, const uint8_t *const spans[], void *out)
{
    struct gather_ctx g = {.r = r, .spans = spans, .out = out};
    for_each_run(l, off, len, copy_run, &g);
}
