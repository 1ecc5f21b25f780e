/* obj_relayout.c - re-layout of one field_hybrid object (the healer's background job, through
 * POST /v1/admin/relayout/<key>?rev=N[&promote=a,b], and a projection that missed a promotion):
 * read the whole document of the version whose manifest has mod_revision N, split it again
 * towards the hot set a new write of the key would use (the key's collection layout,
 * adaptive.h) and write it through the normal write transaction with an If-Match on that
 * version's ETag, so a client write that lands first always wins (HS_EPRECONDITION; the healer
 * does not retry). Demotions always move; promotions only those the caller names (the fields
 * projections read): an unread promotion would cost storage (3x instead of 1.5x, and with
 * shadows the stale cold copy too) and buy nothing before the object's next write, which moves
 * it anyway. The commit keeps the ETag and the creation time (hs_gw_txn_keep_identity): the
 * bytes a GET returns do not change, only where the fields are stored. An object already split
 * that way is left alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/obj_write_int.h"
#include "hs/buf.h"
#include "hs/layout.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define READ_CHUNK 65536

/* The whole current document into doc; HS_ECONFLICT when the version read is not `etag`. */
static enum hs_err read_doc(struct hs_gw *gw, const char *key, size_t key_len, const char *etag,
                            struct hs_buf *doc, char *msg, size_t msg_len)
{
    struct hs_obj_reader *r = NULL;
    struct hs_obj_info info;
    enum hs_err err = hs_obj_reader_open(gw, key, key_len, 0, -1, &r, &info, msg, msg_len);
    if (err != HS_OK)
        return err;
    for (;;) {
        size_t room = doc->max_bytes ? doc->max_bytes - doc->len : READ_CHUNK;
        uint8_t probe[1];
        if (room > READ_CHUNK)
            room = READ_CHUNK;
        if (room && (err = hs_buf_reserve(doc, room)) != HS_OK)
            break;
        size_t got = 0;
        err = room ? hs_obj_reader_read(r, doc->data + doc->len, room, &got)
                   : hs_obj_reader_read(r, probe, sizeof probe, &got);
        if (err != HS_OK || got == 0)
            break;
        if (!room) {
            snprintf(msg, msg_len, "document larger than the gateway's doc-max-size");
            err = HS_ETOOBIG;
            break;
        }
        doc->len += got;
    }
    if (err == HS_OK && strcmp(hs_obj_reader_info(r)->etag, etag) != 0) {
        snprintf(msg, msg_len, "the object changed while it was read");
        err = HS_ECONFLICT;
    }
    hs_obj_reader_close(r);
    return err;
}

/* True when the split puts the same fields hot as the stored object. */
static bool same_layout(const struct hs_manifest *m, const struct hs_split_result *split)
{
    struct hs_layout_fields oh = {0}, oc = {0}, nh = {0}, nc = {0};
    char *order = hs_xstrndup((const char *)split->order.data, split->order.len);
    bool same = hs_layout_object_fields(m->field_order_json, &oh, &oc) == HS_OK &&
                hs_layout_object_fields(order, &nh, &nc) == HS_OK &&
                hs_layout_fields_equal(&oh, &nh) && hs_layout_fields_equal(&oc, &nc);
    free(order);
    hs_layout_fields_release(&oh);
    hs_layout_fields_release(&oc);
    hs_layout_fields_release(&nh);
    hs_layout_fields_release(&nc);
    return same;
}

static bool may_promote(const struct hs_obj_relayout_promote *p, const char *name, size_t len)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (strlen(p->names[i]) == len && memcmp(p->names[i], name, len) == 0)
            return true;
    return p == NULL;
}

/* The hot set to split m's document with when promotions are limited: the fields of m that the
 * layout has hot and that m holds hot already or may be promoted. *out NULL when every
 * promotion is allowed (the layout's set as it is). */
static enum hs_err target_hot(const struct hs_manifest *m, const struct hs_split_hotset *layout,
                              const struct hs_obj_relayout_promote *promote,
                              struct hs_split_hotset **out)
{
    *out = NULL;
    if (!promote)
        return HS_OK;
    struct hs_manifest_field *f = NULL;
    size_t nf = 0;
    enum hs_err err = hs_manifest_fields_list(m, &f, &nf);
    if (err != HS_OK)
        return err;
    const char **names = hs_xcalloc(nf ? nf : 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; i < nf; i++)
        if (strlen(f[i].name) == f[i].name_len && /* one holding NUL is in no hot set */
            hs_split_hotset_contains(layout, f[i].name, f[i].name_len) &&
            (f[i].hot || may_promote(promote, f[i].name, f[i].name_len)))
            names[n++] = f[i].name;
    err = hs_split_hotset_new(names, n, out);
    free(names);
    hs_manifest_fields_free(f, nf);
    return err;
}

