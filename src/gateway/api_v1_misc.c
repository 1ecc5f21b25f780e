/* api_v1_misc.c - the native API's smaller routes: PATCH /v1/objects/<key> (RFC 7396 merge
 * patch, handed to hs_obj_patch), GET /v1/status (nodes, usage, WAL and repair backlogs), PUT
 * /v1/admin/config/<name> (cluster settings; routes.c's guard checks the secret) and GET
 * /metrics. Translation only: the object layer and metrics.c do the work. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/api.h"
#include "gateway/adaptive.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "hs/etcd.h"
#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define CONFIG_BODY_MAX ((size_t)64 * 1024) /* a hot-field list */
#define FIELD_NAME_MAX  1024                /* bytes of one hot-field name (a key's limit) */

/* Request body collected in a bounded buffer, freed with the arena. */
struct body_ctx {
    struct hs_buf buf;
};

static void body_release(void *p)
{
    struct body_ctx *b = p;
    hs_buf_release(&b->buf);
}

static struct body_ctx *body_ctx_new(struct hs_http_req *r, size_t max_bytes)
{
    struct hs_arena *a = hs_http_req_arena(r);
    struct body_ctx *b = hs_arena_alloc(a, sizeof *b);
    hs_buf_init(&b->buf, max_bytes);
    hs_arena_defer(a, body_release, b);
    hs_http_req_set_ctx(r, b);
    return b;
}

/* Refuses a declared body over max before it is sent. */
static bool declared_too_big(struct hs_http_req *r, size_t max)
{
    int64_t len = 0;
    if (!hs_http_req_content_length(r, &len) || len <= (int64_t)max)
        return false;
    hs_http_respond_error(r, HS_ETOOBIG, "body of %" PRId64 " bytes is over the limit of %zu", len,
                          max);
    return true;
}

/* ---- PATCH /v1/objects/<key> ---- */

/* A patch body (up to doc-max-size) counted against body-buffer-budget. */
struct patch_body {
    struct body_ctx b; /* first: hs_gw_v1_patch_done reads the context as a body_ctx */
    struct hs_gw *gw;
    struct hs_gw_budget_hold budget;
    int64_t declared; /* Content-Length, or -1 */
};

static void patch_body_release(void *p)
{
    struct patch_body *pb = p;
    hs_buf_release(&pb->b.buf);
    hs_gw_body_release(pb->gw, &pb->budget); /* after the free: it may trim the heap */
}

void hs_gw_v1_patch_start(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t key_len = 0;
    if (!hs_gw_v1_req_key(r, &key, &key_len))
        return;
    if (!hs_gw_ctype_is(hs_http_req_header(r, "Content-Type"), "application/merge-patch+json")) {
        hs_http_respond_error(
            r, HS_EUNSUPPORTED,
            "PATCH needs 'Content-Type: application/merge-patch+json' (RFC 7396)");
        return;
    }
    size_t max = (size_t)hs_gw_opts(srv->gw)->doc_max_bytes;
    if (declared_too_big(r, max))
        return;
    int64_t declared = -1;
    char msg[256];
    (void)hs_http_req_content_length(r, &declared);
    enum hs_err err = hs_gw_body_admit(srv->gw, declared, msg, sizeof msg);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, msg);
        return;
    }
    struct hs_arena *a = hs_http_req_arena(r);
    struct patch_body *pb = hs_arena_alloc(a, sizeof *pb);
    hs_buf_init(&pb->b.buf, max);
    pb->gw = srv->gw;
    pb->declared = declared;
    hs_arena_defer(a, patch_body_release, pb);
    hs_http_req_set_ctx(r, &pb->b);
}

enum hs_err hs_gw_v1_patch_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct patch_body *pb = (struct patch_body *)hs_http_req_ctx(r);
    struct hs_buf *buf = &pb->b.buf;
    if (buf->len + n > buf->max_bytes)
        return HS_ETOOBIG;
    char msg[256];
    enum hs_err err = hs_gw_body_grow(pb->gw, &pb->budget, (int64_t)(buf->len + n), pb->declared,
                                      msg, sizeof msg);
    if (err != HS_OK) {
        /* the rest of the body is discarded: give its memory and budget back now */
        hs_buf_release(buf);
        hs_gw_body_release(pb->gw, &pb->budget);
        hs_gw_respond_err(r, err, msg);
        return err;
    }
    return hs_buf_append(buf, data, n);
}

