/* txn.c - one write transaction (txn.h; docs/gateway.md "The write path"). The WAL record put
 * and the current manifest read share ONE etcd transaction, so a small write costs one round
 * trip before its blobs. The commit transaction is
 * [mod_revision(txn/<id>) == our last put, mod_revision(meta/<key>) == R] -> put manifest,
 * delete txn/<id>, put or delete repair/<key>, put retire/<id>; its failure branch reads both
 * keys back so a retry after a concurrent writer needs no extra read. The pure rules
 * (quorum, plan, outcome of a commit, retire set) are txn_plan.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/metrics.h"
#include "gateway/txn.h"
#include "hs/clock.h"
#include "hs/etcd.h"
#include "hs/fault.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/place.h"
#include "hs/banned.h"

#define COMMIT_ATTEMPTS_MAX 32 /* concurrent writers to one key before giving up (409) */
#define CALL_BATCH          64 /* blob calls in flight at once; also the retry bound */
/* The largest etcd transaction a commit sends with its retire record inside (etcd refuses
 * requests over 1.5 MiB by default): a larger retire record is put on its own first. */
#define COMMIT_BYTES_MAX ((size_t)1200 * 1024)

/* A blob this write stored on a node (deleted again when the write fails). */
struct stored {
    char id[HS_META_BLOB_ID_BUF];
    char *url; /* heap: node base URL */
};

struct hs_gw_txn {
    struct hs_gw *gw;
    char *key; /* heap */
    size_t key_len;
    char *req_id;                    /* heap */
    const struct hs_gw_members *mem; /* taken at new */
    size_t *rank;                    /* every live node, best first (indices into mem) */
    char *meta_key, *txn_key, *repair_key, *retire_key; /* heap, set by open */
    struct hs_txn_record wal;
    size_t wal_segs[3];     /* per enum hs_meta_blob_part: segments named in the WAL record */
    int64_t wal_rev;        /* mod_revision of our last put of txn/<id>: every re-put and the
                               commit compare it, so a record the healer rolled back (deleted or
                               marked) can never commit */
    int64_t wal_alive_ms;   /* monotonic ms of that put (liveness refresh) */
    struct hs_manifest cur; /* the version this write replaces (when have_cur) */
    int64_t cur_rev;        /* mod_revision of meta/<key>, 0 when absent */
    struct stored *stored;  /* heap array */
    size_t n_stored, cap_stored;
    char **bad_urls; /* distinct node URLs that timed out or were unreachable */
    size_t n_bad_urls;
    char id[HS_TXN_ID_BUF];
    char *etag;      /* heap: the version's ETag fixed by the writer, NULL = the txn id */
    bool write_slot; /* holds a max-open-writes slot */
    bool wal_put;    /* txn/<id> may exist: clean-up deletes it */
    bool have_cur;
    bool degraded;  /* some blob missing: repair/<key> goes with the commit */
    bool committed; /* the stored blobs belong to the new version */
    /* the commit may have landed, or landed and been replaced already: the stored blobs may
     * be referenced, so clean-up leaves them (and the record) to the healer and GC */
    bool outcome_unknown;
    bool keep_identity; /* a re-layout: etag and created_ms of the replaced version */
};

/* ---- life cycle and placement ---- */

enum hs_err hs_gw_txn_new(struct hs_gw *gw, const char *key, const char *req_id,
                          struct hs_gw_txn **out, char *msg, size_t msg_len)
{
    /* max-open-writes: a slot per WAL record this gateway may leave open, so slow clients
     * cannot make it hold unbounded etcd state and work */
    enum hs_err err = hs_gw_write_slot_take(gw, msg, msg_len);
    if (err != HS_OK)
        return err;
    struct hs_gw_txn *t = hs_xcalloc(1, sizeof *t);
    t->gw = gw;
    t->write_slot = true;
    t->key = hs_xstrdup(key);
    t->key_len = strlen(key);
    t->req_id = hs_xstrdup(req_id ? req_id : "-");
    hs_txn_record_init(&t->wal);
    hs_manifest_init(&t->cur);
    t->mem = hs_gw_members_get(gw);
    t->rank = hs_xcalloc(t->mem->n + 1, sizeof *t->rank);
    if (t->mem->n && hs_place_rank(t->key, t->key_len, t->mem->ids, t->mem->n, t->rank) != HS_OK)
        HS_BUG("placement over %zu nodes", t->mem->n);
    *out = t;
    return HS_OK;
}

enum hs_err hs_gw_txn_need(struct hs_gw_txn *t, const struct hs_part *part, const char *what,
                           char *msg, size_t msg_len)
{
    size_t need = hs_txn_part_quorum(part);
    if (t->mem->n >= need)
        return HS_OK;
    snprintf(msg, msg_len,
             "not enough storage nodes: %zu live, %s needs %zu (at least %zu for a quorum)",
             t->mem->n, what, hs_txn_part_width(part), need);
    hs_gw_metric_add(HS_GW_M_QUORUM_FAILURES, 1);
    return HS_EUNAVAIL;
}

struct hs_gw *hs_gw_txn_gw(const struct hs_gw_txn *t)
{
    return t->gw;
}

const char *hs_gw_txn_req(const struct hs_gw_txn *t)
{
    return t->req_id;
}

