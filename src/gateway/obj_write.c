/* obj_write.c - the streaming writer (gateway.h): validation, the strategy choice (auto:
 * JSON object with a hot field -> field_hybrid, small -> replication, large -> ec), segment
 * buffering for streamed writes, and field_hybrid (split, pure hot update detection, hot and
 * cold parts). Blobs go out through obj_segment.c; the etcd side is obj_commit.c.
 *
 * Memory: a streamed write holds one segment (plus its EC shards); a field_hybrid document,
 * and an auto write that may still turn out to be one, is held whole (bounded by doc_max). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/obj_write_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define CTYPE_DEFAULT "application/octet-stream"

static bool ctype_valid(const char *ct)
{
    size_t n = strlen(ct);
    if (n == 0 || n > HS_CONTENT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] > 0x7e)
            return false;
    return true;
}

static bool ctype_is_json(const char *ct)
{
    static const char json[] = "application/json";
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, json, sizeof json - 1) != 0)
        return false;
    const char *rest = ct + sizeof json - 1;
    while (*rest == ' ')
        rest++;
    return *rest == '\0' || *rest == ';';
}

static void writer_free(struct hs_obj_writer *w)
{
    if (!w)
        return;
    free(w->key);
    free(w->content_type);
    free(w->if_match);
    free(w->req_id);
    if (w->mem)
        hs_gw_members_put(w->gw, w->mem);
    free(w->rank);
    free(w->meta_key);
    free(w->txn_key);
    free(w->repair_key);
    free(w->retire_key);
    hs_txn_record_release(&w->wal);
    hs_manifest_release(&w->cur);
    hs_manifest_release(&w->next);
    hs_buf_release(&w->buf);
    for (size_t i = 0; i < w->n_stored; i++)
        free(w->stored[i].url);
    free(w->stored);
    for (size_t i = 0; i < w->n_urls; i++)
        free(w->urls[i]);
    free(w->urls);
    for (size_t i = 0; i < w->n_bad_urls; i++)
        free(w->bad_urls[i]);
    free(w->bad_urls);
    hs_codec_scratch_release(&w->scratch);
    for (size_t i = 0; i < HS_CODEC_MAX_SHARDS; i++)
        hs_buf_release(&w->shards[i]);
    hs_split_result_release(&w->split);
    if (w->write_slot)
        hs_gw_write_slot_put(w->gw);
    hs_gw_body_release(w->gw, &w->body_budget); /* after the frees: it may trim the heap */
    free(w);
}

static int64_t max_object_bytes(const struct hs_obj_writer *w)
{
    return (int64_t)HS_WR_SEGMENTS_MAX * w->gw->opts.segment_bytes;
}

/* Bytes a streamed write holds at most, for body-buffer-budget: one segment (or the whole body
 * when it is shorter), plus its k+m shards for EC (obj_segment.c keeps them between segments). */
static int64_t stream_held_bytes(const struct hs_obj_writer *w)
{
    int64_t data = w->gw->opts.segment_bytes;
    if (w->declared_len >= 0 && w->declared_len < data)
        data = w->declared_len;
    if (w->strategy == HS_STRATEGY_EC)
        data += (data + w->set.ec_k - 1) / w->set.ec_k * (w->set.ec_k + w->set.ec_m);
    return data;
}

/* The auto rule once the size is final (or past every limit): small -> replication. */
static enum hs_strategy by_size(const struct hs_obj_writer *w, int64_t len)
{
    return len <= w->gw->opts.auto_ec_threshold ? HS_STRATEGY_REPLICATION : HS_STRATEGY_EC;
}

