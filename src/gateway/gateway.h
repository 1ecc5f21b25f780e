/* gateway.h - the gateway's object layer: what every front end (the reference API, the native
 * /v1/ API, later an S3 API) calls. It owns the cluster view (live nodes from an etcd watch,
 * cluster settings from config/), the two-phase write through etcd, reads with failover and
 * degraded EC decoding, deletes, listing and PATCH of hot fields. It knows nothing of HTTP
 * requests: front ends translate. See docs/design.md (guarantees) and docs/gateway.md.
 *
 * Threads: every function may be called from many threads at once (the HTTP worker threads).
 * Each calling thread gets its own node client (thread-local, kept-alive connections); the etcd
 * client is shared. Every call is bounded in time by the node and etcd timeouts.
 *
 * Objects are cut in segments of at most segment_bytes (each replicated or coded on its own),
 * so a writer or reader holds at most one segment (plus parity) in memory however large the
 * object is. */
#ifndef HS_GATEWAY_H
#define HS_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/budget.h"
#include "hs/err.h"
#include "hs/manifest.h"

struct hs_etcd;

/* ---- the gateway context (gw.c, members.c, settings.c) ---- */

struct hs_gw_opts {
    const char *etcd_endpoints; /* comma-separated */
    const char *secret;         /* cluster secret: node API and admin routes */
    const char *gateway_id;     /* registered under gateways/<id> with a lease */
    const char *advertise_url;  /* value of the registration */
    int64_t etcd_timeout_ms;    /* per etcd request attempt */
    int64_t node_timeout_ms;    /* per blob transfer */
    int64_t node_connect_timeout_ms;
    int64_t lease_ttl_s;       /* gateway registration lease */
    int64_t segment_bytes;     /* object bytes per segment (replicated or coded alone) */
    int64_t doc_max_bytes;     /* largest JSON document for field_hybrid / reference API */
    int64_t auto_ec_threshold; /* auto strategy: larger objects are erasure coded */
    uint32_t replicas;         /* copies for replication and hot parts (3) */
    uint32_t ec_k, ec_m;       /* RS(k, m) for ec and cold parts (4, 2) */
    int64_t stripe_bytes;      /* object bytes per EC stripe (1 MiB) */
    int64_t wal_alive_ms;      /* a progressing streamed write re-puts its WAL record this often */
    int64_t body_budget_bytes; /* bodies and segments held, all requests; 0 = 512 MiB or more */
    int64_t max_open_writes;   /* writes with a WAL record open at once; 0 = 256 */
    int64_t s3_min_part_bytes; /* S3 multipart: smallest part but the last (EntityTooSmall) */
    bool no_field_stats;       /* count no field statistics (adaptive.h; for measuring) */
};

struct hs_gw;

/* Connects to etcd, loads settings and membership, starts the watches and the registration.
 * Starts even when etcd is down (keeps retrying in the background; requests then fail with
 * HS_EUNAVAIL). *out owned by the caller. */
enum hs_err hs_gw_new(const struct hs_gw_opts *opts, struct hs_gw **out);
/* Stops watches, revokes the registration lease, frees. NULL is fine. */
void hs_gw_free(struct hs_gw *gw);
struct hs_etcd *hs_gw_etcd(struct hs_gw *gw);
const struct hs_gw_opts *hs_gw_opts(const struct hs_gw *gw);

/* A consistent, immutable snapshot of the live nodes (registered under nodes/), shared by
 * reference count: take it, use it, put it back. Never NULL (may hold 0 nodes). */
struct hs_gw_node {
    const char *id;
    const char *url;
    const char *zone;
    int64_t capacity_bytes;
    int64_t free_bytes;
};
struct hs_gw_members {
    const struct hs_gw_node *nodes; /* sorted by id */
    size_t n;
    const char *const *ids; /* nodes[i].id, for hs_place_* */
    int64_t revision;       /* etcd revision of the view */
    /* Nodes whose registration vanished recently (sorted by id), with their last URL: a lease
     * can lapse while the node still serves (etcd stalled), so reads and deletes still try
     * them; placement never does. */
    const struct hs_gw_node *recent;
    size_t n_recent;
};
const struct hs_gw_members *hs_gw_members_get(struct hs_gw *gw);
void hs_gw_members_put(struct hs_gw *gw, const struct hs_gw_members *m);
/* URL of a node id in m, or NULL when it is not live (placement, writes). */
const char *hs_gw_members_url(const struct hs_gw_members *m, const char *node_id);
/* Same, falling back to the last URL of a recently departed node (reads, deletes). */
const char *hs_gw_members_url_any(const struct hs_gw_members *m, const char *node_id);

