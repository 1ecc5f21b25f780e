/* obj_patch.c - RFC 7396 merge patch of a stored JSON object (hs_obj_patch).
 *
 * Fast path (the point of field_hybrid): when the object is field_hybrid and the patch touches
 * only hot fields (hs_split_patch says so), only the small replicated hot part is read, patched
 * and written as new hot blobs; the new manifest reuses the cold part's blobs as they are, so
 * the cost is that of a small replicated write (one WAL put, parallel hot PUTs, one commit txn)
 * plus one hot read. It is one write transaction (txn.h) with a replicated part writer for the
 * hot part and the "existing blobs" one for the cold part, so WAL, quorum, conflicts and
 * clean-up behave exactly as for a PUT.
 *
 * Slow path (a cold field, or another strategy): read the whole document, apply the patch,
 * write it back as a new version with the same strategy and content type, conditional on the
 * ETag that was read (retried a few times when a concurrent writer wins and the client gave no
 * If-Match of its own). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gateway.h"
#include "gateway/adaptive.h"
#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "gateway/obj_read_int.h"
#include "gateway/obj_write_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/split.h"
#include "hs/banned.h"

#define RMW_ATTEMPTS 8 /* rounds lost to concurrent writers of the key before 409 */

/* ---- applying a merge patch to a whole document with the split module ----
 * The split module is byte-exact (numbers of any precision, escapes as sent), which jansson is
 * not. Making every top-level key of the document and the patch "hot" turns the whole document
 * into one hot part, and hs_split_patch then patches it in place. */

/* Appends the unescaped top-level keys of a valid object (from its order record) to names. */
static enum hs_err collect_keys(const uint8_t *doc, size_t len, char ***names, size_t *n,
                                size_t max_bytes)
{
    struct hs_split_result sr;
    hs_split_result_init(&sr, max_bytes);
    enum hs_err err = hs_split_document(NULL, NULL, doc, len, &sr, NULL);
    json_t *a = NULL;
    if (err != HS_OK)
        goto out;
    a = json_loadb((const char *)sr.order.data, sr.order.len, JSON_ALLOW_NUL, NULL);
    if (!json_is_array(a)) {
        err = HS_ECORRUPT;
        goto out;
    }
    *names = hs_xrealloc(*names, (*n + json_array_size(a)) * sizeof **names + 1);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s) {
            err = HS_ECORRUPT;
            goto out;
        }
        (*names)[(*n)++] = hs_xstrdup(s + 1); /* drop the part flag */
    }
out:
    json_decref(a);
    hs_split_result_release(&sr);
    return err;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* out = doc with patch applied (RFC 7396). HS_EINVAL bad patch (msg), HS_EUNSUPPORTED a key
 * the split module cannot name (holding U+0000), HS_ETOOBIG over max_bytes. */
static enum hs_err apply_whole(const uint8_t *doc, size_t doc_len, const uint8_t *patch,
                               size_t patch_len, size_t max_bytes, struct hs_buf *out, char *msg,
                               size_t msg_len)
{
    char **names = NULL;
    size_t n = 0;
    struct hs_split_hotset *all = NULL;
    struct hs_split_result sr;
    hs_split_result_init(&sr, max_bytes);
    struct hs_buf order_out;
    hs_buf_init(&order_out, max_bytes);
    enum hs_err err = collect_keys(doc, doc_len, &names, &n, max_bytes);
    if (err == HS_OK)
        err = collect_keys(patch, patch_len, &names, &n, max_bytes);
    if (err == HS_OK)
        err = hs_split_hotset_new((const char *const *)names, n, &all);
    if (err == HS_OK)
        err = hs_split_document(NULL, all, doc, doc_len, &sr, NULL);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "cannot take the stored document apart (%s)", hs_err_name(err));
        goto out;
    }
    bool touches_cold = false;
    struct hs_split_error se = {0};
    err = hs_split_patch(NULL, all, sr.hot.data, sr.hot.len, sr.order.data, sr.order.len, patch,
                         patch_len, out, &order_out, &touches_cold, &se);
    if (err == HS_EINVAL && se.code != HS_SPLIT_OK) {
        char where[96];
        hs_split_error_format(&se, where, sizeof where);
        snprintf(msg, msg_len, "the merge patch is not valid JSON: %s", where);
    } else if (err == HS_OK && touches_cold) {
        /* only a key with U+0000 in it can miss the set of every key */
        err = HS_EUNSUPPORTED;
        snprintf(msg, msg_len, "the patch names a key this gateway cannot patch");
    } else if (err == HS_ETOOBIG) {
        snprintf(msg, msg_len, "the patched document is over doc-max-size");
    }
