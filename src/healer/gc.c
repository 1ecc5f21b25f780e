/* gc.c - garbage collection of orphan blobs. Order matters:
 *   1. list every live node's blobs (paged),
 *   2. THEN read every manifest, every txn/ record, every retire/ record and every multipart
 *      part record (upart/) at one etcd revision R,
 *   3. a listed blob is an orphan when no manifest at R references (blob, node), no WAL record
 *      at R has its txn id (or names the blob), no retire record or part record at R names it
 *      (an upload's parts are in use until it ends), and its txn
 *      id's time is older than gc_grace_ms.
 * A blob a retire record names belongs to the retire sweeper (retire.c), which deletes it only
 * after retire_grace_ms: readers that fetched the replaced manifest may still read it, so GC
 * with a shorter grace must not take it first. (A retire record of a newer format names
 * nothing GC can read; its blobs are judged as orphans like any other.)
 * Why that is safe: a writer puts its WAL record before any blob and can commit only while the
 * record exists. A blob seen in step 1 was written before R, so at R its record either still
 * exists (kept), or the write committed (a manifest at R references the blob, unless a later
 * version already replaced it: then it is garbage), or it was rolled back (garbage). Blob ids
 * that are not minted ids (no txn time) are never touched. A manifest that cannot be decoded
 * is skipped (counted, logged at most once a minute); every blob id its JSON names is kept.
 * Deletions on nodes cannot be fenced by etcd, so each batch starts only after etcd confirms we
 * still lead. GC runs in the leader thread after repair and audit, so it never sees a half-done
 * repair of its own leader. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "healer/rules.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/upload.h"
#include "hs/banned.h"

#define GC_LIST_PAGE    1000
#define GC_ETCD_PAGE    500
#define GC_DELETE_BATCH 64

struct listed {
    char *id;
    size_t node; /* index into the node array */
    int64_t len_bytes;
};

struct listing {
    struct listed *v;
    size_t n, cap;
    size_t node; /* node being listed */
};

static void on_listed(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    (void)crc;
    struct listing *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = hs_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (struct listed){.id = hs_xstrdup(id), .node = l->node, .len_bytes = len};
}

static void listing_truncate(struct listing *l, size_t n)
{
    while (l->n > n)
        free(l->v[--l->n].id);
}

/* Step 1. A node whose listing fails is left out (nothing is deleted there this time). */
static void list_nodes(struct hs_healer *h, const struct hs_healer_node *nodes, size_t n_nodes,
                       struct listing *l)
{
    struct hs_http_client *c = hs_healer_blob_client(h);
    for (size_t i = 0; i < n_nodes && hs_healer_leading(h); i++) {
        size_t mark = l->n;
        l->node = i;
        char *after = NULL;
        enum hs_err err;
        do {
            char *next = NULL;
            err = hs_http_client_list(c, nodes[i].url, after, GC_LIST_PAGE, on_listed, l, &next);
            free(after);
            after = next;
        } while (err == HS_OK && after);
        free(after);
        if (err != HS_OK) {
            HS_LOG_WARN("gc_list_failed", "node=%s url=%s err=%s", nodes[i].id, nodes[i].url,
                        hs_err_name(err));
            listing_truncate(l, mark);
        }
    }
}

struct refs {
    struct hs_healer *h;
    struct hs_healer_gc_refs s; /* what the orphan rule (rules.c) is judged against */
    long long unreadable;       /* manifests that could not be decoded (skipped) */
};

static void protect_one(void *ctx, const char *blob_id, const char *node_id)
{
    (void)node_id;
    hs_healer_set_add(&((struct refs *)ctx)->s.named, blob_id, NULL);
}

/* Every string in j that is a minted blob id goes into named, and every blob a packed part
 * (manifest format version 2: ids derived inside "segz") names: what an unreadable manifest (a
 * bad number, a newer format) may still reference is kept on every node until it is gone. */
static void protect_ids(struct refs *r, json_t *j, int depth)
{
    if (depth > 16)
        return;
    if (json_is_object(j) && json_is_string(json_object_get(j, "segz"))) {
        char *text = json_dumps(j, JSON_COMPACT);
        if (text)
            hs_manifest_packed_each(text, strlen(text), protect_one, r);
        free(text);
    }
    if (json_is_string(j)) {
        char txn[HS_TXN_ID_BUF];
        if (hs_meta_blob_id_parse(json_string_value(j), txn, NULL, NULL, NULL) == HS_OK)
            hs_healer_set_add(&r->s.named, json_string_value(j), NULL);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) protect_ids(r, v, depth + 1);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) protect_ids(r, v, depth + 1);
    }
}