/* Cluster settings from etcd config/ (watched; defaults when absent). The hot-field set is
 * returned as a reference-counted snapshot like the members. */
struct hs_split_hotset;
const struct hs_split_hotset *hs_gw_hotset_get(struct hs_gw *gw);
void hs_gw_hotset_put(struct hs_gw *gw, const struct hs_split_hotset *h);
/* Comma-separated current hot-field list (heap, free()). */
char *hs_gw_hotset_csv(struct hs_gw *gw);
/* Validates and stores config/hot-fields in etcd (the watch then updates every gateway). */
enum hs_err hs_gw_set_hot_fields(struct hs_gw *gw, const char *csv, char *msg, size_t msg_len);
#define HS_GW_DEFAULT_HOT_FIELDS "like_count,view_count,inventory_count,update_count"

/* ---- admission (budget.h; these wrap gw's budget): request bodies held whole reserve their
 * bytes as they grow, streamed writes and responses their segment buffers, and every write
 * holds one slot while its WAL record may exist. A refusal
 * is HS_EBUSY (503 + Retry-After), HS_ETOOBIG when the body can never fit; msg says which limit.
 * Thread-safe, never block. ---- */
/* Refuses early a body of declared len (Content-Length; < 0 unknown) that would not fit now. */
enum hs_err hs_gw_body_admit(struct hs_gw *gw, int64_t len, char *msg, size_t msg_len);
/* hs_gw_budget_grow on gw's budget with cap doc_max_bytes (or len_cap when > 0). */
enum hs_err hs_gw_body_grow(struct hs_gw *gw, struct hs_gw_budget_hold *h, int64_t need,
                            int64_t len_cap, char *msg, size_t msg_len);
/* Gives h back; call after the buffer it covers was freed. After a large body, hands freed
 * memory back to the kernel (malloc_trim, at most about once a second). */
void hs_gw_body_release(struct hs_gw *gw, struct hs_gw_budget_hold *h);
/* One open-write slot: HS_EBUSY (msg set) when max_open_writes are taken. */
enum hs_err hs_gw_write_slot_take(struct hs_gw *gw, char *msg, size_t msg_len);
void hs_gw_write_slot_put(struct hs_gw *gw);
void hs_gw_budget_snapshot(struct hs_gw *gw, struct hs_gw_budget_stats *out);

/* The calling thread's node client (created on first use, freed at thread exit). */
struct hs_http_client;
struct hs_http_client *hs_gw_blob_client(struct hs_gw *gw);

/* ---- writes (obj_write.c, obj_hybrid.c, obj_patch.c; the transaction is txn.c) ---- */

struct hs_obj_put_opts {
    const char *key; /* validated by the object layer (HS_EINVAL) */
    size_t key_len;
    enum hs_strategy strategy; /* 0 = auto */
    const char *content_type;  /* NULL = application/octet-stream */
    int64_t declared_len;      /* Content-Length, or -1 when unknown (chunked) */
    const char *if_match;      /* unquoted ETag the current version must have, or NULL */
    bool if_match_any;         /* write only when the object exists (If-Match: *) */
    bool if_none_match_any;    /* write only when the object does not exist */
    bool hot_only;             /* field_hybrid: HS_ECONFLICT when the cold part changed */
    const char *request_id;    /* for logs */
    /* Stored with the version and handed back by reads (manifest.h "attrs"); copied. NULL =
     * none. Its checksum members are ignored here: hs_obj_writer_seal sets them. */
    const struct hs_manifest_attrs *attrs;
    /* GET must return exactly the bytes written (S3): auto picks field_hybrid only for a
     * document that field_hybrid gives back byte for byte (no whitespace between top-level
     * members), never reuses a stored cold part, and an explicit field_hybrid write of another
     * document is HS_EINVAL. */
    bool byte_exact;
    /* A merge patch's read-modify-write (obj_patch.c): the patch, counted as the write's
     * change set in the field statistics instead of comparing digests. NULL otherwise. */
    const void *stats_patch;
    size_t stats_patch_len;
};

/* What a write did, for the front ends' answers. Heap strings are freed by
 * hs_obj_put_result_release. */
