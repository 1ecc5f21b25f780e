/* obj_hybrid.c - the field_hybrid strategy on top of two part writers: a document is split
 * into a small replicated hot part and an erasure-coded cold part; when the cold part's hash
 * equals the current version's, the cold blobs are reused as they are (a pure hot update: the
 * "existing blobs" row) and only the hot part is written. When the layout moved fields out of
 * the cold part (a promotion) or the document dropped some, the stored cold part can still be
 * kept: its other values are checked against the document (one read of it) and the members
 * that left it become shadows of the order record (split.h). A commit that loses the race to a
 * concurrent writer re-checks that reuse against the version now current. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "gateway/obj_write_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

enum hs_err hs_hybrid_split(const struct hs_split_hotset *hot, const uint8_t *doc, size_t len,
                            struct hs_split_result *split, char *cold_hash, char *msg,
                            size_t msg_len)
{
    struct hs_split_error serr = {0};
    enum hs_err err =
        hs_split_document(NULL, hot, doc ? doc : (const uint8_t *)"", len, split, &serr);
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
    hs_split_hash_hex(split->cold_hash, cold_hash);
    return HS_OK;
}

bool hs_hybrid_round_trips(const struct hs_split_result *split, const uint8_t *doc, size_t len)
{
    struct hs_buf out;
    hs_buf_init(&out, len);
    struct hs_split_error serr = {0};
    bool same =
        hs_split_merge(NULL, split->hot.data, split->hot.len, split->cold.data, split->cold.len,
                       split->order.data, split->order.len, &out, &serr) == HS_OK &&
        out.len == len && (len == 0 || memcmp(out.data, doc, len) == 0);
    hs_buf_release(&out);
    return same;
}

struct hybrid {
    struct hs_wr_common *c;
    const struct hs_split_result *split;
    const char *cold_hash;
    bool hot_only;
    bool pure_hot;
    struct hs_part_writer hot, cold;
    int64_t live_cold;   /* bytes the cold part adds to the merged document ({...}: 2 when none) */
    struct hs_buf order; /* the record to store when it is not split->order (shadows) */
    bool own_order;      /* order holds it */
};

/* Is cur's cold part reusable for this document? */
static bool cold_reusable(const struct hybrid *h, const struct hs_manifest *cur)
{
    /* byte_exact: stored cold values may differ from this document's in whitespace */
    return cur && !h->c->byte_exact && cur->strategy == HS_STRATEGY_FIELD_HYBRID &&
           cur->cold_hash && strcmp(cur->cold_hash, h->cold_hash) == 0 &&
           cur->has_cold == (h->split->n_cold > 0);
}

int64_t hs_hybrid_merged_size(int64_t hot_len, int64_t live_cold)
{
    return hot_len + live_cold - 2 + (hot_len > 2 && live_cold > 2 ? 1 : 0);
}

int64_t hs_hybrid_live_cold(const struct hs_manifest *cur)
{
    int64_t hot = cur->hot.len_bytes;
    if (cur->size_bytes <= hot) /* the merged document is the hot part: no live cold member */
        return 2;
    return cur->size_bytes - hot + 2 - (hot > 2 ? 1 : 0);
}

static int64_t merged_size(const struct hybrid *h)
{
    return hs_hybrid_merged_size((int64_t)h->split->hot.len, h->live_cold);
}

/* The cold part as new blobs (none for a document without cold fields). */
static enum hs_err write_cold(struct hybrid *h, char *msg, size_t msg_len)
{
    struct hs_wr_common *c = h->c;
    hs_part_writer_release(&h->cold);
    hs_part_writer_init(&h->cold, &hs_part_ec, c->txn, &c->next.cold, HS_META_PART_COLD, &c->geom,
                        &c->tally);
    c->next.has_cold = h->split->n_cold > 0;
    h->live_cold = c->next.has_cold ? (int64_t)h->split->cold.len : 2;
    h->own_order = false; /* a fresh cold part has no shadows */
    if (!c->next.has_cold) {
        hs_part_release(&c->next.cold);
        return HS_OK;
    }
    return hs_part_writer_put(&h->cold, h->split->cold.data, h->split->cold.len, msg, msg_len);
}