static bool on_manifest(void *ctx, const struct hs_etcd_kv *kv)
{
    struct refs *r = ctx;
    struct hs_manifest m;
    hs_manifest_init(&m);
    char why[160] = "";
    if (hs_manifest_decode(kv->value, kv->value_len, &m, why, sizeof why) != HS_OK) {
        /* Skip it and go on: one bad record must not stop collection everywhere. Its blobs
         * are protected by id as far as its JSON names them; once it is deleted (a DELETE of
         * the object removes an unreadable manifest) they are orphans like any other. */
        r->unreadable++;
        hs_healer_unreadable(r->h, HS_HEALER_PASS_GC, kv->key, why);
        json_t *j = json_loadb((const char *)kv->value, kv->value_len, 0, NULL);
        protect_ids(r, j, 0);
        json_decref(j);
        return true;
    }
    struct hs_meta_blob_loc *locs = NULL;
    size_t n = 0;
    hs_manifest_blob_locs(&m, &locs, &n);
    for (size_t i = 0; i < n; i++)
        hs_healer_set_add(&r->s.locs, locs[i].blob_id, locs[i].node_id);
    free(locs);
    hs_manifest_release(&m);
    return true;
}

static bool on_record(void *ctx, const struct hs_etcd_kv *kv)
{
    struct refs *r = ctx;
    /* the key names the txn even when the value is of a newer format or unreadable */
    const char *id = hs_meta_key_strip(kv->key, HS_META_PREFIX_TXN);
    if (id)
        hs_healer_set_add(&r->s.txns, id, NULL);
    struct hs_txn_record rec;
    hs_txn_record_init(&rec);
    if (hs_txn_record_decode(kv->value, kv->value_len, &rec, NULL, 0) == HS_OK) {
        hs_healer_set_add(&r->s.txns, rec.txn_id, NULL);
        for (size_t i = 0; i < rec.n_blobs; i++)
            hs_healer_set_add(&r->s.named, rec.blobs[i].blob_id, NULL);
        hs_txn_record_release(&rec);
    }
    return true;
}

static bool on_retired(void *ctx, const struct hs_etcd_kv *kv)
{
    struct refs *r = ctx;
    struct hs_retire_record rec;
    hs_retire_record_init(&rec);
    if (hs_retire_record_decode(kv->value, kv->value_len, &rec, NULL, 0) == HS_OK) {
        for (size_t i = 0; i < rec.n_blobs; i++)
            hs_healer_set_add(&r->s.named, rec.blobs[i].blob_id, NULL);
        hs_retire_record_release(&rec);
    }
    return true;
}

/* A multipart upload's part record (upload.h): its blobs are in use until the upload ends
 * (its part records then become retire records in the same transaction). Unreadable: its
 * "txn" (the write that stored it) keeps every blob of that write. */
static bool on_upload_part(void *ctx, const struct hs_etcd_kv *kv)
{
    struct refs *r = ctx;
    struct hs_upart_record rec;
    hs_upart_record_init(&rec);
    if (hs_upart_record_decode(kv->value, kv->value_len, &rec, NULL, 0) == HS_OK) {
        hs_healer_set_add(&r->s.txns, rec.txn_id, NULL);
        struct hs_meta_blob_loc *locs = NULL;
        size_t n = 0;
        hs_part_blob_locs(&rec.data, &locs, &n);
        for (size_t i = 0; i < n; i++)
            hs_healer_set_add(&r->s.named, locs[i].blob_id, NULL);
        free(locs);
        hs_upart_record_release(&rec);
        return true;
    }
    json_t *j = json_loadb((const char *)kv->value, kv->value_len, 0, NULL);
    json_t *txn = json_object_get(j, "txn");
    if (json_is_string(txn) && hs_meta_txn_id_valid(json_string_value(txn)))
        hs_healer_set_add(&r->s.txns, json_string_value(txn), NULL);
    protect_ids(r, j, 0);
    json_decref(j);
    return true;
}

/* Step 2: manifests, then records, at the manifests' first page revision. */
static enum hs_err read_refs(struct hs_healer *h, struct refs *r)
{
    int64_t rev = 0;
    enum hs_err err =
        hs_healer_range_at(h, HS_META_PREFIX_META, 0, GC_ETCD_PAGE, false, on_manifest, r, &rev);
    if (err != HS_OK)
        return err;
    atomic_store(&r->h->stats.gc_unreadable_manifests, r->unreadable);
    err = hs_healer_range_at(h, HS_META_PREFIX_TXN, rev, GC_ETCD_PAGE, false, on_record, r, NULL);
    if (err != HS_OK)
        return err;
    err =
        hs_healer_range_at(h, HS_META_PREFIX_RETIRE, rev, GC_ETCD_PAGE, false, on_retired, r, NULL);
    if (err != HS_OK)
        return err;
    return hs_healer_range_at(h, HS_META_PREFIX_UPART, rev, GC_ETCD_PAGE, false, on_upload_part, r,
                              NULL);
}

