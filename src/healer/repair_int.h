/* repair_int.h - private to the healer's repair side (repair.c, audit.c, move.c, throttle.c):
 * the state kept across leader passes, the per-object repair primitive shared by the repair/
 * queue and the audit, node-absence bookkeeping and target choice (move.c), and the limits
 * (throttle.c): a token bucket for repair bytes and a bounded worker pool for objects. */
#ifndef HS_HEALER_REPAIR_INT_H
#define HS_HEALER_REPAIR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "healer/healer.h"
#include "healer/leadership.h"
#include "healer/rules.h"
#include "hs/err.h"
#include "hs/manifest.h"

/* ---- throttle.c ---- */

/* Token bucket over bytes (refills at rate, holds at most one second's worth). A taker may
 * drive the bucket into debt and then sleeps until it is paid back, so blobs larger than the
 * burst still pass and concurrent takers queue fairly. Thread-safe. */
struct hs_healer_throttle {
    pthread_mutex_t mu;     /* guards tokens, last_ns */
    int64_t rate_bytes_s;   /* 0 = unlimited */
    double tokens;          /* bytes; negative = debt */
    int64_t last_ns;        /* monotonic time of the last refill */
    atomic_llong *slept_ms; /* adds the time takers slept (may be NULL) */
};
void hs_healer_throttle_init(struct hs_healer_throttle *t, int64_t rate_bytes_s);
void hs_healer_throttle_release(struct hs_healer_throttle *t);
/* Charges bytes and sleeps as long as the budget requires (stop cuts the sleep short). */
void hs_healer_throttle_take(struct hs_healer_throttle *t, int64_t bytes,
                             const struct hs_stop *stop);

/* Runs fn(ctx, i) for i in [0, n_jobs) on min(threads, n_jobs) threads (at least 1) and
 * returns when all are done. Jobs are handed out in index order, so callers sort by priority
 * first. With one thread (or one job) everything runs on the calling thread. */
typedef void hs_healer_job_fn(void *ctx, size_t index);
void hs_healer_pool_run(uint32_t threads, size_t n_jobs, hs_healer_job_fn *fn, void *ctx);

/* ---- state kept across passes (repair.c creates it on first use) ---- */

struct hs_healer_absent {
    char *node_id;         /* heap */
    int64_t since_mono_ms; /* first seen absent from nodes/ */
};

/* An object the audit found short of redundancy, waiting for its turn. */
struct hs_healer_candidate {
    char *key;      /* object key (heap) */
    int redundancy; /* blobs that may still be lost before data is (at the scan) */
    char *suspect;  /* heap or NULL: the one node a targeted sweep found it lacking on */
};

struct hs_healer_repair {
    struct hs_healer_throttle throttle;
    pthread_mutex_t mu; /* guards absent (workers ask about nodes) */
    struct hs_healer_absent *absent;
    size_t n_absent, cap_absent;
    /* audit.c (leader thread only) */
    struct hs_healer_audit *audit;     /* sweeps and the node watch; NULL until first used */
    struct hs_healer_candidate *cands; /* [next_cand, n_cands) waiting; sorted when !unsorted */
    size_t n_cands, cap_cands, next_cand;
    bool unsorted;                  /* candidates were appended since the last sort */
    struct hs_healer_set cand_keys; /* keys queued since the queue was last empty (dedupe) */
    /* repair.c (leader thread only): where the next pass over repair/ starts */
    char *mark_cursor; /* object key of the last mark taken, heap, or NULL */
};

/* The state, created on the first call (leader thread). */
struct hs_healer_repair *hs_healer_repair_state(struct hs_healer *h);
/* Frees st->audit (audit.c). NULL is fine. */
void hs_healer_audit_free(struct hs_healer_audit *a);

/* ---- repair.c: one object ---- */

/* The live nodes a pass works with (sorted by id, from hs_healer_nodes_get). */
struct hs_healer_live {
    struct hs_healer_node *v;
    size_t n;
};
/* Base URL of node_id when live, else NULL (borrowed from live). */
const char *hs_healer_live_url(const struct hs_healer_live *live, const char *node_id);

struct hs_healer_obj_result {
    bool redundant; /* every blob is present and healthy now (or the object is gone) */
    bool absent;    /* no manifest: the object was deleted */
    int64_t blobs;  /* blobs written */
    int64_t bytes;  /* bytes written */
    int64_t moved;  /* blobs that moved to another node (manifest updated) */
    bool failed;    /* something could not be repaired now */
};

/* Reads meta/<key>, checks every blob on its node (HEAD, in parallel; with suspect set only
 * the blobs on that node, the others presumed healthy until a fetch says otherwise: what a
 * targeted refill of one node needs, at a third of the requests), rewrites missing
 * blobs (replica copy or EC reconstruction), moves blobs off nodes gone past node_grace_ms
 * (manifest CAS with the fence), and when mark_rev > 0 and the object is fully redundant,
 * deletes repair/<key> (compare on mark_rev and the fence). Idempotent: blob ids never change
 * and a PUT of an existing identical blob is a no-op. Runs on any thread (node client per
 * thread). HS_ECONFLICT when the manifest or mark changed meanwhile (retried on a later
 * pass), other errors from etcd. */
enum hs_err hs_healer_repair_object(struct hs_healer *h, const struct hs_healer_live *live,
                                    const char *key, int64_t mark_rev, const char *suspect,
                                    struct hs_healer_obj_result *res);

/* ---- move.c ---- */

/* Forgets nodes that are live again (call at the start of a pass with the live list). */
void hs_healer_absent_refresh(struct hs_healer *h, const struct hs_healer_live *live);
/* Node id prefix the gateway gives a blob that no live node could take (src/gateway
 * HS_WR_UNPLACED): such a blob is treated as lost at once and placed by the healer. */
#define HS_HEALER_UNPLACED HS_META_NODE_UNPLACED_PREFIX /* see manifest.h */
/* true when node_id (not live) has been absent longer than node_grace_ms, or is an unplaced
 * blob's pseudo node; the first call for a node records when it was first seen absent.
 * Thread-safe. */
bool hs_healer_node_gone(struct hs_healer *h, const char *node_id);
/* Chooses a live node for a blob of segment seg of object key: the best node in placement
 * order (hs_place_rank over live nodes) that holds no blob of the segment (taken: the node ids
 * of the segment as it will be, NULL entries skipped). HS_EUNAVAIL when there is none. */
enum hs_err hs_healer_move_target(const struct hs_healer_live *live, const char *key,
                                  const char *const *taken, size_t n_taken, const char **out);
/* Writes m (nodes changed) back with one txn: compare mod_revision(meta/<key>) == meta_rev
 * and the fence; put. HS_ECONFLICT when a compare failed. */
enum hs_err hs_healer_manifest_cas(struct hs_healer *h, const struct hs_manifest *m,
                                   int64_t meta_rev);

#endif
