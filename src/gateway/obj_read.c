/* obj_read.c - the object reader: the manifest from etcd, then one segment piece at a time
 * fetched on the calling thread's node client (replication: one replica, rotating the first
 * choice, the next on error or checksum mismatch; EC: obj_read_ec.c), field_hybrid hot and cold
 * parts fetched in parallel and merged back in the original field order. A failed first fetch
 * re-reads the manifest once: when a newer version committed meanwhile (and deleted the blobs
 * of the one we had), the read starts over on it. After the first byte went out the version is
 * fixed: a later failure is an error (front ends cut the connection), never a mix of versions.
 * Degraded reads mark repair/<key> once per reader. Listing is obj_list.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "gateway/obj_read_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/split.h"
#include "hs/banned.h"

struct hs_obj_reader {
    struct hs_gw *gw;
    char *key; /* heap, NUL-terminated */
    struct hs_manifest man;
    int64_t mod_rev;
    struct hs_obj_info info;
    int64_t req_off, req_len; /* as asked (req_len -1 = to the end) */
    int64_t off, len;         /* resolved against info.size_bytes */
    int64_t done;             /* bytes returned */
    bool started;             /* the first fetch succeeded (the version is fixed) */
    bool reread;              /* the manifest was re-read once */
    bool marked;              /* repair/<key> put and degraded read counted */
    struct hs_buf piece;      /* object bytes [piece_off, piece_off + piece.len) */
    int64_t piece_off;
    size_t piece_pos;  /* bytes of piece returned */
    struct hs_buf doc; /* field_hybrid: the merged document */
};

/* ---- manifests ---- */

enum hs_err hs_obj_manifest_get(struct hs_gw *gw, const char *key, size_t key_len,
                                struct hs_manifest *out, int64_t *mod_revision_out)
{
    if (!hs_meta_object_key_valid(key, key_len))
        return HS_EINVAL;
    char *k = hs_xstrndup(key, key_len);
    char *ek = NULL;
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_meta_key_meta(k, &ek);
    if (err != HS_OK)
        goto out;
    err = hs_etcd_get(hs_gw_etcd(gw), ek, &kvs);
    if (err != HS_OK)
        goto out;
    if (kvs.n == 0) {
        err = HS_ENOENT;
        goto out;
    }
    char why[160] = "";
    struct hs_manifest m;
    err = hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &m, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_invalid", "obj='%s' err=%s why='%s'", k, hs_err_name(err), why);
        goto out;
    }
    *out = m;
    if (mod_revision_out)
        *mod_revision_out = kvs.kvs[0].mod_revision;
out:
    hs_etcd_kvs_release(&kvs);
    free(ek);
    free(k);
    return err;
}

static void info_from(const struct hs_manifest *m, struct hs_obj_info *info)
{
    memset(info, 0, sizeof *info);
    info->strategy = m->strategy;
    info->size_bytes = m->size_bytes;
    info->version = m->version;
    info->created_ms = m->created_ms;
    snprintf(info->etag, sizeof info->etag, "%s", m->etag);
    snprintf(info->content_type, sizeof info->content_type, "%s", m->content_type);
    info->attrs = m->attrs;
}

/* ---- fetching segments (shared with obj_read_ec.c) ---- */

/* Live nodes only, unless a first attempt came up short: then also nodes whose registration
 * lapsed recently (etcd stalled past their lease while they kept serving). Trying those first
 * would cost a node timeout per read whenever one of them is really hung. */
const char *hs_rd_url(const struct hs_rd *rd, const char *node_id)
{
    return rd->use_recent ? hs_gw_members_url_any(rd->mem, node_id)
                          : hs_gw_members_url(rd->mem, node_id);
}

