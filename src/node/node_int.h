/* node_int.h - private to src/node: the running node's state shared by main.c (startup,
 * shutdown), routes.c (the HTTP API) and register.c (membership in etcd). */
#ifndef HS_NODE_INT_H
#define HS_NODE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/blob.h"
#include "hs/err.h"
#include "hs/http_server.h"

#define HS_NODE_ID_MAX 64 /* node ids: [0-9A-Za-z_-], 1..64 chars (they end up in etcd keys) */

/* Operation counters, atomic (relaxed): summed by GET /v1/stats. */
struct hs_node_counters {
    atomic_int_fast64_t puts;                  /* successful PUTs */
    atomic_int_fast64_t put_bytes;             /* their payload bytes */
    atomic_int_fast64_t gets;                  /* successful GETs */
    atomic_int_fast64_t get_bytes;             /* payload bytes sent by them */
    atomic_int_fast64_t heads;                 /* successful HEADs */
    atomic_int_fast64_t deletes;               /* successful DELETEs */
    atomic_int_fast64_t lists;                 /* listing pages served */
    atomic_int_fast64_t errors[HS_ERR_COUNT_]; /* error responses by kind */
};

/* Scrub progress (scrub.c), atomic (relaxed): reported under "scrub" by GET /v1/stats. */
struct hs_node_scrub_counters {
    atomic_int_fast64_t verified_blobs;    /* blobs whose CRC was checked, since start */
    atomic_int_fast64_t verified_bytes;    /* their payload bytes */
    atomic_int_fast64_t quarantined;       /* corrupt blobs the scrub found (quarantined) */
    atomic_int_fast64_t cycles_completed;  /* full passes over the store, since start */
    atomic_int_fast64_t last_cycle_ms;     /* duration of the last full pass, ms (0: none yet) */
    atomic_int_fast64_t last_cycle_end_ms; /* wall clock ms when it ended (0: never) */
    atomic_int_fast64_t cycle_blobs;       /* blobs verified so far in the current pass */
};

/* Immutable after startup, except the atomic counters. */
struct hs_node {
    struct hs_blob_store *store;
    const char *secret; /* cluster secret: "Authorization: Bearer <secret>" */
    const char *node_id;
    const char *zone;
    const char *url; /* advertised */
    int64_t max_blob_bytes;
    int64_t started_ms; /* wall clock */
    struct hs_node_counters counters;
    int64_t scrub_interval_ms;  /* --scrub-interval; 0 = scrub off */
    int64_t scrub_rate_bytes_s; /* --scrub-rate */
    struct hs_node_scrub_counters scrub;
    int compact_dead_percent;     /* --compact-dead-percent (also POST /v1/compact's default) */
    int64_t compact_rate_bytes_s; /* --compact-rate */
    atomic_bool stopping;         /* set at shutdown: a POST /v1/compact in progress stops */
};

/* The node's one route table (routes.c) and its guard (bearer secret). */
extern const struct hs_http_route hs_node_routes[];
extern const size_t hs_node_n_routes;
bool hs_node_guard(struct hs_http_req *r);

/* Registration in etcd (register.c): /hybridstore/v1/nodes/<node-id> under a lease, kept
 * alive, refreshed every refresh_ms, re-made with back-off after loss. Runs in its own thread
 * and never blocks startup: the node serves whether etcd is up or not. */
struct hs_node_reg_opts {
    const char *endpoints; /* etcd, comma-separated */
    const struct hs_node *node;
    int64_t ttl_s;        /* lease TTL */
    int64_t refresh_ms;   /* how often the value (free bytes) is rewritten */
    const char *data_dir; /* holds .hs-volume-id (the registration's "volume"); NULL = none */
};
struct hs_node_reg;
/* HS_EINVAL on a malformed endpoint list. *out owned by the caller (hs_node_reg_stop). */
enum hs_err hs_node_reg_start(const struct hs_node_reg_opts *opts, struct hs_node_reg **out);
/* Stops the thread and revokes the lease so the registration disappears at once. NULL ok. */
void hs_node_reg_stop(struct hs_node_reg *reg);
/* The registration value (JSON, heap). */
char *hs_node_reg_value(const struct hs_node *node);

/* Background scrub (scrub.c): one thread walks the store in id order (hs_blob_list pages) and
 * verifies every blob with hs_blob_open_verified, paced to rate_bytes_s, one full cycle every
 * interval_ms (a cycle that takes longer is followed at once by the next). A corrupt blob is
 * quarantined by the blob store; the scrub only counts and logs it (evt=scrub_corrupt_blob).
 * The end of the last cycle is kept in <data_dir>/scrub-last so that restarts do not postpone
 * the next cycle forever. */
struct hs_node_scrub_opts {
    struct hs_node *node; /* store and counters (must outlive the scrub) */
    const char *data_dir;
    int64_t interval_ms;  /* > 0 */
    int64_t rate_bytes_s; /* > 0 */
};
struct hs_node_scrub;
/* Starts the thread. HS_EIO when the thread cannot be created. *out: hs_node_scrub_stop. */
enum hs_err hs_node_scrub_start(const struct hs_node_scrub_opts *opts, struct hs_node_scrub **out);
/* Stops the thread (within one blob verification) and frees. NULL is fine. */
void hs_node_scrub_stop(struct hs_node_scrub *s);

/* Background compaction of the volume store (compact.c): one thread runs hs_blob_compact
 * every interval_ms with the threshold and rate given. */
struct hs_node_compact_opts {
    struct hs_node *node; /* its store (must outlive the thread) */
    int64_t interval_ms;  /* > 0 */
    int min_dead_percent; /* 0..100 */
    int64_t rate_bytes_s; /* 0 = unpaced */
};
struct hs_node_compact;
/* HS_EINVAL bad opts, HS_EIO no thread. *out: hs_node_compact_stop. */
enum hs_err hs_node_compact_start(const struct hs_node_compact_opts *opts,
                                  struct hs_node_compact **out);
/* Stops the thread (a compaction in progress stops after its current needle) and frees. NULL
 * is fine. */
void hs_node_compact_stop(struct hs_node_compact *c);

#endif
