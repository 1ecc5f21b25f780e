/* etcd.h - client of etcd's v3 gRPC API (HTTP/2 via nghttp2, protobuf via protobuf-c): kv, txn,
 * leases, watch, election. Keys are C strings (our keys are text); values are bytes. Callers
 * see plain C values; proto3's omitted zero values read as 0/false/empty.
 *
 * Endpoints: several, comma-separated ("http://host:port"; no TLS). Each endpoint has one
 * long-lived HTTP/2 connection that every thread's calls share, one stream per call. Every
 * unary call has a short deadline (also sent as grpc-timeout); on a transport error, timeout
 * or UNAVAILABLE-like status the next endpoint is tried (the one that worked is remembered, a
 * failing one is skipped by the next call). Requests that were certainly not processed
 * (connect failed, stream refused after GOAWAY) are always retried on the next endpoint.
 * Requests that may have reached etcd are retried only when idempotent: range, put, delete,
 * lease grant/keepalive/revoke, leader, resign. txn and campaign are not: an ambiguous result
 * returns HS_ETIMEDOUT/HS_EUNAVAIL and the caller re-reads. A call blocks for at most about
 * timeout_ms per attempt and makes at most (number of endpoints + 1) attempts.
 *
 * Error mapping (every call, from the gRPC status and etcd's message): NOT_FOUND /
 * "requested lease not found" / "election: no leader" -> HS_ENOENT; RESOURCE_EXHAUSTED (NOSPACE
 * alarm) -> HS_ENOSPC; INVALID_ARGUMENT, OUT_OF_RANGE (bad argument, too many txn ops, request
 * too large) -> HS_EINVAL; "required revision has been compacted", "election: not leader" ->
 * HS_ECONFLICT; FAILED_PRECONDITION / ALREADY_EXISTS (lease exists) -> HS_EEXIST;
 * DEADLINE_EXCEEDED, CANCELLED, our deadline -> HS_ETIMEDOUT; UNAVAILABLE / no leader / UNKNOWN
 * and other server errors -> HS_EUNAVAIL; a reply we cannot decode (bad framing, a compressed
 * message, bad protobuf) -> HS_EPROTO. Failures are logged once per call (rate-limited) as
 * evt=etcd_request_failed endpoint=... path=... err=...; the caller need not log them again.
 *
 * Thread-safety: one struct hs_etcd may be used from many threads at once. Out-parameters
 * are untouched on failure. */
#ifndef HS_ETCD_H
#define HS_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"
#include "hs/stop.h"

struct hs_etcd_opts {
    const char *endpoints;      /* "http://127.0.0.1:2379,http://127.0.0.1:2479" (copied) */
    int64_t timeout_ms;         /* per attempt; 0 = 2000 */
    int64_t connect_timeout_ms; /* 0 = 500 (capped at timeout_ms) */
};

struct hs_etcd;

/* HS_EINVAL on an empty or malformed endpoint list ("host:port" gets "http://"; "https://" is
 * refused). Connections are opened on first use. *out owned by
 * the caller: hs_etcd_free (NULL is fine) after every watch and keeper using it was stopped. */
enum hs_err hs_etcd_new(const struct hs_etcd_opts *opts, struct hs_etcd **out);
void hs_etcd_free(struct hs_etcd *e);

struct hs_etcd_kv {
    char *key;      /* NUL-terminated (heap) */
    uint8_t *value; /* heap, NUL-terminated for convenience; never NULL: empty ("",
                     * value_len 0) when keys_only or deleted */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease; /* 0 = none */
};

struct hs_etcd_kvs {
    struct hs_etcd_kv *kvs; /* heap array */
    size_t n;
    int64_t revision; /* header revision the read was served at */
    int64_t count;    /* total matching keys (may exceed n when limited) */
    bool more;        /* more keys beyond limit */
};
void hs_etcd_kvs_release(struct hs_etcd_kvs *kvs);

