/* obj_segment.c - one segment of a write: blob ids and nodes (blob i on the i-th node of the
 * key's rendezvous ranking), EC encoding straight into reused shard buffers (ISA-L on whole
 * stripes, no staging copy of the data), the parallel PUTs on the calling thread's node
 * client, and the quorum rule. Also the parallel DELETEs of a failed write's clean-up and the
 * retire records of replaced blobs. The commit protocol around it is obj_commit.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"
#include "gateway/obj_write_int.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define DELETE_BATCH 64 /* DELETEs in flight at once; also the retry bound of run_calls */

size_t hs_wr_quorum(const struct hs_part *part)
{
    if (part->kind == HS_PART_REPLICATED)
        return part->replicas / 2 + 1;
    return HS_MIN(part->k + 1, part->k + part->m);
}

static size_t part_blobs(const struct hs_part *part)
{
    return part->kind == HS_PART_REPLICATED ? part->replicas : (size_t)part->k + part->m;
}

static struct hs_part *part_of(struct hs_obj_writer *w, enum hs_blob_part which)
{
    if (which == HS_BLOB_PART_HOT)
        return &w->next.hot;
    if (which == HS_BLOB_PART_COLD)
        return &w->next.cold;
    return &w->next.data;
}

void hs_wr_wal_add(struct hs_obj_writer *w, enum hs_blob_part which, size_t to)
{
    if (to > w->wal_segs[which]) {
        w->wal_segs[which] = to;
        hs_txn_record_set_segs(&w->wal, which, (uint32_t)to,
                               (uint32_t)part_blobs(part_of(w, which)));
    }
}

/* Runs calls in parallel, then once more those that lost their connection (HS_EUNAVAIL):
 * a kept-alive connection the node closed while idle fails a PUT that curl cannot rewind, and
 * a fresh connection then works. PUT and DELETE of a blob are idempotent on the node. */
static void run_calls(struct hs_blob_client *c, struct hs_blob_call *calls, size_t n)
{
    (void)hs_blob_client_run(c, calls, n);
    struct hs_blob_call again[DELETE_BATCH];
    size_t idx[DELETE_BATCH], m = 0;
    for (size_t i = 0; i < n && m < DELETE_BATCH; i++) {
        if (calls[i].err != HS_EUNAVAIL)
            continue;
        again[m] = calls[i];
        again[m].err = HS_OK;
        again[m].http_status = 0;
        idx[m++] = i;
    }
    if (m == 0)
        return;
    (void)hs_blob_client_run(c, again, m);
    for (size_t j = 0; j < m; j++)
        calls[idx[j]] = again[j];
}

/* Encodes len bytes into k+m shard blobs in w->shards (shard i = piece i of every stripe). */
static enum hs_err ec_encode(struct hs_obj_writer *w, const struct hs_part *part,
                             const uint8_t *data, size_t len, size_t *shard_len_out)
{
    const unsigned k = part->k, m = part->m;
    const size_t S = (size_t)part->stripe_bytes * k;
    struct hs_codec_layout l;
    enum hs_err err = hs_codec_layout_init(&l, k, len, S);
    if (err == HS_OK && (!w->codec || hs_codec_k(w->codec) != k || hs_codec_m(w->codec) != m))
        err = hs_gw_codec(w->gw, k, m, &w->codec);
    if (err != HS_OK)
        return err;
    size_t shard_len = (size_t)l.shard_blob_bytes;
    for (unsigned i = 0; i < k + m; i++) {
        hs_buf_reset(&w->shards[i]);
        if (hs_buf_reserve(&w->shards[i], shard_len + 1) != HS_OK)
            HS_BUG("unbounded shard buffer refused");
        w->shards[i].len = shard_len;
    }
    for (uint64_t st = 0; st < l.stripes; st++) {
        struct hs_codec_stripe_span sp;
        if (hs_codec_layout_stripe(&l, st, &sp) != HS_OK)
            HS_BUG("stripe %" PRIu64 " of %" PRIu64, st, l.stripes);
        const uint8_t *pieces[HS_CODEC_MAX_SHARDS];
        size_t pb = sp.piece_bytes;
        if (sp.object_bytes == S) {
            /* full stripe: data pieces are contiguous in data, parity goes straight into the
             * parity shard buffers */
            uint8_t *parity[HS_CODEC_MAX_M];
            for (unsigned i = 0; i < k; i++)
                pieces[i] = data + sp.object_off + (size_t)i * pb;
            for (unsigned j = 0; j < m; j++)
                parity[j] = w->shards[k + j].data + sp.blob_off;
            if ((err = hs_codec_encode(w->codec, pb, pieces, parity)) != HS_OK)
                return err;
            for (unsigned i = 0; i < k; i++)
                memcpy(w->shards[i].data + sp.blob_off, pieces[i], pb);
        } else {
            if ((err = hs_codec_stripe_encode(w->codec, data + sp.object_off, sp.object_bytes,
                                              &w->scratch, pieces, &pb)) != HS_OK)
                return err;
            for (unsigned i = 0; i < k + m; i++)
                memcpy(w->shards[i].data + sp.blob_off, pieces[i], pb);
        }
    }
    *shard_len_out = shard_len;
    return HS_OK;
}

