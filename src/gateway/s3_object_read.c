/* s3_object_read.c - GetObject and HeadObject: conditional requests (RFC 9110 section 13.2.2
 * order), one Range (206, or 416 InvalidRange), response-* overrides, the stored attributes
 * and user metadata, the stored flexible checksum when x-amz-checksum-mode is ENABLED. The
 * body streams from the object layer's reader; its first bytes are read before any header
 * goes out, so late errors still get a proper status. Never an x-amz-version-id: buckets are
 * not versioned. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/api_read.h"
#include "gateway/s3_object_int.h"
#include "hs/s3_util.h"
#include "hs/mem.h"
#include "hs/banned.h"

bool hs_s3_version_null(struct hs_http_req *r)
{
    const char *v = hs_http_req_query(r, "versionId");
    if (!v || strcmp(v, "null") == 0)
        return true;
    hs_s3_error(r, "InvalidArgument", "Invalid version id specified (buckets are not versioned)");
    return false;
}

static const char *req_header(void *ctx, const char *name)
{
    return hs_http_req_header(ctx, name);
}

enum hs_s3_cond hs_s3_conditions(struct hs_http_req *r, const char *prefix, const char *etag,
                                 int64_t mtime_s)
{
    return hs_s3_cond_eval(req_header, r, prefix, etag, mtime_s);
}

/* response-* query parameters override the stored headers of a GET (S3 allows them on signed
 * requests; anonymous ones are refused as S3 does). */
static const struct override_row {
    const char *query;
    const char *header;
} overrides[] = {
    {"response-content-type", "Content-Type"},
    {"response-content-language", "Content-Language"},
    {"response-expires", "Expires"},
    {"response-cache-control", "Cache-Control"},
    {"response-content-disposition", "Content-Disposition"},
    {"response-content-encoding", "Content-Encoding"},
};

/* The object's headers with overrides applied (a stored value is replaced, not repeated).
 * The stored checksum is of the whole object: a 206 (ranged) answer never carries it, as S3
 * does, or a client validating it (the JS SDK does by default) fails the range. */
static bool add_headers(struct hs_http_req *r, const struct hs_obj_info *info, bool ranged,
                        const char **ctype_out)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    const char *ov[HS_ARRAY_LEN(overrides)] = {0};
    bool any = false;
    for (size_t i = 0; i < HS_ARRAY_LEN(overrides); i++) {
        ov[i] = hs_http_req_query(r, overrides[i].query);
        any = any || ov[i];
    }
    if (any && s->auth.anonymous) {
        hs_s3_error(r, "InvalidRequest",
                    "Request specific response headers cannot be used for anonymous GET requests.");
        return false;
    }
    const char *cm = hs_http_req_header(r, "x-amz-checksum-mode");
    struct hs_obj_info shown = *info;
    struct hs_manifest_attrs attrs = {0};
    if (info->attrs && any) {
        /* a shallow copy whose overridden members are dropped; the overrides follow */
        attrs = *info->attrs;
        attrs.content_language = ov[1] ? NULL : attrs.content_language;
        attrs.expires = ov[2] ? NULL : attrs.expires;
        attrs.cache_control = ov[3] ? NULL : attrs.cache_control;
        attrs.content_disposition = ov[4] ? NULL : attrs.content_disposition;
        attrs.content_encoding = ov[5] ? NULL : attrs.content_encoding;
        shown.attrs = &attrs;
    }
    hs_s3_add_object_headers(r, &shown, !ranged && cm && strcasecmp(cm, "ENABLED") == 0);
    for (size_t i = 1; i < HS_ARRAY_LEN(overrides); i++)
        if (ov[i])
            hs_http_add_header(r, overrides[i].header, ov[i]);
    *ctype_out = ov[0] ? ov[0] : info->content_type;
    return true;
}

static ssize_t no_body(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)ctx, (void)pos, (void)buf, (void)max;
    return HS_HTTP_READ_ERROR; /* HEAD: the headers only */
}

