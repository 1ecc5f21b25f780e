/* http_int.h - private to src/http: the per-request struct shared by server.c (life cycle)
 * and response.c (building responses), and small helpers. */
#ifndef HS_HTTP_INT_H
#define HS_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs/http_server.h"

#define HS_HTTP_REQ_ID_MAX 64 /* longest client X-Request-Id we keep */

struct MHD_Connection;
struct MHD_Response;

struct http_hdr {
    struct http_hdr *next;
    const char *name;  /* arena */
    const char *value; /* arena */
};

/* One request. Touched by one thread at a time: the pool thread that owns the connection, or
 * the thread answering a suspended request (hand-off through MHD_resume_connection). */
struct hs_http_req {
    void *srv_ctx; /* hs_http_server_opts.ctx */
    struct MHD_Connection *conn;
    struct hs_arena *arena; /* freed in the request-completed callback */
    const struct hs_http_route *route;
    const char *method; /* "GET" for HEAD requests too */
    const char *path;   /* arena copy of the decoded path */
    const char *rest;   /* suffix after a PREFIX route's path */
    bool is_head;
    char request_id[HS_HTTP_REQ_ID_MAX + 1];
    int64_t start_ns;          /* monotonic, for the log line */
    void *ctx;                 /* handler state */
    struct http_hdr *headers;  /* extra response headers, newest first */
    struct MHD_Response *resp; /* built, not yet queued */
    unsigned status;           /* of resp */
    bool responded;            /* a response was built */
    bool queued;               /* handed to MHD */
    bool suspended;            /* MHD_suspend_connection called in this callback */
    bool done_called;          /* route.done ran */
    enum hs_err body_err;      /* first error from route.body */
    int64_t bytes_in;          /* request body bytes received */
    int64_t bytes_out;         /* body bytes of a buffer/fd response (its length) */
    int64_t streamed_out;      /* body bytes a callback response produced so far */
    bool streamed;             /* the response is a callback: streamed_out counts */
};

/* 16 lower-case hex digits into buf (>= 17 bytes): unique enough to tell requests apart in
 * logs, not secret (a per-thread generator seeded from getrandom). */
void hs_http_mint_request_id(char *buf, size_t buflen);

#endif
