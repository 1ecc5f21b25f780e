/* part_writer.c - the generic half of a part writer (part_writer.h): segments, their blob ids
 * and nodes (blob i on the i-th node of the transaction's ranking), the WAL naming before the
 * blobs may exist, one parallel fan-out per segment (or per group of segments), the quorum
 * rule. How a segment's blobs are produced is the row's (part_replicated.c, part_ec.c, ...). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"
#include "gateway/part_writer.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define GROUP_MAX 2 /* part writers sharing one fan-out */

void hs_part_tally_release(struct hs_part_tally *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_urls; i++)
        free(t->urls[i]);
    free(t->urls);
    t->urls = NULL;
    t->n_urls = 0;
}

void hs_part_writer_init(struct hs_part_writer *pw, const struct hs_part_writer_ops *ops,
                         struct hs_gw_txn *txn, struct hs_part *part, enum hs_meta_blob_part which,
                         const struct hs_part_geom *g, struct hs_part_tally *tally)
{
    memset(pw, 0, sizeof *pw);
    pw->ops = ops;
    pw->txn = txn;
    pw->part = part;
    pw->which = which;
    pw->tally = tally;
    pw->segment_bytes = (size_t)g->segment_bytes;
    hs_buf_init(&pw->seg, pw->segment_bytes);
    ops->init(part, g);
}

void hs_part_writer_release(struct hs_part_writer *pw)
{
    if (!pw || !pw->ops)
        return;
    if (pw->ops->release)
        pw->ops->release(pw);
    hs_buf_release(&pw->seg);
    pw->ops = NULL;
}

/* Appends an empty segment with nb zeroed blobs to part. */
static struct hs_segment *segment_add(struct hs_part *part, size_t nb)
{
    part->segments = hs_xrealloc(part->segments, (part->n_segments + 1) * sizeof *part->segments);
    struct hs_segment *s = &part->segments[part->n_segments++];
    memset(s, 0, sizeof *s);
    s->blobs = hs_xcalloc(nb, sizeof *s->blobs);
    s->n_blobs = nb;
    return s;
}

/* One segment on its way out: its writer, and its calls in a shared array. */
struct seg_job {
    struct hs_part_writer *pw;
    size_t first_call, n_calls;
};

/* Fills the segment's blob refs and the PUT calls (placed blobs only). Returns the calls. */
static size_t build_calls(struct hs_part_writer *pw, struct hs_segment *s, uint32_t seg,
                          const uint8_t *const payload[], const size_t plen[], const uint32_t crc[],
                          struct hs_http_call *calls)
{
    size_t n_calls = 0;
    for (size_t i = 0; i < s->n_blobs; i++) {
        char id[HS_META_BLOB_ID_BUF], unplaced[32];
        if (hs_meta_blob_id_make(hs_gw_txn_id(pw->txn), pw->which, seg, (uint32_t)i, id) != HS_OK)
            HS_BUG("blob id for txn %s", hs_gw_txn_id(pw->txn));
        const char *url = NULL;
        const char *node = hs_gw_txn_blob_node(pw->txn, i, unplaced, &url);
        hs_meta_blob_ref_set(&s->blobs[i], id, node, (int64_t)plen[i], crc[i]);
        if (url)
            calls[n_calls++] = (struct hs_http_call){.op = HS_HTTP_OP_PUT,
                                                     .base_url = url,
                                                     .id = s->blobs[i].blob_id,
                                                     .data = payload[i],
                                                     .len = plen[i],
                                                     .have_crc = true,
                                                     .crc = crc[i]};
    }
    return n_calls;
}

/* Names the segment in the WAL record if needed, encodes it, appends it to the part and adds
 * its PUT calls at calls[*n_calls]. Nothing is sent. */
static enum hs_err seg_prepare(struct hs_part_writer *pw, const uint8_t *data, size_t len,
                               struct hs_http_call *calls, size_t *n_calls, struct seg_job *job,
                               char *msg, size_t msg_len)
{
    struct hs_part *part = pw->part;
    size_t seg = part->n_segments, nb = hs_txn_part_width(part);
    if (seg >= HS_PART_SEGMENTS_MAX) {
        snprintf(msg, msg_len, "object too large: more than %d segments of %zu bytes",
                 HS_PART_SEGMENTS_MAX, pw->segment_bytes);
        return HS_ETOOBIG;
    }
    /* name the blobs before they may exist */
    enum hs_err err = hs_gw_txn_name_segment(pw->txn, pw->which, seg, nb, msg, msg_len);
    if (err != HS_OK)
        return err;
    const uint8_t *payload[HS_CODEC_MAX_SHARDS];
    size_t plen[HS_CODEC_MAX_SHARDS];
    uint32_t crc[HS_CODEC_MAX_SHARDS];
    if ((err = pw->ops->encode(pw, data, len, payload, plen, msg, msg_len)) != HS_OK)
        return err;
    uint32_t seg_crc = hs_crc32c(0, data, len);
    for (size_t i = 0; i < nb; i++) /* a replica is the segment itself */
        crc[i] = payload[i] == data && plen[i] == len ? seg_crc : hs_crc32c(0, payload[i], plen[i]);
    struct hs_segment *s = segment_add(part, nb);
    s->offset_bytes = part->len_bytes;
    s->len_bytes = (int64_t)len;
    s->crc32c = seg_crc;
    part->len_bytes += (int64_t)len;
    job->pw = pw;
    job->first_call = *n_calls;
    job->n_calls = build_calls(pw, s, (uint32_t)seg, payload, plen, crc, calls + *n_calls);
    *n_calls += job->n_calls;
    return HS_OK;
}