/* The PUT answer: {"key","etag","version","strategy","size"}, plus what the patch did. */
static void respond_put_like(struct hs_http_req *r, const char *key, size_t key_len,
                             const struct hs_obj_put_result *res)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, "{\"key\":", 7);
    hs_gw_json_str(&b, key, key_len);
    (void)hs_buf_append(&b, ",\"etag\":", 8);
    hs_gw_json_cstr(&b, res->etag);
    (void)hs_buf_printf(&b,
                        ",\"version\":%" PRId64 ",\"strategy\":\"%s\",\"size\":%" PRId64
                        ",\"pure_hot_update\":%s,\"degraded\":%s}",
                        res->version, hs_strategy_name(res->strategy), res->size_bytes,
                        res->pure_hot_update ? "true" : "false", res->degraded ? "true" : "false");
    char etag[HS_ETAG_MAX + 3];
    hs_gw_etag_quote(res->etag, etag, sizeof etag);
    hs_http_add_header(r, "ETag", etag);
    hs_gw_respond_json(r, 200, &b);
    hs_buf_release(&b);
}

void hs_gw_v1_patch_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct body_ctx *b = hs_http_req_ctx(r);
    const char *key = NULL;
    size_t key_len = 0;
    if (!b || !hs_gw_req_key(r, &key, &key_len)) {
        hs_http_respond_error(r, HS_EINVAL, "bad request");
        return;
    }
    char etag[HS_ETAG_MAX + 1] = "";
    bool any = false;
    const char *im = hs_http_req_header(r, "If-Match");
    if (im && !hs_gw_etag_parse(im, etag, sizeof etag, &any)) {
        /* a weak or malformed tag can never match (RFC 9110 13.1.1) */
        hs_http_respond_error(r, HS_EPRECONDITION, "If-Match '%s' cannot match", im);
        return;
    }
    /* "*" asks for an existing object, which a patch needs anyway */
    const char *if_match = im && !any ? etag : NULL;
    struct hs_obj_put_result res = {0};
    char msg[256] = "";
    enum hs_err err = hs_obj_patch(srv->gw, key, key_len, b->buf.data ? b->buf.data : (void *)"",
                                   b->buf.len, if_match, &res, msg, sizeof msg);
    if (err == HS_OK)
        respond_put_like(r, key, key_len, &res);
    else
        hs_gw_respond_err(r, err, msg);
    hs_obj_put_result_release(&res);
}

/* ---- GET /v1/status ---- */

/* Keys under prefix, counted by etcd without sending them; -1 when etcd did not answer. */
static int64_t etcd_count(struct hs_gw *gw, const char *prefix)
{
    struct hs_etcd_range_req q = {.key = prefix, .prefix = true, .count_only = true};
    struct hs_etcd_kvs kvs = {0};
    if (hs_etcd_range(hs_gw_etcd(gw), &q, &kvs) != HS_OK)
        return -1;
    int64_t n = kvs.count;
    hs_etcd_kvs_release(&kvs);
    return n;
}

static void put_count(struct hs_buf *b, const char *name, int64_t n)
{
    if (n < 0)
        (void)hs_buf_printf(b, ",\"%s\":null", name);
    else
        (void)hs_buf_printf(b, ",\"%s\":%" PRId64, name, n);
}

/* One node: what its /v1/stats said, and its zone from the membership view. */
static void put_node(struct hs_buf *b, const struct hs_gw_node_usage *u,
                     const struct hs_gw_members *m)
{
    const char *zone = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->nodes[i].id, u->id) == 0)
            zone = m->nodes[i].zone;
    (void)hs_buf_append(b, "{\"id\":", 6);
    hs_gw_json_cstr(b, u->id);
    (void)hs_buf_append(b, ",\"url\":", 7);
    hs_gw_json_cstr(b, u->url);
    (void)hs_buf_append(b, ",\"zone\":", 8);
    hs_gw_json_cstr(b, zone && *zone ? zone : NULL);
    (void)hs_buf_printf(b,
                        ",\"live\":%s,\"blobs\":%" PRId64 ",\"payload_bytes\":%" PRId64
                        ",\"free_bytes\":%" PRId64 ",\"total_bytes\":%" PRId64 "}",
                        u->healthy ? "true" : "false", u->blobs, u->payload_bytes, u->free_bytes,
                        u->total_bytes);
}

