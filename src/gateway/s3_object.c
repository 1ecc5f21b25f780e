/* s3_object.c - PutObject, stored attributes <-> headers (what GET/HEAD/Copy share), and the
 * verified body (s3_body.c) wired to the front end's SigV4 values. A PUT streams through the
 * object layer's writer as it arrives (one segment held at a time); the body's checks run
 * before the commit, and a failed one aborts the writer, so the old version stays and the
 * blobs written so far are deleted with the WAL record. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/s3_object_int.h"
#include "hs/arena.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

/* ---- the body, with the front end's verified values ---- */

bool hs_s3_body_open(struct hs_http_req *r, hs_s3_sink_fn *sink, void *ctx, struct hs_s3_body **out)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_s3_body_auth auth = {.presigned = s->auth.presigned,
                                   .seed_signature = s->auth.seed_signature,
                                   .signing_key = s->auth.signing_key,
                                   .scope = s->auth.scope,
                                   .amz_date = s->auth.amz_date};
    struct hs_s3_body_error e = {0};
    if (hs_s3_body_new(r, &auth, sink, ctx, out, &e))
        return true;
    hs_s3_body_answer(r, &e);
    return false;
}

void hs_s3_body_answer(struct hs_http_req *r, const struct hs_s3_body_error *e)
{
    if (e->code != HS_S3_OK)
        hs_s3_error_e(r, e->code, e->msg);
    else
        hs_s3_error_hs(r, e->err, e->msg);
}

/* ---- attributes <-> headers ---- */

struct meta_walk {
    struct hs_manifest_attrs *a;
    enum hs_err err;
    char why[160];
};

static bool meta_one(void *ctx, const char *name, const char *value)
{
    struct meta_walk *w = ctx;
    if (strncasecmp(name, "x-amz-meta-", 11) != 0)
        return true;
    enum hs_err err = hs_manifest_attrs_meta_add(w->a, name + 11, value, w->why, sizeof w->why);
    if (err == HS_EEXIST) { /* a repeated header: S3 joins the values with "," */
        char lower[HS_ATTRS_META_NAME_MAX + 1];
        snprintf(lower, sizeof lower, "%s", name + 11);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        for (size_t i = 0; i < w->a->n_meta; i++) {
            if (strcmp(w->a->meta[i].name, lower) != 0)
                continue;
            char *joined = hs_xasprintf("%s,%s", w->a->meta[i].value, value);
            free(w->a->meta[i].value);
            w->a->meta[i].value = joined;
        }
        err = hs_manifest_attrs_validate(w->a, w->why, sizeof w->why) == HS_OK ? HS_OK : HS_ETOOBIG;
    }
    w->err = err;
    return err == HS_OK;
}

/* 400 MetadataTooLarge: an S3 code the shared error table does not carry, so the error
 * document is written here (same layout as every S3 error). */
static void metadata_too_large(struct hs_http_req *r)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_s3_xml x;
    char msg[128];
    snprintf(msg, sizeof msg,
             "Your metadata headers exceed the maximum allowed metadata size (%d bytes)",
             HS_ATTRS_META_MAX);
    hs_s3_xml_begin(&x, &out);
    hs_s3_xml_open(&x, "Error", NULL);
    hs_s3_xml_elem(&x, "Code", "MetadataTooLarge");
    hs_s3_xml_elem(&x, "Message", msg);
    hs_s3_xml_elem(&x, "Resource", hs_http_req_path(r));
    hs_s3_xml_elem(&x, "RequestId", s->request_id);
    hs_s3_xml_close(&x);
    if (hs_s3_xml_end(&x) == HS_OK)
        hs_s3_respond_xml(r, 400, (const char *)out.data, out.len);
    else
        hs_s3_error(r, "InvalidArgument", "%s", msg);
    hs_buf_release(&out);
}

void hs_s3_attrs_release(struct hs_manifest_attrs *a)
{
    hs_manifest_attrs_release(a);
}

