/* rules.c - the healer's pure decisions (rules.h): redundancy of an object, the repair order,
 * a WAL record's stall and a listed blob's fate in GC. The passes (repair.c, audit.c, wal.c,
 * gc.c) gather the facts from etcd and the nodes and act on the answers; nothing here does I/O
 * or reads a clock, so every rule is unit tested alone. */
#include <limits.h>
#include <string.h>

#include "healer/rules.h"
#include "hs/mem.h"
#include "hs/banned.h"

/* ---- redundancy ---- */

size_t hs_healer_parts(struct hs_manifest *m, struct hs_part *out[HS_HEALER_MAX_PARTS])
{
    size_t n = 0;
    if (m->data.kind != HS_PART_NONE)
        out[n++] = &m->data;
    if (m->hot.kind != HS_PART_NONE)
        out[n++] = &m->hot;
    if (m->has_cold && m->cold.kind != HS_PART_NONE)
        out[n++] = &m->cold;
    return n;
}

uint32_t hs_healer_needed(const struct hs_part *p)
{
    return p->kind == HS_PART_EC ? p->k : 1;
}

const char *hs_healer_health_name(enum hs_healer_health s)
{
    switch (s) {
    case HS_HEALER_FULL:
        return "full";
    case HS_HEALER_DEGRADED:
        return "degraded";
    case HS_HEALER_LOST:
        return "lost";
    }
    return "?";
}

void hs_healer_redundancy_of(const struct hs_manifest *m, hs_healer_blob_ok_fn *ok, void *ctx,
                             struct hs_healer_redundancy *out)
{
    struct hs_part *parts[HS_HEALER_MAX_PARTS];
    /* only reads: hs_healer_parts takes a mutable manifest for the passes that rewrite it */
    size_t np = hs_healer_parts((struct hs_manifest *)m, parts);
    *out = (struct hs_healer_redundancy){.spare = INT_MAX};
    for (size_t p = 0; p < np; p++) {
        for (size_t s = 0; s < parts[p]->n_segments; s++) {
            const struct hs_segment *seg = &parts[p]->segments[s];
            int good = 0;
            for (size_t b = 0; b < seg->n_blobs; b++)
                if (ok(ctx, &seg->blobs[b]))
                    good++;
            out->blobs += seg->n_blobs;
            out->healthy += (size_t)good;
            out->spare = HS_MIN(out->spare, good - (int)hs_healer_needed(parts[p]));
        }
    }
    if (out->healthy == out->blobs)
        out->health = HS_HEALER_FULL;
    else if (out->spare < 0)
        out->health = HS_HEALER_LOST;
    else
        out->health = HS_HEALER_DEGRADED;
}

/* ---- repair order ---- */

int hs_healer_repair_order(int spare_a, const char *key_a, int spare_b, const char *key_b)
{
    if (spare_a != spare_b)
        return spare_a < spare_b ? -1 : 1;
    return strcmp(key_a, key_b);
}

/* ---- WAL stall ---- */

const char *hs_healer_stall_name(enum hs_healer_stall s)
{
    switch (s) {
    case HS_HEALER_STALL_NONE:
        return NULL;
    case HS_HEALER_STALL_ABORTED:
        return "aborted";
    case HS_HEALER_STALL_TIMEOUT:
        return "timeout";
    case HS_HEALER_STALL_OWNER_GONE:
        return "owner_gone";
    }
    return NULL;
}

enum hs_healer_stall hs_healer_wal_stall(const struct hs_txn_record *r, bool owner_live,
                                         int64_t now_ms, int64_t wal_timeout_ms,
                                         int64_t owner_grace_ms)
{
    if (r->state == HS_TXN_ABORTED)
        return HS_HEALER_STALL_ABORTED;
    /* a live writer re-puts alive_ms while bytes arrive: however old the write, a slow upload
     * that keeps sending is never stalled */
    int64_t quiet = now_ms - HS_MAX(r->start_ms, r->alive_ms);
    if (quiet > wal_timeout_ms)
        return HS_HEALER_STALL_TIMEOUT;
    if (!owner_live && quiet > owner_grace_ms)
        return HS_HEALER_STALL_OWNER_GONE;
    return HS_HEALER_STALL_NONE;
}

/* ---- GC orphans ---- */

enum hs_healer_gc_fate hs_healer_gc_judge(const struct hs_healer_gc_refs *r, const char *blob_id,
                                          const char *node_id, int64_t now_ms, int64_t grace_ms)
{
    if (hs_healer_set_has(&r->locs, blob_id, node_id) ||
        hs_healer_set_has(&r->named, blob_id, NULL))
        return HS_HEALER_GC_REFERENCED;
    char txn[HS_TXN_ID_BUF];
    int64_t t_ms = 0;
    if (hs_meta_blob_id_parse(blob_id, txn, NULL, NULL, NULL) != HS_OK ||
        !hs_meta_txn_id_time_ms(txn, &t_ms))
        return HS_HEALER_GC_FOREIGN;
    if (hs_healer_set_has(&r->txns, txn, NULL))
        return HS_HEALER_GC_IN_WAL;
    if (now_ms - t_ms < grace_ms)
        return HS_HEALER_GC_YOUNG;
    return HS_HEALER_GC_ORPHAN;
}
