/* s3_object_int.h - private to the S3 object handlers (s3_object.c, s3_object_read.c,
 * s3_object_copy.c, s3_object_delete.c, s3_list.c): the verified request body pipeline
 * (aws-chunked decoding, digests, Content-MD5 / x-amz-content-sha256 / flexible checksum
 * checks), stored attributes <-> headers, and the conditional request rules. The front end
 * (s3_api.h) gives them the request context; the object layer (gateway.h) does the storing. */
#ifndef HS_GATEWAY_S3_OBJECT_INT_H
#define HS_GATEWAY_S3_OBJECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"
#include "gateway/s3_api.h"
#include "hs/http_server.h"
#include "hs/manifest.h"
#include "hs/s3_checksum.h"
#include "hs/s3_chunked.h"
#include "hs/s3_err.h"

#define HS_S3_PUT_MAX ((int64_t)5 << 30) /* bytes of a single PUT or a copy source (S3's) */

/* ---- the request body (s3_object.c) ----
 * Decodes aws-chunked when the payload mode is STREAMING-*, hashes MD5 (+ SHA-256 when a hex
 * payload hash was declared, + the flexible checksum sent as a header or announced as a
 * trailer) and hands the payload to a sink. Nothing is verified before hs_s3_body_finish:
 * the sink must not commit anything before it returned HS_S3_OK. */
typedef enum hs_err hs_s3_sink_fn(void *ctx, const uint8_t *data, size_t len, char *msg,
                                  size_t msg_len);
struct hs_s3_body {
    struct hs_s3_req *s;
    hs_s3_sink_fn *sink;
    void *sink_ctx;
    struct hs_s3_hasher hasher;
    struct hs_s3_chunked *chunked; /* STREAMING-* modes */
    bool streaming;
    bool has_sha256; /* a hex payload hash was declared */
    uint8_t sha256[32];
    enum hs_s3_cksum_algo flex; /* the flexible checksum to verify, NONE = none */
    const char *flex_value;     /* its header value; NULL when it comes as a trailer */
    const char *content_md5;    /* header, NULL = none */
    int64_t decoded_len;        /* payload bytes announced, -1 unknown */
    enum hs_err sink_err;       /* the sink's failure, HS_OK while none */
    char sink_msg[256];
    struct hs_s3_digests digests; /* after finish */
    char flex_b64[HS_S3_CKSUM_B64_MAX];
};
/* Reads the payload mode and the checksum headers of r. false after answering the S3 error
 * (bad x-amz-content-sha256, two checksum headers, a trailer that is not a checksum...). */
bool hs_s3_body_init(struct hs_http_req *r, struct hs_s3_body *b, hs_s3_sink_fn *sink, void *ctx);
/* Feeds body bytes. false after answering the S3 error (decoding, chunk signature, sink). */
bool hs_s3_body_feed(struct hs_http_req *r, struct hs_s3_body *b, const void *data, size_t n);
/* The body ended: the last checks (final chunk, trailer signature, decoded length, declared
 * SHA-256, Content-MD5, flexible checksum). false after answering the S3 error. */
bool hs_s3_body_finish(struct hs_http_req *r, struct hs_s3_body *b);
void hs_s3_body_release(struct hs_s3_body *b);
/* Lower-case manifest name of a flexible algorithm ("crc32"), NULL for NONE. */
const char *hs_s3_cksum_lower(enum hs_s3_cksum_algo a);

/* ---- attributes (s3_object.c) ---- */

/* Content-Encoding (without aws-chunked), Cache-Control, Content-Disposition,
 * Content-Language, Expires and x-amz-meta-* of r into a (zeroed by the caller; release with
 * hs_s3_attrs_release). false after answering (MetadataTooLarge, InvalidArgument). */
bool hs_s3_attrs_from_request(struct hs_http_req *r, struct hs_manifest_attrs *a);
void hs_s3_attrs_release(struct hs_manifest_attrs *a);
/* The object headers of a GET/HEAD/304: ETag, Last-Modified, Accept-Ranges, the stored
 * attributes, x-amz-meta-*, and the stored checksum when checksums is set. */
void hs_s3_add_object_headers(struct hs_http_req *r, const struct hs_obj_info *info,
                              bool checksums);

/* ---- conditions (s3_object_read.c) ---- */

enum hs_s3_cond {
    HS_S3_COND_OK = 0,
    HS_S3_COND_NOT_MODIFIED, /* 304 */
    HS_S3_COND_FAILED,       /* 412 */
};
/* RFC 9110 section 13.2.2 order over If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since (header names after prefix: "" for GET/HEAD, "x-amz-copy-source-" for
 * CopyObject) against the version's ETag and Last-Modified (seconds). */
enum hs_s3_cond hs_s3_conditions(struct hs_http_req *r, const char *prefix, const char *etag,
                                 int64_t mtime_s);
/* True when the header value (a list of entity tags, or "*") names etag (quotes optional,
 * W/ ignored: S3 compares ETags as strings). */
bool hs_s3_etag_listed(const char *header, const char *etag);

/* ---- listing helpers (s3_list.c) ---- */

/* "versionId" query: absent or "null" is fine; false after answering otherwise. */
bool hs_s3_version_null(struct hs_http_req *r);

#endif
