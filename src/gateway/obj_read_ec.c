/* obj_read_ec.c - reads byte ranges of one erasure-coded segment: the data shards the range
 * needs, in parallel (only their byte spans, per hs_codec_layout_range), gathered into object
 * order. When a data shard is missing, corrupt or on a dead node, the same span is fetched from
 * enough other shards (parity included) and the missing data is reconstructed (degraded read).
 *
 * Checksums: a range covering at least 3/4 of the segment fetches whole shard blobs, whose
 * CRC32C the blob client checks against the node and we check against the manifest, and the
 * gathered segment is checked against the segment's CRC32C. A smaller range fetches only shard
 * byte spans: the node verifies the whole blob before serving a span (docs/node.md), so disk
 * corruption is still caught; only the lengths are checked here (docs/gateway.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "gateway/obj_read_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct hs_rd_ec {
    struct hs_codec_layout l;
    struct hs_codec_range rng; /* whole segment when verify, else [a, b) */
    bool verify;               /* whole shard blobs fetched, segment CRC checked */
    bool bad;                  /* the manifest's segment is inconsistent (HS_ECORRUPT) */
    unsigned k, n;             /* data shards, all shards */
    struct hs_buf bufs[HS_CODEC_MAX_SHARDS];
    uint64_t have_off[HS_CODEC_MAX_SHARDS]; /* blob span held in bufs[i] */
    uint64_t have_len[HS_CODEC_MAX_SHARDS]; /* 0 = nothing held */
    uint32_t failed;                        /* shards known bad */
    uint32_t abandoned;                     /* shards whose slow call was cancelled */
    size_t call_shard[HS_CODEC_MAX_SHARDS]; /* shard of the segment's i-th first call */
};

static unsigned popcount32(uint32_t v)
{
    return (unsigned)__builtin_popcount(v);
}

/* Sets up call c to fetch blob bytes [off, off + len) of shard i (the whole blob when verify). */
static bool shard_call(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i, uint64_t off,
                       uint64_t len, struct hs_http_call *c)
{
    struct hs_rd_ec *ec = s->ec;
    const struct hs_meta_blob_ref *b = &s->seg->blobs[i];
    const char *url = hs_rd_url(rd, b->node_id);
    if (!url) {
        ec->failed |= 1u << i;
        hs_rd_note_failure(rd, b, HS_EUNAVAIL);
        return false;
    }
    hs_buf_reset(&ec->bufs[i]);
    ec->have_len[i] = 0;
    *c = (struct hs_http_call){
        .op = HS_HTTP_OP_GET, .base_url = url, .id = b->blob_id, .out = &ec->bufs[i]};
    if (ec->verify) {
        off = 0;
        len = ec->l.shard_blob_bytes;
    } else {
        c->range_off = (int64_t)off;
        c->range_len = (int64_t)len;
    }
    ec->have_off[i] = off; /* have_len is set once the call succeeded */
    ec->bufs[i].max_bytes = (size_t)len;
    return true;
}

/* Evaluates shard i's finished call; true when its span is now held. */
static bool shard_done(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i,
                       const struct hs_http_call *c)
{
    struct hs_rd_ec *ec = s->ec;
    const struct hs_meta_blob_ref *b = &s->seg->blobs[i];
    enum hs_err err = c->err;
    if (err == HS_OK && ec->verify &&
        (c->blob_crc != b->crc32c || (uint64_t)c->blob_len != ec->l.shard_blob_bytes))
        err = HS_ECORRUPT; /* the node holds another blob under this id */
    if (err != HS_OK) {
        ec->failed |= 1u << i;
        hs_rd_note_failure(rd, b, err);
        return false;
    }
    ec->have_len[i] = ec->bufs[i].len;
    return true;
}

void hs_rd_ec_prepare(struct hs_rd *rd, struct hs_rd_seg *s, struct hs_http_call *calls,
                      size_t *n_calls)
{
    const struct hs_part *p = s->part;
    struct hs_rd_ec *ec = s->ec = hs_xcalloc(1, sizeof *ec);
    ec->k = p->k;
    ec->n = p->k + p->m;
    for (unsigned i = 0; i < HS_CODEC_MAX_SHARDS; i++)
        hs_buf_init(&ec->bufs[i], 0);
    if (s->seg->n_blobs != ec->n || hs_codec_layout_init(&ec->l, p->k, (uint64_t)s->seg->len_bytes,
                                                         (size_t)p->stripe_bytes * p->k) != HS_OK) {
        ec->bad = true;
        return;
    }
    for (unsigned i = 0; i < ec->n; i++)
        if ((uint64_t)s->seg->blobs[i].len_bytes != ec->l.shard_blob_bytes)
            ec->bad = true;
    ec->verify = (s->b - s->a) * 4 >= s->seg->len_bytes * 3;
    uint64_t off = ec->verify ? 0 : (uint64_t)s->a;
    uint64_t len = ec->verify ? (uint64_t)s->seg->len_bytes : (uint64_t)(s->b - s->a);
    if (ec->bad || hs_codec_layout_range(&ec->l, off, len, &ec->rng) != HS_OK) {
        ec->bad = true;
        return;
    }
    for (unsigned i = 0; i < ec->k; i++) {
        if (ec->rng.data_bytes[i] == 0)
            continue;
        if (shard_call(rd, s, i, ec->rng.data_off[i], ec->rng.data_bytes[i], &calls[*n_calls])) {
            ec->call_shard[s->n_calls++] = i;
            (*n_calls)++;
        }
    }
}

