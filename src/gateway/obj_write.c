/* obj_write.c - the streaming writer (gateway.h): validation, the strategy choice (auto:
 * JSON object with a hot field -> field_hybrid, small -> replication, large -> ec) and the
 * body: streamed into one part writer (part_writer.h) for replication and ec, held whole for
 * field_hybrid (obj_hybrid.c) and for an auto write that may still turn out to be one. The
 * transaction under both is txn.c.
 *
 * Memory: a streamed write holds one segment (plus its EC shards); a field_hybrid document,
 * and an auto write that may still turn out to be one, is held whole (bounded by doc_max). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/obj_write_int.h"
#include "gateway/gateway.h"
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

/* The strategies whose object is one data part written by one part writer: adding such a
 * strategy is a row here (plus its enum hs_strategy value). field_hybrid is obj_hybrid.c on top
 * of two rows. */
static const struct data_row {
    enum hs_strategy strategy;
    const struct hs_part_writer_ops *ops;
} data_rows[] = {
    {HS_STRATEGY_REPLICATION, &hs_part_replicated},
    {HS_STRATEGY_EC, &hs_part_ec},
};

static const struct hs_part_writer_ops *data_ops(enum hs_strategy s)
{
    for (size_t i = 0; i < sizeof data_rows / sizeof data_rows[0]; i++)
        if (data_rows[i].strategy == s)
            return data_rows[i].ops;
    return NULL;
}

struct hs_obj_writer {
    struct hs_wr_common c; /* c.key etc. point at the strings below */
    char *key;             /* heap, NUL-terminated (valid object keys hold no NUL) */
    size_t key_len;
    char *content_type;
    char *if_match; /* NULL = none */
    char *req_id;
    char *etag; /* set by hs_obj_writer_seal, NULL = the txn id */
    bool hot_only;
    int64_t declared_len; /* -1 unknown */
    bool json_body;       /* Content-Type is application/json (auto may pick field_hybrid) */

    enum hs_strategy strategy; /* 0 until decided (auto) */
    bool buffer_all;           /* field_hybrid or auto still deciding: body kept in buf */
    struct hs_buf buf;         /* the whole document while buffer_all */
    int64_t received;          /* body bytes so far */
    struct hs_part_writer pw;  /* the data part of a streamed write */

    struct hs_split_result split; /* field_hybrid */
    char cold_hash[2 * HS_SPLIT_HASH_BYTES + 1];
    bool pure_hot;

    struct hs_gw_budget_hold body_budget; /* body-buffer-budget held for the body */
    struct hs_gw_layout lay;              /* buffered writes: the key's layout (adaptive.h) */
    const void *stats_patch;              /* borrowed from the caller (hs_obj_put_opts) */
    size_t stats_patch_len;
};

static void writer_free(struct hs_obj_writer *w)
{
    if (!w)
        return;
    hs_wr_common_release(&w->c); /* cleans up a write that did not commit */
    hs_part_writer_release(&w->pw);
    free(w->key);
    free(w->content_type);
    free(w->if_match);
    free(w->req_id);
    free(w->etag);
    hs_buf_release(&w->buf);
    hs_split_result_release(&w->split);
    hs_gw_layout_put(w->c.gw, &w->lay);
    hs_gw_body_release(w->c.gw, &w->body_budget); /* after the frees: it may trim the heap */
    free(w);
}

static int64_t max_object_bytes(const struct hs_obj_writer *w)
{
    return (int64_t)HS_PART_SEGMENTS_MAX * w->c.gw->opts.segment_bytes;
}

/* Bytes a streamed write holds at most, for body-buffer-budget: one segment (or the whole body
 * when it is shorter), plus what its part writer keeps beside it (EC: the k+m shards). */
static int64_t stream_held_bytes(const struct hs_obj_writer *w)
{
    int64_t data = w->c.gw->opts.segment_bytes;
    if (w->declared_len >= 0 && w->declared_len < data)
        data = w->declared_len;
    return data_ops(w->strategy)->held_bytes(&w->c.geom, data);
}

/* The auto rule once the size is final (or past every limit): small -> replication. */
static enum hs_strategy by_size(const struct hs_obj_writer *w, int64_t len)
{
    return len <= w->c.gw->opts.auto_ec_threshold ? HS_STRATEGY_REPLICATION : HS_STRATEGY_EC;
}

/* Begins the transaction of a one-part write: its record names the first data segment (a
 * stream names the rest as they come, whatever length the client declared, so nothing a
 * client sends before its body makes the record larger). */