/* Step 3 for one blob (rules.c): true when it is an orphan old enough to delete. */
static bool is_orphan(const struct hs_healer *h, const struct refs *r, const char *blob_id,
                      const char *node_id, int64_t now_ms, int64_t *young)
{
    enum hs_healer_gc_fate f =
        hs_healer_gc_judge(&r->s, blob_id, node_id, now_ms, h->opts.gc_grace_ms);
    if (f == HS_HEALER_GC_YOUNG)
        (*young)++;
    return f == HS_HEALER_GC_ORPHAN;
}

/* Deletes the orphans in batches; each batch only after etcd confirms we still lead. */
static void delete_orphans(struct hs_healer *h, const struct hs_healer_node *nodes,
                           const struct listed *const *orphans, size_t n)
{
    struct hs_http_call calls[GC_DELETE_BATCH];
    for (size_t at = 0; at < n; at += GC_DELETE_BATCH) {
        if (!hs_healer_still_leader(h))
            return;
        size_t k = HS_MIN((size_t)GC_DELETE_BATCH, n - at);
        for (size_t i = 0; i < k; i++)
            calls[i] = (struct hs_http_call){.op = HS_HTTP_OP_DELETE,
                                             .base_url = nodes[orphans[at + i]->node].url,
                                             .id = orphans[at + i]->id};
        hs_http_client_run(hs_healer_blob_client(h), calls, k);
        for (size_t i = 0; i < k; i++) {
            const struct listed *o = orphans[at + i];
            if (calls[i].err == HS_OK) {
                atomic_fetch_add(&h->stats.gc_deleted_blobs, 1);
                atomic_fetch_add(&h->stats.gc_deleted_bytes, o->len_bytes);
                HS_LOG_INFO("gc_deleted", "blob=%s node=%s bytes=%" PRId64, o->id,
                            nodes[o->node].id, o->len_bytes);
            } else if (calls[i].err != HS_ENOENT) {
                HS_LOG_WARN("gc_delete_failed", "blob=%s node=%s err=%s", o->id, nodes[o->node].id,
                            hs_err_name(calls[i].err));
            }
        }
    }
}

/* GC lists every blob of the cluster: not every second when the grace period is long. */
static bool gc_due(struct hs_healer *h)
{
    int64_t interval = h->opts.gc_grace_ms / 10;
    if (interval > h->opts.gc_interval_ms)
        interval = h->opts.gc_interval_ms;
    int64_t now = hs_clock_mono_ms();
    if (h->last_gc_mono_ms != 0 && now - h->last_gc_mono_ms < interval)
        return false;
    h->last_gc_mono_ms = now;
    return true;
}

enum hs_err hs_healer_gc_pass(struct hs_healer *h)
{
    if (!gc_due(h))
        return HS_OK;
    int64_t t0 = hs_clock_mono_ms();
    struct hs_healer_node *nodes = NULL;
    size_t n_nodes = 0;
    hs_healer_nodes_get(h, &nodes, &n_nodes);
    struct listing l = {0};
    struct refs r = {.h = h};
    hs_healer_set_init(&r.s.locs);
    hs_healer_set_init(&r.s.txns);
    hs_healer_set_init(&r.s.named);
    const struct listed **orphans = NULL;
    list_nodes(h, nodes, n_nodes, &l);
    enum hs_err err = read_refs(h, &r);
    if (err != HS_OK || !hs_healer_leading(h))
        goto out;
    int64_t now_ms = hs_clock_wall_ms(), young = 0;
    size_t n_orphans = 0;
    orphans = hs_xcalloc(l.n ? l.n : 1, sizeof(const struct listed *));
    for (size_t i = 0; i < l.n; i++)
        if (is_orphan(h, &r, l.v[i].id, nodes[l.v[i].node].id, now_ms, &young))
            orphans[n_orphans++] = &l.v[i];
    atomic_store(&h->stats.gc_orphans_young, young);
    delete_orphans(h, nodes, orphans, n_orphans);
    atomic_fetch_add(&h->stats.gc_passes, 1);
    HS_LOG(n_orphans ? HS_LOG_INFO : HS_LOG_DEBUG, "gc_pass",
           "nodes=%zu blobs=%zu orphans=%zu young=%" PRId64 " ms=%" PRId64, n_nodes, l.n, n_orphans,
           young, hs_clock_mono_ms() - t0);
out:
    if (err != HS_OK)
        HS_LOG_WARN("gc_pass_failed", "err=%s", hs_err_name(err));
    free(orphans);
    listing_truncate(&l, 0);
    free(l.v);
    hs_healer_set_release(&r.s.locs);
    hs_healer_set_release(&r.s.txns);
    hs_healer_set_release(&r.s.named);
    hs_healer_nodes_free(nodes, n_nodes);
    return err;
}
