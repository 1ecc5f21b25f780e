/* healer.h - the healer daemon's shared state and the passes it runs while it leads. Several
 * healers run; one leads through etcd's election (own lease, never the server's default), the
 * others wait. Every destructive etcd step of a leader is a transaction that also compares the
 * leadership key's create revision (hs_healer_fence), so a deposed leader's late writes fail;
 * blob deletions on nodes are safe to repeat and only ever touch blobs proven unreferenced.
 *
 * Files (all but main.c form the static library hs_healer, src/healer/meson.build):
 *   main.c          options, start-up, HTTP /metrics + /health, shutdown (the executable's)
 *   leadership.c/h  election: own lease and keeper, campaign, lease loss, fence, "still lead?"
 *   passes.c        the pass loop: while leading, one pass after another (order below)
 *   wal.c           roll back stalled WAL records
 *   repair.c        the repair primitive (one object) and the repair/ queue
 *   audit.c         the continuous audit of manifests against node listings, targeted sweeps
 *   move.c          nodes gone longer than the grace period: where their blobs go
 *   retire.c, retire_plan.c (retire_int.h)  blobs retired by overwrites and deletes
 *   gc.c            orphan blobs
 *   rules.c/h       the pure decisions: redundancy, repair order, WAL stall, GC orphan
 *   throttle.c      bandwidth and concurrency limits of repairs (repair_int.h)
 *   stats.c/h       metrics, scrub counters polled from the nodes
 *   set.c           string sets;  util.c  node list, thread-local node client, paged reads at
 *                   one revision, unreadable-record reports
 * Dependencies point one way: main.c -> passes.c -> the passes -> leadership, rules, util,
 * set; leadership.c calls no pass. Design and guarantees: docs/healer.md. */
#ifndef HS_HEALER_H
#define HS_HEALER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs/err.h"
#include "hs/etcd.h"

struct hs_view;
struct hs_http_client;

struct hs_healer_opts {
    const char *etcd_endpoints;
    const char *secret;             /* node API */
    const char *healer_id;          /* election value, logs */
    int64_t lease_ttl_s;            /* leadership lease (default 5 s: takeover within seconds) */
    int64_t pass_interval_ms;       /* pause between leader passes (default 1 s) */
    int64_t wal_timeout_ms;         /* roll back records without progress for this long */
    int64_t wal_owner_grace_ms;     /* ... or for this long when their gateway is gone */
    int64_t gc_grace_ms;            /* orphan blobs younger than this are kept */
    int64_t node_grace_ms;          /* a node gone longer than this has its blobs moved (10 min) */
    int64_t audit_interval_ms;      /* shortest time between the starts of two audit sweeps */
    int64_t audit_budget_ms;        /* audit work per second of wall time (regular sweeps) */
    int64_t gc_interval_ms;         /* longest pause between GC passes */
    int64_t repair_bytes_per_s;     /* bandwidth budget for repair traffic (0 = unlimited) */
    uint32_t repair_concurrency;    /* objects repaired in parallel */
    int64_t node_timeout_ms;        /* per blob transfer */
    int64_t retire_grace_ms;        /* retired blobs are deleted this long after their retirement */
    int64_t retire_batch;           /* retired blobs deleted per node request (1..4096) */
    int64_t upload_max_age_ms;      /* multipart uploads open longer than this are aborted */
    int64_t layout_interval_ms;     /* adaptive hot fields: decision rounds (0 = off; layout.c) */
    int64_t layout_min_change_ms;   /* least time between two layout changes of a collection */
    int64_t layout_min_writes;      /* writes of evidence before a collection's first decision */
    int64_t layout_halve_writes;    /* a collection's statistics halve every this many writes */
    int64_t relayout_per_s;         /* objects re-laid out per second (0 = off; relayout.c) */
    int64_t relayout_promote_per_s; /* same, promotions while manifest-shadows is on */
};

