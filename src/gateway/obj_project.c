/* obj_project.c - projection reads (gateway.h hs_obj_project): the named top-level members of a
 * stored JSON object. The point of field_hybrid: when the object's own manifest (its order
 * record) lists every requested field as hot, or not there at all, the answer is in the hot
 * part, so one hot replica is read and no EC shard is touched. Otherwise the whole object is
 * read (any strategy) and projected. The projection itself is the split module's: the requested
 * names as a "hot set" split the source, and the hot part of that split is the answer
 * (members byte-exact, in document order).
 *
 * A full read for fields that the collection's layout has hot, all of them, means the object
 * missed a promotion (it was not written since): it is re-laid out right after the read
 * (hs_obj_relayout, as the healer's background re-layout does), so its next projection reads one
 * hot replica. At most READ_RELAYOUT_PER_S such rewrites per gateway and second (a token
 * bucket; the rest are left to the healer's scan): they are what a projection of a rarely
 * written object costs until the scan reaches it, paid once per object. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/gateway.h"
#include "gateway/gw_int.h"
#include "gateway/metrics.h"
#include "gateway/obj_read_int.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/split.h"
#include "hs/clock.h"
#include "hs/banned.h"

#define READ_RELAYOUT_PER_S 10.0 /* re-layouts a gateway starts from projection reads */

static pthread_mutex_t bucket_lock = PTHREAD_MUTEX_INITIALIZER;
static double bucket_tokens = READ_RELAYOUT_PER_S; /* guarded by bucket_lock */
static int64_t bucket_ms;                          /* guarded by bucket_lock */

static bool bucket_take(void)
{
    int64_t now = hs_clock_mono_ms();
    pthread_mutex_lock(&bucket_lock);
    double t = bucket_tokens + READ_RELAYOUT_PER_S * (double)(now - bucket_ms) / 1000.0;
    bucket_tokens = t > READ_RELAYOUT_PER_S ? READ_RELAYOUT_PER_S : t;
    bucket_ms = now;
    bool ok = bucket_tokens >= 1;
    if (ok)
        bucket_tokens -= 1;
    pthread_mutex_unlock(&bucket_lock);
    return ok;
}

/* Does the key's collection layout have every one of names hot (while m, a field_hybrid
 * manifest, could not serve them from its hot part)? */
static bool promotion_missed(struct hs_gw *gw, const struct hs_manifest *m,
                             const char *const *names, size_t n)
{
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID)
        return false;
    struct hs_gw_layout lay = {0};
    hs_gw_layout_get(gw, m->key, strlen(m->key), &lay);
    bool all = lay.hot != NULL;
    for (size_t i = 0; i < n && all; i++)
        all = hs_split_hotset_contains(lay.hot, names[i], strlen(names[i]));
    hs_gw_layout_put(gw, &lay);
    return all;
}

/* The object of m (mod_revision rev) missed the promotion of the projected names[0..n): rewrite
 * it so that they are hot now (other promotions wait for its next write). */
static void relayout_after_read(struct hs_gw *gw, const struct hs_manifest *m, int64_t rev,
                                const char *const *names, size_t n)
{
    struct hs_obj_relayout_result res;
    char msg[256] = "";
    struct hs_obj_relayout_promote promote = {.names = names, .n = n};
    enum hs_err err = hs_obj_relayout(gw, m->key, strlen(m->key), rev, &promote, "projection", &res,
                                      msg, sizeof msg);
    if (err == HS_OK)
        hs_gw_metric_add(HS_GW_M_READ_RELAYOUTS, 1);
    HS_LOG_DEBUG("projection_relayout", "obj='%s' err=%s outcome=%s msg='%s'", m->key,
                 hs_err_name(err), err == HS_OK ? res.outcome : "-", msg);
}

/* Can the projection be answered from m's hot part alone? */
static bool hot_suffices(const struct hs_manifest *m, const char *const *names, size_t n)
{
    if (m->strategy != HS_STRATEGY_FIELD_HYBRID ||
        m->field_order_version > HS_SPLIT_ORDER_VERSION_MAX)
        return false;
    struct hs_manifest_field *f = NULL;
    size_t nf = 0;
    if (hs_manifest_fields_list(m, &f, &nf) != HS_OK)
        return false;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        const struct hs_manifest_field *x =
            hs_manifest_field_find(f, nf, names[i], strlen(names[i]));
        ok = !x || x->hot; /* absent fields are answered from the hot part too (as absent) */
    }
    hs_manifest_fields_free(f, nf);
    return ok;
}