static enum hs_err validate(const struct hs_gw *gw, const struct hs_obj_put_opts *o, char *msg,
                            size_t msg_len)
{
    if (!o->key || !hs_meta_object_key_valid(o->key, o->key_len)) {
        snprintf(msg, msg_len, "invalid key: want 1..%d bytes of UTF-8 without control characters",
                 HS_OBJECT_KEY_MAX);
        return HS_EINVAL;
    }
    if ((unsigned)o->strategy > HS_STRATEGY_FIELD_HYBRID) {
        snprintf(msg, msg_len, "invalid strategy");
        return HS_EINVAL;
    }
    if (o->content_type && !ctype_valid(o->content_type)) {
        snprintf(msg, msg_len, "invalid Content-Type: want 1..%d printable ASCII characters",
                 HS_CONTENT_TYPE_MAX);
        return HS_EINVAL;
    }
    if (o->if_match && (!*o->if_match || strlen(o->if_match) > HS_ETAG_MAX)) {
        snprintf(msg, msg_len, "invalid If-Match");
        return HS_EINVAL;
    }
    if (o->strategy == HS_STRATEGY_FIELD_HYBRID && o->declared_len > gw->opts.doc_max_bytes) {
        snprintf(msg, msg_len, "a field_hybrid document may have at most %" PRId64 " bytes",
                 gw->opts.doc_max_bytes);
        return HS_ETOOBIG;
    }
    return HS_OK;
}

enum hs_err hs_obj_writer_begin(struct hs_gw *gw, const struct hs_obj_put_opts *opts,
                                struct hs_obj_writer **out, char *msg, size_t msg_len)
{
    enum hs_err err = validate(gw, opts, msg, msg_len);
    if (err != HS_OK)
        return err;
    struct hs_obj_writer *w = hs_xcalloc(1, sizeof *w);
    w->gw = gw;
    w->key = hs_xstrndup(opts->key, opts->key_len);
    w->key_len = opts->key_len;
    w->content_type = hs_xstrdup(opts->content_type ? opts->content_type : CTYPE_DEFAULT);
    w->if_match = opts->if_match ? hs_xstrdup(opts->if_match) : NULL;
    w->if_match_any = opts->if_match_any;
    w->if_none_match_any = opts->if_none_match_any;
    w->hot_only = opts->hot_only;
    w->req_id = hs_xstrdup(opts->request_id ? opts->request_id : "-");
    w->declared_len = opts->declared_len;
    w->json_body = ctype_is_json(w->content_type);
    hs_txn_record_init(&w->wal);
    hs_manifest_init(&w->cur);
    hs_manifest_init(&w->next);
    hs_codec_scratch_init(&w->scratch);
    hs_split_result_init(&w->split, (size_t)gw->opts.doc_max_bytes);
    hs_gw_settings_get(gw, &w->set);
    if (w->declared_len > max_object_bytes(w)) {
        snprintf(msg, msg_len, "object too large: at most %" PRId64 " bytes", max_object_bytes(w));
        writer_free(w);
        return HS_ETOOBIG;
    }
    w->strategy = opts->strategy;
    /* auto: a JSON body that may be a document with hot fields is read whole first */
    if (w->strategy == 0 && w->declared_len >= 0 &&
        !(w->json_body && w->declared_len <= gw->opts.doc_max_bytes))
        w->strategy = by_size(w, w->declared_len);
    if (w->strategy == HS_STRATEGY_REPLICATION || w->strategy == HS_STRATEGY_EC) {
        hs_buf_init(&w->buf, (size_t)gw->opts.segment_bytes);
        int64_t held = stream_held_bytes(w);
        err = hs_gw_body_grow(gw, &w->body_budget, held, held, msg, msg_len);
        if (err == HS_OK)
            err = hs_wr_start(w, msg, msg_len); /* 503 / 412 before the body is read */
        if (err != HS_OK) {
            hs_wr_fail_cleanup(w);
            writer_free(w);
            return err;
        }
    } else {
        /* field_hybrid: bounded by doc_max; auto: the rules in write_any bound it */
        if ((err = hs_gw_body_admit(gw, w->declared_len, msg, msg_len)) != HS_OK) {
            writer_free(w);
            return err;
        }
        w->buffer_all = true;
        hs_buf_init(&w->buf, w->strategy ? (size_t)gw->opts.doc_max_bytes : 0);
    }
    *out = w;
    return HS_OK;
}

/* Sends every full segment held in buf, keeping the rest (less than a segment) at its start. */
static enum hs_err flush_full_segments(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    size_t seg = (size_t)w->gw->opts.segment_bytes, off = 0;
    while (w->buf.len - off >= seg) {
        enum hs_err err = hs_wr_put_segment(w, &w->next.data, HS_BLOB_PART_DATA, w->buf.data + off,
                                            seg, msg, msg_len);
        if (err != HS_OK)
            return err;
        off += seg;
    }
    if (off) {
        memmove(w->buf.data, w->buf.data + off, w->buf.len - off);
        w->buf.len -= off;
    }
    return HS_OK;
}

