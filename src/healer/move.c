/* move.c - nodes that left: when each node id was first seen absent from nodes/ (a node is
 * "gone" once absent longer than node_grace_ms, and its blobs are then treated as lost), where
 * a blob of a gone node goes (placement order over the live nodes, skipping nodes that already
 * hold a blob of the same segment), and the compare-and-swap that records the new node in the
 * manifest. The copying itself is the repair primitive's (repair.c): a move is a repair whose
 * target is a new node.
 *
 * Absence is measured from when THIS healer first noticed it (monotonic clock): a node that
 * vanished before the healer started gets the full grace period again. That errs on the side
 * of not moving data while a node may still come back. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "healer/repair_int.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/place.h"
#include "hs/banned.h"

void hs_healer_absent_refresh(struct hs_healer *h, const struct hs_healer_live *live)
{
    struct hs_healer_repair *st = hs_healer_repair_state(h);
    int64_t now = hs_clock_mono_ms();
    long long gone = 0;
    pthread_mutex_lock(&st->mu);
    size_t keep = 0;
    for (size_t i = 0; i < st->n_absent; i++) {
        struct hs_healer_absent *a = &st->absent[i];
        if (hs_healer_live_url(live, a->node_id)) {
            HS_LOG_INFO("node_back", "node=%s absent_ms=%" PRId64, a->node_id,
                        now - a->since_mono_ms);
            free(a->node_id);
            continue;
        }
        if (now - a->since_mono_ms >= h->opts.node_grace_ms)
            gone++;
        st->absent[keep++] = *a;
    }
    st->n_absent = keep;
    pthread_mutex_unlock(&st->mu);
    atomic_store(&h->stats.nodes_absent, (long long)keep);
    atomic_store(&h->stats.nodes_gone, gone);
}

bool hs_healer_node_gone(struct hs_healer *h, const char *node_id)
{
    /* A degraded write with fewer live nodes than blobs names the blobs it could not place
     * "unplaced-<i>" (the gateway's HS_WR_UNPLACED): no node ever held them, so there is
     * nothing to wait for. */
    if (strncmp(node_id, HS_HEALER_UNPLACED, sizeof HS_HEALER_UNPLACED - 1) == 0)
        return true;
    struct hs_healer_repair *st = hs_healer_repair_state(h);
    int64_t now = hs_clock_mono_ms();
    int64_t since = now;
    pthread_mutex_lock(&st->mu);
    size_t i = 0;
    while (i < st->n_absent && strcmp(st->absent[i].node_id, node_id) != 0)
        i++;
    if (i < st->n_absent) {
        since = st->absent[i].since_mono_ms;
    } else {
        if (st->n_absent == st->cap_absent) {
            st->cap_absent = st->cap_absent ? st->cap_absent * 2 : 8;
            st->absent = hs_xrealloc(st->absent, st->cap_absent * sizeof *st->absent);
        }
        st->absent[st->n_absent++] =
            (struct hs_healer_absent){.node_id = hs_xstrdup(node_id), .since_mono_ms = now};
        atomic_fetch_add(&h->stats.nodes_absent, 1);
        HS_LOG_INFO("node_absent", "node=%s grace_ms=%" PRId64, node_id, h->opts.node_grace_ms);
    }
    pthread_mutex_unlock(&st->mu);
    return now - since >= h->opts.node_grace_ms;
}

static bool taken_has(const char *const *taken, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (taken[i] && strcmp(taken[i], id) == 0)
            return true;
    return false;
}

enum hs_err hs_healer_move_target(const struct hs_healer_live *live, const char *key,
                                  const char *const *taken, size_t n_taken, const char **out)
{
    if (live->n == 0)
        return HS_EUNAVAIL;
    const char **ids = hs_xcalloc(live->n, sizeof *ids);
    size_t *order = hs_xcalloc(live->n, sizeof *order);
    for (size_t i = 0; i < live->n; i++)
        ids[i] = live->v[i].id;
    /* Placement order, so that a moved blob lands where a fresh write of the key would put
     * it as far as possible: reads and later moves stay predictable. */
    enum hs_err err = hs_place_rank(key, strlen(key), ids, live->n, order);
    if (err == HS_OK) {
        err = HS_EUNAVAIL;
        for (size_t i = 0; i < live->n; i++) {
            if (!taken_has(taken, n_taken, ids[order[i]])) {
                *out = live->v[order[i]].id;
                err = HS_OK;
                break;
            }
        }
    }
    free(order);
    free(ids);
    return err;
}

enum hs_err hs_healer_manifest_cas(struct hs_healer *h, const struct hs_manifest *m,
                                   int64_t meta_rev)
{
    char *mkey = NULL, *json = NULL;
    size_t json_len = 0;
    char why[160];
    enum hs_err err = hs_meta_key_meta(m->key, &mkey);
    if (err != HS_OK)
        return err;
    err = hs_manifest_encode(m, &json, &json_len, why, sizeof why);
    if (err != HS_OK) {
        HS_LOG_ERROR("manifest_encode_failed", "obj='%s' err=%s why='%s'", m->key, hs_err_name(err),
                     why);
        goto out;
    }
    struct hs_etcd_cmp cmps[2] = {
        {.target = HS_ETCD_CMP_MOD, .result = HS_ETCD_EQUAL, .key = mkey, .number = meta_rev}};
    hs_healer_fence(h, &cmps[1]);
    struct hs_etcd_op put = {
        .type = HS_ETCD_OP_PUT, .key = mkey, .value = json, .value_len = json_len};
    struct hs_etcd_txn txn = {.cmps = cmps, .n_cmps = 2, .success = &put, .n_success = 1};
    struct hs_etcd_txn_result res = {0};
    err = hs_etcd_txn(h->etcd, &txn, &res);
    if (err == HS_OK && !res.succeeded) {
        /* the manifest changed (a new version, or another move) or we no longer lead: the
         * blobs copied for it are orphans now, which GC removes */
        HS_LOG_INFO("manifest_cas_conflict", "obj='%s' read_rev=%" PRId64, m->key, meta_rev);
        err = HS_ECONFLICT;
    }
    hs_etcd_txn_result_release(&res);
out:
    free(json);
    free(mkey);
    return err;
}
