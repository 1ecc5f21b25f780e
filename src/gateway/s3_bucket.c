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
#include "hs/banned.h"

#define XML_HEAD   "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_NS      "http://s3.amazonaws.com/doc/2006-03-01/"
#define CONFIG_MAX (64 * 1024) /* a CreateBucketConfiguration is a few hundred bytes */
#define BUCKET_MIN 3

static void respond_buf(struct hs_http_req *r, unsigned status, struct hs_buf *b)
{
    hs_s3_add_request_id(r);
    size_t len = 0;
    uint8_t *data = hs_buf_detach(b, &len);
    hs_http_respond_take(r, status, "application/xml", data, len);
}

/* ---- ListBuckets ---- */

struct list_ctx {
    const struct hs_s3_req *s;
    struct hs_buf *out;
};

static void list_one(void *ctx, const struct hs_s3_bucket_record *b)
{
    struct list_ctx *lc = ctx;
    if (!hs_s3_key_allows_bucket(&lc->s->caller, b->name))
        return;
    char when[40];
    hs_clock_format_utc(b->created_ms, when, sizeof when);
    (void)hs_buf_printf(lc->out, "<Bucket><Name>");
    hs_s3_xml_escape(lc->out, b->name, strlen(b->name));
    (void)hs_buf_printf(lc->out, "</Name><CreationDate>%s</CreationDate></Bucket>", when);
}

void hs_s3_list_buckets_done(struct hs_http_req *r)
{
    const struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_buf b;
    hs_buf_init(&b, 0);
    (void)hs_buf_printf(&b, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" S3_NS "\"><Owner><ID>");
    hs_s3_xml_escape(&b, s->caller.id, strlen(s->caller.id));
    (void)hs_buf_printf(&b, "</ID><DisplayName>hybridstore</DisplayName></Owner><Buckets>");
    struct list_ctx lc = {s, &b};
    enum hs_err err = hs_s3_cache_buckets_each(s->front->cache, list_one, &lc);
    if (err != HS_OK) {
        hs_buf_release(&b);
        hs_s3_error_hs(r, HS_EUNAVAIL, "cannot list buckets in etcd");
        return;
    }
    (void)hs_buf_printf(&b, "</Buckets></ListAllMyBucketsResult>");
    respond_buf(r, 200, &b);
}

/* ---- CreateBucket ---- */

/* S3's bucket naming rules: 3..63 chars of [a-z0-9.-], a letter or digit at both ends, no "..",
 * not an IPv4 address, none of the reserved prefixes and suffixes. */
static bool s3_bucket_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < BUCKET_MIN || n > HS_S3_BUCKET_MAX || !hs_meta_s3_bucket_name_valid(name))
        return false;
    char first = name[0], last = name[n - 1];
    bool ends_ok = ((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9')) &&
                   ((last >= 'a' && last <= 'z') || (last >= '0' && last <= '9'));
    if (!ends_ok || strstr(name, "..") || strstr(name, ".-") || strstr(name, "-."))
        return false;
    if (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0 ||
        (n > 8 && strcmp(name + n - 8, "-s3alias") == 0) ||
        (n > 10 && strcmp(name + n - 10, "--ol-s3") == 0))
        return false;
    unsigned a, b, c, d;
    char tail;
    return sscanf(name, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4;
}

struct create_ctx {
    size_t body_bytes; /* CreateBucketConfiguration bytes received (their content is ignored:
                          one region, one placement) */
};

void hs_s3_create_bucket_start(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!s3_bucket_name_ok(s->bucket)) {
        hs_s3_error(r, "InvalidBucketName", "The specified bucket is not valid: '%s'", s->bucket);
        return;
    }
    if (s->has_bucket) {
        hs_s3_error(r, "BucketAlreadyOwnedByYou", NULL);
        return;
    }
    s->op_ctx = hs_arena_alloc(hs_http_req_arena(r), sizeof(struct create_ctx));
    *(struct create_ctx *)s->op_ctx = (struct create_ctx){0};
}

enum hs_err hs_s3_create_bucket_body(struct hs_http_req *r, const void *data, size_t n)
{
    (void)data;
    struct create_ctx *c = hs_s3_req_of(r)->op_ctx;
    c->body_bytes += n;
    if (c->body_bytes > CONFIG_MAX) {
        hs_s3_error(r, "MalformedXML", "CreateBucketConfiguration is too large");
        return HS_ETOOBIG;
    }
    return HS_OK;
}

void hs_s3_create_bucket_done(struct hs_http_req *r)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    struct hs_s3_bucket_record b = {.name = (char *)s->bucket,
                                    .created_ms = hs_clock_wall_ms(),
                                    .owner = s->has_caller ? s->caller.id : NULL};
    enum hs_err err = hs_s3_bucket_create(hs_s3_cache_etcd(s->front->cache), &b, NULL);
    if (err == HS_EEXIST) {
        hs_s3_error(r, "BucketAlreadyOwnedByYou", NULL);
        return;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, err == HS_EINVAL ? HS_EINVAL : HS_EUNAVAIL, "cannot create the bucket");
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
    /* us-east-1 is spelt as an empty constraint (what every client expects) */
    if (strcmp(region, "us-east-1") == 0) {
        (void)hs_buf_printf(&b, XML_HEAD "<LocationConstraint xmlns=\"" S3_NS "\"/>");
    } else {
        (void)hs_buf_printf(&b, XML_HEAD "<LocationConstraint xmlns=\"" S3_NS "\">");
        hs_s3_xml_escape(&b, region, strlen(region));
        (void)hs_buf_printf(&b, "</LocationConstraint>");
    }
    respond_buf(r, 200, &b);
}

void hs_s3_get_bucket_versioning_done(struct hs_http_req *r)
{
    static const char xml[] = XML_HEAD "<VersioningConfiguration xmlns=\"" S3_NS "\"/>";
    hs_s3_respond_xml(r, 200, xml, sizeof xml - 1);
}
