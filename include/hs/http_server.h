/* http_server.h - HTTP server glue over libmicrohttpd (internal thread pool, level-triggered poll):
 * one route table per server, a per-request arena, streaming request bodies, responses from a
 * buffer, an fd (zero-copy) or a callback, JSON errors with X-Request-Id, graceful stop. Holds no
 * storage or authentication logic: daemons plug those in through handlers and the guard hook.
 *
 * Request life cycle (all callbacks run on one of the server's pool threads):
 *   1. headers received: the route is found (404 / 405 otherwise), the arena and request id are
 *      made, opts.guard runs (unless the route is HS_HTTP_ROUTE_PUBLIC), then route.start.
 *      Responding here rejects the request before its body is read: a declared body of up to
 *      64 KiB is read and dropped first (the connection stays open); a larger or chunked one is
 *      never read and libmicrohttpd closes the connection after the response. A handler may
 *      also respond from route.body; later chunks are then dropped and the response is sent
 *      once the body is complete.
 *   2. route.body per chunk of the request body as it arrives (never buffered by the glue).
 *      A non-OK return records the error: later chunks are discarded, and unless the handler
 *      responded itself, the error is answered as JSON once the body is complete.
 *   3. route.done once the body is complete: the handler responds, or suspends and responds
 *      later from any thread (hs_http_resume).
 *   4. the arena is freed after the response was sent or the connection died (client gone,
 *      timeout): deferred cleanups registered with hs_arena_defer run then, on every path.
 *
 * Request hygiene, before any route or guard runs: a request target holding an encoded NUL
 * ("%00", in the path or the query) gets 400 EINVAL, as does a request with Content-Length
 * headers that disagree (answered without reading the body, connection closed). A connection
 * must deliver complete request headers within header_timeout_s of its accept (and a kept-alive
 * one within connection_timeout_s of its previous request's end), else it is closed; once the
 * headers are in, only the idle timeout applies (a slow upload that keeps moving is never cut).
 *
 * Error body: {"error":"<hs_err name>","message":"...","request_id":"..."} with the headers
 * X-Request-Id and X-HS-Error: <hs_err name>. Every response carries X-Request-Id: the client's
 * own (if it sent a sane one) or a new 16-hex-digit id. */
#ifndef HS_HTTP_SERVER_H
#define HS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hs/arena.h"
#include "hs/err.h"

struct hs_http_server;
struct hs_http_req;

/* Each returns nothing: it either responds (hs_http_respond_*), suspends, or (start only)
 * lets the request go on. A handler that returns from done without responding or suspending
 * is a bug: the glue answers 500 EIO and logs evt=http_no_response. */
typedef void hs_http_handler_fn(struct hs_http_req *r);
/* One chunk of the request body; data is valid only during the call. */
typedef enum hs_err hs_http_body_fn(struct hs_http_req *r, const void *data, size_t n);
/* Pluggable authentication: return true to let the request go on, or respond (typically 401)
 * and return false. */
typedef bool hs_http_guard_fn(struct hs_http_req *r);

enum hs_http_match {
    HS_HTTP_EXACT = 0, /* path equals the route path */
    HS_HTTP_PREFIX,    /* path starts with the route path; the rest is hs_http_req_rest() */
};

enum {
    HS_HTTP_ROUTE_PUBLIC = 1u << 0, /* skip opts.guard (health checks) */
};

struct hs_http_route {
    const char *method;        /* "GET", "PUT", ...; HEAD requests also match a GET route */
    const char *path;          /* "/v1/blobs/" */
    enum hs_http_match match;  /* how path is compared */
    unsigned flags;            /* HS_HTTP_ROUTE_* */
    hs_http_handler_fn *start; /* may be NULL: headers are in, body not read yet */
    hs_http_body_fn *body;     /* may be NULL: the body is then discarded */
    hs_http_handler_fn *done;  /* required: body complete, respond now or suspend */
};

/* Called once per request when it is over (response sent, or the connection died), on the pool
 * thread that served it, after the handlers and before the arena is freed; must not block.
 * ctx is opts.ctx. method is "HEAD" for HEAD requests (hs_http_req_method says "GET"); route is
 * the matched route table's path ("/v1/objects/"), NULL when no route matched (404, 405);
 * status is the response's status, 0 when none was queued (client gone before the answer);
 * duration_us runs from the first header callback to completion; bytes_in counts request body
 * bytes received, bytes_out response body bytes handed to the connection (0 for HEAD, and 0
 * when the connection died before a buffer or fd response was complete). */