struct hs_etcd_range_req {
    const char *key;       /* first key (or the prefix when prefix = true) */
    const char *range_end; /* exclusive end; NULL = single key unless prefix */
    bool prefix;           /* range over every key starting with key */
    int64_t limit;         /* 0 = no limit */
    int64_t revision;      /* 0 = latest */
    bool keys_only;
    bool count_only;
    bool serializable; /* allow a stale read from any member */
};

/* Single key: out->n is 0 when the key does not exist (not an error). out is owned by the caller
 * (hs_etcd_kvs_release) on success. range: range_end wins over prefix; an empty prefix ("")
 * means every key. */
enum hs_err hs_etcd_get(struct hs_etcd *e, const char *key, struct hs_etcd_kvs *out);
enum hs_err hs_etcd_range(struct hs_etcd *e, const struct hs_etcd_range_req *req,
                          struct hs_etcd_kvs *out);
/* Calls fn for every key under prefix in key order, page_size keys per request, all pages read
 * at the revision of the first page (a consistent snapshot). fn returning false stops early
 * (HS_OK). revision_out (may be NULL) gets that revision. kv is borrowed for the call of fn only.
 * HS_ECONFLICT when the snapshot revision was compacted between pages (start again). page_size
 * 0 = 1000. Pages are bounded ranges (hs_etcd_range_scan): each costs etcd about one page. */
typedef bool hs_etcd_kv_fn(void *ctx, const struct hs_etcd_kv *kv);
enum hs_err hs_etcd_range_prefix_each(struct hs_etcd *e, const char *prefix, int64_t page_size,
                                      bool keys_only, hs_etcd_kv_fn *fn, void *ctx,
                                      int64_t *revision_out);

/* Where the next page of a scan should end, learnt from the previous pages' replies. Zero =
 * unknown. Keep it across scans of the same prefix (a cursor resumed later) to skip the
 * probing; its fields are the pager's business. */
struct hs_etcd_pace {
    size_t depth;   /* key bytes kept as the base of the next end key */
    uint64_t width; /* span after the base (big-endian 64-bit units); 0 = unknown */
};

/* A paged scan of every key under prefix, strictly after `after` (NULL or "" = from the
 * first). etcd 3.4 walks every key from a range's start to its end whatever the limit, so an
 * open-ended page near the start of a big prefix costs as much as the whole prefix; here every
 * page is a range [start, end) whose end is chosen to hold about page_size keys (etcd's count
 * of each range tells how well: see etcd_page.c), so a whole scan costs O(keys). With an
 * unknown pace and no `after` the first page is open-ended (one pass over the prefix, and a
 * small prefix is read in one request); resumed scans probe from narrow ranges upwards. */
struct hs_etcd_scan {
    const char *prefix;        /* required ("" = every key) */
    const char *after;         /* resume strictly after this full key; NULL = from the first */
    int64_t revision;          /* 0 = the first page's revision; every page reads the same */
    int64_t page_size;         /* 0 = 1000 */
    bool keys_only;            /* values empty */
    struct hs_etcd_pace *pace; /* in/out, may be NULL */
    int64_t *requests_out;     /* may be NULL: adds the range requests made */
    int64_t *keys_counted_out; /* may be NULL: adds etcd's count of every range (its cost) */
};
/* fn as for hs_etcd_range_prefix_each (false stops early with HS_OK). revision_out may be
 * NULL. HS_ECONFLICT when the revision was compacted; HS_EPROTO when a reply does not move
 * forward. Blocks; thread-safe like every call of the client. */
enum hs_err hs_etcd_range_scan(struct hs_etcd *e, const struct hs_etcd_scan *scan,
                               hs_etcd_kv_fn *fn, void *ctx, int64_t *revision_out);

/* lease 0 = none. revision_out may be NULL. HS_ENOENT when the lease does not exist. */
enum hs_err hs_etcd_put(struct hs_etcd *e, const char *key, const void *value, size_t value_len,
                        int64_t lease, int64_t *revision_out);