out:
    hs_buf_release(&order_out);
    hs_split_result_release(&sr);
    hs_split_hotset_free(all);
    free_names(names, n);
    return err;
}

/* ---- slow path: read, patch, write back ---- */

static enum hs_err write_back(struct hs_gw *gw, const char *key, size_t key_len,
                              const struct hs_obj_info *info, const struct hs_buf *doc,
                              const void *patch, size_t patch_len, struct hs_obj_put_result *res,
                              char *msg, size_t msg_len)
{
    struct hs_obj_put_opts po = {.key = key,
                                 .key_len = key_len,
                                 .strategy = info->strategy,
                                 .content_type = info->content_type,
                                 .declared_len = (int64_t)doc->len,
                                 .if_match = info->etag,
                                 .attrs = info->attrs, /* kept, but not the old checksum */
                                 .stats_patch = patch,
                                 .stats_patch_len = patch_len};
    struct hs_obj_writer *w = NULL;
    enum hs_err err = hs_obj_writer_begin(gw, &po, &w, msg, msg_len);
    if (err != HS_OK)
        return err;
    err =
        hs_obj_writer_write(w, doc->data ? doc->data : (const uint8_t *)"", doc->len, msg, msg_len);
    if (err != HS_OK) {
        hs_obj_writer_abort(w);
        return err;
    }
    return hs_obj_writer_finish(w, res, msg, msg_len);
}

static enum hs_err rmw_once(struct hs_gw *gw, const char *key, size_t key_len, const void *patch,
                            size_t patch_len, const char *if_match, struct hs_obj_put_result *res,
                            char *msg, size_t msg_len)
{
    size_t max = (size_t)hs_gw_opts(gw)->doc_max_bytes;
    struct hs_obj_reader *rd = NULL;
    struct hs_obj_info info;
    struct hs_buf doc, patched;
    hs_buf_init(&doc, max);
    hs_buf_init(&patched, max);
    enum hs_err err = hs_obj_reader_open(gw, key, key_len, 0, -1, &rd, &info, msg, msg_len);
    if (err != HS_OK)
        goto out;
    if (if_match && strcmp(if_match, info.etag) != 0) {
        snprintf(msg, msg_len, "the current version has another ETag");
        err = HS_EPRECONDITION;
        goto out;
    }
    if (info.size_bytes > (int64_t)max) {
        snprintf(msg, msg_len, "object of %" PRId64 " bytes is over doc-max-size (%zu)",
                 info.size_bytes, max);
        err = HS_ETOOBIG;
        goto out;
    }
    if ((err = hs_obj_reader_read_all(rd, &doc)) != HS_OK) {
        snprintf(msg, msg_len, "cannot read the current version: %s", hs_strerror(err));
        goto out;
    }
    if (hs_split_validate(NULL, doc.data, doc.len, NULL) != HS_OK) {
        snprintf(msg, msg_len, "object '%.*s' is not a JSON object", (int)HS_MIN(key_len, 200),
                 key);
        err = HS_EUNSUPPORTED;
        goto out;
    }
    err = apply_whole(doc.data, doc.len, patch, patch_len, max, &patched, msg, msg_len);
    info.attrs = hs_obj_reader_info(rd)->attrs; /* open's copy may be stale after a read */
    if (err == HS_OK)
        err = write_back(gw, key, key_len, &info, &patched, patch, patch_len, res, msg, msg_len);
out:
    hs_obj_reader_close(rd);
    hs_buf_release(&doc);
    hs_buf_release(&patched);
    return err;
}