const char *hs_gw_txn_id(const struct hs_gw_txn *t)
{
    return t->id;
}

const struct hs_gw_members *hs_gw_txn_members(const struct hs_gw_txn *t)
{
    return t->mem;
}

size_t hs_gw_txn_live(const struct hs_gw_txn *t)
{
    return t->mem->n;
}

const struct hs_manifest *hs_gw_txn_current(const struct hs_gw_txn *t)
{
    return t->have_cur ? &t->cur : NULL;
}

const char *hs_gw_txn_blob_node(const struct hs_gw_txn *t, size_t i, char unplaced[32],
                                const char **url)
{
    if (i < t->mem->n) {
        *url = t->mem->nodes[t->rank[i]].url;
        return t->mem->nodes[t->rank[i]].id;
    }
    snprintf(unplaced, 32, HS_META_NODE_UNPLACED_PREFIX "%zu", i);
    *url = NULL;
    return unplaced;
}

bool hs_gw_txn_degraded(const struct hs_gw_txn *t)
{
    return t->degraded;
}

/* ---- the WAL record ---- */

static enum hs_err wal_encode(struct hs_gw_txn *t, char **json, size_t *len)
{
    char why[160] = "";
    t->wal.alive_ms = hs_clock_wall_ms();
    enum hs_err err = hs_txn_record_encode(&t->wal, json, len, why, sizeof why);
    if (err != HS_OK)
        HS_LOG_ERROR("wal_encode_failed", "req=%s txn=%s why='%s'", t->req_id, t->id, why);
    return err;
}

/* After a put whose outcome is unknown: is txn/<id> still our PENDING record, and at which
 * revision? Only the healer changes it besides us, and it never writes PENDING. */
static enum hs_err wal_reread(struct hs_gw_txn *t, bool *ours)
{
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_get(t->gw->etcd, t->txn_key, &kvs);
    if (err != HS_OK)
        return err;
    struct hs_txn_record r;
    hs_txn_record_init(&r);
    *ours = kvs.n == 1 &&
            hs_txn_record_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &r, NULL, 0) == HS_OK &&
            r.state == HS_TXN_PENDING;
    if (*ours)
        t->wal_rev = kvs.kvs[0].mod_revision;
    hs_txn_record_release(&r);
    hs_etcd_kvs_release(&kvs);
    return HS_OK;
}

static enum hs_err rolled_back(struct hs_gw_txn *t, char *msg, size_t msg_len)
{
    t->wal_put = false; /* the healer owns the record and our blobs now */
    hs_gw_metric_add(HS_GW_M_WAL_ROLLED_BACK, 1);
    HS_LOG_WARN("write_rolled_back", "req=%s key='%s' txn=%s", t->req_id, t->key, t->id);
    snprintf(msg, msg_len,
             "the write was rolled back by the healer (stalled past its timeout); nothing was "
             "written");
    return HS_EUNAVAIL;
}

/* Puts the WAL record again, comparing its mod_revision with our last put. HS_EUNAVAIL with
 * wal_put cleared when the healer rolled the write back. */
static enum hs_err wal_put(struct hs_gw_txn *t, char *msg, size_t msg_len)
{
    char *json = NULL;
    size_t len = 0;
    enum hs_err err = wal_encode(t, &json, &len);
    if (err != HS_OK) {
        snprintf(msg, msg_len, "write-ahead record: %s", hs_err_name(err));
        return err;
    }
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_MOD,
                              .result = HS_ETCD_EQUAL,
                              .key = t->txn_key,
                              .number = t->wal_rev};
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = t->txn_key, .value = json, .value_len = len};
    struct hs_etcd_txn et = {.cmps = &cmp, .n_cmps = 1, .success = &put, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(t->gw->etcd, &et, &res);
    free(json);
    bool ours = res.succeeded;
    if (err == HS_OK && res.succeeded)
        t->wal_rev = res.revision;
    hs_etcd_txn_result_release(&res);
    if (err != HS_OK && wal_reread(t, &ours) != HS_OK) {
        snprintf(msg, msg_len, "cannot extend the write-ahead record in etcd: %s",
                 hs_err_name(err));
        return HS_EUNAVAIL;
    }
    if (!ours)
        return rolled_back(t, msg, msg_len);
    t->wal_alive_ms = hs_clock_mono_ms();
    return HS_OK;
}

/* Names segments [0, to) of part `which` (width blobs each) in the record (not sent). */
static void wal_add(struct hs_gw_txn *t, enum hs_meta_blob_part which, size_t to, size_t width)
{
    if (to > t->wal_segs[which]) {
        t->wal_segs[which] = to;
        hs_txn_record_set_segs(&t->wal, which, (uint32_t)to, (uint32_t)width);
    }
}

enum hs_err hs_gw_txn_name_segment(struct hs_gw_txn *t, enum hs_meta_blob_part which, size_t seg,
                                   size_t width, char *msg, size_t msg_len)
{
    if (seg < t->wal_segs[which])
        return HS_OK;
    wal_add(t, which, seg + 1, width);
    return wal_put(t, msg, msg_len);
}

