/* etcd_int.h - private pieces of the etcd client shared by src/meta/etcd*.c, the unit tests and
 * the fuzz target: the gRPC transport (etcd_grpc.c), reply decoders (etcd_codec.c: protobuf
 * bytes in, C values out), the watch state machine (etcd_stream.c) and the request layer with
 * failover (etcd_client.c). Messages are generated from etcd.proto by protoc-c at build time. */
#ifndef HS_META_ETCD_INT_H
#define HS_META_ETCD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.pb-c.h"
#include "hs/buf.h"
#include "hs/err.h"
#include "hs/etcd.h"

#define HS_ETCD_REPLY_MAX_BYTES (64u << 20) /* a reply message larger than this: EPROTO */

/* gRPC method paths (service names are etcd's, whatever our .proto package is called). */
#define HS_ETCD_RANGE     "/etcdserverpb.KV/Range"
#define HS_ETCD_PUT       "/etcdserverpb.KV/Put"
#define HS_ETCD_DELETE    "/etcdserverpb.KV/DeleteRange"
#define HS_ETCD_TXN       "/etcdserverpb.KV/Txn"
#define HS_ETCD_WATCH     "/etcdserverpb.Watch/Watch"
#define HS_ETCD_GRANT     "/etcdserverpb.Lease/LeaseGrant"
#define HS_ETCD_REVOKE    "/etcdserverpb.Lease/LeaseRevoke"
#define HS_ETCD_KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"
#define HS_ETCD_CAMPAIGN  "/v3electionpb.Election/Campaign"
#define HS_ETCD_LEADER    "/v3electionpb.Election/Leader"
#define HS_ETCD_RESIGN    "/v3electionpb.Election/Resign"

/* ---- gRPC transport (etcd_grpc.c) ---------------------------------------------------------
 * One struct hs_grpc_ep per endpoint holds its HTTP/2 connection(s); thread-safe. */
struct hs_grpc_ep;
/* url "http://host:port" (no TLS). HS_EINVAL when it cannot be split. */
enum hs_err hs_grpc_ep_new(const char *url, int64_t connect_timeout_ms, struct hs_grpc_ep **out);
/* Closes the connections (calls still waiting fail) and joins their threads. NULL is fine. */
void hs_grpc_ep_free(struct hs_grpc_ep *ep);
/* Appends req as one uncompressed gRPC message (5-byte prefix + protobuf) to out. */
void hs_grpc_frame(struct hs_buf *out, const ProtobufCMessage *req);
/* One unary call with a deadline (sent as grpc-timeout) and an optional cancel flag (checked
 * every 100 ms; the stream is reset). HS_OK: *status is the gRPC status (msg its message) and,
 * for status 0, reply holds the one reply message. Otherwise a transport error: HS_EUNAVAIL
 * when the request was certainly not processed (connect failed, refused stream), HS_ETIMEDOUT
 * when it may have been (deadline, cancel, connection lost), HS_EPROTO on bad framing. */
enum hs_err hs_grpc_unary(struct hs_grpc_ep *ep, const char *path, const ProtobufCMessage *req,
                          int64_t timeout_ms, const struct hs_stop *cancel, struct hs_buf *reply,
                          int *status, char *msg, size_t msg_len);
/* A stream opened with one request message and left open (etcd ends a watch when the client
 * resets it; more requests may follow with hs_grpc_stream_send). require_leader sends the
 * "hasleader" metadata. */
struct hs_grpc_stream;
enum hs_err hs_grpc_stream_open(struct hs_grpc_ep *ep, const char *path,
                                const ProtobufCMessage *first, bool require_leader,
                                struct hs_grpc_stream **out);
/* The next message into msg (HS_OK), HS_ETIMEDOUT when none came within wait_ms, HS_EPROTO on
 * bad framing. When the stream is over, *ended = true and the result is as for hs_grpc_unary's
 * status (HS_OK with *status) or its transport error. */
enum hs_err hs_grpc_stream_next(struct hs_grpc_stream *s, int64_t wait_ms, struct hs_buf *msg,
                                bool *ended, int *status, char *text, size_t text_len);
/* Sends one more request message on an open stream. HS_EUNAVAIL when the stream is over. */
enum hs_err hs_grpc_stream_send(struct hs_grpc_stream *s, const ProtobufCMessage *msg);
/* Resets the stream if open and frees s. NULL is fine. */
void hs_grpc_stream_close(struct hs_grpc_stream *s);

/* ---- key ranges -------------------------------------------------------------------------- */
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

/* ---- reply decoders (etcd_codec.c) --------------------------------------------------------
 * Each takes one reply message's bytes; HS_EPROTO when it does not decode. proto3 leaves zero
 * values off the wire: they read as 0/false/empty. out is untouched on error. */
enum hs_err hs_etcd_kv_from_pb(const Hsetcd__KeyValue *pb, struct hs_etcd_kv *out);
enum hs_err hs_etcd_decode_range(const uint8_t *msg, size_t len, struct hs_etcd_kvs *out);
/* The TxnResponse for txn (the op types of the branch that ran pick the range results). */
enum hs_err hs_etcd_decode_txn(const uint8_t *msg, size_t len, const struct hs_etcd_txn *txn,
                               struct hs_etcd_txn_result *out);