void hs_rd_note_failure(struct hs_rd *rd, const struct hs_meta_blob_ref *b, enum hs_err err)
{
    rd->lost = true;
    if (err == HS_ENOENT)
        rd->vanished = true;
    /* a dead node fails every read of its blobs: its lines would drown the log (the reader
     * logs one evt=degraded_read per request); corruption and loss are worth a line each */
    enum hs_log_level lvl = err == HS_EUNAVAIL || err == HS_ETIMEDOUT ? HS_LOG_DEBUG : HS_LOG_WARN;
    HS_LOG(lvl, "blob_read_failed", "obj='%s' blob='%s' node='%s' err=%s", rd->key, b->blob_id,
           b->node_id, hs_err_name(err));
}

/* Whole-blob fetches (CRC checked) for ranges covering most of the segment, else the range. */
static bool repl_verify(const struct hs_rd_seg *s)
{
    return (s->b - s->a) * 4 >= s->seg->len_bytes * 3;
}

bool hs_rd_repl_call(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i, struct hs_http_call *c)
{
    const struct hs_meta_blob_ref *b = &s->seg->blobs[i];
    s->tried |= 1u << i;
    const char *url = hs_rd_url(rd, b->node_id);
    if (!url) {
        hs_rd_note_failure(rd, b, HS_EUNAVAIL);
        return false;
    }
    *c = (struct hs_http_call){
        .op = HS_HTTP_OP_GET, .base_url = url, .id = b->blob_id, .out = s->out};
    if (!repl_verify(s)) {
        c->range_off = s->a;
        c->range_len = s->b - s->a;
    }
    s->replica = i;
    return true;
}

bool hs_rd_repl_done(struct hs_rd *rd, struct hs_rd_seg *s, unsigned i,
                     const struct hs_http_call *c, size_t base, const struct hs_buf *src)
{
    const struct hs_meta_blob_ref *b = &s->seg->blobs[i];
    enum hs_err err = c->err;
    bool verify = repl_verify(s);
    if (err == HS_OK && verify &&
        (c->blob_crc != s->seg->crc32c || c->blob_len != s->seg->len_bytes))
        err = HS_ECORRUPT; /* the node holds another blob under this id */
    size_t src_base = src == s->out ? base : 0;
    if (err == HS_OK && src->len - src_base != (size_t)(verify ? s->seg->len_bytes : s->b - s->a))
        err = HS_EPROTO;
    if (err != HS_OK) {
        s->out->len = base;
        hs_rd_note_failure(rd, b, err);
        return false;
    }
    size_t skip = verify ? (size_t)s->a : 0, n = (size_t)(s->b - s->a);
    if (src == s->out) {
        memmove(s->out->data + base, s->out->data + base + skip, n);
        s->out->len = base + n;
        return true;
    }
    s->out->len = base;
    if (hs_buf_append(s->out, src->data + skip, n) != HS_OK) {
        hs_rd_note_failure(rd, b, HS_ETOOBIG);
        return false;
    }
    return true;
}

static _Thread_local unsigned rotor; /* spreads first choices over the replicas */

static void repl_prepare(struct hs_rd *rd, struct hs_rd_seg *s, struct hs_http_call *calls,
                         size_t *n_calls)
{
    size_t n = s->seg->n_blobs;
    /* the segment's CRC spreads objects, the rotor spreads repeated reads of one object */
    unsigned start = n ? (rotor++ + s->seg->crc32c) % (unsigned)n : 0;
    for (size_t j = 0; j < n; j++) {
        if (hs_rd_repl_call(rd, s, (unsigned)((start + j) % n), &calls[*n_calls])) {
            s->n_calls = 1;
            (*n_calls)++;
            if (j > 0)
                rd->degraded = true; /* the first choice's node is not live */
            return;
        }
    }
}

static enum hs_err repl_finish(struct hs_rd *rd, struct hs_rd_seg *s, size_t base, char *msg,
                               size_t msg_len)
{
    if (s->ok)
        return HS_OK; /* the race (hs_rd_race) delivered it */
    size_t n = s->seg->n_blobs;
    for (unsigned i = 0; i < n; i++) {
        struct hs_http_call c;
        if ((s->tried & (1u << i)) || !hs_rd_repl_call(rd, s, i, &c))
            continue;
        (void)hs_http_client_run(hs_gw_blob_client(rd->gw), &c, 1);
        if (hs_rd_repl_done(rd, s, i, &c, base, s->out)) {
            rd->degraded = true;
            return HS_OK;
        }
    }
    snprintf(msg, msg_len, "no healthy replica of '%s' (%zu tried)", rd->key, n);
    return HS_EUNAVAIL;
}