void hs_gw_v1_status_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_gw_node_usage *u = NULL;
    size_t n = 0;
    enum hs_err err = hs_gw_usage(srv->gw, &u, &n);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, "cannot read the node list");
        return;
    }
    const struct hs_gw_members *m = hs_gw_members_get(srv->gw);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    int64_t live = 0, blobs = 0, payload = 0, free_b = 0, total = 0;
    (void)hs_buf_append(&b, "{\"nodes\":[", 10);
    for (size_t i = 0; i < n; i++) {
        if (i)
            (void)hs_buf_append(&b, ",", 1);
        put_node(&b, &u[i], m);
        if (u[i].healthy) {
            live++;
            blobs += u[i].blobs;
            payload += u[i].payload_bytes;
            free_b += u[i].free_bytes;
            total += u[i].total_bytes;
        }
    }
    (void)hs_buf_printf(&b,
                        "],\"storage\":{\"nodes_total\":%zu,\"nodes_live\":%" PRId64
                        ",\"blobs\":%" PRId64 ",\"payload_bytes\":%" PRId64
                        ",\"free_bytes\":%" PRId64 ",\"total_bytes\":%" PRId64 "}",
                        n, live, blobs, payload, free_b, total);
    hs_gw_members_put(srv->gw, m);
    hs_gw_usage_free(u, n);
    put_count(&b, "wal_backlog", etcd_count(srv->gw, HS_META_PREFIX_TXN));
    put_count(&b, "repair_backlog", etcd_count(srv->gw, HS_META_PREFIX_REPAIR));
    char *csv = hs_gw_hotset_csv(srv->gw);
    (void)hs_buf_append(&b, ",\"hot_fields\":", 14);
    hs_gw_json_cstr(&b, csv);
    free(csv);
    (void)hs_buf_append(&b, ",\"gateway_id\":", 14);
    hs_gw_json_cstr(&b, hs_gw_opts(srv->gw)->gateway_id);
    (void)hs_buf_append(&b, "}", 1);
    hs_gw_respond_json(r, 200, &b);
    hs_buf_release(&b);
}

/* ---- PUT /v1/admin/config/<name> ---- */

void hs_gw_v1_admin_config_start(struct hs_http_req *r)
{
    const char *name = hs_http_req_rest(r);
    if (strcmp(name, "hot-fields") != 0) {
        hs_http_respond_error(r, HS_ENOENT, "unknown setting '%s' (settable: hot-fields)", name);
        return;
    }
    if (declared_too_big(r, CONFIG_BODY_MAX))
        return;
    body_ctx_new(r, CONFIG_BODY_MAX);
}

enum hs_err hs_gw_v1_admin_config_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct body_ctx *b = hs_http_req_ctx(r);
    return hs_buf_append(&b->buf, data, n);
}

/* One field name: non-empty, no commas (the stored form is comma-separated), no control
 * characters, no blanks around it (they would be trimmed away), at most FIELD_NAME_MAX bytes.
 * UTF-8 validity is checked by the hot set itself. */
static bool field_name_ok(const char *s, size_t n, char *msg, size_t msg_len)
{
    if (n == 0 || n > FIELD_NAME_MAX) {
        snprintf(msg, msg_len, "hot-field names are 1-%d bytes", FIELD_NAME_MAX);
        return false;
    }
    if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t') {
        snprintf(msg, msg_len, "hot-field names cannot start or end with blanks");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ',' || c < 0x20 || c == 0x7f) {
            snprintf(msg, msg_len, "hot-field names cannot hold commas or control characters");
            return false;
        }
    }
    return true;
}

/* Body: a JSON array of strings, or a comma-separated list (blanks around names ignored).
 * Appends the normalised list to csv. HS_EINVAL with msg otherwise. */