/* The cold part as the blobs of cur's. */
static void reuse_cold_blobs(struct hybrid *h, const struct hs_manifest *cur)
{
    struct hs_wr_common *c = h->c;
    struct hs_part_geom g = c->geom;
    g.existing = &cur->cold;
    hs_part_writer_release(&h->cold);
    hs_part_writer_init(&h->cold, &hs_part_existing, c->txn, &c->next.cold, HS_META_PART_COLD, &g,
                        &c->tally);
    c->next.has_cold = cur->has_cold;
}

/* A reuse of cur's cold part as it stands (equal cold hashes): its shadows stay, and what it
 * adds to the merged size is cur's size minus cur's hot part. */
static enum hs_err reuse_cold(struct hybrid *h, const struct hs_manifest *cur)
{
    reuse_cold_blobs(h, cur);
    h->live_cold = hs_hybrid_live_cold(cur);
    h->own_order = false;
    if (cur->field_order_version < HS_SPLIT_ORDER_VERSION_SHADOWS || !cur->field_order_json)
        return HS_OK;
    hs_buf_reset(&h->order);
    enum hs_err err = hs_split_order_keep_shadows(h->split->order.data, h->split->order.len,
                                                  (const uint8_t *)cur->field_order_json,
                                                  strlen(cur->field_order_json), &h->order);
    h->own_order = err == HS_OK;
    return err;
}

/* Could cur's cold part stay under this document with shadows? Only the names and, when cur
 * has fdig, the digests are compared here: every member the document keeps cold must be a cold
 * member of cur with the same digest. The read that decides is try_shadow's. */
static bool shadow_candidate(const struct hybrid *h, const struct hs_manifest *cur)
{
    const struct hs_wr_common *c = h->c;
    const struct hs_split_result *sp = h->split;
    if (!c->layout || !c->layout->manifest_shadows || c->byte_exact || !cur ||
        cur->strategy != HS_STRATEGY_FIELD_HYBRID || !cur->has_cold || sp->n_cold == 0 ||
        !sp->want_fields || sp->n_fields != sp->n_hot + sp->n_cold ||
        cur->field_order_version > HS_SPLIT_ORDER_VERSION_MAX)
        return false;
    struct hs_manifest_field *f = NULL;
    size_t nf = 0;
    if (hs_manifest_fields_list(cur, &f, &nf) != HS_OK)
        return false;
    bool ok = true;
    for (size_t i = 0; i < sp->n_fields && ok; i++) {
        const struct hs_split_field *sf = &sp->fields[i];
        const struct hs_manifest_field *x =
            sf->hot ? NULL
                    : hs_manifest_field_find(f, nf, sp->names.data + sf->name_off, sf->name_len);
        ok = sf->hot || (x && !x->hot && (!x->has_digest || x->digest == sf->digest));
    }
    hs_manifest_fields_free(f, nf);
    return ok;
}

/* The write keeps cur's cold part under h->order (which names the shadows); live: what the
 * part adds to the merged document. */
static void keep_with_shadows(struct hybrid *h, const struct hs_manifest *cur, int64_t live)
{
    hs_gw_metric_add(HS_GW_M_SHADOW_KEEPS, 1);
    reuse_cold_blobs(h, cur);
    h->live_cold = live;
    h->own_order = true;
    h->pure_hot = true;
}

/* Reads cur's cold part and keeps it when the document's cold values are the stored ones
 * (hs_split_shadow): then the write is a pure hot update whose record names the shadows. Any
 * failure (a node down, a value that differs) only means the cold part is written anew. A
 * re-layout needs no read: its document is cur's (hs_split_shadow_by_record). */