static enum hs_err fetch_once(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, char *msg,
                              size_t msg_len)
{
    struct hs_http_call calls[HS_RD_CALLS_MAX];
    size_t bases[2];
    size_t n_calls = 0;
    enum hs_err first = HS_OK;
    /* first attempts of up to two segments share one fan-out; the rest run alone */
    for (size_t done = 0; done < n;) {
        size_t batch = HS_MIN(n - done, (size_t)2);
        n_calls = 0;
        for (size_t i = 0; i < batch; i++) {
            struct hs_rd_seg *s = &segs[done + i];
            bases[i] = s->out->len;
            s->first_call = n_calls;
            s->n_calls = 0;
            s->tried = 0;
            s->ok = false;
            if (s->part->kind == HS_PART_EC)
                hs_rd_ec_prepare(rd, s, calls, &n_calls);
            else
                repl_prepare(rd, s, calls, &n_calls);
        }
        hs_rd_race(rd, &segs[done], batch, calls, &n_calls, bases);
        for (size_t i = 0; i < batch; i++) {
            struct hs_rd_seg *s = &segs[done + i];
            enum hs_err err = s->part->kind == HS_PART_EC
                                  ? hs_rd_ec_finish(rd, s, msg, msg_len)
                                  : repl_finish(rd, s, bases[i], msg, msg_len);
            hs_rd_ec_release(s);
            if (err != HS_OK && first == HS_OK)
                first = err;
        }
        done += batch;
    }
    return first;
}

enum hs_err hs_rd_fetch(struct hs_rd *rd, struct hs_rd_seg *segs, size_t n, char *msg,
                        size_t msg_len)
{
    size_t *lens = hs_xcalloc(n + 1, sizeof *lens);
    for (size_t i = 0; i < n; i++)
        lens[i] = segs[i].out->len;
    enum hs_err err = fetch_once(rd, segs, n, msg, msg_len);
    if (err == HS_EUNAVAIL && !rd->use_recent && rd->mem->n_recent > 0) {
        for (size_t i = 0; i < n; i++)
            segs[i].out->len = lens[i];
        rd->use_recent = true;
        err = fetch_once(rd, segs, n, msg, msg_len);
        rd->use_recent = false;
    }
    free(lens);
    return err;
}

/* ---- the reader ---- */

/* off/len from req_* and the current size; HS_ERANGE when the start lies past the end (an
 * empty object read from 0 is fine). */
static enum hs_err resolve(struct hs_obj_reader *r, int64_t req_off, int64_t req_len)
{
    int64_t size = r->info.size_bytes;
    if (req_off < 0 || req_off > size || (req_off == size && size > 0))
        return HS_ERANGE;
    r->req_off = req_off;
    r->req_len = req_len;
    r->off = req_off;
    r->len = req_len < 0 ? size - req_off : HS_MIN(req_len, size - req_off);
    return HS_OK;
}

/* Marks repair/<key> and counts the degraded read, once per reader. A round that failed on
 * vanished blobs is not marked: a newer version most likely deleted them (the first fetch then
 * re-reads the manifest; later ones cut the connection), and the version it read is gone. */
static void after_round(struct hs_obj_reader *r, const struct hs_rd *rd, enum hs_err err)
{
    if (r->marked || !(rd->lost || rd->degraded) || (err != HS_OK && rd->vanished))
        return;
    r->marked = true;
    if (rd->degraded)
        hs_gw_metric_add(HS_GW_M_DEGRADED_READS, 1);
    char *rk = NULL;
    if (hs_meta_key_repair(r->key, &rk) != HS_OK)
        return;
    char val[HS_REPAIR_MARK_BUF];
    struct hs_repair_mark rm = {.reason = HS_REPAIR_DEGRADED_READ, .marked_ms = hs_clock_wall_ms()};
    size_t n = hs_repair_mark_encode(&rm, val);
    if (hs_etcd_put(hs_gw_etcd(r->gw), rk, val, n, 0, NULL) == HS_OK)
        hs_gw_metric_add(HS_GW_M_REPAIR_MARKS, 1);
    HS_LOG_WARN("degraded_read", "obj='%s' degraded=%d", r->key, rd->degraded);
    free(rk);
}

