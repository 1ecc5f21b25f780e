/* retire_int.h - the retire sweeper's pure part (retire_plan.c): which blobs of a retire record
 * may be deleted given the key's current manifest, grouped per node into batches of one node
 * request each. No I/O: unit tested on its own (tests/unit/test_retire_plan.c). */
#ifndef HS_HEALER_RETIRE_INT_H
#define HS_HEALER_RETIRE_INT_H

#include <stddef.h>

#include "hs/manifest.h"

/* One request's worth of deletes on one node. Pointers borrowed from the record. */
struct hs_retire_batch {
    const char *node_id;
    const char **ids; /* into the plan's id array */
    size_t n;         /* 1..batch_max */
};

struct hs_retire_plan {
    size_t kept;                     /* blobs the current manifest still references */
    size_t n_delete;                 /* blobs to delete (sum of the batches' n) */
    struct hs_retire_batch *batches; /* heap; by node id, then in record order */
    size_t n_batches;
    const char **ids; /* heap: every id to delete, batch after batch */
};

/* Plans the deletes of r's blobs that current does not reference (current NULL: the key has no
 * manifest, every blob goes). A (blob, node) pair named twice is planned once. batch_max >= 1.
 * *out borrows r's strings: valid while r lives and is not changed; free with
 * hs_retire_plan_release. Never fails. */
void hs_retire_plan_make(const struct hs_retire_record *r, const struct hs_manifest *current,
                         size_t batch_max, struct hs_retire_plan *out);
void hs_retire_plan_release(struct hs_retire_plan *p);

#endif
