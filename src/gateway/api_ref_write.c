/* api_ref_write.c - the reference API's writes, with the reference's status codes and bodies
 * (docs/api.md): POST /write?key=K&strategy=S[&hot_only=true] with a JSON object body, and
 * DELETE /delete/<key>. The body is read whole (it must be validated as one JSON object before
 * anything is written) and handed to the object layer without another copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/split.h"
#include "hs/banned.h"

struct ref_write {
    struct hs_gw *gw;
    struct hs_buf body;              /* the whole document, at most doc_max bytes */
    struct hs_gw_budget_hold budget; /* body-buffer-budget held for body */
    int64_t declared;                /* Content-Length, or -1 */
    const char *key;                 /* borrowed from the request */
    enum hs_strategy strategy;
    bool hot_only;
    int64_t t0_ns;
};

static void ref_write_free(void *p)
{
    struct ref_write *w = p;
    hs_buf_release(&w->body);
    hs_gw_body_release(w->gw, &w->budget); /* after the free: it may trim the heap */
}

/* {"error":error[,"detail":detail]} with status. */
static void respond_ref_error(struct hs_http_req *r, unsigned status, const char *error,
                              const char *detail)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, "{\"error\":", 9);
    hs_gw_json_cstr(&b, error);
    if (detail && *detail) {
        (void)hs_buf_append(&b, ",\"detail\":", 10);
        hs_gw_json_cstr(&b, detail);
    }
    (void)hs_buf_append(&b, "}", 1);
    hs_gw_respond_json(r, status, &b);
}

static void respond_write_error(struct hs_http_req *r, enum hs_err err, const char *msg);

static bool flag_true(const char *v)
{
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void hs_gw_ref_write_start(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = hs_http_req_query(r, "key");
    const char *strategy = hs_http_req_query(r, "strategy");
    enum hs_strategy s = HS_STRATEGY_REPLICATION;
    if (!key || !*key) {
        respond_ref_error(r, 400, "Missing key", "query parameter 'key' is required");
        return;
    }
    if (strategy && !hs_strategy_parse(strategy, &s)) {
        respond_ref_error(r, 422, "Invalid strategy", NULL);
        return;
    }
    if (!hs_gw_ctype_is(hs_http_req_header(r, "Content-Type"), "application/json")) {
        respond_ref_error(r, 415, "Invalid Content-Type", "Must be application/json");
        return;
    }
    int64_t declared = -1;
    int64_t max = hs_gw_opts(srv->gw)->doc_max_bytes;
    if (hs_http_req_content_length(r, &declared) && declared > max) {
        respond_ref_error(r, 413, "Body too large", "the document is larger than doc-max-size");
        return;
    }
    char msg[256];
    enum hs_err err = hs_gw_body_admit(srv->gw, declared, msg, sizeof msg);
    if (err != HS_OK) {
        respond_write_error(r, err, msg);
        return;
    }
    struct hs_arena *a = hs_http_req_arena(r);
    struct ref_write *w = hs_arena_alloc(a, sizeof *w);
    w->gw = srv->gw;
    w->declared = declared;
    hs_buf_init(&w->body, (size_t)max);
    hs_arena_defer(a, ref_write_free, w);
    w->key = key;
    w->strategy = s;
    w->hot_only = flag_true(hs_http_req_query(r, "hot_only"));
    w->t0_ns = hs_clock_mono_ns();
    hs_http_req_set_ctx(r, w);
}

enum hs_err hs_gw_ref_write_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct ref_write *w = hs_http_req_ctx(r);
    if (w->body.len + n > w->body.max_bytes) {
        respond_ref_error(r, 413, "Body too large", "the document is larger than doc-max-size");
        return HS_ETOOBIG;
    }
    char msg[256];
    enum hs_err err = hs_gw_body_grow(w->gw, &w->budget, (int64_t)(w->body.len + n), w->declared,
                                      msg, sizeof msg);
    if (err != HS_OK) {
        /* the rest of the body is discarded: give its memory and budget back now */
        hs_buf_release(&w->body);
        hs_gw_body_release(w->gw, &w->budget);
        respond_write_error(r, err, msg);
        return err;
    }
    if (hs_buf_append(&w->body, data, n) != HS_OK)
        HS_BUG("document buffer refused %zu bytes", n);
    return HS_OK;
}

/* True for a body that is exactly {} (white space allowed). */
static bool empty_object(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && strchr(" \t\r\n", p[i]) && p[i])
        i++;
    if (i == n || p[i++] != '{')
        return false;
    while (i < n && strchr(" \t\r\n", p[i]) && p[i])
        i++;
    if (i == n || p[i++] != '}')
        return false;
    while (i < n && strchr(" \t\r\n", p[i]) && p[i])
        i++;
    return i == n;
}

static void append_urls(struct hs_buf *b, const char *name, const struct hs_obj_put_result *res)
{
    (void)hs_buf_printf(b, ",\"%s\":[", name);
    for (size_t i = 0; i < res->n_nodes_written; i++) {
        if (i)
            (void)hs_buf_append(b, ",", 1);
        hs_gw_json_cstr(b, res->nodes_written[i]);
    }
    (void)hs_buf_append(b, "]", 1);
}