struct hs_obj_put_result {
    enum hs_strategy strategy;
    int64_t size_bytes;
    int64_t version;
    char etag[HS_ETAG_MAX + 1];
    bool created;                 /* no previous version */
    char trace_id[HS_TXN_ID_BUF]; /* the txn id */
    /* replication: node URLs that stored a replica; field_hybrid: hot replicas */
    char **nodes_written;
    size_t n_nodes_written;
    uint32_t chunks_written; /* ec: shards stored (of all segments); hybrid: cold shards */
    uint32_t total_chunks;   /* ec: k+m per segment times segments */
    bool pure_hot_update;    /* field_hybrid: the cold part was reused */
    bool degraded;           /* some blob missing: repair/<key> was marked */
};
void hs_obj_put_result_release(struct hs_obj_put_result *r);

/* Streaming write: begin (validation, placement, nothing written yet), write any number of
 * chunks (may block while a full segment goes to the nodes), then finish (last segment, commit)
 * or abort. Errors: HS_EINVAL bad key/strategy, HS_EUNAVAIL too few live nodes or quorum not
 * reached (msg says how many nodes are live and how many are needed), HS_ETOOBIG over a limit,
 * HS_EUNSUPPORTED / HS_EINVAL for a field_hybrid body that is not one JSON object (msg says what
 * and at which byte), HS_EPRECONDITION If-Match/If-None-Match failed, HS_ECONFLICT hot_only
 * with a changed cold part, HS_ETIMEDOUT. On any error nothing becomes visible and the old
 * version stays readable. finish and abort free the writer in every case. msg gets a one-line
 * reason for the client. */
struct hs_obj_writer;
enum hs_err hs_obj_writer_begin(struct hs_gw *gw, const struct hs_obj_put_opts *opts,
                                struct hs_obj_writer **out, char *msg, size_t msg_len);
enum hs_err hs_obj_writer_write(struct hs_obj_writer *w, const void *data, size_t n, char *msg,
                                size_t msg_len);
/* Same as hs_obj_writer_write with the bytes of b, but a writer that buffers the whole body
 * (field_hybrid, or auto with a JSON body) and holds nothing yet takes b's memory instead of
 * copying it. b is left empty (its max_bytes kept) in every case. */
struct hs_buf;
enum hs_err hs_obj_writer_write_buf(struct hs_obj_writer *w, struct hs_buf *b, char *msg,
                                    size_t msg_len);
/* Before finish, once the whole body is in and verified: the version's ETag (unquoted, etagc
 * chars, e.g. the hex MD5 of the body; NULL = the txn id, as native writes have) and the
 * flexible checksum the front end verified (alg as manifest.h's ck_alg, value base64; both
 * NULL = none). HS_EINVAL (msg set) for values outside manifest.h's rules; then finish
 * must not be called (abort). */
enum hs_err hs_obj_writer_seal(struct hs_obj_writer *w, const char *etag, const char *ck_alg,
                               const char *ck_value, char *msg, size_t msg_len);
enum hs_err hs_obj_writer_finish(struct hs_obj_writer *w, struct hs_obj_put_result *res, char *msg,
                                 size_t msg_len);
void hs_obj_writer_abort(struct hs_obj_writer *w);

/* RFC 7396 merge patch of a JSON object. Touching only hot fields of a field_hybrid object
 * writes a new hot part and reuses the cold part without reading it; otherwise a full
 * read-modify-write. HS_ENOENT absent, HS_EUNSUPPORTED not a JSON object. */
enum hs_err hs_obj_patch(struct hs_gw *gw, const char *key, size_t key_len, const void *patch,
                         size_t patch_len, const char *if_match, struct hs_obj_put_result *res,
                         char *msg, size_t msg_len);

/* ---- re-layout (obj_relayout.c) ---- */

struct hs_obj_relayout_result {
    char outcome[24];   /* "rewritten", "current" (already split so), "not_field_hybrid" */
    int64_t version;    /* rewritten: the new version number (ETag and content unchanged) */
    int64_t hot_bytes;  /* rewritten: the new hot part's length */
    int64_t cold_bytes; /* rewritten: the new cold part's length (0: none) */
};
/* Which promotions a re-layout makes: promote[0..n) names the fields it may move from the cold
 * part to the hot one (every field the collection's layout has hot when promote is NULL). */