static void respond_416(struct hs_http_req *r, int64_t size)
{
    char cr[48];
    snprintf(cr, sizeof cr, "bytes */%" PRId64, size);
    hs_http_add_header(r, "Content-Range", cr);
    hs_s3_error(r, "InvalidRange",
                "The requested range is not satisfiable (the object has %" PRId64 " bytes)", size);
}

/* Evaluates the conditions; false after answering 304 / 412. */
static bool conditions_pass(struct hs_http_req *r, const struct hs_obj_info *info)
{
    switch (hs_s3_conditions(r, "", info->etag, info->created_ms / 1000)) {
    case HS_S3_COND_NOT_MODIFIED: {
        struct hs_obj_info shown = *info;
        shown.attrs = NULL; /* 304: validators only (ETag, Last-Modified) */
        hs_s3_add_request_id(r);
        hs_s3_add_object_headers(r, &shown, false);
        hs_http_respond_buf(r, 304, NULL, "", 0);
        return false;
    }
    case HS_S3_COND_FAILED:
        hs_s3_error(r, "PreconditionFailed",
                    "At least one of the pre-conditions you specified did "
                    "not hold");
        return false;
    default:
        return true;
    }
}

static void get_or_head(struct hs_http_req *r, bool head)
{
    struct hs_s3_req *s = hs_s3_req_of(r);
    if (!hs_s3_version_null(r))
        return;
    if (hs_http_req_query(r, "partNumber")) {
        hs_s3_error(r, "NotImplemented", "partNumber is not supported");
        return;
    }
    struct hs_obj_reader *rd = NULL;
    struct hs_obj_info info;
    char msg[256] = "";
    enum hs_err err = hs_obj_reader_open(s->gw, s->native_key, s->native_key_len, 0, -1, &rd, &info,
                                         msg, sizeof msg);
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, msg);
        return;
    }
    if (!conditions_pass(r, &info))
        goto close;
    struct hs_http_range range;
    bool ranged = hs_http_range_parse(hs_http_req_header(r, "Range"), &range);
    int64_t off = 0, len = info.size_bytes;
    if (ranged && (!hs_http_range_resolve(&range, info.size_bytes, &off, &len) ||
                   hs_obj_reader_set_range(rd, off, len) != HS_OK)) {
        respond_416(r, info.size_bytes);
        goto close;
    }
    const char *ctype = NULL;
    if (head) {
        hs_s3_add_request_id(r);
        if (!add_headers(r, &info, ranged, &ctype))
            goto close;
        if (ranged) {
            char cr[80];
            snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, off, off + len - 1,
                     info.size_bytes);
            hs_http_add_header(r, "Content-Range", cr);
        }
        hs_http_respond_callback(r, ranged ? 206 : 200, ctype, len, no_body, NULL, NULL);
        goto close;
    }
    struct hs_gw_read_start st;
    err = hs_gw_read_start(rd, &st);
    const struct hs_obj_info *now = hs_obj_reader_info(rd);
    if (err == HS_ERANGE) {
        respond_416(r, now->size_bytes);
        goto close;
    }
    if (err != HS_OK) {
        hs_s3_error_hs(r, err, err == HS_ENOENT ? "the object was deleted" : "");
        goto close;
    }
    hs_s3_add_request_id(r);
    if (!add_headers(r, now, ranged, &ctype)) {
        free(st.first);
        goto close;
    }
    if (ranged) {
        char cr[80];
        int64_t o = hs_obj_reader_offset(rd), l = hs_obj_reader_length(rd);
        snprintf(cr, sizeof cr, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, o, o + l - 1,
                 now->size_bytes);
        hs_http_add_header(r, "Content-Range", cr);
    }
    /* ctype may point into the reader: hs_gw_respond_reader answers before closing it */
    if (hs_gw_respond_reader(r, ranged ? 206 : 200, ctype, rd, &st) == HS_EBUSY)
        hs_s3_error_hs(r, HS_EBUSY, HS_GW_READ_BUSY_MSG);
    return;
close:
    hs_obj_reader_close(rd);
}

void hs_s3_get_object_done(struct hs_http_req *r)
{
    get_or_head(r, false);
}

void hs_s3_head_object_done(struct hs_http_req *r)
{
    get_or_head(r, true);
}