/* Counters for /metrics and `hybridstore status` (atomics; written by the passes). */
struct hs_healer_stats {
    atomic_llong is_leader;      /* 0/1 */
    atomic_llong leader_changes; /* times this healer became leader */
    atomic_llong wal_backlog;    /* txn/ records seen in the last pass */
    atomic_llong wal_rollbacks;  /* records rolled back */
    atomic_llong repair_backlog; /* repair/ marks seen in the last pass */
    atomic_llong repaired_objects;
    atomic_llong repaired_blobs;
    atomic_llong repaired_bytes;
    atomic_llong repair_failures;
    atomic_llong moved_blobs; /* blobs moved off nodes gone past the grace period */
    atomic_llong audits_completed;
    atomic_llong audit_objects; /* manifests checked in the current/last audit */
    atomic_llong gc_deleted_blobs;
    atomic_llong gc_deleted_bytes;
    atomic_llong scrub_verified_blobs; /* summed from the nodes' stats */
    atomic_llong scrub_quarantined;    /* summed from the nodes' stats */
    atomic_llong wal_passes;           /* WAL recovery passes completed while leading */
    atomic_llong wal_blobs_deleted;    /* blobs of rolled-back records deleted on nodes */
    atomic_llong gc_passes;            /* GC passes completed (listing + snapshot + deletes) */
    atomic_llong gc_orphans_young;     /* orphans kept in the last GC pass: younger than grace */
    atomic_llong fence_failures;       /* destructive txns refused because we no longer lead */
    atomic_llong audit_candidates;    /* objects short of redundancy found by the last audit scan */
    atomic_llong audit_pending;       /* of those, still waiting for repair */
    atomic_llong audit_missing_blobs; /* blobs the last audit scan found missing or on gone nodes */
    atomic_llong nodes_absent;        /* nodes referenced by manifests but absent from nodes/ */
    atomic_llong nodes_gone;          /* of those, absent longer than node_grace (blobs moved) */
    atomic_llong repair_marks_removed;    /* repair/ marks deleted once the object was redundant */
    atomic_llong repair_throttle_ms;      /* time repair workers slept for the bandwidth limit */
    atomic_llong unreadable_records;      /* records skipped because they cannot be decoded (every
                                             pass; the same record counts once per pass over it) */
    atomic_llong gc_unreadable_manifests; /* manifests the last GC pass could not decode */
    atomic_llong audit_checked;           /* manifests checked by audit sweeps (counter) */
    atomic_llong audit_sweep_objects;     /* manifests checked so far in the current sweep */
    atomic_llong audit_sweep_phase;       /* 0 idle, 1 listing the nodes, 2 walking manifests */
    atomic_llong audit_work_ms;           /* time spent on regular sweep work (counter) */
    atomic_llong targeted_sweeps;         /* sweeps for a node that came back (counter) */
    atomic_llong targeted_pending;        /* nodes waiting for or in a targeted sweep */
    atomic_llong retire_passes;           /* retire sweeps completed (counter) */
    atomic_llong retire_records_swept;    /* retire/ records deleted once their blobs were */
    atomic_llong retire_blobs_deleted;    /* retired blobs gone from their nodes (counter) */
    atomic_llong retire_blobs_left;       /* retired blobs on unregistered nodes, left to GC */
    atomic_llong retire_failures;         /* retired blob deletes a node did not do (retried) */
    atomic_llong retire_unreadable_manifests; /* records kept: current manifest unreadable */
    atomic_llong retire_pending_records;      /* records past the grace not swept yet */
    atomic_llong retire_pending_blobs;        /* their blobs not handled yet */
    atomic_llong retire_manifest_reads;       /* etcd requests reading current manifests */
    atomic_llong retire_drop_txns;            /* etcd txns deleting swept records */
    atomic_llong uploads_abandoned;           /* upload.c: OPEN uploads aborted for their age */
    atomic_llong uploads_ended;               /* upload records removed (their parts retired) */
    atomic_llong upload_parts_retired;        /* part records turned into retire records */
    atomic_llong layout_rounds;               /* adaptive layout decision rounds (counter) */
    atomic_llong layout_changes;              /* layout records whose hot set changed */
    atomic_llong layout_gateways_skipped;     /* gateways without statistics in the last round */
    atomic_llong relayout_objects;            /* objects re-laid out (counter) */
    atomic_llong relayout_lost;               /* re-layouts a client write won (counter) */
};

struct hs_healer {
    struct hs_healer_opts opts;
    struct hs_etcd *etcd;
    struct hs_view *nodes; /* mirror of nodes/ (live nodes) */
    struct hs_healer_stats stats;
    struct hs_stop stop; /* set on SIGTERM */
    /* leadership (leadership.c); valid while stats.is_leader == 1 */
    struct hs_etcd_leader leader;
    atomic_bool leading;
    /* set: aborts a blocked campaign and the pause between passes; set on stop and when the
     * leadership lease is lost (leadership.c) */
    struct hs_stop cancel;
    int64_t last_gc_mono_ms;         /* gc.c: when the last GC pass started (leader thread only) */
    int64_t last_upload_mono_ms;     /* upload.c: when the last upload pass started (same) */
    struct hs_healer_repair *repair; /* repair.c/audit.c/move.c state across passes (throttle,
                                        absent nodes, audit candidates); NULL until first used */
    struct hs_healer_layout *layout; /* layout.c/relayout.c state; NULL until first used */
};

/* ---- passes.c ---- */
/* Runs the election (hs_healer_elect, leadership.h) until h->stop; while leading, calls
 * hs_healer_leader_pass, then pauses pass_interval_ms (10 ms while hs_healer_audit_busy). */
void hs_healer_run(struct hs_healer *h);
/* One pass of a leader: checks with etcd that it still leads (hs_healer_still_leader), then
 * in order WAL recovery, repair/ queue, audit (node watch, targeted sweep, repair slice with
 * node moves, budgeted sweep), retired blobs, GC, scrub poll; each after the first only while
 * hs_healer_leading. false: etcd did not confirm we lead (nothing ran). */