bool hs_s3_attrs_from_request(struct hs_http_req *r, struct hs_manifest_attrs *a)
{
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++) {
        const char *v = hs_http_req_header(r, hs_manifest_attr_strs[i].header);
        if (!v || !*v)
            continue;
        *hs_manifest_attrs_str(a, i) = i == 0 ? hs_s3_content_encoding_dup(v) : hs_xstrdup(v);
    }
    struct meta_walk w = {.a = a};
    hs_http_req_headers_each(r, meta_one, &w);
    if (w.err == HS_ETOOBIG) {
        metadata_too_large(r);
        return false;
    }
    char why[160] = "";
    if (w.err != HS_OK || hs_manifest_attrs_validate(a, why, sizeof why) != HS_OK) {
        hs_s3_error(r, "InvalidArgument", "%s", w.err != HS_OK ? w.why : why);
        return false;
    }
    return true;
}

void hs_s3_add_object_headers(struct hs_http_req *r, const struct hs_obj_info *info, bool checksums)
{
    char etag[HS_ETAG_MAX + 3], date[HS_S3_HTTP_DATE_LEN + 1];
    snprintf(etag, sizeof etag, "\"%s\"", info->etag);
    hs_s3_time_http(info->created_ms / 1000, date);
    hs_http_add_header(r, "ETag", etag);
    hs_http_add_header(r, "Last-Modified", date);
    hs_http_add_header(r, "Accept-Ranges", "bytes");
    const char *sc = hs_s3_storage_class_of(info->strategy);
    if (sc && strcmp(sc, "STANDARD") != 0) /* S3 names only the other classes */
        hs_http_add_header(r, "x-amz-storage-class", sc);
    const struct hs_manifest_attrs *a = info->attrs;
    if (!a)
        return;
    for (size_t i = 0; i < HS_MANIFEST_ATTR_STRS; i++)
        if (hs_manifest_attrs_str_get(a, i))
            hs_http_add_header(r, hs_manifest_attr_strs[i].header, hs_manifest_attrs_str_get(a, i));
    for (size_t i = 0; i < a->n_meta; i++) {
        char name[11 + HS_ATTRS_META_NAME_MAX + 1];
        snprintf(name, sizeof name, "x-amz-meta-%s", a->meta[i].name);
        hs_http_add_header(r, name, a->meta[i].value);
    }
    if (checksums && a->checksum_alg) {
        char name[40];
        snprintf(name, sizeof name, "x-amz-checksum-%s", a->checksum_alg);
        hs_http_add_header(r, name, a->checksum);
        hs_http_add_header(r, "x-amz-checksum-type",
                           a->checksum_type ? a->checksum_type : "FULL_OBJECT");
    }
}

/* ---- PutObject ---- */

struct s3_put {
    struct hs_obj_writer *w; /* NULL once finished or aborted */
    struct hs_s3_body *body;
    bool failed; /* answered already */
};

static void s3_put_free(void *p)
{
    struct s3_put *put = p;
    hs_obj_writer_abort(put->w); /* the client went away, or a check failed: nothing visible */
    put->w = NULL;
    hs_s3_body_free(put->body);
    put->body = NULL;
}

static enum hs_err put_sink(void *ctx, const uint8_t *data, size_t len, char *msg, size_t msg_len)
{
    struct s3_put *put = ctx;
    return hs_obj_writer_write(put->w, data, len, msg, msg_len);
}

/* If-Match / If-None-Match of a PUT into o. false after answering. */
static bool put_conditions(struct hs_http_req *r, struct hs_obj_put_opts *o, char *etag, size_t cap)
{
    const char *im = hs_http_req_header(r, "If-Match");
    const char *inm = hs_http_req_header(r, "If-None-Match");
    if (inm) {
        if (strcmp(inm, "*") != 0) {
            hs_s3_error(r, "NotImplemented", "PutObject supports only If-None-Match: *");
            return false;
        }
        o->if_none_match_any = true;
    }
    if (im) {
        const char *p = im;
        size_t n = strlen(p);
        if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
            p++;
            n -= 2;
        }
        if (n == 1 && *p == '*') {
            o->if_match_any = true;
        } else if (n == 0 || n >= cap || memchr(p, '"', n)) {
            hs_s3_error(r, "InvalidArgument", "If-Match must hold one entity tag");
            return false;
        } else {
            memcpy(etag, p, n);
            etag[n] = '\0';
            o->if_match = etag;
        }
    }
    return true;
}

