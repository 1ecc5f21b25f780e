/* obj_commit.c - the etcd side of a write (docs/gateway.md "The write path"): placement check,
 * the WAL record put and the current manifest read in ONE etcd transaction (so a small write
 * costs one round trip before its blobs), the commit transaction
 * [mod_revision(txn/<id>) == our last put, mod_revision(meta/<key>) == R] -> put manifest,
 * delete txn/<id>,
 * put or delete repair/<key>, whose failure branch reads both keys back so a retry after a
 * concurrent writer needs no extra read; and deletion of the replaced version's blobs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"
#include "gateway/obj_write_int.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/place.h"
#include "hs/banned.h"

#define COMMIT_ATTEMPTS_MAX 32 /* concurrent writers to one key before giving up (409) */

static enum hs_err check_quorum(struct hs_obj_writer *w, const struct hs_part *part, char *msg,
                                size_t msg_len)
{
    size_t need = hs_wr_quorum(part);
    if (w->mem->n >= need)
        return HS_OK;
    size_t want = part->kind == HS_PART_REPLICATED ? part->replicas : (size_t)part->k + part->m;
    snprintf(msg, msg_len,
             "not enough storage nodes: %zu live, %s needs %zu (at least %zu for a quorum)",
             w->mem->n, hs_strategy_name(w->strategy), want, need);
    hs_gw_metric_add(HS_GW_M_QUORUM_FAILURES, 1);
    return HS_EUNAVAIL;
}

static size_t segs_for(const struct hs_obj_writer *w, int64_t len)
{
    int64_t seg = w->gw->opts.segment_bytes;
    return len <= 0 ? 0 : (size_t)((len + seg - 1) / seg);
}

/* The nodes and the segments named up front. A buffered document's parts are known; a stream
 * names only its first segment whatever length the client declared, so nothing a client
 * sends before its body makes the record larger (later segments are named as they come). */
static void wal_initial_blobs(struct hs_obj_writer *w)
{
    const char *nodes[HS_TXN_NODES_MAX];
    size_t width =
        w->strategy == HS_STRATEGY_REPLICATION ? w->next.data.replicas
        : w->strategy == HS_STRATEGY_EC
            ? (size_t)w->next.data.k + w->next.data.m
            : HS_MAX((size_t)w->next.hot.replicas, (size_t)w->next.cold.k + w->next.cold.m);
    size_t n = HS_MIN(HS_MIN(width, w->mem->n), (size_t)HS_TXN_NODES_MAX);
    for (size_t i = 0; i < n; i++)
        nodes[i] = w->mem->nodes[w->rank[i]].id;
    hs_txn_record_set_nodes(&w->wal, nodes, n);
    if (w->strategy == HS_STRATEGY_FIELD_HYBRID) {
        hs_wr_wal_add(w, HS_BLOB_PART_HOT, segs_for(w, (int64_t)w->split.hot.len));
        if (w->split.n_cold)
            hs_wr_wal_add(w, HS_BLOB_PART_COLD, segs_for(w, (int64_t)w->split.cold.len));
    } else {
        hs_wr_wal_add(w, HS_BLOB_PART_DATA, 1);
    }
}

static enum hs_err check_conditions(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    if (w->if_none_match_any && w->have_cur) {
        snprintf(msg, msg_len, "the object exists (If-None-Match: *)");
        return HS_EPRECONDITION;
    }
    if (w->if_match_any && !w->have_cur) {
        snprintf(msg, msg_len, "the object does not exist (If-Match: *)");
        return HS_EPRECONDITION;
    }
    if (w->if_match && (!w->have_cur || strcmp(w->cur.etag, w->if_match) != 0)) {
        snprintf(msg, msg_len, "the current version does not have ETag \"%s\"", w->if_match);
        return HS_EPRECONDITION;
    }
    return HS_OK;
}

/* Replaces w->cur with the manifest in kvs (or none). */
static enum hs_err load_cur(struct hs_obj_writer *w, const struct hs_etcd_kvs *kvs, char *msg,
                            size_t msg_len)
{
    hs_manifest_release(&w->cur);
    w->have_cur = false;
    w->cur_rev = 0;
    if (!kvs || kvs->n == 0)
        return HS_OK;
    char why[160] = "";
    enum hs_err err =
        hs_manifest_decode(kvs->kvs[0].value, kvs->kvs[0].value_len, &w->cur, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_unreadable", "req=%s key='%s' err=%s why='%s'", w->req_id, w->key,
                     hs_err_name(err), why);
        snprintf(msg, msg_len, "the stored manifest of this key cannot be read (%s)",
                 hs_err_name(err));
        return err == HS_EPROTO ? HS_EPROTO : HS_EIO;
    }
    w->have_cur = true;
    w->cur_rev = kvs->kvs[0].mod_revision;
    return HS_OK;
}

