/* api_v1_write.c - the native API's writes (docs/api.md): PUT /v1/objects/<key> streams the
 * body segment by segment into the object layer as it arrives (If-Match / If-None-Match,
 * strategy by ?strategy= or X-HS-Strategy, auto by default) and answers 201/200 with the ETag;
 * DELETE /v1/objects/<key> answers 204 or 404. Errors are the JSON of hs_http_respond_error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/api.h"
#include "gateway/api_common.h"
#include "gateway/gateway.h"
#include "hs/manifest.h"
#include "hs/banned.h"

struct v1_put {
    struct hs_obj_writer *w; /* NULL once finished or aborted */
    const char *key;         /* borrowed from the request */
    size_t key_len;
};

static void v1_put_free(void *p)
{
    struct v1_put *put = p;
    hs_obj_writer_abort(put->w); /* the client went away mid-body: nothing becomes visible */
    put->w = NULL;
}

/* Object-layer errors as the native API answers them. */
static void respond_obj_error(struct hs_http_req *r, enum hs_err err, const char *msg)
{
    if (err == HS_EUNSUPPORTED) /* field_hybrid body that is not one JSON object */
        hs_http_respond_error_status(r, 422, err, "%s", *msg ? msg : hs_strerror(err));
    else
        hs_gw_respond_err(r, err, msg);
}

/* strategy from ?strategy= or X-HS-Strategy ("auto" or absent: 0). false when unknown. */
static bool req_strategy(struct hs_http_req *r, enum hs_strategy *out)
{
    const char *s = hs_http_req_query(r, "strategy");
    if (!s)
        s = hs_http_req_header(r, "X-HS-Strategy");
    *out = 0;
    if (!s || strcmp(s, "auto") == 0)
        return true;
    return hs_strategy_parse(s, out);
}

/* If-Match / If-None-Match into opts; false (after answering 400) when malformed. */
static bool req_conditions(struct hs_http_req *r, struct hs_obj_put_opts *o, char *etag,
                           size_t etag_cap)
{
    const char *im = hs_http_req_header(r, "If-Match");
    const char *inm = hs_http_req_header(r, "If-None-Match");
    bool any = false;
    if (im) {
        if (!hs_gw_etag_parse(im, etag, etag_cap, &any)) {
            hs_http_respond_error(r, HS_EINVAL, "If-Match must hold one strong entity tag");
            return false;
        }
        o->if_match = any ? NULL : etag;
        o->if_match_any = any; /* "*": any current version */
    }
    if (inm) {
        char tmp[HS_ETAG_MAX + 1];
        if (!hs_gw_etag_parse(inm, tmp, sizeof tmp, &any) || !any) {
            hs_http_respond_error(r, HS_EINVAL, "PUT supports only If-None-Match: *");
            return false;
        }
        o->if_none_match_any = true;
    }
    return true;
}

void hs_gw_v1_put_start(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    struct hs_arena *a = hs_http_req_arena(r);
    struct v1_put *put = hs_arena_alloc(a, sizeof *put);
    if (!hs_gw_v1_req_key(r, &put->key, &put->key_len))
        return;
    struct hs_obj_put_opts o = {.key = put->key,
                                .key_len = put->key_len,
                                .content_type = hs_http_req_header(r, "Content-Type"),
                                .declared_len = -1,
                                .request_id = hs_http_req_id(r)};
    if (!req_strategy(r, &o.strategy)) {
        hs_http_respond_error(r, HS_EINVAL,
                              "strategy must be replication, ec, field_hybrid or auto");
        return;
    }
    const char *ho = hs_http_req_query(r, "hot_only");
    o.hot_only = ho && (strcasecmp(ho, "true") == 0 || strcmp(ho, "1") == 0);
    char *etag = hs_arena_alloc(a, HS_ETAG_MAX + 1);
    if (!req_conditions(r, &o, etag, HS_ETAG_MAX + 1))
        return;
    int64_t len = 0;
    if (hs_http_req_content_length(r, &len))
        o.declared_len = len;
    char msg[256] = "";
    enum hs_err err = hs_obj_writer_begin(srv->gw, &o, &put->w, msg, sizeof msg);
    if (err != HS_OK) {
        respond_obj_error(r, err, msg);
        return;
    }
    hs_arena_defer(a, v1_put_free, put);
    hs_http_req_set_ctx(r, put);
}

enum hs_err hs_gw_v1_put_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct v1_put *put = hs_http_req_ctx(r);
    char msg[256] = "";
    enum hs_err err = hs_obj_writer_write(put->w, data, n, msg, sizeof msg);
    if (err != HS_OK) {
        hs_obj_writer_abort(put->w);
        put->w = NULL;
        respond_obj_error(r, err, msg);
    }
    return err;
}

void hs_gw_v1_put_done(struct hs_http_req *r)
{
    struct v1_put *put = hs_http_req_ctx(r);
    char msg[256] = "";
    struct hs_obj_put_result res = {0};
    enum hs_err err = hs_obj_writer_finish(put->w, &res, msg, sizeof msg);
    put->w = NULL;
    if (err != HS_OK) {
        respond_obj_error(r, err, msg);
        return;
    }
    char quoted[HS_ETAG_MAX + 3];
    hs_gw_etag_quote(res.etag, quoted, sizeof quoted);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_append(&b, "{\"key\":", 7);
    hs_gw_json_str(&b, put->key, put->key_len);
    (void)hs_buf_printf(&b, ",\"etag\":\"%s\",\"version\":%lld,\"strategy\":\"%s\",\"size\":%lld}",
                        res.etag, (long long)res.version, hs_strategy_name(res.strategy),
                        (long long)res.size_bytes);
    char version[24];
    snprintf(version, sizeof version, "%lld", (long long)res.version);
    hs_http_add_header(r, "ETag", quoted);
    hs_http_add_header(r, "X-HS-Version", version);
    hs_gw_respond_json(r, res.created ? 201 : 200, &b);
    hs_obj_put_result_release(&res);
}

void hs_gw_v1_delete_done(struct hs_http_req *r)
{
    const struct hs_gw_server *srv = hs_http_req_server_ctx(r);
    const char *key = NULL;
    size_t len = 0;
    if (!hs_gw_v1_req_key(r, &key, &len))
        return;
    const char *im = hs_http_req_header(r, "If-Match");
    char etag[HS_ETAG_MAX + 1];
    bool any = false;
    if (im && !hs_gw_etag_parse(im, etag, sizeof etag, &any)) {
        hs_http_respond_error(r, HS_EINVAL, "If-Match must hold one strong entity tag");
        return;
    }
    char msg[256] = "";
    struct hs_obj_delete_result res = {0};
    enum hs_err err =
        hs_obj_delete(srv->gw, key, len, im && !any ? etag : NULL, &res, msg, sizeof msg);
    if (err != HS_OK) {
        hs_gw_respond_err(r, err, msg);
        return;
    }
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}
