/* txn_plan.c - the pure rules of a write transaction (txn_plan.h). No I/O: every input is an
 * argument, so the unit tests pin each rule without etcd or nodes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/txn_plan.h"
#include "hs/mem.h"
#include "hs/banned.h"

size_t hs_txn_part_width(const struct hs_part *part)
{
    return part->kind == HS_PART_REPLICATED ? part->replicas : (size_t)part->k + part->m;
}

size_t hs_txn_part_quorum(const struct hs_part *part)
{
    if (part->kind == HS_PART_REPLICATED)
        return part->replicas / 2 + 1;
    return HS_MIN(part->k + 1, part->k + part->m);
}

size_t hs_txn_segs_for(int64_t len, int64_t seg_bytes)
{
    return len <= 0 ? 0 : (size_t)((len + seg_bytes - 1) / seg_bytes);
}

void hs_txn_plan_part(struct hs_txn_plan *p, enum hs_meta_blob_part which,
                      const struct hs_part *part, size_t segs)
{
    size_t width = hs_txn_part_width(part);
    p->width = HS_MAX(p->width, width);
    if (segs == 0)
        return;
    p->segs[which] = (uint32_t)segs;
    p->blobs[which] = (uint32_t)width;
}

size_t hs_txn_plan_nodes(const struct hs_txn_plan *p, size_t live)
{
    return HS_MIN(HS_MIN(p->width, live), (size_t)HS_TXN_NODES_MAX);
}

enum hs_err hs_txn_conds_check(const struct hs_txn_conds *c, const struct hs_manifest *cur,
                               char *msg, size_t msg_len)
{
    if (c->if_none_match_any && cur) {
        snprintf(msg, msg_len, "the object exists (If-None-Match: *)");
        return HS_EPRECONDITION;
    }
    if (c->if_match_any && !cur) {
        snprintf(msg, msg_len, "the object does not exist (If-Match: *)");
        return HS_EPRECONDITION;
    }
    if (c->if_match && (!cur || strcmp(cur->etag, c->if_match) != 0)) {
        snprintf(msg, msg_len, "the current version does not have ETag \"%s\"", c->if_match);
        return HS_EPRECONDITION;
    }
    return HS_OK;
}

enum hs_commit_outcome hs_txn_commit_outcome(const struct hs_commit_reply *r, int64_t our_wal_rev)
{
    if (!r->answered)
        return HS_COMMIT_AMBIGUOUS;
    if (r->succeeded)
        return HS_COMMIT_DONE;
    /* only the healer changes txn/<id> besides us: deleted or re-put, it rolled us back */
    if (!r->wal_read || r->wal_mod_rev != our_wal_rev)
        return HS_COMMIT_ROLLED_BACK;
    return HS_COMMIT_RETRY;
}

void hs_txn_retire_set(const struct hs_manifest *old, const struct hs_manifest *now,
                       struct hs_meta_blob_loc **out, size_t *n)
{
    struct hs_meta_blob_loc *a = NULL, *b = NULL, *gone = NULL;
    size_t n_a = 0, n_b = 0, n_gone = 0, kept = 0;
    hs_manifest_blob_locs(old, &a, &n_a);
    if (now)
        hs_manifest_blob_locs(now, &b, &n_b);
    hs_meta_blob_locs_subtract(a, n_a, b, n_b, &gone, &n_gone);
    static const char unplaced[] = HS_META_NODE_UNPLACED_PREFIX;
    for (size_t i = 0; i < n_gone; i++) /* a blob of a pseudo node was never stored */
        if (strncmp(gone[i].node_id, unplaced, sizeof unplaced - 1) != 0)
            gone[kept++] = gone[i];
    free(a);
    free(b);
    if (kept == 0) {
        free(gone);
        gone = NULL;
    }
    *out = gone;
    *n = kept;
}
