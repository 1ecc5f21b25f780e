/* retire_int.h - the retire sweeper's parts: its pure plan (retire_plan.c): which blobs of a
 * group of retire records may be deleted given each key's current manifest, grouped per node
 * into batches of one node request each (blobs of many records share a request), no I/O, unit
 * tested on its own (tests/unit/test_retire_plan.c); and its batched etcd requests
 * (retire_etcd.c), tested against a real etcd (tests/unit/live_retire.c). */
#ifndef HS_HEALER_RETIRE_INT_H
#define HS_HEALER_RETIRE_INT_H

#include <stddef.h>

#include "hs/etcd.h"
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

/* Records per etcd transaction of the sweeper: a group's delete carries one compare per record
 * plus the fence, within etcd's default --max-txn-ops (128 per list). */
#define HS_RETIRE_TXN_RECORDS 64

/* Reads keys[0..n) (n <= HS_RETIRE_TXN_RECORDS; a key may repeat) in one read-only etcd
 * transaction: out[i] as hs_etcd_get would give it for keys[i] (n 0 or 1; release each with
 * hs_etcd_kvs_release). Errors of hs_etcd_txn (out untouched); HS_EPROTO on a reply that does
 * not match the request. Blocks; thread-safe as hs_etcd_txn. */
enum hs_err hs_retire_read_many(struct hs_etcd *e, const char *const *keys, size_t n,
                                struct hs_etcd_kvs *out);

/* One retire record to delete if its mod_revision is still mod_rev. */
struct hs_retire_drop {
    const char *key; /* borrowed */
    int64_t mod_rev;
    bool dropped; /* out: deleted by this call */
};

/* Deletes the records d[0..n) (n <= HS_RETIRE_TXN_RECORDS, distinct keys) in one transaction
 * fenced by *fence (a CREATE compare of the leader key, hs_healer_fence) that also compares
 * every record's mod_revision. When a record changed or went meanwhile, the failure branch
 * shows which: the others are deleted in a next transaction (at most 3 rounds). Sets
 * d[i].dropped; adds the transactions sent to *txns_out (may be NULL). HS_ECONFLICT when the
 * fence failed (nothing was deleted by that round: the caller is no longer the leader); etcd
 * errors as hs_etcd_txn (records deleted by earlier rounds stay marked). Blocks. */
enum hs_err hs_retire_drop_many(struct hs_etcd *e, const struct hs_etcd_cmp *fence,
                                struct hs_retire_drop *d, size_t n, int64_t *txns_out);

#endif