static enum hs_err wal_encode(struct hs_obj_writer *w, char **json, size_t *len)
{
    char why[160] = "";
    w->wal.alive_ms = hs_clock_wall_ms();
    enum hs_err err = hs_txn_record_encode(&w->wal, json, len, why, sizeof why);
    if (err != HS_OK)
        HS_LOG_ERROR("wal_encode_failed", "req=%s txn=%s why='%s'", w->req_id, w->txn, why);
    return err;
}

/* After a put whose outcome is unknown: is txn/<id> still our PENDING record, and at which
 * revision? Only the healer changes it besides us, and it never writes PENDING. */
static enum hs_err wal_reread(struct hs_obj_writer *w, bool *ours)
{
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(w->gw->etcd, w->txn_key, &kvs);
    if (err != HS_OK)
        return err;
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    *ours = kvs.n == 1 &&
            hs_txn_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &r, NULL, 0) == HS_OK &&
            r.state == HS_TXN_PENDING;
    if (*ours)
        w->wal_rev = kvs.kvs[0].mod_revision;
    hs_txn_record_release(&r);
    hs_etcd_kvs_release(&kvs);
    return HS_OK;
}

static enum hs_err rolled_back(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    w->wal_put = false; /* the healer owns the record and our blobs now */
    hs_gw_metric_add(HS_GW_M_WAL_ROLLED_BACK, 1);
    HS_LOG_WARN("write_rolled_back", "req=%s key='%s' txn=%s", w->req_id, w->key, w->txn);
    snprintf(msg, msg_len,
             "the write was rolled back by the healer (stalled past its timeout); nothing was "
             "written");
    return HS_EUNAVAIL;
}

enum hs_err hs_wr_wal_put(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    char *json = NULL;
    size_t len = 0;
    enum hs_err err = wal_encode(w, &json, &len);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "write-ahead record: %s", hs_err_name(err));
        return err;
    }
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_MOD,
                              .result = HS_ETCD_EQUAL,
                              .key = w->txn_key,
                              .number = w->wal_rev};
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = w->txn_key, .value = json, .value_len = len};
    struct hs_etcd_txn t = {.cmps = &cmp, .n_cmps = 1, .success = &put, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(w->gw->etcd, &t, &res);
    free(json);
    bool ours = res.succeeded;
    if (err == HS_OK && res.succeeded)
        w->wal_rev = res.revision;
    hs_etcd_txn_result_release(&res);
    if (err != HS_OK && wal_reread(w, &ours) != HS_OK) {
        snprintf(msg, msg_len, "cannot extend the write-ahead record in etcd: %s",
                 hs_err_name(err));
        return HS_EUNAVAIL;
    }
    if (!ours)
        return rolled_back(w, msg, msg_len);
    w->wal_alive_ms = hs_clock_mono_ms();
    return HS_OK;
}

enum hs_err hs_wr_wal_keep_alive(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    if (!w->wal_put || hs_clock_mono_ms() - w->wal_alive_ms < w->gw->opts.wal_alive_ms)
        return HS_OK;
    bool was_ours = w->wal_put;
    enum hs_err err = hs_wr_wal_put(w, msg, msg_len);
    if (err == HS_EUNAVAIL && was_ours && w->wal_put) { /* etcd busy: again with the next bytes */
        msg[0] = '\0';
        return HS_OK;
    }
    return err;
}

/* Sets up the parts, checks the live nodes and ranks them for the key. */
static enum hs_err place(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    const struct hs_gw_settings *s = &w->set;
    size_t S = hs_codec_stripe_bytes_for(s->ec_k, (size_t)w->gw->opts.stripe_bytes);
    int64_t stripe = w->stripe = (int64_t)(S / s->ec_k); /* the manifest counts shard bytes */
    enum hs_err err = HS_OK;
    if (w->strategy == HS_STRATEGY_REPLICATION) {
        hs_part_init_replicated(&w->next.data, s->replicas, 0);
        err = check_quorum(w, &w->next.data, msg, msg_len);
    } else if (w->strategy == HS_STRATEGY_EC) {
        hs_part_init_ec(&w->next.data, s->ec_k, s->ec_m, stripe, 0);
        err = check_quorum(w, &w->next.data, msg, msg_len);
    } else {
        hs_part_init_replicated(&w->next.hot, s->replicas, 0);
        hs_part_init_ec(&w->next.cold, s->ec_k, s->ec_m, stripe, 0);
        err = check_quorum(w, &w->next.hot, msg, msg_len);
    }
    if (err != HS_OK)
        return err;
    w->rank = hs_xcalloc(w->mem->n + 1, sizeof *w->rank);
    if (w->mem->n && hs_place_rank(w->key, w->key_len, w->mem->ids, w->mem->n, w->rank) != HS_OK)
        HS_BUG("placement over %zu nodes", w->mem->n);
    return HS_OK;
}

