/* s3_rules.h - the pure rules of the S3 object handlers (s3_rules.c; no I/O, no request
 * context), kept apart so that tests/unit/test_s3_rules.c checks them without a cluster:
 * conditional requests in RFC 9110 order, entity-tag lists, Content-Encoding without the
 * aws-chunked token, x-amz-copy-source parsing, and the listing continuation token.
 * Everything is thread-safe. */
#ifndef HS_GATEWAY_S3_RULES_H
#define HS_GATEWAY_S3_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request header by name (case-insensitive), NULL when absent. */
typedef const char *hs_s3_header_get_fn(void *ctx, const char *name);

enum hs_s3_cond {
    HS_S3_COND_OK = 0,
    HS_S3_COND_NOT_MODIFIED, /* 304 */
    HS_S3_COND_FAILED,       /* 412 */
};
/* RFC 9110 section 13.2.2 over If-Match, If-Unmodified-Since, If-None-Match and
 * If-Modified-Since (each name after prefix: "" for GET/HEAD, "x-amz-copy-source-" for
 * CopyObject): If-Match (412) else If-Unmodified-Since (412), then If-None-Match (304) else
 * If-Modified-Since (304), against the version's ETag (unquoted) and Last-Modified (seconds).
 * An unparsable date is ignored, as the RFC asks. */
enum hs_s3_cond hs_s3_cond_eval(hs_s3_header_get_fn *get, void *ctx, const char *prefix,
                                const char *etag, int64_t mtime_s);
/* True when the header value (entity tags separated by commas, or "*") names etag: quotes
 * optional, W/ ignored (S3 compares ETags as strings). */
bool hs_s3_etag_listed(const char *header, const char *etag);

/* Content-Encoding without the aws-chunked token (it frames the request, it does not describe
 * the object; hs_s3_content_encoding_strip of the S3 library): heap string, or NULL when
 * nothing is left. */
char *hs_s3_content_encoding_dup(const char *value);

/* x-amz-copy-source: "/bucket/key" or "bucket/key", URL-encoded, optionally "?versionId=null".
 * true with *bucket and *key (heap, free() both; the key may hold any byte but NUL, key_len
 * its length); false with *why for anything else (another versionId, no key, a %00). */
bool hs_s3_copy_source_parse(const char *value, char **bucket, char **key, size_t *key_len,
                             const char **why);

/* The listing's continuation token: the hex of the last key returned (heap). decode: the key
 * (heap) or NULL when tok is not such a token. */
char *hs_s3_list_token_encode(const char *key);
char *hs_s3_list_token_decode(const char *tok);

#endif
