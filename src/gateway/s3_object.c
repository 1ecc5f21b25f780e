/* s3_object.c - PutObject, and what every S3 object handler shares: the verified body
 * pipeline (aws-chunked decoding with chunk and trailer signatures, MD5 for the ETag, the
 * declared SHA-256, Content-MD5 and the flexible checksum, all checked before anything is
 * committed) and stored attributes <-> headers. A PUT streams through the object layer's
 * writer as it arrives (one segment held at a time); a failed check aborts the writer, so the
 * old version stays and the blobs written so far are deleted with the WAL record. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/s3_object_int.h"
#include "hs/arena.h"
#include "hs/log.h"
#include "hs/mem.h"
#include "hs/s3_sigv4.h"
#include "hs/s3_util.h"
#include "hs/banned.h"

/* ---- the body pipeline ---- */

static const enum hs_s3_cksum_algo flex_algos[] = {
    HS_S3_CKSUM_CRC32, HS_S3_CKSUM_CRC32C, HS_S3_CKSUM_CRC64NVME,
    HS_S3_CKSUM_SHA1,  HS_S3_CKSUM_SHA256,
};

const char *hs_s3_cksum_lower(enum hs_s3_cksum_algo a)
{
    switch (a) {
    case HS_S3_CKSUM_CRC32:
        return "crc32";
    case HS_S3_CKSUM_CRC32C:
        return "crc32c";
    case HS_S3_CKSUM_CRC64NVME:
        return "crc64nvme";
    case HS_S3_CKSUM_SHA1:
        return "sha1";
    case HS_S3_CKSUM_SHA256:
        return "sha256";
    default:
        return NULL;
    }
}

static void answer(struct hs_http_req *r, enum hs_s3_err e, const char *detail)
{
    hs_s3_error(r, hs_s3_err_code(e), "%s", detail && *detail ? detail : hs_s3_err_message(e));
}