enum hs_err hs_gw_txn_keep_alive(struct hs_gw_txn *t, char *msg, size_t msg_len)
{
    if (!t->wal_put || hs_clock_mono_ms() - t->wal_alive_ms < t->gw->opts.wal_alive_ms)
        return HS_OK;
    enum hs_err err = wal_put(t, msg, msg_len);
    if (err == HS_EUNAVAIL && t->wal_put) { /* etcd busy: again with the next bytes */
        msg[0] = '\0';
        return HS_OK;
    }
    return err;
}

/* Replaces t->cur with the manifest in kvs (or none). */
static enum hs_err load_cur(struct hs_gw_txn *t, const struct hs_etcd_kvs *kvs, char *msg,
                            size_t msg_len)
{
    hs_manifest_release(&t->cur);
    t->have_cur = false;
    t->cur_rev = 0;
    if (!kvs || kvs->n == 0)
        return HS_OK;
    char why[160] = "";
    enum hs_err err =
        hs_manifest_decode(kvs->kvs[0].value, kvs->kvs[0].value_len, &t->cur, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_unreadable", "req=%s key='%s' err=%s why='%s'", t->req_id, t->key,
                     hs_err_name(err), why);
        snprintf(msg, msg_len, "the stored manifest of this key cannot be read (%s)",
                 hs_err_name(err));
        return err == HS_EPROTO ? HS_EPROTO : HS_EIO;
    }
    t->have_cur = true;
    t->cur_rev = kvs->kvs[0].mod_revision;
    return HS_OK;
}

/* The record's nodes and the segments named up front (txn_plan.h). */
static void wal_plan(struct hs_gw_txn *t, const struct hs_txn_plan *plan)
{
    const char *nodes[HS_TXN_NODES_MAX];
    size_t n = hs_txn_plan_nodes(plan, t->mem->n);
    for (size_t i = 0; i < n; i++)
        nodes[i] = t->mem->nodes[t->rank[i]].id;
    hs_txn_record_set_nodes(&t->wal, nodes, n);
    for (size_t p = 0; p < 3; p++)
        if (plan->segs[p])
            wal_add(t, (enum hs_meta_blob_part)p, plan->segs[p], plan->blobs[p]);
}

enum hs_err hs_gw_txn_open(struct hs_gw_txn *t, const struct hs_txn_plan *plan, char *msg,
                           size_t msg_len)
{
    enum hs_err err = hs_meta_txn_id_new(t->id);
    if (err != HS_OK)
        return err;
    if (hs_meta_key_meta(t->key, &t->meta_key) != HS_OK ||
        hs_meta_key_txn(t->id, &t->txn_key) != HS_OK ||
        hs_meta_key_retire(t->id, &t->retire_key) != HS_OK ||
        hs_meta_key_repair(t->key, &t->repair_key) != HS_OK)
        HS_BUG("etcd keys for a validated key");
    t->wal.state = HS_TXN_PENDING;
    t->wal.txn_id = hs_xstrdup(t->id);
    t->wal.key = hs_xstrdup(t->key);
    t->wal.owner_id = hs_xstrdup(t->gw->opts.gateway_id);
    t->wal.start_ms = hs_clock_wall_ms();
    wal_plan(t, plan);
    char *json = NULL;
    size_t len = 0;
    if ((err = wal_encode(t, &json, &len)) != HS_OK) {
        snprintf(msg, msg_len, "write-ahead record: %s", hs_err_name(err));
        return err;
    }
    /* the WAL record and the current manifest in one round trip */
    struct hs_etcd_op ops[2] = {
        {.type = HS_ETCD_OP_PUT, .key = t->txn_key, .value = json, .value_len = len},
        {.type = HS_ETCD_OP_RANGE, .key = t->meta_key},
    };
    struct hs_etcd_txn et = {.success = ops, .n_success = plan->no_current ? 1 : 2};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(t->gw->etcd, &et, &res);
    free(json);
    t->wal_put = true; /* possibly, when the call was ambiguous: clean-up deletes it */
    if (err != HS_OK) {
        snprintf(msg, msg_len, "etcd is not available: %s", hs_err_name(err));
        return HS_EUNAVAIL;
    }
    t->wal_rev = res.revision; /* a new key: its create and mod revision */
    t->wal_alive_ms = hs_clock_mono_ms();
    err = load_cur(t, res.n_ranges && !plan->no_current ? &res.ranges[0] : NULL, msg, msg_len);
    hs_etcd_txn_result_release(&res);
    return err;
}

/* ---- blobs ---- */

/* Runs calls in parallel on the calling thread's node client, then once more those that lost
 * their connection. */
static void run_calls(struct hs_gw *gw, struct hs_http_call *calls, size_t n)
{
    /* PUT and DELETE of a blob are idempotent on the node, so a call that lost its
     * connection (curl cannot rewind a PUT on a closed kept-alive one) simply goes again */
    struct hs_http_client *c = hs_gw_blob_client(gw);
    (void)hs_http_client_run(c, calls, n);
    struct hs_http_call again[CALL_BATCH];
    size_t idx[CALL_BATCH], m = 0;
    for (size_t i = 0; i < n && m < CALL_BATCH; i++) {
        if (calls[i].err != HS_EUNAVAIL)
            continue;
        again[m] = calls[i];
        again[m].err = HS_OK;
        again[m].http_status = 0;
        idx[m++] = i;
    }
    if (m == 0)
        return;
    (void)hs_http_client_run(c, again, m);
    for (size_t j = 0; j < m; j++)
        calls[idx[j]] = again[j];
}