/* An auto write turned out to be a plain stream: start it and send what was buffered. */
static enum hs_err switch_to_stream(struct hs_obj_writer *w, enum hs_strategy s, char *msg,
                                    size_t msg_len)
{
    w->strategy = s;
    w->buffer_all = false;
    w->buf.max_bytes = 0; /* it may hold more than a segment until the flush below */
    enum hs_err err = hs_wr_start(w, msg, msg_len);
    if (err == HS_OK)
        err = flush_full_segments(w, msg, msg_len);
    w->buf.max_bytes = (size_t)w->gw->opts.segment_bytes;
    return err;
}

static enum hs_err stream_bytes(struct hs_obj_writer *w, const uint8_t *p, size_t n, char *msg,
                                size_t msg_len)
{
    size_t seg = (size_t)w->gw->opts.segment_bytes;
    while (n > 0) {
        size_t take = HS_MIN(n, seg - w->buf.len);
        if (hs_buf_append(&w->buf, p, take) != HS_OK)
            HS_BUG("segment buffer refused %zu bytes", take);
        p += take;
        n -= take;
        if (w->buf.len == seg) {
            enum hs_err err = hs_wr_put_segment(w, &w->next.data, HS_BLOB_PART_DATA, w->buf.data,
                                                w->buf.len, msg, msg_len);
            if (err != HS_OK)
                return err;
            hs_buf_reset(&w->buf);
        }
    }
    return HS_OK;
}

static enum hs_err write_any(struct hs_obj_writer *w, const void *data, size_t n, char *msg,
                             size_t msg_len)
{
    w->received += (int64_t)n;
    if (w->declared_len >= 0 && w->received > w->declared_len) {
        snprintf(msg, msg_len, "body longer than its declared length");
        return HS_EINVAL;
    }
    if (w->received > max_object_bytes(w)) {
        snprintf(msg, msg_len, "object too large: at most %" PRId64 " bytes", max_object_bytes(w));
        return HS_ETOOBIG;
    }
    int64_t need = w->buffer_all ? (int64_t)(w->buf.len + n) : stream_held_bytes(w);
    enum hs_err err = hs_gw_body_grow(w->gw, &w->body_budget, need,
                                      w->buffer_all ? w->declared_len : need, msg, msg_len);
    if (err != HS_OK)
        return err;
    if (!w->buffer_all) {
        err = hs_wr_wal_keep_alive(w, msg, msg_len);
        return err == HS_OK ? stream_bytes(w, data, n, msg, msg_len) : err;
    }
    if (w->strategy == 0) {
        (void)hs_buf_append(&w->buf, data, n); /* unbounded while undecided */
        const struct hs_gw_opts *o = &w->gw->opts;
        if (w->json_body && w->received > o->doc_max_bytes) /* too big to be field_hybrid */
            return switch_to_stream(w, by_size(w, w->received), msg, msg_len);
        if (!w->json_body && w->received > o->auto_ec_threshold)
            return switch_to_stream(w, HS_STRATEGY_EC, msg, msg_len);
        return HS_OK;
    }
    if (hs_buf_append(&w->buf, data, n) != HS_OK) {
        snprintf(msg, msg_len, "a field_hybrid document may have at most %" PRId64 " bytes",
                 w->gw->opts.doc_max_bytes);
        return HS_ETOOBIG;
    }
    return HS_OK;
}

enum hs_err hs_obj_writer_write(struct hs_obj_writer *w, const void *data, size_t n, char *msg,
                                size_t msg_len)
{
    return write_any(w, data, n, msg, msg_len);
}

enum hs_err hs_obj_writer_write_buf(struct hs_obj_writer *w, struct hs_buf *b, char *msg,
                                    size_t msg_len)
{
    if (w->buffer_all && w->buf.len == 0 && w->received == 0 && b->len <= w->buf.max_bytes &&
        (w->declared_len < 0 || (int64_t)b->len <= w->declared_len)) {
        /* take the caller's memory: a buffered document is not copied again */
        size_t max = w->buf.max_bytes;
        hs_buf_release(&w->buf);
        w->buf = *b;
        w->buf.max_bytes = max;
        w->received = (int64_t)b->len;
        hs_buf_init(b, b->max_bytes);
        return HS_OK;
    }
    enum hs_err err = write_any(w, b->data, b->len, msg, msg_len);
    hs_buf_reset(b);
    return err;
}

