/* client.h - what the object commands of the CLI (put, get, rm, ls, stat, status, config) share:
 * one kept-alive libcurl handle to a gateway, requests whose bodies stream from and to files
 * (never buffered whole), a progress bar on stderr for large transfers on a terminal, the
 * gateway URL and secret resolution, and the mapping from HTTP answers to exit codes and
 * messages. Not thread-safe: one struct hs_cli per thread. */
#ifndef HS_CLI_CLIENT_H
#define HS_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hs/buf.h"
#include "hs/err.h"

/* Exit codes of the object commands (documented in --help and docs/cli.md). */
enum {
    HS_CLI_EXIT_OK = 0,
    HS_CLI_EXIT_ERROR = 1,     /* server or network error, or any other refusal */
    HS_CLI_EXIT_USAGE = 2,     /* bad arguments */
    HS_CLI_EXIT_NOT_FOUND = 3, /* 404 */
    HS_CLI_EXIT_CONFLICT = 4,  /* 409 or 412 */
};

#define HS_CLI_DEFAULT_URL    "http://127.0.0.1:8000"
#define HS_CLI_PROGRESS_BYTES ((int64_t)4 << 20) /* progress bar from this size on */
#define HS_CLI_EXIT_HELP                                                                           \
    "exit codes: 0 ok, 1 server or network error, 2 usage, 3 not found (404), 4 precondition "     \
    "failed or conflict (409, 412)"

struct hs_cli;

/* base_url: the gateway ("http://127.0.0.1:8000"; a trailing '/' is dropped); secret may be
 * NULL (sent as "Authorization: Bearer <secret>" otherwise). timeout_ms 0 = none (transfers
 * of any size); connecting is bounded to 5 s either way. */
struct hs_cli *hs_cli_new(const char *base_url, const char *secret, int64_t timeout_ms);
void hs_cli_free(struct hs_cli *c);

struct hs_cli_req {
    const char *method;         /* "GET", "PUT", ... */
    const char *path;           /* escaped path and query: "/v1/objects/a%20b?x=1" */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
    const void *body;           /* request body in memory, or NULL */
    size_t body_len;
    FILE *body_file;       /* request body streamed from here (when body is NULL) */
    int64_t body_file_len; /* its length, -1 = unknown (chunked) */
    FILE *out;             /* 2xx response body streamed here; NULL = into resp.body */
    bool head;             /* no response body expected */
};

struct hs_cli_resp {
    long status;          /* HTTP status; 0 when no answer came */
    struct hs_buf body;   /* the body unless streamed to req.out (error bodies always here) */
    int64_t body_bytes;   /* bytes of the body, wherever it went */
    char etag[160];       /* ETag header, quotes kept */
    char request_id[80];  /* X-Request-Id header */
    char curl_error[256]; /* what went wrong below HTTP (connect, timeout, local I/O) */
};

void hs_cli_resp_init(struct hs_cli_resp *r);
void hs_cli_resp_release(struct hs_cli_resp *r);

/* Runs one request. HS_OK when an HTTP answer came (of any status: see resp->status); HS_EIO
 * when writing req.out failed, HS_EUNAVAIL / HS_ETIMEDOUT for network trouble (resp->curl_error
 * says what). Error bodies (status >= 300) are kept in resp->body, capped at 1 MiB, and never
 * written to req.out. */
enum hs_err hs_cli_do(struct hs_cli *c, const struct hs_cli_req *req, struct hs_cli_resp *resp);

/* Exit code for an answer: 2xx -> 0, 404 -> 3, 409/412 -> 4, anything else -> 1. */
int hs_cli_exit_for_status(long status);
/* Prints "hybridstore <cmd>: <what>: <message> (HTTP <status> <code>)" to stderr, taking the
 * message from a JSON error body when there is one, and returns hs_cli_exit_for_status (or 1
 * for err != HS_OK, a request that got no answer). */
int hs_cli_fail(const char *cmd, const char *what, enum hs_err err, const struct hs_cli_resp *r);

/* Appends s percent-encoded to b: unreserved characters (RFC 3986) are kept, and so is '/'
 * when keep_slash (object keys keep their "directories" readable in logs). */
void hs_cli_escape(struct hs_buf *b, const char *s, bool keep_slash);

/* The gateway URL: flag (may be NULL) else $HYBRIDSTORE_URL else HS_CLI_DEFAULT_URL. */
const char *hs_cli_url(const char *flag);
/* Reads the cluster secret from path (flag), else $HS_SECRET_FILE, else ./data/secret; trimmed.
 * Heap string (free()), or NULL with a message on stderr. */
char *hs_cli_read_secret(const char *cmd, const char *path);

/* `stat KEY` of a field_hybrid object (cmd_layout.c): prints each top-level field's part from
 * the manifest's order record (JSON text) and whether the object's split differs from the one
 * its collection's layout (record in etcd at `etcd`, default hot set) gives a new write. */
void hs_cli_layout_stat(const char *key, const char *order_json, const char *etcd);

/* Prints "hybridstore GROUP CMD: message" and a newline to stderr (GROUP: the command group,
 * "debug" or "layout"; CMD its subcommand). */
void hs_cli_say(const char *group, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An etcd client of the --etcd endpoints (hs_etcd_free it); NULL, said as "bad --etcd", when
 * they are missing or malformed. */
struct hs_etcd;
struct hs_etcd *hs_cli_open_etcd(const char *group, const char *cmd, const char *endpoints);

#endif
