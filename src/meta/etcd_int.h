/* etcd_int.h - private pieces of the etcd gateway client shared by src/meta/etcd*.c, the unit
 * tests and the fuzz target: base64, reply parsers (pure: bytes or JSON in, C values out), the
 * watch stream line splitter and state machine, and the request layer with failover. */
#ifndef HS_META_ETCD_INT_H
#define HS_META_ETCD_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "hs/err.h"
#include "hs/etcd.h"

struct curl_slist;

#define HS_ETCD_REPLY_MAX_BYTES (64u << 20) /* a reply or stream line larger than this: EPROTO */
#define HS_ETCD_POOL_MAX        8           /* idle curl handles kept for reuse */

/* ---- base64 (RFC 4648 standard alphabet, padded) ---------------------------------------- */
/* Heap, NUL-terminated. */
char *hs_etcd_b64_encode(const void *data, size_t len);
/* Decodes text (padding optional) into a heap buffer with a NUL after the bytes. HS_EPROTO on a
 * bad character or length. */
enum hs_err hs_etcd_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len);

/* ---- JSON helpers (omitted field = zero) ------------------------------------------------- */
/* int64 from a string or integer member; missing or null = 0. HS_EPROTO on anything else. */
enum hs_err hs_etcd_json_i64(const json_t *obj, const char *name, int64_t *out);
/* bool member; missing = false. HS_EPROTO when it is not a boolean. */
enum hs_err hs_etcd_json_bool(const json_t *obj, const char *name, bool *out);
/* New JSON string holding the int64 as decimal text (etcd's int64 encoding). */
json_t *hs_etcd_json_i64str(int64_t v);
/* New JSON string holding base64 of the bytes. */
json_t *hs_etcd_json_b64(const void *data, size_t len);
/* Exclusive end of the prefix range: the prefix with its last byte + 1 after dropping trailing
 * 0xff bytes; an empty result means "to the end of the keyspace" and is returned as "\0". */
void hs_etcd_prefix_end(const char *prefix, size_t len, uint8_t **end, size_t *end_len);

/* ---- bounded pages (etcd_page.c) ------------------------------------------------------------ */
/* End of the page that starts at start, within a scan ending at final_end ("\0" = no end): a
 * heap key (*end, *end_len) > start and <= final_end, chosen from pace (zero pace = unknown:
 * the narrowest step, widened by the replies). Updates pace's depth/width normalisation. */
void hs_etcd_page_end(struct hs_etcd_pace *pace, const uint8_t *start, size_t start_len,
                      const uint8_t *final_end, size_t final_len, uint8_t **end, size_t *end_len);
/* A page came back full (more keys in its range): n keys from first to last, asked from start. */
void hs_etcd_pace_full(struct hs_etcd_pace *pace, const uint8_t *start, size_t start_len,
                       const uint8_t *first, size_t first_len, const uint8_t *last, size_t last_len,
                       size_t n);
/* A page held every key of its range: n of them, limit asked. Widens the next page. */
void hs_etcd_pace_short(struct hs_etcd_pace *pace, size_t n, size_t limit);

/* ---- reply parsers ------------------------------------------------------------------------ */
/* One mvccpb.KeyValue. want_value false skips the value (keys_only). out untouched on error. */
enum hs_err hs_etcd_parse_kv(const json_t *j, struct hs_etcd_kv *out);
/* A RangeResponse object (also the response_range of a txn). */
enum hs_err hs_etcd_parse_range_json(const json_t *j, struct hs_etcd_kvs *out);
enum hs_err hs_etcd_parse_range_reply(const char *body, size_t len, struct hs_etcd_kvs *out);
/* header.revision of a reply object; 0 when absent. */
enum hs_err hs_etcd_parse_header_rev(const json_t *j, int64_t *rev);
/* The TxnResponse for txn (the op types of the branch that ran pick the range results). */
enum hs_err hs_etcd_parse_txn_reply(const char *body, size_t len, const struct hs_etcd_txn *txn,
                                    struct hs_etcd_txn_result *out);
/* LeaseGrantResponse: ID and TTL; an "error" member -> HS_EUNAVAIL. */
enum hs_err hs_etcd_parse_grant_reply(const char *body, size_t len, int64_t *id, int64_t *ttl);
/* One-shot keepalive stream reply: first line {"result":{...,"TTL":..}}. No TTL (lease gone)
 * -> HS_ENOENT; an in-stream error object -> its mapping. */
enum hs_err hs_etcd_parse_keepalive_reply(const char *body, size_t len, int64_t *ttl);
/* Election campaign reply: the leader object. */
enum hs_err hs_etcd_parse_campaign_reply(const char *body, size_t len, struct hs_etcd_leader *out);
/* Election leader reply: the kv. No kv -> HS_ENOENT. */
enum hs_err hs_etcd_parse_leader_reply(const char *body, size_t len, struct hs_etcd_kv *out);

/* The error of a non-200 reply: unary shape {"error":"..","message":"..","code":N} or stream
 * shape {"error":{"grpc_code":N,"http_code":N,"message":".."}}. msg gets a short copy (may be
 * ""). Returns the hs_err; *retry says whether another endpoint may answer differently. */
enum hs_err hs_etcd_map_error(long http_status, const char *body, size_t len, char *msg,
                              size_t msg_len, bool *retry);
/* Same from grpc code + message only (stream errors). */
enum hs_err hs_etcd_map_grpc(int code, const char *msg, bool *retry);

