/* wal.c - WAL recovery: roll back txn/ records of writes that will never commit. A record is
 * stalled when its owner gateway's key gateways/<owner> is absent (read at the same revision
 * as the records) or when it is older than wal_timeout_ms (the writer's start_ms against our
 * clock).
 *
 * Order of a roll-back, and why it is stricter than "blobs, then record":
 *   1. one fenced txn: compare mod_revision(txn/<id>) == what we read (so the record is the one
 *      we judged and was not committed meanwhile) and the leader fence; then delete txn/<id>
 *      and, in the same txn, read meta/<key>. From that revision on the writer's commit can
 *      never succeed (it compares version(txn/<id>) > 0), so the record's blobs can only become
 *      referenced if the manifest read in that same txn already references them.
 *   2. delete the record's blobs on their nodes, except every (blob, node) that manifest
 *      references. This is the race the reference gets wrong: a stale record for a key whose
 *      newer write committed and reuses a blob the record also names.
 * A crash between 1 and 2 leaves only unreferenced blobs, which GC removes after its grace
 * period. Records of a newer format (HS_EPROTO) and unreadable ones are left alone. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/healer.h"
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

/* Deletes the record's blobs that keep (manifest, may be NULL) does not reference. */
static void delete_blobs(struct hs_healer *h, const struct hs_txn_record *r,
                         const struct hs_manifest *keep, int64_t *deleted, int64_t *kept,
                         int64_t *failed)
{
    struct hs_blob_call *calls = hs_xcalloc(r->n_blobs ? r->n_blobs : 1, sizeof *calls);
    char **urls = hs_xcalloc(r->n_blobs ? r->n_blobs : 1, sizeof *urls);
    size_t n = 0;
    for (size_t i = 0; i < r->n_blobs; i++) {
        const struct hs_txn_blob *b = &r->blobs[i];
        if (keep && hs_manifest_references(keep, b->blob_id, b->node_id)) {
            HS_LOG_INFO("wal_blob_kept", "txn=%s blob=%s node=%s reason=referenced", r->txn_id,
                        b->blob_id, b->node_id);
            (*kept)++;
            continue;
        }
        char *url = hs_healer_node_url(h, b->node_id);
        if (!url) { /* node not live: its copy becomes an orphan for GC */
            (*failed)++;
            continue;
        }
        urls[n] = url;
        calls[n] =
            (struct hs_blob_call){.op = HS_BLOB_OP_DELETE, .base_url = url, .id = b->blob_id};
        n++;
    }
    if (n > 0)
        hs_blob_client_run(hs_healer_blob_client(h), calls, n);
    for (size_t i = 0; i < n; i++) {
        if (calls[i].err == HS_OK || calls[i].err == HS_ENOENT) {
            (*deleted)++;
        } else {
            (*failed)++;
            HS_LOG_WARN("wal_blob_delete_failed", "txn=%s blob=%s url=%s err=%s", r->txn_id,
                        calls[i].id, calls[i].base_url, hs_err_name(calls[i].err));
        }
        free(urls[i]);
    }
    free(urls);
    free(calls);
}

/* The failed txn's RANGE of our leader key: did the fence fail (we no longer lead)? */
static bool fence_failed(const struct hs_healer *h, const struct hs_etcd_txn_result *res)
{
    if (res->n_ranges < 1)
        return false;
    const struct hs_etcd_kvs *k = &res->ranges[0];
    return k->n == 0 || k->kvs[0].create_revision != h->leader.rev;
}

/* Step 1 of the roll-back; on success *manifest_out holds the key's manifest at that
 * revision (zeroed when the key has none) and *keep_all is set when it cannot be decoded. */
static enum hs_err delete_record(struct hs_healer *h, const struct rec *rec,
                                 const struct hs_txn_record *r, struct hs_manifest *manifest_out,
                                 bool *have_manifest, bool *keep_all)
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
    struct hs_etcd_op ok_ops[2] = {{.type = HS_ETCD_OP_DELETE, .key = rec->etcd_key},
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
        if (fence_failed(h, &res)) {
            atomic_fetch_add(&h->stats.fence_failures, 1);
            atomic_store(&h->leading, false);
            atomic_store(&h->stats.is_leader, 0);
            HS_LOG_WARN("fenced_out", "healer=%s op=wal_rollback txn=%s", h->opts.healer_id,
                        r->txn_id);
        } else {
            HS_LOG_DEBUG("wal_record_changed", "txn=%s", r->txn_id);
        }
        err = HS_ECONFLICT;
        goto out;
    }
    *have_manifest = false;
    *keep_all = false;
    if (res.n_ranges >= 1 && res.ranges[0].n == 1) {
        const struct hs_etcd_kv *kv = &res.ranges[0].kvs[0];
        char why[160] = "";
        if (hs_manifest_decode(kv->value, kv->value_len, manifest_out, why, sizeof why) == HS_OK) {
            *have_manifest = true;
        } else {
            /* cannot tell what it references: keep every blob, GC decides later */
            *keep_all = true;
            HS_LOG_WARN("wal_manifest_unreadable", "txn=%s why='%s'", r->txn_id, why);
        }
    }
out:
    hs_etcd_txn_result_release(&res);
    free(meta_key);
    return err;
}

static void rollback(struct hs_healer *h, const struct rec *rec, const struct hs_txn_record *r,
                     const char *reason)
{
    struct hs_manifest m;
    hs_manifest_init(&m);
    bool have_manifest = false, keep_all = false;
    if (delete_record(h, rec, r, &m, &have_manifest, &keep_all) != HS_OK)
        return;
    atomic_fetch_add(&h->stats.wal_rollbacks, 1);
    int64_t deleted = 0, kept = 0, failed = 0;
    if (!keep_all)
        delete_blobs(h, r, have_manifest ? &m : NULL, &deleted, &kept, &failed);
    atomic_fetch_add(&h->stats.wal_blobs_deleted, deleted);
    HS_LOG_INFO("wal_rolled_back",
                "txn=%s key='%s' owner=%s reason=%s blobs=%zu deleted=%" PRId64 " kept=%" PRId64
                " left_for_gc=%" PRId64,
                r->txn_id, r->key, r->owner_id, reason, r->n_blobs, deleted, kept,
                keep_all ? (int64_t)r->n_blobs : failed);
    hs_manifest_release(&m);
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
    bool owner_gone = !hs_healer_set_has(gateways, r.owner_id, NULL);
    bool expired = now_ms - r.start_ms > h->opts.wal_timeout_ms;
    if (owner_gone || expired)
        rollback(h, rec, &r, owner_gone ? "owner_gone" : "timeout");
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