static enum hs_err patch_rmw(struct hs_gw *gw, const char *key, size_t key_len, const void *patch,
                             size_t patch_len, const char *if_match, struct hs_obj_put_result *res,
                             char *msg, size_t msg_len)
{
    enum hs_err err = HS_ECONFLICT;
    for (int attempt = 0; attempt < RMW_ATTEMPTS; attempt++) {
        err = rmw_once(gw, key, key_len, patch, patch_len, if_match, res, msg, msg_len);
        /* our own condition (the ETag we read) failed: someone wrote meanwhile; patch their
         * version unless the client pinned one */
        if (err != HS_EPRECONDITION || if_match)
            return err;
        hs_gw_metric_add(HS_GW_M_COMMIT_RETRIES, 1);
    }
    snprintf(msg, msg_len, "concurrent writers changed the object %d times during the patch",
             RMW_ATTEMPTS);
    return HS_ECONFLICT;
}

/* ---- fast path: hot part only ----
 * Round trips: the writer's first etcd transaction (WAL record put + manifest read), one GET of
 * a hot replica, the parallel PUTs of the new hot replicas, the commit transaction (which retires
 * the replaced hot blobs, as any overwrite does). That is a 1 KiB replicated write plus one
 * small GET. The WAL record must name the hot blobs before they exist, but their number
 * (segments) is only known once the manifest was read: it names one hot segment up front,
 * which is every hot part under --segment-size; a larger one extends the record (part_writer.c
 * does that for any write). */

/* Reads the hot part of m (every segment, replica failover) into out. */
static enum hs_err read_hot(struct hs_gw *gw, const struct hs_gw_members *mem,
                            const struct hs_manifest *m, struct hs_buf *out, char *msg,
                            size_t msg_len)
{
    struct hs_rd rd = {.gw = gw, .mem = mem, .key = m->key};
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < m->hot.n_segments && err == HS_OK; i++) {
        const struct hs_segment *sg = &m->hot.segments[i];
        if (sg->len_bytes == 0)
            continue;
        struct hs_rd_seg seg = {.part = &m->hot, .seg = sg, .a = 0, .b = sg->len_bytes, .out = out};
        err = hs_rd_fetch(&rd, &seg, 1, msg, msg_len);
    }
    /* Blobs gone from every replica: most likely a newer version committed since the manifest
     * was read and deleted them. Then report a changed object, so that the caller retries from
     * the new manifest; a hot part lost while its manifest stayed current stays a 503. */
    if (err == HS_EUNAVAIL && rd.vanished) {
        struct hs_manifest now;
        hs_manifest_init(&now);
        int64_t rev = 0;
        enum hs_err e2 = hs_obj_manifest_get(gw, m->key, strlen(m->key), &now, &rev);
        if (e2 == HS_ENOENT || (e2 == HS_OK && strcmp(now.txn_id, m->txn_id) != 0)) {
            snprintf(msg, msg_len, "the object changed during the patch");
            err = HS_EPRECONDITION;
        }
        hs_manifest_release(&now);
    }
    return err;
}

/* The stored hot part of m patched into hot / order; *touches_cold when the patch needs the
 * cold part (then nothing is written). */
static enum hs_err patch_hot_bytes(struct hs_gw *gw, const struct hs_gw_members *mem,
                                   const struct hs_split_hotset *set, const struct hs_manifest *m,
                                   const void *patch, size_t patch_len, struct hs_buf *out,
                                   struct hs_buf *order_out, bool *touches_cold, char *msg,
                                   size_t msg_len)
{
    struct hs_buf hot;
    hs_buf_init(&hot, (size_t)hs_gw_opts(gw)->doc_max_bytes);
    enum hs_err err = read_hot(gw, mem, m, &hot, msg, msg_len);
    if (err != HS_OK)
        goto out;
    const char *order = m->field_order_json ? m->field_order_json : "[]";
    struct hs_split_error se = {0};
    err = hs_split_patch(NULL, set, hot.data ? hot.data : (const uint8_t *)"{}",
                         hot.data ? hot.len : 2, (const uint8_t *)order, strlen(order), patch,
                         patch_len, out, order_out, touches_cold, &se);
    if (err == HS_EINVAL && se.code != HS_SPLIT_OK) {
        char where[96];
        hs_split_error_format(&se, where, sizeof where);
        snprintf(msg, msg_len, "the merge patch is not valid JSON: %s", where);
    } else if (err == HS_ECORRUPT) {
        HS_LOG_ERROR("hot_part_unpatchable", "obj='%s' txn=%s", m->key, m->txn_id);
        snprintf(msg, msg_len, "the stored hot part of '%s' is damaged", m->key);
    } else if (err == HS_ETOOBIG) {
        snprintf(msg, msg_len, "the patched document is over doc-max-size");
    }
out:
    hs_buf_release(&hot);
    return err;
}