void hs_gw_txn_run(struct hs_gw_txn *t, struct hs_http_call *calls, size_t n)
{
    run_calls(t->gw, calls, n);
}

/* Adds url to the set (*set, *n) unless it is there. */
static void note_url(char ***set, size_t *n, const char *url)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*set)[i], url) == 0)
            return;
    *set = hs_xrealloc(*set, (*n + 1) * sizeof **set);
    (*set)[(*n)++] = hs_xstrdup(url);
}

bool hs_gw_txn_note_put(struct hs_gw_txn *t, const struct hs_http_call *c)
{
    if (c->err != HS_OK) {
        if (c->err == HS_ETIMEDOUT || c->err == HS_EUNAVAIL)
            note_url(&t->bad_urls, &t->n_bad_urls, c->base_url);
        HS_LOG_WARN("blob_put_failed", "req=%s blob=%s node=%s err=%s http=%ld", t->req_id, c->id,
                    c->base_url, hs_err_name(c->err), c->http_status);
        return false;
    }
    if (t->n_stored == t->cap_stored) {
        t->cap_stored = t->cap_stored ? 2 * t->cap_stored : 16;
        t->stored = hs_xrealloc(t->stored, t->cap_stored * sizeof *t->stored);
    }
    struct stored *s = &t->stored[t->n_stored++];
    snprintf(s->id, sizeof s->id, "%s", c->id);
    s->url = hs_xstrdup(c->base_url);
    return true;
}

void hs_gw_txn_mark_degraded(struct hs_gw_txn *t)
{
    t->degraded = true;
}

/* Deletes every blob this write stored, in parallel batches, best effort. Returns the
 * failures (neither deleted nor absent). */
static size_t delete_stored(struct hs_gw_txn *t)
{
    if (t->n_stored == 0)
        return 0;
    struct hs_http_call *calls = hs_xcalloc(t->n_stored, sizeof *calls);
    for (size_t i = 0; i < t->n_stored; i++)
        calls[i] = (struct hs_http_call){
            .op = HS_HTTP_OP_DELETE, .base_url = t->stored[i].url, .id = t->stored[i].id};
    size_t failures = 0;
    for (size_t off = 0; off < t->n_stored; off += CALL_BATCH) {
        size_t b = HS_MIN((size_t)CALL_BATCH, t->n_stored - off);
        hs_gw_txn_run(t, calls + off, b);
        for (size_t i = off; i < off + b; i++)
            if (calls[i].err != HS_OK && calls[i].err != HS_ENOENT)
                failures++;
    }
    if (failures) {
        hs_gw_metric_add(HS_GW_M_BLOB_DELETE_FAILURES, (int64_t)failures);
        HS_LOG_WARN("blob_cleanup_failed", "req=%s txn=%s failures=%zu", t->req_id, t->id,
                    failures);
    }
    free(calls);
    for (size_t i = 0; i < t->n_stored; i++)
        free(t->stored[i].url);
    t->n_stored = 0;
    return failures;
}

/* ---- clean-up ---- */

/* Deletes txn/<id> if it is still the record we last put (else the healer owns it, or our
 * commit deleted it). *fenced: we deleted it, so no commit of ours can land any more. */
