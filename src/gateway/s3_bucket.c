/* s3_bucket.c - the S3 bucket operations: ListBuckets, CreateBucket (with or without a
 * CreateBucketConfiguration body), HeadBucket, DeleteBucket, GetBucketLocation and
 * GetBucketVersioning (never enabled). Bucket records are meta's (s3_records.h); the dispatcher
 * has already authenticated the caller, checked its permissions and loaded the bucket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "gateway/s3_int.h"
#include "hs/buf.h"
#include "hs/clock.h"
#include "hs/log.h"
#include "hs/s3_util.h"
#include "hs/s3_xml.h"
#include "hs/banned.h"

#define S3_NS HS_S3_XMLNS

/* Sends the document in b (taken) as application/xml. */
static void respond_doc(struct hs_http_req *r, struct hs_s3_xml *x, struct hs_buf *b)
{
    if (hs_s3_xml_end(x) != HS_OK) {
        hs_buf_release(b);
        hs_s3_error_e(r, HS_S3_INTERNAL_ERROR, "cannot build the answer");
        return;
    }
    hs_s3_add_request_id(r);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(b, &len);
    hs_http_respond_take(r, 200, "application/xml", data, len);
}

/* ---- ListBuckets ---- */

struct list_ctx {
    const struct hs_s3_req *s;
    struct hs_s3_xml *x;
};

static void list_one(void *ctx, const struct hs_s3_bucket_record *b)
{
    struct list_ctx *lc = ctx;
    if (!hs_s3_key_allows_bucket(&lc->s->caller, b->name))
        return;
    char when[HS_S3_ISO_DATE_LEN + 1];
    hs_s3_time_iso8601(b->created_ms, when);
    hs_s3_xml_open(lc->x, "Bucket", NULL);
    hs_s3_xml_elem(lc->x, "Name", b->name);
    hs_s3_xml_elem(lc->x, "CreationDate", when);
    hs_s3_xml_close(lc->x);
}

void hs_s3_list_buckets_done(struct hs_http_req *r)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &b);
    hs_s3_xml_open(&x, "ListAllMyBucketsResult", S3_NS);
    hs_s3_xml_open(&x, "Owner", NULL);
    hs_s3_xml_elem(&x, "ID", s->caller.id);
    hs_s3_xml_elem(&x, "DisplayName", "hybridstore");
    hs_s3_xml_close(&x);
    hs_s3_xml_open(&x, "Buckets", NULL);
    struct list_ctx lc = {s, &x};
    enum hs_err err = hs_s3_cache_buckets_each(s->front->cache, list_one, &lc);
    if (err != HS_OK) {
        hs_buf_release(&b);
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot list buckets in etcd");
        return;
    }
    hs_s3_xml_close(&x);
    hs_s3_xml_close(&x);
    respond_doc(r, &x, &b);
}

/* ---- CreateBucket ---- */

struct create_ctx {
    struct hs_buf body; /* CreateBucketConfiguration, capped */
};

static void create_ctx_free(void *p)
{
    struct create_ctx *c = p;
    hs_buf_release(&c->body);
}

void hs_s3_create_bucket_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!hs_s3_bucket_name_valid(s->bucket)) {
        hs_s3_error(r, "InvalidBucketName", "The specified bucket is not valid: '%s'", s->bucket);
        return;
    }
    if (s->has_bucket) {
        hs_s3_error_e(r, HS_S3_BUCKET_ALREADY_OWNED_BY_YOU, NULL);
        return;
    }
    struct hs_arena *a = hs_http_req_arena(r);
    struct create_ctx *c = hs_arena_alloc(a, sizeof *c);
    hs_buf_init(&c->body, (size_t)HS_S3_XML_CREATE_BUCKET_MAX);
    hs_arena_defer(a, create_ctx_free, c);
    s->op_ctx = c;
}

