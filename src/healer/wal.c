/* wal.c - WAL recovery: roll back txn/ records of writes that will never commit.
 *
 * When a record is stalled (judged from the record itself and gateways/ read at the same
 * revision as the records):
 *   - ABORTED: its writer gave up and handed us the clean-up: at once;
 *   - PENDING and no sign of progress (alive_ms, re-put by a live writer every few seconds
 *     while bytes arrive) for wal_timeout_ms, however old the write is: a slow upload that
 *     keeps sending is never rolled back;
 *   - PENDING, its owner's gateways/<owner> key absent, and no progress for
 *     wal_owner_grace_ms (a live gateway whose registration lapsed under etcd load keeps
 *     refreshing its records, so it is not taken for dead).
 *
 * Roll-back of a version 2 record, in three steps:
 *   1. one fenced txn: compare mod_revision(txn/<id>) == what we read (the record is the one
 *      we judged: the writer did not refresh or commit meanwhile) and the leader fence; then
 *      put the record back as ROLLED_BACK and, in the same txn, read meta/<key>. The writer
 *      compares the record's mod_revision on every re-put and on its commit, so from that
 *      revision on the write can never commit, and the record's blobs can only be referenced
 *      if the manifest read in that same txn (or any later one) already references them.
 *   2. delete the record's blobs on their nodes, except every (blob, node) the manifest
 *      references (the race the reference gets wrong: a stale record for a key whose newer
 *      write committed and reuses a blob the record also names).
 *   3. when every blob on a live node is gone, delete the record (fenced, mod_revision
 *      guarded). Otherwise it stays ROLLED_BACK and the next pass retries step 2 with the
 *      manifest read again, so a node that was paused is cleaned as soon as it answers.
 *      Blobs on nodes that are not registered are left to GC.
 * Version 1 records (older gateways) are deleted in step 1 instead; what step 2 cannot
 * delete is left to GC. Records of a newer format (HS_EPROTO) and unreadable ones are left
 * alone (counted, logged at most once a minute). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "healer/rules.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define WAL_PAGE 500

struct rec {
    char *etcd_key;
    uint8_t *value;
    size_t len;
    int64_t mod_rev;
};

struct rec_list {
    struct rec *v;
    size_t n, cap;
};

static bool collect_record(void *ctx, const struct hs_etcd_kv *kv)
{
    struct rec_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = hs_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    struct rec *r = &l->v[l->n++];
    r->etcd_key = hs_xstrdup(kv->key);
    r->value = hs_xmalloc(kv->value_len + 1);
    memcpy(r->value, kv->value, kv->value_len);
    r->value[kv->value_len] = '\0';
    r->len = kv->value_len;
    r->mod_rev = kv->mod_revision;
    return true;
}

static void rec_list_release(struct rec_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].etcd_key);
        free(l->v[i].value);
    }
    free(l->v);
}

static bool collect_gateway(void *ctx, const struct hs_etcd_kv *kv)
{
    const char *id = hs_meta_key_strip(kv->key, HS_META_PREFIX_GATEWAYS);
    if (id)
        hs_healer_set_add(ctx, id, NULL);
    return true;
}

/* What a roll-back did with the record's blobs. */
struct wal_tally {
    int64_t deleted; /* gone now (or already) */
    int64_t kept;    /* referenced by the manifest */
    int64_t failed;  /* a live node did not delete it: retried */
    int64_t left;    /* on a node that is not registered: left to GC */
};

