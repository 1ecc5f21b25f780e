/* api_v1_read.c - the native API's read routes: GET/HEAD /v1/objects/<key> (streamed, Range,
 * If-None-Match), GET /v1/objects (listing) and GET /v1/manifests/<key> (the manifest with
 * node URLs). Also the reader-to-response glue both read front ends share (api_read.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/adaptive.h"
#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/api_read.h"
#include "gateway/gateway.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/banned.h"

#define LIST_LIMIT_MAX 1000

/* ---- reader -> response (api_read.h) ---- */

enum hs_err hs_gw_read_start(struct hs_obj_reader *rd, struct hs_gw_read_start *st)
{
    size_t cap = (size_t)HS_MIN((int64_t)HS_GW_FIRST_CHUNK, hs_obj_reader_length(rd));
    uint8_t *buf = hs_xmalloc(cap ? cap : 1);
    size_t have = 0;
    /* at least one read even for an empty body: it fetches (and may re-read the manifest) */
    do {
        size_t got = 0;
        enum hs_err err = hs_obj_reader_read(rd, buf + have, cap - have, &got);
        if (err != HS_OK) {
            free(buf);
            return err;
        }
        if (got == 0)
            break;
        have += got;
        /* the first read may have changed the length (newer version, merged document) */
        cap = (size_t)HS_MIN((int64_t)cap, hs_obj_reader_length(rd));
    } while (have < cap);
    st->first = buf;
    st->first_len = have;
    return HS_OK;
}

struct stream {
    struct hs_obj_reader *rd;
    uint8_t *first;
    size_t first_len;
    int64_t total;
    struct hs_gw *gw;
    struct hs_gw_budget_hold budget; /* what rd keeps between pieces (body-buffer-budget) */
};

static ssize_t stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = ctx;
    if (pos < s->first_len) {
        size_t n = HS_MIN(max, s->first_len - (size_t)pos);
        memcpy(buf, s->first + pos, n);
        return (ssize_t)n;
    }
    if ((int64_t)pos >= s->total)
        return HS_HTTP_READ_END;
    size_t got = 0;
    /* an error here cannot change the status line any more: cut the connection, so the
     * client sees a short body rather than a mix of versions or a silent truncation */
    if (hs_obj_reader_read(s->rd, buf, max, &got) != HS_OK || got == 0)
        return HS_HTTP_READ_ERROR;
    return (ssize_t)got;
}

static void stream_free(void *ctx)
{
    struct stream *s = ctx;
    hs_obj_reader_close(s->rd);
    free(s->first);
    hs_gw_body_release(s->gw, &s->budget); /* after the frees: it may trim the heap */
    free(s);
}

/* What a streaming reader keeps between pieces, for as long as the client takes to read: one
 * segment (EC: with the shard spans it fetched, about 1.5 segments more with RS(4,2)), or the
 * whole merged document (and its hot and cold parts) for field_hybrid. */
static int64_t reader_held_bytes(const struct hs_gw_opts *o, const struct hs_obj_info *info)
{
    int64_t size = info->size_bytes;
    if (info->strategy == HS_STRATEGY_FIELD_HYBRID)
        return 2 * size;
    int64_t seg = HS_MIN(size, o->segment_bytes);
    return info->strategy == HS_STRATEGY_EC ? seg + seg / 2 * 3 : seg;
}

enum hs_err hs_gw_respond_reader(struct hs_http_req *r, unsigned status, const char *content_type,
                                 struct hs_obj_reader *rd, struct hs_gw_read_start *st)
{
    int64_t total = hs_obj_reader_length(rd);
    if ((int64_t)st->first_len >= total) {
        /* content_type may point into the reader: answer before closing it */
        hs_http_respond_take(r, status, content_type, st->first, st->first_len);
        st->first = NULL;
        hs_obj_reader_close(rd);
        return HS_OK;
    }
    /* A slow client would otherwise keep the reader's buffers for as long as it likes, and
     * nothing would bound how many it keeps: a streamed response holds its share of the budget
     * until it is done. A read that can never fit (a tiny budget) is served unreserved. */
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_gw_budget_hold hold = {0};
    int64_t held = reader_held_bytes(hs_gw_opts(srv->gw), hs_obj_reader_info(rd));
    struct hs_gw_budget_stats bs;
    hs_gw_budget_snapshot(srv->gw, &bs);
    char msg[256];
    if (held <= bs.body_limit_bytes &&
        hs_gw_body_grow(srv->gw, &hold, held, held, msg, sizeof msg) != HS_OK) {
        free(st->first);
        st->first = NULL;
        hs_obj_reader_close(rd);
        return HS_EBUSY;
    }
    struct stream *s = hs_xmalloc(sizeof *s);
    *s = (struct stream){.rd = rd,
                         .first = st->first,
                         .first_len = st->first_len,
                         .total = total,
                         .gw = srv->gw,
                         .budget = hold};
    st->first = NULL;
    hs_http_respond_callback(r, status, content_type, total, stream_read, s, stream_free);
    return HS_OK;
}

/* ---- GET / HEAD /v1/objects/<key> ---- */