/* out = the members of the object src named by set. HS_EINVAL when src is not one JSON object. */
static enum hs_err project(const struct hs_split_hotset *set, const uint8_t *src, size_t len,
                           size_t max, struct hs_buf *out, char *msg, size_t msg_len)
{
    struct hs_split_result sr;
    hs_split_result_init(&sr, max);
    enum hs_err err = hs_split_document(NULL, set, src ? src : (const uint8_t *)"", len, &sr, NULL);
    if (err == HS_EINVAL)
        snprintf(msg, msg_len, "?fields= needs a JSON object, and this object is not one");
    else if (err != HS_OK)
        snprintf(msg, msg_len, "the object is over doc-max-size");
    if (err == HS_OK) {
        hs_buf_reset(out);
        err = hs_buf_append(out, sr.hot.data, sr.hot.len);
    }
    hs_split_result_release(&sr);
    return err;
}

/* The whole object through the ordinary reader, then the projection. */
static enum hs_err project_full(struct hs_gw *gw, const char *key, size_t key_len,
                                const struct hs_split_hotset *set, struct hs_buf *out,
                                struct hs_obj_info *info, char *msg, size_t msg_len)
{
    size_t max = (size_t)hs_gw_opts(gw)->doc_max_bytes;
    struct hs_obj_reader *rd = NULL;
    struct hs_buf doc;
    hs_buf_init(&doc, max);
    enum hs_err err = hs_obj_reader_open(gw, key, key_len, 0, -1, &rd, info, msg, msg_len);
    if (err == HS_OK && info->size_bytes > (int64_t)max) {
        snprintf(msg, msg_len, "object of %" PRId64 " bytes is over doc-max-size (%zu)",
                 info->size_bytes, max);
        err = HS_ETOOBIG;
    }
    if (err == HS_OK && (err = hs_obj_reader_read_all(rd, &doc)) != HS_OK)
        snprintf(msg, msg_len, "cannot read the object: %s", hs_strerror(err));
    if (err == HS_OK) {
        *info = *hs_obj_reader_info(rd);
        err = project(set, doc.data, doc.len, max, out, msg, msg_len);
    }
    hs_obj_reader_close(rd);
    hs_buf_release(&doc);
    return err;
}

enum hs_err hs_obj_project(struct hs_gw *gw, const char *key, size_t key_len,
                           const char *const *names, size_t n, struct hs_buf *out,
                           struct hs_obj_info *info, bool *from_hot, char *msg, size_t msg_len)
{
    struct hs_split_hotset *set = NULL;
    if (n == 0 || hs_split_hotset_new(names, n, &set) != HS_OK) {
        snprintf(msg, msg_len, "?fields= wants 1 or more comma-separated UTF-8 names");
        return HS_EINVAL;
    }
    *from_hot = false;
    struct hs_manifest m;
    hs_manifest_init(&m);
    int64_t rev = 0;
    enum hs_err err = hs_obj_manifest_get(gw, key, key_len, &m, &rev);
    if (err == HS_ENOENT)
        snprintf(msg, msg_len, "no object '%.*s'", (int)HS_MIN(key_len, 200), key);
    else if (err != HS_OK)
        snprintf(msg, msg_len, "cannot read the manifest: %s", hs_strerror(err));
    if (err == HS_OK && hot_suffices(&m, names, n)) {
        size_t max = (size_t)hs_gw_opts(gw)->doc_max_bytes;
        struct hs_buf hot;
        hs_buf_init(&hot, max);
        enum hs_err e2 = hs_obj_read_part(gw, m.key, &m.hot, &hot, msg, msg_len);
        if (e2 == HS_OK)
            e2 = project(set, hot.data ? hot.data : (const uint8_t *)"{}", hot.data ? hot.len : 2,
                         max, out, msg, msg_len);
        if (e2 == HS_OK) {
            *from_hot = true;
            memset(info, 0, sizeof *info);
            info->strategy = m.strategy;
            info->size_bytes = m.size_bytes;
            info->version = m.version;
            info->created_ms = m.created_ms;
            snprintf(info->etag, sizeof info->etag, "%s", m.etag);
            snprintf(info->content_type, sizeof info->content_type, "%s", m.content_type);
        } else {
            /* most likely a newer version deleted these blobs: the full read starts over
             * from the manifest current then */
            HS_LOG_DEBUG("projection_hot_failed", "obj='%s' err=%s", m.key, hs_err_name(e2));
            msg[0] = '\0';
        }
        hs_buf_release(&hot);
    }
    if (err == HS_OK && !*from_hot) {
        err = project_full(gw, key, key_len, set, out, info, msg, msg_len);
        if (err == HS_OK && promotion_missed(gw, &m, names, n) && bucket_take())
            relayout_after_read(gw, &m, rev, names, n);
    }
    hs_manifest_release(&m);
    hs_split_hotset_free(set);
    return err;
}