static enum hs_err parse_hot_fields(const char *body, size_t len, struct hs_buf *csv, char *msg,
                                    size_t msg_len)
{
    size_t lead = 0;
    while (lead < len && isspace((unsigned char)body[lead]))
        lead++;
    if (lead < len && body[lead] == '[') {
        json_error_t je;
        json_t *a = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        size_t i;
        json_t *v;
        enum hs_err err = json_is_array(a) ? HS_OK : HS_EINVAL;
        if (err != HS_OK)
            snprintf(msg, msg_len, "not a JSON array of strings: %s", a ? "not an array" : je.text);
        json_array_foreach(a, i, v)
        {
            if (err != HS_OK)
                break;
            const char *s = json_string_value(v);
            if (!s || !field_name_ok(s, json_string_length(v), msg, msg_len) ||
                strlen(s) != json_string_length(v)) {
                if (!s)
                    snprintf(msg, msg_len, "element %zu is not a string", i);
                err = HS_EINVAL;
                break;
            }
            if (csv->len)
                (void)hs_buf_append(csv, ",", 1);
            (void)hs_buf_append(csv, s, strlen(s));
        }
        json_decref(a);
        return err;
    }
    if (memchr(body, '\0', len)) {
        snprintf(msg, msg_len, "the list holds a NUL byte");
        return HS_EINVAL;
    }
    if (lead == len) {
        snprintf(msg, msg_len, "empty list: send [] to make every field cold");
        return HS_EINVAL;
    }
    for (size_t i = 0;;) {
        size_t j = i;
        while (j < len && body[j] != ',')
            j++;
        size_t from = i, to = j; /* one name, blanks around it dropped */
        while (from < to && isspace((unsigned char)body[from]))
            from++;
        while (to > from && isspace((unsigned char)body[to - 1]))
            to--;
        if (!field_name_ok(body + from, to - from, msg, msg_len))
            return HS_EINVAL;
        if (csv->len)
            (void)hs_buf_append(csv, ",", 1);
        (void)hs_buf_append(csv, body + from, to - from);
        if (j == len)
            break;
        i = j + 1;
    }
    return HS_OK;
}

void hs_gw_v1_admin_config_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct body_ctx *b = hs_http_req_ctx(r);
    char msg[256] = "";
    struct hs_buf csv;
    hs_buf_init(&csv, 0);
    const char *body = b && b->buf.data ? (const char *)b->buf.data : "";
    enum hs_err err = parse_hot_fields(body, b ? b->buf.len : 0, &csv, msg, sizeof msg);
    (void)hs_buf_append(&csv, "", 1);
    if (err == HS_OK)
        err = hs_gw_set_hot_fields(srv->gw, (const char *)csv.data, msg, sizeof msg);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, msg);
        hs_buf_release(&csv);
        return;
    }
    HS_LOG_INFO("admin_config_set", "req=%s name=hot-fields", hs_http_req_id(r));
    char *now = hs_gw_hotset_csv(srv->gw);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    (void)hs_buf_append(&out, "{\"name\":\"hot-fields\",\"value\":", 29);
    hs_gw_json_cstr(&out, now);
    (void)hs_buf_append(&out, "}", 1);
    hs_gw_respond_json(r, 200, &out);
    hs_buf_release(&out);
    hs_buf_release(&csv);
    free(now);
}

/* ---- GET /metrics ---- */

/* ---- GET /v1/admin/field-stats (routes.c's guard checks the secret) ---- */

void hs_gw_v1_admin_field_stats_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    if (!hs_gw_fstats_on(srv->gw)) {
        hs_gw_respond_err(r, HS_ENOENT,
                          "this gateway counts no field statistics (--field-stats=off)");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    enum hs_err err = hs_gw_fstats_json(srv->gw, &text, &len);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, "cannot encode the field statistics");
        return;
    }
    hs_http_respond_take(r, 200, "application/json", text, len);
}

/* POST /v1/admin/field-stats/<collection>?epoch=K: the healer's halving epoch for a collection
 * (field_stats.h "Pacing"). 200 {"tracked":true|false}. */
void hs_gw_v1_admin_field_stats_epoch_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *coll = NULL;
    size_t len = 0;
    const char *text = hs_http_req_query(r, "epoch");
    char *end = NULL;
    errno = 0;
    unsigned long long epoch = text ? strtoull(text, &end, 10) : 0;
    if (!hs_gw_req_key(r, &coll, &len) || !text || !*text || *end || errno || *text == '-') {
        hs_gw_respond_err(r, HS_EINVAL, "want /v1/admin/field-stats/<collection>?epoch=N");
        return;
    }
    bool tracked = hs_gw_fstats_set_epoch(srv->gw, coll, len, (uint64_t)epoch);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "{\"tracked\":%s}", tracked ? "true" : "false");
    hs_gw_respond_json(r, 200, &b);
    hs_buf_release(&b);
}

void hs_gw_metrics_done(struct hs_http_req *r)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    hs_gw_metrics_render(&b);
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_gw_budget_stats bs;
    hs_gw_budget_snapshot(srv->gw, &bs);
    hs_gw_metrics_render_budget(&b, &bs);
    hs_gw_fstats_metrics(srv->gw, &b); /* per tracked collection (adaptive.h) */
    size_t len = 0;
    uint8_t *data = hs_buf_detach(&b, &len);
    if (!data)
        hs_http_respond_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", "", 0);
    else
        hs_http_respond_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", data, len);
}
