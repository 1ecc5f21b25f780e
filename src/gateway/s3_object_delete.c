/* s3_object_delete.c - DeleteObject (204 whether or not the key existed; versionId=null
 * accepted; x-amz-bypass-governance-retention ignored: nothing is ever locked) and
 * DeleteObjects (the Delete XML body, up to 1000 keys, Quiet mode, per-key Deleted / Error;
 * the body's Content-MD5 or flexible checksum is verified, whichever was sent: botocore >= 1.36
 * sends only a CRC32). Keys are deleted one after the other, each with the object layer's
 * compare-and-delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/s3_object_int.h"
#include "hs/arena.h"
#include "hs/buf.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

void hs_s3_delete_object_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!hs_s3_version_null(r))
        return;
    struct hs_obj_delete_result res = {0};
    char msg[256] = "";
    enum hs_err err =
        hs_obj_delete(s->gw, s->native_key, s->native_key_len, NULL, &res, msg, sizeof msg);
    if (err != HS_OK && err != HS_ENOENT) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}

/* ---- DeleteObjects ---- */

struct s3_multi {
    struct hs_s3_body *body;
    struct hs_buf xml; /* the request body, capped */
    bool failed;
};

static void s3_multi_free(void *p)
{
    struct s3_multi *m = p;
    hs_s3_body_free(m->body);
    hs_buf_release(&m->xml);
}

static enum hs_err multi_sink(void *ctx, const uint8_t *data, size_t len, char *msg, size_t msg_len)
{
    struct s3_multi *m = ctx;
    if (hs_buf_append(&m->xml, data, len) != HS_OK) {
        snprintf(msg, msg_len, "the Delete body is over %zu bytes", HS_S3_XML_DELETE_MAX);
        return HS_ETOOBIG;
    }
    return HS_OK;
}

void hs_s3_delete_objects_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_arena *a = hs_http_req_arena(r);
    struct s3_multi *m = hs_arena_alloc(a, sizeof *m);
    memset(m, 0, sizeof *m);
    hs_buf_init(&m->xml, (size_t)HS_S3_XML_DELETE_MAX);
    hs_arena_defer(a, s3_multi_free, m);
    s->op_ctx = m;
    m->failed = !hs_s3_body_open(r, multi_sink, m, &m->body);
}

enum hs_err hs_s3_delete_objects_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct s3_multi *m = hs_s3_req_of(r)->op_ctx;
    if (!m || m->failed)
        return HS_OK;
    struct hs_s3_body_error e = {0};
    if (hs_s3_body_feed(m->body, data, n, &e))
        return HS_OK;
    m->failed = true;
    hs_s3_body_answer(r, &e);
    return HS_EINVAL;
}

/* One key: HS_S3_OK when it is gone (or never was), else the S3 error with *msg. */
static enum hs_s3_err delete_one(struct hs_http_req *r, const struct hs_s3_delete_object *o,
                                 char *msg, size_t msg_len)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (o->version_id && strcmp(o->version_id, "null") != 0) {
        snprintf(msg, msg_len, "The specified version does not exist (buckets are unversioned)");
        return HS_S3_NO_SUCH_VERSION;
    }
    const char *native = NULL;
    size_t native_len = 0;
    if (hs_s3_native_key(hs_http_req_arena(r), s->bucket, o->key, o->key_len, &native,
                         &native_len) != HS_OK) {
        snprintf(msg, msg_len, "the object key is not valid here");
        return o->key_len > HS_S3_KEY_MAX ? HS_S3_KEY_TOO_LONG : HS_S3_INVALID_ARGUMENT;
    }
    struct hs_obj_delete_result res = {0};
    enum hs_err err = hs_obj_delete(s->gw, native, native_len, NULL, &res, msg, msg_len);
    if (err == HS_OK || err == HS_ENOENT)
        return HS_S3_OK;
    if (!*msg)
        snprintf(msg, msg_len, "%s", hs_strerror(err));
    return hs_s3_err_from_hs(err);
}

void hs_s3_delete_objects_done(struct hs_http_req *r)
{
    struct s3_multi *m = hs_s3_req_of(r)->op_ctx;
    if (!m || m->failed || hs_http_responded(r))
        return;
    struct hs_s3_body_error be = {0};
    if (!hs_s3_body_finish(m->body, &be)) {
        hs_s3_body_answer(r, &be);
        return;
    }
    struct hs_s3_delete_request req = {0};
    enum hs_s3_err e = hs_s3_xml_parse_delete(m->xml.data, m->xml.len, &req);
    if (e != HS_S3_OK) {
        hs_s3_error(r, hs_s3_err_code(e), NULL);
        return;
    }
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &out);
    hs_s3_xml_open(&x, "DeleteResult", HS_S3_XMLNS);
    for (size_t i = 0; i < req.n_objects; i++) {
        const struct hs_s3_delete_object *o = &req.objects[i];
        char msg[256] = "";
        e = delete_one(r, o, msg, sizeof msg);
        if (e == HS_S3_OK && req.quiet)
            continue;
        hs_s3_xml_open(&x, e == HS_S3_OK ? "Deleted" : "Error", NULL);
        hs_s3_xml_elem_n(&x, "Key", o->key, o->key_len);
        if (o->version_id)
            hs_s3_xml_elem(&x, "VersionId", o->version_id);
        if (e != HS_S3_OK) {
            hs_s3_xml_elem(&x, "Code", hs_s3_err_code(e));
            hs_s3_xml_elem(&x, "Message", msg);
        }
        hs_s3_xml_close(&x);
    }
    hs_s3_xml_close(&x);
    enum hs_err err = hs_s3_xml_end(&x);
    hs_s3_delete_request_release(&req);
    if (err != HS_OK)
        hs_s3_error(r, "InternalError", "cannot write the answer");
    else
        hs_s3_respond_xml(r, 200, (const char *)out.data, out.len);
    hs_buf_release(&out);
}