/* ---- watch stream ------------------------------------------------------------------------- */
/* Accumulates stream bytes and hands out complete '\n'-terminated lines (without the '\n'). */
struct hs_etcd_lines {
    struct hs_buf buf; /* partial line carried between feeds */
};
typedef enum hs_err hs_etcd_line_fn(void *ctx, const char *line, size_t len);
void hs_etcd_lines_init(struct hs_etcd_lines *l);
void hs_etcd_lines_release(struct hs_etcd_lines *l);
/* Calls fn for each completed line (empty lines skipped). Stops at the first error fn returns.
 * HS_EPROTO when a line grows past HS_ETCD_REPLY_MAX_BYTES. */
enum hs_err hs_etcd_lines_feed(struct hs_etcd_lines *l, const void *data, size_t len,
                               hs_etcd_line_fn *fn, void *ctx);

enum hs_etcd_watch_msg_kind {
    HS_ETCD_WMSG_CREATED,   /* watch established */
    HS_ETCD_WMSG_EVENTS,    /* one or more events */
    HS_ETCD_WMSG_PROGRESS,  /* header only: all events up to revision were sent */
    HS_ETCD_WMSG_COMPACTED, /* canceled because start revision < compact_revision */
    HS_ETCD_WMSG_CANCELED,  /* canceled for another reason (reconnect) */
    HS_ETCD_WMSG_ERROR,     /* in-stream error object (no leader, ...) */
};

struct hs_etcd_watch_msg {
    enum hs_etcd_watch_msg_kind kind;
    int64_t revision;             /* header revision */
    int64_t compact_revision;     /* COMPACTED */
    struct hs_etcd_event *events; /* heap array, EVENTS */
    size_t n_events;
    int grpc_code; /* ERROR */
    char message[128];
};
/* Parses one stream line. HS_EPROTO on malformed JSON or fields. */
enum hs_err hs_etcd_parse_watch_msg(const char *line, size_t len, struct hs_etcd_watch_msg *out);
void hs_etcd_watch_msg_release(struct hs_etcd_watch_msg *m);

/* The per-connection state of a watch: what to resume from and what the last line meant. */
struct hs_etcd_watch_state {
    int64_t next_rev;     /* start revision of the next connection; 0 = now */
    bool created;         /* the current connection is established */
    bool must_reconnect;  /* the server ended this watch (error/cancel/compaction) */
    enum hs_err last_err; /* why must_reconnect (HS_OK for compaction) */
    hs_etcd_watch_fn *fn;
    void *ctx;
    struct hs_etcd_lines lines;
};
void hs_etcd_watch_state_init(struct hs_etcd_watch_state *s, int64_t start_rev,
                              hs_etcd_watch_fn *fn, void *ctx);
void hs_etcd_watch_state_release(struct hs_etcd_watch_state *s);
/* Starts a new connection: forget the partial line and the created flag. */
void hs_etcd_watch_state_reset_conn(struct hs_etcd_watch_state *s);
/* Feeds stream bytes: delivers events to fn and advances next_rev. An error (malformed line)
 * means the connection must be dropped and reopened from next_rev. */
enum hs_err hs_etcd_watch_state_feed(struct hs_etcd_watch_state *s, const void *data, size_t len);

/* ---- client and request layer ------------------------------------------------------------ */
struct hs_etcd {
    char **endpoints; /* "http://host:port" without trailing '/' (immutable) */
    size_t n_endpoints;
    int64_t timeout_ms;              /* per attempt (immutable) */
    int64_t connect_timeout_ms;      /* (immutable) */
    hs_etcd_transport_fn *transport; /* NULL = libcurl (immutable) */
    void *transport_ctx;
    struct curl_slist *headers;       /* Content-Type, no Expect (immutable, shared) */
    struct curl_slist *watch_headers; /* + Grpc-Metadata-hasleader (immutable, shared) */
    atomic_size_t preferred;          /* endpoint index to try first */
    atomic_llong log_last_ms;         /* rate limit of failure warnings */
    atomic_llong log_suppressed;
    pthread_mutex_t pool_mu;
    void *pool[HS_ETCD_POOL_MAX]; /* idle CURL easy handles (pool_mu) */
    size_t n_pool;                /* (pool_mu) */
};

enum hs_etcd_retry {
    HS_ETCD_IDEMPOTENT, /* retry on any transport error or 5xx */
    HS_ETCD_ONCE,       /* retry only when the request was certainly not sent */
};

struct hs_etcd_call {
    const char *path; /* "/v3/kv/range" */
    json_t *body;     /* borrowed */
    enum hs_etcd_retry retry;
    int64_t timeout_ms;           /* 0 = client's */
    int endpoint;                 /* -1 = any with failover, else only this endpoint */
    const struct hs_stop *cancel; /* may be NULL */
    bool keep_conn; /* with cancel: keep the pooled kept-alive connection and notice cancel
                     * within ~1 s (curl's progress callback) instead of ~100 ms */
};

/* Performs the call; on HS_OK reply holds the 200 body. Logs failures (rate-limited). */
enum hs_err hs_etcd_request(struct hs_etcd *e, const struct hs_etcd_call *c, struct hs_buf *reply);
/* One libcurl POST (the default transport), cancellable through *cancel: on a fresh connection
 * polled every 100 ms, or with keep_conn on a pooled one checked about once a second. */
enum hs_err hs_etcd_curl_post(struct hs_etcd *e, const char *endpoint, const char *path,
                              const char *body, size_t body_len, int64_t timeout_ms,
                              const struct hs_stop *cancel, bool keep_conn, struct hs_buf *reply,
                              long *status);
/* Logs evt=etcd_request_failed at most a few times per second per client. */
void hs_etcd_log_failure(struct hs_etcd *e, const char *endpoint, const char *path, enum hs_err err,
                         long status, const char *msg);

#endif
