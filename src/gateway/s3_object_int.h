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
#include "gateway/s3_body.h"
#include "gateway/s3_rules.h"
#include "gateway/s3_api.h"
#include "hs/http_server.h"
#include "hs/manifest.h"
#include "hs/s3_checksum.h"
#include "hs/s3_err.h"

#define HS_S3_PUT_MAX ((int64_t)5 << 30) /* bytes of a single PUT or a copy source (S3's) */

/* ---- the request body (s3_body.h) with the front end's context (s3_object.c) ---- */

/* hs_s3_body_new with the request's verified SigV4 values; false after answering. */
bool hs_s3_body_open(struct hs_http_req *r, hs_s3_sink_fn *sink, void *ctx,
                     struct hs_s3_body **out);
/* Answers a body failure (an S3 error, or the sink's object-layer error). */
void hs_s3_body_answer(struct hs_http_req *r, const struct hs_s3_body_error *e);

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

/* ---- conditions (s3_object_read.c; the rules are s3_rules.c) ---- */

/* hs_s3_cond_eval over r's headers. */
enum hs_s3_cond hs_s3_conditions(struct hs_http_req *r, const char *prefix, const char *etag,
                                 int64_t mtime_s);

/* ---- listing helpers (s3_list.c) ---- */

/* "versionId" query: absent or "null" is fine; false after answering otherwise. */
bool hs_s3_version_null(struct hs_http_req *r);

#endif