/* A concurrent writer committed since the hot part was read: the pinned ETag fails
 * (HS_EPRECONDITION) and the caller patches the new version (hs_gw_txn_retry_fn). */
static enum hs_err retry_pinned(void *ctx, const struct hs_manifest *cur, struct hs_manifest *next,
                                char *msg, size_t msg_len)
{
    (void)next;
    return hs_txn_conds_check(ctx, cur, msg, msg_len);
}

/* One fast-path write: the transaction's record names one hot segment up front (every hot
 * part under --segment-size; a larger one extends the record as it is written) and, for the
 * node list, the width of a cold part; no cold blob is named, none is written. */
struct hot_patch {
    struct hs_wr_common c;
    struct hs_part_writer hot, cold;
    struct hs_buf hot_bytes, order;
    char etag[HS_ETAG_MAX + 1]; /* the version the patch is computed from */
    struct hs_gw_layout lay;    /* the key's layout: hot set for new members, fdig */
    const uint8_t *patch;       /* borrowed */
    size_t patch_len;
};

/* The fdig of the patched version (manifest.h): new digests for the members of the new hot
 * part, the current ones for the untouched cold fields. NULL when the current version has
 * none (its cold digests are unknown) or something does not line up. */
static char *patched_fdig(const struct hs_manifest *cur, const struct hs_buf *hot,
                          const struct hs_buf *order)
{
    if (!cur->field_digests)
        return NULL;
    struct hs_manifest_field *old = NULL, *now = NULL;
    size_t n_old = 0, n_now = 0;
    struct hs_manifest tmp = {.strategy = HS_STRATEGY_FIELD_HYBRID};
    tmp.field_order_json = hs_xstrndup((const char *)order->data, order->len);
    struct hs_split_result sr;
    hs_split_result_init(&sr, 0);
    sr.want_fields = true;
    char *text = NULL;
    uint64_t *d = NULL;
    if (hs_manifest_fields_list(cur, &old, &n_old) != HS_OK ||
        hs_manifest_fields_list(&tmp, &now, &n_now) != HS_OK || n_now > HS_MANIFEST_FDIG_MAX ||
        hs_split_document(NULL, NULL, hot->data, hot->len, &sr, NULL) != HS_OK)
        goto out;
    d = hs_xmalloc((n_now ? n_now : 1) * sizeof *d);
    for (size_t i = 0; i < n_now; i++) {
        bool ok = false;
        if (now[i].hot) {
            for (size_t j = 0; j < sr.n_fields && !ok; j++) {
                const struct hs_split_field *f = &sr.fields[j];
                if (f->name_len == now[i].name_len &&
                    memcmp(sr.names.data + f->name_off, now[i].name, f->name_len) == 0) {
                    d[i] = f->digest;
                    ok = true;
                }
            }
        } else {
            const struct hs_manifest_field *x =
                hs_manifest_field_find(old, n_old, now[i].name, now[i].name_len);
            ok = x != NULL;
            d[i] = x ? x->digest : 0;
        }
        if (!ok)
            goto out;
    }
    text = hs_manifest_fdig_encode(d, n_now);
out:
    free(d);
    hs_split_result_release(&sr);
    hs_manifest_fields_free(old, n_old);
    hs_manifest_fields_free(now, n_now);
    free(tmp.field_order_json);
    return text;
}

