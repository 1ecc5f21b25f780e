/* audit.c - the continuous audit: every audit_interval_ms, list each live node's blobs once
 * (paged, into one hash set of (blob id, node, CRC, length)), then page through every manifest
 * and check its blobs against that set: never one request per object per node. Objects with a
 * blob missing from its node's listing, or on a node gone past node_grace_ms, become repair
 * candidates, sorted least remaining redundancy first. The candidates are then repaired a slice
 * per leader pass (at most AUDIT_SLICE_MS of work, so WAL recovery and GC keep their turn) with
 * the same primitive as the repair/ queue, which re-reads the manifest and confirms each
 * suspect blob with a HEAD before writing anything: a blob written after its node was listed
 * is never taken for a missing one. (The nodes' scrub counters are polled by stats.c.)
 *
 * Manifests modified after the listings started (mod_revision above the revision read just
 * before them) are skipped: their blobs may postdate the listing; the next audit sees them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healer/repair_int.h"
#include "hs/clock.h"
#include "hs/http_client.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define AUDIT_LIST_PAGE   10000 /* blobs per listing request (the node's maximum) */
#define AUDIT_META_PAGE   500   /* manifests per etcd range request */
#define AUDIT_SLICE_MS    5000  /* repair work per pass before yielding to WAL/GC */
#define AUDIT_CHUNK_PER_T 4     /* candidates per worker thread between time checks */

struct scan {
    struct hs_healer *h;
    const struct hs_healer_live *live;
    bool *unlisted;            /* per live node: its listing failed, blobs unknown */
    struct hs_healer_set have; /* (blob id, "node:crc:len") of every listed blob */
    int64_t rev0;              /* etcd revision read before the listings */
    struct hs_healer_candidate *cands;
    size_t n, cap;
    long long objects, missing;
};

/* ---- node listings ---- */

struct list_ctx {
    struct scan *sc;
    const char *node_id;
};

static void listed(void *ctx, const char *id, int64_t len, uint32_t crc)
{
    struct list_ctx *lc = ctx;
    char b[HS_NODE_ID_MAX + 48];
    snprintf(b, sizeof b, "%s:%08x:%" PRId64, lc->node_id, crc, len);
    hs_healer_set_add(&lc->sc->have, id, b);
}

static enum hs_err list_node(struct scan *sc, const struct hs_healer_node *node)
{
    struct hs_blob_client *client = hs_healer_blob_client(sc->h);
    struct list_ctx lc = {.sc = sc, .node_id = node->id};
    char *after = NULL;
    enum hs_err err = HS_OK;
    do {
        char *next = NULL;
        err = hs_blob_client_list(client, node->url, after, AUDIT_LIST_PAGE, listed, &lc, &next);
        free(after);
        after = next;
    } while (err == HS_OK && after && hs_healer_leading(sc->h));
    free(after);
    return err;
}

static void list_all(struct scan *sc)
{
    for (size_t i = 0; i < sc->live->n && hs_healer_leading(sc->h); i++) {
        const struct hs_healer_node *node = &sc->live->v[i];
        enum hs_err err = list_node(sc, node);
        if (err != HS_OK) {
            sc->unlisted[i] = true;
            HS_LOG_WARN("audit_list_failed", "node=%s err=%s", node->id, hs_err_name(err));
        }
    }
}

/* ---- manifests against the listings ---- */

struct judge {
    struct scan *sc;
    bool fixable; /* some blob is missing from a listed node or sits on a gone node */
    long long missing;
};

