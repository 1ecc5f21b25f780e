/* s3_object_copy.c - CopyObject: x-amz-copy-source ("/bucket/key" or "bucket/key",
 * URL-encoded, optionally "?versionId=null"), the x-amz-copy-source-if-* conditions (412 for
 * every failed one, as S3 answers a copy), the COPY / REPLACE metadata directive, and the
 * CopyObjectResult XML. The data streams from a reader of the source into a writer of the
 * destination (one segment each in memory): blobs are never shared between two keys, because
 * the healer retires a version's blobs per key and would delete the copy's data with the
 * source. The new ETag is the MD5 of the copied bytes; a source checksum is kept (same bytes). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/s3_object_int.h"
#include "hs/arena.h"
#include "hs/clock.h"
#include "hs/mem.h"
#include "hs/s3_util.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

#define COPY_BUF_BYTES ((size_t)1 << 20)

/* Splits x-amz-copy-source into bucket and key (arena copies). false after answering. */
static bool copy_source(struct hs_http_req *r, const char **bucket, const char **key,
                        size_t *key_len)
{
    char *b = NULL, *k = NULL;
    const char *why = "";
    if (!hs_s3_copy_source_parse(hs_http_req_header(r, "x-amz-copy-source"), &b, &k, key_len,
                                 &why)) {
        hs_s3_error(r, "InvalidArgument", "%s", why);
        return false;
    }
    struct hs_arena *a = hs_http_req_arena(r);
    char *kc = hs_arena_alloc(a, *key_len + 1);
    memcpy(kc, k, *key_len + 1);
    *bucket = hs_arena_strdup(a, b);
    *key = kc;
    free(b);
    free(k);
    return true;
}

static bool cond_pass(struct hs_http_req *r, const struct hs_obj_info *info)
{
    if (hs_s3_conditions(r, "x-amz-copy-source-", info->etag, info->created_ms / 1000) ==
        HS_S3_COND_OK)
        return true;
    hs_s3_error(r, "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold");
    return false;
}

struct copy {
    struct hs_obj_reader *rd;
    struct hs_obj_writer *w;
    struct hs_s3_hasher h;
    struct hs_manifest_attrs attrs; /* REPLACE: from the request */
    uint8_t *buf;
};

static void copy_release(struct copy *c)
{
    hs_obj_reader_close(c->rd);
    hs_obj_writer_abort(c->w);
    hs_s3_hasher_release(&c->h);
    hs_s3_attrs_release(&c->attrs);
    free(c->buf);
}

/* Streams the reader into the writer, hashing MD5. */
static enum hs_err copy_bytes(struct copy *c, char *msg, size_t msg_len)
{
    for (;;) {
        size_t got = 0;
        enum hs_err err = hs_obj_reader_read(c->rd, c->buf, COPY_BUF_BYTES, &got);
        if (err != HS_OK) {
            snprintf(msg, msg_len, "cannot read the copy source: %s", hs_strerror(err));
            return err;
        }
        if (got == 0)
            return HS_OK;
        hs_s3_hasher_update(&c->h, c->buf, got);
        if ((err = hs_obj_writer_write(c->w, c->buf, got, msg, msg_len)) != HS_OK)
            return err;
    }
}

static void respond_result(struct hs_http_req *r, const struct hs_obj_put_result *res,
                           const struct hs_manifest_attrs *kept)
{
    char etag[HS_ETAG_MAX + 3], when[HS_S3_ISO_DATE_LEN + 1];
    snprintf(etag, sizeof etag, "\"%s\"", res->etag);
    /* the writer's result carries no time: the clock right after the commit (the manifest's
     * ctime_ms was taken just before it, within the same request) */
    hs_s3_time_iso8601(hs_clock_wall_ms(), when);
    struct hs_buf out;
    hs_buf_init(&out, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &out);
    hs_s3_xml_open(&x, "CopyObjectResult", HS_S3_XMLNS);
    hs_s3_xml_elem(&x, "LastModified", when);
    hs_s3_xml_elem(&x, "ETag", etag);
    if (kept && kept->checksum_alg) {
        char name[32];
        snprintf(name, sizeof name, "Checksum%s", kept->checksum_alg);
        for (char *p = name + 8; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        hs_s3_xml_elem(&x, name, kept->checksum);
    }
    hs_s3_xml_close(&x);
    if (hs_s3_xml_end(&x) != HS_OK)
        hs_s3_error(r, "InternalError", "cannot write the answer");
    else
        hs_s3_respond_xml(r, 200, (const char *)out.data, out.len);
    hs_buf_release(&out);
}

/* The writer of the destination: storage class, content type and attributes by directive. */
static bool copy_begin(struct hs_http_req *r, struct copy *c, const struct hs_obj_info *src,
                       bool replace)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    enum hs_strategy strategy = 0;
    if (hs_s3_strategy_resolve(hs_http_req_header(r, "x-amz-storage-class"), &s->bucket_rec,
                               &strategy) != HS_OK) {
        hs_s3_error(r, "InvalidStorageClass", NULL);
        return false;
    }
    if (replace && !hs_s3_attrs_from_request(r, &c->attrs))
        return false;
    const char *ctype = replace ? hs_http_req_header(r, "Content-Type") : src->content_type;
    struct hs_obj_put_opts o = {.key = s->native_key,
                                .key_len = s->native_key_len,
                                .strategy = strategy,
                                .content_type = ctype && *ctype ? ctype : NULL,
                                .declared_len = src->size_bytes,
                                .request_id = s->request_id,
                                .attrs = replace ? &c->attrs : src->attrs,
                                .byte_exact = true};
    char msg[256] = "";
    enum hs_err err = hs_obj_writer_begin(s->gw, &o, &c->w, msg, sizeof msg);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return false;
    }
    return true;
}