typedef void hs_http_complete_fn(void *ctx, const char *method, const char *route, unsigned status,
                                 int64_t duration_us, int64_t bytes_in, int64_t bytes_out);

struct hs_http_server_opts {
    const char *host;                   /* IPv4 literal to bind; NULL = "127.0.0.1" */
    uint16_t port;                      /* 0 = any free port (see hs_http_server_port) */
    unsigned threads;                   /* pool threads; 0 = number of online CPUs */
    unsigned connection_limit;          /* 0 = 1024 */
    unsigned connection_timeout_s;      /* idle/stalled connection is dropped; 0 = 60 */
    unsigned header_timeout_s;          /* request headers complete within; 0 = 10 (see below) */
    size_t connection_memory_bytes;     /* per connection, also the read buffer; 0 = 256 KiB */
    const struct hs_http_route *routes; /* borrowed for the server's life */
    size_t n_routes;
    hs_http_guard_fn *guard;          /* NULL = every route is public */
    void *ctx;                        /* handed to handlers via hs_http_req_server_ctx */
    hs_http_complete_fn *on_complete; /* NULL = none; metrics, access logs */
};

/* Binds and starts serving. HS_EINVAL bad host, HS_EIO bind/listen/daemon failure (logged with
 * errno). *out owned by the caller (hs_http_server_stop). */
enum hs_err hs_http_server_start(const struct hs_http_server_opts *opts,
                                 struct hs_http_server **out);
/* The bound port (useful with opts.port = 0). */
uint16_t hs_http_server_port(const struct hs_http_server *s);
/* Requests between their first byte and their completion, right now. Thread-safe. */
int64_t hs_http_server_in_flight(const struct hs_http_server *s);
/* Graceful stop, then free: stops accepting (the listening socket is closed at once), waits up
 * to drain_timeout_ms for in-flight requests, then closes every connection. Suspended requests
 * must have been resumed by their owners before the drain ends. Blocks. NULL is fine. Returns
 * the number of requests still in flight when it gave up waiting (0 = clean). */
int64_t hs_http_server_stop(struct hs_http_server *s, int64_t drain_timeout_ms);

/* ---- request accessors: valid on the request's own callbacks (and between suspend and the
 * response). Returned strings are borrowed until the request completes. ---- */
struct hs_arena *hs_http_req_arena(struct hs_http_req *r);
void *hs_http_req_server_ctx(const struct hs_http_req *r);
/* Handler state, NULL until set. Owned by the handler (free it with an arena defer). */
void *hs_http_req_ctx(const struct hs_http_req *r);
void hs_http_req_set_ctx(struct hs_http_req *r, void *ctx);
const char *hs_http_req_method(const struct hs_http_req *r); /* "GET" (also for HEAD: see below) */
bool hs_http_req_is_head(const struct hs_http_req *r);
const char *hs_http_req_path(const struct hs_http_req *r); /* percent-decoded, no query */
const char *hs_http_req_rest(const struct hs_http_req *r); /* path after a PREFIX route's path */
/* The request target exactly as sent (path and query, not decoded): what SigV4 signs. */
const char *hs_http_req_target(const struct hs_http_req *r);
/* The route opts.on_complete reports for this request instead of the route table's path (a
 * dispatcher behind one catch-all route names what it dispatched to). label must outlive the
 * request (a string literal or a table entry). */
void hs_http_req_set_route_label(struct hs_http_req *r, const char *label);
const char *hs_http_req_id(const struct hs_http_req *r); /* request id, for logs (req=) */
/* Header (case-insensitive) or NULL. */
const char *hs_http_req_header(const struct hs_http_req *r, const char *name);
/* Calls fn for every request header in the order received (repeated names: each), until it
 * returns false. name and value are borrowed for the call. */