static bool covers(const struct hs_rd_ec *ec, unsigned i, uint64_t off, uint64_t len)
{
    return ec->have_len[i] > 0 && ec->have_off[i] <= off &&
           off + len <= ec->have_off[i] + ec->have_len[i];
}

unsigned hs_rd_ec_call_shard(const struct hs_rd_seg *s, size_t j)
{
    return (unsigned)s->ec->call_shard[j];
}

void hs_rd_ec_done(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i, const struct hs_http_call *c)
{
    shard_done(rd, s, i, c);
}

bool hs_rd_ec_satisfied(const struct hs_rd_seg *s)
{
    const struct hs_rd_ec *ec = s->ec;
    if (ec->bad)
        return false;
    bool data = true;
    unsigned cover = 0;
    for (unsigned i = 0; i < ec->n; i++) {
        bool held = !(ec->failed & (1u << i)) && ec->have_len[i] > 0;
        if (i < ec->k && ec->rng.data_bytes[i] > 0 && !held)
            data = false;
        if (held && covers(ec, i, ec->rng.need_off, ec->rng.need_bytes))
            cover++;
    }
    return data || cover >= ec->k;
}

size_t hs_rd_ec_backups(struct hs_rd *rd, struct hs_rd_seg *s, uint32_t running, uint32_t alive,
                        struct hs_http_call *calls, unsigned *shards, size_t max)
{
    struct hs_rd_ec *ec = s->ec;
    if (ec->bad)
        return 0;
    const uint64_t off = ec->rng.need_off, len = ec->rng.need_bytes;
    unsigned will = 0;
    for (unsigned i = 0; i < ec->n; i++) {
        uint32_t bit = 1u << i;
        if (ec->failed & bit)
            continue;
        /* a running call covers the span when its planned span does (have_len is 0 yet) */
        bool planned = (alive & bit) && ec->have_off[i] <= off &&
                       off + len <= ec->have_off[i] + ec->bufs[i].max_bytes;
        if (covers(ec, i, off, len) || planned)
            will++;
    }
    size_t n = 0;
    for (unsigned i = 0; i < ec->n && will < ec->k && n < max; i++) {
        uint32_t bit = 1u << i;
        if (((ec->failed | ec->abandoned | running) & bit) || ec->have_len[i] > 0)
            continue;
        if (shard_call(rd, s, i, off, len, &calls[n])) {
            shards[n++] = i;
            will++;
        }
    }
    return n;
}

void hs_rd_ec_abandon(struct hs_rd_seg *s, unsigned i)
{
    struct hs_rd_ec *ec = s->ec;
    ec->abandoned |= 1u << i;
    hs_buf_reset(&ec->bufs[i]);
    ec->have_len[i] = 0;
}

/* Gets the need span of at least k shards, fetching from healthy ones (data first) in rounds. */
static enum hs_err fetch_sources(struct hs_rd *rd, struct hs_rd_seg *s, uint32_t *present_out)
{
    struct hs_rd_ec *ec = s->ec;
    const uint64_t off = ec->rng.need_off, len = ec->rng.need_bytes;
    for (;;) {
        uint32_t present = 0;
        for (unsigned i = 0; i < ec->n; i++)
            if (!((ec->failed | ec->abandoned) & (1u << i)) && covers(ec, i, off, len))
                present |= 1u << i;
        if (popcount32(present) >= ec->k) {
            *present_out = present;
            return HS_OK;
        }
        struct hs_http_call calls[HS_CODEC_MAX_SHARDS];
        unsigned shard_of[HS_CODEC_MAX_SHARDS];
        size_t n = 0;
        unsigned missing = ec->k - popcount32(present);
        /* shards whose slow call a hedge cancelled come last: they may answer after all */
        for (int pass = 0; pass < 2 && n < missing; pass++) {
            uint32_t skip = ec->failed | present | (pass == 0 ? ec->abandoned : 0);
            for (unsigned i = 0; i < ec->n && n < missing; i++) {
                if ((skip & (1u << i)) || (pass == 1 && !(ec->abandoned & (1u << i))))
                    continue;
                ec->abandoned &= ~(1u << i);
                if (shard_call(rd, s, i, off, len, &calls[n]))
                    shard_of[n++] = i;
            }
        }
        if (n == 0)
            return HS_EUNAVAIL;
        (void)hs_http_client_run(hs_gw_blob_client(rd->gw), calls, n);
        for (size_t c = 0; c < n; c++)
            shard_done(rd, s, shard_of[c], &calls[c]);
    }
}