/* If-None-Match: "*" or a list of (weak or strong) tags; weak comparison (RFC 9110 13.1.2). */
static bool none_match(const char *hdr, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = hdr;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"')
            return false;
        const char *end = strchr(p + 1, '"');
        if (!end)
            return false;
        if ((size_t)(end - p - 1) == elen && memcmp(p + 1, etag, elen) == 0)
            return true;
        p = end + 1;
    }
    return false;
}

static void add_object_headers(struct hs_http_req *r, const struct hs_obj_info *info)
{
    char etag[HS_ETAG_MAX + 4];
    char ver[24];
    hs_gw_etag_quote(info->etag, etag, sizeof etag);
    snprintf(ver, sizeof ver, "%" PRId64, info->version);
    hs_http_add_header(r, "ETag", etag);
    hs_http_add_header(r, "X-HS-Strategy", hs_strategy_name(info->strategy));
    hs_http_add_header(r, "X-HS-Version", ver);
    hs_http_add_header(r, "Accept-Ranges", "bytes");
}

static void respond_416(struct hs_http_req *r, int64_t size)
{
    char cr[48];
    snprintf(cr, sizeof cr, "bytes */%" PRId64, size);
    hs_http_add_header(r, "Content-Range", cr);
    hs_http_respond_error(r, HS_ERANGE, "range not satisfiable (the object has %" PRId64 " bytes)",
                          size);
}

static ssize_t no_body(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx, (void)pos, (void)buf, (void)max;
    return HS_HTTP_READ_ERROR; /* HEAD: libmicrohttpd sends the headers only */
}

/* Applies the Range header; false after answering 416. *ranged says whether 206 applies. */
static bool apply_range(struct hs_http_req *r, struct hs_obj_reader *rd,
                        const struct hs_obj_info *info, bool *ranged)
{
    struct hs_http_range range;
    *ranged = false;
    if (!hs_http_range_parse(hs_http_req_header(r, "Range"), &range))
        return true;
    int64_t off = 0, len = 0;
    if (!hs_http_range_resolve(&range, info->size_bytes, &off, &len) ||
        hs_obj_reader_set_range(rd, off, len) != HS_OK) {
        respond_416(r, info->size_bytes);
        return false;
    }
    *ranged = true;
    return true;
}

/* GET /v1/objects/<key>?fields=a,b: the projection (api_project.c), 200 application/json. */
static void v1_project(struct hs_http_req *r, const char *key, size_t klen, const char *fields)
{
    if (hs_http_req_header(r, "Range")) {
        hs_gw_respond_err(r, HS_EINVAL, "?fields= and Range cannot be combined");
        return;
    }
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err = hs_gw_project(r, key, klen, fields, &out, &info, msg, sizeof msg);
    if (err != HS_OK) {
        hs_buf_release(&out);
        hs_gw_respond_err(r, err, msg);
        return;
    }
    char ver[24];
    snprintf(ver, sizeof ver, "%" PRId64, info.version);
    hs_http_add_header(r, "X-HS-Strategy", hs_strategy_name(info.strategy));
    hs_http_add_header(r, "X-HS-Version", ver);
    hs_gw_respond_json(r, 200, &out);
}

void hs_gw_v1_get_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t klen = 0;
    if (!hs_gw_v1_req_key(r, &key, &klen))
        return;
    const char *fields = hs_http_req_query(r, "fields");
    if (fields && !hs_http_req_is_head(r)) {
        v1_project(r, key, klen, fields);
        return;
    }
    struct hs_obj_reader *rd = NULL;
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err = hs_obj_reader_open(srv->gw, key, klen, 0, -1, &rd, &info, msg, sizeof msg);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, msg);
        return;
    }
    const char *inm = hs_http_req_header(r, "If-None-Match");
    if (inm && none_match(inm, info.etag)) {
        add_object_headers(r, &info);
        hs_http_respond_buf(r, 304, NULL, "", 0);
        goto close;
    }
    if (hs_http_req_is_head(r)) {
        add_object_headers(r, &info);
        hs_http_respond_callback(r, 200, info.content_type, info.size_bytes, no_body, NULL, NULL);
        goto close;
    }
    bool ranged = false;
    if (!apply_range(r, rd, &info, &ranged))
        goto close;
    struct hs_gw_read_start st;
    err = hs_gw_read_start(rd, &st);
    const struct hs_obj_info *now = hs_obj_reader_info(rd);
    if (err == HS_ERANGE) {
        respond_416(r, now->size_bytes);
        goto close;
    }
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, err == HS_ENOENT ? "the object was deleted" : "");
        goto close;
    }
    if (now->strategy == HS_STRATEGY_FIELD_HYBRID)
        hs_gw_fstats_read(srv->gw, key, klen, NULL, 0, false, false);
    add_object_headers(r, now);
    if (ranged) {
        char cr[80];
        int64_t off = hs_obj_reader_offset(rd), len = hs_obj_reader_length(rd);
        snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, off, off + len - 1,
                 now->size_bytes);
        hs_http_add_header(r, "Content-Range", cr);
    }
    if (hs_gw_respond_reader(r, ranged ? 206 : 200, now->content_type, rd, &st) == HS_EBUSY)
        hs_gw_respond_err(r, HS_EBUSY, HS_GW_READ_BUSY_MSG);
    return;