struct hs_obj_relayout_promote {
    const char *const *names; /* NUL-terminated, unescaped */
    size_t n;
};
/* Re-splits the object towards the hot set a new write would use, if its manifest still has
 * mod_revision rev: fields it holds hot that the layout has cold go cold (demotions, always);
 * fields it holds cold that the layout has hot go hot only when `promote` allows (NULL: all).
 * A promotion nobody reads is left to the object's next write: moving it early costs storage
 * and buys nothing. Through the normal write transaction conditioned on the ETag; the commit
 * keeps the ETag and creation time. HS_ENOENT absent, HS_ECONFLICT the manifest changed,
 * HS_EPRECONDITION a client write won the race, other write errors as hs_obj_writer_finish. */
enum hs_err hs_obj_relayout(struct hs_gw *gw, const char *key, size_t key_len, int64_t rev,
                            const struct hs_obj_relayout_promote *promote, const char *req_id,
                            struct hs_obj_relayout_result *res, char *msg, size_t msg_len);

/* ---- deletes (obj_delete.c) ---- */

struct hs_obj_delete_result {
    enum hs_strategy strategy;
    uint32_t replicas_deleted; /* replication */
    uint32_t chunks_deleted;   /* ec */
    uint32_t hot_deleted;      /* field_hybrid */
    uint32_t cold_deleted;     /* field_hybrid */
};
/* Removes the manifest (compare-and-delete), then the blobs (before returning; what cannot be
 * deleted now is left to the healer's GC). HS_ENOENT absent, HS_EPRECONDITION If-Match. */
enum hs_err hs_obj_delete(struct hs_gw *gw, const char *key, size_t key_len, const char *if_match,
                          struct hs_obj_delete_result *res, char *msg, size_t msg_len);

/* ---- reads (obj_read.c, obj_read_ec.c) ---- */

struct hs_obj_info {
    enum hs_strategy strategy;
    int64_t size_bytes; /* whole object */
    int64_t version;
    int64_t created_ms;
    char etag[HS_ETAG_MAX + 1];
    char content_type[HS_CONTENT_TYPE_MAX + 1];
    /* The version's stored attributes (manifest.h "attrs"), NULL when none. Borrowed from the
     * reader: open's copy is valid until the first read (a read may move to a newer version),
     * hs_obj_reader_info's until close. */
    const struct hs_manifest_attrs *attrs;
};

/* Opens a read of [offset, offset + len) (len -1 = to the end; offset 0 and len -1 for the
 * whole object): reads the manifest (HS_ENOENT absent), and on the first read fetches blobs
 * segment by segment (replica failover; EC: only the data shards the range needs, parity and
 * decoding when some are missing or corrupt, then repair/<key> is marked). CRC32C is checked end
 * to end. A blob that vanished because a newer version committed makes the reader re-read the
 * manifest once and start over (only before any byte was returned). HS_ERANGE when offset is
 * past the end (offset > size, or offset == size > 0; reading an empty object from 0 is fine).
 * field_hybrid objects are merged back into one document (the whole document is assembled in
 * memory, bounded by doc_max_bytes). Open itself only reads the manifest: HEAD and 304 answers
 * cost no node I/O. The first read may fail with HS_ENOENT (deleted meanwhile), HS_ERANGE (a
 * newer version is too short for the range), HS_EUNAVAIL (too few healthy replicas/shards),
 * HS_ECORRUPT (manifest inconsistent), HS_EPROTO (written by a newer gateway). See
 * docs/gateway.md "The read path" for which checksums a Range read checks. */
struct hs_obj_reader;
enum hs_err hs_obj_reader_open(struct hs_gw *gw, const char *key, size_t key_len, int64_t offset,
                               int64_t len, struct hs_obj_reader **out, struct hs_obj_info *info,
                               char *msg, size_t msg_len);
/* Appends every byte of one part of key's manifest to out (replica failover, EC decoding around
 * missing or corrupt shards, CRC32C checked), for a writer that needs a stored part itself.
 * HS_EUNAVAIL / HS_ECORRUPT as for a read; HS_ETOOBIG past out's cap. */
enum hs_err hs_obj_read_part(struct hs_gw *gw, const char *key, const struct hs_part *part,
                             struct hs_buf *out, char *msg, size_t msg_len);
/* Copies up to cap bytes; *got 0 means the end. Errors after the first byte cannot be reported
 * to an HTTP client except by cutting the connection: front ends do that. */
enum hs_err hs_obj_reader_read(struct hs_obj_reader *r, void *buf, size_t cap, size_t *got);
/* Appends everything the reader has left to doc (grown 64 KiB at a time, up to its limit:
 * HS_ETOOBIG past it). */
