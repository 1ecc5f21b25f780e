/* http_client.h - client of the storage-node blob API (docs/node.md) over libcurl: single calls
 * and a parallel fan-out (N calls to N nodes at once over one curl multi handle, each with its
 * own result), for the gateway's replicas and shards, the healer and the benchmark.
 *
 * Connections are kept alive and reused (the connection cache lives in the client's multi
 * handle); "Expect: 100-continue" is never sent (it would cost a round trip per PUT). PUT sends
 * the payload's CRC32C in X-HS-CRC32C; GET checks the CRC32C of what arrived against the node's
 * X-HS-CRC32C header, so corruption on disk, in the node or on the wire is caught end to end.
 * PUT also sends X-HS-Deadline-Ms = now + timeout_ms - min(timeout_ms / 10, 250 ms): the node
 * does not publish the blob after that wall-clock instant (HS_ETIMEDOUT), so a PUT that reaches
 * a stalled node after we gave up leaves no orphan (docs/node.md, "Write deadlines").
 *
 * Thread-safety: a client is used by one thread at a time (give each thread its own). Every
 * call blocks until all its transfers finished or timed out. */
#ifndef HS_HTTP_CLIENT_H
#define HS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"

struct hs_http_client_opts {
    const char *secret;         /* cluster secret sent as "Authorization: Bearer" (copied) */
    int64_t timeout_ms;         /* per transfer, whole request; 0 = 30000 */
    int64_t connect_timeout_ms; /* 0 = 2000 */
};

struct hs_http_client;

/* *out owned by the caller (hs_http_client_free). Never fails today but keeps the contract. */
enum hs_err hs_http_client_new(const struct hs_http_client_opts *opts, struct hs_http_client **out);
/* Closes the kept-alive connections (and drops started calls never collected). NULL is fine. */
void hs_http_client_free(struct hs_http_client *c);

enum hs_http_op {
    HS_HTTP_OP_PUT,
    HS_HTTP_OP_GET,
    HS_HTTP_OP_HEAD,
    HS_HTTP_OP_DELETE,
};

/* One call of a fan-out. Fill the inputs, zero the rest. */
struct hs_http_call {
    /* in */
    enum hs_http_op op;
    const char *base_url; /* "http://127.0.0.1:9100" (no trailing slash needed) */
    const char *id;       /* blob id (percent-escaped on the wire) */
    const void *data;     /* PUT payload, borrowed during the call */
    size_t len;           /* PUT payload bytes */
    bool have_crc;        /* PUT: crc is the payload's CRC32C (else it is computed) */
    uint32_t crc;         /* PUT */
    struct hs_buf *out;   /* GET: payload appended (its max_bytes bounds the download) */
    int64_t range_off;    /* GET with range_len > 0: only payload bytes [range_off, */
    int64_t range_len;    /* range_off + range_len) ("Range: bytes=", node answers 206) */
    /* out */
    enum hs_err err;    /* HS_OK, or what went wrong with this call (see below) */
    long http_status;   /* 0 when no reply arrived */
    int64_t blob_len;   /* GET/HEAD: payload length from the node (ranged GET: the whole
                           blob's, from Content-Range) */
    uint32_t blob_crc;  /* GET/HEAD: CRC32C from the node (GET: verified; ranged GET: the
                           whole blob's, which the node verified before sending the range) */
    bool replied;       /* the node's status line arrived (set while the call runs) */
    int64_t elapsed_us; /* wall time of this transfer */
};

/* Runs every call in parallel. Per-call errors: the node's error (from X-HS-Error: HS_ENOENT,
 * HS_EEXIST, HS_ETOOBIG, HS_ENOSPC, HS_EAUTH, HS_EINVAL, HS_ECORRUPT...), HS_ECORRUPT when a GET
 * payload does not match its CRC32C (out is then restored to its old length), HS_ETOOBIG when
 * it does not fit out, HS_ETIMEDOUT, HS_EUNAVAIL (cannot connect / connection lost), HS_EPROTO
 * (unexpected reply). Returns HS_OK when every call succeeded, else the first failed call's
 * error in array order. A ranged GET cannot check the CRC32C of what arrived (it covers the
 * whole blob, which the node checks before answering): it checks that exactly range_len bytes
 * of the asked range came back (HS_EPROTO otherwise; HS_ERANGE when the node says the range
 * lies past the blob's end). */
enum hs_err hs_http_client_run(struct hs_http_client *c, struct hs_http_call *calls, size_t n);

/* Calls one at a time, for reads that race replicas or shards (first answer wins):
 * hs_http_client_start begins a call and returns at once; the call struct (and its data/out)
 * stays borrowed until hs_http_client_wait hands it back or hs_http_client_cancel drops it.
 * wait runs every started transfer for at most wait_us (< 0: no limit) and returns HS_OK with
 * *done = the first call that ended (its outputs set as by hs_http_client_run), or *done = NULL
 * when the time ran out first; HS_ENOENT (*done = NULL) when no call is running. A running
 * call's `replied` tells whether its node has started answering. cancel drops a started call
 * not yet handed back (unknown calls are ignored): its connection is closed, its out restored,
 * err = HS_ETIMEDOUT. hs_http_client_run and the plain requests below must not be used while
 * started calls are outstanding. */
void hs_http_client_start(struct hs_http_client *c, struct hs_http_call *call);
enum hs_err hs_http_client_wait(struct hs_http_client *c, int64_t wait_us,
                                struct hs_http_call **done);
