/* fake_grpc.h - a tiny in-process gRPC server for the etcd client's unit tests: nghttp2's
 * server side on 127.0.0.1 with an ephemeral port, one thread. Each call's first request
 * message goes to a handler that scripts the reply: messages (split into DATA frames of any
 * size, or several in one frame), status in trailers or Trailers-Only, a delay, no answer at
 * all, a GOAWAY that refuses the stream, closing the connection, or keeping a stream open. */
#ifndef HS_TEST_FAKE_GRPC_H
#define HS_TEST_FAKE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/buf.h"
#include "meta/etcd_int.h"

enum fake_action {
    FAKE_REPLY,       /* out, then grpc-status in trailers (or Trailers-Only) */
    FAKE_HOLD,        /* never answer */
    FAKE_CLOSE,       /* send headers and out (maybe a partial message), then close the socket */
    FAKE_GOAWAY,      /* GOAWAY with a last stream id below this one: the stream is refused */
    FAKE_KEEP_OPEN,   /* send out and leave the stream open (a watch) */
    FAKE_REPLY_CLOSE, /* as FAKE_REPLY, then close the connection 300 ms later (idle by then) */
};

struct fake_grpc_call {
    /* request */
    const char *path;
    const uint8_t *req; /* the first request message (protobuf bytes) */
    size_t req_len;
    int64_t timeout_ms; /* from grpc-timeout; -1 when absent */
    bool has_leader;    /* "hasleader: true" metadata */
    int endpoint;       /* index of the fake server (fake_grpc_start order) */
    bool follow_up;     /* a later request on a stream kept open: only out is used */
    /* reply (zero = one FAKE_REPLY with status 0 and no messages) */
    enum fake_action action;
    struct hs_buf out; /* framed messages: fake_grpc_add or raw bytes */
    int status;
    char message[128];
    bool trailers_only;
    size_t frame_bytes; /* largest DATA frame payload; 0 = as large as nghttp2 allows */
    int64_t delay_ms;
};

/* Runs on the server thread. */
typedef void fake_grpc_fn(void *ctx, struct fake_grpc_call *call);

struct fake_grpc;
/* Starts a server; endpoint is the index the handler sees. Aborts the test on failure. */
struct fake_grpc *fake_grpc_start(int endpoint, fake_grpc_fn *fn, void *ctx);
int fake_grpc_port(const struct fake_grpc *g);
/* Connections accepted so far. */
int fake_grpc_connections(struct fake_grpc *g);
/* Connections the server closed so far. */
int fake_grpc_closed(struct fake_grpc *g);
void fake_grpc_stop(struct fake_grpc *g);
/* Appends one framed message to the reply. */
void fake_grpc_add(struct fake_grpc_call *call, const ProtobufCMessage *msg);

#endif