typedef bool hs_http_header_fn(void *ctx, const char *name, const char *value);
void hs_http_req_headers_each(const struct hs_http_req *r, hs_http_header_fn *fn, void *ctx);
/* Query argument (decoded) or NULL; "?a" gives "" for a. */
const char *hs_http_req_query(const struct hs_http_req *r, const char *name);
/* Content-Length when the client declared one (false for chunked or absent). */
bool hs_http_req_content_length(const struct hs_http_req *r, int64_t *len_out);
/* True when the request says "Authorization: Bearer <secret>"; compares in constant time (for
 * a given secret length). */
bool hs_http_req_bearer_matches(const struct hs_http_req *r, const char *secret);

/* ---- Range requests (RFC 9110 §14): one "bytes=" range. ---- */
struct hs_http_range {
    int64_t first;  /* first byte; -1 for a suffix range */
    int64_t last;   /* last byte (inclusive); -1 = to the end */
    int64_t suffix; /* suffix ranges ("-n"): n, else -1 */
};
/* Parses a Range header value ("bytes=a-b", "bytes=a-", "bytes=-n", spaces allowed around the
 * numbers). false (out untouched) for NULL, another unit, several ranges or bad syntax: a server
 * may ignore a Range header it does not understand and serve the whole representation. */
bool hs_http_range_parse(const char *header, struct hs_http_range *out);
/* The bytes [*off_out, *off_out + *len_out) the range selects in a representation of size
 * bytes (a last past the end is clamped); false when it is unsatisfiable (first >= size,
 * "-0", or size 0): answer 416 with the unsatisfied Content-Range form ("bytes", a space, a
 * star, a slash, the size). Outs untouched then. */
bool hs_http_range_resolve(const struct hs_http_range *r, int64_t size, int64_t *off_out,
                           int64_t *len_out);

/* ---- responses: exactly one per request. Thread-safe with respect to the pool (may be
 * called from another thread while the request is suspended, before hs_http_resume). ---- */
/* Adds a response header (copied). Call before the respond_* call. */
void hs_http_add_header(struct hs_http_req *r, const char *name, const char *value);
/* Copies data. content_type may be NULL. */
void hs_http_respond_buf(struct hs_http_req *r, unsigned status, const char *content_type,
                         const void *data, size_t len);
/* Takes ownership of data (malloc/aligned-alloc memory, freed with free()). */
void hs_http_respond_take(struct hs_http_req *r, unsigned status, const char *content_type,
                          void *data, size_t len);
/* Zero-copy: sends len bytes of fd from offset; takes ownership of fd (closed on completion,
 * also on failure). For HEAD only the headers (with Content-Length: len) are sent. */
void hs_http_respond_fd(struct hs_http_req *r, unsigned status, const char *content_type, int fd,
                        int64_t offset, int64_t len);
/* Streaming response: read fills buf with up to max bytes of the body at pos and returns the
 * count, HS_HTTP_READ_END at the end, HS_HTTP_READ_ERROR to abort the connection. total_len
 * -1 = unknown (chunked). free_fn(ctx) runs when the response is done (may be NULL). */
#define HS_HTTP_READ_END   ((ssize_t)-1)
#define HS_HTTP_READ_ERROR ((ssize_t)-2)
typedef ssize_t hs_http_read_fn(void *ctx, uint64_t pos, char *buf, size_t max);
void hs_http_respond_callback(struct hs_http_req *r, unsigned status, const char *content_type,
                              int64_t total_len, hs_http_read_fn *read, void *ctx,
                              void (*free_fn)(void *ctx));
/* The JSON error body described at the top, with HTTP status hs_err_http_status(err). */
void hs_http_respond_error(struct hs_http_req *r, enum hs_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same with an explicit HTTP status (e.g. 400 for a client's CRC mismatch, 411, 405). */
void hs_http_respond_error_status(struct hs_http_req *r, unsigned status, enum hs_err err,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* True once a response has been given for this request. */
bool hs_http_responded(const struct hs_http_req *r);

/* Suspend the request after the current callback returns (its connection stops being served,
 * the current body chunk counts as consumed). While suspended, the connection does not time out
 * and a client disconnect goes unnoticed (libmicrohttpd), so the owner must bound the wait. Some
 * thread must later respond (done phase) or just resume (body phase: the next chunk arrives), then
 * call hs_http_resume exactly once. */
void hs_http_suspend(struct hs_http_req *r);
void hs_http_resume(struct hs_http_req *r);

#endif
