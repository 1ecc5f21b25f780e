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
    int64_t ttl_s;      /* lease TTL */
    int64_t refresh_ms; /* how often the value (free bytes) is rewritten */
};
struct hs_node_reg;
/* HS_EINVAL on a malformed endpoint list. *out owned by the caller (hs_node_reg_stop). */
enum hs_err hs_node_reg_start(const struct hs_node_reg_opts *opts, struct hs_node_reg **out);
/* Stops the thread and revokes the lease so the registration disappears at once. NULL ok. */
void hs_node_reg_stop(struct hs_node_reg *reg);
/* The registration value (JSON, heap). */
char *hs_node_reg_value(const struct hs_node *node);

#endif