static void note_stored(struct hs_obj_writer *w, const char *id, const char *url)
{
    if (w->n_stored == w->cap_stored) {
        w->cap_stored = w->cap_stored ? 2 * w->cap_stored : 16;
        w->stored = hs_xrealloc(w->stored, w->cap_stored * sizeof *w->stored);
    }
    struct hs_wr_stored *s = &w->stored[w->n_stored++];
    snprintf(s->id, sizeof s->id, "%s", id);
    s->url = hs_xstrdup(url);
}

/* Adds url to the set (*set, *n) unless it is there. */
static void note_url(char ***set, size_t *n, const char *url)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*set)[i], url) == 0)
            return;
    *set = hs_xrealloc(*set, (*n + 1) * sizeof **set);
    (*set)[(*n)++] = hs_xstrdup(url);
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

/* Fills the segment's blob refs and the PUT calls (placed blobs only). Returns the calls. */
static size_t build_calls(struct hs_obj_writer *w, struct hs_segment *s, enum hs_blob_part which,
                          uint32_t seg, const uint8_t *const payload[], const size_t plen[],
                          const uint32_t crc[], struct hs_blob_call *calls)
{
    size_t n_calls = 0;
    for (size_t i = 0; i < s->n_blobs; i++) {
        char id[HS_META_BLOB_ID_BUF], unplaced[32];
        if (hs_meta_blob_id_make(w->txn, which, seg, (uint32_t)i, id) != HS_OK)
            HS_BUG("blob id for txn %s", w->txn);
        const char *node = NULL;
        if (i < w->mem->n) {
            node = w->mem->nodes[w->rank[i]].id;
        } else {
            snprintf(unplaced, sizeof unplaced, HS_WR_UNPLACED "%zu", i);
            node = unplaced;
        }
        hs_blob_ref_set(&s->blobs[i], id, node, (int64_t)plen[i], crc[i]);
        if (i < w->mem->n)
            calls[n_calls++] = (struct hs_blob_call){.op = HS_BLOB_OP_PUT,
                                                     .base_url = w->mem->nodes[w->rank[i]].url,
                                                     .id = s->blobs[i].blob_id,
                                                     .data = payload[i],
                                                     .len = plen[i],
                                                     .have_crc = true,
                                                     .crc = crc[i]};
    }
    return n_calls;
}

/* One segment on its way out: its part, and its calls in a shared array. */
struct seg_job {
    struct hs_part *part;
    size_t first_call, n_calls;
};

/* Names the segment in the WAL record if needed, encodes it, appends it to part and adds its
 * PUT calls at calls[*n_calls]. Nothing is sent. */
static enum hs_err seg_prepare(struct hs_obj_writer *w, struct hs_part *part,
                               enum hs_blob_part which, const uint8_t *data, size_t len,
                               struct hs_blob_call *calls, size_t *n_calls, struct seg_job *job,
                               char *msg, size_t msg_len)
{
    size_t seg = part->n_segments, nb = part_blobs(part);
    if (seg >= HS_WR_SEGMENTS_MAX) {
        snprintf(msg, msg_len, "object too large: more than %d segments of %" PRId64 " bytes",
                 HS_WR_SEGMENTS_MAX, w->gw->opts.segment_bytes);
        return HS_ETOOBIG;
    }
    if (seg >= w->wal_segs[which]) { /* name the blobs before they may exist */
        hs_wr_wal_add(w, which, seg + 1);
        enum hs_err err = hs_wr_wal_put(w, msg, msg_len);
        if (err != HS_OK)
            return err;
    }
    const uint8_t *payload[HS_CODEC_MAX_SHARDS];
    size_t plen[HS_CODEC_MAX_SHARDS];
    uint32_t crc[HS_CODEC_MAX_SHARDS];
    uint32_t seg_crc = hs_crc32c(0, data, len);
    if (part->kind == HS_PART_REPLICATED) {
        for (size_t i = 0; i < nb; i++)
            payload[i] = data, plen[i] = len, crc[i] = seg_crc;
    } else {
        size_t shard_len = 0;
        enum hs_err err = ec_encode(w, part, data, len, &shard_len);
        if (err != HS_OK) {
            snprintf(msg, msg_len, "erasure coding failed: %s", hs_err_name(err));
            return err;
        }
        for (size_t i = 0; i < nb; i++) {
            payload[i] = w->shards[i].data;
            plen[i] = shard_len;
            crc[i] = hs_crc32c(0, payload[i], shard_len);
        }
    }
    struct hs_segment *s = segment_add(part, nb);
    s->offset_bytes = part->len_bytes;
    s->len_bytes = (int64_t)len;
    s->crc32c = seg_crc;
    part->len_bytes += (int64_t)len;
    job->part = part;
    job->first_call = *n_calls;
    job->n_calls = build_calls(w, s, which, (uint32_t)seg, payload, plen, crc, calls + *n_calls);
    *n_calls += job->n_calls;
    return HS_OK;
}