static enum hs_err wal_delete(struct hs_gw_txn *t, bool *fenced)
{
    *fenced = false;
    /* fault-injection builds only: etcd does not answer the fence */
    if (hs_fault_fails("gateway.fence_unavailable"))
        return HS_EUNAVAIL;
    struct hs_etcd_cmp cmp = {.target = HS_ETCD_CMP_MOD,
                              .result = HS_ETCD_EQUAL,
                              .key = t->txn_key,
                              .number = t->wal_rev};
    struct hs_etcd_op del = {.type = HS_ETCD_OP_DELETE, .key = t->txn_key};
    struct hs_etcd_txn et = {.cmps = &cmp, .n_cmps = 1, .success = &del, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(t->gw->etcd, &et, &res);
    *fenced = err == HS_OK && res.succeeded;
    hs_etcd_txn_result_release(&res);
    return err;
}

/* Hands the clean-up to the healer: the record says ABORTED, so it is rolled back at its next
 * pass, which deletes every blob the record names (also a PUT whose answer we never got). */
static enum hs_err wal_mark_aborted(struct hs_gw_txn *t)
{
    t->wal.state = HS_TXN_ABORTED;
    char msg[160];
    enum hs_err err = wal_put(t, msg, sizeof msg);
    return t->wal_put ? err : HS_OK; /* rolled back already: the healer has it */
}

static void fail_cleanup(struct hs_gw_txn *t)
{
    if (t->committed)
        return;
    if (t->outcome_unknown) {
        /* Deleting now could destroy a committed version. If the commit never lands, the
         * healer rolls the record back and deletes what it names; blobs nothing references
         * are GC's after its grace. */
        if (t->n_stored)
            HS_LOG_WARN("commit_outcome_unknown", "req=%s key='%s' txn=%s blobs_left=%zu",
                        t->req_id, t->key, t->id, t->n_stored);
        for (size_t i = 0; i < t->n_stored; i++)
            free(t->stored[i].url);
        t->n_stored = 0;
        t->wal_put = false;
        return;
    }
    size_t failures = delete_stored(t);
    if (!t->wal_put)
        return;
    /* A blob we could not delete, or a PUT that timed out (it may still land), needs the
     * healer; otherwise the record goes now. */
    bool healer = failures > 0 || t->n_bad_urls > 0, fenced = false;
    enum hs_err err = healer ? wal_mark_aborted(t) : wal_delete(t, &fenced);
    if (err != HS_OK)
        HS_LOG_WARN("wal_cleanup_failed", "req=%s txn=%s err=%s", t->req_id, t->id,
                    hs_err_name(err)); /* the healer rolls it back after its timeout */
    t->wal_put = false;
}

void hs_gw_txn_free(struct hs_gw_txn *t)
{
    if (!t)
        return;
    fail_cleanup(t);
    hs_gw_members_put(t->gw, t->mem);
    free(t->rank);
    free(t->key);
    free(t->req_id);
    free(t->etag);
    free(t->meta_key);
    free(t->txn_key);
    free(t->repair_key);
    free(t->retire_key);
    hs_txn_record_release(&t->wal);
    hs_manifest_release(&t->cur);
    for (size_t i = 0; i < t->n_stored; i++)
        free(t->stored[i].url);
    free(t->stored);
    for (size_t i = 0; i < t->n_bad_urls; i++)
        free(t->bad_urls[i]);
    free(t->bad_urls);
    if (t->write_slot)
        hs_gw_write_slot_put(t->gw);
    free(t);
}

/* ---- stored records of a commit ---- */

/* The repair mark of a degraded commit: the healer's repair pass finds the key by it. */
static void repair_mark_json(const char *txn_id, char *out, size_t out_len)
{
    struct hs_repair_mark rm = {.reason = HS_REPAIR_DEGRADED_WRITE,
                                .marked_ms = hs_clock_wall_ms()};
    snprintf(rm.txn_id, sizeof rm.txn_id, "%s", txn_id);
    if (out_len < HS_REPAIR_MARK_BUF)
        HS_BUG("repair mark buffer of %zu bytes", out_len);
    hs_repair_mark_encode(&rm, out);
}

enum hs_err hs_gw_retire_prepare(struct hs_gw *gw, const char *key,
                                 const struct hs_meta_blob_loc *locs, size_t n, char **json_out,
                                 size_t *len_out)
{
    *json_out = NULL;
    *len_out = 0;
    char **texts = NULL;
    size_t *lens = NULL, k = 0;
    hs_retire_records_split(key, hs_clock_wall_ms(), locs, n, &texts, &lens, &k);
    enum hs_err err = HS_OK;
    for (size_t i = 1; i < k && err == HS_OK; i++) {
        char id[HS_TXN_ID_BUF], *rkey = NULL;
        if ((err = hs_meta_txn_id_new(id)) != HS_OK)
            break;
        if (hs_meta_key_retire(id, &rkey) != HS_OK)
            HS_BUG("retire key of a minted id");
        if (hs_etcd_put(gw->etcd, rkey, texts[i], lens[i], 0, NULL) != HS_OK)
            err = HS_EUNAVAIL;
        free(rkey);
    }
    if (err == HS_OK && k) {
        *json_out = texts[0];
        *len_out = lens[0];
        texts[0] = NULL;
    }
    hs_retire_records_free(texts, lens, k);
    return err;
}

/* The retire record of this commit: the blobs of the version it replaces that the new one does
 * not reference. The sweeper (healer) deletes them after the grace, so a reader holding the old
 * manifest keeps working meanwhile. *json NULL when nothing is retired; more blobs than one
 * record holds go to records put first (hs_gw_retire_prepare). */
static enum hs_err commit_retire_json(struct hs_gw_txn *t, const struct hs_manifest *next,
                                      char **json, size_t *len)
{
    *json = NULL;
    if (!t->have_cur)
        return HS_OK;
    struct hs_meta_blob_loc *gone = NULL;
    size_t n_gone = 0;
    hs_txn_retire_set(&t->cur, next, &gone, &n_gone);
    enum hs_err err = hs_gw_retire_prepare(t->gw, t->key, gone, n_gone, json, len);
    free(gone);
    return err;
}

/* ---- the commit ---- */

void hs_gw_txn_set_etag(struct hs_gw_txn *t, const char *etag)
{
    free(t->etag);
    t->etag = etag ? hs_xstrdup(etag) : NULL;
}

void hs_gw_txn_keep_identity(struct hs_gw_txn *t)
{
    t->keep_identity = true;
}

static void fill_header(struct hs_gw_txn *t, struct hs_manifest *n)
{
    free(n->key);
    free(n->etag);
    free(n->txn_id);
    n->key = hs_xstrdup(t->key);
    /* the txn id is unique per version, cheap, and etagc-safe; a front end may fix another */
    n->etag = hs_xstrdup(t->etag ? t->etag : t->id);
    n->version = t->have_cur ? t->cur.version + 1 : 1;
    n->created_ms = hs_clock_wall_ms();
    if (t->keep_identity && t->have_cur) {
        free(n->etag);
        n->etag = hs_xstrdup(t->cur.etag);
        n->created_ms = t->cur.created_ms;
    }
    n->txn_id = hs_xstrdup(t->id);
    hs_part_fix_offsets(&n->data);
    hs_part_fix_offsets(&n->hot);
    hs_part_fix_offsets(&n->cold);
}

/* The commit transaction's outcome could not be learnt: fence it by deleting our WAL record
 * (a commit still in flight then fails its compare), then see whether it had landed.
 *
 * Only a fence that deleted the record proves the commit did not land and never will: then
 * the blobs are ours to delete. When the record was gone already, our commit landed (and may
 * have been replaced by a later write that reuses some of its blobs, e.g. the cold part kept
 * by a PATCH) or the healer rolled it back (and deletes the blobs itself); when the fence got
 * no answer, the commit may still land. In those cases the outcome stays unknown and
 * clean-up must not touch the blobs. */
static enum hs_err resolve_ambiguous(struct hs_gw_txn *t, bool *committed)
{
    *committed = false;
    bool fenced = false;
    /* fault-injection builds only: a pause before the fence, for a racing writer */
    hs_fault("gateway.before_fence");
    enum hs_err err = wal_delete(t, &fenced);
    if (err != HS_OK) {
        t->outcome_unknown = true;
        return err;
    }
    t->wal_put = false;
    if (fenced)
        return HS_OK; /* not committed, and now it cannot be */
    t->outcome_unknown = true;
    struct hs_etcd_kvs kvs = {0};
    if ((err = hs_etcd_get(t->gw->etcd, t->meta_key, &kvs)) != HS_OK)
        return err;
    struct hs_manifest m;
    hs_manifest_init(&m);
    *committed = kvs.n &&
                 hs_manifest_decode(kvs.kvs[0].value, kvs.kvs[0].value_len, &m, NULL, 0) == HS_OK &&
                 strcmp(m.txn_id, t->id) == 0;
    hs_manifest_release(&m);
    hs_etcd_kvs_release(&kvs);
    if (*committed)
        t->outcome_unknown = false;
    return HS_OK;
}

/* Sends the commit transaction of manifest json (and retire). */
static enum hs_err commit_send(struct hs_gw_txn *t, const char *json, size_t len,
                               const char *retire, size_t retire_len,
                               struct hs_etcd_txn_result *res)
{
    char repair[128];
    repair_mark_json(t->id, repair, sizeof repair);
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = t->txn_key,
         .number = t->wal_rev},
        {.target = HS_ETCD_CMP_MOD,
         .result = HS_ETCD_EQUAL,
         .key = t->meta_key,
         .number = t->cur_rev},
    };
    struct hs_etcd_op succ[4] = {
        {.type = HS_ETCD_OP_PUT, .key = t->meta_key, .value = json, .value_len = len},
        {.type = HS_ETCD_OP_DELETE, .key = t->txn_key},
        t->degraded ? (struct hs_etcd_op){.type = HS_ETCD_OP_PUT,
                                          .key = t->repair_key,
                                          .value = repair,
                                          .value_len = strlen(repair)}
                    : (struct hs_etcd_op){.type = HS_ETCD_OP_DELETE, .key = t->repair_key},
    };
    struct hs_etcd_op fail[2] = {{.type = HS_ETCD_OP_RANGE, .key = t->txn_key},
                                 {.type = HS_ETCD_OP_RANGE, .key = t->meta_key}};
    if (retire)
        succ[3] = (struct hs_etcd_op){
            .type = HS_ETCD_OP_PUT, .key = t->retire_key, .value = retire, .value_len = retire_len};
    struct hs_etcd_txn et = {cmps, 2, succ, retire ? 4 : 3, fail, 2};
    return hs_etcd_txn(t->gw->etcd, &et, res);
}

