/* api_ref_read.c - the reference API's GET /read/<key>: the stored object exactly as written
 * (for the JSON documents /write stores; other objects are served with their own content
 * type), or 404 {"detail":"Metadata not found for key 'K'"} as the reference answers. */
#include <stdio.h>
#include <string.h>

#include "gateway/adaptive.h"
#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/api_read.h"
#include "gateway/gateway.h"
#include "hs/buf.h"
#include "hs/banned.h"

/* {"detail":"<text><key><text2>"} with the key JSON-escaped. */
static void respond_detail(struct hs_http_req *r, unsigned status, const char *pre, const char *key,
                           const char *post)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct hs_buf text;
    hs_buf_init(&text, 0);
    (void)hs_buf_printf(&text, "%s%s%s", pre, key, post);
    (void)hs_buf_printf(&b, "{\"detail\":");
    hs_gw_json_str(&b, (const char *)text.data, text.len);
    (void)hs_buf_printf(&b, "}");
    hs_buf_release(&text);
    hs_gw_respond_json(r, status, &b);
}

/* GET /read/<key>?fields=a,b: the projection (api_project.c); errors as {"detail": ...}. */
static void ref_project(struct hs_http_req *r, const char *key, size_t klen, const char *fields)
{
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err = hs_gw_project(r, key, klen, fields, &out, &info, msg, sizeof msg);
    if (err == HS_OK) {
        hs_gw_respond_json(r, 200, &out);
        return;
    }
    hs_buf_release(&out);
    if (err == HS_ENOENT)
        respond_detail(r, 404, "Metadata not found for key '", key, "'");
    else if (err == HS_EINVAL)
        respond_detail(r, 400, msg, "", "");
    else
        respond_detail(r, (unsigned)hs_err_http_status(err), "Cannot read key '", key, "'");
}

void hs_gw_ref_read_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t klen = 0;
    const char *raw = hs_http_req_rest(r) ? hs_http_req_rest(r) : "";
    if (!hs_gw_req_key(r, &key, &klen)) {
        /* no such key can have been written */
        respond_detail(r, 404, "Metadata not found for key '", raw, "'");
        return;
    }
    const char *fields = hs_http_req_query(r, "fields");
    if (fields) {
        ref_project(r, key, klen, fields);
        return;
    }
    struct hs_obj_reader *rd = NULL;
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err = hs_obj_reader_open(srv->gw, key, klen, 0, -1, &rd, &info, msg, sizeof msg);
    struct hs_gw_read_start st;
    if (err == HS_OK)
        err = hs_gw_read_start(rd, &st);
    if (err == HS_OK && hs_obj_reader_info(rd)->strategy == HS_STRATEGY_FIELD_HYBRID)
        hs_gw_fstats_read(srv->gw, key, klen, NULL, 0, false, false);
    if (err == HS_ENOENT) {
        respond_detail(r, 404, "Metadata not found for key '", key, "'");
        goto fail;
    }
    if (err != HS_OK) {
        respond_detail(r, (unsigned)hs_err_http_status(err), "Cannot read key '", key,
                       err == HS_EUNAVAIL ? "': not enough healthy nodes" : "'");
        goto fail;
    }
    if (hs_gw_respond_reader(r, 200, hs_obj_reader_info(rd)->content_type, rd, &st) == HS_EBUSY) {
        hs_gw_retry_after(r, HS_EBUSY);
        respond_detail(r, 503, "Cannot read key '", key, "' now: " HS_GW_READ_BUSY_MSG);
    }
    return;
fail:
    hs_obj_reader_close(rd);
}