/* Deletes the record's blobs that keep (manifest, may be NULL) does not reference. */
static void delete_blobs(struct hs_healer *h, const struct hs_txn_record *r,
                         const struct hs_manifest *keep, struct wal_tally *t)
{
    struct hs_http_call *calls = hs_xcalloc(r->n_blobs ? r->n_blobs : 1, sizeof *calls);
    char **urls = hs_xcalloc(r->n_blobs ? r->n_blobs : 1, sizeof *urls);
    size_t n = 0;
    for (size_t i = 0; i < r->n_blobs; i++) {
        const struct hs_txn_blob *b = &r->blobs[i];
        if (keep && hs_manifest_references(keep, b->blob_id, b->node_id)) {
            HS_LOG_INFO("wal_blob_kept", "txn=%s blob=%s node=%s reason=referenced", r->txn_id,
                        b->blob_id, b->node_id);
            t->kept++;
            continue;
        }
        char *url = hs_healer_node_url(h, b->node_id);
        if (!url) { /* node not live: its copy becomes an orphan for GC */
            t->left++;
            continue;
        }
        urls[n] = url;
        calls[n] =
            (struct hs_http_call){.op = HS_HTTP_OP_DELETE, .base_url = url, .id = b->blob_id};
        n++;
    }
    if (n > 0)
        hs_http_client_run(hs_healer_blob_client(h), calls, n);
    for (size_t i = 0; i < n; i++) {
        if (calls[i].err == HS_OK || calls[i].err == HS_ENOENT) {
            t->deleted++;
        } else {
            t->failed++;
            HS_LOG_WARN("wal_blob_delete_failed", "txn=%s blob=%s url=%s err=%s", r->txn_id,
                        calls[i].id, calls[i].base_url, hs_err_name(calls[i].err));
        }
        free(urls[i]);
    }
    free(urls);
    free(calls);
}

/* Decodes the manifest in kvs (one key or none) into *m: *have_manifest when there is one,
 * *keep_all when it cannot be decoded (then nothing may be deleted). */
static void read_manifest(const struct hs_etcd_kvs *kvs, const struct hs_txn_record *r,
                          struct hs_manifest *m, bool *have_manifest, bool *keep_all)
{
    *have_manifest = false;
    *keep_all = false;
    if (!kvs || kvs->n != 1)
        return;
    const struct hs_etcd_kv *kv = &kvs->kvs[0];
    char why[160] = "";
    if (hs_manifest_decode(kv->value, kv->value_len, m, why, sizeof why) == HS_OK) {
        *have_manifest = true;
    } else {
        /* cannot tell what it references: keep every blob, GC decides later */
        *keep_all = true;
        HS_LOG_WARN("wal_manifest_unreadable", "txn=%s why='%s'", r->txn_id, why);
    }
}

static void lost_fence(struct hs_healer *h, const char *op, const char *txn_id)
{
    hs_healer_fenced_out(h);
    HS_LOG_WARN("fenced_out", "healer=%s op=%s txn=%s", h->opts.healer_id, op, txn_id);
}

/* Step 1 of the roll-back: a fenced txn comparing the record's mod_revision that replaces it
 * by mark (a ROLLED_BACK record) or, when mark is NULL, deletes it; and reads meta/<key>. On
 * success *manifest_out holds the key's manifest at that revision (zeroed when the key has
 * none), *keep_all is set when it cannot be decoded, and *rev_out is the txn's revision. */