/* One commit attempt: HS_OK with *done when committed, HS_OK without it to retry. */
static enum hs_err commit_once(struct hs_gw_txn *t, struct hs_manifest *next,
                               hs_gw_txn_retry_fn retry, void *ctx, bool *done, char *msg,
                               size_t msg_len)
{
    fill_header(t, next);
    char *json = NULL, why[160] = "";
    size_t len = 0;
    enum hs_err err = hs_manifest_encode(next, &json, &len, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_encode_failed", "req=%s key='%s' why='%s'", t->req_id, t->key, why);
        snprintf(msg, msg_len, "manifest: %s", why);
        return err == HS_ETOOBIG ? HS_ETOOBIG : HS_EIO; /* our bug, not the client's */
    }
    size_t retire_len = 0;
    char *retire = NULL;
    if (commit_retire_json(t, next, &retire, &retire_len) != HS_OK) {
        free(json);
        snprintf(msg, msg_len, "etcd did not take the retire records");
        return HS_EUNAVAIL;
    }
    if (retire && len + retire_len > COMMIT_BYTES_MAX) {
        /* too big for one etcd request beside the manifest: put it first. Harmless if the
         * commit then fails: the sweeper never deletes a blob the current manifest references */
        enum hs_err perr = hs_etcd_put(t->gw->etcd, t->retire_key, retire, retire_len, 0, NULL);
        free(retire);
        retire = NULL;
        if (perr != HS_OK) {
            free(json);
            snprintf(msg, msg_len, "etcd did not take the retire record: %s", hs_err_name(perr));
            return HS_EUNAVAIL;
        }
    }
    struct hs_etcd_txn_result res = {0};
    /* fault-injection builds only: the commit is lost on its way (never applied), or etcd
     * applies it and its answer is lost */
    if (hs_fault_fails("gateway.commit_lost"))
        err = HS_ETIMEDOUT;
    else if ((err = commit_send(t, json, len, retire, retire_len, &res)) == HS_OK &&
             hs_fault_fails("gateway.commit_reply_lost")) {
        hs_etcd_txn_result_release(&res);
        res = (struct hs_etcd_txn_result){0};
        err = HS_ETIMEDOUT;
    }
    free(json);
    free(retire);
    struct hs_commit_reply reply = {
        .answered = err == HS_OK,
        .succeeded = err == HS_OK && res.succeeded,
        .wal_read = res.n_ranges >= 2 && res.ranges[0].n > 0,
        .wal_mod_rev =
            res.n_ranges >= 2 && res.ranges[0].n > 0 ? res.ranges[0].kvs[0].mod_revision : 0,
    };
    bool committed = false;
    switch (hs_txn_commit_outcome(&reply, t->wal_rev)) {
    case HS_COMMIT_AMBIGUOUS:
        if (resolve_ambiguous(t, &committed) == HS_OK && committed) {
            t->wal_put = false;
            *done = true;
            err = HS_OK; /* the commit landed: the failed call's error is not the outcome */
            break;
        }
        snprintf(msg, msg_len,
                 t->outcome_unknown ? "etcd did not confirm the commit (%s): the write may have "
                                      "been applied; read the object to see"
                                    : "etcd did not confirm the commit (%s); nothing was written",
                 hs_err_name(err));
        err = HS_EUNAVAIL;
        break;
    case HS_COMMIT_DONE:
        t->wal_put = false;
        *done = true;
        break;
    case HS_COMMIT_ROLLED_BACK:
        err = rolled_back(t, msg, msg_len); /* deleted or marked by the healer */
        break;
    case HS_COMMIT_RETRY:
        hs_gw_metric_add(HS_GW_M_COMMIT_RETRIES, 1);
        err = load_cur(t, &res.ranges[1], msg, msg_len);
        if (err == HS_OK)
            err = retry(ctx, hs_gw_txn_current(t), next, msg, msg_len);
        break;
    }
    hs_etcd_txn_result_release(&res);
    return err;
}