/* Deletes key, or every key under it when prefix. deleted_out may be NULL. */
enum hs_err hs_etcd_delete(struct hs_etcd *e, const char *key, bool prefix, int64_t *deleted_out);

enum hs_etcd_cmp_target {
    HS_ETCD_CMP_VERSION,
    HS_ETCD_CMP_CREATE,
    HS_ETCD_CMP_MOD,
    HS_ETCD_CMP_VALUE,
    HS_ETCD_CMP_LEASE
};
enum hs_etcd_cmp_result { HS_ETCD_EQUAL, HS_ETCD_GREATER, HS_ETCD_LESS, HS_ETCD_NOT_EQUAL };

struct hs_etcd_cmp {
    enum hs_etcd_cmp_target target;
    enum hs_etcd_cmp_result result;
    const char *key;
    int64_t number;    /* version / create_revision / mod_revision / lease */
    const void *value; /* HS_ETCD_CMP_VALUE */
    size_t value_len;
};

enum hs_etcd_op_type { HS_ETCD_OP_PUT, HS_ETCD_OP_DELETE, HS_ETCD_OP_RANGE };

struct hs_etcd_op {
    enum hs_etcd_op_type type;
    bool prefix; /* DELETE/RANGE over a prefix */
    const char *key;
    const void *value; /* PUT */
    size_t value_len;
    int64_t lease; /* PUT; 0 = none */
};

struct hs_etcd_txn {
    const struct hs_etcd_cmp *cmps;
    size_t n_cmps;
    const struct hs_etcd_op *success;
    size_t n_success;
    const struct hs_etcd_op *failure;
    size_t n_failure;
};

struct hs_etcd_txn_result {
    bool succeeded;
    int64_t revision;
    struct hs_etcd_kvs *ranges; /* one per RANGE op of the branch that ran, in op order (heap) */
    size_t n_ranges;
};
void hs_etcd_txn_result_release(struct hs_etcd_txn_result *r);

/* A failed compare is not an error: HS_OK with succeeded = false. Not retried on timeout. An
 * empty compare list is an unconditional atomic multi-op. HS_EINVAL for more ops than the server
 * allows (--max-txn-ops, 128 by default) or the same key twice. VALUE compares use value/len. */
enum hs_err hs_etcd_txn(struct hs_etcd *e, const struct hs_etcd_txn *txn,
                        struct hs_etcd_txn_result *out);

enum hs_err hs_etcd_lease_grant(struct hs_etcd *e, int64_t ttl_s, int64_t *lease_out);
/* One keepalive (one request on etcd's LeaseKeepAlive stream). HS_ENOENT when the lease has
 * expired or never existed. ttl_out may be NULL. */
enum hs_err hs_etcd_lease_keepalive(struct hs_etcd *e, int64_t lease, int64_t *ttl_out);
/* HS_ENOENT when the lease does not exist (already revoked or expired). */
enum hs_err hs_etcd_lease_revoke(struct hs_etcd *e, int64_t lease);

/* A lease kept alive by a background thread at ttl/3 (failed keepalives are retried every
 * ~ttl/10). When it is lost (keepalive says it is gone, or no keepalive succeeded for ttl),
 * on_lost runs once from that thread; the keeper then stops and the owner makes a new one (with
 * back-off). on_lost must not call hs_etcd_keeper_stop (it would join its own thread): flag the
 * owner instead. *out is freed by hs_etcd_keeper_stop, which the owner calls in every case. */
typedef void hs_etcd_lease_lost_fn(void *ctx, int64_t lease);
struct hs_etcd_keeper;
enum hs_err hs_etcd_keeper_start(struct hs_etcd *e, int64_t lease, int64_t ttl_s,
                                 hs_etcd_lease_lost_fn *on_lost, void *ctx,
                                 struct hs_etcd_keeper **out);