/* x-amz-content-sha256 -> payload mode (the signature covered it: the front end verified it). */
static bool payload_mode(struct hs_http_req *r, struct hs_s3_body *b, enum hs_s3_payload_mode *m)
{
    const char *v = hs_http_req_header(r, "x-amz-content-sha256");
    static const struct {
        const char *text;
        enum hs_s3_payload_mode mode;
    } modes[] = {
        {"UNSIGNED-PAYLOAD", HS_S3_PAYLOAD_UNSIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", HS_S3_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", HS_S3_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER", HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    *m = HS_S3_PAYLOAD_UNSIGNED; /* presigned URLs need not send it */
    if (!v)
        return true;
    for (size_t i = 0; i < HS_ARRAY_LEN(modes); i++) {
        if (strcmp(v, modes[i].text) == 0) {
            *m = modes[i].mode;
            return true;
        }
    }
    if (strlen(v) == 64 && hs_s3_hex_decode(v, 64, b->sha256, 32)) {
        *m = HS_S3_PAYLOAD_SHA256;
        b->has_sha256 = true;
        return true;
    }
    if (strncmp(v, "STREAMING-", 10) == 0) {
        hs_s3_error(r, "NotImplemented", "payload mode %.60s is not supported", v);
        return false;
    }
    hs_s3_error(r, "InvalidArgument", "x-amz-content-sha256 must be a hex SHA-256 or a mode");
    return false;
}

/* The flexible checksum: an x-amz-checksum-* header, or the one x-amz-trailer announces. */
static bool flex_choice(struct hs_http_req *r, struct hs_s3_body *b)
{
    for (size_t i = 0; i < HS_ARRAY_LEN(flex_algos); i++) {
        const char *v = hs_http_req_header(r, hs_s3_cksum_header(flex_algos[i]));
        if (!v)
            continue;
        if (b->flex != HS_S3_CKSUM_NONE) {
            hs_s3_error(r, "InvalidRequest", "Expecting a single x-amz-checksum- header");
            return false;
        }
        b->flex = flex_algos[i];
        b->flex_value = v;
    }
    const char *t = hs_http_req_header(r, "x-amz-trailer");
    if (t && *t) {
        enum hs_s3_cksum_algo a;
        if (!b->streaming) {
            hs_s3_error(r, "InvalidRequest", "x-amz-trailer needs an aws-chunked payload");
            return false;
        }
        /* a trailer other than a checksum is the decoder's business (it must arrive) */
        if (!strchr(t, ',') && hs_s3_cksum_parse_header(t, &a)) {
            if (b->flex != HS_S3_CKSUM_NONE) {
                hs_s3_error(r, "InvalidRequest", "Expecting a single x-amz-checksum- header");
                return false;
            }
            b->flex = a;
            b->flex_value = NULL;
        }
    }
    return true;
}

static enum hs_err chunk_data(void *arg, const uint8_t *data, size_t len)
{
    struct hs_s3_body *b = arg;
    hs_s3_hasher_update(&b->hasher, data, len);
    b->sink_err = b->sink(b->sink_ctx, data, len, b->sink_msg, sizeof b->sink_msg);
    return b->sink_err;
}

/* The verified request as the chunk decoder wants it (the front end checked the seed). */
static void chunk_auth(const struct hs_s3_req *s, enum hs_s3_payload_mode mode, int64_t decoded,
                       struct hs_s3_sigv4_result *out)
{
    memset(out, 0, sizeof *out);
    out->error = HS_S3_OK;
    out->kind = s->auth.presigned ? HS_S3_AUTH_PRESIGNED : HS_S3_AUTH_HEADER;
    out->payload = mode;
    out->decoded_content_length = decoded;
    snprintf(out->seed_signature, sizeof out->seed_signature, "%s", s->auth.seed_signature);
    memcpy(out->signing_key, s->auth.signing_key, sizeof out->signing_key);
    snprintf(out->scope, sizeof out->scope, "%s", s->auth.scope);
    snprintf(out->amz_date, sizeof out->amz_date, "%s", s->auth.amz_date);
}

bool hs_s3_body_init(struct hs_http_req *r, struct hs_s3_body *b, hs_s3_sink_fn *sink, void *ctx)
{
    memset(b, 0, sizeof *b);
    b->s = hs_s3_req_of(r);
    b->sink = sink;
    b->sink_ctx = ctx;
    b->decoded_len = -1;
    enum hs_s3_payload_mode mode;
    if (!payload_mode(r, b, &mode))
        return false;
    b->streaming = hs_s3_payload_is_streaming(mode);
    if (!flex_choice(r, b))
        return false;
    b->content_md5 = hs_http_req_header(r, "Content-MD5");
    struct hs_s3_hasher_opts ho = {.sha256 = b->has_sha256, .flex = b->flex};
    if (hs_s3_hasher_init(&b->hasher, &ho) != HS_OK) {
        hs_s3_error(r, "InternalError", "cannot start the digests");
        return false;
    }
    if (!b->streaming)
        return true;
    const char *dl = hs_http_req_header(r, "x-amz-decoded-content-length");
    if (dl) {
        char *end = NULL;
        long long v = strtoll(dl, &end, 10);
        if (!*dl || *end || v < 0) {
            hs_s3_error(r, "InvalidArgument", "x-amz-decoded-content-length is not a number");
            return false;
        }
        b->decoded_len = v;
    } else if (mode == HS_S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER) {
        hs_s3_error(r, "MissingContentLength", "x-amz-decoded-content-length is required");
        return false;
    }
    struct hs_s3_sigv4_result auth;
    chunk_auth(b->s, mode, b->decoded_len, &auth);
    struct hs_s3_chunked_opts co = {.auth = &auth,
                                    .decoded_length = b->decoded_len,
                                    .declared_trailers = hs_http_req_header(r, "x-amz-trailer"),
                                    .on_data = chunk_data,
                                    .arg = b};
    if (hs_s3_chunked_new(&co, &b->chunked) != HS_OK) {
        hs_s3_error(r, "InvalidRequest", "cannot decode this aws-chunked request");
        return false;
    }
    return true;
}

/* A sink failure (the object layer's) or a decoding failure, answered. */
static void answer_feed_error(struct hs_http_req *r, struct hs_s3_body *b, enum hs_err err)
{
    if (b->sink_err != HS_OK) {
        hs_s3_error_hs(r, b->sink_err, b->sink_msg);
        return;
    }
    if (b->chunked && hs_s3_chunked_error(b->chunked) != HS_S3_OK) {
        answer(r, hs_s3_chunked_error(b->chunked), hs_s3_chunked_error_detail(b->chunked));
        return;
    }
    hs_s3_error_hs(r, err, "");
}

bool hs_s3_body_feed(struct hs_http_req *r, struct hs_s3_body *b, const void *data, size_t n)
{
    enum hs_err err;
    if (b->chunked) {
        err = hs_s3_chunked_feed(b->chunked, data, n);
    } else {
        hs_s3_hasher_update(&b->hasher, data, n);
        err = b->sink(b->sink_ctx, data, n, b->sink_msg, sizeof b->sink_msg);
        b->sink_err = err;
    }
    if (err == HS_OK)
        return true;
    answer_feed_error(r, b, err);
    return false;
}

/* The flexible checksum's value: its header, or the trailer of that name. */
static const char *flex_received(struct hs_s3_body *b)
{
    if (b->flex_value || !b->chunked)
        return b->flex_value;
    size_t n = 0;
    const struct hs_s3_trailer *t = hs_s3_chunked_trailers(b->chunked, &n);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(t[i].name, hs_s3_cksum_header(b->flex)) == 0)
            return t[i].value;
    return NULL;
}

bool hs_s3_body_finish(struct hs_http_req *r, struct hs_s3_body *b)
{
    if (b->chunked && hs_s3_chunked_finish(b->chunked) != HS_OK) {
        answer_feed_error(r, b, HS_EINVAL);
        return false;
    }
    hs_s3_hasher_final(&b->hasher, &b->digests);
    hs_s3_hasher_release(&b->hasher);
    enum hs_s3_err e = HS_S3_OK;
    if (b->has_sha256)
        e = hs_s3_sha256_check(b->sha256, b->digests.sha256);
    if (e == HS_S3_OK && b->content_md5)
        e = hs_s3_content_md5_check(b->content_md5, b->digests.md5);
    if (e == HS_S3_OK && b->flex != HS_S3_CKSUM_NONE) {
        const char *v = flex_received(b);
        if (!v) {
            hs_s3_error(r, "MalformedTrailerError", "the announced checksum trailer is missing");
            return false;
        }
        e = hs_s3_cksum_check(b->flex, v, b->digests.flex_raw);
        hs_s3_base64(b->digests.flex_raw, b->digests.flex_len, b->flex_b64);
    }
    if (e != HS_S3_OK) {
        answer(r, e, NULL);
        return false;
    }
    return true;
}

void hs_s3_body_release(struct hs_s3_body *b)
{
    hs_s3_chunked_free(b->chunked);
    b->chunked = NULL;
    hs_s3_hasher_release(&b->hasher);
}

/* ---- attributes <-> headers ---- */

static const struct attr_row {
    const char *header;
    size_t off;
} attr_rows[] = {
    {"Content-Encoding", offsetof(struct hs_manifest_attrs, content_encoding)},
    {"Cache-Control", offsetof(struct hs_manifest_attrs, cache_control)},
    {"Content-Disposition", offsetof(struct hs_manifest_attrs, content_disposition)},
    {"Content-Language", offsetof(struct hs_manifest_attrs, content_language)},
    {"Expires", offsetof(struct hs_manifest_attrs, expires)},
};

static char **attr_at(struct hs_manifest_attrs *a, size_t i)
{
    return (char **)((char *)a + attr_rows[i].off);
}

static const char *attr_get(const struct hs_manifest_attrs *a, size_t i)
{
    return *(char *const *)((const char *)a + attr_rows[i].off);
}

/* Content-Encoding without the aws-chunked framing token (it describes the request only). */
static char *content_encoding(const char *v)
{
    char *out = hs_xcalloc(1, strlen(v) + 1);
    size_t n = 0;
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if (last > p && !((size_t)(last - p) == 11 && strncasecmp(p, "aws-chunked", 11) == 0)) {
            if (n)
                out[n++] = ',';
            memcpy(out + n, p, (size_t)(last - p));
            n += (size_t)(last - p);
        }
        p = end;
    }
    if (n == 0) {
        free(out);
        return NULL;
    }
    return out;
}

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
            *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
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