void hs_s3_put_object_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_arena *a = hs_http_req_arena(r);
    struct s3_put *put = hs_arena_alloc(a, sizeof *put);
    memset(put, 0, sizeof *put);
    hs_arena_defer(a, s3_put_free, put);
    s->op_ctx = put;
    put->failed = true; /* until begun */
    if (!hs_s3_version_null(r))
        return;
    if (!hs_s3_body_open(r, put_sink, put, &put->body))
        return;
    int64_t len = -1;
    bool streaming = hs_s3_body_streaming(put->body);
    if (!streaming && !hs_http_req_content_length(r, &len)) {
        hs_s3_error(r, "MissingContentLength", NULL);
        return;
    }
    if (streaming)
        len = hs_s3_body_decoded_len(put->body);
    if (len > HS_S3_PUT_MAX) {
        hs_s3_error(r, "EntityTooLarge", "a single PUT takes at most 5 GiB: use multipart");
        return;
    }
    enum hs_strategy strategy = 0;
    if (hs_s3_strategy_resolve(hs_http_req_header(r, "x-amz-storage-class"), &s->bucket_rec,
                               &strategy) != HS_OK) {
        hs_s3_error(r, "InvalidStorageClass", NULL);
        return;
    }
    struct hs_manifest_attrs attrs = {0};
    char etag[HS_ETAG_MAX + 1];
    struct hs_obj_put_opts o = {.key = s->native_key,
                                .key_len = s->native_key_len,
                                .strategy = strategy,
                                .content_type = hs_http_req_header(r, "Content-Type"),
                                .declared_len = len,
                                .request_id = s->request_id,
                                .attrs = &attrs,
                                .byte_exact = true};
    if (o.content_type && !*o.content_type)
        o.content_type = NULL;
    if (!put_conditions(r, &o, etag, sizeof etag) || !hs_s3_attrs_from_request(r, &attrs)) {
        hs_s3_attrs_release(&attrs);
        return;
    }
    char msg[256] = "";
    enum hs_err err = hs_obj_writer_begin(s->gw, &o, &put->w, msg, sizeof msg);
    hs_s3_attrs_release(&attrs);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    put->failed = false;
}

enum hs_err hs_s3_put_object_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct s3_put *put = hs_s3_req_of(r)->op_ctx;
    if (!put || put->failed)
        return HS_OK; /* answered already: the rest is dropped */
    struct hs_s3_body_error e = {0};
    if (hs_s3_body_feed(put->body, data, n, &e))
        return HS_OK;
    put->failed = true;
    hs_obj_writer_abort(put->w); /* before the answer goes out: the old version stays */
    put->w = NULL;
    hs_s3_body_answer(r, &e);
    return HS_EINVAL;
}

void hs_s3_put_object_done(struct hs_http_req *r)
{
    struct s3_put *put = hs_s3_req_of(r)->op_ctx;
    if (!put || put->failed || hs_http_responded(r))
        return;
    struct hs_s3_body_error e = {0};
    if (!hs_s3_body_finish(put->body, &e)) {
        hs_obj_writer_abort(put->w); /* before the answer goes out: the old version stays */
        put->w = NULL;
        hs_s3_body_answer(r, &e);
        return;
    }
    char hex[33], msg[256] = "", b64[HS_S3_CKSUM_B64_MAX] = "";
    uint8_t md5[16];
    hs_s3_body_md5(put->body, md5);
    hs_s3_hex(md5, 16, hex);
    enum hs_s3_cksum_algo flex = hs_s3_body_checksum(put->body, b64);
    const char *alg = hs_s3_cksum_lower(flex);
    enum hs_err err = hs_obj_writer_seal(put->w, hex, alg, alg ? b64 : NULL, msg, sizeof msg);
    struct hs_obj_put_result res = {0};
    if (err == HS_OK) {
        err = hs_obj_writer_finish(put->w, &res, msg, sizeof msg);
    } else {
        hs_obj_writer_abort(put->w);
    }
    put->w = NULL;
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    char etag[HS_ETAG_MAX + 3];
    snprintf(etag, sizeof etag, "\"%s\"", res.etag);
    hs_s3_add_request_id(r);
    hs_http_add_header(r, "ETag", etag);
    if (alg) {
        hs_http_add_header(r, hs_s3_cksum_header(flex), b64);
        hs_http_add_header(r, "x-amz-checksum-type", "FULL_OBJECT");
    }
    hs_http_respond_buf(r, 200, NULL, NULL, 0);
    hs_obj_put_result_release(&res);
}
