/* upload_cleanup.c - the end of a multipart upload that is no longer OPEN (upload.h): its part
 * records become retire records, then the upload record goes. Shared by the gateway (right
 * after Abort and Complete) and the healer's upload pass (what a gateway left, and abandoned
 * uploads), which adds its leadership fence.
 *
 * Why through retire records: the retire sweeper deletes a retired blob only after the grace
 * and only when the key's current manifest does not reference it. So the blobs of parts a
 * completed object uses stay (its manifest references them), those of parts it does not use
 * and of aborted uploads are deleted, and a record that describes an upload whose object was
 * overwritten meanwhile is still right: whatever no manifest names is deleted after the grace,
 * which also covers readers of the completed version. A retire record and the deletion of the
 * part records it replaces share one etcd transaction, so GC (which keeps the blobs of part
 * records and of retire records read at one revision) never sees the blobs unnamed.
 *
 * No part record appears once the upload record left OPEN: an UploadPart commit compares the
 * upload record's mod_revision. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/upload.h"
#include "hs/banned.h"

#define CLEAN_PAGE       200
#define CLEAN_PARTS_TXN  48    /* part keys deleted per transaction (etcd: 128 ops at most) */
#define CLEAN_BLOBS_TXN  16384 /* blobs per retire record (~20 bytes each) */
#define CLEAN_EXTRA_CMPS 4

struct part_key {
    char *key;
    int64_t rev;
    struct hs_meta_blob_loc *locs; /* borrowed from rec */
    size_t n_locs;
    struct hs_upart_record rec;
};

struct clean {
    struct part_key *v;
    size_t n, cap;
    size_t unreadable;
};

static bool on_part(void *ctx, const struct hs_etcd_kv *kv)
{
    struct clean *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = hs_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    struct part_key *p = &c->v[c->n];
    memset(p, 0, sizeof *p);
    hs_upart_record_init(&p->rec);
    char why[160] = "";
    if (hs_upart_record_decode(kv->value, kv->value_len, &p->rec, why, sizeof why) != HS_OK) {
        /* left alone (its blobs stay named for GC); the upload record stays too */
        HS_LOG_WARN("upload_part_unreadable", "key='%s' why='%s'", kv->key, why);
        c->unreadable++;
        return true;
    }
    p->key = hs_xstrdup(kv->key);
    p->rev = kv->mod_revision;
    hs_part_blob_locs(&p->rec.data, &p->locs, &p->n_locs);
    c->n++;
    return true;
}

static void clean_release(struct clean *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].locs);
        hs_upart_record_release(&c->v[i].rec);
    }
    free(c->v);
}

/* The manifest whose blobs are kept out of the retire records: the completed object's, while it
 * is still the current version (an optimisation: the sweeper would keep them anyway). */
static bool load_keep(struct hs_etcd *e, const struct hs_upload_record *rec, struct hs_manifest *m)
{
    if (rec->state != HS_UPLOAD_COMPLETED)
        return false;
    char *meta_key = NULL;
    if (hs_meta_key_meta(rec->key, &meta_key) != HS_OK)
        return false;
    struct hs_etcd_kvs kvs = {0};
    bool ok = hs_etcd_get(e, meta_key, &kvs) == HS_OK && kvs.n == 1 &&
              hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, m, NULL, 0) == HS_OK;
    if (ok && strcmp(m->txn_id, rec->txn_id) != 0) {
        hs_manifest_release(m);
        ok = false;
    }
    hs_etcd_kvs_release(&kvs);
    free(meta_key);
    return ok;
}

/* The kept manifest's (blob, node) pairs, sorted for bsearch: a 10 000-part object has
 * 30 000+ blobs, too many to scan once per part blob. */
struct keep_set {
    struct hs_meta_blob_loc *locs;
    size_t n;
};

static int loc_cmp(const void *pa, const void *pb)
{
    const struct hs_meta_blob_loc *a = pa, *b = pb;
    int c = strcmp(a->blob_id, b->blob_id);
    return c ? c : strcmp(a->node_id, b->node_id);
}

static bool keep_has(const struct keep_set *k, const struct hs_meta_blob_loc *l)
{
    return k->n && bsearch(l, k->locs, k->n, sizeof *k->locs, loc_cmp);
}