static void respond_written(struct hs_http_req *r, const struct ref_write *w,
                            const struct hs_obj_put_result *res)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, "{\"status\":\"ok\",\"key\":", 21);
    hs_gw_json_cstr(&b, w->key);
    (void)hs_buf_printf(&b, ",\"strategy\":\"%s\",\"latency_ms\":%.3f",
                        hs_strategy_name(res->strategy), hs_gw_elapsed_ms(w->t0_ns));
    if (res->strategy == HS_STRATEGY_REPLICATION) {
        append_urls(&b, "nodes_written", res);
    } else if (res->strategy == HS_STRATEGY_EC) {
        (void)hs_buf_printf(&b, ",\"chunks_written\":%u,\"total_chunks\":%u", res->chunks_written,
                            res->total_chunks);
    } else {
        (void)hs_buf_printf(&b, ",\"trace_id\":\"%s\",\"is_pure_hot_update\":%s", res->trace_id,
                            res->pure_hot_update ? "true" : "false");
        append_urls(&b, "hot_nodes_written", res);
        (void)hs_buf_printf(&b, ",\"cold_chunks_written\":%u,\"operation_type\":\"%s\"",
                            res->chunks_written,
                            res->pure_hot_update ? "Pure Hot Update" : "Cold Update");
    }
    (void)hs_buf_printf(&b, ",\"version\":%lld,\"etag\":\"%s\"}", (long long)res->version,
                        res->etag);
    hs_gw_respond_json(r, 200, &b);
}

static void respond_write_error(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    switch (err) {
    case HS_EINVAL:
        respond_ref_error(r, 400, "Invalid key", msg);
        break;
    case HS_EUNSUPPORTED:
        respond_ref_error(r, 422, "Invalid JSON body", msg);
        break;
    case HS_ECONFLICT:
        respond_ref_error(r, 409, "Cold part changed", msg);
        break;
    case HS_EUNAVAIL:
        respond_ref_error(r, 503, "Not enough storage nodes available", msg);
        break;
    case HS_ETOOBIG:
        respond_ref_error(r, 413, "Body too large", msg);
        break;
    case HS_EBUSY:
        hs_gw_retry_after(r, err);
        respond_ref_error(r, 503, "Gateway busy", msg);
        break;
    default:
        respond_ref_error(r, (unsigned)hs_err_http_status(err), hs_strerror(err), msg);
        break;
    }
}

void hs_gw_ref_write_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct ref_write *w = hs_http_req_ctx(r);
    const uint8_t *data = w->body.data ? w->body.data : (const uint8_t *)"";
    if (hs_split_validate(NULL, data, w->body.len, NULL) != HS_OK ||
        empty_object(data, w->body.len)) {
        respond_ref_error(r, 422, "Invalid JSON body", NULL);
        return;
    }
    char msg[256] = "";
    struct hs_obj_put_opts o = {.key = w->key,
                                .key_len = strlen(w->key),
                                .strategy = w->strategy,
                                .content_type = "application/json",
                                .declared_len = (int64_t)w->body.len,
                                .hot_only = w->hot_only,
                                .request_id = hs_http_req_id(r)};
    struct hs_obj_writer *ow = NULL;
    enum hs_err err = hs_obj_writer_begin(srv->gw, &o, &ow, msg, sizeof msg);
    if (err == HS_OK && (err = hs_obj_writer_write_buf(ow, &w->body, msg, sizeof msg)) != HS_OK)
        hs_obj_writer_abort(ow);
    struct hs_obj_put_result res = {0};
    if (err == HS_OK)
        err = hs_obj_writer_finish(ow, &res, msg, sizeof msg);
    if (err != HS_OK) {
        respond_write_error(r, err, msg);
        return;
    }
    respond_written(r, w, &res);
    hs_obj_put_result_release(&res);
}

void hs_gw_ref_delete_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    int64_t t0 = hs_clock_mono_ns();
    const char *key = NULL;
    size_t len = 0;
    if (!hs_gw_req_key(r, &key, &len)) {
        respond_ref_error(r, 400, "Invalid key",
                          "want 1..1024 bytes of UTF-8 without control characters");
        return;
    }
    char msg[256] = "";
    struct hs_obj_delete_result res = {0};
    enum hs_err err = hs_obj_delete(srv->gw, key, len, NULL, &res, msg, sizeof msg);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    if (err == HS_ENOENT) {
        (void)hs_buf_append(&b, "{\"status\":\"ok\",\"key\":", 21);
        hs_gw_json_str(&b, key, len);
        (void)hs_buf_printf(&b, ",\"detail\":\"key_not_found\",\"latency_ms\":%.3f}",
                            hs_gw_elapsed_ms(t0));
        hs_gw_respond_json(r, 200, &b);
        return;
    }
    if (err != HS_OK) {
        respond_ref_error(r, (unsigned)hs_err_http_status(err), hs_strerror(err), msg);
        return;
    }
    (void)hs_buf_append(&b, "{\"status\":\"ok\",\"key\":", 21);
    hs_gw_json_str(&b, key, len);
    (void)hs_buf_printf(&b, ",\"strategy\":\"%s\",\"latency_ms\":%.3f",
                        hs_strategy_name(res.strategy), hs_gw_elapsed_ms(t0));
    if (res.strategy == HS_STRATEGY_REPLICATION)
        (void)hs_buf_printf(&b, ",\"nodes_deleted\":%u}", res.replicas_deleted);
    else if (res.strategy == HS_STRATEGY_EC)
        (void)hs_buf_printf(&b, ",\"chunks_deleted\":%u}", res.chunks_deleted);
    else
        (void)hs_buf_printf(&b, ",\"hot_nodes_deleted\":%u,\"cold_chunks_deleted\":%u}",
                            res.hot_deleted, res.cold_deleted);
    hs_gw_respond_json(r, 200, &b);
}