enum hs_err hs_obj_reader_read_all(struct hs_obj_reader *r, struct hs_buf *doc);
/* Bytes the reader will return in total (final once the first read returned). */
int64_t hs_obj_reader_length(const struct hs_obj_reader *r);
/* Where the reader starts in the object. */
int64_t hs_obj_reader_offset(const struct hs_obj_reader *r);
/* The version being read: open's info, updated when the first read had to re-read the
 * manifest (a newer version committed) and, for field_hybrid, with the merged size. Front ends
 * take their headers from here after the first read. Borrowed until close. */
const struct hs_obj_info *hs_obj_reader_info(const struct hs_obj_reader *r);
/* Changes the range before the first read (HTTP front ends learn the size at open, then
 * resolve Range against it): same rules as open; HS_ERANGE (reader unchanged) when offset is
 * past the end; HS_EINVAL after the first read. */
enum hs_err hs_obj_reader_set_range(struct hs_obj_reader *r, int64_t offset, int64_t len);
void hs_obj_reader_close(struct hs_obj_reader *r);

/* The current manifest (HS_ENOENT absent); out owned by the caller (hs_manifest_release). */
enum hs_err hs_obj_manifest_get(struct hs_gw *gw, const char *key, size_t key_len,
                                struct hs_manifest *out, int64_t *mod_revision_out);

/* ---- projection reads (obj_project.c) ---- */

/* The top-level members of the JSON object at key named in names[0..n) (plain UTF-8), as one
 * compact object {"k":v,...} in document order, keys and values byte-exact; names the object
 * does not hold are left out. When the object is field_hybrid and its manifest lists every name
 * as hot or absent, only the hot part is read (one replica; *from_hot = true); otherwise the
 * whole object is read and projected. out (the caller's buffer) is replaced; info describes the
 * version read. HS_EINVAL (no names, or the object is not one JSON object), HS_ENOENT,
 * HS_ETOOBIG (over doc-max-size), HS_EUNAVAIL; msg set. Blocks on nodes and etcd. */
enum hs_err hs_obj_project(struct hs_gw *gw, const char *key, size_t key_len,
                           const char *const *names, size_t n, struct hs_buf *out,
                           struct hs_obj_info *info, bool *from_hot, char *msg, size_t msg_len);

/* ---- listing and cluster state (obj_list.c, usage.c) ---- */

struct hs_obj_list_entry {
    const char *key;
    enum hs_strategy strategy;
    int64_t size_bytes;
    int64_t version;
    int64_t created_ms;
    const char *etag;
    const char *content_type;
};
typedef void hs_obj_list_fn(void *ctx, const struct hs_obj_list_entry *e);
/* Keys under prefix in byte order strictly after start_after (NULL = from the start), at most
 * limit. *truncated_out says whether more follow. */
enum hs_err hs_obj_list(struct hs_gw *gw, const char *prefix, const char *start_after, size_t limit,
                        hs_obj_list_fn *fn, void *ctx, bool *truncated_out);

/* A delimited listing (S3's ListObjects): keys under prefix in byte order strictly after
 * start_after; a key holding delimiter after the prefix is rolled up into its common prefix
 * (the key up to and including the first delimiter after the prefix), reported once, and the
 * keys under it are skipped with one new etcd range each (a listing never walks a common
 * prefix's keys). A common prefix not after start_after is skipped too, so a page that ended
 * on one resumes past all its keys. Objects and common prefixes share limit (1..10000). fn
 * gets an object (e) or a common prefix (cp), the other NULL, borrowed for the call.
 * *truncated_out: more follow. Errors: etcd's. */
typedef void hs_obj_list_dir_fn(void *ctx, const struct hs_obj_list_entry *e, const char *cp);
struct hs_obj_list_req {
    const char *prefix;      /* NULL or "" = every key */
    const char *delimiter;   /* NULL or "" = none */
    const char *start_after; /* NULL or "" = from the first key */
    size_t limit;
};
enum hs_err hs_obj_list_dir(struct hs_gw *gw, const struct hs_obj_list_req *req,
                            hs_obj_list_dir_fn *fn, void *ctx, bool *truncated_out);

/* Asks every registered node for /v1/stats in parallel. */
struct hs_gw_node_usage {
    char *id, *url; /* heap */
    bool healthy;
    int64_t blobs, payload_bytes, free_bytes, total_bytes;
};
enum hs_err hs_gw_usage(struct hs_gw *gw, struct hs_gw_node_usage **out, size_t *n_out);
void hs_gw_usage_free(struct hs_gw_node_usage *u, size_t n);

#endif