void hs_http_client_cancel(struct hs_http_client *c, struct hs_http_call *call);

/* Latency of nodes as this process sees them, for hedged reads: every successful GET/HEAD of
 * the blob client notes its time to first byte under its base_url. The estimate is an EWMA of
 * that time plus 3 EWMAs of its deviation (Jacobson's RTT estimator: roughly a high percentile,
 * p95-p99, cheap to keep). One process-wide table of 64 slots with relaxed atomics: thread-safe
 * and lock-free; two nodes hashing to one slot share (and reset) an estimate, which only makes
 * hedges earlier or later. hedge_us: that estimate for base_url (the estimate over all nodes
 * when it has none; default_us when nothing was measured yet), clamped to [min_us, max_us]. */
void hs_http_latency_note(const char *base_url, int64_t us);
int64_t hs_http_latency_hedge_us(const char *base_url, int64_t default_us, int64_t min_us,
                                 int64_t max_us);

/* Single-call conveniences over hs_http_client_run. Out-params untouched on failure. */
enum hs_err hs_http_client_put(struct hs_http_client *c, const char *base_url, const char *id,
                               const void *data, size_t len);
/* Appends the payload to out; crc_out may be NULL. */
enum hs_err hs_http_client_get(struct hs_http_client *c, const char *base_url, const char *id,
                               struct hs_buf *out, uint32_t *crc_out);
enum hs_err hs_http_client_head(struct hs_http_client *c, const char *base_url, const char *id,
                                int64_t *len_out, uint32_t *crc_out);
enum hs_err hs_http_client_delete(struct hs_http_client *c, const char *base_url, const char *id);

/* POST /v1/blobs/delete: deletes ids[0..n) on one node in one request (n <= 4096, at most
 * 1 MiB of ids and newlines; HS_EINVAL otherwise, or for an empty id or one holding a newline,
 * before anything is sent). *out gets the node's counts (an absent blob counts as missing, which
 * is as good as deleted); errs (may be NULL) gets, per id, HS_OK when it is gone now and the
 * node's error for each id it failed to delete (HS_EINVAL: not a valid blob id). Returns the
 * request's error (HS_ETIMEDOUT, HS_EUNAVAIL, HS_EAUTH, ...: then nothing is known about any
 * id) or HS_EPROTO on an unexpected reply; out and errs are untouched then. */
#define HS_BLOB_DELETE_MANY_MAX       4096
#define HS_BLOB_DELETE_MANY_BYTES_MAX (1u << 20)
struct hs_http_delete_many {
    int64_t deleted;       /* unlinked now */
    int64_t missing;       /* were not there (deleted before) */
    int64_t failed;        /* ids the node could not delete */
    enum hs_err first_err; /* the first failed id's error (when failed > 0) */
};
enum hs_err hs_http_client_delete_many(struct hs_http_client *c, const char *base_url,
                                       const char *const *ids, size_t n,
                                       struct hs_http_delete_many *out, enum hs_err *errs);

/* One page of GET /v1/blobs?after=&limit=: fn runs per blob in id order; *next_after_out (heap,
 * free()) is where the next page starts, NULL when this was the last page. HS_EPROTO on a reply
 * that is not the documented JSON. */
typedef void hs_http_client_list_fn(void *ctx, const char *id, int64_t len, uint32_t crc);
enum hs_err hs_http_client_list(struct hs_http_client *c, const char *base_url, const char *after,
                                size_t limit, hs_http_client_list_fn *fn, void *ctx,
                                char **next_after_out);

/* Plain request for anything else (health, stats): GET/DELETE/... of base_url + path, reply
 * body appended to reply (which bounds its size). *status_out gets the HTTP status (any). */
enum hs_err hs_http_client_request(struct hs_http_client *c, const char *method,
                                   const char *base_url, const char *path, struct hs_buf *reply,
                                   long *status_out);

/* Parses the X-HS-CRC32C text form: exactly 8 lower-case hex digits of the payload's CRC32C
 * (hs_crc32c from hs/codec.h). */
bool hs_http_crc32c_parse(const char *text, uint32_t *out);

/* ---- GET /v1/stats of many nodes at once (node_stats.c) ---- */

struct json_t;
/* One node of hs_http_node_stats_fetch. */
struct hs_http_node_stats {
    const char *base_url; /* in: the node's base URL (borrowed) */
    struct json_t *stats; /* out: the reply's JSON object, or NULL when the node did not answer
                             200 with one in time (hs_http_node_stats_release frees it) */
    long status;          /* out: HTTP status, 0 when there was none */
    int curl_code;        /* out: libcurl's result, for logs */
};
/* Asks every node for GET base_url/v1/stats in parallel (secret as the Bearer token, or none
 * when NULL), each within timeout_ms, on a multi handle of its own; fills the out fields of all.
 * Blocks until every reply or timeout. Thread-safe. */
void hs_http_node_stats_fetch(const char *secret, int64_t timeout_ms,
                              struct hs_http_node_stats *nodes, size_t n);
/* Frees every stats object. NULL is fine. */
void hs_http_node_stats_release(struct hs_http_node_stats *nodes, size_t n);
/* stats.name, or stats.object.name when object is not NULL, when it is an integer; else missing. */
int64_t hs_http_node_stats_int(const struct hs_http_node_stats *s, const char *object,
                               const char *name, int64_t missing);

#endif