void hs_s3_attrs_release(struct hs_manifest_attrs *a)
{
    for (size_t i = 0; i < HS_ARRAY_LEN(attr_rows); i++)
        free(*attr_at(a, i));
    for (size_t i = 0; i < a->n_meta; i++) {
        free(a->meta[i].name);
        free(a->meta[i].value);
    }
    free(a->meta);
    free(a->checksum_alg);
    free(a->checksum);
    free(a->checksum_type);
    memset(a, 0, sizeof *a);
}

bool hs_s3_attrs_from_request(struct hs_http_req *r, struct hs_manifest_attrs *a)
{
    for (size_t i = 0; i < HS_ARRAY_LEN(attr_rows); i++) {
        const char *v = hs_http_req_header(r, attr_rows[i].header);
        if (!v || !*v)
            continue;
        *attr_at(a, i) = i == 0 ? content_encoding(v) : hs_xstrdup(v);
    }
    struct meta_walk w = {.a = a};
    hs_http_req_headers_each(r, meta_one, &w);
    if (w.err == HS_ETOOBIG) {
        hs_s3_error(r, "MetadataTooLarge",
                    "Your metadata headers exceed the maximum allowed metadata size (%d bytes)",
                    HS_ATTRS_META_MAX);
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
    for (size_t i = 0; i < HS_ARRAY_LEN(attr_rows); i++)
        if (attr_get(a, i))
            hs_http_add_header(r, attr_rows[i].header, attr_get(a, i));
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
    struct hs_s3_body body;
    bool failed; /* answered already */
};

static void s3_put_free(void *p)
{
    struct s3_put *put = p;
    hs_obj_writer_abort(put->w); /* the client went away, or a check failed: nothing visible */
    put->w = NULL;
    hs_s3_body_release(&put->body);
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
    if (!hs_s3_body_init(r, &put->body, put_sink, put))
        return;
    int64_t len = -1;
    if (!put->body.streaming && !hs_http_req_content_length(r, &len)) {
        hs_s3_error(r, "MissingContentLength", NULL);
        return;
    }
    if (put->body.streaming)
        len = put->body.decoded_len;
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
    if (hs_s3_body_feed(r, &put->body, data, n))
        return HS_OK;
    put->failed = true;
    hs_obj_writer_abort(put->w); /* before the answer goes out: the old version stays */
    put->w = NULL;
    return HS_EINVAL;
}

void hs_s3_put_object_done(struct hs_http_req *r)
{
    struct s3_put *put = hs_s3_req_of(r)->op_ctx;
    if (!put || put->failed || hs_http_responded(r))
        return;
    if (!hs_s3_body_finish(r, &put->body)) {
        hs_obj_writer_abort(put->w);
        put->w = NULL;
        return;
    }
    char hex[33], msg[256] = "";
    hs_s3_hex(put->body.digests.md5, 16, hex);
    const char *alg = hs_s3_cksum_lower(put->body.flex);
    enum hs_err err =
        hs_obj_writer_seal(put->w, hex, alg, alg ? put->body.flex_b64 : NULL, msg, sizeof msg);
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
        hs_http_add_header(r, hs_s3_cksum_header(put->body.flex), put->body.flex_b64);
        hs_http_add_header(r, "x-amz-checksum-type", "FULL_OBJECT");
    }
    hs_http_respond_buf(r, 200, NULL, NULL, 0);
    hs_obj_put_result_release(&res);
}