/* Books what the segment's calls did: stored blobs, replica URLs, EC chunk counts, the
 * degraded flag; HS_EUNAVAIL below its quorum. */
static enum hs_err seg_account(struct hs_obj_writer *w, const struct seg_job *job,
                               const struct hs_blob_call *calls, char *msg, size_t msg_len)
{
    const struct hs_part *part = job->part;
    size_t nb = part_blobs(part), ok = 0;
    for (size_t i = job->first_call; i < job->first_call + job->n_calls; i++) {
        if (calls[i].err != HS_OK) {
            if (calls[i].err == HS_ETIMEDOUT || calls[i].err == HS_EUNAVAIL)
                note_url(&w->bad_urls, &w->n_bad_urls, calls[i].base_url);
            HS_LOG_WARN("blob_put_failed", "req=%s blob=%s node=%s err=%s http=%ld",
                        w->req_id ? w->req_id : "-", calls[i].id, calls[i].base_url,
                        hs_err_name(calls[i].err), calls[i].http_status);
            continue;
        }
        ok++;
        note_stored(w, calls[i].id, calls[i].base_url);
        if (part->kind == HS_PART_REPLICATED)
            note_url(&w->urls, &w->n_urls, calls[i].base_url);
    }
    if (part->kind == HS_PART_EC) {
        w->chunks_written += (uint32_t)ok;
        w->total_chunks += (uint32_t)nb;
    }
    if (ok < nb)
        w->degraded = true;
    size_t quorum = hs_wr_quorum(part);
    if (ok < quorum) {
        hs_gw_metric_add(HS_GW_M_QUORUM_FAILURES, 1);
        snprintf(msg, msg_len,
                 "not enough storage nodes: %zu live, %zu of %zu blobs of a segment stored, "
                 "%zu needed",
                 w->mem->n, ok, nb, quorum);
        return HS_EUNAVAIL;
    }
    return HS_OK;
}

enum hs_err hs_wr_put_segment(struct hs_obj_writer *w, struct hs_part *part,
                              enum hs_blob_part which, const uint8_t *data, size_t len, char *msg,
                              size_t msg_len)
{
    struct hs_blob_call calls[HS_CODEC_MAX_SHARDS];
    size_t n_calls = 0;
    struct seg_job job;
    enum hs_err err = seg_prepare(w, part, which, data, len, calls, &n_calls, &job, msg, msg_len);
    if (err != HS_OK)
        return err;
    run_calls(hs_gw_blob_client(w->gw), calls, n_calls);
    return seg_account(w, &job, calls, msg, msg_len);
}

enum hs_err hs_wr_put_pair(struct hs_obj_writer *w, const uint8_t *hot, size_t hot_len,
                           const uint8_t *cold, size_t cold_len, char *msg, size_t msg_len)
{
    struct hs_blob_call calls[2 * HS_CODEC_MAX_SHARDS];
    size_t n_calls = 0;
    struct seg_job jobs[2];
    enum hs_err err = seg_prepare(w, &w->next.hot, HS_BLOB_PART_HOT, hot, hot_len, calls, &n_calls,
                                  &jobs[0], msg, msg_len);
    if (err == HS_OK)
        err = seg_prepare(w, &w->next.cold, HS_BLOB_PART_COLD, cold, cold_len, calls, &n_calls,
                          &jobs[1], msg, msg_len);
    if (err != HS_OK)
        return err;
    run_calls(hs_gw_blob_client(w->gw), calls, n_calls);
    enum hs_err hot_err = seg_account(w, &jobs[0], calls, msg, msg_len);
    char cold_msg[256] = "";
    err = seg_account(w, &jobs[1], calls, cold_msg, sizeof cold_msg);
    if (hot_err != HS_OK)
        return hot_err;
    if (err != HS_OK)
        snprintf(msg, msg_len, "%s", cold_msg);
    return err;
}