enum hs_err hs_obj_relayout(struct hs_gw *gw, const char *key, size_t key_len, int64_t rev,
                            const struct hs_obj_relayout_promote *promote, const char *req_id,
                            struct hs_obj_relayout_result *res, char *msg, size_t msg_len)
{
    memset(res, 0, sizeof *res);
    struct hs_manifest m;
    int64_t cur_rev = 0;
    enum hs_err err = hs_obj_manifest_get(gw, key, key_len, &m, &cur_rev);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "%s", err == HS_ENOENT ? "no such object" : "manifest unreadable");
        return err;
    }
    struct hs_buf doc;
    hs_buf_init(&doc, (size_t)gw->opts.doc_max_bytes);
    struct hs_split_result split;
    hs_split_result_init(&split, (size_t)gw->opts.doc_max_bytes);
    struct hs_wr_common c;
    hs_wr_common_init(&c, gw);
    char cold_hash[HS_COLD_HASH_CHARS + 1];
    if (cur_rev != rev) {
        snprintf(msg, msg_len, "the object changed: mod_revision %lld, not %lld",
                 (long long)cur_rev, (long long)rev);
        err = HS_ECONFLICT;
        goto out;
    }
    if (m.strategy != HS_STRATEGY_FIELD_HYBRID) {
        snprintf(res->outcome, sizeof res->outcome, "not_field_hybrid");
        goto out;
    }
    char *zkey = hs_xstrndup(key, key_len);
    struct hs_gw_layout lay = {0};
    hs_gw_layout_get(gw, zkey, key_len, &lay);
    /* fdig when the cluster writes it; the field list also lets a promotion keep the cold part */
    split.want_fields = lay.manifest_fields || lay.manifest_shadows;
    c.layout = &lay;
    struct hs_split_hotset *limited = NULL;
    if ((err = target_hot(&m, lay.hot, promote, &limited)) != HS_OK)
        snprintf(msg, msg_len, "the manifest's field list is unreadable");
    if (err == HS_OK && (err = read_doc(gw, zkey, key_len, m.etag, &doc, msg, msg_len)) == HS_OK &&
        (err = hs_hybrid_split(limited ? limited : lay.hot, doc.data, doc.len, &split, cold_hash,
                               msg, msg_len)) == HS_OK) {
        if (same_layout(&m, &split)) {
            snprintf(res->outcome, sizeof res->outcome, "current");
        } else {
            c.key = zkey;
            c.req_id = req_id;
            c.content_type = m.content_type;
            c.conds.if_match = m.etag; /* a client write that lands first wins */
            c.keep_identity = true;
            c.cold_values_stored = true; /* doc is that version, pinned by the If-Match */
            /* same bytes: every stored attribute (S3 headers, metadata, checksum) stays */
            c.next.attrs = hs_manifest_attrs_dup(m.attrs);
            bool pure_hot = false;
            err = hs_hybrid_write(&c, &split, cold_hash, false, &pure_hot, msg, msg_len);
            if (err == HS_OK) {
                snprintf(res->outcome, sizeof res->outcome, "rewritten");
                res->version = c.next.version;
                res->hot_bytes = c.next.hot.len_bytes;
                res->cold_bytes = c.next.has_cold ? c.next.cold.len_bytes : 0;
                HS_LOG_INFO("relayout_done",
                            "req=%s key='%s' version=%lld hot_bytes=%lld "
                            "cold_bytes=%lld",
                            req_id, zkey, (long long)res->version, (long long)res->hot_bytes,
                            (long long)res->cold_bytes);
            }
        }
    }
    hs_wr_common_release(&c); /* before the layout it borrows goes back */
    hs_split_hotset_free(limited);
    hs_gw_layout_put(gw, &lay);
    free(zkey);
out:
    hs_wr_common_release(&c);
    hs_split_result_release(&split);
    hs_buf_release(&doc);
    hs_manifest_release(&m);
    return err;
}