static void try_shadow(struct hybrid *h, const struct hs_manifest *cur)
{
    struct hs_wr_common *c = h->c;
    if (c->cold_values_stored && c->conds.if_match && cur->etag &&
        strcmp(c->conds.if_match, cur->etag) == 0) {
        /* a re-layout of cur itself: its cold values are cur's, the record says the rest */
        bool same = false;
        const char *old = cur->field_order_json ? cur->field_order_json : "[]";
        hs_buf_reset(&h->order);
        if (hs_split_shadow_by_record((const uint8_t *)old, strlen(old), h->split, &h->order,
                                      &same) != HS_OK ||
            !same)
            return;
        keep_with_shadows(h, cur, (int64_t)h->split->cold.len);
        return;
    }
    struct hs_buf cold;
    hs_buf_init(&cold, (size_t)hs_gw_opts(c->gw)->doc_max_bytes);
    char why[256];
    size_t live = 0;
    bool same = false;
    enum hs_err err = hs_obj_read_part(c->gw, c->key, &cur->cold, &cold, why, sizeof why);
    if (err == HS_OK) {
        hs_buf_reset(&h->order);
        err = hs_split_shadow(NULL, cold.data, cold.len, h->split, &h->order, &live, &same);
    }
    hs_buf_release(&cold);
    if (err != HS_OK) {
        HS_LOG_INFO("shadow_read_failed", "obj='%s' err=%s msg='%s'", c->key, hs_err_name(err),
                    err == HS_ECORRUPT ? "stored cold part does not parse" : why);
        return;
    }
    if (same)
        keep_with_shadows(h, cur, (int64_t)live);
    else
        hs_gw_metric_add(HS_GW_M_SHADOW_MISSES, 1);
}

/* Writes the hot part and, unless it is reused, the cold part. */
static enum hs_err write_parts(struct hybrid *h, char *msg, size_t msg_len)
{
    struct hs_wr_common *c = h->c;
    const struct hs_split_result *sp = h->split;
    size_t seg = (size_t)c->geom.segment_bytes;
    if (!h->pure_hot && sp->n_cold && sp->hot.len <= seg && sp->cold.len <= seg) {
        /* the common cold update: hot and cold blobs in one fan-out */
        hs_part_writer_init(&h->cold, &hs_part_ec, c->txn, &c->next.cold, HS_META_PART_COLD,
                            &c->geom, &c->tally);
        c->next.has_cold = true;
        h->live_cold = (int64_t)sp->cold.len;
        struct hs_part_writer *const pws[2] = {&h->hot, &h->cold};
        const void *const data[2] = {sp->hot.data, sp->cold.data};
        const size_t len[2] = {sp->hot.len, sp->cold.len};
        return hs_part_writers_put_segments(pws, data, len, 2, msg, msg_len);
    }
    enum hs_err err = hs_part_writer_put(&h->hot, sp->hot.data, sp->hot.len, msg, msg_len);
    if (err != HS_OK)
        return err;
    if (!h->pure_hot)
        return write_cold(h, msg, msg_len);
    return HS_OK; /* begin chose the reuse */
}

/* The order record next stores and its version: the split's, or the one with shadows. */
static enum hs_err set_order(struct hybrid *h, struct hs_manifest *next)
{
    const struct hs_buf *rec = h->own_order ? &h->order : &h->split->order;
    free(next->field_order_json);
    next->field_order_json = hs_xstrndup((const char *)rec->data, rec->len);
    next->field_order_version =
        h->own_order ? hs_split_order_version(rec->data, rec->len) : HS_SPLIT_ORDER_VERSION;
    return next->field_order_version ? HS_OK : HS_ECORRUPT;
}

/* After a lost race: the conditions, and the cold reuse, must still hold against the version
 * now current (hs_gw_txn_retry_fn). */
static enum hs_err on_retry(void *ctx, const struct hs_manifest *cur, struct hs_manifest *next,
                            char *msg, size_t msg_len)
{
    struct hybrid *h = ctx;
    enum hs_err err = hs_txn_conds_check(&h->c->conds, cur, msg, msg_len);
    if (err != HS_OK || !h->pure_hot)
        return err;
    if (cold_reusable(h, cur)) {
        if ((err = reuse_cold(h, cur)) != HS_OK) { /* the blobs the new current references */
            snprintf(msg, msg_len, "the stored order record of '%s' does not parse", h->c->key);
            return err;
        }
    } else if (h->hot_only) {
        snprintf(msg, msg_len,
                 "hot_only=true but the cold part changed meanwhile; nothing was written");
        return HS_ECONFLICT;
    } else {
        h->pure_hot = false;
        if ((err = write_cold(h, msg, msg_len)) != HS_OK)
            return err;
    }
    next->size_bytes = merged_size(h); /* the cold part may have changed */
    return set_order(h, next);
}

/* The transaction: the WAL record names the hot segments and the cold ones (when there are
 * cold fields) and every node the cold part may use. */