static enum hs_err hot_begin(struct hot_patch *p, bool *fell_back, char *msg, size_t msg_len)
{
    struct hs_wr_common *c = &p->c;
    struct hs_part cold_geom = {0};
    hs_part_ec.init(&cold_geom, &c->geom);
    hs_part_replicated.init(&c->next.hot, &c->geom); /* the geometry the quorum and plan need */
    struct hs_txn_plan plan = {0};
    hs_txn_plan_part(&plan, HS_META_PART_HOT, &c->next.hot, 1);
    hs_txn_plan_part(&plan, HS_META_PART_COLD, &cold_geom, 0);
    hs_part_release(&cold_geom);
    enum hs_err err = hs_wr_begin(c, &c->next.hot, HS_STRATEGY_FIELD_HYBRID, &plan, msg, msg_len);
    if (err != HS_OK)
        return err;
    hs_part_writer_init(&p->hot, &hs_part_replicated, c->txn, &c->next.hot, HS_META_PART_HOT,
                        &c->geom, &c->tally);
    const struct hs_manifest *cur = hs_gw_txn_current(c->txn);
    if (!cur) {
        snprintf(msg, msg_len, "no object '%.*s'", (int)HS_MIN(strlen(c->key), 200), c->key);
        return HS_ENOENT;
    }
    if (cur->strategy != HS_STRATEGY_FIELD_HYBRID) {
        *fell_back = true;
        return HS_OK;
    }
    /* Pin the version the patch is computed from: if another write commits first, the
     * commit's re-check fails with HS_EPRECONDITION instead of overwriting that write's hot
     * fields with values patched from an older hot part (a lost update). */
    snprintf(p->etag, sizeof p->etag, "%s", cur->etag);
    c->conds = (struct hs_txn_conds){.if_match = p->etag};
    return HS_OK;
}

/* The new version: the patched hot part as new blobs, the current cold part's blobs reused. */
static enum hs_err hot_write(struct hot_patch *p, char *msg, size_t msg_len)
{
    struct hs_wr_common *c = &p->c;
    const struct hs_manifest *cur = hs_gw_txn_current(c->txn);
    enum hs_err err =
        hs_part_writer_put(&p->hot, p->hot_bytes.data, p->hot_bytes.len, msg, msg_len);
    if (err != HS_OK)
        return err;
    struct hs_part_geom g = c->geom;
    g.existing = &cur->cold;
    hs_part_writer_init(&p->cold, &hs_part_existing, c->txn, &c->next.cold, HS_META_PART_COLD, &g,
                        &c->tally);
    struct hs_manifest *n = &c->next;
    n->strategy = HS_STRATEGY_FIELD_HYBRID;
    n->content_type = hs_xstrdup(cur->content_type); /* keep its type */
    hs_manifest_attrs_free(n->attrs);                /* a retry comes here again */
    n->attrs = hs_wr_attrs_carry(cur->attrs);        /* and its attributes, not its checksum */
    n->has_cold = cur->has_cold;
    n->cold_hash = hs_xstrdup(cur->cold_hash ? cur->cold_hash : "");
    n->field_order_json = hs_xstrndup((const char *)p->order.data, p->order.len);
    /* what hs_split_patch wrote: version 2 when cur's shadows were carried over */
    n->field_order_version = hs_split_order_version(p->order.data, p->order.len);
    n->size_bytes = hs_hybrid_merged_size((int64_t)p->hot_bytes.len, hs_hybrid_live_cold(cur));
    if (p->lay.manifest_fields)
        n->field_digests = patched_fdig(cur, &p->hot_bytes, &p->order);
    err = hs_gw_txn_commit(c->txn, n, retry_pinned, &c->conds, msg, msg_len);
    if (err == HS_OK) {
        hs_gw_metric_add(HS_GW_M_PURE_HOT_UPDATES, 1);
        hs_gw_fstats_patch(c->gw, c->key, &p->lay, p->patch, p->patch_len, n, true);
    }
    return err;
}

/* One attempt of the fast path. *fell_back (nothing written, msg empty, HS_OK) when the slow
 * path must do the work: the object is not field_hybrid or the patch touches the cold part. */