static enum hs_err take_record(struct hs_healer *h, const struct rec *rec,
                               const struct hs_txn_record *r, const char *mark, size_t mark_len,
                               struct hs_manifest *manifest_out, bool *have_manifest,
                               bool *keep_all, int64_t *rev_out)
{
    char *meta_key = NULL;
    enum hs_err err = hs_meta_key_meta(r->key, &meta_key);
    if (err != HS_OK)
        return err;
    struct hs_etcd_cmp cmps[2] = {{.target = HS_ETCD_CMP_MOD,
                                   .result = HS_ETCD_EQUAL,
                                   .key = rec->etcd_key,
                                   .number = rec->mod_rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op ok_ops[2] = {
        mark ? (struct hs_etcd_op){.type = HS_ETCD_OP_PUT,
                                   .key = rec->etcd_key,
                                   .value = mark,
                                   .value_len = mark_len}
             : (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = rec->etcd_key},
        {.type = HS_ETCD_OP_RANGE, .key = meta_key}};
    struct hs_etcd_op fail_ops[1] = {{.type = HS_ETCD_OP_RANGE, .key = h->leader.key}};
    struct hs_etcd_txn txn = {.cmps = cmps,
                              .n_cmps = 2,
                              .success = ok_ops,
                              .n_success = 2,
                              .failure = fail_ops,
                              .n_failure = 1};
    struct hs_etcd_txn_result res = {0};
    if ((err = hs_etcd_txn(h->etcd, &txn, &res)) != HS_OK)
        goto out;
    if (!res.succeeded) {
        if (hs_healer_fence_failed(h, &res))
            lost_fence(h, "wal_rollback", r->txn_id);
        else
            HS_LOG_DEBUG("wal_record_changed", "txn=%s", r->txn_id);
        err = HS_ECONFLICT;
        goto out;
    }
    *rev_out = res.revision;
    read_manifest(res.n_ranges >= 1 ? &res.ranges[0] : NULL, r, manifest_out, have_manifest,
                  keep_all);
out:
    hs_etcd_txn_result_release(&res);
    free(meta_key);
    return err;
}

/* Step 3: the record goes once its blobs are (fenced, unless it changed meanwhile). */
static void drop_record(struct hs_healer *h, const char *etcd_key, int64_t mod_rev)
{
    (void)hs_healer_fenced_delete(h, etcd_key, mod_rev, "wal_drop");
}

static void log_rollback(struct hs_healer *h, const struct hs_txn_record *r, const char *reason,
                         const struct wal_tally *t, bool keep_all)
{
    atomic_fetch_add(&h->stats.wal_blobs_deleted, t->deleted);
    HS_LOG_INFO("wal_rolled_back",
                "txn=%s key='%s' owner=%s reason=%s blobs=%zu deleted=%" PRId64 " kept=%" PRId64
                " retry=%" PRId64 " left_for_gc=%" PRId64,
                r->txn_id, r->key, r->owner_id, reason, r->n_blobs, t->deleted, t->kept, t->failed,
                keep_all ? (int64_t)r->n_blobs : t->left);
}

/* Steps 2 and 3, with the manifest m (when have_manifest) the record's blobs are checked
 * against. The record (at mod_rev) is dropped unless a live node failed to delete a blob. */
static void finish(struct hs_healer *h, const struct rec *rec, const struct hs_txn_record *r,
                   const char *reason, int64_t mod_rev, const struct hs_manifest *m,
                   bool have_manifest, bool keep_all)
{
    struct wal_tally t = {0};
    if (!keep_all)
        delete_blobs(h, r, have_manifest ? m : NULL, &t);
    log_rollback(h, r, reason, &t, keep_all);
    if (t.failed == 0 && hs_healer_leading(h))
        drop_record(h, rec->etcd_key, mod_rev);
}

static void rollback(struct hs_healer *h, const struct rec *rec, struct hs_txn_record *r,
                     const char *reason)
{
    struct hs_manifest m;
    hs_manifest_init(&m);
    bool have_manifest = false, keep_all = false;
    int64_t rev = 0;
    char *mark = NULL;
    size_t mark_len = 0;
    if (r->version >= 2) {
        r->state = HS_TXN_ROLLED_BACK;
        char why[160] = "";
        if (hs_txn_record_encode(r, &mark, &mark_len, why, sizeof why) != HS_OK) {
            HS_LOG_ERROR("wal_mark_failed", "txn=%s why='%s'", r->txn_id, why);
            return;
        }
    }
    enum hs_err err = take_record(h, rec, r, mark, mark_len, &m, &have_manifest, &keep_all, &rev);
    free(mark);
    if (err != HS_OK)
        goto out;
    atomic_fetch_add(&h->stats.wal_rollbacks, 1);
    if (r->version >= 2) {
        finish(h, rec, r, reason, rev, &m, have_manifest, keep_all);
    } else { /* version 1: the record is gone already */
        struct wal_tally t = {0};
        if (!keep_all)
            delete_blobs(h, r, have_manifest ? &m : NULL, &t);
        log_rollback(h, r, reason, &t, keep_all);
    }
out:
    hs_manifest_release(&m);
}

/* A ROLLED_BACK record left by an earlier pass (a node did not answer): steps 2 and 3 again,
 * against the manifest as it is now (it can only reference the record's blobs if the one read
 * when the record was marked did). */
static void resume_rollback(struct hs_healer *h, const struct rec *rec,
                            const struct hs_txn_record *r)
{
    char *meta_key = NULL;
    if (hs_meta_key_meta(r->key, &meta_key) != HS_OK)
        return;
    struct hs_etcd_kvs kvs = {0};
    if (hs_etcd_get(h->etcd, meta_key, &kvs) == HS_OK) {
        struct hs_manifest m;
        hs_manifest_init(&m);
        bool have_manifest = false, keep_all = false;
        read_manifest(&kvs, r, &m, &have_manifest, &keep_all);
        finish(h, rec, r, "retry", rec->mod_rev, &m, have_manifest, keep_all);
        hs_manifest_release(&m);
    }
    hs_etcd_kvs_release(&kvs);
    free(meta_key);
}

/* Why the record must be rolled back now (rules.c), or NULL. */
static const char *stall_reason(const struct hs_healer *h, const struct hs_txn_record *r,
                                const struct hs_healer_set *gateways, int64_t now_ms)
{
    bool owner_live = hs_healer_set_has(gateways, r->owner_id, NULL);
    return hs_healer_stall_name(hs_healer_wal_stall(r, owner_live, now_ms, h->opts.wal_timeout_ms,
                                                    h->opts.wal_owner_grace_ms));
}

static void consider(struct hs_healer *h, const struct rec *rec,
                     const struct hs_healer_set *gateways, int64_t now_ms)
{
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    char why[160] = "";
    enum hs_err err = hs_txn_record_decode(rec->value, rec->len, &r, why, sizeof why);
    if (err != HS_OK) {
        /* HS_EPROTO: a newer writer's format, not ours to judge */
        hs_healer_unreadable(h, HS_HEALER_PASS_WAL, rec->etcd_key, why);
        return;
    }
    const char *id = hs_meta_key_strip(rec->etcd_key, HS_META_PREFIX_TXN);
    if (!id || strcmp(id, r.txn_id) != 0) {
        HS_LOG_WARN("wal_record_skipped", "key='%s' why='txn id differs from the key'",
                    rec->etcd_key);
        goto out;
    }
    if (r.state == HS_TXN_ROLLED_BACK) {
        resume_rollback(h, rec, &r);
        goto out;
    }
    const char *reason = stall_reason(h, &r, gateways, now_ms);
    if (reason)
        rollback(h, rec, &r, reason);
out:
    hs_txn_record_release(&r);
}

enum hs_err hs_healer_wal_pass(struct hs_healer *h)
{
    struct rec_list l = {0};
    struct hs_healer_set gateways;
    hs_healer_set_init(&gateways);
    int64_t rev = 0;
    enum hs_err err =
        hs_healer_range_at(h, HS_META_PREFIX_TXN, 0, WAL_PAGE, false, collect_record, &l, &rev);
    if (err != HS_OK)
        goto out;
    atomic_store(&h->stats.wal_backlog, (long long)l.n);
    if (l.n > 0) {
        /* the owners' liveness at the records' revision: one consistent picture */
        err = hs_healer_range_at(h, HS_META_PREFIX_GATEWAYS, rev, 0, true, collect_gateway,
                                 &gateways, NULL);
        if (err != HS_OK)
            goto out;
    }
    int64_t now_ms = hs_clock_wall_ms();
    for (size_t i = 0; i < l.n && hs_healer_leading(h); i++)
        consider(h, &l.v[i], &gateways, now_ms);
    atomic_fetch_add(&h->stats.wal_passes, 1);
out:
    hs_healer_set_release(&gateways);
    rec_list_release(&l);
    return err;
}