enum hs_err hs_gw_txn_commit(struct hs_gw_txn *t, struct hs_manifest *next,
                             hs_gw_txn_retry_fn retry, void *ctx, char *msg, size_t msg_len)
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
        if ((err = commit_once(t, next, retry, ctx, &done, msg, msg_len)) != HS_OK)
            break;
    }
    if (err != HS_OK) {
        fail_cleanup(t);
        return err;
    }
    t->committed = true; /* the blobs belong to the new version now */
    if (t->degraded) {
        hs_gw_metric_add(HS_GW_M_REPAIR_MARKS, 1);
        HS_LOG_WARN("write_degraded", "req=%s key='%s' txn=%s", t->req_id, t->key, t->id);
    }
    return HS_OK;
}

/* ---- a commit that puts no manifest (a multipart part record) ---- */

enum hs_err hs_gw_txn_commit_ops(struct hs_gw_txn *t, const struct hs_etcd_cmp *cmps, size_t n_cmps,
                                 const struct hs_etcd_op *ops, size_t n_ops, const char *landed_key,
                                 char *msg, size_t msg_len)
{
    hs_fault("gateway.before_commit");
    if (n_cmps > 6 || n_ops > 6)
        HS_BUG("commit with %zu compares and %zu ops", n_cmps, n_ops);
    struct hs_etcd_cmp c[7] = {{.target = HS_ETCD_CMP_MOD,
                                .result = HS_ETCD_EQUAL,
                                .key = t->txn_key,
                                .number = t->wal_rev}};
    struct hs_etcd_op o[7] = {{.type = HS_ETCD_OP_DELETE, .key = t->txn_key}};
    memcpy(c + 1, cmps, n_cmps * sizeof *cmps);
    memcpy(o + 1, ops, n_ops * sizeof *ops);
    struct hs_etcd_op fail[2] = {{.type = HS_ETCD_OP_RANGE, .key = t->txn_key},
                                 {.type = HS_ETCD_OP_RANGE, .key = t->txn_key}};
    struct hs_etcd_txn et = {c, n_cmps + 1, o, n_ops + 1, fail, 2};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(t->gw->etcd, &et, &res);
    struct hs_commit_reply reply = {
        .answered = err == HS_OK,
        .succeeded = err == HS_OK && res.succeeded,
        .wal_read = res.n_ranges >= 1 && res.ranges[0].n > 0,
        .wal_mod_rev =
            res.n_ranges >= 1 && res.ranges[0].n > 0 ? res.ranges[0].kvs[0].mod_revision : 0,
    };
    hs_etcd_txn_result_release(&res);
    switch (hs_txn_commit_outcome(&reply, t->wal_rev)) {
    case HS_COMMIT_DONE:
        t->wal_put = false;
        t->committed = true;
        return HS_OK;
    case HS_COMMIT_RETRY:
        snprintf(msg, msg_len, "a concurrent change of the records this write commits into");
        return HS_ECONFLICT; /* the caller re-reads and commits again, or frees */
    case HS_COMMIT_AMBIGUOUS: {
        /* as resolve_ambiguous: only a fence that deleted the record lets us delete blobs */
        bool landed = false, fenced = false;
        if (wal_delete(t, &fenced) != HS_OK) {
            t->outcome_unknown = true;
        } else if (!fenced) {
            t->wal_put = false;
            t->outcome_unknown = true;
            struct hs_etcd_kvs kvs = {0};
            if (hs_etcd_get(t->gw->etcd, landed_key, &kvs) == HS_OK && kvs.n &&
                strstr((const char *)kvs.kvs[0].value, t->id))
                landed = true;
            hs_etcd_kvs_release(&kvs);
        } else {
            t->wal_put = false;
        }
        if (landed) {
            t->committed = true;
            return HS_OK;
        }
        snprintf(msg, msg_len, "etcd did not confirm the commit: %s", hs_err_name(err));
        err = HS_EUNAVAIL;
        break;
    }
    case HS_COMMIT_ROLLED_BACK:
        err = rolled_back(t, msg, msg_len);
        break;
    }
    fail_cleanup(t);
    return err;
}