enum hs_err hs_obj_read_part(struct hs_gw *gw, const char *key, const struct hs_part *part,
                             struct hs_buf *out, char *msg, size_t msg_len)
{
    struct hs_rd rd = {.gw = gw, .mem = hs_gw_members_get(gw), .key = key};
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < part->n_segments && err == HS_OK; i++) {
        const struct hs_segment *sg = &part->segments[i];
        if (sg->len_bytes == 0)
            continue;
        struct hs_rd_seg seg = {.part = part, .seg = sg, .a = 0, .b = sg->len_bytes, .out = out};
        err = hs_rd_fetch(&rd, &seg, 1, msg, msg_len);
    }
    hs_gw_members_put(gw, rd.mem);
    return err;
}

/* field_hybrid: fetches hot and cold (first segments in parallel) and merges the document. */
static enum hs_err assemble_doc(struct hs_obj_reader *r, struct hs_rd *rd, char *msg,
                                size_t msg_len)
{
    const struct hs_manifest *m = &r->man;
    size_t max = (size_t)hs_gw_opts(r->gw)->doc_max_bytes;
    if (m->field_order_version > HS_SPLIT_ORDER_VERSION_MAX) {
        /* written by a newer gateway: merging with rules we do not know would corrupt it */
        snprintf(msg, msg_len, "'%s' has order record version %d (this gateway knows %d)", r->key,
                 (int)m->field_order_version, HS_SPLIT_ORDER_VERSION_MAX);
        return HS_EPROTO;
    }
    struct hs_buf hot, cold;
    hs_buf_init(&hot, max);
    hs_buf_init(&cold, max);
    const struct hs_part *parts[2] = {&m->hot, m->has_cold ? &m->cold : NULL};
    struct hs_buf *outs[2] = {&hot, &cold};
    struct hs_rd_seg segs[2];
    size_t n = 0, next[2] = {0, 0};
    enum hs_err err = HS_OK;
    for (;;) {
        n = 0;
        for (int p = 0; p < 2; p++) {
            /* empty segments hold nothing to fetch */
            while (parts[p] && next[p] < parts[p]->n_segments &&
                   parts[p]->segments[next[p]].len_bytes == 0)
                next[p]++;
            if (!parts[p] || next[p] >= parts[p]->n_segments)
                continue;
            const struct hs_segment *sg = &parts[p]->segments[next[p]++];
            segs[n++] = (struct hs_rd_seg){
                .part = parts[p], .seg = sg, .a = 0, .b = sg->len_bytes, .out = outs[p]};
        }
        if (n == 0)
            break;
        err = hs_rd_fetch(rd, segs, n, msg, msg_len);
        if (err != HS_OK)
            goto out;
    }
    hs_buf_reset(&r->doc);
    r->doc.max_bytes = max;
    const char *order = m->field_order_json ? m->field_order_json : "[]";
    struct hs_split_error serr = {0};
    err = hs_split_merge(NULL, hot.data, hot.len, m->has_cold ? cold.data : (const uint8_t *)"{}",
                         m->has_cold ? cold.len : 2, (const uint8_t *)order, strlen(order), &r->doc,
                         &serr);
    if (err != HS_OK) {
        HS_LOG_ERROR("hybrid_merge_failed", "obj='%s' err=%s", r->key, hs_err_name(err));
        snprintf(msg, msg_len, "cannot merge the parts of '%s'", r->key);
        err = HS_ECORRUPT;
    }
out:
    hs_buf_release(&hot);
    hs_buf_release(&cold);
    return err;
}