bool hs_wr_cold_reusable(const struct hs_obj_writer *w, const struct hs_manifest *cur)
{
    return cur->strategy == HS_STRATEGY_FIELD_HYBRID && cur->cold_hash &&
           strcmp(cur->cold_hash, w->cold_hash) == 0 && cur->has_cold == (w->split.n_cold > 0);
}

enum hs_err hs_wr_write_cold(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    hs_part_init_ec(&w->next.cold, w->set.ec_k, w->set.ec_m, w->stripe, 0);
    w->next.has_cold = w->split.n_cold > 0;
    if (!w->next.has_cold) {
        hs_part_release(&w->next.cold);
        return HS_OK;
    }
    return hs_wr_put_part(w, &w->next.cold, HS_BLOB_PART_COLD, w->split.cold.data,
                          w->split.cold.len, msg, msg_len);
}

/* Splits the buffered document. HS_EUNSUPPORTED when it is not one JSON object. */
static enum hs_err split_doc(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    const struct hs_split_hotset *hot = hs_gw_hotset_get(w->gw);
    struct hs_split_error serr = {0};
    enum hs_err err = hs_split_document(NULL, hot, w->buf.data ? w->buf.data : (const uint8_t *)"",
                                        w->buf.len, &w->split, &serr);
    hs_gw_hotset_put(w->gw, hot);
    if (err == HS_EINVAL) {
        char why[128];
        hs_split_error_format(&serr, why, sizeof why);
        snprintf(msg, msg_len, "field_hybrid needs one JSON object: %s", why);
        return HS_EUNSUPPORTED;
    }
    if (err != HS_OK) {
        snprintf(msg, msg_len, "document too large");
        return err;
    }
    hs_split_hash_hex(w->split.cold_hash, w->cold_hash);
    return HS_OK;
}

/* Size of the merged document a GET returns: {hot members,cold members} without whitespace
 * between top-level members (the cold part's bytes are the stored ones after a reuse). */
int64_t hs_wr_hybrid_size(const struct hs_obj_writer *w)
{
    int64_t hot = (int64_t)w->split.hot.len, cold = w->next.has_cold ? w->next.cold.len_bytes : 2;
    return hot + cold - 2 + (w->split.n_hot && w->next.has_cold ? 1 : 0);
}

/* Writes the hot part and, unless it is reused, the cold part. */
static enum hs_err write_hybrid_parts(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    size_t seg = (size_t)w->gw->opts.segment_bytes;
    if (!w->pure_hot && w->split.n_cold && w->split.hot.len <= seg && w->split.cold.len <= seg) {
        /* the common cold update: hot and cold blobs in one fan-out */
        hs_part_init_ec(&w->next.cold, w->set.ec_k, w->set.ec_m, w->stripe, 0);
        w->next.has_cold = true;
        return hs_wr_put_pair(w, w->split.hot.data, w->split.hot.len, w->split.cold.data,
                              w->split.cold.len, msg, msg_len);
    }
    enum hs_err err = hs_wr_put_part(w, &w->next.hot, HS_BLOB_PART_HOT, w->split.hot.data,
                                     w->split.hot.len, msg, msg_len);
    if (err != HS_OK)
        return err;
    if (!w->pure_hot)
        return hs_wr_write_cold(w, msg, msg_len);
    hs_part_copy(&w->next.cold, &w->cur.cold);
    w->next.has_cold = w->cur.has_cold;
    return HS_OK;
}

