/* rules.h - the healer's decisions as pure functions (rules.c): how redundant an object is,
 * when a WAL record is stalled, when a listed blob is an orphan, and the order repairs go in.
 * No I/O, no etcd, no clock: the passes gather the facts and call these, and the unit test
 * (tests/unit/test_healer_rules.c) checks them on hand-made inputs. */
#ifndef HS_HEALER_RULES_H
#define HS_HEALER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "healer/healer.h"
#include "hs/manifest.h"

/* ---- redundancy (repair.c, audit.c) ---- */

#define HS_HEALER_MAX_PARTS 3

/* The parts of m that hold blobs, in the order every pass walks them: data, hot, cold. The
 * pointers point into m. Returns how many (0..HS_HEALER_MAX_PARTS). */
size_t hs_healer_parts(struct hs_manifest *m, struct hs_part *out[HS_HEALER_MAX_PARTS]);
/* Blobs needed to read one segment of p: k shards for erasure coding, one replica otherwise. */
uint32_t hs_healer_needed(const struct hs_part *p);

enum hs_healer_health {
    HS_HEALER_FULL,     /* every blob healthy */
    HS_HEALER_DEGRADED, /* some blob not healthy, every segment still readable */
    HS_HEALER_LOST,     /* some segment has fewer healthy blobs than it needs to be read */
};
const char *hs_healer_health_name(enum hs_healer_health s); /* "full", "degraded", "lost" */

struct hs_healer_redundancy {
    int spare;      /* min over segments of (healthy - needed); INT_MAX without segments. 0:
                       one more loss loses data; negative: unreadable now */
    size_t blobs;   /* blobs in the manifest */
    size_t healthy; /* of those, the ones ok() accepted */
    enum hs_healer_health health;
};

/* Calls ok(ctx, b) once for every blob of m, in part/segment/blob order (callers may walk a
 * flat array alongside), and summarises: full when every call said yes, else lost when some
 * segment's healthy blobs are fewer than hs_healer_needed, else degraded. */
typedef bool hs_healer_blob_ok_fn(void *ctx, const struct hs_meta_blob_ref *b);
void hs_healer_redundancy_of(const struct hs_manifest *m, hs_healer_blob_ok_fn *ok, void *ctx,
                             struct hs_healer_redundancy *out);

/* ---- repair order (repair.c's repair/ batch, audit.c's candidates) ---- */

/* qsort-style comparison of two objects to repair: the one with less spare redundancy first,
 * ties by object key (byte order), so the order is total and the same on every healer. */
int hs_healer_repair_order(int spare_a, const char *key_a, int spare_b, const char *key_b);

/* ---- WAL stall (wal.c) ---- */

enum hs_healer_stall {
    HS_HEALER_STALL_NONE,       /* leave it: the writer may still commit */
    HS_HEALER_STALL_ABORTED,    /* the writer gave up and handed us the clean-up: at once */
    HS_HEALER_STALL_TIMEOUT,    /* no progress for wal_timeout_ms, owner alive or not */
    HS_HEALER_STALL_OWNER_GONE, /* owner's gateways/ key absent, no progress for owner grace */
};
/* "aborted", "timeout", "owner_gone" (the reason= of evt=wal_rolled_back); NULL for NONE. */
const char *hs_healer_stall_name(enum hs_healer_stall s);

/* Whether a PENDING or ABORTED record r must be rolled back now. Quiet time = now_ms -
 * max(start_ms, alive_ms) (the writer's clock against ours); a record is stalled only once it
 * is strictly longer than the limit. owner_live: its gateways/<owner> key exists (read at
 * the records' revision). The caller handles ROLLED_BACK records itself. */
enum hs_healer_stall hs_healer_wal_stall(const struct hs_txn_record *r, bool owner_live,
                                         int64_t now_ms, int64_t wal_timeout_ms,
                                         int64_t owner_grace_ms);

/* ---- GC orphans (gc.c) ---- */

/* What GC read at one etcd revision (after listing the nodes). */
struct hs_healer_gc_refs {
    struct hs_healer_set locs;  /* (blob id, node id) a decodable manifest references */
    struct hs_healer_set txns;  /* txn ids of the txn/ records (key and value) */
    struct hs_healer_set named; /* blob ids named by txn/ or retire/ records, or by the JSON of
                                   a manifest that cannot be decoded */
};

enum hs_healer_gc_fate {
    HS_HEALER_GC_REFERENCED, /* a manifest references (blob, node), or a record names the id */
    HS_HEALER_GC_FOREIGN,    /* not a minted id (no txn time in it): never ours to delete */
    HS_HEALER_GC_IN_WAL,     /* its txn's WAL record exists: the write may still commit */
    HS_HEALER_GC_YOUNG,      /* an orphan, but younger than the grace: kept for now */
    HS_HEALER_GC_ORPHAN,     /* delete it */
};

/* The fate of blob_id listed on node_id: checked in the order of the enum, so a blob that is
 * both referenced and young is REFERENCED. Young: now_ms - (its txn id's time) < grace_ms. */
enum hs_healer_gc_fate hs_healer_gc_judge(const struct hs_healer_gc_refs *r, const char *blob_id,
                                          const char *node_id, int64_t now_ms, int64_t grace_ms);

#endif