static enum hs_err begin(struct hybrid *h, char *msg, size_t msg_len)
{
    struct hs_wr_common *c = h->c;
    struct hs_part cold_geom = {0};
    hs_part_ec.init(&cold_geom, &c->geom);
    hs_part_replicated.init(&c->next.hot, &c->geom); /* the geometry the quorum and plan need */
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_HOT, &c->next.hot,
                     hs_txn_segs_for((int64_t)h->split->hot.len, c->geom.segment_bytes));
    hs_txn_plan_part(
        &plan, HS_META_PART_COLD, &cold_geom,
        h->split->n_cold ? hs_txn_segs_for((int64_t)h->split->cold.len, c->geom.segment_bytes) : 0);
    enum hs_err err = hs_wr_begin(c, &c->next.hot, HS_STRATEGY_FIELD_HYBRID, &plan, msg, msg_len);
    if (err == HS_OK) {
        hs_part_writer_init(&h->hot, &hs_part_replicated, c->txn, &c->next.hot, HS_META_PART_HOT,
                            &c->geom, &c->tally);
        const struct hs_manifest *cur = hs_gw_txn_current(c->txn);
        h->pure_hot = cold_reusable(h, cur);
        if (h->pure_hot && (err = reuse_cold(h, cur)) != HS_OK)
            snprintf(msg, msg_len, "the stored order record of '%s' does not parse", c->key);
        else if (!h->pure_hot && shadow_candidate(h, cur))
            try_shadow(h, cur);
    }
    if (err == HS_OK && h->hot_only && !h->pure_hot) {
        snprintf(msg, msg_len, "hot_only=true but the cold part changed; nothing was written");
        err = HS_ECONFLICT;
    }
    size_t live = c->txn ? hs_gw_txn_live(c->txn) : 0;
    if (err == HS_OK && !h->pure_hot && h->split->n_cold && live < hs_txn_part_quorum(&cold_geom)) {
        snprintf(msg, msg_len,
                 "not enough storage nodes: %zu live, the cold part needs %u (at least %zu)", live,
                 cold_geom.k + cold_geom.m, hs_txn_part_quorum(&cold_geom));
        err = HS_EUNAVAIL;
    }
    hs_part_release(&cold_geom);
    return err;
}

enum hs_err hs_hybrid_write(struct hs_wr_common *c, const struct hs_split_result *split,
                            const char *cold_hash, bool hot_only, bool *pure_hot, char *msg,
                            size_t msg_len)
{
    struct hybrid h = {.c = c, .split = split, .cold_hash = cold_hash, .hot_only = hot_only};
    hs_buf_init(&h.order, 0);
    enum hs_err err = begin(&h, msg, msg_len);
    if (err == HS_OK)
        err = write_parts(&h, msg, msg_len);
    if (err == HS_OK) {
        struct hs_manifest *n = &c->next;
        n->strategy = HS_STRATEGY_FIELD_HYBRID;
        n->content_type = hs_xstrdup(c->content_type);
        n->cold_hash = hs_xstrdup(cold_hash);
        n->size_bytes = merged_size(&h);
        if (c->layout && c->layout->manifest_fields) /* version 2 "fdig" (manifest.h) */
            n->field_digests = hs_gw_fdig_of_split(split);
        err = set_order(&h, n);
        if (err == HS_OK)
            err = hs_wr_commit(c, on_retry, &h, msg, msg_len);
        else
            snprintf(msg, msg_len, "the stored order record of '%s' does not parse", c->key);
    }
    if (err == HS_OK)
        hs_gw_metric_add(h.pure_hot ? HS_GW_M_PURE_HOT_UPDATES : HS_GW_M_COLD_UPDATES, 1);
    if (err != HS_OK || c->keep_identity) /* a re-layout is not a client write: not counted */
        ;
    else if (c->layout && c->patch)
        hs_gw_fstats_patch(c->gw, c->key, c->layout, c->patch, c->patch_len, &c->next, h.pure_hot);
    else if (c->layout)
        hs_gw_fstats_put(c->gw, c->key, c->layout, split, hs_gw_txn_current(c->txn), &c->next,
                         h.pure_hot);
    *pure_hot = h.pure_hot;
    hs_part_writer_release(&h.hot);
    hs_part_writer_release(&h.cold);
    hs_buf_release(&h.order);
    return err;
}