/* header.revision of a Put/DeleteRange reply, and DeleteRange's deleted count. */
enum hs_err hs_etcd_decode_put(const uint8_t *msg, size_t len, int64_t *revision);
enum hs_err hs_etcd_decode_delete(const uint8_t *msg, size_t len, int64_t *deleted);
/* LeaseGrantResponse: ID and TTL; an error text -> HS_EUNAVAIL; no ID or TTL -> HS_EPROTO. */
enum hs_err hs_etcd_decode_grant(const uint8_t *msg, size_t len, int64_t *id, int64_t *ttl);
/* LeaseKeepAliveResponse: TTL <= 0 (the lease is gone) -> HS_ENOENT. */
enum hs_err hs_etcd_decode_keepalive(const uint8_t *msg, size_t len, int64_t *ttl);
/* Election campaign reply: the leader key. */
enum hs_err hs_etcd_decode_campaign(const uint8_t *msg, size_t len, struct hs_etcd_leader *out);
/* Election leader reply: the kv. No kv -> HS_ENOENT. */
enum hs_err hs_etcd_decode_leader(const uint8_t *msg, size_t len, struct hs_etcd_kv *out);

/* Our error for a gRPC status code and message (etcd's texts pick some: "lease not found",
 * "has been compacted", "election: no leader" ...). *retry says whether another endpoint may
 * answer differently. */
enum hs_err hs_etcd_map_grpc(int code, const char *msg, bool *retry);

/* ---- watch stream (etcd_stream.c) --------------------------------------------------------- */
enum hs_etcd_watch_msg_kind {
    HS_ETCD_WMSG_CREATED,   /* watch established */
    HS_ETCD_WMSG_EVENTS,    /* one or more events */
    HS_ETCD_WMSG_PROGRESS,  /* header only: all events up to revision were sent */
    HS_ETCD_WMSG_COMPACTED, /* canceled because start revision < compact_revision */
    HS_ETCD_WMSG_CANCELED,  /* canceled for another reason (reconnect) */
};

struct hs_etcd_watch_msg {
    enum hs_etcd_watch_msg_kind kind;
    int64_t revision;             /* header revision */
    int64_t compact_revision;     /* COMPACTED */
    struct hs_etcd_event *events; /* heap array, EVENTS */
    size_t n_events;
    char message[128]; /* cancel reason */
};
/* Decodes one WatchResponse message. HS_EPROTO when it does not decode. */
enum hs_err hs_etcd_decode_watch(const uint8_t *msg, size_t len, struct hs_etcd_watch_msg *out);
void hs_etcd_watch_msg_release(struct hs_etcd_watch_msg *m);

/* The per-stream state of a watch: what to resume from and what the last message meant. */
struct hs_etcd_watch_state {
    int64_t next_rev;     /* start revision of the next stream; 0 = now */
    bool created;         /* the current stream is established */
    bool must_reconnect;  /* the server ended this watch (cancel/compaction) */
    enum hs_err last_err; /* why must_reconnect (HS_OK for compaction) */
    hs_etcd_watch_fn *fn;
    void *ctx;
};
void hs_etcd_watch_state_init(struct hs_etcd_watch_state *s, int64_t start_rev,
                              hs_etcd_watch_fn *fn, void *ctx);
/* Starts a new stream: forget the created flag. */
void hs_etcd_watch_state_reset_conn(struct hs_etcd_watch_state *s);
/* Feeds one WatchResponse message: delivers events to fn and advances next_rev. An error
 * (undecodable message) means the stream must be dropped and reopened from next_rev. */
enum hs_err hs_etcd_watch_state_feed(struct hs_etcd_watch_state *s, const uint8_t *msg, size_t len);

/* ---- client and request layer (etcd_client.c) -------------------------------------------- */
struct hs_etcd {
    char **endpoints;        /* "http://host:port" without trailing '/' (immutable) */
    struct hs_grpc_ep **eps; /* one per endpoint (immutable pointers) */
    size_t n_endpoints;
    int64_t timeout_ms;         /* per attempt (immutable) */
    int64_t connect_timeout_ms; /* (immutable) */
    atomic_size_t preferred;    /* endpoint index to try first */
    atomic_llong log_last_ms;   /* rate limit of failure warnings */
    atomic_llong log_suppressed;
};

enum hs_etcd_retry {
    HS_ETCD_IDEMPOTENT, /* retry on any transport error or unavailable status */
    HS_ETCD_ONCE,       /* retry only when the request was certainly not processed */
};

struct hs_etcd_call {
    const char *path;            /* HS_ETCD_RANGE ... */
    const ProtobufCMessage *req; /* borrowed */
    enum hs_etcd_retry retry;
    int64_t timeout_ms;           /* 0 = client's */
    int endpoint;                 /* -1 = any with failover, else only this endpoint */
    const struct hs_stop *cancel; /* may be NULL */
    /* a call that waits for an event and is renewed at its deadline (a blocked campaign):
     * reaching the deadline is the normal case, not logged as a failure */
    bool long_poll;
};

/* Performs the call; on HS_OK reply holds the reply message. Logs failures (rate-limited). */
enum hs_err hs_etcd_request(struct hs_etcd *e, const struct hs_etcd_call *c, struct hs_buf *reply);
/* Logs evt=etcd_request_failed at most a few times per second per client. */
void hs_etcd_log_failure(struct hs_etcd *e, const char *endpoint, const char *path, enum hs_err err,
                         int status, const char *msg);

#endif