static enum hs_err hybrid_write(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    enum hs_err err = hs_wr_start(w, msg, msg_len);
    if (err != HS_OK)
        return err;
    w->pure_hot = w->have_cur && hs_wr_cold_reusable(w, &w->cur);
    if (w->hot_only && !w->pure_hot) {
        snprintf(msg, msg_len, "hot_only=true but the cold part changed; nothing was written");
        return HS_ECONFLICT;
    }
    if (!w->pure_hot && w->split.n_cold && w->mem->n < hs_wr_quorum(&w->next.cold)) {
        snprintf(msg, msg_len,
                 "not enough storage nodes: %zu live, the cold part needs %u (at least %zu)",
                 w->mem->n, w->next.cold.k + w->next.cold.m, hs_wr_quorum(&w->next.cold));
        return HS_EUNAVAIL;
    }
    if ((err = write_hybrid_parts(w, msg, msg_len)) != HS_OK)
        return err;
    w->next.cold_hash = hs_xstrdup(w->cold_hash);
    w->next.field_order_json = hs_xstrndup((const char *)w->split.order.data, w->split.order.len);
    w->next.field_order_version = HS_SPLIT_ORDER_VERSION;
    return hs_wr_commit(w, msg, msg_len);
}

static enum hs_err finish_buffered(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    enum hs_err err = HS_OK;
    if (w->strategy == 0 && w->json_body) {
        if (split_doc(w, msg, msg_len) == HS_OK && w->split.n_hot > 0)
            w->strategy = HS_STRATEGY_FIELD_HYBRID;
        msg[0] = '\0';
    }
    if (w->strategy == 0)
        w->strategy = by_size(w, w->received);
    if (w->strategy == HS_STRATEGY_FIELD_HYBRID) {
        if (!w->split.order.len && (err = split_doc(w, msg, msg_len)) != HS_OK)
            return err;
        return hybrid_write(w, msg, msg_len);
    }
    w->declared_len = w->received; /* the WAL record names every segment up front */
    if ((err = hs_wr_start(w, msg, msg_len)) != HS_OK)
        return err;
    err =
        hs_wr_put_part(w, &w->next.data, HS_BLOB_PART_DATA, w->buf.data, w->buf.len, msg, msg_len);
    return err == HS_OK ? hs_wr_commit(w, msg, msg_len) : err;
}

static void fill_result(struct hs_obj_writer *w, struct hs_obj_put_result *res)
{
    memset(res, 0, sizeof *res);
    res->strategy = w->strategy;
    res->size_bytes = w->next.size_bytes;
    res->version = w->next.version;
    snprintf(res->etag, sizeof res->etag, "%s", w->next.etag);
    res->created = !w->have_cur;
    snprintf(res->trace_id, sizeof res->trace_id, "%s", w->txn);
    res->nodes_written = w->urls;
    res->n_nodes_written = w->n_urls;
    w->urls = NULL;
    w->n_urls = 0;
    res->chunks_written = w->chunks_written;
    res->total_chunks = w->total_chunks;
    res->pure_hot_update = w->pure_hot;
    res->degraded = w->degraded;
}

enum hs_err hs_obj_writer_finish(struct hs_obj_writer *w, struct hs_obj_put_result *res, char *msg,
                                 size_t msg_len)
{
    enum hs_err err = HS_OK;
    msg[0] = '\0';
    if (w->declared_len >= 0 && w->received != w->declared_len) {
        snprintf(msg, msg_len, "body shorter than its declared length");
        err = HS_EINVAL;
    } else if (w->buffer_all) {
        w->next.size_bytes = w->received;
        err = finish_buffered(w, msg, msg_len);
    } else {
        w->next.size_bytes = w->received;
        if (w->buf.len)
            err = hs_wr_put_segment(w, &w->next.data, HS_BLOB_PART_DATA, w->buf.data, w->buf.len,
                                    msg, msg_len);
        if (err == HS_OK)
            err = hs_wr_commit(w, msg, msg_len);
    }
    if (err == HS_OK) {
        fill_result(w, res);
        HS_LOG_DEBUG("object_written",
                     "req=%s key='%s' strategy=%s size=%" PRId64 " version=%" PRId64 " degraded=%d",
                     w->req_id, w->key, hs_strategy_name(w->strategy), res->size_bytes,
                     res->version, res->degraded);
    } else {
        hs_wr_fail_cleanup(w);
    }
    writer_free(w);
    return err;
}

void hs_obj_writer_abort(struct hs_obj_writer *w)
{
    if (!w)
        return;
    hs_wr_fail_cleanup(w);
    writer_free(w);
}

void hs_obj_put_result_release(struct hs_obj_put_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_nodes_written; i++)
        free(r->nodes_written[i]);
    free(r->nodes_written);
    r->nodes_written = NULL;
    r->n_nodes_written = 0;
}