enum hs_err hs_wr_start(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    /* max-open-writes: a slot per WAL record this gateway may leave open (writer_free gives it
     * back), so slow clients cannot make it hold unbounded etcd state and work */
    if (!w->write_slot) {
        enum hs_err slot = hs_gw_write_slot_take(w->gw, msg, msg_len);
        if (slot != HS_OK)
            return slot;
        w->write_slot = true;
    }
    w->mem = hs_gw_members_get(w->gw);
    enum hs_err err = place(w, msg, msg_len);
    if (err != HS_OK)
        return err;
    if ((err = hs_meta_txn_id_new(w->txn)) != HS_OK)
        return err;
    if (hs_meta_key_meta(w->key, &w->meta_key) != HS_OK ||
        hs_meta_key_txn(w->txn, &w->txn_key) != HS_OK ||
        hs_meta_key_retire(w->txn, &w->retire_key) != HS_OK ||
        hs_meta_key_repair(w->key, &w->repair_key) != HS_OK)
        HS_BUG("etcd keys for a validated key");
    w->wal.state = HS_TXN_PENDING;
    w->wal.txn_id = hs_xstrdup(w->txn);
    w->wal.key = hs_xstrdup(w->key);
    w->wal.owner_id = hs_xstrdup(w->gw->opts.gateway_id);
    w->wal.start_ms = hs_clock_wall_ms();
    wal_initial_blobs(w);
    char *json = NULL;
    size_t len = 0;
    if ((err = wal_encode(w, &json, &len)) != HS_OK) {
        snprintf(msg, msg_len, "write-ahead record: %s", hs_err_name(err));
        return err;
    }
    /* the WAL record and the current manifest in one round trip */
    struct hs_etcd_op ops[2] = {
        {.type = HS_ETCD_OP_PUT, .key = w->txn_key, .value = json, .value_len = len},
        {.type = HS_ETCD_OP_RANGE, .key = w->meta_key},
    };
    struct hs_etcd_txn t = {.success = ops, .n_success = 2};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(w->gw->etcd, &t, &res);
    free(json);
    w->started = true;
    w->wal_put = true; /* possibly, when the call was ambiguous: clean-up deletes it */
    if (err != HS_OK) {
        snprintf(msg, msg_len, "etcd is not available: %s", hs_err_name(err));
        return HS_EUNAVAIL;
    }
    w->wal_rev = res.revision; /* a new key: its create and mod revision */
    w->wal_alive_ms = hs_clock_mono_ms();
    err = load_cur(w, res.n_ranges ? &res.ranges[0] : NULL, msg, msg_len);
    hs_etcd_txn_result_release(&res);
    if (err == HS_OK)
        err = check_conditions(w, msg, msg_len);
    return err;
}

/* Deletes txn/<id> if it is still the record we last put (else the healer owns it). */
static enum hs_err wal_delete(struct hs_obj_writer *w)
{
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_MOD,
                              .result = HS_ETCD_EQUAL,
                              .key = w->txn_key,
                              .number = w->wal_rev};
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = w->txn_key};
    struct hs_etcd_txn t = {.cmps = &cmp, .n_cmps = 1, .success = &del, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(w->gw->etcd, &t, &res);
    hs_etcd_txn_result_release(&res);
    return err;
}

/* Hands the clean-up to the healer: the record says ABORTED, so it is rolled back at its next
 * pass, which deletes every blob the record names (also a PUT whose answer we never got). */
static enum hs_err wal_mark_aborted(struct hs_obj_writer *w)
{
    w->wal.state = HS_TXN_ABORTED;
    char msg[160];
    enum hs_err err = hs_wr_wal_put(w, msg, sizeof msg);
    return w->wal_put ? err : HS_OK; /* rolled back already: the healer has it */
}