static enum hs_err patch_hot_once(struct hs_gw *gw, const char *key, size_t key_len,
                                  const void *patch, size_t patch_len, const char *if_match,
                                  struct hs_obj_put_result *res, bool *fell_back, char *msg,
                                  size_t msg_len)
{
    struct hot_patch p;
    hs_wr_common_init(&p.c, gw);
    memset(&p.hot, 0, sizeof p.hot);
    memset(&p.cold, 0, sizeof p.cold);
    size_t max = (size_t)hs_gw_opts(gw)->doc_max_bytes;
    hs_buf_init(&p.hot_bytes, max);
    hs_buf_init(&p.order, max);
    char *k = hs_xstrndup(key, key_len);
    p.c.key = k;
    p.c.req_id = "-";
    p.c.conds = (struct hs_txn_conds){.if_match = if_match};
    hs_gw_layout_get(gw, key, key_len, &p.lay);
    p.patch = patch;
    p.patch_len = patch_len;
    bool touches_cold = false;
    enum hs_err err = hot_begin(&p, fell_back, msg, msg_len);
    if (err == HS_OK && !*fell_back)
        err =
            patch_hot_bytes(gw, hs_gw_txn_members(p.c.txn), p.lay.hot, hs_gw_txn_current(p.c.txn),
                            patch, patch_len, &p.hot_bytes, &p.order, &touches_cold, msg, msg_len);
    if (err == HS_OK && touches_cold)
        *fell_back = true;
    if (err == HS_OK && !*fell_back)
        err = hot_write(&p, msg, msg_len);
    if (err == HS_OK && !*fell_back)
        hs_wr_result(&p.c, HS_STRATEGY_FIELD_HYBRID, true, res);
    if (*fell_back)
        msg[0] = '\0';
    hs_wr_common_release(&p.c); /* deletes what was stored and the WAL record unless committed */
    hs_part_writer_release(&p.hot);
    hs_part_writer_release(&p.cold);
    hs_buf_release(&p.hot_bytes);
    hs_buf_release(&p.order);
    hs_gw_layout_put(gw, &p.lay);
    free(k);
    return err;
}

static enum hs_err patch_hot(struct hs_gw *gw, const char *key, size_t key_len, const void *patch,
                             size_t patch_len, const char *if_match, struct hs_obj_put_result *res,
                             bool *fell_back, char *msg, size_t msg_len)
{
    for (int attempt = 0; attempt < RMW_ATTEMPTS; attempt++) {
        enum hs_err err = patch_hot_once(gw, key, key_len, patch, patch_len, if_match, res,
                                         fell_back, msg, msg_len);
        /* a writer won the race since our read: patch its version unless the client pinned one */
        if (*fell_back || err != HS_EPRECONDITION || if_match)
            return err;
        hs_gw_metric_add(HS_GW_M_COMMIT_RETRIES, 1);
    }
    snprintf(msg, msg_len, "concurrent writers changed the object %d times during the patch",
             RMW_ATTEMPTS);
    return HS_ECONFLICT;
}

enum hs_err hs_obj_patch(struct hs_gw *gw, const char *key, size_t key_len, const void *patch,
                         size_t patch_len, const char *if_match, struct hs_obj_put_result *res,
                         char *msg, size_t msg_len)
{
    struct hs_split_error se = {0};
    if (hs_split_validate(NULL, patch, patch_len, &se) != HS_OK) {
        char where[96];
        hs_split_error_format(&se, where, sizeof where);
        snprintf(msg, msg_len, "a merge patch here must be one JSON object: %s", where);
        return HS_EINVAL;
    }
    if (!hs_meta_object_key_valid(key, key_len)) {
        snprintf(msg, msg_len, "invalid object key");
        return HS_EINVAL;
    }
    bool fell_back = false;
    enum hs_err err =
        patch_hot(gw, key, key_len, patch, patch_len, if_match, res, &fell_back, msg, msg_len);
    if (!fell_back)
        return err;
    msg[0] = '\0';
    return patch_rmw(gw, key, key_len, patch, patch_len, if_match, res, msg, msg_len);
}
