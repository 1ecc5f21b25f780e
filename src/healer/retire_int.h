/* retire_int.h - the retire sweeper's pure part (retire_plan.c): which blobs of a group of
 * retire records may be deleted given each key's current manifest, grouped per node into
 * batches of one node request each (blobs of many records share a request). No I/O: unit
 * tested on its own (tests/unit/test_retire_plan.c). */
#ifndef HS_HEALER_RETIRE_INT_H
#define HS_HEALER_RETIRE_INT_H

#include <stddef.h>

#include "hs/manifest.h"

/* One record to plan and the current manifest of its key. */
struct hs_retire_input {
    const struct hs_retire_record *r;
    const struct hs_manifest *current; /* NULL: the key has no manifest, every blob goes */
};

/* One request's worth of deletes on one node. Pointers borrowed from the records. */
struct hs_retire_batch {
    const char *node_id;
    const char **ids;   /* into the plan's ids */
    const size_t *recs; /* into the plan's recs: ids[i] is a blob of input recs[i] */
    size_t n;           /* 1..batch_max */
};

struct hs_retire_plan {
    size_t kept;                     /* blobs a current manifest still references */
    size_t n_delete;                 /* blobs to delete (sum of the batches' n) */
    struct hs_retire_batch *batches; /* heap; by node id, then by blob id */
    size_t n_batches;
    const char **ids; /* heap: every id to delete, batch after batch */
    size_t *recs;     /* heap: the input each id came from */
};

/* Plans the deletes of every input record's blobs that its key's current manifest does not
 * reference. A (blob, node) pair named twice (by one record or two) is planned once, for the
 * first input naming it. batch_max >= 1 (0 counts as 1). *out borrows the records' strings:
 * valid while they live unchanged; free with hs_retire_plan_release. Never fails. */
void hs_retire_plan_make(const struct hs_retire_input *in, size_t n_in, size_t batch_max,
                         struct hs_retire_plan *out);
void hs_retire_plan_release(struct hs_retire_plan *p);

#endif