close:
    hs_obj_reader_close(rd);
}

/* ---- GET /v1/objects?prefix=&start-after=&limit= ---- */

struct list_out {
    struct hs_buf *b;
    size_t n;
    char *last; /* heap: the last key listed */
};

static void list_one(void *ctx, const struct hs_obj_list_entry *e)
{
    struct list_out *lo = ctx;
    struct hs_buf *b = lo->b;
    (void)hs_buf_printf(b, "%s{\"key\":", lo->n++ ? "," : "");
    hs_gw_json_cstr(b, e->key);
    (void)hs_buf_printf(b, ",\"size\":%" PRId64 ",\"etag\":", e->size_bytes);
    hs_gw_json_cstr(b, e->etag);
    (void)hs_buf_printf(b, ",\"strategy\":");
    hs_gw_json_cstr(b, hs_strategy_name(e->strategy));
    (void)hs_buf_printf(b, ",\"version\":%" PRId64 ",\"content_type\":", e->version);
    hs_gw_json_cstr(b, e->content_type);
    (void)hs_buf_printf(b, ",\"modified_ms\":%" PRId64 "}", e->created_ms);
    free(lo->last);
    lo->last = hs_xstrdup(e->key);
}

static bool parse_limit(const char *text, size_t *out)
{
    if (!text || !*text) {
        *out = LIST_LIMIT_MAX;
        return true;
    }
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0' || text[0] < '0' || text[0] > '9' || v < 1)
        return false;
    *out = v > LIST_LIMIT_MAX ? LIST_LIMIT_MAX : (size_t)v;
    return true;
}

void hs_gw_v1_list_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *prefix = hs_http_req_query(r, "prefix");
    const char *after = hs_http_req_query(r, "start-after");
    size_t limit = 0;
    if (!parse_limit(hs_http_req_query(r, "limit"), &limit)) {
        hs_gw_respond_err(r, HS_EINVAL, "limit must be an integer from 1 to 1000");
        return;
    }
    if ((prefix && strlen(prefix) > HS_OBJECT_KEY_MAX) ||
        (after && strlen(after) > HS_OBJECT_KEY_MAX)) {
        hs_gw_respond_err(r, HS_EINVAL, "prefix and start-after are at most 1024 bytes");
        return;
    }
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, "{\"objects\":[");
    struct list_out lo = {.b = &b};
    bool truncated = false;
    enum hs_err err = hs_obj_list(srv->gw, prefix, after, limit, list_one, &lo, &truncated);
    if (err != HS_OK) {
        hs_buf_release(&b);
        free(lo.last);
        hs_gw_respond_err(r, err, "cannot list objects (etcd)");
        return;
    }
    (void)hs_buf_printf(&b,
                        "],\"truncated\":%s,\"next_start_after\":", truncated ? "true" : "false");
    hs_gw_json_cstr(&b, truncated ? lo.last : NULL);
    (void)hs_buf_printf(&b, "}");
    free(lo.last);
    hs_gw_respond_json(r, 200, &b);
}

/* ---- GET /v1/manifests/<key> ---- */

/* Adds "url" (null when the node is not live) to every blob of part p. */
static void add_urls(json_t *part, const struct hs_gw_members *mem)
{
    json_t *segs = json_object_get(part, "segs");
    size_t i, j;
    json_t *seg, *blob;
    json_array_foreach(segs, i, seg)
    {
        json_array_foreach(json_object_get(seg, "blobs"), j, blob)
        {
            const char *url =
                hs_gw_members_url_any(mem, json_string_value(json_object_get(blob, "node")));
            json_object_set_new(blob, "url", url ? json_string(url) : json_null());
        }
    }
}

void hs_gw_v1_manifest_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t klen = 0;
    if (!hs_gw_v1_req_key(r, &key, &klen))
        return;
    struct hs_manifest m;
    int64_t rev = 0;
    enum hs_err err = hs_obj_manifest_get(srv->gw, key, klen, &m, &rev);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, err == HS_ENOENT ? "no such object" : "");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    err = hs_manifest_encode(&m, &text, &len, NULL, 0);
    hs_manifest_release(&m);
    json_t *o = err == HS_OK ? json_loadb(text, len, 0, NULL) : NULL;
    free(text);
    if (!o) {
        hs_gw_respond_err(r, HS_ECORRUPT, "the stored manifest does not encode");
        return;
    }
    const struct hs_gw_members *mem = hs_gw_members_get(srv->gw);
    static const char *const parts[] = {"data", "hot", "cold"};
    for (size_t i = 0; i < HS_ARRAY_LEN(parts); i++)
        add_urls(json_object_get(o, parts[i]), mem);
    hs_gw_members_put(srv->gw, mem);
    json_object_set_new(o, "mod_revision", json_integer(rev));
    char *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!out)
        HS_BUG("cannot encode a manifest answer");
    hs_http_respond_take(r, 200, "application/json", out, strlen(out));
}