/* Reconstructs the needed data shards that are not held, over the need span, into tmp[]. */
static enum hs_err reconstruct(struct hs_rd *rd, struct hs_rd_seg *s, uint32_t present,
                               uint8_t *tmp[])
{
    struct hs_rd_ec *ec = s->ec;
    const uint64_t off = ec->rng.need_off, len = ec->rng.need_bytes;
    const struct hs_codec *codec = NULL;
    enum hs_err err = hs_gw_codec(rd->gw, ec->k, ec->n - ec->k, &codec);
    if (err != HS_OK)
        return HS_ECORRUPT;
    uint32_t want = 0;
    for (unsigned i = 0; i < ec->k; i++)
        if (ec->rng.data_bytes[i] > 0 && !(present & (1u << i))) {
            want |= 1u << i;
            tmp[i] = hs_xaligned_alloc((size_t)len);
        }
    /* positions are coded independently: any chunking of the span works */
    for (uint64_t pos = 0; pos < len; pos += HS_CODEC_SHARD_BYTES_MAX) {
        size_t chunk = (size_t)HS_MIN(len - pos, (uint64_t)HS_CODEC_SHARD_BYTES_MAX);
        uint8_t *ptrs[HS_CODEC_MAX_SHARDS] = {0};
        for (unsigned i = 0; i < ec->n; i++) {
            if (present & (1u << i))
                ptrs[i] = ec->bufs[i].data + (off - ec->have_off[i]) + pos;
            else if (want & (1u << i))
                ptrs[i] = tmp[i] + pos;
        }
        err = hs_codec_reconstruct(codec, chunk, ptrs, present, want);
        if (err != HS_OK)
            return err;
    }
    return HS_OK;
}

/* Copies the wanted bytes into s->out from the held spans (and reconstructed ones). */
static enum hs_err gather(struct hs_rd *rd, struct hs_rd_seg *s, uint8_t *tmp[])
{
    struct hs_rd_ec *ec = s->ec;
    const uint8_t *spans[HS_CODEC_MAX_K] = {0};
    for (unsigned i = 0; i < ec->k; i++) {
        if (ec->rng.data_bytes[i] == 0)
            continue;
        spans[i] = tmp[i] ? tmp[i] + (ec->rng.data_off[i] - ec->rng.need_off)
                          : ec->bufs[i].data + (ec->rng.data_off[i] - ec->have_off[i]);
    }
    uint64_t off = ec->verify ? 0 : (uint64_t)s->a;
    uint64_t len = ec->verify ? (uint64_t)s->seg->len_bytes : (uint64_t)(s->b - s->a);
    size_t base = s->out->len;
    if (hs_buf_reserve(s->out, (size_t)len) != HS_OK)
        return HS_ETOOBIG;
    uint8_t *dst = s->out->data + base;
    hs_codec_range_gather(&ec->l, &ec->rng, off, len, spans, dst);
    if (ec->verify) {
        if (hs_crc32c(0, dst, (size_t)len) != s->seg->crc32c) {
            HS_LOG_ERROR("segment_crc_mismatch", "obj='%s' shard0='%s'", rd->key,
                         s->seg->blobs[0].blob_id);
            return HS_ECORRUPT;
        }
        memmove(dst, dst + s->a, (size_t)(s->b - s->a));
    }
    s->out->len = base + (size_t)(s->b - s->a);
    return HS_OK;
}

enum hs_err hs_rd_ec_finish(struct hs_rd *rd, struct hs_rd_seg *s, char *msg, size_t msg_len)
{
    struct hs_rd_ec *ec = s->ec;
    if (ec->bad) {
        snprintf(msg, msg_len, "manifest of '%s' has an inconsistent EC segment", rd->key);
        return HS_ECORRUPT;
    }
    /* the race (hs_rd_race) booked the first calls and any backups */
    uint32_t needed = 0;
    for (unsigned i = 0; i < ec->k; i++)
        if (ec->rng.data_bytes[i] > 0)
            needed |= 1u << i;
    uint8_t *tmp[HS_CODEC_MAX_SHARDS] = {0};
    enum hs_err err = HS_OK;
    if ((ec->failed | ec->abandoned) & needed) {
        /* a slow shard decoded around is not a degraded copy: only failures are */
        if (ec->failed & needed)
            rd->degraded = true;
        uint32_t present = 0;
        err = fetch_sources(rd, s, &present);
        if (err == HS_OK)
            err = reconstruct(rd, s, present, tmp);
        if (err != HS_OK)
            snprintf(msg, msg_len, "too few healthy shards of '%s': %u of %u failed (need %u)",
                     rd->key, popcount32(ec->failed), ec->n, ec->k);
    }
    if (err == HS_OK)
        err = gather(rd, s, tmp);
    if (err == HS_ECORRUPT)
        snprintf(msg, msg_len, "'%s' does not match its checksum", rd->key);
    for (unsigned i = 0; i < HS_CODEC_MAX_SHARDS; i++)
        free(tmp[i]);
    return err;
}

void hs_rd_ec_release(struct hs_rd_seg *s)
{
    if (!s->ec)
        return;
    for (unsigned i = 0; i < HS_CODEC_MAX_SHARDS; i++)
        hs_buf_release(&s->ec->bufs[i]);
    free(s->ec);
    s->ec = NULL;
}