static enum hs_err stream_start(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    const struct hs_part_writer_ops *ops = data_ops(w->strategy);
    ops->init(&w->c.next.data, &w->c.geom); /* the geometry the quorum and plan need */
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_DATA, &w->c.next.data, 1);
    enum hs_err err = hs_wr_begin(&w->c, &w->c.next.data, w->strategy, &plan, msg, msg_len);
    if (err == HS_OK)
        hs_part_writer_init(&w->pw, ops, w->c.txn, &w->c.next.data, HS_META_PART_DATA, &w->c.geom,
                            &w->c.tally);
    return err;
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
    if (o->attrs && hs_manifest_attrs_validate(o->attrs, msg, msg_len) != HS_OK)
        return HS_EINVAL;
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
    hs_wr_common_init(&w->c, gw);
    w->key = hs_xstrndup(opts->key, opts->key_len);
    w->key_len = opts->key_len;
    w->content_type = hs_xstrdup(opts->content_type ? opts->content_type : CTYPE_DEFAULT);
    w->if_match = opts->if_match ? hs_xstrdup(opts->if_match) : NULL;
    w->hot_only = opts->hot_only;
    w->req_id = hs_xstrdup(opts->request_id ? opts->request_id : "-");
    w->c.key = w->key;
    w->c.req_id = w->req_id;
    w->c.byte_exact = opts->byte_exact;
    w->c.next.attrs = hs_wr_attrs_carry(opts->attrs); /* checksum: hs_obj_writer_seal */
    w->c.content_type = w->content_type;
    w->c.conds = (struct hs_txn_conds){.if_match = w->if_match,
                                       .if_match_any = opts->if_match_any,
                                       .if_none_match_any = opts->if_none_match_any};
    w->declared_len = opts->declared_len;
    w->stats_patch = opts->stats_patch;
    w->stats_patch_len = opts->stats_patch_len;
    w->json_body = ctype_is_json(w->content_type);
    hs_split_result_init(&w->split, (size_t)gw->opts.doc_max_bytes);
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
    if (data_ops(w->strategy)) {
        int64_t held = stream_held_bytes(w);
        err = hs_gw_body_grow(gw, &w->body_budget, held, held, msg, msg_len);
        if (err == HS_OK)
            err = stream_start(w, msg, msg_len); /* 503 / 412 before the body is read */
        if (err != HS_OK) {
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

/* An auto write turned out to be a plain stream: start it and send what was buffered. */
static enum hs_err switch_to_stream(struct hs_obj_writer *w, enum hs_strategy s, char *msg,
                                    size_t msg_len)
{
    w->strategy = s;
    w->buffer_all = false;
    enum hs_err err = stream_start(w, msg, msg_len);
    if (err == HS_OK)
        err = hs_part_writer_write(&w->pw, w->buf.data, w->buf.len, msg, msg_len);
    hs_buf_release(&w->buf);
    return err;
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
    enum hs_err err = hs_gw_body_grow(w->c.gw, &w->body_budget, need,
                                      w->buffer_all ? w->declared_len : need, msg, msg_len);
    if (err != HS_OK)
        return err;
    if (!w->buffer_all) {
        err = hs_gw_txn_keep_alive(w->c.txn, msg, msg_len);
        return err == HS_OK ? hs_part_writer_write(&w->pw, data, n, msg, msg_len) : err;
    }
    if (w->strategy == 0) {
        (void)hs_buf_append(&w->buf, data, n); /* unbounded while undecided */
        const struct hs_gw_opts *o = &w->c.gw->opts;
        if (w->json_body && w->received > o->doc_max_bytes) /* too big to be field_hybrid */
            return switch_to_stream(w, by_size(w, w->received), msg, msg_len);
        if (!w->json_body && w->received > o->auto_ec_threshold)
            return switch_to_stream(w, HS_STRATEGY_EC, msg, msg_len);
        return HS_OK;
    }
    if (hs_buf_append(&w->buf, data, n) != HS_OK) {
        snprintf(msg, msg_len, "a field_hybrid document may have at most %" PRId64 " bytes",
                 w->c.gw->opts.doc_max_bytes);
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

/* A concurrent writer committed first: the write's conditions must hold against its version
 * (hs_gw_txn_retry_fn). */
static enum hs_err retry_conds(void *ctx, const struct hs_manifest *cur, struct hs_manifest *next,
                               char *msg, size_t msg_len)
{
    (void)next;
    return hs_txn_conds_check(ctx, cur, msg, msg_len);
}

/* Commits the one-part version. */
static enum hs_err commit_data(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    struct hs_manifest *n = &w->c.next;
    n->strategy = w->strategy;
    n->content_type = hs_xstrdup(w->content_type);
    return hs_wr_commit(&w->c, retry_conds, &w->c.conds, msg, msg_len);
}

/* The key's layout for a document that may be split: its hot set, and whether per-field
 * details are needed (manifest digests, statistics). */
static void take_layout(struct hs_obj_writer *w)
{
    hs_gw_layout_get(w->c.gw, w->key, w->key_len, &w->lay);
    w->split.want_fields =
        w->lay.manifest_fields || w->lay.manifest_shadows || hs_gw_fstats_on(w->c.gw);
    w->c.layout = &w->lay;
    w->c.patch = w->stats_patch;
    w->c.patch_len = w->stats_patch_len;
}

static enum hs_err finish_buffered(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    enum hs_err err = HS_OK;
    if ((w->strategy == 0 && w->json_body) || w->strategy == HS_STRATEGY_FIELD_HYBRID)
        take_layout(w);
    if (w->strategy == 0 && w->json_body) {
        if (hs_hybrid_split(w->lay.hot, w->buf.data, w->buf.len, &w->split, w->cold_hash, msg,
                            msg_len) == HS_OK &&
            w->split.n_hot > 0 &&
            (!w->c.byte_exact || hs_hybrid_round_trips(&w->split, w->buf.data, w->buf.len)))
            w->strategy = HS_STRATEGY_FIELD_HYBRID;
        msg[0] = '\0';
    }
    if (w->strategy == 0)
        w->strategy = by_size(w, w->received);
    if (w->strategy == HS_STRATEGY_FIELD_HYBRID) {
        if (!w->split.order.len &&
            (err = hs_hybrid_split(w->lay.hot, w->buf.data, w->buf.len, &w->split, w->cold_hash,
                                   msg, msg_len)) != HS_OK)
            return err;
        if (w->c.byte_exact && !hs_hybrid_round_trips(&w->split, w->buf.data, w->buf.len)) {
            snprintf(msg, msg_len,
                     "field_hybrid would not give this document back byte for byte (it keeps no "
                     "whitespace between top-level members): send it compact or store it "
                     "another way");
            return HS_EINVAL;
        }
        return hs_hybrid_write(&w->c, &w->split, w->cold_hash, w->hot_only, &w->pure_hot, msg,
                               msg_len);
    }
    w->declared_len = w->received;
    if ((err = stream_start(w, msg, msg_len)) != HS_OK)
        return err;
    err = hs_part_writer_put(&w->pw, w->buf.data, w->buf.len, msg, msg_len);
    return err == HS_OK ? commit_data(w, msg, msg_len) : err;
}

static bool etag_ok(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n > HS_ETAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] < 0x21 || e[i] == '"' || (unsigned char)e[i] > 0x7e)
            return false;
    return true;
}

enum hs_err hs_obj_writer_seal(struct hs_obj_writer *w, const char *etag, const char *ck_alg,
                               const char *ck_value, char *msg, size_t msg_len)
{
    if (etag && !etag_ok(etag)) {
        snprintf(msg, msg_len, "invalid ETag");
        return HS_EINVAL;
    }
    free(w->etag);
    w->etag = etag ? hs_xstrdup(etag) : NULL;
    w->c.etag = w->etag;
    if (!ck_alg && !ck_value)
        return HS_OK;
    struct hs_manifest_attrs *a = w->c.next.attrs;
    if (!a)
        a = w->c.next.attrs = hs_xcalloc(1, sizeof *a);
    free(a->checksum_alg);
    free(a->checksum);
    a->checksum_alg = ck_alg ? hs_xstrdup(ck_alg) : NULL;
    a->checksum = ck_value ? hs_xstrdup(ck_value) : NULL;
    return hs_manifest_attrs_validate(a, msg, msg_len) == HS_OK ? HS_OK : HS_EINVAL;
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
        w->c.next.size_bytes = w->received;
        err = finish_buffered(w, msg, msg_len);
    } else {
        w->c.next.size_bytes = w->received;
        err = hs_part_writer_finish(&w->pw, msg, msg_len);
        if (err == HS_OK)
            err = commit_data(w, msg, msg_len);
    }
    if (err == HS_OK) {
        hs_wr_result(&w->c, w->strategy, w->pure_hot, res);
        HS_LOG_DEBUG("object_written",
                     "req=%s key='%s' strategy=%s size=%" PRId64 " version=%" PRId64 " degraded=%d",
                     w->req_id, w->key, hs_strategy_name(w->strategy), res->size_bytes,
                     res->version, res->degraded);
    }
    writer_free(w); /* a write that did not commit is cleaned up here */
    return err;
}

void hs_obj_writer_abort(struct hs_obj_writer *w)
{
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