bool hs_healer_leader_pass(struct hs_healer *h);

/* ---- wal.c ---- */
enum hs_err hs_healer_wal_pass(struct hs_healer *h);
/* ---- retire.c: deletes retired blobs past retire_grace_ms, then their records ---- */
enum hs_err hs_healer_retire_pass(struct hs_healer *h);
/* ---- upload.c: ends aborted/completed multipart uploads, abandons old ones ---- */
enum hs_err hs_healer_upload_pass(struct hs_healer *h);
/* ---- gc.c ---- */
enum hs_err hs_healer_gc_pass(struct hs_healer *h);
/* ---- repair.c / audit.c / move.c ---- */
/* repair/ marks first, least redundancy first. */
enum hs_err hs_healer_repair_pass(struct hs_healer *h);
/* A slice of the continuous audit of every manifest against the nodes' listings (a budgeted
 * sweep with a cursor kept across passes), targeted sweeps of nodes that came back with a new
 * or empty data dir, and a slice of repairs of what they found (including moving blobs off
 * nodes gone past node_grace_ms). */
enum hs_err hs_healer_audit_pass(struct hs_healer *h);
/* True while audit repairs or a targeted sweep are pending and the last audit pass made
 * progress on them: the leader then starts the next pass without pausing (leader thread). */
bool hs_healer_audit_busy(struct hs_healer *h);
/* Frees h->repair (call once, after the passes stopped). NULL state is fine. */
void hs_healer_repair_free(struct hs_healer *h);

/* ---- layout.c, relayout.c: adaptive hot fields (docs/healer.md "Adaptive layout") ---- */
/* Every layout_interval_ms: merges the gateways' field statistics, decides per collection and
 * writes changed layout records (fenced); every pass: a budgeted slice of re-layouts. */
enum hs_err hs_healer_layout_pass(struct hs_healer *h);
/* Frees h->layout (after the passes stopped). */
void hs_healer_layout_free(struct hs_healer *h);

/* ---- util.c (and set.c): helpers shared by the passes ---- */
/* The calling thread's node client (thread-local, secret and node_timeout_ms from h->opts;
 * freed when the thread exits). Never NULL. */
struct hs_http_client *hs_healer_blob_client(struct hs_healer *h);

/* A live node from the nodes/ view. */
struct hs_healer_node {
    char *id;           /* heap */
    char *url;          /* heap: base URL from the registration ("http://127.0.0.1:9100") */
    char *volume;       /* heap or NULL: data-dir identity (older nodes do not report it) */
    int64_t started_ms; /* process start (wall clock); a new value means a restart */
    int64_t blobs;      /* blobs at the node's last refresh; -1 = not reported */
};
/* Every registered node with a parseable URL, sorted by id (heap array; free with
 * hs_healer_nodes_free). *n_out may be 0. */
void hs_healer_nodes_get(struct hs_healer *h, struct hs_healer_node **out, size_t *n_out);
void hs_healer_nodes_free(struct hs_healer_node *nodes, size_t n);
/* Base URL of live node node_id (heap, free()), or NULL when it is not registered. */
char *hs_healer_node_url(struct hs_healer *h, const char *node_id);

/* A set of strings or of string pairs (a "\n" b; b may be NULL), open addressing. Not
 * thread-safe. */
struct hs_healer_set {
    char **slots; /* heap; NULL = empty */
    size_t cap;   /* power of two (0 before the first add) */
    size_t n;
};
void hs_healer_set_init(struct hs_healer_set *s);
void hs_healer_set_release(struct hs_healer_set *s);
/* true when the element was new. */
bool hs_healer_set_add(struct hs_healer_set *s, const char *a, const char *b);
bool hs_healer_set_has(const struct hs_healer_set *s, const char *a, const char *b);

/* Calls fn for every key under prefix at etcd revision rev (0 = now), paged (page_size 0 =
 * 1000). *rev_out (may be NULL) gets the revision read. HS_ECONFLICT when rev was compacted. */
enum hs_err hs_healer_range_at(struct hs_healer *h, const char *prefix, int64_t rev,
                               int64_t page_size, bool keys_only, hs_etcd_kv_fn *fn, void *ctx,
                               int64_t *rev_out);

/* The passes that read records (for hs_healer_unreadable). */
enum hs_healer_pass_id {
    HS_HEALER_PASS_WAL,
    HS_HEALER_PASS_GC,
    HS_HEALER_PASS_AUDIT,
    HS_HEALER_PASS_REPAIR,
    HS_HEALER_PASS_RETIRE,
    HS_HEALER_PASS_N
};
/* A record (manifest, WAL record) that cannot be decoded: the pass skips it and goes on. Counts
 * it (unreadable_records) and logs evt=records_unreadable at most once per minute per pass,
 * with the number skipped since the last line and the latest key and reason. Thread-safe. */
void hs_healer_unreadable(struct hs_healer *h, enum hs_healer_pass_id pass, const char *key,
                          const char *why);

#endif