enum hs_err hs_wr_put_part(struct hs_obj_writer *w, struct hs_part *part, enum hs_blob_part which,
                           const uint8_t *data, size_t len, char *msg, size_t msg_len)
{
    size_t seg_bytes = (size_t)w->gw->opts.segment_bytes;
    for (size_t off = 0; off < len; off += seg_bytes) {
        enum hs_err err = hs_wr_put_segment(w, part, which, data + off,
                                            HS_MIN(seg_bytes, len - off), msg, msg_len);
        if (err != HS_OK)
            return err;
    }
    return HS_OK;
}

char *hs_gw_retire_json(const char *key, const struct hs_blob_loc *blobs, size_t n, size_t *len)
{
    struct hs_retire_record r;
    hs_retire_record_init(&r);
    r.key = hs_xstrdup(key);
    r.retired_ms = hs_clock_wall_ms();
    for (size_t i = 0; i < n; i++) /* a blob of a pseudo node was never stored anywhere */
        if (strncmp(blobs[i].node_id, HS_WR_UNPLACED, sizeof HS_WR_UNPLACED - 1) != 0)
            hs_retire_record_add(&r, &blobs[i], 1);
    char *json = NULL, why[160] = "";
    if (hs_retire_record_encode(&r, &json, len, why, sizeof why) != HS_OK)
        HS_BUG("retire record of '%s': %s", key, why);
    hs_retire_record_release(&r);
    return json;
}

/* Runs DELETE calls in batches; returns failures (neither deleted nor absent). */
static size_t run_deletes(struct hs_gw *gw, struct hs_blob_call *calls, size_t n)
{
    struct hs_blob_client *c = hs_gw_blob_client(gw);
    size_t failures = 0;
    for (size_t off = 0; off < n; off += DELETE_BATCH) {
        size_t b = HS_MIN((size_t)DELETE_BATCH, n - off);
        run_calls(c, calls + off, b);
        for (size_t i = off; i < off + b; i++)
            if (calls[i].err != HS_OK && calls[i].err != HS_ENOENT)
                failures++;
    }
    return failures;
}

size_t hs_wr_delete_stored(struct hs_obj_writer *w)
{
    if (w->n_stored == 0)
        return 0;
    struct hs_blob_call *calls = hs_xcalloc(w->n_stored, sizeof *calls);
    for (size_t i = 0; i < w->n_stored; i++)
        calls[i] = (struct hs_blob_call){
            .op = HS_BLOB_OP_DELETE, .base_url = w->stored[i].url, .id = w->stored[i].id};
    size_t failures = run_deletes(w->gw, calls, w->n_stored);
    if (failures) {
        hs_gw_metric_add(HS_GW_M_BLOB_DELETE_FAILURES, (int64_t)failures);
        HS_LOG_WARN("blob_cleanup_failed", "req=%s txn=%s failures=%zu", w->req_id, w->txn,
                    failures);
    }
    free(calls);
    for (size_t i = 0; i < w->n_stored; i++)
        free(w->stored[i].url);
    w->n_stored = 0;
    return failures;
}

size_t hs_gw_delete_blobs(struct hs_gw *gw, const struct hs_gw_members *mem,
                          const struct hs_blob_loc *locs, size_t n, bool *deleted_out)
{
    if (n == 0)
        return 0;
    struct hs_blob_call *calls = hs_xcalloc(n, sizeof *calls);
    size_t *map = hs_xcalloc(n, sizeof *map);
    size_t n_calls = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        deleted_out[i] = false;
        if (strncmp(locs[i].node_id, HS_WR_UNPLACED, sizeof HS_WR_UNPLACED - 1) == 0)
            continue; /* never stored anywhere */
        const char *url = hs_gw_members_url_any(mem, locs[i].node_id);
        if (!url) {
            failures++; /* node gone: its retire record has it */
            continue;
        }
        map[n_calls] = i;
        calls[n_calls++] =
            (struct hs_blob_call){.op = HS_BLOB_OP_DELETE, .base_url = url, .id = locs[i].blob_id};
    }
    failures += run_deletes(gw, calls, n_calls);
    for (size_t j = 0; j < n_calls; j++)
        deleted_out[map[j]] = calls[j].err == HS_OK;
    if (failures)
        hs_gw_metric_add(HS_GW_M_BLOB_DELETE_FAILURES, (int64_t)failures);
    free(calls);
    free(map);
    return failures;
}