/* Index of the segment holding part byte pos (segments are in order, offsets set by decode). */
static size_t seg_at(const struct hs_part *p, int64_t pos)
{
    size_t lo = 0, hi = p->n_segments;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->segments[mid].offset_bytes <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Fetches the next piece (or, for field_hybrid, the whole document). */
static enum hs_err fetch_next(struct hs_obj_reader *r, char *msg, size_t msg_len)
{
    struct hs_rd rd = {.gw = r->gw, .mem = hs_gw_members_get(r->gw), .key = r->key};
    enum hs_err err;
    if (r->man.strategy == HS_STRATEGY_FIELD_HYBRID) {
        err = assemble_doc(r, &rd, msg, msg_len);
    } else {
        const struct hs_part *p = &r->man.data;
        int64_t pos = r->off + r->done;
        size_t i = seg_at(p, pos);
        const struct hs_segment *sg = &p->segments[i];
        struct hs_rd_seg s = {.part = p,
                              .seg = sg,
                              .a = pos - sg->offset_bytes,
                              .b = HS_MIN(sg->len_bytes, r->off + r->len - sg->offset_bytes),
                              .out = &r->piece};
        hs_buf_reset(&r->piece);
        r->piece_off = pos;
        r->piece_pos = 0;
        err = hs_rd_fetch(&rd, &s, 1, msg, msg_len);
        if (err != HS_OK)
            hs_buf_reset(&r->piece);
    }
    after_round(r, &rd, err);
    hs_gw_members_put(r->gw, rd.mem);
    return err;
}

/* The first fetch, with the one manifest re-read when it failed. */
static enum hs_err first_fetch(struct hs_obj_reader *r)
{
    char msg[256] = "";
    enum hs_err err = HS_OK;
    bool hybrid = r->man.strategy == HS_STRATEGY_FIELD_HYBRID;
    if (hybrid || r->len > 0)
        err = fetch_next(r, msg, sizeof msg);
    if (err != HS_OK && !r->reread) {
        r->reread = true;
        struct hs_manifest m2;
        int64_t rev2 = 0;
        enum hs_err e2 = hs_obj_manifest_get(r->gw, r->key, strlen(r->key), &m2, &rev2);
        if (e2 == HS_ENOENT)
            return HS_ENOENT; /* deleted meanwhile */
        if (e2 != HS_OK)
            goto fail;
        if (rev2 == r->mod_rev) {
            hs_manifest_release(&m2);
            goto fail;
        }
        HS_LOG_INFO("read_restarted", "obj='%s' old_ver=%" PRId64 " new_ver=%" PRId64, r->key,
                    r->man.version, m2.version);
        hs_manifest_release(&r->man);
        r->man = m2;
        r->mod_rev = rev2;
        info_from(&r->man, &r->info);
        /* a field_hybrid version is resolved once its document is merged */
        if (r->man.strategy != HS_STRATEGY_FIELD_HYBRID &&
            (err = resolve(r, r->req_off, r->req_len)) != HS_OK)
            return err;
        return first_fetch(r);
    }
    if (err != HS_OK)
        goto fail;
    if (hybrid) {
        /* the merged document is what a GET returns: its length is the object's size */
        if ((int64_t)r->doc.len != r->man.size_bytes)
            HS_LOG_WARN("hybrid_size_mismatch", "obj='%s' manifest=%" PRId64 " merged=%zu", r->key,
                        r->man.size_bytes, r->doc.len);
        r->info.size_bytes = (int64_t)r->doc.len;
        if ((err = resolve(r, r->req_off, r->req_len)) != HS_OK)
            return err;
    }
    r->started = true;
    return HS_OK;
fail:
    HS_LOG_WARN("object_read_failed", "obj='%s' err=%s msg='%s'", r->key, hs_err_name(err), msg);
    return err;
}

enum hs_err hs_obj_reader_open(struct hs_gw *gw, const char *key, size_t key_len, int64_t offset,
                               int64_t len, struct hs_obj_reader **out, struct hs_obj_info *info,
                               char *msg, size_t msg_len)
{
    struct hs_obj_reader *r = hs_xcalloc(1, sizeof *r);
    r->gw = gw;
    hs_buf_init(&r->piece, 0);
    hs_buf_init(&r->doc, 0);
    enum hs_err err = hs_obj_manifest_get(gw, key, key_len, &r->man, &r->mod_rev);
    if (err != HS_OK) {
        if (err == HS_ENOENT)
            snprintf(msg, msg_len, "no object '%.*s'", (int)HS_MIN(key_len, 200), key);
        else if (err == HS_EINVAL)
            snprintf(msg, msg_len, "invalid object key");
        else
            snprintf(msg, msg_len, "cannot read the manifest: %s", hs_strerror(err));
        goto fail;
    }
    r->key = hs_xstrndup(key, key_len);
    info_from(&r->man, &r->info);
    if ((err = resolve(r, offset, len)) != HS_OK) {
        snprintf(msg, msg_len, "range starts past the end (%" PRId64 " bytes)", r->info.size_bytes);
        goto fail;
    }
    *info = r->info;
    *out = r;
    return HS_OK;
fail:
    hs_obj_reader_close(r);
    return err;
}

enum hs_err hs_obj_reader_set_range(struct hs_obj_reader *r, int64_t offset, int64_t len)
{
    if (r->started || r->done > 0)
        return HS_EINVAL;
    int64_t o = r->off, l = r->len, ro = r->req_off, rl = r->req_len;
    enum hs_err err = resolve(r, offset, len);
    if (err != HS_OK) {
        r->off = o, r->len = l, r->req_off = ro, r->req_len = rl;
    }
    return err;
}

enum hs_err hs_obj_reader_read(struct hs_obj_reader *r, void *buf, size_t cap, size_t *got)
{
    if (!r->started) {
        enum hs_err err = first_fetch(r);
        if (err != HS_OK)
            return err;
    }
    if (r->done >= r->len || cap == 0) {
        *got = 0;
        return HS_OK;
    }
    size_t n;
    if (r->man.strategy == HS_STRATEGY_FIELD_HYBRID) {
        n = (size_t)HS_MIN((int64_t)cap, r->len - r->done);
        memcpy(buf, r->doc.data + r->off + r->done, n);
    } else {
        if (r->piece_pos >= r->piece.len) {
            char msg[256] = "";
            enum hs_err err = fetch_next(r, msg, sizeof msg);
            if (err != HS_OK) {
                HS_LOG_WARN("object_read_failed", "obj='%s' at=%" PRId64 " err=%s msg='%s'", r->key,
                            r->off + r->done, hs_err_name(err), msg);
                return err;
            }
        }
        n = HS_MIN(cap, r->piece.len - r->piece_pos);
        memcpy(buf, r->piece.data + r->piece_pos, n);
        r->piece_pos += n;
    }
    r->done += (int64_t)n;
    *got = n;
    return HS_OK;
}

enum hs_err hs_obj_reader_read_all(struct hs_obj_reader *rd, struct hs_buf *doc)
{
    for (;;) {
        enum hs_err err = hs_buf_reserve(doc, (size_t)64 * 1024);
        if (err != HS_OK)
            return err;
        size_t got = 0;
        err = hs_obj_reader_read(rd, doc->data + doc->len, doc->cap - doc->len, &got);
        if (err != HS_OK)
            return err;
        if (got == 0)
            return HS_OK;
        doc->len += got;
    }
}

int64_t hs_obj_reader_length(const struct hs_obj_reader *r)
{
    return r->len;
}

int64_t hs_obj_reader_offset(const struct hs_obj_reader *r)
{
    return r->off;
}

const struct hs_obj_info *hs_obj_reader_info(const struct hs_obj_reader *r)
{
    return &r->info;
}

void hs_obj_reader_close(struct hs_obj_reader *r)
{
    if (!r)
        return;
    hs_manifest_release(&r->man);
    hs_buf_release(&r->piece);
    hs_buf_release(&r->doc);
    free(r->key);
    free(r);
}