void hs_wr_fail_cleanup(struct hs_obj_writer *w)
{
    size_t failures = hs_wr_delete_stored(w);
    if (!w->wal_put)
        return;
    /* A blob we could not delete, or a PUT that timed out (it may still land), needs the
     * healer; otherwise the record goes now. */
    bool healer = failures > 0 || w->n_bad_urls > 0;
    enum hs_err err = healer ? wal_mark_aborted(w) : wal_delete(w);
    if (err != HS_OK)
        HS_LOG_WARN("wal_cleanup_failed", "req=%s txn=%s err=%s", w->req_id, w->txn,
                    hs_err_name(err)); /* the healer rolls it back after its timeout */
    w->wal_put = false;
}

static void fill_header(struct hs_obj_writer *w)
{
    struct hs_manifest *n = &w->next;
    free(n->key);
    free(n->content_type);
    free(n->etag);
    free(n->txn_id);
    n->key = hs_xstrdup(w->key);
    n->strategy = w->strategy;
    n->content_type = hs_xstrdup(w->content_type);
    n->etag = hs_xstrdup(w->txn); /* unique per version, cheap, and etagc-safe */
    n->version = w->have_cur ? w->cur.version + 1 : 1;
    n->created_ms = hs_clock_wall_ms();
    n->txn_id = hs_xstrdup(w->txn);
    if (w->strategy == HS_STRATEGY_FIELD_HYBRID)
        n->size_bytes = hs_wr_hybrid_size(w); /* the cold part may have changed on a retry */
    hs_part_fix_offsets(&n->data);
    hs_part_fix_offsets(&n->hot);
    hs_part_fix_offsets(&n->cold);
}

/* After a lost race: the hot-only reuse must still hold against the manifest now replaced. */
static enum hs_err recheck_hybrid(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    if (w->strategy != HS_STRATEGY_FIELD_HYBRID || !w->pure_hot)
        return HS_OK;
    if (w->have_cur && hs_wr_cold_reusable(w, &w->cur)) {
        hs_part_copy(&w->next.cold, &w->cur.cold); /* the blobs the new current references */
        w->next.has_cold = w->cur.has_cold;
        return HS_OK;
    }
    if (w->hot_only) {
        snprintf(msg, msg_len,
                 "hot_only=true but the cold part changed meanwhile; nothing was "
                 "written");
        return HS_ECONFLICT;
    }
    w->pure_hot = false;
    return hs_wr_write_cold(w, msg, msg_len);
}

/* The commit transaction's outcome could not be learnt: fence it by deleting our WAL record
 * (a commit still in flight then fails its compare), then see whether it had landed. */
static enum hs_err resolve_ambiguous(struct hs_obj_writer *w, bool *committed)
{
    enum hs_err err = wal_delete(w);
    if (err != HS_OK)
        return err;
    w->wal_put = false;
    struct hs_etcd_kvs kvs = {0};
    if ((err = hs_etcd_get(w->gw->etcd, w->meta_key, &kvs)) != HS_OK)
        return err;
    struct hs_manifest m;
    hs_manifest_init(&m);
    *committed = kvs.n &&
                 hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &m, NULL, 0) == HS_OK &&
                 strcmp(m.txn_id, w->txn) == 0;
    hs_manifest_release(&m);
    hs_etcd_kvs_release(&kvs);
    return HS_OK;
}

/* The retire record of this commit: the blobs of the version it replaces that the new one does
 * not reference. The sweeper (healer) deletes them after the grace, so a reader holding the old
 * manifest keeps working meanwhile. NULL when nothing is retired. */
static char *retire_json(struct hs_obj_writer *w, size_t *len)
{
    if (!w->have_cur)
        return NULL;
    struct hs_blob_loc *old = NULL, *now = NULL, *gone = NULL;
    size_t n_old = 0, n_now = 0, n_gone = 0;
    hs_manifest_blob_locs(&w->cur, &old, &n_old);
    hs_manifest_blob_locs(&w->next, &now, &n_now);
    hs_blob_locs_subtract(old, n_old, now, n_now, &gone, &n_gone);
    char *json = NULL;
    if (n_gone)
        json = hs_gw_retire_json(w->key, gone, n_gone, len);
    free(old);
    free(now);
    free(gone);
    return json;
}