enum hs_err hs_s3_create_bucket_body(struct hs_http_req *r, const void *data, size_t n)
{
    struct create_ctx *c = hs_s3_req_of(r)->op_ctx;
    enum hs_err err = hs_buf_append(&c->body, data, n);
    if (err != HS_OK)
        hs_s3_error_e(r, HS_S3_MALFORMED_XML, "CreateBucketConfiguration is too large");
    return err;
}

/* One region, one placement: any LocationConstraint is accepted (aws s3 mb sends the client's
 * region) as long as the body is a well-formed CreateBucketConfiguration. */
void hs_s3_create_bucket_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct create_ctx *c = s->op_ctx;
    if (c->body.len > 0) {
        struct hs_s3_create_bucket_conf conf;
        enum hs_s3_err e = hs_s3_xml_parse_create_bucket(c->body.data, c->body.len, &conf);
        if (e != HS_S3_OK) {
            hs_s3_error_e(r, e, NULL);
            return;
        }
    }
    struct hs_s3_bucket_record b = {.name = (char *)s->bucket,
                                    .created_ms = hs_clock_wall_ms(),
                                    .owner = s->has_caller ? s->caller.id : NULL};
    enum hs_err err = hs_s3_bucket_create(hs_s3_cache_etcd(s->front->cache), &b, NULL);
    if (err == HS_EEXIST) {
        hs_s3_error_e(r, HS_S3_BUCKET_ALREADY_OWNED_BY_YOU, NULL);
        return;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot create the bucket");
        return;
    }
    hs_s3_cache_bucket_changed(s->front->cache, s->bucket);
    HS_LOG_INFO("s3_bucket_created", "req=%s bucket=%s key=%s", s->request_id, s->bucket,
                s->has_caller ? s->caller.id : "-");
    char loc[HS_S3_BUCKET_MAX + 2];
    snprintf(loc, sizeof loc, "/%s", s->bucket);
    hs_http_add_header(r, "Location", loc);
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 200, NULL, NULL, 0);
}

/* ---- HeadBucket, DeleteBucket, GetBucketLocation, GetBucketVersioning ---- */

void hs_s3_head_bucket_done(struct hs_http_req *r)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    hs_http_add_header(r, "x-amz-bucket-region", hs_s3_front_region(s->front));
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 200, "application/xml", NULL, 0);
}

void hs_s3_delete_bucket_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    enum hs_err err = hs_s3_bucket_delete(hs_s3_cache_etcd(s->front->cache), s->bucket);
    if (err == HS_ENOENT) {
        hs_s3_error(r, "NoSuchBucket", NULL);
        return;
    }
    if (err == HS_ECONFLICT) {
        hs_s3_error(r, "BucketNotEmpty", NULL);
        return;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot delete the bucket");
        return;
    }
    hs_s3_cache_bucket_changed(s->front->cache, s->bucket);
    HS_LOG_INFO("s3_bucket_deleted", "req=%s bucket=%s", s->request_id, s->bucket);
    hs_s3_add_request_id(r);
    hs_http_respond_buf(r, 204, NULL, NULL, 0);
}

void hs_s3_get_bucket_location_done(struct hs_http_req *r)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    const char *region = hs_s3_front_region(s->front);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &b);
    /* us-east-1 is spelt as an empty constraint (what every client expects) */
    hs_s3_xml_open(&x, "LocationConstraint", S3_NS);
    if (strcmp(region, "us-east-1") != 0 && hs_s3_xml_escape(&b, region, strlen(region)) != HS_OK)
        x.err = HS_ETOOBIG;
    hs_s3_xml_close(&x);
    respond_doc(r, &x, &b);
}

void hs_s3_get_bucket_versioning_done(struct hs_http_req *r)
{
    struct hs_buf b;
    hs_buf_init(&b, 0);
    struct hs_s3_xml x;
    hs_s3_xml_begin(&x, &b);
    hs_s3_xml_open(&x, "VersioningConfiguration", S3_NS); /* never enabled: empty */
    hs_s3_xml_close(&x);
    respond_doc(r, &x, &b);
}