/* One transaction: parts [from, to) of c become one retire record. */
static enum hs_err retire_batch(struct hs_etcd *e, const struct hs_upload_record *rec,
                                const struct keep_set *keep, struct clean *c, size_t from,
                                size_t to, const struct hs_etcd_cmp *extra, size_t n_extra)
{
    struct hs_meta_blob_loc *gone = NULL;
    size_t n_gone = 0, cap = 0;
    for (size_t i = from; i < to; i++) {
        for (size_t j = 0; j < c->v[i].n_locs; j++) {
            const struct hs_meta_blob_loc *l = &c->v[i].locs[j];
            if (keep_has(keep, l))
                continue;
            if (n_gone == cap) {
                cap = cap ? cap * 2 : 256;
                gone = hs_xrealloc(gone, cap * sizeof *gone);
            }
            gone[n_gone++] = *l;
        }
    }
    /* one record per HS_RETIRE_BLOBS_MAX blobs: the first in the transaction, the others put
     * before it (harmless if it then fails: the upload is not OPEN, its blobs are going) */
    char **texts = NULL;
    size_t *lens = NULL, n_texts = 0;
    hs_retire_records_split(rec->key, hs_clock_wall_ms(), gone, n_gone, &texts, &lens, &n_texts);
    free(gone);
    struct hs_etcd_cmp cmps[CLEAN_PARTS_TXN + CLEAN_EXTRA_CMPS];
    struct hs_etcd_op ops[CLEAN_PARTS_TXN + 1];
    size_t nc = 0, no = 0;
    for (size_t i = 0; i < n_extra; i++)
        cmps[nc++] = extra[i];
    for (size_t i = from; i < to; i++) {
        cmps[nc++] = (struct hs_etcd_cmp){.target = HS_ETCD_CMP_MOD,
                                          .result = HS_ETCD_EQUAL,
                                          .key = c->v[i].key,
                                          .number = c->v[i].rev};
        ops[no++] = (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = c->v[i].key};
    }
    char *retire_key = NULL;
    char id[HS_TXN_ID_BUF];
    enum hs_err err = HS_OK;
    for (size_t i = n_texts; i-- > 0 && err == HS_OK;) {
        free(retire_key);
        retire_key = NULL;
        if ((err = hs_meta_txn_id_new(id)) != HS_OK)
            break;
        if (hs_meta_key_retire(id, &retire_key) != HS_OK)
            HS_BUG("retire key of upload %s", rec->id);
        if (i > 0 && hs_etcd_put(e, retire_key, texts[i], lens[i], 0, NULL) != HS_OK)
            err = HS_EUNAVAIL;
    }
    if (err != HS_OK)
        goto out;
    if (n_texts)
        ops[no++] = (struct hs_etcd_op){
            .type = HS_ETCD_OP_PUT, .key = retire_key, .value = texts[0], .value_len = lens[0]};
    struct hs_etcd_txn t = {.cmps = cmps, .n_cmps = nc, .success = ops, .n_success = no};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(e, &t, &res);
    if (err == HS_OK && !res.succeeded)
        err = HS_ECONFLICT;
    hs_etcd_txn_result_release(&res);
out:
    free(retire_key);
    hs_retire_records_free(texts, lens, n_texts);
    return err;
}

enum hs_err hs_upload_retire_parts(struct hs_etcd *e, const char *upload_key, int64_t upload_rev,
                                   const struct hs_upload_record *rec,
                                   const struct hs_etcd_cmp *extra, size_t n_extra,
                                   size_t *parts_out)
{
    if (rec->state == HS_UPLOAD_OPEN || n_extra > CLEAN_EXTRA_CMPS)
        return HS_EINVAL;
    char *prefix = NULL;
    if (hs_meta_key_upart_prefix(rec->id, &prefix) != HS_OK)
        return HS_EINVAL;
    struct clean c = {0};
    struct hs_manifest keep;
    hs_manifest_init(&keep);
    struct keep_set ks = {0};
    if (load_keep(e, rec, &keep)) {
        hs_manifest_blob_locs(&keep, &ks.locs, &ks.n);
        qsort(ks.locs, ks.n, sizeof *ks.locs, loc_cmp);
    }
    size_t done = 0;
    enum hs_err err = hs_etcd_range_prefix_each(e, prefix, CLEAN_PAGE, false, on_part, &c, NULL);
    for (size_t from = 0; err == HS_OK && from < c.n;) {
        size_t to = from, blobs = 0;
        while (to < c.n && to - from < CLEAN_PARTS_TXN &&
               (to == from || blobs + c.v[to].n_locs <= CLEAN_BLOBS_TXN))
            blobs += c.v[to++].n_locs;
        err = retire_batch(e, rec, &ks, &c, from, to, extra, n_extra);
        if (err == HS_OK)
            done += to - from;
        from = to;
    }
    if (err == HS_OK && c.unreadable == 0) {
        /* every part record is gone (none can appear: the upload is not OPEN) */
        struct hs_etcd_cmp cmps[1 + CLEAN_EXTRA_CMPS] = {{.target = HS_ETCD_CMP_MOD,
                                                          .result = HS_ETCD_EQUAL,
                                                          .key = upload_key,
                                                          .number = upload_rev}};
        for (size_t i = 0; i < n_extra; i++)
            cmps[1 + i] = extra[i];
        struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = upload_key};
        struct hs_etcd_txn t = {
            .cmps = cmps, .n_cmps = 1 + n_extra, .success = &del, .n_success = 1};
        struct hs_etcd_txn_result res = {0};
        err = hs_etcd_txn(e, &t, &res);
        if (err == HS_OK && !res.succeeded)
            err = HS_ECONFLICT;
        hs_etcd_txn_result_release(&res);
    } else if (err == HS_OK) {
        err = HS_ECORRUPT;
    }
    if (parts_out)
        *parts_out = done;
    free(ks.locs);
    hs_manifest_release(&keep);
    clean_release(&c);
    free(prefix);
    return err;
}
