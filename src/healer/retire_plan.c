/* retire_plan.c - the retire sweeper's plan for a group of records (retire_int.h): drop what
 * the current manifests reference, sort the rest by node and cut each node's ids into batches,
 * so one request deletes the blobs of many records on one node. Pure: the sweeper (retire.c)
 * does the requests. */
#include <stdlib.h>
#include <string.h>

#include "healer/retire_int.h"
#include "hs/mem.h"
#include "hs/banned.h"

struct item {
    const struct hs_txn_blob *b;
    size_t rec; /* input index */
    size_t at;  /* position in the input: keeps the sort stable */
};

static int by_node(const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    int c = strcmp(a->b->node_id, b->b->node_id);
    if (c == 0)
        c = strcmp(a->b->blob_id, b->b->blob_id);
    if (c == 0)
        c = a->at < b->at ? -1 : a->at > b->at;
    return c;
}

void hs_retire_plan_make(const struct hs_retire_input *in, size_t n_in, size_t batch_max,
                         struct hs_retire_plan *out)
{
    memset(out, 0, sizeof *out);
    if (batch_max == 0)
        batch_max = 1;
    size_t total = 0;
    for (size_t k = 0; k < n_in; k++)
        total += in[k].r->n_blobs;
    size_t n_items = 0;
    struct item *items = hs_xcalloc(total ? total : 1, sizeof *items);
    for (size_t k = 0; k < n_in; k++) {
        for (size_t i = 0; i < in[k].r->n_blobs; i++) {
            const struct hs_txn_blob *b = &in[k].r->blobs[i];
            if (in[k].current && hs_manifest_references(in[k].current, b->blob_id, b->node_id))
                out->kept++;
            else {
                items[n_items] = (struct item){.b = b, .rec = k, .at = n_items};
                n_items++;
            }
        }
    }
    qsort(items, n_items, sizeof *items, by_node);
    out->ids = hs_xcalloc(n_items ? n_items : 1, sizeof *out->ids);
    out->recs = hs_xcalloc(n_items ? n_items : 1, sizeof *out->recs);
    out->batches = hs_xcalloc(n_items ? n_items : 1, sizeof *out->batches); /* <= 1 per item */
    struct hs_retire_batch *cur = NULL;
    for (size_t i = 0; i < n_items; i++) {
        const struct hs_txn_blob *b = items[i].b;
        bool same_node = cur && strcmp(cur->node_id, b->node_id) == 0;
        if (same_node && strcmp(out->ids[out->n_delete - 1], b->blob_id) == 0)
            continue; /* named twice: sorted next to each other, the first input kept */
        if (!same_node || cur->n == batch_max) {
            cur = &out->batches[out->n_batches++];
            *cur = (struct hs_retire_batch){.node_id = b->node_id,
                                            .ids = &out->ids[out->n_delete],
                                            .recs = &out->recs[out->n_delete]};
        }
        out->ids[out->n_delete] = b->blob_id;
        out->recs[out->n_delete] = items[i].rec;
        out->n_delete++;
        cur->n++;
    }
    free(items);
}

void hs_retire_plan_release(struct hs_retire_plan *p)
{
    if (!p)
        return;
    free(p->batches);
    free(p->ids);
    free(p->recs);
    memset(p, 0, sizeof *p);
}