static bool blob_ok(void *ctx, const struct hs_blob_ref *b)
{
    struct judge *j = ctx;
    struct scan *sc = j->sc;
    const struct hs_healer_live *live = sc->live;
    size_t lo = 0, hi = live->n;
    while (lo < hi) { /* live is sorted by id */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(live->v[mid].id, b->node_id);
        if (c == 0) {
            if (sc->unlisted[mid])
                return true; /* unknown this time: do not guess */
            char want[HS_NODE_ID_MAX + 48];
            snprintf(want, sizeof want, "%s:%08x:%" PRId64, b->node_id, b->crc32c, b->len_bytes);
            if (hs_healer_set_has(&sc->have, b->blob_id, want))
                return true;
            j->fixable = true;
            j->missing++;
            return false;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (hs_healer_node_gone(sc->h, b->node_id)) {
        j->fixable = true;
        j->missing++;
    }
    return false; /* absent node: not healthy, movable only once gone */
}

static bool scan_manifest(void *ctx, const struct hs_etcd_kv *kv)
{
    struct scan *sc = ctx;
    const char *key = hs_meta_key_strip(kv->key, HS_META_PREFIX_META);
    if (!key || !hs_healer_leading(sc->h))
        return hs_healer_leading(sc->h);
    sc->objects++;
    if (kv->mod_revision > sc->rev0)
        return true; /* newer than the listings: next audit */
    struct hs_manifest m;
    hs_manifest_init(&m);
    if (hs_manifest_decode(kv->value, kv->value_len, &m, NULL, 0) != HS_OK) {
        HS_LOG_WARN("audit_manifest_unreadable", "obj='%s'", key);
        return true;
    }
    struct judge j = {.sc = sc};
    int red = hs_healer_redundancy(&m, blob_ok, &j, NULL);
    hs_manifest_release(&m);
    sc->missing += j.missing;
    if (!j.fixable)
        return true;
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 64;
        sc->cands = hs_xrealloc(sc->cands, sc->cap * sizeof *sc->cands);
    }
    sc->cands[sc->n++] = (struct hs_healer_candidate){.key = hs_xstrdup(key), .redundancy = red};
    return true;
}

static int by_redundancy(const void *a, const void *b)
{
    const struct hs_healer_candidate *x = a, *y = b;
    if (x->redundancy != y->redundancy)
        return x->redundancy < y->redundancy ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* One full audit scan: fills st->cands. */
static enum hs_err audit_scan(struct hs_healer *h, const struct hs_healer_live *live,
                              struct hs_healer_repair *st)
{
    int64_t t0 = hs_clock_mono_ms();
    struct scan sc = {.h = h, .live = live};
    sc.unlisted = hs_xcalloc(live->n ? live->n : 1, sizeof *sc.unlisted);
    hs_healer_set_init(&sc.have);
    struct hs_etcd_range_req rq = {.key = HS_META_PREFIX_META, .prefix = true, .count_only = true};
    struct hs_etcd_kvs kvs = {0};
    enum hs_err err = hs_etcd_range(h->etcd, &rq, &kvs);
    if (err != HS_OK)
        goto out;
    sc.rev0 = kvs.revision;
    hs_etcd_kvs_release(&kvs);
    list_all(&sc);
    err = hs_healer_range_at(h, HS_META_PREFIX_META, 0, AUDIT_META_PAGE, false, scan_manifest, &sc,
                             NULL);
    if (err != HS_OK || !hs_healer_leading(h))
        goto out;
    if (sc.n > 1)
        qsort(sc.cands, sc.n, sizeof *sc.cands, by_redundancy);
    st->cands = sc.cands;
    st->n_cands = sc.n;
    st->next_cand = 0;
    sc.cands = NULL;
    atomic_store(&h->stats.audit_objects, sc.objects);
    atomic_store(&h->stats.audit_candidates, (long long)st->n_cands);
    atomic_store(&h->stats.audit_missing_blobs, sc.missing);
    atomic_fetch_add(&h->stats.audits_completed, 1);
    HS_LOG_INFO("audit_scan_done",
                "objects=%lld blobs_listed=%zu missing_blobs=%lld "
                "candidates=%zu ms=%" PRId64,
                sc.objects, sc.have.n, sc.missing, st->n_cands, hs_clock_mono_ms() - t0);
out:
    for (size_t i = 0; sc.cands && i < sc.n; i++)
        free(sc.cands[i].key);
    free(sc.cands);
    hs_healer_set_release(&sc.have);
    free(sc.unlisted);
    return err;
}

/* ---- repairing the candidates, a slice per pass ---- */

struct slice {
    struct hs_healer *h;
    const struct hs_healer_live *live;
    const struct hs_healer_candidate *cands;
};

static void job_repair(void *ctx, size_t i)
{
    struct slice *sl = ctx;
    struct hs_healer_obj_result res;
    if (!hs_healer_leading(sl->h))
        return;
    enum hs_err err = hs_healer_repair_object(sl->h, sl->live, sl->cands[i].key, 0, &res);
    if (err != HS_OK && err != HS_ECONFLICT)
        HS_LOG_WARN("audit_repair_failed", "obj='%s' err=%s", sl->cands[i].key, hs_err_name(err));
}

static void drop_candidates(struct hs_healer_repair *st)
{
    for (size_t i = 0; i < st->n_cands; i++)
        free(st->cands[i].key);
    free(st->cands);
    st->cands = NULL;
    st->n_cands = st->next_cand = 0;
}

enum hs_err hs_healer_audit_pass(struct hs_healer *h)
{
    struct hs_healer_repair *st = hs_healer_repair_state(h);
    struct hs_healer_live live = {0};
    hs_healer_nodes_get(h, &live.v, &live.n);
    hs_healer_absent_refresh(h, &live);
    enum hs_err err = HS_OK;
    int64_t now = hs_clock_mono_ms();
    if (st->next_cand >= st->n_cands) {
        drop_candidates(st);
        if (st->last_scan_mono_ms != 0 && now - st->last_scan_mono_ms < h->opts.audit_interval_ms)
            goto out;
        st->last_scan_mono_ms = now;
        if ((err = audit_scan(h, &live, st)) != HS_OK)
            goto out;
    }
    struct slice sl = {.h = h, .live = &live, .cands = st->cands};
    uint32_t threads = h->opts.repair_concurrency ? h->opts.repair_concurrency : 1;
    size_t chunk = (size_t)threads * AUDIT_CHUNK_PER_T;
    int64_t start = hs_clock_mono_ms();
    while (st->next_cand < st->n_cands && hs_healer_leading(h) &&
           hs_clock_mono_ms() - start < AUDIT_SLICE_MS) {
        size_t n = HS_MIN(chunk, st->n_cands - st->next_cand);
        sl.cands = st->cands + st->next_cand;
        hs_healer_pool_run(threads, n, job_repair, &sl);
        st->next_cand += n;
    }
out:
    atomic_store(&h->stats.audit_pending, (long long)(st->n_cands - st->next_cand));
    hs_healer_nodes_free(live.v, live.n);
    return err;
}