/* One commit attempt: HS_OK with *done when committed, HS_OK without it to retry. */
static enum hs_err commit_once(struct hs_obj_writer *w, bool *done, char *msg, size_t msg_len)
{
    fill_header(w);
    char *json = NULL, why[160] = "";
    size_t len = 0;
    enum hs_err err = hs_manifest_encode(&w->next, &json, &len, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_encode_failed", "req=%s key='%s' why='%s'", w->req_id, w->key, why);
        snprintf(msg, msg_len, "manifest: %s", why);
        return err == HS_ETOOBIG ? HS_ETOOBIG : HS_EIO; /* our bug, not the client's */
    }
    struct hs_repair_mark rm = {.reason = HS_REPAIR_DEGRADED_WRITE,
                                .marked_ms = hs_clock_wall_ms()};
    memcpy(rm.txn_id, w->txn, sizeof rm.txn_id);
    char repair[HS_REPAIR_MARK_BUF];
    hs_repair_mark_encode(&rm, repair);
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = w->txn_key,
         .number = w->wal_rev},
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = w->meta_key,
         .number = w->cur_rev},
    };
    size_t retire_len = 0;
    char *retire = retire_json(w, &retire_len);
    if (retire && len + retire_len > HS_GW_COMMIT_BYTES_MAX) {
        /* too big for one etcd request beside the manifest: put it first. Harmless if the
         * commit then fails: the sweeper never deletes a blob the current manifest references */
        enum hs_err perr = hs_etcd_put(w->gw->etcd, w->retire_key, retire, retire_len, 0, NULL);
        free(retire);
        retire = NULL;
        if (perr != HS_OK) {
            free(json);
            snprintf(msg, msg_len, "etcd did not take the retire record: %s", hs_err_name(perr));
            return HS_EUNAVAIL;
        }
    }
    struct hs_etcd_op succ[4] = {
        {.type = HS_ETCD_OP_PUT, .key = w->meta_key, .value = json, .value_len = len},
        {.type = HS_ETCD_OP_DELETE, .key = w->txn_key},
        w->degraded ? (struct hs_etcd_op){.type = HS_ETCD_OP_PUT,
                                          .key = w->repair_key,
                                          .value = repair,
                                          .value_len = strlen(repair)}
                    : (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = w->repair_key},
    };
    struct hs_etcd_op fail[2] = {{.type = HS_ETCD_OP_RANGE, .key = w->txn_key},
                                 {.type = HS_ETCD_OP_RANGE, .key = w->meta_key}};
    if (retire)
        succ[3] = (struct hs_etcd_op){
            .type = HS_ETCD_OP_PUT, .key = w->retire_key, .value = retire, .value_len = retire_len};
    struct hs_etcd_txn t = {cmps, 2, succ, retire ? 4 : 3, fail, 2};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(w->gw->etcd, &t, &res);
    free(json);
    free(retire);
    if (err != HS_OK) {
        bool committed = false;
        if (resolve_ambiguous(w, &committed) == HS_OK && committed) {
            *done = true;
            return HS_OK;
        }
        snprintf(msg, msg_len, "etcd did not confirm the commit: %s", hs_err_name(err));
        return HS_EUNAVAIL;
    }
    if (res.succeeded) {
        w->wal_put = false;
        *done = true;
    } else if (res.n_ranges < 2 || res.ranges[0].n == 0 ||
               res.ranges[0].kvs[0].mod_revision != w->wal_rev) {
        err = rolled_back(w, msg, msg_len); /* deleted or marked by the healer */
    } else {
        hs_gw_metric_add(HS_GW_M_COMMIT_RETRIES, 1);
        err = load_cur(w, &res.ranges[1], msg, msg_len);
        if (err == HS_OK)
            err = check_conditions(w, msg, msg_len);
        if (err == HS_OK)
            err = recheck_hybrid(w, msg, msg_len);
    }
    hs_etcd_txn_result_release(&res);
    return err;
}

enum hs_err hs_wr_commit(struct hs_obj_writer *w, char *msg, size_t msg_len)
{
    bool done = false;
    enum hs_err err = HS_OK;
    /* fault-injection builds only: die after the blobs are stored, before the commit */
    hs_fault("gateway.before_commit");
    for (int attempt = 0; !done; attempt++) {
        if (attempt == COMMIT_ATTEMPTS_MAX) {
            snprintf(msg, msg_len, "too many concurrent writers to this key; nothing was written");
            err = HS_ECONFLICT;
            break;
        }
        if ((err = commit_once(w, &done, msg, msg_len)) != HS_OK)
            break;
    }
    if (err != HS_OK) {
        hs_wr_fail_cleanup(w);
        return err;
    }
    if (w->degraded) {
        hs_gw_metric_add(HS_GW_M_REPAIR_MARKS, 1);
        HS_LOG_WARN("write_degraded", "req=%s key='%s' txn=%s", w->req_id, w->key, w->txn);
    }
    if (w->strategy == HS_STRATEGY_FIELD_HYBRID)
        hs_gw_metric_add(w->pure_hot ? HS_GW_M_PURE_HOT_UPDATES : HS_GW_M_COLD_UPDATES, 1);
    return HS_OK;
}
