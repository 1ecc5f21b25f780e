/* txn_plan.h - the pure rules of a write transaction (txn_plan.c; no I/O, no etcd, no nodes),
 * kept apart so that tests/unit/test_gw_txn.c checks them without a cluster: blobs and write
 * quorum per part kind, how many segments a length takes and what the WAL record names up
 * front, the If-Match / If-None-Match rules, what a failed commit means, and which blobs a
 * commit or a delete retires. */
#ifndef HS_GATEWAY_TXN_PLAN_H
#define HS_GATEWAY_TXN_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/manifest.h"

#define HS_PART_SEGMENTS_MAX 1500 /* per part: keeps the manifest under HS_MANIFEST_ENCODED_MAX */

/* Blobs per segment of a part: its replicas, or k+m shards. */
size_t hs_txn_part_width(const struct hs_part *part);
/* Blobs of one segment that must be stored for the segment to count as written: a majority of
 * the replicas, k+1 of k+m shards (k+m when m = 0). Also the live nodes a write needs. */
size_t hs_txn_part_quorum(const struct hs_part *part);
/* Segments of seg_bytes that len bytes are cut into; 0 for len <= 0. seg_bytes > 0. */
size_t hs_txn_segs_for(int64_t len, int64_t seg_bytes);

/* What the WAL record (manifest.h, version 2) names when it is first put. */
struct hs_txn_plan {
    size_t width;      /* nodes to name: the widest planned part's blobs per segment */
    uint32_t segs[3];  /* per enum hs_meta_blob_part: segments [0, segs) named up front */
    uint32_t blobs[3]; /* per enum hs_meta_blob_part: blobs per segment (0 = part not named) */
    bool no_current;   /* the write commits no manifest (a multipart part): open does not read
                          the key's current one */
};
/* Adds a part of the given geometry: widens the plan to its blobs per segment and, when
 * segs > 0, names its first segs segments. A part that may be written later without being
 * named now (segs = 0) still widens the node list, so that the healer's roll-back looks on
 * every node the write may use. */
void hs_txn_plan_part(struct hs_txn_plan *p, enum hs_meta_blob_part which,
                      const struct hs_part *part, size_t segs);
/* Nodes the record names with `live` nodes ranked: min(width, live, HS_TXN_NODES_MAX). */
size_t hs_txn_plan_nodes(const struct hs_txn_plan *p, size_t live);

/* A write's conditions on the version it replaces. */
struct hs_txn_conds {
    const char *if_match;   /* unquoted ETag, or NULL */
    bool if_match_any;      /* the object must exist */
    bool if_none_match_any; /* the object must not exist */
};
/* HS_OK, or HS_EPRECONDITION (msg says which) against cur (NULL: no current version). */
enum hs_err hs_txn_conds_check(const struct hs_txn_conds *c, const struct hs_manifest *cur,
                               char *msg, size_t msg_len);

/* What the commit transaction's answer means. */
enum hs_commit_outcome {
    HS_COMMIT_DONE = 1,        /* committed */
    HS_COMMIT_RETRY = 2,       /* a concurrent writer replaced meta/<key>: retry on its version */
    HS_COMMIT_ROLLED_BACK = 3, /* our WAL record is gone or changed: the healer owns the write */
    HS_COMMIT_AMBIGUOUS = 4,   /* no answer: fence (delete our record), then read meta/<key> */
};
/* The parts of an etcd answer the decision needs. */
struct hs_commit_reply {
    bool answered;       /* the call returned an answer */
    bool succeeded;      /* the compares held */
    bool wal_read;       /* the failure branch read txn/<id> and it exists */
    int64_t wal_mod_rev; /* its mod_revision when wal_read */
};
/* our_wal_rev: the mod_revision of our last put of txn/<id>. */
enum hs_commit_outcome hs_txn_commit_outcome(const struct hs_commit_reply *r, int64_t our_wal_rev);

/* The blobs to retire: those of old that now does not reference (now NULL: all of old), minus
 * the pseudo nodes' blobs (HS_META_NODE_UNPLACED_PREFIX: never stored anywhere). *out (heap,
 * free(); NULL when *n is 0) borrows old's strings. */
void hs_txn_retire_set(const struct hs_manifest *old, const struct hs_manifest *now,
                       struct hs_meta_blob_loc **out, size_t *n);

#endif