void hs_s3_copy_object_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    const char *sb = NULL, *sk = NULL, *native = NULL;
    size_t sk_len = 0, native_len = 0;
    if (!copy_source(r, &sb, &sk, &sk_len) || !hs_s3_check_access(r, sb, false))
        return;
    const char *dir = hs_http_req_header(r, "x-amz-metadata-directive");
    bool replace = dir && strcasecmp(dir, "REPLACE") == 0;
    if (dir && !replace && strcasecmp(dir, "COPY") != 0) {
        hs_s3_error(r, "InvalidArgument", "Unknown metadata directive.");
        return;
    }
    if (hs_s3_native_key(hs_http_req_arena(r), sb, sk, sk_len, &native, &native_len) != HS_OK) {
        hs_s3_error(r, "NoSuchKey", NULL);
        return;
    }
    if (!replace && !hs_http_req_header(r, "x-amz-storage-class") &&
        native_len == s->native_key_len && memcmp(native, s->native_key, native_len) == 0) {
        hs_s3_error(r, "InvalidRequest",
                    "This copy request is illegal because it is trying to copy an object to "
                    "itself without changing the object's metadata, storage class, website "
                    "redirect location or encryption attributes.");
        return;
    }
    struct copy c = {0};
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err =
        hs_obj_reader_open(s->gw, native, native_len, 0, -1, &c.rd, &info, msg, sizeof msg);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    if (!cond_pass(r, &info))
        goto out;
    if (info.size_bytes > HS_S3_PUT_MAX) {
        hs_s3_error(r, "InvalidRequest",
                    "The specified copy source is larger than the maximum allowable size for a "
                    "copy source: 5368709120");
        goto out;
    }
    if (hs_s3_hasher_init(&c.h, NULL) != HS_OK) {
        hs_s3_error(r, "InternalError", NULL);
        goto out;
    }
    if (!copy_begin(r, &c, &info, replace))
        goto out;
    c.buf = hs_xmalloc(COPY_BUF_BYTES);
    /* the source's attributes (and its checksum: the same bytes) as read before the copy */
    struct hs_manifest_attrs *kept = replace ? NULL : hs_manifest_attrs_dup(info.attrs);
    if (kept && kept->checksum_type && strcmp(kept->checksum_type, "COMPOSITE") == 0) {
        free(kept->checksum_alg); /* a checksum of part checksums: not this single version's */
        free(kept->checksum);
        kept->checksum_alg = kept->checksum = NULL;
    }
    err = copy_bytes(&c, msg, sizeof msg);
    struct hs_s3_digests d;
    hs_s3_hasher_final(&c.h, &d);
    char hex[33];
    hs_s3_hex(d.md5, 16, hex);
    if (err == HS_OK)
        err = hs_obj_writer_seal(c.w, hex, kept ? kept->checksum_alg : NULL,
                                 kept ? kept->checksum : NULL, msg, sizeof msg);
    struct hs_obj_put_result res = {0};
    if (err == HS_OK) {
        err = hs_obj_writer_finish(c.w, &res, msg, sizeof msg);
        c.w = NULL;
    }
    if (err != HS_OK)
        hs_s3_error_hs(r, err, msg);
    else
        respond_result(r, &res, kept);
    hs_obj_put_result_release(&res);
    hs_manifest_attrs_free(kept);
out:
    copy_release(&c);
}