/* Adds url to the tally's set unless it is there. */
static void tally_url(struct hs_part_tally *t, const char *url)
{
    for (size_t i = 0; i < t->n_urls; i++)
        if (strcmp(t->urls[i], url) == 0)
            return;
    t->urls = hs_xrealloc(t->urls, (t->n_urls + 1) * sizeof *t->urls);
    t->urls[t->n_urls++] = hs_xstrdup(url);
}

/* Books what the segment's calls did: stored blobs, the tally, the degraded flag;
 * HS_EUNAVAIL below the part's quorum. */
static enum hs_err seg_account(const struct seg_job *job, const struct hs_http_call *calls,
                               char *msg, size_t msg_len)
{
    struct hs_part_writer *pw = job->pw;
    size_t nb = hs_txn_part_width(pw->part), ok = 0;
    for (size_t i = job->first_call; i < job->first_call + job->n_calls; i++) {
        if (!hs_gw_txn_note_put(pw->txn, &calls[i]))
            continue;
        ok++;
        if (pw->ops->tally_urls)
            tally_url(pw->tally, calls[i].base_url);
    }
    if (pw->ops->tally_chunks) {
        pw->tally->chunks_written += (uint32_t)ok;
        pw->tally->total_chunks += (uint32_t)nb;
    }
    if (ok < nb)
        hs_gw_txn_mark_degraded(pw->txn);
    size_t quorum = hs_txn_part_quorum(pw->part);
    if (ok < quorum) {
        hs_gw_metric_add(HS_GW_M_QUORUM_FAILURES, 1);
        snprintf(msg, msg_len,
                 "not enough storage nodes: %zu live, %zu of %zu blobs of a segment stored, "
                 "%zu needed",
                 hs_gw_txn_live(pw->txn), ok, nb, quorum);
        return HS_EUNAVAIL;
    }
    return HS_OK;
}

enum hs_err hs_part_writers_put_segments(struct hs_part_writer *const pws[],
                                         const void *const data[], const size_t len[], size_t n,
                                         char *msg, size_t msg_len)
{
    assert(n >= 1 && n <= GROUP_MAX);
    struct hs_http_call calls[GROUP_MAX * HS_CODEC_MAX_SHARDS];
    size_t n_calls = 0;
    struct seg_job jobs[GROUP_MAX];
    for (size_t j = 0; j < n; j++) {
        enum hs_err err =
            seg_prepare(pws[j], data[j], len[j], calls, &n_calls, &jobs[j], msg, msg_len);
        if (err != HS_OK)
            return err;
    }
    hs_gw_txn_run(pws[0]->txn, calls, n_calls);
    enum hs_err first = HS_OK;
    for (size_t j = 0; j < n; j++) {
        char other[256] = "";
        enum hs_err err = seg_account(&jobs[j], calls, first == HS_OK ? msg : other,
                                      first == HS_OK ? msg_len : sizeof other);
        if (first == HS_OK)
            first = err;
    }
    return first;
}

static enum hs_err put_one(struct hs_part_writer *pw, const uint8_t *data, size_t len, char *msg,
                           size_t msg_len)
{
    struct hs_part_writer *const one[1] = {pw};
    const void *const d[1] = {data};
    const size_t l[1] = {len};
    return hs_part_writers_put_segments(one, d, l, 1, msg, msg_len);
}

enum hs_err hs_part_writer_write(struct hs_part_writer *pw, const void *data, size_t len, char *msg,
                                 size_t msg_len)
{
    const uint8_t *p = data;
    size_t seg = pw->segment_bytes;
    while (len > 0) {
        if (pw->seg.len == 0 && len >= seg) { /* a whole segment straight from the caller */
            enum hs_err err = put_one(pw, p, seg, msg, msg_len);
            if (err != HS_OK)
                return err;
            p += seg;
            len -= seg;
            continue;
        }
        size_t take = HS_MIN(len, seg - pw->seg.len);
        if (hs_buf_append(&pw->seg, p, take) != HS_OK)
            HS_BUG("segment buffer refused %zu bytes", take);
        p += take;
        len -= take;
        if (pw->seg.len == seg) {
            enum hs_err err = put_one(pw, pw->seg.data, pw->seg.len, msg, msg_len);
            if (err != HS_OK)
                return err;
            hs_buf_reset(&pw->seg);
        }
    }
    return HS_OK;
}

enum hs_err hs_part_writer_finish(struct hs_part_writer *pw, char *msg, size_t msg_len)
{
    if (pw->seg.len == 0)
        return HS_OK;
    enum hs_err err = put_one(pw, pw->seg.data, pw->seg.len, msg, msg_len);
    hs_buf_reset(&pw->seg);
    return err;
}

enum hs_err hs_part_writer_put(struct hs_part_writer *pw, const void *data, size_t len, char *msg,
                               size_t msg_len)
{
    const uint8_t *p = data;
    for (size_t off = 0; off < len; off += pw->segment_bytes) {
        enum hs_err err = put_one(pw, p + off, HS_MIN(pw->segment_bytes, len - off), msg, msg_len);
        if (err != HS_OK)
            return err;
    }
    return HS_OK;
}