/* ---- the delete transaction ---- */

size_t hs_gw_delete_blobs(struct hs_gw *gw, const struct hs_meta_blob_loc *locs, size_t n,
                          bool *deleted_out)
{
    if (n == 0)
        return 0;
    const struct hs_gw_members *mem = hs_gw_members_get(gw);
    struct hs_http_call *calls = hs_xcalloc(n, sizeof *calls);
    size_t *map = hs_xcalloc(n, sizeof *map);
    size_t n_calls = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        deleted_out[i] = false;
        if (strncmp(locs[i].node_id, HS_META_NODE_UNPLACED_PREFIX,
                    sizeof HS_META_NODE_UNPLACED_PREFIX - 1) == 0)
            continue; /* never stored anywhere */
        const char *url = hs_gw_members_url_any(mem, locs[i].node_id);
        if (!url) {
            failures++; /* node gone: the retire record still names it */
            continue;
        }
        map[n_calls] = i;
        calls[n_calls++] =
            (struct hs_http_call){.op = HS_HTTP_OP_DELETE, .base_url = url, .id = locs[i].blob_id};
    }
    for (size_t off = 0; off < n_calls; off += CALL_BATCH) {
        size_t b = HS_MIN((size_t)CALL_BATCH, n_calls - off);
        run_calls(gw, calls + off, b);
    }
    for (size_t j = 0; j < n_calls; j++) {
        deleted_out[map[j]] = calls[j].err == HS_OK;
        if (calls[j].err != HS_OK && calls[j].err != HS_ENOENT)
            failures++;
    }
    if (failures)
        hs_gw_metric_add(HS_GW_M_BLOB_DELETE_FAILURES, (int64_t)failures);
    hs_gw_members_put(gw, mem);
    free(calls);
    free(map);
    return failures;
}

enum hs_err hs_gw_txn_delete_object(struct hs_gw *gw, const char *key, int64_t rev,
                                    const struct hs_manifest *m, bool *done)
{
    char *meta_key = NULL, *repair_key = NULL, *retire_key = NULL, *retire = NULL;
    if (hs_meta_key_meta(key, &meta_key) != HS_OK || hs_meta_key_repair(key, &repair_key) != HS_OK)
        HS_BUG("etcd keys for a validated key");
    struct hs_etcd_cmp cmp = {
        .target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = meta_key, .number = rev};
    struct hs_etcd_op ops[3] = {{.type = HS_ETCD_OP_DELETE, .key = meta_key},
                                {.type = HS_ETCD_OP_DELETE, .key = repair_key}};
    char id[HS_TXN_ID_BUF];
    size_t n_ops = 2, retire_len = 0;
    if (m) {
        struct hs_meta_blob_loc *locs = NULL;
        size_t n = 0;
        hs_txn_retire_set(m, NULL, &locs, &n);
        enum hs_err perr = HS_OK;
        if (n && hs_meta_txn_id_new(id) == HS_OK && hs_meta_key_retire(id, &retire_key) == HS_OK)
            perr = hs_gw_retire_prepare(gw, key, locs, n, &retire, &retire_len);
        free(locs);
        if (perr != HS_OK) {
            free(retire_key);
            free(meta_key);
            free(repair_key);
            return perr;
        }
    }
    if (retire)
        ops[n_ops++] = (struct hs_etcd_op){
            .type = HS_ETCD_OP_PUT, .key = retire_key, .value = retire, .value_len = retire_len};
    struct hs_etcd_txn t = {.cmps = &cmp, .n_cmps = 1, .success = ops, .n_success = n_ops};
    struct hs_etcd_txn_result res = {0};
    enum hs_err err = hs_etcd_txn(gw->etcd, &t, &res);
    if (err == HS_OK)
        *done = res.succeeded;
    hs_etcd_txn_result_release(&res);
    free(retire);
    free(retire_key);
    free(meta_key);
    free(repair_key);
    return err;
}