/* Stops the thread (does not revoke) and frees k; on_lost is not called. NULL is fine. Returns
 * at once while the keeper waits, within ~100 ms when a keepalive is in flight (its stream is
 * reset; the shared connection stays). */
void hs_etcd_keeper_stop(struct hs_etcd_keeper *k);
/* false once the lease was declared lost (or k is NULL). Thread-safe. */
bool hs_etcd_keeper_alive(const struct hs_etcd_keeper *k);

/* Watch a key or prefix from start_revision (0 = now) on its own thread and gRPC Watch stream
 * (on the endpoint's shared connection), reopening it (and failing over) from the last seen
 * revision + 1 after errors, so no event is lost or repeated across reconnects. The stream asks for
 * require-leader: a member that loses quorum ends it and the watch moves on; a member that stops
 * answering is detected by a probe (a linearizable read on the same endpoint) after ~5 s without
 * data. fn(events, n, revision, compacted): the n >= 1 events of one watch reply (whole revisions,
 * in order), revision = the reply header's revision. When the start revision was compacted, fn gets
 * compacted = true, no events and revision = the compact revision: re-list; the watch resumes at
 * that (oldest retained) revision, so events newer than the caller's re-list are not missed (some
 * may be older than it: apply by mod_revision). Events are borrowed for the call of fn only. fn
 * runs on the watch thread and must not call hs_etcd_watch_stop. HS_EINVAL on a bad key. */
struct hs_etcd_event {
    bool is_delete;
    struct hs_etcd_kv kv; /* for deletes only key and mod_revision are set */
};
typedef void hs_etcd_watch_fn(void *ctx, const struct hs_etcd_event *events, size_t n,
                              int64_t revision, bool compacted);
struct hs_etcd_watch;
enum hs_err hs_etcd_watch_start(struct hs_etcd *e, const char *key, bool prefix,
                                int64_t start_revision, hs_etcd_watch_fn *fn, void *ctx,
                                struct hs_etcd_watch **out);
/* Resets the stream, joins the thread (returns within ~100 ms unless fn is running) and
 * frees w. NULL is fine. */
void hs_etcd_watch_stop(struct hs_etcd_watch *w);

/* Election with our own lease (never the server's 60 s default; keep it alive with a keeper).
 * campaign blocks until this candidate leads or cancel is set (HS_ETIMEDOUT then, within
 * ~100 ms; cancel may be NULL; set it from another thread with hs_stop_set). The blocked request is
 * renewed every 30 s and moves to the next endpoint when one fails, so a hung member cannot block
 * it forever. On success *out (release with hs_etcd_leader_release) holds the leader key (name +
 * "/" + lease hex) and its create revision (rev), for fencing compares (CREATE == rev on key).
 * HS_ENOENT when the lease does not exist. resign is idempotent (a stale leader is a no-op). */
struct hs_etcd_leader {
    char *name;
    char *key;
    int64_t rev;
    int64_t lease;
};
void hs_etcd_leader_release(struct hs_etcd_leader *l);
enum hs_err hs_etcd_campaign(struct hs_etcd *e, const char *name, int64_t lease, const void *value,
                             size_t value_len, const struct hs_stop *cancel,
                             struct hs_etcd_leader *out);
enum hs_err hs_etcd_resign(struct hs_etcd *e, const struct hs_etcd_leader *leader);
/* Current leader's kv (key = leader key, value = its campaign value; release with
 * hs_etcd_kv_release). HS_ENOENT when there is none. */
enum hs_err hs_etcd_leader_get(struct hs_etcd *e, const char *name, struct hs_etcd_kv *out);
void hs_etcd_kv_release(struct hs_etcd_kv *kv);

/* Key layout helpers: "/hybridstore/v1/" + rest (heap). */
#define HS_ETCD_ROOT "/hybridstore/v1/"

#endif
