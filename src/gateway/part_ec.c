/* part_ec.c - the erasure-coded row of part_writer.h: a segment becomes k data and m parity
 * shard blobs (shard i = piece i of every stripe), encoded straight into shard buffers that are
 * reused from segment to segment (ISA-L on whole stripes, no staging copy of the data). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/part_writer.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct ec_state {
    const struct hs_codec *codec; /* shared, owned by the gateway */
    struct hs_codec_scratch scratch;
    struct hs_buf shards[HS_CODEC_MAX_SHARDS]; /* one segment's shard blobs */
};

static void init(struct hs_part *part, const struct hs_part_geom *g)
{
    hs_part_init_ec(part, g->ec_k, g->ec_m, g->stripe_bytes, 0);
}

/* One segment and its k+m shards (kept between segments). */
static int64_t held_bytes(const struct hs_part_geom *g, int64_t data)
{
    return data + (data + g->ec_k - 1) / g->ec_k * (g->ec_k + g->ec_m);
}

static struct ec_state *state(struct hs_part_writer *pw)
{
    if (!pw->priv) {
        struct ec_state *st = hs_xcalloc(1, sizeof *st);
        hs_codec_scratch_init(&st->scratch);
        pw->priv = st;
    }
    return pw->priv;
}

static enum hs_err encode_shards(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                                 size_t *shard_len_out)
{
    struct ec_state *st = state(pw);
    const struct hs_part *part = pw->part;
    const unsigned k = part->k, m = part->m;
    const size_t S = (size_t)part->stripe_bytes * k;
    struct hs_codec_layout l;
    enum hs_err err = hs_codec_layout_init(&l, k, len, S);
    if (err == HS_OK && (!st->codec || hs_codec_k(st->codec) != k || hs_codec_m(st->codec) != m))
        err = hs_gw_codec(hs_gw_txn_gw(pw->txn), k, m, &st->codec);
    if (err != HS_OK)
        return err;
    size_t shard_len = (size_t)l.shard_blob_bytes;
    for (unsigned i = 0; i < k + m; i++) {
        hs_buf_reset(&st->shards[i]);
        if (hs_buf_reserve(&st->shards[i], shard_len + 1) != HS_OK)
            HS_BUG("unbounded shard buffer refused");
        st->shards[i].len = shard_len;
    }
    for (uint64_t s = 0; s < l.stripes; s++) {
        struct hs_codec_stripe_span sp;
        if (hs_codec_layout_stripe(&l, s, &sp) != HS_OK)
            HS_BUG("stripe %" PRIu64 " of %" PRIu64, s, l.stripes);
        const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
        size_t pb = sp.piece_bytes;
        if (sp.object_bytes == S) {
            /* full stripe: data pieces are contiguous in data, parity goes straight into the
             * parity shard buffers */
            uint8_t *parity[HS_CODEC_MAX_M];
            for (unsigned i = 0; i < k; i++)
                pieces[i] = data + sp.object_off + (size_t)i * pb;
            for (unsigned j = 0; j < m; j++)
                parity[j] = st->shards[k + j].data + sp.blob_off;
            if ((err = hs_codec_encode(st->codec, pb, pieces, parity)) != HS_OK)
                return err;
            for (unsigned i = 0; i < k; i++)
                memcpy(st->shards[i].data + sp.blob_off, pieces[i], pb);
        } else {
            if ((err = hs_codec_stripe_encode(st->codec, data + sp.object_off, sp.object_bytes,
                                              &st->scratch, pieces, &pb)) != HS_OK)
                return err;
            for (unsigned i = 0; i < k + m; i++)
                memcpy(st->shards[i].data + sp.blob_off, pieces[i], pb);
        }
    }
    *shard_len_out = shard_len;
    return HS_OK;
}

static enum hs_err encode(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                          const uint8_t *payload[], size_t plen[], char *msg, size_t msg_len)
{
    size_t shard_len = 0;
    enum hs_err err = encode_shards(pw, data, len, &shard_len);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "erasure coding failed: %s", hs_err_name(err));
        return err;
    }
    struct ec_state *st = pw->priv;
    for (size_t i = 0; i < (size_t)pw->part->k + pw->part->m; i++) {
        payload[i] = st->shards[i].data;
        plen[i] = shard_len;
    }
    return HS_OK;
}

static void release(struct hs_part_writer *pw)
{
    struct ec_state *st = pw->priv;
    if (!st)
        return;
    hs_codec_scratch_release(&st->scratch);
    for (size_t i = 0; i < HS_CODEC_MAX_SHARDS; i++)
        hs_buf_release(&st->shards[i]);
    free(st);
    pw->priv = NULL;
}

const struct hs_part_writer_ops hs_part_ec = {
    .name = "ec",
    .init = init,
    .held_bytes = held_bytes,
    .encode = encode,
    .release = release,
    .tally_chunks = true,
};
